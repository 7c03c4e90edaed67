//! Engine API conversions for the **minimal** preset (the sources in `preset/`, compiled for
//! [`crate::consensus::minimal`]).

pub(crate) use crate::consensus::minimal as spec;

#[allow(clippy::duplicate_mod)]
#[path = "preset/mod.rs"]
mod preset;

pub use preset::*;
