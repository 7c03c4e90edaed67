//! `ember devnet`: a local chain with one command.
//!
//! The supervisor creates (or resumes) a devnet directory, then runs the real programs as child
//! processes — `ember mock-el` (the Engine API mock execution client) and `ember bn` with every
//! interop validator — and prints their logs, prefixed, until Ctrl-C or `--slots`. Nothing runs
//! in-process: a devnet node is exactly the node a user runs.
//!
//! Directory layout (the manifest is written last, so a directory without one is not a devnet):
//!
//! | path | what |
//! |---|---|
//! | `devnet.json` | preset, validator count, slot duration, genesis time (the resume record) |
//! | `config.yaml` | the chain configuration (the preset's, Fulu from epoch 0, the slot duration) |
//! | `genesis.ssz` | the interop genesis state |
//! | `jwt.hex` | the Engine API secret shared by the node and the mock EL |
//! | `el/` | the mock EL's data |
//! | `node0/` | the node's database and slashing-protection database |
//!
//! Resuming (same `--datadir`): the manifest decides; flags that contradict it are an error
//! rather than a silently different chain. The node restarts from its store and its
//! slashing-protection database, so no validator signs twice.
//!
//! Shutdown: children run in their own process group (a terminal's Ctrl-C reaches only the
//! supervisor, which stops them in order: node, then EL, SIGTERM then SIGKILL after a grace
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

/// Seconds between writing the genesis and the genesis time: the node and the mock EL must be
/// up before slot 0 (a 4,096-validator genesis state is built before this delay starts).
const DEFAULT_GENESIS_DELAY: u64 = 5;

#[derive(clap::Args, Debug, Clone)]
pub struct DevnetArgs {
    /// Number of interop validators, all run by the node (default 64; new devnets only).
    #[arg(long)]
    pub validators: Option<u64>,
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
    /// The node's Beacon API port (127.0.0.1).
    #[arg(long, default_value_t = 5052)]
    pub http_port: u16,
    /// The node's Prometheus metrics port (127.0.0.1).
    #[arg(long, default_value_t = 5054)]
    pub metrics_port: u16,
    /// The mock execution client's Engine API port (127.0.0.1).
    #[arg(long, default_value_t = 8551)]
    pub el_port: u16,
    /// Stop by itself once the wall clock reaches this slot (benchmarks and tests).
    #[arg(long)]
    pub slots: Option<u64>,
    /// Run the node on a current-thread runtime (`ember bn --single-thread`).
    #[arg(long)]
    pub single_thread: bool,
    /// Seconds from genesis creation to genesis time (new devnets only).
    #[arg(long, default_value_t = DEFAULT_GENESIS_DELAY)]
    pub genesis_delay: u64,
}

fn parse_preset(s: &str) -> Result<PresetName, String> {
    PresetName::parse(s).ok_or_else(|| format!("unknown preset `{s}` (mainnet or minimal)"))
}

/// The resume record (`devnet.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub preset: String,
    pub validators: u64,
    pub seconds_per_slot: u64,
    pub genesis_time: u64,
    pub ember_version: String,
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
    pub fn el_dir(&self) -> PathBuf {
        self.dir.join("el")
    }
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
    if validators == 0 {
        return Err(DevnetError::Invalid(
            "--validators must be at least 1".into(),
        ));
    }
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
    let genesis_time = now_secs().saturating_add(args.genesis_delay);
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
        seconds_per_slot,
        genesis_time,
        ember_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| DevnetError::Invalid(format!("manifest: {e}")))?;
    write_atomic(&dir.join("devnet.json"), &json)?;
    eprintln!(
        "devnet: created {} ({preset} preset, {validators} validators, {seconds_per_slot} s slots, genesis in {} s; genesis built in {:.1} s)",
        dir.display(),
        args.genesis_delay,
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

fn spawn(name: &str, mut cmd: Command) -> Result<Supervised, DevnetError> {
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
        std::thread::spawn(move || {
            let reader = BufReader::new(stream);
            for line in reader.lines() {
                let Ok(line) = line else { break };
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
    })
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

/// Runs the devnet until Ctrl-C, `--slots`, or a child's death. `memory_budget_mib` is passed
/// to the node.
pub fn run(args: DevnetArgs, memory_budget_mib: u64) -> Result<(), DevnetError> {
    install_signal_handlers();
    let devnet = prepare(&args)?;
    let m = &devnet.manifest;
    let exe = std::env::current_exe()
        .map_err(|e| DevnetError::Invalid(format!("cannot find the ember executable: {e}")))?;

    let el_dir = devnet.el_dir();
    std::fs::create_dir_all(&el_dir).map_err(io_err(&el_dir))?;
    let node_dir = devnet.node_dir(0);
    std::fs::create_dir_all(&node_dir).map_err(io_err(&node_dir))?;

    let mut el = Command::new(&exe);
    el.arg("mock-el")
        .arg("--jwt-secret")
        .arg(devnet.jwt_path())
        .args(["--address", "127.0.0.1", "--port"])
        .arg(args.el_port.to_string())
        .arg("--datadir")
        .arg(&el_dir);
    if std::env::var_os("RUST_LOG").is_none() {
        // The mock EL's per-request lines would drown the slot lines.
        el.env("RUST_LOG", "warn");
    }
    let el = spawn("el", el)?;

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
        .arg(format!("http://127.0.0.1:{}", args.el_port))
        .arg("--execution-jwt")
        .arg(devnet.jwt_path())
        .arg("--interop-validators")
        .arg(format!("0..{}", m.validators))
        .args(["--http-address", "127.0.0.1", "--http-port"])
        .arg(args.http_port.to_string())
        .arg("--metrics-port")
        .arg(args.metrics_port.to_string());
    if args.single_thread {
        bn.arg("--single-thread");
    }
    let mut children = vec![el];
    match spawn("node0", bn) {
        Ok(node) => children.push(node),
        Err(e) => {
            for c in children.iter_mut() {
                stop(c);
            }
            return Err(e);
        }
    }

    let slot_secs = m.seconds_per_slot;
    eprintln!(
        "devnet: {} | {} preset | {} validators | {} s slots | genesis {}",
        devnet.dir.display(),
        m.preset,
        m.validators,
        slot_secs,
        m.genesis_time
    );
    eprintln!(
        "devnet: node0 Beacon API http://127.0.0.1:{}  metrics http://127.0.0.1:{}/metrics  engine http://127.0.0.1:{}",
        args.http_port, args.metrics_port, args.el_port
    );
    eprintln!(
        "devnet: Ctrl-C stops it; resume with: ember devnet --datadir {}",
        devnet.dir.display()
    );

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
        let mut died = None;
        for c in children.iter_mut() {
            if let Ok(Some(status)) = c.child.try_wait() {
                died = Some((c.name.clone(), status.to_string()));
                break;
            }
        }
        if let Some((name, status)) = died {
            outcome = Err(DevnetError::ChildDied(name, status));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // Figures first (the processes must be alive to be read), then stop: node before EL.
    let ran = now_secs().saturating_sub(started_at.max(m.genesis_time));
    let slots_ran = (ran / slot_secs.max(1)).max(1);
    for c in &children {
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
    for c in children.iter_mut().rev() {
        stop(c);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> DevnetArgs {
        DevnetArgs {
            validators: Some(8),
            seconds_per_slot: Some(1),
            datadir: Some(dir.to_path_buf()),
            preset: Some(PresetName::Minimal),
            http_port: 0,
            metrics_port: 0,
            el_port: 0,
            slots: None,
            single_thread: false,
            genesis_delay: 1,
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
    fn reads_own_usage() {
        let (peak, cpu) = process_usage(std::process::id()).expect("usage");
        assert!(peak > 1024 * 1024, "peak {peak}");
        assert!(cpu >= 0.0);
    }
}
