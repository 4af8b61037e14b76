//! Where the rulebook keeps its records, and the working view a transaction runs on.
//!
//! Keys are readable: a kind prefix such as `prog/`, then the record's identifiers. An
//! identifier never contains a control character ([`ledger::Id`] refuses them), so the
//! parts of a composite key are separated by a NUL byte and no two keys can be confused,
//! even when an id contains `/`. Values are the records below in the canonical encoding
//! ([`ledger::codec`]).
//!
//! | key                                   | value            |
//! |---------------------------------------|------------------|
//! | `org/<org>`                           | [`Org`]          |
//! | `key/<hex public key>`                | [`KeyRecord`]    |
//! | `rate/<insurer>\0<product>\0<hash>`   | [`RateFiling`]   |
//! | `fund/<fund>`                         | [`Fund`]         |
//! | `prog/<programme>`                    | [`Programme`]    |
//! | `pol/<policy>`                        | [`Policy`]       |
//! | `loan/<loan>`                         | [`Loan`]         |
//! | `progloan/<programme>\0<loan>`        | empty (index)    |
//! | `claim/<claim>`                       | [`Claim`]        |
//! | `flag/<enterprise>`                   | [`Flag`]         |
//! | `doc/<financing document hash>`       | policy id        |
//! | `cal/<year, 4 digits>`                | [`Calendar`]     |
//!
//! Governance (R11) keeps its own records beside these: see [`crate::governance`]; so do
//! protocol versions (R12, [`crate::upgrade`]) and, from version 2, the retained
//! liabilities of R13 ([`crate::obligor`]).

use bincode::{Decode, Encode};
use ledger::action::CreateProgramme;
use ledger::codec::{self, BLOCK_BYTES_MAX};
use ledger::state::{Overlay, StateView, WriteSet};
use ledger::{Bps, Code, Date, Fen, Id, OrgKind, Text};

pub mod keys {
    use ledger::crypto::PublicKey;
    use ledger::Id;

    fn join(prefix: &str, parts: &[&str]) -> Vec<u8> {
        let len = prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
        let mut key = Vec::with_capacity(len);
        key.extend_from_slice(prefix.as_bytes());
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                key.push(0);
            }
            key.extend_from_slice(part.as_bytes());
        }
        key
    }

    pub const ORG: &str = "org/";
    pub const FUND: &str = "fund/";
    pub const PROGRAMME: &str = "prog/";
    pub const POLICY: &str = "pol/";
    pub const LOAN: &str = "loan/";
    pub const CLAIM: &str = "claim/";
    pub const RATE: &str = "rate/";

    pub fn org(id: &Id) -> Vec<u8> {
        join(ORG, &[id.as_str()])
    }
    pub fn key(public_key: &PublicKey) -> Vec<u8> {
        join("key/", &[&public_key.to_hex()])
    }
    /// All filings of `insurer` for `product` (the trailing NUL ends the product id).
    pub fn rates_of(insurer: &Id, product: &Id) -> Vec<u8> {
        let mut key = join(RATE, &[insurer.as_str(), product.as_str()]);
        key.push(0);
        key
    }
    pub fn rate(insurer: &Id, product: &Id, filing_hash: &[u8; 32]) -> Vec<u8> {
        let mut key = rates_of(insurer, product);
        key.extend_from_slice(hex::encode(filing_hash).as_bytes());
        key
    }
    pub fn fund(id: &Id) -> Vec<u8> {
        join(FUND, &[id.as_str()])
    }
    pub fn programme(id: &Id) -> Vec<u8> {
        join(PROGRAMME, &[id.as_str()])
    }
    pub fn policy(id: &Id) -> Vec<u8> {
        join(POLICY, &[id.as_str()])
    }
    pub fn loan(id: &Id) -> Vec<u8> {
        join(LOAN, &[id.as_str()])
    }
    /// The loans of a programme (the trailing NUL ends the programme id).
    pub fn loans_of(programme: &Id) -> Vec<u8> {
        let mut key = join("progloan/", &[programme.as_str()]);
        key.push(0);
        key
    }
    pub fn programme_loan(programme: &Id, loan: &Id) -> Vec<u8> {
        let mut key = loans_of(programme);
        key.extend_from_slice(loan.as_str().as_bytes());
        key
    }
    pub fn claim(id: &Id) -> Vec<u8> {
        join(CLAIM, &[id.as_str()])
    }
    pub fn flag(enterprise: &Id) -> Vec<u8> {
        join("flag/", &[enterprise.as_str()])
    }
    pub fn document(hash: &Id) -> Vec<u8> {
        join("doc/", &[hash.as_str()])
    }
    pub fn calendar(year: i32) -> Vec<u8> {
        join("cal/", &[&format!("{year:04}")])
    }
}

/// R2.1: a consortium member.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Org {
    pub kind: OrgKind,
}

/// A key that signs for an organisation: its genesis admin key or a registered staff key.
/// A revoked key stays recorded so that it can never be registered again.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct KeyRecord {
    pub org: Id,
    pub revoked: bool,
}

/// R3.1: rates an insurer may charge for a product between two dates (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RateFiling {
    pub rates_bps: Vec<Bps>,
    pub valid_from: Date,
    pub valid_to: Date,
    pub filing_ref: Text,
}

/// R4: a government's credit-guarantee-insurance fund.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Fund {
    pub government: Id,
    pub annual_cap_fen: Fen,
    pub balance_fen: Fen,
    pub subsidies_paid_fen: Fen,
    pub compensation_paid_fen: Fen,
    /// R4.3: what the fund has paid in each calendar year, by year (ascending).
    pub paid_by_year: Vec<(i32, Fen)>,
}

/// R5.1 warnings, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum Warning {
    LossRatio,
    OverdueRatio,
}

impl Warning {
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::LossRatio => "LossRatio",
            Warning::OverdueRatio => "OverdueRatio",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum ProgrammeStatus {
    Active,
    Suspended,
}

impl ProgrammeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgrammeStatus::Active => "Active",
            ProgrammeStatus::Suspended => "Suspended",
        }
    }
}

/// R5: the agreement as created, and the figures that move with it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Programme {
    pub terms: CreateProgramme,
    pub status: ProgrammeStatus,
    pub premium_written_fen: Fen,
    pub claims_gross_fen: Fen,
    pub warnings: Vec<Warning>,
}

/// R6.1–R6.2: an issued policy.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Policy {
    pub programme: Id,
    pub enterprise: Id,
    pub bank: Id,
    pub loan_principal_fen: Fen,
    pub loan_rate_bps: Bps,
    pub term_months: u64,
    pub premium_rate_bps: Bps,
    pub financing_doc_hash: Option<Id>,
    pub issued: Date,
    pub premium_fen: Fen,
    pub subsidy_fen: Fen,
    pub insured_amount_fen: Fen,
    /// R6.3: one loan per policy.
    pub loan: Option<Id>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum LoanStatus {
    Active,
    Repaid,
    Claimed,
}

impl LoanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoanStatus::Active => "Active",
            LoanStatus::Repaid => "Repaid",
            LoanStatus::Claimed => "Claimed",
        }
    }
}

/// Consecutive unpaid instalments that fell due with the same interest: instalments
/// `first_k .. first_k + count`. Between two transactions on a loan its principal does not
/// change, so all instalments that fall due in between carry the same interest (R6.4) and
/// one run holds them all, however long the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Run {
    pub first_k: u64,
    pub count: u64,
    pub interest_fen: Fen,
}

/// R6.3–R6.6: a loan, as of the last date its instalments were brought up to
/// (see [`crate::loan::as_of`] for the view on any later date).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Loan {
    pub policy: Id,
    pub programme: Id,
    pub bank: Id,
    pub enterprise: Id,
    pub rate_bps: Bps,
    pub term_months: u64,
    pub start: Date,
    pub maturity: Date,
    pub status: LoanStatus,
    pub outstanding_principal_fen: Fen,
    /// Instalments fallen due so far: k = 1..=due_count.
    pub due_count: u64,
    /// Unpaid instalments of non-zero interest, oldest first.
    pub unpaid: Vec<Run>,
    /// Paid so far toward the oldest unpaid instalment.
    pub paid_toward_oldest_fen: Fen,
    /// R6.5a, sticky.
    pub on_time: bool,
    /// R7.1: the claim on this loan that is not rejected, if any.
    pub claim: Option<Id>,
}

/// What the R5 figures read of every loan of a programme
/// ([`crate::loan::figures_of_record`]): a stored [`Loan`]'s clock and principal, read
/// from its record in place. R5 reads every loan of a programme at each review, so this
/// walks the canonical encoding by hand (little-endian, fixed-width integers, a length
/// before each id and list, an enum as its `u32` variant index) in `Loan`'s field order:
/// it skips the ids, stops after the status when the loan is not active, and reads only
/// the oldest unpaid run. Tests hold it to the full decoding.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LoanClock {
    pub rate_bps: Bps,
    pub term_months: u64,
    pub start: Date,
    pub maturity: Date,
    pub status: LoanStatus,
    pub outstanding_principal_fen: Fen,
    pub due_count: u64,
    pub oldest_unpaid: Option<Run>,
}

impl LoanClock {
    /// The clock of a stored loan's record, or `None` if the bytes are not one.
    pub fn read(record: &[u8]) -> Option<LoanClock> {
        let mut at = Cursor(record);
        for _ in 0..4 {
            let len = usize::try_from(at.u64()?).ok()?;
            at.skip(len)?;
        }
        let rate_bps = at.u64()?;
        let term_months = at.u64()?;
        let start = at.date()?;
        let maturity = at.date()?;
        let status = match at.u32()? {
            0 => LoanStatus::Active,
            1 => LoanStatus::Repaid,
            2 => LoanStatus::Claimed,
            _ => return None,
        };
        let mut clock = LoanClock {
            rate_bps,
            term_months,
            start,
            maturity,
            status,
            outstanding_principal_fen: Fen::ZERO,
            due_count: 0,
            oldest_unpaid: None,
        };
        if status != LoanStatus::Active {
            return Some(clock);
        }
        clock.outstanding_principal_fen = Fen(at.u64()?);
        clock.due_count = at.u64()?;
        if at.u64()? > 0 {
            clock.oldest_unpaid = Some(Run {
                first_k: at.u64()?,
                count: at.u64()?,
                interest_fen: Fen(at.u64()?),
            });
        }
        Some(clock)
    }
}

/// The programme id of a stored loan record (its second field), read in place.
pub fn loan_programme(record: &[u8]) -> Option<&str> {
    let mut at = Cursor(record);
    let policy = usize::try_from(at.u64()?).ok()?;
    at.skip(policy)?;
    let len = usize::try_from(at.u64()?).ok()?;
    std::str::from_utf8(at.0.get(..len)?).ok()
}

/// Reading canonical fixed-width fields off the front of a record.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn skip(&mut self, len: usize) -> Option<()> {
        self.0 = self.0.get(len..)?;
        Some(())
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn date(&mut self) -> Option<Date> {
        Date::from_days(self.take().map(i32::from_le_bytes)?).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum ClaimStatus {
    Filed,
    AwaitingDocuments,
    Approved,
    Rejected,
    Paid,
}

impl ClaimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Filed => "Filed",
            ClaimStatus::AwaitingDocuments => "AwaitingDocuments",
            ClaimStatus::Approved => "Approved",
            ClaimStatus::Rejected => "Rejected",
            ClaimStatus::Paid => "Paid",
        }
    }
}

/// R7.3: how an approved loss was settled. `bank_retained + insurer_retained + fund +
/// reinsurer = loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct Settlement {
    pub bank_retained_fen: Fen,
    pub insurer_gross_fen: Fen,
    pub fund_direct_fen: Fen,
    pub fund_layer_fen: Fen,
    pub insurer_pays_bank_fen: Fen,
    pub fund_fen: Fen,
    pub fund_shortfall_fen: Fen,
    pub reinsurer_fen: Fen,
    pub insurer_retained_fen: Fen,
}

/// R7.6: recoveries so far, by the party they returned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct Recovery {
    pub bank_fen: Fen,
    pub insurer_fen: Fen,
    pub fund_fen: Fen,
    pub reinsurer_fen: Fen,
}

/// R7: a claim on a loan.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Claim {
    pub loan: Id,
    pub programme: Id,
    pub bank: Id,
    pub status: ClaimStatus,
    pub filed: Date,
    pub documents: Vec<Id>,
    pub documents_requested: bool,
    pub missing: Vec<Id>,
    /// R7.2: when the documents were complete; `None` while awaiting documents.
    pub completed: Option<Date>,
    pub decision_due: Option<Date>,
    pub payment_due: Option<Date>,
    pub loss_fen: Fen,
    pub settlement: Option<Settlement>,
    pub decided: Option<Date>,
    pub reject_reason: Option<Text>,
    pub paid: Option<Date>,
    pub late: bool,
    pub recovered_fen: Fen,
    pub recovery: Recovery,
}

/// R6.7: an enterprise no policy may be issued to.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Flag {
    pub reason: Text,
    pub since: Date,
}

/// R8: one year's registered holidays and make-up working days, sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct Calendar {
    pub holidays: Vec<Date>,
    pub workdays: Vec<Date>,
}

/// Read a record. State is only ever written by this crate, so a value that does not
/// decode is a broken invariant, not an input error.
pub fn read<T: Decode<()> + Encode>(state: &dyn StateView, key: &[u8]) -> Option<T> {
    let mut record = None;
    state.read_with(key, &mut |bytes| record = Some(decode_record(bytes)));
    record
}

pub fn decode_record<T: Decode<()> + Encode>(bytes: &[u8]) -> T {
    // State is only ever written by this crate's own encoding.
    codec::decode_own(bytes, BLOCK_BYTES_MAX).expect("a stored record decodes")
}

/// Every record under `prefix`, with the id that follows the prefix, in key order.
pub fn scan<T: Decode<()> + Encode>(state: &dyn StateView, prefix: &str) -> Vec<(Id, T)> {
    state
        .scan_prefix(prefix.as_bytes())
        .into_iter()
        .map(|(key, value)| {
            let id = std::str::from_utf8(&key[prefix.len()..])
                .ok()
                .and_then(|s| Id::new(s).ok())
                .expect("a stored key names a valid id");
            (id, decode_record(&value))
        })
        .collect()
}

/// The state one transaction runs on: the committed state with the transaction's own
/// writes laid over it. Dropping it discards the writes (a rejection changes nothing).
pub struct Work<'a> {
    view: Overlay<'a, dyn StateView + 'a>,
    pub date: Date,
    /// The signing organisations, sorted and deduplicated.
    pub signers: Vec<Id>,
    /// The organisations whose admin key signed (R11.2), sorted and deduplicated.
    pub approvers: Vec<Id>,
    /// The block's height (the step number in a scenario).
    pub height: u64,
    /// The protocol version the transaction executes under (R12.1).
    pub version: u32,
    /// The chain's crypto suite.
    pub suite: ledger::crypto::Suite,
}

impl<'a> Work<'a> {
    pub fn new(state: &'a dyn StateView, ctx: &crate::TxContext) -> Self {
        let sorted = |ids: &[Id]| {
            let mut ids = ids.to_vec();
            ids.sort();
            ids.dedup();
            ids
        };
        Work {
            view: Overlay::new(state),
            date: ctx.date,
            signers: sorted(&ctx.signers),
            approvers: sorted(&ctx.approvers),
            height: ctx.height,
            version: ctx.version,
            suite: ctx.suite,
        }
    }

    pub fn view(&self) -> &dyn StateView {
        &self.view
    }

    pub fn get<T: Decode<()> + Encode>(&self, key: &[u8]) -> Option<T> {
        read(&self.view, key)
    }

    pub fn exists(&self, key: &[u8]) -> bool {
        self.view.get(key).is_some()
    }

    pub fn put<T: Encode>(&mut self, key: Vec<u8>, value: &T) {
        self.view.put(key, codec::encode(value));
    }

    pub fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.view.put(key, value);
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.view.delete(key);
    }

    pub fn into_writes(self) -> WriteSet {
        self.view.into_writes()
    }

    /// What the transaction has written so far.
    pub fn writes(&self) -> &WriteSet {
        self.view.writes()
    }

    /// Lays more writes over what the transaction has written.
    pub fn apply(&mut self, writes: WriteSet) {
        self.view.apply(writes);
    }

    /// The kind of a member, or `None` for a name that is not one.
    pub fn org_kind(&self, id: &Id) -> Option<OrgKind> {
        self.get::<Org>(&keys::org(id)).map(|org| org.kind)
    }

    /// R2.4 (2): `id` names a member of `kind`, else `UnknownParty`.
    pub fn expect_org(&self, id: &Id, kind: OrgKind) -> Result<(), Code> {
        match self.org_kind(id) {
            Some(k) if k == kind => Ok(()),
            _ => Err(Code::UnknownParty),
        }
    }

    /// R2.3, the first half of check (3): every signer is a member and none is an auditor.
    pub fn check_signers(&self) -> Result<(), Code> {
        for signer in &self.signers {
            match self.org_kind(signer) {
                Some(OrgKind::Auditor) | None => return Err(Code::Unauthorized),
                Some(_) => {}
            }
        }
        Ok(())
    }

    pub fn signed_by(&self, org: &Id) -> bool {
        self.signers.binary_search(org).is_ok()
    }

    /// "Any bank", "the regulator": at least one signer of `kind`.
    pub fn signed_by_kind(&self, kind: OrgKind) -> bool {
        self.signers.iter().any(|s| self.org_kind(s) == Some(kind))
    }

    /// R2.3: check (3) for a transaction that needs all of `required` and, for each of
    /// `kinds`, at least one signer of that kind.
    pub fn authorise(&self, required: &[&Id], kinds: &[OrgKind]) -> Result<(), Code> {
        self.check_signers()?;
        let all_present = required.iter().all(|org| self.signed_by(org))
            && kinds.iter().all(|kind| self.signed_by_kind(*kind));
        ensure(all_present, Code::Unauthorized)
    }
}

/// `Ok` when `condition` holds, else the code.
pub fn ensure(condition: bool, code: Code) -> Result<(), Code> {
    if condition {
        Ok(())
    } else {
        Err(code)
    }
}
