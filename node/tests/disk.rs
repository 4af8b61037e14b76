//! Disk faults on a real consortium: a validator whose data directory (a small tmpfs)
//! fills up stops with a clear message instead of half-writing a decision, and once there
//! is room again it restarts from what it wrote and catches up; a validator whose
//! database files are corrupted refuses to start with a clear message, or starts from a
//! consistent earlier state, and never serves a block that differs from its peers'; the
//! command the message names (`xinbao-node --rebuild`) brings it back from its peers.
//!
//! Mounting a tmpfs needs root, like the namespace tests; `XINBAO_NO_NETNS=1` skips it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Devnet;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn fill(dir: &Path) -> std::path::PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    use std::io::Write;
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    filler
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Waits until node `i`'s process has exited; its exit status.
fn wait_exit(net: &mut Devnet, i: usize, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = net.exited(i) {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

#[test]
fn a_full_disk_stops_a_validator_cleanly_and_a_corrupted_one_never_serves_another_chain() {
    if std::env::var_os("XINBAO_NO_NETNS").is_some_and(|v| v == "1") {
        eprintln!("XINBAO_NO_NETNS=1: the disk-fault test (it mounts a tmpfs) does not run");
        return;
    }
    let mut net = Devnet::create_with("disk", 200, 500, false);
    // Node 3's engine flushes and compacts all the time (32 KiB memtables and tables), so
    // that the disk fills while it writes tables as well as while it commits.
    let config = net.node_dir(3).join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[storage]\nmemtable_kib = 32\ntable_kib = 32\n");
    std::fs::write(&config, text).unwrap();
    let data = net.node_dir(3).join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
        .arg(&data)
        .status()
        .expect("mount");
    assert!(
        mounted.success(),
        "mounting a tmpfs needs root (or set XINBAO_NO_NETNS=1)"
    );
    let _mount = Mount(data.clone());
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(90));

    // 1. The disk fills up: the validator stops, with the reason in its log.
    let filler = fill(&data);
    let mut nonce = 0;
    let mut ids = Vec::new();
    let status = loop {
        ids.extend(net.submit_staff_keys(0, 0, &mut nonce, 20));
        if let Some(status) = wait_exit(&mut net, 3, Duration::from_millis(500)) {
            break status;
        }
        assert!(
            ids.len() < 20_000,
            "the validator kept running on a full disk"
        );
    };
    assert!(
        !status.success(),
        "it stopped, but said it was fine: {status}"
    );
    let log = net.log(3);
    assert!(
        log.contains("No space left on device") && log.contains("disk is full"),
        "the log does not say the disk is full: {}",
        &log[log.len().saturating_sub(3000)..]
    );
    // The others go on.
    let before = net.height(0).unwrap();
    net.submit_staff_keys(0, 0, &mut nonce, 5);
    net.wait_height(&[0, 1, 2], before + 2, Duration::from_secs(60));

    // 2. Room again: it restarts from what it wrote and catches up to the same chain.
    std::fs::remove_file(&filler).unwrap();
    net.start(3);
    let target = net.height(0).unwrap() + 1;
    net.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(90));
    net.assert_same_chain(&[0, 1, 2, 3], target);

    // 3. A corrupted database: bytes overwritten in the middle of each of node 2's
    // files (the engine's journal, tables, blob files and manifests).
    net.submit_staff_keys(0, 0, &mut nonce, 20);
    net.wait_height(
        &[0, 1, 2],
        net.height(0).unwrap() + 2,
        Duration::from_secs(60),
    );
    net.kill(2);
    let db = net.node_dir(2).join("data").join("db");
    let mut corrupted = Vec::new();
    for path in files_under(&db) {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len > 64 {
            let mut bytes = std::fs::read(&path).unwrap();
            let at = bytes.len() / 2;
            let end = (at + 512).min(bytes.len());
            for b in &mut bytes[at..end] {
                *b ^= 0xa5;
            }
            std::fs::write(&path, bytes).unwrap();
            corrupted.push(path);
        }
    }
    let named = |part: &str| corrupted.iter().any(|p| p.to_string_lossy().contains(part));
    assert!(
        named(".jnl") && named("/keyspaces/"),
        "no journal or keyspace file to corrupt in {}: {corrupted:?}",
        db.display()
    );
    net.start(2);
    match wait_exit(&mut net, 2, Duration::from_secs(15)) {
        Some(status) => {
            // Refused: with a clear message, not a crash.
            assert!(!status.success());
            let log = net.log(2);
            let tail = &log[log.len().saturating_sub(2000)..];
            assert!(
                tail.contains("corrupted") && tail.contains("--rebuild"),
                "no clear reason: {tail}"
            );
            assert!(!tail.contains("panicked"), "it crashed: {tail}");
            eprintln!("node 2 refused its corrupted store");
            // The one command the message names: it syncs the chain back.
            net.start_rebuilding(2);
            let aside = || {
                std::fs::read_dir(net.node_dir(2).join("data"))
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("damaged-"))
                    .count()
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while aside() == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            assert_eq!(aside(), 1, "the damaged store is kept aside");
        }
        None => {
            // It started: whatever it holds must be the chain the others hold.
            eprintln!("node 2 started on its corrupted store");
        }
    }
    net.submit_staff_keys(0, 0, &mut nonce, 5);
    let target = net.height(0).unwrap() + 1;
    net.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(120));
    net.assert_same_chain(&[0, 1, 2, 3], target);
}
