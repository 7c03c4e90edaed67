//! Consensus spec-test harness (`cargo test --release --test spec_tests`).
//!
//! Walks `$CONSENSUS_SPEC_TESTS_DIR` (default `../shared/spec-tests/tests`), laid out as
//! `<preset>/<fork>/<runner>/<handler>/<suite>/<case>/`, runs every case of the runners Ember
//! supports and counts the rest as skipped (never passed). `SPEC_TESTS_FILTER` keeps only the
//! cases whose path contains that substring. Prints one line per
//! `<preset>/<fork>/<runner>/<handler>` and a total; exits non-zero when any case fails.

mod runners;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One test case directory and where it sits in the tree.
#[derive(Debug, Clone)]
pub struct Case {
    pub preset: String,
    pub fork: String,
    pub runner: String,
    pub handler: String,
    pub suite: String,
    pub name: String,
    pub path: PathBuf,
}

impl Case {
    pub fn group(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.preset, self.fork, self.runner, self.handler
        )
    }

    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.group(), self.suite, self.name)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.path.join(name).exists()
    }
}

/// What running one case gave.
#[derive(Debug)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// Not supported (yet): counted as skipped, with the reason.
    Skip(String),
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn collect_cases(root: &Path, filter: Option<&str>) -> Vec<Case> {
    let mut cases = Vec::new();
    for preset in subdirs(root) {
        for fork in subdirs(&preset) {
            for runner in subdirs(&fork) {
                for handler in subdirs(&runner) {
                    for suite in subdirs(&handler) {
                        for case in subdirs(&suite) {
                            let c = Case {
                                preset: name_of(&preset),
                                fork: name_of(&fork),
                                runner: name_of(&runner),
                                handler: name_of(&handler),
                                suite: name_of(&suite),
                                name: name_of(&case),
                                path: case.clone(),
                            };
                            if filter.is_none_or(|f| c.id().contains(f)) {
                                cases.push(c);
                            }
                        }
                    }
                }
            }
        }
    }
    cases
}

#[derive(Default, Clone, Copy)]
struct Counts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

fn main() {
    let root = std::env::var("CONSENSUS_SPEC_TESTS_DIR")
        .unwrap_or_else(|_| "../shared/spec-tests/tests".to_string());
    let root = PathBuf::from(root);
    let filter = std::env::var("SPEC_TESTS_FILTER")
        .ok()
        .filter(|s| !s.is_empty());
    // `cargo test` passes libtest flags (e.g. `--nocapture`); this harness has none to read.
    if !root.is_dir() {
        eprintln!(
            "spec-tests: vectors not found at {} (set CONSENSUS_SPEC_TESTS_DIR)",
            root.display()
        );
        std::process::exit(1);
    }
    let cases = collect_cases(&root, filter.as_deref());

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::with_capacity(cases.len()));
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let outcome = match std::panic::catch_unwind(|| runners::run(case)) {
                    Ok(o) => o,
                    Err(e) => {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        Outcome::Fail(format!("panicked: {msg}"))
                    }
                };
                results.lock().expect("results lock").push((i, outcome));
            });
        }
    });

    let mut results = results.into_inner().expect("results lock");
    results.sort_by_key(|(i, _)| *i);
    let mut groups: BTreeMap<String, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    let mut failures = Vec::new();
    let mut skip_reasons: BTreeMap<String, String> = BTreeMap::new();
    for (i, outcome) in &results {
        let case = &cases[*i];
        let g = groups.entry(case.group()).or_default();
        match outcome {
            Outcome::Pass => {
                g.passed += 1;
                total.passed += 1;
            }
            Outcome::Fail(why) => {
                g.failed += 1;
                total.failed += 1;
                failures.push(format!("FAIL {}: {}", case.id(), why));
            }
            Outcome::Skip(why) => {
                g.skipped += 1;
                total.skipped += 1;
                skip_reasons
                    .entry(case.group())
                    .or_insert_with(|| why.clone());
            }
        }
    }
    for f in &failures {
        println!("{f}");
    }
    for (group, why) in &skip_reasons {
        println!("SKIP {group}: {why}");
    }
    for (group, c) in &groups {
        println!(
            "{group}: {} passed, {} failed, {} skipped",
            c.passed, c.failed, c.skipped
        );
    }
    println!(
        "spec-tests: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    );
    if total.failed > 0 {
        std::process::exit(1);
    }
}
