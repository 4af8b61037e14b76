//! The settlement history of a verified chain, for `xinbao audit report`.
//!
//! [`History`] follows an [`Auditor`](super::Auditor) block by block (it is handed each
//! verified block with the state before it) and, at the end, renders one JSON document:
//! - `chain`: what was verified (heights, ids, roots, counts);
//! - `programmes`: per programme its terms' parties and figures, and per claim the loss
//!   split, due dates, decision, payment and lateness, and every event with its date,
//!   height and transaction id (recoveries with how each was split);
//! - `organisations`: totals per member (premiums written, subsidies and compensation
//!   paid by its fund, claims paid and received, losses retained, reinsurance, recoveries);
//! - `regulator`: each policy against the filing that allowed its rate, the attempts the
//!   rules refused for rates, the overdue and late claims, and the loss and overdue ratios
//!   of every programme at each month end ([`crate::report`] evaluated on the state as of
//!   that date while replaying);
//! - `governance`: every change of the consortium attempted (R11), with its height and
//!   date, the organisations whose admin keys approved it, its outcome, and the height
//!   from which it governs;
//! - `result`: the R10 document of the final state.
//!
//! Everything is read from the replayed state with the rulebook's own records, so the
//! figures are the ones the ledger settled, not a second computation of them. Amounts are
//! fen and ratios basis points, as in R10; keys are in sorted order.

use std::collections::BTreeMap;

use ledger::action::Action;
use ledger::block::{Outcome, Receipt};
use ledger::state::{MemoryStore, Overlay, StateView};
use ledger::{Code, Date, Fen, Id};
use serde_json::{json, Map, Value};

use super::{BlockDone, Verdict};
use crate::store::{self, keys, Claim, Policy, Programme};

/// One thing that happened to a claim.
#[derive(Debug, Clone)]
struct Event {
    date: Date,
    height: u64,
    tx: String,
    what: String,
    detail: Value,
}

/// One month-end view of the programmes.
#[derive(Debug, Clone)]
struct MonthEnd {
    date: Date,
    programmes: crate::report::MonthEnd,
    overdue_claims: Vec<String>,
}

/// Collects the history while a chain is verified (see the module notes).
#[derive(Debug, Default)]
pub struct History {
    events: BTreeMap<Id, Vec<Event>>,
    months: Vec<MonthEnd>,
    next_month_end: Option<Date>,
    rate_refusals: Vec<Value>,
    governance: Vec<Value>,
    /// R12.3: each accepted `ScheduleUpgrade` not cancelled since, by version: its
    /// transaction, height and approvers.
    upgrades: BTreeMap<u32, Value>,
    /// R14: each policy issued under version 3 with the attestations that met its
    /// programme's eligibility, and each revocation.
    qualified: Vec<Value>,
    revocations: Vec<Value>,
}

fn fen(amount: Fen) -> Value {
    Value::from(amount.0)
}

fn claim_id(action: &Action) -> Option<&Id> {
    match action {
        Action::FileClaim(a) => Some(&a.id),
        Action::RequestDocuments(a) => Some(&a.claim),
        Action::SubmitDocuments(a) => Some(&a.claim),
        Action::DecideClaim(a) => Some(&a.claim),
        Action::ConfirmClaimPayment(a) => Some(&a.claim),
        Action::RecordRecovery(a) => Some(&a.claim),
        _ => None,
    }
}

fn month_view(state: &dyn StateView, date: Date) -> MonthEnd {
    MonthEnd {
        date,
        programmes: crate::report::month_figures(state, date),
        overdue_claims: crate::report::overdue_claims(state, date)
            .iter()
            .map(Id::to_string)
            .collect(),
    }
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    /// Takes in one verified block; `before` is the state before it.
    pub fn observe(&mut self, before: &MemoryStore, done: &BlockDone<'_>) {
        self.pass_month_ends(before, done.date);
        let block = &done.entry.block;
        let height = block.header.height;
        let mut after: Option<Overlay<'_, MemoryStore>> = None;
        for (index, (tx, receipt)) in block.txs.iter().zip(&done.executed.receipts).enumerate() {
            let action = &tx.body.action;
            if action.is_governance() {
                self.observe_governance(done, height, index, action, receipt);
            }
            let attestation_event = matches!(
                action,
                Action::IssuePolicy(_) | Action::RevokeAttestation(_)
            ) && block.header.protocol_version
                >= crate::upgrade::ATTESTATIONS;
            if attestation_event && receipt.outcome == Outcome::Accepted {
                let view = state_after(&mut after, before, done);
                self.observe_attestations(done, height, action, receipt, view);
            }
            self.observe_rate_refusal(done, height, action, receipt);
            if let Some(claim) = claim_id(action) {
                let event = claim_event(done, height, action, receipt, claim, before, &mut after);
                self.events.entry(claim.clone()).or_default().push(event);
            }
        }
    }

    /// Month ends passed before a block dated `date`: the state `before` it is as of each.
    fn pass_month_ends(&mut self, before: &MemoryStore, date: Date) {
        let next = *self
            .next_month_end
            .get_or_insert_with(|| crate::report::month_end(date));
        let mut next = next;
        while next < date {
            self.months.push(month_view(before, next));
            let following = Date::from_days(next.days_since_epoch() + 1)
                .map(crate::report::month_end)
                .unwrap_or(next);
            if following == next {
                break;
            }
            next = following;
        }
        self.next_month_end = Some(next);
    }

    /// A governance transaction's event; an accepted upgrade's scheduling or cancelling.
    fn observe_governance(
        &mut self,
        done: &BlockDone<'_>,
        height: u64,
        index: usize,
        action: &Action,
        receipt: &Receipt,
    ) {
        let event = governance_event(done, height, index, action, receipt);
        if receipt.outcome == Outcome::Accepted {
            match action {
                Action::ScheduleUpgrade(tx) => {
                    self.upgrades.insert(tx.version, event.clone());
                }
                Action::CancelUpgrade(tx) => {
                    self.upgrades.remove(&tx.version);
                }
                _ => {}
            }
        }
        self.governance.push(event);
    }

    /// A policy refused for its premium rate (R6.1), for the regulator's view.
    fn observe_rate_refusal(
        &mut self,
        done: &BlockDone<'_>,
        height: u64,
        action: &Action,
        receipt: &Receipt,
    ) {
        if let Outcome::Rejected(code @ (Code::RateNotFiled | Code::RateAboveCap)) = receipt.outcome
        {
            if let Action::IssuePolicy(p) = action {
                self.rate_refusals.push(json!({
                    "code": code.as_str(),
                    "date": done.date.to_string(),
                    "height": height,
                    "policy": p.id.as_str(),
                    "premium_rate_bps": p.premium_rate_bps,
                    "loan_rate_bps": p.loan_rate_bps,
                    "programme": p.programme.as_str(),
                    "tx": receipt.tx_id.to_string(),
                }));
            }
        }
    }

    /// R14: a policy issued under version 3 and the attestations recorded as meeting its
    /// programme's eligibility on its issue date; a revocation and what it revoked.
    fn observe_attestations(
        &mut self,
        done: &BlockDone<'_>,
        height: u64,
        action: &Action,
        receipt: &ledger::block::Receipt,
        after: &dyn ledger::state::StateView,
    ) {
        if done.entry.block.header.protocol_version < crate::upgrade::ATTESTATIONS {
            return;
        }
        match action {
            Action::IssuePolicy(p) => {
                let met: Vec<Value> = crate::attest::qualified(after, &p.id)
                    .unwrap_or_default()
                    .iter()
                    .map(|(kind, id)| {
                        let a = crate::attest::get(after, id);
                        json!({
                            "kind": kind.as_str(),
                            "attestation": id.as_str(),
                            "issuer": a.as_ref().map(|a| a.issuer.to_string()),
                            "grade": a.as_ref().map(|a| a.grade.to_string()),
                            "valid_from": a.as_ref().map(|a| a.valid_from.to_string()),
                            "valid_to": a.as_ref().map(|a| a.valid_to.to_string()),
                        })
                    })
                    .collect();
                self.qualified.push(json!({
                    "policy": p.id.as_str(),
                    "programme": p.programme.as_str(),
                    "enterprise": p.enterprise.as_str(),
                    "date": done.date.to_string(),
                    "height": height,
                    "tx": receipt.tx_id.to_string(),
                    "met_by": met,
                }));
            }
            Action::RevokeAttestation(r) => {
                let a = crate::attest::get(after, &r.id);
                self.revocations.push(json!({
                    "attestation": r.id.as_str(),
                    "issuer": a.as_ref().map(|a| a.issuer.to_string()),
                    "enterprise": a.as_ref().map(|a| a.enterprise.to_string()),
                    "kind": a.as_ref().map(|a| a.kind.to_string()),
                    "date": done.date.to_string(),
                    "height": height,
                    "tx": receipt.tx_id.to_string(),
                }));
            }
            _ => {}
        }
    }

    /// The document (see the module notes) for the verified chain.
    pub fn finish(mut self, verdict: &Verdict) -> Value {
        let state = &verdict.state;
        if let Some(last) = verdict.date {
            // The month the chain ends in, as of its last block.
            self.months.push(month_view(state, last));
        }
        let programmes = store::scan::<Programme>(state, keys::PROGRAMME);
        let claims = store::scan::<Claim>(state, keys::CLAIM);
        let policies = store::scan::<Policy>(state, keys::POLICY);
        let date = verdict
            .date
            .unwrap_or_else(|| Date::from_days(0).expect("the epoch is a date"));

        let programmes_doc = self.programmes_doc(state, &programmes, &claims, date);

        let organisations = crate::report::organisation_totals(state);
        let policy_rows = policy_rows(state, &policies, &programmes);
        let late: Vec<&str> = claims
            .iter()
            .filter(|(_, c)| c.late)
            .map(|(id, _)| id.as_str())
            .collect();
        let rejected_by_code: Map<String, Value> = verdict
            .rejected_by_code
            .iter()
            .map(|(code, n)| (code.as_str().to_string(), json!(n)))
            .collect();

        json!({
            "chain": {
                "accepted": verdict.accepted,
                "blocks": verdict.blocks,
                "chain_id": verdict.chain_id.as_str(),
                "date": verdict.date.map(|d| d.to_string()),
                "genesis_hash": hex::encode(verdict.genesis_hash),
                "height": verdict.height,
                "last_block_id": verdict.last_block_id.to_string(),
                "rejected_by_code": rejected_by_code,
                "state_root": hex::encode(verdict.state_root),
                "txs": verdict.txs,
            },
            "attestations": {
                "policies": self.qualified,
                "revocations": self.revocations,
            },
            "eras": self.eras(verdict),
            "governance": self.governance,
            "organisations": organisations,
            "programmes": programmes_doc,
            "regulator": {
                "late_claims": late,
                "monthly": self.monthly(),
                "overdue_claims": crate::report::overdue_claims(state, date).iter().map(Id::to_string).collect::<Vec<_>>(),
                "policies": policy_rows,
                "rate_refusals": self.rate_refusals,
            },
            "result": verdict.report(),
        })
    }

    /// Each programme's detail with its claims', each claim with its history (taken from
    /// the events gathered).
    fn programmes_doc(
        &mut self,
        state: &MemoryStore,
        programmes: &[(Id, Programme)],
        claims: &[(Id, Claim)],
        date: Date,
    ) -> Map<String, Value> {
        let mut programmes_doc = Map::new();
        for (id, programme) in programmes {
            let mut claims_doc = Map::new();
            for (claim_id, claim) in claims.iter().filter(|(_, c)| &c.programme == id) {
                let mut doc = document(crate::report::claim_detail(claim, date));
                let events: Vec<Value> = self
                    .events
                    .remove(claim_id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| {
                        let mut v = json!({
                            "date": e.date.to_string(),
                            "height": e.height,
                            "tx": e.tx,
                            "type": e.what,
                        });
                        if let (Value::Object(v), Value::Object(d)) = (&mut v, e.detail) {
                            v.extend(d);
                        }
                        v
                    })
                    .collect();
                doc["events"] = Value::Array(events);
                claims_doc.insert(claim_id.to_string(), doc);
            }
            let mut doc = document(crate::report::programme_detail(state, id, programme, date));
            doc["claims"] = Value::Object(claims_doc);
            programmes_doc.insert(id.to_string(), doc);
        }
        programmes_doc
    }

    /// The regulator's month ends: the overdue claims and the programmes' figures.
    fn monthly(&self) -> Vec<Value> {
        self.months
            .iter()
            .map(|m| {
                let (y, mo, _) = m.date.ymd();
                json!({
                    "month": format!("{y:04}-{mo:02}"),
                    "as_of": m.date.to_string(),
                    "overdue_claims": m.overdue_claims,
                    "programmes": m.programmes,
                })
            })
            .collect()
    }
}

/// The regulator's view of every policy: whether its premium rate was filed, and its
/// terms.
fn policy_rows(
    state: &MemoryStore,
    policies: &[(Id, Policy)],
    programmes: &[(Id, Programme)],
) -> Vec<Value> {
    let programme_of: BTreeMap<&Id, &Programme> = programmes.iter().map(|(i, p)| (i, p)).collect();
    let mut policy_rows = Vec::new();
    for (id, policy) in policies {
        let Some(p) = programme_of.get(&policy.programme) else {
            continue;
        };
        let insurer = &p.terms.insurer;
        let product = &p.terms.product;
        let filing = crate::programme::filing_of(
            state,
            insurer,
            product,
            policy.premium_rate_bps,
            policy.issued,
        )
        .map(|(_, f)| f);
        policy_rows.push(json!({
            "filed": filing.is_some(),
            "filing_ref": filing.as_ref().map_or(Value::Null, |f| json!(f.filing_ref.as_str())),
            "insurer": insurer.as_str(),
            "issued": policy.issued.to_string(),
            "policy": id.as_str(),
            "premium_fen": policy.premium_fen.0,
            "premium_rate_bps": policy.premium_rate_bps,
            "loan_rate_bps": policy.loan_rate_bps,
            "product": product.as_str(),
            "programme": policy.programme.as_str(),
        }));
    }
    policy_rows
}

/// The state after the block, over `before`: made the first time it is asked for.
fn state_after<'s, 'a>(
    after: &'a mut Option<Overlay<'s, MemoryStore>>,
    before: &'s MemoryStore,
    done: &BlockDone<'_>,
) -> &'a Overlay<'s, MemoryStore> {
    after.get_or_insert_with(|| {
        let mut overlay = Overlay::new(before);
        overlay.apply(done.executed.writes.clone());
        overlay
    })
}

/// A claim's event: the transaction that named it and its outcome, with an accepted
/// recovery's split and a decision's verdict.
fn claim_event<'s>(
    done: &BlockDone<'_>,
    height: u64,
    action: &Action,
    receipt: &Receipt,
    claim: &Id,
    before: &'s MemoryStore,
    after: &mut Option<Overlay<'s, MemoryStore>>,
) -> Event {
    let outcome = match receipt.outcome {
        Outcome::Accepted => "accepted".to_string(),
        Outcome::Rejected(code) => format!("rejected {code}"),
    };
    let mut detail = json!({"outcome": outcome});
    if let (Action::RecordRecovery(r), Outcome::Accepted) = (action, receipt.outcome) {
        // The split of this recovery: the claim's recovery totals after the block
        // less those before it (two recoveries of one claim in one block each
        // show the block's combined split).
        let view = state_after(after, before, done);
        let was: Option<Claim> = store::read(before, &keys::claim(claim));
        let now: Option<Claim> = store::read(view, &keys::claim(claim));
        if let (Some(was), Some(now)) = (was, now) {
            let part = |a: Fen, b: Fen| fen(a.saturating_sub(b));
            detail["recovery"] = json!({
                "bank_fen": part(now.recovery.bank_fen, was.recovery.bank_fen),
                "fund_fen": part(now.recovery.fund_fen, was.recovery.fund_fen),
                "insurer_fen": part(now.recovery.insurer_fen, was.recovery.insurer_fen),
                "reinsurer_fen": part(now.recovery.reinsurer_fen, was.recovery.reinsurer_fen),
            });
        }
        detail["amount_fen"] = fen(r.amount_fen);
    }
    if let Action::DecideClaim(d) = action {
        detail["approve"] = json!(d.approve);
    }
    Event {
        date: done.date,
        height,
        tx: receipt.tx_id.to_string(),
        what: action.type_name().to_string(),
        detail,
    }
}

impl History {
    /// R12: each protocol version's era, with the accepted `ScheduleUpgrade` that began it
    /// (none for the genesis's version).
    fn eras(&self, verdict: &Verdict) -> Vec<Value> {
        verdict
            .eras
            .iter()
            .map(|(version, first_height)| {
                let scheduled = self
                    .upgrades
                    .get(version)
                    .filter(|event| event["effective_height"] == json!(first_height));
                json!({
                    "version": version,
                    "first_height": first_height,
                    "scheduled_by_tx": scheduled.map(|e| e["tx"].clone()),
                    "scheduled_height": scheduled.map(|e| e["height"].clone()),
                    "approved_by": scheduled.map_or(json!([]), |e| e["approved_by"].clone()),
                })
            })
            .collect()
    }
}

/// One attempted change of the consortium (R11): what, when, approved by whom, and from
/// which height a roster or parameter change (or an upgrade, R12.3) governs.
fn governance_event(
    done: &BlockDone<'_>,
    height: u64,
    index: usize,
    action: &Action,
    receipt: &ledger::block::Receipt,
) -> Value {
    let mut change = serde_json::to_value(action).expect("an action serialises");
    if let Value::Object(fields) = &mut change {
        fields.remove("type");
    }
    let approvers: Vec<&str> = done
        .executed
        .changes
        .iter()
        .find(|c| c.index == index)
        .map(|c| c.approvers.iter().map(Id::as_str).collect())
        .unwrap_or_default();
    let delayed = action.roster_change().is_some() || matches!(action, Action::SetParams(_));
    let (outcome, code, effective) = match receipt.outcome {
        Outcome::Accepted => (
            "accepted",
            Value::Null,
            json!(match action {
                Action::ScheduleUpgrade(tx) => tx.activation_height,
                _ if delayed => height + crate::governance::CHANGE_DELAY,
                _ => height,
            }),
        ),
        Outcome::Rejected(code) => ("rejected", json!(code.as_str()), Value::Null),
    };
    json!({
        "approved_by": approvers,
        "change": change,
        "code": code,
        "date": done.date.to_string(),
        "effective_height": effective,
        "height": height,
        "outcome": outcome,
        "tx": receipt.tx_id.to_string(),
        "type": action.type_name(),
    })
}

/// Verifies a chain and builds its history in one replay.
pub fn verify_with_history<E: std::fmt::Display>(
    genesis: &ledger::genesis::Genesis,
    file: &ledger::export::ChainHeader,
    entries: impl IntoIterator<Item = Result<ledger::export::ChainEntry, E>>,
    progress: impl FnMut(&super::Progress),
) -> Result<(Verdict, Value), super::AuditFailure> {
    let mut auditor = super::Auditor::new(genesis, file)?;
    let mut history = History::new();
    super::replay(
        &mut auditor,
        entries,
        |before, done| history.observe(before, done),
        progress,
    )?;
    let verdict = auditor.finish()?;
    let doc = history.finish(&verdict);
    Ok((verdict, doc))
}

/// A typed part of the history as a JSON value, its keys sorted, for the history to add
/// its own fields to.
fn document(part: impl serde::Serialize) -> Value {
    serde_json::to_value(part).expect("the report's types serialize to JSON")
}
