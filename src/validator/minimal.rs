//! The validator duty service for the **minimal** preset (the sources in `service/`, compiled
//! for [`crate::consensus::minimal`]).

pub(crate) use crate::consensus::minimal as spec;

#[allow(clippy::duplicate_mod)]
#[path = "service/mod.rs"]
mod service;

pub use service::*;
