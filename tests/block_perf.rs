//! Block signature timing on a synthetic mainnet-preset Fulu state with real BLS keys.
//!
//! Ignored by default; run with
//! `cargo test --release --test block_perf -- --ignored --nocapture`
//! (`BLOCK_PERF_VALIDATORS`, default 400 000). Validator `i` has the (insecure, benchmark-only)
//! secret key `i + 1`, so public keys are built by repeated addition of the generator and an
//! aggregate signature is one signature with the sum of the signers' keys.
//!
//! The block carries `MAX_ATTESTATIONS_ELECTRA` aggregates, each covering every committee of
//! the previous slot with full participation, and a full sync aggregate. Prints the time to
//! build the block's signature checks with a cold and a warm [`PubkeyCache`], to verify them in
//! one batch and one by one, and checks that both verdicts agree (and that a tampered block is
//! caught by both, the batch naming the bad signature).

use ember::consensus::bls::{eth_aggregate_pubkeys, PublicKey, SecretKey};
use ember::consensus::config::ChainConfig;
use ember::consensus::constants::*;
use ember::consensus::mainnet::transition::fork::initialize_proposer_lookahead;
use ember::consensus::mainnet::transition::helpers::*;
use ember::consensus::mainnet::transition::signatures::*;
use ember::consensus::mainnet::{self, BeaconState, PRESET};
use ember::consensus::primitives::Hash256;
use ember::consensus::pubkey_cache::{KeyCheck, PubkeyCache};
use milhouse::{List, Vector};
use ssz_types::{BitList, BitVector, FixedVector, VariableList};
use std::sync::Arc;
use std::time::Instant;

const EPOCH: u64 = 400_001;

/// The secret key with scalar `x` (non-zero, far below the group order).
fn secret(x: u128) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[16..].copy_from_slice(&x.to_be_bytes());
    SecretKey::from_bytes(&bytes).expect("small non-zero scalar")
}

/// `pk_i = (i + 1) * G` for `i < n`, by repeated addition.
fn public_keys(n: usize) -> Vec<PublicKey> {
    let g = secret(1).public_key();
    let mut keys = Vec::with_capacity(n);
    let mut current = g;
    for _ in 0..n {
        keys.push(current);
        current = eth_aggregate_pubkeys(&[current, g]).expect("sum");
    }
    keys
}

fn state_with(keys: &[PublicKey]) -> BeaconState {
    let n = keys.len();
    let far = u64::MAX;
    let validators: Vec<mainnet::Validator> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut creds = Hash256::repeat_byte((i % 251) as u8);
            creds.0[0] = 1;
            mainnet::Validator {
                pubkey: key.to_bytes().into(),
                withdrawal_credentials: creds,
                effective_balance: 32_000_000_000,
                slashed: false,
                activation_eligibility_epoch: 0,
                activation_epoch: 0,
                exit_epoch: far,
                withdrawable_epoch: far,
            }
        })
        .collect();
    let members: Vec<mainnet::BLSPubkey> =
        (0..512).map(|i| keys[i % n].to_bytes().into()).collect();
    let member_keys: Vec<PublicKey> = (0..512).map(|i| keys[i % n]).collect();
    let sync_committee = Arc::new(mainnet::SyncCommittee {
        pubkeys: FixedVector::new(members).expect("512 members"),
        aggregate_pubkey: eth_aggregate_pubkeys(&member_keys)
            .expect("sum")
            .to_bytes()
            .into(),
    });
    let checkpoint = |epoch: u64| mainnet::Checkpoint {
        epoch,
        root: Hash256::repeat_byte(epoch as u8),
    };
    let randao: Vec<Hash256> = (0..65536u64)
        .map(|i| Hash256::from(ethereum_hashing::hash_fixed(&i.to_le_bytes())))
        .collect();
    let slot = EPOCH * 32 + 5;
    let mut state = BeaconState {
        genesis_time: 1_606_824_023,
        genesis_validators_root: Hash256::repeat_byte(0x4b),
        slot,
        fork: mainnet::Fork {
            previous_version: [5, 0, 0, 0].into(),
            current_version: [6, 0, 0, 0].into(),
            epoch: 364_032,
        },
        latest_block_header: mainnet::BeaconBlockHeader {
            slot: slot - 1,
            proposer_index: 7,
            parent_root: Hash256::repeat_byte(1),
            state_root: Hash256::ZERO,
            body_root: Hash256::repeat_byte(2),
        },
        block_roots: Vector::new(
            (0..8192u64)
                .map(|i| Hash256::from(ethereum_hashing::hash_fixed(&(i + 1).to_le_bytes())))
                .collect(),
        )
        .expect("block_roots"),
        state_roots: Vector::from_elem(Hash256::repeat_byte(3)).expect("state_roots"),
        historical_roots: List::empty(),
        eth1_data: Default::default(),
        eth1_data_votes: List::empty(),
        eth1_deposit_index: 0,
        validators: List::new(validators).expect("validators"),
        balances: List::new(vec![32_000_000_000; n]).expect("balances"),
        randao_mixes: Vector::new(randao).expect("randao"),
        slashings: Vector::from_elem(0).expect("slashings"),
        previous_epoch_participation: List::new(vec![0; n]).expect("participation"),
        current_epoch_participation: List::new(vec![0; n]).expect("participation"),
        justification_bits: BitVector::from_bytes(vec![0b0000_0011].into()).expect("bits"),
        previous_justified_checkpoint: checkpoint(EPOCH - 2),
        current_justified_checkpoint: checkpoint(EPOCH - 1),
        finalized_checkpoint: checkpoint(EPOCH - 2),
        inactivity_scores: List::new(vec![0; n]).expect("inactivity"),
        current_sync_committee: sync_committee.clone(),
        next_sync_committee: sync_committee,
        latest_execution_payload_header: Default::default(),
        next_withdrawal_index: 0,
        next_withdrawal_validator_index: 0,
        historical_summaries: List::empty(),
        deposit_requests_start_index: 0,
        deposit_balance_to_consume: 0,
        exit_balance_to_consume: 0,
        earliest_exit_epoch: EPOCH + 5,
        consolidation_balance_to_consume: 0,
        earliest_consolidation_epoch: EPOCH + 5,
        pending_deposits: List::empty(),
        pending_partial_withdrawals: List::empty(),
        pending_consolidations: List::empty(),
        proposer_lookahead: Some(Vector::from_elem(0).expect("lookahead")),
        caches: Default::default(),
    };
    let lookahead = initialize_proposer_lookahead(&state).expect("lookahead");
    state.proposer_lookahead = Some(Vector::new(lookahead).expect("lookahead"));
    state.apply_pending_updates().expect("apply");
    state
}

/// The block: randao reveal, full-slot aggregates, full sync aggregate.
fn block_for(state: &BeaconState) -> mainnet::BeaconBlock {
    let epoch = get_current_epoch(state);
    let proposer_index = get_beacon_proposer_index(state).expect("proposer");
    let sk = |i: u64| secret(u128::from(i) + 1);

    let randao_root = compute_signing_root(&epoch, get_domain(state, DOMAIN_RANDAO, None));
    let randao_reveal = sk(proposer_index)
        .sign(randao_root.as_slice())
        .to_bytes()
        .into();

    let slot = state.slot - 1;
    let committees = get_epoch_committees(state, epoch).expect("committees");
    let count = committee_count_per_slot(committees.shuffled.len() as u64);
    let data = mainnet::AttestationData {
        slot,
        index: 0,
        beacon_block_root: get_block_root_at_slot(state, slot).expect("root"),
        source: state.current_justified_checkpoint.clone(),
        target: mainnet::Checkpoint {
            epoch,
            root: get_block_root(state, epoch).expect("target root"),
        },
    };
    let mut scalar: u128 = 0;
    let mut bits_len = 0;
    for index in 0..count {
        let committee = beacon_committee_in(&committees, slot, index).expect("committee");
        bits_len += committee.len();
        scalar += committee.iter().map(|&i| u128::from(i) + 1).sum::<u128>();
    }
    let domain = get_domain(state, DOMAIN_BEACON_ATTESTER, Some(epoch));
    let signature = secret(scalar)
        .sign(compute_signing_root(&data, domain).as_slice())
        .to_bytes()
        .into();
    let mut aggregation_bits = BitList::with_capacity(bits_len).expect("bits");
    for i in 0..bits_len {
        aggregation_bits.set(i, true).expect("bit");
    }
    let mut committee_bits = BitVector::new();
    for i in 0..count as usize {
        committee_bits.set(i, true).expect("bit");
    }
    let attestation = mainnet::Attestation {
        aggregation_bits,
        data,
        signature,
        committee_bits,
    };
    let attestations = vec![attestation; PRESET.max_attestations_electra as usize];

    let members = get_sync_committee_indices(state).expect("members");
    let sync_scalar: u128 = members.iter().map(|&i| u128::from(i) + 1).sum();
    let previous_slot = state.slot - 1;
    let sync_domain = get_domain(
        state,
        DOMAIN_SYNC_COMMITTEE,
        Some(compute_epoch_at_slot(previous_slot)),
    );
    let sync_root = compute_signing_root(
        &get_block_root_at_slot(state, previous_slot).expect("root"),
        sync_domain,
    );
    let mut sync_committee_bits = BitVector::new();
    for i in 0..512 {
        sync_committee_bits.set(i, true).expect("bit");
    }
    mainnet::BeaconBlock {
        slot: state.slot,
        proposer_index,
        parent_root: Hash256::ZERO,
        state_root: Hash256::ZERO,
        body: mainnet::BeaconBlockBody {
            randao_reveal,
            attestations: VariableList::new(attestations).expect("attestations"),
            sync_aggregate: mainnet::SyncAggregate {
                sync_committee_bits,
                sync_committee_signature: secret(sync_scalar)
                    .sign(sync_root.as_slice())
                    .to_bytes()
                    .into(),
            },
            ..Default::default()
        },
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[test]
#[ignore = "slow: builds a large state with real keys; run explicitly"]
fn block_signatures() {
    let n: usize = std::env::var("BLOCK_PERF_VALIDATORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000);
    let config = ChainConfig::mainnet();
    let t = Instant::now();
    let keys = public_keys(n);
    println!("{n} validator keys: {:.0} ms", ms(t));
    let t = Instant::now();
    let state = state_with(&keys);
    drop(keys);
    println!("state: {:.0} ms", ms(t));
    let t = Instant::now();
    let block = block_for(&state);
    println!("block (signing): {:.0} ms", ms(t));
    let attesters: usize = block
        .body
        .attestations
        .iter()
        .map(|a| a.aggregation_bits.num_set_bits())
        .sum();
    println!(
        "{} attestations, {attesters} attester keys in all, sync aggregate of 512",
        block.body.attestations.len()
    );

    let mut checks = Vec::new();
    for policy in [KeyCheck::Exact, KeyCheck::TrustIndex] {
        let pubkeys = PubkeyCache::with_check(policy);
        let t = Instant::now();
        block_signature_checks(&state, &config, &pubkeys, &block, None).expect("checks");
        println!(
            "{policy:?}: build checks, cold pubkey cache: {:8.1} ms ({} keys decompressed)",
            ms(t),
            pubkeys.cached()
        );
        let t = Instant::now();
        checks = block_signature_checks(&state, &config, &pubkeys, &block, None).expect("checks");
        println!(
            "{policy:?}: build {} checks, warm pubkey cache: {:8.1} ms",
            checks.len(),
            ms(t)
        );
    }
    let t = Instant::now();
    verify_signature_checks(&checks).expect("batch");
    println!("verify in one batch:                 {:8.1} ms", ms(t));
    let t = Instant::now();
    for check in &checks {
        check.verify().expect("individual");
    }
    println!("verify one by one:                   {:8.1} ms", ms(t));

    let pubkeys = PubkeyCache::with_check(KeyCheck::TrustIndex);
    // A tampered attestation signature: both paths refuse, the batch names it.
    let mut bad = block.clone();
    bad.body.attestations[3].signature = bad.body.attestations[0].signature;
    bad.body.attestations[3].data.beacon_block_root = Hash256::repeat_byte(9);
    let checks = block_signature_checks(&state, &config, &pubkeys, &bad, None).expect("checks");
    let err = verify_signature_checks(&checks).expect_err("tampered");
    println!("tampered block: {err}");
    assert!(err.to_string().contains("attestation 3"));
}
