//! Power loss: one validator's data directory is on `xinbao-lazyfs` (the harness crate),
//! a file system that keeps every write in memory until its file is synced and loses the
//! rest when it stops. Under load, its power is cut at seeded moments, some of them while
//! its store is flushing a memtable or compacting tables (its engine's sizes are made
//! small, so that both happen every few seconds): the node is killed, the file system
//! dies with everything not synced, and both come back. Each time the node must reopen
//! with every height it had reported committed, and at the end every node must hold the
//! same block and state root at every height, with every transaction a surviving node took
//! committed once, on every node.
//!
//! The cut instants are drawn from a seed (printed; `XINBAO_POWER_SEED=N` replays it) and
//! `XINBAO_POWER_CUTS=N` sets how many (default 4). Mounting needs root and `/dev/fuse`,
//! like the namespace tests; `XINBAO_NO_NETNS=1` skips it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Devnet, Rng};

const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

/// The node whose power is cut.
const VICTIM: usize = 3;

/// `xinbao-lazyfs`, built from the harness crate into the target directory this test
/// runs from.
fn lazyfs_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from TARGET/PROFILE/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("TARGET");
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args([
            "build",
            "--quiet",
            "-p",
            "harness",
            "--bin",
            "xinbao-lazyfs",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    assert!(
        command.status().expect("cargo").success(),
        "building xinbao-lazyfs"
    );
    profile_dir.join("xinbao-lazyfs")
}

/// The victim's data directory, mounted through `xinbao-lazyfs` from a backing directory.
struct Disk {
    binary: PathBuf,
    backing: PathBuf,
    mountpoint: PathBuf,
    process: Option<Child>,
}

impl Disk {
    fn mount(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.backing.with_extension("log"))
            .unwrap();
        self.process = Some(
            Command::new(&self.binary)
                .arg(&self.backing)
                .arg(&self.mountpoint)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start xinbao-lazyfs"),
        );
        let mounted = || {
            std::fs::read_to_string("/proc/mounts")
                .unwrap()
                .lines()
                .any(|l| l.split(' ').nth(1) == self.mountpoint.to_str())
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !mounted() {
            assert!(Instant::now() < deadline, "xinbao-lazyfs did not mount");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The power goes: the file system stops with what was not synced.
    fn cut(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
        let _ = Command::new("fusermount3")
            .arg("-uz")
            .arg(&self.mountpoint)
            .status();
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A metric of node `i`, if it is up.
fn metric(net: &Devnet, i: usize, name: &str) -> Option<f64> {
    let (status, bytes) = net.get_bytes(i, "/metrics");
    if status != 200 {
        return None;
    }
    String::from_utf8(bytes)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The heights the victim's log says it opened its chain at, in order.
fn opened_heights(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("chain opened"))
        .filter_map(|l| {
            let at = l.find("height=")? + "height=".len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn a_validator_that_loses_power_comes_back_with_every_height_it_committed() {
    if std::env::var_os("XINBAO_NO_NETNS").is_some_and(|v| v == "1") {
        eprintln!(
            "XINBAO_NO_NETNS=1: the power-loss test (it mounts a FUSE file system) does not run"
        );
        return;
    }
    let seed = std::env::var("XINBAO_POWER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let cuts: usize = std::env::var("XINBAO_POWER_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    eprintln!("power-loss test seed: {seed} (replay with XINBAO_POWER_SEED={seed})");
    let mut rng = Rng::new(seed);

    let mut net = Devnet::create("power", 200, false);
    // The victim's engine flushes at 32 KiB and writes 32 KiB tables, so that flushes and
    // compactions come every second or so under this load.
    let config = net.node_dir(VICTIM).join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[storage]\nmemtable_kib = 32\ntable_kib = 32\ncache_kib = 256\n");
    std::fs::write(&config, text).unwrap();
    let mut disk = Disk {
        binary: lazyfs_binary(),
        backing: net.node_dir(VICTIM).join("disk"),
        mountpoint: net.node_dir(VICTIM).join("data"),
        process: None,
    };
    std::fs::create_dir_all(&disk.backing).unwrap();
    std::fs::create_dir_all(&disk.mountpoint).unwrap();
    disk.mount();
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(90));

    let mut nonce = 0;
    // (transaction id, must it commit): every one is taken by a survivor, so none may be
    // lost.
    let mut acknowledged: Vec<(String, bool)> = Vec::new();
    let mut during_work = 0;
    for cut in 0..cuts {
        // Load on the survivors until the cut: every other cut waits, checking the
        // victim's store between transactions, for a flush or a compaction under way;
        // the others come at an arbitrary moment.
        let wait_for_work = cut % 2 == 0;
        let until = Instant::now()
            + if wait_for_work {
                Duration::from_secs(30)
            } else {
                Duration::from_millis(500 + rng.next_u64() % 2_000)
            };
        let mut busy = false;
        while Instant::now() < until {
            let to = (nonce % 3) as usize;
            let tx = net.staff_key_tx(0, nonce);
            nonce += 1;
            let (status, answer) =
                net.post(to, "/v1/tx", "application/octet-stream", &tx.to_bytes());
            if status == 200 {
                acknowledged.push((tx.id(SUITE).to_hex(), true));
            } else {
                assert!(answer.to_string().contains("Backlog"), "{answer}");
            }
            if wait_for_work {
                let queued = metric(&net, VICTIM, "xinbao_store_flushes_queued").unwrap_or(0.0);
                let compacting =
                    metric(&net, VICTIM, "xinbao_store_compactions_running").unwrap_or(0.0);
                if queued + compacting > 0.0 {
                    busy = true;
                    break;
                }
            }
        }
        // What the victim has reported committed, the instant before the power goes.
        let reported = net.height(VICTIM).expect("the victim answers");
        net.kill(VICTIM);
        disk.cut();
        during_work += usize::from(busy);
        std::thread::sleep(Duration::from_millis(100 + rng.next_u64() % 500));
        disk.mount();
        net.start(VICTIM);
        let deadline = Instant::now() + Duration::from_secs(60);
        let opened = loop {
            let heights = opened_heights(&net.log(VICTIM));
            if heights.len() == cut + 2 {
                break heights[cut + 1];
            }
            assert!(
                Instant::now() < deadline,
                "the victim did not reopen its chain"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        eprintln!(
            "cut {cut}: {} at height {reported}, reopened at {opened}",
            if busy {
                "during a flush or compaction"
            } else {
                "at an arbitrary moment"
            }
        );
        assert!(
            opened >= reported,
            "cut {cut}: the victim had reported height {reported} committed and reopened at {opened}"
        );
        let target = net.height(0).unwrap();
        net.wait_height(&[VICTIM], target, Duration::from_secs(90));
    }

    // Every transaction settles: none pending anywhere, every one a survivor took
    // committed everywhere, once, at one height.
    let (top, committed_txs) = net.assert_settled(&acknowledged, Duration::from_secs(90));
    let compactions = metric(&net, VICTIM, "xinbao_store_compactions_total").unwrap_or(0.0);
    assert!(
        cuts < 2 || during_work > 0,
        "no cut came during a flush or a compaction"
    );
    eprintln!(
        "{cuts} power cuts ({during_work} during a flush or compaction), {top} heights, \
         {committed_txs} of {} transactions taken committed, divergences 0, lost 0; the \
         victim compacted {compactions} times since its last start",
        acknowledged.len()
    );
    drop(disk);
}
