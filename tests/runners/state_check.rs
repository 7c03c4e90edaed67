//! Shared by the state-transition runners (engineer A's; free for others to use): load states
//! of the case's preset, compare a computed post-state with the expected one field by field.

use super::read_ssz_snappy;
use crate::Case;
use ember::consensus::config::ChainConfig;
use ember::consensus::minimal::BeaconState;
use ember::consensus::primitives::ForkName;
use tree_hash::TreeHash;

/// The case's chain config: `config.yaml` if present, else the minimal config.
pub fn chain_config(case: &Case) -> Result<ChainConfig, String> {
    if case.has("config.yaml") {
        let text = std::fs::read_to_string(case.file("config.yaml")).map_err(|e| e.to_string())?;
        ChainConfig::from_yaml_str(&text)
            .map(|(config, _unknown)| config)
            .map_err(|e| format!("config.yaml: {e}"))
    } else {
        Ok(ChainConfig::minimal())
    }
}

/// The case's fork.
pub fn fork(case: &Case) -> Result<ForkName, String> {
    ForkName::parse(&case.fork).ok_or_else(|| format!("unknown fork {}", case.fork))
}

/// Decodes `<name>.ssz_snappy` as a state of `fork`.
pub fn load_state(case: &Case, name: &str, fork: ForkName) -> Result<BeaconState, String> {
    let bytes = read_ssz_snappy(&case.file(&format!("{name}.ssz_snappy")))?;
    BeaconState::from_ssz_bytes_for_fork(&bytes, fork).map_err(|e| format!("{name}: {e:?}"))
}

macro_rules! differing_fields {
    ($a:expr, $b:expr, $($field:ident),*) => {{
        let mut out = Vec::new();
        $(
            if $a.$field.tree_hash_root() != $b.$field.tree_hash_root() {
                out.push(stringify!($field).to_string());
            }
        )*
        out
    }};
}

/// Compares `actual` with `expected` by root; on a mismatch names the differing fields (and,
/// for balances and validators, the first differing index).
pub fn compare_states(actual: &mut BeaconState, expected: &mut BeaconState) -> Result<(), String> {
    actual
        .apply_pending_updates()
        .map_err(|e| format!("{e:?}"))?;
    expected
        .apply_pending_updates()
        .map_err(|e| format!("{e:?}"))?;
    if actual.tree_hash_root() == expected.tree_hash_root() {
        return Ok(());
    }
    let mut fields = differing_fields!(
        actual,
        expected,
        genesis_time,
        genesis_validators_root,
        slot,
        fork,
        latest_block_header,
        block_roots,
        state_roots,
        historical_roots,
        eth1_data,
        eth1_data_votes,
        eth1_deposit_index,
        validators,
        balances,
        randao_mixes,
        slashings,
        previous_epoch_participation,
        current_epoch_participation,
        justification_bits,
        previous_justified_checkpoint,
        current_justified_checkpoint,
        finalized_checkpoint,
        inactivity_scores,
        current_sync_committee,
        next_sync_committee,
        latest_execution_payload_header,
        next_withdrawal_index,
        next_withdrawal_validator_index,
        historical_summaries,
        deposit_requests_start_index,
        deposit_balance_to_consume,
        exit_balance_to_consume,
        earliest_exit_epoch,
        consolidation_balance_to_consume,
        earliest_consolidation_epoch,
        pending_deposits,
        pending_partial_withdrawals,
        pending_consolidations
    );
    let lookahead_root =
        |s: &BeaconState| s.proposer_lookahead.as_ref().map(|v| v.tree_hash_root());
    if lookahead_root(actual) != lookahead_root(expected) {
        fields.push("proposer_lookahead".to_string());
    }
    let detail = |name: &str, a: Vec<String>, b: Vec<String>| -> String {
        if a.len() != b.len() {
            return format!("{name}: length {} vs expected {}", a.len(), b.len());
        }
        match a.iter().zip(&b).position(|(x, y)| x != y) {
            Some(i) => format!("{name}[{i}]: {} vs expected {}", a[i], b[i]),
            None => format!("{name}: equal elements"),
        }
    };
    for f in fields.iter_mut() {
        match f.as_str() {
            "balances" => {
                *f = detail(
                    "balances",
                    actual.balances.iter().map(|x| x.to_string()).collect(),
                    expected.balances.iter().map(|x| x.to_string()).collect(),
                )
            }
            "validators" => {
                *f = detail(
                    "validators",
                    actual.validators.iter().map(|x| format!("{x:?}")).collect(),
                    expected
                        .validators
                        .iter()
                        .map(|x| format!("{x:?}"))
                        .collect(),
                )
            }
            "inactivity_scores" => {
                *f = detail(
                    "inactivity_scores",
                    actual
                        .inactivity_scores
                        .iter()
                        .map(|x| x.to_string())
                        .collect(),
                    expected
                        .inactivity_scores
                        .iter()
                        .map(|x| x.to_string())
                        .collect(),
                )
            }
            "proposer_lookahead" => {
                let show = |s: &BeaconState| -> Vec<String> {
                    s.proposer_lookahead
                        .iter()
                        .flat_map(|v| v.iter().map(|x| x.to_string()))
                        .collect()
                };
                *f = detail("proposer_lookahead", show(actual), show(expected))
            }
            _ => {}
        }
    }
    Err(format!("post-state differs: {}", fields.join("; ")))
}
