//! `xinbao scenario run` as a user runs it: the real binary on the worked examples.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../network-configs/scenarios")
        .join(name)
}

fn xinbao(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xinbao"))
        .args(args)
        .output()
        .expect("run xinbao")
}

#[test]
fn json_output_is_the_result_document_and_matches_expect() {
    let file = example("c-guangzhou-style.json");
    let out = xinbao(&["scenario", "run", file.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["claims"]["clm-c1"]["fund_fen"], 300_000_000u64);
    assert_eq!(doc["date"], "2025-11-11");
    for key in [
        "programmes",
        "funds",
        "policies",
        "loans",
        "claims",
        "overdue_claims",
        "rejected",
    ] {
        assert!(doc.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn summary_is_readable() {
    let file = example("c-guangzhou-style.json");
    let out = xinbao(&["scenario", "run", file.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("clm-c1"), "{text}");
    assert!(text.contains("RecoveryExceedsLoss"), "{text}");
    assert!(text.contains("3,000,000.00"), "{text}");
}

#[test]
fn a_changed_expectation_exits_one_with_the_path() {
    let text = std::fs::read_to_string(example("c-guangzhou-style.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["expect"]["claims"]["clm-c1"]["fund_fen"] = serde_json::json!(299_999_999u64);
    let dir = std::env::temp_dir().join(format!("xinbao-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("changed.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = xinbao(&["scenario", "run", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("claims.clm-c1.fund_fen"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_file_that_is_not_a_scenario_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("xinbao-notscenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("garbage.json");
    std::fs::write(&path, b"{\"orgs\": 3").unwrap();
    let out = xinbao(&["scenario", "run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("garbage.json"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn replaying_through_a_node_finds_the_default_devnet_or_says_how_to_name_one() {
    let dir = std::env::temp_dir().join(format!("xinbao-default-devnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = example("a-ningbo-style.json");
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xinbao"))
            .args(args)
            .current_dir(&dir)
            .env_remove("XINBAO_DEVNET_DIR")
            .envs(envs.iter().copied())
            .output()
            .expect("run xinbao")
    };

    // No devnet here: a clear error naming the option, nothing sent anywhere.
    let out = run(
        &[],
        &[
            "scenario",
            "run",
            file.to_str().unwrap(),
            "--node",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--devnet-dir"), "{err}");

    // `devnet init` without --dir makes ./devnet, or $XINBAO_DEVNET_DIR when it is set.
    let out = run(
        &[],
        &["devnet", "init", "--orgs-from", file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("devnet/devnet.json").is_file());
    let out = run(&[("XINBAO_DEVNET_DIR", "other")], &["devnet", "init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("other/devnet.json").is_file());
    std::fs::remove_dir_all(&dir).ok();
}

/// R13.4: a file runs under the version it names, and says which; one this program does not
/// know is not a scenario it can run.
#[test]
fn a_scenario_runs_under_its_protocol_version() {
    let file = example("d-obligor-limit-v2.json");
    let out = xinbao(&["scenario", "run", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("protocol version 2"), "{text}");
    assert!(text.contains("ObligorLimitExceeded"), "{text}");

    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    doc["protocol_version"] = serde_json::json!(99);
    let dir = std::env::temp_dir().join(format!("xinbao-scenario-v99-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v99.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = xinbao(&["scenario", "run", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("protocol version 99"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
