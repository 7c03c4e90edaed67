//! The store for the **minimal** preset (the sources in `beacon/`, compiled for
//! [`crate::consensus::minimal`]).

pub(crate) use crate::consensus::minimal as spec;

#[allow(clippy::duplicate_mod)]
#[path = "beacon/mod.rs"]
mod beacon;

pub use beacon::*;
