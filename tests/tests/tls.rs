//! The API over HTTPS with client certificates and roles, on a devnet of four `xinbao-node`
//! processes made with `xinbao devnet init --tls`.
//!
//! Plain HTTP is refused; without a certificate only `/health` answers; an auditor reads
//! blocks and exports the chain but may not submit (`403 Forbidden`); a certificate of
//! another CA fails the handshake; the CLI replays a worked example through the network
//! with the devnet's staff certificates and the network's figures are the rulebook's; a
//! client flooding the node is refused `429` while another's transaction commits; the
//! console opens in headless Chromium with a client certificate from its NSS database,
//! and without one it does not; a node told to serve plain HTTP beyond loopback refuses to
//! start and says why.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::browser::{Browser, PAGE_TIMEOUT};
use common::*;
use serde_json::{json, Value};

/// `xinbao ARGS` with the client certificate of `org` in `role` from the devnet's files,
/// through the environment (as a script would give them).
fn xinbao_as(net: &Devnet, org: &str, role: &str, args: &[&str]) -> std::process::Output {
    let tls = net.dir.join("tls");
    let (cert, key) = tls_files(&tls, org, role);
    Command::new(&binaries().xinbao)
        .args(args)
        .env("XINBAO_CACERT", tls.join("ca.pem"))
        .env("XINBAO_CERT", cert)
        .env("XINBAO_KEY", key)
        .stdin(Stdio::null())
        .output()
        .expect("run xinbao")
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn a_tls_devnet_serves_each_role_its_routes_and_refuses_everyone_else() {
    let _one = serial();
    let scenario = scenario_path("b-yunnan-style.json");
    let scenario = scenario.to_str().unwrap();
    let mut net = Devnet::init("tls", &["--tls", "--orgs-from", scenario], true);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, Duration::from_secs(60));
    let url = net.urls[0].clone();
    assert!(url.starts_with("https://"), "{url}");
    let org = net.manifest["nodes"][0]["org"]
        .as_str()
        .unwrap()
        .to_string();
    let tls = net.dir.join("tls");
    let ca = tls.join("ca.pem");
    let agent_as = |role: &str| {
        let (cert, key) = tls_files(&tls, &org, role);
        tls_agent(&ca, Some((&cert, &key)))
    };

    // Plain HTTP to the API's port gets no answer.
    assert_eq!(
        get(&url.replacen("https://", "http://", 1), "/health"),
        None
    );

    // No certificate: /health only.
    let anonymous = tls_agent(&ca, None);
    let (status, _) = get_with(&anonymous, &url, "/health").expect("health answers");
    assert_eq!(status, 200);
    for path in ["/v1/status", "/v1/blocks", "/console/", "/v1/no-such-route"] {
        let (status, answer) = get_with(&anonymous, &url, path).expect("an answer");
        assert_eq!((status, code(&answer)), (401, "Unauthenticated"), "{path}");
    }
    let (status, answer) = post_json_with(&anonymous, &url, "/v1/tx", &json!({}));
    assert_eq!((status, code(&answer)), (401, "Unauthenticated"));

    // A certificate of this CA for another organisation maps to no role on this node.
    let other_org = net.manifest["nodes"][1]["org"].as_str().unwrap();
    let (cert, key) = tls_files(&tls, other_org, "staff");
    let (status, answer) =
        get_with(&tls_agent(&ca, Some((&cert, &key))), &url, "/v1/status").unwrap();
    assert_eq!((status, code(&answer)), (401, "Unauthenticated"));
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("O={other_org}")),
        "{answer}"
    );

    // A certificate of another CA fails the handshake.
    let elsewhere = net.dir.join("elsewhere");
    let made = xinbao(&[
        "tls",
        "init",
        "--org",
        &org,
        "--dir",
        elsewhere.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let (cert, key) = (
        elsewhere.join(format!("{org}-staff.pem")),
        elsewhere.join(format!("{org}-staff.key")),
    );
    assert_eq!(
        get_with(&tls_agent(&ca, Some((&cert, &key))), &url, "/v1/status"),
        None,
        "a certificate of another CA is refused at the handshake"
    );

    // The operator: status and metrics, not the ledger.
    let operator = agent_as("operator");
    assert_eq!(get_with(&operator, &url, "/v1/status").unwrap().0, 200);
    let mut metrics = operator.get(&format!("{url}/metrics")).call().unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    assert!(metrics
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("xinbao_height"));
    let (status, answer) = get_with(&operator, &url, "/v1/blocks").unwrap();
    assert_eq!((status, code(&answer)), (403, "Forbidden"));

    // The staff replay a worked example through the network; its figures are the
    // rulebook's offline ones.
    let network = net.replay(scenario, 0);
    let offline = xinbao(&["scenario", "run", scenario, "--json"]);
    assert!(offline.status.success(), "{}", text(&offline.stderr));
    let offline: Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(network, offline);

    // The auditor reads blocks and exports the chain, which verifies with the genesis...
    let auditor = agent_as("auditor");
    let (status, blocks) = get_with(&auditor, &url, "/v1/blocks").unwrap();
    assert_eq!(status, 200, "{blocks}");
    let chain = net.dir.join("chain.xbc");
    let exported = xinbao_as(
        &net,
        &org,
        "auditor",
        &[
            "chain",
            "export",
            "--node",
            &url,
            "--out",
            chain.to_str().unwrap(),
        ],
    );
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let genesis = net.dir.join("genesis.json");
    let verified = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        genesis.to_str().unwrap(),
        "--chain",
        chain.to_str().unwrap(),
    ]);
    assert!(verified.status.success(), "{}", text(&verified.stdout));
    // ...and the staff may not export it.
    let not_theirs = net.dir.join("staff-chain.xbc");
    let refused = xinbao_as(
        &net,
        &org,
        "staff",
        &[
            "chain",
            "export",
            "--node",
            &url,
            "--out",
            not_theirs.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("Forbidden"),
        "{}",
        text(&refused.stderr)
    );

    // An auditor's submission is refused; the staff's commits.
    let chain_id = net.manifest["chain_id"].as_str().unwrap().to_string();
    let gov_key = net.admin_key("gov-b");
    let fund = |nonce: u64, id: &str| {
        tx_file(
            &net.dir,
            &format!("{id}.json"),
            &chain_id,
            nonce,
            json!({"type": "CreateFund", "id": id, "government": "gov-b", "annual_cap_fen": 1_000_000}),
        )
    };
    let send = |role: &str, file: &Path| {
        xinbao_as(
            &net,
            &org,
            role,
            &[
                "tx",
                "send",
                file.to_str().unwrap(),
                "--key",
                gov_key.to_str().unwrap(),
                "--node",
                &url,
                "--wait",
                "--timeout",
                "30",
            ],
        )
    };
    let by_auditor = send("auditor", &fund(9_001, "fund-auditor"));
    assert!(!by_auditor.status.success());
    let stderr = text(&by_auditor.stderr);
    assert!(
        stderr.contains("Forbidden") && stderr.contains("403") && stderr.contains("auditor"),
        "{stderr}"
    );

    // One client floods the node: it is refused 429, and another's transaction commits.
    let viewer = agent_as("viewer");
    let stop = Arc::new(AtomicBool::new(false));
    let refused_429 = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let (viewer, url) = (viewer.clone(), url.clone());
            let (stop, refused_429) = (stop.clone(), refused_429.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some((429, answer)) = get_with(&viewer, &url, "/v1/status") {
                        assert!(
                            ["RateLimited", "TooManyInFlight"].contains(&code(&answer)),
                            "{answer}"
                        );
                        refused_429.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let wait_refused = std::time::Instant::now() + Duration::from_secs(20);
    while refused_429.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < wait_refused,
            "the flood was never refused 429"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let by_staff = send("staff", &fund(9_002, "fund-staff"));
    let still_refused = refused_429.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        flooder.join().unwrap();
    }
    assert!(
        by_staff.status.success(),
        "{}{}",
        text(&by_staff.stdout),
        text(&by_staff.stderr)
    );
    assert!(text(&by_staff.stdout).contains("accepted"));
    assert!(still_refused > 0);
    // Every kind of refusal above is counted where the operator looks.
    let mut metrics = operator.get(&format!("{url}/metrics")).call().unwrap();
    let metrics = metrics.body_mut().read_to_string().unwrap();
    let counted = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} is not in /metrics"))
    };
    assert!(counted("xinbao_api_unauthenticated_total") > 0);
    assert!(counted("xinbao_api_forbidden_total") > 0);
    assert!(
        counted("xinbao_api_rate_limited_total") + counted("xinbao_api_too_many_in_flight_total")
            >= still_refused
    );

    console_over_https(&net, &url, &org);

    // A node told to serve plain HTTP beyond loopback refuses to start, and says why.
    let config = std::fs::read_to_string(net.config(0)).unwrap();
    let plain: String = config
        .lines()
        .take_while(|l| !l.starts_with("# HTTPS"))
        .map(|l| {
            if l.starts_with("http_listen") {
                "http_listen = \"0.0.0.0:28999\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let plain_config = net.config(0).with_file_name("plain.toml");
    std::fs::write(&plain_config, plain).unwrap();
    let started = Command::new(&binaries().node)
        .arg("--config")
        .arg(&plain_config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!started.status.success());
    let stderr = text(&started.stderr);
    assert!(
        stderr.contains("reachable from other machines") && stderr.contains("[tls]"),
        "{stderr}"
    );
}

/// An NSS database in `home` (where Chromium on Linux looks) that trusts `ca` and, when
/// given, holds the client certificate `cert` with its key.
fn nss_home(home: &Path, ca: &Path, cert: Option<(&Path, &Path)>) {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let db_arg = format!("sql:{}", db.display());
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{program}: {e} (Debian's libnss3-tools and openssl, which .ci/run installs)"
                )
            });
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            text(&out.stderr)
        );
    };
    run("certutil", &["-N", "-d", &db_arg, "--empty-password"]);
    run(
        "certutil",
        &[
            "-A",
            "-d",
            &db_arg,
            "-n",
            "xinbao-ca",
            "-t",
            "C,,",
            "-i",
            ca.to_str().unwrap(),
        ],
    );
    if let Some((cert, key)) = cert {
        let p12 = home.join("client.p12");
        run(
            "openssl",
            &[
                "pkcs12",
                "-export",
                "-in",
                cert.to_str().unwrap(),
                "-inkey",
                key.to_str().unwrap(),
                "-out",
                p12.to_str().unwrap(),
                "-passout",
                "pass:",
            ],
        );
        run(
            "pk12util",
            &["-d", &db_arg, "-i", p12.to_str().unwrap(), "-W", ""],
        );
    }
}

/// Chromium's policy that picks the devnet's client certificate for `url` without asking
/// (as a bank's managed browsers are set up); removed when dropped.
struct CertificatePolicy(PathBuf);

impl CertificatePolicy {
    fn install(url: &str, issuer_cn: &str) -> CertificatePolicy {
        let dir = Path::new("/etc/chromium/policies/managed");
        std::fs::create_dir_all(dir).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the test installs a Chromium policy, as root)",
                dir.display()
            )
        });
        let path = dir.join(format!("xinbao-test-{}.json", std::process::id()));
        let rule = json!({"pattern": url, "filter": {"ISSUER": {"CN": issuer_cn}}}).to_string();
        std::fs::write(
            &path,
            serde_json::to_vec(&json!({ "AutoSelectCertificateForUrls": [rule] })).unwrap(),
        )
        .unwrap();
        CertificatePolicy(path)
    }
}

impl Drop for CertificatePolicy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn console_over_https(net: &Devnet, url: &str, org: &str) {
    let tls = net.dir.join("tls");
    let ca = tls.join("ca.pem");
    let _policy = CertificatePolicy::install(url, "xinbao-devnet CA");
    let console = format!("{url}/console/");

    // With the viewer's certificate the console loads and shows the chain.
    let home = net.dir.join("home-viewer");
    let (cert, key) = tls_files(&tls, org, "viewer");
    nss_home(&home, &ca, Some((&cert, &key)));
    let browser = Browser::start_with(Some(&home));
    browser.page(&console, "network");
    let rows = browser.run("return document.querySelectorAll('[data-test=validator]').length;");
    assert_eq!(rows, json!(4));
    browser.screenshot("network-https");
    drop(browser);

    // Without a certificate the node answers 401 and no console.
    let home = net.dir.join("home-none");
    nss_home(&home, &ca, None);
    let browser = Browser::start_with(Some(&home));
    browser.go(&console);
    browser.wait(
        "document.body && document.body.innerText.includes('Unauthenticated')",
        PAGE_TIMEOUT,
        "the node's refusal",
    );
    let consoles = browser.run("return document.querySelectorAll('script[src]').length;");
    assert_eq!(consoles, json!(0), "no console without a certificate");
}
