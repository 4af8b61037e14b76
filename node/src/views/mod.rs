//! The API's read views for people: the network's validators and their recent votes,
//! block and transaction lists, search, the programmes with their month-end history,
//! the claims desk, rate filings, organisations, records with their transactions, and
//! a stream of new blocks. The console (`crate::console`) is built on these alone.
//!
//! Every list is paged (`offset`/`limit`, or `before` for what is ordered by height), and
//! every handler reads what it answers from an index or from a bounded range of blocks:
//! the block-id and record indexes and the month ends of [`crate::store`]. Amounts are
//! fen, ratios basis points, hashes and keys hex, dates `YYYY-MM-DD`, as in DOMAIN.md R10.

mod chain;
mod claims;
mod programmes;
mod records;

pub use self::chain::*;
pub use self::claims::*;
pub use self::programmes::*;
pub use self::records::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use contracts::store::{self, keys, Claim, Fund, KeyRecord, Loan, Org, Policy, Programme};
use ledger::api::records::{
    AttestationView, ClaimRecordView, ClaimView, ClaimsDeskView, DeskFigures,
    EnterpriseAttestationsView, EnterpriseView, FiguresAsOf, FiledPolicy, FilingDetailView,
    FilingView, FundView, LoanView, NextPage, OrgView, OrganisationView, Page, PolicyView,
    ProgrammeHistoryView, ProgrammeView, QualifyingAttestation, Record, RecordTx, RecordTxs,
    RecordView, ReportEntry, SectionEntry, StateSectionView, Thresholds,
};
use ledger::api::{
    BlockSummaryView, BlockTxView, BlockView, BlocksPage, ErrorCode, ErrorDetail, ReceiptView,
    SearchHit, SearchView, SignatureView, SignerView, TxStatusView, ValidatorActivity,
    ValidatorsView,
};
use ledger::block::{BlockHeader, BlockId};
use ledger::crypto::PublicKey;
use ledger::state::StateView;
use ledger::tx::{SignedTx, TxId};
use ledger::{Date, Fen, Id};
use serde::Deserialize;

use crate::reply::{error, internal, ApiError, ApiResult};
use crate::shared::Shared;
use crate::store::{BlockOutline, TxLocation};

/// Most items in one page of a list.
pub const LIST_MAX: usize = 200;
/// Items in a page when the query names no `limit`.
const LIST_DEFAULT: usize = 50;
/// Blocks the validators' view looks back over when the query names no `window`.
const WINDOW_DEFAULT: u64 = 20;

/// `?offset=N&limit=N&before=H&before_index=I` (each optional) and the filters of some
/// lists. A value out of its range is refused (`BadQuery`), not clamped, so that a client
/// never reads a page other than the one it asked for.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    offset: Option<u32>,
    limit: Option<u32>,
    /// For lists in height order: items before this height (with `before_index`, before
    /// that transaction of it; `before_index` alone is ignored).
    before: Option<u64>,
    before_index: Option<u32>,
    /// The claims desk: `open` (the default), `overdue`, `late` or `all`.
    status: Option<String>,
    /// The claims desk: one insurer's claims.
    insurer: Option<String>,
    /// The claims desk: one programme's claims.
    programme: Option<String>,
    /// The validators' view: how many recent blocks.
    window: Option<u64>,
    /// Search: what to look for.
    q: Option<String>,
    /// The state: which section of the R10 document.
    section: Option<String>,
    /// The state: the record id a page of a section starts after.
    after: Option<String>,
}

type ListQueryResult = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

fn bad_query(message: impl Into<String>) -> ApiError {
    error(ErrorCode::BadQuery, message)
}

fn list_query(query: ListQueryResult) -> Result<ListQuery, ApiError> {
    let query = query.map(|Query(q)| q).map_err(|e| {
        bad_query(format!(
            "the query is not one this list takes: {}",
            e.body_text()
        ))
    })?;
    if query.limit.is_some_and(|l| l == 0 || l as usize > LIST_MAX) {
        return Err(bad_query(format!("limit is from 1 to {LIST_MAX}")));
    }
    if query.window.is_some_and(|w| w == 0 || w > LIST_MAX as u64) {
        return Err(bad_query(format!("window is from 1 to {LIST_MAX} blocks")));
    }
    Ok(query)
}

impl ListQuery {
    fn limit(&self) -> usize {
        self.limit.map_or(LIST_DEFAULT, |l| l as usize)
    }

    fn offset(&self) -> usize {
        self.offset.unwrap_or(0) as usize
    }

    /// `before` (and `before_index`) as a location: everything below height `before`, or
    /// before transaction `before_index` of it.
    fn before(&self) -> Option<TxLocation> {
        self.before.map(|height| TxLocation {
            height,
            index: self.before_index.unwrap_or(0),
        })
    }
}

/// The page of `items` the query asks for, with the ledger's `date` where their figures
/// depend on it.
fn paged<T>(items: Vec<T>, query: &ListQuery, date: Option<Date>) -> Page<T> {
    let total = items.len();
    let offset = query.offset().min(total);
    let limit = query.limit();
    Page {
        date,
        items: items.into_iter().skip(offset).take(limit).collect(),
        limit,
        offset,
        total,
    }
}

fn not_found(what: impl Into<String>) -> ApiError {
    error(ErrorCode::NotFound, what)
}

fn parse_id(text: &str) -> Result<Id, ApiError> {
    Id::new(text).map_err(|e| error(ErrorCode::BadId, format!("{text:?} is not an id: {e}")))
}

/// The date the ledger is at: its latest block's, in UTC+8.
fn ledger_date(shared: &Shared) -> Result<Date, ApiError> {
    let tip = shared.chain.tip().map_err(internal)?;
    Date::from_unix_ms_cst(tip.time_ms).map_err(internal)
}

/// Each signature of a transaction with the organisation its key counts for.
fn signatures_of(state: &dyn StateView, tx: &SignedTx) -> Vec<SignatureView> {
    tx.signatures
        .iter()
        .map(|s| {
            let record = store::read::<KeyRecord>(state, &keys::key(&s.public_key));
            SignatureView {
                public_key: s.public_key,
                org: record.as_ref().map(|r| r.org.clone()),
                revoked: record.is_some_and(|r| r.revoked),
            }
        })
        .collect()
}
