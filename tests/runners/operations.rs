//! `operations` runner: `<preset>/<fork>/operations/<handler>/pyspec_tests/<case>/`.
//!
//! `pre.ssz_snappy` plus one operation (file named per handler, see [`input_file`]); the
//! handler's `process_*` function is applied and the result compared with `post.ssz_snappy`
//! (absent: the operation must be rejected). `meta.yaml`'s `bls_setting: 2` turns signature
//! checks off; otherwise they run. `execution_payload` cases answer the engine from
//! `execution.yaml`.

use super::block_support::{bls_enabled, TestEngine};
use super::read_ssz_snappy;
use super::state_check::{chain_config, compare_states, fork, load_state};
use crate::{Case, Outcome};
use ember::consensus::config::ChainConfig;
use ember::consensus::minimal::transition::block::*;
use ember::consensus::minimal::transition::TransitionError;
use ember::consensus::minimal::*;
use ember::consensus::pubkey_cache::PubkeyCache;
use ssz::Decode;

/// The operation file of each handler (consensus-specs `tests/formats/operations`).
fn input_file(handler: &str) -> Option<&'static str> {
    Some(match handler {
        "attestation" => "attestation",
        "attester_slashing" => "attester_slashing",
        "block_header" => "block",
        "bls_to_execution_change" => "address_change",
        "consolidation_request" => "consolidation_request",
        "deposit" => "deposit",
        "deposit_request" => "deposit_request",
        "execution_payload" => "body",
        "proposer_slashing" => "proposer_slashing",
        "sync_aggregate" => "sync_aggregate",
        "voluntary_exit" => "voluntary_exit",
        "withdrawal_request" => "withdrawal_request",
        "withdrawals" => "execution_payload",
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
    let Some(input) = input_file(&case.handler) else {
        return Outcome::Skip(format!("operations handler {} unknown", case.handler));
    };
    match check(case, input) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

fn decode<T: Decode>(case: &Case, name: &str) -> Result<T, String> {
    let bytes = read_ssz_snappy(&case.file(&format!("{name}.ssz_snappy")))?;
    T::from_ssz_bytes(&bytes).map_err(|e| format!("{name}: {e:?}"))
}

/// Applies the handler's operation from file `input`.
fn apply(
    case: &Case,
    input: &str,
    state: &mut BeaconState,
    config: &ChainConfig,
    verify: Option<&PubkeyCache>,
) -> Result<Result<(), TransitionError>, String> {
    Ok(match case.handler.as_str() {
        "attestation" => process_attestation(state, &decode(case, input)?, verify),
        "attester_slashing" => {
            process_attester_slashing(state, config, &decode(case, input)?, verify)
        }
        "block_header" => process_block_header(state, &decode(case, input)?),
        "bls_to_execution_change" => {
            process_bls_to_execution_change(state, config, &decode(case, input)?, verify)
        }
        "consolidation_request" => {
            process_consolidation_request(state, config, &decode(case, input)?)
        }
        "deposit" => process_deposit(state, config, &decode(case, input)?),
        "deposit_request" => process_deposit_request(state, &decode(case, input)?),
        "execution_payload" => {
            let engine = TestEngine::from_case(case)?;
            process_execution_payload(state, &decode(case, input)?, config, &engine)
        }
        "proposer_slashing" => {
            process_proposer_slashing(state, config, &decode(case, input)?, verify)
        }
        "sync_aggregate" => process_sync_aggregate(state, &decode(case, input)?, verify),
        "voluntary_exit" => process_voluntary_exit(state, config, &decode(case, input)?, verify),
        "withdrawal_request" => process_withdrawal_request(state, config, &decode(case, input)?),
        "withdrawals" => process_withdrawals(state, &decode(case, input)?),
        other => return Err(format!("handler {other} not wired")),
    })
}

fn check(case: &Case, input: &str) -> Result<(), String> {
    let fork = fork(case)?;
    let config = chain_config(case)?;
    let mut state = load_state(case, "pre", fork)?;
    let pubkeys = PubkeyCache::new();
    let verify = bls_enabled(case)?.then_some(&pubkeys);
    let result = apply(case, input, &mut state, &config, verify)?;
    if case.has("post.ssz_snappy") {
        result.map_err(|e| format!("{} failed: {e}", case.handler))?;
        let mut expected = load_state(case, "post", fork)?;
        compare_states(&mut state, &mut expected)
    } else {
        match result {
            Ok(()) => Err(format!("{} accepted an invalid operation", case.handler)),
            Err(e) => {
                if std::env::var("SPEC_TESTS_SHOW_REJECTIONS").is_ok() {
                    eprintln!("REJECT {}: {e}", case.id());
                }
                Ok(())
            }
        }
    }
}
