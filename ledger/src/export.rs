//! The chain file: a committed history in one stream that an auditor checks with nothing
//! but the genesis file.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! "XINBAOCHAIN2"                  12 bytes of magic, the format's name and version
//! u32 length ‖ ChainHeader        canonical encoding: chain id, crypto suite, genesis hash,
//!                                 first height
//! u32 length ‖ ChainEntry         canonical encoding: {block, certificate, receipts}
//! u32 length ‖ ChainEntry         … one per height, in height order, to the end of the file
//! ```
//!
//! Every record is length-prefixed and bounded ([`HEADER_BYTES_MAX`], [`ENTRY_BYTES_MAX`]),
//! so a reader never allocates more than one entry's worth for bytes it has not checked,
//! and a file can be read as a stream and extended by appending entries: an export resumes
//! at the height after the last whole entry ([`ChainReader::position`] tells where that
//! entry ends, so a torn tail can be cut off first). An entry's bytes are exactly what a
//! node serves for one height (`GET /v1/chain/{height}`), so a file is the magic, the
//! header and the node's answers laid end to end.
//!
//! The reader checks the encoding only. Whether the blocks link, are certified and
//! re-execute to their roots is the audit's business (`contracts::audit`). It returns an
//! error for any input (truncation, garbage, oversized lengths); it never panics.

use std::io::{self, Read, Write};

use bincode::{Decode, Encode};

use crate::block::{Block, CommitCertificate, Receipt};
use crate::codec::{self, CodecError, BLOCK_BYTES_MAX};
use crate::state::Hash32;
use crate::Id;

/// The first bytes of every chain file: the format's name and version.
pub const MAGIC: &[u8; 12] = b"XINBAOCHAIN2";
/// The file header record is at most this long.
pub const HEADER_BYTES_MAX: usize = 1024;
/// One entry (block, certificate and receipts together) is at most this long: the
/// codec's limit on any one decoded value, so a node must keep a block with its
/// certificate and receipts within it.
pub const ENTRY_BYTES_MAX: usize = BLOCK_BYTES_MAX;

/// What the file is a history of, and where it starts.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ChainHeader {
    pub chain_id: Id,
    /// The chain's crypto suite: the hash of every id and root in the file.
    pub crypto_suite: crate::crypto::Suite,
    /// The hash of the genesis the chain started from ([`crate::genesis::Genesis::hash`]).
    pub genesis_hash: Hash32,
    /// The height of the first entry; 1 for a whole history.
    pub first_height: u64,
}

/// One committed height: the block, the certificate that decided it and the receipts of
/// its transactions in block order.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ChainEntry {
    pub block: Block,
    pub certificate: CommitCertificate,
    pub receipts: Vec<Receipt>,
}

impl ChainEntry {
    pub fn height(&self) -> u64 {
        self.block.header.height
    }

    /// The canonical bytes: what a node serves for the height and what the file holds
    /// after the length prefix.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes untrusted bytes (at most [`ENTRY_BYTES_MAX`]); nothing is checked beyond
    /// the encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<ChainEntry, CodecError> {
        codec::decode(bytes, ENTRY_BYTES_MAX)
    }
}

/// Why a chain file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading or writing the chain file: {0}")]
    Io(#[from] io::Error),
    #[error(
        "not a xinbao chain file (the first bytes are not {:?})",
        String::from_utf8_lossy(MAGIC)
    )]
    BadMagic,
    #[error("truncated: the file ends inside {what} at byte {offset}")]
    Truncated { what: String, offset: u64 },
    #[error("{what} at byte {offset} claims {len} bytes, over the limit of {limit}")]
    TooLarge {
        what: String,
        offset: u64,
        len: u64,
        limit: usize,
    },
    #[error("{what} at byte {offset} does not decode: {source}")]
    Malformed {
        what: String,
        offset: u64,
        source: CodecError,
    },
    #[error("entry for height {found} cannot follow height {last}: a file holds one entry per height, in order")]
    OutOfOrder { last: u64, found: u64 },
}

/// Reads a chain file as a stream: [`ChainReader::open`] reads the magic and the header,
/// then the reader yields one entry at a time.
pub struct ChainReader<R: Read> {
    source: R,
    header: ChainHeader,
    /// Bytes consumed so far: the end of the last whole record.
    position: u64,
    entries: u64,
    failed: bool,
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` when the stream ended before the first
/// byte (a clean end between records), an error when it ended part-way.
fn read_record_part<R: Read>(
    source: &mut R,
    buf: &mut [u8],
    what: &str,
    offset: u64,
) -> Result<bool, ExportError> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => {
                return Err(ExportError::Truncated {
                    what: what.to_string(),
                    offset: offset + filled as u64,
                })
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ExportError::Io(e)),
        }
    }
    Ok(true)
}

/// One length-prefixed record at `offset`: `None` at a clean end of the stream.
fn read_record<R: Read>(
    source: &mut R,
    what: &str,
    offset: u64,
    limit: usize,
) -> Result<Option<Vec<u8>>, ExportError> {
    let mut len_bytes = [0u8; 4];
    if !read_record_part(source, &mut len_bytes, what, offset)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes(len_bytes);
    if len as u64 > limit as u64 {
        return Err(ExportError::TooLarge {
            what: what.to_string(),
            offset,
            len: u64::from(len),
            limit,
        });
    }
    let mut bytes = vec![0u8; len as usize];
    if !read_record_part(source, &mut bytes, what, offset + 4)? && len > 0 {
        return Err(ExportError::Truncated {
            what: what.to_string(),
            offset: offset + 4,
        });
    }
    Ok(Some(bytes))
}

impl<R: Read> ChainReader<R> {
    /// Reads the magic and the header.
    pub fn open(mut source: R) -> Result<ChainReader<R>, ExportError> {
        let mut magic = [0u8; 12];
        match read_record_part(&mut source, &mut magic, "the magic", 0) {
            Ok(true) if &magic == MAGIC => {}
            Ok(_) | Err(ExportError::Truncated { .. }) => return Err(ExportError::BadMagic),
            Err(e) => return Err(e),
        }
        let offset = MAGIC.len() as u64;
        let what = "the file header";
        let bytes = read_record(&mut source, what, offset, HEADER_BYTES_MAX)?.ok_or_else(|| {
            ExportError::Truncated {
                what: what.to_string(),
                offset,
            }
        })?;
        let header: ChainHeader =
            codec::decode(&bytes, HEADER_BYTES_MAX).map_err(|source| ExportError::Malformed {
                what: what.to_string(),
                offset,
                source,
            })?;
        Ok(ChainReader {
            source,
            header,
            position: offset + 4 + bytes.len() as u64,
            entries: 0,
            failed: false,
        })
    }

    pub fn header(&self) -> &ChainHeader {
        &self.header
    }

    /// Bytes read so far, which is where the last whole record ends: the place to append
    /// from after a torn write.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Whole entries read so far.
    pub fn entries_read(&self) -> u64 {
        self.entries
    }

    /// The next entry, `Ok(None)` at a clean end of the file.
    pub fn next_entry(&mut self) -> Result<Option<ChainEntry>, ExportError> {
        let offset = self.position;
        let what = format!("entry {}", self.entries + 1);
        let Some(bytes) = read_record(&mut self.source, &what, offset, ENTRY_BYTES_MAX)? else {
            return Ok(None);
        };
        let entry = ChainEntry::from_bytes(&bytes).map_err(|source| ExportError::Malformed {
            what,
            offset,
            source,
        })?;
        self.position = offset + 4 + bytes.len() as u64;
        self.entries += 1;
        Ok(Some(entry))
    }
}

/// Entries in order; after the first error it yields nothing more.
impl<R: Read> Iterator for ChainReader<R> {
    type Item = Result<ChainEntry, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Writes a chain file: [`ChainWriter::create`] writes the magic and header to a new
/// stream; [`ChainWriter::append_to`] continues an existing one after its last entry.
pub struct ChainWriter<W: Write> {
    sink: W,
    /// The height of the last entry written, or the one before `first_height`.
    last_height: u64,
}

fn write_record<W: Write>(sink: &mut W, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record over 4 GiB"))?;
    sink.write_all(&len.to_le_bytes())?;
    sink.write_all(bytes)
}

impl<W: Write> ChainWriter<W> {
    /// Starts a new file: writes the magic and the header.
    pub fn create(mut sink: W, header: &ChainHeader) -> Result<ChainWriter<W>, ExportError> {
        sink.write_all(MAGIC)?;
        write_record(&mut sink, &codec::encode(header))?;
        Ok(ChainWriter {
            sink,
            last_height: header.first_height.saturating_sub(1),
        })
    }

    /// Continues a file whose last whole entry is at `last_height` (the height before
    /// its `first_height` when it has none); `sink` must be positioned at that entry's end.
    pub fn append_to(sink: W, last_height: u64) -> ChainWriter<W> {
        ChainWriter { sink, last_height }
    }

    /// The height the next entry must have.
    pub fn next_height(&self) -> u64 {
        self.last_height + 1
    }

    /// Appends one entry; it must be for the next height.
    pub fn append(&mut self, entry: &ChainEntry) -> Result<(), ExportError> {
        self.append_bytes(entry.height(), &entry.to_bytes())
    }

    /// Appends an entry's canonical bytes as received (after checking they decode to an
    /// entry of height `height`), so what a node served is stored byte for byte.
    pub fn append_bytes(&mut self, height: u64, bytes: &[u8]) -> Result<(), ExportError> {
        if height != self.next_height() {
            return Err(ExportError::OutOfOrder {
                last: self.last_height,
                found: height,
            });
        }
        if bytes.len() > ENTRY_BYTES_MAX {
            return Err(ExportError::TooLarge {
                what: format!("entry for height {height}"),
                offset: 0,
                len: bytes.len() as u64,
                limit: ENTRY_BYTES_MAX,
            });
        }
        write_record(&mut self.sink, bytes)?;
        self.last_height = height;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), ExportError> {
        self.sink.flush()?;
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.sink
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockHeader, BlockId, Outcome};
    use crate::crypto::PublicKey;
    use crate::tx::TxId;

    fn entry(height: u64) -> ChainEntry {
        let header = BlockHeader {
            chain_id: Id::new("xinbao-test").unwrap(),
            height,
            protocol_version: 1,
            time_ms: 1_000 + height,
            previous: BlockId([height as u8; 32]),
            tx_root: [1; 32],
            receipts_root: [2; 32],
            state_root: [3; 32],
            validator_set_hash: [4; 32],
            proposer: PublicKey::Ed25519([5; 32]),
        };
        ChainEntry {
            certificate: CommitCertificate {
                height,
                round: 0,
                block_id: header.id(crate::crypto::Suite::Ed25519Blake3),
                signatures: vec![],
            },
            block: Block {
                header,
                txs: vec![],
            },
            receipts: vec![Receipt {
                tx_id: TxId([9; 32]),
                outcome: Outcome::Accepted,
            }],
        }
    }

    fn file(entries: u64) -> Vec<u8> {
        let header = ChainHeader {
            crypto_suite: crate::crypto::Suite::Ed25519Blake3,
            chain_id: Id::new("xinbao-test").unwrap(),
            genesis_hash: [7; 32],
            first_height: 1,
        };
        let mut writer = ChainWriter::create(Vec::new(), &header).unwrap();
        for h in 1..=entries {
            writer.append(&entry(h)).unwrap();
        }
        writer.into_inner()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<ChainEntry>, ExportError> {
        ChainReader::open(bytes)?.collect()
    }

    #[test]
    fn round_trip_and_append() {
        let bytes = file(3);
        let mut reader = ChainReader::open(&bytes[..]).unwrap();
        assert_eq!(reader.header().first_height, 1);
        let entries: Vec<ChainEntry> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(entries, vec![entry(1), entry(2), entry(3)]);
        assert_eq!(reader.position(), bytes.len() as u64);

        // Appending to the file continues it.
        let mut writer = ChainWriter::append_to(bytes.clone(), 3);
        writer.append(&entry(4)).unwrap();
        assert!(matches!(
            writer.append(&entry(6)),
            Err(ExportError::OutOfOrder { last: 4, found: 6 })
        ));
        let longer = writer.into_inner();
        assert_eq!(longer, file(4));
    }

    #[test]
    fn the_file_header_bytes_are_fixed() {
        // Changing these bytes changes the file format: a new magic is needed.
        let mut expected = b"XINBAOCHAIN2".to_vec();
        expected.extend_from_slice(&63u32.to_le_bytes());
        expected.extend_from_slice(&11u64.to_le_bytes());
        expected.extend_from_slice(b"xinbao-test");
        // The crypto suite: 0, ed25519-blake3, as a little-endian u32.
        expected.extend_from_slice(&0u32.to_le_bytes());
        expected.extend_from_slice(&[7; 32]);
        expected.extend_from_slice(&1u64.to_le_bytes());
        assert_eq!(file(0), expected);
        // An entry is its length and exactly the bytes a node serves for its height.
        let one = file(1);
        let entry = entry(1).to_bytes();
        assert_eq!(
            &one[expected.len()..expected.len() + 4],
            &(entry.len() as u32).to_le_bytes()
        );
        assert_eq!(&one[expected.len() + 4..], &entry[..]);
    }

    #[test]
    fn every_truncation_is_an_error_or_a_clean_shorter_file() {
        let bytes = file(2);
        let whole_ends: Vec<usize> = {
            let mut reader = ChainReader::open(&bytes[..]).unwrap();
            let mut ends = vec![reader.position() as usize];
            while reader.next_entry().unwrap().is_some() {
                ends.push(reader.position() as usize);
            }
            ends
        };
        for cut in 0..bytes.len() {
            let result = read_all(&bytes[..cut]);
            if let Some(n) = whole_ends.iter().position(|&end| end == cut) {
                assert_eq!(result.unwrap().len(), n, "cut at {cut}");
            } else {
                assert!(result.is_err(), "cut at {cut} read as a whole file");
            }
        }
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        assert!(matches!(
            read_all(b"not a chain"),
            Err(ExportError::BadMagic)
        ));
        assert!(matches!(read_all(b""), Err(ExportError::BadMagic)));
        let mut huge = file(0);
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read_all(&huge), Err(ExportError::TooLarge { .. })));
        let mut junk = file(0);
        junk.extend_from_slice(&8u32.to_le_bytes());
        junk.extend_from_slice(&[0xff; 8]);
        assert!(matches!(
            read_all(&junk),
            Err(ExportError::Malformed { .. })
        ));
        // Every single-byte change either still decodes or is an error: never a panic.
        let bytes = file(2);
        for i in 0..bytes.len() {
            let mut bent = bytes.clone();
            bent[i] ^= 0x5a;
            let _ = read_all(&bent);
        }
    }
}
