//! Transactions (DESIGN.md "Transactions").
//!
//! `SignedTx { body, signatures }`. The body is the chain id, a nonce, an expiry height
//! and the action. Its id is the chain's suite's hash (blake3 or SM3) of the canonical body
//! bytes; each signature is over `"xinbao/tx/v1" ‖ id`. The JSON file form that people pass around and sign in turn is
//! `{chain_id, nonce, expires_at_height, action: {type, …}, signatures: [{public_key, signature}]}`.
//!
//! Signing a transaction twice with the same key is idempotent: a key whose signature over
//! this body is already there is not asked again. A key's earlier signature over a
//! since-changed body is replaced. A key signs the id its own suite gives (an SM2 key the
//! SM3 id): each suite has one algorithm.
//!
//! A [`VerifiedTx`] can only come from [`SignedTx::verify`]: holding one means the chain
//! id matched and every signature verified under distinct keys. Which organisations those
//! keys count for is the rulebook's business, not this module's.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, TX_BYTES_MAX};
use crate::crypto::{
    domain, verify_batch, Algorithm, Check, PublicKey, SecretKey, Signature, Signer, SignerError,
    Suite, VerifyError,
};
use crate::{Action, Id};

/// A transaction carries at most this many signatures.
pub const TX_SIGNATURES_MAX: usize = 32;

/// What is signed. Its canonical bytes are hashed into the [`TxId`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct TxBody {
    pub chain_id: Id,
    pub nonce: u64,
    /// The last height at which the transaction may be committed.
    pub expires_at_height: u64,
    pub action: Action,
}

/// blake3 of the canonical body: hex in text form.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
#[serde(try_from = "String", into = "String")]
pub struct TxId(pub [u8; 32]);

/// One signature on a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct TxSignature {
    pub public_key: PublicKey,
    pub signature: Signature,
}

/// A transaction with the signatures gathered so far.
///
/// Its JSON form is [`SignedTxFile`]'s: the body's fields and `signatures` side by side,
/// unknown fields refused (a signer must see everything that the file says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(from = "SignedTxFile", into = "SignedTxFile")]
pub struct SignedTx {
    pub body: TxBody,
    pub signatures: Vec<TxSignature>,
}

/// The JSON file form of a [`SignedTx`]:
/// `{chain_id, nonce, expires_at_height, action: {type, …}, signatures: [{public_key, signature}]}`.
/// A file without `signatures` is an unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTxFile {
    pub chain_id: Id,
    pub nonce: u64,
    pub expires_at_height: u64,
    pub action: Action,
    #[serde(default)]
    pub signatures: Vec<TxSignature>,
}

impl From<SignedTxFile> for SignedTx {
    fn from(file: SignedTxFile) -> SignedTx {
        SignedTx {
            body: TxBody {
                chain_id: file.chain_id,
                nonce: file.nonce,
                expires_at_height: file.expires_at_height,
                action: file.action,
            },
            signatures: file.signatures,
        }
    }
}

impl From<SignedTx> for SignedTxFile {
    fn from(tx: SignedTx) -> SignedTxFile {
        SignedTxFile {
            chain_id: tx.body.chain_id,
            nonce: tx.body.nonce,
            expires_at_height: tx.body.expires_at_height,
            action: tx.body.action,
            signatures: tx.signatures,
        }
    }
}

/// Why a transaction is not acceptable as signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("transaction is for chain {found}, this is chain {expected}")]
    WrongChain { expected: Id, found: Id },
    #[error("transaction has no signature")]
    Unsigned,
    #[error("transaction has {count} signatures, at most {max} are allowed", max = TX_SIGNATURES_MAX)]
    TooManySignatures { count: usize },
    #[error("key {0} signs the transaction twice")]
    DuplicateSigner(PublicKey),
    #[error("signature {index} (key {key}): {reason}")]
    BadSignature {
        index: usize,
        key: PublicKey,
        reason: VerifyError,
    },
    #[error("signature {index}: key {key} is not {expected}, the chain's signature algorithm")]
    WrongAlgorithm {
        index: usize,
        key: PublicKey,
        expected: Algorithm,
    },
    #[error("signing: {0}")]
    Signing(#[from] SignerError),
    #[error("transaction bytes: {0}")]
    Codec(#[from] CodecError),
}

/// What [`SignedTx::sign`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutcome {
    /// A new signature was appended.
    Added,
    /// The key had already signed this very body: nothing changed.
    AlreadySigned,
    /// The key's earlier signature did not match the body any more and was replaced.
    Replaced,
}

impl TxBody {
    /// The suite's hash of the canonical bytes.
    pub fn id(&self, suite: Suite) -> TxId {
        TxId(codec::hash(suite, self))
    }
}

impl TxId {
    /// The signature of `key` on the transaction with this id.
    pub fn sign(&self, key: &SecretKey) -> Signature {
        key.sign(domain::TX, &self.0)
    }

    /// Checks one signature on the transaction with this id.
    pub fn verify(&self, public_key: &PublicKey, signature: &Signature) -> Result<(), VerifyError> {
        public_key.verify(domain::TX, &self.0, signature)
    }
}

impl SignedTx {
    /// A transaction with no signature yet.
    pub fn unsigned(body: TxBody) -> SignedTx {
        SignedTx {
            body,
            signatures: Vec::new(),
        }
    }

    /// The suite its signatures imply: each suite has one algorithm, so the first signer's
    /// key names it; `None` for an unsigned transaction.
    pub fn signers_suite(&self) -> Option<Suite> {
        self.signatures
            .first()
            .map(|s| Suite::of(s.public_key.algorithm()))
    }

    /// The id of the body under `suite`; signatures are not part of it.
    pub fn id(&self, suite: Suite) -> TxId {
        self.body.id(suite)
    }

    /// Adds `key`'s signature (see the module notes for signing twice). A key that already
    /// signed this body is not asked again (a module's signature may differ each time).
    pub fn sign<S: Signer + ?Sized>(&mut self, key: &S) -> Result<SignOutcome, TxError> {
        let public_key = key.public_key();
        let suite = Suite::of(public_key.algorithm());
        // Every signer of one transaction is of one suite: a chain accepts no other.
        if let Some(expected) = self.signers_suite().filter(|s| *s != suite) {
            return Err(TxError::WrongAlgorithm {
                index: self.signatures.len(),
                key: public_key,
                expected: expected.algorithm(),
            });
        }
        let id = self.id(suite);
        let existing = self
            .signatures
            .iter()
            .position(|s| s.public_key == public_key);
        if let Some(at) = existing {
            if id
                .verify(&public_key, &self.signatures[at].signature)
                .is_ok()
            {
                return Ok(SignOutcome::AlreadySigned);
            }
        } else if self.signatures.len() >= TX_SIGNATURES_MAX {
            return Err(TxError::TooManySignatures {
                count: self.signatures.len() + 1,
            });
        }
        let signature = key.try_sign(domain::TX, &id.0)?;
        if let Some(at) = existing {
            self.signatures[at].signature = signature;
            return Ok(SignOutcome::Replaced);
        }
        self.signatures.push(TxSignature {
            public_key,
            signature,
        });
        Ok(SignOutcome::Added)
    }

    /// Each signature's own verdict, in order, without the whole-transaction checks: what
    /// a person looking at a half-signed file wants to see.
    /// Each key is checked over the id of its own suite.
    pub fn signature_verdicts(&self) -> Vec<(PublicKey, Result<(), VerifyError>)> {
        self.signatures
            .iter()
            .map(|s| {
                let id = self.id(Suite::of(s.public_key.algorithm()));
                (s.public_key, id.verify(&s.public_key, &s.signature))
            })
            .collect()
    }

    /// Checks the chain id and every signature; returns the signers' keys in order.
    ///
    /// Refused: another chain's transaction, no signature, more than
    /// [`TX_SIGNATURES_MAX`], a key that signs twice, and any signature that does not
    /// verify strictly.
    pub fn verify_signatures(
        &self,
        chain_id: &Id,
        suite: Suite,
    ) -> Result<Vec<PublicKey>, TxError> {
        self.verify_signatures_of(chain_id, suite, &self.id(suite))
    }

    /// The checks that need no signature verified: chain, count, keys of the suite's
    /// algorithm, distinct keys.
    fn check_shape(&self, chain_id: &Id, suite: Suite) -> Result<(), TxError> {
        if &self.body.chain_id != chain_id {
            return Err(TxError::WrongChain {
                expected: chain_id.clone(),
                found: self.body.chain_id.clone(),
            });
        }
        if self.signatures.is_empty() {
            return Err(TxError::Unsigned);
        }
        if self.signatures.len() > TX_SIGNATURES_MAX {
            return Err(TxError::TooManySignatures {
                count: self.signatures.len(),
            });
        }
        for (index, s) in self.signatures.iter().enumerate() {
            if s.public_key.algorithm() != suite.algorithm() {
                return Err(TxError::WrongAlgorithm {
                    index,
                    key: s.public_key,
                    expected: suite.algorithm(),
                });
            }
            if self.signatures[..index]
                .iter()
                .any(|earlier| earlier.public_key == s.public_key)
            {
                return Err(TxError::DuplicateSigner(s.public_key));
            }
        }
        Ok(())
    }

    fn verify_signatures_of(
        &self,
        chain_id: &Id,
        suite: Suite,
        id: &TxId,
    ) -> Result<Vec<PublicKey>, TxError> {
        self.check_shape(chain_id, suite)?;
        for (index, s) in self.signatures.iter().enumerate() {
            id.verify(&s.public_key, &s.signature)
                .map_err(|reason| TxError::BadSignature {
                    index,
                    key: s.public_key,
                    reason,
                })?;
        }
        Ok(self.signatures.iter().map(|s| s.public_key).collect())
    }

    /// [`SignedTx::verify_signatures`], keeping the result as proof.
    pub fn verify(self, chain_id: &Id, suite: Suite) -> Result<VerifiedTx, TxError> {
        let id = self.id(suite);
        let signers = self.verify_signatures_of(chain_id, suite, &id)?;
        Ok(VerifiedTx::new(self, id, signers))
    }

    /// Verifies many transactions at once: every signature of every one in one batch
    /// ([`verify_batch`]), each transaction's verdict the one [`SignedTx::verify`] gives.
    pub fn verify_all(
        txs: Vec<SignedTx>,
        chain_id: &Id,
        suite: Suite,
    ) -> Vec<Result<VerifiedTx, TxError>> {
        let ids: Vec<TxId> = txs.iter().map(|tx| tx.id(suite)).collect();
        let shapes: Vec<Result<(), TxError>> = txs
            .iter()
            .map(|tx| tx.check_shape(chain_id, suite))
            .collect();
        let mut checks = Vec::new();
        let mut owners = Vec::new();
        for (t, tx) in txs.iter().enumerate() {
            if shapes[t].is_err() {
                continue;
            }
            for (index, s) in tx.signatures.iter().enumerate() {
                checks.push(Check {
                    key: &s.public_key,
                    domain: domain::TX,
                    message: &ids[t].0,
                    signature: &s.signature,
                });
                owners.push((t, index));
            }
        }
        let verdicts = verify_batch(&checks);
        let mut first_bad: Vec<Option<TxError>> = vec![None; txs.len()];
        for ((t, index), verdict) in owners.into_iter().zip(verdicts) {
            if let (Err(reason), None) = (verdict, &first_bad[t]) {
                first_bad[t] = Some(TxError::BadSignature {
                    index,
                    key: txs[t].signatures[index].public_key,
                    reason,
                });
            }
        }
        drop(checks);
        txs.into_iter()
            .zip(ids)
            .zip(shapes.into_iter().zip(first_bad))
            .map(|((tx, id), (shape, bad))| {
                shape?;
                if let Some(e) = bad {
                    return Err(e);
                }
                let signers = tx.signatures.iter().map(|s| s.public_key).collect();
                Ok(VerifiedTx::new(tx, id, signers))
            })
            .collect()
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes untrusted bytes (at most [`TX_BYTES_MAX`]). Signatures are not checked.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTx, CodecError> {
        codec::decode(bytes, TX_BYTES_MAX)
    }
}

/// A transaction whose chain id and signatures have been verified. Its fields are private
/// so that it can only be made by [`SignedTx::verify`]:
///
/// ```compile_fail
/// # use ledger::tx::{SignedTx, VerifiedTx};
/// fn forge(tx: SignedTx) -> VerifiedTx {
///     VerifiedTx { id: tx.id(), tx, signers: Vec::new() }
/// }
/// ```
///
/// It is shared, not copied: the mempool, a proposal and a block under validation hold
/// the same one (cloning it is a reference count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    inner: std::sync::Arc<Verified>,
}

#[derive(Debug, PartialEq, Eq)]
struct Verified {
    tx: SignedTx,
    id: TxId,
    signers: Vec<PublicKey>,
}

impl VerifiedTx {
    fn new(tx: SignedTx, id: TxId, signers: Vec<PublicKey>) -> VerifiedTx {
        VerifiedTx {
            inner: std::sync::Arc::new(Verified { tx, id, signers }),
        }
    }

    pub fn tx(&self) -> &SignedTx {
        &self.inner.tx
    }

    pub fn body(&self) -> &TxBody {
        &self.inner.tx.body
    }

    pub fn id(&self) -> TxId {
        self.inner.id
    }

    /// The keys that signed, in signature order, all distinct.
    pub fn signers(&self) -> &[PublicKey] {
        &self.inner.signers
    }

    pub fn into_tx(self) -> SignedTx {
        match std::sync::Arc::try_unwrap(self.inner) {
            Ok(verified) => verified.tx,
            Err(shared) => shared.tx.clone(),
        }
    }
}

crate::crypto::hex_digest!(TxId);
