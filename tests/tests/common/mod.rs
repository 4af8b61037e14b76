//! A devnet of real processes for the end-to-end tests: `xinbao devnet init` writes it,
//! each validator is its own `xinbao-node` process, and the `xinbao` command talks to it.
//!
//! The programs are built once per test binary by `cargo build -p node -p cli -p harness` into
//! the target directory this test runs from (its `deps/` folder's parent), so that
//! `cargo test -p tests` alone always tests the current code. Every process is killed when
//! the [`Devnet`] is dropped, a failing test included, and the kernel kills it anyway if
//! the test process dies first (`PR_SET_PDEATHSIG`). Tests that start a devnet hold
//! [`serial`] so that only one devnet runs at a time on a small machine.

#![allow(dead_code)]

pub mod browser;
pub mod netns;
pub mod pg;
pub mod txs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One devnet at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct Binaries {
    pub xinbao: PathBuf,
    pub node: PathBuf,
    /// The chaos runner (`harness`).
    pub chaos: PathBuf,
}

/// Builds `xinbao` and `xinbao-node` (once per test binary) and returns their paths.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        // The test runs as TARGET/PROFILE/deps/NAME-HASH.
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from TARGET/PROFILE/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("TARGET").to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut command = Command::new(cargo);
        command
            .args([
                "build",
                "--quiet",
                "-p",
                "node",
                "-p",
                "cli",
                "-p",
                "harness",
                // The features `cargo test --workspace` builds the node with (the test-only
                // Byzantine mode, off unless a test asks for it), so that this build and
                // the node's own tests share one binary.
                "--features",
                "node/byzantine",
                "--target-dir",
            ])
            .arg(&target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            command.arg("--release");
        }
        let status = command.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build -p node -p cli -p harness failed"
        );
        let binaries = Binaries {
            xinbao: profile_dir.join("xinbao"),
            node: profile_dir.join("xinbao-node"),
            chaos: profile_dir.join("xinbao-chaos"),
        };
        assert!(
            binaries.xinbao.is_file(),
            "{} missing",
            binaries.xinbao.display()
        );
        assert!(
            binaries.node.is_file(),
            "{} missing",
            binaries.node.display()
        );
        binaries
    })
}

/// Runs `xinbao ARGS` to completion.
pub fn xinbao(args: &[&str]) -> Output {
    let output = Command::new(&binaries().xinbao)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run xinbao");
    output
}

/// A free loopback port whose successor is free too (a node's p2p port and its gossip
/// port), below the kernel's ephemeral range (32768 and up), so that the outgoing
/// connections of running nodes cannot take it before the node that is to listen on it
/// starts, and never one this process handed out before.
pub fn free_port_pair() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    // A port is bound later, by the process it is for: never hand one out twice.
    static HANDED_OUT: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let free = |port: u16, handed_out: &std::collections::BTreeSet<u16>| {
        !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    };
    for _ in 0..2_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(7_919)) % 12_000) as u16;
        if free(port, &handed_out) && free(port + 1, &handed_out) {
            handed_out.extend([port, port + 1]);
            return port;
        }
    }
    panic!("no two consecutive free loopback ports below 32000");
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

pub fn scenario_path(name: &str) -> PathBuf {
    workspace().join("network-configs/scenarios").join(name)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// An HTTPS client that trusts the CA `ca` (PEM) and presents the certificate `cert`
/// with its key `key` (PEM files) when given.
pub fn tls_agent(ca: &Path, cert: Option<(&Path, &Path)>) -> ureq::Agent {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
    let ca = Certificate::from_pem(&std::fs::read(ca).expect("the CA file")).expect("a PEM CA");
    let mut tls = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&[ca]));
    if let Some((cert, key)) = cert {
        let cert = Certificate::from_pem(&std::fs::read(cert).expect("a certificate file"))
            .expect("a PEM certificate");
        let key =
            PrivateKey::from_pem(&std::fs::read(key).expect("a key file")).expect("a PEM key");
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&[cert], key)));
    }
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into()
}

/// A GET to a node: the status and the JSON answer, `None` when it does not answer.
pub fn get(url: &str, path: &str) -> Option<(u16, Value)> {
    get_with(&agent(), url, path)
}

/// A GET through `agent`.
pub fn get_with(agent: &ureq::Agent, url: &str, path: &str) -> Option<(u16, Value)> {
    let mut response = agent.get(&format!("{url}{path}")).call().ok()?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().ok()?;
    Some((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

pub fn post_json(url: &str, path: &str, body: &Value) -> (u16, Value) {
    post_json_with(&agent(), url, path, body)
}

/// A POST of JSON through `agent`.
pub fn post_json_with(agent: &ureq::Agent, url: &str, path: &str, body: &Value) -> (u16, Value) {
    let mut response = agent
        .post(&format!("{url}{path}"))
        .header("Content-Type", "application/json")
        .send(serde_json::to_vec(body).unwrap().as_slice())
        .expect("POST to the node");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A TLS devnet's certificate and key of `org` in `role` (in its `tls` folder).
pub fn tls_files(tls_dir: &Path, org: &str, role: &str) -> (PathBuf, PathBuf) {
    (
        tls_dir.join(format!("{org}-{role}.pem")),
        tls_dir.join(format!("{org}-{role}.key")),
    )
}

pub struct Devnet {
    pub dir: PathBuf,
    pub manifest: Value,
    pub urls: Vec<String>,
    /// A client of each validator: on a TLS devnet, as its organisation's staff.
    pub agents: Vec<ureq::Agent>,
    children: Vec<Option<Child>>,
    devnet_clock: bool,
}

fn fresh_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("xinbao-e2e-{name}-{}-{nanos}", std::process::id()))
}

impl Devnet {
    /// `xinbao devnet init` into a fresh directory (`extra` are more init arguments). The
    /// heartbeat is every 500 ms unless `extra` says otherwise, so that heights advance
    /// without work, as these tests watch them do.
    pub fn init(name: &str, extra: &[&str], devnet_clock: bool) -> Devnet {
        let dir = fresh_dir(name);
        let dir_text = dir.to_str().unwrap().to_string();
        let mut args = vec!["devnet", "init", "--dir", &dir_text];
        args.extend_from_slice(extra);
        if !extra.contains(&"--heartbeat-ms") {
            args.extend_from_slice(&["--heartbeat-ms", "500"]);
        }
        let output = xinbao(&args);
        assert!(
            output.status.success(),
            "devnet init failed: {}",
            text(&output.stderr)
        );
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("devnet.json")).unwrap()).unwrap();
        let urls: Vec<String> = manifest["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["url"].as_str().unwrap().to_string())
            .collect();
        let children = urls.iter().map(|_| None).collect();
        let agents = manifest["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| match manifest["tls"].as_str() {
                Some(tls) => {
                    let (cert, key) =
                        tls_files(&dir.join(tls), n["org"].as_str().unwrap(), "staff");
                    tls_agent(&dir.join(tls).join("ca.pem"), Some((&cert, &key)))
                }
                None => agent(),
            })
            .collect();
        Devnet {
            dir,
            manifest,
            urls,
            agents,
            children,
            devnet_clock,
        }
    }

    /// Replays `scenario` through validator `i` (`xinbao scenario run --devnet-dir`) and
    /// returns the network's result document.
    pub fn replay(&self, scenario: &str, i: usize) -> Value {
        let replay = self.replay_in_background(scenario, i).join().unwrap();
        assert!(
            replay.status.success(),
            "replaying {scenario} failed: {}",
            text(&replay.stderr)
        );
        serde_json::from_slice(&replay.stdout).expect("the result document")
    }

    /// [`Devnet::replay`] on a thread of its own, for a test that acts meanwhile; the
    /// thread gives the command's output (its standard output is the result document).
    pub fn replay_in_background(
        &self,
        scenario: &str,
        i: usize,
    ) -> std::thread::JoinHandle<Output> {
        let dir = self.dir.to_str().unwrap().to_string();
        let url = self.urls[i].clone();
        let scenario = scenario.to_string();
        std::thread::spawn(move || {
            xinbao(&[
                "scenario",
                "run",
                &scenario,
                "--json",
                "--devnet-dir",
                &dir,
                "--node",
                &url,
            ])
        })
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn config(&self, i: usize) -> PathBuf {
        self.dir
            .join(self.manifest["nodes"][i]["config"].as_str().unwrap())
    }

    pub fn log_path(&self, i: usize) -> PathBuf {
        self.config(i).with_file_name("node.log")
    }

    /// Starts validator `i`.
    pub fn start(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "validator {i} already runs");
        self.children[i] = Some(spawn_node(
            &self.config(i),
            &self.log_path(i),
            self.devnet_clock,
        ));
    }

    pub fn start_all(&mut self) {
        for i in 0..self.len() {
            self.start(i);
        }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn height(&self, i: usize) -> Option<u64> {
        get_with(&self.agents[i], &self.urls[i], "/v1/status")?
            .1
            .get("height")?
            .as_u64()
    }

    /// Waits until every validator in `nodes` reports at least `height`.
    pub fn wait_height(&self, nodes: &[usize], height: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let heights: Vec<Option<u64>> = nodes.iter().map(|i| self.height(*i)).collect();
            if heights.iter().all(|h| h.is_some_and(|h| h >= height)) {
                return;
            }
            if Instant::now() > deadline {
                for i in nodes {
                    let log = std::fs::read_to_string(self.log_path(*i)).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(30).collect();
                    eprintln!("---- validator {i} log (tail) ----");
                    for line in tail.into_iter().rev() {
                        eprintln!("{line}");
                    }
                }
                panic!("validators {nodes:?} did not reach height {height} within {timeout:?}: {heights:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The (block id, state root) that validator `i` holds at `height`.
    pub fn block_root(&self, i: usize, height: u64) -> (String, String) {
        let (status, block) = get_with(
            &self.agents[i],
            &self.urls[i],
            &format!("/v1/blocks/{height}"),
        )
        .unwrap_or_else(|| panic!("validator {i} does not answer"));
        assert_eq!(status, 200, "validator {i} has no block {height}: {block}");
        (
            block["block_id"].as_str().unwrap().to_string(),
            block["state_root"]
                .as_str()
                .expect("a hex state root")
                .to_string(),
        )
    }

    /// Every validator in `nodes` holds the same block and state root at every height
    /// from 1 to `height`.
    pub fn assert_same_chain(&self, nodes: &[usize], height: u64) {
        for h in 1..=height {
            let first = self.block_root(nodes[0], h);
            for &i in &nodes[1..] {
                assert_eq!(
                    self.block_root(i, h),
                    first,
                    "validators {} and {i} differ at height {h}",
                    nodes[0]
                );
            }
        }
    }

    /// The admin key file of organisation `org`.
    pub fn admin_key(&self, org: &str) -> PathBuf {
        let entry = self.manifest["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == org)
            .unwrap_or_else(|| panic!("no org {org}"));
        self.dir.join(entry["admin_key"].as_str().unwrap())
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts `xinbao-node --config CONFIG`, its output appended to `log`; the kernel kills it
/// if this test process dies.
pub fn spawn_node(config: &Path, log: &Path, devnet_clock: bool) -> Child {
    spawn_node_with(config, log, devnet_clock, &[])
}

/// [`spawn_node`] with `extra` arguments after `--config CONFIG`.
pub fn spawn_node_with(config: &Path, log: &Path, devnet_clock: bool, extra: &[&str]) -> Child {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut command = Command::new(&binaries().node);
    command
        .arg("--config")
        .arg(config)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    if devnet_clock {
        command.arg("--devnet-clock");
    }
    // SAFETY: only prctl(2), async-signal-safe, runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn().expect("start xinbao-node")
}

/// `xinbao tx send FILE --key KEY --node URL --wait`: signs, submits and follows the
/// transaction into a block (for at most 30 s).
pub fn send_and_wait(file: &Path, key: &Path, node: &str) -> Output {
    xinbao(&[
        "tx",
        "send",
        file.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--node",
        node,
        "--wait",
        "--timeout",
        "30",
    ])
}

/// Writes a transaction file for `action` on chain `chain_id`.
pub fn tx_file(dir: &Path, name: &str, chain_id: &str, nonce: u64, action: Value) -> PathBuf {
    let path = dir.join(name);
    let tx = serde_json::json!({
        "chain_id": chain_id,
        "nonce": nonce,
        "expires_at_height": 900,
        "action": action,
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&tx).unwrap()).unwrap();
    path
}

/// Starting a validator with more command-line arguments, and watching a validator's
/// process end on its own.
impl Devnet {
    /// Starts validator `i` with `extra` arguments after `--config CONFIG` (for instance
    /// `--max-protocol-version 1`).
    pub fn start_with(&mut self, i: usize, extra: &[&str]) {
        assert!(self.children[i].is_none(), "validator {i} already runs");
        self.children[i] = Some(spawn_node_with(
            &self.config(i),
            &self.log_path(i),
            self.devnet_clock,
            extra,
        ));
    }

    /// The exit status of validator `i` if its process has ended (it is then no longer
    /// counted as running, so that it can be started again); `None` while it runs or when
    /// it was not started.
    pub fn try_exit(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        let child = self.children[i].as_mut()?;
        let status = child.try_wait().expect("wait for a validator")?;
        self.children[i] = None;
        Some(status)
    }

    /// Waits for validator `i`'s process to end on its own and returns its exit status;
    /// panics with the tail of its log when it still runs after `timeout`.
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> std::process::ExitStatus {
        assert!(self.children[i].is_some(), "validator {i} does not run");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit(i) {
                return status;
            }
            if Instant::now() > deadline {
                eprintln!(
                    "---- validator {i} log (tail) ----\n{}",
                    self.log_tail(i, 30)
                );
                panic!("validator {i} still runs after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last `lines` lines of validator `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}
