//! Runtime chain configuration: the consensus specs' `config.yaml` (fork versions and epochs,
//! timing, churn, networking, blob schedule). Mainnet and minimal are built in; any file in the
//! same format (a devnet's, a spec test's) can be loaded with [`ChainConfig::from_yaml_str`].

use super::preset::PresetName;
use super::primitives::{Epoch, ExecutionAddress, ForkName, Hash256, Version, FAR_FUTURE_EPOCH};
use alloy_primitives::U256;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("line {line}: expected `KEY: value`")]
    Syntax { line: usize },
    #[error("{key}: invalid value `{value}`: {reason}")]
    Value {
        key: String,
        value: String,
        reason: String,
    },
    #[error("PRESET_BASE `{0}` is not mainnet or minimal")]
    UnknownPreset(String),
    #[error("BLOB_SCHEDULE: {0}")]
    BlobSchedule(String),
}

/// One entry of the Fulu `BLOB_SCHEDULE`: from `epoch` on, at most `max_blobs_per_block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobScheduleEntry {
    pub epoch: Epoch,
    pub max_blobs_per_block: u64,
}

/// Parses one `config.yaml` scalar into a field's type.
trait ConfigValue: Sized {
    fn parse_config(raw: &str) -> Result<Self, String>;
}

impl ConfigValue for u64 {
    fn parse_config(raw: &str) -> Result<Self, String> {
        if let Some(hex) = raw.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).map_err(|e| e.to_string())
        } else {
            raw.parse()
                .map_err(|e: std::num::ParseIntError| e.to_string())
        }
    }
}

impl ConfigValue for String {
    fn parse_config(raw: &str) -> Result<Self, String> {
        Ok(raw.to_string())
    }
}

impl ConfigValue for U256 {
    fn parse_config(raw: &str) -> Result<Self, String> {
        U256::from_str(raw).map_err(|e| e.to_string())
    }
}

impl<const N: usize> ConfigValue for alloy_primitives::FixedBytes<N> {
    fn parse_config(raw: &str) -> Result<Self, String> {
        alloy_primitives::FixedBytes::from_str(raw).map_err(|e| e.to_string())
    }
}

impl ConfigValue for ExecutionAddress {
    fn parse_config(raw: &str) -> Result<Self, String> {
        ExecutionAddress::from_str(raw).map_err(|e| e.to_string())
    }
}

macro_rules! chain_config {
    ($($key:literal => $field:ident: $ty:ty,)*) => {
        /// The spec's `Configuration` (Fulu), field names lower-cased.
        #[derive(Debug, Clone, PartialEq)]
        pub struct ChainConfig {
            $(pub $field: $ty,)*
            /// Fulu: max blobs per block from a given epoch on, ordered by epoch.
            pub blob_schedule: Vec<BlobScheduleEntry>,
        }

        impl ChainConfig {
            fn set(&mut self, key: &str, raw: &str) -> Result<bool, ConfigError> {
                match key {
                    $($key => {
                        self.$field = <$ty>::parse_config(raw).map_err(|reason| ConfigError::Value {
                            key: key.to_string(),
                            value: raw.to_string(),
                            reason,
                        })?;
                        Ok(true)
                    })*
                    _ => Ok(false),
                }
            }

            /// Writes the configuration in the `config.yaml` format (the `/eth/v1/config/spec` keys).
            pub fn to_yaml(&self) -> String {
                let mut out = String::new();
                $(out.push_str(&format!("{}: {}\n", $key, ConfigDisplay::show(&self.$field)));)*
                out.push_str("BLOB_SCHEDULE:\n");
                for e in &self.blob_schedule {
                    out.push_str(&format!(
                        "  - EPOCH: {}\n    MAX_BLOBS_PER_BLOCK: {}\n",
                        e.epoch, e.max_blobs_per_block
                    ));
                }
                out
            }
        }
    };
}

trait ConfigDisplay {
    fn show(&self) -> String;
}
impl ConfigDisplay for u64 {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl ConfigDisplay for String {
    fn show(&self) -> String {
        format!("'{self}'")
    }
}
impl ConfigDisplay for U256 {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl<const N: usize> ConfigDisplay for alloy_primitives::FixedBytes<N> {
    fn show(&self) -> String {
        format!("{self:?}")
    }
}
impl ConfigDisplay for ExecutionAddress {
    fn show(&self) -> String {
        format!("{self:?}")
    }
}

chain_config! {
    "PRESET_BASE" => preset_base: String,
    "CONFIG_NAME" => config_name: String,
    "MIN_GENESIS_ACTIVE_VALIDATOR_COUNT" => min_genesis_active_validator_count: u64,
    "MIN_GENESIS_TIME" => min_genesis_time: u64,
    "GENESIS_FORK_VERSION" => genesis_fork_version: Version,
    "GENESIS_DELAY" => genesis_delay: u64,
    "SLOT_DURATION_MS" => slot_duration_ms: u64,
    "SECONDS_PER_ETH1_BLOCK" => seconds_per_eth1_block: u64,
    "MIN_VALIDATOR_WITHDRAWABILITY_DELAY" => min_validator_withdrawability_delay: u64,
    "SHARD_COMMITTEE_PERIOD" => shard_committee_period: u64,
    "ETH1_FOLLOW_DISTANCE" => eth1_follow_distance: u64,
    "EJECTION_BALANCE" => ejection_balance: u64,
    "MIN_PER_EPOCH_CHURN_LIMIT" => min_per_epoch_churn_limit: u64,
    "CHURN_LIMIT_QUOTIENT" => churn_limit_quotient: u64,
    "DEPOSIT_CHAIN_ID" => deposit_chain_id: u64,
    "DEPOSIT_NETWORK_ID" => deposit_network_id: u64,
    "DEPOSIT_CONTRACT_ADDRESS" => deposit_contract_address: ExecutionAddress,
    "CONFIRMATION_BYZANTINE_THRESHOLD" => confirmation_byzantine_threshold: u64,
    "PROPOSER_SCORE_BOOST" => proposer_score_boost: u64,
    "REORG_HEAD_WEIGHT_THRESHOLD" => reorg_head_weight_threshold: u64,
    "REORG_PARENT_WEIGHT_THRESHOLD" => reorg_parent_weight_threshold: u64,
    "REORG_MAX_EPOCHS_SINCE_FINALIZATION" => reorg_max_epochs_since_finalization: u64,
    "PROPOSER_REORG_CUTOFF_BPS" => proposer_reorg_cutoff_bps: u64,
    "MAX_PAYLOAD_SIZE" => max_payload_size: u64,
    "MAX_REQUEST_BLOCKS" => max_request_blocks: u64,
    "EPOCHS_PER_SUBNET_SUBSCRIPTION" => epochs_per_subnet_subscription: u64,
    "ATTESTATION_PROPAGATION_SLOT_RANGE" => attestation_propagation_slot_range: u64,
    "MAXIMUM_GOSSIP_CLOCK_DISPARITY" => maximum_gossip_clock_disparity: u64,
    "MESSAGE_DOMAIN_INVALID_SNAPPY" => message_domain_invalid_snappy: Version,
    "MESSAGE_DOMAIN_VALID_SNAPPY" => message_domain_valid_snappy: Version,
    "SUBNETS_PER_NODE" => subnets_per_node: u64,
    "ATTESTATION_SUBNET_COUNT" => attestation_subnet_count: u64,
    "ATTESTATION_SUBNET_EXTRA_BITS" => attestation_subnet_extra_bits: u64,
    "ATTESTATION_DUE_BPS" => attestation_due_bps: u64,
    "AGGREGATE_DUE_BPS" => aggregate_due_bps: u64,
    "INACTIVITY_SCORE_BIAS" => inactivity_score_bias: u64,
    "INACTIVITY_SCORE_RECOVERY_RATE" => inactivity_score_recovery_rate: u64,
    "ALTAIR_FORK_VERSION" => altair_fork_version: Version,
    "ALTAIR_FORK_EPOCH" => altair_fork_epoch: u64,
    "SYNC_MESSAGE_DUE_BPS" => sync_message_due_bps: u64,
    "CONTRIBUTION_DUE_BPS" => contribution_due_bps: u64,
    "TERMINAL_TOTAL_DIFFICULTY" => terminal_total_difficulty: U256,
    "TERMINAL_BLOCK_HASH" => terminal_block_hash: Hash256,
    "TERMINAL_BLOCK_HASH_ACTIVATION_EPOCH" => terminal_block_hash_activation_epoch: u64,
    "BELLATRIX_FORK_VERSION" => bellatrix_fork_version: Version,
    "BELLATRIX_FORK_EPOCH" => bellatrix_fork_epoch: u64,
    "CAPELLA_FORK_VERSION" => capella_fork_version: Version,
    "CAPELLA_FORK_EPOCH" => capella_fork_epoch: u64,
    "MAX_BLOBS_PER_BLOCK" => max_blobs_per_block: u64,
    "MAX_PER_EPOCH_ACTIVATION_CHURN_LIMIT" => max_per_epoch_activation_churn_limit: u64,
    "DENEB_FORK_VERSION" => deneb_fork_version: Version,
    "DENEB_FORK_EPOCH" => deneb_fork_epoch: u64,
    "MAX_REQUEST_BLOCKS_DENEB" => max_request_blocks_deneb: u64,
    "MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS" => min_epochs_for_blob_sidecars_requests: u64,
    "BLOB_SIDECAR_SUBNET_COUNT" => blob_sidecar_subnet_count: u64,
    "MAX_BLOBS_PER_BLOCK_ELECTRA" => max_blobs_per_block_electra: u64,
    "MIN_PER_EPOCH_CHURN_LIMIT_ELECTRA" => min_per_epoch_churn_limit_electra: u64,
    "MAX_PER_EPOCH_ACTIVATION_EXIT_CHURN_LIMIT" => max_per_epoch_activation_exit_churn_limit: u64,
    "ELECTRA_FORK_VERSION" => electra_fork_version: Version,
    "ELECTRA_FORK_EPOCH" => electra_fork_epoch: u64,
    "BLOB_SIDECAR_SUBNET_COUNT_ELECTRA" => blob_sidecar_subnet_count_electra: u64,
    "SAMPLES_PER_SLOT" => samples_per_slot: u64,
    "NUMBER_OF_CUSTODY_GROUPS" => number_of_custody_groups: u64,
    "CUSTODY_REQUIREMENT" => custody_requirement: u64,
    "FULU_FORK_VERSION" => fulu_fork_version: Version,
    "FULU_FORK_EPOCH" => fulu_fork_epoch: u64,
    "DATA_COLUMN_SIDECAR_SUBNET_COUNT" => data_column_sidecar_subnet_count: u64,
    "MIN_EPOCHS_FOR_DATA_COLUMN_SIDECARS_REQUESTS" => min_epochs_for_data_column_sidecars_requests: u64,
    "VALIDATOR_CUSTODY_REQUIREMENT" => validator_custody_requirement: u64,
    "BALANCE_PER_ADDITIONAL_CUSTODY_GROUP" => balance_per_additional_custody_group: u64,
}

fn version(b: [u8; 4]) -> Version {
    Version::from(b)
}

impl ChainConfig {
    /// Ethereum mainnet (`configs/mainnet.yaml`).
    pub fn mainnet() -> Self {
        ChainConfig {
            preset_base: "mainnet".into(),
            config_name: "mainnet".into(),
            min_genesis_active_validator_count: 16384,
            min_genesis_time: 1_606_824_000,
            genesis_fork_version: version([0, 0, 0, 0]),
            genesis_delay: 604_800,
            slot_duration_ms: 12_000,
            seconds_per_eth1_block: 14,
            min_validator_withdrawability_delay: 256,
            shard_committee_period: 256,
            eth1_follow_distance: 2048,
            ejection_balance: 16_000_000_000,
            min_per_epoch_churn_limit: 4,
            churn_limit_quotient: 65_536,
            deposit_chain_id: 1,
            deposit_network_id: 1,
            deposit_contract_address: ExecutionAddress::from([
                0x00, 0x00, 0x00, 0x00, 0x21, 0x9a, 0xb5, 0x40, 0x35, 0x6c, 0xbb, 0x83, 0x9c, 0xbe,
                0x05, 0x30, 0x3d, 0x77, 0x05, 0xfa,
            ]),
            confirmation_byzantine_threshold: 25,
            proposer_score_boost: 40,
            reorg_head_weight_threshold: 20,
            reorg_parent_weight_threshold: 160,
            reorg_max_epochs_since_finalization: 2,
            proposer_reorg_cutoff_bps: 1667,
            max_payload_size: 10_485_760,
            max_request_blocks: 1024,
            epochs_per_subnet_subscription: 256,
            attestation_propagation_slot_range: 32,
            maximum_gossip_clock_disparity: 500,
            message_domain_invalid_snappy: version([0, 0, 0, 0]),
            message_domain_valid_snappy: version([1, 0, 0, 0]),
            subnets_per_node: 2,
            attestation_subnet_count: 64,
            attestation_subnet_extra_bits: 0,
            attestation_due_bps: 3333,
            aggregate_due_bps: 6667,
            inactivity_score_bias: 4,
            inactivity_score_recovery_rate: 16,
            altair_fork_version: version([1, 0, 0, 0]),
            altair_fork_epoch: 74_240,
            sync_message_due_bps: 3333,
            contribution_due_bps: 6667,
            terminal_total_difficulty: U256::from(58_750_000_000_000_000_000_000u128),
            terminal_block_hash: Hash256::ZERO,
            terminal_block_hash_activation_epoch: FAR_FUTURE_EPOCH,
            bellatrix_fork_version: version([2, 0, 0, 0]),
            bellatrix_fork_epoch: 144_896,
            capella_fork_version: version([3, 0, 0, 0]),
            capella_fork_epoch: 194_048,
            max_blobs_per_block: 6,
            max_per_epoch_activation_churn_limit: 8,
            deneb_fork_version: version([4, 0, 0, 0]),
            deneb_fork_epoch: 269_568,
            max_request_blocks_deneb: 128,
            min_epochs_for_blob_sidecars_requests: 4096,
            blob_sidecar_subnet_count: 6,
            max_blobs_per_block_electra: 9,
            min_per_epoch_churn_limit_electra: 128_000_000_000,
            max_per_epoch_activation_exit_churn_limit: 256_000_000_000,
            electra_fork_version: version([5, 0, 0, 0]),
            electra_fork_epoch: 364_032,
            blob_sidecar_subnet_count_electra: 9,
            samples_per_slot: 8,
            number_of_custody_groups: 128,
            custody_requirement: 4,
            fulu_fork_version: version([6, 0, 0, 0]),
            fulu_fork_epoch: 411_392,
            data_column_sidecar_subnet_count: 128,
            min_epochs_for_data_column_sidecars_requests: 4096,
            validator_custody_requirement: 8,
            balance_per_additional_custody_group: 32_000_000_000,
            blob_schedule: vec![
                BlobScheduleEntry {
                    epoch: 412_672,
                    max_blobs_per_block: 15,
                },
                BlobScheduleEntry {
                    epoch: 419_072,
                    max_blobs_per_block: 21,
                },
            ],
        }
    }

    /// The spec's minimal configuration (`configs/minimal.yaml`): forks unscheduled.
    pub fn minimal() -> Self {
        ChainConfig {
            preset_base: "minimal".into(),
            config_name: "minimal".into(),
            min_genesis_active_validator_count: 64,
            min_genesis_time: 1_578_009_600,
            genesis_fork_version: version([0, 0, 0, 1]),
            genesis_delay: 300,
            slot_duration_ms: 6000,
            shard_committee_period: 64,
            eth1_follow_distance: 16,
            min_per_epoch_churn_limit: 2,
            churn_limit_quotient: 32,
            deposit_chain_id: 5,
            deposit_network_id: 5,
            deposit_contract_address: ExecutionAddress::from([
                0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78,
                0x90, 0x12, 0x34, 0x56, 0x78, 0x90,
            ]),
            altair_fork_version: version([1, 0, 0, 1]),
            altair_fork_epoch: FAR_FUTURE_EPOCH,
            // 2**256 - 2**10
            terminal_total_difficulty: U256::MAX.saturating_sub(U256::from(1023u64)),
            bellatrix_fork_version: version([2, 0, 0, 1]),
            bellatrix_fork_epoch: FAR_FUTURE_EPOCH,
            capella_fork_version: version([3, 0, 0, 1]),
            capella_fork_epoch: FAR_FUTURE_EPOCH,
            max_per_epoch_activation_churn_limit: 4,
            deneb_fork_version: version([4, 0, 0, 1]),
            deneb_fork_epoch: FAR_FUTURE_EPOCH,
            min_per_epoch_churn_limit_electra: 64_000_000_000,
            max_per_epoch_activation_exit_churn_limit: 128_000_000_000,
            electra_fork_version: version([5, 0, 0, 1]),
            electra_fork_epoch: FAR_FUTURE_EPOCH,
            fulu_fork_version: version([6, 0, 0, 1]),
            fulu_fork_epoch: FAR_FUTURE_EPOCH,
            blob_schedule: Vec::new(),
            ..ChainConfig::mainnet()
        }
    }

    /// The built-in configuration of a preset.
    pub fn for_preset(preset: PresetName) -> Self {
        match preset {
            PresetName::Mainnet => Self::mainnet(),
            PresetName::Minimal => Self::minimal(),
        }
    }

    pub fn preset(&self) -> Result<PresetName, ConfigError> {
        PresetName::parse(&self.preset_base)
            .ok_or_else(|| ConfigError::UnknownPreset(self.preset_base.clone()))
    }

    /// Parses a `config.yaml`. Keys it omits keep the value of the built-in configuration of its
    /// `PRESET_BASE` (mainnet when absent); unknown keys are returned so the caller can warn.
    pub fn from_yaml_str(text: &str) -> Result<(Self, Vec<String>), ConfigError> {
        let mut scalars = Vec::new();
        let mut in_blob_schedule = false;
        let mut blob_lines = String::new();
        for (n, line) in text.lines().enumerate() {
            let content = strip_comment(line);
            if content.trim().is_empty() {
                continue;
            }
            if content.starts_with([' ', '\t', '-']) {
                if in_blob_schedule {
                    blob_lines.push_str(content);
                    blob_lines.push('\n');
                }
                continue;
            }
            let (key, value) = content.split_once(':').ok_or(ConfigError::Syntax {
                line: n.saturating_add(1),
            })?;
            let key = key.trim();
            let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
            in_blob_schedule = key == "BLOB_SCHEDULE";
            if in_blob_schedule {
                if !value.is_empty() && value != "[]" {
                    return Err(ConfigError::BlobSchedule("expected a block list".into()));
                }
                continue;
            }
            scalars.push((key.to_string(), value.to_string()));
        }
        let base = scalars
            .iter()
            .find(|(k, _)| k == "PRESET_BASE")
            .map(|(_, v)| PresetName::parse(v).ok_or_else(|| ConfigError::UnknownPreset(v.clone())))
            .transpose()?
            .unwrap_or(PresetName::Mainnet);
        let mut config = Self::for_preset(base);
        let mut unknown = Vec::new();
        for (key, value) in &scalars {
            if !config.set(key, value)? {
                unknown.push(key.clone());
            }
        }
        if text
            .lines()
            .any(|l| strip_comment(l).starts_with("BLOB_SCHEDULE"))
        {
            config.blob_schedule = parse_blob_schedule(&blob_lines)?;
        }
        Ok((config, unknown))
    }

    /// This configuration with every fork from Altair to Fulu active at epoch 0: what a devnet
    /// that starts directly in Fulu runs on.
    pub fn with_forks_at_genesis(mut self) -> Self {
        self.altair_fork_epoch = 0;
        self.bellatrix_fork_epoch = 0;
        self.capella_fork_epoch = 0;
        self.deneb_fork_epoch = 0;
        self.electra_fork_epoch = 0;
        self.fulu_fork_epoch = 0;
        self
    }

    /// The fork active at `epoch` (Ember processes Electra onwards).
    pub fn fork_at_epoch(&self, epoch: Epoch) -> Option<ForkName> {
        if epoch >= self.fulu_fork_epoch {
            Some(ForkName::Fulu)
        } else if epoch >= self.electra_fork_epoch {
            Some(ForkName::Electra)
        } else {
            None
        }
    }

    pub fn fork_version(&self, fork: ForkName) -> Version {
        match fork {
            ForkName::Electra => self.electra_fork_version,
            ForkName::Fulu => self.fulu_fork_version,
        }
    }
}

fn strip_comment(line: &str) -> &str {
    match line.find(" #") {
        Some(i) => &line[..i],
        None if line.trim_start().starts_with('#') => "",
        None => line,
    }
}

fn parse_blob_schedule(lines: &str) -> Result<Vec<BlobScheduleEntry>, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
    struct Entry {
        epoch: u64,
        max_blobs_per_block: u64,
    }
    if lines.trim().is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<Entry> =
        serde_yaml::from_str(lines).map_err(|e| ConfigError::BlobSchedule(e.to_string()))?;
    let mut schedule: Vec<BlobScheduleEntry> = entries
        .into_iter()
        .map(|e| BlobScheduleEntry {
            epoch: e.epoch,
            max_blobs_per_block: e.max_blobs_per_block,
        })
        .collect();
    schedule.sort_by_key(|e| e.epoch);
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_roundtrip_of_builtins() {
        for config in [ChainConfig::mainnet(), ChainConfig::minimal()] {
            let (parsed, unknown) = ChainConfig::from_yaml_str(&config.to_yaml()).expect("parses");
            assert!(unknown.is_empty(), "{unknown:?}");
            assert_eq!(parsed, config);
        }
    }

    #[test]
    fn overrides_and_errors() {
        let text = "PRESET_BASE: 'minimal'\nFULU_FORK_EPOCH: 0 # comment\nGENESIS_FORK_VERSION: 0x00000042\nNEW_KEY: 1\nBLOB_SCHEDULE:\n  - EPOCH: 5\n    MAX_BLOBS_PER_BLOCK: 12\n";
        let (c, unknown) = ChainConfig::from_yaml_str(text).expect("parses");
        assert_eq!(c.fulu_fork_epoch, 0);
        assert_eq!(c.genesis_fork_version, version([0, 0, 0, 0x42]));
        assert_eq!(c.slot_duration_ms, 6000);
        assert_eq!(unknown, vec!["NEW_KEY".to_string()]);
        assert_eq!(
            c.blob_schedule,
            vec![BlobScheduleEntry {
                epoch: 5,
                max_blobs_per_block: 12
            }]
        );
        assert!(matches!(
            ChainConfig::from_yaml_str("FULU_FORK_EPOCH: soon"),
            Err(ConfigError::Value { .. })
        ));
        assert!(matches!(
            ChainConfig::from_yaml_str("PRESET_BASE: gnosis"),
            Err(ConfigError::UnknownPreset(_))
        ));
    }
}
