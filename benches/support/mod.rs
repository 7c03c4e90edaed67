//! Shared setup of the transition benchmarks (`benches/transition.rs`) and of the peak-RSS
//! probe (`examples/epoch_transition.rs`): a mainnet-preset Fulu state with 2,300,000 validator
//! records that looks like a live chain at epoch [`EPOCH`], and a full, validly signed block for
//! the epoch after it.
//!
//! Keys: the registry is built by `interop_genesis_state` from the first [`DISTINCT_KEYS`] real
//! interop keys repeated over all records (validator `i` has the key of interop index
//! `i % 4096`). Deriving 2.3M distinct keys would take minutes; duplicate keys are harmless to
//! these measurements: committees, rewards and every per-validator loop see 2.3M records, and
//! signature checks still fetch, decompress (cold cache) and aggregate one key per validator
//! index through the `PubkeyCache`, which is keyed by index. Two things do see the
//! duplication and are cheaper than on mainnet: the state's pubkey -> index map (4,096 entries
//! instead of 2.3M, so less memory) and the sync-committee index lookup (which resolves a
//! member's key to its first index, below 4,096).
//!
//! The state is then made to look like a live chain (see [`epoch_state`]): ~97% of the records
//! active, participation flags mostly set in both epochs, balances varying around 32 ETH with
//! some compounding (0x02) validators, inactivity scores for the offline ones, exited,
//! withdrawn, exiting and slashed validators, an activation queue, ejections, pending deposits
//! (top-ups and new validators with real signatures), pending consolidations and partial
//! withdrawals, justification bits set and finality two epochs back.
//!
//! Block: the signatures are real. An aggregate signature over a set of validators equals the
//! signature made with the SUM of their secret keys (BLS is linear in the key), so each
//! aggregate is signed once with the summed scalar modulo the group order `r`.

#![allow(dead_code)]

use alloy_primitives::U256;
use ember::consensus::bls::{SecretKey, PUBLIC_KEY_BYTES_LEN};
use ember::consensus::config::ChainConfig;
use ember::consensus::constants::*;
use ember::consensus::execution::{ExecutionEngine, NewPayloadRequest};
use ember::consensus::mainnet::transition::block::{
    get_expected_withdrawals, process_block, state_transition, VerifySignatures,
};
use ember::consensus::mainnet::transition::fork::initialize_proposer_lookahead;
use ember::consensus::mainnet::transition::genesis::{
    bls_withdrawal_credentials, interop_genesis_state,
};
use ember::consensus::mainnet::transition::helpers::{
    beacon_committee_in, committee_count_per_slot, compute_domain, compute_signing_root,
    compute_time_at_slot, find_validator_index_by_pubkey, get_beacon_proposer_index,
    get_block_root, get_block_root_at_slot, get_domain, get_epoch_committees,
    get_next_sync_committee, get_randao_mix, get_total_active_balance,
};
use ember::consensus::mainnet::transition::signatures::confirm_cached_pubkeys;
use ember::consensus::mainnet::transition::single_pass::refresh_validator_columns;
use ember::consensus::mainnet::transition::slot::process_slots;
use ember::consensus::mainnet::{self as m, BeaconState, PRESET};
use ember::consensus::primitives::*;
use ember::consensus::pubkey_cache::PubkeyCache;
use ember::validator::interop::{interop_pubkeys, interop_secret_key};
use milhouse::{List, Vector};
use ssz_types::{BitList, BitVector, VariableList};
use std::collections::HashMap;
use std::sync::Arc;
use tree_hash::TreeHash;

/// Validator records in the benchmark state.
pub const VALIDATORS: usize = 2_300_000;
/// Distinct real interop keys, repeated over the registry.
pub const DISTINCT_KEYS: usize = 4096;
/// Current epoch of the epoch-transition state (near mainnet's; `EPOCH + 1` is neither a sync
/// committee period nor an eth1 voting period boundary, like most epochs).
pub const EPOCH: Epoch = 380_013;
/// Mainnet's genesis time.
const GENESIS_TIME: u64 = 1_606_824_023;
const ETH: u64 = 1_000_000_000;
/// Deposits for new validators in the pending queue that carry real signatures.
const NEW_VALIDATOR_KEYS: u64 = 16;

/// BLS12-381 scalar field order `r`.
const CURVE_ORDER: U256 = U256::from_be_bytes([
    0x73, 0xed, 0xa7, 0x53, 0x29, 0x9d, 0x7d, 0x48, 0x33, 0x39, 0xd8, 0x08, 0x09, 0xa1, 0xd8, 0x05,
    0x53, 0xbd, 0xa4, 0x02, 0xff, 0xfe, 0x5b, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
]);

/// Mainnet configuration with every fork at genesis (the state is Fulu from epoch 0).
pub fn config() -> ChainConfig {
    ChainConfig::mainnet().with_forks_at_genesis()
}

/// Accepts every payload: the benchmarks measure consensus work, not execution.
pub struct TrustPayloads;

impl ExecutionEngine for TrustPayloads {
    fn verify_and_notify_new_payload(&self, _request: &NewPayloadRequest<'_>) -> bool {
        true
    }
}

/// splitmix64 of `(i, salt)`: deterministic per-record pseudo-randomness.
fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(salt.wrapping_mul(0xd1b5_4a32_d192_ed03))
        .wrapping_add(0x2545_f491_4f6c_dd1d);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn random_root(i: u64, salt: u64) -> Hash256 {
    let mut bytes = [0u8; 32];
    for (k, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(i, salt.wrapping_mul(8).wrapping_add(k as u64)).to_le_bytes());
    }
    Hash256::from(bytes)
}

fn random_bytes(len: usize, salt: u64) -> Vec<u8> {
    (0..len as u64)
        .flat_map(|i| mix(i, salt).to_le_bytes())
        .take(len)
        .collect()
}

/// The interop keys the state uses.
pub struct Keys {
    /// Compressed public keys of interop indices `0..DISTINCT_KEYS`.
    pub pubkeys: Vec<[u8; PUBLIC_KEY_BYTES_LEN]>,
    /// Their secret keys, as integers below `r`.
    scalars: Vec<U256>,
    by_pubkey: HashMap<[u8; PUBLIC_KEY_BYTES_LEN], usize>,
    /// Keys not in the registry: new validators' deposits.
    pub new_validators: Vec<(SecretKey, [u8; PUBLIC_KEY_BYTES_LEN])>,
    /// With [`Keys::distinct`]: one interop key per record.
    registry: Option<Vec<[u8; PUBLIC_KEY_BYTES_LEN]>>,
}

impl Keys {
    pub fn new() -> Self {
        Self::build(None, DISTINCT_KEYS as u64)
    }

    /// Distinct interop keys for all `n` records (`interop_pubkeys(n)`, about a minute on two
    /// cores for 2.3M, then read from `cache`), so that the pubkey -> index map has mainnet's
    /// size. For memory measurements of the epoch transition only: the block fixture signs
    /// with the secret keys of the first [`DISTINCT_KEYS`] interop indices.
    pub fn distinct(n: u64, cache: Option<&std::path::Path>) -> Self {
        let registry = interop_pubkeys(n, cache).expect("interop keys");
        Self::build(Some(registry), n)
    }

    fn build(registry: Option<Vec<[u8; PUBLIC_KEY_BYTES_LEN]>>, first_new: u64) -> Self {
        let pubkeys = match &registry {
            Some(all) => all[..DISTINCT_KEYS].to_vec(),
            None => interop_pubkeys(DISTINCT_KEYS as u64, None).expect("interop keys"),
        };
        let scalars = (0..DISTINCT_KEYS as u64)
            .map(|i| {
                let sk = interop_secret_key(i).expect("interop secret key");
                U256::from_be_bytes(sk.to_bytes())
            })
            .collect();
        let by_pubkey = pubkeys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        let new_validators = (0..NEW_VALIDATOR_KEYS)
            .map(|k| {
                let sk = interop_secret_key(first_new + k).expect("interop key");
                let pk = sk.public_key().to_bytes();
                (sk, pk)
            })
            .collect();
        Keys {
            pubkeys,
            scalars,
            by_pubkey,
            new_validators,
            registry,
        }
    }

    /// Registry key of validator `index`.
    pub fn pubkey_of(&self, index: u64) -> [u8; PUBLIC_KEY_BYTES_LEN] {
        match &self.registry {
            Some(all) => all[index as usize],
            None => self.pubkeys[index as usize % DISTINCT_KEYS],
        }
    }

    /// Secret scalar of a registry key.
    fn scalar_of_pubkey(&self, pubkey: &[u8]) -> U256 {
        let key: [u8; PUBLIC_KEY_BYTES_LEN] = pubkey.try_into().expect("48 bytes");
        self.scalars[*self.by_pubkey.get(&key).expect("an interop key")]
    }

    fn scalar_of_validator(&self, state: &BeaconState, index: u64) -> U256 {
        let validator = state.validators.get(index as usize).expect("validator");
        self.scalar_of_pubkey(validator.pubkey.as_slice())
    }
}

impl Default for Keys {
    fn default() -> Self {
        Self::new()
    }
}

/// Signs `root` with the secret key `scalar` (a sum of validators' keys, reduced mod `r`).
fn sign_with_scalar(scalar: U256, root: Hash256) -> m::BLSSignature {
    let sk = SecretKey::from_bytes(&scalar.to_be_bytes::<32>()).expect("non-zero scalar below r");
    m::BLSSignature::from(sk.sign(root.as_slice()).to_bytes())
}

fn sum_scalars(scalars: impl IntoIterator<Item = U256>) -> U256 {
    scalars
        .into_iter()
        .fold(U256::ZERO, |acc, s| acc.add_mod(s, CURVE_ORDER))
}

fn credentials(prefix: u8, i: u64) -> Hash256 {
    let mut bytes = [0u8; 32];
    bytes[0] = prefix;
    bytes[12..].copy_from_slice(&random_root(i, 77).as_slice()[..20]);
    Hash256::from(bytes)
}

/// Index ranges of the validators with a special role (scaled with the registry size so that
/// reduced-size runs, e.g. under callgrind, keep them).
#[derive(Clone, Copy)]
struct Roles {
    n: u64,
}

impl Roles {
    fn at(&self, k: u64) -> u64 {
        self.n / 23 * k
    }
    /// Newest records: 16 eligible for the activation queue, 16 to activate, 5 to eject.
    fn queue(&self) -> std::ops::Range<u64> {
        self.n - 16..self.n
    }
    fn activate(&self) -> std::ops::Range<u64> {
        self.n - 32..self.n - 16
    }
    fn eject(&self) -> std::ops::Range<u64> {
        self.n - 37..self.n - 32
    }
    /// Pending consolidations: sources (exited; the first 8 withdrawable now) and targets.
    fn consolidation_sources(&self) -> std::ops::Range<u64> {
        self.at(5)..self.at(5) + 64
    }
    fn consolidation_targets(&self) -> std::ops::Range<u64> {
        self.at(6)..self.at(6) + 64
    }
    /// Compounding validators with pending partial withdrawals.
    fn partial_withdrawers(&self) -> std::ops::Range<u64> {
        self.at(7)..self.at(7) + 200
    }
    /// Slashed validators: the first 10 reach the midpoint of their withdrawability delay at
    /// this epoch (`process_slashings` penalises them), the next 20 later.
    fn slashed(&self) -> std::ops::Range<u64> {
        self.at(10)..self.at(10) + 30
    }
}

/// What one record looks like.
struct Profile {
    validator: m::Validator,
    balance: Gwei,
    previous_flags: u8,
    current_flags: u8,
    inactivity_score: u64,
}

fn profile(i: u64, roles: &Roles, keys: &Keys) -> Profile {
    let e = EPOCH;
    let pubkey = keys.pubkey_of(i);
    let mut v = m::Validator {
        pubkey: m::BLSPubkey::from(pubkey),
        withdrawal_credentials: credentials(ETH1_ADDRESS_WITHDRAWAL_PREFIX, i),
        effective_balance: 32 * ETH,
        slashed: false,
        activation_eligibility_epoch: mix(i, 9) % (e / 2),
        activation_epoch: 0,
        exit_epoch: FAR_FUTURE_EPOCH,
        withdrawable_epoch: FAR_FUTURE_EPOCH,
    };
    v.activation_epoch = v.activation_eligibility_epoch + 5;
    let mut balance = 32 * ETH + mix(i, 4) % (ETH / 16);
    // Online validators attest in time (~95% all three flags); 2% are offline.
    let offline = mix(i, 5) % 1000 >= 980;
    let (mut previous_flags, mut current_flags) = if offline {
        (0, 0)
    } else {
        let p = mix(i, 6) % 980;
        let previous = if p < 950 {
            0b111
        } else if p < 970 {
            0b011
        } else {
            0b001
        };
        // The last slot's attestations are not included yet.
        let q = mix(i, 7) % 1000;
        let current = if q < 940 {
            0b111
        } else if q < 965 {
            0b011
        } else {
            0
        };
        (previous, current)
    };
    let mut inactivity_score = if offline { 16 + mix(i, 8) % 200 } else { 0 };

    let kind = mix(i, 1) % 10_000;
    let creds = mix(i, 2) % 100;
    if creds < 8 {
        v.withdrawal_credentials = bls_withdrawal_credentials(&pubkey);
        // No withdrawals: rewards accumulate.
        balance = 32 * ETH + mix(i, 4) % (2 * ETH);
    } else if creds >= 95 {
        v.withdrawal_credentials = credentials(COMPOUNDING_WITHDRAWAL_PREFIX, i);
        v.effective_balance = (32 + mix(i, 3) % 2017) * ETH;
        balance = v.effective_balance + mix(i, 4) % ETH;
    } else {
        // Some were penalised below the downward hysteresis threshold (31.75 ETH).
        match mix(i, 3) % 1000 {
            0..=9 => balance = 31 * ETH + ETH / 2 + mix(i, 4) % (ETH / 4),
            10..=14 => {
                v.effective_balance = 31 * ETH;
                balance = 31 * ETH + mix(i, 4) % ETH;
            }
            _ => {}
        }
    }
    // Not active in the current or previous epoch: no flags, no score.
    let mut inactive = false;
    if kind < 250 {
        // Exited and fully withdrawn long ago.
        v.exit_epoch = e - 300 - mix(i, 10) % 600;
        v.withdrawable_epoch = v.exit_epoch + 256;
        v.effective_balance = 0;
        balance = 0;
        inactive = true;
    } else if kind < 280 {
        // In the exit queue (still active).
        v.exit_epoch = e + 1 + mix(i, 10) % 5;
        v.withdrawable_epoch = v.exit_epoch + 256;
    } else if kind < 300 {
        // Exited, not yet withdrawable.
        v.exit_epoch = e - 1 - mix(i, 10) % 200;
        v.withdrawable_epoch = v.exit_epoch + 256;
        inactive = true;
    }

    if roles.queue().contains(&i) {
        // Deposited last epoch: waits for activation eligibility.
        v.activation_eligibility_epoch = FAR_FUTURE_EPOCH;
        v.activation_epoch = FAR_FUTURE_EPOCH;
        v.exit_epoch = FAR_FUTURE_EPOCH;
        v.withdrawable_epoch = FAR_FUTURE_EPOCH;
        v.effective_balance = 32 * ETH;
        balance = 32 * ETH;
        inactive = true;
    } else if roles.activate().contains(&i) {
        // Eligible since before the finalized epoch: activated this epoch.
        v.activation_eligibility_epoch = e - 5;
        v.activation_epoch = FAR_FUTURE_EPOCH;
        v.exit_epoch = FAR_FUTURE_EPOCH;
        v.withdrawable_epoch = FAR_FUTURE_EPOCH;
        v.effective_balance = 32 * ETH;
        balance = 32 * ETH;
        inactive = true;
    } else if roles.eject().contains(&i) {
        v.effective_balance = 16 * ETH;
        v.exit_epoch = FAR_FUTURE_EPOCH;
        v.withdrawable_epoch = FAR_FUTURE_EPOCH;
        balance = 16 * ETH + ETH / 5;
    } else if roles.consolidation_sources().contains(&i) {
        let k = i - roles.consolidation_sources().start;
        v.withdrawable_epoch = if k < 8 { e - 1 } else { e + 10 + k };
        v.exit_epoch = v.withdrawable_epoch - 256;
        v.effective_balance = 32 * ETH;
        balance = 32 * ETH + ETH / 100;
        inactive = true;
    } else if roles.consolidation_targets().contains(&i) || roles.partial_withdrawers().contains(&i)
    {
        v.withdrawal_credentials = credentials(COMPOUNDING_WITHDRAWAL_PREFIX, i);
        v.exit_epoch = FAR_FUTURE_EPOCH;
        v.withdrawable_epoch = FAR_FUTURE_EPOCH;
        v.effective_balance = 64 * ETH;
        balance = 66 * ETH;
    } else if roles.slashed().contains(&i) {
        let k = i - roles.slashed().start;
        let half = PRESET.epochs_per_slashings_vector / 2;
        v.slashed = true;
        v.withdrawable_epoch = if k < 10 { e + half } else { e + half + k };
        v.exit_epoch = e - 10;
        v.effective_balance = 31 * ETH;
        balance = 31 * ETH;
        inactive = true;
    }
    if inactive {
        previous_flags = 0;
        current_flags = 0;
        inactivity_score = if v.slashed { 40 } else { 0 };
    }
    Profile {
        validator: v,
        balance,
        previous_flags,
        current_flags,
        inactivity_score,
    }
}

/// The pending deposit queue: 16 processable deposits (new validators with real signatures,
/// alternating with 1 ETH top-ups; the churn limit stops after 7 new validators), then a long
/// tail (10,000 in all) not yet finalized.
fn pending_deposits(
    config: &ChainConfig,
    keys: &Keys,
    finalized_slot: Slot,
) -> Vec<m::PendingDeposit> {
    let domain = compute_domain(DOMAIN_DEPOSIT, config.genesis_fork_version, Root::ZERO);
    let new_validator = |k: usize, slot: Slot| {
        let (sk, pk) = &keys.new_validators[k % keys.new_validators.len()];
        let withdrawal_credentials =
            credentials(ETH1_ADDRESS_WITHDRAWAL_PREFIX, 1_000_000 + k as u64);
        let message = m::DepositMessage {
            pubkey: m::BLSPubkey::from(*pk),
            withdrawal_credentials,
            amount: 32 * ETH,
        };
        let root = compute_signing_root(&message, domain);
        m::PendingDeposit {
            pubkey: message.pubkey,
            withdrawal_credentials,
            amount: 32 * ETH,
            signature: m::BLSSignature::from(sk.sign(root.as_slice()).to_bytes()),
            slot,
        }
    };
    let top_up = |k: usize, slot: Slot| m::PendingDeposit {
        pubkey: m::BLSPubkey::from(keys.pubkeys[(k * 7) % DISTINCT_KEYS]),
        withdrawal_credentials: credentials(ETH1_ADDRESS_WITHDRAWAL_PREFIX, k as u64),
        amount: ETH,
        signature: m::BLSSignature::ZERO,
        slot,
    };
    (0..10_000usize)
        .map(|k| {
            if k < 16 {
                let slot = finalized_slot - 64 + k as u64;
                if k % 2 == 0 {
                    new_validator(k / 2, slot)
                } else {
                    top_up(k, slot)
                }
            } else {
                // Not finalized yet: unsigned placeholders that processing never reaches.
                let slot = finalized_slot + 1 + k as u64 / 8;
                let mut deposit = top_up(k, slot);
                deposit.amount = 32 * ETH;
                deposit
            }
        })
        .collect()
}

/// The state after a block at the last slot of epoch [`EPOCH`], hashed, with its committee,
/// total-balance and pubkey caches warm (as a node's head state would be): ready for the
/// `process_slot` + `process_epoch` of the epoch boundary.
pub fn epoch_state(config: &ChainConfig, keys: &Keys, n: usize) -> BeaconState {
    assert!(n >= 23 * 300, "registry too small for the role ranges");
    let registry_keys: Vec<[u8; PUBLIC_KEY_BYTES_LEN]> =
        (0..n as u64).map(|i| keys.pubkey_of(i)).collect();
    let mut state = interop_genesis_state(config, &registry_keys, GENESIS_TIME).expect("genesis");
    drop(registry_keys);

    let e = EPOCH;
    let slots_per_epoch = PRESET.slots_per_epoch;
    let roles = Roles { n: n as u64 };
    let slot = e * slots_per_epoch + slots_per_epoch - 1;
    state.slot = slot;

    // Registry and the per-validator lists: rebuilt from the profiles (the old list is dropped
    // first, to keep the setup's peak memory down).
    let profiles = || (0..n as u64).map(move |i| profile(i, &roles, keys));
    state.validators = List::empty();
    state.validators = List::try_from_iter(profiles().map(|p| p.validator)).expect("validators");
    state.balances = List::empty();
    state.balances = List::try_from_iter(profiles().map(|p| p.balance)).expect("balances");
    state.previous_epoch_participation = List::empty();
    state.previous_epoch_participation =
        List::try_from_iter(profiles().map(|p| p.previous_flags)).expect("previous flags");
    state.current_epoch_participation = List::empty();
    state.current_epoch_participation =
        List::try_from_iter(profiles().map(|p| p.current_flags)).expect("current flags");
    state.inactivity_scores = List::empty();
    state.inactivity_scores =
        List::try_from_iter(profiles().map(|p| p.inactivity_score)).expect("inactivity scores");

    // History.
    state.block_roots =
        Vector::new((0..8192).map(|i| random_root(i, 1)).collect()).expect("block roots");
    state.state_roots =
        Vector::new((0..8192).map(|i| random_root(i, 2)).collect()).expect("state roots");
    state.randao_mixes =
        Vector::new((0..65536).map(|i| random_root(i, 3)).collect()).expect("randao mixes");
    state.historical_summaries =
        List::try_from_iter(
            (0..e * slots_per_epoch / 8192).map(|i| m::HistoricalSummary {
                block_summary_root: random_root(i, 4),
                state_summary_root: random_root(i, 5),
            }),
        )
        .expect("historical summaries");
    let mut slashings = vec![0u64; PRESET.epochs_per_slashings_vector as usize];
    let half = PRESET.epochs_per_slashings_vector / 2;
    slashings[((e - half) % PRESET.epochs_per_slashings_vector) as usize] = 10 * 32 * ETH;
    slashings[((e - half + 7) % PRESET.epochs_per_slashings_vector) as usize] = 20 * 32 * ETH;
    state.slashings = Vector::new(slashings).expect("slashings");

    // Eth1 votes so far in this voting period (every block votes for the same data).
    let votes = (e % 64) * slots_per_epoch + slots_per_epoch - 1;
    state.eth1_data_votes =
        List::try_from_iter((0..votes).map(|_| state.eth1_data.clone())).expect("eth1 votes");

    // Finality: epochs E-1 and E-2 justified, E-2 finalized, all four bits set.
    let root_at_epoch = |state: &BeaconState, epoch: Epoch| {
        *state
            .block_roots
            .get(((epoch * slots_per_epoch) % 8192) as usize)
            .expect("root")
    };
    state.current_justified_checkpoint = m::Checkpoint {
        epoch: e - 1,
        root: root_at_epoch(&state, e - 1),
    };
    state.previous_justified_checkpoint = m::Checkpoint {
        epoch: e - 2,
        root: root_at_epoch(&state, e - 2),
    };
    state.finalized_checkpoint = state.previous_justified_checkpoint.clone();
    for bit in 0..4 {
        state.justification_bits.set(bit, true).expect("bit");
    }

    // Headers: the latest block was at this slot.
    state.latest_block_header = m::BeaconBlockHeader {
        slot,
        proposer_index: mix(slot, 11) % n as u64,
        parent_root: random_root(slot, 12),
        state_root: Root::ZERO,
        body_root: random_root(slot, 13),
    };
    let header = &mut state.latest_execution_payload_header;
    header.parent_hash = random_root(slot, 14);
    header.block_hash = random_root(slot, 15);
    header.block_number = 22_000_000 + slot;
    header.timestamp = GENESIS_TIME + slot * 12;
    header.gas_used = 18_000_000;
    header.state_root = random_root(slot, 16);
    header.receipts_root = random_root(slot, 17);

    // Electra queues and churn.
    state.next_withdrawal_index = 90_000_000;
    state.next_withdrawal_validator_index = mix(0, 18) % n as u64;
    state.earliest_exit_epoch = e + 6;
    state.exit_balance_to_consume = 64 * ETH;
    state.earliest_consolidation_epoch = e + 20;
    let finalized_slot = state.finalized_checkpoint.epoch * slots_per_epoch;
    state.pending_deposits =
        List::new(pending_deposits(config, keys, finalized_slot)).expect("pending deposits");
    state.pending_partial_withdrawals = List::new(
        roles
            .partial_withdrawers()
            .enumerate()
            .map(|(k, validator_index)| m::PendingPartialWithdrawal {
                validator_index,
                amount: ETH,
                withdrawable_epoch: if k < 40 { e - 1 } else { e + 5 + k as u64 / 8 },
            })
            .collect(),
    )
    .expect("pending partial withdrawals");
    state.pending_consolidations = List::new(
        roles
            .consolidation_sources()
            .zip(roles.consolidation_targets())
            .map(|(source_index, target_index)| m::PendingConsolidation {
                source_index,
                target_index,
            })
            .collect(),
    )
    .expect("pending consolidations");

    // Derived fields, recomputed for this registry and epoch.
    state.caches.clear();
    let committee = Arc::new(get_next_sync_committee(&state).expect("sync committee"));
    state.current_sync_committee = committee.clone();
    state.next_sync_committee = committee;
    state.proposer_lookahead = Some(
        Vector::new(initialize_proposer_lookahead(&state).expect("lookahead")).expect("vector"),
    );

    state.apply_pending_updates().expect("apply");
    let _ = state.tree_hash_root();
    // The validator column cache of the one-pass epoch, which a node's state carries over from
    // its previous epoch transition.
    refresh_validator_columns(&mut state, None).expect("validator columns");
    warm_caches(&state);
    state
}

/// Fills the caches a node's head state has from processing the epoch's blocks: committees of
/// the previous and current epochs, the total active balance, the pubkey -> index map.
pub fn warm_caches(state: &BeaconState) {
    let current = state.slot / PRESET.slots_per_epoch;
    get_epoch_committees(state, current.saturating_sub(1)).expect("previous committees");
    get_epoch_committees(state, current).expect("current committees");
    get_total_active_balance(state).expect("total active balance");
    let any = state.validators.get(0).expect("validator 0").pubkey;
    find_validator_index_by_pubkey(state, &any);
}

/// A full block at slot `S` = the 6th slot of epoch `EPOCH + 1` and the state before it.
pub struct BlockFixture {
    /// At slot `S - 1`: after the epoch transition (`process_slots`, the node's path) and 4
    /// empty slots; hashed, caches warm.
    pub pre: BeaconState,
    /// `pre` advanced to slot `S` (`process_slots`): the input of `process_block`.
    pub at_slot: BeaconState,
    pub block: m::SignedBeaconBlock,
    /// Holds the keys of every validator the block's signatures involve (warm).
    pub pubkeys: PubkeyCache,
    /// Validators in the block's attestations, and committees covered.
    pub attesters: usize,
    pub committees: usize,
}

/// Builds [`BlockFixture`] from the [`epoch_state`]: 8 attestations covering all committees of
/// slot `S - 1` (~97% of each committee's bits set), a full sync aggregate, 16 withdrawals,
/// 200 transactions, 6 blob commitments; everything signed for real. Asserts once that the block
/// passes `state_transition` with batched signature verification.
pub fn block_fixture(config: &ChainConfig, keys: &Keys, epoch_state: &BeaconState) -> BlockFixture {
    let slots_per_epoch = PRESET.slots_per_epoch;
    let epoch = EPOCH + 1;
    let slot = epoch * slots_per_epoch + 5;
    let mut pre = epoch_state.clone();
    process_slots(&mut pre, config, slot - 1).expect("advance to S - 1");
    pre.apply_pending_updates().expect("apply");
    let _ = pre.tree_hash_root();
    warm_caches(&pre);

    let mut at = pre.clone();
    process_slots(&mut at, config, slot).expect("advance to S");

    // Attestations: every committee of slot S - 1, 8 per aggregate.
    let committees = get_epoch_committees(&at, epoch).expect("committees");
    let count = committee_count_per_slot(committees.shuffled.len() as u64) as usize;
    let data = m::AttestationData {
        slot: slot - 1,
        index: 0,
        beacon_block_root: get_block_root_at_slot(&at, slot - 1).expect("head root"),
        source: at.current_justified_checkpoint.clone(),
        target: m::Checkpoint {
            epoch,
            root: get_block_root(&at, epoch).expect("target root"),
        },
    };
    let attestation_root =
        compute_signing_root(&data, get_domain(&at, DOMAIN_BEACON_ATTESTER, Some(epoch)));
    let per_attestation = count.div_ceil(8);
    let mut attestations = Vec::new();
    let mut attesters = 0;
    for first in (0..count).step_by(per_attestation) {
        let covered = first..(first + per_attestation).min(count);
        let mut committee_bits = BitVector::<m::MaxCommitteesPerSlot>::new();
        let mut members: Vec<u64> = Vec::new();
        for c in covered {
            committee_bits.set(c, true).expect("committee bit");
            members.extend_from_slice(
                beacon_committee_in(&committees, slot - 1, c as u64).expect("committee"),
            );
        }
        let mut aggregation_bits =
            BitList::<m::MaxValidatorsPerSlot>::with_capacity(members.len()).expect("bits");
        let mut signers = Vec::new();
        for (position, &index) in members.iter().enumerate() {
            if mix(index, 19) % 100 < 97 {
                aggregation_bits.set(position, true).expect("bit");
                signers.push(keys.scalar_of_validator(&at, index));
            }
        }
        attesters += signers.len();
        attestations.push(m::Attestation {
            aggregation_bits,
            data: data.clone(),
            signature: sign_with_scalar(sum_scalars(signers), attestation_root),
            committee_bits,
        });
    }

    // Sync aggregate: all 512 members, over the block root of slot S - 1.
    let sync_root = compute_signing_root(
        &get_block_root_at_slot(&at, slot - 1).expect("block root"),
        get_domain(
            &at,
            DOMAIN_SYNC_COMMITTEE,
            Some((slot - 1) / slots_per_epoch),
        ),
    );
    let sync_scalar = sum_scalars(
        at.current_sync_committee
            .pubkeys
            .iter()
            .map(|pk| keys.scalar_of_pubkey(pk.as_slice())),
    );
    let mut sync_committee_bits = BitVector::<m::SyncCommitteeSize>::new();
    for i in 0..sync_committee_bits.len() {
        sync_committee_bits.set(i, true).expect("sync bit");
    }

    let proposer_index = get_beacon_proposer_index(&at).expect("proposer");
    let proposer_scalar = keys.scalar_of_validator(&at, proposer_index);
    let randao_reveal = sign_with_scalar(
        proposer_scalar,
        compute_signing_root(&epoch, get_domain(&at, DOMAIN_RANDAO, None)),
    );

    let expected = get_expected_withdrawals(&at).expect("withdrawals");
    let transactions: Vec<m::Transaction> = (0..200u64)
        .map(|t| {
            let len = 300 + (mix(t, 20) % 400) as usize;
            VariableList::new(random_bytes(len, 1000 + t)).expect("transaction")
        })
        .collect();
    let header = &at.latest_execution_payload_header;
    let execution_payload = m::ExecutionPayload {
        parent_hash: header.block_hash,
        fee_recipient: alloy_primitives::Address::from_slice(&random_root(slot, 21)[..20]),
        state_root: random_root(slot, 22),
        receipts_root: random_root(slot, 23),
        logs_bloom: ssz_types::FixedVector::new(random_bytes(256, 24)).expect("bloom"),
        prev_randao: get_randao_mix(&at, epoch).expect("randao mix"),
        block_number: header.block_number + 1,
        gas_limit: 36_000_000,
        gas_used: 17_500_000,
        timestamp: compute_time_at_slot(&at, config, slot).expect("timestamp"),
        extra_data: VariableList::new(b"ember bench".to_vec()).expect("extra data"),
        base_fee_per_gas: U256::from(3_000_000_000u64),
        block_hash: random_root(slot, 25),
        transactions: VariableList::new(transactions).expect("transactions"),
        withdrawals: VariableList::new(expected.withdrawals).expect("withdrawals"),
        blob_gas_used: 6 * 131_072,
        excess_blob_gas: 0,
    };
    let body = m::BeaconBlockBody {
        randao_reveal,
        eth1_data: at.eth1_data.clone(),
        graffiti: random_root(slot, 26),
        attestations: VariableList::new(attestations).expect("attestations"),
        sync_aggregate: m::SyncAggregate {
            sync_committee_bits,
            sync_committee_signature: sign_with_scalar(sync_scalar, sync_root),
        },
        execution_payload,
        blob_kzg_commitments: VariableList::new(
            (0..6)
                .map(|b| m::KZGCommitment::from_slice(&random_bytes(48, 30 + b)))
                .collect(),
        )
        .expect("commitments"),
        ..Default::default()
    };
    let mut block = m::BeaconBlock {
        slot,
        proposer_index,
        parent_root: at.latest_block_header.tree_hash_root(),
        state_root: Root::ZERO,
        body,
    };
    let mut post = at.clone();
    process_block(
        &mut post,
        &block,
        config,
        &TrustPayloads,
        VerifySignatures::No,
    )
    .expect("block applies");
    post.apply_pending_updates().expect("apply");
    block.state_root = post.tree_hash_root();
    drop(post);
    let signature = sign_with_scalar(
        proposer_scalar,
        compute_signing_root(&block, get_domain(&at, DOMAIN_BEACON_PROPOSER, None)),
    );
    let block = m::SignedBeaconBlock {
        message: block,
        signature,
    };

    // The block is valid, signatures included (this also fills the pubkey cache).
    let pubkeys = PubkeyCache::new();
    let mut check = pre.clone();
    state_transition(
        &mut check,
        &block,
        true,
        config,
        &TrustPayloads,
        VerifySignatures::Batch(&pubkeys),
    )
    .expect("the benchmark block passes state_transition with signatures");
    drop(check);
    // A node's head state carries the record of which cached keys agree with its registry
    // (from the blocks it processed); `pre` was built without blocks, so compare once here.
    confirm_cached_pubkeys(&pre, &pubkeys).expect("cached keys agree with the registry");
    confirm_cached_pubkeys(&at, &pubkeys).expect("cached keys agree with the registry");

    BlockFixture {
        pre,
        at_slot: at,
        block,
        pubkeys,
        attesters,
        committees: count,
    }
}

/// Reads `VmHWM` and `VmRSS` (kB) from /proc/self/status.
pub fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
