//! Keys and signatures: ed25519, with domain separation, and one verification rule that
//! single and batch verification share.
//!
//! Every signature in xinbao is over `domain ‖ message`, with the domain taken from
//! [`domain`], so a signature made for one purpose (a transaction) can never be replayed
//! as another (a consensus vote).
//!
//! The rule is ZIP-215 (ed25519-zebra), after one check of our own: the public key must be
//! a point that is not of small order ([`PublicKey::check`]). ZIP-215 requires the scalar
//! to be reduced (`s < ℓ`, so a signature cannot be altered into a second valid one),
//! accepts any encoding of `R` that decodes, and checks the cofactored equation
//! `[8][s]B = [8]R + [8][k]A`. Its batch equation is the same equation summed with random
//! weights, so a batch of valid signatures always passes and [`verify_batch`] gives every
//! signature the verdict [`PublicKey::verify`] gives it: two honest nodes, one verifying
//! alone and one in batches, can never disagree about a block. (The random weights come
//! from the operating system; they decide nothing but the speed, except with probability
//! 2⁻¹²⁸ per invalid batch.) Every signature an honest RFC 8032 signer makes verifies
//! under both this rule and ed25519-dalek's `verify_strict`; this rule accepts, besides,
//! signatures only their key's holder could make (a small-order or non-canonical `R`).
//! This replaced `verify_strict` as a deliberate protocol change.
//!
//! A secret key lives in a file holding the hex of its 32-byte seed, created with
//! owner-only permissions and never overwritten.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// An ed25519 public key: 32 bytes, hex in text form.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey(pub [u8; 32]);

/// The domains of every signature and every hash that must not be confused with another.
///
/// They are all here so that one glance shows they are distinct. A signing domain is the
/// prefix of the signed message; no domain is a prefix of another (a test checks it).
pub mod domain {
    /// A transaction signature: over `TX ‖ tx id`.
    pub const TX: &[u8] = b"xinbao/tx/v1";
    /// Consensus messages (votes, proposals, proposal parts), each further tagged with its
    /// kind and the chain id by the node's signing module.
    pub const CONSENSUS: &[u8] = b"xinbao/consensus/v1";
    /// Merkle leaf hashes (see `merkle`).
    pub const MERKLE_LEAF: &[u8] = b"xinbao/merkle/leaf/v1";
    /// Merkle interior node hashes.
    pub const MERKLE_NODE: &[u8] = b"xinbao/merkle/node/v1";
    /// Merkle roots, which also commit to the number of leaves.
    pub const MERKLE_ROOT: &[u8] = b"xinbao/merkle/root/v1";
    /// The hash of a validator set.
    pub const VALIDATOR_SET: &[u8] = b"xinbao/validators/v1";
    /// The state root chain (see `state::chain_root`).
    pub const STATE: &[u8] = b"xinbao/state/v1";
    /// A founder's approval of a genesis: over `GENESIS ‖ genesis hash` (DOMAIN.md R11.1).
    pub const GENESIS: &[u8] = b"xinbao/genesis/v1";

    /// Every domain, for the distinctness check.
    pub const ALL: &[&[u8]] = &[
        TX,
        CONSENSUS,
        MERKLE_LEAF,
        MERKLE_NODE,
        MERKLE_ROOT,
        VALIDATOR_SET,
        STATE,
        GENESIS,
    ];
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the public key is not a valid ed25519 point")]
    MalformedKey,
    #[error("the public key has small order (a weak key)")]
    WeakKey,
    #[error("the signature does not verify")]
    BadSignature,
}

/// Why a secret or public key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: already exists; refusing to overwrite a key file")]
    Exists { path: PathBuf },
    #[error("{path}: expected the hex of 32 bytes (64 hex digits)")]
    Format { path: PathBuf },
    #[error("expected the hex of 32 bytes (64 hex digits)")]
    Hex,
}

impl PublicKey {
    /// Checks `signature` over `domain ‖ message` (see the module notes for the rule).
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), VerifyError> {
        self.check()?;
        let key = ed25519_zebra::VerificationKey::try_from(self.0)
            .map_err(|_| VerifyError::MalformedKey)?;
        key.verify(
            &ed25519_zebra::Signature::from(signature.0),
            &signed_message(domain, message),
        )
        .map_err(|_| VerifyError::BadSignature)
    }

    /// Whether this is a point that can verify anything: decodes and is not of small order.
    /// A pure function of the key's bytes; the keys found good lately are remembered
    /// ([`GOOD_KEYS_MAX`]), since the same few keys sign almost every transaction and a
    /// point's decompression is a large part of a verification.
    pub fn check(&self) -> Result<(), VerifyError> {
        if good_keys().lock().is_ok_and(|keys| keys.contains(&self.0)) {
            return Ok(());
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.0)
            .map_err(|_| VerifyError::MalformedKey)?;
        if key.is_weak() {
            return Err(VerifyError::WeakKey);
        }
        if let Ok(mut keys) = good_keys().lock() {
            if keys.len() >= GOOD_KEYS_MAX {
                keys.clear();
            }
            keys.insert(self.0);
        }
        Ok(())
    }

    /// Reads a public key file (hex of 32 bytes, surrounding whitespace ignored).
    pub fn read_file(path: &Path) -> Result<PublicKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        PublicKey::from_hex(&text).map_err(|_| KeyError::Format {
            path: path.to_owned(),
        })
    }

    pub fn to_hex(&self) -> String {
        lower_hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)?;
        Ok(PublicKey(bytes))
    }
}

impl TryFrom<String> for PublicKey {
    type Error = hex::FromHexError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PublicKey::from_hex(&value)
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        key.to_hex()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

/// Most keys [`PublicKey::check`] remembers as good; beyond it the memory starts afresh.
pub const GOOD_KEYS_MAX: usize = 4_096;

fn good_keys() -> &'static std::sync::Mutex<std::collections::BTreeSet<[u8; 32]>> {
    static KEYS: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeSet<[u8; 32]>>> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(Default::default)
}

/// One signature to check in a batch: `signature` by `key` over `domain ‖ message`.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    pub key: &'a PublicKey,
    pub domain: &'static [u8],
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// Verifies `checks` together; each verdict is the one [`PublicKey::verify`] gives (see
/// the module notes). The whole batch is one multi-scalar multiplication; only when it
/// fails are the signatures checked one by one, to name the bad ones.
pub fn verify_batch(checks: &[Check<'_>]) -> Vec<Result<(), VerifyError>> {
    let mut verdicts: Vec<Result<(), VerifyError>> = vec![Ok(()); checks.len()];
    let mut batch = ed25519_zebra::batch::Verifier::new();
    let mut queued = Vec::with_capacity(checks.len());
    for (i, check) in checks.iter().enumerate() {
        if let Err(e) = check.key.check() {
            verdicts[i] = Err(e);
            continue;
        }
        let message = signed_message(check.domain, check.message);
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(check.key.0),
            ed25519_zebra::Signature::from(check.signature.0),
            &message[..],
        ));
        queued.push(i);
    }
    // The batch's random coefficients must be unpredictable to whoever made the
    // signatures; a ChaCha20 stream seeded from the operating system per batch is, and
    // costs no system call per signature.
    let rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_rng(rand_core::OsRng)
        .expect("the operating system's randomness is available");
    if queued.is_empty() || batch.verify(rng).is_ok() {
        return verdicts;
    }
    for i in queued {
        let check = &checks[i];
        verdicts[i] = check
            .key
            .verify(check.domain, check.message, check.signature);
    }
    verdicts
}

fn signed_message(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(domain.len() + message.len());
    bytes.extend_from_slice(domain);
    bytes.extend_from_slice(message);
    bytes
}

/// An ed25519 secret key (the 32-byte seed). It never prints, and is wiped from memory
/// when dropped (ed25519-dalek's `zeroize`).
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

/// The usual name for a secret key together with its public key: the secret key derives
/// its public key, so one type serves both.
pub type Keypair = SecretKey;

impl SecretKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> SecretKey {
        SecretKey(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
    }

    /// The key with this seed: for tests, golden vectors and throwaway devnet keys.
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `domain ‖ message` (ed25519 is deterministic: the same inputs give the same
    /// signature).
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        Signature(self.0.sign(&signed_message(domain, message)).to_bytes())
    }

    /// The text form of the key file: the hex of the seed.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    pub fn from_hex(text: &str) -> Result<SecretKey, KeyError> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeyError::Hex)?;
        let key = SecretKey::from_seed(seed);
        seed.fill(0);
        Ok(key)
    }

    /// Reads a secret key file.
    pub fn read_file(path: &Path) -> Result<SecretKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        SecretKey::from_hex(&text).map_err(|_| KeyError::Format {
            path: path.to_owned(),
        })
    }

    /// Writes a new secret key file readable by its owner only; an existing file is never
    /// overwritten.
    pub fn write_new_file(&self, path: &Path) -> Result<(), KeyError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let io = |source: std::io::Error| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = options.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists {
                    path: path.to_owned(),
                }
            } else {
                io(source)
            }
        })?;
        let mut text = self.to_hex();
        text.push('\n');
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {:?})", self.public_key())
    }
}

/// An ed25519 signature: 64 bytes, hex in text form.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
#[serde(try_from = "String", into = "String")]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn to_hex(&self) -> String {
        lower_hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(text.trim(), &mut bytes)?;
        Ok(Signature(bytes))
    }
}

impl TryFrom<String> for Signature {
    type Error = hex::FromHexError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Signature::from_hex(&value)
    }
}

impl From<Signature> for String {
    fn from(sig: Signature) -> String {
        sig.to_hex()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", &self.to_hex()[..16])
    }
}

/// Lower-case hex of `bytes`, written straight into the string's buffer: keys, ids and
/// signatures are put in hex on the hot path (a key's state record is named by it), where
/// `hex::encode`'s character-at-a-time collect showed in profiles.
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    hex::encode_to_slice(bytes, &mut out).expect("the buffer holds two digits a byte");
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Implements hex text form, `Display` and `Debug` for a 32-byte digest newtype.
macro_rules! hex_digest {
    ($name:ty) => {
        impl $name {
            pub fn to_hex(&self) -> String {
                $crate::crypto::lower_hex(&self.0)
            }

            pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut bytes)?;
                Ok(Self(bytes))
            }
        }

        impl TryFrom<String> for $name {
            type Error = hex::FromHexError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::from_hex(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_hex()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_hex()[..16])
            }
        }
    };
}
pub(crate) use hex_digest;
