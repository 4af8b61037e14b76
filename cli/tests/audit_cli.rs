//! `xinbao audit` and `xinbao chain export` as an auditor runs them: the real binary on
//! chain files and genesis files that the test kit writes, and on a stand-in node that
//! serves the chain endpoints over loopback HTTP.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use contracts::testkit::{self, ScenarioChain};
use ledger::export::ChainEntry;
use serde_json::Value;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

fn xinbao(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xinbao"))
        .args(args)
        .output()
        .expect("run xinbao")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh directory for one test's files, removed when the test passes (kept when it
/// fails, to be looked at).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("xinbao-audit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn ningbo() -> ScenarioChain {
    testkit::scenario_chain(&testkit::worked_example("a-ningbo-style.json"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_clean_chain_verifies_with_counts_and_rate() {
    let chain = ningbo();
    let dir = scratch("clean");
    let (genesis, file) = chain.write_files(&dir);
    let out = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&file),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("VERIFIED"), "{text}");
    let blocks = chain.entries.len();
    assert!(
        text.contains(&format!("{blocks} blocks (heights 1 to {blocks})")),
        "{text}"
    );
    assert!(text.contains("transactions/s"), "{text}");
    assert!(text.contains("RateNotFiled: 1"), "{text}");

    let out = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&file),
        "--json",
    ]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["verified"], true);
    assert_eq!(doc["blocks"], blocks as u64);
    assert_eq!(doc["txs"], blocks as u64);
    assert!(doc["txs_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_tampered_chain_fails_with_the_first_bad_height() {
    let chain = ningbo();
    let dir = scratch("tampered");
    let (genesis, _) = chain.write_files(&dir);

    let mut receipts = chain.entries.clone();
    receipts[6].receipts[0].outcome = ledger::block::Outcome::Rejected(ledger::Code::Overpayment);
    let mut dropped = chain.entries.clone();
    dropped.remove(3);
    for (name, entries, height, kind) in [
        ("receipt", receipts, 7, "ReceiptMismatch"),
        ("dropped", dropped, 4, "OutOfSequence"),
    ] {
        let file = dir.join(format!("{name}.xbc"));
        std::fs::write(&file, testkit::chain_file(&chain.file_header(), &entries)).unwrap();
        let out = xinbao(&[
            "audit",
            "verify",
            "--genesis",
            s(&genesis),
            "--chain",
            s(&file),
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let text = stdout(&out);
        assert!(
            text.contains(&format!("NOT VERIFIED: first bad height {height}")),
            "{name}: {text}"
        );
        assert!(stderr(&out).contains(kind), "{name}: {}", stderr(&out));
        let out = xinbao(&[
            "audit",
            "verify",
            "--genesis",
            s(&genesis),
            "--chain",
            s(&file),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["verified"], false);
        assert_eq!(doc["height"], height);
        assert_eq!(doc["fault"], kind);
    }

    // Bytes cut off the end: the last entry is unreadable.
    let whole = chain.file_bytes();
    let cut = dir.join("cut.xbc");
    std::fs::write(&cut, &whole[..whole.len() - 3]).unwrap();
    let out = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&cut),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("truncated"), "{}", stdout(&out));

    // Another consortium's genesis.
    let mut other = chain.genesis.clone();
    other.organisations[1].admin_key = testkit::org_key("someone else").public_key();
    let other_path = dir.join("other-genesis.json");
    std::fs::write(&other_path, other.to_json()).unwrap();
    let (_, file) = chain.write_files(&dir.join("again"));
    let out = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        s(&other_path),
        "--chain",
        s(&file),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("is not the one the chain started from"),
        "{}",
        stdout(&out)
    );

    // Not a chain file at all: the command cannot run.
    let junk = dir.join("junk.xbc");
    std::fs::write(&junk, b"hello").unwrap();
    let out = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&junk),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a xinbao chain file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_report_shows_the_examples_figures_in_every_format() {
    for name in testkit::WORKED_EXAMPLES {
        let text = testkit::worked_example(name);
        let chain = testkit::scenario_chain(&text);
        let dir = scratch(&format!("report-{name}"));
        let (genesis, file) = chain.write_files(&dir);
        let out = xinbao(&[
            "audit",
            "report",
            "--genesis",
            s(&genesis),
            "--chain",
            s(&file),
            "--format",
            "json",
        ]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let offline = contracts::scenario::run(&text).unwrap();
        let mut result = doc["result"].clone();
        let mut expected = offline.result.clone();
        result["rejected"] = Value::Null;
        expected["rejected"] = Value::Null;
        assert_eq!(result, expected, "{name}");
        // Every claim of the example has its history, with a filing event first.
        for (id, claim) in offline.result["claims"].as_object().unwrap() {
            let programme = doc["programmes"]
                .as_object()
                .unwrap()
                .values()
                .find(|p| p["claims"].get(id).is_some())
                .unwrap_or_else(|| panic!("{name}: claim {id} in no programme"));
            let on_chain = &programme["claims"][id];
            assert_eq!(on_chain["loss_fen"], claim["loss_fen"], "{name} {id}");
            assert_eq!(on_chain["events"][0]["type"], "FileClaim", "{name} {id}");
        }
        assert!(!doc["regulator"]["monthly"].as_array().unwrap().is_empty());
        assert!(doc["regulator"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["filed"] == true));
    }

    // Worked example C: the insurer's cap, a reinsurer and recoveries, in Markdown and CSV.
    let chain = testkit::scenario_chain(&testkit::worked_example("c-guangzhou-style.json"));
    let dir = scratch("report-md");
    let (genesis, file) = chain.write_files(&dir);
    let out = xinbao(&[
        "audit",
        "report",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&file),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    for needle in [
        "# Audit report: chain xinbao-testkit",
        "### Claims",
        "clm-c1",
        "3,000,000.00",
        "## Totals per organisation",
        "re-c",
        "### Policies against filed rates",
        "### Month ends",
        "RecordRecovery",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    let out = xinbao(&[
        "audit",
        "report",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&file),
        "--format",
        "csv",
    ]);
    assert!(out.status.success());
    let csv = stdout(&out);
    assert!(csv.starts_with("section,path,value\n"), "{csv}");
    assert!(
        csv.contains("result,claims.clm-c1.fund_fen,300000000\n"),
        "{csv}"
    );
}

#[test]
fn a_proof_checks_with_the_genesis_alone_and_an_altered_one_does_not() {
    let chain = ningbo();
    let dir = scratch("proof");
    let (genesis, file) = chain.write_files(&dir);
    let entry = chain
        .entries
        .iter()
        .find(|e| {
            e.block.txs[0].body.action.type_name() == "DecideClaim"
                && e.receipts[0].outcome == ledger::block::Outcome::Accepted
        })
        .unwrap();
    let id = entry.block.txs[0].id(SUITE).to_string();
    let proof = dir.join("proof.json");
    let out = xinbao(&[
        "audit",
        "prove",
        "--chain",
        s(&file),
        "--tx",
        &id,
        "--out",
        s(&proof),
        "--genesis",
        s(&genesis),
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let out = xinbao(&["audit", "check-proof", "--genesis", s(&genesis), s(&proof)]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("PROVEN"), "{text}");
    assert!(
        text.contains(&format!("committed at height {}", entry.height())),
        "{text}"
    );
    assert!(text.contains("outcome: accepted"), "{text}");
    assert!(text.contains("signed by ins-a"), "{text}");

    // One altered byte of the proof: refused.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    let hex = doc["proof"].as_str().unwrap().to_string();
    let mut bytes = hex::decode(&hex).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    doc["proof"] = Value::String(hex::encode(&bytes));
    let altered = dir.join("altered.json");
    std::fs::write(&altered, doc.to_string()).unwrap();
    let out = xinbao(&[
        "audit",
        "check-proof",
        "--genesis",
        s(&genesis),
        s(&altered),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("NOT PROVEN"), "{}", stdout(&out));
}

/// A stand-in for a node's chain endpoints (the contract `xinbao chain export` and
/// `audit --node` rely on), serving `entries` on loopback until the test ends.
fn serve(entries: Vec<ChainEntry>) -> String {
    serve_as(entries, None)
}

/// [`serve`] without the binary endpoint: only the JSON block view.
fn serve_json_only(entries: Vec<ChainEntry>) -> String {
    serve_with(entries, None, false)
}

fn serve_as(entries: Vec<ChainEntry>, identity: Option<(String, String)>) -> String {
    serve_with(entries, identity, true)
}

/// [`serve`], with a status that names the chain id and genesis hash given (block 1's
/// otherwise), and the binary endpoint or not.
fn serve_with(
    entries: Vec<ChainEntry>,
    identity: Option<(String, String)>,
    binary: bool,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let entries = Arc::new(entries);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let json = |v: Value| (200, "application/json", v.to_string().into_bytes());
            let (status, kind, body) = if path == "/v1/status" {
                // The node's status as it writes it: the chain it names is block 1's unless
                // the test names another.
                let first = &entries[0].block.header;
                let last = &entries[entries.len() - 1].block;
                let (chain_id, genesis_hash) = match &identity {
                    Some((chain_id, hash)) => (
                        ledger::Id::new(chain_id.as_str()).unwrap(),
                        <[u8; 32]>::try_from(hex::decode(hash).unwrap()).unwrap(),
                    ),
                    None => (first.chain_id.clone(), first.previous.0),
                };
                let status = ledger::api::StatusView {
                    chain_id,
                    crypto_suite: SUITE,
                    genesis_hash,
                    height: entries.len() as u64,
                    latest_block_id: last.id(SUITE).0,
                    latest_time_ms: last.header.time_ms,
                    state_root: last.header.state_root,
                    peer_id: String::new(),
                    validators: Vec::new(),
                    validator_set_hash: last.header.validator_set_hash,
                    params: ledger::genesis::Params::default(),
                    peers: Vec::new(),
                    mempool_txs: 0,
                    devnet_clock: false,
                    protocol_version: last.header.protocol_version,
                    next_protocol_version: last.header.protocol_version,
                    supported_versions: vec![1, 2],
                    pending_upgrade: None,
                };
                json(serde_json::to_value(status).unwrap())
            } else if let Some(h) = path.strip_prefix("/v1/blocks/") {
                // The JSON block view, as the node's API shapes it.
                match h
                    .parse::<usize>()
                    .ok()
                    .and_then(|h| entries.get(h.wrapping_sub(1)))
                {
                    Some(e) => {
                        let header = &e.block.header;
                        let view = ledger::api::BlockView {
                            summary: ledger::api::BlockSummaryView {
                                height: e.height(),
                                protocol_version: header.protocol_version,
                                block_id: e.block.id(SUITE).0,
                                time_ms: header.time_ms,
                                txs: e.block.txs.len() as u64,
                                rejected: 0,
                                proposer: header.proposer,
                                proposer_org: None,
                                round: Some(e.certificate.round),
                                signers: e.certificate.signatures.len() as u64,
                                signing_power: None,
                                total_power: None,
                            },
                            header: header.clone(),
                            state_root: header.state_root,
                            block: e.block.clone(),
                            certificate: Some(e.certificate.clone()),
                            signed_by: Vec::new(),
                            transactions: Vec::new(),
                            receipts: e
                                .receipts
                                .iter()
                                .map(ledger::api::ReceiptView::from)
                                .collect(),
                        };
                        json(serde_json::to_value(view).unwrap())
                    }
                    None => (404, "application/json", b"{\"error\":{}}".to_vec()),
                }
            } else if let Some(h) = path.strip_prefix("/v1/chain/").filter(|_| binary) {
                match h
                    .parse::<usize>()
                    .ok()
                    .and_then(|h| entries.get(h.wrapping_sub(1)))
                {
                    Some(e) => (200, "application/octet-stream", e.to_bytes()),
                    None => (404, "text/plain", b"no such height".to_vec()),
                }
            } else if path.starts_with("/v1/governance") {
                // The accepted changes of the consortium, as the node's index lists them.
                let from: u64 = path
                    .split("from_height=")
                    .nth(1)
                    .and_then(|h| h.split('&').next())
                    .and_then(|h| h.parse().ok())
                    .unwrap_or(0);
                let mut changes = Vec::new();
                for e in entries.iter().filter(|e| e.height() >= from) {
                    for (i, (tx, r)) in e.block.txs.iter().zip(&e.receipts).enumerate() {
                        let action = &tx.body.action;
                        if action.is_governance() && r.outcome == ledger::block::Outcome::Accepted {
                            changes.push(ledger::api::GovernanceChange {
                                activation_height: None,
                                changes_validators: action.roster_change().is_some(),
                                height: e.height(),
                                index: i as u32,
                                tx_id: tx.id(SUITE),
                                type_name: Some(action.type_name().to_string()),
                                version: None,
                            });
                        }
                    }
                }
                let view = ledger::api::GovernanceView {
                    changes,
                    protocol: ledger::api::ProtocolView {
                        eras: Vec::new(),
                        next_version: 1,
                        pending: None,
                        supported_versions: vec![1],
                        version: 1,
                    },
                };
                json(serde_json::to_value(view).unwrap())
            } else if let Some(id) = path.strip_prefix("/v1/tx/") {
                let found = entries.iter().find_map(|e| {
                    let i = e
                        .block
                        .txs
                        .iter()
                        .position(|t| t.id(SUITE).to_string() == id)?;
                    Some((e, i))
                });
                match found {
                    Some((e, i)) => {
                        let tx = &e.block.txs[i];
                        json(
                            serde_json::to_value(ledger::api::TxStatusView::Committed {
                                tx_id: tx.id(SUITE),
                                height: e.height(),
                                index: i as u32,
                                block_id: e.block.id(SUITE).to_string(),
                                time_ms: e.block.header.time_ms,
                                type_name: tx.body.action.type_name().to_string(),
                                receipt: ledger::api::ReceiptView::from(&e.receipts[i]),
                                tx: Box::new(tx.clone()),
                                signatures: Vec::new(),
                            })
                            .unwrap(),
                        )
                    }
                    None => (
                        404,
                        "application/json",
                        b"{\"status\":\"unknown\"}".to_vec(),
                    ),
                }
            } else {
                // An unknown route: an empty 404, as the node's router answers.
                (404, "text/plain", Vec::new())
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

#[test]
fn export_from_a_node_resumes_and_verifies_and_proves() {
    let chain = ningbo();
    let dir = scratch("export");
    let (genesis, reference) = chain.write_files(&dir);
    let url = serve(chain.entries.clone());
    let out_file = dir.join("exported.xbc");

    // Part of the chain first, then the rest; a torn tail in between is cut off.
    let out = xinbao(&[
        "chain",
        "export",
        "--node",
        &url,
        "--out",
        s(&out_file),
        "--to",
        "5",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("heights 1 to 5 exported"),
        "{}",
        stdout(&out)
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&out_file)
        .unwrap();
    file.write_all(&[0x40, 0x00, 0x00]).unwrap();
    drop(file);
    let out = xinbao(&["chain", "export", "--node", &url, "--out", s(&out_file)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let last = chain.entries.len();
    assert!(
        stdout(&out).contains(&format!("heights 6 to {last} exported")),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read(&out_file).unwrap(),
        std::fs::read(&reference).unwrap(),
        "the export is the chain file, byte for byte"
    );
    let out = xinbao(&["chain", "export", "--node", &url, "--out", s(&out_file)]);
    assert!(stdout(&out).contains("nothing to add"), "{}", stdout(&out));
    let out = xinbao(&[
        "chain",
        "export",
        "--node",
        &url,
        "--out",
        s(&out_file),
        "--from",
        "3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a resumed file continues where it ends"
    );

    // A node whose status names the chain exports the same file; one that names another
    // genesis cannot extend it.
    let named = serve_as(
        chain.entries.clone(),
        Some((
            testkit::CHAIN_ID.to_string(),
            hex::encode(chain.genesis.hash()),
        )),
    );
    let second = dir.join("second.xbc");
    let out = xinbao(&["chain", "export", "--node", &named, "--out", s(&second)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        std::fs::read(&second).unwrap(),
        std::fs::read(&reference).unwrap()
    );
    let other = serve_as(
        chain.entries.clone(),
        Some((testkit::CHAIN_ID.to_string(), hex::encode([7u8; 32]))),
    );
    let out = xinbao(&["chain", "export", "--node", &other, "--out", s(&second)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("from genesis"), "{}", stderr(&out));

    // A node that serves only its JSON block view exports the same file.
    let json_node = serve_json_only(chain.entries.clone());
    let third = dir.join("third.xbc");
    let out = xinbao(&["chain", "export", "--node", &json_node, "--out", s(&third)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        std::fs::read(&third).unwrap(),
        std::fs::read(&reference).unwrap()
    );

    // Verify straight from the node.
    let out = xinbao(&["audit", "verify", "--genesis", s(&genesis), "--node", &url]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("VERIFIED"));

    // Prove a transaction the node holds, then check it offline.
    let id = chain.entries[10].block.txs[0].id(SUITE).to_string();
    let proof = dir.join("node-proof.json");
    let out = xinbao(&[
        "audit",
        "prove",
        "--node",
        &url,
        "--tx",
        &id,
        "--out",
        s(&proof),
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = xinbao(&[
        "audit",
        "check-proof",
        "--genesis",
        s(&genesis),
        s(&proof),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["proven"], true);
    assert_eq!(doc["height"], 11);
    assert_eq!(doc["tx_id"], id);

    // A node serving a tampered block is caught when verified from the node.
    let mut entries = chain.entries.clone();
    entries[8].block.header.state_root[0] ^= 1;
    let bad = serve(entries);
    let out = xinbao(&["audit", "verify", "--genesis", s(&genesis), "--node", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("first bad height 9"),
        "{}",
        stdout(&out)
    );
}
