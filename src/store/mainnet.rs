//! The store for the **mainnet** preset (the sources in `beacon/`, compiled for
//! [`crate::consensus::mainnet`]).

pub(crate) use crate::consensus::mainnet as spec;

#[allow(clippy::duplicate_mod)]
#[path = "beacon/mod.rs"]
mod beacon;

pub use beacon::*;
