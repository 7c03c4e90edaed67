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

impl ApiBackend {
    /// A copy of the router's view (one short lock; the API never waits on the network).
    fn view(&self) -> super::network::NetworkView {
        self.chain
            .network_view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
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

    /// Sync distance from the clock; `is_syncing` while range sync runs or, with peers ahead,
    /// while the head is more than the range-sync tolerance behind the clock. A node without
    /// networking (or without peers) proposes its own blocks: not syncing.
    fn syncing(&self) -> Result<SyncStatus, BackendError> {
        let s = self.chain.snapshot();
        let current = self.chain.clock.current_slot().unwrap_or(0);
        let distance = current.saturating_sub(s.head_slot);
        let view = self.view();
        let peers_ahead = view.sync.target.is_some_and(|t| {
            t > s
                .head_slot
                .saturating_add(super::spec::PRESET.slots_per_epoch)
        });
        Ok(SyncStatus {
            head_slot: s.head_slot,
            sync_distance: distance,
            is_syncing: view.sync.syncing || peers_ahead,
            is_optimistic: s.optimistic,
            el_offline: false,
        })
    }

    fn node_info(&self) -> NodeInfo {
        let mut info = NodeInfo::without_network(self.chain.config.custody_requirement);
        let view = self.view();
        if let Some(id) = &view.identity {
            info.peer_id = id.peer_id.to_string();
            info.enr = id.enr.clone();
            info.p2p_addresses = id.p2p_addresses.clone();
            info.discovery_addresses = id.discovery_addresses.clone();
            info.metadata_seq_number = id.metadata.seq_number;
            info.attnets = format!("0x{}", hex::encode(id.metadata.attnets));
            info.syncnets = format!("0x{}", hex::encode(id.metadata.syncnets));
            info.custody_group_count = id.metadata.custody_group_count;
        }
        for peer in &view.peers {
            let count = match peer.state {
                "connected" => &mut info.peers.connected,
                "connecting" => &mut info.peers.connecting,
                "disconnecting" => &mut info.peers.disconnecting,
                _ => &mut info.peers.disconnected,
            };
            *count = count.saturating_add(1);
        }
        info
    }

    fn peers(&self) -> Vec<NodePeer> {
        self.view()
            .peers
            .iter()
            .map(|p| NodePeer {
                peer_id: p.peer_id.to_string(),
                enr: p.enr.clone(),
                last_seen_p2p_address: p.last_seen_p2p_address.clone(),
                state: p.state.to_string(),
                direction: p.direction.to_string(),
            })
            .collect()
    }

    fn events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.chain.events.subscribe()
    }
}
