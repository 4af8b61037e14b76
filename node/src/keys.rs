//! The node's secret keys: a key file that only its owner may read, or a key in a
//! cryptographic module named by a `pkcs11:` URI, whose secret never enters the process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::crypto::{SecretKey, Signer};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{}: mode {mode:o} lets others read the secret; use chmod 600", path.display())]
    Readable { path: PathBuf, mode: u32 },
    #[error("reading {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] ledger::crypto::KeyError),
    #[error("the consensus key's module: {0}")]
    Module(#[from] ledger::pkcs11::Pkcs11Error),
}

/// The node's consensus key: a key in a cryptographic module when `path` is a `pkcs11:`
/// URI (it signs every vote there), else a key file; the file's key is also returned, as
/// the p2p identity of a node without a transport key.
pub fn read_consensus_key(
    path: &Path,
) -> Result<(Arc<dyn Signer>, Option<SecretKey>), KeyFileError> {
    if let Some(uri) = ledger::pkcs11::uri_of(path) {
        let key = ledger::pkcs11::open(uri)?;
        return Ok((Arc::new(key), None));
    }
    let key = read_secret_key(path)?;
    Ok((Arc::new(key.clone()), Some(key)))
}

/// Reads a secret key file, refusing one that others can read or write.
pub fn read_secret_key(path: &Path) -> Result<SecretKey, KeyFileError> {
    check_secret_mode(path)?;
    Ok(SecretKey::read_file(path)?)
}

/// Refuses a secret file that others can read or write.
pub fn check_secret_mode(path: &Path) -> Result<(), KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| KeyFileError::Unreadable {
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Readable {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
    }
    Ok(())
}
