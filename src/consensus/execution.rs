//! The consensus side of the execution-engine interface: what `process_execution_payload` hands
//! to the execution layer, and the [`ExecutionEngine`] trait that answers.
//!
//! Preset-independent: the payload travels as a borrowed view ([`ExecutionPayloadView`]) of the
//! preset's `ExecutionPayload`, and the execution requests as the spec's
//! `get_execution_requests_list` bytes (the Engine API's `executionRequests`), so one trait
//! serves both presets.
//!
//! The state transition is pure: an implementation must answer from data it already has (a
//! verdict fetched from the engine beforehand, or a fixed answer in tests and replays), never by
//! doing I/O inside the call.

use super::primitives::{ExecutionAddress, Gwei, Hash256, Root, ValidatorIndex, WithdrawalIndex};
use alloy_primitives::U256;

/// `VersionedHash` (Deneb): `VERSIONED_HASH_VERSION_KZG ++ sha256(commitment)[1:]`.
pub type VersionedHash = Hash256;

/// `VERSIONED_HASH_VERSION_KZG` (Deneb).
pub const VERSIONED_HASH_VERSION_KZG: u8 = 0x01;

/// Spec: deneb beacon-chain.md#kzg_commitment_to_versioned_hash
pub fn kzg_commitment_to_versioned_hash(kzg_commitment: &[u8; 48]) -> VersionedHash {
    let mut hash = ethereum_hashing::hash_fixed(kzg_commitment);
    if let Some(first) = hash.first_mut() {
        *first = VERSIONED_HASH_VERSION_KZG;
    }
    Hash256::from(hash)
}

/// A withdrawal of the payload, as the engine sees it (the spec's `Withdrawal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineWithdrawal {
    pub index: WithdrawalIndex,
    pub validator_index: ValidatorIndex,
    pub address: ExecutionAddress,
    pub amount: Gwei,
}

/// The fields of a (Deneb-shaped, unchanged through Fulu) `ExecutionPayload`, borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionPayloadView<'a> {
    pub parent_hash: Hash256,
    pub fee_recipient: ExecutionAddress,
    pub state_root: Hash256,
    pub receipts_root: Hash256,
    pub logs_bloom: &'a [u8],
    pub prev_randao: Hash256,
    pub block_number: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub timestamp: u64,
    pub extra_data: &'a [u8],
    pub base_fee_per_gas: U256,
    pub block_hash: Hash256,
    /// Opaque RLP-encoded transactions, in payload order.
    pub transactions: Vec<&'a [u8]>,
    pub withdrawals: Vec<EngineWithdrawal>,
    pub blob_gas_used: u64,
    pub excess_blob_gas: u64,
}

/// Spec (electra beacon-chain.md) `NewPayloadRequest`, with `execution_requests` already in
/// the `get_execution_requests_list` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayloadRequest<'a> {
    pub execution_payload: ExecutionPayloadView<'a>,
    pub versioned_hashes: Vec<VersionedHash>,
    pub parent_beacon_block_root: Root,
    /// `get_execution_requests_list(execution_requests)`: one `request_type ++ ssz(list)` per
    /// non-empty request list, in type order.
    pub execution_requests_list: Vec<Vec<u8>>,
}

/// Spec `ExecutionEngine`, as far as the state transition uses it.
pub trait ExecutionEngine {
    /// Spec `verify_and_notify_new_payload`: true iff the payload is valid for the execution
    /// layer (block hash, versioned hashes, and execution itself). A node importing
    /// optimistically (engine `SYNCING`/`ACCEPTED`) answers true and records that elsewhere.
    fn verify_and_notify_new_payload(&self, new_payload_request: &NewPayloadRequest<'_>) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_hash_replaces_first_byte() {
        let commitment = [7u8; 48];
        let hash = kzg_commitment_to_versioned_hash(&commitment);
        let full = ethereum_hashing::hash_fixed(&commitment);
        assert_eq!(hash[0], VERSIONED_HASH_VERSION_KZG);
        assert_eq!(hash[1..], full[1..]);
    }
}
