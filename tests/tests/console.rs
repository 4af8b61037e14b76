//! The console in a real browser: Debian's Chromium, headless, driven through ChromeDriver
//! (WebDriver over HTTP), against a devnet of four `xinbao-node` processes that has
//! replayed the Yunnan-style worked example (a claim paid late, a programme suspended on
//! its loss ratio).
//!
//! The test loads every page and checks what it shows against the API's own answers:
//! which validators signed the latest block, a claim's split, due dates and lateness, the
//! loss-ratio chart's latest point and its thresholds; it searches for the claim, sees a
//! new block arrive in the live feed after a transaction is committed, switches the
//! language both ways, and fails on any script error the page records or the browser logs.
//! Screenshots of the main pages go to `target/console-screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs); without them the test fails and says so.

mod common;

use std::time::Duration;

use common::browser::{Browser, PAGE_TIMEOUT};
use common::*;
use serde_json::{json, Value};

/// Yuan as the console writes fen: `¥1,234.56`.
fn yuan(fen: u64) -> String {
    let whole = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("¥{grouped}.{:02}", fen % 100)
}

#[test]
fn the_console_shows_the_chain_and_the_business_in_a_real_browser() {
    let _one = serial();
    let scenario = scenario_path("b-yunnan-style.json");
    let scenario = scenario.to_str().unwrap();
    // Blocks only when there is work, so that the block the test waits for in the live
    // feed is the one its transaction made.
    let mut net = Devnet::init(
        "console",
        &["--orgs-from", scenario, "--heartbeat-ms", "600000"],
        true,
    );
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, Duration::from_secs(60));
    net.replay(scenario, 0);
    let node = &net.urls[0];
    let console = format!("{node}/console/");
    let browser = Browser::start();

    // Network: every validator listed; the latest block's signers are the certificate's.
    browser.page(&console, "network");
    let (_, validators) = get(node, "/v1/validators?window=20").unwrap();
    let rows = browser.run("return document.querySelectorAll('[data-test=validator]').length;");
    assert_eq!(
        rows,
        json!(validators["validators"].as_array().unwrap().len())
    );
    assert_eq!(rows, json!(4));
    browser.screenshot("network");

    let (_, status) = get(node, "/v1/status").unwrap();
    // The chain's crypto suite, as the status names it.
    assert_eq!(status["crypto_suite"], "ed25519-blake3");
    assert_eq!(
        browser.text("[data-test=crypto-suite] .value"),
        "ed25519 / BLAKE3"
    );
    let tip = status["height"].as_u64().unwrap();
    let (_, block) = get(node, &format!("/v1/blocks/{tip}")).unwrap();
    let mut api_signers: Vec<String> = block["signed_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["org"].as_str().unwrap().to_string())
        .collect();
    api_signers.sort();
    assert!(
        api_signers.len() >= 3,
        "a certificate of 2/3+ of four: {api_signers:?}"
    );
    browser.page(&console, &format!("block/{tip}"));
    let shown = browser.run(
        "return [...document.querySelectorAll('[data-test=signer]')].map(r => r.getAttribute('data-org')).sort();",
    );
    assert_eq!(shown, json!(api_signers), "the signers of block {tip}");
    // R12: the block's protocol version, as its header records it.
    assert_eq!(
        browser.text("[data-test=block-version] .value"),
        block["header"]["protocol_version"].to_string()
    );
    browser.screenshot("block");

    // The claim: found by search, with its split, due dates and lateness.
    browser.page(&console, "network");
    browser.run("document.getElementById('search').value = 'clm-b1';");
    browser.click("#search-go");
    browser.wait(
        "location.hash === '#/claim/clm-b1' && document.body.getAttribute('data-ready') === 'true' && document.getElementById('claim-split')",
        PAGE_TIMEOUT,
        "the claim page after a search",
    );
    browser.assert_no_script_errors("claim/clm-b1");
    let (_, claim) = get(node, "/v1/claims/clm-b1").unwrap();
    for field in [
        "loss_fen",
        "bank_retained_fen",
        "insurer_gross_fen",
        "insurer_pays_bank_fen",
        "fund_fen",
        "reinsurer_fen",
        "insurer_retained_fen",
    ] {
        let shown = browser.text(&format!("#claim-split [data-field={field}] td"));
        assert_eq!(shown, yuan(claim[field].as_u64().unwrap()), "{field}");
    }
    for field in ["decision_due", "payment_due"] {
        let shown = browser.text(&format!("#claim-dates [data-field={field}] td"));
        assert_eq!(shown, claim[field].as_str().unwrap(), "{field}");
    }
    assert_eq!(claim["late"], json!(true), "the worked example pays late");
    assert_eq!(
        browser.run("return document.getElementById('claim-late').getAttribute('data-late');"),
        json!("true")
    );
    browser.screenshot("claim");

    // The claims desk lists it as paid late.
    browser.page(&console, "claims?status=late");
    let listed = browser.run(
        "return [...document.querySelectorAll('[data-test=claim-row]')].map(r => r.getAttribute('data-claim'));",
    );
    assert_eq!(listed, json!(["clm-b1"]));
    browser.screenshot("claims");
    // The desk's scopes: the claim's programme and insurer find it, another programme or
    // insurer does not, and the counts per insurer say it was paid late.
    let insurer = claim["insurer"].as_str().unwrap();
    for (query, expected) in [
        ("status=all&programme=prog-b".to_string(), 1),
        (format!("status=late&insurer={insurer}&programme=prog-b"), 1),
        ("status=all&programme=no-such-programme".to_string(), 0),
        ("status=all&insurer=no-such-insurer".to_string(), 0),
        ("status=open".to_string(), 0),
    ] {
        let (status, desk) = get(node, &format!("/v1/claims?{query}")).unwrap();
        assert_eq!(status, 200, "{query}: {desk}");
        assert_eq!(desk["total"], json!(expected), "{query}: {desk}");
        assert_eq!(desk["items"].as_array().unwrap().len(), expected, "{query}");
    }
    let (_, desk) = get(node, "/v1/claims?status=all").unwrap();
    assert_eq!(
        desk["per_insurer"],
        json!([{ "insurer": insurer, "claims": 1, "overdue": 0, "late": 1 }]),
        "{desk}"
    );

    // The programme: the loss-ratio chart's latest point and its thresholds.
    let (_, programme) = get(node, "/v1/programmes/prog-b").unwrap();
    assert!(
        !programme["months"].as_array().unwrap().is_empty(),
        "month ends recorded"
    );
    browser.page(&console, "programme/prog-b");
    let last = browser.run(
        "return document.querySelector('#loss-ratio-chart [data-test=last-point]').getAttribute('data-bps');",
    );
    assert_eq!(last, json!(programme["now"]["loss_ratio_bps"].to_string()));
    let points =
        browser.run("return document.querySelectorAll('#loss-ratio-chart circle').length;");
    assert_eq!(
        points,
        json!(programme["months"].as_array().unwrap().len() + 1)
    );
    let suspend = browser.run(
        "return document.querySelector('#loss-ratio-chart [data-threshold=suspend_line]').getAttribute('data-bps');",
    );
    assert_eq!(
        suspend,
        json!(programme["thresholds"]["loss_ratio_suspend_bps"].to_string())
    );
    assert_eq!(
        browser.run("return document.querySelector('[data-status]').getAttribute('data-status');"),
        json!("Suspended")
    );
    browser.screenshot("programme");

    // The other pages load and show what the API lists.
    for (route, selector, list) in [
        ("programmes", "[data-test=programme-row]", "/v1/programmes"),
        ("filings", "[data-test=filing-row]", "/v1/filings"),
        ("orgs", "[data-test=org-row]", "/v1/organisations"),
    ] {
        browser.page(&console, route);
        let (_, answer) = get(node, list).unwrap();
        let count = browser.run(&format!(
            "return document.querySelectorAll({}).length;",
            json!(selector)
        ));
        assert_eq!(
            count,
            json!(answer["items"].as_array().unwrap().len()),
            "{route}"
        );
        assert!(count.as_u64().unwrap() > 0, "{route} lists nothing");
    }
    browser.screenshot("organisations");

    // Rate filings: each with the policies issued under it (R3.2), listed on its page.
    let (_, filings) = get(node, "/v1/filings").unwrap();
    let filing = &filings["items"][0];
    let issued = filing["policies"].as_u64().unwrap();
    assert!(
        issued > 0,
        "the worked example issues policies under its filing: {filing}"
    );
    // Every policy was issued under exactly one filing: the filings' counts add up to the
    // policies in the state.
    let (_, state) = get(node, "/v1/state").unwrap();
    let policies = match &state["policies"] {
        Value::Object(map) => map.len(),
        Value::Array(list) => list.len(),
        other => panic!("the state's policies: {other}"),
    };
    let under_filings: u64 = filings["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["policies"].as_u64().unwrap())
        .sum();
    assert_eq!(under_filings, policies as u64, "{filings}");
    browser.page(&console, "filings");
    assert_eq!(
        browser.run("return document.querySelector('[data-test=filing-row]').getAttribute('data-policies');"),
        json!(issued.to_string())
    );
    let route = format!(
        "filing/{}/{}/{}",
        filing["insurer"].as_str().unwrap(),
        filing["product"].as_str().unwrap(),
        filing["id"].as_str().unwrap()
    );
    browser.page(&console, &route);
    let rows = browser.run("return document.querySelectorAll('[data-test=filing-policy]').length;");
    assert_eq!(rows, json!(issued));
    browser.screenshot("filing");
    // Governance: the version in force and its era from the genesis on, as the API has them.
    browser.page(&console, "governance");
    let (_, governance) = get(node, "/v1/governance").unwrap();
    assert_eq!(
        browser.text("[data-test=protocol-version] .value"),
        governance["protocol"]["version"].to_string()
    );
    let eras = browser.run(
        "return [...document.querySelectorAll('[data-test=era-row]')].map(r => Number(r.getAttribute('data-version')));",
    );
    let api_eras: Vec<Value> = governance["protocol"]["eras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].clone())
        .collect();
    assert_eq!(eras, json!(api_eras));
    assert!(!api_eras.is_empty(), "the genesis's era");
    for route in [
        "evidence",
        "record/loan/loan-b1",
        "search/nothing-by-this-name",
    ] {
        browser.page(&console, route);
    }
    let receipt = block["transactions"][0]["tx_id"]
        .as_str()
        .unwrap()
        .to_string();
    browser.page(&console, &format!("tx/{receipt}"));
    assert!(browser.text("#tx-json").contains("\"chain_id\""));

    // The live feed: a committed transaction's block appears without a reload.
    browser.page(&console, "blocks");
    browser.wait(
        "document.getElementById('live-state').textContent === '已连接'",
        PAGE_TIMEOUT,
        "the live feed connected",
    );
    let before = net.height(0).unwrap();
    let key = net.admin_key("gov-b");
    let chain_id = status["chain_id"].as_str().unwrap();
    let file = tx_file(
        &net.dir,
        "fund.json",
        chain_id,
        77,
        json!({"type": "CreateFund", "id": "fund-live", "government": "gov-b", "annual_cap_fen": 1_000_000}),
    );
    let sent = send_and_wait(&file, &key, node);
    assert!(
        sent.status.success(),
        "{}{}",
        text(&sent.stdout),
        text(&sent.stderr)
    );
    let (_, found) = get(node, "/v1/search?q=fund-live").unwrap();
    let (_, fund_tx) = get(node, "/v1/records/fund/fund-live").unwrap();
    let height = fund_tx["txs"]["items"][0]["height"].as_u64().unwrap();
    assert!(
        height > before,
        "the fund's block {height} is new (was {before})"
    );
    assert_eq!(found["results"][0]["kind"], json!("fund"));
    browser.wait(
        &format!("document.querySelector('#feed [data-height=\"{height}\"]')"),
        PAGE_TIMEOUT,
        "the new block in the live feed",
    );
    browser.assert_no_script_errors("blocks");
    browser.screenshot("blocks");

    // The language switch, both ways.
    browser.page(&console, "network");
    assert_eq!(browser.text("[data-nav=network]"), "网络");
    browser.click("#lang");
    browser.wait(
        "document.documentElement.lang === 'en' && document.body.getAttribute('data-ready') === 'true'",
        PAGE_TIMEOUT,
        "English",
    );
    assert_eq!(browser.text("[data-nav=network]"), "Network");
    assert_eq!(browser.text("[data-nav=claims]"), "Claims desk");
    browser.screenshot("network-en");
    browser.click("#lang");
    browser.wait(
        "document.documentElement.lang === 'zh-CN'",
        PAGE_TIMEOUT,
        "Chinese again",
    );
    assert_eq!(browser.text("[data-nav=network]"), "网络");
    browser.assert_no_script_errors("network");
}
