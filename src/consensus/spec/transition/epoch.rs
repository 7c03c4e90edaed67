//! `process_epoch` and its sub-transitions (Electra and Fulu), in spec order.
//!
//! Each step is a public function with the spec's name, written as the spec writes it: these
//! are the reference path. Loops over the registry use milhouse iterators rather than indexed
//! reads, and read-only passes are separated from the writes they lead to.

use super::error::TransitionError;
use super::helpers::*;
use super::*;
use crate::consensus::arith::{to_u64, to_usize, SafeArith};
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::primitives::*;
use milhouse::{List, Vector};
use std::sync::Arc;
use tree_hash::TreeHash;

type Result<T> = std::result::Result<T, TransitionError>;

/// Rewards and penalties per validator (the spec's `Tuple[Sequence[Gwei], Sequence[Gwei]]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deltas {
    pub rewards: Vec<Gwei>,
    pub penalties: Vec<Gwei>,
}

impl Deltas {
    fn zeroed(len: usize) -> Self {
        Deltas {
            rewards: vec![0; len],
            penalties: vec![0; len],
        }
    }

    fn add_reward(&mut self, index: usize, amount: Gwei) -> Result<()> {
        let slot = self
            .rewards
            .get_mut(index)
            .ok_or(TransitionError::UnknownValidator(index as u64))?;
        slot.safe_add_assign(amount)?;
        Ok(())
    }

    fn add_penalty(&mut self, index: usize, amount: Gwei) -> Result<()> {
        let slot = self
            .penalties
            .get_mut(index)
            .ok_or(TransitionError::UnknownValidator(index as u64))?;
        slot.safe_add_assign(amount)?;
        Ok(())
    }
}

/// Spec fulu `process_epoch` (Electra's, plus `process_proposer_lookahead` on a Fulu state).
pub fn process_epoch(state: &mut BeaconState, config: &ChainConfig) -> Result<()> {
    process_justification_and_finalization(state)?;
    process_inactivity_updates(state, config)?;
    process_rewards_and_penalties(state, config)?;
    process_registry_updates(state, config)?;
    process_slashings(state)?;
    process_eth1_data_reset(state)?;
    process_pending_deposits(state, config)?;
    process_pending_consolidations(state)?;
    process_effective_balance_updates(state)?;
    process_slashings_reset(state)?;
    process_randao_mixes_reset(state)?;
    process_historical_summaries_update(state)?;
    process_participation_flag_updates(state)?;
    process_sync_committee_updates(state)?;
    if state.fork_name() >= ForkName::Fulu {
        process_proposer_lookahead(state)?;
    }
    Ok(())
}

/// A per-validator membership mask of a sorted index list.
fn index_mask(len: usize, indices: &[ValidatorIndex]) -> Result<Vec<bool>> {
    let mut mask = vec![false; len];
    for &index in indices {
        let slot = mask
            .get_mut(to_usize(index)?)
            .ok_or(TransitionError::UnknownValidator(index))?;
        *slot = true;
    }
    Ok(mask)
}

// ---------------------------------------------------------------------------------------------
// Justification and finalization
// ---------------------------------------------------------------------------------------------

/// Spec altair `process_justification_and_finalization`.
pub fn process_justification_and_finalization(state: &mut BeaconState) -> Result<()> {
    if get_current_epoch(state) <= GENESIS_EPOCH.safe_add(1)? {
        return Ok(());
    }
    let previous_indices = get_unslashed_participating_indices(
        state,
        TIMELY_TARGET_FLAG_INDEX,
        get_previous_epoch(state),
    )?;
    let current_indices = get_unslashed_participating_indices(
        state,
        TIMELY_TARGET_FLAG_INDEX,
        get_current_epoch(state),
    )?;
    let total_active_balance = get_total_active_balance(state)?;
    let previous_target_balance = get_total_balance(state, previous_indices)?;
    let current_target_balance = get_total_balance(state, current_indices)?;
    weigh_justification_and_finalization(
        state,
        total_active_balance,
        previous_target_balance,
        current_target_balance,
    )
}

fn justification_bits(state: &BeaconState) -> [bool; JUSTIFICATION_BITS_LENGTH] {
    let mut bits = [false; JUSTIFICATION_BITS_LENGTH];
    for (i, bit) in bits.iter_mut().enumerate() {
        *bit = state.justification_bits.get(i).unwrap_or(false);
    }
    bits
}

/// Spec phase0 `weigh_justification_and_finalization`.
pub fn weigh_justification_and_finalization(
    state: &mut BeaconState,
    total_active_balance: Gwei,
    previous_epoch_target_balance: Gwei,
    current_epoch_target_balance: Gwei,
) -> Result<()> {
    let previous_epoch = get_previous_epoch(state);
    let current_epoch = get_current_epoch(state);
    let old_previous_justified_checkpoint = state.previous_justified_checkpoint.clone();
    let old_current_justified_checkpoint = state.current_justified_checkpoint.clone();

    // Process justifications
    state.previous_justified_checkpoint = state.current_justified_checkpoint.clone();
    let [b0, b1, b2, _] = justification_bits(state);
    let mut bits = [false, b0, b1, b2];
    let threshold = total_active_balance.safe_mul(2)?;
    if previous_epoch_target_balance.safe_mul(3)? >= threshold {
        state.current_justified_checkpoint = Checkpoint {
            epoch: previous_epoch,
            root: get_block_root(state, previous_epoch)?,
        };
        bits[1] = true;
    }
    if current_epoch_target_balance.safe_mul(3)? >= threshold {
        state.current_justified_checkpoint = Checkpoint {
            epoch: current_epoch,
            root: get_block_root(state, current_epoch)?,
        };
        bits[0] = true;
    }
    for (i, bit) in bits.iter().enumerate() {
        state
            .justification_bits
            .set(i, *bit)
            .map_err(|e| TransitionError::Tree(format!("justification_bits: {e:?}")))?;
    }

    // Process finalizations
    let [b0, b1, b2, b3] = bits;
    // The 2nd/3rd/4th most recent epochs are justified, the 2nd using the 4th as source
    if b1 && b2 && b3 && old_previous_justified_checkpoint.epoch.safe_add(3)? == current_epoch {
        state.finalized_checkpoint = old_previous_justified_checkpoint.clone();
    }
    // The 2nd/3rd most recent epochs are justified, the 2nd using the 3rd as source
    if b1 && b2 && old_previous_justified_checkpoint.epoch.safe_add(2)? == current_epoch {
        state.finalized_checkpoint = old_previous_justified_checkpoint;
    }
    // The 1st/2nd/3rd most recent epochs are justified, the 1st using the 3rd as source
    if b0 && b1 && b2 && old_current_justified_checkpoint.epoch.safe_add(2)? == current_epoch {
        state.finalized_checkpoint = old_current_justified_checkpoint.clone();
    }
    // The 1st/2nd most recent epochs are justified, the 1st using the 2nd as source
    if b0 && b1 && old_current_justified_checkpoint.epoch.safe_add(1)? == current_epoch {
        state.finalized_checkpoint = old_current_justified_checkpoint;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Inactivity, rewards and penalties
// ---------------------------------------------------------------------------------------------

/// Spec altair `process_inactivity_updates`.
pub fn process_inactivity_updates(state: &mut BeaconState, config: &ChainConfig) -> Result<()> {
    if get_current_epoch(state) == GENESIS_EPOCH {
        return Ok(());
    }
    let participating = get_unslashed_participating_indices(
        state,
        TIMELY_TARGET_FLAG_INDEX,
        get_previous_epoch(state),
    )?;
    let participating = index_mask(state.validators.len(), &participating)?;
    let in_leak = is_in_inactivity_leak(state)?;
    for index in get_eligible_validator_indices(state) {
        let i = to_usize(index)?;
        let score = state
            .inactivity_scores
            .get_mut(i)
            .ok_or(TransitionError::UnknownValidator(index))?;
        if participating.get(i).copied().unwrap_or(false) {
            *score = score.saturating_sub(1);
        } else {
            score.safe_add_assign(config.inactivity_score_bias)?;
        }
        if !in_leak {
            *score = score.saturating_sub(config.inactivity_score_recovery_rate);
        }
    }
    Ok(())
}

/// Spec altair `get_flag_index_deltas`.
pub fn get_flag_index_deltas(state: &BeaconState, flag_index: usize) -> Result<Deltas> {
    let mut deltas = Deltas::zeroed(state.validators.len());
    let previous_epoch = get_previous_epoch(state);
    let unslashed_participating_indices =
        get_unslashed_participating_indices(state, flag_index, previous_epoch)?;
    let weight = *PARTICIPATION_FLAG_WEIGHTS
        .get(flag_index)
        .ok_or(TransitionError::Arith(
            crate::consensus::arith::ArithError::Overflow,
        ))?;
    let unslashed_participating_balance =
        get_total_balance(state, unslashed_participating_indices.iter().copied())?;
    let unslashed_participating_increments =
        unslashed_participating_balance.safe_div(PRESET.effective_balance_increment)?;
    let active_increments =
        get_total_active_balance(state)?.safe_div(PRESET.effective_balance_increment)?;
    let participating = index_mask(state.validators.len(), &unslashed_participating_indices)?;
    let in_leak = is_in_inactivity_leak(state)?;
    for index in get_eligible_validator_indices(state) {
        let i = to_usize(index)?;
        let base_reward = get_base_reward(state, index)?;
        if participating.get(i).copied().unwrap_or(false) {
            if !in_leak {
                let reward_numerator = base_reward
                    .safe_mul(weight)?
                    .safe_mul(unslashed_participating_increments)?;
                deltas.add_reward(
                    i,
                    reward_numerator.safe_div(active_increments.safe_mul(WEIGHT_DENOMINATOR)?)?,
                )?;
            }
        } else if flag_index != TIMELY_HEAD_FLAG_INDEX {
            deltas.add_penalty(
                i,
                base_reward.safe_mul(weight)?.safe_div(WEIGHT_DENOMINATOR)?,
            )?;
        }
    }
    Ok(deltas)
}

/// Spec bellatrix `get_inactivity_penalty_deltas`.
pub fn get_inactivity_penalty_deltas(state: &BeaconState, config: &ChainConfig) -> Result<Deltas> {
    let mut deltas = Deltas::zeroed(state.validators.len());
    let previous_epoch = get_previous_epoch(state);
    let matching_target_indices =
        get_unslashed_participating_indices(state, TIMELY_TARGET_FLAG_INDEX, previous_epoch)?;
    let matching = index_mask(state.validators.len(), &matching_target_indices)?;
    let penalty_denominator = config
        .inactivity_score_bias
        .safe_mul(PRESET.inactivity_penalty_quotient_bellatrix)?;
    for index in get_eligible_validator_indices(state) {
        let i = to_usize(index)?;
        if !matching.get(i).copied().unwrap_or(false) {
            let score = state
                .inactivity_scores
                .get(i)
                .copied()
                .ok_or(TransitionError::UnknownValidator(index))?;
            let penalty_numerator = get_validator(state, index)?
                .effective_balance
                .safe_mul(score)?;
            deltas.add_penalty(i, penalty_numerator.safe_div(penalty_denominator)?)?;
        }
    }
    Ok(deltas)
}

/// Spec altair `process_rewards_and_penalties`: the three flag deltas, then the inactivity
/// deltas, each applied to every validator before the next.
pub fn process_rewards_and_penalties(state: &mut BeaconState, config: &ChainConfig) -> Result<()> {
    if get_current_epoch(state) == GENESIS_EPOCH {
        return Ok(());
    }
    let mut all_deltas = Vec::with_capacity(PARTICIPATION_FLAG_WEIGHTS.len().saturating_add(1));
    for flag_index in 0..PARTICIPATION_FLAG_WEIGHTS.len() {
        all_deltas.push(get_flag_index_deltas(state, flag_index)?);
    }
    all_deltas.push(get_inactivity_penalty_deltas(state, config)?);
    for deltas in &all_deltas {
        for (index, (reward, penalty)) in
            (0u64..).zip(deltas.rewards.iter().zip(deltas.penalties.iter()))
        {
            increase_balance(state, index, *reward)?;
            decrease_balance(state, index, *penalty)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Registry, slashings, resets
// ---------------------------------------------------------------------------------------------

/// Spec electra `process_registry_updates`.
///
/// Which branch applies to a validator depends only on that validator and the finalized
/// checkpoint, so the registry is read once and the changes applied after.
pub fn process_registry_updates(state: &mut BeaconState, config: &ChainConfig) -> Result<()> {
    enum Action {
        QueueForActivation,
        Eject,
        Activate,
    }
    let current_epoch = get_current_epoch(state);
    let activation_epoch = compute_activation_exit_epoch(current_epoch)?;
    let mut actions = Vec::new();
    for (index, validator) in (0u64..).zip(state.validators.iter()) {
        if is_eligible_for_activation_queue(validator) {
            actions.push((index, Action::QueueForActivation));
        } else if is_active_validator(validator, current_epoch)
            && validator.effective_balance <= config.ejection_balance
        {
            actions.push((index, Action::Eject));
        } else if is_eligible_for_activation(state, validator) {
            actions.push((index, Action::Activate));
        }
    }
    let next_epoch = current_epoch.safe_add(1)?;
    for (index, action) in actions {
        match action {
            Action::QueueForActivation => {
                get_validator_mut(state, index)?.activation_eligibility_epoch = next_epoch;
            }
            Action::Eject => initiate_validator_exit(state, config, index)?,
            Action::Activate => {
                get_validator_mut(state, index)?.activation_epoch = activation_epoch
            }
        }
    }
    Ok(())
}

/// Spec electra `process_slashings`.
pub fn process_slashings(state: &mut BeaconState) -> Result<()> {
    let epoch = get_current_epoch(state);
    let total_balance = get_total_active_balance(state)?;
    let mut sum_slashings: Gwei = 0;
    for slashing in state.slashings.iter() {
        sum_slashings.safe_add_assign(*slashing)?;
    }
    let adjusted_total_slashing_balance = sum_slashings
        .safe_mul(PRESET.proportional_slashing_multiplier_bellatrix)?
        .min(total_balance);
    let increment = PRESET.effective_balance_increment;
    let penalty_per_effective_balance_increment =
        adjusted_total_slashing_balance.safe_div(total_balance.safe_div(increment)?)?;
    let target_withdrawable_epoch =
        epoch.safe_add(PRESET.epochs_per_slashings_vector.safe_div(2)?)?;
    let mut penalties = Vec::new();
    for (index, validator) in (0u64..).zip(state.validators.iter()) {
        if validator.slashed && target_withdrawable_epoch == validator.withdrawable_epoch {
            let effective_balance_increments = validator.effective_balance.safe_div(increment)?;
            penalties.push((
                index,
                penalty_per_effective_balance_increment.safe_mul(effective_balance_increments)?,
            ));
        }
    }
    for (index, penalty) in penalties {
        decrease_balance(state, index, penalty)?;
    }
    Ok(())
}

/// Spec phase0 `process_eth1_data_reset`.
pub fn process_eth1_data_reset(state: &mut BeaconState) -> Result<()> {
    let next_epoch = get_current_epoch(state).safe_add(1)?;
    if next_epoch.safe_rem(PRESET.epochs_per_eth1_voting_period)? == 0 {
        state.eth1_data_votes = List::empty();
    }
    Ok(())
}

/// Spec fulu `process_pending_deposits` (on an Electra state, Electra's: which also stops at
/// the first deposit request while Eth1 bridge deposits are pending).
pub fn process_pending_deposits(state: &mut BeaconState, config: &ChainConfig) -> Result<()> {
    let next_epoch = get_current_epoch(state).safe_add(1)?;
    let available_for_processing = state
        .deposit_balance_to_consume
        .safe_add(get_activation_exit_churn_limit(state, config)?)?;
    let mut processed_amount: Gwei = 0;
    let mut next_deposit_index: u64 = 0;
    let mut deposits_to_postpone = Vec::new();
    let mut is_churn_limit_reached = false;
    let finalized_slot = compute_start_slot_at_epoch(state.finalized_checkpoint.epoch)?;

    // At most MAX_PENDING_DEPOSITS_PER_EPOCH entries are looked at; applying a deposit never
    // changes the queue, so read them up front.
    let window: Vec<PendingDeposit> = state
        .pending_deposits
        .iter()
        .take(to_usize(PRESET.max_pending_deposits_per_epoch)?)
        .cloned()
        .collect();
    let is_electra = state.fork_name() == ForkName::Electra;
    for deposit in &window {
        // [Electra only; removed in Fulu] Do not process deposit requests if Eth1 bridge
        // deposits are not yet applied.
        if is_electra
            && deposit.slot > GENESIS_SLOT
            && state.eth1_deposit_index < state.deposit_requests_start_index
        {
            break;
        }
        // Check if deposit has been finalized, otherwise, stop processing.
        if deposit.slot > finalized_slot {
            break;
        }
        // Check if number of processed deposits has not reached the limit.
        if next_deposit_index >= PRESET.max_pending_deposits_per_epoch {
            break;
        }
        let (is_validator_exited, is_validator_withdrawn) =
            match find_validator_index_by_pubkey(state, &deposit.pubkey) {
                Some(index) => {
                    let validator = get_validator(state, index)?;
                    (
                        validator.exit_epoch < FAR_FUTURE_EPOCH,
                        validator.withdrawable_epoch < next_epoch,
                    )
                }
                None => (false, false),
            };
        if is_validator_withdrawn {
            // Deposited balance will never become active. Increase balance but do not
            // consume churn.
            apply_pending_deposit(state, config, deposit)?;
        } else if is_validator_exited {
            // Validator is exiting, postpone the deposit until after withdrawable epoch.
            deposits_to_postpone.push(deposit.clone());
        } else {
            // Check if deposit fits in the churn, otherwise, do no more deposit processing.
            is_churn_limit_reached =
                processed_amount.safe_add(deposit.amount)? > available_for_processing;
            if is_churn_limit_reached {
                break;
            }
            processed_amount.safe_add_assign(deposit.amount)?;
            apply_pending_deposit(state, config, deposit)?;
        }
        next_deposit_index.safe_add_assign(1)?;
    }

    state
        .pending_deposits
        .pop_front(to_usize(next_deposit_index)?)?;
    for deposit in deposits_to_postpone {
        state.pending_deposits.push(deposit)?;
    }

    state.deposit_balance_to_consume = if is_churn_limit_reached {
        available_for_processing.safe_sub(processed_amount)?
    } else {
        0
    };
    Ok(())
}

/// Spec electra `process_pending_consolidations`.
pub fn process_pending_consolidations(state: &mut BeaconState) -> Result<()> {
    let next_epoch = get_current_epoch(state).safe_add(1)?;
    let mut next_pending_consolidation: usize = 0;
    let len = state.pending_consolidations.len();
    while next_pending_consolidation < len {
        let Some(pending) = state
            .pending_consolidations
            .get(next_pending_consolidation)
            .cloned()
        else {
            break;
        };
        let source_validator = get_validator(state, pending.source_index)?;
        if source_validator.slashed {
            next_pending_consolidation.safe_add_assign(1)?;
            continue;
        }
        if source_validator.withdrawable_epoch > next_epoch {
            break;
        }
        // Calculate the consolidated balance
        let source_effective_balance =
            get_balance(state, pending.source_index)?.min(source_validator.effective_balance);
        // Move active balance to target. Excess balance is withdrawable.
        decrease_balance(state, pending.source_index, source_effective_balance)?;
        increase_balance(state, pending.target_index, source_effective_balance)?;
        next_pending_consolidation.safe_add_assign(1)?;
    }
    state
        .pending_consolidations
        .pop_front(next_pending_consolidation)?;
    Ok(())
}

/// The new effective balance under the spec's hysteresis, or `None` if it stays.
pub fn effective_balance_update(validator: &Validator, balance: Gwei) -> Result<Option<Gwei>> {
    let hysteresis_increment = PRESET
        .effective_balance_increment
        .safe_div(PRESET.hysteresis_quotient)?;
    let downward_threshold =
        hysteresis_increment.safe_mul(PRESET.hysteresis_downward_multiplier)?;
    let upward_threshold = hysteresis_increment.safe_mul(PRESET.hysteresis_upward_multiplier)?;
    let max_effective_balance = get_max_effective_balance(validator);
    if balance.safe_add(downward_threshold)? < validator.effective_balance
        || validator.effective_balance.safe_add(upward_threshold)? < balance
    {
        let rounded = balance.safe_sub(balance.safe_rem(PRESET.effective_balance_increment)?)?;
        Ok(Some(rounded.min(max_effective_balance)))
    } else {
        Ok(None)
    }
}

/// Spec electra `process_effective_balance_updates`. Clears the cached total active balance.
pub fn process_effective_balance_updates(state: &mut BeaconState) -> Result<()> {
    let mut updates = Vec::new();
    for ((index, validator), balance) in (0u64..)
        .zip(state.validators.iter())
        .zip(state.balances.iter())
    {
        if let Some(new) = effective_balance_update(validator, *balance)? {
            if new != validator.effective_balance {
                updates.push((index, new));
            }
        }
    }
    if state.balances.len() != state.validators.len() {
        return Err(TransitionError::UnknownValidator(to_u64(
            state.balances.len().min(state.validators.len()),
        )?));
    }
    for (index, effective_balance) in updates {
        get_validator_mut(state, index)?.effective_balance = effective_balance;
    }
    state.caches.clear_total_active_balance();
    state.caches.clear_effective_balances();
    Ok(())
}

/// Spec phase0 `process_slashings_reset`.
pub fn process_slashings_reset(state: &mut BeaconState) -> Result<()> {
    let next_epoch = get_current_epoch(state).safe_add(1)?;
    let i = to_usize(next_epoch.safe_rem(PRESET.epochs_per_slashings_vector)?)?;
    *state
        .slashings
        .get_mut(i)
        .ok_or(TransitionError::Tree(format!("slashings[{i}] missing")))? = 0;
    Ok(())
}

/// Spec phase0 `process_randao_mixes_reset`.
pub fn process_randao_mixes_reset(state: &mut BeaconState) -> Result<()> {
    let current_epoch = get_current_epoch(state);
    let next_epoch = current_epoch.safe_add(1)?;
    let mix = get_randao_mix(state, current_epoch)?;
    let i = to_usize(next_epoch.safe_rem(PRESET.epochs_per_historical_vector)?)?;
    *state
        .randao_mixes
        .get_mut(i)
        .ok_or(TransitionError::Tree(format!("randao_mixes[{i}] missing")))? = mix;
    Ok(())
}

/// Spec capella `process_historical_summaries_update`.
pub fn process_historical_summaries_update(state: &mut BeaconState) -> Result<()> {
    let next_epoch = get_current_epoch(state).safe_add(1)?;
    let period = PRESET
        .slots_per_historical_root
        .safe_div(PRESET.slots_per_epoch)?;
    if next_epoch.safe_rem(period)? == 0 {
        // milhouse hashes only applied trees.
        state.block_roots.apply_updates()?;
        state.state_roots.apply_updates()?;
        let historical_summary = HistoricalSummary {
            block_summary_root: state.block_roots.tree_hash_root(),
            state_summary_root: state.state_roots.tree_hash_root(),
        };
        state.historical_summaries.push(historical_summary)?;
    }
    Ok(())
}

/// Spec altair `process_participation_flag_updates`.
pub fn process_participation_flag_updates(state: &mut BeaconState) -> Result<()> {
    let len = state.validators.len();
    state.previous_epoch_participation = std::mem::replace(
        &mut state.current_epoch_participation,
        List::repeat(0, len)?,
    );
    Ok(())
}

/// Spec altair `process_sync_committee_updates`.
pub fn process_sync_committee_updates(state: &mut BeaconState) -> Result<()> {
    let next_epoch = get_current_epoch(state).safe_add(1)?;
    if next_epoch.safe_rem(PRESET.epochs_per_sync_committee_period)? == 0 {
        let next = Arc::new(get_next_sync_committee(state)?);
        state.current_sync_committee = std::mem::replace(&mut state.next_sync_committee, next);
    }
    Ok(())
}

/// Spec fulu `process_proposer_lookahead`: drop the first epoch of the lookahead and append the
/// proposers of `current_epoch + MIN_SEED_LOOKAHEAD + 1`.
pub fn process_proposer_lookahead(state: &mut BeaconState) -> Result<()> {
    let Some(lookahead) = &state.proposer_lookahead else {
        return Err(TransitionError::WrongFork {
            expected: "fulu",
            actual: state.fork_name().as_str(),
        });
    };
    let slots_per_epoch = to_usize(PRESET.slots_per_epoch)?;
    let mut new: Vec<ValidatorIndex> = lookahead.iter().skip(slots_per_epoch).copied().collect();
    let epoch = get_current_epoch(state)
        .safe_add(PRESET.min_seed_lookahead)?
        .safe_add(1)?;
    new.extend(get_beacon_proposer_indices(state, epoch)?);
    state.proposer_lookahead = Some(Vector::new(new)?);
    Ok(())
}
