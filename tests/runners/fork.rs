//! `fork` runner: `<preset>/<fork>/fork/fork/pyspec_tests/<case>/` with `meta.yaml`
//! (`fork: <post fork>`), `pre.ssz_snappy` (a state of the previous fork) and `post.ssz_snappy`.
//!
//! Fulu cases: `upgrade_to_fulu(pre)` must give `post`. Electra cases start from a Deneb state,
//! which Ember does not have: skipped.

use super::read_yaml;
use super::state_check::{chain_config, compare_states, load_state};
use crate::{Case, Outcome};
use ember::consensus::minimal::transition::fork::upgrade_to_fulu;
use ember::consensus::primitives::ForkName;

#[derive(serde::Deserialize)]
struct Meta {
    fork: String,
}

pub fn run(case: &Case) -> Outcome {
    if case.preset != "minimal" {
        return Outcome::Skip(format!(
            "preset {} not wired (only minimal vectors ship)",
            case.preset
        ));
    }
    if case.fork == "electra" {
        return Outcome::Skip("upgrade_to_electra needs a Deneb pre-state; Ember has none".into());
    }
    match check(case) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

fn check(case: &Case) -> Result<(), String> {
    let meta: Meta = read_yaml(&case.file("meta.yaml"))?;
    if meta.fork != "fulu" {
        return Err(format!("unexpected post fork {} in meta.yaml", meta.fork));
    }
    let config = chain_config(case)?;
    let pre = load_state(case, "pre", ForkName::Electra)?;
    let result = upgrade_to_fulu(pre, &config);
    if case.has("post.ssz_snappy") {
        let mut state = result.map_err(|e| format!("upgrade_to_fulu failed: {e}"))?;
        let mut expected = load_state(case, "post", ForkName::Fulu)?;
        compare_states(&mut state, &mut expected)
    } else if result.is_ok() {
        Err("upgrade_to_fulu succeeded on an invalid case".into())
    } else {
        Ok(())
    }
}
