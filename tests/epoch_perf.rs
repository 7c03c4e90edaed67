//! Epoch-transition timing on a synthetic mainnet-preset state with 2.3M validators.
//!
//! Ignored by default (building the state takes a few seconds and ~2 GB); run with
//! `cargo test --release --test epoch_perf -- --ignored --nocapture` (`RAYON_NUM_THREADS=1` to
//! keep hashing on one core). Prints the time of every `process_epoch` step, cold (fresh
//! caches) and warm (committee, total-balance and pubkey caches filled as block processing
//! during the epoch would have left them), and checks that the result equals the reference
//! (spec-shaped) path's.

use ember::consensus::config::ChainConfig;
use ember::consensus::mainnet::transition::epoch::*;
use ember::consensus::mainnet::transition::helpers::*;
use ember::consensus::mainnet::transition::single_pass::{
    process_epoch_single_pass, refresh_validator_columns,
};
use ember::consensus::mainnet::transition::TransitionError;
use ember::consensus::mainnet::{self, BeaconState};
use ember::consensus::primitives::Hash256;
use milhouse::{List, Vector};
use ssz_types::{BitVector, FixedVector};
use std::sync::Arc;
use std::time::Instant;
use tree_hash::TreeHash;

/// As in the `ember` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VALIDATORS: usize = 2_300_000;
/// The state sits at the last slot of this epoch; `EPOCH + 1` is not a sync-committee or
/// historical-summary boundary (those are timed separately).
const EPOCH: u64 = 400_001;

/// CPU time this thread has run, in ms (`/proc/thread-self/schedstat`, nanoseconds): unlike
/// wall time, not inflated when other processes compete for the cores.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e6)
}

/// A cheap deterministic pseudo-random number for index `i` and stream `k`.
fn mix(i: u64, k: u64) -> u64 {
    let mut x = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(k.wrapping_mul(0xD1B5_4A32_D192_ED03));
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

fn synthetic_state(n: usize, fulu: bool) -> BeaconState {
    let far = u64::MAX;
    let validators: Vec<mainnet::Validator> = (0..n as u64)
        .map(|i| {
            let mut pubkey = [0u8; 48];
            pubkey[..8].copy_from_slice(&i.to_le_bytes());
            let r = mix(i, 1) % 1000;
            let compounding = r < 30;
            let mut creds = Hash256::repeat_byte((i % 251) as u8);
            creds.0[0] = if compounding { 2 } else { 1 };
            let effective_balance = if compounding {
                32_000_000_000 + (mix(i, 2) % 100) * 1_000_000_000
            } else if r < 35 {
                20_000_000_000
            } else {
                32_000_000_000
            };
            let (slashed, exit_epoch, withdrawable_epoch) = if r == 999 {
                (true, EPOCH - 10, EPOCH + 4096)
            } else if r == 998 {
                (false, EPOCH + 5, EPOCH + 261)
            } else {
                (false, far, far)
            };
            let (activation_eligibility_epoch, activation_epoch) = if r == 997 {
                (far, far) // fresh deposit, waits for the activation queue
            } else if r == 996 {
                (EPOCH - 3, far) // queued, eligible once finalized
            } else {
                (0, 0)
            };
            mainnet::Validator {
                pubkey: pubkey.into(),
                withdrawal_credentials: creds,
                effective_balance,
                slashed,
                activation_eligibility_epoch,
                activation_epoch,
                exit_epoch,
                withdrawable_epoch,
            }
        })
        .collect();
    let balances: Vec<u64> = validators
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let r = mix(i as u64, 3);
            if r % 1000 < 3 {
                // Off by up to +-1 ETH: the effective balance may move.
                v.effective_balance.saturating_sub(1_000_000_000) + r % 2_000_000_000
            } else {
                v.effective_balance + r % 200_000_000
            }
        })
        .collect();
    let participation = |k: u64| -> Vec<u8> {
        (0..n as u64)
            .map(|i| match mix(i, k) % 100 {
                0..=89 => 7,
                90..=94 => 3,
                95..=96 => 1,
                _ => 0,
            })
            .collect()
    };
    let inactivity: Vec<u64> = (0..n as u64)
        .map(|i| if mix(i, 6) % 50 == 0 { 8 } else { 0 })
        .collect();
    let sync_committee = Arc::new(mainnet::SyncCommittee {
        pubkeys: FixedVector::from_elem(Default::default()),
        aggregate_pubkey: Default::default(),
    });
    let checkpoint = |epoch: u64| mainnet::Checkpoint {
        epoch,
        root: Hash256::repeat_byte(epoch as u8),
    };
    let pending_deposits: Vec<mainnet::PendingDeposit> = (0..200u64)
        .map(|k| {
            // Top-ups of existing validators.
            let i = mix(k, 7) % n as u64;
            let mut pubkey = [0u8; 48];
            pubkey[..8].copy_from_slice(&i.to_le_bytes());
            mainnet::PendingDeposit {
                pubkey: pubkey.into(),
                withdrawal_credentials: Hash256::ZERO,
                amount: 1_000_000_000,
                signature: Default::default(),
                slot: 0,
            }
        })
        .collect();
    let pending_consolidations: Vec<mainnet::PendingConsolidation> = (0..50u64)
        .map(|k| mainnet::PendingConsolidation {
            source_index: mix(k, 8) % n as u64,
            target_index: mix(k, 9) % n as u64,
        })
        .collect();
    let mut randao = Vec::with_capacity(65536);
    for i in 0..65536u64 {
        randao.push(Hash256::from(ethereum_hashing::hash_fixed(
            &i.to_le_bytes(),
        )));
    }
    let mut state = BeaconState {
        genesis_time: 1_606_824_023,
        genesis_validators_root: Hash256::repeat_byte(0x4b),
        slot: EPOCH * 32 + 31,
        fork: mainnet::Fork {
            previous_version: [5, 0, 0, 0].into(),
            current_version: if fulu { [6, 0, 0, 0] } else { [5, 0, 0, 0] }.into(),
            epoch: 364_032,
        },
        latest_block_header: mainnet::BeaconBlockHeader {
            slot: EPOCH * 32 + 31,
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
        eth1_data: mainnet::Eth1Data {
            deposit_root: Hash256::ZERO,
            deposit_count: n as u64,
            block_hash: Hash256::ZERO,
        },
        eth1_data_votes: List::empty(),
        eth1_deposit_index: n as u64,
        validators: List::new(validators).expect("validators"),
        balances: List::new(balances).expect("balances"),
        randao_mixes: Vector::new(randao).expect("randao"),
        slashings: Vector::new(
            (0..8192u64)
                .map(|i| if i % 97 == 0 { 32_000_000_000 } else { 0 })
                .collect(),
        )
        .expect("slashings"),
        previous_epoch_participation: List::new(participation(4)).expect("participation"),
        current_epoch_participation: List::new(participation(5)).expect("participation"),
        justification_bits: BitVector::from_bytes(vec![0b0000_0111].into()).expect("bits"),
        previous_justified_checkpoint: checkpoint(EPOCH - 2),
        current_justified_checkpoint: checkpoint(EPOCH - 1),
        finalized_checkpoint: checkpoint(EPOCH - 2),
        inactivity_scores: List::new(inactivity).expect("inactivity"),
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
        pending_deposits: List::new(pending_deposits).expect("pending deposits"),
        pending_partial_withdrawals: List::empty(),
        pending_consolidations: List::new(pending_consolidations).expect("consolidations"),
        proposer_lookahead: if fulu {
            Some(Vector::from_elem(0).expect("lookahead"))
        } else {
            None
        },
        caches: Default::default(),
    };
    state.apply_pending_updates().expect("apply");
    state
}

type Step = (
    &'static str,
    fn(&mut BeaconState, &ChainConfig) -> Result<(), TransitionError>,
);

const STEPS: &[Step] = &[
    ("justification_and_finalization", |s, _| {
        process_justification_and_finalization(s)
    }),
    ("inactivity_updates", process_inactivity_updates),
    ("rewards_and_penalties", process_rewards_and_penalties),
    ("registry_updates", process_registry_updates),
    ("slashings", |s, _| process_slashings(s)),
    ("eth1_data_reset", |s, _| process_eth1_data_reset(s)),
    ("pending_deposits", process_pending_deposits),
    ("pending_consolidations", |s, _| {
        process_pending_consolidations(s)
    }),
    ("effective_balance_updates", |s, _| {
        process_effective_balance_updates(s)
    }),
    ("slashings_reset", |s, _| process_slashings_reset(s)),
    ("randao_mixes_reset", |s, _| process_randao_mixes_reset(s)),
    ("historical_summaries_update", |s, _| {
        process_historical_summaries_update(s)
    }),
    ("participation_flag_updates", |s, _| {
        process_participation_flag_updates(s)
    }),
    ("sync_committee_updates", |s, _| {
        process_sync_committee_updates(s)
    }),
    ("proposer_lookahead", |s, _| process_proposer_lookahead(s)),
];

fn timed_steps(state: &mut BeaconState, config: &ChainConfig) -> f64 {
    let mut total = 0.0;
    for (name, step) in STEPS {
        let t = Instant::now();
        step(state, config).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        total += ms;
        println!("  {name:32} {ms:9.1} ms");
    }
    println!("  {:32} {total:9.1} ms", "total");
    total
}

/// Fills the caches block processing (and the previous epoch transition) would have filled.
fn warm_up(state: &mut BeaconState) {
    refresh_validator_columns(state, None).expect("validator columns");
    let current = get_current_epoch(state);
    get_epoch_committees(state, current).expect("current committees");
    get_epoch_committees(state, current - 1).expect("previous committees");
    get_total_active_balance(state).expect("total active balance");
    let _ = find_validator_index_by_pubkey(state, &Default::default());
}

#[test]
#[ignore = "slow: builds a 2.3M-validator state; run explicitly with --release"]
fn epoch_transition_2_3m_validators() {
    let config = ChainConfig::mainnet();
    let t = Instant::now();
    let state = synthetic_state(VALIDATORS, true);
    println!("built state in {:.1} s", t.elapsed().as_secs_f64());
    // As after the previous slot's process_slot: every tree hashed.
    let t = Instant::now();
    let _ = state.tree_hash_root();
    println!(
        "hashed it from scratch in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The fast path, cold (fresh caches: the pubkey index is built by the deposits) and warm.
    let mut cold = state.clone();
    let t = Instant::now();
    process_epoch_single_pass(&mut cold, &config).expect("single pass (cold)");
    println!(
        "process_epoch_single_pass, cold caches: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut fast = state.clone();
    warm_up(&mut fast);
    let mut times = Vec::new();
    for _ in 0..3 {
        let mut s = fast.clone();
        let (t, c) = (Instant::now(), cpu_ms());
        process_epoch_single_pass(&mut s, &config).expect("single pass (warm)");
        times.push((t.elapsed().as_secs_f64() * 1e3, cpu_ms() - c));
    }
    println!("process_epoch_single_pass, warm caches (wall ms, cpu ms): {times:.1?}");
    process_epoch_single_pass(&mut fast, &config).expect("single pass");
    let t = Instant::now();
    fast.apply_pending_updates().expect("apply");
    let fast_root = fast.tree_hash_root();
    println!(
        "  then hashing the post-state (next process_slot): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // The reference (spec-shaped) path, step by step, for the timing and the result.
    println!("reference process_epoch, warm caches, step by step:");
    let mut reference = state.clone();
    warm_up(&mut reference);
    timed_steps(&mut reference, &config);
    reference.apply_pending_updates().expect("apply");
    cold.apply_pending_updates().expect("apply");
    assert_eq!(
        reference.tree_hash_root(),
        fast_root,
        "single pass differs from the reference"
    );
    assert_eq!(
        cold.tree_hash_root(),
        fast_root,
        "cold and warm single pass differ"
    );

    // The once-per-period sync committee selection, separately.
    let t = Instant::now();
    let indices = get_next_sync_committee_indices(&state).expect("sync committee");
    println!(
        "get_next_sync_committee_indices: {:.1} ms ({} members)",
        t.elapsed().as_secs_f64() * 1e3,
        indices.len()
    );
}

#[test]
#[ignore = "slow: builds a 2.3M-validator state; run explicitly with --release"]
fn iteration_costs_2_3m_validators() {
    let state = synthetic_state(VALIDATORS, true);
    let plain: Vec<mainnet::Validator> = state.validators.iter().cloned().collect();
    let t = Instant::now();
    let slashed = plain.iter().filter(|v| v.slashed).count();
    println!(
        "Vec<Validator> iter: {:.1} ms ({slashed})",
        t.elapsed().as_secs_f64() * 1e3
    );
    for round in 0..2 {
        let t = Instant::now();
        let slashed = state.validators.iter().filter(|v| v.slashed).count();
        println!(
            "[{round}] validators.iter(): {:.1} ms ({slashed} slashed)",
            t.elapsed().as_secs_f64() * 1e3
        );
        let t = Instant::now();
        let sum: u64 = state.balances.iter().sum();
        println!(
            "[{round}] balances.iter(): {:.1} ms ({sum})",
            t.elapsed().as_secs_f64() * 1e3
        );
        let t = Instant::now();
        let mut acc = 0u64;
        for ((((v, b), p), c), s) in state
            .validators
            .iter()
            .zip(state.balances.iter())
            .zip(state.previous_epoch_participation.iter())
            .zip(state.current_epoch_participation.iter())
            .zip(state.inactivity_scores.iter())
        {
            acc = acc.wrapping_add(v.effective_balance ^ b ^ u64::from(*p) ^ u64::from(*c) ^ s);
        }
        println!(
            "[{round}] zipped 5 lists: {:.1} ms ({acc})",
            t.elapsed().as_secs_f64() * 1e3
        );
        let t = Instant::now();
        let v: Vec<u64> = state.balances.iter().map(|b| b + 1).collect();
        let list: List<u64, typenum::U1099511627776> = List::new(v).expect("list");
        println!(
            "[{round}] balances Vec -> List::new: {:.1} ms ({})",
            t.elapsed().as_secs_f64() * 1e3,
            list.len()
        );
        let t = Instant::now();
        let mut s2 = state.clone();
        for i in (0..VALIDATORS).step_by(100) {
            if let Some(b) = s2.balances.get_mut(i) {
                *b += 1;
            }
        }
        s2.balances.apply_updates().expect("apply");
        println!(
            "[{round}] 23k balance get_mut + apply: {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
