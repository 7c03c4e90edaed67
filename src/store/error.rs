//! The store's error type.

use crate::consensus::primitives::{Hash256, Slot};

/// Everything the store can fail with. Data read from disk is external data: a record that
/// does not decode, or a pointer to a missing record, is a [`StoreError::Corrupt`] naming the
/// table and key, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("LMDB: {0}")]
    Lmdb(#[from] heed::Error),
    #[error("I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The memory map reached its configured maximum and the write did not fit.
    #[error("database full: map size {map_size} bytes reached the limit of {limit} bytes")]
    MapFull { map_size: usize, limit: usize },
    #[error("corrupt record in table `{table}` at key {key}: {reason}")]
    Corrupt {
        table: &'static str,
        key: String,
        reason: String,
    },
    #[error("the database was written by {found}, this node runs {expected}")]
    Mismatch { expected: String, found: String },
    #[error("the database is not initialised (no anchor)")]
    NotInitialised,
    #[error("the database is already initialised")]
    AlreadyInitialised,
    #[error("unknown block {0:?}")]
    UnknownBlock(Hash256),
    #[error("unknown state {0:?}")]
    UnknownState(Hash256),
    #[error("block {block:?}: parent {parent:?} is not in the store")]
    UnknownParent { block: Hash256, parent: Hash256 },
    #[error(
        "block {root:?} at slot {slot} does not descend from the finalized block {finalized:?}"
    )]
    NotDescendant {
        root: Hash256,
        slot: Slot,
        finalized: Hash256,
    },
    #[error("finalization may not go back: finalized epoch {current}, asked for {requested}")]
    FinalizedRegress { current: u64, requested: u64 },
    #[error("state {state_root:?} cannot be rebuilt: {reason}")]
    Replay { state_root: Hash256, reason: String },
    #[error("inconsistent store: {0}")]
    Inconsistent(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    pub(crate) fn corrupt(table: &'static str, key: &[u8], reason: impl ToString) -> Self {
        StoreError::Corrupt {
            table,
            key: format!("0x{}", hex::encode(key)),
            reason: reason.to_string(),
        }
    }
}
