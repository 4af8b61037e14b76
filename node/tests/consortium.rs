//! End to end: four validator processes commit transactions; one is killed with SIGKILL
//! and the others go on; restarted, it catches up to the same blocks and state root.

mod common;

use std::time::{Duration, Instant};

use common::Devnet;
use ledger::action::StaffKey;
use ledger::crypto::SecretKey;
use ledger::export::ChainEntry;
use ledger::tx::{SignedTx, TxBody};
use ledger::{Action, Id};
use serde_json::Value;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

fn staff_key_tx(net: &Devnet, org: usize, signer: usize, nonce: u64, expires: u64) -> SignedTx {
    let mut tx = SignedTx::unsigned(TxBody {
        chain_id: net.genesis.chain_id.clone(),
        nonce,
        expires_at_height: expires,
        action: Action::RegisterStaffKey(StaffKey {
            org: Id::new(common::ORGS[org].0).unwrap(),
            public_key: SecretKey::generate().public_key(),
        }),
    });
    tx.sign(&net.admin_keys[signer]).unwrap();
    tx
}

/// Waits until node `i` reports the transaction committed; returns the answer.
fn wait_committed(net: &Devnet, i: usize, id: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some((200, answer)) = net.get(i, &format!("/v1/tx/{id}")) {
            if answer["status"] == "committed" {
                return answer;
            }
        }
        assert!(
            Instant::now() < deadline,
            "transaction {id} not committed on node {i} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn commit_survive_a_kill_and_catch_up() {
    let mut net = Devnet::create("consortium", 300, false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(90));

    // A transaction the rulebook accepts, submitted as JSON to node 1 ...
    let accepted = staff_key_tx(&net, 0, 0, 1, 1_000);
    let (status, answer) = net.post(
        1,
        "/v1/tx",
        "application/json",
        &serde_json::to_vec(&accepted).unwrap(),
    );
    assert_eq!(status, 200, "{answer}");
    let accepted_id = answer["id"].as_str().unwrap().to_string();
    assert_eq!(accepted_id, accepted.id(SUITE).to_hex());

    // ... one it rejects (the insurer's admin signs for the bank), as canonical bytes to node 2.
    let rejected = staff_key_tx(&net, 0, 1, 2, 1_000);
    let (status, answer) = net.post(
        2,
        "/v1/tx",
        "application/octet-stream",
        &rejected.to_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    let rejected_id = answer["id"].as_str().unwrap().to_string();

    // Intake refusals carry stable codes.
    let (status, answer) = net.post(
        1,
        "/v1/tx",
        "application/json",
        &serde_json::to_vec(&accepted).unwrap(),
    );
    assert!(status == 409, "{status} {answer}");
    let mut forged = staff_key_tx(&net, 0, 0, 3, 1_000);
    forged.signatures[0].signature.0[0] ^= 1;
    let (status, answer) = net.post(0, "/v1/tx", "application/octet-stream", &forged.to_bytes());
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "BadSignature", "{answer}");
    // A valid signature by a key of another algorithm than the chain's (SM2 on an ed25519
    // chain), as JSON.
    let other_algorithm = {
        let mut tx = staff_key_tx(&net, 0, 0, 5, 1_000);
        tx.signatures.clear();
        tx.sign(&SecretKey::generate_for(ledger::crypto::Algorithm::Sm2))
            .unwrap();
        tx
    };
    let (status, answer) = net.post(
        0,
        "/v1/tx",
        "application/json",
        &serde_json::to_vec(&other_algorithm).unwrap(),
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "WrongAlgorithm", "{answer}");
    let unregistered = {
        let mut tx = staff_key_tx(&net, 0, 0, 4, 1_000);
        tx.signatures.clear();
        tx.sign(&SecretKey::generate()).unwrap();
        tx
    };
    let (status, answer) = net.post(
        0,
        "/v1/tx",
        "application/octet-stream",
        &unregistered.to_bytes(),
    );
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "UnregisteredKey", "{answer}");

    for i in 0..4 {
        let answer = wait_committed(&net, i, &accepted_id, Duration::from_secs(30));
        assert_eq!(answer["receipt"]["outcome"], "Accepted", "{answer}");
        let answer = wait_committed(&net, i, &rejected_id, Duration::from_secs(30));
        assert_eq!(answer["receipt"]["outcome"], "Rejected", "{answer}");
        assert_eq!(answer["receipt"]["code"], "Unauthorized", "{answer}");
    }

    // Kill validator 3; the other three (exactly a quorum) go on.
    net.kill(3);
    let before = net.height(0).unwrap();
    net.wait_height(&[0, 1, 2], before + 6, Duration::from_secs(90));
    let during = staff_key_tx(&net, 1, 1, 5, 10_000);
    let (status, answer) = net.post(
        0,
        "/v1/tx",
        "application/json",
        &serde_json::to_vec(&during).unwrap(),
    );
    assert_eq!(status, 200, "{answer}");
    let during_id = answer["id"].as_str().unwrap().to_string();
    wait_committed(&net, 1, &during_id, Duration::from_secs(60));

    // Restarted from its own disk, it catches up by sync and rejoins.
    net.start(3);
    let target = net.height(0).unwrap() + 3;
    net.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(120));
    for height in [1, target / 2, target] {
        let reference = net.block(0, height);
        for i in 1..4 {
            let block = net.block(i, height);
            assert_eq!(
                block["block_id"], reference["block_id"],
                "height {height}, node {i}"
            );
            assert_eq!(
                block["block"]["header"]["state_root"], reference["block"]["header"]["state_root"],
                "height {height}, node {i}"
            );
        }
    }
    let answer = wait_committed(&net, 3, &during_id, Duration::from_secs(10));
    assert_eq!(answer["receipt"]["outcome"], "Accepted");

    // The chain entry an auditor exports is the same block, certificate and receipts, and
    // its certificate verifies with the ledger crate alone.
    let validators = net.genesis.validator_set().unwrap();
    for i in [0, 3] {
        let (status, bytes) = net.get_bytes(i, &format!("/v1/chain/{target}"));
        assert_eq!(status, 200);
        let entry = ChainEntry::from_bytes(&bytes).unwrap();
        assert_eq!(entry.height(), target);
        assert_eq!(
            entry.block.id(SUITE).to_hex(),
            net.block(0, target)["block_id"].as_str().unwrap()
        );
        entry
            .certificate
            .verify(
                &net.genesis.chain_id,
                target,
                &entry.block.id(SUITE),
                &validators,
            )
            .unwrap();
    }

    // The state and metrics endpoints answer.
    let (status, _) = net.get(3, "/v1/state").unwrap();
    assert_eq!(status, 200);
    let (status, metrics) = net.get(3, "/metrics").unwrap();
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("xinbao_height"));
    // Prometheus' own checker reads the exposition as a scraper would, and lints it.
    let promtool = std::path::Path::new("/usr/bin/promtool");
    assert!(
        promtool.exists(),
        "promtool is missing: install Debian's prometheus (apt-get install \
         --no-install-recommends prometheus), as .ci/run does"
    );
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
