//! Preset-independent HTTP plumbing of the Beacon API on tiny_http: requests parsed into typed
//! parts (with length limits), replies with the standard error body, content negotiation, the
//! bounded worker pool, the bounded SSE streams, and shutdown.
//!
//! Threads: `workers` request threads (each takes one request at a time from tiny_http's queue)
//! plus at most `max_sse_subscribers` event-stream threads. tiny_http itself adds an accept
//! thread and one reader thread per open connection (its internal pool, which it grows on demand
//! and shrinks when idle; tiny_http 0.12 offers no bound on it) — why the API binds 127.0.0.1 by
//! default: it is not meant to face untrusted networks.

use crate::api::events::{Event, Topic};
use crate::api::metrics::Metrics;
use crate::api::types::ParamError;
use crate::api::{ApiConfig, ApiError, ApiServer};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::broadcast;

/// Longest request URL (path + query) accepted; longer get 414. 64 validator public keys in a
/// query (the spec's `maxItems`) are ~6.4 KB.
pub const MAX_URL_LEN: usize = 8192;
/// Most `key=value` pairs accepted in a query string.
pub const MAX_QUERY_PAIRS: usize = 128;
/// How often idle workers and SSE threads look at the shutdown flag.
const POLL: Duration = Duration::from_millis(200);
/// How long shutdown waits for event-stream threads.
const SSE_JOIN_DEADLINE: Duration = Duration::from_secs(2);
/// An SSE comment is sent after this long without events so dead clients are noticed (the
/// write fails) and proxies keep the stream open.
const SSE_KEEPALIVE: Duration = Duration::from_secs(10);

/// HTTP methods the API distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Other,
}

/// Response body formats (beacon-APIs: `Accept: application/json` or `application/octet-stream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ssz,
}

/// A parsed request.
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Req {
    /// The single value of `name` (a repeated key is a 400).
    pub fn query_one(&self, name: &'static str) -> Result<Option<&str>, Reply> {
        let mut values = self.query.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(Reply::bad_request(format!(
                "query parameter `{name}` given more than once"
            )));
        }
        Ok(first)
    }

    /// Every value of `name`, from repeated keys and comma-separated lists (empty items
    /// dropped), at most `max` (more: `too_many_status`, e.g. 414 for validator ids).
    pub fn query_list(
        &self,
        name: &'static str,
        max: usize,
        too_many_status: u16,
    ) -> Result<Vec<&str>, Reply> {
        let mut out = Vec::new();
        for (_, v) in self.query.iter().filter(|(k, _)| k == name) {
            for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                out.push(item);
                if out.len() > max {
                    return Err(Reply::error(
                        too_many_status,
                        format!("too many `{name}` values (at most {max})"),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// `Accept` negotiation: SSZ when the client prefers `application/octet-stream` and the
    /// endpoint offers it; JSON when it accepts JSON (or anything, or says nothing); 406 else.
    pub fn format(&self, ssz_offered: bool) -> Result<Format, Reply> {
        let Some(accept) = self.accept.as_deref() else {
            return Ok(Format::Json);
        };
        let mut best: Option<(f32, Format)> = None;
        for item in accept.split(',').take(32) {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "application/octet-stream" if ssz_offered => Format::Ssz,
                "application/json" | "application/*" | "*/*" => Format::Json,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
        best.map(|(_, f)| f).ok_or_else(|| {
            Reply::error(
                406,
                format!("cannot produce any of the accepted media types `{accept}`"),
            )
        })
    }

    /// The JSON body of a POST (415 unless `Content-Type: application/json`, 400 if malformed).
    pub fn json_body<T: serde::de::DeserializeOwned>(&self) -> Result<T, Reply> {
        let ct = self.content_type.as_deref().unwrap_or("");
        if !ct
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(Reply::error(
                415,
                format!("unsupported content type `{ct}`: expected application/json"),
            ));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Reply::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// A response ready to send.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(value: &Value) -> Self {
        Reply {
            status: 200,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }

    pub fn ssz(bytes: Vec<u8>) -> Self {
        Reply {
            status: 200,
            content_type: "application/octet-stream",
            body: bytes,
            headers: Vec::new(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            content_type: "text/plain",
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// beacon-APIs `ErrorMessage`: `{"code": <status>, "message": "..."}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: json!({"code": status, "message": message.into()})
                .to_string()
                .into_bytes(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::error(400, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::error(404, message)
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<ParamError> for Reply {
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::TooMany { .. } => Reply::error(414, e.to_string()),
            _ => Reply::bad_request(e.to_string()),
        }
    }
}

impl From<crate::api::types::BackendError> for Reply {
    fn from(e: crate::api::types::BackendError) -> Self {
        use crate::api::types::BackendError;
        match e {
            BackendError::Unavailable(m) => Reply::error(503, m),
            BackendError::Internal(m) => {
                tracing::warn!(error = %m, "Beacon API request failed inside the node");
                Reply::error(500, m)
            }
        }
    }
}

/// What a handler decided: a reply, or an event stream for these topics.
pub enum Outcome {
    Reply(Reply),
    Stream {
        receiver: broadcast::Receiver<Event>,
        topics: HashSet<Topic>,
    },
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Self {
        Outcome::Reply(r)
    }
}

/// Decodes `%XX` escapes and `+` (query strings); invalid escapes are kept literally.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                });
                if let Some(v) = hex {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b);
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn header_value(request: &tiny_http::Request, name: &'static str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

/// Turns a tiny_http request into a [`Req`], or the error reply for a malformed one.
fn parse_request(request: &mut tiny_http::Request, max_body: usize) -> Result<Req, Reply> {
    let url = request.url();
    if url.len() > MAX_URL_LEN {
        return Err(Reply::error(
            414,
            format!("request URL longer than {MAX_URL_LEN} bytes"),
        ));
    }
    let (path, query_str) = url.split_once('?').unwrap_or((url, ""));
    let path = path.trim_end_matches('/').to_string();
    let mut query = Vec::new();
    for pair in query_str.split('&').filter(|p| !p.is_empty()) {
        if query.len() >= MAX_QUERY_PAIRS {
            return Err(Reply::error(
                414,
                format!("more than {MAX_QUERY_PAIRS} query parameters"),
            ));
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.push((percent_decode(k), percent_decode(v)));
    }
    let method = match request.method() {
        tiny_http::Method::Get => Method::Get,
        tiny_http::Method::Post => Method::Post,
        _ => Method::Other,
    };
    let mut body = Vec::new();
    if method == Method::Post {
        if request.body_length().is_some_and(|n| n > max_body) {
            return Err(Reply::error(
                413,
                format!("request body larger than {max_body} bytes"),
            ));
        }
        // Chunked bodies have no announced length: read one byte past the limit to tell.
        let limit = u64::try_from(max_body)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        request
            .as_reader()
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| Reply::bad_request(format!("cannot read the request body: {e}")))?;
        if body.len() > max_body {
            return Err(Reply::error(
                413,
                format!("request body larger than {max_body} bytes"),
            ));
        }
    }
    Ok(Req {
        method,
        path,
        query,
        accept: header_value(request, "Accept"),
        content_type: header_value(request, "Content-Type"),
        body,
    })
}

fn to_response(reply: Reply) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    // Content-Length rather than chunked encoding at any size: the body is complete in memory,
    // and every client handles a length more simply.
    let mut response = tiny_http::Response::from_data(reply.body)
        .with_status_code(reply.status)
        .with_chunked_threshold(usize::MAX);
    let mut headers = vec![("Content-Type", reply.content_type.to_string())];
    headers.extend(reply.headers);
    for (name, value) in headers {
        // Header values are built by the API from ASCII (roots, fork names, numbers); a value
        // that is not is dropped rather than sent.
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    response
}

/// The request handler of one server: a preset's router over its backend.
pub type Handler = Arc<dyn Fn(&Req) -> Outcome + Send + Sync>;

struct Shared {
    server: tiny_http::Server,
    handler: Handler,
    stop: AtomicBool,
    sse_active: AtomicUsize,
    sse_threads: Mutex<Vec<JoinHandle<()>>>,
    config: ApiConfig,
}

/// Binds and starts the worker threads.
pub fn start(handler: Handler, config: ApiConfig) -> Result<ApiServer, ApiError> {
    let addr = SocketAddr::new(config.address, config.port);
    let server = tiny_http::Server::http(addr).map_err(|e| ApiError::Bind {
        address: addr.to_string(),
        reason: e.to_string(),
    })?;
    let local_addr = server.server_addr().to_ip().ok_or_else(|| ApiError::Bind {
        address: addr.to_string(),
        reason: "not an IP listener".into(),
    })?;
    let workers = config.workers.max(1);
    let shared = Arc::new(Shared {
        server,
        handler,
        stop: AtomicBool::new(false),
        sse_active: AtomicUsize::new(0),
        sse_threads: Mutex::new(Vec::new()),
        config,
    });
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let worker_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("api-worker-{i}"))
            .spawn(move || worker(&worker_shared));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                stop_all(&shared, threads);
                return Err(ApiError::Thread(e));
            }
        }
    }
    tracing::info!(%local_addr, workers, "Beacon API listening");
    Ok(ApiServer {
        local_addr,
        shutdown: Some(Box::new(move || stop_all(&shared, threads))),
    })
}

fn stop_all(shared: &Shared, workers: Vec<JoinHandle<()>>) {
    shared.stop.store(true, Ordering::Relaxed);
    for _ in 0..workers.len() {
        shared.server.unblock();
    }
    for t in workers {
        let _ = t.join();
    }
    let sse = std::mem::take(&mut *shared.sse_threads.lock().unwrap_or_else(|p| p.into_inner()));
    // A stream thread sees the stop flag within POLL, unless it is blocked writing to a client
    // that stopped reading (tiny_http exposes no socket to time that write out): such a thread
    // is left behind after SSE_JOIN_DEADLINE rather than hanging the node's shutdown. It ends
    // when the client reads or disconnects.
    let deadline = std::time::Instant::now() + SSE_JOIN_DEADLINE;
    for t in sse {
        while !t.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            tracing::warn!(
                "an event stream is blocked on a client that does not read; left behind"
            );
        }
    }
}

fn worker(shared: &Arc<Shared>) {
    let metrics = Metrics::global();
    while !shared.stop.load(Ordering::Relaxed) {
        let mut request = match shared.server.recv_timeout(POLL) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "Beacon API listener failed");
                return;
            }
        };
        metrics.beacon_http_api_requests_total.inc();
        let outcome = match parse_request(&mut request, shared.config.max_body_bytes) {
            Ok(req) => {
                tracing::debug!(method = ?req.method, path = %req.path, "Beacon API request");
                // A handler bug must cost one request, not a worker thread.
                let handler = &shared.handler;
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&req)))
                    .unwrap_or_else(|_| {
                        tracing::error!(path = %req.path, "Beacon API handler panicked");
                        Reply::error(500, "internal error").into()
                    })
            }
            Err(reply) => reply.into(),
        };
        match outcome {
            Outcome::Reply(reply) => {
                if (200..300).contains(&reply.status) {
                    metrics.beacon_http_api_successes_total.inc();
                }
                if let Err(e) = request.respond(to_response(reply)) {
                    tracing::debug!(error = %e, "Beacon API client went away");
                }
            }
            Outcome::Stream { receiver, topics } => start_stream(shared, request, receiver, topics),
        }
    }
}

/// Hands an `/eth/v1/events` request to its own thread, if fewer than `max_sse_subscribers`
/// streams are open (else 503).
fn start_stream(
    shared: &Arc<Shared>,
    request: tiny_http::Request,
    receiver: broadcast::Receiver<Event>,
    topics: HashSet<Topic>,
) {
    let max = shared.config.max_sse_subscribers;
    let admitted = shared
        .sse_active
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok();
    if !admitted {
        let _ = request.respond(to_response(Reply::error(
            503,
            format!("too many event stream subscribers (at most {max})"),
        )));
        return;
    }
    Metrics::global().beacon_http_api_successes_total.inc();
    Metrics::global().ember_sse_subscribers.inc();
    let thread_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("api-sse".into())
        .spawn(move || {
            let chunked = *request.http_version() > tiny_http::HTTPVersion(1, 0);
            let writer = request.into_writer();
            stream_events(&thread_shared.stop, writer, chunked, receiver, &topics);
            thread_shared.sse_active.fetch_sub(1, Ordering::AcqRel);
            Metrics::global().ember_sse_subscribers.dec();
        });
    match spawned {
        Ok(t) => {
            let mut threads = shared.sse_threads.lock().unwrap_or_else(|p| p.into_inner());
            // Forget threads that have ended, so the list stays within the subscriber bound.
            threads.retain(|t| !t.is_finished());
            threads.push(t);
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start an event stream thread");
            shared.sse_active.fetch_sub(1, Ordering::AcqRel);
            Metrics::global().ember_sse_subscribers.dec();
        }
    }
}

/// Writes one piece of the stream: an HTTP/1.1 chunk, or the raw bytes for HTTP/1.0.
fn write_piece(writer: &mut dyn Write, chunked: bool, data: &[u8]) -> std::io::Result<()> {
    if chunked {
        write!(writer, "{:x}\r\n", data.len())?;
        writer.write_all(data)?;
        writer.write_all(b"\r\n")?;
    } else {
        writer.write_all(data)?;
    }
    writer.flush()
}

/// Writes the SSE response until the client goes away, the subscriber lags (it is dropped:
/// the node never waits for it), the bus closes, or the server stops.
///
/// HTTP/1.1 streams are chunked and end with the last chunk, so the client sees the end of the
/// response even though tiny_http keeps the connection open for a next request (it owns the
/// socket; only the client's `Connection: close` or HTTP/1.0 makes it close). HTTP/1.0 streams
/// are raw and end when tiny_http closes the connection.
fn stream_events(
    stop: &AtomicBool,
    mut writer: Box<dyn Write + Send>,
    chunked: bool,
    mut receiver: broadcast::Receiver<Event>,
    topics: &HashSet<Topic>,
) {
    let head = format!(
        "HTTP/1.{} 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n{}\r\n",
        u8::from(chunked),
        if chunked {
            "Transfer-Encoding: chunked\r\n"
        } else {
            "Connection: close\r\n"
        }
    );
    if writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.flush())
        .is_err()
    {
        return;
    }
    stream_loop(stop, &mut *writer, chunked, &mut receiver, topics);
    if chunked {
        // The last chunk: the response is complete.
        let _ = writer.write_all(b"0\r\n\r\n").and_then(|()| writer.flush());
    }
}

fn stream_loop(
    stop: &AtomicBool,
    writer: &mut dyn Write,
    chunked: bool,
    receiver: &mut broadcast::Receiver<Event>,
    topics: &HashSet<Topic>,
) {
    // A current-thread runtime with only a timer: waits on the broadcast receiver without
    // polling, and wakes every POLL to look at the stop flag.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start an event stream");
            return;
        }
    };
    runtime.block_on(async {
        let mut idle = Duration::ZERO;
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let message = match tokio::time::timeout(POLL, receiver.recv()).await {
                Err(_) => {
                    idle += POLL;
                    if idle < SSE_KEEPALIVE {
                        continue;
                    }
                    ": keepalive\n\n".to_string()
                }
                Ok(Ok(event)) if topics.contains(&event.topic()) => event.to_sse(),
                Ok(Ok(_)) => continue,
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(missed = n, "event stream subscriber too slow: dropped");
                    return;
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
            };
            idle = Duration::ZERO;
            if write_piece(writer, chunked, message.as_bytes()).is_err() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(accept: Option<&str>) -> Req {
        Req {
            method: Method::Get,
            path: String::new(),
            query: vec![
                ("id".into(), "1,2".into()),
                ("id".into(), "3".into()),
                ("slot".into(), "4".into()),
            ],
            accept: accept.map(str::to_string),
            content_type: None,
            body: Vec::new(),
        }
    }

    #[test]
    fn negotiation_and_queries() {
        assert_eq!(req(None).format(true).ok(), Some(Format::Json));
        assert_eq!(
            req(Some("application/octet-stream")).format(true).ok(),
            Some(Format::Ssz)
        );
        assert_eq!(
            req(Some("application/octet-stream"))
                .format(false)
                .map_err(|r| r.status)
                .err(),
            Some(406)
        );
        assert_eq!(
            req(Some(
                "application/octet-stream;q=0.5, application/json;q=0.9"
            ))
            .format(true)
            .ok(),
            Some(Format::Json)
        );
        assert_eq!(
            req(Some("text/html"))
                .format(true)
                .map_err(|r| r.status)
                .err(),
            Some(406)
        );
        let r = req(None);
        assert_eq!(r.query_list("id", 3, 414).ok(), Some(vec!["1", "2", "3"]));
        assert_eq!(
            r.query_list("id", 2, 414).map_err(|r| r.status).err(),
            Some(414)
        );
        assert_eq!(r.query_one("slot").ok(), Some(Some("4")));
        assert_eq!(r.query_one("id").map_err(|r| r.status).err(), Some(400));
        assert_eq!(percent_decode("a%2Cb+c%zz"), "a,b c%zz");
    }
}
