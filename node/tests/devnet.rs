//! Four validators as separate processes decide the same blocks; a devnet clock moves
//! block time where it is set, and only on a node started with it.

mod common;

use std::time::Duration;

use common::Devnet;
use ledger::block::{BlockId, CommitCertificate};
use serde_json::json;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

#[test]
fn four_validators_decide_the_same_blocks() {
    let mut net = Devnet::create("decide", 300, false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 5, Duration::from_secs(90));
    for height in 1..=5 {
        let ids: Vec<String> = (0..4)
            .map(|i| {
                net.block(i, height)["block_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "height {height}: block ids differ: {ids:?}"
        );
        // Every certificate checks out with the ledger crate alone, as an auditor checks it.
        let served = net.block(0, height);
        let cert: CommitCertificate =
            serde_json::from_value(served["certificate"].clone()).unwrap();
        let block_id = BlockId::from_hex(served["block_id"].as_str().unwrap()).unwrap();
        let validators = net.genesis.validator_set().unwrap();
        cert.verify(&net.genesis.chain_id, height, &block_id, &validators)
            .unwrap_or_else(|e| panic!("height {height}: {e}"));
    }
    // Paced by the genesis block time, not flat out (unpaced, a height takes a few ms): four
    // intervals of 300 ms, with slack for a height whose time was set in an earlier round.
    let t1 = net.block(0, 1)["block"]["header"]["time_ms"]
        .as_u64()
        .unwrap();
    let t5 = net.block(0, 5)["block"]["header"]["time_ms"]
        .as_u64()
        .unwrap();
    assert!(t5 - t1 >= 2 * 300, "heights 1 to 5 took {} ms", t5 - t1);

    // Without --devnet-clock the clock cannot be set.
    let (status, answer) = net.post(
        0,
        "/v1/devnet/clock",
        "application/json",
        json!({ "time_ms": 1 }).to_string().as_bytes(),
    );
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "DevnetClockOff");

    let (status, peers) = net.get(0, "/v1/status").unwrap();
    assert_eq!(status, 200);
    assert_eq!(peers["validators"].as_array().unwrap().len(), 4);
}

#[test]
fn devnet_clock_sets_block_time() {
    let mut net = Devnet::create("clock", 200, true);
    net.start_all();
    // A devnet clock stands still until it is set: after the block that starting makes,
    // an idle devnet waits for work or for its clock to reach another day.
    net.wait_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    let before = net.height(0).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(net.height(0), Some(before), "an idle devnet made blocks");
    // A year ahead, on every node (each proposer takes time from its own clock): the day
    // has turned, so the next height starts without any transaction.
    let ahead_ms = net.block(0, 1)["block"]["header"]["time_ms"]
        .as_u64()
        .unwrap()
        + 365 * 86_400_000;
    for i in 0..4 {
        let (status, answer) = net.post(
            i,
            "/v1/devnet/clock",
            "application/json",
            json!({ "time_ms": ahead_ms }).to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let height = before + 1;
    net.wait_height(&[0, 1, 2, 3], height, Duration::from_secs(60));
    let block = net.block(0, height);
    let time_ms = block["block"]["header"]["time_ms"].as_u64().unwrap();
    assert!(
        time_ms >= ahead_ms,
        "block time {time_ms} is before the clock {ahead_ms}"
    );
    assert!(
        time_ms < ahead_ms + 1_000,
        "block time {time_ms} ran ahead of the clock"
    );
    // The state is dated by the new day's block (R10: as of the latest block's date).
    let (_, state) = net.get(0, "/v1/state").unwrap();
    let expected = ledger::Date::from_unix_ms_cst(ahead_ms)
        .unwrap()
        .to_string();
    assert_eq!(state["date"], expected.as_str());
}

#[test]
fn a_readable_key_an_unapproved_genesis_or_an_unknown_key_without_an_address_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    let net = Devnet::create("refuse", 300, false);
    let dir = net.node_dir(0);
    let key = dir.join("consensus.key");
    let config = dir.join("config.toml");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_xinbao-node"))
            .arg("--config")
            .arg(&config)
            .output()
            .expect("run xinbao-node")
    };

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // R11.1: a genesis one founder has not approved starts no node, and the node names it.
    let genesis_path = net.dir.join("genesis.json");
    let approved = std::fs::read_to_string(&genesis_path).unwrap();
    let mut file = ledger::genesis::GenesisFile::from_json(approved.as_bytes()).unwrap();
    file.approvals.retain(|a| a.org.as_str() != "regulator");
    std::fs::write(&genesis_path, file.to_json()).unwrap();
    let out = run();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not approved by regulator"), "{stderr}");
    std::fs::write(&genesis_path, approved).unwrap();

    // A key the roster does not name has no address to listen on unless one is given.
    std::fs::remove_file(&key).unwrap();
    ledger::crypto::SecretKey::generate()
        .write_new_file(&key)
        .unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let without_listen: String = text
        .lines()
        .filter(|l| !l.starts_with("p2p_listen"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, without_listen).unwrap();
    let out = run();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not in the roster"), "{stderr}");
}

#[test]
fn an_idle_consortium_makes_blocks_only_for_work_its_heartbeat_or_a_new_day() {
    use ledger::action::StaffKey;
    use ledger::tx::{SignedTx, TxBody};
    use ledger::{Action, Id};

    // A block may follow 200 ms after the last, but an idle network makes one only every
    // 4 s (its heartbeat).
    let mut net = Devnet::create_with("idle", 200, 4_000, false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    let first = net.height(0).unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(net.height(0), Some(first), "an idle network made a block");
    net.wait_height(&[0, 1, 2, 3], first + 1, Duration::from_secs(20));
    let gap = net.block(0, first + 1)["time_ms"].as_u64().unwrap()
        - net.block(0, first)["time_ms"].as_u64().unwrap();
    assert!(gap >= 4_000, "the heartbeat came after {gap} ms");

    // Work makes a block at once, whoever it was submitted to.
    let tip = net.height(3).unwrap();
    let mut tx = SignedTx::unsigned(TxBody {
        chain_id: net.genesis.chain_id.clone(),
        nonce: 1,
        expires_at_height: tip + 100,
        action: Action::RegisterStaffKey(StaffKey {
            org: Id::new("bank").unwrap(),
            public_key: ledger::crypto::SecretKey::generate().public_key(),
        }),
    });
    tx.sign(&net.admin_keys[0]).unwrap();
    let submitted = std::time::Instant::now();
    let (status, answer) = net.post(3, "/v1/tx", "application/octet-stream", &tx.to_bytes());
    assert_eq!(status, 200, "{answer}");
    let id = tx.id(SUITE).to_hex();
    loop {
        let (_, status) = net.get(0, &format!("/v1/tx/{id}")).unwrap();
        if status["status"] == "committed" {
            break;
        }
        assert!(
            submitted.elapsed() < Duration::from_secs(3),
            "the transaction waited for the heartbeat: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
