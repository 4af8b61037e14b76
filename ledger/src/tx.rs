//! Transactions (DESIGN.md "Transactions").
//!
//! `SignedTx { body, signatures }`. The body is the chain id, a nonce, an expiry height
//! and the action. Its id is blake3 of the canonical body bytes; each signature is over
//! `"xinbao/tx/v1" ‖ id`. The JSON file form that people pass around and sign in turn is
//! `{chain_id, nonce, expires_at_height, action: {type, …}, signatures: [{public_key, signature}]}`.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::{PublicKey, Signature};
use crate::{Action, Id};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct SignedTx {
    #[serde(flatten)]
    pub body: TxBody,
    #[serde(default)]
    pub signatures: Vec<TxSignature>,
}

crate::crypto::hex_digest!(TxId);
