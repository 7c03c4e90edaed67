//! Decompressed validator public keys, kept across blocks and states.
//!
//! Turning the 48 bytes of a `BLSPubkey` into a usable G1 point costs a square root and a
//! subgroup check: far more than the point addition a signature check then needs per key. A
//! block on mainnet carries attestations from tens of thousands of validators, the same ones
//! every epoch, so the transition keeps each validator's decompressed key here once it has been
//! used.
//!
//! Design:
//! - One cache per chain, shared by every state of it (`Arc<PubkeyCache>` held by the caller,
//!   `&PubkeyCache` passed into the transition). It is not part of any state.
//! - Slot `i` holds the key of validator index `i`, filled lazily on first use: validators that
//!   never sign (long exited, never active) cost 8 bytes, not a decompression.
//! - Append-only: a filled slot never changes, so a reference taken under the read lock stays
//!   valid, and concurrent transitions only ever add.
//! - Bounded by the registry: the transition only asks for indices it read from a state's
//!   registry, so the table never grows past the largest registry seen (about 104 bytes per
//!   validator that has signed: ~120 MB for 1.1M active mainnet validators).
//! - Checked on every use: the caller passes the compressed bytes it read from the state, and a
//!   cached key is used only if it compresses to exactly those bytes. Index -> pubkey is the
//!   same on every branch in practice (validators are appended in deposit order, and since
//!   Electra only from finalized deposits), but a branch that assigned an index differently
//!   (possible only after a safety failure, or with hand-made test states) then gets a freshly
//!   decompressed key instead of a wrong one. Compressing a cached affine point is a
//!   serialisation, far cheaper than decompressing.

use super::bls::{eth_aggregate_pubkeys, BlsError, PublicKey};
use super::primitives::ValidatorIndex;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A validator's index and the compressed public key its registry entry holds.
pub type KeyRef<'a> = (ValidatorIndex, &'a [u8; 48]);

/// Validator index -> decompressed public key; see the module documentation.
#[derive(Debug, Default)]
pub struct PubkeyCache {
    keys: RwLock<Vec<Option<PublicKey>>>,
}

impl PubkeyCache {
    pub fn new() -> Self {
        Self::default()
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

    /// Whether slot `index` holds a key whose compression is `bytes`.
    fn matches(keys: &[Option<PublicKey>], index: ValidatorIndex, bytes: &[u8; 48]) -> bool {
        usize::try_from(index)
            .ok()
            .and_then(|i| keys.get(i))
            .and_then(Option::as_ref)
            .is_some_and(|key| &key.to_bytes() == bytes)
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

    /// The public key of validator `index`, whose registry entry holds `bytes`.
    pub fn get(&self, index: ValidatorIndex, bytes: &[u8; 48]) -> Result<PublicKey, BlsError> {
        {
            let keys = self.read();
            if Self::matches(&keys, index, bytes) {
                if let Some(Some(key)) = usize::try_from(index).ok().and_then(|i| keys.get(i)) {
                    return Ok(*key);
                }
            }
        }
        let key = PublicKey::from_bytes(bytes)?;
        self.insert(&[(index, key)]);
        Ok(key)
    }

    /// The sum of the public keys of `validators` (e.g. an attestation's attesters): the key a
    /// `FastAggregateVerify` over them checks against. Fails on no keys or an invalid key.
    pub fn aggregate(&self, validators: &[KeyRef<'_>]) -> Result<PublicKey, BlsError> {
        // 1. Which keys are not cached (or cached for different bytes)?
        let missing: Vec<usize> = {
            let keys = self.read();
            validators
                .iter()
                .enumerate()
                .filter(|(_, (index, bytes))| !Self::matches(&keys, *index, bytes))
                .map(|(position, _)| position)
                .collect()
        };
        // 2. Decompress those outside the lock: this is the expensive part.
        let mut fresh: Vec<(ValidatorIndex, PublicKey)> = Vec::with_capacity(missing.len());
        for &position in &missing {
            if let Some((index, bytes)) = validators.get(position) {
                fresh.push((*index, PublicKey::from_bytes(*bytes)?));
            }
        }
        self.insert(&fresh);
        // 3. Sum. A slot that matched in step 1 still holds the same key (slots never change);
        // the fresh keys are used directly, whatever another thread stored meanwhile.
        let keys = self.read();
        let mut fresh_keys = missing.iter().zip(&fresh).peekable();
        let mut refs: Vec<&PublicKey> = Vec::with_capacity(validators.len());
        for (position, (index, _)) in validators.iter().enumerate() {
            if let Some((_, (_, key))) = fresh_keys.next_if(|(p, _)| **p == position) {
                refs.push(key);
            } else {
                let key = usize::try_from(*index)
                    .ok()
                    .and_then(|i| keys.get(i))
                    .and_then(Option::as_ref)
                    .ok_or(BlsError::Internal("pubkey cache slot emptied"))?;
                refs.push(key);
            }
        }
        eth_aggregate_pubkeys(&refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::bls::SecretKey;

    fn key(seed: u8) -> PublicKey {
        SecretKey::key_gen(&[seed; 32]).unwrap().public_key()
    }

    #[test]
    fn caches_and_checks_bytes() {
        let cache = PubkeyCache::new();
        let (a, b) = (key(1), key(2));
        let (ab, bb) = (a.to_bytes(), b.to_bytes());
        assert_eq!(cache.get(5, &ab).unwrap(), a);
        assert_eq!(cache.len(), 6);
        assert_eq!(cache.cached(), 1);
        // Same index, other bytes (another branch): the fresh key, and the slot is kept.
        assert_eq!(cache.get(5, &bb).unwrap(), b);
        assert_eq!(cache.get(5, &ab).unwrap(), a);
        assert_eq!(cache.cached(), 1);
        assert!(cache.get(0, &[0u8; 48]).is_err());
    }

    #[test]
    fn aggregate_mixes_cached_and_fresh() {
        let cache = PubkeyCache::new();
        let keys: Vec<PublicKey> = (10..14).map(key).collect();
        let bytes: Vec<[u8; 48]> = keys.iter().map(PublicKey::to_bytes).collect();
        cache.get(1, &bytes[1]).unwrap();
        // Slot 3 holds a different key than the one asked for.
        cache.get(3, &bytes[0]).unwrap();
        let refs: Vec<KeyRef> = (0..4).map(|i| (i as u64, &bytes[i])).collect();
        let sum = cache.aggregate(&refs).unwrap();
        assert_eq!(sum, eth_aggregate_pubkeys(&keys).unwrap());
        assert_eq!(cache.cached(), 4);
        assert_eq!(cache.aggregate(&refs).unwrap(), sum);
        assert!(cache.aggregate(&[]).is_err());
    }
}
