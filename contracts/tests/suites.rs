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

/// R11.4 (1) on an SM2 chain: a node's SM2 consensus key needs an ed25519 transport key
/// that it signed; without one, with one of another algorithm or with a binding another
/// key made, the change is refused; a rotation binds a new transport key, and the audit
/// checks the chain.
#[test]
fn sm2_nodes_join_and_rotate_with_a_bound_transport_key() {
    use contracts::chain::height_config;
    use ledger::action::{AddValidator, RotateValidatorKey};
    use ledger::block::Outcome;
    use ledger::crypto::SecretKey;
    use ledger::validators::TransportKey;
    use ledger::{Code, Id, OrgKind, Text};

    const T0: u64 = 1_767_225_600_000;
    let orgs: Vec<(Id, OrgKind)> = [
        ("bank", OrgKind::Bank),
        ("ins", OrgKind::Insurer),
        ("gov", OrgKind::Government),
        ("reg", OrgKind::Regulator),
    ]
    .iter()
    .map(|(n, k)| (testkit::id(n), *k))
    .collect();
    let genesis = testkit::genesis_in(&orgs, T0, 1, Suite::Sm2Sm3);
    assert!(genesis.validators.iter().all(|v| v
        .transport
        .is_some_and(|t| t.key.algorithm() == Algorithm::Ed25519)));
    let admins: Vec<SecretKey> = ["bank", "ins", "gov", "reg"]
        .iter()
        .map(|o| testkit::org_key_in(Suite::Sm2Sm3, o))
        .collect();
    let mut builder = testkit::ChainBuilder::new(genesis);
    let mut nonce = 0;
    let mut run = |builder: &mut testkit::ChainBuilder, action: Action| -> Outcome {
        nonce += 1;
        let height = builder.next_height();
        let tx = testkit::signed_tx(nonce, height + 10, action, &admins);
        let time = T0 + height * 86_400_000;
        builder.push_block(time, vec![tx]).receipts[0].outcome
    };

    let node = SecretKey::from_seed_for(Algorithm::Sm2, [0x51; 32]);
    let transport = SecretKey::from_seed([0x52; 32]);
    let replacement = SecretKey::from_seed_for(Algorithm::Sm2, [0x54; 32]);
    builder.learn_key(node.clone());
    builder.learn_key(replacement.clone());
    let add = |transport: Option<TransportKey>| {
        Action::AddValidator(AddValidator {
            org: testkit::id("bank"),
            consensus_key: node.public_key(),
            voting_power: 1,
            address: Text::new("/ip4/10.0.0.5/tcp/27000").unwrap(),
            transport,
        })
    };
    let bound = TransportKey::bind(&node, transport.public_key()).unwrap();
    let stranger = SecretKey::from_seed_for(Algorithm::Sm2, [0x53; 32]);
    let cases = [
        (None, Code::InvalidField),
        (
            Some(TransportKey::bind(&stranger, transport.public_key()).unwrap()),
            Code::InvalidField,
        ),
        (
            Some(TransportKey {
                key: stranger.public_key(),
                signature: bound.signature,
            }),
            Code::WrongAlgorithm,
        ),
        (
            Some(TransportKey {
                key: testkit::transport_key(0).public_key(),
                ..bound
            }),
            Code::InvalidField,
        ),
    ];
    for (transport, code) in cases {
        assert_eq!(
            run(&mut builder, add(transport)),
            Outcome::Rejected(code),
            "{transport:?}"
        );
    }
    // Another node's transport key, bound by this one: one network identity for two
    // nodes is refused.
    let taken = TransportKey::bind(&node, testkit::transport_key(0).public_key()).unwrap();
    assert_eq!(
        run(&mut builder, add(Some(taken))),
        Outcome::Rejected(Code::DuplicateKey)
    );
    assert_eq!(run(&mut builder, add(Some(bound))), Outcome::Accepted);

    // A rotation: the new SM2 key must bind a transport key of its own.
    let rotate = |new_transport: Option<TransportKey>| {
        Action::RotateValidatorKey(RotateValidatorKey {
            consensus_key: node.public_key(),
            new_consensus_key: replacement.public_key(),
            address: None,
            new_transport,
        })
    };
    assert_eq!(
        run(&mut builder, rotate(None)),
        Outcome::Rejected(Code::InvalidField)
    );
    assert_eq!(
        run(&mut builder, rotate(Some(bound))),
        Outcome::Rejected(Code::InvalidField),
        "the old key's binding does not carry over"
    );
    let rebound = TransportKey::bind(&replacement, transport.public_key()).unwrap();
    assert_eq!(run(&mut builder, rotate(Some(rebound))), Outcome::Accepted);
    let height = builder.next_height() + 2;
    for _ in 0..3 {
        let time = builder.last_time_ms() + 1_000;
        builder.push_block(time, Vec::new());
    }
    let config = height_config(builder.state(), height);
    let entry = config.roster.get(&replacement.public_key()).unwrap();
    assert_eq!(entry.transport, Some(rebound));
    assert_eq!(entry.network_key(), transport.public_key());
    assert!(config.roster.get(&node.public_key()).is_none());
    assert!(verify_chain(
        &builder.genesis,
        &builder.file_header(),
        builder.entries.iter().cloned().map(Ok::<_, String>),
        |_| {},
    )
    .is_ok());
}

/// A genesis's nodes: an SM2 consensus key without a transport key, or with one it did not
/// bind, is refused; an ed25519 node may have one (a consensus key in a hardware module).
#[test]
fn a_genesis_node_needs_a_transport_key_its_consensus_key_bound() {
    use ledger::genesis::GenesisError;
    use ledger::validators::{TransportError, TransportKey};
    use ledger::{Id, OrgKind};

    let orgs: Vec<(Id, OrgKind)> = vec![(testkit::id("bank"), OrgKind::Bank)];
    let sm2 = testkit::genesis_in(&orgs, 0, 1, Suite::Sm2Sm3);
    assert_eq!(sm2.validate(), Ok(()));
    let mut missing = sm2.clone();
    missing.validators[1].transport = None;
    assert!(
        matches!(
            missing.validate(),
            Err(GenesisError::BadTransport {
                reason: TransportError::Missing(Algorithm::Sm2),
                ..
            })
        ),
        "{:?}",
        missing.validate()
    );
    let mut swapped = sm2.clone();
    swapped.validators[1].transport = sm2.validators[2].transport;
    assert!(matches!(
        swapped.validate(),
        Err(GenesisError::BadTransport {
            reason: TransportError::BadBinding(_),
            ..
        })
    ));

    let mut ed = testkit::genesis_in(&orgs, 0, 1, Suite::Ed25519Blake3);
    assert!(ed.validators.iter().all(|v| v.transport.is_none()));
    let transport = testkit::transport_key(0).public_key();
    ed.validators[0].transport =
        Some(TransportKey::bind(&testkit::validator_key(0), transport).unwrap());
    assert_eq!(ed.validate(), Ok(()));
    let roster = ed.roster().unwrap();
    let node = roster.get(&testkit::validator_key(0).public_key()).unwrap();
    assert_eq!(node.network_key(), transport);
}
