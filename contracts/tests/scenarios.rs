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
