//! R10: the result document of a ledger's state as of a date.
//!
//! Figures that move with time (instalments fallen due, days past due, the programmes'
//! outstanding and overdue figures, the overdue claims) are computed as of the date asked
//! for; everything else is as the last transaction left it. Keys of every object are
//! inserted in sorted order, so the document's bytes do not depend on how `serde_json`
//! orders its maps.

use ledger::state::StateView;
use ledger::{Date, Fen, Id};
use serde_json::{json, Map, Value};

use crate::claim;
use crate::loan;
use crate::programme;
use crate::store::{self, keys, Claim, Fund, Loan, Policy, Programme, Recovery, Settlement};
use crate::Rejected;

fn amount(fen: Fen) -> Value {
    Value::from(fen.0)
}

fn date_or_null(date: Option<Date>) -> Value {
    date.map_or(Value::Null, |d| Value::from(d.to_string()))
}

fn by_id<T>(records: Vec<(Id, T)>, render: impl Fn(&Id, &T) -> Value) -> Value {
    let mut map = Map::new();
    for (id, record) in &records {
        map.insert(id.to_string(), render(id, record));
    }
    Value::Object(map)
}

pub fn programme_json(state: &dyn StateView, id: &Id, programme: &Programme, date: Date) -> Value {
    let figures = programme::figures(state, id, programme, date);
    let warnings: Vec<&str> = programme.warnings.iter().map(|w| w.as_str()).collect();
    json!({
        "claims_gross_fen": amount(programme.claims_gross_fen),
        "loss_ratio_bps": figures.loss_ratio_bps,
        "outstanding_principal_fen": amount(figures.outstanding_principal_fen),
        "overdue_principal_fen": amount(figures.overdue_principal_fen),
        "overdue_ratio_bps": figures.overdue_ratio_bps,
        "premium_written_fen": amount(programme.premium_written_fen),
        "status": programme.status.as_str(),
        "warnings": warnings,
    })
}

pub fn fund_json(fund: &Fund) -> Value {
    json!({
        "balance_fen": amount(fund.balance_fen),
        "compensation_paid_fen": amount(fund.compensation_paid_fen),
        "subsidies_paid_fen": amount(fund.subsidies_paid_fen),
    })
}

pub fn policy_json(policy: &Policy) -> Value {
    json!({
        "insured_amount_fen": amount(policy.insured_amount_fen),
        "premium_fen": amount(policy.premium_fen),
        "subsidy_fen": amount(policy.subsidy_fen),
    })
}

pub fn loan_json(stored: &Loan, date: Date) -> Value {
    let loan = loan::as_of(stored, date);
    // A figure beyond the largest amount saturates in the report; the rules themselves
    // hold it in 128 bits.
    let unpaid = u64::try_from(loan::unpaid_interest(&loan)).unwrap_or(u64::MAX);
    json!({
        "interest_dpd": loan::interest_dpd(&loan, date),
        "on_time": loan.on_time,
        "outstanding_principal_fen": amount(loan.outstanding_principal_fen),
        "principal_dpd": loan::principal_dpd(&loan, date),
        "status": loan.status.as_str(),
        "unpaid_interest_fen": unpaid,
    })
}

pub fn claim_json(claim: &Claim) -> Value {
    let s: Settlement = claim.settlement.unwrap_or_default();
    let r: Recovery = claim.recovery;
    json!({
        "bank_retained_fen": amount(s.bank_retained_fen),
        "decision_due": date_or_null(claim.decision_due),
        "fund_fen": amount(s.fund_fen),
        "fund_shortfall_fen": amount(s.fund_shortfall_fen),
        "insurer_gross_fen": amount(s.insurer_gross_fen),
        "insurer_pays_bank_fen": amount(s.insurer_pays_bank_fen),
        "insurer_retained_fen": amount(s.insurer_retained_fen),
        "late": claim.late,
        "loss_fen": amount(claim.loss_fen),
        "payment_due": date_or_null(claim.payment_due),
        "recovered_fen": amount(claim.recovered_fen),
        "recovery": {
            "bank_fen": amount(r.bank_fen),
            "fund_fen": amount(r.fund_fen),
            "insurer_fen": amount(r.insurer_fen),
            "reinsurer_fen": amount(r.reinsurer_fen),
        },
        "reinsurer_fen": amount(s.reinsurer_fen),
        "status": claim.status.as_str(),
    })
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
pub fn report(state: &dyn StateView, date: Date, rejected: &[Rejected]) -> Value {
    let programmes = by_id(store::scan::<Programme>(state, keys::PROGRAMME), |id, p| {
        programme_json(state, id, p, date)
    });
    let funds = by_id(store::scan::<Fund>(state, keys::FUND), |_, f| fund_json(f));
    let policies = by_id(store::scan::<Policy>(state, keys::POLICY), |_, p| {
        policy_json(p)
    });
    let loans = by_id(store::scan::<Loan>(state, keys::LOAN), |_, l| {
        loan_json(l, date)
    });
    let claims = by_id(store::scan::<Claim>(state, keys::CLAIM), |_, c| {
        claim_json(c)
    });
    let overdue: Vec<String> = overdue_claims(state, date)
        .iter()
        .map(Id::to_string)
        .collect();
    let rejected: Vec<Value> = rejected
        .iter()
        .map(|r| json!({"code": r.code.as_str(), "step": r.step}))
        .collect();
    json!({
        "claims": claims,
        "date": date.to_string(),
        "funds": funds,
        "loans": loans,
        "overdue_claims": overdue,
        "policies": policies,
        "programmes": programmes,
        "rejected": rejected,
    })
}
