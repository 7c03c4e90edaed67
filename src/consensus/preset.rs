//! Preset values (`presets/{mainnet,minimal}/*.yaml` of the consensus specs) as runtime numbers.
//!
//! The list lengths that SSZ needs at the type level live in [`super::mainnet`] and
//! [`super::minimal`] as typenum aliases; the spec functions read the numbers from here.

/// Which preset a chain uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresetName {
    Mainnet,
    Minimal,
}

impl PresetName {
    pub fn as_str(self) -> &'static str {
        match self {
            PresetName::Mainnet => "mainnet",
            PresetName::Minimal => "minimal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().trim_matches(|c| c == '\'' || c == '"') {
            "mainnet" => Some(PresetName::Mainnet),
            "minimal" => Some(PresetName::Minimal),
            _ => None,
        }
    }

    pub fn preset(self) -> &'static Preset {
        match self {
            PresetName::Mainnet => &Preset::MAINNET,
            PresetName::Minimal => &Preset::MINIMAL,
        }
    }
}

impl std::fmt::Display for PresetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every preset variable the Electra and Fulu specs use (names as in the spec, lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub name: PresetName,
    // phase0
    pub max_committees_per_slot: u64,
    pub target_committee_size: u64,
    pub max_validators_per_committee: u64,
    pub shuffle_round_count: u8,
    pub hysteresis_quotient: u64,
    pub hysteresis_downward_multiplier: u64,
    pub hysteresis_upward_multiplier: u64,
    pub min_deposit_amount: u64,
    pub max_effective_balance: u64,
    pub effective_balance_increment: u64,
    pub min_attestation_inclusion_delay: u64,
    pub slots_per_epoch: u64,
    pub min_seed_lookahead: u64,
    pub max_seed_lookahead: u64,
    pub min_epochs_to_inactivity_penalty: u64,
    pub epochs_per_eth1_voting_period: u64,
    pub slots_per_historical_root: u64,
    pub epochs_per_historical_vector: u64,
    pub epochs_per_slashings_vector: u64,
    pub historical_roots_limit: u64,
    pub validator_registry_limit: u64,
    pub base_reward_factor: u64,
    pub whistleblower_reward_quotient: u64,
    pub proposer_reward_quotient: u64,
    pub max_proposer_slashings: u64,
    pub max_deposits: u64,
    pub max_voluntary_exits: u64,
    // altair
    pub inactivity_penalty_quotient_altair: u64,
    pub sync_committee_size: u64,
    pub epochs_per_sync_committee_period: u64,
    pub min_sync_committee_participants: u64,
    pub update_timeout: u64,
    // bellatrix
    pub inactivity_penalty_quotient_bellatrix: u64,
    pub proportional_slashing_multiplier_bellatrix: u64,
    pub max_bytes_per_transaction: u64,
    pub max_transactions_per_payload: u64,
    pub bytes_per_logs_bloom: u64,
    pub max_extra_data_bytes: u64,
    // capella
    pub max_bls_to_execution_changes: u64,
    pub max_withdrawals_per_payload: u64,
    pub max_validators_per_withdrawals_sweep: u64,
    // deneb
    pub field_elements_per_blob: u64,
    pub max_blob_commitments_per_block: u64,
    pub kzg_commitment_inclusion_proof_depth: u64,
    // electra
    pub min_activation_balance: u64,
    pub max_effective_balance_electra: u64,
    pub min_slashing_penalty_quotient_electra: u64,
    pub whistleblower_reward_quotient_electra: u64,
    pub pending_deposits_limit: u64,
    pub pending_partial_withdrawals_limit: u64,
    pub pending_consolidations_limit: u64,
    pub max_attester_slashings_electra: u64,
    pub max_attestations_electra: u64,
    pub max_deposit_requests_per_payload: u64,
    pub max_withdrawal_requests_per_payload: u64,
    pub max_consolidation_requests_per_payload: u64,
    pub max_pending_partials_per_withdrawals_sweep: u64,
    pub max_pending_deposits_per_epoch: u64,
    // fulu
    pub field_elements_per_cell: u64,
    pub field_elements_per_ext_blob: u64,
    pub cells_per_ext_blob: u64,
    pub number_of_columns: u64,
    pub kzg_commitments_inclusion_proof_depth: u64,
}

impl Preset {
    pub const MAINNET: Preset = Preset {
        name: PresetName::Mainnet,
        max_committees_per_slot: 64,
        target_committee_size: 128,
        max_validators_per_committee: 2048,
        shuffle_round_count: 90,
        hysteresis_quotient: 4,
        hysteresis_downward_multiplier: 1,
        hysteresis_upward_multiplier: 5,
        min_deposit_amount: 1_000_000_000,
        max_effective_balance: 32_000_000_000,
        effective_balance_increment: 1_000_000_000,
        min_attestation_inclusion_delay: 1,
        slots_per_epoch: 32,
        min_seed_lookahead: 1,
        max_seed_lookahead: 4,
        min_epochs_to_inactivity_penalty: 4,
        epochs_per_eth1_voting_period: 64,
        slots_per_historical_root: 8192,
        epochs_per_historical_vector: 65536,
        epochs_per_slashings_vector: 8192,
        historical_roots_limit: 16_777_216,
        validator_registry_limit: 1_099_511_627_776,
        base_reward_factor: 64,
        whistleblower_reward_quotient: 512,
        proposer_reward_quotient: 8,
        max_proposer_slashings: 16,
        max_deposits: 16,
        max_voluntary_exits: 16,
        inactivity_penalty_quotient_altair: 50_331_648,
        sync_committee_size: 512,
        epochs_per_sync_committee_period: 256,
        min_sync_committee_participants: 1,
        update_timeout: 8192,
        inactivity_penalty_quotient_bellatrix: 16_777_216,
        proportional_slashing_multiplier_bellatrix: 3,
        max_bytes_per_transaction: 1_073_741_824,
        max_transactions_per_payload: 1_048_576,
        bytes_per_logs_bloom: 256,
        max_extra_data_bytes: 32,
        max_bls_to_execution_changes: 16,
        max_withdrawals_per_payload: 16,
        max_validators_per_withdrawals_sweep: 16384,
        field_elements_per_blob: 4096,
        max_blob_commitments_per_block: 4096,
        kzg_commitment_inclusion_proof_depth: 17,
        min_activation_balance: 32_000_000_000,
        max_effective_balance_electra: 2_048_000_000_000,
        min_slashing_penalty_quotient_electra: 4096,
        whistleblower_reward_quotient_electra: 4096,
        pending_deposits_limit: 134_217_728,
        pending_partial_withdrawals_limit: 134_217_728,
        pending_consolidations_limit: 262_144,
        max_attester_slashings_electra: 1,
        max_attestations_electra: 8,
        max_deposit_requests_per_payload: 8192,
        max_withdrawal_requests_per_payload: 16,
        max_consolidation_requests_per_payload: 2,
        max_pending_partials_per_withdrawals_sweep: 8,
        max_pending_deposits_per_epoch: 16,
        field_elements_per_cell: 64,
        field_elements_per_ext_blob: 8192,
        cells_per_ext_blob: 128,
        number_of_columns: 128,
        kzg_commitments_inclusion_proof_depth: 4,
    };

    /// The minimal preset: mainnet with the values `presets/minimal` overrides.
    pub const MINIMAL: Preset = Preset {
        name: PresetName::Minimal,
        max_committees_per_slot: 4,
        target_committee_size: 4,
        shuffle_round_count: 10,
        slots_per_epoch: 8,
        epochs_per_eth1_voting_period: 4,
        slots_per_historical_root: 64,
        epochs_per_historical_vector: 64,
        epochs_per_slashings_vector: 64,
        sync_committee_size: 32,
        epochs_per_sync_committee_period: 8,
        update_timeout: 64,
        max_withdrawals_per_payload: 4,
        max_validators_per_withdrawals_sweep: 16,
        pending_partial_withdrawals_limit: 64,
        pending_consolidations_limit: 64,
        max_pending_partials_per_withdrawals_sweep: 2,
        ..Preset::MAINNET
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_differ_where_the_spec_says() {
        assert_eq!(Preset::MINIMAL.slots_per_epoch, 8);
        assert_eq!(Preset::MAINNET.slots_per_epoch, 32);
        assert_eq!(Preset::MINIMAL.name, PresetName::Minimal);
        assert_eq!(
            PresetName::parse("'minimal'").map(PresetName::preset),
            Some(&Preset::MINIMAL)
        );
    }
}
