//! Range sync: catching up with peers that are ahead by `beacon_blocks_by_range` batches.
//!
//! The target is the highest head slot the peers claim (their `Status`, refreshed by the
//! router, and the slots of gossip blocks they send). A *session* starts when a peer is more
//! than `tolerance` slots ahead of our head; it covers the slots from just after our finalized
//! block up to the target (extended while peers report higher heads), cut into batches of
//! `batch_slots` slots. Each batch is requested from one peer whose head covers it (one request
//! per peer at a time), and the downloaded batches are imported strictly in slot order.
//!
//! # The bounded queue
//! At most `max_batches` batches exist at once, whatever their state (waiting for a peer,
//! downloading, downloaded and waiting for their turn, importing). A slow import therefore
//! stops new requests (back-pressure) instead of piling blocks up in memory: the blocks held
//! are at most `max_batches × batch_slots`, which the node derives from the memory budget's
//! `Consumer::BlockQueue` share.
//!
//! # Faults
//! A batch whose download fails (timeout, error response, undecodable) or whose blocks are
//! invalid or do not link (first block's parent unknown, a block not the child of the one
//! before) goes back to waiting and is retried on another peer; the router penalises the
//! peer that sent invalid data. A batch that fails `max_attempts` times ends the session (a new
//! one starts from the new local state if a peer is still ahead). An empty batch cannot be
//! checked on its own: if the next batch does not link after an empty one, the empty one is
//! downloaded again (from another peer) rather than blaming the next batch's peer.

use crate::consensus::primitives::Slot;
use crate::network::{BlocksByRangeRequest, PeerId, StatusMessage};
use std::collections::{BTreeMap, HashMap};

/// The limits of a [`RangeSync`] (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeConfig {
    /// Slots per `beacon_blocks_by_range` request (≤ `MAX_REQUEST_BLOCKS_DENEB`).
    pub batch_slots: u64,
    /// Batches in existence at once: the bounded queue.
    pub max_batches: usize,
    /// Failed downloads or imports of one batch before the session is abandoned.
    pub max_attempts: u32,
    /// A peer is ahead (worth a session) when its head slot exceeds ours by more than this;
    /// smaller gaps are left to gossip and the quarantine's parent lookups.
    pub tolerance: u64,
}

/// Our side: the head slot and the first slot a session downloads from (just after the
/// finalized block: every peer agrees on what precedes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalChain {
    pub head_slot: Slot,
    pub start_slot: Slot,
}

/// Names one download of one batch (stale answers, from an earlier attempt or session, are
/// recognised and dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchId {
    pub session: u64,
    pub start: Slot,
    pub attempt: u32,
}

/// A request the router should send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    pub id: BatchId,
    pub peer: PeerId,
    pub request: BlocksByRangeRequest,
}

/// Why a downloaded batch could not be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFault {
    /// A block failed validation (state transition, signature, payload): the peer lied.
    Invalid,
    /// The blocks do not form a chain from a known block.
    NonLinking,
    /// Our own failure (execution client down, store error): retried, no one blamed.
    Local,
}

/// What [`RangeSync::on_processed`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// The batch is in; `done` when it completed the session.
    Imported { done: bool },
    /// Retried elsewhere; `blame` is the peer to penalise, if any.
    Retry { blame: Option<PeerId> },
    /// The batch failed too often: the session is abandoned.
    Abandoned { blame: Option<PeerId> },
    /// Not a current batch (stale).
    Stale,
}

/// `node/syncing`'s view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncState {
    /// A session is running.
    pub syncing: bool,
    /// The highest head slot the peers claim.
    pub target: Option<Slot>,
    pub batches: usize,
}

enum BatchState<B> {
    Waiting,
    Downloading(PeerId),
    Ready(PeerId, Vec<B>),
    Importing { peer: PeerId, empty: bool },
}

struct Batch<B> {
    count: u64,
    attempts: u32,
    /// Peers that failed this batch (tried last).
    failed: Vec<PeerId>,
    state: BatchState<B>,
}

struct Session<B> {
    id: u64,
    target: Slot,
    /// The start of the next batch to create.
    next_start: Slot,
    /// The start of the next batch to import.
    import_at: Slot,
    batches: BTreeMap<Slot, Batch<B>>,
    /// The last imported batch when it was empty: (start, count, peer).
    last_empty: Option<(Slot, u64, PeerId)>,
}

struct PeerSync {
    head_slot: Slot,
    busy: bool,
}

/// The range-sync state machine; see the module documentation.
pub struct RangeSync<B> {
    config: RangeConfig,
    peers: HashMap<PeerId, PeerSync>,
    session: Option<Session<B>>,
    sessions: u64,
}

impl<B> RangeSync<B> {
    pub fn new(config: RangeConfig) -> Self {
        RangeSync {
            config: RangeConfig {
                batch_slots: config.batch_slots.max(1),
                max_batches: config.max_batches.max(1),
                max_attempts: config.max_attempts.max(1),
                ..config
            },
            peers: HashMap::new(),
            session: None,
            sessions: 0,
        }
    }

    pub fn config(&self) -> &RangeConfig {
        &self.config
    }

    /// A peer's status (handshake or refresh).
    pub fn add_peer(&mut self, peer: PeerId, status: &StatusMessage) {
        let entry = self.peers.entry(peer).or_insert(PeerSync {
            head_slot: 0,
            busy: false,
        });
        // A refreshed status replaces the claim (a peer may have reorged to a lower head).
        entry.head_slot = status.head_slot;
    }

    /// A peer sent a block of `slot` (gossip): it has at least that head.
    pub fn note_head(&mut self, peer: &PeerId, slot: Slot) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.head_slot = p.head_slot.max(slot);
        }
    }

    /// A peer left; its downloads fail on their own (the request answers `Disconnected`).
    pub fn remove_peer(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The peers and the head slot each claims.
    pub fn peers(&self) -> impl Iterator<Item = (&PeerId, Slot)> {
        self.peers.iter().map(|(p, s)| (p, s.head_slot))
    }

    /// The highest head slot the peers claim.
    pub fn target(&self) -> Option<Slot> {
        self.peers.values().map(|p| p.head_slot).max()
    }

    /// The best peer (highest head) that is not downloading, for a parent lookup.
    pub fn best_idle_peer(&self) -> Option<PeerId> {
        self.peers
            .iter()
            .filter(|(_, p)| !p.busy)
            .max_by_key(|(_, p)| p.head_slot)
            .or_else(|| self.peers.iter().max_by_key(|(_, p)| p.head_slot))
            .map(|(id, _)| *id)
    }

    pub fn is_syncing(&self) -> bool {
        self.session.is_some()
    }

    pub fn state(&self) -> SyncState {
        SyncState {
            syncing: self.session.is_some(),
            target: self.target(),
            batches: self.session.as_ref().map_or(0, |s| s.batches.len()),
        }
    }

    /// Starts or extends the session, creates batches up to the bound and assigns the waiting
    /// ones to idle peers: the requests to send now.
    pub fn poll(&mut self, local: LocalChain) -> Vec<BatchRequest> {
        let Some(target) = self.target() else {
            return Vec::new();
        };
        if self.session.is_none() {
            if target <= local.head_slot.saturating_add(self.config.tolerance) {
                return Vec::new();
            }
            self.sessions = self.sessions.wrapping_add(1);
            self.session = Some(Session {
                id: self.sessions,
                target,
                next_start: local.start_slot,
                import_at: local.start_slot,
                batches: BTreeMap::new(),
                last_empty: None,
            });
        }
        let config = self.config;
        let Some(session) = self.session.as_mut() else {
            return Vec::new();
        };
        session.target = session.target.max(target);
        // Create batches while the queue has room.
        while session.batches.len() < config.max_batches && session.next_start <= session.target {
            let start = session.next_start;
            let count = config
                .batch_slots
                .min(session.target.saturating_sub(start).saturating_add(1));
            session.batches.insert(
                start,
                Batch {
                    count,
                    attempts: 0,
                    failed: Vec::new(),
                    state: BatchState::Waiting,
                },
            );
            session.next_start = start.saturating_add(count);
        }
        // Assign waiting batches, lowest first.
        let mut out = Vec::new();
        for (start, batch) in session.batches.iter_mut() {
            if !matches!(batch.state, BatchState::Waiting) {
                continue;
            }
            let last = start.saturating_add(batch.count).saturating_sub(1);
            let covers = |p: &PeerSync| p.head_slot >= last;
            let idle = |(_, p): &(&PeerId, &PeerSync)| !p.busy && covers(p);
            // An idle peer that has not failed this batch; a failed one only when every peer
            // able to serve it has failed it.
            let untried = self
                .peers
                .iter()
                .filter(idle)
                .filter(|(id, _)| !batch.failed.contains(id))
                .max_by_key(|(_, p)| p.head_slot)
                .map(|(id, _)| *id);
            let all_failed = self
                .peers
                .iter()
                .filter(|(_, p)| covers(p))
                .all(|(id, _)| batch.failed.contains(id));
            let chosen = untried.or_else(|| {
                all_failed
                    .then(|| {
                        self.peers
                            .iter()
                            .filter(idle)
                            .max_by_key(|(_, p)| p.head_slot)
                            .map(|(id, _)| *id)
                    })
                    .flatten()
            });
            let Some(peer) = chosen else {
                continue;
            };
            if let Some(p) = self.peers.get_mut(&peer) {
                p.busy = true;
            }
            batch.state = BatchState::Downloading(peer);
            out.push(BatchRequest {
                id: BatchId {
                    session: session.id,
                    start: *start,
                    attempt: batch.attempts,
                },
                peer,
                request: BlocksByRangeRequest {
                    start_slot: *start,
                    count: batch.count,
                    step: 1,
                },
            });
        }
        out
    }

    fn batch_mut(&mut self, id: &BatchId) -> Option<&mut Batch<B>> {
        let session = self.session.as_mut().filter(|s| s.id == id.session)?;
        session
            .batches
            .get_mut(&id.start)
            .filter(|b| b.attempts == id.attempt)
    }

    fn free(&mut self, peer: &PeerId) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.busy = false;
        }
    }

    /// A download finished: `Ok(blocks)` (already decoded and checked to lie in the requested
    /// range, in increasing slots) or `Err(())` (failed; the router penalised the peer if it
    /// misbehaved). Returns false for a stale answer (and when the session is abandoned).
    pub fn on_download(&mut self, id: BatchId, peer: PeerId, result: Result<Vec<B>, ()>) -> bool {
        self.free(&peer);
        let max_attempts = self.config.max_attempts;
        let Some(batch) = self.batch_mut(&id) else {
            return false;
        };
        if !matches!(&batch.state, BatchState::Downloading(p) if *p == peer) {
            return false;
        }
        match result {
            Ok(blocks) => {
                batch.state = BatchState::Ready(peer, blocks);
                true
            }
            Err(()) => {
                batch.attempts = batch.attempts.saturating_add(1);
                batch.failed.push(peer);
                batch.state = BatchState::Waiting;
                if batch.attempts >= max_attempts {
                    self.session = None;
                    return false;
                }
                true
            }
        }
    }

    /// The next batch to import, if it is downloaded and its turn has come (batches import in
    /// slot order).
    pub fn next_import(&mut self) -> Option<(BatchId, PeerId, Vec<B>)> {
        let session = self.session.as_mut()?;
        let id = session.id;
        let start = session.import_at;
        let batch = session.batches.get_mut(&start)?;
        if !matches!(batch.state, BatchState::Ready(..)) {
            return None;
        }
        let BatchState::Ready(peer, blocks) =
            std::mem::replace(&mut batch.state, BatchState::Waiting)
        else {
            return None;
        };
        batch.state = BatchState::Importing {
            peer,
            empty: blocks.is_empty(),
        };
        Some((
            BatchId {
                session: id,
                start,
                attempt: batch.attempts,
            },
            peer,
            blocks,
        ))
    }

    /// The import of batch `id` finished.
    pub fn on_processed(&mut self, id: BatchId, result: Result<(), BatchFault>) -> Processed {
        let max_attempts = self.config.max_attempts;
        let batch_slots = self.config.batch_slots;
        let Some(session) = self.session.as_mut().filter(|s| s.id == id.session) else {
            return Processed::Stale;
        };
        let Some(batch) = session
            .batches
            .get_mut(&id.start)
            .filter(|b| b.attempts == id.attempt)
        else {
            return Processed::Stale;
        };
        let BatchState::Importing { peer, empty } = batch.state else {
            return Processed::Stale;
        };
        let fault = match result {
            Ok(()) => {
                let count = batch.count;
                session.batches.remove(&id.start);
                session.import_at = id.start.saturating_add(count);
                session.last_empty = empty.then_some((id.start, count, peer));
                let done = session.import_at > session.target && session.batches.is_empty();
                if done {
                    self.session = None;
                }
                return Processed::Imported { done };
            }
            Err(fault) => fault,
        };
        batch.attempts = batch.attempts.saturating_add(1);
        batch.state = BatchState::Waiting;
        let mut blame = match fault {
            BatchFault::Invalid | BatchFault::NonLinking => Some(peer),
            BatchFault::Local => None,
        };
        // Not linking right after an empty batch: that empty answer may have hidden blocks.
        // Download it again (from someone else) and blame no one.
        if fault == BatchFault::NonLinking {
            if let Some((start, count, empty_peer)) = session.last_empty.take() {
                session.batches.insert(
                    start,
                    Batch {
                        count: count.min(batch_slots),
                        attempts: 0,
                        failed: vec![empty_peer],
                        state: BatchState::Waiting,
                    },
                );
                session.import_at = start;
                blame = None;
            }
        }
        if let (Some(peer), Some(batch)) = (blame, session.batches.get_mut(&id.start)) {
            batch.failed.push(peer);
        }
        let attempts = session.batches.get(&id.start).map_or(0, |b| b.attempts);
        if attempts >= max_attempts {
            self.session = None;
            return Processed::Abandoned { blame };
        }
        Processed::Retry { blame }
    }

    /// Ends the current session (e.g. the node restarted it from a new finalized block).
    pub fn reset(&mut self) {
        self.session = None;
        for p in self.peers.values_mut() {
            p.busy = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RangeConfig {
        RangeConfig {
            batch_slots: 8,
            max_batches: 3,
            max_attempts: 3,
            tolerance: 4,
        }
    }

    fn status(head_slot: Slot) -> StatusMessage {
        StatusMessage {
            head_slot,
            ..Default::default()
        }
    }

    fn local(head_slot: Slot) -> LocalChain {
        LocalChain {
            head_slot,
            start_slot: 1,
        }
    }

    #[test]
    fn no_session_within_tolerance() {
        let mut r: RangeSync<u64> = RangeSync::new(config());
        assert!(r.poll(local(0)).is_empty());
        r.add_peer(PeerId::random(), &status(14));
        assert!(r.poll(local(10)).is_empty());
        assert!(!r.is_syncing());
        assert!(!r.poll(local(9)).is_empty());
        assert!(r.is_syncing());
    }

    #[test]
    fn batches_cover_the_range_in_order_bounded() {
        let mut r: RangeSync<u64> = RangeSync::new(config());
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        for p in &peers {
            r.add_peer(*p, &status(40));
        }
        let requests = r.poll(local(0));
        // max_batches 3: three requests to three different peers, slots 1..=24.
        assert_eq!(requests.len(), 3);
        let starts: Vec<Slot> = requests.iter().map(|q| q.request.start_slot).collect();
        assert_eq!(starts, vec![1, 9, 17]);
        assert!(requests
            .iter()
            .all(|q| q.request.count == 8 && q.request.step == 1));
        let mut used: Vec<PeerId> = requests.iter().map(|q| q.peer).collect();
        used.dedup();
        assert_eq!(used.len(), 3);
        // Back-pressure: nothing new while the three are outstanding.
        assert!(r.poll(local(0)).is_empty());
        // The second batch arrives first: not importable before the first.
        assert!(r.on_download(requests[1].id, requests[1].peer, Ok(vec![9, 10])));
        assert!(r.next_import().is_none());
        // Still full (a downloaded batch counts until imported).
        assert!(r.poll(local(0)).is_empty());
        assert!(r.on_download(requests[0].id, requests[0].peer, Ok(vec![1, 2])));
        let (id, _, blocks) = r.next_import().unwrap();
        assert_eq!((id.start, blocks), (1, vec![1, 2]));
        // Importing: the next is not handed out before this one is done.
        assert!(r.next_import().is_none());
        assert_eq!(
            r.on_processed(id, Ok(())),
            Processed::Imported { done: false }
        );
        // Room for one more batch: slots 25..=32.
        let more = r.poll(local(2));
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].request.start_slot, 25);
        let (id, _, blocks) = r.next_import().unwrap();
        assert_eq!((id.start, blocks), (9, vec![9, 10]));
    }

    #[test]
    fn last_batch_is_cut_at_the_target_and_the_session_ends() {
        let mut r: RangeSync<u64> = RangeSync::new(config());
        let peer = PeerId::random();
        r.add_peer(peer, &status(12));
        let q = r.poll(local(0));
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].request.count, 8);
        r.on_download(q[0].id, peer, Ok(vec![]));
        let (id, _, _) = r.next_import().unwrap();
        r.on_processed(id, Ok(()));
        let q = r.poll(local(0));
        // Slots 9..=12.
        assert_eq!((q[0].request.start_slot, q[0].request.count), (9, 4));
        r.on_download(q[0].id, peer, Ok(vec![12]));
        let (id, _, _) = r.next_import().unwrap();
        assert_eq!(
            r.on_processed(id, Ok(())),
            Processed::Imported { done: true }
        );
        assert!(!r.is_syncing());
        // Synced: no new session while the peer is within tolerance.
        assert!(r.poll(local(12)).is_empty());
    }

    #[test]
    fn failures_retry_on_another_peer_and_blame_the_liar() {
        let mut r: RangeSync<u64> = RangeSync::new(RangeConfig {
            max_batches: 1,
            ..config()
        });
        let (a, b) = (PeerId::random(), PeerId::random());
        r.add_peer(a, &status(8));
        r.add_peer(b, &status(8));
        let q = r.poll(local(0));
        let first = q[0].peer;
        let other = if first == a { b } else { a };
        // A failed download: retried on the other peer.
        assert!(r.on_download(q[0].id, first, Err(())));
        let q = r.poll(local(0));
        assert_eq!(q[0].peer, other);
        assert_eq!(q[0].id.attempt, 1);
        // A stale answer to the first attempt is dropped.
        assert!(!r.on_download(
            BatchId {
                attempt: 0,
                ..q[0].id
            },
            first,
            Ok(vec![1])
        ));
        r.on_download(q[0].id, other, Ok(vec![1, 2]));
        let (id, peer, _) = r.next_import().unwrap();
        assert_eq!(peer, other);
        assert_eq!(
            r.on_processed(id, Err(BatchFault::Invalid)),
            Processed::Retry { blame: Some(other) }
        );
        // Both failed it: either may try again; the third failure abandons the session.
        let q = r.poll(local(0));
        assert_eq!(q.len(), 1);
        r.on_download(q[0].id, q[0].peer, Ok(vec![1]));
        let (id, _, _) = r.next_import().unwrap();
        assert_eq!(
            r.on_processed(id, Err(BatchFault::Local)),
            Processed::Abandoned { blame: None }
        );
        assert!(!r.is_syncing());
    }

    #[test]
    fn non_linking_after_an_empty_batch_refetches_it() {
        let mut r: RangeSync<u64> = RangeSync::new(RangeConfig {
            max_batches: 2,
            ..config()
        });
        let (a, b) = (PeerId::random(), PeerId::random());
        r.add_peer(a, &status(16));
        r.add_peer(b, &status(16));
        let q = r.poll(local(0));
        assert_eq!(q.len(), 2);
        // The first peer claims slots 1..=8 are empty; the second's batch then fails to link.
        r.on_download(q[0].id, q[0].peer, Ok(vec![]));
        r.on_download(q[1].id, q[1].peer, Ok(vec![10]));
        let (id, _, _) = r.next_import().unwrap();
        r.on_processed(id, Ok(()));
        let (id, _, _) = r.next_import().unwrap();
        assert_eq!(
            r.on_processed(id, Err(BatchFault::NonLinking)),
            Processed::Retry { blame: None }
        );
        // Slot 1's batch is downloaded again, from the peer that did not answer it empty.
        let q2 = r.poll(local(0));
        let refetch = q2.iter().find(|x| x.request.start_slot == 1).unwrap();
        assert_eq!(refetch.peer, q[1].peer);
        assert_eq!(refetch.request.count, 8);
    }

    #[test]
    fn batches_only_go_to_peers_whose_head_covers_them() {
        let mut r: RangeSync<u64> = RangeSync::new(config());
        let (short, long) = (PeerId::random(), PeerId::random());
        r.add_peer(short, &status(6));
        r.add_peer(long, &status(30));
        let q = r.poll(local(0));
        // Only the long peer covers slots 1..=8; one request per peer at a time.
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].peer, long);
        r.remove_peer(&long);
        assert_eq!(r.target(), Some(6));
        // Gossip from the short peer raises its known head.
        r.note_head(&short, 31);
        assert_eq!(r.target(), Some(31));
    }
}
