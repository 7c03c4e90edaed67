//! `TransitionError`: every way the state transition can refuse its input.
//!
//! Preset-independent in content (this file is compiled once per preset, so the type exists
//! twice, but both copies carry only plain numbers and strings). Spec `assert`s map to variants
//! that name the operation and the index that failed.

use crate::consensus::arith::ArithError;
use crate::consensus::primitives::{Epoch, Slot};
use crate::consensus::shuffling::ShufflingError;

/// Why a state-transition function failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransitionError {
    /// Overflow, underflow or division by zero in the spec's `uint64` arithmetic.
    #[error("arithmetic: {0}")]
    Arith(#[from] ArithError),
    /// A validator index beyond the registry.
    #[error("unknown validator index {0}")]
    UnknownValidator(u64),
    /// A milhouse tree operation failed (e.g. a list is full).
    #[error("state tree: {0}")]
    Tree(String),
    /// Shuffling refused its input.
    #[error("shuffling: {0}")]
    Shuffling(#[from] ShufflingError),
    /// `get_block_root_at_slot`: `slot < state.slot <= slot + SLOTS_PER_HISTORICAL_ROOT` fails.
    #[error("block root of slot {slot} not available at state slot {state_slot}")]
    SlotOutOfRange { slot: Slot, state_slot: Slot },
    /// `process_slots`: `state.slot < slot` fails.
    #[error("cannot process slots from {state_slot} to {target}")]
    SlotNotLater { state_slot: Slot, target: Slot },
    /// `get_unslashed_participating_indices`: epoch neither previous nor current.
    #[error("epoch {epoch} is neither the previous nor the current epoch (current {current})")]
    EpochOutOfRange { epoch: Epoch, current: Epoch },
    /// `compute_proposer_index` / sync committee selection with no active validator.
    #[error("no active validators")]
    NoActiveValidators,
    /// `get_beacon_committee` asked for a committee index beyond the slot's committee count.
    #[error("committee index {index} out of range ({count} committees per slot)")]
    CommitteeIndexOutOfRange { index: u64, count: u64 },
    /// An operation that needs a different fork's state (e.g. the Fulu proposer lookahead on
    /// an Electra state).
    #[error("state is {actual}, operation needs {expected}")]
    WrongFork {
        expected: &'static str,
        actual: &'static str,
    },
    /// `get_attestation_participation_flag_indices`: `assert is_matching_source`.
    #[error("attestation source does not match the justified checkpoint")]
    AttestationSourceMismatch,
    /// Aggregating public keys failed (invalid key in the registry).
    #[error("invalid public key: {0}")]
    InvalidPubkey(String),
    /// `get_attesting_indices`: the aggregation bits do not cover exactly the committees.
    #[error("aggregation bits length {bits} does not match the committees' total size {expected}")]
    AggregationBitsLength { bits: usize, expected: usize },
    // --- Block processing (engineer B) ---
    /// A block signature (or the key or signature bytes it needs) did not verify.
    #[error("invalid signature: {0}")]
    InvalidSignature(crate::consensus::block_invalid::SignatureKind),
    /// `process_block_header`.
    #[error("block header: {0}")]
    BlockHeaderInvalid(#[from] crate::consensus::block_invalid::BlockHeaderInvalid),
    /// `state_transition`: `block.state_root == hash_tree_root(state)` fails.
    #[error("state root mismatch: block has {block}, computed {computed}")]
    StateRootMismatch {
        block: crate::consensus::primitives::Root,
        computed: crate::consensus::primitives::Root,
    },
    /// `process_withdrawals` / `get_expected_withdrawals`.
    #[error("withdrawals: {0}")]
    WithdrawalsInvalid(#[from] crate::consensus::block_invalid::WithdrawalsInvalid),
    /// `process_execution_payload`.
    #[error("execution payload: {0}")]
    ExecutionPayloadInvalid(#[from] crate::consensus::block_invalid::ExecutionPayloadInvalid),
    /// `process_operations`: the block's eth1 deposit count is not the one required.
    #[error("block has {got} deposits, {expected} required")]
    DepositCountMismatch { expected: u64, got: usize },
    #[error("proposer slashing {index}: {reason}")]
    ProposerSlashingInvalid {
        index: usize,
        reason: crate::consensus::block_invalid::ProposerSlashingInvalid,
    },
    #[error("attester slashing {index}: {reason}")]
    AttesterSlashingInvalid {
        index: usize,
        reason: crate::consensus::block_invalid::AttesterSlashingInvalid,
    },
    #[error("attestation {index}: {reason}")]
    AttestationInvalid {
        index: usize,
        reason: crate::consensus::block_invalid::AttestationInvalid,
    },
    #[error("deposit {index}: {reason}")]
    DepositInvalid {
        index: usize,
        reason: crate::consensus::block_invalid::DepositInvalid,
    },
    #[error("voluntary exit {index}: {reason}")]
    VoluntaryExitInvalid {
        index: usize,
        reason: crate::consensus::block_invalid::VoluntaryExitInvalid,
    },
    #[error("BLS to execution change {index}: {reason}")]
    BlsToExecutionChangeInvalid {
        index: usize,
        reason: crate::consensus::block_invalid::BlsToExecutionChangeInvalid,
    },
    /// The pubkey cache refused the state (it serves another chain).
    #[error("pubkey cache: {0}")]
    PubkeyCache(crate::consensus::pubkey_cache::PubkeyCacheError),
}

impl From<milhouse::Error> for TransitionError {
    fn from(e: milhouse::Error) -> Self {
        TransitionError::Tree(format!("{e:?}"))
    }
}
