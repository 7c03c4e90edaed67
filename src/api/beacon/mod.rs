//! The per-preset half of the Beacon API: the [`Backend`] trait the node implements, the
//! request handlers, and [`serve`].
//!
//! Compiled once per preset (`api::mainnet`, `api::minimal`) like the store: `spec` and `store`
//! name that preset's consensus types and store.

use super::spec::{BeaconState, SignedBeaconBlock};
use crate::api::types::*;
use crate::api::{ApiConfig, ApiError, ApiServer, Event};
use crate::consensus::config::ChainConfig;
use crate::consensus::primitives::Hash256;
use std::sync::Arc;

mod handlers;
pub mod store_backend;

pub use handlers::validator_status;

/// A block found by a `block_id`, with what the response metadata needs.
#[derive(Debug, Clone)]
pub struct BlockResponse {
    pub root: Hash256,
    pub block: Arc<SignedBeaconBlock>,
    /// On the chain of the current head.
    pub canonical: bool,
    /// Canonical and at or before the finalized checkpoint's block.
    pub finalized: bool,
    pub execution_optimistic: bool,
}

/// A state found by a `state_id`, with what the response metadata needs.
#[derive(Debug, Clone)]
pub struct StateResponse {
    pub state_root: Hash256,
    pub state: Arc<BeaconState>,
    /// The state of a finalized block (or a slot at or before the finalized slot on the
    /// canonical chain).
    pub finalized: bool,
    pub execution_optimistic: bool,
}

/// What the Beacon API needs from the node. Every method is synchronous and is called from the
/// API's worker threads (never from the node's async runtime), so an implementation may block
/// briefly on a lock or a store read; it must not wait on the node's event loop.
///
/// "Not found" is `Ok(None)` (the API answers 404); [`BackendError`] gives 503/500.
/// [`store_backend`] has ready implementations of the block/state lookups over a
/// [`super::store::BeaconStore`] that an implementation can delegate to.
pub trait Backend: Send + Sync + 'static {
    /// The chain configuration the node runs (`/eth/v1/config/*`, fork versions of responses).
    fn chain_config(&self) -> &ChainConfig;

    /// Genesis time, validators root and fork version; `Unavailable` before genesis is known.
    fn genesis(&self) -> Result<GenesisInfo, BackendError>;

    /// The fork choice's current head.
    fn head(&self) -> Result<HeadInfo, BackendError>;

    /// The fork choice store's justified and finalized checkpoints.
    fn finality(&self) -> Result<FinalityInfo, BackendError>;

    /// The block named by `id` (`Slot`: the canonical block *at* that slot; `None` for a
    /// skipped slot or one after the head; `Root`: any stored block, canonical or not).
    fn block(&self, id: BlockId) -> Result<Option<BlockResponse>, BackendError>;

    /// The state named by `id` (`Slot`: the canonical chain's state at that slot, advanced
    /// through empty slots when the slot has no block; `None` after the head; `Root`: any
    /// stored post-block state by its state root).
    fn state(&self, id: StateId) -> Result<Option<StateResponse>, BackendError>;

    /// The fork-choice tree (`/eth/v1/debug/fork_choice`, `/eth/v2/debug/beacon/heads`).
    fn fork_choice(&self) -> Result<ForkChoiceDump, BackendError>;

    /// `/eth/v1/node/syncing` and `/eth/v1/node/health`.
    fn syncing(&self) -> Result<SyncStatus, BackendError>;

    /// Version, identity and peer counts.
    fn node_info(&self) -> NodeInfo;

    /// The peers (`/eth/v1/node/peers`); none without networking.
    fn peers(&self) -> Vec<NodePeer> {
        Vec::new()
    }

    /// A new receiver of the node's events (one per SSE subscriber); see [`crate::api::EventBus`].
    fn events(&self) -> tokio::sync::broadcast::Receiver<Event>;
}

/// Starts the Beacon API on `config.address:config.port`: `config.workers` request threads (at
/// least 1) and at most `config.max_sse_subscribers` event-stream threads; see
/// [`crate::api::ApiServer`] for shutdown.
pub fn serve<B: Backend>(backend: Arc<B>, config: ApiConfig) -> Result<ApiServer, ApiError> {
    crate::api::http::start(
        Arc::new(move |req: &crate::api::http::Req| handlers::route(&*backend, req)),
        config,
    )
}

/// The beacon-APIs `head` event for a new head whose post-state is `state`.
///
/// The duty-dependent roots are, per the events spec, the block roots at the last slot of
/// epoch `current - 2` (previous) and `current - 1` (current): the blocks whose RANDAO
/// determined this and the previous epoch's duties. Before those slots exist (the first
/// epochs), the genesis block root stands in, as other clients do.
pub fn head_event(
    state: &BeaconState,
    block_root: Hash256,
    state_root: Hash256,
    epoch_transition: bool,
    execution_optimistic: bool,
) -> Event {
    use super::spec::transition::helpers::{get_block_root_at_slot, get_current_epoch};
    let slots_per_epoch = super::spec::PRESET.slots_per_epoch;
    let epoch = get_current_epoch(state);
    // The genesis block: block_roots[0] once the state is past slot 0, else the head itself.
    let genesis_root = if state.slot == 0 {
        block_root
    } else {
        get_block_root_at_slot(state, 0).unwrap_or(block_root)
    };
    let dependent = |epoch: Option<u64>| {
        epoch
            .and_then(|e| e.checked_mul(slots_per_epoch))
            .and_then(|start| start.checked_sub(1))
            .and_then(|slot| get_block_root_at_slot(state, slot).ok())
            .unwrap_or(genesis_root)
    };
    Event::Head(crate::api::events::HeadEvent {
        slot: state.slot,
        block: block_root,
        state: state_root,
        epoch_transition,
        previous_duty_dependent_root: dependent(epoch.checked_sub(1)),
        current_duty_dependent_root: dependent(Some(epoch)),
        execution_optimistic,
    })
}
