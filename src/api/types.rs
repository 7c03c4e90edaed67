//! Preset-independent types of the Beacon API: request identifiers (`block_id`, `state_id`,
//! `validator_id`) parsed from untrusted input into typed values, and what the node tells the API
//! about itself (genesis, head, finality, fork choice, sync status, identity).
//!
//! Every parser here returns a typed error instead of panicking; the server turns those into
//! `400 {"code":400,"message":...}` (beacon-APIs: the `ErrorMessage` schema).

use crate::consensus::primitives::{Epoch, Hash256, Slot, ValidatorIndex, Version};
use crate::fork_choice::Checkpoint;

/// Why the API could not understand a request parameter (always a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("invalid block id `{0}`: expected head, genesis, finalized, justified, a slot or a 0x-prefixed 32-byte root")]
    BlockId(String),
    #[error("invalid state id `{0}`: expected head, genesis, finalized, justified, a slot or a 0x-prefixed 32-byte state root")]
    StateId(String),
    #[error("invalid validator id `{0}`: expected an index or a 0x-prefixed 48-byte public key")]
    ValidatorId(String),
    #[error("invalid {name} `{value}`: {reason}")]
    Query {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("too many {what}: {count} (at most {max})")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
}

/// The longest id string accepted in a path or query: a 0x-prefixed 48-byte public key is 98
/// characters; anything longer is malformed and rejected before it is looked at.
pub const MAX_ID_LEN: usize = 98;

/// Parses a decimal `u64` the way the spec's `Uint64` is written (digits only, no sign, no
/// leading `+`, at most 20 digits).
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `0x` + exactly `2 * N` hex digits.
pub fn parse_hex_fixed<const N: usize>(s: &str) -> Option<[u8; N]> {
    let hex = s.strip_prefix("0x")?;
    if hex.len() != N.checked_mul(2)? {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
}

/// beacon-APIs `BlockId`: `head`, `genesis`, `finalized`, `justified`, `<slot>`, `<hex root>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockId {
    Head,
    Genesis,
    Finalized,
    Justified,
    Slot(Slot),
    Root(Hash256),
}

impl BlockId {
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        let err = || ParamError::BlockId(truncate(s));
        if s.len() > MAX_ID_LEN {
            return Err(err());
        }
        Ok(match s {
            "head" => BlockId::Head,
            "genesis" => BlockId::Genesis,
            "finalized" => BlockId::Finalized,
            "justified" => BlockId::Justified,
            _ if s.starts_with("0x") => {
                BlockId::Root(Hash256::from(parse_hex_fixed::<32>(s).ok_or_else(err)?))
            }
            _ => BlockId::Slot(parse_u64(s).ok_or_else(err)?),
        })
    }
}

/// beacon-APIs `StateId`: `head`, `genesis`, `finalized`, `justified`, `<slot>`, `<hex state root>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateId {
    Head,
    Genesis,
    Finalized,
    Justified,
    Slot(Slot),
    Root(Hash256),
}

impl StateId {
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        let err = || ParamError::StateId(truncate(s));
        if s.len() > MAX_ID_LEN {
            return Err(err());
        }
        Ok(match s {
            "head" => StateId::Head,
            "genesis" => StateId::Genesis,
            "finalized" => StateId::Finalized,
            "justified" => StateId::Justified,
            _ if s.starts_with("0x") => {
                StateId::Root(Hash256::from(parse_hex_fixed::<32>(s).ok_or_else(err)?))
            }
            _ => StateId::Slot(parse_u64(s).ok_or_else(err)?),
        })
    }
}

/// beacon-APIs `ValidatorId`: an index or a hex BLS public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidatorId {
    Index(ValidatorIndex),
    Pubkey([u8; 48]),
}

impl ValidatorId {
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        let err = || ParamError::ValidatorId(truncate(s));
        if s.len() > MAX_ID_LEN {
            return Err(err());
        }
        if s.starts_with("0x") {
            Ok(ValidatorId::Pubkey(
                parse_hex_fixed::<48>(s).ok_or_else(err)?,
            ))
        } else {
            Ok(ValidatorId::Index(parse_u64(s).ok_or_else(err)?))
        }
    }
}

/// At most this many characters of bad input are echoed back in an error message.
fn truncate(s: &str) -> String {
    s.chars().take(MAX_ID_LEN + 2).collect()
}

/// What a [`crate::api::minimal::Backend`] call can fail with besides "not found" (which is
/// `Ok(None)`): the server answers 503 or 500 with the standard error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The node cannot answer yet (starting, no genesis, syncing a needed range): 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A failure inside the node (store read, state rebuild): 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for BackendError {
    fn from(e: crate::store::StoreError) -> Self {
        BackendError::Internal(e.to_string())
    }
}

/// `/eth/v1/beacon/genesis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenesisInfo {
    pub genesis_time: u64,
    pub genesis_validators_root: Hash256,
    pub genesis_fork_version: Version,
}

/// The fork choice's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadInfo {
    pub block_root: Hash256,
    pub slot: Slot,
    pub state_root: Hash256,
    /// The head's payload was imported optimistically (EL answered SYNCING/ACCEPTED).
    pub execution_optimistic: bool,
}

/// The fork choice store's justified and finalized checkpoints (not a state's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FinalityInfo {
    pub justified: Checkpoint,
    pub finalized: Checkpoint,
}

/// beacon-APIs fork-choice node `validity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadValidity {
    Valid,
    Invalid,
    Optimistic,
}

impl PayloadValidity {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadValidity::Valid => "valid",
            PayloadValidity::Invalid => "invalid",
            PayloadValidity::Optimistic => "optimistic",
        }
    }
}

/// One node of the fork-choice tree (`/eth/v1/debug/fork_choice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkChoiceNode {
    pub slot: Slot,
    pub block_root: Hash256,
    /// For the anchor, a block that is not in the tree.
    pub parent_root: Hash256,
    pub justified_epoch: Epoch,
    pub finalized_epoch: Epoch,
    /// `get_attestation_score` (plus nothing else: proposer boost is not included).
    pub weight: u64,
    pub validity: PayloadValidity,
    pub execution_block_hash: Hash256,
}

/// The whole fork-choice tree, in insertion order (parents before children).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForkChoiceDump {
    pub justified_checkpoint: Checkpoint,
    pub finalized_checkpoint: Checkpoint,
    pub nodes: Vec<ForkChoiceNode>,
}

impl ForkChoiceDump {
    /// The dump of a proto-array: every node in insertion order, with the payload status and
    /// execution block hash the caller knows per block root (the fork choice does not keep
    /// them). The anchor keeps its block's real `parent_root` (not in the tree).
    pub fn from_proto_array(
        nodes: &[crate::fork_choice::ProtoNode],
        justified_checkpoint: Checkpoint,
        finalized_checkpoint: Checkpoint,
        mut payload: impl FnMut(&Hash256) -> (PayloadValidity, Hash256),
    ) -> Self {
        let nodes = nodes
            .iter()
            .map(|n| {
                let (validity, execution_block_hash) = payload(&n.root);
                ForkChoiceNode {
                    slot: n.slot,
                    block_root: n.root,
                    parent_root: n.parent_root,
                    justified_epoch: n.justified_checkpoint.epoch,
                    finalized_epoch: n.finalized_checkpoint.epoch,
                    weight: n.weight,
                    validity,
                    execution_block_hash,
                }
            })
            .collect();
        ForkChoiceDump {
            justified_checkpoint,
            finalized_checkpoint,
            nodes,
        }
    }
}

/// `/eth/v1/node/syncing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncStatus {
    pub head_slot: Slot,
    /// Wall-clock slot minus head slot (0 when the head is at or ahead of the clock).
    pub sync_distance: u64,
    pub is_syncing: bool,
    pub is_optimistic: bool,
    pub el_offline: bool,
}

/// `/eth/v1/node/peer_count` (all zero until networking lands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerCount {
    pub disconnected: u64,
    pub connecting: u64,
    pub connected: u64,
    pub disconnecting: u64,
}

/// One peer of `/eth/v1/node/peers`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodePeer {
    pub peer_id: String,
    /// The ENR when known (`null` otherwise).
    pub enr: Option<String>,
    pub last_seen_p2p_address: String,
    /// `connected`, `connecting`, `disconnected` or `disconnecting`.
    pub state: String,
    /// `inbound` or `outbound`.
    pub direction: String,
}

/// `/eth/v1/node/identity` and `/eth/v1/node/version`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// `/eth/v1/node/version` string, e.g. `Ember/v0.1.0-linux-x86_64`.
    pub version: String,
    /// Empty strings / lists until networking lands.
    pub peer_id: String,
    pub enr: String,
    pub p2p_addresses: Vec<String>,
    pub discovery_addresses: Vec<String>,
    pub metadata_seq_number: u64,
    /// SSZ `Bitvector[ATTESTATION_SUBNET_COUNT]` as 0x-hex.
    pub attnets: String,
    /// SSZ `Bitvector[SYNC_COMMITTEE_SUBNET_COUNT]` as 0x-hex.
    pub syncnets: String,
    /// Fulu metadata v3.
    pub custody_group_count: u64,
    pub peers: PeerCount,
}

impl NodeInfo {
    /// Ember's identity with no networking: the version string and zero peers.
    pub fn without_network(custody_group_count: u64) -> Self {
        NodeInfo {
            version: version_string(),
            attnets: format!("0x{}", "00".repeat(8)),
            syncnets: "0x00".into(),
            custody_group_count,
            ..Default::default()
        }
    }
}

/// `Ember/v<crate version>-<os>-<arch>`, the client/version format other clients use.
pub fn version_string() -> String {
    format!(
        "Ember/v{}-{}-{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fork_choice::{ProtoArray, ProtoNode};

    #[test]
    fn fork_choice_dump_from_proto_array() {
        let cp = |e, b| Checkpoint::new(e, Hash256::repeat_byte(b));
        let node = |root: u8, parent: u8, slot| {
            ProtoNode::new(
                Hash256::repeat_byte(root),
                Hash256::repeat_byte(parent),
                slot,
                0,
                cp(1, 1),
                cp(0, 1),
                cp(1, 1),
                cp(0, 1),
            )
        };
        let mut tree = ProtoArray::new(node(1, 0, 8));
        tree.insert(node(2, 1, 9)).expect("child");
        tree.insert(node(3, 1, 10)).expect("sibling");
        let dump = ForkChoiceDump::from_proto_array(tree.nodes(), cp(1, 1), cp(0, 1), |root| {
            if *root == Hash256::repeat_byte(3) {
                (PayloadValidity::Optimistic, Hash256::repeat_byte(0xee))
            } else {
                (PayloadValidity::Valid, Hash256::ZERO)
            }
        });
        assert_eq!(dump.nodes.len(), 3);
        assert_eq!(dump.nodes[0].parent_root, Hash256::repeat_byte(0));
        assert_eq!(dump.nodes[2].parent_root, Hash256::repeat_byte(1));
        assert_eq!(dump.nodes[2].validity, PayloadValidity::Optimistic);
        assert_eq!(
            dump.nodes[2].execution_block_hash,
            Hash256::repeat_byte(0xee)
        );
        assert_eq!((dump.nodes[1].slot, dump.nodes[1].justified_epoch), (9, 1));
    }

    #[test]
    fn ids_parse_and_reject() {
        assert_eq!(BlockId::parse("head"), Ok(BlockId::Head));
        assert_eq!(BlockId::parse("12"), Ok(BlockId::Slot(12)));
        assert_eq!(
            BlockId::parse(&format!("0x{}", "ab".repeat(32))),
            Ok(BlockId::Root(Hash256::repeat_byte(0xab)))
        );
        for bad in [
            "",
            "-1",
            "+1",
            "0x12",
            "HEAD",
            "1.5",
            "18446744073709551616",
            "0xzz",
        ] {
            assert!(BlockId::parse(bad).is_err(), "{bad}");
            assert!(StateId::parse(bad).is_err(), "{bad}");
        }
        assert!(BlockId::parse(&"1".repeat(10_000)).is_err());
        assert_eq!(ValidatorId::parse("7"), Ok(ValidatorId::Index(7)));
        assert_eq!(
            ValidatorId::parse(&format!("0x{}", "11".repeat(48))),
            Ok(ValidatorId::Pubkey([0x11; 48]))
        );
        assert!(ValidatorId::parse(&format!("0x{}", "11".repeat(32))).is_err());
    }
}
