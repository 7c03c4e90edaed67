//! `process_operations` and the beacon-chain operations: proposer and attester slashings,
//! attestations, (Electra) eth1 deposits, voluntary exits, BLS-to-execution changes.
//!
//! Each operation has a `check_*` function with the asserts that read the state only (gossip
//! validation reuses them) and a `process_*` function that checks, verifies the signature when
//! asked, and applies.

use super::super::caches::ValidatorColumns;
use super::super::error::TransitionError;
use super::super::helpers::*;
use super::super::signatures::*;
use super::super::single_pass::read_packed_list;
use super::super::*;
use super::at_index;
use super::requests::{
    process_consolidation_request, process_deposit_request, process_withdrawal_request,
};
use crate::consensus::arith::{to_u64, to_usize, ArithError, SafeArith};
use crate::consensus::block_invalid::{
    AttestationInvalid, AttesterSlashingInvalid, BlsToExecutionChangeInvalid, DepositInvalid,
    IndexedAttestationInvalid, ProposerSlashingInvalid, VoluntaryExitInvalid,
};
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::primitives::*;
use crate::consensus::pubkey_cache::PubkeyCache;
use tree_hash::TreeHash;

type Result<T> = std::result::Result<T, TransitionError>;

/// Spec fulu `process_operations` (Fulu: no eth1 deposits at all) and electra
/// `process_operations` (eth1 deposits until `deposit_requests_start_index`), by the state's
/// fork.
pub fn process_operations(
    state: &mut BeaconState,
    body: &BeaconBlockBody,
    config: &ChainConfig,
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    check_deposit_count(state, body)?;

    for (i, op) in body.proposer_slashings.iter().enumerate() {
        process_proposer_slashing(state, config, op, verify).map_err(|e| at_index(e, i))?;
    }
    for (i, op) in body.attester_slashings.iter().enumerate() {
        process_attester_slashing(state, config, op, verify).map_err(|e| at_index(e, i))?;
    }
    process_attestations(state, &body.attestations, verify)?;
    for (i, op) in body.deposits.iter().enumerate() {
        process_deposit(state, config, op).map_err(|e| at_index(e, i))?;
    }
    for (i, op) in body.voluntary_exits.iter().enumerate() {
        process_voluntary_exit(state, config, op, verify).map_err(|e| at_index(e, i))?;
    }
    for (i, op) in body.bls_to_execution_changes.iter().enumerate() {
        process_bls_to_execution_change(state, config, op, verify).map_err(|e| at_index(e, i))?;
    }
    for op in body.execution_requests.deposits.iter() {
        process_deposit_request(state, op)?;
    }
    for op in body.execution_requests.withdrawals.iter() {
        process_withdrawal_request(state, config, op)?;
    }
    for op in body.execution_requests.consolidations.iter() {
        process_consolidation_request(state, config, op)?;
    }
    Ok(())
}

/// The deposit-count assert of `process_operations`. Electra: the block must carry every
/// pending eth1 deposit up to `MAX_DEPOSITS`, the eth1 bridge ending where deposit requests
/// start (EIP-6110). Fulu: none.
pub fn check_deposit_count(state: &BeaconState, body: &BeaconBlockBody) -> Result<()> {
    let got = body.deposits.len();
    let expected = match state.fork_name() {
        ForkName::Electra => {
            let eth1_deposit_index_limit = state
                .eth1_data
                .deposit_count
                .min(state.deposit_requests_start_index);
            if state.eth1_deposit_index < eth1_deposit_index_limit {
                PRESET
                    .max_deposits
                    .min(eth1_deposit_index_limit.safe_sub(state.eth1_deposit_index)?)
            } else {
                0
            }
        }
        ForkName::Fulu => 0,
    };
    if to_u64(got)? != expected {
        return Err(TransitionError::DepositCountMismatch { expected, got });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Proposer slashing
// ---------------------------------------------------------------------------------------------

fn proposer_slashing_invalid(reason: ProposerSlashingInvalid) -> TransitionError {
    TransitionError::ProposerSlashingInvalid { index: 0, reason }
}

/// The state-reading asserts of phase0 `process_proposer_slashing`.
pub fn check_proposer_slashing(
    state: &BeaconState,
    proposer_slashing: &ProposerSlashing,
) -> Result<()> {
    let header_1 = &proposer_slashing.signed_header_1.message;
    let header_2 = &proposer_slashing.signed_header_2.message;
    if header_1.slot != header_2.slot {
        return Err(proposer_slashing_invalid(
            ProposerSlashingInvalid::SlotMismatch(header_1.slot, header_2.slot),
        ));
    }
    if header_1.proposer_index != header_2.proposer_index {
        return Err(proposer_slashing_invalid(
            ProposerSlashingInvalid::ProposerIndexMismatch(
                header_1.proposer_index,
                header_2.proposer_index,
            ),
        ));
    }
    if header_1 == header_2 {
        return Err(proposer_slashing_invalid(
            ProposerSlashingInvalid::HeadersEqual,
        ));
    }
    let proposer = get_validator(state, header_1.proposer_index)?;
    if !is_slashable_validator(proposer, get_current_epoch(state)) {
        return Err(proposer_slashing_invalid(
            ProposerSlashingInvalid::NotSlashable(header_1.proposer_index),
        ));
    }
    Ok(())
}

/// Spec phase0 `process_proposer_slashing`.
pub fn process_proposer_slashing(
    state: &mut BeaconState,
    config: &ChainConfig,
    proposer_slashing: &ProposerSlashing,
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    check_proposer_slashing(state, proposer_slashing)?;
    if let Some(pubkeys) = verify {
        for check in proposer_slashing_signatures(state, pubkeys, proposer_slashing, 0)? {
            check.verify()?;
        }
    }
    slash_validator(
        state,
        config,
        proposer_slashing.signed_header_1.message.proposer_index,
        None,
    )
}

// ---------------------------------------------------------------------------------------------
// Attester slashing
// ---------------------------------------------------------------------------------------------

fn attester_slashing_invalid(reason: AttesterSlashingInvalid) -> TransitionError {
    TransitionError::AttesterSlashingInvalid { index: 0, reason }
}

/// The structural asserts of phase0 `process_attester_slashing` (slashable data, both indexed
/// attestations well-formed, every index in the registry as reading its pubkey requires); the
/// signatures are checked apart.
pub fn check_attester_slashing(
    state: &BeaconState,
    attester_slashing: &AttesterSlashing,
) -> Result<()> {
    let attestation_1 = &attester_slashing.attestation_1;
    let attestation_2 = &attester_slashing.attestation_2;
    if !is_slashable_attestation_data(&attestation_1.data, &attestation_2.data) {
        return Err(attester_slashing_invalid(
            AttesterSlashingInvalid::NotSlashable,
        ));
    }
    check_indexed_attestation(attestation_1)
        .map_err(|r| attester_slashing_invalid(AttesterSlashingInvalid::Attestation1(r)))?;
    check_indexed_attestation(attestation_2)
        .map_err(|r| attester_slashing_invalid(AttesterSlashingInvalid::Attestation2(r)))?;
    // Sorted: the last index is the largest.
    for attestation in [attestation_1, attestation_2] {
        if let Some(&last) = attestation.attesting_indices.last() {
            get_validator(state, last)?;
        }
    }
    Ok(())
}

/// The sorted intersection of two sorted, duplicate-free index lists.
fn sorted_intersection(a: &[ValidatorIndex], b: &[ValidatorIndex]) -> Vec<ValidatorIndex> {
    let mut out = Vec::new();
    let (mut i, mut j) = (a.iter().peekable(), b.iter().peekable());
    while let (Some(&&x), Some(&&y)) = (i.peek(), j.peek()) {
        match x.cmp(&y) {
            std::cmp::Ordering::Less => {
                i.next();
            }
            std::cmp::Ordering::Greater => {
                j.next();
            }
            std::cmp::Ordering::Equal => {
                out.push(x);
                i.next();
                j.next();
            }
        }
    }
    out
}

/// Spec phase0 `process_attester_slashing` (Electra's larger attestations).
pub fn process_attester_slashing(
    state: &mut BeaconState,
    config: &ChainConfig,
    attester_slashing: &AttesterSlashing,
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    check_attester_slashing(state, attester_slashing)?;
    if let Some(pubkeys) = verify {
        for check in attester_slashing_signatures(state, pubkeys, attester_slashing, 0)? {
            check.verify()?;
        }
    }
    let indices = sorted_intersection(
        &attester_slashing.attestation_1.attesting_indices,
        &attester_slashing.attestation_2.attesting_indices,
    );
    let current_epoch = get_current_epoch(state);
    let mut slashed_any = false;
    for index in indices {
        if is_slashable_validator(get_validator(state, index)?, current_epoch) {
            slash_validator(state, config, index, None)?;
            slashed_any = true;
        }
    }
    if !slashed_any {
        return Err(attester_slashing_invalid(
            AttesterSlashingInvalid::NoValidatorSlashed,
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Attestation
// ---------------------------------------------------------------------------------------------

fn attestation_invalid(reason: AttestationInvalid) -> TransitionError {
    TransitionError::AttestationInvalid { index: 0, reason }
}

/// The state-reading asserts of electra `process_attestation` before the participation flags:
/// target epoch, inclusion window, `data.index == 0`, the committees of `committee_bits`
/// each with an attester, and `aggregation_bits` exactly as long as those committees.
pub fn check_attestation(state: &BeaconState, attestation: &Attestation) -> Result<()> {
    let data = &attestation.data;
    let current = get_current_epoch(state);
    if data.target.epoch != get_previous_epoch(state) && data.target.epoch != current {
        return Err(attestation_invalid(
            AttestationInvalid::TargetEpochOutOfRange {
                target: data.target.epoch,
                current,
            },
        ));
    }
    if data.target.epoch != compute_epoch_at_slot(data.slot) {
        return Err(attestation_invalid(
            AttestationInvalid::TargetEpochSlotMismatch {
                target: data.target.epoch,
                slot: data.slot,
            },
        ));
    }
    if data.slot.safe_add(PRESET.min_attestation_inclusion_delay)? > state.slot {
        return Err(attestation_invalid(AttestationInvalid::IncludedTooEarly {
            slot: data.slot,
            state_slot: state.slot,
        }));
    }
    if data.index != 0 {
        return Err(attestation_invalid(AttestationInvalid::DataIndexNonZero(
            data.index,
        )));
    }
    let committees = get_epoch_committees(state, data.target.epoch)?;
    let committee_count = committee_count_per_slot(to_u64(committees.shuffled.len())?);
    let bits = &attestation.aggregation_bits;
    let mut committee_offset: usize = 0;
    for committee_index in get_committee_indices(&attestation.committee_bits) {
        if committee_index >= committee_count {
            return Err(attestation_invalid(
                AttestationInvalid::CommitteeIndexOutOfRange {
                    index: committee_index,
                    count: committee_count,
                },
            ));
        }
        let committee = beacon_committee_in(&committees, data.slot, committee_index)?;
        let end = committee_offset.safe_add(committee.len())?;
        if end > bits.len() {
            // The spec's `aggregation_bits[committee_offset + i]` is out of range.
            return Err(attestation_invalid(
                AttestationInvalid::AggregationBitsLength {
                    bits: bits.len(),
                    expected: end,
                },
            ));
        }
        let any_attester = (committee_offset..end).any(|i| bits.get(i).unwrap_or(false));
        if !any_attester {
            return Err(attestation_invalid(
                AttestationInvalid::NoAttestersInCommittee(committee_index),
            ));
        }
        committee_offset = end;
    }
    if bits.len() != committee_offset {
        return Err(attestation_invalid(
            AttestationInvalid::AggregationBitsLength {
                bits: bits.len(),
                expected: committee_offset,
            },
        ));
    }
    Ok(())
}

/// What an attestation that passed `process_attestation`'s checks changes.
struct AttestationEffect {
    /// Targets the current epoch (else the previous one).
    is_current: bool,
    attesting_indices: Vec<ValidatorIndex>,
    participation_flag_indices: Vec<usize>,
}

/// The checks of spec electra `process_attestation` (signature with `verify`), up to the
/// participation-flag update.
fn check_attestation_effect(
    state: &BeaconState,
    attestation: &Attestation,
    verify: Option<&PubkeyCache>,
) -> Result<AttestationEffect> {
    check_attestation(state, attestation)?;
    let data = &attestation.data;

    // Participation flag indices.
    let inclusion_delay = state.slot.safe_sub(data.slot)?;
    let participation_flag_indices =
        match get_attestation_participation_flag_indices(state, data, inclusion_delay) {
            Err(TransitionError::AttestationSourceMismatch) => {
                return Err(attestation_invalid(AttestationInvalid::SourceMismatch))
            }
            other => other?,
        };

    // Verify signature (and, always, that the indexed attestation has attesters).
    let attesting_indices = get_attesting_indices(state, attestation)?;
    if attesting_indices.is_empty() {
        return Err(attestation_invalid(AttestationInvalid::Indexed(
            IndexedAttestationInvalid::EmptyIndices,
        )));
    }
    if let Some(pubkeys) = verify {
        attestation_data_signature(
            state,
            pubkeys,
            attesting_indices.iter().copied(),
            data,
            &attestation.signature,
            crate::consensus::block_invalid::SignatureKind::Attestation { index: 0 },
        )?
        .verify()?;
    }
    Ok(AttestationEffect {
        is_current: data.target.epoch == get_current_epoch(state),
        attesting_indices,
        participation_flag_indices,
    })
}

/// `validators[index].effective_balance`, from `columns` when they cover it.
fn attester_effective_balance(
    validators: &RegistryList<Validator>,
    columns: Option<&ValidatorColumns>,
    index: ValidatorIndex,
) -> Result<Gwei> {
    let i = to_usize(index)?;
    match columns.and_then(|c| c.effective_balance(i)) {
        Some(effective_balance) => Ok(effective_balance),
        None => Ok(validators
            .get(i)
            .ok_or(TransitionError::UnknownValidator(index))?
            .effective_balance),
    }
}

/// Sets `flag_indices` in `flags` and returns the proposer reward numerator they earn.
fn add_participation_flags(
    flags: &mut ParticipationFlags,
    flag_indices: &[usize],
    base_reward: Gwei,
) -> Result<u64> {
    let mut numerator: u64 = 0;
    for (flag_index, weight) in PARTICIPATION_FLAG_WEIGHTS.iter().enumerate() {
        if flag_indices.contains(&flag_index) && !has_flag(*flags, flag_index) {
            *flags = add_flag(*flags, flag_index);
            numerator.safe_add_assign(base_reward.safe_mul(*weight)?)?;
        }
    }
    Ok(numerator)
}

/// The proposer-reward part of `process_attestation`.
fn reward_attestation_proposer(state: &mut BeaconState, numerator: u64) -> Result<()> {
    let proposer_reward_denominator = WEIGHT_DENOMINATOR
        .safe_sub(PROPOSER_WEIGHT)?
        .safe_mul(WEIGHT_DENOMINATOR)?
        .safe_div(PROPOSER_WEIGHT)?;
    let proposer_reward = numerator.safe_div(proposer_reward_denominator)?;
    let proposer_index = get_beacon_proposer_index(state)?;
    increase_balance(state, proposer_index, proposer_reward)
}

/// Spec electra `process_attestation`.
pub fn process_attestation(
    state: &mut BeaconState,
    attestation: &Attestation,
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    let effect = check_attestation_effect(state, attestation, verify)?;

    // Update epoch participation flags.
    let base_reward_per_increment = get_base_reward_per_increment(state)?;
    // Flat effective balances when the epoch transition left them (else read from the tree).
    let columns = state.caches.effective_balances(get_current_epoch(state));
    let BeaconState {
        validators,
        current_epoch_participation,
        previous_epoch_participation,
        ..
    } = state;
    let epoch_participation = if effect.is_current {
        current_epoch_participation
    } else {
        previous_epoch_participation
    };
    let mut proposer_reward_numerator: u64 = 0;
    for &index in &effect.attesting_indices {
        let effective_balance = attester_effective_balance(validators, columns.as_deref(), index)?;
        let base_reward = effective_balance
            .safe_div(PRESET.effective_balance_increment)?
            .safe_mul(base_reward_per_increment)?;
        let flags = epoch_participation
            .get_mut(to_usize(index)?)
            .ok_or(TransitionError::UnknownValidator(index))?;
        proposer_reward_numerator.safe_add_assign(add_participation_flags(
            flags,
            &effect.participation_flag_indices,
            base_reward,
        )?)?;
    }

    // Reward proposer.
    reward_attestation_proposer(state, proposer_reward_numerator)
}

/// A participation list copied flat, and the positions changed in the copy.
struct FlatParticipation {
    flags: Vec<ParticipationFlags>,
    changed: Vec<usize>,
}

impl FlatParticipation {
    fn read<N: typenum::Unsigned, U: milhouse::UpdateMap<ParticipationFlags>>(
        list: &mut milhouse::List<ParticipationFlags, N, U>,
    ) -> Result<Self> {
        list.apply_updates()?;
        Ok(FlatParticipation {
            flags: read_packed_list(list)?,
            changed: Vec::new(),
        })
    }

    /// Writes the changed entries into `list` as one bulk update (no tree walk per entry).
    fn write<N: typenum::Unsigned, U: milhouse::UpdateMap<ParticipationFlags>>(
        self,
        list: &mut milhouse::List<ParticipationFlags, N, U>,
    ) -> Result<()> {
        if self.changed.is_empty() {
            return Ok(());
        }
        let mut updates = U::default();
        for i in self.changed {
            let value = *self
                .flags
                .get(i)
                .ok_or(TransitionError::UnknownValidator(to_u64(i)?))?;
            updates.insert(i, value);
        }
        list.apply_updates()?;
        list.bulk_update(updates)?;
        Ok(())
    }
}

/// `process_attestation` for each of a block's `attestations` in order (errors name the
/// attestation's position), with the participation flags updated on flat copies of the lists
/// and written back at the end in one bulk update: the same result, without a walk down the
/// tree per attester (a mainnet block has ~70,000). Nothing else in `process_operations` reads
/// or writes participation flags.
pub fn process_attestations(
    state: &mut BeaconState,
    attestations: &[Attestation],
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    if attestations.is_empty() {
        return Ok(());
    }
    let mut current: Option<FlatParticipation> = None;
    let mut previous: Option<FlatParticipation> = None;
    let base_reward_per_increment = get_base_reward_per_increment(state)?;
    let columns = state.caches.effective_balances(get_current_epoch(state));
    for (position, attestation) in attestations.iter().enumerate() {
        let effect = check_attestation_effect(state, attestation, verify)
            .map_err(|e| at_index(e, position))?;
        let (slot, list) = if effect.is_current {
            (&mut current, &mut state.current_epoch_participation)
        } else {
            (&mut previous, &mut state.previous_epoch_participation)
        };
        let flat = match slot {
            Some(flat) => flat,
            None => slot.insert(FlatParticipation::read(list)?),
        };
        let mut proposer_reward_numerator: u64 = 0;
        for &index in &effect.attesting_indices {
            let effective_balance =
                attester_effective_balance(&state.validators, columns.as_deref(), index)?;
            let base_reward = effective_balance
                .safe_div(PRESET.effective_balance_increment)?
                .safe_mul(base_reward_per_increment)?;
            let i = to_usize(index)?;
            let flags = flat
                .flags
                .get_mut(i)
                .ok_or(TransitionError::UnknownValidator(index))?;
            let before = *flags;
            proposer_reward_numerator.safe_add_assign(add_participation_flags(
                flags,
                &effect.participation_flag_indices,
                base_reward,
            )?)?;
            if *flags != before {
                flat.changed.push(i);
            }
        }
        reward_attestation_proposer(state, proposer_reward_numerator)
            .map_err(|e| at_index(e, position))?;
    }
    if let Some(flat) = current {
        flat.write(&mut state.current_epoch_participation)?;
    }
    if let Some(flat) = previous {
        flat.write(&mut state.previous_epoch_participation)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Deposit (Electra's eth1 bridge)
// ---------------------------------------------------------------------------------------------

/// The Merkle-proof assert of phase0 `process_deposit`.
pub fn check_deposit(state: &BeaconState, deposit: &Deposit) -> Result<()> {
    let depth = u64::try_from(DEPOSIT_CONTRACT_TREE_DEPTH)
        .map_err(|_| ArithError::Overflow)?
        .safe_add(1)?;
    if !is_valid_merkle_branch(
        deposit.data.tree_hash_root(),
        &deposit.proof,
        depth,
        state.eth1_deposit_index,
        state.eth1_data.deposit_root,
    ) {
        return Err(TransitionError::DepositInvalid {
            index: 0,
            reason: DepositInvalid::BadMerkleProof {
                deposit_index: state.eth1_deposit_index,
            },
        });
    }
    Ok(())
}

/// Spec electra `process_deposit`.
pub fn process_deposit(
    state: &mut BeaconState,
    config: &ChainConfig,
    deposit: &Deposit,
) -> Result<()> {
    check_deposit(state, deposit)?;
    // Deposits must be processed in order.
    state.eth1_deposit_index.safe_add_assign(1)?;
    apply_deposit(
        state,
        config,
        &deposit.data.pubkey,
        &deposit.data.withdrawal_credentials,
        deposit.data.amount,
        &deposit.data.signature,
    )
}

/// Spec electra `apply_deposit`: a new validator (with a valid proof of possession) joins
/// with zero balance; the amount always goes through the pending deposits queue. An invalid
/// signature on a new pubkey just drops the deposit.
pub fn apply_deposit(
    state: &mut BeaconState,
    config: &ChainConfig,
    pubkey: &BLSPubkey,
    withdrawal_credentials: &Bytes32,
    amount: Gwei,
    signature: &BLSSignature,
) -> Result<()> {
    if find_validator_index_by_pubkey(state, pubkey).is_none() {
        if is_valid_deposit_signature(config, pubkey, withdrawal_credentials, amount, signature) {
            add_validator_to_registry(state, *pubkey, *withdrawal_credentials, 0)?;
        } else {
            return Ok(());
        }
    }
    state.pending_deposits.push(PendingDeposit {
        pubkey: *pubkey,
        withdrawal_credentials: *withdrawal_credentials,
        amount,
        signature: *signature,
        // GENESIS_SLOT distinguishes it from a pending deposit request.
        slot: GENESIS_SLOT,
    })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Voluntary exit
// ---------------------------------------------------------------------------------------------

fn voluntary_exit_invalid(reason: VoluntaryExitInvalid) -> TransitionError {
    TransitionError::VoluntaryExitInvalid { index: 0, reason }
}

/// The state-reading asserts of electra `process_voluntary_exit`.
pub fn check_voluntary_exit(
    state: &BeaconState,
    config: &ChainConfig,
    voluntary_exit: &VoluntaryExit,
) -> Result<()> {
    let index = voluntary_exit.validator_index;
    let validator = get_validator(state, index)?;
    let current_epoch = get_current_epoch(state);
    if !is_active_validator(validator, current_epoch) {
        return Err(voluntary_exit_invalid(VoluntaryExitInvalid::NotActive(
            index,
        )));
    }
    if validator.exit_epoch != FAR_FUTURE_EPOCH {
        return Err(voluntary_exit_invalid(
            VoluntaryExitInvalid::AlreadyExiting {
                validator: index,
                exit_epoch: validator.exit_epoch,
            },
        ));
    }
    if current_epoch < voluntary_exit.epoch {
        return Err(voluntary_exit_invalid(VoluntaryExitInvalid::NotYetValid {
            epoch: voluntary_exit.epoch,
            current: current_epoch,
        }));
    }
    if current_epoch
        < validator
            .activation_epoch
            .safe_add(config.shard_committee_period)?
    {
        return Err(voluntary_exit_invalid(VoluntaryExitInvalid::TooYoung {
            validator: index,
            activation_epoch: validator.activation_epoch,
        }));
    }
    let pending = get_pending_balance_to_withdraw(state, index)?;
    if pending != 0 {
        return Err(voluntary_exit_invalid(
            VoluntaryExitInvalid::PendingWithdrawals {
                validator: index,
                amount: pending,
            },
        ));
    }
    Ok(())
}

/// Spec electra `process_voluntary_exit`.
pub fn process_voluntary_exit(
    state: &mut BeaconState,
    config: &ChainConfig,
    signed_voluntary_exit: &SignedVoluntaryExit,
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    check_voluntary_exit(state, config, &signed_voluntary_exit.message)?;
    if let Some(pubkeys) = verify {
        voluntary_exit_signature(state, config, pubkeys, signed_voluntary_exit, 0)?.verify()?;
    }
    initiate_validator_exit(state, config, signed_voluntary_exit.message.validator_index)
}

// ---------------------------------------------------------------------------------------------
// BLS to execution change
// ---------------------------------------------------------------------------------------------

fn bls_change_invalid(reason: BlsToExecutionChangeInvalid) -> TransitionError {
    TransitionError::BlsToExecutionChangeInvalid { index: 0, reason }
}

/// The state-reading asserts of capella `process_bls_to_execution_change`.
pub fn check_bls_to_execution_change(
    state: &BeaconState,
    address_change: &BLSToExecutionChange,
) -> Result<()> {
    let index = address_change.validator_index;
    let validator = get_validator(state, index)?;
    if validator.withdrawal_credentials.0.first() != Some(&BLS_WITHDRAWAL_PREFIX) {
        return Err(bls_change_invalid(
            BlsToExecutionChangeInvalid::NotBlsCredentials(index),
        ));
    }
    if !bls_pubkey_matches_credentials(
        &address_change.from_bls_pubkey,
        &validator.withdrawal_credentials,
    ) {
        return Err(bls_change_invalid(
            BlsToExecutionChangeInvalid::PubkeyMismatch(index),
        ));
    }
    Ok(())
}

/// Spec capella `process_bls_to_execution_change`.
pub fn process_bls_to_execution_change(
    state: &mut BeaconState,
    config: &ChainConfig,
    signed_address_change: &SignedBLSToExecutionChange,
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    let address_change = &signed_address_change.message;
    check_bls_to_execution_change(state, address_change)?;
    if verify.is_some() {
        bls_to_execution_change_signature(state, config, signed_address_change, 0)?.verify()?;
    }
    let validator = get_validator_mut(state, address_change.validator_index)?;
    let mut credentials = [0u8; 32];
    if let Some((prefix, rest)) = credentials.split_first_mut() {
        *prefix = ETH1_ADDRESS_WITHDRAWAL_PREFIX;
        if let Some(address) = rest.get_mut(11..) {
            address.copy_from_slice(address_change.to_execution_address.as_slice());
        }
    }
    validator.withdrawal_credentials = Bytes32::from(credentials);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sorted_intersection;

    #[test]
    fn intersection_of_sorted_lists() {
        assert_eq!(
            sorted_intersection(&[1, 3, 5, 7], &[0, 3, 4, 7, 9]),
            vec![3, 7]
        );
        assert_eq!(sorted_intersection(&[], &[1]), Vec::<u64>::new());
    }
}
