//! R7: claims, their settlement between bank, insurer, fund and reinsurer, the service
//! levels, and recoveries.

use ledger::action::{
    ConfirmClaimPayment, Cover, DecideClaim, FileClaim, FundLayer, RecordRecovery,
    RequestDocuments, SubmitDocuments,
};
use ledger::state::StateView;
use ledger::{Code, Date, Fen, Id, BPS_WHOLE};

use crate::arith;
use crate::calendar;
use crate::fund::{self, Purpose};
use crate::loan;
use crate::programme;
use crate::store::{
    ensure, keys, Claim, ClaimStatus, Loan, LoanStatus, Policy, Programme, Recovery, Settlement,
    Work,
};

/// R7.3: the reason codes a rejection may give.
pub const REJECT_REASONS: [&str; 3] = ["NotCovered", "DocumentsInvalid", "Fraud"];

fn load_programme(work: &Work, id: &Id) -> Programme {
    work.get(&keys::programme(id))
        .expect("a claim's programme exists")
}

fn load_loan(work: &Work, id: &Id) -> Loan {
    work.get(&keys::loan(id)).expect("a claim's loan exists")
}

/// R7.2: the due dates of a claim whose documents were complete on `completed`.
fn due_dates(
    state: &dyn StateView,
    programme: &Programme,
    completed: Date,
) -> Result<(Date, Date), Code> {
    let terms = programme.terms.claims;
    let decision_due = completed
        .checked_add_days(terms.decide_days)
        .ok_or(Code::Overflow)?;
    let payment_due = calendar::add_business_days(state, completed, terms.pay_business_days)?;
    Ok((decision_due, payment_due))
}

/// R7.1 `FileClaim`: signed by the loan's bank.
pub fn file_claim(work: &mut Work, tx: &FileClaim) -> Result<(), Code> {
    // (1)
    ensure(!tx.documents.is_empty(), Code::InvalidField)?;
    // (2)
    let stored: Loan = work.get(&keys::loan(&tx.loan)).ok_or(Code::UnknownLoan)?;
    // (3)
    work.authorise(&[&stored.bank], &[])?;
    // (4)
    ensure(!work.exists(&keys::claim(&tx.id)), Code::DuplicateId)?;
    // (5)
    let date = work.date;
    let programme = load_programme(work, &stored.programme);
    let mut loan = loan::as_of(&stored, date);
    let terms = programme.terms.claims;
    let eligible = loan.status == LoanStatus::Active
        && (loan::interest_dpd(&loan, date) >= terms.interest_dpd
            || loan::principal_dpd(&loan, date) >= terms.principal_dpd);
    ensure(eligible, Code::NotEligible)?;
    ensure(loan.claim.is_none(), Code::DuplicateClaim)?;
    // Loss: outstanding principal, plus unpaid due interest under PrincipalAndInterest
    // cover, capped at the insured amount; fixed now.
    let policy: Policy = work
        .get(&keys::policy(&loan.policy))
        .expect("a loan's policy exists");
    let mut loss = u128::from(loan.outstanding_principal_fen.0);
    if programme.terms.cover == Cover::PrincipalAndInterest {
        loss += loan::unpaid_interest(&loan);
    }
    let loss = arith::to_fen(loss.min(u128::from(policy.insured_amount_fen.0)))?;
    // R7.2: documents are complete on filing unless the insurer asks.
    let (decision_due, payment_due) = due_dates(work.view(), &programme, date)?;
    let claim = Claim {
        loan: tx.loan.clone(),
        programme: loan.programme.clone(),
        bank: loan.bank.clone(),
        status: ClaimStatus::Filed,
        filed: date,
        documents: tx.documents.clone(),
        documents_requested: false,
        missing: Vec::new(),
        completed: Some(date),
        decision_due: Some(decision_due),
        payment_due: Some(payment_due),
        loss_fen: loss,
        settlement: None,
        decided: None,
        reject_reason: None,
        paid: None,
        late: false,
        recovered_fen: Fen::ZERO,
        recovery: Recovery::default(),
    };
    loan.claim = Some(tx.id.clone());
    work.put(keys::loan(&tx.loan), &loan);
    work.put(keys::claim(&tx.id), &claim);
    Ok(())
}

/// R7.2 `RequestDocuments`: the insurer, once per claim, while it is `Filed`.
pub fn request_documents(work: &mut Work, tx: &RequestDocuments) -> Result<(), Code> {
    // (1)
    ensure(!tx.missing.is_empty(), Code::InvalidField)?;
    // (2)
    let mut claim: Claim = work
        .get(&keys::claim(&tx.claim))
        .ok_or(Code::UnknownClaim)?;
    let programme = load_programme(work, &claim.programme);
    // (3)
    work.authorise(&[&programme.terms.insurer], &[])?;
    // (5)
    ensure(!claim.documents_requested, Code::DocumentsAlreadyRequested)?;
    ensure(claim.status == ClaimStatus::Filed, Code::ClaimNotOpen)?;
    claim.documents_requested = true;
    claim.missing = tx.missing.clone();
    claim.status = ClaimStatus::AwaitingDocuments;
    claim.completed = None;
    claim.decision_due = None;
    claim.payment_due = None;
    work.put(keys::claim(&tx.claim), &claim);
    Ok(())
}

/// R7.2 `SubmitDocuments`: the bank, while the claim awaits documents. Completes them on
/// this date and fixes the due dates.
pub fn submit_documents(work: &mut Work, tx: &SubmitDocuments) -> Result<(), Code> {
    // (1)
    ensure(!tx.documents.is_empty(), Code::InvalidField)?;
    // (2)
    let mut claim: Claim = work
        .get(&keys::claim(&tx.claim))
        .ok_or(Code::UnknownClaim)?;
    // (3)
    work.authorise(&[&claim.bank], &[])?;
    // (5)
    ensure(
        claim.status == ClaimStatus::AwaitingDocuments,
        Code::ClaimNotOpen,
    )?;
    let programme = load_programme(work, &claim.programme);
    let (decision_due, payment_due) = due_dates(work.view(), &programme, work.date)?;
    claim.documents.extend(tx.documents.iter().cloned());
    claim.completed = Some(work.date);
    claim.decision_due = Some(decision_due);
    claim.payment_due = Some(payment_due);
    claim.status = ClaimStatus::Filed;
    work.put(keys::claim(&tx.claim), &claim);
    Ok(())
}

/// R7.3 steps 1–4: how a loss `L` is settled, given the programme's premium written and
/// claims gross before this claim and what the fund can pay today.
pub fn settle(programme: &Programme, loss: Fen, fund_can_pay: Fen) -> Settlement {
    let terms = &programme.terms;
    // Step 1: [bank: bank_bps, insurer: insurer_bps, fund: fund_bps].
    let parts = arith::split(
        loss,
        &[
            terms.split.bank_bps,
            terms.split.insurer_bps,
            terms.split.fund_bps,
        ],
    );
    let (bank_retained, insurer_gross, fund_direct) = (parts[0], parts[1], parts[2]);
    // Step 2: the fund layer on the insurer's gross, in 128 bits (thresholds may be
    // far above 10000 bps).
    let premium_written = programme.premium_written_fen.0;
    let claims_gross = u128::from(programme.claims_gross_fen.0);
    let gross = u128::from(insurer_gross.0);
    let fund_layer = match terms.fund_layer {
        FundLayer::None => Fen::ZERO,
        FundLayer::ExcessOfLossRatio {
            threshold_bps,
            share_bps,
        } => {
            let threshold = arith::bps_of(premium_written, threshold_bps);
            let excess = (claims_gross + gross).saturating_sub(claims_gross.max(threshold));
            // The excess is at most the insurer's gross, so it is an amount.
            let excess = Fen(u64::try_from(excess).expect("excess ≤ insurer gross"));
            arith::split(excess, &[share_bps, BPS_WHOLE - share_bps])[0]
        }
        FundLayer::InsurerCap { cap_bps } => {
            let cap = arith::bps_of(premium_written, cap_bps);
            let own = gross.min(cap.saturating_sub(claims_gross));
            Fen(u64::try_from(gross - own).expect("the fund's part ≤ insurer gross"))
        }
    };
    // Step 3: what the fund owes, and what it can pay; the shortfall stays with the insurer.
    // fund_direct + fund_layer ≤ fund_direct + insurer_gross ≤ L, so nothing overflows.
    let fund_owes = Fen(fund_direct.0 + fund_layer.0);
    let fund = fund_owes.min(fund_can_pay);
    let fund_shortfall = Fen(fund_owes.0 - fund.0);
    // Step 4: the insurer pays the bank everything but its own share; its net, after the
    // fund, is shared with the reinsurer.
    let insurer_pays_bank = Fen(loss.0 - bank_retained.0);
    let net = Fen(insurer_pays_bank.0 - fund.0);
    let quota = terms.reinsurance_quota_bps;
    let net_parts = arith::split(net, &[BPS_WHOLE - quota, quota]);
    Settlement {
        bank_retained_fen: bank_retained,
        insurer_gross_fen: insurer_gross,
        fund_direct_fen: fund_direct,
        fund_layer_fen: fund_layer,
        insurer_pays_bank_fen: insurer_pays_bank,
        fund_fen: fund,
        fund_shortfall_fen: fund_shortfall,
        reinsurer_fen: net_parts[1],
        insurer_retained_fen: net_parts[0],
    }
}

/// R7.3 `DecideClaim`: the insurer, while the claim is `Filed`.
pub fn decide_claim(work: &mut Work, tx: &DecideClaim) -> Result<(), Code> {
    // (1) A rejection names one of the reason codes; an approval ignores any reason.
    if !tx.approve {
        let reason_ok = tx
            .reason
            .as_ref()
            .is_some_and(|r| REJECT_REASONS.contains(&r.as_str()));
        ensure(reason_ok, Code::InvalidField)?;
    }
    // (2)
    let mut claim: Claim = work
        .get(&keys::claim(&tx.claim))
        .ok_or(Code::UnknownClaim)?;
    let mut programme = load_programme(work, &claim.programme);
    // (3)
    work.authorise(&[&programme.terms.insurer], &[])?;
    // (5)
    ensure(claim.status == ClaimStatus::Filed, Code::ClaimNotOpen)?;
    let date = work.date;
    // Instalments due today are fixed before anything else happens on the loan (R6.4).
    let mut loan = loan::as_of_owned(load_loan(work, &claim.loan), date);
    claim.decided = Some(date);
    if !tx.approve {
        claim.status = ClaimStatus::Rejected;
        claim.reject_reason = tx.reason.clone();
        loan.claim = None;
        work.put(keys::loan(&claim.loan), &loan);
        work.put(keys::claim(&tx.claim), &claim);
        return Ok(());
    }
    let fund_id = programme.terms.fund.clone();
    let mut fund = fund::load(work, &fund_id);
    let settlement = settle(&programme, claim.loss_fen, fund.can_pay(date));
    // R4.3: compensation is paid on the date the claim is approved.
    fund.pay(date, settlement.fund_fen, Purpose::Compensation)?;
    // Step 5.
    programme.claims_gross_fen =
        arith::add(programme.claims_gross_fen, settlement.insurer_gross_fen)?;
    loan.status = LoanStatus::Claimed;
    loan.on_time = false;
    claim.status = ClaimStatus::Approved;
    claim.settlement = Some(settlement);
    fund::save(work, &fund_id, &fund);
    work.put(keys::programme(&claim.programme), &programme);
    work.put(keys::loan(&claim.loan), &loan);
    work.put(keys::claim(&tx.claim), &claim);
    // R5.1: a risk review after every approved claim.
    programme::review(work, &claim.programme);
    Ok(())
}

/// R7.4 `ConfirmClaimPayment`: the insurer, while the claim is `Approved`.
pub fn confirm_payment(work: &mut Work, tx: &ConfirmClaimPayment) -> Result<(), Code> {
    // (2)
    let mut claim: Claim = work
        .get(&keys::claim(&tx.claim))
        .ok_or(Code::UnknownClaim)?;
    let programme = load_programme(work, &claim.programme);
    // (3)
    work.authorise(&[&programme.terms.insurer], &[])?;
    // (5)
    ensure(claim.status == ClaimStatus::Approved, Code::ClaimNotOpen)?;
    claim.status = ClaimStatus::Paid;
    claim.paid = Some(work.date);
    claim.late = claim.payment_due.is_some_and(|due| work.date > due);
    work.put(keys::claim(&tx.claim), &claim);
    Ok(())
}

/// R7.6 `RecordRecovery`: the loan's bank or the programme's insurer, on an `Approved` or
/// `Paid` claim. Each recovery is split on its own over the parties that bore the loss.
pub fn record_recovery(work: &mut Work, tx: &RecordRecovery) -> Result<(), Code> {
    // (1)
    ensure(!tx.amount_fen.is_zero(), Code::InvalidField)?;
    // (2)
    let mut claim: Claim = work
        .get(&keys::claim(&tx.claim))
        .ok_or(Code::UnknownClaim)?;
    let programme = load_programme(work, &claim.programme);
    // (3)
    work.check_signers()?;
    ensure(
        work.signed_by(&claim.bank) || work.signed_by(&programme.terms.insurer),
        Code::Unauthorized,
    )?;
    // (5)
    ensure(
        matches!(claim.status, ClaimStatus::Approved | ClaimStatus::Paid),
        Code::ClaimNotOpen,
    )?;
    let recovered = u128::from(claim.recovered_fen.0) + u128::from(tx.amount_fen.0);
    ensure(
        recovered <= u128::from(claim.loss_fen.0),
        Code::RecoveryExceedsLoss,
    )?;
    let s = claim
        .settlement
        .expect("an approved claim has a settlement");
    let parts = arith::split(
        tx.amount_fen,
        &[
            s.bank_retained_fen.0,
            s.insurer_retained_fen.0,
            s.fund_fen.0,
            s.reinsurer_fen.0,
        ],
    );
    // Each running total is at most the loss, which is an amount.
    claim.recovered_fen = Fen(claim.recovered_fen.0 + tx.amount_fen.0);
    claim.recovery.bank_fen = arith::add(claim.recovery.bank_fen, parts[0])?;
    claim.recovery.insurer_fen = arith::add(claim.recovery.insurer_fen, parts[1])?;
    claim.recovery.fund_fen = arith::add(claim.recovery.fund_fen, parts[2])?;
    claim.recovery.reinsurer_fen = arith::add(claim.recovery.reinsurer_fen, parts[3])?;
    if !parts[2].is_zero() {
        let fund_id = programme.terms.fund.clone();
        let mut fund = fund::load(work, &fund_id);
        fund.receive_recovery(parts[2])?;
        fund::save(work, &fund_id, &fund);
    }
    work.put(keys::claim(&tx.claim), &claim);
    Ok(())
}

/// R7.5: a claim is overdue on `date` when it is `Filed` past its decision due date, or
/// `Approved` past its payment due date.
pub fn is_overdue(claim: &Claim, date: Date) -> bool {
    match claim.status {
        ClaimStatus::Filed => claim.decision_due.is_some_and(|due| date > due),
        ClaimStatus::Approved => claim.payment_due.is_some_and(|due| date > due),
        _ => false,
    }
}
