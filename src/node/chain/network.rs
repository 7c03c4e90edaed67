//! The router: between the network service (`crate::network`) and the chain.
//!
//! Started by [`start`] unless `--no-network`. It owns the network's two inbound queues and
//! - drains gossip in batches, has them validated (`gossip::validate_gossip_batch`), reports
//!   each verdict (and a peer penalty on REJECT), imports accepted blocks and quarantines blocks
//!   whose parent is unknown ([`crate::sync::Quarantine`]);
//! - every [`TICK_MS`] sends ONE `beacon_blocks_by_root` request for all the quarantine's
//!   missing parents (never one per orphan);
//! - feeds peers' statuses to range sync ([`crate::sync::RangeSync`]), sends its
//!   `beacon_blocks_by_range` requests and imports the batches in order;
//! - serves `beacon_blocks_by_range` / `beacon_blocks_by_root` from the store (the canonical
//!   chain, finalized part included) with the fork digest of each block's epoch as context,
//!   and the data-column protocols (nothing stored yet: an empty response);
//! - keeps the status the network layer sends current on every head / finalized change;
//! - pauses gossip (IGNORE without processing) while the head is far behind the clock and
//!   range sync has a peer to catch up from, and resumes once caught up.
//!
//! Imports run in one processor task beside the router (so serving requests and draining
//! gossip never wait for a state transition), fed through a bounded queue; downloads run in
//! their own tasks. All of them are tokio tasks: with `--single-thread` everything stays on the
//! one current-thread runtime.

use super::gossip::{self, GossipOutcome};
use super::{spec, Chain};
use crate::consensus::primitives::{ForkDigest, Root, Slot};
use crate::network::{
    self as net, GossipKind, GossipMessage, GossipTopic, MessageAcceptance, MetaData,
    NetworkCommand, NetworkEvent, NetworkHandle, NodeIdentity, PeerAction, PeerId, PeerInfo,
    Request, ResponseChunk, RpcError, RpcErrorCode, RpcErrorResponse, StatusMessage,
};
use crate::node::{BnArgs, NodeError};
use crate::store::budget::{Consumer, MemoryBudget};
use crate::store::PointerName;
use crate::sync::{
    BatchFault, BatchId, LocalChain, Processed, Quarantine, QuarantineConfig, Quarantined,
    RangeConfig, RangeSync, SyncState,
};
use spec::p2p::{compute_enr_fork_id, compute_fork_digest};
use spec::transition::helpers::{compute_epoch_at_slot, compute_start_slot_at_epoch};
use spec::SignedBeaconBlock;
use ssz::{Decode, Encode};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tree_hash::TreeHash;

/// The router's timer: parent lookups, quarantine expiry, range-sync polling, status upkeep.
/// 500 ms batches every orphan of a slot into one request while keeping a missed block's
/// delay well under a slot.
pub const TICK_MS: u64 = 500;

/// Gossip messages validated together: one batch of signatures per drain; bounded so a flood
/// cannot make one batch take seconds (the network's own queue holds the rest, and drops
/// beyond its bound).
const GOSSIP_BATCH: usize = 64;

/// A decoded block's memory, for the budget's `BlockQueue` share: a mainnet block is 50-150 KB
/// of SSZ, its decoded form a bit more; 256 KiB leaves room for full ones.
const BLOCK_BYTES: u64 = 256 * 1024;

/// Import jobs waiting for the processor: range batches (at most `max_batches`, themselves
/// bounded) and gossip / looked-up blocks (about one per slot). A full queue drops a gossip
/// block (the parent lookup of its child brings it back) and keeps a batch in range sync.
const WORK_QUEUE: usize = 32;

/// Results coming back to the router (imports, downloads, status refreshes): every producer is
/// bounded (one processor, `max_batches` downloads, one parent lookup, one status request per
/// peer), and the router always drains them.
const DONE_QUEUE: usize = 256;

/// How often peers' statuses are refreshed while the head is behind the clock (the network
/// layer re-requests them only every few minutes): 6 s stays well inside the network layer's
/// inbound status quota (5 per 15 s) on the other side.
const STATUS_REFRESH: Duration = Duration::from_secs(6);

/// How often the API's peer list is refreshed, in router ticks.
const PEERS_REFRESH_TICKS: u64 = 4;

/// What the router shares with the Beacon API (`node/syncing`, `node/peers`, `node/identity`):
/// refreshed by the router, read without waiting on the network.
#[derive(Debug, Clone, Default)]
pub struct NetworkView {
    pub identity: Option<NodeIdentity>,
    pub peers: Vec<PeerInfo>,
    pub sync: SyncState,
    /// Gossip blocks and attestations are ignored (far behind, range sync running).
    pub gossip_paused: bool,
}

/// Range sync and quarantine bounds from the memory budget (see `crate::sync` for what each
/// one limits).
pub fn sync_bounds(
    budget: &MemoryBudget,
    config: &crate::consensus::config::ChainConfig,
) -> (QuarantineConfig, RangeConfig) {
    let slots_per_epoch = spec::PRESET.slots_per_epoch.max(1);
    // Half of the block-queue share each: quarantined blocks and downloaded batches.
    let blocks = budget.queue_len(Consumer::BlockQueue, BLOCK_BYTES.saturating_mul(2));
    // One epoch per request: small enough to spread over peers, within MAX_REQUEST_BLOCKS_DENEB.
    let batch_slots = slots_per_epoch.min(config.max_request_blocks_deneb.max(1));
    let per_batch = usize::try_from(batch_slots).unwrap_or(usize::MAX).max(1);
    let quarantine = QuarantineConfig {
        max_blocks: blocks.max(8),
        // Two epochs of missed blocks are a gap for parent lookups; more is range sync's job.
        max_depth: usize::try_from(slots_per_epoch.saturating_mul(2)).unwrap_or(64),
        // A parent not found within two epochs will not come.
        expiry_slots: slots_per_epoch.saturating_mul(2),
        max_attempts: 3,
    };
    let range = RangeConfig {
        batch_slots,
        // At most 8: more batches in flight than that seldom helps with a handful of peers.
        max_batches: (blocks / per_batch).clamp(1, 8),
        max_attempts: 5,
        // Within an epoch of the peers, gossip and parent lookups catch up on their own.
        tolerance: slots_per_epoch,
    };
    (quarantine, range)
}

/// The fork digest at the clock's epoch.
fn current_digest(chain: &Chain) -> ForkDigest {
    let slot = chain.clock.current_slot().unwrap_or(0);
    compute_fork_digest(
        &chain.config,
        chain.snapshot().genesis_validators_root,
        compute_epoch_at_slot(slot),
    )
}

/// The fork digest of the epoch of `slot` (req/resp context bytes).
fn digest_at_slot(chain: &Chain, slot: Slot) -> ForkDigest {
    compute_fork_digest(
        &chain.config,
        chain.snapshot().genesis_validators_root,
        compute_epoch_at_slot(slot),
    )
}

/// Our `Status` (p2p-interface.md "Status v2"): the finalized root is zero while the finalized
/// checkpoint is the genesis one, as the spec says.
pub fn local_status(chain: &Chain) -> StatusMessage {
    let s = chain.snapshot();
    let earliest = chain
        .store
        .pointer(PointerName::Backfill)
        .map(|p| p.slot)
        .unwrap_or(0);
    StatusMessage {
        fork_digest: current_digest(chain),
        finalized_root: if s.finalized.epoch == 0 {
            Root::ZERO
        } else {
            s.finalized.root
        },
        finalized_epoch: s.finalized.epoch,
        head_root: s.head_root,
        head_slot: s.head_slot,
        earliest_available_slot: earliest,
    }
}

/// The long-lived subnets of `topics` as `MetaData` bitfields (attnets, syncnets).
fn subnet_bits(topics: &[GossipTopic]) -> ([u8; 8], [u8; 1]) {
    let mut attnets = [0u8; 8];
    let mut syncnets = [0u8; 1];
    for topic in topics {
        match topic.kind {
            GossipKind::BeaconAttestation(i) if i < 64 => {
                if let Some(byte) = attnets.get_mut((i / 8) as usize) {
                    *byte |= 1 << (i % 8);
                }
            }
            GossipKind::SyncCommittee(i) if i < 8 => syncnets[0] |= 1 << i,
            _ => {}
        }
    }
    (attnets, syncnets)
}

/// The network configuration from the flags and the chain. `node_id` (from the node key)
/// picks the long-lived attestation subnets and the custody columns (`initial_topics`).
pub fn network_config(
    args: &BnArgs,
    chain: &Chain,
    budget: &MemoryBudget,
    node_id: [u8; 32],
) -> net::NetworkConfig {
    let n = &args.network;
    let gvr = chain.snapshot().genesis_validators_root;
    let epoch = compute_epoch_at_slot(chain.clock.current_slot().unwrap_or(0));
    let fork_digest = compute_fork_digest(&chain.config, gvr, epoch);
    let enr_fork_id = compute_enr_fork_id(&chain.config, gvr, epoch).as_ssz_bytes();
    let topics = gossip::initial_topics(chain, node_id, n.subscribe_all_subnets);
    let (attnets, syncnets) = subnet_bits(&topics);
    let custody_group_count = if n.subscribe_all_subnets {
        chain.config.number_of_custody_groups
    } else {
        chain.config.custody_requirement
    };
    // Gossip queue: attestations dominate (~300 B decoded, 1 KiB with the message id, topic
    // and bookkeeping) out of the gossip share, at least 64, at most 65,536 messages.
    let gossip_queue = budget
        .queue_len(Consumer::GossipQueues, 1024)
        .clamp(64, 65_536);
    net::NetworkConfig {
        listen_address: n.listen_address,
        port: n.port,
        discovery_port: n.discovery_port.unwrap_or(n.port),
        enr_address: n.enr_address,
        boot_nodes: n.boot_nodes.clone(),
        target_peers: n.target_peers,
        disable_discovery: n.disable_discovery,
        network_dir: args.datadir.join("network"),
        fork_digest,
        enr_fork_id,
        metadata: MetaData {
            seq_number: 0,
            attnets,
            syncnets,
            custody_group_count,
        },
        topics,
        max_payload_size: chain.config.max_payload_size,
        max_request_blocks: chain.config.max_request_blocks_deneb,
        // MAX_REQUEST_BLOCKS_DENEB * NUMBER_OF_COLUMNS (p2p-interface.md, Fulu).
        max_request_data_column_sidecars: chain
            .config
            .max_request_blocks_deneb
            .saturating_mul(spec::PRESET.number_of_columns),
        slot_duration_ms: chain.config.slot_duration_ms,
        slots_per_epoch: spec::PRESET.slots_per_epoch,
        gossip_queue,
        // Half the gossip share in decompressed bytes (the rest: seen caches, pending
        // attestations, decoded copies during validation).
        gossip_queue_bytes: usize::try_from(budget.bytes(Consumer::GossipQueues) / 2)
            .unwrap_or(usize::MAX),
        // Requests and statuses: small, and a full queue answers ServerError without blocking
        // the swarm; 1024 is many seconds of honest traffic from a full peer set.
        event_queue: 1024,
    }
}

/// Starts the network service and the router; sets `chain.network`.
pub async fn start(
    args: &BnArgs,
    chain: Arc<Chain>,
    budget: &MemoryBudget,
) -> Result<(), NodeError> {
    use ::enr::EnrKey;
    let network_dir = args.datadir.join("network");
    std::fs::create_dir_all(&network_dir)
        .map_err(|e| NodeError::Config(format!("{}: {e}", network_dir.display())))?;
    // The node id (for the subnets) before the service starts: the service loads the same key.
    let key = net::enr::load_or_create_key(&network_dir)
        .map_err(|e| NodeError::Config(format!("network key: {e}")))?;
    let node_id = ::enr::NodeId::from(key.enr_key.public()).raw();
    drop(key);
    let config = network_config(args, &chain, budget, node_id);
    let channels = net::start(config, local_status(&chain))
        .await
        .map_err(|e| NodeError::Config(format!("network: {e}")))?;
    if channels.node_id != node_id {
        tracing::warn!("the network's node id differs from the key's: subnets may not match");
    }
    let handle = channels.handle.clone();
    let _ = chain.network.set(handle.clone());
    if let Ok(identity) = handle.identity().await {
        tracing::info!(peer_id = %identity.peer_id, enr = %identity.enr, "network started");
        lock_view(&chain).identity = Some(identity);
    }
    let (quarantine, range) = sync_bounds(budget, &chain.config);
    tracing::info!(
        "sync bounds: quarantine {} blocks (depth {}, expiry {} slots), range {} batches of {} slots",
        quarantine.max_blocks,
        quarantine.max_depth,
        quarantine.expiry_slots,
        range.max_batches,
        range.batch_slots
    );
    let (work_tx, work_rx) = mpsc::channel(WORK_QUEUE);
    let (done_tx, done_rx) = mpsc::channel(DONE_QUEUE);
    tokio::spawn(processor(chain.clone(), work_rx, done_tx.clone()));
    let router = Router {
        chain,
        handle,
        quarantine: Quarantine::new(quarantine),
        range: RangeSync::new(range),
        work: work_tx,
        done_tx,
        lookup: None,
        paused: false,
        ticks: 0,
        last_status_refresh: None,
    };
    tokio::spawn(router.run(channels.events, channels.gossip, done_rx));
    Ok(())
}

fn lock_view(chain: &Chain) -> std::sync::MutexGuard<'_, NetworkView> {
    chain.network_view.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------- processor

/// Where a block to import came from.
#[derive(Debug)]
enum Source {
    /// Gossip (validated and relayed already).
    Gossip(PeerId),
    /// A `beacon_blocks_by_root` answer (a missing parent).
    Lookup(PeerId),
    /// Released from the quarantine after its parent imported.
    Released,
}

enum Work {
    Block(Arc<SignedBeaconBlock>, Source),
    Batch {
        id: BatchId,
        blocks: Vec<Arc<SignedBeaconBlock>>,
    },
}

#[derive(Debug)]
enum BlockResult {
    Imported,
    Known,
    UnknownParent,
    Invalid(String),
    Local(String),
}

enum Done {
    Block {
        block: Arc<SignedBeaconBlock>,
        root: Root,
        source: Source,
        result: BlockResult,
    },
    Batch {
        id: BatchId,
        result: Result<Vec<Root>, BatchFault>,
    },
    Download {
        id: BatchId,
        peer: PeerId,
        result: Result<Vec<Arc<SignedBeaconBlock>>, ()>,
    },
    Lookup {
        peer: PeerId,
        requested: Vec<Root>,
        result: Result<Vec<Arc<SignedBeaconBlock>>, ()>,
    },
    Status {
        peer: PeerId,
        status: StatusMessage,
    },
}

async fn import_one(chain: &Arc<Chain>, block: Arc<SignedBeaconBlock>, root: Root) -> BlockResult {
    match chain.store.has_block(&root) {
        Ok(true) => return BlockResult::Known,
        Ok(false) => {}
        Err(e) => return BlockResult::Local(e.to_string()),
    }
    match chain.store.has_block(&block.message.parent_root) {
        Ok(true) => {}
        Ok(false) => return BlockResult::UnknownParent,
        Err(e) => return BlockResult::Local(e.to_string()),
    }
    match chain.import_block(block).await {
        Ok(_) => BlockResult::Imported,
        Err(NodeError::UnknownParent { .. }) => BlockResult::UnknownParent,
        Err(e @ (NodeError::InvalidBlock { .. } | NodeError::ForkChoice(_))) => {
            BlockResult::Invalid(e.to_string())
        }
        Err(e) => BlockResult::Local(e.to_string()),
    }
}

/// Imports blocks and batches one at a time (the writer serialises them anyway).
async fn processor(chain: Arc<Chain>, mut work: mpsc::Receiver<Work>, done: mpsc::Sender<Done>) {
    while let Some(item) = work.recv().await {
        let message = match item {
            Work::Block(block, source) => {
                let root = block.message.tree_hash_root();
                let result = import_one(&chain, block.clone(), root).await;
                Done::Block {
                    block,
                    root,
                    source,
                    result,
                }
            }
            Work::Batch { id, blocks } => {
                let mut imported = Vec::with_capacity(blocks.len());
                let mut result = Ok(());
                let mut previous: Option<Root> = None;
                for block in blocks {
                    let root = block.message.tree_hash_root();
                    if previous.is_some_and(|p| p != block.message.parent_root) {
                        result = Err(BatchFault::NonLinking);
                        break;
                    }
                    match import_one(&chain, block, root).await {
                        BlockResult::Imported | BlockResult::Known => {}
                        BlockResult::UnknownParent => {
                            result = Err(BatchFault::NonLinking);
                            break;
                        }
                        BlockResult::Invalid(e) => {
                            tracing::debug!(%root, error = %e, "range batch: invalid block");
                            result = Err(BatchFault::Invalid);
                            break;
                        }
                        BlockResult::Local(e) => {
                            tracing::warn!(%root, error = %e, "range batch: import failed");
                            result = Err(BatchFault::Local);
                            break;
                        }
                    }
                    imported.push(root);
                    previous = Some(root);
                }
                Done::Batch {
                    id,
                    result: result.map(|()| imported),
                }
            }
        };
        if done.send(message).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------- downloads

/// Why a response was unusable, and whether the peer is to blame.
fn decode_blocks(
    chain: &Chain,
    chunks: Vec<ResponseChunk>,
) -> Result<Vec<Arc<SignedBeaconBlock>>, &'static str> {
    let mut out = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let block =
            SignedBeaconBlock::from_ssz_bytes(&chunk.ssz).map_err(|_| "undecodable block")?;
        if chunk.context != Some(digest_at_slot(chain, block.message.slot)) {
            return Err("block with the wrong fork digest");
        }
        out.push(Arc::new(block));
    }
    Ok(out)
}

/// Whether an RPC failure is the peer's fault worth a penalty here (the network layer already
/// scores framing errors and timeouts).
fn log_rpc_error(peer: &PeerId, what: &str, e: &RpcError) {
    tracing::debug!(%peer, error = %e, "{what} request failed");
}

async fn download_range(
    chain: Arc<Chain>,
    handle: NetworkHandle,
    done: mpsc::Sender<Done>,
    id: BatchId,
    peer: PeerId,
    request: net::BlocksByRangeRequest,
) {
    let result = match handle
        .request(peer, Request::BlocksByRange(request.clone()))
        .await
    {
        Ok(chunks) => match decode_blocks(&chain, chunks) {
            Ok(blocks) => {
                let end = request.start_slot.saturating_add(request.count);
                let mut last: Option<Slot> = None;
                let ordered = blocks.iter().all(|b| {
                    let s = b.message.slot;
                    let ok = s >= request.start_slot && s < end && last.is_none_or(|l| s > l);
                    last = Some(s);
                    ok
                });
                if ordered && blocks.len() as u64 <= request.count {
                    Ok(blocks)
                } else {
                    let _ = handle
                        .report_peer(
                            peer,
                            PeerAction::LowToleranceError,
                            "blocks_by_range: blocks outside the requested range",
                        )
                        .await;
                    Err(())
                }
            }
            Err(reason) => {
                let _ = handle
                    .report_peer(peer, PeerAction::LowToleranceError, reason)
                    .await;
                Err(())
            }
        },
        Err(e) => {
            log_rpc_error(&peer, "blocks_by_range", &e);
            Err(())
        }
    };
    let _ = done.send(Done::Download { id, peer, result }).await;
}

async fn lookup_roots(
    chain: Arc<Chain>,
    handle: NetworkHandle,
    done: mpsc::Sender<Done>,
    peer: PeerId,
    roots: Vec<Root>,
) {
    let result = match handle
        .request(peer, Request::BlocksByRoot(roots.clone()))
        .await
    {
        Ok(chunks) => match decode_blocks(&chain, chunks) {
            Ok(blocks) => Ok(blocks),
            Err(reason) => {
                let _ = handle
                    .report_peer(peer, PeerAction::LowToleranceError, reason)
                    .await;
                Err(())
            }
        },
        Err(e) => {
            log_rpc_error(&peer, "blocks_by_root", &e);
            Err(())
        }
    };
    let _ = done
        .send(Done::Lookup {
            peer,
            requested: roots,
            result,
        })
        .await;
}

async fn refresh_status(
    handle: NetworkHandle,
    done: mpsc::Sender<Done>,
    peer: PeerId,
    ours: StatusMessage,
) {
    match handle.request(peer, Request::Status(ours)).await {
        Ok(chunks) => {
            let Some(chunk) = chunks.into_iter().next() else {
                return;
            };
            match StatusMessage::from_ssz_bytes(&chunk.ssz) {
                Ok(status) => {
                    let _ = done.send(Done::Status { peer, status }).await;
                }
                Err(_) => {
                    let _ = handle
                        .report_peer(peer, PeerAction::LowToleranceError, "undecodable status")
                        .await;
                }
            }
        }
        Err(e) => log_rpc_error(&peer, "status", &e),
    }
}

// ---------------------------------------------------------------------------- serving

fn rpc_error(code: RpcErrorCode, message: &str) -> RpcErrorResponse {
    RpcErrorResponse {
        code,
        message: message.into(),
    }
}

/// `beacon_blocks_by_range` v2: the canonical chain's blocks in `[start_slot, start_slot +
/// count)`, at most `MAX_REQUEST_BLOCKS_DENEB`; `step` is deprecated (must be 1: a larger one
/// gets at most one block, as the spec allows; 0 is invalid).
fn serve_blocks_by_range(
    chain: &Chain,
    request: &net::BlocksByRangeRequest,
) -> Result<Vec<ResponseChunk>, RpcErrorResponse> {
    if request.count == 0 || request.step == 0 {
        return Err(rpc_error(
            RpcErrorCode::InvalidRequest,
            "count and step must be at least 1",
        ));
    }
    let limit = chain.config.max_request_blocks_deneb.min(request.count);
    let max = if request.step > 1 {
        1
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX)
    };
    let backfill = chain
        .store
        .pointer(PointerName::Backfill)
        .map(|p| p.slot)
        .unwrap_or(0);
    if request.start_slot < backfill {
        return Err(rpc_error(
            RpcErrorCode::ResourceUnavailable,
            "blocks before the earliest available slot",
        ));
    }
    let blocks = chain
        .store
        .canonical_blocks_ssz(request.start_slot, limit, max)
        .map_err(|e| {
            tracing::warn!(error = %e, "blocks_by_range: store");
            rpc_error(RpcErrorCode::ServerError, "store error")
        })?;
    Ok(blocks
        .into_iter()
        .map(|(slot, _, ssz)| ResponseChunk {
            context: Some(digest_at_slot(chain, slot)),
            ssz,
        })
        .collect())
}

/// `beacon_blocks_by_root` v2: the blocks we have among the (at most
/// `MAX_REQUEST_BLOCKS_DENEB`) roots, in request order; unknown roots are skipped.
fn serve_blocks_by_root(
    chain: &Chain,
    roots: &[Root],
) -> Result<Vec<ResponseChunk>, RpcErrorResponse> {
    let max = usize::try_from(chain.config.max_request_blocks_deneb).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for root in roots.iter().take(max) {
        match chain.store.block_ssz(root) {
            Ok(Some((slot, ssz))) => out.push(ResponseChunk {
                context: Some(digest_at_slot(chain, slot)),
                ssz,
            }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "blocks_by_root: store");
                return Err(rpc_error(RpcErrorCode::ServerError, "store error"));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------- router

struct Router {
    chain: Arc<Chain>,
    handle: NetworkHandle,
    quarantine: Quarantine<Arc<SignedBeaconBlock>>,
    range: RangeSync<Arc<SignedBeaconBlock>>,
    work: mpsc::Sender<Work>,
    done_tx: mpsc::Sender<Done>,
    /// The one parent lookup in flight: its peer.
    lookup: Option<PeerId>,
    paused: bool,
    ticks: u64,
    last_status_refresh: Option<std::time::Instant>,
}

impl Router {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<NetworkEvent>,
        mut gossip: mpsc::Receiver<GossipMessage>,
        mut done: mpsc::Receiver<Done>,
    ) {
        let mut chain_events = self.chain.events.subscribe();
        let mut timer = tokio::time::interval(Duration::from_millis(TICK_MS));
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                message = gossip.recv() => match message {
                    Some(first) => {
                        let mut batch = vec![first];
                        while batch.len() < GOSSIP_BATCH {
                            match gossip.try_recv() {
                                Ok(m) => batch.push(m),
                                Err(_) => break,
                            }
                        }
                        self.on_gossip(batch).await;
                    }
                    None => break,
                },
                Some(result) = done.recv() => self.on_done(result),
                event = chain_events.recv() => {
                    use tokio::sync::broadcast::error::RecvError;
                    match event {
                        Ok(crate::api::Event::Head(_) | crate::api::Event::FinalizedCheckpoint(_))
                        | Err(RecvError::Lagged(_)) => self.update_status(),
                        Ok(_) => {}
                        Err(RecvError::Closed) => chain_events = self.chain.events.subscribe(),
                    }
                }
                _ = timer.tick() => self.on_tick(),
            }
        }
        tracing::warn!("network channels closed: router stopped");
    }

    fn update_status(&self) {
        let status = local_status(&self.chain);
        if *self.handle.status.borrow() != status {
            self.handle.set_status(status);
        }
    }

    fn local(&self) -> LocalChain {
        let s = self.chain.snapshot();
        // Sessions start after the finalized block: peers agree on everything before it.
        let finalized_slot = self
            .chain
            .store
            .block_meta(&s.finalized.root)
            .ok()
            .flatten()
            .map_or(0, |m| m.slot);
        LocalChain {
            head_slot: s.head_slot,
            start_slot: finalized_slot.saturating_add(1),
        }
    }

    /// A claimed head slot no later than the clock allows (one slot of disparity): a peer
    /// claiming a head in the future would otherwise set a target range sync never reaches.
    fn plausible_slot(&self, slot: Slot) -> Slot {
        let now = self.chain.clock.current_slot().unwrap_or(0);
        slot.min(now.saturating_add(1))
    }

    fn plausible(&self, status: StatusMessage) -> StatusMessage {
        StatusMessage {
            head_slot: self.plausible_slot(status.head_slot),
            ..status
        }
    }

    fn report(&self, peer: PeerId, action: PeerAction, reason: &'static str) {
        if self
            .handle
            .commands
            .try_send(NetworkCommand::ReportPeer {
                peer,
                action,
                reason,
            })
            .is_err()
        {
            tracing::debug!(%peer, reason, "peer report dropped (network queue full)");
        }
    }

    fn on_event(&mut self, event: NetworkEvent) {
        match event {
            NetworkEvent::PeerStatus { peer, status } => {
                if !self.status_is_relevant(&status) {
                    tracing::info!(%peer, finalized_epoch = status.finalized_epoch, "peer on another finalized chain");
                    self.report(
                        peer,
                        PeerAction::LowToleranceError,
                        "finalized checkpoint not on our chain",
                    );
                    self.range.remove_peer(&peer);
                    return;
                }
                tracing::debug!(%peer, head_slot = status.head_slot, finalized_epoch = status.finalized_epoch, "peer status");
                self.range.add_peer(peer, &self.plausible(status));
                self.poll_range();
            }
            NetworkEvent::PeerDisconnected { peer } => {
                self.range.remove_peer(&peer);
                if self.lookup == Some(peer) {
                    // The request answers Disconnected; the lookup slot frees then.
                }
            }
            NetworkEvent::InboundRequest {
                peer,
                request,
                responder,
            } => {
                let response = match &request {
                    Request::BlocksByRange(r) => serve_blocks_by_range(&self.chain, r),
                    Request::BlocksByRoot(roots) => serve_blocks_by_root(&self.chain, roots),
                    // Nothing is stored for data columns yet: an empty response (the spec's
                    // answer for sidecars the node does not have).
                    Request::DataColumnsByRange(_) | Request::DataColumnsByRoot(_) => {
                        Ok(Vec::new())
                    }
                    _ => Err(rpc_error(RpcErrorCode::InvalidRequest, "not served here")),
                };
                tracing::trace!(%peer, ?request, "served");
                responder.send(response);
            }
        }
    }

    /// p2p-interface.md status: a peer whose finalized checkpoint is at or before ours must
    /// have the same block there (else it is on another chain).
    fn status_is_relevant(&self, status: &StatusMessage) -> bool {
        let s = self.chain.snapshot();
        if status.finalized_epoch == 0 || status.finalized_epoch > s.finalized.epoch {
            return true;
        }
        let Ok(slot) = compute_start_slot_at_epoch(status.finalized_epoch) else {
            return true;
        };
        match self.chain.store.block_root_at_slot(slot) {
            Ok(Some(root)) => root == status.finalized_root,
            _ => true,
        }
    }

    fn gossip_should_pause(&self) -> bool {
        let s = self.chain.snapshot();
        let clock = self.chain.clock.current_slot().unwrap_or(0);
        let behind =
            clock.saturating_sub(s.head_slot) > spec::PRESET.slots_per_epoch.saturating_mul(2);
        behind && self.range.is_syncing()
    }

    async fn on_gossip(&mut self, batch: Vec<GossipMessage>) {
        let paused = self.gossip_should_pause();
        if paused != self.paused {
            self.paused = paused;
            lock_view(&self.chain).gossip_paused = paused;
            if paused {
                tracing::info!(
                    "far behind: gossip blocks and attestations ignored while range sync runs"
                );
            } else {
                tracing::info!("caught up: gossip resumed");
            }
        }
        let mut todo: Vec<GossipMessage> = Vec::with_capacity(batch.len());
        for message in batch {
            let skip = paused
                && matches!(
                    message.topic.kind,
                    GossipKind::BeaconBlock
                        | GossipKind::BeaconAggregateAndProof
                        | GossipKind::BeaconAttestation(_)
                        | GossipKind::SyncCommittee(_)
                        | GossipKind::SyncCommitteeContributionAndProof
                        | GossipKind::DataColumnSidecar(_)
                );
            if skip {
                let _ = self
                    .handle
                    .validation(message.message_id, message.peer, MessageAcceptance::Ignore)
                    .await;
            } else {
                todo.push(message);
            }
        }
        if todo.is_empty() {
            return;
        }
        let inputs: Vec<(GossipKind, Vec<u8>)> = todo
            .iter_mut()
            .map(|m| (m.topic.kind, std::mem::take(&mut m.data)))
            .collect();
        let outcomes =
            gossip::validate_gossip_batch(&self.chain, &self.chain.gossip_caches, inputs).await;
        for (message, outcome) in todo.into_iter().zip(outcomes) {
            let GossipMessage {
                peer, message_id, ..
            } = message;
            let _ = self
                .handle
                .validation(message_id, peer, outcome.acceptance())
                .await;
            match outcome {
                GossipOutcome::AcceptBlock(block) => {
                    self.range
                        .note_head(&peer, self.plausible_slot(block.message.slot));
                    self.submit(block, Source::Gossip(peer));
                }
                GossipOutcome::UnknownParent(block) => {
                    self.range
                        .note_head(&peer, self.plausible_slot(block.message.slot));
                    self.quarantine_block(block, Some(peer));
                }
                GossipOutcome::Reject(reason, action) => {
                    tracing::debug!(%peer, reason, "gossip rejected");
                    self.report(peer, action, "invalid gossip message");
                }
                GossipOutcome::Ignore(reason) => {
                    tracing::trace!(%peer, reason, "gossip ignored");
                }
                GossipOutcome::Accept | GossipOutcome::UnknownBlock(_) => {}
            }
        }
    }

    fn quarantine_block(&mut self, block: Arc<SignedBeaconBlock>, peer: Option<PeerId>) {
        let root = block.message.tree_hash_root();
        let parent = block.message.parent_root;
        let slot = block.message.slot;
        let now = self.chain.clock.current_slot().unwrap_or(0);
        match self.quarantine.insert(root, parent, slot, block, peer, now) {
            Quarantined::Added | Quarantined::Duplicate => {}
            Quarantined::AddedEvicting(old) => {
                tracing::debug!(evicted = %old, "quarantine full: oldest block evicted")
            }
            Quarantined::TooDeep => {
                tracing::debug!(%root, slot, "too far from a known block for parent lookups: left to range sync")
            }
        }
    }

    /// Hands a block to the processor (dropped when its queue is full: see [`WORK_QUEUE`]).
    fn submit(&self, block: Arc<SignedBeaconBlock>, source: Source) {
        if let Err(mpsc::error::TrySendError::Full(_)) =
            self.work.try_send(Work::Block(block, source))
        {
            tracing::debug!("import queue full: block dropped");
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Block {
                block,
                root,
                source,
                result,
            } => match result {
                BlockResult::Imported | BlockResult::Known => self.release(root),
                BlockResult::UnknownParent => {
                    let peer = match source {
                        Source::Gossip(peer) | Source::Lookup(peer) => Some(peer),
                        Source::Released => None,
                    };
                    self.quarantine_block(block, peer);
                }
                BlockResult::Invalid(e) => {
                    tracing::info!(%root, slot = block.message.slot, error = %e, "invalid block");
                    let dropped = self.quarantine.discard_descendants(&root);
                    if dropped > 0 {
                        tracing::debug!(
                            dropped,
                            "quarantined descendants of an invalid block dropped"
                        );
                    }
                    if let Source::Lookup(peer) = source {
                        self.report(
                            peer,
                            PeerAction::LowToleranceError,
                            "blocks_by_root: invalid block",
                        );
                    }
                }
                BlockResult::Local(e) => {
                    tracing::warn!(%root, error = %e, "block import failed")
                }
            },
            Done::Batch { id, result } => {
                let fault = result.as_ref().err().copied();
                if let Ok(roots) = &result {
                    for root in roots {
                        self.release(*root);
                    }
                }
                match self.range.on_processed(id, result.map(|_| ())) {
                    Processed::Imported { done: true } => {
                        let s = self.chain.snapshot();
                        tracing::info!(head_slot = s.head_slot, "range sync done");
                    }
                    Processed::Retry { blame } | Processed::Abandoned { blame } => {
                        tracing::debug!(start = id.start, ?fault, "range batch failed");
                        if let Some(peer) = blame {
                            let (action, reason) = match fault {
                                Some(BatchFault::Invalid) => (
                                    PeerAction::LowToleranceError,
                                    "blocks_by_range: invalid block",
                                ),
                                _ => (
                                    PeerAction::MidToleranceError,
                                    "blocks_by_range: blocks do not link",
                                ),
                            };
                            self.report(peer, action, reason);
                        }
                    }
                    _ => {}
                }
                self.update_view();
                self.poll_range();
            }
            Done::Download { id, peer, result } => {
                self.range.on_download(id, peer, result);
                self.poll_range();
            }
            Done::Lookup {
                peer,
                requested,
                result,
            } => {
                self.lookup = None;
                let Ok(blocks) = result else {
                    return;
                };
                let wanted: HashSet<Root> = requested.into_iter().collect();
                for block in blocks {
                    let root = block.message.tree_hash_root();
                    if !wanted.contains(&root) {
                        self.report(
                            peer,
                            PeerAction::LowToleranceError,
                            "blocks_by_root: a block not asked for",
                        );
                        continue;
                    }
                    self.range
                        .note_head(&peer, self.plausible_slot(block.message.slot));
                    self.submit(block, Source::Lookup(peer));
                }
            }
            Done::Status { peer, status } => {
                if self.status_is_relevant(&status) {
                    self.range.add_peer(peer, &self.plausible(status));
                    self.poll_range();
                }
            }
        }
    }

    /// `root` is in the store: its quarantined children go to the processor.
    fn release(&mut self, root: Root) {
        for child in self.quarantine.release(&root) {
            self.submit(child, Source::Released);
        }
    }

    /// Sends range sync's requests and hands it the next downloaded batch when the processor
    /// has room.
    fn poll_range(&mut self) {
        let local = self.local();
        for request in self.range.poll(local) {
            tracing::debug!(peer = %request.peer, start = request.request.start_slot, count = request.request.count, "blocks_by_range");
            tokio::spawn(download_range(
                self.chain.clone(),
                self.handle.clone(),
                self.done_tx.clone(),
                request.id,
                request.peer,
                request.request,
            ));
        }
        if self.work.capacity() > 0 {
            if let Some((id, _peer, blocks)) = self.range.next_import() {
                if let Err(e) = self.work.try_send(Work::Batch { id, blocks }) {
                    // Cannot happen (capacity checked, one sender here); the batch fails locally.
                    tracing::warn!("import queue: {e}");
                    self.range.on_processed(id, Err(BatchFault::Local));
                }
            }
        }
        self.update_view();
    }

    fn update_view(&self) {
        lock_view(&self.chain).sync = self.range.state();
    }

    fn on_tick(&mut self) {
        self.ticks = self.ticks.wrapping_add(1);
        self.update_status();
        let now = self.chain.clock.current_slot().unwrap_or(0);
        let s = self.chain.snapshot();
        let finalized_slot = compute_start_slot_at_epoch(s.finalized.epoch).unwrap_or(0);
        let pruned = self.quarantine.prune(now, finalized_slot);
        if pruned > 0 {
            tracing::debug!(pruned, "quarantine: expired blocks dropped");
        }
        // Parents imported by another path (range sync, our own proposals).
        let store = self.chain.store.clone();
        let known = |r: &Root| store.has_block(r).unwrap_or(false);
        for block in self.quarantine.take_resolved(known) {
            self.submit(block, Source::Released);
        }
        // ONE blocks_by_root request for every missing parent.
        if self.lookup.is_none() {
            let max = usize::try_from(self.chain.config.max_request_blocks_deneb).unwrap_or(128);
            let missing = self.quarantine.missing_parents(max, known);
            if !missing.is_empty() {
                let connected: HashSet<PeerId> = self.range.peers().map(|(p, _)| *p).collect();
                let peer = missing
                    .iter()
                    .flat_map(|m| m.peers.iter())
                    .find(|p| connected.contains(p))
                    .copied()
                    .or_else(|| self.range.best_idle_peer());
                if let Some(peer) = peer {
                    let roots: Vec<Root> = missing.iter().map(|m| m.root).collect();
                    tracing::debug!(%peer, count = roots.len(), "blocks_by_root for missing parents");
                    self.quarantine.requested(&roots);
                    self.lookup = Some(peer);
                    tokio::spawn(lookup_roots(
                        self.chain.clone(),
                        self.handle.clone(),
                        self.done_tx.clone(),
                        peer,
                        roots,
                    ));
                }
            }
        }
        // Peers' statuses go stale while we are behind: ask again every few seconds.
        let behind = now.saturating_sub(s.head_slot) > self.range.config().tolerance;
        if (behind || self.range.is_syncing())
            && self
                .last_status_refresh
                .is_none_or(|t| t.elapsed() >= STATUS_REFRESH)
        {
            self.last_status_refresh = Some(std::time::Instant::now());
            let ours = local_status(&self.chain);
            let peers: Vec<PeerId> = self.range.peers().map(|(p, _)| *p).collect();
            for peer in peers {
                tokio::spawn(refresh_status(
                    self.handle.clone(),
                    self.done_tx.clone(),
                    peer,
                    ours.clone(),
                ));
            }
        }
        self.poll_range();
        if self.ticks % PEERS_REFRESH_TICKS == 1 {
            let chain = self.chain.clone();
            let handle = self.handle.clone();
            tokio::spawn(async move {
                if let Ok(peers) = handle.peers().await {
                    lock_view(&chain).peers = peers;
                }
                if let Ok(identity) = handle.identity().await {
                    lock_view(&chain).identity = Some(identity);
                }
            });
        }
    }
}
