//! Reading and writing the small files the CLI deals in, with bounded sizes and atomic
//! replacement, so a crash mid-write never leaves half a transaction file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Reads at most `max` bytes of `path`; a longer file is an error, not a truncation.
pub fn read_bounded(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{}: larger than {} bytes", path.display(), max);
    }
    Ok(bytes)
}

/// Replaces `path` with `bytes`: written to a temporary file beside it, flushed, then
/// renamed over it (atomic on one file system). The temporary file keeps `path`'s
/// permissions.
pub fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?
        .to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    let temporary: PathBuf = path.with_file_name(name);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        if let Ok(metadata) = std::fs::metadata(path) {
            file.set_permissions(metadata.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        anyhow::anyhow!("{}: {e}", path.display())
    })
}
