//! The node's chain for the **mainnet** preset (the sources in `chain/`, compiled for
//! [`crate::consensus::mainnet`]).

pub(crate) use crate::api::mainnet as beacon_api;
pub(crate) use crate::consensus::mainnet as spec;
pub(crate) use crate::execution::mainnet as el;
pub(crate) use crate::store::mainnet as store;
pub(crate) use crate::validator::mainnet as vc;

#[allow(clippy::duplicate_mod)]
#[path = "chain/mod.rs"]
mod chain;

pub use chain::*;
