//! R10: the result document of a ledger's state as of a date.
//!
//! Figures that move with time (instalments fallen due, days past due, the programmes'
//! outstanding and overdue figures, the overdue claims) are computed as of the date asked
//! for; everything else is as the last transaction left it. The document's types are
//! `ledger::api::report`'s, shared with the API and the CLI.

use ledger::api::records::ReportEntry;
use ledger::api::report::{
    AttestationFigures, ClaimDetail, ClaimFigures, FundFigures, LoanFigures, MonthFigures,
    OrganisationTotals, PolicyFigures, ProgrammeDetail, ProgrammeFigures, RecoveryFigures,
    RejectedStep, Report,
};
use ledger::state::StateView;
use ledger::{Date, Id};

use std::collections::BTreeMap;

use ledger::OrgKind;

use crate::claim;
use crate::loan;
use crate::programme;
use crate::store::{self, keys, Claim, Fund, Loan, Org, Policy, Programme, Recovery, Settlement};
use crate::Rejected;

fn by_id<T, V>(records: Vec<(Id, T)>, render: impl Fn(&Id, &T) -> V) -> BTreeMap<Id, V> {
    records
        .iter()
        .map(|(id, record)| (id.clone(), render(id, record)))
        .collect()
}

pub fn programme_json(
    state: &dyn StateView,
    id: &Id,
    programme: &Programme,
    date: Date,
) -> ProgrammeFigures {
    programme_json_with(programme, &programme::figures(state, id, programme, date))
}

/// [`programme_json`] with the programme's R5 figures already known.
pub fn programme_json_with(
    programme: &Programme,
    figures: &programme::Figures,
) -> ProgrammeFigures {
    ProgrammeFigures {
        figures: month_figures_of(programme, figures),
        warnings: programme
            .warnings
            .iter()
            .map(|w| w.as_str().to_string())
            .collect(),
    }
}

/// A programme's R5 figures as the month ends keep them.
fn month_figures_of(programme: &Programme, figures: &programme::Figures) -> MonthFigures {
    MonthFigures {
        claims_gross_fen: programme.claims_gross_fen,
        loss_ratio_bps: figures.loss_ratio_bps,
        outstanding_principal_fen: figures.outstanding_principal_fen,
        overdue_principal_fen: figures.overdue_principal_fen,
        overdue_ratio_bps: figures.overdue_ratio_bps,
        premium_written_fen: programme.premium_written_fen,
        status: programme.status.as_str().to_string(),
    }
}

pub fn fund_json(fund: &Fund) -> FundFigures {
    FundFigures {
        balance_fen: fund.balance_fen,
        compensation_paid_fen: fund.compensation_paid_fen,
        subsidies_paid_fen: fund.subsidies_paid_fen,
    }
}

pub fn policy_json(policy: &Policy) -> PolicyFigures {
    PolicyFigures {
        insured_amount_fen: policy.insured_amount_fen,
        premium_fen: policy.premium_fen,
        subsidy_fen: policy.subsidy_fen,
    }
}

pub fn loan_json(stored: &Loan, date: Date) -> LoanFigures {
    let loan = loan::as_of(stored, date);
    LoanFigures {
        interest_dpd: loan::interest_dpd(&loan, date),
        on_time: loan.on_time,
        outstanding_principal_fen: loan.outstanding_principal_fen,
        principal_dpd: loan::principal_dpd(&loan, date),
        status: loan.status.as_str().to_string(),
        // A figure beyond the largest amount saturates in the report; the rules
        // themselves hold it in 128 bits.
        unpaid_interest_fen: u64::try_from(loan::unpaid_interest(&loan)).unwrap_or(u64::MAX),
    }
}

pub fn claim_json(claim: &Claim) -> ClaimFigures {
    let s: Settlement = claim.settlement.unwrap_or_default();
    let r: Recovery = claim.recovery;
    ClaimFigures {
        bank_retained_fen: s.bank_retained_fen,
        decision_due: claim.decision_due,
        fund_fen: s.fund_fen,
        fund_shortfall_fen: s.fund_shortfall_fen,
        insurer_gross_fen: s.insurer_gross_fen,
        insurer_pays_bank_fen: s.insurer_pays_bank_fen,
        insurer_retained_fen: s.insurer_retained_fen,
        late: claim.late,
        loss_fen: claim.loss_fen,
        payment_due: claim.payment_due,
        recovered_fen: claim.recovered_fen,
        recovery: RecoveryFigures {
            bank_fen: r.bank_fen,
            fund_fen: r.fund_fen,
            insurer_fen: r.insurer_fen,
            reinsurer_fen: r.reinsurer_fen,
        },
        reinsurer_fen: s.reinsurer_fen,
        status: claim.status.as_str().to_string(),
    }
}

/// A programme's R10 figures as of `date` with its terms' parties and split: what the
/// audit report and the node's read views both show of it.
pub fn programme_detail(
    state: &dyn StateView,
    id: &Id,
    programme: &Programme,
    date: Date,
) -> ProgrammeDetail {
    programme_detail_with(programme, &programme::figures(state, id, programme, date))
}

/// [`programme_detail`] with the programme's R5 figures already known.
pub fn programme_detail_with(
    programme: &Programme,
    figures: &programme::Figures,
) -> ProgrammeDetail {
    let terms = &programme.terms;
    ProgrammeDetail {
        banks: terms.banks.clone(),
        figures: programme_json_with(programme, figures),
        fund: terms.fund.clone(),
        government: terms.government.clone(),
        insurer: terms.insurer.clone(),
        name: terms.name.clone(),
        product: terms.product.clone(),
        reinsurer: terms.reinsurer.clone(),
        split: terms.split,
    }
}

/// A claim's R10 figures with its loan, bank and service-level dates (R7.5), and whether
/// it is overdue on `date`: what the audit report and the node's read views both show.
pub fn claim_detail(claim: &Claim, date: Date) -> ClaimDetail {
    ClaimDetail {
        bank: claim.bank.clone(),
        decided: claim.decided,
        documents_complete: claim.completed,
        figures: claim_json(claim),
        filed: claim.filed,
        loan: claim.loan.clone(),
        overdue: claim::is_overdue(claim, date),
        paid: claim.paid,
    }
}

/// R7.5: the claims overdue on `date`, by id.
pub fn overdue_claims(state: &dyn StateView, date: Date) -> Vec<Id> {
    store::scan::<Claim>(state, keys::CLAIM)
        .into_iter()
        .filter(|(_, c)| claim::is_overdue(c, date))
        .map(|(id, _)| id)
        .collect()
}

/// The R10 document (see the module notes).
pub fn report(state: &dyn StateView, date: Date, rejected: &[Rejected]) -> Report {
    let version = crate::upgrade::recorded(state).unwrap_or(1);
    report_under(state, date, rejected, version)
}

/// [`report`] as protocol `version` shapes it: from version 3 with the attestations
/// (R14.6), before it without the key.
pub fn report_under(
    state: &dyn StateView,
    date: Date,
    rejected: &[Rejected],
    version: u32,
) -> Report {
    // R14.6: from version 3.
    let attestations = (version >= crate::upgrade::ATTESTATIONS).then(|| {
        crate::attest::all(state)
            .into_iter()
            .map(|(id, a)| (id, attestation_json(&a)))
            .collect()
    });
    Report {
        attestations,
        claims: by_id(store::scan::<Claim>(state, keys::CLAIM), |_, c| {
            claim_json(c)
        }),
        date,
        funds: by_id(store::scan::<Fund>(state, keys::FUND), |_, f| fund_json(f)),
        loans: by_id(store::scan::<Loan>(state, keys::LOAN), |_, l| {
            loan_json(l, date)
        }),
        overdue_claims: overdue_claims(state, date),
        policies: by_id(store::scan::<Policy>(state, keys::POLICY), |_, p| {
            policy_json(p)
        }),
        programmes: by_id(store::scan::<Programme>(state, keys::PROGRAMME), |id, p| {
            programme_json(state, id, p, date)
        }),
        rejected: rejected
            .iter()
            .map(|r| RejectedStep {
                code: r.code,
                step: r.step,
            })
            .collect(),
    }
}

/// R14.6: one attestation in the R10 document.
pub fn attestation_json(a: &crate::attest::Attestation) -> AttestationFigures {
    AttestationFigures {
        enterprise: a.enterprise.clone(),
        grade: a.grade.clone(),
        issuer: a.issuer.clone(),
        kind: a.kind.clone(),
        revoked: a.revoked_on.is_some(),
        valid_from: a.valid_from,
        valid_to: a.valid_to,
    }
}

/// The sections of [`report`] that hold one entry per record, each with the state prefix
/// of its records, for readers that page through them.
pub const SECTIONS: [(&str, &str); 6] = [
    // R14.6: the state holds none before version 3.
    ("attestations", crate::attest::RECORD),
    ("claims", keys::CLAIM),
    ("funds", keys::FUND),
    ("loans", keys::LOAN),
    ("policies", keys::POLICY),
    ("programmes", keys::PROGRAMME),
];

/// The entry of the record stored at `id` under [`SECTIONS`]' `section`, as [`report`]
/// gives it as of `date`; `None` for a section that is not one of them.
pub fn section_entry(
    state: &dyn StateView,
    date: Date,
    section: &str,
    id: &Id,
    value: &[u8],
) -> Option<ReportEntry> {
    Some(match section {
        "attestations" => ReportEntry::Attestation(attestation_json(&store::decode_record(value))),
        "claims" => ReportEntry::Claim(claim_json(&store::decode_record(value))),
        "funds" => ReportEntry::Fund(fund_json(&store::decode_record(value))),
        "loans" => ReportEntry::Loan(loan_json(&store::decode_record(value), date)),
        "policies" => ReportEntry::Policy(policy_json(&store::decode_record(value))),
        "programmes" => ReportEntry::Programme(programme_json(
            state,
            id,
            &store::decode_record(value),
            date,
        )),
        _ => return None,
    })
}

/// The last day of `date`'s month.
pub fn month_end(date: Date) -> Date {
    let (y, m, _) = date.ymd();
    let first = Date::from_ymd(y, m, 1).expect("the first of a month is a date");
    first
        .checked_add_months(1)
        .and_then(|next| Date::from_days(next.days_since_epoch() - 1).ok())
        .unwrap_or(date)
}

/// What the month ends keep: each programme's figures, by id.
pub type MonthEnd = BTreeMap<Id, MonthFigures>;

/// Each programme's figures as of `date`, by id: what the regulator's monthly view keeps
/// of every month end (premium written, claims gross, the loss and overdue ratios, the
/// outstanding and overdue principal, the status).
pub fn month_figures(state: &dyn StateView, date: Date) -> MonthEnd {
    let figures = |id: &Id, programme: &Programme| {
        Ok::<_, std::convert::Infallible>(programme::figures(state, id, programme, date))
    };
    match month_figures_with(state, figures) {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

/// [`month_figures`] with each programme's R5 figures as of the month end from `figures`:
/// a node reads them from its running sums of the programme's loans instead of reading
/// every loan ([`programme::figures_from`] on those sums gives the same figures).
pub fn month_figures_with<E>(
    state: &dyn StateView,
    mut figures: impl FnMut(&Id, &Programme) -> Result<programme::Figures, E>,
) -> Result<MonthEnd, E> {
    let mut programmes = MonthEnd::new();
    for (id, programme) in store::scan::<Programme>(state, keys::PROGRAMME) {
        let figures = month_figures_of(&programme, &figures(&id, &programme)?);
        programmes.insert(id, figures);
    }
    Ok(programmes)
}

/// An organisation kind's name, as in the genesis file.
pub fn kind_name(kind: OrgKind) -> &'static str {
    match kind {
        OrgKind::Government => "Government",
        OrgKind::Bank => "Bank",
        OrgKind::Insurer => "Insurer",
        OrgKind::Reinsurer => "Reinsurer",
        OrgKind::Regulator => "Regulator",
        OrgKind::Auditor => "Auditor",
    }
}

/// A column of [`organisation_totals`]: what an organisation has paid or received, in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrgColumn {
    PremiumsWritten,
    PremiumsOnLoans,
    SubsidiesPaid,
    ClaimsPaid,
    ClaimsReceived,
    FundCompensation,
    Reinsurance,
    LossesRetained,
    Recoveries,
}

impl OrgColumn {
    /// The columns, in the order the report gives them.
    pub const ALL: [OrgColumn; 9] = [
        OrgColumn::PremiumsWritten,
        OrgColumn::PremiumsOnLoans,
        OrgColumn::SubsidiesPaid,
        OrgColumn::ClaimsPaid,
        OrgColumn::ClaimsReceived,
        OrgColumn::FundCompensation,
        OrgColumn::Reinsurance,
        OrgColumn::LossesRetained,
        OrgColumn::Recoveries,
    ];

    /// The column's field name in the report (and in the API).
    pub const fn name(self) -> &'static str {
        match self {
            OrgColumn::PremiumsWritten => "premiums_written_fen",
            OrgColumn::PremiumsOnLoans => "premiums_on_loans_fen",
            OrgColumn::SubsidiesPaid => "subsidies_paid_fen",
            OrgColumn::ClaimsPaid => "claims_paid_fen",
            OrgColumn::ClaimsReceived => "claims_received_fen",
            OrgColumn::FundCompensation => "fund_compensation_fen",
            OrgColumn::Reinsurance => "reinsurance_fen",
            OrgColumn::LossesRetained => "losses_retained_fen",
            OrgColumn::Recoveries => "recoveries_fen",
        }
    }

    /// The column of a field name.
    pub fn from_name(name: &str) -> Option<OrgColumn> {
        OrgColumn::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The column's field in an organisation's totals.
    pub fn of(self, totals: &mut OrganisationTotals) -> &mut u64 {
        match self {
            OrgColumn::PremiumsWritten => &mut totals.premiums_written_fen,
            OrgColumn::PremiumsOnLoans => &mut totals.premiums_on_loans_fen,
            OrgColumn::SubsidiesPaid => &mut totals.subsidies_paid_fen,
            OrgColumn::ClaimsPaid => &mut totals.claims_paid_fen,
            OrgColumn::ClaimsReceived => &mut totals.claims_received_fen,
            OrgColumn::FundCompensation => &mut totals.fund_compensation_fen,
            OrgColumn::Reinsurance => &mut totals.reinsurance_fen,
            OrgColumn::LossesRetained => &mut totals.losses_retained_fen,
            OrgColumn::Recoveries => &mut totals.recoveries_fen,
        }
    }
}

/// Totals per organisation, those removed from the consortium included (R11.4: their
/// records stay): premiums written (the insurer's) and on loans (the bank's), subsidies
/// and compensation paid by its fund, claims paid and received, reinsurance, losses
/// retained and recoveries. Read from the rulebook's own records.
pub fn organisation_totals(state: &dyn StateView) -> BTreeMap<Id, OrganisationTotals> {
    let mut totals: BTreeMap<Id, BTreeMap<OrgColumn, u128>> = BTreeMap::new();
    for prefix in [keys::POLICY, keys::FUND, keys::CLAIM] {
        for (key, value) in state.scan_prefix(prefix.as_bytes()) {
            for (org, what, amount) in organisation_contributions(state, &key, &value) {
                *totals.entry(org).or_default().entry(what).or_insert(0) += u128::from(amount);
            }
        }
    }
    organisation_docs(state, &totals)
}

/// What one record adds to [`organisation_totals`]: `(organisation, column, fen)` for a
/// policy (`pol/…`), fund (`fund/…`) or claim (`claim/…`) record, nothing for any other
/// key. The totals are the sums of these over the state, so a reader can keep them up
/// to date from each block's writes alone (subtract what a record added before the
/// block, add what it adds after). `state` supplies the programme a policy or claim
/// belongs to; a programme's parties never change.
pub fn organisation_contributions(
    state: &dyn StateView,
    key: &[u8],
    value: &[u8],
) -> Vec<(Id, OrgColumn, u64)> {
    let mut out = Vec::new();
    let programme = |id: &Id| store::read::<Programme>(state, &keys::programme(id));
    if key.starts_with(keys::POLICY.as_bytes()) {
        let policy: Policy = store::decode_record(value);
        if let Some(p) = programme(&policy.programme) {
            out.push((
                p.terms.insurer,
                OrgColumn::PremiumsWritten,
                policy.premium_fen.0,
            ));
            out.push((
                policy.bank,
                OrgColumn::PremiumsOnLoans,
                policy.premium_fen.0,
            ));
        }
    } else if key.starts_with(keys::FUND.as_bytes()) {
        let fund: Fund = store::decode_record(value);
        out.push((
            fund.government.clone(),
            OrgColumn::SubsidiesPaid,
            fund.subsidies_paid_fen.0,
        ));
        out.push((
            fund.government,
            OrgColumn::FundCompensation,
            fund.compensation_paid_fen.0,
        ));
    } else if key.starts_with(keys::CLAIM.as_bytes()) {
        let claim: Claim = store::decode_record(value);
        let (Some(s), Some(p)) = (claim.settlement, programme(&claim.programme)) else {
            return out;
        };
        let terms = p.terms;
        out.push((
            terms.insurer.clone(),
            OrgColumn::ClaimsPaid,
            s.insurer_pays_bank_fen.0,
        ));
        out.push((
            claim.bank.clone(),
            OrgColumn::ClaimsReceived,
            s.insurer_pays_bank_fen.0,
        ));
        out.push((
            claim.bank.clone(),
            OrgColumn::LossesRetained,
            s.bank_retained_fen.0,
        ));
        out.push((
            terms.insurer.clone(),
            OrgColumn::LossesRetained,
            s.insurer_retained_fen.0,
        ));
        if let Some(reinsurer) = &terms.reinsurer {
            out.push((reinsurer.clone(), OrgColumn::Reinsurance, s.reinsurer_fen.0));
            out.push((
                reinsurer.clone(),
                OrgColumn::Recoveries,
                claim.recovery.reinsurer_fen.0,
            ));
        }
        out.push((claim.bank, OrgColumn::Recoveries, claim.recovery.bank_fen.0));
        out.push((
            terms.insurer,
            OrgColumn::Recoveries,
            claim.recovery.insurer_fen.0,
        ));
        out.push((
            terms.government,
            OrgColumn::Recoveries,
            claim.recovery.fund_fen.0,
        ));
    }
    out
}

/// [`organisation_totals`]' document from the sums per organisation and column: every
/// member, those removed included, and any other organisation a sum names.
pub fn organisation_docs(
    state: &dyn StateView,
    sums: &BTreeMap<Id, BTreeMap<OrgColumn, u128>>,
) -> BTreeMap<Id, OrganisationTotals> {
    let mut totals: BTreeMap<Id, BTreeMap<OrgColumn, u128>> = BTreeMap::new();
    let mut kinds: BTreeMap<Id, OrgKind> = BTreeMap::new();
    let removed = crate::governance::removed_organisations(state);
    for (id, org) in store::scan::<Org>(state, keys::ORG)
        .into_iter()
        .chain(removed.iter().cloned())
    {
        kinds.insert(id.clone(), org.kind);
        totals.insert(id, BTreeMap::new());
    }
    for (org, columns) in sums {
        totals.entry(org.clone()).or_default().extend(columns);
    }
    totals
        .iter()
        .map(|(org, sums)| {
            let mut doc = OrganisationTotals {
                kind: kinds
                    .get(org)
                    .map_or("unknown", |k| kind_name(*k))
                    .to_string(),
                removed: removed.iter().any(|(id, _)| id == org),
                ..OrganisationTotals::default()
            };
            for column in OrgColumn::ALL {
                let amount = sums.get(&column).copied().unwrap_or(0);
                *column.of(&mut doc) = u64::try_from(amount).unwrap_or(u64::MAX);
            }
            (org.clone(), doc)
        })
        .collect()
}
