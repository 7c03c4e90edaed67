//! Real services on 127.0.0.1 (ephemeral ports): boot-node dialing (ENR and multiaddr), the
//! status handshake, gossip delivery with manual validation, req/resp round trips and the
//! refusal of a peer on another fork digest.

use super::*;
use crate::consensus::primitives::{ForkDigest, Root};
use std::time::Duration;
use tokio::sync::mpsc;

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "ember-net-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

fn config(name: &str, digest: ForkDigest, boot_nodes: Vec<String>) -> NetworkConfig {
    let mut enr_fork_id = digest.as_slice().to_vec();
    enr_fork_id.extend_from_slice(&[0; 12]);
    NetworkConfig {
        listen_address: "127.0.0.1".parse().expect("literal address"),
        port: 0,
        discovery_port: 0,
        enr_address: None,
        boot_nodes,
        target_peers: 8,
        disable_discovery: false,
        network_dir: temp_dir(name),
        fork_digest: digest,
        enr_fork_id,
        metadata: MetaData {
            seq_number: 3,
            attnets: [0xff; 8],
            syncnets: [0x0f],
            custody_group_count: 4,
        },
        topics: vec![GossipTopic::new(digest, GossipKind::BeaconBlock)],
        max_payload_size: 10 * 1024 * 1024,
        max_request_blocks: 128,
        max_request_data_column_sidecars: 16384,
        slot_duration_ms: 6000,
        slots_per_epoch: 8,
        gossip_queue: 16,
        gossip_queue_bytes: 16 << 20,
        event_queue: 16,
    }
}

fn status(digest: ForkDigest, head_slot: u64) -> StatusMessage {
    StatusMessage {
        fork_digest: digest,
        finalized_root: Root::repeat_byte(1),
        finalized_epoch: 0,
        head_root: Root::repeat_byte(2),
        head_slot,
        earliest_available_slot: 0,
    }
}

/// The next event matching `f`, within `secs`.
async fn wait_event<T>(
    rx: &mut mpsc::Receiver<NetworkEvent>,
    secs: u64,
    mut f: impl FnMut(NetworkEvent) -> Option<T>,
) -> Option<T> {
    tokio::time::timeout(Duration::from_secs(secs), async {
        while let Some(event) = rx.recv().await {
            if let Some(t) = f(event) {
                return Some(t);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test]
async fn two_nodes_handshake_gossip_and_req_resp_and_refuse_other_network() {
    let digest = ForkDigest::from([0xaa, 0xbb, 0xcc, 0xdd]);
    let mut a = start(config("a", digest, vec![]), status(digest, 10))
        .await
        .expect("node a starts");
    let id_a = a.handle.identity().await.expect("identity");
    assert!(id_a.enr.starts_with("enr:-"));
    assert_eq!(id_a.node_id, a.node_id);
    // B finds A through its ENR.
    let mut b = start(
        config("b", digest, vec![id_a.enr.clone()]),
        status(digest, 20),
    )
    .await
    .expect("node b starts");
    let id_b = b.handle.identity().await.expect("identity");

    // The status handshake, seen from both sides.
    let seen_by_a = wait_event(&mut a.events, 10, |e| match e {
        NetworkEvent::PeerStatus { peer, status } => Some((peer, status)),
        _ => None,
    })
    .await
    .expect("a hears b's status");
    assert_eq!(seen_by_a, (id_b.peer_id, status(digest, 20)));
    let seen_by_b = wait_event(&mut b.events, 10, |e| match e {
        NetworkEvent::PeerStatus { peer, status } => Some((peer, status)),
        _ => None,
    })
    .await
    .expect("b hears a's status");
    assert_eq!(seen_by_b, (id_a.peer_id, status(digest, 10)));
    let peers = b.handle.peers().await.expect("peers");
    assert!(peers
        .iter()
        .any(|p| p.peer_id == id_a.peer_id && p.state == "connected" && p.direction == "outbound"));

    // Gossip: A publishes until B's mesh/fanout knows the topic; B gets the decompressed SSZ.
    let topic = GossipTopic::new(digest, GossipKind::BeaconBlock);
    let received = tokio::time::timeout(Duration::from_secs(15), async {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let data = format!("block {attempt}").repeat(50).into_bytes();
            a.handle
                .publish(topic, data.clone())
                .await
                .expect("publish");
            if let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(500), b.gossip.recv()).await
            {
                return (message, attempt);
            }
        }
    })
    .await
    .expect("b receives the gossip message");
    let (message, attempt) = received;
    // The decompressed bytes of one of the published messages (a slow earlier attempt may be
    // the one that arrived).
    assert!(
        (1..=attempt).any(|i| message.data == format!("block {i}").repeat(50).into_bytes()),
        "decompressed SSZ as published"
    );
    assert_eq!(message.topic, topic);
    assert_eq!(message.peer, id_a.peer_id);
    // The id is the spec's message-id of the decompressed data on the topic string.
    assert_eq!(
        message.message_id.0,
        gossip::message_id_valid_snappy(&topic.to_string(), &message.data).to_vec()
    );
    let accepted = || {
        crate::api::metrics::Metrics::global()
            .ember_gossip_messages_total
            .with_label_values(&["beacon_block", "accepted"])
            .get()
    };
    let accepted_before = accepted();
    b.handle
        .validation(message.message_id, message.peer, MessageAcceptance::Accept)
        .await
        .expect("validation");
    let counted = tokio::time::timeout(Duration::from_secs(5), async {
        while accepted() == accepted_before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        counted.is_ok(),
        "the Accept verdict reached gossipsub's validation"
    );

    // beacon_blocks_by_range: B asks, A's node answers through the responder.
    let request = BlocksByRangeRequest {
        start_slot: 5,
        count: 3,
        step: 1,
    };
    let handle_b = b.handle.clone();
    let peer_a = id_a.peer_id;
    let req = request.clone();
    let asking =
        tokio::spawn(async move { handle_b.request(peer_a, Request::BlocksByRange(req)).await });
    let chunks: Vec<ResponseChunk> = (0..3u8)
        .map(|i| ResponseChunk {
            context: Some(digest),
            ssz: vec![i; 1000 + usize::from(i)],
        })
        .collect();
    let served = chunks.clone();
    wait_event(&mut a.events, 10, |e| match e {
        NetworkEvent::InboundRequest {
            peer,
            request: Request::BlocksByRange(r),
            responder,
        } => {
            assert_eq!(peer, id_b.peer_id);
            assert_eq!(r, request);
            responder.send(Ok(served.clone()));
            Some(())
        }
        _ => None,
    })
    .await
    .expect("a receives the request");
    let answer = asking.await.expect("task").expect("response");
    assert_eq!(answer, chunks);

    // A dropped responder answers ServerError.
    let handle_b = b.handle.clone();
    let asking = tokio::spawn(async move {
        handle_b
            .request(peer_a, Request::BlocksByRoot(vec![Root::repeat_byte(9)]))
            .await
    });
    wait_event(&mut a.events, 10, |e| match e {
        NetworkEvent::InboundRequest { responder, .. } => {
            drop(responder);
            Some(())
        }
        _ => None,
    })
    .await
    .expect("a receives the by-root request");
    match asking.await.expect("task") {
        Err(RpcError::ErrorResponse { code, .. }) => assert_eq!(code, RpcErrorCode::ServerError),
        other => panic!("expected ServerError, got {other:?}"),
    }

    // Status, ping and metadata are answered by the network layer itself.
    let chunks = b
        .handle
        .request(peer_a, Request::MetaData)
        .await
        .expect("metadata");
    let metadata = <MetaData as ssz::Decode>::from_ssz_bytes(&chunks[0].ssz).expect("metadata");
    assert_eq!(metadata.custody_group_count, 4);
    let chunks = b
        .handle
        .request(peer_a, Request::Ping(1))
        .await
        .expect("ping");
    assert_eq!(chunks[0].ssz, 3u64.to_le_bytes());

    // A node on another fork digest (dialing A by multiaddr) is refused.
    let other = ForkDigest::from([1, 2, 3, 4]);
    let addr_a = id_a.p2p_addresses.first().expect("a listens").clone();
    let mut c = start(config("c", other, vec![addr_a]), status(other, 10))
        .await
        .expect("node c starts");
    let id_c = c.handle.identity().await.expect("identity");
    let mut c_connected = false;
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let peers = a.handle.peers().await.expect("peers");
            let c_state = peers
                .iter()
                .find(|p| p.peer_id == id_c.peer_id)
                .map(|p| p.state);
            c_connected |= c_state == Some("connected");
            if c_connected && c_state == Some("disconnected") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "c connected then was disconnected");
    // Neither side reported the other's status to its node.
    while let Ok(event) = a.events.try_recv() {
        if let NetworkEvent::PeerStatus { peer, .. } = event {
            assert_ne!(peer, id_c.peer_id);
        }
    }
    assert!(
        wait_event(&mut c.events, 1, |e| match e {
            NetworkEvent::PeerStatus { .. } => Some(()),
            _ => None,
        })
        .await
        .is_none(),
        "c never completes a handshake"
    );
    // B is still connected to A.
    let peers = a.handle.peers().await.expect("peers");
    assert!(peers
        .iter()
        .any(|p| p.peer_id == id_b.peer_id && p.state == "connected"));
}

/// Waits until `node` sees `peer` in state `state`, within `secs`.
async fn wait_peer_state(node: &NetworkHandle, peer: PeerId, state: &str, secs: u64) -> bool {
    tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            let peers = node.peers().await.expect("peers");
            if peers.iter().any(|p| p.peer_id == peer && p.state == state) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn rate_limits_and_bans_refuse_reconnection() {
    let digest = ForkDigest::from([0x11, 0x22, 0x33, 0x44]);
    let mut config_a = config("ban-a", digest, vec![]);
    config_a.disable_discovery = true;
    let mut a = start(config_a, status(digest, 1)).await.expect("a starts");
    let id_a = a.handle.identity().await.expect("identity");
    let addr_a = id_a.p2p_addresses.first().expect("a listens").clone();
    let mut config_b = config("ban-b", digest, vec![addr_a]);
    config_b.disable_discovery = true;
    let b = start(config_b, status(digest, 1)).await.expect("b starts");
    let id_b = b.handle.identity().await.expect("identity");
    wait_event(&mut a.events, 10, |e| match e {
        NetworkEvent::PeerStatus { peer, .. } if peer == id_b.peer_id => Some(()),
        _ => None,
    })
    .await
    .expect("handshake");

    // Ping quota: 2 per 10 s; the third is refused with an error response.
    for _ in 0..2 {
        b.handle
            .request(id_a.peer_id, Request::Ping(0))
            .await
            .expect("ping within quota");
    }
    match b.handle.request(id_a.peer_id, Request::Ping(0)).await {
        Err(RpcError::ErrorResponse { code, message }) => {
            assert_eq!(code, RpcErrorCode::ResourceUnavailable);
            assert!(message.contains("rate limited"), "{message}");
        }
        other => panic!("expected a rate-limit error, got {other:?}"),
    }
    // An over-limit request is refused by the responder (InvalidRequest), not forwarded.
    match b
        .handle
        .request(
            id_a.peer_id,
            Request::BlocksByRange(BlocksByRangeRequest {
                start_slot: 0,
                count: 129,
                step: 1,
            }),
        )
        .await
    {
        Err(RpcError::ErrorResponse { code, .. }) => {
            assert_eq!(code, RpcErrorCode::InvalidRequest)
        }
        other => panic!("expected InvalidRequest, got {other:?}"),
    }

    // Both status exchanges (B's request, A's request) have long completed: forget them.
    while a.events.try_recv().is_ok() {}
    // A Fatal report bans B: disconnected, and its re-dials (every second, as a boot node)
    // are refused for the ban period.
    let banned_before = crate::api::metrics::Metrics::global()
        .ember_peers_banned_total
        .get();
    a.handle
        .report_peer(id_b.peer_id, PeerAction::Fatal, "test")
        .await
        .expect("report");
    assert!(
        wait_peer_state(&a.handle, id_b.peer_id, "disconnected", 10).await,
        "b disconnected"
    );
    assert!(
        crate::api::metrics::Metrics::global()
            .ember_peers_banned_total
            .get()
            > banned_before
    );
    assert!(
        !wait_peer_state(&a.handle, id_b.peer_id, "connected", 3).await,
        "b's reconnection refused"
    );
    while let Ok(event) = a.events.try_recv() {
        if let NetworkEvent::PeerStatus { peer, .. } = event {
            assert_ne!(peer, id_b.peer_id, "no handshake with a banned peer");
        }
    }
}

#[tokio::test]
async fn discovery_finds_peers_beyond_the_boot_node() {
    let digest = ForkDigest::from([0x55, 0x66, 0x77, 0x88]);
    let a = start(config("disc-a", digest, vec![]), status(digest, 1))
        .await
        .expect("a starts");
    let enr_a = a.handle.identity().await.expect("identity").enr;
    let b = start(
        config("disc-b", digest, vec![enr_a.clone()]),
        status(digest, 1),
    )
    .await
    .expect("b starts");
    let id_b = b.handle.identity().await.expect("identity");
    // Let B's discv5 talk to A so that A's table holds B.
    assert!(
        wait_peer_state(
            &b.handle,
            a.handle.identity().await.expect("id").peer_id,
            "connected",
            10
        )
        .await
    );
    let c = start(config("disc-c", digest, vec![enr_a]), status(digest, 1))
        .await
        .expect("c starts");
    // C was only told about A: it finds B through discv5 and connects to it.
    assert!(
        wait_peer_state(&c.handle, id_b.peer_id, "connected", 30).await,
        "c discovers and dials b"
    );
}

#[tokio::test]
async fn full_gossip_queue_drops_messages() {
    let digest = ForkDigest::from([0x99, 0x88, 0x77, 0x66]);
    let mut config_a = config("q-a", digest, vec![]);
    config_a.disable_discovery = true;
    let a = start(config_a, status(digest, 1)).await.expect("a starts");
    let id_a = a.handle.identity().await.expect("identity");
    let mut config_b = config("q-b", digest, vec![id_a.p2p_addresses[0].clone()]);
    config_b.disable_discovery = true;
    config_b.gossip_queue = 1;
    let mut b = start(config_b, status(digest, 1)).await.expect("b starts");
    assert!(
        wait_peer_state(
            &a.handle,
            b.handle.identity().await.expect("id").peer_id,
            "connected",
            10
        )
        .await
    );
    let dropped = || {
        crate::api::metrics::Metrics::global()
            .ember_gossip_messages_total
            .with_label_values(&["voluntary_exit", "dropped"])
            .get()
    };
    let before = dropped();
    // B subscribes late; A publishes until B's queue (1 slot, never drained) overflows.
    let topic = GossipTopic::new(digest, GossipKind::VoluntaryExit);
    b.handle
        .commands
        .send(NetworkCommand::Subscribe(vec![topic]))
        .await
        .expect("subscribe");
    let overflowed = tokio::time::timeout(Duration::from_secs(15), async {
        let mut i = 0u32;
        while dropped() == before {
            i += 1;
            a.handle
                .publish(topic, format!("exit {i}").into_bytes())
                .await
                .expect("publish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        overflowed.is_ok(),
        "messages beyond the queue are dropped and counted"
    );
    // Exactly one message sits in the queue.
    assert!(b.gossip.try_recv().is_ok());
    assert!(b.gossip.try_recv().is_err());
}
