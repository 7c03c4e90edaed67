//! The standard Beacon API (tiny_http), its event stream, and the Prometheus metrics endpoint.
