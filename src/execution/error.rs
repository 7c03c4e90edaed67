//! The Engine API client's error type.

/// Everything an Engine API call can fail with. The execution client is external: a malformed
/// answer is a [`EngineError::Decode`] or [`EngineError::Invalid`], never a panic.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The endpoint given on the command line is not an `http://` URL.
    #[error("invalid execution endpoint `{0}`")]
    Endpoint(String),
    /// The JWT secret file is missing, unreadable or not 32 hex-encoded bytes.
    #[error("JWT secret: {0}")]
    Jwt(String),
    /// Connection refused, reset, DNS, ... (the request did not get an HTTP answer).
    #[error("{method}: transport: {reason}")]
    Transport {
        method: &'static str,
        reason: String,
    },
    /// No answer within the method's Engine API timeout.
    #[error("{method}: no answer within {timeout_ms} ms")]
    Timeout {
        method: &'static str,
        timeout_ms: u64,
    },
    /// A non-200 HTTP status (401: the execution client rejected our JWT).
    #[error("{method}: HTTP {status}: {body}")]
    Http {
        method: &'static str,
        status: u16,
        body: String,
    },
    /// The JSON-RPC `error` member (code and message as the execution client sent them).
    #[error("{method}: JSON-RPC error {code}: {message}")]
    Rpc {
        method: &'static str,
        code: i64,
        message: String,
    },
    /// The answer is not the JSON shape the method returns.
    #[error("{method}: cannot decode the answer: {reason}")]
    Decode {
        method: &'static str,
        reason: String,
    },
    /// The answer decodes but does not make a valid consensus object (wrong lengths, requests
    /// out of order, ...).
    #[error("invalid engine data: {0}")]
    Invalid(String),
}

impl EngineError {
    /// True for an HTTP 401 (bad, missing or stale JWT: check `--execution-jwt` and the clocks).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, EngineError::Http { status: 401, .. })
    }

    /// The JSON-RPC error code, if the execution client answered with one.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            EngineError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// JSON-RPC and Engine API error codes (execution-apis `src/engine/common.md#errors`).
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    pub const SERVER_ERROR: i64 = -32000;
    pub const UNKNOWN_PAYLOAD: i64 = -38001;
    pub const INVALID_FORKCHOICE_STATE: i64 = -38002;
    pub const INVALID_PAYLOAD_ATTRIBUTES: i64 = -38003;
    pub const TOO_LARGE_REQUEST: i64 = -38004;
    pub const UNSUPPORTED_FORK: i64 = -38005;
}
