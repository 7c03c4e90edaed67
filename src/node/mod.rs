//! The beacon node (`ember bn`): slot clock, chain writer, import pipeline, pools, block
//! production, in-process validator duties.
//!
//! Layout:
//! - this file: the command-line flags ([`BnArgs`]), the runtime (tokio multi-thread, or
//!   current-thread with `--single-thread`) and the preset dispatch;
//! - [`clock`]: the slot clock (slot starts and the 1/3, 2/3 instants), preset independent;
//! - [`mainnet`] / [`minimal`]: the chain (writer, snapshot, import, pools, production),
//!   written once in `chain/` and compiled per preset like `store::{mainnet,minimal}`.

pub mod clock;
pub mod error;
pub mod mainnet;
pub mod minimal;

pub use error::NodeError;

use crate::consensus::config::ChainConfig;
use crate::consensus::preset::PresetName;
use crate::consensus::primitives::ExecutionAddress;
use crate::store::budget::MemoryBudget;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// `ember bn` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct BnArgs {
    /// Data directory: the chain database in `<datadir>/beacon`, slashing protection in
    /// `<datadir>/slashing_protection`.
    #[arg(long)]
    pub datadir: PathBuf,
    #[arg(long, default_value = "mainnet", value_parser = parse_preset)]
    pub preset: PresetName,
    /// Chain configuration (config.yaml). Default: the preset's built-in one with every fork
    /// active from epoch 0.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Genesis state (SSZ, `.ssz` or `.ssz_snappy`): needed on the first start; on later starts
    /// the store is used, and this file, if given, must be the same chain (same genesis
    /// validators root).
    #[arg(long)]
    pub genesis_state: Option<PathBuf>,
    /// Engine API endpoint of the execution client (e.g. http://127.0.0.1:8551).
    #[arg(long)]
    pub execution_endpoint: String,
    /// JWT secret file (hex) for the Engine API.
    #[arg(long)]
    pub execution_jwt: PathBuf,
    /// Run validator duties in-process for the deterministic interop keys START..END.
    #[arg(long, value_name = "START..END")]
    pub interop_validators: Option<crate::validator::InteropRange>,
    #[arg(long, default_value = "127.0.0.1")]
    pub http_address: IpAddr,
    #[arg(long, default_value_t = 5052)]
    pub http_port: u16,
    #[arg(long, default_value_t = 5054)]
    pub metrics_port: u16,
    /// A current-thread runtime, a one-thread rayon pool and no blocking-task pool (smallest
    /// footprint; everything runs on one core).
    #[arg(long)]
    pub single_thread: bool,
    /// Graffiti of proposed blocks (up to 32 bytes of UTF-8).
    #[arg(long, default_value = "ember")]
    pub graffiti: String,
    /// Fee recipient of proposed payloads.
    #[arg(long, default_value = "0x0000000000000000000000000000000000000000")]
    pub suggested_fee_recipient: ExecutionAddress,
    /// Networking (libp2p and discv5); the node key is kept in `<datadir>/network/key`.
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// `ember bn` networking flags.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Address libp2p (TCP) and discv5 (UDP) listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub listen_address: IpAddr,
    /// libp2p TCP port; discv5 uses the same number over UDP unless --discovery-port is given.
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    #[arg(long)]
    pub discovery_port: Option<u16>,
    /// The IP address advertised in our ENR (default: the listen address when it is not
    /// unspecified; otherwise discv5 learns it from peers).
    #[arg(long)]
    pub enr_address: Option<IpAddr>,
    /// Boot nodes: comma-separated ENRs (`enr:-...`) or multiaddrs (`/ip4/.../tcp/.../p2p/...`).
    #[arg(long, value_delimiter = ',')]
    pub boot_nodes: Vec<String>,
    /// The number of peers the node keeps (it dials up to this and accepts a few more).
    #[arg(long, default_value_t = 64)]
    pub target_peers: usize,
    /// No discv5 (peers only from --boot-nodes and inbound connections).
    #[arg(long)]
    pub disable_discovery: bool,
    /// Subscribe to every attestation and sync committee subnet (heavy on mainnet; devnets).
    #[arg(long)]
    pub subscribe_all_subnets: bool,
    /// No networking at all (a single node chain).
    #[arg(long)]
    pub no_network: bool,
}

fn parse_preset(s: &str) -> Result<PresetName, String> {
    PresetName::parse(s).ok_or_else(|| format!("unknown preset `{s}` (mainnet or minimal)"))
}

/// The graffiti bytes: UTF-8, zero-padded, at most 32 bytes.
pub fn graffiti_bytes(text: &str) -> Result<[u8; 32], NodeError> {
    let bytes = text.as_bytes();
    if bytes.len() > 32 {
        return Err(NodeError::Config(format!(
            "graffiti is {} bytes, at most 32",
            bytes.len()
        )));
    }
    let mut out = [0u8; 32];
    out[..bytes.len()].copy_from_slice(bytes);
    Ok(out)
}

/// The chain configuration for `preset`: from `file`, or the built-in one with all forks at
/// genesis (a devnet starting in Fulu).
pub fn load_chain_config(
    file: Option<&Path>,
    preset: PresetName,
) -> Result<ChainConfig, NodeError> {
    let Some(file) = file else {
        return Ok(ChainConfig::for_preset(preset).with_forks_at_genesis());
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| NodeError::Config(format!("{}: {e}", file.display())))?;
    let (config, unknown) = ChainConfig::from_yaml_str(&text)
        .map_err(|e| NodeError::Config(format!("{}: {e}", file.display())))?;
    if !unknown.is_empty() {
        tracing::warn!(keys = ?unknown, "unknown keys in {}", file.display());
    }
    let base = config
        .preset()
        .map_err(|e| NodeError::Config(e.to_string()))?;
    if base != preset {
        return Err(NodeError::Config(format!(
            "{} is a {base} configuration but --preset is {preset}",
            file.display()
        )));
    }
    if config.slot_duration_ms == 0 {
        return Err(NodeError::Config("SLOT_DURATION_MS is 0".into()));
    }
    Ok(config)
}

/// Runs `ember bn` until Ctrl-C / SIGTERM.
pub fn run(args: BnArgs, memory_budget_mib: u64) -> Result<(), NodeError> {
    let budget =
        MemoryBudget::from_mib(memory_budget_mib).map_err(|e| NodeError::Config(e.to_string()))?;
    let runtime = if args.single_thread {
        // One rayon thread: the transition's parallel parts run inline-equivalent.
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global()
            .map_err(|e| NodeError::Config(format!("rayon: {e}")))?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    }
    .map_err(|e| NodeError::Config(format!("tokio runtime: {e}")))?;
    runtime.block_on(async move {
        match args.preset {
            PresetName::Mainnet => mainnet::run(args, budget).await,
            PresetName::Minimal => minimal::run(args, budget).await,
        }
    })
}

/// Runs CPU-heavy `f` off the async workers: on the blocking pool with a multi-thread runtime,
/// inline with `--single-thread` (no worker pools: the one thread does everything in turn).
pub async fn blocking<T, F>(single_thread: bool, f: F) -> Result<T, NodeError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if single_thread {
        Ok(f())
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| NodeError::Internal(format!("blocking task: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graffiti() {
        let g = graffiti_bytes("ember").unwrap();
        assert_eq!(&g[..5], b"ember");
        assert_eq!(g[5..], [0u8; 27]);
        assert!(graffiti_bytes(&"x".repeat(33)).is_err());
    }
}
