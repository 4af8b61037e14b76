//! `xinbao audit`: check a chain, or one settlement, with nothing but the genesis file.
//!
//! - `verify` replays a chain file (or a node's chain, fetched and checked block by block)
//!   with the node's own checks (`contracts::audit`) and prints the verdict with counts
//!   and the rate of verification; exit status 1 names the first bad height and the fault.
//! - `report` verifies the same way and prints the settlement history: per programme each
//!   claim's split, due dates, payment and lateness and recoveries; totals per
//!   organisation; the regulator's views (policies against filed rates, overdue and late
//!   claims, loss and overdue ratios at each month end). Markdown, CSV or JSON.
//! - `prove` writes a settlement proof of one transaction (from a chain file or a node);
//!   `check-proof` checks one with the genesis alone.
//!
//! Exit status: 0 verified, 1 a fault found (the chain or proof does not verify), 2 the
//! command could not run (unreadable files, bad arguments, a node that cannot be reached).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use contracts::audit::history::History;
use contracts::audit::{AuditFailure, Auditor, Verdict};
use ledger::block::Outcome;
use ledger::crypto::Suite;
use ledger::evidence::DoubleVote;
use ledger::export::{ChainEntry, ChainHeader, ChainReader};
use ledger::genesis::Genesis;
use ledger::proof::{TxProof, PROOF_FILE_BYTES_MAX};
use ledger::tx::TxId;
use ledger::validators::ValidatorSet;
use ledger::Fen;
use serde_json::{json, Value};

use crate::chain::NodeChain;
use crate::files;
use crate::progress::Progress;
use crate::tls::ClientTls;

/// Exit status when the chain or the proof does not verify.
const EXIT_FAULT: u8 = 1;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify a whole chain from its genesis: certificates, links, signatures, receipts
    /// and state roots, block by block.
    Verify(VerifyArgs),
    /// Verify a chain and print its settlement history and the regulator's views.
    Report(ReportArgs),
    /// Write a settlement proof of one transaction: checkable with the genesis alone.
    Prove(ProveArgs),
    /// Check a settlement proof with the genesis alone.
    CheckProof(CheckProofArgs),
}

#[derive(Debug, Args)]
pub struct Source {
    /// The genesis file the chain must have started from.
    #[arg(long)]
    pub genesis: PathBuf,
    /// A chain file written by `xinbao chain export`.
    #[arg(long, conflicts_with = "node", required_unless_present = "node")]
    pub chain: Option<PathBuf>,
    /// A node's HTTP API: its chain is fetched and verified as it arrives.
    #[arg(long)]
    pub node: Option<String>,
    #[command(flatten)]
    pub tls: ClientTls,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: Source,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Md,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: Source,
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// Equivocation evidence to check and list: a node's `GET /v1/evidence` answer
    /// (`xinbao query evidence --json`) or a JSON array of double votes. Each piece is
    /// checked against the validators of its height as the chain gives them.
    #[arg(long)]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// A chain file to take the transaction from.
    #[arg(long, conflicts_with = "node", required_unless_present = "node")]
    pub chain: Option<PathBuf>,
    /// A node's HTTP API to take the transaction from.
    #[arg(long)]
    pub node: Option<String>,
    #[command(flatten)]
    pub tls: ClientTls,
    /// The transaction id (hex).
    #[arg(long)]
    pub tx: String,
    /// Where to write the proof (JSON); an existing file is not overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// When given, the proof is checked against this genesis before it is written.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// The genesis file of the consortium.
    #[arg(long)]
    pub genesis: PathBuf,
    /// The proof file.
    pub file: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(args) => verify(&args),
        AuditCommand::Report(args) => report(&args),
        AuditCommand::Prove(args) => prove(&args),
        AuditCommand::CheckProof(args) => check_proof(&args),
    }
}

fn load_genesis(path: &Path) -> anyhow::Result<Genesis> {
    Ok(Genesis::load(path)?)
}

type Entries = Box<dyn Iterator<Item = Result<ChainEntry, String>>>;

/// The file header and the entries of the chain to audit.
fn open_source(
    source: &Source,
    genesis: &Genesis,
) -> anyhow::Result<(ChainHeader, Entries, Option<u64>)> {
    if let Some(path) = &source.chain {
        let file = File::open(path).with_context(|| format!("{}", path.display()))?;
        let reader = ChainReader::open(BufReader::new(file))
            .with_context(|| format!("{}", path.display()))?;
        let header = reader.header().clone();
        let entries = reader.map(|r| r.map_err(|e| e.to_string()));
        return Ok((header, Box::new(entries), None));
    }
    let url = source
        .node
        .as_deref()
        .expect("clap requires --chain or --node");
    let node = NodeChain::new(url, &source.tls)?;
    let target = node.height()?;
    // The node's word is not taken for the genesis: block 1 must follow this one.
    let header = ChainHeader {
        chain_id: genesis.chain_id.clone(),
        crypto_suite: genesis.crypto_suite,
        genesis_hash: genesis.hash(),
        first_height: 1,
    };
    let entries = (1..=target).map(move |h| node.entry(h).map_err(|e| format!("{e:#}")));
    Ok((header, Box::new(entries), Some(target)))
}

/// Replays the chain with a progress line; `observe` sees each block.
fn replay(
    source: &Source,
    genesis: &Genesis,
    history: Option<&mut History>,
) -> anyhow::Result<(Result<Verdict, AuditFailure>, f64)> {
    replay_with_sets(source, genesis, history, &mut BTreeMap::new())
}

/// [`replay`], also recording the validator set of each height that `sets` asks for (its
/// keys), as the chain gives it.
fn replay_with_sets(
    source: &Source,
    genesis: &Genesis,
    mut history: Option<&mut History>,
    sets: &mut BTreeMap<u64, Option<ValidatorSet>>,
) -> anyhow::Result<(Result<Verdict, AuditFailure>, f64)> {
    let (header, entries, target) = open_source(source, genesis)?;
    let started = Instant::now();
    let mut progress = Progress::new("verified", "blocks", target);
    let result = (|| {
        let mut auditor = Auditor::new(genesis, &header)?;
        // Signatures are verified ahead on a second thread while blocks execute here.
        contracts::audit::replay(
            &mut auditor,
            entries,
            |before, done| {
                if let Some(h) = history.as_deref_mut() {
                    h.observe(before, done);
                }
                let height = done.entry.block.header.height;
                if let Some(slot) = sets.get_mut(&height) {
                    *slot = contracts::chain::height_config(before, height)
                        .roster
                        .validator_set()
                        .ok();
                }
            },
            |p| progress.set(p.height, || format!("{} transactions", p.txs)),
        )?;
        auditor.finish()
    })();
    Ok((result, started.elapsed().as_secs_f64()))
}

fn rate(count: u64, seconds: f64) -> f64 {
    count as f64 / seconds.max(1e-9)
}

fn failure_json(failure: &AuditFailure) -> Value {
    json!({
        "verified": false,
        "height": failure.height(),
        "fault": failure.kind(),
        "reason": failure.to_string(),
    })
}

fn print_failure(failure: &AuditFailure, as_json: bool) -> ExitCode {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&failure_json(failure)).expect("JSON")
        );
    } else {
        match failure.height() {
            Some(h) => println!("NOT VERIFIED: first bad height {h}: {failure}"),
            None => println!("NOT VERIFIED: {failure}"),
        }
    }
    eprintln!("audit failed ({}): {failure}", failure.kind());
    ExitCode::from(EXIT_FAULT)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let genesis = load_genesis(&args.source.genesis)?;
    // R11.1: what the founders approved (the chain's checks do not depend on it).
    let approvals = ledger::genesis::GenesisFile::load(&args.source.genesis)?.approval_status();
    let (result, seconds) = replay(&args.source, &genesis, None)?;
    let verdict = match result {
        Ok(v) => v,
        Err(failure) => return Ok(print_failure(&failure, args.json)),
    };
    let by_code: BTreeMap<&str, u64> = verdict
        .rejected_by_code
        .iter()
        .map(|(c, n)| (c.as_str(), *n))
        .collect();
    if args.json {
        let doc = json!({
            "verified": true,
            "chain_id": verdict.chain_id.as_str(),
            "genesis_hash": hex::encode(verdict.genesis_hash),
            "height": verdict.height,
            "last_block_id": verdict.last_block_id.to_string(),
            "state_root": hex::encode(verdict.state_root),
            "date": verdict.date.map(|d| d.to_string()),
            "blocks": verdict.blocks,
            "txs": verdict.txs,
            "accepted": verdict.accepted,
            "rejected": verdict.txs - verdict.accepted,
            "rejected_by_code": by_code,
            "seconds": seconds,
            "blocks_per_second": rate(verdict.blocks, seconds),
            "txs_per_second": rate(verdict.txs, seconds),
            "founders_approved": approvals.complete(),
            "founders_missing": approvals.missing.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            "validator_sets": verdict.validator_sets.iter().map(|(h, n)| json!({"from_height": h, "validators": n})).collect::<Vec<_>>(),
            "eras": verdict.eras.iter().map(|(v, h)| json!({"protocol_version": v, "from_height": h})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "VERIFIED: chain {} from genesis {}",
        verdict.chain_id,
        hex::encode(verdict.genesis_hash)
    );
    println!(
        "  {} blocks (heights 1 to {}), {} transactions: {} accepted, {} rejected by the rules",
        verdict.blocks,
        verdict.height,
        verdict.txs,
        verdict.accepted,
        verdict.txs - verdict.accepted
    );
    for (code, n) in &by_code {
        println!("    {code}: {n}");
    }
    if let Some(date) = verdict.date {
        println!("  last block {} dated {date}", verdict.last_block_id);
    }
    println!("  state root {}", hex::encode(verdict.state_root));
    if approvals.complete() {
        println!("  genesis approved by every founder");
    } else {
        let missing: Vec<&str> = approvals.missing.iter().map(|o| o.as_str()).collect();
        println!(
            "  warning: the genesis file lacks approvals (missing: {}; invalid: {})",
            if missing.is_empty() {
                "none".into()
            } else {
                missing.join(", ")
            },
            approvals.invalid.len()
        );
    }
    if verdict.validator_sets.is_empty() {
        println!("  every block decided by the genesis validators");
    } else {
        for (height, count) in &verdict.validator_sets {
            println!("  from height {height}: {count} validators, as governance changed them");
        }
    }
    for (version, height) in &verdict.eras {
        println!("  from height {height}: protocol version {version}");
    }
    println!(
        "  checked in {seconds:.3} s: {:.0} transactions/s, {:.0} blocks/s",
        rate(verdict.txs, seconds),
        rate(verdict.blocks, seconds)
    );
    Ok(ExitCode::SUCCESS)
}

fn report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let genesis = load_genesis(&args.source.genesis)?;
    let evidence = match &args.evidence {
        Some(path) => read_evidence(path)?,
        None => Vec::new(),
    };
    let mut sets: BTreeMap<u64, Option<ValidatorSet>> =
        evidence.iter().map(|e| (e.height(), None)).collect();
    let mut history = History::new();
    let (result, _) = replay_with_sets(&args.source, &genesis, Some(&mut history), &mut sets)?;
    let verdict = match result {
        Ok(v) => v,
        Err(failure) => return Ok(print_failure(&failure, args.format == Format::Json)),
    };
    let mut doc = history.finish(&verdict);
    if args.evidence.is_some() {
        doc["equivocations"] = equivocations(&genesis, &evidence, &sets, &verdict);
    }
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&doc)? + "\n",
        Format::Csv => csv(&doc),
        Format::Md => markdown(&doc),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Most bytes of an evidence file.
const EVIDENCE_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;

fn read_evidence(path: &Path) -> anyhow::Result<Vec<DoubleVote>> {
    let bytes = files::read_bounded(path, EVIDENCE_FILE_BYTES_MAX)?;
    let value: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", path.display()))?;
    let list = value.get("evidence").cloned().unwrap_or(value);
    serde_json::from_value(list).with_context(|| {
        format!(
            "{}: not a list of double votes (a node's GET /v1/evidence answer)",
            path.display()
        )
    })
}

/// Each piece of evidence, checked with the chain's validators of its height: the
/// report lists what is proven and says why the rest is not.
fn equivocations(
    genesis: &Genesis,
    evidence: &[DoubleVote],
    sets: &BTreeMap<u64, Option<ValidatorSet>>,
    verdict: &Verdict,
) -> Value {
    let org_of = |key: &ledger::crypto::PublicKey| {
        contracts::chain::height_config(&verdict.state, verdict.height + 1)
            .roster
            .get(key)
            .map(|n| n.org.to_string())
            .or_else(|| {
                genesis
                    .validators
                    .iter()
                    .find(|v| v.consensus_key == *key)
                    .map(|v| v.org.to_string())
            })
    };
    let items: Vec<Value> = evidence
        .iter()
        .map(|piece| {
            let checked = match sets.get(&piece.height()).cloned().flatten() {
                Some(set) => piece
                    .verify(&genesis.chain_id, &set)
                    .map_err(|e| e.to_string()),
                None => Err(format!(
                    "height {} is not in the chain verified (to {})",
                    piece.height(),
                    verdict.height
                )),
            };
            json!({
                "height": piece.height(),
                "round": piece.first.round,
                "kind": format!("{:?}", piece.first.kind),
                "validator": piece.validator().to_hex(),
                "org": org_of(&piece.validator()),
                "first": piece.first.block_id.map(|b| b.to_hex()),
                "second": piece.second.block_id.map(|b| b.to_hex()),
                "proven": checked.is_ok(),
                "reason": checked.err(),
            })
        })
        .collect();
    Value::Array(items)
}

/// The entry of a chain file that holds transaction `id`, its index there, and the file's
/// crypto suite.
fn find_in_file(path: &Path, id: &TxId) -> anyhow::Result<(ChainEntry, usize, Suite)> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    let reader =
        ChainReader::open(BufReader::new(file)).with_context(|| format!("{}", path.display()))?;
    let suite = reader.header().crypto_suite;
    for entry in reader {
        let entry = entry.with_context(|| format!("{}", path.display()))?;
        if let Some(index) = entry.block.txs.iter().position(|tx| tx.id(suite) == *id) {
            return Ok((entry, index, suite));
        }
    }
    bail!("transaction {id} is not in {}", path.display())
}

fn prove(args: &ProveArgs) -> anyhow::Result<ExitCode> {
    let id = TxId::try_from(args.tx.trim().to_string())
        .map_err(|e| anyhow::anyhow!("--tx {}: {e}", args.tx))?;
    let (entry, index, suite) = match (&args.chain, &args.node) {
        (Some(path), _) => find_in_file(path, &id)?,
        (None, Some(url)) => {
            let node = NodeChain::new(url, &args.tls)?;
            let (height, index) = node.tx_location(&id)?;
            (node.entry(height)?, index, node.status()?.crypto_suite)
        }
        (None, None) => bail!("give --chain FILE or --node URL"),
    };
    let proof = TxProof::from_entry(suite, &entry, index).with_context(|| {
        format!(
            "block {} has no transaction {index} with a receipt",
            entry.height()
        )
    })?;
    // After governance changed the validators, the proof carries each change before its
    // block, so it checks with the genesis alone.
    let changes = match (&args.chain, &args.node) {
        (Some(path), _) => roster_changes_in_file(suite, path, entry.height())?,
        (None, Some(url)) => {
            let node = NodeChain::new(url, &args.tls)?;
            let mut proofs = Vec::new();
            for (height, index) in node.roster_changes_below(entry.height())? {
                let change_entry = node.entry(height)?;
                proofs.push(
                    TxProof::from_entry(suite, &change_entry, index).with_context(|| {
                        format!("block {height} has no transaction {index} with a receipt")
                    })?,
                );
            }
            proofs
        }
        (None, None) => Vec::new(),
    };
    let carried = changes.len();
    let proof = proof.with_validator_changes(changes);
    if proof.tx.id(suite) != id {
        bail!(
            "the block's transaction {index} is {}, not {id}",
            proof.tx.id(suite)
        );
    }
    if let Some(path) = &args.genesis {
        let genesis = load_genesis(path)?;
        if let Err(error) = proof.verify(&genesis) {
            println!("NOT PROVEN: {error}");
            return Ok(ExitCode::from(EXIT_FAULT));
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.out)
        .with_context(|| format!("{}", args.out.display()))?;
    std::io::Write::write_all(&mut file, proof.to_json().as_bytes())?;
    file.sync_all()?;
    println!(
        "{}: proof of transaction {id} at height {}, index {index}{}",
        args.out.display(),
        entry.height(),
        if carried > 0 {
            format!(", carrying the {carried} validator changes before it")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The proofs of the accepted roster changes of a chain file below `height`.
fn roster_changes_in_file(suite: Suite, path: &Path, height: u64) -> anyhow::Result<Vec<TxProof>> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    let reader =
        ChainReader::open(BufReader::new(file)).with_context(|| format!("{}", path.display()))?;
    let mut proofs = Vec::new();
    for entry in reader {
        let entry = entry.with_context(|| format!("{}", path.display()))?;
        if entry.height() >= height {
            break;
        }
        proofs.extend(TxProof::roster_changes_of(suite, &entry));
    }
    Ok(proofs)
}

fn check_proof(args: &CheckProofArgs) -> anyhow::Result<ExitCode> {
    let genesis = load_genesis(&args.genesis)?;
    let bytes = files::read_bounded(&args.file, PROOF_FILE_BYTES_MAX as u64)?;
    let result = TxProof::from_json(&bytes).and_then(|proof| {
        let proven = proof.verify(&genesis)?;
        Ok((proof, proven))
    });
    let (proof, proven) = match result {
        Ok(ok) => ok,
        Err(error) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"proven": false, "reason": error.to_string()})
                    )?
                );
            } else {
                println!("NOT PROVEN: {error}");
            }
            eprintln!("proof refused: {error}");
            return Ok(ExitCode::from(EXIT_FAULT));
        }
    };
    let outcome = match proven.outcome {
        Outcome::Accepted => "accepted".to_string(),
        Outcome::Rejected(code) => format!("rejected by the rules: {code}"),
    };
    let signers: Vec<Value> = proven
        .signers
        .iter()
        .map(|(key, org)| json!({"key": key.to_string(), "organisation": org.as_ref().map(|o| o.as_str())}))
        .collect();
    if args.json {
        let doc = json!({
            "proven": true,
            "chain_id": proven.chain_id.as_str(),
            "height": proven.height,
            "block_id": proven.block_id.to_string(),
            "date": proven.date.map(|d| d.to_string()),
            "time_ms": proven.time_ms,
            "tx_id": proven.tx_id.to_string(),
            "outcome": outcome,
            "signers": signers,
            "tx": serde_json::to_value(&proof.tx)?,
            "validator_changes": proven.validator_changes.iter().map(|(h, id)| json!({"height": h, "tx_id": id.to_string()})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "PROVEN: transaction {} on chain {}",
        proven.tx_id, proven.chain_id
    );
    println!(
        "  committed at height {} (block {}){}",
        proven.height,
        proven.block_id,
        proven
            .date
            .map_or(String::new(), |d| format!(", dated {d}"))
    );
    println!("  outcome: {outcome}");
    println!(
        "  action: {}",
        serde_json::to_string(&proof.tx.body.action)?
    );
    for (key, org) in &proven.signers {
        match org {
            Some(org) => println!("  signed by {org} (key {key})"),
            None => println!("  signed by key {key} (registered after the genesis)"),
        }
    }
    if proven.validator_changes.is_empty() {
        println!("  certified by the genesis validators");
    } else {
        println!(
            "  certified by the validators the genesis and the {} validator changes the proof \
             carries give for its height:",
            proven.validator_changes.len()
        );
        for (height, id) in &proven.validator_changes {
            println!("    change at height {height}: tx {id}");
        }
        println!(
            "  (checked with the genesis alone, a proof trusts that validators who left the \
             set did not later certify a false history together; audit verify does not)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

// Rendering of the report document.

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

fn yuan(v: &Value) -> String {
    match v.as_u64() {
        Some(fen) => Fen(fen).to_string(),
        None => text(v),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    }
}

fn pct(v: &Value) -> String {
    match v.as_u64() {
        Some(b) => format!("{}.{:02}%", b / 100, b % 100),
        None => text(v),
    }
}

fn objects(v: &Value) -> Vec<(String, Value)> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// R12: the protocol eras, each with the upgrade that began it and its approvers.
fn eras_markdown(doc: &Value, s: &mut String) {
    let eras = list(field(doc, "eras"));
    if eras.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Protocol eras\n");
    let _ = writeln!(
        s,
        "| version | from height | scheduled at height | scheduled by tx | approved by |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---|---|");
    for era in &eras {
        let approvers: Vec<String> = list(field(era, "approved_by")).iter().map(text).collect();
        let scheduled = |key: &str| match field(era, key) {
            Value::Null => "genesis".to_string(),
            v => text(v),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            text(field(era, "version")),
            text(field(era, "first_height")),
            scheduled("scheduled_height"),
            scheduled("scheduled_by_tx"),
            if approvers.is_empty() {
                "—".to_string()
            } else {
                approvers.join(", ")
            },
        );
    }
    let _ = writeln!(s);
}

fn markdown(doc: &Value) -> String {
    let mut s = String::new();
    chain_markdown(doc, &mut s);
    programmes_markdown(doc, &mut s);
    equivocations_markdown(doc, &mut s);
    eras_markdown(doc, &mut s);
    governance_markdown(doc, &mut s);
    organisations_markdown(doc, &mut s);
    regulator_markdown(doc, &mut s);
    s
}

/// The report's title and what was verified.
fn chain_markdown(doc: &Value, s: &mut String) {
    let chain = field(doc, "chain");
    let _ = writeln!(
        s,
        "# Audit report: chain {}\n",
        text(field(chain, "chain_id"))
    );
    let _ = writeln!(
        s,
        "Verified from the genesis ({}) to height {} (block {}), dated {}: {} blocks, {} transactions, {} accepted. State root {}. Amounts in yuan.\n",
        text(field(chain, "genesis_hash")),
        text(field(chain, "height")),
        text(field(chain, "last_block_id")),
        text(field(chain, "date")),
        text(field(chain, "blocks")),
        text(field(chain, "txs")),
        text(field(chain, "accepted")),
        text(field(chain, "state_root")),
    );
}

/// Each programme: its parties, figures and claims.
fn programmes_markdown(doc: &Value, s: &mut String) {
    for (id, p) in objects(field(doc, "programmes")) {
        let _ = writeln!(s, "## Programme {id}: {}\n", text(field(&p, "name")));
        let banks: Vec<String> = list(field(&p, "banks")).iter().map(text).collect();
        let split = field(&p, "split");
        let _ = writeln!(
            s,
            "Government {} (fund {}), insurer {}, banks {}, reinsurer {}. Split bank/insurer/fund {}/{}/{}. Status {}.\n",
            text(field(&p, "government")),
            text(field(&p, "fund")),
            text(field(&p, "insurer")),
            banks.join(", "),
            text(field(&p, "reinsurer")),
            pct(field(split, "bank_bps")),
            pct(field(split, "insurer_bps")),
            pct(field(split, "fund_bps")),
            text(field(&p, "status")),
        );
        let _ = writeln!(s, "| premium written | claims gross | loss ratio | outstanding | overdue | overdue ratio | warnings |");
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---|");
        let warnings: Vec<String> = list(field(&p, "warnings")).iter().map(text).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            yuan(field(&p, "premium_written_fen")),
            yuan(field(&p, "claims_gross_fen")),
            pct(field(&p, "loss_ratio_bps")),
            yuan(field(&p, "outstanding_principal_fen")),
            yuan(field(&p, "overdue_principal_fen")),
            pct(field(&p, "overdue_ratio_bps")),
            if warnings.is_empty() {
                "none".to_string()
            } else {
                warnings.join(", ")
            },
        );
        let claims = objects(field(&p, "claims"));
        if claims.is_empty() {
            let _ = writeln!(s, "No claims.\n");
            continue;
        }
        let _ = writeln!(s, "### Claims\n");
        let _ = writeln!(s, "| claim | loan | status | loss | bank retains | insurer pays bank | fund | fund shortfall | reinsurer | insurer retains | decision due | payment due | paid | late | recovered |");
        let _ = writeln!(
            s,
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|---:|"
        );
        for (cid, c) in &claims {
            let _ = writeln!(
                s,
                "| {cid} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                text(field(c, "loan")),
                text(field(c, "status")),
                yuan(field(c, "loss_fen")),
                yuan(field(c, "bank_retained_fen")),
                yuan(field(c, "insurer_pays_bank_fen")),
                yuan(field(c, "fund_fen")),
                yuan(field(c, "fund_shortfall_fen")),
                yuan(field(c, "reinsurer_fen")),
                yuan(field(c, "insurer_retained_fen")),
                text(field(c, "decision_due")),
                text(field(c, "payment_due")),
                text(field(c, "paid")),
                text(field(c, "late")),
                yuan(field(c, "recovered_fen")),
            );
        }
        let _ = writeln!(s);
        for (cid, c) in &claims {
            let _ = writeln!(s, "Claim {cid}, history:\n");
            for e in list(field(c, "events")) {
                let mut line = format!(
                    "- {} (height {}): {} {}",
                    text(field(&e, "date")),
                    text(field(&e, "height")),
                    text(field(&e, "type")),
                    text(field(&e, "outcome")),
                );
                if let Some(r) = e.get("recovery") {
                    let _ = write!(
                        line,
                        ", {} recovered: bank {}, insurer {}, fund {}, reinsurer {}",
                        yuan(field(&e, "amount_fen")),
                        yuan(field(r, "bank_fen")),
                        yuan(field(r, "insurer_fen")),
                        yuan(field(r, "fund_fen")),
                        yuan(field(r, "reinsurer_fen")),
                    );
                }
                let _ = writeln!(s, "{line}; tx {}", text(field(&e, "tx")));
            }
            let _ = writeln!(s);
        }
    }
}

/// The equivocation evidence proven from the genesis, if any.
fn equivocations_markdown(doc: &Value, s: &mut String) {
    let equivocations = list(field(doc, "equivocations"));
    if !equivocations.is_empty() {
        let _ = writeln!(s, "## Equivocation\n");
        let _ = writeln!(
            s,
            "| height | round | vote | validator | organisation | first value | second value | proven |"
        );
        let _ = writeln!(s, "|---:|---:|---|---|---|---|---|---|");
        for e in &equivocations {
            let proven = if field(e, "proven") == true {
                "yes".to_string()
            } else {
                format!("no: {}", text(field(e, "reason")))
            };
            let value = |v: &Value| {
                if v.is_null() {
                    "nil".to_string()
                } else {
                    text(v)
                }
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {proven} |",
                text(field(e, "height")),
                text(field(e, "round")),
                text(field(e, "kind")),
                text(field(e, "validator")),
                text(field(e, "org")),
                value(field(e, "first")),
                value(field(e, "second")),
            );
        }
        let _ = writeln!(s);
    }
}

/// R11: the governance transactions, if any.
fn governance_markdown(doc: &Value, s: &mut String) {
    let governance = list(field(doc, "governance"));
    if !governance.is_empty() {
        let _ = writeln!(s, "## Governance\n");
        let _ = writeln!(
            s,
            "| height | date | change | outcome | approved by | governs from | tx |"
        );
        let _ = writeln!(s, "|---:|---|---|---|---|---:|---|");
        for g in &governance {
            let outcome = if field(g, "outcome") == "accepted" {
                "accepted".to_string()
            } else {
                format!("rejected {}", text(field(g, "code")))
            };
            let approvers: Vec<String> = list(field(g, "approved_by")).iter().map(text).collect();
            let change = serde_json::to_string(field(g, "change")).unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {} | {} {} | {outcome} | {} | {} | {} |",
                text(field(g, "height")),
                text(field(g, "date")),
                text(field(g, "type")),
                change.replace('|', "\\|"),
                if approvers.is_empty() {
                    "—".to_string()
                } else {
                    approvers.join(", ")
                },
                text(field(g, "effective_height")),
                text(field(g, "tx")),
            );
        }
        let _ = writeln!(s);
    }
}

/// The totals per organisation.
fn organisations_markdown(doc: &Value, s: &mut String) {
    let _ = writeln!(s, "## Totals per organisation\n");
    let _ = writeln!(s, "| organisation | kind | premiums written | premiums on its loans | subsidies paid | claims paid | claims received | fund compensation | reinsurance | losses retained | recoveries |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (org, t) in objects(field(doc, "organisations")) {
        let _ = writeln!(
            s,
            "| {org} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            if field(&t, "removed") == &Value::Bool(true) {
                format!("{} (removed)", text(field(&t, "kind")))
            } else {
                text(field(&t, "kind"))
            },
            yuan(field(&t, "premiums_written_fen")),
            yuan(field(&t, "premiums_on_loans_fen")),
            yuan(field(&t, "subsidies_paid_fen")),
            yuan(field(&t, "claims_paid_fen")),
            yuan(field(&t, "claims_received_fen")),
            yuan(field(&t, "fund_compensation_fen")),
            yuan(field(&t, "reinsurance_fen")),
            yuan(field(&t, "losses_retained_fen")),
            yuan(field(&t, "recoveries_fen")),
        );
    }
}

/// The regulator's view: policies against filed rates, refusals, late claims, month ends.
fn regulator_markdown(doc: &Value, s: &mut String) {
    let chain = field(doc, "chain");
    let regulator = field(doc, "regulator");
    let _ = writeln!(s, "\n## Regulator\n\n### Policies against filed rates\n");
    let _ = writeln!(s, "| policy | programme | insurer | product | issued | premium rate | premium | filed | filing |");
    let _ = writeln!(s, "|---|---|---|---|---|---:|---:|---|---|");
    for p in list(field(regulator, "policies")) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            text(field(&p, "policy")),
            text(field(&p, "programme")),
            text(field(&p, "insurer")),
            text(field(&p, "product")),
            text(field(&p, "issued")),
            pct(field(&p, "premium_rate_bps")),
            yuan(field(&p, "premium_fen")),
            if field(&p, "filed") == &Value::Bool(true) {
                "yes"
            } else {
                "NO"
            },
            text(field(&p, "filing_ref")),
        );
    }
    let refusals = list(field(regulator, "rate_refusals"));
    let _ = writeln!(
        s,
        "\nPolicies the rules refused for their rates: {}",
        refusals.len()
    );
    for r in refusals {
        let _ = writeln!(
            s,
            "- {} policy {} of {} at premium rate {}: {} (height {})",
            text(field(&r, "date")),
            text(field(&r, "policy")),
            text(field(&r, "programme")),
            pct(field(&r, "premium_rate_bps")),
            text(field(&r, "code")),
            text(field(&r, "height")),
        );
    }
    let join = |v: &Value| {
        let items: Vec<String> = list(v).iter().map(text).collect();
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let _ = writeln!(
        s,
        "\n### Claims\n\nOverdue as of {}: {}  ",
        text(field(chain, "date")),
        join(field(regulator, "overdue_claims"))
    );
    let _ = writeln!(s, "Paid late: {}\n", join(field(regulator, "late_claims")));
    let _ = writeln!(s, "### Month ends\n");
    let _ = writeln!(s, "| month | as of | programme | loss ratio | overdue ratio | premium written | claims gross | outstanding | overdue | overdue claims |");
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---:|---|");
    for m in list(field(regulator, "monthly")) {
        for (id, p) in objects(field(&m, "programmes")) {
            let _ = writeln!(
                s,
                "| {} | {} | {id} | {} | {} | {} | {} | {} | {} | {} |",
                text(field(&m, "month")),
                text(field(&m, "as_of")),
                pct(field(&p, "loss_ratio_bps")),
                pct(field(&p, "overdue_ratio_bps")),
                yuan(field(&p, "premium_written_fen")),
                yuan(field(&p, "claims_gross_fen")),
                yuan(field(&p, "outstanding_principal_fen")),
                yuan(field(&p, "overdue_principal_fen")),
                join(field(&m, "overdue_claims")),
            );
        }
    }
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn flatten(path: &str, v: &Value, rows: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                flatten(&format!("{path}.{k}"), child, rows);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let joined: Vec<String> = items.iter().map(text).collect();
            rows.push((path.to_string(), joined.join(" ")));
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{path}.{i}"), child, rows);
            }
        }
        Value::Null => rows.push((path.to_string(), String::new())),
        other => rows.push((path.to_string(), text(other))),
    }
}

/// One row per figure: `section,path,value`, amounts in fen and ratios in bps as in R10.
fn csv(doc: &Value) -> String {
    let mut s = String::from("section,path,value\n");
    for (section, v) in objects(doc) {
        let mut rows = Vec::new();
        flatten("", &v, &mut rows);
        for (path, value) in rows {
            let _ = writeln!(
                s,
                "{},{},{}",
                csv_cell(&section),
                csv_cell(path.trim_start_matches('.')),
                csv_cell(&value)
            );
        }
    }
    s
}
