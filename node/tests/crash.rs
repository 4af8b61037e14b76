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

use common::{Devnet, Rng};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

const KILLS: usize = 4;

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
    let mut rng = Rng::new(seed);

    let mut net = Devnet::create("crash", 200, false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(90));

    let mut nonce = 0;
    // (transaction id, must it commit): a transaction taken only into the mempool of a
    // node killed soon after may be lost with it; one taken by a survivor may not.
    let mut acknowledged: Vec<(String, bool)> = Vec::new();
    for round in 0..KILLS {
        let victim = (rng.next_u64() % 4) as usize;
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
        std::thread::sleep(Duration::from_millis(rng.next_u64() % 1_500));
        net.kill(victim);
        acknowledged.extend(submitted.into_iter().map(|(id, to)| (id, to != victim)));
        std::thread::sleep(Duration::from_millis(200 + rng.next_u64() % 1_000));
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
    net.assert_settled(&acknowledged, Duration::from_secs(60));
}
