//! The store on a synthetic minimal-preset chain (forks, reorgs, skipped slots, finality,
//! deposits): pruning and the snapshot policy, archive mode, the byte-bounded state cache with
//! structural sharing, replay after reopening, and the chain-update rules.

use ember::consensus::config::ChainConfig;
use ember::consensus::minimal::Checkpoint;
use ember::consensus::preset::PresetName;
use ember::store::minimal::mem::state_memory;
use ember::store::minimal::testchain::{run_writer, synthetic_state, WriterPlan};
use ember::store::minimal::{BeaconStore, ChainUpdate, StoreConfig};
use ember::store::{MemoryBudget, PointerName, StoreError};
use std::path::PathBuf;
use tree_hash::TreeHash;

fn chain() -> ChainConfig {
    ChainConfig::for_preset(PresetName::Minimal).with_forks_at_genesis()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(cache_bytes: u64, archive: bool) -> StoreConfig {
    StoreConfig {
        snapshot_every_epochs: 2,
        archive,
        state_cache_bytes: cache_bytes,
        ..StoreConfig::new(&MemoryBudget::default())
    }
}

fn grow(store: &BeaconStore, until_slot: u64) {
    let plan = WriterPlan {
        seed: 11,
        until_slot,
        deposit_every: 3,
        fork_one_in: 4,
        skip_one_in: 6,
    };
    run_writer(
        store,
        || synthetic_state(store.chain_config(), 32),
        &plan,
        |_, _, _| {},
    )
    .expect("writer");
}

#[test]
fn pruning_keeps_finalized_history_and_bounded_snapshots() {
    let d = dir("prune");
    let store = BeaconStore::open(&d, config(64 << 20, false), chain()).expect("open");
    grow(&store, 200);
    let report = store.check_consistency(true).expect("consistent");
    assert!(report.finalized.epoch >= 15, "finality: {report:?}");
    assert!(report.head_validators > 32, "deposits were processed");
    let m = store.metrics();
    assert!(m.blocks_pruned > 0, "abandoned forks were pruned: {m:?}");
    // Pruned mode: the anchor's snapshot, the newest finalized one, the hot ones (one per
    // 2-epoch interval per branch above finality).
    let hot_epochs = report.head.epoch - report.finalized.epoch;
    assert!(
        report.snapshots <= 2 + hot_epochs,
        "{} snapshots for {hot_epochs} hot epochs",
        report.snapshots
    );
    // Every finalized slot's block is still there; hot blocks are only above finality.
    for slot in 0..=report.finalized.slot {
        if let Some(root) = store.block_root_at_slot(slot).expect("index") {
            assert!(store.block(&root).expect("read").is_some());
        }
    }
    let usage = store.disk_usage().expect("usage");
    println!(
        "pruned: {} snapshots, chain tables {} B over {} finalized epochs ({} B/epoch), file {} B",
        report.snapshots,
        usage.chain_bytes(),
        report.finalized.epoch,
        usage.chain_bytes() / report.finalized.epoch,
        usage.file_bytes
    );
    drop(store);

    // Reopened with an empty cache, every hot state is rebuilt by replay and matches its root.
    let store = BeaconStore::open(&d, config(64 << 20, false), chain()).expect("reopen");
    for (_, _, meta) in store.hot_blocks().expect("hot") {
        let state = store.load_state(&meta.state_root).expect("replay");
        assert_eq!(state.tree_hash_root(), meta.state_root);
    }
    assert!(store.metrics().replayed_blocks > 0);
    // A pruned database does not become an archive.
    drop(store);
    assert!(matches!(
        BeaconStore::open(&d, config(64 << 20, true), chain()),
        Err(StoreError::Mismatch { .. })
    ));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn archive_mode_keeps_every_canonical_snapshot() {
    let d = dir("archive");
    let store = BeaconStore::open(&d, config(64 << 20, true), chain()).expect("open");
    grow(&store, 200);
    let report = store.check_consistency(true).expect("consistent");
    // One snapshot per 2-epoch interval of the canonical chain (plus hot branches).
    assert!(
        report.snapshots >= report.finalized.epoch / 2,
        "{} snapshots at finalized epoch {}",
        report.snapshots,
        report.finalized.epoch
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn state_cache_counts_shared_trees_once_and_stays_within_its_bound() {
    let d = dir("cache");
    let store = BeaconStore::open(&d, config(64 << 20, false), chain()).expect("open");
    grow(&store, 64);
    let hot = store.hot_blocks().expect("hot");
    let one = {
        let head = store.pointer(PointerName::Head).expect("head");
        state_memory(&store.load_state(&head.state_root).expect("head state")) as u64
    };
    drop(store);
    // A generous cache: the hot states together cost far less than their sum (sharing).
    let store = BeaconStore::open(&d, config(64 << 20, false), chain()).expect("open");
    for (_, _, meta) in &hot {
        store.load_state(&meta.state_root).expect("load");
    }
    let m = store.metrics().cache;
    println!(
        "{} states: {} B together, {} B for one alone",
        m.states, m.bytes, one
    );
    assert!(m.states >= hot.len());
    assert!(
        m.bytes < one * m.states as u64 / 2,
        "sharing not counted: {} B for {} states of {} B",
        m.bytes,
        m.states,
        one
    );
    drop(store);
    // A cache of about three states' worth: it evicts and stays under its bound.
    let bound = one * 3;
    let store = BeaconStore::open(&d, config(bound, false), chain()).expect("open");
    assert_eq!(store.metrics().cache.max_bytes, bound);
    for (_, _, meta) in &hot {
        store.load_state(&meta.state_root).expect("load");
        let m = store.metrics().cache;
        assert!(m.bytes <= bound, "{} B cached, bound {bound}", m.bytes);
    }
    let m = store.metrics().cache;
    assert!(m.evictions > 0 && m.misses > 0, "{m:?}");
    // Loading the most recent state again is a hit.
    let (_, _, last) = hot.last().expect("a hot block");
    let hits = m.hits;
    store.load_state(&last.state_root).expect("load");
    assert_eq!(store.metrics().cache.hits, hits + 1);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn chain_updates_are_checked() {
    let d = dir("rules");
    let store = BeaconStore::open(&d, config(64 << 20, false), chain()).expect("open");
    grow(&store, 96);
    let finalized = store.pointer(PointerName::Finalized).expect("finalized");
    assert!(finalized.epoch > 0);
    // Finality cannot go back.
    let back = ChainUpdate {
        finalized: Some(Checkpoint {
            epoch: finalized.epoch - 1,
            root: finalized.block_root,
        }),
        ..Default::default()
    };
    assert!(matches!(
        store.update_chain(&back),
        Err(StoreError::FinalizedRegress { .. })
    ));
    // The head cannot move below finality, nor to an unknown block.
    let anchor = store.pointer(PointerName::Anchor).expect("anchor");
    let below = ChainUpdate {
        head: Some(anchor.block_root),
        ..Default::default()
    };
    assert!(matches!(
        store.update_chain(&below),
        Err(StoreError::NotDescendant { .. })
    ));
    let unknown = ChainUpdate {
        head: Some(ember::consensus::primitives::Hash256::repeat_byte(7)),
        ..Default::default()
    };
    assert!(matches!(
        store.update_chain(&unknown),
        Err(StoreError::UnknownBlock(_))
    ));
    // A refused update changed nothing.
    store.check_consistency(true).expect("still consistent");
    assert_eq!(store.pointer(PointerName::Finalized).expect("f"), finalized);
    let _ = std::fs::remove_dir_all(&d);
}
