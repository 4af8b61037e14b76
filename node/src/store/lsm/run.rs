//! A run: one immutable file of entries sorted by key, written once and read by position.
//!
//! ```text
//! [data block]…  (index blocks between them, each written when it fills)
//! [top block] [filter] [footer]
//! ```
//!
//! Every block has one format ([`Block`]): entries (key, and a value or a tombstone), then
//! the entries' offsets, their count and a checksum of the block. A data block holds the
//! run's entries, about [`BLOCK_BYTES`] each; an index block holds, for each of up to
//! [`BLOCK_BYTES`] worth of data blocks, the last key of the block and where it is; the
//! top block does the same for the index blocks. Only the top block and the filter are
//! kept in memory while a run is open (about 1/2,000 of the data and 1.25 bytes a key);
//! the index and data blocks are read when needed, through the block cache.
//!
//! The footer (fixed length, at the end) locates the top block and the filter and carries
//! their checksums. A run file that fails any check is refused as corrupt: a run is only
//! ever read as written, since it is renamed into place and named in the manifest only
//! after it is complete and on disk.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::bloom::{self, Bloom};
use super::cache::BlockCache;

/// The size a block is cut at (an entry larger than this gets a block of its own).
pub const BLOCK_BYTES: usize = 4096;
/// The value tag of a tombstone (a deleted key).
const TOMBSTONE: u32 = u32::MAX;
const CHECKSUM_BYTES: usize = 8;
const MAGIC: &[u8; 8] = b"XBRUN\x00\x00\x01";
const FOOTER_BYTES: usize = 8 + 8 + 4 + 8 + 4 + 8 + 8 + 8;
/// Longest key a run holds (its length is stored in two bytes).
pub const KEY_BYTES_MAX: usize = u16::MAX as usize;

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_BYTES] {
    blake3::hash(bytes).as_bytes()[..CHECKSUM_BYTES]
        .try_into()
        .expect("eight bytes")
}

fn corrupt(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("run file {}: {what}", path.display()),
    )
}

/// Builds one block.
#[derive(Default)]
struct BlockBuilder {
    bytes: Vec<u8>,
    offsets: Vec<u32>,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    fn add(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.offsets.push(self.bytes.len() as u32);
        self.bytes
            .extend_from_slice(&(key.len() as u16).to_le_bytes());
        let tag = value.map_or(TOMBSTONE, |v| v.len() as u32);
        self.bytes.extend_from_slice(&tag.to_le_bytes());
        self.bytes.extend_from_slice(key);
        if let Some(value) = value {
            self.bytes.extend_from_slice(value);
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
    }

    fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Bytes the block would take with one more entry of these lengths.
    fn size_with(&self, key: usize, value: usize) -> usize {
        self.bytes.len() + 6 + key + value + 4 * (self.offsets.len() + 1) + 4 + CHECKSUM_BYTES
    }

    /// The finished block's bytes, and its last key; the builder is left empty.
    fn finish(&mut self) -> (Vec<u8>, Vec<u8>) {
        let mut bytes = std::mem::take(&mut self.bytes);
        for offset in &self.offsets {
            bytes.extend_from_slice(&offset.to_le_bytes());
        }
        bytes.extend_from_slice(&(self.offsets.len() as u32).to_le_bytes());
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        self.offsets.clear();
        (bytes, std::mem::take(&mut self.last_key))
    }
}

/// Where a block is in its file.
fn locator(offset: u64, len: u32) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..8].copy_from_slice(&offset.to_le_bytes());
    v[8..].copy_from_slice(&len.to_le_bytes());
    v
}

fn read_locator(value: &[u8]) -> Option<(u64, u32)> {
    let value: &[u8; 12] = value.try_into().ok()?;
    Some((
        u64::from_le_bytes(value[..8].try_into().expect("eight bytes")),
        u32::from_le_bytes(value[8..].try_into().expect("four bytes")),
    ))
}

/// Writes a run, entries in strictly increasing key order.
pub struct RunWriter {
    file: BufWriter<File>,
    offset: u64,
    data: BlockBuilder,
    index: BlockBuilder,
    top: BlockBuilder,
    bloom: Bloom,
    entries: u64,
}

impl RunWriter {
    /// A new run at `path`, with room in its filter for `keys_max` keys (more make the
    /// filter pass more absent keys, never fail a present one).
    pub fn create(path: &Path, keys_max: usize) -> io::Result<RunWriter> {
        let file = File::create(path)?;
        Ok(RunWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            offset: 0,
            data: BlockBuilder::default(),
            index: BlockBuilder::default(),
            top: BlockBuilder::default(),
            bloom: Bloom::with_capacity(keys_max),
            entries: 0,
        })
    }

    pub fn add(&mut self, key: &[u8], value: Option<&[u8]>) -> io::Result<()> {
        assert!(key.len() <= KEY_BYTES_MAX, "a key of {} bytes", key.len());
        debug_assert!(
            self.entries == 0 || key > self.data_last_key(),
            "run entries out of order"
        );
        let value_len = value.map_or(0, <[u8]>::len);
        if !self.data.is_empty() && self.data.size_with(key.len(), value_len) > BLOCK_BYTES {
            self.cut_data()?;
        }
        self.data.add(key, value);
        self.bloom.insert(bloom::hash(key));
        self.entries += 1;
        Ok(())
    }

    fn data_last_key(&self) -> &[u8] {
        &self.data.last_key
    }

    fn write_block(&mut self, builder: Which) -> io::Result<(Vec<u8>, [u8; 12])> {
        let (bytes, last) = match builder {
            Which::Data => self.data.finish(),
            Which::Index => self.index.finish(),
            Which::Top => self.top.finish(),
        };
        self.file.write_all(&bytes)?;
        let at = locator(self.offset, bytes.len() as u32);
        self.offset += bytes.len() as u64;
        Ok((last, at))
    }

    fn cut_data(&mut self) -> io::Result<()> {
        let (last, at) = self.write_block(Which::Data)?;
        if !self.index.is_empty() && self.index.size_with(last.len(), at.len()) > BLOCK_BYTES {
            self.cut_index()?;
        }
        self.index.add(&last, Some(&at));
        Ok(())
    }

    fn cut_index(&mut self) -> io::Result<()> {
        let (last, at) = self.write_block(Which::Index)?;
        self.top.add(&last, Some(&at));
        Ok(())
    }

    /// Writes the rest and the footer and puts the file on disk; returns the number of
    /// entries. An empty run is a valid run.
    pub fn finish(mut self) -> io::Result<u64> {
        if !self.data.is_empty() {
            self.cut_data()?;
        }
        if !self.index.is_empty() {
            self.cut_index()?;
        }
        let top_offset = self.offset;
        let (_, top_at) = self.write_block(Which::Top)?;
        let top_len = read_locator(&top_at).expect("a locator").1;
        let bloom_offset = self.offset;
        let bloom = self.bloom.as_bytes().to_vec();
        self.file.write_all(&bloom)?;
        let mut footer = Vec::with_capacity(FOOTER_BYTES);
        footer.extend_from_slice(MAGIC);
        footer.extend_from_slice(&top_offset.to_le_bytes());
        footer.extend_from_slice(&top_len.to_le_bytes());
        footer.extend_from_slice(&bloom_offset.to_le_bytes());
        footer.extend_from_slice(&(bloom.len() as u32).to_le_bytes());
        footer.extend_from_slice(&self.entries.to_le_bytes());
        footer.extend_from_slice(&checksum(&bloom));
        let sum = checksum(&footer);
        footer.extend_from_slice(&sum);
        debug_assert_eq!(footer.len(), FOOTER_BYTES);
        self.file.write_all(&footer)?;
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.entries)
    }
}

enum Which {
    Data,
    Index,
    Top,
}

/// One decoded block: its bytes and where its entries are.
#[derive(Debug)]
pub struct Block {
    bytes: Box<[u8]>,
    count: usize,
    /// Where the offsets table starts.
    offsets_at: usize,
}

impl Block {
    /// Checks and decodes a block's bytes.
    pub fn decode(bytes: Vec<u8>) -> Result<Block, String> {
        if bytes.len() < 4 + CHECKSUM_BYTES {
            return Err("a block too short".into());
        }
        let body = bytes.len() - CHECKSUM_BYTES;
        if checksum(&bytes[..body]) != bytes[body..] {
            return Err("a block's checksum does not match".into());
        }
        let count =
            u32::from_le_bytes(bytes[body - 4..body].try_into().expect("four bytes")) as usize;
        let offsets_at = (body - 4)
            .checked_sub(count * 4)
            .ok_or("a block's entry count is too large")?;
        let block = Block {
            bytes: bytes.into_boxed_slice(),
            count,
            offsets_at,
        };
        // Every entry must lie within the entries area, in order: checked once here so
        // that reading an entry later cannot go out of bounds.
        let mut end = 0;
        for i in 0..count {
            let at = block.offset(i);
            if at != end {
                return Err("a block's entries are not contiguous".into());
            }
            let head = block
                .bytes
                .get(at..at + 6)
                .filter(|_| at + 6 <= offsets_at)
                .ok_or("a block entry out of bounds")?;
            let key_len = u16::from_le_bytes([head[0], head[1]]) as usize;
            let tag = u32::from_le_bytes(head[2..6].try_into().expect("four bytes"));
            let value_len = if tag == TOMBSTONE { 0 } else { tag as usize };
            end = at + 6 + key_len + value_len;
            if end > offsets_at {
                return Err("a block entry out of bounds".into());
            }
        }
        if end != offsets_at {
            return Err("a block's entries do not fill it".into());
        }
        for i in 1..count {
            if block.key(i - 1) >= block.key(i) {
                return Err("a block's keys are out of order".into());
            }
        }
        Ok(block)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Memory the block takes, for the cache's budget.
    pub fn size(&self) -> usize {
        self.bytes.len() + std::mem::size_of::<Block>()
    }

    fn offset(&self, i: usize) -> usize {
        let at = self.offsets_at + 4 * i;
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().expect("four bytes")) as usize
    }

    pub fn key(&self, i: usize) -> &[u8] {
        let at = self.offset(i);
        let key_len = u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]]) as usize;
        &self.bytes[at + 6..at + 6 + key_len]
    }

    /// Entry `i`: its key, and its value or `None` for a tombstone.
    pub fn entry(&self, i: usize) -> (&[u8], Option<&[u8]>) {
        let at = self.offset(i);
        let key_len = u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]]) as usize;
        let tag = u32::from_le_bytes(self.bytes[at + 2..at + 6].try_into().expect("four bytes"));
        let key = &self.bytes[at + 6..at + 6 + key_len];
        let value = (tag != TOMBSTONE).then(|| {
            let start = at + 6 + key_len;
            &self.bytes[start..start + tag as usize]
        });
        (key, value)
    }

    /// The first entry whose key is at least `key` (`len()` when there is none).
    pub fn lower_bound(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.key(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// An open run.
pub struct Run {
    pub id: u64,
    pub level: u8,
    path: PathBuf,
    file: File,
    top: Block,
    bloom: Bloom,
    entries: u64,
    bytes: u64,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("id", &self.id)
            .field("level", &self.level)
            .field("entries", &self.entries)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Run {
    /// Opens and checks the run file at `path`.
    pub fn open(path: &Path, id: u64, level: u8) -> io::Result<Run> {
        let file = File::open(path)?;
        let bytes = file.metadata()?.len();
        if bytes < FOOTER_BYTES as u64 {
            return Err(corrupt(path, "shorter than its footer"));
        }
        let mut footer = [0u8; FOOTER_BYTES];
        file.read_exact_at(&mut footer, bytes - FOOTER_BYTES as u64)?;
        let body = FOOTER_BYTES - CHECKSUM_BYTES;
        if &footer[..8] != MAGIC || checksum(&footer[..body]) != footer[body..] {
            return Err(corrupt(path, "its footer is not a run footer"));
        }
        let u64_at = |at: usize| u64::from_le_bytes(footer[at..at + 8].try_into().expect("8"));
        let u32_at = |at: usize| u32::from_le_bytes(footer[at..at + 4].try_into().expect("4"));
        let (top_offset, top_len) = (u64_at(8), u32_at(16));
        let (bloom_offset, bloom_len) = (u64_at(20), u32_at(28));
        let entries = u64_at(32);
        let bloom_sum = &footer[40..48];
        if top_offset + u64::from(top_len) > bloom_offset
            || bloom_offset + u64::from(bloom_len) != bytes - FOOTER_BYTES as u64
        {
            return Err(corrupt(path, "its footer locates nothing"));
        }
        let mut top = vec![0u8; top_len as usize];
        file.read_exact_at(&mut top, top_offset)?;
        let top = Block::decode(top).map_err(|e| corrupt(path, e))?;
        let mut filter = vec![0u8; bloom_len as usize];
        file.read_exact_at(&mut filter, bloom_offset)?;
        if checksum(&filter) != bloom_sum {
            return Err(corrupt(path, "its filter's checksum does not match"));
        }
        let bloom = Bloom::from_bytes(filter).ok_or_else(|| corrupt(path, "its filter"))?;
        Ok(Run {
            id,
            level,
            path: path.to_path_buf(),
            file,
            top,
            bloom,
            entries,
            bytes,
        })
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The file's size.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Memory held while the run is open: its top block and filter.
    pub fn memory(&self) -> usize {
        self.top.size() + self.bloom.as_bytes().len()
    }

    /// The block at `at` (a locator value), through `cache` when given.
    fn block(&self, at: &[u8], cache: Option<&BlockCache>) -> io::Result<Arc<Block>> {
        let (offset, len) = read_locator(at).ok_or_else(|| corrupt(&self.path, "a locator"))?;
        if offset + u64::from(len) > self.bytes {
            return Err(corrupt(&self.path, "a locator beyond the file"));
        }
        if let Some(block) = cache.and_then(|c| c.get(self.id, offset)) {
            return Ok(block);
        }
        let mut bytes = vec![0u8; len as usize];
        self.file.read_exact_at(&mut bytes, offset)?;
        let block = Arc::new(Block::decode(bytes).map_err(|e| corrupt(&self.path, e))?);
        if let Some(cache) = cache {
            cache.insert(self.id, offset, block.clone());
        }
        Ok(block)
    }

    /// The value of `key` in this run: `None` when the run does not hold the key,
    /// `Some(None)` when it holds its deletion. `hash` is [`bloom::hash`] of the key.
    pub fn get(
        &self,
        key: &[u8],
        hash: u64,
        cache: &BlockCache,
    ) -> io::Result<Option<Option<Vec<u8>>>> {
        if !self.bloom.may_contain(hash) {
            return Ok(None);
        }
        let i = self.top.lower_bound(key);
        if i == self.top.len() {
            return Ok(None);
        }
        let index = self.block(self.top.entry(i).1.unwrap_or_default(), Some(cache))?;
        let j = index.lower_bound(key);
        if j == index.len() {
            return Ok(None);
        }
        let data = self.block(index.entry(j).1.unwrap_or_default(), Some(cache))?;
        let k = data.lower_bound(key);
        if k == data.len() {
            return Ok(None);
        }
        let (found, value) = data.entry(k);
        Ok((found == key).then(|| value.map(<[u8]>::to_vec)))
    }
}

/// A position in a run, moving forward or backward one entry at a time.
pub struct RunCursor {
    run: Arc<Run>,
    cache: Option<Arc<BlockCache>>,
    /// Position in the top block, and the index block there.
    top: usize,
    index: Option<Arc<Block>>,
    /// Position in the index block, and the data block there.
    at_index: usize,
    data: Option<Arc<Block>>,
    /// Position in the data block.
    at_data: usize,
}

impl RunCursor {
    fn new(run: Arc<Run>, cache: Option<Arc<BlockCache>>) -> RunCursor {
        RunCursor {
            run,
            cache,
            top: 0,
            index: None,
            at_index: 0,
            data: None,
            at_data: 0,
        }
    }

    fn load_index(&mut self) -> io::Result<bool> {
        if self.top >= self.run.top.len() {
            self.index = None;
            return Ok(false);
        }
        let at = self.run.top.entry(self.top).1.unwrap_or_default().to_vec();
        self.index = Some(self.run.block(&at, self.cache.as_deref())?);
        Ok(true)
    }

    fn load_data(&mut self) -> io::Result<bool> {
        let Some(index) = &self.index else {
            self.data = None;
            return Ok(false);
        };
        if self.at_index >= index.len() {
            self.data = None;
            return Ok(false);
        }
        let at = index.entry(self.at_index).1.unwrap_or_default().to_vec();
        self.data = Some(self.run.block(&at, self.cache.as_deref())?);
        Ok(true)
    }

    /// A cursor on the first entry at or after `key` (the run's first with `None`).
    pub fn seek(
        run: Arc<Run>,
        cache: Option<Arc<BlockCache>>,
        key: Option<&[u8]>,
    ) -> io::Result<RunCursor> {
        let mut c = RunCursor::new(run, cache);
        c.top = key.map_or(0, |k| c.run.top.lower_bound(k));
        if !c.load_index()? {
            return Ok(c);
        }
        c.at_index = match (key, &c.index) {
            (Some(k), Some(index)) => index.lower_bound(k),
            _ => 0,
        };
        if !c.load_data()? {
            return Ok(c);
        }
        c.at_data = match (key, &c.data) {
            (Some(k), Some(data)) => data.lower_bound(k),
            _ => 0,
        };
        // A key past a block's last entry cannot happen: the index names the block whose
        // last key is at least `key`.
        Ok(c)
    }

    /// A cursor on the last entry before `key` (the run's last with `None`), for moving
    /// backward.
    pub fn seek_back(
        run: Arc<Run>,
        cache: Option<Arc<BlockCache>>,
        key: Option<&[u8]>,
    ) -> io::Result<RunCursor> {
        let mut c = RunCursor::new(run, cache);
        let top_len = c.run.top.len();
        // The first index block whose last key is at least `key` holds the first entry at
        // or after it; the entry before that is then in it or in an earlier block.
        c.top = key.map_or(top_len, |k| c.run.top.lower_bound(k));
        if c.top == top_len {
            if top_len == 0 {
                c.index = None;
                return Ok(c);
            }
            c.top = top_len - 1;
            c.load_index()?;
            let index_len = c.index.as_ref().map_or(0, |b| b.len());
            c.at_index = index_len.saturating_sub(1);
            c.load_data()?;
            c.at_data = c.data.as_ref().map_or(0, |b| b.len());
        } else {
            c.load_index()?;
            let index = c.index.clone().expect("loaded");
            c.at_index = key.map_or(index.len(), |k| index.lower_bound(k));
            if c.at_index == index.len() {
                c.at_index = index.len().saturating_sub(1);
                c.load_data()?;
                c.at_data = c.data.as_ref().map_or(0, |b| b.len());
            } else {
                c.load_data()?;
                let data = c.data.clone().expect("loaded");
                c.at_data = key.map_or(data.len(), |k| data.lower_bound(k));
            }
        }
        // `at_data` is one past the entry to give; `step_back` steps back to it.
        Ok(c)
    }

    /// The entry under the cursor, then moves forward; `None` at the run's end.
    pub fn step_forward(&mut self) -> io::Result<Option<super::Write>> {
        loop {
            let Some(data) = &self.data else {
                return Ok(None);
            };
            if self.at_data < data.len() {
                let (k, v) = data.entry(self.at_data);
                self.at_data += 1;
                return Ok(Some((k.to_vec(), v.map(<[u8]>::to_vec))));
            }
            // Next data block, in this index block or the next.
            self.at_index += 1;
            self.at_data = 0;
            if self.load_data()? {
                continue;
            }
            self.top += 1;
            self.at_index = 0;
            if !self.load_index()? || !self.load_data()? {
                self.data = None;
                return Ok(None);
            }
        }
    }

    /// Moves backward and gives the entry there; `None` before the run's start.
    pub fn step_back(&mut self) -> io::Result<Option<super::Write>> {
        loop {
            let Some(data) = &self.data else {
                return Ok(None);
            };
            if self.at_data > 0 {
                self.at_data -= 1;
                let (k, v) = data.entry(self.at_data);
                return Ok(Some((k.to_vec(), v.map(<[u8]>::to_vec))));
            }
            // The previous data block, in this index block or an earlier one.
            if self.at_index > 0 {
                self.at_index -= 1;
                self.load_data()?;
                self.at_data = self.data.as_ref().map_or(0, |b| b.len());
                continue;
            }
            if self.top == 0 {
                self.data = None;
                return Ok(None);
            }
            self.top -= 1;
            self.load_index()?;
            self.at_index = self.index.as_ref().map_or(0, |b| b.len()).saturating_sub(1);
            self.load_data()?;
            self.at_data = self.data.as_ref().map_or(0, |b| b.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xinbao-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(n: usize) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        (0..n)
            .map(|i| {
                let key = format!("k{:08}", i * 3).into_bytes();
                // Values of varied length, a tombstone every seventh entry, and now and then
                // a value larger than a block.
                let value = (i % 7 != 3).then(|| {
                    vec![(i % 251) as u8; (i * 37) % 300 + if i % 500 == 1 { 9_000 } else { 0 }]
                });
                (key, value)
            })
            .collect()
    }

    fn write(path: &Path, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> Arc<Run> {
        let mut w = RunWriter::create(path, entries.len()).unwrap();
        for (k, v) in entries {
            w.add(k, v.as_deref()).unwrap();
        }
        assert_eq!(w.finish().unwrap(), entries.len() as u64);
        Arc::new(Run::open(path, 7, 0).unwrap())
    }

    #[test]
    fn a_run_gives_back_every_entry_by_key_forward_and_backward() {
        let dir = temp("roundtrip");
        let all = entries(20_000);
        let run = write(&dir.join("a.run"), &all);
        assert!(run.top.len() > 1, "several index blocks are exercised");
        let cache = Arc::new(BlockCache::new(1 << 20));
        for (i, (k, v)) in all.iter().enumerate().step_by(13) {
            assert_eq!(
                run.get(k, bloom::hash(k), &cache).unwrap(),
                Some(v.clone()),
                "{i}"
            );
            // A key between two entries is not there.
            let mut absent = k.clone();
            absent.push(b'!');
            assert_eq!(
                run.get(&absent, bloom::hash(&absent), &cache).unwrap(),
                None
            );
        }
        // Forward from every kind of starting point: before all, exact, between, after all.
        for start in [
            None,
            Some(b"k".to_vec()),
            Some(all[4_321].0.clone()),
            Some(b"k00012963x".to_vec()),
            Some(b"z".to_vec()),
        ] {
            let mut c =
                RunCursor::seek(run.clone(), Some(cache.clone()), start.as_deref()).unwrap();
            let expected: Vec<_> = all
                .iter()
                .filter(|(k, _)| start.as_ref().is_none_or(|s| k >= s))
                .cloned()
                .collect();
            let mut got = Vec::new();
            while let Some(e) = c.step_forward().unwrap() {
                got.push(e);
            }
            assert_eq!(got, expected, "from {start:?}");
        }
        for end in [
            None,
            Some(b"k".to_vec()),
            Some(all[4_321].0.clone()),
            Some(b"k00012963x".to_vec()),
            Some(b"z".to_vec()),
        ] {
            let mut c = RunCursor::seek_back(run.clone(), None, end.as_deref()).unwrap();
            let mut expected: Vec<_> = all
                .iter()
                .filter(|(k, _)| end.as_ref().is_none_or(|e| k < e))
                .cloned()
                .collect();
            expected.reverse();
            let mut got = Vec::new();
            while let Some(e) = c.step_back().unwrap() {
                got.push(e);
            }
            assert_eq!(got, expected, "back from {end:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_run_is_valid_and_holds_nothing() {
        let dir = temp("empty");
        let run = write(&dir.join("e.run"), &[]);
        let cache = BlockCache::new(1 << 16);
        assert_eq!(run.get(b"a", bloom::hash(b"a"), &cache).unwrap(), None);
        assert!(RunCursor::seek(run.clone(), None, None)
            .unwrap()
            .step_forward()
            .unwrap()
            .is_none());
        assert!(RunCursor::seek_back(run, None, None)
            .unwrap()
            .step_back()
            .unwrap()
            .is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_run_file_is_refused_not_read() {
        let dir = temp("damaged");
        let all = entries(2_000);
        let path = dir.join("d.run");
        write(&path, &all);
        let good = std::fs::read(&path).unwrap();
        // A flipped byte in a data block is caught by that block's checksum when read.
        let mut bytes = good.clone();
        bytes[100] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let run = Run::open(&path, 1, 0).unwrap();
        let cache = BlockCache::new(1 << 16);
        let err = run
            .get(&all[1].0, bloom::hash(&all[1].0), &cache)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // A flipped byte in the footer, or a file cut short, is refused at open.
        let mut bytes = good.clone();
        let n = bytes.len();
        bytes[n - 20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            Run::open(&path, 1, 0).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert_eq!(
            Run::open(&path, 1, 0).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
