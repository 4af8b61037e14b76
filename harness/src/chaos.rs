//! `xinbao-chaos`: faults across a real network, with the safety invariants checked
//! throughout.
//!
//! Each validator (4 to 7) runs in a Linux network namespace of its own with its own
//! address, joined by veth pairs to a bridge that this run makes (root and iproute2 are
//! needed; every namespace, link and rule is removed at the end). Under a steady load the
//! run injects faults drawn from a seed and logged: `kill -9` and restart, SIGSTOP and
//! SIGCONT, a minority cut off, a split that leaves no side a quorum, random packet loss
//! (iptables `-m statistic` inside a namespace), every byte to and from a validator
//! delayed (a proxy of the run's own in each namespace, [`crate::delay`], since this
//! kernel has no `netem`) and a clock skewed by `faketime`. Each fault is healed after a
//! while.
//!
//! Checked throughout: no two nodes ever hold different blocks at a height (divergence);
//! every transaction a node reported committed stays committed, once, at that height, on
//! every node once the nodes have reached the last height seen (a lost acknowledged
//! transaction); after each heal every node reaches one
//! block and state root, and commits resume, within [`HEAL_BOUND`]. The longest time
//! without a new block anywhere is reported. Exit 0 when every invariant held, 1 when one
//! broke, 2 when the run could not be set up (not root, no `ip`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use ledger::action::StaffKey;
use ledger::crypto::SecretKey;
use ledger::tx::{SignedTx, TxBody, TxId};
use ledger::{Action, Id};
use serde_json::json;

use crate::delay::DelayProxy;
use crate::netns::Hosts;
use crate::rng::Rng;
use cli::devnet;
use cli::node_client::{NodeClient, NodeError, TxStatus};

/// How long after a heal every node must agree and commits resume.
const HEAL_BOUND: Duration = Duration::from_secs(60);
/// How long a request to a node may take before it counts as unanswered.
const REQUEST_TIME: Duration = Duration::from_millis(1500);

#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// How long faults are injected, in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// The seed of the faults (printed; the same seed gives the same faults in order).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Validators, each in its own namespace (4 to 7).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(4..=7))]
    pub validators: u64,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Where the devnet and the logs go (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The `xinbao-node` program; default: beside this program, else on the PATH.
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// The chain's crypto suite: ed25519-blake3, or sm2-sm3 (SM2 validators with their
    /// bound transport keys, SM2 transactions).
    #[arg(long, value_name = "SUITE", default_value_t = ledger::crypto::Suite::default())]
    pub crypto_suite: ledger::crypto::Suite,
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// libfaketime's shared library: `XINBAO_LIBFAKETIME`, else where Debian and others put it.
fn faketime_library() -> Option<PathBuf> {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
    ];
    std::env::var_os("XINBAO_LIBFAKETIME")
        .map(PathBuf::from)
        .into_iter()
        .chain(candidates.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// The validators' processes.
struct Nodes {
    dir: PathBuf,
    manifest: devnet::Manifest,
    node_bin: PathBuf,
    children: Vec<Option<Child>>,
    /// Validators started with their clock offset by this much (libfaketime).
    skew: Vec<Option<&'static str>>,
    /// libfaketime, when installed.
    faketime: Option<PathBuf>,
}

impl Nodes {
    fn start(&mut self, hosts: &Hosts, i: usize) -> anyhow::Result<()> {
        let config = self.dir.join(&self.manifest.nodes[i].config);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.with_file_name("node.log"))?;
        let mut command = hosts.command(i, &self.node_bin);
        if let (Some(offset), Some(library)) = (self.skew[i], &self.faketime) {
            // libfaketime preloaded into the node itself (not the `faketime` wrapper,
            // which forks): the process this run signals and kills is the node.
            command
                .env("LD_PRELOAD", library)
                .env("FAKETIME", offset)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        command
            .arg("--config")
            .arg(&config)
            .arg("--runtime-threads")
            .arg(devnet::runtime_threads(self.manifest.nodes.len()).to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.children[i] = Some(command.spawn().context("starting xinbao-node")?);
        Ok(())
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, i: usize, signal: libc::c_int) {
        if let Some(child) = &self.children[i] {
            // `ip netns exec` execs the node: the child is the node itself.
            devnet::signal(child.id(), signal);
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.signal(i, libc::SIGCONT);
            self.kill(i);
        }
    }
}

/// What the checker has seen.
#[derive(Default)]
struct Observed {
    /// The block id at each height, from the first node that had it.
    blocks: BTreeMap<u64, String>,
    /// How far each node's blocks have been compared.
    checked: Vec<u64>,
    divergences: Vec<String>,
    /// Transactions acknowledged committed: id → height.
    committed: BTreeMap<String, u64>,
    lost: Vec<String>,
    /// Highest height seen anywhere, and when it was first seen.
    top: u64,
    top_at: Option<Instant>,
    longest_stall: Duration,
}

struct Checker {
    /// One client per node, each request bounded by [`REQUEST_TIME`].
    nodes: Vec<NodeClient>,
    seen: Mutex<Observed>,
}

impl Checker {
    fn height(&self, i: usize) -> Option<u64> {
        self.nodes[i].status().ok().map(|s| s.height)
    }

    /// Compares node `i`'s new blocks with what the others hold at those heights.
    fn compare(&self, i: usize, height: u64) {
        let from = self.seen.lock().unwrap().checked[i] + 1;
        for h in from..=height {
            let Ok(block) = self.nodes[i].block_view(h) else {
                return;
            };
            let id = hex::encode(block.summary.block_id);
            let mut seen = self.seen.lock().unwrap();
            match seen.blocks.get(&h) {
                Some(known) if *known != id => {
                    let what = format!("height {h}: node {i} holds {id}, another {known}");
                    seen.divergences.push(what);
                }
                Some(_) => {}
                None => {
                    seen.blocks.insert(h, id);
                }
            }
            seen.checked[i] = h;
        }
    }

    /// One look at every node: heights, blocks, stalls.
    fn look(&self) -> Vec<Option<u64>> {
        let heights: Vec<Option<u64>> = (0..self.nodes.len()).map(|i| self.height(i)).collect();
        for (i, h) in heights.iter().enumerate() {
            if let Some(h) = h {
                self.compare(i, *h);
            }
        }
        let top = heights.iter().flatten().copied().max().unwrap_or(0);
        let mut seen = self.seen.lock().unwrap();
        let now = Instant::now();
        if top > seen.top {
            if let Some(at) = seen.top_at {
                seen.longest_stall = seen.longest_stall.max(now - at);
            }
            seen.top = top;
            seen.top_at = Some(now);
        } else if let Some(at) = seen.top_at {
            seen.longest_stall = seen.longest_stall.max(now - at);
        }
        heights
    }

    /// Records `id` as committed at `height`, or checks that it still is.
    fn acknowledged(&self, id: &str, height: u64) {
        let mut seen = self.seen.lock().unwrap();
        match seen.committed.get(id) {
            Some(&h) if h != height => {
                let what = format!("{id}: committed at {h}, later reported at {height}");
                seen.lost.push(what);
            }
            Some(_) => {}
            None => {
                seen.committed.insert(id.to_string(), height);
            }
        }
    }
}

/// The load: staff-key registrations by the first organisation, in small batches to a
/// node in turn; a transaction counts once a node reports it committed.
fn load(
    checker: Arc<Checker>,
    chain_id: Id,
    admin: SecretKey,
    org: Id,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut nonce = 0u64;
        let mut pending: Vec<TxId> = Vec::new();
        let mut submitted = 0;
        let mut turn = 0;
        let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            turn += 1;
            let node = &checker.nodes[turn % checker.nodes.len()];
            // Within the expiry window of any node, however far behind.
            let expires_at_height = checker.seen.lock().unwrap().top + 500;
            for _ in 0..5 {
                nonce += 1;
                let mut tx = SignedTx::unsigned(TxBody {
                    chain_id: chain_id.clone(),
                    nonce,
                    expires_at_height,
                    action: Action::RegisterStaffKey(StaffKey {
                        org: org.clone(),
                        public_key: SecretKey::generate_for(admin.algorithm()).public_key(),
                    }),
                });
                if tx.sign(&admin).is_err() {
                    continue;
                }
                match node.submit_binary(&tx) {
                    Ok(id) => {
                        submitted += 1;
                        pending.push(id);
                    }
                    // A refusal the node answered (not a node that did not answer).
                    Err(e) if e.downcast_ref::<NodeError>().is_some() => {
                        *refusals.entry(format!("{e:#}")).or_insert(0u64) += 1;
                    }
                    Err(_) => {}
                }
            }
            // Which of the pending ones a node now reports committed.
            pending.retain(|id| match node.tx_status(id) {
                Ok(TxStatus::Committed { height, .. }) => {
                    checker.acknowledged(&id.to_hex(), height);
                    false
                }
                _ => true,
            });
            pending.truncate(5_000);
            std::thread::sleep(Duration::from_millis(200));
        }
        for text in refusals.keys().take(3) {
            eprintln!("chaos load: a node refused a transaction: {text}");
        }
        submitted
    })
}

/// A fault and how to heal it.
#[derive(Debug, Clone)]
enum Fault {
    Kill(usize),
    Pause(usize),
    Isolate(usize),
    Split(Vec<usize>),
    Loss(usize, u32),
    /// Every byte to and from the validator held this many milliseconds.
    Delay(usize, u64),
    Skew(usize, &'static str),
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::Kill(_) => "kill",
            Fault::Pause(_) => "pause",
            Fault::Isolate(_) => "partition-minority",
            Fault::Split(_) => "partition-no-quorum",
            Fault::Loss(..) => "packet-loss",
            Fault::Delay(..) => "delay",
            Fault::Skew(..) => "clock-skew",
        }
    }
}

fn draw(rng: &mut Rng, n: usize, kinds: &[&str]) -> Fault {
    let victim = rng.below(n as u64) as usize;
    match kinds[rng.below(kinds.len() as u64) as usize] {
        "kill" => Fault::Kill(victim),
        "pause" => Fault::Pause(victim),
        "partition-minority" => Fault::Isolate(victim),
        "partition-no-quorum" => {
            // Half the validators on one side: neither side holds more than two thirds.
            let mut side: Vec<usize> = (0..n).collect();
            for i in (1..side.len()).rev() {
                side.swap(i, rng.below(i as u64 + 1) as usize);
            }
            side.truncate(n / 2);
            side.sort();
            Fault::Split(side)
        }
        "packet-loss" => Fault::Loss(victim, 20 + rng.below(30) as u32),
        "delay" => Fault::Delay(victim, 100 + rng.below(700)),
        _ => Fault::Skew(victim, ["+2s", "-2s", "+1s"][rng.below(3) as usize]),
    }
}

fn inject(
    fault: &Fault,
    hosts: &Hosts,
    nodes: &mut Nodes,
    proxies: &[DelayProxy],
) -> anyhow::Result<()> {
    let bridge = hosts.bridge_ip();
    let cut = |i: usize, peer: &str| -> anyhow::Result<()> {
        hosts
            .iptables(i, &["-A", "INPUT", "-s", peer, "-j", "DROP"])
            .map_err(anyhow::Error::msg)?;
        hosts
            .iptables(i, &["-A", "OUTPUT", "-d", peer, "-j", "DROP"])
            .map_err(anyhow::Error::msg)
    };
    match fault {
        Fault::Kill(i) => nodes.kill(*i),
        Fault::Pause(i) => nodes.signal(*i, libc::SIGSTOP),
        Fault::Isolate(i) => {
            for j in 0..nodes.children.len() {
                if j != *i {
                    cut(*i, &hosts.hosts[j].ip)?;
                }
            }
        }
        Fault::Split(side) => {
            for &i in side {
                for j in 0..nodes.children.len() {
                    if !side.contains(&j) {
                        cut(i, &hosts.hosts[j].ip)?;
                        cut(j, &hosts.hosts[i].ip)?;
                    }
                }
            }
        }
        Fault::Loss(i, pct) => {
            let p = format!("0.{pct:02}");
            for chain in ["INPUT", "OUTPUT"] {
                hosts
                    .iptables(
                        *i,
                        &[
                            "-A",
                            chain,
                            "!",
                            if chain == "INPUT" { "-s" } else { "-d" },
                            &bridge,
                            "-m",
                            "statistic",
                            "--mode",
                            "random",
                            "--probability",
                            &p,
                            "-j",
                            "DROP",
                        ],
                    )
                    .map_err(anyhow::Error::msg)?;
            }
        }
        Fault::Delay(i, ms) => proxies[*i].set(Duration::from_millis(*ms)),
        Fault::Skew(i, offset) => {
            nodes.kill(*i);
            nodes.skew[*i] = Some(offset);
            nodes.start(hosts, *i)?;
        }
    }
    Ok(())
}

fn heal(
    fault: &Fault,
    hosts: &Hosts,
    nodes: &mut Nodes,
    proxies: &[DelayProxy],
) -> anyhow::Result<()> {
    match fault {
        Fault::Kill(i) => nodes.start(hosts, *i)?,
        Fault::Pause(i) => nodes.signal(*i, libc::SIGCONT),
        Fault::Isolate(_) | Fault::Split(_) | Fault::Loss(..) => {
            for i in 0..nodes.children.len() {
                hosts.heal(i);
            }
        }
        Fault::Delay(i, _) => proxies[*i].set(Duration::ZERO),
        Fault::Skew(i, _) => {
            nodes.kill(*i);
            nodes.skew[*i] = None;
            nodes.start(hosts, *i)?;
        }
    }
    Ok(())
}

/// Waits until every node answers at one height with one block and a later block is
/// committed; how long that took.
fn converge(checker: &Checker, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut agreed_at: Option<u64> = None;
    while started.elapsed() < within {
        let heights = checker.look();
        if heights.iter().all(Option::is_some) {
            let low = heights.iter().flatten().min().copied().unwrap_or(0);
            let high = heights.iter().flatten().max().copied().unwrap_or(0);
            // Sampled one after another while blocks come every few hundred
            // milliseconds, nodes in step may show heights one apart.
            match agreed_at {
                None if high - low <= 1 => agreed_at = Some(low),
                Some(h) if low > h => return Some(started.elapsed()),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    None
}

pub fn run(args: ChaosArgs) -> anyhow::Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    let count = args.validators as usize;
    if !has("ip") {
        eprintln!("xinbao-chaos needs iproute2 (`ip`): apt-get install iproute2");
        return Ok(ExitCode::from(2));
    }
    let pid = std::process::id();
    let (tag, subnet) = (
        format!("xc{}", pid % 100_000),
        format!("10.214.{}", pid % 250),
    );
    let hosts = match Hosts::create(&tag, &subnet, count) {
        Ok(hosts) => hosts,
        Err(e) => {
            eprintln!(
                "xinbao-chaos puts each validator in a network namespace, which needs root: {e:#}"
            );
            return Ok(ExitCode::from(2));
        }
    };
    let mut kinds = vec!["kill", "pause"];
    let mut skipped: Vec<String> = Vec::new();
    if Command::new("ip")
        .args([
            "netns",
            "exec",
            &hosts.hosts[0].netns,
            "iptables",
            "-L",
            "-n",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        kinds.extend([
            "partition-minority",
            "partition-no-quorum",
            "packet-loss",
            "delay",
        ]);
    } else {
        skipped.push("partitions, packet loss and delay: iptables is not installed".into());
    }
    let faketime = faketime_library();
    if faketime.is_some() {
        kinds.push("clock-skew");
    } else {
        skipped.push("clock skew: libfaketime is not installed (apt-get install faketime)".into());
    }

    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = std::env::temp_dir().join(format!("xinbao-chaos-{}-{seed}", std::process::id()));
            temp.clone()
        }
    };
    let addresses: Vec<String> = hosts.hosts.iter().map(|h| h.ip.clone()).collect();
    let mut params = devnet::devnet_params();
    params.heartbeat_ms = 1_000;
    let manifest = devnet::init(
        &dir,
        &devnet::default_orgs(),
        &devnet::Founding {
            validators: Some(count),
            params,
            hosts: Some(addresses),
            crypto_suite: args.crypto_suite,
            client_limits: Some(cli::tls::ClientLimits::HARNESS),
            ..devnet::Founding::new(contracts::upgrade::NEWEST)
        },
    )?;
    let node_bin = devnet::node_binary(args.node_bin.as_deref())?;
    let genesis = manifest.genesis(&dir)?;
    let org = manifest.orgs[0].clone();
    let admin = manifest
        .admin_key(&dir, &org.id)?
        .context("the devnet's first organisation has its admin key")?;
    let mut nodes = Nodes {
        dir: dir.clone(),
        node_bin,
        children: (0..count).map(|_| None).collect(),
        skew: vec![None; count],
        faketime,
        manifest,
    };
    // The delay proxies first, so that every connection crosses them. Without the nat
    // table the run goes on without delay, its redirections removed.
    let mut proxies = Vec::new();
    if kinds.contains(&"delay") {
        match (0..count)
            .map(|i| DelayProxy::start(&hosts, i))
            .collect::<anyhow::Result<Vec<_>>>()
        {
            Ok(started) => proxies = started,
            Err(e) => {
                for i in 0..count {
                    let _ = hosts.iptables(i, &["-t", "nat", "-F"]);
                }
                kinds.retain(|k| *k != "delay");
                skipped.push(format!("delay: {e:#}"));
            }
        }
    }
    for i in 0..count {
        nodes.start(&hosts, i)?;
    }
    let checker = Arc::new(Checker {
        nodes: (0..count)
            .map(|i| nodes.manifest.client_with_timeout(i, "staff", REQUEST_TIME))
            .collect::<anyhow::Result<_>>()?,
        seen: Mutex::new(Observed {
            checked: vec![0; count],
            ..Observed::default()
        }),
    });
    if !args.json {
        println!(
            "chaos: {count} validators in namespaces on {}.0/24, seed {seed} (replay with --seed {seed}), {} s",
            hosts.subnet, args.seconds
        );
        println!("faults: {}", kinds.join(", "));
        for s in &skipped {
            println!("not injected: {s}");
        }
    }
    if converge(&checker, Duration::from_secs(120)).is_none() {
        bail!(
            "the consortium did not start committing within 120 s (logs under {})",
            dir.display()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(
        checker.clone(),
        genesis.chain_id.clone(),
        admin,
        Id::new(&org.id).context("an organisation id")?,
        stop.clone(),
    );

    let mut rng = Rng::new(seed);
    let mut faults: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut log = Vec::new();
    let mut slowest_heal = Duration::ZERO;
    let mut unhealed = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        let fault = draw(&mut rng, count, &kinds);
        let hold = Duration::from_millis(2_000 + rng.below(4_000));
        let at = started.elapsed().as_secs_f64();
        inject(&fault, &hosts, &mut nodes, &proxies)?;
        let until = Instant::now() + hold;
        while Instant::now() < until {
            checker.look();
            std::thread::sleep(Duration::from_millis(250));
        }
        heal(&fault, &hosts, &mut nodes, &proxies)?;
        let healed = converge(&checker, HEAL_BOUND);
        *faults.entry(fault.kind()).or_default() += 1;
        let line = format!(
            "{at:7.1}s {:<20} {:?} for {:.1}s: {}",
            fault.kind(),
            fault,
            hold.as_secs_f64(),
            match healed {
                Some(d) => format!("all agree and commit again after {:.1}s", d.as_secs_f64()),
                None => format!("NOT recovered within {} s", HEAL_BOUND.as_secs()),
            }
        );
        if !args.json {
            println!("{line}");
        }
        log.push(line);
        match healed {
            Some(d) => slowest_heal = slowest_heal.max(d),
            None => unhealed.push(format!("{fault:?}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let submitted = loader.join().unwrap_or(0);

    // The final check: every committed transaction, on every node, where it was, once
    // every node has reached the last height a transaction was seen committed at (the
    // load ran until now, so a node just healed may still be a block or two behind).
    let committed: Vec<(String, u64)> = {
        let seen = checker.seen.lock().unwrap();
        seen.committed
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    let last = committed.iter().map(|(_, h)| *h).max().unwrap_or(0);
    let settling = Instant::now();
    let mut final_heights = checker.look();
    while settling.elapsed() < HEAL_BOUND
        && !final_heights.iter().all(|h| h.is_some_and(|h| h >= last))
    {
        std::thread::sleep(Duration::from_millis(250));
        final_heights = checker.look();
    }
    for (id, height) in &committed {
        let tx_id = TxId::from_hex(id).expect("an id the load generator made");
        for (i, node) in checker.nodes.iter().enumerate() {
            let answer = node.tx_status(&tx_id);
            if !matches!(answer, Ok(TxStatus::Committed { height: at, .. }) if at == *height) {
                checker.seen.lock().unwrap().lost.push(format!(
                    "{id}: committed at {height}, node {i} says {answer:?}"
                ));
            }
        }
    }
    let seen = checker.seen.lock().unwrap();
    let distinct: BTreeSet<&String> = seen.blocks.values().collect();
    let report = json!({
        "seed": seed,
        "validators": count,
        "seconds": args.seconds,
        "faults": faults,
        "faults_total": faults.values().sum::<u64>(),
        "not_injected": skipped,
        "submitted": submitted,
        "committed": committed.len(),
        "height": final_heights.iter().flatten().max(),
        "blocks_checked": distinct.len(),
        "divergences": seen.divergences.len(),
        "divergence_details": seen.divergences,
        "lost_acknowledged": seen.lost.len(),
        "lost_details": seen.lost,
        "longest_stall_ms": seen.longest_stall.as_millis() as u64,
        "slowest_recovery_ms": slowest_heal.as_millis() as u64,
        "recovery_bound_ms": HEAL_BOUND.as_millis() as u64,
        "unrecovered": unhealed,
        "log": log,
        "dir": dir.display().to_string(),
    });
    let ok = seen.divergences.is_empty() && seen.lost.is_empty() && unhealed.is_empty();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "\n{} faults; {} transactions submitted, {} acknowledged committed; height {}",
            report["faults_total"],
            submitted,
            committed.len(),
            report["height"]
        );
        println!(
            "divergences {}, acknowledged transactions lost {}, longest stall {} ms, slowest recovery {} ms (bound {} ms)",
            seen.divergences.len(),
            seen.lost.len(),
            report["longest_stall_ms"],
            report["slowest_recovery_ms"],
            report["recovery_bound_ms"]
        );
        for d in seen.divergences.iter().chain(&seen.lost).chain(&unhealed) {
            println!("  BROKEN: {d}");
        }
        println!(
            "{}",
            if ok {
                "every invariant held"
            } else {
                "AN INVARIANT BROKE"
            }
        );
    }
    drop(seen);
    drop(nodes);
    drop(hosts);
    if ok && args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
