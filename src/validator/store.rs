//! [`ValidatorStore`]: the node's secret keys and the only way to sign with them. Slashable
//! messages (blocks, attestations) pass through [`SlashingProtection`] first, and a signature is
//! produced only after the record is committed to disk.

use super::interop::{interop_keypairs, InteropError};
use super::slashing_protection::{
    AttestationProposal, NotSafe, PublicKeyBytes, SlashingProtection,
};
use crate::consensus::bls::{SecretKey, Signature};
use crate::consensus::primitives::{Epoch, Root, Slot};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Upper bound of `--interop-validators` keys: each key is ~100 bytes of memory and ~0.1 ms of
/// derivation; 2^20 keys keep both far below the node's budget.
pub const MAX_INTEROP_VALIDATORS: u64 = 1 << 20;

/// `--interop-validators START..END`: the deterministic interop keys `START..END` (end excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InteropRange {
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteropRangeError {
    #[error("expected START..END (e.g. 0..64), got {0:?}")]
    Syntax(String),
    #[error("invalid number {0:?} in the validator range")]
    Number(String),
    #[error("empty validator range {start}..{end}")]
    Empty { start: u64, end: u64 },
    #[error("validator range {start}..{end} has more than {MAX_INTEROP_VALIDATORS} keys")]
    TooMany { start: u64, end: u64 },
}

impl FromStr for InteropRange {
    type Err = InteropRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (start, end) = s
            .trim()
            .split_once("..")
            .ok_or_else(|| InteropRangeError::Syntax(s.to_string()))?;
        let number = |x: &str| {
            x.trim()
                .parse::<u64>()
                .map_err(|_| InteropRangeError::Number(x.to_string()))
        };
        let (start, end) = (number(start)?, number(end)?);
        if end <= start {
            return Err(InteropRangeError::Empty { start, end });
        }
        if end - start > MAX_INTEROP_VALIDATORS {
            return Err(InteropRangeError::TooMany { start, end });
        }
        Ok(InteropRange { start, end })
    }
}

impl fmt::Display for InteropRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl InteropRange {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ValidatorStoreError {
    #[error(transparent)]
    Interop(#[from] InteropError),
}

/// Secret keys by public key, and the slashing protection database guarding them.
pub struct ValidatorStore {
    keys: HashMap<PublicKeyBytes, SecretKey>,
    /// Public keys in the order they were given (interop index order), for stable iteration.
    order: Vec<PublicKeyBytes>,
    protection: SlashingProtection,
}

impl fmt::Debug for ValidatorStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorStore")
            .field("keys", &self.order.len())
            .field("protection", &self.protection)
            .finish()
    }
}

impl ValidatorStore {
    /// A store of the given secret keys (duplicates are kept once).
    pub fn new(secret_keys: Vec<SecretKey>, protection: SlashingProtection) -> Self {
        let mut keys = HashMap::with_capacity(secret_keys.len());
        let mut order = Vec::with_capacity(secret_keys.len());
        for sk in secret_keys {
            let pk = sk.public_key().to_bytes();
            if keys.insert(pk, sk).is_none() {
                order.push(pk);
            }
        }
        ValidatorStore {
            keys,
            order,
            protection,
        }
    }

    /// The interop keys of `range` (derived in parallel).
    pub fn interop(
        range: InteropRange,
        protection: SlashingProtection,
    ) -> Result<Self, ValidatorStoreError> {
        let pairs = interop_keypairs(range.start, range.end)?;
        Ok(Self::new(
            pairs.into_iter().map(|(sk, _)| sk).collect(),
            protection,
        ))
    }

    /// The managed public keys, in the order given.
    pub fn pubkeys(&self) -> &[PublicKeyBytes] {
        &self.order
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn contains(&self, pubkey: &PublicKeyBytes) -> bool {
        self.keys.contains_key(pubkey)
    }

    pub fn slashing_protection(&self) -> &SlashingProtection {
        &self.protection
    }

    /// Signs a block's signing root after recording `(slot, signing_root)` durably. Refused
    /// (nothing signed) when slashable: see [`SlashingProtection`]'s rules.
    pub fn sign_block(
        &self,
        pubkey: &PublicKeyBytes,
        slot: Slot,
        signing_root: Root,
    ) -> Result<Signature, NotSafe> {
        let sk = self.keys.get(pubkey).ok_or(NotSafe::UnknownValidator)?;
        self.protection
            .check_and_insert_block(pubkey, slot, signing_root)?;
        Ok(sk.sign(signing_root.as_slice()))
    }

    /// Signs a batch of attestations `(pubkey, source, target, signing_root)` — all of one slot —
    /// with one slashing-protection transaction (committed before any signature is made).
    /// Per-item result, in order.
    pub fn sign_attestations(
        &self,
        items: &[(PublicKeyBytes, Epoch, Epoch, Root)],
    ) -> Vec<Result<Signature, NotSafe>> {
        // Unknown keys are not checked (nor recorded): they could never be signed.
        let known: Vec<AttestationProposal> = items
            .iter()
            .filter(|(pk, ..)| self.keys.contains_key(pk))
            .map(
                |&(pubkey, source_epoch, target_epoch, signing_root)| AttestationProposal {
                    pubkey,
                    source_epoch,
                    target_epoch,
                    signing_root,
                },
            )
            .collect();
        let mut verdicts = self
            .protection
            .check_and_insert_attestations(&known)
            .into_iter();
        items
            .iter()
            .map(|(pubkey, _, _, signing_root)| {
                let sk = self.keys.get(pubkey).ok_or(NotSafe::UnknownValidator)?;
                let verdict = verdicts
                    .next()
                    .unwrap_or_else(|| Err(NotSafe::Database("missing verdict".into())));
                verdict.map(|_| sk.sign(signing_root.as_slice()))
            })
            .collect()
    }

    /// Signs a non-slashable message (randao reveal, selection proofs, aggregates, sync
    /// committee messages and contributions): no protection record.
    pub fn sign(&self, pubkey: &PublicKeyBytes, signing_root: Root) -> Result<Signature, NotSafe> {
        let sk = self.keys.get(pubkey).ok_or(NotSafe::UnknownValidator)?;
        Ok(sk.sign(signing_root.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interop_range_syntax() {
        assert_eq!(
            "0..64".parse::<InteropRange>(),
            Ok(InteropRange { start: 0, end: 64 })
        );
        assert_eq!(
            " 10 .. 12 ".parse::<InteropRange>(),
            Ok(InteropRange { start: 10, end: 12 })
        );
        assert!(matches!(
            "64".parse::<InteropRange>(),
            Err(InteropRangeError::Syntax(_))
        ));
        assert!(matches!(
            "a..3".parse::<InteropRange>(),
            Err(InteropRangeError::Number(_))
        ));
        assert!(matches!(
            "5..5".parse::<InteropRange>(),
            Err(InteropRangeError::Empty { .. })
        ));
        assert!(matches!(
            "0..99999999999".parse::<InteropRange>(),
            Err(InteropRangeError::TooMany { .. })
        ));
        assert!(matches!(
            "-1..3".parse::<InteropRange>(),
            Err(InteropRangeError::Number(_))
        ));
    }
}
