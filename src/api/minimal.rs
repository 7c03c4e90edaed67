//! The Beacon API for the **minimal** preset (the sources in `beacon/`, compiled for
//! [`crate::consensus::minimal`] and [`crate::store::minimal`]).

pub(crate) use crate::consensus::minimal as spec;
pub(crate) use crate::store::minimal as store;

#[allow(clippy::duplicate_mod)]
#[path = "beacon/mod.rs"]
mod beacon;

pub use beacon::*;
