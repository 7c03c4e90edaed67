//! The store with a mainnet-preset state of 1M validators (`STORE_BENCH_VALIDATORS` to change):
//!
//! - `store_state`: one transaction storing the state as the anchor (SSZ, snappy, LMDB write,
//!   fsync, pubkey table, cache accounting);
//! - `cold_start_snapshot`: open the store and load the head state from its snapshot with an
//!   empty cache (decode + full hash-tree-root check): a restart at a snapshot;
//! - `cold_start_replay_epoch`: the same with the head one epoch (32 blocks with
//!   full-participation attestations, and an epoch transition) past the snapshot: a restart
//!   midway through the snapshot grid pays this per epoch of distance.
//!
//! Prints the bytes on disk per stored state and per block. Run with `cargo bench --bench store`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ember::consensus::config::ChainConfig;
use ember::consensus::mainnet::BeaconState;
use ember::consensus::preset::PresetName;
use ember::store::mainnet::testchain::{build_block, synthetic_state, BlockContents};
use ember::store::mainnet::{BeaconStore, ChainUpdate, StoreConfig};
use ember::store::{MemoryBudget, PointerName};
use std::path::PathBuf;
use std::time::Instant;

fn validators() -> usize {
    std::env::var("STORE_BENCH_VALIDATORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20)
}

fn chain() -> ChainConfig {
    ChainConfig::for_preset(PresetName::Mainnet).with_forks_at_genesis()
}

fn config() -> StoreConfig {
    StoreConfig::new(&MemoryBudget::default())
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// A store holding `state` as anchor and `blocks` blocks on top of it.
fn store_with_chain(name: &str, state: &BeaconState, blocks: u64) -> PathBuf {
    let dir = fresh_dir(name);
    let store = BeaconStore::open(&dir, config(), chain()).expect("open");
    store.initialise_from_genesis(state).expect("anchor");
    let before = store.disk_usage().expect("usage");
    let mut parent = state.clone();
    let mut block_bytes = 0u64;
    let started = Instant::now();
    for slot in 1..=blocks {
        let contents = BlockContents {
            attest: true,
            ..Default::default()
        };
        let (block, root, post) = build_block(&chain(), &parent, slot, &contents).expect("block");
        block_bytes += ssz::Encode::ssz_bytes_len(&block) as u64;
        let update = ChainUpdate {
            head: Some(root),
            ..Default::default()
        };
        store
            .import_block(&block, root, &post, &update)
            .expect("import");
        parent = post;
    }
    if blocks > 0 {
        let after = store.disk_usage().expect("usage");
        println!(
            "{blocks} blocks built and imported in {:.1} s; SSZ {:.1} KiB per block; chain tables \
             grew {:.1} KiB per block (blocks snappy + indices)",
            started.elapsed().as_secs_f64(),
            block_bytes as f64 / blocks as f64 / 1024.0,
            (after.chain_bytes() - before.chain_bytes()) as f64 / blocks as f64 / 1024.0
        );
    }
    dir
}

fn bench(c: &mut Criterion) {
    let n = validators();
    let started = Instant::now();
    let state = synthetic_state(&chain(), n).expect("state");
    println!(
        "{n} validators: state built in {:.1} s, {:.1} MiB of SSZ",
        started.elapsed().as_secs_f64(),
        mib(ssz::Encode::ssz_bytes_len(&state) as u64)
    );
    let mut group = c.benchmark_group("store");
    group.sample_size(10);

    let dir = fresh_dir("store");
    group.bench_function("store_state", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&dir);
                BeaconStore::open(&dir, config(), chain()).expect("open")
            },
            |store| {
                store.initialise_from_genesis(&state).expect("store");
                store
            },
            BatchSize::PerIteration,
        )
    });
    {
        let store = BeaconStore::open(&dir, config(), chain()).expect("open");
        let usage = store.disk_usage().expect("usage");
        println!(
            "one stored state: states table {:.1} MiB (snappy SSZ), pubkeys {:.1} MiB, file {:.1} MiB",
            mib(usage.state_bytes()),
            mib(usage.table("pubkeys").bytes),
            mib(usage.file_bytes)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    let snapshot_dir = store_with_chain("snapshot", &state, 0);
    group.bench_function("cold_start_snapshot", |b| {
        b.iter(|| {
            let store = BeaconStore::open(&snapshot_dir, config(), chain()).expect("open");
            let head = store.pointer(PointerName::Head).expect("head");
            store.load_state(&head.state_root).expect("load")
        })
    });
    let _ = std::fs::remove_dir_all(&snapshot_dir);

    let epoch_dir = store_with_chain("epoch", &state, 32);
    group.bench_function("cold_start_replay_epoch", |b| {
        b.iter(|| {
            let store = BeaconStore::open(&epoch_dir, config(), chain()).expect("open");
            let head = store.pointer(PointerName::Head).expect("head");
            store.load_state(&head.state_root).expect("load")
        })
    });
    let _ = std::fs::remove_dir_all(&epoch_dir);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
