//! The quarantine: blocks whose parent is unknown, waiting for it.
//!
//! A gossip block (or a block fetched by root) whose parent the node does not have cannot be
//! imported yet. It is kept here, keyed by its root with a link to its parent; the roots of the
//! parents that are neither stored nor quarantined are the *missing parents*, which the router
//! fetches with ONE batched `beacon_blocks_by_root` request on a timer (never one request per
//! orphan). When a block imports, its quarantined children are released and imported in turn.
//!
//! # Bounds (all from the node, documented where they are chosen)
//! - `max_blocks`: how many blocks the quarantine holds (from the memory budget's
//!   `Consumer::BlockQueue` share); a new block beyond it evicts the oldest one (first in, first
//!   out: an attacker flooding orphans only pushes out blocks that are already old, and expiry
//!   would drop those soon anyway).
//! - `max_depth`: the longest chain of quarantined ancestors a block may sit on. A chain longer
//!   than that is not a missed block or two but a node that is behind: range sync's job, not
//!   one-by-one parent lookups (Lighthouse uses two epochs of slots the same way).
//! - `expiry_slots`: a block whose parent did not arrive within this many slots is dropped (its
//!   branch is dead or unreachable; keeping it only costs memory).
//! - `max_attempts`: a missing parent requested this often without success is given up, with
//!   every block waiting for it.

use crate::consensus::primitives::{Root, Slot};
use crate::network::PeerId;
use std::collections::{HashMap, VecDeque};

/// The limits of a [`Quarantine`] (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineConfig {
    pub max_blocks: usize,
    pub max_depth: usize,
    pub expiry_slots: u64,
    pub max_attempts: u32,
}

/// What happened to a block offered to the quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quarantined {
    /// Held until its parent imports.
    Added,
    /// Already held (nothing changed).
    Duplicate,
    /// Its chain of quarantined ancestors and descendants would exceed `max_depth`: refused
    /// (range sync catches up instead).
    TooDeep,
    /// Held, and the oldest block was evicted to make room.
    AddedEvicting(Root),
}

struct Entry<B> {
    block: B,
    parent: Root,
    slot: Slot,
    /// The clock slot when it arrived (for expiry).
    arrived: Slot,
    /// The peer that sent it: it claims to know the parent, so it is asked first.
    peer: Option<PeerId>,
}

/// A missing parent: the root to fetch and the peers that claim to have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingParent {
    pub root: Root,
    pub peers: Vec<PeerId>,
    /// The highest slot of the blocks waiting for it (the most recent first when the request
    /// has to be cut).
    pub child_slot: Slot,
}

/// Blocks with unknown parents; see the module documentation.
pub struct Quarantine<B> {
    config: QuarantineConfig,
    blocks: HashMap<Root, Entry<B>>,
    /// Parent root -> the quarantined blocks that name it.
    children: HashMap<Root, Vec<Root>>,
    /// Insertion order, for eviction (entries removed otherwise are skipped lazily; the
    /// queue is compacted when it grows past twice the bound).
    order: VecDeque<Root>,
    /// Missing parents requested so far and how often (cleared when they arrive or are given up).
    attempts: HashMap<Root, u32>,
}

impl<B> Quarantine<B> {
    pub fn new(config: QuarantineConfig) -> Self {
        Quarantine {
            config: QuarantineConfig {
                max_blocks: config.max_blocks.max(1),
                max_depth: config.max_depth.max(1),
                ..config
            },
            blocks: HashMap::new(),
            children: HashMap::new(),
            order: VecDeque::new(),
            attempts: HashMap::new(),
        }
    }

    pub fn config(&self) -> &QuarantineConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn contains(&self, root: &Root) -> bool {
        self.blocks.contains_key(root)
    }

    /// Quarantined ancestors of a block whose parent is `parent` (0 when the parent is not held).
    fn depth_above(&self, mut parent: Root) -> usize {
        let mut depth = 0usize;
        while let Some(entry) = self.blocks.get(&parent) {
            depth = depth.saturating_add(1);
            if depth > self.config.max_depth {
                break;
            }
            parent = entry.parent;
        }
        depth
    }

    /// The longest chain of quarantined descendants below `root` (0 when none).
    fn depth_below(&self, root: &Root) -> usize {
        let mut deepest = 0usize;
        let mut level: Vec<Root> = vec![*root];
        while !level.is_empty() && deepest <= self.config.max_depth {
            let next: Vec<Root> = level
                .iter()
                .filter_map(|r| self.children.get(r))
                .flatten()
                .copied()
                .collect();
            if next.is_empty() {
                break;
            }
            deepest = deepest.saturating_add(1);
            level = next;
        }
        deepest
    }

    /// Holds `block` (root `root`, parent `parent`, slot `slot`) that arrived at clock slot
    /// `now` from `peer`.
    pub fn insert(
        &mut self,
        root: Root,
        parent: Root,
        slot: Slot,
        block: B,
        peer: Option<PeerId>,
        now: Slot,
    ) -> Quarantined {
        if self.blocks.contains_key(&root) {
            if let (Some(peer), Some(entry)) = (peer, self.blocks.get_mut(&root)) {
                entry.peer.get_or_insert(peer);
            }
            return Quarantined::Duplicate;
        }
        let chain = self
            .depth_above(parent)
            .saturating_add(1)
            .saturating_add(self.depth_below(&root));
        if chain > self.config.max_depth {
            return Quarantined::TooDeep;
        }
        let mut evicted = None;
        if self.blocks.len() >= self.config.max_blocks {
            while let Some(oldest) = self.order.pop_front() {
                if self.remove_one(&oldest).is_some() {
                    evicted = Some(oldest);
                    break;
                }
            }
        }
        // It arrived: no longer missing.
        self.attempts.remove(&root);
        self.blocks.insert(
            root,
            Entry {
                block,
                parent,
                slot,
                arrived: now,
                peer,
            },
        );
        self.children.entry(parent).or_default().push(root);
        self.order.push_back(root);
        if self.order.len() > self.config.max_blocks.saturating_mul(2) {
            let blocks = &self.blocks;
            self.order.retain(|r| blocks.contains_key(r));
        }
        match evicted {
            Some(r) => Quarantined::AddedEvicting(r),
            None => Quarantined::Added,
        }
    }

    /// Removes one entry (not its descendants) and its parent link.
    fn remove_one(&mut self, root: &Root) -> Option<Entry<B>> {
        let entry = self.blocks.remove(root)?;
        if let Some(siblings) = self.children.get_mut(&entry.parent) {
            siblings.retain(|r| r != root);
            if siblings.is_empty() {
                self.children.remove(&entry.parent);
            }
        }
        Some(entry)
    }

    /// `root` was imported: its quarantined children leave the quarantine and are returned in
    /// slot order, to be imported next (each of those releases its own children in turn).
    pub fn release(&mut self, root: &Root) -> Vec<B> {
        self.attempts.remove(root);
        let Some(children) = self.children.remove(root) else {
            return Vec::new();
        };
        let mut released: Vec<(Slot, B)> = children
            .iter()
            .filter_map(|child| self.blocks.remove(child))
            .map(|e| (e.slot, e.block))
            .collect();
        released.sort_by_key(|(slot, _)| *slot);
        released.into_iter().map(|(_, b)| b).collect()
    }

    /// `root` turned out invalid (or its parent can no longer come): every quarantined block
    /// descending from it is dropped. Returns how many.
    pub fn discard_descendants(&mut self, root: &Root) -> usize {
        let mut dropped = 0usize;
        let mut stack = vec![*root];
        while let Some(r) = stack.pop() {
            self.attempts.remove(&r);
            if let Some(children) = self.children.remove(&r) {
                for child in children {
                    if self.blocks.remove(&child).is_some() {
                        dropped = dropped.saturating_add(1);
                    }
                    stack.push(child);
                }
            }
        }
        dropped
    }

    /// The parents to fetch: roots quarantined blocks name that are neither held here nor
    /// known to the node (`known` answers for the store), the most recent first, at most `max`
    /// (one `beacon_blocks_by_root` request's worth). Parents already requested
    /// `max_attempts` times are given up (with everything waiting for them).
    pub fn missing_parents(
        &mut self,
        max: usize,
        known: impl Fn(&Root) -> bool,
    ) -> Vec<MissingParent> {
        let mut out: Vec<MissingParent> = Vec::new();
        let mut give_up: Vec<Root> = Vec::new();
        for (parent, children) in &self.children {
            if self.blocks.contains_key(parent) || known(parent) {
                continue;
            }
            if self.attempts.get(parent).copied().unwrap_or(0) >= self.config.max_attempts {
                give_up.push(*parent);
                continue;
            }
            let mut peers: Vec<PeerId> = Vec::new();
            let mut child_slot = 0;
            for child in children {
                if let Some(e) = self.blocks.get(child) {
                    child_slot = child_slot.max(e.slot);
                    if let Some(p) = e.peer {
                        if !peers.contains(&p) {
                            peers.push(p);
                        }
                    }
                }
            }
            out.push(MissingParent {
                root: *parent,
                peers,
                child_slot,
            });
        }
        for root in give_up {
            self.discard_descendants(&root);
        }
        out.sort_by(|a, b| b.child_slot.cmp(&a.child_slot).then(a.root.cmp(&b.root)));
        out.truncate(max);
        out
    }

    /// Counts one request for each of `roots` (see `max_attempts`).
    pub fn requested(&mut self, roots: &[Root]) {
        for root in roots {
            let n = self.attempts.entry(*root).or_insert(0);
            *n = n.saturating_add(1);
        }
    }

    /// Quarantined blocks whose parent the node now knows (imported by another path, e.g. range
    /// sync): the router imports them. Returned in slot order and removed.
    pub fn take_resolved(&mut self, known: impl Fn(&Root) -> bool) -> Vec<B> {
        let parents: Vec<Root> = self
            .children
            .keys()
            .filter(|p| !self.blocks.contains_key(*p) && known(p))
            .copied()
            .collect();
        let mut out: Vec<(Slot, B)> = Vec::new();
        for parent in parents {
            if let Some(children) = self.children.remove(&parent) {
                for child in children {
                    if let Some(e) = self.blocks.remove(&child) {
                        out.push((e.slot, e.block));
                    }
                }
            }
        }
        out.sort_by_key(|(slot, _)| *slot);
        out.into_iter().map(|(_, b)| b).collect()
    }

    /// Drops blocks that waited longer than `expiry_slots` (at clock slot `now`) and blocks at
    /// or before the finalized slot (they can never be imported: not descendants of the
    /// finalized block, or already final). Returns how many were dropped.
    pub fn prune(&mut self, now: Slot, finalized_slot: Slot) -> usize {
        let expiry = self.config.expiry_slots;
        let stale: Vec<Root> = self
            .blocks
            .iter()
            .filter(|(_, e)| e.arrived.saturating_add(expiry) < now || e.slot <= finalized_slot)
            .map(|(r, _)| *r)
            .collect();
        let mut dropped = 0usize;
        for root in stale {
            if self.remove_one(&root).is_some() {
                dropped = dropped.saturating_add(1);
            }
            dropped = dropped.saturating_add(self.discard_descendants(&root));
        }
        let blocks = &self.blocks;
        self.order.retain(|r| blocks.contains_key(r));
        self.attempts
            .retain(|root, _| self.children.contains_key(root));
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(n: u64) -> Root {
        Root::left_padding_from(&n.to_be_bytes())
    }

    fn config() -> QuarantineConfig {
        QuarantineConfig {
            max_blocks: 4,
            max_depth: 3,
            expiry_slots: 10,
            max_attempts: 2,
        }
    }

    /// Block n has parent n-1 and slot n; its payload is n.
    fn put(q: &mut Quarantine<u64>, n: u64, now: Slot) -> Quarantined {
        q.insert(root(n), root(n - 1), n, n, None, now)
    }

    #[test]
    fn releases_children_in_slot_order_and_chains() {
        let mut q = Quarantine::new(config());
        // Two children of 10 (slots 12 and 11), one grandchild.
        assert_eq!(
            q.insert(root(12), root(10), 12, 12, None, 0),
            Quarantined::Added
        );
        assert_eq!(
            q.insert(root(11), root(10), 11, 11, None, 0),
            Quarantined::Added
        );
        assert_eq!(
            q.insert(root(13), root(12), 13, 13, None, 0),
            Quarantined::Added
        );
        assert_eq!(
            q.insert(root(11), root(10), 11, 11, None, 0),
            Quarantined::Duplicate
        );
        assert_eq!(q.len(), 3);
        assert!(q.release(&root(99)).is_empty());
        assert_eq!(q.release(&root(10)), vec![11, 12]);
        assert_eq!(q.release(&root(12)), vec![13]);
        assert!(q.is_empty());
    }

    #[test]
    fn missing_parents_are_the_roots_outside_the_quarantine_and_store() {
        let mut q = Quarantine::new(config());
        let peer = PeerId::random();
        q.insert(root(5), root(4), 5, 5, Some(peer), 0);
        q.insert(root(6), root(5), 6, 6, None, 0);
        q.insert(root(21), root(20), 21, 21, None, 0);
        let missing = q.missing_parents(10, |_| false);
        let roots: Vec<Root> = missing.iter().map(|m| m.root).collect();
        // Most recent child first; root 5 is held, so only 4 and 20 are missing.
        assert_eq!(roots, vec![root(20), root(4)]);
        assert_eq!(missing[1].peers, vec![peer]);
        // Known to the store: not missing (take_resolved hands the child over).
        assert_eq!(q.missing_parents(10, |r| *r == root(4)).len(), 1);
        assert_eq!(q.missing_parents(1, |_| false).len(), 1);
        assert_eq!(q.take_resolved(|r| *r == root(4)), vec![5]);
        assert_eq!(q.release(&root(5)), vec![6]);
    }

    #[test]
    fn depth_limit_refuses_long_chains() {
        let mut q = Quarantine::new(config());
        assert_eq!(put(&mut q, 1, 0), Quarantined::Added);
        assert_eq!(put(&mut q, 2, 0), Quarantined::Added);
        assert_eq!(put(&mut q, 3, 0), Quarantined::Added);
        // A fourth block on top makes a chain of 4 > max_depth 3.
        assert_eq!(put(&mut q, 4, 0), Quarantined::TooDeep);
        // So does a parent arriving below the chain.
        assert_eq!(
            q.insert(root(0), root(100), 0, 0, None, 0),
            Quarantined::TooDeep
        );
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn count_bound_evicts_the_oldest() {
        let mut q = Quarantine::new(config());
        for n in [10, 20, 30, 40] {
            assert_eq!(put(&mut q, n, 0), Quarantined::Added);
        }
        assert_eq!(put(&mut q, 50, 0), Quarantined::AddedEvicting(root(10)));
        assert_eq!(q.len(), 4);
        assert!(!q.contains(&root(10)));
        // Released entries do not count as the oldest any more.
        assert_eq!(q.release(&root(19)), vec![20]);
        assert_eq!(put(&mut q, 60, 0), Quarantined::Added);
        assert_eq!(put(&mut q, 70, 0), Quarantined::AddedEvicting(root(30)));
        for _ in 0..100 {
            put(&mut q, 80, 0);
        }
        assert!(q.len() <= 4);
    }

    #[test]
    fn expiry_and_finality_prune() {
        let mut q = Quarantine::new(config());
        put(&mut q, 5, 0);
        put(&mut q, 6, 0);
        put(&mut q, 30, 8);
        assert_eq!(q.prune(10, 0), 0);
        // At slot 11 the blocks that arrived at 0 are older than 10 slots.
        assert_eq!(q.prune(11, 0), 2);
        assert!(q.contains(&root(30)));
        // Finalized past its slot: dropped.
        assert_eq!(q.prune(11, 30), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn attempts_give_up_with_the_waiting_blocks() {
        let mut q = Quarantine::new(config());
        put(&mut q, 5, 0);
        put(&mut q, 6, 0);
        for _ in 0..2 {
            let m = q.missing_parents(10, |_| false);
            assert_eq!(m.len(), 1);
            q.requested(&[m[0].root]);
        }
        assert!(q.missing_parents(10, |_| false).is_empty());
        assert!(q.is_empty());
    }

    #[test]
    fn discard_drops_the_subtree_only() {
        let mut q = Quarantine::new(QuarantineConfig {
            max_blocks: 10,
            ..config()
        });
        q.insert(root(2), root(1), 2, 2, None, 0);
        q.insert(root(3), root(2), 3, 3, None, 0);
        q.insert(root(9), root(8), 9, 9, None, 0);
        // Block 2 was released and found invalid: 3 goes with it.
        assert_eq!(q.release(&root(1)), vec![2]);
        assert_eq!(q.discard_descendants(&root(2)), 1);
        assert_eq!(q.len(), 1);
        assert!(q.contains(&root(9)));
    }
}
