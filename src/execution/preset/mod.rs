//! Conversions between the Engine API's JSON types and one preset's consensus containers.
//! Compiled once per preset (`execution::mainnet`, `execution::minimal`) with `spec` naming the
//! preset's consensus module, like `src/store/beacon/`.

use super::spec;
use crate::consensus::constants::{
    CONSOLIDATION_REQUEST_TYPE, DEPOSIT_REQUEST_TYPE, WITHDRAWAL_REQUEST_TYPE,
};
use crate::execution::json::{BlobsBundleV2, JsonExecutionPayload};
use crate::execution::EngineError;
use ssz::Decode;
use ssz_types::VariableList;

/// The commitments list of a block body.
pub type BlobKzgCommitments = VariableList<spec::KZGCommitment, spec::MaxBlobCommitmentsPerBlock>;

/// The consensus `ExecutionPayload` of an `ExecutionPayloadV3`, with every length checked
/// against the preset's limits (the execution client is external input).
pub fn execution_payload_from_json(
    json: &JsonExecutionPayload,
) -> Result<spec::ExecutionPayload, EngineError> {
    let invalid = |what: &str, e: ssz_types::Error| {
        EngineError::Invalid(format!("executionPayload.{what}: {e:?}"))
    };
    let transactions = json
        .transactions
        .iter()
        .map(|tx| spec::Transaction::new(tx.clone()).map_err(|e| invalid("transactions[]", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let withdrawals = json
        .withdrawals
        .iter()
        .map(|w| spec::Withdrawal {
            index: w.index,
            validator_index: w.validator_index,
            address: w.address,
            amount: w.amount,
        })
        .collect::<Vec<_>>();
    Ok(spec::ExecutionPayload {
        parent_hash: json.parent_hash,
        fee_recipient: json.fee_recipient,
        state_root: json.state_root,
        receipts_root: json.receipts_root,
        logs_bloom: ssz_types::FixedVector::new(json.logs_bloom.clone())
            .map_err(|e| invalid("logsBloom", e))?,
        prev_randao: json.prev_randao,
        block_number: json.block_number,
        gas_limit: json.gas_limit,
        gas_used: json.gas_used,
        timestamp: json.timestamp,
        extra_data: VariableList::new(json.extra_data.clone())
            .map_err(|e| invalid("extraData", e))?,
        base_fee_per_gas: json.base_fee_per_gas,
        block_hash: json.block_hash,
        transactions: VariableList::new(transactions).map_err(|e| invalid("transactions", e))?,
        withdrawals: VariableList::new(withdrawals).map_err(|e| invalid("withdrawals", e))?,
        blob_gas_used: json.blob_gas_used,
        excess_blob_gas: json.excess_blob_gas,
    })
}

/// The JSON form of a consensus payload.
pub fn execution_payload_to_json(payload: &spec::ExecutionPayload) -> JsonExecutionPayload {
    JsonExecutionPayload::from_view(&spec::transition::block::execution_payload_view(payload))
}

/// Spec electra validator.md `get_execution_requests`: the `ExecutionRequests` of the Engine
/// API's `executionRequests` list (each item `request_type ++ ssz(list)`, types strictly
/// ascending, no empty data). Any violation is an error, never a panic.
pub fn execution_requests_from_list(
    list: &[Vec<u8>],
) -> Result<spec::ExecutionRequests, EngineError> {
    let mut requests = spec::ExecutionRequests::default();
    let mut previous: Option<u8> = None;
    for request in list {
        let Some((&request_type, request_data)) = request.split_first() else {
            return Err(EngineError::Invalid("empty execution request".into()));
        };
        if request_data.is_empty() {
            return Err(EngineError::Invalid(format!(
                "execution request of type {request_type} has no data"
            )));
        }
        if previous.is_some_and(|p| p >= request_type) {
            return Err(EngineError::Invalid(format!(
                "execution requests out of order: type {request_type} after {previous:?}"
            )));
        }
        previous = Some(request_type);
        let decode_error = |e: ssz::DecodeError| {
            EngineError::Invalid(format!("execution request type {request_type}: {e:?}"))
        };
        match request_type {
            DEPOSIT_REQUEST_TYPE => {
                requests.deposits =
                    VariableList::from_ssz_bytes(request_data).map_err(decode_error)?
            }
            WITHDRAWAL_REQUEST_TYPE => {
                requests.withdrawals =
                    VariableList::from_ssz_bytes(request_data).map_err(decode_error)?
            }
            CONSOLIDATION_REQUEST_TYPE => {
                requests.consolidations =
                    VariableList::from_ssz_bytes(request_data).map_err(decode_error)?
            }
            other => {
                return Err(EngineError::Invalid(format!(
                    "unknown execution request type {other}"
                )))
            }
        }
    }
    Ok(requests)
}

/// The block body's `blob_kzg_commitments` from an `engine_getPayloadV5` bundle, after checking
/// the bundle's shape (osaka.md: as many blobs as commitments, `CELLS_PER_EXT_BLOB` cell proofs
/// per blob, each blob `BYTES_PER_BLOB`). The proofs themselves are checked by the data
/// availability code when the columns are built.
pub fn blobs_bundle_commitments(bundle: &BlobsBundleV2) -> Result<BlobKzgCommitments, EngineError> {
    let blobs = bundle.blobs.len();
    if bundle.commitments.len() != blobs {
        return Err(EngineError::Invalid(format!(
            "blobs bundle: {} commitments for {blobs} blobs",
            bundle.commitments.len()
        )));
    }
    let cells_per_ext_blob = usize::try_from(spec::PRESET.cells_per_ext_blob)
        .map_err(|_| EngineError::Invalid("CELLS_PER_EXT_BLOB".into()))?;
    if Some(bundle.proofs.len()) != blobs.checked_mul(cells_per_ext_blob) {
        return Err(EngineError::Invalid(format!(
            "blobs bundle: {} proofs for {blobs} blobs ({cells_per_ext_blob} cell proofs each)",
            bundle.proofs.len()
        )));
    }
    let blob_len = <spec::BytesPerBlob as typenum::Unsigned>::USIZE;
    if let Some(bad) = bundle.blobs.iter().position(|b| b.len() != blob_len) {
        return Err(EngineError::Invalid(format!(
            "blobs bundle: blob {bad} is not {blob_len} bytes"
        )));
    }
    VariableList::new(bundle.commitments.clone())
        .map_err(|e| EngineError::Invalid(format!("blobs bundle commitments: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::json::GetPayloadResponse;
    use ssz::Encode;

    fn spec_example() -> GetPayloadResponse {
        let example: serde_json::Value =
            serde_json::from_str(include_str!("../testdata/engine_getPayloadV5.json")).unwrap();
        serde_json::from_value(example["result"].clone()).unwrap()
    }

    #[test]
    fn get_payload_v5_example_converts() {
        let response = spec_example();
        let payload = execution_payload_from_json(&response.execution_payload).unwrap();
        assert_eq!(payload.block_hash, response.execution_payload.block_hash);
        assert_eq!(
            payload.transactions.len(),
            response.execution_payload.transactions.len()
        );
        assert_eq!(
            execution_payload_to_json(&payload),
            response.execution_payload
        );
        // The example's requests: 2 deposits, 2 withdrawal requests, 1 consolidation.
        let requests = execution_requests_from_list(&response.execution_requests).unwrap();
        assert_eq!(requests.deposits.len(), 2);
        assert_eq!(requests.withdrawals.len(), 2);
        assert_eq!(requests.consolidations.len(), 1);
        // And back through the consensus `get_execution_requests_list`.
        assert_eq!(
            spec::transition::block::get_execution_requests_list(&requests),
            response.execution_requests
        );
        let commitments = blobs_bundle_commitments(&response.blobs_bundle).unwrap();
        assert_eq!(commitments.len(), 1);
    }

    #[test]
    fn bad_execution_requests_are_errors() {
        let list = spec_example().execution_requests;
        let swapped = vec![list[1].clone(), list[0].clone()];
        assert!(execution_requests_from_list(&swapped).is_err());
        let repeated = vec![list[0].clone(), list[0].clone()];
        assert!(execution_requests_from_list(&repeated).is_err());
        assert!(execution_requests_from_list(&[vec![0]]).is_err());
        assert!(execution_requests_from_list(&[vec![]]).is_err());
        assert!(execution_requests_from_list(&[vec![3, 1, 2]]).is_err());
        // A deposit list whose length is not a multiple of the request size.
        let mut truncated = list[0].clone();
        truncated.pop();
        assert!(execution_requests_from_list(&[truncated]).is_err());
        assert_eq!(
            execution_requests_from_list(&[]).unwrap(),
            spec::ExecutionRequests::default()
        );
    }

    #[test]
    fn bad_payloads_and_bundles_are_errors() {
        let response = spec_example();
        let mut payload = response.execution_payload.clone();
        payload.logs_bloom.pop();
        assert!(execution_payload_from_json(&payload).is_err());
        let mut payload = response.execution_payload.clone();
        payload.extra_data = vec![0; 33];
        assert!(execution_payload_from_json(&payload).is_err());
        let mut bundle = response.blobs_bundle.clone();
        bundle.proofs.pop();
        assert!(blobs_bundle_commitments(&bundle).is_err());
        let mut bundle = response.blobs_bundle.clone();
        bundle.commitments.push(Default::default());
        assert!(blobs_bundle_commitments(&bundle).is_err());
        let mut bundle = response.blobs_bundle.clone();
        bundle.blobs[0].pop();
        assert!(blobs_bundle_commitments(&bundle).is_err());
        assert!(blobs_bundle_commitments(&Default::default())
            .unwrap()
            .is_empty());
        // The SSZ of a converted payload is non-trivial (the conversion fills every field).
        let converted = execution_payload_from_json(&response.execution_payload).unwrap();
        assert!(converted.as_ssz_bytes().len() > 500);
    }
}
