//! `xinbao demo`: the consortium at work on this machine, from nothing.
//!
//! For each worked example (the five files of `network-configs/scenarios/`, built into
//! the command, or the files given with `--scenario`): a fresh devnet of the example's
//! organisations, founded at the example's protocol version (at least four validators,
//! each its own `xinbao-node` process, with a devnet clock) in a temporary directory; the example replayed through it step by step;
//! its settlement as the network holds it; proof that every validator holds the same
//! block and state root at the same height; and the check that the network's result
//! document is the offline runner's, byte for byte as JSON. The demo ends by printing
//! the address of each example's console (the web page every node serves); the nodes are
//! stopped then, or with `--keep` left running, directories and all, until Ctrl-C, so
//! that the consoles can be opened. Exit status 0 when everything agreed, 1 when
//! something differed, 2 when the demo could not run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Args;
use ledger::crypto::Suite;

use crate::devnet::{self, Network};
use crate::node_client::NodeClient;

/// The worked examples, as committed: three programmes under the rulebook's version 1,
/// then the single-obligor limit of version 2 and the attestations of version 3, each on a
/// devnet founded at its version.
const WORKED_EXAMPLES: [(&str, &str); 5] = [
    (
        "a-ningbo-style",
        include_str!("../../network-configs/scenarios/a-ningbo-style.json"),
    ),
    (
        "b-yunnan-style",
        include_str!("../../network-configs/scenarios/b-yunnan-style.json"),
    ),
    (
        "c-guangzhou-style",
        include_str!("../../network-configs/scenarios/c-guangzhou-style.json"),
    ),
    (
        "d-obligor-limit-v2",
        include_str!("../../network-configs/scenarios/d-obligor-limit-v2.json"),
    ),
    (
        "e-attestations-v3",
        include_str!("../../network-configs/scenarios/e-attestations-v3.json"),
    ),
];

/// How long a devnet may take to start committing.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the validators may take to reach the same height.
const AGREE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Replay these scenario files instead of the five worked examples.
    #[arg(long, value_name = "FILE")]
    scenario: Vec<PathBuf>,
    /// The `xinbao-node` program; default: beside this `xinbao`, else on the PATH.
    #[arg(long, value_name = "PATH")]
    node_bin: Option<PathBuf>,
    /// Keep every example's devnet running after the demo, with its directory (keys,
    /// genesis, logs), until Ctrl-C, so that its console can be opened in a browser.
    #[arg(long)]
    keep: bool,
    /// The crypto suite the examples' devnets are founded with: ed25519-blake3, or sm2-sm3
    /// (SM2 signatures, SM3 hashes). The rulebook's figures do not depend on it.
    #[arg(long, value_name = "SUITE", default_value_t = Suite::default())]
    crypto_suite: Suite,
    /// Serve the devnets' APIs over HTTPS with client certificates (as `devnet init
    /// --tls`); the demo replays each example with the staff's certificates.
    #[arg(long)]
    tls: bool,
}

/// A temporary directory removed when dropped (unless kept).
pub struct TempDir {
    pub path: PathBuf,
    pub keep: bool,
}

impl TempDir {
    pub fn new(prefix: &str) -> anyhow::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("{}", path.display()))?;
        Ok(TempDir { path, keep: false })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What one example gave.
struct Verdict {
    name: String,
    steps: u64,
    rejected: usize,
    validators: usize,
    height: u64,
    same_everywhere: bool,
    equals_offline: bool,
    expect_met: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let node_bin = devnet::node_binary(args.node_bin.as_deref())?;
    // Ctrl-C ends this command at once; the kernel then stops the nodes (see
    // `devnet::detach_and_bind`).
    let examples = examples(&args)?;
    let mut root = TempDir::new("xinbao-demo")?;
    root.keep = args.keep;
    if args.keep {
        devnet::catch_stop_signals();
    }
    let started = Instant::now();
    let mut verdicts = Vec::new();
    let mut running = Vec::new();
    for (index, (name, text)) in examples.iter().enumerate() {
        eprintln!("\n== [{}/{}] {name} ==", index + 1, examples.len());
        match one_example(&root.path, &node_bin, &args, name, text) {
            Ok((verdict, network)) => {
                verdicts.push(verdict);
                running.push((name.clone(), network));
                if !args.keep {
                    // Each example's nodes stop once it is checked; the consoles' addresses
                    // are printed at the end all the same.
                    for (_, network) in running.iter_mut() {
                        network.stop();
                    }
                }
            }
            Err(error) => {
                // Keep the keys, genesis and node logs for a look at what went wrong.
                root.keep = true;
                eprintln!("the devnet directories are kept in {}", root.path.display());
                return Err(error.context(name.to_string()));
            }
        }
    }
    let all_good = print_summary(&verdicts, started.elapsed());
    print_consoles_and_wait(&mut running, &root.path, args.keep);
    Ok(if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The examples to run, (name, text): `--scenario` files, else the worked examples.
fn examples(args: &DemoArgs) -> anyhow::Result<Vec<(String, String)>> {
    if args.scenario.is_empty() {
        return Ok(WORKED_EXAMPLES
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect());
    }
    args.scenario
        .iter()
        .map(|path| {
            let bytes = crate::files::read_bounded(path, 16 * 1024 * 1024)?;
            let name = path
                .file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
            Ok((name, String::from_utf8(bytes).context("not UTF-8")?))
        })
        .collect()
}

/// Prints the table of verdicts; whether every example passed.
fn print_summary(verdicts: &[Verdict], elapsed: Duration) -> bool {
    println!("\nSummary ({} s)", elapsed.as_secs());
    println!(
        "  {:<20} {:>5} {:>8} {:>10} {:>7} {:>15} {:>16} {:>10}",
        "scenario",
        "steps",
        "rejected",
        "validators",
        "height",
        "same root",
        "equals offline",
        "expect"
    );
    let yes = |b: bool| if b { "yes" } else { "NO" };
    for v in verdicts {
        println!(
            "  {:<20} {:>5} {:>8} {:>10} {:>7} {:>15} {:>16} {:>10}",
            v.name,
            v.steps,
            v.rejected,
            v.validators,
            v.height,
            yes(v.same_everywhere),
            yes(v.equals_offline),
            if v.expect_met { "met" } else { "NOT MET" }
        );
    }
    let all_good = verdicts
        .iter()
        .all(|v| v.same_everywhere && v.equals_offline && v.expect_met);
    if all_good {
        println!(
            "every validator agreed, and the network's settlements are the rulebook's offline ones"
        );
    } else {
        println!("DIFFERENCES FOUND (see above)");
    }
    all_good
}

/// Prints each devnet's console address; with `keep`, leaves the devnets running until
/// Ctrl-C (their directories in `root`), reporting any validator that stops.
fn print_consoles_and_wait(running: &mut [(String, Network)], root: &Path, keep: bool) {
    println!("\nThe consoles (open in a browser):");
    for (name, network) in running.iter() {
        let url = network
            .manifest
            .nodes
            .first()
            .map_or("", |n| n.url.as_str());
        println!("  {name:<20} {}/console/", url.trim_end_matches('/'));
    }
    if keep {
        println!(
            "the devnets keep running, with their directories in {}; Ctrl-C stops them",
            root.display()
        );
        while !devnet::stop_requested() {
            for (name, network) in running.iter_mut() {
                if let Some((node, status)) = network.exited() {
                    eprintln!("warning: {name}: {node} stopped ({status})");
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!("stopping the validators …");
        for (_, network) in running.iter_mut() {
            network.stop();
        }
    } else {
        println!("(stopped; `xinbao demo --keep` keeps them running until Ctrl-C)");
    }
}

/// Runs one example on its own devnet, and hands the devnet back still running.
fn one_example(
    root: &Path,
    node_bin: &Path,
    args: &DemoArgs,
    name: &str,
    text: &str,
) -> anyhow::Result<(Verdict, Network)> {
    let (suite, tls) = (args.crypto_suite, args.tls);
    let dir = root.join(name);
    let scenario_path = root.join(format!("{name}.json"));
    std::fs::write(&scenario_path, text)?;
    let orgs = devnet::orgs_of_scenario(&scenario_path)?;
    let version = devnet::version_of_scenario(&scenario_path)?;
    let manifest = devnet::init(
        &dir,
        &orgs,
        &devnet::Founding {
            crypto_suite: suite,
            tls,
            ..devnet::Founding::new(version)
        },
    )?;
    eprintln!(
        "starting {} validators ({}) …",
        manifest.nodes.len(),
        manifest
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut network = Network::start(&dir, node_bin, true)?;
    network.wait_ready(READY_TIMEOUT)?;
    eprintln!("committing blocks; replaying {name} …");
    let node = manifest.client(0, "staff")?;
    let run = crate::replay::run(text, &dir, &node, &mut |note| {
        eprintln!("  {note}");
    })?;

    println!("\n{name}: the settlement as the network holds it");
    print!("{}", contracts::scenario::summary(&run.outcome));

    let (height, same_everywhere) = agreement(&network.clients()?)?;
    let offline = contracts::scenario::run(text)?;
    let equals_offline = offline.result == run.outcome.result;
    if equals_offline {
        println!("network result document == offline result document");
    } else {
        println!("network result document DIFFERS from the offline one:");
        let mut differences = Vec::new();
        contracts::scenario::compare("", &offline.result, &run.outcome.result, &mut differences);
        contracts::scenario::compare("", &run.outcome.result, &offline.result, &mut differences);
        for d in differences.iter().take(20) {
            println!("  {d}");
        }
    }
    let verdict = Verdict {
        name: name.to_string(),
        steps: run.outcome.steps,
        rejected: run.outcome.rejected.len(),
        validators: manifest.nodes.len(),
        height,
        same_everywhere,
        equals_offline,
        expect_met: run.outcome.mismatches.is_empty(),
    };
    Ok((verdict, network))
}

/// Waits until every validator has reached a common height, then compares the block id
/// and state root each reports for it. Prints one line per validator.
pub fn agreement(clients: &[NodeClient]) -> anyhow::Result<(u64, bool)> {
    let target = clients
        .iter()
        .map(|c| c.status().map(|s| s.height))
        .collect::<anyhow::Result<Vec<u64>>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    let deadline = Instant::now() + AGREE_TIMEOUT;
    for client in clients {
        while client.status()?.height < target {
            ensure!(
                Instant::now() < deadline,
                "{} did not reach height {target} within {} s",
                client.base(),
                AGREE_TIMEOUT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut seen: Vec<(String, String)> = Vec::with_capacity(clients.len());
    println!("\nblock {target} on every validator:");
    for client in clients {
        let block = client.block_view(target)?;
        let id = hex::encode(block.summary.block_id);
        let root = hex::encode(block.state_root);
        let height = client.status()?.height;
        println!(
            "  {:<24} now at height {height:>4}; block {target}: id {}…, state root {}…",
            client.base(),
            id.get(..16).unwrap_or(&id),
            root.get(..16).unwrap_or(&root)
        );
        seen.push((id, root));
    }
    let same =
        seen.windows(2).all(|w| w[0] == w[1]) && seen.first().is_some_and(|s| !s.0.is_empty());
    println!(
        "  {}",
        if same {
            "the same block and state root on every validator"
        } else {
            "VALIDATORS DIFFER"
        }
    );
    Ok((target, same))
}
