//! The consortium end to end: `xinbao devnet init`, real `xinbao-node` processes on
//! loopback, the `xinbao` command as staff use it, and processes killed for real.

mod common;

use std::time::{Duration, Instant};

use common::{get, post_json, scenario_path, send_and_wait, serial, text, tx_file, xinbao, Devnet};
use serde_json::{json, Value};

const START: Duration = Duration::from_secs(40);

fn create_fund(id: &str) -> Value {
    json!({"type": "CreateFund", "id": id, "government": "gov", "annual_cap_fen": 1_000_000})
}

/// Four validators replay a worked example: the network's result document is the offline
/// runner's, and every validator holds the same block and state root at every height.
#[test]
fn four_validators_commit_a_scenario_and_agree_at_every_height() {
    let _one = serial();
    let scenario = scenario_path("a-ningbo-style.json");
    let scenario = scenario.to_str().unwrap();
    let mut net = Devnet::init("scenario", &["--orgs-from", scenario], true);
    assert_eq!(net.len(), 4);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, START);

    let network_doc = net.replay(scenario, 1);
    let offline = xinbao(&["scenario", "run", scenario, "--json"]);
    assert!(offline.status.success());
    let offline_doc: Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(
        network_doc, offline_doc,
        "the network's document differs from the offline one"
    );
    assert!(!network_doc["rejected"].as_array().unwrap().is_empty());

    let height = net.height(1).unwrap();
    net.wait_height(&[0, 1, 2, 3], height, Duration::from_secs(20));
    net.assert_same_chain(&[0, 1, 2, 3], height);
}

/// One validator killed with SIGKILL: the other three keep committing; restarted, it
/// catches up to the same blocks and state root.
#[test]
fn a_killed_validator_catches_up_after_restart() {
    let _one = serial();
    let mut net = Devnet::init("kill", &[], false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, START);

    net.kill(3);
    let before = net.height(0).unwrap();
    net.wait_height(&[0, 1, 2], before + 3, Duration::from_secs(30));
    let key = net.admin_key("gov");
    let file = tx_file(
        &net.dir,
        "fund.json",
        "xinbao-devnet",
        1,
        create_fund("fund-k"),
    );
    let sent = send_and_wait(&file, &key, &net.urls[0]);
    assert!(
        sent.status.success(),
        "{}{}",
        text(&sent.stdout),
        text(&sent.stderr)
    );
    assert!(text(&sent.stdout).contains("accepted"));

    net.start(3);
    let target = net.height(0).unwrap();
    net.wait_height(&[3], target, Duration::from_secs(40));
    net.assert_same_chain(&[0, 3], target);
    let (_, state) = get(&net.urls[3], "/v1/state").unwrap();
    assert!(
        state["funds"]["fund-k"].is_object(),
        "the restarted validator lacks the fund: {state}"
    );
}

/// Two of four down: nothing commits and nothing diverges; back up, commits resume.
#[test]
fn two_of_four_down_halts_commits_until_they_return() {
    let _one = serial();
    let mut net = Devnet::init("halt", &[], false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, START);

    net.kill(2);
    net.kill(3);
    // A decision under way when they died may still land; after that, nothing.
    std::thread::sleep(Duration::from_secs(3));
    let stalled = net.height(0).unwrap().max(net.height(1).unwrap());
    let key = net.admin_key("gov");
    let file = tx_file(
        &net.dir,
        "fund.json",
        "xinbao-devnet",
        2,
        create_fund("fund-h"),
    );
    let submitted = xinbao(&[
        "tx",
        "send",
        file.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--node",
        &net.urls[0],
    ]);
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));
    // `tx send` says what it signed, then prints the id on a line of its own.
    let id = text(&submitted.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        net.height(0).unwrap(),
        stalled,
        "validator 0 committed without a quorum"
    );
    assert_eq!(
        net.height(1).unwrap(),
        stalled,
        "validator 1 committed without a quorum"
    );
    let (_, pending) = get(&net.urls[0], &format!("/v1/tx/{id}")).unwrap();
    assert_eq!(pending["status"], "pending", "{pending}");
    net.assert_same_chain(&[0, 1], stalled);

    net.start(2);
    net.start(3);
    net.wait_height(&[0, 1, 2, 3], stalled + 1, Duration::from_secs(50));
    // Whoever proposes next: within a rotation of the validators the pending transaction
    // is in a block, and a returning validator reports it too.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let query = xinbao(&["query", "tx", &id, "--node", &net.urls[2]]);
        if query.status.success() && text(&query.stdout).contains("committed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pending transaction was not committed after the quorum returned: {}{}",
            text(&query.stdout),
            text(&query.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let height = net.height(0).unwrap();
    net.wait_height(&[0, 1, 2, 3], height, Duration::from_secs(20));
    net.assert_same_chain(&[0, 1, 2, 3], height);

    // The CLI reads the node's status and a block with the types the node writes them in.
    let (_, status) = get(&net.urls[2], "/v1/status").unwrap();
    let shown = xinbao(&["query", "status", "--node", &net.urls[2]]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown = text(&shown.stdout);
    for field in ["chain_id", "state_root"] {
        assert!(
            shown.contains(status[field].as_str().unwrap()),
            "{field}: {shown}"
        );
    }
    assert!(shown.contains("validators:   4"), "{shown}");
    let (_, block) = get(&net.urls[2], "/v1/blocks/1").unwrap();
    let shown = xinbao(&["query", "block", "1", "--node", &net.urls[2]]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown = text(&shown.stdout);
    for field in ["block_id", "state_root"] {
        assert!(
            shown.contains(block[field].as_str().unwrap()),
            "{field}: {shown}"
        );
    }
    let signers: Vec<&str> = block["signed_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["org"].as_str().unwrap())
        .collect();
    assert!(signers.len() >= 3, "{block}");
    assert!(
        shown.contains(&format!("signed by           {}", signers.join(", "))),
        "{shown}"
    );
}

/// Refused at the door, never committed: a key nobody registered, a bad signature,
/// another chain. Signed by the wrong organisation, it is ordered but the rulebook
/// rejects it (`Unauthorized`) and it changes nothing.
#[test]
fn bad_transactions_are_refused_and_never_committed() {
    let _one = serial();
    let mut net = Devnet::init("refuse", &[], false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, START);
    let node = net.urls[0].clone();
    let gov = net.admin_key("gov");
    let bank = net.admin_key("bank");

    let submit =
        |file: &std::path::Path| xinbao(&["tx", "submit", file.to_str().unwrap(), "--node", &node]);
    let id_of = |file: &std::path::Path| -> String {
        let shown = xinbao(&["tx", "show", file.to_str().unwrap(), "--json"]);
        let value: Value = serde_json::from_slice(&shown.stdout).unwrap();
        value["tx_id"].as_str().unwrap().to_string()
    };
    let mut refused_ids = Vec::new();

    // A key that no organisation registered.
    let stranger = net.dir.join("stranger");
    assert!(
        xinbao(&["keys", "new", "--out", stranger.to_str().unwrap()])
            .status
            .success()
    );
    let file = tx_file(
        &net.dir,
        "stranger.json",
        "xinbao-devnet",
        1,
        create_fund("fund-s"),
    );
    assert!(xinbao(&[
        "tx",
        "sign",
        file.to_str().unwrap(),
        "--key",
        stranger.to_str().unwrap()
    ])
    .status
    .success());
    let out = submit(&file);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("UnregisteredKey"),
        "{}",
        text(&out.stderr)
    );
    refused_ids.push(id_of(&file));

    // A signature that does not verify: one byte of it changed.
    let file = tx_file(
        &net.dir,
        "bad-signature.json",
        "xinbao-devnet",
        2,
        create_fund("fund-b"),
    );
    assert!(xinbao(&[
        "tx",
        "sign",
        file.to_str().unwrap(),
        "--key",
        gov.to_str().unwrap()
    ])
    .status
    .success());
    let mut tx: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let signature = tx["signatures"][0]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    tx["signatures"][0]["signature"] = Value::String(format!("{flipped}{}", &signature[1..]));
    std::fs::write(&file, serde_json::to_vec(&tx).unwrap()).unwrap();
    let out = submit(&file);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("BadSignature"),
        "{}",
        text(&out.stderr)
    );
    refused_ids.push(id_of(&file));

    // Another chain's transaction.
    let file = tx_file(
        &net.dir,
        "other-chain.json",
        "another-chain",
        3,
        create_fund("fund-o"),
    );
    assert!(xinbao(&[
        "tx",
        "sign",
        file.to_str().unwrap(),
        "--key",
        gov.to_str().unwrap()
    ])
    .status
    .success());
    let out = submit(&file);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("WrongChain"),
        "{}",
        text(&out.stderr)
    );
    refused_ids.push(id_of(&file));

    // The wrong organisation: a bank cannot create the government's fund.
    let file = tx_file(
        &net.dir,
        "wrong-org.json",
        "xinbao-devnet",
        4,
        create_fund("fund-w"),
    );
    let out = send_and_wait(&file, &bank, &node);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("Unauthorized"),
        "{}",
        text(&out.stdout)
    );

    // A few blocks later, no validator knows the refused ones, and nothing changed.
    let height = net.height(0).unwrap();
    net.wait_height(&[0, 1, 2, 3], height + 2, Duration::from_secs(20));
    for url in &net.urls {
        for id in &refused_ids {
            let (status, answer) = get(url, &format!("/v1/tx/{id}")).unwrap();
            assert_eq!(
                status, 404,
                "{url} knows refused transaction {id}: {answer}"
            );
        }
        let (_, state) = get(url, "/v1/state").unwrap();
        assert_eq!(state["funds"], json!({}), "{url}: {state}");
    }
}

/// A validator whose consensus key is not in genesis cannot take part: its node refuses to
/// start, and the consortium goes on without it.
#[test]
fn a_node_whose_key_the_roster_does_not_name_cannot_take_part() {
    let _one = serial();
    let mut net = Devnet::init("stranger", &[], false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, START);

    // A fifth node: the same genesis and peers, a key of its own.
    let stranger_dir = net.dir.join("nodes/stranger");
    std::fs::create_dir_all(&stranger_dir).unwrap();
    let key = stranger_dir.join("consensus");
    assert!(xinbao(&["keys", "new", "--out", key.to_str().unwrap()])
        .status
        .success());
    std::fs::rename(
        stranger_dir.join("consensus.secret"),
        stranger_dir.join("consensus.key"),
    )
    .unwrap();
    let config = std::fs::read_to_string(net.config(0)).unwrap();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p2p_port = common::free_port_pair();
    let config: String = config
        .lines()
        .map(|line| {
            if line.starts_with("moniker") {
                "moniker = \"stranger\"".to_string()
            } else if line.starts_with("http_listen") {
                format!("http_listen = \"127.0.0.1:{http_port}\"")
            } else if line.starts_with("p2p_listen") {
                format!("p2p_listen = \"/ip4/127.0.0.1/tcp/{p2p_port}\"")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config_path = stranger_dir.join("config.toml");
    std::fs::write(&config_path, config + "\n").unwrap();

    // With the consortium's genesis, a key the roster does not name runs only as a
    // follower that nobody accepts: the validators take only the peers of their roster
    // (R11), so it never commits anything and the four go on as before.
    let log_path = stranger_dir.join("node.log");
    let mut child = common::spawn_node(&config_path, &log_path, false);
    let stranger_url = format!("http://127.0.0.1:{http_port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let stranger_peer = loop {
        if let Some((200, status)) = get(&stranger_url, "/v1/status") {
            break status["peer_id"].as_str().unwrap().to_string();
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the stranger's node did not come up:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let height = net.height(0).unwrap();
    net.wait_height(&[0, 1, 2, 3], height + 6, Duration::from_secs(30));
    let stranger_height = get(&stranger_url, "/v1/status").map(|(_, s)| s["height"].clone());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        stranger_height,
        Some(json!(0)),
        "the stranger committed blocks"
    );
    for url in &net.urls {
        let (_, status) = get(url, "/v1/status").unwrap();
        assert_eq!(status["validators"].as_array().unwrap().len(), 4);
        let peers = status["peers"].as_array().unwrap();
        assert!(
            !peers.iter().any(|p| p == stranger_peer.as_str()),
            "{url} took the stranger {stranger_peer} as a peer: {peers:?}"
        );
    }

    // A genesis of its own that names it does not start at all: the founders' approvals
    // are of the consortium's genesis, not of this one (R11.1).
    let mut own_genesis: Value =
        serde_json::from_slice(&std::fs::read(net.dir.join("genesis.json")).unwrap()).unwrap();
    let public = std::fs::read_to_string(stranger_dir.join("consensus.public")).unwrap();
    own_genesis["validators"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "org": "bank",
            "consensus_key": public.trim(),
            "voting_power": 1,
            "address": format!("/ip4/127.0.0.1/tcp/{p2p_port}"),
        }));
    std::fs::write(
        stranger_dir.join("own-genesis.json"),
        serde_json::to_vec_pretty(&own_genesis).unwrap(),
    )
    .unwrap();
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("../../genesis.json", "own-genesis.json");
    std::fs::write(&config_path, config).unwrap();
    let log = stranger_dir.join("own-genesis.log");
    let mut child = common::spawn_node(&config_path, &log, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("the stranger's node kept running:\n{log}"));
    assert!(!status.success(), "{log}");
    assert!(log.contains("does not verify"), "{log}");

    let (code, _) = post_json(&net.urls[0], "/v1/devnet/clock", &json!({"time_ms": 1}));
    assert_eq!(
        code, 403,
        "a node without --devnet-clock must refuse to set its clock"
    );
}

/// Blocks when there is work: an idle consortium writes no block, then exactly one when
/// the calendar day turns in UTC+8 (dated with the new day) and one when the heartbeat
/// is due, and none in between.
#[test]
fn an_idle_consortium_writes_a_block_only_for_the_day_turning_and_the_heartbeat() {
    const DAY_MS: u64 = 86_400_000;
    const CST_MS: u64 = 8 * 3_600_000;
    const HEARTBEAT_MS: u64 = 600_000;
    let _one = serial();
    let heartbeat = HEARTBEAT_MS.to_string();
    let mut net = Devnet::init("idle", &["--heartbeat-ms", &heartbeat], true);
    net.start_all();
    let all = [0, 1, 2, 3];
    net.wait_height(&all, 1, START);

    let heights =
        |net: &Devnet| -> Vec<Option<u64>> { all.iter().map(|i| net.height(*i)).collect() };
    let stays_at = |net: &Devnet, height: u64, wait: Duration, why: &str| {
        std::thread::sleep(wait);
        assert_eq!(heights(net), vec![Some(height); 4], "{why}");
    };
    let set_clocks = |net: &Devnet, time_ms: u64| {
        for url in &net.urls {
            let (code, body) = post_json(url, "/v1/devnet/clock", &json!({ "time_ms": time_ms }));
            assert_eq!(code, 200, "{body}");
        }
    };
    let tip_time = |net: &Devnet| -> u64 {
        get(&net.urls[0], "/v1/status").unwrap().1["latest_time_ms"]
            .as_u64()
            .unwrap()
    };
    let cst_day = |ms: u64| (ms + CST_MS) / DAY_MS;

    let idle = net.height(0).unwrap();
    net.wait_height(&all, idle, Duration::from_secs(20));
    stays_at(
        &net,
        idle,
        Duration::from_secs(6),
        "an idle consortium wrote a block",
    );

    // The first second of the next day in UTC+8.
    let last = tip_time(&net);
    let next_day = (cst_day(last) + 1) * DAY_MS - CST_MS + 1_000;
    set_clocks(&net, next_day);
    net.wait_height(&all, idle + 1, Duration::from_secs(30));
    let dated = tip_time(&net);
    assert!(
        dated >= next_day,
        "the day's block is dated {dated}, before {next_day}"
    );
    assert_eq!(
        cst_day(dated),
        cst_day(last) + 1,
        "the block is not dated the next day"
    );
    stays_at(
        &net,
        idle + 1,
        Duration::from_secs(4),
        "more than one block for one turn of the day",
    );

    // Half a heartbeat on: nothing is due yet. A whole heartbeat on: one block.
    set_clocks(&net, dated + HEARTBEAT_MS / 2);
    stays_at(
        &net,
        idle + 1,
        Duration::from_secs(3),
        "a block before the heartbeat was due",
    );
    set_clocks(&net, dated + HEARTBEAT_MS);
    net.wait_height(&all, idle + 2, Duration::from_secs(30));
    assert!(tip_time(&net) >= dated + HEARTBEAT_MS);
    stays_at(
        &net,
        idle + 2,
        Duration::from_secs(3),
        "more than one block for one heartbeat",
    );
    net.assert_same_chain(&all, idle + 2);
}
