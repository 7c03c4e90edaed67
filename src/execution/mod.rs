//! The execution layer side: the Engine API client (JSON-RPC over HTTP, JWT HS256) and
//! `ember mock-el`, a mock execution client for devnets.
//!
//! - [`jwt`]: the shared-secret HS256 tokens of the Engine API's authentication.
//! - [`json`]: the Engine API's JSON types (`ExecutionPayloadV3`, `PayloadAttributesV3`,
//!   `PayloadStatusV1`, `BlobsBundleV2`, ...) and the `QUANTITY`/`DATA` encodings, preset
//!   independent.
//! - [`EngineClient`]: `engine_newPayloadV4`, `engine_forkchoiceUpdatedV3`,
//!   `engine_getPayloadV5`, `engine_getBlobsV2`, `engine_exchangeCapabilities`, each with the
//!   timeout its specification gives, errors typed as [`EngineError`].
//! - [`mainnet`]/[`minimal`]: the per-preset conversions into the consensus containers
//!   (`ExecutionPayload`, `ExecutionRequests`, blob commitments).
//! - [`block_hash`]: the execution block hash of a payload (`keccak256(rlp(header))`), which
//!   the mock EL computes for the payloads it builds and checks for those it receives.
//! - [`mock_el`]: `ember mock-el`, an HTTP server speaking the same methods that builds valid
//!   empty payloads, so a devnet runs without a real execution client.

pub mod block_hash;
mod client;
mod error;
pub mod json;
pub mod jwt;
pub mod mainnet;
pub mod minimal;
pub mod mock_el;

pub use client::{methods, EngineClient, MAX_RESPONSE_BYTES};
pub use error::{codes, EngineError};
pub use json::{
    BlobAndProofV2, BlobsBundleV2, ForkchoiceState, ForkchoiceUpdatedResponse, GetPayloadResponse,
    JsonExecutionPayload, JsonWithdrawal, PayloadAttributes, PayloadId, PayloadStatus,
    PayloadStatusKind,
};
pub use jwt::JwtSecret;

pub use crate::consensus::execution::VersionedHash;
