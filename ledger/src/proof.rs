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
//! After governance has changed the validators (DOMAIN.md R11), the validators of the
//! proof's height are not the genesis's. The proof then carries what it needs: a proof
//! of each accepted transaction that changed the roster of nodes before its height
//! (`validator_changes`, in chain order), each itself certified by the validators in
//! force at its own height. The checker starts from the genesis roster, applies each
//! change from its height + [`CHANGE_DELAY`] on with the rulebook's own
//! [`Roster::apply`], and requires every header's validator-set hash to be the set it
//! derived: a change left out makes a later header's set differ, and the proof is
//! refused. What a proof checked with the genesis alone must still trust is that
//! validators who left the set did not, after leaving, certify a false history together;
//! `audit verify` of the whole chain needs no such trust.
//!
//! What a proof cannot show without the chain is which organisation a key that was
//! registered after the genesis signs for; keys listed in the genesis are named.
//!
//! Every id, root and path is of the chain's crypto suite, which the proof names and the
//! genesis must name too.
//!
//! File form (JSON): `{"format": "xinbao-tx-proof/3", "crypto_suite", "chain_id",
//! "height", "block_id", "tx_id", "index", "outcome", "tx": {the transaction's JSON form},
//! "validator_changes": [{"height", "tx_id", "type"}], "proof": hex}` where `proof` is the
//! canonical encoding of the [`TxProof`] and is what is checked; the other fields are there
//! to be read, and a file whose readable fields differ from its proof is refused. Proofs of
//! the formats before keys named their algorithm (`xinbao-tx-proof/1` and `/2`) cannot be
//! read; `xinbao audit prove` makes them again from the chain.

use bincode::{Decode, Encode};
use serde_json::{json, Value};

use crate::block::{receipt_proof, BlockHeader, BlockId, CommitCertificate, Outcome, Receipt};
use crate::codec::{self, CodecError};
use crate::crypto::{PublicKey, Suite};
use crate::export::ChainEntry;
use crate::genesis::{Genesis, GenesisError};
use crate::merkle;
use crate::state::Hash32;
use crate::tx::{SignedTx, TxError, TxId};
use crate::validators::{Roster, ValidatorSet, CHANGE_DELAY};
use crate::vote::CertificateError;
use crate::{Date, Id};

/// The `format` of a proof file.
pub const PROOF_FORMAT: &str = "xinbao-tx-proof/3";
/// The most validator changes one proof carries.
pub const PROOF_CHANGES_MAX: usize = 1024;
/// A proof in binary form is at most this long.
pub const PROOF_BYTES_MAX: usize = 16 * 1024 * 1024;
/// A proof file is at most this long.
pub const PROOF_FILE_BYTES_MAX: usize = 8 * PROOF_BYTES_MAX;

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct TxProof {
    /// The chain's crypto suite: the hash of every id, root and path below.
    pub suite: Suite,
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
    /// The proofs of the accepted roster changes before this block, in chain order
    /// (see the module notes); each carries none of its own.
    pub validator_changes: Vec<TxProof>,
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
    #[error("the proof is of the crypto suite {proof}, the genesis names {genesis}")]
    WrongSuite { proof: Suite, genesis: Suite },
    #[error("the proof is of chain {proof}, the genesis is of chain {genesis}")]
    WrongChain { proof: Id, genesis: Id },
    #[error("the block names other validators than the genesis's, and the proof carries no validator change")]
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
    #[error("validator change {index}: {reason}")]
    Change { index: usize, reason: String },
    #[error("the block at height {height} names validators (set hash {claimed}) other than those the genesis and the carried changes give ({derived}): a validator change is missing or wrong")]
    ValidatorsNotDerived {
        height: u64,
        claimed: String,
        derived: String,
    },
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
    /// The validator changes the proof carried and applied: height and transaction id.
    pub validator_changes: Vec<(u64, TxId)>,
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
    pub fn from_entry(suite: Suite, entry: &ChainEntry, index: usize) -> Option<TxProof> {
        let block = &entry.block;
        let tx = block.txs.get(index)?.clone();
        let receipt = entry.receipts.get(index)?.clone();
        Some(TxProof {
            suite,
            header: block.header.clone(),
            certificate: entry.certificate.clone(),
            tx,
            index: index as u64,
            count: block.txs.len() as u64,
            tx_path: block.tx_proof(suite, index)?,
            receipt_path: receipt_proof(suite, &entry.receipts, index)?,
            receipt,
            validator_changes: Vec::new(),
        })
    }

    /// The proofs of the accepted roster changes of a stored entry, in block order: what
    /// a proof of a later block carries (see the module notes).
    pub fn roster_changes_of(suite: Suite, entry: &ChainEntry) -> Vec<TxProof> {
        entry
            .block
            .txs
            .iter()
            .zip(&entry.receipts)
            .enumerate()
            .filter(|(_, (tx, receipt))| {
                receipt.outcome == Outcome::Accepted && tx.body.action.roster_change().is_some()
            })
            .filter_map(|(index, _)| TxProof::from_entry(suite, entry, index))
            .collect()
    }

    /// This proof, carrying `changes`: the proofs of the accepted roster changes before
    /// its block, in chain order (see the module notes).
    pub fn with_validator_changes(mut self, changes: Vec<TxProof>) -> TxProof {
        self.validator_changes = changes;
        self
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
            ("crypto_suite", json!(self.suite.as_str())),
            ("chain_id", json!(self.header.chain_id.as_str())),
            ("height", json!(self.header.height)),
            ("block_id", json!(self.header.id(self.suite).to_string())),
            ("tx_id", json!(self.tx.id(self.suite).to_string())),
            ("index", json!(self.index)),
            ("outcome", outcome_json(&self.receipt.outcome)),
            (
                "tx",
                serde_json::to_value(&self.tx).expect("a transaction has a JSON form"),
            ),
            (
                "validator_changes",
                Value::Array(
                    self.validator_changes
                        .iter()
                        .map(|c| {
                            json!({
                                "height": c.header.height,
                                "tx_id": c.tx.id(self.suite).to_string(),
                                "type": c.tx.body.action.type_name(),
                            })
                        })
                        .collect(),
                ),
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
        let format = doc.get("format").and_then(Value::as_str);
        if format != Some(PROOF_FORMAT) {
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
        if self.suite != genesis.crypto_suite {
            return Err(ProofError::WrongSuite {
                proof: self.suite,
                genesis: genesis.crypto_suite,
            });
        }
        if self.header.chain_id != genesis.chain_id {
            return Err(ProofError::WrongChain {
                proof: self.header.chain_id.clone(),
                genesis: genesis.chain_id.clone(),
            });
        }
        if self.validator_changes.len() > PROOF_CHANGES_MAX {
            return Err(ProofError::Format(format!(
                "{} validator changes, at most {PROOF_CHANGES_MAX}",
                self.validator_changes.len()
            )));
        }
        let mut roster = genesis
            .roster()
            .map_err(|e| ProofError::Genesis(GenesisError::Roster(e)))?;
        // Changes scheduled but not yet in force: (from height, the roster from then).
        let mut pending: Vec<(u64, Roster)> = Vec::new();
        let mut applied = Vec::new();
        let mut last: Option<(u64, u64)> = None;
        for (index, change) in self.validator_changes.iter().enumerate() {
            let fail = |reason: String| ProofError::Change { index, reason };
            let at = (change.header.height, change.index);
            if last.is_some_and(|l| at <= l) || change.header.height >= self.header.height {
                return Err(fail("not in chain order before the proven block".into()));
            }
            last = Some(at);
            if !change.validator_changes.is_empty() {
                return Err(fail("carries validator changes of its own".into()));
            }
            if change.suite != self.suite {
                return Err(fail(format!("is of the crypto suite {}", change.suite)));
            }
            let validators = roster_at(&mut roster, &mut pending, change.header.height)?;
            check_validator_set(self.suite, &change.header, &validators, index > 0)?;
            change
                .verify_with(&genesis.chain_id, &validators)
                .map_err(|e| fail(e.to_string()))?;
            if change.receipt.outcome != Outcome::Accepted {
                return Err(fail("the change was rejected by the rulebook".into()));
            }
            let Some(roster_change) = change.tx.body.action.roster_change() else {
                return Err(fail(format!(
                    "{} does not change the validators",
                    change.tx.body.action.type_name()
                )));
            };
            let base = pending.last().map_or(&roster, |(_, r)| r);
            let next = base
                .apply(&roster_change)
                .map_err(|e| fail(format!("cannot be applied: {e}")))?;
            let from = change.header.height + CHANGE_DELAY;
            match pending.last_mut() {
                Some((h, r)) if *h == from => *r = next,
                _ => pending.push((from, next)),
            }
            applied.push((change.header.height, change.tx.id(self.suite)));
        }
        let validators = roster_at(&mut roster, &mut pending, self.header.height)?;
        check_validator_set(self.suite, &self.header, &validators, !applied.is_empty())?;
        let mut proven = self.verify_with(&genesis.chain_id, &validators)?;
        proven.validator_changes = applied;
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
        for (key, org) in &mut proven.signers {
            *org = org_of(key);
        }
        Ok(proven)
    }

    /// The checks of one certified transaction, given the validators of its height.
    fn verify_with(
        &self,
        chain_id: &Id,
        validators: &ValidatorSet,
    ) -> Result<ProvenTx, ProofError> {
        let header = &self.header;
        let suite = self.suite;
        let block_id = header.id(suite);
        self.certificate
            .verify(chain_id, header.height, &block_id, validators)
            .map_err(ProofError::Certificate)?;
        let tx_id = self.tx.id(suite);
        if self.receipt.tx_id != tx_id {
            return Err(ProofError::ReceiptNotForTx {
                receipt: self.receipt.tx_id,
                tx: tx_id,
            });
        }
        if !merkle::verify(
            suite,
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
            suite,
            &header.receipts_root,
            &self.receipt.hash(suite),
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
            .verify_signatures(chain_id, suite)
            .map_err(ProofError::Signature)?;
        Ok(ProvenTx {
            chain_id: chain_id.clone(),
            height: header.height,
            block_id,
            time_ms: header.time_ms,
            date: Date::from_unix_ms_cst(header.time_ms).ok(),
            tx_id,
            outcome: self.receipt.outcome,
            signers: keys.iter().map(|k| (*k, None)).collect(),
            validator_changes: Vec::new(),
        })
    }
}

/// The validator set of `height`: the changes in force by then are moved from `pending`
/// into `roster`.
fn roster_at(
    roster: &mut Roster,
    pending: &mut Vec<(u64, Roster)>,
    height: u64,
) -> Result<ValidatorSet, ProofError> {
    while pending.first().is_some_and(|(from, _)| *from <= height) {
        *roster = pending.remove(0).1;
    }
    roster
        .validator_set()
        .map_err(|e| ProofError::Genesis(GenesisError::ValidatorSet(e)))
}

/// The header must name the validators derived for its height. With no change carried,
/// those are the genesis validators, and a header naming others is of another
/// consortium, or of one whose changes the proof does not carry.
fn check_validator_set(
    suite: Suite,
    header: &BlockHeader,
    validators: &ValidatorSet,
    changes_carried: bool,
) -> Result<(), ProofError> {
    if header.validator_set_hash == validators.hash(suite) {
        Ok(())
    } else if !changes_carried {
        Err(ProofError::ValidatorsNotGenesis)
    } else {
        Err(ProofError::ValidatorsNotDerived {
            height: header.height,
            claimed: hex::encode(header.validator_set_hash),
            derived: hex::encode(validators.hash(suite)),
        })
    }
}
