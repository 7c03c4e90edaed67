//! The validator duty service for the **mainnet** preset (the sources in `service/`, compiled
//! for [`crate::consensus::mainnet`]).

pub(crate) use crate::consensus::mainnet as spec;

#[allow(clippy::duplicate_mod)]
#[path = "service/mod.rs"]
mod service;

pub use service::*;
