//! The node key, our ENR (phase0/altair/fulu p2p-interface "ENR structure": `eth2`, `attnets`,
//! `syncnets`, `cgc`) and boot-node parsing.

use super::types::MetaData;
use super::NetworkError;
use ::enr::{CombinedKey, CombinedPublicKey, EnrPublicKey};
use discv5::Enr;
use libp2p::identity::{self, Keypair};
use libp2p::multiaddr::Protocol as MaProtocol;
use libp2p::{Multiaddr, PeerId};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// ENR keys.
pub const ETH2_ENR_KEY: &str = "eth2";
pub const ATTNETS_ENR_KEY: &str = "attnets";
pub const SYNCNETS_ENR_KEY: &str = "syncnets";
pub const CGC_ENR_KEY: &str = "cgc";

/// The secp256k1 node key in both libraries' types (the same secret: the libp2p PeerId and the
/// discv5 node id belong to one identity).
pub struct NodeKey {
    pub keypair: Keypair,
    pub enr_key: CombinedKey,
    secret: [u8; 32],
}

impl NodeKey {
    /// Another copy of the ENR key (`CombinedKey` is not `Clone`; discv5 takes one by value).
    pub fn enr_key_copy(&self) -> Result<CombinedKey, NetworkError> {
        let mut b = self.secret;
        CombinedKey::secp256k1_from_bytes(&mut b).map_err(|e| NetworkError::Key(e.to_string()))
    }
}

fn key_from_secret(secret: &[u8; 32]) -> Result<NodeKey, NetworkError> {
    let mut a = *secret;
    let sk = identity::secp256k1::SecretKey::try_from_bytes(&mut a)
        .map_err(|e| NetworkError::Key(e.to_string()))?;
    let keypair = Keypair::from(identity::secp256k1::Keypair::from(sk));
    let mut b = *secret;
    let enr_key =
        CombinedKey::secp256k1_from_bytes(&mut b).map_err(|e| NetworkError::Key(e.to_string()))?;
    Ok(NodeKey {
        keypair,
        enr_key,
        secret: *secret,
    })
}

/// Loads `<network_dir>/key` (32 raw secret bytes) or creates it (mode 0600) on first start.
pub fn load_or_create_key(network_dir: &Path) -> Result<NodeKey, NetworkError> {
    let path = network_dir.join("key");
    let io = |e: std::io::Error| NetworkError::Io(format!("{}: {e}", path.display()));
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                NetworkError::Key(format!("{} is not a 32-byte key", path.display()))
            })?;
            key_from_secret(&secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(network_dir).map_err(io)?;
            let secret = loop {
                let candidate: [u8; 32] = rand::random();
                // A random scalar is out of range with probability ~2^-128; retry anyway.
                if key_from_secret(&candidate).is_ok() {
                    break candidate;
                }
            };
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&path).map_err(io)?;
            file.write_all(&secret).map_err(io)?;
            file.sync_all().map_err(io)?;
            key_from_secret(&secret)
        }
        Err(e) => Err(io(e)),
    }
}

/// What goes into our ENR.
pub struct EnrFields<'a> {
    pub ip: Option<IpAddr>,
    pub tcp_port: u16,
    pub udp_port: u16,
    pub enr_fork_id: &'a [u8],
    pub metadata: &'a MetaData,
}

/// Builds our ENR. `cgc` is the RLP integer encoding: big-endian without leading zero bytes.
pub fn build_enr(key: &CombinedKey, fields: &EnrFields<'_>) -> Result<Enr, NetworkError> {
    let mut builder = Enr::builder();
    if let Some(ip) = fields.ip {
        builder.ip(ip);
        match ip {
            IpAddr::V4(_) => {
                builder.tcp4(fields.tcp_port).udp4(fields.udp_port);
            }
            IpAddr::V6(_) => {
                builder.tcp6(fields.tcp_port).udp6(fields.udp_port);
            }
        }
    }
    builder
        .add_value(
            ETH2_ENR_KEY,
            &alloy_rlp::Bytes::copy_from_slice(fields.enr_fork_id),
        )
        .add_value(
            ATTNETS_ENR_KEY,
            &alloy_rlp::Bytes::copy_from_slice(&fields.metadata.attnets),
        )
        .add_value(
            SYNCNETS_ENR_KEY,
            &alloy_rlp::Bytes::copy_from_slice(&fields.metadata.syncnets),
        )
        .add_value(CGC_ENR_KEY, &fields.metadata.custody_group_count);
    builder
        .build(key)
        .map_err(|e| NetworkError::Enr(e.to_string()))
}

/// The `eth2` field of an ENR (SSZ `ENRForkID`), if present.
pub fn enr_eth2(enr: &Enr) -> Option<Vec<u8>> {
    enr.get_decodable::<alloy_rlp::Bytes>(ETH2_ENR_KEY)?
        .ok()
        .map(|b| b.to_vec())
}

/// The `cgc` field.
pub fn enr_cgc(enr: &Enr) -> Option<u64> {
    enr.get_decodable::<u64>(CGC_ENR_KEY)?.ok()
}

/// The libp2p PeerId of an ENR's (secp256k1) key.
pub fn enr_peer_id(enr: &Enr) -> Option<PeerId> {
    match enr.public_key() {
        CombinedPublicKey::Secp256k1(_) => {
            let bytes = enr.public_key().encode();
            let pk = identity::secp256k1::PublicKey::try_from_bytes(&bytes).ok()?;
            Some(PeerId::from(identity::PublicKey::from(pk)))
        }
        _ => None,
    }
}

/// The TCP multiaddr of an ENR (`/ip4/…/tcp/…/p2p/…`), if it has one.
pub fn enr_multiaddr(enr: &Enr) -> Option<Multiaddr> {
    let peer = enr_peer_id(enr)?;
    let (ip, port) = if let (Some(ip), Some(port)) = (enr.ip4(), enr.tcp4()) {
        (IpAddr::V4(ip), port)
    } else {
        (IpAddr::V6(enr.ip6()?), enr.tcp6()?)
    };
    Some(
        Multiaddr::empty()
            .with(ip.into())
            .with(MaProtocol::Tcp(port))
            .with(MaProtocol::P2p(peer)),
    )
}

/// A `--boot-nodes` entry.
#[derive(Debug, Clone)]
pub enum BootNode {
    Enr(Box<Enr>),
    Multiaddr(PeerId, Multiaddr),
}

pub fn parse_boot_node(text: &str) -> Result<BootNode, NetworkError> {
    let text = text.trim();
    if text.starts_with("enr:") {
        let enr: Enr = text
            .parse()
            .map_err(|e: String| NetworkError::BootNode(format!("{text}: {e}")))?;
        return Ok(BootNode::Enr(Box::new(enr)));
    }
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| NetworkError::BootNode(format!("{text}: {e}")))?;
    let peer = addr
        .iter()
        .find_map(|p| match p {
            MaProtocol::P2p(peer) => Some(peer),
            _ => None,
        })
        .ok_or_else(|| NetworkError::BootNode(format!("{text}: no /p2p/<peer id>")))?;
    Ok(BootNode::Multiaddr(peer, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_persisted_with_mode_0600_and_enr_carries_eth2_fields() {
        let dir = std::env::temp_dir().join(format!("ember-net-key-{}", rand::random::<u64>()));
        let key = load_or_create_key(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load_or_create_key(&dir).unwrap();
        assert_eq!(
            key.keypair.public().to_peer_id(),
            again.keypair.public().to_peer_id()
        );

        let metadata = MetaData {
            seq_number: 1,
            attnets: [0xff, 0, 0, 0, 0, 0, 0, 0x80],
            syncnets: [0x05],
            custody_group_count: 300,
        };
        let fork_id = [9u8; 16];
        let enr = build_enr(
            &key.enr_key,
            &EnrFields {
                ip: Some("127.0.0.1".parse().unwrap()),
                tcp_port: 9100,
                udp_port: 9101,
                enr_fork_id: &fork_id,
                metadata: &metadata,
            },
        )
        .unwrap();
        // Round trip through the text form the devnet reads.
        let enr: Enr = enr.to_base64().parse().unwrap();
        assert_eq!(enr_eth2(&enr).unwrap(), fork_id);
        assert_eq!(
            enr.get_decodable::<alloy_rlp::Bytes>(ATTNETS_ENR_KEY)
                .unwrap()
                .unwrap()
                .to_vec(),
            metadata.attnets
        );
        assert_eq!(
            enr.get_decodable::<alloy_rlp::Bytes>(SYNCNETS_ENR_KEY)
                .unwrap()
                .unwrap()
                .to_vec(),
            [0x05]
        );
        // cgc 300 is the two bytes 0x01 0x2c (RLP: 0x82 prefix), no leading zeros.
        assert_eq!(enr.get_raw_rlp(CGC_ENR_KEY).unwrap(), &[0x82, 0x01, 0x2c]);
        assert_eq!(enr_cgc(&enr), Some(300));
        assert_eq!(enr.tcp4(), Some(9100));
        assert_eq!(enr.udp4(), Some(9101));
        // The ENR's key is the libp2p identity.
        assert_eq!(enr_peer_id(&enr), Some(key.keypair.public().to_peer_id()));
        let addr = enr_multiaddr(&enr).unwrap();
        assert_eq!(
            addr.to_string(),
            format!(
                "/ip4/127.0.0.1/tcp/9100/p2p/{}",
                key.keypair.public().to_peer_id()
            )
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn boot_nodes_parse() {
        let key = CombinedKey::generate_secp256k1();
        let enr = Enr::builder().build(&key).unwrap();
        assert!(matches!(
            parse_boot_node(&enr.to_base64()),
            Ok(BootNode::Enr(_))
        ));
        let peer = PeerId::random();
        let text = format!("/ip4/127.0.0.1/tcp/9000/p2p/{peer}");
        match parse_boot_node(&text).unwrap() {
            BootNode::Multiaddr(p, _) => assert_eq!(p, peer),
            other => panic!("{other:?}"),
        }
        assert!(parse_boot_node("/ip4/127.0.0.1/tcp/9000").is_err());
        assert!(parse_boot_node("enr:-garbage").is_err());
        assert!(parse_boot_node("nonsense").is_err());
    }
}
