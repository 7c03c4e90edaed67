//! Slot processing: `process_slots` and `process_slot`.

use super::error::TransitionError;
use super::helpers::slot_in_epoch;
use super::single_pass::process_epoch_single_pass;
use super::*;
use crate::consensus::arith::{to_usize, SafeArith};
use crate::consensus::config::ChainConfig;
use crate::consensus::primitives::*;
use tree_hash::TreeHash;

type Result<T> = std::result::Result<T, TransitionError>;

/// Spec phase0 `process_slots`: advances `state` to `slot`, running `process_epoch` at the last
/// slot of every epoch crossed (the one-pass implementation,
/// [`process_epoch_single_pass`]). Requires `state.slot < slot`.
pub fn process_slots(state: &mut BeaconState, config: &ChainConfig, slot: Slot) -> Result<()> {
    if state.slot >= slot {
        return Err(TransitionError::SlotNotLater {
            state_slot: state.slot,
            target: slot,
        });
    }
    while state.slot < slot {
        process_slot(state)?;
        // Process epoch on the start slot of the next epoch
        if slot_in_epoch(state.slot.safe_add(1)?) == 0 {
            process_epoch_single_pass(state, config)?;
        }
        state.slot.safe_add_assign(1)?;
    }
    Ok(())
}

/// Spec phase0 `process_slot`: caches the previous state root and block root.
pub fn process_slot(state: &mut BeaconState) -> Result<()> {
    // Cache state root
    state.apply_pending_updates()?;
    let previous_state_root = state.tree_hash_root();
    let i = to_usize(state.slot.safe_rem(PRESET.slots_per_historical_root)?)?;
    *state
        .state_roots
        .get_mut(i)
        .ok_or(TransitionError::Tree(format!("state_roots[{i}] missing")))? = previous_state_root;
    // Cache latest block header state root
    if state.latest_block_header.state_root == Root::ZERO {
        state.latest_block_header.state_root = previous_state_root;
    }
    // Cache block root
    let previous_block_root = state.latest_block_header.tree_hash_root();
    *state
        .block_roots
        .get_mut(i)
        .ok_or(TransitionError::Tree(format!("block_roots[{i}] missing")))? = previous_block_root;
    Ok(())
}
