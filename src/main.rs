//! The `ember` command.

use clap::{Args, Parser, Subcommand};
use ember::consensus::config::ChainConfig;
use ember::consensus::preset::PresetName;
use ember::consensus::primitives::ForkName;
use ember::tools::ssz as ssz_tool;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// mimalloc: small footprint and low fragmentation on 4 GB boards; page size is read at run time,
/// so the same binary works on 4K- and 16K-page kernels (Raspberry Pi 5).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ember",
    version,
    about = "Ember: a lightweight Ethereum consensus-layer node"
)]
struct Cli {
    /// Memory the whole process may use, in MiB; every cache and queue is bounded by its share
    /// (`ember budget` prints the split). The default suits a 4 GB board.
    #[arg(long, global = true, value_name = "MiB", default_value_t = ember::store::budget::DEFAULT_MEMORY_BUDGET_MIB)]
    memory_budget: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect SSZ-encoded consensus objects.
    #[command(subcommand)]
    Ssz(SszCommand),
    /// Print the built-in chain configuration of a preset (config.yaml format).
    Config {
        #[arg(long, default_value = "mainnet", value_parser = parse_preset)]
        preset: PresetName,
    },
    /// Write an interop ("mocked start") genesis state that starts directly in Fulu.
    Genesis(GenesisArgs),
    /// Replay blocks and/or empty slots on a state, timing each step (a zcli-style debugger).
    Transition(TransitionArgs),
    /// Inspect a node database.
    #[command(subcommand)]
    Db(DbCommand),
    /// Print how --memory-budget is split among the caches and queues.
    Budget,
    /// Run the beacon node.
    Bn(ember::node::BnArgs),
    /// Run a local devnet (mock execution client + a node with every validator) until Ctrl-C.
    Devnet(ember::devnet::DevnetArgs),
    /// A mock execution client: serves the Engine API (JWT-authenticated) and builds valid
    /// empty payloads, so a devnet runs without a real execution client.
    MockEl(ember::execution::mock_el::MockElArgs),
    /// Test helper (the store's crash test): grow a synthetic minimal-preset chain in a
    /// database, resuming where it stands; meant to be killed at random moments.
    #[command(hide = true)]
    StoreWriter(StoreWriterArgs),
    /// Import or export EIP-3076 slashing protection interchange files.
    SlashingProtection(ember::validator::slashing_protection::SlashingProtectionArgs),
}

#[derive(Subcommand)]
enum DbCommand {
    /// Pointers, table sizes, disk use per epoch, cache figures.
    Stats(DbArgs),
    /// Check every invariant of the database (rebuilds the head and finalized states).
    Check(DbArgs),
}

#[derive(Args)]
struct DbArgs {
    /// The database directory.
    #[arg(long)]
    datadir: PathBuf,
    #[arg(long, default_value = "mainnet", value_parser = parse_preset)]
    preset: PresetName,
    /// Chain configuration (config.yaml) for replaying blocks. Default: the preset's built-in
    /// one with every fork active from epoch 0.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct StoreWriterArgs {
    #[arg(long)]
    datadir: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop when the head reaches this slot.
    #[arg(long, default_value_t = u64::MAX)]
    until_slot: u64,
    /// Genesis validators (interop keys).
    #[arg(long, default_value_t = 32)]
    validators: u64,
    #[arg(long, default_value_t = 2)]
    snapshot_every_epochs: u64,
    /// Initial LMDB map size in KiB (small, so the map grows while the writer runs).
    #[arg(long, default_value_t = 256)]
    initial_map_kib: usize,
    #[arg(long)]
    archive: bool,
}

#[derive(Args)]
struct GenesisArgs {
    #[arg(long, default_value = "minimal", value_parser = parse_preset)]
    preset: PresetName,
    /// Number of validators (interop keys 0..N).
    #[arg(long)]
    validators: u64,
    /// Output file (`.ssz`, or `.ssz_snappy` for raw-snappy compression).
    #[arg(long)]
    out: PathBuf,
    /// Chain configuration (config.yaml). Default: the preset's built-in one with every fork
    /// active from epoch 0.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Genesis time (unix seconds). Default: now.
    #[arg(long)]
    genesis_time: Option<u64>,
    /// Cache file for the derived public keys (derivation of millions of keys takes minutes).
    #[arg(long)]
    key_cache: Option<PathBuf>,
}

#[derive(Args)]
struct TransitionArgs {
    #[arg(long, default_value = "minimal", value_parser = parse_preset)]
    preset: PresetName,
    /// Chain configuration (config.yaml). Default: the preset's built-in one with every fork
    /// active from epoch 0.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The state to start from (`.ssz` or `.ssz_snappy`).
    #[arg(long)]
    pre: PathBuf,
    /// Signed blocks to apply, in order (`.ssz` or `.ssz_snappy`). Repeat the flag.
    #[arg(long = "block")]
    blocks: Vec<PathBuf>,
    /// Empty slots to process after the blocks.
    #[arg(long, default_value_t = 0)]
    slots: u64,
    /// Where to write the resulting state.
    #[arg(long)]
    post: PathBuf,
    /// Skip BLS signature checks (blocks already known to be valid).
    #[arg(long)]
    no_signatures: bool,
}

#[derive(Subcommand)]
enum SszCommand {
    /// Decode an object and print it as Beacon API JSON.
    Decode(SszArgs),
    /// Print an object's hash_tree_root.
    Root(SszArgs),
    /// List the type names `decode` and `root` accept.
    Types,
}

#[derive(Args)]
struct SszArgs {
    /// Container name as in the spec, e.g. BeaconState, SignedBeaconBlock, Attestation.
    type_name: String,
    /// A `.ssz` file or a raw-snappy `.ssz_snappy` file.
    file: PathBuf,
    #[arg(long, default_value = "mainnet", value_parser = parse_preset)]
    preset: PresetName,
    #[arg(long, default_value = "fulu", value_parser = parse_fork)]
    fork: ForkName,
}

fn parse_preset(s: &str) -> Result<PresetName, String> {
    PresetName::parse(s).ok_or_else(|| format!("unknown preset `{s}` (mainnet or minimal)"))
}

fn parse_fork(s: &str) -> Result<ForkName, String> {
    ForkName::parse(s).ok_or_else(|| format!("unknown fork `{s}` (electra or fulu)"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Ssz(SszCommand::Types) => {
            for name in ssz_tool::TYPE_NAMES {
                println!("{name}");
            }
            Ok(())
        }
        Command::Ssz(SszCommand::Decode(args)) => {
            let object = load(&args)?;
            let json = object.to_api_json().map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
        Command::Ssz(SszCommand::Root(args)) => {
            let object = load(&args)?;
            println!("{:?}", object.hash_tree_root());
            Ok(())
        }
        Command::Genesis(args) => genesis(args),
        Command::Db(DbCommand::Stats(args)) => db_stats(args, cli.memory_budget),
        Command::Db(DbCommand::Check(args)) => db_check(args, cli.memory_budget),
        Command::Devnet(args) => {
            ember::devnet::run(args, cli.memory_budget).map_err(|e| e.to_string())
        }
        Command::Budget => {
            print!("{}", memory_budget(cli.memory_budget)?);
            Ok(())
        }
        Command::StoreWriter(args) => store_writer(args, cli.memory_budget),
        Command::Bn(args) => ember::node::run(args, cli.memory_budget).map_err(|e| e.to_string()),
        Command::MockEl(args) => ember::execution::mock_el::run(args).map_err(|e| e.to_string()),
        Command::Transition(args) => transition(args),
        Command::SlashingProtection(args) => {
            ember::validator::slashing_protection::run(&args).map_err(|e| e.to_string())
        }
        Command::Config { preset } => {
            print!(
                "{}",
                ember::consensus::config::ChainConfig::for_preset(preset).to_yaml()
            );
            Ok(())
        }
    }
}

fn load(args: &SszArgs) -> Result<Box<dyn ssz_tool::SszObject>, String> {
    let contents =
        std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let file_name = args.file.to_string_lossy();
    let bytes = ssz_tool::ssz_from_file_bytes(&file_name, contents).map_err(|e| e.to_string())?;
    ssz_tool::decode(args.preset, args.fork, &args.type_name, &bytes).map_err(|e| e.to_string())
}

/// Runs `$body` with `$p` naming the preset's module (`ember::consensus::mainnet` or `minimal`):
/// the one place where the preset is dispatched.
macro_rules! with_preset {
    ($preset:expr, $p:ident => $body:expr) => {
        match $preset {
            PresetName::Mainnet => {
                use ember::consensus::mainnet as $p;
                $body
            }
            PresetName::Minimal => {
                use ember::consensus::minimal as $p;
                $body
            }
        }
    };
}

/// The chain configuration for `preset`: from `file`, or the built-in one with all forks at
/// genesis (what a devnet starting in Fulu runs on).
fn load_config(file: Option<&Path>, preset: PresetName) -> Result<ChainConfig, String> {
    let Some(file) = file else {
        return Ok(ChainConfig::for_preset(preset).with_forks_at_genesis());
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (config, unknown) =
        ChainConfig::from_yaml_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    if !unknown.is_empty() {
        tracing::warn!(keys = ?unknown, "unknown keys in {}", file.display());
    }
    let base = config.preset().map_err(|e| e.to_string())?;
    if base != preset {
        return Err(format!(
            "{} is a {base} configuration but --preset is {preset}",
            file.display()
        ));
    }
    Ok(config)
}

fn read_ssz_file(path: &Path) -> Result<Vec<u8>, String> {
    let contents = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ssz_tool::ssz_from_file_bytes(&path.to_string_lossy(), contents).map_err(|e| e.to_string())
}

/// Writes SSZ bytes (snappy-compressed for `.ssz_snappy`) through a temporary file and a rename,
/// so an interrupted run never leaves a truncated state behind.
fn write_ssz_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let data = if path.to_string_lossy().ends_with(".ssz_snappy") {
        snap::raw::Encoder::new()
            .compress_vec(bytes)
            .map_err(|e| e.to_string())?
    } else {
        bytes.to_vec()
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn ms(since: Instant) -> String {
    format!("{:.1} ms", since.elapsed().as_secs_f64() * 1000.0)
}

fn genesis(args: GenesisArgs) -> Result<(), String> {
    let config = load_config(args.config.as_deref(), args.preset)?;
    let genesis_time = match args.genesis_time {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs(),
    };
    let started = Instant::now();
    let pubkeys =
        ember::validator::interop::interop_pubkeys(args.validators, args.key_cache.as_deref())
            .map_err(|e| e.to_string())?;
    eprintln!(
        "keys:    {} interop public keys in {}",
        pubkeys.len(),
        ms(started)
    );
    let started = Instant::now();
    let (bytes, root) = with_preset!(args.preset, p => {
        let state = p::transition::genesis::interop_genesis_state(&config, &pubkeys, genesis_time)
            .map_err(|e| e.to_string())?;
        (
            ssz::Encode::as_ssz_bytes(&state),
            tree_hash::TreeHash::tree_hash_root(&state),
        )
    });
    eprintln!("state:   built and hashed in {}", ms(started));
    write_ssz_file(&args.out, &bytes)?;
    println!(
        "genesis: {} ({} preset, Fulu, {} validators, genesis_time {genesis_time}, state root {root:?}, {} bytes)",
        args.out.display(),
        args.preset,
        pubkeys.len(),
        bytes.len()
    );
    Ok(())
}

/// Replays blocks without an execution client: payloads are taken as valid (the tool checks
/// consensus, not execution), which it says when it starts.
struct TrustPayloads;

impl ember::consensus::execution::ExecutionEngine for TrustPayloads {
    fn verify_and_notify_new_payload(
        &self,
        _request: &ember::consensus::execution::NewPayloadRequest<'_>,
    ) -> bool {
        true
    }
}

fn transition(args: TransitionArgs) -> Result<(), String> {
    use ssz::{Decode, Encode};
    use tree_hash::TreeHash;
    let config = load_config(args.config.as_deref(), args.preset)?;
    eprintln!("note:    execution payloads are not executed (no execution client)");
    with_preset!(args.preset, p => {
        let started = Instant::now();
        let bytes = read_ssz_file(&args.pre)?;
        let mut state = p::BeaconState::from_ssz_bytes(&bytes)
            .map_err(|e| format!("{}: invalid BeaconState: {e:?}", args.pre.display()))?;
        eprintln!(
            "pre:     slot {}, {} validators, {} ({})",
            state.slot,
            state.validators.len(),
            state.fork_name(),
            ms(started)
        );
        let pubkeys = ember::consensus::pubkey_cache::PubkeyCache::new();
        for path in &args.blocks {
            let bytes = read_ssz_file(path)?;
            let block = p::SignedBeaconBlock::from_ssz_bytes(&bytes)
                .map_err(|e| format!("{}: invalid SignedBeaconBlock: {e:?}", path.display()))?;
            let verify = if args.no_signatures {
                p::transition::block::VerifySignatures::No
            } else {
                p::transition::block::VerifySignatures::Batch(&pubkeys)
            };
            let started = Instant::now();
            p::transition::block::state_transition(
                &mut state,
                &block,
                true,
                &config,
                &TrustPayloads,
                verify,
            )
            .map_err(|e| format!("{}: block at slot {}: {e}", path.display(), block.message.slot))?;
            eprintln!("block:   slot {} applied in {}", block.message.slot, ms(started));
        }
        if args.slots > 0 {
            let started = Instant::now();
            let target = state
                .slot
                .checked_add(args.slots)
                .ok_or("--slots overflows the slot number")?;
            p::transition::slot::process_slots(&mut state, &config, target)
                .map_err(|e| e.to_string())?;
            eprintln!("slots:   +{} to slot {target} in {}", args.slots, ms(started));
        }
        let started = Instant::now();
        state.apply_pending_updates().map_err(|e| format!("{e:?}"))?;
        let root = state.tree_hash_root();
        eprintln!("root:    {root:?} in {}", ms(started));
        write_ssz_file(&args.post, &state.as_ssz_bytes())?;
        println!("post:    {} (slot {}, state root {root:?})", args.post.display(), state.slot);
        Ok(())
    })
}

fn memory_budget(mib: u64) -> Result<ember::store::MemoryBudget, String> {
    ember::store::MemoryBudget::from_mib(mib).map_err(|e| e.to_string())
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Like `with_preset!`, binding the preset's store module (`ember::store::mainnet`/`minimal`).
macro_rules! with_store {
    ($preset:expr, $s:ident => $body:expr) => {
        match $preset {
            PresetName::Mainnet => {
                use ember::store::mainnet as $s;
                $body
            }
            PresetName::Minimal => {
                use ember::store::minimal as $s;
                $body
            }
        }
    };
}

fn db_stats(args: DbArgs, budget_mib: u64) -> Result<(), String> {
    use ember::store::PointerName;
    let chain = load_config(args.config.as_deref(), args.preset)?;
    let budget = memory_budget(budget_mib)?;
    with_store!(args.preset, s => {
        let started = Instant::now();
        let store = s::BeaconStore::open(&args.datadir, s::StoreConfig::new(&budget), chain)
            .map_err(|e| e.to_string())?;
        println!("opened in {}", ms(started));
        for name in PointerName::ALL {
            match store.pointer(name) {
                Ok(p) => println!(
                    "{:<10} epoch {:>7} slot {:>9} block {:?} state {:?}",
                    format!("{name:?}"), p.epoch, p.slot, p.block_root, p.state_root
                ),
                Err(e) => println!("{name:?}: {e}"),
            }
        }
        let usage = store.disk_usage().map_err(|e| e.to_string())?;
        println!(
            "file {} (map {}, page size {} B)",
            mib(usage.file_bytes),
            mib(usage.map_size as u64),
            usage.page_size
        );
        for (name, stat) in &usage.tables {
            println!("  {name:<12} {:>9} entries {:>14}", stat.entries, mib(stat.bytes));
        }
        if let (Ok(anchor), Ok(finalized)) =
            (store.pointer(PointerName::Anchor), store.pointer(PointerName::Finalized))
        {
            let epochs = finalized.epoch.saturating_sub(anchor.epoch);
            if let Some(per_epoch) = usage.chain_bytes().checked_div(epochs) {
                println!(
                    "chain data (blocks + indices): {} over {epochs} finalized epochs = {} per epoch; snapshots {}",
                    mib(usage.chain_bytes()),
                    mib(per_epoch),
                    mib(usage.state_bytes())
                );
            }
        }
        Ok(())
    })
}

fn db_check(args: DbArgs, budget_mib: u64) -> Result<(), String> {
    let chain = load_config(args.config.as_deref(), args.preset)?;
    let budget = memory_budget(budget_mib)?;
    with_store!(args.preset, s => {
        let started = Instant::now();
        let store = s::BeaconStore::open(&args.datadir, s::StoreConfig::new(&budget), chain)
            .map_err(|e| e.to_string())?;
        let report = store.check_consistency(true).map_err(|e| e.to_string())?;
        println!(
            "consistent ({}): head slot {}, finalized epoch {}, {} canonical and {} hot blocks, {} snapshots, {} pubkeys, {} validators at head",
            ms(started),
            report.head.slot,
            report.finalized.epoch,
            report.canonical_blocks,
            report.hot_blocks,
            report.snapshots,
            report.pubkeys,
            report.head_validators
        );
        Ok(())
    })
}

fn store_writer(args: StoreWriterArgs, budget_mib: u64) -> Result<(), String> {
    use ember::store::minimal as s;
    use std::io::Write;
    let preset = PresetName::Minimal;
    let chain = load_config(None, preset)?;
    let budget = memory_budget(budget_mib)?;
    let config = s::StoreConfig {
        map: ember::store::MapPolicy {
            initial: args.initial_map_kib.saturating_mul(1024),
            ..Default::default()
        },
        snapshot_every_epochs: args.snapshot_every_epochs,
        archive: args.archive,
        ..s::StoreConfig::new(&budget)
    };
    let store =
        s::BeaconStore::open(&args.datadir, config, chain.clone()).map_err(|e| e.to_string())?;
    let plan = s::testchain::WriterPlan {
        seed: args.seed,
        until_slot: args.until_slot,
        deposit_every: 3,
        fork_one_in: 5,
        skip_one_in: 7,
    };
    let validators = args.validators;
    let genesis = || {
        let keys = ember::validator::interop::interop_pubkeys(validators, None)
            .map_err(|e| ember::store::StoreError::Inconsistent(e.to_string()))?;
        ember::consensus::minimal::transition::genesis::interop_genesis_state(&chain, &keys, 0)
            .map_err(|e| ember::store::StoreError::Inconsistent(e.to_string()))
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    s::testchain::run_writer(&store, genesis, &plan, |slot, head, finalized| {
        let _ = writeln!(out, "imported {slot} head {head} finalized {finalized}");
        let _ = out.flush();
    })
    .map_err(|e| e.to_string())
}
