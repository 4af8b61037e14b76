//! `xinbao query`: what a node knows: its status, a transaction, a block, the state.
//!
//! Human text by default; `--json` prints the node's JSON answer unchanged, for machines.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use ledger::tx::TxId;
use serde_json::Value;

use crate::node_client::{NodeClient, TxStatus};
use crate::tls::ClientTls;

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(subcommand)]
    what: What,
    /// The node's API address, e.g. http://127.0.0.1:28000.
    #[arg(
        long,
        value_name = "URL",
        global = true,
        default_value = "http://127.0.0.1:28000"
    )]
    node: String,
    /// Print the node's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    tls: ClientTls,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Chain id, height, latest block id, state root, validators and peers.
    Status,
    /// A transaction: pending, or committed at a height with its receipt.
    Tx {
        /// The transaction id (hex).
        id: String,
    },
    /// The block at a height.
    Block { height: u64 },
    /// The settlement figures of the current state (the R10 result document).
    State,
    /// The equivocation this node saw: validators that signed two votes in one round
    /// (`--json` gives the file `audit report --evidence` checks).
    Evidence,
    /// The node's metrics (Prometheus text).
    Metrics,
    /// Whether the node answers (exit 0) or not (exit 1).
    Health,
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let client = NodeClient::connect(&args.node, &args.tls)?;
    match args.what {
        What::Status => {
            let raw = client.status_json()?;
            if args.json {
                print_json(&raw)?;
            } else {
                print_status(&raw)?;
            }
        }
        What::Tx { id } => {
            let id = TxId::from_hex(&id).context("a transaction id is 64 hex digits")?;
            let raw = client.tx_json(&id)?;
            if args.json {
                print_json(&raw)?;
            } else {
                print_tx(&id, &raw)?;
            }
        }
        What::Block { height } => {
            let raw = client.block(height)?;
            if args.json {
                print_json(&raw)?;
            } else {
                print_block(&raw)?;
            }
        }
        What::State => {
            let doc = client.state()?;
            if args.json {
                print_json(&doc)?;
            } else {
                print_state(&client, &doc)?;
            }
        }
        What::Evidence => {
            let raw = client.evidence()?;
            if args.json {
                print_json(&raw)?;
            } else {
                print_evidence(&client, &raw);
            }
        }
        What::Metrics => print!("{}", client.metrics()?),
        What::Health => {
            if client.health() {
                println!("{}: healthy", client.base());
            } else {
                println!("{}: not answering", client.base());
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A transaction's status, in a line.
fn print_tx(id: &TxId, raw: &Value) -> anyhow::Result<()> {
    match TxStatus::from_json(raw)? {
        TxStatus::Pending => println!("{id}: pending"),
        TxStatus::Unknown => println!("{id}: unknown to this node"),
        TxStatus::Committed { height, code: None } => {
            println!("{id}: committed at height {height}, accepted")
        }
        TxStatus::Committed {
            height,
            code: Some(code),
        } => println!("{id}: committed at height {height}, rejected ({code})"),
    }
    Ok(())
}

/// The node's state document in figures, as a scenario's summary gives them.
fn print_state(client: &NodeClient, doc: &Value) -> anyhow::Result<()> {
    let status = client.status()?;
    println!(
        "State of {} at height {} (as of {}), state root {}",
        client.base(),
        status.height,
        shown(doc.get("date")),
        hex::encode(status.state_root)
    );
    let summary = state_summary(
        doc,
        &hex::encode(status.state_root),
        status.protocol_version,
    );
    // The figures only: the run's header and its rejected steps are a
    // scenario's, not a node's.
    let figures = summary
        .split_once("\nProgrammes")
        .map_or(summary.as_str(), |(_, rest)| rest);
    let figures = figures
        .split_once("\nRejected steps")
        .map_or(figures, |(head, _)| head);
    print!("\nProgrammes{figures}");
    Ok(())
}

/// The equivocation evidence the node keeps, a line a piece.
fn print_evidence(client: &NodeClient, raw: &Value) {
    let list = raw["evidence"].as_array().cloned().unwrap_or_default();
    println!(
        "{}: {} pieces of equivocation evidence",
        client.base(),
        list.len()
    );
    for e in &list {
        let value = |v: &Value| v.as_str().unwrap_or("nil").to_string();
        println!(
            "  height {} round {} {}: validator {} voted {} and {}",
            e["first"]["height"],
            e["first"]["round"],
            e["first"]["kind"].as_str().unwrap_or("?"),
            e["first"]["voter"].as_str().unwrap_or("?"),
            value(&e["first"]["block_id"]),
            value(&e["second"]["block_id"]),
        );
    }
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "—".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn print_status(raw: &Value) -> anyhow::Result<()> {
    let status: ledger::api::StatusView = serde_json::from_value(raw.clone())
        .with_context(|| format!("not a node's status: {raw}"))?;
    println!("chain:        {}", status.chain_id);
    println!("height:       {}", status.height);
    println!("latest block: {}", hex::encode(status.latest_block_id));
    println!("state root:   {}", hex::encode(status.state_root));
    println!(
        "protocol:     version {} (next height: {}); this node runs {}",
        status.protocol_version,
        status.next_protocol_version,
        status
            .supported_versions
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(up) = &status.pending_upgrade {
        println!(
            "upgrade:      version {} from height {} (scheduled at height {})",
            up.version, up.activation_height, up.scheduled_height
        );
    }
    println!(
        "params:       upgrade lead {} heights{}",
        status.params.upgrade_lead_heights,
        status
            .params
            .obligor_limit_fen
            .map_or(String::new(), |f| format!(", obligor limit {f} yuan"))
    );
    println!("validators:   {}", status.validators.len());
    for v in &status.validators {
        println!("  {} ({}) power {}", v.consensus_key, v.org, v.voting_power);
    }
    println!("peers:        {}", status.peers.len());
    for p in &status.peers {
        println!("  {p}");
    }
    Ok(())
}

fn print_block(raw: &Value) -> anyhow::Result<()> {
    let view: ledger::api::BlockView =
        serde_json::from_value(raw.clone()).with_context(|| format!("not a block: {raw}"))?;
    let header = &view.header;
    let hash = hex::encode;
    println!("{:<19} {}", "height", header.height);
    println!("{:<19} {}", "protocol_version", header.protocol_version);
    println!("{:<19} {}", "time_ms", header.time_ms);
    println!("{:<19} {}", "previous", header.previous);
    println!("{:<19} {}", "tx_root", hash(header.tx_root));
    println!("{:<19} {}", "receipts_root", hash(header.receipts_root));
    println!("{:<19} {}", "state_root", hash(header.state_root));
    println!(
        "{:<19} {}",
        "validator_set_hash",
        hash(header.validator_set_hash)
    );
    println!("{:<19} {}", "proposer", header.proposer.to_hex());
    println!("{:<19} {}", "id", hash(view.summary.block_id));
    println!("transactions        {}", view.block.txs.len());
    let orgs: Vec<String> = view
        .signed_by
        .iter()
        .map(|s| s.org.as_ref().map_or("—".to_string(), |o| o.to_string()))
        .collect();
    println!("{:<19} {}", "signed by", orgs.join(", "));
    for tx in &view.transactions {
        println!(
            "  {} {:<20} {:?}{}",
            tx.tx_id,
            tx.type_name,
            tx.outcome,
            tx.code
                .map_or(String::new(), |c| format!(" ({})", c.as_str()))
        );
    }
    Ok(())
}

/// The readable settlement summary of a network's R10 document, with the node's state
/// root in place of the offline runner's.
pub fn state_summary(doc: &Value, state_root_hex: &str, protocol_version: u32) -> String {
    let mut root = [0u8; 32];
    let _ = hex::decode_to_slice(state_root_hex, &mut root);
    let date = doc
        .get("date")
        .and_then(Value::as_str)
        .and_then(|d| d.parse().ok());
    let rejected: Vec<contracts::Rejected> = doc
        .get("rejected")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|r| {
                    let step = r.get("step")?.as_u64()?;
                    let code = serde_json::from_value(r.get("code")?.clone()).ok()?;
                    Some(contracts::Rejected { step, code })
                })
                .collect()
        })
        .unwrap_or_default();
    let outcome = contracts::scenario::Outcome {
        result: doc.clone(),
        mismatches: Vec::new(),
        has_expect: false,
        protocol_version,
        state_root: root,
        description: None,
        date,
        steps: 0,
        step_types: Vec::new(),
        rejected,
        decisions: Vec::new(),
        store: ledger::state::MemoryStore::new(),
    };
    contracts::scenario::summary(&outcome)
}
