//! Fork upgrades: `upgrade_to_fulu` (Electra -> Fulu).
//!
//! There is no `upgrade_to_electra`: Ember has no Deneb state.

use super::error::TransitionError;
use super::helpers::{get_beacon_proposer_indices, get_current_epoch};
use super::*;
use crate::consensus::arith::SafeArith;
use crate::consensus::config::ChainConfig;
use crate::consensus::primitives::*;
use milhouse::Vector;

type Result<T> = std::result::Result<T, TransitionError>;

/// Spec fulu `initialize_proposer_lookahead`: the proposers of the current epoch and the
/// `MIN_SEED_LOOKAHEAD` epochs after it.
pub fn initialize_proposer_lookahead(state: &BeaconState) -> Result<Vec<ValidatorIndex>> {
    let current_epoch = get_current_epoch(state);
    let mut lookahead = Vec::new();
    for i in 0..=PRESET.min_seed_lookahead {
        lookahead.extend(get_beacon_proposer_indices(
            state,
            current_epoch.safe_add(i)?,
        )?);
    }
    Ok(lookahead)
}

/// Spec fulu `upgrade_to_fulu`: the Electra state with the Fulu fork version and the proposer
/// lookahead. Every other field carries over unchanged (shared trees, no copies).
pub fn upgrade_to_fulu(pre: BeaconState, config: &ChainConfig) -> Result<BeaconState> {
    if pre.fork_name() != ForkName::Electra {
        return Err(TransitionError::WrongFork {
            expected: ForkName::Electra.as_str(),
            actual: pre.fork_name().as_str(),
        });
    }
    let epoch = get_current_epoch(&pre);
    let proposer_lookahead = Vector::new(initialize_proposer_lookahead(&pre)?)?;
    let mut post = pre;
    post.fork = Fork {
        previous_version: post.fork.current_version,
        current_version: config.fulu_fork_version,
        epoch,
    };
    post.proposer_lookahead = Some(proposer_lookahead);
    Ok(post)
}
