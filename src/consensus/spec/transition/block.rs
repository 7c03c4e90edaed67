//! Block processing (Electra and Fulu): `state_transition`, `process_block` and its steps.
//!
//! - this file: `state_transition`, `verify_block_signature`, `process_block`,
//!   `process_block_header`, `process_randao`, `process_eth1_data`, `process_sync_aggregate`;
//! - [`withdrawals`]: `process_withdrawals` and `get_expected_withdrawals`' parts;
//! - [`execution_payload`]: `process_execution_payload` through [`ExecutionEngine`];
//! - [`operations`]: `process_operations` and the beacon operations;
//! - [`requests`]: the execution-layer requests (deposits, withdrawals, consolidations).
//!
//! Signatures: every spec function that checks a signature takes `verify: Option<&PubkeyCache>`
//! (`None` skips the check, as `bls_active = False` does in the spec's tests). `process_block`
//! and `state_transition` take a [`VerifySignatures`] mode; in `Batch` mode the block's
//! signatures are checked up front in one multi-pairing (see [`super::signatures`]) and the
//! steps then run with `None`. Structural checks (e.g. a non-empty attester set) always run.

use super::error::TransitionError;
use super::helpers::*;
use super::signatures::*;
use super::*;
use crate::consensus::arith::{to_usize, SafeArith};
use crate::consensus::block_invalid::BlockHeaderInvalid;
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::execution::ExecutionEngine;
use crate::consensus::primitives::*;
use crate::consensus::pubkey_cache::PubkeyCache;
use ethereum_hashing::hash_fixed;
use tree_hash::TreeHash;

pub mod execution_payload;
pub mod operations;
pub mod requests;
pub mod withdrawals;

pub use execution_payload::*;
pub use operations::*;
pub use requests::*;
pub use withdrawals::*;

type Result<T> = std::result::Result<T, TransitionError>;

/// How block processing treats BLS signatures.
#[derive(Debug, Clone, Copy)]
pub enum VerifySignatures<'a> {
    /// Each signature where the spec checks it, one pairing check each.
    Individually(&'a PubkeyCache),
    /// All of the block's signatures after the header checks, in one batch; on failure one by
    /// one, to name the bad signature.
    Batch(&'a PubkeyCache),
    /// None (a block whose signatures were verified already, or spec tests with BLS off).
    No,
}

/// Puts the position of an operation in its list into an error its processing returned (the
/// per-operation functions report position 0).
pub(crate) fn at_index(error: TransitionError, index: usize) -> TransitionError {
    use TransitionError as E;
    match error {
        E::InvalidSignature(kind) => E::InvalidSignature(kind.at_index(index)),
        E::ProposerSlashingInvalid { reason, .. } => E::ProposerSlashingInvalid { index, reason },
        E::AttesterSlashingInvalid { reason, .. } => E::AttesterSlashingInvalid { index, reason },
        E::AttestationInvalid { reason, .. } => E::AttestationInvalid { index, reason },
        E::DepositInvalid { reason, .. } => E::DepositInvalid { index, reason },
        E::VoluntaryExitInvalid { reason, .. } => E::VoluntaryExitInvalid { index, reason },
        E::BlsToExecutionChangeInvalid { reason, .. } => {
            E::BlsToExecutionChangeInvalid { index, reason }
        }
        other => other,
    }
}

/// Spec phase0 `state_transition`: advance `state` to the block's slot, check the proposer's
/// signature (with `validate_result`), process the block, check the state root (with
/// `validate_result`). On `Err` the state is left part-way: callers keep a copy (cheap: the big
/// fields are persistent trees).
pub fn state_transition(
    state: &mut BeaconState,
    signed_block: &SignedBeaconBlock,
    validate_result: bool,
    config: &ChainConfig,
    engine: &dyn ExecutionEngine,
    verify: VerifySignatures<'_>,
) -> Result<()> {
    super::slot::process_slots(state, config, signed_block.message.slot)?;
    process_signed_block(state, signed_block, validate_result, config, engine, verify)
}

/// `state_transition` after `process_slots`, for a state already at the block's slot (e.g.
/// upgraded to a new fork at its first slot by the caller): the proposer's signature and the
/// state root (with `validate_result`) around `process_block`.
pub fn process_signed_block(
    state: &mut BeaconState,
    signed_block: &SignedBeaconBlock,
    validate_result: bool,
    config: &ChainConfig,
    engine: &dyn ExecutionEngine,
    verify: VerifySignatures<'_>,
) -> Result<()> {
    let block = &signed_block.message;
    let proposal = validate_result.then_some(&signed_block.signature);
    process_block_inner(state, block, proposal, config, engine, verify)?;
    if validate_result {
        state.apply_pending_updates()?;
        let computed = state.tree_hash_root();
        if block.state_root != computed {
            return Err(TransitionError::StateRootMismatch {
                block: block.state_root,
                computed,
            });
        }
    }
    Ok(())
}

/// Spec phase0 `verify_block_signature`.
pub fn verify_block_signature(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    signed_block: &SignedBeaconBlock,
) -> Result<bool> {
    match block_proposal_signature(
        state,
        pubkeys,
        &signed_block.message,
        &signed_block.signature,
    ) {
        Ok(check) => Ok(check.is_valid()),
        Err(TransitionError::InvalidSignature(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Spec fulu (= electra) `process_block`.
pub fn process_block(
    state: &mut BeaconState,
    block: &BeaconBlock,
    config: &ChainConfig,
    engine: &dyn ExecutionEngine,
    verify: VerifySignatures<'_>,
) -> Result<()> {
    process_block_inner(state, block, None, config, engine, verify)
}

/// `process_block`, plus the proposer's signature over the block when `proposal` is given
/// (checked first in `Individually` mode, as `state_transition` does; in the batch otherwise).
fn process_block_inner(
    state: &mut BeaconState,
    block: &BeaconBlock,
    proposal: Option<&BLSSignature>,
    config: &ChainConfig,
    engine: &dyn ExecutionEngine,
    verify: VerifySignatures<'_>,
) -> Result<()> {
    let keys = match verify {
        VerifySignatures::Individually(pubkeys) => {
            if let Some(signature) = proposal {
                block_proposal_signature(state, pubkeys, block, signature)?.verify()?;
            }
            process_block_header(state, block)?;
            Some(pubkeys)
        }
        VerifySignatures::Batch(pubkeys) => {
            process_block_header(state, block)?;
            let checks = block_signature_checks(state, config, pubkeys, block, proposal)?;
            verify_signature_checks(&checks)?;
            None
        }
        VerifySignatures::No => {
            process_block_header(state, block)?;
            None
        }
    };
    let body = &block.body;
    process_withdrawals(state, &body.execution_payload)?;
    process_execution_payload(state, body, config, engine)?;
    process_randao(state, body, keys)?;
    process_eth1_data(state, body)?;
    process_operations(state, body, config, keys)?;
    process_sync_aggregate(state, &body.sync_aggregate, keys)?;
    Ok(())
}

/// The asserts of phase0 `process_block_header`, against the state before the block.
pub fn check_block_header(state: &BeaconState, block: &BeaconBlock) -> Result<()> {
    if block.slot != state.slot {
        return Err(BlockHeaderInvalid::SlotMismatch {
            block_slot: block.slot,
            state_slot: state.slot,
        }
        .into());
    }
    if block.slot <= state.latest_block_header.slot {
        return Err(BlockHeaderInvalid::NotNewerThanLatest {
            block_slot: block.slot,
            latest_slot: state.latest_block_header.slot,
        }
        .into());
    }
    let expected = get_beacon_proposer_index(state)?;
    if block.proposer_index != expected {
        return Err(BlockHeaderInvalid::ProposerIndexMismatch {
            block: block.proposer_index,
            expected,
        }
        .into());
    }
    let parent = state.latest_block_header.tree_hash_root();
    if block.parent_root != parent {
        return Err(BlockHeaderInvalid::ParentRootMismatch {
            block: block.parent_root,
            expected: parent,
        }
        .into());
    }
    // The spec asserts this after caching the header; the header does not change validators.
    if get_validator(state, block.proposer_index)?.slashed {
        return Err(BlockHeaderInvalid::ProposerSlashed(block.proposer_index).into());
    }
    Ok(())
}

/// Spec phase0 `process_block_header`.
pub fn process_block_header(state: &mut BeaconState, block: &BeaconBlock) -> Result<()> {
    check_block_header(state, block)?;
    state.latest_block_header = BeaconBlockHeader {
        slot: block.slot,
        proposer_index: block.proposer_index,
        parent_root: block.parent_root,
        // Overwritten in the next `process_slot` call.
        state_root: Root::ZERO,
        body_root: block.body.tree_hash_root(),
    };
    Ok(())
}

/// Spec phase0 `process_randao`.
pub fn process_randao(
    state: &mut BeaconState,
    body: &BeaconBlockBody,
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    let epoch = get_current_epoch(state);
    if let Some(pubkeys) = verify {
        randao_signature(state, pubkeys, body)?.verify()?;
    }
    let mut mix = get_randao_mix(state, epoch)?;
    let reveal_hash = hash_fixed(body.randao_reveal.as_slice());
    for (m, h) in mix.0.iter_mut().zip(reveal_hash.iter()) {
        *m ^= *h;
    }
    let i = to_usize(epoch.safe_rem(PRESET.epochs_per_historical_vector)?)?;
    let slot = state
        .randao_mixes
        .get_mut(i)
        .ok_or(TransitionError::Tree(format!("randao_mixes[{i}] missing")))?;
    *slot = mix;
    Ok(())
}

/// Spec phase0 `process_eth1_data`.
pub fn process_eth1_data(state: &mut BeaconState, body: &BeaconBlockBody) -> Result<()> {
    state.eth1_data_votes.push(body.eth1_data.clone())?;
    let votes = state
        .eth1_data_votes
        .iter()
        .filter(|vote| **vote == body.eth1_data)
        .count();
    let period_slots = PRESET
        .epochs_per_eth1_voting_period
        .safe_mul(PRESET.slots_per_epoch)?;
    if u64::try_from(votes)
        .map_err(|_| crate::consensus::arith::ArithError::Overflow)?
        .safe_mul(2)?
        > period_slots
    {
        state.eth1_data = body.eth1_data.clone();
    }
    Ok(())
}

/// Spec altair `process_sync_aggregate` (1.7's form: the participants' key is the same sum
/// whichever way the spec forms it).
pub fn process_sync_aggregate(
    state: &mut BeaconState,
    sync_aggregate: &SyncAggregate,
    verify: Option<&PubkeyCache>,
) -> Result<()> {
    let committee_indices = get_sync_committee_indices(state)?;
    if let Some(pubkeys) = verify {
        if let Some(check) =
            sync_aggregate_signature(state, pubkeys, sync_aggregate, &committee_indices)?
        {
            check.verify()?;
        }
    }

    // Compute participant and proposer rewards.
    let total_active_increments =
        get_total_active_balance(state)?.safe_div(PRESET.effective_balance_increment)?;
    let total_base_rewards =
        get_base_reward_per_increment(state)?.safe_mul(total_active_increments)?;
    let max_participant_rewards = total_base_rewards
        .safe_mul(SYNC_REWARD_WEIGHT)?
        .safe_div(WEIGHT_DENOMINATOR)?
        .safe_div(PRESET.slots_per_epoch)?;
    let participant_reward = max_participant_rewards.safe_div(PRESET.sync_committee_size)?;
    let proposer_reward = participant_reward
        .safe_mul(PROPOSER_WEIGHT)?
        .safe_div(WEIGHT_DENOMINATOR.safe_sub(PROPOSER_WEIGHT)?)?;

    // Apply participant and proposer rewards.
    let proposer_index = get_beacon_proposer_index(state)?;
    for (participant_index, participation_bit) in committee_indices
        .iter()
        .zip(sync_aggregate.sync_committee_bits.iter())
    {
        if participation_bit {
            increase_balance(state, *participant_index, participant_reward)?;
            increase_balance(state, proposer_index, proposer_reward)?;
        } else {
            decrease_balance(state, *participant_index, participant_reward)?;
        }
    }
    Ok(())
}
