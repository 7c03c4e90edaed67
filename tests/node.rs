//! `ember bn` as a real process on 127.0.0.1: a minimal-preset interop genesis with 64
//! validators run in-process proposes and imports its own blocks, justifies and finalizes; killed
//! with SIGKILL, it restarts from its store and goes on.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn ember() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ember"))
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `ember mock-el` on `port`, its JWT secret in `dir/jwt.hex`.
fn mock_el(dir: &Path, port: u16) -> Child {
    ember()
        .arg("mock-el")
        .arg("--jwt-secret")
        .arg(dir.join("jwt.hex"))
        .args(["--port", &port.to_string()])
        .arg("--datadir")
        .arg(dir.join("el"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ember mock-el")
}

struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Node {
    fn start(dir: &Path, genesis: &Path, config: &Path, port: u16) -> Node {
        // A single node chain: no libp2p port to collide with parallel tests.
        let args = ["--interop-validators", "0..64", "--no-network"].map(String::from);
        Node::spawn(&dir.join("node"), dir, genesis, config, port, &args)
    }

    /// `ember bn` with its data in `datadir`, the Beacon API on `port`, metrics on `port + 1`,
    /// the execution client on `port + 2`, and `extra` flags.
    fn spawn(
        datadir: &Path,
        dir: &Path,
        genesis: &Path,
        config: &Path,
        port: u16,
        extra: &[String],
    ) -> Node {
        let mut child = ember()
            .args(["bn", "--preset", "minimal"])
            .args(extra)
            .arg("--datadir")
            .arg(datadir)
            .arg("--config")
            .arg(config)
            .arg("--genesis-state")
            .arg(genesis)
            .args(["--http-port", &port.to_string()])
            .args(["--metrics-port", &(port + 1).to_string()])
            .args([
                "--execution-endpoint",
                &format!("http://127.0.0.1:{}", port + 2),
            ])
            .arg("--execution-jwt")
            .arg(dir.join("jwt.hex"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ember bn");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(strip_ansi(&line)).is_err() {
                        break;
                    }
                }
            });
        }
        Node {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until `pred` matches one (returned) or `timeout` passes (panics with the log).
    fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.seen.push(line.clone());
                    if hit {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no {what} within {timeout:?}; log:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        self.seen
    }
}

/// The number after `key ` in `line`.
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn setup(name: &str, slot_ms: u64) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("ember-node-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = ember()
        .args(["config", "--preset", "minimal"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let yaml: String = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            if l.contains("_FORK_EPOCH:") {
                format!("{}: 0", l.split(':').next().unwrap())
            } else if l.starts_with("SLOT_DURATION_MS:") {
                format!("SLOT_DURATION_MS: {slot_ms}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    let genesis = dir.join("genesis.ssz");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = ember()
        .args(["genesis", "--preset", "minimal", "--validators", "64"])
        .arg("--config")
        .arg(&config)
        .args(["--genesis-time", &(now + 3).to_string()])
        .arg("--out")
        .arg(&genesis)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, genesis, config)
}

#[test]
fn bn_proposes_justifies_finalizes_and_restarts_from_its_store() {
    let (dir, genesis, config) = setup("finality", 1000);
    let port = 20000 + (std::process::id() % 20000) as u16;
    // The JWT secret both sides read (32 bytes, hex).
    std::fs::write(dir.join("jwt.hex"), format!("0x{}", "a5".repeat(32))).unwrap();
    let mut el = mock_el(&dir, port + 2);
    let mut node = Node::start(&dir, &genesis, &config, port);
    node.wait_for("an imported block", Duration::from_secs(30), |l| {
        l.contains("imported block slot")
    });
    // Minimal preset: 8 slots per epoch of 1 s. Justification needs two full epochs, finality
    // a third; generous timeouts for a loaded machine.
    let line = node.wait_for("finality", Duration::from_secs(90), |l| {
        l.contains(" | head ") && number_after(l, "finalized").is_some_and(|f| f >= 1)
    });
    assert!(number_after(&line, "justified").unwrap() >= 2, "{line}");
    // The Beacon API answers from the node's snapshot.
    let api = http_get(port, "/eth/v1/beacon/headers/head");
    assert!(api.starts_with("HTTP/1.1 200"), "{api}");
    assert!(api.contains("\"root\":\"0x"), "{api}");
    let metrics = http_get(port + 1, "/metrics");
    assert!(metrics.contains("beacon_head_slot"), "{metrics}");
    let log = node.kill();
    let slot_lines: Vec<&String> = log.iter().filter(|l| l.contains(" | votes ")).collect();
    assert!(slot_lines.len() >= 16, "{}", log.join("\n"));
    // Every slot after the first had its block and full votes (a single node with every key).
    let full = slot_lines
        .iter()
        .filter(|l| {
            let (v, of) = l
                .split_once(" | votes ")
                .unwrap()
                .1
                .split_once(" |")
                .unwrap()
                .0
                .split_once('/')
                .unwrap();
            v == of && v != "0"
        })
        .count();
    assert!(full + 2 >= slot_lines.len(), "{}", log.join("\n"));
    let last_imported = log
        .iter()
        .filter_map(|l| number_after(l, "imported block slot"))
        .max()
        .unwrap();
    assert!(
        !log.iter().any(|l| l.contains("ERROR")),
        "{}",
        log.join("\n")
    );

    // SIGKILLed above: the store reopens, fork choice is rebuilt from it, the chain goes on
    // without signing anything slashing protection refuses (it would say so).
    let mut node = Node::start(&dir, &genesis, &config, port);
    let rebuilt = node.wait_for("the rebuild", Duration::from_secs(30), |l| {
        l.contains("fork choice rebuilt")
    });
    assert!(
        number_after(&rebuilt, "finalized state and").unwrap() >= 1,
        "{rebuilt}"
    );
    node.wait_for(
        "a new block after the restart",
        Duration::from_secs(30),
        |l| number_after(l, "imported block slot").is_some_and(|s| s > last_imported),
    );
    let log = node.kill();
    assert!(
        !log.iter()
            .any(|l| l.contains("refused") || l.contains("ERROR")),
        "{}",
        log.join("\n")
    );
    let _ = el.kill();
    let _ = el.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The JSON body of a 200 answer (panics otherwise).
fn api_json(port: u16, path: &str) -> serde_json::Value {
    let response = http_get(port, path);
    assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn json_u64(value: &serde_json::Value) -> u64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a quoted number: {value}"))
}

/// Two `ember bn` processes over libp2p on 127.0.0.1: the first runs every validator; the
/// second (no validators, its own execution client), started once the first is two epochs in,
/// finds it through `--boot-nodes` (the first's ENR file), range-syncs its chain by
/// `beacon_blocks_by_range`, reports it as a peer, and agrees on the blocks.
#[test]
fn second_node_range_syncs_from_the_first() {
    let (dir, genesis, config) = setup("rangesync", 1000);
    // Apart from the other test's ports (20000 + pid % 20000 .. + 2).
    let base = 40100 + (std::process::id() % 3000) as u16 * 8;
    // One JWT secret for both nodes and their execution clients (each reads `<dir>/jwt.hex`).
    for d in [dir.clone(), dir.join("a"), dir.join("b")] {
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("jwt.hex"), format!("0x{}", "a5".repeat(32))).unwrap();
    }
    let (a_port, a_p2p, b_port, b_p2p) = (base, base + 3, base + 4, base + 7);
    let mut el_a = mock_el(&dir.join("a"), a_port + 2);
    let net = |p2p: u16| {
        [
            "--listen-address",
            "127.0.0.1",
            "--enr-address",
            "127.0.0.1",
            "--port",
            &p2p.to_string(),
            "--disable-discovery",
        ]
        .map(String::from)
        .to_vec()
    };
    let mut a_args = net(a_p2p);
    a_args.extend(["--interop-validators", "0..64"].map(String::from));
    let mut a = Node::spawn(&dir.join("a"), &dir, &genesis, &config, a_port, &a_args);
    // Two epochs of 8 one-second slots, then the second node starts.
    a.wait_for("slot 16", Duration::from_secs(90), |l| {
        number_after(l, "imported block slot").is_some_and(|s| s >= 16)
    });
    let enr = std::fs::read_to_string(dir.join("a").join("network").join("enr"))
        .expect("the first node's ENR file")
        .trim()
        .to_string();
    assert!(enr.starts_with("enr:"), "{enr}");
    let a_head = json_u64(&api_json(a_port, "/eth/v1/node/syncing")["data"]["head_slot"]);
    let mut el_b = mock_el(&dir.join("b"), b_port + 2);
    let mut b_args = net(b_p2p);
    b_args.extend(["--boot-nodes".to_string(), enr]);
    let mut b = Node::spawn(&dir.join("b"), &dir, &genesis, &config, b_port, &b_args);
    b.wait_for(
        "blocks imported by range sync",
        Duration::from_secs(60),
        |l| number_after(l, "imported block slot").is_some_and(|s| s >= a_head),
    );
    // The same block at a synced slot on both.
    let root = |port: u16, slot: u64| {
        api_json(port, &format!("/eth/v1/beacon/blocks/{slot}/root"))["data"]["root"].clone()
    };
    assert_eq!(root(a_port, a_head), root(b_port, a_head));
    assert_eq!(root(a_port, 3), root(b_port, 3));
    // Each lists the other as a connected peer.
    let a_id = api_json(a_port, "/eth/v1/node/identity")["data"]["peer_id"].clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let peers = api_json(b_port, "/eth/v1/node/peers");
        let listed = peers["data"].as_array().is_some_and(|l| {
            l.iter()
                .any(|p| p["peer_id"] == a_id && p["state"] == "connected")
        });
        if listed {
            break;
        }
        assert!(Instant::now() < deadline, "{peers}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let count = api_json(b_port, "/eth/v1/node/peer_count");
    assert!(json_u64(&count["data"]["connected"]) >= 1, "{count}");
    let log = b.kill();
    assert!(
        !log.iter().any(|l| l.contains("ERROR")),
        "{}",
        log.join("\n")
    );
    let _ = a.kill();
    for el in [&mut el_a, &mut el_b] {
        let _ = el.kill();
        let _ = el.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plain HTTP/1.1 GET on 127.0.0.1 (the whole response, headers included).
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}
