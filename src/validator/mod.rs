//! Validator-side code: keys (interop keys for devnets today; EIP-2335 keystores later),
//! slashing protection, and the in-process duty service.
//!
//! - [`interop`]: the deterministic interop ("mocked start") keys.
//! - [`slashing_protection`]: EIP-3076 slashing protection in its own LMDB environment.
//! - [`store`]: [`ValidatorStore`], the keys and the only way to sign with them.
//! - [`mainnet`], [`minimal`]: the duty service ([`mainnet::ValidatorService`]) and the
//!   [`mainnet::BeaconNodeInterface`] trait the node implements, compiled per preset from
//!   `service/`.

pub mod interop;
pub mod mainnet;
pub mod minimal;
pub mod slashing_protection;
pub mod store;

pub use slashing_protection::{NotSafe, SlashingProtection};
pub use store::{InteropRange, ValidatorStore};

/// A failed request to the beacon node (the node maps its own errors into this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BeaconNodeError(pub String);

impl BeaconNodeError {
    pub fn new(message: impl std::fmt::Display) -> Self {
        BeaconNodeError(message.to_string())
    }
}
