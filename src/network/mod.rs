//! Networking (`p2p-interface.md`): libp2p (TCP + noise + yamux, identify, gossipsub with the
//! consensus parameters, the eth2 req/resp protocols with ssz_snappy framing), discv5 discovery
//! with eth2 ENRs, and the peer manager (scores, bans, target peer count).
//!
//! Preset independent: it moves SSZ bytes. The node decodes, validates (gossip validation,
//! `node::*::gossip`) and imports; sync (`crate::sync`) drives range and parent lookups.
//! [`types`] is the contract with the node; [`start`] brings the service up.

pub mod codec;
pub mod enr;
pub mod gossip;
pub mod peers;
mod service;
#[cfg(test)]
mod tests;
pub mod types;

pub use types::*;

use crate::consensus::primitives::ForkDigest;
use std::net::IpAddr;
use std::path::PathBuf;

/// Everything the network layer needs from the node (built from `NetworkArgs` and the chain).
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// libp2p TCP and discv5 UDP listen on this address.
    pub listen_address: IpAddr,
    /// libp2p TCP port (0: any free port, as tests use).
    pub port: u16,
    /// discv5 UDP port (0: any free port).
    pub discovery_port: u16,
    /// The IP address in our ENR (default: the listen address unless it is unspecified).
    pub enr_address: Option<IpAddr>,
    /// ENRs (`enr:-…`) or multiaddrs with `/p2p/<peer id>`.
    pub boot_nodes: Vec<String>,
    pub target_peers: usize,
    pub disable_discovery: bool,
    /// `<datadir>/network`: `key` (secp256k1 secret, 0600, created on first start) and `enr`
    /// (our ENR text, rewritten on every start and change).
    pub network_dir: PathBuf,
    pub fork_digest: ForkDigest,
    /// SSZ of `ENRForkID` (16 bytes): the ENR's `eth2` field.
    pub enr_fork_id: Vec<u8>,
    pub metadata: MetaData,
    /// Initial subscriptions.
    pub topics: Vec<GossipTopic>,
    /// `MAX_PAYLOAD_SIZE`.
    pub max_payload_size: u64,
    /// `MAX_REQUEST_BLOCKS_DENEB`.
    pub max_request_blocks: u64,
    /// `MAX_REQUEST_DATA_COLUMN_SIDECARS`.
    pub max_request_data_column_sidecars: u64,
    pub slot_duration_ms: u64,
    pub slots_per_epoch: u64,
    /// The gossip queue's length (from the memory budget's `GossipQueues` share).
    pub gossip_queue: usize,
    /// The most decompressed gossip bytes queued or being validated at once (from the same
    /// share): the count bound alone would let a flood of 10 MiB messages take gigabytes.
    pub gossip_queue_bytes: usize,
    /// The event queue's length.
    pub event_queue: usize,
}

/// Why the network service could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network I/O: {0}")]
    Io(String),
    #[error("node key: {0}")]
    Key(String),
    #[error("ENR: {0}")]
    Enr(String),
    #[error("boot node: {0}")]
    BootNode(String),
    #[error("libp2p: {0}")]
    Libp2p(String),
    #[error("discv5: {0}")]
    Discovery(String),
}

/// Binds TCP (and UDP for discv5), writes `<network_dir>/enr`, spawns the swarm task with
/// `tokio::spawn` (works on a current-thread runtime), dials every boot node and returns the
/// handle and the inbound queues.
pub async fn start(
    config: NetworkConfig,
    status: StatusMessage,
) -> Result<NetworkChannels, NetworkError> {
    service::start(config, status).await
}
