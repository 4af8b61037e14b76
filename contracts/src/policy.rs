//! R6.1–R6.3 and R6.7: issuing policies, disbursing loans, flagging enterprises.

use ledger::action::{
    Cover, CreateProgramme, DisburseLoan, FlagEnterprise, IssuePolicy, SubsidyMode,
    UnflagEnterprise,
};
use ledger::{Code, Fen, OrgKind, BPS_WHOLE};

use crate::arith;
use crate::fund::{self, Purpose};
use crate::programme;
use crate::store::{ensure, keys, Flag, Loan, LoanStatus, Policy, Programme, Work};

/// R6.1 `IssuePolicy`: signed by the programme's insurer.
pub fn issue_policy(work: &mut Work, tx: &IssuePolicy) -> Result<(), Code> {
    // (1)
    ensure(!tx.loan_principal_fen.is_zero(), Code::InvalidField)?;
    ensure(tx.term_months > 0, Code::InvalidField)?;
    // (2) The programme exists; the bank is R6.1's own check.
    let mut programme: Programme = work
        .get(&keys::programme(&tx.programme))
        .ok_or(Code::UnknownProgramme)?;
    let terms = programme.terms.clone();
    // (3)
    work.authorise(&[&terms.insurer], &[])?;
    // (4)
    ensure(!work.exists(&keys::policy(&tx.id)), Code::DuplicateId)?;
    // (5) R6.1's checks, in its order.
    let date = work.date;
    let qualified = eligible(work, tx, &programme, date)?;
    // R6.2: premium, insured amount and subsidy.
    let (premium, insured, subsidy) = amounts(tx, &terms)?;
    programme.premium_written_fen = arith::add(programme.premium_written_fen, premium)?;
    if terms.subsidy.mode == SubsidyMode::Upfront {
        // R6.2: the fund pays all of it now, or the policy is refused.
        let mut fund = fund::load(work, &terms.fund);
        ensure(subsidy <= fund.can_pay(date), Code::FundInsufficient)?;
        fund.pay(date, subsidy, Purpose::Subsidy)?;
        fund::save(work, &terms.fund, &fund);
    }
    if let Some(hash) = &tx.financing_doc_hash {
        work.put_raw(keys::document(hash), tx.id.as_str().as_bytes().to_vec());
    }
    let policy = Policy {
        programme: tx.programme.clone(),
        enterprise: tx.enterprise.clone(),
        bank: tx.bank.clone(),
        loan_principal_fen: tx.loan_principal_fen,
        loan_rate_bps: tx.loan_rate_bps,
        term_months: tx.term_months,
        premium_rate_bps: tx.premium_rate_bps,
        financing_doc_hash: tx.financing_doc_hash.clone(),
        issued: date,
        premium_fen: premium,
        subsidy_fen: subsidy,
        insured_amount_fen: insured,
        loan: None,
    };
    work.put(keys::policy(&tx.id), &policy);
    work.put(keys::programme(&tx.programme), &programme);
    crate::attest::record_qualified(work, &tx.id, &qualified);
    Ok(())
}

/// R6.1 (5): the policy's checks against its programme on `date`, in R6.1's order; the
/// attestations that qualify its enterprise (from version 3, R14.4).
fn eligible(
    work: &Work,
    tx: &IssuePolicy,
    programme: &Programme,
    date: ledger::Date,
) -> Result<crate::attest::Qualified, Code> {
    let terms = &programme.terms;
    ensure(
        programme::is_active_on(programme, date),
        Code::ProgrammeNotActive,
    )?;
    ensure(terms.banks.contains(&tx.bank), Code::UnknownParty)?;
    ensure(
        !work.exists(&keys::flag(&tx.enterprise)),
        Code::EnterpriseFlagged,
    )?;
    // R14.4: from version 3, right after EnterpriseFlagged, the eligibility is met.
    let qualified = if work.version >= crate::upgrade::ATTESTATIONS {
        crate::attest::find_qualifying(work, terms, &tx.enterprise, date)?
    } else {
        Vec::new()
    };
    let limits = terms.limits;
    ensure(
        tx.loan_principal_fen <= limits.max_loan_fen,
        Code::LoanAboveCap,
    )?;
    ensure(tx.term_months <= limits.max_term_months, Code::TermTooLong)?;
    // R5: the loan-rate cap is floor(benchmark × (10000 + uplift) / 10000).
    let rate_cap = arith::bps_of(limits.benchmark_rate_bps, BPS_WHOLE + limits.max_uplift_bps);
    ensure(u128::from(tx.loan_rate_bps) <= rate_cap, Code::RateAboveCap)?;
    ensure(
        tx.premium_rate_bps <= limits.max_premium_rate_bps
            && programme::rate_is_filed(
                work.view(),
                &terms.insurer,
                &terms.product,
                tx.premium_rate_bps,
                date,
            ),
        Code::RateNotFiled,
    )?;
    let all_in = u128::from(tx.loan_rate_bps) + u128::from(tx.premium_rate_bps);
    ensure(
        all_in <= u128::from(limits.max_all_in_bps),
        Code::AllInCostAboveCap,
    )?;
    // R13.2: from version 2, the single-obligor limit.
    if work.version >= crate::upgrade::OBLIGOR_LIMIT {
        crate::obligor::check(work, terms, &tx.enterprise, tx.loan_principal_fen)?;
    }
    if let Some(hash) = &tx.financing_doc_hash {
        ensure(
            !work.exists(&keys::document(hash)),
            Code::DocumentAlreadyFinanced,
        )?;
    }
    Ok(qualified)
}

/// R6.2: the policy's premium, insured amount and subsidy, in fen.
fn amounts(tx: &IssuePolicy, terms: &CreateProgramme) -> Result<(Fen, Fen, Fen), Code> {
    let premium = arith::rate_amount(tx.loan_principal_fen, tx.premium_rate_bps, tx.term_months)?;
    let insured = match terms.cover {
        Cover::Principal => tx.loan_principal_fen,
        Cover::PrincipalAndInterest => {
            let interest =
                arith::rate_amount(tx.loan_principal_fen, tx.loan_rate_bps, tx.term_months)?;
            arith::add(tx.loan_principal_fen, interest)?
        }
    };
    let subsidy = match terms.subsidy.mode {
        SubsidyMode::None => Fen::ZERO,
        SubsidyMode::Upfront | SubsidyMode::OnRepayment => {
            // R1.3: the premium split [fund: subsidy.bps, enterprise: 10000 − subsidy.bps].
            arith::split(premium, &[terms.subsidy.bps, BPS_WHOLE - terms.subsidy.bps])[0]
        }
    };
    Ok((premium, insured, subsidy))
}

/// R6.3 `DisburseLoan`: signed by the policy's bank; one loan per policy.
pub fn disburse_loan(work: &mut Work, tx: &DisburseLoan) -> Result<(), Code> {
    // (2)
    let mut policy: Policy = work
        .get(&keys::policy(&tx.policy))
        .ok_or(Code::UnknownPolicy)?;
    // (3)
    work.authorise(&[&policy.bank], &[])?;
    // (4)
    ensure(!work.exists(&keys::loan(&tx.id)), Code::DuplicateId)?;
    ensure(policy.loan.is_none(), Code::DuplicateId)?;
    // (5) The maturity must be a date: a term running past 9999-12-31 cannot be serviced.
    let start = work.date;
    let maturity = start
        .checked_add_months(policy.term_months)
        .ok_or(Code::Overflow)?;
    let loan = Loan {
        policy: tx.policy.clone(),
        programme: policy.programme.clone(),
        bank: policy.bank.clone(),
        enterprise: policy.enterprise.clone(),
        rate_bps: policy.loan_rate_bps,
        term_months: policy.term_months,
        start,
        maturity,
        status: LoanStatus::Active,
        outstanding_principal_fen: policy.loan_principal_fen,
        due_count: 0,
        unpaid: Vec::new(),
        paid_toward_oldest_fen: Fen::ZERO,
        on_time: true,
        claim: None,
    };
    policy.loan = Some(tx.id.clone());
    work.put(keys::loan(&tx.id), &loan);
    work.put_raw(keys::programme_loan(&policy.programme, &tx.id), Vec::new());
    work.put(keys::policy(&tx.policy), &policy);
    Ok(())
}

/// R6.7 `FlagEnterprise`: any bank or insurer. Flagging a flagged enterprise changes
/// nothing and succeeds (R8); the first reason stays.
pub fn flag_enterprise(work: &mut Work, tx: &FlagEnterprise) -> Result<(), Code> {
    // (3)
    work.check_signers()?;
    ensure(
        work.signed_by_kind(OrgKind::Bank) || work.signed_by_kind(OrgKind::Insurer),
        Code::Unauthorized,
    )?;
    let key = keys::flag(&tx.enterprise);
    if !work.exists(&key) {
        let flag = Flag {
            reason: tx.reason.clone(),
            since: work.date,
        };
        work.put(key, &flag);
    }
    Ok(())
}

/// R6.7 `UnflagEnterprise`: the regulator. Succeeds when the enterprise is not flagged.
pub fn unflag_enterprise(work: &mut Work, tx: &UnflagEnterprise) -> Result<(), Code> {
    // (3)
    work.authorise(&[], &[OrgKind::Regulator])?;
    let key = keys::flag(&tx.enterprise);
    if work.exists(&key) {
        work.delete(key);
    }
    Ok(())
}
