//! `networking` runner, the handlers with pure functions: `get_custody_groups` and
//! `compute_columns_for_custody_group` (Fulu das-core). The `gossip_*` handlers need a gossip
//! validation entry point over a (state, blocks, clock) store and are skipped.

use crate::{Case, Outcome};
use ember::consensus::config::ChainConfig;
use ember::consensus::preset::PresetName;

pub fn run(case: &Case) -> Outcome {
    match run_inner(case) {
        Ok(o) => o,
        Err(e) => Outcome::Fail(e),
    }
}

fn run_inner(case: &Case) -> Result<Outcome, String> {
    let preset = PresetName::parse(&case.preset).ok_or("unknown preset")?;
    let config = ChainConfig::for_preset(preset);
    if !matches!(
        case.handler.as_str(),
        "get_custody_groups" | "compute_columns_for_custody_group"
    ) {
        return Ok(Outcome::Skip(format!(
            "networking handler {}: gossip validation vectors not wired yet",
            case.handler
        )));
    }
    // node_id can be up to 2**256 - 1 (and is written on the line after its key): read scalars
    // as whitespace-separated tokens, not as YAML numbers.
    let text = std::fs::read_to_string(case.file("meta.yaml")).map_err(|e| e.to_string())?;
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let field = |name: &str| -> Result<String, String> {
        let key = format!("{name}:");
        let at = tokens
            .iter()
            .position(|t| *t == key)
            .ok_or(format!("meta.yaml has no {name}"))?;
        tokens
            .get(at + 1)
            .map(|v| v.trim_matches('\'').trim_matches('"').to_string())
            .ok_or(format!("meta.yaml: {name} has no value"))
    };
    let meta: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let expected: Vec<u64> = meta
        .get("result")
        .and_then(|r| r.as_sequence())
        .ok_or("meta.yaml has no result list")?
        .iter()
        .map(|v| v.as_u64().ok_or("result: not a u64"))
        .collect::<Result<_, _>>()?;
    let got = match case.handler.as_str() {
        "get_custody_groups" => {
            let node_id = decimal_to_be32(&field("node_id")?)?;
            let count: u64 = field("custody_group_count")?
                .parse()
                .map_err(|e| format!("custody_group_count: {e}"))?;
            match preset {
                PresetName::Minimal => {
                    ember::consensus::minimal::p2p::get_custody_groups(&config, &node_id, count)
                        .map_err(|e| format!("{e:?}"))?
                }
                PresetName::Mainnet => {
                    ember::consensus::mainnet::p2p::get_custody_groups(&config, &node_id, count)
                        .map_err(|e| format!("{e:?}"))?
                }
            }
        }
        "compute_columns_for_custody_group" => {
            let group: u64 = field("custody_group")?
                .parse()
                .map_err(|e| format!("custody_group: {e}"))?;
            match preset {
                PresetName::Minimal => {
                    ember::consensus::minimal::p2p::compute_columns_for_custody_group(
                        &config, group,
                    )
                    .map_err(|e| format!("{e:?}"))?
                }
                PresetName::Mainnet => {
                    ember::consensus::mainnet::p2p::compute_columns_for_custody_group(
                        &config, group,
                    )
                    .map_err(|e| format!("{e:?}"))?
                }
            }
        }
        other => return Err(format!("unexpected handler {other}")),
    };
    if got == expected {
        Ok(Outcome::Pass)
    } else {
        Ok(Outcome::Fail(format!("expected {expected:?}, got {got:?}")))
    }
}

/// A decimal uint256 as 32 big-endian bytes.
fn decimal_to_be32(s: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    for c in s.chars() {
        let d = c.to_digit(10).ok_or(format!("not a decimal: {s}"))?;
        let mut carry = d;
        for byte in out.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        if carry != 0 {
            return Err(format!("{s} exceeds 256 bits"));
        }
    }
    Ok(out)
}
