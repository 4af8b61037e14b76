//! The manifest: which run files make up the tree, in age order, and up to which height
//! the runs hold every batch. It is replaced whole and atomically (written beside, put on
//! disk, renamed over the old one, the directory put on disk), so a crash leaves either
//! the old manifest or the new one, each naming only complete runs.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

const NAME: &str = "MANIFEST";
const TEMP: &str = "MANIFEST.tmp";
const MAGIC: &[u8; 8] = b"XBMANIF1";

#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Manifest {
    /// The last height whose batch is in the runs; `None` before the first flush.
    pub flushed_height: Option<u64>,
    /// The id the next run file takes.
    pub next_id: u64,
    /// The runs, newest first: (id, level).
    pub runs: Vec<(u64, u8)>,
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the LSM manifest {what}"),
    )
}

/// The file name of run `id`.
pub fn run_file(id: u64) -> String {
    format!("{id:010}.run")
}

impl Manifest {
    /// The manifest in `dir`, or an empty one when there is none yet.
    pub fn load(dir: &Path) -> io::Result<Manifest> {
        let bytes = match fs::read(dir.join(NAME)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(e) => return Err(e),
        };
        if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("is not a manifest"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if blake3::hash(body).as_bytes()[..8] != *sum {
            return Err(corrupt("does not match its checksum"));
        }
        let config = bincode::config::standard()
            .with_little_endian()
            .with_fixed_int_encoding()
            .with_limit::<{ 1 << 20 }>();
        let (manifest, read): (Manifest, usize) =
            bincode::decode_from_slice(&body[MAGIC.len()..], config)
                .map_err(|e| corrupt(&format!("does not decode: {e}")))?;
        if read != body.len() - MAGIC.len() {
            return Err(corrupt("has bytes after its end"));
        }
        Ok(manifest)
    }

    /// Replaces the manifest in `dir` with this one, durably.
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        let config = bincode::config::standard()
            .with_little_endian()
            .with_fixed_int_encoding();
        let mut bytes = MAGIC.to_vec();
        bytes.extend(bincode::encode_to_vec(self, config).map_err(io::Error::other)?);
        let sum = blake3::hash(&bytes).as_bytes()[..8].to_vec();
        bytes.extend(sum);
        let temp = dir.join(TEMP);
        let mut file = File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temp, dir.join(NAME))?;
        File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_and_a_damaged_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("xinbao-manifest-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(Manifest::load(&dir).unwrap(), Manifest::default());
        let m = Manifest {
            flushed_height: Some(42),
            next_id: 9,
            runs: vec![(8, 0), (5, 1), (2, 2)],
        };
        m.store(&dir).unwrap();
        assert_eq!(Manifest::load(&dir).unwrap(), m);
        let mut bytes = fs::read(dir.join(NAME)).unwrap();
        bytes[12] ^= 1;
        fs::write(dir.join(NAME), &bytes).unwrap();
        assert_eq!(
            Manifest::load(&dir).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
