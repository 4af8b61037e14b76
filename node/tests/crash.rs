//! Crash test: a validator (a different one each time, by the seed) is killed with SIGKILL
//! at arbitrary moments while transactions are being committed, and restarted from its own
//! disk each time; then one validator loses its disk and syncs from genesis. Every node
//! (the victims, the wiped one and the survivors) must hold the same block and state root
//! at every height, and every transaction acknowledged must be committed exactly once, in
//! the same block, on every node.
//!
//! The kill instants are drawn from a seed (printed; `XINBAO_CRASH_SEED=N` replays it).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Devnet;
use serde_json::Value;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

const KILLS: usize = 4;

/// xorshift64: enough to spread kill instants reproducibly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn a_validator_killed_at_arbitrary_moments_recovers_to_the_same_state() {
    let seed = std::env::var("XINBAO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed: {seed} (replay with XINBAO_CRASH_SEED={seed})");
    let mut rng = Rng(seed);

    let mut net = Devnet::create("crash", 200, false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(90));

    let mut nonce = 0;
    // (transaction id, must it commit): a transaction taken only into the mempool of a
    // node killed soon after may be lost with it; one taken by a survivor may not.
    let mut acknowledged: Vec<(String, bool)> = Vec::new();
    for round in 0..KILLS {
        let victim = (rng.next() % 4) as usize;
        let survivor = (victim + 1) % 4;
        // Submit a burst of transactions to a survivor, then kill the victim after an
        // arbitrary delay (while those are being proposed, executed and written).
        let mut submitted = Vec::new();
        for _ in 0..50 {
            let tx = net.staff_key_tx(0, nonce);
            nonce += 1;
            let (status, answer) = net.post(
                (nonce % 3) as usize,
                "/v1/tx",
                "application/octet-stream",
                &tx.to_bytes(),
            );
            assert_eq!(status, 200, "{answer}");
            submitted.push((tx.id(SUITE).to_hex(), (nonce % 3) as usize));
        }
        std::thread::sleep(Duration::from_millis(rng.next() % 1_500));
        net.kill(victim);
        acknowledged.extend(submitted.into_iter().map(|(id, to)| (id, to != victim)));
        std::thread::sleep(Duration::from_millis(200 + rng.next() % 1_000));
        net.start(victim);
        let target = net.height(survivor).unwrap();
        net.wait_height(&[victim], target, Duration::from_secs(60));
        eprintln!("kill {round}: validator {victim} back at height {target}");
    }

    // A validator whose disk is lost starts from genesis and syncs the whole chain.
    net.kill(2);
    common::remove_dir(&net.node_dir(2).join("data"));
    net.start(2);

    let target = net.height(0).unwrap() + 2;
    net.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(60));
    let nodes = [0usize, 1, 2, 3];
    // A transaction may wait in the pools of some nodes only (a restarted node's pool is
    // empty, and gossip is not sent twice) until one of them proposes it in its turn:
    // wait until none is pending anywhere and every one a survivor took is committed
    // everywhere, or the time out.
    let status = |i: usize, id: &str| -> (Value, Value) {
        let (_, answer) = net
            .get(i, &format!("/v1/tx/{id}"))
            .unwrap_or_else(|| panic!("node {i} unreachable"));
        (answer["status"].clone(), answer["height"].clone())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let settled = |id: &str, must_commit: bool| {
        let seen: Vec<Value> = nodes.iter().map(|&i| status(i, id).0).collect();
        !seen.iter().any(|s| s == "pending")
            && (!must_commit || seen.iter().all(|s| s == "committed"))
    };
    while std::time::Instant::now() < deadline
        && !acknowledged
            .iter()
            .all(|(id, must_commit)| settled(id, *must_commit))
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let top = nodes.iter().map(|&i| net.height(i).unwrap()).min().unwrap();
    net.assert_same_chain(&nodes, top);
    // A transaction committed anywhere is committed once, at one height, on every node;
    // every transaction a surviving node took is committed.
    for (id, must_commit) in &acknowledged {
        let seen: Vec<(Value, Value)> = nodes.iter().map(|&i| status(i, id)).collect();
        let committed = seen.iter().filter(|(s, _)| s == "committed").count();
        assert!(
            committed == 0 || committed == nodes.len(),
            "tx {id}: {seen:?}"
        );
        assert!(seen.iter().all(|s| *s == seen[0]), "tx {id}: {seen:?}");
        if *must_commit {
            assert_eq!(committed, nodes.len(), "tx {id} was lost: {seen:?}");
        }
    }
}
