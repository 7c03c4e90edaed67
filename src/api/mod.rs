//! The standard Beacon API (tiny_http), its event stream, and the Prometheus metrics endpoint.
//!
//! - [`types`]: preset-independent ids (`block_id`, `state_id`, `validator_id`) and what the node
//!   reports (genesis, head, fork choice, sync status, identity).
//! - [`events`]: [`Event`] and the bounded [`EventBus`] (`/eth/v1/events`).
//! - [`mainnet`] / [`minimal`]: the per-preset [`minimal::Backend`] trait the node implements,
//!   the handlers, [`minimal::serve`], [`minimal::head_event`], and
//!   [`minimal::store_backend`] (block/state lookups over the store, ready to delegate to).
//! - [`metrics`]: the Prometheus registry (beacon-metrics names) and its own HTTP endpoint.
//! - [`config`]: the `/eth/v1/config/*` bodies.
//!
//! # Using it from the node
//! ```ignore
//! use ember::api::{self, minimal::{Backend, serve, store_backend}, ApiConfig, EventBus};
//! struct NodeApi { store: Arc<BeaconStore>, bus: EventBus, /* fork choice handle, clock */ }
//! impl Backend for NodeApi {
//!     fn block(&self, id: BlockId) -> Result<Option<BlockResponse>, BackendError> {
//!         // The store answers; the node only sets execution_optimistic from fork choice.
//!         store_backend::block_by_id(&self.store, id)
//!     }
//!     fn events(&self) -> broadcast::Receiver<Event> { self.bus.subscribe() }
//!     /* ... */
//! }
//! let server = serve(Arc::new(node_api), ApiConfig { port: args.http_port, workers: 1, ..Default::default() })?;
//! bus.publish(api::minimal::head_event(&state, root, state_root, epoch_changed, optimistic));
//! api::metrics::Metrics::global().set_head(slot, &root);
//! let metrics_server = api::metrics::serve(args.http_address, args.metrics_port)?;
//! server.shutdown(); // or drop
//! ```

pub mod config;
pub mod events;
mod http;
pub mod mainnet;
pub mod metrics;
pub mod minimal;
pub mod types;

pub use events::{Event, EventBus, Topic};

use std::net::{IpAddr, Ipv4Addr};

/// Default `--http-port` (the port every client uses for the Beacon API).
pub const DEFAULT_HTTP_PORT: u16 = 5052;
/// Default worker threads: requests are short and CPU-bound (SSZ/JSON encoding); two keep one
/// slow state request from stalling everything else on a 4-core board.
pub const DEFAULT_WORKERS: usize = 2;
/// Default bound of concurrent `/eth/v1/events` subscribers (one thread each).
pub const DEFAULT_MAX_SSE_SUBSCRIBERS: usize = 16;

/// How the Beacon API server is set up.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `--http-address` (default 127.0.0.1: the API is not meant to face the internet).
    pub address: IpAddr,
    /// `--http-port` (default 5052; 0 picks a free port, see [`ApiServer::local_addr`]).
    pub port: u16,
    /// Threads answering requests (at least 1; `--single-thread` asks for 1).
    pub workers: usize,
    /// Concurrent SSE subscribers; more get 503 (each holds one thread).
    pub max_sse_subscribers: usize,
    /// Largest request body accepted (POST validators), in bytes; larger get 413.
    pub max_body_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_HTTP_PORT,
            workers: DEFAULT_WORKERS,
            max_sse_subscribers: DEFAULT_MAX_SSE_SUBSCRIBERS,
            max_body_bytes: 1 << 20,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot bind the Beacon API to {address}: {reason}")]
    Bind { address: String, reason: String },
    #[error("cannot start a server thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A running server; [`ApiServer::shutdown`] (or drop) stops it and joins its threads.
pub struct ApiServer {
    local_addr: std::net::SocketAddr,
    shutdown: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl ApiServer {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// Stops accepting requests, lets in-flight ones finish, ends SSE streams, joins threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            stop();
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}
