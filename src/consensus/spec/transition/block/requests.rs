//! The execution-layer requests of a block (EIP-6110 deposits, EIP-7002 withdrawals, EIP-7251
//! consolidations). None of them can make a block invalid: a request that does not qualify is
//! ignored, as the spec's early `return`s do.

use super::super::error::TransitionError;
use super::super::helpers::*;
use super::super::*;
use crate::consensus::arith::{to_u64, SafeArith};
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::primitives::*;

type Result<T> = std::result::Result<T, TransitionError>;

/// Spec electra/fulu `process_deposit_request`. Electra also records where deposit requests
/// start (ending the eth1 bridge); Fulu no longer does.
pub fn process_deposit_request(
    state: &mut BeaconState,
    deposit_request: &DepositRequest,
) -> Result<()> {
    if state.fork_name() == ForkName::Electra
        && state.deposit_requests_start_index == UNSET_DEPOSIT_REQUESTS_START_INDEX
    {
        state.deposit_requests_start_index = deposit_request.index;
    }
    state.pending_deposits.push(PendingDeposit {
        pubkey: deposit_request.pubkey,
        withdrawal_credentials: deposit_request.withdrawal_credentials,
        amount: deposit_request.amount,
        signature: deposit_request.signature,
        slot: state.slot,
    })?;
    Ok(())
}

/// `validator.withdrawal_credentials[12:] == address`.
fn credentials_address_is(validator: &Validator, address: &ExecutionAddress) -> bool {
    validator.withdrawal_credentials.get(12..) == Some(address.as_slice())
}

/// Spec electra `process_withdrawal_request`.
pub fn process_withdrawal_request(
    state: &mut BeaconState,
    config: &ChainConfig,
    withdrawal_request: &WithdrawalRequest,
) -> Result<()> {
    let amount = withdrawal_request.amount;
    let is_full_exit_request = amount == FULL_EXIT_REQUEST_AMOUNT;

    // If the partial withdrawal queue is full, only full exits are processed.
    if to_u64(state.pending_partial_withdrawals.len())? == PRESET.pending_partial_withdrawals_limit
        && !is_full_exit_request
    {
        return Ok(());
    }

    // Verify pubkey exists.
    let Some(index) = find_validator_index_by_pubkey(state, &withdrawal_request.validator_pubkey)
    else {
        return Ok(());
    };
    let validator = get_validator(state, index)?;

    // Verify withdrawal credentials.
    let has_correct_credential = has_execution_withdrawal_credential(validator);
    let is_correct_source_address =
        credentials_address_is(validator, &withdrawal_request.source_address);
    if !(has_correct_credential && is_correct_source_address) {
        return Ok(());
    }
    let current_epoch = get_current_epoch(state);
    // Verify the validator is active.
    if !is_active_validator(validator, current_epoch) {
        return Ok(());
    }
    // Verify exit has not been initiated.
    if validator.exit_epoch != FAR_FUTURE_EPOCH {
        return Ok(());
    }
    // Verify the validator has been active long enough.
    if current_epoch
        < validator
            .activation_epoch
            .safe_add(config.shard_committee_period)?
    {
        return Ok(());
    }

    let pending_balance_to_withdraw = get_pending_balance_to_withdraw(state, index)?;

    if is_full_exit_request {
        // Only exit validator if it has no pending withdrawals in the queue.
        if pending_balance_to_withdraw == 0 {
            initiate_validator_exit(state, config, index)?;
        }
        return Ok(());
    }

    let balance = get_balance(state, index)?;
    let has_sufficient_effective_balance =
        validator.effective_balance >= PRESET.min_activation_balance;
    let has_excess_balance = balance
        > PRESET
            .min_activation_balance
            .safe_add(pending_balance_to_withdraw)?;

    // Only allow partial withdrawals with compounding withdrawal credentials.
    if has_compounding_withdrawal_credential(validator)
        && has_sufficient_effective_balance
        && has_excess_balance
    {
        let to_withdraw = balance
            .safe_sub(PRESET.min_activation_balance)?
            .safe_sub(pending_balance_to_withdraw)?
            .min(amount);
        let exit_queue_epoch = compute_exit_epoch_and_update_churn(state, config, to_withdraw)?;
        let withdrawable_epoch =
            exit_queue_epoch.safe_add(config.min_validator_withdrawability_delay)?;
        state
            .pending_partial_withdrawals
            .push(PendingPartialWithdrawal {
                validator_index: index,
                amount: to_withdraw,
                withdrawable_epoch,
            })?;
    }
    Ok(())
}

/// Spec electra `is_valid_switch_to_compounding_request`.
pub fn is_valid_switch_to_compounding_request(
    state: &BeaconState,
    consolidation_request: &ConsolidationRequest,
) -> Result<bool> {
    // Switch to compounding requires source and target be equal.
    if consolidation_request.source_pubkey != consolidation_request.target_pubkey {
        return Ok(false);
    }
    // Verify pubkey exists.
    let Some(index) = find_validator_index_by_pubkey(state, &consolidation_request.source_pubkey)
    else {
        return Ok(false);
    };
    let source_validator = get_validator(state, index)?;
    // Verify request has been authorized.
    if !credentials_address_is(source_validator, &consolidation_request.source_address) {
        return Ok(false);
    }
    // Verify source withdrawal credentials.
    if !has_eth1_withdrawal_credential(source_validator) {
        return Ok(false);
    }
    // Verify the source is active.
    if !is_active_validator(source_validator, get_current_epoch(state)) {
        return Ok(false);
    }
    // Verify exit for source has not been initiated.
    Ok(source_validator.exit_epoch == FAR_FUTURE_EPOCH)
}

/// Spec electra `process_consolidation_request`.
pub fn process_consolidation_request(
    state: &mut BeaconState,
    config: &ChainConfig,
    consolidation_request: &ConsolidationRequest,
) -> Result<()> {
    if is_valid_switch_to_compounding_request(state, consolidation_request)? {
        if let Some(source_index) =
            find_validator_index_by_pubkey(state, &consolidation_request.source_pubkey)
        {
            switch_to_compounding_validator(state, source_index)?;
        }
        return Ok(());
    }

    // Verify that source != target, so a consolidation cannot be used as an exit.
    if consolidation_request.source_pubkey == consolidation_request.target_pubkey {
        return Ok(());
    }
    // If the pending consolidations queue is full, consolidation requests are ignored.
    if to_u64(state.pending_consolidations.len())? == PRESET.pending_consolidations_limit {
        return Ok(());
    }
    // If there is too little available consolidation churn limit, requests are ignored.
    if get_consolidation_churn_limit(state, config)? <= PRESET.min_activation_balance {
        return Ok(());
    }

    // Verify pubkeys exist.
    let Some(source_index) =
        find_validator_index_by_pubkey(state, &consolidation_request.source_pubkey)
    else {
        return Ok(());
    };
    let Some(target_index) =
        find_validator_index_by_pubkey(state, &consolidation_request.target_pubkey)
    else {
        return Ok(());
    };
    let source_validator = get_validator(state, source_index)?;
    let target_validator = get_validator(state, target_index)?;

    // Verify source withdrawal credentials.
    let has_correct_credential = has_execution_withdrawal_credential(source_validator);
    let is_correct_source_address =
        credentials_address_is(source_validator, &consolidation_request.source_address);
    if !(has_correct_credential && is_correct_source_address) {
        return Ok(());
    }
    // Verify that target has compounding withdrawal credentials.
    if !has_compounding_withdrawal_credential(target_validator) {
        return Ok(());
    }
    // Verify the source and the target are active.
    let current_epoch = get_current_epoch(state);
    if !is_active_validator(source_validator, current_epoch)
        || !is_active_validator(target_validator, current_epoch)
    {
        return Ok(());
    }
    // Verify exits for source and target have not been initiated.
    if source_validator.exit_epoch != FAR_FUTURE_EPOCH
        || target_validator.exit_epoch != FAR_FUTURE_EPOCH
    {
        return Ok(());
    }
    // Verify the source has been active long enough.
    if current_epoch
        < source_validator
            .activation_epoch
            .safe_add(config.shard_committee_period)?
    {
        return Ok(());
    }
    // Verify the source has no pending withdrawals in the queue.
    if get_pending_balance_to_withdraw(state, source_index)? > 0 {
        return Ok(());
    }

    // Initiate source validator exit and append pending consolidation.
    let source_effective_balance = source_validator.effective_balance;
    let exit_epoch =
        compute_consolidation_epoch_and_update_churn(state, config, source_effective_balance)?;
    let withdrawable_epoch = exit_epoch.safe_add(config.min_validator_withdrawability_delay)?;
    let source_validator = get_validator_mut(state, source_index)?;
    source_validator.exit_epoch = exit_epoch;
    source_validator.withdrawable_epoch = withdrawable_epoch;
    state.pending_consolidations.push(PendingConsolidation {
        source_index,
        target_index,
    })?;
    Ok(())
}
