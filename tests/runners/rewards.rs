//! `rewards` runner: `<preset>/<fork>/rewards/{basic,leak,random,inactivity_scores}/...`.
//!
//! From `pre.ssz_snappy`, the deltas of each participation flag (`get_flag_index_deltas`) must
//! equal `{source,target,head}_deltas.ssz_snappy` and `get_inactivity_penalty_deltas` must equal
//! `inactivity_penalty_deltas.ssz_snappy`. Each file is SSZ `Deltas {rewards: List[Gwei, N],
//! penalties: List[Gwei, N]}`.

use super::read_ssz_snappy;
use super::state_check::{chain_config, fork, load_state};
use crate::{Case, Outcome};
use ember::consensus::constants::{
    TIMELY_HEAD_FLAG_INDEX, TIMELY_SOURCE_FLAG_INDEX, TIMELY_TARGET_FLAG_INDEX,
};
use ember::consensus::minimal::transition::epoch::{
    get_flag_index_deltas, get_inactivity_penalty_deltas, Deltas,
};

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
    let state = load_state(case, "pre", fork)?;
    for (name, flag) in [
        ("source_deltas", TIMELY_SOURCE_FLAG_INDEX),
        ("target_deltas", TIMELY_TARGET_FLAG_INDEX),
        ("head_deltas", TIMELY_HEAD_FLAG_INDEX),
    ] {
        let got = get_flag_index_deltas(&state, flag).map_err(|e| format!("{name}: {e}"))?;
        compare(name, &got, &read_deltas(case, name)?)?;
    }
    let got = get_inactivity_penalty_deltas(&state, &config)
        .map_err(|e| format!("inactivity_penalty_deltas: {e}"))?;
    compare(
        "inactivity_penalty_deltas",
        &got,
        &read_deltas(case, "inactivity_penalty_deltas")?,
    )
}

fn compare(name: &str, got: &Deltas, expected: &Deltas) -> Result<(), String> {
    for (what, a, b) in [
        ("rewards", &got.rewards, &expected.rewards),
        ("penalties", &got.penalties, &expected.penalties),
    ] {
        if a.len() != b.len() {
            return Err(format!(
                "{name}.{what}: length {} vs expected {}",
                a.len(),
                b.len()
            ));
        }
        if let Some(i) = a.iter().zip(b.iter()).position(|(x, y)| x != y) {
            return Err(format!("{name}.{what}[{i}]: {} vs expected {}", a[i], b[i]));
        }
    }
    Ok(())
}

/// Decodes the SSZ container `Deltas` (two offsets, then two lists of little-endian `u64`).
fn read_deltas(case: &Case, name: &str) -> Result<Deltas, String> {
    let bytes = read_ssz_snappy(&case.file(&format!("{name}.ssz_snappy")))?;
    let offset = |at: usize| -> Result<usize, String> {
        let b: [u8; 4] = bytes
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| format!("{name}: truncated"))?;
        Ok(u32::from_le_bytes(b) as usize)
    };
    let (first, second) = (offset(0)?, offset(4)?);
    if first != 8 || second < first || second > bytes.len() {
        return Err(format!("{name}: bad offsets {first}, {second}"));
    }
    let list = |range: &[u8]| -> Result<Vec<u64>, String> {
        if range.len() % 8 != 0 {
            return Err(format!(
                "{name}: list length {} not a multiple of 8",
                range.len()
            ));
        }
        Ok(range
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect())
    };
    Ok(Deltas {
        rewards: list(&bytes[first..second])?,
        penalties: list(&bytes[second..])?,
    })
}
