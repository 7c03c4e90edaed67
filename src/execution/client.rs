//! [`EngineClient`]: the Engine API over JSON-RPC 2.0 / HTTP with a fresh JWT per request.

use super::error::EngineError;
use super::json::*;
use super::jwt::{unix_now, JwtSecret};
use crate::consensus::execution::{NewPayloadRequest, VersionedHash};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The Engine API methods this client calls, with the timeout each one's specification gives
/// (execution-apis: paris.md / cancun.md / prague.md / osaka.md, `timeout:` lines; common.md:
/// the consensus client waits at least that long before giving up).
pub mod methods {
    use std::time::Duration;

    pub const NEW_PAYLOAD_V4: &str = "engine_newPayloadV4";
    pub const FORKCHOICE_UPDATED_V3: &str = "engine_forkchoiceUpdatedV3";
    pub const GET_PAYLOAD_V5: &str = "engine_getPayloadV5";
    pub const GET_BLOBS_V2: &str = "engine_getBlobsV2";
    pub const EXCHANGE_CAPABILITIES: &str = "engine_exchangeCapabilities";

    /// prague.md `engine_newPayloadV4`: 8 s.
    pub const NEW_PAYLOAD_TIMEOUT: Duration = Duration::from_secs(8);
    /// cancun.md `engine_forkchoiceUpdatedV3`: 8 s.
    pub const FORKCHOICE_UPDATED_TIMEOUT: Duration = Duration::from_secs(8);
    /// osaka.md `engine_getPayloadV5`: 1 s.
    pub const GET_PAYLOAD_TIMEOUT: Duration = Duration::from_secs(1);
    /// osaka.md `engine_getBlobsV2`: 1 s.
    pub const GET_BLOBS_TIMEOUT: Duration = Duration::from_secs(1);
    /// common.md `engine_exchangeCapabilities`: 1 s.
    pub const EXCHANGE_CAPABILITIES_TIMEOUT: Duration = Duration::from_secs(1);

    /// What Ember calls (the `engine_exchangeCapabilities` parameter, and the mock EL's
    /// answer). common.md: `engine_exchangeCapabilities` itself "MUST NOT be returned in the
    /// response list", so it is not in this one either.
    pub const SUPPORTED: [&str; 4] = [
        NEW_PAYLOAD_V4,
        FORKCHOICE_UPDATED_V3,
        GET_PAYLOAD_V5,
        GET_BLOBS_V2,
    ];
}

/// The largest answer body read (bytes). `engine_getBlobsV2` for 128 blobs (the spec's minimum
/// request size a server supports) is 128 × (256 KiB of hex blob + 128 hex proofs) ≈ 47 MiB; a
/// bigger body is refused instead of buffered without end.
/// The buffer lives for one call: it belongs to the memory budget's runtime reserve
/// ("short-lived buffers"), not to a cache.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Serialize)]
struct RpcRequest<'a, P: Serialize> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: P,
}

#[derive(Deserialize)]
struct RpcErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct RpcResponse<R> {
    #[serde(default = "none")]
    result: Option<R>,
    #[serde(default)]
    error: Option<RpcErrorObject>,
}

fn none<R>() -> Option<R> {
    None
}

/// An Engine API client for one execution endpoint. Cheap to share (`&self` methods; reqwest
/// pools the connection).
#[derive(Debug)]
pub struct EngineClient {
    http: reqwest::Client,
    url: reqwest::Url,
    secret: JwtSecret,
    next_id: AtomicU64,
}

impl EngineClient {
    /// `endpoint`: `http://host:port` (no TLS: the execution client is local or on a trusted
    /// link, as every client's default setup assumes).
    pub fn new(endpoint: &str, secret: JwtSecret) -> Result<Self, EngineError> {
        let url = reqwest::Url::parse(endpoint)
            .map_err(|e| EngineError::Endpoint(format!("{endpoint}: {e}")))?;
        if url.scheme() != "http" {
            return Err(EngineError::Endpoint(format!(
                "{endpoint}: only http:// is supported"
            )));
        }
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| EngineError::Endpoint(format!("{endpoint}: {e}")))?;
        Ok(EngineClient {
            http,
            url,
            secret,
            next_id: AtomicU64::new(1),
        })
    }

    pub fn endpoint(&self) -> &str {
        self.url.as_str()
    }

    /// One JSON-RPC call. `Ok(None)` when the result is `null` (or absent) without an error.
    async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &'static str,
        params: P,
        timeout: Duration,
    ) -> Result<Option<R>, EngineError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::to_vec(&RpcRequest {
            jsonrpc: "2.0",
            id,
            method,
            params,
        })
        .map_err(|e| EngineError::Decode {
            method,
            reason: format!("encoding the request: {e}"),
        })?;
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                EngineError::Timeout {
                    method,
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                }
            } else {
                EngineError::Transport {
                    method,
                    reason: error_chain(&e),
                }
            }
        };
        let mut response = self
            .http
            .post(self.url.clone())
            .bearer_auth(self.secret.token(unix_now()))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
                return Err(EngineError::Decode {
                    method,
                    reason: format!("answer larger than {MAX_RESPONSE_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            // A JSON-RPC error inside a non-200 answer is still the most precise report.
            if let Ok(RpcResponse::<serde_json::Value> {
                error: Some(error), ..
            }) = serde_json::from_slice(&bytes)
            {
                if status != reqwest::StatusCode::UNAUTHORIZED {
                    return Err(EngineError::Rpc {
                        method,
                        code: error.code,
                        message: error.message,
                    });
                }
            }
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
            return Err(EngineError::Http {
                method,
                status: status.as_u16(),
                body,
            });
        }
        let response: RpcResponse<R> =
            serde_json::from_slice(&bytes).map_err(|e| EngineError::Decode {
                method,
                reason: e.to_string(),
            })?;
        if let Some(error) = response.error {
            return Err(EngineError::Rpc {
                method,
                code: error.code,
                message: error.message,
            });
        }
        tracing::trace!(method, id, "engine call answered");
        Ok(response.result)
    }

    async fn call_required<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &'static str,
        params: P,
        timeout: Duration,
    ) -> Result<R, EngineError> {
        self.call(method, params, timeout)
            .await?
            .ok_or(EngineError::Decode {
                method,
                reason: "null result".into(),
            })
    }

    /// `engine_exchangeCapabilities` with [`methods::SUPPORTED`]: the methods the execution
    /// client supports.
    pub async fn exchange_capabilities(&self) -> Result<Vec<String>, EngineError> {
        self.call_required(
            methods::EXCHANGE_CAPABILITIES,
            (methods::SUPPORTED,),
            methods::EXCHANGE_CAPABILITIES_TIMEOUT,
        )
        .await
    }

    /// `engine_newPayloadV4(executionPayload, expectedBlobVersionedHashes, parentBeaconBlockRoot,
    /// executionRequests)`.
    pub async fn new_payload(
        &self,
        request: &NewPayloadRequest<'_>,
    ) -> Result<PayloadStatus, EngineError> {
        #[derive(Serialize)]
        struct Requests<'a>(#[serde(with = "data_list")] &'a [Vec<u8>]);
        let payload = JsonExecutionPayload::from_view(&request.execution_payload);
        let params = (
            &payload,
            &request.versioned_hashes,
            request.parent_beacon_block_root,
            Requests(&request.execution_requests_list),
        );
        self.call_required(
            methods::NEW_PAYLOAD_V4,
            params,
            methods::NEW_PAYLOAD_TIMEOUT,
        )
        .await
    }

    /// `engine_forkchoiceUpdatedV3(forkchoiceState, payloadAttributes | null)`.
    pub async fn forkchoice_updated(
        &self,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
    ) -> Result<ForkchoiceUpdatedResponse, EngineError> {
        self.call_required(
            methods::FORKCHOICE_UPDATED_V3,
            (state, attributes),
            methods::FORKCHOICE_UPDATED_TIMEOUT,
        )
        .await
    }

    /// `engine_getPayloadV5(payloadId)`.
    pub async fn get_payload(&self, id: PayloadId) -> Result<GetPayloadResponse, EngineError> {
        self.call_required(methods::GET_PAYLOAD_V5, (id,), methods::GET_PAYLOAD_TIMEOUT)
            .await
    }

    /// `engine_getBlobsV2(versionedHashes)`: `None` when the execution client lacks any of them
    /// (osaka.md: all or nothing).
    pub async fn get_blobs(
        &self,
        hashes: &[VersionedHash],
    ) -> Result<Option<Vec<BlobAndProofV2>>, EngineError> {
        let blobs: Option<Vec<BlobAndProofV2>> = self
            .call(methods::GET_BLOBS_V2, (hashes,), methods::GET_BLOBS_TIMEOUT)
            .await?;
        if let Some(blobs) = &blobs {
            if blobs.len() != hashes.len() {
                return Err(EngineError::Invalid(format!(
                    "engine_getBlobsV2: {} blobs for {} versioned hashes",
                    blobs.len(),
                    hashes.len()
                )));
            }
        }
        Ok(blobs)
    }
}

/// An error with its sources ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
