//! `xinbao scenario run`: the rulebook offline (DOMAIN.md R10).
//!
//! A scenario is a programme's life written down as dated, signed steps. Running one on a
//! fresh in-memory ledger shows, to the fen, how every loss would be split, when the fund
//! pays, when a claim is late and which steps the rules refuse, before anyone signs the
//! real programme. With an `expect` block the run is also a check: any difference is listed
//! by path and the command exits 1.
//!
//! With `--node URL` (and `--devnet-dir D`, by default the devnet directory that
//! `xinbao devnet init` makes) the same file is replayed through a running devnet
//! instead (see `replay`): the steps are signed with the devnet's admin keys, dated by its
//! devnet clock and committed by its validators, and the document is built from the
//! network's state. It must equal the offline one.

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
    /// Replay through this node of a running devnet instead of offline (the devnet runs
    /// with --devnet-clock and has the scenario's orgs; its directory is --devnet-dir).
    #[arg(long, value_name = "URL")]
    pub node: Option<String>,
    /// The devnet directory (from `xinbao devnet init --orgs-from FILE`): the admin keys
    /// that sign each step and the validators whose clocks date it. Without --node, the
    /// steps go to its first validator. With --node and no --devnet-dir:
    /// $XINBAO_DEVNET_DIR, else `devnet`.
    #[arg(long, value_name = "DIR")]
    pub devnet_dir: Option<std::path::PathBuf>,
    /// For a node that is not one of the devnet's own (whose certificates are found in
    /// its directory).
    #[command(flatten)]
    pub tls: crate::tls::ClientTls,
}

pub fn run(command: ScenarioCommand) -> anyhow::Result<ExitCode> {
    match command {
        ScenarioCommand::Run(args) => match (&args.devnet_dir, &args.node) {
            (Some(dir), _) => run_on_network(&args, dir),
            (None, Some(url)) => {
                let dir = crate::devnet::default_dir();
                anyhow::ensure!(
                    dir.join("devnet.json").is_file(),
                    "replaying through {url} needs the devnet's keys: {} is not a devnet \
                     directory; name one with --devnet-dir DIR (what `xinbao devnet init` made)",
                    dir.display()
                );
                run_on_network(&args, &dir)
            }
            (None, None) => run_offline(&args),
        },
    }
}

fn read_scenario(args: &RunArgs) -> anyhow::Result<String> {
    let bytes = files::read_bounded(&args.file, SCENARIO_FILE_BYTES_MAX)?;
    String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8 text", args.file.display()))
}

fn run_on_network(args: &RunArgs, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let text = read_scenario(args)?;
    let manifest = crate::devnet::Manifest::load(dir)?;
    anyhow::ensure!(!manifest.nodes.is_empty(), "the devnet has no validators");
    // Through the node named, as its organisation's staff on a TLS devnet; else the first.
    let (url, node) = match &args.node {
        Some(url) if manifest.index_of(url).is_none() => (
            url.clone(),
            crate::node_client::NodeClient::connect(url, &args.tls)?,
        ),
        named => {
            let i = named
                .as_deref()
                .and_then(|url| manifest.index_of(url))
                .unwrap_or(0);
            (manifest.nodes[i].url.clone(), manifest.client(i, "staff")?)
        }
    };
    let run = crate::replay::run(&text, dir, &node, &mut |note| eprintln!("{note}"))
        .with_context(|| format!("{}: replaying through {url}", args.file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run.outcome.result)?);
        for mismatch in &run.outcome.mismatches {
            eprintln!("expect: {mismatch}");
        }
    } else {
        println!(
            "Network {url}: height {}, state root {}",
            run.height, run.state_root
        );
        print!("{}", contracts::scenario::summary(&run.outcome));
    }
    Ok(exit_status(&run.outcome))
}

fn run_offline(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let text = read_scenario(args)?;
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
