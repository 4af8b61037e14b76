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
    RecordView, ReportEntry, SectionEntry, StateAnswer, StateSectionView, Thresholds,
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

use crate::openapi::{BadRequest, NotFound};
use crate::reply::{bad_query, error, internal, ApiError, ApiResult};
use crate::shared::Shared;
use crate::store::{BlockOutline, TxLocation};

/// Most items in one page of a list.
pub const LIST_MAX: usize = 200;
/// Items in a page when the query names no `limit`.
const LIST_DEFAULT: usize = 50;
/// Blocks the validators' view looks back over when the query names no `window`.
const WINDOW_DEFAULT: u64 = 20;

/// A list's query, parsed: what each list takes, each value checked against its range. A
/// value out of its range is refused (`BadQuery`), not clamped, so that a client never
/// reads a page other than the one it asked for; a parameter the list does not take is
/// refused too.
pub trait Params: serde::de::DeserializeOwned {
    /// The `limit` asked for, where the list takes one.
    fn limit_asked(&self) -> Option<u32> {
        None
    }

    /// Items in the page: the `limit` asked for, or the default.
    fn limit(&self) -> usize {
        self.limit_asked().map_or(LIST_DEFAULT, |l| l as usize)
    }

    /// Refuses a value out of its range.
    fn check(&self) -> Result<(), ApiError> {
        if self
            .limit_asked()
            .is_some_and(|l| l == 0 || l as usize > LIST_MAX)
        {
            return Err(bad_query(format!("limit is from 1 to {LIST_MAX}")));
        }
        Ok(())
    }
}

/// A list's query as axum extracts it: refusals are answered by [`params`].
pub type ParamsResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// The query `T` of a list, checked.
fn params<T: Params>(query: ParamsResult<T>) -> Result<T, ApiError> {
    let query = query.map(|Query(q)| q).map_err(|e| {
        bad_query(format!(
            "the query is not one this list takes: {}",
            e.body_text()
        ))
    })?;
    query.check()?;
    Ok(query)
}

/// `?offset=N&limit=N`: a page of a list in its own order.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items to skip.
    #[param(maximum = 4294967295_u64)]
    offset: Option<u32>,
    /// Items in a page (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl Params for Paging {
    fn limit_asked(&self) -> Option<u32> {
        self.limit
    }
}

impl Paging {
    fn offset(&self) -> usize {
        self.offset.unwrap_or(0) as usize
    }
}

/// `?before=H&before_index=I&limit=N`: a page of a list in height order, newest first.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Before {
    /// Items below this height (with `before_index`, before that transaction of it).
    #[param(maximum = 18446744073709551615_u64)]
    before: Option<u64>,
    /// With `before`: items before this transaction of that height (alone, ignored).
    #[param(maximum = 4294967295_u64)]
    before_index: Option<u32>,
    /// Items in a page (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl Params for Before {
    fn limit_asked(&self) -> Option<u32> {
        self.limit
    }
}

impl Before {
    /// `before` (and `before_index`) as a location: everything below height `before`, or
    /// before transaction `before_index` of it.
    fn location(&self) -> Option<TxLocation> {
        self.before.map(|height| TxLocation {
            height,
            index: self.before_index.unwrap_or(0),
        })
    }
}

/// The claims desk's query: which claims, whose, and the page.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeskQuery {
    /// Which claims (default `open`).
    #[param(inline)]
    status: Option<DeskStatus>,
    /// One insurer's claims.
    insurer: Option<String>,
    /// One programme's claims.
    programme: Option<String>,
    /// Items to skip.
    #[param(maximum = 4294967295_u64)]
    offset: Option<u32>,
    /// Items in a page (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl Params for DeskQuery {
    fn limit_asked(&self) -> Option<u32> {
        self.limit
    }
}

/// Which claims the desk lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeskStatus {
    /// Those not yet paid or rejected.
    #[default]
    Open,
    /// The open ones past a due date.
    Overdue,
    /// The closed ones paid after their due date.
    Late,
    /// The open ones, then every closed one.
    All,
}

impl DeskStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeskStatus::Open => "open",
            DeskStatus::Overdue => "overdue",
            DeskStatus::Late => "late",
            DeskStatus::All => "all",
        }
    }
}

/// `?window=N`: how many recent blocks the validators' view looks back over.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Window {
    /// Recent blocks (default 20, at most 200).
    #[param(minimum = 1, maximum = 200)]
    window: Option<u64>,
}

impl Params for Window {
    fn check(&self) -> Result<(), ApiError> {
        if self.window.is_some_and(|w| w == 0 || w > LIST_MAX as u64) {
            return Err(bad_query(format!("window is from 1 to {LIST_MAX} blocks")));
        }
        Ok(())
    }
}

/// `?q=TEXT`: what to look for.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// An id, a height or a hash.
    #[param(min_length = 1)]
    q: String,
}

impl Params for Search {}

/// `?section=S&after=ID&limit=N`: a page of one section of the R10 document.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Section {
    /// One section, a page at a time in id order (without it, the whole document).
    #[param(inline)]
    section: Option<SectionName>,
    /// The record id the page starts after.
    after: Option<String>,
    /// Items in a page (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl Params for Section {
    fn limit_asked(&self) -> Option<u32> {
        self.limit
    }
}

/// A section of the R10 document that holds one entry per record
/// (`contracts::report::SECTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SectionName {
    Attestations,
    Claims,
    Funds,
    Loans,
    Policies,
    Programmes,
}

impl SectionName {
    #[cfg(test)]
    const ALL: [SectionName; 6] = [
        SectionName::Attestations,
        SectionName::Claims,
        SectionName::Funds,
        SectionName::Loans,
        SectionName::Policies,
        SectionName::Programmes,
    ];

    fn as_str(self) -> &'static str {
        match self {
            SectionName::Attestations => "attestations",
            SectionName::Claims => "claims",
            SectionName::Funds => "funds",
            SectionName::Loans => "loans",
            SectionName::Policies => "policies",
            SectionName::Programmes => "programmes",
        }
    }
}

/// The kinds of record `GET /v1/records/{kind}/{id}` answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Policy,
    Loan,
    Fund,
    Org,
    Enterprise,
    Attestation,
}

impl RecordKind {
    const ALL: [RecordKind; 6] = [
        RecordKind::Policy,
        RecordKind::Loan,
        RecordKind::Fund,
        RecordKind::Org,
        RecordKind::Enterprise,
        RecordKind::Attestation,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RecordKind::Policy => "policy",
            RecordKind::Loan => "loan",
            RecordKind::Fund => "fund",
            RecordKind::Org => "org",
            RecordKind::Enterprise => "enterprise",
            RecordKind::Attestation => "attestation",
        }
    }

    fn parse(text: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One page of `items`, from `offset`, at most `limit` of them, with the ledger's `date`
/// where their figures depend on it.
fn paged<T>(items: Vec<T>, query: &Paging, date: Option<Date>) -> Page<T> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_names_are_the_reports_sections() {
        let ours: Vec<&str> = SectionName::ALL.iter().map(|s| s.as_str()).collect();
        let report: Vec<&str> = contracts::report::SECTIONS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(ours, report);
        for name in SectionName::ALL {
            let parsed: SectionName =
                serde_json::from_value(serde_json::json!(name.as_str())).unwrap();
            assert_eq!(parsed, name);
        }
    }

    #[test]
    fn a_record_kind_reads_as_it_is_written() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::parse(kind.as_str()), Some(kind));
            let parsed: RecordKind =
                serde_json::from_value(serde_json::json!(kind.as_str())).unwrap();
            assert_eq!(parsed, kind);
        }
        assert_eq!(RecordKind::parse("programme"), None);
    }
}
