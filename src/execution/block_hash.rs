//! The execution block hash of a payload: `keccak256(rlp(header))` of the post-Prague header
//! (yellow paper §4.3 plus EIP-1559, EIP-4895, EIP-4844, EIP-4788, EIP-7685), built from the
//! payload the way an execution client does when it checks `blockHash` in `engine_newPayload`.
//!
//! Header fields in RLP order, with what the payload gives for each:
//!
//! | field | from |
//! |---|---|
//! | parent_hash | `parent_hash` |
//! | ommers_hash | `keccak256(rlp([]))` (no ommers since the merge, EIP-3675) |
//! | beneficiary | `fee_recipient` |
//! | state_root, receipts_root, logs_bloom | as in the payload |
//! | transactions_root | ordered Merkle-Patricia trie root of the opaque transactions |
//! | difficulty | 0 (EIP-3675) |
//! | number, gas_limit, gas_used, timestamp, extra_data | as in the payload |
//! | mix_hash | `prev_randao` (EIP-4399) |
//! | nonce | 8 zero bytes (EIP-3675) |
//! | base_fee_per_gas | EIP-1559 |
//! | withdrawals_root | trie root of `rlp([index, validator_index, address, amount])` (EIP-4895) |
//! | blob_gas_used, excess_blob_gas | EIP-4844 |
//! | parent_beacon_block_root | the `NewPayloadRequest`'s (EIP-4788) |
//! | requests_hash | [`requests_hash`] of the execution requests (EIP-7685) |

use crate::consensus::execution::{EngineWithdrawal, ExecutionPayloadView};
use crate::consensus::primitives::{ExecutionAddress, Hash256};
use alloy_primitives::{keccak256, U256};
use alloy_rlp::{Encodable, Header};
use sha2::{Digest, Sha256};

/// `keccak256(rlp([]))`: the ommers hash of every post-merge block.
pub const EMPTY_OMMERS_HASH: Hash256 = Hash256::new(hex_literal(
    b"1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
));
/// The root of an empty Merkle-Patricia trie, `keccak256(rlp(""))`.
pub const EMPTY_TRIE_ROOT: Hash256 = Hash256::new(hex_literal(
    b"56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
));

/// Compile-time hex of a 32-byte constant (a typo fails the build, not a run).
const fn hex_literal(digits: &[u8; 64]) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(digits[2 * i]) << 4) | nibble(digits[2 * i + 1]);
        i += 1;
    }
    out
}

/// A post-Prague execution block header (the fields that enter its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionBlockHeader {
    pub parent_hash: Hash256,
    pub ommers_hash: Hash256,
    pub beneficiary: ExecutionAddress,
    pub state_root: Hash256,
    pub transactions_root: Hash256,
    pub receipts_root: Hash256,
    pub logs_bloom: Vec<u8>,
    pub difficulty: U256,
    pub number: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub timestamp: u64,
    pub extra_data: Vec<u8>,
    pub mix_hash: Hash256,
    pub nonce: [u8; 8],
    pub base_fee_per_gas: U256,
    pub withdrawals_root: Hash256,
    pub blob_gas_used: u64,
    pub excess_blob_gas: u64,
    pub parent_beacon_block_root: Hash256,
    pub requests_hash: Hash256,
}

impl ExecutionBlockHeader {
    /// The header an execution client builds from `payload` (the payload's own `block_hash`
    /// is not used).
    pub fn from_payload(
        payload: &ExecutionPayloadView<'_>,
        parent_beacon_block_root: Hash256,
        requests_hash: Hash256,
    ) -> Self {
        ExecutionBlockHeader {
            parent_hash: payload.parent_hash,
            ommers_hash: EMPTY_OMMERS_HASH,
            beneficiary: payload.fee_recipient,
            state_root: payload.state_root,
            transactions_root: transactions_root(&payload.transactions),
            receipts_root: payload.receipts_root,
            logs_bloom: payload.logs_bloom.to_vec(),
            difficulty: U256::ZERO,
            number: payload.block_number,
            gas_limit: payload.gas_limit,
            gas_used: payload.gas_used,
            timestamp: payload.timestamp,
            extra_data: payload.extra_data.to_vec(),
            mix_hash: payload.prev_randao,
            nonce: [0; 8],
            base_fee_per_gas: payload.base_fee_per_gas,
            withdrawals_root: withdrawals_root(&payload.withdrawals),
            blob_gas_used: payload.blob_gas_used,
            excess_blob_gas: payload.excess_blob_gas,
            parent_beacon_block_root,
            requests_hash,
        }
    }

    /// Calls `f` on each field in RLP order (one list shared by length and encoding).
    fn for_each_field(&self, f: &mut dyn FnMut(&dyn Encodable)) {
        f(&self.parent_hash);
        f(&self.ommers_hash);
        f(&self.beneficiary);
        f(&self.state_root);
        f(&self.transactions_root);
        f(&self.receipts_root);
        f(&self.logs_bloom.as_slice());
        f(&self.difficulty);
        f(&self.number);
        f(&self.gas_limit);
        f(&self.gas_used);
        f(&self.timestamp);
        f(&self.extra_data.as_slice());
        f(&self.mix_hash);
        f(&self.nonce);
        f(&self.base_fee_per_gas);
        f(&self.withdrawals_root);
        f(&self.blob_gas_used);
        f(&self.excess_blob_gas);
        f(&self.parent_beacon_block_root);
        f(&self.requests_hash);
    }

    /// `rlp(header)`.
    pub fn rlp(&self) -> Vec<u8> {
        let mut payload_length = 0;
        self.for_each_field(&mut |field| payload_length += field.length());
        let header = Header {
            list: true,
            payload_length,
        };
        let mut out = Vec::with_capacity(header.length_with_payload());
        header.encode(&mut out);
        self.for_each_field(&mut |field| field.encode(&mut out));
        out
    }

    /// `keccak256(rlp(header))`.
    pub fn hash(&self) -> Hash256 {
        keccak256(self.rlp())
    }
}

/// The ordered trie root of the opaque transactions (key `rlp(index)`, value the transaction
/// bytes as the payload carries them: a typed transaction's EIP-2718 envelope, a legacy one's
/// RLP list).
pub fn transactions_root(transactions: &[&[u8]]) -> Hash256 {
    alloy_trie::root::ordered_trie_root_with_encoder(transactions, |tx, buf| {
        buf.extend_from_slice(tx)
    })
}

/// EIP-4895 `withdrawals_root`: ordered trie of `rlp([index, validator_index, address, amount])`.
pub fn withdrawals_root(withdrawals: &[EngineWithdrawal]) -> Hash256 {
    alloy_trie::root::ordered_trie_root_with_encoder(withdrawals, |w, buf| {
        let fields: [&dyn Encodable; 4] = [&w.index, &w.validator_index, &w.address, &w.amount];
        let payload_length = fields.iter().map(|f| f.length()).sum();
        Header {
            list: true,
            payload_length,
        }
        .encode(buf);
        for field in fields {
            field.encode(buf);
        }
    })
}

/// EIP-7685 `requests_hash = sha256(sha256(requests_0) ++ sha256(requests_1) ++ ...)` over the
/// `request_type ++ request_data` items, skipping those with empty `request_data` (the
/// consensus `get_execution_requests_list` already leaves those out). No requests:
/// `sha256("")`.
pub fn requests_hash(requests: &[Vec<u8>]) -> Hash256 {
    let mut outer = Sha256::new();
    for request in requests.iter().filter(|r| r.len() > 1) {
        outer.update(Sha256::digest(request));
    }
    Hash256::from(<[u8; 32]>::from(outer.finalize()))
}

/// The block hash an execution client computes for a `NewPayloadRequest`'s payload.
pub fn compute_block_hash(
    payload: &ExecutionPayloadView<'_>,
    parent_beacon_block_root: Hash256,
    requests_hash: Hash256,
) -> Hash256 {
    ExecutionBlockHeader::from_payload(payload, parent_beacon_block_root, requests_hash).hash()
}
