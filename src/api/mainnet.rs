//! The Beacon API for the **mainnet** preset (the sources in `beacon/`, compiled for
//! [`crate::consensus::mainnet`] and [`crate::store::mainnet`]).

pub(crate) use crate::consensus::mainnet as spec;
pub(crate) use crate::store::mainnet as store;

#[allow(clippy::duplicate_mod)]
#[path = "beacon/mod.rs"]
mod beacon;

pub use beacon::*;
