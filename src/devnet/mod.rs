//! `ember devnet`: a local chain with one command.
//!
//! The supervisor creates (or resumes) a devnet directory, then runs the real programs as child
//! processes — for each of `--nodes N` nodes an `ember mock-el` (the Engine API mock execution
//! client) and an `ember bn` running its share of the interop validators — and prints their
//! logs, prefixed, until Ctrl-C or `--slots`. Nothing runs in-process: a devnet node is exactly
//! the node a user runs, and the nodes talk to each other only over libp2p on 127.0.0.1.
//!
//! Ports of node k (k from 0): Beacon API `--http-port` + 10k, metrics `--metrics-port` + 10k,
//! libp2p TCP and discv5 UDP `--p2p-port` + k, its mock EL's Engine API `--el-port` + k.
//! Validators: node k runs `k*V/N .. (k+1)*V/N`. Node 0 starts first; the supervisor waits for
//! the ENR it writes (`node0/network/enr`) and starts the others with the ENRs of the nodes
//! already running as `--boot-nodes`.
//!
//! Directory layout (the manifest is written last, so a directory without one is not a devnet):
//!
//! | path | what |
//! |---|---|
//! | `devnet.json` | preset, validator count, node count, slot duration, genesis time (the resume record) |
//! | `config.yaml` | the chain configuration (the preset's, Fulu from epoch 0, the slot duration) |
//! | `genesis.ssz` | the interop genesis state |
//! | `jwt.hex` | the Engine API secret shared by the nodes and the mock ELs |
//! | `el/`, `el1/`, … | the mock ELs' data (node 0's, node 1's, …) |
//! | `node0/`, `node1/`, … | each node's database, slashing-protection database and `network/` (key, ENR) |
//! | `commands.json` | the exact command line (argv) of every child of the current run |
//! | `logs/` | every child's full output (`node1.log`, `el1.log`, …; appended across runs) |
//!
//! The terminal shows node 0's and the ELs' output in full and only the warnings and errors of
//! the other nodes (their full logs are in `logs/`).
//!
//! Resuming (same `--datadir`): the manifest decides; flags that contradict it are an error
//! rather than a silently different chain. The nodes restart from their stores and
//! slashing-protection databases, so no validator signs twice.
//!
//! Restarting one node by hand (tests do this): with more than one node, a node that dies does
//! not stop the devnet (the others and its mock EL keep running); run its argv from
//! `commands.json` again and it resumes from its store and syncs from its peers. With one node
//! the devnet stops when it dies, as before.
//!
//! Shutdown: children run in their own process group (a terminal's Ctrl-C reaches only the
//! supervisor, which stops them in order: nodes, then ELs, SIGTERM then SIGKILL after a grace
//! period) and get `PR_SET_PDEATHSIG`, so a supervisor killed with SIGKILL takes them along.
//! Before stopping it reads each child's peak RSS and CPU time from `/proc` and prints them per
//! slot (the devnet benchmark figures).

use crate::consensus::config::ChainConfig;
use crate::consensus::preset::PresetName;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set by SIGINT/SIGTERM; polled by the supervisor loop.
static STOP: AtomicBool = AtomicBool::new(false);

/// How long a child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(15);

/// How long the supervisor waits for a node's ENR file (the node opens its store, then starts
/// the network, which writes it).
const ENR_TIMEOUT: Duration = Duration::from_secs(120);

/// Seconds between writing the genesis and the genesis time: the node and the mock EL must be
/// up before slot 0 (a 4,096-validator genesis state is built before this delay starts).
const DEFAULT_GENESIS_DELAY: u64 = 5;

#[derive(clap::Args, Debug, Clone)]
pub struct DevnetArgs {
    /// Number of interop validators, split evenly between the nodes (default 64; new devnets
    /// only).
    #[arg(long)]
    pub validators: Option<u64>,
    /// Number of beacon nodes, each with its own mock EL (default 1; new devnets only).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Slot duration in seconds (default 2; new devnets only).
    #[arg(long)]
    pub seconds_per_slot: Option<u64>,
    /// The devnet directory: created if new, resumed if it holds a devnet. Default: a new
    /// directory under the system's temporary directory (printed, to resume it later).
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// Preset of a new devnet (default minimal: 8-slot epochs finalize in about a minute).
    #[arg(long, value_parser = parse_preset)]
    pub preset: Option<PresetName>,
    /// Node 0's Beacon API port (127.0.0.1); node k uses this + 10k.
    #[arg(long, default_value_t = 5052)]
    pub http_port: u16,
    /// Node 0's Prometheus metrics port (127.0.0.1); node k uses this + 10k.
    #[arg(long, default_value_t = 5054)]
    pub metrics_port: u16,
    /// Node 0's mock execution client's Engine API port (127.0.0.1); node k's uses this + k.
    #[arg(long, default_value_t = 8551)]
    pub el_port: u16,
    /// Node 0's libp2p TCP and discv5 UDP port (127.0.0.1); node k uses this + k.
    #[arg(long, default_value_t = 9000)]
    pub p2p_port: u16,
    /// Stop by itself once the wall clock reaches this slot (benchmarks and tests).
    #[arg(long)]
    pub slots: Option<u64>,
    /// Run every node on a current-thread runtime (`ember bn --single-thread`).
    #[arg(long)]
    pub single_thread: bool,
    /// Seconds from genesis creation to genesis time (new devnets only; default 5, plus 2 per
    /// node after the first: the nodes start one after another).
    #[arg(long)]
    pub genesis_delay: Option<u64>,
}

fn parse_preset(s: &str) -> Result<PresetName, String> {
    PresetName::parse(s).ok_or_else(|| format!("unknown preset `{s}` (mainnet or minimal)"))
}

/// The resume record (`devnet.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub preset: String,
    pub validators: u64,
    /// Devnets created before multi-node devnets have no `nodes`: one node.
    #[serde(default = "one_node")]
    pub nodes: usize,
    pub seconds_per_slot: u64,
    pub genesis_time: u64,
    pub ember_version: String,
}

fn one_node() -> usize {
    1
}

#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} exited unexpectedly ({1})")]
    ChildDied(String, String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DevnetError + '_ {
    move |source| DevnetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes through a temporary file and a rename: an interrupted creation never leaves a
/// truncated file that a resume would trust.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DevnetError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// A devnet directory, created or resumed.
pub struct Devnet {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub preset: PresetName,
}

impl Devnet {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }
    pub fn genesis_path(&self) -> PathBuf {
        self.dir.join("genesis.ssz")
    }
    pub fn jwt_path(&self) -> PathBuf {
        self.dir.join("jwt.hex")
    }
    pub fn node_dir(&self, k: usize) -> PathBuf {
        self.dir.join(format!("node{k}"))
    }
    /// Node k's mock EL data: `el/` for node 0 (as one-node devnets always had), `el{k}/`.
    pub fn el_dir(&self, k: usize) -> PathBuf {
        if k == 0 {
            self.dir.join("el")
        } else {
            self.dir.join(format!("el{k}"))
        }
    }
    /// Node k's ENR file, written by its network layer at every start.
    pub fn enr_path(&self, k: usize) -> PathBuf {
        self.node_dir(k).join("network").join("enr")
    }
    pub fn commands_path(&self) -> PathBuf {
        self.dir.join("commands.json")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }
}

/// The ports of node k (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePorts {
    pub http: u16,
    pub metrics: u16,
    pub p2p: u16,
    pub el: u16,
}

/// Node k's ports from the base ports, or an error naming the flag whose range leaves u16.
pub fn node_ports(args: &DevnetArgs, k: usize) -> Result<NodePorts, DevnetError> {
    let offset = |base: u16, step: usize, flag: &str| -> Result<u16, DevnetError> {
        let port = k
            .checked_mul(step)
            .and_then(|d| u16::try_from(d).ok())
            .and_then(|d| base.checked_add(d));
        match port {
            Some(p) => Ok(p),
            None => Err(DevnetError::Invalid(format!(
                "{flag} {base}: node {k}'s port (+{}) is past 65535",
                k.saturating_mul(step)
            ))),
        }
    };
    Ok(NodePorts {
        http: offset(args.http_port, 10, "--http-port")?,
        metrics: offset(args.metrics_port, 10, "--metrics-port")?,
        p2p: offset(args.p2p_port, 1, "--p2p-port")?,
        el: offset(args.el_port, 1, "--el-port")?,
    })
}

/// The interop validators of node k of n: `k*V/n .. (k+1)*V/n` (even split, the remainder
/// spread over the later nodes).
pub fn validator_range(validators: u64, nodes: usize, k: usize) -> (u64, u64) {
    let n = nodes.max(1) as u128;
    let v = validators as u128;
    let at = |i: usize| -> u64 { u64::try_from(v * (i as u128) / n).unwrap_or(u64::MAX) };
    (at(k), at(k.saturating_add(1)))
}

/// Opens the devnet in `args.datadir` (resume) or creates it.
pub fn prepare(args: &DevnetArgs) -> Result<Devnet, DevnetError> {
    let dir = match &args.datadir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("ember-devnet-{}", now_secs())),
    };
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let manifest_path = dir.join("devnet.json");
    if manifest_path.exists() {
        let text = std::fs::read_to_string(&manifest_path).map_err(io_err(&manifest_path))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
            DevnetError::Invalid(format!(
                "{}: not a devnet manifest: {e}",
                manifest_path.display()
            ))
        })?;
        let preset = PresetName::parse(&manifest.preset).ok_or_else(|| {
            DevnetError::Invalid(format!(
                "{}: unknown preset `{}`",
                manifest_path.display(),
                manifest.preset
            ))
        })?;
        let mut conflicts = Vec::new();
        if args.validators.is_some_and(|v| v != manifest.validators) {
            conflicts.push(format!("--validators (devnet has {})", manifest.validators));
        }
        if args.nodes.is_some_and(|n| n != manifest.nodes) {
            conflicts.push(format!("--nodes (devnet has {})", manifest.nodes));
        }
        if args
            .seconds_per_slot
            .is_some_and(|s| s != manifest.seconds_per_slot)
        {
            conflicts.push(format!(
                "--seconds-per-slot (devnet has {})",
                manifest.seconds_per_slot
            ));
        }
        if args.preset.is_some_and(|p| p != preset) {
            conflicts.push(format!("--preset (devnet has {preset})"));
        }
        if !conflicts.is_empty() {
            return Err(DevnetError::Invalid(format!(
                "{} holds a devnet created with other settings: {}; omit these flags to resume it, or use another --datadir",
                dir.display(),
                conflicts.join(", ")
            )));
        }
        for needed in ["config.yaml", "genesis.ssz", "jwt.hex"] {
            let p = dir.join(needed);
            if !p.exists() {
                return Err(DevnetError::Invalid(format!(
                    "{}: missing (the devnet directory is damaged)",
                    p.display()
                )));
            }
        }
        if manifest.nodes == 0 || manifest.nodes as u64 > manifest.validators {
            return Err(DevnetError::Invalid(format!(
                "{}: {} nodes for {} validators",
                manifest_path.display(),
                manifest.nodes,
                manifest.validators
            )));
        }
        return Ok(Devnet {
            dir,
            manifest,
            preset,
        });
    }
    if std::fs::read_dir(&dir)
        .map_err(io_err(&dir))?
        .next()
        .is_some()
    {
        return Err(DevnetError::Invalid(format!(
            "{} is not empty and holds no devnet (no devnet.json): refusing to write into it",
            dir.display()
        )));
    }
    create(dir, args)
}

fn create(dir: PathBuf, args: &DevnetArgs) -> Result<Devnet, DevnetError> {
    let preset = args.preset.unwrap_or(PresetName::Minimal);
    let validators = args.validators.unwrap_or(64);
    let seconds_per_slot = args.seconds_per_slot.unwrap_or(2);
    let nodes = args.nodes.unwrap_or(1);
    if validators == 0 {
        return Err(DevnetError::Invalid(
            "--validators must be at least 1".into(),
        ));
    }
    if nodes == 0 || nodes as u64 > validators {
        return Err(DevnetError::Invalid(format!(
            "--nodes must be between 1 and the number of validators ({validators}): every node runs validators"
        )));
    }
    // Checked before anything is written: a devnet whose last node has no port is useless.
    node_ports(args, nodes.saturating_sub(1))?;
    if seconds_per_slot == 0 {
        return Err(DevnetError::Invalid(
            "--seconds-per-slot must be at least 1".into(),
        ));
    }
    let mut config = ChainConfig::for_preset(preset).with_forks_at_genesis();
    config.slot_duration_ms = seconds_per_slot.saturating_mul(1000);
    write_atomic(&dir.join("config.yaml"), config.to_yaml().as_bytes())?;

    let started = Instant::now();
    let pubkeys = crate::validator::interop::interop_pubkeys(validators, None)
        .map_err(|e| DevnetError::Invalid(format!("interop keys: {e}")))?;
    // The genesis time is set after the keys (the slow part) so the delay is real.
    let genesis_delay = args.genesis_delay.unwrap_or_else(|| {
        DEFAULT_GENESIS_DELAY.saturating_add(2u64.saturating_mul(nodes as u64 - 1))
    });
    let genesis_time = now_secs().saturating_add(genesis_delay);
    let bytes = match preset {
        PresetName::Minimal => {
            use crate::consensus::minimal as p;
            let state =
                p::transition::genesis::interop_genesis_state(&config, &pubkeys, genesis_time)
                    .map_err(|e| DevnetError::Invalid(format!("genesis: {e:?}")))?;
            ssz::Encode::as_ssz_bytes(&state)
        }
        PresetName::Mainnet => {
            use crate::consensus::mainnet as p;
            let state =
                p::transition::genesis::interop_genesis_state(&config, &pubkeys, genesis_time)
                    .map_err(|e| DevnetError::Invalid(format!("genesis: {e:?}")))?;
            ssz::Encode::as_ssz_bytes(&state)
        }
    };
    write_atomic(&dir.join("genesis.ssz"), &bytes)?;
    let secret: [u8; 32] = rand::random();
    write_atomic(&dir.join("jwt.hex"), hex::encode(secret).as_bytes())?;
    let manifest = Manifest {
        preset: preset.to_string(),
        validators,
        nodes,
        seconds_per_slot,
        genesis_time,
        ember_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| DevnetError::Invalid(format!("manifest: {e}")))?;
    write_atomic(&dir.join("devnet.json"), &json)?;
    eprintln!(
        "devnet: created {} ({preset} preset, {validators} validators, {nodes} node(s), {seconds_per_slot} s slots, genesis in {} s; genesis built in {:.1} s)",
        dir.display(),
        genesis_delay,
        started.elapsed().as_secs_f64()
    );
    Ok(Devnet {
        dir,
        manifest,
        preset,
    })
}

/// One supervised child process.
struct Supervised {
    name: String,
    child: Child,
    started_cpu: Option<f64>,
    /// A beacon node (with more than one node, its death does not stop the devnet).
    is_node: bool,
    /// Its death has been reported.
    gone: bool,
}

/// What of a child's output reaches the terminal (all of it always goes to its log file).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Echo {
    All,
    /// Warnings, errors and panics only.
    Problems,
}

fn is_problem(line: &str) -> bool {
    line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked")
}

/// Peak RSS (VmHWM) in bytes and CPU seconds (user + system) of a live process, from /proc.
pub fn process_usage(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')?.checked_add(2)?..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the state field.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((hwm_kib.saturating_mul(1024), (utime + stime) / ticks))
}

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// The argv of `cmd` (program first), as `commands.json` records it.
fn argv(cmd: &Command) -> Vec<String> {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn spawn(
    name: &str,
    mut cmd: Command,
    log_path: &Path,
    echo: Echo,
    is_node: bool,
) -> Result<Supervised, DevnetError> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1");
    // SAFETY: only async-signal-safe calls (setpgid, prctl) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Own process group: the terminal's Ctrl-C goes to the supervisor only, which then
            // stops the children in order.
            libc::setpgid(0, 0);
            // Die with the supervisor even if it is SIGKILLed.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(io_err(log_path))?;
    let log = std::sync::Arc::new(std::sync::Mutex::new(log));
    let mut child = cmd
        .spawn()
        .map_err(|e| DevnetError::Invalid(format!("cannot start {name}: {e}")))?;
    let width = 6usize;
    for (stream, is_err) in [
        (
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            false,
        ),
        (
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            true,
        ),
    ] {
        let Some(stream) = stream else { continue };
        let prefix = format!("{name:<width$}|");
        let log = log.clone();
        std::thread::spawn(move || {
            let reader = BufReader::new(stream);
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if let Ok(mut f) = log.lock() {
                    let _ = writeln!(f, "{line}");
                }
                if echo == Echo::Problems && !is_problem(&line) {
                    continue;
                }
                // One locked write per line keeps lines of different children whole.
                if is_err {
                    let _ = writeln!(std::io::stderr().lock(), "{prefix} {line}");
                } else {
                    let _ = writeln!(std::io::stdout().lock(), "{prefix} {line}");
                }
            }
        });
    }
    let started_cpu = process_usage(child.id()).map(|(_, cpu)| cpu);
    eprintln!("devnet: started {name} (pid {})", child.id());
    Ok(Supervised {
        name: name.to_string(),
        child,
        started_cpu,
        is_node,
        gone: false,
    })
}

/// Waits until node `node` has written its ENR to `path` (read twice, equal and parsing as an
/// ENR, so a half-written file is never passed on).
fn wait_for_enr(path: &Path, node: &mut Supervised) -> Result<String, DevnetError> {
    let deadline = Instant::now() + ENR_TIMEOUT;
    let mut last: Option<String> = None;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let enr = text.trim().to_string();
            if enr.parse::<discv5::Enr>().is_ok() {
                if last.as_deref() == Some(enr.as_str()) {
                    return Ok(enr);
                }
                last = Some(enr);
            }
        }
        if STOP.load(Ordering::SeqCst) {
            return Err(DevnetError::Invalid("interrupted".into()));
        }
        if let Ok(Some(status)) = node.child.try_wait() {
            return Err(DevnetError::ChildDied(
                node.name.clone(),
                status.to_string(),
            ));
        }
        if Instant::now() > deadline {
            return Err(DevnetError::Invalid(format!(
                "{} wrote no ENR to {} within {} s (did its network start?)",
                node.name,
                path.display(),
                ENR_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn stop(child: &mut Supervised) {
    if let Ok(Some(_)) = child.child.try_wait() {
        return;
    }
    let pid = child.child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "devnet: {} did not stop within {} s; killing it",
        child.name,
        GRACE.as_secs()
    );
    let _ = child.child.kill();
    let _ = child.child.wait();
}

/// Runs the devnet until Ctrl-C, `--slots`, or a child's death (with several nodes: an EL's,
/// or every node's). `memory_budget_mib` is passed to every node.
pub fn run(args: DevnetArgs, memory_budget_mib: u64) -> Result<(), DevnetError> {
    install_signal_handlers();
    let devnet = prepare(&args)?;
    let mut children: Vec<Supervised> = Vec::new();
    let started = start_all(&args, memory_budget_mib, &devnet, &mut children);
    let outcome = match started {
        Ok(()) => supervise(&args, &devnet, &mut children),
        Err(e) => Err(e),
    };
    // Nodes before their ELs (nodes were pushed after the ELs).
    for c in children.iter_mut().rev() {
        stop(c);
    }
    outcome
}

/// Starts every EL, then node 0, waits for its ENR, then the other nodes one by one, each with
/// the ENRs of the nodes already running as boot nodes.
fn start_all(
    args: &DevnetArgs,
    memory_budget_mib: u64,
    devnet: &Devnet,
    children: &mut Vec<Supervised>,
) -> Result<(), DevnetError> {
    let m = &devnet.manifest;
    let n = m.nodes;
    let exe = std::env::current_exe()
        .map_err(|e| DevnetError::Invalid(format!("cannot find the ember executable: {e}")))?;
    let logs = devnet.logs_dir();
    std::fs::create_dir_all(&logs).map_err(io_err(&logs))?;
    let ports = (0..n)
        .map(|k| node_ports(args, k))
        .collect::<Result<Vec<_>, _>>()?;
    let mut commands = serde_json::Map::new();
    let write_commands = |commands: &serde_json::Map<String, serde_json::Value>| {
        let json = serde_json::to_vec_pretty(commands)
            .map_err(|e| DevnetError::Invalid(format!("commands: {e}")))?;
        write_atomic(&devnet.commands_path(), &json)
    };

    for (k, p) in ports.iter().enumerate() {
        let el_dir = devnet.el_dir(k);
        std::fs::create_dir_all(&el_dir).map_err(io_err(&el_dir))?;
        let mut el = Command::new(&exe);
        el.arg("mock-el")
            .arg("--jwt-secret")
            .arg(devnet.jwt_path())
            .args(["--address", "127.0.0.1", "--port"])
            .arg(p.el.to_string())
            .arg("--datadir")
            .arg(&el_dir);
        if std::env::var_os("RUST_LOG").is_none() {
            // The mock EL's per-request lines would drown the slot lines.
            el.env("RUST_LOG", "warn");
        }
        let name = format!("el{k}");
        commands.insert(name.clone(), argv(&el).into());
        children.push(spawn(
            &name,
            el,
            &logs.join(format!("{name}.log")),
            Echo::All,
            false,
        )?);
    }

    let mut enrs: Vec<String> = Vec::new();
    for (k, p) in ports.iter().enumerate() {
        let node_dir = devnet.node_dir(k);
        std::fs::create_dir_all(&node_dir).map_err(io_err(&node_dir))?;
        let (first, end) = validator_range(m.validators, n, k);
        let mut bn = Command::new(&exe);
        bn.arg("--memory-budget")
            .arg(memory_budget_mib.to_string())
            .arg("bn")
            .arg("--datadir")
            .arg(&node_dir)
            .args(["--preset", &m.preset])
            .arg("--config")
            .arg(devnet.config_path())
            .arg("--genesis-state")
            .arg(devnet.genesis_path())
            .arg("--execution-endpoint")
            .arg(format!("http://127.0.0.1:{}", p.el))
            .arg("--execution-jwt")
            .arg(devnet.jwt_path())
            .arg("--interop-validators")
            .arg(format!("{first}..{end}"))
            .args(["--http-address", "127.0.0.1", "--http-port"])
            .arg(p.http.to_string())
            .arg("--metrics-port")
            .arg(p.metrics.to_string())
            .args([
                "--listen-address",
                "127.0.0.1",
                "--enr-address",
                "127.0.0.1",
            ])
            .arg("--port")
            .arg(p.p2p.to_string())
            .arg("--discovery-port")
            .arg(p.p2p.to_string())
            .arg("--subscribe-all-subnets");
        if !enrs.is_empty() {
            bn.arg("--boot-nodes").arg(enrs.join(","));
        }
        if args.single_thread {
            bn.arg("--single-thread");
        }
        let name = format!("node{k}");
        commands.insert(name.clone(), argv(&bn).into());
        write_commands(&commands)?;
        // A stale ENR from an earlier run must not be taken for this run's.
        let enr_path = devnet.enr_path(k);
        if n > 1 {
            match std::fs::remove_file(&enr_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&enr_path)(e)),
            }
        }
        let echo = if k == 0 { Echo::All } else { Echo::Problems };
        let mut node = spawn(&name, bn, &logs.join(format!("{name}.log")), echo, true)?;
        let waited = if n > 1 {
            wait_for_enr(&enr_path, &mut node).map(Some)
        } else {
            Ok(None)
        };
        children.push(node);
        if let Some(enr) = waited? {
            enrs.push(enr);
        }
    }

    eprintln!(
        "devnet: {} | {} preset | {} validators | {} node(s) | {} s slots | genesis {}",
        devnet.dir.display(),
        m.preset,
        m.validators,
        n,
        m.seconds_per_slot,
        m.genesis_time
    );
    let pids: Vec<u32> = children
        .iter()
        .filter(|c| c.is_node)
        .map(|c| c.child.id())
        .collect();
    for (k, p) in ports.iter().enumerate() {
        let (first, end) = validator_range(m.validators, n, k);
        eprintln!(
            "devnet: node{k} pid {} | Beacon API http://127.0.0.1:{} | metrics http://127.0.0.1:{}/metrics | p2p 127.0.0.1:{} tcp+udp | engine http://127.0.0.1:{} | validators {first}..{end}",
            pids.get(k).copied().unwrap_or(0),
            p.http,
            p.metrics,
            p.p2p,
            p.el
        );
    }
    if n > 1 {
        eprintln!(
            "devnet: the terminal shows node0's log and the other nodes' warnings; full logs in {}; command lines in {}",
            devnet.logs_dir().display(),
            devnet.commands_path().display()
        );
    }
    eprintln!(
        "devnet: Ctrl-C stops it; resume with: ember devnet --datadir {}",
        devnet.dir.display()
    );
    Ok(())
}

/// Watches the children until Ctrl-C, `--slots` or a fatal death, then prints the figures.
fn supervise(
    args: &DevnetArgs,
    devnet: &Devnet,
    children: &mut [Supervised],
) -> Result<(), DevnetError> {
    let m = &devnet.manifest;
    let slot_secs = m.seconds_per_slot;
    let started_at = now_secs();
    let mut outcome = Ok(());
    loop {
        if STOP.load(Ordering::SeqCst) {
            eprintln!("devnet: stopping");
            break;
        }
        if let Some(limit) = args.slots {
            let end = m
                .genesis_time
                .saturating_add(limit.saturating_mul(slot_secs));
            if now_secs() >= end {
                eprintln!("devnet: reached slot {limit}; stopping");
                break;
            }
        }
        let mut fatal = None;
        for c in children.iter_mut().filter(|c| !c.gone) {
            if let Ok(Some(status)) = c.child.try_wait() {
                c.gone = true;
                if c.is_node && m.nodes > 1 {
                    eprintln!(
                        "devnet: {} exited ({status}); the other nodes go on (restart it with its command line in {})",
                        c.name,
                        devnet.commands_path().display()
                    );
                } else {
                    fatal = Some((c.name.clone(), status.to_string()));
                    break;
                }
            }
        }
        if fatal.is_none() && children.iter().filter(|c| c.is_node).all(|c| c.gone) {
            fatal = Some(("every node".to_string(), "no node left".to_string()));
        }
        if let Some((name, status)) = fatal {
            outcome = Err(DevnetError::ChildDied(name, status));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // Figures before stopping (the processes must be alive to be read).
    let ran = now_secs().saturating_sub(started_at.max(m.genesis_time));
    let slots_ran = (ran / slot_secs.max(1)).max(1);
    for c in children.iter().filter(|c| !c.gone) {
        if let Some((peak, cpu)) = process_usage(c.child.id()) {
            let cpu = cpu - c.started_cpu.unwrap_or(0.0);
            eprintln!(
                "devnet: {} peak RSS {:.1} MiB, CPU {:.2} s over {} slots ({:.1} ms/slot)",
                c.name,
                peak as f64 / (1024.0 * 1024.0),
                cpu,
                slots_ran,
                cpu * 1000.0 / slots_ran as f64
            );
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> DevnetArgs {
        DevnetArgs {
            validators: Some(8),
            nodes: None,
            seconds_per_slot: Some(1),
            datadir: Some(dir.to_path_buf()),
            preset: Some(PresetName::Minimal),
            http_port: 0,
            metrics_port: 0,
            el_port: 0,
            p2p_port: 0,
            slots: None,
            single_thread: false,
            genesis_delay: Some(1),
        }
    }

    #[test]
    fn create_then_resume_keeps_the_genesis_and_refuses_other_settings() {
        let dir = std::env::temp_dir().join(format!("ember-devnet-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let created = prepare(&args(&dir)).expect("created");
        let genesis = std::fs::read(created.genesis_path()).expect("genesis");
        // Resume without flags: same manifest, same genesis.
        let mut resume = args(&dir);
        resume.validators = None;
        resume.seconds_per_slot = None;
        resume.preset = None;
        let resumed = prepare(&resume).expect("resumed");
        assert_eq!(resumed.manifest, created.manifest);
        assert_eq!(
            std::fs::read(resumed.genesis_path()).expect("genesis"),
            genesis
        );
        // Contradicting flags are refused.
        let mut other = resume.clone();
        other.validators = Some(16);
        assert!(matches!(prepare(&other), Err(DevnetError::Invalid(_))));
        // The config carries the slot duration and decodes as minimal.
        let text = std::fs::read_to_string(created.config_path()).expect("config");
        let (config, unknown) = ChainConfig::from_yaml_str(&text).expect("parses");
        assert!(unknown.is_empty());
        assert_eq!(config.slot_duration_ms, 1000);
        assert_eq!(config.preset().expect("preset"), PresetName::Minimal);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_a_non_empty_directory_without_manifest() {
        let dir = std::env::temp_dir().join(format!("ember-devnet-test-ne-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("precious.txt"), b"x").expect("write");
        assert!(matches!(prepare(&args(&dir)), Err(DevnetError::Invalid(_))));
        assert!(dir.join("precious.txt").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn validators_split_evenly_and_cover_every_index() {
        assert_eq!(validator_range(64, 1, 0), (0, 64));
        let ranges: Vec<_> = (0..4).map(|k| validator_range(64, 4, k)).collect();
        assert_eq!(ranges, vec![(0, 16), (16, 32), (32, 48), (48, 64)]);
        // Uneven: contiguous, no gap or overlap, sizes differ by at most one.
        let ranges: Vec<_> = (0..3).map(|k| validator_range(10, 3, k)).collect();
        assert_eq!(ranges.first().map(|r| r.0), Some(0));
        assert_eq!(ranges.last().map(|r| r.1), Some(10));
        for w in ranges.windows(2) {
            assert_eq!(w[0].1, w[1].0);
        }
        assert!(ranges.iter().all(|(a, b)| b - a == 3 || b - a == 4));
    }

    #[test]
    fn node_ports_follow_the_documented_offsets() {
        let mut a = args(Path::new("/nonexistent"));
        a.http_port = 5052;
        a.metrics_port = 5054;
        a.el_port = 8551;
        a.p2p_port = 9000;
        let p = node_ports(&a, 3).expect("ports");
        assert_eq!(
            p,
            NodePorts {
                http: 5082,
                metrics: 5084,
                p2p: 9003,
                el: 8554
            }
        );
        a.http_port = 65530;
        assert!(node_ports(&a, 0).is_ok());
        assert!(node_ports(&a, 1).is_err());
    }

    #[test]
    fn node_count_is_recorded_and_checked_on_resume() {
        let dir = std::env::temp_dir().join(format!("ember-devnet-test-n-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = args(&dir);
        a.nodes = Some(9);
        // More nodes than validators: refused before anything is written.
        assert!(matches!(prepare(&a), Err(DevnetError::Invalid(_))));
        assert!(!dir.join("devnet.json").exists());
        a.nodes = Some(2);
        let created = prepare(&a).expect("created");
        assert_eq!(created.manifest.nodes, 2);
        let mut resume = a.clone();
        resume.nodes = None;
        assert_eq!(prepare(&resume).expect("resumed").manifest.nodes, 2);
        resume.nodes = Some(3);
        assert!(matches!(prepare(&resume), Err(DevnetError::Invalid(_))));
        // A manifest from before `nodes` existed means one node.
        let text = std::fs::read_to_string(dir.join("devnet.json")).expect("manifest");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v.as_object_mut().expect("object").remove("nodes");
        let old: Manifest = serde_json::from_value(v).expect("old manifest");
        assert_eq!(old.nodes, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reads_own_usage() {
        let (peak, cpu) = process_usage(std::process::id()).expect("usage");
        assert!(peak > 1024 * 1024, "peak {peak}");
        assert!(cpu >= 0.0);
    }
}
