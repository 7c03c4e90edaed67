//! The node's chain for the **minimal** preset (the sources in `chain/`, compiled for
//! [`crate::consensus::minimal`]).

pub(crate) use crate::api::minimal as beacon_api;
pub(crate) use crate::consensus::minimal as spec;
pub(crate) use crate::execution::minimal as el;
pub(crate) use crate::store::minimal as store;
pub(crate) use crate::validator::minimal as vc;

#[allow(clippy::duplicate_mod)]
#[path = "chain/mod.rs"]
mod chain;

pub use chain::*;
