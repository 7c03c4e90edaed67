//! `shuffling` runner: `<preset>/phase0/shuffling/core/shuffle/<case>/mapping.yaml`.
//!
//! `mapping[i] == compute_shuffled_index(i, count, seed)`. Checked three ways: the per-index
//! function for every `i`, the whole-list shuffle in committee direction on the identity list
//! (which must give `mapping` itself), and the forwards shuffle (which must give its inverse).

use super::{hex_bytes, read_yaml};
use crate::{Case, Outcome};
use ember::consensus::shuffling::{compute_shuffled_index, shuffle_list};
use serde::Deserialize;

#[derive(Deserialize)]
struct Mapping {
    seed: String,
    count: u64,
    mapping: Vec<u64>,
}

/// `SHUFFLE_ROUND_COUNT` of the case's preset.
fn shuffle_round_count(preset: &str) -> Option<u8> {
    ember::consensus::preset::PresetName::parse(preset).map(|p| p.preset().shuffle_round_count)
}

pub fn run(case: &Case) -> Outcome {
    if case.handler != "core" || case.suite != "shuffle" {
        return Outcome::Skip(format!(
            "shuffling handler {}/{} unknown",
            case.handler, case.suite
        ));
    }
    let Some(rounds) = shuffle_round_count(&case.preset) else {
        return Outcome::Skip(format!("preset {} unknown", case.preset));
    };
    match check(case, rounds) {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

fn check(case: &Case, rounds: u8) -> Result<(), String> {
    let m: Mapping = read_yaml(&case.file("mapping.yaml"))?;
    let seed: [u8; 32] = hex_bytes(&m.seed)?
        .try_into()
        .map_err(|b: Vec<u8>| format!("seed has {} bytes, expected 32", b.len()))?;
    let count = usize::try_from(m.count).map_err(|e| format!("count {}: {e}", m.count))?;
    if m.mapping.len() != count {
        return Err(format!(
            "mapping has {} entries, count is {count}",
            m.mapping.len()
        ));
    }

    for (i, &expected) in (0u64..).zip(&m.mapping) {
        let got = compute_shuffled_index(i, m.count, &seed, rounds)
            .map_err(|e| format!("compute_shuffled_index({i}): {e}"))?;
        if got != expected {
            return Err(format!(
                "compute_shuffled_index({i}) = {got}, expected {expected}"
            ));
        }
    }

    // Committee direction: output[i] = input[compute_shuffled_index(i)], so identity -> mapping.
    let mut backwards: Vec<u64> = (0..m.count).collect();
    shuffle_list(&mut backwards, &seed, rounds, false).map_err(|e| e.to_string())?;
    if backwards != m.mapping {
        let i = first_difference(&backwards, &m.mapping);
        return Err(format!("shuffle_list(forwards=false) differs first at {i}"));
    }

    // Forwards: input[i] moves to compute_shuffled_index(i), so identity -> inverse of mapping.
    let mut forwards: Vec<u64> = (0..m.count).collect();
    shuffle_list(&mut forwards, &seed, rounds, true).map_err(|e| e.to_string())?;
    for (i, &target) in (0u64..).zip(&m.mapping) {
        let at = usize::try_from(target)
            .ok()
            .and_then(|t| forwards.get(t))
            .copied();
        if at != Some(i) {
            return Err(format!(
                "shuffle_list(forwards=true): position {target} holds {at:?}, expected {i}"
            ));
        }
    }
    Ok(())
}

fn first_difference(a: &[u64], b: &[u64]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}
