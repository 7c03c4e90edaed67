//! The state transition (Electra and Fulu), compiled once per preset like the containers.
//!
//! - [`helpers`] — the spec's misc/predicate/accessor/mutator functions.
//! - [`epoch`] — `process_epoch` and its steps.
//! - [`slot`] — `process_slots`, `process_slot`.
//! - [`fork`] — `upgrade_to_fulu`.
//! - [`caches`] — committee, balance and pubkey caches kept beside the state.
//!
//! Every fallible function returns [`TransitionError`].

use super::*;

pub mod caches;
pub mod epoch;
pub mod error;
pub mod fork;
pub mod helpers;
pub mod single_pass;
pub mod slot;

pub use error::TransitionError;

// Block processing (engineer B).
pub mod block;
pub mod genesis;
pub mod signatures;
