//! The BLS checks of a block, as data: each one built once (keys from the shared
//! [`PubkeyCache`], signature decoded, signing root computed), then verified on its own where
//! the spec asserts it, or all of a block's together in one [`bls::batch_verify`].
//!
//! Batching is sound because none of a block's signatures depends on what the block's own
//! operations change: the keys are those of validators already in the registry (a deposit
//! added in the block cannot be active, so nothing it signs could pass anyway), committees and
//! the proposer are fixed for the epoch, the fork (hence every domain) and the block roots do
//! not change within a block. What batching changes is only *which* error an invalid block
//! reports first; on a failed batch the checks are re-run one by one so that the error names
//! the bad signature.
//!
//! Deposits are not here: an invalid deposit signature is not an invalid block (the deposit is
//! skipped), so each is checked on its own by `is_valid_deposit_signature`.

use super::error::TransitionError;
use super::helpers::*;
use super::*;
use crate::consensus::block_invalid::{
    AttestationInvalid, IndexedAttestationInvalid, SignatureKind,
};
use crate::consensus::bls::{self, PublicKey, Signature};
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::primitives::*;
use crate::consensus::pubkey_cache::{PubkeyCache, PubkeyCacheError, RegistryView};
use ethereum_hashing::hash_fixed;

type Result<T> = std::result::Result<T, TransitionError>;

/// One signature check, ready to run: `signature` must verify `message` under `pubkey` (for an
/// aggregate, the sum of the signers' keys).
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    pub kind: SignatureKind,
    pub pubkey: PublicKey,
    pub message: [u8; 32],
    pub signature: Signature,
}

impl SignatureCheck {
    /// `bls.Verify` (equivalently `FastAggregateVerify` over the summed keys).
    pub fn is_valid(&self) -> bool {
        bls::verify(&self.pubkey, &self.message, &self.signature)
    }

    /// `Err(InvalidSignature)` unless valid.
    pub fn verify(&self) -> Result<()> {
        if self.is_valid() {
            Ok(())
        } else {
            Err(TransitionError::InvalidSignature(self.kind))
        }
    }

    pub fn as_set(&self) -> bls::SignatureSet<'_> {
        bls::SignatureSet::single(&self.signature, &self.pubkey, self.message)
    }
}

/// Verifies all `checks` with one multi-pairing; if that fails, one by one, and names the first
/// bad one. No checks is success.
pub fn verify_signature_checks(checks: &[SignatureCheck]) -> Result<()> {
    if checks.is_empty() {
        return Ok(());
    }
    let sets: Vec<bls::SignatureSet<'_>> = checks.iter().map(SignatureCheck::as_set).collect();
    if bls::batch_verify(&sets) {
        return Ok(());
    }
    for check in checks {
        check.verify()?;
    }
    // Every set verifies alone but not the batch: only with probability 2^-64.
    Err(TransitionError::InvalidSignature(
        checks
            .first()
            .map(|c| c.kind)
            .unwrap_or(SignatureKind::BlockProposal),
    ))
}

fn decode_signature(bytes: &BLSSignature, kind: SignatureKind) -> Result<Signature> {
    Signature::from_bytes(bytes.as_slice()).map_err(|_| TransitionError::InvalidSignature(kind))
}

/// Runs `f` on `state`'s registry as the pubkey cache sees it (with the indices the state
/// knows to agree with `pubkeys`), then records in the state's caches the indices found to
/// agree during `f`.
fn with_registry_view<R>(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    f: impl FnOnce(&RegistryView<'_>) -> R,
) -> R {
    let read = |i| registry_pubkey(state, i);
    let verified = state.caches.verified_pubkeys(pubkeys.id());
    let mut view = RegistryView::new(
        state.genesis_validators_root.0,
        u64::try_from(state.validators.len()).unwrap_or(u64::MAX),
        &read,
    );
    view.verified = verified.as_deref();
    let result = f(&view);
    let newly = view.newly_verified.into_inner();
    state.caches.add_verified_pubkeys(pubkeys.id(), &newly);
    result
}

/// Compares every key `pubkeys` holds for `state`'s registry with the registry's bytes once and
/// records the agreeing indices in the state's caches, so that [`KeyCheck::Exact`] lookups
/// from this state and the states derived from it skip the comparison (a node does this for a
/// state it loaded; states it derives carry the record). Returns how many keys agree.
///
/// [`KeyCheck::Exact`]: crate::consensus::pubkey_cache::KeyCheck::Exact
pub fn confirm_cached_pubkeys(state: &BeaconState, pubkeys: &PubkeyCache) -> Result<usize> {
    with_registry_view(state, pubkeys, |view| pubkeys.confirm_cached(view))
        .map_err(TransitionError::PubkeyCache)
}

/// `state.validators[index].pubkey` as bytes.
fn registry_pubkey(state: &BeaconState, index: ValidatorIndex) -> Option<[u8; 48]> {
    usize::try_from(index)
        .ok()
        .and_then(|i| state.validators.get(i))
        .map(|validator| validator.pubkey.0)
}

/// A cache failure as the spec would see it: an index beyond the registry is an exception, an
/// invalid key makes the signature check fail.
fn cache_error(error: PubkeyCacheError, kind: SignatureKind) -> TransitionError {
    match error {
        PubkeyCacheError::UnknownValidator(index) => TransitionError::UnknownValidator(index),
        PubkeyCacheError::InvalidKey { .. } | PubkeyCacheError::NoKeys => {
            TransitionError::InvalidSignature(kind)
        }
        PubkeyCacheError::OtherChain => TransitionError::PubkeyCache(error),
    }
}

/// The public key of validator `index` (an invalid key fails the check, as `bls.Verify` would).
fn validator_pubkey(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    index: ValidatorIndex,
    kind: SignatureKind,
) -> Result<PublicKey> {
    with_registry_view(state, pubkeys, |view| pubkeys.get(view, index))
        .map_err(|e| cache_error(e, kind))
}

/// The sum of the public keys of `indices` (all in the registry).
fn aggregate_validator_pubkeys(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    indices: impl IntoIterator<Item = ValidatorIndex>,
    kind: SignatureKind,
) -> Result<PublicKey> {
    let indices: Vec<ValidatorIndex> = indices.into_iter().collect();
    with_registry_view(state, pubkeys, |view| pubkeys.aggregate(view, &indices))
        .map_err(|e| cache_error(e, kind))
}

/// The check of phase0 `verify_block_signature`: `block` signed by its proposer.
pub fn block_proposal_signature(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    block: &BeaconBlock,
    signature: &BLSSignature,
) -> Result<SignatureCheck> {
    let kind = SignatureKind::BlockProposal;
    let domain = get_domain(state, DOMAIN_BEACON_PROPOSER, None);
    Ok(SignatureCheck {
        kind,
        pubkey: validator_pubkey(state, pubkeys, block.proposer_index, kind)?,
        message: compute_signing_root(block, domain).0,
        signature: decode_signature(signature, kind)?,
    })
}

/// The RANDAO reveal check of `process_randao`: the proposer signs the current epoch.
pub fn randao_signature(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    body: &BeaconBlockBody,
) -> Result<SignatureCheck> {
    let kind = SignatureKind::Randao;
    let epoch = get_current_epoch(state);
    let proposer_index = get_beacon_proposer_index(state)?;
    let domain = get_domain(state, DOMAIN_RANDAO, None);
    Ok(SignatureCheck {
        kind,
        pubkey: validator_pubkey(state, pubkeys, proposer_index, kind)?,
        message: compute_signing_root(&epoch, domain).0,
        signature: decode_signature(&body.randao_reveal, kind)?,
    })
}

/// The two header checks of `process_proposer_slashing` (signed by `header_1.proposer_index`).
pub fn proposer_slashing_signatures(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    proposer_slashing: &ProposerSlashing,
    index: usize,
) -> Result<[SignatureCheck; 2]> {
    let proposer_index = proposer_slashing.signed_header_1.message.proposer_index;
    let check = |signed_header: &SignedBeaconBlockHeader, header: u8| -> Result<SignatureCheck> {
        let kind = SignatureKind::ProposerSlashing { index, header };
        let domain = get_domain(
            state,
            DOMAIN_BEACON_PROPOSER,
            Some(compute_epoch_at_slot(signed_header.message.slot)),
        );
        Ok(SignatureCheck {
            kind,
            pubkey: validator_pubkey(state, pubkeys, proposer_index, kind)?,
            message: compute_signing_root(&signed_header.message, domain).0,
            signature: decode_signature(&signed_header.signature, kind)?,
        })
    };
    Ok([
        check(&proposer_slashing.signed_header_1, 1)?,
        check(&proposer_slashing.signed_header_2, 2)?,
    ])
}

/// The structural half of phase0 `is_valid_indexed_attestation`: indices non-empty, sorted
/// and unique.
pub fn check_indexed_attestation(
    indexed_attestation: &IndexedAttestation,
) -> std::result::Result<(), IndexedAttestationInvalid> {
    let indices = &indexed_attestation.attesting_indices;
    if indices.is_empty() {
        return Err(IndexedAttestationInvalid::EmptyIndices);
    }
    if !indices.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
        return Err(IndexedAttestationInvalid::IndicesNotSortedUnique);
    }
    Ok(())
}

/// The signature half of `is_valid_indexed_attestation`, for attesters `indices` (sorted and
/// unique, non-empty) signing `data`.
pub fn attestation_data_signature(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    indices: impl IntoIterator<Item = ValidatorIndex>,
    data: &AttestationData,
    signature: &BLSSignature,
    kind: SignatureKind,
) -> Result<SignatureCheck> {
    let domain = get_domain(state, DOMAIN_BEACON_ATTESTER, Some(data.target.epoch));
    Ok(SignatureCheck {
        kind,
        pubkey: aggregate_validator_pubkeys(state, pubkeys, indices, kind)?,
        message: compute_signing_root(data, domain).0,
        signature: decode_signature(signature, kind)?,
    })
}

/// Spec phase0 `is_valid_indexed_attestation` as a check (after [`check_indexed_attestation`]).
pub fn indexed_attestation_signature(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    indexed_attestation: &IndexedAttestation,
    kind: SignatureKind,
) -> Result<SignatureCheck> {
    attestation_data_signature(
        state,
        pubkeys,
        indexed_attestation.attesting_indices.iter().copied(),
        &indexed_attestation.data,
        &indexed_attestation.signature,
        kind,
    )
}

/// The two checks of `process_attester_slashing`, after the structural ones.
pub fn attester_slashing_signatures(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    attester_slashing: &AttesterSlashing,
    index: usize,
) -> Result<[SignatureCheck; 2]> {
    let structure = |a: &IndexedAttestation, n: u8| {
        check_indexed_attestation(a).map_err(|reason| TransitionError::AttesterSlashingInvalid {
            index,
            reason: if n == 1 {
                crate::consensus::block_invalid::AttesterSlashingInvalid::Attestation1(reason)
            } else {
                crate::consensus::block_invalid::AttesterSlashingInvalid::Attestation2(reason)
            },
        })
    };
    structure(&attester_slashing.attestation_1, 1)?;
    structure(&attester_slashing.attestation_2, 2)?;
    Ok([
        indexed_attestation_signature(
            state,
            pubkeys,
            &attester_slashing.attestation_1,
            SignatureKind::AttesterSlashing {
                index,
                attestation: 1,
            },
        )?,
        indexed_attestation_signature(
            state,
            pubkeys,
            &attester_slashing.attestation_2,
            SignatureKind::AttesterSlashing {
                index,
                attestation: 2,
            },
        )?,
    ])
}

/// The check of `process_attestation` (`is_valid_indexed_attestation(state,
/// get_indexed_attestation(state, attestation))`).
pub fn attestation_signature(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    attestation: &Attestation,
    index: usize,
) -> Result<SignatureCheck> {
    let attesting_indices = get_attesting_indices(state, attestation)?;
    if attesting_indices.is_empty() {
        return Err(TransitionError::AttestationInvalid {
            index,
            reason: AttestationInvalid::Indexed(IndexedAttestationInvalid::EmptyIndices),
        });
    }
    attestation_data_signature(
        state,
        pubkeys,
        attesting_indices,
        &attestation.data,
        &attestation.signature,
        SignatureKind::Attestation { index },
    )
}

/// The check of `process_voluntary_exit` (domain pinned to Capella, EIP-7044).
pub fn voluntary_exit_signature(
    state: &BeaconState,
    config: &ChainConfig,
    pubkeys: &PubkeyCache,
    signed_voluntary_exit: &SignedVoluntaryExit,
    index: usize,
) -> Result<SignatureCheck> {
    let kind = SignatureKind::VoluntaryExit { index };
    let voluntary_exit = &signed_voluntary_exit.message;
    let domain = compute_domain(
        DOMAIN_VOLUNTARY_EXIT,
        config.capella_fork_version,
        state.genesis_validators_root,
    );
    Ok(SignatureCheck {
        kind,
        pubkey: validator_pubkey(state, pubkeys, voluntary_exit.validator_index, kind)?,
        message: compute_signing_root(voluntary_exit, domain).0,
        signature: decode_signature(&signed_voluntary_exit.signature, kind)?,
    })
}

/// The check of `process_bls_to_execution_change`: signed by the message's own BLS key
/// (not a registry key, so not cached), fork-agnostic domain.
pub fn bls_to_execution_change_signature(
    state: &BeaconState,
    config: &ChainConfig,
    signed_address_change: &SignedBLSToExecutionChange,
    index: usize,
) -> Result<SignatureCheck> {
    let kind = SignatureKind::BlsToExecutionChange { index };
    let address_change = &signed_address_change.message;
    let domain = compute_domain(
        DOMAIN_BLS_TO_EXECUTION_CHANGE,
        config.genesis_fork_version,
        state.genesis_validators_root,
    );
    Ok(SignatureCheck {
        kind,
        pubkey: PublicKey::from_bytes(address_change.from_bls_pubkey.as_slice())
            .map_err(|_| TransitionError::InvalidSignature(kind))?,
        message: compute_signing_root(address_change, domain).0,
        signature: decode_signature(&signed_address_change.signature, kind)?,
    })
}

/// The validator indices of the current sync committee's members, in committee order (the
/// spec's `all_pubkeys.index(pubkey)` for each member).
pub fn get_sync_committee_indices(state: &BeaconState) -> Result<Vec<ValidatorIndex>> {
    state
        .current_sync_committee
        .pubkeys
        .iter()
        .map(|pubkey| {
            find_validator_index_by_pubkey(state, pubkey).ok_or_else(|| {
                TransitionError::InvalidPubkey(format!(
                    "sync committee member {pubkey} not in the registry"
                ))
            })
        })
        .collect()
}

/// The check of `process_sync_aggregate`, over the participants' summed keys (the spec's three
/// ways to form that key all give this sum). `None` when nobody participated and the signature
/// is the point at infinity, which `eth_fast_aggregate_verify` accepts.
pub fn sync_aggregate_signature(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    sync_aggregate: &SyncAggregate,
    committee_indices: &[ValidatorIndex],
) -> Result<Option<SignatureCheck>> {
    let kind = SignatureKind::SyncAggregate;
    let participants: Vec<ValidatorIndex> = committee_indices
        .iter()
        .zip(sync_aggregate.sync_committee_bits.iter())
        .filter(|(_, bit)| *bit)
        .map(|(index, _)| *index)
        .collect();
    if participants.is_empty() {
        return if sync_aggregate.sync_committee_signature.0 == G2_POINT_AT_INFINITY {
            Ok(None)
        } else {
            Err(TransitionError::InvalidSignature(kind))
        };
    }
    let previous_slot = state.slot.max(1).saturating_sub(1);
    let domain = get_domain(
        state,
        DOMAIN_SYNC_COMMITTEE,
        Some(compute_epoch_at_slot(previous_slot)),
    );
    let block_root = get_block_root_at_slot(state, previous_slot)?;
    Ok(Some(SignatureCheck {
        kind,
        pubkey: aggregate_validator_pubkeys(state, pubkeys, participants, kind)?,
        message: compute_signing_root(&block_root, domain).0,
        signature: decode_signature(&sync_aggregate.sync_committee_signature, kind)?,
    }))
}

/// Every signature check of `block` against `state` (at the block's slot, before the block's
/// operations), in the order the spec meets them; with `proposal`, the block signature first.
///
/// Fails early on anything that makes a check impossible to build (an unknown validator, a
/// malformed attestation, undecodable bytes): the block is invalid either way.
pub fn block_signature_checks(
    state: &BeaconState,
    config: &ChainConfig,
    pubkeys: &PubkeyCache,
    block: &BeaconBlock,
    proposal: Option<&BLSSignature>,
) -> Result<Vec<SignatureCheck>> {
    let body = &block.body;
    let mut checks = Vec::with_capacity(
        3usize
            .saturating_add(body.proposer_slashings.len().saturating_mul(2))
            .saturating_add(body.attester_slashings.len().saturating_mul(2))
            .saturating_add(body.attestations.len())
            .saturating_add(body.voluntary_exits.len())
            .saturating_add(body.bls_to_execution_changes.len()),
    );
    if let Some(signature) = proposal {
        checks.push(block_proposal_signature(state, pubkeys, block, signature)?);
    }
    checks.push(randao_signature(state, pubkeys, body)?);
    for (index, op) in body.proposer_slashings.iter().enumerate() {
        checks.extend(proposer_slashing_signatures(state, pubkeys, op, index)?);
    }
    for (index, op) in body.attester_slashings.iter().enumerate() {
        checks.extend(attester_slashing_signatures(state, pubkeys, op, index)?);
    }
    for (index, op) in body.attestations.iter().enumerate() {
        super::block::check_attestation(state, op).map_err(|e| super::block::at_index(e, index))?;
        checks.push(attestation_signature(state, pubkeys, op, index)?);
    }
    for (index, op) in body.voluntary_exits.iter().enumerate() {
        checks.push(voluntary_exit_signature(state, config, pubkeys, op, index)?);
    }
    for (index, op) in body.bls_to_execution_changes.iter().enumerate() {
        checks.push(bls_to_execution_change_signature(state, config, op, index)?);
    }
    let committee_indices = get_sync_committee_indices(state)?;
    if let Some(check) =
        sync_aggregate_signature(state, pubkeys, &body.sync_aggregate, &committee_indices)?
    {
        checks.push(check);
    }
    Ok(checks)
}

/// `hash(from_bls_pubkey)[1:] == withdrawal_credentials[1:]` (the BLS change's key binding).
pub(crate) fn bls_pubkey_matches_credentials(pubkey: &BLSPubkey, credentials: &Bytes32) -> bool {
    let hash = hash_fixed(pubkey.as_slice());
    hash.get(1..) == credentials.get(1..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::bls::SecretKey;

    fn check(seed: u8, kind: SignatureKind, tamper: bool) -> SignatureCheck {
        let sk = SecretKey::key_gen(&[seed; 32]).unwrap();
        let message = [seed; 32];
        let signed = if tamper { [0xff; 32] } else { message };
        SignatureCheck {
            kind,
            pubkey: sk.public_key(),
            message,
            signature: sk.sign(&signed),
        }
    }

    #[test]
    fn batch_accepts_good_and_names_the_bad_one() {
        let good: Vec<SignatureCheck> = (0..4)
            .map(|i| check(i + 1, SignatureKind::Attestation { index: i.into() }, false))
            .collect();
        assert_eq!(verify_signature_checks(&good), Ok(()));
        assert_eq!(verify_signature_checks(&[]), Ok(()));

        let mut bad = good.clone();
        bad.insert(2, check(9, SignatureKind::VoluntaryExit { index: 3 }, true));
        assert_eq!(
            verify_signature_checks(&bad),
            Err(TransitionError::InvalidSignature(
                SignatureKind::VoluntaryExit { index: 3 }
            ))
        );
    }
}
