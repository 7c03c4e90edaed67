//! Errors of the node layer.

use crate::consensus::primitives::{Hash256, Slot};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("fork choice: {0}")]
    ForkChoice(#[from] crate::fork_choice::ForkChoiceError),
    #[error("state transition: {0}")]
    Transition(String),
    #[error("genesis state: {0}")]
    Genesis(String),
    #[error("block {root} has an unknown parent {parent}")]
    UnknownParent { root: Hash256, parent: Hash256 },
    #[error("block {root} at slot {slot} is invalid: {reason}")]
    InvalidBlock {
        root: Hash256,
        slot: Slot,
        reason: String,
    },
    #[error("execution layer: {0}")]
    Execution(String),
    #[error("invalid input: {0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("the chain writer stopped")]
    WriterGone,
    #[error("{0}")]
    Internal(String),
}
