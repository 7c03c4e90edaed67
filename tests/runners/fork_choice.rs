//! `fork_choice` runner (every handler: get_head, on_block, ex_ante, reorg, withholding,
//! get_proposer_head, deposit_with_reorg, ...): `anchor_state` + `anchor_block` make the store
//! (`get_forkchoice_store`), then `steps.yaml` is replayed — `tick`, `block` (with its `blobs` +
//! `proofs` or `columns` as the data-availability answer; then the block's attestations and
//! attester slashings, as the format requires), `attestation`, `attester_slashing` — and every
//! `checks` step compared. A step with `valid: false` must be rejected. Each valid gossip
//! attestation or attester slashing is first offered with a forged signature, which must be
//! rejected. Every case runs twice: at the default prune threshold and pruning at every
//! finalization.

use super::block_support::TestEngine;
use super::state_check::{chain_config, fork, load_state};
use super::{hex_bytes, read_ssz_snappy, read_yaml};
use crate::{Case, Outcome};
use ember::consensus::config::ChainConfig;
use ember::consensus::minimal::fork_choice::{
    is_data_available_from_blobs, is_data_available_from_columns, DataAvailability, ForkChoiceStore,
};
use ember::consensus::minimal::{
    Attestation, AttesterSlashing, BeaconBlock, DataColumnSidecar, SignedBeaconBlock,
};
use ember::consensus::primitives::{ForkName, Hash256};
use serde_yaml::Value;
use ssz::Decode;

pub fn run(case: &Case) -> Outcome {
    if case.preset != "minimal" {
        return Outcome::Skip(format!(
            "preset {} not wired (only minimal vectors ship)",
            case.preset
        ));
    }
    // Twice: as the spec (no pruning happens at the default threshold in these short chains),
    // and pruning the tree and states at every finalization, which must not change any outcome.
    for prune_threshold in [None, Some(1)] {
        if let Err(e) = check(case, prune_threshold) {
            let mode = match prune_threshold {
                None => "default pruning".to_string(),
                Some(t) => format!("prune threshold {t}"),
            };
            return Outcome::Fail(format!("{mode}: {e}"));
        }
    }
    Outcome::Pass
}

fn decode<T: Decode>(case: &Case, name: &str) -> Result<T, String> {
    let bytes = read_ssz_snappy(&case.file(&format!("{name}.ssz_snappy")))?;
    T::from_ssz_bytes(&bytes).map_err(|e| format!("{name}: {e:?}"))
}

/// What `retrieve_blobs_and_proofs` / `retrieve_column_sidecars` return for one block step.
struct StepData<'a> {
    fork: ForkName,
    config: &'a ChainConfig,
    /// Electra: the step's blobs and proofs (empty lists when absent, as the spec's default).
    blobs: Vec<Vec<u8>>,
    proofs: Vec<ember::consensus::minimal::KZGProof>,
    /// Fulu: `None` when the step has no `columns` (nothing to sample: available), `Some(empty)`
    /// when sampling failed (not available).
    columns: Option<Vec<DataColumnSidecar>>,
}

impl DataAvailability for StepData<'_> {
    fn is_data_available(
        &self,
        _block_root: &Hash256,
        signed_block: &SignedBeaconBlock,
    ) -> Result<(), String> {
        match self.fork {
            ForkName::Electra => {
                let blobs: Vec<&[u8]> = self.blobs.iter().map(|b| b.as_slice()).collect();
                is_data_available_from_blobs(
                    &blobs,
                    &signed_block.message.body.blob_kzg_commitments,
                    &self.proofs,
                )
            }
            ForkName::Fulu => match &self.columns {
                None => Ok(()),
                Some(columns) if columns.is_empty() => {
                    Err("no column sidecars could be retrieved".to_string())
                }
                Some(columns) => is_data_available_from_columns(self.config, columns),
            },
        }
    }
}

/// The point at infinity: decodes as a signature, verifies nothing here.
fn infinity_signature() -> ember::consensus::minimal::BLSSignature {
    let mut bytes = [0u8; 96];
    bytes[0] = 0xc0;
    bytes.into()
}

fn str_field<'a>(step: &'a Value, key: &str) -> Option<&'a str> {
    step.get(key).and_then(Value::as_str).map(str::trim)
}

fn u64_field(v: &Value, key: &str) -> Result<u64, String> {
    v.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("missing integer {key} in {v:?}"))
}

fn root_of(v: &Value) -> Result<Hash256, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("root not a string: {v:?}"))?;
    let bytes = hex_bytes(s)?;
    if bytes.len() != 32 {
        return Err(format!("root {s} is not 32 bytes"));
    }
    Ok(Hash256::from_slice(&bytes))
}

fn step_data<'a>(
    case: &Case,
    step: &Value,
    fork: ForkName,
    config: &'a ChainConfig,
) -> Result<StepData<'a>, String> {
    let mut data = StepData {
        fork,
        config,
        blobs: Vec::new(),
        proofs: Vec::new(),
        columns: None,
    };
    if let Some(name) = str_field(step, "blobs") {
        let bytes = read_ssz_snappy(&case.file(&format!("{name}.ssz_snappy")))?;
        let size = ember::consensus::kzg::BYTES_PER_BLOB;
        if bytes.len() % size != 0 {
            return Err(format!(
                "{name}: {} bytes is not a whole number of blobs",
                bytes.len()
            ));
        }
        data.blobs = bytes.chunks(size).map(<[u8]>::to_vec).collect();
    }
    if let Some(proofs) = step.get("proofs").and_then(Value::as_sequence) {
        for p in proofs {
            let s = p.as_str().ok_or("proof not a string")?;
            let bytes = hex_bytes(s)?;
            let proof = <[u8; 48]>::try_from(bytes.as_slice())
                .map_err(|_| format!("proof {s} is not 48 bytes"))?;
            data.proofs.push(proof.into());
        }
    }
    if let Some(columns) = step.get("columns").and_then(Value::as_sequence) {
        let mut sidecars = Vec::with_capacity(columns.len());
        for c in columns {
            let name = c.as_str().ok_or("column name not a string")?.trim();
            sidecars.push(decode::<DataColumnSidecar>(case, name)?);
        }
        data.columns = Some(sidecars);
    }
    Ok(data)
}

fn check(case: &Case, prune_threshold: Option<usize>) -> Result<(), String> {
    let fork = fork(case)?;
    let config = chain_config(case)?;
    let anchor_state = load_state(case, "anchor_state", fork)?;
    let anchor_block: BeaconBlock = decode(case, "anchor_block")?;
    let mut store = ForkChoiceStore::get_forkchoice_store(anchor_state, &anchor_block, &config)
        .map_err(|e| format!("get_forkchoice_store: {e}"))?;
    if let Some(threshold) = prune_threshold {
        store.set_prune_threshold(threshold);
    }
    let engine = TestEngine(true);
    let steps: Vec<Value> = read_yaml(&case.file("steps.yaml"))?;
    let verbose = std::env::var("SPEC_TESTS_SHOW_REJECTIONS").is_ok();

    for (i, step) in steps.iter().enumerate() {
        let valid = step.get("valid").and_then(Value::as_bool).unwrap_or(true);
        let outcome: Result<(), String> = if let Some(time) = step.get("tick") {
            let time = time.as_u64().ok_or("tick not an integer")?;
            store.on_tick(time).map_err(|e| e.to_string())
        } else if let Some(name) = str_field(step, "block") {
            let signed_block: SignedBeaconBlock = decode(case, name)?;
            let data = step_data(case, step, fork, &config)?;
            match store.on_block(&signed_block, &data, &engine) {
                Ok(_) => {
                    // An on_block step implies receiving the block's attestations and attester
                    // slashings.
                    let body = &signed_block.message.body;
                    for (j, attestation) in body.attestations.iter().enumerate() {
                        store.on_attestation(attestation, true).map_err(|e| {
                            format!("step {i}: {name}: block attestation {j} rejected: {e}")
                        })?;
                    }
                    for (j, slashing) in body.attester_slashings.iter().enumerate() {
                        store.on_attester_slashing(slashing).map_err(|e| {
                            format!("step {i}: {name}: block attester slashing {j} rejected: {e}")
                        })?;
                    }
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        } else if let Some(name) = str_field(step, "attestation") {
            let attestation: Attestation = decode(case, name)?;
            if valid {
                // The same attestation with a wrong signature must not count.
                let mut forged = attestation.clone();
                forged.signature = infinity_signature();
                if store.on_attestation(&forged, false).is_ok() {
                    return Err(format!("step {i}: {name} accepted with a forged signature"));
                }
            }
            store
                .on_attestation(&attestation, false)
                .map_err(|e| e.to_string())
        } else if let Some(name) = str_field(step, "attester_slashing") {
            let slashing: AttesterSlashing = decode(case, name)?;
            if valid {
                let mut forged = slashing.clone();
                forged.attestation_2.signature = infinity_signature();
                if store.on_attester_slashing(&forged).is_ok() {
                    return Err(format!("step {i}: {name} accepted with a forged signature"));
                }
            }
            store
                .on_attester_slashing(&slashing)
                .map_err(|e| e.to_string())
        } else if let Some(checks) = step.get("checks") {
            run_checks(&mut store, checks).map_err(|e| format!("step {i}: check {e}"))?;
            continue;
        } else {
            return Err(format!("step {i}: unsupported step {step:?}"));
        };
        match (valid, outcome) {
            (true, Ok(())) => {}
            (true, Err(e)) => return Err(format!("step {i}: rejected a valid step: {e}")),
            (false, Ok(())) => return Err(format!("step {i}: accepted an invalid step {step:?}")),
            (false, Err(e)) => {
                if verbose {
                    eprintln!("REJECT {} step {i}: {e}", case.id());
                }
            }
        }
    }
    if verbose && prune_threshold.is_some() {
        eprintln!(
            "PRUNED {} {} blocks, {} left",
            case.id(),
            store.fork_choice().proto_array().base(),
            store.fork_choice().proto_array().len()
        );
    }
    Ok(())
}

fn run_checks(store: &mut ForkChoiceStore, checks: &Value) -> Result<(), String> {
    let map = checks.as_mapping().ok_or("checks is not a mapping")?;
    for (key, expected) in map {
        let key = key.as_str().ok_or("check key not a string")?;
        match key {
            "time" => {
                let want = expected.as_u64().ok_or("time not an integer")?;
                let got = store.fork_choice().time();
                if got != want {
                    return Err(format!("time: {got} != expected {want}"));
                }
            }
            "genesis_time" => {
                let want = expected.as_u64().ok_or("genesis_time not an integer")?;
                let got = store.fork_choice().genesis_time();
                if got != want {
                    return Err(format!("genesis_time: {got} != expected {want}"));
                }
            }
            "head" => {
                let want_root = root_of(expected.get("root").ok_or("head.root missing")?)?;
                let want_slot = u64_field(expected, "slot")?;
                let head = store.get_head().map_err(|e| format!("get_head: {e}"))?;
                let slot = store
                    .fork_choice()
                    .get_block(&head)
                    .map_err(|e| e.to_string())?
                    .slot;
                if head != want_root || slot != want_slot {
                    return Err(format!(
                        "head: ({slot}, {head}) != expected ({want_slot}, {want_root})"
                    ));
                }
                // The head is one of the filtered tree's leaves.
                let leaves = store
                    .get_viable_for_head_roots_and_weights()
                    .map_err(|e| e.to_string())?;
                if !leaves.iter().any(|(root, _)| *root == head) {
                    return Err(format!(
                        "head {head} not among the viable leaves {leaves:?}"
                    ));
                }
            }
            "justified_checkpoint" | "finalized_checkpoint" => {
                let want_epoch = u64_field(expected, "epoch")?;
                let want_root = root_of(expected.get("root").ok_or("checkpoint root missing")?)?;
                let got = if key == "justified_checkpoint" {
                    store.fork_choice().justified_checkpoint()
                } else {
                    store.fork_choice().finalized_checkpoint()
                };
                if got.epoch != want_epoch || got.root != want_root {
                    return Err(format!(
                        "{key}: {got} != expected ({want_epoch}, {want_root})"
                    ));
                }
            }
            "proposer_boost_root" => {
                let want = root_of(expected)?;
                let got = store.fork_choice().proposer_boost_root();
                if got != want {
                    return Err(format!("proposer_boost_root: {got} != expected {want}"));
                }
            }
            "get_proposer_head" => {
                let want = root_of(expected)?;
                let head = store.get_head().map_err(|e| format!("get_head: {e}"))?;
                let slot = store
                    .fork_choice()
                    .get_current_slot()
                    .map_err(|e| e.to_string())?;
                let info = store
                    .get_proposer_head(&head, slot)
                    .map_err(|e| format!("get_proposer_head: {e}"))?;
                if info.proposer_head != want {
                    return Err(format!(
                        "get_proposer_head: {} != expected {want} ({info:?})",
                        info.proposer_head
                    ));
                }
            }
            "viable_for_head_roots_and_weights" => {
                let mut want = Vec::new();
                for entry in expected.as_sequence().ok_or("viable_for_head not a list")? {
                    let root = root_of(entry.get("root").ok_or("leaf root missing")?)?;
                    want.push((root, u64_field(entry, "weight")?));
                }
                want.sort();
                let mut got = store
                    .get_viable_for_head_roots_and_weights()
                    .map_err(|e| e.to_string())?;
                got.sort();
                if got != want {
                    return Err(format!(
                        "viable_for_head_roots_and_weights: {got:?} != expected {want:?}"
                    ));
                }
            }
            other => return Err(format!("unsupported check {other}")),
        }
    }
    Ok(())
}
