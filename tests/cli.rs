//! Runs the real `ember` binary: `ember ssz decode|root` on files it writes itself.

use ember::consensus::minimal;
use ember::consensus::primitives::Hash256;
use ssz::Encode;
use std::path::PathBuf;
use std::process::Command;
use tree_hash::TreeHash;

fn ember() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ember"))
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

fn sample() -> minimal::AttestationData {
    minimal::AttestationData {
        slot: 12345,
        index: 2,
        beacon_block_root: Hash256::repeat_byte(0x11),
        source: minimal::Checkpoint {
            epoch: 3,
            root: Hash256::repeat_byte(0x22),
        },
        target: minimal::Checkpoint {
            epoch: u64::MAX,
            root: Hash256::repeat_byte(0x33),
        },
    }
}

#[test]
fn decode_plain_and_snappy_files() {
    let data = sample();
    let bytes = data.as_ssz_bytes();
    let snappy = snap::raw::Encoder::new()
        .compress_vec(&bytes)
        .expect("compress");
    for path in [
        temp_file("data.ssz", &bytes),
        temp_file("data.ssz_snappy", &snappy),
    ] {
        let out = ember()
            .args(["ssz", "decode", "--preset", "minimal", "AttestationData"])
            .arg(&path)
            .output()
            .expect("run ember");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
        assert_eq!(json["slot"], "12345");
        assert_eq!(json["target"]["epoch"], "18446744073709551615");
        assert_eq!(json["source"]["root"], format!("0x{}", "22".repeat(32)));
    }
}

#[test]
fn root_matches_hash_tree_root() {
    let data = sample();
    let path = temp_file("root.ssz", &data.as_ssz_bytes());
    let out = ember()
        .args(["ssz", "root", "--preset", "minimal", "AttestationData"])
        .arg(&path)
        .output()
        .expect("run ember");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.trim(), format!("{:?}", data.tree_hash_root()));
}

#[test]
fn clear_errors_for_unknown_type_and_bad_bytes() {
    let path = temp_file("bad.ssz", &[1, 2, 3]);
    let out = ember()
        .args(["ssz", "decode", "NotAType"])
        .arg(&path)
        .output()
        .expect("run ember");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown type `NotAType`"));

    let out = ember()
        .args(["ssz", "root", "Checkpoint"])
        .arg(&path)
        .output()
        .expect("run ember");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid SSZ bytes for Checkpoint"));

    let out = ember()
        .args(["ssz", "decode", "Checkpoint"])
        .arg(temp_file("bad.ssz_snappy", b"not snappy at all"))
        .output()
        .expect("run ember");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("snappy"));
}
