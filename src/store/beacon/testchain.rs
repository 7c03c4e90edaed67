//! A synthetic but valid chain for the store's tests, crash test and benchmarks.
//!
//! Blocks are built the way a proposer would, minus the signatures: the next slot's proposer,
//! the parent's header root, the expected withdrawals, an execution payload that chains on the
//! previous one, full-participation attestations for every slot since the parent (so the chain justifies
//! and finalizes like a healthy network), and optional deposit requests with real deposit
//! signatures (so the registry grows once they are finalized). Signatures over blocks,
//! RANDAO reveals and attestations are not made: the blocks are processed with
//! `VerifySignatures::No`, exactly as the store replays them.
//!
//! The chain driver [`run_writer`] is what the crash test's child process runs.

use super::spec::transition::block::get_expected_withdrawals;
use super::spec::transition::block::{process_signed_block, VerifySignatures};
use super::spec::transition::helpers::{
    compute_domain, compute_signing_root, compute_time_at_slot, get_beacon_committee,
    get_beacon_proposer_index, get_block_root, get_block_root_at_slot,
    get_committee_count_per_slot, get_current_epoch, get_randao_mix,
};
use super::spec::transition::slot::process_slots;
use super::spec::transition::TransitionError;
use super::spec::*;
use super::{BeaconStore, ChainUpdate, ForkChoiceBytes};
use crate::consensus::bls::SecretKey;
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::DOMAIN_DEPOSIT;
use crate::consensus::execution::{ExecutionEngine, NewPayloadRequest};
use crate::consensus::primitives::*;
use crate::store::error::{Result, StoreError};
use crate::store::schema::PointerName;
use ssz_types::{BitList, BitVector, VariableList};
use tree_hash::TreeHash;
use typenum::Unsigned;

/// The infinity point's compressed encoding: a well-formed placeholder signature.
fn placeholder_signature() -> BLSSignature {
    let mut bytes = [0u8; 96];
    bytes[0] = 0xc0;
    BLSSignature::from(bytes)
}

struct TrustAll;

impl ExecutionEngine for TrustAll {
    fn verify_and_notify_new_payload(&self, _request: &NewPayloadRequest<'_>) -> bool {
        true
    }
}

/// What to put in a block besides the mandatory parts.
#[derive(Debug, Clone, Default)]
pub struct BlockContents {
    /// Distinguishes sibling blocks at the same slot (also mixed into the payload's hash).
    pub graffiti: [u8; 32],
    /// Attest the previous slot with every member of its committees.
    pub attest: bool,
    pub deposits: Vec<DepositRequest>,
}

fn tree(e: impl std::fmt::Debug) -> TransitionError {
    TransitionError::Tree(format!("{e:?}"))
}

/// Attestations by every member of every committee of `slot`, as seen from `state`.
fn full_attestation(
    state: &BeaconState,
    slot: Slot,
) -> std::result::Result<Attestation, TransitionError> {
    let epoch = slot / PRESET.slots_per_epoch;
    let source = if epoch == get_current_epoch(state) {
        state.current_justified_checkpoint.clone()
    } else {
        state.previous_justified_checkpoint.clone()
    };
    let data = AttestationData {
        slot,
        index: 0,
        beacon_block_root: get_block_root_at_slot(state, slot)?,
        source,
        target: Checkpoint {
            epoch,
            root: get_block_root(state, epoch)?,
        },
    };
    let count = get_committee_count_per_slot(state, epoch);
    let mut committee_bits = BitVector::<MaxCommitteesPerSlot>::new();
    let mut members = 0usize;
    for index in 0..count {
        members = members.saturating_add(get_beacon_committee(state, slot, index)?.len());
        committee_bits
            .set(usize::try_from(index).map_err(tree)?, true)
            .map_err(tree)?;
    }
    let mut aggregation_bits =
        BitList::<MaxValidatorsPerSlot>::with_capacity(members).map_err(tree)?;
    for i in 0..members {
        aggregation_bits.set(i, true).map_err(tree)?;
    }
    Ok(Attestation {
        aggregation_bits,
        data,
        signature: placeholder_signature(),
        committee_bits,
    })
}

/// Builds the block at `slot` on the block whose post-state is `parent_state`, and returns it
/// with its root and post-state (pending updates applied).
pub fn build_block(
    config: &ChainConfig,
    parent_state: &BeaconState,
    slot: Slot,
    contents: &BlockContents,
) -> std::result::Result<(SignedBeaconBlock, Hash256, BeaconState), TransitionError> {
    let mut state = parent_state.clone();
    process_slots(&mut state, config, slot)?;
    let proposer_index = get_beacon_proposer_index(&state)?;
    let parent_root = state.latest_block_header.tree_hash_root();
    let mut attestations = VariableList::<Attestation, MaxAttestationsElectra>::default();
    // Every slot since the parent's (skipped ones too), attested by all of its committees
    // (from slot 1: the genesis block has no committee vote to include before slot 2).
    if contents.attest {
        let first = parent_state
            .slot
            .max(1)
            .max(slot.saturating_sub(PRESET.slots_per_epoch));
        for attested in first..slot {
            if attestations.len() >= MaxAttestationsElectra::to_usize() {
                break;
            }
            attestations
                .push(full_attestation(&state, attested)?)
                .map_err(tree)?;
        }
    }
    let header = &state.latest_execution_payload_header;
    let mut seed = Vec::with_capacity(72);
    seed.extend_from_slice(header.block_hash.as_slice());
    seed.extend_from_slice(&slot.to_be_bytes());
    seed.extend_from_slice(&contents.graffiti);
    let payload = ExecutionPayload {
        parent_hash: header.block_hash,
        fee_recipient: Default::default(),
        state_root: Default::default(),
        receipts_root: Default::default(),
        logs_bloom: Default::default(),
        prev_randao: get_randao_mix(&state, get_current_epoch(&state))?,
        block_number: header.block_number.saturating_add(1),
        gas_limit: header.gas_limit,
        gas_used: 0,
        timestamp: compute_time_at_slot(&state, config, slot)?,
        extra_data: Default::default(),
        base_fee_per_gas: header.base_fee_per_gas,
        block_hash: Hash256::from(ethereum_hashing::hash_fixed(&seed)),
        transactions: Default::default(),
        withdrawals: VariableList::new(get_expected_withdrawals(&state)?.withdrawals)
            .map_err(tree)?,
        blob_gas_used: 0,
        excess_blob_gas: 0,
    };
    let mut randao = [0u8; 96];
    randao[..32].copy_from_slice(&ethereum_hashing::hash_fixed(&seed));
    let body = BeaconBlockBody {
        randao_reveal: BLSSignature::from(randao),
        eth1_data: state.eth1_data.clone(),
        graffiti: Hash256::from(contents.graffiti),
        attestations,
        sync_aggregate: SyncAggregate {
            sync_committee_bits: BitVector::new(),
            sync_committee_signature: placeholder_signature(),
        },
        execution_payload: payload,
        execution_requests: ExecutionRequests {
            deposits: VariableList::new(contents.deposits.clone()).map_err(tree)?,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut block = SignedBeaconBlock {
        message: BeaconBlock {
            slot,
            proposer_index,
            parent_root,
            state_root: Hash256::ZERO,
            body,
        },
        signature: placeholder_signature(),
    };
    process_signed_block(
        &mut state,
        &block,
        false,
        config,
        &TrustAll,
        VerifySignatures::No,
    )?;
    state.apply_pending_updates()?;
    block.message.state_root = state.tree_hash_root();
    let root = block.message.tree_hash_root();
    Ok((block, root, state))
}

/// The secret key of synthetic depositor `n`.
pub fn depositor_key(n: u64) -> std::result::Result<SecretKey, TransitionError> {
    let mut ikm = [0u8; 32];
    ikm[..8].copy_from_slice(&n.to_be_bytes());
    ikm[8..16].copy_from_slice(b"emberdep");
    SecretKey::key_gen(&ikm).map_err(|e| TransitionError::Tree(format!("key_gen: {e:?}")))
}

/// A 32 ETH deposit request of depositor `n`, signed as the deposit contract requires.
pub fn deposit_request(
    config: &ChainConfig,
    n: u64,
    index: u64,
) -> std::result::Result<DepositRequest, TransitionError> {
    let sk = depositor_key(n)?;
    let pubkey = BLSPubkey::from(sk.public_key().to_bytes());
    let mut credentials = [0u8; 32];
    credentials[0] = 0x01;
    credentials[12..20].copy_from_slice(&n.to_be_bytes());
    let withdrawal_credentials = Hash256::from(credentials);
    let amount = PRESET.min_activation_balance;
    let message = DepositMessage {
        pubkey,
        withdrawal_credentials,
        amount,
    };
    let domain = compute_domain(DOMAIN_DEPOSIT, config.genesis_fork_version, Root::ZERO);
    let signing_root = compute_signing_root(&message, domain);
    let signature = BLSSignature::from(sk.sign(signing_root.as_slice()).to_bytes());
    Ok(DepositRequest {
        pubkey,
        withdrawal_credentials,
        amount,
        signature,
        index,
    })
}

/// The fork-choice bytes the writer stores: a stand-in for the real fork choice's encoding
/// that names the head, justified and finalized roots, so the crash test can check that the
/// stored fork choice agrees with the pointers.
pub const TEST_FORK_CHOICE_VERSION: u32 = 0xfc00_0001;

pub fn test_fork_choice_bytes(head: &Hash256, justified: &Hash256, finalized: &Hash256) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(head.as_slice());
    out.extend_from_slice(justified.as_slice());
    out.extend_from_slice(finalized.as_slice());
    out
}

/// splitmix64: a tiny deterministic generator (no dependency, reproducible per seed).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64() % n.max(1) == 0
    }
}

/// Shape of the chain [`run_writer`] grows.
#[derive(Debug, Clone, Copy)]
pub struct WriterPlan {
    pub seed: u64,
    /// Stop once the head reaches this slot.
    pub until_slot: Slot,
    /// A deposit request every this many slots (0: none).
    pub deposit_every: u64,
    /// One block in this many is a sibling of the head (a fork); half of those win (reorg).
    pub fork_one_in: u64,
    /// One slot in this many is skipped.
    pub skip_one_in: u64,
}

/// Grows the chain in `store` (initialising it from `genesis` if empty) one imported block at
/// a time, like a node following a network with forks, reorgs, skipped slots, finality and
/// deposits. Resumes wherever the store's head is: it can be killed at any moment and
/// restarted. Calls `progress` after each import with (slot, head slot, finalized epoch).
pub fn run_writer(
    store: &BeaconStore,
    genesis: impl FnOnce() -> Result<BeaconState>,
    plan: &WriterPlan,
    mut progress: impl FnMut(Slot, Slot, Epoch),
) -> Result<()> {
    let config = store.chain_config().clone();
    if !store.is_initialised()? {
        store.initialise_from_genesis(&genesis()?)?;
    }
    let replay = |e: TransitionError| StoreError::Inconsistent(format!("building a block: {e}"));
    loop {
        let head = store.pointer(PointerName::Head)?;
        if head.slot >= plan.until_slot {
            return Ok(());
        }
        let finalized = store.pointer(PointerName::Finalized)?;
        let justified = store.pointer(PointerName::Justified)?;
        // Deterministic per position, so a restarted writer makes the same choices.
        let mut rng =
            Rng::new(plan.seed ^ head.slot.wrapping_mul(0x1000_0001) ^ head.block_root.0[0] as u64);
        let head_meta = store
            .block_meta(&head.block_root)?
            .ok_or(StoreError::UnknownBlock(head.block_root))?;
        let fork = rng.one_in(plan.fork_one_in)
            && head_meta.slot > finalized.slot
            && store.block_meta(&head_meta.parent_root)?.is_some();
        let parent_state_root = if fork {
            store
                .block_meta(&head_meta.parent_root)?
                .ok_or(StoreError::UnknownBlock(head_meta.parent_root))?
                .state_root
        } else {
            head.state_root
        };
        let mut slot = head.slot.saturating_add(1);
        if rng.one_in(plan.skip_one_in) {
            slot = slot.saturating_add(1);
        }
        let parent_state = store.load_state(&parent_state_root)?;
        let mut contents = BlockContents {
            attest: true,
            ..Default::default()
        };
        contents.graffiti[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
        if plan.deposit_every > 0 && slot % plan.deposit_every == 0 {
            let index = parent_state
                .deposit_requests_start_index
                .saturating_add(parent_state.pending_deposits.len() as u64);
            contents
                .deposits
                .push(deposit_request(&config, slot, index).map_err(replay)?);
        }
        let (block, root, post) =
            build_block(&config, &parent_state, slot, &contents).map_err(replay)?;
        let becomes_head = !fork || rng.one_in(2);
        let mut update = ChainUpdate::default();
        let (mut head_root, mut just_root, mut fin_root) =
            (head.block_root, justified.block_root, finalized.block_root);
        if becomes_head {
            update.head = Some(root);
            head_root = root;
            let j = post.current_justified_checkpoint.clone();
            if j.epoch > justified.epoch && store.block_meta(&j.root)?.is_some() {
                just_root = j.root;
                update.justified = Some(j);
            }
            let f = post.finalized_checkpoint.clone();
            if f.epoch > finalized.epoch && store.block_meta(&f.root)?.is_some() {
                fin_root = f.root;
                update.finalized = Some(f);
            }
        }
        let fc = test_fork_choice_bytes(&head_root, &just_root, &fin_root);
        update.fork_choice = Some(ForkChoiceBytes {
            version: TEST_FORK_CHOICE_VERSION,
            bytes: &fc,
        });
        store.import_block(&block, root, &post, &update)?;
        let new_finalized = update
            .finalized
            .as_ref()
            .map_or(finalized.epoch, |f| f.epoch);
        let new_head_slot = if becomes_head { slot } else { head.slot };
        progress(slot, new_head_slot, new_finalized);
        // A fork that did not win leaves the head where it was: the next round continues
        // from it (with another draw, since the slot moved on only for the sibling).
        if !becomes_head {
            // Move on: next iteration builds on the head at a slot past the sibling.
            let (b2, r2, p2) = build_block(
                &config,
                &store.load_state(&head.state_root)?,
                slot.saturating_add(1),
                &BlockContents {
                    attest: true,
                    graffiti: [1u8; 32],
                    deposits: Vec::new(),
                },
            )
            .map_err(replay)?;
            let fc = test_fork_choice_bytes(&r2, &just_root, &fin_root);
            let update = ChainUpdate {
                head: Some(r2),
                fork_choice: Some(ForkChoiceBytes {
                    version: TEST_FORK_CHOICE_VERSION,
                    bytes: &fc,
                }),
                ..Default::default()
            };
            store.import_block(&b2, r2, &p2, &update)?;
            progress(
                slot.saturating_add(1),
                slot.saturating_add(1),
                new_finalized,
            );
        }
    }
}

/// A Fulu genesis state with `validators` validators: the first 64 from interop keys (so the
/// sync committees are real aggregates), the rest synthetic records with random-looking public
/// keys and execution withdrawal credentials (as incompressible as real ones), 32 ETH each, all
/// active. Valid for the state transition until the first sync-committee period boundary.
pub fn synthetic_state(config: &ChainConfig, validators: usize) -> Result<BeaconState> {
    let err = |e: String| StoreError::Inconsistent(format!("synthetic state: {e}"));
    let real = validators.clamp(1, 64);
    let keys = crate::validator::interop::interop_pubkeys(real as u64, None)
        .map_err(|e| err(e.to_string()))?;
    let mut state = super::spec::transition::genesis::interop_genesis_state(config, &keys, 0)
        .map_err(|e| err(e.to_string()))?;
    let balance = PRESET.min_activation_balance;
    for i in real..validators {
        // Independent random-looking bytes for the key and the address, so snappy finds no
        // more to compress than in a real registry.
        let hash = |tag: u8| {
            let mut input = [tag; 9];
            input[..8].copy_from_slice(&(i as u64).to_le_bytes());
            ethereum_hashing::hash_fixed(&input)
        };
        let (a, b, c) = (hash(0), hash(1), hash(2));
        let mut pubkey = [0u8; 48];
        pubkey[..32].copy_from_slice(&a);
        pubkey[32..].copy_from_slice(&b[..16]);
        pubkey[0] = 0x80 | (pubkey[0] & 0x1f);
        let mut credentials = [0u8; 32];
        credentials[0] = 0x01;
        credentials[12..].copy_from_slice(&c[..20]);
        let validator = Validator {
            pubkey: BLSPubkey::from(pubkey),
            withdrawal_credentials: Hash256::from(credentials),
            effective_balance: balance,
            slashed: false,
            activation_eligibility_epoch: GENESIS_EPOCH,
            activation_epoch: GENESIS_EPOCH,
            exit_epoch: FAR_FUTURE_EPOCH,
            withdrawable_epoch: FAR_FUTURE_EPOCH,
        };
        let push = |e: milhouse::Error| err(format!("{e:?}"));
        state.validators.push(validator).map_err(push)?;
        state.balances.push(balance).map_err(push)?;
        state.previous_epoch_participation.push(0).map_err(push)?;
        state.current_epoch_participation.push(0).map_err(push)?;
        state.inactivity_scores.push(0).map_err(push)?;
    }
    state.eth1_data.deposit_count = validators as u64;
    state.eth1_deposit_index = validators as u64;
    state.deposit_requests_start_index = validators as u64;
    state
        .apply_pending_updates()
        .map_err(|e| err(format!("{e:?}")))?;
    state.genesis_validators_root = state.validators.tree_hash_root();
    Ok(state)
}
