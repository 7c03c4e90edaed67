//! The eth2 interop "mocked start" keys every client uses for devnets
//! (ethereum/eth2.0-pm `interop/mocked_start`): validator `i`'s secret key is
//! `int.from_bytes(sha256(i as 32-byte little-endian), "little") % curve_order`.
//!
//! Deriving a public key is a G1 scalar multiplication (~0.1 ms), so 2.3M keys take minutes on
//! one core: derivation runs on rayon's pool, and [`interop_pubkeys`] can keep the result in a
//! cache file that later runs read in a second.

use crate::consensus::bls::{PublicKey, SecretKey, PUBLIC_KEY_BYTES_LEN};
use alloy_primitives::U256;
use ethereum_hashing::hash_fixed;
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;

/// BLS12-381 scalar field order `r`.
const CURVE_ORDER: U256 = U256::from_be_bytes([
    0x73, 0xed, 0xa7, 0x53, 0x29, 0x9d, 0x7d, 0x48, 0x33, 0x39, 0xd8, 0x08, 0x09, 0xa1, 0xd8, 0x05,
    0x53, 0xbd, 0xa4, 0x02, 0xff, 0xfe, 0x5b, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
]);

/// Cache file layout: magic, key count (u64 LE), SHA-256 of the keys, then the 48-byte keys.
const CACHE_MAGIC: &[u8; 8] = b"EMBRKEY1";
const CACHE_HEADER_LEN: usize = 8 + 8 + 32;

#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    #[error("interop key {0} is not a valid secret key")]
    InvalidKey(u64),
    #[error("key cache {path}: {reason}")]
    Cache { path: String, reason: String },
}

/// The interop secret key of validator `index`.
pub fn interop_secret_key(index: u64) -> Result<SecretKey, InteropError> {
    let mut preimage = [0u8; 32];
    preimage[..8].copy_from_slice(&index.to_le_bytes());
    let digest = hash_fixed(&preimage);
    let scalar = U256::from_le_bytes(digest) % CURVE_ORDER;
    SecretKey::from_bytes(&scalar.to_be_bytes::<32>()).map_err(|_| InteropError::InvalidKey(index))
}

/// Secret and public key of validators `start..end`, derived in parallel.
pub fn interop_keypairs(start: u64, end: u64) -> Result<Vec<(SecretKey, PublicKey)>, InteropError> {
    (start..end)
        .into_par_iter()
        .map(|i| {
            let sk = interop_secret_key(i)?;
            let pk = sk.public_key();
            Ok((sk, pk))
        })
        .collect()
}

/// Compressed public keys of validators `0..count`, derived in parallel. With `cache`, keys are
/// read from that file when it holds at least `count` valid keys, and written to it otherwise.
pub fn interop_pubkeys(
    count: u64,
    cache: Option<&Path>,
) -> Result<Vec<[u8; PUBLIC_KEY_BYTES_LEN]>, InteropError> {
    if let Some(path) = cache {
        if let Some(keys) = read_cache(path, count)? {
            return Ok(keys);
        }
    }
    let keys: Vec<[u8; PUBLIC_KEY_BYTES_LEN]> = (0..count)
        .into_par_iter()
        .map(|i| interop_secret_key(i).map(|sk| sk.public_key().to_bytes()))
        .collect::<Result<_, _>>()?;
    if let Some(path) = cache {
        write_cache(path, &keys)?;
    }
    Ok(keys)
}

fn cache_error(path: &Path, reason: impl std::fmt::Display) -> InteropError {
    InteropError::Cache {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// `Ok(None)` when the file is absent or too short; an error when it is corrupt.
fn read_cache(
    path: &Path,
    count: u64,
) -> Result<Option<Vec<[u8; PUBLIC_KEY_BYTES_LEN]>>, InteropError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cache_error(path, e)),
    };
    let (header, body) = bytes
        .split_at_checked(CACHE_HEADER_LEN)
        .ok_or_else(|| cache_error(path, "truncated header"))?;
    let (magic, rest) = header.split_at(8);
    let (stored_count, checksum) = rest.split_at(8);
    if magic != CACHE_MAGIC {
        return Err(cache_error(path, "not an Ember key cache"));
    }
    let mut count_bytes = [0u8; 8];
    count_bytes.copy_from_slice(stored_count);
    let stored = u64::from_le_bytes(count_bytes);
    let expected_len = usize::try_from(stored)
        .ok()
        .and_then(|n| n.checked_mul(PUBLIC_KEY_BYTES_LEN))
        .ok_or_else(|| cache_error(path, "bad key count"))?;
    if body.len() != expected_len || hash_fixed(body).as_slice() != checksum {
        return Err(cache_error(path, "corrupt (length or checksum mismatch)"));
    }
    if stored < count {
        return Ok(None);
    }
    let wanted = usize::try_from(count).map_err(|_| cache_error(path, "bad key count"))?;
    Ok(Some(
        body.chunks_exact(PUBLIC_KEY_BYTES_LEN)
            .take(wanted)
            .map(|c| {
                let mut key = [0u8; PUBLIC_KEY_BYTES_LEN];
                key.copy_from_slice(c);
                key
            })
            .collect(),
    ))
}

/// Writes atomically (temporary file, fsync, rename) so a crash never leaves a half cache.
fn write_cache(path: &Path, keys: &[[u8; PUBLIC_KEY_BYTES_LEN]]) -> Result<(), InteropError> {
    let body: Vec<u8> = keys.iter().flatten().copied().collect();
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| cache_error(&tmp, e))?;
    file.write_all(CACHE_MAGIC)
        .and_then(|_| file.write_all(&(keys.len() as u64).to_le_bytes()))
        .and_then(|_| file.write_all(&hash_fixed(&body)))
        .and_then(|_| file.write_all(&body))
        .and_then(|_| file.sync_all())
        .map_err(|e| cache_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| cache_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from the interop spec's reference implementation (and the Python pyspec).
    const KNOWN: [(u64, &str, &str); 3] = [
        (
            0,
            "25295f0d1d592a90b333e26e85149708208e9f8e8bc18f6c77bd62f8ad7a6866",
            "a99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c",
        ),
        (
            1,
            "51d0b65185db6989ab0b560d6deed19c7ead0e24b9b6372cbecb1f26bdfad000",
            "b89bebc699769726a318c8e9971bd3171297c61aea4a6578a7a4f94b547dcba5bac16a89108b6b6a1fe3695d1a874a0b",
        ),
        (
            2,
            "315ed405fafe339603932eebe8dbfd650ce5dafa561f6928664c75db85f97857",
            "a3a32b0f8b4ddb83f1a0a853d81dd725dfe577d4f4c3db8ece52ce2b026eca84815c1a7e8e92a4de3d755733bf7e4a9b",
        ),
    ];

    #[test]
    fn known_interop_keys() {
        for (i, sk, pk) in KNOWN {
            let key = interop_secret_key(i).expect("valid key");
            assert_eq!(hex::encode(key.to_bytes()), sk);
            assert_eq!(hex::encode(key.public_key().to_bytes()), pk);
        }
        let pairs = interop_keypairs(1, 3).expect("keypairs");
        assert_eq!(hex::encode(pairs[1].1.to_bytes()), KNOWN[2].2);
    }

    #[test]
    fn cache_roundtrip_and_corruption() {
        let dir = std::env::temp_dir().join(format!("ember-interop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("keys.bin");
        let keys = interop_pubkeys(4, Some(&path)).expect("derive");
        assert_eq!(hex::encode(keys[0]), KNOWN[0].2);
        // Fewer keys come from the cache; more keys re-derive and rewrite it.
        assert_eq!(interop_pubkeys(2, Some(&path)).expect("cached"), keys[..2]);
        assert_eq!(interop_pubkeys(5, Some(&path)).expect("grow").len(), 5);
        let mut bytes = std::fs::read(&path).expect("read");
        if let Some(b) = bytes.last_mut() {
            *b ^= 1;
        }
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            interop_pubkeys(5, Some(&path)),
            Err(InteropError::Cache { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
