//! The state cache: beacon states by state root, bounded in real bytes.
//!
//! (The tracker is [`Tracker`]: milhouse's `MemoryTracker` walk over milhouse's `MemorySize`
//! model, with a fast address hash.)
//!
//! Accounting: states share most of their trees (a block changes a few thousand leaves of a
//! 1M-validator registry), so summing per-state sizes would overcount tens of times. The cache
//! keeps one milhouse-style `MemoryTracker` over all of its states: adding a state costs a walk of
//! only the nodes it does not share with the states already tracked (a `HashMap` hit stops the
//! walk at every shared subtree), and the tracker's total is the bytes the cached states hold
//! together.
//!
//! Eviction (least recently used first) with hysteresis: when the total passes the bound, the
//! cache measures again from scratch, walking the states from most to least recently used. A
//! state's *differential* size in that order is what no more recently used state shares, so
//! dropping the least recently used states frees exactly the sum of their differential sizes:
//! the cache drops them until the total is at most 90% of the bound, then rebuilds the tracker
//! over the survivors (a tracker must never hold pointers of freed nodes: the allocator may
//! reuse the address). Two walks per eviction round, and a round frees 10% of the bound, so
//! rounds are rare. Explicit removals (pruning) mark the tracker stale; it is rebuilt at the
//! next insertion.
//!
//! A state larger than the whole bound is still returned to its caller but not kept.

use super::mem::{MeasuredState, Tracker};
use super::spec::BeaconState;
use crate::consensus::primitives::{Hash256, Slot};
use std::collections::HashMap;
use std::sync::Arc;

/// Hit, miss and size figures (the store's metrics read them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCacheMetrics {
    pub hits: u64,
    pub misses: u64,
    pub inserts: u64,
    pub evictions: u64,
    /// Full re-measurements (eviction rounds and rebuilds after removals).
    pub measurements: u64,
    /// States held.
    pub states: usize,
    /// Real bytes held (structural sharing counted once).
    pub bytes: u64,
    /// The bound.
    pub max_bytes: u64,
}

struct Entry {
    state: Arc<BeaconState>,
    slot: Slot,
    last_used: u64,
}

/// See the module documentation.
pub struct StateCache {
    max_bytes: u64,
    entries: HashMap<Hash256, Entry>,
    clock: u64,
    tracker: Tracker,
    /// The tracker holds pointers of states no longer cached: rebuild before use.
    stale: bool,
    metrics: StateCacheMetrics,
}

impl StateCache {
    pub fn new(max_bytes: u64) -> Self {
        StateCache {
            max_bytes,
            entries: HashMap::new(),
            clock: 0,
            tracker: Tracker::default(),
            stale: false,
            metrics: StateCacheMetrics {
                max_bytes,
                ..Default::default()
            },
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock = self.clock.saturating_add(1);
        self.clock
    }

    /// The state with `root`, if cached (a cheap clone: the trees are shared).
    pub fn get(&mut self, root: &Hash256) -> Option<BeaconState> {
        let now = self.tick();
        match self.entries.get_mut(root) {
            Some(entry) => {
                entry.last_used = now;
                self.metrics.hits = self.metrics.hits.saturating_add(1);
                Some((*entry.state).clone())
            }
            None => {
                self.metrics.misses = self.metrics.misses.saturating_add(1);
                None
            }
        }
    }

    /// Whether `root` is cached (no hit/miss counted, recency unchanged).
    pub fn contains(&self, root: &Hash256) -> bool {
        self.entries.contains_key(root)
    }

    /// Caches `state` (whose pending updates must be applied) under `root`.
    pub fn insert(&mut self, root: Hash256, state: BeaconState) {
        let now = self.tick();
        if let Some(entry) = self.entries.get_mut(&root) {
            entry.last_used = now;
            return;
        }
        if self.stale {
            self.rebuild();
        }
        let slot = state.slot;
        let state = Arc::new(state);
        self.tracker.track_item(&MeasuredState(&state));
        self.entries.insert(
            root,
            Entry {
                state,
                slot,
                last_used: now,
            },
        );
        self.metrics.inserts = self.metrics.inserts.saturating_add(1);
        if self.bytes() > self.max_bytes {
            self.evict();
        }
        self.update_gauges();
    }

    /// Drops the state with `root`.
    pub fn remove(&mut self, root: &Hash256) {
        if self.entries.remove(root).is_some() {
            self.stale = true;
            self.update_gauges();
        }
    }

    /// Drops every state `keep` rejects (e.g. states older than the finalized one).
    pub fn retain(&mut self, mut keep: impl FnMut(&Hash256, Slot) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|root, e| keep(root, e.slot));
        if self.entries.len() != before {
            self.stale = true;
            self.update_gauges();
        }
    }

    fn bytes(&self) -> u64 {
        u64::try_from(self.tracker.total_size()).unwrap_or(u64::MAX)
    }

    /// Roots from most to least recently used.
    fn by_recency(&self) -> Vec<Hash256> {
        let mut roots: Vec<(u64, Hash256)> = self
            .entries
            .iter()
            .map(|(root, e)| (e.last_used, *root))
            .collect();
        roots.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
        roots.into_iter().map(|(_, root)| root).collect()
    }

    /// A fresh tracker over the cached states.
    fn rebuild(&mut self) {
        let mut tracker = Tracker::default();
        for root in self.by_recency() {
            if let Some(e) = self.entries.get(&root) {
                tracker.track_item(&MeasuredState(&e.state));
            }
        }
        self.tracker = tracker;
        self.stale = false;
        self.metrics.measurements = self.metrics.measurements.saturating_add(1);
    }

    /// Drops least recently used states until at most 90% of the bound is held.
    fn evict(&mut self) {
        let target = self.max_bytes / 10 * 9;
        let order = self.by_recency();
        let mut tracker = Tracker::default();
        let mut keep = 0usize;
        for root in &order {
            let Some(e) = self.entries.get(root) else {
                continue;
            };
            tracker.track_item(&MeasuredState(&e.state));
            if u64::try_from(tracker.total_size()).unwrap_or(u64::MAX) > target {
                break;
            }
            keep = keep.saturating_add(1);
        }
        for root in order.iter().skip(keep) {
            if self.entries.remove(root).is_some() {
                self.metrics.evictions = self.metrics.evictions.saturating_add(1);
            }
        }
        self.metrics.measurements = self.metrics.measurements.saturating_add(1);
        // The walk above also tracked the first dropped state: start over on the survivors.
        self.rebuild();
    }

    fn update_gauges(&mut self) {
        self.metrics.states = self.entries.len();
        if !self.stale {
            self.metrics.bytes = self.bytes();
        }
    }

    pub fn metrics(&mut self) -> StateCacheMetrics {
        if self.stale {
            self.rebuild();
            self.update_gauges();
        }
        self.metrics
    }
}
