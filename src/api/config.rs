//! `/eth/v1/config/*` bodies (preset independent): the chain configuration, the preset and the
//! spec constants as the beacon-APIs `getSpec` format wants them (every value a string:
//! numbers in decimal, bytes as 0x-hex; `BLOB_SCHEDULE` an array of objects), the fork schedule
//! and the deposit contract.

use crate::consensus::config::ChainConfig;
use crate::consensus::constants as c;
use crate::consensus::preset::Preset;
use crate::consensus::primitives::{Version, FAR_FUTURE_EPOCH};
use serde_json::{json, Map, Value};

macro_rules! preset_entries {
    ($map:ident, $p:ident, $($field:ident),* $(,)?) => {
        $($map.insert(stringify!($field).to_ascii_uppercase(), Value::String($p.$field.to_string()));)*
    };
}

/// `GET /eth/v1/config/spec` `data`: configuration, preset and constants.
pub fn spec_json(config: &ChainConfig, preset: &Preset) -> Value {
    let mut map = Map::new();
    // The configuration: every `KEY: value` line of its config.yaml form, so the two can never
    // disagree (strings lose the YAML quotes; 0x-values and numbers are kept as written).
    for line in config.to_yaml().lines() {
        if line.starts_with([' ', '-']) {
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().trim_matches('\'');
            if key == "BLOB_SCHEDULE" {
                continue;
            }
            map.insert(key.to_string(), Value::String(value.to_string()));
        }
    }
    map.insert(
        "BLOB_SCHEDULE".into(),
        Value::Array(
            config
                .blob_schedule
                .iter()
                .map(|e| {
                    json!({
                        "EPOCH": e.epoch.to_string(),
                        "MAX_BLOBS_PER_BLOCK": e.max_blobs_per_block.to_string(),
                    })
                })
                .collect(),
        ),
    );
    let p = preset;
    preset_entries!(
        map,
        p,
        max_committees_per_slot,
        target_committee_size,
        max_validators_per_committee,
        shuffle_round_count,
        hysteresis_quotient,
        hysteresis_downward_multiplier,
        hysteresis_upward_multiplier,
        min_deposit_amount,
        max_effective_balance,
        effective_balance_increment,
        min_attestation_inclusion_delay,
        slots_per_epoch,
        min_seed_lookahead,
        max_seed_lookahead,
        min_epochs_to_inactivity_penalty,
        epochs_per_eth1_voting_period,
        slots_per_historical_root,
        epochs_per_historical_vector,
        epochs_per_slashings_vector,
        historical_roots_limit,
        validator_registry_limit,
        base_reward_factor,
        whistleblower_reward_quotient,
        proposer_reward_quotient,
        max_proposer_slashings,
        max_deposits,
        max_voluntary_exits,
        inactivity_penalty_quotient_altair,
        sync_committee_size,
        epochs_per_sync_committee_period,
        min_sync_committee_participants,
        update_timeout,
        inactivity_penalty_quotient_bellatrix,
        proportional_slashing_multiplier_bellatrix,
        max_bytes_per_transaction,
        max_transactions_per_payload,
        bytes_per_logs_bloom,
        max_extra_data_bytes,
        max_bls_to_execution_changes,
        max_withdrawals_per_payload,
        max_validators_per_withdrawals_sweep,
        field_elements_per_blob,
        max_blob_commitments_per_block,
        kzg_commitment_inclusion_proof_depth,
        min_activation_balance,
        max_effective_balance_electra,
        min_slashing_penalty_quotient_electra,
        whistleblower_reward_quotient_electra,
        pending_deposits_limit,
        pending_partial_withdrawals_limit,
        pending_consolidations_limit,
        max_attester_slashings_electra,
        max_attestations_electra,
        max_deposit_requests_per_payload,
        max_withdrawal_requests_per_payload,
        max_consolidation_requests_per_payload,
        max_pending_partials_per_withdrawals_sweep,
        max_pending_deposits_per_epoch,
        field_elements_per_cell,
        field_elements_per_ext_blob,
        cells_per_ext_blob,
        number_of_columns,
        kzg_commitments_inclusion_proof_depth,
    );
    // Constants (phase0..fulu beacon-chain.md): validator clients read the domains from here.
    let hex4 = |v: Version| Value::String(format!("{v:?}"));
    for (name, domain) in [
        ("DOMAIN_BEACON_PROPOSER", c::DOMAIN_BEACON_PROPOSER),
        ("DOMAIN_BEACON_ATTESTER", c::DOMAIN_BEACON_ATTESTER),
        ("DOMAIN_RANDAO", c::DOMAIN_RANDAO),
        ("DOMAIN_DEPOSIT", c::DOMAIN_DEPOSIT),
        ("DOMAIN_VOLUNTARY_EXIT", c::DOMAIN_VOLUNTARY_EXIT),
        ("DOMAIN_SELECTION_PROOF", c::DOMAIN_SELECTION_PROOF),
        ("DOMAIN_AGGREGATE_AND_PROOF", c::DOMAIN_AGGREGATE_AND_PROOF),
        ("DOMAIN_SYNC_COMMITTEE", c::DOMAIN_SYNC_COMMITTEE),
        (
            "DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF",
            c::DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
        ),
        (
            "DOMAIN_CONTRIBUTION_AND_PROOF",
            c::DOMAIN_CONTRIBUTION_AND_PROOF,
        ),
        (
            "DOMAIN_BLS_TO_EXECUTION_CHANGE",
            c::DOMAIN_BLS_TO_EXECUTION_CHANGE,
        ),
        ("DOMAIN_APPLICATION_MASK", c::DOMAIN_APPLICATION_MASK),
    ] {
        map.insert(name.into(), hex4(domain));
    }
    for (name, value) in [
        (
            "BLS_WITHDRAWAL_PREFIX",
            format!("0x{:02x}", c::BLS_WITHDRAWAL_PREFIX),
        ),
        (
            "ETH1_ADDRESS_WITHDRAWAL_PREFIX",
            format!("0x{:02x}", c::ETH1_ADDRESS_WITHDRAWAL_PREFIX),
        ),
        (
            "COMPOUNDING_WITHDRAWAL_PREFIX",
            format!("0x{:02x}", c::COMPOUNDING_WITHDRAWAL_PREFIX),
        ),
        (
            "TIMELY_SOURCE_FLAG_INDEX",
            c::TIMELY_SOURCE_FLAG_INDEX.to_string(),
        ),
        (
            "TIMELY_TARGET_FLAG_INDEX",
            c::TIMELY_TARGET_FLAG_INDEX.to_string(),
        ),
        (
            "TIMELY_HEAD_FLAG_INDEX",
            c::TIMELY_HEAD_FLAG_INDEX.to_string(),
        ),
        ("TIMELY_SOURCE_WEIGHT", c::TIMELY_SOURCE_WEIGHT.to_string()),
        ("TIMELY_TARGET_WEIGHT", c::TIMELY_TARGET_WEIGHT.to_string()),
        ("TIMELY_HEAD_WEIGHT", c::TIMELY_HEAD_WEIGHT.to_string()),
        ("SYNC_REWARD_WEIGHT", c::SYNC_REWARD_WEIGHT.to_string()),
        ("PROPOSER_WEIGHT", c::PROPOSER_WEIGHT.to_string()),
        ("WEIGHT_DENOMINATOR", c::WEIGHT_DENOMINATOR.to_string()),
        (
            "BASE_REWARDS_PER_EPOCH",
            c::BASE_REWARDS_PER_EPOCH.to_string(),
        ),
        (
            "FULL_EXIT_REQUEST_AMOUNT",
            c::FULL_EXIT_REQUEST_AMOUNT.to_string(),
        ),
        ("UNSET_DEPOSIT_REQUESTS_START_INDEX", u64::MAX.to_string()),
        ("GENESIS_SLOT", "0".into()),
        ("GENESIS_EPOCH", "0".into()),
        ("FAR_FUTURE_EPOCH", FAR_FUTURE_EPOCH.to_string()),
        ("DEPOSIT_CONTRACT_TREE_DEPTH", "32".into()),
        ("JUSTIFICATION_BITS_LENGTH", "4".into()),
        // p2p-interface.md / validator.md constants validator clients use.
        ("TARGET_AGGREGATORS_PER_COMMITTEE", "16".into()),
        ("SYNC_COMMITTEE_SUBNET_COUNT", "4".into()),
        ("TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE", "16".into()),
    ] {
        map.insert(name.into(), Value::String(value));
    }
    Value::Object(map)
}

/// `GET /eth/v1/config/fork_schedule` `data`: every scheduled fork, oldest first.
pub fn fork_schedule_json(config: &ChainConfig) -> Value {
    let forks = [
        (config.altair_fork_version, config.altair_fork_epoch),
        (config.bellatrix_fork_version, config.bellatrix_fork_epoch),
        (config.capella_fork_version, config.capella_fork_epoch),
        (config.deneb_fork_version, config.deneb_fork_epoch),
        (config.electra_fork_version, config.electra_fork_epoch),
        (config.fulu_fork_version, config.fulu_fork_epoch),
    ];
    let mut out = vec![json!({
        "previous_version": format!("{:?}", config.genesis_fork_version),
        "current_version": format!("{:?}", config.genesis_fork_version),
        "epoch": "0",
    })];
    let mut previous = config.genesis_fork_version;
    for (version, epoch) in forks {
        if epoch == FAR_FUTURE_EPOCH {
            continue;
        }
        out.push(json!({
            "previous_version": format!("{previous:?}"),
            "current_version": format!("{version:?}"),
            "epoch": epoch.to_string(),
        }));
        previous = version;
    }
    Value::Array(out)
}

/// `GET /eth/v1/config/deposit_contract` `data`.
pub fn deposit_contract_json(config: &ChainConfig) -> Value {
    json!({
        "chain_id": config.deposit_chain_id.to_string(),
        "address": format!("{:?}", config.deposit_contract_address),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_has_config_preset_and_constants_as_strings() {
        let config = ChainConfig::minimal().with_forks_at_genesis();
        let spec = spec_json(&config, &Preset::MINIMAL);
        assert_eq!(spec["SLOTS_PER_EPOCH"], "8");
        assert_eq!(spec["PRESET_BASE"], "minimal");
        assert_eq!(spec["SLOT_DURATION_MS"], "6000");
        assert_eq!(spec["FULU_FORK_EPOCH"], "0");
        assert_eq!(spec["GENESIS_FORK_VERSION"], "0x00000001");
        assert_eq!(spec["DOMAIN_BEACON_ATTESTER"], "0x01000000");
        assert_eq!(spec["SHUFFLE_ROUND_COUNT"], "10");
        assert!(spec["BLOB_SCHEDULE"].is_array());
        for (k, v) in spec.as_object().expect("object") {
            assert!(v.is_string() || k == "BLOB_SCHEDULE", "{k}: {v}");
        }
        let schedule = fork_schedule_json(&config);
        assert_eq!(schedule.as_array().map(Vec::len), Some(7));
        assert_eq!(schedule[6]["current_version"], "0x06000001");
        assert_eq!(
            fork_schedule_json(&ChainConfig::minimal())
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(deposit_contract_json(&config)["chain_id"], "5");
    }
}
