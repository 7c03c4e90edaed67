//! The devnet, end to end, with the real binary: `ember devnet` runs `ember mock-el` and
//! `ember bn` as processes on 127.0.0.1; the tests talk to them only through the Beacon API,
//! the metrics endpoint and signals.
//!
//! - the devnet finalizes within 5 epochs, and the Beacon API answers every endpoint of the
//!   walking-skeleton issue (status codes, shapes, SSZ, SSE, errors);
//! - the node killed with SIGKILL resumes from its store when the devnet is started again with
//!   the same directory, and no validator signs conflicting messages: every attestation included
//!   on chain is checked for double and surround votes, and every slot has at most one block in
//!   the node's fork choice.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EMBER: &str = env!("CARGO_BIN_EXE_ember");
/// Minimal preset: 8 slots per epoch.
const SLOTS_PER_EPOCH: u64 = 8;
const SECONDS_PER_SLOT: u64 = 2;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

struct Ports {
    http: u16,
    metrics: u16,
    el: u16,
    p2p: u16,
}

impl Ports {
    fn new() -> Self {
        Ports {
            http: free_port(),
            metrics: free_port(),
            el: free_port(),
            p2p: free_port(),
        }
    }
}

/// A running `ember devnet`, its output collected (and echoed for the test log).
struct Devnet {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Devnet {
    fn start(dir: &Path, ports: &Ports, new: bool) -> Devnet {
        let mut cmd = Command::new(EMBER);
        cmd.arg("devnet").arg("--datadir").arg(dir);
        if new {
            cmd.args(["--validators", "64", "--seconds-per-slot"])
                .arg(SECONDS_PER_SLOT.to_string())
                .args(["--genesis-delay", "4"]);
        }
        cmd.arg("--http-port")
            .arg(ports.http.to_string())
            .arg("--metrics-port")
            .arg(ports.metrics.to_string())
            .arg("--el-port")
            .arg(ports.el.to_string())
            // libp2p TCP and discv5 UDP: never the default 9000, which another test or a
            // local node may hold.
            .arg("--p2p-port")
            .arg(ports.p2p.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("ember devnet starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    println!("{line}");
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        Devnet { child, log }
    }

    fn log_contains(&self, needle: &str) -> Option<String> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }

    /// The node's pid, from the supervisor's "started node0 (pid N)" line.
    fn node_pid(&self) -> Option<i32> {
        let line = self.log_contains("started node0 (pid ")?;
        let rest = line.split("(pid ").nth(1)?;
        rest.trim_end_matches(')').trim().parse().ok()
    }

    fn interrupt_and_wait(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM lets the supervisor stop its children (a SIGKILL would leave that to
            // PDEATHSIG).
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGTERM);
            }
            let _ = self.wait_exit(Duration::from_secs(40));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP/1.0 request (so the server closes the connection and never chunks the body).
fn http(port: u16, method: &str, path: &str, accept: &str, body: Option<&str>) -> (u16, Vec<u8>) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, Vec::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, Vec::new());
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, Vec::new());
    };
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response[split + 4..].to_vec())
}

fn get_json(port: u16, path: &str) -> (u16, Value) {
    let (status, body) = http(port, "GET", path, "application/json", None);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn get_ok(port: u16, path: &str) -> Value {
    let (status, json) = get_json(port, path);
    assert_eq!(status, 200, "GET {path}: {json}");
    json
}

fn num(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
}

fn head_slot(port: u16) -> Option<u64> {
    let (status, json) = get_json(port, "/eth/v1/beacon/headers/head");
    (status == 200).then(|| num(&json["data"]["header"]["message"]["slot"]))
}

fn finalized_epoch(port: u16) -> Option<u64> {
    let (status, json) = get_json(port, "/eth/v1/beacon/states/head/finality_checkpoints");
    (status == 200).then(|| num(&json["data"]["finalized"]["epoch"]))
}

fn genesis_time(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("devnet.json")).expect("manifest");
    let v: Value = serde_json::from_str(&text).expect("manifest json");
    v["genesis_time"].as_u64().expect("genesis_time")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn wall_slot(dir: &Path) -> u64 {
    now().saturating_sub(genesis_time(dir)) / SECONDS_PER_SLOT
}

/// Polls until `f` holds or the wall clock passes `max_slot` (then fails with `what`).
fn wait_until(
    dir: &Path,
    devnet: &mut Devnet,
    max_slot: u64,
    what: &str,
    mut f: impl FnMut() -> bool,
) {
    loop {
        if f() {
            return;
        }
        if let Ok(Some(status)) = devnet.child.try_wait() {
            panic!("devnet exited ({status}) while waiting for {what}");
        }
        if dir.join("devnet.json").exists() && wall_slot(dir) > max_slot {
            panic!("{what}: not reached by slot {max_slot}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn devnet_finalizes_and_the_beacon_api_answers() {
    let dir = temp_dir("finality");
    let ports = Ports::new();
    let mut devnet = Devnet::start(&dir, &ports, true);
    // The SSE subscriber connects early and must see head events.
    let sse_port = ports.http;
    let sse = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", sse_port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let req = "GET /eth/v1/events?topics=head,block,finalized_checkpoint HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
                if stream.write_all(req.as_bytes()).is_ok() {
                    let mut events = Vec::new();
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        if let Some(e) = line.strip_prefix("event:") {
                            events.push(e.trim().to_string());
                        }
                        if events.iter().any(|e| e == "head") && events.iter().any(|e| e == "block")
                        {
                            return events;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Vec::new()
    });

    // "It must reach finality within 5 epochs."
    wait_until(&dir, &mut devnet, 5 * SLOTS_PER_EPOCH, "finality", || {
        finalized_epoch(ports.http).is_some_and(|e| e > 0)
    });
    let events = sse.join().expect("sse thread");
    assert!(
        events.iter().any(|e| e == "head"),
        "SSE head events: {events:?}"
    );
    assert!(
        events.iter().any(|e| e == "block"),
        "SSE block events: {events:?}"
    );
    assert!(
        devnet.log_contains("finalized").is_some(),
        "the per-slot log names finalization"
    );

    let p = ports.http;
    // node
    assert!(get_ok(p, "/eth/v1/node/version")["data"]["version"]
        .as_str()
        .is_some_and(|v| v.to_lowercase().contains("ember")));
    let (status, _) = http(p, "GET", "/eth/v1/node/health", "application/json", None);
    assert!(status == 200 || status == 206, "health {status}");
    let syncing = get_ok(p, "/eth/v1/node/syncing");
    assert!(num(&syncing["data"]["head_slot"]) > 0);
    assert!(get_ok(p, "/eth/v1/node/identity")["data"].is_object());
    // beacon
    let genesis = get_ok(p, "/eth/v1/beacon/genesis");
    assert_eq!(num(&genesis["data"]["genesis_time"]), genesis_time(&dir));
    let head = get_ok(p, "/eth/v1/beacon/headers/head");
    let head_root = head["data"]["root"].as_str().expect("root").to_string();
    assert!(get_ok(p, "/eth/v1/beacon/headers")["data"].is_array());
    let block = get_ok(p, &format!("/eth/v2/beacon/blocks/{head_root}"));
    assert_eq!(block["version"], "fulu");
    assert!(block["data"]["message"]["body"]["attestations"].is_array());
    let (status, ssz) = http(
        p,
        "GET",
        &format!("/eth/v2/beacon/blocks/{head_root}"),
        "application/octet-stream",
        None,
    );
    assert_eq!(status, 200);
    assert!(ssz.len() > 100 && ssz[0] != b'{', "SSZ block body");
    assert_eq!(
        get_ok(p, "/eth/v1/beacon/blocks/head/root")["data"]["root"],
        head_root
    );
    assert!(get_ok(p, "/eth/v1/beacon/states/head/root")["data"]["root"].is_string());
    assert!(get_ok(p, "/eth/v1/beacon/states/head/fork")["data"]["current_version"].is_string());
    let validators = get_ok(p, "/eth/v1/beacon/states/head/validators");
    assert_eq!(validators["data"].as_array().map(Vec::len), Some(64));
    assert_eq!(validators["data"][0]["status"], "active_ongoing");
    let one = get_ok(p, "/eth/v1/beacon/states/head/validators/5");
    assert_eq!(num(&one["data"]["index"]), 5);
    let balances = get_ok(p, "/eth/v1/beacon/states/head/validator_balances?id=0,1,2");
    assert_eq!(balances["data"].as_array().map(Vec::len), Some(3));
    let committees = get_ok(p, "/eth/v1/beacon/states/head/committees");
    assert!(committees["data"].as_array().is_some_and(|c| !c.is_empty()));
    // config
    let spec = get_ok(p, "/eth/v1/config/spec");
    assert_eq!(num(&spec["data"]["SLOTS_PER_EPOCH"]), SLOTS_PER_EPOCH);
    assert!(get_ok(p, "/eth/v1/config/fork_schedule")["data"].is_array());
    assert!(get_ok(p, "/eth/v1/config/deposit_contract")["data"]["address"].is_string());
    // debug
    let state = get_ok(p, "/eth/v2/debug/beacon/states/head");
    assert_eq!(state["version"], "fulu");
    assert!(get_ok(p, "/eth/v1/debug/fork_choice")["fork_choice_nodes"].is_array());
    // errors: the standard body
    let (status, body) = get_json(p, "/eth/v1/beacon/states/not_a_state/root");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 400);
    assert!(body["message"].is_string());
    let (status, body) = get_json(
        p,
        &format!("/eth/v1/beacon/blocks/0x{}/root", "ab".repeat(32)),
    );
    assert_eq!(status, 404, "{body}");
    let (status, _) = get_json(p, "/eth/v1/beacon/states/head/validators/100000");
    assert_eq!(status, 404);
    // metrics
    let (status, metrics) = http(ports.metrics, "GET", "/metrics", "text/plain", None);
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&metrics);
    for name in [
        "beacon_head_slot",
        "beacon_finalized_epoch",
        "beacon_current_justified_epoch",
    ] {
        assert!(metrics.contains(name), "metric {name} missing");
    }
    devnet.interrupt_and_wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Attesting indices of an on-chain (Electra) attestation, from the committees of its slot.
fn attesting_indices(att: &Value, committees: &HashMap<(u64, u64), Vec<u64>>) -> Vec<u64> {
    let slot = num(&att["data"]["slot"]);
    let bits = hex_bits(att["aggregation_bits"].as_str().expect("bits"));
    let committee_bits = hex_bits(att["committee_bits"].as_str().expect("committee bits"));
    let mut out = Vec::new();
    let mut offset = 0usize;
    for (index, set) in committee_bits.iter().enumerate() {
        if !set {
            continue;
        }
        let members = committees
            .get(&(slot, index as u64))
            .unwrap_or_else(|| panic!("committee {index} of slot {slot}"));
        for (i, v) in members.iter().enumerate() {
            if bits.get(offset + i).copied().unwrap_or(false) {
                out.push(*v);
            }
        }
        offset += members.len();
    }
    out
}

/// SSZ bitlist/bitvector bytes (little-endian bit order) as bools (a bitlist keeps its
/// delimiter bit at the end, which no committee position reaches).
fn hex_bits(hex: &str) -> Vec<bool> {
    let bytes = hex::decode(hex.trim_start_matches("0x")).expect("hex");
    bytes
        .iter()
        .flat_map(|b| (0..8).map(move |i| b >> i & 1 == 1))
        .collect()
}

#[test]
fn killed_node_resumes_from_its_store_without_double_signing() {
    let dir = temp_dir("restart");
    let ports = Ports::new();
    let mut devnet = Devnet::start(&dir, &ports, true);
    wait_until(&dir, &mut devnet, 20, "head at slot 10", || {
        head_slot(ports.http).is_some_and(|s| s >= 10)
    });
    // Kill the node mid-epoch with SIGKILL: no shutdown path runs.
    let pid = devnet.node_pid().expect("node pid in the devnet log");
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    assert!(
        devnet.wait_exit(Duration::from_secs(40)),
        "supervisor stops when its node dies"
    );
    let killed_at = wall_slot(&dir);
    drop(devnet);

    // Same directory: resumes (no genesis flags) from the store.
    let mut devnet = Devnet::start(&dir, &ports, false);
    wait_until(
        &dir,
        &mut devnet,
        killed_at + 4 * SLOTS_PER_EPOCH,
        "progress after restart",
        || head_slot(ports.http).is_some_and(|s| s > killed_at + SLOTS_PER_EPOCH),
    );
    assert!(
        devnet.log_contains("created").is_none(),
        "a resumed devnet must not create a new genesis"
    );
    // No slot has two blocks in the node's fork choice (a re-proposal after the restart would
    // add a sibling).
    let fc = get_ok(ports.http, "/eth/v1/debug/fork_choice");
    let mut by_slot: HashMap<u64, usize> = HashMap::new();
    for node in fc["fork_choice_nodes"].as_array().expect("nodes") {
        *by_slot.entry(num(&node["slot"])).or_default() += 1;
    }
    assert!(
        by_slot.values().all(|&n| n == 1),
        "two blocks at one slot: {by_slot:?}"
    );
    wait_until(
        &dir,
        &mut devnet,
        killed_at + 6 * SLOTS_PER_EPOCH,
        "finality after restart",
        || finalized_epoch(ports.http).is_some_and(|e| e * SLOTS_PER_EPOCH > killed_at),
    );

    // Every attestation on chain: per validator, no two different votes for one target and no
    // surround votes.
    let head = head_slot(ports.http).expect("head");
    let mut committees: HashMap<(u64, u64), Vec<u64>> = HashMap::new();
    for epoch in 0..=head / SLOTS_PER_EPOCH {
        let json = get_ok(
            ports.http,
            &format!(
                "/eth/v1/beacon/states/{}/committees",
                epoch * SLOTS_PER_EPOCH
            ),
        );
        for c in json["data"].as_array().expect("committees") {
            let members = c["validators"]
                .as_array()
                .expect("members")
                .iter()
                .map(num)
                .collect();
            committees.insert((num(&c["slot"]), num(&c["index"])), members);
        }
    }
    // validator -> target epoch -> (source epoch, data as JSON text)
    let mut votes: HashMap<u64, HashMap<u64, (u64, String)>> = HashMap::new();
    let mut included = 0usize;
    for slot in 1..=head {
        let (status, block) = get_json(ports.http, &format!("/eth/v2/beacon/blocks/{slot}"));
        if status == 404 {
            continue;
        }
        assert_eq!(status, 200, "block at slot {slot}: {block}");
        for att in block["data"]["message"]["body"]["attestations"]
            .as_array()
            .expect("attestations")
        {
            let data = &att["data"];
            let source = num(&data["source"]["epoch"]);
            let target = num(&data["target"]["epoch"]);
            let text = data.to_string();
            for v in attesting_indices(att, &committees) {
                included += 1;
                let mine = votes.entry(v).or_default();
                if let Some((s, d)) = mine.get(&target) {
                    assert!(
                        *s == source && *d == text,
                        "validator {v} double vote at target {target}"
                    );
                }
                for (&t, &(s, _)) in mine.iter() {
                    let surrounds = source < s && t < target;
                    let surrounded = s < source && target < t;
                    assert!(!surrounds && !surrounded, "validator {v} surround vote");
                }
                mine.insert(target, (source, text.clone()));
            }
        }
    }
    assert!(
        included > 64 * 2,
        "attestations were included on chain ({included})"
    );
    devnet.interrupt_and_wait();
    let _ = std::fs::remove_dir_all(&dir);
}
