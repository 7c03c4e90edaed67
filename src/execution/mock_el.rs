//! `ember mock-el`: a mock execution client (work in progress).

use std::net::IpAddr;
use std::path::PathBuf;

/// `ember mock-el` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct MockElArgs {
    /// The shared JWT secret (hex, 32 bytes); created with a fresh secret if the file does not
    /// exist.
    #[arg(long, value_name = "FILE")]
    pub jwt_secret: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
    /// 0 picks a free port (printed on stdout).
    #[arg(long, default_value_t = 8551)]
    pub port: u16,
    /// Where the known block headers are kept, so a restarted mock EL goes on building on the
    /// node's head. Without it the chain lives in memory only.
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Timestamp of the genesis execution block (the devnet's genesis time).
    #[arg(long)]
    pub genesis_time: Option<u64>,
}

/// Runs the mock EL until the process is killed.
pub fn run(_args: MockElArgs) -> Result<(), String> {
    todo!()
}
