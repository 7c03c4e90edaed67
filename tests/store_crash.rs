//! The store's crash test: a real `ember` child process grows a chain in a real LMDB store
//! (`ember store-writer`: blocks with forks, reorgs, skipped slots, finality, deposits that grow
//! the registry, fork-choice bytes, map growth from a 256 KiB map) and is killed with SIGKILL at
//! a random moment, again and again. After every kill the store is reopened and checked:
//!
//! - it opens, and is either still uninitialised (killed before the first commit) or passes
//!   `check_consistency(deep)`: every pointer names a stored block and a rebuildable state,
//!   the canonical index is exactly the head's chain back to the anchor, hot blocks descend
//!   from the finalized one, no orphan blocks, snapshots and their index agree, the pubkey
//!   table is dense and matches the head and finalized registries;
//! - the pubkey table is exactly as long as the largest registry of any stored state;
//! - the fork-choice bytes name the head, justified and finalized blocks of the pointers;
//! - nothing finalized was lost: the finalized epoch never goes back, and every block seen
//!   finalized after an earlier kill is still canonical at its slot.
//!
//! `STORE_CRASH_KILLS` sets the number of kills (default 200), `STORE_CRASH_SEED` the seed of
//! the kill times (default: from the clock, printed), `STORE_CRASH_MAX_DELAY_MS` the longest
//! time a child runs (default 150 ms).

use ember::consensus::config::ChainConfig;
use ember::consensus::preset::PresetName;
use ember::consensus::primitives::{Hash256, Slot};
use ember::store::minimal::testchain::{Rng, TEST_FORK_CHOICE_VERSION};
use ember::store::minimal::{BeaconStore, StoreConfig};
use ember::store::MemoryBudget;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn open(dir: &Path) -> BeaconStore {
    let chain = ChainConfig::for_preset(PresetName::Minimal).with_forks_at_genesis();
    let config = StoreConfig {
        snapshot_every_epochs: 2,
        ..StoreConfig::new(&MemoryBudget::from_bytes_unchecked(64 << 20))
    };
    BeaconStore::open(dir, config, chain).expect("the store opens after a kill")
}

/// Everything the test remembers across kills.
#[derive(Default)]
struct Seen {
    finalized_epoch: u64,
    /// Blocks seen finalized (slot, root): each must stay canonical forever.
    finalized_blocks: Vec<(Slot, Hash256)>,
    max_head_slot: Slot,
}

fn check(dir: &Path, seen: &mut Seen, kill: u64) {
    let store = open(dir);
    if !store.is_initialised().expect("read pointers") {
        assert!(
            seen.finalized_blocks.is_empty(),
            "kill {kill}: an initialised store lost its initialisation"
        );
        return;
    }
    let report = store
        .check_consistency(true)
        .unwrap_or_else(|e| panic!("kill {kill}: inconsistent store: {e}"));
    // Fork choice agrees with the pointers.
    let (version, bytes) = report.fork_choice.clone().unwrap_or_default();
    if report.head.slot > 0 {
        assert_eq!(
            version, TEST_FORK_CHOICE_VERSION,
            "kill {kill}: fork choice version"
        );
        let mut expected = Vec::new();
        expected.extend_from_slice(report.head.block_root.as_slice());
        expected.extend_from_slice(report.justified.block_root.as_slice());
        expected.extend_from_slice(report.finalized.block_root.as_slice());
        assert_eq!(
            bytes, expected,
            "kill {kill}: fork choice disagrees with the pointers"
        );
    }
    // Nothing finalized lost.
    assert!(
        report.finalized.epoch >= seen.finalized_epoch,
        "kill {kill}: finalized epoch went back from {} to {}",
        seen.finalized_epoch,
        report.finalized.epoch
    );
    for (slot, root) in &seen.finalized_blocks {
        assert_eq!(
            store.block_root_at_slot(*slot).expect("canonical index"),
            Some(*root),
            "kill {kill}: finalized block at slot {slot} lost"
        );
        assert!(store.block(root).expect("read block").is_some());
    }
    seen.finalized_epoch = report.finalized.epoch;
    seen.finalized_blocks
        .push((report.finalized.slot, report.finalized.block_root));
    seen.max_head_slot = seen.max_head_slot.max(report.head.slot);
    // The pubkey table is as long as the largest registry of any stored state.
    let mut largest = report.finalized_validators.max(report.head_validators);
    for (_, _, meta) in store.hot_blocks().expect("hot blocks") {
        let state = store
            .load_state(&meta.state_root)
            .unwrap_or_else(|e| panic!("kill {kill}: hot state {:?}: {e}", meta.state_root));
        largest = largest.max(state.validators.len());
    }
    assert_eq!(
        report.pubkeys, largest as u64,
        "kill {kill}: pubkey table length vs largest registry"
    );
}

#[test]
fn sigkilled_writer_leaves_a_consistent_store() {
    let kills = env_u64("STORE_CRASH_KILLS", 200);
    let max_delay = env_u64("STORE_CRASH_MAX_DELAY_MS", 150).max(1);
    let seed = env_u64(
        "STORE_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    );
    println!("store crash test: {kills} kills, seed {seed}, delays up to {max_delay} ms");
    let dir = std::env::temp_dir().join(format!("ember-store-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut rng = Rng::new(seed);
    let mut seen = Seen::default();
    let (mut before_ready, mut mid_chain) = (0u64, 0u64);
    let mut imports = 0u64;
    let started = Instant::now();
    for kill in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
            .args(["store-writer", "--seed", "7", "--datadir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ember store-writer");
        let delay = rng.next_u64() % max_delay;
        std::thread::sleep(Duration::from_millis(delay));
        // SIGKILL: no destructor, no flush, no abort of the open transaction.
        match child.try_wait().expect("poll child") {
            Some(status) => panic!("kill {kill}: the writer exited on its own: {status}"),
            None => child.kill().expect("SIGKILL the writer"),
        }
        child.wait().expect("reap the writer");
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        let n = out.lines().filter(|l| l.starts_with("imported")).count() as u64;
        imports += n;
        if !out.contains("ready") {
            before_ready += 1;
        } else if n > 0 {
            mid_chain += 1;
        }
        check(&dir, &mut seen, kill);
    }
    println!(
        "{kills} kills in {:.1} s: {before_ready} before the store was open, {mid_chain} after \
         imports; {imports} blocks imported; head reached slot {}, finalized \
         epoch {}",
        started.elapsed().as_secs_f64(),
        seen.max_head_slot,
        seen.finalized_epoch
    );
    assert!(
        seen.finalized_epoch > 0,
        "the chain never finalized: the kills did not exercise pruning"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
