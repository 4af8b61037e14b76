//! R10: scenario files, run offline on a fresh in-memory ledger.
//!
//! Steps run in order. Each step's `date`, `by` and `tx` are checked for shape first: a
//! missing or mistyped field, a number beyond `u64`, an empty id or an unknown `type` is
//! `InvalidField` (R2.4 check (1), so it wins over every other code), and so is a step
//! dated before an earlier step. The ledger's date never goes backwards: it is the latest
//! well-formed date seen so far, and the result's `date` is that date, because time passes
//! (instalments fall due) whether or not a step is accepted.
//!
//! The state root of a run starts from 32 zero bytes, chains the members' write set
//! ([`crate::members_writes`]) and then every accepted step's write set, with
//! [`ledger::state::chain_root`]: the same chain a network would build with one
//! transaction per block.
//!
//! A file may name its `protocol_version` (R13.4, default 1): the whole run executes under
//! it. Each step starts like a block at the height of its step number: a configuration a
//! `SetParams` scheduled for it takes over, and so does an upgrade a `ScheduleUpgrade`
//! scheduled for it (R12.3), with its migration.

use ledger::state::{chain_root, Hash32, MemoryStore, StateStore};
use ledger::{Action, Code, Date, Fen, Id, OrgKind};
use serde_json::Value;

use crate::store::{self, keys, Claim};
use crate::{execute, governance, members_writes, report, upgrade, Rejected, TxContext};

/// Why a text is not a scenario at all (a step that is wrong is a rejected step instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a scenario: {0}")]
    NotAScenario(String),
}

/// What running a scenario gives.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The R10 result document.
    pub result: Value,
    /// Paths where the result differs from `expect` (empty when it matches or there is none).
    pub mismatches: Vec<String>,
    pub has_expect: bool,
    /// The protocol version the file names (R13.4): the version of its first step.
    pub protocol_version: u32,
    pub state_root: Hash32,
    pub description: Option<String>,
    /// The ledger's date at the end (`None` when no step had a well-formed date).
    pub date: Option<Date>,
    pub steps: u64,
    /// Each step's transaction `type` as written (empty when it has none), for readers.
    pub step_types: Vec<String>,
    pub rejected: Vec<Rejected>,
    /// What the accepted steps decided ([`crate::decision`]), by step number (from 1).
    pub decisions: Vec<(u64, crate::decision::Decision)>,
    /// The final state, for readers that want more than the result document.
    pub store: MemoryStore,
}

/// Parse a step's transaction (R10). Any failure of shape or type is `InvalidField`.
pub fn parse_action(tx: &Value) -> Result<Action, Code> {
    serde_json::from_value(tx.clone()).map_err(|_| Code::InvalidField)
}

/// Parse a step's date.
pub fn parse_date(date: &Value) -> Result<Date, Code> {
    date.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or(Code::InvalidField)
}

/// Parse a step's `by`: a list of organisation ids.
pub fn parse_signers(by: &Value) -> Result<Vec<Id>, Code> {
    let list = by.as_array().ok_or(Code::InvalidField)?;
    list.iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| Id::new(s).ok())
                .ok_or(Code::InvalidField)
        })
        .collect()
}

fn parse_orgs(doc: &Value) -> Result<Vec<(Id, OrgKind)>, ScenarioError> {
    let bad = |why: &str| ScenarioError::NotAScenario(why.to_string());
    let list = doc
        .get("orgs")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `orgs` array"))?;
    let mut orgs: Vec<(Id, OrgKind)> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let id = entry
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Id::new(s).ok())
            .ok_or_else(|| bad(&format!("org {} has no valid `id`", i + 1)))?;
        let kind: OrgKind = entry
            .get("kind")
            .cloned()
            .and_then(|k| serde_json::from_value(k).ok())
            .ok_or_else(|| bad(&format!("org {} has no valid `kind`", i + 1)))?;
        if orgs.iter().any(|(existing, _)| *existing == id) {
            return Err(bad(&format!("org {id} is listed twice")));
        }
        orgs.push((id, kind));
    }
    Ok(orgs)
}

/// One step's date, signers and action, or the code that rejects it at check (1):
/// `InvalidField` for any shape or type failure, and for a date before `ledger_date` (the
/// latest well-formed date of the steps before it). A network runner replays a scenario
/// with this and [`crate::execute`].
pub fn parse_step(
    step: &Value,
    ledger_date: Option<Date>,
) -> Result<(Date, Vec<Id>, Action), Code> {
    let date = parse_date(step.get("date").unwrap_or(&Value::Null))?;
    let signers = parse_signers(step.get("by").unwrap_or(&Value::Null))?;
    let action = parse_action(step.get("tx").unwrap_or(&Value::Null))?;
    // R2.4: a step dated before an earlier step.
    if ledger_date.is_some_and(|latest| date < latest) {
        return Err(Code::InvalidField);
    }
    Ok((date, signers, action))
}

/// R13.4: the protocol version a scenario runs under (default 1), one this program knows.
pub fn protocol_version_of(doc: &Value) -> Result<u32, ScenarioError> {
    let Some(value) = doc.get("protocol_version") else {
        return Ok(1);
    };
    let version = value
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            ScenarioError::NotAScenario("`protocol_version` is not a version number".to_string())
        })?;
    if !upgrade::SUPPORTED.contains(&version) {
        return Err(ScenarioError::NotAScenario(format!(
            "protocol version {version}; this program supports versions {}..={}",
            upgrade::SUPPORTED.start(),
            upgrade::SUPPORTED.end()
        )));
    }
    Ok(version)
}

/// What a step starts with, like a block at `height` (the step number): the configuration
/// scheduled for it, and an upgrade that activates at it.
fn step_start(store: &MemoryStore, height: u64) -> ledger::state::WriteSet {
    let mut writes = governance::promote(store, height);
    let activated = {
        let view = ledger::state::Overlay::over(store, &writes);
        upgrade::activate(&view, height)
    };
    writes.extend(activated);
    writes
}

/// Parse and run a scenario file's text on a fresh in-memory ledger.
/// The suite of a scenario run offline: it signs nothing, and its state root is the run's
/// own fingerprint of the state (the rulebook does not depend on the suite).
const OFFLINE_SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

/// The R10 document as the JSON value a scenario's expectations are compared with.
fn to_document(report: ledger::api::report::Report) -> Value {
    serde_json::to_value(report).expect("the R10 document is JSON")
}

pub fn run(text: &str) -> Result<Outcome, ScenarioError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| ScenarioError::NotJson(e.to_string()))?;
    let orgs = parse_orgs(&doc)?;
    let file_version = protocol_version_of(&doc)?;
    let steps = doc
        .get("steps")
        .and_then(Value::as_array)
        .ok_or_else(|| ScenarioError::NotAScenario("no `steps` array".to_string()))?;
    let mut ledger = Offline::new(&orgs);
    for (index, step) in steps.iter().enumerate() {
        ledger.step(index as u64 + 1, step, file_version)?;
    }
    let Offline {
        store,
        root,
        ledger_date,
        rejected,
        decisions,
    } = ledger;

    // The document as the version in force at the end shapes it (R14.6).
    let version = upgrade::recorded(&store).unwrap_or(file_version);
    let result = match ledger_date {
        Some(date) => to_document(report::report_under(&store, date, &rejected, version)),
        None => {
            let mut doc = to_document(report::report_under(
                &store,
                Date::from_days(0).expect("the epoch is a date"),
                &rejected,
                version,
            ));
            doc["date"] = Value::Null;
            doc
        }
    };
    let (has_expect, mismatches) = match doc.get("expect") {
        Some(expect) => {
            let mut mismatches = Vec::new();
            compare("", expect, &result, &mut mismatches);
            (true, mismatches)
        }
        None => (false, Vec::new()),
    };
    Ok(Outcome {
        result,
        mismatches,
        has_expect,
        protocol_version: file_version,
        state_root: root,
        description: doc
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        date: ledger_date,
        steps: steps.len() as u64,
        step_types: steps
            .iter()
            .map(|s| {
                s.pointer("/tx/type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect(),
        rejected,
        decisions,
        store,
    })
}

/// The offline ledger a scenario's steps run on, and what they gave so far.
struct Offline {
    store: MemoryStore,
    /// The chain root over every write so far, as blocks of one step each would give.
    root: Hash32,
    /// The latest well-formed date of the steps so far.
    ledger_date: Option<Date>,
    rejected: Vec<Rejected>,
    /// What each accepted step decided, with its step number.
    decisions: Vec<(u64, crate::decision::Decision)>,
}

impl Offline {
    /// A ledger holding `orgs` as its members.
    fn new(orgs: &[(Id, OrgKind)]) -> Offline {
        let mut store = MemoryStore::new();
        let genesis = members_writes(orgs);
        store.apply(&genesis);
        Offline {
            root: chain_root(OFFLINE_SUITE, &[0; 32], &genesis),
            store,
            ledger_date: None,
            rejected: Vec::new(),
            decisions: Vec::new(),
        }
    }

    /// Runs step `number` under the protocol version in force (`file_version` until an
    /// upgrade takes effect): its height's start, then its transaction.
    fn step(&mut self, number: u64, step: &Value, file_version: u32) -> Result<(), ScenarioError> {
        let start = step_start(&self.store, number);
        if !start.is_empty() {
            self.store.apply(&start);
            self.root = chain_root(OFFLINE_SUITE, &self.root, &start);
        }
        let version = upgrade::recorded(&self.store).unwrap_or(file_version);
        // R12.5: a program that lacks the version in force refuses to go on, as a node
        // and an auditor do.
        if !upgrade::SUPPORTED.contains(&version) {
            return Err(ScenarioError::NotAScenario(format!(
                "protocol version {version} takes effect at step {number}; this program \
                 supports versions {}..={}",
                upgrade::SUPPORTED.start(),
                upgrade::SUPPORTED.end()
            )));
        }
        let latest_before = self.ledger_date;
        // The ledger date moves to any later well-formed date, accepted step or not.
        if let Ok(date) = parse_date(step.get("date").unwrap_or(&Value::Null)) {
            if latest_before.is_none_or(|latest| date > latest) {
                self.ledger_date = Some(date);
            }
        }
        let outcome = match parse_step(step, latest_before) {
            // Offline, an organisation named in `by` signs as the organisation itself, so it
            // approves a change as its admin key would (R11.2); the step number stands for
            // the height.
            Ok((date, signers, action)) => {
                let ctx = TxContext {
                    date,
                    approvers: signers.clone(),
                    signers,
                    height: number,
                    version,
                    suite: OFFLINE_SUITE,
                };
                execute(&self.store, &ctx, &action)
            }
            Err(code) => Err(code),
        };
        match outcome {
            Ok(writes) => {
                self.decisions.extend(
                    crate::decision::of(&self.store, &writes)
                        .into_iter()
                        .map(|d| (number, d)),
                );
                self.store.apply(&writes);
                self.root = chain_root(OFFLINE_SUITE, &self.root, &writes);
            }
            Err(code) => self.rejected.push(Rejected { step: number, code }),
        }
        Ok(())
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// R10: `expected` matched as a subset of `actual`: objects recursively (every key named
/// must be present and match), lists and plain values exactly (`true` is not `1`).
pub fn compare(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    let shown = if path.is_empty() { "(result)" } else { path };
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                match have.get(key) {
                    Some(got) => compare(&join(path, key), value, got, out),
                    None => out.push(format!(
                        "{}: expected {value}, got nothing",
                        join(path, key)
                    )),
                }
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{shown}: expected {expected}, got {actual}")),
    }
}

fn yuan(v: &Value) -> String {
    match v.as_u64() {
        Some(fen) => format!("{} yuan ({fen} fen)", Fen(fen)),
        None => v.to_string(),
    }
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    }
}

fn bps(v: &Value) -> String {
    match v.as_u64() {
        Some(b) => format!("{}.{:02}%", b / 100, b % 100),
        None => v.to_string(),
    }
}

/// A readable summary of a run: programmes, funds, policies, loans, each claim's split,
/// dates and recoveries, the overdue claims, the rejected steps, and the match with
/// `expect`.
pub fn summary(outcome: &Outcome) -> String {
    use std::fmt::Write;
    let r = &outcome.result;
    let mut s = String::new();
    let _ = writeln!(s, "Scenario as of {}", text(field(r, "date")));
    if let Some(description) = &outcome.description {
        let _ = writeln!(s, "  {description}");
    }
    let _ = writeln!(
        s,
        "  {} steps, {} rejected, protocol version {}; state root {}",
        outcome.steps,
        outcome.rejected.len(),
        outcome.protocol_version,
        hex::encode(outcome.state_root)
    );

    let objects = |key: &str| field(r, key).as_object().cloned().unwrap_or_default();
    let _ = writeln!(s, "\nProgrammes");
    programmes_summary(&mut s, objects("programmes"));
    let _ = writeln!(s, "\nFunds");
    for (id, f) in objects("funds") {
        let _ = writeln!(s, "  {id}: balance {}", yuan(field(&f, "balance_fen")));
        let _ = writeln!(
            s,
            "    subsidies paid    {}",
            yuan(field(&f, "subsidies_paid_fen"))
        );
        let _ = writeln!(
            s,
            "    compensation paid {}",
            yuan(field(&f, "compensation_paid_fen"))
        );
    }
    let _ = writeln!(s, "\nPolicies");
    for (id, p) in objects("policies") {
        let _ = writeln!(
            s,
            "  {id}: premium {}, subsidy {}, insured {}",
            yuan(field(&p, "premium_fen")),
            yuan(field(&p, "subsidy_fen")),
            yuan(field(&p, "insured_amount_fen"))
        );
    }
    let _ = writeln!(s, "\nLoans");
    for (id, l) in objects("loans") {
        let _ = writeln!(
            s,
            "  {id}: {}, outstanding {}, unpaid interest {}, {} days past due on interest, {} on principal, on time: {}",
            text(field(&l, "status")),
            yuan(field(&l, "outstanding_principal_fen")),
            yuan(field(&l, "unpaid_interest_fen")),
            text(field(&l, "interest_dpd")),
            text(field(&l, "principal_dpd")),
            text(field(&l, "on_time")),
        );
    }
    let _ = writeln!(s, "\nClaims");
    claims_summary(&mut s, outcome, objects("claims"));
    let overdue: Vec<String> = field(r, "overdue_claims")
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "\nOverdue claims: {}",
        if overdue.is_empty() {
            "none".to_string()
        } else {
            overdue.join(", ")
        }
    );
    steps_summary(&mut s, outcome);
    s
}

/// The summary's lines of each programme: status and figures.
fn programmes_summary(s: &mut String, programmes: serde_json::Map<String, Value>) {
    use std::fmt::Write;
    for (id, p) in programmes {
        let warnings: Vec<String> = field(&p, "warnings")
            .as_array()
            .map(|w| w.iter().map(text).collect())
            .unwrap_or_default();
        let _ = writeln!(s, "  {id}: {}", text(field(&p, "status")));
        let _ = writeln!(
            s,
            "    premium written   {}",
            yuan(field(&p, "premium_written_fen"))
        );
        let _ = writeln!(
            s,
            "    claims gross      {}",
            yuan(field(&p, "claims_gross_fen"))
        );
        let _ = writeln!(
            s,
            "    loss ratio        {}",
            bps(field(&p, "loss_ratio_bps"))
        );
        let _ = writeln!(
            s,
            "    outstanding       {}",
            yuan(field(&p, "outstanding_principal_fen"))
        );
        let _ = writeln!(
            s,
            "    overdue           {} ({})",
            yuan(field(&p, "overdue_principal_fen")),
            bps(field(&p, "overdue_ratio_bps"))
        );
        let _ = writeln!(
            s,
            "    warnings          {}",
            if warnings.is_empty() {
                "none".to_string()
            } else {
                warnings.join(", ")
            }
        );
    }
}

/// The summary's lines of each claim: its figures, its dates and its recoveries.
fn claims_summary(s: &mut String, outcome: &Outcome, claims: serde_json::Map<String, Value>) {
    use std::fmt::Write;
    for (id, c) in claims {
        let _ = writeln!(
            s,
            "  {id}: {}, loss {}",
            text(field(&c, "status")),
            yuan(field(&c, "loss_fen"))
        );
        let _ = writeln!(
            s,
            "    decision due {}, payment due {}, late: {}",
            text(field(&c, "decision_due")),
            text(field(&c, "payment_due")),
            text(field(&c, "late"))
        );
        for (label, key) in [
            ("bank retains", "bank_retained_fen"),
            ("insurer gross", "insurer_gross_fen"),
            ("insurer pays bank", "insurer_pays_bank_fen"),
            ("fund pays", "fund_fen"),
            ("fund shortfall", "fund_shortfall_fen"),
            ("reinsurer", "reinsurer_fen"),
            ("insurer retains", "insurer_retained_fen"),
        ] {
            let _ = writeln!(s, "    {label:<18}{}", yuan(field(&c, key)));
        }
        if let Some(record) = store::read::<Claim>(
            &outcome.store,
            &keys::claim(&Id::new(id.as_str()).expect("a claim id")),
        ) {
            let on = |d: Option<Date>| d.map_or("—".to_string(), |d| d.to_string());
            let _ = writeln!(
                s,
                "    filed {} on {}, documents complete {}, decided {}, paid {}",
                record.filed,
                record.loan,
                on(record.completed),
                on(record.decided),
                on(record.paid),
            );
        }
        let rec = field(&c, "recovery");
        let _ = writeln!(
            s,
            "    recovered {}: bank {}, insurer {}, fund {}, reinsurer {}",
            yuan(field(&c, "recovered_fen")),
            yuan(field(rec, "bank_fen")),
            yuan(field(rec, "insurer_fen")),
            yuan(field(rec, "fund_fen")),
            yuan(field(rec, "reinsurer_fen")),
        );
    }
}

/// The summary's rejected steps and its verdict on the expectations.
fn steps_summary(s: &mut String, outcome: &Outcome) {
    use std::fmt::Write;
    let _ = writeln!(s, "\nRejected steps");
    if outcome.rejected.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for rejected in &outcome.rejected {
        let kind = usize::try_from(rejected.step - 1)
            .ok()
            .and_then(|i| outcome.step_types.get(i))
            .filter(|t| !t.is_empty())
            .map_or(String::new(), |t| format!(" ({t})"));
        let _ = writeln!(s, "  step {}: {}{kind}", rejected.step, rejected.code);
    }
    if outcome.has_expect {
        if outcome.mismatches.is_empty() {
            let _ = writeln!(s, "\nExpectations: all met");
        } else {
            let _ = writeln!(s, "\nExpectations: {} mismatches", outcome.mismatches.len());
            for m in &outcome.mismatches {
                let _ = writeln!(s, "  {m}");
            }
        }
    }
}
