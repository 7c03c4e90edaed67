//! The req/resp wire format (`p2p-interface.md` "The Req/Resp domain", encoding `ssz_snappy`):
//!
//! ```text
//! request        = <varint SSZ length> | <snappy frames of the SSZ bytes>
//! response       = <response_chunk>*
//! response_chunk = <result byte> | <context bytes (success chunks of blocks/columns)>
//!                  | <varint SSZ length> | <snappy frames>
//! ```
//!
//! Every length is checked against the type's bounds before anything is allocated, the
//! compressed bytes read for one payload are capped at `max_encoded_len(n)`, and a response's
//! chunk count and total size are capped per protocol: nothing a peer sends can make us
//! allocate beyond those bounds or panic.

use super::types::{
    BlocksByRangeRequest, DataColumnsByRangeRequest, DataColumnsByRootIdentifier, MetaData,
    Request, ResponseChunk, RpcErrorCode, RpcErrorResponse, StatusMessage,
};
use crate::consensus::primitives::{ForkDigest, Root};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use ssz::{Decode, Encode};
use std::io;

/// Fulu `NUMBER_OF_COLUMNS` (the same in both presets): the bound of a column index list.
pub const NUMBER_OF_COLUMNS: u64 = 128;
/// phase0 `ErrorMessage`: `List[byte, 256]`.
pub const MAX_ERROR_MESSAGE: usize = 256;
/// The snappy frame format's largest uncompressed chunk (framing_format.txt).
const MAX_FRAME_UNCOMPRESSED: usize = 65_536;
/// The largest frame body we accept: a compressed 64 KiB block (`32 + n + n/6`) plus the CRC.
const MAX_FRAME_BODY: usize = 32 + MAX_FRAME_UNCOMPRESSED + MAX_FRAME_UNCOMPRESSED / 6 + 4;
/// The snappy stream identifier chunk.
const STREAM_IDENTIFIER: [u8; 10] = [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];

/// The req/resp protocols Ember speaks (the latest version of each in Fulu).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Status,
    Goodbye,
    Ping,
    MetaData,
    BlocksByRange,
    BlocksByRoot,
    DataColumnsByRange,
    DataColumnsByRoot,
}

impl Protocol {
    pub const ALL: [Protocol; 8] = [
        Protocol::Status,
        Protocol::Goodbye,
        Protocol::Ping,
        Protocol::MetaData,
        Protocol::BlocksByRange,
        Protocol::BlocksByRoot,
        Protocol::DataColumnsByRange,
        Protocol::DataColumnsByRoot,
    ];

    /// `/eth2/beacon_chain/req/{name}/{version}/ssz_snappy`.
    pub fn protocol_id(self) -> &'static str {
        match self {
            Protocol::Status => "/eth2/beacon_chain/req/status/2/ssz_snappy",
            Protocol::Goodbye => "/eth2/beacon_chain/req/goodbye/1/ssz_snappy",
            Protocol::Ping => "/eth2/beacon_chain/req/ping/1/ssz_snappy",
            Protocol::MetaData => "/eth2/beacon_chain/req/metadata/3/ssz_snappy",
            Protocol::BlocksByRange => "/eth2/beacon_chain/req/beacon_blocks_by_range/2/ssz_snappy",
            Protocol::BlocksByRoot => "/eth2/beacon_chain/req/beacon_blocks_by_root/2/ssz_snappy",
            Protocol::DataColumnsByRange => {
                "/eth2/beacon_chain/req/data_column_sidecars_by_range/1/ssz_snappy"
            }
            Protocol::DataColumnsByRoot => {
                "/eth2/beacon_chain/req/data_column_sidecars_by_root/1/ssz_snappy"
            }
        }
    }

    pub fn stream_protocol(self) -> StreamProtocol {
        StreamProtocol::new(self.protocol_id())
    }

    pub fn from_id(id: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.protocol_id() == id)
    }

    /// The protocol of a request.
    pub fn of(request: &Request) -> Protocol {
        match request {
            Request::Status(_) => Protocol::Status,
            Request::Goodbye(_) => Protocol::Goodbye,
            Request::Ping(_) => Protocol::Ping,
            Request::MetaData => Protocol::MetaData,
            Request::BlocksByRange(_) => Protocol::BlocksByRange,
            Request::BlocksByRoot(_) => Protocol::BlocksByRoot,
            Request::DataColumnsByRange(_) => Protocol::DataColumnsByRange,
            Request::DataColumnsByRoot(_) => Protocol::DataColumnsByRoot,
        }
    }

    /// Success chunks carry the fork digest as context bytes (blocks and columns, whose SSZ
    /// type depends on the fork).
    pub fn has_context(self) -> bool {
        matches!(
            self,
            Protocol::BlocksByRange
                | Protocol::BlocksByRoot
                | Protocol::DataColumnsByRange
                | Protocol::DataColumnsByRoot
        )
    }
}

impl AsRef<str> for Protocol {
    fn as_ref(&self) -> &str {
        self.protocol_id()
    }
}

/// The SSZ size of `Status` v2 (4 + 32 + 8 + 32 + 8 + 8).
pub const STATUS_V2_SIZE: usize = 92;
/// The SSZ size of `MetaData` v3 (8 + 8 + 1 + 8).
pub const METADATA_V3_SIZE: usize = 25;
/// The SSZ size of `BeaconBlocksByRangeRequest` (3 × uint64).
const BLOCKS_BY_RANGE_SIZE: usize = 24;

/// The limits the codec enforces (from the chain config: `MAX_PAYLOAD_SIZE`,
/// `MAX_REQUEST_BLOCKS_DENEB`, `MAX_REQUEST_DATA_COLUMN_SIDECARS`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_payload_size: u64,
    pub max_request_blocks: u64,
    pub max_request_data_column_sidecars: u64,
}

impl Limits {
    /// The largest SSZ payload of one chunk (responses) — `MAX_PAYLOAD_SIZE` for blocks and
    /// columns, the fixed sizes for the small messages.
    fn response_ssz_bounds(&self, protocol: Protocol) -> (usize, usize) {
        let max = usize::try_from(self.max_payload_size).unwrap_or(usize::MAX);
        match protocol {
            Protocol::Status => (STATUS_V2_SIZE, STATUS_V2_SIZE),
            Protocol::Ping | Protocol::Goodbye => (8, 8),
            Protocol::MetaData => (METADATA_V3_SIZE, METADATA_V3_SIZE),
            _ => (1, max),
        }
    }

    /// The SSZ size bounds of a request.
    fn request_ssz_bounds(&self, protocol: Protocol) -> (usize, usize) {
        let blocks = usize::try_from(self.max_request_blocks).unwrap_or(usize::MAX);
        let columns = NUMBER_OF_COLUMNS as usize;
        match protocol {
            Protocol::Status => (STATUS_V2_SIZE, STATUS_V2_SIZE),
            Protocol::Ping | Protocol::Goodbye => (8, 8),
            Protocol::MetaData => (0, 0),
            Protocol::BlocksByRange => (BLOCKS_BY_RANGE_SIZE, BLOCKS_BY_RANGE_SIZE),
            Protocol::BlocksByRoot => (0, blocks.saturating_mul(32)),
            // start_slot, count, offset, then up to NUMBER_OF_COLUMNS uint64s.
            Protocol::DataColumnsByRange => (20, 20 + 8 * columns),
            // Up to MAX_REQUEST_BLOCKS_DENEB identifiers (offset + root + offset + columns).
            Protocol::DataColumnsByRoot => (0, blocks.saturating_mul(4 + 32 + 4 + 8 * columns)),
        }
    }

    /// The most success chunks a response may have.
    pub fn max_chunks(&self, protocol: Protocol) -> u64 {
        match protocol {
            Protocol::Status | Protocol::Ping | Protocol::MetaData => 1,
            Protocol::Goodbye => 0,
            Protocol::BlocksByRange | Protocol::BlocksByRoot => self.max_request_blocks,
            Protocol::DataColumnsByRange | Protocol::DataColumnsByRoot => {
                self.max_request_data_column_sidecars
            }
        }
    }

    /// The most decompressed bytes one response may carry in total: 16 × MAX_PAYLOAD_SIZE
    /// (160 MiB on mainnet). A range request of 64 full blocks fits; a peer cannot make us
    /// buffer `MAX_REQUEST_BLOCKS_DENEB × MAX_PAYLOAD_SIZE`.
    pub fn max_response_bytes(&self) -> u64 {
        self.max_payload_size.saturating_mul(16)
    }
}

/// `max_compressed_len(n)` of the snappy block format (`32 + n + n / 6`).
pub fn max_compressed_len(n: u64) -> u64 {
    n.saturating_add(n / 6).saturating_add(32)
}

/// The most framed bytes `n` SSZ bytes may take: the stream identifier, a header + CRC per
/// 64 KiB frame, and the block-format bound per frame.
fn max_encoded_len(n: usize) -> usize {
    let frames = n.div_ceil(MAX_FRAME_UNCOMPRESSED).max(1);
    STREAM_IDENTIFIER
        .len()
        .saturating_add(frames.saturating_mul(8 + 32))
        .saturating_add(n)
        .saturating_add(n / 6)
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

// ---------------------------------------------------------------------------------- varint

/// Protobuf-style unsigned varint (LEB128), as the spec's `encoding-dependent-header`.
pub fn encode_varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a varint of at most 10 bytes (a u64); overlong or overflowing encodings are errors.
async fn read_varint<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<u64> {
    let mut value: u64 = 0;
    for i in 0..10u32 {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        let low = u64::from(byte[0] & 0x7f);
        let shift = 7 * i;
        if i == 9 && low > 1 {
            return Err(invalid("varint overflows u64"));
        }
        value |= low << shift;
        if byte[0] & 0x80 == 0 {
            if i > 0 && low == 0 {
                return Err(invalid("varint not minimally encoded"));
            }
            return Ok(value);
        }
    }
    Err(invalid("varint longer than 10 bytes"))
}

// ---------------------------------------------------------------------------------- snappy frames

/// Compresses `ssz` in the snappy frame format.
pub fn frame_compress(ssz: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = snap::write::FrameEncoder::new(Vec::with_capacity(ssz.len() / 2 + 64));
    io::Write::write_all(&mut encoder, ssz)?;
    let out = encoder
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    // An empty payload still gets the stream identifier (the reader always expects one).
    Ok(if out.is_empty() {
        STREAM_IDENTIFIER.to_vec()
    } else {
        out
    })
}

/// Reads exactly the frames that decompress to `len` bytes (no more: the stream continues with
/// the next chunk), never more than `max_encoded_len(len)` framed bytes, then decompresses and
/// checks them (CRCs included) with `snap`'s frame decoder.
async fn read_frames<T: AsyncRead + Unpin>(io: &mut T, len: usize) -> io::Result<Vec<u8>> {
    let budget = max_encoded_len(len);
    let mut framed = Vec::new();
    let mut decompressed = 0usize;
    let mut seen_identifier = false;
    while decompressed < len || !seen_identifier {
        let mut header = [0u8; 4];
        io.read_exact(&mut header).await?;
        let [kind, l0, l1, l2] = header;
        let body_len = usize::from(l0) | usize::from(l1) << 8 | usize::from(l2) << 16;
        if framed.len().saturating_add(4).saturating_add(body_len) > budget {
            return Err(invalid("snappy frames exceed max_encoded_len"));
        }
        match kind {
            0xff => {
                if body_len != 6 {
                    return Err(invalid("bad snappy stream identifier"));
                }
                seen_identifier = true;
            }
            0x00 | 0x01 => {
                if !seen_identifier {
                    return Err(invalid("snappy data before the stream identifier"));
                }
                if !(4..=MAX_FRAME_BODY).contains(&body_len) {
                    return Err(invalid("snappy frame size out of bounds"));
                }
            }
            0x02..=0x7f => return Err(invalid("reserved unskippable snappy chunk")),
            _ => {} // padding / skippable chunks: counted against the budget
        }
        let start = framed.len();
        framed.extend_from_slice(&header);
        framed.resize(start + 4 + body_len, 0);
        let body = framed
            .get_mut(start + 4..)
            .ok_or_else(|| invalid("frame bounds"))?;
        io.read_exact(body).await?;
        let data = body.get(4..).unwrap_or_default();
        let frame_len = match kind {
            0x00 => snap::raw::decompress_len(data).map_err(|e| invalid(e.to_string()))?,
            0x01 => data.len(),
            _ => 0,
        };
        if frame_len > MAX_FRAME_UNCOMPRESSED {
            return Err(invalid("snappy frame decompresses beyond 64 KiB"));
        }
        decompressed = decompressed.saturating_add(frame_len);
        if decompressed > len {
            return Err(invalid("snappy frames longer than the declared length"));
        }
    }
    let mut out = Vec::with_capacity(len);
    let mut decoder = snap::read::FrameDecoder::new(framed.as_slice());
    io::Read::read_to_end(&mut decoder, &mut out).map_err(|e| invalid(e.to_string()))?;
    if out.len() != len {
        return Err(invalid("snappy payload length mismatch"));
    }
    Ok(out)
}

/// Reads `<varint length> | <frames>` with the length in `[min, max]`.
async fn read_payload<T: AsyncRead + Unpin>(
    io: &mut T,
    min: usize,
    max: usize,
) -> io::Result<Vec<u8>> {
    let len = read_varint(io).await?;
    let len = usize::try_from(len).map_err(|_| invalid("length overflows usize"))?;
    if len < min || len > max {
        return Err(invalid(format!("SSZ length {len} outside [{min}, {max}]")));
    }
    read_frames(io, len).await
}

fn encode_payload(ssz: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    encode_varint(ssz.len() as u64, out);
    out.extend_from_slice(&frame_compress(ssz)?);
    Ok(())
}

// ---------------------------------------------------------------------------------- requests

/// The SSZ bytes of a request (empty for `MetaData`).
pub fn request_ssz(request: &Request) -> Vec<u8> {
    match request {
        Request::Status(s) => s.as_ssz_bytes(),
        Request::Goodbye(v) | Request::Ping(v) => v.as_ssz_bytes(),
        Request::MetaData => Vec::new(),
        Request::BlocksByRange(r) => r.as_ssz_bytes(),
        Request::BlocksByRoot(roots) => roots.as_ssz_bytes(),
        Request::DataColumnsByRange(r) => r.as_ssz_bytes(),
        Request::DataColumnsByRoot(ids) => ids.as_ssz_bytes(),
    }
}

/// Encodes a request for the wire.
pub fn encode_request(request: &Request) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if !matches!(request, Request::MetaData) {
        encode_payload(&request_ssz(request), &mut out)?;
    }
    Ok(out)
}

/// Decodes a request's SSZ bytes for `protocol`, checking the list bounds.
pub fn decode_request(protocol: Protocol, ssz: &[u8], limits: &Limits) -> io::Result<Request> {
    let ssz_err = |e: ssz::DecodeError| invalid(format!("SSZ: {e:?}"));
    Ok(match protocol {
        Protocol::Status => Request::Status(StatusMessage::from_ssz_bytes(ssz).map_err(ssz_err)?),
        Protocol::Goodbye => Request::Goodbye(u64::from_ssz_bytes(ssz).map_err(ssz_err)?),
        Protocol::Ping => Request::Ping(u64::from_ssz_bytes(ssz).map_err(ssz_err)?),
        Protocol::MetaData => Request::MetaData,
        Protocol::BlocksByRange => {
            Request::BlocksByRange(BlocksByRangeRequest::from_ssz_bytes(ssz).map_err(ssz_err)?)
        }
        Protocol::BlocksByRoot => {
            let roots = Vec::<Root>::from_ssz_bytes(ssz).map_err(ssz_err)?;
            if roots.len() as u64 > limits.max_request_blocks {
                return Err(invalid("more roots than MAX_REQUEST_BLOCKS_DENEB"));
            }
            Request::BlocksByRoot(roots)
        }
        Protocol::DataColumnsByRange => {
            let r = DataColumnsByRangeRequest::from_ssz_bytes(ssz).map_err(ssz_err)?;
            if r.columns.len() as u64 > NUMBER_OF_COLUMNS {
                return Err(invalid("more columns than NUMBER_OF_COLUMNS"));
            }
            Request::DataColumnsByRange(r)
        }
        Protocol::DataColumnsByRoot => {
            let ids = Vec::<DataColumnsByRootIdentifier>::from_ssz_bytes(ssz).map_err(ssz_err)?;
            if ids.len() as u64 > limits.max_request_blocks
                || ids
                    .iter()
                    .any(|id| id.columns.len() as u64 > NUMBER_OF_COLUMNS)
            {
                return Err(invalid("data column identifiers beyond their list bounds"));
            }
            Request::DataColumnsByRoot(ids)
        }
    })
}

/// Reads a request from a stream (the requester closes its side after writing it).
pub async fn read_request<T: AsyncRead + Unpin>(
    protocol: Protocol,
    io: &mut T,
    limits: &Limits,
) -> io::Result<Request> {
    let (min, max) = limits.request_ssz_bounds(protocol);
    let ssz = if protocol == Protocol::MetaData {
        Vec::new()
    } else {
        read_payload(io, min, max).await?
    };
    decode_request(protocol, &ssz, limits)
}

// ---------------------------------------------------------------------------------- responses

/// A response as it travels: success chunks, possibly ended by an error chunk (a responder may
/// send some chunks and then an error).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WireResponse {
    pub chunks: Vec<ResponseChunk>,
    pub error: Option<RpcErrorResponse>,
}

impl WireResponse {
    pub fn error(code: RpcErrorCode, message: impl Into<String>) -> Self {
        Self {
            chunks: Vec::new(),
            error: Some(RpcErrorResponse {
                code,
                message: message.into(),
            }),
        }
    }
}

impl From<Result<Vec<ResponseChunk>, RpcErrorResponse>> for WireResponse {
    fn from(r: Result<Vec<ResponseChunk>, RpcErrorResponse>) -> Self {
        match r {
            Ok(chunks) => Self {
                chunks,
                error: None,
            },
            Err(e) => Self {
                chunks: Vec::new(),
                error: Some(e),
            },
        }
    }
}

/// Encodes a response for the wire.
pub fn encode_response(protocol: Protocol, response: &WireResponse) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for chunk in &response.chunks {
        out.push(0);
        if protocol.has_context() {
            let digest = chunk.context.unwrap_or_default();
            out.extend_from_slice(digest.as_slice());
        }
        encode_payload(&chunk.ssz, &mut out)?;
    }
    if let Some(error) = &response.error {
        out.push(error.code as u8);
        let message = error.message.as_bytes();
        let message = message.get(..MAX_ERROR_MESSAGE).unwrap_or(message);
        encode_payload(message, &mut out)?;
    }
    Ok(out)
}

/// Reads a whole response: chunks until the stream ends or an error chunk arrives, within the
/// protocol's chunk-count and total-size limits.
pub async fn read_response<T: AsyncRead + Unpin>(
    protocol: Protocol,
    io: &mut T,
    limits: &Limits,
) -> io::Result<WireResponse> {
    let (min, max) = limits.response_ssz_bounds(protocol);
    let max_chunks = limits.max_chunks(protocol);
    let mut total = 0u64;
    let mut response = WireResponse::default();
    loop {
        let mut result = [0u8; 1];
        if io.read(&mut result).await? == 0 {
            return Ok(response);
        }
        if result[0] != 0 {
            let message = read_payload(io, 0, MAX_ERROR_MESSAGE).await?;
            let code = match result[0] {
                1 => RpcErrorCode::InvalidRequest,
                3 => RpcErrorCode::ResourceUnavailable,
                // 2 and the codes the spec leaves to clients (e.g. 139, rate limited).
                _ => RpcErrorCode::ServerError,
            };
            let mut text = String::from_utf8_lossy(&message).into_owned();
            if result[0] > 3 {
                text = format!("code {}: {text}", result[0]);
            }
            response.error = Some(RpcErrorResponse {
                code,
                message: text,
            });
            return Ok(response);
        }
        if response.chunks.len() as u64 >= max_chunks {
            return Err(invalid("more response chunks than the protocol allows"));
        }
        let context = if protocol.has_context() {
            let mut digest = [0u8; 4];
            io.read_exact(&mut digest).await?;
            Some(ForkDigest::from(digest))
        } else {
            None
        };
        let ssz = read_payload(io, min, max).await?;
        total = total.saturating_add(ssz.len() as u64);
        if total > limits.max_response_bytes() {
            return Err(invalid("response larger than the total response limit"));
        }
        response.chunks.push(ResponseChunk { context, ssz });
    }
}

// ---------------------------------------------------------------------------------- libp2p codec

/// The `request_response` codec of every eth2 protocol (the protocol picks the framing).
#[derive(Clone, Debug)]
pub struct RpcCodec {
    pub limits: Limits,
}

/// A request as the codec hands it to the behaviour. A malformed one (bad framing, oversize,
/// undecodable SSZ) is delivered as `Malformed` instead of an error: `request_response` only
/// logs a failed `read_request` (the request has no id yet), so an error would leave the
/// sender unanswered and unpenalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireRequest {
    Valid(Request),
    Malformed(String),
}

impl libp2p::request_response::Codec for RpcCodec {
    type Protocol = Protocol;
    type Request = WireRequest;
    type Response = WireResponse;

    async fn read_request<T>(&mut self, protocol: &Protocol, io: &mut T) -> io::Result<WireRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_request(*protocol, io, &self.limits).await {
            Ok(request) => Ok(WireRequest::Valid(request)),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                Ok(WireRequest::Malformed(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(
        &mut self,
        protocol: &Protocol,
        io: &mut T,
    ) -> io::Result<WireResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_response(*protocol, io, &self.limits).await
    }

    async fn write_request<T>(
        &mut self,
        protocol: &Protocol,
        io: &mut T,
        request: WireRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let WireRequest::Valid(request) = request else {
            return Err(io::Error::other("a malformed request is never sent"));
        };
        if Protocol::of(&request) != *protocol {
            return Err(io::Error::other("request sent on the wrong protocol"));
        }
        io.write_all(&encode_request(&request)?).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        protocol: &Protocol,
        io: &mut T,
        response: WireResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_response(*protocol, &response)?)
            .await?;
        io.close().await
    }
}

/// The metadata response's SSZ.
pub fn metadata_ssz(metadata: &MetaData) -> Vec<u8> {
    metadata.as_ssz_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn limits() -> Limits {
        Limits {
            max_payload_size: 10 * 1024 * 1024,
            max_request_blocks: 128,
            max_request_data_column_sidecars: 16384,
        }
    }

    fn read_req(protocol: Protocol, bytes: &[u8]) -> io::Result<Request> {
        let mut io = bytes;
        block_on(read_request(protocol, &mut io, &limits()))
    }

    fn read_resp(protocol: Protocol, bytes: &[u8]) -> io::Result<WireResponse> {
        let mut io = bytes;
        block_on(read_response(protocol, &mut io, &limits()))
    }

    #[test]
    fn varint_round_trip_and_rejects_overlong() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            encode_varint(v, &mut out);
            let mut io = out.as_slice();
            assert_eq!(block_on(read_varint(&mut io)).unwrap(), v);
            assert!(io.is_empty());
        }
        // 300 = 0xac 0x02 (the protobuf documentation's example).
        let mut out = Vec::new();
        encode_varint(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        let mut io: &[u8] = &[0xff; 11];
        assert!(block_on(read_varint(&mut io)).is_err());
        let mut io: &[u8] = &[0x80, 0x00];
        assert!(block_on(read_varint(&mut io)).is_err(), "non-minimal");
    }

    #[test]
    fn requests_round_trip() {
        let status = StatusMessage {
            fork_digest: ForkDigest::from([1, 2, 3, 4]),
            finalized_root: Root::repeat_byte(5),
            finalized_epoch: 6,
            head_root: Root::repeat_byte(7),
            head_slot: 8,
            earliest_available_slot: 9,
        };
        let requests = [
            Request::Status(status),
            Request::Goodbye(2),
            Request::Ping(42),
            Request::MetaData,
            Request::BlocksByRange(BlocksByRangeRequest {
                start_slot: 10,
                count: 64,
                step: 1,
            }),
            Request::BlocksByRoot(vec![Root::repeat_byte(1), Root::repeat_byte(2)]),
            Request::DataColumnsByRange(DataColumnsByRangeRequest {
                start_slot: 3,
                count: 4,
                columns: vec![0, 5, 127],
            }),
            Request::DataColumnsByRoot(vec![DataColumnsByRootIdentifier {
                block_root: Root::repeat_byte(3),
                columns: vec![1, 2],
            }]),
        ];
        for request in requests {
            let protocol = Protocol::of(&request);
            let bytes = encode_request(&request).unwrap();
            assert_eq!(read_req(protocol, &bytes).unwrap(), request, "{protocol:?}");
        }
        // The Status v2 request is 92 SSZ bytes: varint 92 = 0x5c then the stream identifier.
        let bytes = encode_request(&Request::Status(StatusMessage::default())).unwrap();
        assert_eq!(bytes[0], 92);
        assert_eq!(&bytes[1..11], &STREAM_IDENTIFIER);
    }

    #[test]
    fn rejects_bad_request_lengths_and_frames() {
        // Status with a declared length of 91.
        let mut bytes = Vec::new();
        encode_payload(&[0u8; 91], &mut bytes).unwrap();
        assert!(read_req(Protocol::Status, &bytes).is_err());
        // Too many roots.
        let roots = vec![Root::ZERO; 129];
        let bytes = encode_request(&Request::BlocksByRoot(roots)).unwrap();
        assert!(read_req(Protocol::BlocksByRoot, &bytes).is_err());
        // Roots not a multiple of 32 bytes.
        let mut bytes = Vec::new();
        encode_payload(&[0u8; 33], &mut bytes).unwrap();
        assert!(read_req(Protocol::BlocksByRoot, &bytes).is_err());
        // A valid header but the frame body corrupted (CRC mismatch).
        let mut bytes = encode_request(&Request::Ping(7)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(read_req(Protocol::Ping, &bytes).is_err());
        // Raw (block-format) snappy instead of frames.
        let raw = snap::raw::Encoder::new()
            .compress_vec(&7u64.to_le_bytes())
            .unwrap();
        let mut bytes = vec![8];
        bytes.extend_from_slice(&raw);
        assert!(read_req(Protocol::Ping, &bytes).is_err());
        // Truncated stream.
        let bytes = encode_request(&Request::Ping(7)).unwrap();
        assert!(read_req(Protocol::Ping, &bytes[..bytes.len() - 2]).is_err());
        // Frames that decompress to more than the declared length.
        let mut bytes = vec![8];
        bytes.extend_from_slice(&frame_compress(&[0u8; 16]).unwrap());
        assert!(read_req(Protocol::Ping, &bytes).is_err());
        // A declared block length beyond MAX_PAYLOAD_SIZE is refused before any payload.
        let mut bytes = vec![0];
        encode_varint(10 * 1024 * 1024 + 1, &mut bytes);
        assert!(read_resp(Protocol::BlocksByRange, &bytes).is_err());
    }

    #[test]
    fn rejects_compression_bombs() {
        // A small declared length followed by a huge (highly compressible) frame stream: the
        // reader stops at the declared length's encoded bound.
        let mut bytes = vec![0, 1, 2, 3, 4];
        encode_varint(100, &mut bytes);
        bytes.extend_from_slice(&frame_compress(&vec![0u8; 1 << 20]).unwrap());
        assert!(read_resp(Protocol::BlocksByRange, &bytes).is_err());
    }

    #[test]
    fn responses_round_trip() {
        let chunk = |b: u8, n: usize| ResponseChunk {
            context: Some(ForkDigest::from([9, 9, 9, 9])),
            ssz: vec![b; n],
        };
        let response = WireResponse {
            chunks: vec![chunk(1, 100), chunk(2, 200_000), chunk(3, 1)],
            error: None,
        };
        let bytes = encode_response(Protocol::BlocksByRange, &response).unwrap();
        assert_eq!(
            read_resp(Protocol::BlocksByRange, &bytes).unwrap(),
            response
        );
        // Chunks then an error.
        let response = WireResponse {
            chunks: vec![chunk(1, 10)],
            error: Some(RpcErrorResponse {
                code: RpcErrorCode::ResourceUnavailable,
                message: "pruned".into(),
            }),
        };
        let bytes = encode_response(Protocol::BlocksByRoot, &response).unwrap();
        assert_eq!(read_resp(Protocol::BlocksByRoot, &bytes).unwrap(), response);
        // Status: no context bytes.
        let status = ResponseChunk {
            context: None,
            ssz: StatusMessage::default().as_ssz_bytes(),
        };
        let response = WireResponse {
            chunks: vec![status],
            error: None,
        };
        let bytes = encode_response(Protocol::Status, &response).unwrap();
        assert_eq!(bytes[0], 0);
        assert_eq!(bytes[1], 92);
        assert_eq!(read_resp(Protocol::Status, &bytes).unwrap(), response);
        // Two status chunks are one too many.
        let mut twice = bytes.clone();
        twice.extend_from_slice(&bytes);
        assert!(read_resp(Protocol::Status, &twice).is_err());
        // An error message is truncated to 256 bytes.
        let long = WireResponse::error(RpcErrorCode::InvalidRequest, "x".repeat(1000));
        let bytes = encode_response(Protocol::Ping, &long).unwrap();
        let read = read_resp(Protocol::Ping, &bytes).unwrap();
        assert_eq!(read.error.unwrap().message.len(), 256);
        // Lighthouse's rate-limited code 139 maps to ServerError with the code kept.
        let mut bytes = vec![139];
        encode_payload(b"slow down", &mut bytes).unwrap();
        let read = read_resp(Protocol::Ping, &bytes).unwrap();
        let err = read.error.unwrap();
        assert_eq!(err.code, RpcErrorCode::ServerError);
        assert!(err.message.contains("139"));
    }

    #[test]
    fn protocol_ids() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_id(p.protocol_id()), Some(p));
            assert!(p.protocol_id().starts_with("/eth2/beacon_chain/req/"));
            assert!(p.protocol_id().ends_with("/ssz_snappy"));
        }
    }
}
