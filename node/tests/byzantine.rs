//! Byzantine validators, on a real consortium of four `xinbao-node` processes, one of them
//! the test-only Byzantine build misbehaving on command (`node/src/byzantine.rs`).
//!
//! 1. The Byzantine validator double-votes and double-proposes (Malachite's Byzantine
//!    network proxy), proposes every kind of bad block in turn (wrong state root,
//!    transaction root, time or size, a badly signed or an expired transaction, garbage
//!    or truncated parts, two valid blocks for one round), answers sync requests with
//!    wrong, garbage or oversized blocks, and replays its old votes with every new one.
//!    The three honest validators keep committing the load, never diverge, keep the
//!    equivocation as evidence that verifies with the genesis alone, and a wiped honest
//!    validator syncs the same chain back.
//! 2. The Byzantine validator turns silent and an honest one crashes: no quorum, so the
//!    network stops, but it never forks; the crashed one back, it goes on.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Devnet;
use ledger::evidence::DoubleVote;

const BYZANTINE: usize = 3;
const HONEST: [usize; 3] = [0, 1, 2];

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn committed(net: &Devnet, node: usize, id: &str) -> bool {
    net.get(node, &format!("/v1/tx/{id}"))
        .is_some_and(|(_, a)| a["status"] == "committed")
}

fn metric(net: &Devnet, node: usize, name: &str) -> u64 {
    let (_, text) = net.get(node, "/metrics").expect("metrics");
    let text = text.as_str().unwrap_or_default().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[test]
fn honest_validators_commit_the_same_chain_whatever_one_byzantine_validator_does() {
    let mut net = Devnet::create_with("byzantine", 200, 500, false);
    let behaviour = write(
        &net.dir,
        "byzantine.toml",
        r#"
proposals = ["state-root", "tx-root", "time", "oversized", "bad-signature-tx",
             "expired-tx", "garbage-parts", "truncated-parts", "two-blocks"]
sync = ["wrong-block", "garbage", "oversized"]
replay_votes = 3

[engine]
equivocate_votes = { mode = "always" }
equivocate_proposals = { mode = "always" }
"#,
    );
    for i in HONEST {
        net.start(i);
    }
    net.start_with(BYZANTINE, &[("XINBAO_BYZANTINE", &behaviour)]);
    net.wait_height(&HONEST, 2, Duration::from_secs(90));

    // 1. A steady load while the Byzantine validator takes its turns to propose: at a
    //    proposer rotation of four, 30 heights give it about seven turns.
    let mut nonce = 0;
    let mut ids = Vec::new();
    let start = net.height(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    while net.height(0).unwrap() < start + 30 {
        assert!(
            Instant::now() < deadline,
            "the honest validators stopped committing"
        );
        ids.extend(net.submit_staff_keys((ids.len() / 5) % 3, 0, &mut nonce, 5));
        std::thread::sleep(Duration::from_millis(300));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        while !committed(&net, 0, id) {
            assert!(Instant::now() < deadline, "{id} was not committed");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let top = HONEST
        .iter()
        .map(|&i| net.height(i).unwrap())
        .min()
        .unwrap();
    net.assert_same_chain(&HONEST, top);
    eprintln!(
        "honest validators at height {top}, {} transactions committed",
        ids.len()
    );

    // The Byzantine proposals were refused, and the double votes kept as evidence.
    let refused: u64 = HONEST
        .iter()
        .map(|&i| metric(&net, i, "xinbao_proposals_invalid_total"))
        .sum();
    assert!(refused > 0, "no Byzantine proposal was refused");
    assert!(
        net.log(BYZANTINE).contains("Byzantine: replayed old votes"),
        "the Byzantine validator replayed no old votes"
    );
    let byzantine_key = net.genesis.validators[BYZANTINE].consensus_key;
    let validators = net.genesis.validator_set().unwrap();
    let mut evidence: Vec<DoubleVote> = Vec::new();
    for i in HONEST {
        // The Byzantine validator is still equivocating, so the count can only grow
        // between reads: the metric before the list is at most its length, after at least.
        let before = metric(&net, i, "xinbao_evidence");
        let (status, answer) = net.get(i, "/v1/evidence").unwrap();
        assert_eq!(status, 200, "{answer}");
        let pieces: Vec<DoubleVote> =
            serde_json::from_value(answer["evidence"].clone()).expect("evidence JSON");
        let after = metric(&net, i, "xinbao_evidence");
        assert!(
            before <= pieces.len() as u64 && pieces.len() as u64 <= after,
            "node {i}: metric {before} then {after}, {} pieces listed",
            pieces.len()
        );
        evidence.extend(pieces);
    }
    assert!(!evidence.is_empty(), "no equivocation was kept as evidence");
    for piece in &evidence {
        assert_eq!(
            piece.validator(),
            byzantine_key,
            "only the Byzantine one equivocated"
        );
        // The genesis is enough to check it: the two signatures are the proof.
        piece.verify(&net.genesis.chain_id, &validators).unwrap();
    }
    let counted: u64 = HONEST
        .iter()
        .map(|&i| metric(&net, i, "xinbao_equivocating_votes_total"))
        .sum();
    assert!(counted > 0);

    // 2. An honest validator loses its disk and syncs from its peers, the Byzantine one
    //    among them answering with wrong, garbage and oversized blocks.
    net.kill(2);
    common::remove_dir(&net.node_dir(2).join("data"));
    net.start(2);
    let target = net.height(0).unwrap() + 2;
    net.wait_height(&HONEST, target, Duration::from_secs(120));
    net.assert_same_chain(&HONEST, target);

    // 3. The Byzantine validator turns silent and an honest one crashes: the remaining
    //    two of four are no quorum, so nothing is decided, and nothing forks.
    let silent = write(
        &net.dir,
        "silent.toml",
        "[engine]\ndrop_votes = { mode = \"always\" }\ndrop_proposals = { mode = \"always\" }\n",
    );
    net.kill(BYZANTINE);
    net.start_with(BYZANTINE, &[("XINBAO_BYZANTINE", &silent)]);
    net.kill(2);
    let stalled_at = net.height(0).unwrap().max(net.height(1).unwrap());
    let pending = net.submit_staff_keys(0, 1, &mut nonce, 3);
    std::thread::sleep(Duration::from_secs(8));
    let h0 = net.height(0).unwrap();
    let h1 = net.height(1).unwrap();
    assert!(
        h0 <= stalled_at + 1 && h1 <= stalled_at + 1,
        "decided without a quorum: {stalled_at} → {h0}, {h1}"
    );
    net.assert_same_chain(&[0, 1], h0.min(h1));
    // The crashed validator back: a quorum again, and the waiting transactions commit.
    net.start(2);
    let deadline = Instant::now() + Duration::from_secs(90);
    for id in &pending {
        while !committed(&net, 0, id) {
            assert!(
                Instant::now() < deadline,
                "{id} not committed after the heal"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let top = net.height(0).unwrap();
    net.wait_height(&HONEST, top, Duration::from_secs(60));
    net.assert_same_chain(&HONEST, top);
}
