//! `contracts`: the rulebook (DOMAIN.md) as pure, deterministic functions.
//!
//! [`execute`] reads state through [`StateView`] and answers with the [`WriteSet`] a
//! transaction makes, or the rejection [`Code`] (R9) that the first failing check gives
//! (R2.4 order: well-formedness, named records, signers, new ids, the rule's own checks).
//! A rejection returns no writes, so it changes nothing. [`report()`] renders the R10
//! result document of a state as of a date, and [`scenario`] runs scenario files
//! offline on an in-memory ledger.
//!
//! What it guarantees:
//! - Determinism: integers only (no floats), no clocks, no randomness, no hash maps;
//!   state is a `BTreeMap` of readable keys to canonical encodings (layout in [`store`]).
//!   The same inputs give the same write sets, reports and state roots on every machine.
//! - Exact arithmetic: amounts are `u64` fen, intermediate products `u128`, every overflow
//!   is `Overflow` (R1.5), and every division of an amount into parts is the one
//!   largest-remainder [`arith::split`] (R1.3), so parts always sum to their whole.
//! - Bounded work: nothing loops over a loan's term or a count taken from a transaction;
//!   instalments are materialised lazily ([`loan::as_of`]) and business days are counted
//!   a week at a time where no calendar is registered.
//!
//! How the rulebook is read where it leaves room (each choice is also noted where it is
//! implemented):
//! - R1.3 with all weights zero gives the whole total to the first part (the rulebook's
//!   own splits never have W = 0: their weights sum to 10000 or to a loss of at least 1 fen).
//! - Dates end at 9999-12-31. A loan whose maturity would be later is refused at
//!   `DisburseLoan` with `Overflow`; so is a claim whose decision or payment due date would
//!   be later (`FileClaim`, `SubmitDocuments`). No instalment is ever computed past the end.
//! - R5.4's "the fund must belong to the programme's government" is the rule's own check,
//!   (5), after `Unauthorized` and `DuplicateId`; the fund's existence is check (2).
//!   `warn_at_bps` is a share of a threshold, not a threshold, so it is held to 10000.
//! - R6.1's premium-rate check is one code: above the programme's maximum or not filed,
//!   both `RateNotFiled`. Refiling identical terms changes nothing.
//! - R7.1 lists eligibility before the one-claim rule, and R7.2 lists "once per claim"
//!   before "while Filed"; checks run in that order (worked example A needs the latter).
//! - A claim filed, then the loan repaid in full before the decision: the loss stays as
//!   fixed at filing and an approval still settles it and marks the loan `Claimed`.
//! - `FlagEnterprise` on a flagged enterprise keeps the first reason; unflagging one that
//!   is not flagged succeeds (R8: they succeed even when they change nothing).
//! - Membership actions follow R2.3 like every other: an auditor cannot sign them.
//!   Genesis admin keys can be revoked like staff keys. A revoked key is never reusable.
//! - Report figures that would exceed `u64` (unpaid interest on an enormous term, sums
//!   over many loans) saturate in the report; the rules compute them in 128 bits.
//! - A fund payment of 0 fen is recorded like any other (it changes no figure).
//!
//! Organisation of the code, by rule area: [`arith`] (R1), [`store`] (records and keys),
//! [`membership`] (R2 organisations and signing keys), [`governance`] (R11), [`programme`] (R3, R5), [`fund`]
//! (R4), [`policy`] and [`loan`] (R6), [`claim`] (R7), [`calendar`] (R1.6, R8),
//! [`mod@report`] and [`scenario`] (R10).

pub mod arith;
pub mod attest;
pub mod audit;
pub mod calendar;
pub mod chain;
pub mod claim;
pub mod decision;
pub mod fund;
pub mod governance;
pub mod loan;
pub mod membership;
pub mod obligor;
pub mod policy;
pub mod programme;
pub mod report;
pub mod scenario;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod upgrade;

use ledger::state::{StateView, WriteSet};
use ledger::{Action, Code, Date, Id};

pub use membership::{genesis_writes, members_writes, orgs_of_keys};
pub use report::report;

/// What a transaction is executed with besides its action: the date (the block's date on
/// the network, the step's date in a scenario, R1.6), the organisations that signed it
/// and those among them whose admin key signed (R11.2; deduplicated here, their order
/// does not matter), and the height of the block (the step number in a scenario), from
/// which governance schedules its changes (R11.5), and the protocol version the block
/// executes under (R12.1: the version in force at its height).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxContext {
    pub date: Date,
    pub signers: Vec<Id>,
    pub approvers: Vec<Id>,
    pub height: u64,
    pub version: u32,
    /// The chain's crypto suite: the algorithm of its keys, the hash of its filing ids.
    pub suite: ledger::crypto::Suite,
}

/// A rejected scenario step (R10): 1-based step number and its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub step: u64,
    pub code: Code,
}

/// Pure and deterministic: reads state, returns the write set, or the rejection code
/// (then nothing changes).
pub fn execute(state: &dyn StateView, ctx: &TxContext, action: &Action) -> Result<WriteSet, Code> {
    let mut work = store::Work::new(state, ctx);
    let w = &mut work;
    match action {
        Action::FileRate(tx) => programme::file_rate(w, tx),
        Action::CreateFund(tx) => fund::create_fund(w, tx),
        Action::FundTopUp(tx) => fund::top_up(w, tx),
        Action::CreateProgramme(tx) => programme::create_programme(w, tx),
        Action::ReviewProgramme(tx) => programme::review_programme(w, tx),
        Action::ResumeProgramme(tx) => programme::resume_programme(w, tx),
        Action::IssuePolicy(tx) => policy::issue_policy(w, tx),
        Action::DisburseLoan(tx) => policy::disburse_loan(w, tx),
        Action::RecordRepayment(tx) => loan::record_repayment(w, tx),
        Action::FlagEnterprise(tx) => policy::flag_enterprise(w, tx),
        Action::UnflagEnterprise(tx) => policy::unflag_enterprise(w, tx),
        Action::FileClaim(tx) => claim::file_claim(w, tx),
        Action::RequestDocuments(tx) => claim::request_documents(w, tx),
        Action::SubmitDocuments(tx) => claim::submit_documents(w, tx),
        Action::DecideClaim(tx) => claim::decide_claim(w, tx),
        Action::ConfirmClaimPayment(tx) => claim::confirm_payment(w, tx),
        Action::RecordRecovery(tx) => claim::record_recovery(w, tx),
        Action::SetCalendar(tx) => calendar::set_calendar(w, tx),
        Action::RegisterStaffKey(tx) => membership::register_staff_key(w, tx),
        Action::RevokeStaffKey(tx) => membership::revoke_staff_key(w, tx),
        Action::AdmitOrganisation(_)
        | Action::RemoveOrganisation(_)
        | Action::RotateAdminKey(_)
        | Action::AddValidator(_)
        | Action::RemoveValidator(_)
        | Action::SetVotingPower(_)
        | Action::RotateValidatorKey(_)
        | Action::SetParams(_)
        | Action::SetGovernance(_) => governance::execute(w, ctx.height, action),
        Action::ScheduleUpgrade(tx) => upgrade::schedule(w, ctx.height, ctx.version, tx),
        Action::CancelUpgrade(tx) => upgrade::cancel(w, ctx.height, tx),
        // R14.5: attestations exist from version 3 on.
        Action::Attest(_) | Action::RevokeAttestation(_) if ctx.version < upgrade::ATTESTATIONS => {
            Err(Code::InvalidField)
        }
        Action::Attest(tx) => attest::attest(w, tx),
        Action::RevokeAttestation(tx) => attest::revoke(w, tx),
    }?;
    // R13.1: from version 2, the retained liabilities follow every policy and loan the
    // transaction wrote.
    if ctx.version >= upgrade::OBLIGOR_LIMIT {
        let moved = obligor::track(state, work.writes());
        work.apply(moved);
    }
    Ok(work.into_writes())
}
