//! The node's side of the Beacon API (`api::{preset}::Backend`): answers from the writer's
//! snapshot where it can (head, checkpoints, fork choice, the head state), from the store
//! otherwise; and the event bus the writer publishes on.

use super::beacon_api::store_backend::{block_by_id, state_by_id};
use super::beacon_api::{Backend, BlockResponse, StateResponse};
use super::Chain;
use crate::api::types::*;
use crate::api::Event;
use crate::consensus::config::ChainConfig;
use crate::consensus::primitives::Hash256;
use std::sync::Arc;

/// The Beacon API's view of the chain.
pub struct ApiBackend {
    pub chain: Arc<Chain>,
}

impl Backend for ApiBackend {
    fn chain_config(&self) -> &ChainConfig {
        &self.chain.config
    }

    fn genesis(&self) -> Result<GenesisInfo, BackendError> {
        let s = self.chain.snapshot();
        Ok(GenesisInfo {
            genesis_time: s.genesis_time,
            genesis_validators_root: s.genesis_validators_root,
            genesis_fork_version: self.chain.config.genesis_fork_version,
        })
    }

    fn head(&self) -> Result<HeadInfo, BackendError> {
        let s = self.chain.snapshot();
        Ok(HeadInfo {
            block_root: s.head_root,
            slot: s.head_slot,
            state_root: s.head_state_root,
            execution_optimistic: s.optimistic,
        })
    }

    fn finality(&self) -> Result<FinalityInfo, BackendError> {
        let s = self.chain.snapshot();
        Ok(FinalityInfo {
            justified: s.justified,
            finalized: s.finalized,
        })
    }

    fn block(&self, id: BlockId) -> Result<Option<BlockResponse>, BackendError> {
        let s = self.chain.snapshot();
        if id == BlockId::Head {
            return Ok(Some(BlockResponse {
                root: s.head_root,
                block: s.head_block.clone(),
                canonical: true,
                finalized: s.head_root == s.finalized.root,
                execution_optimistic: s.optimistic,
            }));
        }
        block_by_id(&self.chain.store, id)
    }

    fn state(&self, id: StateId) -> Result<Option<StateResponse>, BackendError> {
        let s = self.chain.snapshot();
        if id == StateId::Head {
            return Ok(Some(StateResponse {
                state_root: s.head_state_root,
                state: s.head_state.clone(),
                finalized: s.head_root == s.finalized.root,
                execution_optimistic: s.optimistic,
            }));
        }
        state_by_id(&self.chain.store, id)
    }

    fn fork_choice(&self) -> Result<ForkChoiceDump, BackendError> {
        let s = self.chain.snapshot();
        Ok(ForkChoiceDump {
            justified_checkpoint: s.justified,
            finalized_checkpoint: s.finalized,
            nodes: s
                .fork_choice_nodes
                .iter()
                .map(|n| ForkChoiceNode {
                    slot: n.slot,
                    block_root: n.root,
                    parent_root: n.parent_root.unwrap_or(Hash256::ZERO),
                    justified_epoch: n.justified_epoch,
                    finalized_epoch: n.finalized_epoch,
                    weight: n.weight,
                    validity: if n.optimistic {
                        PayloadValidity::Optimistic
                    } else {
                        PayloadValidity::Valid
                    },
                    execution_block_hash: n.execution_block_hash.unwrap_or(Hash256::ZERO),
                })
                .collect(),
        })
    }

    fn syncing(&self) -> Result<SyncStatus, BackendError> {
        let s = self.chain.snapshot();
        let current = self.chain.clock.current_slot().unwrap_or(0);
        let distance = current.saturating_sub(s.head_slot);
        Ok(SyncStatus {
            head_slot: s.head_slot,
            sync_distance: distance,
            // A single node proposes its own blocks: it is never catching up from peers.
            is_syncing: false,
            is_optimistic: s.optimistic,
            el_offline: false,
        })
    }

    fn node_info(&self) -> NodeInfo {
        NodeInfo::without_network(self.chain.config.custody_requirement)
    }

    fn events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.chain.events.subscribe()
    }
}
