//! Genesis for devnets: the eth2 interop "mocked start", directly in Fulu.
//!
//! Like the spec test suite's `create_genesis_state` (and Lighthouse's interop genesis), the
//! validators are written into the state instead of being replayed as signed eth1 deposits:
//! `initialize_beacon_state_from_eth1` would give the same registry, but signing 2.3M deposits
//! would cost an hour. Interop conventions: eth1 block hash and deposit root `0x42..42`,
//! BLS withdrawal credentials `0x00 ++ sha256(pubkey)[1:]`, 32 ETH per validator, all active at
//! epoch 0. The fork is Fulu from epoch 0 (previous version: Electra's).

use super::error::TransitionError;
use super::fork::initialize_proposer_lookahead;
use super::helpers::get_next_sync_committee;
use super::*;
use crate::consensus::bls::PUBLIC_KEY_BYTES_LEN;
use crate::consensus::config::ChainConfig;
use crate::consensus::primitives::*;
use milhouse::{List, Vector};
use ssz_types::VariableList;
use std::sync::Arc;
use tree_hash::TreeHash;

type Result<T> = std::result::Result<T, TransitionError>;

/// The interop eth1 block hash (and deposit root) of the mocked start.
pub const INTEROP_ETH1_BLOCK_HASH: Hash256 = Hash256::repeat_byte(0x42);
/// Gas limit of the genesis execution payload header.
const GENESIS_GAS_LIMIT: u64 = 36_000_000;
/// Base fee of the genesis execution payload header (1 gwei).
const GENESIS_BASE_FEE_PER_GAS: u64 = 1_000_000_000;

/// `BLS_WITHDRAWAL_PREFIX ++ hash(pubkey)[1:]`.
pub fn bls_withdrawal_credentials(pubkey: &[u8; PUBLIC_KEY_BYTES_LEN]) -> Hash256 {
    let mut credentials = ethereum_hashing::hash_fixed(pubkey);
    credentials[0] = 0x00;
    Hash256::from(credentials)
}

/// The genesis execution payload header the devnet's execution client builds on.
pub fn genesis_execution_payload_header(genesis_time: u64) -> ExecutionPayloadHeader {
    ExecutionPayloadHeader {
        prev_randao: INTEROP_ETH1_BLOCK_HASH,
        block_hash: INTEROP_ETH1_BLOCK_HASH,
        gas_limit: GENESIS_GAS_LIMIT,
        timestamp: genesis_time,
        base_fee_per_gas: alloy_primitives::U256::from(GENESIS_BASE_FEE_PER_GAS),
        transactions_root: VariableList::<Transaction, MaxTransactionsPerPayload>::default()
            .tree_hash_root(),
        withdrawals_root: VariableList::<Withdrawal, MaxWithdrawalsPerPayload>::default()
            .tree_hash_root(),
        ..Default::default()
    }
}

/// A Fulu genesis state with one 32 ETH validator per public key, all active from epoch 0.
pub fn interop_genesis_state(
    config: &ChainConfig,
    pubkeys: &[[u8; PUBLIC_KEY_BYTES_LEN]],
    genesis_time: u64,
) -> Result<BeaconState> {
    if pubkeys.is_empty() {
        return Err(TransitionError::NoActiveValidators);
    }
    let count = pubkeys.len();
    let count_u64 =
        u64::try_from(count).map_err(|_| TransitionError::Tree("too many validators".into()))?;
    let balance = PRESET.min_activation_balance;
    let validators: Vec<Validator> = pubkeys
        .iter()
        .map(|pubkey| Validator {
            pubkey: BLSPubkey::from(*pubkey),
            withdrawal_credentials: bls_withdrawal_credentials(pubkey),
            effective_balance: balance,
            slashed: false,
            activation_eligibility_epoch: GENESIS_EPOCH,
            activation_epoch: GENESIS_EPOCH,
            exit_epoch: FAR_FUTURE_EPOCH,
            withdrawable_epoch: FAR_FUTURE_EPOCH,
        })
        .collect();
    let validators: RegistryList<Validator> = List::new(validators)?;
    let genesis_validators_root = validators.tree_hash_root();
    let placeholder_committee = Arc::new(SyncCommittee::default());
    let mut state = BeaconState {
        genesis_time,
        genesis_validators_root,
        slot: GENESIS_SLOT,
        fork: Fork {
            previous_version: config.electra_fork_version,
            current_version: config.fulu_fork_version,
            epoch: GENESIS_EPOCH,
        },
        latest_block_header: BeaconBlockHeader {
            body_root: BeaconBlockBody::default().tree_hash_root(),
            ..Default::default()
        },
        block_roots: Vector::from_elem(Hash256::ZERO)?,
        state_roots: Vector::from_elem(Hash256::ZERO)?,
        historical_roots: List::empty(),
        eth1_data: Eth1Data {
            deposit_root: INTEROP_ETH1_BLOCK_HASH,
            deposit_count: count_u64,
            block_hash: INTEROP_ETH1_BLOCK_HASH,
        },
        eth1_data_votes: List::empty(),
        eth1_deposit_index: count_u64,
        validators,
        balances: List::new(vec![balance; count])?,
        randao_mixes: Vector::from_elem(INTEROP_ETH1_BLOCK_HASH)?,
        slashings: Vector::from_elem(0)?,
        previous_epoch_participation: List::new(vec![0; count])?,
        current_epoch_participation: List::new(vec![0; count])?,
        justification_bits: Default::default(),
        previous_justified_checkpoint: Checkpoint::default(),
        current_justified_checkpoint: Checkpoint::default(),
        finalized_checkpoint: Checkpoint::default(),
        inactivity_scores: List::new(vec![0; count])?,
        current_sync_committee: placeholder_committee.clone(),
        next_sync_committee: placeholder_committee,
        latest_execution_payload_header: genesis_execution_payload_header(genesis_time),
        next_withdrawal_index: 0,
        next_withdrawal_validator_index: 0,
        historical_summaries: List::empty(),
        // Fulu at genesis: eth1 deposits are over, deposit requests start after the registry.
        deposit_requests_start_index: count_u64,
        deposit_balance_to_consume: 0,
        exit_balance_to_consume: 0,
        earliest_exit_epoch: 0,
        consolidation_balance_to_consume: 0,
        earliest_consolidation_epoch: 0,
        pending_deposits: List::empty(),
        pending_partial_withdrawals: List::empty(),
        pending_consolidations: List::empty(),
        // Placeholder so the state has the Fulu shape; filled below.
        proposer_lookahead: Some(Vector::from_elem(0)?),
        caches: Default::default(),
    };
    // A duplicate committee is assigned for the current and next period at genesis (spec).
    let sync_committee = Arc::new(get_next_sync_committee(&state)?);
    state.current_sync_committee = sync_committee.clone();
    state.next_sync_committee = sync_committee;
    state.proposer_lookahead = Some(Vector::new(initialize_proposer_lookahead(&state)?)?);
    state.apply_pending_updates()?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::super::slot::process_slots;
    use super::*;
    use crate::consensus::bls::SecretKey;

    fn pubkeys(n: u8) -> Vec<[u8; PUBLIC_KEY_BYTES_LEN]> {
        (1..=n)
            .map(|i| {
                let mut sk = [0u8; 32];
                sk[31] = i;
                SecretKey::from_bytes(&sk)
                    .expect("valid scalar")
                    .public_key()
                    .to_bytes()
            })
            .collect()
    }

    #[test]
    fn genesis_is_a_live_fulu_state() {
        let config = ChainConfig::for_preset(PRESET.name);
        let keys = pubkeys(64);
        let mut state = interop_genesis_state(&config, &keys, 1_700_000_000).expect("genesis");
        assert_eq!(state.fork_name(), ForkName::Fulu);
        assert_eq!(state.validators.len(), 64);
        assert_eq!(state.fork.current_version, config.fulu_fork_version);
        assert_eq!(
            state.current_sync_committee.pubkeys.len() as u64,
            PRESET.sync_committee_size
        );
        let v0 = state.validators.get(0).expect("validator 0");
        assert_eq!(v0.withdrawal_credentials.as_slice()[0], 0);
        assert_eq!(
            &v0.withdrawal_credentials.as_slice()[1..],
            &ethereum_hashing::hash_fixed(&keys[0])[1..]
        );
        // Same keys, same time: the same genesis.
        let again = interop_genesis_state(&config, &keys, 1_700_000_000).expect("genesis");
        assert_eq!(state.tree_hash_root(), again.tree_hash_root());
        // The state is usable: two epochs of empty slots run through epoch processing.
        let target = 2 * PRESET.slots_per_epoch;
        process_slots(&mut state, &config, target).expect("process_slots");
        assert_eq!(state.slot, target);
        assert!(interop_genesis_state(&config, &[], 0).is_err());
    }
}
