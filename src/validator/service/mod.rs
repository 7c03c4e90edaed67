//! The in-process validator duty service of one preset (compiled per preset from
//! `src/validator/{mainnet,minimal}.rs`, which set `spec`).
//!
//! The node drives it with its slot clock (validator.md timing):
//! - [`ValidatorService::on_slot_start`] at the start of the slot: propose if a local key is the
//!   slot's proposer (randao reveal, `produce_block`, slashing-protected signature, publish);
//! - [`ValidatorService::at_one_third`] at 1/3 of the slot (`SECONDS_PER_SLOT / 3`; the node may
//!   call it earlier once the slot's block is imported): attest for every local duty of the slot
//!   (one `attestation_data`, one batched slashing-protection write, `SingleAttestation`s), sync
//!   committee messages, and the aggregation selection proofs;
//! - [`ValidatorService::at_two_thirds`] at 2/3 of the slot: aggregates of the selected
//!   aggregators (`AggregateAndProof`) and sync committee contributions.
//!
//! Duties are cached per epoch, at most two epochs (the current and the next: the bound is
//! structural, entries below the current epoch are dropped on every call). Each entry remembers
//! its *dependent root* — the block root at the last slot of epoch `E - 2`, which fixes both the
//! shuffling and (Fulu, EIP-7917) the proposer lookahead of epoch `E` — and is recomputed when
//! the head state shows another one (a reorg across the dependent block). Every call fetches the
//! head state from the node (an `Arc`, cheap) and checks this, so a re-org is followed within a
//! slot.
//!
//! Every signature goes through [`ValidatorStore`]: blocks and attestations through slashing
//! protection (committed before the signature exists), everything else through
//! `ValidatorStore::sign`. Signing (BLS, ~0.3 ms per signature) and the protection commit
//! (`fdatasync`) run inline on the calling task: they are short, and the node may run on a
//! current-thread runtime where blocking-pool tricks are not available.

use super::spec;
use crate::consensus::bls::Signature;
use crate::consensus::primitives::{
    CommitteeIndex, Epoch, Root, Slot, ValidatorIndex, GENESIS_SLOT,
};
use crate::validator::slashing_protection::PublicKeyBytes;
use crate::validator::{BeaconNodeError, ValidatorStore};
use spec::transition::helpers::{
    compute_epoch_at_slot, compute_start_slot_at_epoch, find_validator_index_by_pubkey,
    get_block_root_at_slot, get_current_epoch,
};
use spec::validator::{
    get_aggregate_and_proof_signature, get_attestation_signature, get_attester_duties,
    get_block_signature, get_contribution_and_proof_signature, get_epoch_signature,
    get_proposer_duties, get_slot_signature, get_sync_committee_duties,
    get_sync_committee_message_signing_root, get_sync_committee_selection_proof,
    is_aggregator_in_committee_of_length, is_sync_committee_aggregator, AttesterDuty,
    SyncCommitteeDuty, ValidatorDutyError,
};
use spec::{
    AggregateAndProof, Attestation, AttestationData, BLSPubkey, BLSSignature, BeaconBlock,
    BeaconState, Bytes32, ContributionAndProof, SignedAggregateAndProof, SignedBeaconBlock,
    SignedContributionAndProof, SingleAttestation, SyncCommitteeContribution, SyncCommitteeMessage,
};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tree_hash::TreeHash;

/// What the validator service needs from the beacon node. The shapes mirror the standard Beacon
/// API validator endpoints (named beside each method); the node implements it in-process.
/// Futures must be `Send` (the node may run the service on a multi-thread runtime); an `impl`
/// may use `async fn`.
pub trait BeaconNodeInterface: Send + Sync + 'static {
    /// A state from which the duties of `epoch` are computed and signing domains are taken:
    /// the head state, advanced through empty slots to `epoch`'s start when the head is in an
    /// earlier epoch (so `get_current_epoch(state) == epoch`; a state of `epoch - 1` is accepted
    /// too, then only `epoch`'s duties are known). Called up to three times a slot: keep the
    /// advanced state cached. (`GET /eth/v1/validator/duties/*` compute from this state.)
    fn head_state_for_duties(
        &self,
        epoch: Epoch,
    ) -> impl Future<Output = Result<Arc<BeaconState>, BeaconNodeError>> + Send;

    /// `GET /eth/v3/validator/blocks/{slot}`: an unsigned block for `slot` on the head, with
    /// this randao reveal and graffiti (the node builds the payload and the state root).
    fn produce_block(
        &self,
        slot: Slot,
        randao_reveal: BLSSignature,
        graffiti: Bytes32,
    ) -> impl Future<Output = Result<BeaconBlock, BeaconNodeError>> + Send;

    /// `POST /eth/v2/beacon/blocks`: import and broadcast.
    fn publish_block(
        &self,
        block: SignedBeaconBlock,
    ) -> impl Future<Output = Result<(), BeaconNodeError>> + Send;

    /// `GET /eth/v1/validator/attestation_data?slot&committee_index` (Electra: `data.index` is
    /// 0, so one call serves every committee of the slot).
    fn attestation_data(
        &self,
        slot: Slot,
        committee_index: CommitteeIndex,
    ) -> impl Future<Output = Result<AttestationData, BeaconNodeError>> + Send;

    /// `POST /eth/v2/beacon/pool/attestations` (`SingleAttestation`s, Electra).
    fn publish_attestations(
        &self,
        attestations: Vec<SingleAttestation>,
    ) -> impl Future<Output = Result<(), BeaconNodeError>> + Send;

    /// `GET /eth/v2/validator/aggregate_attestation?slot&attestation_data_root&committee_index`:
    /// the best aggregate the node has for that committee (`None`: nothing to aggregate).
    fn aggregate_attestation(
        &self,
        slot: Slot,
        attestation_data_root: Root,
        committee_index: CommitteeIndex,
    ) -> impl Future<Output = Result<Option<Attestation>, BeaconNodeError>> + Send;

    /// `POST /eth/v2/validator/aggregate_and_proofs`.
    fn publish_aggregates(
        &self,
        aggregates: Vec<SignedAggregateAndProof>,
    ) -> impl Future<Output = Result<(), BeaconNodeError>> + Send;

    /// `GET /eth/v1/beacon/blocks/head/root` as seen at `slot` (the root sync committee members
    /// sign).
    fn sync_committee_block_root(
        &self,
        slot: Slot,
    ) -> impl Future<Output = Result<Root, BeaconNodeError>> + Send;

    /// `POST /eth/v1/beacon/pool/sync_committees`.
    fn publish_sync_committee_messages(
        &self,
        messages: Vec<SyncCommitteeMessage>,
    ) -> impl Future<Output = Result<(), BeaconNodeError>> + Send;

    /// `GET /eth/v1/validator/sync_committee_contribution?slot&subcommittee_index&beacon_block_root`.
    fn sync_committee_contribution(
        &self,
        slot: Slot,
        subcommittee_index: u64,
        beacon_block_root: Root,
    ) -> impl Future<Output = Result<Option<SyncCommitteeContribution>, BeaconNodeError>> + Send;

    /// `POST /eth/v1/validator/contribution_and_proofs`.
    fn publish_contributions(
        &self,
        contributions: Vec<SignedContributionAndProof>,
    ) -> impl Future<Output = Result<(), BeaconNodeError>> + Send;
}

/// `(slot, proposer index)` of the local keys' proposals.
pub type ProposerDuties = Vec<(Slot, ValidatorIndex)>;

/// Why a duty step failed (it is logged; the service goes on with the next step).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("beacon node: {0}")]
    BeaconNode(#[from] BeaconNodeError),
    #[error("duties: {0}")]
    Duties(#[from] ValidatorDutyError),
    #[error("state: {0}")]
    State(#[from] spec::transition::TransitionError),
    #[error("the node produced a block for slot {got_slot} / proposer {got_proposer}, expected slot {slot} / proposer {proposer}")]
    WrongBlock {
        slot: Slot,
        proposer: ValidatorIndex,
        got_slot: Slot,
        got_proposer: ValidatorIndex,
    },
    #[error("the node's attestation data is for slot {got}, expected {slot}")]
    WrongAttestationData { slot: Slot, got: Slot },
    #[error("signing refused: {0}")]
    NotSafe(#[from] crate::validator::NotSafe),
}

/// What one call did (for logs, metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DutyReport {
    /// `on_slot_start`: the root of the published block.
    pub proposed: Option<Root>,
    /// Attestations signed and published.
    pub attestations: usize,
    /// Attestations slashing protection refused.
    pub attestations_refused: usize,
    /// Aggregates signed and published.
    pub aggregates: usize,
    pub sync_messages: usize,
    pub contributions: usize,
}

/// One epoch's duties of the local keys.
#[derive(Debug, Clone)]
struct EpochDuties {
    dependent_root: Root,
    attesters: Vec<AttesterDuty>,
    /// `None` while unknown (Electra's next epoch).
    proposers: Option<ProposerDuties>,
    /// Members of the sync committee of this epoch's period.
    sync: Vec<SyncCommitteeDuty>,
}

/// Aggregation work selected at 1/3 of a slot, done at 2/3.
#[derive(Debug, Clone)]
struct PendingAggregation {
    slot: Slot,
    data: AttestationData,
    /// `(aggregator index, committee index, selection proof)`.
    aggregators: Vec<(ValidatorIndex, CommitteeIndex, BLSSignature)>,
}

#[derive(Debug, Clone)]
struct PendingContribution {
    slot: Slot,
    block_root: Root,
    /// `(aggregator index, subcommittee index, selection proof)`.
    aggregators: Vec<(ValidatorIndex, u64, BLSSignature)>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Local keys' validator indices, learned from head states (bounded by the key count).
    indices: HashMap<PublicKeyBytes, ValidatorIndex>,
    pubkeys: HashMap<ValidatorIndex, PublicKeyBytes>,
    /// At most two entries: the current and the next epoch.
    epochs: BTreeMap<Epoch, EpochDuties>,
    /// The last slot each phase ran for: each runs at most once per slot, so a node that calls
    /// `at_one_third` early (its block arrived) and again at 1/3 does not ask twice (a second
    /// request with a newer head would only be refused by slashing protection).
    proposed_slot: Option<Slot>,
    attested_slot: Option<Slot>,
    /// The current slot's aggregation work only.
    aggregation: Option<PendingAggregation>,
    contribution: Option<PendingContribution>,
}

/// The duty service: see the module docs. Construct with [`ValidatorService::new`], then call
/// the three slot-phase methods from the node's slot clock.
pub struct ValidatorService<B: BeaconNodeInterface> {
    node: Arc<B>,
    store: Arc<ValidatorStore>,
    graffiti: Bytes32,
    inner: Mutex<Inner>,
}

fn signature_bytes(signature: &Signature) -> BLSSignature {
    BLSSignature::from(signature.to_bytes())
}

/// The local keys' proposals in `epoch`; `None` when `state` cannot know them yet.
fn local_proposers(
    state: &BeaconState,
    epoch: Epoch,
    local: &HashMap<ValidatorIndex, PublicKeyBytes>,
) -> Result<Option<ProposerDuties>, ServiceError> {
    match get_proposer_duties(state, epoch) {
        Ok(all) => Ok(Some(
            all.into_iter()
                .filter(|(_, index)| local.contains_key(index))
                .collect(),
        )),
        Err(ValidatorDutyError::EpochOutOfRange { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The block root at `slot` as `state` knows it (`slot <= state.slot`).
fn block_root_at(state: &BeaconState, slot: Slot) -> Result<Root, ServiceError> {
    if slot < state.slot {
        return Ok(get_block_root_at_slot(state, slot)?);
    }
    // `slot == state.slot` only at genesis (state at slot 0): the latest header, completed the
    // way `process_slot` does.
    let mut header = state.latest_block_header.clone();
    if header.state_root.is_zero() {
        header.state_root = state.tree_hash_root();
    }
    Ok(header.tree_hash_root())
}

/// The dependent root of `epoch`'s attester shuffling and proposer lookahead: the block root at
/// `compute_start_slot_at_epoch(epoch - 1) - 1` (the genesis block for epochs 0 and 1).
fn dependent_root(state: &BeaconState, epoch: Epoch) -> Result<Root, ServiceError> {
    let slot = compute_start_slot_at_epoch(epoch.saturating_sub(1))?.saturating_sub(1);
    block_root_at(state, slot.min(state.slot))
}

impl<B: BeaconNodeInterface> ValidatorService<B> {
    pub fn new(node: Arc<B>, store: Arc<ValidatorStore>, graffiti: Bytes32) -> Self {
        ValidatorService {
            node,
            store,
            graffiti,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn store(&self) -> &Arc<ValidatorStore> {
        &self.store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Slot start: propose a block if a local key is `slot`'s proposer. Failures (also
    /// logged here) leave the slot without our block; the service goes on next slot.
    pub async fn on_slot_start(&self, slot: Slot) -> Result<DutyReport, ServiceError> {
        let result = self.propose_phase(slot).await;
        if let Err(e) = &result {
            tracing::warn!(slot, error = %e, "block proposal failed");
        }
        result
    }

    /// 1/3 of the slot: attestations, sync committee messages, aggregation selection.
    pub async fn at_one_third(&self, slot: Slot) -> Result<DutyReport, ServiceError> {
        let result = self.attest_phase(slot).await;
        if let Err(e) = &result {
            tracing::warn!(slot, error = %e, "attestation / sync committee duties failed");
        }
        result
    }

    /// 2/3 of the slot: aggregates and sync committee contributions of the selected aggregators.
    pub async fn at_two_thirds(&self, slot: Slot) -> Result<DutyReport, ServiceError> {
        let result = self.aggregate_phase(slot).await;
        if let Err(e) = &result {
            tracing::warn!(slot, error = %e, "aggregation / contribution duties failed");
        }
        result
    }

    /// Records `slot` as done for a phase; false when it (or a later slot) already ran.
    fn first_call(last: &mut Option<Slot>, slot: Slot) -> bool {
        if last.is_some_and(|done| done >= slot) {
            tracing::debug!(slot, "duty phase already ran for this slot");
            return false;
        }
        *last = Some(slot);
        true
    }

    /// Fetches the head state for `epoch` and brings the duty cache up to date with it.
    async fn state_and_duties(&self, epoch: Epoch) -> Result<Arc<BeaconState>, ServiceError> {
        let state = self.node.head_state_for_duties(epoch).await?;
        self.update_duties(&state, epoch)?;
        Ok(state)
    }

    /// Learns validator indices of local keys, then (re)computes the duties of `epoch` and
    /// `epoch + 1` where missing or where the dependent root changed.
    fn update_duties(&self, state: &BeaconState, epoch: Epoch) -> Result<(), ServiceError> {
        let mut inner = self.lock();
        if inner.indices.len() < self.store.len() {
            for pubkey in self.store.pubkeys() {
                if inner.indices.contains_key(pubkey) {
                    continue;
                }
                if let Some(index) =
                    find_validator_index_by_pubkey(state, &BLSPubkey::from(*pubkey))
                {
                    inner.indices.insert(*pubkey, index);
                    inner.pubkeys.insert(index, *pubkey);
                }
            }
        }
        inner
            .epochs
            .retain(|e, _| *e >= epoch && *e <= epoch.saturating_add(1));
        let state_epoch = get_current_epoch(state);
        let mut local: Vec<ValidatorIndex> = inner.pubkeys.keys().copied().collect();
        local.sort_unstable();
        for e in [epoch, epoch.saturating_add(1)] {
            // Only from a state of `e` or `e - 1`: an older state cannot see `e`'s shuffling,
            // and a newer one no longer has `e`'s proposer lookahead (the cache keeps them).
            if e > state_epoch.saturating_add(1) || e < state_epoch {
                continue;
            }
            let root = dependent_root(state, e)?;
            let previous = inner
                .epochs
                .get(&e)
                .map(|d| (d.dependent_root, d.proposers.is_some()));
            match previous {
                Some((r, true)) if r == root => continue,
                // Electra: the next epoch's proposers become known when it starts.
                Some((r, false)) if r == root => {
                    let proposers = local_proposers(state, e, &inner.pubkeys)?;
                    if let Some(entry) = inner.epochs.get_mut(&e) {
                        entry.proposers = proposers;
                    }
                    continue;
                }
                _ => {}
            }
            let attesters = get_attester_duties(state, e, &local)?;
            let proposers = local_proposers(state, e, &inner.pubkeys)?;
            let sync = get_sync_committee_duties(state, e, &local)?;
            tracing::info!(
                epoch = e,
                dependent_root = %root,
                attesters = attesters.len(),
                proposers = proposers.as_ref().map_or(0, Vec::len),
                sync_committee_members = sync.len(),
                recomputed = previous.is_some(),
                "validator duties"
            );
            inner.epochs.insert(
                e,
                EpochDuties {
                    dependent_root: root,
                    attesters,
                    proposers,
                    sync,
                },
            );
        }
        Ok(())
    }

    async fn propose_phase(&self, slot: Slot) -> Result<DutyReport, ServiceError> {
        let mut report = DutyReport::default();
        if slot == GENESIS_SLOT {
            return Ok(report);
        }
        if !Self::first_call(&mut self.lock().proposed_slot, slot) {
            return Ok(report);
        }
        let epoch = compute_epoch_at_slot(slot);
        let state = self.state_and_duties(epoch).await?;
        let proposer = {
            let inner = self.lock();
            inner
                .epochs
                .get(&epoch)
                .and_then(|d| d.proposers.as_ref())
                .and_then(|p| p.iter().find(|(s, _)| *s == slot))
                .and_then(|(_, index)| inner.pubkeys.get(index).map(|pk| (*index, *pk)))
        };
        let Some((proposer_index, pubkey)) = proposer else {
            return Ok(report);
        };
        let randao_reveal = self
            .store
            .sign(&pubkey, get_epoch_signature(&state, slot))?;
        let block = self
            .node
            .produce_block(slot, signature_bytes(&randao_reveal), self.graffiti)
            .await?;
        if block.slot != slot || block.proposer_index != proposer_index {
            return Err(ServiceError::WrongBlock {
                slot,
                proposer: proposer_index,
                got_slot: block.slot,
                got_proposer: block.proposer_index,
            });
        }
        let signing_root = get_block_signature(&state, &block);
        let signature = self.store.sign_block(&pubkey, slot, signing_root)?;
        let block_root = block.tree_hash_root();
        let signed = SignedBeaconBlock {
            message: block,
            signature: signature_bytes(&signature),
        };
        self.node.publish_block(signed).await?;
        tracing::info!(slot, proposer_index, block_root = %block_root, "proposed block");
        report.proposed = Some(block_root);
        Ok(report)
    }

    async fn attest_phase(&self, slot: Slot) -> Result<DutyReport, ServiceError> {
        if !Self::first_call(&mut self.lock().attested_slot, slot) {
            return Ok(DutyReport::default());
        }
        let epoch = compute_epoch_at_slot(slot);
        let state = self.state_and_duties(epoch).await?;
        let (duties, sync_duties) = {
            let mut inner = self.lock();
            // The previous slot's aggregation work is stale now.
            inner.aggregation = None;
            inner.contribution = None;
            if !inner.epochs.contains_key(&epoch) && !inner.pubkeys.is_empty() {
                tracing::warn!(
                    slot,
                    epoch,
                    head_state_epoch = get_current_epoch(&state),
                    "no validator duties: the head state is too far behind this epoch"
                );
            }
            let duties: Vec<AttesterDuty> = inner
                .epochs
                .get(&epoch)
                .map(|d| {
                    d.attesters
                        .iter()
                        .filter(|a| a.slot == slot)
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            // Messages of `slot` go into block `slot + 1`: the committee of its period signs.
            let sync_epoch = compute_epoch_at_slot(slot.saturating_add(1));
            let sync = inner
                .epochs
                .get(&sync_epoch)
                .map(|d| d.sync.clone())
                .unwrap_or_default();
            (duties, sync)
        };
        let mut report = DutyReport::default();
        let attest = self.attest(&state, slot, &duties, &mut report).await;
        let sync = self
            .sync_messages(&state, slot, &sync_duties, &mut report)
            .await;
        attest?;
        sync?;
        Ok(report)
    }

    async fn attest(
        &self,
        state: &BeaconState,
        slot: Slot,
        duties: &[AttesterDuty],
        report: &mut DutyReport,
    ) -> Result<(), ServiceError> {
        let Some(first) = duties.first() else {
            return Ok(());
        };
        let data = self
            .node
            .attestation_data(slot, first.committee_index)
            .await?;
        if data.slot != slot {
            return Err(ServiceError::WrongAttestationData {
                slot,
                got: data.slot,
            });
        }
        let signing_root = get_attestation_signature(state, &data);
        let keyed: Vec<(PublicKeyBytes, &AttesterDuty)> = {
            let inner = self.lock();
            duties
                .iter()
                .filter_map(|d| inner.pubkeys.get(&d.validator_index).map(|pk| (*pk, d)))
                .collect()
        };
        let batch: Vec<(PublicKeyBytes, Epoch, Epoch, Root)> = keyed
            .iter()
            .map(|(pk, _)| (*pk, data.source.epoch, data.target.epoch, signing_root))
            .collect();
        let verdicts = self.store.sign_attestations(&batch);
        let mut attestations = Vec::with_capacity(keyed.len());
        let mut first_refusal = None;
        for ((_, duty), verdict) in keyed.iter().zip(verdicts) {
            match verdict {
                Ok(signature) => attestations.push(SingleAttestation {
                    committee_index: duty.committee_index,
                    attester_index: duty.validator_index,
                    data: data.clone(),
                    signature: signature_bytes(&signature),
                }),
                Err(refused) => {
                    report.attestations_refused += 1;
                    first_refusal.get_or_insert(refused);
                }
            }
        }
        if let Some(reason) = &first_refusal {
            tracing::warn!(
                slot,
                refused = report.attestations_refused,
                first_reason = %reason,
                "attestations refused by slashing protection"
            );
        }
        // Aggregation selection (validator.md "Aggregation selection") for the signed duties.
        let selection_root = get_slot_signature(state, slot);
        let mut aggregators = Vec::new();
        for (pubkey, duty) in &keyed {
            if !attestations
                .iter()
                .any(|a| a.attester_index == duty.validator_index)
            {
                continue;
            }
            let proof = signature_bytes(&self.store.sign(pubkey, selection_root)?);
            if is_aggregator_in_committee_of_length(duty.committee_length, &proof)? {
                aggregators.push((duty.validator_index, duty.committee_index, proof));
            }
        }
        report.attestations = attestations.len();
        if !attestations.is_empty() {
            self.node.publish_attestations(attestations).await?;
        }
        // Debug, like the other per-slot duty reports: the node prints one line per slot (head,
        // votes, checkpoints); four more at info would bury it.
        tracing::debug!(
            slot,
            attestations = report.attestations,
            refused = report.attestations_refused,
            aggregators = aggregators.len(),
            head = %data.beacon_block_root,
            source = data.source.epoch,
            target = data.target.epoch,
            "published attestations"
        );
        self.lock().aggregation = Some(PendingAggregation {
            slot,
            data,
            aggregators,
        });
        Ok(())
    }

    async fn sync_messages(
        &self,
        state: &BeaconState,
        slot: Slot,
        duties: &[SyncCommitteeDuty],
        report: &mut DutyReport,
    ) -> Result<(), ServiceError> {
        if duties.is_empty() {
            return Ok(());
        }
        let block_root = self.node.sync_committee_block_root(slot).await?;
        let signing_root = get_sync_committee_message_signing_root(state, slot, block_root);
        let keyed: Vec<(PublicKeyBytes, &SyncCommitteeDuty)> = {
            let inner = self.lock();
            duties
                .iter()
                .filter_map(|d| inner.pubkeys.get(&d.validator_index).map(|pk| (*pk, d)))
                .collect()
        };
        let mut messages = Vec::with_capacity(keyed.len());
        let mut aggregators = Vec::new();
        for (pubkey, duty) in &keyed {
            let signature = self.store.sign(pubkey, signing_root)?;
            messages.push(SyncCommitteeMessage {
                slot,
                beacon_block_root: block_root,
                validator_index: duty.validator_index,
                signature: signature_bytes(&signature),
            });
            for subcommittee_index in duty.subcommittee_indices() {
                let root = get_sync_committee_selection_proof(state, slot, subcommittee_index);
                let proof = signature_bytes(&self.store.sign(pubkey, root)?);
                if is_sync_committee_aggregator(&proof) {
                    aggregators.push((duty.validator_index, subcommittee_index, proof));
                }
            }
        }
        report.sync_messages = messages.len();
        self.node.publish_sync_committee_messages(messages).await?;
        tracing::debug!(
            slot,
            messages = report.sync_messages,
            aggregators = aggregators.len(),
            block_root = %block_root,
            "published sync committee messages"
        );
        self.lock().contribution = Some(PendingContribution {
            slot,
            block_root,
            aggregators,
        });
        Ok(())
    }

    async fn aggregate_phase(&self, slot: Slot) -> Result<DutyReport, ServiceError> {
        let (aggregation, contribution) = {
            let mut inner = self.lock();
            (
                inner.aggregation.take().filter(|a| a.slot == slot),
                inner.contribution.take().filter(|c| c.slot == slot),
            )
        };
        let mut report = DutyReport::default();
        if aggregation
            .as_ref()
            .is_none_or(|a| a.aggregators.is_empty())
            && contribution
                .as_ref()
                .is_none_or(|c| c.aggregators.is_empty())
        {
            return Ok(report);
        }
        let state = self.state_and_duties(compute_epoch_at_slot(slot)).await?;
        let aggregates = match aggregation {
            Some(a) => self.aggregate(&state, a, &mut report).await,
            None => Ok(()),
        };
        let contributions = match contribution {
            Some(c) => self.contribute(&state, c, &mut report).await,
            None => Ok(()),
        };
        aggregates?;
        contributions?;
        Ok(report)
    }

    async fn aggregate(
        &self,
        state: &BeaconState,
        pending: PendingAggregation,
        report: &mut DutyReport,
    ) -> Result<(), ServiceError> {
        let data_root = pending.data.tree_hash_root();
        let mut by_committee: BTreeMap<CommitteeIndex, Option<Attestation>> = BTreeMap::new();
        let mut signed = Vec::new();
        for (aggregator_index, committee_index, selection_proof) in pending.aggregators {
            if let Entry::Vacant(entry) = by_committee.entry(committee_index) {
                entry.insert(
                    self.node
                        .aggregate_attestation(pending.slot, data_root, committee_index)
                        .await?,
                );
            }
            let Some(Some(aggregate)) = by_committee.get(&committee_index) else {
                continue;
            };
            let Some(pubkey) = self.lock().pubkeys.get(&aggregator_index).copied() else {
                continue;
            };
            let message = AggregateAndProof {
                aggregator_index,
                aggregate: aggregate.clone(),
                selection_proof,
            };
            let signature = self
                .store
                .sign(&pubkey, get_aggregate_and_proof_signature(state, &message))?;
            signed.push(SignedAggregateAndProof {
                message,
                signature: signature_bytes(&signature),
            });
        }
        report.aggregates = signed.len();
        if !signed.is_empty() {
            self.node.publish_aggregates(signed).await?;
        }
        tracing::debug!(
            slot = pending.slot,
            aggregates = report.aggregates,
            committees = by_committee.len(),
            "published aggregates"
        );
        Ok(())
    }

    async fn contribute(
        &self,
        state: &BeaconState,
        pending: PendingContribution,
        report: &mut DutyReport,
    ) -> Result<(), ServiceError> {
        let mut by_subcommittee: BTreeMap<u64, Option<SyncCommitteeContribution>> = BTreeMap::new();
        let mut signed = Vec::new();
        for (aggregator_index, subcommittee_index, selection_proof) in pending.aggregators {
            if let Entry::Vacant(entry) = by_subcommittee.entry(subcommittee_index) {
                entry.insert(
                    self.node
                        .sync_committee_contribution(
                            pending.slot,
                            subcommittee_index,
                            pending.block_root,
                        )
                        .await?,
                );
            }
            let Some(Some(contribution)) = by_subcommittee.get(&subcommittee_index) else {
                continue;
            };
            let Some(pubkey) = self.lock().pubkeys.get(&aggregator_index).copied() else {
                continue;
            };
            let message = ContributionAndProof {
                aggregator_index,
                contribution: contribution.clone(),
                selection_proof,
            };
            let signature = self.store.sign(
                &pubkey,
                get_contribution_and_proof_signature(state, &message),
            )?;
            signed.push(SignedContributionAndProof {
                message,
                signature: signature_bytes(&signature),
            });
        }
        report.contributions = signed.len();
        if !signed.is_empty() {
            self.node.publish_contributions(signed).await?;
        }
        tracing::debug!(
            slot = pending.slot,
            contributions = report.contributions,
            subcommittees = by_subcommittee.len(),
            "published sync committee contributions"
        );
        Ok(())
    }

    /// The cached duties of `epoch` for the local keys: `(attester duties, proposer slots)`,
    /// e.g. for the node's log or the Beacon API. `None` when not computed (yet).
    pub fn duties(&self, epoch: Epoch) -> Option<(Vec<AttesterDuty>, ProposerDuties)> {
        self.lock()
            .epochs
            .get(&epoch)
            .map(|d| (d.attesters.clone(), d.proposers.clone().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests;
