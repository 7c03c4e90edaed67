//! `ember mock-el`: a mock execution client for devnets.
//!
//! A real HTTP server (tiny_http) speaking the Engine API methods Ember calls, behind the same
//! JWT authentication as a real execution client, so the node under test runs its real
//! [`EngineClient`](super::EngineClient) code path. It keeps no state trie and runs no
//! transactions: it tracks block *headers* and builds valid **empty** payloads.
//!
//! - `engine_forkchoiceUpdatedV3` with attributes on a known head starts a "build": the payload
//!   is made at once (number = parent + 1, the parent's gas limit, the EIP-1559 base fee of an
//!   empty child, the attributes' timestamp, prev_randao, fee recipient, withdrawals and parent
//!   beacon block root, no transactions, no blobs, no requests) and its real block hash
//!   ([`super::block_hash`]) computed. The `payloadId` is derived from the head and the
//!   attributes, so a repeated call returns the same id and payload. The built block becomes a
//!   known header at once (a real execution client knows the blocks it builds).
//! - `engine_getPayloadV5` returns it with an empty `BlobsBundleV2` and no execution requests.
//! - `engine_newPayloadV4` recomputes the block hash from the payload, the parent beacon block
//!   root and the requests (a mismatch is `INVALID` with a null `latestValidHash`, shanghai.md:
//!   from V2 on, `INVALID_BLOCK_HASH` "is supplanted by `INVALID`"), checks the execution
//!   requests' shape (`-32602` per prague.md), and answers `VALID` when the parent is known.
//!   Transactions are not executed (the mock has no state), so a payload with transactions is
//!   judged on its hash alone.
//! - `engine_getBlobsV2`: the mock has no blob pool, so `null` (osaka.md: "in case of any
//!   missing blobs"), `[]` for an empty request.
//!
//! **Unknown parents.** The genesis execution block is known from the start: the devnet's
//! interop genesis (`INTEROP_ETH1_BLOCK_HASH`, fields from `genesis_execution_payload_header`,
//! timestamp from `--genesis-time`). A head the mock has never seen gets the spec's answer,
//! `SYNCING` without a payload id — not an invented parent, because building on a header the
//! mock does not have would mean guessing its number, gas limit and base fee, i.e. producing an
//! invalid chain that merely looks valid to the consensus layer. Instead the known headers are
//! **persisted** in `--datadir` (`known_blocks.jsonl`, appended and fsynced before the answer
//! that makes a block known is sent), so a mock EL restarted on the same datadir, as a resumed
//! devnet does, knows the node's head and goes on building on it. A `newPayload` whose parent is
//! unknown is still hash-checked and, if consistent, remembered (answer `SYNCING`), so the chain
//! heals as soon as the node sends its blocks again.
//!
//! **Bounds.** Known headers: [`MAX_KNOWN_BLOCKS`] in memory (oldest inserted evicted first; the
//! genesis block is pinned) and at most twice that many lines on disk (the log is compacted
//! when it reaches that). Built payloads: [`MAX_PAYLOADS`] (oldest evicted; a `getPayload` for
//! an evicted id gets `-38001`). Request bodies: [`MAX_REQUEST_BYTES`]. `engine_getBlobsV2`:
//! [`MAX_BLOBS_REQUEST`] hashes (`-38004` beyond). Worker threads: [`WORKER_THREADS`].
//! Altogether a fixed ~2 MiB (headers ~200 B each, built payloads at most ~3 KiB each as they
//! hold no transactions and at most 16 withdrawals) plus one request body per worker, which is why the mock EL, a separate test
//! process, has constant bounds instead of a share of `--memory-budget`.

use super::block_hash::{compute_block_hash, requests_hash, EMPTY_TRIE_ROOT};
use super::codes;
use super::json::*;
use super::jwt::{unix_now, JwtSecret};
use super::methods;
use crate::consensus::primitives::Hash256;
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Known block headers kept (in memory; the on-disk log holds at most twice as many lines).
/// 8,192 headers are ~4.5 hours of 2-second devnet slots, far deeper than any head or
/// finalized block a devnet node refers to; each is ~200 bytes (≈1.6 MiB in all).
pub const MAX_KNOWN_BLOCKS: usize = 8192;
/// Built payloads kept for `engine_getPayload`. The node asks for a payload within a slot of
/// starting its build; 64 covers two mainnet epochs of one build per slot.
pub const MAX_PAYLOADS: usize = 64;
/// Largest request body accepted. An `engine_newPayloadV4` with a 60M-gas block of calldata is
/// ~4 MB of transactions, ~8 MB as hex; 16 MiB leaves room and bounds the worst case.
pub const MAX_REQUEST_BYTES: u64 = 16 * 1024 * 1024;
/// osaka.md: a server MUST support requests of at least 128 versioned hashes; more is `-38004`.
pub const MAX_BLOBS_REQUEST: usize = 128;
/// Threads answering requests. Two, so one slow or stalled client cannot stop the other; the
/// chain state is behind one mutex anyway.
pub const WORKER_THREADS: usize = 2;
/// Withdrawals accepted in payload attributes: mainnet's `MAX_WITHDRAWALS_PER_PAYLOAD`, the
/// larger of the two presets (a payload with more is invalid for the consensus layer anyway).
/// Keeps a built payload at a few KiB.
const MAX_ATTRIBUTE_WITHDRAWALS: usize = 16;
/// EIP-1559 `ELASTICITY_MULTIPLIER`.
const ELASTICITY_MULTIPLIER: u64 = 2;
/// EIP-1559 `BASE_FEE_MAX_CHANGE_DENOMINATOR`.
const BASE_FEE_MAX_CHANGE_DENOMINATOR: u64 = 8;
/// EIP-7691 Prague `TARGET_BLOB_GAS_PER_BLOCK` (6 blobs × 2^17 gas): the target the excess
/// blob gas decays by. The mock never includes blobs, so from a zero genesis the excess stays 0.
const TARGET_BLOB_GAS_PER_BLOCK: u64 = 786_432;
/// The `extraData` of the mock's payloads.
const EXTRA_DATA: &[u8] = b"ember mock-el";
/// The log of known headers in `--datadir`.
const KNOWN_BLOCKS_FILE: &str = "known_blocks.jsonl";

/// `ember mock-el` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct MockElArgs {
    /// The shared JWT secret (hex, 32 bytes, optional 0x); created with a fresh secret if the
    /// file does not exist.
    #[arg(long, value_name = "FILE")]
    pub jwt_secret: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
    /// 0 picks a free port; the address is printed on stdout either way.
    #[arg(long, default_value_t = 8551)]
    pub port: u16,
    /// Where the known block headers are kept, so a restarted mock EL goes on building on the
    /// node's head. Without it the chain lives in memory only.
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Timestamp of the genesis execution block (the devnet's genesis time; default 0). Only
    /// used to check that a child's timestamp is later.
    #[arg(long, default_value_t = 0)]
    pub genesis_time: u64,
}

/// Why the mock EL could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockElError {
    #[error(transparent)]
    Jwt(#[from] super::jwt::JwtError),
    #[error("binding {address}: {reason}")]
    Bind { address: SocketAddr, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the mock knows of a block: the header fields a child's header depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownBlock {
    pub hash: Hash256,
    pub parent_hash: Hash256,
    pub number: u64,
    pub timestamp: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub base_fee_per_gas: U256,
    pub blob_gas_used: u64,
    pub excess_blob_gas: u64,
    pub state_root: Hash256,
}

impl KnownBlock {
    fn of_payload(payload: &JsonExecutionPayload) -> Self {
        KnownBlock {
            hash: payload.block_hash,
            parent_hash: payload.parent_hash,
            number: payload.block_number,
            timestamp: payload.timestamp,
            gas_limit: payload.gas_limit,
            gas_used: payload.gas_used,
            base_fee_per_gas: payload.base_fee_per_gas,
            blob_gas_used: payload.blob_gas_used,
            excess_blob_gas: payload.excess_blob_gas,
            state_root: payload.state_root,
        }
    }

    /// The devnet's genesis execution block (`genesis_execution_payload_header`, identical in
    /// both presets).
    pub fn interop_genesis(genesis_time: u64) -> Self {
        let header =
            crate::consensus::minimal::transition::genesis::genesis_execution_payload_header(
                genesis_time,
            );
        KnownBlock {
            hash: header.block_hash,
            parent_hash: header.parent_hash,
            number: header.block_number,
            timestamp: header.timestamp,
            gas_limit: header.gas_limit,
            gas_used: header.gas_used,
            base_fee_per_gas: header.base_fee_per_gas,
            blob_gas_used: header.blob_gas_used,
            excess_blob_gas: header.excess_blob_gas,
            state_root: header.state_root,
        }
    }
}

/// EIP-1559 `base_fee_per_gas` of a child of `parent`.
pub fn next_base_fee(parent: &KnownBlock) -> U256 {
    let target = parent.gas_limit / ELASTICITY_MULTIPLIER;
    let base = parent.base_fee_per_gas;
    if target == 0 || parent.gas_used == target {
        return base;
    }
    let denominator =
        U256::from(target).saturating_mul(U256::from(BASE_FEE_MAX_CHANGE_DENOMINATOR));
    if parent.gas_used > target {
        let delta = base.saturating_mul(U256::from(parent.gas_used - target)) / denominator;
        base.saturating_add(delta.max(U256::from(1)))
    } else {
        let delta = base.saturating_mul(U256::from(target - parent.gas_used)) / denominator;
        base.saturating_sub(delta)
    }
}

/// EIP-4844 `calc_excess_blob_gas` with Prague's target (see [`TARGET_BLOB_GAS_PER_BLOCK`]).
fn next_excess_blob_gas(parent: &KnownBlock) -> u64 {
    parent
        .excess_blob_gas
        .saturating_add(parent.blob_gas_used)
        .saturating_sub(TARGET_BLOB_GAS_PER_BLOCK)
}

/// A built payload awaiting `engine_getPayload`.
#[derive(Debug, Clone)]
struct BuiltPayload {
    payload: JsonExecutionPayload,
}

/// The append-only header log in `--datadir`.
struct BlockLog {
    path: PathBuf,
    file: std::fs::File,
    lines: usize,
}

/// The mock's chain: known headers and built payloads, both bounded.
struct Chain {
    genesis: KnownBlock,
    blocks: HashMap<Hash256, KnownBlock>,
    /// Insertion order of `blocks`, for eviction.
    order: VecDeque<Hash256>,
    payloads: HashMap<PayloadId, BuiltPayload>,
    payload_order: VecDeque<PayloadId>,
    head: Hash256,
    log: Option<BlockLog>,
}

impl Chain {
    fn new(genesis: KnownBlock) -> Self {
        Chain {
            head: genesis.hash,
            genesis,
            blocks: HashMap::new(),
            order: VecDeque::new(),
            payloads: HashMap::new(),
            payload_order: VecDeque::new(),
            log: None,
        }
    }

    /// Loads the header log of `datadir` (a torn last line from a crash is skipped) and keeps
    /// it open for appending.
    fn open_log(&mut self, datadir: &Path) -> Result<(), MockElError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MockElError::Io { path, source }
        };
        std::fs::create_dir_all(datadir).map_err(io(datadir))?;
        let path = datadir.join(KNOWN_BLOCKS_FILE);
        let mut lines = 0;
        if path.exists() {
            let file = std::fs::File::open(&path).map_err(io(&path))?;
            for line in std::io::BufReader::new(file).lines() {
                let line = line.map_err(io(&path))?;
                lines += 1;
                match serde_json::from_str::<KnownBlock>(&line) {
                    Ok(block) => self.insert_in_memory(block),
                    Err(e) => tracing::warn!(%e, "skipping a malformed line of {}", path.display()),
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        self.log = Some(BlockLog { path, file, lines });
        Ok(())
    }

    fn get(&self, hash: &Hash256) -> Option<&KnownBlock> {
        if *hash == self.genesis.hash {
            Some(&self.genesis)
        } else {
            self.blocks.get(hash)
        }
    }

    fn insert_in_memory(&mut self, block: KnownBlock) {
        if block.hash == self.genesis.hash {
            return;
        }
        if self.blocks.insert(block.hash, block.clone()).is_none() {
            self.order.push_back(block.hash);
        }
        while self.order.len() > MAX_KNOWN_BLOCKS {
            if let Some(old) = self.order.pop_front() {
                self.blocks.remove(&old);
            }
        }
    }

    /// Makes `block` known, durably when there is a datadir (before the answer that relies on
    /// it goes out). A disk error is logged and the block kept in memory: the devnet goes on,
    /// only a restart would forget it.
    fn insert(&mut self, block: KnownBlock) {
        if self.get(&block.hash).is_some() {
            return;
        }
        self.insert_in_memory(block.clone());
        if let Err(e) = self.persist(&block) {
            tracing::error!(%e, "cannot persist a known block");
        }
    }

    fn persist(&mut self, block: &KnownBlock) -> std::io::Result<()> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(block).map_err(std::io::Error::other)?;
        line.push(b'\n');
        log.file.write_all(&line)?;
        log.file.sync_data()?;
        log.lines += 1;
        if log.lines >= 2 * MAX_KNOWN_BLOCKS {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the log with the blocks in memory (temporary file, fsync, rename).
    fn compact(&mut self) -> std::io::Result<()> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let tmp = log.path.with_extension("jsonl.tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for hash in &self.order {
            if let Some(block) = self.blocks.get(hash) {
                serde_json::to_writer(&mut out, block).map_err(std::io::Error::other)?;
                out.write_all(b"\n")?;
            }
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &log.path)?;
        log.file = std::fs::OpenOptions::new().append(true).open(&log.path)?;
        log.lines = self.order.len();
        Ok(())
    }

    fn insert_payload(&mut self, id: PayloadId, payload: BuiltPayload) {
        if self.payloads.insert(id, payload).is_none() {
            self.payload_order.push_back(id);
        }
        while self.payload_order.len() > MAX_PAYLOADS {
            if let Some(old) = self.payload_order.pop_front() {
                self.payloads.remove(&old);
            }
        }
    }
}

/// A JSON-RPC error answer (code per execution-apis `common.md#errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    fn invalid_params(message: impl std::fmt::Display) -> Self {
        RpcError::new(codes::INVALID_PARAMS, format!("Invalid params: {message}"))
    }
}

/// Decodes positional parameter `index` (a missing one reads as `null`).
fn param<T: for<'de> Deserialize<'de>>(params: &[Value], index: usize) -> Result<T, RpcError> {
    let value = params.get(index).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value)
        .map_err(|e| RpcError::invalid_params(format!("parameter {index}: {e}")))
}

fn expect_params(params: &[Value], min: usize, max: usize) -> Result<(), RpcError> {
    if params.len() < min || params.len() > max {
        return Err(RpcError::invalid_params(format!(
            "expected {min}..={max} parameters, got {}",
            params.len()
        )));
    }
    Ok(())
}

/// The Engine API state machine, independent of HTTP (unit-testable).
pub struct MockEngine {
    chain: Mutex<Chain>,
}

impl MockEngine {
    /// A mock whose genesis is the devnet's interop genesis at `genesis_time`, persisting its
    /// known headers in `datadir` if given.
    pub fn new(genesis_time: u64, datadir: Option<&Path>) -> Result<Self, MockElError> {
        let mut chain = Chain::new(KnownBlock::interop_genesis(genesis_time));
        if let Some(datadir) = datadir {
            chain.open_log(datadir)?;
        }
        Ok(MockEngine {
            chain: Mutex::new(chain),
        })
    }

    /// How many headers the mock knows besides genesis.
    pub fn known_blocks(&self) -> usize {
        self.lock().blocks.len()
    }

    /// The head of the last `engine_forkchoiceUpdated` on a known block.
    pub fn head(&self) -> Hash256 {
        self.lock().head
    }

    pub fn is_known(&self, hash: &Hash256) -> bool {
        self.lock().get(hash).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Chain> {
        // A panic while holding the lock cannot leave the chain half-updated in a way that
        // matters to a mock (each update is one insert), so a poisoned lock is taken over.
        self.chain.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers one JSON-RPC call: `Ok(result)` or the error object.
    fn dispatch(&self, method: &str, params: &[Value]) -> Result<Value, RpcError> {
        match method {
            methods::EXCHANGE_CAPABILITIES => {
                expect_params(params, 1, 1)?;
                let _theirs: Vec<String> = param(params, 0)?;
                Ok(json!(methods::SUPPORTED))
            }
            methods::NEW_PAYLOAD_V4 => {
                expect_params(params, 4, 4)?;
                let payload: JsonExecutionPayload = param(params, 0)?;
                let versioned_hashes: Vec<Hash256> = param(params, 1)?;
                let parent_beacon_block_root: Hash256 = param(params, 2)?;
                let requests: Vec<String> = param(params, 3)?;
                let requests = requests
                    .iter()
                    .map(|r| data::decode(r))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(RpcError::invalid_params)?;
                to_value(&self.new_payload(
                    &payload,
                    &versioned_hashes,
                    parent_beacon_block_root,
                    &requests,
                )?)
            }
            methods::FORKCHOICE_UPDATED_V3 => {
                expect_params(params, 1, 2)?;
                let state: ForkchoiceState = param(params, 0)?;
                let attributes: Option<PayloadAttributes> = param(params, 1)?;
                to_value(&self.forkchoice_updated(&state, attributes.as_ref())?)
            }
            methods::GET_PAYLOAD_V5 => {
                expect_params(params, 1, 1)?;
                let id: PayloadId = param(params, 0)?;
                to_value(&self.get_payload(&id)?)
            }
            methods::GET_BLOBS_V2 => {
                expect_params(params, 1, 1)?;
                let hashes: Vec<Hash256> = param(params, 0)?;
                if hashes.len() > MAX_BLOBS_REQUEST {
                    return Err(RpcError::new(
                        codes::TOO_LARGE_REQUEST,
                        format!(
                            "Too large request: {} versioned hashes (at most {MAX_BLOBS_REQUEST})",
                            hashes.len()
                        ),
                    ));
                }
                // No blob pool: every non-empty request misses a blob.
                Ok(if hashes.is_empty() {
                    json!([])
                } else {
                    Value::Null
                })
            }
            other => Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("Method not found: {other}"),
            )),
        }
    }

    /// `engine_newPayloadV4`.
    pub fn new_payload(
        &self,
        payload: &JsonExecutionPayload,
        versioned_hashes: &[Hash256],
        parent_beacon_block_root: Hash256,
        execution_requests: &[Vec<u8>],
    ) -> Result<PayloadStatus, RpcError> {
        // prague.md: ascending types, more than one byte each, no type twice: else -32602.
        let mut previous: Option<u8> = None;
        for request in execution_requests {
            match request.split_first() {
                Some((&request_type, data)) if !data.is_empty() => {
                    if previous.is_some_and(|p| p >= request_type) {
                        return Err(RpcError::invalid_params(
                            "executionRequests out of order or repeated",
                        ));
                    }
                    previous = Some(request_type);
                }
                _ => {
                    return Err(RpcError::invalid_params(
                        "an executionRequests element is 1 byte or shorter",
                    ))
                }
            }
        }
        if payload.logs_bloom.len() != 256 {
            return Err(RpcError::invalid_params("logsBloom is not 256 bytes"));
        }
        let computed = compute_block_hash(
            &payload.view(),
            parent_beacon_block_root,
            requests_hash(execution_requests),
        );
        if computed != payload.block_hash {
            tracing::warn!(
                number = payload.block_number,
                claimed = %payload.block_hash,
                %computed,
                "newPayload: block hash mismatch"
            );
            return Ok(PayloadStatus::invalid(
                None,
                format!(
                    "block hash mismatch: payload has {}, its header hashes to {computed}",
                    payload.block_hash
                ),
            ));
        }
        let mut chain = self.lock();
        let parent = chain.get(&payload.parent_hash).cloned();
        let latest_valid = parent.as_ref().map(|p| p.hash);
        if payload.extra_data.len() > 32 {
            return Ok(PayloadStatus::invalid(
                latest_valid,
                "extraData longer than 32 bytes".into(),
            ));
        }
        if payload.transactions.is_empty() && !versioned_hashes.is_empty() {
            return Ok(PayloadStatus::invalid(
                latest_valid,
                "expected blob versioned hashes but the payload has no transactions".into(),
            ));
        }
        let Some(parent) = parent else {
            // Hash-consistent but the parent is unknown: remember it (its children become
            // buildable) and answer SYNCING, the spec's "requisite data missing".
            tracing::info!(
                number = payload.block_number,
                hash = %payload.block_hash,
                "newPayload: unknown parent {}",
                payload.parent_hash
            );
            chain.insert(KnownBlock::of_payload(payload));
            return Ok(PayloadStatus::syncing());
        };
        if Some(payload.block_number) != parent.number.checked_add(1)
            || payload.timestamp <= parent.timestamp
        {
            return Ok(PayloadStatus::invalid(
                Some(parent.hash),
                format!(
                    "block {} at {} does not follow parent {} at {}",
                    payload.block_number, payload.timestamp, parent.number, parent.timestamp
                ),
            ));
        }
        chain.insert(KnownBlock::of_payload(payload));
        tracing::debug!(number = payload.block_number, hash = %payload.block_hash, "newPayload: VALID");
        Ok(PayloadStatus::valid(payload.block_hash))
    }

    /// `engine_forkchoiceUpdatedV3`.
    pub fn forkchoice_updated(
        &self,
        state: &ForkchoiceState,
        attributes: Option<&PayloadAttributes>,
    ) -> Result<ForkchoiceUpdatedResponse, RpcError> {
        let mut chain = self.lock();
        let Some(head) = chain.get(&state.head_block_hash).cloned() else {
            tracing::warn!(head = %state.head_block_hash, "forkchoiceUpdated: unknown head, SYNCING");
            return Ok(ForkchoiceUpdatedResponse {
                payload_status: PayloadStatus::syncing(),
                payload_id: None,
            });
        };
        chain.head = head.hash;
        let payload_id = match attributes {
            None => None,
            Some(attributes) => {
                let (id, built) = build_payload(&head, attributes)?;
                tracing::debug!(
                    number = built.block_number,
                    hash = %built.block_hash,
                    id = %id,
                    "built an empty payload"
                );
                chain.insert(KnownBlock::of_payload(&built));
                chain.insert_payload(id, BuiltPayload { payload: built });
                Some(id)
            }
        };
        Ok(ForkchoiceUpdatedResponse {
            payload_status: PayloadStatus::valid(head.hash),
            payload_id,
        })
    }

    /// `engine_getPayloadV5`.
    pub fn get_payload(&self, id: &PayloadId) -> Result<GetPayloadResponse, RpcError> {
        let chain = self.lock();
        let built = chain
            .payloads
            .get(id)
            .ok_or_else(|| RpcError::new(codes::UNKNOWN_PAYLOAD, "Unknown payload"))?;
        Ok(GetPayloadResponse {
            execution_payload: built.payload.clone(),
            block_value: U256::ZERO,
            blobs_bundle: BlobsBundleV2::default(),
            should_override_builder: false,
            execution_requests: Vec::new(),
        })
    }
}

/// Builds the empty child of `parent` the attributes describe, and its payload id.
fn build_payload(
    parent: &KnownBlock,
    attributes: &PayloadAttributes,
) -> Result<(PayloadId, JsonExecutionPayload), RpcError> {
    let invalid = |message: String| {
        RpcError::new(
            codes::INVALID_PAYLOAD_ATTRIBUTES,
            format!("Invalid payload attributes: {message}"),
        )
    };
    // paris.md: the timestamp must be greater than the head's.
    if attributes.timestamp <= parent.timestamp {
        return Err(invalid(format!(
            "timestamp {} is not after the head's {}",
            attributes.timestamp, parent.timestamp
        )));
    }
    if attributes.withdrawals.len() > MAX_ATTRIBUTE_WITHDRAWALS {
        return Err(invalid("too many withdrawals".into()));
    }
    let number = parent
        .number
        .checked_add(1)
        .ok_or_else(|| invalid("the head's block number is the largest".into()))?;
    let mut payload = JsonExecutionPayload {
        parent_hash: parent.hash,
        fee_recipient: attributes.suggested_fee_recipient,
        // No transactions are run; the withdrawals' balance changes are not tracked either.
        state_root: parent.state_root,
        receipts_root: EMPTY_TRIE_ROOT,
        logs_bloom: vec![0; 256],
        prev_randao: attributes.prev_randao,
        block_number: number,
        gas_limit: parent.gas_limit,
        gas_used: 0,
        timestamp: attributes.timestamp,
        extra_data: EXTRA_DATA.to_vec(),
        base_fee_per_gas: next_base_fee(parent),
        block_hash: Hash256::ZERO,
        transactions: Vec::new(),
        withdrawals: attributes.withdrawals.clone(),
        blob_gas_used: 0,
        excess_blob_gas: next_excess_blob_gas(parent),
    };
    payload.block_hash = compute_block_hash(
        &payload.view(),
        attributes.parent_beacon_block_root,
        requests_hash(&[]),
    );
    // The id names the build: the same head and attributes give the same id (and payload).
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut hasher, parent.hash);
    sha2::Digest::update(
        &mut hasher,
        serde_json::to_vec(attributes).unwrap_or_default(),
    );
    let digest = sha2::Digest::finalize(hasher);
    let id = PayloadId::from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    Ok((id, payload))
}

/// A result as JSON (serializing the mock's own types cannot fail; if it did, -32603).
fn to_value<T: Serialize>(value: &T) -> Result<Value, RpcError> {
    serde_json::to_value(value)
        .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, format!("Internal error: {e}")))
}

/// A bound mock EL, not yet serving.
pub struct MockEl {
    server: Arc<tiny_http::Server>,
    engine: Arc<MockEngine>,
    secret: JwtSecret,
}

impl MockEl {
    /// Binds `address:port` (port 0: a free one) with a genesis at `genesis_time` and the
    /// known headers of `datadir`.
    pub fn bind(
        address: SocketAddr,
        secret: JwtSecret,
        genesis_time: u64,
        datadir: Option<&Path>,
    ) -> Result<Self, MockElError> {
        let engine = Arc::new(MockEngine::new(genesis_time, datadir)?);
        let server = tiny_http::Server::http(address).map_err(|e| MockElError::Bind {
            address,
            reason: e.to_string(),
        })?;
        Ok(MockEl {
            server: Arc::new(server),
            engine,
            secret,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    pub fn engine(&self) -> &Arc<MockEngine> {
        &self.engine
    }

    /// Serves on [`WORKER_THREADS`] threads until the process ends.
    pub fn serve(self) {
        let workers: Vec<_> = (0..WORKER_THREADS)
            .map(|i| {
                let server = Arc::clone(&self.server);
                let engine = Arc::clone(&self.engine);
                let secret = self.secret.clone();
                std::thread::Builder::new()
                    .name(format!("mock-el-{i}"))
                    .spawn(move || {
                        for request in server.incoming_requests() {
                            handle(&engine, &secret, request);
                        }
                    })
            })
            .collect();
        for worker in workers {
            match worker {
                Ok(handle) => {
                    let _ = handle.join();
                }
                Err(e) => tracing::error!(%e, "cannot start a mock EL worker thread"),
            }
        }
    }
}

/// Runs `ember mock-el` until the process is killed.
pub fn run(args: MockElArgs) -> Result<(), MockElError> {
    let secret = JwtSecret::load_or_generate(&args.jwt_secret)?;
    let address = SocketAddr::new(args.address, args.port);
    let mock = MockEl::bind(address, secret, args.genesis_time, args.datadir.as_deref())?;
    let local = mock.local_addr().unwrap_or(address);
    tracing::info!(
        %local,
        known_blocks = mock.engine().known_blocks(),
        datadir = ?args.datadir,
        "mock EL serving the Engine API"
    );
    // The one stdout line: tests and the devnet supervisor read the address from it.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "mock-el listening on http://{local}");
    let _ = stdout.flush();
    drop(stdout);
    mock.serve();
    Ok(())
}

fn json_response(status: u16, body: &Value) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = tiny_http::Response::from_data(bytes).with_status_code(status);
    if let Ok(header) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
        response.add_header(header);
    }
    response
}

fn error_body(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// One HTTP request: JWT check, body read (bounded), JSON-RPC dispatch.
fn handle(engine: &MockEngine, secret: &JwtSecret, mut request: tiny_http::Request) {
    // No request should panic the mock (every input path returns an error object); should one
    // do so anyway, the worker answers 500 and keeps serving instead of dying with it.
    let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        respond(engine, secret, &mut request)
    }))
    .unwrap_or_else(|_| {
        tracing::error!("mock EL: a request handler panicked");
        json_response(
            500,
            &error_body(Value::Null, codes::INTERNAL_ERROR, "Internal error"),
        )
    });
    if let Err(e) = request.respond(response) {
        tracing::debug!(%e, "mock EL: the client went away before the answer");
    }
}

fn respond(
    engine: &MockEngine,
    secret: &JwtSecret,
    request: &mut tiny_http::Request,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    if *request.method() != tiny_http::Method::Post {
        return json_response(
            405,
            &error_body(Value::Null, codes::INVALID_REQUEST, "only POST is served"),
        );
    }
    // authentication.md: a missing, malformed, badly signed or stale token is a 401.
    let token = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_owned());
    // RFC 6750 / 9110: the scheme name is case-insensitive.
    let bearer = token.as_deref().and_then(|t| {
        let (scheme, token) = t.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(token)
    });
    let verdict = match bearer {
        None => Err("missing bearer token".to_string()),
        Some(token) => secret
            .verify(token.trim(), unix_now())
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    if let Err(reason) = verdict {
        tracing::warn!(%reason, "mock EL: unauthorized request");
        return json_response(
            401,
            &error_body(
                Value::Null,
                codes::SERVER_ERROR,
                &format!("unauthorized: {reason}"),
            ),
        );
    }
    if request
        .body_length()
        .is_some_and(|len| len as u64 > MAX_REQUEST_BYTES)
    {
        return json_response(
            413,
            &error_body(
                Value::Null,
                codes::INVALID_REQUEST,
                "request body too large",
            ),
        );
    }
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_end(&mut body);
    if read.is_err() {
        return json_response(
            400,
            &error_body(Value::Null, codes::PARSE_ERROR, "cannot read the body"),
        );
    }
    if body.len() as u64 > MAX_REQUEST_BYTES {
        return json_response(
            413,
            &error_body(
                Value::Null,
                codes::INVALID_REQUEST,
                "request body too large",
            ),
        );
    }
    json_response(200, &answer(engine, &body))
}

/// The JSON-RPC answer to a request body (errors as JSON-RPC error objects, HTTP 200).
pub fn answer(engine: &MockEngine, body: &[u8]) -> Value {
    let request: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            return error_body(
                Value::Null,
                codes::PARSE_ERROR,
                &format!("Parse error: {e}"),
            )
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error_body(id, codes::INVALID_REQUEST, "Invalid Request: no method");
    };
    let params = match request.get("params") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(params)) => params.as_slice(),
        Some(_) => {
            return error_body(
                id,
                codes::INVALID_PARAMS,
                "Invalid params: params must be an array",
            )
        }
    };
    match engine.dispatch(method, params) {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => {
            tracing::debug!(method, code = error.code, message = %error.message, "mock EL: error answer");
            error_body(id, error.code, &error.message)
        }
    }
}

/// The known-blocks log file of a datadir (for tests and operators).
pub fn known_blocks_path(datadir: &Path) -> PathBuf {
    datadir.join(KNOWN_BLOCKS_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::primitives::ExecutionAddress;

    const GENESIS_TIME: u64 = 1_000;

    fn genesis_hash() -> Hash256 {
        KnownBlock::interop_genesis(GENESIS_TIME).hash
    }

    fn state(head: Hash256) -> ForkchoiceState {
        ForkchoiceState {
            head_block_hash: head,
            safe_block_hash: head,
            finalized_block_hash: Hash256::ZERO,
        }
    }

    fn attributes(timestamp: u64) -> PayloadAttributes {
        PayloadAttributes {
            timestamp,
            prev_randao: Hash256::repeat_byte(7),
            suggested_fee_recipient: ExecutionAddress::repeat_byte(0xfe),
            withdrawals: vec![JsonWithdrawal {
                index: 3,
                validator_index: 9,
                address: ExecutionAddress::repeat_byte(0x11),
                amount: 32_000_000_000,
            }],
            parent_beacon_block_root: Hash256::repeat_byte(0xbb),
        }
    }

    /// fcU with attributes on `head`, then getPayload.
    fn build(engine: &MockEngine, head: Hash256, timestamp: u64) -> JsonExecutionPayload {
        let response = engine
            .forkchoice_updated(&state(head), Some(&attributes(timestamp)))
            .unwrap();
        assert_eq!(response.payload_status, PayloadStatus::valid(head));
        let id = response.payload_id.expect("a payload id");
        engine.get_payload(&id).unwrap().execution_payload
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ember-mock-el-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn base_fee_follows_eip1559() {
        let mut parent = KnownBlock::interop_genesis(0);
        assert_eq!(parent.gas_limit, 36_000_000);
        assert_eq!(parent.base_fee_per_gas, U256::from(1_000_000_000u64));
        // Empty parent: -1/8.
        assert_eq!(next_base_fee(&parent), U256::from(875_000_000u64));
        // At target: unchanged; full: +1/8; just above target: at least +1.
        parent.gas_used = 18_000_000;
        assert_eq!(next_base_fee(&parent), U256::from(1_000_000_000u64));
        parent.gas_used = 36_000_000;
        assert_eq!(next_base_fee(&parent), U256::from(1_125_000_000u64));
        parent.base_fee_per_gas = U256::from(7);
        parent.gas_used = 18_000_001;
        assert_eq!(next_base_fee(&parent), U256::from(8));
        // Empty parents floor at 7 wei: 7 - 7/8 (= 0) stays 7.
        parent.gas_used = 0;
        assert_eq!(next_base_fee(&parent), U256::from(7));
        // A zero gas limit does not divide by zero.
        parent.gas_limit = 1;
        assert_eq!(next_base_fee(&parent), U256::from(7));
    }

    #[test]
    fn builds_and_validates_a_chain_of_empty_payloads() {
        let engine = MockEngine::new(GENESIS_TIME, None).unwrap();
        let genesis = KnownBlock::interop_genesis(GENESIS_TIME);
        let one = build(&engine, genesis.hash, GENESIS_TIME + 12);
        assert_eq!(one.parent_hash, genesis.hash);
        assert_eq!(one.block_number, 1);
        assert_eq!(one.timestamp, GENESIS_TIME + 12);
        assert_eq!(one.prev_randao, Hash256::repeat_byte(7));
        assert_eq!(one.fee_recipient, ExecutionAddress::repeat_byte(0xfe));
        assert_eq!(one.withdrawals, attributes(0).withdrawals);
        assert_eq!(one.gas_limit, genesis.gas_limit);
        assert_eq!(one.base_fee_per_gas, next_base_fee(&genesis));
        assert!(one.transactions.is_empty());
        assert_eq!(
            one.block_hash,
            compute_block_hash(&one.view(), Hash256::repeat_byte(0xbb), requests_hash(&[]))
        );
        // The same fcU again: the same id and payload.
        let again = build(&engine, genesis.hash, GENESIS_TIME + 12);
        assert_eq!(again, one);
        let status = engine
            .new_payload(&one, &[], Hash256::repeat_byte(0xbb), &[])
            .unwrap();
        assert_eq!(status, PayloadStatus::valid(one.block_hash));
        let two = build(&engine, one.block_hash, GENESIS_TIME + 24);
        assert_eq!(engine.head(), one.block_hash);
        assert_eq!(two.block_number, 2);
        assert_eq!(two.parent_hash, one.block_hash);
        assert_eq!(
            two.base_fee_per_gas,
            U256::from(765_625_000u64),
            "two empty blocks: 1 gwei × (7/8)²"
        );
        let status = engine
            .new_payload(&two, &[], Hash256::repeat_byte(0xbb), &[])
            .unwrap();
        assert_eq!(status.status, PayloadStatusKind::Valid);
    }

    #[test]
    fn new_payload_rejects_what_does_not_hash() {
        let engine = MockEngine::new(GENESIS_TIME, None).unwrap();
        let one = build(&engine, genesis_hash(), GENESIS_TIME + 12);
        let root = Hash256::repeat_byte(0xbb);
        // Tampered field, wrong beacon root, requests that were not in the header.
        let mut tampered = one.clone();
        tampered.gas_used = 1;
        for (payload, beacon_root, requests) in [
            (&tampered, root, vec![]),
            (&one, Hash256::ZERO, vec![]),
            (&one, root, vec![vec![0u8, 1, 2]]),
        ] {
            let status = engine
                .new_payload(payload, &[], beacon_root, &requests)
                .unwrap();
            assert_eq!(status.status, PayloadStatusKind::Invalid);
            assert_eq!(status.latest_valid_hash, None);
            assert!(status
                .validation_error
                .unwrap()
                .contains("block hash mismatch"));
        }
        // Blob hashes without transactions.
        let status = engine
            .new_payload(&one, &[Hash256::repeat_byte(1)], root, &[])
            .unwrap();
        assert_eq!(status.status, PayloadStatusKind::Invalid);
        assert_eq!(status.latest_valid_hash, Some(genesis_hash()));
        // Malformed requests: -32602.
        for requests in [
            vec![vec![0u8]],
            vec![vec![1u8, 1], vec![0u8, 1]],
            vec![vec![1u8, 1], vec![1u8, 1]],
        ] {
            let error = engine.new_payload(&one, &[], root, &requests).unwrap_err();
            assert_eq!(error.code, codes::INVALID_PARAMS);
        }
        // A consistent block whose number does not follow its parent's.
        let mut wrong_number = one.clone();
        wrong_number.block_number = 5;
        wrong_number.block_hash =
            compute_block_hash(&wrong_number.view(), root, requests_hash(&[]));
        let status = engine.new_payload(&wrong_number, &[], root, &[]).unwrap();
        assert_eq!(status.status, PayloadStatusKind::Invalid);
    }

    #[test]
    fn unknown_heads_and_parents() {
        let engine = MockEngine::new(GENESIS_TIME, None).unwrap();
        let unknown = Hash256::repeat_byte(0x99);
        let response = engine
            .forkchoice_updated(&state(unknown), Some(&attributes(GENESIS_TIME + 12)))
            .unwrap();
        assert_eq!(response.payload_status, PayloadStatus::syncing());
        assert_eq!(response.payload_id, None);
        // A hash-consistent payload on an unknown parent: SYNCING, and then buildable on.
        let other = MockEngine::new(GENESIS_TIME, None).unwrap();
        let one = build(&other, genesis_hash(), GENESIS_TIME + 12);
        let two = {
            other
                .new_payload(&one, &[], Hash256::repeat_byte(0xbb), &[])
                .unwrap();
            build(&other, one.block_hash, GENESIS_TIME + 24)
        };
        let status = engine
            .new_payload(&two, &[], Hash256::repeat_byte(0xbb), &[])
            .unwrap();
        assert_eq!(status, PayloadStatus::syncing());
        let three = build(&engine, two.block_hash, GENESIS_TIME + 36);
        assert_eq!(three.block_number, 3);
    }

    #[test]
    fn bad_attributes_and_unknown_payloads() {
        let engine = MockEngine::new(GENESIS_TIME, None).unwrap();
        let error = engine
            .forkchoice_updated(&state(genesis_hash()), Some(&attributes(GENESIS_TIME)))
            .unwrap_err();
        assert_eq!(error.code, codes::INVALID_PAYLOAD_ATTRIBUTES);
        let mut many = attributes(GENESIS_TIME + 1);
        many.withdrawals = vec![many.withdrawals[0]; MAX_ATTRIBUTE_WITHDRAWALS + 1];
        let error = engine
            .forkchoice_updated(&state(genesis_hash()), Some(&many))
            .unwrap_err();
        assert_eq!(error.code, codes::INVALID_PAYLOAD_ATTRIBUTES);
        let error = engine.get_payload(&PayloadId::repeat_byte(1)).unwrap_err();
        assert_eq!(error.code, codes::UNKNOWN_PAYLOAD);
    }

    #[test]
    fn json_rpc_errors_for_malformed_requests() {
        let engine = MockEngine::new(GENESIS_TIME, None).unwrap();
        let code = |body: &str| answer(&engine, body.as_bytes())["error"]["code"].as_i64();
        assert_eq!(code("{not json"), Some(codes::PARSE_ERROR));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1}"#),
            Some(codes::INVALID_REQUEST)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"eth_mine","params":[]}"#),
            Some(codes::METHOD_NOT_FOUND)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"engine_getPayloadV5","params":{}}"#),
            Some(codes::INVALID_PARAMS)
        );
        for params in [
            "[]",
            r#"["0x01"]"#,
            r#"["0x0000000000000001", 2]"#,
            r#"[null]"#,
        ] {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"engine_getPayloadV5","params":{params}}}"#
            );
            assert_eq!(code(&body), Some(codes::INVALID_PARAMS), "{params}");
        }
        let body = r#"{"jsonrpc":"2.0","id":"x","method":"engine_getPayloadV5","params":["0x0000000000000001"]}"#;
        let reply = answer(&engine, body.as_bytes());
        assert_eq!(reply["error"]["code"], json!(codes::UNKNOWN_PAYLOAD));
        assert_eq!(reply["id"], json!("x"));
        for params in ["[]", "[{}]", r#"[{"headBlockHash":"0x00"}]"#, "[1,2,3]"] {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV3","params":{params}}}"#
            );
            assert_eq!(code(&body), Some(codes::INVALID_PARAMS), "{params}");
        }
        for params in ["[]", "[{}, [], \"0x00\", []]", "[1,2,3,4]"] {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV4","params":{params}}}"#
            );
            assert_eq!(code(&body), Some(codes::INVALID_PARAMS), "{params}");
        }
        let many: Vec<String> = (0..129).map(|_| format!("{}", Hash256::ZERO)).collect();
        let body = json!({"jsonrpc":"2.0","id":1,"method":"engine_getBlobsV2","params":[many]});
        assert_eq!(code(&body.to_string()), Some(codes::TOO_LARGE_REQUEST));
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"engine_getBlobsV2","params":[["0x0000000000000000000000000000000000000000000000000000000000000001"]]}"#;
        assert_eq!(answer(&engine, body.as_bytes())["result"], Value::Null);
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"engine_exchangeCapabilities","params":[["engine_newPayloadV4"]]}"#;
        assert_eq!(
            answer(&engine, body.as_bytes())["result"],
            json!(methods::SUPPORTED)
        );
    }

    #[test]
    fn known_blocks_survive_a_restart_in_the_datadir() {
        let dir = temp_dir("restart");
        let root = Hash256::repeat_byte(0xbb);
        let (one, two) = {
            let engine = MockEngine::new(GENESIS_TIME, Some(&dir)).unwrap();
            let one = build(&engine, genesis_hash(), GENESIS_TIME + 12);
            engine.new_payload(&one, &[], root, &[]).unwrap();
            let two = build(&engine, one.block_hash, GENESIS_TIME + 24);
            (one, two)
        };
        // A torn last line (crash mid-append) is skipped.
        let path = known_blocks_path(&dir);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"hash\":\"0x12").unwrap();
        drop(file);
        let engine = MockEngine::new(GENESIS_TIME, Some(&dir)).unwrap();
        assert!(engine.is_known(&one.block_hash) && engine.is_known(&two.block_hash));
        assert_eq!(engine.known_blocks(), 2);
        let three = build(&engine, two.block_hash, GENESIS_TIME + 36);
        assert_eq!(three.block_number, 3);
        // Compaction rewrites the log with what is in memory.
        engine.lock().compact().unwrap();
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 3);
        drop(engine);
        let engine = MockEngine::new(GENESIS_TIME, Some(&dir)).unwrap();
        assert_eq!(engine.known_blocks(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn maps_are_bounded() {
        let engine = MockEngine::new(GENESIS_TIME, None).unwrap();
        let first = engine
            .forkchoice_updated(&state(genesis_hash()), Some(&attributes(GENESIS_TIME + 1)))
            .unwrap()
            .payload_id
            .unwrap();
        for i in 0..MAX_PAYLOADS as u64 {
            engine
                .forkchoice_updated(
                    &state(genesis_hash()),
                    Some(&attributes(GENESIS_TIME + 2 + i)),
                )
                .unwrap();
        }
        assert_eq!(engine.lock().payloads.len(), MAX_PAYLOADS);
        assert_eq!(
            engine.get_payload(&first).unwrap_err().code,
            codes::UNKNOWN_PAYLOAD
        );
        let mut chain = engine.lock();
        let mut block = KnownBlock::interop_genesis(0);
        for i in 0..MAX_KNOWN_BLOCKS as u64 + 10 {
            block.hash = Hash256::from(U256::from(i + 1).to_be_bytes::<32>());
            chain.insert(block.clone());
        }
        assert_eq!(chain.blocks.len(), MAX_KNOWN_BLOCKS);
        assert_eq!(chain.order.len(), MAX_KNOWN_BLOCKS);
        assert!(chain.get(&genesis_hash()).is_some(), "genesis is pinned");
        assert!(chain
            .get(&Hash256::from(U256::from(1).to_be_bytes::<32>()))
            .is_none());
    }

    /// Random byte mutations of valid requests: always a JSON-RPC answer, never a panic.
    #[test]
    fn mutated_requests_never_panic() {
        use rand::{Rng, SeedableRng};
        let engine = MockEngine::new(GENESIS_TIME, None).unwrap();
        let one = build(&engine, genesis_hash(), GENESIS_TIME + 12);
        let valid = [
            json!({"jsonrpc": "2.0", "id": 1, "method": methods::NEW_PAYLOAD_V4,
                "params": [one, [], Hash256::repeat_byte(0xbb), ["0x0001"]]}),
            json!({"jsonrpc": "2.0", "id": 2, "method": methods::FORKCHOICE_UPDATED_V3,
                "params": [state(genesis_hash()), attributes(GENESIS_TIME + 5)]}),
            json!({"jsonrpc": "2.0", "id": 3, "method": methods::GET_BLOBS_V2,
                "params": [[Hash256::ZERO]]}),
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for round in 0..3000 {
            let mut body = serde_json::to_vec(&valid[round % valid.len()]).unwrap();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..body.len());
                match rng.gen_range(0..3) {
                    0 => body[at] = rng.gen(),
                    1 => {
                        body.remove(at);
                    }
                    _ => {
                        const ALPHABET: &[u8] = b"0123456789abcdefx\"{}[],:-";
                        body.insert(at, ALPHABET[rng.gen_range(0..ALPHABET.len())])
                    }
                }
            }
            let reply = answer(&engine, &body);
            assert!(
                reply.get("result").is_some() || reply["error"]["code"].is_i64(),
                "{reply}"
            );
        }
    }
}
