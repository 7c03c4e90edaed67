//! Validator-side code: keys (interop keys for devnets today; EIP-2335 keystores later).

pub mod interop;
