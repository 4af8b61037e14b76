//! The tree against a `BTreeMap` model: random batches of puts and deletes, with runs
//! written and merged at random moments and the tree reopened (as after a crash: the
//! batches after the flushed height replayed, as the store does), every read compared.
//! Seeded: a failure prints its seed, and `XINBAO_LSM_SEED` replays it.

use super::*;

/// xorshift64*: enough randomness for a test, and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xinbao-lsm-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn key_of(i: u64) -> Vec<u8> {
    // Keys under a few prefixes, of unequal lengths, some a prefix of others.
    let prefix = ["s/loan/", "s/policy/", "t", "x"][(i % 4) as usize];
    let mut key = format!("{prefix}{}", i / 4).into_bytes();
    if i % 9 == 0 {
        key.push(0xff);
    }
    key
}

fn check(lsm: &Lsm, model: &BTreeMap<Vec<u8>, Vec<u8>>, rng: &mut Rng, seed: u64) {
    for _ in 0..60 {
        let k = key_of(rng.below(1_200));
        assert_eq!(
            lsm.get(&k).unwrap().as_ref(),
            model.get(&k),
            "seed {seed}: get {k:?}"
        );
    }
    for _ in 0..6 {
        let a = key_of(rng.below(1_200));
        let b = key_of(rng.below(1_200));
        let (from, to) = if a <= b { (a, b) } else { (b, a) };
        let from = (rng.below(4) != 0).then_some(from);
        let to = (rng.below(4) != 0).then_some(to);
        let in_range =
            |k: &Vec<u8>| from.as_ref().is_none_or(|f| k >= f) && to.as_ref().is_none_or(|t| k < t);
        let expected: Vec<(Vec<u8>, Vec<u8>)> = model
            .iter()
            .filter(|(k, _)| in_range(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let got: Vec<_> = lsm
            .range(from.as_deref(), to.as_deref(), false)
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(got, expected, "seed {seed}: range {from:?}..{to:?}");
        let mut back: Vec<_> = lsm
            .range(from.as_deref(), to.as_deref(), true)
            .collect::<io::Result<_>>()
            .unwrap();
        back.reverse();
        assert_eq!(
            back, expected,
            "seed {seed}: reverse range {from:?}..{to:?}"
        );
    }
    for prefix in [&b"s/"[..], b"s/loan/1", b"t", b""] {
        let expected: Vec<_> = model
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let got: Vec<_> = lsm.scan_prefix(prefix).collect::<io::Result<_>>().unwrap();
        assert_eq!(got, expected, "seed {seed}: prefix {prefix:?}");
    }
}

fn run_model(seed: u64, steps: usize) {
    let dir = temp(&format!("model-{seed}"));
    let options = Options {
        flush_bytes: 64 * 1024,
        cache_bytes: 256 * 1024,
    };
    let mut rng = Rng(seed | 1);
    let mut lsm = Lsm::open_with(&dir, options).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    // What the caller keeps durably: every height's batch.
    let mut log: Vec<Vec<Write>> = Vec::new();
    for step in 0..steps {
        let mut batch = Vec::new();
        for _ in 0..rng.below(120) {
            let k = key_of(rng.below(1_200));
            if rng.below(5) == 0 {
                batch.push((k, None));
            } else {
                let len = if rng.below(50) == 0 {
                    5_000
                } else {
                    rng.below(200) as usize
                };
                batch.push((k, Some(vec![rng.below(256) as u8; len])));
            }
        }
        let height = log.len() as u64;
        for (k, v) in &batch {
            match v {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(k),
            };
        }
        log.push(batch.clone());
        lsm.apply(batch, height).unwrap();
        match rng.below(40) {
            0..=3 => lsm.flush().unwrap(),
            4 => lsm.settle().unwrap(),
            5 => {
                // Reopen, as after a crash: whatever the runs hold, plus the log replayed.
                drop(lsm);
                lsm = Lsm::open_with(&dir, options).unwrap();
                let from = lsm.flushed_height().map_or(0, |h| h + 1);
                for h in from..log.len() as u64 {
                    lsm.apply(log[h as usize].clone(), h).unwrap();
                }
            }
            _ => {}
        }
        if step % 5 == 0 {
            check(&lsm, &model, &mut rng, seed);
        }
    }
    lsm.flush().unwrap();
    lsm.settle().unwrap();
    check(&lsm, &model, &mut rng, seed);
    let stats = lsm.stats();
    assert!(stats.runs >= 1, "seed {seed}: runs were written");
    drop(lsm);
    let lsm = Lsm::open_with(&dir, options).unwrap();
    assert_eq!(lsm.flushed_height(), Some(log.len() as u64 - 1));
    check(&lsm, &model, &mut rng, seed);
    drop(lsm);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_tree_reads_as_a_sorted_map_through_flushes_merges_and_reopening() {
    let seeds: Vec<u64> = match std::env::var("XINBAO_LSM_SEED") {
        Ok(seed) => vec![seed.parse().expect("a seed")],
        Err(_) => vec![1, 0x5eed, 20_261_203],
    };
    for seed in seeds {
        run_model(seed, 400);
    }
}

#[test]
fn runs_are_merged_level_by_level_and_deletions_dropped_at_the_bottom() {
    let dir = temp("levels");
    let options = Options {
        flush_bytes: usize::MAX,
        cache_bytes: 1 << 20,
    };
    let lsm = Lsm::open_with(&dir, options).unwrap();
    // Sixteen flushes of one key each: four level-0 merges, then one of level 1.
    for h in 0..16u64 {
        lsm.apply([(format!("k{h:02}").into_bytes(), Some(vec![1]))], h)
            .unwrap();
        lsm.flush().unwrap();
        lsm.settle().unwrap();
    }
    let version = lsm.core().current();
    let levels: Vec<u8> = version.runs.iter().map(|r| r.level).collect();
    assert_eq!(
        levels,
        vec![2],
        "16 level-0 runs become 4 of level 1, then 1 of level 2"
    );
    let stats = lsm.stats();
    assert_eq!((stats.merges, stats.merges_running), (5, 0));
    assert!(
        stats.merged_bytes > stats.run_bytes,
        "each key was read twice"
    );
    drop(version);
    // A deletion is kept while an older run may hold the key, dropped when merged with
    // the oldest.
    lsm.apply([(b"k00".to_vec(), None)], 16).unwrap();
    lsm.flush().unwrap();
    lsm.settle().unwrap();
    assert_eq!(lsm.get(b"k00").unwrap(), None);
    assert_eq!(lsm.stats().run_entries, 17, "the deletion is a run entry");
    for h in 17..20u64 {
        lsm.apply([(format!("k{h:02}").into_bytes(), Some(vec![2]))], h)
            .unwrap();
        lsm.flush().unwrap();
    }
    lsm.settle().unwrap();
    // Four level-0 runs merged into a level-1 run; not yet with the oldest (level 2).
    let levels: Vec<u8> = lsm.core().current().runs.iter().map(|r| r.level).collect();
    assert_eq!(levels, vec![1, 2]);
    assert_eq!(lsm.stats().merges, 6);
    assert_eq!(lsm.get(b"k00").unwrap(), None);
    assert_eq!(lsm.get(b"k01").unwrap(), Some(vec![1]));
    // Only the files the manifest names are left.
    let files = fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, 3, "two runs and the manifest");
    drop(lsm);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_half_written_run_left_by_a_crash_is_removed_on_open() {
    let dir = temp("stray");
    let lsm = Lsm::open_with(&dir, Options::default()).unwrap();
    lsm.apply([(b"a".to_vec(), Some(b"1".to_vec()))], 0)
        .unwrap();
    lsm.flush().unwrap();
    drop(lsm);
    fs::write(dir.join(run_file(99)), b"half a run").unwrap();
    fs::write(dir.join("MANIFEST.tmp"), b"half a manifest").unwrap();
    let lsm = Lsm::open_with(&dir, Options::default()).unwrap();
    assert_eq!(lsm.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert!(!dir.join(run_file(99)).exists());
    assert!(!dir.join("MANIFEST.tmp").exists());
    drop(lsm);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_prefix_ends_where_its_keys_do() {
    assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
    assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
    assert_eq!(prefix_end(b"\xff\xff"), None);
    assert_eq!(prefix_end(b""), None);
}
