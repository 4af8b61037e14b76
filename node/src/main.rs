//! `xinbao-node --config FILE [--devnet-clock] [--runtime-threads N]
//! [--max-protocol-version N] [--rebuild]`: a validator of a xinbao consortium.
//!
//! Exit codes: 0 when interrupted, 3 when the protocol version in force at the next height
//! is one this program does not run (R12.5: install a program that does, and start it
//! again), 1 for every other reason to stop.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "xinbao-node",
    about = "A validator of a xinbao consortium ledger"
)]
struct Args {
    /// The node's configuration file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Take block times from a clock set by `POST /v1/devnet/clock` (development chains
    /// only; a production node never runs with it).
    #[arg(long)]
    devnet_clock: bool,
    /// Worker threads of the async runtime (consensus, the HTTP API, the gossip);
    /// default: one per core. Nodes that share a machine, as a devnet's do, spend less
    /// on switching between threads with their share of its cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    runtime_threads: Option<u16>,
    /// Run protocol versions up to N only (default: the newest this program supports; it
    /// can only be lowered). The node stops, with exit code 3, where a later version takes
    /// effect: how an operator rehearses an upgrade, and how tests start a node that has
    /// not been upgraded.
    #[arg(long, value_name = "N")]
    max_protocol_version: Option<u32>,
    /// Rebuild a damaged data directory from the peers: move its store and consensus WAL
    /// aside (to `DATA_DIR/damaged-<unix seconds>/`), start from an empty one and sync
    /// every block from the other validators, checking each. For a node that refuses to
    /// start because its database is corrupted.
    #[arg(long)]
    rebuild: bool,
}

/// The exit code of a node that stops because the protocol version in force is one it does
/// not run (R12.5).
const EXIT_UNSUPPORTED_VERSION: u8 = 3;

/// mimalloc: execution, intake and the store allocate and free small records at a high
/// rate, which it serves faster than the platform's allocator. It is built without
/// transparent huge pages (`no_thp`): where the kernel grants them on request, a 2 MiB
/// page is resident as soon as one byte of it is touched, and under load a node's resident
/// memory ran about 110 MiB above the same node's without them, for no gain in speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = args.runtime_threads {
        builder.worker_threads(threads.into());
    }
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("xinbao-node: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(node::run::run(node::run::Options {
        config: args.config,
        devnet_clock: args.devnet_clock,
        protocol_version_max: args.max_protocol_version,
        rebuild: args.rebuild,
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let unsupported = e.unsupported_version().is_some();
            // The error and its causes, each after a colon.
            let e = anyhow::Error::from(e);
            eprintln!("xinbao-node: {e:#}");
            if unsupported {
                ExitCode::from(EXIT_UNSUPPORTED_VERSION)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
