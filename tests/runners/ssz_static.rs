//! `ssz_static` runner: decode `serialized.ssz_snappy` as the named type, re-encode it to the same
//! bytes, match `roots.yaml`'s root, and match `value.yaml` through the Beacon API JSON encoding.

use super::{read_ssz_snappy, read_yaml};
use crate::{Case, Outcome};
use ember::consensus::preset::PresetName;
use ember::consensus::primitives::ForkName;
use ember::tools::ssz;

#[derive(serde::Deserialize)]
struct Roots {
    root: String,
}

pub fn run(case: &Case) -> Outcome {
    match check(case) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

fn check(case: &Case) -> Result<(), String> {
    let preset = PresetName::parse(&case.preset).ok_or("unknown preset")?;
    let fork = ForkName::parse(&case.fork).ok_or("unknown fork")?;
    let bytes = read_ssz_snappy(&case.file("serialized.ssz_snappy"))?;
    let object = ssz::decode(preset, fork, &case.handler, &bytes).map_err(|e| e.to_string())?;
    if object.ssz_bytes() != bytes {
        return Err("re-encoding differs from the serialized bytes".into());
    }
    let roots: Roots = read_yaml(&case.file("roots.yaml"))?;
    let root = format!("{:?}", object.hash_tree_root());
    if root != roots.root {
        return Err(format!("root {root} != expected {}", roots.root));
    }
    let expected: serde_json::Value = read_yaml(&case.file("value.yaml"))?;
    let expected = ssz::quote_numbers(expected);
    let actual = object.to_api_json().map_err(|e| e.to_string())?;
    if actual != expected {
        return Err(format!(
            "JSON value differs from value.yaml: {}",
            first_difference(&actual, &expected, String::new())
        ));
    }
    Ok(())
}

/// Names the first path where two JSON values differ, for a readable failure.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: String) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) if v != w => return first_difference(v, w, format!("{path}.{k}")),
                    None => return format!("{path}.{k} not expected"),
                    _ => {}
                }
            }
            for k in y.keys() {
                if !x.contains_key(k) {
                    return format!("{path}.{k} missing");
                }
            }
            format!("{path}: objects differ")
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if v != w {
                    return first_difference(v, w, format!("{path}[{i}]"));
                }
            }
            format!("{path}: arrays differ")
        }
        _ => format!("{path}: {} vs {}", truncate(a), truncate(b)),
    }
}

fn truncate(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}...", &s[..120])
    } else {
        s
    }
}
