//! The honest validator guide (validator.md) functions of this preset: duties, aggregation
//! selection, signing roots. Pure: no I/O, no keys.
//!
//! Consensus code holds no secret keys, so every spec function that ends in `bls.Sign(privkey,
//! signing_root)` returns the **signing root** instead; the validator client signs it through
//! its slashing-protected key store. Section names refer to the Fulu `validator.md` (and
//! Altair's for sync committees), as merged in `fulu/mainnet.py`.

use super::transition::helpers::{
    beacon_committee_in, committee_count_per_slot, compute_epoch_at_slot, compute_signing_root,
    compute_start_slot_at_epoch, get_beacon_committee, get_beacon_proposer_index,
    get_beacon_proposer_indices, get_committee_count_per_slot, get_current_epoch, get_domain,
    get_epoch_committees, get_validator,
};
use super::transition::TransitionError;
use super::*;
use crate::consensus::arith::{to_u64, to_usize, ArithError, SafeArith};
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::primitives::*;
use ethereum_hashing::hash_fixed;
use std::collections::{BTreeSet, HashMap};

/// validator.md "Constants": `TARGET_AGGREGATORS_PER_COMMITTEE`.
pub const TARGET_AGGREGATORS_PER_COMMITTEE: u64 = 16;
/// altair validator.md "Constants": `TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE`.
pub const TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE: u64 = 16;
/// altair validator.md "Constants": `SYNC_COMMITTEE_SUBNET_COUNT`.
pub const SYNC_COMMITTEE_SUBNET_COUNT: u64 = 4;

/// Why a duty or signing root could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorDutyError {
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Arith(#[from] ArithError),
    /// The spec's `assert epoch <= next_epoch` (and the lookahead's range).
    #[error("duties of epoch {epoch} cannot be computed from a state in epoch {state_epoch}")]
    EpochOutOfRange { epoch: Epoch, state_epoch: Epoch },
    /// `assert sync_committee_period in (current, next)`.
    #[error("sync committee period {period} is neither the current ({current}) nor the next one")]
    SyncPeriodOutOfRange { period: u64, current: u64 },
}

type Result<T> = std::result::Result<T, ValidatorDutyError>;

fn bytes_to_uint64(bytes: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(bytes.get(..8).unwrap_or(&[0u8; 8]));
    u64::from_le_bytes(first)
}

// ---------------------------------------------------------------------------------------------
// Validator assignments
// ---------------------------------------------------------------------------------------------

/// validator.md "Validator assignments": `get_committee_assignment` — the committee, its index
/// and slot of `validator_index` in `epoch` (at most the next epoch), or `None`.
pub fn get_committee_assignment(
    state: &BeaconState,
    epoch: Epoch,
    validator_index: ValidatorIndex,
) -> Result<Option<(Vec<ValidatorIndex>, CommitteeIndex, Slot)>> {
    let next_epoch = get_current_epoch(state).safe_add(1)?;
    if epoch > next_epoch {
        return Err(ValidatorDutyError::EpochOutOfRange {
            epoch,
            state_epoch: get_current_epoch(state),
        });
    }
    let start_slot = compute_start_slot_at_epoch(epoch)?;
    let committee_count_per_slot = get_committee_count_per_slot(state, epoch);
    for slot in start_slot..start_slot.safe_add(PRESET.slots_per_epoch)? {
        for index in 0..committee_count_per_slot {
            let committee = get_beacon_committee(state, slot, index)?;
            if committee.contains(&validator_index) {
                return Ok(Some((committee, index, slot)));
            }
        }
    }
    Ok(None)
}

/// validator.md "Validator assignments": `is_proposer` (for `state.slot`).
pub fn is_proposer(state: &BeaconState, validator_index: ValidatorIndex) -> Result<bool> {
    Ok(get_beacon_proposer_index(state)? == validator_index)
}

/// One attestation duty (the Beacon API's `AttesterDuty`, minus the pubkey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttesterDuty {
    pub validator_index: ValidatorIndex,
    pub slot: Slot,
    pub committee_index: CommitteeIndex,
    pub committee_length: u64,
    pub committees_at_slot: u64,
    /// The validator's position in its committee (its bit in `aggregation_bits`).
    pub validator_committee_index: u64,
}

/// The attestation duties of `validator_indices` in `epoch` (at most the next epoch): the same
/// answer as `get_committee_assignment` per validator, computed in one pass over the epoch's
/// committees (cached shuffling). Sorted by slot, then committee.
pub fn get_attester_duties(
    state: &BeaconState,
    epoch: Epoch,
    validator_indices: &[ValidatorIndex],
) -> Result<Vec<AttesterDuty>> {
    let state_epoch = get_current_epoch(state);
    if epoch > state_epoch.safe_add(1)? {
        return Err(ValidatorDutyError::EpochOutOfRange { epoch, state_epoch });
    }
    let wanted: BTreeSet<ValidatorIndex> = validator_indices.iter().copied().collect();
    let committees = get_epoch_committees(state, epoch)?;
    let committees_at_slot = committee_count_per_slot(to_u64(committees.shuffled.len())?);
    let start_slot = compute_start_slot_at_epoch(epoch)?;
    let mut duties = Vec::new();
    if wanted.is_empty() {
        return Ok(duties);
    }
    for slot in start_slot..start_slot.safe_add(PRESET.slots_per_epoch)? {
        for committee_index in 0..committees_at_slot {
            let committee = beacon_committee_in(&committees, slot, committee_index)?;
            for (position, validator_index) in committee.iter().enumerate() {
                if wanted.contains(validator_index) {
                    duties.push(AttesterDuty {
                        validator_index: *validator_index,
                        slot,
                        committee_index,
                        committee_length: to_u64(committee.len())?,
                        committees_at_slot,
                        validator_committee_index: to_u64(position)?,
                    });
                }
            }
        }
    }
    Ok(duties)
}

/// The proposers of every slot of `epoch`: Fulu reads `state.proposer_lookahead` (EIP-7917: the
/// current and the next epoch are fixed); Electra computes the current epoch's
/// (`get_beacon_proposer_indices`) and cannot know the next one.
pub fn get_proposer_duties(
    state: &BeaconState,
    epoch: Epoch,
) -> Result<Vec<(Slot, ValidatorIndex)>> {
    let state_epoch = get_current_epoch(state);
    let start_slot = compute_start_slot_at_epoch(epoch)?;
    let proposers: Vec<ValidatorIndex> = match &state.proposer_lookahead {
        Some(lookahead) => {
            let offset = epoch
                .checked_sub(state_epoch)
                .filter(|d| *d <= PRESET.min_seed_lookahead)
                .ok_or(ValidatorDutyError::EpochOutOfRange { epoch, state_epoch })?;
            let first = to_usize(offset.safe_mul(PRESET.slots_per_epoch)?)?;
            let count = to_usize(PRESET.slots_per_epoch)?;
            let all: Vec<ValidatorIndex> = lookahead.iter().copied().collect();
            all.get(first..first.safe_add(count)?)
                .ok_or(ValidatorDutyError::EpochOutOfRange { epoch, state_epoch })?
                .to_vec()
        }
        None => {
            if epoch != state_epoch {
                return Err(ValidatorDutyError::EpochOutOfRange { epoch, state_epoch });
            }
            get_beacon_proposer_indices(state, epoch)?
        }
    };
    let mut duties = Vec::with_capacity(proposers.len());
    for (i, proposer) in proposers.into_iter().enumerate() {
        duties.push((start_slot.safe_add(to_u64(i)?)?, proposer));
    }
    Ok(duties)
}

/// altair validator.md: `compute_sync_committee_period`.
pub fn compute_sync_committee_period(epoch: Epoch) -> u64 {
    epoch
        .checked_div(PRESET.epochs_per_sync_committee_period)
        .unwrap_or(0)
}

/// The sync committee of `epoch`'s period from `state`'s point of view (current or next).
fn sync_committee_for_epoch(state: &BeaconState, epoch: Epoch) -> Result<&SyncCommittee> {
    let period = compute_sync_committee_period(epoch);
    let current = compute_sync_committee_period(get_current_epoch(state));
    if period == current {
        Ok(&state.current_sync_committee)
    } else if period == current.safe_add(1)? {
        Ok(&state.next_sync_committee)
    } else {
        Err(ValidatorDutyError::SyncPeriodOutOfRange { period, current })
    }
}

/// altair validator.md "Sync committee": `is_assigned_to_sync_committee`.
pub fn is_assigned_to_sync_committee(
    state: &BeaconState,
    epoch: Epoch,
    validator_index: ValidatorIndex,
) -> Result<bool> {
    let pubkey = get_validator(state, validator_index)?.pubkey;
    Ok(sync_committee_for_epoch(state, epoch)?
        .pubkeys
        .contains(&pubkey))
}

/// One validator's sync committee membership in a period (Beacon API `SyncDuty`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCommitteeDuty {
    pub validator_index: ValidatorIndex,
    /// Its positions in the sync committee (a key may appear more than once).
    pub validator_sync_committee_indices: Vec<u64>,
}

impl SyncCommitteeDuty {
    /// The subcommittees (= subnets) of its positions, each once.
    pub fn subcommittee_indices(&self) -> BTreeSet<u64> {
        let size = sync_subcommittee_size();
        self.validator_sync_committee_indices
            .iter()
            .filter_map(|i| i.checked_div(size))
            .collect()
    }
}

/// `SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT`.
pub fn sync_subcommittee_size() -> u64 {
    PRESET
        .sync_committee_size
        .checked_div(SYNC_COMMITTEE_SUBNET_COUNT)
        .unwrap_or(1)
}

/// The sync committee duties of `validator_indices` for the sync committee period of `epoch`
/// (the current or the next period of `state`). Unknown indices are skipped.
pub fn get_sync_committee_duties(
    state: &BeaconState,
    epoch: Epoch,
    validator_indices: &[ValidatorIndex],
) -> Result<Vec<SyncCommitteeDuty>> {
    let committee = sync_committee_for_epoch(state, epoch)?;
    let mut by_pubkey: HashMap<BLSPubkey, ValidatorIndex> = HashMap::new();
    for &index in validator_indices {
        if let Ok(validator) = get_validator(state, index) {
            by_pubkey.insert(validator.pubkey, index);
        }
    }
    let mut positions: HashMap<ValidatorIndex, Vec<u64>> = HashMap::new();
    for (position, pubkey) in committee.pubkeys.iter().enumerate() {
        if let Some(index) = by_pubkey.get(pubkey) {
            positions.entry(*index).or_default().push(to_u64(position)?);
        }
    }
    let mut duties: Vec<SyncCommitteeDuty> = positions
        .into_iter()
        .map(
            |(validator_index, validator_sync_committee_indices)| SyncCommitteeDuty {
                validator_index,
                validator_sync_committee_indices,
            },
        )
        .collect();
    duties.sort_by_key(|d| d.validator_index);
    Ok(duties)
}

// ---------------------------------------------------------------------------------------------
// Signing roots ("bls.Sign(privkey, signing_root)" without the key)
// ---------------------------------------------------------------------------------------------

/// validator.md "Randao reveal": `get_epoch_signature` — the signing root of the epoch of the
/// block's slot (the spec passes the block; only its slot is used, and the reveal is needed
/// before the block exists).
pub fn get_epoch_signature(state: &BeaconState, slot: Slot) -> Root {
    let epoch = compute_epoch_at_slot(slot);
    let domain = get_domain(state, DOMAIN_RANDAO, Some(epoch));
    compute_signing_root(&epoch, domain)
}

/// validator.md "Signature" (block proposal): `get_block_signature`.
pub fn get_block_signature(state: &BeaconState, block: &BeaconBlock) -> Root {
    let domain = get_domain(
        state,
        DOMAIN_BEACON_PROPOSER,
        Some(compute_epoch_at_slot(block.slot)),
    );
    compute_signing_root(block, domain)
}

/// validator.md "Aggregate signature" (attesting): `get_attestation_signature`.
pub fn get_attestation_signature(state: &BeaconState, attestation_data: &AttestationData) -> Root {
    let domain = get_domain(
        state,
        DOMAIN_BEACON_ATTESTER,
        Some(attestation_data.target.epoch),
    );
    compute_signing_root(attestation_data, domain)
}

/// validator.md "Attestation subnet subscription": `compute_subnet_for_attestation`.
pub fn compute_subnet_for_attestation(
    config: &ChainConfig,
    committees_per_slot: u64,
    slot: Slot,
    committee_index: CommitteeIndex,
) -> Result<u64> {
    let slots_since_epoch_start = slot.safe_rem(PRESET.slots_per_epoch)?;
    let committees_since_epoch_start = committees_per_slot.safe_mul(slots_since_epoch_start)?;
    Ok(committees_since_epoch_start
        .safe_add(committee_index)?
        .safe_rem(config.attestation_subnet_count)?)
}

/// validator.md "Aggregation selection": `get_slot_signature` (the selection proof).
pub fn get_slot_signature(state: &BeaconState, slot: Slot) -> Root {
    let domain = get_domain(
        state,
        DOMAIN_SELECTION_PROOF,
        Some(compute_epoch_at_slot(slot)),
    );
    compute_signing_root(&slot, domain)
}

/// validator.md "Aggregation selection": `is_aggregator`.
pub fn is_aggregator(
    state: &BeaconState,
    slot: Slot,
    index: CommitteeIndex,
    slot_signature: &BLSSignature,
) -> Result<bool> {
    let committee = get_beacon_committee(state, slot, index)?;
    is_aggregator_in_committee_of_length(to_u64(committee.len())?, slot_signature)
}

/// `is_aggregator` given the committee's length (the duty carries it).
pub fn is_aggregator_in_committee_of_length(
    committee_length: u64,
    slot_signature: &BLSSignature,
) -> Result<bool> {
    let modulo = committee_length
        .safe_div(TARGET_AGGREGATORS_PER_COMMITTEE)?
        .max(1);
    Ok(bytes_to_uint64(&hash_fixed(slot_signature.as_slice())).safe_rem(modulo)? == 0)
}

/// validator.md "Broadcast aggregate": `get_aggregate_and_proof_signature`.
pub fn get_aggregate_and_proof_signature(
    state: &BeaconState,
    aggregate_and_proof: &AggregateAndProof,
) -> Root {
    let domain = get_domain(
        state,
        DOMAIN_AGGREGATE_AND_PROOF,
        Some(compute_epoch_at_slot(
            aggregate_and_proof.aggregate.data.slot,
        )),
    );
    compute_signing_root(aggregate_and_proof, domain)
}

/// altair validator.md "Sync committee messages": the signing root of
/// `get_sync_committee_message` for `slot` (the spec uses the state's current epoch, i.e. a
/// state at `slot`; here the epoch of `slot`, so a state of an earlier slot serves too).
pub fn get_sync_committee_message_signing_root(
    state: &BeaconState,
    slot: Slot,
    block_root: Root,
) -> Root {
    let domain = get_domain(
        state,
        DOMAIN_SYNC_COMMITTEE,
        Some(compute_epoch_at_slot(slot)),
    );
    compute_signing_root(&block_root, domain)
}

/// altair validator.md "Sync committee subnet": `compute_subnets_for_sync_committee`.
pub fn compute_subnets_for_sync_committee(
    state: &BeaconState,
    validator_index: ValidatorIndex,
) -> Result<BTreeSet<u64>> {
    let next_slot_epoch = compute_epoch_at_slot(state.slot.safe_add(1)?);
    let sync_committee = if compute_sync_committee_period(get_current_epoch(state))
        == compute_sync_committee_period(next_slot_epoch)
    {
        &state.current_sync_committee
    } else {
        &state.next_sync_committee
    };
    let target_pubkey = get_validator(state, validator_index)?.pubkey;
    let size = sync_subcommittee_size();
    let mut subnets = BTreeSet::new();
    for (index, pubkey) in sync_committee.pubkeys.iter().enumerate() {
        if *pubkey == target_pubkey {
            subnets.insert(to_u64(index)?.safe_div(size)?);
        }
    }
    Ok(subnets)
}

/// altair validator.md "Aggregation selection": `get_sync_committee_selection_proof`.
pub fn get_sync_committee_selection_proof(
    state: &BeaconState,
    slot: Slot,
    subcommittee_index: u64,
) -> Root {
    let domain = get_domain(
        state,
        DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
        Some(compute_epoch_at_slot(slot)),
    );
    let signing_data = SyncAggregatorSelectionData {
        slot,
        subcommittee_index,
    };
    compute_signing_root(&signing_data, domain)
}

/// altair validator.md "Aggregation selection": `is_sync_committee_aggregator`.
pub fn is_sync_committee_aggregator(signature: &BLSSignature) -> bool {
    let modulo = sync_subcommittee_size()
        .checked_div(TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE)
        .unwrap_or(0)
        .max(1);
    bytes_to_uint64(&hash_fixed(signature.as_slice()))
        .checked_rem(modulo)
        .unwrap_or(0)
        == 0
}

/// altair validator.md "Broadcast sync committee contribution":
/// `get_contribution_and_proof_signature`.
pub fn get_contribution_and_proof_signature(
    state: &BeaconState,
    contribution_and_proof: &ContributionAndProof,
) -> Root {
    let domain = get_domain(
        state,
        DOMAIN_CONTRIBUTION_AND_PROOF,
        Some(compute_epoch_at_slot(
            contribution_and_proof.contribution.slot,
        )),
    );
    compute_signing_root(contribution_and_proof, domain)
}

#[cfg(test)]
mod tests {
    use super::super::transition::genesis::interop_genesis_state;
    use super::super::transition::helpers::{
        get_beacon_committee_uncached, get_beacon_proposer_index,
    };
    use super::super::transition::signatures::{
        attestation_data_signature, block_proposal_signature, randao_signature,
    };
    use super::super::transition::slot::process_slots;
    use super::*;
    use crate::consensus::block_invalid::SignatureKind;
    use crate::consensus::pubkey_cache::PubkeyCache;
    use crate::validator::interop::interop_pubkeys;

    const VALIDATORS: u64 = 64;

    fn genesis() -> (ChainConfig, BeaconState) {
        let config = ChainConfig::for_preset(PRESET.name);
        let keys = interop_pubkeys(VALIDATORS, None).expect("interop keys");
        let state = interop_genesis_state(&config, &keys, 1_700_000_000).expect("genesis");
        (config, state)
    }

    /// The one-pass duties equal the spec's `get_committee_assignment` for every validator, and
    /// the committees equal the uncached `get_beacon_committee`.
    #[test]
    fn attester_duties_match_get_committee_assignment() {
        let (config, mut state) = genesis();
        process_slots(&mut state, &config, PRESET.slots_per_epoch + 3).expect("slots");
        let all: Vec<ValidatorIndex> = (0..VALIDATORS).collect();
        for epoch in [1, 2] {
            let duties = get_attester_duties(&state, epoch, &all).expect("duties");
            // Every active validator attests exactly once per epoch.
            assert_eq!(duties.len() as u64, VALIDATORS);
            for index in 0..VALIDATORS {
                let duty = duties
                    .iter()
                    .find(|d| d.validator_index == index)
                    .expect("a duty");
                let (committee, committee_index, slot) =
                    get_committee_assignment(&state, epoch, index)
                        .expect("assignment")
                        .expect("assigned");
                assert_eq!((duty.slot, duty.committee_index), (slot, committee_index));
                assert_eq!(duty.committee_length, committee.len() as u64);
                assert_eq!(
                    committee[duty.validator_committee_index as usize], index,
                    "position in the committee"
                );
                assert_eq!(
                    committee,
                    get_beacon_committee_uncached(&state, slot, committee_index).expect("uncached")
                );
                assert_eq!(
                    duty.committees_at_slot,
                    get_committee_count_per_slot(&state, epoch)
                );
            }
        }
        // A subset gets just its own duties; an epoch beyond the next is refused (spec assert).
        let some = get_attester_duties(&state, 1, &[3, 5]).expect("duties");
        assert_eq!(
            some.iter()
                .map(|d| d.validator_index)
                .collect::<Vec<_>>()
                .len(),
            2
        );
        assert!(matches!(
            get_attester_duties(&state, 3, &all),
            Err(ValidatorDutyError::EpochOutOfRange { .. })
        ));
        assert!(get_committee_assignment(&state, 3, 0).is_err());
    }

    /// Proposer duties (from the lookahead) name the proposer `get_beacon_proposer_index` finds
    /// once the state reaches each slot, for the current and the next epoch.
    #[test]
    fn proposer_duties_match_get_beacon_proposer_index() {
        let (config, mut state) = genesis();
        let current = get_proposer_duties(&state, 0).expect("epoch 0");
        let next = get_proposer_duties(&state, 1).expect("epoch 1");
        assert!(get_proposer_duties(&state, 2).is_err());
        assert_eq!(current.len() as u64, PRESET.slots_per_epoch);
        assert_eq!(
            current.iter().map(|d| d.1).collect::<Vec<_>>(),
            get_beacon_proposer_indices(&state, 0).expect("computed")
        );
        for (slot, proposer) in current.into_iter().chain(next) {
            if slot > state.slot {
                process_slots(&mut state, &config, slot).expect("slots");
            }
            assert_eq!(
                get_beacon_proposer_index(&state).expect("proposer"),
                proposer
            );
            assert!(is_proposer(&state, proposer).expect("is_proposer"));
        }
    }

    #[test]
    fn sync_committee_duties_and_subnets() {
        let (_config, state) = genesis();
        let all: Vec<ValidatorIndex> = (0..VALIDATORS).collect();
        let duties = get_sync_committee_duties(&state, 0, &all).expect("duties");
        let positions: usize = duties
            .iter()
            .map(|d| d.validator_sync_committee_indices.len())
            .sum();
        assert_eq!(positions as u64, PRESET.sync_committee_size);
        for duty in &duties {
            let pubkey = state
                .validators
                .get(duty.validator_index as usize)
                .expect("v")
                .pubkey;
            for &position in &duty.validator_sync_committee_indices {
                assert_eq!(
                    state.current_sync_committee.pubkeys[position as usize],
                    pubkey
                );
            }
            assert!(is_assigned_to_sync_committee(&state, 0, duty.validator_index).expect("ok"));
            // At genesis the next slot is in the same period: the subnets of the current
            // committee.
            assert_eq!(
                compute_subnets_for_sync_committee(&state, duty.validator_index).expect("subnets"),
                duty.subcommittee_indices()
            );
        }
        let next_period = PRESET.epochs_per_sync_committee_period;
        assert!(get_sync_committee_duties(&state, next_period, &all).is_ok());
        assert!(matches!(
            get_sync_committee_duties(&state, 2 * next_period, &all),
            Err(ValidatorDutyError::SyncPeriodOutOfRange { .. })
        ));
    }

    /// The signing roots equal the messages block processing verifies (independent code in
    /// `transition::signatures`).
    #[test]
    fn signing_roots_match_block_processing() {
        let (config, mut state) = genesis();
        process_slots(&mut state, &config, 5).expect("slots");
        let pubkeys = PubkeyCache::new();
        let signature = BLSSignature::from(crate::consensus::bls::INFINITY_SIGNATURE);
        let block = BeaconBlock {
            slot: state.slot,
            proposer_index: get_beacon_proposer_index(&state).expect("proposer"),
            body: BeaconBlockBody {
                randao_reveal: signature,
                ..Default::default()
            },
            ..Default::default()
        };
        let check = block_proposal_signature(&state, &pubkeys, &block, &signature).expect("check");
        assert_eq!(
            Root::from(check.message),
            get_block_signature(&state, &block)
        );
        let check = randao_signature(&state, &pubkeys, &block.body).expect("randao");
        assert_eq!(
            Root::from(check.message),
            get_epoch_signature(&state, state.slot)
        );
        let data = AttestationData {
            slot: 4,
            target: Checkpoint {
                epoch: 0,
                root: Root::repeat_byte(7),
            },
            ..Default::default()
        };
        let check = attestation_data_signature(
            &state,
            &pubkeys,
            [1],
            &data,
            &signature,
            SignatureKind::Attestation { index: 0 },
        )
        .expect("attestation");
        assert_eq!(
            Root::from(check.message),
            get_attestation_signature(&state, &data)
        );
        // Distinct domains give distinct roots for the same slot.
        assert_ne!(
            get_slot_signature(&state, 5),
            get_epoch_signature(&state, 5)
        );
        assert_ne!(
            get_sync_committee_selection_proof(&state, 5, 0),
            get_sync_committee_selection_proof(&state, 5, 1)
        );
    }

    #[test]
    fn aggregator_selection_and_subnets() {
        let (config, _state) = genesis();
        let signature = BLSSignature::repeat_byte(0x42);
        // Committees smaller than TARGET_AGGREGATORS_PER_COMMITTEE: everyone aggregates.
        assert!(is_aggregator_in_committee_of_length(15, &signature).expect("ok"));
        // With a modulo of 2^k, exactly the hashes whose low bits are zero aggregate.
        let selected = (0u8..=255)
            .filter(|b| {
                is_aggregator_in_committee_of_length(16 * 64, &BLSSignature::repeat_byte(*b))
                    .expect("ok")
            })
            .count();
        assert!(selected < 32, "about 1 in 64 selected, got {selected}/256");
        let modulo = (sync_subcommittee_size() / TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE).max(1);
        let hash = hash_fixed(signature.as_slice());
        assert_eq!(
            is_sync_committee_aggregator(&signature),
            bytes_to_uint64(&hash) % modulo == 0
        );
        // compute_subnet_for_attestation: (committees_per_slot * slot_in_epoch + index) % 64.
        assert_eq!(
            compute_subnet_for_attestation(&config, 4, PRESET.slots_per_epoch + 2, 3).expect("ok"),
            11
        );
        assert_eq!(
            compute_subnet_for_attestation(&config, 64, 1, 63).expect("ok"),
            (64 + 63) % config.attestation_subnet_count
        );
    }
}
