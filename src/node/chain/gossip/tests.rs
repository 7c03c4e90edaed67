//! Gossip validation on a real chain (store, writer, fork choice) started from an interop
//! genesis, with messages signed by the interop keys.

use super::*;
use crate::consensus::bls::SecretKey;
use crate::network::MessageAcceptance;
use spec::transition::genesis::interop_genesis_state;
use spec::transition::helpers::{compute_signing_root, get_domain};
use spec::{AttestationData, BeaconBlock, Checkpoint, SignedBeaconBlockHeader};
use ssz::Encode;
use std::path::PathBuf;

const VALIDATORS: u64 = 64;

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    bn: crate::node::BnArgs,
}

struct TestChain {
    chain: Arc<Chain>,
    keys: Vec<SecretKey>,
    genesis: Root,
    dir: PathBuf,
}

impl Drop for TestChain {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestChain {
    fn new() -> Self {
        use clap::Parser;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "ember-gossip-{}-{}-{n}",
            spec::PRESET.name,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = ChainConfig::for_preset(spec::PRESET.name).with_forks_at_genesis();
        let pairs = crate::validator::interop::interop_keypairs(0, VALIDATORS).unwrap();
        let pubkeys: Vec<[u8; 48]> = pairs.iter().map(|(_, pk)| pk.to_bytes()).collect();
        // Genesis three slots ago (the writer's clock); the tests pass their own time.
        let genesis_time = now_ms() / 1000 - 3 * config.slot_duration_ms / 1000;
        let state = interop_genesis_state(&config, &pubkeys, genesis_time).unwrap();
        let genesis_path = dir.join("genesis.ssz");
        std::fs::write(&genesis_path, state.as_ssz_bytes()).unwrap();
        let jwt = dir.join("jwt.hex");
        std::fs::write(&jwt, "ab".repeat(32)).unwrap();
        let cli = Cli::parse_from([
            "bn",
            "--datadir",
            dir.to_str().unwrap(),
            "--preset",
            spec::PRESET.name.as_str(),
            "--genesis-state",
            genesis_path.to_str().unwrap(),
            "--execution-endpoint",
            "http://127.0.0.1:9",
            "--execution-jwt",
            jwt.to_str().unwrap(),
        ]);
        let budget = MemoryBudget::from_bytes_unchecked(256 << 20);
        let chain = super::super::start_chain(&cli.bn, &budget, config).unwrap();
        let genesis = chain.snapshot().head_root;
        TestChain {
            chain,
            keys: pairs.into_iter().map(|(sk, _)| sk).collect(),
            genesis,
            dir,
        }
    }

    fn config(&self) -> &ChainConfig {
        &self.chain.config
    }

    fn state(&self) -> Arc<BeaconState> {
        self.chain.snapshot().head_state.clone()
    }

    /// The wall clock 100 ms into `slot`.
    fn time_at(&self, slot: Slot) -> u64 {
        self.chain.snapshot().genesis_time * 1000 + slot * self.config().slot_duration_ms + 100
    }

    fn sign(&self, index: ValidatorIndex, root: Root) -> spec::BLSSignature {
        spec::BLSSignature::from(self.keys[index as usize].sign(root.as_slice()).to_bytes())
    }

    fn data(&self, slot: Slot) -> AttestationData {
        AttestationData {
            slot,
            index: 0,
            beacon_block_root: self.genesis,
            source: self.state().current_justified_checkpoint.clone(),
            target: Checkpoint {
                epoch: compute_epoch_at_slot(slot),
                root: self.genesis,
            },
        }
    }

    /// A correctly signed single attestation of committee `c`'s member at `position`, and its
    /// subnet.
    fn attestation(&self, slot: Slot, c: u64, position: usize) -> (SingleAttestation, u64) {
        let state = self.state();
        let data = self.data(slot);
        let committee = get_beacon_committee(&state, slot, c).unwrap();
        let attester = committee[position];
        let root = spec::validator::get_attestation_signature(&state, &data);
        let single = SingleAttestation {
            committee_index: c,
            attester_index: attester,
            data,
            signature: self.sign(attester, root),
        };
        let count = get_committee_count_per_slot(&state, compute_epoch_at_slot(slot));
        let subnet =
            spec::p2p::compute_subnet_for_attestation(self.config(), count, slot, c).unwrap();
        (single, subnet)
    }

    /// A block at `slot` on `parent` by the expected proposer, signed with `signer`'s key
    /// (the proposer's when `None`).
    fn block(
        &self,
        slot: Slot,
        parent: Root,
        graffiti: u8,
        signer: Option<ValidatorIndex>,
    ) -> SignedBeaconBlock {
        let mut state = (*self.state()).clone();
        process_slots(&mut state, self.config(), slot).unwrap();
        let proposer = get_beacon_proposer_index(&state).unwrap();
        let mut block = BeaconBlock {
            slot,
            proposer_index: proposer,
            parent_root: parent,
            ..Default::default()
        };
        block.body.graffiti = Root::repeat_byte(graffiti);
        block.body.execution_payload.timestamp =
            compute_time_at_slot(&state, self.config(), slot).unwrap();
        let root = spec::validator::get_block_signature(&state, &block);
        let signature = self.sign(signer.unwrap_or(proposer), root);
        SignedBeaconBlock {
            message: block,
            signature,
        }
    }

    async fn validate(
        &self,
        messages: Vec<(GossipKind, Vec<u8>)>,
        slot: Slot,
    ) -> Vec<GossipOutcome> {
        validate_gossip_batch_at(
            &self.chain,
            &self.chain.gossip_caches,
            messages,
            self.time_at(slot),
        )
        .await
    }
}

fn is_accept(o: &GossipOutcome) -> bool {
    matches!(o, GossipOutcome::Accept)
}

fn is_ignore(o: &GossipOutcome) -> bool {
    matches!(o, GossipOutcome::Ignore(_))
}

fn is_reject(o: &GossipOutcome, text: &str) -> bool {
    matches!(o, GossipOutcome::Reject(reason, _) if reason.contains(text))
}

#[tokio::test]
async fn attestations_accept_dedupe_and_reject() {
    let t = TestChain::new();
    let (a, subnet) = t.attestation(1, 0, 0);
    let (b, subnet_b) = t.attestation(1, 0, 1);
    let kind = GossipKind::BeaconAttestation(subnet);
    // Valid, then the same again in the same batch: one Accept, one Ignore.
    let out = t
        .validate(vec![(kind, a.as_ssz_bytes()), (kind, a.as_ssz_bytes())], 2)
        .await;
    assert!(is_accept(&out[0]), "{out:?}");
    assert!(is_ignore(&out[1]), "{out:?}");
    assert_eq!(out[0].acceptance(), MessageAcceptance::Accept);
    // It was pooled.
    assert_eq!(lock(&t.chain.attestation_pool).attesters_at(1), 1);
    // Duplicate in a later batch: Ignore.
    let out = t.validate(vec![(kind, a.as_ssz_bytes())], 2).await;
    assert!(is_ignore(&out[0]), "{out:?}");
    // Wrong subnet: Reject.
    let wrong = GossipKind::BeaconAttestation((subnet_b + 1) % 64);
    let out = t.validate(vec![(wrong, b.as_ssz_bytes())], 2).await;
    assert!(is_reject(&out[0], "wrong subnet"), "{out:?}");
    // Bad signature beside a good one: the good one passes, the bad one is named.
    let mut bad = b.clone();
    bad.signature = t.sign(0, Root::repeat_byte(1));
    let (c, subnet_c) = t.attestation(2, 0, 0);
    let out = t
        .validate(
            vec![
                (GossipKind::BeaconAttestation(subnet_b), bad.as_ssz_bytes()),
                (GossipKind::BeaconAttestation(subnet_c), c.as_ssz_bytes()),
            ],
            2,
        )
        .await;
    assert!(is_reject(&out[0], "signature"), "{out:?}");
    assert!(is_accept(&out[1]), "{out:?}");
    // The rejected one was not recorded: the valid copy is still accepted.
    let out = t
        .validate(
            vec![(GossipKind::BeaconAttestation(subnet_b), b.as_ssz_bytes())],
            2,
        )
        .await;
    assert!(is_accept(&out[0]), "{out:?}");
    // From a future slot: Ignore; a slot two epochs back: Ignore.
    let (future, subnet_f) = t.attestation(5, 0, 0);
    let out = t
        .validate(
            vec![(
                GossipKind::BeaconAttestation(subnet_f),
                future.as_ssz_bytes(),
            )],
            2,
        )
        .await;
    assert!(is_ignore(&out[0]), "{out:?}");
    let late = t.time_at(1) + 3 * spec::PRESET.slots_per_epoch * t.config().slot_duration_ms;
    let (old, subnet_o) = t.attestation(2, 0, 1);
    let out = validate_gossip_batch_at(
        &t.chain,
        &t.chain.gossip_caches,
        vec![(GossipKind::BeaconAttestation(subnet_o), old.as_ssz_bytes())],
        late,
    )
    .await;
    assert!(is_ignore(&out[0]), "{out:?}");
    // Data index non-zero, committee index out of range: Reject.
    let (mut odd, subnet_odd) = t.attestation(2, 0, 1);
    odd.data.index = 1;
    let out = t
        .validate(
            vec![(
                GossipKind::BeaconAttestation(subnet_odd),
                odd.as_ssz_bytes(),
            )],
            2,
        )
        .await;
    assert!(is_reject(&out[0], "index is non-zero"), "{out:?}");
    let (mut far, subnet_far) = t.attestation(2, 0, 1);
    far.committee_index = 63;
    let out = t
        .validate(
            vec![(
                GossipKind::BeaconAttestation(subnet_far),
                far.as_ssz_bytes(),
            )],
            2,
        )
        .await;
    assert!(
        is_reject(&out[0], "committee index out of range"),
        "{out:?}"
    );
    // Attester not in the committee: Reject.
    let (mut stranger, subnet_s) = t.attestation(2, 0, 1);
    let committee = get_beacon_committee(&t.state(), 2, 0).unwrap();
    stranger.attester_index = (0..VALIDATORS).find(|v| !committee.contains(v)).unwrap();
    let out = t
        .validate(
            vec![(
                GossipKind::BeaconAttestation(subnet_s),
                stranger.as_ssz_bytes(),
            )],
            2,
        )
        .await;
    assert!(matches!(out[0], GossipOutcome::Reject(..)), "{out:?}");
    // A vote for an unknown block: UnknownBlock (IGNORE) with the root to look up.
    let (mut unknown, subnet_u) = t.attestation(2, 0, 1);
    unknown.data.beacon_block_root = Root::repeat_byte(0x42);
    let root = spec::validator::get_attestation_signature(&t.state(), &unknown.data);
    unknown.signature = t.sign(unknown.attester_index, root);
    let out = t
        .validate(
            vec![(
                GossipKind::BeaconAttestation(subnet_u),
                unknown.as_ssz_bytes(),
            )],
            2,
        )
        .await;
    assert!(
        matches!(out[0], GossipOutcome::UnknownBlock(r) if r == Root::repeat_byte(0x42)),
        "{out:?}"
    );
    assert_eq!(out[0].acceptance(), MessageAcceptance::Ignore);
    // Wrong target root for the vote: Reject.
    let (mut target, subnet_t) = t.attestation(2, 0, 1);
    target.data.target.root = Root::repeat_byte(0x43);
    let root = spec::validator::get_attestation_signature(&t.state(), &target.data);
    target.signature = t.sign(target.attester_index, root);
    let out = t
        .validate(
            vec![(
                GossipKind::BeaconAttestation(subnet_t),
                target.as_ssz_bytes(),
            )],
            2,
        )
        .await;
    assert!(is_reject(&out[0], "target block"), "{out:?}");
}

#[tokio::test]
async fn undecodable_bytes_are_rejected_on_every_topic() {
    let t = TestChain::new();
    let kinds = [
        GossipKind::BeaconBlock,
        GossipKind::BeaconAggregateAndProof,
        GossipKind::BeaconAttestation(0),
        GossipKind::VoluntaryExit,
        GossipKind::ProposerSlashing,
        GossipKind::AttesterSlashing,
        GossipKind::SyncCommitteeContributionAndProof,
        GossipKind::SyncCommittee(0),
        GossipKind::BlsToExecutionChange,
        GossipKind::DataColumnSidecar(0),
    ];
    let out = t
        .validate(kinds.iter().map(|k| (*k, vec![1, 2, 3])).collect(), 2)
        .await;
    assert_eq!(out.len(), kinds.len());
    for o in &out {
        assert!(is_reject(o, "SSZ"), "{o:?}");
        assert_eq!(o.acceptance(), MessageAcceptance::Reject);
    }
    // Empty bytes too.
    let out = t.validate(vec![(GossipKind::BeaconBlock, vec![])], 2).await;
    assert!(is_reject(&out[0], "SSZ"), "{out:?}");
}

#[tokio::test]
async fn blocks_accept_unknown_parent_bad_signature_and_duplicates() {
    let t = TestChain::new();
    let kind = GossipKind::BeaconBlock;
    // Unknown parent (signature valid): UnknownParent, not recorded as seen.
    let orphan = t.block(1, Root::repeat_byte(9), 0, None);
    let out = t.validate(vec![(kind, orphan.as_ssz_bytes())], 1).await;
    assert!(matches!(out[0], GossipOutcome::UnknownParent(_)), "{out:?}");
    assert_eq!(out[0].acceptance(), MessageAcceptance::Ignore);
    // Bad proposer signature: Reject.
    let proposer = t.block(1, t.genesis, 1, None).message.proposer_index;
    let forged = t.block(1, t.genesis, 1, Some((proposer + 1) % VALIDATORS));
    let out = t.validate(vec![(kind, forged.as_ssz_bytes())], 1).await;
    assert!(is_reject(&out[0], "proposer signature"), "{out:?}");
    // Valid: AcceptBlock; a second block of that proposer and slot: Ignore.
    let good = t.block(1, t.genesis, 2, None);
    let second = t.block(1, t.genesis, 3, None);
    let out = t
        .validate(
            vec![(kind, good.as_ssz_bytes()), (kind, second.as_ssz_bytes())],
            1,
        )
        .await;
    assert!(
        matches!(&out[0], GossipOutcome::AcceptBlock(b) if **b == good),
        "{out:?}"
    );
    assert!(is_ignore(&out[1]), "{out:?}");
    // Future slot: Ignore.
    let future = t.block(4, t.genesis, 4, None);
    let out = t.validate(vec![(kind, future.as_ssz_bytes())], 1).await;
    assert!(is_ignore(&out[0]), "{out:?}");
    // Wrong payload timestamp: Reject.
    let mut late = t.block(2, t.genesis, 5, None);
    late.message.body.execution_payload.timestamp += 1;
    let mut state = (*t.state()).clone();
    process_slots(&mut state, t.config(), 2).unwrap();
    let root = spec::validator::get_block_signature(&state, &late.message);
    late.signature = t.sign(late.message.proposer_index, root);
    let out = t.validate(vec![(kind, late.as_ssz_bytes())], 2).await;
    assert!(is_reject(&out[0], "timestamp"), "{out:?}");
    // Not the expected proposer (validly signed by the one it names): Reject.
    let mut other = t.block(2, t.genesis, 6, None);
    other.message.proposer_index = (other.message.proposer_index + 1) % VALIDATORS;
    let root = spec::validator::get_block_signature(&state, &other.message);
    other.signature = t.sign(other.message.proposer_index, root);
    let out = t.validate(vec![(kind, other.as_ssz_bytes())], 2).await;
    assert!(is_reject(&out[0], "expected proposer"), "{out:?}");
    // Proposer index beyond the registry: Reject.
    let mut nobody = t.block(2, t.genesis, 7, None);
    nobody.message.proposer_index = 10_000;
    let out = t.validate(vec![(kind, nobody.as_ssz_bytes())], 2).await;
    assert!(is_reject(&out[0], "out of range"), "{out:?}");
}

impl TestChain {
    /// The aggregate of every member of committee 0 at `slot`, and the committee.
    fn full_aggregate(&self, slot: Slot) -> (Attestation, Vec<ValidatorIndex>) {
        let state = self.state();
        let data = self.data(slot);
        let committee = get_beacon_committee(&state, slot, 0).unwrap();
        let root = spec::validator::get_attestation_signature(&state, &data);
        let sigs: Vec<bls::Signature> = committee
            .iter()
            .map(|v| self.keys[*v as usize].sign(root.as_slice()))
            .collect();
        let mut bits = spec::AggregationBits::with_capacity(committee.len()).unwrap();
        for i in 0..committee.len() {
            bits.set(i, true).unwrap();
        }
        let mut committee_bits = ssz_types::BitVector::new();
        committee_bits.set(0, true).unwrap();
        let aggregate = Attestation {
            aggregation_bits: bits,
            data,
            signature: spec::BLSSignature::from(bls::aggregate(&sigs).unwrap().to_bytes()),
            committee_bits,
        };
        (aggregate, committee)
    }

    /// `aggregate` as `aggregator`'s signed aggregate and proof.
    fn signed_aggregate(
        &self,
        aggregate: &Attestation,
        aggregator: ValidatorIndex,
    ) -> SignedAggregateAndProof {
        let state = self.state();
        let slot = aggregate.data.slot;
        let message = spec::AggregateAndProof {
            aggregator_index: aggregator,
            aggregate: aggregate.clone(),
            selection_proof: self.sign(
                aggregator,
                spec::validator::get_slot_signature(&state, slot),
            ),
        };
        let root = spec::validator::get_aggregate_and_proof_signature(&state, &message);
        SignedAggregateAndProof {
            signature: self.sign(aggregator, root),
            message,
        }
    }
}

#[tokio::test]
async fn aggregates_accept_and_dedupe() {
    let t = TestChain::new();
    let kind = GossipKind::BeaconAggregateAndProof;
    // Committees this small select every member as aggregator.
    let (aggregate, committee) = t.full_aggregate(1);
    let first = t.signed_aggregate(&aggregate, committee[0]);
    let out = t.validate(vec![(kind, first.as_ssz_bytes())], 2).await;
    assert!(is_accept(&out[0]), "{out:?}");
    // Pooled whole.
    assert_eq!(
        lock(&t.chain.attestation_pool).attesters_at(1),
        committee.len()
    );
    // The same bits from another aggregator: already seen for this data (IGNORE).
    let out = t
        .validate(
            vec![(
                kind,
                t.signed_aggregate(&aggregate, committee[1]).as_ssz_bytes(),
            )],
            2,
        )
        .await;
    assert!(is_ignore(&out[0]), "{out:?}");
    // Fresh data (slot 2): an aggregator outside the committee is rejected.
    let (aggregate, committee) = t.full_aggregate(2);
    let outsider = (0..VALIDATORS).find(|v| !committee.contains(v)).unwrap();
    let out = t
        .validate(
            vec![(
                kind,
                t.signed_aggregate(&aggregate, outsider).as_ssz_bytes(),
            )],
            2,
        )
        .await;
    assert!(is_reject(&out[0], "not in committee"), "{out:?}");
    // A forged aggregator signature: Reject; the valid one after it is still first.
    let mut forged = t.signed_aggregate(&aggregate, committee[0]);
    forged.signature = t.sign(committee[0], Root::repeat_byte(3));
    let valid = t.signed_aggregate(&aggregate, committee[0]);
    let out = t
        .validate(
            vec![(kind, forged.as_ssz_bytes()), (kind, valid.as_ssz_bytes())],
            2,
        )
        .await;
    assert!(is_reject(&out[0], "signature"), "{out:?}");
    assert!(is_accept(&out[1]), "{out:?}");
    // No participants: Reject; two committee bits: Reject.
    let (mut empty, committee) = t.full_aggregate(3);
    empty.aggregation_bits = spec::AggregationBits::with_capacity(committee.len()).unwrap();
    let out = t
        .validate(
            vec![(
                kind,
                t.signed_aggregate(&empty, committee[0]).as_ssz_bytes(),
            )],
            3,
        )
        .await;
    assert!(is_reject(&out[0], "no participants"), "{out:?}");
    let (mut two, committee) = t.full_aggregate(3);
    two.committee_bits.set(1, true).unwrap();
    let out = t
        .validate(
            vec![(kind, t.signed_aggregate(&two, committee[0]).as_ssz_bytes())],
            3,
        )
        .await;
    assert!(is_reject(&out[0], "exactly one committee"), "{out:?}");
}

#[tokio::test]
async fn sync_committee_messages_by_subnet() {
    let t = TestChain::new();
    let state = t.state();
    let committee = spec::transition::signatures::get_sync_committee_indices(&state).unwrap();
    let member = committee[0];
    let subnets = spec::p2p::compute_subnets_for_sync_committee(&state, member).unwrap();
    let subnet = *subnets.iter().next().unwrap();
    let root = spec::validator::get_sync_committee_message_signing_root(&state, 2, t.genesis);
    let message = SyncCommitteeMessage {
        slot: 2,
        beacon_block_root: t.genesis,
        validator_index: member,
        signature: t.sign(member, root),
    };
    let out = t
        .validate(
            vec![(GossipKind::SyncCommittee(subnet), message.as_ssz_bytes())],
            2,
        )
        .await;
    assert!(is_accept(&out[0]), "{out:?}");
    let out = t
        .validate(
            vec![(GossipKind::SyncCommittee(subnet), message.as_ssz_bytes())],
            2,
        )
        .await;
    assert!(is_ignore(&out[0]), "{out:?}");
    // A subnet the member is not on (if any): Reject.
    if let Some(wrong) = (0..4).find(|s| !subnets.contains(s)) {
        let out = t
            .validate(
                vec![(GossipKind::SyncCommittee(wrong), message.as_ssz_bytes())],
                2,
            )
            .await;
        assert!(is_reject(&out[0], "subnet_id"), "{out:?}");
    }
    // Not the current slot: Ignore.
    let out = t
        .validate(
            vec![(GossipKind::SyncCommittee(subnet), message.as_ssz_bytes())],
            4,
        )
        .await;
    assert!(is_ignore(&out[0]), "{out:?}");
}

#[tokio::test]
async fn operations_and_columns() {
    let t = TestChain::new();
    let state = t.state();
    // A voluntary exit of a validator not active for SHARD_COMMITTEE_PERIOD: Reject.
    let exit = spec::VoluntaryExit {
        epoch: 0,
        validator_index: 5,
    };
    let signed = SignedVoluntaryExit {
        message: exit,
        signature: t.sign(5, Root::ZERO),
    };
    let out = t
        .validate(vec![(GossipKind::VoluntaryExit, signed.as_ssz_bytes())], 2)
        .await;
    assert!(is_reject(&out[0], "active long enough"), "{out:?}");
    // A proposer slashing: two signed headers of proposer 3 at slot 1.
    let header = |graffiti: u8| {
        let message = spec::BeaconBlockHeader {
            slot: 1,
            proposer_index: 3,
            parent_root: t.genesis,
            state_root: Root::repeat_byte(graffiti),
            body_root: Root::ZERO,
        };
        let domain = get_domain(&state, DOMAIN_BEACON_PROPOSER, Some(0));
        let root = compute_signing_root(&message, domain);
        SignedBeaconBlockHeader {
            signature: t.sign(3, root),
            message,
        }
    };
    let same = ProposerSlashing {
        signed_header_1: header(1),
        signed_header_2: header(1),
    };
    let out = t
        .validate(vec![(GossipKind::ProposerSlashing, same.as_ssz_bytes())], 2)
        .await;
    assert!(is_reject(&out[0], "not different"), "{out:?}");
    let slashing = ProposerSlashing {
        signed_header_1: header(1),
        signed_header_2: header(2),
    };
    let out = t
        .validate(
            vec![(GossipKind::ProposerSlashing, slashing.as_ssz_bytes())],
            2,
        )
        .await;
    assert!(is_accept(&out[0]), "{out:?}");
    assert_eq!(lock(&t.chain.operation_pool).proposer_slashings.len(), 1);
    let out = t
        .validate(
            vec![(GossipKind::ProposerSlashing, slashing.as_ssz_bytes())],
            2,
        )
        .await;
    assert!(is_ignore(&out[0]), "{out:?}");
    // Data column sidecars: no commitments is invalid; the wrong subnet is rejected.
    let mut sidecar = DataColumnSidecar {
        index: 3,
        ..Default::default()
    };
    let out = t
        .validate(
            vec![(GossipKind::DataColumnSidecar(3), sidecar.as_ssz_bytes())],
            2,
        )
        .await;
    assert!(is_reject(&out[0], "invalid sidecar"), "{out:?}");
    sidecar.kzg_commitments = ssz_types::VariableList::new(vec![Default::default()]).unwrap();
    sidecar.kzg_proofs = ssz_types::VariableList::new(vec![Default::default()]).unwrap();
    sidecar.column = ssz_types::VariableList::new(vec![Default::default()]).unwrap();
    let out = t
        .validate(
            vec![(GossipKind::DataColumnSidecar(4), sidecar.as_ssz_bytes())],
            2,
        )
        .await;
    assert!(is_reject(&out[0], "wrong subnet"), "{out:?}");
}

#[tokio::test]
async fn topics_and_bounds() {
    let t = TestChain::new();
    let id = [7u8; 32];
    let all = initial_topics(&t.chain, id, true);
    // 7 global topics, 64 attestation subnets, 4 sync subnets, 128 column subnets.
    assert_eq!(all.len(), 7 + 64 + 4 + 128);
    let some = initial_topics(&t.chain, id, false);
    let attnets = some
        .iter()
        .filter(|t| matches!(t.kind, GossipKind::BeaconAttestation(_)))
        .count();
    assert_eq!(attnets as u64, t.config().subnets_per_node);
    let columns = some
        .iter()
        .filter(|t| matches!(t.kind, GossipKind::DataColumnSidecar(_)))
        .count();
    assert_eq!(columns as u64, t.config().custody_requirement);
    let digest = current_fork_digest(&t.chain);
    assert!(some.iter().all(|topic| topic.fork_digest == digest));
}

#[test]
fn seen_caches_are_bounded_and_pruned() {
    let mut set = SeenSet::new(3);
    for i in 0..10u64 {
        set.insert(i, i);
        assert!(set.len() <= 3);
    }
    assert!(set.contains(&9) && !set.contains(&6));
    set.prune(9);
    assert_eq!(set.len(), 1);
    let mut bits = SeenBits::new(2);
    let full = Bits::from_iter([true, true, false].into_iter());
    let part = Bits::from_iter([true, false, false].into_iter());
    let other = Bits::from_iter([false, false, true].into_iter());
    bits.insert(1, 'a', full.clone());
    assert!(bits.is_covered(&'a', &part));
    assert!(bits.is_covered(&'a', &full));
    assert!(!bits.is_covered(&'a', &other));
    // Another length is never covered.
    assert!(!bits.is_covered(&'a', &Bits::from_iter([true].into_iter())));
    bits.insert(2, 'b', other.clone());
    bits.insert(3, 'c', other.clone());
    assert!(bits.entries <= 2);
    assert!(!bits.is_covered(&'a', &part), "the oldest key went first");
    // Bounds grow with the budget.
    let small = GossipCacheBounds::from_budget(&MemoryBudget::from_bytes_unchecked(256 << 20));
    let large = GossipCacheBounds::from_budget(&MemoryBudget::from_bytes_unchecked(4 << 30));
    assert!(large.attestations > small.attestations);
    assert_eq!(
        small.attestations,
        ((256u64 << 20) * 50 / 1000 / 4 / 2 / SEEN_KEY_BYTES) as usize
    );
}

#[tokio::test]
async fn attester_slashings_and_bls_changes() {
    let t = TestChain::new();
    let state = t.state();
    // A double vote by validator 7: same target epoch, different block roots.
    let indexed = |root: u8| {
        let mut data = t.data(1);
        data.beacon_block_root = Root::repeat_byte(root);
        let signing = spec::validator::get_attestation_signature(&state, &data);
        spec::IndexedAttestation {
            attesting_indices: ssz_types::VariableList::new(vec![7]).unwrap(),
            signature: t.sign(7, signing),
            data,
        }
    };
    let kind = GossipKind::AttesterSlashing;
    let not_slashable = AttesterSlashing {
        attestation_1: indexed(1),
        attestation_2: indexed(1),
    };
    let out = t
        .validate(vec![(kind, not_slashable.as_ssz_bytes())], 2)
        .await;
    assert!(is_reject(&out[0], "not slashable"), "{out:?}");
    let slashing = AttesterSlashing {
        attestation_1: indexed(1),
        attestation_2: indexed(2),
    };
    let mut forged = slashing.clone();
    forged.attestation_2.signature = t.sign(7, Root::repeat_byte(5));
    let out = t
        .validate(
            vec![
                (kind, forged.as_ssz_bytes()),
                (kind, slashing.as_ssz_bytes()),
                (kind, slashing.as_ssz_bytes()),
            ],
            2,
        )
        .await;
    assert!(is_reject(&out[0], "signature"), "{out:?}");
    assert!(is_accept(&out[1]), "{out:?}");
    assert!(is_ignore(&out[2]), "{out:?}");
    assert_eq!(lock(&t.chain.operation_pool).attester_slashings.len(), 1);

    // A BLS-to-execution change of validator 9 (interop credentials are BLS, 0x00).
    let change = |index: ValidatorIndex, key: ValidatorIndex| {
        let message = spec::BLSToExecutionChange {
            validator_index: index,
            from_bls_pubkey: state.validators.get(key as usize).unwrap().pubkey,
            to_execution_address: Default::default(),
        };
        let domain = spec::transition::helpers::compute_domain(
            DOMAIN_BLS_TO_EXECUTION_CHANGE,
            t.config().genesis_fork_version,
            state.genesis_validators_root,
        );
        let root = compute_signing_root(&message, domain);
        SignedBLSToExecutionChange {
            signature: t.sign(key, root),
            message,
        }
    };
    let kind = GossipKind::BlsToExecutionChange;
    // Someone else's key: Reject (the credentials commit to validator 9's own key).
    let out = t
        .validate(vec![(kind, change(9, 10).as_ssz_bytes())], 2)
        .await;
    assert!(is_reject(&out[0], "withdrawal credentials"), "{out:?}");
    let out = t
        .validate(
            vec![
                (kind, change(9, 9).as_ssz_bytes()),
                (kind, change(9, 9).as_ssz_bytes()),
            ],
            2,
        )
        .await;
    assert!(is_accept(&out[0]), "{out:?}");
    assert!(is_ignore(&out[1]), "{out:?}");
    assert_eq!(
        lock(&t.chain.operation_pool).bls_to_execution_changes.len(),
        1
    );
    // An index beyond the registry: Reject.
    let mut far = change(9, 9);
    far.message.validator_index = 10_000;
    let out = t.validate(vec![(kind, far.as_ssz_bytes())], 2).await;
    assert!(is_reject(&out[0], "out of range"), "{out:?}");
}

/// The Merkle branch of `blob_kzg_commitments` (leaf 11 of 16) in `body`.
fn commitments_branch(body: &spec::BeaconBlockBody) -> Vec<Root> {
    let fields = [
        body.randao_reveal.tree_hash_root(),
        body.eth1_data.tree_hash_root(),
        body.graffiti.tree_hash_root(),
        body.proposer_slashings.tree_hash_root(),
        body.attester_slashings.tree_hash_root(),
        body.attestations.tree_hash_root(),
        body.deposits.tree_hash_root(),
        body.voluntary_exits.tree_hash_root(),
        body.sync_aggregate.tree_hash_root(),
        body.execution_payload.tree_hash_root(),
        body.bls_to_execution_changes.tree_hash_root(),
        body.blob_kzg_commitments.tree_hash_root(),
        body.execution_requests.tree_hash_root(),
        Root::ZERO,
        Root::ZERO,
        Root::ZERO,
    ];
    let h = |a: &Root, b: &Root| {
        Root::from(ethereum_hashing::hash32_concat(a.as_slice(), b.as_slice()))
    };
    let l1: Vec<Root> = fields.chunks(2).map(|p| h(&p[0], &p[1])).collect();
    let l2: Vec<Root> = l1.chunks(2).map(|p| h(&p[0], &p[1])).collect();
    let l3: Vec<Root> = l2.chunks(2).map(|p| h(&p[0], &p[1])).collect();
    assert_eq!(h(&l3[0], &l3[1]), body.tree_hash_root());
    vec![fields[10], l1[4], l2[3], l3[0]]
}

#[tokio::test]
async fn a_valid_data_column_sidecar_is_accepted_once() {
    let t = TestChain::new();
    // The zero blob: commitment and proofs at infinity, cells zero.
    let mut infinity = [0u8; 48];
    infinity[0] = 0xc0;
    let body = spec::BeaconBlockBody {
        blob_kzg_commitments: ssz_types::VariableList::new(vec![spec::KZGCommitment::from(
            infinity,
        )])
        .unwrap(),
        ..Default::default()
    };
    let block = t.block(1, t.genesis, 0, None);
    let mut state = (*t.state()).clone();
    process_slots(&mut state, t.config(), 1).unwrap();
    let header = spec::BeaconBlockHeader {
        slot: 1,
        proposer_index: block.message.proposer_index,
        parent_root: t.genesis,
        state_root: Root::repeat_byte(1),
        body_root: body.tree_hash_root(),
    };
    let domain = get_domain(&state, DOMAIN_BEACON_PROPOSER, Some(0));
    let signed_header = SignedBeaconBlockHeader {
        signature: t.sign(header.proposer_index, compute_signing_root(&header, domain)),
        message: header,
    };
    let sidecar = |index: u64| DataColumnSidecar {
        index,
        column: ssz_types::VariableList::new(vec![Default::default()]).unwrap(),
        kzg_commitments: body.blob_kzg_commitments.clone(),
        kzg_proofs: ssz_types::VariableList::new(vec![spec::KZGProof::from(infinity)]).unwrap(),
        signed_block_header: signed_header.clone(),
        kzg_commitments_inclusion_proof: ssz_types::FixedVector::new(commitments_branch(&body))
            .unwrap(),
    };
    let subnet = |index: u64| {
        GossipKind::DataColumnSidecar(spec::p2p::compute_subnet_for_data_column_sidecar(
            t.config(),
            index,
        ))
    };
    let good = sidecar(5);
    let out = t
        .validate(
            vec![
                (subnet(5), good.as_ssz_bytes()),
                (subnet(5), good.as_ssz_bytes()),
            ],
            1,
        )
        .await;
    assert!(is_accept(&out[0]), "{out:?}");
    assert!(is_ignore(&out[1]), "{out:?}");
    // A broken inclusion proof: Reject.
    let mut bad = sidecar(6);
    bad.kzg_commitments_inclusion_proof[0] = Root::repeat_byte(0xee);
    let out = t.validate(vec![(subnet(6), bad.as_ssz_bytes())], 1).await;
    assert!(is_reject(&out[0], "inclusion proof"), "{out:?}");
    // A cell that does not match its proof: Reject.
    let mut bad = sidecar(7);
    let mut cell = bad.column[0].to_vec();
    cell[31] = 1;
    bad.column[0] = ssz_types::FixedVector::new(cell).unwrap();
    let out = t.validate(vec![(subnet(7), bad.as_ssz_bytes())], 1).await;
    assert!(is_reject(&out[0], "kzg"), "{out:?}");
    // A forged header signature: Reject.
    let mut bad = sidecar(8);
    bad.signed_block_header.signature = t.sign(0, Root::repeat_byte(2));
    let out = t.validate(vec![(subnet(8), bad.as_ssz_bytes())], 1).await;
    assert!(is_reject(&out[0], "signature"), "{out:?}");
    // An unknown parent: UnknownBlock(parent) for the router to fetch.
    let mut orphan = sidecar(9);
    orphan.signed_block_header.message.parent_root = Root::repeat_byte(0x77);
    let root = compute_signing_root(&orphan.signed_block_header.message, domain);
    orphan.signed_block_header.signature =
        t.sign(orphan.signed_block_header.message.proposer_index, root);
    let out = t
        .validate(vec![(subnet(9), orphan.as_ssz_bytes())], 1)
        .await;
    assert!(
        matches!(out[0], GossipOutcome::UnknownBlock(r) if r == Root::repeat_byte(0x77)),
        "{out:?}"
    );
}

#[tokio::test]
async fn contributions_accept_and_dedupe() {
    let t = TestChain::new();
    let state = t.state();
    let committee = spec::transition::signatures::get_sync_committee_indices(&state).unwrap();
    let size = spec::SyncSubcommitteeSize::to_usize();
    let slot = 2;
    let block_root = t.genesis;
    // Subcommittee 0: its first member selected as aggregator by its selection proof.
    let members = &committee[..size];
    let proof = |v: ValidatorIndex| {
        t.sign(
            v,
            spec::validator::get_sync_committee_selection_proof(&state, slot, 0),
        )
    };
    let aggregator = *members
        .iter()
        .find(|v| spec::validator::is_sync_committee_aggregator(&proof(**v)))
        .expect("some member is selected");
    let signing =
        spec::validator::get_sync_committee_message_signing_root(&state, slot, block_root);
    let contribution = |count: usize| {
        let mut bits = ssz_types::BitVector::new();
        let mut sigs = Vec::new();
        for (i, v) in members.iter().enumerate().take(count) {
            bits.set(i, true).unwrap();
            sigs.push(t.keys[*v as usize].sign(signing.as_slice()));
        }
        spec::SyncCommitteeContribution {
            slot,
            beacon_block_root: block_root,
            subcommittee_index: 0,
            aggregation_bits: bits,
            signature: spec::BLSSignature::from(bls::aggregate(&sigs).unwrap().to_bytes()),
        }
    };
    let signed = |c: spec::SyncCommitteeContribution, by: ValidatorIndex| {
        let message = spec::ContributionAndProof {
            aggregator_index: by,
            contribution: c,
            selection_proof: proof(by),
        };
        let root = spec::validator::get_contribution_and_proof_signature(&state, &message);
        SignedContributionAndProof {
            signature: t.sign(by, root),
            message,
        }
    };
    let kind = GossipKind::SyncCommitteeContributionAndProof;
    let full = signed(contribution(size), aggregator);
    let out = t
        .validate(
            vec![(kind, full.as_ssz_bytes()), (kind, full.as_ssz_bytes())],
            slot,
        )
        .await;
    assert!(is_accept(&out[0]), "{out:?}");
    assert!(is_ignore(&out[1]), "{out:?}");
    assert!(lock(&t.chain.sync_pool)
        .contribution(slot, block_root, 0)
        .is_some());
    // A subset of what was seen: Ignore.
    let out = t
        .validate(
            vec![(kind, signed(contribution(1), aggregator).as_ssz_bytes())],
            slot,
        )
        .await;
    assert!(is_ignore(&out[0]), "{out:?}");
    // Subcommittee index out of range, a non-member aggregator: Reject.
    let mut far = contribution(1);
    far.subcommittee_index = 4;
    let out = t
        .validate(vec![(kind, signed(far, aggregator).as_ssz_bytes())], slot)
        .await;
    assert!(matches!(out[0], GossipOutcome::Reject(..)), "{out:?}");
    // Not the current slot: Ignore.
    let out = t
        .validate(vec![(kind, full.as_ssz_bytes())], slot + 2)
        .await;
    assert!(is_ignore(&out[0]), "{out:?}");
}
