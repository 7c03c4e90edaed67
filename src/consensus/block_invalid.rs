//! Why a block or one of its operations was refused: the reasons carried by the block-processing
//! variants of the per-preset `transition::TransitionError`. Preset-independent (plain numbers
//! and roots), so both presets share these types.

use crate::consensus::primitives::{Epoch, Gwei, Hash256, Root, Slot, ValidatorIndex};

/// Which signature of a block failed (or did not decode); indices are positions in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// `verify_block_signature`.
    BlockProposal,
    /// `process_randao`.
    Randao,
    /// `process_proposer_slashing`, header 1 or 2.
    ProposerSlashing { index: usize, header: u8 },
    /// `process_attester_slashing`, attestation 1 or 2.
    AttesterSlashing { index: usize, attestation: u8 },
    /// `process_attestation`.
    Attestation { index: usize },
    /// `process_voluntary_exit`.
    VoluntaryExit { index: usize },
    /// `process_sync_aggregate`.
    SyncAggregate,
    /// `process_bls_to_execution_change`.
    BlsToExecutionChange { index: usize },
}

impl std::fmt::Display for SignatureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureKind::BlockProposal => write!(f, "block proposal"),
            SignatureKind::Randao => write!(f, "randao reveal"),
            SignatureKind::ProposerSlashing { index, header } => {
                write!(f, "proposer slashing {index}, header {header}")
            }
            SignatureKind::AttesterSlashing { index, attestation } => {
                write!(f, "attester slashing {index}, attestation {attestation}")
            }
            SignatureKind::Attestation { index } => write!(f, "attestation {index}"),
            SignatureKind::VoluntaryExit { index } => write!(f, "voluntary exit {index}"),
            SignatureKind::SyncAggregate => write!(f, "sync aggregate"),
            SignatureKind::BlsToExecutionChange { index } => {
                write!(f, "BLS to execution change {index}")
            }
        }
    }
}

impl SignatureKind {
    /// The same signature, for the operation at `index` of its list.
    pub fn at_index(self, index: usize) -> Self {
        match self {
            SignatureKind::ProposerSlashing { header, .. } => {
                SignatureKind::ProposerSlashing { index, header }
            }
            SignatureKind::AttesterSlashing { attestation, .. } => {
                SignatureKind::AttesterSlashing { index, attestation }
            }
            SignatureKind::Attestation { .. } => SignatureKind::Attestation { index },
            SignatureKind::VoluntaryExit { .. } => SignatureKind::VoluntaryExit { index },
            SignatureKind::BlsToExecutionChange { .. } => {
                SignatureKind::BlsToExecutionChange { index }
            }
            other => other,
        }
    }
}

/// `process_block_header` asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockHeaderInvalid {
    #[error("block slot {block_slot} is not the state slot {state_slot}")]
    SlotMismatch { block_slot: Slot, state_slot: Slot },
    #[error("block slot {block_slot} is not after the latest block header's slot {latest_slot}")]
    NotNewerThanLatest { block_slot: Slot, latest_slot: Slot },
    #[error("proposer index {block} is not the expected proposer {expected}")]
    ProposerIndexMismatch {
        block: ValidatorIndex,
        expected: ValidatorIndex,
    },
    #[error("parent root {block} is not the latest block header's root {expected}")]
    ParentRootMismatch { block: Root, expected: Root },
    #[error("proposer {0} is slashed")]
    ProposerSlashed(ValidatorIndex),
}

/// `process_withdrawals` and the `get_expected_withdrawals` asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WithdrawalsInvalid {
    #[error(
        "payload withdrawals differ from the expected ones at position {position} \
         ({got} in the payload, {expected} expected)"
    )]
    Mismatch {
        position: usize,
        got: usize,
        expected: usize,
    },
    #[error("{prior} prior withdrawals exceed the limit {limit}")]
    PriorWithdrawalsOverLimit { prior: usize, limit: u64 },
}

/// `process_execution_payload` asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionPayloadInvalid {
    #[error("parent hash {payload} is not the latest payload's block hash {expected}")]
    ParentHashMismatch { payload: Hash256, expected: Hash256 },
    #[error("prev_randao {payload} is not the current randao mix {expected}")]
    PrevRandaoMismatch { payload: Hash256, expected: Hash256 },
    #[error("timestamp {payload} is not the slot's time {expected}")]
    TimestampMismatch { payload: u64, expected: u64 },
    #[error("{count} blob commitments exceed the limit {max}")]
    TooManyBlobCommitments { count: usize, max: u64 },
    #[error("the execution engine rejected the payload")]
    RejectedByEngine,
}

/// `process_proposer_slashing` asserts (signatures apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProposerSlashingInvalid {
    #[error("header slots differ ({0} and {1})")]
    SlotMismatch(Slot, Slot),
    #[error("header proposer indices differ ({0} and {1})")]
    ProposerIndexMismatch(ValidatorIndex, ValidatorIndex),
    #[error("the two headers are equal")]
    HeadersEqual,
    #[error("proposer {0} is not slashable")]
    NotSlashable(ValidatorIndex),
}

/// The structural half of `is_valid_indexed_attestation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IndexedAttestationInvalid {
    #[error("no attesting indices")]
    EmptyIndices,
    #[error("attesting indices are not sorted and unique")]
    IndicesNotSortedUnique,
}

/// `process_attester_slashing` asserts (signatures apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttesterSlashingInvalid {
    #[error("attestation data are not slashable (neither double nor surround vote)")]
    NotSlashable,
    #[error("attestation 1: {0}")]
    Attestation1(IndexedAttestationInvalid),
    #[error("attestation 2: {0}")]
    Attestation2(IndexedAttestationInvalid),
    #[error("no validator was slashed")]
    NoValidatorSlashed,
}

/// `process_attestation` asserts (signature apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttestationInvalid {
    #[error("target epoch {target} is neither the previous nor the current epoch {current}")]
    TargetEpochOutOfRange { target: Epoch, current: Epoch },
    #[error("target epoch {target} is not the epoch of slot {slot}")]
    TargetEpochSlotMismatch { target: Epoch, slot: Slot },
    #[error("attestation of slot {slot} included too early at slot {state_slot}")]
    IncludedTooEarly { slot: Slot, state_slot: Slot },
    #[error("data.index is {0}, must be 0")]
    DataIndexNonZero(u64),
    #[error("committee index {index} not below the committee count {count}")]
    CommitteeIndexOutOfRange { index: u64, count: u64 },
    #[error("no attester in committee {0}")]
    NoAttestersInCommittee(u64),
    #[error("aggregation bits length {bits} is not the committees' total size {expected}")]
    AggregationBitsLength { bits: usize, expected: usize },
    #[error("source does not match the justified checkpoint")]
    SourceMismatch,
    #[error("indexed attestation: {0}")]
    Indexed(IndexedAttestationInvalid),
}

/// `process_deposit` asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DepositInvalid {
    #[error("invalid Merkle proof for deposit index {deposit_index}")]
    BadMerkleProof { deposit_index: u64 },
}

/// `process_voluntary_exit` asserts (signature apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VoluntaryExitInvalid {
    #[error("validator {0} is not active")]
    NotActive(ValidatorIndex),
    #[error("validator {validator} already exits at epoch {exit_epoch}")]
    AlreadyExiting {
        validator: ValidatorIndex,
        exit_epoch: Epoch,
    },
    #[error("exit epoch {epoch} is after the current epoch {current}")]
    NotYetValid { epoch: Epoch, current: Epoch },
    #[error("validator {validator} activated at {activation_epoch}: too recently")]
    TooYoung {
        validator: ValidatorIndex,
        activation_epoch: Epoch,
    },
    #[error("validator {validator} has {amount} Gwei of pending partial withdrawals")]
    PendingWithdrawals {
        validator: ValidatorIndex,
        amount: Gwei,
    },
}

/// `process_bls_to_execution_change` asserts (signature apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlsToExecutionChangeInvalid {
    #[error("validator {0} does not have BLS withdrawal credentials")]
    NotBlsCredentials(ValidatorIndex),
    #[error("from_bls_pubkey does not match validator {0}'s withdrawal credentials")]
    PubkeyMismatch(ValidatorIndex),
}
