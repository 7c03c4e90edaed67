//! The store's commands on the real `ember` binary: `budget`, `store-writer`, `db check`,
//! `db stats`.

use std::process::Command;

fn ember() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ember"))
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run ember");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn budget_prints_the_split_and_refuses_too_little() {
    let (ok, out, _) = run(ember().args(["budget", "--memory-budget", "1024"]));
    assert!(ok);
    assert!(out.contains("memory budget: 1024 MiB"), "{out}");
    assert!(
        out.contains("StateCache") && out.contains("460 MiB"),
        "{out}"
    );
    let (ok, _, err) = run(ember().args(["budget", "--memory-budget", "100"]));
    assert!(!ok);
    assert!(err.contains("below the minimum"), "{err}");
    let (ok, out, _) = run(ember().args(["budget"]));
    assert!(ok && out.contains("memory budget: 2048 MiB"), "{out}");
}

#[test]
fn writer_then_check_and_stats() {
    let dir = std::env::temp_dir().join(format!("ember-store-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, out, err) = run(ember()
        .args(["store-writer", "--until-slot", "64", "--datadir"])
        .arg(&dir));
    assert!(ok, "{err}");
    assert!(out.contains("imported 64 head 64"), "{out}");
    let (ok, out, err) = run(ember()
        .args(["db", "check", "--preset", "minimal", "--datadir"])
        .arg(&dir));
    assert!(ok, "{err}");
    assert!(out.starts_with("consistent"), "{out}");
    let (ok, out, err) = run(ember()
        .args(["db", "stats", "--preset", "minimal", "--datadir"])
        .arg(&dir));
    assert!(ok, "{err}");
    assert!(
        out.contains("Finalized") && out.contains("per epoch"),
        "{out}"
    );
    // The database knows its preset.
    let (ok, _, err) = run(ember()
        .args(["db", "check", "--preset", "mainnet", "--datadir"])
        .arg(&dir));
    assert!(!ok);
    assert!(err.contains("preset minimal"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
