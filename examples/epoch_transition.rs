//! Peak memory and time of one epoch transition on the benchmark state of
//! `benches/transition.rs` (mainnet preset, Fulu, 2,300,000 validator records; setup shared via
//! `benches/support/mod.rs`).
//!
//! ```text
//! cargo build --release --example epoch_transition
//! RAYON_NUM_THREADS=1 /usr/bin/time -v target/release/examples/epoch_transition
//! ```
//!
//! (with `CARGO_TARGET_DIR` set, the binary is under that directory). Prints the setup's
//! memory, then resets the kernel's peak-RSS mark (`/proc/self/clear_refs`, value 5) and runs
//! what a node does at the epoch boundary, keeping the pre-state as a node keeps its head
//! state: `clone`, `process_slots` over the boundary (`process_slot`, then the one-pass
//! `process_epoch_single_pass`), then the state root that the next slot hashes. With
//! `--reference`, `process_slot` + `transition::epoch::process_epoch` (the spec-shaped
//! reference) instead. `VmHWM` after that is the process's peak during the transition; `/usr/bin/time`'s
//! "Maximum resident set size" is the peak of the whole run, setup included.
//!
//! Options: `--reference`, `--distinct-keys CACHE_FILE` (one real interop key per record, as on
//! mainnet, instead of 4,096 repeated: the state's pubkey -> index map then has 2.3M entries;
//! derived once, about a minute on two cores, then read from CACHE_FILE), `--validators N` (default 2,300,000; smaller for callgrind), `--repeat K` (run the
//! transition K times on fresh clones, for profilers; figures are printed per run).
//!
//! Profiling: `perf record -g target/release/examples/epoch_transition --repeat 5`, or on a
//! reduced size `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect='*process_epoch*' target/release/examples/epoch_transition
//! --validators 230000`.

#[path = "../benches/support/mod.rs"]
mod support;

use ember::consensus::mainnet::transition::epoch::process_epoch;
use ember::consensus::mainnet::transition::slot::{process_slot, process_slots};
use std::time::Instant;
use support::*;
use tree_hash::TreeHash;

/// Same allocator as the node binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// User + system CPU time of the whole process (all threads), in ms.
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

fn threads() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .map(|l| l.trim_start_matches("Threads:").trim().to_string())
        .unwrap_or_default()
}

fn main() {
    let mut validators = VALIDATORS;
    let mut repeat = 1;
    let mut reference = false;
    let mut distinct_keys: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--reference" {
            reference = true;
            continue;
        }
        if arg == "--distinct-keys" {
            distinct_keys = args.next().map(Into::into);
            continue;
        }
        let value = args
            .next()
            .and_then(|v| v.replace('_', "").parse::<usize>().ok());
        match (arg.as_str(), value) {
            ("--validators", Some(v)) => validators = v,
            ("--repeat", Some(v)) => repeat = v,
            _ => {
                eprintln!("usage: epoch_transition [--reference] [--distinct-keys CACHE_FILE] [--validators N] \
                     [--repeat K]");
                std::process::exit(2);
            }
        }
    }
    println!(
        "RAYON_NUM_THREADS={} load {}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into()),
        load_average()
    );

    let started = Instant::now();
    let config = config();
    let keys = match &distinct_keys {
        Some(cache) => Keys::distinct(validators as u64, Some(cache)),
        None => Keys::new(),
    };
    let state = epoch_state(&config, &keys, validators);
    // The key list is the benchmark's, not the node's (110 MB with distinct keys).
    drop(keys);
    let (hwm, rss) = memory_kb();
    println!(
        "setup:  {} validators ({} keys), slot {}, {:.1} s; VmHWM {:.0} MiB, VmRSS {:.0} MiB",
        state.validators.len(),
        if distinct_keys.is_some() {
            "distinct"
        } else {
            "4,096 distinct"
        },
        state.slot,
        started.elapsed().as_secs_f64(),
        mib(hwm),
        mib(rss)
    );

    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    if !reset {
        println!("note:   could not reset the peak-RSS mark; VmHWM includes the setup");
    }
    for run in 1..=repeat {
        let t0 = Instant::now();
        let mut post = state.clone();
        let t1 = Instant::now();
        let cpu0 = cpu_ms();
        if reference {
            // `process_slots` with the reference epoch: same post-state, same root.
            process_slot(&mut post).expect("process_slot");
            process_epoch(&mut post, &config).expect("process_epoch");
            post.slot += 1;
        } else {
            let next = post.slot + 1;
            process_slots(&mut post, &config, next).expect("process_slots");
        }
        let t2 = Instant::now();
        let cpu1 = cpu_ms();
        let cpu_epoch = cpu1 - cpu0;
        post.apply_pending_updates().expect("apply");
        let root = post.tree_hash_root();
        let t3 = Instant::now();
        let cpu_root = cpu_ms() - cpu1;
        let (hwm, rss) = memory_kb();
        println!(
            "run {run} ({}): clone {:.1} ms, epoch transition {:.1} ms (process CPU {:.0} ms, \
             {} threads), state root after epoch {:.1} ms (CPU {:.0} ms, {root:?}); VmHWM {:.0} MiB, VmRSS {:.0} MiB, load {}",
            if reference {
                "process_slot + process_epoch (reference)"
            } else {
                "process_slots: process_slot + process_epoch_single_pass"
            },
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3,
            cpu_epoch,
            threads(),
            (t3 - t2).as_secs_f64() * 1e3,
            cpu_root,
            mib(hwm),
            mib(rss),
            load_average()
        );
        drop(post);
    }
}
