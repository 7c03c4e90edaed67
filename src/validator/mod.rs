//! Validator-side code: keys (interop keys for devnets today; EIP-2335 keystores later),
//! slashing protection, and the in-process duty service.
//!
//! - [`interop`]: the deterministic interop ("mocked start") keys.
//! - [`slashing_protection`]: EIP-3076 slashing protection in its own LMDB environment.
//! - [`store`]: [`ValidatorStore`], the keys and the only way to sign with them.
//! - [`mainnet`], [`minimal`]: the duty service ([`mainnet::ValidatorService`]) and the
//!   [`mainnet::BeaconNodeInterface`] trait the node implements, compiled per preset from
//!   `service/`.
//!
//! # Running the validators of a node
//!
//! ```text
//! let range: InteropRange = "0..64".parse()?;                  // --interop-validators
//! let protection = SlashingProtection::open(&datadir, state.genesis_validators_root)?;
//! let store = Arc::new(ValidatorStore::interop(range, protection)?);
//! let service = validator::minimal::ValidatorService::new(node_handle, store, graffiti);
//! // node_handle: Arc<impl validator::minimal::BeaconNodeInterface>
//! // every slot, from the slot clock (spec timing):
//! service.on_slot_start(slot).await;   // t = 0: propose
//! service.at_one_third(slot).await;    // t = SECONDS_PER_SLOT / 3: attest, sync messages
//! service.at_two_thirds(slot).await;   // t = 2 * SECONDS_PER_SLOT / 3: aggregate, contribute
//! ```
//!
//! Each call returns a `DutyReport` (counts) or a `ServiceError`, already logged; each phase runs
//! at most once per slot. The slashing-protection database lives in
//! `<datadir>/slashing_protection/` and refuses to open for another genesis validators root.

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
