//! Networking (`p2p-interface.md`): libp2p (TCP + noise + yamux, identify, gossipsub with the
//! consensus parameters, the eth2 req/resp protocols with ssz_snappy framing), discv5 discovery
//! with eth2 ENRs, and the peer manager (scores, bans, target peer count).
//!
//! Preset independent: it moves SSZ bytes. The node decodes, validates (gossip validation,
//! `node::*::gossip`) and imports; sync (`crate::sync`) drives range and parent lookups.
//! [`types`] is the contract with the node.

pub mod types;

pub use types::*;
