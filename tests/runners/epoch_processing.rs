//! `epoch_processing` runner: `<preset>/<fork>/epoch_processing/<handler>/pyspec_tests/<case>/`.
//!
//! `pre.ssz_snappy` is already transitioned to just before the handler's sub-transition; the
//! handler's function is applied and the result compared with `post.ssz_snappy` (absent: the
//! sub-transition must fail). Where the case also has `pre_epoch.ssz_snappy` (the state before
//! the whole epoch transition) and `post_epoch.ssz_snappy`, the full `process_epoch` is checked
//! against them as well.

use super::state_check::{chain_config, compare_states, fork, load_state};
use crate::{Case, Outcome};
use ember::consensus::config::ChainConfig;
use ember::consensus::minimal::transition::epoch::*;
use ember::consensus::minimal::transition::single_pass::{
    process_epoch_single_pass, validator_columns_consistent,
};
use ember::consensus::minimal::transition::TransitionError;
use ember::consensus::minimal::BeaconState;
use ember::consensus::primitives::ForkName;

type Step = fn(&mut BeaconState, &ChainConfig) -> Result<(), TransitionError>;

/// The function a handler names (`process_<handler>`), or `None` if unknown.
fn step(handler: &str) -> Option<Step> {
    Some(match handler {
        "justification_and_finalization" => |s, _| process_justification_and_finalization(s),
        "inactivity_updates" => process_inactivity_updates,
        "rewards_and_penalties" => process_rewards_and_penalties,
        "registry_updates" => process_registry_updates,
        "slashings" => |s, _| process_slashings(s),
        "eth1_data_reset" => |s, _| process_eth1_data_reset(s),
        "pending_deposits" => process_pending_deposits,
        "pending_consolidations" => |s, _| process_pending_consolidations(s),
        "effective_balance_updates" => |s, _| process_effective_balance_updates(s),
        "slashings_reset" => |s, _| process_slashings_reset(s),
        "randao_mixes_reset" => |s, _| process_randao_mixes_reset(s),
        "historical_summaries_update" => |s, _| process_historical_summaries_update(s),
        "participation_flag_updates" => |s, _| process_participation_flag_updates(s),
        "sync_committee_updates" => |s, _| process_sync_committee_updates(s),
        "proposer_lookahead" => |s, _| process_proposer_lookahead(s),
        _ => return None,
    })
}

pub fn run(case: &Case) -> Outcome {
    if case.preset != "minimal" {
        return Outcome::Skip(format!(
            "preset {} not wired (only minimal vectors ship)",
            case.preset
        ));
    }
    let Some(step) = step(&case.handler) else {
        return Outcome::Skip(format!("epoch_processing handler {} unknown", case.handler));
    };
    match check(case, step) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

fn check(case: &Case, step: Step) -> Result<(), String> {
    let fork = fork(case)?;
    let config = chain_config(case)?;
    let mut state = load_state(case, "pre", fork)?;
    let result = step(&mut state, &config);
    if case.has("post.ssz_snappy") {
        result.map_err(|e| format!("process_{} failed: {e}", case.handler))?;
        let mut expected = load_state(case, "post", fork)?;
        compare_states(&mut state, &mut expected)?;
    } else if result.is_ok() {
        return Err(format!(
            "process_{} succeeded on an invalid case",
            case.handler
        ));
    }
    if case.has("pre_epoch.ssz_snappy") && case.has("post_epoch.ssz_snappy") {
        check_full_epoch(case, fork, &config)
            .map_err(|e| format!("full process_epoch (pre_epoch -> post_epoch): {e}"))?;
    }
    Ok(())
}

/// `process_epoch` (the spec-shaped reference) and `process_epoch_single_pass` (the fast path
/// `process_slots` uses) from `pre_epoch` must both give `post_epoch`.
fn check_full_epoch(case: &Case, fork: ForkName, config: &ChainConfig) -> Result<(), String> {
    let pre = load_state(case, "pre_epoch", fork)?;
    let mut expected = load_state(case, "post_epoch", fork)?;
    let mut reference = pre.clone();
    process_epoch(&mut reference, config).map_err(|e| format!("process_epoch: {e}"))?;
    compare_states(&mut reference, &mut expected).map_err(|e| format!("process_epoch: {e}"))?;
    let mut fast = pre;
    process_epoch_single_pass(&mut fast, config)
        .map_err(|e| format!("process_epoch_single_pass: {e}"))?;
    if !validator_columns_consistent(&fast) {
        return Err("process_epoch_single_pass left a stale validator column cache".into());
    }
    compare_states(&mut fast, &mut expected).map_err(|e| format!("process_epoch_single_pass: {e}"))
}
