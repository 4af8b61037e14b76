//! The API's views of the rulebook's records: programmes with their month ends, rate
//! filings, organisations, the claims desk, one record of any kind with the transactions
//! that name it, an enterprise's attestations and pages of the R10 document.
//!
//! Each view is the record's R10 figures ([`super::report`]) flattened beside what the
//! view adds: the record's id, its parties, dates and how it is listed.

use serde::{Deserialize, Serialize};

use super::report::{
    AttestationFigures, ClaimDetail, ClaimFigures, FundFigures, LoanFigures, MonthFigures,
    OrganisationTotals, PolicyFigures, ProgrammeDetail, ProgrammeFigures,
};
use crate::action::{Action, ClaimTerms, Eligibility, Triggers};
use crate::money::{Bps, Fen};
use crate::{Date, Id, Text};

/// One page of a list: `items` from `offset`, at most `limit` of them, of `total`; with
/// the ledger's date where the items' figures depend on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    pub items: Vec<T>,
    pub limit: usize,
    pub offset: usize,
    pub total: usize,
}

/// `GET /v1/programmes` (an item) and `GET /v1/programmes/{id}`: a programme's terms,
/// figures as of the ledger's date, thresholds and its fund's cap usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgrammeView {
    #[serde(flatten)]
    pub detail: ProgrammeDetail,
    pub claims_terms: ClaimTerms,
    /// R14.3: what a policy's enterprise needs (absent before version 3).
    pub eligibility: Option<Vec<Eligibility>>,
    /// `None` when the programme's fund is not in the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund_figures: Option<FundView>,
    pub id: Id,
    pub period_end: Date,
    pub period_start: Date,
    pub reinsurance_quota_bps: Bps,
    pub thresholds: Thresholds,
    pub triggers: Triggers,
}

/// R5.1: the ratios at which a programme is warned and suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Thresholds {
    pub loss_ratio_suspend_bps: Bps,
    pub loss_ratio_warn_bps: Bps,
    pub overdue_ratio_suspend_bps: Bps,
    pub overdue_ratio_warn_bps: Bps,
}

/// `GET /v1/programmes/{id}`: the programme, its figures at every month end the ledger
/// has passed and as of the ledger's date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgrammeHistoryView {
    #[serde(flatten)]
    pub programme: ProgrammeView,
    pub date: Date,
    pub months: Vec<FiguresAsOf>,
    pub now: FiguresAsOf,
}

/// A programme's figures as of a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FiguresAsOf {
    pub as_of: Date,
    #[serde(flatten)]
    pub figures: MonthFigures,
}

/// A fund: its R10 figures, and this year's payments against its annual cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FundView {
    pub annual_cap_fen: Fen,
    pub cap_used_bps: Bps,
    #[serde(flatten)]
    pub figures: FundFigures,
    pub government: Id,
    pub paid_this_year_fen: Fen,
    pub year: i32,
}

/// `GET /v1/filings` (an item): a rate filing (R3), whether it is in force on the
/// ledger's date and how many policies were issued under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FilingView {
    pub filing_ref: Text,
    /// The filing's hash, hex.
    pub id: String,
    pub in_force: bool,
    pub insurer: Id,
    pub policies: u64,
    pub product: Id,
    pub rates_bps: Vec<Bps>,
    pub valid_from: Date,
    pub valid_to: Date,
}

/// `GET /v1/filings/{insurer}/{product}/{id}`: a filing with a page of the policies
/// issued under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FilingDetailView {
    #[serde(flatten)]
    pub filing: FilingView,
    pub date: Date,
    pub issued: Page<FiledPolicy>,
}

/// A policy issued under a filing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FiledPolicy {
    pub bank: Id,
    pub enterprise: Id,
    pub id: Id,
    pub issued: Date,
    pub loan_principal_fen: Fen,
    pub premium_fen: Fen,
    pub premium_rate_bps: Bps,
    pub programme: Id,
}

/// `GET /v1/organisations` (an item): a member's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrganisationView {
    pub id: Id,
    #[serde(flatten)]
    pub totals: OrganisationTotals,
}

/// A claim on the claims desk (R7.5): its detail, programme and insurer, and why it was
/// rejected or what documents it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimView {
    #[serde(flatten)]
    pub detail: ClaimDetail,
    pub id: Id,
    /// `None` when the claim's programme is not in the state.
    pub insurer: Option<Id>,
    pub missing_documents: Vec<Id>,
    pub programme: Id,
    pub reject_reason: Option<Text>,
}

/// `GET /v1/claims`: a page of the claims desk and its figures per insurer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimsDeskView {
    #[serde(flatten)]
    pub page: Page<ClaimView>,
    pub per_insurer: Vec<DeskFigures>,
    /// `open`, `overdue`, `late` or `all`.
    pub status: String,
}

/// The claims desk's figures for one insurer: claims listed, overdue, paid late.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeskFigures {
    pub claims: u64,
    pub insurer: String,
    pub late: u64,
    pub overdue: u64,
}

/// `GET /v1/claims/{id}`: one claim with the transactions that moved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimRecordView {
    #[serde(flatten)]
    pub claim: ClaimView,
    pub date: Date,
    pub txs: RecordTxs,
}

/// The transactions that name a record, newest first, and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordTxs {
    pub items: Vec<RecordTx>,
    pub next: Option<NextPage>,
}

/// `?before=H&before_index=I`: the page after one in height order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NextPage {
    pub before: u64,
    pub before_index: u32,
}

/// A transaction that names a record: where it is, its block's date, its receipt (as
/// [`super::ReceiptView`]) and its action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordTx {
    #[schema(value_type = Object)]
    pub action: Action,
    /// The rulebook's code of a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<crate::Code>,
    pub date: Option<Date>,
    pub height: u64,
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
    pub outcome: super::OutcomeName,
    pub tx_id: crate::tx::TxId,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// `GET /v1/records/{kind}/{id}`: a record with the transactions that name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordView {
    pub date: Date,
    pub id: Id,
    #[serde(flatten)]
    pub record: Record,
    pub txs: RecordTxs,
}

/// What [`RecordView`] shows of each kind of record, named by its `record_kind`:
/// `policy`, `attestation`, `loan`, `fund`, `org` or `enterprise`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "record_kind", rename_all = "lowercase")]
pub enum Record {
    Policy(PolicyView),
    Attestation(AttestationView),
    Loan(LoanView),
    Fund(FundView),
    Org(OrgView),
    Enterprise(EnterpriseView),
}

/// A policy: its R10 figures and terms, and the attestations that qualified it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub bank: Id,
    pub enterprise: Id,
    #[serde(flatten)]
    pub figures: PolicyFigures,
    pub issued: Date,
    pub loan: Option<Id>,
    pub loan_principal_fen: Fen,
    pub loan_rate_bps: Bps,
    pub premium_rate_bps: Bps,
    pub programme: Id,
    /// R14.4: the attestations that met the programme's eligibility on its issue date.
    pub qualified_by: Vec<QualifyingAttestation>,
    pub term_months: u64,
}

/// An attestation that met one of a programme's eligibility entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QualifyingAttestation {
    #[serde(flatten)]
    pub attestation: AttestationFigures,
    pub id: Id,
}

/// An attestation as the R10 document shows it, with its id, facts hash and revocation
/// date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttestationView {
    #[serde(flatten)]
    pub attestation: AttestationFigures,
    pub facts_hash: Id,
    pub id: Id,
    pub revoked_on: Option<Date>,
}

/// A loan: its R10 figures as of the ledger's date, its policy and programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoanView {
    #[serde(flatten)]
    pub figures: LoanFigures,
    pub policy: Id,
    pub programme: Id,
}

/// An organisation: its kind, as in the genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrgView {
    pub kind: String,
}

/// An enterprise: whether it is flagged (R6.7) and how many attestations it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnterpriseView {
    pub attestations: usize,
    pub flag_reason: Option<Text>,
    pub flagged: bool,
    pub flagged_since: Option<Date>,
}

/// `GET /v1/enterprises/{id}/attestations`: a page of an enterprise's attestations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnterpriseAttestationsView {
    pub enterprise: Id,
    pub items: Vec<AttestationView>,
    pub offset: usize,
    pub total: usize,
}

/// `GET /v1/state?section=S`: a page of one section of the R10 document, in id order, and
/// the id to ask after for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateSectionView {
    pub date: Date,
    pub items: Vec<SectionEntry>,
    pub next: Option<Id>,
    pub section: String,
}

/// `GET /v1/state`: the whole R10 document, or a page of one of its sections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StateAnswer {
    Whole(super::report::Report),
    Section(StateSectionView),
}

/// One record of a section of the R10 document, with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SectionEntry {
    #[serde(flatten)]
    pub entry: ReportEntry,
    pub id: Id,
}

/// A record as one section of the R10 document shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ReportEntry {
    Attestation(AttestationFigures),
    Claim(ClaimFigures),
    Fund(FundFigures),
    Loan(LoanFigures),
    Policy(PolicyFigures),
    Programme(ProgrammeFigures),
}
