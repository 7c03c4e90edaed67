//! The minimal-preset fork-choice store on untrusted input: malformed or inconsistent blocks,
//! attestations and attester slashings are refused with the error that names the failed check,
//! and nothing panics (the store's invariants hold afterwards: the head is still computable).

use ember::consensus::bls;
use ember::consensus::config::ChainConfig;
use ember::consensus::constants::DOMAIN_BEACON_ATTESTER;
use ember::consensus::execution::{ExecutionEngine, NewPayloadRequest};
use ember::consensus::minimal::fork_choice::{AssumeAvailable, ForkChoiceStore};
use ember::consensus::minimal::transition::genesis::interop_genesis_state;
use ember::consensus::minimal::transition::helpers::{
    compute_signing_root, get_beacon_committee, get_domain,
};
use ember::consensus::minimal::{
    AggregationBits, Attestation, AttestationData, AttesterSlashing, BeaconBlock, BeaconState,
    Checkpoint, IndexedAttestation, SignedBeaconBlock,
};
use ember::consensus::primitives::Hash256;
use ember::fork_choice::ForkChoiceError;
use ember::validator::interop::{interop_pubkeys, interop_secret_key};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ssz_types::BitVector;
use tree_hash::TreeHash;

const VALIDATORS: usize = 64;
const GENESIS_TIME: u64 = 1_000;

struct AcceptAll;
impl ExecutionEngine for AcceptAll {
    fn verify_and_notify_new_payload(&self, _: &NewPayloadRequest<'_>) -> bool {
        true
    }
}

fn genesis() -> (BeaconState, BeaconBlock, ChainConfig) {
    let config = ChainConfig::minimal();
    let pubkeys = interop_pubkeys(VALIDATORS as u64, None).expect("keys");
    let mut state = interop_genesis_state(&config, &pubkeys, GENESIS_TIME).expect("genesis");
    state.apply_pending_updates().expect("apply");
    let block = BeaconBlock {
        state_root: state.tree_hash_root(),
        ..BeaconBlock::default()
    };
    (state, block, config)
}

fn store() -> (ForkChoiceStore, Hash256) {
    let (state, block, config) = genesis();
    let root = block.tree_hash_root();
    let store = ForkChoiceStore::get_forkchoice_store(state, &block, &config).expect("store");
    (store, root)
}

fn attestation(slot: u64, head: Hash256, target: Checkpoint, bits: usize) -> Attestation {
    let mut aggregation_bits = AggregationBits::with_capacity(bits).expect("bits");
    for i in 0..bits {
        aggregation_bits.set(i, i % 3 == 0).expect("bit");
    }
    let mut committee_bits = BitVector::new();
    committee_bits.set(0, true).expect("bit");
    Attestation {
        aggregation_bits,
        data: AttestationData {
            slot,
            index: 0,
            beacon_block_root: head,
            source: Checkpoint::default(),
            target,
        },
        signature: Default::default(),
        committee_bits,
    }
}

#[test]
fn anchor_state_root_must_match() {
    let (state, mut block, config) = genesis();
    block.state_root = Hash256::repeat_byte(7);
    assert!(matches!(
        ForkChoiceStore::get_forkchoice_store(state, &block, &config),
        Err(ForkChoiceError::AnchorStateRootMismatch { .. })
    ));
}

#[test]
fn blocks_are_checked_in_spec_order() {
    let (mut store, anchor) = store();
    let slot_time = ChainConfig::minimal().slot_duration_ms / 1000;
    assert_eq!(store.get_head().unwrap(), anchor);
    let block = |slot: u64, parent: Hash256| SignedBeaconBlock {
        message: BeaconBlock {
            slot,
            parent_root: parent,
            ..BeaconBlock::default()
        },
        signature: Default::default(),
    };
    let da = AssumeAvailable;
    let engine = AcceptAll;
    assert!(matches!(
        store.on_block(&block(1, Hash256::repeat_byte(9)), &da, &engine),
        Err(ForkChoiceError::UnknownParent { .. })
    ));
    assert!(matches!(
        store.on_block(&block(1, anchor), &da, &engine),
        Err(ForkChoiceError::FutureBlock { .. })
    ));
    store.on_tick(GENESIS_TIME + 3 * slot_time).unwrap();
    assert!(matches!(
        store.on_block(&block(0, anchor), &da, &engine),
        Err(ForkChoiceError::BlockNotAfterFinalizedSlot { .. })
    ));
    // A block the state transition refuses (wrong proposer, no signature, no payload...).
    assert!(matches!(
        store.on_block(&block(2, anchor), &da, &engine),
        Err(ForkChoiceError::InvalidBlock { .. })
    ));
    struct Unavailable;
    impl ember::consensus::minimal::fork_choice::DataAvailability for Unavailable {
        fn is_data_available(&self, _: &Hash256, _: &SignedBeaconBlock) -> Result<(), String> {
            Err("withheld".into())
        }
    }
    assert!(matches!(
        store.on_block(&block(2, anchor), &Unavailable, &engine),
        Err(ForkChoiceError::DataUnavailable { .. })
    ));
    assert_eq!(store.get_head().unwrap(), anchor);
}

#[test]
fn attestations_are_validated_before_counting() {
    let (mut store, anchor) = store();
    let slot_time = ChainConfig::minimal().slot_duration_ms / 1000;
    let target = Checkpoint {
        epoch: 0,
        root: anchor,
    };
    // Not yet: the attestation's slot has not passed.
    let a = attestation(0, anchor, target.clone(), 8);
    assert!(matches!(
        store.on_attestation(&a, false),
        Err(ForkChoiceError::AttestationTooEarly { .. })
    ));
    store.on_tick(GENESIS_TIME + 2 * slot_time).unwrap();
    // Unknown head block, unknown target, mismatched target epoch.
    let unknown = Hash256::repeat_byte(3);
    assert!(matches!(
        store.on_attestation(&attestation(0, unknown, target.clone(), 8), false),
        Err(ForkChoiceError::AttestationUnknownHeadBlock(_))
    ));
    let bad_target = Checkpoint {
        epoch: 0,
        root: unknown,
    };
    assert!(matches!(
        store.on_attestation(&attestation(0, anchor, bad_target, 8), false),
        Err(ForkChoiceError::AttestationUnknownTarget(_))
    ));
    let future_target = Checkpoint {
        epoch: 1,
        root: anchor,
    };
    assert!(matches!(
        store.on_attestation(&attestation(0, anchor, future_target, 8), true),
        Err(ForkChoiceError::AttestationTargetEpochMismatch { .. })
    ));
    // Well-formed but the bits do not fit the committee, or the signature is wrong.
    assert!(matches!(
        store.on_attestation(&attestation(0, anchor, target.clone(), 1000), false),
        Err(ForkChoiceError::InvalidIndexedAttestation { .. })
    ));
    assert!(matches!(
        store.on_attestation(&a, false),
        Err(ForkChoiceError::InvalidIndexedAttestation { .. })
    ));
    // No vote was recorded.
    assert!(store.fork_choice().votes().is_empty());
    assert_eq!(store.get_head().unwrap(), anchor);
}

#[test]
fn attester_slashings_are_validated() {
    let (mut store, anchor) = store();
    let data = |root: Hash256| AttestationData {
        slot: 0,
        index: 0,
        beacon_block_root: root,
        source: Checkpoint::default(),
        target: Checkpoint {
            epoch: 0,
            root: anchor,
        },
    };
    let indexed = |indices: Vec<u64>, root: Hash256| IndexedAttestation {
        attesting_indices: indices.try_into().expect("indices"),
        data: data(root),
        signature: Default::default(),
    };
    let same = AttesterSlashing {
        attestation_1: indexed(vec![1, 2], anchor),
        attestation_2: indexed(vec![1, 2], anchor),
    };
    assert!(matches!(
        store.on_attester_slashing(&same),
        Err(ForkChoiceError::AttesterSlashingNotSlashable)
    ));
    for (indices, which) in [
        (vec![2, 1], 1),
        (vec![], 1),
        (vec![1, 1 << 40], 1),
        (vec![3, 4], 1),
    ] {
        let slashing = AttesterSlashing {
            attestation_1: indexed(indices, anchor),
            attestation_2: indexed(vec![1, 2], Hash256::repeat_byte(1)),
        };
        match store.on_attester_slashing(&slashing) {
            Err(ForkChoiceError::InvalidAttesterSlashing { which: w, .. }) => assert_eq!(w, which),
            other => panic!("expected an invalid slashing, got {other:?}"),
        }
    }
    assert!(store.fork_choice().equivocating_indices().is_empty());
}

#[test]
fn random_attestations_never_panic_nor_count() {
    let (mut store, anchor) = store();
    let slot_time = ChainConfig::minimal().slot_duration_ms / 1000;
    store.on_tick(GENESIS_TIME + 20 * slot_time).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let roots = [anchor, Hash256::ZERO, Hash256::repeat_byte(0xff)];
    for _ in 0..500 {
        let bits = rng.gen_range(1..200);
        let mut a = attestation(
            rng.gen_range(0..40),
            roots[rng.gen_range(0..roots.len())],
            Checkpoint {
                epoch: rng.gen_range(0..6),
                root: roots[rng.gen_range(0..roots.len())],
            },
            bits,
        );
        let mut committee_bits = BitVector::new();
        for i in 0..4 {
            committee_bits.set(i, rng.gen_bool(0.5)).unwrap();
        }
        a.committee_bits = committee_bits;
        assert!(store.on_attestation(&a, rng.gen_bool(0.5)).is_err());
    }
    assert!(store.fork_choice().votes().is_empty());
    assert_eq!(store.get_head().unwrap(), anchor);
    let info = store.get_proposer_head(&anchor, 21);
    assert!(info.is_err(), "the anchor has no known parent");
}

#[test]
fn a_signed_attestation_counts_and_a_forged_one_does_not() {
    let (mut store, anchor) = store();
    let slot_time = ChainConfig::minimal().slot_duration_ms / 1000;
    store.on_tick(GENESIS_TIME + 2 * slot_time).unwrap();
    let state = store.block_state(&anchor).unwrap().clone();
    let committee = get_beacon_committee(&state, 0, 0).unwrap();
    let target = Checkpoint {
        epoch: 0,
        root: anchor,
    };
    let mut a = attestation(0, anchor, target, committee.len());
    let signers: Vec<u64> = committee
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, v)| *v)
        .collect();
    let domain = get_domain(&state, DOMAIN_BEACON_ATTESTER, Some(0));
    let message = compute_signing_root(&a.data, domain);
    let signatures: Vec<bls::Signature> = signers
        .iter()
        .map(|v| interop_secret_key(*v).unwrap().sign(message.as_slice()))
        .collect();
    let good = bls::aggregate(&signatures).unwrap();

    // Signed by all but one of the attesters: refused, nothing counted.
    let partial = bls::aggregate(&signatures[1..]).unwrap();
    a.signature = partial.to_bytes().into();
    assert!(matches!(
        store.on_attestation(&a, false),
        Err(ForkChoiceError::InvalidIndexedAttestation { .. })
    ));
    assert!(store.fork_choice().votes().is_empty());

    a.signature = good.to_bytes().into();
    store.on_attestation(&a, false).unwrap();
    for v in &signers {
        assert!(store.fork_choice().votes().latest_message(*v).is_some());
    }
    let per_validator = state.validators.get(0).unwrap().effective_balance;
    assert_eq!(
        store.get_weight(&anchor).unwrap(),
        per_validator * signers.len() as u64
    );
}
