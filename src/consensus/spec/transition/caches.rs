//! Per-state caches of values the spec recomputes from scratch on every call.
//!
//! Held in `BeaconState::caches`, outside the SSZ/hash/equality of the state. Every entry is
//! keyed by what it was computed from, and checked on use, so a stale entry is never served:
//!
//! - committee shufflings ([`EpochCommittees`]) by `(epoch, seed)`, for epochs within one of the
//!   state's current epoch. The active set of such an epoch cannot change any more: activations
//!   and exits are only ever scheduled at `compute_activation_exit_epoch(current_epoch)` =
//!   `current + 1 + MAX_SEED_LOOKAHEAD` or later. The seed is re-derived (one hash) on every
//!   use, so a RANDAO change that alters it is noticed.
//! - the total active balance by epoch; it changes only when effective balances change, which
//!   the spec does once per epoch in `process_effective_balance_updates` (which clears it).
//!   New validators get an effective balance, but are not active in the current epoch.
//! - the pubkey -> index map: the registry only grows, and a pubkey never changes.
//!
//! The caches fill lazily behind `&BeaconState` (a mutex per cache), and a cloned state gets a
//! copy of the entries (`Arc`s, cheap), never a shared mutable cache.

use crate::consensus::primitives::{Epoch, Gwei, ValidatorIndex};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One epoch's active validators, in index order and shuffled into committee order.
#[derive(Debug, PartialEq, Eq)]
pub struct EpochCommittees {
    pub epoch: Epoch,
    /// `get_seed(state, epoch, DOMAIN_BEACON_ATTESTER)`.
    pub seed: [u8; 32],
    /// `get_active_validator_indices(state, epoch)`.
    pub active_indices: Vec<ValidatorIndex>,
    /// `shuffled[i] == active_indices[compute_shuffled_index(i, len, seed)]`.
    pub shuffled: Vec<ValidatorIndex>,
}

/// Pubkey -> validator index for a prefix of the registry.
#[derive(Debug, Default, Clone)]
pub struct PubkeyIndex {
    /// Shared between clones of a state.
    base: Arc<HashMap<[u8; 48], ValidatorIndex>>,
    /// This state's own newer entries, merged into a new `base` once there are many.
    extra: HashMap<[u8; 48], ValidatorIndex>,
    /// Registry entries covered: `validators[..len]`.
    len: usize,
}

/// New entries a state collects privately before they are merged into a new shared base.
const PUBKEY_EXTRA_MERGE_THRESHOLD: usize = 1024;

impl PubkeyIndex {
    /// Number of leading registry entries covered.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first index with `pubkey` (the spec's `validator_pubkeys.index(pubkey)`).
    pub fn get(&self, pubkey: &[u8; 48]) -> Option<ValidatorIndex> {
        self.base
            .get(pubkey)
            .or_else(|| self.extra.get(pubkey))
            .copied()
    }

    /// Adds the entry of `validators[self.len()]`; a duplicate pubkey keeps its first index.
    pub fn push(&mut self, pubkey: [u8; 48]) {
        let index = self.len as ValidatorIndex;
        if !self.base.contains_key(&pubkey) {
            self.extra.entry(pubkey).or_insert(index);
        }
        self.len = self.len.saturating_add(1);
        if self.extra.len() >= PUBKEY_EXTRA_MERGE_THRESHOLD {
            // Copies the shared map only if another state still uses it.
            Arc::make_mut(&mut self.base).extend(self.extra.drain());
        }
    }
}

/// All caches of one state. Equality ignores them (they are derived data).
#[derive(Default)]
pub struct StateCaches {
    committees: Mutex<Vec<Arc<EpochCommittees>>>,
    total_active_balance: Mutex<Option<(Epoch, Gwei)>>,
    pubkeys: Mutex<PubkeyIndex>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these plain caches half-updated in a way
    // that matters: every entry is checked against its key on use.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StateCaches {
    /// The cached committees of `epoch` if they were built with `seed`.
    pub fn committees(&self, epoch: Epoch, seed: &[u8; 32]) -> Option<Arc<EpochCommittees>> {
        lock(&self.committees)
            .iter()
            .find(|c| c.epoch == epoch && &c.seed == seed)
            .cloned()
    }

    /// Any cached entry of `epoch`, for its active indices (which do not depend on the seed).
    pub fn active_indices(&self, epoch: Epoch) -> Option<Arc<EpochCommittees>> {
        lock(&self.committees)
            .iter()
            .find(|c| c.epoch == epoch)
            .cloned()
    }

    /// Stores `entry`, dropping entries for other seeds of its epoch and epochs far from
    /// `current_epoch`.
    pub fn insert_committees(&self, entry: Arc<EpochCommittees>, current_epoch: Epoch) {
        let mut cache = lock(&self.committees);
        cache.retain(|c| {
            c.epoch != entry.epoch
                && c.epoch.saturating_add(1) >= current_epoch
                && c.epoch <= current_epoch.saturating_add(1)
        });
        cache.push(entry);
    }

    pub fn total_active_balance(&self, epoch: Epoch) -> Option<Gwei> {
        match *lock(&self.total_active_balance) {
            Some((e, balance)) if e == epoch => Some(balance),
            _ => None,
        }
    }

    pub fn set_total_active_balance(&self, epoch: Epoch, balance: Gwei) {
        *lock(&self.total_active_balance) = Some((epoch, balance));
    }

    /// Forgets the total active balance (effective balances changed).
    pub fn clear_total_active_balance(&self) {
        *lock(&self.total_active_balance) = None;
    }

    /// Runs `f` on the pubkey index (which the caller brings up to date first).
    pub fn with_pubkeys<R>(&self, f: impl FnOnce(&mut PubkeyIndex) -> R) -> R {
        f(&mut lock(&self.pubkeys))
    }

    /// Forgets everything.
    pub fn clear(&self) {
        lock(&self.committees).clear();
        self.clear_total_active_balance();
        *lock(&self.pubkeys) = PubkeyIndex::default();
    }
}

impl Clone for StateCaches {
    fn clone(&self) -> Self {
        StateCaches {
            committees: Mutex::new(lock(&self.committees).clone()),
            total_active_balance: Mutex::new(*lock(&self.total_active_balance)),
            pubkeys: Mutex::new(lock(&self.pubkeys).clone()),
        }
    }
}

impl PartialEq for StateCaches {
    /// Always equal: caches are not part of the state's value.
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for StateCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let epochs: Vec<Epoch> = lock(&self.committees).iter().map(|c| c.epoch).collect();
        f.debug_struct("StateCaches")
            .field("committee_epochs", &epochs)
            .field("total_active_balance", &*lock(&self.total_active_balance))
            .field("pubkeys", &lock(&self.pubkeys).len())
            .finish()
    }
}
