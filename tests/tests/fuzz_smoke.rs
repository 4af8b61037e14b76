//! The fuzz targets (`tests/fuzz`), run on stable without coverage guidance: each target
//! gets its seeds, its committed corpus and seeded random mutations of them (bit flips,
//! byte changes, insertions, deletions, truncations, splices and random bytes). The
//! coverage-guided runs are `cargo +nightly fuzz run TARGET` (see tests/fuzz/README.md);
//! this smoke run keeps every target exercised by `cargo test` on any machine.
//!
//! `XINBAO_FUZZ_INPUTS=N` sets the inputs per target (default 1500), `XINBAO_FUZZ_SEED=S`
//! replays a run, and `XINBAO_FUZZ_WRITE_SEEDS=1` (re)writes the seed corpora under
//! `tests/fuzz/corpus/`. An input that panics is written to `target/fuzz-smoke/` and named
//! in the failure.

use xinbao_fuzz_targets as targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::rng::Rng;

/// Bytes of interest for lengths and tags: boundaries of the integer widths.
const SPECIAL: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x20, 0x40];

fn mutate(rng: &mut Rng, inputs: &[Vec<u8>]) -> Vec<u8> {
    if inputs.is_empty() || rng.index(16) == 0 {
        let len = rng.index(256);
        return (0..len).map(|_| rng.next_u64() as u8).collect();
    }
    let mut data = inputs[rng.index(inputs.len())].clone();
    for _ in 0..1 + rng.index(4) {
        match rng.index(7) {
            0 if !data.is_empty() => {
                let i = rng.index(data.len());
                data[i] ^= 1 << rng.index(8);
            }
            1 if !data.is_empty() => {
                let i = rng.index(data.len());
                data[i] = SPECIAL[rng.index(SPECIAL.len())];
            }
            2 => {
                let i = rng.index(data.len() + 1);
                let n = 1 + rng.index(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(i..i, bytes);
            }
            3 if !data.is_empty() => {
                let i = rng.index(data.len());
                let n = (1 + rng.index(16)).min(data.len() - i);
                data.drain(i..i + n);
            }
            4 => {
                let keep = rng.index(data.len() + 1);
                data.truncate(keep);
            }
            5 => {
                let other = &inputs[rng.index(inputs.len())];
                let cut = rng.index(data.len() + 1);
                let from = rng.index(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            _ if data.len() >= 8 => {
                // An 8-byte little-endian length or count set to a boundary.
                let i = rng.index(data.len() - 7);
                let value: u64 = [0, 1, u32::MAX as u64, u64::MAX, 1 << 40][rng.index(5)];
                data[i..i + 8].copy_from_slice(&value.to_le_bytes());
            }
            _ => {}
        }
    }
    data
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn committed_corpus(target: &str) -> Vec<Vec<u8>> {
    let Ok(dir) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

#[test]
fn every_fuzz_target_survives_seeded_random_inputs() {
    let per_target: usize = std::env::var("XINBAO_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("XINBAO_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("fuzz smoke seed: {seed} (replay with XINBAO_FUZZ_SEED={seed})");
    let write_seeds = std::env::var_os("XINBAO_FUZZ_WRITE_SEEDS").is_some();
    // The panics are reported below, with their input; the default hook's output would
    // only repeat them.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for (name, target) in targets::TARGETS {
        let mut inputs = targets::seeds(name);
        if write_seeds {
            let dir = corpus_dir(name);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, input) in inputs.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), input).unwrap();
            }
        }
        inputs.extend(committed_corpus(name));
        assert!(
            *name == "sync_response" || !inputs.is_empty(),
            "{name} has no seeds"
        );
        let mut rng = Rng::new(seed ^ blake3::hash(name.as_bytes()).as_bytes()[0] as u64);
        let started = Instant::now();
        let mut slowest = Duration::ZERO;
        for i in 0..per_target + inputs.len() {
            let data = if i < inputs.len() {
                inputs[i].clone()
            } else {
                mutate(&mut rng, &inputs)
            };
            let one = Instant::now();
            let outcome = std::panic::catch_unwind(|| target(&data));
            slowest = slowest.max(one.elapsed());
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-smoke");
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(format!("{name}-{}", blake3::hash(&data).to_hex()));
                std::fs::write(&path, &data).unwrap();
                failures.push(format!("{name}: {message} (input {})", path.display()));
                break;
            }
        }
        eprintln!(
            "{name}: {} inputs in {:.1?}, slowest {slowest:.1?}",
            per_target + inputs.len(),
            started.elapsed()
        );
    }
    let _ = std::panic::take_hook();
    assert!(failures.is_empty(), "{failures:#?}");
}
