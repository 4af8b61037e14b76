//! One stress path: the drawn loans' lives as dated transactions, each executed by the
//! rulebook itself (`contracts::execute`) on an in-memory ledger, in date order.
//!
//! Nothing here decides a rule. Amounts owed are read from the loan records the rulebook
//! keeps (`loan::as_of`), splits, fund payments, caps, shortfalls, reinsurance, recoveries
//! and suspensions are whatever the rulebook answered, and every figure of the result is
//! read back from its records. What this file adds is only behaviour: who does what on
//! which day, as the model's draws say. Signatures are not made: the rulebook is given
//! the signing organisations, as `scenario run` gives them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use anyhow::{bail, ensure};
use contracts::store::{self, keys, Claim, ClaimStatus, Fund, Loan, Programme};
use contracts::{execute, members_writes, TxContext};
use ledger::action::{
    ConfirmClaimPayment, CreateFund, DecideClaim, DisburseLoan, FileClaim, FileRate, FundTopUp,
    IssuePolicy, ProgrammeRef, RecordRecovery, RecordRepayment, SubsidyMode,
};
use ledger::state::{MemoryStore, StateStore};
use ledger::{Action, Code, Date, Fen, Id, OrgKind, Text};
use serde_json::{json, Value};

use super::draw::{Behaviour, LoanPlan, PathDraws};

/// The stress test runs the rulebook offline: it signs nothing, so any suite gives the
/// same figures.
const OFFLINE_SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;
use super::model::Model;

/// A transaction as a scenario step (for `--export-path`).
#[derive(Debug, Clone)]
pub struct Step {
    pub date: Date,
    pub by: Vec<Id>,
    pub action: Action,
}

/// The parties, by role.
#[derive(Debug, Clone)]
struct Parties {
    government: Id,
    banks: Vec<Id>,
    insurer: Id,
    regulator: Id,
    orgs: Vec<(Id, OrgKind)>,
}

/// The ledger after the set-up every path starts from: members, rate filings, the fund
/// and its opening balance, and the programme.
#[derive(Debug, Clone)]
pub struct Base {
    /// The protocol version every path runs under (R12.1).
    pub version: u32,
    store: MemoryStore,
    setup: Vec<Step>,
    parties: Parties,
    programme: Id,
    fund: Id,
}

fn id(text: String) -> Id {
    Id::new(text).expect("generated ids are short and printable")
}

fn text(text: &str) -> Text {
    Text::new(text).expect("generated references are short and printable")
}

/// The model's organisations with their kinds; an error when one plays two parts.
fn model_orgs(model: &Model) -> anyhow::Result<Vec<(Id, OrgKind)>> {
    let terms = &model.programme;
    let mut orgs: Vec<(Id, OrgKind)> = vec![(terms.government.clone(), OrgKind::Government)];
    orgs.extend(terms.banks.iter().map(|b| (b.clone(), OrgKind::Bank)));
    orgs.push((terms.insurer.clone(), OrgKind::Insurer));
    if let Some(r) = &terms.reinsurer {
        orgs.push((r.clone(), OrgKind::Reinsurer));
    }
    orgs.push((model.regulator.clone(), OrgKind::Regulator));
    for (i, (org, _)) in orgs.iter().enumerate() {
        if orgs[..i].iter().any(|(o, _)| o == org) {
            bail!("the organisation {org} has two roles in the model; each party needs its own id");
        }
    }
    Ok(orgs)
}

/// The transactions that set the model's programme up: its rate filings, its fund (and
/// the fund's opening balance) and the programme, each with its signers.
fn setup_steps(model: &Model) -> anyhow::Result<Vec<(Vec<Id>, Action)>> {
    let terms = &model.programme;
    let gov = vec![terms.government.clone()];
    let mut steps: Vec<(Vec<Id>, Action)> = Vec::new();
    for filing in &model.filings {
        steps.push((
            vec![terms.insurer.clone(), model.regulator.clone()],
            Action::FileRate(FileRate {
                insurer: terms.insurer.clone(),
                product: terms.product.clone(),
                rates_bps: filing.rates_bps.clone(),
                valid_from: filing.valid_from,
                valid_to: filing.valid_to,
                filing_ref: Text::new(filing.filing_ref.clone())
                    .map_err(|e| anyhow::anyhow!("filings: filing_ref: {e}"))?,
            }),
        ));
    }
    steps.push((
        gov.clone(),
        Action::CreateFund(CreateFund {
            id: terms.fund.clone(),
            government: terms.government.clone(),
            annual_cap_fen: model.fund.annual_cap_fen,
        }),
    ));
    if !model.fund.opening_balance_fen.is_zero() {
        steps.push((
            gov.clone(),
            Action::FundTopUp(FundTopUp {
                fund: terms.fund.clone(),
                amount_fen: model.fund.opening_balance_fen,
                reference: text("opening balance"),
            }),
        ));
    }
    let mut signers = gov.clone();
    signers.extend(terms.banks.iter().cloned());
    signers.push(terms.insurer.clone());
    signers.extend(terms.reinsurer.iter().cloned());
    steps.push((signers, Action::CreateProgramme(Box::new(terms.clone()))));
    Ok(steps)
}

impl Base {
    /// Set the programme up on a fresh ledger. Any set-up transaction the rulebook refuses,
    /// and any segment whose smallest or largest loan it would refuse, is an error with its
    /// code: such a model could not run on the network either.
    pub fn new(model: &Model, version: u32) -> anyhow::Result<Base> {
        ensure!(
            contracts::upgrade::SUPPORTED.contains(&version),
            "protocol version {version}: this program supports versions {}..={}",
            contracts::upgrade::SUPPORTED.start(),
            contracts::upgrade::SUPPORTED.end()
        );
        let terms = &model.programme;
        let orgs = model_orgs(model)?;
        let parties = Parties {
            government: terms.government.clone(),
            banks: terms.banks.clone(),
            insurer: terms.insurer.clone(),
            regulator: model.regulator.clone(),
            orgs: orgs.clone(),
        };
        let mut store = MemoryStore::new();
        store.apply(&members_writes(&orgs));
        let mut base = Base {
            version,
            store,
            setup: Vec::new(),
            parties,
            programme: terms.id.clone(),
            fund: terms.fund.clone(),
        };
        base.set_up(model.start, setup_steps(model)?)?;
        base.check_segments(model)?;
        Ok(base)
    }

    /// Executes the set-up `steps` on `start`, keeping each as a step of the path.
    fn set_up(&mut self, start: Date, steps: Vec<(Vec<Id>, Action)>) -> anyhow::Result<()> {
        let version = self.version;
        for (by, action) in steps {
            let ctx = TxContext {
                date: start,
                signers: by.clone(),
                approvers: Vec::new(),
                height: self.setup.len() as u64 + 1,
                version,
                suite: OFFLINE_SUITE,
            };
            match execute(&self.store, &ctx, &action) {
                Ok(writes) => self.store.apply(&writes),
                Err(code) => bail!(
                    "the model's {} on {start} is refused by the rulebook: {} ({})",
                    action.type_name(),
                    code.as_str(),
                    code.meaning()
                ),
            }
            self.setup.push(Step {
                date: start,
                by,
                action,
            });
        }
        Ok(())
    }

    /// Each segment's smallest and largest loan must be one the programme accepts.
    fn check_segments(&self, model: &Model) -> anyhow::Result<()> {
        let (terms, start, version) = (&model.programme, model.start, self.version);
        for segment in &model.portfolio.segments {
            let (low_p, high_p) = segment.principal_fen.bounds();
            let (low_t, high_t) = segment.term_months.bounds();
            for (principal, term) in [(low_p, low_t), (high_p, high_t)] {
                let probe = IssuePolicy {
                    id: id("probe".into()),
                    programme: terms.id.clone(),
                    enterprise: id("probe".into()),
                    bank: terms
                        .banks
                        .first()
                        .cloned()
                        .unwrap_or_else(|| id("none".into())),
                    loan_principal_fen: Fen(principal),
                    loan_rate_bps: segment.loan_rate_bps,
                    term_months: term,
                    premium_rate_bps: segment.premium_rate_bps,
                    financing_doc_hash: None,
                };
                let ctx = TxContext {
                    date: start,
                    signers: vec![terms.insurer.clone()],
                    approvers: Vec::new(),
                    height: 0,
                    version,
                    suite: OFFLINE_SUITE,
                };
                if let Err(code) = execute(&self.store, &ctx, &Action::IssuePolicy(probe)) {
                    bail!(
                        "segment {:?}: a policy of {principal} fen for {term} months at {} bps \
                         (loan rate {} bps) is refused by the programme on {start}: {} ({})",
                        segment.name,
                        segment.premium_rate_bps,
                        segment.loan_rate_bps,
                        code.as_str(),
                        code.meaning()
                    );
                }
            }
        }
        Ok(())
    }

    /// The members, as a scenario's `orgs`.
    pub fn orgs_json(&self) -> Value {
        Value::Array(
            self.parties
                .orgs
                .iter()
                .map(|(id, kind)| json!({ "id": id.as_str(), "kind": kind }))
                .collect(),
        )
    }
}

/// What one path gives, read from the rulebook's records at its end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathResult {
    /// Net loss (after recoveries) of the banks, the insurer, the fund and the reinsurer.
    /// The banks' includes the whole loss of claims the insurer rejected.
    pub losses: [u64; 4],
    /// Loss on rejected claims (part of the banks' loss).
    pub rejected_loss_fen: u64,
    /// What the fund owed but could not pay (R7.3 (3)), left with the insurer.
    pub fund_shortfall_fen: u64,
    /// Premium written on the path's policies (the programme's opening figures excluded).
    pub premium_fen: u64,
    /// Principal of the loans disbursed.
    pub principal_fen: u64,
    /// By calendar year of the horizon: subsidies paid, compensation paid, all the fund
    /// paid (what counts against its cap), and whether the cap left a shortfall.
    pub subsidies_by_year: Vec<u64>,
    pub compensation_by_year: Vec<u64>,
    pub fund_paid_by_year: Vec<u64>,
    pub cap_bound_by_year: Vec<bool>,
    /// Fund money returned by recoveries.
    pub fund_recovered_fen: u64,
    /// The month (from 0) the programme was first suspended.
    pub suspended_month: Option<u64>,
    /// The insurer's loss ratio (R5, including the opening figures) at each month end.
    pub loss_ratio_by_month: Vec<u64>,
    pub policies: u64,
    pub claims_approved: u64,
    pub claims_rejected: u64,
    /// Transactions executed by the rulebook (accepted or refused) and the refusals by code.
    pub txs: u64,
    pub refused: BTreeMap<&'static str, u64>,
}

// Event phases within one day, in the order they run.
const TOP_UP: u8 = 0;
const ISSUE: u8 = 1;
const REPAY: u8 = 2;
const FILE: u8 = 3;
const DECIDE: u8 = 4;
const PAY: u8 = 5;
const RECOVER: u8 = 6;
const MONTH_END: u8 = 9;

struct Runner<'a> {
    model: &'a Model,
    base: &'a Base,
    store: MemoryStore,
    queue: BinaryHeap<Reverse<(Date, u8, u32, u64)>>,
    end: Date,
    first_year: i32,
    result: PathResult,
    steps: Option<Vec<Step>>,
    insurer: Vec<Id>,
    banks: Vec<Vec<Id>>,
    government: Vec<Id>,
    regulator: Vec<Id>,
    fund_seen: (u64, u64),
    height: u64,
    /// Each loan's monthly interest, once read.
    interest: Vec<Option<u128>>,
}

/// Run one path's draws through the rulebook. With `record`, also return every
/// transaction (set-up included) as scenario steps.
pub fn run_path(
    model: &Model,
    base: &Base,
    draws: &PathDraws,
    record: bool,
) -> (PathResult, Option<Vec<Step>>) {
    let end = model.end();
    let first_year = model.start.year();
    let years = (end.year() - first_year + 1) as usize;
    let mut runner = Runner {
        model,
        base,
        store: base.store.clone(),
        queue: BinaryHeap::new(),
        end,
        first_year,
        result: PathResult {
            subsidies_by_year: vec![0; years],
            compensation_by_year: vec![0; years],
            fund_paid_by_year: vec![0; years],
            cap_bound_by_year: vec![false; years],
            ..PathResult::default()
        },
        steps: record.then(|| base.setup.clone()),
        insurer: vec![base.parties.insurer.clone()],
        banks: base.parties.banks.iter().map(|b| vec![b.clone()]).collect(),
        government: vec![base.parties.government.clone()],
        regulator: vec![base.parties.regulator.clone()],
        fund_seen: (0, 0),
        height: base.setup.len() as u64,
        interest: vec![None; draws.loans.len()],
    };
    for (i, top_up) in model.fund.top_ups.iter().enumerate() {
        if let Some(date) = model.start.checked_add_months(top_up.month) {
            runner.schedule(date, TOP_UP, 0, i as u64);
        }
    }
    for loan in &draws.loans {
        runner.schedule(loan.date, ISSUE, loan.number, 0);
    }
    for month in 0..model.horizon_months {
        let day = model
            .start
            .checked_add_months(month)
            .map(contracts::report::month_end)
            .expect("checked when parsed");
        runner.schedule(day.min(end), MONTH_END, 0, month);
    }
    while let Some(Reverse((date, phase, loan, arg))) = runner.queue.pop() {
        let plan = &draws.loans[loan as usize];
        match phase {
            TOP_UP => runner.top_up(date, arg as usize),
            ISSUE => runner.issue(date, plan),
            REPAY => runner.repay(date, plan, arg),
            FILE => runner.file(date, plan),
            DECIDE => runner.decide(date, plan),
            PAY => runner.pay(date, plan),
            RECOVER => runner.recover(date, plan),
            _ => runner.month_end(date, arg),
        }
    }
    runner.finish();
    (runner.result, runner.steps)
}

fn policy_id(n: u32) -> Id {
    numbered('p', n)
}
fn loan_id(n: u32) -> Id {
    numbered('l', n)
}
fn claim_id(n: u32) -> Id {
    numbered('c', n)
}

/// `prefix` followed by `n` in decimal: the ids of a path's policies, loans and claims,
/// made many times a path and so without the formatting machinery.
pub(super) fn numbered(prefix: char, n: u32) -> Id {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut text = String::with_capacity(1 + digits.len() - at);
    text.push(prefix);
    text.extend(digits[at..].iter().map(|&d| char::from(d)));
    id(text)
}

impl Runner<'_> {
    fn schedule(&mut self, date: Date, phase: u8, loan: u32, arg: u64) {
        if date <= self.end {
            self.queue.push(Reverse((date, phase, loan, arg)));
        }
    }

    fn year_index(&self, date: Date) -> usize {
        (date.year() - self.first_year) as usize
    }

    fn month_index(&self, date: Date) -> u64 {
        let (sy, sm, _) = self.model.start.ymd();
        let (y, m, _) = date.ymd();
        ((i64::from(y) * 12 + i64::from(m)) - (i64::from(sy) * 12 + i64::from(sm))) as u64
    }

    /// Execute one transaction; its writes are applied when the rulebook accepts it.
    fn exec(&mut self, date: Date, by: &[Id], action: Action) -> Result<(), Code> {
        self.height += 1;
        self.result.txs += 1;
        let ctx = TxContext {
            date,
            signers: by.to_vec(),
            approvers: Vec::new(),
            height: self.height,
            version: self.base.version,
            suite: OFFLINE_SUITE,
        };
        let outcome = execute(&self.store, &ctx, &action);
        if let Some(steps) = &mut self.steps {
            steps.push(Step {
                date,
                by: by.to_vec(),
                action,
            });
        }
        match outcome {
            Ok(writes) => {
                self.store.apply_owned(writes);
                Ok(())
            }
            Err(code) => {
                *self.result.refused.entry(code.as_str()).or_default() += 1;
                Err(code)
            }
        }
    }

    fn bank(&self, plan: &LoanPlan) -> Vec<Id> {
        self.banks[plan.bank].clone()
    }

    fn fund(&self) -> Fund {
        store::read(&self.store, &keys::fund(&self.base.fund)).expect("the fund exists")
    }

    fn programme(&self) -> Programme {
        store::read(&self.store, &keys::programme(&self.base.programme))
            .expect("the programme exists")
    }

    /// Attribute what the fund paid since last looked at to `date`'s year.
    fn note_fund(&mut self, date: Date) {
        let fund = self.fund();
        let (subsidies, compensation) = (fund.subsidies_paid_fen.0, fund.compensation_paid_fen.0);
        let year = self.year_index(date);
        self.result.subsidies_by_year[year] += subsidies - self.fund_seen.0;
        self.result.compensation_by_year[year] += compensation - self.fund_seen.1;
        self.fund_seen = (subsidies, compensation);
    }

    fn note_suspension(&mut self, date: Date) {
        if self.result.suspended_month.is_none()
            && self.programme().status == contracts::store::ProgrammeStatus::Suspended
        {
            self.result.suspended_month = Some(self.month_index(date));
        }
    }

    fn top_up(&mut self, date: Date, i: usize) {
        let amount = self.model.fund.top_ups[i].amount_fen;
        if amount.is_zero() {
            return;
        }
        let by = self.government.clone();
        let _ = self.exec(
            date,
            &by,
            Action::FundTopUp(FundTopUp {
                fund: self.base.fund.clone(),
                amount_fen: amount,
                reference: text("top-up"),
            }),
        );
    }

    fn issue(&mut self, date: Date, plan: &LoanPlan) {
        let segment = &self.model.portfolio.segments[plan.segment];
        let bank = self.bank(plan);
        let insurer = self.insurer.clone();
        let issued = self.exec(
            date,
            &insurer,
            Action::IssuePolicy(IssuePolicy {
                id: policy_id(plan.number),
                programme: self.base.programme.clone(),
                enterprise: id(format!("e{}", plan.number)),
                bank: bank[0].clone(),
                loan_principal_fen: Fen(plan.principal_fen),
                loan_rate_bps: segment.loan_rate_bps,
                term_months: plan.term_months,
                premium_rate_bps: segment.premium_rate_bps,
                financing_doc_hash: None,
            }),
        );
        if issued.is_err() {
            return;
        }
        if self.model.programme.subsidy.mode == SubsidyMode::Upfront {
            self.note_fund(date);
        }
        if self
            .exec(
                date,
                &bank,
                Action::DisburseLoan(DisburseLoan {
                    id: loan_id(plan.number),
                    policy: policy_id(plan.number),
                }),
            )
            .is_err()
        {
            return;
        }
        self.result.policies += 1;
        self.result.principal_fen += plan.principal_fen;
        self.next_after(plan, 0);
    }

    /// What follows instalment `k` (0: the disbursement): the next repayment, or the
    /// claim once the loan has missed the instalment it defaults at.
    fn next_after(&mut self, plan: &LoanPlan, k: u64) {
        let next = k + 1;
        if plan.default_at == Some(next) {
            if let Some(date) = self.eligible(plan, next) {
                let date = date.checked_add_days(self.model.portfolio.claims.file_after_days);
                if let Some(date) = date {
                    self.schedule(date, FILE, plan.number, 0);
                }
            }
            return;
        }
        let last = match plan.behaviour {
            Behaviour::Prepaid(k) => k,
            _ => plan.term_months,
        };
        if next > last {
            return;
        }
        let Some(due) = plan.date.checked_add_months(next) else {
            return;
        };
        let date = match plan.behaviour {
            Behaviour::Late(days) => due.checked_add_days(days),
            _ => Some(due),
        };
        if let Some(date) = date {
            self.schedule(date, REPAY, plan.number, next);
        }
    }

    /// The first day a claim on a loan that missed instalment `k` is eligible (R7.1): its
    /// interest `interest_dpd` days past due, or its principal `principal_dpd` days past
    /// maturity. The rulebook still decides at filing.
    fn eligible(&self, plan: &LoanPlan, k: u64) -> Option<Date> {
        let terms = &self.model.programme.claims;
        let due = plan.date.checked_add_months(k)?;
        let maturity = plan.date.checked_add_months(plan.term_months)?;
        let by_interest = due.checked_add_days(terms.interest_dpd)?;
        let by_principal = maturity.checked_add_days(terms.principal_dpd)?;
        Some(by_interest.min(by_principal))
    }

    fn repay(&mut self, date: Date, plan: &LoanPlan, k: u64) {
        // A month's interest, as the rulebook fixed it when the first instalment fell due;
        // the principal does not change until the last payment, so neither does it.
        let n = plan.number as usize;
        let interest = match self.interest[n] {
            Some(interest) => interest,
            None => {
                let stored: Loan = store::read(&self.store, &keys::loan(&loan_id(plan.number)))
                    .expect("a disbursed loan exists");
                let loan = contracts::loan::as_of_owned(stored, date);
                let interest = contracts::loan::unpaid_interest(&loan);
                self.interest[n] = Some(interest);
                interest
            }
        };
        let last = match plan.behaviour {
            Behaviour::Prepaid(p) => p,
            _ => plan.term_months,
        };
        let mut amount = interest;
        if k == last {
            amount += u128::from(plan.principal_fen);
        }
        if amount > 0 {
            let bank = self.bank(plan);
            let paid = self.exec(
                date,
                &bank,
                Action::RecordRepayment(RecordRepayment {
                    loan: loan_id(plan.number),
                    amount_fen: Fen(u64::try_from(amount).unwrap_or(u64::MAX)),
                    reference: text("instalment"),
                }),
            );
            if paid.is_ok()
                && k == last
                && self.model.programme.subsidy.mode == SubsidyMode::OnRepayment
            {
                self.note_fund(date);
            }
        }
        self.next_after(plan, k);
    }

    fn file(&mut self, date: Date, plan: &LoanPlan) {
        let bank = self.bank(plan);
        let filed = self.exec(
            date,
            &bank,
            Action::FileClaim(FileClaim {
                id: claim_id(plan.number),
                loan: loan_id(plan.number),
                documents: vec![id("loss-file".into())],
            }),
        );
        if filed.is_ok() {
            let decide = date.checked_add_days(self.model.portfolio.claims.decide_after_days);
            if let Some(day) = decide {
                self.schedule(day, DECIDE, plan.number, 0);
            }
        }
    }

    fn decide(&mut self, date: Date, plan: &LoanPlan) {
        let before = self.fund();
        let insurer = self.insurer.clone();
        let decided = self.exec(
            date,
            &insurer,
            Action::DecideClaim(DecideClaim {
                claim: claim_id(plan.number),
                approve: !plan.rejected,
                reason: plan.rejected.then(|| text("NotCovered")),
            }),
        );
        if decided.is_err() || plan.rejected {
            return;
        }
        self.note_fund(date);
        self.note_suspension(date);
        let claim: Claim = store::read(&self.store, &keys::claim(&claim_id(plan.number)))
            .expect("a decided claim exists");
        if let Some(s) = claim.settlement {
            // The cap binds when the fund could not pay its part and what stopped it was the
            // year's cap rather than its balance.
            let cap_left = before
                .annual_cap_fen
                .saturating_sub(before.paid_in_year(date));
            if !s.fund_shortfall_fen.is_zero() && cap_left <= before.balance_fen {
                let year = self.year_index(date);
                self.result.cap_bound_by_year[year] = true;
            }
        }
        let pay = date.checked_add_days(self.model.portfolio.claims.pay_after_days);
        if let Some(day) = pay {
            self.schedule(day, PAY, plan.number, 0);
        }
    }

    fn pay(&mut self, date: Date, plan: &LoanPlan) {
        let insurer = self.insurer.clone();
        let paid = self.exec(
            date,
            &insurer,
            Action::ConfirmClaimPayment(ConfirmClaimPayment {
                claim: claim_id(plan.number),
                reference: text("claim payment"),
            }),
        );
        let recovery = &self.model.portfolio.recovery;
        if paid.is_ok() && recovery.rate_bps > 0 {
            if let Some(day) = date.checked_add_months(recovery.lag_months) {
                self.schedule(day, RECOVER, plan.number, 0);
            }
        }
    }

    fn recover(&mut self, date: Date, plan: &LoanPlan) {
        let claim: Claim = store::read(&self.store, &keys::claim(&claim_id(plan.number)))
            .expect("a paid claim exists");
        let rate = self.model.portfolio.recovery.rate_bps;
        let amount = u128::from(claim.loss_fen.0) * u128::from(rate) / 10_000;
        if amount == 0 {
            return;
        }
        let bank = self.bank(plan);
        let _ = self.exec(
            date,
            &bank,
            Action::RecordRecovery(RecordRecovery {
                claim: claim_id(plan.number),
                amount_fen: Fen(amount as u64),
                reference: text("recovery"),
            }),
        );
    }

    fn month_end(&mut self, date: Date, month: u64) {
        if self.model.portfolio.monthly_review {
            let by = self.regulator.clone();
            let _ = self.exec(
                date,
                &by,
                Action::ReviewProgramme(ProgrammeRef {
                    programme: self.base.programme.clone(),
                }),
            );
            self.note_suspension(date);
        }
        let programme = self.programme();
        debug_assert_eq!(self.result.loss_ratio_by_month.len() as u64, month);
        self.result
            .loss_ratio_by_month
            .push(contracts::arith::ratio_bps(
                programme.claims_gross_fen,
                programme.premium_written_fen,
            ));
    }

    /// Read the path's figures from the rulebook's records.
    fn finish(&mut self) {
        let r = &mut self.result;
        for (_, claim) in store::scan::<Claim>(&self.store, keys::CLAIM) {
            match (claim.status, claim.settlement) {
                (ClaimStatus::Rejected, _) => {
                    r.claims_rejected += 1;
                    r.rejected_loss_fen += claim.loss_fen.0;
                    r.losses[0] += claim.loss_fen.0;
                }
                (_, Some(s)) => {
                    r.claims_approved += 1;
                    let rec = claim.recovery;
                    r.losses[0] += s.bank_retained_fen.0 - rec.bank_fen.0;
                    r.losses[1] += s.insurer_retained_fen.0 - rec.insurer_fen.0;
                    r.losses[2] += s.fund_fen.0 - rec.fund_fen.0;
                    r.losses[3] += s.reinsurer_fen.0 - rec.reinsurer_fen.0;
                    r.fund_shortfall_fen += s.fund_shortfall_fen.0;
                    r.fund_recovered_fen += rec.fund_fen.0;
                }
                _ => {}
            }
        }
        let programme: Programme =
            store::read(&self.store, &keys::programme(&self.base.programme)).expect("exists");
        r.premium_fen = programme
            .premium_written_fen
            .0
            .saturating_sub(programme.terms.opening.premium_written_fen.0);
        let fund: Fund = store::read(&self.store, &keys::fund(&self.base.fund)).expect("exists");
        for (year, paid) in &fund.paid_by_year {
            if let Some(slot) = usize::try_from(year - self.first_year)
                .ok()
                .and_then(|i| r.fund_paid_by_year.get_mut(i))
            {
                *slot = paid.0;
            }
        }
    }
}

/// A path's transactions as a scenario file (DOMAIN.md R10) that `xinbao scenario run`
/// replays, offline or through a devnet.
pub fn scenario_json(base: &Base, steps: &[Step], description: String) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| {
            json!({
                "date": s.date.to_string(),
                "by": s.by.iter().map(Id::as_str).collect::<Vec<_>>(),
                "tx": serde_json::to_value(&s.action).expect("actions serialise"),
            })
        })
        .collect();
    json!({
        "description": description,
        "protocol_version": base.version,
        "orgs": base.orgs_json(),
        "steps": steps
    })
}
