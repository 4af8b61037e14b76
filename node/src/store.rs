//! Storage on sled, behind the narrow [`Store`] API.
//!
//! Trees: `blocks` (height → canonical block), `certificates` (height → canonical commit
//! certificate), `receipts` (height → canonical receipts), `tx_index` (tx id → height,
//! index), `governance` ((height, index) → the accepted change's tx id: the index of the
//! consortium's changes, R11), `state` (the rulebook's key/value map) and `meta` (tip
//! height, tip id, state root, tip time). A decided block and everything it changes are
//! written in one sled transaction over all seven trees and flushed before
//! [`Store::commit`] returns, so a node killed at any instant restarts with either all
//! of a height or none of it.
//!
//! sled calls itself beta; nothing outside this file names it, so it can be replaced.
//! A failing disk is not an operating error the node can work around: reads that fail
//! stop the process (the state view has no error channel, and answering "absent" for a
//! record that exists would fork the state root).

use std::path::Path;

use ledger::block::{Block, BlockId, CommitCertificate, Receipt};
use ledger::codec;
use ledger::state::{Hash32, StateView, WriteSet};
use ledger::tx::TxId;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

/// The committed tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    pub height: u64,
    pub block_id: BlockId,
    pub state_root: Hash32,
    pub time_ms: u64,
}

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored bytes do not decode: {0}")]
    Corrupt(String),
    #[error("height {height} does not follow the tip {tip}")]
    NotNext { height: u64, tip: u64 },
}

/// Everything one decided height writes.
pub struct Commit<'a> {
    pub block: &'a Block,
    pub certificate: &'a CommitCertificate,
    pub receipts: &'a [Receipt],
    pub writes: &'a WriteSet,
    /// Positions of the accepted governance changes in the block.
    pub changes: &'a [usize],
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    blocks: sled::Tree,
    certificates: sled::Tree,
    receipts: sled::Tree,
    tx_index: sled::Tree,
    governance: sled::Tree,
    state: sled::Tree,
    meta: sled::Tree,
    /// This node's own proposals by (height, round), kept until the height is committed,
    /// so that a proposer restarted mid-height proposes the same block again instead of
    /// signing a second, different one for the same round.
    proposals: sled::Tree,
}

const META_TIP: &[u8] = b"tip";
const META_GENESIS: &[u8] = b"genesis";

#[derive(bincode::Encode, bincode::Decode)]
struct TipRecord {
    height: u64,
    block_id: [u8; 32],
    state_root: Hash32,
    time_ms: u64,
}

/// A stored record is at most this long when read back (a block's limit; receipts and
/// certificates are smaller).
const RECORD_BYTES_MAX: usize = ledger::codec::BLOCK_BYTES_MAX;

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::open(path)?;
        Ok(Store {
            blocks: db.open_tree("blocks")?,
            certificates: db.open_tree("certificates")?,
            receipts: db.open_tree("receipts")?,
            tx_index: db.open_tree("tx_index")?,
            governance: db.open_tree("governance")?,
            state: db.open_tree("state")?,
            meta: db.open_tree("meta")?,
            proposals: db.open_tree("proposals")?,
            db,
        })
    }

    /// The genesis hash this store was initialised with, if any.
    pub fn genesis_hash(&self) -> Result<Option<Hash32>, StoreError> {
        Ok(self.meta.get(META_GENESIS)?.map(|v| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&v);
            h
        }))
    }

    /// Writes the genesis state and the height-0 tip, once, atomically.
    pub fn init_genesis(
        &self,
        genesis_hash: Hash32,
        writes: &WriteSet,
        tip: Tip,
    ) -> Result<(), StoreError> {
        let tip_bytes = codec::encode(&TipRecord::from(tip));
        (&self.state, &self.meta)
            .transaction(|(state, meta)| {
                for (key, value) in writes.iter() {
                    match value {
                        Some(v) => state.insert(key.as_slice(), v.as_slice())?,
                        None => state.remove(key.as_slice())?,
                    };
                }
                meta.insert(META_GENESIS, &genesis_hash[..])?;
                meta.insert(META_TIP, tip_bytes.as_slice())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(flatten)?;
        self.db.flush()?;
        Ok(())
    }

    pub fn tip(&self) -> Result<Option<Tip>, StoreError> {
        match self.meta.get(META_TIP)? {
            None => Ok(None),
            Some(bytes) => {
                let record: TipRecord = codec::decode(&bytes, RECORD_BYTES_MAX)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Some(record.into()))
            }
        }
    }

    /// Commits one decided height atomically and durably (see the module notes).
    pub fn commit(&self, commit: Commit<'_>, tip: Tip) -> Result<(), StoreError> {
        let height = commit.block.header.height;
        let current = self.tip()?.map(|t| t.height).unwrap_or(0);
        if height != current + 1 {
            return Err(StoreError::NotNext {
                height,
                tip: current,
            });
        }
        let key = height.to_be_bytes();
        let block_bytes = commit.block.to_bytes();
        let cert_bytes = commit.certificate.to_bytes();
        let receipt_bytes = codec::encode(&commit.receipts.to_vec());
        let tip_bytes = codec::encode(&TipRecord::from(tip));
        let locations: Vec<(TxId, Vec<u8>)> = commit
            .block
            .txs
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                let location = TxLocation {
                    height,
                    index: i as u32,
                };
                (tx.id(), codec::encode(&location))
            })
            .collect();
        let changes: Vec<([u8; 12], TxId)> = commit
            .changes
            .iter()
            .map(|&index| {
                (
                    change_key(height, index as u32),
                    commit.block.txs[index].id(),
                )
            })
            .collect();
        (
            &self.blocks,
            &self.certificates,
            &self.receipts,
            &self.tx_index,
            &self.governance,
            &self.state,
            &self.meta,
        )
            .transaction(
                |(blocks, certificates, receipts, tx_index, governance, state, meta)| {
                    blocks.insert(&key, block_bytes.as_slice())?;
                    certificates.insert(&key, cert_bytes.as_slice())?;
                    receipts.insert(&key, receipt_bytes.as_slice())?;
                    for (id, location) in &locations {
                        tx_index.insert(&id.0, location.as_slice())?;
                    }
                    for (at, id) in &changes {
                        governance.insert(&at[..], &id.0[..])?;
                    }
                    for (k, value) in commit.writes.iter() {
                        match value {
                            Some(v) => state.insert(k.as_slice(), v.as_slice())?,
                            None => state.remove(k.as_slice())?,
                        };
                    }
                    meta.insert(META_TIP, tip_bytes.as_slice())?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                },
            )
            .map_err(flatten)?;
        self.db.flush()?;
        Ok(())
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        self.read(&self.blocks, height, Block::from_bytes)
    }

    /// The canonical bytes of the block at `height` (what sync serves).
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.blocks.get(height.to_be_bytes())?.map(|v| v.to_vec()))
    }

    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StoreError> {
        self.read(&self.certificates, height, CommitCertificate::from_bytes)
    }

    pub fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StoreError> {
        self.read(&self.receipts, height, |b| {
            codec::decode(b, RECORD_BYTES_MAX)
        })
    }

    pub fn tx_location(&self, id: &TxId) -> Result<Option<TxLocation>, StoreError> {
        match self.tx_index.get(id.0)? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes, 64)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }

    /// The accepted governance changes (R11) from `from_height` on, in chain order: each
    /// one's location and transaction id; at most `limit`.
    pub fn governance_changes(
        &self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<(TxLocation, TxId)>, StoreError> {
        self.governance
            .range(change_key(from_height, 0)..)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry?;
                if key.len() != 12 || value.len() != 32 {
                    return Err(StoreError::Corrupt("a governance index entry".into()));
                }
                let mut height = [0u8; 8];
                height.copy_from_slice(&key[..8]);
                let mut index = [0u8; 4];
                index.copy_from_slice(&key[8..]);
                let mut id = [0u8; 32];
                id.copy_from_slice(&value);
                Ok((
                    TxLocation {
                        height: u64::from_be_bytes(height),
                        index: u32::from_be_bytes(index),
                    },
                    TxId(id),
                ))
            })
            .collect()
    }

    fn read<T>(
        &self,
        tree: &sled::Tree,
        height: u64,
        decode: impl Fn(&[u8]) -> Result<T, codec::CodecError>,
    ) -> Result<Option<T>, StoreError> {
        match tree.get(height.to_be_bytes())? {
            None => Ok(None),
            Some(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("height {height}: {e}"))),
        }
    }

    /// Records this node's proposal for (height, round) durably, before it is announced.
    pub fn save_proposal(&self, height: u64, round: u32, block: &Block) -> Result<(), StoreError> {
        self.proposals
            .insert(proposal_key(height, round), block.to_bytes())?;
        self.proposals.flush()?;
        Ok(())
    }

    /// This node's recorded proposal for (height, round), if any.
    pub fn proposal(&self, height: u64, round: u32) -> Result<Option<Block>, StoreError> {
        match self.proposals.get(proposal_key(height, round))? {
            None => Ok(None),
            Some(bytes) => Block::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }

    /// Every recorded proposal of `height`, in round order.
    pub fn proposals_at(&self, height: u64) -> Result<Vec<Block>, StoreError> {
        self.proposals
            .scan_prefix(height.to_be_bytes())
            .map(|entry| {
                let (_, bytes) = entry?;
                Block::from_bytes(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Forgets the proposals of heights up to `height` (they are committed).
    pub fn prune_proposals(&self, height: u64) -> Result<(), StoreError> {
        let end = (height + 1).to_be_bytes();
        let keys: Vec<sled::IVec> = self
            .proposals
            .range(..end.as_slice())
            .keys()
            .collect::<Result<_, _>>()?;
        for key in keys {
            self.proposals.remove(key)?;
        }
        Ok(())
    }

    /// The committed state, read through the rulebook's trait.
    pub fn state(&self) -> SledState<'_> {
        SledState { tree: &self.state }
    }
}

fn change_key(height: u64, index: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

fn proposal_key(height: u64, round: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&round.to_be_bytes());
    key
}

fn flatten(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

impl From<Tip> for TipRecord {
    fn from(tip: Tip) -> Self {
        TipRecord {
            height: tip.height,
            block_id: tip.block_id.0,
            state_root: tip.state_root,
            time_ms: tip.time_ms,
        }
    }
}

impl From<TipRecord> for Tip {
    fn from(r: TipRecord) -> Self {
        Tip {
            height: r.height,
            block_id: BlockId(r.block_id),
            state_root: r.state_root,
            time_ms: r.time_ms,
        }
    }
}

/// The committed state as a [`StateView`].
pub struct SledState<'a> {
    tree: &'a sled::Tree,
}

impl StateView for SledState<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.tree
            .get(key)
            .expect("state read failed: the disk is failing")
            .map(|v| v.to_vec())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.tree
            .scan_prefix(prefix)
            .map(|entry| {
                let (k, v) = entry.expect("state scan failed: the disk is failing");
                (k.to_vec(), v.to_vec())
            })
            .collect()
    }
}
