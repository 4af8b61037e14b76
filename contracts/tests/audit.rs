//! The independent audit: clean chains verify and reproduce the worked examples' figures;
//! every kind of tampering is caught, at the right height, with its own message.

use contracts::audit::{verify_chain, AuditFailure, LinkFault, Verdict};
use contracts::chain::BlockError;
use contracts::testkit::{self, ChainBuilder, ScenarioChain};
use ledger::block::{Block, BlockHeader, Outcome};
use ledger::export::{ChainEntry, ChainHeader, ChainReader, ExportError};
use ledger::genesis::Genesis;
use ledger::vote::CertificateError;
use ledger::{Action, Code, Date};
use serde_json::Value;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

fn example(name: &str) -> ScenarioChain {
    testkit::scenario_chain(&testkit::worked_example(name))
}

fn ningbo() -> ScenarioChain {
    example("a-ningbo-style.json")
}

fn audit(
    genesis: &Genesis,
    header: &ChainHeader,
    entries: &[ChainEntry],
) -> Result<Verdict, AuditFailure> {
    verify_chain(
        genesis,
        header,
        entries.iter().cloned().map(Ok::<_, ExportError>),
        |_| {},
    )
}

fn audit_chain(chain: &ScenarioChain) -> Result<Verdict, AuditFailure> {
    audit(&chain.genesis, &chain.file_header(), &chain.entries)
}

/// Audits `chain` with `tamper` applied to its entries; returns the failure.
fn tampered(tamper: impl FnOnce(&mut Vec<ChainEntry>)) -> AuditFailure {
    let chain = ningbo();
    let mut entries = chain.entries.clone();
    tamper(&mut entries);
    let failure = audit(&chain.genesis, &chain.file_header(), &entries)
        .expect_err("tampering must be caught");
    eprintln!("{failure}");
    failure
}

/// The index of the first block whose one transaction the rulebook accepted.
fn accepted_block(entries: &[ChainEntry], from: usize) -> usize {
    (from..entries.len())
        .find(|&i| entries[i].receipts[0].outcome == Outcome::Accepted)
        .expect("an accepted transaction")
}

#[test]
fn clean_worked_example_chains_verify_and_report_the_examples_figures() {
    for name in testkit::WORKED_EXAMPLES {
        let text = testkit::worked_example(name);
        let chain = testkit::scenario_chain(&text);
        let mut progress = Vec::new();
        let verdict = verify_chain(
            &chain.genesis,
            &chain.file_header(),
            chain.entries.iter().cloned().map(Ok::<_, ExportError>),
            |p| progress.push(p.height),
        )
        .unwrap_or_else(|f| panic!("{name}: {f}"));
        let blocks = chain.entries.len() as u64;
        assert_eq!(verdict.blocks, blocks, "{name}");
        assert_eq!(verdict.height, blocks, "{name}");
        assert_eq!(progress, (1..=blocks).collect::<Vec<_>>(), "{name}");
        assert_eq!(verdict.txs, blocks, "{name}: one transaction per block");
        let rejected: u64 = verdict.rejected_by_code.values().sum();
        assert_eq!(verdict.accepted + rejected, verdict.txs, "{name}");
        assert_eq!(
            verdict.state_root,
            chain.entries.last().unwrap().block.header.state_root,
            "{name}"
        );

        // The report of the verified state is the example's result document ...
        let offline = contracts::scenario::run(&text).unwrap();
        assert!(
            offline.mismatches.is_empty(),
            "{name}: the example holds offline"
        );
        let mut on_chain = verdict.report();
        let mut expected = offline.result.clone();
        on_chain["rejected"] = Value::Null;
        expected["rejected"] = Value::Null;
        assert_eq!(on_chain, expected, "{name}");
        // ... with its `expect` block met ...
        let mut mismatches = Vec::new();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let mut expect = doc["expect"].clone();
        expect.as_object_mut().unwrap().remove("rejected");
        contracts::scenario::compare("", &expect, &verdict.report(), &mut mismatches);
        assert!(mismatches.is_empty(), "{name}: {mismatches:?}");

        // ... and the same steps rejected with the same codes, once the chain's
        // transaction numbers are mapped back to steps; steps that cannot be
        // transactions at all are the scenario's InvalidField.
        let mut steps: Vec<(u64, Code)> = verdict
            .rejected
            .iter()
            .map(|r| (chain.steps_on_chain[r.ordinal as usize - 1], r.code))
            .chain(chain.steps_skipped.iter().map(|&s| (s, Code::InvalidField)))
            .collect();
        steps.sort();
        let offline_steps: Vec<(u64, Code)> =
            offline.rejected.iter().map(|r| (r.step, r.code)).collect();
        assert_eq!(steps, offline_steps, "{name}");
        assert_eq!(
            verdict.date,
            Some(offline.date.unwrap()),
            "{name}: the last block's date"
        );
    }
}

#[test]
fn the_chain_file_round_trips_and_verifies_as_read() {
    let chain = ningbo();
    let bytes = chain.file_bytes();
    let reader = ChainReader::open(&bytes[..]).unwrap();
    let header = reader.header().clone();
    assert_eq!(header, chain.file_header());
    let verdict = verify_chain(&chain.genesis, &header, reader, |_| {}).unwrap();
    assert_eq!(verdict.blocks, chain.entries.len() as u64);
}

#[test]
fn a_truncated_file_is_unreadable_at_the_height_it_breaks() {
    let chain = ningbo();
    let bytes = chain.file_bytes();
    let cut = &bytes[..bytes.len() - 10];
    let reader = ChainReader::open(cut).unwrap();
    let header = reader.header().clone();
    let failure = verify_chain(&chain.genesis, &header, reader, |_| {}).unwrap_err();
    let last = chain.entries.len() as u64;
    assert!(
        matches!(failure, AuditFailure::Unreadable { height, .. } if height == last),
        "{failure}"
    );
    assert!(failure.to_string().contains("truncated"), "{failure}");
}

#[test]
fn a_changed_byte_in_a_transaction_is_not_what_the_header_certifies() {
    let failure = tampered(|entries| {
        let i = accepted_block(entries, 2);
        entries[i].block.txs[0].body.nonce ^= 1;
    });
    assert_eq!(failure.kind(), "TransactionsNotCertified");
    assert_eq!(failure.height(), Some(3));
    assert!(failure
        .to_string()
        .contains("not the ones the certified header commits to"));
}

#[test]
fn a_forged_transaction_signature_is_an_invalid_block() {
    let failure = tampered(|entries| {
        entries[4].block.txs[0].signatures[0].signature.0[10] ^= 1;
    });
    assert!(
        matches!(&failure, AuditFailure::InvalidBlock { height: 5, .. }),
        "{failure}"
    );
    assert!(failure.to_string().contains("signature 0"), "{failure}");
}

#[test]
fn a_signature_removed_from_a_certificate_leaves_it_short_of_a_quorum() {
    let failure = tampered(|entries| {
        entries[6].certificate.signatures.pop();
    });
    assert_eq!(
        failure,
        AuditFailure::Certificate {
            height: 7,
            error: CertificateError::NoQuorum {
                signed: 2,
                total: 4
            }
        }
    );
    assert!(failure.to_string().contains("not more than two thirds"));
}

#[test]
fn a_forged_precommit_signature_is_refused() {
    let failure = tampered(|entries| {
        entries[1].certificate.signatures[2].signature.0[0] ^= 0x40;
    });
    assert!(
        matches!(
            &failure,
            AuditFailure::Certificate {
                height: 2,
                error: CertificateError::BadSignature { .. }
            }
        ),
        "{failure}"
    );
    assert!(failure.to_string().contains("precommit signature"));
}

#[test]
fn a_signature_of_someone_not_a_validator_is_refused() {
    let failure = tampered(|entries| {
        let id = entries[3].block.id(SUITE);
        let outsider = testkit::certify(
            &testkit::id(testkit::CHAIN_ID),
            4,
            id,
            &[testkit::org_key("bank-a")],
        );
        entries[3].certificate.signatures[0] = outsider.signatures[0].clone();
    });
    assert!(
        matches!(
            &failure,
            AuditFailure::Certificate {
                height: 4,
                error: CertificateError::UnknownSigner(_)
            }
        ),
        "{failure}"
    );
}

#[test]
fn certificates_signed_by_two_of_four_validators_are_short_of_two_thirds() {
    let chain = ningbo();
    let mut builder = ChainBuilder::new(chain.genesis.clone());
    builder.certifiers = Some(2);
    for entry in &chain.entries {
        let header = &entry.block.header;
        builder.push_block(header.time_ms, entry.block.txs.clone());
    }
    let failure = audit(&chain.genesis, &builder.file_header(), &builder.entries).unwrap_err();
    assert_eq!(
        failure,
        AuditFailure::Certificate {
            height: 1,
            error: CertificateError::NoQuorum {
                signed: 2,
                total: 4
            }
        }
    );
}

#[test]
fn two_blocks_swapped_are_out_of_sequence() {
    let failure = tampered(|entries| entries.swap(7, 8));
    assert_eq!(
        failure,
        AuditFailure::OutOfSequence {
            expected: 8,
            found: 9
        }
    );
    assert!(failure.to_string().contains("out of order"));
}

#[test]
fn a_dropped_block_is_out_of_sequence() {
    let failure = tampered(|entries| {
        entries.remove(11);
    });
    assert_eq!(
        failure,
        AuditFailure::OutOfSequence {
            expected: 12,
            found: 13
        }
    );
    assert!(failure.to_string().contains("missing"));

    let failure = tampered(|entries| {
        entries.remove(0);
    });
    assert_eq!(
        failure,
        AuditFailure::OutOfSequence {
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn blocks_of_many_transactions_verify_and_prove_each_transaction() {
    // Worked example C with all the steps of one date in one block.
    let text = testkit::worked_example("c-guangzhou-style.json");
    let chain = testkit::scenario_chain(&text);
    let mut builder = ChainBuilder::new(chain.genesis.clone());
    let mut pending: Vec<ChainEntry> = Vec::new();
    let flush = |builder: &mut ChainBuilder, pending: &mut Vec<ChainEntry>| {
        if let Some(first) = pending.first() {
            let txs = pending.iter().flat_map(|e| e.block.txs.clone()).collect();
            builder.push_block(first.block.header.time_ms, txs);
            pending.clear();
        }
    };
    for entry in &chain.entries {
        let date = |e: &ChainEntry| Date::from_unix_ms_cst(e.block.header.time_ms).unwrap();
        if pending.first().is_some_and(|p| date(p) != date(entry)) {
            flush(&mut builder, &mut pending);
        }
        pending.push(entry.clone());
    }
    flush(&mut builder, &mut pending);
    assert!(builder.entries.len() < chain.entries.len());
    assert!(builder.entries.iter().any(|e| e.block.txs.len() >= 3));

    let verdict = audit(&chain.genesis, &builder.file_header(), &builder.entries).unwrap();
    assert_eq!(verdict.txs, chain.entries.len() as u64);
    let offline = contracts::scenario::run(&text).unwrap();
    let mut on_chain = verdict.report();
    let mut expected = offline.result;
    on_chain["rejected"] = Value::Null;
    expected["rejected"] = Value::Null;
    assert_eq!(on_chain, expected);

    for entry in &builder.entries {
        for index in 0..entry.block.txs.len() {
            let proof = ledger::proof::TxProof::from_entry(SUITE, entry, index).unwrap();
            let proven = proof.verify(&chain.genesis).unwrap();
            assert_eq!(proven.tx_id, entry.block.txs[index].id(SUITE));
            assert_eq!(proven.outcome, entry.receipts[index].outcome);
        }
    }

    // Two receipts of one block swapped: the first differing transaction is named.
    let mut entries = builder.entries.clone();
    let (at, entry) = entries
        .iter_mut()
        .enumerate()
        .find(|(_, e)| e.receipts.len() >= 2)
        .unwrap();
    entry.receipts.swap(0, 1);
    let tx = entry.block.txs[0].id(SUITE).to_string();
    let failure = audit(&chain.genesis, &builder.file_header(), &entries).unwrap_err();
    assert!(
        matches!(&failure, AuditFailure::ReceiptMismatch { height, index: 0, .. } if *height == at as u64 + 1),
        "{failure}"
    );
    assert!(failure.to_string().contains(&tx), "{failure}");
}

#[test]
fn an_altered_state_root_is_not_the_certified_header() {
    let failure = tampered(|entries| entries[9].block.header.state_root[0] ^= 1);
    assert!(
        matches!(
            &failure,
            AuditFailure::Certificate {
                height: 10,
                error: CertificateError::WrongBlock { .. }
            }
        ),
        "{failure}"
    );
}

#[test]
fn a_wrong_state_root_is_caught_even_when_a_quorum_certifies_it() {
    // Three colluding validators sign a header whose state root re-execution does not give.
    let chain = ningbo();
    let mut builder = ChainBuilder::new(chain.genesis.clone());
    for (i, entry) in chain.entries.iter().enumerate() {
        let time_ms = entry.block.header.time_ms;
        let txs = entry.block.txs.clone();
        if i == 5 {
            builder.push_block_with(time_ms, txs, |h| h.state_root[31] ^= 1);
        } else {
            builder.push_block(time_ms, txs);
        }
    }
    let failure = audit(&chain.genesis, &builder.file_header(), &builder.entries).unwrap_err();
    assert!(
        matches!(
            &failure,
            AuditFailure::RootMismatch {
                height: 6,
                field: "state_root",
                ..
            }
        ),
        "{failure}"
    );
}

#[test]
fn a_certified_time_that_goes_backwards_breaks_the_link() {
    let chain = ningbo();
    let mut builder = ChainBuilder::new(chain.genesis.clone());
    for (i, entry) in chain.entries.iter().enumerate().take(5) {
        let time_ms = if i == 4 {
            builder.last_time_ms()
        } else {
            entry.block.header.time_ms
        };
        builder.push_block(time_ms, entry.block.txs.clone());
    }
    let failure = audit(&chain.genesis, &builder.file_header(), &builder.entries).unwrap_err();
    assert!(
        matches!(
            &failure,
            AuditFailure::Link {
                height: 5,
                fault: LinkFault::Time,
                ..
            }
        ),
        "{failure}"
    );
}

#[test]
fn an_altered_receipt_names_the_transaction() {
    let mut tx = String::new();
    let failure = tampered(|entries| {
        let i = accepted_block(entries, 3);
        entries[i].receipts[0].outcome = Outcome::Rejected(Code::Unauthorized);
        tx = entries[i].receipts[0].tx_id.to_string();
    });
    assert!(
        matches!(&failure, AuditFailure::ReceiptMismatch { index: 0, .. }),
        "{failure}"
    );
    let text = failure.to_string();
    assert!(text.contains(&tx), "{text}");
    assert!(
        text.contains("stored as Rejected(Unauthorized), re-execution gives Accepted"),
        "{text}"
    );
}

#[test]
fn a_dropped_receipt_is_a_receipt_count_fault() {
    let failure = tampered(|entries| {
        entries[2].receipts.clear();
    });
    assert_eq!(
        failure,
        AuditFailure::ReceiptCount {
            height: 3,
            stored: 0,
            computed: 1
        }
    );
}

#[test]
fn a_validator_key_replaced_in_the_genesis_is_named() {
    let chain = ningbo();
    let mut genesis = chain.genesis.clone();
    genesis.validators[1].consensus_key = testkit::org_key("an impostor").public_key();
    let failure = audit(&genesis, &chain.file_header(), &chain.entries).unwrap_err();
    assert_eq!(failure.kind(), "ValidatorsNotGenesis");
    assert_eq!(failure.height(), Some(1));
    assert!(failure
        .to_string()
        .contains("a validator key or voting power differs"));

    // Named the same way when the chain comes without a file header (from a node), and
    // the genesis given is trusted as the one to start from.
    let mut header = chain.file_header();
    header.genesis_hash = genesis.hash();
    let failure = audit(&genesis, &header, &chain.entries).unwrap_err();
    assert_eq!(failure.kind(), "ValidatorsNotGenesis");
}

#[test]
fn a_header_naming_another_validator_set_breaks_the_link() {
    // Colluding validators certify a block 3 that names a validator set of their own.
    let chain = ningbo();
    let mut builder = ChainBuilder::new(chain.genesis.clone());
    for (i, entry) in chain.entries.iter().enumerate().take(3) {
        let time_ms = entry.block.header.time_ms;
        if i == 2 {
            builder.push_block_with(time_ms, entry.block.txs.clone(), |h| {
                h.validator_set_hash[0] ^= 1
            });
        } else {
            builder.push_block(time_ms, entry.block.txs.clone());
        }
    }
    let failure = audit(&chain.genesis, &builder.file_header(), &builder.entries).unwrap_err();
    assert!(
        matches!(
            &failure,
            AuditFailure::Link {
                height: 3,
                fault: LinkFault::ValidatorSet,
                ..
            }
        ),
        "{failure}"
    );
}

#[test]
fn a_genesis_the_chain_did_not_start_from_is_refused() {
    let chain = ningbo();
    let mut genesis = chain.genesis.clone();
    genesis.organisations[0].admin_key = testkit::org_key("someone else").public_key();
    let failure = audit(&genesis, &chain.file_header(), &chain.entries).unwrap_err();
    assert!(
        matches!(&failure, AuditFailure::GenesisMismatch { .. }),
        "{failure}"
    );
    assert!(failure
        .to_string()
        .contains("is not the one the chain started from"));

    // Even when the file's header is made to name that genesis, block 1 does not follow it.
    let mut header = chain.file_header();
    header.genesis_hash = genesis.hash();
    let failure = audit(&genesis, &header, &chain.entries).unwrap_err();
    assert!(
        matches!(&failure, AuditFailure::GenesisMismatch { .. }),
        "{failure}"
    );

    let mut other = chain.genesis.clone();
    other.chain_id = testkit::id("xinbao-elsewhere");
    let failure = audit(&other, &chain.file_header(), &chain.entries).unwrap_err();
    assert!(
        matches!(&failure, AuditFailure::WrongChain { .. }),
        "{failure}"
    );

    let mut invalid = chain.genesis.clone();
    invalid.validators.clear();
    let failure = audit(&invalid, &chain.file_header(), &chain.entries).unwrap_err();
    assert_eq!(failure.kind(), "GenesisInvalid");
}

#[test]
fn an_empty_chain_verifies_against_its_genesis_only() {
    let chain = ningbo();
    let verdict = audit(&chain.genesis, &chain.file_header(), &[]).unwrap();
    assert_eq!((verdict.blocks, verdict.txs, verdict.date), (0, 0, None));
    let mut genesis = chain.genesis.clone();
    genesis.params.block_time_ms += 1;
    assert_eq!(
        audit(&genesis, &chain.file_header(), &[])
            .unwrap_err()
            .kind(),
        "GenesisMismatch"
    );
}

#[test]
fn a_transaction_committed_twice_is_an_invalid_block_even_when_certified() {
    // Colluding validators certify a block 4 that commits block 3's transaction again.
    let chain = ningbo();
    let mut entries = chain.entries[..3].to_vec();
    let last = entries[2].block.header.clone();
    let replay = entries[2].block.txs.clone();
    let header = BlockHeader {
        height: 4,
        time_ms: last.time_ms + 1000,
        previous: last.id(SUITE),
        tx_root: ledger::block::tx_root(
            SUITE,
            &replay.iter().map(|t| t.id(SUITE)).collect::<Vec<_>>(),
        ),
        ..last
    };
    let keys: Vec<_> = (0..3).map(testkit::validator_key).collect();
    let certificate = testkit::certify(&header.chain_id, 4, header.id(SUITE), &keys);
    entries.push(ChainEntry {
        block: Block {
            header,
            txs: replay,
        },
        certificate,
        receipts: entries[2].receipts.clone(),
    });
    let failure = audit(&chain.genesis, &chain.file_header(), &entries).unwrap_err();
    assert!(
        matches!(
            &failure,
            AuditFailure::InvalidBlock { height: 4, error }
                if matches!(**error, BlockError::Duplicate { index: 0, .. })
        ),
        "{failure}"
    );
    assert!(failure.to_string().contains("was committed before"));
}

#[test]
fn counts_by_code_match_the_receipts() {
    let chain = example("c-guangzhou-style.json");
    let verdict = audit_chain(&chain).unwrap();
    let mut by_code = std::collections::BTreeMap::new();
    for entry in &chain.entries {
        for receipt in &entry.receipts {
            if let Outcome::Rejected(code) = receipt.outcome {
                *by_code.entry(code).or_insert(0u64) += 1;
            }
        }
    }
    assert_eq!(verdict.rejected_by_code, by_code);
    assert_eq!(verdict.date, Some("2025-11-11".parse::<Date>().unwrap()));
    // The chain holds the same actions the example lists.
    let first: &Action = &chain.entries[0].block.txs[0].body.action;
    assert_eq!(first.type_name(), "FileRate");
}

#[test]
fn a_settlement_proof_checks_with_the_genesis_alone_and_no_altered_byte_passes() {
    use ledger::proof::{ProofError, TxProof};
    let chain = ningbo();
    // The claim payment of the example: a settlement an enterprise or a court may ask about.
    let (i, entry) = chain
        .entries
        .iter()
        .enumerate()
        .find(|(_, e)| e.block.txs[0].body.action.type_name() == "ConfirmClaimPayment")
        .expect("the example pays a claim");
    let proof = TxProof::from_entry(SUITE, entry, 0).unwrap();
    let proven = proof.verify(&chain.genesis).unwrap();
    assert_eq!(proven.height, i as u64 + 1);
    assert_eq!(proven.outcome, Outcome::Accepted);
    assert_eq!(proven.tx_id, entry.block.txs[0].id(SUITE));
    assert_eq!(proven.signers.len(), 1);
    assert_eq!(proven.signers[0].1, Some(testkit::id("ins-a")));

    // The file form round-trips, and its readable fields must agree with the proof.
    let text = proof.to_json();
    assert_eq!(TxProof::from_json(text.as_bytes()).unwrap(), proof);
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["height"] = serde_json::json!(1);
    assert_eq!(
        TxProof::from_json(doc.to_string().as_bytes()),
        Err(ProofError::FieldMismatch("height"))
    );

    // Any one byte altered: refused, never proven.
    let bytes = proof.to_bytes();
    for at in 0..bytes.len() {
        let mut bent = bytes.clone();
        bent[at] ^= 0x01;
        if let Ok(altered) = TxProof::from_bytes(&bent) {
            assert!(
                altered.verify(&chain.genesis).is_err(),
                "byte {at} altered still proves"
            );
        }
    }

    // Against another consortium's genesis it proves nothing.
    let mut genesis = chain.genesis.clone();
    genesis.validators[0].consensus_key = testkit::org_key("an impostor").public_key();
    assert_eq!(
        proof.verify(&genesis),
        Err(ProofError::ValidatorsNotGenesis)
    );
    // A receipt moved to another transaction of the chain does not fit.
    let mut moved = proof.clone();
    moved.receipt = chain.entries[0].receipts[0].clone();
    assert!(matches!(
        moved.verify(&chain.genesis),
        Err(ProofError::ReceiptNotForTx { .. })
    ));
}
