//! `xinbao bench`: throughput and latency of a 4-validator devnet on this machine.
//!
//! It starts a devnet (a bank, an insurer, a government, a regulator; a devnet clock held
//! at one date), sets up a programme (rate filing, fund, top-up, programme) and a few
//! loans, then pre-signs N transactions, a mix of policy issues and loan repayments, and
//! submits them from several threads spread over all validators. A watcher reads every new
//! block and notes when each transaction is first seen committed. It prints figures only:
//! committed transactions per second (first submission to last commit), p50 and p99 commit
//! latency (submission to seen committed), the peak resident memory of each node process
//! (`VmHWM`), and, measured in the same run once the nodes have stopped, how many ed25519
//! `verify_strict` checks one core of this machine does per second, with the ratio of the
//! two rates. Nothing here passes or fails on speed.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Args;
use ledger::crypto::SecretKey;
use ledger::tx::{SignedTx, TxBody, TxId};
use ledger::{Action, Date, Id};
use serde_json::{json, Value};

use crate::demo::TempDir;
use crate::devnet::{self, Network};
use crate::node_client::NodeClient;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Loans set up for the repayments to pay into.
const LOANS: usize = 40;
/// The most transactions a run submits (the node's mempool holds 10 000).
const TXS_MAX: usize = 9_000;
/// How long `verify_strict` is timed.
const VERIFY_TIME: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of transactions to submit.
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    txs: usize,
    /// Threads submitting at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    clients: usize,
    /// How long to wait for every transaction to be committed, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    timeout: u64,
    /// The `xinbao-node` program; default: beside this `xinbao`, else on the PATH.
    #[arg(long, value_name = "PATH")]
    node_bin: Option<std::path::PathBuf>,
}

/// Signs `action` with `signers`, expiring `expiry` heights after `height`.
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
    let ids: Vec<TxId> = txs
        .iter()
        .map(|tx| node.submit(tx))
        .collect::<anyhow::Result<_>>()?;
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

/// Peak resident memory of a process, in KiB (`VmHWM` of `/proc/PID/status`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Single-core `verify_strict` checks per second, over a transaction signature's message.
pub fn verify_rate() -> f64 {
    let key = SecretKey::from_seed([7; 32]);
    let public = key.public_key();
    let message = [0x5a_u8; 32];
    let signature = key.sign(ledger::crypto::domain::TX, &message);
    let started = Instant::now();
    let mut count: u64 = 0;
    while started.elapsed() < VERIFY_TIME {
        for _ in 0..100 {
            public
                .verify(ledger::crypto::domain::TX, &message, &signature)
                .expect("a valid signature verifies");
        }
        count += 100;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    ensure!(
        (1..=TXS_MAX).contains(&args.txs),
        "--txs must be between 1 and {TXS_MAX}"
    );
    let node_bin = devnet::node_binary(args.node_bin.as_deref())?;
    let root = TempDir::new("xinbao-bench")?;
    let dir = root.path.join("devnet");
    let manifest = devnet::init(&dir, &devnet::default_orgs(), Some(4), None)?;
    eprintln!("starting 4 validators …");
    let mut network = Network::start(&dir, &node_bin, true)?;
    network.wait_ready(READY_TIMEOUT)?;
    let clients = network.clients();
    let date = Date::from_ymd(2025, 3, 3).expect("a date");
    for client in &clients {
        client.set_clock(date.unix_ms_cst_noon() as u64)?;
    }

    let key = |org: &str| -> anyhow::Result<SecretKey> {
        manifest
            .admin_key(&dir, org)?
            .with_context(|| format!("no key for {org}"))
    };
    let (bank, insurer, gov, regulator) = (
        key("bank")?,
        key("insurer")?,
        key("gov")?,
        key("regulator")?,
    );
    let node = &clients[0];
    let expiry = node.status()?.height + devnet::TX_EXPIRY_HEIGHTS_MAX - 50;
    let mut nonce = 0u64;
    let mut next_nonce = || {
        nonce += 1;
        nonce
    };

    eprintln!("setting up a programme and {LOANS} loans …");
    let setup = [
        (
            json!({"type": "FileRate", "insurer": "insurer", "product": "LGI-B", "rates_bps": [200, 250],
                   "valid_from": "2025-01-01", "valid_to": "2025-12-31", "filing_ref": "F-BENCH"}),
            vec![&insurer, &regulator],
        ),
        (
            json!({"type": "CreateFund", "id": "fund-b", "government": "gov", "annual_cap_fen": 50_000_000_000u64}),
            vec![&gov],
        ),
        (
            json!({"type": "FundTopUp", "fund": "fund-b", "amount_fen": 20_000_000_000u64, "reference": "BUDGET"}),
            vec![&gov],
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
            vec![&gov, &bank, &insurer],
        ),
    ];
    for (action, signers) in setup {
        let what = action["type"].as_str().unwrap_or("").to_string();
        commit_all(
            node,
            &[signed(action, &signers, next_nonce(), expiry)?],
            &what,
        )?;
    }
    let policy = |id: &str, doc: &str| {
        json!({"type": "IssuePolicy", "id": id, "programme": "prog-b", "enterprise": format!("ent-{id}"),
               "bank": "bank", "loan_principal_fen": 1_000_000u64, "loan_rate_bps": 565, "term_months": 12,
               "premium_rate_bps": 200, "financing_doc_hash": doc})
    };
    let policies: Vec<SignedTx> = (0..LOANS)
        .map(|i| {
            signed(
                policy(&format!("pol-s{i}"), &format!("b3:s{i}")),
                &[&insurer],
                next_nonce(),
                expiry,
            )
        })
        .collect::<anyhow::Result<_>>()?;
    commit_all(node, &policies, "IssuePolicy")?;
    let loans: Vec<SignedTx> = (0..LOANS)
        .map(|i| {
            signed(
                json!({"type": "DisburseLoan", "id": format!("loan-s{i}"), "policy": format!("pol-s{i}")}),
                &[&bank],
                next_nonce(),
                expiry,
            )
        })
        .collect::<anyhow::Result<_>>()?;
    commit_all(node, &loans, "DisburseLoan")?;

    eprintln!("signing {} transactions …", args.txs);
    let txs: Vec<SignedTx> = (0..args.txs)
        .map(|i| {
            if i % 2 == 0 {
                signed(
                    policy(&format!("pol-{i}"), &format!("b3:{i}")),
                    &[&insurer],
                    next_nonce(),
                    expiry,
                )
            } else {
                signed(
                    json!({"type": "RecordRepayment", "loan": format!("loan-s{}", i % LOANS),
                           "amount_fen": 1_000, "reference": format!("R-{i}")}),
                    &[&bank],
                    next_nonce(),
                    expiry,
                )
            }
        })
        .collect::<anyhow::Result<_>>()?;
    let ids: Vec<TxId> = txs.iter().map(SignedTx::id).collect();
    let start_height = node.status()?.height;

    eprintln!(
        "submitting {} transactions from {} threads to {} validators …",
        txs.len(),
        args.clients,
        clients.len()
    );
    let txs = Arc::new(txs);
    let submitted: Arc<Mutex<BTreeMap<TxId, Instant>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let threads: Vec<_> = (0..args.clients.max(1))
        .map(|t| {
            let txs = Arc::clone(&txs);
            let submitted = Arc::clone(&submitted);
            let refused = Arc::clone(&refused);
            let clients = clients.clone();
            let stride = args.clients.max(1);
            std::thread::spawn(move || {
                for i in (t..txs.len()).step_by(stride) {
                    let client = &clients[i % clients.len()];
                    let at = Instant::now();
                    match client.submit(&txs[i]) {
                        Ok(id) => {
                            submitted.lock().expect("not poisoned").insert(id, at);
                        }
                        Err(e) => refused.lock().expect("not poisoned").push(format!("{e:#}")),
                    }
                }
            })
        })
        .collect();

    // Watch the blocks of one validator and note when each transaction appears.
    let wanted: std::collections::BTreeSet<TxId> = ids.iter().copied().collect();
    let mut seen: BTreeMap<TxId, Instant> = BTreeMap::new();
    let mut rejected = 0usize;
    let mut next_height = start_height + 1;
    let deadline = started + Duration::from_secs(args.timeout);
    let mut last_report = Instant::now();
    while seen.len() < wanted.len() {
        if Instant::now() >= deadline {
            break;
        }
        if threads.iter().all(|t| t.is_finished()) {
            let refused_count = refused.lock().expect("not poisoned").len();
            if seen.len() + refused_count >= wanted.len() {
                break;
            }
        }
        let height = node.status()?.height;
        while next_height <= height {
            let block = node.block(next_height)?;
            let now = Instant::now();
            for receipt in block
                .get("receipts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = receipt
                    .get("tx_id")
                    .and_then(Value::as_str)
                    .and_then(|s| TxId::from_hex(s).ok());
                if let Some(id) = id.filter(|id| wanted.contains(id)) {
                    seen.entry(id).or_insert(now);
                    if receipt.get("outcome").and_then(Value::as_str) == Some("Rejected") {
                        rejected += 1;
                    }
                }
            }
            next_height += 1;
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            eprintln!(
                "  {} of {} committed, height {height}",
                seen.len(),
                wanted.len()
            );
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for thread in threads {
        let _ = thread.join();
    }
    let finished = seen.values().max().copied().unwrap_or(started);
    let end_height = node.status()?.height;
    let peaks: Vec<(String, Option<u64>)> = manifest
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), network.pid(i).and_then(peak_rss_kib)))
        .collect();
    eprintln!("stopping the validators …");
    network.stop();
    drop(network);
    eprintln!("timing ed25519 verify_strict on one core …");
    let verify_per_s = verify_rate();

    let submitted = submitted.lock().expect("not poisoned");
    let mut latencies: Vec<Duration> = seen
        .iter()
        .filter_map(|(id, at)| submitted.get(id).map(|s| at.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    let refused = refused.lock().expect("not poisoned");
    let elapsed = finished
        .saturating_duration_since(started)
        .as_secs_f64()
        .max(1e-9);
    let tx_per_s = seen.len() as f64 / elapsed;

    println!(
        "xinbao bench: 4 validators on this machine ({}), block time {} ms, {} transactions",
        node_bin.display(),
        devnet::BLOCK_TIME_MS,
        args.txs
    );
    println!(
        "  transactions submitted    {} ({} refused at submission)",
        submitted.len(),
        refused.len()
    );
    println!(
        "  committed                 {} ({} rejected by the rulebook) in heights {}..={}",
        seen.len(),
        rejected,
        start_height + 1,
        end_height
    );
    println!("  committed tx/s            {tx_per_s:.0} (first submission to last commit, {elapsed:.1} s)");
    println!(
        "  commit latency p50        {} ms",
        percentile(&latencies, 50).as_millis()
    );
    println!(
        "  commit latency p99        {} ms",
        percentile(&latencies, 99).as_millis()
    );
    for (name, peak) in &peaks {
        match peak {
            Some(kib) => println!("  peak RSS {name:<16} {} MiB", kib / 1024),
            None => println!("  peak RSS {name:<16} unknown"),
        }
    }
    println!("  ed25519 verify_strict     {verify_per_s:.0} per second on one core");
    println!(
        "  ratio                     {:.3} committed tx per single-core verification",
        tx_per_s / verify_per_s
    );
    if let Some(first) = refused.first() {
        println!("  first refusal: {first}");
    }
    if seen.len() < wanted.len() {
        println!(
            "  {} transactions were not seen committed within {} s",
            wanted.len() - seen.len(),
            args.timeout
        );
    }
    Ok(ExitCode::SUCCESS)
}
