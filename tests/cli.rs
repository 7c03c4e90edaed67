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

#[test]
fn genesis_then_transition_over_empty_slots() {
    let dir = std::env::temp_dir().join(format!("ember-cli-genesis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let genesis = dir.join("genesis.ssz_snappy");
    let post = dir.join("post.ssz");
    let out = ember()
        .args(["genesis", "--preset", "minimal", "--validators", "64"])
        .args(["--genesis-time", "1700000000", "--out"])
        .arg(&genesis)
        .output()
        .expect("run ember genesis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = snap::raw::Decoder::new()
        .decompress_vec(&std::fs::read(&genesis).expect("genesis file"))
        .expect("snappy");
    let state = <minimal::BeaconState as ssz::Decode>::from_ssz_bytes(&bytes).expect("state");
    assert_eq!(state.validators.len(), 64);
    assert_eq!(state.genesis_time, 1_700_000_000);
    assert_eq!(
        state.fork_name(),
        ember::consensus::primitives::ForkName::Fulu
    );

    // Two epochs and a bit of empty slots: epoch processing runs twice.
    let out = ember()
        .args([
            "transition",
            "--preset",
            "minimal",
            "--slots",
            "17",
            "--pre",
        ])
        .arg(&genesis)
        .arg("--post")
        .arg(&post)
        .output()
        .expect("run ember transition");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("slots:   +17 to slot 17"), "{stderr}");
    let post_state = <minimal::BeaconState as ssz::Decode>::from_ssz_bytes(
        &std::fs::read(&post).expect("post file"),
    )
    .expect("post state");
    assert_eq!(post_state.slot, 17);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains(&format!("{:?}", post_state.tree_hash_root())));

    // A wrong preset is refused with a clear error, not a panic.
    let out = ember()
        .args(["transition", "--preset", "mainnet", "--slots", "1", "--pre"])
        .arg(&genesis)
        .arg("--post")
        .arg(dir.join("never.ssz"))
        .output()
        .expect("run ember transition");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid BeaconState"));
    let _ = std::fs::remove_dir_all(&dir);
}
