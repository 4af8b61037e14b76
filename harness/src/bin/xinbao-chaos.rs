//! `xinbao-chaos`: validators in network namespaces under load, killed, paused,
//! partitioned, losing packets, delayed and with skewed clocks, while no fork, no lost
//! committed transaction and recovery after each heal are checked (needs root). See
//! `harness::chaos`.

use std::process::ExitCode;

use clap::Parser;

/// Faults across a real network, with the safety invariants checked throughout.
#[derive(Debug, Parser)]
#[command(name = "xinbao-chaos", version)]
struct Cli {
    #[command(flatten)]
    args: harness::chaos::ChaosArgs,
}

fn main() -> ExitCode {
    match harness::chaos::run(Cli::parse().args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
