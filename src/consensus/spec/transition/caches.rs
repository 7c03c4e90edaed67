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
//! - flat columns of the validator records ([`ValidatorColumns`]) for epoch processing, in
//!   chunks keyed by the identity of the chunk's milhouse subtree: milhouse trees are
//!   persistent (an update builds new nodes, never changes one), and the cache holds a
//!   reference to each subtree it summarises, so an unchanged pointer means unchanged records.
//!
//! The caches fill lazily behind `&BeaconState` (a mutex per cache), and a cloned state gets a
//! copy of the entries (`Arc`s, cheap), never a shared mutable cache.

use super::Validator;
use crate::consensus::primitives::{Epoch, Gwei, ValidatorIndex};
use crate::consensus::pubkey_cache::VerifiedKeys;
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
///
/// Keyed by a 64-bit slice of the key (the low bytes of the compressed point's x coordinate)
/// with a `u32` index: about a quarter of the memory of a map keyed by the whole key (mainnet,
/// 2.3M keys: ~60 MB instead of ~230 MB). A hit names a candidate that the caller checks
/// against the registry ([`PubkeyIndex::get`] takes the registry's key lookup); keys whose
/// slice collides with an earlier, different key's go to a small map keyed by the whole key.
#[derive(Debug, Default, Clone)]
pub struct PubkeyIndex {
    /// Shared between clones of a state.
    base: Arc<HashMap<u64, u32>>,
    /// This state's own newer entries, merged into a new `base` once there are many.
    extra: HashMap<u64, u32>,
    /// Keys whose slice an earlier, different key already holds (whole key -> first index).
    collisions: Arc<HashMap<[u8; 48], ValidatorIndex>>,
    /// Registry entries covered: `validators[..len]`.
    len: usize,
}

/// New entries a state collects privately before they are merged into a new shared base.
const PUBKEY_EXTRA_MERGE_THRESHOLD: usize = 1024;

/// The slice of `pubkey` the index is keyed by.
fn pubkey_slice(pubkey: &[u8; 48]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&pubkey[40..48]);
    u64::from_le_bytes(bytes)
}

impl PubkeyIndex {
    /// Number of leading registry entries covered.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn candidate(&self, pubkey: &[u8; 48]) -> Option<u32> {
        let slice = pubkey_slice(pubkey);
        self.base
            .get(&slice)
            .or_else(|| self.extra.get(&slice))
            .copied()
    }

    /// The first index with `pubkey` (the spec's `validator_pubkeys.index(pubkey)`);
    /// `key_at(i)` is the registry's key at index `i` (`None` past its end).
    pub fn get(
        &self,
        pubkey: &[u8; 48],
        key_at: impl Fn(ValidatorIndex) -> Option<[u8; 48]>,
    ) -> Option<ValidatorIndex> {
        if let Some(&index) = self.collisions.get(pubkey) {
            return Some(index);
        }
        let index = ValidatorIndex::from(self.candidate(pubkey)?);
        (key_at(index).as_ref() == Some(pubkey)).then_some(index)
    }

    /// Adds the entry of `validators[self.len()]` (`pubkey`); a duplicate pubkey keeps its
    /// first index. `key_at` as for [`PubkeyIndex::get`].
    pub fn push(&mut self, pubkey: [u8; 48], key_at: impl Fn(ValidatorIndex) -> Option<[u8; 48]>) {
        let index = self.len as ValidatorIndex;
        self.len = self.len.saturating_add(1);
        match self.candidate(&pubkey) {
            None => match u32::try_from(index) {
                Ok(index32) => {
                    self.extra.insert(pubkey_slice(&pubkey), index32);
                }
                Err(_) => {
                    Arc::make_mut(&mut self.collisions)
                        .entry(pubkey)
                        .or_insert(index);
                }
            },
            Some(earlier) => {
                // The same key again (keeps its first index), or a different key with the
                // same slice (kept by its whole key).
                if key_at(ValidatorIndex::from(earlier)).as_ref() != Some(&pubkey)
                    && !self.collisions.contains_key(&pubkey)
                {
                    Arc::make_mut(&mut self.collisions).insert(pubkey, index);
                }
            }
        }
        if self.extra.len() >= PUBKEY_EXTRA_MERGE_THRESHOLD {
            // Copies the shared map only if another state still uses it.
            Arc::make_mut(&mut self.base).extend(self.extra.drain());
        }
    }
}

/// The fields of `chunk_len` consecutive validator records, column by column.
#[derive(Debug, Clone, Default)]
pub struct ColumnChunk {
    /// The milhouse subtree these columns were read from (`None` for chunk 0, which
    /// `level_iter_from` cannot name and is always re-read).
    pub node: Option<milhouse::Arc<milhouse::Tree<Validator>>>,
    ///
    /// Each column is shared between clones of the chunk until written: patching a chunk
    /// (the epoch changes effective balances of validators all over the registry) copies only
    /// the columns that change.
    pub effective_balance: Arc<Vec<Gwei>>,
    pub activation_eligibility_epoch: Arc<Vec<Epoch>>,
    pub activation_epoch: Arc<Vec<Epoch>>,
    pub exit_epoch: Arc<Vec<Epoch>>,
    pub withdrawable_epoch: Arc<Vec<Epoch>>,
    /// [`ColumnChunk::SLASHED`], [`ColumnChunk::COMPOUNDING`].
    pub flags: Arc<Vec<u8>>,
}

/// Sets `column[i]` to `value`, copying a shared column only if the value differs.
fn set_entry<T: Copy + PartialEq>(column: &mut Arc<Vec<T>>, i: usize, value: T) -> bool {
    match column.get(i) {
        None => false,
        Some(old) if *old == value => true,
        Some(_) => {
            if let Some(slot) = Arc::make_mut(column).get_mut(i) {
                *slot = value;
            }
            true
        }
    }
}

impl ColumnChunk {
    pub const SLASHED: u8 = 1;
    pub const COMPOUNDING: u8 = 1 << 1;

    pub fn with_capacity(n: usize) -> Self {
        ColumnChunk {
            node: None,
            effective_balance: Arc::new(Vec::with_capacity(n)),
            activation_eligibility_epoch: Arc::new(Vec::with_capacity(n)),
            activation_epoch: Arc::new(Vec::with_capacity(n)),
            exit_epoch: Arc::new(Vec::with_capacity(n)),
            withdrawable_epoch: Arc::new(Vec::with_capacity(n)),
            flags: Arc::new(Vec::with_capacity(n)),
        }
    }

    pub fn len(&self) -> usize {
        self.effective_balance.len()
    }

    pub fn is_empty(&self) -> bool {
        self.effective_balance.is_empty()
    }

    fn flags_of(validator: &Validator) -> u8 {
        let mut flags = 0;
        if validator.slashed {
            flags |= Self::SLASHED;
        }
        if validator.withdrawal_credentials.0.first()
            == Some(&crate::consensus::constants::COMPOUNDING_WITHDRAWAL_PREFIX)
        {
            flags |= Self::COMPOUNDING;
        }
        flags
    }

    pub fn push(&mut self, validator: &Validator) {
        Arc::make_mut(&mut self.effective_balance).push(validator.effective_balance);
        Arc::make_mut(&mut self.activation_eligibility_epoch)
            .push(validator.activation_eligibility_epoch);
        Arc::make_mut(&mut self.activation_epoch).push(validator.activation_epoch);
        Arc::make_mut(&mut self.exit_epoch).push(validator.exit_epoch);
        Arc::make_mut(&mut self.withdrawable_epoch).push(validator.withdrawable_epoch);
        Arc::make_mut(&mut self.flags).push(Self::flags_of(validator));
    }

    /// Overwrites entry `i` (which must exist) with `validator`'s fields.
    pub fn set(&mut self, i: usize, validator: &Validator) -> bool {
        if i >= self.len() {
            return false;
        }
        // Every column has `len()` entries, so each write below finds its entry.
        set_entry(&mut self.effective_balance, i, validator.effective_balance)
            & set_entry(
                &mut self.activation_eligibility_epoch,
                i,
                validator.activation_eligibility_epoch,
            )
            & set_entry(&mut self.activation_epoch, i, validator.activation_epoch)
            & set_entry(&mut self.exit_epoch, i, validator.exit_epoch)
            & set_entry(
                &mut self.withdrawable_epoch,
                i,
                validator.withdrawable_epoch,
            )
            & set_entry(&mut self.flags, i, Self::flags_of(validator))
    }

    /// Whether entry `i` equals `validator`'s fields.
    pub fn matches(&self, i: usize, validator: &Validator) -> bool {
        self.effective_balance.get(i) == Some(&validator.effective_balance)
            && self.activation_eligibility_epoch.get(i)
                == Some(&validator.activation_eligibility_epoch)
            && self.activation_epoch.get(i) == Some(&validator.activation_epoch)
            && self.exit_epoch.get(i) == Some(&validator.exit_epoch)
            && self.withdrawable_epoch.get(i) == Some(&validator.withdrawable_epoch)
            && self.flags.get(i) == Some(&Self::flags_of(validator))
    }
}

/// The registry as flat columns, in chunks of `chunk_len` validators (the last may be short).
#[derive(Debug, Clone, Default)]
pub struct ValidatorColumns {
    pub chunk_len: usize,
    pub len: usize,
    pub chunks: Vec<Arc<ColumnChunk>>,
}

impl ValidatorColumns {
    /// `validators[index].effective_balance` as read.
    pub fn effective_balance(&self, index: usize) -> Option<Gwei> {
        let chunk = index.checked_div(self.chunk_len)?;
        let offset = index.checked_rem(self.chunk_len)?;
        self.chunks
            .get(chunk)?
            .effective_balance
            .get(offset)
            .copied()
    }
}

/// All caches of one state. Equality ignores them (they are derived data).
#[derive(Default)]
pub struct StateCaches {
    committees: Mutex<Vec<Arc<EpochCommittees>>>,
    total_active_balance: Mutex<Option<(Epoch, Gwei)>>,
    pubkeys: Mutex<PubkeyIndex>,
    validator_columns: Mutex<Option<Arc<ValidatorColumns>>>,
    /// Validator columns exact right after the epoch transition into the epoch kept with them:
    /// their effective balances hold for the whole epoch (only epoch processing changes the
    /// effective balance of a validator already in the registry).
    effective_balances: Mutex<Option<(Epoch, Arc<ValidatorColumns>)>>,
    /// Registry indices whose key in the pubkey cache of that id agrees with this state.
    verified_pubkeys: Mutex<Option<Arc<VerifiedKeys>>>,
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

    /// The validator columns last stored (validate before use: see
    /// `single_pass::refresh_validator_columns`).
    pub fn validator_columns(&self) -> Option<Arc<ValidatorColumns>> {
        lock(&self.validator_columns).clone()
    }

    pub fn set_validator_columns(&self, columns: Option<Arc<ValidatorColumns>>) {
        *lock(&self.validator_columns) = columns;
    }

    /// Columns whose effective balances are those of every validator they cover throughout
    /// `epoch` (see the field).
    pub fn effective_balances(&self, epoch: Epoch) -> Option<Arc<ValidatorColumns>> {
        match &*lock(&self.effective_balances) {
            Some((e, columns)) if *e == epoch => Some(Arc::clone(columns)),
            _ => None,
        }
    }

    /// Stores `columns`, read right after the transition into `epoch`.
    pub fn set_effective_balances(&self, epoch: Epoch, columns: Arc<ValidatorColumns>) {
        *lock(&self.effective_balances) = Some((epoch, columns));
    }

    /// Forgets the effective balances (epoch processing is changing them).
    pub fn clear_effective_balances(&self) {
        *lock(&self.effective_balances) = None;
    }

    /// The indices verified against the pubkey cache `cache_id`, if recorded for it.
    pub fn verified_pubkeys(&self, cache_id: u64) -> Option<Arc<VerifiedKeys>> {
        lock(&self.verified_pubkeys)
            .as_ref()
            .filter(|v| v.cache_id() == cache_id)
            .cloned()
    }

    /// Records `indices` as verified against the pubkey cache `cache_id` (replacing a set of
    /// another cache).
    pub fn add_verified_pubkeys(&self, cache_id: u64, indices: &[ValidatorIndex]) {
        if indices.is_empty() {
            return;
        }
        let mut slot = lock(&self.verified_pubkeys);
        let mut set = match slot.take() {
            Some(set) if set.cache_id() == cache_id => set,
            _ => Arc::new(VerifiedKeys::new(cache_id)),
        };
        // Copies the set only if another state still shares it.
        let set_mut = Arc::make_mut(&mut set);
        for &index in indices {
            set_mut.insert(index);
        }
        *slot = Some(set);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.set_validator_columns(None);
        self.clear_effective_balances();
        *lock(&self.verified_pubkeys) = None;
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
            validator_columns: Mutex::new(lock(&self.validator_columns).clone()),
            effective_balances: Mutex::new(lock(&self.effective_balances).clone()),
            verified_pubkeys: Mutex::new(lock(&self.verified_pubkeys).clone()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(head: u8, tail: u64) -> [u8; 48] {
        let mut key = [0u8; 48];
        key[0] = head;
        key[40..].copy_from_slice(&tail.to_le_bytes());
        key
    }

    /// Slices shared by different keys, repeated keys, and keys past the merge threshold.
    #[test]
    fn pubkey_index_collisions_and_duplicates() {
        let mut registry: Vec<[u8; 48]> = vec![
            key(1, 7),
            key(2, 7), // same slice as index 0, different key
            key(1, 7), // duplicate of index 0
            key(3, 9),
            key(2, 7), // duplicate of index 1 (a collision entry)
            key(4, 7), // a third key with the slice
        ];
        for i in 0..3000u64 {
            registry.push(key(5, 1000 + i));
        }
        let mut index = PubkeyIndex::default();
        for (i, pubkey) in registry.iter().enumerate() {
            let key_at = |j: ValidatorIndex| registry[..i].get(j as usize).copied();
            index.push(*pubkey, key_at);
        }
        assert_eq!(index.len(), registry.len());
        let key_at = |j: ValidatorIndex| registry.get(j as usize).copied();
        let first = |pubkey: &[u8; 48]| {
            registry
                .iter()
                .position(|k| k == pubkey)
                .map(|i| i as ValidatorIndex)
        };
        for pubkey in &registry {
            assert_eq!(index.get(pubkey, key_at), first(pubkey));
        }
        // Unknown keys, including one whose slice is known.
        assert_eq!(index.get(&key(9, 7), key_at), None);
        assert_eq!(index.get(&key(9, 12345), key_at), None);
        // A clone keeps its own later entries.
        let mut other = index.clone();
        let mut longer = registry.clone();
        longer.push(key(6, 7));
        other.push(key(6, 7), |j| longer.get(j as usize).copied());
        assert_eq!(
            other.get(&key(6, 7), |j| longer.get(j as usize).copied()),
            Some(registry.len() as ValidatorIndex)
        );
        assert_eq!(index.get(&key(6, 7), key_at), None);
    }
}
