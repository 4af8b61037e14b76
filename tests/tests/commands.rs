//! The long-running commands as a user runs them: `xinbao devnet up` until SIGTERM, and
//! `xinbao demo` on one worked example.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{binaries, get, scenario_path, serial, text, xinbao};

/// The process ids of running `xinbao-node` processes whose command line names `dir`.
fn nodes_of(dir: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // A zombie has an empty command line: it is gone, only not reaped yet.
        if cmdline.contains("xinbao-node") && cmdline.contains(dir) {
            pids.push(pid);
        }
    }
    pids
}

/// `devnet up` starts every validator, reports their addresses once they commit, and on
/// SIGTERM stops them all and exits 0, leaving no node behind.
#[test]
fn devnet_up_runs_the_validators_and_stops_them_all_on_sigterm() {
    let _one = serial();
    let dir = std::env::temp_dir().join(format!("xinbao-e2e-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_text = dir.to_str().unwrap().to_string();
    let init = xinbao(&["devnet", "init", "--dir", &dir_text]);
    assert!(init.status.success(), "{}", text(&init.stderr));

    let mut up = Command::new(&binaries().xinbao)
        .args(["devnet", "up", "--dir", &dir_text])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(up.id());
    let stdout = up.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut urls = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("devnet up did not report the devnet within 60 s");
        if line.starts_with("devnet up") {
            break;
        }
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            urls.push(url.to_string());
        }
    }
    assert_eq!(urls.len(), 4, "{urls:?}");
    for url in &urls {
        let (status, answer) = get(url, "/v1/status").expect("a validator answers");
        assert_eq!(status, 200);
        assert!(answer["height"].as_u64().unwrap() >= 1, "{answer}");
    }
    assert_eq!(nodes_of(&dir_text).len(), 4);

    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(up.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = up.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "devnet up did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(guard);
    assert!(status.success(), "devnet up exited with {status}");
    assert_eq!(
        nodes_of(&dir_text),
        Vec::<u32>::new(),
        "validators left running"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Kills a process (and so, through the kernel, the nodes it started) if a test fails.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(self.0 as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// `xinbao demo` on one worked example: its settlement from the network, every validator
/// on the same block and state root, the network's document equal to the offline one.
#[test]
fn demo_replays_a_worked_example_through_a_devnet_and_agrees_with_the_offline_run() {
    let _one = serial();
    let scenario = scenario_path("b-yunnan-style.json");
    // Output to files, so that a full pipe can never block the demo.
    let out_path = std::env::temp_dir().join(format!("xinbao-e2e-demo-{}.out", std::process::id()));
    let err_path = out_path.with_extension("err");
    let mut demo = Command::new(&binaries().xinbao)
        .args(["demo", "--scenario", scenario.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(demo.id());
    let deadline = Instant::now() + Duration::from_secs(90);
    while demo.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "xinbao demo did not finish within 90 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(guard);
    let status = demo.wait().unwrap();
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the same block and state root on every validator"),
        "{stdout}"
    );
    assert!(
        stdout.contains("network result document == offline result document"),
        "{stdout}"
    );
    assert!(stdout.contains("Expectations: all met"), "{stdout}");
    assert!(stdout.contains("prog-b"), "{stdout}");
    // It ends with the console's address (the nodes stopped, as `--keep` was not given).
    assert!(
        stdout.contains("The consoles (open in a browser):"),
        "{stdout}"
    );
    assert!(stdout.contains("/console/"), "{stdout}");
}

/// `xinbao bench` as an operator runs it, briefly: every transaction the nodes took is
/// committed exactly once, none is rejected by the rulebook, and the figures scripts read
/// are there and agree with each other.
#[test]
fn bench_commits_what_it_offers_exactly_once_and_prints_its_figures() {
    let _one = serial();
    let bins = binaries();
    let node_bin = bins.node.to_string_lossy().to_string();
    let output = xinbao(&[
        "bench",
        "--rate",
        "200",
        "--seconds",
        "3",
        "--json",
        "--node-bin",
        &node_bin,
    ]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed: {stdout}\n{}",
        text(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    let offered = doc["offered"].as_u64().expect("offered");
    let submitted = doc["submitted"].as_u64().expect("submitted");
    let committed = doc["committed"].as_u64().expect("committed");
    // Offered on a schedule of 20 ms batches: up to 3 s × 200, less a last batch's worth.
    assert!((550..=600).contains(&offered), "{doc}");
    // 200 a second is far below what four validators commit: nothing is refused.
    assert_eq!(submitted, offered, "{doc}");
    assert_eq!(committed, submitted, "{doc}");
    assert_eq!(doc["committed_twice"], 0, "{doc}");
    assert_eq!(doc["rejected_by_the_rulebook"], 0, "{doc}");
    assert_eq!(doc["block_time_ms"], 200, "{doc}");
    let p50 = doc["latency_p50_ms"].as_u64().expect("p50");
    let p99 = doc["latency_p99_ms"].as_u64().expect("p99");
    let max = doc["latency_max_ms"].as_u64().expect("max");
    assert!(0 < p50 && p50 <= p99 && p99 <= max, "{doc}");
    assert!(
        doc["committed_tx_per_s"].as_f64().expect("tx/s") > 0.0,
        "{doc}"
    );
    assert!(doc["blocks"].as_u64().expect("blocks") > 0, "{doc}");
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4, "{doc}");
    assert!(
        doc["verify_batch_per_s_one_core"]
            .as_f64()
            .expect("batch rate")
            > 0.0
    );
}
