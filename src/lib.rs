//! Ember: an Ethereum consensus-layer (beacon) node built for single-board computers.
//!
//! Architecture (one crate, one module per layer):
//! - [`consensus`]: the pure consensus code — types, SSZ/merkleization, BLS, shuffling.
//!   No I/O, no async; panicking arithmetic, indexing and `unwrap` are denied there by lints.
//! - [`store`]: the database (LMDB): blocks, states, chain pointers, pubkeys; the memory budget.
//! - [`tools`]: command-line tools built on the consensus code (SSZ inspection).
//! - [`execution`]: the Engine API client and the mock execution client.
//! - [`api`]: the Beacon API, its event stream, Prometheus metrics.
//! - [`validator`]: keys, slashing protection, the in-process validator duties.
//! - [`network`]: libp2p gossip and req/resp, discv5 discovery, peer scoring.
//! - [`sync`]: the quarantine of blocks with unknown parents and range sync.
//! - [`node`]: the beacon node (`ember bn`).
//! - [`devnet`]: `ember devnet`, the one-command local chain (supervises `mock-el` and `bn`).

pub mod api;
pub mod consensus;
pub mod devnet;
pub mod execution;
pub mod fork_choice;
pub mod network;
pub mod node;
pub mod store;
pub mod sync;
pub mod tools;
pub mod validator;
