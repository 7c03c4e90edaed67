//! A mainnet-preset state of 1M+ validators through the store: stored (SSZ, snappy, one LMDB
//! transaction), the store closed, reopened with an empty cache, and the state loaded back from
//! its snapshot and checked against its root. Prints the figures (time to store and to load,
//! bytes on disk, the state's real memory). `STORE_BIG_VALIDATORS` overrides the size.

use ember::consensus::config::ChainConfig;
use ember::consensus::preset::PresetName;
use ember::store::mainnet::mem::{state_memory, state_memory_milhouse};
use ember::store::mainnet::testchain::synthetic_state;
use ember::store::mainnet::{BeaconStore, StoreConfig};
use ember::store::{MemoryBudget, PointerName};
use std::time::Instant;
use tree_hash::TreeHash;

#[test]
fn mainnet_state_with_a_million_validators_survives_store_and_reload() {
    let validators: usize = std::env::var("STORE_BIG_VALIDATORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20);
    let chain = ChainConfig::for_preset(PresetName::Mainnet).with_forks_at_genesis();
    let started = Instant::now();
    let state = synthetic_state(&chain, validators).expect("synthetic state");
    let root = state.tree_hash_root();
    println!(
        "state: {validators} validators built and hashed in {:.1} s, {:.0} MiB in memory, {:.0} MiB of SSZ",
        started.elapsed().as_secs_f64(),
        state_memory(&state) as f64 / 1048576.0,
        ssz::Encode::ssz_bytes_len(&state) as f64 / 1048576.0,
    );
    // The cache's tracker agrees with milhouse's.
    let started = Instant::now();
    let ours = state_memory(&state);
    let ours_time = started.elapsed();
    let started = Instant::now();
    assert_eq!(ours, state_memory_milhouse(&state));
    println!(
        "measuring the state: {:.2} s (milhouse's MemoryTracker: {:.2} s)",
        ours_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let dir = std::env::temp_dir().join(format!("ember-store-big-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = StoreConfig::new(&MemoryBudget::default());
    {
        let store = BeaconStore::open(&dir, config, chain.clone()).expect("open");
        let started = Instant::now();
        store
            .initialise_from_genesis(&state)
            .expect("store the state");
        let stored = started.elapsed();
        let usage = store.disk_usage().expect("disk usage");
        println!(
            "store: {:.2} s; states table {:.1} MiB, file {:.1} MiB, map {:.0} MiB after {} resizes",
            stored.as_secs_f64(),
            usage.state_bytes() as f64 / 1048576.0,
            usage.file_bytes as f64 / 1048576.0,
            usage.map_size as f64 / 1048576.0,
            store.metrics().map_resizes
        );
        for (name, stat) in &usage.tables {
            if stat.entries > 0 {
                println!(
                    "  {name:<12} {:>8} entries {:>8.1} MiB",
                    stat.entries,
                    stat.bytes as f64 / 1048576.0
                );
            }
        }
    }
    let started = Instant::now();
    let store = BeaconStore::open(&dir, config, chain).expect("reopen");
    let head = store.pointer(PointerName::Head).expect("head");
    assert_eq!(head.state_root, root);
    let loaded = store.load_state(&head.state_root).expect("load the state");
    println!(
        "cold start (open + load + root check): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    println!("  {:?}", store.metrics().last_load);
    assert_eq!(loaded.validators.len(), validators);
    assert_eq!(loaded.tree_hash_root(), root);
    assert_eq!(
        loaded.validators.get(validators - 1),
        state.validators.get(validators - 1)
    );
    assert_eq!(store.pubkey_count().expect("pubkeys"), validators as u64);
    let report = store.check_consistency(true).expect("consistent");
    assert_eq!(report.head_validators, validators);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
