//! Pure consensus code: types, SSZ and merkleization, BLS, shuffling.
//!
//! Nothing here performs I/O or uses async. The spec's functions keep the spec's names.
//!
//! Presets: the container definitions live once in `spec/containers.rs` and are compiled twice,
//! as [`mainnet`] and [`minimal`], each with its own concrete list lengths. No preset generic is
//! threaded through the types: `mainnet::BeaconState` is a plain struct.

#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used
    )
)]

pub mod arith;
pub mod block_invalid;
pub mod bls;
pub mod config;
pub mod constants;
pub mod execution;
pub mod kzg;
pub mod preset;
pub mod primitives;
pub mod pubkey_cache;
pub mod shuffling;

pub mod mainnet;
pub mod minimal;
