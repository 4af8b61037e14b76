//! Blocks, receipts and commit certificates (DESIGN.md "Consensus").
//!
//! Execute, then vote: the proposer executes the block and puts the resulting state root
//! and receipts root in the header; every validator re-executes and votes only for a
//! header it reproduces. The block id is blake3 of the canonical header.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, BLOCK_BYTES_MAX};
use crate::crypto::{PublicKey, Signature, Suite};
use crate::merkle;
use crate::state::Hash32;
use crate::tx::{SignedTx, TxId};
use crate::{Code, Id};

/// blake3 of the canonical header: hex in text form.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    Encode,
    Decode,
)]
#[serde(try_from = "String", into = "String")]
pub struct BlockId(pub [u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode, utoipa::ToSchema)]
pub struct BlockHeader {
    pub chain_id: Id,
    pub height: u64,
    /// The protocol version the block was executed under (R12.1): the version in force at
    /// its height, a function of the state after the block before it.
    pub protocol_version: u32,
    /// Milliseconds since the Unix epoch, set by the proposer; the rulebook's date is this
    /// time's date in UTC+8.
    pub time_ms: u64,
    /// The previous block's id; the genesis hash for height 1.
    pub previous: BlockId,
    /// Merkle root of the transaction ids, in block order.
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub tx_root: Hash32,
    /// Merkle root of the receipts, in block order.
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub receipts_root: Hash32,
    /// The state root after executing this block.
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub state_root: Hash32,
    /// Hash of the validator set that decides this height.
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub validator_set_hash: Hash32,
    /// Consensus key of the proposer.
    pub proposer: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<SignedTx>,
}

/// What executing one transaction gave: accepted, or rejected by the rulebook with its
/// code (a rejected transaction is still ordered and changes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(tag = "outcome", content = "code")]
pub enum Outcome {
    Accepted,
    Rejected(Code),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Receipt {
    pub tx_id: TxId,
    pub outcome: Outcome,
}

/// More than 2/3 of the voting power's precommits for a block: our own form of the
/// engine's certificate, so nothing outside the node's consensus module sees engine types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct CommitCertificate {
    pub height: u64,
    pub round: u32,
    pub block_id: BlockId,
    pub signatures: Vec<CommitSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct CommitSignature {
    pub validator: PublicKey,
    pub signature: Signature,
}

impl BlockHeader {
    /// The suite's hash of the canonical header.
    pub fn id(&self, suite: Suite) -> BlockId {
        BlockId(codec::hash(suite, self))
    }
}

impl Block {
    pub fn id(&self, suite: Suite) -> BlockId {
        self.header.id(suite)
    }

    /// The transaction ids in block order: the leaves of [`Block::tx_root`].
    pub fn tx_ids(&self, suite: Suite) -> Vec<TxId> {
        self.txs.iter().map(|tx| tx.id(suite)).collect()
    }

    /// Merkle root of the transaction ids, in block order.
    pub fn tx_root(&self, suite: Suite) -> Hash32 {
        tx_root(suite, &self.tx_ids(suite))
    }

    /// The inclusion proof of transaction `index` under [`Block::tx_root`]; check it with
    /// [`merkle::verify`]`(suite, tx_root, tx_id, index, txs.len(), proof)`.
    pub fn tx_proof(&self, suite: Suite, index: usize) -> Option<Vec<Hash32>> {
        let leaves: Vec<Hash32> = self.txs.iter().map(|tx| tx.id(suite).0).collect();
        merkle::prove(suite, &leaves, index)
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The canonical bytes, and the bounds of each transaction in them (see
    /// [`codec::encode_list_with_bounds`]): one pass, the same bytes as [`Block::to_bytes`].
    pub fn to_bytes_with_bounds(&self) -> (Vec<u8>, Vec<u32>) {
        let mut out = codec::encode(&self.header);
        let bounds = codec::encode_list_with_bounds(&self.txs, &mut out);
        (out, bounds)
    }

    /// Decodes untrusted bytes (at most [`BLOCK_BYTES_MAX`]). Nothing is checked beyond
    /// the encoding: not the roots, not the signatures.
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, CodecError> {
        codec::decode(bytes, BLOCK_BYTES_MAX)
    }
}

/// Merkle root of transaction ids, in block order.
pub fn tx_root(suite: Suite, ids: &[TxId]) -> Hash32 {
    let leaves: Vec<Hash32> = ids.iter().map(|id| id.0).collect();
    merkle::root(suite, &leaves)
}

impl Receipt {
    /// The suite's hash of the canonical receipt: its leaf in [`receipts_root`].
    pub fn hash(&self, suite: Suite) -> Hash32 {
        codec::hash(suite, self)
    }
}

/// Merkle root of the receipts' hashes, in block order.
pub fn receipts_root(suite: Suite, receipts: &[Receipt]) -> Hash32 {
    let leaves: Vec<Hash32> = receipts.iter().map(|r| r.hash(suite)).collect();
    merkle::root(suite, &leaves)
}

/// The inclusion proof of receipt `index` under [`receipts_root`]; its leaf is
/// [`Receipt::hash`].
pub fn receipt_proof(suite: Suite, receipts: &[Receipt], index: usize) -> Option<Vec<Hash32>> {
    let leaves: Vec<Hash32> = receipts.iter().map(|r| r.hash(suite)).collect();
    merkle::prove(suite, &leaves, index)
}

impl CommitCertificate {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes untrusted bytes (at most [`BLOCK_BYTES_MAX`]); signatures are not checked.
    pub fn from_bytes(bytes: &[u8]) -> Result<CommitCertificate, CodecError> {
        codec::decode(bytes, BLOCK_BYTES_MAX)
    }
}

crate::crypto::hex_digest!(BlockId);
