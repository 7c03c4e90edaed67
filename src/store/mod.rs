//! The store: blocks, states, chain pointers, fork-choice bytes and validator public keys in
//! LMDB (through heed), with crash-safe writes and a state cache bounded by the process's
//! memory budget. All of the node's disk I/O for chain data lives here, never in `consensus`.
//!
//! - [`lmdb`]: the environment, transactions and the map-size policy (small boards, 16K pages).
//! - [`schema`]: tables and record encodings.
//! - [`budget`]: `--memory-budget` and its split among every cache and queue.
//! - [`minimal`] / [`mainnet`]: the typed store ([`minimal::BeaconStore`]), compiled once per
//!   preset from `beacon/` like the consensus types: import, pruning, snapshots and replay,
//!   the state cache, consistency checks, and a synthetic chain for tests and benchmarks.
//!
//! Design notes (tables, transaction boundaries, snapshot policy) are in `beacon/mod.rs`.

pub mod budget;
pub mod error;
pub mod lmdb;
pub mod schema;

pub mod mainnet;
pub mod minimal;

pub use budget::MemoryBudget;
pub use error::{Result, StoreError};
pub use lmdb::MapPolicy;
pub use schema::{Pointer, PointerName};
