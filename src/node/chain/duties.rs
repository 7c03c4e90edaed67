//! The in-process validator client: the node's side of `validator::{preset}::BeaconNodeInterface`
//! ([`ChainNode`]) and the duty service driven by the slot clock ([`ValidatorDuties`]).

use super::gossip::publish;
use super::vc::{BeaconNodeInterface, ValidatorService};
use super::{spec, Chain, Duties};
use crate::consensus::primitives::*;
use crate::network::GossipKind;
use crate::node::clock::SlotPhase;
use crate::validator::BeaconNodeError;
use spec::transition::helpers::{
    compute_epoch_at_slot, compute_start_slot_at_epoch, get_committee_count_per_slot,
    get_current_epoch,
};
use spec::transition::slot::process_slots;
use spec::{
    Attestation, AttestationData, BLSSignature, BeaconBlock, BeaconState, Bytes32,
    SignedAggregateAndProof, SignedBeaconBlock, SignedContributionAndProof, SingleAttestation,
    SyncCommitteeContribution, SyncCommitteeMessage,
};
use ssz::Encode;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The chain as the validator service sees it (the standard validator endpoints' shapes).
#[derive(Clone)]
pub struct ChainNode(pub Arc<Chain>);

fn err(e: impl std::fmt::Display) -> BeaconNodeError {
    BeaconNodeError::new(e)
}

/// Logs the per-item failures of a batch the service handed in.
fn report(what: &str, results: &[Result<(), String>]) -> Result<(), BeaconNodeError> {
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if let Some(first) = failed.first() {
        tracing::warn!(
            "{} of {} {what} rejected: {first}",
            failed.len(),
            results.len()
        );
    }
    if !results.is_empty() && failed.len() == results.len() {
        return Err(BeaconNodeError::new(format!(
            "every {what} rejected: {}",
            failed[0]
        )));
    }
    Ok(())
}

impl BeaconNodeInterface for ChainNode {
    /// The head state, advanced to `epoch`'s start when it is more than one epoch behind
    /// (duties of an epoch need a state of that epoch or the one before).
    async fn head_state_for_duties(
        &self,
        epoch: Epoch,
    ) -> Result<Arc<BeaconState>, BeaconNodeError> {
        let snapshot = self.0.snapshot();
        let state = snapshot.head_state.clone();
        if get_current_epoch(&state).saturating_add(1) >= epoch {
            return Ok(state);
        }
        let config = self.0.config.clone();
        crate::node::blocking(self.0.single_thread, move || {
            let mut advanced = (*state).clone();
            let slot = compute_start_slot_at_epoch(epoch).map_err(err)?;
            process_slots(&mut advanced, &config, slot).map_err(err)?;
            Ok(Arc::new(advanced))
        })
        .await
        .map_err(err)?
    }

    async fn produce_block(
        &self,
        slot: Slot,
        randao_reveal: BLSSignature,
        graffiti: Bytes32,
    ) -> Result<BeaconBlock, BeaconNodeError> {
        self.0
            .produce_block(slot, randao_reveal, Some(graffiti.0))
            .await
            .map_err(err)
    }

    /// Imports the block, then publishes it (and records it as seen, so a copy from a peer is
    /// a duplicate).
    async fn publish_block(&self, block: SignedBeaconBlock) -> Result<(), BeaconNodeError> {
        let block = Arc::new(block);
        self.0.import_block(block.clone()).await.map_err(err)?;
        self.0
            .gossip_caches
            .record_block(block.message.proposer_index, block.message.slot);
        publish(
            &self.0,
            GossipKind::BeaconBlock,
            block.as_ssz_bytes(),
            false,
        )
        .await;
        Ok(())
    }

    async fn attestation_data(
        &self,
        slot: Slot,
        committee_index: CommitteeIndex,
    ) -> Result<AttestationData, BeaconNodeError> {
        self.0.attestation_data(slot, committee_index).map_err(err)
    }

    async fn publish_attestations(
        &self,
        attestations: Vec<SingleAttestation>,
    ) -> Result<(), BeaconNodeError> {
        let results = self
            .0
            .publish_attestations(attestations.clone())
            .await
            .map_err(err)?;
        // The verified ones go out on their subnet (`compute_subnet_for_attestation`); the node
        // joins that subnet, its committee's aggregator's.
        let state = self.0.snapshot().head_state.clone();
        for (attestation, result) in attestations.iter().zip(&results) {
            if result.is_err() {
                continue;
            }
            let data = &attestation.data;
            let epoch = compute_epoch_at_slot(data.slot);
            self.0
                .gossip_caches
                .record_attestation(attestation.attester_index, data.slot, epoch);
            let committees = get_committee_count_per_slot(&state, epoch);
            match spec::p2p::compute_subnet_for_attestation(
                &self.0.config,
                committees,
                data.slot,
                attestation.committee_index,
            ) {
                Ok(subnet) => {
                    publish(
                        &self.0,
                        GossipKind::BeaconAttestation(subnet),
                        attestation.as_ssz_bytes(),
                        true,
                    )
                    .await
                }
                Err(e) => tracing::warn!(error = %e, "attestation subnet"),
            }
        }
        report("attestations", &results)
    }

    async fn aggregate_attestation(
        &self,
        _slot: Slot,
        attestation_data_root: Root,
        committee_index: CommitteeIndex,
    ) -> Result<Option<Attestation>, BeaconNodeError> {
        Ok(self
            .0
            .aggregate_attestation(&attestation_data_root, committee_index))
    }

    async fn publish_aggregates(
        &self,
        aggregates: Vec<SignedAggregateAndProof>,
    ) -> Result<(), BeaconNodeError> {
        let results = self
            .0
            .publish_aggregates(aggregates.clone())
            .await
            .map_err(err)?;
        for (aggregate, result) in aggregates.iter().zip(&results) {
            if result.is_ok() {
                self.0.gossip_caches.record_aggregate(aggregate);
                publish(
                    &self.0,
                    GossipKind::BeaconAggregateAndProof,
                    aggregate.as_ssz_bytes(),
                    false,
                )
                .await;
            }
        }
        report("aggregates", &results)
    }

    async fn sync_committee_block_root(&self, _slot: Slot) -> Result<Root, BeaconNodeError> {
        Ok(self.0.snapshot().head_root)
    }

    async fn publish_sync_committee_messages(
        &self,
        messages: Vec<SyncCommitteeMessage>,
    ) -> Result<(), BeaconNodeError> {
        let results = self
            .0
            .publish_sync_committee_messages(messages.clone())
            .await
            .map_err(err)?;
        // Each on every subnet of the member's positions (altair validator.md
        // `compute_subnets_for_sync_committee`); the node joins those subnets.
        let state = self.0.snapshot().head_state.clone();
        for (message, result) in messages.iter().zip(&results) {
            if result.is_err() {
                continue;
            }
            let subnets =
                spec::p2p::compute_subnets_for_sync_committee(&state, message.validator_index)
                    .unwrap_or_default();
            for subnet in subnets {
                self.0.gossip_caches.record_sync_message(message, subnet);
                publish(
                    &self.0,
                    GossipKind::SyncCommittee(subnet),
                    message.as_ssz_bytes(),
                    true,
                )
                .await;
            }
        }
        report("sync committee messages", &results)
    }

    async fn sync_committee_contribution(
        &self,
        slot: Slot,
        subcommittee_index: u64,
        beacon_block_root: Root,
    ) -> Result<Option<SyncCommitteeContribution>, BeaconNodeError> {
        Ok(self
            .0
            .sync_committee_contribution(slot, subcommittee_index, beacon_block_root))
    }

    async fn publish_contributions(
        &self,
        contributions: Vec<SignedContributionAndProof>,
    ) -> Result<(), BeaconNodeError> {
        let results = self
            .0
            .publish_contributions(contributions.clone())
            .await
            .map_err(err)?;
        for (contribution, result) in contributions.iter().zip(&results) {
            if result.is_ok() {
                self.0.gossip_caches.record_contribution(contribution);
                publish(
                    &self.0,
                    GossipKind::SyncCommitteeContributionAndProof,
                    contribution.as_ssz_bytes(),
                    false,
                )
                .await;
            }
        }
        report("contributions", &results)
    }
}

/// The duty service, run by the clock at each instant of a slot.
pub struct ValidatorDuties {
    pub service: ValidatorService<ChainNode>,
}

impl Duties for ValidatorDuties {
    fn run(&self, slot: Slot, phase: SlotPhase) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let result = match phase {
                SlotPhase::Start => self.service.on_slot_start(slot).await,
                SlotPhase::OneThird => self.service.at_one_third(slot).await,
                SlotPhase::TwoThirds => self.service.at_two_thirds(slot).await,
            };
            match result {
                Ok(report) => tracing::debug!(slot, ?phase, ?report, "duties"),
                Err(e) => tracing::warn!(slot, ?phase, error = %e, "duties failed"),
            }
        })
    }
}
