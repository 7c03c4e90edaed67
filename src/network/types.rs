//! The contract between the network layer and the node: gossip topics, the req/resp messages,
//! the events the network delivers and the handle the node drives it with.
//!
//! The network layer is preset independent: it moves (snappy-decompressed) SSZ bytes and knows
//! topics, framing, peers and scores; the node (per preset) decodes, validates and imports.
//! Spec: `p2p-interface.md` (phase0 … fulu).

use crate::consensus::primitives::{Epoch, ForkDigest, Root, Slot};
use ssz_derive::{Decode, Encode};
use std::fmt;
use tokio::sync::{mpsc, oneshot, watch};

pub use libp2p::PeerId;

// ---------------------------------------------------------------------------------- gossip

/// The gossip topics of `p2p-interface.md` "Topics and messages" (Electra/Fulu).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GossipKind {
    BeaconBlock,
    BeaconAggregateAndProof,
    /// `beacon_attestation_{subnet_id}` (a `SingleAttestation` since Electra).
    BeaconAttestation(u64),
    VoluntaryExit,
    ProposerSlashing,
    AttesterSlashing,
    SyncCommitteeContributionAndProof,
    /// `sync_committee_{subnet_id}`.
    SyncCommittee(u64),
    BlsToExecutionChange,
    /// `data_column_sidecar_{subnet_id}` (Fulu).
    DataColumnSidecar(u64),
}

impl GossipKind {
    /// The topic name between the fork digest and the encoding.
    pub fn name(&self) -> String {
        match self {
            GossipKind::BeaconBlock => "beacon_block".into(),
            GossipKind::BeaconAggregateAndProof => "beacon_aggregate_and_proof".into(),
            GossipKind::BeaconAttestation(s) => format!("beacon_attestation_{s}"),
            GossipKind::VoluntaryExit => "voluntary_exit".into(),
            GossipKind::ProposerSlashing => "proposer_slashing".into(),
            GossipKind::AttesterSlashing => "attester_slashing".into(),
            GossipKind::SyncCommitteeContributionAndProof => {
                "sync_committee_contribution_and_proof".into()
            }
            GossipKind::SyncCommittee(s) => format!("sync_committee_{s}"),
            GossipKind::BlsToExecutionChange => "bls_to_execution_change".into(),
            GossipKind::DataColumnSidecar(s) => format!("data_column_sidecar_{s}"),
        }
    }

    /// Parses a topic name (no subnet bound check: the caller checks against the config).
    pub fn from_name(name: &str) -> Option<GossipKind> {
        let subnet = |prefix: &str| -> Option<u64> { name.strip_prefix(prefix)?.parse().ok() };
        Some(match name {
            "beacon_block" => GossipKind::BeaconBlock,
            "beacon_aggregate_and_proof" => GossipKind::BeaconAggregateAndProof,
            "voluntary_exit" => GossipKind::VoluntaryExit,
            "proposer_slashing" => GossipKind::ProposerSlashing,
            "attester_slashing" => GossipKind::AttesterSlashing,
            "sync_committee_contribution_and_proof" => {
                GossipKind::SyncCommitteeContributionAndProof
            }
            "bls_to_execution_change" => GossipKind::BlsToExecutionChange,
            _ => {
                if let Some(s) = subnet("beacon_attestation_") {
                    GossipKind::BeaconAttestation(s)
                } else if let Some(s) = subnet("sync_committee_") {
                    GossipKind::SyncCommittee(s)
                } else if let Some(s) = subnet("data_column_sidecar_") {
                    GossipKind::DataColumnSidecar(s)
                } else {
                    return None;
                }
            }
        })
    }
}

/// A topic: `/eth2/{fork_digest}/{name}/ssz_snappy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GossipTopic {
    pub fork_digest: ForkDigest,
    pub kind: GossipKind,
}

impl GossipTopic {
    pub fn new(fork_digest: ForkDigest, kind: GossipKind) -> Self {
        Self { fork_digest, kind }
    }

    /// Parses `/eth2/{hex digest}/{name}/ssz_snappy`; anything else is `None`.
    pub fn parse(topic: &str) -> Option<Self> {
        let mut parts = topic.split('/');
        if !parts.next()?.is_empty() || parts.next()? != "eth2" {
            return None;
        }
        let digest = parts.next()?;
        let name = parts.next()?;
        if parts.next()? != "ssz_snappy" || parts.next().is_some() {
            return None;
        }
        let bytes = hex::decode(digest).ok()?;
        let digest: [u8; 4] = bytes.try_into().ok()?;
        Some(Self {
            fork_digest: ForkDigest::from(digest),
            kind: GossipKind::from_name(name)?,
        })
    }
}

impl fmt::Display for GossipTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/eth2/{}/{}/ssz_snappy",
            hex::encode(self.fork_digest.as_slice()),
            self.kind.name()
        )
    }
}

/// The gossipsub message id (20 bytes, `p2p-interface.md` "The gossip domain: gossipsub").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageId(pub Vec<u8>);

/// The node's verdict on a gossip message (gossipsub's validation result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageAcceptance {
    /// Valid: relay it.
    Accept,
    /// Not relayed, the sender not penalised (`[IGNORE]` conditions).
    Ignore,
    /// Invalid: not relayed, the sender penalised (`[REJECT]` conditions).
    Reject,
}

/// How bad a peer's misbehaviour was, for the peer manager's score (on top of gossipsub's own
/// scoring): a `Fatal` action bans at once, the others lower the score by decreasing amounts
/// and a peer whose score falls below the ban threshold is disconnected and banned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAction {
    Fatal,
    LowToleranceError,
    MidToleranceError,
    HighToleranceError,
}

// ---------------------------------------------------------------------------------- req/resp

/// `Status` v2 (Fulu: `earliest_available_slot` added). Spec: p2p-interface.md "Status v2".
#[derive(Clone, Debug, PartialEq, Eq, Default, Encode, Decode)]
pub struct StatusMessage {
    pub fork_digest: ForkDigest,
    pub finalized_root: Root,
    pub finalized_epoch: Epoch,
    pub head_root: Root,
    pub head_slot: Slot,
    pub earliest_available_slot: Slot,
}

/// `BeaconBlocksByRange` v2 request (`step` is deprecated and must be 1).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlocksByRangeRequest {
    pub start_slot: Slot,
    pub count: u64,
    pub step: u64,
}

/// `DataColumnSidecarsByRange` v1 request.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DataColumnsByRangeRequest {
    pub start_slot: Slot,
    pub count: u64,
    /// At most `NUMBER_OF_COLUMNS` indices.
    pub columns: Vec<u64>,
}

/// One `DataColumnsByRootIdentifier` (Fulu).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DataColumnsByRootIdentifier {
    pub block_root: Root,
    pub columns: Vec<u64>,
}

/// `MetaData` v3 (Fulu). `attnets`: Bitvector[ATTESTATION_SUBNET_COUNT = 64] as its 8 SSZ
/// bytes; `syncnets`: Bitvector[SYNC_COMMITTEE_SUBNET_COUNT = 4] as its 1 byte.
#[derive(Clone, Debug, PartialEq, Eq, Default, Encode, Decode)]
pub struct MetaData {
    pub seq_number: u64,
    pub attnets: [u8; 8],
    pub syncnets: [u8; 1],
    pub custody_group_count: u64,
}

/// A req/resp request (the protocol is implied by the variant; the network layer uses the
/// latest version of each that Fulu defines: status/2, goodbye/1, ping/1, metadata/3,
/// beacon_blocks_by_range/2, beacon_blocks_by_root/2, data_column_sidecars_by_range/1,
/// data_column_sidecars_by_root/1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Status(StatusMessage),
    Goodbye(u64),
    Ping(u64),
    MetaData,
    BlocksByRange(BlocksByRangeRequest),
    /// At most `MAX_REQUEST_BLOCKS_DENEB` roots.
    BlocksByRoot(Vec<Root>),
    DataColumnsByRange(DataColumnsByRangeRequest),
    DataColumnsByRoot(Vec<DataColumnsByRootIdentifier>),
}

/// One successful response chunk: the context bytes (the fork digest of the object's epoch,
/// for blocks and data column sidecars; `None` for status/ping/metadata) and the SSZ bytes
/// (uncompressed; the network layer does the snappy framing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseChunk {
    pub context: Option<ForkDigest>,
    pub ssz: Vec<u8>,
}

/// The spec's response codes other than success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcErrorCode {
    InvalidRequest = 1,
    ServerError = 2,
    ResourceUnavailable = 3,
}

/// An error response: code and message (ErrorMessage, at most 256 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcErrorResponse {
    pub code: RpcErrorCode,
    pub message: String,
}

/// Why an outbound request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("peer answered {code:?}: {message}")]
    ErrorResponse { code: RpcErrorCode, message: String },
    #[error("timed out")]
    Timeout,
    #[error("peer not connected or the connection closed")]
    Disconnected,
    #[error("protocol not supported by the peer")]
    Unsupported,
    #[error("malformed response: {0}")]
    InvalidResponse(String),
    #[error("rate limited locally: {0}")]
    RateLimited(String),
    #[error("network service stopped")]
    ServiceStopped,
}

/// The answer to an inbound request: the node sends it once (chunks, or an error response);
/// dropping it unsent answers `ServerError`.
pub struct Responder(pub oneshot::Sender<Result<Vec<ResponseChunk>, RpcErrorResponse>>);

impl Responder {
    pub fn send(self, response: Result<Vec<ResponseChunk>, RpcErrorResponse>) {
        let _ = self.0.send(response);
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Responder")
    }
}

// ---------------------------------------------------------------------------------- events

/// What the network delivers to the node.
#[derive(Debug)]
pub enum NetworkEvent {
    /// A peer completed the status handshake (or re-sent its status) on our fork digest.
    PeerStatus {
        peer: PeerId,
        status: StatusMessage,
    },
    PeerDisconnected {
        peer: PeerId,
    },
    /// A request for blocks or data columns (status, ping, metadata and goodbye are answered by
    /// the network layer itself).
    InboundRequest {
        peer: PeerId,
        request: Request,
        responder: Responder,
    },
}

/// A gossip message awaiting the node's validation (on its own bounded queue, see
/// [`NetworkChannels`]).
#[derive(Debug)]
pub struct GossipMessage {
    pub peer: PeerId,
    pub message_id: MessageId,
    pub topic: GossipTopic,
    /// The snappy-decompressed SSZ bytes (already checked against the size limits).
    pub data: Vec<u8>,
    /// Holds `data.len()` against the gossip queue's byte bound until the message is dropped
    /// (after the node's verdict), so queued *and* in-validation messages count.
    pub queued: QueuedBytes,
}

/// A share of the gossip queue's byte bound, released on drop.
#[derive(Debug)]
pub struct QueuedBytes {
    counter: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    bytes: usize,
}

impl QueuedBytes {
    /// Takes `bytes` of `counter` unless that would pass `max` (one message is always let in
    /// when nothing is queued, so a single large block can pass a small bound).
    pub fn try_take(
        counter: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
        bytes: usize,
        max: usize,
    ) -> Option<QueuedBytes> {
        use std::sync::atomic::Ordering;
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                let total = queued.saturating_add(bytes);
                (queued == 0 || total <= max).then_some(total)
            })
            .ok()?;
        Some(QueuedBytes {
            counter: counter.clone(),
            bytes,
        })
    }
}

impl Drop for QueuedBytes {
    fn drop(&mut self) {
        self.counter
            .fetch_sub(self.bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A peer as the Beacon API's `node/peers` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    /// The ENR, when discovery knows it.
    pub enr: Option<String>,
    pub last_seen_p2p_address: String,
    /// "connected", "disconnected", "connecting", "disconnecting".
    pub state: &'static str,
    /// "inbound" or "outbound".
    pub direction: &'static str,
}

/// The node's own identity as `node/identity` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    pub peer_id: PeerId,
    /// The discv5 node id (keccak256 of the uncompressed public key), the `NodeID` of
    /// `compute_subscribed_subnets` and `get_custody_groups`.
    pub node_id: [u8; 32],
    pub enr: String,
    pub p2p_addresses: Vec<String>,
    pub discovery_addresses: Vec<String>,
    pub metadata: MetaData,
}

// ---------------------------------------------------------------------------------- commands

/// What the node asks of the network (through [`NetworkHandle`]).
#[derive(Debug)]
pub enum NetworkCommand {
    /// Publish SSZ bytes (the network compresses them) on a topic.
    Publish {
        topic: GossipTopic,
        data: Vec<u8>,
    },
    /// The node's verdict on a gossip message.
    Validation {
        message_id: MessageId,
        peer: PeerId,
        acceptance: MessageAcceptance,
    },
    /// Send a request; the answer (all chunks) comes back on `reply`.
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Vec<ResponseChunk>, RpcError>>,
    },
    /// Penalise a peer (the reason is logged).
    ReportPeer {
        peer: PeerId,
        action: PeerAction,
        reason: &'static str,
    },
    /// Subscribe to (or leave) topics, e.g. attestation subnets for duties, or a new fork's.
    Subscribe(Vec<GossipTopic>),
    Unsubscribe(Vec<GossipTopic>),
    /// The peers (connected and recently disconnected) for the API.
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Identity(oneshot::Sender<NodeIdentity>),
}

/// The node's handle on the network service (cheap to clone).
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    pub commands: mpsc::Sender<NetworkCommand>,
    /// Our status, kept current by the node (the network layer sends it on connect and
    /// answers status requests with it).
    pub status: std::sync::Arc<watch::Sender<StatusMessage>>,
}

impl NetworkHandle {
    async fn send(&self, command: NetworkCommand) -> Result<(), RpcError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| RpcError::ServiceStopped)
    }

    pub async fn publish(&self, topic: GossipTopic, data: Vec<u8>) -> Result<(), RpcError> {
        self.send(NetworkCommand::Publish { topic, data }).await
    }

    pub async fn validation(
        &self,
        message_id: MessageId,
        peer: PeerId,
        acceptance: MessageAcceptance,
    ) -> Result<(), RpcError> {
        self.send(NetworkCommand::Validation {
            message_id,
            peer,
            acceptance,
        })
        .await
    }

    /// Sends `request` to `peer` and waits for the whole response.
    pub async fn request(
        &self,
        peer: PeerId,
        request: Request,
    ) -> Result<Vec<ResponseChunk>, RpcError> {
        let (reply, answer) = oneshot::channel();
        self.send(NetworkCommand::Request {
            peer,
            request,
            reply,
        })
        .await?;
        answer.await.map_err(|_| RpcError::ServiceStopped)?
    }

    pub async fn report_peer(
        &self,
        peer: PeerId,
        action: PeerAction,
        reason: &'static str,
    ) -> Result<(), RpcError> {
        self.send(NetworkCommand::ReportPeer {
            peer,
            action,
            reason,
        })
        .await
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, RpcError> {
        let (reply, answer) = oneshot::channel();
        self.send(NetworkCommand::Peers(reply)).await?;
        answer.await.map_err(|_| RpcError::ServiceStopped)
    }

    pub async fn identity(&self) -> Result<NodeIdentity, RpcError> {
        let (reply, answer) = oneshot::channel();
        self.send(NetworkCommand::Identity(reply)).await?;
        answer.await.map_err(|_| RpcError::ServiceStopped)
    }

    /// Replaces our status (head moved, finalized moved).
    pub fn set_status(&self, status: StatusMessage) {
        self.status.send_replace(status);
    }
}

/// What `network::start` returns to the node: the handle and the two inbound queues. Both are
/// bounded (bounds from the memory budget's `GossipQueues` share, documented in the network
/// layer): a full gossip queue drops the message (validation `Ignore`, counted in metrics); a
/// full event queue answers requests `ServerError` and never blocks the swarm.
pub struct NetworkChannels {
    pub handle: NetworkHandle,
    /// Our discv5 node id (see [`NodeIdentity::node_id`]).
    pub node_id: [u8; 32],
    pub events: mpsc::Receiver<NetworkEvent>,
    pub gossip: mpsc::Receiver<GossipMessage>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_bytes_are_bounded_and_released() {
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // An empty queue always admits one message, however large.
        let big = QueuedBytes::try_take(&counter, 500, 100).expect("first message");
        assert!(QueuedBytes::try_take(&counter, 1, 100).is_none());
        drop(big);
        let a = QueuedBytes::try_take(&counter, 60, 100).expect("fits");
        assert!(QueuedBytes::try_take(&counter, 41, 100).is_none());
        let b = QueuedBytes::try_take(&counter, 40, 100).expect("fits exactly");
        drop((a, b));
        assert_eq!(counter.load(std::sync::atomic::Ordering::Acquire), 0);
    }

    #[test]
    fn topics_round_trip() {
        let digest = ForkDigest::from([0x4a, 0x26, 0xc5, 0x8b]);
        for kind in [
            GossipKind::BeaconBlock,
            GossipKind::BeaconAggregateAndProof,
            GossipKind::BeaconAttestation(63),
            GossipKind::VoluntaryExit,
            GossipKind::ProposerSlashing,
            GossipKind::AttesterSlashing,
            GossipKind::SyncCommitteeContributionAndProof,
            GossipKind::SyncCommittee(3),
            GossipKind::BlsToExecutionChange,
            GossipKind::DataColumnSidecar(127),
        ] {
            let topic = GossipTopic::new(digest, kind);
            let text = topic.to_string();
            assert!(text.starts_with("/eth2/4a26c58b/"), "{text}");
            assert_eq!(GossipTopic::parse(&text), Some(topic));
        }
        assert_eq!(
            GossipTopic::new(digest, GossipKind::BeaconAttestation(5)).to_string(),
            "/eth2/4a26c58b/beacon_attestation_5/ssz_snappy"
        );
        for bad in [
            "/eth2/4a26c58b/beacon_block/ssz",
            "/eth2/4a26c5/beacon_block/ssz_snappy",
            "/eth2/4a26c58b/beacon_attestation_x/ssz_snappy",
            "/eth2/4a26c58b/nothing/ssz_snappy",
            "eth2/4a26c58b/beacon_block/ssz_snappy",
            "/eth2/4a26c58b/beacon_block/ssz_snappy/extra",
        ] {
            assert_eq!(GossipTopic::parse(bad), None, "{bad}");
        }
    }
}
