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
        let mut child = ember()
            .args(["bn", "--preset", "minimal", "--interop-validators", "0..64"])
            .arg("--datadir")
            .arg(dir.join("node"))
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
            // A single node chain: no libp2p port to collide with parallel tests.
            .arg("--no-network")
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
