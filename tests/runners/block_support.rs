//! Shared by the block runners (engineer B's: operations, sanity/blocks, finality, random,
//! transition): `meta.yaml`, the test execution engine, block files.

use super::{read_ssz_snappy, read_yaml};
use crate::Case;
use ember::consensus::execution::{ExecutionEngine, NewPayloadRequest};
use ember::consensus::minimal::SignedBeaconBlock;
use ssz::Decode;

/// The `meta.yaml` keys the block runners read (all optional).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Meta {
    /// 0 or absent: BLS optional (the vectors carry valid signatures), 1: required, 2: off.
    #[serde(default)]
    pub bls_setting: u8,
    #[serde(default)]
    pub blocks_count: Option<usize>,
    #[serde(default)]
    pub post_fork: Option<String>,
    #[serde(default)]
    pub fork_epoch: Option<u64>,
    #[serde(default)]
    pub fork_block: Option<usize>,
}

pub fn meta(case: &Case) -> Result<Meta, String> {
    if case.has("meta.yaml") {
        read_yaml(&case.file("meta.yaml"))
    } else {
        Ok(Meta::default())
    }
}

/// Whether signatures are to be checked (`bls_setting` other than 2).
pub fn bls_enabled(case: &Case) -> Result<bool, String> {
    Ok(meta(case)?.bls_setting != 2)
}

#[derive(serde::Deserialize)]
struct ExecutionYaml {
    execution_valid: bool,
}

/// The spec tests' execution engine: answers every payload with `execution.yaml`'s
/// `execution_valid` (true when the case has no such file, as the spec's noop engine does).
#[derive(Debug, Clone, Copy)]
pub struct TestEngine(pub bool);

impl TestEngine {
    pub fn from_case(case: &Case) -> Result<Self, String> {
        if case.has("execution.yaml") {
            let e: ExecutionYaml = read_yaml(&case.file("execution.yaml"))?;
            Ok(TestEngine(e.execution_valid))
        } else {
            Ok(TestEngine(true))
        }
    }
}

impl ExecutionEngine for TestEngine {
    fn verify_and_notify_new_payload(&self, _new_payload_request: &NewPayloadRequest<'_>) -> bool {
        self.0
    }
}

/// `blocks_<i>.ssz_snappy` for `i` in `0..count`.
pub fn load_blocks(case: &Case, count: usize) -> Result<Vec<SignedBeaconBlock>, String> {
    (0..count)
        .map(|i| {
            let name = format!("blocks_{i}.ssz_snappy");
            let bytes = read_ssz_snappy(&case.file(&name))?;
            SignedBeaconBlock::from_ssz_bytes(&bytes).map_err(|e| format!("{name}: {e:?}"))
        })
        .collect()
}
