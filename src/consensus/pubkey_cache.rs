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
//!   - [`KeyCheck::Exact`]: every use reads the state's bytes and takes the cached key only if
//!     it compresses to exactly those bytes (else decompresses afresh, without caching). Exact
//!     for any set of states, at ~2 µs per key (registry read and compression).
//!   - [`KeyCheck::TrustIndex`]: the cached key of index `i` is used without reading the state.
//!     Sound because index -> pubkey is the same in every state of one chain that does not
//!     conflict with its finalized history: validators are appended only by the eth1 bridge in
//!     deposit-contract order and, since Electra, from deposit requests once finalized
//!     (`process_pending_deposits` stops at the first deposit after the finalized slot, and
//!     requests wait for the bridge). Two states disagree only after conflicting finalization,
//!     a safety failure; this is the assumption production clients make. About 2.5x faster.

use super::bls::{eth_aggregate_pubkeys, BlsError, PublicKey};
use super::primitives::ValidatorIndex;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

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
}

impl RegistryView<'_> {
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
            check,
            chain: OnceLock::new(),
            keys: RwLock::new(Vec::new()),
        }
    }

    pub fn check(&self) -> KeyCheck {
        self.check
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
                (key.to_bytes() == registry.bytes(index)?).then_some(key)
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
        eth_aggregate_pubkeys(&refs).map_err(|error| PubkeyCacheError::InvalidKey {
            index: indices.first().copied().unwrap_or_default(),
            error,
        })
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
        RegistryView {
            genesis_validators_root: [chain; 32],
            len,
            pubkey: keys,
        }
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
