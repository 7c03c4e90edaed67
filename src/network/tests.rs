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
    let expected = format!("block {attempt}").repeat(50).into_bytes();
    assert!(message.data.starts_with(b"block "), "decompressed SSZ");
    assert_eq!(message.topic, topic);
    assert_eq!(message.peer, id_a.peer_id);
    // The id is the spec's message-id of the decompressed data on the topic string.
    assert_eq!(
        message.message_id.0,
        gossip::message_id_valid_snappy(&topic.to_string(), &message.data).to_vec()
    );
    let _ = expected;
    b.handle
        .validation(message.message_id, message.peer, MessageAcceptance::Accept)
        .await
        .expect("validation");

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
