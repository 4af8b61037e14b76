//! An append-only log of records in segment files: where a node keeps what it writes once
//! per height and in bulk (blocks, receipts, the state store's batches), which sled kept
//! as multi-megabyte values that it copied on every write and again whenever its cleaner
//! moved the page holding them.
//!
//! A record is a header (payload length, the height it belongs to, a checksum of both and
//! the payload) and its payload. Records are appended to the newest segment, which is
//! closed once it passes its size and a new one named after the first height it holds is
//! begun; [`SegmentLog::sync`] puts them on disk. A record is read back by its
//! [`Location`], which the caller keeps (in sled, in the same atomic write that makes the
//! height committed), or in order from a height on ([`SegmentLog::records_from`]).
//!
//! The log does not know which records are committed: after a crash the caller cuts it
//! back to the end of the last record it committed ([`SegmentLog::truncate`]), dropping
//! whatever a crash left after it, whole or torn.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const HEADER_BYTES: usize = 4 + 8 + 8;
/// Longest payload of one record.
pub const RECORD_BYTES_MAX: usize = 1 << 30;

/// Where a record's payload is: the segment (named by its first height), the offset of
/// the payload in it, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

/// Where the log ends: the newest segment and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct End {
    pub segment: u64,
    pub len: u64,
}

impl Location {
    pub fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.segment.to_be_bytes());
        b[8..16].copy_from_slice(&self.offset.to_be_bytes());
        b[16..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Location> {
        let bytes: &[u8; 20] = bytes.try_into().ok()?;
        Some(Location {
            segment: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            offset: u64::from_be_bytes(bytes[8..16].try_into().ok()?),
            len: u32::from_be_bytes(bytes[16..].try_into().ok()?),
        })
    }
}

impl End {
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.segment.to_be_bytes());
        b[8..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<End> {
        let bytes: &[u8; 16] = bytes.try_into().ok()?;
        Some(End {
            segment: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            len: u64::from_be_bytes(bytes[8..].try_into().ok()?),
        })
    }
}

fn checksum(height: u64, payload: &[u8]) -> [u8; 8] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&height.to_le_bytes());
    hasher.update(payload);
    hasher.finalize().as_bytes()[..8]
        .try_into()
        .expect("eight bytes")
}

fn header(height: u64, payload: &[u8]) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[4..12].copy_from_slice(&height.to_le_bytes());
    h[12..].copy_from_slice(&checksum(height, payload));
    h
}

fn corrupt(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn segment_name(first: u64) -> String {
    format!("{first:020}.seg")
}

struct Active {
    segment: u64,
    file: Arc<File>,
    len: u64,
}

pub struct SegmentLog {
    dir: PathBuf,
    segment_bytes: u64,
    active: Mutex<Option<Active>>,
    /// Open segments for reading, by name.
    open: Mutex<BTreeMap<u64, Arc<File>>>,
}

impl SegmentLog {
    /// Opens (or creates) the log in `dir`; a segment is closed once it passes
    /// `segment_bytes`.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<SegmentLog> {
        fs::create_dir_all(dir)?;
        let log = SegmentLog {
            dir: dir.to_path_buf(),
            segment_bytes,
            active: Mutex::new(None),
            open: Mutex::new(BTreeMap::new()),
        };
        if let Some(&last) = log.segments()?.last() {
            let file = Arc::new(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(log.path(last))?,
            );
            let len = file.metadata()?.len();
            *log.active.lock().expect("not poisoned") = Some(Active {
                segment: last,
                file,
                len,
            });
        }
        Ok(log)
    }

    fn path(&self, segment: u64) -> PathBuf {
        self.dir.join(segment_name(segment))
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> io::Result<Vec<u64>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(first) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
                found.push(first);
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Where the log ends now.
    pub fn end(&self) -> Option<End> {
        self.active
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map(|a| End {
                segment: a.segment,
                len: a.len,
            })
    }

    /// Appends one record per payload, all of `height` (not yet on disk: see
    /// [`SegmentLog::sync`]); returns where each payload is.
    pub fn append(&self, height: u64, payloads: &[&[u8]]) -> io::Result<Vec<Location>> {
        let mut active = self.active.lock().expect("not poisoned");
        if active.as_ref().is_none_or(|a| a.len >= self.segment_bytes) {
            // Named after the first height it holds, and always after the segment before
            // (a height appended twice, in tests, must not reuse a name).
            let name = match active.as_ref() {
                Some(old) => {
                    old.file.sync_data()?;
                    height.max(old.segment + 1)
                }
                None => height,
            };
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(self.path(name))?;
            File::open(&self.dir)?.sync_all()?;
            *active = Some(Active {
                segment: name,
                file: Arc::new(file),
                len: 0,
            });
        }
        let active = active.as_mut().expect("a segment is open");
        let headers: Vec<[u8; HEADER_BYTES]> = payloads
            .iter()
            .map(|p| {
                assert!(p.len() <= RECORD_BYTES_MAX, "a record of {} bytes", p.len());
                header(height, p)
            })
            .collect();
        let mut locations = Vec::with_capacity(payloads.len());
        let mut at = active.len;
        for (h, p) in headers.iter().zip(payloads) {
            // Positioned writes: readers share the file and never move its cursor.
            active.file.write_all_at(h, at)?;
            active.file.write_all_at(p, at + HEADER_BYTES as u64)?;
            locations.push(Location {
                segment: active.segment,
                offset: at + HEADER_BYTES as u64,
                len: p.len() as u32,
            });
            at += (HEADER_BYTES + p.len()) as u64;
        }
        active.len = at;
        Ok(locations)
    }

    /// Puts everything appended on disk.
    pub fn sync(&self) -> io::Result<()> {
        let file = self
            .active
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map(|a| a.file.clone());
        match file {
            Some(file) => file.sync_data(),
            None => Ok(()),
        }
    }

    fn reader(&self, segment: u64) -> io::Result<Arc<File>> {
        if let Some(active) = self.active.lock().expect("not poisoned").as_ref() {
            if active.segment == segment {
                return Ok(active.file.clone());
            }
        }
        let mut open = self.open.lock().expect("not poisoned");
        if let Some(file) = open.get(&segment) {
            return Ok(file.clone());
        }
        let file = Arc::new(File::open(self.path(segment))?);
        open.insert(segment, file.clone());
        Ok(file)
    }

    /// The payload at `location`, checked against its record's checksum.
    pub fn read(&self, location: Location) -> io::Result<Vec<u8>> {
        let file = self.reader(location.segment)?;
        let start = location
            .offset
            .checked_sub(HEADER_BYTES as u64)
            .ok_or_else(|| corrupt(format!("a record location {location:?}")))?;
        let mut bytes = vec![0u8; HEADER_BYTES + location.len as usize];
        file.read_exact_at(&mut bytes, start)?;
        let (head, payload) = bytes.split_at(HEADER_BYTES);
        let len = u32::from_le_bytes(head[..4].try_into().expect("four bytes"));
        let height = u64::from_le_bytes(head[4..12].try_into().expect("eight bytes"));
        if len != location.len || head[12..] != checksum(height, payload) {
            return Err(corrupt(format!(
                "segment {} at {}: the record does not match its checksum",
                segment_name(location.segment),
                location.offset
            )));
        }
        bytes.drain(..HEADER_BYTES);
        Ok(bytes)
    }

    /// Cuts the log back to `end` (`None`: empty), removing later segments and bytes.
    pub fn truncate(&self, end: Option<End>) -> io::Result<()> {
        let mut active = self.active.lock().expect("not poisoned");
        for segment in self.segments()? {
            if end.is_none_or(|e| segment > e.segment) {
                self.open.lock().expect("not poisoned").remove(&segment);
                fs::remove_file(self.path(segment))?;
            }
        }
        *active = match end {
            None => None,
            Some(end) => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(self.path(end.segment))?;
                let len = file.metadata()?.len();
                if len < end.len {
                    return Err(corrupt(format!(
                        "segment {} holds {len} bytes, {} were committed",
                        segment_name(end.segment),
                        end.len
                    )));
                }
                file.set_len(end.len)?;
                file.sync_all()?;
                Some(Active {
                    segment: end.segment,
                    file: Arc::new(file),
                    len: end.len,
                })
            }
        };
        File::open(&self.dir)?.sync_all()
    }

    /// Removes the segments that hold only heights below `height`.
    pub fn remove_below(&self, height: u64) -> io::Result<()> {
        let segments = self.segments()?;
        let active = self
            .active
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map(|a| a.segment);
        for pair in segments.windows(2) {
            let (segment, next) = (pair[0], pair[1]);
            if next <= height && Some(segment) != active {
                self.open.lock().expect("not poisoned").remove(&segment);
                fs::remove_file(self.path(segment))?;
            }
        }
        Ok(())
    }

    /// The records from the first of `height` on, in order, up to `end`: (height,
    /// payload).
    pub fn records_from(&self, height: u64, end: End) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let segments = self.segments()?;
        // The segment holding `height` is the last one named at or before it.
        let first = segments
            .iter()
            .rev()
            .find(|s| **s <= height)
            .or(segments.first())
            .copied();
        let mut records = Vec::new();
        for segment in segments
            .into_iter()
            .filter(|s| first.is_some_and(|f| *s >= f))
        {
            if segment > end.segment {
                break;
            }
            let file = self.reader(segment)?;
            let len = if segment == end.segment {
                end.len
            } else {
                file.metadata()?.len()
            };
            let mut at = 0u64;
            while at < len {
                let mut head = [0u8; HEADER_BYTES];
                file.read_exact_at(&mut head, at)?;
                let size = u32::from_le_bytes(head[..4].try_into().expect("four bytes")) as u64;
                let record_height =
                    u64::from_le_bytes(head[4..12].try_into().expect("eight bytes"));
                if at + HEADER_BYTES as u64 + size > len {
                    return Err(corrupt(format!(
                        "segment {}: a record at {at} runs past its end",
                        segment_name(segment)
                    )));
                }
                if record_height >= height {
                    let payload = self.read(Location {
                        segment,
                        offset: at + HEADER_BYTES as u64,
                        len: size as u32,
                    })?;
                    records.push((record_height, payload));
                }
                at += HEADER_BYTES as u64 + size;
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xinbao-segments-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn records_read_back_by_location_and_in_order_across_segments() {
        let dir = temp("order");
        let log = SegmentLog::open(&dir, 1_000).unwrap();
        let mut written = Vec::new();
        for height in 1..=40u64 {
            let a = vec![height as u8; (height as usize * 37) % 500];
            let b = format!("receipts of {height}").into_bytes();
            let locations = log.append(height, &[&a, &b]).unwrap();
            log.sync().unwrap();
            written.push((height, a, b, locations));
        }
        assert!(log.segments().unwrap().len() > 3, "segments rotate");
        for (_, a, b, locations) in &written {
            assert_eq!(&log.read(locations[0]).unwrap(), a);
            assert_eq!(&log.read(locations[1]).unwrap(), b);
            assert_eq!(
                Location::from_bytes(&locations[0].to_bytes()),
                Some(locations[0])
            );
        }
        let end = log.end().unwrap();
        assert_eq!(End::from_bytes(&end.to_bytes()), Some(end));
        let from: Vec<(u64, Vec<u8>)> = log.records_from(17, end).unwrap();
        let expected: Vec<(u64, Vec<u8>)> = written
            .iter()
            .filter(|w| w.0 >= 17)
            .flat_map(|(h, a, b, _)| [(*h, a.clone()), (*h, b.clone())])
            .collect();
        assert_eq!(from, expected);
        // Reopened: the same records, appends continue after them.
        drop(log);
        let log = SegmentLog::open(&dir, 1_000).unwrap();
        assert_eq!(log.end(), Some(end));
        assert_eq!(log.read(written[3].3[1]).unwrap(), written[3].2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_log_cut_back_to_its_committed_end_forgets_what_came_after() {
        let dir = temp("truncate");
        let log = SegmentLog::open(&dir, 300).unwrap();
        let mut ends = Vec::new();
        for height in 1..=12u64 {
            log.append(height, &[&[height as u8; 100]]).unwrap();
            log.sync().unwrap();
            ends.push(log.end().unwrap());
        }
        // A crash after height 7 was committed, with 8.. written (the last torn).
        let committed = ends[6];
        {
            let last = log.end().unwrap();
            let file = OpenOptions::new()
                .write(true)
                .open(dir.join(segment_name(last.segment)))
                .unwrap();
            file.set_len(last.len - 10).unwrap();
        }
        drop(log);
        let log = SegmentLog::open(&dir, 300).unwrap();
        log.truncate(Some(committed)).unwrap();
        assert_eq!(log.end(), Some(committed));
        let heights: Vec<u64> = log
            .records_from(1, committed)
            .unwrap()
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(heights, (1..=7).collect::<Vec<_>>());
        // Appending goes on from there.
        let at = log.append(8, &[b"again"]).unwrap();
        assert_eq!(log.read(at[0]).unwrap(), b"again");
        // Segments wholly below a height go.
        log.remove_below(6).unwrap();
        let heights: Vec<u64> = log
            .records_from(0, log.end().unwrap())
            .unwrap()
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert!(heights[0] <= 6 && heights[0] > 1, "{heights:?}");
        assert_eq!(*heights.last().unwrap(), 8);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_record_is_refused() {
        let dir = temp("damaged");
        let log = SegmentLog::open(&dir, 1 << 20).unwrap();
        let at = log.append(1, &[b"a block's bytes"]).unwrap()[0];
        log.sync().unwrap();
        let file = OpenOptions::new()
            .write(true)
            .open(dir.join(segment_name(1)))
            .unwrap();
        file.write_all_at(b"A", at.offset).unwrap();
        assert_eq!(log.read(at).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let _ = fs::remove_dir_all(&dir);
    }
}
