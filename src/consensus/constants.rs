//! The spec's constants that do not depend on the preset (domains, participation weights,
//! withdrawal prefixes, ...). Names as in the spec.

use super::primitives::DomainType;
use alloy_primitives::FixedBytes;

const fn domain(b: [u8; 4]) -> DomainType {
    FixedBytes(b)
}

pub const DOMAIN_BEACON_PROPOSER: DomainType = domain([0x00, 0, 0, 0]);
pub const DOMAIN_BEACON_ATTESTER: DomainType = domain([0x01, 0, 0, 0]);
pub const DOMAIN_RANDAO: DomainType = domain([0x02, 0, 0, 0]);
pub const DOMAIN_DEPOSIT: DomainType = domain([0x03, 0, 0, 0]);
pub const DOMAIN_VOLUNTARY_EXIT: DomainType = domain([0x04, 0, 0, 0]);
pub const DOMAIN_SELECTION_PROOF: DomainType = domain([0x05, 0, 0, 0]);
pub const DOMAIN_AGGREGATE_AND_PROOF: DomainType = domain([0x06, 0, 0, 0]);
pub const DOMAIN_SYNC_COMMITTEE: DomainType = domain([0x07, 0, 0, 0]);
pub const DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF: DomainType = domain([0x08, 0, 0, 0]);
pub const DOMAIN_CONTRIBUTION_AND_PROOF: DomainType = domain([0x09, 0, 0, 0]);
pub const DOMAIN_BLS_TO_EXECUTION_CHANGE: DomainType = domain([0x0a, 0, 0, 0]);
pub const DOMAIN_APPLICATION_MASK: DomainType = domain([0x00, 0, 0, 0x01]);

pub const BLS_WITHDRAWAL_PREFIX: u8 = 0x00;
pub const ETH1_ADDRESS_WITHDRAWAL_PREFIX: u8 = 0x01;
/// [New in Electra:EIP7251]
pub const COMPOUNDING_WITHDRAWAL_PREFIX: u8 = 0x02;

pub const TIMELY_SOURCE_FLAG_INDEX: usize = 0;
pub const TIMELY_TARGET_FLAG_INDEX: usize = 1;
pub const TIMELY_HEAD_FLAG_INDEX: usize = 2;
pub const TIMELY_SOURCE_WEIGHT: u64 = 14;
pub const TIMELY_TARGET_WEIGHT: u64 = 26;
pub const TIMELY_HEAD_WEIGHT: u64 = 14;
pub const SYNC_REWARD_WEIGHT: u64 = 2;
pub const PROPOSER_WEIGHT: u64 = 8;
pub const WEIGHT_DENOMINATOR: u64 = 64;
/// Indexed by flag index.
pub const PARTICIPATION_FLAG_WEIGHTS: [u64; 3] = [
    TIMELY_SOURCE_WEIGHT,
    TIMELY_TARGET_WEIGHT,
    TIMELY_HEAD_WEIGHT,
];

pub const BASE_REWARDS_PER_EPOCH: u64 = 4;
/// `bls.G2_POINT_AT_INFINITY`: the compressed point at infinity.
pub const G2_POINT_AT_INFINITY: [u8; 96] = super::bls::INFINITY_SIGNATURE;

pub const FULL_EXIT_REQUEST_AMOUNT: u64 = 0;
pub const DEPOSIT_REQUEST_TYPE: u8 = 0x00;
pub const WITHDRAWAL_REQUEST_TYPE: u8 = 0x01;
pub const CONSOLIDATION_REQUEST_TYPE: u8 = 0x02;
pub const UINT64_MAX_SQRT: u64 = 4_294_967_295;
/// `MAX_RANDOM_VALUE` of Electra's `compute_proposer_index` / sync committee selection.
pub const MAX_RANDOM_VALUE: u64 = (1 << 16) - 1;
