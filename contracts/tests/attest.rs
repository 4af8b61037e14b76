//! R14 (protocol version 3): attestations, programmes' eligibility and the check on
//! `IssuePolicy`, each code in its place in R2.4's order; nothing of it before version 3.

mod common;

use common::*;
use ledger::Code;
use serde_json::{json, Value};

fn attest(id: &str, issuer: &str, enterprise: &str, kind: &str, grade: &str) -> Value {
    json!({"type": "Attest", "id": id, "issuer": issuer, "enterprise": enterprise,
           "kind": kind, "grade": grade, "facts_hash": "sha256:00ff",
           "valid_from": "2025-01-01", "valid_to": "2025-12-31"})
}

fn revoke(id: &str) -> Value {
    json!({"type": "RevokeAttestation", "id": id})
}

/// A programme that needs a tax grade A or B from `gov2` and a clean record from `bank`.
fn eligible() -> Value {
    json!({"eligibility": [
        {"kind": "tax", "grades": ["A", "B"], "issuers": ["gov2"]},
        {"kind": "default", "grades": ["clean"], "issuers": ["bank"]}
    ]})
}

#[test]
fn before_version_3_attestations_and_eligibility_are_invalid() {
    for version in [1, 2] {
        let mut l = with_programme_at(version, json!({}));
        let date = "2025-02-01";
        assert_eq!(
            l.tx(date, &["gov2"], attest("a1", "gov2", "ent", "tax", "A")),
            Err(Code::InvalidField)
        );
        assert_eq!(l.tx(date, &["gov2"], revoke("a1")), Err(Code::InvalidField));
        let mut with_key = programme(json!({"id": "prog2"}));
        with_key["eligibility"] = json!([]);
        assert_eq!(
            l.tx(date, PROGRAMME_SIGNERS, with_key),
            Err(Code::InvalidField),
            "even empty, the key is refused before version 3"
        );
        assert!(l.report(date).get("attestations").is_none());
        // R2.4 (1): InvalidField comes before SharesMustSumTo10000.
        let mut both = programme(json!({"id": "prog3",
            "split": {"bank_bps": 5000, "insurer_bps": 4000, "fund_bps": 0}}));
        both["eligibility"] = json!([]);
        assert_eq!(l.tx(date, PROGRAMME_SIGNERS, both), Err(Code::InvalidField));
    }
}

#[test]
fn an_attestation_is_checked_in_r2_4_order() {
    let mut l = with_programme_at(3, json!({}));
    let date = "2025-02-01";
    let mut backwards = attest("a1", "gov2", "ent", "tax", "A");
    backwards["valid_from"] = json!("2026-01-01");
    assert_eq!(l.tx(date, &["bank"], backwards), Err(Code::InvalidField));
    assert_eq!(
        l.tx(date, &["aud"], attest("a1", "aud", "ent", "tax", "A")),
        Err(Code::UnknownParty)
    );
    assert_eq!(
        l.tx(date, &["gov2"], attest("a1", "nobody", "ent", "tax", "A")),
        Err(Code::UnknownParty)
    );
    assert_eq!(
        l.tx(date, &["bank"], attest("a1", "gov2", "ent", "tax", "A")),
        Err(Code::Unauthorized)
    );
    let mut empty = attest("a1", "gov2", "ent", "tax", "A");
    empty["grade"] = json!("");
    assert_eq!(l.tx(date, &["gov2"], empty), Err(Code::InvalidField));
    l.ok(date, &["gov2"], attest("a1", "gov2", "ent", "tax", "A"));
    assert_eq!(
        l.tx(date, &["gov2"], attest("a1", "gov2", "other", "tax", "B")),
        Err(Code::DuplicateId)
    );
    // Revocation: the attestation must exist; its issuer signs.
    assert_eq!(
        l.tx(date, &["gov2"], revoke("nope")),
        Err(Code::UnknownAttestation)
    );
    assert_eq!(l.tx(date, &["bank"], revoke("a1")), Err(Code::Unauthorized));
    l.ok(date, &["gov2"], revoke("a1"));
    l.ok(date, &["gov2"], revoke("a1"));
    let doc = l.report(date);
    assert_eq!(
        doc["attestations"]["a1"],
        json!({"issuer": "gov2", "enterprise": "ent", "kind": "tax", "grade": "A",
               "valid_from": "2025-01-01", "valid_to": "2025-12-31", "revoked": true})
    );
}

#[test]
fn a_programmes_eligibility_is_checked_with_its_terms() {
    let mut l = with_programme_at(3, json!({}));
    let date = "2025-02-01";
    let with = |entries: Value| {
        let mut p = programme(json!({"id": "prog2"}));
        p["eligibility"] = entries;
        p
    };
    for bad in [
        json!([{"kind": "tax", "grades": [], "issuers": ["gov2"]}]),
        json!([{"kind": "tax", "grades": ["A"], "issuers": []}]),
        json!([{"kind": "tax", "grades": ["A"], "issuers": ["gov2"]},
               {"kind": "tax", "grades": ["B"], "issuers": ["gov2"]}]),
        json!([{"kind": "", "grades": ["A"], "issuers": ["gov2"]}]),
        json!([{"kind": "tax", "grades": [""], "issuers": ["gov2"]}]),
    ] {
        assert_eq!(
            l.tx(date, PROGRAMME_SIGNERS, with(bad.clone())),
            Err(Code::InvalidField),
            "{bad}"
        );
    }
    // An issuer that is not a member, after the programme's other parties.
    assert_eq!(
        l.tx(
            date,
            PROGRAMME_SIGNERS,
            with(json!([{"kind": "tax", "grades": ["A"], "issuers": ["nobody"]}]))
        ),
        Err(Code::UnknownParty)
    );
    let mut shares = with(json!([{"kind": "tax", "grades": [], "issuers": ["gov2"]}]));
    shares["split"] = json!({"bank_bps": 5000, "insurer_bps": 4000, "fund_bps": 0});
    assert_eq!(
        l.tx(date, PROGRAMME_SIGNERS, shares),
        Err(Code::InvalidField),
        "before SharesMustSumTo10000"
    );
    let mut unknown_bank = with(json!([{"kind": "tax", "grades": ["A"], "issuers": ["gov2"]}]));
    unknown_bank["banks"] = json!(["nobank"]);
    assert_eq!(
        l.tx(date, PROGRAMME_SIGNERS, unknown_bank),
        Err(Code::UnknownParty)
    );
    // Empty asks for nothing.
    l.ok(date, PROGRAMME_SIGNERS, with(json!([])));
    l.ok(
        date,
        &["ins"],
        policy(json!({"id": "p0", "programme": "prog2"})),
    );
}

#[test]
fn a_policy_needs_every_entry_met_on_its_issue_date() {
    let mut l = with_programme_at(3, eligible());
    let date = "2025-02-01";
    // Nothing attested yet.
    assert_eq!(
        l.tx(date, &["ins"], policy(json!({}))),
        Err(Code::NotAttested)
    );
    l.ok(date, &["gov2"], attest("tax-a", "gov2", "ent", "tax", "A"));
    assert_eq!(
        l.tx(date, &["ins"], policy(json!({}))),
        Err(Code::NotAttested),
        "one entry of two"
    );
    // The right kind by the wrong issuer, then the wrong grade: still not met.
    l.ok(
        date,
        &["gov"],
        attest("def-gov", "gov", "ent", "default", "clean"),
    );
    assert_eq!(
        l.tx(date, &["ins"], policy(json!({}))),
        Err(Code::NotAttested)
    );
    l.ok(
        date,
        &["bank"],
        attest("def-dirty", "bank", "ent", "default", "dirty"),
    );
    assert_eq!(
        l.tx(date, &["ins"], policy(json!({}))),
        Err(Code::NotAttested)
    );
    // Valid only from later: not met on the issue date.
    let mut later = attest("def-later", "bank", "ent", "default", "clean");
    later["valid_from"] = json!("2025-03-01");
    l.ok(date, &["bank"], later);
    assert_eq!(
        l.tx(date, &["ins"], policy(json!({}))),
        Err(Code::NotAttested)
    );
    l.ok("2025-03-01", &["ins"], policy(json!({"id": "p1"})));
    let qualified = contracts::attest::qualified(&l.store, &id("p1")).unwrap();
    assert_eq!(
        qualified,
        vec![(id("tax"), id("tax-a")), (id("default"), id("def-later"))]
    );
    // A revoked attestation counts for nothing from then on.
    l.ok("2025-03-02", &["gov2"], revoke("tax-a"));
    assert_eq!(
        l.tx("2025-03-02", &["ins"], policy(json!({"id": "p2"}))),
        Err(Code::NotAttested)
    );
    l.ok(
        "2025-03-02",
        &["gov2"],
        attest("tax-b", "gov2", "ent", "tax", "B"),
    );
    l.ok("2025-03-02", &["ins"], policy(json!({"id": "p2"})));
    // EnterpriseFlagged comes first; NotAttested right after it.
    l.ok(
        "2025-03-02",
        &["bank"],
        json!({"type": "FlagEnterprise", "enterprise": "bare", "reason": "default"}),
    );
    assert_eq!(
        l.tx(
            "2025-03-02",
            &["ins"],
            policy(json!({"id": "p3", "enterprise": "bare"}))
        ),
        Err(Code::EnterpriseFlagged)
    );
    assert_eq!(
        l.tx(
            "2025-03-02",
            &["ins"],
            policy(
                json!({"id": "p3", "enterprise": "bare2", "loan_principal_fen": 999_999_999_999u64})
            )
        ),
        Err(Code::NotAttested),
        "before LoanAboveCap"
    );
    let doc = l.report("2025-03-02");
    assert_eq!(doc["attestations"].as_object().unwrap().len(), 5);
    assert_eq!(doc["attestations"]["tax-a"]["revoked"], true);
    assert_eq!(doc["attestations"]["tax-b"]["revoked"], false);
}

#[test]
fn without_eligibility_a_version_3_programme_asks_for_nothing() {
    let mut l = with_programme_at(3, json!({}));
    l.ok("2025-02-01", &["ins"], policy(json!({})));
    assert_eq!(contracts::attest::qualified(&l.store, &id("pol")), None);
}
