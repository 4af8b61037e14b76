//! The rulebook's worked examples (DOMAIN.md R10): each must reproduce its `expect` block
//! exactly, and give the same bytes and state root on every run.

use std::path::PathBuf;

fn scenario_text(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../network-configs/scenarios")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check(name: &str) {
    let text = scenario_text(name);
    let outcome = contracts::scenario::run(&text).expect("a scenario");
    assert!(outcome.has_expect, "{name} states its expected figures");
    assert!(
        outcome.mismatches.is_empty(),
        "{name}:\n{}\n{}",
        outcome.mismatches.join("\n"),
        contracts::scenario::summary(&outcome)
    );
    let again = contracts::scenario::run(&text).expect("a scenario");
    assert_eq!(
        serde_json::to_vec(&outcome.result).unwrap(),
        serde_json::to_vec(&again.result).unwrap()
    );
    assert_eq!(outcome.state_root, again.state_root);
}

#[test]
fn example_a_ningbo_style() {
    check("a-ningbo-style.json");
}

#[test]
fn example_b_yunnan_style() {
    check("b-yunnan-style.json");
}

#[test]
fn example_c_guangzhou_style() {
    check("c-guangzhou-style.json");
}

#[test]
fn example_d_obligor_limit_under_version_2() {
    check("d-obligor-limit-v2.json");
}

#[test]
fn example_e_attestations_under_version_3() {
    check("e-attestations-v3.json");
}

/// R14.5: the same steps under version 2 know no attestations and no eligibility.
#[test]
fn example_e_under_version_2_refuses_attestations() {
    let mut doc: serde_json::Value =
        serde_json::from_str(&scenario_text("e-attestations-v3.json")).unwrap();
    doc["protocol_version"] = serde_json::json!(2);
    let outcome = contracts::scenario::run(&doc.to_string()).unwrap();
    assert!(outcome.result.get("attestations").is_none());
    let types = &outcome.step_types;
    for r in &outcome.rejected {
        let step_type = &types[r.step as usize - 1];
        if step_type == "Attest" || step_type == "RevokeAttestation" {
            assert_eq!(r.code.as_str(), "InvalidField", "step {}", r.step);
        }
    }
    // The programme that names eligibility is refused, so no policy is issued.
    assert_eq!(outcome.result["policies"], serde_json::json!({}));
}

/// R12.5: offline too, a program does not run a version it lacks: a scenario whose steps
/// schedule one is refused where it would take effect.
#[test]
fn a_scenario_that_upgrades_past_this_program_is_refused_there() {
    let newest = contracts::upgrade::NEWEST;
    let params = serde_json::json!({"type": "SetParams", "block_time_ms": 500,
        "block_txs_max": 10, "tx_expiry_heights_max": 100, "upgrade_lead_heights": 3});
    let doc = serde_json::json!({
        "protocol_version": newest,
        "orgs": [{"id": "bank", "kind": "Bank"}, {"id": "reg", "kind": "Regulator"}],
        "steps": [
            {"date": "2025-01-01", "by": ["bank", "reg"], "tx": params},
            {"date": "2025-01-01", "by": ["bank"], "tx": {"type": "UnflagEnterprise", "enterprise": "e"}},
            {"date": "2025-01-01", "by": ["bank", "reg"],
             "tx": {"type": "ScheduleUpgrade", "version": newest + 1, "activation_height": 6}},
            {"date": "2025-01-01", "by": ["bank"], "tx": {"type": "UnflagEnterprise", "enterprise": "e"}},
            {"date": "2025-01-01", "by": ["bank"], "tx": {"type": "UnflagEnterprise", "enterprise": "e"}},
            {"date": "2025-01-01", "by": ["bank"], "tx": {"type": "UnflagEnterprise", "enterprise": "e"}},
        ]
    });
    let err = contracts::scenario::run(&doc.to_string()).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "protocol version {} takes effect at step 6",
            newest + 1
        )),
        "{err}"
    );
}

/// R13.4: the file's version decides the rules. Under version 1 the same steps know no
/// single-obligor limit, so the policies version 2 refuses are issued.
#[test]
fn example_d_under_version_1_has_no_obligor_limit() {
    let mut doc: serde_json::Value =
        serde_json::from_str(&scenario_text("d-obligor-limit-v2.json")).unwrap();
    doc["protocol_version"] = serde_json::json!(1);
    let outcome = contracts::scenario::run(&doc.to_string()).unwrap();
    assert_eq!(outcome.protocol_version, 1);
    let codes: Vec<String> = outcome
        .rejected
        .iter()
        .map(|r| r.code.as_str().to_string())
        .collect();
    assert!(
        !codes.iter().any(|c| c == "ObligorLimitExceeded"),
        "{codes:?}"
    );
    assert!(!outcome.mismatches.is_empty(), "version 2's figures differ");
}

/// Golden vectors: the state roots of the worked examples. Every byte of every record
/// feeds these, so a change here is a change of the ledger's state format (a new chain),
/// never an accident. When it is deliberate, replace the values with the new roots. (They
/// last changed when a programme's terms gained R14's `eligibility`: the record of every
/// programme encodes it, absent or not.)
#[test]
fn state_roots_are_pinned() {
    for (name, root) in [
        (
            "a-ningbo-style.json",
            "e08563758f9fa189b578291eeff30db8f1c6070b3515135ce8b4a99802b25484",
        ),
        (
            "b-yunnan-style.json",
            "388eeef40300aa9fe8cf10d333c2185f37cac619c7e8a4543f5f4dc45fc38065",
        ),
        (
            "c-guangzhou-style.json",
            "ef3776dbc81e0f7e31c69a12a9f53cb599e6c697905f3a3ac3cf13789b48dd43",
        ),
    ] {
        let outcome = contracts::scenario::run(&scenario_text(name)).unwrap();
        assert_eq!(hex::encode(outcome.state_root), root, "{name}");
    }
}
