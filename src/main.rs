//! The `ember` command.

use clap::{Args, Parser, Subcommand};
use ember::consensus::preset::PresetName;
use ember::consensus::primitives::ForkName;
use ember::tools::ssz;
use std::path::PathBuf;
use std::process::ExitCode;

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
            for name in ssz::TYPE_NAMES {
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
        Command::Config { preset } => {
            print!(
                "{}",
                ember::consensus::config::ChainConfig::for_preset(preset).to_yaml()
            );
            Ok(())
        }
    }
}

fn load(args: &SszArgs) -> Result<Box<dyn ssz::SszObject>, String> {
    let contents =
        std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let file_name = args.file.to_string_lossy();
    let bytes = ssz::ssz_from_file_bytes(&file_name, contents).map_err(|e| e.to_string())?;
    ssz::decode(args.preset, args.fork, &args.type_name, &bytes).map_err(|e| e.to_string())
}
