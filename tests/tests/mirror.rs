//! The ledger mirrored into a real PostgreSQL server: for each worked example, a devnet
//! replays it under a steady load while `xinbao mirror` follows a validator, is killed
//! with SIGKILL and started again; then `xinbao mirror check` finds the database equal to
//! the node's figures, and the queries of `docs/SQL.md` give the node's own figures.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pg;
use common::txs::run_load;
use common::{binaries, get, serial, text, workspace, xinbao, Devnet};
use ledger::crypto::SecretKey;
use serde_json::Value;

const START: Duration = Duration::from_secs(40);

fn start_mirror(dir: &Path, url: &str, database: &str, run: usize) -> Child {
    let log = std::fs::File::create(dir.join(format!("mirror-{run}.log"))).unwrap();
    Command::new(&binaries().xinbao)
        .args(["mirror", "--node", url, "--database", database, "--genesis"])
        .arg(dir.join("genesis.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("run xinbao mirror")
}

/// The height the database says it holds (0 before the first block).
fn mirrored_height(db: &mut postgres::Client) -> u64 {
    db.query_opt("SELECT height FROM mirror_position", &[])
        .ok()
        .flatten()
        .map_or(0, |row| row.get::<_, i64>(0) as u64)
}

fn wait_mirrored(db: &mut postgres::Client, height: u64, mirror: &mut Child, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while mirrored_height(db) < height {
        if let Ok(Some(status)) = mirror.try_wait() {
            panic!(
                "the mirror exited ({status}) at height {}: {}",
                mirrored_height(db),
                mirror_logs(dir)
            );
        }
        assert!(
            Instant::now() < deadline,
            "the mirror holds height {} of {height}: {}",
            mirrored_height(db),
            mirror_logs(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mirror_logs(dir: &Path) -> String {
    (0..2)
        .map(|i| std::fs::read_to_string(dir.join(format!("mirror-{i}.log"))).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// The queries of docs/SQL.md, by the name on their `-- check:` line.
fn documented_queries() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(workspace().join("docs/SQL.md")).unwrap();
    let mut queries = BTreeMap::new();
    for block in doc.split("```sql\n").skip(1) {
        let sql = block.split("```").next().unwrap();
        if let Some(name) = sql
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-- check: "))
        {
            queries.insert(name.trim().to_string(), sql.to_string());
        }
    }
    queries
}

fn node_json(url: &str, path: &str) -> Value {
    let (code, answer) = get(url, path).unwrap_or_else(|| panic!("{url}{path}"));
    assert_eq!(code, 200, "{path}: {answer}");
    answer
}

fn as_i64(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("not a whole number: {v}"))
}

/// Each documented query against the database, checked against the node's figures.
fn check_documented_queries(db: &mut postgres::Client, url: &str, example: &str) {
    let queries = documented_queries();
    let names: Vec<&str> = queries.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "claims_paid_late_by_insurer",
            "fund_movements_reconcile",
            "fund_outlay_against_cap",
            "policies_by_rate_filing",
            "ratios_by_programme_and_month",
        ]
    );
    let state = node_json(url, "/v1/state");

    // The month ends: each programme's history as the node records it.
    let sql =
        format!(
        "SELECT q.*, q.month_end::text AS month_end_text FROM ({}) q ORDER BY programme, month_end",
        queries["ratios_by_programme_and_month"].trim().trim_end_matches(';')
    );
    let rows = db.query(&sql, &[]).unwrap();
    let mut months = 0;
    for id in state["programmes"].as_object().unwrap().keys() {
        let programme = node_json(url, &format!("/v1/programmes/{id}"));
        let history = programme["months"].as_array().unwrap();
        let ours: Vec<&postgres::Row> = rows
            .iter()
            .filter(|r| r.get::<_, String>("programme") == *id)
            .collect();
        assert_eq!(ours.len(), history.len(), "{example} {id}: month ends");
        for (row, month) in ours.iter().zip(history) {
            let end: String = row.get("month_end_text");
            assert_eq!(end, month["as_of"].as_str().unwrap(), "{example} {id}");
            for field in [
                "premium_written_fen",
                "claims_gross_fen",
                "loss_ratio_bps",
                "outstanding_principal_fen",
                "overdue_principal_fen",
                "overdue_ratio_bps",
            ] {
                assert_eq!(
                    row.get::<_, i64>(field),
                    as_i64(&month[field]),
                    "{example} {id} {end} {field}"
                );
            }
            assert_eq!(
                row.get::<_, String>("status"),
                month["status"].as_str().unwrap()
            );
            months += 1;
        }
    }
    assert!(months > 0, "{example}: the example spans month ends");

    // Claims paid late by insurer: the node's claims desk.
    let desk = node_json(url, "/v1/claims?status=all&limit=200");
    let mut expected: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for claim in desk["items"].as_array().unwrap() {
        let entry = expected
            .entry(claim["insurer"].as_str().unwrap().to_string())
            .or_default();
        if claim["status"] == "Paid" {
            entry.0 += 1;
        }
        if claim["late"] == true {
            entry.1 += 1;
            entry.2 += as_i64(&claim["insurer_pays_bank_fen"]);
        }
    }
    let got: BTreeMap<String, (i64, i64, i64)> = db
        .query(&queries["claims_paid_late_by_insurer"], &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    assert_eq!(got, expected, "{example}: claims paid late by insurer");

    // Policies by rate filing: the node's filings and the policies each allowed.
    let filings = node_json(url, "/v1/filings?limit=200");
    let expected: BTreeMap<String, i64> = filings["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                as_i64(&f["policies"]),
            )
        })
        .collect();
    let got: BTreeMap<String, i64> = db
        .query(&queries["policies_by_rate_filing"], &[])
        .unwrap()
        .iter()
        .map(|r| (r.get("filing_hash"), r.get("policies")))
        .collect();
    assert_eq!(got, expected, "{example}: policies by rate filing");

    // The fund's outlay: every year's payments add up to what the rulebook says it paid,
    // and the movements to its balance and payments.
    let funds = state["funds"].as_object().unwrap();
    let outlay = db.query(&queries["fund_outlay_against_cap"], &[]).unwrap();
    let movements = db.query(&queries["fund_movements_reconcile"], &[]).unwrap();
    for (id, fund) in funds {
        let paid = as_i64(&fund["subsidies_paid_fen"]) + as_i64(&fund["compensation_paid_fen"]);
        let by_year: i64 = outlay
            .iter()
            .filter(|r| r.get::<_, String>("fund") == *id)
            .map(|r| {
                let used: i64 = r.get("cap_used_bps");
                let (paid, cap): (i64, i64) = (r.get("paid_fen"), r.get("annual_cap_fen"));
                assert_eq!(used, paid * 10000 / cap);
                paid
            })
            .sum();
        assert_eq!(by_year, paid, "{example} {id}: paid by year");
        let sum = |col: &str| -> i64 {
            movements
                .iter()
                .filter(|r| r.get::<_, String>("fund") == *id)
                .map(|r| r.get::<_, i64>(col))
                .sum()
        };
        assert_eq!(
            sum("balance_change_fen"),
            as_i64(&fund["balance_fen"]),
            "{example} {id}"
        );
        assert_eq!(
            sum("subsidies_paid_fen"),
            as_i64(&fund["subsidies_paid_fen"]),
            "{example} {id}"
        );
        assert_eq!(
            sum("compensation_paid_fen"),
            as_i64(&fund["compensation_paid_fen"]),
            "{example} {id}"
        );
    }
}

/// Every worked example through a devnet and a mirror killed mid-run.
#[test]
fn a_mirror_killed_mid_run_matches_the_node_for_every_worked_example() {
    let _one = serial();
    let pg = pg::Postgres::start("mirror");
    let mut examples: Vec<_> = std::fs::read_dir(workspace().join("network-configs/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5);
    let mut admin = pg.connect("postgres");
    for (n, example) in examples.iter().enumerate() {
        let name = example.file_stem().unwrap().to_string_lossy().to_string();
        let database = format!("ledger_{n}");
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .unwrap();
        let url_db = pg.url(&database);
        let mut db = pg.connect(&database);
        let scenario = example.to_str().unwrap().to_string();
        let mut net = Devnet::init(&format!("mirror-{n}"), &["--orgs-from", &scenario], true);
        net.start_all();
        net.wait_height(&[0, 1, 2, 3], 1, START);
        let url0 = net.urls[0].clone();

        let mut mirror = start_mirror(&net.dir, &url0, &url_db, 0);
        // A bank flags enterprises all along, through every validator.
        let bank = net.manifest["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "Bank")
            .map(|o| o["id"].as_str().unwrap().to_string())
            .expect("a bank");
        let key = SecretKey::read_file(&net.admin_key(&bank)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(Mutex::new(Vec::new()));
        let chain = net.manifest["chain_id"].as_str().unwrap().to_string();
        let load = run_load(net.urls.clone(), &chain, key, stop.clone(), taken.clone());
        let replay = net.replay_in_background(&scenario, 1);
        // Killed once it has written a few blocks, at whatever instant that is.
        wait_mirrored(&mut db, 4, &mut mirror, &net.dir);
        mirror.kill().unwrap();
        mirror.wait().unwrap();
        let at_kill = mirrored_height(&mut db);
        let mut mirror = start_mirror(&net.dir, &url0, &url_db, 1);

        let output = replay.join().unwrap();
        assert!(output.status.success(), "{name}: {}", text(&output.stderr));
        stop.store(true, Ordering::SeqCst);
        load.join().unwrap();
        assert!(!taken.lock().unwrap().is_empty(), "{name}: the load ran");
        let tip = net.height(1).unwrap();
        net.wait_height(&[0], tip, Duration::from_secs(60));
        wait_mirrored(&mut db, tip, &mut mirror, &net.dir);
        assert!(
            at_kill < tip,
            "{name}: the mirror was killed before the end"
        );

        let genesis = net.dir.join("genesis.json");
        let mirror_check = || {
            xinbao(&[
                "mirror",
                "check",
                "--node",
                &url0,
                "--database",
                &url_db,
                "--genesis",
                genesis.to_str().unwrap(),
            ])
        };
        let check = mirror_check();
        assert!(
            check.status.success(),
            "{name}: mirror check: {}{}",
            text(&check.stdout),
            text(&check.stderr)
        );
        assert!(
            text(&check.stdout).contains("matches the node"),
            "{}",
            text(&check.stdout)
        );
        // Every transaction of the chain once, in its block.
        let txs: i64 = db
            .query_one("SELECT count(*) FROM transactions", &[])
            .unwrap()
            .get(0);
        let committed: u64 = (1..=tip)
            .map(|h| {
                node_json(&url0, &format!("/v1/blocks/{h}"))["txs"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(txs as u64, committed, "{name}: transactions mirrored");
        check_documented_queries(&mut db, &url0, &name);

        if n == 0 {
            // A difference is named, and the check fails.
            db.batch_execute(
                "UPDATE claims SET fund_fen = fund_fen + 1 WHERE fund_fen IS NOT NULL",
            )
            .unwrap();
            let check = mirror_check();
            assert_eq!(check.status.code(), Some(1), "{}", text(&check.stdout));
            assert!(
                text(&check.stdout).contains("fund_fen is"),
                "{}",
                text(&check.stdout)
            );
        }
        mirror.kill().unwrap();
        mirror.wait().unwrap();
    }
}
