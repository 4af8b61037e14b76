//! Storage, behind the narrow [`Store`] API: one embedded engine (fjall, [`engine`]), one
//! keyspace per kind of record ([`Space`]), one atomic batch and one durable sync per
//! committed height.
//!
//! **The chain's records**, by height: the canonical block (`blocks`), its canonical
//! receipts (`receipts`), the bounds of each transaction and receipt in those two records
//! (`bounds`), the block's outline (`outlines`: header, transaction count, rejected
//! count), its commit certificate (`certificates`) and what its transactions decided
//! (`decisions`); block id → height (`block-ids`); transaction id → (height, index,
//! expiry height) (`tx-index`); (expiry height, height) → the ids that block remembers
//! until then (`expiry-buckets`: the rulebook's replay memory, `txid/…` and `txexp/…`,
//! kept in this form: [`replay`]); (height, index) → an accepted governance change's id
//! (`governance`, R11); and `meta` (the layout, the genesis hash, the tip). Blocks and
//! receipts are large values, kept in the engine's blob files so that compactions move
//! their keys, not their bytes.
//!
//! **The state** (`state`): the rulebook's key/value map. **The readers' indexes**
//! (`subjects`, `filing-policies`, `filing-counts`, `org-totals`, `loan-clocks`,
//! `claim-desk`, `desk-counts`, `month-ends`) are written here but computed and read by
//! [`crate::index`]: the store knows keyspaces and batches, not claims.
//!
//! **One commit, one durable write.** A decided block's records, its state writes and its
//! index writes are one [`engine::Batch`], written to the engine's journal and synced
//! before [`Store::commit`] returns; the engine makes it visible whole. So a node that
//! loses power at any instant restarts with either all of a height or none of it, and
//! never with a height it reported committed missing (the journal was synced before the
//! report). The engine flushes memtables to tables and compacts them in the background,
//! each table synced before the journal that held its entries is dropped. This node's own
//! proposals are kept in files of their own, outside the chain.
//!
//! The state's committed-transaction ids (`txid/…`, [`contracts::chain::TXID_PREFIX`],
//! read from `tx-index` and `expiry-buckets`) are also summarised in memory
//! ([`CommittedIds`]), loaded when the store opens and changed after each commit: every
//! transaction offered to intake and every transaction of every block is looked up among
//! them, almost always to find it absent. Memory keeps only a count per 8-byte fingerprint
//! of the id, so "absent" is answered there and "perhaps present" is read from the disk.
//! They are bounded by the rulebook (an id is forgotten at its expiry height, at most
//! `tx_expiry_heights_max` heights on), so the memory they take is too.
//!
//! Nothing outside this module names the engine, so it can be replaced. A failing disk is
//! not an operating error the node can work around: reads that fail stop the process (the
//! state view has no error channel, and answering "absent" for a record that exists would
//! fork the state root).

mod engine;
mod replay;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use contracts::chain::TXID_PREFIX;
use contracts::decision::Decision;

use bincode::{Decode, Encode};
use ledger::block::{Block, BlockHeader, BlockId, CommitCertificate, Outcome, Receipt};
use ledger::codec;
use ledger::evidence::DoubleVote;
use ledger::state::{Hash32, StateView, WriteSet};
use ledger::tx::{SignedTx, TxId};

pub use engine::{Space, Stats, Tuning};

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

/// What the transaction index keeps of a committed transaction: where it is, and the
/// expiry height it was signed with, which is how long the state remembers its id
/// ([`replay`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
struct TxIndexEntry {
    location: TxLocation,
    expires_at_height: u64,
}

/// A block without its transactions: what lists of blocks show.
#[derive(Debug, Clone)]
pub struct BlockOutline {
    pub header: BlockHeader,
    pub txs: u64,
    pub rejected: usize,
}

/// What lists of blocks show of one, kept beside it so that a list reads no block.
#[derive(Encode, Decode)]
struct Outline {
    header: BlockHeader,
    txs: u64,
    rejected: u32,
}

/// The bounds of each transaction of a block in the block's record and of each receipt
/// in the receipts' record (see [`codec::encode_list_with_bounds`]), and how many
/// transactions were rejected.
#[derive(Encode, Decode)]
struct BlockBounds {
    txs: Vec<u32>,
    receipts: Vec<u32>,
    rejected: u32,
}

/// How many of a block's transactions the rulebook rejected.
pub fn rejected(receipts: &[Receipt]) -> usize {
    receipts
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Rejected(_)))
        .count()
}

/// The bytes of item `i` of a list with `bounds`, in a record of `len` bytes.
fn item_range(bounds: &[u32], i: usize, len: usize) -> Option<std::ops::Range<usize>> {
    let (start, end) = (*bounds.get(i)? as usize, *bounds.get(i + 1)? as usize);
    (start <= end && end <= len).then_some(start..end)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {}", io_reason(.0))]
    Io(#[from] std::io::Error),
    #[error(
        "the database is corrupted ({0}); this node will not serve it. Rebuild its data \
         directory from its peers: `xinbao-node --config NODE.toml --rebuild` (README, \
         \"A damaged data directory\")"
    )]
    Corrupt(String),
    #[error("{0}")]
    Layout(String),
    #[error("height {height} does not follow the tip {tip}")]
    NotNext { height: u64, tip: u64 },
}

/// An I/O failure in plain words: the operating system's reason (such as "No space left
/// on device"), with what to do about the common ones.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::StorageFull => format!(
            "{e}: the data directory's disk is full; this node stops before writing a \
             decision in part. Free space and start it again: it resumes from what it wrote \
             and catches up"
        ),
        std::io::ErrorKind::InvalidData => format!(
            "the database is corrupted ({e}); this node will not serve it. Rebuild its data \
             directory from its peers: `xinbao-node --config NODE.toml --rebuild`"
        ),
        _ => format!("I/O error: {e}"),
    }
}

/// A key of a keyspace.
type Key = Vec<u8>;

/// A write to one of the readers' indexes: `Some` puts a value, `None` removes the key.
pub type IndexWrite = (Space, Vec<u8>, Option<Vec<u8>>);

/// Everything one decided height writes.
pub struct Commit<'a> {
    pub block: &'a Block,
    /// The block's canonical bytes and the bounds of each transaction in them
    /// ([`Block::to_bytes_with_bounds`]), encoded once by whoever built or checked it.
    pub block_bytes: &'a [u8],
    pub tx_bounds: &'a [u32],
    pub certificate: &'a CommitCertificate,
    pub receipts: &'a [Receipt],
    /// The block's state writes.
    pub writes: &'a WriteSet,
    /// The transaction ids, in block order.
    pub ids: &'a [TxId],
    /// Positions of the accepted governance changes in the block.
    pub changes: &'a [usize],
    /// What the accepted transactions decided, by their index in the block.
    pub decisions: &'a [(u32, Decision)],
    /// The readers' indexes' writes ([`crate::index::writes`]).
    pub index: &'a [IndexWrite],
}

#[derive(Clone)]
pub struct Store {
    engine: engine::Engine,
    /// This node's own proposals, a file each named by (height, round), kept until the
    /// height is committed, so that a proposer restarted mid-height proposes the same
    /// block again instead of signing a second, different one for the same round.
    proposals: std::path::PathBuf,
    /// The state's `txid/<id>` entries, summarised (see the module notes).
    committed_ids: Arc<RwLock<CommittedIds>>,
}

/// How many of the state's `txid/<id>` entries there are for each 8-byte fingerprint of
/// an id (its first bytes: ids are hashes). A fingerprint that is not counted proves the
/// id absent; one that is counted sends the reader to the disk, which is the authority, so
/// a shared fingerprint costs one read and never a wrong answer.
///
/// The counts stay exact because the rulebook writes `txid/<id>` only for an id not yet
/// committed and deletes only an entry it finds (module notes of `contracts::chain`).
/// A slot is 12 bytes, against 32 for the id alone, so a full expiry window of
/// `tx_expiry_heights_max × block_txs_max` ids (5 million with the defaults) fits in
/// about 120 MiB, and a busy node's usual window in a small part of that.
#[derive(Default)]
struct CommittedIds {
    counts: HashMap<u64, u32>,
    /// The committed tip's height: an id is remembered while its expiry height is at
    /// least this ([`replay`]).
    tip: u64,
}

impl CommittedIds {
    fn fingerprint(id: &[u8; 32]) -> u64 {
        u64::from_le_bytes(id[..8].try_into().expect("eight bytes"))
    }

    fn add(&mut self, id: &[u8; 32]) {
        *self.counts.entry(Self::fingerprint(id)).or_default() += 1;
    }

    fn remove(&mut self, id: &[u8; 32]) {
        let fingerprint = Self::fingerprint(id);
        if let Some(count) = self.counts.get_mut(&fingerprint) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&fingerprint);
            }
        }
    }

    /// False when `id` is certainly not committed.
    fn may_hold(&self, id: &[u8; 32]) -> bool {
        self.counts.contains_key(&Self::fingerprint(id))
    }
}

/// The directory of this node's own proposals, beside the database.
const PROPOSALS_DIR: &str = "proposals";
/// The engine's directory, inside the store's.
const ENGINE_DIR: &str = "engine";

const META_TIP: &[u8] = b"tip";
const META_GENESIS: &[u8] = b"genesis";
/// The layout of the data directory; a store of another layout is refused.
const META_LAYOUT: &[u8] = b"layout";
/// The first height whose decisions this store keeps (a store written before it kept
/// them has none for the heights below).
const META_DECISIONS_FROM: &[u8] = b"decisions-from";
const LAYOUT: &[u8] = b"xinbao-store/10";

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

fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

impl Store {
    /// Opens the store in `path` with the engine's default sizes.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, Tuning::default())
    }

    /// Opens the store in `path`; `tuning` sets the engine's sizes when it is created.
    pub fn open_with(path: &Path, tuning: Tuning) -> Result<Store, StoreError> {
        for earlier in ["conf", "state", "blocks", "state-log"] {
            if path.join(earlier).exists() {
                return Err(StoreError::Layout(format!(
                    "{} is a data directory of an earlier layout (it holds `{earlier}`): \
                     start from an empty one (the node syncs from its peers)",
                    path.display()
                )));
            }
        }
        std::fs::create_dir_all(path)?;
        let engine = engine::Engine::open(&path.join(ENGINE_DIR), tuning)?;
        match engine.get(Space::Meta, META_LAYOUT)? {
            Some(layout) if layout != LAYOUT => {
                return Err(StoreError::Layout(format!(
                    "the data directory is of layout {:?}, this node writes {:?}: start \
                     from an empty one (the node syncs from its peers)",
                    String::from_utf8_lossy(&layout),
                    String::from_utf8_lossy(LAYOUT)
                )))
            }
            _ => {}
        }
        let mut ids = CommittedIds::default();
        for entry in engine.scan_prefix(Space::ExpiryBuckets, &[]) {
            let (_, v) = entry?;
            for id in replay::bucket_ids(&v)? {
                ids.add(&id);
            }
        }
        let store = Store {
            committed_ids: Arc::new(RwLock::new(ids)),
            proposals: {
                let dir = path.join(PROPOSALS_DIR);
                std::fs::create_dir_all(&dir)?;
                dir
            },
            engine,
        };
        let tip = store.tip()?;
        if let Some(tip) = tip {
            store.committed_ids.write().expect("no writer panics").tip = tip.height;
        }
        if store
            .engine
            .get(Space::Meta, META_DECISIONS_FROM)?
            .is_none()
        {
            let from = tip.map_or(1, |t| t.height + 1);
            let mut batch = store.engine.batch();
            batch.insert(Space::Meta, META_DECISIONS_FROM, &from.to_be_bytes());
            store.engine.commit(batch)?;
        }
        Ok(store)
    }

    /// The genesis hash this store was initialised with, if any.
    pub fn genesis_hash(&self) -> Result<Option<Hash32>, StoreError> {
        match self.engine.get(Space::Meta, META_GENESIS)? {
            None => Ok(None),
            Some(v) => v
                .try_into()
                .map(Some)
                .map_err(|_| StoreError::Corrupt("the genesis hash".into())),
        }
    }

    /// Writes the genesis state and the height-0 tip, once, atomically.
    pub fn init_genesis(
        &self,
        genesis_hash: Hash32,
        writes: &WriteSet,
        tip: Tip,
    ) -> Result<(), StoreError> {
        if let Some((k, _)) = writes.iter().find(|(k, _)| replay::is_replay_key(k)) {
            return Err(StoreError::Corrupt(format!(
                "a genesis that remembers a transaction: {}",
                hex::encode(k)
            )));
        }
        let mut batch = self.engine.batch();
        for (k, value) in writes.iter() {
            batch.put(Space::State, k, value.as_deref());
        }
        batch.insert(Space::Meta, META_LAYOUT, LAYOUT);
        batch.insert(Space::Meta, META_GENESIS, &genesis_hash);
        batch.insert(Space::Meta, META_TIP, &codec::encode(&TipRecord::from(tip)));
        self.engine.commit(batch)?;
        self.remember_ids(writes, tip.height);
        Ok(())
    }

    /// Checks that the tip is what the stored chain ends with: the block at its height
    /// decodes, is the tip's block, carries its state root and time, has its
    /// certificate and receipts, and links to the block before it. A database that fails
    /// this is refused rather than served.
    pub fn check_tip(&self, suite: ledger::crypto::Suite) -> Result<(), StoreError> {
        let Some(tip) = self.tip()? else {
            return Ok(());
        };
        if tip.height == 0 {
            return Ok(());
        }
        let refuse = |what: String| {
            Err(StoreError::Corrupt(format!(
                "its tip, height {}, is inconsistent: {what}",
                tip.height
            )))
        };
        let Some(block) = self.block(tip.height)? else {
            return refuse("its block is missing".into());
        };
        if block.id(suite) != tip.block_id {
            return refuse(format!(
                "the block there is {}, the tip says {}",
                block.id(suite),
                tip.block_id
            ));
        }
        if block.header.state_root != tip.state_root || block.header.time_ms != tip.time_ms {
            return refuse("the block's state root or time is not the tip's".into());
        }
        if self
            .certificate(tip.height)?
            .is_none_or(|c| c.block_id != tip.block_id)
        {
            return refuse("its commit certificate is missing or for another block".into());
        }
        if self
            .receipts(tip.height)?
            .is_none_or(|r| r.len() != block.txs.len())
        {
            return refuse("its receipts are missing or too few".into());
        }
        if tip.height > 1 {
            match self.block(tip.height - 1)? {
                Some(previous) if previous.id(suite) == block.header.previous => {}
                _ => return refuse("the block before it is missing or does not link".into()),
            }
        }
        Ok(())
    }

    pub fn tip(&self) -> Result<Option<Tip>, StoreError> {
        match self.engine.get(Space::Meta, META_TIP)? {
            None => Ok(None),
            Some(bytes) => {
                let record: TipRecord = codec::decode_own(&bytes, RECORD_BYTES_MAX)
                    .map_err(|e| StoreError::Corrupt(format!("the tip: {e}")))?;
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
        let (due_keys, due) = self.bucket(height - 1)?;
        let replay = replay::split(commit.writes, height, commit.ids, &due)?;
        let mut batch = self.engine.batch();
        let at = height_key(height);
        let mut receipt_bytes = Vec::new();
        let receipt_bounds = codec::encode_list_with_bounds(commit.receipts, &mut receipt_bytes);
        let rejected = rejected(commit.receipts) as u32;
        batch.insert(Space::Blocks, &at, commit.block_bytes);
        batch.insert(Space::Receipts, &at, &receipt_bytes);
        batch.insert(
            Space::Bounds,
            &at,
            &codec::encode(&BlockBounds {
                txs: commit.tx_bounds.to_vec(),
                receipts: receipt_bounds,
                rejected,
            }),
        );
        batch.insert(
            Space::Outlines,
            &at,
            &codec::encode(&Outline {
                header: commit.block.header.clone(),
                txs: commit.block.txs.len() as u64,
                rejected,
            }),
        );
        batch.insert(Space::Certificates, &at, &commit.certificate.to_bytes());
        batch.insert(Space::BlockIds, &commit.certificate.block_id.0, &at);
        for (i, id) in commit.ids.iter().enumerate() {
            let entry = TxIndexEntry {
                location: TxLocation {
                    height,
                    index: i as u32,
                },
                // An id not remembered is never present (every tip is above 0).
                expires_at_height: replay.expiries.get(&id.0).copied().unwrap_or(0),
            };
            batch.insert(Space::TxIndex, &id.0, &codec::encode(&entry));
        }
        for (expiry, ids) in &replay.added {
            batch.insert(
                Space::ExpiryBuckets,
                &replay::bucket_key(*expiry, height),
                &replay::bucket_value(ids),
            );
        }
        if replay.forgotten.is_some() {
            for k in due_keys {
                batch.remove(Space::ExpiryBuckets, &k);
            }
        }
        if !commit.decisions.is_empty() {
            batch.insert(
                Space::Decisions,
                &at,
                &codec::encode(&commit.decisions.to_vec()),
            );
        }
        for &index in commit.changes {
            batch.insert(
                Space::Governance,
                &change_key(height, index as u32),
                &commit.ids[index].0,
            );
        }
        for (k, value) in commit.writes.iter() {
            if !replay::is_replay_key(k) {
                batch.put(Space::State, k, value.as_deref());
            }
        }
        for (space, k, value) in commit.index {
            batch.put(*space, k, value.as_deref());
        }
        batch.insert(Space::Meta, META_TIP, &codec::encode(&TipRecord::from(tip)));
        self.engine.commit(batch)?;
        self.remember_ids(commit.writes, height);
        Ok(())
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        self.read(Space::Blocks, height, |b| {
            codec::decode_own(b, RECORD_BYTES_MAX)
        })
    }

    /// The canonical bytes of the block at `height` (what sync serves).
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.engine.get(Space::Blocks, &height_key(height))
    }

    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StoreError> {
        self.read(Space::Certificates, height, |b| {
            codec::decode_own(b, RECORD_BYTES_MAX)
        })
    }

    pub fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StoreError> {
        self.read(Space::Receipts, height, |b| {
            codec::decode_own(b, RECORD_BYTES_MAX)
        })
    }

    /// What the transactions of the block at `height` decided, by their index in it, or
    /// `None` for a height this store did not keep them for (written by a node before it
    /// kept them).
    pub fn decisions(&self, height: u64) -> Result<Option<Vec<(u32, Decision)>>, StoreError> {
        let from = match self.engine.get(Space::Meta, META_DECISIONS_FROM)? {
            Some(v) => u64::from_be_bytes(
                v.try_into()
                    .map_err(|_| StoreError::Corrupt("the first height of decisions".into()))?,
            ),
            None => 1,
        };
        if height < from {
            return Ok(None);
        }
        Ok(Some(
            self.read(Space::Decisions, height, |b| {
                codec::decode_own(b, RECORD_BYTES_MAX)
            })?
            .unwrap_or_default(),
        ))
    }

    /// The header of the block at `height`, its number of transactions and how many of
    /// them the rulebook rejected, without decoding the transactions.
    pub fn outline(&self, height: u64) -> Result<Option<BlockOutline>, StoreError> {
        let outline: Option<Outline> = self.read(Space::Outlines, height, |b| {
            codec::decode_own(b, RECORD_BYTES_MAX)
        })?;
        Ok(outline.map(|outline| BlockOutline {
            header: outline.header,
            txs: outline.txs,
            rejected: outline.rejected as usize,
        }))
    }

    /// Transaction `index` of the block at `height` and its receipt, decoded alone: the
    /// block's records are cut at the bounds kept beside them.
    pub fn block_tx(
        &self,
        height: u64,
        index: u32,
    ) -> Result<Option<(SignedTx, Receipt)>, StoreError> {
        let Some(bounds) = self.bounds(height)? else {
            return Ok(None);
        };
        let (Some(block), Some(receipts)) = (
            self.engine.get(Space::Blocks, &height_key(height))?,
            self.engine.get(Space::Receipts, &height_key(height))?,
        ) else {
            return Ok(None);
        };
        let corrupt = |what: &str| StoreError::Corrupt(format!("height {height}: {what}"));
        let i = index as usize;
        let (Some(tx_range), Some(receipt_range)) = (
            item_range(&bounds.txs, i, block.len()),
            item_range(&bounds.receipts, i, receipts.len()),
        ) else {
            return Ok(None);
        };
        let tx = codec::decode_own(&block[tx_range], codec::TX_BYTES_MAX)
            .map_err(|e| corrupt(&e.to_string()))?;
        let receipt = codec::decode_own(&receipts[receipt_range], RECORD_BYTES_MAX)
            .map_err(|e| corrupt(&e.to_string()))?;
        Ok(Some((tx, receipt)))
    }

    fn bounds(&self, height: u64) -> Result<Option<BlockBounds>, StoreError> {
        self.read(Space::Bounds, height, |b| {
            codec::decode_own(b, RECORD_BYTES_MAX)
        })
    }

    pub fn tx_location(&self, id: &TxId) -> Result<Option<TxLocation>, StoreError> {
        Ok(tx_index_entry(&self.engine, &id.0)?.map(|e| e.location))
    }

    /// The keys of the records of the expiry bucket of `expiry` and the ids in them, as
    /// stored ([`replay`]).
    fn bucket(&self, expiry: u64) -> Result<(Vec<Key>, Vec<[u8; 32]>), StoreError> {
        let (mut keys, mut ids) = (Vec::new(), Vec::new());
        for entry in self
            .engine
            .scan_prefix(Space::ExpiryBuckets, &replay::bucket_prefix(expiry))
        {
            let (k, v) = entry?;
            ids.extend(replay::bucket_ids(&v)?);
            keys.push(k);
        }
        Ok((keys, ids))
    }

    /// The accepted governance changes (R11) from `from_height` on, in chain order: each
    /// one's location and transaction id; at most `limit`.
    pub fn governance_changes(
        &self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<(TxLocation, TxId)>, StoreError> {
        self.engine
            .range(Space::Governance, &change_key(from_height, 0), None, false)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry?;
                let corrupt = || StoreError::Corrupt("a governance index entry".into());
                let key: [u8; 12] = key.try_into().map_err(|_| corrupt())?;
                let id: [u8; 32] = value.try_into().map_err(|_| corrupt())?;
                Ok((
                    TxLocation {
                        height: u64::from_be_bytes(key[..8].try_into().expect("eight bytes")),
                        index: u32::from_be_bytes(key[8..].try_into().expect("four bytes")),
                    },
                    TxId(id),
                ))
            })
            .collect()
    }

    /// The height of the committed block with this id.
    pub fn height_of(&self, id: &BlockId) -> Result<Option<u64>, StoreError> {
        match self.engine.get(Space::BlockIds, &id.0)? {
            None => Ok(None),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| StoreError::Corrupt("a block id index entry".into())),
        }
    }

    /// The value at `key` in one of the readers' indexes' keyspaces (`crate::index`).
    pub fn index_get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.engine.get(space, key)
    }

    /// The entries of `space` from `start` to `end` (exclusive; `None` to the end), in key
    /// order or, `reverse`, from the last; read from one snapshot.
    pub fn index_range(
        &self,
        space: Space,
        start: &[u8],
        end: Option<&[u8]>,
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + use<> {
        self.engine.range(space, start, end, reverse)
    }

    /// The entries of `space` whose keys start with `prefix`, in key order.
    pub fn index_scan(
        &self,
        space: Space,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + use<> {
        self.engine.scan_prefix(space, prefix)
    }

    fn read<T>(
        &self,
        space: Space,
        height: u64,
        decode: impl Fn(&[u8]) -> Result<T, codec::CodecError>,
    ) -> Result<Option<T>, StoreError> {
        match self.engine.get(space, &height_key(height))? {
            None => Ok(None),
            Some(bytes) => decode(&bytes).map(Some).map_err(|e| {
                StoreError::Corrupt(format!("height {height}, {}: {e}", space.name()))
            }),
        }
    }

    /// Records this node's proposal for (height, round), its canonical bytes, durably,
    /// before it is announced: written beside, put on disk, renamed into place.
    pub fn save_proposal(&self, height: u64, round: u32, bytes: &[u8]) -> Result<(), StoreError> {
        use std::io::Write;
        let name = proposal_name(height, round);
        let temp = self.proposals.join(format!("{name}.tmp"));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, self.proposals.join(name))?;
        std::fs::File::open(&self.proposals)?.sync_all()?;
        Ok(())
    }

    /// This node's recorded proposal for (height, round), if any.
    pub fn proposal(&self, height: u64, round: u32) -> Result<Option<Block>, StoreError> {
        match std::fs::read(self.proposals.join(proposal_name(height, round))) {
            Ok(bytes) => Block::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("a recorded proposal: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The recorded proposals' (height, round), in order.
    fn proposal_places(&self) -> Result<Vec<(u64, u32)>, StoreError> {
        let mut places = Vec::new();
        for entry in std::fs::read_dir(&self.proposals)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let Some((h, r)) = name.strip_suffix(".block").and_then(|n| n.split_once('-')) else {
                continue;
            };
            if let (Ok(h), Ok(r)) = (h.parse(), r.parse()) {
                places.push((h, r));
            }
        }
        places.sort_unstable();
        Ok(places)
    }

    /// Every recorded proposal of `height`, in round order.
    pub fn proposals_at(&self, height: u64) -> Result<Vec<Block>, StoreError> {
        let mut blocks = Vec::new();
        for (h, round) in self.proposal_places()? {
            if h == height {
                blocks.extend(self.proposal(h, round)?);
            }
        }
        Ok(blocks)
    }

    /// Forgets the proposals of heights up to `height` (they are committed).
    pub fn prune_proposals(&self, height: u64) -> Result<(), StoreError> {
        for (h, round) in self.proposal_places()? {
            if h <= height {
                std::fs::remove_file(self.proposals.join(proposal_name(h, round)))?;
            }
        }
        Ok(())
    }

    /// Keeps `evidence` (again the same piece is kept once); returns how many were new.
    pub fn save_evidence(&self, evidence: &[DoubleVote]) -> Result<usize, StoreError> {
        let mut batch = self.engine.batch();
        let mut new = 0;
        for piece in evidence {
            let json = serde_json::to_vec(piece).expect("evidence serialises");
            let mut key = piece.height().to_be_bytes().to_vec();
            key.extend_from_slice(piece.validator().as_bytes());
            key.extend_from_slice(blake3::hash(&json).as_bytes());
            if self.engine.get(Space::Evidence, &key)?.is_none() {
                batch.insert(Space::Evidence, &key, &json);
                new += 1;
            }
        }
        self.engine.commit(batch)?;
        Ok(new)
    }

    /// Up to `limit` pieces of evidence from `from_height` on, in height order.
    pub fn evidence(&self, from_height: u64, limit: usize) -> Result<Vec<DoubleVote>, StoreError> {
        self.engine
            .range(Space::Evidence, &from_height.to_be_bytes(), None, false)
            .take(limit)
            .map(|entry| {
                let (_, value) = entry?;
                serde_json::from_slice(&value)
                    .map_err(|e| StoreError::Corrupt(format!("a piece of evidence: {e}")))
            })
            .collect()
    }

    /// How many pieces of evidence are kept.
    pub fn evidence_count(&self) -> usize {
        self.engine
            .scan_prefix(Space::Evidence, &[])
            .filter(Result::is_ok)
            .count()
    }

    /// The committed state, read through the rulebook's trait.
    pub fn state(&self) -> StoreState<'_> {
        StoreState {
            engine: &self.engine,
            committed_ids: &self.committed_ids,
        }
    }

    /// The engine's figures, for the node's metrics.
    pub fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// Flushes every keyspace to tables and compacts them (tests reach the tables with it).
    #[cfg(test)]
    pub(crate) fn flush_and_compact(&self) {
        self.engine.flush_all();
        self.engine.compact_all();
    }

    /// Writes one record as it stands, outside any height (tests damage a store with it).
    #[cfg(test)]
    pub(crate) fn put_raw(&self, space: Space, key: &[u8], value: Option<&[u8]>) {
        let mut batch = self.engine.batch();
        batch.put(space, key, value);
        self.engine.commit(batch).unwrap();
    }

    /// Mirrors the `txid/…` entries of durable `writes`, which leave the tip at `tip`, in
    /// memory.
    fn remember_ids(&self, writes: &WriteSet, tip: u64) {
        let mut ids = self.committed_ids.write().expect("no writer panics");
        ids.tip = tip;
        for (k, value) in writes.iter() {
            let Some(id) = committed_id(k) else { continue };
            match value {
                Some(_) => ids.add(&id),
                None => ids.remove(&id),
            }
        }
    }
}

/// The transaction index's entry of `id`.
fn tx_index_entry(
    engine: &engine::Engine,
    id: &[u8; 32],
) -> Result<Option<TxIndexEntry>, StoreError> {
    match engine.get(Space::TxIndex, id)? {
        None => Ok(None),
        Some(bytes) => codec::decode_own(&bytes, 64)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("a transaction index entry: {e}"))),
    }
}

/// The transaction id a state key remembers, if it is a `txid/<id>` key.
fn committed_id(k: &[u8]) -> Option<[u8; 32]> {
    k.strip_prefix(TXID_PREFIX)?.try_into().ok()
}

fn change_key(height: u64, index: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

fn proposal_name(height: u64, round: u32) -> String {
    format!("{height:020}-{round:010}.block")
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

/// The committed state as a [`StateView`]: the rulebook's keys in `state`, and its replay
/// memory read from the transaction index and the expiry buckets ([`replay`]).
pub struct StoreState<'a> {
    engine: &'a engine::Engine,
    committed_ids: &'a RwLock<CommittedIds>,
}

const DISK_FAILING: &str = "state read failed: the disk is failing";

impl StoreState<'_> {
    fn replay_get(&self, k: &[u8]) -> Option<Vec<u8>> {
        let id = replay::id_of(k)?;
        let tip = {
            let ids = self.committed_ids.read().expect("no writer panics");
            if !ids.may_hold(&id) {
                return None;
            }
            ids.tip
        };
        let entry = tx_index_entry(self.engine, &id).expect(DISK_FAILING);
        replay::read(k, entry.map(|e| e.expires_at_height), tip)
    }
}

impl StateView for StoreState<'_> {
    fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        if replay::is_replay_key(k) {
            return self.replay_get(k);
        }
        self.engine.get(Space::State, k).expect(DISK_FAILING)
    }

    fn read_with(&self, k: &[u8], f: &mut dyn FnMut(&[u8])) -> bool {
        if replay::is_replay_key(k) {
            return match self.replay_get(k) {
                Some(v) => {
                    f(&v);
                    true
                }
                None => false,
            };
        }
        self.engine
            .read_with(Space::State, k, f)
            .expect(DISK_FAILING)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = self
            .engine
            .scan_prefix(Space::State, prefix)
            .map(|entry| entry.expect(DISK_FAILING))
            .collect();
        if let Some(buckets) = replay::buckets_under(prefix) {
            for entry in self.engine.scan_prefix(Space::ExpiryBuckets, &buckets) {
                let (k, v) = entry.expect(DISK_FAILING);
                let expiry = replay::bucket_expiry(&k).expect("a well-formed expiry bucket");
                for id in replay::bucket_ids(&v).expect("a well-formed expiry bucket") {
                    entries.extend(
                        replay::entries_of(expiry, &id)
                            .into_iter()
                            .filter(|(k, _)| k.starts_with(prefix)),
                    );
                }
            }
            entries.sort_unstable();
        }
        entries
    }

    fn for_each_key(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8])) {
        if replay::buckets_under(prefix).is_some() {
            for (k, _) in self.scan_prefix(prefix) {
                f(&k);
            }
            return;
        }
        for entry in self.engine.scan_prefix(Space::State, prefix) {
            let (k, _) = entry.expect(DISK_FAILING);
            f(&k);
        }
    }
}

/// State entries, key and value.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

impl StoreState<'_> {
    /// At most `limit` entries under `prefix` whose keys come after `prefix ‖ after`, in
    /// key order, and whether more follow.
    pub fn page(&self, prefix: &[u8], after: &[u8], limit: usize) -> (Entries, bool) {
        let mut start = [prefix, after].concat();
        if !after.is_empty() {
            // Strictly after: the smallest key above `start`.
            start.push(0);
        }
        let end = engine::prefix_end(prefix);
        let mut entries = Vec::with_capacity(limit.min(1_024));
        let mut more = false;
        for entry in self
            .engine
            .range(Space::State, &start, end.as_deref(), false)
        {
            let (k, v) = entry.expect(DISK_FAILING);
            if entries.len() == limit {
                more = true;
                break;
            }
            entries.push((k, v));
        }
        (entries, more)
    }

    /// How many entries lie under `prefix`, counting no further than `n`.
    pub fn count_up_to(&self, prefix: &[u8], n: usize) -> usize {
        self.engine
            .scan_prefix(Space::State, prefix)
            .take(n)
            .count()
    }
}
/// Stores for tests, and the next block committed on them as a node would.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use ledger::crypto::PublicKey;
    use ledger::Id;

    /// The suite of the chains these tests make.
    pub const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

    pub fn temp_store(name: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "xinbao-store-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        (Store::open(&dir).unwrap(), dir)
    }

    /// A store with the genesis and one committed (empty) block.
    pub fn one_block(name: &str) -> (Store, std::path::PathBuf, Block) {
        let (store, dir) = temp_store(name);
        let genesis_hash = [7; 32];
        store
            .init_genesis(
                genesis_hash,
                &WriteSet::new(),
                Tip {
                    height: 0,
                    block_id: BlockId(genesis_hash),
                    state_root: [0; 32],
                    time_ms: 1,
                },
            )
            .unwrap();
        let block = Block {
            header: BlockHeader {
                chain_id: Id::new("c").unwrap(),
                height: 1,
                protocol_version: 1,
                time_ms: 2,
                previous: BlockId(genesis_hash),
                tx_root: [0; 32],
                receipts_root: [0; 32],
                state_root: [5; 32],
                validator_set_hash: [0; 32],
                proposer: PublicKey::Ed25519([1; 32]),
            },
            txs: Vec::new(),
        };
        let certificate = CommitCertificate {
            height: 1,
            round: 0,
            block_id: block.id(SUITE),
            signatures: Vec::new(),
        };
        let tip = Tip {
            height: 1,
            block_id: block.id(SUITE),
            state_root: block.header.state_root,
            time_ms: 2,
        };
        let (block_bytes, tx_bounds) = block.to_bytes_with_bounds();
        store
            .commit(
                Commit {
                    block: &block,
                    block_bytes: &block_bytes,
                    tx_bounds: &tx_bounds,
                    certificate: &certificate,
                    receipts: &[],
                    writes: &WriteSet::new(),
                    ids: &[],
                    changes: &[],
                    decisions: &[],
                    index: &[],
                },
                tip,
            )
            .unwrap();
        (store, dir, block)
    }

    /// Commits `txs` with their `receipts` and `writes` as the next block, with the index
    /// writes the chain would compute.
    pub fn commit_next(
        store: &Store,
        txs: Vec<ledger::tx::SignedTx>,
        receipts: &[Receipt],
        writes: &WriteSet,
    ) -> Block {
        commit_next_with(store, txs, receipts, writes, &[])
    }

    pub fn commit_next_with(
        store: &Store,
        txs: Vec<ledger::tx::SignedTx>,
        receipts: &[Receipt],
        writes: &WriteSet,
        decisions: &[(u32, Decision)],
    ) -> Block {
        let tip = store.tip().unwrap().unwrap();
        let previous = store.block(tip.height).unwrap().unwrap();
        let block = Block {
            header: BlockHeader {
                height: tip.height + 1,
                protocol_version: 1,
                time_ms: tip.time_ms + 1,
                previous: previous.id(SUITE),
                ..previous.header.clone()
            },
            txs,
        };
        let certificate = CommitCertificate {
            height: block.header.height,
            round: 0,
            block_id: block.id(SUITE),
            signatures: Vec::new(),
        };
        let next = Tip {
            height: block.header.height,
            block_id: block.id(SUITE),
            state_root: block.header.state_root,
            time_ms: block.header.time_ms,
        };
        let index =
            crate::index::writes(store, tip, &block, receipts, writes, &store.state()).unwrap();
        let (block_bytes, tx_bounds) = block.to_bytes_with_bounds();
        store
            .commit(
                Commit {
                    block: &block,
                    block_bytes: &block_bytes,
                    tx_bounds: &tx_bounds,
                    certificate: &certificate,
                    receipts,
                    writes,
                    ids: &block.tx_ids(SUITE),
                    changes: &[],
                    decisions,
                    index: &index,
                },
                next,
            )
            .unwrap();
        block
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use ledger::Id;

    #[test]
    fn a_tip_that_its_chain_does_not_end_with_is_refused() {
        let (store, dir, block) = one_block("tip");
        store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap();
        // Puts `bytes` as the block of height 1.
        let put_block = |bytes: Option<&[u8]>| store.put_raw(Space::Blocks, &height_key(1), bytes);

        // The tip's block gone.
        put_block(None);
        let err = store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("block is missing"), "{err}");
        assert!(err.contains("--rebuild"), "{err}");
        put_block(Some(&block.to_bytes()));
        store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap();

        // Another block under the tip's height.
        let mut other = block.clone();
        other.header.time_ms += 1;
        put_block(Some(&other.to_bytes()));
        let err = store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the tip says"), "{err}");

        // Bytes that do not decode.
        put_block(Some(&[0xff; 40]));
        let err = store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the database is corrupted"), "{err}");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A state written over many heights reads the same from the memtables, after they
    /// are flushed to tables, after the tables are compacted, and after reopening.
    #[test]
    fn the_state_reads_the_same_after_reopening_whatever_the_tables_hold() {
        use ledger::state::{MemoryStore, StateStore};
        let (mut store, dir, _) = one_block("state-tables");
        let mut memory = MemoryStore::new();
        for round in 0..12u64 {
            let mut writes = WriteSet::new();
            for i in 0..40 {
                let k = format!("rec/{}", (round * 7 + i * 3) % 90).into_bytes();
                if (round + i) % 5 == 0 {
                    writes.delete(k);
                } else {
                    writes.put(k, format!("{round}-{i}").into_bytes());
                }
            }
            memory.apply(&writes);
            commit_next(&store, Vec::new(), &[], &writes);
            if round % 4 == 1 {
                store.engine.flush_all();
            }
            if round % 4 == 3 {
                store.engine.compact_all();
            }
            if round % 3 == 2 {
                drop(store);
                store = Store::open(&dir).unwrap();
            }
            assert_eq!(
                store.state().scan_prefix(b"rec/"),
                memory.scan_prefix(b"rec/"),
                "round {round}"
            );
            assert_eq!(
                store.state().page(b"rec/", b"5", 3).0,
                memory
                    .scan_prefix(b"rec/")
                    .into_iter()
                    .filter(|(k, _)| k.as_slice() > b"rec/5".as_slice())
                    .take(3)
                    .collect::<Vec<_>>(),
                "round {round}"
            );
        }
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn decisions_are_kept_by_height_from_the_first_height_this_store_kept_them() {
        let (store, dir, _) = one_block("decisions");
        assert_eq!(store.decisions(1).unwrap(), Some(Vec::new()));
        let decided = vec![(
            0u32,
            Decision::ProgrammeResumed {
                programme: Id::new("prog-a").unwrap(),
            },
        )];
        commit_next_with(&store, Vec::new(), &[], &WriteSet::new(), &decided);
        assert_eq!(store.decisions(2).unwrap(), Some(decided.clone()));
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.decisions(2).unwrap(), Some(decided.clone()));
        // A store written before decisions were kept: they are unknown up to its tip.
        store.put_raw(Space::Meta, META_DECISIONS_FROM, None);
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.decisions(2).unwrap(), None);
        commit_next(&store, Vec::new(), &[], &WriteSet::new());
        assert_eq!(store.decisions(3).unwrap(), Some(Vec::new()));
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A height's block bytes, receipts and certificate, as read.
    type HeightRecords = (
        Option<Vec<u8>>,
        Option<Vec<Receipt>>,
        Option<CommitCertificate>,
    );

    /// What a store answers, height by height: the records of each height and the state
    /// as of the tip.
    #[derive(Debug, PartialEq)]
    struct Answers {
        tip: u64,
        heights: Vec<HeightRecords>,
        state: Vec<(Vec<u8>, Vec<u8>)>,
    }

    /// Every file under `dir`, recursively.
    fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(files_under(&path));
            } else {
                files.push(path);
            }
        }
        files.sort();
        files
    }

    /// A flipped byte in any file the store writes (the engine's journal, tables, blob
    /// files, manifests and markers, this node's proposals): the store refuses to open,
    /// saying what to do, or opens at a height it had committed and answers as it did at
    /// that height, or fails a read; it never answers with other data.
    #[test]
    fn a_flipped_byte_in_any_file_is_refused_or_read_as_written_never_otherwise() {
        let (store, dir, _) = one_block("flipped");
        let flag = |nonce: u64| {
            ledger::tx::SignedTx::unsigned(ledger::tx::TxBody {
                chain_id: Id::new("c").unwrap(),
                nonce,
                expires_at_height: 9,
                action: ledger::Action::FlagEnterprise(ledger::action::FlagEnterprise {
                    enterprise: Id::new(format!("e{nonce}")).unwrap(),
                    reason: ledger::Text::new("overdue elsewhere").unwrap(),
                }),
            })
        };
        // The state after each height, to compare a store reopened at that height with.
        let mut states = vec![store.state().scan_prefix(b"")];
        let mut memory = ledger::state::MemoryStore::new();
        for height in 2..=24u64 {
            let txs: Vec<_> = (0..12).map(|i| flag(height * 100 + i)).collect();
            let receipts: Vec<Receipt> = txs
                .iter()
                .map(|tx| Receipt {
                    tx_id: tx.id(SUITE),
                    outcome: Outcome::Accepted,
                })
                .collect();
            let mut writes = WriteSet::new();
            for i in 0..30 {
                let k = format!("rec/{}", (height * 13 + i * 7) % 200).into_bytes();
                writes.put(k, vec![height as u8; 40 + (i as usize * 37) % 300]);
            }
            ledger::state::StateStore::apply(&mut memory, &writes);
            commit_next(&store, txs, &receipts, &writes);
            states.push(store.state().scan_prefix(b""));
            match height {
                8 | 16 => store.flush_and_compact(),
                12 | 20 => store.engine.flush_all(),
                _ => {}
            }
        }
        store
            .save_proposal(25, 0, &store.block(24).unwrap().unwrap().to_bytes())
            .unwrap();
        let answers = |store: &Store| -> Result<Answers, StoreError> {
            let tip = store.tip()?.map_or(0, |t| t.height);
            let mut heights = Vec::new();
            for h in 1..=tip {
                heights.push((
                    store.block_bytes(h)?,
                    store.receipts(h)?,
                    store.certificate(h)?,
                ));
            }
            let state = store
                .engine
                .scan_prefix(Space::State, &[])
                .collect::<Result<Vec<_>, _>>()?;
            store.check_tip(SUITE)?;
            Ok(Answers {
                tip,
                heights,
                state,
            })
        };
        let written = answers(&store).unwrap();
        assert_eq!(written.tip, 24);
        drop(store);

        let files: Vec<_> = files_under(&dir)
            .into_iter()
            .filter(|f| std::fs::metadata(f).unwrap().len() > 0)
            .collect();
        let kinds = |name: &str| {
            files
                .iter()
                .filter(|f| f.to_string_lossy().contains(name))
                .count()
        };
        assert!(
            kinds(".jnl") > 0 && kinds("/tables/") > 0 && kinds("/blobs/") > 0 && kinds("/v") > 0,
            "every kind of file is there: {files:?}"
        );
        let (mut refused, mut earlier, mut failed_reads, mut same) = (0, 0, 0, 0);
        for file in &files {
            let len = std::fs::metadata(file).unwrap().len();
            for at in [0, len / 2, len - 1] {
                let trial = dir.with_extension("trial");
                let _ = std::fs::remove_dir_all(&trial);
                copy_dir(&dir, &trial);
                let damaged = trial.join(file.strip_prefix(&dir).unwrap());
                let mut bytes = std::fs::read(&damaged).unwrap();
                bytes[at as usize] ^= 0x5a;
                std::fs::write(&damaged, bytes).unwrap();
                let what = format!("{} at byte {at}", file.display());
                let opened = std::panic::catch_unwind(|| Store::open(&trial))
                    .unwrap_or_else(|_| panic!("{what}: opening panicked"));
                match opened {
                    Err(e) => {
                        let e = e.to_string();
                        assert!(
                            e.contains("--rebuild") || e.contains("start from an empty one"),
                            "{what}: refused without saying what to do: {e}"
                        );
                        refused += 1;
                    }
                    Ok(store) => match answers(&store) {
                        Err(_) => failed_reads += 1,
                        Ok(read) if read == written => same += 1,
                        Ok(read) => {
                            assert!(read.tip < written.tip, "{what}: other data at the tip");
                            assert_eq!(
                                read.heights[..],
                                written.heights[..read.tip as usize],
                                "{what}: other records"
                            );
                            assert_eq!(
                                read.state,
                                states[read.tip as usize - 1],
                                "{what}: another state at height {}",
                                read.tip
                            );
                            earlier += 1;
                        }
                    },
                }
                let _ = std::fs::remove_dir_all(&trial);
            }
        }
        eprintln!(
            "{} files, {} flips: {refused} refused, {earlier} opened at an earlier height, \
             {failed_reads} failed a read, {same} read as written",
            files.len(),
            files.len() * 3
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy_dir(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }

    #[test]
    fn one_transaction_and_its_receipt_read_alone_as_from_the_whole_block() {
        let (store, dir, _) = one_block("block-tx");
        let tx = |nonce: u64, enterprise: &str| {
            ledger::tx::SignedTx::unsigned(ledger::tx::TxBody {
                chain_id: Id::new("c").unwrap(),
                nonce,
                expires_at_height: 9,
                action: ledger::Action::FlagEnterprise(ledger::action::FlagEnterprise {
                    enterprise: Id::new(enterprise).unwrap(),
                    reason: ledger::Text::new("overdue elsewhere").unwrap(),
                }),
            })
        };
        let txs = vec![tx(1, "e"), tx(2, "a-longer-enterprise-id"), tx(3, "e3")];
        let receipts: Vec<Receipt> = txs
            .iter()
            .enumerate()
            .map(|(i, tx)| Receipt {
                tx_id: tx.id(SUITE),
                outcome: if i == 1 {
                    Outcome::Rejected(ledger::Code::UnknownParty)
                } else {
                    Outcome::Accepted
                },
            })
            .collect();
        let block = commit_next(&store, txs, &receipts, &WriteSet::new());
        let check = |store: &Store| {
            let outline = store.outline(2).unwrap().unwrap();
            assert_eq!(outline.header, block.header);
            assert_eq!((outline.txs, outline.rejected), (3, 1));
            for (i, (tx, receipt)) in block.txs.iter().zip(&receipts).enumerate() {
                let read = store.block_tx(2, i as u32).unwrap().unwrap();
                assert_eq!((&read.0, &read.1), (tx, receipt), "transaction {i}");
            }
            assert!(store.block_tx(2, 3).unwrap().is_none());
            assert!(store.block_tx(3, 0).unwrap().is_none());
            assert!(store.outline(3).unwrap().is_none());
        };
        check(&store);
        drop(store);
        let store = Store::open(&dir).unwrap();
        check(&store);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_fingerprint_is_held_until_the_last_id_that_shares_it_is_forgotten() {
        let mut ids = CommittedIds::default();
        let one = [1u8; 32];
        let mut twin = [1u8; 32];
        twin[31] = 2;
        assert!(!ids.may_hold(&one));
        ids.add(&one);
        assert!(ids.may_hold(&one));
        assert!(
            ids.may_hold(&twin),
            "a shared fingerprint sends the reader to the disk"
        );
        assert!(!ids.may_hold(&[3u8; 32]));
        ids.add(&twin);
        ids.remove(&one);
        assert!(ids.may_hold(&twin));
        ids.remove(&twin);
        assert!(!ids.may_hold(&twin));
        assert!(
            ids.counts.is_empty(),
            "no slot is kept for a forgotten fingerprint"
        );
    }
}
