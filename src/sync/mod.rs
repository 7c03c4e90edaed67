//! Sync (`p2p-interface.md`, `sync/optimistic.md`): the quarantine for blocks whose parent is
//! unknown (resolved by batched `beacon_blocks_by_root` requests on a timer) and range sync
//! (`beacon_blocks_by_range` batches from peers, a bounded queue with back-pressure).
//!
//! Both are plain state machines, preset independent and free of I/O: the router
//! (`node::*::network`) feeds them events (statuses, downloads, import results) and carries out
//! what they ask (requests, imports, peer penalties).

pub mod quarantine;
pub mod range;

pub use quarantine::{MissingParent, Quarantine, QuarantineConfig, Quarantined};
pub use range::{
    BatchFault, BatchId, BatchRequest, LocalChain, Processed, RangeConfig, RangeSync, SyncState,
};
