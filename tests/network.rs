//! Networking end to end with real processes on 127.0.0.1: `ember devnet --nodes 2` (two
//! `ember bn` + two `ember mock-el`), extra `ember bn` processes started by the test, and a
//! libp2p peer run by the test itself (TCP + noise + yamux, gossipsub with the eth2 topics, the
//! eth2 req/resp protocols with raw byte frames) that misbehaves.
//!
//! - two nodes peer, gossip blocks and attestations and finalize with the validators split;
//! - a late joiner (no validators) range-syncs 3+ epochs, follows the head, and after a SIGKILL
//!   and a restart on the same datadir catches up again;
//! - a peer sending malformed snappy, undecodable SSZ, blocks and attestations with invalid
//!   signatures, and garbage req/resp frames is disconnected and banned (reconnects refused),
//!   while the node keeps following the head with its honest peer;
//! - a node with `--memory-budget 256` flooded with large valid-looking gossip from several
//!   connections keeps its peak RSS under the budget and keeps following.
//!
//! Ports: each test has its own range (below the ephemeral range, away from the defaults 5052,
//! 5054, 8551, 9000), so the tests run in parallel: see [`Ports`].

use ember::consensus::config::ChainConfig;
use ember::consensus::minimal as spec;
use ember::network::{GossipKind, GossipTopic, MetaData, StatusMessage};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::swarm::{dial_opts::DialOpts, NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, identity, noise, request_response, tcp, yamux};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};
use serde_json::Value;
use sha2::{Digest, Sha256};
use ssz::{Decode, Encode};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EMBER: &str = env!("CARGO_BIN_EXE_ember");
/// Minimal preset: 8 slots per epoch.
const SLOTS_PER_EPOCH: u64 = 8;
const SECONDS_PER_SLOT: u64 = 2;
const VALIDATORS: u64 = 64;

// ------------------------------------------------------------------------------ processes

/// A test's ports: node k of the devnet uses `http + 10k`, `metrics + 10k`, `el + k`,
/// `p2p + k` (the devnet's offsets); extra nodes started by the test use the next k.
#[derive(Clone, Copy)]
struct Ports {
    http: u16,
    metrics: u16,
    el: u16,
    p2p: u16,
}

impl Ports {
    /// `base` in 20000..32000 step 1000, one per test.
    fn new(base: u16) -> Ports {
        Ports {
            http: base,
            metrics: base + 2,
            el: base + 100,
            p2p: base + 200,
        }
    }
    fn http(&self, k: u16) -> u16 {
        self.http + 10 * k
    }
    fn metrics(&self, k: u16) -> u16 {
        self.metrics + 10 * k
    }
    fn el(&self, k: u16) -> u16 {
        self.el + k
    }
    fn p2p(&self, k: u16) -> u16 {
        self.p2p + k
    }
}

/// The tests of this file run one at a time: each runs a multi-node devnet, and on a 2-core
/// machine four of them at once (eight nodes plus a flood) starve each other of CPU, which
/// tests scheduling, not the node.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-net-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A child process whose output is collected (and echoed with a prefix for the test log).
struct Proc {
    name: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1");
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{name} starts: {e}"));
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
            let prefix = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    println!("[{prefix}] {line}");
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    // Bounded: only the recent lines matter for the checks.
                    if log.len() > 20_000 {
                        log.drain(..10_000);
                    }
                    log.push(line);
                }
            });
        }
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_contains(&self, needle: &str) -> Option<String> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }

    fn signal_and_wait(&mut self, signal: i32, timeout: Duration) {
        if !self.alive() {
            return;
        }
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.pid(), signal);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM lets a devnet supervisor stop its children.
        self.signal_and_wait(libc::SIGTERM, Duration::from_secs(40));
        let _ = &self.name;
    }
}

/// `ember devnet --nodes N` in `dir` with the test's ports.
fn start_devnet(dir: &Path, ports: &Ports, nodes: usize, memory_budget: Option<u64>) -> Proc {
    let mut cmd = Command::new(EMBER);
    if let Some(mib) = memory_budget {
        cmd.arg("--memory-budget").arg(mib.to_string());
    }
    cmd.arg("devnet")
        .arg("--datadir")
        .arg(dir)
        .arg("--nodes")
        .arg(nodes.to_string())
        .arg("--validators")
        .arg(VALIDATORS.to_string())
        .arg("--seconds-per-slot")
        .arg(SECONDS_PER_SLOT.to_string())
        .arg("--http-port")
        .arg(ports.http.to_string())
        .arg("--metrics-port")
        .arg(ports.metrics.to_string())
        .arg("--el-port")
        .arg(ports.el.to_string())
        .arg("--p2p-port")
        .arg(ports.p2p.to_string());
    Proc::spawn("devnet", cmd)
}

/// A node without validators (and its own mock EL) started by the test.
struct Joiner {
    node: Proc,
    /// Kept for its Drop (stopped after the node).
    _el: Proc,
    /// The node's command line, to restart it.
    command: Command,
}

/// A node without validators joining the devnet in `dir` as node index `k` (its own mock EL).
fn start_joiner(dir: &Path, ports: &Ports, k: u16, boot_enr: &str) -> Joiner {
    let mut el = Command::new(EMBER);
    el.arg("mock-el")
        .arg("--jwt-secret")
        .arg(dir.join("jwt.hex"))
        .args(["--address", "127.0.0.1", "--port"])
        .arg(ports.el(k).to_string())
        .arg("--datadir")
        .arg(dir.join(format!("joiner-el{k}")))
        .env("RUST_LOG", "warn");
    let el = Proc::spawn(&format!("el{k}"), el);
    let command = joiner_command(dir, ports, k, boot_enr);
    Joiner {
        node: Proc::spawn(&format!("node{k}"), clone_command(&command)),
        _el: el,
        command,
    }
}

fn joiner_command(dir: &Path, ports: &Ports, k: u16, boot_enr: &str) -> Command {
    let mut bn = Command::new(EMBER);
    bn.arg("bn")
        .arg("--datadir")
        .arg(dir.join(format!("joiner{k}")))
        .args(["--preset", "minimal"])
        .arg("--config")
        .arg(dir.join("config.yaml"))
        .arg("--genesis-state")
        .arg(dir.join("genesis.ssz"))
        .arg("--execution-endpoint")
        .arg(format!("http://127.0.0.1:{}", ports.el(k)))
        .arg("--execution-jwt")
        .arg(dir.join("jwt.hex"))
        .args(["--http-address", "127.0.0.1", "--http-port"])
        .arg(ports.http(k).to_string())
        .arg("--metrics-port")
        .arg(ports.metrics(k).to_string())
        .args([
            "--listen-address",
            "127.0.0.1",
            "--enr-address",
            "127.0.0.1",
        ])
        .arg("--port")
        .arg(ports.p2p(k).to_string())
        .arg("--discovery-port")
        .arg(ports.p2p(k).to_string())
        .arg("--subscribe-all-subnets")
        .arg("--boot-nodes")
        .arg(boot_enr);
    bn
}

fn clone_command(cmd: &Command) -> Command {
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args());
    c
}

/// Node k's ENR as its network layer wrote it (waits for it).
fn read_enr(dir: &Path, k: usize, timeout: Duration) -> String {
    let path = dir.join(format!("node{k}")).join("network").join("enr");
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let enr = text.trim();
            if enr.starts_with("enr:") {
                return enr.to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} not written within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every node's argv from the devnet's `commands.json`.
fn devnet_commands(dir: &Path) -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(dir.join("commands.json")).expect("commands.json");
    serde_json::from_str(&text).expect("commands.json is a map of argv")
}

// ------------------------------------------------------------------------------ HTTP

/// One HTTP/1.0 request (so the server closes the connection and never chunks the body).
fn http(port: u16, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, Vec::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n");
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

fn get_json(port: u16, path: &str) -> Option<Value> {
    let (status, body) = http(port, path, "application/json");
    if status != 200 {
        return None;
    }
    serde_json::from_slice(&body).ok()
}

fn num(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
}

/// (slot, root) of the head.
fn head(port: u16) -> Option<(u64, String)> {
    let json = get_json(port, "/eth/v1/beacon/headers/head")?;
    Some((
        num(&json["data"]["header"]["message"]["slot"]),
        json["data"]["root"].as_str()?.to_string(),
    ))
}

fn head_slot(port: u16) -> Option<u64> {
    head(port).map(|(s, _)| s)
}

/// The canonical block root at `slot` (None: no block there, or no answer).
fn root_at(port: u16, slot: u64) -> Option<String> {
    let json = get_json(port, &format!("/eth/v1/beacon/headers/{slot}"))?;
    json["data"]["root"].as_str().map(str::to_string)
}

fn finalized_epoch(port: u16) -> Option<u64> {
    let json = get_json(port, "/eth/v1/beacon/states/head/finality_checkpoints")?;
    Some(num(&json["data"]["finalized"]["epoch"]))
}

fn peer_id(port: u16) -> Option<String> {
    let json = get_json(port, "/eth/v1/node/identity")?;
    json["data"]["peer_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The peers `port`'s node lists as connected.
fn connected_peers(port: u16) -> HashSet<String> {
    let Some(json) = get_json(port, "/eth/v1/node/peers") else {
        return HashSet::new();
    };
    json["data"]
        .as_array()
        .map(|peers| {
            peers
                .iter()
                .filter(|p| p["state"] == "connected")
                .filter_map(|p| p["peer_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn syncing(port: u16) -> Option<(bool, u64)> {
    let json = get_json(port, "/eth/v1/node/syncing")?;
    Some((
        json["data"]["is_syncing"].as_bool()?,
        num(&json["data"]["sync_distance"]),
    ))
}

fn genesis_time(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("devnet.json")).expect("manifest");
    let v: Value = serde_json::from_str(&text).expect("manifest json");
    v["genesis_time"].as_u64().expect("genesis_time")
}

fn now_secs_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn wall_slot(dir: &Path) -> u64 {
    let elapsed = now_secs_f64() - genesis_time(dir) as f64;
    if elapsed < 0.0 {
        0
    } else {
        (elapsed / SECONDS_PER_SLOT as f64) as u64
    }
}

/// Polls `f` until it holds; fails with `what` once the wall clock passes `max_slot` or a
/// watched process exits.
fn wait_until(
    dir: &Path,
    procs: &mut [&mut Proc],
    max_slot: u64,
    what: &str,
    mut f: impl FnMut() -> bool,
) {
    loop {
        if f() {
            return;
        }
        for p in procs.iter_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{} exited ({status}) while waiting for {what}", p.name);
            }
        }
        if dir.join("devnet.json").exists() && wall_slot(dir) > max_slot {
            panic!("{what}: not reached by slot {max_slot}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the devnet's nodes 0..n are up, peered with each other, and returns their peer
/// ids.
fn wait_peered(dir: &Path, devnet: &mut Proc, ports: &Ports, n: u16) -> Vec<String> {
    let mut ids = vec![String::new(); n as usize];
    wait_until(dir, &mut [devnet], 3 * SLOTS_PER_EPOCH, "peer ids", || {
        for k in 0..n {
            if ids[k as usize].is_empty() {
                ids[k as usize] = peer_id(ports.http(k)).unwrap_or_default();
            }
        }
        ids.iter().all(|i| !i.is_empty())
    });
    wait_until(
        dir,
        &mut [devnet],
        4 * SLOTS_PER_EPOCH,
        "every node lists every other as a connected peer",
        || {
            (0..n).all(|k| {
                let peers = connected_peers(ports.http(k));
                (0..n)
                    .filter(|j| *j != k)
                    .all(|j| peers.contains(&ids[j as usize]))
            })
        },
    );
    ids
}

// ------------------------------------------------------------------------------ (a)

#[test]
fn two_nodes_peer_gossip_and_finalize() {
    let _serial = serial();
    let dir = temp_dir("pair");
    let ports = Ports::new(21000);
    let mut devnet = start_devnet(&dir, &ports, 2, None);
    let ids = wait_peered(&dir, &mut devnet, &ports, 2);
    println!("peer ids: {ids:?}");

    // Justification and finality need more than 2/3 of the votes: each node runs half the
    // validators, so this needs the other node's attestations (gossip) and blocks.
    wait_until(
        &dir,
        &mut [&mut devnet],
        7 * SLOTS_PER_EPOCH,
        "both nodes finalize",
        || (0..2).all(|k| finalized_epoch(ports.http(k)).is_some_and(|e| e >= 1)),
    );

    // Same head (allow a slot boundary in between the two reads).
    wait_until(
        &dir,
        &mut [&mut devnet],
        wall_slot(&dir) + 4,
        "both nodes have the same head",
        || {
            let a = head(ports.http(0));
            let b = head(ports.http(1));
            a.is_some() && a == b
        },
    );
    // Every slot up to the head has the same canonical block on both nodes, and blocks of both
    // halves of the validators (each node proposes only with its own) are in both chains.
    let (head_slot0, _) = head(ports.http(0)).expect("head");
    let mut proposers = HashSet::new();
    let mut blocks = 0;
    for slot in 1..head_slot0 {
        let a = get_json(ports.http(0), &format!("/eth/v1/beacon/headers/{slot}"));
        let b = root_at(ports.http(1), slot);
        let a_root = a
            .as_ref()
            .and_then(|j| j["data"]["root"].as_str().map(str::to_string));
        assert_eq!(a_root, b, "canonical block at slot {slot} differs");
        if let Some(a) = a {
            blocks += 1;
            proposers.insert(num(&a["data"]["header"]["message"]["proposer_index"]));
        }
    }
    let half = VALIDATORS / 2;
    assert!(
        proposers.iter().any(|p| *p < half) && proposers.iter().any(|p| *p >= half),
        "proposers from both nodes' halves: {proposers:?}"
    );
    assert!(
        blocks as u64 + 4 > head_slot0,
        "few slots missed ({blocks} blocks up to slot {head_slot0})"
    );
    assert!(connected_peers(ports.http(0)).contains(&ids[1]));
    assert!(connected_peers(ports.http(1)).contains(&ids[0]));

    // A devnet node killed by hand does not stop the devnet, and its command line from
    // commands.json restarts it: it resumes from its store and catches up.
    let pid = devnet_node_pid(&devnet, 1);
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let killed = wall_slot(&dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    while devnet.log_contains("node1 exited").is_none() {
        assert!(
            Instant::now() < deadline,
            "the devnet reports node1's death"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(4));
    assert!(devnet.alive(), "the devnet goes on without node1");
    let argv = devnet_commands(&dir).remove("node1").expect("node1's argv");
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    let mut node1 = Proc::spawn("node1-restarted", cmd);
    wait_until(
        &dir,
        &mut [&mut devnet, &mut node1],
        killed + 3 * SLOTS_PER_EPOCH,
        "the restarted node1 catches up with node0",
        || {
            head(ports.http(1)).is_some_and(|(s, _)| s > killed + 2)
                && head(ports.http(1)) == head(ports.http(0))
        },
    );
    drop(node1);
    devnet.signal_and_wait(libc::SIGINT, Duration::from_secs(40));
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------------------ (b)

/// The joiner is in sync: not syncing, head within 2 slots of node 0's, and the same block at
/// the joiner's head slot.
fn joiner_in_sync(ports: &Ports, joiner: u16) -> bool {
    let Some((false, _)) = syncing(ports.http(joiner)) else {
        return false;
    };
    let (Some((js, jroot)), Some((hs, _))) = (head(ports.http(joiner)), head(ports.http(0))) else {
        return false;
    };
    js + 2 >= hs && root_at(ports.http(0), js).as_deref() == Some(jroot.as_str())
}

#[test]
fn late_joiner_range_syncs_follows_and_catches_up_after_a_kill() {
    let _serial = serial();
    let dir = temp_dir("joiner");
    let ports = Ports::new(22000);
    let mut devnet = start_devnet(&dir, &ports, 2, None);
    wait_peered(&dir, &mut devnet, &ports, 2);
    // At least 3 epochs of chain before the joiner starts.
    wait_until(
        &dir,
        &mut [&mut devnet],
        5 * SLOTS_PER_EPOCH,
        "3 epochs of chain",
        || head_slot(ports.http(0)).is_some_and(|s| s > 3 * SLOTS_PER_EPOCH),
    );
    let enr = read_enr(&dir, 0, Duration::from_secs(5));
    let k = 2;
    let started = wall_slot(&dir);
    let mut joiner = start_joiner(&dir, &ports, k, &enr);
    wait_until(
        &dir,
        &mut [&mut devnet, &mut joiner.node],
        started + 4 * SLOTS_PER_EPOCH,
        "the late joiner range-syncs to the head",
        || joiner_in_sync(&ports, k),
    );
    println!("joiner in sync after {} slots", wall_slot(&dir) - started);
    // ... and follows it (gossip): one more epoch, still in sync and moving.
    let at = head_slot(ports.http(k)).expect("joiner head");
    wait_until(
        &dir,
        &mut [&mut devnet, &mut joiner.node],
        wall_slot(&dir) + 2 * SLOTS_PER_EPOCH,
        "the joiner follows the head",
        || {
            head_slot(ports.http(k)).is_some_and(|s| s >= at + SLOTS_PER_EPOCH)
                && joiner_in_sync(&ports, k)
        },
    );

    // SIGKILL, a full epoch away, restart on the same datadir: catches up again.
    joiner
        .node
        .signal_and_wait(libc::SIGKILL, Duration::from_secs(10));
    let killed_head = at + SLOTS_PER_EPOCH;
    let killed = wall_slot(&dir);
    wait_until(
        &dir,
        &mut [&mut devnet],
        killed + 3 * SLOTS_PER_EPOCH,
        "one epoch while the joiner is down",
        || wall_slot(&dir) > killed + SLOTS_PER_EPOCH,
    );
    joiner.node = Proc::spawn("node2-restarted", clone_command(&joiner.command));
    let restarted = wall_slot(&dir);
    wait_until(
        &dir,
        &mut [&mut devnet, &mut joiner.node],
        restarted + 3 * SLOTS_PER_EPOCH,
        "the restarted joiner catches up",
        || {
            head_slot(ports.http(k)).is_some_and(|s| s > killed_head + SLOTS_PER_EPOCH)
                && joiner_in_sync(&ports, k)
        },
    );
    drop(joiner);
    devnet.signal_and_wait(libc::SIGINT, Duration::from_secs(40));
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------------------ a test peer

/// eth2 req/resp protocol ids (`/eth2/beacon_chain/req/{name}/{version}/ssz_snappy`).
const STATUS: &str = "/eth2/beacon_chain/req/status/2/ssz_snappy";
const PING: &str = "/eth2/beacon_chain/req/ping/1/ssz_snappy";
const METADATA: &str = "/eth2/beacon_chain/req/metadata/3/ssz_snappy";
const GOODBYE: &str = "/eth2/beacon_chain/req/goodbye/1/ssz_snappy";
const BLOCKS_BY_RANGE: &str = "/eth2/beacon_chain/req/beacon_blocks_by_range/2/ssz_snappy";
const BLOCKS_BY_ROOT: &str = "/eth2/beacon_chain/req/beacon_blocks_by_root/2/ssz_snappy";

/// A request/response codec moving raw bytes: the test writes the frames itself (valid ones
/// for the handshake, garbage for the attack) and reads whole responses.
#[derive(Clone, Default)]
struct RawCodec;

/// Largest response the test peer reads.
const MAX_RAW: u64 = 1 << 20;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        // A request is the SSZ length varint and one snappy frame stream, then the writer
        // closes; ours never need more than a few hundred bytes (status, ping, goodbye).
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = io.read(&mut chunk).await?;
            if n == 0 || buf.len() > MAX_RAW as usize {
                return Ok(buf);
            }
            buf.extend_from_slice(&chunk[..n]);
            if request_complete(&buf) {
                return Ok(buf);
            }
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        let mut buf = Vec::new();
        io.take(MAX_RAW).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        io.write_all(&res).await?;
        io.close().await
    }
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// (value, bytes used) of a leading unsigned varint.
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// Whether `buf` holds a whole request: a varint length and a snappy frame stream that
/// decompresses to that many bytes (a zero length is a whole request by itself).
fn request_complete(buf: &[u8]) -> bool {
    let Some((len, used)) = read_varint(buf) else {
        return false;
    };
    if len == 0 {
        return true;
    }
    let mut out = Vec::new();
    let mut decoder = snap::read::FrameDecoder::new(&buf[used..]);
    let _ = decoder.read_to_end(&mut out);
    out.len() as u64 >= len
}

/// The snappy frame format of `ssz`.
fn snappy_frames(ssz: &[u8]) -> Vec<u8> {
    let mut encoder = snap::write::FrameEncoder::new(Vec::new());
    encoder.write_all(ssz).expect("in memory");
    encoder.into_inner().expect("in memory")
}

/// A request frame: the SSZ length and the snappy frames.
fn request_frame(ssz: &[u8]) -> Vec<u8> {
    let mut out = varint(ssz.len() as u64);
    out.extend(snappy_frames(ssz));
    out
}

/// A successful response chunk (result 0, no context bytes: status, ping, metadata).
fn success_chunk(ssz: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend(request_frame(ssz));
    out
}

/// Gossip payloads are raw (block format) snappy.
fn snappy_raw(ssz: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(ssz)
        .expect("in memory")
}

#[derive(NetworkBehaviour)]
struct PeerBehaviour {
    gossipsub: gossipsub::Behaviour<
        gossipsub::IdentityTransform,
        gossipsub::MaxCountSubscriptionFilter<gossipsub::AllowAllSubscriptionFilter>,
    >,
    status: request_response::Behaviour<RawCodec>,
    ping: request_response::Behaviour<RawCodec>,
    metadata: request_response::Behaviour<RawCodec>,
    goodbye: request_response::Behaviour<RawCodec>,
    by_range: request_response::Behaviour<RawCodec>,
    by_root: request_response::Behaviour<RawCodec>,
}

fn rpc(protocol: &'static str) -> request_response::Behaviour<RawCodec> {
    request_response::Behaviour::new(
        [(
            StreamProtocol::new(protocol),
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    )
}

/// What the node's chain looks like, for our status and the forged messages.
#[derive(Clone)]
struct ChainView {
    fork_digest: ember::consensus::primitives::ForkDigest,
    status: StatusMessage,
}

fn chain_view(dir: &Path, port: u16) -> ChainView {
    let text = std::fs::read_to_string(dir.join("config.yaml")).expect("config");
    let (config, _) = ChainConfig::from_yaml_str(&text).expect("config parses");
    let genesis = get_json(port, "/eth/v1/beacon/genesis").expect("genesis");
    let gvr = root(
        genesis["data"]["genesis_validators_root"]
            .as_str()
            .expect("gvr"),
    );
    let (slot, head_root) = head(port).expect("head");
    let fork_digest = spec::p2p::compute_fork_digest(&config, gvr, slot / SLOTS_PER_EPOCH);
    let fin = get_json(port, "/eth/v1/beacon/states/head/finality_checkpoints").expect("fin");
    ChainView {
        fork_digest,
        status: StatusMessage {
            fork_digest,
            finalized_root: root(fin["data"]["finalized"]["root"].as_str().expect("root")),
            finalized_epoch: num(&fin["data"]["finalized"]["epoch"]),
            head_root: root(&head_root),
            head_slot: slot,
            earliest_available_slot: 0,
        },
    }
}

fn root(hex: &str) -> ember::consensus::primitives::Root {
    let bytes = hex::decode(hex.trim_start_matches("0x")).expect("hex root");
    ember::consensus::primitives::Root::from_slice(&bytes)
}

/// A libp2p peer driven by the test: speaks the handshake correctly (answers status, ping and
/// metadata) so that only what the test sends on purpose can get it banned.
struct TestPeer {
    swarm: Swarm<PeerBehaviour>,
    node: PeerId,
    node_addr: Multiaddr,
    view: ChainView,
    connected: bool,
    connected_since: Option<Instant>,
    /// Longest a connection to the node stayed open (closed ones).
    closed_connections: Vec<Duration>,
    dial_failures: usize,
    node_topics: HashSet<gossipsub::TopicHash>,
    sent: usize,
    publish_errors: usize,
}

impl TestPeer {
    fn new(node: PeerId, node_port: u16, view: ChainView) -> TestPeer {
        let key = identity::Keypair::generate_secp256k1();
        let gossip_config = gossipsub::ConfigBuilder::default()
            .max_transmit_size(10 << 20)
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            .heartbeat_interval(Duration::from_millis(700))
            // Bounds the test's own send queue (flood messages are ~0.5 MB on the wire): a
            // full queue fails the publish (counted) instead of growing.
            .connection_handler_queue_len(64)
            // Ids only need to be unique here; the node computes the spec's id itself.
            .message_id_fn(|m: &gossipsub::Message| {
                let mut h = Sha256::new();
                h.update(m.topic.as_str().as_bytes());
                h.update(&m.data);
                gossipsub::MessageId::from(h.finalize()[..20].to_vec())
            })
            .build()
            .expect("gossipsub config");
        let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("tcp")
            .with_behaviour(|_| PeerBehaviour {
                // libp2p's default subscription filter takes at most 100 subscriptions per
                // RPC; a node with every subnet announces ~200 topics at once.
                gossipsub: gossipsub::Behaviour::new_with_subscription_filter(
                    gossipsub::MessageAuthenticity::Anonymous,
                    gossip_config,
                    gossipsub::MaxCountSubscriptionFilter {
                        filter: gossipsub::AllowAllSubscriptionFilter {},
                        max_subscribed_topics: 1024,
                        max_subscriptions_per_request: 1024,
                    },
                )
                .expect("gossipsub"),
                status: rpc(STATUS),
                ping: rpc(PING),
                metadata: rpc(METADATA),
                goodbye: rpc(GOODBYE),
                by_range: rpc(BLOCKS_BY_RANGE),
                by_root: rpc(BLOCKS_BY_ROOT),
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        let node_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{node_port}")
            .parse()
            .expect("multiaddr");
        TestPeer {
            swarm,
            node,
            node_addr,
            view,
            connected: false,
            connected_since: None,
            closed_connections: Vec::new(),
            dial_failures: 0,
            node_topics: HashSet::new(),
            sent: 0,
            publish_errors: 0,
        }
    }

    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn dial(&mut self) {
        let opts = DialOpts::peer_id(self.node)
            .addresses(vec![self.node_addr.clone()])
            .build();
        if self.swarm.dial(opts).is_err() {
            self.dial_failures += 1;
        }
    }

    fn topic(&self, kind: GossipKind) -> gossipsub::IdentTopic {
        gossipsub::IdentTopic::new(GossipTopic::new(self.view.fork_digest, kind).to_string())
    }

    fn subscribe(&mut self, kinds: &[GossipKind]) {
        for kind in kinds {
            let topic = self.topic(*kind);
            let _ = self.swarm.behaviour_mut().gossipsub.subscribe(&topic);
        }
    }

    /// Publishes raw (already compressed, or deliberately not) bytes.
    fn publish_raw(&mut self, kind: GossipKind, bytes: Vec<u8>) {
        let topic = self.topic(kind);
        match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            Ok(_) => self.sent += 1,
            Err(_) => self.publish_errors += 1,
        }
    }

    fn request(&mut self, protocol: &str, bytes: Vec<u8>) {
        let node = self.node;
        let b = self.swarm.behaviour_mut();
        let rr = match protocol {
            STATUS => &mut b.status,
            PING => &mut b.ping,
            METADATA => &mut b.metadata,
            GOODBYE => &mut b.goodbye,
            BLOCKS_BY_RANGE => &mut b.by_range,
            _ => &mut b.by_root,
        };
        rr.send_request(&node, bytes);
        self.sent += 1;
    }

    fn handle(&mut self, event: SwarmEvent<PeerBehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == self.node => {
                self.connected = true;
                self.connected_since = Some(Instant::now());
                // Our half of the status handshake.
                let status = request_frame(&self.view.status.as_ssz_bytes());
                self.request(STATUS, status);
                self.sent -= 1;
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } if peer_id == self.node && num_established == 0 => {
                self.connected = false;
                if let Some(since) = self.connected_since.take() {
                    self.closed_connections.push(since.elapsed());
                }
                self.node_topics.clear();
            }
            SwarmEvent::OutgoingConnectionError { .. } => self.dial_failures += 1,
            SwarmEvent::Behaviour(PeerBehaviourEvent::Gossipsub(
                gossipsub::Event::Subscribed { peer_id, topic },
            )) if peer_id == self.node => {
                self.node_topics.insert(topic);
            }
            SwarmEvent::Behaviour(e) => self.answer(e),
            _ => {}
        }
    }

    /// Answers the node's requests like an honest peer.
    fn answer(&mut self, event: PeerBehaviourEvent) {
        use request_response::{Event, Message};
        let status = success_chunk(&self.view.status.as_ssz_bytes());
        let b = self.swarm.behaviour_mut();
        match event {
            PeerBehaviourEvent::Status(Event::Message {
                message: Message::Request { channel, .. },
                ..
            }) => {
                let _ = b.status.send_response(channel, status);
            }
            PeerBehaviourEvent::Ping(Event::Message {
                message: Message::Request { channel, .. },
                ..
            }) => {
                let _ = b
                    .ping
                    .send_response(channel, success_chunk(&0u64.as_ssz_bytes()));
            }
            PeerBehaviourEvent::Metadata(Event::Message {
                message: Message::Request { channel, .. },
                ..
            }) => {
                let md = MetaData::default().as_ssz_bytes();
                let _ = b.metadata.send_response(channel, success_chunk(&md));
            }
            PeerBehaviourEvent::Goodbye(Event::Message {
                message: Message::Request { channel, .. },
                ..
            }) => {
                let _ = b.goodbye.send_response(channel, Vec::new());
            }
            _ => {}
        }
    }

    /// Drives the swarm for `d`.
    async fn run_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                event = self.swarm.select_next_some() => self.handle(event),
            }
        }
    }

    /// Drives the swarm until `f` holds (true) or `timeout` passes (false).
    async fn run_until(&mut self, timeout: Duration, f: impl Fn(&TestPeer) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f(self) {
                return true;
            }
            self.run_for(Duration::from_millis(50)).await;
        }
        f(self)
    }

    /// Connects and waits until the node has told us its subscriptions to `kinds`.
    async fn connect(&mut self, kinds: &[GossipKind]) {
        self.subscribe(kinds);
        self.dial();
        let wanted: Vec<_> = kinds.iter().map(|k| self.topic(*k).hash()).collect();
        let ok = self
            .run_until(Duration::from_secs(30), |p| {
                p.connected && wanted.iter().all(|t| p.node_topics.contains(t))
            })
            .await;
        assert!(
            ok,
            "test peer: connected {}, node topics {} of {} (dial failures {})",
            self.connected,
            wanted
                .iter()
                .filter(|t| self.node_topics.contains(t))
                .count(),
            wanted.len(),
            self.dial_failures
        );
        // Let the gossipsub heartbeat put the node in our mesh.
        self.run_for(Duration::from_secs(2)).await;
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

/// The node's current head block (SSZ).
fn head_block(port: u16) -> spec::SignedBeaconBlock {
    let (status, bytes) = http(
        port,
        "/eth/v2/beacon/blocks/head",
        "application/octet-stream",
    );
    assert_eq!(status, 200, "head block as SSZ");
    spec::SignedBeaconBlock::from_ssz_bytes(&bytes).expect("head block decodes")
}

/// A block that decodes and is a sibling of the head (same slot and parent) but is signed by no
/// one: the head block with another proposer index (so no valid block of that proposer and slot
/// was seen) and a random graffiti (a new root every time), keeping the head's signature.
fn forged_block(head: &spec::SignedBeaconBlock, extra_tx: usize) -> Vec<u8> {
    let mut block = head.clone();
    block.message.proposer_index = (block.message.proposer_index + 1) % VALIDATORS;
    let graffiti: [u8; 32] = rand::random();
    block.message.body.graffiti = graffiti.into();
    if extra_tx > 0 {
        // Compressible bulk (zeros but for a random prefix): near-limit decompressed size for a
        // few hundred KB on the wire.
        let mut tx = vec![0u8; extra_tx];
        tx[..32].copy_from_slice(&random_bytes(32));
        let tx = ssz_types::VariableList::new(tx).expect("tx fits");
        let _ = block.message.body.execution_payload.transactions.push(tx);
    }
    block.as_ssz_bytes()
}

fn head_root_of(block: &spec::SignedBeaconBlock) -> ember::consensus::primitives::Root {
    use tree_hash::TreeHash;
    block.message.tree_hash_root()
}

/// Single attestations for the current slot's committees at the start of the slot (before the
/// honest attesters at 1/3), carrying someone else's signature.
fn forged_attestations(
    port: u16,
    head: &spec::SignedBeaconBlock,
    slot: u64,
) -> Vec<(u64, Vec<u8>)> {
    let Some(committees) = get_json(
        port,
        &format!("/eth/v1/beacon/states/head/committees?slot={slot}"),
    ) else {
        return Vec::new();
    };
    let Some(fin) = get_json(port, "/eth/v1/beacon/states/head/finality_checkpoints") else {
        return Vec::new();
    };
    let epoch = slot / SLOTS_PER_EPOCH;
    let head_root = head_root_of(head);
    let target_root = if head.message.slot >= epoch * SLOTS_PER_EPOCH {
        root_at(port, epoch * SLOTS_PER_EPOCH)
            .map(|r| root(&r))
            .unwrap_or(head_root)
    } else {
        head_root
    };
    let list = committees["data"].as_array().cloned().unwrap_or_default();
    let per_slot = list.len() as u64;
    let mut out = Vec::new();
    for c in &list {
        let index = num(&c["index"]);
        // compute_subnet_for_attestation
        let subnet = (per_slot * (slot % SLOTS_PER_EPOCH) + index) % 64;
        for v in c["validators"].as_array().into_iter().flatten() {
            let attestation = spec::SingleAttestation {
                committee_index: index,
                attester_index: num(v),
                data: spec::AttestationData {
                    slot,
                    index: 0,
                    beacon_block_root: head_root,
                    source: spec::Checkpoint {
                        epoch: num(&fin["data"]["current_justified"]["epoch"]),
                        root: root(
                            fin["data"]["current_justified"]["root"]
                                .as_str()
                                .unwrap_or_default(),
                        ),
                    },
                    target: spec::Checkpoint {
                        epoch,
                        root: target_root,
                    },
                },
                signature: head.signature,
            };
            out.push((subnet, attestation.as_ssz_bytes()));
        }
    }
    out
}

// ------------------------------------------------------------------------------ (c)

/// What a misbehaving peer sends, one kind per fresh identity.
#[derive(Clone, Copy, Debug)]
enum Attack {
    MalformedSnappy,
    UndecodableSsz,
    InvalidBlockSignature,
    InvalidAttestationSignature,
    GarbageRpc,
}

const GLOBAL_TOPICS: [GossipKind; 3] = [
    GossipKind::BeaconBlock,
    GossipKind::BeaconAggregateAndProof,
    GossipKind::VoluntaryExit,
];

/// One round of `attack` (a few messages).
fn attack_round(peer: &mut TestPeer, attack: Attack, port: u16, dir: &Path) {
    match attack {
        Attack::MalformedSnappy => {
            for kind in GLOBAL_TOPICS {
                // Not raw snappy: a stream-identifier chunk and noise.
                let mut bytes = vec![0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];
                bytes.extend(random_bytes(200));
                peer.publish_raw(kind, bytes);
            }
        }
        Attack::UndecodableSsz => {
            for kind in GLOBAL_TOPICS
                .into_iter()
                .chain([GossipKind::BeaconAttestation(0)])
            {
                let n = 3 + rand::random::<usize>() % 300;
                peer.publish_raw(kind, snappy_raw(&random_bytes(n)));
            }
        }
        Attack::InvalidBlockSignature => {
            let head = head_block(port);
            for _ in 0..3 {
                peer.publish_raw(GossipKind::BeaconBlock, snappy_raw(&forged_block(&head, 0)));
            }
        }
        Attack::InvalidAttestationSignature => {
            // At the start of a slot, before the honest attestations at 1/3 of it.
            let slot = wall_slot(dir);
            let into_slot = now_secs_f64() - (genesis_time(dir) + slot * SECONDS_PER_SLOT) as f64;
            if into_slot > 0.4 {
                return;
            }
            let head = head_block(port);
            for (subnet, bytes) in forged_attestations(port, &head, slot).into_iter().take(16) {
                peer.publish_raw(GossipKind::BeaconAttestation(subnet), snappy_raw(&bytes));
            }
        }
        Attack::GarbageRpc => {
            peer.request(BLOCKS_BY_RANGE, random_bytes(40));
            peer.request(BLOCKS_BY_ROOT, vec![0xff; 12]); // a varint longer than 10 bytes
                                                          // A length far past any limit, then nothing.
            let mut huge = varint(1 << 40);
            huge.extend(random_bytes(16));
            peer.request(BLOCKS_BY_RANGE, huge);
            // A valid length and frames that decompress to something else.
            let mut lying = varint(24);
            lying.extend(snappy_frames(&random_bytes(100)));
            peer.request(STATUS, lying);
        }
    }
}

/// Runs `attack` from a fresh identity against the node on `port`/`p2p`; asserts that the node
/// disconnects and bans the peer and refuses its reconnection.
async fn assert_banned(dir: &Path, attack: Attack, port: u16, p2p: u16, node: PeerId) {
    let view = chain_view(dir, port);
    let mut peer = TestPeer::new(node, p2p, view);
    let mut kinds = GLOBAL_TOPICS.to_vec();
    if matches!(
        attack,
        Attack::InvalidAttestationSignature | Attack::UndecodableSsz
    ) {
        kinds.extend((0..64).map(GossipKind::BeaconAttestation));
    }
    peer.connect(&kinds).await;
    let me = peer.peer_id().to_string();
    assert!(
        connected_peers(port).contains(&me),
        "{attack:?}: the node lists the test peer before the attack"
    );
    let started = Instant::now();
    while peer.connected && started.elapsed() < Duration::from_secs(90) {
        attack_round(&mut peer, attack, port, dir);
        peer.run_for(Duration::from_millis(150)).await;
    }
    assert!(
        !peer.connected,
        "{attack:?}: still connected after {:?} and {} messages ({} publish errors)",
        started.elapsed(),
        peer.sent,
        peer.publish_errors
    );
    println!(
        "{attack:?}: disconnected after {:?} and {} messages",
        started.elapsed(),
        peer.sent
    );
    // Gone from the node's peers.
    let gone = Instant::now();
    while connected_peers(port).contains(&me) {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "{attack:?}: the node still lists the banned peer as connected"
        );
        peer.run_for(Duration::from_millis(200)).await;
    }
    // Reconnecting is refused: no connection stays up (dial error or an at-once close).
    let closed_before = peer.closed_connections.len();
    for _ in 0..3 {
        peer.dial();
        peer.run_for(Duration::from_secs(2)).await;
    }
    peer.run_for(Duration::from_secs(2)).await;
    let longest = peer
        .closed_connections
        .iter()
        .skip(closed_before)
        .max()
        .copied()
        .unwrap_or_default();
    assert!(
        !peer.connected && longest < Duration::from_secs(3),
        "{attack:?}: reconnection accepted (connected {}, longest {longest:?})",
        peer.connected
    );
    assert!(
        !connected_peers(port).contains(&me),
        "{attack:?}: the banned peer is listed as connected again"
    );
}

#[test]
fn a_malicious_peer_is_banned_and_the_node_keeps_following() {
    let _serial = serial();
    let dir = temp_dir("malicious");
    let ports = Ports::new(23000);
    let mut devnet = start_devnet(&dir, &ports, 2, None);
    let ids = wait_peered(&dir, &mut devnet, &ports, 2);
    // The victim is node 1; node 0 is its honest peer.
    let victim = ports.http(1);
    wait_until(
        &dir,
        &mut [&mut devnet],
        3 * SLOTS_PER_EPOCH,
        "head past slot 4",
        || head_slot(victim).is_some_and(|s| s >= 4),
    );
    let node: PeerId = ids[1].parse().expect("peer id");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    for attack in [
        Attack::MalformedSnappy,
        Attack::UndecodableSsz,
        Attack::InvalidBlockSignature,
        Attack::InvalidAttestationSignature,
        Attack::GarbageRpc,
    ] {
        let before = head_slot(victim).expect("head");
        runtime.block_on(assert_banned(&dir, attack, victim, ports.p2p(1), node));
        assert!(
            devnet.alive(),
            "the devnet (and its nodes) survive {attack:?}"
        );
        // The node keeps following the head with its honest peer.
        let wall = wall_slot(&dir);
        wait_until(
            &dir,
            &mut [&mut devnet],
            wall + 6,
            "the attacked node keeps following",
            || {
                head_slot(victim).is_some_and(|s| s > before && s + 2 >= wall_slot(&dir))
                    && head(victim) == head(ports.http(0))
            },
        );
        assert!(
            connected_peers(victim).contains(&ids[0]),
            "{attack:?}: the attacked node lost its honest peer"
        );
    }
    devnet.signal_and_wait(libc::SIGINT, Duration::from_secs(40));
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------------------ (d)

/// (VmHWM, VmRSS) in MiB of a live process.
fn rss_mib(pid: i32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// The pid of devnet node k from the supervisor's "started nodek (pid N)" line.
fn devnet_node_pid(devnet: &Proc, k: usize) -> i32 {
    let line = devnet
        .log_contains(&format!("started node{k} (pid "))
        .expect("node pid in the devnet log");
    line.split("(pid ")
        .nth(1)
        .and_then(|r| r.trim_end_matches(')').trim().parse().ok())
        .expect("pid")
}

/// Large valid-looking messages: near-limit blocks (a forged block with a multi-MiB
/// transaction) and near-limit compressible payloads on aggregate, attestation, sync committee
/// and data column topics.
fn flood_round(peer: &mut TestPeer, head: &spec::SignedBeaconBlock, round: usize) {
    const NEAR_LIMIT: usize = 9 << 20;
    peer.publish_raw(
        GossipKind::BeaconBlock,
        snappy_raw(&forged_block(head, NEAR_LIMIT - 4096)),
    );
    let mut bulk = vec![0u8; NEAR_LIMIT];
    bulk[..32].copy_from_slice(&random_bytes(32));
    let compressed = snappy_raw(&bulk);
    let kinds = [
        GossipKind::BeaconAggregateAndProof,
        GossipKind::BeaconAttestation((round % 64) as u64),
        GossipKind::SyncCommitteeContributionAndProof,
        GossipKind::SyncCommittee((round % 4) as u64),
        GossipKind::DataColumnSidecar((round % 128) as u64),
    ];
    for kind in kinds {
        let mut bytes = compressed.clone();
        // A different message (id) per topic: the random prefix sits in the first literal.
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        peer.publish_raw(kind, bytes);
    }
}

#[test]
fn a_gossip_flood_stays_within_the_memory_budget() {
    let _serial = serial();
    const BUDGET_MIB: u64 = 256;
    let dir = temp_dir("flood");
    let ports = Ports::new(24000);
    let mut devnet = start_devnet(&dir, &ports, 2, Some(BUDGET_MIB));
    let ids = wait_peered(&dir, &mut devnet, &ports, 2);
    let victim = ports.http(1);
    wait_until(
        &dir,
        &mut [&mut devnet],
        3 * SLOTS_PER_EPOCH,
        "head past slot 4",
        || head_slot(victim).is_some_and(|s| s >= 4),
    );
    let pid = devnet_node_pid(&devnet, 1);
    let (baseline, _) = rss_mib(pid).expect("victim's /proc status");
    println!("victim pid {pid}: peak RSS before the flood {baseline:.1} MiB");
    let node: PeerId = ids[1].parse().expect("peer id");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let flood_for = Duration::from_secs(60);
    let view = chain_view(&dir, victim);
    let forged_base = head_block(victim);
    let mut peak = (0.0f64, 0.0f64);
    let sent = runtime.block_on(async {
        // Several connections (identities); a banned one is replaced by a fresh one.
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let view = view.clone();
            let head = forged_base.clone();
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let mut sent = 0;
                let mut round = 0;
                while started.elapsed() < flood_for {
                    let mut peer = TestPeer::new(node, ports.p2p(1), view.clone());
                    let mut kinds = GLOBAL_TOPICS.to_vec();
                    kinds.extend([
                        GossipKind::SyncCommitteeContributionAndProof,
                        GossipKind::BeaconAttestation(0),
                    ]);
                    peer.subscribe(&kinds);
                    peer.dial();
                    if !peer
                        .run_until(Duration::from_secs(10), |p| p.connected)
                        .await
                    {
                        // Banned identities are not reused; a refused dial just retries.
                        continue;
                    }
                    peer.run_for(Duration::from_secs(1)).await;
                    while peer.connected && started.elapsed() < flood_for {
                        flood_round(&mut peer, &head, round);
                        round += 1;
                        peer.run_for(Duration::from_millis(20)).await;
                    }
                    sent += peer.sent;
                }
                sent
            }));
        }
        // Sample the victim's memory while the flood runs.
        let started = Instant::now();
        while started.elapsed() < flood_for + Duration::from_secs(5) {
            if let Some((hwm, rss)) = rss_mib(pid) {
                peak = (peak.0.max(hwm), peak.1.max(rss));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut sent = 0;
        for t in tasks {
            sent += t.await.unwrap_or(0);
        }
        sent
    });
    println!(
        "flood: {sent} messages; victim peak RSS (VmHWM) {:.1} MiB, max VmRSS {:.1} MiB, budget {BUDGET_MIB} MiB",
        peak.0, peak.1
    );
    assert!(sent > 100, "the flood reached the node ({sent} messages)");
    assert!(
        peak.0 < BUDGET_MIB as f64,
        "peak RSS {:.1} MiB over the {BUDGET_MIB} MiB budget",
        peak.0
    );
    // Still following with its honest peer.
    let wall = wall_slot(&dir);
    wait_until(
        &dir,
        &mut [&mut devnet],
        // Honest blocks compete with the flood for the bounded queue and are dropped while it
        // lasts: after it, the node catches up (quarantine, range sync) within 3 epochs.
        wall + 24,
        "the flooded node keeps following",
        || {
            head_slot(victim).is_some_and(|s| s + 2 >= wall_slot(&dir))
                && head(victim) == head(ports.http(0))
        },
    );
    assert!(connected_peers(victim).contains(&ids[0]));
    devnet.signal_and_wait(libc::SIGINT, Duration::from_secs(40));
    let _ = std::fs::remove_dir_all(&dir);
}
