//! Keys and signatures: ed25519 and SM2, with domain separation, and one verification
//! rule per algorithm that single and batch verification share.
//!
//! Every signature in xinbao is over `domain ‖ message`, with the domain taken from
//! [`domain`], so a signature made for one purpose (a transaction) can never be replayed
//! as another (a consensus vote). A key names its algorithm ([`Algorithm`]) in its binary
//! and its text form (`ed25519:…`, `sm2:04…`); a signature is 64 bytes under both, and is
//! read as its key's algorithm says.
//!
//! **ed25519.** The rule is ZIP-215 (ed25519-zebra), after one check of our own: the
//! public key must be a point that is not of small order ([`PublicKey::check`]). ZIP-215
//! requires the scalar to be reduced (`s < ℓ`, so a signature cannot be altered into a
//! second valid one), accepts any encoding of `R` that decodes, and checks the cofactored
//! equation `[8][s]B = [8]R + [8][k]A`. Its batch equation is the same equation summed with
//! random weights, so a batch of valid signatures always passes and [`verify_batch`] gives
//! every signature the verdict [`PublicKey::verify`] gives it: two honest nodes, one
//! verifying alone and one in batches, can never disagree about a block. (The random
//! weights come from the operating system; they decide nothing but the speed, except with
//! probability 2⁻¹²⁸ per invalid batch.) Every signature an honest RFC 8032 signer makes
//! verifies under both this rule and ed25519-dalek's `verify_strict`; this rule accepts,
//! besides, signatures only their key's holder could make (a small-order or non-canonical
//! `R`).
//!
//! **SM2** (GB/T 32918.2, RustCrypto's `sm2`). The key is an uncompressed SEC1 point
//! (65 bytes, `04 ‖ x ‖ y`) on the curve and not the identity; the signature is `r ‖ s`,
//! each 32 bytes big-endian in `[1, n-1]`; the signed value is SM3 over `Z_A ‖ M`, where
//! `M` is `domain ‖ message` and `Z_A` binds the key and the distinguishing identifier
//! [`SM2_DISTID`] (GM/T 0009's default), so any SM2 implementation given the same
//! identifier verifies xinbao's signatures and xinbao verifies theirs. SM2 has no batch
//! equation: [`verify_batch`] checks SM2 signatures one at a time (the caller spreads a
//! block's over the cores). Signing is deterministic (the nonce is derived from the secret
//! and the digest, RFC 6979's way), which GB/T 32918 allows and which makes a lost random
//! source harmless.
//!
//! A secret key lives in a file holding `ALGORITHM:` and the hex of its 32 bytes (the
//! ed25519 seed, or the SM2 scalar), created with owner-only permissions and never
//! overwritten; a file of bare hex is an ed25519 seed, as files were before keys named
//! their algorithm.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use ed25519_dalek::Signer as _;
use sm2::dsa::signature::Signer as _;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// The distinguishing identifier every SM2 signature in xinbao is made and checked with:
/// GM/T 0009's default, `1234567812345678`. Another implementation must be given the same
/// (OpenSSL 3: `-pkeyopt distid:1234567812345678`).
pub const SM2_DISTID: &str = "1234567812345678";

/// A chain's crypto suite, fixed in its genesis for the chain's whole life: the algorithm
/// of every signature the protocol makes or checks, and the hash of every id, root and
/// proof. A key of another algorithm than the suite's is refused wherever a key enters a
/// chain: as a transaction's signer (`WrongAlgorithm` at intake), in a genesis, and in a
/// governance change (R11.4's key checks, code `WrongAlgorithm`).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    Default,
    Serialize,
    Deserialize,
    Encode,
    Decode,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Suite {
    /// ed25519 signatures (ZIP-215), blake3 hashes.
    #[default]
    Ed25519Blake3,
    /// SM2 signatures (GB/T 32918, identifier [`SM2_DISTID`]), SM3 hashes (GB/T 32905).
    Sm2Sm3,
}

impl Suite {
    pub const ALL: [Suite; 2] = [Suite::Ed25519Blake3, Suite::Sm2Sm3];

    /// The name in text forms: `ed25519-blake3` or `sm2-sm3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Ed25519Blake3 => "ed25519-blake3",
            Suite::Sm2Sm3 => "sm2-sm3",
        }
    }

    /// The suite whose keys are of `algorithm` (one suite per algorithm).
    pub fn of(algorithm: Algorithm) -> Suite {
        match algorithm {
            Algorithm::Ed25519 => Suite::Ed25519Blake3,
            Algorithm::Sm2 => Suite::Sm2Sm3,
        }
    }

    /// The signature algorithm of the suite's keys.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Suite::Ed25519Blake3 => Algorithm::Ed25519,
            Suite::Sm2Sm3 => Algorithm::Sm2,
        }
    }

    /// The suite's hash of `bytes`.
    pub fn hash(self, bytes: &[u8]) -> [u8; 32] {
        match self {
            Suite::Ed25519Blake3 => *blake3::hash(bytes).as_bytes(),
            Suite::Sm2Sm3 => sm3(bytes),
        }
    }

    /// An incremental hasher of the suite's hash.
    pub fn hasher(self) -> Hasher {
        match self {
            Suite::Ed25519Blake3 => Hasher::Blake3(blake3::Hasher::new()),
            Suite::Sm2Sm3 => Hasher::Sm3(Default::default()),
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Suite {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<Self, KeyError> {
        Suite::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                KeyError::Text(format!(
                    "unknown crypto suite {text:?}: expected ed25519-blake3 or sm2-sm3"
                ))
            })
    }
}

/// An incremental hash of a [`Suite`]: blake3 or SM3. It lives on the stack for one hash
/// (every transaction id, Merkle node and root is one), so blake3's large state is kept
/// unboxed rather than allocated each time.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Hasher {
    Blake3(blake3::Hasher),
    Sm3(sm3::Sm3),
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) -> &mut Self {
        match self {
            Hasher::Blake3(hasher) => {
                hasher.update(bytes);
            }
            Hasher::Sm3(hasher) => sm3::Digest::update(hasher, bytes),
        }
        self
    }

    pub fn finalize(self) -> [u8; 32] {
        match self {
            Hasher::Blake3(hasher) => *hasher.finalize().as_bytes(),
            Hasher::Sm3(hasher) => sm3::Digest::finalize(hasher).into(),
        }
    }
}

/// A signature algorithm.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Ed25519,
    Sm2,
}

impl Algorithm {
    pub const ALL: [Algorithm; 2] = [Algorithm::Ed25519, Algorithm::Sm2];

    /// The name in text forms: `ed25519` or `sm2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Sm2 => "sm2",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<Self, KeyError> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| KeyError::UnknownAlgorithm(text.to_owned()))
    }
}

/// A public key: an ed25519 point (32 bytes) or an SM2 point (65 bytes, uncompressed SEC1).
/// Its text form is `ed25519:HEX` or `sm2:HEX`; bare hex of 32 bytes reads as ed25519.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
#[serde(try_from = "String", into = "String")]
pub enum PublicKey {
    Ed25519([u8; 32]),
    Sm2([u8; 65]),
}

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
    /// A consensus key's binding of its node's transport key: over `TRANSPORT ‖ key`
    /// (see `validators::TransportKey`).
    pub const TRANSPORT: &[u8] = b"xinbao/transport/v1";

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
        TRANSPORT,
    ];
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the public key is not a valid point of its algorithm")]
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
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{0}")]
    Text(String),
    #[error("unknown algorithm {0:?}: expected ed25519 or sm2")]
    UnknownAlgorithm(String),
}

impl PublicKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
            PublicKey::Sm2(_) => Algorithm::Sm2,
        }
    }

    /// The key's bytes: the ed25519 point, or the SM2 point's SEC1 encoding.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            PublicKey::Ed25519(bytes) => bytes,
            PublicKey::Sm2(bytes) => bytes,
        }
    }

    /// Checks `signature` over `domain ‖ message` (see the module notes for the rules).
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), VerifyError> {
        match self {
            PublicKey::Ed25519(bytes) => {
                self.check()?;
                let key = ed25519_zebra::VerificationKey::try_from(*bytes)
                    .map_err(|_| VerifyError::MalformedKey)?;
                key.verify(
                    &ed25519_zebra::Signature::from(signature.0),
                    &signed_message(domain, message),
                )
                .map_err(|_| VerifyError::BadSignature)
            }
            PublicKey::Sm2(bytes) => {
                let key = sm2_verifying_key(bytes)?;
                if key.verifies(&signed_message(domain, message), &signature.0) {
                    Ok(())
                } else {
                    Err(VerifyError::BadSignature)
                }
            }
        }
    }

    /// Whether this is a point that can verify anything: for ed25519, decodes and is not
    /// of small order; for SM2, is an uncompressed point on the curve. A pure function of
    /// the key's bytes; the keys found good lately are remembered ([`GOOD_KEYS_MAX`]),
    /// since the same few keys sign almost every transaction and a point's decompression
    /// (and SM2's `Z_A`) is a large part of a verification.
    pub fn check(&self) -> Result<(), VerifyError> {
        match self {
            PublicKey::Ed25519(bytes) => {
                if good_keys().lock().is_ok_and(|keys| keys.contains(bytes)) {
                    return Ok(());
                }
                let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
                    .map_err(|_| VerifyError::MalformedKey)?;
                if key.is_weak() {
                    return Err(VerifyError::WeakKey);
                }
                if let Ok(mut keys) = good_keys().lock() {
                    if keys.len() >= GOOD_KEYS_MAX {
                        keys.clear();
                    }
                    keys.insert(*bytes);
                }
                Ok(())
            }
            PublicKey::Sm2(bytes) => sm2_verifying_key(bytes).map(|_| ()),
        }
    }

    /// Reads a public key file (the text form, surrounding whitespace ignored).
    pub fn read_file(path: &Path) -> Result<PublicKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        PublicKey::parse(&text).map_err(|e| KeyError::Format {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The hex of [`PublicKey::as_bytes`], without the algorithm: the name of the key's
    /// state records (the lengths of the two algorithms' keys differ, so the names do).
    pub fn to_hex(&self) -> String {
        lower_hex(self.as_bytes())
    }

    /// Reads the text form: `ed25519:HEX`, `sm2:HEX`, or bare hex of 32 bytes (ed25519).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let (algorithm, digits) = match text.split_once(':') {
            Some((name, digits)) => (name.parse()?, digits),
            None => (Algorithm::Ed25519, text),
        };
        let bad = |what: &str| KeyError::Text(format!("{algorithm} public key: {what}"));
        match algorithm {
            Algorithm::Ed25519 => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(digits, &mut bytes)
                    .map_err(|_| bad("expected the hex of 32 bytes (64 hex digits)"))?;
                Ok(PublicKey::Ed25519(bytes))
            }
            Algorithm::Sm2 => {
                let mut bytes = [0u8; 65];
                hex::decode_to_slice(digits, &mut bytes).map_err(|_| {
                    bad("expected the hex of an uncompressed SEC1 point (130 hex digits, 04…)")
                })?;
                Ok(PublicKey::Sm2(bytes))
            }
        }
    }
}

impl TryFrom<String> for PublicKey {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PublicKey::parse(&value)
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        key.to_string()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        let shown = match self {
            PublicKey::Ed25519(_) => &hex[..16],
            // Past the SEC1 tag, so keys differ where they are shown.
            PublicKey::Sm2(_) => &hex[2..18],
        };
        write!(f, "PublicKey({}:{shown})", self.algorithm())
    }
}

/// Most keys [`PublicKey::check`] remembers as good, per algorithm; beyond it the memory
/// starts afresh.
pub const GOOD_KEYS_MAX: usize = 4_096;

type Memory<K, V> = std::sync::Mutex<std::collections::BTreeMap<K, V>>;

fn good_keys() -> &'static std::sync::Mutex<std::collections::BTreeSet<[u8; 32]>> {
    static KEYS: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeSet<[u8; 32]>>> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(Default::default)
}

/// The SM2 key of `bytes` (its point decoded and its `Z_A` computed), from the memory of
/// recent keys or made afresh; refused if `bytes` is not an uncompressed point on the
/// curve.
fn sm2_verifying_key(bytes: &[u8; 65]) -> Result<Arc<crate::gm::Sm2Key>, VerifyError> {
    static KEYS: std::sync::OnceLock<Memory<[u8; 65], Arc<crate::gm::Sm2Key>>> =
        std::sync::OnceLock::new();
    let memory = KEYS.get_or_init(Default::default);
    if let Some(key) = memory.lock().ok().and_then(|keys| keys.get(bytes).cloned()) {
        return Ok(key);
    }
    let key = Arc::new(crate::gm::Sm2Key::new(bytes).ok_or(VerifyError::MalformedKey)?);
    if let Ok(mut keys) = memory.lock() {
        if keys.len() >= GOOD_KEYS_MAX {
            keys.clear();
        }
        keys.insert(*bytes, key.clone());
    }
    Ok(key)
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
/// the module notes). The ed25519 signatures are one multi-scalar multiplication; only
/// when it fails are they checked one by one, to name the bad ones. SM2 signatures are
/// checked one by one, spread over the cores when there are many.
pub fn verify_batch(checks: &[Check<'_>]) -> Vec<Result<(), VerifyError>> {
    let mut verdicts: Vec<Result<(), VerifyError>> = vec![Ok(()); checks.len()];
    let mut batch = ed25519_zebra::batch::Verifier::new();
    let mut queued = Vec::with_capacity(checks.len());
    let mut others = Vec::new();
    for (i, check) in checks.iter().enumerate() {
        let PublicKey::Ed25519(key) = check.key else {
            others.push(i);
            continue;
        };
        if let Err(e) = check.key.check() {
            verdicts[i] = Err(e);
            continue;
        }
        let message = signed_message(check.domain, check.message);
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(*key),
            ed25519_zebra::Signature::from(check.signature.0),
            &message[..],
        ));
        queued.push(i);
    }
    verify_on_all_cores(checks, &others, &mut verdicts);
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

/// Checks `checks[i]` for each `i` of `indices` (SM2 has no batch equation: one by one,
/// their last steps together, [`crate::gm::verify_each`]), spread over the machine's cores
/// when there are enough to be worth a thread.
fn verify_on_all_cores(
    checks: &[Check<'_>],
    indices: &[usize],
    verdicts: &mut [Result<(), VerifyError>],
) {
    const PER_THREAD_MIN: usize = 16;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(indices.len() / PER_THREAD_MIN);
    if threads <= 1 {
        for (&i, verdict) in indices.iter().zip(verify_part(checks, indices)) {
            verdicts[i] = verdict;
        }
        return;
    }
    let chunk = indices.len().div_ceil(threads);
    let results: Vec<Vec<Result<(), VerifyError>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = indices
            .chunks(chunk)
            .map(|part| scope.spawn(move || verify_part(checks, part)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a verification does not panic"))
            .collect()
    });
    for (&i, verdict) in indices.iter().zip(results.into_iter().flatten()) {
        verdicts[i] = verdict;
    }
}

/// The verdicts of `checks[i]` for each `i` of `part`, in order: SM2 ones together, any
/// other one by one.
fn verify_part(checks: &[Check<'_>], part: &[usize]) -> Vec<Result<(), VerifyError>> {
    let mut verdicts: Vec<Result<(), VerifyError>> = Vec::with_capacity(part.len());
    let mut sm2_keys = Vec::new();
    let mut sm2_at = Vec::new();
    let mut messages = Vec::new();
    for &i in part {
        let check = &checks[i];
        let PublicKey::Sm2(bytes) = check.key else {
            verdicts.push(
                check
                    .key
                    .verify(check.domain, check.message, check.signature),
            );
            continue;
        };
        match sm2_verifying_key(bytes) {
            Ok(key) => {
                sm2_at.push(verdicts.len());
                sm2_keys.push((key, i));
                messages.push(signed_message(check.domain, check.message));
                verdicts.push(Err(VerifyError::BadSignature));
            }
            Err(e) => verdicts.push(Err(e)),
        }
    }
    let items: Vec<(&crate::gm::Sm2Key, &[u8], &[u8; 64])> = sm2_keys
        .iter()
        .zip(&messages)
        .map(|((key, i), message)| (key.as_ref(), &message[..], &checks[*i].signature.0))
        .collect();
    for (at, good) in sm2_at.into_iter().zip(crate::gm::verify_each(&items)) {
        if good {
            verdicts[at] = Ok(());
        }
    }
    verdicts
}

fn signed_message(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(domain.len() + message.len());
    bytes.extend_from_slice(domain);
    bytes.extend_from_slice(message);
    bytes
}

/// SM3 (GB/T 32905) of `bytes`.
pub fn sm3(bytes: &[u8]) -> [u8; 32] {
    use sm3::Digest;
    sm3::Sm3::digest(bytes).into()
}

/// Why a [`Signer`] could not sign: a module refused, was unreachable, or answered with a
/// signature that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignerError(pub String);

/// One key that signs `domain ‖ message`: a [`SecretKey`] in memory, or a key held in a
/// cryptographic module (`pkcs11`), whose secret never enters this process.
pub trait Signer: Send + Sync {
    fn public_key(&self) -> PublicKey;
    fn try_sign(&self, domain: &[u8], message: &[u8]) -> Result<Signature, SignerError>;
}

impl Signer for SecretKey {
    fn public_key(&self) -> PublicKey {
        SecretKey::public_key(self)
    }

    fn try_sign(&self, domain: &[u8], message: &[u8]) -> Result<Signature, SignerError> {
        Ok(self.sign(domain, message))
    }
}

impl<S: Signer + ?Sized> Signer for &S {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }

    fn try_sign(&self, domain: &[u8], message: &[u8]) -> Result<Signature, SignerError> {
        (**self).try_sign(domain, message)
    }
}

/// A secret key: an ed25519 seed or an SM2 scalar. It never prints, and is wiped from
/// memory when dropped (the algorithms' crates zeroize their secrets).
#[derive(Clone)]
pub enum SecretKey {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    Sm2(Box<sm2::dsa::SigningKey>),
}

/// The usual name for a secret key together with its public key: the secret key derives
/// its public key, so one type serves both.
pub type Keypair = SecretKey;

impl SecretKey {
    /// A fresh ed25519 key from the operating system's randomness.
    pub fn generate() -> SecretKey {
        SecretKey::generate_for(Algorithm::Ed25519)
    }

    /// A fresh key of `algorithm` from the operating system's randomness.
    pub fn generate_for(algorithm: Algorithm) -> SecretKey {
        loop {
            let mut seed = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
            // An SM2 scalar must be in [1, n-2]; a draw outside (probability about
            // 2⁻³²) is drawn again.
            let key = SecretKey::from_bytes(algorithm, &seed);
            seed.fill(0);
            if let Ok(key) = key {
                return key;
            }
        }
    }

    /// The ed25519 key with this seed: for tests, golden vectors and throwaway devnet keys.
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// A key of `algorithm` derived from `seed` alone: for tests and throwaway devnet
    /// keys. ed25519 takes the seed as it is; SM2 takes the first SM3 of `seed ‖ counter`
    /// that is a valid scalar.
    pub fn from_seed_for(algorithm: Algorithm, seed: [u8; 32]) -> SecretKey {
        match algorithm {
            Algorithm::Ed25519 => SecretKey::from_seed(seed),
            Algorithm::Sm2 => (0u32..)
                .find_map(|counter| {
                    let mut input = seed.to_vec();
                    input.extend_from_slice(&counter.to_be_bytes());
                    SecretKey::from_bytes(Algorithm::Sm2, &sm3(&input)).ok()
                })
                .expect("some counter gives a valid scalar"),
        }
    }

    /// The key of `algorithm` whose secret is `bytes`: the ed25519 seed, or the SM2 scalar
    /// big-endian, which must be in [1, n-2] (GB/T 32918.1: `1 + d` must be invertible).
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8; 32]) -> Result<SecretKey, KeyError> {
        match algorithm {
            Algorithm::Ed25519 => Ok(SecretKey::from_seed(*bytes)),
            Algorithm::Sm2 => {
                let key = sm2::dsa::SigningKey::from_slice(SM2_DISTID, bytes).map_err(|_| {
                    KeyError::Text("an SM2 secret must be a scalar in [1, n-2]".into())
                })?;
                let d = *key.as_nonzero_scalar().as_ref();
                if bool::from((d + sm2::Scalar::ONE).is_zero()) {
                    return Err(KeyError::Text(
                        "an SM2 secret must be a scalar in [1, n-2]".into(),
                    ));
                }
                Ok(SecretKey::Sm2(Box::new(key)))
            }
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SecretKey::Ed25519(_) => Algorithm::Ed25519,
            SecretKey::Sm2(_) => Algorithm::Sm2,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            SecretKey::Ed25519(key) => PublicKey::Ed25519(key.verifying_key().to_bytes()),
            SecretKey::Sm2(key) => {
                let point = key.verifying_key().to_sec1_bytes();
                PublicKey::Sm2(
                    point
                        .as_ref()
                        .try_into()
                        .expect("an uncompressed SM2 point is 65 bytes"),
                )
            }
        }
    }

    /// Signs `domain ‖ message` (both algorithms sign deterministically here: the same
    /// inputs give the same signature).
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        let message = signed_message(domain, message);
        match self {
            SecretKey::Ed25519(key) => Signature(key.sign(&message).to_bytes()),
            SecretKey::Sm2(key) => {
                let signature: sm2::dsa::Signature = key.sign(&message);
                Signature(
                    signature.to_bytes()[..]
                        .try_into()
                        .expect("an SM2 signature is 64 bytes"),
                )
            }
        }
    }

    /// The text form of the key file: `ALGORITHM:` and the hex of the secret.
    pub fn to_hex(&self) -> String {
        let secret = match self {
            SecretKey::Ed25519(key) => hex::encode(key.to_bytes()),
            SecretKey::Sm2(key) => hex::encode(key.to_bytes()),
        };
        format!("{}:{secret}", self.algorithm())
    }

    /// Reads the key file's text: `ed25519:HEX`, `sm2:HEX` or bare hex (an ed25519 seed).
    pub fn from_hex(text: &str) -> Result<SecretKey, KeyError> {
        let text = text.trim();
        let (algorithm, digits) = match text.split_once(':') {
            Some((name, digits)) => (name.parse()?, digits),
            None => (Algorithm::Ed25519, text),
        };
        let mut secret = [0u8; 32];
        hex::decode_to_slice(digits, &mut secret).map_err(|_| {
            KeyError::Text(format!(
                "{algorithm} secret key: expected the hex of 32 bytes (64 hex digits)"
            ))
        })?;
        let key = SecretKey::from_bytes(algorithm, &secret);
        secret.fill(0);
        key
    }

    /// Reads a secret key file.
    pub fn read_file(path: &Path) -> Result<SecretKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        SecretKey::from_hex(&text).map_err(|e| KeyError::Format {
            path: path.to_owned(),
            reason: e.to_string(),
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

/// A signature: 64 bytes, hex in text form: ed25519's `R ‖ s`, or SM2's `r ‖ s`.
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
