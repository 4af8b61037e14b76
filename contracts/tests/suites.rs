//! A chain of the `sm2-sm3` suite: its ids, roots and genesis hash are SM3, its signatures
//! SM2; the rulebook does not depend on the suite, so every worked example replayed as an
//! SM2 chain gives the figures it gives as an ed25519 chain; the audit and the proofs check
//! it from its genesis alone and catch a tampered byte; a key of the other suite is
//! refused.

use contracts::audit::{verify_chain, AuditFailure, Verdict};
use contracts::chain::{self, BlockError};
use contracts::testkit::{self, ScenarioChain};
use ledger::block::{BlockId, Outcome};
use ledger::crypto::{self, Algorithm, Suite};
use ledger::export::{ChainEntry, ExportError};
use ledger::proof::{ProofError, TxProof};
use ledger::tx::TxError;
use ledger::{codec, Action};

fn audit(chain: &ScenarioChain, entries: &[ChainEntry]) -> Result<Verdict, AuditFailure> {
    verify_chain(
        &chain.genesis,
        &chain.file_header(),
        entries.iter().cloned().map(Ok::<_, ExportError>),
        |_| {},
    )
}

fn sm2_chain(name: &str) -> ScenarioChain {
    testkit::scenario_chain_in(&testkit::worked_example(name), Suite::Sm2Sm3)
}

#[test]
fn every_worked_example_gives_the_same_figures_under_both_suites() {
    for name in testkit::WORKED_EXAMPLES {
        let text = testkit::worked_example(name);
        let ed = testkit::scenario_chain_in(&text, Suite::Ed25519Blake3);
        let sm = testkit::scenario_chain_in(&text, Suite::Sm2Sm3);
        let ed_verdict = audit(&ed, &ed.entries).unwrap_or_else(|f| panic!("{name}: {f}"));
        let sm_verdict = audit(&sm, &sm.entries).unwrap_or_else(|f| panic!("{name}: {f}"));
        assert_eq!(sm_verdict.report(), ed_verdict.report(), "{name}");
        assert_eq!(sm_verdict.accepted, ed_verdict.accepted, "{name}");
        assert_eq!(
            sm_verdict.rejected_by_code, ed_verdict.rejected_by_code,
            "{name}"
        );
        // ... while every hash differs.
        assert_ne!(sm.genesis.hash(), ed.genesis.hash(), "{name}");
        assert_ne!(sm_verdict.state_root, ed_verdict.state_root, "{name}");
    }
}

#[test]
fn an_sm2_chain_hashes_with_sm3_and_signs_with_sm2() {
    let chain = sm2_chain("a-ningbo-style.json");
    let genesis = &chain.genesis;
    assert_eq!(genesis.crypto_suite, Suite::Sm2Sm3);
    assert_eq!(genesis.hash(), crypto::sm3(&codec::encode(genesis)));
    assert!(genesis
        .organisations
        .iter()
        .all(|o| o.admin_key.algorithm() == Algorithm::Sm2));
    let entry = &chain.entries[0];
    let header = &entry.block.header;
    assert_eq!(
        header.id(Suite::Sm2Sm3),
        BlockId(crypto::sm3(&codec::encode(header)))
    );
    assert_eq!(entry.certificate.block_id, header.id(Suite::Sm2Sm3));
    assert_eq!(header.previous, BlockId(genesis.hash()));
    let tx = &entry.block.txs[0];
    assert_eq!(
        tx.id(Suite::Sm2Sm3).0,
        crypto::sm3(&codec::encode(&tx.body))
    );
    assert_eq!(tx.signatures[0].public_key.algorithm(), Algorithm::Sm2);
    assert!(entry
        .certificate
        .signatures
        .iter()
        .all(|s| s.validator.algorithm() == Algorithm::Sm2));
}

#[test]
fn a_tampered_byte_of_an_sm2_chain_is_caught() {
    let chain = sm2_chain("a-ningbo-style.json");
    let mut entries = chain.entries.clone();
    entries[2].block.txs[0].signatures[0].signature.0[40] ^= 1;
    let failure = audit(&chain, &entries).expect_err("a spoiled signature is caught");
    assert!(
        matches!(&failure, AuditFailure::InvalidBlock { height: 3, .. }),
        "{failure}"
    );
    let mut entries = chain.entries.clone();
    entries[4].receipts[0].outcome = Outcome::Rejected(ledger::Code::Unauthorized);
    let failure = audit(&chain, &entries).expect_err("a changed receipt is caught");
    assert_eq!(failure.height(), Some(5), "{failure}");
    // The chain audited as an ed25519 chain is refused at once.
    let mut file = chain.file_header();
    file.crypto_suite = Suite::Ed25519Blake3;
    let failure = verify_chain(
        &chain.genesis,
        &file,
        chain.entries.iter().cloned().map(Ok::<_, ExportError>),
        |_| {},
    )
    .expect_err("a file of the other suite");
    assert_eq!(failure.kind(), "WrongSuite");
}

#[test]
fn a_proof_from_an_sm2_chain_checks_with_its_genesis_alone() {
    let chain = sm2_chain("a-ningbo-style.json");
    let entry = &chain.entries[3];
    let proof = TxProof::from_entry(Suite::Sm2Sm3, entry, 0).unwrap();
    let read = TxProof::from_json(proof.to_json().as_bytes()).unwrap();
    let proven = read.verify(&chain.genesis).unwrap();
    assert_eq!(proven.tx_id, entry.block.txs[0].id(Suite::Sm2Sm3));
    let text = proof.to_json();
    assert!(text.contains("\"crypto_suite\": \"sm2-sm3\""), "{text}");
    // Made as if of the other suite, it proves nothing.
    let wrong = TxProof::from_entry(Suite::Ed25519Blake3, entry, 0).unwrap();
    assert_eq!(
        wrong.verify(&chain.genesis),
        Err(ProofError::WrongSuite {
            proof: Suite::Ed25519Blake3,
            genesis: Suite::Sm2Sm3
        })
    );
}

#[test]
fn a_key_of_the_other_suite_is_refused_in_a_block_and_in_governance() {
    let chain = sm2_chain("a-ningbo-style.json");
    // An ed25519 signer on the SM2 chain.
    let mut tx = chain.entries[0].block.txs[0].clone();
    tx.signatures.clear();
    tx.sign(&testkit::org_key("gov")).unwrap();
    let refused = chain::verify_txs(&chain.genesis.chain_id, Suite::Sm2Sm3, &[tx]);
    assert!(
        matches!(
            refused,
            Err(BlockError::BadTransaction {
                reason: TxError::WrongAlgorithm {
                    expected: Algorithm::Sm2,
                    ..
                },
                ..
            })
        ),
        "{refused:?}"
    );
    // R11.4: an ed25519 admin key proposed for a member of the SM2 chain.
    let admit: Action = serde_json::from_value(serde_json::json!({
        "type": "AdmitOrganisation",
        "org": "bank-9",
        "kind": "Bank",
        "admin_key": testkit::org_key("bank-9").public_key().to_string(),
    }))
    .unwrap();
    let ctx = contracts::TxContext {
        date: ledger::Date::from_ymd(2025, 1, 1).unwrap(),
        signers: vec![],
        approvers: vec![],
        height: 1,
        version: 1,
        suite: Suite::Sm2Sm3,
    };
    assert_eq!(
        contracts::execute(&ledger::state::MemoryStore::new(), &ctx, &admit),
        Err(ledger::Code::WrongAlgorithm)
    );
}
