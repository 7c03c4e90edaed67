//! Runner dispatch and the helpers every runner shares.

mod bls;
mod epoch_processing;
mod fork;
mod fork_choice;
mod networking;
mod rewards;
mod sanity_slots;
mod shuffling;
mod ssz_generic;
mod ssz_static;
mod state_check;
// Block runners (engineer B).
mod block_support;
mod operations;
mod sanity_blocks;
mod transition;

use crate::{Case, Outcome};
use std::path::Path;

/// Runs one case, or says why it is skipped.
pub fn run(case: &Case) -> Outcome {
    match (
        case.preset.as_str(),
        case.fork.as_str(),
        case.runner.as_str(),
    ) {
        ("general", _, "bls") => bls::run(case),
        ("general", "phase0", "ssz_generic") => ssz_generic::run(case),
        ("minimal" | "mainnet", _, "shuffling") => shuffling::run(case),
        ("minimal" | "mainnet", "electra" | "fulu", "ssz_static") => ssz_static::run(case),
        (_, "electra" | "fulu", "epoch_processing") => epoch_processing::run(case),
        (_, "electra" | "fulu", "rewards") => rewards::run(case),
        (_, "electra" | "fulu", "sanity") if case.handler == "slots" => sanity_slots::run(case),
        (_, "electra" | "fulu", "fork") => fork::run(case),
        (_, "electra" | "fulu", "operations") => operations::run(case),
        (_, "electra" | "fulu", "transition") => transition::run(case),
        (_, "electra" | "fulu", "sanity" | "finality" | "random") if case.handler != "slots" => {
            sanity_blocks::run(case)
        }
        (_, "electra" | "fulu", "fork_choice") => fork_choice::run(case),
        (_, "fulu", "networking") => networking::run(case),
        (_, "electra" | "fulu", runner) => {
            Outcome::Skip(format!("runner {runner} not supported yet"))
        }
        (_, fork, _) => Outcome::Skip(format!("fork {fork} not supported")),
    }
}

/// Reads a raw-snappy (block format) compressed file, as the vectors store `*.ssz_snappy`.
pub fn read_ssz_snappy(path: &Path) -> Result<Vec<u8>, String> {
    let compressed = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    snap::raw::Decoder::new()
        .decompress_vec(&compressed)
        .map_err(|e| format!("snappy {}: {e}", path.display()))
}

/// Parses a YAML file into `T`.
pub fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("yaml {}: {e}", path.display()))
}

/// Decodes `0x`-prefixed hex.
pub fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("hex {s}: {e}"))
}
