//! The embedded engine under the store: fjall, one database with a keyspace per kind of
//! record ([`Space`]). Nothing outside this module names fjall; its errors become
//! [`StoreError`]s here, in the operator's words.
//!
//! A height is one [`Batch`] across keyspaces, written to the engine's journal and synced
//! (one `fsync`) before [`Engine::commit`] returns; fjall applies it to its memtables and
//! makes it visible to readers at once, whole. Memtables are flushed to tables and tables
//! compacted (leveled) by the engine's own workers, which sync what they write before the
//! journal that held it is dropped.

use std::ops::Bound;
use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

use super::StoreError;

/// The kinds of record the node keeps, a keyspace each. The names are on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Metadata: the layout, the genesis hash, the tip.
    Meta,
    /// Height → the canonical block.
    Blocks,
    /// Height → the block's canonical receipts.
    Receipts,
    /// Height → the bounds of each transaction and receipt in those two records.
    Bounds,
    /// Height → the block's outline (header, transaction count, rejected count).
    Outlines,
    /// Height → the canonical commit certificate.
    Certificates,
    /// Block id → height.
    BlockIds,
    /// Transaction id → (height, index, expiry height).
    TxIndex,
    /// (expiry height, height) → the ids that block remembers until then (`replay`).
    ExpiryBuckets,
    /// (height, index) → the accepted governance change's transaction id.
    Governance,
    /// Height → what the block's transactions decided.
    Decisions,
    /// The rulebook's state: key → value.
    State,
    /// (height, validator, digest) → a piece of evidence of equivocation this node saw.
    Evidence,
    /// The readers' indexes (`crate::index`): (kind, id, height, index) → empty.
    Subjects,
    /// (filing's state key, policy) → empty.
    FilingPolicies,
    /// Filing's state key → how many policies.
    FilingCounts,
    /// (organisation, column) → running total.
    OrgTotals,
    /// (programme, last day not overdue) → outstanding principal.
    LoanClocks,
    /// (desk, insurer, programme, claim) → empty.
    ClaimDesk,
    /// (desk, insurer, programme) → how many claims.
    DeskCounts,
    /// Month-end date → the programmes' figures as of that day.
    MonthEnds,
}

impl Space {
    pub const ALL: [Space; 21] = [
        Space::Meta,
        Space::Blocks,
        Space::Receipts,
        Space::Bounds,
        Space::Outlines,
        Space::Certificates,
        Space::BlockIds,
        Space::TxIndex,
        Space::ExpiryBuckets,
        Space::Governance,
        Space::Decisions,
        Space::State,
        Space::Evidence,
        Space::Subjects,
        Space::FilingPolicies,
        Space::FilingCounts,
        Space::OrgTotals,
        Space::LoanClocks,
        Space::ClaimDesk,
        Space::DeskCounts,
        Space::MonthEnds,
    ];

    /// The keyspace's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Space::Meta => "meta",
            Space::Blocks => "blocks",
            Space::Receipts => "receipts",
            Space::Bounds => "bounds",
            Space::Outlines => "outlines",
            Space::Certificates => "certificates",
            Space::BlockIds => "block-ids",
            Space::TxIndex => "tx-index",
            Space::ExpiryBuckets => "expiry-buckets",
            Space::Governance => "governance",
            Space::Decisions => "decisions",
            Space::State => "state",
            Space::Evidence => "evidence",
            Space::Subjects => "subjects",
            Space::FilingPolicies => "filing-policies",
            Space::FilingCounts => "filing-counts",
            Space::OrgTotals => "org-totals",
            Space::LoanClocks => "loan-clocks",
            Space::ClaimDesk => "claim-desk",
            Space::DeskCounts => "desk-counts",
            Space::MonthEnds => "month-ends",
        }
    }

    /// Whether the keyspace's values are large (blocks and receipts): kept in blob files
    /// beside the tables, so that compactions move their keys, not their bytes.
    fn large_values(self) -> bool {
        matches!(self, Space::Blocks | Space::Receipts)
    }
}

/// The engine's sizes, fixed when a keyspace is created (`[storage]` in node.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// A keyspace's memtable is flushed to a table at this size.
    pub memtable_bytes: u64,
    /// Compactions write tables of this size.
    pub table_bytes: u64,
    /// The block cache, shared by all keyspaces.
    pub cache_bytes: u64,
}

/// Small sizes keep each compaction short. Most of the node's keys (transaction ids above
/// all) are spread over the whole key range, so every merge of the first level rewrites
/// the whole second level: its size ([`L0_TABLES`] tables) and the first level's (as many
/// memtables) bound how long one merge takes, and with it how long the commit path shares
/// its cores with that merge. With 32 MiB memtables and tables, merges grew with the data
/// to whole-keyspace rewrites of 350 MB and more; at these sizes a merge rewrites the
/// first level's eight small tables and a second level of 64 MiB, more often
/// (`docs/perf/2026-12-08-store-small-tables.md`).
impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            memtable_bytes: 16 * 1024 * 1024,
            table_bytes: 8 * 1024 * 1024,
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Tables a keyspace's first level gathers before they are merged into the second. Each
/// such merge rewrites the whole second level (see [`Tuning`]'s sizes): gathering eight
/// instead of the engine's four rewrites it half as often. The second level's size is
/// this many tables.
const L0_TABLES: u8 = 8;

/// The engine's figures, for the node's metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub disk_bytes: u64,
    pub journals: usize,
    pub tables: usize,
    pub l0_tables_max: usize,
    pub blob_files: usize,
    pub flushes_queued: usize,
    pub compactions_running: usize,
    pub compactions: usize,
    pub cache_bytes: u64,
    pub write_buffer_bytes: u64,
}

#[derive(Clone)]
pub struct Engine {
    db: Database,
    spaces: Vec<Keyspace>,
    /// The engine's directory.
    path: std::path::PathBuf,
    /// Below this much free space, an engine that stopped is taken to have stopped for
    /// want of it: less than a table and a memtable, what a compaction or a flush writes.
    free_low: u64,
}

/// Bytes free for this process on the file system of `path`, if it can be read.
fn free_bytes(path: &Path) -> Option<u64> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `statvfs` writes only into `stats`, a plain struct owned here.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stats` is valid for writes.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    #[allow(clippy::useless_conversion)] // u64 on this platform, not on every one
    Some(u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize)))
}

/// What one kind of engine failure means for the operator.
fn reason(e: fjall::Error) -> StoreError {
    match e {
        fjall::Error::Io(io) => StoreError::Io(io),
        fjall::Error::Storage(fjall::LsmError::Io(io)) => StoreError::Io(io),
        fjall::Error::Locked => StoreError::Layout(
            "the data directory is in use by another process (its `lock` file is held): \
             stop that node first"
                .into(),
        ),
        fjall::Error::Poisoned => StoreError::Corrupt(
            "the storage engine stopped after a failed write, flush or compaction (its \
             reason is in the log above: a full disk, a failing disk or a damaged table)"
                .into(),
        ),
        other => StoreError::Corrupt(format!("the storage engine reports: {other}")),
    }
}

/// [`reason`], for a failure met reading or writing `space`: corruption names it.
fn reason_in(space: Space) -> impl Fn(fjall::Error) -> StoreError {
    move |e| match reason(e) {
        StoreError::Corrupt(what) => {
            StoreError::Corrupt(format!("keyspace `{}`: {what}", space.name()))
        }
        other => other,
    }
}

impl Engine {
    pub fn open(path: &Path, tuning: Tuning) -> Result<Engine, StoreError> {
        // On open, a file the engine's own records name that is missing or cut short
        // is damage, not an operating error.
        let in_path = |e: StoreError| match e {
            StoreError::Corrupt(what) => StoreError::Corrupt(format!("{}: {what}", path.display())),
            StoreError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::InvalidData
                ) =>
            {
                StoreError::Corrupt(format!(
                    "{}: a file the engine's records name is missing or cut short ({io})",
                    path.display()
                ))
            }
            other => other,
        };
        // One worker for flushes and compactions: with two, fjall's first worker hands every
        // compaction back to the queue to stay free for flushes, and spins doing so for as
        // long as the second compacts (measured: the workers took 15 % of a validator's
        // CPU and the network's rate fell to 40 % of its median in some windows).
        let db = Database::builder(path)
            .cache_size(tuning.cache_bytes)
            .worker_threads(1)
            .open()
            .map_err(reason)
            .map_err(in_path)?;
        let mut spaces = Vec::with_capacity(Space::ALL.len());
        for space in Space::ALL {
            let options = || {
                let leveled = fjall::compaction::Leveled::default()
                    .with_l0_threshold(L0_TABLES)
                    .with_table_target_size(tuning.table_bytes);
                let options = KeyspaceCreateOptions::default()
                    .max_memtable_size(tuning.memtable_bytes)
                    .compaction_strategy(std::sync::Arc::new(leveled));
                if space.large_values() {
                    options.with_kv_separation(Some(fjall::KvSeparationOptions::default()))
                } else {
                    options
                }
            };
            spaces.push(
                db.keyspace(space.name(), options)
                    .map_err(reason_in(space))
                    .map_err(in_path)?,
            );
        }
        Ok(Engine {
            db,
            spaces,
            path: path.to_path_buf(),
            free_low: tuning.table_bytes + tuning.memtable_bytes,
        })
    }

    fn space(&self, space: Space) -> &Keyspace {
        // `Space::ALL` lists the spaces in their declared order, so a space's number is
        // its place in it (a test holds them so).
        &self.spaces[space as usize]
    }

    pub fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .space(space)
            .get(key)
            .map_err(reason_in(space))?
            .map(|v| v.to_vec()))
    }

    /// Calls `f` with the value at `key`, if any, without copying it; whether there was one.
    pub fn read_with(
        &self,
        space: Space,
        key: &[u8],
        f: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, StoreError> {
        match self.space(space).get(key).map_err(reason_in(space))? {
            Some(v) => {
                f(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The entries of `space` from `start` (inclusive) to `end` (exclusive; `None` to
    /// the end), in key order or, `reverse`, from the last, read from one snapshot.
    pub fn range(
        &self,
        space: Space,
        start: &[u8],
        end: Option<&[u8]>,
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + use<> {
        let bounds = (
            Bound::Included(start.to_vec()),
            end.map_or(Bound::Unbounded, |e| Bound::Excluded(e.to_vec())),
        );
        let iter = self.db.snapshot().range(self.space(space), bounds);
        let iter: Box<dyn Iterator<Item = fjall::Guard> + Send> = if reverse {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        };
        iter.map(move |guard| {
            let (k, v) = guard.into_inner().map_err(reason_in(space))?;
            Ok((k.to_vec(), v.to_vec()))
        })
    }

    /// The entries of `space` whose keys start with `prefix`, in key order.
    pub fn scan_prefix(
        &self,
        space: Space,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + use<> {
        let end = prefix_end(prefix);
        self.range(space, prefix, end.as_deref(), false)
    }

    /// A new batch of writes, committed whole by [`Engine::commit`].
    pub fn batch(&self) -> Batch {
        Batch {
            inner: self.db.batch().durability(Some(PersistMode::SyncAll)),
            engine: self.clone(),
            len: 0,
        }
    }

    /// Writes `batch` atomically, and durably before returning (one journal sync).
    pub fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.len == 0 {
            return Ok(());
        }
        batch.inner.commit().map_err(|e| self.explain(e))
    }

    /// [`reason`], with a stopped engine's likely cause: a background flush or compaction
    /// that met a full disk stops the engine, and the write after it is refused.
    fn explain(&self, e: fjall::Error) -> StoreError {
        match e {
            fjall::Error::Poisoned
                if free_bytes(&self.path).is_some_and(|free| free < self.free_low) =>
            {
                StoreError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC))
            }
            other => reason(other),
        }
    }

    pub fn stats(&self) -> Stats {
        let mut stats = Stats {
            disk_bytes: self.db.disk_space().unwrap_or(0),
            journals: self.db.journal_count(),
            flushes_queued: self.db.outstanding_flushes(),
            compactions_running: self.db.active_compactions(),
            compactions: self.db.compactions_completed(),
            cache_bytes: self.db.cache_size(),
            write_buffer_bytes: self.db.write_buffer_size(),
            ..Stats::default()
        };
        for space in &self.spaces {
            stats.tables += space.table_count();
            stats.l0_tables_max = stats.l0_tables_max.max(space.l0_table_count());
            stats.blob_files += space.blob_file_count();
        }
        stats
    }
}

#[cfg(test)]
impl Engine {
    /// Flushes every keyspace's memtable to a table, and waits for it.
    pub fn flush_all(&self) {
        for space in &self.spaces {
            space.rotate_memtable_and_wait().unwrap();
        }
    }

    /// Compacts every keyspace's tables into one level.
    pub fn compact_all(&self) {
        for space in &self.spaces {
            space.major_compact().unwrap();
        }
    }
}

/// Writes across keyspaces, applied whole or not at all.
pub struct Batch {
    inner: fjall::OwnedWriteBatch,
    engine: Engine,
    len: usize,
}

impl Batch {
    pub fn insert(&mut self, space: Space, key: &[u8], value: &[u8]) {
        self.inner.insert(self.engine.space(space), key, value);
        self.len += 1;
    }

    pub fn remove(&mut self, space: Space, key: &[u8]) {
        self.inner.remove(self.engine.space(space), key);
        self.len += 1;
    }

    /// `Some` inserts, `None` removes.
    pub fn put(&mut self, space: Space, key: &[u8], value: Option<&[u8]>) {
        match value {
            Some(v) => self.insert(space, key, v),
            None => self.remove(space, key),
        }
    }
}

/// The smallest key above every key that starts with `prefix`, if there is one.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Space;

    #[test]
    fn each_space_is_at_its_number_in_the_list_and_named_once() {
        for (i, space) in Space::ALL.iter().enumerate() {
            assert_eq!(*space as usize, i, "{space:?}");
        }
        let mut names: Vec<&str> = Space::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Space::ALL.len());
    }
}
