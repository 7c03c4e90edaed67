//! The swarm task: owns the libp2p `Swarm` and discv5, answers status/ping/metadata/goodbye,
//! forwards gossip and block/column requests to the node, runs the peer manager. It never
//! awaits the node: every send towards the node is a `try_send` on a bounded queue.

use super::codec::{Limits, Protocol, RpcCodec, WireRequest, WireResponse, METADATA_V3_SIZE};
use super::enr::{self as enr_util, BootNode, EnrFields};
use super::gossip::{self, SnappyTransform, GOSSIP_BAN_SCORE};
use super::peers::{PeerManager, RateLimiter, BAN_DURATION};
use super::types::*;
use super::{NetworkConfig, NetworkError};
use crate::api::metrics::Metrics;
use crate::consensus::primitives::ForkDigest;
use ::enr::NodeId;
use discv5::{Discv5, Enr};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::multiaddr::Protocol as MaProtocol;
use libp2p::request_response::{
    self as rr, OutboundFailure, OutboundRequestId, ProtocolSupport, ResponseChannel,
};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use ssz::{Decode, Encode};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// phase0 `RESP_TIMEOUT`: a whole request/response exchange.
const RESP_TIMEOUT: Duration = Duration::from_secs(10);
/// Goodbye reason codes (phase0 p2p-interface "Goodbye").
const GOODBYE_CLIENT_SHUTDOWN: u64 = 1;
const GOODBYE_IRRELEVANT_NETWORK: u64 = 2;
const GOODBYE_FAULT: u64 = 3;
/// Lighthouse / Prysm extension codes, used as other clients do.
const GOODBYE_BANNED: u64 = 251;
/// How long after a Goodbye the connection is dropped (the Goodbye gets out first).
const GOODBYE_GRACE: Duration = Duration::from_millis(500);
/// A peer on another network is kept away this long (not a ban: nothing is wrong with it).
const IRRELEVANT_BAN: Duration = Duration::from_secs(10 * 60);
/// Peers re-send their status this often (clients do every few minutes).
const STATUS_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// We ping each peer this often to learn metadata changes.
const PING_INTERVAL: Duration = Duration::from_secs(60);
/// A peer that has not completed the status handshake after this long is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Recently disconnected peers kept for the API's `node/peers` (bounded).
const MAX_DISCONNECTED: usize = 128;
/// Concurrent inbound streams per connection and protocol (request_response's default is
/// 100; eth2 peers never need that many in parallel).
const MAX_CONCURRENT_STREAMS: usize = 32;
/// The command queue: the node awaits a free slot (back-pressure on the node, never on the
/// swarm). Sized for a burst of validations.
const COMMAND_QUEUE: usize = 1024;
/// Delivered gossip messages awaiting the node's verdict, remembered for the per-kind
/// outcome counters (the node answers each; entries it never answers are forgotten oldest
/// first beyond this many).
const MAX_AWAITING_VERDICT: usize = 16_384;
/// The least time between two discv5 queries (a query of a small network ends at once).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(2);
/// Which topics a peer may announce: eth2 topics only (anything else is ignored), at most
/// [`MAX_SUBSCRIPTIONS_PER_REQUEST`] per message and [`MAX_SUBSCRIBED_TOPICS`] in all.
/// gossipsub's default filter caps both at 100, but a node subscribed to every subnet
/// announces ~203 topics per fork digest (7 global, 64 attestation, 4 sync committee, 128
/// data column), twice that around a fork: the default would drop such a peer's whole
/// subscription message and no gossip would flow.
type SubscriptionFilter = gossipsub::MaxCountSubscriptionFilter<Eth2Topics>;
const MAX_SUBSCRIPTIONS_PER_REQUEST: usize = 512;
const MAX_SUBSCRIBED_TOPICS: usize = 1024;

/// Accepts the subscriptions that parse as `/eth2/{digest}/{name}/ssz_snappy`.
#[derive(Default, Clone)]
pub struct Eth2Topics;

impl gossipsub::TopicSubscriptionFilter for Eth2Topics {
    fn can_subscribe(&mut self, topic_hash: &gossipsub::TopicHash) -> bool {
        crate::network::GossipTopic::parse(topic_hash.as_str()).is_some()
    }
}

fn subscription_filter() -> SubscriptionFilter {
    gossipsub::MaxCountSubscriptionFilter {
        filter: Eth2Topics,
        max_subscribed_topics: MAX_SUBSCRIBED_TOPICS,
        max_subscriptions_per_request: MAX_SUBSCRIPTIONS_PER_REQUEST,
    }
}

/// Idle connections (no streams) are closed after this long; gossipsub keeps useful ones busy.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// First: it refuses banned peers and excess inbound connections before others see them.
    peers: PeerManager,
    identify: identify::Behaviour,
    gossipsub: gossipsub::Behaviour<SnappyTransform, SubscriptionFilter>,
    status: rr::Behaviour<RpcCodec>,
    goodbye: rr::Behaviour<RpcCodec>,
    ping: rr::Behaviour<RpcCodec>,
    metadata: rr::Behaviour<RpcCodec>,
    blocks_by_range: rr::Behaviour<RpcCodec>,
    blocks_by_root: rr::Behaviour<RpcCodec>,
    columns_by_range: rr::Behaviour<RpcCodec>,
    columns_by_root: rr::Behaviour<RpcCodec>,
}

impl Behaviour {
    fn rpc(&mut self, protocol: Protocol) -> &mut rr::Behaviour<RpcCodec> {
        match protocol {
            Protocol::Status => &mut self.status,
            Protocol::Goodbye => &mut self.goodbye,
            Protocol::Ping => &mut self.ping,
            Protocol::MetaData => &mut self.metadata,
            Protocol::BlocksByRange => &mut self.blocks_by_range,
            Protocol::BlocksByRoot => &mut self.blocks_by_root,
            Protocol::DataColumnsByRange => &mut self.columns_by_range,
            Protocol::DataColumnsByRoot => &mut self.columns_by_root,
        }
    }
}

fn rpc_behaviour(protocol: Protocol, limits: Limits) -> rr::Behaviour<RpcCodec> {
    rr::Behaviour::with_codec(
        RpcCodec { limits },
        [(protocol, ProtocolSupport::Full)],
        rr::Config::default()
            .with_request_timeout(RESP_TIMEOUT)
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    )
}

/// Who asked for an outbound request's answer.
enum Pending {
    /// The node (through `NetworkCommand::Request`); `max_chunks` is the request's own bound.
    Node {
        peer: PeerId,
        max_chunks: u64,
        reply: oneshot::Sender<Result<Vec<ResponseChunk>, RpcError>>,
    },
    /// The network layer itself (status handshake, ping, metadata, goodbye).
    Internal { peer: PeerId },
}

struct PeerData {
    direction: &'static str,
    address: Multiaddr,
    enr: Option<Enr>,
    status: Option<StatusMessage>,
    metadata: Option<MetaData>,
    connected_at: Instant,
    last_status: Instant,
    last_ping: Instant,
}

type ResponderFuture = BoxFuture<'static, (Protocol, ResponseChannel<WireResponse>, WireResponse)>;

struct Service {
    swarm: Swarm<Behaviour>,
    discv5: Option<Discv5>,
    discv5_events: Option<mpsc::Receiver<discv5::Event>>,
    discovery_query: Option<BoxFuture<'static, Result<Vec<Enr>, discv5::QueryError>>>,
    enr: Enr,
    node_id: [u8; 32],
    enr_path: std::path::PathBuf,
    fork_digest: ForkDigest,
    target_peers: usize,
    max_request_blocks: u64,
    max_request_data_column_sidecars: u64,
    metadata: MetaData,
    commands: mpsc::Receiver<NetworkCommand>,
    status: Arc<watch::Sender<StatusMessage>>,
    gossip_tx: mpsc::Sender<GossipMessage>,
    /// Decompressed gossip bytes queued or in validation, and their bound.
    gossip_bytes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    gossip_queue_bytes: usize,
    events_tx: mpsc::Sender<NetworkEvent>,
    peers: HashMap<PeerId, PeerData>,
    /// ENRs of peers we dialed from discovery or boot nodes (bounded by the dials in flight
    /// plus connected peers; entries of unknown peers are dropped on dial failure).
    known_enrs: HashMap<PeerId, Enr>,
    disconnected: VecDeque<PeerInfo>,
    outbound: HashMap<(Protocol, OutboundRequestId), Pending>,
    responders: FuturesUnordered<ResponderFuture>,
    limiter: RateLimiter,
    /// Peers to drop once their Goodbye had time to leave.
    disconnect_at: Vec<(PeerId, Instant)>,
    boot_dials: Vec<(PeerId, Multiaddr)>,
    subscribed: HashSet<GossipTopic>,
    listen_addrs: Vec<Multiaddr>,
    awaiting_verdict: HashMap<Vec<u8>, &'static str>,
    verdict_order: VecDeque<Vec<u8>>,
    next_query: Instant,
}

/// The metric label of a topic kind (subnets folded together: bounded cardinality).
fn kind_label(kind: GossipKind) -> &'static str {
    match kind {
        GossipKind::BeaconBlock => "beacon_block",
        GossipKind::BeaconAggregateAndProof => "beacon_aggregate_and_proof",
        GossipKind::BeaconAttestation(_) => "beacon_attestation",
        GossipKind::VoluntaryExit => "voluntary_exit",
        GossipKind::ProposerSlashing => "proposer_slashing",
        GossipKind::AttesterSlashing => "attester_slashing",
        GossipKind::SyncCommitteeContributionAndProof => "sync_committee_contribution_and_proof",
        GossipKind::SyncCommittee(_) => "sync_committee",
        GossipKind::BlsToExecutionChange => "bls_to_execution_change",
        GossipKind::DataColumnSidecar(_) => "data_column_sidecar",
    }
}

fn count_gossip(kind: &str, outcome: &str) {
    Metrics::global()
        .ember_gossip_messages_total
        .with_label_values(&[kind, outcome])
        .inc();
}

pub(super) async fn start(
    config: NetworkConfig,
    status: StatusMessage,
) -> Result<NetworkChannels, NetworkError> {
    let key = enr_util::load_or_create_key(&config.network_dir)?;
    let local_peer_id = key.keypair.public().to_peer_id();
    let limits = Limits {
        max_payload_size: config.max_payload_size,
        max_request_blocks: config.max_request_blocks,
        max_request_data_column_sidecars: config.max_request_data_column_sidecars,
    };
    let max_len = usize::try_from(config.max_payload_size).unwrap_or(usize::MAX);
    let gossip_config = gossip::gossipsub_config(
        config.max_payload_size,
        config.slot_duration_ms,
        config.slots_per_epoch,
    )
    .map_err(NetworkError::Libp2p)?;
    let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter_and_transform(
        gossip::message_authenticity(),
        gossip_config,
        subscription_filter(),
        SnappyTransform { max_len },
    )
    .map_err(|e| NetworkError::Libp2p(e.to_string()))?;
    gossipsub
        .with_peer_score(gossip::score_params(), gossip::score_thresholds())
        .map_err(NetworkError::Libp2p)?;
    let identify = identify::Behaviour::new(
        identify::Config::new("eth2/1.0.0".into(), key.keypair.public())
            .with_agent_version(format!("ember/{}", env!("CARGO_PKG_VERSION"))),
    );
    let behaviour = Behaviour {
        peers: PeerManager::new(config.target_peers),
        identify,
        gossipsub,
        status: rpc_behaviour(Protocol::Status, limits),
        goodbye: rpc_behaviour(Protocol::Goodbye, limits),
        ping: rpc_behaviour(Protocol::Ping, limits),
        metadata: rpc_behaviour(Protocol::MetaData, limits),
        blocks_by_range: rpc_behaviour(Protocol::BlocksByRange, limits),
        blocks_by_root: rpc_behaviour(Protocol::BlocksByRoot, limits),
        columns_by_range: rpc_behaviour(Protocol::DataColumnsByRange, limits),
        columns_by_root: rpc_behaviour(Protocol::DataColumnsByRoot, limits),
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key.keypair.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Libp2p(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetworkError::Libp2p(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();

    // TCP: listen, and learn the port (config.port may be 0).
    let listen: Multiaddr = Multiaddr::empty()
        .with(config.listen_address.into())
        .with(MaProtocol::Tcp(config.port));
    swarm
        .listen_on(listen.clone())
        .map_err(|e| NetworkError::Libp2p(format!("listen on {listen}: {e}")))?;
    let tcp_port = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => {
                    if let Some(port) = address.iter().find_map(|p| match p {
                        MaProtocol::Tcp(port) => Some(port),
                        _ => None,
                    }) {
                        return Ok((port, address));
                    }
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(NetworkError::Io(format!("listen on {listen}: {error}")))
                }
                SwarmEvent::ListenerClosed { reason, .. } => {
                    return Err(NetworkError::Io(format!("listen on {listen}: {reason:?}")))
                }
                _ => {}
            }
        }
    })
    .await
    .map_err(|_| NetworkError::Io(format!("listen on {listen}: timed out")))??;
    let (tcp_port, first_addr) = tcp_port;
    let mut listen_addrs = vec![first_addr];

    // UDP for discv5, bound here so the ENR carries the real port.
    let udp_socket = if config.disable_discovery {
        None
    } else {
        let addr = SocketAddr::new(config.listen_address, config.discovery_port);
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|e| NetworkError::Io(format!("bind UDP {addr}: {e}")))?;
        Some(Arc::new(socket))
    };
    let udp_port = match &udp_socket {
        Some(s) => s
            .local_addr()
            .map_err(|e| NetworkError::Io(e.to_string()))?
            .port(),
        None => config.discovery_port,
    };
    let enr_ip = config
        .enr_address
        .or((!config.listen_address.is_unspecified()).then_some(config.listen_address));
    let enr = enr_util::build_enr(
        &key.enr_key,
        &EnrFields {
            ip: enr_ip,
            tcp_port,
            udp_port,
            enr_fork_id: &config.enr_fork_id,
            metadata: &config.metadata,
        },
    )?;
    let node_id = enr.node_id().raw();
    let enr_path = config.network_dir.join("enr");
    std::fs::write(&enr_path, enr.to_base64())
        .map_err(|e| NetworkError::Io(format!("{}: {e}", enr_path.display())))?;

    let (discv5, discv5_events) = match udp_socket {
        None => (None, None),
        Some(socket) => {
            let listen = match config.listen_address {
                IpAddr::V4(_) => discv5::ListenConfig::FromSockets {
                    ipv4: Some(socket),
                    ipv6: None,
                },
                IpAddr::V6(_) => discv5::ListenConfig::FromSockets {
                    ipv4: None,
                    ipv6: Some(socket),
                },
            };
            let discv5_config = discv5::ConfigBuilder::new(listen)
                .ban_duration(Some(BAN_DURATION))
                .build();
            let mut d = Discv5::new(enr.clone(), key.enr_key_copy()?, discv5_config)
                .map_err(|e| NetworkError::Discovery(e.to_string()))?;
            d.start()
                .await
                .map_err(|e| NetworkError::Discovery(e.to_string()))?;
            let events = d
                .event_stream()
                .await
                .map_err(|e| NetworkError::Discovery(e.to_string()))?;
            (Some(d), Some(events))
        }
    };

    // Boot nodes: ENRs go into the discv5 table and are dialed; multiaddrs are dialed.
    let mut boot_dials = Vec::new();
    let mut known_enrs = HashMap::new();
    for text in &config.boot_nodes {
        match enr_util::parse_boot_node(text)? {
            BootNode::Enr(boot) => {
                if let Some(d) = &discv5 {
                    if let Err(e) = d.add_enr((*boot).clone()) {
                        tracing::warn!(error = e, "boot ENR not added to discv5");
                    }
                }
                match (enr_util::enr_peer_id(&boot), enr_util::enr_multiaddr(&boot)) {
                    (Some(peer), Some(addr)) => {
                        known_enrs.insert(peer, (*boot).clone());
                        boot_dials.push((peer, addr));
                    }
                    _ => tracing::warn!(enr = %text, "boot ENR has no TCP address to dial"),
                }
            }
            BootNode::Multiaddr(peer, addr) => boot_dials.push((peer, addr)),
        }
    }
    listen_addrs.retain(|a| !a.is_empty());

    let gossip_queue = config.gossip_queue.max(1);
    let event_queue = config.event_queue.max(1);
    let (gossip_tx, gossip_rx) = mpsc::channel(gossip_queue);
    let (events_tx, events_rx) = mpsc::channel(event_queue);
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let status = Arc::new(watch::Sender::new(status));
    let handle = NetworkHandle {
        commands: commands_tx,
        status: status.clone(),
    };

    let mut service = Service {
        swarm,
        discv5,
        discv5_events,
        discovery_query: None,
        enr,
        node_id,
        enr_path,
        fork_digest: config.fork_digest,
        target_peers: config.target_peers,
        max_request_blocks: config.max_request_blocks,
        max_request_data_column_sidecars: config.max_request_data_column_sidecars,
        metadata: config.metadata.clone(),
        commands: commands_rx,
        status,
        gossip_tx,
        gossip_bytes: Default::default(),
        gossip_queue_bytes: config.gossip_queue_bytes,
        events_tx,
        peers: HashMap::new(),
        known_enrs,
        disconnected: VecDeque::new(),
        outbound: HashMap::new(),
        responders: FuturesUnordered::new(),
        limiter: RateLimiter::new(
            config.max_request_blocks,
            config.max_request_data_column_sidecars,
        ),
        disconnect_at: Vec::new(),
        boot_dials,
        subscribed: HashSet::new(),
        listen_addrs,
        awaiting_verdict: HashMap::new(),
        verdict_order: VecDeque::new(),
        next_query: Instant::now(),
    };
    service.subscribe(&config.topics);
    service.dial_boot_nodes();
    tracing::info!(
        peer_id = %local_peer_id,
        tcp = tcp_port,
        udp = udp_port,
        enr = %service.enr.to_base64(),
        "network started"
    );
    tokio::spawn(service.run());
    Ok(NetworkChannels {
        handle,
        node_id,
        events: events_rx,
        gossip: gossip_rx,
    })
}

fn response_ok(ssz: Vec<u8>) -> WireResponse {
    WireResponse {
        chunks: vec![ResponseChunk { context: None, ssz }],
        error: None,
    }
}

/// The most chunks a response to `request` may have (the spec's per-request bound).
fn request_max_chunks(request: &Request) -> u64 {
    match request {
        Request::Status(_) | Request::Ping(_) | Request::MetaData => 1,
        Request::Goodbye(_) => 0,
        Request::BlocksByRange(r) => r.count,
        Request::BlocksByRoot(roots) => roots.len() as u64,
        Request::DataColumnsByRange(r) => r.count.saturating_mul(r.columns.len() as u64),
        Request::DataColumnsByRoot(ids) => ids.iter().map(|id| id.columns.len() as u64).sum(),
    }
}

impl Service {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => {
                        // The node dropped every handle: say goodbye and stop.
                        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
                        for peer in peers {
                            self.goodbye(peer, GOODBYE_CLIENT_SHUTDOWN);
                        }
                        // Keep the swarm running briefly so the Goodbyes get out.
                        let deadline = tokio::time::sleep(GOODBYE_GRACE);
                        tokio::pin!(deadline);
                        loop {
                            tokio::select! {
                                _ = &mut deadline => break,
                                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                            }
                        }
                        if let Some(d) = self.discv5.as_mut() {
                            d.shutdown();
                        }
                        return;
                    }
                },
                Some((protocol, channel, response)) = self.responders.next(),
                    if !self.responders.is_empty() => {
                    let _ = self.swarm.behaviour_mut().rpc(protocol).send_response(channel, response);
                }
                Some(event) = async {
                    match self.discv5_events.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => self.on_discovery_event(event),
                result = async {
                    match self.discovery_query.as_mut() {
                        Some(query) => query.await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.discovery_query = None;
                    self.on_discovered(result);
                }
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    fn our_status(&self) -> StatusMessage {
        self.status.borrow().clone()
    }

    // ------------------------------------------------------------------ swarm events

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.on_gossip(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                tracing::trace!(peer = %peer_id, agent = %info.agent_version, "identified");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(_)) => {}
            SwarmEvent::Behaviour(BehaviourEvent::Peers(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Status(e)) => self.on_rpc(Protocol::Status, e),
            SwarmEvent::Behaviour(BehaviourEvent::Goodbye(e)) => self.on_rpc(Protocol::Goodbye, e),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => self.on_rpc(Protocol::Ping, e),
            SwarmEvent::Behaviour(BehaviourEvent::Metadata(e)) => {
                self.on_rpc(Protocol::MetaData, e)
            }
            SwarmEvent::Behaviour(BehaviourEvent::BlocksByRange(e)) => {
                self.on_rpc(Protocol::BlocksByRange, e)
            }
            SwarmEvent::Behaviour(BehaviourEvent::BlocksByRoot(e)) => {
                self.on_rpc(Protocol::BlocksByRoot, e)
            }
            SwarmEvent::Behaviour(BehaviourEvent::ColumnsByRange(e)) => {
                self.on_rpc(Protocol::DataColumnsByRange, e)
            }
            SwarmEvent::Behaviour(BehaviourEvent::ColumnsByRoot(e)) => {
                self.on_rpc(Protocol::DataColumnsByRoot, e)
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } if num_established.get() == 1 => {
                {
                    let now = Instant::now();
                    let (direction, address) = if endpoint.is_dialer() {
                        ("outbound", endpoint.get_remote_address().clone())
                    } else {
                        ("inbound", endpoint.get_remote_address().clone())
                    };
                    tracing::debug!(peer = %peer_id, %address, direction, "peer connected");
                    self.peers.insert(
                        peer_id,
                        PeerData {
                            direction,
                            address,
                            enr: self.known_enrs.get(&peer_id).cloned(),
                            status: None,
                            metadata: None,
                            connected_at: now,
                            last_status: now,
                            last_ping: now,
                        },
                    );
                    self.disconnected.retain(|p| p.peer_id != peer_id);
                    // Status handshake: both sides send theirs on a new connection.
                    let status = self.our_status();
                    self.send_internal(peer_id, Request::Status(status));
                    self.update_peer_metric();
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => self.on_peer_disconnected(peer_id),
            SwarmEvent::NewListenAddr { address, .. } if !self.listen_addrs.contains(&address) => {
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
                if let Some(peer) = peer_id {
                    if !self.peers.contains_key(&peer) {
                        self.known_enrs.remove(&peer);
                    }
                }
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::trace!(%error, "inbound connection failed");
            }
            _ => {}
        }
    }

    fn on_peer_disconnected(&mut self, peer: PeerId) {
        let Some(data) = self.peers.remove(&peer) else {
            return;
        };
        tracing::debug!(peer = %peer, "peer disconnected");
        self.limiter.remove_peer(&peer);
        self.known_enrs.remove(&peer);
        self.disconnect_at.retain(|(p, _)| *p != peer);
        self.disconnected.push_front(PeerInfo {
            peer_id: peer,
            enr: data.enr.map(|e| e.to_base64()),
            last_seen_p2p_address: data.address.to_string(),
            state: "disconnected",
            direction: data.direction,
        });
        self.disconnected.truncate(MAX_DISCONNECTED);
        // Fail the node's requests to this peer now rather than at their timeout.
        let dead: Vec<(Protocol, OutboundRequestId)> = self
            .outbound
            .iter()
            .filter(|(_, p)| match p {
                Pending::Node { peer: q, .. } | Pending::Internal { peer: q } => *q == peer,
            })
            .map(|(k, _)| *k)
            .collect();
        for key in dead {
            if let Some(Pending::Node { reply, .. }) = self.outbound.remove(&key) {
                let _ = reply.send(Err(RpcError::Disconnected));
            }
        }
        if data.status.is_some() {
            self.emit(NetworkEvent::PeerDisconnected { peer });
        }
        self.update_peer_metric();
    }

    fn update_peer_metric(&self) {
        Metrics::global().libp2p_peers.set(self.peers.len() as i64);
    }

    /// Delivers an event to the node without waiting; a full queue drops it (logged).
    fn emit(&self, event: NetworkEvent) {
        if let Err(e) = self.events_tx.try_send(event) {
            tracing::warn!(error = %e, "network event queue full or closed: event dropped");
        }
    }

    // ------------------------------------------------------------------ gossip

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let Some(topic) = GossipTopic::parse(message.topic.as_str()) else {
            // Not an eth2 topic we could have subscribed to.
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    gossipsub::MessageAcceptance::Reject,
                );
            return;
        };
        let kind = kind_label(topic.kind);
        count_gossip(kind, "received");
        let id = MessageId(message_id.0.clone());
        let queued = QueuedBytes::try_take(
            &self.gossip_bytes,
            message.data.len(),
            self.gossip_queue_bytes,
        );
        let delivered = match queued {
            Some(queued) => self
                .gossip_tx
                .try_send(GossipMessage {
                    peer: propagation_source,
                    message_id: id,
                    topic,
                    data: message.data,
                    queued,
                })
                .is_ok(),
            None => false,
        };
        if !delivered {
            // Queue full (or the node gone): drop it and let gossipsub forget it, unpenalised.
            tracing::debug!(topic = %topic, "gossip queue full: message ignored");
            count_gossip(kind, "dropped");
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    gossipsub::MessageAcceptance::Ignore,
                );
        } else {
            while self.awaiting_verdict.len() >= MAX_AWAITING_VERDICT {
                match self.verdict_order.pop_front() {
                    Some(old) => {
                        self.awaiting_verdict.remove(&old);
                    }
                    None => {
                        self.awaiting_verdict.clear();
                    }
                }
            }
            if self
                .awaiting_verdict
                .insert(message_id.0.clone(), kind)
                .is_none()
            {
                self.verdict_order.push_back(message_id.0);
            }
        }
    }

    fn subscribe(&mut self, topics: &[GossipTopic]) {
        for topic in topics {
            let ident = IdentTopic::new(topic.to_string());
            let gs = &mut self.swarm.behaviour_mut().gossipsub;
            if let Err(e) = gs.subscribe(&ident) {
                tracing::warn!(topic = %topic, error = ?e, "subscribe failed");
                continue;
            }
            if let Err(e) = gs.set_topic_params(ident, gossip::topic_score_params()) {
                tracing::warn!(topic = %topic, error = e, "topic score parameters refused");
            }
            self.subscribed.insert(*topic);
        }
    }

    // ------------------------------------------------------------------ commands

    fn on_command(&mut self, command: NetworkCommand) {
        match command {
            NetworkCommand::Publish { topic, data } => {
                let ident = IdentTopic::new(topic.to_string());
                if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(ident, data) {
                    tracing::debug!(topic = %topic, error = ?e, "publish failed");
                }
            }
            NetworkCommand::Validation {
                message_id,
                peer,
                acceptance,
            } => {
                let kind = self
                    .awaiting_verdict
                    .remove(&message_id.0)
                    .unwrap_or("unknown");
                if self.verdict_order.front() == Some(&message_id.0) {
                    self.verdict_order.pop_front();
                } else if self.awaiting_verdict.len() < self.verdict_order.len() / 2 {
                    // Out-of-order verdicts leave stale ids in the order list; compact now and
                    // then (amortised O(1)).
                    let verdicts = &self.awaiting_verdict;
                    self.verdict_order.retain(|id| verdicts.contains_key(id));
                }
                let (acceptance, outcome) = match acceptance {
                    MessageAcceptance::Accept => (gossipsub::MessageAcceptance::Accept, "accepted"),
                    MessageAcceptance::Ignore => (gossipsub::MessageAcceptance::Ignore, "ignored"),
                    MessageAcceptance::Reject => (gossipsub::MessageAcceptance::Reject, "rejected"),
                };
                count_gossip(kind, outcome);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(
                        &gossipsub::MessageId(message_id.0),
                        &peer,
                        acceptance,
                    );
            }
            NetworkCommand::Request {
                peer,
                request,
                reply,
            } => {
                if !self.peers.contains_key(&peer) {
                    let _ = reply.send(Err(RpcError::Disconnected));
                    return;
                }
                let protocol = Protocol::of(&request);
                let max_chunks = request_max_chunks(&request);
                let id = self
                    .swarm
                    .behaviour_mut()
                    .rpc(protocol)
                    .send_request(&peer, WireRequest::Valid(request));
                self.outbound.insert(
                    (protocol, id),
                    Pending::Node {
                        peer,
                        max_chunks,
                        reply,
                    },
                );
            }
            NetworkCommand::ReportPeer {
                peer,
                action,
                reason,
            } => self.report(peer, action, reason),
            NetworkCommand::Subscribe(topics) => self.subscribe(&topics),
            NetworkCommand::Unsubscribe(topics) => {
                for topic in topics {
                    let ident = IdentTopic::new(topic.to_string());
                    self.swarm.behaviour_mut().gossipsub.unsubscribe(&ident);
                    self.subscribed.remove(&topic);
                }
            }
            NetworkCommand::Peers(reply) => {
                let mut list: Vec<PeerInfo> = self
                    .peers
                    .iter()
                    .map(|(peer, d)| PeerInfo {
                        peer_id: *peer,
                        enr: d.enr.as_ref().map(|e| e.to_base64()),
                        last_seen_p2p_address: d.address.to_string(),
                        state: "connected",
                        direction: d.direction,
                    })
                    .collect();
                list.extend(self.disconnected.iter().cloned());
                let _ = reply.send(list);
            }
            NetworkCommand::Identity(reply) => {
                let peer_id = *self.swarm.local_peer_id();
                let p2p_addresses = self
                    .listen_addrs
                    .iter()
                    .map(|a| a.clone().with(MaProtocol::P2p(peer_id)).to_string())
                    .collect();
                let discovery_addresses = self
                    .discv5
                    .as_ref()
                    .and_then(|_| {
                        let ip = self.enr.ip4().map(IpAddr::V4)?;
                        let port = self.enr.udp4()?;
                        Some(vec![Multiaddr::empty()
                            .with(ip.into())
                            .with(MaProtocol::Udp(port))
                            .with(MaProtocol::P2p(peer_id))
                            .to_string()])
                    })
                    .unwrap_or_default();
                let _ = reply.send(NodeIdentity {
                    peer_id,
                    node_id: self.node_id,
                    enr: self.enr.to_base64(),
                    p2p_addresses,
                    discovery_addresses,
                    metadata: self.metadata.clone(),
                });
            }
        }
    }

    // ------------------------------------------------------------------ peer manager

    fn report(&mut self, peer: PeerId, action: PeerAction, reason: &str) {
        tracing::debug!(peer = %peer, ?action, reason, "peer reported");
        if self.swarm.behaviour_mut().peers.report(peer, action) {
            self.ban(peer, reason);
        }
    }

    /// Bans a peer: Goodbye, disconnect, connections refused and discv5 ignoring it for
    /// `BAN_DURATION`.
    fn ban(&mut self, peer: PeerId, reason: &str) {
        if self.swarm.behaviour().peers.is_banned(&peer) {
            return;
        }
        tracing::info!(peer = %peer, reason, "banning peer");
        Metrics::global().ember_peers_banned_total.inc();
        self.swarm.behaviour_mut().peers.ban(peer, BAN_DURATION);
        self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer);
        if let (Some(d), Some(node_id)) = (&self.discv5, peer_node_id(&peer)) {
            d.ban_node(&node_id, Some(BAN_DURATION));
        }
        if self.peers.contains_key(&peer) {
            self.goodbye(peer, GOODBYE_BANNED);
        }
    }

    /// Sends Goodbye and drops the connection shortly after.
    fn goodbye(&mut self, peer: PeerId, reason: u64) {
        self.send_internal(peer, Request::Goodbye(reason));
        self.disconnect_at
            .push((peer, Instant::now() + GOODBYE_GRACE));
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        // Goodbyes sent: drop the connections.
        let (due, later): (Vec<_>, Vec<_>) =
            self.disconnect_at.drain(..).partition(|(_, at)| *at <= now);
        self.disconnect_at = later;
        for (peer, _) in due {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        // Expired bans: gossipsub may hear from them again.
        for peer in self.swarm.behaviour_mut().peers.prune() {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .remove_blacklisted_peer(&peer);
        }
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        let our_status = self.our_status();
        for peer in peers {
            // Gossipsub's own score (invalid messages per topic, behaviour penalties).
            let gossip_score = self.swarm.behaviour().gossipsub.peer_score(&peer);
            if gossip_score.is_some_and(|s| s < GOSSIP_BAN_SCORE) {
                self.ban(peer, "gossipsub score below the ban threshold");
                continue;
            }
            let Some(data) = self.peers.get_mut(&peer) else {
                continue;
            };
            if data.status.is_none() && now.duration_since(data.connected_at) > HANDSHAKE_TIMEOUT {
                tracing::debug!(peer = %peer, "no status handshake: disconnecting");
                data.connected_at = now;
                self.goodbye(peer, GOODBYE_FAULT);
                continue;
            }
            if data.status.is_some() && now.duration_since(data.last_status) > STATUS_INTERVAL {
                data.last_status = now;
                self.send_internal(peer, Request::Status(our_status.clone()));
            } else if now.duration_since(data.last_ping) > PING_INTERVAL {
                data.last_ping = now;
                self.send_internal(peer, Request::Ping(self.metadata.seq_number));
            }
        }
        self.dial_boot_nodes();
        self.maybe_discover();
    }

    fn dial_boot_nodes(&mut self) {
        if self.peers.len() >= self.target_peers {
            return;
        }
        let dials: Vec<(PeerId, Multiaddr)> = self
            .boot_dials
            .iter()
            .filter(|(peer, _)| !self.peers.contains_key(peer))
            .cloned()
            .collect();
        for (peer, addr) in dials {
            self.dial(peer, addr);
        }
    }

    fn dial(&mut self, peer: PeerId, addr: Multiaddr) {
        if peer == *self.swarm.local_peer_id()
            || self.swarm.behaviour().peers.is_banned(&peer)
            || self.swarm.is_connected(&peer)
        {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(vec![addr])
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::trace!(peer = %peer, error = %e, "dial not started");
        }
    }

    // ------------------------------------------------------------------ discovery

    /// Starts a discv5 query for eth2 peers on our fork digest while below the target.
    fn maybe_discover(&mut self) {
        let Some(d) = &self.discv5 else {
            return;
        };
        if self.discovery_query.is_some()
            || self.peers.len() >= self.target_peers
            || Instant::now() < self.next_query
        {
            return;
        }
        self.next_query = Instant::now() + DISCOVERY_INTERVAL;
        let digest = self.fork_digest;
        let predicate = Box::new(move |enr: &Enr| {
            enr_util::enr_eth2(enr).is_some_and(|eth2| eth2.get(..4) == Some(digest.as_slice()))
                && enr_util::enr_multiaddr(enr).is_some()
        });
        let wanted = self.target_peers.saturating_sub(self.peers.len()).max(1);
        self.discovery_query = Some(
            d.find_node_predicate(NodeId::random(), predicate, wanted)
                .boxed(),
        );
    }

    fn on_discovered(&mut self, result: Result<Vec<Enr>, discv5::QueryError>) {
        match result {
            Ok(enrs) => {
                for enr in enrs {
                    self.dial_enr(enr);
                }
            }
            Err(e) => tracing::debug!(error = %e, "discovery query failed"),
        }
    }

    fn dial_enr(&mut self, enr: Enr) {
        if self.peers.len() >= self.target_peers {
            return;
        }
        let digest = self.fork_digest;
        if enr_util::enr_eth2(&enr).is_none_or(|e| e.get(..4) != Some(digest.as_slice())) {
            return;
        }
        if let (Some(peer), Some(addr)) =
            (enr_util::enr_peer_id(&enr), enr_util::enr_multiaddr(&enr))
        {
            if self.peers.contains_key(&peer) {
                return;
            }
            // Bounded: one entry per dial in flight (removed on failure or disconnect).
            if self.known_enrs.len() < self.target_peers.saturating_mul(4) {
                self.known_enrs.insert(peer, enr);
            }
            self.dial(peer, addr);
        }
    }

    fn on_discovery_event(&mut self, event: discv5::Event) {
        match event {
            discv5::Event::SocketUpdated(addr) => {
                tracing::info!(%addr, "discv5 learned our external address");
                if let Some(d) = &self.discv5 {
                    self.enr = d.local_enr();
                    if let Err(e) = std::fs::write(&self.enr_path, self.enr.to_base64()) {
                        tracing::warn!(error = %e, "writing the ENR file failed");
                    }
                }
            }
            discv5::Event::SessionEstablished(enr, _) => self.dial_enr(enr),
            _ => {}
        }
    }

    // ------------------------------------------------------------------ req/resp

    fn send_internal(&mut self, peer: PeerId, request: Request) {
        let protocol = Protocol::of(&request);
        let id = self
            .swarm
            .behaviour_mut()
            .rpc(protocol)
            .send_request(&peer, WireRequest::Valid(request));
        self.outbound
            .insert((protocol, id), Pending::Internal { peer });
    }

    fn on_rpc(&mut self, protocol: Protocol, event: rr::Event<WireRequest, WireResponse>) {
        match event {
            rr::Event::Message { peer, message, .. } => match message {
                rr::Message::Request {
                    request, channel, ..
                } => match request {
                    WireRequest::Valid(request) => {
                        self.on_inbound_request(protocol, peer, request, channel)
                    }
                    WireRequest::Malformed(reason) => {
                        tracing::debug!(peer = %peer, ?protocol, reason, "malformed request");
                        self.respond(
                            protocol,
                            channel,
                            WireResponse::error(RpcErrorCode::InvalidRequest, reason),
                        );
                        self.report(peer, PeerAction::LowToleranceError, "malformed request");
                    }
                },
                rr::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(pending) = self.outbound.remove(&(protocol, request_id)) {
                        self.on_response(protocol, peer, pending, Ok(response));
                    }
                }
            },
            rr::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(pending) = self.outbound.remove(&(protocol, request_id)) {
                    let error = match error {
                        OutboundFailure::Timeout => RpcError::Timeout,
                        OutboundFailure::UnsupportedProtocols => RpcError::Unsupported,
                        OutboundFailure::DialFailure | OutboundFailure::ConnectionClosed => {
                            RpcError::Disconnected
                        }
                        OutboundFailure::Io(e) => RpcError::InvalidResponse(e.to_string()),
                    };
                    self.on_response(protocol, peer, pending, Err(error));
                }
            }
            rr::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %peer, ?protocol, %error, "inbound request failed");
                // A malformed request (bad framing, oversize, bad SSZ) is the peer's fault.
                if let rr::InboundFailure::Io(e) = &error {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        self.report(peer, PeerAction::LowToleranceError, "malformed request");
                    }
                }
            }
            rr::Event::ResponseSent { .. } => {}
        }
    }

    fn on_response(
        &mut self,
        protocol: Protocol,
        peer: PeerId,
        pending: Pending,
        response: Result<WireResponse, RpcError>,
    ) {
        if let Err(RpcError::InvalidResponse(reason)) = &response {
            tracing::debug!(peer = %peer, ?protocol, reason, "malformed response");
            self.report(peer, PeerAction::LowToleranceError, "malformed response");
        }
        match pending {
            Pending::Node {
                max_chunks, reply, ..
            } => {
                let result = response.and_then(|r| {
                    if r.chunks.len() as u64 > max_chunks {
                        return Err(RpcError::InvalidResponse(format!(
                            "{} chunks for a request of at most {max_chunks}",
                            r.chunks.len()
                        )));
                    }
                    match r.error {
                        Some(e) if r.chunks.is_empty() => Err(RpcError::ErrorResponse {
                            code: e.code,
                            message: e.message,
                        }),
                        _ => Ok(r.chunks),
                    }
                });
                if matches!(&result, Err(RpcError::InvalidResponse(m)) if m.contains("chunks for"))
                {
                    self.report(peer, PeerAction::LowToleranceError, "too many chunks");
                }
                let _ = reply.send(result);
            }
            Pending::Internal { .. } => self.on_internal_response(protocol, peer, response),
        }
    }

    fn on_internal_response(
        &mut self,
        protocol: Protocol,
        peer: PeerId,
        response: Result<WireResponse, RpcError>,
    ) {
        let first = match &response {
            Ok(r) => r.chunks.first().map(|c| c.ssz.clone()),
            Err(_) => None,
        };
        match protocol {
            Protocol::Status => match first.map(|ssz| StatusMessage::from_ssz_bytes(&ssz)) {
                Some(Ok(status)) => self.on_status(peer, status),
                Some(Err(_)) => {
                    self.report(peer, PeerAction::LowToleranceError, "undecodable status");
                    self.goodbye(peer, GOODBYE_FAULT);
                }
                None => {
                    // No status from the peer: it cannot be synced with or served.
                    let handshake_done = self.peers.get(&peer).is_some_and(|d| d.status.is_some());
                    if !handshake_done && self.peers.contains_key(&peer) {
                        tracing::debug!(peer = %peer, ?response, "status request failed");
                        self.goodbye(peer, GOODBYE_FAULT);
                    }
                }
            },
            Protocol::Ping => {
                if let Some(Ok(seq)) = first.map(|ssz| u64::from_ssz_bytes(&ssz)) {
                    let known = self
                        .peers
                        .get(&peer)
                        .and_then(|d| d.metadata.as_ref())
                        .map(|m| m.seq_number);
                    if known.is_none_or(|k| seq > k) {
                        self.send_internal(peer, Request::MetaData);
                    }
                }
            }
            Protocol::MetaData => {
                if let Some(Ok(metadata)) = first.map(|ssz| MetaData::from_ssz_bytes(&ssz)) {
                    if let Some(d) = self.peers.get_mut(&peer) {
                        d.metadata = Some(metadata);
                    }
                }
            }
            _ => {}
        }
    }

    /// A peer's status (its answer to ours, or its own request): on another fork digest it is
    /// told Goodbye(irrelevant network) and dropped; otherwise the node hears of it.
    fn on_status(&mut self, peer: PeerId, status: StatusMessage) {
        let ours = self.our_status();
        if status.fork_digest != ours.fork_digest {
            tracing::debug!(
                peer = %peer,
                theirs = %hex::encode(status.fork_digest.as_slice()),
                ours = %hex::encode(ours.fork_digest.as_slice()),
                "peer on another network"
            );
            self.swarm.behaviour_mut().peers.ban(peer, IRRELEVANT_BAN);
            if self.peers.contains_key(&peer) {
                self.goodbye(peer, GOODBYE_IRRELEVANT_NETWORK);
            }
            return;
        }
        let Some(data) = self.peers.get_mut(&peer) else {
            return;
        };
        let first = data.status.is_none();
        data.status = Some(status.clone());
        data.last_status = Instant::now();
        if first {
            // Learn its subnets and custody group count once the handshake is done; pings
            // tell us later when they change.
            self.send_internal(peer, Request::MetaData);
        }
        self.emit(NetworkEvent::PeerStatus { peer, status });
    }

    fn on_inbound_request(
        &mut self,
        protocol: Protocol,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<WireResponse>,
    ) {
        let cost = request_max_chunks(&request).max(1);
        if !self.limiter.allow(peer, protocol, cost, Instant::now()) {
            tracing::debug!(peer = %peer, ?protocol, cost, "rate limited");
            Metrics::global().ember_rpc_rate_limited_total.inc();
            self.respond(
                protocol,
                channel,
                WireResponse::error(RpcErrorCode::ResourceUnavailable, "rate limited"),
            );
            self.report(peer, PeerAction::MidToleranceError, "request rate exceeded");
            return;
        }
        match request {
            Request::Status(status) => {
                let ours = self.our_status();
                self.respond(protocol, channel, response_ok(ours.as_ssz_bytes()));
                self.on_status(peer, status);
            }
            Request::Ping(_) => {
                let seq = self.metadata.seq_number;
                self.respond(protocol, channel, response_ok(seq.as_ssz_bytes()));
            }
            Request::MetaData => {
                let ssz = self.metadata.as_ssz_bytes();
                debug_assert_eq!(ssz.len(), METADATA_V3_SIZE);
                self.respond(protocol, channel, response_ok(ssz));
            }
            Request::Goodbye(reason) => {
                tracing::debug!(peer = %peer, reason, "peer said goodbye");
                self.respond(protocol, channel, WireResponse::default());
                self.disconnect_at
                    .push((peer, Instant::now() + GOODBYE_GRACE));
            }
            request => {
                if let Some(error) = self.check_request(&request) {
                    self.respond(protocol, channel, error);
                    self.report(peer, PeerAction::LowToleranceError, "invalid request");
                    return;
                }
                if request_max_chunks(&request) == 0 {
                    self.respond(protocol, channel, WireResponse::default());
                    return;
                }
                self.forward_request(protocol, peer, request, channel);
            }
        }
    }

    /// The spec's request bounds beyond what the codec checks (counts of range requests).
    fn check_request(&self, request: &Request) -> Option<WireResponse> {
        let invalid = |m: &str| Some(WireResponse::error(RpcErrorCode::InvalidRequest, m));
        match request {
            Request::BlocksByRange(r) if r.count > self.max_request_blocks => {
                invalid("count above MAX_REQUEST_BLOCKS_DENEB")
            }
            Request::BlocksByRange(r) if r.step == 0 => invalid("step 0"),
            Request::DataColumnsByRange(_) | Request::DataColumnsByRoot(_)
                if request_max_chunks(request) > self.max_request_data_column_sidecars =>
            {
                invalid("more than MAX_REQUEST_DATA_COLUMN_SIDECARS")
            }
            _ => None,
        }
    }

    /// Hands a block/column request to the node; its answer (or ServerError when it drops the
    /// responder, is too slow, or the event queue is full) is written back by `run`.
    fn forward_request(
        &mut self,
        protocol: Protocol,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<WireResponse>,
    ) {
        let max_chunks = request_max_chunks(&request);
        let (tx, rx) = oneshot::channel();
        let event = NetworkEvent::InboundRequest {
            peer,
            request,
            responder: Responder(tx),
        };
        if self.events_tx.try_send(event).is_err() {
            self.respond(
                protocol,
                channel,
                WireResponse::error(RpcErrorCode::ServerError, "node busy"),
            );
            return;
        }
        // Bounded: at most MAX_CONCURRENT_STREAMS per connection and protocol, each for at most
        // RESP_TIMEOUT.
        self.responders.push(
            async move {
                let response = match tokio::time::timeout(RESP_TIMEOUT, rx).await {
                    Ok(Ok(Ok(mut chunks))) => {
                        // Never more chunks than the request allows.
                        chunks.truncate(usize::try_from(max_chunks).unwrap_or(usize::MAX));
                        WireResponse {
                            chunks,
                            error: None,
                        }
                    }
                    Ok(Ok(Err(error))) => WireResponse {
                        chunks: Vec::new(),
                        error: Some(error),
                    },
                    Ok(Err(_)) => WireResponse::error(RpcErrorCode::ServerError, "no response"),
                    Err(_) => WireResponse::error(RpcErrorCode::ServerError, "timed out"),
                };
                (protocol, channel, response)
            }
            .boxed(),
        );
    }

    fn respond(
        &mut self,
        protocol: Protocol,
        channel: ResponseChannel<WireResponse>,
        response: WireResponse,
    ) {
        let _ = self
            .swarm
            .behaviour_mut()
            .rpc(protocol)
            .send_response(channel, response);
    }
}

/// The discv5 node id of a peer (keccak256 of its secp256k1 public key), for discv5 bans.
fn peer_node_id(peer: &PeerId) -> Option<NodeId> {
    let multihash = peer.as_ref();
    // Identity multihash (code 0): the protobuf-encoded public key itself.
    if multihash.code() != 0 {
        return None;
    }
    let public = libp2p::identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let secp = public.try_into_secp256k1().ok()?;
    let key = ::enr::k256::ecdsa::VerifyingKey::from_sec1_bytes(&secp.to_bytes()).ok()?;
    Some(NodeId::from(::enr::CombinedPublicKey::from(key)))
}
