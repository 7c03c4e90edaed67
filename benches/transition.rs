//! State-transition benchmarks on a mainnet-preset Fulu state with 2,300,000 validator records
//! (setup in `support/mod.rs`: ~97% active, realistic participation, balances, queues).
//!
//! One core (the figure the targets are about):
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo bench --bench transition
//! RAYON_NUM_THREADS=1 cargo bench --bench transition -- epoch/    # one group
//! ```
//!
//! Two clocks: every benchmark runs once with wall time (groups `epoch`, `block`, ...) and once
//! with the process's CPU time (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`, all threads; groups
//! `epoch_cpu`, `block_cpu`, ...). On a shared, overloaded machine the wall time includes the
//! time the process waited for a core; with `RAYON_NUM_THREADS=1` the CPU time is the time on
//! one core. `EMBER_BENCH_CLOCK=wall` or `=cpu` runs only one of them.
//!
//! Threads: the epoch transition is single-threaded (rayon is used only by state hashing).
//! blst's multi-pairing (`verify_multiple_aggregate_signatures`, the block's batch check) and
//! its single `verify` run on blst's own thread pool (one thread per CPU), which
//! `RAYON_NUM_THREADS` does not limit; the CPU clock counts those threads too.
//!
//! Setup (not timed) takes one to two minutes: genesis of 2.3M records, the realistic state,
//! one epoch transition and a signed block. Groups:
//!
//! - `epoch/process_slots_boundary`: the epoch transition as the node runs it:
//!   `process_slots` from the last slot of epoch 380,013 to the first of the next
//!   (`process_slot`, whose state root is incremental, then the one-pass epoch
//!   `process_epoch_single_pass`), on a clone of the state (cloned in the batch setup, not
//!   timed) that has the caches a node's head state has (committees of both epochs, total
//!   active balance, pubkey index, validator columns); `..._cold_caches` with them cleared;
//!   `process_epoch_reference`: `transition::epoch::process_epoch`, the spec-shaped reference
//!   (after `process_slot`, warm caches); `state_root_after_epoch`: the hash
//!   (`apply_pending_updates` + `tree_hash_root`) that the next `process_slot` computes after
//!   the epoch transition.
//! - `block/state_transition_batch`: the full `state_transition` of a block (8 attestations
//!   covering all 64 committees of a slot, 512-member sync aggregate, 16 withdrawals, 200
//!   transactions) with `VerifySignatures::Batch` and `validate_result = true` (proposer
//!   signature, state root check), warm pubkey cache (`KeyCheck::Exact`; the pre-state carries
//!   the record of which cached keys agree with its registry, as a node's head state does after
//!   the blocks it processed: see `signatures::confirm_cached_pubkeys`); `..._cold_pubkeys`
//!   with an empty cache;
//!   `process_block_batch`: `process_block` alone (state already at the block's slot; no
//!   proposer signature, no state root); `process_block_no_signatures`: the same without
//!   signatures; `state_transition_batch_trust_index`: warm cache in `KeyCheck::TrustIndex`
//!   mode (cached keys used without re-reading and re-compressing the state's bytes).
//! - `state_root/after_block`: state root after the block, incremental (the pre-state's hashes
//!   computed).
//! - `clone/clone_mutate`: `clone()` of the state, then 1,000 balances and 100 validators
//!   changed; `clone_mutate_apply`: the same plus `apply_pending_updates`.

#[path = "support/mod.rs"]
mod support;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode};
use ember::consensus::mainnet::transition::block::{
    process_block, state_transition, VerifySignatures,
};
use ember::consensus::mainnet::transition::epoch::process_epoch;
use ember::consensus::mainnet::transition::slot::{process_slot, process_slots};
use ember::consensus::mainnet::BeaconState;
use ember::consensus::pubkey_cache::{KeyCheck, PubkeyCache};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::*;
use tree_hash::TreeHash;

/// Same allocator as the node binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time of the whole process (user + system, all threads).
struct ProcessCpuTime(WallTime);

fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ProcessCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        process_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(process_cpu_ns().saturating_sub(start))
    }
    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

struct Setup {
    config: ember::consensus::config::ChainConfig,
    keys: Keys,
    /// After the block at the last slot of the epoch, hashed, caches warm.
    epoch_state: BeaconState,
    /// `epoch_state` after `process_slot`: the input of `process_epoch`.
    pre_epoch: BeaconState,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let started = Instant::now();
        let config = config();
        let keys = Keys::new();
        let epoch_state = epoch_state(&config, &keys, VALIDATORS);
        let mut pre_epoch = epoch_state.clone();
        process_slot(&mut pre_epoch).expect("process_slot");
        eprintln!(
            "setup: {} validators, epoch state at slot {} built in {:.1} s (load {})",
            epoch_state.validators.len(),
            epoch_state.slot,
            started.elapsed().as_secs_f64(),
            load_average()
        );
        Setup {
            config,
            keys,
            epoch_state,
            pre_epoch,
        }
    })
}

fn block_setup() -> &'static BlockFixture {
    static BLOCK: OnceLock<BlockFixture> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let s = setup();
        let started = Instant::now();
        let fixture = block_fixture(&s.config, &s.keys, &s.epoch_state);
        eprintln!(
            "setup: block at slot {} ({} attestations over {} committees, {} attesters, {} \
             withdrawals) built and checked in {:.1} s; pubkey cache holds {} keys (load {})",
            fixture.block.message.slot,
            fixture.block.message.body.attestations.len(),
            fixture.committees,
            fixture.attesters,
            fixture
                .block
                .message
                .body
                .execution_payload
                .withdrawals
                .len(),
            started.elapsed().as_secs_f64(),
            fixture.pubkeys.cached(),
            load_average()
        );
        fixture
    })
}

fn heavy_group<'a, M: Measurement>(
    c: &'a mut Criterion<M>,
    name: &str,
    seconds: u64,
) -> BenchmarkGroup<'a, M> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(seconds));
    group
}

fn bench_epoch<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let mut group = heavy_group(c, &format!("epoch{clock}"), 15);
    let boundary = |state: &mut BeaconState, config| {
        let next = state.slot + 1;
        process_slots(state, config, next).expect("process_slots over the epoch boundary");
    };
    group.bench_function("process_slots_boundary", |b| {
        let s = setup();
        b.iter_batched(
            || s.epoch_state.clone(),
            |mut state| {
                boundary(&mut state, &s.config);
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("process_slots_boundary_cold_caches", |b| {
        let s = setup();
        b.iter_batched(
            || {
                let state = s.epoch_state.clone();
                state.caches.clear();
                state
            },
            |mut state| {
                boundary(&mut state, &s.config);
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("state_root_after_epoch", |b| {
        let s = setup();
        b.iter_batched(
            || {
                let mut state = s.epoch_state.clone();
                boundary(&mut state, &s.config);
                state
            },
            |mut state| {
                state.apply_pending_updates().expect("apply");
                let root = state.tree_hash_root();
                (state, root)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("process_epoch_reference", |b| {
        let s = setup();
        b.iter_batched(
            || s.pre_epoch.clone(),
            |mut state| {
                process_epoch(&mut state, &s.config).expect("process_epoch");
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    eprintln!("load average after the group: {}", load_average());
}

fn bench_block<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let mut group = heavy_group(c, &format!("block{clock}"), 10);
    group.bench_function("state_transition_batch", |b| {
        let (s, f) = (setup(), block_setup());
        b.iter_batched(
            || f.pre.clone(),
            |mut state| {
                state_transition(
                    &mut state,
                    &f.block,
                    true,
                    &s.config,
                    &TrustPayloads,
                    VerifySignatures::Batch(&f.pubkeys),
                )
                .expect("valid block");
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("state_transition_batch_trust_index", |b| {
        let (s, f) = (setup(), block_setup());
        let pubkeys = PubkeyCache::with_check(KeyCheck::TrustIndex);
        let mut warm = f.pre.clone();
        state_transition(
            &mut warm,
            &f.block,
            true,
            &s.config,
            &TrustPayloads,
            VerifySignatures::Batch(&pubkeys),
        )
        .expect("valid block");
        b.iter_batched(
            || f.pre.clone(),
            |mut state| {
                state_transition(
                    &mut state,
                    &f.block,
                    true,
                    &s.config,
                    &TrustPayloads,
                    VerifySignatures::Batch(&pubkeys),
                )
                .expect("valid block");
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("process_block_batch", |b| {
        let (s, f) = (setup(), block_setup());
        b.iter_batched(
            || f.at_slot.clone(),
            |mut state| {
                process_block(
                    &mut state,
                    &f.block.message,
                    &s.config,
                    &TrustPayloads,
                    VerifySignatures::Batch(&f.pubkeys),
                )
                .expect("valid block");
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("process_block_no_signatures", |b| {
        let (s, f) = (setup(), block_setup());
        b.iter_batched(
            || f.at_slot.clone(),
            |mut state| {
                process_block(
                    &mut state,
                    &f.block.message,
                    &s.config,
                    &TrustPayloads,
                    VerifySignatures::No,
                )
                .expect("valid block");
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let mut group = heavy_group(c, &format!("block{clock}"), 40);
    group.bench_function("state_transition_batch_cold_pubkeys", |b| {
        let (s, f) = (setup(), block_setup());
        b.iter_batched(
            || (f.pre.clone(), PubkeyCache::new()),
            |(mut state, pubkeys)| {
                state_transition(
                    &mut state,
                    &f.block,
                    true,
                    &s.config,
                    &TrustPayloads,
                    VerifySignatures::Batch(&pubkeys),
                )
                .expect("valid block");
                (state, pubkeys)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    eprintln!("load average after the group: {}", load_average());
}

fn bench_state_root<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let mut group = c.benchmark_group(format!("state_root{clock}"));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("after_block", |b| {
        let (s, f) = (setup(), block_setup());
        b.iter_batched(
            || {
                let mut state = f.pre.clone();
                state_transition(
                    &mut state,
                    &f.block,
                    false,
                    &s.config,
                    &TrustPayloads,
                    VerifySignatures::No,
                )
                .expect("valid block");
                state
            },
            |mut state| {
                state.apply_pending_updates().expect("apply");
                let root = state.tree_hash_root();
                assert_eq!(root, f.block.message.state_root);
                (state, root)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    eprintln!("load average after the group: {}", load_average());
}

/// 1,000 balances and 100 validators spread over the registry.
fn mutate(state: &mut BeaconState) {
    let n = state.validators.len();
    for k in 0..1000 {
        *state.balances.get_mut(k * (n / 1000)).expect("balance") += 1_000;
    }
    for k in 0..100 {
        let v = state
            .validators
            .get_mut(k * (n / 100) + 7)
            .expect("validator");
        v.effective_balance -= 1_000_000_000;
        v.exit_epoch = EPOCH + 10;
    }
}

fn bench_clone<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let mut group = c.benchmark_group(format!("clone{clock}"));
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("clone_mutate", |b| {
        let f = block_setup();
        // One state alive at a time: each clone's pending-update maps can be large.
        b.iter_batched(
            || (),
            |()| {
                let mut state = f.pre.clone();
                mutate(&mut state);
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("clone_mutate_apply", |b| {
        let f = block_setup();
        b.iter_batched(
            || (),
            |()| {
                let mut state = f.pre.clone();
                mutate(&mut state);
                state.apply_pending_updates().expect("apply");
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    eprintln!("load average after the group: {}", load_average());
}

fn run_all<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    bench_epoch(c, clock);
    bench_block(c, clock);
    bench_state_root(c, clock);
    bench_clone(c, clock);
}

fn main() {
    let clocks = std::env::var("EMBER_BENCH_CLOCK").unwrap_or_default();
    eprintln!(
        "transition bench: RAYON_NUM_THREADS={}, load {}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into()),
        load_average()
    );
    if clocks != "cpu" {
        let mut c = Criterion::default().configure_from_args();
        run_all(&mut c, "");
        c.final_summary();
    }
    if clocks != "wall" {
        let mut c = Criterion::default()
            .with_measurement(ProcessCpuTime(WallTime))
            .configure_from_args();
        run_all(&mut c, "_cpu");
        c.final_summary();
    }
    eprintln!("transition bench: done, load {}", load_average());
}
