//! The spec compiled for the **mainnet** preset.
//!
//! The type-level lengths below are the only thing that differs from [`super::minimal`]; the
//! containers come from the shared source in `spec/`.

use super::preset::Preset;
use typenum::*;

pub const PRESET: &Preset = &Preset::MAINNET;

pub type SlotsPerHistoricalRoot = U8192;
pub type EpochsPerHistoricalVector = U65536;
pub type EpochsPerSlashingsVector = U8192;
/// `EPOCHS_PER_ETH1_VOTING_PERIOD * SLOTS_PER_EPOCH`
pub type SlotsPerEth1VotingPeriod = U2048;
pub type SyncCommitteeSize = U512;
/// `SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT`
pub type SyncSubcommitteeSize = U128;
/// `MAX_VALIDATORS_PER_COMMITTEE * MAX_COMMITTEES_PER_SLOT`
pub type MaxValidatorsPerSlot = U131072;
pub type MaxCommitteesPerSlot = U64;
pub type MaxWithdrawalsPerPayload = U16;
pub type PendingPartialWithdrawalsLimit = U134217728;
pub type PendingConsolidationsLimit = U262144;
/// `(MIN_SEED_LOOKAHEAD + 1) * SLOTS_PER_EPOCH`
pub type ProposerLookaheadLength = U64;

#[allow(clippy::duplicate_mod)]
#[path = "spec/beacon_state.rs"]
mod beacon_state;
#[allow(clippy::duplicate_mod)]
#[path = "spec/containers.rs"]
mod containers;

#[allow(clippy::duplicate_mod)]
#[path = "spec/transition/mod.rs"]
pub mod transition;

#[allow(clippy::duplicate_mod)]
#[path = "spec/fork_choice.rs"]
pub mod fork_choice;

#[allow(clippy::duplicate_mod)]
#[path = "spec/validator.rs"]
pub mod validator;

#[allow(clippy::duplicate_mod)]
#[path = "spec/p2p.rs"]
pub mod p2p;

pub use beacon_state::{BeaconState, RegistryList, RegistryUpdates};
pub use containers::*;
