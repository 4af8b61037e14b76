//! A small in-memory ledger for tests: transactions in their JSON form, the state root
//! chained over accepted write sets, and the R10 report.

#![allow(dead_code)]

use contracts::scenario::parse_action;
use contracts::{execute, members_writes, TxContext};
use ledger::state::{chain_root, Hash32, MemoryStore, StateStore, StateView};
use ledger::{Code, Date, Id, OrgKind};
use serde_json::{json, Value};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

pub struct Ledger {
    pub store: MemoryStore,
    pub root: Hash32,
    /// The transactions run so far: each counts as a block of its own.
    pub height: u64,
    /// The protocol version the transactions run under (R12.1).
    pub version: u32,
}

pub fn d(s: &str) -> Date {
    s.parse().unwrap()
}

pub fn id(s: &str) -> Id {
    Id::new(s).unwrap()
}

/// Every entry of a store, for comparing whole states.
pub fn dump(store: &MemoryStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    store.scan_prefix(b"")
}

impl Ledger {
    pub fn new(orgs: &[(&str, OrgKind)]) -> Self {
        let orgs: Vec<(Id, OrgKind)> = orgs.iter().map(|(i, k)| (id(i), *k)).collect();
        let writes = members_writes(&orgs);
        let mut store = MemoryStore::new();
        store.apply(&writes);
        Ledger {
            root: chain_root(SUITE, &[0; 32], &writes),
            store,
            height: 0,
            version: 1,
        }
    }

    /// The same ledger under protocol `version`.
    pub fn at_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The standard cast: two banks, an insurer, two governments, a regulator, a
    /// reinsurer and an auditor.
    pub fn standard() -> Self {
        Ledger::new(&[
            ("bank", OrgKind::Bank),
            ("bank2", OrgKind::Bank),
            ("ins", OrgKind::Insurer),
            ("ins2", OrgKind::Insurer),
            ("gov", OrgKind::Government),
            ("gov2", OrgKind::Government),
            ("reg", OrgKind::Regulator),
            ("re", OrgKind::Reinsurer),
            ("aud", OrgKind::Auditor),
        ])
    }

    /// Run one transaction. A rejection must leave state and root exactly as they were.
    pub fn tx(&mut self, date: &str, by: &[&str], tx: Value) -> Result<(), Code> {
        let action = parse_action(&tx)?;
        let signers: Vec<Id> = by.iter().map(|s| id(s)).collect();
        self.height += 1;
        let ctx = TxContext {
            suite: SUITE,
            date: d(date),
            approvers: signers.clone(),
            signers,
            height: self.height,
            version: self.version,
        };
        let before = dump(&self.store);
        let root_before = self.root;
        match execute(&self.store, &ctx, &action) {
            Ok(writes) => {
                self.store.apply(&writes);
                self.root = chain_root(SUITE, &self.root, &writes);
                Ok(())
            }
            Err(code) => {
                assert_eq!(dump(&self.store), before);
                assert_eq!(self.root, root_before);
                Err(code)
            }
        }
    }

    /// Like [`Ledger::tx`], but the transaction must be accepted.
    pub fn ok(&mut self, date: &str, by: &[&str], tx: Value) {
        let shown = tx.to_string();
        if let Err(code) = self.tx(date, by, tx) {
            panic!("refused with {code}: {shown}");
        }
    }

    pub fn report(&self, date: &str) -> Value {
        serde_json::to_value(contracts::report::report_under(
            &self.store,
            d(date),
            &[],
            self.version,
        ))
        .expect("a report is JSON")
    }
}

/// Merge `patch` into `base`, objects recursively.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

pub fn file_rate() -> Value {
    json!({"type": "FileRate", "insurer": "ins", "product": "P", "rates_bps": [200, 300],
           "valid_from": "2025-01-01", "valid_to": "2026-12-31", "filing_ref": "F-1"})
}

pub fn create_fund(fund: &str, gov: &str, cap: u64) -> Value {
    json!({"type": "CreateFund", "id": fund, "government": gov, "annual_cap_fen": cap})
}

pub fn top_up(fund: &str, amount: u64) -> Value {
    json!({"type": "FundTopUp", "fund": fund, "amount_fen": amount, "reference": "T"})
}

/// A programme with a bank, an insurer, a fund and no reinsurer, with `patch` merged in.
pub fn programme(patch: Value) -> Value {
    let mut p = json!({
        "type": "CreateProgramme", "id": "prog", "name": "Programme", "product": "P",
        "period_start": "2025-01-01", "period_end": "2026-12-31",
        "government": "gov", "fund": "fund", "banks": ["bank"], "insurer": "ins",
        "reinsurer": null,
        "split": {"bank_bps": 3000, "insurer_bps": 7000, "fund_bps": 0},
        "cover": "Principal",
        "limits": {"max_loan_fen": 300000000u64, "max_term_months": 12, "benchmark_rate_bps": 435,
                   "max_uplift_bps": 3000, "max_premium_rate_bps": 300, "max_all_in_bps": 2400},
        "subsidy": {"bps": 5000, "mode": "Upfront"},
        "fund_layer": {"kind": "None"},
        "reinsurance_quota_bps": 0,
        "triggers": {"suspend_loss_ratio_bps": 0, "suspend_overdue_bps": 0, "warn_at_bps": 0},
        "claims": {"interest_dpd": 90, "principal_dpd": 30, "decide_days": 30, "pay_business_days": 10},
        "opening": {"premium_written_fen": 0, "claims_gross_fen": 0}
    });
    merge(&mut p, &patch);
    p
}

pub fn policy(patch: Value) -> Value {
    let mut p = json!({
        "type": "IssuePolicy", "id": "pol", "programme": "prog", "enterprise": "ent",
        "bank": "bank", "loan_principal_fen": 100000000u64, "loan_rate_bps": 565,
        "term_months": 12, "premium_rate_bps": 200
    });
    merge(&mut p, &patch);
    p
}

pub const PROGRAMME_SIGNERS: &[&str] = &["gov", "bank", "ins"];

/// A ledger with a rate filing, a funded fund and a programme (with `patch`).
pub fn with_programme(patch: Value) -> Ledger {
    with_programme_at(1, patch)
}

/// [`with_programme`] under protocol `version`.
pub fn with_programme_at(version: u32, patch: Value) -> Ledger {
    let mut l = Ledger::standard().at_version(version);
    l.ok("2025-01-02", &["ins", "reg"], file_rate());
    l.ok(
        "2025-01-02",
        &["gov"],
        create_fund("fund", "gov", 10_000_000_000),
    );
    l.ok("2025-01-02", &["gov"], top_up("fund", 1_000_000_000));
    l.ok("2025-01-03", PROGRAMME_SIGNERS, programme(patch));
    l
}

/// `with_programme` plus a policy and its loan disbursed on 2025-01-10.
pub fn with_loan(patch: Value) -> Ledger {
    let mut l = with_programme(patch);
    l.ok("2025-01-10", &["ins"], policy(json!({})));
    l.ok(
        "2025-01-10",
        &["bank"],
        json!({"type": "DisburseLoan", "id": "loan", "policy": "pol"}),
    );
    l
}

pub fn repay(amount: u64) -> Value {
    json!({"type": "RecordRepayment", "loan": "loan", "amount_fen": amount, "reference": "R"})
}

pub fn file_claim(claim: &str) -> Value {
    json!({"type": "FileClaim", "id": claim, "loan": "loan", "documents": ["doc-1"]})
}

pub fn decide(claim: &str, approve: bool) -> Value {
    json!({"type": "DecideClaim", "claim": claim, "approve": approve, "reason": "NotCovered"})
}

pub fn recovery(claim: &str, amount: u64) -> Value {
    json!({"type": "RecordRecovery", "claim": claim, "amount_fen": amount, "reference": "REC"})
}
