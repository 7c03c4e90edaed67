//! The spec's helper functions (misc, predicates, accessors, mutators) for Electra and Fulu.
//!
//! Names and semantics follow `fulu/mainnet.py` (Electra's version where Fulu changed a
//! function: `get_beacon_proposer_index` branches on `state.fork_name()`). Spec `assert`s and
//! Python exceptions (out-of-range list access, `uint64` overflow) become `Err`.
//!
//! Functions that read `config.X` take `config: &ChainConfig`; preset values come from `PRESET`.
//! Committees and the total active balance are served from the state's caches (see
//! [`super::caches`]); `*_uncached` functions keep the spec's direct computation for tests.

use super::caches::EpochCommittees;
use super::error::TransitionError;
use super::*;
use crate::consensus::arith::{to_u64, to_usize, SafeArith};
use crate::consensus::bls;
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::primitives::*;
use crate::consensus::shuffling::{committee_range, shuffle_list};
use ethereum_hashing::hash_fixed;
use ssz_types::{BitVector, FixedVector, VariableList};
use std::sync::Arc;
use tree_hash::TreeHash;

type Result<T> = std::result::Result<T, TransitionError>;

// ---------------------------------------------------------------------------------------------
// Small conversions
// ---------------------------------------------------------------------------------------------

/// `x // SLOTS_PER_EPOCH` (a non-zero preset constant).
fn div_slots_per_epoch(x: u64) -> u64 {
    x.checked_div(PRESET.slots_per_epoch).unwrap_or(0)
}

/// `x % SLOTS_PER_EPOCH`.
pub(crate) fn slot_in_epoch(slot: Slot) -> u64 {
    slot.checked_rem(PRESET.slots_per_epoch).unwrap_or(0)
}

/// `state.validators[index]`, or `UnknownValidator`.
pub fn get_validator(state: &BeaconState, index: ValidatorIndex) -> Result<&Validator> {
    state
        .validators
        .get(to_usize(index)?)
        .ok_or(TransitionError::UnknownValidator(index))
}

/// Mutable `state.validators[index]`, or `UnknownValidator`.
pub fn get_validator_mut(state: &mut BeaconState, index: ValidatorIndex) -> Result<&mut Validator> {
    state
        .validators
        .get_mut(to_usize(index)?)
        .ok_or(TransitionError::UnknownValidator(index))
}

/// `state.balances[index]`, or `UnknownValidator`.
pub fn get_balance(state: &BeaconState, index: ValidatorIndex) -> Result<Gwei> {
    state
        .balances
        .get(to_usize(index)?)
        .copied()
        .ok_or(TransitionError::UnknownValidator(index))
}

/// `uint_to_bytes(n)` of a `uint64`: 8 little-endian bytes.
fn uint_to_bytes(n: u64) -> [u8; 8] {
    n.to_le_bytes()
}

/// `hash(a + b)` for a 32-byte `a`.
fn hash_concat(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut input = Vec::with_capacity(a.len().saturating_add(b.len()));
    input.extend_from_slice(a);
    input.extend_from_slice(b);
    hash_fixed(&input)
}

// ---------------------------------------------------------------------------------------------
// Math and misc
// ---------------------------------------------------------------------------------------------

/// Spec phase0 `integer_squareroot`: the largest `x` with `x**2 <= n`.
pub fn integer_squareroot(n: u64) -> u64 {
    n.isqrt()
}

/// Spec phase0 `compute_epoch_at_slot`.
pub fn compute_epoch_at_slot(slot: Slot) -> Epoch {
    div_slots_per_epoch(slot)
}

/// Spec phase0 `compute_start_slot_at_epoch`.
pub fn compute_start_slot_at_epoch(epoch: Epoch) -> Result<Slot> {
    Ok(epoch.safe_mul(PRESET.slots_per_epoch)?)
}

/// Spec phase0 `compute_activation_exit_epoch`: `epoch + 1 + MAX_SEED_LOOKAHEAD`.
pub fn compute_activation_exit_epoch(epoch: Epoch) -> Result<Epoch> {
    Ok(epoch.safe_add(1)?.safe_add(PRESET.max_seed_lookahead)?)
}

/// Spec phase0 `compute_fork_data_root`.
pub fn compute_fork_data_root(current_version: Version, genesis_validators_root: Root) -> Root {
    ForkData {
        current_version,
        genesis_validators_root,
    }
    .tree_hash_root()
}

/// Spec phase0 `compute_domain`: `domain_type + fork_data_root[:28]`.
pub fn compute_domain(
    domain_type: DomainType,
    fork_version: Version,
    genesis_validators_root: Root,
) -> Domain {
    let fork_data_root = compute_fork_data_root(fork_version, genesis_validators_root);
    let mut domain = [0u8; 32];
    let (head, tail) = domain.split_at_mut(4);
    head.copy_from_slice(domain_type.as_slice());
    for (d, s) in tail.iter_mut().zip(fork_data_root.iter()) {
        *d = *s;
    }
    Domain::from(domain)
}

/// Spec phase0 `compute_signing_root`.
pub fn compute_signing_root<T: TreeHash + ?Sized>(ssz_object: &T, domain: Domain) -> Root {
    SigningData {
        object_root: ssz_object.tree_hash_root(),
        domain,
    }
    .tree_hash_root()
}

/// Spec electra `compute_proposer_index`: from `indices`, a random index sampled by effective
/// balance (16-bit random values, `MAX_EFFECTIVE_BALANCE_ELECTRA`).
///
/// Like the spec, it loops until a candidate is accepted; that terminates as soon as some
/// candidate has a non-zero effective balance (active validators always do in practice).
pub fn compute_proposer_index(
    state: &BeaconState,
    indices: &[ValidatorIndex],
    seed: &[u8; 32],
) -> Result<ValidatorIndex> {
    compute_proposer_index_by(indices, seed, |index| {
        Ok(get_validator(state, index)?.effective_balance)
    })
}

/// [`compute_proposer_index`] with the effective balances read through `effective_balance`
/// (e.g. from a flat table during epoch processing).
pub fn compute_proposer_index_by(
    indices: &[ValidatorIndex],
    seed: &[u8; 32],
    effective_balance: impl Fn(ValidatorIndex) -> Result<Gwei>,
) -> Result<ValidatorIndex> {
    if indices.is_empty() {
        return Err(TransitionError::NoActiveValidators);
    }
    let total = to_u64(indices.len())?;
    let shuffler = SwapOrNot::new(seed, total)?;
    let mut i: u64 = 0;
    let mut random_bytes = [0u8; 32];
    loop {
        let shuffled = shuffler.shuffled_index(i.safe_rem(total)?)?;
        let candidate_index = *indices
            .get(to_usize(shuffled)?)
            .ok_or(TransitionError::NoActiveValidators)?;
        if i.safe_rem(16)? == 0 {
            random_bytes = hash_concat(seed, &uint_to_bytes(i.safe_div(16)?));
        }
        if is_accepted_by_balance(effective_balance(candidate_index)?, &random_bytes, i)? {
            return Ok(candidate_index);
        }
        i.safe_add_assign(1)?;
    }
}

/// `compute_shuffled_index` for one seed and index count, with the per-round pivots computed
/// once (the spec hashes the pivot anew for every index): half the hashes per index.
pub struct SwapOrNot {
    seed: [u8; 32],
    count: u64,
    pivots: Vec<u64>,
}

impl SwapOrNot {
    pub fn new(seed: &[u8; 32], count: u64) -> Result<Self> {
        if count == 0 {
            return Err(TransitionError::NoActiveValidators);
        }
        let mut pivots = Vec::with_capacity(usize::from(PRESET.shuffle_round_count));
        let mut input = [0u8; 33];
        for (d, b) in input.iter_mut().zip(seed.iter()) {
            *d = *b;
        }
        for round in 0..PRESET.shuffle_round_count {
            if let Some(round_byte) = input.last_mut() {
                *round_byte = round;
            }
            let h = hash_fixed(&input);
            let mut pivot_bytes = [0u8; 8];
            for (d, b) in pivot_bytes.iter_mut().zip(h.iter()) {
                *d = *b;
            }
            pivots.push(u64::from_le_bytes(pivot_bytes).safe_rem(count)?);
        }
        Ok(SwapOrNot {
            seed: *seed,
            count,
            pivots,
        })
    }

    /// The swap-or-not source hash of `bucket` in `round`.
    fn source(&self, round: u8, bucket: u32) -> [u8; 32] {
        let mut input = [0u8; 37];
        let (s, rest) = input.split_at_mut(32);
        s.copy_from_slice(&self.seed);
        let (r, b) = rest.split_at_mut(1);
        r.copy_from_slice(&[round]);
        b.copy_from_slice(&bucket.to_le_bytes());
        hash_fixed(&input)
    }

    /// One round's `(flip, position)` for `index`.
    fn flip_position(&self, pivot: u64, index: u64) -> Result<(u64, u64)> {
        let flip = pivot
            .safe_add(self.count.safe_sub(index)?)?
            .safe_rem(self.count)?;
        Ok((flip, index.max(flip)))
    }

    /// Whether bit `position % 256` of `source` is set.
    fn bit(source: &[u8; 32], position: u64) -> bool {
        let byte = source
            .get(usize::try_from((position & 0xff) >> 3).unwrap_or(0))
            .copied()
            .unwrap_or(0);
        (byte >> (position & 7)) & 1 == 1
    }

    /// Spec `compute_shuffled_index(index, count, seed)`.
    pub fn shuffled_index(&self, index: u64) -> Result<u64> {
        if index >= self.count {
            return Err(
                crate::consensus::shuffling::ShufflingError::IndexOutOfRange {
                    index,
                    index_count: self.count,
                }
                .into(),
            );
        }
        let mut index = index;
        for (round, &pivot) in (0u8..).zip(self.pivots.iter()) {
            let (flip, position) = self.flip_position(pivot, index)?;
            let bucket = u32::try_from(position >> 8).map_err(|_| {
                crate::consensus::shuffling::ShufflingError::TooManyIndices {
                    index_count: self.count,
                }
            })?;
            if Self::bit(&self.source(round, bucket), position) {
                index = flip;
            }
        }
        Ok(index)
    }

    /// `[compute_shuffled_index(i) for i in indices]`, round by round, hashing each source
    /// bucket a round needs once: for many indices that share buckets (e.g. the tens of
    /// thousands of sync committee candidates) far fewer hashes than one per index and round.
    pub fn shuffled_indices(&self, indices: &[u64]) -> Result<Vec<u64>> {
        let mut current: Vec<u64> = indices.to_vec();
        if let Some(&bad) = current.iter().find(|&&i| i >= self.count) {
            return Err(
                crate::consensus::shuffling::ShufflingError::IndexOutOfRange {
                    index: bad,
                    index_count: self.count,
                }
                .into(),
            );
        }
        // Source hashes of this round, by bucket (`position // 256`): a flat table, as the
        // buckets of one index count are few (9,000 for 2.3M) and mostly all needed.
        let bucket_count = to_usize(self.count.safe_sub(1)? >> 8)?.safe_add(1)?;
        let mut sources: Vec<Option<[u8; 32]>> = vec![None; bucket_count];
        for (round, &pivot) in (0u8..).zip(self.pivots.iter()) {
            sources.iter_mut().for_each(|s| *s = None);
            for index in current.iter_mut() {
                let (flip, position) = self.flip_position(pivot, *index)?;
                let bucket = u32::try_from(position >> 8).map_err(|_| {
                    crate::consensus::shuffling::ShufflingError::TooManyIndices {
                        index_count: self.count,
                    }
                })?;
                let slot =
                    sources
                        .get_mut(to_usize(u64::from(bucket))?)
                        .ok_or(TransitionError::Arith(
                            crate::consensus::arith::ArithError::Overflow,
                        ))?;
                let source = slot.get_or_insert_with(|| self.source(round, bucket));
                if Self::bit(source, position) {
                    *index = flip;
                }
            }
        }
        Ok(current)
    }
}

/// Electra's balance-weighted acceptance test shared by proposer and sync committee selection:
/// `effective_balance * MAX_RANDOM_VALUE >= MAX_EFFECTIVE_BALANCE_ELECTRA * random_value`, with
/// `random_value` the 2 bytes at `i % 16 * 2` of `random_bytes = hash(seed + uint_to_bytes(i // 16))`.
fn is_accepted_by_balance(
    effective_balance: Gwei,
    random_bytes: &[u8; 32],
    i: u64,
) -> Result<bool> {
    let offset = to_usize(i.safe_rem(16)?.safe_mul(2)?)?;
    let random_value = match random_bytes.get(offset..offset.safe_add(2)?) {
        Some([lo, hi]) => u64::from(u16::from_le_bytes([*lo, *hi])),
        _ => {
            return Err(TransitionError::Arith(
                crate::consensus::arith::ArithError::Overflow,
            ))
        }
    };
    // u128: effective balance * 2**16 may exceed u64 only for absurd balances, but be exact.
    Ok(
        u128::from(effective_balance).safe_mul(u128::from(MAX_RANDOM_VALUE))?
            >= u128::from(PRESET.max_effective_balance_electra)
                .safe_mul(u128::from(random_value))?,
    )
}

/// Spec `compute_time_at_slot`: `genesis_time + slot * SLOT_DURATION_MS // 1000`.
pub fn compute_time_at_slot(state: &BeaconState, config: &ChainConfig, slot: Slot) -> Result<u64> {
    let slots_since_genesis = slot.safe_sub(GENESIS_SLOT)?;
    Ok(state.genesis_time.safe_add(
        slots_since_genesis
            .safe_mul(config.slot_duration_ms)?
            .safe_div(1000)?,
    )?)
}

// ---------------------------------------------------------------------------------------------
// Predicates
// ---------------------------------------------------------------------------------------------

/// Spec phase0 `is_active_validator`.
pub fn is_active_validator(validator: &Validator, epoch: Epoch) -> bool {
    validator.activation_epoch <= epoch && epoch < validator.exit_epoch
}

/// Spec electra `is_eligible_for_activation_queue`.
pub fn is_eligible_for_activation_queue(validator: &Validator) -> bool {
    validator.activation_eligibility_epoch == FAR_FUTURE_EPOCH
        && validator.effective_balance >= PRESET.min_activation_balance
}

/// Spec phase0 `is_eligible_for_activation`.
pub fn is_eligible_for_activation(state: &BeaconState, validator: &Validator) -> bool {
    validator.activation_eligibility_epoch <= state.finalized_checkpoint.epoch
        && validator.activation_epoch == FAR_FUTURE_EPOCH
}

/// Spec phase0 `is_slashable_validator`.
pub fn is_slashable_validator(validator: &Validator, epoch: Epoch) -> bool {
    !validator.slashed
        && validator.activation_epoch <= epoch
        && epoch < validator.withdrawable_epoch
}

/// Spec phase0 `is_slashable_attestation_data`: double vote or surround vote.
pub fn is_slashable_attestation_data(data_1: &AttestationData, data_2: &AttestationData) -> bool {
    (data_1 != data_2 && data_1.target.epoch == data_2.target.epoch)
        || (data_1.source.epoch < data_2.source.epoch && data_2.target.epoch < data_1.target.epoch)
}

/// The inputs of one BLS check, owned (for [`bls::batch_verify`] via [`Self::as_set`]).
#[derive(Debug, Clone)]
pub struct OwnedSignatureSet {
    pub pubkeys: Vec<bls::PublicKey>,
    pub message: [u8; 32],
    pub signature: bls::Signature,
}

impl OwnedSignatureSet {
    /// Borrowed view for [`bls::batch_verify`].
    pub fn as_set(&self) -> bls::SignatureSet<'_> {
        bls::SignatureSet::multiple(&self.signature, self.pubkeys.iter().collect(), self.message)
    }

    /// `FastAggregateVerify(pubkeys, message, signature)`.
    pub fn verify(&self) -> bool {
        bls::fast_aggregate_verify(&self.pubkeys, &self.message, &self.signature)
    }
}

/// The structural half of phase0 `is_valid_indexed_attestation`, plus the signature inputs:
/// `Ok(None)` when the indices are empty or not sorted-unique, or a pubkey or the signature
/// does not decode (all of which make the spec function return `False`);
/// `Err(UnknownValidator)` for an index beyond the registry (an exception in the spec).
pub fn get_indexed_attestation_signature_set(
    state: &BeaconState,
    indexed_attestation: &IndexedAttestation,
) -> Result<Option<OwnedSignatureSet>> {
    let indices = &indexed_attestation.attesting_indices;
    if indices.is_empty() || !indices.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
        return Ok(None);
    }
    let mut pubkeys = Vec::with_capacity(indices.len());
    for &index in indices.iter() {
        let validator = get_validator(state, index)?;
        match bls::PublicKey::from_bytes(validator.pubkey.as_slice()) {
            Ok(pk) => pubkeys.push(pk),
            Err(_) => return Ok(None),
        }
    }
    let Ok(signature) = bls::Signature::from_bytes(indexed_attestation.signature.as_slice()) else {
        return Ok(None);
    };
    let domain = get_domain(
        state,
        DOMAIN_BEACON_ATTESTER,
        Some(indexed_attestation.data.target.epoch),
    );
    let message = compute_signing_root(&indexed_attestation.data, domain);
    Ok(Some(OwnedSignatureSet {
        pubkeys,
        message: message.0,
        signature,
    }))
}

/// Spec phase0 `is_valid_indexed_attestation` (Electra's wider index list).
pub fn is_valid_indexed_attestation(
    state: &BeaconState,
    indexed_attestation: &IndexedAttestation,
) -> Result<bool> {
    Ok(
        get_indexed_attestation_signature_set(state, indexed_attestation)?
            .is_some_and(|set| set.verify()),
    )
}

/// Spec phase0 `compute_merkle_branch_root`; `None` if `branch` is shorter than `depth`.
pub fn compute_merkle_branch_root(
    leaf: Hash256,
    branch: &[Hash256],
    depth: u64,
    index: u64,
) -> Option<Root> {
    let mut value = leaf.0;
    for i in 0..depth {
        let sibling = branch.get(usize::try_from(i).ok()?)?;
        let bit = index.checked_shr(u32::try_from(i).ok()?).unwrap_or(0) & 1;
        value = if bit == 1 {
            ethereum_hashing::hash32_concat(sibling.as_slice(), &value)
        } else {
            ethereum_hashing::hash32_concat(&value, sibling.as_slice())
        };
    }
    Some(Root::from(value))
}

/// Spec phase0 `is_valid_merkle_branch`.
pub fn is_valid_merkle_branch(
    leaf: Hash256,
    branch: &[Hash256],
    depth: u64,
    index: u64,
    root: Root,
) -> bool {
    u64::try_from(branch.len()).is_ok_and(|len| len == depth)
        && compute_merkle_branch_root(leaf, branch, depth, index) == Some(root)
}

fn withdrawal_prefix(withdrawal_credentials: &Bytes32) -> u8 {
    withdrawal_credentials
        .0
        .first()
        .copied()
        .unwrap_or_default()
}

/// Spec capella `has_eth1_withdrawal_credential` (0x01).
pub fn has_eth1_withdrawal_credential(validator: &Validator) -> bool {
    withdrawal_prefix(&validator.withdrawal_credentials) == ETH1_ADDRESS_WITHDRAWAL_PREFIX
}

/// Spec electra `is_compounding_withdrawal_credential` (0x02).
pub fn is_compounding_withdrawal_credential(withdrawal_credentials: &Bytes32) -> bool {
    withdrawal_prefix(withdrawal_credentials) == COMPOUNDING_WITHDRAWAL_PREFIX
}

/// Spec electra `has_compounding_withdrawal_credential`.
pub fn has_compounding_withdrawal_credential(validator: &Validator) -> bool {
    is_compounding_withdrawal_credential(&validator.withdrawal_credentials)
}

/// Spec electra `has_execution_withdrawal_credential` (0x01 or 0x02).
pub fn has_execution_withdrawal_credential(validator: &Validator) -> bool {
    has_eth1_withdrawal_credential(validator) || has_compounding_withdrawal_credential(validator)
}

/// Spec electra `is_fully_withdrawable_validator`.
pub fn is_fully_withdrawable_validator(validator: &Validator, balance: Gwei, epoch: Epoch) -> bool {
    has_execution_withdrawal_credential(validator)
        && validator.withdrawable_epoch <= epoch
        && balance > 0
}

/// Spec electra `is_partially_withdrawable_validator`.
pub fn is_partially_withdrawable_validator(validator: &Validator, balance: Gwei) -> bool {
    let max_effective_balance = get_max_effective_balance(validator);
    has_execution_withdrawal_credential(validator)
        && validator.effective_balance == max_effective_balance
        && balance > max_effective_balance
}

/// Spec electra `is_eligible_for_partial_withdrawals`.
pub fn is_eligible_for_partial_withdrawals(validator: &Validator, balance: Gwei) -> bool {
    validator.exit_epoch == FAR_FUTURE_EPOCH
        && validator.effective_balance >= PRESET.min_activation_balance
        && balance > PRESET.min_activation_balance
}

// ---------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------

/// Spec phase0 `get_current_epoch`.
pub fn get_current_epoch(state: &BeaconState) -> Epoch {
    compute_epoch_at_slot(state.slot)
}

/// Spec phase0 `get_previous_epoch` (`GENESIS_EPOCH` in the genesis epoch).
pub fn get_previous_epoch(state: &BeaconState) -> Epoch {
    get_current_epoch(state).saturating_sub(1)
}

/// Spec phase0 `get_block_root`.
pub fn get_block_root(state: &BeaconState, epoch: Epoch) -> Result<Root> {
    get_block_root_at_slot(state, compute_start_slot_at_epoch(epoch)?)
}

/// Spec phase0 `get_block_root_at_slot`: requires
/// `slot < state.slot <= slot + SLOTS_PER_HISTORICAL_ROOT`.
pub fn get_block_root_at_slot(state: &BeaconState, slot: Slot) -> Result<Root> {
    let in_range = slot < state.slot
        && slot
            .checked_add(PRESET.slots_per_historical_root)
            .is_none_or(|limit| state.slot <= limit);
    if !in_range {
        return Err(TransitionError::SlotOutOfRange {
            slot,
            state_slot: state.slot,
        });
    }
    let i = to_usize(slot.safe_rem(PRESET.slots_per_historical_root)?)?;
    state
        .block_roots
        .get(i)
        .copied()
        .ok_or(TransitionError::SlotOutOfRange {
            slot,
            state_slot: state.slot,
        })
}

/// Spec phase0 `get_randao_mix`.
pub fn get_randao_mix(state: &BeaconState, epoch: Epoch) -> Result<Hash256> {
    let i = to_usize(epoch.safe_rem(PRESET.epochs_per_historical_vector)?)?;
    state
        .randao_mixes
        .get(i)
        .copied()
        .ok_or(TransitionError::Tree(format!("randao_mixes[{i}] missing")))
}

/// Spec phase0 `get_active_validator_indices`, computed by a scan of the registry.
pub fn get_active_validator_indices_uncached(
    state: &BeaconState,
    epoch: Epoch,
) -> Vec<ValidatorIndex> {
    (0u64..)
        .zip(state.validators.iter())
        .filter(|(_, v)| is_active_validator(v, epoch))
        .map(|(i, _)| i)
        .collect()
}

/// Spec phase0 `get_active_validator_indices` (from the committee cache when it holds `epoch`).
pub fn get_active_validator_indices(state: &BeaconState, epoch: Epoch) -> Vec<ValidatorIndex> {
    match state.caches.active_indices(epoch) {
        Some(cached) => cached.active_indices.clone(),
        None => get_active_validator_indices_uncached(state, epoch),
    }
}

/// Number of active validators at `epoch` (cached when possible).
pub fn get_active_validator_count(state: &BeaconState, epoch: Epoch) -> u64 {
    match state.caches.active_indices(epoch) {
        Some(cached) => cached.active_indices.len() as u64,
        None => state
            .validators
            .iter()
            .filter(|v| is_active_validator(v, epoch))
            .count() as u64,
    }
}

/// Spec phase0 `get_validator_churn_limit`.
pub fn get_validator_churn_limit(state: &BeaconState, config: &ChainConfig) -> Result<u64> {
    let active = get_active_validator_count(state, get_current_epoch(state));
    Ok(config
        .min_per_epoch_churn_limit
        .max(active.safe_div(config.churn_limit_quotient)?))
}

/// Spec phase0 `get_seed`: `hash(domain_type + uint_to_bytes(epoch) + mix)` with the mix of
/// `epoch - MIN_SEED_LOOKAHEAD - 1` (taken modulo the history, as the spec does).
pub fn get_seed(state: &BeaconState, epoch: Epoch, domain_type: DomainType) -> Result<[u8; 32]> {
    let mix_epoch = epoch
        .safe_add(PRESET.epochs_per_historical_vector)?
        .safe_sub(PRESET.min_seed_lookahead)?
        .safe_sub(1)?;
    let mix = get_randao_mix(state, mix_epoch)?;
    let mut input = [0u8; 4 + 8 + 32];
    let (d, rest) = input.split_at_mut(4);
    let (e, m) = rest.split_at_mut(8);
    d.copy_from_slice(domain_type.as_slice());
    e.copy_from_slice(&uint_to_bytes(epoch));
    m.copy_from_slice(mix.as_slice());
    Ok(hash_fixed(&input))
}

/// `get_committee_count_per_slot` from the number of active validators.
pub fn committee_count_per_slot(active_validator_count: u64) -> u64 {
    let per_slot = div_slots_per_epoch(active_validator_count)
        .checked_div(PRESET.target_committee_size)
        .unwrap_or(0);
    per_slot.min(PRESET.max_committees_per_slot).max(1)
}

/// Spec phase0 `get_committee_count_per_slot`.
pub fn get_committee_count_per_slot(state: &BeaconState, epoch: Epoch) -> u64 {
    committee_count_per_slot(get_active_validator_count(state, epoch))
}

/// Whether `epoch`'s active set is final from `state`'s point of view, so that it may be
/// cached (see [`super::caches`]): within one epoch of the current one.
fn is_cacheable_epoch(state: &BeaconState, epoch: Epoch) -> bool {
    let current = get_current_epoch(state);
    epoch.saturating_add(1) >= current && epoch <= current.saturating_add(1)
}

/// Builds `epoch`'s committee shuffling (whole-list shuffle) without consulting the cache.
pub fn compute_epoch_committees(state: &BeaconState, epoch: Epoch) -> Result<EpochCommittees> {
    let seed = get_seed(state, epoch, DOMAIN_BEACON_ATTESTER)?;
    let active_indices = match state.caches.active_indices(epoch) {
        Some(cached) => cached.active_indices.clone(),
        None => get_active_validator_indices_uncached(state, epoch),
    };
    let mut shuffled = active_indices.clone();
    shuffle_list(&mut shuffled, &seed, PRESET.shuffle_round_count, false)?;
    Ok(EpochCommittees {
        epoch,
        seed,
        active_indices,
        shuffled,
    })
}

/// `epoch`'s committees: from the cache, or computed (and cached when `epoch` is within one of
/// the current epoch).
pub fn get_epoch_committees(state: &BeaconState, epoch: Epoch) -> Result<Arc<EpochCommittees>> {
    let seed = get_seed(state, epoch, DOMAIN_BEACON_ATTESTER)?;
    if let Some(cached) = state.caches.committees(epoch, &seed) {
        return Ok(cached);
    }
    let built = Arc::new(compute_epoch_committees(state, epoch)?);
    if is_cacheable_epoch(state, epoch) {
        state
            .caches
            .insert_committees(Arc::clone(&built), get_current_epoch(state));
    }
    Ok(built)
}

/// Spec phase0 `get_beacon_committee` as a slice of the epoch's cached shuffling.
pub fn beacon_committee_in(
    committees: &EpochCommittees,
    slot: Slot,
    index: CommitteeIndex,
) -> Result<&[ValidatorIndex]> {
    let committees_per_slot = committee_count_per_slot(to_u64(committees.shuffled.len())?);
    let global_index = slot_in_epoch(slot)
        .safe_mul(committees_per_slot)?
        .safe_add(index)?;
    let count = committees_per_slot.safe_mul(PRESET.slots_per_epoch)?;
    let range = committee_range(committees.shuffled.len(), global_index, count)?;
    committees
        .shuffled
        .get(range)
        .ok_or(TransitionError::CommitteeIndexOutOfRange {
            index,
            count: committees_per_slot,
        })
}

/// Spec phase0 `get_beacon_committee`, served from the epoch committee cache.
pub fn get_beacon_committee(
    state: &BeaconState,
    slot: Slot,
    index: CommitteeIndex,
) -> Result<Vec<ValidatorIndex>> {
    let committees = get_epoch_committees(state, compute_epoch_at_slot(slot))?;
    Ok(beacon_committee_in(&committees, slot, index)?.to_vec())
}

/// Spec phase0 `get_beacon_committee` computed directly (`compute_committee` per member), for
/// checking the cached path.
pub fn get_beacon_committee_uncached(
    state: &BeaconState,
    slot: Slot,
    index: CommitteeIndex,
) -> Result<Vec<ValidatorIndex>> {
    let epoch = compute_epoch_at_slot(slot);
    let indices = get_active_validator_indices_uncached(state, epoch);
    let committees_per_slot = committee_count_per_slot(to_u64(indices.len())?);
    let seed = get_seed(state, epoch, DOMAIN_BEACON_ATTESTER)?;
    Ok(crate::consensus::shuffling::compute_committee(
        &indices,
        &seed,
        slot_in_epoch(slot)
            .safe_mul(committees_per_slot)?
            .safe_add(index)?,
        committees_per_slot.safe_mul(PRESET.slots_per_epoch)?,
        PRESET.shuffle_round_count,
    )?)
}

/// Spec electra `get_beacon_proposer_index` (computed from the seed of the current slot).
pub fn compute_beacon_proposer_index_at_slot(
    state: &BeaconState,
    slot: Slot,
) -> Result<ValidatorIndex> {
    let epoch = compute_epoch_at_slot(slot);
    let seed = hash_concat(
        &get_seed(state, epoch, DOMAIN_BEACON_PROPOSER)?,
        &uint_to_bytes(slot),
    );
    match state.caches.active_indices(epoch) {
        Some(cached) => compute_proposer_index(state, &cached.active_indices, &seed),
        None => {
            let indices = get_active_validator_indices(state, epoch);
            compute_proposer_index(state, &indices, &seed)
        }
    }
}

/// The per-slot proposer seed: `hash(seed + uint_to_bytes(slot))`.
pub fn proposer_seed(epoch_seed: &[u8; 32], slot: Slot) -> [u8; 32] {
    hash_concat(epoch_seed, &uint_to_bytes(slot))
}

/// Spec fulu `compute_proposer_indices`: the proposers of the slots of `epoch`, each sampled
/// with `hash(seed + uint_to_bytes(slot))`.
pub fn compute_proposer_indices(
    state: &BeaconState,
    epoch: Epoch,
    seed: &[u8; 32],
    indices: &[ValidatorIndex],
) -> Result<Vec<ValidatorIndex>> {
    let start_slot = compute_start_slot_at_epoch(epoch)?;
    (0..PRESET.slots_per_epoch)
        .map(|i| {
            let slot = start_slot.safe_add(i)?;
            let slot_seed = hash_concat(seed, &uint_to_bytes(slot));
            compute_proposer_index(state, indices, &slot_seed)
        })
        .collect()
}

/// Spec fulu `get_beacon_proposer_indices`.
pub fn get_beacon_proposer_indices(
    state: &BeaconState,
    epoch: Epoch,
) -> Result<Vec<ValidatorIndex>> {
    let seed = get_seed(state, epoch, DOMAIN_BEACON_PROPOSER)?;
    match state.caches.active_indices(epoch) {
        Some(cached) => compute_proposer_indices(state, epoch, &seed, &cached.active_indices),
        None => {
            let indices = get_active_validator_indices_uncached(state, epoch);
            compute_proposer_indices(state, epoch, &seed, &indices)
        }
    }
}

/// Spec `get_beacon_proposer_index`: Fulu reads `state.proposer_lookahead[state.slot %
/// SLOTS_PER_EPOCH]`; Electra computes it.
pub fn get_beacon_proposer_index(state: &BeaconState) -> Result<ValidatorIndex> {
    match &state.proposer_lookahead {
        Some(lookahead) => {
            let i = to_usize(slot_in_epoch(state.slot))?;
            lookahead
                .get(i)
                .copied()
                .ok_or(TransitionError::Tree(format!(
                    "proposer_lookahead[{i}] missing"
                )))
        }
        None => compute_beacon_proposer_index_at_slot(state, state.slot),
    }
}

/// Spec phase0 `get_total_balance`: `max(EFFECTIVE_BALANCE_INCREMENT, sum of effective
/// balances)`. The spec takes a set: pass each index once.
pub fn get_total_balance(
    state: &BeaconState,
    indices: impl IntoIterator<Item = ValidatorIndex>,
) -> Result<Gwei> {
    let mut sum: Gwei = 0;
    for index in indices {
        sum.safe_add_assign(get_validator(state, index)?.effective_balance)?;
    }
    Ok(sum.max(PRESET.effective_balance_increment))
}

/// Spec phase0 `get_total_active_balance` (cached per epoch; see [`super::caches`]).
pub fn get_total_active_balance(state: &BeaconState) -> Result<Gwei> {
    let epoch = get_current_epoch(state);
    if let Some(balance) = state.caches.total_active_balance(epoch) {
        return Ok(balance);
    }
    let balance = get_total_active_balance_uncached(state)?;
    state.caches.set_total_active_balance(epoch, balance);
    Ok(balance)
}

/// Spec phase0 `get_total_active_balance` by a scan of the registry.
pub fn get_total_active_balance_uncached(state: &BeaconState) -> Result<Gwei> {
    let epoch = get_current_epoch(state);
    let mut sum: Gwei = 0;
    for validator in state.validators.iter() {
        if is_active_validator(validator, epoch) {
            sum.safe_add_assign(validator.effective_balance)?;
        }
    }
    Ok(sum.max(PRESET.effective_balance_increment))
}

/// Spec phase0 `get_domain`.
pub fn get_domain(state: &BeaconState, domain_type: DomainType, epoch: Option<Epoch>) -> Domain {
    let epoch = epoch.unwrap_or_else(|| get_current_epoch(state));
    let fork_version = if epoch < state.fork.epoch {
        state.fork.previous_version
    } else {
        state.fork.current_version
    };
    compute_domain(domain_type, fork_version, state.genesis_validators_root)
}

/// Spec electra `get_indexed_attestation`.
pub fn get_indexed_attestation(
    state: &BeaconState,
    attestation: &Attestation,
) -> Result<IndexedAttestation> {
    let attesting_indices: Vec<ValidatorIndex> = get_attesting_indices(state, attestation)?
        .into_iter()
        .collect();
    let len = attesting_indices.len();
    Ok(IndexedAttestation {
        attesting_indices: VariableList::new(attesting_indices).map_err(|_| {
            TransitionError::AggregationBitsLength {
                bits: attestation.aggregation_bits.len(),
                expected: len,
            }
        })?,
        data: attestation.data.clone(),
        signature: attestation.signature,
    })
}

/// Spec electra `get_attesting_indices`: the union over the committees in `committee_bits` of
/// the members whose aggregation bit is set. A bit beyond `aggregation_bits` is an error (an
/// `IndexError` in the spec). The set as a sorted `Vec` without duplicates (cheaper to build
/// than a `BTreeSet` for a block's ~70,000 attesters).
pub fn get_attesting_indices(
    state: &BeaconState,
    attestation: &Attestation,
) -> Result<Vec<ValidatorIndex>> {
    let committees = get_epoch_committees(state, compute_epoch_at_slot(attestation.data.slot))?;
    let mut output = Vec::with_capacity(attestation.aggregation_bits.len());
    let mut committee_offset: usize = 0;
    for committee_index in get_committee_indices(&attestation.committee_bits) {
        let committee = beacon_committee_in(&committees, attestation.data.slot, committee_index)?;
        for (i, &attester_index) in committee.iter().enumerate() {
            let position = committee_offset.safe_add(i)?;
            let bit = attestation.aggregation_bits.get(position).map_err(|_| {
                TransitionError::AggregationBitsLength {
                    bits: attestation.aggregation_bits.len(),
                    expected: position.saturating_add(1),
                }
            })?;
            if bit {
                output.push(attester_index);
            }
        }
        committee_offset.safe_add_assign(committee.len())?;
    }
    output.sort_unstable();
    output.dedup();
    Ok(output)
}

/// Spec electra `get_committee_indices`.
pub fn get_committee_indices(
    committee_bits: &BitVector<MaxCommitteesPerSlot>,
) -> Vec<CommitteeIndex> {
    (0u64..)
        .zip(committee_bits.iter())
        .filter(|(_, bit)| *bit)
        .map(|(i, _)| i)
        .collect()
}

/// Spec electra `get_max_effective_balance`.
pub fn get_max_effective_balance(validator: &Validator) -> Gwei {
    if has_compounding_withdrawal_credential(validator) {
        PRESET.max_effective_balance_electra
    } else {
        PRESET.min_activation_balance
    }
}

/// Spec electra `get_balance_churn_limit`.
pub fn get_balance_churn_limit(state: &BeaconState, config: &ChainConfig) -> Result<Gwei> {
    let churn = config
        .min_per_epoch_churn_limit_electra
        .max(get_total_active_balance(state)?.safe_div(config.churn_limit_quotient)?);
    Ok(churn.safe_sub(churn.safe_rem(PRESET.effective_balance_increment)?)?)
}

/// Spec electra `get_activation_exit_churn_limit`.
pub fn get_activation_exit_churn_limit(state: &BeaconState, config: &ChainConfig) -> Result<Gwei> {
    Ok(config
        .max_per_epoch_activation_exit_churn_limit
        .min(get_balance_churn_limit(state, config)?))
}

/// Spec electra `get_consolidation_churn_limit`.
pub fn get_consolidation_churn_limit(state: &BeaconState, config: &ChainConfig) -> Result<Gwei> {
    Ok(get_balance_churn_limit(state, config)?
        .safe_sub(get_activation_exit_churn_limit(state, config)?)?)
}

/// Spec electra `get_pending_balance_to_withdraw`.
pub fn get_pending_balance_to_withdraw(
    state: &BeaconState,
    validator_index: ValidatorIndex,
) -> Result<Gwei> {
    let mut sum: Gwei = 0;
    for withdrawal in state.pending_partial_withdrawals.iter() {
        if withdrawal.validator_index == validator_index {
            sum.safe_add_assign(withdrawal.amount)?;
        }
    }
    Ok(sum)
}

/// Spec altair `get_base_reward_per_increment`.
pub fn get_base_reward_per_increment(state: &BeaconState) -> Result<Gwei> {
    base_reward_per_increment(get_total_active_balance(state)?)
}

/// `get_base_reward_per_increment` from the total active balance.
pub fn base_reward_per_increment(total_active_balance: Gwei) -> Result<Gwei> {
    Ok(PRESET
        .effective_balance_increment
        .safe_mul(PRESET.base_reward_factor)?
        .safe_div(integer_squareroot(total_active_balance))?)
}

/// Spec altair `get_base_reward`.
pub fn get_base_reward(state: &BeaconState, index: ValidatorIndex) -> Result<Gwei> {
    let increments = get_validator(state, index)?
        .effective_balance
        .safe_div(PRESET.effective_balance_increment)?;
    Ok(increments.safe_mul(get_base_reward_per_increment(state)?)?)
}

/// Spec altair `get_unslashed_participating_indices`, as a sorted list (the spec's set, in
/// index order; use `binary_search` for membership).
pub fn get_unslashed_participating_indices(
    state: &BeaconState,
    flag_index: usize,
    epoch: Epoch,
) -> Result<Vec<ValidatorIndex>> {
    let current = get_current_epoch(state);
    let participation = if epoch == current {
        &state.current_epoch_participation
    } else if epoch == get_previous_epoch(state) {
        &state.previous_epoch_participation
    } else {
        return Err(TransitionError::EpochOutOfRange { epoch, current });
    };
    let mut out = Vec::new();
    for index in get_active_validator_indices(state, epoch) {
        let i = to_usize(index)?;
        let flags = participation
            .get(i)
            .copied()
            .ok_or(TransitionError::UnknownValidator(index))?;
        if has_flag(flags, flag_index) && !get_validator(state, index)?.slashed {
            out.push(index);
        }
    }
    Ok(out)
}

/// Spec deneb `get_attestation_participation_flag_indices` (`assert is_matching_source` is
/// [`TransitionError::AttestationSourceMismatch`]).
pub fn get_attestation_participation_flag_indices(
    state: &BeaconState,
    data: &AttestationData,
    inclusion_delay: u64,
) -> Result<Vec<usize>> {
    let justified_checkpoint = if data.target.epoch == get_current_epoch(state) {
        &state.current_justified_checkpoint
    } else {
        &state.previous_justified_checkpoint
    };
    let is_matching_source = data.source == *justified_checkpoint;
    if !is_matching_source {
        return Err(TransitionError::AttestationSourceMismatch);
    }
    let target_root_matches = data.target.root == get_block_root(state, data.target.epoch)?;
    let is_matching_target = is_matching_source && target_root_matches;
    let head_root_matches = data.beacon_block_root == get_block_root_at_slot(state, data.slot)?;
    let is_matching_head = is_matching_target && head_root_matches;

    let mut flags = Vec::with_capacity(3);
    if is_matching_source && inclusion_delay <= integer_squareroot(PRESET.slots_per_epoch) {
        flags.push(TIMELY_SOURCE_FLAG_INDEX);
    }
    if is_matching_target {
        flags.push(TIMELY_TARGET_FLAG_INDEX);
    }
    if is_matching_head && inclusion_delay == PRESET.min_attestation_inclusion_delay {
        flags.push(TIMELY_HEAD_FLAG_INDEX);
    }
    Ok(flags)
}

/// The bit of `flag_index` (`None` beyond the 8 bits of `ParticipationFlags`).
fn flag_bit(flag_index: usize) -> Option<ParticipationFlags> {
    1u8.checked_shl(u32::try_from(flag_index).ok()?)
}

/// Spec altair `add_flag` (an index beyond the 8 flag bits leaves `flags` unchanged).
pub fn add_flag(flags: ParticipationFlags, flag_index: usize) -> ParticipationFlags {
    flags | flag_bit(flag_index).unwrap_or(0)
}

/// Spec altair `has_flag` (false for an index beyond the 8 flag bits).
pub fn has_flag(flags: ParticipationFlags, flag_index: usize) -> bool {
    flag_bit(flag_index).is_some_and(|flag| flags & flag == flag)
}

/// Spec electra `get_next_sync_committee_indices` (balance-weighted, possibly with duplicates).
pub fn get_next_sync_committee_indices(state: &BeaconState) -> Result<Vec<ValidatorIndex>> {
    let epoch = get_current_epoch(state).safe_add(1)?;
    let active_validator_indices = get_active_validator_indices(state, epoch);
    compute_sync_committee_indices(state, epoch, &active_validator_indices, |index| {
        Ok(get_validator(state, index)?.effective_balance)
    })
}

/// The loop of `get_next_sync_committee_indices` for `epoch`'s active indices, with effective
/// balances read through `effective_balance`. Candidates' shuffled positions are computed in
/// batches ([`SwapOrNot::shuffled_indices`]); the result is the spec's.
pub fn compute_sync_committee_indices(
    state: &BeaconState,
    epoch: Epoch,
    active_validator_indices: &[ValidatorIndex],
    effective_balance: impl Fn(ValidatorIndex) -> Result<Gwei>,
) -> Result<Vec<ValidatorIndex>> {
    if active_validator_indices.is_empty() {
        return Err(TransitionError::NoActiveValidators);
    }
    let active_validator_count = to_u64(active_validator_indices.len())?;
    let seed = get_seed(state, epoch, DOMAIN_SYNC_COMMITTEE)?;
    let shuffler = SwapOrNot::new(&seed, active_validator_count)?;
    let size = to_usize(PRESET.sync_committee_size)?;
    let mut sync_committee_indices = Vec::with_capacity(size);
    // Expected candidates per member: MAX_EFFECTIVE_BALANCE_ELECTRA / average effective balance
    // (64 at 32 ETH); batches of that order keep the hashing shared.
    let batch = PRESET.sync_committee_size.safe_mul(64)?;
    let mut i: u64 = 0;
    let mut random_bytes = [0u8; 32];
    while sync_committee_indices.len() < size {
        let positions: Vec<u64> = (i..i.safe_add(batch)?)
            .map(|j| j.safe_rem(active_validator_count))
            .collect::<std::result::Result<_, _>>()?;
        let shuffled = shuffler.shuffled_indices(&positions)?;
        for shuffled_index in shuffled {
            if sync_committee_indices.len() >= size {
                break;
            }
            let candidate_index = *active_validator_indices
                .get(to_usize(shuffled_index)?)
                .ok_or(TransitionError::NoActiveValidators)?;
            if i.safe_rem(16)? == 0 {
                random_bytes = hash_concat(&seed, &uint_to_bytes(i.safe_div(16)?));
            }
            if is_accepted_by_balance(effective_balance(candidate_index)?, &random_bytes, i)? {
                sync_committee_indices.push(candidate_index);
            }
            i.safe_add_assign(1)?;
        }
    }
    Ok(sync_committee_indices)
}

/// Spec altair `get_next_sync_committee`.
pub fn get_next_sync_committee(state: &BeaconState) -> Result<SyncCommittee> {
    let indices = get_next_sync_committee_indices(state)?;
    sync_committee_from_indices(state, &indices)
}

/// The `SyncCommittee` of `indices`: their pubkeys and `eth_aggregate_pubkeys` of them.
pub fn sync_committee_from_indices(
    state: &BeaconState,
    indices: &[ValidatorIndex],
) -> Result<SyncCommittee> {
    let mut pubkeys = Vec::with_capacity(indices.len());
    let mut keys = Vec::with_capacity(indices.len());
    for &index in indices {
        let pubkey = get_validator(state, index)?.pubkey;
        keys.push(
            bls::PublicKey::from_bytes(pubkey.as_slice())
                .map_err(|e| TransitionError::InvalidPubkey(format!("validator {index}: {e}")))?,
        );
        pubkeys.push(pubkey);
    }
    let aggregate = bls::eth_aggregate_pubkeys(&keys)
        .map_err(|e| TransitionError::InvalidPubkey(e.to_string()))?;
    Ok(SyncCommittee {
        pubkeys: FixedVector::new(pubkeys)
            .map_err(|e| TransitionError::Tree(format!("sync committee pubkeys: {e:?}")))?,
        aggregate_pubkey: BLSPubkey::from(aggregate.to_bytes()),
    })
}

/// Spec altair `get_finality_delay`.
pub fn get_finality_delay(state: &BeaconState) -> Result<u64> {
    Ok(get_previous_epoch(state).safe_sub(state.finalized_checkpoint.epoch)?)
}

/// Spec altair `is_in_inactivity_leak`.
pub fn is_in_inactivity_leak(state: &BeaconState) -> Result<bool> {
    Ok(get_finality_delay(state)? > PRESET.min_epochs_to_inactivity_penalty)
}

/// Whether `validator` is in phase0 `get_eligible_validator_indices` for `previous_epoch`.
pub fn is_eligible_validator(validator: &Validator, previous_epoch: Epoch) -> bool {
    is_active_validator(validator, previous_epoch)
        || (validator.slashed && previous_epoch.saturating_add(1) < validator.withdrawable_epoch)
}

/// Spec phase0 `get_eligible_validator_indices`.
pub fn get_eligible_validator_indices(state: &BeaconState) -> Vec<ValidatorIndex> {
    let previous_epoch = get_previous_epoch(state);
    (0u64..)
        .zip(state.validators.iter())
        .filter(|(_, v)| is_eligible_validator(v, previous_epoch))
        .map(|(i, _)| i)
        .collect()
}

/// The index of the first validator with `pubkey` (the spec's `validator_pubkeys.index(pubkey)`),
/// from the state's pubkey cache (brought up to date with the registry first).
pub fn find_validator_index_by_pubkey(
    state: &BeaconState,
    pubkey: &BLSPubkey,
) -> Option<ValidatorIndex> {
    state.caches.with_pubkeys(|cache| {
        let covered = cache.len();
        if covered > state.validators.len() {
            // The cache ran ahead of this registry (cannot happen: registries only grow).
            *cache = Default::default();
        }
        let start = cache.len();
        let key_at = |index: ValidatorIndex| {
            usize::try_from(index)
                .ok()
                .and_then(|i| state.validators.get(i))
                .map(|validator| validator.pubkey.0)
        };
        if let Ok(iter) = state.validators.iter_from(start) {
            for validator in iter {
                cache.push(validator.pubkey.0, key_at);
            }
        }
        cache.get(&pubkey.0, key_at)
    })
}

// ---------------------------------------------------------------------------------------------
// Mutators
// ---------------------------------------------------------------------------------------------

/// Spec phase0 `increase_balance`.
pub fn increase_balance(state: &mut BeaconState, index: ValidatorIndex, delta: Gwei) -> Result<()> {
    let balance = state
        .balances
        .get_mut(to_usize(index)?)
        .ok_or(TransitionError::UnknownValidator(index))?;
    balance.safe_add_assign(delta)?;
    Ok(())
}

/// Spec phase0 `decrease_balance` (saturating at zero).
pub fn decrease_balance(state: &mut BeaconState, index: ValidatorIndex, delta: Gwei) -> Result<()> {
    let balance = state
        .balances
        .get_mut(to_usize(index)?)
        .ok_or(TransitionError::UnknownValidator(index))?;
    *balance = balance.saturating_sub(delta);
    Ok(())
}

/// Spec electra `initiate_validator_exit`.
pub fn initiate_validator_exit(
    state: &mut BeaconState,
    config: &ChainConfig,
    index: ValidatorIndex,
) -> Result<()> {
    let validator = get_validator(state, index)?;
    if validator.exit_epoch != FAR_FUTURE_EPOCH {
        return Ok(());
    }
    let effective_balance = validator.effective_balance;
    let exit_queue_epoch = compute_exit_epoch_and_update_churn(state, config, effective_balance)?;
    let withdrawable_epoch =
        exit_queue_epoch.safe_add(config.min_validator_withdrawability_delay)?;
    let validator = get_validator_mut(state, index)?;
    validator.exit_epoch = exit_queue_epoch;
    validator.withdrawable_epoch = withdrawable_epoch;
    Ok(())
}

/// Spec electra `slash_validator`.
pub fn slash_validator(
    state: &mut BeaconState,
    config: &ChainConfig,
    slashed_index: ValidatorIndex,
    whistleblower_index: Option<ValidatorIndex>,
) -> Result<()> {
    let epoch = get_current_epoch(state);
    initiate_validator_exit(state, config, slashed_index)?;
    let min_withdrawable = epoch.safe_add(PRESET.epochs_per_slashings_vector)?;
    let validator = get_validator_mut(state, slashed_index)?;
    validator.slashed = true;
    validator.withdrawable_epoch = validator.withdrawable_epoch.max(min_withdrawable);
    let effective_balance = validator.effective_balance;
    let slot = to_usize(epoch.safe_rem(PRESET.epochs_per_slashings_vector)?)?;
    let slashing = state
        .slashings
        .get_mut(slot)
        .ok_or(TransitionError::Tree(format!("slashings[{slot}] missing")))?;
    slashing.safe_add_assign(effective_balance)?;
    let slashing_penalty =
        effective_balance.safe_div(PRESET.min_slashing_penalty_quotient_electra)?;
    decrease_balance(state, slashed_index, slashing_penalty)?;

    let proposer_index = get_beacon_proposer_index(state)?;
    let whistleblower_index = whistleblower_index.unwrap_or(proposer_index);
    let whistleblower_reward =
        effective_balance.safe_div(PRESET.whistleblower_reward_quotient_electra)?;
    let proposer_reward = whistleblower_reward
        .safe_mul(PROPOSER_WEIGHT)?
        .safe_div(WEIGHT_DENOMINATOR)?;
    increase_balance(state, proposer_index, proposer_reward)?;
    increase_balance(
        state,
        whistleblower_index,
        whistleblower_reward.safe_sub(proposer_reward)?,
    )?;
    Ok(())
}

/// Spec electra `compute_exit_epoch_and_update_churn`.
pub fn compute_exit_epoch_and_update_churn(
    state: &mut BeaconState,
    config: &ChainConfig,
    exit_balance: Gwei,
) -> Result<Epoch> {
    let mut earliest_exit_epoch = state
        .earliest_exit_epoch
        .max(compute_activation_exit_epoch(get_current_epoch(state))?);
    let per_epoch_churn = get_activation_exit_churn_limit(state, config)?;
    let mut exit_balance_to_consume = if state.earliest_exit_epoch < earliest_exit_epoch {
        per_epoch_churn
    } else {
        state.exit_balance_to_consume
    };
    if exit_balance > exit_balance_to_consume {
        let balance_to_process = exit_balance.safe_sub(exit_balance_to_consume)?;
        let additional_epochs = balance_to_process
            .safe_sub(1)?
            .safe_div(per_epoch_churn)?
            .safe_add(1)?;
        earliest_exit_epoch.safe_add_assign(additional_epochs)?;
        exit_balance_to_consume.safe_add_assign(additional_epochs.safe_mul(per_epoch_churn)?)?;
    }
    state.exit_balance_to_consume = exit_balance_to_consume.safe_sub(exit_balance)?;
    state.earliest_exit_epoch = earliest_exit_epoch;
    Ok(state.earliest_exit_epoch)
}

/// Spec electra `compute_consolidation_epoch_and_update_churn`.
pub fn compute_consolidation_epoch_and_update_churn(
    state: &mut BeaconState,
    config: &ChainConfig,
    consolidation_balance: Gwei,
) -> Result<Epoch> {
    let mut earliest_consolidation_epoch = state
        .earliest_consolidation_epoch
        .max(compute_activation_exit_epoch(get_current_epoch(state))?);
    let per_epoch_consolidation_churn = get_consolidation_churn_limit(state, config)?;
    let mut consolidation_balance_to_consume =
        if state.earliest_consolidation_epoch < earliest_consolidation_epoch {
            per_epoch_consolidation_churn
        } else {
            state.consolidation_balance_to_consume
        };
    if consolidation_balance > consolidation_balance_to_consume {
        let balance_to_process =
            consolidation_balance.safe_sub(consolidation_balance_to_consume)?;
        let additional_epochs = balance_to_process
            .safe_sub(1)?
            .safe_div(per_epoch_consolidation_churn)?
            .safe_add(1)?;
        earliest_consolidation_epoch.safe_add_assign(additional_epochs)?;
        consolidation_balance_to_consume
            .safe_add_assign(additional_epochs.safe_mul(per_epoch_consolidation_churn)?)?;
    }
    state.consolidation_balance_to_consume =
        consolidation_balance_to_consume.safe_sub(consolidation_balance)?;
    state.earliest_consolidation_epoch = earliest_consolidation_epoch;
    Ok(state.earliest_consolidation_epoch)
}

/// Spec electra `switch_to_compounding_validator`.
pub fn switch_to_compounding_validator(
    state: &mut BeaconState,
    index: ValidatorIndex,
) -> Result<()> {
    let validator = get_validator_mut(state, index)?;
    if let Some(prefix) = validator.withdrawal_credentials.0.first_mut() {
        *prefix = COMPOUNDING_WITHDRAWAL_PREFIX;
    }
    queue_excess_active_balance(state, index)
}

/// Spec electra `queue_excess_active_balance`.
pub fn queue_excess_active_balance(state: &mut BeaconState, index: ValidatorIndex) -> Result<()> {
    let balance = get_balance(state, index)?;
    if balance > PRESET.min_activation_balance {
        let excess_balance = balance.safe_sub(PRESET.min_activation_balance)?;
        let slot = state
            .balances
            .get_mut(to_usize(index)?)
            .ok_or(TransitionError::UnknownValidator(index))?;
        *slot = PRESET.min_activation_balance;
        let validator = get_validator(state, index)?;
        let deposit = PendingDeposit {
            pubkey: validator.pubkey,
            withdrawal_credentials: validator.withdrawal_credentials,
            amount: excess_balance,
            signature: BLSSignature::from(G2_POINT_AT_INFINITY),
            slot: GENESIS_SLOT,
        };
        state.pending_deposits.push(deposit)?;
    }
    Ok(())
}

/// Spec electra `get_validator_from_deposit`.
pub fn get_validator_from_deposit(
    pubkey: BLSPubkey,
    withdrawal_credentials: Bytes32,
    amount: Gwei,
) -> Validator {
    let mut validator = Validator {
        pubkey,
        withdrawal_credentials,
        effective_balance: 0,
        slashed: false,
        activation_eligibility_epoch: FAR_FUTURE_EPOCH,
        activation_epoch: FAR_FUTURE_EPOCH,
        exit_epoch: FAR_FUTURE_EPOCH,
        withdrawable_epoch: FAR_FUTURE_EPOCH,
    };
    let max_effective_balance = get_max_effective_balance(&validator);
    let rounded = amount.saturating_sub(
        amount
            .checked_rem(PRESET.effective_balance_increment)
            .unwrap_or(0),
    );
    validator.effective_balance = rounded.min(max_effective_balance);
    validator
}

/// Spec electra `add_validator_to_registry` (appends: `get_index_for_new_validator` is the
/// registry length).
pub fn add_validator_to_registry(
    state: &mut BeaconState,
    pubkey: BLSPubkey,
    withdrawal_credentials: Bytes32,
    amount: Gwei,
) -> Result<()> {
    let validator = get_validator_from_deposit(pubkey, withdrawal_credentials, amount);
    state.validators.push(validator)?;
    state.balances.push(amount)?;
    state.previous_epoch_participation.push(0)?;
    state.current_epoch_participation.push(0)?;
    state.inactivity_scores.push(0)?;
    Ok(())
}

/// Spec electra `is_valid_deposit_signature` (fork-agnostic domain: `GENESIS_FORK_VERSION`
/// and a zero genesis validators root).
pub fn is_valid_deposit_signature(
    config: &ChainConfig,
    pubkey: &BLSPubkey,
    withdrawal_credentials: &Bytes32,
    amount: Gwei,
    signature: &BLSSignature,
) -> bool {
    let deposit_message = DepositMessage {
        pubkey: *pubkey,
        withdrawal_credentials: *withdrawal_credentials,
        amount,
    };
    let domain = compute_domain(DOMAIN_DEPOSIT, config.genesis_fork_version, Root::ZERO);
    let signing_root = compute_signing_root(&deposit_message, domain);
    let Ok(pk) = bls::PublicKey::from_bytes(pubkey.as_slice()) else {
        return false;
    };
    let Ok(sig) = bls::Signature::from_bytes(signature.as_slice()) else {
        return false;
    };
    bls::verify(&pk, signing_root.as_slice(), &sig)
}

/// Spec electra `apply_pending_deposit`.
pub fn apply_pending_deposit(
    state: &mut BeaconState,
    config: &ChainConfig,
    deposit: &PendingDeposit,
) -> Result<()> {
    match find_validator_index_by_pubkey(state, &deposit.pubkey) {
        None => {
            if is_valid_deposit_signature(
                config,
                &deposit.pubkey,
                &deposit.withdrawal_credentials,
                deposit.amount,
                &deposit.signature,
            ) {
                add_validator_to_registry(
                    state,
                    deposit.pubkey,
                    deposit.withdrawal_credentials,
                    deposit.amount,
                )?;
            }
            Ok(())
        }
        Some(index) => increase_balance(state, index, deposit.amount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::shuffling::compute_shuffled_index;

    #[test]
    fn swap_or_not_matches_compute_shuffled_index() {
        for (count, seed_byte) in [
            (1u64, 1u8),
            (2, 2),
            (7, 3),
            (300, 4),
            (1000, 5),
            (70_000, 6),
        ] {
            let seed = [seed_byte; 32];
            let s = SwapOrNot::new(&seed, count).unwrap();
            let all: Vec<u64> = (0..count.min(2000)).collect();
            let batch = s.shuffled_indices(&all).unwrap();
            for (&i, &b) in all.iter().zip(&batch) {
                let expected =
                    compute_shuffled_index(i, count, &seed, PRESET.shuffle_round_count).unwrap();
                assert_eq!(
                    s.shuffled_index(i).unwrap(),
                    expected,
                    "count {count} index {i}"
                );
                assert_eq!(b, expected, "batch: count {count} index {i}");
            }
        }
        assert!(SwapOrNot::new(&[0; 32], 0).is_err());
        assert!(SwapOrNot::new(&[0; 32], 5)
            .unwrap()
            .shuffled_index(5)
            .is_err());
    }
}
