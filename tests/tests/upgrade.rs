//! A governed protocol upgrade end to end (DOMAIN.md R12, R13): four validators on
//! loopback, one of them running a program limited to version 1. While a steady load
//! commits, an upgrade to version 2 without enough approvals is recorded as `NotApproved`,
//! an approved one is scheduled a few heights ahead; before its activation height a
//! policy above the single-obligor limit is issued (version 1 has no limit), from it the
//! limit holds; the node that lacks version 2 stops where version 2 begins, with its store
//! at the height before, and once restarted on a program that has it, catches up to the
//! same chain. The exported chain verifies from the genesis alone, its report names both
//! eras and who approved the second, and a block whose header claims the wrong version is
//! caught.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::txs::{self, ok, s, sign_and_commit, Committed};
use common::{get, serial, text, xinbao, Devnet};
use ledger::crypto::SecretKey;
use ledger::export::{ChainEntry, ChainReader, ChainWriter};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(120);
const CHAIN: &str = "xinbao-devnet";
/// The validator whose program runs version 1 only.
const OLD: usize = 3;
/// The validators whose programs run every version.
const NEW: [usize; 3] = [0, 1, 2];
const ALL: [usize; 4] = [0, 1, 2, 3];
/// R13.3: the limit the version-2 migration sets.
const OBLIGOR_LIMIT_FEN: u64 = 500_000_000;

fn status(net: &Devnet, i: usize) -> Value {
    let (code, status) =
        get(&net.urls[i], "/v1/status").unwrap_or_else(|| panic!("validator {i} does not answer"));
    assert_eq!(code, 200, "{status}");
    status
}

fn block(net: &Devnet, i: usize, height: u64) -> Value {
    let (code, block) = get(&net.urls[i], &format!("/v1/blocks/{height}"))
        .unwrap_or_else(|| panic!("validator {i} does not answer"));
    assert_eq!(code, 200, "validator {i} has no block {height}: {block}");
    block
}

/// A fresh nonce for every transaction file this test writes.
fn nonce() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1_000_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An unsigned transaction file for `action`, expiring 500 heights after `via`'s tip.
fn tx_json(net: &Devnet, name: &str, via: usize, action: Value) -> PathBuf {
    let tip = net.height(via).expect("the node answers");
    let path = net.dir.join(format!("{name}.json"));
    let tx = json!({
        "chain_id": CHAIN,
        "nonce": nonce(),
        "expires_at_height": tip + 500,
        "action": action,
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&tx).unwrap()).unwrap();
    path
}

/// `action` in a transaction file signed by `keys`, committed through `via`.
fn commit(net: &Devnet, name: &str, action: Value, keys: &[PathBuf], via: usize) -> Committed {
    let file = tx_json(net, name, via, action);
    sign_and_commit(&file, keys, &net.urls[via])
}

/// `xinbao tx new ScheduleUpgrade --version V --activation-height H` as `name`.json,
/// signed by `keys` and committed through validator 0.
fn schedule_upgrade(
    net: &Devnet,
    name: &str,
    version: u32,
    activation: u64,
    keys: &[PathBuf],
) -> Committed {
    let file = net.dir.join(format!("{name}.json"));
    txs::schedule_upgrade(&file, version, activation, keys, &net.urls[0])
}

fn policy(id: &str, enterprise: &str, principal: u64) -> Value {
    json!({
        "type": "IssuePolicy",
        "id": id,
        "programme": "prog-u",
        "enterprise": enterprise,
        "bank": "bank",
        "loan_principal_fen": principal,
        "loan_rate_bps": 565,
        "term_months": 12,
        "premium_rate_bps": 200,
        "financing_doc_hash": null,
    })
}

/// The height in the last "chain opened … height=N" line of `log` (what a node logs when
/// it opens its store).
fn opened_at(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains("chain opened"))?;
    let rest = line.split(" height=").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_governed_upgrade_takes_effect_at_its_height_under_load() {
    let _one = serial();
    let started = Instant::now();
    let mut net = Devnet::init(
        "upgrade",
        &[
            "--protocol-version",
            "1",
            "--upgrade-lead-heights",
            "6",
            "--heartbeat-ms",
            "500",
        ],
        false,
    );
    assert_eq!(net.len(), 4);

    // 1. Three validators run the program as it is; the fourth runs version 1 only.
    for i in NEW {
        net.start(i);
    }
    net.start_with(OLD, &["--max-protocol-version", "1"]);
    net.wait_height(&ALL, 2, WAIT);
    let every_version: Vec<u32> = contracts::upgrade::SUPPORTED.collect();
    assert!(every_version.contains(&2), "{every_version:?}");
    for i in ALL {
        let st = status(&net, i);
        let expected = if i == OLD {
            json!([1])
        } else {
            json!(every_version)
        };
        assert_eq!(st["supported_versions"], expected, "validator {i}: {st}");
        assert_eq!(st["protocol_version"], 1, "validator {i}: {st}");
        assert_eq!(st["next_protocol_version"], 1, "validator {i}: {st}");
        assert_eq!(st["pending_upgrade"], Value::Null, "validator {i}: {st}");
        assert_eq!(
            st["params"]["upgrade_lead_heights"], 6,
            "validator {i}: {st}"
        );
        assert!(
            st["params"]
                .get("obligor_limit_fen")
                .is_none_or(Value::is_null),
            "version 1 has no obligor limit: {st}"
        );
    }

    // 2. The rulebook's records, each signed by the organisations its rule names: a rate
    // filing, a fund, and a programme whose loans may reach 10,000,000 yuan.
    let (bank, insurer, gov, regulator) = (
        net.admin_key("bank"),
        net.admin_key("insurer"),
        net.admin_key("gov"),
        net.admin_key("regulator"),
    );
    let setup = [
        (
            "file-rate",
            json!({
                "type": "FileRate", "insurer": "insurer", "product": "LGI-U",
                "rates_bps": [200, 250], "valid_from": "2026-01-01", "valid_to": "2027-12-31",
                "filing_ref": "F-2026-U01",
            }),
            vec![insurer.clone(), regulator.clone()],
        ),
        (
            "create-fund",
            json!({"type": "CreateFund", "id": "fund-u", "government": "gov",
                   "annual_cap_fen": 2_000_000_000u64}),
            vec![gov.clone()],
        ),
        (
            "top-up",
            json!({"type": "FundTopUp", "fund": "fund-u", "amount_fen": 1_000_000_000u64,
                   "reference": "BUDGET-2026"}),
            vec![gov.clone()],
        ),
        (
            "create-programme",
            json!({
                "type": "CreateProgramme", "id": "prog-u", "name": "Upgrade test programme",
                "product": "LGI-U", "period_start": "2026-01-01", "period_end": "2027-12-31",
                "government": "gov", "fund": "fund-u", "banks": ["bank"], "insurer": "insurer",
                "reinsurer": null,
                "split": {"bank_bps": 3000, "insurer_bps": 7000, "fund_bps": 0},
                "cover": "Principal",
                "limits": {"max_loan_fen": 1_000_000_000u64, "max_term_months": 12,
                           "benchmark_rate_bps": 435, "max_uplift_bps": 3000,
                           "max_premium_rate_bps": 300, "max_all_in_bps": 2400},
                "subsidy": {"bps": 0, "mode": "None"},
                "fund_layer": {"kind": "None"},
                "reinsurance_quota_bps": 0,
                "triggers": {"suspend_loss_ratio_bps": 0, "suspend_overdue_bps": 0,
                             "warn_at_bps": 0},
                "claims": {"interest_dpd": 90, "principal_dpd": 30, "decide_days": 30,
                           "pay_business_days": 10},
                "opening": {"premium_written_fen": 0, "claims_gross_fen": 0},
            }),
            vec![gov.clone(), bank.clone(), insurer.clone()],
        ),
    ];
    for (name, action, keys) in setup {
        let done = commit(&net, name, action, &keys, 0);
        assert!(done.accepted(), "{name}: {}", done.out);
    }

    // 3. A steady load: the bank flags enterprises, through the three nodes that stay up.
    let stop = Arc::new(AtomicBool::new(false));
    let taken: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let load = txs::run_load(
        NEW.iter().map(|&i| net.urls[i].clone()).collect(),
        CHAIN,
        SecretKey::read_file(&bank).unwrap(),
        stop.clone(),
        taken.clone(),
    );

    // 4. An upgrade approved by the bank alone: committed as NotApproved, nothing pending.
    let tip = net.height(0).unwrap();
    let short = schedule_upgrade(
        &net,
        "upgrade-short",
        2,
        tip + 30,
        std::slice::from_ref(&bank),
    );
    assert_eq!(short.code.as_deref(), Some("NotApproved"), "{}", short.out);
    net.wait_height(&ALL, short.height, WAIT);
    for i in ALL {
        let st = status(&net, i);
        assert_eq!(st["pending_upgrade"], Value::Null, "validator {i}: {st}");
    }

    // 5. Approved by three of the four voters, the regulator among them: version 2 is
    // pending on every node, with the transaction that scheduled it.
    let tip = net.height(0).unwrap();
    let activation = tip + 30;
    let approvers = [bank.clone(), insurer.clone(), regulator.clone()];
    let scheduled = schedule_upgrade(&net, "upgrade", 2, activation, &approvers);
    assert!(scheduled.accepted(), "{}", scheduled.out);
    assert!(
        scheduled.height + 6 <= activation,
        "scheduled at {} for {activation}: the test's margin was too small",
        scheduled.height
    );
    net.wait_height(&ALL, scheduled.height, WAIT);
    for i in ALL {
        let st = status(&net, i);
        let pending = &st["pending_upgrade"];
        assert_eq!(pending["version"], 2, "validator {i}: {st}");
        assert_eq!(
            pending["activation_height"], activation,
            "validator {i}: {st}"
        );
        assert_eq!(
            pending["scheduled_height"], scheduled.height,
            "validator {i}: {st}"
        );
        assert_eq!(st["protocol_version"], 1, "validator {i}: {st}");
    }
    let (_, governance) = get(&net.urls[0], "/v1/governance").unwrap();
    let protocol = &governance["protocol"];
    assert_eq!(protocol["version"], 1, "{governance}");
    assert_eq!(protocol["pending"]["version"], 2, "{governance}");
    assert_eq!(
        protocol["pending"]["activation_height"], activation,
        "{governance}"
    );
    assert_eq!(
        protocol["pending"]["scheduled_by_tx"],
        scheduled.id.as_str(),
        "{governance}"
    );
    let change = governance["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tx_id"] == scheduled.id.as_str())
        .unwrap_or_else(|| panic!("the upgrade is not among the changes: {governance}"));
    assert_eq!(change["type"], "ScheduleUpgrade", "{change}");
    assert_eq!(change["version"], 2, "{change}");
    assert_eq!(change["activation_height"], activation, "{change}");
    assert_eq!(change["height"], scheduled.height, "{change}");

    // 6. Still version 1: a policy whose retained exposure (560,000,000 fen) is above the
    // limit version 2 brings is issued.
    let p1 = commit(
        &net,
        "p1",
        policy("pol-1", "ent-big", 800_000_000),
        std::slice::from_ref(&insurer),
        1,
    );
    assert!(p1.accepted(), "{}", p1.out);
    assert!(
        p1.height < activation,
        "P1 committed at {} (activation {activation}): the test's margin was too small",
        p1.height
    );

    // 7. The node that runs version 1 only stops where version 2 begins, with exit code 3,
    // naming the version and the height, and without committing that height.
    let deadline = Instant::now() + WAIT;
    let mut last_seen = 0;
    let exit = loop {
        if let Some(h) = net.height(OLD) {
            last_seen = last_seen.max(h);
        }
        if let Some(exit) = net.try_exit(OLD) {
            break exit;
        }
        if Instant::now() > deadline {
            eprintln!("---- validator {OLD} ----\n{}", net.log_tail(OLD, 40));
            panic!(
                "validator {OLD} did not stop at height {activation} (last seen at {last_seen})"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(net.log_path(OLD)).unwrap();
    assert_eq!(exit.code(), Some(3), "{exit:?}\n{}", net.log_tail(OLD, 40));
    assert!(
        log.contains("protocol version 2")
            && log.contains(&format!("in force from height {activation},")),
        "{}",
        net.log_tail(OLD, 40)
    );
    assert!(
        last_seen < activation,
        "validator {OLD} was seen at {last_seen}"
    );
    // Started again on the same program, it stops at once, its store at the height before.
    let before = log.len();
    net.start_with(OLD, &["--max-protocol-version", "1"]);
    let again = net.wait_exit(OLD, WAIT);
    let log = std::fs::read_to_string(net.log_path(OLD)).unwrap();
    let restart = &log[before..];
    assert_eq!(again.code(), Some(3), "{again:?}\n{restart}");
    assert!(
        restart.contains(&format!(
            "protocol version 2 is in force from height {activation},"
        )),
        "{restart}"
    );
    assert_eq!(opened_at(restart), Some(activation - 1), "{restart}");

    // 8. The others go on: the block before the activation height was executed under
    // version 1, the activation height and after under version 2, with the limit.
    net.wait_height(&NEW, activation + 3, WAIT);
    for i in NEW {
        for (h, version) in [
            (activation - 1, 1),
            (activation, 2),
            (activation + 1, 2),
            (activation + 2, 2),
        ] {
            let b = block(&net, i, h);
            assert_eq!(
                b["header"]["protocol_version"], version,
                "validator {i} height {h}"
            );
            assert_eq!(b["protocol_version"], version, "validator {i} height {h}");
        }
        let st = status(&net, i);
        assert_eq!(st["protocol_version"], 2, "validator {i}: {st}");
        assert_eq!(st["next_protocol_version"], 2, "validator {i}: {st}");
        assert_eq!(st["pending_upgrade"], Value::Null, "validator {i}: {st}");
        assert_eq!(
            st["params"]["obligor_limit_fen"], OBLIGOR_LIMIT_FEN,
            "validator {i}: {st}"
        );
        assert_eq!(
            st["params"]["upgrade_lead_heights"], 6,
            "validator {i}: {st}"
        );
    }
    // Every node's blocks and state agree through the activation height.
    net.assert_same_chain(&NEW, activation + 3);

    // 9. Version 2: the enterprise already above the limit gets nothing more; a fresh one
    // gets up to the limit.
    let p2 = commit(
        &net,
        "p2",
        policy("pol-2", "ent-big", 1_000_000),
        std::slice::from_ref(&insurer),
        2,
    );
    assert_eq!(
        p2.code.as_deref(),
        Some("ObligorLimitExceeded"),
        "{}",
        p2.out
    );
    assert!(p2.height >= activation);
    let p3 = commit(
        &net,
        "p3",
        policy("pol-3", "ent-new", 800_000_000),
        std::slice::from_ref(&insurer),
        0,
    );
    assert_eq!(
        p3.code.as_deref(),
        Some("ObligorLimitExceeded"),
        "{}",
        p3.out
    );
    let p4 = commit(
        &net,
        "p4",
        policy("pol-4", "ent-new", 100_000_000),
        std::slice::from_ref(&insurer),
        1,
    );
    assert!(p4.accepted(), "{}", p4.out);
    let (_, policies) = get(&net.urls[0], "/v1/state?section=policies&limit=100").unwrap();
    let ids: Vec<&str> = policies["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{policies}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["pol-1", "pol-4"], "{policies}");

    // 10. The fourth node, restarted on the program that has version 2, continues from
    // where it stopped and holds the same chain.
    net.start(OLD);
    let target = net.height(0).unwrap();
    net.wait_height(&[OLD], target, WAIT);
    let st = status(&net, OLD);
    assert_eq!(st["supported_versions"], json!(every_version), "{st}");
    assert_eq!(st["protocol_version"], 2, "{st}");
    net.assert_same_chain(&ALL, target);
    let (_, governance_old) = get(&net.urls[OLD], "/v1/governance").unwrap();
    let (_, governance_new) = get(&net.urls[0], "/v1/governance").unwrap();
    let eras = &governance_new["protocol"]["eras"];
    assert_eq!(governance_old["protocol"]["eras"], *eras);
    assert_eq!(
        *eras,
        json!([
            {"version": 1, "first_height": 1, "scheduled_height": null, "scheduled_by_tx": null},
            {"version": 2, "first_height": activation, "scheduled_height": scheduled.height,
             "scheduled_by_tx": scheduled.id},
        ]),
        "{governance_new}"
    );

    // 11. The load stops; every transaction a node took is committed, on every node.
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    let taken = taken.lock().unwrap().clone();
    assert!(taken.len() > 20, "only {} load transactions", taken.len());
    let deadline = Instant::now() + WAIT;
    for i in ALL {
        for id in &taken {
            loop {
                let st = get(&net.urls[i], &format!("/v1/tx/{id}")).map(|(_, v)| v);
                if st.as_ref().is_some_and(|s| s["status"] == "committed") {
                    let receipt = &st.as_ref().unwrap()["receipt"];
                    assert_eq!(receipt["outcome"], "Accepted", "{id} on {i}: {st:?}");
                    break;
                }
                if Instant::now() > deadline {
                    eprintln!("---- validator {i} ----\n{}", net.log_tail(i, 40));
                    panic!("load transaction {id} is not committed on validator {i}: {st:?}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    // 12. The chain, exported from the first node, verifies from the genesis alone.
    let genesis = net.dir.join("genesis.json");
    let chain = net.dir.join("chain.xbc");
    let exported_from = net.height(0).unwrap();
    ok(&[
        "chain",
        "export",
        "--node",
        &net.urls[0],
        "--out",
        s(&chain),
    ]);
    let entries: Vec<ChainEntry> = ChainReader::open(std::io::BufReader::new(
        std::fs::File::open(&chain).unwrap(),
    ))
    .unwrap()
    .map(|e| e.unwrap())
    .collect();
    let exported = entries.len() as u64;
    assert!(exported >= exported_from, "{exported} < {exported_from}");
    assert_eq!(entries.last().unwrap().height(), exported);
    let verdict: Value = serde_json::from_str(&ok(&[
        "audit",
        "verify",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&chain),
        "--json",
    ]))
    .unwrap();
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert_eq!(verdict["height"], exported, "{verdict}");
    let b = block(&net, 0, exported);
    assert_eq!(b["state_root"], verdict["state_root"], "{verdict}");

    // 13. Tampered: block A's header claims version 1. The certificate no longer matches
    // the block, and version 1 is not the version in force there.
    let header = ChainReader::open(std::io::BufReader::new(
        std::fs::File::open(&chain).unwrap(),
    ))
    .unwrap()
    .header()
    .clone();
    let mut tampered = entries.clone();
    let at = (activation - 1) as usize;
    assert_eq!(tampered[at].height(), activation);
    assert_eq!(tampered[at].block.header.protocol_version, 2);
    tampered[at].block.header.protocol_version = 1;
    let tampered_path = net.dir.join("tampered.xbc");
    {
        let mut writer =
            ChainWriter::create(std::fs::File::create(&tampered_path).unwrap(), &header).unwrap();
        for e in &tampered {
            writer.append(e).unwrap();
        }
    }
    let out = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&tampered_path),
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let failure: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}{}", text(&out.stdout), text(&out.stderr)));
    assert_eq!(failure["verified"], false, "{failure}");
    assert_eq!(failure["height"], activation, "{failure}");
    eprintln!("the tampered chain's fault: {failure}");

    // The report names both eras, and who approved the second.
    let report: Value = serde_json::from_str(&ok(&[
        "audit",
        "report",
        "--genesis",
        s(&genesis),
        "--chain",
        s(&chain),
        "--format",
        "json",
    ]))
    .unwrap();
    let eras = report["eras"]
        .as_array()
        .unwrap_or_else(|| panic!("the report has no eras: {}", report["eras"]));
    assert_eq!(eras.len(), 2, "{:?}", eras);
    assert_eq!(eras[0]["version"], 1, "{:?}", eras);
    assert_eq!(eras[0]["first_height"], 1, "{:?}", eras);
    assert_eq!(eras[0]["scheduled_by_tx"], Value::Null, "{:?}", eras);
    assert_eq!(eras[1]["version"], 2, "{:?}", eras);
    assert_eq!(eras[1]["first_height"], activation, "{:?}", eras);
    assert_eq!(
        eras[1]["scheduled_by_tx"],
        scheduled.id.as_str(),
        "{:?}",
        eras
    );
    let approved: Vec<&str> = eras[1]["approved_by"]
        .as_array()
        .unwrap_or_else(|| panic!("{:?}", eras))
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    for org in ["bank", "insurer", "regulator"] {
        assert!(approved.contains(&org), "{approved:?}");
    }
    eprintln!(
        "upgrade test: activation at {activation}, {} load transactions, {exported} blocks, {:?}",
        taken.len(),
        started.elapsed()
    );
}
