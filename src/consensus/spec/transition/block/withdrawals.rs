//! `process_withdrawals` and its parts (electra, unchanged in fulu): pending partial
//! withdrawals first, then the validator sweep.

use super::super::error::TransitionError;
use super::super::helpers::*;
use super::super::*;
use crate::consensus::arith::{to_u64, to_usize, SafeArith};
use crate::consensus::block_invalid::WithdrawalsInvalid;
use crate::consensus::primitives::*;

type Result<T> = std::result::Result<T, TransitionError>;

/// Spec electra `ExpectedWithdrawals`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedWithdrawals {
    pub withdrawals: Vec<Withdrawal>,
    pub processed_partial_withdrawals_count: u64,
    pub processed_sweep_withdrawals_count: u64,
}

/// `ExecutionAddress(validator.withdrawal_credentials[12:])`.
fn withdrawal_address(validator: &Validator) -> ExecutionAddress {
    ExecutionAddress::from_slice(
        validator
            .withdrawal_credentials
            .get(12..)
            .unwrap_or(&[0; 20]),
    )
}

/// Spec electra `get_balance_after_withdrawals`.
pub fn get_balance_after_withdrawals(
    state: &BeaconState,
    validator_index: ValidatorIndex,
    withdrawals: &[Withdrawal],
) -> Result<Gwei> {
    let mut withdrawn: Gwei = 0;
    for withdrawal in withdrawals {
        if withdrawal.validator_index == validator_index {
            withdrawn.safe_add_assign(withdrawal.amount)?;
        }
    }
    Ok(get_balance(state, validator_index)?.safe_sub(withdrawn)?)
}

/// Spec electra `get_pending_partial_withdrawals`: the withdrawable head of the queue, at most
/// `MAX_PENDING_PARTIALS_PER_WITHDRAWALS_SWEEP` and leaving room for one sweep withdrawal.
/// Returns the withdrawals, the next withdrawal index and how many queue entries were consumed.
pub fn get_pending_partial_withdrawals(
    state: &BeaconState,
    mut withdrawal_index: WithdrawalIndex,
    prior_withdrawals: &[Withdrawal],
) -> Result<(Vec<Withdrawal>, WithdrawalIndex, u64)> {
    let epoch = get_current_epoch(state);
    let withdrawals_limit = to_u64(prior_withdrawals.len())?
        .safe_add(PRESET.max_pending_partials_per_withdrawals_sweep)?
        .min(PRESET.max_withdrawals_per_payload.safe_sub(1)?);
    if to_u64(prior_withdrawals.len())? > withdrawals_limit {
        return Err(WithdrawalsInvalid::PriorWithdrawalsOverLimit {
            prior: prior_withdrawals.len(),
            limit: withdrawals_limit,
        }
        .into());
    }

    let mut processed_count: u64 = 0;
    let mut all_withdrawals: Vec<Withdrawal> = prior_withdrawals.to_vec();
    let prior_len = all_withdrawals.len();
    for withdrawal in state.pending_partial_withdrawals.iter() {
        let is_withdrawable = withdrawal.withdrawable_epoch <= epoch;
        let has_reached_limit = to_u64(all_withdrawals.len())? >= withdrawals_limit;
        if !is_withdrawable || has_reached_limit {
            break;
        }

        let validator_index = withdrawal.validator_index;
        let validator = get_validator(state, validator_index)?;
        let balance = get_balance_after_withdrawals(state, validator_index, &all_withdrawals)?;
        if is_eligible_for_partial_withdrawals(validator, balance) {
            let withdrawal_amount = balance
                .safe_sub(PRESET.min_activation_balance)?
                .min(withdrawal.amount);
            all_withdrawals.push(Withdrawal {
                index: withdrawal_index,
                validator_index,
                address: withdrawal_address(validator),
                amount: withdrawal_amount,
            });
            withdrawal_index.safe_add_assign(1)?;
        }
        processed_count.safe_add_assign(1)?;
    }
    let withdrawals = all_withdrawals.split_off(prior_len);
    Ok((withdrawals, withdrawal_index, processed_count))
}

/// Spec electra `get_validators_sweep_withdrawals`: full and excess-balance withdrawals of up to
/// `MAX_VALIDATORS_PER_WITHDRAWALS_SWEEP` validators from `next_withdrawal_validator_index`.
/// Returns the withdrawals, the next withdrawal index and how many validators were visited.
pub fn get_validators_sweep_withdrawals(
    state: &BeaconState,
    mut withdrawal_index: WithdrawalIndex,
    prior_withdrawals: &[Withdrawal],
) -> Result<(Vec<Withdrawal>, WithdrawalIndex, u64)> {
    let epoch = get_current_epoch(state);
    let validator_count = to_u64(state.validators.len())?;
    let validators_limit = validator_count.min(PRESET.max_validators_per_withdrawals_sweep);
    let withdrawals_limit = PRESET.max_withdrawals_per_payload;
    // There must be at least one space reserved for validator sweep withdrawals.
    if to_u64(prior_withdrawals.len())? >= withdrawals_limit {
        return Err(WithdrawalsInvalid::PriorWithdrawalsOverLimit {
            prior: prior_withdrawals.len(),
            limit: withdrawals_limit,
        }
        .into());
    }

    let mut processed_count: u64 = 0;
    let mut all_withdrawals: Vec<Withdrawal> = prior_withdrawals.to_vec();
    let prior_len = all_withdrawals.len();
    let mut validator_index = state.next_withdrawal_validator_index;
    for _ in 0..validators_limit {
        let has_reached_limit = to_u64(all_withdrawals.len())? >= withdrawals_limit;
        if has_reached_limit {
            break;
        }

        let validator = get_validator(state, validator_index)?;
        let balance = get_balance_after_withdrawals(state, validator_index, &all_withdrawals)?;
        if is_fully_withdrawable_validator(validator, balance, epoch) {
            all_withdrawals.push(Withdrawal {
                index: withdrawal_index,
                validator_index,
                address: withdrawal_address(validator),
                amount: balance,
            });
            withdrawal_index.safe_add_assign(1)?;
        } else if is_partially_withdrawable_validator(validator, balance) {
            all_withdrawals.push(Withdrawal {
                index: withdrawal_index,
                validator_index,
                address: withdrawal_address(validator),
                amount: balance.safe_sub(get_max_effective_balance(validator))?,
            });
            withdrawal_index.safe_add_assign(1)?;
        }

        validator_index = validator_index.safe_add(1)?.safe_rem(validator_count)?;
        processed_count.safe_add_assign(1)?;
    }
    let withdrawals = all_withdrawals.split_off(prior_len);
    Ok((withdrawals, withdrawal_index, processed_count))
}

/// Spec electra `get_expected_withdrawals`.
pub fn get_expected_withdrawals(state: &BeaconState) -> Result<ExpectedWithdrawals> {
    let withdrawal_index = state.next_withdrawal_index;
    let mut withdrawals: Vec<Withdrawal> = Vec::new();

    // [New in Electra:EIP7251] Get partial withdrawals.
    let (partial_withdrawals, withdrawal_index, processed_partial_withdrawals_count) =
        get_pending_partial_withdrawals(state, withdrawal_index, &withdrawals)?;
    withdrawals.extend(partial_withdrawals);

    // Get validators sweep withdrawals.
    let (sweep_withdrawals, _, processed_sweep_withdrawals_count) =
        get_validators_sweep_withdrawals(state, withdrawal_index, &withdrawals)?;
    withdrawals.extend(sweep_withdrawals);

    Ok(ExpectedWithdrawals {
        withdrawals,
        processed_partial_withdrawals_count,
        processed_sweep_withdrawals_count,
    })
}

/// Spec electra `apply_withdrawals`.
pub fn apply_withdrawals(state: &mut BeaconState, withdrawals: &[Withdrawal]) -> Result<()> {
    for withdrawal in withdrawals {
        decrease_balance(state, withdrawal.validator_index, withdrawal.amount)?;
    }
    Ok(())
}

/// Spec electra `update_next_withdrawal_index`.
pub fn update_next_withdrawal_index(
    state: &mut BeaconState,
    withdrawals: &[Withdrawal],
) -> Result<()> {
    // Update the next withdrawal index if this block contained withdrawals.
    if let Some(latest_withdrawal) = withdrawals.last() {
        state.next_withdrawal_index = latest_withdrawal.index.safe_add(1)?;
    }
    Ok(())
}

/// Spec electra `update_pending_partial_withdrawals`: drops the processed head of the queue.
pub fn update_pending_partial_withdrawals(
    state: &mut BeaconState,
    processed_partial_withdrawals_count: u64,
) -> Result<()> {
    let count = to_usize(processed_partial_withdrawals_count)?;
    if count > state.pending_partial_withdrawals.len() {
        return Err(TransitionError::Tree(format!(
            "cannot drop {count} of {} pending partial withdrawals",
            state.pending_partial_withdrawals.len()
        )));
    }
    state.pending_partial_withdrawals.pop_front(count)?;
    Ok(())
}

/// Spec electra `update_next_withdrawal_validator_index`.
pub fn update_next_withdrawal_validator_index(
    state: &mut BeaconState,
    withdrawals: &[Withdrawal],
) -> Result<()> {
    let validator_count = to_u64(state.validators.len())?;
    let full_payload = to_u64(withdrawals.len())? == PRESET.max_withdrawals_per_payload;
    state.next_withdrawal_validator_index = match withdrawals.last() {
        // Next sweep starts after the latest withdrawal's validator index.
        Some(last) if full_payload => last
            .validator_index
            .safe_add(1)?
            .safe_rem(validator_count)?,
        // Advance sweep by the max length of the sweep if there was not a full set of
        // withdrawals.
        _ => state
            .next_withdrawal_validator_index
            .safe_add(PRESET.max_validators_per_withdrawals_sweep)?
            .safe_rem(validator_count)?,
    };
    Ok(())
}

/// Spec electra `process_withdrawals`.
pub fn process_withdrawals(state: &mut BeaconState, payload: &ExecutionPayload) -> Result<()> {
    // Get expected withdrawals.
    let expected = get_expected_withdrawals(state)?;
    check_withdrawals(&payload.withdrawals, &expected.withdrawals)?;

    // Apply expected withdrawals.
    apply_withdrawals(state, &expected.withdrawals)?;

    // Update withdrawals fields in the state.
    update_next_withdrawal_index(state, &expected.withdrawals)?;
    update_pending_partial_withdrawals(state, expected.processed_partial_withdrawals_count)?;
    update_next_withdrawal_validator_index(state, &expected.withdrawals)?;
    Ok(())
}

/// `payload.withdrawals == expected.withdrawals`, naming the first difference.
pub fn check_withdrawals(got: &[Withdrawal], expected: &[Withdrawal]) -> Result<()> {
    if got == expected {
        return Ok(());
    }
    let position = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    Err(WithdrawalsInvalid::Mismatch {
        position,
        got: got.len(),
        expected: expected.len(),
    }
    .into())
}
