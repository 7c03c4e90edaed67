//! hash_tree_root of a mainnet-preset BeaconState with 2.3M synthetic validator records:
//! from scratch (every tree node hashed) and after changing 1,000 balances (milhouse re-hashes
//! only the touched paths). Run with `cargo bench --bench state_root`.
//!
//! Hashing parallelises over rayon's pool; `RAYON_NUM_THREADS=1` measures one core.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ember::consensus::mainnet::{self, BeaconState};
use ember::consensus::primitives::Hash256;
use milhouse::{List, Vector};
use ssz_types::{BitVector, FixedVector};
use std::sync::Arc;
use tree_hash::TreeHash;

const VALIDATORS: usize = 2_300_000;

fn synthetic_state(n: usize) -> BeaconState {
    let validators: Vec<mainnet::Validator> = (0..n)
        .map(|i| {
            let mut pubkey = [0u8; 48];
            pubkey[..8].copy_from_slice(&(i as u64).to_le_bytes());
            mainnet::Validator {
                pubkey: pubkey.into(),
                withdrawal_credentials: Hash256::repeat_byte((i % 251) as u8),
                effective_balance: 32_000_000_000,
                slashed: false,
                activation_eligibility_epoch: 0,
                activation_epoch: 0,
                exit_epoch: u64::MAX,
                withdrawable_epoch: u64::MAX,
            }
        })
        .collect();
    let sync_committee = Arc::new(mainnet::SyncCommittee {
        pubkeys: FixedVector::from_elem(Default::default()),
        aggregate_pubkey: Default::default(),
    });
    let header = mainnet::ExecutionPayloadHeader {
        parent_hash: Hash256::ZERO,
        fee_recipient: Default::default(),
        state_root: Hash256::ZERO,
        receipts_root: Hash256::ZERO,
        logs_bloom: FixedVector::from_elem(0),
        prev_randao: Hash256::ZERO,
        block_number: 0,
        gas_limit: 0,
        gas_used: 0,
        timestamp: 0,
        extra_data: Default::default(),
        base_fee_per_gas: Default::default(),
        block_hash: Hash256::ZERO,
        transactions_root: Hash256::ZERO,
        withdrawals_root: Hash256::ZERO,
        blob_gas_used: 0,
        excess_blob_gas: 0,
    };
    let checkpoint = mainnet::Checkpoint {
        epoch: 0,
        root: Hash256::ZERO,
    };
    BeaconState {
        genesis_time: 0,
        genesis_validators_root: Hash256::ZERO,
        slot: 0,
        fork: mainnet::Fork {
            previous_version: Default::default(),
            current_version: Default::default(),
            epoch: 0,
        },
        latest_block_header: mainnet::BeaconBlockHeader {
            slot: 0,
            proposer_index: 0,
            parent_root: Hash256::ZERO,
            state_root: Hash256::ZERO,
            body_root: Hash256::ZERO,
        },
        block_roots: Vector::from_elem(Hash256::ZERO).expect("block_roots"),
        state_roots: Vector::from_elem(Hash256::ZERO).expect("state_roots"),
        historical_roots: List::empty(),
        eth1_data: mainnet::Eth1Data {
            deposit_root: Hash256::ZERO,
            deposit_count: n as u64,
            block_hash: Hash256::ZERO,
        },
        eth1_data_votes: List::empty(),
        eth1_deposit_index: n as u64,
        validators: List::new(validators).expect("validators"),
        balances: List::new((0..n as u64).map(|i| 32_000_000_000 + i).collect()).expect("balances"),
        randao_mixes: Vector::from_elem(Hash256::ZERO).expect("randao"),
        slashings: Vector::from_elem(0).expect("slashings"),
        previous_epoch_participation: List::new(vec![7u8; n]).expect("participation"),
        current_epoch_participation: List::new(vec![7u8; n]).expect("participation"),
        justification_bits: BitVector::new(),
        previous_justified_checkpoint: checkpoint.clone(),
        current_justified_checkpoint: checkpoint.clone(),
        finalized_checkpoint: checkpoint,
        inactivity_scores: List::new(vec![0u64; n]).expect("inactivity"),
        current_sync_committee: sync_committee.clone(),
        next_sync_committee: sync_committee,
        latest_execution_payload_header: header,
        next_withdrawal_index: 0,
        next_withdrawal_validator_index: 0,
        historical_summaries: List::empty(),
        deposit_requests_start_index: u64::MAX,
        deposit_balance_to_consume: 0,
        exit_balance_to_consume: 0,
        earliest_exit_epoch: 0,
        consolidation_balance_to_consume: 0,
        earliest_consolidation_epoch: 0,
        pending_deposits: List::empty(),
        pending_partial_withdrawals: List::empty(),
        pending_consolidations: List::empty(),
        proposer_lookahead: Some(Vector::from_elem(0).expect("lookahead")),
        caches: Default::default(),
    }
}

fn bench_state_root(c: &mut Criterion) {
    let state = synthetic_state(VALIDATORS);
    let mut group = c.benchmark_group("state_root_2.3M");
    group.sample_size(10);

    // From scratch: a freshly built state has no cached hashes; rebuilding the trees from the
    // SSZ bytes each iteration keeps the caches cold.
    let bytes = ssz::Encode::as_ssz_bytes(&state);
    group.bench_function("from_scratch", |b| {
        b.iter_batched(
            || <BeaconState as ssz::Decode>::from_ssz_bytes(&bytes).expect("decodes"),
            |s| s.tree_hash_root(),
            BatchSize::PerIteration,
        )
    });

    // Warm: hash once, then change 1,000 balances spread over the registry and re-hash.
    let mut warm = state.clone();
    warm.apply_pending_updates().expect("apply");
    let _ = warm.tree_hash_root();
    group.bench_function("after_1000_balance_changes", |b| {
        b.iter_batched(
            || {
                let mut s = warm.clone();
                for k in 0..1000usize {
                    let i = k * (VALIDATORS / 1000);
                    if let Some(b) = s.balances.get_mut(i) {
                        *b += 1;
                    }
                }
                s.apply_pending_updates().expect("apply");
                s
            },
            |s| s.tree_hash_root(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_state_root);
criterion_main!(benches);
