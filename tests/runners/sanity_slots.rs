//! `sanity` runner, `slots` handler: `process_slots(pre, pre.slot + slots)` must give `post`.

use super::read_yaml;
use super::state_check::{chain_config, compare_states, fork, load_state};
use crate::{Case, Outcome};
use ember::consensus::minimal::transition::single_pass::validator_columns_consistent;
use ember::consensus::minimal::transition::slot::process_slots;

pub fn run(case: &Case) -> Outcome {
    if case.preset != "minimal" {
        return Outcome::Skip(format!(
            "preset {} not wired (only minimal vectors ship)",
            case.preset
        ));
    }
    match check(case) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

fn check(case: &Case) -> Result<(), String> {
    let fork = fork(case)?;
    let config = chain_config(case)?;
    let mut state = load_state(case, "pre", fork)?;
    let slots: u64 = read_yaml(&case.file("slots.yaml"))?;
    let target = state.slot.checked_add(slots).ok_or("slot overflow")?;
    let result = process_slots(&mut state, &config, target);
    if case.has("post.ssz_snappy") {
        result.map_err(|e| format!("process_slots failed: {e}"))?;
        if !validator_columns_consistent(&state) {
            return Err("validator column cache differs from the registry".into());
        }
        let mut expected = load_state(case, "post", fork)?;
        compare_states(&mut state, &mut expected)
    } else if result.is_ok() {
        Err("process_slots succeeded on an invalid case".into())
    } else {
        Ok(())
    }
}
