//! A settlement proof: one committed transaction and its receipt, checkable with the
//! genesis file alone, without the chain.
//!
//! An enterprise, a bank or a court that holds a [`TxProof`] and the genesis can confirm
//! that the transaction was committed at its height with the outcome its receipt states:
//! - the block header is certified: its commit certificate carries precommits of more
//!   than 2/3 of the genesis validators' voting power for that header's id at its height
//!   ([`CommitCertificate::verify`], the check the node and the audit make);
//! - the transaction is leaf `index` of `count` under the header's `tx_root` and the
//!   receipt the same leaf under its `receipts_root` ([`merkle::verify`]);
//! - the receipt names the transaction's id and the transaction's signatures verify for
//!   the chain.
//!
//! What a proof cannot show without the chain is which organisation a key that was
//! registered after the genesis signs for; keys listed in the genesis are named.
//!
//! File form (JSON): `{"format": "xinbao-tx-proof/1", "chain_id", "height", "block_id",
//! "tx_id", "index", "outcome", "tx": {the transaction's JSON form}, "proof": hex}` where
//! `proof` is the canonical encoding of the [`TxProof`] and is what is checked; the other
//! fields are there to be read, and a file whose readable fields differ from its proof
//! is refused.

use bincode::{Decode, Encode};
use serde_json::{json, Value};

use crate::block::{receipt_proof, BlockHeader, BlockId, CommitCertificate, Outcome, Receipt};
use crate::codec::{self, CodecError, TX_BYTES_MAX};
use crate::crypto::PublicKey;
use crate::export::ChainEntry;
use crate::genesis::{Genesis, GenesisError};
use crate::merkle;
use crate::state::Hash32;
use crate::tx::{SignedTx, TxError, TxId};
use crate::vote::CertificateError;
use crate::{Date, Id};

/// The `format` of a proof file.
pub const PROOF_FORMAT: &str = "xinbao-tx-proof/1";
/// A proof in binary form is at most this long: one transaction, a header, a certificate
/// of up to 256 signatures and two paths.
pub const PROOF_BYTES_MAX: usize = TX_BYTES_MAX + 64 * 1024;
/// A proof file is at most this long.
pub const PROOF_FILE_BYTES_MAX: usize = 8 * PROOF_BYTES_MAX;

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct TxProof {
    pub header: BlockHeader,
    pub certificate: CommitCertificate,
    pub tx: SignedTx,
    /// The transaction's position in its block, and the block's number of transactions.
    pub index: u64,
    pub count: u64,
    /// Merkle path of the transaction id to `header.tx_root`.
    pub tx_path: Vec<Hash32>,
    pub receipt: Receipt,
    /// Merkle path of the receipt's hash to `header.receipts_root`.
    pub receipt_path: Vec<Hash32>,
}

/// Why a proof does not prove its transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("not a proof file: {0}")]
    Format(String),
    #[error("the proof's bytes: {0}")]
    Codec(#[from] CodecError),
    #[error("the readable field {0} does not match the proof")]
    FieldMismatch(&'static str),
    #[error("the genesis file is not valid: {0}")]
    Genesis(GenesisError),
    #[error("the proof is of chain {proof}, the genesis is of chain {genesis}")]
    WrongChain { proof: Id, genesis: Id },
    #[error("the block names another validator set than the genesis's")]
    ValidatorsNotGenesis,
    #[error("the block's commit certificate is refused: {0}")]
    Certificate(CertificateError),
    #[error("the receipt is for transaction {receipt}, not {tx}")]
    ReceiptNotForTx { receipt: TxId, tx: TxId },
    #[error("the transaction is not at position {index} of {count} under the block's tx root")]
    TxNotInBlock { index: u64, count: u64 },
    #[error("the receipt is not at position {index} of {count} under the block's receipts root")]
    ReceiptNotInBlock { index: u64, count: u64 },
    #[error("the transaction's signatures: {0}")]
    Signature(TxError),
}

/// What a verified proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenTx {
    pub chain_id: Id,
    pub height: u64,
    pub block_id: BlockId,
    pub time_ms: u64,
    /// The block's date in UTC+8, the date the rulebook used.
    pub date: Option<Date>,
    pub tx_id: TxId,
    pub outcome: Outcome,
    /// Each signing key, with the organisation it signs for when the genesis lists it.
    pub signers: Vec<(PublicKey, Option<Id>)>,
}

fn outcome_json(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Accepted => json!("Accepted"),
        Outcome::Rejected(code) => json!({"Rejected": code.as_str()}),
    }
}

impl TxProof {
    /// The proof of transaction `index` of a stored entry; `None` when there is no such
    /// transaction or its receipt is missing.
    pub fn from_entry(entry: &ChainEntry, index: usize) -> Option<TxProof> {
        let block = &entry.block;
        let tx = block.txs.get(index)?.clone();
        let receipt = entry.receipts.get(index)?.clone();
        Some(TxProof {
            header: block.header.clone(),
            certificate: entry.certificate.clone(),
            tx,
            index: index as u64,
            count: block.txs.len() as u64,
            tx_path: block.tx_proof(index)?,
            receipt_path: receipt_proof(&entry.receipts, index)?,
            receipt,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes untrusted bytes (at most [`PROOF_BYTES_MAX`]); nothing is checked beyond
    /// the encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<TxProof, CodecError> {
        codec::decode(bytes, PROOF_BYTES_MAX)
    }

    /// The readable fields of the file form, derived from the proof.
    fn readable(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("chain_id", json!(self.header.chain_id.as_str())),
            ("height", json!(self.header.height)),
            ("block_id", json!(self.header.id().to_string())),
            ("tx_id", json!(self.tx.id().to_string())),
            ("index", json!(self.index)),
            ("outcome", outcome_json(&self.receipt.outcome)),
            (
                "tx",
                serde_json::to_value(&self.tx).expect("a transaction has a JSON form"),
            ),
        ]
    }

    /// The JSON file form (see the module notes).
    pub fn to_json(&self) -> String {
        let mut doc = serde_json::Map::new();
        doc.insert("format".into(), json!(PROOF_FORMAT));
        for (key, value) in self.readable() {
            doc.insert(key.into(), value);
        }
        doc.insert("proof".into(), json!(hex::encode(self.to_bytes())));
        serde_json::to_string_pretty(&Value::Object(doc)).expect("JSON of a proof")
    }

    /// Reads the JSON file form; the readable fields must match the proof they come with.
    pub fn from_json(text: &[u8]) -> Result<TxProof, ProofError> {
        if text.len() > PROOF_FILE_BYTES_MAX {
            return Err(ProofError::Format(format!(
                "{} bytes, over the limit of {PROOF_FILE_BYTES_MAX}",
                text.len()
            )));
        }
        let doc: Value =
            serde_json::from_slice(text).map_err(|e| ProofError::Format(e.to_string()))?;
        if doc.get("format").and_then(Value::as_str) != Some(PROOF_FORMAT) {
            return Err(ProofError::Format(format!(
                "its format is not {PROOF_FORMAT}"
            )));
        }
        let hex_text = doc
            .get("proof")
            .and_then(Value::as_str)
            .ok_or_else(|| ProofError::Format("no `proof` field".into()))?;
        if hex_text.len() > 2 * PROOF_BYTES_MAX {
            return Err(ProofError::Codec(CodecError::TooLarge {
                len: hex_text.len() / 2,
                limit: PROOF_BYTES_MAX,
            }));
        }
        let bytes = hex::decode(hex_text)
            .map_err(|e| ProofError::Format(format!("`proof` is not hex: {e}")))?;
        let proof = TxProof::from_bytes(&bytes)?;
        for (key, value) in proof.readable() {
            if doc.get(key) != Some(&value) {
                return Err(ProofError::FieldMismatch(key));
            }
        }
        Ok(proof)
    }

    /// Checks the proof against `genesis` (see the module notes).
    pub fn verify(&self, genesis: &Genesis) -> Result<ProvenTx, ProofError> {
        genesis.validate().map_err(ProofError::Genesis)?;
        let header = &self.header;
        if header.chain_id != genesis.chain_id {
            return Err(ProofError::WrongChain {
                proof: header.chain_id.clone(),
                genesis: genesis.chain_id.clone(),
            });
        }
        let validators = genesis
            .validator_set()
            .map_err(|e| ProofError::Genesis(GenesisError::ValidatorSet(e)))?;
        if header.validator_set_hash != validators.hash() {
            return Err(ProofError::ValidatorsNotGenesis);
        }
        let block_id = header.id();
        self.certificate
            .verify(&genesis.chain_id, header.height, &block_id, &validators)
            .map_err(ProofError::Certificate)?;
        let tx_id = self.tx.id();
        if self.receipt.tx_id != tx_id {
            return Err(ProofError::ReceiptNotForTx {
                receipt: self.receipt.tx_id,
                tx: tx_id,
            });
        }
        if !merkle::verify(
            &header.tx_root,
            &tx_id.0,
            self.index,
            self.count,
            &self.tx_path,
        ) {
            return Err(ProofError::TxNotInBlock {
                index: self.index,
                count: self.count,
            });
        }
        if !merkle::verify(
            &header.receipts_root,
            &self.receipt.hash(),
            self.index,
            self.count,
            &self.receipt_path,
        ) {
            return Err(ProofError::ReceiptNotInBlock {
                index: self.index,
                count: self.count,
            });
        }
        let keys = self
            .tx
            .verify_signatures(&genesis.chain_id)
            .map_err(ProofError::Signature)?;
        let org_of = |key: &PublicKey| {
            genesis
                .organisations
                .iter()
                .find(|o| o.admin_key == *key)
                .map(|o| o.id.clone())
                .or_else(|| {
                    genesis
                        .staff_keys
                        .iter()
                        .find(|s| s.public_key == *key)
                        .map(|s| s.org.clone())
                })
        };
        Ok(ProvenTx {
            chain_id: genesis.chain_id.clone(),
            height: header.height,
            block_id,
            time_ms: header.time_ms,
            date: Date::from_unix_ms_cst(header.time_ms).ok(),
            tx_id,
            outcome: self.receipt.outcome,
            signers: keys.iter().map(|k| (*k, org_of(k))).collect(),
        })
    }
}
