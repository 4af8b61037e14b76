//! `xinbao keys`: ed25519 and SM2 key files.
//!
//! A key pair is two files beside each other: `NAME.secret` (`ALGORITHM:` and the hex of
//! the 32-byte secret, owner-only permissions) and `NAME.public` (the public key's text
//! form, `ed25519:HEX` or `sm2:HEX`). Neither is ever overwritten.
//!
//! Wherever a key path goes, a `pkcs11:` URI (RFC 7512) may name a key held in a
//! cryptographic module instead (`ledger::pkcs11`): `keys new --out URI` makes the key
//! inside the module, and signing asks the module to sign.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use ledger::crypto::{Algorithm, PublicKey, SecretKey, Signer};
use ledger::pkcs11;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new key pair from the operating system's randomness.
    ///
    /// Writes OUT.secret (owner-only permissions) and OUT.public; refuses if either exists.
    New {
        /// Path stem of the key files, e.g. `keys/bank-a-alice`; or a `pkcs11:` URI, to make
        /// the key inside a cryptographic module (it never leaves it).
        #[arg(long, value_name = "PATH|URI")]
        out: PathBuf,
        /// The signature algorithm: the one the chain's crypto suite uses (`ed25519` for
        /// `ed25519-blake3`, `sm2` for `sm2-sm3`).
        #[arg(long, value_name = "ALGORITHM", default_value = "ed25519")]
        algorithm: Algorithm,
    },
    /// Print the public key of a key file (PATH.secret, PATH.public, or the stem PATH), or
    /// of a module's key (a `pkcs11:` URI).
    Show {
        #[arg(value_name = "PATH|URI")]
        path: PathBuf,
    },
}

pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::New { out, algorithm } => new(&out, algorithm),
        KeysCommand::Show { path } => {
            println!("{}", public_key_of(&path)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut name = stem.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn new(stem: &Path, algorithm: Algorithm) -> anyhow::Result<ExitCode> {
    if let Some(uri) = pkcs11::uri_of(stem) {
        let public = pkcs11::ModuleKey::generate(&pkcs11::KeyUri::parse(uri)?, algorithm)?;
        println!("{public}");
        eprintln!("made the key in the module; its secret never leaves it");
        return Ok(ExitCode::SUCCESS);
    }
    let secret_path = with_suffix(stem, ".secret");
    let public_path = with_suffix(stem, ".public");
    for path in [&secret_path, &public_path] {
        if path.exists() {
            bail!(
                "{}: already exists; refusing to overwrite a key file",
                path.display()
            );
        }
    }
    let secret = SecretKey::generate_for(algorithm);
    secret.write_new_file(&secret_path)?;
    let public = secret.public_key();
    let write_public = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&public_path)?;
        file.write_all(format!("{public}\n").as_bytes())?;
        file.sync_all()
    };
    write_public().with_context(|| format!("{}", public_path.display()))?;
    println!("{public}");
    eprintln!(
        "wrote {} (keep it private) and {}",
        secret_path.display(),
        public_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The public key a path names: a `.secret` file, a `.public` file, or their stem.
pub fn public_key_of(path: &Path) -> anyhow::Result<PublicKey> {
    if let Some(uri) = pkcs11::uri_of(path) {
        return Ok(pkcs11::open(uri)?.public_key());
    }
    let extension = path.extension().and_then(|e| e.to_str());
    if path.is_file() {
        return match extension {
            Some("public") => Ok(PublicKey::read_file(path)?),
            _ => Ok(SecretKey::read_file(path)?.public_key()),
        };
    }
    let public_path = with_suffix(path, ".public");
    let secret_path = with_suffix(path, ".secret");
    let from_public = public_path
        .is_file()
        .then(|| PublicKey::read_file(&public_path))
        .transpose()?;
    let from_secret = secret_path
        .is_file()
        .then(|| SecretKey::read_file(&secret_path).map(|k| k.public_key()))
        .transpose()?;
    match (from_public, from_secret) {
        (Some(a), Some(b)) if a != b => bail!(
            "{} and {} do not belong together",
            public_path.display(),
            secret_path.display()
        ),
        (Some(key), _) | (None, Some(key)) => Ok(key),
        (None, None) => bail!(
            "{}: no such key file (nor {} or {})",
            path.display(),
            secret_path.display(),
            public_path.display()
        ),
    }
}

/// The signer a key argument names: a module's key (a `pkcs11:` URI), a `.secret` file, or
/// the stem of one.
pub fn signer_of(path: &Path) -> anyhow::Result<Box<dyn Signer>> {
    if let Some(uri) = pkcs11::uri_of(path) {
        return Ok(Box::new(pkcs11::open(uri)?));
    }
    Ok(Box::new(secret_key_of(path)?))
}

/// The secret key a path names: a `.secret` file, or the stem of one.
pub fn secret_key_of(path: &Path) -> anyhow::Result<SecretKey> {
    if path.extension().and_then(|e| e.to_str()) == Some("public") {
        bail!(
            "{}: a public key file cannot sign; pass the .secret file",
            path.display()
        );
    }
    if path.is_file() {
        return Ok(SecretKey::read_file(path)?);
    }
    let secret_path = with_suffix(path, ".secret");
    if secret_path.is_file() {
        return Ok(SecretKey::read_file(&secret_path)?);
    }
    bail!("{}: no such secret key file", path.display())
}
