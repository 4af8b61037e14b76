//! `xinbao bench`: sustained throughput and latency of a 4-validator devnet on this
//! machine, next to the machine's own limits measured in the same run.
//!
//! It starts a devnet (a bank, an insurer, a government, a regulator; a devnet clock held
//! at one date; blocks of up to 20,000 transactions every 500 ms), sets up a programme, a
//! fund and `--loans` loans (200 unless told; 100,000 builds a ledger large enough to
//! time the API and the console on), then offers load **open loop**: `--rate` transactions a second for
//! `--seconds`, whether or not the network keeps up, in batches (`POST /v1/txs`) spread
//! over all four validators. The mix is what a programme's members submit: policies
//! issued (the insurer), repayments (the bank), enterprises flagged (the bank), and rate
//! filings signed by both the insurer and the regulator. Every transaction of the load is
//! signed before the clock starts, on every core (the members' staff sign on machines of
//! their own, not on the validators'), each with an expiry height that stays inside the
//! window for when it will be offered; the time that took is reported, and during the
//! load this process only posts and watches.
//!
//! A watcher reads every new block in its binary form (`GET /v1/chain/{h}`) and notes when
//! each transaction is first committed, and whether any is committed twice. It prints
//! figures only: committed transactions per second over the load, commit latency (p50,
//! p99, max: from submission to being seen committed), each node's CPU share and
//! resident memory at the start and the end of the load, how the whole machine's cores
//! spent the load (busy, idle, stolen by the hypervisor), blocks and bytes per
//! transaction on disk, and, measured once the nodes have stopped, how many signatures
//! one core verifies per second alone and in batches, with the ratio of the committed
//! rate to each, and how many SM2 signatures (the `sm2-sm3` suite's) one core verifies. `--audit` exports the chain while the nodes run and, once they have stopped, times
//! `audit verify` of it: transactions and signatures a second, the latter as a multiple of
//! the suite's one-core verification rate. `--json`
//! prints one object. Nothing here passes or fails on speed.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Args;
use ledger::crypto::{verify_batch, Algorithm, Check, PublicKey, SecretKey, Signature, Suite};
use ledger::export::ChainEntry;
use ledger::genesis::Params;
use ledger::tx::{SignedTx, TxBody, TxId};
use ledger::{Action, Date, Id};
use serde_json::{json, Value};

use crate::chain::NodeChain;
use crate::demo::TempDir;
use crate::devnet::{self, Network};
use crate::node_client::NodeClient;
use crate::tls::ClientTls;

mod probe;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Loans set up for the repayments to pay into.
/// Loans set up before the load unless `--loans` says otherwise.
const LOANS: usize = 200;
/// Setup transactions in flight at once (well inside the mempool).
const SETUP_WAVE: usize = 4_000;
/// The benchmark devnet's blocks: up to this many transactions by default.
const BLOCK_TXS_MAX: u32 = 20_000;
/// The bench's shortest height: a fifth of a second, so that a transaction waits at most
/// about 0.4 s for its block on an unloaded network. Under saturation a height takes
/// longer than this anyway; a shorter floor lets the next height start as soon as the
/// last is decided (`docs/perf/2026-12-07-constants.md` has the runs behind it).
const BLOCK_MS: u64 = 200;
/// How long the verification rates are timed, each.
const VERIFY_TIME: Duration = Duration::from_secs(2);
/// Signatures in one timed batch.
const VERIFY_BATCH: usize = 64;
/// How long to wait for the last transactions after the load stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Threads that post batches, each waiting for its answer: the staff of the members,
/// many clients rather than a few, so that a batch is not held in the generator while
/// another waits for a node's answer (a node under load answers in tens of
/// milliseconds, and a batch leaves every 20).
const SENDERS: usize = 16;
/// Most transactions in one request.
const REQUEST_TXS_MAX: usize = 2_000;
/// Most transactions one run signs ahead (about half a kilobyte of memory each).
const LOAD_TXS_MAX: u64 = 10_000_000;
/// A transaction of the load expires this many heights after the last height the chain
/// can have reached when it is offered (heights come at most one per block time).
const LOAD_EXPIRY_MARGIN: u64 = 100;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Offered load, transactions per second (open loop: offered whether or not the
    /// network keeps up).
    #[arg(long, value_name = "TX_PER_S", default_value_t = 2_000)]
    rate: u64,
    /// How long the load is offered, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    seconds: u64,
    /// How often a batch is sent, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    batch_ms: u64,
    /// Most transactions in one block.
    #[arg(long, value_name = "N", default_value_t = BLOCK_TXS_MAX)]
    block_txs: u32,
    /// The shortest height, in milliseconds (the genesis `block_time_ms`): a transaction
    /// waits up to one height for the next proposal and one more to be committed.
    #[arg(long, value_name = "MS", default_value_t = BLOCK_MS)]
    block_ms: u64,
    /// Loans (each with its policy) set up before the load, which repays them: a large
    /// number builds a ledger on which to time the API and the console.
    #[arg(long, value_name = "N", default_value_t = LOANS)]
    loans: usize,
    /// Also mirror the chain into this PostgreSQL database (empty) with `xinbao mirror`
    /// following validator 0, and report the mirror's rate and its lag behind the tip.
    #[arg(long, value_name = "URL")]
    mirror: Option<String>,
    /// Then export the chain and, once the nodes have stopped, time `audit verify` of it.
    #[arg(long)]
    audit: bool,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// The `xinbao-node` program; default: beside this `xinbao`, else on the PATH.
    #[arg(long, value_name = "PATH")]
    node_bin: Option<std::path::PathBuf>,
    /// The protocol version the devnet is founded under (R12): the rulebook each
    /// transaction is executed with; default the newest this program supports.
    #[arg(long, value_name = "N", default_value_t = contracts::upgrade::NEWEST)]
    protocol_version: u32,
    /// The devnet's crypto suite: ed25519-blake3, or sm2-sm3 (every transaction and vote
    /// an SM2 signature, every hash SM3).
    #[arg(long, value_name = "SUITE", default_value_t = Suite::default())]
    crypto_suite: Suite,
    /// Serve the validators' APIs over HTTPS with client certificates (as `devnet init
    /// --tls`), so that the figures include TLS; the load is sent with the staff's
    /// certificates.
    #[arg(long)]
    tls: bool,
}

/// Signs `action` with `signers`.
fn signed(
    action: Value,
    signers: &[&SecretKey],
    nonce: u64,
    expires_at_height: u64,
) -> anyhow::Result<SignedTx> {
    let action: Action = serde_json::from_value(action.clone())
        .with_context(|| format!("not an action: {action}"))?;
    let mut tx = SignedTx::unsigned(TxBody {
        chain_id: Id::new(devnet::CHAIN_ID).expect("a valid chain id"),
        nonce,
        expires_at_height,
        action,
    });
    for key in signers {
        tx.sign(key)?;
    }
    Ok(tx)
}

/// Submits `txs` to `node` and waits until each is committed and accepted.
fn commit_all(node: &NodeClient, txs: &[SignedTx], what: &str) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for chunk in txs.chunks(REQUEST_TXS_MAX) {
        for result in node.submit_many(chunk)? {
            ids.push(result.map_err(|e| anyhow::anyhow!("{what}: {e}"))?);
        }
    }
    for id in &ids {
        let (_, code) = node.wait_committed(id, SETUP_TIMEOUT)?;
        ensure!(
            code.is_none(),
            "{what}: rejected by the rulebook ({})",
            code.unwrap_or_default()
        );
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[index.min(sorted.len() - 1)]
}

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Bytes a process has caused to be written to storage so far (`/proc/PID/io`).
fn written_bytes(pid: &str) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// The disk under `dir`, measured: sequential writes made durable (MiB/s, 128 MiB in
/// 1 MiB writes and one sync) and small durable writes (4 KiB, each synced) per second.
pub fn disk_limits(dir: &std::path::Path) -> Option<(f64, f64)> {
    use std::io::Write;
    let path = dir.join("disk-limits.tmp");
    let mut file = std::fs::File::create(&path).ok()?;
    let chunk = vec![0x5au8; 1 << 20];
    let started = Instant::now();
    for _ in 0..128 {
        file.write_all(&chunk).ok()?;
    }
    file.sync_all().ok()?;
    let sequential = 128.0 / started.elapsed().as_secs_f64();
    let small = &chunk[..4096];
    let started = Instant::now();
    let mut syncs = 0u32;
    while syncs < 500 && started.elapsed() < Duration::from_secs(3) {
        file.write_all(small).ok()?;
        file.sync_data().ok()?;
        syncs += 1;
    }
    let synced = f64::from(syncs) / started.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Some((sequential, synced))
}

/// How many transactions were committed in each whole `width` of the load, by when they
/// were seen committed.
fn windows(
    seen: &BTreeMap<TxId, Instant>,
    started: Instant,
    load: Duration,
    width: Duration,
) -> Vec<u64> {
    let count = (load.as_secs_f64() / width.as_secs_f64()) as usize;
    let mut windows = vec![0u64; count];
    for at in seen.values() {
        let i =
            (at.saturating_duration_since(started).as_secs_f64() / width.as_secs_f64()) as usize;
        if let Some(w) = windows.get_mut(i) {
            *w += 1;
        }
    }
    windows
}

/// The smallest window's share of the median window's count.
fn window_floor(windows: &[u64]) -> Option<f64> {
    let mut sorted = windows.to_vec();
    sorted.sort_unstable();
    let median = *sorted.get(sorted.len() / 2)?;
    (median > 0).then(|| sorted[0] as f64 / median as f64)
}

/// CPU time a process has used so far (user + system), in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The whole machine's CPU time so far, from the first line of `/proc/stat`, in clock
/// ticks summed over all cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MachineTicks {
    /// Running anything (user, nice, system, interrupts).
    busy: u64,
    /// Idle, or idle waiting for the disk.
    idle: u64,
    /// Taken by the hypervisor for other guests while this one had work.
    stolen: u64,
}

/// The `cpu` line of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal …`
/// (guest time is already counted in user).
fn parse_machine_ticks(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    if fields.len() < 4 {
        return None;
    }
    Some(MachineTicks {
        busy: field(0) + field(1) + field(2) + field(5) + field(6),
        idle: field(3) + field(4),
        stolen: field(7),
    })
}

fn machine_ticks() -> Option<MachineTicks> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// How the machine's cores spent the time between two readings, in percent of it: busy,
/// idle, stolen. Says whether the run was held back by the cores being full, and whether
/// the hypervisor took some of them: figures of two runs compare only when these do.
fn machine_shares(before: MachineTicks, after: MachineTicks) -> Option<[f64; 3]> {
    let busy = after.busy.checked_sub(before.busy)?;
    let idle = after.idle.checked_sub(before.idle)?;
    let stolen = after.stolen.checked_sub(before.stolen)?;
    let total = busy + idle + stolen;
    if total == 0 {
        return None;
    }
    let share = |n: u64| (n as f64 * 1000.0 / total as f64).round() / 10.0;
    Some([share(busy), share(idle), share(stolen)])
}

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf(3) has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// The bytes the files under `path` occupy on disk: their allocated blocks, not their
/// lengths, because the store's journals are created at their full size, sparse.
fn disk_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// [`VERIFY_BATCH`] transaction-signature messages signed by as many distinct keys of
/// `algorithm`: (public keys, messages, signatures).
fn signed_samples(algorithm: Algorithm) -> (Vec<PublicKey>, Vec<[u8; 32]>, Vec<Signature>) {
    let keys: Vec<SecretKey> = (0..VERIFY_BATCH)
        .map(|i| SecretKey::from_seed_for(algorithm, [i as u8 + 1; 32]))
        .collect();
    let messages: Vec<[u8; 32]> = (0..VERIFY_BATCH).map(|i| [i as u8; 32]).collect();
    let signatures = keys
        .iter()
        .zip(&messages)
        .map(|(k, m)| k.sign(ledger::crypto::domain::TX, m))
        .collect();
    (
        keys.iter().map(SecretKey::public_key).collect(),
        messages,
        signatures,
    )
}

/// Signatures of `algorithm` one core verifies per second, one at a time (each key's
/// point already decoded, as a node's memory of recent keys has it).
pub fn single_verify_rate(algorithm: Algorithm) -> f64 {
    let (publics, messages, signatures) = signed_samples(algorithm);
    let started = Instant::now();
    let mut single = 0u64;
    while started.elapsed() < VERIFY_TIME {
        for i in 0..VERIFY_BATCH {
            publics[i]
                .verify(ledger::crypto::domain::TX, &messages[i], &signatures[i])
                .expect("a valid signature verifies");
        }
        single += VERIFY_BATCH as u64;
    }
    single as f64 / started.elapsed().as_secs_f64()
}

/// SM2 signatures one core verifies per second in groups of [`VERIFY_BATCH`], as intake
/// and the audit check them: each its own verification, the groups' points made affine
/// together ([`ledger::gm::verify_each`]).
pub fn sm2_grouped_verify_rate() -> f64 {
    let (publics, messages, signatures) = signed_samples(Algorithm::Sm2);
    let keys: Vec<ledger::gm::Sm2Key> = publics
        .iter()
        .map(|p| match p {
            PublicKey::Sm2(bytes) => ledger::gm::Sm2Key::new(bytes).expect("a valid key"),
            PublicKey::Ed25519(_) => unreachable!("SM2 samples"),
        })
        .collect();
    let signed: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| [ledger::crypto::domain::TX, &m[..]].concat())
        .collect();
    let items: Vec<(&ledger::gm::Sm2Key, &[u8], &[u8; 64])> = (0..VERIFY_BATCH)
        .map(|i| (&keys[i], &signed[i][..], &signatures[i].0))
        .collect();
    let started = Instant::now();
    let mut verified = 0u64;
    while started.elapsed() < VERIFY_TIME {
        assert!(ledger::gm::verify_each(&items).iter().all(|good| *good));
        verified += VERIFY_BATCH as u64;
    }
    verified as f64 / started.elapsed().as_secs_f64()
}

/// ed25519 signatures one core verifies per second: one at a time, and in batches of
/// [`VERIFY_BATCH`] distinct keys, over transaction-signature messages.
pub fn verify_rates() -> (f64, f64) {
    let single_rate = single_verify_rate(Algorithm::Ed25519);
    let (publics, messages, signatures) = signed_samples(Algorithm::Ed25519);
    let checks: Vec<Check<'_>> = (0..VERIFY_BATCH)
        .map(|i| Check {
            key: &publics[i],
            domain: ledger::crypto::domain::TX,
            message: &messages[i],
            signature: &signatures[i],
        })
        .collect();
    let started = Instant::now();
    let mut batched = 0u64;
    while started.elapsed() < VERIFY_TIME {
        assert!(verify_batch(&checks).iter().all(Result::is_ok));
        batched += VERIFY_BATCH as u64;
    }
    (
        single_rate,
        batched as f64 / started.elapsed().as_secs_f64(),
    )
}

/// Per-node readings at one moment.
#[derive(Debug, Clone, Default)]
struct Reading {
    cpu_ticks: Option<u64>,
    rss_kib: Option<u64>,
    written_bytes: Option<u64>,
}

fn read_nodes(network: &Network, count: usize) -> Vec<Reading> {
    (0..count)
        .map(|i| {
            let pid = network.pid(i).map(|p| p.to_string());
            Reading {
                cpu_ticks: pid.as_deref().and_then(cpu_ticks),
                rss_kib: pid.as_deref().and_then(|p| status_kib(p, "VmRSS:")),
                written_bytes: pid.as_deref().and_then(written_bytes),
            }
        })
        .collect()
}

/// The actions of the mix, parsed once: each transaction of the load is one of them with
/// its own ids.
struct Templates {
    policy: Action,
    repayment: Action,
    flag: Action,
    filing: Action,
}

impl Templates {
    fn new() -> anyhow::Result<Templates> {
        let parse = |v: Value| -> anyhow::Result<Action> {
            serde_json::from_value(v.clone()).with_context(|| format!("not an action: {v}"))
        };
        Ok(Templates {
            policy: parse(
                json!({"type": "IssuePolicy", "id": "pol-0", "programme": "prog-b",
                   "enterprise": "ent-0", "bank": "bank", "loan_principal_fen": 1_000_000u64,
                   "loan_rate_bps": 565, "term_months": 12, "premium_rate_bps": 200,
                   "financing_doc_hash": "b3:0"}),
            )?,
            repayment: parse(json!({"type": "RecordRepayment", "loan": "loan-s0",
                   "amount_fen": 1_000, "reference": "R-0"}))?,
            flag: parse(json!({"type": "FlagEnterprise", "enterprise": "flag-0",
                   "reason": "overdue elsewhere"}))?,
            filing: parse(
                json!({"type": "FileRate", "insurer": "insurer", "product": "LGI-B",
                   "rates_bps": [200, 250], "valid_from": "2025-01-01", "valid_to": "2025-12-31",
                   "filing_ref": "F-BENCH"}),
            )?,
        })
    }
}

/// What the load generator does per transaction number: the mix.
fn load_tx(
    i: u64,
    loans: u64,
    keys: &Keys,
    templates: &Templates,
    expires_at_height: u64,
) -> anyhow::Result<SignedTx> {
    let id = |text: String| Id::new(text).map_err(|e| anyhow::anyhow!("{e}"));
    let (action, signers): (Action, Vec<&SecretKey>) = match i % 10 {
        0..=4 => {
            let mut action = templates.policy.clone();
            if let Action::IssuePolicy(p) = &mut action {
                p.id = id(format!("pol-{i}"))?;
                p.enterprise = id(format!("ent-{i}"))?;
                p.financing_doc_hash = Some(id(format!("b3:{i}"))?);
            }
            (action, vec![&keys.insurer])
        }
        5..=7 => {
            let mut action = templates.repayment.clone();
            if let Action::RecordRepayment(r) = &mut action {
                r.loan = id(format!("loan-s{}", i % loans))?;
                r.reference =
                    ledger::Text::new(format!("R-{i}")).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            (action, vec![&keys.bank])
        }
        8 => {
            let mut action = templates.flag.clone();
            if let Action::FlagEnterprise(f) = &mut action {
                f.enterprise = id(format!("flag-{i}"))?;
            }
            (action, vec![&keys.bank])
        }
        _ => (
            templates.filing.clone(),
            vec![&keys.insurer, &keys.regulator],
        ),
    };
    let mut tx = SignedTx::unsigned(TxBody {
        chain_id: Id::new(devnet::CHAIN_ID).expect("a valid chain id"),
        nonce: 1_000_000 + i,
        expires_at_height,
        action,
    });
    for key in signers {
        tx.sign(key)?;
    }
    Ok(tx)
}

/// How far ahead the bench's genesis lets a transaction expire: as far as the load's
/// expiries can reach ([`sign_load`] counts heights at their fastest, one per block time,
/// and a busy chain makes them slower, so a transaction offered late in a long run is
/// that many heights further ahead of the chain), and never less than the devnet's.
fn load_expiry_heights_max(seconds: u64, block_ms: u64) -> u64 {
    let load_heights = (seconds * 1_000).div_ceil(block_ms.max(1));
    (load_heights + 2 * LOAD_EXPIRY_MARGIN).clamp(
        devnet::TX_EXPIRY_HEIGHTS_MAX,
        ledger::genesis::TX_EXPIRY_HEIGHTS_LIMIT,
    )
}

/// Signs the whole load on every core: transaction `i` is offered `i / rate` seconds into
/// the load, when the chain is at most `heights_per_s` heights a second past
/// `start_height`, so it expires [`LOAD_EXPIRY_MARGIN`] heights after that.
fn sign_load(
    total: u64,
    rate: u64,
    heights_per_s: f64,
    start_height: u64,
    loans: u64,
    keys: &Keys,
) -> anyhow::Result<Vec<SignedTx>> {
    let templates = Templates::new()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per_thread = total.div_ceil(threads).max(1);
    let expiry = |i: u64| {
        let offered_s = i as f64 / rate as f64;
        start_height + LOAD_EXPIRY_MARGIN + (offered_s * heights_per_s).ceil() as u64
    };
    let parts: Vec<anyhow::Result<Vec<SignedTx>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let templates = &templates;
                scope.spawn(move || {
                    let range = (t * per_thread).min(total)..((t + 1) * per_thread).min(total);
                    range
                        .map(|i| load_tx(i, loans, keys, templates, expiry(i)))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a signing thread panicked")))
            })
            .collect()
    });
    let mut txs = Vec::with_capacity(total as usize);
    for part in parts {
        txs.extend(part?);
    }
    Ok(txs)
}

struct Keys {
    bank: SecretKey,
    insurer: SecretKey,
    gov: SecretKey,
    regulator: SecretKey,
}

/// `xinbao bench`: the phases in order — a devnet ([`start_devnet`]), the ledger the load
/// runs on ([`set_up`]), the load signed ahead, offered ([`offer`]) and drained, the
/// machine's limits, then the report. What remains long here is the report's assembly:
/// each figure is taken where its readings are in scope, in the order the report gives
/// them, so that a figure and its source are read together.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    check_args(&args)?;
    let say = |text: &str| {
        if !args.json {
            eprintln!("{text}");
        }
    };
    let Devnet {
        root: _root,
        dir,
        manifest,
        mut network,
        clients,
        mut mirror,
        keys,
    } = start_devnet(&args, &say)?;
    let node = &clients[0];
    set_up(node, &keys, args.loans, &say)?;

    // The load: signed first, then offered on schedule by senders, while a watcher reads
    // the blocks.
    let total = args.rate * args.seconds;
    say(&format!("signing {total} transactions …"));
    let signing = Instant::now();
    let heights_per_s = 1_000.0 / args.block_ms as f64;
    let load = sign_load(
        total,
        args.rate,
        heights_per_s,
        node.status()?.height,
        args.loans as u64,
        &keys,
    )?;
    let signing_secs = signing.elapsed().as_secs_f64();
    let mut load = load.into_iter();

    let submitted: Arc<Mutex<BTreeMap<TxId, Instant>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let refused: Arc<Mutex<BTreeMap<String, u64>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let (to_senders, senders) = start_senders(&clients, &submitted, &refused);

    let data_dir = dir.join(&manifest.nodes[0].config).with_file_name("data");
    let disk_before = disk_bytes(&data_dir);
    let start_height = node.status()?.height;
    let before = read_nodes(&network, manifest.nodes.len());
    let own_before = cpu_ticks("self");
    let machine_before = machine_ticks();
    say(&format!(
        "offering {} tx/s for {} s to {} validators …",
        args.rate,
        args.seconds,
        clients.len()
    ));

    let auditor = manifest.client_tls(&manifest.nodes[0].org, "auditor");
    let mut watcher = Watcher {
        node,
        chain: NodeChain::new(&manifest.nodes[0].url, &auditor)?,
        next_height: start_height + 1,
        seen: BTreeMap::new(),
        twice: 0,
        rejected: 0,
    };

    let mirror_start = mirror.as_mut().map(|m| m.read()).transpose()?;
    let Offered {
        started,
        load_secs,
        offered,
        short,
        middle,
        speed,
    } = offer(
        &args,
        total,
        &mut load,
        &to_senders,
        &network,
        &mut watcher,
        &say,
    )?;
    let committed_in_load = watcher.seen.len() as u64;
    let tip_at_load_end = watcher.look()?;
    let mirror_end = mirror.as_mut().map(|m| m.read()).transpose()?;
    let after = read_nodes(&network, manifest.nodes.len());
    let own_after = cpu_ticks("self");
    let machine_after = machine_ticks();
    drop(to_senders);
    for sender in senders {
        let _ = sender.join();
    }
    let taken: BTreeSet<TxId> = submitted
        .lock()
        .expect("not poisoned")
        .keys()
        .copied()
        .collect();
    say("load stopped; waiting for the transactions taken to be committed …");
    let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
    while taken.iter().any(|id| !watcher.seen.contains_key(id)) && Instant::now() < drain_deadline {
        watcher.look()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(load);
    let end_height = node.status()?.height;
    let mirror_figures = match (mirror.as_mut(), mirror_start, mirror_end) {
        (Some(probe), Some(start), Some(end)) => {
            say("waiting for the mirror to reach the tip …");
            let caught_up = probe.wait_for(end_height, DRAIN_TIMEOUT * 4)?;
            let secs = end.at.duration_since(start.at).as_secs_f64().max(1e-9);
            Some(json!({
                "tx_per_s_during_load": ((end.txs - start.txs) as f64 / secs).round(),
                "lag_heights_at_load_end": tip_at_load_end.saturating_sub(end.height),
                "lag_txs_at_load_end": (start.txs + committed_in_load).saturating_sub(end.txs),
                "caught_up_seconds_after_load": ((caught_up.at.duration_since(end.at).as_secs_f64()) * 10.0).round() / 10.0,
                "tx_per_s_overall": (caught_up.txs as f64
                    / caught_up.at.duration_since(start.at).as_secs_f64().max(1e-9)).round(),
            }))
        }
        _ => None,
    };
    drop(mirror);
    let disk_after = disk_bytes(&data_dir);

    // The chain is exported while the nodes run; it is verified once they have stopped,
    // as an auditor's machine would, with the cores to itself.
    let exported = if args.audit {
        say("exporting the chain …");
        Some(export_chain(&manifest.nodes[0].url, &auditor)?)
    } else {
        None
    };
    say("stopping the validators …");
    network.stop();
    drop(network);
    say("timing signature verification on one core …");
    let (single_rate, batch_rate) = verify_rates();
    say("timing the disk under the data directories …");
    let disk = disk_limits(&dir);
    // The sm2-sm3 suite's verification, for comparison: SM2 has no batch equation.
    let sm2_rate = single_verify_rate(Algorithm::Sm2);
    let sm2_grouped_rate = sm2_grouped_verify_rate();
    let audit = match exported {
        Some(entries) => {
            say("verifying the exported chain …");
            let one_core = match args.crypto_suite {
                Suite::Ed25519Blake3 => single_rate,
                Suite::Sm2Sm3 => sm2_rate,
            };
            Some(audit_figures(&dir, entries, one_core)?)
        }
        None => None,
    };

    let submitted = submitted.lock().expect("not poisoned");
    let Watcher {
        seen,
        twice,
        rejected,
        ..
    } = watcher;
    let mut latencies: Vec<Duration> = seen
        .iter()
        .filter_map(|(id, at)| submitted.get(id).map(|s| at.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    let committed_taken = taken.iter().filter(|id| seen.contains_key(id)).count() as u64;
    let tx_per_s = committed_in_load as f64 / load_secs;
    let ticks = clock_ticks_per_s();
    let (middle, committed_at_middle) = middle.unwrap_or_else(|| (before.clone(), 0));
    let nodes = node_figures(
        &manifest,
        [&before, &middle, &after],
        load_secs,
        committed_in_load.saturating_sub(committed_at_middle),
    );
    let generator_cpu = match (own_before, own_after) {
        (Some(b), Some(a)) => Some(((a - b) as f64 / ticks / load_secs * 1000.0).round() / 10.0),
        _ => None,
    };
    let machine = machine_before
        .zip(machine_after)
        .and_then(|(b, a)| machine_shares(b, a))
        .map(|[busy, idle, stolen]| {
            json!({"busy_percent": busy, "idle_percent": idle, "stolen_percent": stolen})
        });
    let refused = refused.lock().expect("not poisoned").clone();
    let ms = |d: Duration| d.as_millis() as u64;
    let windows_20s = windows(
        &seen,
        started,
        Duration::from_secs_f64(load_secs),
        Duration::from_secs(20),
    );
    let speed_20s: Vec<u64> = probe::per_window(
        &speed,
        Duration::from_secs_f64(load_secs),
        Duration::from_secs(20),
    )
    .into_iter()
    .map(|rate| rate.round() as u64)
    .collect();
    let mut doc = json!({
        "validators": 4,
        "protocol_version": args.protocol_version,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "block_time_ms": args.block_ms,
        "block_txs_max": args.block_txs,
        "offered_rate": args.rate,
        "seconds": args.seconds,
        "offered": offered,
        "offered_late_by_the_generator": short > 0,
        "signing_seconds": (signing_secs * 10.0).round() / 10.0,
        "submitted": submitted.len(),
        "refused": refused,
        "committed": committed_taken,
        "committed_during_load": committed_in_load,
        "committed_twice": twice,
        "rejected_by_the_rulebook": rejected,
        "committed_tx_per_s": (tx_per_s * 10.0).round() / 10.0,
        "latency_p50_ms": ms(percentile(&latencies, 50)),
        "latency_p99_ms": ms(percentile(&latencies, 99)),
        "latency_max_ms": ms(latencies.last().copied().unwrap_or_default()),
        "blocks": end_height - start_height,
        "heights": [start_height + 1, end_height],
        "disk_bytes_per_tx": disk_after.saturating_sub(disk_before).checked_div(committed_taken).unwrap_or(0),
        "committed_per_20s_window": windows_20s,
        "smallest_20s_window_of_median": window_floor(&windows_20s).map(|f| (f * 1000.0).round() / 1000.0),
        "disk_sequential_mib_per_s_machine": disk.map(|d| d.0.round()),
        "disk_synced_writes_per_s_machine": disk.map(|d| d.1.round()),
        "nodes": nodes,
        "generator_cpu_percent_of_a_core": generator_cpu,
        "machine_cpu_during_load": machine,
        "verify_single_per_s_one_core": single_rate.round(),
        "verify_batch_per_s_one_core": batch_rate.round(),
        "verify_sm2_per_s_one_core": sm2_rate.round(),
        "verify_sm2_grouped_per_s_one_core": sm2_grouped_rate.round(),
        "committed_per_single_verification": ((tx_per_s / single_rate) * 1000.0).round() / 1000.0,
        "committed_per_batch_verification": ((tx_per_s / batch_rate) * 1000.0).round() / 1000.0,
        "committed_per_sm2_verification": ((tx_per_s / sm2_rate) * 1000.0).round() / 1000.0,
        "committed_per_grouped_sm2_verification": ((tx_per_s / sm2_grouped_rate) * 1000.0).round() / 1000.0,
        "crypto_suite": args.crypto_suite.as_str(),
        "audit": audit,
        "mirror": mirror_figures,
    });
    // The machine's speed beside the windows it explains (outside the literal above,
    // which is at the macro's depth limit).
    doc["one_core_verify_per_cpu_s_per_20s_window"] = json!(speed_20s);
    doc["slowest_20s_core_of_median"] =
        json!(window_floor(&speed_20s).map(|f| (f * 1000.0).round() / 1000.0));
    doc["load_seconds"] = json!((load_secs * 10.0).round() / 10.0);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_load(&doc);
        print_machine(&doc, args.crypto_suite);
    }
    Ok(ExitCode::SUCCESS)
}

/// The bench's devnet, started, its clocks set, with the founders' keys.
struct Devnet {
    root: TempDir,
    dir: std::path::PathBuf,
    manifest: devnet::Manifest,
    network: Network,
    clients: Vec<NodeClient>,
    mirror: Option<crate::mirror::Probe>,
    keys: Keys,
}

/// Founds a 4-validator devnet for the bench in a temporary directory and starts it
/// (and the mirror, with `--mirror`).
fn start_devnet(args: &BenchArgs, say: &dyn Fn(&str)) -> anyhow::Result<Devnet> {
    let node_bin = devnet::node_binary(args.node_bin.as_deref())?;
    let root = TempDir::new("xinbao-bench")?;
    let dir = root.path.join("devnet");
    let params = Params {
        block_txs_max: args.block_txs,
        block_time_ms: args.block_ms,
        tx_expiry_heights_max: load_expiry_heights_max(args.seconds, args.block_ms),
        ..devnet::devnet_params()
    };
    let manifest = devnet::init(
        &dir,
        &devnet::default_orgs(),
        &devnet::Founding {
            validators: Some(4),
            params,
            crypto_suite: args.crypto_suite,
            tls: args.tls,
            client_limits: Some(crate::tls::ClientLimits::HARNESS),
            ..devnet::Founding::new(args.protocol_version)
        },
    )?;
    say("starting 4 validators …");
    let mut network = Network::start(&dir, &node_bin, true)?;
    network.wait_ready(READY_TIMEOUT)?;
    let clients = network.clients()?;
    let mirror = match &args.mirror {
        Some(database) => {
            say("starting xinbao mirror …");
            Some(crate::mirror::Probe::start(
                &manifest.nodes[0].url,
                &manifest.client_tls(&manifest.nodes[0].org, "auditor"),
                database,
                &dir.join("genesis.json"),
                &root.path.join("mirror.log"),
            )?)
        }
        None => None,
    };
    let date = Date::from_ymd(2025, 3, 3).expect("a date");
    for client in &clients {
        client.set_clock(date.unix_ms_cst_noon() as u64)?;
    }
    let key = |org: &str| -> anyhow::Result<SecretKey> {
        manifest
            .admin_key(&dir, org)?
            .with_context(|| format!("no key for {org}"))
    };
    let keys = Keys {
        bank: key("bank")?,
        insurer: key("insurer")?,
        gov: key("gov")?,
        regulator: key("regulator")?,
    };
    Ok(Devnet {
        root,
        dir,
        manifest,
        network,
        clients,
        mirror,
        keys,
    })
}

/// A batch for one validator (by number), with the moment it was offered, from which its
/// latency counts.
type Offer = (usize, Vec<SignedTx>, Instant);

/// [`SENDERS`] threads posting the offered batches to the validators, recording what each
/// took (with when it was offered) and what each refused (by code).
fn start_senders(
    clients: &[NodeClient],
    submitted: &Arc<Mutex<BTreeMap<TxId, Instant>>>,
    refused: &Arc<Mutex<BTreeMap<String, u64>>>,
) -> (mpsc::SyncSender<Offer>, Vec<std::thread::JoinHandle<()>>) {
    let (to_senders, batches) = mpsc::sync_channel::<Offer>(SENDERS * 4);
    let batches = Arc::new(Mutex::new(batches));
    let senders = (0..SENDERS)
        .map(|_| {
            let batches = batches.clone();
            let submitted = submitted.clone();
            let refused = refused.clone();
            let clients = clients.to_vec();
            std::thread::spawn(move || loop {
                let next = batches.lock().expect("not poisoned").recv();
                let Ok((target, batch, at)) = next else {
                    return;
                };
                match clients[target].submit_many(&batch) {
                    Ok(results) => {
                        let mut map = submitted.lock().expect("not poisoned");
                        let mut refusals = refused.lock().expect("not poisoned");
                        for result in results {
                            match result {
                                Ok(id) => {
                                    map.insert(id, at);
                                }
                                Err(e) => {
                                    *refusals
                                        .entry(e.code.map_or(String::new(), |c| c.to_string()))
                                        .or_insert(0) += 1
                                }
                            }
                        }
                    }
                    Err(e) => {
                        *refused
                            .lock()
                            .expect("not poisoned")
                            .entry(format!("request failed: {e:#}"))
                            .or_insert(0) += batch.len() as u64;
                    }
                }
            })
        })
        .collect();
    (to_senders, senders)
}

/// Each validator's CPU share, memory at the start, half-way and the end, memory grown
/// per transaction of the second half, and disk writes, from the readings taken then.
fn node_figures(
    manifest: &devnet::Manifest,
    [before, middle, after]: [&[Reading]; 3],
    load_secs: f64,
    second_half_txs: u64,
) -> Vec<Value> {
    let ticks = clock_ticks_per_s();
    let cpu_share = |b: &Reading, a: &Reading| match (b.cpu_ticks, a.cpu_ticks) {
        (Some(b), Some(a)) => Some((a - b) as f64 / ticks / load_secs * 100.0),
        _ => None,
    };
    manifest
        .nodes
        .iter()
        .zip(before.iter().zip(after.iter()).zip(middle.iter()))
        .map(|(n, ((b, a), m))| {
            json!({
                "name": n.name,
                "cpu_percent_of_a_core": cpu_share(b, a).map(|c| (c * 10.0).round() / 10.0),
                "rss_mib_start": b.rss_kib.map(|k| k / 1024),
                "rss_mib_half_way": m.rss_kib.map(|k| k / 1024),
                "rss_mib_end": a.rss_kib.map(|k| k / 1024),
                "rss_bytes_per_tx_second_half": rss_bytes_per_tx(
                    m.rss_kib,
                    a.rss_kib,
                    second_half_txs
                ),
                "disk_write_mib_per_s": b.written_bytes.zip(a.written_bytes).map(|(b, a)| {
                    ((a.saturating_sub(b)) as f64 / load_secs / 1048576.0 * 10.0).round() / 10.0
                }),
            })
        })
        .collect()
}

/// Reads the committed blocks as they come: when each transaction was seen committed, and
/// what was committed twice or rejected by the rulebook.
struct Watcher<'a> {
    node: &'a NodeClient,
    chain: NodeChain,
    next_height: u64,
    seen: BTreeMap<TxId, Instant>,
    twice: u64,
    rejected: u64,
}

impl Watcher<'_> {
    /// Reads the blocks committed since the last look; the tip's height.
    fn look(&mut self) -> anyhow::Result<u64> {
        let tip = self.node.status()?.height;
        while self.next_height <= tip {
            let entry = self.chain.entry(self.next_height)?;
            let now = Instant::now();
            for receipt in &entry.receipts {
                if self.seen.insert(receipt.tx_id, now).is_some() {
                    self.twice += 1;
                }
                if matches!(receipt.outcome, ledger::block::Outcome::Rejected(_)) {
                    self.rejected += 1;
                }
            }
            self.next_height += 1;
        }
        Ok(tip)
    }
}

/// What offering the load did: when it started and how long it lasted, what was offered
/// (and how often the generator fell behind), the readings half-way and the machine's
/// speed through it.
struct Offered {
    started: Instant,
    load_secs: f64,
    offered: u64,
    short: u64,
    middle: Option<(Vec<Reading>, u64)>,
    speed: Vec<(Duration, f64)>,
}

/// Offers the signed `load` at `--rate` for `--seconds` through the senders, in batches
/// of at most [`REQUEST_TXS_MAX`] spread over the validators, watching the blocks and
/// reporting every 5 s.
fn offer(
    args: &BenchArgs,
    total: u64,
    load: &mut std::vec::IntoIter<SignedTx>,
    to_senders: &mpsc::SyncSender<Offer>,
    network: &Network,
    watcher: &mut Watcher,
    say: &dyn Fn(&str),
) -> anyhow::Result<Offered> {
    let validators = 4;
    let started = Instant::now();
    let speed = probe::Probe::start(started);
    let tick = Duration::from_millis(args.batch_ms);
    let mut offered = 0u64;
    let mut target = 0usize;
    let mut short = 0u64;
    let mut last_report = Instant::now();
    let load_end = started + Duration::from_secs(args.seconds);
    // Read half-way, so that what memory grows by in the second half (caches full,
    // start-up done) can be set against the work done in it.
    let half_way = started + Duration::from_secs(args.seconds) / 2;
    let mut middle: Option<(Vec<Reading>, u64)> = None;
    while Instant::now() < load_end {
        if middle.is_none() && Instant::now() >= half_way {
            middle = Some((read_nodes(network, validators), watcher.seen.len() as u64));
        }
        let due = ((started.elapsed().as_secs_f64() * args.rate as f64) as u64).min(total);
        // Behind by more than the senders can take in one round: the generator, not the
        // nodes, is what holds the load back.
        if due - offered > (REQUEST_TXS_MAX * SENDERS) as u64 {
            short += 1;
        }
        while offered < due {
            let batch: Vec<SignedTx> = load
                .by_ref()
                .take(((due - offered) as usize).min(REQUEST_TXS_MAX))
                .collect();
            offered += batch.len() as u64;
            to_senders
                .send((target % validators, batch, Instant::now()))
                .context("the senders stopped")?;
            target += 1;
        }
        let tip = watcher.look()?;
        if last_report.elapsed() >= Duration::from_secs(5) {
            say(&format!(
                "  {:>3} s: {} offered, {} committed, height {tip}",
                started.elapsed().as_secs(),
                offered,
                watcher.seen.len()
            ));
            last_report = Instant::now();
        }
        std::thread::sleep(tick.saturating_sub(Duration::from_millis(1)));
    }
    let load_secs = started.elapsed().as_secs_f64();
    let speed = speed.finish();
    Ok(Offered {
        started,
        load_secs,
        offered,
        short,
        middle,
        speed,
    })
}

/// The load's half of the report: what was offered, taken and committed, how fast, the
/// windows, the blocks.
fn print_load(doc: &Value) {
    let u = |key: &str| doc[key].as_u64().unwrap_or(0);
    let f = |key: &str| doc[key].as_f64().unwrap_or(0.0);
    println!(
        "xinbao bench: 4 validators on this machine ({} cores), blocks every {} ms of up to {} transactions, protocol version {}",
        doc["cores"], doc["block_time_ms"], doc["block_txs_max"], doc["protocol_version"]
    );
    let late = doc["offered_late_by_the_generator"].as_bool() == Some(true);
    println!(
        "  offered                   {} tx/s for {} s: {} transactions{}",
        doc["offered_rate"],
        doc["seconds"],
        doc["offered"],
        if late {
            " (the generator fell behind the schedule)"
        } else {
            ""
        }
    );
    let refused: Vec<(String, u64)> = doc["refused"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(c, n)| (c.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "  taken by the nodes        {} ({} refused: {})",
        doc["submitted"],
        refused.iter().map(|(_, n)| n).sum::<u64>(),
        if refused.is_empty() {
            "none".to_string()
        } else {
            refused
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    println!(
        "  committed                 {} of those taken ({} during the load, {} rejected by the rulebook, {} twice)",
        u("committed"),
        u("committed_during_load"),
        u("rejected_by_the_rulebook"),
        u("committed_twice")
    );
    println!(
        "  committed tx/s            {:.0} over the {:.1} s of load",
        f("committed_tx_per_s"),
        f("load_seconds")
    );
    println!(
        "  commit latency            p50 {} ms, p99 {} ms, max {} ms",
        doc["latency_p50_ms"], doc["latency_p99_ms"], doc["latency_max_ms"]
    );
    println!(
        "  blocks                    {} (heights {}..={}), {} bytes on disk per transaction",
        doc["blocks"], doc["heights"][0], doc["heights"][1], doc["disk_bytes_per_tx"]
    );
    let windows = |key: &str| -> Vec<u64> {
        doc[key]
            .as_array()
            .map(|w| w.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    };
    let committed = windows("committed_per_20s_window");
    if !committed.is_empty() {
        println!(
            "  committed per 20 s window {:?}: the smallest is {} of the median",
            committed, doc["smallest_20s_window_of_median"]
        );
    }
    let speed = windows("one_core_verify_per_cpu_s_per_20s_window");
    if !speed.is_empty() {
        println!(
            "  one core's speed per 20 s  {:?} ed25519 verifications a second of its own CPU time: the slowest is {} of the median",
            speed, doc["slowest_20s_core_of_median"]
        );
    }
}

/// The machine's half of the report: each node's CPU, memory and disk, the machine's
/// limits measured in the same run, the audit and the mirror.
fn print_machine(doc: &Value, suite: Suite) {
    let f = |key: &str| doc[key].as_f64().unwrap_or(0.0);
    for n in doc["nodes"].as_array().into_iter().flatten() {
        println!(
            "  {:<22}  CPU {}% of a core, RSS {} → {} (half-way) → {} MiB, {} bytes more per transaction committed in the second half, writes {} MiB/s to disk",
            n["name"].as_str().unwrap_or(""),
            n["cpu_percent_of_a_core"],
            n["rss_mib_start"],
            n["rss_mib_half_way"],
            n["rss_mib_end"],
            n["rss_bytes_per_tx_second_half"],
            n["disk_write_mib_per_s"]
        );
    }
    if let (Some(sequential), Some(synced)) = (
        doc["disk_sequential_mib_per_s_machine"].as_f64(),
        doc["disk_synced_writes_per_s_machine"].as_f64(),
    ) {
        println!(
            "  the disk                  {sequential:.0} MiB/s written in sequence and synced, {synced:.0} small writes synced one by one per second"
        );
    }
    println!(
        "  signed ahead              {} transactions in {:.1} s, before the load",
        doc["offered"],
        f("signing_seconds")
    );
    if let Some(cpu) = doc["generator_cpu_percent_of_a_core"].as_f64() {
        println!("  load generator            CPU {cpu}% of a core (posting and watching)");
    }
    if let Some(m) = doc.get("machine_cpu_during_load").filter(|m| !m.is_null()) {
        println!(
            "  machine during the load   {}% busy, {}% idle, {}% stolen by the hypervisor, of all {} cores",
            m["busy_percent"], m["idle_percent"], m["stolen_percent"], doc["cores"]
        );
    }
    let (single, batch) = (
        f("verify_single_per_s_one_core"),
        f("verify_batch_per_s_one_core"),
    );
    let (sm2, sm2_grouped) = (
        f("verify_sm2_per_s_one_core"),
        f("verify_sm2_grouped_per_s_one_core"),
    );
    println!(
        "  signature verification    {single:.0}/s alone, {batch:.0}/s in batches of {VERIFY_BATCH}, on one core"
    );
    println!(
        "  SM2 verification          {sm2:.0}/s alone, {sm2_grouped:.0}/s in groups of {VERIFY_BATCH} \
         (made affine together), on one core (the sm2-sm3 suite's; no batch equation)"
    );
    match suite {
        Suite::Ed25519Blake3 => println!(
            "  ratio                     {:.3} committed tx per single verification, {:.3} per batched one",
            f("committed_per_single_verification"),
            f("committed_per_batch_verification")
        ),
        Suite::Sm2Sm3 => println!(
            "  ratio                     {:.3} committed tx per SM2 verification alone, {:.3} per grouped one",
            f("committed_per_sm2_verification"),
            f("committed_per_grouped_sm2_verification")
        ),
    }
    if let Some(audit) = doc.get("audit").filter(|a| !a.is_null()) {
        println!(
            "  audit verify              {} blocks, {} transactions in {} s: {} tx/s, {} blocks/s",
            audit["blocks"],
            audit["txs"],
            audit["seconds"],
            audit["txs_per_s"],
            audit["blocks_per_s"]
        );
        println!(
            "                            {} signatures: {} a second, {} × one core's rate (the nodes stopped)",
            audit["signatures"], audit["signatures_per_s"], audit["signatures_per_s_of_one_core"]
        );
    }
    if let Some(m) = doc.get("mirror").filter(|m| !m.is_null()) {
        println!(
            "  mirror (PostgreSQL)       {} tx/s written during the load ({} overall); at its end {} heights ({} transactions) behind the tip, caught up {} s later",
            m["tx_per_s_during_load"],
            m["tx_per_s_overall"],
            m["lag_heights_at_load_end"],
            m["lag_txs_at_load_end"],
            m["caught_up_seconds_after_load"]
        );
    }
}

/// The ledger the load runs on: a rate filing, a fund, a programme and `loans` policies
/// with their loans, committed before the load starts.
fn set_up(node: &NodeClient, keys: &Keys, loans: usize, say: &dyn Fn(&str)) -> anyhow::Result<()> {
    let margin = devnet::TX_EXPIRY_HEIGHTS_MAX / 2;
    let expiry = node.status()?.height + margin;

    say(&format!("setting up a programme and {} loans …", loans));
    let setup = [
        (
            json!({"type": "FileRate", "insurer": "insurer", "product": "LGI-B", "rates_bps": [200, 250],
                   "valid_from": "2025-01-01", "valid_to": "2025-12-31", "filing_ref": "F-BENCH"}),
            vec![&keys.insurer, &keys.regulator],
        ),
        (
            json!({"type": "CreateFund", "id": "fund-b", "government": "gov", "annual_cap_fen": 9_000_000_000_000u64}),
            vec![&keys.gov],
        ),
        (
            json!({"type": "FundTopUp", "fund": "fund-b", "amount_fen": 9_000_000_000_000u64, "reference": "BUDGET"}),
            vec![&keys.gov],
        ),
        (
            json!({"type": "CreateProgramme", "id": "prog-b", "name": "Benchmark programme", "product": "LGI-B",
                   "period_start": "2025-01-01", "period_end": "2025-12-31", "government": "gov", "fund": "fund-b",
                   "banks": ["bank"], "insurer": "insurer", "reinsurer": null,
                   "split": {"bank_bps": 3000, "insurer_bps": 7000, "fund_bps": 0}, "cover": "Principal",
                   "limits": {"max_loan_fen": 300_000_000u64, "max_term_months": 12, "benchmark_rate_bps": 435,
                              "max_uplift_bps": 3000, "max_premium_rate_bps": 300, "max_all_in_bps": 2400},
                   "subsidy": {"bps": 5000, "mode": "Upfront"},
                   "fund_layer": {"kind": "ExcessOfLossRatio", "threshold_bps": 15000, "share_bps": 10000},
                   "reinsurance_quota_bps": 0,
                   "triggers": {"suspend_loss_ratio_bps": 15000, "suspend_overdue_bps": 1000, "warn_at_bps": 8000},
                   "claims": {"interest_dpd": 90, "principal_dpd": 30, "decide_days": 30, "pay_business_days": 10},
                   "opening": {"premium_written_fen": 0, "claims_gross_fen": 0}}),
            vec![&keys.gov, &keys.bank, &keys.insurer],
        ),
    ];
    let mut nonce = 0u64;
    for (action, signers) in setup {
        nonce += 1;
        let what = action["type"].as_str().unwrap_or("").to_string();
        commit_all(node, &[signed(action, &signers, nonce, expiry)?], &what)?;
    }
    // Signed a wave at a time, each wave with an expiry from the height it starts at.
    let in_waves = |what: &str, make: &dyn Fn(usize, u64) -> anyhow::Result<SignedTx>| {
        for start in (0..loans).step_by(SETUP_WAVE) {
            let expiry = node.status()?.height + margin;
            let wave: Vec<SignedTx> = (start..(start + SETUP_WAVE).min(loans))
                .map(|i| make(i, expiry))
                .collect::<anyhow::Result<_>>()?;
            commit_all(node, &wave, what)?;
            if loans > SETUP_WAVE {
                say(&format!("  {what}: {} committed", start + wave.len()));
            }
        }
        anyhow::Ok(())
    };
    in_waves("IssuePolicy", &|i, expiry| {
        signed(
            json!({"type": "IssuePolicy", "id": format!("pol-s{i}"), "programme": "prog-b",
                   "enterprise": format!("ent-s{i}"), "bank": "bank", "loan_principal_fen": 200_000_000u64,
                   "loan_rate_bps": 565, "term_months": 12, "premium_rate_bps": 200,
                   "financing_doc_hash": format!("b3:s{i}")}),
            &[&keys.insurer],
            100 + i as u64,
            expiry,
        )
    })?;
    in_waves("DisburseLoan", &|i, expiry| {
        signed(
            json!({"type": "DisburseLoan", "id": format!("loan-s{i}"), "policy": format!("pol-s{i}")}),
            &[&keys.bank],
            1_000 + i as u64,
            expiry,
        )
    })?;

    Ok(())
}

/// The bench's arguments within their bounds.
fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    ensure!(args.rate >= 1, "--rate must be at least 1");
    ensure!(
        contracts::upgrade::SUPPORTED.contains(&args.protocol_version),
        "--protocol-version {}: this program supports protocol versions {}..={}",
        args.protocol_version,
        contracts::upgrade::SUPPORTED.start(),
        contracts::upgrade::SUPPORTED.end()
    );
    ensure!(
        (1..=1_000_000).contains(&args.loans),
        "--loans between 1 and 1000000"
    );
    ensure!(
        (1..=3_600).contains(&args.seconds),
        "--seconds between 1 and 3600"
    );
    ensure!(
        args.rate.saturating_mul(args.seconds) <= LOAD_TXS_MAX,
        "--rate × --seconds is at most {LOAD_TXS_MAX} transactions (each is signed before the load)"
    );
    ensure!(
        (1..=1_000).contains(&args.batch_ms),
        "--batch-ms between 1 and 1000"
    );
    Ok(())
}

/// What resident memory grew by, in bytes, for each of `committed` transactions (negative
/// if it shrank); none without both readings or without transactions.
fn rss_bytes_per_tx(from_kib: Option<u64>, to_kib: Option<u64>, committed: u64) -> Option<i64> {
    let (from, to) = (from_kib?, to_kib?);
    if committed == 0 {
        return None;
    }
    Some((to as i64 - from as i64) * 1024 / committed as i64)
}

/// Exports the chain from `url` and times its verification with the genesis alone.
/// Every entry of the chain `url` serves, from height 1 to its tip.
fn export_chain(url: &str, tls: &ClientTls) -> anyhow::Result<Vec<ChainEntry>> {
    let node = NodeChain::new(url, tls)?;
    let height = node.height()?;
    (1..=height).map(|h| node.entry(h)).collect()
}

/// Times `audit verify` of `entries` against the devnet's genesis in `dir`: blocks,
/// transactions and signatures (the transactions' and the certificates') a second, and
/// the signatures' rate as a multiple of `one_core`, the chain's suite's one-core
/// verification rate measured in the same run.
fn audit_figures(
    dir: &std::path::Path,
    entries: Vec<ChainEntry>,
    one_core: f64,
) -> anyhow::Result<Value> {
    let genesis = ledger::genesis::Genesis::load(&dir.join("genesis.json"))?;
    let header = ledger::export::ChainHeader {
        chain_id: genesis.chain_id.clone(),
        crypto_suite: genesis.crypto_suite,
        genesis_hash: genesis.hash(),
        first_height: 1,
    };
    let signatures: usize = entries
        .iter()
        .map(|e| {
            e.certificate.signatures.len()
                + e.block
                    .txs
                    .iter()
                    .map(|t| t.signatures.len())
                    .sum::<usize>()
        })
        .sum();
    let started = Instant::now();
    let verdict = contracts::audit::verify_chain(
        &genesis,
        &header,
        entries.into_iter().map(Ok::<_, String>),
        |_| {},
    )
    .map_err(|e| anyhow::anyhow!("the exported chain does not verify: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let signatures_per_s = signatures as f64 / seconds;
    Ok(json!({
        "blocks": verdict.blocks,
        "txs": verdict.txs,
        "signatures": signatures,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "txs_per_s": (verdict.txs as f64 / seconds).round() as u64,
        "blocks_per_s": (verdict.blocks as f64 / seconds).round() as u64,
        "signatures_per_s": signatures_per_s.round() as u64,
        "signatures_per_s_of_one_core": ((signatures_per_s / one_core) * 100.0).round() / 100.0,
    }))
}

#[cfg(test)]
mod tests {
    use super::{
        load_expiry_heights_max, machine_shares, parse_machine_ticks, rss_bytes_per_tx,
        window_floor, windows, MachineTicks, LOAD_EXPIRY_MARGIN,
    };
    use crate::devnet::TX_EXPIRY_HEIGHTS_MAX;
    use ledger::tx::TxId;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    #[test]
    fn the_genesis_lets_the_whole_load_expire_as_it_was_signed() {
        // 600 s at a height per 200 ms: 3,000 heights ahead at the most.
        assert_eq!(
            load_expiry_heights_max(600, 200),
            3_000 + 2 * LOAD_EXPIRY_MARGIN
        );
        // A short run keeps the devnet's own window.
        assert_eq!(load_expiry_heights_max(3, 200), TX_EXPIRY_HEIGHTS_MAX);
        // Never past what a genesis accepts.
        assert_eq!(
            load_expiry_heights_max(u64::MAX / 2_000, 1),
            ledger::genesis::TX_EXPIRY_HEIGHTS_LIMIT
        );
    }

    #[test]
    fn the_machine_cpu_is_read_from_proc_stat_and_shared_out() {
        let before = parse_machine_ticks(
            "cpu  5264883 136272 514052 7545545 31147 0 27352 20615 0 0\n\
             cpu0 2632441 68136 257026 3772772 15573 0 13676 10307 0 0\n",
        )
        .expect("a cpu line");
        assert_eq!(
            before,
            MachineTicks {
                busy: 5_264_883 + 136_272 + 514_052 + 27_352,
                idle: 7_545_545 + 31_147,
                stolen: 20_615,
            }
        );
        // 1,000 ticks: 900 busy (user and softirq), 60 idle, 40 stolen.
        let after =
            parse_machine_ticks("cpu  5265683 136272 514052 7545605 31147 0 27452 20655 0 0\n")
                .expect("a cpu line");
        assert_eq!(machine_shares(before, after), Some([90.0, 6.0, 4.0]));
        // No time passed, or the counters went back (another boot): no shares.
        assert_eq!(machine_shares(before, before), None);
        assert_eq!(machine_shares(after, before), None);
        // A kernel without the steal column still reads.
        let old = parse_machine_ticks("cpu 10 0 5 100\n").expect("four columns");
        assert_eq!((old.busy, old.idle, old.stolen), (15, 100, 0));
        assert_eq!(parse_machine_ticks("intr 1 2 3\n"), None);
        assert_eq!(parse_machine_ticks("cpu 1 2\n"), None);
    }

    #[test]
    fn commits_are_counted_by_whole_window_and_the_smallest_set_against_the_median() {
        let started = Instant::now();
        let mut seen = BTreeMap::new();
        for (i, secs) in [1u64, 2, 21, 22, 23, 45, 61].into_iter().enumerate() {
            seen.insert(TxId([i as u8; 32]), started + Duration::from_secs(secs));
        }
        // 65 s of load: three whole windows of 20 s; the commit at 61 s is in none.
        let counted = windows(
            &seen,
            started,
            Duration::from_secs(65),
            Duration::from_secs(20),
        );
        assert_eq!(counted, vec![2, 3, 1]);
        assert_eq!(window_floor(&counted), Some(0.5));
        assert_eq!(window_floor(&[]), None);
        assert_eq!(window_floor(&[0, 0]), None);
    }

    #[test]
    fn memory_growth_is_counted_per_committed_transaction() {
        assert_eq!(
            rss_bytes_per_tx(Some(100 * 1024), Some(101 * 1024), 1024),
            Some(1024)
        );
        assert_eq!(rss_bytes_per_tx(Some(200), Some(100), 1024), Some(-100));
        assert_eq!(rss_bytes_per_tx(Some(100), Some(200), 0), None);
        assert_eq!(rss_bytes_per_tx(None, Some(200), 10), None);
        assert_eq!(rss_bytes_per_tx(Some(100), None, 10), None);
    }
}
