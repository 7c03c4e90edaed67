//! Spec primitive types (`Slot`, `Epoch`, ...) and constants shared by every preset.

pub use alloy_primitives::Address as ExecutionAddress;
use alloy_primitives::FixedBytes;
pub use tree_hash::Hash256;

/// `Slot` — plain `u64`: the spec's aliases carry no invariant worth a newtype here.
pub type Slot = u64;
pub type Epoch = u64;
pub type CommitteeIndex = u64;
pub type ValidatorIndex = u64;
pub type Gwei = u64;
pub type Root = Hash256;
pub type Hash32 = Hash256;
pub type Version = FixedBytes<4>;
pub type DomainType = FixedBytes<4>;
pub type ForkDigest = FixedBytes<4>;
pub type Domain = Hash256;
pub type WithdrawalIndex = u64;
pub type BlobIndex = u64;
pub type ColumnIndex = u64;
pub type RowIndex = u64;
pub type CustodyIndex = u64;

pub const GENESIS_SLOT: Slot = 0;
pub const GENESIS_EPOCH: Epoch = 0;
pub const FAR_FUTURE_EPOCH: Epoch = u64::MAX;
pub const JUSTIFICATION_BITS_LENGTH: usize = 4;
pub const DEPOSIT_CONTRACT_TREE_DEPTH: usize = 32;
pub const UNSET_DEPOSIT_REQUESTS_START_INDEX: u64 = u64::MAX;

/// Consensus forks Ember processes. Ordered: later forks compare greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ForkName {
    Electra,
    Fulu,
}

impl ForkName {
    pub const ALL: [ForkName; 2] = [ForkName::Electra, ForkName::Fulu];

    pub fn as_str(self) -> &'static str {
        match self {
            ForkName::Electra => "electra",
            ForkName::Fulu => "fulu",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "electra" => Some(ForkName::Electra),
            "fulu" => Some(ForkName::Fulu),
            _ => None,
        }
    }
}

impl std::fmt::Display for ForkName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
