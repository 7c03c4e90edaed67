//! Gossipsub for eth2 (`p2p-interface.md` "The gossip domain: gossipsub"): the consensus
//! parameters, the message-id function, raw snappy compression with a decompressed-size limit
//! and the topic scoring that penalises invalid messages.

use libp2p::gossipsub::{
    self, DataTransform, Message, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds,
    RawMessage, TopicHash, TopicScoreParams, ValidationMode,
};
use sha2::{Digest, Sha256};
use std::io;
use std::time::Duration;

/// `MESSAGE_DOMAIN_VALID_SNAPPY`.
pub const MESSAGE_DOMAIN_VALID_SNAPPY: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
/// `MESSAGE_DOMAIN_INVALID_SNAPPY`.
pub const MESSAGE_DOMAIN_INVALID_SNAPPY: [u8; 4] = [0x00, 0x00, 0x00, 0x00];

/// The message id of a message whose data decompressed (altair p2p-interface
/// "The gossip domain: gossipsub", `message-id`):
/// `SHA256(MESSAGE_DOMAIN_VALID_SNAPPY + uint_to_bytes(uint64(len(message.topic))) +
/// message.topic + snappy_decompress(message.data))[:20]`.
pub fn message_id_valid_snappy(topic: &str, decompressed: &[u8]) -> [u8; 20] {
    message_id_with_domain(MESSAGE_DOMAIN_VALID_SNAPPY, topic, decompressed)
}

/// The full `message-id` function on the raw (compressed) message data: the valid-snappy id
/// when it decompresses (within `max_len`), else
/// `SHA256(MESSAGE_DOMAIN_INVALID_SNAPPY + uint_to_bytes(uint64(len(message.topic))) +
/// message.topic + message.data)[:20]`.
pub fn compute_message_id(topic: &str, data: &[u8], max_len: usize) -> [u8; 20] {
    match decompress(data, max_len) {
        Ok(decompressed) => message_id_valid_snappy(topic, &decompressed),
        Err(_) => message_id_with_domain(MESSAGE_DOMAIN_INVALID_SNAPPY, topic, data),
    }
}

fn message_id_with_domain(domain: [u8; 4], topic: &str, data: &[u8]) -> [u8; 20] {
    let mut hasher = Sha256::new();
    hasher.update(domain);
    hasher.update((topic.len() as u64).to_le_bytes());
    hasher.update(topic.as_bytes());
    hasher.update(data);
    let digest = hasher.finalize();
    let mut id = [0u8; 20];
    for (out, b) in id.iter_mut().zip(digest.iter()) {
        *out = *b;
    }
    id
}

/// Raw (block format) snappy decompression that refuses, before allocating, anything that
/// would decompress beyond `max_len` (`MAX_PAYLOAD_SIZE`).
pub fn decompress(data: &[u8], max_len: usize) -> io::Result<Vec<u8>> {
    let len = snap::raw::decompress_len(data)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    if len > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("decompresses to {len} bytes, more than {max_len}"),
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Gossip payloads are raw-snappy compressed SSZ: inbound messages are decompressed (within
/// the size limit; failures are invalid messages, penalised by gossipsub), outbound ones
/// compressed.
#[derive(Clone, Debug)]
pub struct SnappyTransform {
    /// `MAX_PAYLOAD_SIZE`: the decompressed-size limit.
    pub max_len: usize,
}

impl DataTransform for SnappyTransform {
    fn inbound_transform(&self, raw: RawMessage) -> Result<Message, io::Error> {
        let data = decompress(&raw.data, self.max_len)?;
        Ok(Message {
            source: raw.source,
            data,
            sequence_number: raw.sequence_number,
            topic: raw.topic,
        })
    }

    fn outbound_transform(&self, _topic: &TopicHash, data: Vec<u8>) -> Result<Vec<u8>, io::Error> {
        if data.len() > self.max_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message larger than MAX_PAYLOAD_SIZE",
            ));
        }
        snap::raw::Encoder::new()
            .compress_vec(&data)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// The consensus gossipsub parameters (phase0 p2p-interface "Gossipsub parameters"):
/// D 8, D_low 6, D_high 12, D_lazy 6, heartbeat 700 ms, fanout_ttl 60 s, mcache_len 6,
/// mcache_gossip 3, seen_ttl ≈ one epoch (`SLOTS_PER_EPOCH * SECONDS_PER_SLOT /
/// heartbeat_interval` heartbeats); StrictNoSign (anonymous, no author/seqno/signature); the
/// spec's message id; manual validation (the node's verdict before relaying); and
/// `max_message_size = max_compressed_len(MAX_PAYLOAD_SIZE) + 1024`.
pub fn gossipsub_config(
    max_payload_size: u64,
    slot_duration_ms: u64,
    slots_per_epoch: u64,
) -> Result<gossipsub::Config, String> {
    let max_transmit = super::codec::max_compressed_len(max_payload_size).saturating_add(1024);
    let seen_ttl = Duration::from_millis(slot_duration_ms.saturating_mul(slots_per_epoch));
    gossipsub::ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .gossip_lazy(6)
        .heartbeat_interval(Duration::from_millis(700))
        .fanout_ttl(Duration::from_secs(60))
        .history_length(6)
        .history_gossip(3)
        .duplicate_cache_time(seen_ttl.max(Duration::from_secs(60)))
        .max_transmit_size(usize::try_from(max_transmit).unwrap_or(usize::MAX))
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|message: &Message| {
            gossipsub::MessageId::new(&message_id_valid_snappy(
                message.topic.as_str(),
                &message.data,
            ))
        })
        // Publishing our own messages to every peer above the publish threshold (not just the
        // mesh) gets blocks out fast, as the spec's clients do.
        .flood_publish(true)
        .build()
        .map_err(|e| e.to_string())
}

pub fn message_authenticity() -> MessageAuthenticity {
    MessageAuthenticity::Anonymous
}

/// Gossipsub score thresholds (the values Ethereum clients use): below `gossip_threshold` no
/// gossip is exchanged, below `publish_threshold` we do not publish to the peer, below
/// `graylist_threshold` its messages are ignored.
pub fn score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -4000.0,
        publish_threshold: -8000.0,
        graylist_threshold: -16000.0,
        accept_px_threshold: 100.0,
        opportunistic_graft_threshold: 5.0,
    }
}

/// The gossipsub score below which the peer manager bans the peer: the publish threshold. With
/// the topic parameters below, about 9 invalid messages in quick succession get there.
pub const GOSSIP_BAN_SCORE: f64 = -8000.0;

/// Peer score parameters: the per-topic parameters are added on subscription.
pub fn score_params() -> PeerScoreParams {
    PeerScoreParams {
        // Loopback devnets run many nodes on one IP: the colocation factor would penalise them.
        ip_colocation_factor_whitelist: [std::net::IpAddr::from([127, 0, 0, 1])]
            .into_iter()
            .collect(),
        ..PeerScoreParams::default()
    }
}

/// Per-topic scoring: invalid messages (REJECTed by the node, or undecompressable) weigh
/// `-100 × count²` (the counter decays by 0.997 per second, a half-life of about 4 minutes);
/// the mesh-delivery penalties stay off (quiet devnet topics must not penalise honest peers);
/// first deliveries earn a little.
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(12),
        time_in_mesh_cap: 300.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.99,
        first_message_deliveries_cap: 100.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.997,
        ..TopicScoreParams::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's formula computed independently from the bytes.
    fn spec_id(valid: bool, topic: &str, data: &[u8]) -> Vec<u8> {
        let mut input = Vec::new();
        input.extend_from_slice(if valid { &[1, 0, 0, 0] } else { &[0, 0, 0, 0] });
        let len = topic.len() as u64;
        for i in 0..8 {
            input.push((len >> (8 * i)) as u8);
        }
        input.extend_from_slice(topic.as_bytes());
        input.extend_from_slice(data);
        Sha256::digest(&input)[..20].to_vec()
    }

    #[test]
    fn message_id_matches_spec_formula() {
        let topic = "/eth2/4a26c58b/beacon_block/ssz_snappy";
        let ssz = b"some ssz bytes of a block".repeat(10);
        let compressed = snap::raw::Encoder::new().compress_vec(&ssz).unwrap();
        let id = compute_message_id(topic, &compressed, 1 << 20);
        assert_eq!(id.to_vec(), spec_id(true, topic, &ssz));
        // What gossipsub computes on the transformed (decompressed) message is the same id.
        assert_eq!(message_id_valid_snappy(topic, &ssz), id);
        // Invalid snappy: the invalid domain over the raw data.
        let garbage = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02];
        let id = compute_message_id(topic, &garbage, 1 << 20);
        assert_eq!(id.to_vec(), spec_id(false, topic, &garbage));
        // Valid snappy beyond the size limit counts as invalid.
        let id = compute_message_id(topic, &compressed, 10);
        assert_eq!(id.to_vec(), spec_id(false, topic, &compressed));
        // The topic is part of the id.
        assert_ne!(
            compute_message_id(
                "/eth2/4a26c58b/voluntary_exit/ssz_snappy",
                &compressed,
                1 << 20
            ),
            compute_message_id(topic, &compressed, 1 << 20)
        );
    }

    #[test]
    fn transform_round_trip_and_limits() {
        let t = SnappyTransform { max_len: 1000 };
        let topic = TopicHash::from_raw("/eth2/00000000/voluntary_exit/ssz_snappy");
        let data = vec![7u8; 1000];
        let compressed = t.outbound_transform(&topic, data.clone()).unwrap();
        assert!(compressed.len() < 100);
        let raw = |data: Vec<u8>| RawMessage {
            source: None,
            data,
            sequence_number: None,
            topic: topic.clone(),
            signature: None,
            key: None,
            validated: false,
        };
        assert_eq!(t.inbound_transform(raw(compressed)).unwrap().data, data);
        // 1001 bytes decompressed: over the limit, refused before decompression.
        let big = snap::raw::Encoder::new()
            .compress_vec(&[7u8; 1001])
            .unwrap();
        assert!(t.inbound_transform(raw(big)).is_err());
        assert!(t.inbound_transform(raw(vec![0xff; 8])).is_err());
        assert!(t.outbound_transform(&topic, vec![0; 1001]).is_err());
    }

    #[test]
    fn config_builds_with_spec_parameters() {
        let config = gossipsub_config(10 * 1024 * 1024, 12_000, 32).unwrap();
        assert_eq!(config.mesh_n(), 8);
        assert_eq!(config.mesh_n_low(), 6);
        assert_eq!(config.mesh_n_high(), 12);
        assert_eq!(config.gossip_lazy(), 6);
        assert_eq!(config.heartbeat_interval(), Duration::from_millis(700));
        assert_eq!(config.history_length(), 6);
        assert_eq!(config.history_gossip(), 3);
        assert_eq!(config.duplicate_cache_time(), Duration::from_secs(384));
        assert!(config.validate_messages());
        let n = 10 * 1024 * 1024;
        assert_eq!(config.max_transmit_size(), 32 + n + n / 6 + 1024);
    }
}
