//! `xinbao mirror`: the ledger mirrored into PostgreSQL, for the systems and analysts
//! around it; `xinbao mirror check`: the database reconciled with the node's figures.
//!
//! The mirror follows a node's event feed (`GET /v1/events?type=block`) and, for each
//! block, reads the block with its certificate and receipts (`GET /v1/chain/{height}`)
//! and verifies it as the auditor does, from the genesis file alone
//! ([`contracts::audit::Auditor`]): what it writes is what it checked, not what a node
//! said. Each block's writes become rows (its records as the block left them, its
//! transactions, their decisions, repayments, recoveries, governance changes, the funds'
//! movements and the month ends it is the first after) in **one SQL transaction, which
//! also records the block as the mirror's position**. A mirror killed at any instant
//! leaves the database at a whole block; started again, it verifies the chain up to that
//! block in memory (the state the next block executes on) and goes on after it.
//!
//! The schema comes from the versioned migration files in `cli/migrations/`, compiled in
//! and applied in order, each once, in its own transaction (`mirror_migrations` records
//! them). A session advisory lock keeps a second mirror off the same database.
//!
//! The driver is `postgres` (rust-postgres's blocking client over `tokio-postgres`): the
//! most used native PostgreSQL client in Rust, with typed parameters (arrays included,
//! so a block's rows go in one statement per table through `unnest`) and no code
//! generation; the command is synchronous, like the rest of `xinbao`. Connections are
//! plain (`NoTls`): the database is expected on the same host or a trusted network.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::{Args, Subcommand};
use contracts::audit::{Auditor, BlockDone};
use contracts::store::{self, keys, Claim, Fund, Loan, Org, Policy, Programme, RateFiling};
use ledger::action::Action;
use ledger::block::Outcome;
use ledger::export::ChainHeader;
use ledger::genesis::Genesis;
use ledger::state::{MemoryStore, Overlay, StateView};
use ledger::{Date, Fen, Id};
use postgres::types::ToSql;
use postgres::{Client, NoTls};
use serde_json::{json, Value};

use crate::chain::NodeChain;
use crate::events::{follow_feed, Flow};
use crate::node_client::NodeClient;
use crate::progress::Progress;
use crate::tls::ClientTls;

/// The schema, in order: (version, name, SQL).
const MIGRATIONS: &[(i32, &str, &str)] =
    &[(1, "ledger", include_str!("../migrations/0001_ledger.sql"))];
/// The advisory lock a mirror holds on its database.
const LOCK_KEY: i64 = 0x7869_6e62_616f; // "xinbao"

#[derive(Debug, Args)]
pub struct MirrorArgs {
    #[command(subcommand)]
    command: Option<MirrorCommand>,
    /// The node's API address.
    #[arg(
        long,
        value_name = "URL",
        global = true,
        default_value = "http://127.0.0.1:28000"
    )]
    node: String,
    /// The database: postgresql://USER@HOST:PORT/NAME (or XINBAO_DATABASE).
    #[arg(long, value_name = "URL", global = true, env = "XINBAO_DATABASE")]
    database: Option<String>,
    /// The chain's genesis file: the mirror verifies every block from it.
    #[arg(long, value_name = "FILE", global = true)]
    genesis: Option<PathBuf>,
    /// Stop once this height is mirrored (default: follow until interrupted).
    #[arg(long, value_name = "HEIGHT")]
    until_height: Option<u64>,
    #[command(flatten)]
    tls: ClientTls,
}

#[derive(Debug, Subcommand)]
enum MirrorCommand {
    /// Compare the database with the node's figures as of the mirror's height (the R10
    /// document of programmes, funds, policies, loans and claims, computed from the
    /// node's chain and the genesis); exit 1 naming every difference.
    Check,
}

pub fn run(args: MirrorArgs) -> anyhow::Result<ExitCode> {
    let database = args
        .database
        .clone()
        .context("--database postgresql://… (or XINBAO_DATABASE) names the database")?;
    let genesis_path = args
        .genesis
        .clone()
        .context("--genesis FILE: the chain's genesis, from which every block is verified")?;
    let genesis = Genesis::load(&genesis_path)
        .with_context(|| format!("reading the genesis {}", genesis_path.display()))?;
    let mut db = Client::connect(&database, NoTls)
        .with_context(|| format!("connecting to the database {}", redact(&database)))?;
    match args.command {
        Some(MirrorCommand::Check) => check(&args, &genesis, &mut db),
        None => follow(&args, &genesis, &mut db),
    }
}

/// The database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Applies the migrations the database lacks, each in its own transaction.
pub fn migrate(db: &mut Client) -> anyhow::Result<()> {
    db.batch_execute(
        "CREATE TABLE IF NOT EXISTS mirror_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )?;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = db.transaction()?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM mirror_migrations WHERE version = $1",
                &[version],
            )?
            .is_some();
        if !done {
            tx.batch_execute(sql)
                .with_context(|| format!("applying migration {version} ({name})"))?;
            tx.execute(
                "INSERT INTO mirror_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )?;
        }
        tx.commit()?;
    }
    let newest: Option<i32> = db
        .query_one("SELECT max(version) FROM mirror_migrations", &[])?
        .get(0);
    let known = MIGRATIONS.last().map(|m| m.0);
    ensure!(
        newest <= known,
        "the database's schema is version {newest:?}, newer than this program's {known:?}: use a newer xinbao"
    );
    Ok(())
}

/// Where the database stands: the last block mirrored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrored {
    pub height: u64,
    pub block_id: String,
    pub position: String,
}

fn mirrored(db: &mut Client, genesis: &Genesis) -> anyhow::Result<Option<Mirrored>> {
    let Some(row) = db.query_opt(
        "SELECT chain_id, genesis_hash, height, block_id, position FROM mirror_position",
        &[],
    )?
    else {
        return Ok(None);
    };
    let (chain_id, genesis_hash): (String, String) = (row.get(0), row.get(1));
    let ours = hex::encode(genesis.hash());
    ensure!(
        chain_id == genesis.chain_id.as_str() && genesis_hash == ours,
        "the database mirrors chain {chain_id} (genesis {genesis_hash}), not this genesis's \
         {} ({ours}): use another database",
        genesis.chain_id
    );
    let height: i64 = row.get(2);
    Ok(Some(Mirrored {
        height: height as u64,
        block_id: row.get(3),
        position: row.get(4),
    }))
}

fn chain_header(genesis: &Genesis) -> ChainHeader {
    ChainHeader {
        chain_id: genesis.chain_id.clone(),
        crypto_suite: genesis.crypto_suite,
        genesis_hash: genesis.hash(),
        first_height: 1,
    }
}

/// Verifies the node's chain up to `height` in memory, with a progress line.
fn verify_up_to(
    chain: &NodeChain,
    genesis: &Genesis,
    height: u64,
    mut observe: impl FnMut(&MemoryStore, &BlockDone<'_>),
) -> anyhow::Result<Auditor> {
    let mut auditor = Auditor::new(genesis, &chain_header(genesis))?;
    let mut progress = Progress::new("verified", "blocks", Some(height));
    let entries = (1..=height).map(|h| chain.entry(h).map_err(|e| format!("{e:#}")));
    contracts::audit::replay(&mut auditor, entries, &mut observe, |p| {
        progress.set(p.height, || format!("{} transactions", p.txs))
    })?;
    Ok(auditor)
}

fn follow(args: &MirrorArgs, genesis: &Genesis, db: &mut Client) -> anyhow::Result<ExitCode> {
    let locked: bool = db
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])?
        .get(0);
    ensure!(locked, "another mirror is writing to this database");
    migrate(db)?;
    let from = mirrored(db, genesis)?;
    let chain = NodeChain::new(&args.node, &args.tls)?;
    let client = NodeClient::connect(&args.node, &args.tls)?;
    let suite = genesis.crypto_suite;

    let mut writer = Writer::default();
    let mut auditor = resume(&chain, genesis, from.as_ref(), &mut writer)?;
    if args
        .until_height
        .is_some_and(|h| from.as_ref().is_some_and(|f| f.height >= h))
    {
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    let mut written = (0u64, 0u64);
    let mut last_report = Instant::now();
    let after = from
        .as_ref()
        .map(|f| f.position.clone())
        .unwrap_or_else(|| "0:0".into());
    follow_feed(
        &client,
        "type=block",
        Some(after),
        Duration::from_secs(120),
        |event| {
            if event.event != "block" {
                return Ok(Flow::Continue);
            }
            let data: Value = serde_json::from_str(&event.data)?;
            let height = data["height"]
                .as_u64()
                .context("a block event without a height")?;
            let position = event.id.clone().context("a block event without an id")?;
            if height < auditor.next_height() {
                return Ok(Flow::Continue);
            }
            ensure!(
                height == auditor.next_height(),
                "the feed skipped from height {} to {height}",
                auditor.next_height() - 1
            );
            let entry = chain.entry(height)?;
            let mut rows = None;
            auditor.push_with(&entry, |before, done| {
                rows = Some(writer.rows(before, done, suite))
            })?;
            let rows = rows.expect("a verified block is observed");
            let txs = rows.txs;
            rows.write(db, genesis, height, &position)
                .with_context(|| format!("writing height {height}"))?;
            written.0 += 1;
            written.1 += txs;
            if last_report.elapsed() >= Duration::from_secs(5) {
                let seconds = started.elapsed().as_secs_f64();
                eprintln!(
                "mirror: height {height}: {} blocks, {} transactions in {seconds:.1} s ({:.0} tx/s)",
                written.0,
                written.1,
                written.1 as f64 / seconds.max(1e-9)
            );
                last_report = Instant::now();
            }
            Ok(if args.until_height.is_some_and(|h| height >= h) {
                Flow::Stop
            } else {
                Flow::Continue
            })
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "mirror: {} blocks, {} transactions written in {seconds:.1} s ({:.0} tx/s)",
        written.0,
        written.1,
        written.1 as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// The auditor the next block is verified by: the chain verified again up to where the
/// database stands (`from`; it keeps the rows, not the rulebook's state), which must be
/// the node's chain; `writer` learns the date of the last block mirrored.
fn resume(
    chain: &NodeChain,
    genesis: &Genesis,
    from: Option<&Mirrored>,
    writer: &mut Writer,
) -> anyhow::Result<Auditor> {
    let suite = genesis.crypto_suite;
    // The state the next block executes on: the chain verified again up to where the
    // database stands (it keeps the rows, not the rulebook's state).
    Ok(match from {
        Some(at) => {
            eprintln!(
                "mirror: the database holds height {}; verifying the chain up to it",
                at.height
            );
            let auditor = verify_up_to(chain, genesis, at.height, |_, done| {
                writer.last_date = Some(done.date)
            })?;
            let entry = chain.entry(at.height)?;
            let id = hex::encode(entry.block.header.id(suite).0);
            ensure!(
                id == at.block_id,
                "the node's block {} is {id}, the database's is {}: they are not the same chain",
                at.height,
                at.block_id
            );
            auditor
        }
        None => Auditor::new(genesis, &chain_header(genesis))?,
    })
}

/// A column's SQL type; values go in as arrays of bigint, text or boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Big,
    Text,
    Date,
    Bool,
    Json,
}

impl Ty {
    fn array_cast(self) -> &'static str {
        match self {
            Ty::Big => "bigint[]",
            Ty::Text => "text[]",
            Ty::Date => "text[]::date[]",
            Ty::Bool => "boolean[]",
            Ty::Json => "text[]::jsonb[]",
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
enum V {
    I(i64),
    T(String),
    B(bool),
    N,
}

fn fen(f: Fen) -> V {
    V::I(i64::try_from(f.0).unwrap_or(i64::MAX))
}

fn int(n: impl TryInto<i64>) -> V {
    n.try_into().map_or(V::N, V::I)
}

fn text(s: impl ToString) -> V {
    V::T(s.to_string())
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> V) -> V {
    v.map_or(V::N, f)
}

/// A table: its columns (the first `key` of them its key) and what a row already there
/// becomes (updated to the new values, or left as it is).
struct Table {
    name: &'static str,
    cols: &'static [(&'static str, Ty)],
    key: usize,
    update: bool,
}

const BLOCKS: Table = Table {
    name: "blocks",
    cols: &[
        ("height", Ty::Big),
        ("block_id", Ty::Text),
        ("time_ms", Ty::Big),
        ("date", Ty::Date),
        ("protocol_version", Ty::Big),
        ("txs", Ty::Big),
        ("rejected", Ty::Big),
        ("proposer", Ty::Text),
    ],
    key: 1,
    update: false,
};
const TRANSACTIONS: Table = Table {
    name: "transactions",
    cols: &[
        ("height", Ty::Big),
        ("index", Ty::Big),
        ("tx_id", Ty::Text),
        ("type", Ty::Text),
        ("date", Ty::Date),
        ("outcome", Ty::Text),
        ("code", Ty::Text),
    ],
    key: 2,
    update: false,
};
const DECISIONS: Table = Table {
    name: "decisions",
    cols: &[
        ("height", Ty::Big),
        ("index", Ty::Big),
        ("seq", Ty::Big),
        ("kind", Ty::Text),
        ("claim", Ty::Text),
        ("programme", Ty::Text),
        ("fund", Ty::Text),
        ("figures", Ty::Json),
    ],
    key: 3,
    update: false,
};
const ORGANISATIONS: Table = Table {
    name: "organisations",
    cols: &[("id", Ty::Text), ("kind", Ty::Text)],
    key: 1,
    update: true,
};
const FUNDS: Table = Table {
    name: "funds",
    cols: &[
        ("id", Ty::Text),
        ("government", Ty::Text),
        ("annual_cap_fen", Ty::Big),
        ("balance_fen", Ty::Big),
        ("subsidies_paid_fen", Ty::Big),
        ("compensation_paid_fen", Ty::Big),
    ],
    key: 1,
    update: true,
};
const FUND_YEARS: Table = Table {
    name: "fund_years",
    cols: &[("fund", Ty::Text), ("year", Ty::Big), ("paid_fen", Ty::Big)],
    key: 2,
    update: true,
};
const FUND_MOVEMENTS: Table = Table {
    name: "fund_movements",
    cols: &[
        ("height", Ty::Big),
        ("fund", Ty::Text),
        ("date", Ty::Date),
        ("balance_before_fen", Ty::Big),
        ("balance_after_fen", Ty::Big),
        ("subsidies_paid_fen", Ty::Big),
        ("compensation_paid_fen", Ty::Big),
    ],
    key: 2,
    update: false,
};
const FILINGS: Table = Table {
    name: "filings",
    cols: &[
        ("filing_hash", Ty::Text),
        ("insurer", Ty::Text),
        ("product", Ty::Text),
        ("rates_bps", Ty::Json),
        ("valid_from", Ty::Date),
        ("valid_to", Ty::Date),
        ("filing_ref", Ty::Text),
    ],
    key: 1,
    update: true,
};
const PROGRAMMES: Table = Table {
    name: "programmes",
    cols: &[
        ("id", Ty::Text),
        ("name", Ty::Text),
        ("product", Ty::Text),
        ("government", Ty::Text),
        ("fund", Ty::Text),
        ("insurer", Ty::Text),
        ("reinsurer", Ty::Text),
        ("period_start", Ty::Date),
        ("period_end", Ty::Date),
        ("bank_bps", Ty::Big),
        ("insurer_bps", Ty::Big),
        ("fund_bps", Ty::Big),
        ("reinsurance_quota_bps", Ty::Big),
        ("status", Ty::Text),
        ("premium_written_fen", Ty::Big),
        ("claims_gross_fen", Ty::Big),
        ("loss_ratio_bps", Ty::Big),
        ("warnings", Ty::Json),
        ("terms", Ty::Json),
    ],
    key: 1,
    update: true,
};
const PROGRAMME_BANKS: Table = Table {
    name: "programme_banks",
    cols: &[("programme", Ty::Text), ("bank", Ty::Text)],
    key: 2,
    update: false,
};
const PROGRAMME_MONTHS: Table = Table {
    name: "programme_months",
    cols: &[
        ("programme", Ty::Text),
        ("month_end", Ty::Date),
        ("status", Ty::Text),
        ("premium_written_fen", Ty::Big),
        ("claims_gross_fen", Ty::Big),
        ("loss_ratio_bps", Ty::Big),
        ("outstanding_principal_fen", Ty::Big),
        ("overdue_principal_fen", Ty::Big),
        ("overdue_ratio_bps", Ty::Big),
    ],
    key: 2,
    update: true,
};
const POLICIES: Table = Table {
    name: "policies",
    cols: &[
        ("id", Ty::Text),
        ("programme", Ty::Text),
        ("enterprise", Ty::Text),
        ("bank", Ty::Text),
        ("loan_principal_fen", Ty::Big),
        ("loan_rate_bps", Ty::Big),
        ("term_months", Ty::Big),
        ("premium_rate_bps", Ty::Big),
        ("financing_doc_hash", Ty::Text),
        ("issued", Ty::Date),
        ("premium_fen", Ty::Big),
        ("subsidy_fen", Ty::Big),
        ("insured_amount_fen", Ty::Big),
        ("loan", Ty::Text),
        ("filing_hash", Ty::Text),
    ],
    key: 1,
    update: true,
};
const LOANS: Table = Table {
    name: "loans",
    cols: &[
        ("id", Ty::Text),
        ("policy", Ty::Text),
        ("programme", Ty::Text),
        ("bank", Ty::Text),
        ("enterprise", Ty::Text),
        ("rate_bps", Ty::Big),
        ("term_months", Ty::Big),
        ("start", Ty::Date),
        ("maturity", Ty::Date),
        ("status", Ty::Text),
        ("outstanding_principal_fen", Ty::Big),
        ("claim", Ty::Text),
    ],
    key: 1,
    update: true,
};
const REPAYMENTS: Table = Table {
    name: "repayments",
    cols: &[
        ("height", Ty::Big),
        ("index", Ty::Big),
        ("loan", Ty::Text),
        ("date", Ty::Date),
        ("amount_fen", Ty::Big),
        ("reference", Ty::Text),
    ],
    key: 2,
    update: false,
};
const CLAIMS: Table = Table {
    name: "claims",
    cols: &[
        ("id", Ty::Text),
        ("loan", Ty::Text),
        ("programme", Ty::Text),
        ("bank", Ty::Text),
        ("insurer", Ty::Text),
        ("status", Ty::Text),
        ("filed", Ty::Date),
        ("completed", Ty::Date),
        ("decision_due", Ty::Date),
        ("payment_due", Ty::Date),
        ("decided", Ty::Date),
        ("paid", Ty::Date),
        ("late", Ty::Bool),
        ("loss_fen", Ty::Big),
        ("bank_retained_fen", Ty::Big),
        ("insurer_gross_fen", Ty::Big),
        ("fund_direct_fen", Ty::Big),
        ("fund_layer_fen", Ty::Big),
        ("insurer_pays_bank_fen", Ty::Big),
        ("fund_fen", Ty::Big),
        ("fund_shortfall_fen", Ty::Big),
        ("reinsurer_fen", Ty::Big),
        ("insurer_retained_fen", Ty::Big),
        ("reject_reason", Ty::Text),
        ("recovered_fen", Ty::Big),
        ("recovery_bank_fen", Ty::Big),
        ("recovery_insurer_fen", Ty::Big),
        ("recovery_fund_fen", Ty::Big),
        ("recovery_reinsurer_fen", Ty::Big),
    ],
    key: 1,
    update: true,
};
const RECOVERIES: Table = Table {
    name: "recoveries",
    cols: &[
        ("height", Ty::Big),
        ("index", Ty::Big),
        ("claim", Ty::Text),
        ("date", Ty::Date),
        ("amount_fen", Ty::Big),
        ("reference", Ty::Text),
    ],
    key: 2,
    update: false,
};
const GOVERNANCE: Table = Table {
    name: "governance_changes",
    cols: &[
        ("height", Ty::Big),
        ("index", Ty::Big),
        ("type", Ty::Text),
        ("approvers", Ty::Json),
    ],
    key: 2,
    update: false,
};

/// The tables in the order their rows go in (each after those it refers to).
const ORDER: &[&Table] = &[
    &BLOCKS,
    &TRANSACTIONS,
    &DECISIONS,
    &ORGANISATIONS,
    &FUNDS,
    &FUND_YEARS,
    &FUND_MOVEMENTS,
    &FILINGS,
    &PROGRAMMES,
    &PROGRAMME_BANKS,
    &PROGRAMME_MONTHS,
    &POLICIES,
    &LOANS,
    &REPAYMENTS,
    &CLAIMS,
    &RECOVERIES,
    &GOVERNANCE,
];

/// The statement that puts `rows` into `table` in one round trip.
fn insert_sql(table: &Table) -> String {
    let cols: Vec<&str> = table.cols.iter().map(|(c, _)| *c).collect();
    let arrays: Vec<String> = table
        .cols
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("${}::{}", i + 1, ty.array_cast()))
        .collect();
    let conflict = if table.update {
        let set: Vec<String> = cols[table.key..]
            .iter()
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect();
        format!("DO UPDATE SET {}", set.join(", "))
    } else {
        "DO NOTHING".to_string()
    };
    format!(
        "INSERT INTO {} ({}) SELECT * FROM unnest({}) ON CONFLICT ({}) {conflict}",
        table.name,
        cols.join(", "),
        arrays.join(", "),
        cols[..table.key].join(", ")
    )
}

/// A column of values as the array parameter of its type.
fn column(rows: &[Vec<V>], i: usize, ty: Ty) -> Box<dyn ToSql + Sync> {
    match ty {
        Ty::Big => Box::new(
            rows.iter()
                .map(|r| match &r[i] {
                    V::I(n) => Some(*n),
                    _ => None,
                })
                .collect::<Vec<Option<i64>>>(),
        ),
        Ty::Bool => Box::new(
            rows.iter()
                .map(|r| match &r[i] {
                    V::B(b) => Some(*b),
                    _ => None,
                })
                .collect::<Vec<Option<bool>>>(),
        ),
        Ty::Text | Ty::Date | Ty::Json => Box::new(
            rows.iter()
                .map(|r| match &r[i] {
                    V::T(t) => Some(t.clone()),
                    _ => None,
                })
                .collect::<Vec<Option<String>>>(),
        ),
    }
}

/// What one block puts into the database.
#[derive(Default)]
struct Rows {
    tables: BTreeMap<&'static str, Vec<Vec<V>>>,
    block_id: String,
    txs: u64,
}

impl Rows {
    fn push(&mut self, table: &Table, row: Vec<V>) {
        debug_assert_eq!(row.len(), table.cols.len(), "{}", table.name);
        self.tables.entry(table.name).or_default().push(row);
    }

    /// One SQL transaction: every row of the block and the mirror's new position.
    fn write(
        self,
        db: &mut Client,
        genesis: &Genesis,
        height: u64,
        position: &str,
    ) -> anyhow::Result<()> {
        let mut tx = db.transaction()?;
        for table in ORDER {
            let Some(rows) = self.tables.get(table.name) else {
                continue;
            };
            let params: Vec<Box<dyn ToSql + Sync>> = table
                .cols
                .iter()
                .enumerate()
                .map(|(i, (_, ty))| column(rows, i, *ty))
                .collect();
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            tx.execute(&insert_sql(table), &refs)
                .with_context(|| format!("table {}", table.name))?;
        }
        tx.execute(
            "INSERT INTO mirror_position (chain_id, genesis_hash, height, block_id, position)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (only_row) DO UPDATE SET height = EXCLUDED.height,
                 block_id = EXCLUDED.block_id, position = EXCLUDED.position, updated_at = now()",
            &[
                &genesis.chain_id.as_str(),
                &hex::encode(genesis.hash()),
                &(height as i64),
                &self.block_id,
                &position,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Turns verified blocks into rows; remembers the last block's date (for month ends).
#[derive(Default)]
struct Writer {
    last_date: Option<Date>,
}

impl Writer {
    fn rows(
        &mut self,
        before: &MemoryStore,
        done: &BlockDone<'_>,
        suite: ledger::crypto::Suite,
    ) -> Rows {
        let entry = done.entry;
        let executed = done.executed;
        let header = &entry.block.header;
        let height = header.height;
        let date = done.date.to_string();
        let after = Overlay::over(before, &executed.writes);
        let mut rows = Rows {
            block_id: hex::encode(header.id(suite).0),
            txs: entry.block.txs.len() as u64,
            ..Rows::default()
        };
        let rejected = executed
            .receipts
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Rejected(_)))
            .count();
        rows.push(
            &BLOCKS,
            vec![
                int(height),
                text(rows.block_id.clone()),
                int(header.time_ms),
                text(&date),
                int(header.protocol_version),
                int(entry.block.txs.len()),
                int(rejected),
                text(header.proposer.to_string()),
            ],
        );
        tx_rows(&mut rows, done, &date);
        decision_rows(&mut rows, done);
        for (key, value) in executed.writes.iter() {
            let Some(value) = value else { continue };
            record_rows(&mut rows, before, &after, key, value, height, &date);
        }
        // The month ends between the previous block and this one, on the state before it.
        if let Some(last) = self.last_date {
            month_rows(&mut rows, before, last, done.date);
        }
        self.last_date = Some(done.date);
        rows
    }
}

/// The rows of a block's transactions, and of the repayments and recoveries it accepted.
fn tx_rows(rows: &mut Rows, done: &BlockDone<'_>, date: &str) {
    let height = done.entry.block.header.height;
    for (index, (tx, receipt)) in done
        .entry
        .block
        .txs
        .iter()
        .zip(&done.executed.receipts)
        .enumerate()
    {
        let (outcome, code) = match receipt.outcome {
            Outcome::Accepted => ("Accepted", V::N),
            Outcome::Rejected(code) => ("Rejected", text(code.as_str())),
        };
        let action = &tx.body.action;
        rows.push(
            &TRANSACTIONS,
            vec![
                int(height),
                int(index),
                text(receipt.tx_id.to_string()),
                text(action.type_name()),
                text(date),
                text(outcome),
                code,
            ],
        );
        if receipt.outcome != Outcome::Accepted {
            continue;
        }
        match action {
            Action::RecordRepayment(a) => rows.push(
                &REPAYMENTS,
                vec![
                    int(height),
                    int(index),
                    text(&a.loan),
                    text(date),
                    fen(a.amount_fen),
                    text(&a.reference),
                ],
            ),
            Action::RecordRecovery(a) => rows.push(
                &RECOVERIES,
                vec![
                    int(height),
                    int(index),
                    text(&a.claim),
                    text(date),
                    fen(a.amount_fen),
                    text(&a.reference),
                ],
            ),
            _ => {}
        }
    }
}

/// The rows of what a block's transactions decided and of the governance changes it
/// accepted.
fn decision_rows(rows: &mut Rows, done: &BlockDone<'_>) {
    let height = done.entry.block.header.height;
    let mut seq: BTreeMap<u32, i64> = BTreeMap::new();
    for (index, decision) in &done.executed.decisions {
        let n = seq.entry(*index).or_default();
        // As the event feed shows it; its text with the keys in order, as JSON values hold them.
        let figures = serde_json::to_value(decision.view()).expect("a decision is JSON");
        let field = |name: &str| opt(figures[name].as_str(), text);
        rows.push(
            &DECISIONS,
            vec![
                int(height),
                int(*index),
                V::I(*n),
                text(decision.kind()),
                field("claim"),
                field("programme"),
                field("fund"),
                text(figures.to_string()),
            ],
        );
        *n += 1;
    }
    for change in &done.executed.changes {
        let type_name = done.entry.block.txs[change.index].body.action.type_name();
        let approvers: Vec<&str> = change.approvers.iter().map(Id::as_str).collect();
        rows.push(
            &GOVERNANCE,
            vec![
                int(height),
                int(change.index),
                text(type_name),
                text(json!(approvers).to_string()),
            ],
        );
    }
}

/// The programmes' figures at each month end from `last`'s to the one before `date`,
/// read from `before`, the state before the block dated `date`.
fn month_rows(rows: &mut Rows, before: &MemoryStore, last: Date, date: Date) {
    let mut end = contracts::report::month_end(last);
    while end < date {
        let figures = contracts::report::month_figures(before, end);
        for (programme, f) in &figures {
            let n = |v: u64| i64::try_from(v).map_or(V::N, V::I);
            rows.push(
                &PROGRAMME_MONTHS,
                vec![
                    text(programme),
                    text(end),
                    text(&f.status),
                    n(f.premium_written_fen.0),
                    n(f.claims_gross_fen.0),
                    n(f.loss_ratio_bps),
                    n(f.outstanding_principal_fen.0),
                    n(f.overdue_principal_fen.0),
                    n(f.overdue_ratio_bps),
                ],
            );
        }
        match Date::from_days(end.days_since_epoch() + 1) {
            Ok(next) => end = contracts::report::month_end(next),
            Err(_) => break,
        }
    }
}

/// The rows of one record the block wrote (`before` and `after` are the states before
/// and after the block), by the kind of record its key names.
fn record_rows(
    rows: &mut Rows,
    before: &dyn StateView,
    after: &dyn StateView,
    key: &[u8],
    value: &[u8],
    height: u64,
    date: &str,
) {
    let id_after = |prefix: &str| {
        key.strip_prefix(prefix.as_bytes())
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .and_then(|s| Id::new(s).ok())
    };
    if let Some(id) = id_after(keys::ORG) {
        let org: Org = store::decode_record(value);
        rows.push(
            &ORGANISATIONS,
            vec![text(&id), text(contracts::report::kind_name(org.kind))],
        );
    } else if let Some(id) = id_after(keys::FUND) {
        let old: Option<Fund> = store::read(before, key);
        fund_rows(rows, &id, store::decode_record(value), old, height, date);
    } else if let Some(rest) = key.strip_prefix(keys::RATE.as_bytes()) {
        filing_rows(rows, rest, store::decode_record(value));
    } else if let Some(id) = id_after(keys::PROGRAMME) {
        programme_rows(rows, &id, store::decode_record(value));
    } else if let Some(id) = id_after(keys::POLICY) {
        policy_rows(rows, after, &id, store::decode_record(value));
    } else if let Some(id) = id_after(keys::LOAN) {
        loan_rows(rows, &id, store::decode_record(value));
    } else if let Some(id) = id_after(keys::CLAIM) {
        claim_rows(rows, after, &id, store::decode_record(value));
    }
}

/// A fund's row, its years' and its movement in this block (`old`: the fund before it).
fn fund_rows(rows: &mut Rows, id: &Id, fund: Fund, old: Option<Fund>, height: u64, date: &str) {
    rows.push(
        &FUNDS,
        vec![
            text(id),
            text(&fund.government),
            fen(fund.annual_cap_fen),
            fen(fund.balance_fen),
            fen(fund.subsidies_paid_fen),
            fen(fund.compensation_paid_fen),
        ],
    );
    for (year, paid) in &fund.paid_by_year {
        rows.push(&FUND_YEARS, vec![text(id), int(*year), fen(*paid)]);
    }
    let was = |f: fn(&Fund) -> Fen| old.as_ref().map_or(0, |o| f(o).0 as i64);
    rows.push(
        &FUND_MOVEMENTS,
        vec![
            int(height),
            text(id),
            text(date),
            int(was(|f| f.balance_fen)),
            fen(fund.balance_fen),
            int(fund.subsidies_paid_fen.0 as i64 - was(|f| f.subsidies_paid_fen)),
            int(fund.compensation_paid_fen.0 as i64 - was(|f| f.compensation_paid_fen)),
        ],
    );
}

/// A rate filing's row; `rest` is its key after the prefix: insurer, product and hash.
fn filing_rows(rows: &mut Rows, rest: &[u8], filing: RateFiling) {
    let parts: Vec<&[u8]> = rest.split(|b| *b == 0).collect();
    if let [insurer, product, hash] = parts[..] {
        rows.push(
            &FILINGS,
            vec![
                text(String::from_utf8_lossy(hash)),
                text(String::from_utf8_lossy(insurer)),
                text(String::from_utf8_lossy(product)),
                text(json!(filing.rates_bps).to_string()),
                text(filing.valid_from),
                text(filing.valid_to),
                text(&filing.filing_ref),
            ],
        );
    }
}

/// A programme's row and its banks'.
fn programme_rows(rows: &mut Rows, id: &Id, p: Programme) {
    let t = &p.terms;
    let warnings: Vec<&str> = p.warnings.iter().map(|w| w.as_str()).collect();
    rows.push(
        &PROGRAMMES,
        vec![
            text(id),
            text(&t.name),
            text(&t.product),
            text(&t.government),
            text(&t.fund),
            text(&t.insurer),
            opt(t.reinsurer.as_ref(), text),
            text(t.period_start),
            text(t.period_end),
            int(t.split.bank_bps),
            int(t.split.insurer_bps),
            int(t.split.fund_bps),
            int(t.reinsurance_quota_bps),
            text(p.status.as_str()),
            fen(p.premium_written_fen),
            fen(p.claims_gross_fen),
            int(contracts::arith::ratio_bps(
                p.claims_gross_fen,
                p.premium_written_fen,
            )),
            text(json!(warnings).to_string()),
            text(serde_json::to_string(t).expect("JSON of a programme's terms")),
        ],
    );
    for bank in &t.banks {
        rows.push(&PROGRAMME_BANKS, vec![text(id), text(bank)]);
    }
}

/// A policy's row, with the hash of the filing its premium rate was taken from.
fn policy_rows(rows: &mut Rows, after: &dyn StateView, id: &Id, p: Policy) {
    let filing =
        store::read::<Programme>(after, &keys::programme(&p.programme)).and_then(|programme| {
            contracts::programme::filing_of(
                after,
                &programme.terms.insurer,
                &programme.terms.product,
                p.premium_rate_bps,
                p.issued,
            )
        });
    let filing_hash = filing.and_then(|(key, _)| {
        key.rsplit(|b| *b == 0)
            .next()
            .map(|h| String::from_utf8_lossy(h).to_string())
    });
    rows.push(
        &POLICIES,
        vec![
            text(id),
            text(&p.programme),
            text(&p.enterprise),
            text(&p.bank),
            fen(p.loan_principal_fen),
            int(p.loan_rate_bps),
            int(p.term_months),
            int(p.premium_rate_bps),
            opt(p.financing_doc_hash.as_ref(), text),
            text(p.issued),
            fen(p.premium_fen),
            fen(p.subsidy_fen),
            fen(p.insured_amount_fen),
            opt(p.loan.as_ref(), text),
            opt(filing_hash, text),
        ],
    );
}

/// A loan's row.
fn loan_rows(rows: &mut Rows, id: &Id, l: Loan) {
    rows.push(
        &LOANS,
        vec![
            text(id),
            text(&l.policy),
            text(&l.programme),
            text(&l.bank),
            text(&l.enterprise),
            int(l.rate_bps),
            int(l.term_months),
            text(l.start),
            text(l.maturity),
            text(l.status.as_str()),
            fen(l.outstanding_principal_fen),
            opt(l.claim.as_ref(), text),
        ],
    );
}

/// A claim's row, with its programme's insurer and its settlement's parts.
fn claim_rows(rows: &mut Rows, after: &dyn StateView, id: &Id, c: Claim) {
    let insurer = store::read::<Programme>(after, &keys::programme(&c.programme))
        .map(|p| p.terms.insurer.to_string())
        .unwrap_or_default();
    let s = c.settlement;
    let part = |f: fn(&store::Settlement) -> Fen| opt(s.as_ref().map(f), fen);
    rows.push(
        &CLAIMS,
        vec![
            text(id),
            text(&c.loan),
            text(&c.programme),
            text(&c.bank),
            text(insurer),
            text(c.status.as_str()),
            text(c.filed),
            opt(c.completed, text),
            opt(c.decision_due, text),
            opt(c.payment_due, text),
            opt(c.decided, text),
            opt(c.paid, text),
            V::B(c.late),
            fen(c.loss_fen),
            part(|s| s.bank_retained_fen),
            part(|s| s.insurer_gross_fen),
            part(|s| s.fund_direct_fen),
            part(|s| s.fund_layer_fen),
            part(|s| s.insurer_pays_bank_fen),
            part(|s| s.fund_fen),
            part(|s| s.fund_shortfall_fen),
            part(|s| s.reinsurer_fen),
            part(|s| s.insurer_retained_fen),
            opt(c.reject_reason.as_ref(), text),
            fen(c.recovered_fen),
            fen(c.recovery.bank_fen),
            fen(c.recovery.insurer_fen),
            fen(c.recovery.fund_fen),
            fen(c.recovery.reinsurer_fen),
        ],
    );
}

/// The fields `mirror check` compares, by section of the R10 document, with the query
/// that gives the database's value of each (as JSON, by id).
const CHECKED: &[(&str, &str)] = &[
    (
        "programmes",
        "SELECT p.id, json_build_object(
             'status', p.status, 'premium_written_fen', p.premium_written_fen,
             'claims_gross_fen', p.claims_gross_fen, 'loss_ratio_bps', p.loss_ratio_bps,
             'warnings', p.warnings,
             'outstanding_principal_fen', (SELECT coalesce(sum(l.outstanding_principal_fen), 0)
                 FROM loans l WHERE l.programme = p.id AND l.status = 'Active'))::text
         FROM programmes p",
    ),
    (
        "funds",
        "SELECT id, json_build_object('balance_fen', balance_fen,
             'subsidies_paid_fen', subsidies_paid_fen,
             'compensation_paid_fen', compensation_paid_fen)::text FROM funds",
    ),
    (
        "policies",
        "SELECT id, json_build_object('premium_fen', premium_fen, 'subsidy_fen', subsidy_fen,
             'insured_amount_fen', insured_amount_fen)::text FROM policies",
    ),
    (
        "loans",
        "SELECT id, json_build_object('status', status,
             'outstanding_principal_fen', outstanding_principal_fen)::text FROM loans",
    ),
    (
        "claims",
        "SELECT id, json_build_object('status', status, 'loss_fen', loss_fen,
             'bank_retained_fen', bank_retained_fen, 'insurer_gross_fen', insurer_gross_fen,
             'insurer_pays_bank_fen', insurer_pays_bank_fen, 'fund_fen', fund_fen,
             'fund_shortfall_fen', fund_shortfall_fen, 'reinsurer_fen', reinsurer_fen,
             'insurer_retained_fen', insurer_retained_fen, 'decision_due', decision_due,
             'payment_due', payment_due, 'late', late, 'recovered_fen', recovered_fen,
             'recovery', json_build_object('bank_fen', recovery_bank_fen,
                 'insurer_fen', recovery_insurer_fen, 'fund_fen', recovery_fund_fen,
                 'reinsurer_fen', recovery_reinsurer_fen))::text FROM claims",
    ),
];

/// The differences between the database's sections and the document's, one line each.
pub fn differences(db: &mut Client, document: &Value) -> anyhow::Result<(Vec<String>, usize)> {
    let mut found = Vec::new();
    let mut compared = 0;
    for (section, sql) in CHECKED {
        let mut ours: BTreeMap<String, Value> = BTreeMap::new();
        for row in db.query(*sql, &[])? {
            let id: String = row.get(0);
            let fields: String = row.get(1);
            ours.insert(id, serde_json::from_str(&fields)?);
        }
        let theirs = document[*section].as_object().cloned().unwrap_or_default();
        for (id, node) in &theirs {
            compared += 1;
            let Some(mine) = ours.get(id) else {
                found.push(format!("{section} {id}: on the node, not in the database"));
                continue;
            };
            for (field, value) in mine.as_object().into_iter().flatten() {
                let expected = node.get(field).cloned().unwrap_or(Value::Null);
                // A claim not yet decided has no split: the document leaves the field
                // out or null, the database holds NULL.
                if *value != expected {
                    found.push(format!(
                        "{section} {id}: {field} is {value} in the database, {expected} on the node"
                    ));
                }
            }
        }
        for id in ours.keys().filter(|id| !theirs.contains_key(*id)) {
            found.push(format!("{section} {id}: in the database, not on the node"));
        }
    }
    Ok((found, compared))
}

fn check(args: &MirrorArgs, genesis: &Genesis, db: &mut Client) -> anyhow::Result<ExitCode> {
    migrate(db)?;
    let Some(at) = mirrored(db, genesis)? else {
        bail!("the database holds no block yet: run `xinbao mirror` first");
    };
    let chain = NodeChain::new(&args.node, &args.tls)?;
    let tip = chain.height()?;
    ensure!(
        tip >= at.height,
        "the node's tip is {tip}, below the database's height {}: check against a node that has it",
        at.height
    );
    let auditor = verify_up_to(&chain, genesis, at.height, |_, _| {})?;
    let id = hex::encode(
        chain
            .entry(at.height)?
            .block
            .header
            .id(genesis.crypto_suite)
            .0,
    );
    ensure!(
        id == at.block_id,
        "the node's block {} is {id}, the database's is {}: not the same chain",
        at.height,
        at.block_id
    );
    let state = auditor.state();
    let date = auditor
        .date()
        .context("a chain of at least one block has a date")?;
    let version = contracts::upgrade::recorded(state).unwrap_or(genesis.protocol_version);
    let document =
        serde_json::to_value(contracts::report::report_under(state, date, &[], version))?;
    let (found, compared) = differences(db, &document)?;
    if found.is_empty() {
        println!(
            "the database matches the node at height {} ({date}): {compared} records of \
             programmes, funds, policies, loans and claims",
            at.height
        );
        return Ok(ExitCode::SUCCESS);
    }
    for line in &found {
        println!("{line}");
    }
    println!(
        "{} differences between the database and the node at height {}",
        found.len(),
        at.height
    );
    Ok(ExitCode::from(1))
}

/// A mirror run beside a benchmark: `xinbao mirror` as a process of its own, watched
/// through its database (what it has written, how far behind the tip it is).
pub struct Probe {
    child: std::process::Child,
    db: Client,
}

/// What a mirror had written at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub at: Instant,
    pub height: u64,
    pub txs: u64,
}

impl Probe {
    /// Starts `xinbao mirror` (this program) against `node` into `database`, which must
    /// be empty or hold this chain.
    pub fn start(
        node: &str,
        tls: &ClientTls,
        database: &str,
        genesis: &std::path::Path,
        log: &std::path::Path,
    ) -> anyhow::Result<Probe> {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args([
                "mirror",
                "--node",
                node,
                "--database",
                database,
                "--genesis",
            ])
            .arg(genesis)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log)?);
        for (flag, path) in [
            ("--cacert", &tls.cacert),
            ("--cert", &tls.cert),
            ("--key", &tls.key),
        ] {
            if let Some(path) = path {
                command.arg(flag).arg(path);
            }
        }
        let child = command.spawn().context("starting xinbao mirror")?;
        let db = Client::connect(database, NoTls)
            .with_context(|| format!("connecting to {}", redact(database)))?;
        Ok(Probe { child, db })
    }

    pub fn read(&mut self) -> anyhow::Result<Reading> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the mirror stopped ({status})");
        }
        let row = self.db.query_one(
            "SELECT coalesce((SELECT height FROM mirror_position), 0),
                    (SELECT count(*) FROM transactions)",
            &[],
        );
        // Before its first migration the tables do not exist yet.
        let (height, txs): (i64, i64) = match row {
            Ok(row) => (row.get(0), row.get(1)),
            Err(_) => (0, 0),
        };
        Ok(Reading {
            at: Instant::now(),
            height: height as u64,
            txs: txs as u64,
        })
    }

    /// Waits until the mirror holds `height`; the reading then.
    pub fn wait_for(&mut self, height: u64, timeout: Duration) -> anyhow::Result<Reading> {
        let deadline = Instant::now() + timeout;
        loop {
            let reading = self.read()?;
            if reading.height >= height {
                return Ok(reading);
            }
            ensure!(
                Instant::now() < deadline,
                "the mirror holds height {} of {height} after {} s",
                reading.height,
                timeout.as_secs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocks_rows_go_in_one_statement_per_table_keyed_as_the_schema() {
        let sql = insert_sql(&CLAIMS);
        assert!(sql.starts_with("INSERT INTO claims (id, loan, "));
        assert!(sql.contains("unnest($1::text[], $2::text[]"));
        assert!(sql.contains("$7::text[]::date[]"));
        assert!(sql.contains("$13::boolean[]"));
        assert!(sql.ends_with("ON CONFLICT (id) DO UPDATE SET loan = EXCLUDED.loan, programme = EXCLUDED.programme, bank = EXCLUDED.bank, insurer = EXCLUDED.insurer, status = EXCLUDED.status, filed = EXCLUDED.filed, completed = EXCLUDED.completed, decision_due = EXCLUDED.decision_due, payment_due = EXCLUDED.payment_due, decided = EXCLUDED.decided, paid = EXCLUDED.paid, late = EXCLUDED.late, loss_fen = EXCLUDED.loss_fen, bank_retained_fen = EXCLUDED.bank_retained_fen, insurer_gross_fen = EXCLUDED.insurer_gross_fen, fund_direct_fen = EXCLUDED.fund_direct_fen, fund_layer_fen = EXCLUDED.fund_layer_fen, insurer_pays_bank_fen = EXCLUDED.insurer_pays_bank_fen, fund_fen = EXCLUDED.fund_fen, fund_shortfall_fen = EXCLUDED.fund_shortfall_fen, reinsurer_fen = EXCLUDED.reinsurer_fen, insurer_retained_fen = EXCLUDED.insurer_retained_fen, reject_reason = EXCLUDED.reject_reason, recovered_fen = EXCLUDED.recovered_fen, recovery_bank_fen = EXCLUDED.recovery_bank_fen, recovery_insurer_fen = EXCLUDED.recovery_insurer_fen, recovery_fund_fen = EXCLUDED.recovery_fund_fen, recovery_reinsurer_fen = EXCLUDED.recovery_reinsurer_fen"));
        let sql = insert_sql(&TRANSACTIONS);
        assert!(sql.ends_with("ON CONFLICT (height, index) DO NOTHING"));
    }

    #[test]
    fn every_table_the_mirror_writes_is_in_the_schema_with_its_columns() {
        let schema: String = MIGRATIONS.iter().map(|m| m.2).collect();
        for table in ORDER {
            let start = schema
                .find(&format!("CREATE TABLE {} (", table.name))
                .unwrap_or_else(|| panic!("{} is not in the schema", table.name));
            let body = &schema[start..start + schema[start..].find(");").unwrap()];
            for (col, _) in table.cols {
                assert!(
                    body.lines()
                        .any(|l| l.trim_start().starts_with(&format!("{col} "))),
                    "{}.{col} is not in the schema",
                    table.name
                );
            }
        }
    }

    #[test]
    fn a_password_is_not_shown() {
        assert_eq!(
            redact("postgresql://mirror:s3cret@db.bank:5432/ledger"),
            "postgresql://mirror:***@db.bank:5432/ledger"
        );
        assert_eq!(
            redact("postgresql://mirror@db/ledger"),
            "postgresql://mirror@db/ledger"
        );
    }
}
