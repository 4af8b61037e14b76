//! A thousand transactions submitted to all four validators are each committed once,
//! whoever proposes, and every validator ends with the same state root.

mod common;

use std::time::{Duration, Instant};

use common::Devnet;
use ledger::action::StaffKey;
use ledger::crypto::SecretKey;
use ledger::tx::{SignedTx, TxBody};
use ledger::{Action, Id};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

const TXS: u64 = 1_000;

#[test]
fn a_thousand_transactions_are_committed_once_each() {
    let mut net = Devnet::create("load", 300, false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(90));

    let started = Instant::now();
    let mut ids = Vec::new();
    for nonce in 0..TXS {
        let mut tx = SignedTx::unsigned(TxBody {
            chain_id: net.genesis.chain_id.clone(),
            nonce,
            expires_at_height: 5_000,
            action: Action::RegisterStaffKey(StaffKey {
                org: Id::new("bank").unwrap(),
                public_key: SecretKey::generate().public_key(),
            }),
        });
        tx.sign(&net.admin_keys[0]).unwrap();
        let node = (nonce % 4) as usize;
        let (status, answer) = net.post(node, "/v1/tx", "application/octet-stream", &tx.to_bytes());
        assert_eq!(status, 200, "{answer}");
        ids.push(tx.id(SUITE).to_hex());
    }
    let submitted = started.elapsed();

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut heights = std::collections::BTreeSet::new();
    for id in &ids {
        loop {
            if let Some((200, answer)) = net.get(0, &format!("/v1/tx/{id}")) {
                if answer["status"] == "committed" {
                    assert_eq!(answer["receipt"]["outcome"], "Accepted", "{answer}");
                    heights.insert(answer["height"].as_u64().unwrap());
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "transaction {id} not committed in time"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let committed = started.elapsed();
    eprintln!(
        "{TXS} transactions: submitted in {submitted:?}, all committed after {committed:?}, in {} blocks",
        heights.len()
    );

    let last = *heights.iter().max().unwrap();
    net.wait_height(&[0, 1, 2, 3], last, Duration::from_secs(30));
    let reference = net.block(0, last);
    let mut txs_in_blocks = 0;
    for height in heights.iter() {
        txs_in_blocks += net.block(0, *height)["block"]["txs"]
            .as_array()
            .unwrap()
            .len();
    }
    assert_eq!(
        txs_in_blocks as u64, TXS,
        "every transaction is in exactly one block"
    );
    for i in 1..4 {
        let block = net.block(i, last);
        assert_eq!(block["block_id"], reference["block_id"]);
        assert_eq!(
            block["block"]["header"]["state_root"],
            reference["block"]["header"]["state_root"]
        );
    }
}
