//! The event feed end to end: `xinbao events` following a validator through a worked
//! example while that validator is killed and restarted, and the feed's positions,
//! resumption and filters read over HTTP.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{binaries, get, scenario_path, serial, Devnet};
use serde_json::Value;

const START: Duration = Duration::from_secs(40);

/// Which events of the whole feed a filter should pass: (event name, data).
type Predicate = Box<dyn Fn(&str, &Value) -> bool>;

/// `xinbao events ARGS` running, its JSON lines written to a file.
struct Consumer {
    child: Child,
    out: PathBuf,
}

impl Consumer {
    fn start(dir: &Path, name: &str, args: &[&str]) -> Consumer {
        let out = dir.join(format!("{name}.jsonl"));
        let err = dir.join(format!("{name}.err"));
        let child = Command::new(&binaries().xinbao)
            .arg("events")
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(err).unwrap())
            .spawn()
            .expect("run xinbao events");
        Consumer { child, out }
    }

    /// The events printed so far (whole lines only).
    fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    /// Waits until `done` holds of the events printed.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events();
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen after {timeout:?}; {} events: {:?}",
                events.len(),
                events.last()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn position(event: &Value) -> (u64, u32) {
    let id = event["id"].as_str().expect("an id");
    let (h, i) = id.split_once(':').expect("HEIGHT:INDEX");
    (h.parse().unwrap(), i.parse().unwrap())
}

/// Every transaction and block of heights `1..=tip`, as the node's blocks list them, in
/// feed order: (position, event name, transaction id or block id).
fn chain_positions(url: &str, tip: u64) -> Vec<((u64, u32), String, String)> {
    let mut all = Vec::new();
    for height in 1..=tip {
        let (code, block) = get(url, &format!("/v1/blocks/{height}")).expect("a block");
        assert_eq!(code, 200, "{block}");
        let txs = block["transactions"].as_array().unwrap();
        for tx in txs {
            let index = tx["index"].as_u64().unwrap() as u32;
            all.push((
                (height, index),
                "tx".to_string(),
                tx["tx_id"].as_str().unwrap().to_string(),
            ));
        }
        all.push((
            (height, txs.len() as u32),
            "block".to_string(),
            block["block_id"].as_str().unwrap().to_string(),
        ));
    }
    all
}

/// A consumer of approved claims follows validator 0 from the start of the chain through
/// a worked example, while validator 0 is killed with SIGKILL and started again: it sees
/// the example's approved claim exactly once, with the rulebook's split and due dates;
/// a consumer of every event sees every transaction and block of the chain exactly once,
/// in order.
#[test]
fn consumers_see_every_event_once_through_a_node_restart() {
    let _one = serial();
    let scenario = scenario_path("a-ningbo-style.json");
    let scenario = scenario.to_str().unwrap().to_string();
    let mut net = Devnet::init("events", &["--orgs-from", &scenario], true);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, START);
    let url0 = net.urls[0].clone();

    let claims = Consumer::start(
        &net.dir,
        "claims",
        &[
            "--node",
            &url0,
            "--from",
            "0:0",
            "--type",
            "DecideClaim",
            "--retry-seconds",
            "120",
        ],
    );
    let all = Consumer::start(
        &net.dir,
        "all",
        &["--node", &url0, "--from", "0:0", "--retry-seconds", "120"],
    );
    all.wait_for("the first blocks", START, |e| !e.is_empty());

    // The example goes in through validator 1; validator 0 is killed once its claim is
    // filed, and started again once the consumers have found it gone. The replay waits
    // for it to set its clock, so the claim is decided while the consumers reconnect.
    let replay = net.replay_in_background(&scenario, 1);
    all.wait_for("the claim filed", Duration::from_secs(120), |e| {
        e.iter().any(|e| e["data"]["type"] == "FileClaim")
    });
    net.kill(0);
    let killed_at = net.height(1).expect("validator 1 answers");
    let reconnecting = |name: &str| {
        std::fs::read_to_string(net.dir.join(format!("{name}.err")))
            .unwrap_or_default()
            .contains("connecting again")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(reconnecting("all") && reconnecting("claims")) {
        assert!(
            Instant::now() < deadline,
            "the consumers did not notice the node gone"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    net.start(0);

    let output = replay.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let tip = net.height(1).unwrap();
    net.wait_height(&[0], tip, Duration::from_secs(60));

    // Every transaction and block up to the tip, once each, in order.
    let expected = chain_positions(&net.urls[1], tip);
    let seen = all.wait_for("every event up to the tip", Duration::from_secs(60), |e| {
        e.iter().any(|e| position(e) == expected.last().unwrap().0)
    });
    let seen: Vec<_> = seen
        .iter()
        .filter(|e| position(e).0 <= tip)
        .map(|e| {
            let id = match e["event"].as_str().unwrap() {
                "tx" => e["data"]["tx_id"].as_str().unwrap().to_string(),
                _ => e["data"]["block_id"].as_str().unwrap().to_string(),
            };
            (position(e), e["event"].as_str().unwrap().to_string(), id)
        })
        .collect();
    assert_eq!(seen.len(), expected.len(), "events seen vs the chain's");
    assert_eq!(seen, expected);

    // The approved claims, once each, with the figures of the rulebook's document.
    let claims_doc = document["claims"].as_object().unwrap();
    let approved_expected: BTreeSet<&str> = claims_doc
        .iter()
        .filter(|(_, c)| !c["insurer_pays_bank_fen"].is_null())
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(!approved_expected.is_empty());
    let decided = claims.wait_for("every approved claim", Duration::from_secs(60), |e| {
        let approved: BTreeSet<&str> = e
            .iter()
            .flat_map(|e| e["data"]["decisions"].as_array().into_iter().flatten())
            .filter(|d| d["kind"] == "ClaimApproved")
            .filter_map(|d| d["claim"].as_str())
            .collect();
        approved == approved_expected
    });
    let mut approvals: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for event in &decided {
        assert_eq!(event["data"]["type"], "DecideClaim", "{event}");
        for d in event["data"]["decisions"].as_array().unwrap() {
            if d["kind"] == "ClaimApproved" {
                approvals
                    .entry(d["claim"].as_str().unwrap().to_string())
                    .or_default()
                    .push(d.clone());
            }
        }
    }
    let positions: Vec<_> = decided.iter().map(position).collect();
    assert!(
        positions.iter().any(|(h, _)| *h > killed_at),
        "a claim was decided after validator 0 was killed (at height {killed_at}): {positions:?}"
    );
    let unique: BTreeSet<_> = positions.iter().collect();
    assert_eq!(unique.len(), positions.len(), "a DecideClaim event twice");
    for (id, seen) in &approvals {
        assert_eq!(seen.len(), 1, "claim {id} approved {} times", seen.len());
        let d = &seen[0];
        let c = &claims_doc[id];
        for field in [
            "bank_retained_fen",
            "insurer_gross_fen",
            "insurer_pays_bank_fen",
            "fund_fen",
            "fund_shortfall_fen",
            "reinsurer_fen",
            "insurer_retained_fen",
        ] {
            assert_eq!(d["split"][field], c[field], "claim {id}: {field}");
        }
        assert_eq!(d["loss_fen"], c["loss_fen"], "claim {id}");
        assert_eq!(d["payment_due"], c["payment_due"], "claim {id}");
        assert_eq!(d["decision_due"], c["decision_due"], "claim {id}");
    }
}

/// The next `n` server-sent events of `GET url` (with `Last-Event-ID` if given), read
/// over a raw connection, as (id, event, data).
fn read_events(url: &str, last_id: Option<&str>, n: usize) -> Vec<(String, String, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(id) = last_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.call().expect("the stream");
    let mut lines = BufReader::new(response.into_body().into_reader()).lines();
    let mut events = Vec::new();
    let (mut id, mut name, mut data) = (String::new(), String::new(), String::new());
    while events.len() < n {
        let line = lines.next().expect("more events").expect("a line");
        if line.is_empty() {
            if !data.is_empty() {
                events.push((
                    id.clone(),
                    name.clone(),
                    serde_json::from_str(&data).unwrap(),
                ));
            }
            data.clear();
            continue;
        }
        if let Some(v) = line
            .strip_prefix("id: ")
            .or_else(|| line.strip_prefix("id:"))
        {
            id = v.to_string();
        } else if let Some(v) = line
            .strip_prefix("event: ")
            .or_else(|| line.strip_prefix("event:"))
        {
            name = v.to_string();
        } else if let Some(v) = line
            .strip_prefix("data: ")
            .or_else(|| line.strip_prefix("data:"))
        {
            data.push_str(v);
        }
    }
    events
}

/// Positions order the feed; `from` and `Last-Event-ID` (which wins) resume right after
/// one; filters select by type, programme, organisation and outcome; a bad filter or
/// position is refused with `BadQuery`.
#[test]
fn positions_resume_and_filters_select() {
    let _one = serial();
    let scenario = scenario_path("c-guangzhou-style.json");
    let scenario = scenario.to_str().unwrap().to_string();
    let mut net = Devnet::init("events-http", &["--orgs-from", &scenario], true);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, START);
    let document = net.replay(&scenario, 0);
    let url = net.urls[0].clone();
    let tip = net.height(0).unwrap();
    let expected = chain_positions(&url, tip);
    let n = expected.len();

    let whole = read_events(&format!("{url}/v1/events?from=0:0"), None, n);
    let ids: Vec<String> = whole.iter().map(|(id, _, _)| id.clone()).collect();
    let chain_ids: Vec<String> = expected
        .iter()
        .map(|((h, i), _, _)| format!("{h}:{i}"))
        .collect();
    assert_eq!(ids, chain_ids);
    for (id, name, data) in &whole {
        assert_eq!(data["position"], id.as_str());
        assert!(name == "tx" || name == "block");
    }

    // Resuming after any event gives exactly what followed it; the header wins over `from`.
    for k in [0, n / 3, n / 2, n - 3] {
        let after = &whole[k].0;
        let by_query = read_events(&format!("{url}/v1/events?from={after}"), None, 1);
        assert_eq!(by_query[0].0, whole[k + 1].0);
        let by_header = read_events(&format!("{url}/v1/events?from=0:0"), Some(after), 2);
        assert_eq!(by_header[0].0, whole[k + 1].0);
        assert_eq!(by_header[1].0, whole[k + 2].0);
    }

    // Filters: a subset of the whole, in the same order.
    // A programme's and an organisation's transactions: named in each event, and every
    // event that names them.
    let programme = document["programmes"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let insurer = whole
        .iter()
        .find(|(_, _, d)| d["type"] == "FileRate")
        .map(|(_, _, d)| d["orgs"][0].as_str().unwrap().to_string())
        .expect("a rate filing");
    let of_type = |d: &Value, types: &[&str]| types.contains(&d["type"].as_str().unwrap_or(""));
    let lending = [
        "IssuePolicy",
        "DisburseLoan",
        "RecordRepayment",
        "FileClaim",
        "DecideClaim",
    ];
    let cases: Vec<(String, Predicate)> = vec![
        ("type=block".into(), Box::new(|name, _| name == "block")),
        (
            "type=IssuePolicy,FileClaim".into(),
            Box::new(move |_, d| of_type(d, &["IssuePolicy", "FileClaim"])),
        ),
        (
            "outcome=Rejected&type=IssuePolicy,DisburseLoan,FileClaim,DecideClaim".into(),
            Box::new(move |_, d| {
                d["outcome"] == "Rejected"
                    && of_type(
                        d,
                        &["IssuePolicy", "DisburseLoan", "FileClaim", "DecideClaim"],
                    )
            }),
        ),
        (
            format!("type={}&programme={programme}", lending.join(",")),
            Box::new(move |_, d| d["programme"] == programme.as_str() && of_type(d, &lending)),
        ),
        (
            format!("type=FileRate,IssuePolicy,DecideClaim&org={insurer}"),
            Box::new(move |_, d| {
                of_type(d, &["FileRate", "IssuePolicy", "DecideClaim"])
                    && d["orgs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|o| o == insurer.as_str())
            }),
        ),
    ];
    for (query, pred) in &cases {
        let expect: Vec<&String> = whole
            .iter()
            .filter(|(_, name, data)| pred(name, data))
            .map(|(id, _, _)| id)
            .collect();
        assert!(!expect.is_empty(), "{query}: the example has such events");
        let got = read_events(
            &format!("{url}/v1/events?from=0:0&{query}"),
            None,
            expect.len(),
        );
        let got: Vec<&String> = got.iter().map(|(id, _, _)| id).collect();
        assert_eq!(got, expect, "{query}");
    }

    for bad in [
        "type=NoSuchAction",
        "from=12",
        "outcome=accepted",
        "colour=red",
    ] {
        let (code, answer) = get(&url, &format!("/v1/events?{bad}")).expect("an answer");
        assert_eq!(code, 400, "{bad}: {answer}");
        assert_eq!(answer["error"]["code"], "BadQuery", "{bad}: {answer}");
    }
}

/// A consumer that stops reading while history waits for it is sent a final `end` event
/// (`ConsumerTooSlow`) naming the last position it was sent, and disconnected; connecting
/// again after that position goes on with the next event.
#[test]
fn a_consumer_that_stops_reading_is_cut_off_with_where_to_resume() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    let _one = serial();
    let mut net = Devnet::init("events-slow", &["--heartbeat-ms", "600000"], false);
    // Validator 0 cuts off a consumer that leaves events waiting for a second.
    let config = net.config(0);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[events]\nstall_seconds = 1\n");
    std::fs::write(&config, text).unwrap();
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, START);
    let url = net.urls[0].clone();

    // More history than the sockets between them hold (loopback's send buffer grows to
    // 4 MiB): a bank flags twelve thousand enterprises, about 7 MB of events.
    let chain = ledger::Id::new(net.manifest["chain_id"].as_str().unwrap()).unwrap();
    let key = ledger::crypto::SecretKey::read_file(&net.admin_key("bank")).unwrap();
    let height = net.height(0).unwrap();
    let committed = |id: &str| {
        get(&url, &format!("/v1/tx/{id}")).map(|(_, t)| t["status"] == "committed") == Some(true)
    };
    // Sent as a client must: what the node refuses for now (`Backlog`: more pending than
    // it commits soon) is sent again once what it took is committed.
    let mut waiting: Vec<ledger::tx::SignedTx> = (0..12_000u64)
        .map(|n| {
            let mut tx = ledger::tx::SignedTx::unsigned(ledger::tx::TxBody {
                chain_id: chain.clone(),
                nonce: n,
                expires_at_height: height + 900,
                action: ledger::Action::FlagEnterprise(ledger::action::FlagEnterprise {
                    enterprise: ledger::Id::new(format!("slow-{n}")).unwrap(),
                    reason: ledger::Text::new("a consumer's history").unwrap(),
                }),
            });
            tx.sign(&key).unwrap();
            tx
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !waiting.is_empty() {
        assert!(Instant::now() < deadline, "{} not committed", waiting.len());
        let batch: Vec<ledger::tx::SignedTx> = waiting.drain(..waiting.len().min(1_000)).collect();
        let (code, answer) = common::post_json(&url, "/v1/txs", &serde_json::json!(batch));
        assert_eq!(code, 200, "HTTP {code}");
        let results = answer["results"].as_array().unwrap();
        let mut last_taken = None;
        for (tx, result) in batch.into_iter().zip(results) {
            match (result["id"].as_str(), result["error"]["code"].as_str()) {
                (Some(id), _) => last_taken = Some(id.to_string()),
                (None, Some("Backlog")) => waiting.push(tx),
                (None, other) => panic!("refused: {other:?}: {result}"),
            }
        }
        if let Some(id) = last_taken {
            while !committed(&id) {
                assert!(Instant::now() < deadline, "{id} not committed");
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // A consumer with a small receive buffer asks for the whole history, then stops
    // reading for longer than the node allows.
    let address = url.trim_start_matches("http://");
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    let small: libc::c_int = 4096;
    // SAFETY: a valid socket and a c_int option of its size.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &small as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    write!(
        socket,
        "GET /v1/events?from=0:0 HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 512];
    let n = socket.read(&mut head).unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_secs(4));
    // Then reads what was sent, up to the end of the chunked body (the connection itself
    // stays open for another request).
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(120);
    while !rest.ends_with(b"\r\n0\r\n\r\n") {
        assert!(Instant::now() < deadline, "the stream did not end");
        let n = socket.read(&mut chunk).expect("the stream goes on");
        assert!(
            n > 0,
            "the node closed the connection before the stream's end"
        );
        rest.extend_from_slice(&chunk[..n]);
    }
    let rest = String::from_utf8_lossy(&rest);
    let mut last_id = None;
    let mut end = None;
    let mut event = "";
    for line in rest.lines() {
        if let Some(id) = line
            .strip_prefix("id: ")
            .or_else(|| line.strip_prefix("id:"))
        {
            if event != "end" {
                last_id = Some(id.to_string());
            }
        } else if let Some(name) = line
            .strip_prefix("event: ")
            .or_else(|| line.strip_prefix("event:"))
        {
            event = if name == "end" { "end" } else { "" };
        } else if let Some(data) = line
            .strip_prefix("data: ")
            .or_else(|| line.strip_prefix("data:"))
        {
            if event == "end" {
                end = Some(serde_json::from_str::<Value>(data).unwrap());
            }
        }
    }
    let end = end.unwrap_or_else(|| panic!("no end event in {} bytes", rest.len()));
    assert_eq!(end["code"], "ConsumerTooSlow", "{end}");
    let resume = end["resume_after"].as_str().unwrap().to_string();
    assert_eq!(Some(resume.clone()), last_id, "{end}");
    let (_, metrics) = common::get(&url, "/metrics").expect("metrics");
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics
            .lines()
            .any(|l| l == "xinbao_events_consumers_cut_off_total 1"),
        "the cut-off is counted"
    );

    // Connecting again after it gives the event that followed it in the whole feed.
    let tip = net.height(0).unwrap();
    let n = chain_positions(&url, tip).len();
    let whole = read_events(&format!("{url}/v1/events?from=0:0"), None, n);
    let k = whole
        .iter()
        .position(|(id, _, _)| *id == resume)
        .expect("a position of the feed");
    let next = read_events(&format!("{url}/v1/events"), Some(&resume), 1);
    assert_eq!(next[0].0, whole[k + 1].0);
    assert!(
        k + 1 < 12_000,
        "the consumer was cut off before the end ({k})"
    );
}
