//! The Engine API's JSON types (execution-apis `src/engine/{paris,shanghai,cancun,prague,osaka}.md`),
//! preset independent.
//!
//! Encodings (execution-apis `src/engine/common.md#encoding`, i.e. the `eth_` API's):
//! `QUANTITY` is `0x`-hex without leading zeros (`0x0` for zero), `DATA` is `0x`-hex with two
//! digits per byte. The serializers below write exactly that; the deserializers are strict about
//! the `0x` prefix and hex digits but accept leading zeros in a `QUANTITY` (robustness towards
//! the peer costs nothing here).
//!
//! Per-preset conversions into the consensus containers live in
//! [`super::mainnet`]/[`super::minimal`]; the request side borrows the preset-independent
//! [`ExecutionPayloadView`].

use crate::consensus::execution::{EngineWithdrawal, ExecutionPayloadView, VersionedHash};
use crate::consensus::primitives::{ExecutionAddress, Hash256};
use alloy_primitives::{FixedBytes, U256};
use serde::{Deserialize, Serialize};

/// `payloadId`: `DATA`, 8 bytes.
pub type PayloadId = FixedBytes<8>;
/// A KZG commitment or proof (48 bytes).
pub type KzgBytes = FixedBytes<48>;

/// `QUANTITY` (u64) as `0x`-hex without leading zeros.
pub mod quantity {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{value:#x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        parse(&text).map_err(D::Error::custom)
    }

    /// Parses a `QUANTITY` string.
    pub fn parse(text: &str) -> Result<u64, String> {
        let digits = text
            .strip_prefix("0x")
            .ok_or_else(|| format!("QUANTITY `{text}` lacks the 0x prefix"))?;
        if digits.is_empty() {
            return Err("empty QUANTITY".into());
        }
        u64::from_str_radix(digits, 16).map_err(|e| format!("QUANTITY `{text}`: {e}"))
    }
}

/// `DATA` (any length) as `0x`-hex.
pub mod data {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        decode(&text).map_err(D::Error::custom)
    }

    pub fn encode(value: &[u8]) -> String {
        let mut out = String::with_capacity(2 + value.len() * 2);
        out.push_str("0x");
        out.push_str(&hex::encode(value));
        out
    }

    pub fn decode(text: &str) -> Result<Vec<u8>, String> {
        let digits = text
            .strip_prefix("0x")
            .ok_or_else(|| "DATA lacks the 0x prefix".to_string())?;
        hex::decode(digits).map_err(|e| format!("DATA: {e}"))
    }
}

/// `Array of DATA`.
pub mod data_list {
    use serde::{de::Error, ser::SerializeSeq, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(
        value: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(value.len()))?;
        for item in value {
            seq.serialize_element(&super::data::encode(item.as_ref()))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = <Vec<std::borrow::Cow<'de, str>>>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| super::data::decode(text).map_err(D::Error::custom))
            .collect()
    }
}

/// `WithdrawalV1` (shanghai.md). `amount` is in Gwei.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonWithdrawal {
    #[serde(with = "quantity")]
    pub index: u64,
    #[serde(with = "quantity")]
    pub validator_index: u64,
    pub address: ExecutionAddress,
    #[serde(with = "quantity")]
    pub amount: u64,
}

impl From<&EngineWithdrawal> for JsonWithdrawal {
    fn from(w: &EngineWithdrawal) -> Self {
        JsonWithdrawal {
            index: w.index,
            validator_index: w.validator_index,
            address: w.address,
            amount: w.amount,
        }
    }
}

impl From<&JsonWithdrawal> for EngineWithdrawal {
    fn from(w: &JsonWithdrawal) -> Self {
        EngineWithdrawal {
            index: w.index,
            validator_index: w.validator_index,
            address: w.address,
            amount: w.amount,
        }
    }
}

/// `ExecutionPayloadV3` (cancun.md; unchanged through Prague and Osaka).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonExecutionPayload {
    pub parent_hash: Hash256,
    pub fee_recipient: ExecutionAddress,
    pub state_root: Hash256,
    pub receipts_root: Hash256,
    /// 256 bytes (checked when converted; a payload with another length has a wrong hash).
    #[serde(with = "data")]
    pub logs_bloom: Vec<u8>,
    pub prev_randao: Hash256,
    #[serde(with = "quantity")]
    pub block_number: u64,
    #[serde(with = "quantity")]
    pub gas_limit: u64,
    #[serde(with = "quantity")]
    pub gas_used: u64,
    #[serde(with = "quantity")]
    pub timestamp: u64,
    #[serde(with = "data")]
    pub extra_data: Vec<u8>,
    /// `QUANTITY`, 256 bits (alloy's `U256` serializes as minimal `0x`-hex).
    pub base_fee_per_gas: U256,
    pub block_hash: Hash256,
    #[serde(with = "data_list")]
    pub transactions: Vec<Vec<u8>>,
    pub withdrawals: Vec<JsonWithdrawal>,
    #[serde(with = "quantity")]
    pub blob_gas_used: u64,
    #[serde(with = "quantity")]
    pub excess_blob_gas: u64,
}

impl JsonExecutionPayload {
    /// The JSON form of a consensus payload (what `engine_newPayloadV4` sends).
    pub fn from_view(view: &ExecutionPayloadView<'_>) -> Self {
        JsonExecutionPayload {
            parent_hash: view.parent_hash,
            fee_recipient: view.fee_recipient,
            state_root: view.state_root,
            receipts_root: view.receipts_root,
            logs_bloom: view.logs_bloom.to_vec(),
            prev_randao: view.prev_randao,
            block_number: view.block_number,
            gas_limit: view.gas_limit,
            gas_used: view.gas_used,
            timestamp: view.timestamp,
            extra_data: view.extra_data.to_vec(),
            base_fee_per_gas: view.base_fee_per_gas,
            block_hash: view.block_hash,
            transactions: view.transactions.iter().map(|tx| tx.to_vec()).collect(),
            withdrawals: view.withdrawals.iter().map(JsonWithdrawal::from).collect(),
            blob_gas_used: view.blob_gas_used,
            excess_blob_gas: view.excess_blob_gas,
        }
    }

    /// The borrowed view the block-hash computation and the consensus code take.
    pub fn view(&self) -> ExecutionPayloadView<'_> {
        ExecutionPayloadView {
            parent_hash: self.parent_hash,
            fee_recipient: self.fee_recipient,
            state_root: self.state_root,
            receipts_root: self.receipts_root,
            logs_bloom: &self.logs_bloom,
            prev_randao: self.prev_randao,
            block_number: self.block_number,
            gas_limit: self.gas_limit,
            gas_used: self.gas_used,
            timestamp: self.timestamp,
            extra_data: &self.extra_data,
            base_fee_per_gas: self.base_fee_per_gas,
            block_hash: self.block_hash,
            transactions: self.transactions.iter().map(Vec::as_slice).collect(),
            withdrawals: self
                .withdrawals
                .iter()
                .map(EngineWithdrawal::from)
                .collect(),
            blob_gas_used: self.blob_gas_used,
            excess_blob_gas: self.excess_blob_gas,
        }
    }
}

/// `ForkchoiceStateV1` (paris.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkchoiceState {
    pub head_block_hash: Hash256,
    pub safe_block_hash: Hash256,
    pub finalized_block_hash: Hash256,
}

/// `PayloadAttributesV3` (cancun.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadAttributes {
    #[serde(with = "quantity")]
    pub timestamp: u64,
    pub prev_randao: Hash256,
    pub suggested_fee_recipient: ExecutionAddress,
    pub withdrawals: Vec<JsonWithdrawal>,
    pub parent_beacon_block_root: Hash256,
}

/// `PayloadStatusV1.status` (paris.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayloadStatusKind {
    Valid,
    Invalid,
    Syncing,
    Accepted,
    /// Paris only; from `engine_newPayloadV2` on, a bad block hash is `INVALID` with a null
    /// `latestValidHash` (shanghai.md), but a client still understands it.
    InvalidBlockHash,
}

/// `PayloadStatusV1` (paris.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadStatus {
    pub status: PayloadStatusKind,
    pub latest_valid_hash: Option<Hash256>,
    pub validation_error: Option<String>,
}

impl PayloadStatus {
    pub fn valid(latest_valid_hash: Hash256) -> Self {
        PayloadStatus {
            status: PayloadStatusKind::Valid,
            latest_valid_hash: Some(latest_valid_hash),
            validation_error: None,
        }
    }

    pub fn syncing() -> Self {
        PayloadStatus {
            status: PayloadStatusKind::Syncing,
            latest_valid_hash: None,
            validation_error: None,
        }
    }

    pub fn invalid(latest_valid_hash: Option<Hash256>, error: String) -> Self {
        PayloadStatus {
            status: PayloadStatusKind::Invalid,
            latest_valid_hash,
            validation_error: Some(error),
        }
    }

    /// VALID, or SYNCING/ACCEPTED (optimistic import): not a rejection.
    pub fn is_not_invalid(&self) -> bool {
        !matches!(
            self.status,
            PayloadStatusKind::Invalid | PayloadStatusKind::InvalidBlockHash
        )
    }
}

/// The answer of `engine_forkchoiceUpdatedV3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkchoiceUpdatedResponse {
    pub payload_status: PayloadStatus,
    pub payload_id: Option<PayloadId>,
}

/// `BlobsBundleV2` (osaka.md): `proofs` holds `CELLS_PER_EXT_BLOB` cell proofs per blob.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobsBundleV2 {
    pub commitments: Vec<KzgBytes>,
    pub proofs: Vec<KzgBytes>,
    #[serde(with = "data_list")]
    pub blobs: Vec<Vec<u8>>,
}

/// `BlobAndProofV2` (osaka.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobAndProofV2 {
    #[serde(with = "data")]
    pub blob: Vec<u8>,
    pub proofs: Vec<KzgBytes>,
}

/// The answer of `engine_getPayloadV5` (osaka.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPayloadResponse {
    pub execution_payload: JsonExecutionPayload,
    /// Wei, `QUANTITY` 256 bits.
    pub block_value: U256,
    pub blobs_bundle: BlobsBundleV2,
    pub should_override_builder: bool,
    /// EIP-7685 `request_type ++ request_data` per non-empty type, ascending.
    #[serde(with = "data_list")]
    pub execution_requests: Vec<Vec<u8>>,
}

/// The `engine_getBlobsV2` parameter type.
pub type VersionedHashes = Vec<VersionedHash>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn example(name: &str) -> Value {
        let text = match name {
            "engine_newPayloadV4" => include_str!("testdata/engine_newPayloadV4.json"),
            "engine_forkchoiceUpdatedV3" => {
                include_str!("testdata/engine_forkchoiceUpdatedV3.json")
            }
            "engine_getPayloadV5" => include_str!("testdata/engine_getPayloadV5.json"),
            _ => unreachable!(),
        };
        serde_json::from_str(text).unwrap()
    }

    #[derive(Serialize, Deserialize)]
    struct Q(#[serde(with = "quantity")] u64);
    #[derive(Serialize, Deserialize)]
    struct D(#[serde(with = "data")] Vec<u8>);

    /// common.md#encoding and the eth JSON-RPC examples: 65 is "0x41", 1024 "0x400", zero
    /// "0x0"; wrong: "0x" and "ff" (no prefix).
    #[test]
    fn quantity_encoding() {
        for (value, text) in [
            (0u64, "0x0"),
            (65, "0x41"),
            (1024, "0x400"),
            (u64::MAX, "0xffffffffffffffff"),
        ] {
            assert_eq!(serde_json::to_value(Q(value)).unwrap(), json!(text));
            assert_eq!(serde_json::from_value::<Q>(json!(text)).unwrap().0, value);
        }
        for wrong in ["0x", "ff", "", "0xg", "0x10000000000000000"] {
            assert!(
                serde_json::from_value::<Q>(json!(wrong)).is_err(),
                "{wrong}"
            );
        }
        assert!(serde_json::from_value::<Q>(json!(65)).is_err());
    }

    /// common.md#encoding: "0x41" is [0x41], "0x004200" three bytes, "0x" empty; wrong: odd
    /// digits ("0xf0f0f") and no prefix ("004200").
    #[test]
    fn data_encoding() {
        for (bytes, text) in [
            (vec![0x41], "0x41"),
            (vec![0x00, 0x42, 0x00], "0x004200"),
            (vec![], "0x"),
        ] {
            assert_eq!(serde_json::to_value(D(bytes.clone())).unwrap(), json!(text));
            assert_eq!(serde_json::from_value::<D>(json!(text)).unwrap().0, bytes);
        }
        for wrong in ["0xf0f0f", "004200", "0xzz"] {
            assert!(
                serde_json::from_value::<D>(json!(wrong)).is_err(),
                "{wrong}"
            );
        }
    }

    /// The `engine_newPayloadV4` example of the execution-apis OpenRPC spec decodes into our
    /// types and encodes back to the same JSON.
    #[test]
    fn new_payload_v4_example_round_trips() {
        let example = example("engine_newPayloadV4");
        let params = example["params"].as_array().unwrap();
        let payload: JsonExecutionPayload = serde_json::from_value(params[0].clone()).unwrap();
        assert_eq!(payload.block_number, 0x112720f);
        assert_eq!(payload.gas_used, 0xbad2e8);
        assert_eq!(payload.base_fee_per_gas, U256::from(7));
        assert_eq!(payload.transactions.len(), 3);
        assert_eq!(payload.transactions[0][0], 0x03);
        assert_eq!(payload.withdrawals[1].validator_index, 0xf1);
        assert_eq!(payload.logs_bloom.len(), 256);
        assert_eq!(serde_json::to_value(&payload).unwrap(), params[0]);
        let status: PayloadStatus = serde_json::from_value(example["result"].clone()).unwrap();
        assert_eq!(status.status, PayloadStatusKind::Valid);
        assert_eq!(status.latest_valid_hash, Some(payload.block_hash));
        assert_eq!(serde_json::to_value(&status).unwrap(), example["result"]);
        // The view and back is lossless.
        assert_eq!(JsonExecutionPayload::from_view(&payload.view()), payload);
    }

    #[test]
    fn forkchoice_updated_v3_example_round_trips() {
        let example = example("engine_forkchoiceUpdatedV3");
        let params = example["params"].as_array().unwrap();
        let state: ForkchoiceState = serde_json::from_value(params[0].clone()).unwrap();
        let attributes: PayloadAttributes = serde_json::from_value(params[1].clone()).unwrap();
        assert_eq!(attributes.timestamp, 0x64e7785b);
        assert_eq!(attributes.withdrawals.len(), 2);
        assert_eq!(serde_json::to_value(state).unwrap(), params[0]);
        assert_eq!(serde_json::to_value(&attributes).unwrap(), params[1]);
        let response: ForkchoiceUpdatedResponse =
            serde_json::from_value(example["result"].clone()).unwrap();
        assert_eq!(
            response.payload_id,
            Some(PayloadId::from([0, 0, 0, 0, 0x21, 0xf3, 0x2c, 0xc1]))
        );
        assert_eq!(serde_json::to_value(&response).unwrap(), example["result"]);
    }

    #[test]
    fn get_payload_v5_example_round_trips() {
        let example = example("engine_getPayloadV5");
        let response: GetPayloadResponse =
            serde_json::from_value(example["result"].clone()).unwrap();
        assert_eq!(response.blobs_bundle.blobs.len(), 1);
        assert_eq!(response.blobs_bundle.blobs[0].len(), 131072);
        assert_eq!(response.blobs_bundle.proofs.len(), 128);
        assert_eq!(response.execution_requests.len(), 3);
        assert_eq!(response.block_value, U256::from(0x10a741a46278014d_u64));
        assert_eq!(serde_json::to_value(&response).unwrap(), example["result"]);
    }

    #[test]
    fn payload_status_kinds() {
        for (kind, text) in [
            (PayloadStatusKind::Valid, "VALID"),
            (PayloadStatusKind::Invalid, "INVALID"),
            (PayloadStatusKind::Syncing, "SYNCING"),
            (PayloadStatusKind::Accepted, "ACCEPTED"),
            (PayloadStatusKind::InvalidBlockHash, "INVALID_BLOCK_HASH"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(text));
        }
        let status: PayloadStatus = serde_json::from_value(
            json!({"status": "SYNCING", "latestValidHash": null, "validationError": null}),
        )
        .unwrap();
        assert_eq!(status, PayloadStatus::syncing());
        assert!(status.is_not_invalid());
        assert!(serde_json::from_value::<PayloadStatus>(json!({"status": "MAYBE"})).is_err());
    }

    #[test]
    fn u256_quantities_are_minimal_hex() {
        assert_eq!(serde_json::to_value(U256::ZERO).unwrap(), json!("0x0"));
        assert_eq!(
            serde_json::to_value(U256::from(1_000_000_000u64)).unwrap(),
            json!("0x3b9aca00")
        );
    }
}
