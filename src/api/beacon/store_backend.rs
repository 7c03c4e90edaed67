//! Block and state lookups by `block_id` / `state_id` over a [`BeaconStore`]: the part of a
//! [`super::Backend`] that only needs the store, shared by the node and the API's tests.
//!
//! The store's pointers (head, justified, finalized, genesis) are what fork choice last
//! committed with a block, so these answers agree with the fork choice after every import.
//! `execution_optimistic` is always `false` here: only the node's fork choice knows which
//! payloads were imported optimistically (it overrides the flag).

use super::super::spec::transition::slot::process_slots;
use super::super::spec::BeaconState;
use super::super::store::BeaconStore;
use super::{BlockResponse, StateResponse};
use crate::api::types::{BackendError, BlockId, StateId};
use crate::consensus::primitives::{Hash256, Slot};
use crate::store::{PointerName, StoreError};
use std::sync::Arc;
use tree_hash::TreeHash;

/// The root a `block_id` names (`None`: no such block, e.g. no genesis block in a store that
/// started from a checkpoint, or an empty slot).
pub fn resolve_block_root(
    store: &BeaconStore,
    id: BlockId,
) -> Result<Option<Hash256>, BackendError> {
    let pointer = |name| -> Result<Option<Hash256>, BackendError> {
        let root = store.pointer(name)?.block_root;
        Ok((root != Hash256::ZERO).then_some(root))
    };
    match id {
        BlockId::Head => pointer(PointerName::Head),
        BlockId::Genesis => pointer(PointerName::Genesis),
        BlockId::Finalized => pointer(PointerName::Finalized),
        BlockId::Justified => pointer(PointerName::Justified),
        BlockId::Slot(slot) => canonical_root_at(store, slot),
        BlockId::Root(root) => Ok(store.block_meta(&root)?.map(|_| root)),
    }
}

/// The canonical block *at* `slot` (not before it).
fn canonical_root_at(store: &BeaconStore, slot: Slot) -> Result<Option<Hash256>, BackendError> {
    let Some(root) = store.block_root_at_slot(slot)? else {
        return Ok(None);
    };
    Ok(store
        .block_meta(&root)?
        .filter(|meta| meta.slot == slot)
        .map(|_| root))
}

/// Whether `root` (at `slot`) is on the head's chain, and at or before the finalized block.
fn canonical_and_finalized(
    store: &BeaconStore,
    root: &Hash256,
    slot: Slot,
) -> Result<(bool, bool), BackendError> {
    let canonical = canonical_root_at(store, slot)? == Some(*root);
    let finalized = canonical && slot <= store.pointer(PointerName::Finalized)?.slot;
    Ok((canonical, finalized))
}

/// [`super::Backend::block`] over the store.
pub fn block_by_id(
    store: &BeaconStore,
    id: BlockId,
) -> Result<Option<BlockResponse>, BackendError> {
    let Some(root) = resolve_block_root(store, id)? else {
        return Ok(None);
    };
    let Some(block) = store.block(&root)? else {
        return Ok(None);
    };
    let (canonical, finalized) = canonical_and_finalized(store, &root, block.message.slot)?;
    Ok(Some(BlockResponse {
        root,
        block: Arc::new(block),
        canonical,
        finalized,
        execution_optimistic: false,
    }))
}

fn load(store: &BeaconStore, state_root: &Hash256) -> Result<Option<BeaconState>, BackendError> {
    match store.load_state(state_root) {
        Ok(state) => Ok(Some(state)),
        Err(StoreError::UnknownState(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// [`super::Backend::state`] over the store. `head`/`genesis`/`finalized`/`justified` are the
/// post-states of those blocks; a slot without a block gets the previous canonical block's
/// state advanced through the empty slots (`process_slots`), so its root is that state's root.
pub fn state_by_id(
    store: &BeaconStore,
    id: StateId,
) -> Result<Option<StateResponse>, BackendError> {
    let finalized_slot = store.pointer(PointerName::Finalized)?.slot;
    let pointer_state = |name| -> Result<Option<StateResponse>, BackendError> {
        let p = store.pointer(name)?;
        if p.block_root == Hash256::ZERO {
            return Ok(None);
        }
        Ok(load(store, &p.state_root)?.map(|state| StateResponse {
            state_root: p.state_root,
            finalized: p.slot <= finalized_slot,
            state: Arc::new(state),
            execution_optimistic: false,
        }))
    };
    match id {
        StateId::Head => pointer_state(PointerName::Head),
        StateId::Genesis => pointer_state(PointerName::Genesis),
        StateId::Finalized => pointer_state(PointerName::Finalized),
        StateId::Justified => pointer_state(PointerName::Justified),
        StateId::Slot(slot) => {
            let head = store.pointer(PointerName::Head)?;
            if slot > head.slot {
                return Ok(None);
            }
            let Some(root) = store.block_root_at_slot(slot)? else {
                return Ok(None);
            };
            let Some(meta) = store.block_meta(&root)? else {
                return Ok(None);
            };
            let Some(mut state) = load(store, &meta.state_root)? else {
                return Ok(None);
            };
            let state_root = if state.slot < slot {
                process_slots(&mut state, store.chain_config(), slot).map_err(|e| {
                    BackendError::Internal(format!("advancing to slot {slot}: {e}"))
                })?;
                state
                    .apply_pending_updates()
                    .map_err(|e| BackendError::Internal(format!("{e:?}")))?;
                state.tree_hash_root()
            } else {
                meta.state_root
            };
            Ok(Some(StateResponse {
                state_root,
                state: Arc::new(state),
                finalized: slot <= finalized_slot,
                execution_optimistic: false,
            }))
        }
        StateId::Root(state_root) => {
            let Some(state) = load(store, &state_root)? else {
                return Ok(None);
            };
            // A stored state is a block's post-state: its latest header, with the state root
            // filled in as the next process_slot would, is that block.
            let mut header = state.latest_block_header.clone();
            if header.state_root == Hash256::ZERO {
                header.state_root = state_root;
            }
            let (_, finalized) =
                canonical_and_finalized(store, &header.tree_hash_root(), header.slot)?;
            Ok(Some(StateResponse {
                state_root,
                state: Arc::new(state),
                finalized,
                execution_optimistic: false,
            }))
        }
    }
}
