//! A log-structured merge tree: the store of everything a node writes per transaction
//! (the state's records, the transaction index, the records' histories, the filings'
//! policies and the running totals), where sled's B-tree cost tens of microseconds a key
//! on random keys and kept a record in memory for every page it had ever written.
//!
//! Writes go to a sorted map in memory (the *memtable*), a whole block's batch at a time,
//! and become visible together. When the memtable passes [`FLUSH_BYTES`] it is frozen and
//! a background thread writes it out as a sorted, immutable *run* file
//! ([`run`]); runs are merged in the background, [`FAN_IN`] runs of one level into one of
//! the next, so a key is rewritten about once per level (log₄ of the data over a
//! memtable) and a read consults a few runs, each behind a Bloom filter. A read looks in
//! the memtable, then the frozen ones, then the runs from newest to oldest; the first
//! that holds the key (or its deletion) answers.
//!
//! There is no log of its own: the caller keeps each height's batch durably until
//! [`Lsm::flushed_height`] passes it (the node keeps it in its state log, a segment log
//! synced before the block's sled records are written), and replays what the runs do not
//! hold on open. The manifest ([`manifest`]) names the runs and that height, and is
//! replaced atomically after a run is on disk, so a crash at any instant leaves complete
//! runs and a height to replay from.
//!
//! Memory: the memtable and at most [`FROZEN_MAX`] frozen ones, the block cache's budget,
//! and per run its top index (1/2,000 of its data) and filter (1.25 bytes a key).

pub mod bloom;
pub mod cache;
pub mod manifest;
pub mod run;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use cache::BlockCache;
use manifest::{run_file, Manifest};
use run::{Run, RunCursor, RunWriter};

/// A memtable is frozen and written out once its entries take about this much.
pub const FLUSH_BYTES: usize = 32 * 1024 * 1024;
/// Frozen memtables waiting to be written at most; a writer beyond it waits.
pub const FROZEN_MAX: usize = 2;
/// Runs of one level merged into one of the next.
pub const FAN_IN: usize = 4;
/// The block cache's budget.
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Background merging threads.
const MERGERS: usize = 2;
/// Bytes counted per memtable entry besides its key and value (the map's own).
const ENTRY_OVERHEAD: usize = 64;
/// Entries a memtable cursor copies out per visit to its lock.
const MEM_CHUNK: usize = 256;

/// A put (`Some`) or a delete (`None`) of a key.
pub type Write = (Vec<u8>, Option<Vec<u8>>);

#[derive(Default)]
struct Memtable {
    map: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
    /// The height of the last batch applied.
    height: Option<u64>,
}

/// What a reader sees: the memtables and runs at one moment.
struct Version {
    active: Arc<RwLock<Memtable>>,
    /// Frozen memtables, newest first; never written again.
    frozen: Vec<Arc<RwLock<Memtable>>>,
    /// Runs, newest first. Levels never decrease from newest to oldest, so the runs of
    /// one level lie together.
    runs: Vec<Arc<Run>>,
}

/// What only version edits touch, under one lock.
struct Edits {
    manifest: Manifest,
    /// Runs being merged, by id.
    merging: BTreeSet<u64>,
    /// A background failure: the next write reports it.
    failure: Option<String>,
}

/// Sizes, for tests that want runs without writing tens of megabytes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub flush_bytes: usize,
    pub cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            flush_bytes: FLUSH_BYTES,
            cache_bytes: CACHE_BYTES,
        }
    }
}

struct Core {
    dir: PathBuf,
    options: Options,
    cache: Arc<BlockCache>,
    version: RwLock<Arc<Version>>,
    edits: Mutex<Edits>,
    /// Signalled on every version edit: the flusher, the mergers and a waiting writer
    /// look again.
    changed: Condvar,
    stop: AtomicBool,
    /// Merges finished since the tree was opened, and the bytes of the runs they read.
    merges: AtomicU64,
    merged_bytes: AtomicU64,
    /// Merges under way.
    merges_running: AtomicUsize,
}

/// The tree; clones share it. The background threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct Lsm {
    handle: Arc<Handle>,
}

struct Handle {
    core: Arc<Core>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.core.stop.store(true, Ordering::SeqCst);
        {
            let _edits = self.core.edits.lock();
            self.core.changed.notify_all();
        }
        for thread in self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
        {
            let _ = thread.join();
        }
    }
}

/// Figures for the node's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub memtable_bytes: usize,
    pub frozen: usize,
    pub runs: usize,
    pub run_bytes: u64,
    pub run_entries: u64,
    /// Memory the runs hold open (top indexes and filters).
    pub run_memory: usize,
    pub cache_bytes: usize,
    /// Merges finished since the tree was opened.
    pub merges: u64,
    /// Bytes of the runs those merges read (each rewrote about as many).
    pub merged_bytes: u64,
    /// Merges under way now.
    pub merges_running: usize,
}

fn lock_poisoned<T>(_: T) -> io::Error {
    io::Error::other("an LSM lock was poisoned by a panic")
}

impl Lsm {
    /// Opens (or creates) the tree in `dir`: the runs its manifest names, an empty
    /// memtable. Files the manifest does not name (a run or manifest a crash left half
    /// written, a run merged away) are removed. The caller then replays the batches after
    /// [`Lsm::flushed_height`].
    pub fn open(dir: &Path) -> io::Result<Lsm> {
        Lsm::open_with(dir, Options::default())
    }

    pub fn open_with(dir: &Path, options: Options) -> io::Result<Lsm> {
        fs::create_dir_all(dir)?;
        let manifest = Manifest::load(dir)?;
        let named: BTreeSet<String> = manifest.runs.iter().map(|(id, _)| run_file(*id)).collect();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if (name.ends_with(".run") && !named.contains(&name)) || name.ends_with(".tmp") {
                fs::remove_file(dir.join(&name))?;
            }
        }
        let mut runs = Vec::with_capacity(manifest.runs.len());
        let mut level = 0;
        for &(id, run_level) in &manifest.runs {
            if run_level < level {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the LSM manifest lists a run of a lower level after a higher one",
                ));
            }
            level = run_level;
            runs.push(Arc::new(Run::open(&dir.join(run_file(id)), id, run_level)?));
        }
        let core = Arc::new(Core {
            dir: dir.to_path_buf(),
            options,
            cache: Arc::new(BlockCache::new(options.cache_bytes)),
            version: RwLock::new(Arc::new(Version {
                active: Arc::default(),
                frozen: Vec::new(),
                runs,
            })),
            edits: Mutex::new(Edits {
                manifest,
                merging: BTreeSet::new(),
                failure: None,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            merges: AtomicU64::new(0),
            merged_bytes: AtomicU64::new(0),
            merges_running: AtomicUsize::new(0),
        });
        let mut threads = Vec::new();
        let flusher = core.clone();
        threads.push(
            std::thread::Builder::new()
                .name("lsm-flush".into())
                .spawn(move || flusher.background(Core::flush_one))?,
        );
        for i in 0..MERGERS {
            let merger = core.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("lsm-merge-{i}"))
                    .spawn(move || merger.background(Core::merge_one))?,
            );
        }
        Ok(Lsm {
            handle: Arc::new(Handle {
                core,
                threads: Mutex::new(threads),
            }),
        })
    }

    fn core(&self) -> &Core {
        &self.handle.core
    }

    /// The last height whose batch the runs hold (durably); `None` before the first flush.
    pub fn flushed_height(&self) -> Option<u64> {
        self.core()
            .edits
            .lock()
            .map(|e| e.manifest.flushed_height)
            .unwrap_or(None)
    }

    /// Applies the batch of `height`: every write becomes visible at once, later ones in
    /// the batch winning. Waits while [`FROZEN_MAX`] memtables are still being written.
    /// Fails if a background write failed (the disk is full or failing).
    pub fn apply(&self, batch: impl IntoIterator<Item = Write>, height: u64) -> io::Result<()> {
        let core = self.core();
        if let Some(failure) = &core.edits.lock().map_err(lock_poisoned)?.failure {
            return Err(io::Error::other(failure.clone()));
        }
        let version = core.current();
        let full = {
            let mut memtable = version.active.write().map_err(lock_poisoned)?;
            for (key, value) in batch {
                assert!(
                    key.len() <= run::KEY_BYTES_MAX,
                    "a key of {} bytes",
                    key.len()
                );
                let (key_len, value_len) = (key.len(), value.as_ref().map_or(0, Vec::len));
                match memtable.map.insert(key, value) {
                    Some(old) => {
                        memtable.bytes = memtable.bytes - old.map_or(0, |v| v.len()) + value_len;
                    }
                    None => memtable.bytes += key_len + value_len + ENTRY_OVERHEAD,
                }
            }
            memtable.height = Some(height);
            memtable.bytes >= core.options.flush_bytes
        };
        if full {
            core.freeze()?;
        }
        Ok(())
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let mut found = None;
        self.read_with(key, &mut |v| found = Some(v.to_vec()))?;
        Ok(found)
    }

    /// Calls `f` with the value of `key`, lent; false (and `f` not called) when there is
    /// none.
    pub fn read_with(&self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        let core = self.core();
        let version = core.current();
        for memtable in std::iter::once(&version.active).chain(&version.frozen) {
            let memtable = memtable.read().map_err(lock_poisoned)?;
            if let Some(value) = memtable.map.get(key) {
                return Ok(match value {
                    Some(v) => {
                        f(v);
                        true
                    }
                    None => false,
                });
            }
        }
        let hash = bloom::hash(key);
        for run in &version.runs {
            if let Some(value) = run.get(key, hash, &core.cache)? {
                return Ok(match value {
                    Some(v) => {
                        f(&v);
                        true
                    }
                    None => false,
                });
            }
        }
        Ok(false)
    }

    /// The live entries with keys in `[from, to)` (unbounded where `None`), in key order,
    /// or in reverse with `reverse`, read lazily.
    pub fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>, reverse: bool) -> Scan {
        let version = self.core().current();
        let bounds = Bounds {
            from: from.map(<[u8]>::to_vec),
            to: to.map(<[u8]>::to_vec),
        };
        let mut sources = Vec::new();
        for memtable in std::iter::once(&version.active).chain(&version.frozen) {
            sources.push(Source::Mem(MemCursor::new(
                memtable.clone(),
                &bounds,
                reverse,
            )));
        }
        for run in &version.runs {
            sources.push(Source::Run {
                run: run.clone(),
                cursor: None,
            });
        }
        Scan {
            merge: Merge::new(sources, bounds, reverse, Some(self.core().cache.clone())),
            failed: false,
        }
    }

    /// The live entries whose keys start with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Scan {
        let end = prefix_end(prefix);
        self.range(Some(prefix), end.as_deref(), false)
    }

    pub fn stats(&self) -> Stats {
        let core = self.core();
        let version = core.current();
        let memtable_bytes = version.active.read().map(|m| m.bytes).unwrap_or(0)
            + version
                .frozen
                .iter()
                .map(|m| m.read().map(|m| m.bytes).unwrap_or(0))
                .sum::<usize>();
        Stats {
            memtable_bytes,
            frozen: version.frozen.len(),
            runs: version.runs.len(),
            run_bytes: version.runs.iter().map(|r| r.bytes()).sum(),
            run_entries: version.runs.iter().map(|r| r.entries()).sum(),
            run_memory: version.runs.iter().map(|r| r.memory()).sum(),
            cache_bytes: core.cache.bytes(),
            merges: core.merges.load(Ordering::Relaxed),
            merged_bytes: core.merged_bytes.load(Ordering::Relaxed),
            merges_running: core.merges_running.load(Ordering::Relaxed),
        }
    }

    /// Writes the memtable out now and waits until every frozen memtable is a run (for
    /// tests, and for a caller that wants the batches it holds made durable).
    pub fn flush(&self) -> io::Result<()> {
        let core = self.core();
        let has_entries = !core
            .current()
            .active
            .read()
            .map_err(lock_poisoned)?
            .map
            .is_empty();
        if has_entries {
            core.freeze()?;
        }
        let mut edits = core.edits.lock().map_err(lock_poisoned)?;
        loop {
            if let Some(failure) = &edits.failure {
                return Err(io::Error::other(failure.clone()));
            }
            if core.current().frozen.is_empty() {
                return Ok(());
            }
            edits = core.changed.wait(edits).map_err(lock_poisoned)?;
        }
    }

    /// Waits until no merge is due or running (for tests).
    pub fn settle(&self) -> io::Result<()> {
        let core = self.core();
        let mut edits = core.edits.lock().map_err(lock_poisoned)?;
        loop {
            if let Some(failure) = &edits.failure {
                return Err(io::Error::other(failure.clone()));
            }
            let version = core.current();
            if version.frozen.is_empty()
                && edits.merging.is_empty()
                && merge_due(&version.runs, &edits.merging).is_none()
            {
                return Ok(());
            }
            edits = core.changed.wait(edits).map_err(lock_poisoned)?;
        }
    }
}

/// The smallest key after every key that starts with `prefix`; `None` when there is none
/// (the prefix is empty or all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The runs of the lowest level that has [`FAN_IN`] of them, none of them being merged:
/// their positions in `runs`.
fn merge_due(runs: &[Arc<Run>], merging: &BTreeSet<u64>) -> Option<std::ops::Range<usize>> {
    let mut start = 0;
    while start < runs.len() {
        let level = runs[start].level;
        let end = start
            + runs[start..]
                .iter()
                .take_while(|r| r.level == level)
                .count();
        let free = runs[start..end].iter().all(|r| !merging.contains(&r.id));
        if end - start >= FAN_IN && free {
            return Some(start..end);
        }
        start = end;
    }
    None
}

impl Core {
    fn current(&self) -> Arc<Version> {
        self.version
            .read()
            .expect("LSM version lock poisoned")
            .clone()
    }

    /// Freezes the active memtable and starts an empty one, first waiting while
    /// [`FROZEN_MAX`] are still being written.
    fn freeze(&self) -> io::Result<()> {
        let mut edits = self.edits.lock().map_err(lock_poisoned)?;
        while self.current().frozen.len() >= FROZEN_MAX {
            if let Some(failure) = &edits.failure {
                return Err(io::Error::other(failure.clone()));
            }
            edits = self.changed.wait(edits).map_err(lock_poisoned)?;
        }
        let old = self.current();
        let mut frozen = vec![old.active.clone()];
        frozen.extend(old.frozen.iter().cloned());
        self.install(Version {
            active: Arc::default(),
            frozen,
            runs: old.runs.clone(),
        });
        drop(edits);
        self.changed.notify_all();
        Ok(())
    }

    fn install(&self, version: Version) {
        *self.version.write().expect("LSM version lock poisoned") = Arc::new(version);
    }

    /// Runs `step` until the tree is dropped; `step` returns false when it found nothing
    /// to do, and the thread then waits for the next edit. A failure is kept for the
    /// writer to report, and the thread stops.
    fn background(self: Arc<Core>, step: fn(&Core) -> io::Result<bool>) {
        lower_priority();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            match step(&self) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(_) if self.stop.load(Ordering::SeqCst) => return,
                Err(e) => {
                    tracing::error!("the state store's background write failed: {e}");
                    if let Ok(mut edits) = self.edits.lock() {
                        edits.failure = Some(format!("the state store could not write: {e}"));
                    }
                    self.changed.notify_all();
                    return;
                }
            }
            let Ok(edits) = self.edits.lock() else { return };
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            // Woken by any edit; a step that finds nothing to do waits again.
            let _ = self
                .changed
                .wait_timeout(edits, std::time::Duration::from_secs(1));
        }
    }

    /// Writes the oldest frozen memtable as a level-0 run.
    fn flush_one(&self) -> io::Result<bool> {
        let Some(memtable) = self.current().frozen.last().cloned() else {
            return Ok(false);
        };
        let id = self.take_id()?;
        let path = self.dir.join(run_file(id));
        let height = {
            let memtable = memtable.read().map_err(lock_poisoned)?;
            let mut writer = RunWriter::create(&path, memtable.map.len())?;
            for (key, value) in &memtable.map {
                writer.add(key, value.as_deref())?;
            }
            writer.finish()?;
            memtable.height
        };
        let run = Arc::new(Run::open(&path, id, 0)?);
        let mut edits = self.edits.lock().map_err(lock_poisoned)?;
        let old = self.current();
        let mut runs = vec![run];
        runs.extend(old.runs.iter().cloned());
        let frozen: Vec<_> = old
            .frozen
            .iter()
            .filter(|m| !Arc::ptr_eq(m, &memtable))
            .cloned()
            .collect();
        let mut manifest = edits.manifest.clone();
        manifest.flushed_height = height.or(manifest.flushed_height);
        manifest.runs = runs.iter().map(|r| (r.id, r.level)).collect();
        manifest.store(&self.dir)?;
        edits.manifest = manifest;
        self.install(Version {
            active: old.active.clone(),
            frozen,
            runs,
        });
        drop(edits);
        self.changed.notify_all();
        Ok(true)
    }

    fn take_id(&self) -> io::Result<u64> {
        let mut edits = self.edits.lock().map_err(lock_poisoned)?;
        let id = edits.manifest.next_id;
        edits.manifest.next_id += 1;
        Ok(id)
    }

    /// Merges the runs of the lowest level that has [`FAN_IN`] of them into one run of the
    /// next level.
    fn merge_one(&self) -> io::Result<bool> {
        let (inputs, bottom, id) = {
            let mut edits = self.edits.lock().map_err(lock_poisoned)?;
            let version = self.current();
            let Some(range) = merge_due(&version.runs, &edits.merging) else {
                return Ok(false);
            };
            let inputs: Vec<Arc<Run>> = version.runs[range.clone()].to_vec();
            for run in &inputs {
                edits.merging.insert(run.id);
            }
            let id = edits.manifest.next_id;
            edits.manifest.next_id += 1;
            // Deletions can be dropped when no older run could hold what they delete.
            (inputs, range.end == version.runs.len(), id)
        };
        let started = std::time::Instant::now();
        self.merges_running.fetch_add(1, Ordering::Relaxed);
        let result = self.merge_into(&inputs, bottom, id);
        self.merges_running.fetch_sub(1, Ordering::Relaxed);
        let mut edits = self.edits.lock().map_err(lock_poisoned)?;
        for run in &inputs {
            edits.merging.remove(&run.id);
        }
        let merged = match result {
            Ok(merged) => merged,
            Err(e) => {
                let _ = fs::remove_file(self.dir.join(run_file(id)));
                return Err(e);
            }
        };
        let old = self.current();
        let first = old
            .runs
            .iter()
            .position(|r| r.id == inputs[0].id)
            .expect("runs being merged stay in the tree");
        assert!(
            old.runs[first..first + inputs.len()]
                .iter()
                .zip(&inputs)
                .all(|(a, b)| a.id == b.id),
            "runs being merged stay together"
        );
        let bytes_out = merged.bytes();
        let mut runs = old.runs[..first].to_vec();
        runs.push(Arc::new(merged));
        runs.extend(old.runs[first + inputs.len()..].iter().cloned());
        let mut manifest = edits.manifest.clone();
        manifest.runs = runs.iter().map(|r| (r.id, r.level)).collect();
        manifest.store(&self.dir)?;
        edits.manifest = manifest;
        // Readers that still hold a merged run keep its open file; the name goes now.
        for run in &inputs {
            fs::remove_file(self.dir.join(run_file(run.id)))?;
            self.cache.forget_run(run.id);
        }
        let (level, bytes_in) = (
            inputs[0].level,
            inputs.iter().map(|r| r.bytes()).sum::<u64>(),
        );
        // Counted before the new version shows, so that whoever sees it sees the count.
        self.merges.fetch_add(1, Ordering::Relaxed);
        self.merged_bytes.fetch_add(bytes_in, Ordering::Relaxed);
        self.install(Version {
            active: old.active.clone(),
            frozen: old.frozen.clone(),
            runs,
        });
        drop(edits);
        self.changed.notify_all();
        // A merge reads and rewrites every byte of its runs on one core: the large ones,
        // of a deep level, take that core from the node for tens of seconds.
        tracing::info!(
            runs = inputs.len(),
            from_level = level,
            mib_in = bytes_in / (1024 * 1024),
            mib_out = bytes_out / (1024 * 1024),
            seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
            "state store merged runs"
        );
        Ok(true)
    }

    fn merge_into(&self, inputs: &[Arc<Run>], bottom: bool, id: u64) -> io::Result<Run> {
        let path = self.dir.join(run_file(id));
        let keys_max: u64 = inputs.iter().map(|r| r.entries()).sum();
        let mut writer = RunWriter::create(&path, keys_max as usize)?;
        let sources = inputs
            .iter()
            .map(|run| Source::Run {
                run: run.clone(),
                cursor: None,
            })
            .collect();
        let mut merge = Merge::new(sources, Bounds::default(), false, None);
        let level = inputs[0].level + 1;
        while let Some((key, value)) = merge.next_entry()? {
            if value.is_none() && bottom {
                continue;
            }
            writer.add(&key, value.as_deref())?;
            if self.stop.load(Ordering::Relaxed) {
                return Err(io::Error::other("stopped"));
            }
        }
        writer.finish()?;
        Run::open(&path, id, level)
    }
}

/// Background threads give way to the chain: a merge can wait, a block cannot.
fn lower_priority() {
    // SAFETY: setpriority(2) on the calling thread (who = 0) only changes its own nice
    // value; it has no memory-safety preconditions.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 5);
    }
}

#[derive(Debug, Clone, Default)]
struct Bounds {
    from: Option<Vec<u8>>,
    to: Option<Vec<u8>>,
}

impl Bounds {
    fn contains(&self, key: &[u8]) -> bool {
        self.from.as_deref().is_none_or(|f| key >= f) && self.to.as_deref().is_none_or(|t| key < t)
    }
}

/// A memtable read in order, a chunk at a time, so that no lock is held between steps.
struct MemCursor {
    memtable: Arc<RwLock<Memtable>>,
    reverse: bool,
    /// Where the next chunk starts (exclusive of the last key given).
    next: Bound<Vec<u8>>,
    /// The far end.
    end: Bound<Vec<u8>>,
    chunk: VecDeque<Write>,
    done: bool,
}

impl MemCursor {
    fn new(memtable: Arc<RwLock<Memtable>>, bounds: &Bounds, reverse: bool) -> MemCursor {
        let from = bounds
            .from
            .clone()
            .map_or(Bound::Unbounded, Bound::Included);
        let to = bounds.to.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let (next, end) = if reverse { (to, from) } else { (from, to) };
        MemCursor {
            memtable,
            reverse,
            next,
            end,
            chunk: VecDeque::new(),
            done: false,
        }
    }

    fn next(&mut self) -> io::Result<Option<Write>> {
        if self.chunk.is_empty() && !self.done {
            let memtable = self.memtable.read().map_err(lock_poisoned)?;
            let range = if self.reverse {
                (self.end.clone(), self.next.clone())
            } else {
                (self.next.clone(), self.end.clone())
            };
            let mut take = |(k, v): (&Vec<u8>, &Option<Vec<u8>>)| (k.clone(), v.clone());
            if self.reverse {
                self.chunk.extend(
                    memtable
                        .map
                        .range(range)
                        .rev()
                        .take(MEM_CHUNK)
                        .map(&mut take),
                );
            } else {
                self.chunk
                    .extend(memtable.map.range(range).take(MEM_CHUNK).map(&mut take));
            }
            match self.chunk.back() {
                Some((last, _)) if self.chunk.len() == MEM_CHUNK => {
                    self.next = Bound::Excluded(last.clone());
                }
                _ => self.done = true,
            }
        }
        Ok(self.chunk.pop_front())
    }
}

enum Source {
    Mem(MemCursor),
    /// A run, its cursor placed on first use.
    Run {
        run: Arc<Run>,
        cursor: Option<RunCursor>,
    },
}

/// Merges sources (newest first) into one ordered stream: for a key several hold, the
/// newest answers.
struct Merge {
    sources: Vec<Source>,
    heads: Vec<Option<Write>>,
    started: bool,
    bounds: Bounds,
    reverse: bool,
    cache: Option<Arc<BlockCache>>,
}

impl Merge {
    fn new(
        sources: Vec<Source>,
        bounds: Bounds,
        reverse: bool,
        cache: Option<Arc<BlockCache>>,
    ) -> Merge {
        let heads = sources.iter().map(|_| None).collect();
        Merge {
            sources,
            heads,
            started: false,
            bounds,
            reverse,
            cache,
        }
    }

    fn advance(&mut self, i: usize) -> io::Result<()> {
        let (reverse, bounds, cache) = (self.reverse, &self.bounds, &self.cache);
        let entry = match &mut self.sources[i] {
            Source::Mem(cursor) => cursor.next()?,
            Source::Run { run, cursor } => {
                if cursor.is_none() {
                    *cursor = Some(if reverse {
                        RunCursor::seek_back(run.clone(), cache.clone(), bounds.to.as_deref())?
                    } else {
                        RunCursor::seek(run.clone(), cache.clone(), bounds.from.as_deref())?
                    });
                }
                let cursor = cursor.as_mut().expect("placed");
                if reverse {
                    cursor.step_back()?
                } else {
                    cursor.step_forward()?
                }
            }
        };
        self.heads[i] = entry.filter(|(k, _)| bounds.contains(k));
        Ok(())
    }

    /// The next entry, deletions included.
    fn next_entry(&mut self) -> io::Result<Option<Write>> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                self.advance(i)?;
            }
        }
        let mut best: Option<usize> = None;
        for (i, head) in self.heads.iter().enumerate() {
            let Some((key, _)) = head else { continue };
            let better = match best {
                None => true,
                Some(b) => {
                    let current = &self.heads[b].as_ref().expect("a head").0;
                    if self.reverse {
                        key > current
                    } else {
                        key < current
                    }
                }
            };
            if better {
                best = Some(i);
            }
        }
        let Some(best) = best else {
            return Ok(None);
        };
        let entry = self.heads[best].take().expect("a head");
        // Older sources' entries of the same key are shadowed.
        for i in 0..self.heads.len() {
            if i == best || self.heads[i].as_ref().is_some_and(|(k, _)| *k == entry.0) {
                self.advance(i)?;
            }
        }
        Ok(Some(entry))
    }
}

/// A lazy read of a range of live entries (deletions skipped).
pub struct Scan {
    merge: Merge,
    failed: bool,
}

impl Iterator for Scan {
    type Item = io::Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            match self.merge.next_entry() {
                Ok(Some((key, Some(value)))) => return Some(Ok((key, value))),
                Ok(Some((_, None))) => continue,
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
