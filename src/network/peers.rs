//! The peer manager: a score per peer (the node's `ReportPeer` actions, decaying back to zero),
//! bans (disconnect, connections refused for [`BAN_DURATION`]) and connection limits around the
//! target peer count — a `NetworkBehaviour` so it can refuse connections before any other
//! behaviour sees them — and the per-peer req/resp rate limiter.

use super::codec::Protocol;
use super::types::PeerAction;
use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Scores live in `[MIN_SCORE, MAX_SCORE]`; below [`BAN_THRESHOLD`] the peer is banned.
pub const MIN_SCORE: f64 = -100.0;
pub const MAX_SCORE: f64 = 100.0;
/// Five low-tolerance errors, ten mid, fifty high (within the decay's half-life) ban a peer.
pub const BAN_THRESHOLD: f64 = -50.0;
/// How long a ban lasts (connections refused, discv5 ignores the node).
pub const BAN_DURATION: Duration = Duration::from_secs(30 * 60);
/// Scores decay towards zero with this half-life, so old sins are forgiven.
const SCORE_HALF_LIFE: Duration = Duration::from_secs(10 * 60);
/// The most bans remembered: ids are free to make, so the list is bounded; the oldest ban is
/// forgotten first (it is also the nearest to expiry).
const MAX_BANS: usize = 4096;

pub fn action_penalty(action: PeerAction) -> f64 {
    match action {
        PeerAction::Fatal => MAX_SCORE - MIN_SCORE,
        PeerAction::LowToleranceError => 10.0,
        PeerAction::MidToleranceError => 5.0,
        PeerAction::HighToleranceError => 1.0,
    }
}

#[derive(Debug, Clone)]
struct Score {
    value: f64,
    updated: Instant,
}

impl Score {
    fn decayed(&self, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.updated).as_secs_f64();
        self.value * 0.5f64.powf(dt / SCORE_HALF_LIFE.as_secs_f64())
    }
}

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("peer is banned")]
    Banned,
    #[error("too many peers")]
    TooManyPeers,
}

/// The peer manager (see the module docs).
pub struct PeerManager {
    /// Established connections per connected peer.
    connections: HashMap<PeerId, usize>,
    scores: HashMap<PeerId, Score>,
    bans: HashMap<PeerId, Instant>,
    ban_order: VecDeque<PeerId>,
    /// Inbound connections beyond this many peers are refused (target + 10%, at least +2, so
    /// new peers can still reach a full node and rotate in).
    pub max_peers: usize,
}

impl PeerManager {
    pub fn new(target_peers: usize) -> Self {
        Self {
            connections: HashMap::new(),
            scores: HashMap::new(),
            bans: HashMap::new(),
            ban_order: VecDeque::new(),
            max_peers: target_peers.saturating_add((target_peers / 10).max(2)),
        }
    }

    pub fn connected_count(&self) -> usize {
        self.connections.len()
    }

    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.connections.contains_key(peer)
    }

    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.bans
            .get(peer)
            .is_some_and(|until| *until > Instant::now())
    }

    pub fn score(&self, peer: &PeerId) -> f64 {
        self.scores
            .get(peer)
            .map_or(0.0, |s| s.decayed(Instant::now()))
    }

    /// Applies an action; returns true when the peer must now be banned.
    pub fn report(&mut self, peer: PeerId, action: PeerAction) -> bool {
        let now = Instant::now();
        let entry = self.scores.entry(peer).or_insert(Score {
            value: 0.0,
            updated: now,
        });
        let value = (entry.decayed(now) - action_penalty(action)).clamp(MIN_SCORE, MAX_SCORE);
        *entry = Score {
            value,
            updated: now,
        };
        action == PeerAction::Fatal || value < BAN_THRESHOLD
    }

    pub fn ban(&mut self, peer: PeerId, duration: Duration) {
        let until = Instant::now() + duration;
        if self.bans.insert(peer, until).is_none() {
            self.ban_order.push_back(peer);
        }
        while self.ban_order.len() > MAX_BANS {
            if let Some(old) = self.ban_order.pop_front() {
                self.bans.remove(&old);
            }
        }
    }

    /// Drops expired bans and forgotten scores (of peers no longer connected whose score has
    /// decayed to nothing); returns the peers whose ban ended.
    pub fn prune(&mut self) -> Vec<PeerId> {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in &expired {
            self.bans.remove(peer);
        }
        self.ban_order.retain(|p| self.bans.contains_key(p));
        let connections = &self.connections;
        self.scores
            .retain(|p, s| connections.contains_key(p) || s.decayed(now).abs() > 0.5);
        expired
    }

    fn check(&self, peer: &PeerId, inbound: bool) -> Result<(), ConnectionDenied> {
        if self.is_banned(peer) {
            return Err(ConnectionDenied::new(Refused::Banned));
        }
        if inbound && !self.is_connected(peer) && self.connections.len() >= self.max_peers {
            return Err(ConnectionDenied::new(Refused::TooManyPeers));
        }
        Ok(())
    }
}

impl NetworkBehaviour for PeerManager {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(&peer, true)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(peer) = peer {
            self.check(&peer, false)?;
        }
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(&peer, false)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                *self.connections.entry(e.peer_id).or_default() += 1;
            }
            FromSwarm::ConnectionClosed(e) => {
                if let Some(n) = self.connections.get_mut(&e.peer_id) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.connections.remove(&e.peer_id);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

// ---------------------------------------------------------------------------------- rate limits

/// A token bucket: `capacity` tokens, refilled at `capacity / period`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u64, period: Duration, now: Instant) -> Self {
        let capacity = capacity as f64;
        Self {
            tokens: capacity,
            capacity,
            per_second: capacity / period.as_secs_f64().max(0.001),
            updated: now,
        }
    }

    /// Takes `cost` tokens if there are enough; a request costing more than the capacity is
    /// never allowed.
    pub fn try_take(&mut self, cost: u64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_second).min(self.capacity);
        self.updated = now;
        let cost = cost as f64;
        if cost <= self.tokens {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// The inbound quota of a protocol: `tokens` per `period`, a request costing one token per
/// object it asks for (blocks, sidecars) or one for the small protocols. Sized for honest
/// behaviour (a syncing peer asks for a few batches of 64 blocks per 10 s; status every few
/// minutes; ping at most every few seconds) with headroom.
pub fn quota(protocol: Protocol, max_request_blocks: u64, max_columns: u64) -> (u64, Duration) {
    let ten = Duration::from_secs(10);
    match protocol {
        Protocol::Status => (5, Duration::from_secs(15)),
        Protocol::Goodbye => (1, ten),
        Protocol::Ping => (2, ten),
        Protocol::MetaData => (2, Duration::from_secs(5)),
        Protocol::BlocksByRange => (max_request_blocks.max(1).saturating_mul(8), ten),
        Protocol::BlocksByRoot => (max_request_blocks.max(1), ten),
        Protocol::DataColumnsByRange | Protocol::DataColumnsByRoot => (max_columns.max(1), ten),
    }
}

/// Per-peer token buckets per protocol. Entries are removed when the peer disconnects, so the
/// map holds at most `connected peers × 8` buckets.
#[derive(Debug)]
pub struct RateLimiter {
    max_request_blocks: u64,
    max_columns: u64,
    buckets: HashMap<(PeerId, Protocol), TokenBucket>,
}

impl RateLimiter {
    pub fn new(max_request_blocks: u64, max_columns: u64) -> Self {
        Self {
            max_request_blocks,
            max_columns,
            buckets: HashMap::new(),
        }
    }

    pub fn allow(&mut self, peer: PeerId, protocol: Protocol, cost: u64, now: Instant) -> bool {
        let (capacity, period) = quota(protocol, self.max_request_blocks, self.max_columns);
        self.buckets
            .entry((peer, protocol))
            .or_insert_with(|| TokenBucket::new(capacity, period, now))
            .try_take(cost, now)
    }

    pub fn remove_peer(&mut self, peer: &PeerId) {
        self.buckets.retain(|(p, _), _| p != peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_refills_over_time() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, Duration::from_secs(10), t0);
        assert!(bucket.try_take(6, t0));
        assert!(bucket.try_take(4, t0));
        assert!(!bucket.try_take(1, t0), "empty");
        // One token per second.
        assert!(!bucket.try_take(2, t0 + Duration::from_millis(1500)));
        assert!(bucket.try_take(1, t0 + Duration::from_millis(1500)));
        assert!(bucket.try_take(2, t0 + Duration::from_millis(3600)));
        // Never more than the capacity, however long it waited.
        assert!(!bucket.try_take(11, t0 + Duration::from_secs(1000)));
        assert!(bucket.try_take(10, t0 + Duration::from_secs(1000)));
    }

    #[test]
    fn rate_limiter_is_per_peer_and_protocol() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(128, 16384);
        let (a, b) = (PeerId::random(), PeerId::random());
        assert!(limiter.allow(a, Protocol::Ping, 1, t0));
        assert!(limiter.allow(a, Protocol::Ping, 1, t0));
        assert!(
            !limiter.allow(a, Protocol::Ping, 1, t0),
            "third ping in 10 s"
        );
        assert!(limiter.allow(b, Protocol::Ping, 1, t0), "other peer");
        assert!(
            limiter.allow(a, Protocol::MetaData, 1, t0),
            "other protocol"
        );
        // blocks_by_range: 1024 blocks per 10 s.
        assert!(limiter.allow(a, Protocol::BlocksByRange, 1000, t0));
        assert!(!limiter.allow(a, Protocol::BlocksByRange, 64, t0));
        assert!(limiter.allow(a, Protocol::BlocksByRange, 64, t0 + Duration::from_secs(1)));
        limiter.remove_peer(&a);
        assert!(
            limiter.allow(a, Protocol::Ping, 1, t0),
            "state dropped on disconnect"
        );
    }

    #[test]
    fn scores_ban_and_decay() {
        let mut pm = PeerManager::new(10);
        let p = PeerId::random();
        for _ in 0..5 {
            assert!(!pm.report(p, PeerAction::LowToleranceError));
        }
        assert!((pm.score(&p) + 50.0).abs() < 0.1);
        assert!(pm.report(p, PeerAction::HighToleranceError), "below -50");
        let q = PeerId::random();
        assert!(pm.report(q, PeerAction::Fatal), "fatal bans at once");
        assert!(!pm.is_banned(&q));
        pm.ban(q, Duration::from_secs(60));
        assert!(pm.is_banned(&q));
        assert!(pm.check(&q, false).is_err());
        pm.ban(p, Duration::ZERO);
        assert_eq!(pm.prune(), vec![p]);
        assert!(!pm.is_banned(&p));
        // Decay: a score from 10 minutes ago is halved.
        let r = PeerId::random();
        pm.scores.insert(
            r,
            Score {
                value: -40.0,
                updated: Instant::now() - SCORE_HALF_LIFE,
            },
        );
        assert!((pm.score(&r) + 20.0).abs() < 0.1);
        assert_eq!(pm.max_peers, 12);
    }
}
