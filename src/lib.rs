//! Ember: an Ethereum consensus-layer (beacon) node built for single-board computers.
//!
//! Architecture (one crate, one module per layer):
//! - [`consensus`]: the pure consensus code — types, SSZ/merkleization, BLS, shuffling.
//!   No I/O, no async; panicking arithmetic, indexing and `unwrap` are denied there by lints.
//! - [`tools`]: command-line tools built on the consensus code (SSZ inspection).

pub mod consensus;
pub mod fork_choice;
pub mod tools;
pub mod validator;
