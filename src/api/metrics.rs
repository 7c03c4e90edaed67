//! Prometheus metrics: the beacon-metrics interop names (github.com/ethereum/beacon-metrics,
//! `metrics.md` and `mainnet/mainnet-metrics.md`), process metrics, and Ember's own, served as
//! the Prometheus text format on `GET /metrics` (`--metrics-port`, default 5054).
//!
//! One process-wide registry ([`Metrics::global`]): the node sets the chain values as they
//! change (typed handles, no string lookups on the hot path), the Beacon API counts its
//! requests, and process figures are read from the kernel when a scrape arrives.

use crate::consensus::primitives::{Epoch, Hash256, Slot};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// Default `--metrics-port`.
pub const DEFAULT_METRICS_PORT: u16 = 5054;

/// beacon-metrics: "All `*_root` values are converted to signed 64-bit integers utilizing the
/// last 8 bytes interpreted as little-endian" (`int.from_bytes(root[24:32], 'little', signed=True)`).
pub fn root_to_i64(root: &Hash256) -> i64 {
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&root.as_slice()[24..32]);
    i64::from_le_bytes(tail)
}

/// `beacon_sync_state` values (beacon-metrics: 0 not syncing, 1 synced, 2 syncing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    NotSyncing = 0,
    Synced = 1,
    Syncing = 2,
}

/// The store figures [`Metrics::set_state_cache`] publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCacheFigures {
    pub states: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub replays: u64,
    pub replayed_blocks: u64,
}

/// Every metric Ember exports, as typed handles (cheap atomics; set them from anywhere).
pub struct Metrics {
    registry: Registry,
    // ---- beacon-metrics interop metrics ----
    /// `libp2p_peers`: connected peers (0 until networking lands).
    pub libp2p_peers: IntGauge,
    /// `beacon_slot`: the wall-clock slot.
    pub beacon_slot: IntGauge,
    pub beacon_head_slot: IntGauge,
    pub beacon_head_root: IntGauge,
    pub beacon_finalized_epoch: IntGauge,
    pub beacon_finalized_root: IntGauge,
    pub beacon_current_justified_epoch: IntGauge,
    pub beacon_current_justified_root: IntGauge,
    pub beacon_previous_justified_epoch: IntGauge,
    pub beacon_previous_justified_root: IntGauge,
    pub beacon_current_active_validators: IntGauge,
    pub beacon_reorgs_total: IntCounter,
    /// A gauge in beacon-metrics despite the name: set to `state.eth1_deposit_index` (Electra:
    /// plus deposit requests processed), not incremented.
    pub beacon_processed_deposits_total: IntGauge,
    pub beacon_pending_deposits: IntGauge,
    pub beacon_sync_state: IntGauge,
    pub local_validator_count: IntGauge,
    pub beacon_block_proposed_total: IntCounter,
    pub beacon_attestations_published_total: IntCounter,
    pub beacon_http_api_requests_total: IntCounter,
    pub beacon_http_api_successes_total: IntCounter,
    // ---- process (refreshed on every scrape) ----
    process_resident_memory_bytes: IntGauge,
    process_virtual_memory_bytes: IntGauge,
    process_cpu_seconds_total: Gauge,
    process_open_fds: IntGauge,
    process_max_fds: IntGauge,
    process_threads: IntGauge,
    process_start_time_seconds: IntGauge,
    // ---- Ember ----
    /// Time to import one block (decode to fork-choice update), seconds.
    pub ember_block_import_seconds: Histogram,
    /// Time to produce one block (state advance, packing, payload), seconds.
    pub ember_block_production_seconds: Histogram,
    pub ember_state_cache_states: IntGauge,
    pub ember_state_cache_bytes: IntGauge,
    pub ember_state_cache_max_bytes: IntGauge,
    /// Monotonic counts from the store's own counters, published as gauges because the store
    /// owns the count (a Prometheus counter can only be incremented).
    pub ember_state_cache_hits: IntGauge,
    pub ember_state_cache_misses: IntGauge,
    pub ember_store_replays: IntGauge,
    pub ember_store_replayed_blocks: IntGauge,
    pub ember_fork_choice_nodes: IntGauge,
    pub ember_sse_subscribers: IntGauge,
    /// Gossip messages by topic kind (subnet numbers dropped, so at most 10 kinds) and outcome:
    /// `received`, `accepted`, `ignored`, `rejected`, `dropped` (gossip queue full).
    pub ember_gossip_messages_total: IntCounterVec,
    /// Inbound req/resp requests refused by the per-peer rate limiter.
    pub ember_rpc_rate_limited_total: IntCounter,
    /// Peers banned by the peer manager.
    pub ember_peers_banned_total: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Buckets for block import/production: 5 ms to ~10 s (a Pi 4 imports a mainnet block in
/// ~100-500 ms; an epoch-boundary block can take seconds).
fn duration_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.005, 2.0, 12).unwrap_or_else(|_| vec![0.01, 0.1, 1.0, 10.0])
}

impl Metrics {
    /// A fresh registry with every metric registered (tests; the node uses [`Metrics::global`]).
    pub fn new() -> Self {
        let registry = Registry::new();
        macro_rules! int_gauge {
            ($name:literal, $help:literal) => {{
                let m = IntGauge::new($name, $help).expect("valid metric name");
                registry
                    .register(Box::new(m.clone()))
                    .expect("unique metric name");
                m
            }};
        }
        macro_rules! int_counter {
            ($name:literal, $help:literal) => {{
                let m = IntCounter::new($name, $help).expect("valid metric name");
                registry
                    .register(Box::new(m.clone()))
                    .expect("unique metric name");
                m
            }};
        }
        macro_rules! histogram {
            ($name:literal, $help:literal) => {{
                let m = Histogram::with_opts(
                    HistogramOpts::new($name, $help).buckets(duration_buckets()),
                )
                .expect("valid histogram");
                registry
                    .register(Box::new(m.clone()))
                    .expect("unique metric name");
                m
            }};
        }
        let cpu = Gauge::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))
        .expect("valid metric name");
        registry
            .register(Box::new(cpu.clone()))
            .expect("unique metric name");
        let gossip = IntCounterVec::new(
            Opts::new(
                "ember_gossip_messages_total",
                "Gossip messages by topic kind and outcome",
            ),
            &["kind", "outcome"],
        )
        .expect("valid metric name");
        registry
            .register(Box::new(gossip.clone()))
            .expect("unique metric name");
        let metrics = Metrics {
            ember_gossip_messages_total: gossip,
            ember_rpc_rate_limited_total: int_counter!(
                "ember_rpc_rate_limited_total",
                "Inbound req/resp requests refused by the per-peer rate limiter"
            ),
            ember_peers_banned_total: int_counter!(
                "ember_peers_banned_total",
                "Peers banned by the peer manager"
            ),
            libp2p_peers: int_gauge!("libp2p_peers", "Tracks the total number of libp2p peers"),
            beacon_slot: int_gauge!(
                "beacon_slot",
                "Latest slot of the beacon chain (wall clock)"
            ),
            beacon_head_slot: int_gauge!(
                "beacon_head_slot",
                "Slot of the head block of the beacon chain"
            ),
            beacon_head_root: int_gauge!(
                "beacon_head_root",
                "Root of the head block of the beacon chain (last 8 bytes, little-endian i64)"
            ),
            beacon_finalized_epoch: int_gauge!("beacon_finalized_epoch", "Current finalized epoch"),
            beacon_finalized_root: int_gauge!(
                "beacon_finalized_root",
                "Current finalized root (last 8 bytes, little-endian i64)"
            ),
            beacon_current_justified_epoch: int_gauge!(
                "beacon_current_justified_epoch",
                "Current justified epoch"
            ),
            beacon_current_justified_root: int_gauge!(
                "beacon_current_justified_root",
                "Current justified root (last 8 bytes, little-endian i64)"
            ),
            beacon_previous_justified_epoch: int_gauge!(
                "beacon_previous_justified_epoch",
                "Current previously justified epoch"
            ),
            beacon_previous_justified_root: int_gauge!(
                "beacon_previous_justified_root",
                "Current previously justified root (last 8 bytes, little-endian i64)"
            ),
            beacon_current_active_validators: int_gauge!(
                "beacon_current_active_validators",
                "Current total active validators"
            ),
            beacon_reorgs_total: int_counter!(
                "beacon_reorgs_total",
                "Total number of chain reorganizations"
            ),
            beacon_processed_deposits_total: int_gauge!(
                "beacon_processed_deposits_total",
                "Total number of deposits processed"
            ),
            beacon_pending_deposits: int_gauge!(
                "beacon_pending_deposits",
                "Number of pending deposits"
            ),
            beacon_sync_state: int_gauge!(
                "beacon_sync_state",
                "Beacon sync state, 0 for not syncing, 1 for synced, 2 for syncing"
            ),
            local_validator_count: int_gauge!(
                "local_validator_count",
                "Count of the number of local validators"
            ),
            beacon_block_proposed_total: int_counter!(
                "beacon_block_proposed_total",
                "Total number of blocks proposed"
            ),
            beacon_attestations_published_total: int_counter!(
                "beacon_attestations_published_total",
                "Total number of attestations published"
            ),
            beacon_http_api_requests_total: int_counter!(
                "beacon_http_api_requests_total",
                "Total number of requests to the HTTP API"
            ),
            beacon_http_api_successes_total: int_counter!(
                "beacon_http_api_successes_total",
                "Total number of successful (2xx) requests to the HTTP API"
            ),
            process_resident_memory_bytes: int_gauge!(
                "process_resident_memory_bytes",
                "Resident memory size in bytes."
            ),
            process_virtual_memory_bytes: int_gauge!(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes."
            ),
            process_cpu_seconds_total: cpu,
            process_open_fds: int_gauge!("process_open_fds", "Number of open file descriptors."),
            process_max_fds: int_gauge!(
                "process_max_fds",
                "Maximum number of open file descriptors."
            ),
            process_threads: int_gauge!("process_threads", "Number of OS threads in the process."),
            process_start_time_seconds: int_gauge!(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds."
            ),
            ember_block_import_seconds: histogram!(
                "ember_block_import_seconds",
                "Time to import one block, from decoding to the fork-choice update"
            ),
            ember_block_production_seconds: histogram!(
                "ember_block_production_seconds",
                "Time to produce one block, from state advance to the signed-ready block"
            ),
            ember_state_cache_states: int_gauge!(
                "ember_state_cache_states",
                "States held by the state cache"
            ),
            ember_state_cache_bytes: int_gauge!(
                "ember_state_cache_bytes",
                "Real bytes held by the state cache (shared nodes counted once)"
            ),
            ember_state_cache_max_bytes: int_gauge!(
                "ember_state_cache_max_bytes",
                "Bound of the state cache from the memory budget"
            ),
            ember_state_cache_hits: int_gauge!(
                "ember_state_cache_hits",
                "State cache hits since start"
            ),
            ember_state_cache_misses: int_gauge!(
                "ember_state_cache_misses",
                "State cache misses since start"
            ),
            ember_store_replays: int_gauge!(
                "ember_store_replays",
                "State rebuilds by block replay since start"
            ),
            ember_store_replayed_blocks: int_gauge!(
                "ember_store_replayed_blocks",
                "Blocks replayed to rebuild states since start"
            ),
            ember_fork_choice_nodes: int_gauge!(
                "ember_fork_choice_nodes",
                "Blocks in the fork-choice tree"
            ),
            ember_sse_subscribers: int_gauge!(
                "ember_sse_subscribers",
                "Open /eth/v1/events streams"
            ),
            registry,
        };
        metrics
            .process_start_time_seconds
            .set(process::start_time_seconds().unwrap_or(0));
        metrics
    }

    /// The process-wide registry (created on first use).
    pub fn global() -> &'static Metrics {
        static GLOBAL: OnceLock<Metrics> = OnceLock::new();
        GLOBAL.get_or_init(Metrics::new)
    }

    /// Head moved (fork choice).
    pub fn set_head(&self, slot: Slot, root: &Hash256) {
        self.beacon_head_slot.set(clamp(slot));
        self.beacon_head_root.set(root_to_i64(root));
    }

    /// Checkpoints of the head state (beacon-metrics samples them "on epoch transition").
    pub fn set_checkpoints(
        &self,
        current_justified: (Epoch, &Hash256),
        previous_justified: (Epoch, &Hash256),
        finalized: (Epoch, &Hash256),
    ) {
        self.beacon_current_justified_epoch
            .set(clamp(current_justified.0));
        self.beacon_current_justified_root
            .set(root_to_i64(current_justified.1));
        self.beacon_previous_justified_epoch
            .set(clamp(previous_justified.0));
        self.beacon_previous_justified_root
            .set(root_to_i64(previous_justified.1));
        self.beacon_finalized_epoch.set(clamp(finalized.0));
        self.beacon_finalized_root.set(root_to_i64(finalized.1));
    }

    /// The store's state-cache and replay figures (`store::{minimal,mainnet}::StoreMetrics`,
    /// one type per preset, hence plain numbers here).
    pub fn set_state_cache(&self, figures: StateCacheFigures) {
        self.ember_state_cache_states.set(clamp(figures.states));
        self.ember_state_cache_bytes.set(clamp(figures.bytes));
        self.ember_state_cache_max_bytes
            .set(clamp(figures.max_bytes));
        self.ember_state_cache_hits.set(clamp(figures.hits));
        self.ember_state_cache_misses.set(clamp(figures.misses));
        self.ember_store_replays.set(clamp(figures.replays));
        self.ember_store_replayed_blocks
            .set(clamp(figures.replayed_blocks));
    }

    pub fn set_sync_state(&self, state: SyncState) {
        self.beacon_sync_state.set(state as i64);
    }

    /// The text exposition of every metric, process figures refreshed first.
    pub fn gather_text(&self) -> String {
        self.refresh_process();
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    fn refresh_process(&self) {
        if let Some(s) = process::sample() {
            self.process_resident_memory_bytes.set(clamp(s.rss_bytes));
            self.process_virtual_memory_bytes.set(clamp(s.vsize_bytes));
            self.process_cpu_seconds_total.set(s.cpu_seconds);
            self.process_open_fds.set(clamp(s.open_fds));
            self.process_max_fds.set(clamp(s.max_fds));
            self.process_threads.set(clamp(s.threads));
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Process figures from the kernel: getrusage(2) for CPU time, getrlimit(2) for the fd limit,
/// /proc/self/{stat,fd} for memory, threads and open fds (Linux; absent elsewhere).
mod process {
    #[derive(Debug, Default)]
    pub struct Sample {
        pub rss_bytes: u64,
        pub vsize_bytes: u64,
        pub cpu_seconds: f64,
        pub open_fds: u64,
        pub max_fds: u64,
        pub threads: u64,
    }

    fn timeval_secs(t: libc::timeval) -> f64 {
        t.tv_sec as f64 + t.tv_usec as f64 / 1e6
    }

    /// Fields of /proc/self/stat after the `(comm)` field (which may contain spaces), so that
    /// `fields[0]` is field 3 (`state`) of proc(5).
    fn stat_fields(text: &str) -> Option<Vec<&str>> {
        let after = &text[text.rfind(')')?.checked_add(1)?..];
        Some(after.split_whitespace().collect())
    }

    fn page_size() -> u64 {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(n).unwrap_or(4096)
    }

    fn ticks_per_second() -> u64 {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(100)
    }

    pub fn sample() -> Option<Sample> {
        let mut s = Sample::default();
        // SAFETY: getrusage writes into the zeroed struct we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            s.cpu_seconds = timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime);
        }
        // SAFETY: getrlimit writes into the zeroed struct we own.
        let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            s.max_fds = limit.rlim_cur;
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            if let Some(f) = stat_fields(&stat) {
                // proc(5): num_threads is field 20, vsize 23, rss (pages) 24.
                let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
                s.threads = field(20).unwrap_or(0);
                s.vsize_bytes = field(23).unwrap_or(0);
                s.rss_bytes = field(24).unwrap_or(0).saturating_mul(page_size());
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            s.open_fds = dir.count() as u64;
        }
        Some(s)
    }

    /// proc(5): `starttime` (field 22, clock ticks after boot) plus `btime` of /proc/stat.
    pub fn start_time_seconds() -> Option<i64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let f = stat_fields(&stat)?;
        let start_ticks: u64 = f.get(22 - 3)?.parse().ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let btime: u64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        i64::try_from(btime.checked_add(start_ticks / ticks_per_second())?).ok()
    }
}

/// Why the metrics server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind the metrics endpoint to {address}: {reason}")]
pub struct MetricsServeError {
    pub address: String,
    pub reason: String,
}

/// The running metrics endpoint; [`MetricsServer::shutdown`] (or drop) stops it.
pub struct MetricsServer {
    local_addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Serves [`Metrics::global`] on `GET /metrics` at `address:port` (one thread: a scrape every
/// few seconds needs no more, and a burst of scrapes queues instead of taking CPU from the node).
pub fn serve(address: IpAddr, port: u16) -> Result<MetricsServer, MetricsServeError> {
    serve_registry(Metrics::global(), address, port)
}

/// [`serve`] for a given registry (tests).
pub fn serve_registry(
    metrics: &'static Metrics,
    address: IpAddr,
    port: u16,
) -> Result<MetricsServer, MetricsServeError> {
    let addr = SocketAddr::new(address, port);
    let server = tiny_http::Server::http(addr).map_err(|e| MetricsServeError {
        address: addr.to_string(),
        reason: e.to_string(),
    })?;
    let local_addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| MetricsServeError {
            address: addr.to_string(),
            reason: "not an IP listener".into(),
        })?;
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || metrics_loop(&server, &stop, metrics))
            .map_err(|e| MetricsServeError {
                address: addr.to_string(),
                reason: e.to_string(),
            })?
    };
    tracing::info!(%local_addr, "metrics endpoint listening");
    Ok(MetricsServer {
        local_addr,
        server,
        stop,
        thread: Some(thread),
    })
}

fn metrics_loop(server: &tiny_http::Server, stop: &AtomicBool, metrics: &Metrics) {
    while !stop.load(Ordering::Relaxed) {
        let request = match server.recv_timeout(Duration::from_millis(500)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint stopped");
                return;
            }
        };
        let path = request.url().split('?').next().unwrap_or("");
        let response = match (request.method(), path) {
            (tiny_http::Method::Get, "/metrics") => {
                tiny_http::Response::from_string(metrics.gather_text()).with_header(header(
                    "Content-Type",
                    "text/plain; version=0.0.4; charset=utf-8",
                ))
            }
            (_, "/metrics") => tiny_http::Response::from_string("method not allowed\n")
                .with_status_code(405)
                .with_header(header("Allow", "GET")),
            _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
        };
        if let Err(e) = request.respond(response) {
            tracing::debug!(error = %e, "metrics client went away");
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    // Only called with ASCII constants; from_bytes fails on non-ASCII input only.
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn root_conversion_per_beacon_metrics() {
        let mut bytes = [0u8; 32];
        bytes[24] = 1;
        assert_eq!(root_to_i64(&Hash256::from(bytes)), 1);
        bytes[31] = 0x80;
        assert!(root_to_i64(&Hash256::from(bytes)) < 0);
    }

    #[test]
    fn serves_text_format_with_standard_names() {
        static M: OnceLock<Metrics> = OnceLock::new();
        let m = M.get_or_init(Metrics::new);
        m.set_head(42, &Hash256::repeat_byte(1));
        m.beacon_reorgs_total.inc();
        m.ember_block_import_seconds.observe(0.02);
        let server = serve_registry(m, IpAddr::from([127, 0, 0, 1]), 0).expect("binds");
        let mut s = std::net::TcpStream::connect(server.local_addr()).expect("connects");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("writes");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("reads");
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        for name in [
            "beacon_head_slot 42",
            "beacon_reorgs_total 1",
            "libp2p_peers 0",
            "beacon_finalized_epoch 0",
            "beacon_current_active_validators 0",
            "beacon_processed_deposits_total 0",
            "ember_block_import_seconds_count 1",
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
        ] {
            assert!(body.contains(name), "missing {name}");
        }
        let rss: i64 = body
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.trim().parse().ok())
            .expect("rss value");
        assert!(rss > 1 << 20, "rss {rss}");
        server.shutdown();
    }
}
