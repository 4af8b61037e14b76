//! `xinbao chain export`: a node's committed history into a chain file, and the client of
//! the node endpoints that serve it.
//!
//! The node serves, over plain HTTP:
//! - `GET {URL}/v1/status` → [`ledger::api::StatusView`]: the last committed height, the
//!   chain id and the genesis hash;
//! - `GET {URL}/v1/chain/{height}` → `application/octet-stream`, the canonical encoding of
//!   one [`ChainEntry`] `{block, certificate, receipts}`, exactly the bytes a chain file
//!   holds after each entry's length prefix;
//! - `GET {URL}/v1/tx/{id}` → [`ledger::api::TxStatusView`], with the height and index
//!   once the transaction is committed.
//!
//! A node that does not serve `/v1/chain/{height}` (an empty 404) is read through its JSON
//! block view, `GET {URL}/v1/blocks/{height}` → `{block, certificate, receipts}`, and the
//! entry re-encoded canonically; the audit checks it the same way.
//!
//! Nothing the node says is trusted: an export is only bytes in a file until `xinbao audit
//! verify` has checked it against the genesis. An export can be interrupted and run
//! again: it continues after the last whole entry of the file, cutting off a torn tail.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use ledger::api::{BlockView, GovernanceView, StatusView, TxStatusView};
use ledger::block::Receipt;
use ledger::export::{ChainEntry, ChainHeader, ChainReader, ChainWriter, ENTRY_BYTES_MAX};
use ledger::tx::TxId;
use serde_json::Value;

use crate::node_client::NodeClient;
use crate::progress::Progress;
use crate::tls::ClientTls;

/// One request may take this long (a block of the largest size, as JSON, included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A JSON answer is at most this long.
const JSON_BYTES_MAX: u64 = 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Copy a node's committed blocks, certificates and receipts into a chain file.
    ///
    /// An existing file is continued after its last whole entry.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The node's HTTP API, for example http://127.0.0.1:28000.
    #[arg(long)]
    pub node: String,
    /// The chain file to write or extend.
    #[arg(long)]
    pub out: PathBuf,
    /// The first height to export (a new file only; an existing file continues where it
    /// ends). An audit needs a file that starts at height 1.
    #[arg(long)]
    pub from: Option<u64>,
    /// The last height to export (default: the node's committed height).
    #[arg(long)]
    pub to: Option<u64>,
    #[command(flatten)]
    pub tls: ClientTls,
}

pub fn run(command: ChainCommand) -> anyhow::Result<ExitCode> {
    match command {
        ChainCommand::Export(args) => export(&args),
    }
}

/// The node endpoints the audit reads (see the module notes), through the CLI's one
/// HTTP client.
pub struct NodeChain {
    base: String,
    client: NodeClient,
}

impl NodeChain {
    /// The chain of the node at `url`, over TLS when `tls` names certificates.
    pub fn new(url: &str, tls: &ClientTls) -> anyhow::Result<NodeChain> {
        let client = if tls.is_set() {
            NodeClient::with_tls(url, REQUEST_TIMEOUT, tls)?
        } else {
            NodeClient::with_timeout(url, REQUEST_TIMEOUT)
        };
        Ok(NodeChain {
            base: client.base().to_string(),
            client,
        })
    }

    fn get(&self, path: &str, limit: u64) -> anyhow::Result<(u16, Vec<u8>)> {
        self.client.get_bytes(path, limit)
    }

    fn get_json(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let (status, bytes) = self.get(path, JSON_BYTES_MAX)?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).trim().to_string()));
        Ok((status, value))
    }

    /// The node's status.
    pub fn status(&self) -> anyhow::Result<StatusView> {
        self.client.status()
    }

    /// The node's last committed height.
    pub fn height(&self) -> anyhow::Result<u64> {
        Ok(self.status()?.height)
    }

    /// The canonical bytes of the entry at `height`, checked to decode to that height.
    pub fn entry_bytes(&self, height: u64) -> anyhow::Result<(ChainEntry, Vec<u8>)> {
        let path = format!("/v1/chain/{height}");
        let (status, bytes) = self.get(&path, ENTRY_BYTES_MAX as u64 + 1)?;
        if status == 404 && bytes.is_empty() {
            // A node without the binary endpoint (an empty 404 is an unknown route; a
            // missing height has a body): read its JSON block view instead.
            let entry = self.entry_from_json(height)?;
            let bytes = entry.to_bytes();
            return Ok((entry, bytes));
        }
        if status != 200 {
            bail!(
                "GET {}{path}: HTTP {status}: {}",
                self.base,
                String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).trim()
            );
        }
        let entry = ChainEntry::from_bytes(&bytes)
            .with_context(|| format!("GET {}{path}: not a chain entry", self.base))?;
        if entry.height() != height {
            bail!(
                "GET {}{path}: the node answered with the block of height {}",
                self.base,
                entry.height()
            );
        }
        Ok((entry, bytes))
    }

    /// The entry at `height` from `GET /v1/blocks/{height}`:
    /// `{block, certificate, receipts: [{tx_id, outcome: "Accepted" | "Rejected", code?}]}`.
    /// Only the form changes: the audit checks the entry the same way.
    fn entry_from_json(&self, height: u64) -> anyhow::Result<ChainEntry> {
        let path = format!("/v1/blocks/{height}");
        let url = format!("{}{path}", self.base);
        let (status, bytes) = self.get(&path, 4 * ENTRY_BYTES_MAX as u64)?;
        if status != 200 {
            bail!(
                "GET {url}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).trim()
            );
        }
        let view: BlockView =
            serde_json::from_slice(&bytes).with_context(|| format!("GET {url}: not a block"))?;
        let block = view.block;
        let certificate = view
            .certificate
            .with_context(|| format!("GET {url}: no commit certificate"))?;
        let receipts = view
            .receipts
            .into_iter()
            .map(Receipt::try_from)
            .collect::<Result<Vec<Receipt>, _>>()
            .with_context(|| format!("GET {url}: a receipt is not readable"))?;
        let entry = ChainEntry {
            block,
            certificate,
            receipts,
        };
        if entry.height() != height {
            bail!(
                "GET {url}: the node answered with the block of height {}",
                entry.height()
            );
        }
        Ok(entry)
    }

    pub fn entry(&self, height: u64) -> anyhow::Result<ChainEntry> {
        Ok(self.entry_bytes(height)?.0)
    }

    /// Where a committed transaction is: its block's height and its index in the block.
    /// The accepted governance changes that changed the roster of nodes, below `height`:
    /// their (height, index), in chain order (`GET /v1/governance`).
    pub fn roster_changes_below(&self, height: u64) -> anyhow::Result<Vec<(u64, usize)>> {
        let mut found = Vec::new();
        let mut from = 0u64;
        loop {
            let (status, bytes) = self.get(
                &format!("/v1/governance?from_height={from}"),
                16 * 1024 * 1024,
            )?;
            if status != 200 {
                bail!(
                    "{}/v1/governance answered {status}: {}",
                    self.base,
                    String::from_utf8_lossy(&bytes)
                );
            }
            let doc: GovernanceView = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}/v1/governance: not its answer", self.base))?;
            if doc.changes.is_empty() {
                return Ok(found);
            }
            for change in &doc.changes {
                if change.height >= height {
                    return Ok(found);
                }
                if change.changes_validators {
                    found.push((change.height, change.index as usize));
                }
                from = change.height + 1;
            }
        }
    }

    pub fn tx_location(&self, id: &TxId) -> anyhow::Result<(u64, usize)> {
        let path = format!("/v1/tx/{id}");
        let (status, value) = self.get_json(&path)?;
        let view: TxStatusView = serde_json::from_value(value.clone())
            .with_context(|| format!("GET {}{path}: HTTP {status}: {value}", self.base))?;
        match view {
            TxStatusView::Committed { height, index, .. } => Ok((height, usize::try_from(index)?)),
            _ => bail!("transaction {id} is not committed (the node says {value})"),
        }
    }
}

/// Reads an existing chain file to its last whole entry: its header, the last height
/// and the byte where that entry ends.
fn scan_existing(path: &Path) -> anyhow::Result<(ChainHeader, u64, u64)> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut reader =
        ChainReader::open(BufReader::new(file)).with_context(|| format!("{}", path.display()))?;
    let header = reader.header().clone();
    let mut last = header.first_height.saturating_sub(1);
    loop {
        match reader.next_entry() {
            Ok(Some(entry)) => {
                if entry.height() != last + 1 {
                    bail!(
                        "{}: entry of height {} follows height {last}; the file is not an export",
                        path.display(),
                        entry.height()
                    );
                }
                last += 1;
            }
            Ok(None) => break,
            Err(error) => {
                eprintln!(
                    "{}: {error}; continuing after height {last}",
                    path.display()
                );
                break;
            }
        }
    }
    Ok((header, last, reader.position()))
}

fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let node = NodeChain::new(&args.node, &args.tls)?;
    let status = node.status()?;
    let target = args.to.unwrap_or(status.height);
    let (chain_id, genesis_hash, crypto_suite) =
        (status.chain_id, status.genesis_hash, status.crypto_suite);
    let existing = args.out.exists() && std::fs::metadata(&args.out)?.len() > 0;
    let (header, mut writer) = if existing {
        let (header, last, end) = scan_existing(&args.out)?;
        if let Some(from) = args.from {
            if from != last + 1 {
                bail!(
                    "{} ends at height {last}; it can only continue from {} (leave out --from)",
                    args.out.display(),
                    last + 1
                );
            }
        }
        let mut file = OpenOptions::new()
            .write(true)
            .open(&args.out)
            .with_context(|| format!("{}", args.out.display()))?;
        // Cut off a torn tail, then append after the last whole entry.
        file.set_len(end)?;
        file.seek(SeekFrom::End(0))?;
        if chain_id != header.chain_id
            || genesis_hash != header.genesis_hash
            || crypto_suite != header.crypto_suite
        {
            bail!(
                "the node runs chain {chain_id} from genesis {}; {} is of chain {} from genesis {}",
                hex::encode(genesis_hash),
                args.out.display(),
                header.chain_id,
                hex::encode(header.genesis_hash)
            );
        }
        (header, ChainWriter::append_to(BufWriter::new(file), last))
    } else {
        let from = args.from.unwrap_or(1).max(1);
        let header = ChainHeader {
            chain_id,
            crypto_suite,
            genesis_hash,
            first_height: from,
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&args.out)
            .with_context(|| format!("{}", args.out.display()))?;
        let writer = ChainWriter::create(BufWriter::new(file), &header)?;
        (header, writer)
    };

    let first_new = writer.next_height();
    let mut progress = Progress::new("exported", "blocks", Some(target));
    let mut txs = 0u64;
    for height in first_new..=target {
        let (entry, bytes) = node.entry_bytes(height)?;
        if entry.block.header.chain_id != header.chain_id {
            bail!(
                "the node serves chain {}, {} is of chain {}",
                entry.block.header.chain_id,
                args.out.display(),
                header.chain_id
            );
        }
        writer.append_bytes(height, &bytes)?;
        txs += entry.block.txs.len() as u64;
        progress.set(height, || format!("{txs} transactions"));
    }
    writer.flush()?;
    let file = writer
        .into_inner()
        .into_inner()
        .map_err(|e| e.into_error())?;
    file.sync_all()?;
    if first_new > target {
        println!(
            "{}: already holds every height to {target}; nothing to add",
            args.out.display()
        );
    } else {
        println!(
            "{}: heights {first_new} to {target} exported ({} blocks, {txs} transactions) from chain {}",
            args.out.display(),
            target - first_new + 1,
            header.chain_id
        );
    }
    Ok(ExitCode::SUCCESS)
}
