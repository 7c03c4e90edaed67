//! Decompressed validator public keys, kept across blocks and states.
//!
//! Turning the 48 bytes of a `BLSPubkey` into a usable G1 point costs a square root and a
//! subgroup check (~100 µs on a desktop core): far more than the point addition a signature
//! check then needs per key (~1 µs). A mainnet block carries attestations from tens of thousands
//! of validators, the same ones every epoch, so the transition keeps each validator's
//! decompressed key here once it has been used.
//!
//! Design:
//! - One cache per chain, shared by every state of it (`Arc<PubkeyCache>` held by the caller,
//!   `&PubkeyCache` passed into the transition). It is not part of any state. It binds itself
//!   to the first chain (genesis validators root) it serves and refuses states of another.
//! - Slot `i` holds the key of validator index `i`, filled lazily on first use: validators that
//!   never sign (long exited, never active) cost 8 bytes, not a decompression.
//! - Append-only: a filled slot never changes, so a reference taken under the read lock stays
//!   valid, and concurrent transitions only ever add.
//! - Bounded by the registry: only indices below the asking state's registry length are served
//!   or stored, so the table never grows past the largest registry seen (104 bytes per slot:
//!   ~110 MB for 1.1M active mainnet validators, 240 MB if all 2.3M registry entries signed).
//! - A new key is always decompressed from the bytes the asking state holds. Whether a cached
//!   key is then trusted for that index is the [`KeyCheck`] policy:
//!   - [`KeyCheck::Exact`]: a cached key is taken for a state only if it compresses to exactly
//!     the bytes that state holds (else it is decompressed afresh, without caching). Exact for
//!     any set of states. The comparison (registry read and compression, ~2 µs) is paid once
//!     per index and state lineage, not per use: the caller passes the [`VerifiedKeys`] its
//!     state carries (indices already found to agree with this cache) and records the ones
//!     found now ([`RegistryView::newly_verified`]). Sound because a filled slot never changes
//!     and a state's `validators[i].pubkey` never changes once appended, in the state and in
//!     every state derived from it; a state of another branch carries its own set.
//!   - [`KeyCheck::TrustIndex`]: the cached key of index `i` is used without reading the state.
//!     Sound because index -> pubkey is the same in every state of one chain that does not
//!     conflict with its finalized history: validators are appended only by the eth1 bridge in
//!     deposit-contract order and, since Electra, from deposit requests once finalized
//!     (`process_pending_deposits` stops at the first deposit after the finalized slot, and
//!     requests wait for the bridge). Two states disagree only after conflicting finalization,
//!     a safety failure; this is the assumption production clients make. About 2.5x faster.

use super::bls::{eth_aggregate_pubkeys, BlsError, PublicKey};
use super::primitives::ValidatorIndex;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Source of [`PubkeyCache::id`]s.
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

/// The validator indices whose key in the cache [`VerifiedKeys::cache_id`] is known to equal a
/// state's registry bytes (a bit set). Carried in a state's caches: valid for that state and
/// every state derived from it (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifiedKeys {
    cache_id: u64,
    bits: Vec<u64>,
}

impl VerifiedKeys {
    pub fn new(cache_id: u64) -> Self {
        VerifiedKeys {
            cache_id,
            bits: Vec::new(),
        }
    }

    pub fn cache_id(&self) -> u64 {
        self.cache_id
    }

    fn position(index: ValidatorIndex) -> Option<(usize, u64)> {
        let word = usize::try_from(index / 64).ok()?;
        Some((word, 1u64 << (index % 64)))
    }

    pub fn contains(&self, index: ValidatorIndex) -> bool {
        Self::position(index)
            .and_then(|(word, bit)| self.bits.get(word).map(|w| w & bit != 0))
            .unwrap_or(false)
    }

    pub fn insert(&mut self, index: ValidatorIndex) {
        let Some((word, bit)) = Self::position(index) else {
            return;
        };
        if self.bits.len() <= word {
            self.bits.resize(word.saturating_add(1), 0);
        }
        if let Some(w) = self.bits.get_mut(word) {
            *w |= bit;
        }
    }

    /// Number of indices held.
    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// Whether a cached key is checked against the asking state's bytes (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    Exact,
    TrustIndex,
}

/// Why the cache could not give a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PubkeyCacheError {
    #[error("validator index {0} is beyond the registry")]
    UnknownValidator(ValidatorIndex),
    #[error("validator {index}'s public key is invalid: {error}")]
    InvalidKey {
        index: ValidatorIndex,
        error: BlsError,
    },
    #[error("the pubkey cache serves another chain")]
    OtherChain,
    #[error("no keys to aggregate")]
    NoKeys,
}

/// The asking state's registry, as far as the cache needs it.
pub struct RegistryView<'a> {
    /// The chain (`state.genesis_validators_root`).
    pub genesis_validators_root: [u8; 32],
    /// `len(state.validators)`.
    pub len: u64,
    /// `state.validators[i].pubkey` (`None` beyond the registry).
    pub pubkey: &'a dyn Fn(ValidatorIndex) -> Option<[u8; 48]>,
    /// Indices already known to agree with this cache ([`KeyCheck::Exact`]; ignored if it
    /// belongs to another cache).
    pub verified: Option<&'a VerifiedKeys>,
    /// Filled by the cache: indices found to agree now, for the caller to record.
    pub newly_verified: RefCell<Vec<ValidatorIndex>>,
}

impl<'a> RegistryView<'a> {
    /// A view with nothing verified yet.
    pub fn new(
        genesis_validators_root: [u8; 32],
        len: u64,
        pubkey: &'a dyn Fn(ValidatorIndex) -> Option<[u8; 48]>,
    ) -> Self {
        RegistryView {
            genesis_validators_root,
            len,
            pubkey,
            verified: None,
            newly_verified: RefCell::new(Vec::new()),
        }
    }

    fn is_verified(&self, cache_id: u64, index: ValidatorIndex) -> bool {
        self.verified
            .is_some_and(|v| v.cache_id == cache_id && v.contains(index))
    }

    fn bytes(&self, index: ValidatorIndex) -> Result<[u8; 48], PubkeyCacheError> {
        if index >= self.len {
            return Err(PubkeyCacheError::UnknownValidator(index));
        }
        (self.pubkey)(index).ok_or(PubkeyCacheError::UnknownValidator(index))
    }

    fn decompress(&self, index: ValidatorIndex) -> Result<PublicKey, PubkeyCacheError> {
        PublicKey::from_bytes(&self.bytes(index)?)
            .map_err(|error| PubkeyCacheError::InvalidKey { index, error })
    }
}

/// Validator index -> decompressed public key; see the module documentation.
#[derive(Debug)]
pub struct PubkeyCache {
    id: u64,
    check: KeyCheck,
    chain: OnceLock<[u8; 32]>,
    keys: RwLock<Vec<Option<PublicKey>>>,
}

impl Default for PubkeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl PubkeyCache {
    /// A cache with [`KeyCheck::Exact`].
    pub fn new() -> Self {
        Self::with_check(KeyCheck::Exact)
    }

    pub fn with_check(check: KeyCheck) -> Self {
        PubkeyCache {
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            check,
            chain: OnceLock::new(),
            keys: RwLock::new(Vec::new()),
        }
    }

    pub fn check(&self) -> KeyCheck {
        self.check
    }

    /// This cache's identity (unique in the process), the key of [`VerifiedKeys`].
    pub fn id(&self) -> u64 {
        self.id
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<Option<PublicKey>>> {
        // Entries are only ever added whole, so a panic elsewhere cannot leave a torn entry.
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Vec<Option<PublicKey>>> {
        self.keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Number of slots (one past the highest index ever cached).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys held.
    pub fn cached(&self) -> usize {
        self.read().iter().filter(|k| k.is_some()).count()
    }

    /// Binds the cache to `registry`'s chain on first use; refuses any other chain.
    fn bind(&self, registry: &RegistryView<'_>) -> Result<(), PubkeyCacheError> {
        if *self.chain.get_or_init(|| registry.genesis_validators_root)
            == registry.genesis_validators_root
        {
            Ok(())
        } else {
            Err(PubkeyCacheError::OtherChain)
        }
    }

    /// The cached key of `index` if policy allows using it for `registry`.
    fn usable<'k>(
        &self,
        keys: &'k [Option<PublicKey>],
        registry: &RegistryView<'_>,
        index: ValidatorIndex,
    ) -> Result<Option<&'k PublicKey>, PubkeyCacheError> {
        if index >= registry.len {
            return Err(PubkeyCacheError::UnknownValidator(index));
        }
        let cached = usize::try_from(index)
            .ok()
            .and_then(|i| keys.get(i))
            .and_then(Option::as_ref);
        Ok(match (cached, self.check) {
            (Some(key), KeyCheck::TrustIndex) => Some(key),
            (Some(key), KeyCheck::Exact) => {
                if registry.is_verified(self.id, index) {
                    Some(key)
                } else if key.to_bytes() == registry.bytes(index)? {
                    registry.newly_verified.borrow_mut().push(index);
                    Some(key)
                } else {
                    None
                }
            }
            (None, _) => None,
        })
    }

    /// Stores freshly decompressed keys into empty slots (a filled slot is never replaced).
    fn insert(&self, fresh: &[(ValidatorIndex, PublicKey)]) {
        if fresh.is_empty() {
            return;
        }
        let mut keys = self.write();
        for (index, key) in fresh {
            let Ok(i) = usize::try_from(*index) else {
                continue;
            };
            if keys.len() <= i {
                keys.resize(i.saturating_add(1), None);
            }
            if let Some(slot @ None) = keys.get_mut(i) {
                *slot = Some(*key);
            }
        }
    }

    /// The public key of validator `index` of `registry`.
    pub fn get(
        &self,
        registry: &RegistryView<'_>,
        index: ValidatorIndex,
    ) -> Result<PublicKey, PubkeyCacheError> {
        self.bind(registry)?;
        if let Some(key) = self.usable(&self.read(), registry, index)? {
            return Ok(*key);
        }
        let key = registry.decompress(index)?;
        self.insert(&[(index, key)]);
        Ok(key)
    }

    /// The sum of the public keys of validators `indices` of `registry` (e.g. an
    /// attestation's attesters): the key a `FastAggregateVerify` over them checks against.
    pub fn aggregate(
        &self,
        registry: &RegistryView<'_>,
        indices: &[ValidatorIndex],
    ) -> Result<PublicKey, PubkeyCacheError> {
        self.bind(registry)?;
        if indices.is_empty() {
            return Err(PubkeyCacheError::NoKeys);
        }
        let invalid = |error| PubkeyCacheError::InvalidKey {
            index: indices.first().copied().unwrap_or_default(),
            error,
        };
        // The usual case: every key cached and usable.
        {
            let keys = self.read();
            let mut refs: Vec<&PublicKey> = Vec::with_capacity(indices.len());
            for &index in indices {
                match self.usable(&keys, registry, index)? {
                    Some(key) => refs.push(key),
                    None => break,
                }
            }
            if refs.len() == indices.len() {
                return eth_aggregate_pubkeys(&refs).map_err(invalid);
            }
        }
        // 1. Which keys are not usable from the cache?
        let mut missing: Vec<usize> = Vec::new();
        {
            let keys = self.read();
            for (position, &index) in indices.iter().enumerate() {
                if self.usable(&keys, registry, index)?.is_none() {
                    missing.push(position);
                }
            }
        }
        // 2. Decompress those outside the lock: this is the expensive part.
        let mut fresh: Vec<(ValidatorIndex, PublicKey)> = Vec::with_capacity(missing.len());
        for &position in &missing {
            if let Some(&index) = indices.get(position) {
                fresh.push((index, registry.decompress(index)?));
            }
        }
        self.insert(&fresh);
        // 3. Sum. A slot found usable in step 1 still holds the same key (slots never change);
        // the fresh keys are used directly, whatever another thread stored meanwhile.
        let keys = self.read();
        let mut fresh_keys = missing.iter().zip(&fresh).peekable();
        let mut refs: Vec<&PublicKey> = Vec::with_capacity(indices.len());
        for (position, &index) in indices.iter().enumerate() {
            if let Some((_, (_, key))) = fresh_keys.next_if(|(p, _)| **p == position) {
                refs.push(key);
            } else {
                let key = usize::try_from(index)
                    .ok()
                    .and_then(|i| keys.get(i))
                    .and_then(Option::as_ref)
                    .ok_or(PubkeyCacheError::UnknownValidator(index))?;
                refs.push(key);
            }
        }
        eth_aggregate_pubkeys(&refs).map_err(invalid)
    }

    /// Compares every cached key of an index in `registry` that is not verified yet with the
    /// registry's bytes, noting agreeing ones in `registry.newly_verified` (for a state loaded
    /// or built without the verified set its ancestors had: pays the [`KeyCheck::Exact`]
    /// comparisons once, up front). Returns how many agree.
    pub fn confirm_cached(&self, registry: &RegistryView<'_>) -> Result<usize, PubkeyCacheError> {
        self.bind(registry)?;
        let keys = self.read();
        let mut agreeing = 0usize;
        for (index, key) in (0u64..registry.len).zip(keys.iter()) {
            let Some(key) = key else { continue };
            if registry.is_verified(self.id, index) {
                agreeing = agreeing.saturating_add(1);
            } else if key.to_bytes() == registry.bytes(index)? {
                registry.newly_verified.borrow_mut().push(index);
                agreeing = agreeing.saturating_add(1);
            }
        }
        Ok(agreeing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::bls::SecretKey;

    fn key(seed: u8) -> PublicKey {
        SecretKey::key_gen(&[seed; 32]).unwrap().public_key()
    }

    fn view<'a>(
        chain: u8,
        keys: &'a dyn Fn(u64) -> Option<[u8; 48]>,
        len: u64,
    ) -> RegistryView<'a> {
        RegistryView::new([chain; 32], len, keys)
    }

    #[test]
    fn exact_checks_bytes_and_trust_does_not() {
        let (a, b) = (key(1), key(2));
        let (ab, bb) = (a.to_bytes(), b.to_bytes());
        let branch_a = move |i: u64| (i < 6).then_some(ab);
        let branch_b = move |i: u64| (i < 6).then_some(bb);
        for check in [KeyCheck::Exact, KeyCheck::TrustIndex] {
            let cache = PubkeyCache::with_check(check);
            assert_eq!(cache.get(&view(0, &branch_a, 6), 5).unwrap(), a);
            assert_eq!(cache.len(), 6);
            assert_eq!(cache.cached(), 1);
            // Same index, other bytes (a branch that assigned index 5 differently).
            let other = cache.get(&view(0, &branch_b, 6), 5).unwrap();
            assert_eq!(other, if check == KeyCheck::Exact { b } else { a });
            assert_eq!(cache.cached(), 1);
            // Beyond the asking registry, even if cached.
            assert_eq!(
                cache.get(&view(0, &branch_a, 5), 5),
                Err(PubkeyCacheError::UnknownValidator(5))
            );
            // Another chain.
            assert_eq!(
                cache.get(&view(1, &branch_a, 6), 5),
                Err(PubkeyCacheError::OtherChain)
            );
        }
        let bad = |_| Some([0u8; 48]);
        assert!(matches!(
            PubkeyCache::new().get(&view(0, &bad, 1), 0),
            Err(PubkeyCacheError::InvalidKey { index: 0, .. })
        ));
    }

    #[test]
    fn exact_compares_once_per_index_and_lineage() {
        let (a, b) = (key(1), key(2));
        let (ab, bb) = (a.to_bytes(), b.to_bytes());
        let registry = move |i: u64| (i < 4).then_some(ab);
        let cache = PubkeyCache::new();
        // Fills slots 0..4 (fresh keys are not recorded: another thread may own the slot).
        let fresh = view(0, &registry, 4);
        cache.aggregate(&fresh, &[0, 1, 2, 3]).unwrap();
        assert!(fresh.newly_verified.borrow().is_empty());
        // Cached: compared and recorded.
        let second = view(0, &registry, 4);
        assert_eq!(cache.get(&second, 2).unwrap(), a);
        assert_eq!(*second.newly_verified.borrow(), vec![2]);
        let mut verified = VerifiedKeys::new(cache.id());
        verified.insert(2);
        // A recorded index is not compared again; others are.
        let mut third = view(0, &registry, 4);
        third.verified = Some(&verified);
        cache.aggregate(&third, &[1, 2]).unwrap();
        assert_eq!(*third.newly_verified.borrow(), vec![1]);
        // A set of another cache is ignored: a registry with other bytes gets its own key.
        let other_registry = move |i: u64| (i < 4).then_some(bb);
        let foreign = VerifiedKeys::new(cache.id() + 1000);
        let mut fourth = view(0, &other_registry, 4);
        fourth.verified = Some(&foreign);
        assert_eq!(cache.get(&fourth, 2).unwrap(), b);
        assert!(fourth.newly_verified.borrow().is_empty());
        // confirm_cached compares every cached slot not yet recorded.
        let mut fifth = view(0, &registry, 4);
        fifth.verified = Some(&verified);
        assert_eq!(cache.confirm_cached(&fifth).unwrap(), 4);
        assert_eq!(*fifth.newly_verified.borrow(), vec![0, 1, 3]);
        assert_eq!(verified.count(), 1);
    }

    #[test]
    fn aggregate_mixes_cached_and_fresh() {
        let keys: Vec<PublicKey> = (10..14).map(key).collect();
        let bytes: Vec<[u8; 48]> = keys.iter().map(PublicKey::to_bytes).collect();
        let registry = |i: u64| bytes.get(i as usize).copied();
        let other = |_: u64| Some(bytes[0]);
        let cache = PubkeyCache::new();
        cache.get(&view(0, &registry, 4), 1).unwrap();
        // Slot 3 gets a different key than the registry asked about below holds.
        cache.get(&view(0, &other, 4), 3).unwrap();
        let sum = cache
            .aggregate(&view(0, &registry, 4), &[0, 1, 2, 3])
            .unwrap();
        assert_eq!(sum, eth_aggregate_pubkeys(&keys).unwrap());
        assert_eq!(cache.cached(), 4);
        assert_eq!(
            cache
                .aggregate(&view(0, &registry, 4), &[0, 1, 2, 3])
                .unwrap(),
            sum
        );
        assert_eq!(
            cache.aggregate(&view(0, &registry, 4), &[]),
            Err(PubkeyCacheError::NoKeys)
        );
        assert_eq!(
            cache.aggregate(&view(0, &registry, 4), &[4]),
            Err(PubkeyCacheError::UnknownValidator(4))
        );
    }
}
