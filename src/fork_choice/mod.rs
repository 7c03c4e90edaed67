//! Fork choice: the spec's LMD-GHOST + Casper FFG store (phase0 `fork-choice.md` as modified up
//! to Fulu, consensus-specs 1.7.0a13), computed with a proto-array and vote deltas.
//!
//! This module is preset-independent and pure (no I/O, no async, no clock): time enters only
//! through [`ForkChoice::on_tick`]. It holds what the spec's `Store` keeps about blocks and votes
//! — time, checkpoints, proposer boost, equivocating indices, the block tree ([`ProtoArray`]) and
//! the latest messages ([`VoteTracker`]) — and implements every spec function that needs nothing
//! but those. The parts that need a `BeaconState` (running the state transition in `on_block`,
//! the checkpoint states, indexed attestations, committees for `is_head_weak`) are in the
//! per-preset module `consensus::{mainnet,minimal}::fork_choice`, which owns one [`ForkChoice`].
//!
//! Spec names are kept: [`ForkChoice::get_head`], [`ForkChoice::on_tick`],
//! [`ForkChoice::update_checkpoints`], [`ForkChoice::get_proposer_head`], ...
//!
//! How `get_head` is computed (equal to the spec's, not just close):
//! - every block is a [`ProtoNode`] in insertion order (a parent always precedes its children);
//! - a node's `weight` is the spec's `get_attestation_score`: the justified-state balance of every
//!   non-equivocating validator whose latest message is the node or a descendant. Votes move as
//!   deltas ([`VoteTracker::compute_deltas`]): only validators whose latest message changed since
//!   the last head computation are visited, unless the justified balances changed;
//! - `filter_block_tree` + the greedy descent are one reverse pass over the nodes: a leaf is viable
//!   when its voting source and finalized ancestor agree with the store, an inner node when one of
//!   its children is; each node keeps its best viable child by `(weight + boost, root)`.

#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used
    )
)]

mod error;
mod proto_array;
mod store;
mod votes;

pub use error::ForkChoiceError;
pub use proto_array::{HeadParams, NodeId, ProtoArray, ProtoNode};
pub use store::{
    AttestationInfo, BlockSummary, ForkChoice, ForkChoiceConfig, JustifiedBalances,
    ProposerHeadInfo,
};
pub use votes::VoteTracker;

use crate::consensus::primitives::{Epoch, Hash256};

/// A checkpoint `(epoch, root)`, preset-independent (the SSZ container `Checkpoint` exists once
/// per preset; this one is what the fork choice stores and compares).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Checkpoint {
    pub epoch: Epoch,
    pub root: Hash256,
}

impl Checkpoint {
    pub const fn new(epoch: Epoch, root: Hash256) -> Self {
        Self { epoch, root }
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.epoch, self.root)
    }
}

/// `Result` with [`ForkChoiceError`].
pub type Result<T, E = ForkChoiceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
