//! Every SSZ container of the Electra and Fulu specs (beacon chain, p2p, validator, light client),
//! except `BeaconState` (see `beacon_state.rs`).
//!
//! This file is compiled once per preset (`consensus::mainnet`, `consensus::minimal`): the
//! preset-dependent lengths (`SyncCommitteeSize`, ...) resolve to that preset's typenum aliases.
//! Field order and types follow `eth_consensus_specs/fulu/mainnet.py` exactly; SSZ and
//! merkleization come from the derives. Serde output is the Beacon API JSON shape once numbers
//! are quoted (see `tools::json`): byte strings as `0x`-hex, bitfields as `0x`-hex.

use super::*;
use crate::consensus::primitives::*;
use alloy_primitives::{FixedBytes, U256 as Uint256};
use serde::Serialize;
use ssz_derive::{Decode, Encode};
use ssz_types::serde_utils::{
    hex_fixed_vec, hex_var_list, list_of_hex_fixed_vec, list_of_hex_var_list,
};
use ssz_types::{BitList, BitVector, FixedVector, VariableList};
use tree_hash_derive::TreeHash;

pub type BLSPubkey = FixedBytes<48>;
pub type BLSSignature = FixedBytes<96>;
pub type KZGCommitment = FixedBytes<48>;
pub type KZGProof = FixedBytes<48>;
pub type Bytes32 = Hash256;
pub type ParticipationFlags = u8;

// Lengths shared by both presets.
pub type HistoricalRootsLimit = U16777216;
pub type ValidatorRegistryLimit = U1099511627776;
pub type MaxProposerSlashings = U16;
pub type MaxAttesterSlashingsElectra = U1;
pub type MaxAttestationsElectra = U8;
pub type MaxDeposits = U16;
pub type MaxVoluntaryExits = U16;
pub type MaxBlsToExecutionChanges = U16;
pub type MaxBlobCommitmentsPerBlock = U4096;
pub type MaxBytesPerTransaction = U1073741824;
pub type MaxTransactionsPerPayload = U1048576;
pub type BytesPerLogsBloom = typenum::U256;
pub type MaxExtraDataBytes = U32;
pub type PendingDepositsLimit = U134217728;
pub type MaxDepositRequestsPerPayload = U8192;
pub type MaxWithdrawalRequestsPerPayload = U16;
pub type MaxConsolidationRequestsPerPayload = U2;
/// `DEPOSIT_CONTRACT_TREE_DEPTH + 1`
pub type DepositProofLength = U33;
/// `BYTES_PER_FIELD_ELEMENT * FIELD_ELEMENTS_PER_BLOB`
pub type BytesPerBlob = U131072;
/// `BYTES_PER_FIELD_ELEMENT * FIELD_ELEMENTS_PER_CELL`
pub type BytesPerCell = U2048;
pub type KzgCommitmentInclusionProofDepth = U17;
pub type KzgCommitmentsInclusionProofDepth = U4;
pub type NumberOfColumns = U128;
pub type JustificationBitsLength = U4;
/// `floorlog2(FINALIZED_ROOT_GINDEX_ELECTRA)`
pub type FinalityBranchDepth = U7;
/// `floorlog2(CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA)` (and `NEXT_...`)
pub type SyncCommitteeBranchDepth = U6;
/// `floorlog2(EXECUTION_PAYLOAD_GINDEX)`
pub type ExecutionBranchDepth = U4;

pub type Transaction = VariableList<u8, MaxBytesPerTransaction>;
pub type Blob = FixedVector<u8, BytesPerBlob>;
pub type Cell = FixedVector<u8, BytesPerCell>;
pub type AggregationBits = BitList<MaxValidatorsPerSlot>;
pub type AttestingIndices = VariableList<ValidatorIndex, MaxValidatorsPerSlot>;
pub type FinalityBranch = FixedVector<Bytes32, FinalityBranchDepth>;
pub type CurrentSyncCommitteeBranch = FixedVector<Bytes32, SyncCommitteeBranchDepth>;
pub type NextSyncCommitteeBranch = FixedVector<Bytes32, SyncCommitteeBranchDepth>;
pub type ExecutionBranch = FixedVector<Bytes32, ExecutionBranchDepth>;

/// Declares SSZ containers with the derives every one of them needs.
macro_rules! containers {
    ($($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* })*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, PartialEq, Default, Encode, Decode, TreeHash, Serialize)]
            pub struct $name { $($body)* }
        )*
    };
}

/// Containers holding a `BitList`, which has no empty value (its length bit), so no `Default`.
macro_rules! containers_with_bitlists {
    ($($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* })*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, PartialEq, Encode, Decode, TreeHash, Serialize)]
            pub struct $name { $($body)* }
        )*
    };
}

containers! {
    pub struct Fork {
        pub previous_version: Version,
        pub current_version: Version,
        pub epoch: Epoch,
    }

    pub struct ForkData {
        pub current_version: Version,
        pub genesis_validators_root: Root,
    }

    pub struct Checkpoint {
        pub epoch: Epoch,
        pub root: Root,
    }

    pub struct Validator {
        pub pubkey: BLSPubkey,
        pub withdrawal_credentials: Bytes32,
        pub effective_balance: Gwei,
        pub slashed: bool,
        pub activation_eligibility_epoch: Epoch,
        pub activation_epoch: Epoch,
        pub exit_epoch: Epoch,
        pub withdrawable_epoch: Epoch,
    }

    pub struct AttestationData {
        pub slot: Slot,
        pub index: CommitteeIndex,
        pub beacon_block_root: Root,
        pub source: Checkpoint,
        pub target: Checkpoint,
    }

    /// [Modified in Electra:EIP7549] attesting indices span a whole slot.
    pub struct IndexedAttestation {
        pub attesting_indices: AttestingIndices,
        pub data: AttestationData,
        pub signature: BLSSignature,
    }

    pub struct Eth1Data {
        pub deposit_root: Root,
        pub deposit_count: u64,
        pub block_hash: Hash32,
    }

    pub struct HistoricalSummary {
        pub block_summary_root: Root,
        pub state_summary_root: Root,
    }

    pub struct DepositMessage {
        pub pubkey: BLSPubkey,
        pub withdrawal_credentials: Bytes32,
        pub amount: Gwei,
    }

    pub struct DepositData {
        pub pubkey: BLSPubkey,
        pub withdrawal_credentials: Bytes32,
        pub amount: Gwei,
        pub signature: BLSSignature,
    }

    pub struct BeaconBlockHeader {
        pub slot: Slot,
        pub proposer_index: ValidatorIndex,
        pub parent_root: Root,
        pub state_root: Root,
        pub body_root: Root,
    }

    pub struct SigningData {
        pub object_root: Root,
        pub domain: Domain,
    }

    pub struct SignedBeaconBlockHeader {
        pub message: BeaconBlockHeader,
        pub signature: BLSSignature,
    }

    pub struct ProposerSlashing {
        pub signed_header_1: SignedBeaconBlockHeader,
        pub signed_header_2: SignedBeaconBlockHeader,
    }

    pub struct AttesterSlashing {
        pub attestation_1: IndexedAttestation,
        pub attestation_2: IndexedAttestation,
    }

    pub struct Deposit {
        pub proof: FixedVector<Bytes32, DepositProofLength>,
        pub data: DepositData,
    }

    pub struct VoluntaryExit {
        pub epoch: Epoch,
        pub validator_index: ValidatorIndex,
    }

    pub struct SignedVoluntaryExit {
        pub message: VoluntaryExit,
        pub signature: BLSSignature,
    }

    pub struct Eth1Block {
        pub timestamp: u64,
        pub deposit_root: Root,
        pub deposit_count: u64,
    }

    /// [New in Electra:EIP7549] the gossip form of an unaggregated attestation.
    pub struct SingleAttestation {
        pub committee_index: CommitteeIndex,
        pub attester_index: ValidatorIndex,
        pub data: AttestationData,
        pub signature: BLSSignature,
    }

    // Altair
    pub struct SyncAggregate {
        pub sync_committee_bits: BitVector<SyncCommitteeSize>,
        pub sync_committee_signature: BLSSignature,
    }

    pub struct SyncCommittee {
        pub pubkeys: FixedVector<BLSPubkey, SyncCommitteeSize>,
        pub aggregate_pubkey: BLSPubkey,
    }

    pub struct SyncCommitteeMessage {
        pub slot: Slot,
        pub beacon_block_root: Root,
        pub validator_index: ValidatorIndex,
        pub signature: BLSSignature,
    }

    pub struct SyncCommitteeContribution {
        pub slot: Slot,
        pub beacon_block_root: Root,
        pub subcommittee_index: u64,
        pub aggregation_bits: BitVector<SyncSubcommitteeSize>,
        pub signature: BLSSignature,
    }

    pub struct ContributionAndProof {
        pub aggregator_index: ValidatorIndex,
        pub contribution: SyncCommitteeContribution,
        pub selection_proof: BLSSignature,
    }

    pub struct SignedContributionAndProof {
        pub message: ContributionAndProof,
        pub signature: BLSSignature,
    }

    pub struct SyncAggregatorSelectionData {
        pub slot: Slot,
        pub subcommittee_index: u64,
    }

    // Bellatrix
    pub struct PowBlock {
        pub block_hash: Hash32,
        pub parent_hash: Hash32,
        #[serde(with = "serde_utils::u256_dec")]
        pub total_difficulty: Uint256,
    }

    // Capella
    pub struct Withdrawal {
        pub index: WithdrawalIndex,
        pub validator_index: ValidatorIndex,
        pub address: ExecutionAddress,
        pub amount: Gwei,
    }

    pub struct BLSToExecutionChange {
        pub validator_index: ValidatorIndex,
        pub from_bls_pubkey: BLSPubkey,
        pub to_execution_address: ExecutionAddress,
    }

    pub struct SignedBLSToExecutionChange {
        pub message: BLSToExecutionChange,
        pub signature: BLSSignature,
    }

    /// Deneb's payload, unchanged in Electra and Fulu.
    pub struct ExecutionPayload {
        pub parent_hash: Hash32,
        pub fee_recipient: ExecutionAddress,
        pub state_root: Bytes32,
        pub receipts_root: Bytes32,
        #[serde(with = "hex_fixed_vec")]
        pub logs_bloom: FixedVector<u8, BytesPerLogsBloom>,
        pub prev_randao: Bytes32,
        pub block_number: u64,
        pub gas_limit: u64,
        pub gas_used: u64,
        pub timestamp: u64,
        #[serde(with = "hex_var_list")]
        pub extra_data: VariableList<u8, MaxExtraDataBytes>,
        #[serde(with = "serde_utils::u256_dec")]
        pub base_fee_per_gas: Uint256,
        pub block_hash: Hash32,
        #[serde(with = "list_of_hex_var_list")]
        pub transactions: VariableList<Transaction, MaxTransactionsPerPayload>,
        pub withdrawals: VariableList<Withdrawal, MaxWithdrawalsPerPayload>,
        pub blob_gas_used: u64,
        pub excess_blob_gas: u64,
    }

    pub struct ExecutionPayloadHeader {
        pub parent_hash: Hash32,
        pub fee_recipient: ExecutionAddress,
        pub state_root: Bytes32,
        pub receipts_root: Bytes32,
        #[serde(with = "hex_fixed_vec")]
        pub logs_bloom: FixedVector<u8, BytesPerLogsBloom>,
        pub prev_randao: Bytes32,
        pub block_number: u64,
        pub gas_limit: u64,
        pub gas_used: u64,
        pub timestamp: u64,
        #[serde(with = "hex_var_list")]
        pub extra_data: VariableList<u8, MaxExtraDataBytes>,
        #[serde(with = "serde_utils::u256_dec")]
        pub base_fee_per_gas: Uint256,
        pub block_hash: Hash32,
        pub transactions_root: Root,
        pub withdrawals_root: Root,
        pub blob_gas_used: u64,
        pub excess_blob_gas: u64,
    }

    // Deneb (p2p)
    pub struct BlobIdentifier {
        pub block_root: Root,
        pub index: BlobIndex,
    }

    /// Electra's blob sidecar (replaced by data columns in Fulu).
    pub struct BlobSidecar {
        pub index: BlobIndex,
        #[serde(with = "hex_fixed_vec")]
        pub blob: Blob,
        pub kzg_commitment: KZGCommitment,
        pub kzg_proof: KZGProof,
        pub signed_block_header: SignedBeaconBlockHeader,
        pub kzg_commitment_inclusion_proof: FixedVector<Bytes32, KzgCommitmentInclusionProofDepth>,
    }

    // Electra
    pub struct PendingDeposit {
        pub pubkey: BLSPubkey,
        pub withdrawal_credentials: Bytes32,
        pub amount: Gwei,
        pub signature: BLSSignature,
        pub slot: Slot,
    }

    pub struct PendingPartialWithdrawal {
        pub validator_index: ValidatorIndex,
        pub amount: Gwei,
        pub withdrawable_epoch: Epoch,
    }

    pub struct PendingConsolidation {
        pub source_index: ValidatorIndex,
        pub target_index: ValidatorIndex,
    }

    pub struct DepositRequest {
        pub pubkey: BLSPubkey,
        pub withdrawal_credentials: Bytes32,
        pub amount: Gwei,
        pub signature: BLSSignature,
        pub index: u64,
    }

    pub struct WithdrawalRequest {
        pub source_address: ExecutionAddress,
        pub validator_pubkey: BLSPubkey,
        pub amount: Gwei,
    }

    pub struct ConsolidationRequest {
        pub source_address: ExecutionAddress,
        pub source_pubkey: BLSPubkey,
        pub target_pubkey: BLSPubkey,
    }

    pub struct ExecutionRequests {
        pub deposits: VariableList<DepositRequest, MaxDepositRequestsPerPayload>,
        pub withdrawals: VariableList<WithdrawalRequest, MaxWithdrawalRequestsPerPayload>,
        pub consolidations: VariableList<ConsolidationRequest, MaxConsolidationRequestsPerPayload>,
    }

    pub struct BeaconBlockBody {
        pub randao_reveal: BLSSignature,
        pub eth1_data: Eth1Data,
        pub graffiti: Bytes32,
        pub proposer_slashings: VariableList<ProposerSlashing, MaxProposerSlashings>,
        pub attester_slashings: VariableList<AttesterSlashing, MaxAttesterSlashingsElectra>,
        pub attestations: VariableList<Attestation, MaxAttestationsElectra>,
        pub deposits: VariableList<Deposit, MaxDeposits>,
        pub voluntary_exits: VariableList<SignedVoluntaryExit, MaxVoluntaryExits>,
        pub sync_aggregate: SyncAggregate,
        pub execution_payload: ExecutionPayload,
        pub bls_to_execution_changes: VariableList<SignedBLSToExecutionChange, MaxBlsToExecutionChanges>,
        pub blob_kzg_commitments: VariableList<KZGCommitment, MaxBlobCommitmentsPerBlock>,
        pub execution_requests: ExecutionRequests,
    }

    pub struct BeaconBlock {
        pub slot: Slot,
        pub proposer_index: ValidatorIndex,
        pub parent_root: Root,
        pub state_root: Root,
        pub body: BeaconBlockBody,
    }

    pub struct SignedBeaconBlock {
        pub message: BeaconBlock,
        pub signature: BLSSignature,
    }

    // Light client (Electra gindices; unchanged in Fulu)
    pub struct LightClientHeader {
        pub beacon: BeaconBlockHeader,
        pub execution: ExecutionPayloadHeader,
        pub execution_branch: ExecutionBranch,
    }

    pub struct LightClientBootstrap {
        pub header: LightClientHeader,
        pub current_sync_committee: SyncCommittee,
        pub current_sync_committee_branch: CurrentSyncCommitteeBranch,
    }

    pub struct LightClientUpdate {
        pub attested_header: LightClientHeader,
        pub next_sync_committee: SyncCommittee,
        pub next_sync_committee_branch: NextSyncCommitteeBranch,
        pub finalized_header: LightClientHeader,
        pub finality_branch: FinalityBranch,
        pub sync_aggregate: SyncAggregate,
        pub signature_slot: Slot,
    }

    pub struct LightClientFinalityUpdate {
        pub attested_header: LightClientHeader,
        pub finalized_header: LightClientHeader,
        pub finality_branch: FinalityBranch,
        pub sync_aggregate: SyncAggregate,
        pub signature_slot: Slot,
    }

    pub struct LightClientOptimisticUpdate {
        pub attested_header: LightClientHeader,
        pub sync_aggregate: SyncAggregate,
        pub signature_slot: Slot,
    }

    // Fulu (PeerDAS)
    pub struct DataColumnSidecar {
        pub index: ColumnIndex,
        #[serde(with = "list_of_hex_fixed_vec")]
        pub column: VariableList<Cell, MaxBlobCommitmentsPerBlock>,
        pub kzg_commitments: VariableList<KZGCommitment, MaxBlobCommitmentsPerBlock>,
        pub kzg_proofs: VariableList<KZGProof, MaxBlobCommitmentsPerBlock>,
        pub signed_block_header: SignedBeaconBlockHeader,
        pub kzg_commitments_inclusion_proof: FixedVector<Bytes32, KzgCommitmentsInclusionProofDepth>,
    }

    pub struct DataColumnsByRootIdentifier {
        pub block_root: Root,
        pub columns: VariableList<ColumnIndex, NumberOfColumns>,
    }

    pub struct MatrixEntry {
        #[serde(with = "hex_fixed_vec")]
        pub cell: Cell,
        pub kzg_proof: KZGProof,
        pub column_index: ColumnIndex,
        pub row_index: RowIndex,
    }

    pub struct PartialDataColumnGroupID {
        pub beacon_block_root: Root,
    }

    pub struct PartialDataColumnHeader {
        pub kzg_commitments: VariableList<KZGCommitment, MaxBlobCommitmentsPerBlock>,
        pub signed_block_header: SignedBeaconBlockHeader,
        pub kzg_commitments_inclusion_proof: FixedVector<Bytes32, KzgCommitmentsInclusionProofDepth>,
    }

}

containers_with_bitlists! {
    /// [Modified in Electra:EIP7549] one aggregate may cover several committees.
    pub struct Attestation {
        pub aggregation_bits: AggregationBits,
        pub data: AttestationData,
        pub signature: BLSSignature,
        pub committee_bits: BitVector<MaxCommitteesPerSlot>,
    }

    pub struct AggregateAndProof {
        pub aggregator_index: ValidatorIndex,
        pub aggregate: Attestation,
        pub selection_proof: BLSSignature,
    }

    pub struct SignedAggregateAndProof {
        pub message: AggregateAndProof,
        pub signature: BLSSignature,
    }

    pub struct PartialDataColumnPartsMetadata {
        pub available: BitList<MaxBlobCommitmentsPerBlock>,
        pub requests: BitList<MaxBlobCommitmentsPerBlock>,
    }

    pub struct PartialDataColumnSidecar {
        pub cells_present_bitmap: BitList<MaxBlobCommitmentsPerBlock>,
        #[serde(with = "list_of_hex_fixed_vec")]
        pub partial_column: VariableList<Cell, MaxBlobCommitmentsPerBlock>,
        pub kzg_proofs: VariableList<KZGProof, MaxBlobCommitmentsPerBlock>,
        /// Optional header, only sent on eager pushes.
        pub header: VariableList<PartialDataColumnHeader, U1>,
    }
}
