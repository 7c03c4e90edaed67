//! Engine API conversions for the **mainnet** preset (the sources in `preset/`, compiled for
//! [`crate::consensus::mainnet`]).

pub(crate) use crate::consensus::mainnet as spec;

#[allow(clippy::duplicate_mod)]
#[path = "preset/mod.rs"]
mod preset;

pub use preset::*;
