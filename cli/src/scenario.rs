//! `xinbao scenario run`: the rulebook offline (DOMAIN.md R10).
//!
//! A scenario is a programme's life written down as dated, signed steps. Running one on a
//! fresh in-memory ledger shows, to the fen, how every loss would be split, when the fund
//! pays, when a claim is late and which steps the rules refuse, before anyone signs the
//! real programme. With an `expect` block the run is also a check: any difference is listed
//! by path and the command exits 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::files;

/// A scenario file is at most this long.
const SCENARIO_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Run a scenario file on a fresh ledger and print its settlement (R10).
    ///
    /// Exit status: 0 when it ran and matched its `expect` block (or has none), 1 when the
    /// result differs from `expect`, 2 when the file is not a scenario.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (JSON: orgs, steps, optional expect).
    pub file: PathBuf,
    /// Print exactly the R10 result document instead of the readable summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: ScenarioCommand) -> anyhow::Result<ExitCode> {
    match command {
        ScenarioCommand::Run(args) => run_offline(&args),
    }
}

fn run_offline(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let bytes = files::read_bounded(&args.file, SCENARIO_FILE_BYTES_MAX)?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("{}: not UTF-8 text", args.file.display()))?;
    let outcome = contracts::scenario::run(&text)
        .with_context(|| format!("{}: cannot run", args.file.display()))?;
    if args.json {
        // Standard output stays exactly the R10 document; differences go to standard error.
        println!("{}", serde_json::to_string_pretty(&outcome.result)?);
        for mismatch in &outcome.mismatches {
            eprintln!("expect: {mismatch}");
        }
    } else {
        // The summary lists the differences itself.
        print!("{}", contracts::scenario::summary(&outcome));
    }
    Ok(exit_status(&outcome))
}

/// 1 when the result differs from the scenario's `expect` block, else 0.
pub fn exit_status(outcome: &contracts::scenario::Outcome) -> ExitCode {
    if outcome.mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
