//! The duty service against a test beacon node: a [`BeaconNodeInterface`] implementation over an
//! interop genesis state (advanced through empty slots by the test) that checks every signature
//! it receives against the spec's domains and the validators' public keys, and records what was
//! published. It is a test fixture: blocks are not imported (the fixture verifies signatures,
//! not payloads), so the chain stays at genesis while the slots advance.

use super::*;
use crate::consensus::bls::{self, PublicKey};
use crate::consensus::config::ChainConfig;
use crate::validator::interop::interop_keypairs;
use crate::validator::SlashingProtection;
use spec::transition::genesis::interop_genesis_state;
use spec::transition::helpers::{get_beacon_committee, get_beacon_proposer_index};
use spec::transition::slot::process_slots;
use spec::validator::{is_aggregator, is_assigned_to_sync_committee, sync_subcommittee_size};
use spec::{BeaconBlockBody, Checkpoint, SyncSubcommitteeSize, PRESET};
use ssz_types::{BitList, BitVector};
use std::path::PathBuf;

const VALIDATORS: u64 = 64;

#[derive(Default)]
struct Log {
    proposals: Vec<(Slot, ValidatorIndex)>,
    attestations: Vec<SingleAttestation>,
    aggregates: Vec<(Slot, ValidatorIndex)>,
    sync_messages: Vec<SyncCommitteeMessage>,
    contributions: usize,
}

struct TestNode {
    config: ChainConfig,
    /// When set, states handed out have this block root at every slot: a re-org of all history.
    rewrite_block_roots: Mutex<Option<Root>>,
    state: Mutex<BeaconState>,
    pubkeys: Vec<PublicKey>,
    /// Another value gives another view of the chain (other head roots, other block contents):
    /// what a restarted node on a different fork would ask its validators to sign.
    variant: u8,
    log: Mutex<Log>,
}

fn signature(bytes: &BLSSignature) -> Signature {
    Signature::from_bytes(bytes.as_slice()).expect("a valid signature encoding")
}

impl TestNode {
    fn new(variant: u8) -> Self {
        let config = ChainConfig::for_preset(PRESET.name);
        let pairs = interop_keypairs(0, VALIDATORS).expect("keys");
        let pubkey_bytes: Vec<[u8; 48]> = pairs.iter().map(|(_, pk)| pk.to_bytes()).collect();
        let state = interop_genesis_state(&config, &pubkey_bytes, 1_700_000_000).expect("genesis");
        TestNode {
            config,
            rewrite_block_roots: Mutex::new(None),
            state: Mutex::new(state),
            pubkeys: pairs.into_iter().map(|(_, pk)| pk).collect(),
            variant,
            log: Mutex::new(Log::default()),
        }
    }

    fn advance_to(&self, slot: Slot) {
        let mut state = self.state.lock().expect("state");
        if slot > state.slot {
            process_slots(&mut state, &self.config, slot).expect("process_slots");
        }
    }

    fn state(&self) -> BeaconState {
        self.state.lock().expect("state").clone()
    }

    fn head_root(&self, slot: Slot) -> Root {
        let mut bytes = [self.variant; 32];
        bytes[..8].copy_from_slice(&slot.to_le_bytes());
        Root::from(bytes)
    }

    fn pubkey(&self, index: ValidatorIndex) -> &PublicKey {
        &self.pubkeys[index as usize]
    }
}

impl BeaconNodeInterface for TestNode {
    async fn head_state_for_duties(
        &self,
        _epoch: Epoch,
    ) -> Result<Arc<BeaconState>, BeaconNodeError> {
        let mut state = self.state();
        if let Some(root) = *self.rewrite_block_roots.lock().expect("rewrite") {
            for i in 0..state.block_roots.len() {
                *state.block_roots.get_mut(i).expect("root") = root;
            }
        }
        Ok(Arc::new(state))
    }

    async fn produce_block(
        &self,
        slot: Slot,
        randao_reveal: BLSSignature,
        graffiti: Bytes32,
    ) -> Result<BeaconBlock, BeaconNodeError> {
        let state = self.state();
        assert_eq!(state.slot, slot);
        let proposer_index = get_beacon_proposer_index(&state).expect("proposer");
        assert!(
            bls::verify(
                self.pubkey(proposer_index),
                get_epoch_signature(&state, slot).as_slice(),
                &signature(&randao_reveal)
            ),
            "randao reveal of slot {slot}"
        );
        Ok(BeaconBlock {
            slot,
            proposer_index,
            parent_root: self.head_root(slot.saturating_sub(1)),
            state_root: Root::repeat_byte(self.variant),
            body: BeaconBlockBody {
                randao_reveal,
                graffiti,
                ..Default::default()
            },
        })
    }

    async fn publish_block(&self, block: SignedBeaconBlock) -> Result<(), BeaconNodeError> {
        let state = self.state();
        let root = get_block_signature(&state, &block.message);
        assert!(bls::verify(
            self.pubkey(block.message.proposer_index),
            root.as_slice(),
            &signature(&block.signature)
        ));
        self.log
            .lock()
            .expect("log")
            .proposals
            .push((block.message.slot, block.message.proposer_index));
        Ok(())
    }

    async fn attestation_data(
        &self,
        slot: Slot,
        _committee_index: CommitteeIndex,
    ) -> Result<AttestationData, BeaconNodeError> {
        let state = self.state();
        let epoch = compute_epoch_at_slot(slot);
        Ok(AttestationData {
            slot,
            index: 0,
            beacon_block_root: self.head_root(slot),
            source: state.current_justified_checkpoint,
            target: Checkpoint {
                epoch,
                root: self.head_root(compute_start_slot_at_epoch(epoch).expect("slot")),
            },
        })
    }

    async fn publish_attestations(
        &self,
        attestations: Vec<SingleAttestation>,
    ) -> Result<(), BeaconNodeError> {
        let state = self.state();
        for a in &attestations {
            let committee =
                get_beacon_committee(&state, a.data.slot, a.committee_index).expect("committee");
            assert!(
                committee.contains(&a.attester_index),
                "attester in its committee"
            );
            assert!(bls::verify(
                self.pubkey(a.attester_index),
                get_attestation_signature(&state, &a.data).as_slice(),
                &signature(&a.signature)
            ));
        }
        self.log
            .lock()
            .expect("log")
            .attestations
            .extend(attestations);
        Ok(())
    }

    async fn aggregate_attestation(
        &self,
        slot: Slot,
        attestation_data_root: Root,
        committee_index: CommitteeIndex,
    ) -> Result<Option<Attestation>, BeaconNodeError> {
        let state = self.state();
        let committee = get_beacon_committee(&state, slot, committee_index).expect("committee");
        let log = self.log.lock().expect("log");
        let mut bits = BitList::with_capacity(committee.len()).expect("bits");
        let mut signatures = Vec::new();
        let mut data = None;
        for a in log.attestations.iter().filter(|a| {
            a.data.slot == slot
                && a.committee_index == committee_index
                && a.data.tree_hash_root() == attestation_data_root
        }) {
            let position = committee
                .iter()
                .position(|v| *v == a.attester_index)
                .expect("member");
            if bits.get(position).expect("bit") {
                continue;
            }
            bits.set(position, true).expect("bit");
            signatures.push(signature(&a.signature));
            data = Some(a.data.clone());
        }
        let Some(data) = data else {
            return Ok(None);
        };
        let mut committee_bits = BitVector::new();
        committee_bits
            .set(committee_index as usize, true)
            .expect("committee bit");
        Ok(Some(Attestation {
            aggregation_bits: bits,
            data,
            signature: BLSSignature::from(
                bls::aggregate(&signatures).expect("aggregate").to_bytes(),
            ),
            committee_bits,
        }))
    }

    async fn publish_aggregates(
        &self,
        aggregates: Vec<SignedAggregateAndProof>,
    ) -> Result<(), BeaconNodeError> {
        let state = self.state();
        for signed in &aggregates {
            let message = &signed.message;
            let aggregator = message.aggregator_index;
            let data = &message.aggregate.data;
            let committee_index = message
                .aggregate
                .committee_bits
                .iter()
                .position(|b| b)
                .expect("a committee") as u64;
            assert!(bls::verify(
                self.pubkey(aggregator),
                get_slot_signature(&state, data.slot).as_slice(),
                &signature(&message.selection_proof)
            ));
            assert!(
                is_aggregator(&state, data.slot, committee_index, &message.selection_proof)
                    .expect("is_aggregator")
            );
            assert!(bls::verify(
                self.pubkey(aggregator),
                get_aggregate_and_proof_signature(&state, message).as_slice(),
                &signature(&signed.signature)
            ));
            let committee = get_beacon_committee(&state, data.slot, committee_index).expect("c");
            assert!(committee.contains(&aggregator));
            let participants: Vec<&PublicKey> = committee
                .iter()
                .enumerate()
                .filter(|(i, _)| message.aggregate.aggregation_bits.get(*i).unwrap_or(false))
                .map(|(_, v)| self.pubkey(*v))
                .collect();
            assert!(bls::fast_aggregate_verify(
                &participants,
                get_attestation_signature(&state, data).as_slice(),
                &signature(&message.aggregate.signature)
            ));
            self.log
                .lock()
                .expect("log")
                .aggregates
                .push((data.slot, aggregator));
        }
        Ok(())
    }

    async fn sync_committee_block_root(&self, slot: Slot) -> Result<Root, BeaconNodeError> {
        Ok(self.head_root(slot))
    }

    async fn publish_sync_committee_messages(
        &self,
        messages: Vec<SyncCommitteeMessage>,
    ) -> Result<(), BeaconNodeError> {
        let state = self.state();
        for m in &messages {
            assert!(is_assigned_to_sync_committee(
                &state,
                compute_epoch_at_slot(m.slot + 1),
                m.validator_index
            )
            .expect("assigned"));
            assert!(bls::verify(
                self.pubkey(m.validator_index),
                get_sync_committee_message_signing_root(&state, m.slot, m.beacon_block_root)
                    .as_slice(),
                &signature(&m.signature)
            ));
        }
        self.log.lock().expect("log").sync_messages.extend(messages);
        Ok(())
    }

    async fn sync_committee_contribution(
        &self,
        slot: Slot,
        subcommittee_index: u64,
        beacon_block_root: Root,
    ) -> Result<Option<SyncCommitteeContribution>, BeaconNodeError> {
        let state = self.state();
        let size = sync_subcommittee_size();
        let log = self.log.lock().expect("log");
        let mut bits = BitVector::<SyncSubcommitteeSize>::new();
        let mut signatures = Vec::new();
        for m in log
            .sync_messages
            .iter()
            .filter(|m| m.slot == slot && m.beacon_block_root == beacon_block_root)
        {
            let pubkey = state
                .validators
                .get(m.validator_index as usize)
                .expect("v")
                .pubkey;
            for (position, member) in state.current_sync_committee.pubkeys.iter().enumerate() {
                let position = position as u64;
                if *member == pubkey && position / size == subcommittee_index {
                    bits.set((position % size) as usize, true).expect("bit");
                    signatures.push(signature(&m.signature));
                }
            }
        }
        if signatures.is_empty() {
            return Ok(None);
        }
        Ok(Some(SyncCommitteeContribution {
            slot,
            beacon_block_root,
            subcommittee_index,
            aggregation_bits: bits,
            signature: BLSSignature::from(bls::aggregate(&signatures).expect("agg").to_bytes()),
        }))
    }

    async fn publish_contributions(
        &self,
        contributions: Vec<SignedContributionAndProof>,
    ) -> Result<(), BeaconNodeError> {
        let state = self.state();
        for signed in &contributions {
            let message = &signed.message;
            let aggregator = self.pubkey(message.aggregator_index);
            assert!(bls::verify(
                aggregator,
                get_sync_committee_selection_proof(
                    &state,
                    message.contribution.slot,
                    message.contribution.subcommittee_index
                )
                .as_slice(),
                &signature(&message.selection_proof)
            ));
            assert!(is_sync_committee_aggregator(&message.selection_proof));
            assert!(bls::verify(
                aggregator,
                get_contribution_and_proof_signature(&state, message).as_slice(),
                &signature(&signed.signature)
            ));
        }
        self.log.lock().expect("log").contributions += contributions.len();
        Ok(())
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "ember-val-{}-{name}-{}",
            PRESET.name.as_str(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn service(node: &Arc<TestNode>, dir: &TempDir) -> ValidatorService<TestNode> {
    let gvr = node.state().genesis_validators_root;
    let protection = SlashingProtection::open(&dir.0, gvr).expect("slashing protection");
    let store =
        ValidatorStore::interop("0..64".parse().expect("range"), protection).expect("store");
    ValidatorService::new(
        Arc::clone(node),
        Arc::new(store),
        Bytes32::repeat_byte(0xee),
    )
}

/// Totals of running the three slot phases over `slots`.
#[derive(Debug, Default)]
struct Totals {
    proposals: usize,
    proposals_refused: usize,
    attestations: usize,
    attestations_refused: usize,
    aggregates: usize,
    sync_messages: usize,
    contributions: usize,
}

fn run(
    service: &ValidatorService<TestNode>,
    node: &TestNode,
    slots: std::ops::Range<Slot>,
) -> Totals {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut totals = Totals::default();
        for slot in slots {
            node.advance_to(slot);
            match service.on_slot_start(slot).await {
                Ok(report) => totals.proposals += usize::from(report.proposed.is_some()),
                Err(ServiceError::NotSafe(_)) => totals.proposals_refused += 1,
                Err(e) => panic!("slot {slot}: {e}"),
            }
            let report = service.at_one_third(slot).await.expect("attest");
            totals.attestations += report.attestations;
            totals.attestations_refused += report.attestations_refused;
            totals.sync_messages += report.sync_messages;
            let report = service.at_two_thirds(slot).await.expect("aggregate");
            totals.aggregates += report.aggregates;
            totals.contributions += report.contributions;
        }
        totals
    })
}

/// Over the first epochs of a 64-validator interop chain: every validator attests exactly once
/// per epoch, every slot but genesis gets its proposer's block, aggregators aggregate, the sync
/// committee signs every slot — all signatures checked by the test node. After a restart on the
/// same database, nothing conflicting is signed; identical messages may be signed again.
#[test]
fn one_validator_client_over_two_epochs_and_a_restart() {
    // Mainnet's 32-slot epochs and 512-member sync committee make the same run 4x longer: one
    // epoch there.
    let minimal = PRESET.slots_per_epoch == 8;
    let epochs = if minimal { 2 } else { 1 };
    let slots = 0..epochs * PRESET.slots_per_epoch;
    // The restarts replay the whole run on minimal, the first slots on mainnet.
    let replay = if minimal { slots.clone() } else { 0..4 };
    let dir = TempDir::new("service");
    let node = Arc::new(TestNode::new(0));
    let first = service(&node, &dir);
    let totals = run(&first, &node, slots.clone());

    let log = node.log.lock().expect("log");
    let genesis_state = TestNode::new(0).state();
    // Proposals: one per slot after genesis, by the lookahead's proposer.
    let expected: Vec<(Slot, ValidatorIndex)> = (0..epochs)
        .flat_map(|e| get_proposer_duties(&genesis_state, e).expect("proposers"))
        .filter(|(slot, _)| *slot != GENESIS_SLOT)
        .collect();
    assert_eq!(log.proposals, expected);
    assert_eq!(totals.proposals, expected.len());
    // Attestations: each validator exactly once per epoch.
    for epoch in 0..epochs {
        let mut attesters: Vec<ValidatorIndex> = log
            .attestations
            .iter()
            .filter(|a| a.data.target.epoch == epoch)
            .map(|a| a.attester_index)
            .collect();
        attesters.sort_unstable();
        assert_eq!(
            attesters,
            (0..VALIDATORS).collect::<Vec<_>>(),
            "epoch {epoch}"
        );
    }
    assert_eq!(totals.attestations as u64, epochs * VALIDATORS);
    assert_eq!(totals.attestations_refused, 0);
    // Aggregates: at least one per slot (small committees: every member is selected).
    assert!(totals.aggregates as u64 >= epochs * PRESET.slots_per_epoch);
    assert_eq!(totals.aggregates, log.aggregates.len());
    // Sync committee: every member signs every slot; contributions every slot.
    let members =
        get_sync_committee_duties(&genesis_state, 0, &(0..VALIDATORS).collect::<Vec<_>>())
            .expect("sync duties")
            .len();
    assert_eq!(
        totals.sync_messages as u64,
        members as u64 * epochs * PRESET.slots_per_epoch
    );
    assert!(totals.contributions as u64 >= epochs * PRESET.slots_per_epoch);
    assert_eq!(totals.contributions, log.contributions);
    let replayed_proposals = expected.iter().filter(|(s, _)| replay.contains(s)).count();
    let replayed_attestations = log
        .attestations
        .iter()
        .filter(|a| replay.contains(&a.data.slot))
        .count();
    drop(log);
    // The duty cache holds at most the current and the next epoch.
    assert!(first.lock().epochs.len() <= 2);
    drop(first);

    // Restart on the same database, on another view of the chain: every block and attestation
    // of those slots conflicts with a signed one and is refused.
    let other = Arc::new(TestNode::new(1));
    let second = service(&other, &dir);
    let totals = run(&second, &other, replay.clone());
    assert_eq!(totals.proposals, 0);
    assert_eq!(totals.proposals_refused, replayed_proposals);
    assert_eq!(totals.attestations, 0);
    assert_eq!(totals.attestations_refused, replayed_attestations);
    assert!(other.log.lock().expect("log").proposals.is_empty());
    assert!(other.log.lock().expect("log").attestations.is_empty());
    drop(second);

    // The same view again: identical messages are re-signed (not slashable).
    let same = Arc::new(TestNode::new(0));
    let third = service(&same, &dir);
    let totals = run(&third, &same, replay);
    assert_eq!(totals.proposals, replayed_proposals);
    assert_eq!(totals.attestations, replayed_attestations);
    assert_eq!(totals.attestations_refused, 0);
}

/// Each phase runs once per slot; duties follow a change of the dependent root.
#[test]
fn phases_run_once_per_slot_and_duties_follow_the_dependent_root() {
    let dir = TempDir::new("phases");
    let node = Arc::new(TestNode::new(0));
    let service = service(&node, &dir);
    let slot = PRESET.slots_per_epoch + 1;
    node.advance_to(slot);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let first = service.at_one_third(slot).await.expect("attest");
        assert!(first.attestations > 0);
        // A second call for the same (or an older) slot does nothing.
        assert_eq!(
            service.at_one_third(slot).await.expect("again"),
            DutyReport::default()
        );
        assert_eq!(
            service.at_one_third(slot - 1).await.expect("older"),
            DutyReport::default()
        );
        let root_before = service
            .lock()
            .epochs
            .get(&2)
            .expect("next epoch")
            .dependent_root;
        // The chain below the dependent slot changes: the next call recomputes.
        *node.rewrite_block_roots.lock().expect("rewrite") = Some(Root::repeat_byte(0x5a));
        node.advance_to(slot + 1);
        let report = service.on_slot_start(slot + 1).await.expect("propose");
        assert!(report.proposed.is_some());
        assert_eq!(
            service.on_slot_start(slot + 1).await.expect("again"),
            DutyReport::default()
        );
        let inner = service.lock();
        assert_eq!(
            inner.epochs.get(&2).expect("next").dependent_root,
            Root::repeat_byte(0x5a)
        );
        assert_ne!(root_before, Root::repeat_byte(0x5a));
        assert_eq!(inner.epochs.len(), 2);
    });
}

/// The node runs the phases on a multi-thread runtime: their futures must be `Send`.
#[test]
fn phase_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = TempDir::new("send");
    let node = Arc::new(TestNode::new(0));
    let service = service(&node, &dir);
    assert_send(&service.on_slot_start(1));
    assert_send(&service.at_one_third(1));
    assert_send(&service.at_two_thirds(1));
}
