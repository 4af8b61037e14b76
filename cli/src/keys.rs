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
    /// Print the public key of a key file (PATH.secret, PATH.public, or the stem PATH), of
    /// a module's key (a `pkcs11:` URI), or of an SM2 SubjectPublicKeyInfo in DER
    /// (PATH.der, as `openssl pkey -pubout -outform DER` writes it).
    Show {
        #[arg(value_name = "PATH|URI")]
        path: PathBuf,
        /// Also write an SM2 key as a DER SubjectPublicKeyInfo to this file, for OpenSSL
        /// and other SM2 tools (`openssl pkeyutl -verify -pubin -keyform DER -inkey FILE`).
        #[arg(long, value_name = "FILE")]
        der: Option<PathBuf>,
    },
    /// Bind a node's ed25519 transport key (its p2p identity) to its consensus key, and
    /// print the binding (`{"key", "signature"}`) for the roster: `tx new AddValidator …
    /// --transport FILE`, `RotateValidatorKey … --new-transport FILE`.
    ///
    /// A node needs one when its consensus key cannot be its p2p identity: an SM2 key, or
    /// a key in a cryptographic module. The node's configuration then names the transport
    /// key (`transport_key = "transport.key"`).
    BindTransport {
        /// The node's consensus key: its key file, or a `pkcs11:` URI (the module signs).
        #[arg(long, value_name = "PATH|URI")]
        consensus_key: PathBuf,
        /// The transport key file; made (ed25519, owner-only) when it does not exist.
        #[arg(long, value_name = "PATH")]
        transport_key: PathBuf,
        /// Also write the binding to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::BindTransport {
            consensus_key,
            transport_key,
            out,
        } => bind_transport(&consensus_key, &transport_key, out.as_deref()),
        KeysCommand::New { out, algorithm } => new(&out, algorithm),
        KeysCommand::Show { path, der } => {
            let key = public_key_of(&path)?;
            println!("{key}");
            if let Some(out) = der {
                let PublicKey::Sm2(point) = key else {
                    bail!("--der: {key} is not an SM2 key (only SM2 keys are written as DER)");
                };
                crate::files::replace(&out, &ledger::gm::public_key_der(&point))?;
                eprintln!("wrote {}", out.display());
            }
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

fn bind_transport(
    consensus_key: &Path,
    transport_path: &Path,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let consensus = signer_of(consensus_key)?;
    let transport = if transport_path.exists() {
        SecretKey::read_file(transport_path)?
    } else {
        let key = SecretKey::generate_for(Algorithm::Ed25519);
        key.write_new_file(transport_path)?;
        eprintln!(
            "made the transport key {} (keep it private)",
            transport_path.display()
        );
        key
    };
    anyhow::ensure!(
        transport.algorithm() == Algorithm::Ed25519,
        "{}: a transport key is ed25519, not {}",
        transport_path.display(),
        transport.algorithm()
    );
    let binding =
        ledger::validators::TransportKey::bind(consensus.as_ref(), transport.public_key())?;
    ledger::validators::TransportKey::check(&consensus.public_key(), Some(&binding))?;
    let text = serde_json::to_string_pretty(&binding)? + "\n";
    if let Some(out) = out {
        crate::files::replace(out, text.as_bytes())?;
        eprintln!("wrote {}", out.display());
    }
    print!("{text}");
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
            Some("der") => {
                let der = crate::files::read_bounded(path, 1024)?;
                let point = ledger::gm::public_key_from_der(&der).with_context(|| {
                    format!(
                        "{}: not an SM2 SubjectPublicKeyInfo in DER (id-ecPublicKey on \
                         sm2p256v1, an uncompressed point)",
                        path.display()
                    )
                })?;
                let key = PublicKey::Sm2(point);
                key.check()
                    .with_context(|| format!("{}: {key}", path.display()))?;
                Ok(key)
            }
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
