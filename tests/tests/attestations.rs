//! Two governed upgrades end to end (DOMAIN.md R12, R13, R14): a devnet of the version-3
//! worked example's organisations, founded at version 1 with a devnet clock, crosses the
//! upgrades to version 2 and then to version 3 while a steady load commits; every block
//! carries the version in force at its height and every loaded transaction is committed on
//! every node. The example `e-attestations-v3.json` is then replayed through the network:
//! its result document matches its `expect` block and the offline run, every validator
//! holds the same chain, the exported chain verifies from the genesis alone with a report
//! of three eras and of the policies attestations qualified, and the API shows the
//! attestations where the console reads them.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::txs::{self, export_and_verify, ok, s, Committed};
use common::{get, scenario_path, serial, text, xinbao, Devnet};
use ledger::crypto::SecretKey;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(180);
const CHAIN: &str = "xinbao-devnet";
const EXAMPLE: &str = "e-attestations-v3.json";
/// The organisations that vote (R11.3): every one of the example's but the auditor.
const VOTERS: [&str; 5] = ["bank-e", "ins-e", "gov-e", "reg", "tax-bureau"];

/// `GET path` from validator `i`, which must answer 200.
fn fetch(net: &Devnet, i: usize, path: &str) -> Value {
    txs::fetch(&net.urls[i], path)
}

fn all(net: &Devnet) -> Vec<usize> {
    (0..net.len()).collect()
}

/// The tails of every validator's log, for a failure's context.
fn logs(net: &Devnet) -> String {
    all(net)
        .iter()
        .map(|&i| format!("---- validator {i} ----\n{}\n", net.log_tail(i, 25)))
        .collect()
}

/// Sets the devnet clock of the node at `url`; `false` when it does not answer.
fn set_clock(url: &str, time_ms: u64) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .post(&format!("{url}/v1/devnet/clock"))
        .header("Content-Type", "application/json")
        .send(json!({ "time_ms": time_ms }).to_string().as_bytes())
        .is_ok_and(|r| r.status() == 200)
}

/// Until `stop`: every node's devnet clock runs from `start_ms` as fast as the wall clock
/// (a devnet clock stands still until set, and an idle node makes a block only when its
/// clock passes the heartbeat), so heights advance as on a real clock, within the
/// genesis day, before any date of the example.
fn run_clocks(urls: Vec<String>, start_ms: u64, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let began = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let now = start_ms + began.elapsed().as_millis() as u64;
            for url in &urls {
                set_clock(url, now);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// `xinbao tx new ScheduleUpgrade --version V --activation-height H`, approved by every
/// voter's admin key, committed through validator 0; it must be accepted in time.
fn schedule_upgrade(net: &Devnet, version: u32, activation: u64) -> Committed {
    let file = net.dir.join(format!("upgrade-{version}.json"));
    let keys: Vec<PathBuf> = VOTERS.iter().map(|org| net.admin_key(org)).collect();
    let done = txs::schedule_upgrade(&file, version, activation, &keys, &net.urls[0]);
    assert!(done.code.is_none(), "upgrade to {version}: {}", done.out);
    assert!(
        done.height + 6 <= activation,
        "upgrade to {version} committed at {} for {activation}: the margin was too small",
        done.height
    );
    done
}

/// Waits until every validator's tip is executed under `version`.
fn wait_version(net: &Devnet, version: u32) {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen: Vec<Value> = all(net)
            .iter()
            .map(|&i| get(&net.urls[i], "/v1/status").map_or(Value::Null, |(_, s)| s))
            .collect();
        if seen.iter().all(|st| st["protocol_version"] == version) {
            return;
        }
        if Instant::now() > deadline {
            let versions: Vec<(&Value, &Value)> = seen
                .iter()
                .map(|st| (&st["height"], &st["protocol_version"]))
                .collect();
            panic!(
                "not every validator reached version {version}: (height, version) {versions:?}\n{}",
                logs(net)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every key of `expect` is in `got` with an equal value, recursively through objects;
/// the differences by path.
fn differences(expect: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (expect, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (key, value) in e {
                let at = format!("{path}.{key}");
                match g.get(key) {
                    Some(found) => differences(value, found, &at, out),
                    None => out.push(format!("{at}: absent")),
                }
            }
        }
        _ if expect == got => {}
        _ => out.push(format!("{path}: expected {expect}, got {got}")),
    }
}

/// The ids of `list`'s entries under `key`.
fn ids<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| e[key].as_str().unwrap_or_else(|| panic!("no {key}: {e}")))
        .collect()
}

#[test]
fn a_devnet_upgraded_twice_under_load_replays_the_version_3_example() {
    let _one = serial();
    let started = Instant::now();
    let example = scenario_path(EXAMPLE);
    let example = s(&example);
    let mut net = Devnet::init(
        "attest",
        &[
            "--orgs-from",
            example,
            "--protocol-version",
            "1",
            "--upgrade-lead-heights",
            "6",
            "--heartbeat-ms",
            "500",
        ],
        true,
    );
    // At least four validators, one per organisation that is not the auditor.
    assert_eq!(net.len(), VOTERS.len(), "{}", net.manifest);
    let nodes = all(&net);
    net.start_all();
    net.wait_height(&nodes, 1, WAIT);
    for i in nodes.iter().copied() {
        let st = fetch(&net, i, "/v1/status");
        assert_eq!(st["protocol_version"], 1, "validator {i}: {st}");
        assert_eq!(st["devnet_clock"], true, "validator {i}: {st}");
        assert_eq!(
            st["params"]["upgrade_lead_heights"], 6,
            "validator {i}: {st}"
        );
    }

    // R13.4: a version-3 example is refused by a network of version 1, before any step is
    // sent.
    let dir = net.dir.to_str().unwrap().to_string();
    let early = xinbao(&[
        "scenario",
        "run",
        example,
        "--devnet-dir",
        &dir,
        "--node",
        &net.urls[1],
    ]);
    assert!(!early.status.success());
    let why = text(&early.stderr);
    assert!(
        why.contains("protocol version 3") && why.contains("runs version 1"),
        "{why}"
    );
    let nothing = fetch(&net, 1, "/v1/programmes");
    assert_eq!(nothing["items"], json!([]), "{nothing}");

    // 1. The clocks run from the genesis time; a steady load goes to every node in turn.
    let genesis_path = net.dir.join("genesis.json");
    let genesis_ms = ledger::genesis::Genesis::load(&genesis_path)
        .unwrap()
        .genesis_time_ms;
    let stop = Arc::new(AtomicBool::new(false));
    let clocks = run_clocks(net.urls.clone(), genesis_ms + 1, stop.clone());
    let bank = SecretKey::read_file(&net.admin_key("bank-e")).unwrap();
    let taken: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let load = txs::run_load(net.urls.clone(), CHAIN, bank, stop.clone(), taken.clone());

    // 2. Version 2, then version 3, each approved by every voter 15 heights ahead.
    let mut activations = Vec::new();
    let mut scheduled = Vec::new();
    for version in [2u32, 3] {
        let activation = net.height(0).unwrap() + 15;
        let done = schedule_upgrade(&net, version, activation);
        net.wait_height(&nodes, done.height, WAIT);
        for i in nodes.iter().copied() {
            let st = fetch(&net, i, "/v1/status");
            let pending = &st["pending_upgrade"];
            assert_eq!(pending["version"], version, "validator {i}: {st}");
            assert_eq!(
                pending["activation_height"], activation,
                "validator {i}: {st}"
            );
        }
        wait_version(&net, version);
        net.wait_height(&nodes, activation + 1, WAIT);
        for i in nodes.iter().copied() {
            for (h, v) in [
                (activation - 1, version - 1),
                (activation, version),
                (activation + 1, version),
            ] {
                let b = fetch(&net, i, &format!("/v1/blocks/{h}"));
                assert_eq!(
                    b["header"]["protocol_version"], v,
                    "validator {i} height {h}"
                );
            }
            let st = fetch(&net, i, "/v1/status");
            assert_eq!(st["next_protocol_version"], version, "validator {i}: {st}");
            assert_eq!(st["pending_upgrade"], Value::Null, "validator {i}: {st}");
        }
        activations.push(activation);
        scheduled.push(done);
    }
    let (a2, a3) = (activations[0], activations[1]);
    eprintln!("both upgrades in force after {:?}", started.elapsed());
    assert_eq!(
        fetch(&net, 0, "/v1/status")["params"]["obligor_limit_fen"],
        500_000_000u64
    );

    // 3. The load stops; every transaction a node took is committed and accepted, on
    // every node.
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    let taken = taken.lock().unwrap().clone();
    clocks.join().unwrap();
    assert!(taken.len() > 20, "only {} load transactions", taken.len());
    let deadline = Instant::now() + WAIT;
    for i in nodes.iter().copied() {
        for id in &taken {
            loop {
                let st = get(&net.urls[i], &format!("/v1/tx/{id}")).map(|(_, v)| v);
                if let Some(st) = st.as_ref().filter(|s| s["status"] == "committed") {
                    assert_eq!(st["receipt"]["outcome"], "Accepted", "{id} on {i}: {st}");
                    break;
                }
                if Instant::now() > deadline {
                    panic!(
                        "load transaction {id} is not committed on validator {i}: {st:?}\n{}",
                        logs(&net)
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let st = fetch(&net, 1, "/v1/status");
    assert_eq!(st["next_protocol_version"], 3, "{st}");

    // 4. The example replayed through validator 1: its `expect` block holds (the command
    // exits 0 only then), and it is the offline run's document.
    let network_doc = net.replay(example, 1);
    let file: Value = serde_json::from_slice(&std::fs::read(example).unwrap()).unwrap();
    let mut wrong = Vec::new();
    differences(&file["expect"], &network_doc, "", &mut wrong);
    assert!(
        wrong.is_empty(),
        "the network's document differs from expect: {wrong:#?}"
    );
    let offline_doc: Value =
        serde_json::from_str(&ok(&["scenario", "run", example, "--json"])).unwrap();
    for key in [
        "attestations",
        "policies",
        "rejected",
        "programmes",
        "funds",
    ] {
        assert_eq!(
            network_doc[key], offline_doc[key],
            "{key}: the network's vs the offline run's"
        );
    }

    eprintln!("the example replayed after {:?}", started.elapsed());

    // 5. Every validator holds the same blocks and state roots.
    let height = net.height(1).unwrap();
    net.wait_height(&nodes, height, WAIT);
    net.assert_same_chain(&nodes, height);

    // 6. The chain, exported, verifies from the genesis alone; its report names the three
    // eras and the policies attestations qualified under version 3.
    let chain = net.dir.join("chain.xbc");
    let verdict = export_and_verify(&net.urls[0], &[], &chain, &genesis_path);
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert!(verdict["height"].as_u64().unwrap() >= height, "{verdict}");
    let report: Value = serde_json::from_str(&ok(&[
        "audit",
        "report",
        "--genesis",
        s(&genesis_path),
        "--chain",
        s(&chain),
        "--format",
        "json",
    ]))
    .unwrap();
    let eras = &report["eras"];
    let era = |v: u64| -> (Value, Value) {
        let e = &eras[v as usize - 1];
        assert_eq!(e["version"], v, "{eras}");
        (e["first_height"].clone(), e["scheduled_by_tx"].clone())
    };
    assert_eq!(eras.as_array().map(Vec::len), Some(3), "{eras}");
    assert_eq!(era(1), (json!(1), Value::Null), "{eras}");
    assert_eq!(era(2), (json!(a2), json!(scheduled[0].id)), "{eras}");
    assert_eq!(era(3), (json!(a3), json!(scheduled[1].id)), "{eras}");
    for e in &eras.as_array().unwrap()[1..] {
        let approved: Vec<&str> = e["approved_by"]
            .as_array()
            .unwrap_or_else(|| panic!("{e}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(approved.len(), VOTERS.len(), "{e}");
        assert!(VOTERS.iter().all(|v| approved.contains(v)), "{e}");
    }
    let (_, governance) = get(&net.urls[2], "/v1/governance").unwrap();
    let firsts: Vec<&Value> = governance["protocol"]["eras"]
        .as_array()
        .unwrap_or_else(|| panic!("{governance}"))
        .iter()
        .map(|e| &e["first_height"])
        .collect();
    assert_eq!(firsts, [&json!(1), &json!(a2), &json!(a3)], "{governance}");

    let qualified = &report["attestations"]["policies"];
    assert_eq!(
        ids(qualified, "policy"),
        ["pol-e1", "pol-e8"],
        "{qualified}"
    );
    let met_by = |policy: usize| -> Vec<(String, String)> {
        let mut met: Vec<(String, String)> = qualified[policy]["met_by"]
            .as_array()
            .unwrap_or_else(|| panic!("{qualified}"))
            .iter()
            .map(|m| {
                (
                    m["kind"].as_str().unwrap().into(),
                    m["attestation"].as_str().unwrap().into(),
                )
            })
            .collect();
        met.sort();
        met
    };
    let pair = |k: &str, a: &str| (k.to_string(), a.to_string());
    assert_eq!(
        met_by(0),
        [pair("no-default", "att-n1"), pair("tax-credit", "att-t1")],
        "{qualified}"
    );
    assert_eq!(
        met_by(1),
        [pair("no-default", "att-n2"), pair("tax-credit", "att-t4")],
        "{qualified}"
    );
    for entry in qualified.as_array().unwrap() {
        let h = entry["height"].as_u64().unwrap();
        assert!(h >= a3, "{entry}: issued before version 3 ({a3})");
    }
    let revocations = &report["attestations"]["revocations"];
    assert_eq!(ids(revocations, "attestation"), ["att-t1"], "{revocations}");
    assert_eq!(revocations[0]["issuer"], "tax-bureau", "{revocations}");
    assert_eq!(
        report["result"]["attestations"], network_doc["attestations"],
        "{report}"
    );

    // 7. What the console reads.
    let listed = fetch(&net, 0, "/v1/enterprises/ent-e1/attestations");
    assert_eq!(
        ids(&listed["items"], "id"),
        ["att-n1", "att-t1"],
        "{listed}"
    );
    let revoked: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["revoked"])
        .collect();
    assert_eq!(revoked, [&json!(false), &json!(true)], "{listed}");
    assert_eq!(listed["total"], 2, "{listed}");
    let policy = fetch(&net, 0, "/v1/records/policy/pol-e1");
    let mut by: Vec<&str> = ids(&policy["qualified_by"], "id");
    by.sort();
    assert_eq!(by, ["att-n1", "att-t1"], "{policy}");
    let programme = fetch(&net, 0, "/v1/programmes/prog-e");
    let kinds = ids(&programme["eligibility"], "kind");
    assert_eq!(kinds, ["tax-credit", "no-default"], "{programme}");
    let found = fetch(&net, 0, "/v1/search?q=att-t1");
    let hits: Vec<(&Value, &Value)> = found["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{found}"))
        .iter()
        .map(|r| (&r["kind"], &r["id"]))
        .collect();
    assert!(
        hits.contains(&(&json!("attestation"), &json!("att-t1"))),
        "{found}"
    );

    eprintln!(
        "attestations test: versions 2 and 3 from heights {a2} and {a3}, {} load transactions, chain of {height}+ blocks, {:?}",
        taken.len(),
        started.elapsed()
    );
}
