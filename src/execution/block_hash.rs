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

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_rlp::Decodable;

    /// execution-apis `tests/chain.rlp`: blocks 1..54 of the hive test chain.
    const HIVE_CHAIN: &[u8] = include_bytes!("testdata/hive_chain.rlp");

    /// One RLP item: its full encoding and, after the header, its payload.
    struct Item<'a> {
        full: &'a [u8],
        list: bool,
        payload: &'a [u8],
    }

    fn items(mut buf: &[u8]) -> Vec<Item<'_>> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let start = buf;
            let header = Header::decode(&mut buf).expect("RLP header");
            let header_len = start.len() - buf.len();
            let (payload, rest) = buf.split_at(header.payload_length);
            out.push(Item {
                full: &start[..header_len + header.payload_length],
                list: header.list,
                payload,
            });
            buf = rest;
        }
        out
    }

    fn decode<T: Decodable>(item: &Item<'_>) -> T {
        T::decode(&mut &item.full[..]).expect("field")
    }

    struct DecodedBlock {
        header_rlp: Vec<u8>,
        header: ExecutionBlockHeader,
        transactions: Vec<Vec<u8>>,
        withdrawals: Vec<EngineWithdrawal>,
    }

    /// The post-Prague blocks of the hive chain (headers of 21 fields).
    fn prague_blocks() -> Vec<DecodedBlock> {
        let mut blocks = Vec::new();
        for block in items(HIVE_CHAIN) {
            let parts = items(block.payload);
            let fields = items(parts[0].payload);
            if fields.len() != 21 {
                continue;
            }
            let transactions = items(parts[1].payload)
                .iter()
                // Legacy transactions are RLP lists in the body; typed ones are byte strings
                // holding the EIP-2718 envelope. The payload carries both as the opaque bytes.
                .map(|tx| {
                    if tx.list {
                        tx.full.to_vec()
                    } else {
                        tx.payload.to_vec()
                    }
                })
                .collect();
            let withdrawals = items(parts[3].payload)
                .iter()
                .map(|w| {
                    let f = items(w.payload);
                    EngineWithdrawal {
                        index: decode(&f[0]),
                        validator_index: decode(&f[1]),
                        address: decode(&f[2]),
                        amount: decode(&f[3]),
                    }
                })
                .collect();
            let nonce: alloy_primitives::B64 = decode(&fields[14]);
            let header = ExecutionBlockHeader {
                parent_hash: decode(&fields[0]),
                ommers_hash: decode(&fields[1]),
                beneficiary: decode(&fields[2]),
                state_root: decode(&fields[3]),
                transactions_root: decode(&fields[4]),
                receipts_root: decode(&fields[5]),
                logs_bloom: fields[6].payload.to_vec(),
                difficulty: decode(&fields[7]),
                number: decode(&fields[8]),
                gas_limit: decode(&fields[9]),
                gas_used: decode(&fields[10]),
                timestamp: decode(&fields[11]),
                extra_data: fields[12].payload.to_vec(),
                mix_hash: decode(&fields[13]),
                nonce: nonce.0,
                base_fee_per_gas: decode(&fields[15]),
                withdrawals_root: decode(&fields[16]),
                blob_gas_used: decode(&fields[17]),
                excess_blob_gas: decode(&fields[18]),
                parent_beacon_block_root: decode(&fields[19]),
                requests_hash: decode(&fields[20]),
            };
            blocks.push(DecodedBlock {
                header_rlp: parts[0].full.to_vec(),
                header,
                transactions,
                withdrawals,
            });
        }
        blocks
    }

    fn view(block: &DecodedBlock) -> ExecutionPayloadView<'_> {
        let h = &block.header;
        ExecutionPayloadView {
            parent_hash: h.parent_hash,
            fee_recipient: h.beneficiary,
            state_root: h.state_root,
            receipts_root: h.receipts_root,
            logs_bloom: &h.logs_bloom,
            prev_randao: h.mix_hash,
            block_number: h.number,
            gas_limit: h.gas_limit,
            gas_used: h.gas_used,
            timestamp: h.timestamp,
            extra_data: &h.extra_data,
            base_fee_per_gas: h.base_fee_per_gas,
            block_hash: keccak256(&block.header_rlp),
            transactions: block.transactions.iter().map(Vec::as_slice).collect(),
            withdrawals: block.withdrawals.clone(),
            blob_gas_used: h.blob_gas_used,
            excess_blob_gas: h.excess_blob_gas,
        }
    }

    #[test]
    fn empty_constants_are_the_keccak_of_their_rlp() {
        assert_eq!(EMPTY_OMMERS_HASH, keccak256([0xc0]));
        assert_eq!(EMPTY_TRIE_ROOT, keccak256([0x80]));
        assert_eq!(transactions_root(&[]), EMPTY_TRIE_ROOT);
        assert_eq!(withdrawals_root(&[]), EMPTY_TRIE_ROOT);
    }

    #[test]
    fn requests_hash_of_nothing_is_sha256_of_nothing() {
        // EIP-7685, and the `requestsHash` of execution-apis' get-latest.io block (no requests).
        let empty = Hash256::from(<[u8; 32]>::from(Sha256::digest([])));
        assert_eq!(requests_hash(&[]), empty);
        assert_eq!(
            format!("{empty}"),
            "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Items of one byte (a type with no data) are skipped.
        assert_eq!(requests_hash(&[vec![0]]), empty);
    }

    #[test]
    fn requests_hash_is_sha256_of_item_hashes() {
        let a = vec![0u8, 1, 2, 3];
        let b = vec![2u8, 9, 9];
        let mut concat = Vec::new();
        concat.extend_from_slice(&Sha256::digest(&a));
        concat.extend_from_slice(&Sha256::digest(&b));
        let expected = Hash256::from(<[u8; 32]>::from(Sha256::digest(&concat)));
        assert_eq!(requests_hash(&[a, b]), expected);
    }

    /// Every post-Prague block of the hive chain: the header rebuilt from the payload fields
    /// (with transactions and withdrawals roots computed from the body) encodes to exactly the
    /// real header bytes, so its hash is the real block hash.
    #[test]
    fn hive_chain_prague_blocks_hash_like_their_real_headers() {
        let blocks = prague_blocks();
        assert!(blocks.len() >= 9, "{} post-Prague blocks", blocks.len());
        let mut with_transactions = 0;
        let mut with_requests = 0;
        for block in &blocks {
            let view = view(block);
            let rebuilt = ExecutionBlockHeader::from_payload(
                &view,
                block.header.parent_beacon_block_root,
                block.header.requests_hash,
            );
            assert_eq!(rebuilt, block.header, "block {}", block.header.number);
            assert_eq!(
                rebuilt.rlp(),
                block.header_rlp,
                "block {}",
                block.header.number
            );
            assert_eq!(
                compute_block_hash(
                    &view,
                    block.header.parent_beacon_block_root,
                    block.header.requests_hash
                ),
                keccak256(&block.header_rlp)
            );
            with_transactions += usize::from(!block.transactions.is_empty());
            with_requests += usize::from(block.header.requests_hash != requests_hash(&[]));
        }
        assert!(with_transactions > 3 && with_requests > 0);
        // The hashes execution-apis' eth_getBlockByNumber tests give for two of them.
        let hash_of = |number: u64| {
            let block = blocks.iter().find(|b| b.header.number == number).unwrap();
            let view = view(block);
            format!(
                "{}",
                compute_block_hash(
                    &view,
                    block.header.parent_beacon_block_root,
                    block.header.requests_hash
                )
            )
        };
        assert_eq!(
            hash_of(0x2d),
            "0xe4165d5a6e4d31469f4a9354c30bffec633a640940b40bc0bc1ae86d1b391643"
        );
        assert_eq!(
            hash_of(0x36),
            "0xd226371d0b1551adb03fb52b71f08e3e11247fe9b1af994768af8cdaa8e7dcd7"
        );
    }

    /// Withdrawals root: the Shanghai-era blocks of the hive chain carry withdrawals; their
    /// header field 16 is the root of the body's withdrawals.
    #[test]
    fn hive_chain_withdrawals_roots() {
        let mut checked = 0;
        for block in items(HIVE_CHAIN) {
            let parts = items(block.payload);
            let fields = items(parts[0].payload);
            if fields.len() < 17 || parts.len() < 4 {
                continue;
            }
            let withdrawals: Vec<EngineWithdrawal> = items(parts[3].payload)
                .iter()
                .map(|w| {
                    let f = items(w.payload);
                    EngineWithdrawal {
                        index: decode(&f[0]),
                        validator_index: decode(&f[1]),
                        address: decode(&f[2]),
                        amount: decode(&f[3]),
                    }
                })
                .collect();
            let root: Hash256 = decode(&fields[16]);
            assert_eq!(withdrawals_root(&withdrawals), root);
            checked += usize::from(!withdrawals.is_empty());
        }
        assert!(checked > 0, "no block with withdrawals");
    }

    #[test]
    fn any_field_changes_the_hash() {
        let blocks = prague_blocks();
        let block = blocks.iter().find(|b| !b.transactions.is_empty()).unwrap();
        let view = view(block);
        let root = block.header.parent_beacon_block_root;
        let requests = block.header.requests_hash;
        let good = compute_block_hash(&view, root, requests);
        let mut other = view.clone();
        other.gas_used += 1;
        assert_ne!(compute_block_hash(&other, root, requests), good);
        let mut other = view.clone();
        other.transactions.pop();
        assert_ne!(compute_block_hash(&other, root, requests), good);
        assert_ne!(compute_block_hash(&view, Hash256::ZERO, requests), good);
        assert_ne!(compute_block_hash(&view, root, requests_hash(&[])), good);
    }
}
