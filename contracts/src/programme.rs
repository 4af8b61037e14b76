//! R3 rate filing and R5 the programme: its creation, its figures and its risk review.

use ledger::action::{CreateProgramme, FileRate, FundLayer, ProgrammeRef};
use ledger::state::StateView;
use ledger::{codec, Bps, Code, Date, Fen, Id, OrgKind, BPS_WHOLE};

use crate::arith;
use crate::loan;
use crate::store::{
    self, ensure, keys, Fund, Programme, ProgrammeStatus, RateFiling, Warning, Work,
};

/// R3.1: signed by the insurer and the regulator. Filings accumulate (R6.2).
pub fn file_rate(work: &mut Work, tx: &FileRate) -> Result<(), Code> {
    // (1)
    ensure(!tx.rates_bps.is_empty(), Code::InvalidField)?;
    ensure(
        tx.rates_bps.iter().all(|&r| r <= ledger::money::BPS_WHOLE),
        Code::InvalidField,
    )?;
    ensure(tx.valid_from <= tx.valid_to, Code::InvalidField)?;
    // (2)
    work.expect_org(&tx.insurer, OrgKind::Insurer)?;
    // (3)
    work.authorise(&[&tx.insurer], &[OrgKind::Regulator])?;
    let filing = RateFiling {
        rates_bps: tx.rates_bps.clone(),
        valid_from: tx.valid_from,
        valid_to: tx.valid_to,
        filing_ref: tx.filing_ref.clone(),
    };
    // Keyed by the filing's own hash: refiling the same terms changes nothing.
    let key = keys::rate(&tx.insurer, &tx.product, &codec::hash(work.suite, tx));
    work.put(key, &filing);
    Ok(())
}

/// R3.2 / R6.2: `rate_bps` is one of the rates the insurer filed for the product, valid on
/// `date`.
pub fn rate_is_filed(
    state: &dyn StateView,
    insurer: &Id,
    product: &Id,
    rate_bps: Bps,
    date: Date,
) -> bool {
    filing_of(state, insurer, product, rate_bps, date).is_some()
}

/// The first filing (in key order) of the insurer for the product that allows `rate_bps`
/// on `date`, with its state key: the filing a policy at that rate was issued under.
pub fn filing_of(
    state: &dyn StateView,
    insurer: &Id,
    product: &Id,
    rate_bps: Bps,
    date: Date,
) -> Option<(Vec<u8>, RateFiling)> {
    state
        .scan_prefix(&keys::rates_of(insurer, product))
        .into_iter()
        .map(|(key, bytes)| (key, store::decode_record::<RateFiling>(&bytes)))
        .find(|(_, f)| {
            f.valid_from <= date && date <= f.valid_to && f.rates_bps.contains(&rate_bps)
        })
}

/// R5.4, check (1): the fields are well formed, then the split sums to 10000.
fn check_terms(tx: &CreateProgramme) -> Result<(), Code> {
    ensure(tx.period_start <= tx.period_end, Code::InvalidField)?;
    ensure(!tx.banks.is_empty(), Code::InvalidField)?;
    let mut banks = tx.banks.clone();
    banks.sort();
    banks.dedup();
    ensure(banks.len() == tx.banks.len(), Code::InvalidField)?;
    ensure(
        tx.claims.interest_dpd >= 1 && tx.claims.principal_dpd >= 1,
        Code::InvalidField,
    )?;
    // Every bps field is at most 10000, except max_all_in_bps, cap_bps and the trigger
    // and fund-layer thresholds. `warn_at_bps` is a share of a threshold, not a
    // threshold, so it is held to 10000 too.
    let mut shares = vec![
        tx.split.bank_bps,
        tx.split.insurer_bps,
        tx.split.fund_bps,
        tx.limits.benchmark_rate_bps,
        tx.limits.max_uplift_bps,
        tx.limits.max_premium_rate_bps,
        tx.subsidy.bps,
        tx.reinsurance_quota_bps,
        tx.triggers.warn_at_bps,
    ];
    if let FundLayer::ExcessOfLossRatio { share_bps, .. } = tx.fund_layer {
        shares.push(share_bps);
    }
    ensure(shares.iter().all(|s| *s <= BPS_WHOLE), Code::InvalidField)?;
    ensure(
        tx.reinsurance_quota_bps == 0 || tx.reinsurer.is_some(),
        Code::InvalidField,
    )?;
    let sum = tx.split.bank_bps + tx.split.insurer_bps + tx.split.fund_bps;
    ensure(sum == BPS_WHOLE, Code::SharesMustSumTo10000)
}

/// Every party of the programme: the signers `CreateProgramme` and `ResumeProgramme` need.
fn parties(tx: &CreateProgramme) -> Vec<&Id> {
    let mut parties = vec![&tx.government, &tx.insurer];
    parties.extend(tx.banks.iter());
    parties.extend(tx.reinsurer.iter());
    parties
}

/// R5: signed by the government, every bank listed, the insurer and the reinsurer if any.
pub fn create_programme(work: &mut Work, tx: &CreateProgramme) -> Result<(), Code> {
    // (1) R14.5: before version 3 the eligibility key itself is refused, even empty; its
    // fields are `InvalidField`, which R2.4 puts before `SharesMustSumTo10000`.
    if let Some(entries) = &tx.eligibility {
        ensure(
            work.version >= crate::upgrade::ATTESTATIONS,
            Code::InvalidField,
        )?;
        crate::attest::check_eligibility_fields(entries)?;
    }
    check_terms(tx)?;
    // (2)
    work.expect_org(&tx.government, OrgKind::Government)?;
    let fund: Fund = work.get(&keys::fund(&tx.fund)).ok_or(Code::UnknownFund)?;
    for bank in &tx.banks {
        work.expect_org(bank, OrgKind::Bank)?;
    }
    work.expect_org(&tx.insurer, OrgKind::Insurer)?;
    if let Some(reinsurer) = &tx.reinsurer {
        work.expect_org(reinsurer, OrgKind::Reinsurer)?;
    }
    // R14.3: the eligibility's issuers, after the programme's other parties.
    crate::attest::check_eligibility_issuers(work, tx)?;
    // (3)
    work.authorise(&parties(tx), &[])?;
    // (4)
    ensure(!work.exists(&keys::programme(&tx.id)), Code::DuplicateId)?;
    // (5) R5.4: the fund belongs to the programme's government.
    ensure(fund.government == tx.government, Code::UnknownParty)?;
    let programme = Programme {
        terms: tx.clone(),
        status: ProgrammeStatus::Active,
        premium_written_fen: tx.opening.premium_written_fen,
        claims_gross_fen: tx.opening.claims_gross_fen,
        warnings: Vec::new(),
    };
    work.put(keys::programme(&tx.id), &programme);
    Ok(())
}

/// R5.1 `ReviewProgramme`: any member.
pub fn review_programme(work: &mut Work, tx: &ProgrammeRef) -> Result<(), Code> {
    // (2)
    ensure(
        work.exists(&keys::programme(&tx.programme)),
        Code::UnknownProgramme,
    )?;
    // (3)
    work.authorise(&[], &[])?;
    ensure(!work.signers.is_empty(), Code::Unauthorized)?;
    review(work, &tx.programme);
    Ok(())
}

/// R5.2 `ResumeProgramme`: every party and the regulator. No review runs; warnings stay.
pub fn resume_programme(work: &mut Work, tx: &ProgrammeRef) -> Result<(), Code> {
    // (2)
    let mut programme: Programme = work
        .get(&keys::programme(&tx.programme))
        .ok_or(Code::UnknownProgramme)?;
    // (3)
    work.authorise(&parties(&programme.terms), &[OrgKind::Regulator])?;
    programme.status = ProgrammeStatus::Active;
    work.put(keys::programme(&tx.programme), &programme);
    Ok(())
}

/// The programme figures that move with time, as of a date (R5, R10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub loss_ratio_bps: Bps,
    pub outstanding_principal_fen: Fen,
    pub overdue_principal_fen: Fen,
    pub overdue_ratio_bps: Bps,
}

/// R5 figures as of `date`: outstanding and overdue principal of the programme's active
/// loans (a loan is overdue with any days past due, R6.6). Sums are in 128 bits and
/// saturate at the largest amount a figure can show.
pub fn figures(state: &dyn StateView, id: &Id, programme: &Programme, date: Date) -> Figures {
    let mut outstanding: u128 = 0;
    let mut overdue: u128 = 0;
    let index = keys::loans_of(id);
    let mut loan_key = keys::LOAN.as_bytes().to_vec();
    state.for_each_key(&index, &mut |key| {
        // The index key ends with the loan's id: its record is `loan/<id>`.
        loan_key.truncate(keys::LOAN.len());
        loan_key.extend_from_slice(&key[index.len()..]);
        let found = state.read_with(&loan_key, &mut |bytes| {
            if let Some((principal, is_overdue)) = loan::figures_of_record(bytes, date) {
                outstanding += u128::from(principal.0);
                if is_overdue {
                    overdue += u128::from(principal.0);
                }
            }
        });
        assert!(found, "an indexed loan exists");
    });
    figures_from(programme, outstanding, overdue)
}

/// R5 figures from the sums of the programme's active loans' outstanding principal and
/// of the overdue part of it, however they were summed (the node keeps them as running
/// sums per programme and day; see [`crate::loan::overdue_clock`]).
pub fn figures_from(programme: &Programme, outstanding: u128, overdue: u128) -> Figures {
    let outstanding = Fen(u64::try_from(outstanding).unwrap_or(u64::MAX));
    let overdue = Fen(u64::try_from(overdue).unwrap_or(u64::MAX));
    Figures {
        loss_ratio_bps: arith::ratio_bps(programme.claims_gross_fen, programme.premium_written_fen),
        outstanding_principal_fen: outstanding,
        overdue_principal_fen: overdue,
        overdue_ratio_bps: arith::ratio_bps(overdue, outstanding),
    }
}

/// R5.1: the risk review, on the work's date. A ratio at or above its suspend threshold
/// suspends the programme; at or above `floor(threshold × warn_at / 10000)` it is listed
/// as a warning. A threshold of 0 disables its trigger; `warn_at` 0 disables warnings. A
/// review never lifts a suspension.
pub fn review(work: &mut Work, id: &Id) {
    let mut programme: Programme = work
        .get(&keys::programme(id))
        .expect("a reviewed programme exists");
    let figures = figures(work.view(), id, &programme, work.date);
    let triggers = programme.terms.triggers;
    let checks = [
        (
            figures.loss_ratio_bps,
            triggers.suspend_loss_ratio_bps,
            Warning::LossRatio,
        ),
        (
            figures.overdue_ratio_bps,
            triggers.suspend_overdue_bps,
            Warning::OverdueRatio,
        ),
    ];
    let mut warnings = Vec::new();
    for (ratio, threshold, warning) in checks {
        if threshold == 0 {
            continue;
        }
        if ratio >= threshold {
            programme.status = ProgrammeStatus::Suspended;
        }
        if triggers.warn_at_bps > 0
            && u128::from(ratio) >= arith::bps_of(threshold, triggers.warn_at_bps)
        {
            warnings.push(warning);
        }
    }
    programme.warnings = warnings;
    work.put(keys::programme(id), &programme);
}

/// R5.3: a policy may be issued on `date`.
pub fn is_active_on(programme: &Programme, date: Date) -> bool {
    programme.status == ProgrammeStatus::Active
        && programme.terms.period_start <= date
        && date <= programme.terms.period_end
}
