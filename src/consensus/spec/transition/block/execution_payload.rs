//! `process_execution_payload` (electra; fulu's blob limit from the blob schedule) and the
//! pieces of the `NewPayloadRequest` it sends to the [`ExecutionEngine`].

use super::super::error::TransitionError;
use super::super::helpers::*;
use super::super::*;
use crate::consensus::block_invalid::ExecutionPayloadInvalid;
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::execution::{
    kzg_commitment_to_versioned_hash, EngineWithdrawal, ExecutionEngine, ExecutionPayloadView,
    NewPayloadRequest,
};
use crate::consensus::primitives::*;
use ssz::Encode;
use tree_hash::TreeHash;

type Result<T> = std::result::Result<T, TransitionError>;

/// Spec fulu `BlobParameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobParameters {
    pub epoch: Epoch,
    pub max_blobs_per_block: u64,
}

/// Spec fulu `get_blob_parameters`: the latest `BLOB_SCHEDULE` entry in force at `epoch`, else
/// Electra's limit. (Among entries of equal epoch the spec's stable descending sort picks the
/// first listed; `max_by_key` returns the last maximum, hence the reversed iteration.)
pub fn get_blob_parameters(config: &ChainConfig, epoch: Epoch) -> BlobParameters {
    config
        .blob_schedule
        .iter()
        .rev()
        .filter(|entry| epoch >= entry.epoch)
        .max_by_key(|entry| entry.epoch)
        .map(|entry| BlobParameters {
            epoch: entry.epoch,
            max_blobs_per_block: entry.max_blobs_per_block,
        })
        .unwrap_or(BlobParameters {
            epoch: config.electra_fork_epoch,
            max_blobs_per_block: config.max_blobs_per_block_electra,
        })
}

/// The most blob commitments a block of `state`'s fork may carry at the current epoch:
/// electra `MAX_BLOBS_PER_BLOCK_ELECTRA`, fulu `get_blob_parameters(epoch)`.
pub fn max_blobs_per_block(state: &BeaconState, config: &ChainConfig) -> u64 {
    match state.fork_name() {
        ForkName::Electra => config.max_blobs_per_block_electra,
        ForkName::Fulu => get_blob_parameters(config, get_current_epoch(state)).max_blobs_per_block,
    }
}

/// Spec electra `get_execution_requests_list`: `request_type ++ ssz_serialize(requests)` for
/// each non-empty list, in type order.
pub fn get_execution_requests_list(execution_requests: &ExecutionRequests) -> Vec<Vec<u8>> {
    let mut list = Vec::with_capacity(3);
    let mut add = |request_type: u8, is_empty: bool, ssz: &dyn Fn(&mut Vec<u8>)| {
        if !is_empty {
            let mut bytes = vec![request_type];
            ssz(&mut bytes);
            list.push(bytes);
        }
    };
    add(
        DEPOSIT_REQUEST_TYPE,
        execution_requests.deposits.is_empty(),
        &|buf| execution_requests.deposits.ssz_append(buf),
    );
    add(
        WITHDRAWAL_REQUEST_TYPE,
        execution_requests.withdrawals.is_empty(),
        &|buf| execution_requests.withdrawals.ssz_append(buf),
    );
    add(
        CONSOLIDATION_REQUEST_TYPE,
        execution_requests.consolidations.is_empty(),
        &|buf| execution_requests.consolidations.ssz_append(buf),
    );
    list
}

/// The engine's view of `payload`.
pub fn execution_payload_view(payload: &ExecutionPayload) -> ExecutionPayloadView<'_> {
    ExecutionPayloadView {
        parent_hash: payload.parent_hash,
        fee_recipient: payload.fee_recipient,
        state_root: payload.state_root,
        receipts_root: payload.receipts_root,
        logs_bloom: &payload.logs_bloom[..],
        prev_randao: payload.prev_randao,
        block_number: payload.block_number,
        gas_limit: payload.gas_limit,
        gas_used: payload.gas_used,
        timestamp: payload.timestamp,
        extra_data: &payload.extra_data[..],
        base_fee_per_gas: payload.base_fee_per_gas,
        block_hash: payload.block_hash,
        transactions: payload.transactions.iter().map(|tx| &tx[..]).collect(),
        withdrawals: payload
            .withdrawals
            .iter()
            .map(|w| EngineWithdrawal {
                index: w.index,
                validator_index: w.validator_index,
                address: w.address,
                amount: w.amount,
            })
            .collect(),
        blob_gas_used: payload.blob_gas_used,
        excess_blob_gas: payload.excess_blob_gas,
    }
}

/// The consensus asserts of `process_execution_payload` (before asking the engine).
pub fn check_execution_payload(
    state: &BeaconState,
    body: &BeaconBlockBody,
    config: &ChainConfig,
) -> Result<()> {
    let payload = &body.execution_payload;
    // Verify consistency of the parent hash with respect to the previous execution payload.
    let expected = state.latest_execution_payload_header.block_hash;
    if payload.parent_hash != expected {
        return Err(ExecutionPayloadInvalid::ParentHashMismatch {
            payload: payload.parent_hash,
            expected,
        }
        .into());
    }
    // Verify prev_randao.
    let expected = get_randao_mix(state, get_current_epoch(state))?;
    if payload.prev_randao != expected {
        return Err(ExecutionPayloadInvalid::PrevRandaoMismatch {
            payload: payload.prev_randao,
            expected,
        }
        .into());
    }
    // Verify timestamp.
    let expected = compute_time_at_slot(state, config, state.slot)?;
    if payload.timestamp != expected {
        return Err(ExecutionPayloadInvalid::TimestampMismatch {
            payload: payload.timestamp,
            expected,
        }
        .into());
    }
    // Verify commitments are under limit.
    let max = max_blobs_per_block(state, config);
    let count = body.blob_kzg_commitments.len();
    if u64::try_from(count).map_or(true, |count| count > max) {
        return Err(ExecutionPayloadInvalid::TooManyBlobCommitments { count, max }.into());
    }
    Ok(())
}

/// Spec electra/fulu `process_execution_payload`.
pub fn process_execution_payload(
    state: &mut BeaconState,
    body: &BeaconBlockBody,
    config: &ChainConfig,
    engine: &dyn ExecutionEngine,
) -> Result<()> {
    check_execution_payload(state, body, config)?;
    let payload = &body.execution_payload;

    // Verify the execution payload is valid.
    let versioned_hashes = body
        .blob_kzg_commitments
        .iter()
        .map(|commitment| kzg_commitment_to_versioned_hash(&commitment.0))
        .collect();
    let request = NewPayloadRequest {
        execution_payload: execution_payload_view(payload),
        versioned_hashes,
        parent_beacon_block_root: state.latest_block_header.parent_root,
        execution_requests_list: get_execution_requests_list(&body.execution_requests),
    };
    if !engine.verify_and_notify_new_payload(&request) {
        return Err(ExecutionPayloadInvalid::RejectedByEngine.into());
    }

    // Cache execution payload header.
    state.latest_execution_payload_header = ExecutionPayloadHeader {
        parent_hash: payload.parent_hash,
        fee_recipient: payload.fee_recipient,
        state_root: payload.state_root,
        receipts_root: payload.receipts_root,
        logs_bloom: payload.logs_bloom.clone(),
        prev_randao: payload.prev_randao,
        block_number: payload.block_number,
        gas_limit: payload.gas_limit,
        gas_used: payload.gas_used,
        timestamp: payload.timestamp,
        extra_data: payload.extra_data.clone(),
        base_fee_per_gas: payload.base_fee_per_gas,
        block_hash: payload.block_hash,
        transactions_root: payload.transactions.tree_hash_root(),
        withdrawals_root: payload.withdrawals.tree_hash_root(),
        blob_gas_used: payload.blob_gas_used,
        excess_blob_gas: payload.excess_blob_gas,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::config::BlobScheduleEntry;

    #[test]
    fn blob_parameters_follow_the_schedule() {
        let mut config = ChainConfig::mainnet();
        let at = |config: &ChainConfig, epoch| get_blob_parameters(config, epoch);
        assert_eq!(at(&config, 0).max_blobs_per_block, 9);
        assert_eq!(at(&config, 412_671).max_blobs_per_block, 9);
        assert_eq!(at(&config, 412_672).max_blobs_per_block, 15);
        assert_eq!(at(&config, 419_072).max_blobs_per_block, 21);
        assert_eq!(at(&config, u64::MAX).max_blobs_per_block, 21);
        config.blob_schedule = vec![
            BlobScheduleEntry {
                epoch: 5,
                max_blobs_per_block: 1,
            },
            BlobScheduleEntry {
                epoch: 5,
                max_blobs_per_block: 2,
            },
        ];
        assert_eq!(at(&config, 5).max_blobs_per_block, 1);
    }
}
