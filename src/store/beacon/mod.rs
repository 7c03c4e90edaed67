//! The typed store of one preset: [`BeaconStore`].
//!
//! # Transactions
//! Every change is one LMDB write transaction, committed durably or not at all:
//! - [`BeaconStore::initialise`]: schema, anchor block and state, all six pointers, the pubkeys.
//! - [`BeaconStore::import_block`]: the block, its metadata, its post-state summary (and
//!   snapshot, per the policy below), the new public keys of its post-state, and the
//!   [`ChainUpdate`] that came with it — fork-choice bytes, justified, finalized (with all the
//!   pruning it causes) and head (with the canonical-slot index) — together.
//! - [`BeaconStore::update_chain`]: a [`ChainUpdate`] without a block (head moved by votes).
//!
//! So a process killed at any moment leaves the pointers, the canonical index, the pubkey table
//! and the fork-choice bytes as they were after one complete import, and never a block without
//! the pubkeys its state added, or a finalized pointer to a pruned block.
//!
//! # States
//! A state is stored as a *summary* (the block it is the post-state of) for every block, and as
//! a full *snapshot* (snappy SSZ) only on a grid: the post-state of the first block of a branch
//! in each interval of `snapshot_every_epochs` epochs (and the anchor). Any stored state is
//! rebuilt from the nearest ancestor whose state is cached or snapshotted by replaying the
//! stored blocks with `state_transition`, signatures unchecked (they were checked at import),
//! and the result is checked against its state root.
//!
//! Snapshot policy at finalization (default, pruned): of the snapshots at or before the new
//! finalized block only the newest canonical one is kept (plus the anchor's); snapshots on
//! abandoned branches go with their branch. Snapshots after the finalized block (hot) are kept
//! until a newer finalization supersedes them. Disk therefore grows by the finalized blocks
//! only (plus 72 + 40 + 8 B of indices per block); snapshots stay bounded. Archive mode keeps
//! every canonical snapshot (one per `snapshot_every_epochs`).
//!
//! # Pruning at finalization
//! Blocks newer than the finalized block are in the `hot` index. When finality moves to block
//! F, every hot block is either an ancestor of F (now finalized: written to the canonical index
//! and leaves `hot`), a descendant of F (stays), or abandoned (deleted with its metadata, state
//! summary and any snapshot).

use super::spec;
use super::spec::transition::block::{state_transition, VerifySignatures};
use super::spec::{BeaconBlock, BeaconBlockBody, BeaconState, Checkpoint, SignedBeaconBlock};
use crate::consensus::config::ChainConfig;
use crate::consensus::execution::{ExecutionEngine, NewPayloadRequest};
use crate::consensus::primitives::*;
use crate::store::budget::MemoryBudget;
use crate::store::error::{Result, StoreError};
use crate::store::lmdb::{Lmdb, MapPolicy, TableStat, Tables};
use crate::store::schema::*;
use heed::{RoTxn, RwTxn};
use ssz::{Decode, Encode};
use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tree_hash::TreeHash;

pub mod mem;
pub mod state_cache;
pub mod testchain;

use state_cache::{StateCache, StateCacheMetrics};

/// Default distance between state snapshots. Mainnet: 16 epochs (~1.7 h) bounds a cold start
/// or a cache miss to replaying at most 512 blocks and 16 epoch transitions, for one ~60-120
/// MB write per 16 epochs (each superseded one is deleted in pruned mode).
pub const DEFAULT_SNAPSHOT_EVERY_EPOCHS: u64 = 16;

/// How the store is set up.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    pub map: MapPolicy,
    /// Bound of the state cache in real bytes (from the [`MemoryBudget`]).
    pub state_cache_bytes: u64,
    /// Snapshot grid, in epochs (at least 1).
    pub snapshot_every_epochs: u64,
    /// Keep every canonical snapshot (needs a database initialised in archive mode).
    pub archive: bool,
}

impl StoreConfig {
    /// The defaults, with the state cache sized from `budget`.
    pub fn new(budget: &MemoryBudget) -> Self {
        StoreConfig {
            map: MapPolicy::default(),
            state_cache_bytes: budget.state_cache_bytes(),
            snapshot_every_epochs: DEFAULT_SNAPSHOT_EVERY_EPOCHS,
            archive: false,
        }
    }
}

/// The fork choice's own serialisation, stored opaquely with a version tag.
#[derive(Debug, Clone, Copy)]
pub struct ForkChoiceBytes<'a> {
    pub version: u32,
    pub bytes: &'a [u8],
}

/// What fork choice decided, written in the same transaction as the block (or alone).
#[derive(Debug, Clone, Default)]
pub struct ChainUpdate<'a> {
    pub head: Option<Hash256>,
    pub justified: Option<Checkpoint>,
    pub finalized: Option<Checkpoint>,
    pub fork_choice: Option<ForkChoiceBytes<'a>>,
}

/// Where the time of the last state load that missed the cache went.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadTiming {
    /// Blocks replayed.
    pub blocks: usize,
    /// Decompressing and decoding the snapshot (or cloning the cached base state).
    pub base: Duration,
    pub replay: Duration,
    /// Hashing the result and comparing it with the state root.
    pub root_check: Duration,
    /// Measuring the state into the cache.
    pub cache_insert: Duration,
}

/// Counters of the store (the state cache's are in `cache`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreMetrics {
    pub cache: StateCacheMetrics,
    pub replays: u64,
    pub replayed_blocks: u64,
    pub snapshots_written: u64,
    pub snapshot_bytes_written: u64,
    pub blocks_pruned: u64,
    pub snapshots_pruned: u64,
    pub map_size: usize,
    pub map_resizes: u64,
    pub last_load: Option<LoadTiming>,
}

#[derive(Default)]
struct Counters {
    replays: AtomicU64,
    replayed_blocks: AtomicU64,
    snapshots_written: AtomicU64,
    snapshot_bytes_written: AtomicU64,
    blocks_pruned: AtomicU64,
    snapshots_pruned: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Disk use of the store.
#[derive(Debug, Clone)]
pub struct DiskUsage {
    pub file_bytes: u64,
    pub page_size: u32,
    pub map_size: usize,
    pub tables: Vec<(&'static str, TableStat)>,
}

impl DiskUsage {
    pub fn table(&self, name: &str) -> TableStat {
        self.tables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }

    /// Bytes of the tables that grow with the chain (blocks and their indices).
    pub fn chain_bytes(&self) -> u64 {
        ["blocks", "block_meta", "canonical", "hot", "summaries"]
            .iter()
            .map(|n| self.table(n).bytes)
            .sum()
    }

    /// Bytes of the state snapshots.
    pub fn state_bytes(&self) -> u64 {
        self.table("states").bytes + self.table("snapshots").bytes
    }
}

/// What [`BeaconStore::check_consistency`] found (on success).
#[derive(Debug, Clone)]
pub struct ConsistencyReport {
    pub head: Pointer,
    pub finalized: Pointer,
    pub justified: Pointer,
    pub anchor: Pointer,
    pub canonical_blocks: u64,
    pub hot_blocks: u64,
    pub snapshots: u64,
    pub pubkeys: u64,
    pub head_validators: usize,
    pub finalized_validators: usize,
    pub fork_choice: Option<(u32, Vec<u8>)>,
}

/// Blocks in the store were executed and checked when imported: replay accepts their payloads.
struct AlreadyImported;

impl ExecutionEngine for AlreadyImported {
    fn verify_and_notify_new_payload(&self, _request: &NewPayloadRequest<'_>) -> bool {
        true
    }
}

/// The block whose post-state is the genesis state (`latest_block_header` with its state root).
pub fn genesis_block(genesis: &BeaconState) -> Result<SignedBeaconBlock> {
    let mut state = genesis.clone();
    state
        .apply_pending_updates()
        .map_err(|e| StoreError::Inconsistent(format!("genesis state: {e:?}")))?;
    Ok(SignedBeaconBlock {
        message: BeaconBlock {
            slot: state.slot,
            proposer_index: 0,
            parent_root: state.latest_block_header.parent_root,
            state_root: state.tree_hash_root(),
            body: BeaconBlockBody::default(),
        },
        signature: Default::default(),
    })
}

fn epoch_of(slot: Slot) -> Epoch {
    slot / spec::PRESET.slots_per_epoch.max(1)
}

// ---- record access inside a transaction -------------------------------------------------

fn get_pointer(txn: &RoTxn, t: &Tables, name: PointerName) -> Result<Option<Pointer>> {
    match t.pointers.get(txn, name.key())? {
        Some(bytes) => Ok(Some(Pointer::decode(name.key(), bytes)?)),
        None => Ok(None),
    }
}

fn require_pointer(txn: &RoTxn, t: &Tables, name: PointerName) -> Result<Pointer> {
    get_pointer(txn, t, name)?.ok_or(StoreError::NotInitialised)
}

fn put_pointer(txn: &mut RwTxn, t: &Tables, name: PointerName, p: &Pointer) -> Result<()> {
    t.pointers.put(txn, name.key(), &p.encode())?;
    Ok(())
}

fn get_meta(txn: &RoTxn, t: &Tables, root: &Hash256) -> Result<Option<BlockMeta>> {
    match t.block_meta.get(txn, root.as_slice())? {
        Some(bytes) => Ok(Some(BlockMeta::decode(root.as_slice(), bytes)?)),
        None => Ok(None),
    }
}

fn require_meta(txn: &RoTxn, t: &Tables, root: &Hash256) -> Result<BlockMeta> {
    get_meta(txn, t, root)?.ok_or(StoreError::UnknownBlock(*root))
}

fn get_canonical(txn: &RoTxn, t: &Tables, slot: Slot) -> Result<Option<Hash256>> {
    let key = slot.to_be_bytes();
    match t.canonical.get(txn, &key)? {
        Some(bytes) => Ok(Some(decode_root("canonical", &key, bytes)?)),
        None => Ok(None),
    }
}

fn get_summary(txn: &RoTxn, t: &Tables, state_root: &Hash256) -> Result<Option<StateSummary>> {
    match t.summaries.get(txn, state_root.as_slice())? {
        Some(bytes) => Ok(Some(StateSummary::decode(state_root.as_slice(), bytes)?)),
        None => Ok(None),
    }
}

fn pointer_to(txn: &RoTxn, t: &Tables, root: &Hash256, epoch: Option<Epoch>) -> Result<Pointer> {
    let meta = require_meta(txn, t, root)?;
    Ok(Pointer {
        epoch: epoch.unwrap_or_else(|| epoch_of(meta.slot)),
        slot: meta.slot,
        block_root: *root,
        state_root: meta.state_root,
    })
}

fn put_snapshot(
    txn: &mut RwTxn,
    t: &Tables,
    slot: Slot,
    state_root: &Hash256,
    bytes: &[u8],
) -> Result<()> {
    t.states.put(txn, state_root.as_slice(), bytes)?;
    t.snapshots
        .put(txn, &slot_root_key(slot, state_root), &[])?;
    Ok(())
}

fn delete_snapshot(txn: &mut RwTxn, t: &Tables, slot: Slot, state_root: &Hash256) -> Result<bool> {
    let existed = t.states.delete(txn, state_root.as_slice())?;
    t.snapshots.delete(txn, &slot_root_key(slot, state_root))?;
    Ok(existed)
}

/// Number of keys in the pubkey table: full chunks before the last one, plus the last one's.
fn pubkey_count(txn: &RoTxn, t: &Tables) -> Result<u64> {
    let Some((key, value)) = t.pubkeys.last(txn)? else {
        return Ok(0);
    };
    let chunk = decode_slot("pubkeys", key)?;
    let keys = pubkey_chunk_len(key, value)?;
    chunk
        .checked_mul(PUBKEYS_PER_CHUNK)
        .and_then(|n| n.checked_add(keys))
        .ok_or_else(|| StoreError::corrupt("pubkeys", key, "chunk index overflows"))
}

/// Keys in one chunk value (1 to `PUBKEYS_PER_CHUNK` whole 48-byte keys).
fn pubkey_chunk_len(key: &[u8], value: &[u8]) -> Result<u64> {
    let n = (value.len() / PUBKEY_LEN) as u64;
    if value.len() % PUBKEY_LEN != 0 || n == 0 || n > PUBKEYS_PER_CHUNK {
        return Err(StoreError::corrupt(
            "pubkeys",
            key,
            format!("chunk of {} bytes", value.len()),
        ));
    }
    Ok(n)
}

/// Appends the public keys of `state`'s registry beyond the table's length (the registry only
/// grows, and since Electra only from finalized deposits, so every branch agrees on index ->
/// key).
fn append_pubkeys(txn: &mut RwTxn, t: &Tables, state: &BeaconState) -> Result<()> {
    let have = pubkey_count(txn, t)?;
    let total = state.validators.len() as u64;
    if total <= have {
        return Ok(());
    }
    let mut chunk_index = have / PUBKEYS_PER_CHUNK;
    let mut chunk: Vec<u8> = t
        .pubkeys
        .get(txn, &chunk_index.to_be_bytes())?
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let skip = usize::try_from(have).unwrap_or(usize::MAX);
    for validator in state.validators.iter().skip(skip) {
        chunk.extend_from_slice(validator.pubkey.as_slice());
        if chunk.len() as u64 == PUBKEYS_PER_CHUNK * PUBKEY_LEN as u64 {
            t.pubkeys.put(txn, &chunk_index.to_be_bytes(), &chunk)?;
            chunk.clear();
            chunk_index = chunk_index.saturating_add(1);
        }
    }
    if !chunk.is_empty() {
        t.pubkeys.put(txn, &chunk_index.to_be_bytes(), &chunk)?;
    }
    Ok(())
}

/// Pruning result, applied to the state cache after the commit.
#[derive(Debug, Default)]
struct Pruned {
    blocks: u64,
    snapshots: u64,
    finalized: Option<Pointer>,
    states: Vec<Hash256>,
}

/// The typed store; see the module documentation.
pub struct BeaconStore {
    db: Lmdb,
    config: StoreConfig,
    chain: ChainConfig,
    cache: Mutex<StateCache>,
    counters: Counters,
    last_load: Mutex<Option<LoadTiming>>,
}

impl std::fmt::Debug for BeaconStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeaconStore")
            .field("db", &self.db)
            .field("config", &self.config)
            .finish()
    }
}

impl BeaconStore {
    /// Opens (or creates) the store in `dir`. A database of another preset or schema, or a
    /// pruned one opened in archive mode, is refused.
    pub fn open(dir: &Path, config: StoreConfig, chain: ChainConfig) -> Result<Self> {
        let db = Lmdb::open(dir, config.map)?;
        let preset = spec::PRESET.name.as_str();
        db.read(|txn, t| {
            let Some(schema) = t.meta.get(txn, META_SCHEMA)? else {
                return Ok(());
            };
            let schema = <[u8; 4]>::try_from(schema)
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::corrupt("meta", META_SCHEMA, "not a u32"))?;
            if schema != SCHEMA_VERSION {
                return Err(StoreError::Mismatch {
                    expected: format!("schema {SCHEMA_VERSION}"),
                    found: format!("schema {schema}"),
                });
            }
            let found = t.meta.get(txn, META_PRESET)?.unwrap_or_default();
            if found != preset.as_bytes() {
                return Err(StoreError::Mismatch {
                    expected: format!("preset {preset}"),
                    found: format!("preset {}", String::from_utf8_lossy(found)),
                });
            }
            let archive = t.meta.get(txn, META_ARCHIVE)? == Some(&[1u8][..]);
            if config.archive && !archive {
                return Err(StoreError::Mismatch {
                    expected: "an archive database".into(),
                    found: "a pruned database (finalized history was deleted)".into(),
                });
            }
            Ok(())
        })?;
        Ok(BeaconStore {
            db,
            cache: Mutex::new(StateCache::new(config.state_cache_bytes)),
            config: StoreConfig {
                snapshot_every_epochs: config.snapshot_every_epochs.max(1),
                ..config
            },
            chain,
            counters: Counters::default(),
            last_load: Mutex::new(None),
        })
    }

    pub fn chain_config(&self) -> &ChainConfig {
        &self.chain
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, StateCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the store holds a chain.
    pub fn is_initialised(&self) -> Result<bool> {
        self.db
            .read(|txn, t| Ok(get_pointer(txn, t, PointerName::Head)?.is_some()))
    }

    /// Initialises an empty store from a genesis state.
    pub fn initialise_from_genesis(&self, genesis: &BeaconState) -> Result<Hash256> {
        let block = genesis_block(genesis)?;
        self.initialise(&block, genesis)
    }

    /// Initialises an empty store from an anchor: a block and a state at or after its slot
    /// (genesis, or a finalized checkpoint for checkpoint sync). Returns the anchor block root.
    pub fn initialise(&self, block: &SignedBeaconBlock, state: &BeaconState) -> Result<Hash256> {
        let mut state = state.clone();
        state
            .apply_pending_updates()
            .map_err(|e| StoreError::Inconsistent(format!("anchor state: {e:?}")))?;
        let state_root = state.tree_hash_root();
        let block_root = block.message.tree_hash_root();
        if state.slot < block.message.slot {
            return Err(StoreError::Inconsistent(format!(
                "anchor state at slot {} is older than its block at slot {}",
                state.slot, block.message.slot
            )));
        }
        let block_bytes = compress(&block.as_ssz_bytes())?;
        let state_bytes = compress(&state.as_ssz_bytes())?;
        let anchor = Pointer {
            epoch: epoch_of(state.slot),
            slot: block.message.slot,
            block_root,
            state_root,
        };
        let archive = self.config.archive;
        self.db.write(|txn, t| {
            if get_pointer(txn, t, PointerName::Head)?.is_some() {
                return Err(StoreError::AlreadyInitialised);
            }
            t.meta
                .put(txn, META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
            t.meta
                .put(txn, META_PRESET, spec::PRESET.name.as_str().as_bytes())?;
            t.meta.put(
                txn,
                META_GENESIS_VALIDATORS_ROOT,
                state.genesis_validators_root.as_slice(),
            )?;
            t.meta.put(txn, META_ARCHIVE, &[u8::from(archive)])?;
            t.blocks.put(txn, block_root.as_slice(), &block_bytes)?;
            let meta = BlockMeta {
                slot: block.message.slot,
                parent_root: block.message.parent_root,
                state_root,
            };
            t.block_meta
                .put(txn, block_root.as_slice(), &meta.encode())?;
            let summary = StateSummary {
                slot: state.slot,
                block_root,
            };
            t.summaries
                .put(txn, state_root.as_slice(), &summary.encode())?;
            put_snapshot(txn, t, state.slot, &state_root, &state_bytes)?;
            t.canonical.put(
                txn,
                &block.message.slot.to_be_bytes(),
                block_root.as_slice(),
            )?;
            let genesis = if block.message.slot == GENESIS_SLOT {
                anchor
            } else {
                Pointer::default()
            };
            put_pointer(txn, t, PointerName::Genesis, &genesis)?;
            for name in [
                PointerName::Anchor,
                PointerName::Backfill,
                PointerName::Justified,
                PointerName::Finalized,
                PointerName::Head,
            ] {
                put_pointer(txn, t, name, &anchor)?;
            }
            append_pubkeys(txn, t, &state)?;
            Ok(())
        })?;
        bump(&self.counters.snapshots_written, 1);
        bump(
            &self.counters.snapshot_bytes_written,
            state_bytes.len() as u64,
        );
        self.cache().insert(state_root, state);
        Ok(block_root)
    }

    /// Stores an imported block with its post-state (pending updates applied) and what fork
    /// choice decided, in one transaction. The block's parent must be stored and descend from
    /// (or be) the finalized block. Importing a stored block again only applies `update`.
    pub fn import_block(
        &self,
        block: &SignedBeaconBlock,
        block_root: Hash256,
        post_state: &BeaconState,
        update: &ChainUpdate<'_>,
    ) -> Result<()> {
        let message = &block.message;
        let state_root = message.state_root;
        let parent_root = message.parent_root;
        let (parent, known) = self.db.read(|txn, t| {
            let known = get_meta(txn, t, &block_root)?.is_some();
            let parent = get_meta(txn, t, &parent_root)?;
            Ok((parent, known))
        })?;
        let parent = match parent {
            Some(p) => p,
            None if known => BlockMeta {
                slot: 0,
                parent_root: Hash256::ZERO,
                state_root: Hash256::ZERO,
            },
            None => {
                return Err(StoreError::UnknownParent {
                    block: block_root,
                    parent: parent_root,
                })
            }
        };
        // Encode and compress outside the write transaction (keeps it short).
        let block_bytes = compress(&block.as_ssz_bytes())?;
        let every = self.config.snapshot_every_epochs;
        let snapshot = if !known && epoch_of(message.slot) / every > epoch_of(parent.slot) / every {
            Some(compress(&post_state.as_ssz_bytes())?)
        } else {
            None
        };
        let meta = BlockMeta {
            slot: message.slot,
            parent_root,
            state_root,
        };
        let pruned = self.db.write(|txn, t| {
            if get_meta(txn, t, &block_root)?.is_none() {
                if get_meta(txn, t, &parent_root)?.is_none() {
                    return Err(StoreError::UnknownParent {
                        block: block_root,
                        parent: parent_root,
                    });
                }
                let finalized = require_pointer(txn, t, PointerName::Finalized)?;
                let parent_hot = t
                    .hot
                    .get(txn, &slot_root_key(parent.slot, &parent_root))?
                    .is_some();
                if parent_root != finalized.block_root && !parent_hot {
                    return Err(StoreError::NotDescendant {
                        root: block_root,
                        slot: message.slot,
                        finalized: finalized.block_root,
                    });
                }
                t.blocks.put(txn, block_root.as_slice(), &block_bytes)?;
                t.block_meta
                    .put(txn, block_root.as_slice(), &meta.encode())?;
                t.hot
                    .put(txn, &slot_root_key(message.slot, &block_root), &[])?;
                let summary = StateSummary {
                    slot: message.slot,
                    block_root,
                };
                t.summaries
                    .put(txn, state_root.as_slice(), &summary.encode())?;
                if let Some(bytes) = &snapshot {
                    put_snapshot(txn, t, message.slot, &state_root, bytes)?;
                }
                append_pubkeys(txn, t, post_state)?;
            }
            self.apply_update(txn, t, update)
        })?;
        if let Some(bytes) = &snapshot {
            bump(&self.counters.snapshots_written, 1);
            bump(&self.counters.snapshot_bytes_written, bytes.len() as u64);
        }
        self.cache().insert(state_root, post_state.clone());
        self.pruned(&pruned);
        Ok(())
    }

    /// Writes a [`ChainUpdate`] on its own (one transaction).
    pub fn update_chain(&self, update: &ChainUpdate<'_>) -> Result<()> {
        let pruned = self.db.write(|txn, t| self.apply_update(txn, t, update))?;
        self.pruned(&pruned);
        Ok(())
    }

    /// After the commit: counters and the cache.
    fn pruned(&self, pruned: &Pruned) {
        bump(&self.counters.blocks_pruned, pruned.blocks);
        bump(&self.counters.snapshots_pruned, pruned.snapshots);
        Self::prune_cache(&mut self.cache(), pruned);
    }

    fn prune_cache(cache: &mut StateCache, pruned: &Pruned) {
        for root in &pruned.states {
            cache.remove(root);
        }
        if let Some(f) = pruned.finalized {
            cache.retain(|root, slot| slot >= f.slot || *root == f.state_root);
        }
    }

    fn apply_update(
        &self,
        txn: &mut RwTxn,
        t: &Tables,
        update: &ChainUpdate<'_>,
    ) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        if let Some(fc) = update.fork_choice {
            let mut value = Vec::with_capacity(fc.bytes.len().saturating_add(4));
            value.extend_from_slice(&fc.version.to_be_bytes());
            value.extend_from_slice(fc.bytes);
            t.fork_choice.put(txn, FORK_CHOICE_KEY, &value)?;
        }
        if let Some(cp) = &update.finalized {
            pruned = self.finalize(txn, t, cp)?;
        }
        if let Some(cp) = &update.justified {
            let p = pointer_to(txn, t, &cp.root, Some(cp.epoch))?;
            put_pointer(txn, t, PointerName::Justified, &p)?;
        }
        // A finalized checkpoint is justified: justified never trails finalized.
        let justified = require_pointer(txn, t, PointerName::Justified)?;
        let finalized = require_pointer(txn, t, PointerName::Finalized)?;
        if justified.epoch < finalized.epoch {
            put_pointer(txn, t, PointerName::Justified, &finalized)?;
        }
        if let Some(head) = update.head {
            set_head(txn, t, &head)?;
        }
        // The head must have survived the pruning (descend from the finalized block).
        let head = require_pointer(txn, t, PointerName::Head)?;
        if get_meta(txn, t, &head.block_root)?.is_none() {
            let finalized = require_pointer(txn, t, PointerName::Finalized)?;
            return Err(StoreError::NotDescendant {
                root: head.block_root,
                slot: head.slot,
                finalized: finalized.block_root,
            });
        }
        Ok(pruned)
    }

    /// Moves the finalized pointer to `cp` and prunes (module documentation).
    fn finalize(&self, txn: &mut RwTxn, t: &Tables, cp: &Checkpoint) -> Result<Pruned> {
        let current = require_pointer(txn, t, PointerName::Finalized)?;
        if cp.epoch < current.epoch {
            return Err(StoreError::FinalizedRegress {
                current: current.epoch,
                requested: cp.epoch,
            });
        }
        let f = require_meta(txn, t, &cp.root)?;
        let new = Pointer {
            epoch: cp.epoch,
            slot: f.slot,
            block_root: cp.root,
            state_root: f.state_root,
        };
        if cp.root == current.block_root {
            put_pointer(txn, t, PointerName::Finalized, &new)?;
            return Ok(Pruned::default());
        }
        // Ancestors of F back to the current finalized block: newly finalized.
        let mut finalized_now: Vec<(Slot, Hash256)> = Vec::new();
        let mut root = cp.root;
        let mut meta = f;
        while root != current.block_root {
            if meta.slot <= current.slot {
                return Err(StoreError::NotDescendant {
                    root: cp.root,
                    slot: f.slot,
                    finalized: current.block_root,
                });
            }
            finalized_now.push((meta.slot, root));
            root = meta.parent_root;
            meta = require_meta(txn, t, &root)?;
        }
        let newly: HashSet<Hash256> = finalized_now.iter().map(|(_, r)| *r).collect();
        // Classify the hot blocks: descendants of F stay, the others are abandoned.
        let mut hot: Vec<(Slot, Hash256)> = Vec::new();
        for entry in t.hot.iter(txn)? {
            let (key, _) = entry?;
            hot.push(decode_slot_root_key("hot", key)?);
        }
        let mut descends: HashMap<Hash256, bool> = HashMap::new();
        descends.insert(cp.root, true);
        let mut abandoned: Vec<(Slot, Hash256, BlockMeta)> = Vec::new();
        for &(slot, root) in &hot {
            if newly.contains(&root) {
                continue;
            }
            let mut path = Vec::new();
            let mut r = root;
            let verdict = loop {
                if let Some(v) = descends.get(&r) {
                    break *v;
                }
                let Some(m) = get_meta(txn, t, &r)? else {
                    break false;
                };
                if m.slot <= f.slot {
                    break false;
                }
                path.push(r);
                r = m.parent_root;
            };
            for r in path {
                descends.insert(r, verdict);
            }
            if !verdict {
                let m = require_meta(txn, t, &root)?;
                abandoned.push((slot, root, m));
            }
        }
        for (slot, root) in &finalized_now {
            t.hot.delete(txn, &slot_root_key(*slot, root))?;
            t.canonical.put(txn, &slot.to_be_bytes(), root.as_slice())?;
        }
        let mut pruned = Pruned {
            finalized: Some(new),
            ..Default::default()
        };
        for (slot, root, m) in &abandoned {
            t.blocks.delete(txn, root.as_slice())?;
            t.block_meta.delete(txn, root.as_slice())?;
            t.hot.delete(txn, &slot_root_key(*slot, root))?;
            t.summaries.delete(txn, m.state_root.as_slice())?;
            if delete_snapshot(txn, t, *slot, &m.state_root)? {
                pruned.snapshots += 1;
            }
            if get_canonical(txn, t, *slot)? == Some(*root) {
                t.canonical.delete(txn, &slot.to_be_bytes())?;
            }
            pruned.states.push(m.state_root);
        }
        pruned.blocks = abandoned.len() as u64;
        // Snapshots at or before F: keep the anchor's and the newest canonical one (all
        // canonical ones in archive mode).
        let anchor = require_pointer(txn, t, PointerName::Anchor)?;
        let end = slot_root_key(f.slot, &Hash256::repeat_byte(0xff));
        let mut old: Vec<(Slot, Hash256)> = Vec::new();
        for entry in t
            .snapshots
            .range(txn, &(Bound::Unbounded, Bound::Included(&end[..])))?
        {
            let (key, _) = entry?;
            old.push(decode_slot_root_key("snapshots", key)?);
        }
        let mut canonical_snapshots: Vec<(Slot, Hash256)> = Vec::new();
        for (slot, state_root) in old {
            if state_root == anchor.state_root {
                continue;
            }
            let summary = get_summary(txn, t, &state_root)?;
            let canonical = match summary {
                Some(s) => get_canonical(txn, t, s.slot)? == Some(s.block_root),
                None => false,
            };
            if canonical {
                canonical_snapshots.push((slot, state_root));
            } else if delete_snapshot(txn, t, slot, &state_root)? {
                pruned.snapshots += 1;
            }
        }
        if !self.config.archive {
            // Sorted by slot (key order): all but the newest are superseded.
            let keep_from = canonical_snapshots.len().saturating_sub(1);
            for (slot, state_root) in canonical_snapshots.iter().take(keep_from) {
                if delete_snapshot(txn, t, *slot, state_root)? {
                    pruned.snapshots += 1;
                }
            }
        }
        put_pointer(txn, t, PointerName::Finalized, &new)?;
        Ok(pruned)
    }

    // ---- reads ---------------------------------------------------------------------------

    pub fn pointer(&self, name: PointerName) -> Result<Pointer> {
        self.db.read(|txn, t| require_pointer(txn, t, name))
    }

    pub fn block_meta(&self, root: &Hash256) -> Result<Option<BlockMeta>> {
        self.db.read(|txn, t| get_meta(txn, t, root))
    }

    pub fn block(&self, root: &Hash256) -> Result<Option<SignedBeaconBlock>> {
        let bytes = self
            .db
            .read(|txn, t| Ok(t.blocks.get(txn, root.as_slice())?.map(<[u8]>::to_vec)))?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let ssz = decompress("blocks", root.as_slice(), &bytes)?;
        SignedBeaconBlock::from_ssz_bytes(&ssz)
            .map(Some)
            .map_err(|e| StoreError::corrupt("blocks", root.as_slice(), format!("{e:?}")))
    }

    /// The canonical block at `slot`, or the last one before it if `slot` has none.
    pub fn block_root_at_slot(&self, slot: Slot) -> Result<Option<Hash256>> {
        self.db.read(|txn, t| {
            let key = slot.to_be_bytes();
            match t.canonical.get_lower_than_or_equal_to(txn, &key)? {
                Some((k, v)) => Ok(Some(decode_root("canonical", k, v)?)),
                None => Ok(None),
            }
        })
    }

    /// The canonical chain's blocks (the head's ancestors, finalized ones included: the
    /// `canonical` index) with `start <= slot < start + count`, at most `max`, in slot order:
    /// (slot, block root, SSZ bytes). One read transaction, so the list is one consistent
    /// chain even while the head moves. Serves `beacon_blocks_by_range`.
    pub fn canonical_blocks_ssz(
        &self,
        start: Slot,
        count: u64,
        max: usize,
    ) -> Result<Vec<(Slot, Hash256, Vec<u8>)>> {
        let end = start.saturating_add(count);
        if count == 0 || max == 0 {
            return Ok(Vec::new());
        }
        self.db.read(|txn, t| {
            let (from, to) = (start.to_be_bytes(), end.to_be_bytes());
            let range = (Bound::Included(&from[..]), Bound::Excluded(&to[..]));
            let mut out = Vec::new();
            for entry in t.canonical.range(txn, &range)? {
                if out.len() >= max {
                    break;
                }
                let (key, value) = entry?;
                let slot = decode_slot("canonical", key)?;
                let root = decode_root("canonical", key, value)?;
                let bytes = t
                    .blocks
                    .get(txn, root.as_slice())?
                    .ok_or(StoreError::UnknownBlock(root))?;
                out.push((slot, root, decompress("blocks", root.as_slice(), bytes)?));
            }
            Ok(out)
        })
    }

    /// A stored block's slot and SSZ bytes (any branch). Serves `beacon_blocks_by_root`.
    pub fn block_ssz(&self, root: &Hash256) -> Result<Option<(Slot, Vec<u8>)>> {
        self.db.read(|txn, t| {
            let Some(meta) = get_meta(txn, t, root)? else {
                return Ok(None);
            };
            let Some(bytes) = t.blocks.get(txn, root.as_slice())? else {
                return Ok(None);
            };
            Ok(Some((
                meta.slot,
                decompress("blocks", root.as_slice(), bytes)?,
            )))
        })
    }

    /// Whether the block is stored (imported).
    pub fn has_block(&self, root: &Hash256) -> Result<bool> {
        self.db
            .read(|txn, t| Ok(t.block_meta.get(txn, root.as_slice())?.is_some()))
    }

    /// The blocks newer than the finalized one, on every branch: (slot, block root, metadata).
    pub fn hot_blocks(&self) -> Result<Vec<(Slot, Hash256, BlockMeta)>> {
        self.db.read(|txn, t| {
            let mut out = Vec::new();
            for entry in t.hot.iter(txn)? {
                let (key, _) = entry?;
                let (slot, root) = decode_slot_root_key("hot", key)?;
                out.push((slot, root, require_meta(txn, t, &root)?));
            }
            Ok(out)
        })
    }

    /// The stored fork-choice bytes: (version, bytes).
    pub fn fork_choice(&self) -> Result<Option<(u32, Vec<u8>)>> {
        self.db.read(|txn, t| read_fork_choice(txn, t))
    }

    /// Number of validator public keys stored.
    pub fn pubkey_count(&self) -> Result<u64> {
        self.db.read(|txn, t| pubkey_count(txn, t))
    }

    /// All stored public keys, by validator index.
    pub fn pubkeys(&self) -> Result<Vec<[u8; 48]>> {
        self.db.read(|txn, t| {
            let count = pubkey_count(txn, t)?;
            let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            let mut expected_chunk = 0u64;
            for entry in t.pubkeys.iter(txn)? {
                let (key, value) = entry?;
                if decode_slot("pubkeys", key)? != expected_chunk
                    || out.len() as u64 != expected_chunk * PUBKEYS_PER_CHUNK
                {
                    return Err(StoreError::corrupt(
                        "pubkeys",
                        key,
                        "chunks out of sequence or a partial chunk before the last",
                    ));
                }
                pubkey_chunk_len(key, value)?;
                for pk in value.chunks_exact(PUBKEY_LEN) {
                    let mut k = [0u8; PUBKEY_LEN];
                    k.copy_from_slice(pk);
                    out.push(k);
                }
                expected_chunk = expected_chunk.saturating_add(1);
            }
            Ok(out)
        })
    }

    /// The state with `state_root`: from the cache, or rebuilt from the nearest snapshot or
    /// cached ancestor by replaying stored blocks (signatures unchecked) and checked against
    /// its root. The result is cached.
    pub fn load_state(&self, state_root: &Hash256) -> Result<BeaconState> {
        if let Some(state) = self.cache().get(state_root) {
            return Ok(state);
        }
        enum Base {
            Cached(Hash256),
            Snapshot(Hash256, Vec<u8>),
        }
        // Plan: the blocks to replay (newest first) and the base to replay them on.
        let (base, mut chain) = self.db.read(|txn, t| {
            let summary =
                get_summary(txn, t, state_root)?.ok_or(StoreError::UnknownState(*state_root))?;
            let mut chain: Vec<Hash256> = Vec::new();
            let mut root = summary.block_root;
            loop {
                let meta = get_meta(txn, t, &root)?.ok_or_else(|| StoreError::Replay {
                    state_root: *state_root,
                    reason: format!("block {root:?} on its chain is missing"),
                })?;
                if self.cache().contains(&meta.state_root) {
                    break Ok((Base::Cached(meta.state_root), chain));
                }
                if let Some(bytes) = t.states.get(txn, meta.state_root.as_slice())? {
                    break Ok((Base::Snapshot(meta.state_root, bytes.to_vec()), chain));
                }
                chain.push(root);
                root = meta.parent_root;
            }
        })?;
        let started = Instant::now();
        let mut state = match base {
            Base::Cached(root) => {
                let cached = self.cache().get(&root);
                match cached {
                    Some(s) => s,
                    // Evicted meanwhile: plan again (it finds a snapshot or another state).
                    None => return self.load_state(state_root),
                }
            }
            Base::Snapshot(root, bytes) => {
                let ssz = decompress("states", root.as_slice(), &bytes)?;
                drop(bytes);
                BeaconState::from_ssz_bytes(&ssz)
                    .map_err(|e| StoreError::corrupt("states", root.as_slice(), format!("{e:?}")))?
            }
        };
        let decoded = Instant::now();
        bump(&self.counters.replays, 1);
        let replay_len = chain.len();
        bump(&self.counters.replayed_blocks, replay_len as u64);
        while let Some(root) = chain.pop() {
            let block = self.block(&root)?.ok_or_else(|| StoreError::Replay {
                state_root: *state_root,
                reason: format!("block {root:?} is missing"),
            })?;
            if block.message.slot > state.slot {
                state_transition(
                    &mut state,
                    &block,
                    false,
                    &self.chain,
                    &AlreadyImported,
                    VerifySignatures::No,
                )
            } else {
                spec::transition::block::process_signed_block(
                    &mut state,
                    &block,
                    false,
                    &self.chain,
                    &AlreadyImported,
                    VerifySignatures::No,
                )
            }
            .map_err(|e| StoreError::Replay {
                state_root: *state_root,
                reason: format!("block {root:?} at slot {}: {e}", block.message.slot),
            })?;
        }
        let replayed = Instant::now();
        state
            .apply_pending_updates()
            .map_err(|e| StoreError::Replay {
                state_root: *state_root,
                reason: format!("{e:?}"),
            })?;
        let computed = state.tree_hash_root();
        if computed != *state_root {
            return Err(StoreError::Replay {
                state_root: *state_root,
                reason: format!("replay gave state root {computed:?}"),
            });
        }
        let hashed = Instant::now();
        self.cache().insert(*state_root, state.clone());
        let timing = LoadTiming {
            blocks: replay_len,
            base: decoded.duration_since(started),
            replay: replayed.duration_since(decoded),
            root_check: hashed.duration_since(replayed),
            cache_insert: hashed.elapsed(),
        };
        tracing::debug!(?state_root, ?timing, "state loaded");
        *self.last_load.lock().unwrap_or_else(|p| p.into_inner()) = Some(timing);
        Ok(state)
    }

    pub fn metrics(&self) -> StoreMetrics {
        let c = &self.counters;
        StoreMetrics {
            cache: self.cache().metrics(),
            replays: c.replays.load(Ordering::Relaxed),
            replayed_blocks: c.replayed_blocks.load(Ordering::Relaxed),
            snapshots_written: c.snapshots_written.load(Ordering::Relaxed),
            snapshot_bytes_written: c.snapshot_bytes_written.load(Ordering::Relaxed),
            blocks_pruned: c.blocks_pruned.load(Ordering::Relaxed),
            snapshots_pruned: c.snapshots_pruned.load(Ordering::Relaxed),
            map_size: self.db.map_size(),
            map_resizes: self.db.resizes(),
            last_load: *self.last_load.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    pub fn disk_usage(&self) -> Result<DiskUsage> {
        Ok(DiskUsage {
            file_bytes: self.db.file_size()?,
            page_size: self.db.page_size(),
            map_size: self.db.map_size(),
            tables: self.db.table_stats()?,
        })
    }

    /// Checks every invariant the store promises (see the checks below); with `deep`, also
    /// rebuilds the head and finalized states and compares the pubkey table with their
    /// registries.
    pub fn check_consistency(&self, deep: bool) -> Result<ConsistencyReport> {
        let fail = |msg: String| StoreError::Inconsistent(msg);
        let mut report = self.db.read(|txn, t| {
            let mut p = HashMap::new();
            for name in PointerName::ALL {
                let pointer = get_pointer(txn, t, name)?
                    .ok_or_else(|| fail(format!("pointer {name:?} missing")))?;
                p.insert(name, pointer);
            }
            let get = |name| p.get(&name).copied().unwrap_or_default();
            let (head, finalized, justified, anchor) = (
                get(PointerName::Head),
                get(PointerName::Finalized),
                get(PointerName::Justified),
                get(PointerName::Anchor),
            );
            // Every pointer names a stored block, its slot, and a state the store can rebuild.
            for (name, pointer) in &p {
                if *name == PointerName::Genesis && pointer.block_root == Hash256::ZERO {
                    continue;
                }
                let meta = get_meta(txn, t, &pointer.block_root)?.ok_or_else(|| {
                    fail(format!(
                        "{name:?} names missing block {:?}",
                        pointer.block_root
                    ))
                })?;
                if t.blocks.get(txn, pointer.block_root.as_slice())?.is_none() {
                    return Err(fail(format!("{name:?}: block bytes missing")));
                }
                if meta.slot != pointer.slot || meta.state_root != pointer.state_root {
                    return Err(fail(format!(
                        "{name:?} disagrees with its block's metadata"
                    )));
                }
                if get_summary(txn, t, &pointer.state_root)?.is_none() {
                    return Err(fail(format!("{name:?}: state summary missing")));
                }
            }
            if !(anchor.slot <= finalized.slot && finalized.slot <= head.slot) {
                return Err(fail(format!(
                    "slots out of order: anchor {} finalized {} head {}",
                    anchor.slot, finalized.slot, head.slot
                )));
            }
            if justified.epoch < finalized.epoch {
                return Err(fail("justified epoch below finalized epoch".into()));
            }
            // The canonical index is exactly the chain from the head back to the anchor, and
            // the finalized and justified blocks are on it.
            let mut root = head.block_root;
            let mut canonical_blocks = 0u64;
            let (mut saw_finalized, mut saw_justified) = (false, false);
            loop {
                let meta = get_meta(txn, t, &root)?
                    .ok_or_else(|| fail(format!("canonical chain: block {root:?} missing")))?;
                if get_canonical(txn, t, meta.slot)? != Some(root) {
                    return Err(fail(format!(
                        "canonical index at slot {} does not name {root:?}",
                        meta.slot
                    )));
                }
                if t.blocks.get(txn, root.as_slice())?.is_none() {
                    return Err(fail(format!("canonical block {root:?}: bytes missing")));
                }
                canonical_blocks += 1;
                saw_finalized |= root == finalized.block_root;
                saw_justified |= root == justified.block_root;
                if root == anchor.block_root {
                    break;
                }
                if meta.slot <= anchor.slot {
                    return Err(fail("the head does not descend from the anchor".into()));
                }
                root = meta.parent_root;
            }
            if !saw_finalized || !saw_justified {
                return Err(fail(
                    "finalized or justified block not on the head's chain".into(),
                ));
            }
            if t.canonical.len(txn)? != canonical_blocks {
                return Err(fail(format!(
                    "canonical index has {} entries, the head's chain {canonical_blocks}",
                    t.canonical.len(txn)?
                )));
            }
            // Hot blocks: newer than finalized, descending from it.
            let mut hot_blocks = 0u64;
            for entry in t.hot.iter(txn)? {
                let (key, _) = entry?;
                let (slot, root) = decode_slot_root_key("hot", key)?;
                hot_blocks += 1;
                if slot <= finalized.slot {
                    return Err(fail(format!("hot block {root:?} at finalized slot {slot}")));
                }
                let mut r = root;
                loop {
                    let m = get_meta(txn, t, &r)?
                        .ok_or_else(|| fail(format!("hot chain: block {r:?} missing")))?;
                    if r == finalized.block_root {
                        break;
                    }
                    if m.slot <= finalized.slot {
                        return Err(fail(format!("hot block {root:?} not above finalized")));
                    }
                    r = m.parent_root;
                }
            }
            // Every stored block is canonical-finalized or hot; metadata and bytes agree.
            let (blocks, metas) = (t.blocks.len(txn)?, t.block_meta.len(txn)?);
            if blocks != metas {
                return Err(fail(format!(
                    "{blocks} blocks but {metas} metadata records"
                )));
            }
            for entry in t.block_meta.iter(txn)? {
                let (key, value) = entry?;
                let root = decode_root("block_meta", key, key)?;
                let meta = BlockMeta::decode(key, value)?;
                let canonical = get_canonical(txn, t, meta.slot)? == Some(root);
                let hot = t.hot.get(txn, &slot_root_key(meta.slot, &root))?.is_some();
                if !(hot || (canonical && meta.slot <= finalized.slot)) {
                    return Err(fail(format!("block {root:?} is neither hot nor finalized")));
                }
            }
            for entry in t.summaries.iter(txn)? {
                let (key, value) = entry?;
                let s = StateSummary::decode(key, value)?;
                if get_meta(txn, t, &s.block_root)?.is_none() {
                    return Err(fail(format!(
                        "state summary for missing block {:?}",
                        s.block_root
                    )));
                }
            }
            // Snapshots and their index match one to one, each with a summary.
            let snapshots = t.snapshots.len(txn)?;
            if snapshots != t.states.len(txn)? {
                return Err(fail("snapshot index and states differ in size".into()));
            }
            for entry in t.snapshots.iter(txn)? {
                let (key, _) = entry?;
                let (_, state_root) = decode_slot_root_key("snapshots", key)?;
                if t.states.get(txn, state_root.as_slice())?.is_none()
                    || get_summary(txn, t, &state_root)?.is_none()
                {
                    return Err(fail(format!(
                        "snapshot {state_root:?} without state/summary"
                    )));
                }
            }
            // The pubkey table is dense (checked chunk by chunk when `deep`).
            let pubkeys = pubkey_count(txn, t)?;
            Ok(ConsistencyReport {
                head,
                finalized,
                justified,
                anchor,
                canonical_blocks,
                hot_blocks,
                snapshots,
                pubkeys,
                head_validators: 0,
                finalized_validators: 0,
                fork_choice: read_fork_choice(txn, t)?,
            })
        })?;
        if deep {
            let stored = self.pubkeys()?;
            for (which, pointer) in [("head", report.head), ("finalized", report.finalized)] {
                let state = self.load_state(&pointer.state_root)?;
                let n = state.validators.len();
                if stored.len() < n {
                    return Err(fail(format!(
                        "{which} state has {n} validators, pubkey table {}",
                        stored.len()
                    )));
                }
                for (i, (v, pk)) in state.validators.iter().zip(&stored).enumerate() {
                    if v.pubkey.as_slice() != pk.as_slice() {
                        return Err(fail(format!("pubkey {i} differs from the {which} state")));
                    }
                }
                if which == "head" {
                    report.head_validators = n;
                } else {
                    report.finalized_validators = n;
                }
            }
        }
        Ok(report)
    }
}

fn read_fork_choice(txn: &RoTxn, t: &Tables) -> Result<Option<(u32, Vec<u8>)>> {
    let Some(value) = t.fork_choice.get(txn, FORK_CHOICE_KEY)? else {
        return Ok(None);
    };
    let (version, bytes) = value
        .split_first_chunk::<4>()
        .ok_or_else(|| StoreError::corrupt("fork_choice", FORK_CHOICE_KEY, "shorter than 4 B"))?;
    Ok(Some((u32::from_be_bytes(*version), bytes.to_vec())))
}

/// Points the head at `head` and rewrites the canonical index from the fork point up.
fn set_head(txn: &mut RwTxn, t: &Tables, head: &Hash256) -> Result<()> {
    let finalized = require_pointer(txn, t, PointerName::Finalized)?;
    let head_meta = require_meta(txn, t, head)?;
    let mut path: Vec<(Slot, Hash256)> = Vec::new();
    let mut root = *head;
    let mut meta = head_meta;
    let fork_slot = loop {
        if get_canonical(txn, t, meta.slot)? == Some(root) {
            break meta.slot;
        }
        if meta.slot <= finalized.slot {
            return Err(StoreError::NotDescendant {
                root: *head,
                slot: head_meta.slot,
                finalized: finalized.block_root,
            });
        }
        path.push((meta.slot, root));
        root = meta.parent_root;
        meta = require_meta(txn, t, &root)?;
    };
    if fork_slot < finalized.slot {
        return Err(StoreError::NotDescendant {
            root: *head,
            slot: head_meta.slot,
            finalized: finalized.block_root,
        });
    }
    let after = fork_slot.to_be_bytes();
    t.canonical
        .delete_range(txn, &(Bound::Excluded(&after[..]), Bound::Unbounded))?;
    for (slot, root) in path {
        t.canonical.put(txn, &slot.to_be_bytes(), root.as_slice())?;
    }
    let pointer = Pointer {
        epoch: epoch_of(head_meta.slot),
        slot: head_meta.slot,
        block_root: *head,
        state_root: head_meta.state_root,
    };
    put_pointer(txn, t, PointerName::Head, &pointer)
}

#[cfg(test)]
mod tests {
    use super::testchain::{run_writer, synthetic_state, WriterPlan};
    use super::*;
    use crate::consensus::preset::PresetName;

    /// The by-range and by-root lookups on a chain with forks, skipped slots and finality:
    /// exactly the head's ancestors in the range, finalized ones included, bytes that decode to
    /// the block with that root.
    #[test]
    fn canonical_range_and_root_lookups() {
        if spec::PRESET.name != PresetName::Minimal {
            return; // One preset is enough (the mainnet one would build 32-slot epochs).
        }
        let dir = std::env::temp_dir().join(format!("ember-store-lookup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let chain = ChainConfig::for_preset(PresetName::Minimal).with_forks_at_genesis();
        let store =
            BeaconStore::open(&dir, StoreConfig::new(&MemoryBudget::default()), chain).unwrap();
        let plan = WriterPlan {
            seed: 3,
            until_slot: 60,
            deposit_every: 0,
            fork_one_in: 4,
            skip_one_in: 5,
        };
        run_writer(
            &store,
            || synthetic_state(store.chain_config(), 32),
            &plan,
            |_, _, _| {},
        )
        .unwrap();
        let head = store.pointer(PointerName::Head).unwrap();
        let finalized = store.pointer(PointerName::Finalized).unwrap();
        assert!(finalized.slot > 8, "the chain finalized: {finalized:?}");
        // The head's ancestors by walking parent links.
        let mut ancestors = Vec::new();
        let mut root = head.block_root;
        while let Some(meta) = store.block_meta(&root).unwrap() {
            ancestors.push((meta.slot, root));
            if meta.slot == 0 {
                break;
            }
            root = meta.parent_root;
        }
        ancestors.reverse();
        let all = store.canonical_blocks_ssz(0, head.slot + 10, 1000).unwrap();
        let listed: Vec<(Slot, Hash256)> = all.iter().map(|(s, r, _)| (*s, *r)).collect();
        assert_eq!(listed, ancestors);
        for (slot, root, ssz) in &all {
            let block = SignedBeaconBlock::from_ssz_bytes(ssz).unwrap();
            assert_eq!(block.message.slot, *slot);
            assert_eq!(block.message.tree_hash_root(), *root);
            assert_eq!(store.block_ssz(root).unwrap(), Some((*slot, ssz.clone())));
            assert!(store.has_block(root).unwrap());
        }
        // A window across the finalized slot, bounded by count and by max.
        let from = finalized.slot - 4;
        let window = store.canonical_blocks_ssz(from, 8, 1000).unwrap();
        let expected: Vec<Slot> = ancestors
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| (from..from + 8).contains(s))
            .collect();
        assert_eq!(
            window.iter().map(|(s, _, _)| *s).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(store.canonical_blocks_ssz(0, 1000, 3).unwrap().len(), 3);
        assert!(store
            .canonical_blocks_ssz(head.slot + 1, 10, 10)
            .unwrap()
            .is_empty());
        assert!(store.canonical_blocks_ssz(5, 0, 10).unwrap().is_empty());
        assert!(store
            .canonical_blocks_ssz(u64::MAX - 1, u64::MAX, 10)
            .unwrap()
            .is_empty());
        let unknown = Hash256::repeat_byte(0xee);
        assert_eq!(store.block_ssz(&unknown).unwrap(), None);
        assert!(!store.has_block(&unknown).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
