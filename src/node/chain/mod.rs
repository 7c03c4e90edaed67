//! The chain of one preset: the single writer that owns the fork choice and the store, the read
//! snapshot it publishes, the import pipelines (blocks, attestations, aggregates, sync committee
//! messages), the pools and block production. Compiled per preset (`node::{mainnet,minimal}`).
//!
//! # Concurrency
//! One writer ([`Writer`]) owns the spec's fork-choice `Store` ([`ForkChoiceStore`]) and the
//! database's write side, and receives [`Msg`]s on a bounded channel ([`WRITER_QUEUE`]); it is
//! the only code that mutates them, so fork choice needs no lock (Grandine's lesson: a
//! `RwLock` around fork choice serialises readers behind imports anyway and invites deadlocks).
//! After every change it publishes an immutable [`Snapshot`] (head, checkpoints, head state as
//! an `Arc`) that readers (duties, the API, block production) take with one short read lock.
//!
//! Block import: decoding, the execution client's `newPayload` verdict, and the state
//! transition with every signature checked in one batch run *outside* the writer (on the
//! blocking pool, or inline with `--single-thread`), on the parent's post-state from the
//! store's state cache. The writer then runs the fork-choice part of `on_block` on the
//! computed post-state, the block's attestations, `get_head`, and one store transaction
//! (`BeaconStore::import_block` with the `ChainUpdate`). `forkchoiceUpdated` follows.
//!
//! Attestations: signatures are verified in batches outside the writer against the head state;
//! the pool takes them at once; the writer applies them to fork choice (`on_attestation`, the
//! signature check skipped) once their slot is past (the spec ignores attestations of the
//! current slot), from a bounded queue ([`PENDING_ATTESTATIONS`]).

use super::{beacon_api, el, spec, store, vc};
use crate::api::events::{BlockEvent, ChainReorgEvent, FinalizedCheckpointEvent, HeadEvent};
use crate::api::metrics::Metrics;
use crate::api::{Event, EventBus};
use crate::consensus::bls;
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::execution::{ExecutionEngine, NewPayloadRequest};
use crate::consensus::primitives::*;
use crate::consensus::pubkey_cache::PubkeyCache;
use crate::execution::json::{ForkchoiceState, PayloadAttributes, PayloadStatusKind};
use crate::execution::EngineClient;
use crate::fork_choice::Checkpoint as CoreCheckpoint;
use crate::node::clock::{now_ms, SlotClock, SlotPhase};
use crate::node::{blocking, graffiti_bytes, BnArgs, NodeError};
use crate::store::budget::MemoryBudget;
use crate::store::PointerName;
use spec::fork_choice::{AssumeAvailable, ForkChoiceStore};
use spec::transition::block::{
    execution_payload_view, get_execution_requests_list, get_expected_withdrawals, process_block,
    state_transition, VerifySignatures,
};
use spec::transition::helpers::{
    compute_epoch_at_slot, compute_start_slot_at_epoch, compute_time_at_slot, get_beacon_committee,
    get_beacon_proposer_index, get_block_root, get_committee_count_per_slot, get_current_epoch,
    get_previous_epoch, get_randao_mix, has_flag, is_active_validator,
};
use spec::transition::signatures::{attestation_signature, get_sync_committee_indices};
use spec::transition::slot::process_slots;
use spec::{
    Attestation, AttestationData, BeaconBlock, BeaconBlockBody, BeaconState, Checkpoint,
    ExecutionPayload, SignedAggregateAndProof, SignedBeaconBlock, SignedContributionAndProof,
    SingleAttestation, SyncCommitteeContribution, SyncCommitteeMessage,
};
use ssz_types::{BitVector, VariableList};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use store::{BeaconStore, ChainUpdate, StoreConfig};
use tokio::sync::{mpsc, oneshot};
use tree_hash::TreeHash;

pub mod api;
pub mod duties;
pub mod gossip;
pub mod network;
pub mod pool;
pub use pool::*;

/// Messages the writer's channel holds before senders wait: a slot brings one block, three
/// ticks and a few attestation batches, so 64 is many slots of slack; a full channel
/// back-pressures the importers instead of growing memory.
pub const WRITER_QUEUE: usize = 64;

/// Verified attestations waiting for their slot to pass before fork choice counts them: two
/// epochs of one vote per validator at mainnet's 1M validators would be too many, so the bound
/// is from the gossip-queue budget (an `Attestation` is ~350 B); the oldest are dropped first.
pub fn pending_attestations_bound(budget: &MemoryBudget) -> usize {
    budget.queue_len(crate::store::budget::Consumer::GossipQueues, 512)
}

/// What the writer publishes after every change; readers hold an `Arc` to one version.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub head_root: Root,
    pub head_slot: Slot,
    pub head_state_root: Root,
    /// The head block's post-state.
    pub head_state: Arc<BeaconState>,
    pub head_block: Arc<SignedBeaconBlock>,
    pub justified: CoreCheckpoint,
    pub finalized: CoreCheckpoint,
    /// Whether the head's payload was imported optimistically (engine SYNCING/ACCEPTED).
    pub optimistic: bool,
    /// The slot of the last tick.
    pub current_slot: Slot,
    pub genesis_time: u64,
    pub genesis_validators_root: Root,
    /// The fork-choice tree: (root, parent, slot, weight, justified epoch, finalized epoch).
    pub fork_choice_nodes: Arc<Vec<ForkChoiceNodeInfo>>,
}

/// One fork-choice node as the API's `debug/fork_choice` shows it.
#[derive(Debug, Clone)]
pub struct ForkChoiceNodeInfo {
    pub root: Root,
    pub parent_root: Option<Root>,
    pub slot: Slot,
    pub weight: Gwei,
    pub justified_epoch: Epoch,
    pub finalized_epoch: Epoch,
    pub execution_block_hash: Option<Hash256>,
    /// Its payload was imported optimistically.
    pub optimistic: bool,
}

/// The node's options that shape the blocks it proposes.
#[derive(Debug, Clone)]
pub struct ProposerOptions {
    pub graffiti: [u8; 32],
    pub fee_recipient: ExecutionAddress,
}

/// The execution layer as the chain uses it.
pub enum Execution {
    /// The execution client (required: a node never makes up or skips execution payloads; a
    /// devnet runs `ember mock-el`) over the Engine API (`--execution-endpoint`, `--execution-jwt`).
    Engine(EngineClient),
}

/// The execution client's verdict on a payload, fetched before the state transition (which is
/// pure and must not do I/O).
struct Verdict(bool);

impl ExecutionEngine for Verdict {
    fn verify_and_notify_new_payload(&self, _: &NewPayloadRequest<'_>) -> bool {
        self.0
    }
}

/// What the writer is asked to do.
pub enum Msg {
    /// The clock reached `phase` of `slot` (`time`: the store time in seconds).
    Tick {
        slot: Slot,
        phase: SlotPhase,
        time: u64,
        done: oneshot::Sender<()>,
    },
    /// A block whose state transition ran outside the writer.
    Block {
        block: Arc<SignedBeaconBlock>,
        root: Root,
        post_state: Box<BeaconState>,
        optimistic: bool,
        done: oneshot::Sender<Result<ImportOutcome, NodeError>>,
    },
    /// Attestations with verified signatures, for fork choice.
    Attestations(Vec<Attestation>),
}

/// The result of importing a block.
#[derive(Debug, Clone, Copy)]
pub struct ImportOutcome {
    pub root: Root,
    pub head: Root,
    pub head_changed: bool,
}

/// Counters and gauges the node exposes (the API's metrics read them).
#[derive(Debug, Default)]
pub struct ChainMetrics {
    pub blocks_imported: std::sync::atomic::AtomicU64,
    pub last_block_import_ms: std::sync::atomic::AtomicU64,
    pub last_block_production_ms: std::sync::atomic::AtomicU64,
    pub reorgs: std::sync::atomic::AtomicU64,
    pub attestations_verified: std::sync::atomic::AtomicU64,
}

/// The chain: the handle every task shares.
pub struct Chain {
    pub config: ChainConfig,
    pub store: Arc<BeaconStore>,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    tx: mpsc::Sender<Msg>,
    pub attestation_pool: Mutex<AttestationPool>,
    pub sync_pool: Mutex<SyncPool>,
    pub operation_pool: Mutex<OperationPool>,
    pubkeys: Arc<PubkeyCache>,
    pub execution: Execution,
    pub clock: SlotClock,
    pub proposer: ProposerOptions,
    pub single_thread: bool,
    pub metrics: ChainMetrics,
    /// The Beacon API's event stream (head, block, finalized_checkpoint, chain_reorg).
    pub events: EventBus,
    /// The network, once started (unset with `--no-network` and in tests without peers): the
    /// node publishes its own blocks and messages through it.
    pub network: std::sync::OnceLock<crate::network::NetworkHandle>,
    /// Gossip validation's "first seen" caches (the router validates with them; the node's own
    /// messages are recorded in them when published).
    pub gossip_caches: gossip::GossipCaches,
    /// What the router tells the Beacon API (sync state, peers, identity); default (no peers,
    /// not syncing) with `--no-network`.
    pub network_view: Mutex<network::NetworkView>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Pools hold plain data checked on use; a panic elsewhere cannot corrupt them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn short(root: &Root) -> String {
    let hex = format!("{root:?}");
    format!("{}…", &hex[..hex.len().min(10)])
}

fn core_to_spec(cp: CoreCheckpoint) -> Checkpoint {
    Checkpoint {
        epoch: cp.epoch,
        root: cp.root,
    }
}

fn transition_error(e: impl std::fmt::Display) -> NodeError {
    NodeError::Transition(e.to_string())
}

/// Reads a genesis state file (`.ssz` or `.ssz_snappy`).
pub fn read_genesis_state(path: &std::path::Path) -> Result<BeaconState, NodeError> {
    use ssz::Decode;
    let contents =
        std::fs::read(path).map_err(|e| NodeError::Genesis(format!("{}: {e}", path.display())))?;
    let bytes = crate::tools::ssz::ssz_from_file_bytes(&path.to_string_lossy(), contents)
        .map_err(|e| NodeError::Genesis(format!("{}: {e}", path.display())))?;
    BeaconState::from_ssz_bytes(&bytes)
        .map_err(|e| NodeError::Genesis(format!("{}: not a BeaconState: {e:?}", path.display())))
}

/// Opens the store (initialising it from `genesis` on the first start) and rebuilds fork
/// choice from the finalized (anchor) state and the hot blocks, in slot order. Returns the
/// fork choice and how many blocks were replayed.
pub fn open_chain(
    store: &BeaconStore,
    genesis: Option<&BeaconState>,
    config: &ChainConfig,
) -> Result<(ForkChoiceStore, usize), NodeError> {
    if !store.is_initialised()? {
        let genesis = genesis.ok_or_else(|| {
            NodeError::Genesis(
                "the store is empty: --genesis-state is needed on the first start".into(),
            )
        })?;
        let root = store.initialise_from_genesis(genesis)?;
        tracing::info!(genesis_block = %root, validators = genesis.validators.len(), genesis_time = genesis.genesis_time, "store initialised from the genesis state");
    }
    let finalized = store.pointer(PointerName::Finalized)?;
    let anchor_state = store.load_state(&finalized.state_root)?;
    if let Some(genesis) = genesis {
        if genesis.genesis_validators_root != anchor_state.genesis_validators_root {
            return Err(NodeError::Genesis(format!(
                "--genesis-state is another chain (genesis validators root {} but the store holds {})",
                genesis.genesis_validators_root, anchor_state.genesis_validators_root
            )));
        }
    }
    let anchor_block = store.block(&finalized.block_root)?.ok_or(NodeError::Store(
        crate::store::StoreError::UnknownBlock(finalized.block_root),
    ))?;
    let mut fc =
        ForkChoiceStore::get_forkchoice_store(anchor_state, &anchor_block.message, config)?;
    let now = now_ms() / 1000;
    if now >= fc.fork_choice().genesis_time() {
        fc.on_tick(now)?;
    }
    let mut hot = store.hot_blocks()?;
    hot.sort_by_key(|(slot, root, _)| (*slot, *root));
    let mut replayed = 0usize;
    for (_, root, meta) in hot {
        let Some(block) = store.block(&root)? else {
            continue;
        };
        let state = store.load_state(&meta.state_root)?;
        match fc.on_block_with_post_state(&block, root, state, &AssumeAvailable) {
            Ok(_) => {
                replayed += 1;
                for attestation in block.message.body.attestations.iter() {
                    let _ = fc.on_attestation(attestation, true);
                }
            }
            Err(e) => {
                tracing::warn!(%root, error = %e, "stored block not replayed into fork choice")
            }
        }
    }
    Ok((fc, replayed))
}

impl Chain {
    /// The current snapshot (one short read lock).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn pubkeys(&self) -> &PubkeyCache {
        &self.pubkeys
    }

    async fn send(&self, msg: Msg) -> Result<(), NodeError> {
        self.tx.send(msg).await.map_err(|_| NodeError::WriterGone)
    }

    /// Tells the writer the clock reached `phase` of `slot`; returns once it is processed (head
    /// recomputed), so duties that follow see the new head.
    pub async fn tick(
        &self,
        slot: Slot,
        phase: SlotPhase,
        instant_ms: u64,
    ) -> Result<(), NodeError> {
        let (done, wait) = oneshot::channel();
        let time = self.clock.store_time(instant_ms, now_ms());
        self.send(Msg::Tick {
            slot,
            phase,
            time,
            done,
        })
        .await?;
        wait.await.map_err(|_| NodeError::WriterGone)
    }

    // ------------------------------------------------------------------ block import

    /// The import pipeline: the EL verdict, the state transition with batched signature
    /// checks (outside the writer), then the writer's fork-choice and store update.
    pub async fn import_block(
        self: &Arc<Self>,
        block: Arc<SignedBeaconBlock>,
    ) -> Result<ImportOutcome, NodeError> {
        let started = Instant::now();
        let root = block.message.tree_hash_root();
        let slot = block.message.slot;
        let parent_root = block.message.parent_root;
        let parent = self
            .store
            .block_meta(&parent_root)?
            .ok_or(NodeError::UnknownParent {
                root,
                parent: parent_root,
            })?;
        // The EL verdict first: the transition is pure and takes it as an answer.
        let (valid, optimistic) = self.new_payload(&block).await?;
        let chain = self.clone();
        let checked = block.clone();
        let post_state = blocking(
            self.single_thread,
            move || -> Result<BeaconState, NodeError> {
                let mut state = chain.store.load_state(&parent.state_root)?;
                state_transition(
                    &mut state,
                    &checked,
                    true,
                    &chain.config,
                    &Verdict(valid),
                    VerifySignatures::Batch(&chain.pubkeys),
                )
                .map_err(|e| NodeError::InvalidBlock {
                    root,
                    slot,
                    reason: e.to_string(),
                })?;
                Ok(state)
            },
        )
        .await??;
        let (done, wait) = oneshot::channel();
        self.send(Msg::Block {
            block: block.clone(),
            root,
            post_state: Box::new(post_state),
            optimistic,
            done,
        })
        .await?;
        let outcome = wait.await.map_err(|_| NodeError::WriterGone)??;
        let elapsed = started.elapsed();
        Metrics::global()
            .ember_block_import_seconds
            .observe(elapsed.as_secs_f64());
        self.metrics
            .blocks_imported
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.metrics.last_block_import_ms.store(
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        tracing::info!(
            "imported block slot {slot} {} proposer {} | {} attestations, sync {}/{} | {:.1} ms{}",
            short(&root),
            block.message.proposer_index,
            block.message.body.attestations.len(),
            block
                .message
                .body
                .sync_aggregate
                .sync_committee_bits
                .num_set_bits(),
            spec::PRESET.sync_committee_size,
            elapsed.as_secs_f64() * 1000.0,
            if outcome.head_changed {
                ""
            } else {
                " (not head)"
            }
        );
        self.forkchoice_updated().await;
        Ok(outcome)
    }

    /// `engine_newPayload`'s verdict: (valid, optimistic).
    async fn new_payload(&self, block: &SignedBeaconBlock) -> Result<(bool, bool), NodeError> {
        let body = &block.message.body;
        let request = NewPayloadRequest {
            execution_payload: execution_payload_view(&body.execution_payload),
            versioned_hashes: body
                .blob_kzg_commitments
                .iter()
                .map(|c| crate::consensus::execution::kzg_commitment_to_versioned_hash(&c.0))
                .collect(),
            parent_beacon_block_root: block.message.parent_root,
            execution_requests_list: get_execution_requests_list(&body.execution_requests),
        };
        match &self.execution {
            Execution::Engine(engine) => {
                let status = engine
                    .new_payload(&request)
                    .await
                    .map_err(|e| NodeError::Execution(format!("newPayload: {e}")))?;
                match status.status {
                    PayloadStatusKind::Valid => Ok((true, false)),
                    // Optimistic import (sync.md): the payload is assumed valid until the
                    // execution client says otherwise.
                    PayloadStatusKind::Syncing | PayloadStatusKind::Accepted => Ok((true, true)),
                    PayloadStatusKind::Invalid | PayloadStatusKind::InvalidBlockHash => {
                        tracing::warn!(
                            slot = block.message.slot,
                            error = ?status.validation_error,
                            "execution client: payload {:?}",
                            status.status
                        );
                        Ok((false, false))
                    }
                }
            }
        }
    }

    /// The execution block hash of a stored beacon block (zero for the genesis block, whose
    /// body is empty: the Engine API reads a zero hash as "none yet").
    fn payload_hash(&self, root: &Root) -> Hash256 {
        match self.store.block(root) {
            Ok(Some(block)) => block.message.body.execution_payload.block_hash,
            _ => Hash256::ZERO,
        }
    }

    /// The fork-choice state for the execution client: head, safe (justified) and finalized
    /// payload hashes.
    fn forkchoice_state(&self, snapshot: &Snapshot) -> ForkchoiceState {
        ForkchoiceState {
            head_block_hash: snapshot
                .head_state
                .latest_execution_payload_header
                .block_hash,
            safe_block_hash: self.payload_hash(&snapshot.justified.root),
            finalized_block_hash: self.payload_hash(&snapshot.finalized.root),
        }
    }

    /// `engine_forkchoiceUpdated` without attributes after the head moved.
    async fn forkchoice_updated(&self) {
        let Execution::Engine(engine) = &self.execution;
        let snapshot = self.snapshot();
        let state = self.forkchoice_state(&snapshot);
        match engine.forkchoice_updated(state, None).await {
            Ok(response) => {
                if matches!(
                    response.payload_status.status,
                    PayloadStatusKind::Invalid | PayloadStatusKind::InvalidBlockHash
                ) {
                    tracing::warn!(status = ?response.payload_status, "forkchoiceUpdated: head payload invalid");
                }
            }
            Err(e) => tracing::warn!(error = %e, "forkchoiceUpdated failed"),
        }
    }

    // ------------------------------------------------------------------ attestations

    /// Verifies single attestations (one batch; one by one only if the batch fails), pools the
    /// valid ones and hands them to fork choice. Returns per-item results.
    pub async fn publish_attestations(
        self: &Arc<Self>,
        attestations: Vec<SingleAttestation>,
    ) -> Result<Vec<Result<(), String>>, NodeError> {
        let snapshot = self.snapshot();
        let chain = self.clone();
        let (results, valid) = blocking(self.single_thread, move || {
            let state = attestation_state(&snapshot.head_state, &attestations, &chain.config);
            let mut results = Vec::with_capacity(attestations.len());
            let mut converted: Vec<Option<(Attestation, SingleVote)>> = Vec::new();
            for single in &attestations {
                match to_attestation(&state, single) {
                    Ok(pair) => {
                        results.push(Ok(()));
                        converted.push(Some(pair));
                    }
                    Err(e) => {
                        results.push(Err(e));
                        converted.push(None);
                    }
                }
            }
            let ok = verify_attestations(&state, &chain.pubkeys, &converted);
            let mut valid = Vec::new();
            for ((result, item), good) in results.iter_mut().zip(converted).zip(ok) {
                if let Some((attestation, vote)) = item {
                    if good {
                        lock(&chain.attestation_pool).insert_single(
                            &attestation.data,
                            vote,
                            &attestation.signature,
                        );
                        valid.push(attestation);
                    } else {
                        *result = Err("invalid signature".into());
                    }
                }
            }
            (results, valid)
        })
        .await?;
        self.metrics
            .attestations_verified
            .fetch_add(valid.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if !valid.is_empty() {
            self.send(Msg::Attestations(valid)).await?;
        }
        Ok(results)
    }

    /// Verifies aggregates (the aggregate attestation's signature, the selection proof and the
    /// aggregator's signature, in one batch), pools the valid ones, hands them to fork choice.
    pub async fn publish_aggregates(
        self: &Arc<Self>,
        aggregates: Vec<SignedAggregateAndProof>,
    ) -> Result<Vec<Result<(), String>>, NodeError> {
        let snapshot = self.snapshot();
        let chain = self.clone();
        let (results, valid) = blocking(self.single_thread, move || {
            let mut results = Vec::new();
            let mut valid = Vec::new();
            for signed in &aggregates {
                let attestation = &signed.message.aggregate;
                let state = attestation_state(
                    &snapshot.head_state,
                    std::slice::from_ref(&SingleAttestation {
                        committee_index: 0,
                        attester_index: 0,
                        data: attestation.data.clone(),
                        signature: Default::default(),
                    }),
                    &chain.config,
                );
                match verify_aggregate(&state, &chain.pubkeys, signed) {
                    Ok(()) => {
                        lock(&chain.attestation_pool).insert_aggregate(attestation);
                        valid.push(attestation.clone());
                        results.push(Ok(()));
                    }
                    Err(e) => results.push(Err(e)),
                }
            }
            (results, valid)
        })
        .await?;
        if !valid.is_empty() {
            self.send(Msg::Attestations(valid)).await?;
        }
        Ok(results)
    }

    /// Verifies sync committee messages (one batch) and pools the valid ones.
    pub async fn publish_sync_committee_messages(
        self: &Arc<Self>,
        messages: Vec<SyncCommitteeMessage>,
    ) -> Result<Vec<Result<(), String>>, NodeError> {
        let snapshot = self.snapshot();
        let chain = self.clone();
        blocking(self.single_thread, move || {
            let state = &snapshot.head_state;
            let committee = get_sync_committee_indices(state).unwrap_or_default();
            let mut results = Vec::new();
            for message in &messages {
                let positions: Vec<usize> = committee
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v == message.validator_index)
                    .map(|(i, _)| i)
                    .collect();
                if positions.is_empty() {
                    results.push(Err("not in the current sync committee".to_string()));
                    continue;
                }
                let root = spec::validator::get_sync_committee_message_signing_root(
                    state,
                    message.slot,
                    message.beacon_block_root,
                );
                match verify_one(
                    state,
                    &chain.pubkeys,
                    message.validator_index,
                    root,
                    &message.signature,
                ) {
                    true => {
                        lock(&chain.sync_pool).insert_message(
                            message.slot,
                            message.beacon_block_root,
                            &positions,
                            &message.signature,
                        );
                        results.push(Ok(()));
                    }
                    false => results.push(Err("invalid signature".to_string())),
                }
            }
            results
        })
        .await
    }

    /// Verifies contributions (the contribution's aggregate signature and the aggregator's) and
    /// pools the valid ones.
    pub async fn publish_contributions(
        self: &Arc<Self>,
        contributions: Vec<SignedContributionAndProof>,
    ) -> Result<Vec<Result<(), String>>, NodeError> {
        let snapshot = self.snapshot();
        let chain = self.clone();
        blocking(self.single_thread, move || {
            let state = &snapshot.head_state;
            let committee = get_sync_committee_indices(state).unwrap_or_default();
            let mut results = Vec::new();
            for signed in &contributions {
                let contribution = &signed.message.contribution;
                match verify_contribution(state, &chain.pubkeys, &committee, signed) {
                    Ok(()) => {
                        lock(&chain.sync_pool).insert_contribution(contribution);
                        results.push(Ok(()));
                    }
                    Err(e) => results.push(Err(e)),
                }
            }
            results
        })
        .await
    }

    // ------------------------------------------------------------------ duties' reads

    /// validator.md attestation data for `slot` and `committee_index` on the current head:
    /// head root, target (the epoch-boundary block of the head's chain), source (the
    /// justified checkpoint of the head state advanced to the slot's epoch).
    pub fn attestation_data(
        &self,
        slot: Slot,
        committee_index: CommitteeIndex,
    ) -> Result<AttestationData, NodeError> {
        let snapshot = self.snapshot();
        let epoch = compute_epoch_at_slot(slot);
        let epoch_start = compute_start_slot_at_epoch(epoch).map_err(transition_error)?;
        let head_state = &snapshot.head_state;
        if slot.saturating_add(spec::PRESET.slots_per_epoch) < snapshot.head_slot {
            return Err(NodeError::BadRequest(format!(
                "slot {slot} is too far behind the head at {}",
                snapshot.head_slot
            )));
        }
        let target_root = if snapshot.head_slot <= epoch_start {
            snapshot.head_root
        } else {
            get_block_root(head_state, epoch).map_err(transition_error)?
        };
        let source = if get_current_epoch(head_state) < epoch {
            let mut advanced = (*snapshot.head_state).clone();
            process_slots(&mut advanced, &self.config, epoch_start).map_err(transition_error)?;
            advanced.current_justified_checkpoint
        } else {
            head_state.current_justified_checkpoint.clone()
        };
        let _ = committee_index; // Electra: `data.index` is always 0 (EIP-7549).
        Ok(AttestationData {
            slot,
            index: 0,
            beacon_block_root: snapshot.head_root,
            source,
            target: Checkpoint {
                epoch,
                root: target_root,
            },
        })
    }

    /// The best pooled aggregate of `committee_index` for the data with root `data_root`.
    pub fn aggregate_attestation(
        &self,
        data_root: &Root,
        committee_index: CommitteeIndex,
    ) -> Option<Attestation> {
        lock(&self.attestation_pool).best_aggregate(data_root, committee_index)
    }

    /// The pool's contribution of `subcommittee_index` for (`slot`, `block_root`).
    pub fn sync_committee_contribution(
        &self,
        slot: Slot,
        subcommittee_index: u64,
        block_root: Root,
    ) -> Option<SyncCommitteeContribution> {
        lock(&self.sync_pool).contribution(slot, block_root, subcommittee_index)
    }

    // ------------------------------------------------------------------ block production

    /// Builds an unsigned block for `slot` on the current head (validator.md "Block
    /// proposal"): the payload from the execution layer, the pools' attestations, sync
    /// aggregate and operations, and `state_root` from the state transition run without
    /// signature checks on a copy. Timed (`ember_block_production_seconds`).
    pub async fn produce_block(
        self: &Arc<Self>,
        slot: Slot,
        randao_reveal: spec::BLSSignature,
        graffiti: Option<[u8; 32]>,
    ) -> Result<BeaconBlock, NodeError> {
        let started = Instant::now();
        let snapshot = self.snapshot();
        if slot <= snapshot.head_slot {
            return Err(NodeError::BadRequest(format!(
                "slot {slot} is not after the head's slot {}",
                snapshot.head_slot
            )));
        }
        let parent_root = snapshot.head_root;
        let chain = self.clone();
        let pre_snapshot = snapshot.clone();
        let state = blocking(
            self.single_thread,
            move || -> Result<BeaconState, NodeError> {
                let mut state = (*pre_snapshot.head_state).clone();
                process_slots(&mut state, &chain.config, slot).map_err(transition_error)?;
                Ok(state)
            },
        )
        .await??;
        let (payload, execution_requests, blob_kzg_commitments) =
            self.build_payload(&state, slot, parent_root).await?;
        let chain = self.clone();
        let graffiti = graffiti.unwrap_or(self.proposer.graffiti);
        let block = blocking(
            self.single_thread,
            move || -> Result<BeaconBlock, NodeError> {
                let proposer_index = get_beacon_proposer_index(&state).map_err(transition_error)?;
                let attestations = lock(&chain.attestation_pool).pack(
                    &state,
                    usize::try_from(spec::PRESET.max_attestations_electra).unwrap_or(8),
                );
                let sync_aggregate = lock(&chain.sync_pool).sync_aggregate(slot, parent_root);
                let ops = lock(&chain.operation_pool).pack(&state, &chain.config);
                let body = BeaconBlockBody {
                    randao_reveal,
                    eth1_data: state.eth1_data.clone(),
                    graffiti: spec::Bytes32::from(graffiti),
                    proposer_slashings: VariableList::new(ops.proposer_slashings)
                        .unwrap_or_default(),
                    attester_slashings: VariableList::new(ops.attester_slashings)
                        .unwrap_or_default(),
                    attestations: VariableList::new(attestations).unwrap_or_default(),
                    deposits: VariableList::default(),
                    voluntary_exits: VariableList::new(ops.voluntary_exits).unwrap_or_default(),
                    sync_aggregate,
                    execution_payload: payload,
                    bls_to_execution_changes: VariableList::new(ops.bls_to_execution_changes)
                        .unwrap_or_default(),
                    blob_kzg_commitments,
                    execution_requests,
                };
                let mut block = BeaconBlock {
                    slot,
                    proposer_index,
                    parent_root,
                    state_root: Root::ZERO,
                    body,
                };
                let mut post = state;
                process_block(
                    &mut post,
                    &block,
                    &chain.config,
                    &Verdict(true),
                    VerifySignatures::No,
                )
                .map_err(transition_error)?;
                post.apply_pending_updates()
                    .map_err(|e| transition_error(format!("{e:?}")))?;
                block.state_root = post.tree_hash_root();
                Ok(block)
            },
        )
        .await??;
        let elapsed = started.elapsed();
        Metrics::global()
            .ember_block_production_seconds
            .observe(elapsed.as_secs_f64());
        self.metrics.last_block_production_ms.store(
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        tracing::info!(
            "produced block slot {slot} on {} | {} attestations, sync {}/{} | {:.1} ms",
            short(&parent_root),
            block.body.attestations.len(),
            block.body.sync_aggregate.sync_committee_bits.num_set_bits(),
            spec::PRESET.sync_committee_size,
            elapsed.as_secs_f64() * 1000.0
        );
        Ok(block)
    }

    /// The execution payload for a block at `slot` on `state` (at `slot`).
    async fn build_payload(
        &self,
        state: &BeaconState,
        slot: Slot,
        parent_root: Root,
    ) -> Result<
        (
            ExecutionPayload,
            spec::ExecutionRequests,
            el::BlobKzgCommitments,
        ),
        NodeError,
    > {
        let timestamp =
            compute_time_at_slot(state, &self.config, slot).map_err(transition_error)?;
        let prev_randao =
            get_randao_mix(state, get_current_epoch(state)).map_err(transition_error)?;
        let withdrawals = get_expected_withdrawals(state)
            .map_err(transition_error)?
            .withdrawals;
        match &self.execution {
            Execution::Engine(engine) => {
                let snapshot = self.snapshot();
                let mut fc_state = self.forkchoice_state(&snapshot);
                fc_state.head_block_hash = state.latest_execution_payload_header.block_hash;
                let attributes = PayloadAttributes {
                    timestamp,
                    prev_randao,
                    suggested_fee_recipient: self.proposer.fee_recipient,
                    withdrawals: withdrawals
                        .iter()
                        .map(|w| crate::execution::json::JsonWithdrawal {
                            index: w.index,
                            validator_index: w.validator_index,
                            address: w.address,
                            amount: w.amount,
                        })
                        .collect(),
                    parent_beacon_block_root: parent_root,
                };
                let response = engine
                    .forkchoice_updated(fc_state, Some(attributes))
                    .await
                    .map_err(|e| NodeError::Execution(format!("forkchoiceUpdated: {e}")))?;
                let id = response.payload_id.ok_or_else(|| {
                    NodeError::Execution(format!(
                        "forkchoiceUpdated gave no payload id ({:?})",
                        response.payload_status.status
                    ))
                })?;
                let built = engine
                    .get_payload(id)
                    .await
                    .map_err(|e| NodeError::Execution(format!("getPayload: {e}")))?;
                let payload = el::execution_payload_from_json(&built.execution_payload)
                    .map_err(|e| NodeError::Execution(e.to_string()))?;
                let requests = el::execution_requests_from_list(&built.execution_requests)
                    .map_err(|e| NodeError::Execution(e.to_string()))?;
                let commitments = el::blobs_bundle_commitments(&built.blobs_bundle)
                    .map_err(|e| NodeError::Execution(e.to_string()))?;
                Ok((payload, requests, commitments))
            }
        }
    }
}

/// The head state, advanced to the attestations' epoch when it is behind (committees of an
/// epoch are only known from a state of that epoch or the one before).
fn attestation_state(
    head: &Arc<BeaconState>,
    items: &[SingleAttestation],
    config: &ChainConfig,
) -> Arc<BeaconState> {
    let Some(epoch) = items
        .iter()
        .map(|a| compute_epoch_at_slot(a.data.slot))
        .max()
    else {
        return head.clone();
    };
    if get_current_epoch(head) >= epoch {
        return head.clone();
    }
    let mut state = (**head).clone();
    match compute_start_slot_at_epoch(epoch)
        .map_err(transition_error)
        .and_then(|slot| process_slots(&mut state, config, slot).map_err(transition_error))
    {
        Ok(()) => Arc::new(state),
        Err(_) => head.clone(),
    }
}

/// An Electra `SingleAttestation` as a one-bit `Attestation` of its committee.
fn to_attestation(
    state: &BeaconState,
    single: &SingleAttestation,
) -> Result<(Attestation, SingleVote), String> {
    let data = &single.data;
    if data.index != 0 {
        return Err("data.index must be 0".into());
    }
    if data.target.epoch != compute_epoch_at_slot(data.slot) {
        return Err("target epoch does not match the slot".into());
    }
    let count = get_committee_count_per_slot(state, data.target.epoch);
    if single.committee_index >= count {
        return Err(format!(
            "committee index {} out of range ({count})",
            single.committee_index
        ));
    }
    let committee = get_beacon_committee(state, data.slot, single.committee_index)
        .map_err(|e| e.to_string())?;
    let position = committee
        .iter()
        .position(|v| *v == single.attester_index)
        .ok_or("attester not in the committee")?;
    let aggregation_bits = single_bit(committee.len(), position).ok_or("bits")?;
    let mut committee_bits = BitVector::new();
    committee_bits
        .set(
            usize::try_from(single.committee_index).map_err(|e| e.to_string())?,
            true,
        )
        .map_err(|e| format!("{e:?}"))?;
    Ok((
        Attestation {
            aggregation_bits,
            data: data.clone(),
            signature: single.signature,
            committee_bits,
        },
        SingleVote {
            committee_index: single.committee_index,
            committee_len: committee.len(),
            position,
        },
    ))
}

/// Batch-verifies the attestations' signatures; per item, whether it is valid (`None` items
/// are false).
fn verify_attestations(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    items: &[Option<(Attestation, SingleVote)>],
) -> Vec<bool> {
    let checks: Vec<Option<spec::transition::signatures::SignatureCheck>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_ref()
                .and_then(|(a, _)| attestation_signature(state, pubkeys, a, i).ok())
        })
        .collect();
    let sets: Vec<bls::SignatureSet<'_>> = checks.iter().flatten().map(|c| c.as_set()).collect();
    if !sets.is_empty() && bls::batch_verify(&sets) {
        return checks.iter().map(Option::is_some).collect();
    }
    checks
        .iter()
        .map(|c| c.as_ref().is_some_and(|c| c.is_valid()))
        .collect()
}

fn validator_pubkey(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    index: ValidatorIndex,
) -> Option<bls::PublicKey> {
    let read = |i: ValidatorIndex| {
        usize::try_from(i)
            .ok()
            .and_then(|i| state.validators.get(i))
            .map(|v| v.pubkey.0)
    };
    let view = crate::consensus::pubkey_cache::RegistryView::new(
        state.genesis_validators_root.0,
        state.validators.len() as u64,
        &read,
    );
    pubkeys.get(&view, index).ok()
}

fn verify_one(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    index: ValidatorIndex,
    root: Root,
    signature: &spec::BLSSignature,
) -> bool {
    let Some(pk) = validator_pubkey(state, pubkeys, index) else {
        return false;
    };
    let Ok(sig) = bls::Signature::from_bytes(signature.as_slice()) else {
        return false;
    };
    bls::verify(&pk, root.as_slice(), &sig)
}

/// p2p-interface.md `beacon_aggregate_and_proof` signature checks: the selection proof, the
/// aggregator's signature, the aggregate's signature.
fn verify_aggregate(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    signed: &SignedAggregateAndProof,
) -> Result<(), String> {
    let message = &signed.message;
    let aggregate = &message.aggregate;
    let selection_root = spec::validator::get_slot_signature(state, aggregate.data.slot);
    if !verify_one(
        state,
        pubkeys,
        message.aggregator_index,
        selection_root,
        &message.selection_proof,
    ) {
        return Err("invalid selection proof".into());
    }
    let aggregator_root = spec::validator::get_aggregate_and_proof_signature(state, message);
    if !verify_one(
        state,
        pubkeys,
        message.aggregator_index,
        aggregator_root,
        &signed.signature,
    ) {
        return Err("invalid aggregator signature".into());
    }
    let check = attestation_signature(state, pubkeys, aggregate, 0).map_err(|e| e.to_string())?;
    if !check.is_valid() {
        return Err("invalid aggregate signature".into());
    }
    Ok(())
}

/// p2p-interface.md `sync_committee_contribution_and_proof` signature checks (selection proof,
/// aggregator signature, the contribution's aggregate over its subcommittee members).
fn verify_contribution(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    committee: &[ValidatorIndex],
    signed: &SignedContributionAndProof,
) -> Result<(), String> {
    use typenum::Unsigned;
    let message = &signed.message;
    let contribution = &message.contribution;
    let selection_root = spec::validator::get_sync_committee_selection_proof(
        state,
        contribution.slot,
        contribution.subcommittee_index,
    );
    if !verify_one(
        state,
        pubkeys,
        message.aggregator_index,
        selection_root,
        &message.selection_proof,
    ) {
        return Err("invalid selection proof".into());
    }
    let root = spec::validator::get_contribution_and_proof_signature(state, message);
    if !verify_one(
        state,
        pubkeys,
        message.aggregator_index,
        root,
        &signed.signature,
    ) {
        return Err("invalid aggregator signature".into());
    }
    let size = spec::SyncSubcommitteeSize::to_usize();
    let base = usize::try_from(contribution.subcommittee_index)
        .ok()
        .and_then(|i| i.checked_mul(size))
        .ok_or("subcommittee index out of range")?;
    let mut keys = Vec::new();
    for (i, bit) in contribution.aggregation_bits.iter().enumerate() {
        if bit {
            let v = committee
                .get(base.saturating_add(i))
                .ok_or("subcommittee index out of range")?;
            keys.push(validator_pubkey(state, pubkeys, *v).ok_or("unknown validator")?);
        }
    }
    if keys.is_empty() {
        return Err("empty contribution".into());
    }
    let sig =
        bls::Signature::from_bytes(contribution.signature.as_slice()).map_err(|e| e.to_string())?;
    let msg = spec::validator::get_sync_committee_message_signing_root(
        state,
        contribution.slot,
        contribution.beacon_block_root,
    );
    if !bls::fast_aggregate_verify(&keys, msg.as_slice(), &sig) {
        return Err("invalid contribution signature".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------- the writer

/// The single owner of fork choice and the store's write side.
pub struct Writer {
    fc: ForkChoiceStore,
    store: Arc<BeaconStore>,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    chain: std::sync::Weak<Chain>,
    pending: std::collections::VecDeque<Attestation>,
    pending_bound: usize,
    head: Root,
    written_justified: CoreCheckpoint,
    written_finalized: CoreCheckpoint,
    optimistic: std::collections::HashSet<Root>,
    current_slot: Slot,
}

impl Writer {
    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Tick {
                slot,
                phase,
                time,
                done,
            } => {
                if let Err(e) = self.on_tick(slot, phase, time) {
                    tracing::warn!(slot, error = %e, "tick");
                }
                let _ = done.send(());
            }
            Msg::Block {
                block,
                root,
                post_state,
                optimistic,
                done,
            } => {
                let result = self.on_block(&block, root, *post_state, optimistic);
                let _ = done.send(result);
            }
            Msg::Attestations(list) => {
                for attestation in list {
                    if attestation.data.slot < self.current_slot {
                        if let Err(e) = self.fc.on_attestation_checked(&attestation, false, false) {
                            tracing::debug!(error = %e, "attestation not applied to fork choice");
                        }
                    } else {
                        if self.pending.len() >= self.pending_bound {
                            self.pending.pop_front();
                        }
                        self.pending.push_back(attestation);
                    }
                }
            }
        }
    }

    fn on_tick(&mut self, slot: Slot, phase: SlotPhase, time: u64) -> Result<(), NodeError> {
        Metrics::global()
            .beacon_slot
            .set(i64::try_from(slot).unwrap_or(i64::MAX));
        let genesis_time = self.fc.fork_choice().genesis_time();
        if time >= genesis_time {
            self.fc.on_tick(time)?;
        }
        self.current_slot = self
            .fc
            .fork_choice()
            .get_current_slot()
            .unwrap_or(slot)
            .max(slot);
        // Attestations of past slots now count (spec: only after their slot).
        let current = self.current_slot;
        let mut keep = std::collections::VecDeque::new();
        while let Some(attestation) = self.pending.pop_front() {
            if attestation.data.slot < current {
                if let Err(e) = self.fc.on_attestation_checked(&attestation, false, false) {
                    tracing::debug!(error = %e, "attestation not applied to fork choice");
                }
            } else {
                keep.push_back(attestation);
            }
        }
        self.pending = keep;
        let head_changed = self.update_head(false)?;
        if phase == SlotPhase::Start {
            if let Some(chain) = self.chain.upgrade() {
                lock(&chain.attestation_pool).prune(slot);
                lock(&chain.sync_pool).prune(slot);
            }
            if slot > 0 {
                self.log_slot(slot - 1);
            }
        } else if head_changed {
            self.publish_snapshot()?;
        }
        // The epoch line once the new epoch's first block (which includes the last slot's
        // attestations) had its chance to be imported.
        if phase == SlotPhase::OneThird && slot % spec::PRESET.slots_per_epoch == 0 && slot > 0 {
            self.log_epoch(compute_epoch_at_slot(slot));
        }
        Ok(())
    }

    fn on_block(
        &mut self,
        block: &SignedBeaconBlock,
        root: Root,
        post_state: BeaconState,
        optimistic: bool,
    ) -> Result<ImportOutcome, NodeError> {
        self.fc
            .on_block_with_post_state(block, root, post_state.clone(), &AssumeAvailable)?;
        for attestation in block.message.body.attestations.iter() {
            if let Err(e) = self.fc.on_attestation(attestation, true) {
                tracing::debug!(error = %e, "block attestation not applied to fork choice");
            }
        }
        if optimistic {
            self.optimistic.insert(root);
        }
        let head = self.fc.get_head()?;
        let (justified, finalized) = self.checkpoint_changes();
        self.store.import_block(
            block,
            root,
            &post_state,
            &ChainUpdate {
                head: Some(head),
                justified: justified.map(core_to_spec),
                finalized: finalized.map(core_to_spec),
                fork_choice: None,
            },
        )?;
        if let Some(cp) = justified {
            self.written_justified = cp;
        }
        if let Some(cp) = finalized {
            self.written_finalized = cp;
            tracing::info!("finalized epoch {} {}", cp.epoch, short(&cp.root));
        }
        if let Some(cp) = finalized {
            self.finalized_event(cp);
        }
        let head_changed = head != self.head;
        let old = self.head;
        self.head = head;
        self.publish_snapshot()?;
        if let Some(chain) = self.chain.upgrade() {
            chain.events.publish(Event::Block(BlockEvent {
                slot: block.message.slot,
                block: root,
                execution_optimistic: optimistic,
            }));
        }
        if head_changed {
            self.head_moved(old);
        }
        Ok(ImportOutcome {
            root,
            head,
            head_changed,
        })
    }

    fn checkpoint_changes(&self) -> (Option<CoreCheckpoint>, Option<CoreCheckpoint>) {
        let fc = self.fc.fork_choice();
        let j = fc.justified_checkpoint();
        let f = fc.finalized_checkpoint();
        (
            (j != self.written_justified).then_some(j),
            (f != self.written_finalized).then_some(f),
        )
    }

    fn finalized_event(&self, cp: CoreCheckpoint) {
        let Some(chain) = self.chain.upgrade() else {
            return;
        };
        let state = self
            .store
            .block_meta(&cp.root)
            .ok()
            .flatten()
            .map_or(Hash256::ZERO, |m| m.state_root);
        chain
            .events
            .publish(Event::FinalizedCheckpoint(FinalizedCheckpointEvent {
                block: cp.root,
                state,
                epoch: cp.epoch,
                execution_optimistic: self.optimistic.contains(&cp.root),
            }));
    }

    /// After the head moved from `old` (snapshot already published): the head event, and a
    /// reorg event (and counter) when the new head does not descend from the old one.
    fn head_moved(&self, old: Root) {
        let Some(chain) = self.chain.upgrade() else {
            return;
        };
        let snapshot = chain.snapshot();
        let fc = self.fc.fork_choice();
        let old_node = fc.get_block(&old).ok().map(|n| (n.slot, n.root));
        let epoch = compute_epoch_at_slot(snapshot.head_slot);
        let dependent = |e: Epoch| -> Root {
            compute_start_slot_at_epoch(e)
                .ok()
                .and_then(|s| s.checked_sub(1))
                .and_then(|s| {
                    spec::transition::helpers::get_block_root_at_slot(&snapshot.head_state, s).ok()
                })
                .unwrap_or(snapshot.head_root)
        };
        chain.events.publish(Event::Head(HeadEvent {
            slot: snapshot.head_slot,
            block: snapshot.head_root,
            state: snapshot.head_state_root,
            epoch_transition: old_node.is_some_and(|(slot, _)| compute_epoch_at_slot(slot) < epoch),
            previous_duty_dependent_root: dependent(epoch.saturating_sub(1)),
            current_duty_dependent_root: dependent(epoch),
            execution_optimistic: snapshot.optimistic,
        }));
        let Some((old_slot, _)) = old_node else {
            return;
        };
        if fc.is_ancestor(&snapshot.head_root, &old).unwrap_or(true) {
            return;
        }
        // The common ancestor: walk the old head's chain back to a block the new head descends from.
        let mut ancestor = old;
        let mut ancestor_slot = old_slot;
        while let Ok(node) = fc.get_block(&ancestor) {
            ancestor_slot = node.slot;
            if fc
                .is_ancestor(&snapshot.head_root, &ancestor)
                .unwrap_or(true)
            {
                break;
            }
            ancestor = node.parent_root;
        }
        let old_state = self
            .store
            .block_meta(&old)
            .ok()
            .flatten()
            .map_or(Hash256::ZERO, |m| m.state_root);
        tracing::warn!(
            "reorg: head {} slot {old_slot} -> {} slot {}",
            short(&old),
            short(&snapshot.head_root),
            snapshot.head_slot
        );
        chain
            .metrics
            .reorgs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Metrics::global().beacon_reorgs_total.inc();
        chain.events.publish(Event::ChainReorg(ChainReorgEvent {
            slot: snapshot.head_slot,
            depth: old_slot.saturating_sub(ancestor_slot),
            old_head_block: old,
            new_head_block: snapshot.head_root,
            old_head_state: old_state,
            new_head_state: snapshot.head_state_root,
            epoch,
            execution_optimistic: snapshot.optimistic,
        }));
    }

    /// `get_head`; writes the chain pointers and publishes a snapshot when anything moved.
    fn update_head(&mut self, force: bool) -> Result<bool, NodeError> {
        let head = self.fc.get_head()?;
        let (justified, finalized) = self.checkpoint_changes();
        let changed = head != self.head;
        if changed || justified.is_some() || finalized.is_some() {
            self.store.update_chain(&ChainUpdate {
                head: Some(head),
                justified: justified.map(core_to_spec),
                finalized: finalized.map(core_to_spec),
                fork_choice: None,
            })?;
            if let Some(cp) = justified {
                self.written_justified = cp;
            }
            if let Some(cp) = finalized {
                self.written_finalized = cp;
                tracing::info!("finalized epoch {} {}", cp.epoch, short(&cp.root));
                self.finalized_event(cp);
            }
        }
        let old = self.head;
        self.head = head;
        if changed || force {
            self.publish_snapshot()?;
        }
        if changed {
            self.head_moved(old);
        }
        Ok(changed)
    }

    fn build_snapshot(&self) -> Result<Snapshot, NodeError> {
        build_snapshot(
            &self.fc,
            &self.store,
            self.head,
            &self.optimistic,
            self.current_slot,
        )
    }

    fn publish_snapshot(&mut self) -> Result<(), NodeError> {
        let snapshot = Arc::new(self.build_snapshot()?);
        publish_metrics(
            &snapshot,
            &self.store,
            self.fc.fork_choice().proto_array().len(),
        );
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
        Ok(())
    }

    /// The per-slot line: `slot 17 epoch 2 | head 0x1a2b… slot 17 | votes 8/8 | justified 1
    /// finalized 0`, where votes are the distinct attesters pooled for that slot over the
    /// size of its committees.
    fn log_slot(&mut self, slot: Slot) {
        if let Err(e) = self.publish_snapshot() {
            tracing::warn!(error = %e, "snapshot");
        }
        let Some(chain) = self.chain.upgrade() else {
            return;
        };
        let snapshot = chain.snapshot();
        let epoch = compute_epoch_at_slot(slot);
        let state = &snapshot.head_state;
        let expected: usize = (0..get_committee_count_per_slot(state, epoch))
            .filter_map(|i| get_beacon_committee(state, slot, i).ok())
            .map(|c| c.len())
            .sum();
        let votes = lock(&chain.attestation_pool).attesters_at(slot);
        tracing::info!(
            "slot {slot} epoch {epoch} | head {} slot {} | votes {votes}/{expected} | justified {} finalized {}{}",
            short(&snapshot.head_root),
            snapshot.head_slot,
            snapshot.justified.epoch,
            snapshot.finalized.epoch,
            if snapshot.optimistic { " | optimistic" } else { "" }
        );
    }

    /// At an epoch boundary: the previous epoch's target participation from the head state.
    fn log_epoch(&self, epoch: Epoch) {
        let Some(chain) = self.chain.upgrade() else {
            return;
        };
        let snapshot = chain.snapshot();
        let state = &snapshot.head_state;
        // The head state's "previous epoch" is epoch - 1 once it is in `epoch`; before its
        // first block of `epoch` it is still `current`.
        let (flags, of_epoch) = if get_current_epoch(state) >= epoch {
            (
                &state.previous_epoch_participation,
                get_previous_epoch(state),
            )
        } else {
            (&state.current_epoch_participation, get_current_epoch(state))
        };
        let mut active = 0u64;
        let mut target = 0u64;
        for (v, f) in state.validators.iter().zip(flags.iter()) {
            if is_active_validator(v, of_epoch) {
                active += v.effective_balance;
                if has_flag(*f, TIMELY_TARGET_FLAG_INDEX) {
                    target += v.effective_balance;
                }
            }
        }
        let pct = if active == 0 {
            0.0
        } else {
            target as f64 * 100.0 / active as f64
        };
        tracing::info!(
            "epoch {of_epoch} done | target participation {pct:.1}% | justified {} finalized {} | {} fork-choice states, {} blocks",
            snapshot.justified.epoch,
            snapshot.finalized.epoch,
            self.fc.block_state_count(),
            self.fc.fork_choice().proto_array().len()
        );
    }
}

/// Starts the chain: opens the store, rebuilds fork choice, spawns the writer. Returns the
/// shared handle.
pub fn start_chain(
    args: &BnArgs,
    budget: &MemoryBudget,
    config: ChainConfig,
) -> Result<Arc<Chain>, NodeError> {
    let genesis = args
        .genesis_state
        .as_deref()
        .map(read_genesis_state)
        .transpose()?;
    let dir = args.datadir.join("beacon");
    std::fs::create_dir_all(&dir)
        .map_err(|e| NodeError::Config(format!("{}: {e}", dir.display())))?;
    let store = Arc::new(BeaconStore::open(
        &dir,
        StoreConfig::new(budget),
        config.clone(),
    )?);
    let started = Instant::now();
    let (mut fc, replayed) = open_chain(&store, genesis.as_ref(), &config)?;
    // Prune fork choice (and its states) once an epoch of blocks precede the finalized one,
    // not the default 256: every pruned block frees a post-state.
    fc.set_prune_threshold(usize::try_from(spec::PRESET.slots_per_epoch).unwrap_or(32));
    drop(genesis);
    let head = fc.get_head()?;
    tracing::info!(
        "fork choice rebuilt from the finalized state and {replayed} stored blocks in {:.1} ms; head {}",
        started.elapsed().as_secs_f64() * 1000.0,
        short(&head)
    );
    let genesis_time = fc.fork_choice().genesis_time();
    let clock = SlotClock::new(genesis_time, config.slot_duration_ms);
    let (tx, mut rx) = mpsc::channel(WRITER_QUEUE);
    let bounds = PoolBounds::from_budget(budget);
    let current_slot = clock.current_slot().unwrap_or(0);
    let first = build_snapshot(&fc, &store, head, &Default::default(), current_slot)?;
    let fcc = fc.fork_choice();
    let mut writer = Writer {
        store: store.clone(),
        snapshot: Arc::new(RwLock::new(Arc::new(first))),
        chain: std::sync::Weak::new(),
        pending: Default::default(),
        pending_bound: pending_attestations_bound(budget),
        head,
        written_justified: fcc.justified_checkpoint(),
        written_finalized: fcc.finalized_checkpoint(),
        optimistic: Default::default(),
        current_slot,
        fc,
    };
    let graffiti = graffiti_bytes(&args.graffiti)?;
    let execution = {
        let endpoint = &args.execution_endpoint;
        let jwt = &args.execution_jwt;
        let secret = crate::execution::jwt::JwtSecret::from_file(jwt)
            .map_err(|e| NodeError::Config(format!("{}: {e}", jwt.display())))?;
        let client = EngineClient::new(endpoint, secret)
            .map_err(|e| NodeError::Config(format!("{endpoint}: {e}")))?;
        Execution::Engine(client)
    };
    let chain = Arc::new(Chain {
        config,
        store,
        snapshot: writer.snapshot.clone(),
        tx,
        attestation_pool: Mutex::new(AttestationPool::new(bounds.attestations)),
        sync_pool: Mutex::new(SyncPool::new(bounds.sync)),
        operation_pool: Mutex::new(OperationPool::new(bounds)),
        pubkeys: Arc::new(PubkeyCache::new()),
        execution,
        clock,
        proposer: ProposerOptions {
            graffiti,
            fee_recipient: args.suggested_fee_recipient,
        },
        single_thread: args.single_thread,
        metrics: ChainMetrics::default(),
        events: EventBus::default(),
        network: std::sync::OnceLock::new(),
        gossip_caches: gossip::GossipCaches::new(budget),
        network_view: Mutex::new(network::NetworkView::default()),
    });
    writer.chain = Arc::downgrade(&chain);
    if args.single_thread {
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                writer.handle(msg);
            }
        });
    } else {
        std::thread::Builder::new()
            .name("chain-writer".into())
            .spawn(move || {
                while let Some(msg) = rx.blocking_recv() {
                    writer.handle(msg);
                }
            })
            .map_err(|e| NodeError::Internal(format!("writer thread: {e}")))?;
    }
    Ok(chain)
}

fn build_snapshot(
    fc: &ForkChoiceStore,
    store: &BeaconStore,
    head: Root,
    optimistic: &std::collections::HashSet<Root>,
    current_slot: Slot,
) -> Result<Snapshot, NodeError> {
    let state = fc
        .block_state(&head)
        .ok_or(NodeError::Internal(format!("no state for head {head}")))?
        .clone();
    let block = store
        .block(&head)?
        .ok_or(NodeError::Internal(format!("head block {head} not stored")))?;
    let core = fc.fork_choice();
    let nodes = core
        .proto_array()
        .nodes()
        .iter()
        .map(|n| ForkChoiceNodeInfo {
            root: n.root,
            parent_root: (n.parent_root != Root::ZERO).then_some(n.parent_root),
            slot: n.slot,
            weight: n.weight,
            justified_epoch: n.justified_checkpoint.epoch,
            finalized_epoch: n.finalized_checkpoint.epoch,
            execution_block_hash: None,
            optimistic: optimistic.contains(&n.root),
        })
        .collect();
    Ok(Snapshot {
        head_root: head,
        head_slot: block.message.slot,
        head_state_root: block.message.state_root,
        genesis_time: state.genesis_time,
        genesis_validators_root: state.genesis_validators_root,
        head_state: Arc::new(state),
        head_block: Arc::new(block),
        justified: core.justified_checkpoint(),
        finalized: core.finalized_checkpoint(),
        optimistic: optimistic.contains(&head),
        current_slot,
        fork_choice_nodes: Arc::new(nodes),
    })
}

/// The beacon-metrics gauges of a new snapshot, and the store's cache figures.
fn publish_metrics(snapshot: &Snapshot, store: &BeaconStore, fork_choice_nodes: usize) {
    let m = Metrics::global();
    let state = &snapshot.head_state;
    m.set_head(snapshot.head_slot, &snapshot.head_root);
    m.set_checkpoints(
        (
            state.current_justified_checkpoint.epoch,
            &state.current_justified_checkpoint.root,
        ),
        (
            state.previous_justified_checkpoint.epoch,
            &state.previous_justified_checkpoint.root,
        ),
        (
            state.finalized_checkpoint.epoch,
            &state.finalized_checkpoint.root,
        ),
    );
    let epoch = get_current_epoch(state);
    let active = state
        .validators
        .iter()
        .filter(|v| is_active_validator(v, epoch))
        .count();
    m.beacon_current_active_validators
        .set(i64::try_from(active).unwrap_or(i64::MAX));
    m.beacon_processed_deposits_total
        .set(i64::try_from(state.eth1_deposit_index).unwrap_or(i64::MAX));
    m.beacon_pending_deposits
        .set(i64::try_from(state.pending_deposits.len()).unwrap_or(i64::MAX));
    m.ember_fork_choice_nodes
        .set(i64::try_from(fork_choice_nodes).unwrap_or(i64::MAX));
    let cache = store.metrics().cache;
    m.ember_state_cache_states
        .set(i64::try_from(cache.states).unwrap_or(i64::MAX));
    m.ember_state_cache_bytes
        .set(i64::try_from(cache.bytes).unwrap_or(i64::MAX));
    m.ember_state_cache_max_bytes
        .set(i64::try_from(cache.max_bytes).unwrap_or(i64::MAX));
    m.ember_state_cache_hits
        .set(i64::try_from(cache.hits).unwrap_or(i64::MAX));
    m.ember_state_cache_misses
        .set(i64::try_from(cache.misses).unwrap_or(i64::MAX));
}

/// Drives the chain from the slot clock: ticks at the start, 1/3 and 2/3 of every slot (each
/// processed by the writer before the duties of that instant run).
pub async fn drive_clock(chain: Arc<Chain>, duties: Option<Arc<dyn Duties>>) {
    let clock = chain.clock;
    let mut slot = match clock.current_slot() {
        Some(s) => s + 1,
        None => 0,
    };
    if clock.current_slot().is_none() {
        tracing::info!(
            "waiting for genesis in {:.1} s",
            clock.genesis_ms().saturating_sub(now_ms()) as f64 / 1000.0
        );
    }
    loop {
        for phase in [SlotPhase::Start, SlotPhase::OneThird, SlotPhase::TwoThirds] {
            let at = clock.instant_ms(slot, phase);
            SlotClock::sleep_until_ms(at).await;
            if let Err(e) = chain.tick(slot, phase, at).await {
                tracing::error!(error = %e, "tick failed; stopping the clock");
                return;
            }
            if let Some(duties) = &duties {
                let duties = duties.clone();
                // Duties run beside the clock: a slow proposal must not delay the next tick.
                tokio::spawn(async move { duties.run(slot, phase).await });
            }
        }
        // A clock that fell behind (suspend, overload) skips to the current slot.
        slot = match clock.current_slot() {
            Some(s) if s > slot => s + 1,
            _ => slot + 1,
        };
    }
}

/// What the clock drives at each instant (the in-process validator client).
pub trait Duties: Send + Sync {
    fn run(
        &self,
        slot: Slot,
        phase: SlotPhase,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

/// `ember bn` for this preset.
pub async fn run(args: BnArgs, budget: MemoryBudget) -> Result<(), NodeError> {
    let config = crate::node::load_chain_config(args.config.as_deref(), spec::PRESET.name)?;
    let chain = start_chain(&args, &budget, config)?;
    let duties: Option<Arc<dyn Duties>> = match args.interop_validators {
        Some(range) => {
            let gvr = chain.snapshot().genesis_validators_root;
            let datadir = args.datadir.clone();
            let started = Instant::now();
            let store = blocking(args.single_thread, move || {
                let protection = crate::validator::SlashingProtection::open(&datadir, gvr)
                    .map_err(|e| NodeError::Config(format!("slashing protection: {e}")))?;
                crate::validator::ValidatorStore::interop(range, protection)
                    .map_err(|e| NodeError::Config(format!("interop keys: {e}")))
            })
            .await??;
            Metrics::global()
                .local_validator_count
                .set(i64::try_from(store.len()).unwrap_or(i64::MAX));
            tracing::info!(
                "{} interop validators {range} loaded in {:.1} ms (slashing protection in {})",
                store.len(),
                started.elapsed().as_secs_f64() * 1000.0,
                crate::validator::SlashingProtection::dir_in(&args.datadir).display()
            );
            let graffiti = spec::Bytes32::from(chain.proposer.graffiti);
            let service = vc::ValidatorService::new(
                Arc::new(duties::ChainNode(chain.clone())),
                Arc::new(store),
                graffiti,
            );
            Some(Arc::new(duties::ValidatorDuties { service }))
        }
        None => None,
    };
    let api = beacon_api::serve(
        Arc::new(api::ApiBackend {
            chain: chain.clone(),
        }),
        crate::api::ApiConfig {
            address: args.http_address,
            port: args.http_port,
            workers: if args.single_thread {
                1
            } else {
                crate::api::DEFAULT_WORKERS
            },
            ..Default::default()
        },
    )
    .map_err(|e| NodeError::Config(e.to_string()))?;
    let metrics = crate::api::metrics::serve(args.http_address, args.metrics_port)
        .map_err(|e| NodeError::Config(e.to_string()))?;
    tracing::info!(
        "Beacon API on http://{}, metrics on http://{}/metrics",
        api.local_addr(),
        metrics.local_addr()
    );
    if args.network.no_network {
        tracing::info!("--no-network: no peers");
    } else {
        network::start(&args, chain.clone(), &budget).await?;
    }
    let clock = tokio::spawn(drive_clock(chain.clone(), duties));
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            r.map_err(|e| NodeError::Internal(format!("signal: {e}")))?;
            tracing::info!("shutting down");
        }
        _ = clock => {}
    }
    api.shutdown();
    metrics.shutdown();
    Ok(())
}
