//! [`ForkChoiceError`]: every way a fork-choice handler can refuse its input or fail.
//!
//! The spec's `assert`s in `on_block`, `on_attestation` and `on_attester_slashing` map to one
//! variant each, so a caller (gossip, sync, the spec-test runner) can tell "not yet" (future block,
//! unknown parent, attestation too early: MAY be retried later) from "never" (invalid).

use crate::consensus::primitives::{Epoch, Hash256, Slot, ValidatorIndex};

use super::Checkpoint;

/// Boxed error of a lower layer (the state transition, KZG): kept whole for `source()`.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForkChoiceError {
    // ---- get_forkchoice_store
    #[error(
        "anchor block state_root {block_state_root} != hash_tree_root(anchor_state) {state_root}"
    )]
    AnchorStateRootMismatch {
        block_state_root: Hash256,
        state_root: Hash256,
    },

    // ---- time
    #[error("time {time} is before genesis time {genesis_time}")]
    TimeBeforeGenesis { time: u64, genesis_time: u64 },

    // ---- on_block
    #[error("block {block_root}: parent {parent_root} unknown")]
    UnknownParent {
        block_root: Hash256,
        parent_root: Hash256,
    },
    #[error(
        "block {block_root}: slot {block_slot} is in the future (current slot {current_slot})"
    )]
    FutureBlock {
        block_root: Hash256,
        block_slot: Slot,
        current_slot: Slot,
    },
    #[error("block {block_root}: slot {block_slot} not after the finalized slot {finalized_slot}")]
    BlockNotAfterFinalizedSlot {
        block_root: Hash256,
        block_slot: Slot,
        finalized_slot: Slot,
    },
    #[error("block {block_root} does not descend from the finalized checkpoint {finalized} (its chain has {found} there)")]
    NotDescendantOfFinalized {
        block_root: Hash256,
        finalized: Checkpoint,
        found: Hash256,
    },
    #[error("block {block_root}: data not available: {reason}")]
    DataUnavailable { block_root: Hash256, reason: String },
    #[error("block {block_root}: state transition failed: {source}")]
    InvalidBlock {
        block_root: Hash256,
        #[source]
        source: BoxedError,
    },

    // ---- on_attestation (validate_on_attestation)
    #[error("attestation target epoch {target_epoch} is neither the current ({current_epoch}) nor the previous epoch")]
    AttestationTargetEpochNotCurrentOrPrevious {
        target_epoch: Epoch,
        current_epoch: Epoch,
    },
    #[error("attestation target epoch {target_epoch} != epoch of its slot {slot}")]
    AttestationTargetEpochMismatch { target_epoch: Epoch, slot: Slot },
    #[error("attestation target root {0} unknown")]
    AttestationUnknownTarget(Hash256),
    #[error("attestation beacon_block_root {0} unknown")]
    AttestationUnknownHeadBlock(Hash256),
    #[error(
        "attestation for block {block_root} at slot {block_slot} made at an earlier slot {slot}"
    )]
    AttestationForFutureBlock {
        block_root: Hash256,
        block_slot: Slot,
        slot: Slot,
    },
    #[error("attestation target root {target_root} != checkpoint block {expected} of its head block at epoch {target_epoch}")]
    AttestationTargetMismatch {
        target_epoch: Epoch,
        target_root: Hash256,
        expected: Hash256,
    },
    #[error("attestation of slot {slot} can only count from slot {} on (current slot {current_slot})", slot.saturating_add(1))]
    AttestationTooEarly { slot: Slot, current_slot: Slot },
    #[error("attestation is not a valid indexed attestation in the target state: {reason}")]
    InvalidIndexedAttestation { reason: String },

    // ---- on_attester_slashing
    #[error("attester slashing: the two attestations are not slashable")]
    AttesterSlashingNotSlashable,
    #[error("attester slashing: attestation_{which} invalid: {reason}")]
    InvalidAttesterSlashing { which: u8, reason: String },

    // ---- store lookups (internal consistency or unknown roots from callers)
    #[error("block {0} unknown to the fork choice")]
    UnknownBlock(Hash256),
    #[error(
        "ancestor of {root} at slot {slot} is not known (the chain reaches back past the anchor)"
    )]
    UnknownAncestor { root: Hash256, slot: Slot },
    #[error("no state stored for block {0}")]
    MissingBlockState(Hash256),
    #[error(
        "justified balances are for {loaded:?}, the store's justified checkpoint is {justified}"
    )]
    JustifiedBalancesMissing {
        loaded: Option<Checkpoint>,
        justified: Checkpoint,
    },
    #[error("get_proposer_head: proposer boost has not worn off (boost root == head {0})")]
    ProposerBoostNotWornOff(Hash256),
    #[error("validator index {0} does not fit in memory")]
    ValidatorIndexTooLarge(ValidatorIndex),
    #[error("too many blocks in the fork choice (node id space exhausted)")]
    TooManyNodes,
    #[error("weight of node {root} would underflow applying delta {delta} to {weight}")]
    WeightUnderflow {
        root: Hash256,
        weight: u64,
        delta: i64,
    },
    #[error("arithmetic overflow in {0}")]
    Arith(&'static str),
    #[error("state computation for the fork choice failed: {0}")]
    State(#[source] BoxedError),
}
