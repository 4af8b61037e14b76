//! The auditor's path end to end: a worked example committed by real validators, the
//! chain exported from one node, verified and reported with the genesis file alone, and one
//! settlement proven without the chain.

mod common;

use std::time::Duration;

use common::{get, scenario_path, serial, text, xinbao, Devnet};
use serde_json::Value;

const START: Duration = Duration::from_secs(40);

#[test]
fn a_devnet_chain_exports_verifies_and_reports_the_examples_figures() {
    let _one = serial();
    let scenario = scenario_path("c-guangzhou-style.json");
    let scenario = scenario.to_str().unwrap();
    let mut net = Devnet::init("audit", &["--orgs-from", scenario], true);
    net.start_all();
    let all: Vec<usize> = (0..net.len()).collect();
    net.wait_height(&all, 1, START);

    let network_doc = net.replay(scenario, 0);

    // Export from a node other than the one the scenario was submitted to, once it holds
    // every block the submitting node has committed (it may be a block behind).
    let committed = net.height(0).expect("height of the submitting node");
    net.wait_height(&[1, 2], committed, Duration::from_secs(20));
    let chain = net.dir.join("chain.xbc");
    let chain = chain.to_str().unwrap();
    let export = xinbao(&["chain", "export", "--node", &net.urls[1], "--out", chain]);
    assert!(
        export.status.success(),
        "export failed: {}",
        text(&export.stderr)
    );

    let genesis = net.dir.join("genesis.json");
    let genesis = genesis.to_str().unwrap();
    let verify = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        genesis,
        "--chain",
        chain,
        "--json",
    ]);
    assert!(
        verify.status.success(),
        "verify failed: {}",
        text(&verify.stderr)
    );
    let verdict: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(verdict["verified"], true);
    assert_eq!(
        verdict["txs"], 21,
        "every step of the example is one committed transaction"
    );
    assert_eq!(verdict["rejected"], 6);

    // The auditor's state root is the one the node reports for the same height.
    let height = verdict["height"].as_u64().unwrap();
    let (status, block) = get(&net.urls[1], &format!("/v1/blocks/{height}")).expect("block");
    assert_eq!(status, 200);
    assert_eq!(block["state_root"], verdict["state_root"], "{block}");

    // The report of the verified chain carries the example's figures.
    let report = xinbao(&[
        "audit",
        "report",
        "--genesis",
        genesis,
        "--chain",
        chain,
        "--format",
        "json",
    ]);
    assert!(
        report.status.success(),
        "report failed: {}",
        text(&report.stderr)
    );
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let expect: Value =
        serde_json::from_slice(&std::fs::read(scenario_path("c-guangzhou-style.json")).unwrap())
            .unwrap();
    let mut mismatches = Vec::new();
    for key in [
        "claims",
        "funds",
        "loans",
        "policies",
        "programmes",
        "overdue_claims",
    ] {
        contracts::scenario::compare(
            key,
            &expect["expect"][key],
            &report["result"][key],
            &mut mismatches,
        );
        assert_eq!(
            report["result"][key], network_doc[key],
            "{key}: report and network differ"
        );
    }
    assert!(
        mismatches.is_empty(),
        "report differs from the example: {mismatches:?}"
    );

    // The node's running totals per organisation are the report's, computed from the
    // whole state: every column of every organisation.
    let (status, orgs) = get(&net.urls[1], "/v1/organisations?limit=100").expect("orgs");
    assert_eq!(status, 200, "{orgs}");
    let expected = report["organisations"]
        .as_object()
        .expect("report organisations");
    let items = orgs["items"].as_array().expect("items");
    assert_eq!(items.len(), expected.len(), "{orgs}");
    let mut nonzero = 0;
    for item in items {
        let id = item["id"].as_str().unwrap();
        for column in contracts::report::OrgColumn::ALL.map(|c| c.name()) {
            assert_eq!(item[column], expected[id][column], "{id} {column}");
            nonzero += usize::from(item[column].as_u64() != Some(0));
        }
    }
    assert!(
        nonzero > 5,
        "the example moves money for several organisations"
    );

    // The state read a section at a time, one record a page, is the whole document's.
    for section in ["claims", "funds", "loans", "policies", "programmes"] {
        let mut paged = serde_json::Map::new();
        let mut after = String::new();
        loop {
            let path = format!("/v1/state?section={section}&limit=1&after={after}");
            let (status, page) = get(&net.urls[1], &path).expect("a page");
            assert_eq!(status, 200, "{page}");
            for item in page["items"].as_array().unwrap() {
                let mut entry = item.clone();
                let id = entry["id"].as_str().unwrap().to_string();
                entry.as_object_mut().unwrap().remove("id");
                assert!(paged.insert(id, entry).is_none(), "a record twice");
            }
            match page["next"].as_str() {
                Some(next) => after = next.to_string(),
                None => break,
            }
        }
        assert!(!paged.is_empty(), "{section}");
        assert_eq!(Value::Object(paged), network_doc[section], "{section}");
    }
    let (status, refused) = get(&net.urls[1], "/v1/state?section=nothing").expect("refusal");
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("BadQuery"))
    );

    // One settlement proven with the genesis alone; one altered byte refused.
    // The newest transaction: the last block with a receipt (later blocks may be empty).
    let tx_id = (1..=height)
        .rev()
        .find_map(|h| {
            let (_, block) = get(&net.urls[2], &format!("/v1/blocks/{h}"))?;
            block["receipts"][0]["tx_id"].as_str().map(str::to_string)
        })
        .expect("a committed transaction");
    let proof = net.dir.join("proof.json");
    let proof = proof.to_str().unwrap();
    let prove = xinbao(&[
        "audit",
        "prove",
        "--node",
        &net.urls[2],
        "--tx",
        &tx_id,
        "--out",
        proof,
    ]);
    assert!(
        prove.status.success(),
        "prove failed: {}",
        text(&prove.stderr)
    );
    let check = xinbao(&["audit", "check-proof", "--genesis", genesis, proof]);
    assert!(
        check.status.success(),
        "check-proof failed: {}",
        text(&check.stderr)
    );

    let mut doc: Value = serde_json::from_slice(&std::fs::read(proof).unwrap()).unwrap();
    let hex = doc["proof"].as_str().unwrap().to_string();
    let at = hex.len() / 3;
    let flipped = if &hex[at..at + 1] == "0" { "1" } else { "0" };
    doc["proof"] = Value::String(format!("{}{}{}", &hex[..at], flipped, &hex[at + 1..]));
    let bad = net.dir.join("proof-bad.json");
    std::fs::write(&bad, serde_json::to_vec(&doc).unwrap()).unwrap();
    let refused = xinbao(&[
        "audit",
        "check-proof",
        "--genesis",
        genesis,
        bad.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
}

/// A validator's double vote, signed by testkit validator `i` at `height`.
fn double_vote(chain: &ledger::Id, i: usize, height: u64) -> ledger::evidence::DoubleVote {
    use ledger::block::BlockId;
    use ledger::crypto::domain;
    use ledger::evidence::SignedVote;
    use ledger::vote::{VoteBody, VoteKind};
    let key = contracts::testkit::validator_key(i);
    let vote = |block: Option<u8>| {
        let body = VoteBody {
            chain_id: chain.clone(),
            kind: VoteKind::Precommit,
            height,
            round: 0,
            block_id: block.map(|b| BlockId([b; 32])),
            voter: key.public_key(),
        };
        SignedVote {
            kind: body.kind,
            height,
            round: 0,
            block_id: body.block_id,
            voter: body.voter,
            signature: key.sign(domain::CONSENSUS, &body.sign_bytes()),
        }
    };
    ledger::evidence::DoubleVote {
        first: vote(Some(1)),
        second: vote(Some(2)),
    }
}

#[test]
fn the_audit_report_lists_equivocation_it_can_prove_and_says_why_it_cannot_the_rest() {
    let chain = contracts::testkit::scenario_chain(&contracts::testkit::worked_example(
        "a-ningbo-style.json",
    ));
    let dir = std::env::temp_dir().join(format!("xinbao-evidence-{}", std::process::id()));
    let (genesis, file) = chain.write_files(&dir);
    let chain_id = chain.genesis.chain_id.clone();
    let proven = double_vote(&chain_id, 1, 1);
    let mut forged = double_vote(&chain_id, 2, 1);
    forged.second.block_id = Some(ledger::block::BlockId([9; 32]));
    let beyond = double_vote(&chain_id, 0, 1_000_000);
    let evidence = dir.join("evidence.json");
    std::fs::write(
        &evidence,
        serde_json::to_vec(&serde_json::json!({ "evidence": [proven, forged, beyond] })).unwrap(),
    )
    .unwrap();
    let run = |format: &str| {
        xinbao(&[
            "audit",
            "report",
            "--genesis",
            genesis.to_str().unwrap(),
            "--chain",
            file.to_str().unwrap(),
            "--evidence",
            evidence.to_str().unwrap(),
            "--format",
            format,
        ])
    };
    let out = run("json");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = doc["equivocations"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["proven"], true, "{}", listed[0]);
    assert_eq!(
        listed[0]["validator"],
        contracts::testkit::validator_key(1).public_key().to_hex()
    );
    assert_eq!(listed[1]["proven"], false);
    assert!(listed[1]["reason"].as_str().unwrap().contains("signature"));
    assert_eq!(listed[2]["proven"], false);
    assert!(listed[2]["reason"]
        .as_str()
        .unwrap()
        .contains("not in the chain"));
    let md = run("md");
    let md = text(&md.stdout);
    assert!(md.contains("## Equivocation"), "{md}");
    assert!(md.contains("| yes |"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}
