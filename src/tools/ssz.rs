//! SSZ inspection: decode any consensus container by name, print it as Beacon API JSON, or
//! compute its `hash_tree_root`. Backs `ember ssz decode|root` and the `ssz_static` spec tests.

use crate::consensus::preset::PresetName;
use crate::consensus::primitives::{ForkName, Hash256};
use crate::consensus::{mainnet, minimal};
use serde::Serialize;
use ssz::{Decode, Encode};
use tree_hash::TreeHash;

#[derive(Debug, thiserror::Error)]
pub enum SszToolError {
    #[error("unknown type `{0}` (run `ember ssz types` for the list)")]
    UnknownType(String),
    #[error("type `{type_name}` does not exist in fork {fork}")]
    NotInFork { type_name: String, fork: ForkName },
    #[error("invalid SSZ bytes for {type_name}: {reason}")]
    Decode { type_name: String, reason: String },
    #[error("invalid snappy data: {0}")]
    Snappy(String),
    #[error("cannot encode {type_name} as JSON: {reason}")]
    Json { type_name: String, reason: String },
}

/// A decoded container of any type, seen through what the tools need of it.
pub trait SszObject {
    fn ssz_bytes(&self) -> Vec<u8>;
    fn hash_tree_root(&self) -> Hash256;
    /// The Beacon API JSON encoding (uints as decimal strings, bytes as `0x`-hex).
    fn to_api_json(&self) -> Result<serde_json::Value, serde_json::Error>;
}

impl<T: Encode + TreeHash + Serialize> SszObject for T {
    fn ssz_bytes(&self) -> Vec<u8> {
        self.as_ssz_bytes()
    }

    fn hash_tree_root(&self) -> Hash256 {
        self.tree_hash_root()
    }

    fn to_api_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self).map(quote_numbers)
    }
}

/// The Beacon API writes every SSZ uint as a decimal string; serde gives numbers, so quote them.
pub fn quote_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(quote_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, quote_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Which forks a container exists in (the rest exist in both Electra and Fulu).
fn forks_of(type_name: &str) -> &'static [ForkName] {
    match type_name {
        "BlobIdentifier" | "BlobSidecar" => &[ForkName::Electra],
        "DataColumnSidecar"
        | "DataColumnsByRootIdentifier"
        | "MatrixEntry"
        | "PartialDataColumnGroupID"
        | "PartialDataColumnHeader"
        | "PartialDataColumnPartsMetadata"
        | "PartialDataColumnSidecar" => &[ForkName::Fulu],
        _ => &ForkName::ALL,
    }
}

macro_rules! registry {
    ($($name:ident),* $(,)?) => {
        /// Every container name `ember ssz` knows.
        pub const TYPE_NAMES: &[&str] = &["BeaconState", $(stringify!($name)),*];

        fn decode_in_preset_mainnet(
            type_name: &str,
            fork: ForkName,
            bytes: &[u8],
        ) -> Option<Result<Box<dyn SszObject>, ssz::DecodeError>> {
            use mainnet as p;
            decode_in!(p, type_name, fork, bytes, $($name),*)
        }

        fn decode_in_preset_minimal(
            type_name: &str,
            fork: ForkName,
            bytes: &[u8],
        ) -> Option<Result<Box<dyn SszObject>, ssz::DecodeError>> {
            use minimal as p;
            decode_in!(p, type_name, fork, bytes, $($name),*)
        }
    };
}

macro_rules! decode_in {
    ($p:ident, $type_name:expr, $fork:expr, $bytes:expr, $($name:ident),*) => {
        match $type_name {
            "BeaconState" => Some(
                $p::BeaconState::from_ssz_bytes_for_fork($bytes, $fork)
                    .map(|v| Box::new(v) as Box<dyn SszObject>),
            ),
            $(stringify!($name) => Some(
                $p::$name::from_ssz_bytes($bytes).map(|v| Box::new(v) as Box<dyn SszObject>),
            ),)*
            _ => None,
        }
    };
}

registry!(
    AggregateAndProof,
    Attestation,
    AttestationData,
    AttesterSlashing,
    BLSToExecutionChange,
    BeaconBlock,
    BeaconBlockBody,
    BeaconBlockHeader,
    BlobIdentifier,
    BlobSidecar,
    Checkpoint,
    ConsolidationRequest,
    ContributionAndProof,
    DataColumnSidecar,
    DataColumnsByRootIdentifier,
    Deposit,
    DepositData,
    DepositMessage,
    DepositRequest,
    Eth1Block,
    Eth1Data,
    ExecutionPayload,
    ExecutionPayloadHeader,
    ExecutionRequests,
    Fork,
    ForkData,
    HistoricalSummary,
    IndexedAttestation,
    LightClientBootstrap,
    LightClientFinalityUpdate,
    LightClientHeader,
    LightClientOptimisticUpdate,
    LightClientUpdate,
    MatrixEntry,
    PartialDataColumnGroupID,
    PartialDataColumnHeader,
    PartialDataColumnPartsMetadata,
    PartialDataColumnSidecar,
    PendingConsolidation,
    PendingDeposit,
    PendingPartialWithdrawal,
    PowBlock,
    ProposerSlashing,
    SignedAggregateAndProof,
    SignedBLSToExecutionChange,
    SignedBeaconBlock,
    SignedBeaconBlockHeader,
    SignedContributionAndProof,
    SignedVoluntaryExit,
    SigningData,
    SingleAttestation,
    SyncAggregate,
    SyncAggregatorSelectionData,
    SyncCommittee,
    SyncCommitteeContribution,
    SyncCommitteeMessage,
    Validator,
    VoluntaryExit,
    Withdrawal,
    WithdrawalRequest,
);

/// Decodes `bytes` as the container `type_name` of `fork` under `preset`.
pub fn decode(
    preset: PresetName,
    fork: ForkName,
    type_name: &str,
    bytes: &[u8],
) -> Result<Box<dyn SszObject>, SszToolError> {
    let decoded = match preset {
        PresetName::Mainnet => decode_in_preset_mainnet(type_name, fork, bytes),
        PresetName::Minimal => decode_in_preset_minimal(type_name, fork, bytes),
    };
    let decoded = decoded.ok_or_else(|| SszToolError::UnknownType(type_name.to_string()))?;
    if !forks_of(type_name).contains(&fork) {
        return Err(SszToolError::NotInFork {
            type_name: type_name.to_string(),
            fork,
        });
    }
    decoded.map_err(|e| SszToolError::Decode {
        type_name: type_name.to_string(),
        reason: format!("{e:?}"),
    })
}

/// Reads SSZ bytes from a file's contents: `.ssz_snappy` files are raw-snappy compressed (the
/// spec-test and req/resp block format); anything else is taken as plain SSZ.
pub fn ssz_from_file_bytes(file_name: &str, contents: Vec<u8>) -> Result<Vec<u8>, SszToolError> {
    if file_name.ends_with(".ssz_snappy") {
        snap::raw::Decoder::new()
            .decompress_vec(&contents)
            .map_err(|e| SszToolError::Snappy(e.to_string()))
    } else {
        Ok(contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_roundtrip_and_json() {
        let cp = minimal::Checkpoint {
            epoch: 7,
            root: Hash256::repeat_byte(0xab),
        };
        let bytes = cp.as_ssz_bytes();
        let obj = decode(PresetName::Minimal, ForkName::Fulu, "Checkpoint", &bytes)
            .expect("valid checkpoint");
        assert_eq!(obj.ssz_bytes(), bytes);
        let json = obj.to_api_json().expect("json");
        assert_eq!(json["epoch"], "7");
        assert_eq!(json["root"], format!("0x{}", "ab".repeat(32)));
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            decode(PresetName::Minimal, ForkName::Fulu, "Nope", &[]),
            Err(SszToolError::UnknownType(_))
        ));
        assert!(matches!(
            decode(
                PresetName::Minimal,
                ForkName::Fulu,
                "Checkpoint",
                &[1, 2, 3]
            ),
            Err(SszToolError::Decode { .. })
        ));
        assert!(matches!(
            decode(PresetName::Minimal, ForkName::Fulu, "BlobSidecar", &[]),
            Err(SszToolError::NotInFork { .. })
        ));
    }
}
