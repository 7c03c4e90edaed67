//! Sync (`p2p-interface.md`, `sync/optimistic.md`): the quarantine for blocks whose parent is
//! unknown (resolved by batched `beacon_blocks_by_root` requests on a timer) and range sync
//! (`beacon_blocks_by_range` batches from peers, a bounded queue with back-pressure).
