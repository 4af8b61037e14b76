//! The R10 scenario runner: what is and is not a scenario, step-level rejections, the
//! ledger date, `expect` matching and the summary.

use contracts::scenario::{run, summary, ScenarioError};
use serde_json::json;

fn example(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../network-configs/scenarios")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn what_is_not_a_scenario() {
    assert!(matches!(run("{"), Err(ScenarioError::NotJson(_))));
    assert!(matches!(run("[]"), Err(ScenarioError::NotAScenario(_))));
    assert!(matches!(
        run(r#"{"orgs": []}"#),
        Err(ScenarioError::NotAScenario(_))
    ));
    assert!(matches!(
        run(r#"{"steps": []}"#),
        Err(ScenarioError::NotAScenario(_))
    ));
    let bad_kind = r#"{"orgs": [{"id": "a", "kind": "Bakery"}], "steps": []}"#;
    assert!(matches!(run(bad_kind), Err(ScenarioError::NotAScenario(_))));
    let empty_id = r#"{"orgs": [{"id": "", "kind": "Bank"}], "steps": []}"#;
    assert!(matches!(run(empty_id), Err(ScenarioError::NotAScenario(_))));
    let twice =
        r#"{"orgs": [{"id": "a", "kind": "Bank"}, {"id": "a", "kind": "Insurer"}], "steps": []}"#;
    assert!(matches!(run(twice), Err(ScenarioError::NotAScenario(_))));
}

#[test]
fn an_empty_scenario_has_no_date() {
    let outcome = run(r#"{"orgs": [{"id": "a", "kind": "Bank"}], "steps": []}"#).unwrap();
    assert_eq!(outcome.result["date"], json!(null));
    assert_eq!(outcome.result["rejected"], json!([]));
    assert!(!outcome.has_expect);
    assert!(outcome.mismatches.is_empty());
}

#[test]
fn malformed_steps_are_invalid_field_and_time_never_goes_back() {
    let fund = |date: &str| {
        json!({"date": date, "by": ["gov"],
               "tx": {"type": "CreateFund", "id": format!("f-{date}"), "government": "gov", "annual_cap_fen": 10}})
    };
    let doc = json!({
        "orgs": [{"id": "gov", "kind": "Government"}],
        "steps": [
            fund("2025-03-01"),
            fund("2025-02-28"),                                       // 2: dated backwards
            {"date": "2025-02-30", "by": ["gov"], "tx": fund("2025-03-02")["tx"]}, // 3: no such date
            {"by": ["gov"], "tx": fund("2025-03-03")["tx"]},          // 4: no date
            {"date": "2025-03-04", "tx": fund("2025-03-04")["tx"]},   // 5: no signers
            {"date": "2025-03-05", "by": "gov", "tx": fund("2025-03-05")["tx"]}, // 6: not a list
            {"date": "2025-03-06", "by": ["gov"], "tx": {"type": "Nothing"}},   // 7
            {"date": "2025-03-07", "by": ["nobody"], "tx": fund("2025-03-07")["tx"]}, // 8
            fund("2025-03-06"),                                       // 9: before step 8's date
            fund("2025-03-07"),
        ],
        "expect": {"rejected": [
            {"step": 2, "code": "InvalidField"}, {"step": 3, "code": "InvalidField"},
            {"step": 4, "code": "InvalidField"}, {"step": 5, "code": "InvalidField"},
            {"step": 6, "code": "InvalidField"}, {"step": 7, "code": "InvalidField"},
            {"step": 8, "code": "Unauthorized"}, {"step": 9, "code": "InvalidField"}
        ]}
    });
    let outcome = run(&doc.to_string()).unwrap();
    assert!(outcome.mismatches.is_empty(), "{:?}", outcome.mismatches);
    assert_eq!(outcome.result["date"], json!("2025-03-07"));
    let funds: Vec<&String> = outcome.result["funds"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(funds, ["f-2025-03-01", "f-2025-03-07"]);
}

#[test]
fn expect_is_a_subset_match_with_exact_values() {
    let text = example("c-guangzhou-style.json");
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["expect"] = json!({
        "claims": {"clm-c1": {"fund_fen": 299999999, "late": 0, "recovery": {"bank_fen": 20000000}}},
        "funds": {"fund-x": {"balance_fen": 1}},
        "overdue_claims": ["clm-c1"],
        "programmes": {"prog-c": {"warnings": ["LossRatio", "OverdueRatio"], "status": "Active"}},
        "rejected": [{"step": 6, "code": "DuplicateId"}]
    });
    let outcome = run(&doc.to_string()).unwrap();
    assert!(outcome.has_expect);
    assert_eq!(
        outcome.mismatches,
        vec![
            "claims.clm-c1.fund_fen: expected 299999999, got 300000000".to_string(),
            "claims.clm-c1.late: expected 0, got false".to_string(),
            "funds.fund-x: expected {\"balance_fen\":1}, got nothing".to_string(),
            "overdue_claims: expected [\"clm-c1\"], got []".to_string(),
            "programmes.prog-c.warnings: expected [\"LossRatio\",\"OverdueRatio\"], got [\"LossRatio\"]".to_string(),
            format!("rejected: expected [{{\"code\":\"DuplicateId\",\"step\":6}}], got {}", outcome.result["rejected"]),
        ]
    );
}

#[test]
fn summary_reads_like_a_statement() {
    let outcome = run(&example("c-guangzhou-style.json")).unwrap();
    let text = summary(&outcome);
    for needle in [
        "Scenario as of 2025-11-11",
        "prog-c: Active",
        "loss ratio        163.62%",
        "clm-c1: Paid, loss 4,056,499.99 yuan (405649999 fen)",
        "decision due 2025-09-29, payment due 2025-09-12, late: false",
        "fund shortfall    145,199.99 yuan (14519999 fen)",
        "step 21: RecoveryExceedsLoss (RecordRecovery)",
        "filed 2025-08-30 on loan-c1, documents complete 2025-08-30, decided 2025-09-03, paid 2025-09-05",
        "Overdue claims: none",
        "Expectations: all met",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn runs_are_reproducible_and_roots_differ_between_scenarios() {
    let a = run(&example("a-ningbo-style.json")).unwrap();
    let b = run(&example("b-yunnan-style.json")).unwrap();
    assert_ne!(a.state_root, b.state_root);
    let a2 = run(&example("a-ningbo-style.json")).unwrap();
    assert_eq!(a.state_root, a2.state_root);
    assert_eq!(a.result.to_string(), a2.result.to_string());
}
