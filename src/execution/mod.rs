//! The execution layer side: the Engine API client (JSON-RPC over HTTP, JWT HS256) and
//! `ember mock-el`, a mock execution client for devnets.
