//! Storage, behind the narrow [`Store`] API: two append-only segment logs of the node's
//! own ([`segments`]) for what a node writes in bulk once per height, sled for the small
//! per-height records and where the logs' records are, and a log-structured merge tree of
//! the node's own ([`lsm`]) for what it writes per transaction.
//!
//! **In the block log** (directory `blocks/`), one record per height each: the canonical
//! block, its canonical receipts, and the bounds of each transaction and receipt in those
//! two records. **In the state log** (directory `state-log/`), each height's batch of the
//! state store, kept until the state store's runs hold it and then removed a segment at a
//! time.
//!
//! **In sled**, one tree, each kind of record under a one-byte prefix: `b`, `r`, `d`
//! height → where the block, receipts and bounds are in the block log, `h` height → the
//! block's outline (header, transaction count, rejected count), `c` height → canonical
//! commit certificate, `y` (expiry height, height) → the ids that block remembers until
//! then (the rulebook's replay memory, `txid/…` and `txexp/…`, kept in this form:
//! [`replay`]), `g` (height, index) → the accepted governance change's tx id (the index of
//! the consortium's changes, R11), `i` block id → height, `e` month-end date → the
//! programmes' figures as of that day (`contracts::report::month_figures_with`, on the
//! state before the first block after the month end with the loans' figures from the loan
//! clocks below: what `audit report` computes from every loan), and `m` metadata (tip
//! height, tip id, state root, tip time; the genesis hash; the layout; where each log ends
//! after the tip's records).
//!
//! **In the state store** (directory `state/`), keyed the same way: `s` state key →
//! value (the rulebook's key/value map), `x` tx id → (height, index, expiry height), and
//! the readers' indexes (the console and the API, never the rulebook): `t` (record kind,
//! record id, height, index) → empty, the transactions that name a record
//! ([`ledger::Action::subjects`]); `f` (rate filing's state key, policy id) → empty, the
//! policies issued under each filing, `n` filing's state key → how many (u64); `o`
//! (organisation, column) → the organisation's running total of that column of `audit
//! report`'s organisation table (u128 fen; `contracts::report::organisation_contributions`,
//! kept from each block's writes, so no reader walks the policies or claims); `k`
//! (programme, day) → the outstanding principal of its active loans that fall overdue
//! after that day; and `q` (desk, insurer, programme, claim) → empty, the claims desk:
//! each claim open (a decision or payment due), or closed and, if paid late, also late,
//! with `q n` (desk, insurer, programme) → how many (u64), so that the desk reads its open
//! claims and one page of the closed ones, never every claim. sled's B-tree cost tens of
//! microseconds per key on these random keys and kept a record in memory for every page
//! it ever wrote; the tree costs a few and keeps a Bloom filter.
//!
//! **One commit, one durable write.** A decided block's records are appended to the logs
//! and synced; then its sled records, with the tip and where the logs now end, are one
//! `sled::Batch`, which sled applies atomically, flushed before [`Store::commit`]
//! returns; then its state store batch is applied to the state store's memtable. So a
//! node killed at any instant restarts with either all of a height or none of it: on
//! open, each log is cut back to the end sled names (dropping records a crash left after
//! it, whole or torn), and the state log's batches after the height the state store's
//! runs hold are applied again. This node's own proposals are kept in files of their
//! own, outside the chain.
//!
//! The state's committed-transaction ids (`txid/…`, [`contracts::chain::TXID_PREFIX`],
//! read from `x` and `y`) are also summarised in memory ([`CommittedIds`]), loaded when
//! the store opens and changed after each commit is durable: every transaction offered
//! to intake and every transaction of every block is looked up among them, almost always
//! to find it absent. Memory keeps only a count per 8-byte fingerprint of the id, so
//! "absent" is answered there and "perhaps present" is read from the disk. They are
//! bounded by the rulebook (an id is forgotten at its expiry height, at most
//! `tx_expiry_heights_max` heights on), so the memory they take is too.
//!
//! Nothing outside this file names sled or the state store, so either can be replaced.
//! A failing disk is not an operating error the node can work around: reads that fail
//! stop the process (the state view has no error channel, and answering "absent" for a
//! record that exists would fork the state root).

pub mod lsm;
mod replay;
pub mod segments;

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
use ledger::Date;

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

/// What the transaction index (`x`) keeps of a committed transaction: where it is, and the
/// expiry height it was signed with, which is how long the state remembers its id
/// ([`replay`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
struct TxIndexEntry {
    location: TxLocation,
    expires_at_height: u64,
}

/// A change to a programme's loan clocks: outstanding principal of active loans, summed
/// by the last day they are not overdue ([`contracts::loan::overdue_clock`]).
pub type LoanClockChange = (ledger::Id, Option<Date>, i128);

/// Where the claims desk files a claim (R7.5): open while a decision or a payment is due,
/// closed once paid or rejected, and, among the closed, paid late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Desk {
    Open,
    Closed,
    Late,
}

impl Desk {
    fn byte(self) -> u8 {
        match self {
            Desk::Open => b'o',
            Desk::Closed => b'c',
            Desk::Late => b'l',
        }
    }
}

/// One place of a claim on the claims desk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeskEntry {
    pub desk: Desk,
    pub insurer: ledger::Id,
    pub programme: ledger::Id,
    pub claim: ledger::Id,
}

/// A place a block gives a claim on the desk (`true`) or takes from it (`false`).
pub type DeskChange = (DeskEntry, bool);

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
    #[error("storage: {}", sled_reason(.0))]
    Sled(#[from] sled::Error),
    #[error("state storage: {}", io_reason(.0))]
    State(#[from] std::io::Error),
    #[error(
        "the database is corrupted ({0}); this node will not serve it. Move the data \
         directory away and start with an empty one: the node syncs from its peers"
    )]
    Corrupt(String),
    #[error("{0}")]
    Layout(String),
    #[error("height {height} does not follow the tip {tip}")]
    NotNext { height: u64, tip: u64 },
}

/// Everything one decided height writes.
pub struct Commit<'a> {
    pub block: &'a Block,
    /// The block's canonical bytes and the bounds of each transaction in them
    /// ([`Block::to_bytes_with_bounds`]), encoded once by whoever built or checked it.
    pub block_bytes: &'a [u8],
    pub tx_bounds: &'a [u32],
    pub certificate: &'a CommitCertificate,
    pub receipts: &'a [Receipt],
    pub writes: &'a WriteSet,
    /// The transaction ids, in block order.
    pub ids: &'a [TxId],
    /// Positions of the accepted governance changes in the block.
    pub changes: &'a [usize],
    /// What the accepted transactions decided, by their index in the block.
    pub decisions: &'a [(u32, Decision)],
    /// The month ends this block is the first block after, each with the programmes'
    /// figures as of that day (JSON), computed on the state before the block.
    pub months: &'a [(Date, Vec<u8>)],
    /// The policies this block issues, each with the state key of the filing that allowed
    /// its rate.
    pub filed: &'a [(Vec<u8>, ledger::Id)],
    /// What the block changes in the organisations' totals: (organisation, column, fen
    /// added, negative when taken away).
    pub organisations: &'a [(ledger::Id, &'static str, i128)],
    /// What the block changes in the programmes' loan clocks: (programme, the last day
    /// its loans are not overdue, principal fen added or taken away).
    pub loan_clocks: &'a [LoanClockChange],
    /// What the block changes on the claims desk.
    pub desk: &'a [DeskChange],
}

/// A storage failure in plain words: the operating system's reason for an I/O error
/// (such as "No space left on device"), with what to do about the common ones.
fn sled_reason(e: &sled::Error) -> String {
    match e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => format!(
            "{io}: the data directory's disk is full; this node stops before writing a \
             decision in part. Free space and start it again: it resumes from what it wrote \
             and catches up"
        ),
        sled::Error::Io(io) => format!("I/O error: {io}"),
        sled::Error::Corruption { .. } => format!(
            "the database is corrupted ({e}); this node will not serve it. Move the data \
             directory away and start with an empty one: the node syncs from its peers"
        ),
        other => other.to_string(),
    }
}

/// A state-store failure in the same plain words as [`sled_reason`].
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::StorageFull => format!(
            "{e}: the data directory's disk is full; this node stops before writing a \
             decision in part. Free space and start it again: it resumes from what it wrote \
             and catches up"
        ),
        std::io::ErrorKind::InvalidData => format!(
            "the database is corrupted ({e}); this node will not serve it. Move the data \
             directory away and start with an empty one: the node syncs from its peers"
        ),
        _ => format!("I/O error: {e}"),
    }
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// The state and the per-transaction indexes ([`lsm`]), under [`STATE_DIR`].
    lsm: lsm::Lsm,
    /// Blocks, receipts and their bounds, one record each per height ([`segments`]),
    /// under [`BLOCKS_DIR`]; sled keeps where each is.
    blocks: Arc<segments::SegmentLog>,
    /// Each height's batch of the state store, until the store's runs hold it, under
    /// [`STATE_LOG_DIR`].
    state_log: Arc<segments::SegmentLog>,
    /// The chain: blocks, certificates, receipts, indexes, state and metadata.
    main: sled::Tree,
    /// This node's own proposals, a file each named by (height, round), kept until the
    /// height is committed, so that a proposer restarted mid-height proposes the same
    /// block again instead of signing a second, different one for the same round.
    proposals: std::path::PathBuf,
    /// Equivocation this node saw (not chain data: what this node observed, each piece
    /// verifiable by anyone from its signatures), by (height, validator, digest).
    evidence: sled::Tree,
    /// The state's `txid/<id>` entries, summarised (see the module notes).
    committed_ids: Arc<RwLock<CommittedIds>>,
}

/// How many of the state's `txid/<id>` entries there are for each 8-byte fingerprint of
/// an id (its first bytes: ids are BLAKE3 hashes). A fingerprint that is not counted
/// proves the id absent; one that is counted sends the reader to the disk, which is the
/// authority, so a shared fingerprint costs one read and never a wrong answer.
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

const BLOCK: u8 = b'b';
const CERTIFICATE: u8 = b'c';
const RECEIPTS: u8 = b'r';
const TX_INDEX: u8 = b'x';
const GOVERNANCE: u8 = b'g';
const STATE: u8 = b's';
const META: u8 = b'm';
const BLOCK_ID_INDEX: u8 = b'i';
const SUBJECT_INDEX: u8 = b't';
const MONTH_END: u8 = b'e';
const FILING_POLICIES: u8 = b'f';
const FILING_COUNT: u8 = b'n';
const ORG_TOTALS: u8 = b'o';
const BLOCK_BOUNDS: u8 = b'd';
const LOAN_CLOCKS: u8 = b'k';
const CLAIM_DESK: u8 = b'q';
/// Under [`CLAIM_DESK`], the count of each (desk, insurer, programme).
const DESK_COUNT: u8 = b'n';
/// `h` height → the block's outline (header, transaction count, rejected count).
const OUTLINE: u8 = b'h';
/// `v` height → what the block's transactions decided (`contracts::decision`), by index;
/// absent for a block that decided nothing.
const DECISIONS: u8 = b'v';
/// The state store's directory, inside the data directory.
const STATE_DIR: &str = "state";
/// The block log's directory.
const BLOCKS_DIR: &str = "blocks";
/// The state log's directory.
const STATE_LOG_DIR: &str = "state-log";
/// The directory of this node's own proposals.
const PROPOSALS_DIR: &str = "proposals";
/// Segments of the block log close at this size; of the state log at this one.
/// (Tests close a segment after every height, so that rotation and removal are exercised.)
const BLOCK_SEGMENT_BYTES: u64 = if cfg!(test) { 1 } else { 256 * 1024 * 1024 };
const STATE_LOG_SEGMENT_BYTES: u64 = if cfg!(test) { 1 } else { 64 * 1024 * 1024 };
/// A height's batch of the state store is at most this long when read back.
const STATE_LOG_BYTES_MAX: usize = segments::RECORD_BYTES_MAX;

fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + rest.len());
    key.push(prefix);
    key.extend_from_slice(rest);
    key
}

fn height_key(prefix: u8, height: u64) -> Vec<u8> {
    key(prefix, &height.to_be_bytes())
}

const META_TIP: &[u8] = b"tip";
const META_GENESIS: &[u8] = b"genesis";
/// The layout of the data directory; a store of another layout is refused.
const META_LAYOUT: &[u8] = b"layout";
/// Where the block log and the state log end after the tip's records.
const META_BLOCKS_END: &[u8] = b"blocks-end";
const META_STATE_LOG_END: &[u8] = b"state-log-end";
/// The first height whose decisions this store keeps (a store written before it kept
/// them has none for the heights below).
const META_DECISIONS_FROM: &[u8] = b"decisions-from";
const LAYOUT: &[u8] = b"xinbao-store/9";

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

/// The size of sled's cache. sled counts it in on-disk bytes, and the pages it caches take
/// several times that in memory, so its default (1 GiB) let a node under steady load grow
/// past a gigabyte; the hot records (recent blocks, the indexes' ends, the state a block
/// touches) fit well within this.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let main = db.open_tree("chain")?;
        match main.get(key(META, META_LAYOUT))? {
            Some(layout) if layout.as_ref() != LAYOUT => {
                return Err(StoreError::Layout(format!(
                    "the data directory is of layout {:?}, this node writes {:?}: start \
                     from an empty one (the node syncs from its peers)",
                    String::from_utf8_lossy(&layout),
                    String::from_utf8_lossy(LAYOUT)
                )))
            }
            Some(_) => {}
            None if db.tree_names().iter().any(|t| t.as_ref() == b"blocks") => {
                return Err(StoreError::Layout(
                    "the data directory is of an earlier layout: start from an empty one (the node syncs from its peers)".into(),
                ))
            }
            None => {}
        }
        let lsm = lsm::Lsm::open(&path.join(STATE_DIR))?;
        let blocks = Arc::new(segments::SegmentLog::open(
            &path.join(BLOCKS_DIR),
            BLOCK_SEGMENT_BYTES,
        )?);
        let state_log = Arc::new(segments::SegmentLog::open(
            &path.join(STATE_LOG_DIR),
            STATE_LOG_SEGMENT_BYTES,
        )?);
        // What a crash left after the last committed height's records goes.
        let end_of = |name: &[u8]| -> Result<Option<segments::End>, StoreError> {
            main.get(key(META, name))?
                .map(|v| {
                    segments::End::from_bytes(&v)
                        .ok_or_else(|| StoreError::Corrupt("a log end".into()))
                })
                .transpose()
        };
        blocks.truncate(end_of(META_BLOCKS_END)?)?;
        state_log.truncate(end_of(META_STATE_LOG_END)?)?;
        let mut ids = CommittedIds::default();
        for entry in main.scan_prefix([replay::BUCKETS]) {
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
            evidence: db.open_tree("evidence")?,
            main,
            db,
            lsm,
            blocks,
            state_log,
        };
        let tip = store.tip()?;
        if let Some(tip) = tip {
            store.committed_ids.write().expect("no writer panics").tip = tip.height;
        }
        store.replay_state_log(tip.map(|t| t.height))?;
        if store.main.get(key(META, META_DECISIONS_FROM))?.is_none() {
            let from = tip.map_or(1, |t| t.height + 1);
            store
                .main
                .insert(key(META, META_DECISIONS_FROM), &from.to_be_bytes()[..])?;
            store.db.flush()?;
        }
        Ok(store)
    }

    /// Applies to the state store the batches of the heights after those its runs hold,
    /// from the state log, up to the tip; forgets those it holds.
    fn replay_state_log(&self, tip: Option<u64>) -> Result<(), StoreError> {
        let flushed = self.lsm.flushed_height();
        let (Some(tip), from) = (tip, flushed.map_or(0, |h| h + 1)) else {
            return Ok(());
        };
        if flushed.is_some_and(|f| f > tip) {
            return Err(StoreError::Corrupt(format!(
                "the state store holds height {}, beyond the tip {tip}",
                flushed.unwrap_or_default()
            )));
        }
        let mut next = from;
        if let Some(end) = self.state_log.end() {
            for (height, bytes) in self.state_log.records_from(from, end)? {
                if height != next {
                    return Err(StoreError::Corrupt(format!(
                        "the state log skips from height {next} to {height}"
                    )));
                }
                let writes: Vec<lsm::Write> = codec::decode_own(&bytes, STATE_LOG_BYTES_MAX)
                    .map_err(|e| {
                        StoreError::Corrupt(format!("the state log of height {height}: {e}"))
                    })?;
                self.lsm.apply(writes, height)?;
                next += 1;
            }
        }
        if next != tip + 1 {
            return Err(StoreError::Corrupt(format!(
                "the state log ends at height {}, the tip is {tip}",
                next.wrapping_sub(1)
            )));
        }
        self.forget_state_log()
    }

    /// Removes the state log's segments that hold only batches the state store's runs
    /// hold durably.
    fn forget_state_log(&self) -> Result<(), StoreError> {
        if let Some(flushed) = self.lsm.flushed_height() {
            self.state_log.remove_below(flushed + 1)?;
        }
        Ok(())
    }

    /// Writes `changes` to the claims desk and its counts into `batch`.
    fn file_on_desk(
        &self,
        changes: &[DeskChange],
        batch: &mut Vec<lsm::Write>,
    ) -> Result<(), StoreError> {
        let mut counts: std::collections::BTreeMap<Vec<u8>, i64> = Default::default();
        for (entry, added) in changes {
            let k = desk_key(
                entry.desk,
                Some(entry.insurer.as_str()),
                Some(entry.programme.as_str()),
                Some(entry.claim.as_str()),
            );
            batch.push((k, added.then(Vec::new)));
            *counts
                .entry(desk_count_key(
                    entry.desk,
                    entry.insurer.as_str(),
                    entry.programme.as_str(),
                ))
                .or_default() += if *added { 1 } else { -1 };
        }
        for (k, delta) in counts {
            let before = self.lsm.get(&k)?.map_or(Ok(0), |v| be_number::<8>(&v))?;
            let after = u64::try_from(before as i128 + i128::from(delta)).map_err(|_| {
                StoreError::Corrupt("a count of the claims desk would fall below zero".into())
            })?;
            batch.push((k, (after != 0).then(|| after.to_be_bytes().to_vec())));
        }
        Ok(())
    }

    /// The genesis hash this store was initialised with, if any.
    pub fn genesis_hash(&self) -> Result<Option<Hash32>, StoreError> {
        Ok(self.main.get(key(META, META_GENESIS))?.map(|v| {
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
        if let Some((k, _)) = writes.iter().find(|(k, _)| replay::is_replay_key(k)) {
            return Err(StoreError::Corrupt(format!(
                "a genesis that remembers a transaction: {}",
                hex::encode(k)
            )));
        }
        let state: Vec<lsm::Write> = writes
            .iter()
            .map(|(k, value)| (key(STATE, k), value.clone()))
            .collect();
        self.state_log
            .append(tip.height, &[&codec::encode(&state)])?;
        self.state_log.sync()?;
        let mut batch = sled::Batch::default();
        batch.insert(key(META, META_LAYOUT), LAYOUT);
        batch.insert(key(META, META_GENESIS), &genesis_hash[..]);
        batch.insert(key(META, META_TIP), codec::encode(&TipRecord::from(tip)));
        if let Some(end) = self.state_log.end() {
            batch.insert(key(META, META_STATE_LOG_END), &end.to_bytes()[..]);
        }
        self.main.apply_batch(batch)?;
        self.db.flush()?;
        self.lsm.apply(state, tip.height)?;
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
        match self.main.get(key(META, META_TIP))? {
            None => Ok(None),
            Some(bytes) => {
                let record: TipRecord = codec::decode_own(&bytes, RECORD_BYTES_MAX)
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
        let (due_keys, due) = self.bucket(height - 1)?;
        let replay = replay::split(commit.writes, height, commit.ids, &due)?;
        let mut batch = sled::Batch::default();
        let (block_bytes, tx_bounds) = (commit.block_bytes, commit.tx_bounds);
        let mut receipt_bytes = Vec::new();
        let receipt_bounds = codec::encode_list_with_bounds(commit.receipts, &mut receipt_bytes);
        let rejected = rejected(commit.receipts) as u32;
        let bounds = codec::encode(&BlockBounds {
            txs: tx_bounds.to_vec(),
            receipts: receipt_bounds,
            rejected,
        });
        let at = self
            .blocks
            .append(height, &[block_bytes, &receipt_bytes, &bounds])?;
        for (prefix, location) in [BLOCK, RECEIPTS, BLOCK_BOUNDS].into_iter().zip(&at) {
            batch.insert(height_key(prefix, height), &location.to_bytes()[..]);
        }
        batch.insert(
            height_key(OUTLINE, height),
            codec::encode(&Outline {
                header: commit.block.header.clone(),
                txs: commit.block.txs.len() as u64,
                rejected,
            }),
        );
        batch.insert(
            height_key(CERTIFICATE, height),
            commit.certificate.to_bytes(),
        );
        // What goes to the state store ([`lsm`]): everything written per transaction.
        let mut state: Vec<lsm::Write> =
            Vec::with_capacity(commit.writes.len() + 4 * commit.ids.len());
        for (i, id) in commit.ids.iter().enumerate() {
            let entry = TxIndexEntry {
                location: TxLocation {
                    height,
                    index: i as u32,
                },
                // An id not remembered is never present (every tip is above 0).
                expires_at_height: replay.expiries.get(&id.0).copied().unwrap_or(0),
            };
            state.push((key(TX_INDEX, &id.0), Some(codec::encode(&entry))));
        }
        for (expiry, ids) in &replay.added {
            batch.insert(
                replay::bucket_key(*expiry, height),
                replay::bucket_value(ids),
            );
        }
        if replay.forgotten.is_some() {
            for k in due_keys {
                batch.remove(k);
            }
        }
        batch.insert(
            key(BLOCK_ID_INDEX, &commit.certificate.block_id.0),
            &height.to_be_bytes()[..],
        );
        for (i, tx) in commit.block.txs.iter().enumerate() {
            for (kind, id) in tx.body.action.subjects() {
                state.push((
                    subject_key(kind, id.as_str(), height, i as u32),
                    Some(Vec::new()),
                ));
            }
        }
        for (date, figures) in commit.months {
            batch.insert(key(MONTH_END, &day_key(*date)), figures.as_slice());
        }
        let mut counts: std::collections::BTreeMap<&[u8], u64> = Default::default();
        for (filing, policy) in commit.filed {
            state.push((filing_policy_key(filing, policy.as_str()), Some(Vec::new())));
            *counts.entry(filing.as_slice()).or_default() += 1;
        }
        for (filing, added) in counts {
            let k = key(FILING_COUNT, filing);
            let before = self.lsm.get(&k)?.map_or(Ok(0), |v| be_number::<8>(&v))?;
            state.push((k, Some((before as u64 + added).to_be_bytes().to_vec())));
        }
        let mut deltas: std::collections::BTreeMap<(&str, &str), i128> = Default::default();
        for (org, column, delta) in commit.organisations {
            *deltas.entry((org.as_str(), column)).or_default() += delta;
        }
        for ((org, column), delta) in deltas {
            let k = org_total_key(org, column);
            let before = self.lsm.get(&k)?.map_or(Ok(0), |v| be_number::<16>(&v))?;
            let after = u128::try_from(before as i128 + delta).map_err(|_| {
                StoreError::Corrupt(format!("{org}'s {column} would fall below zero"))
            })?;
            state.push((k, Some(after.to_be_bytes().to_vec())));
        }
        let mut clocks: std::collections::BTreeMap<Vec<u8>, i128> = Default::default();
        for (programme, late_after, delta) in commit.loan_clocks {
            *clocks
                .entry(loan_clock_key(programme.as_str(), *late_after))
                .or_default() += delta;
        }
        for (k, delta) in clocks {
            let before = self.lsm.get(&k)?.map_or(Ok(0), |v| be_number::<16>(&v))?;
            let after = u128::try_from(before as i128 + delta).map_err(|_| {
                StoreError::Corrupt("a programme's loan clock would fall below zero".into())
            })?;
            state.push((k, (after != 0).then(|| after.to_be_bytes().to_vec())));
        }
        self.file_on_desk(commit.desk, &mut state)?;
        if !commit.decisions.is_empty() {
            batch.insert(
                height_key(DECISIONS, height),
                codec::encode(&commit.decisions.to_vec()),
            );
        }
        for &index in commit.changes {
            batch.insert(
                key(GOVERNANCE, &change_key(height, index as u32)),
                &commit.ids[index].0[..],
            );
        }
        for (k, value) in commit.writes.iter() {
            if replay::is_replay_key(k) {
                continue;
            }
            state.push((key(STATE, k), value.clone()));
        }
        self.state_log.append(height, &[&codec::encode(&state)])?;
        // The logs first, then sled, which names the height committed and where the logs
        // end: a crash in between leaves records that the next open cuts away.
        self.blocks.sync()?;
        self.state_log.sync()?;
        for (name, end) in [
            (META_BLOCKS_END, self.blocks.end()),
            (META_STATE_LOG_END, self.state_log.end()),
        ] {
            if let Some(end) = end {
                batch.insert(key(META, name), &end.to_bytes()[..]);
            }
        }
        batch.insert(key(META, META_TIP), codec::encode(&TipRecord::from(tip)));
        self.main.apply_batch(batch)?;
        self.db.flush()?;
        // Durable now: what the tree holds in memory is replayed from the log after a crash.
        self.lsm.apply(state, height)?;
        self.remember_ids(commit.writes, height);
        self.forget_state_log()?;
        Ok(())
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        self.read(BLOCK, height, |b| codec::decode_own(b, RECORD_BYTES_MAX))
    }

    /// The canonical bytes of the block at `height` (what sync serves).
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.logged(BLOCK, height)
    }

    /// The record of kind `prefix` (block, receipts, bounds) of `height` from the block
    /// log, where sled says it is.
    fn logged(&self, prefix: u8, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(at) = self.main.get(height_key(prefix, height))? else {
            return Ok(None);
        };
        let at = segments::Location::from_bytes(&at)
            .ok_or_else(|| StoreError::Corrupt(format!("height {height}: a record's place")))?;
        Ok(Some(self.blocks.read(at)?))
    }

    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StoreError> {
        match self.main.get(height_key(CERTIFICATE, height))? {
            None => Ok(None),
            Some(bytes) => codec::decode_own(&bytes, RECORD_BYTES_MAX)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("height {height}: {e}"))),
        }
    }

    pub fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StoreError> {
        self.read(RECEIPTS, height, |b| codec::decode_own(b, RECORD_BYTES_MAX))
    }

    /// What the transactions of the block at `height` decided, by their index in it, or
    /// `None` for a height this store did not keep them for (written by a node before it
    /// kept them).
    pub fn decisions(&self, height: u64) -> Result<Option<Vec<(u32, Decision)>>, StoreError> {
        let from = match self.main.get(key(META, META_DECISIONS_FROM))? {
            Some(v) => be_number::<8>(&v)? as u64,
            None => 1,
        };
        if height < from {
            return Ok(None);
        }
        match self.main.get(height_key(DECISIONS, height))? {
            None => Ok(Some(Vec::new())),
            Some(bytes) => codec::decode_own(&bytes, RECORD_BYTES_MAX)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("height {height}: decisions: {e}"))),
        }
    }

    /// The header of the block at `height`, its number of transactions and how many of
    /// them the rulebook rejected, without decoding the transactions.
    pub fn outline(&self, height: u64) -> Result<Option<BlockOutline>, StoreError> {
        let Some(bytes) = self.main.get(height_key(OUTLINE, height))? else {
            return Ok(None);
        };
        let outline: Outline = codec::decode_own(&bytes, RECORD_BYTES_MAX)
            .map_err(|e| StoreError::Corrupt(format!("height {height}: {e}")))?;
        Ok(Some(BlockOutline {
            header: outline.header,
            txs: outline.txs,
            rejected: outline.rejected as usize,
        }))
    }

    /// Transaction `index` of the block at `height` and its receipt, decoded alone: the
    /// block's records are cut at the bounds kept beside them (a block stored without
    /// them is decoded whole).
    pub fn block_tx(
        &self,
        height: u64,
        index: u32,
    ) -> Result<Option<(SignedTx, Receipt)>, StoreError> {
        let Some(bounds) = self.bounds(height)? else {
            let (Some(block), Some(receipts)) = (self.block(height)?, self.receipts(height)?)
            else {
                return Ok(None);
            };
            let i = index as usize;
            return Ok(block.txs.get(i).cloned().zip(receipts.get(i).cloned()));
        };
        let (Some(block), Some(receipts)) =
            (self.logged(BLOCK, height)?, self.logged(RECEIPTS, height)?)
        else {
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
        self.read(BLOCK_BOUNDS, height, |b| {
            codec::decode_own(b, RECORD_BYTES_MAX)
        })
    }

    pub fn tx_location(&self, id: &TxId) -> Result<Option<TxLocation>, StoreError> {
        Ok(tx_index_entry(&self.lsm, &id.0)?.map(|e| e.location))
    }

    /// The records of the expiry bucket of `expiry` and the ids in them, as stored
    /// ([`replay`]).
    fn bucket(&self, expiry: u64) -> Result<(Vec<sled::IVec>, Vec<[u8; 32]>), StoreError> {
        let (mut keys, mut ids) = (Vec::new(), Vec::new());
        for entry in self.main.scan_prefix(replay::bucket_prefix(expiry)) {
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
        self.main
            .range(key(GOVERNANCE, &change_key(from_height, 0))..key(GOVERNANCE + 1, &[]))
            .take(limit)
            .map(|entry| {
                let (k, value) = entry?;
                let key = &k[1..];
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

    /// The height of the committed block with this id.
    pub fn height_of(&self, id: &BlockId) -> Result<Option<u64>, StoreError> {
        match self.main.get(key(BLOCK_ID_INDEX, &id.0))? {
            None => Ok(None),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| StoreError::Corrupt("a block id index entry".into())),
        }
    }

    /// The transactions that name the record `kind`/`id`, newest first, from before
    /// `before` (a location; `None` from the newest), at most `limit`.
    pub fn subject_txs(
        &self,
        kind: &str,
        id: &str,
        before: Option<TxLocation>,
        limit: usize,
    ) -> Result<Vec<TxLocation>, StoreError> {
        let start = subject_key(kind, id, 0, 0);
        let end = match before {
            Some(at) => subject_key(kind, id, at.height, at.index),
            None => subject_key(kind, id, u64::MAX, u32::MAX),
        };
        let prefix_len = start.len() - 12;
        self.lsm
            .range(Some(&start), Some(&end), true)
            .take(limit)
            .map(|entry| {
                let (k, _) = entry?;
                let at = &k[prefix_len..];
                let height = <[u8; 8]>::try_from(&at[..8]).expect("eight bytes");
                let index = <[u8; 4]>::try_from(&at[8..]).expect("four bytes");
                Ok(TxLocation {
                    height: u64::from_be_bytes(height),
                    index: u32::from_be_bytes(index),
                })
            })
            .collect()
    }

    /// Whether any committed transaction names the record `kind`/`id`.
    pub fn has_subject(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        Ok(!self.subject_txs(kind, id, None, 1)?.is_empty())
    }

    /// The policies issued under the rate filing at state key `filing`, in id order: the
    /// page from `offset` of at most `limit`, and how many there are in all.
    pub fn filing_policies(
        &self,
        filing: &[u8],
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<String>, usize), StoreError> {
        let total = self
            .lsm
            .get(&key(FILING_COUNT, filing))?
            .map_or(Ok(0), |v| be_number::<8>(&v))? as usize;
        if limit == 0 || offset >= total {
            return Ok((Vec::new(), total));
        }
        let prefix = filing_policy_key(filing, "");
        let mut page = Vec::new();
        for entry in self.lsm.scan_prefix(&prefix).skip(offset).take(limit) {
            let (k, _) = entry?;
            let id = std::str::from_utf8(&k[prefix.len()..])
                .map_err(|_| StoreError::Corrupt("a filing's policy index entry".into()))?;
            page.push(id.to_string());
        }
        Ok((page, total))
    }

    /// The organisations' running totals, per organisation and column of
    /// [`contracts::report::ORGANISATION_COLUMNS`].
    pub fn organisation_sums(
        &self,
    ) -> Result<
        std::collections::BTreeMap<ledger::Id, std::collections::BTreeMap<&'static str, u128>>,
        StoreError,
    > {
        let corrupt = || StoreError::Corrupt("an organisation's total".into());
        let mut sums: std::collections::BTreeMap<_, std::collections::BTreeMap<_, _>> =
            Default::default();
        for entry in self.lsm.scan_prefix(&[ORG_TOTALS]) {
            let (k, v) = entry?;
            let text = std::str::from_utf8(&k[1..]).map_err(|_| corrupt())?;
            let (org, column) = text.split_once('\0').ok_or_else(corrupt)?;
            let column = contracts::report::ORGANISATION_COLUMNS
                .into_iter()
                .find(|c| *c == column)
                .ok_or_else(corrupt)?;
            let org = ledger::Id::new(org).map_err(|_| corrupt())?;
            sums.entry(org)
                .or_default()
                .insert(column, be_number::<16>(&v)?);
        }
        Ok(sums)
    }

    /// A programme's active loans' outstanding principal, and the part of it overdue on
    /// `date`, from its loan clocks: a read of one entry per day on which some loan
    /// becomes overdue, not of every loan.
    pub fn programme_principal(
        &self,
        programme: &ledger::Id,
        date: Date,
    ) -> Result<(u128, u128), StoreError> {
        let prefix = loan_clock_key(programme.as_str(), None);
        let prefix = &prefix[..prefix.len() - 4];
        let late = loan_clock_key(programme.as_str(), Some(date));
        let (mut outstanding, mut overdue) = (0u128, 0u128);
        for entry in self.lsm.scan_prefix(prefix) {
            let (k, v) = entry?;
            let fen = be_number::<16>(&v)?;
            outstanding += fen;
            // Overdue on `date`: the last day not overdue is before it.
            if k.as_slice() < late.as_slice() {
                overdue += fen;
            }
        }
        Ok((outstanding, overdue))
    }

    /// A programme's R5 figures as of `date`, with its loans' figures from the loan clocks
    /// ([`Store::programme_principal`]): the same figures as `contracts::programme::figures`,
    /// without reading every loan.
    pub fn programme_figures(
        &self,
        id: &ledger::Id,
        programme: &contracts::store::Programme,
        date: Date,
    ) -> Result<contracts::programme::Figures, StoreError> {
        let (outstanding, overdue) = self.programme_principal(id, date)?;
        Ok(contracts::programme::figures_from(
            programme,
            outstanding,
            overdue,
        ))
    }

    /// The claims on `desk`, of one insurer's or one programme's when they are named (a
    /// programme with its insurer), in (insurer, programme, claim) order: the page from
    /// `offset` of at most `limit`.
    pub fn desk_claims(
        &self,
        desk: Desk,
        insurer: Option<&str>,
        programme: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<ledger::Id>, StoreError> {
        let prefix = desk_key(desk, insurer, insurer.and(programme), None);
        let corrupt = || StoreError::Corrupt("a claims desk entry".into());
        let mut page = Vec::new();
        for entry in self.lsm.scan_prefix(&prefix).skip(offset).take(limit) {
            let (k, _) = entry?;
            let id = k.rsplit(|b| *b == 0).next().ok_or_else(corrupt)?;
            let id = std::str::from_utf8(id).map_err(|_| corrupt())?;
            page.push(ledger::Id::new(id).map_err(|_| corrupt())?);
        }
        Ok(page)
    }

    /// How many claims each insurer has on `desk`, of one insurer or one programme when
    /// they are named (a programme with its insurer): a read of one count per programme.
    pub fn desk_counts(
        &self,
        desk: Desk,
        insurer: Option<&str>,
        programme: Option<&str>,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut prefix = vec![CLAIM_DESK, DESK_COUNT, desk.byte()];
        if let Some(insurer) = insurer {
            prefix.extend_from_slice(insurer.as_bytes());
            prefix.push(0);
        }
        let corrupt = || StoreError::Corrupt("a count of the claims desk".into());
        let mut counts = std::collections::BTreeMap::new();
        for entry in self.lsm.scan_prefix(&prefix) {
            let (k, v) = entry?;
            let text = std::str::from_utf8(&k[3..]).map_err(|_| corrupt())?;
            let (of, of_programme) = text.split_once('\0').ok_or_else(corrupt)?;
            if programme.is_some_and(|p| p != of_programme) {
                continue;
            }
            *counts.entry(of.to_string()).or_default() += be_number::<8>(&v)? as u64;
        }
        Ok(counts)
    }

    /// The month ends recorded, in date order, each with the programmes' figures (JSON).
    pub fn month_ends(&self) -> Result<Vec<(Date, Vec<u8>)>, StoreError> {
        self.main
            .scan_prefix([MONTH_END])
            .map(|entry| {
                let (k, v) = entry?;
                let days = <[u8; 4]>::try_from(&k[1..])
                    .map_err(|_| StoreError::Corrupt("a month-end key".into()))?;
                let date = Date::from_days((u32::from_be_bytes(days) ^ 0x8000_0000) as i32)
                    .map_err(|e| StoreError::Corrupt(format!("a month-end key: {e}")))?;
                Ok((date, v.to_vec()))
            })
            .collect()
    }

    fn read<T>(
        &self,
        prefix: u8,
        height: u64,
        decode: impl Fn(&[u8]) -> Result<T, codec::CodecError>,
    ) -> Result<Option<T>, StoreError> {
        match self.logged(prefix, height)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("height {height}: {e}"))),
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
        let mut new = 0;
        for piece in evidence {
            let json = serde_json::to_vec(piece).expect("evidence serialises");
            let mut key = piece.height().to_be_bytes().to_vec();
            key.extend_from_slice(piece.validator().as_bytes());
            key.extend_from_slice(blake3::hash(&json).as_bytes());
            if self.evidence.insert(key, json)?.is_none() {
                new += 1;
            }
        }
        if new > 0 {
            self.evidence.flush()?;
        }
        Ok(new)
    }

    /// Up to `limit` pieces of evidence from `from_height` on, in height order.
    pub fn evidence(&self, from_height: u64, limit: usize) -> Result<Vec<DoubleVote>, StoreError> {
        self.evidence
            .range(from_height.to_be_bytes().as_slice()..)
            .values()
            .take(limit)
            .map(|value| {
                let value = value?;
                serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// How many pieces of evidence are kept.
    pub fn evidence_count(&self) -> usize {
        self.evidence.len()
    }

    /// The committed state, read through the rulebook's trait.
    pub fn state(&self) -> StoreState<'_> {
        StoreState {
            tree: &self.main,
            lsm: &self.lsm,
            committed_ids: &self.committed_ids,
        }
    }

    /// The state store's figures, for the node's metrics.
    pub fn state_stats(&self) -> lsm::Stats {
        self.lsm.stats()
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
fn tx_index_entry(lsm: &lsm::Lsm, id: &[u8; 32]) -> Result<Option<TxIndexEntry>, StoreError> {
    match lsm.get(&key(TX_INDEX, id))? {
        None => Ok(None),
        Some(bytes) => codec::decode_own(&bytes, 64)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string())),
    }
}

/// The transaction id a state key remembers, if it is a `txid/<id>` key.
fn committed_id(k: &[u8]) -> Option<[u8; 32]> {
    k.strip_prefix(TXID_PREFIX)?.try_into().ok()
}

/// `o` organisation NUL column.
fn org_total_key(org: &str, column: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + org.len() + column.len());
    k.push(ORG_TOTALS);
    k.extend_from_slice(org.as_bytes());
    k.push(0);
    k.extend_from_slice(column.as_bytes());
    k
}

/// A big-endian number of `N` bytes (at most 16) from an index entry.
fn be_number<const N: usize>(bytes: &[u8]) -> Result<u128, StoreError> {
    let bytes: [u8; N] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("an index count is not a number".into()))?;
    Ok(bytes.iter().fold(0u128, |n, b| n << 8 | u128::from(*b)))
}

/// `f` filing key NUL policy id (a filing's key ends with its hash in hex, so no two
/// filings' entries run into each other).
fn filing_policy_key(filing: &[u8], policy: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + filing.len() + policy.len());
    k.push(FILING_POLICIES);
    k.extend_from_slice(filing);
    k.push(0);
    k.extend_from_slice(policy.as_bytes());
    k
}

/// A date as a key that sorts as dates do (days since the epoch, sign bit flipped).
/// `k` programme NUL day: the day is [`day_key`] of the last day not overdue, or all ones
/// for loans that do not fall overdue before their record changes (after every date).
fn loan_clock_key(programme: &str, late_after: Option<Date>) -> Vec<u8> {
    let mut k = Vec::with_capacity(programme.len() + 6);
    k.push(LOAN_CLOCKS);
    k.extend_from_slice(programme.as_bytes());
    k.push(0);
    k.extend_from_slice(&late_after.map_or([0xff; 4], day_key));
    k
}

/// A loan record's place in its programme's loan clocks, if it is active.
pub fn loan_clock(record: &[u8]) -> Option<(ledger::Id, Option<Date>, u64)> {
    let clock = contracts::loan::overdue_clock(record)?;
    let programme = contracts::store::loan_programme(record)?;
    Some((
        ledger::Id::new(programme).ok()?,
        clock.late_after,
        clock.principal.0,
    ))
}

/// `q` desk insurer NUL programme NUL claim, or the prefix of it up to the first part
/// not given (each given part ends with its NUL but the claim).
fn desk_key(
    desk: Desk,
    insurer: Option<&str>,
    programme: Option<&str>,
    claim: Option<&str>,
) -> Vec<u8> {
    let mut k = vec![CLAIM_DESK, desk.byte()];
    for part in [insurer, programme].into_iter().map_while(|p| p) {
        k.extend_from_slice(part.as_bytes());
        k.push(0);
    }
    if let (Some(_), Some(_), Some(claim)) = (insurer, programme, claim) {
        k.extend_from_slice(claim.as_bytes());
    }
    k
}

/// `q` `n` desk insurer NUL programme: how many claims of the programme are on the desk.
fn desk_count_key(desk: Desk, insurer: &str, programme: &str) -> Vec<u8> {
    let mut k = vec![CLAIM_DESK, DESK_COUNT, desk.byte()];
    k.extend_from_slice(insurer.as_bytes());
    k.push(0);
    k.extend_from_slice(programme.as_bytes());
    k
}

/// The places on the claims desk of the claim record `value` at state key `key`, with
/// its programme's insurer read from `state`: open, or closed and perhaps late.
pub fn desk_entries(state: &dyn StateView, key: &[u8], value: &[u8]) -> Vec<DeskEntry> {
    use contracts::store::{keys, Claim, ClaimStatus, Programme};
    let Some(claim) = std::str::from_utf8(&key[keys::CLAIM.len()..])
        .ok()
        .and_then(|id| ledger::Id::new(id).ok())
    else {
        return Vec::new();
    };
    let record: Claim = contracts::store::decode_record(value);
    let Some(programme) =
        contracts::store::read::<Programme>(state, &keys::programme(&record.programme))
    else {
        return Vec::new();
    };
    let desks: &[Desk] = match record.status {
        ClaimStatus::Filed | ClaimStatus::AwaitingDocuments | ClaimStatus::Approved => {
            &[Desk::Open]
        }
        _ if record.late => &[Desk::Closed, Desk::Late],
        _ => &[Desk::Closed],
    };
    desks
        .iter()
        .map(|&desk| DeskEntry {
            desk,
            insurer: programme.terms.insurer.clone(),
            programme: record.programme.clone(),
            claim: claim.clone(),
        })
        .collect()
}

fn day_key(date: Date) -> [u8; 4] {
    ((date.days_since_epoch() as u32) ^ 0x8000_0000).to_be_bytes()
}

/// `t` kind NUL id NUL height index: ids never hold a NUL ([`ledger::Id`]), so no two
/// records' keys run into each other.
fn subject_key(kind: &str, id: &str, height: u64, index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + kind.len() + id.len() + 12);
    k.push(SUBJECT_INDEX);
    k.extend_from_slice(kind.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k.extend_from_slice(&height.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
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

/// The committed state as a [`StateView`]: the rulebook's keys under `s` in the state
/// store, and its replay memory read from the transaction index and the expiry buckets
/// ([`replay`]).
pub struct StoreState<'a> {
    tree: &'a sled::Tree,
    lsm: &'a lsm::Lsm,
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
        let entry = tx_index_entry(self.lsm, &id).expect(DISK_FAILING);
        replay::read(k, entry.map(|e| e.expires_at_height), tip)
    }
}

impl StateView for StoreState<'_> {
    fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        if replay::is_replay_key(k) {
            return self.replay_get(k);
        }
        self.lsm.get(&key(STATE, k)).expect(DISK_FAILING)
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
        self.lsm.read_with(&key(STATE, k), f).expect(DISK_FAILING)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = self
            .lsm
            .scan_prefix(&key(STATE, prefix))
            .map(|entry| {
                let (mut k, v) = entry.expect(DISK_FAILING);
                k.remove(0);
                (k, v)
            })
            .collect();
        if let Some(buckets) = replay::buckets_under(prefix) {
            for entry in self.tree.scan_prefix(buckets) {
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
        for entry in self.lsm.scan_prefix(&key(STATE, prefix)) {
            let (k, _) = entry.expect(DISK_FAILING);
            f(&k[1..]);
        }
    }
}

/// State entries, key and value.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

impl StoreState<'_> {
    /// At most `limit` entries under `prefix` whose keys come after `prefix ‖ after`, in
    /// key order, and whether more follow.
    pub fn page(&self, prefix: &[u8], after: &[u8], limit: usize) -> (Entries, bool) {
        let full = key(STATE, prefix);
        let mut start = [&full[..], after].concat();
        if !after.is_empty() {
            // Strictly after: the smallest key above `start`.
            start.push(0);
        }
        let end = lsm::prefix_end(&full);
        let mut entries = Vec::with_capacity(limit.min(1_024));
        let mut more = false;
        for entry in self.lsm.range(Some(&start), end.as_deref(), false) {
            let (mut k, v) = entry.expect(DISK_FAILING);
            if entries.len() == limit {
                more = true;
                break;
            }
            k.remove(0);
            entries.push((k, v));
        }
        (entries, more)
    }

    /// How many entries lie under `prefix`, counting no further than `n`.
    pub fn count_up_to(&self, prefix: &[u8], n: usize) -> usize {
        self.lsm.scan_prefix(&key(STATE, prefix)).take(n).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// The suite of the chains these tests make.
    const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;
    use ledger::block::BlockHeader;
    use ledger::crypto::PublicKey;
    use ledger::Id;

    fn temp_store(name: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "xinbao-store-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        (Store::open(&dir).unwrap(), dir)
    }

    /// A store with the genesis and one committed (empty) block.
    fn one_block(name: &str) -> (Store, std::path::PathBuf, Block) {
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
                    months: &[],
                    filed: &[],
                    organisations: &[],
                    loan_clocks: &[],
                    desk: &[],
                },
                tip,
            )
            .unwrap();
        (store, dir, block)
    }

    #[test]
    fn a_tip_that_its_chain_does_not_end_with_is_refused() {
        let (store, dir, block) = one_block("tip");
        store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap();
        // Points the block of height 1 at `bytes`, appended to the block log.
        let put_block = |bytes: &[u8]| {
            let at = store.blocks.append(1, &[bytes]).unwrap()[0];
            store
                .main
                .insert(height_key(BLOCK, 1), &at.to_bytes()[..])
                .unwrap();
        };

        // The tip's block gone.
        let place = store.main.remove(height_key(BLOCK, 1)).unwrap().unwrap();
        let err = store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("block is missing"), "{err}");
        assert!(err.contains("Move the data directory away"), "{err}");
        store.main.insert(height_key(BLOCK, 1), place).unwrap();
        store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap();

        // Another block under the tip's height.
        let mut other = block.clone();
        other.header.time_ms += 1;
        put_block(&other.to_bytes());
        let err = store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the tip says"), "{err}");

        // Bytes that do not decode.
        put_block(&[0xff; 40]);
        let err = store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the database is corrupted"), "{err}");

        // A record damaged on disk.
        put_block(&block.to_bytes());
        store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap();
        let at =
            segments::Location::from_bytes(&store.main.get(height_key(BLOCK, 1)).unwrap().unwrap())
                .unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(BLOCKS_DIR).join(format!("{:020}.seg", at.segment)))
            .unwrap();
        let mut byte = [0u8];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut byte, at.offset + 10).unwrap();
        byte[0] ^= 0xa5;
        std::os::unix::fs::FileExt::write_all_at(&file, &byte, at.offset + 10).unwrap();
        let err = store
            .check_tip(ledger::crypto::Suite::Ed25519Blake3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the database is corrupted"), "{err}");
        assert!(err.contains("checksum"), "{err}");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The state store holds a height's batch in memory until its runs are written; the
    /// batch stays in the state log until then, so a store reopened at any point reads
    /// the same state, and the log keeps no segment the runs hold whole.
    #[test]
    fn the_state_reads_the_same_after_reopening_whatever_the_runs_hold() {
        use ledger::state::{MemoryStore, StateStore};
        let (mut store, dir, _) = one_block("state-log");
        let mut memory = MemoryStore::new();
        let log_heights = |store: &Store| -> Vec<u64> {
            let end = store.state_log.end().unwrap();
            store
                .state_log
                .records_from(0, end)
                .unwrap()
                .into_iter()
                .map(|(h, _)| h)
                .collect()
        };
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
            let flushed_before = store.lsm.flushed_height();
            commit_next(&store, Vec::new(), &[], &writes);
            // No segment the runs held whole when the block was committed is left (the
            // segments are small here: one batch each).
            let kept = log_heights(&store);
            assert!(
                kept.iter().all(|h| flushed_before.is_none_or(|f| *h >= f)),
                "round {round}: {kept:?} kept with runs through {flushed_before:?}"
            );
            if round % 4 == 1 {
                store.lsm.flush().unwrap();
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
            // Every height the runs do not hold is still in sled, to replay.
            let tip = store.tip().unwrap().unwrap().height;
            let from = store.lsm.flushed_height().map_or(0, |f| f + 1);
            let kept = log_heights(&store);
            assert!(
                (from..=tip).all(|h| kept.contains(&h)),
                "round {round}: {kept:?} kept, {from}..={tip} needed"
            );
        }
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A crash after the logs took a height's records but before sled named it committed
    /// leaves records that no committed height points to: the next open cuts them away,
    /// and the height is written again as if it never was.
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
        store.main.remove(key(META, META_DECISIONS_FROM)).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.decisions(2).unwrap(), None);
        commit_next(&store, Vec::new(), &[], &WriteSet::new());
        assert_eq!(store.decisions(3).unwrap(), Some(Vec::new()));
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn records_a_crash_left_after_the_last_committed_height_are_cut_away() {
        let (store, dir, _) = one_block("crash-logs");
        let mut writes = WriteSet::new();
        writes.put(b"rec/a".to_vec(), b"1".to_vec());
        let block = commit_next(&store, Vec::new(), &[], &writes);
        let committed = (store.blocks.end(), store.state_log.end());
        // Height 3's records reach the logs (one of them torn), then the process dies.
        store
            .blocks
            .append(3, &[b"a block never committed", b"its receipts"])
            .unwrap();
        store.blocks.sync().unwrap();
        let batch: Vec<lsm::Write> = vec![(key(STATE, b"rec/a"), Some(b"never".to_vec()))];
        store
            .state_log
            .append(3, &[&codec::encode(&batch)])
            .unwrap();
        store.state_log.sync().unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.tip().unwrap().unwrap().height, 2);
        assert_eq!((store.blocks.end(), store.state_log.end()), committed);
        assert_eq!(store.state().get(b"rec/a"), Some(b"1".to_vec()));
        assert_eq!(store.block(2).unwrap().unwrap(), block);
        // Height 3 for real, then read back after reopening.
        let mut writes = WriteSet::new();
        writes.put(b"rec/a".to_vec(), b"3".to_vec());
        let block = commit_next(&store, Vec::new(), &[], &writes);
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.block(3).unwrap().unwrap(), block);
        assert_eq!(store.state().get(b"rec/a"), Some(b"3".to_vec()));
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
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
        // A block stored without its bounds is read whole, with the same answers.
        assert!(store.bounds(2).unwrap().is_some());
        store.main.remove(height_key(BLOCK_BOUNDS, 2)).unwrap();
        assert!(store.bounds(2).unwrap().is_none());
        check(&store);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Commits `txs` with their `receipts` and `writes` as the next block, with the loan
    /// clocks' changes the chain would compute.
    fn commit_next(
        store: &Store,
        txs: Vec<ledger::tx::SignedTx>,
        receipts: &[Receipt],
        writes: &WriteSet,
    ) -> Block {
        commit_next_with(store, txs, receipts, writes, &[])
    }

    fn commit_next_with(
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
        let state = store.state();
        let loan_clocks = crate::chain::loan_clock_changes(&state, writes);
        let mut after = ledger::state::Overlay::new(&state);
        after.apply(writes.clone());
        let desk = crate::chain::desk_changes(&state, &after, writes);
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
                    months: &[],
                    filed: &[],
                    organisations: &[],
                    loan_clocks: &loan_clocks,
                    desk: &desk,
                },
                next,
            )
            .unwrap();
        block
    }

    /// Puts programme records (id, insurer) with the Ningbo-style worked example's terms.
    fn put_programmes(writes: &mut WriteSet, programmes: &[(&str, &str)]) {
        use contracts::store::{keys, Programme, ProgrammeStatus};
        let scenario: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../network-configs/scenarios/a-ningbo-style.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let create = scenario["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["tx"]["type"] == "CreateProgramme")
            .unwrap();
        let ledger::Action::CreateProgramme(terms) =
            serde_json::from_value(create["tx"].clone()).unwrap()
        else {
            panic!("not a CreateProgramme");
        };
        for (id, insurer) in programmes {
            let mut terms = terms.clone();
            terms.id = Id::new(*id).unwrap();
            terms.insurer = Id::new(*insurer).unwrap();
            let record = Programme {
                terms: *terms,
                status: ProgrammeStatus::Active,
                premium_written_fen: ledger::Fen::ZERO,
                claims_gross_fen: ledger::Fen::ZERO,
                warnings: Vec::new(),
            };
            writes.put(
                keys::programme(&record.terms.id),
                ledger::codec::encode(&record),
            );
        }
    }

    #[test]
    fn a_programmes_loan_clocks_give_the_figures_that_reading_every_loan_gives() {
        use contracts::store::{Loan, LoanStatus};
        let (store, dir, _) = one_block("loan-clocks");
        let date = |text: &str| text.parse::<Date>().unwrap();
        let loan = |i: u64| {
            let start = date("2025-01-31").checked_add_days(i * 17 % 400).unwrap();
            let term = [3, 12, 24][i as usize % 3];
            let mut l = Loan {
                policy: Id::new(format!("p{i}")).unwrap(),
                programme: Id::new(format!("g{}", i % 2)).unwrap(),
                bank: Id::new("bank").unwrap(),
                enterprise: Id::new(format!("e{i}")).unwrap(),
                rate_bps: [0, 435, 600][i as usize % 3 / 2 + i as usize % 2],
                term_months: term,
                start,
                maturity: start.checked_add_months(term).unwrap(),
                status: LoanStatus::Active,
                outstanding_principal_fen: ledger::Fen(
                    [0, 1, 150_000_000][(i as usize + 1) % 3] + i,
                ),
                due_count: 0,
                unpaid: Vec::new(),
                paid_toward_oldest_fen: ledger::Fen::ZERO,
                on_time: true,
                claim: None,
            };
            if i % 4 == 1 {
                l = contracts::loan::as_of(&l, start.checked_add_days(95).unwrap());
            }
            if i % 7 == 3 {
                l.status = LoanStatus::Repaid;
            }
            l
        };
        let put = |writes: &mut WriteSet, i: u64, l: &Loan| {
            let id = Id::new(format!("l{i}")).unwrap();
            writes.put(keys_loan(&id), ledger::codec::encode(l));
            writes.put(
                contracts::store::keys::programme_loan(&l.programme, &id),
                Vec::new(),
            );
        };
        let mut writes = WriteSet::new();
        put_programmes(&mut writes, &[("g0", "ins-a"), ("g1", "ins-a")]);
        for i in 0..60 {
            put(&mut writes, i, &loan(i));
        }
        commit_next(&store, Vec::new(), &[], &writes);
        let check = |store: &Store, when: &str| {
            let state = store.state();
            // A month end's figures as a node records them, from the clocks, are the
            // rulebook's, from every loan.
            let mut day = date("2025-01-31");
            let mut months_with_overdue = 0;
            while day < date("2028-01-01") {
                let by_clocks = contracts::report::month_figures_with(&state, |id, p| {
                    store.programme_figures(id, p, day)
                })
                .unwrap();
                assert_eq!(
                    by_clocks,
                    contracts::report::month_figures(&state, day),
                    "{when}: month figures on {day}"
                );
                assert_eq!(by_clocks.as_object().unwrap().len(), 2, "{by_clocks}");
                if by_clocks["g1"]["overdue_principal_fen"] != serde_json::json!(0) {
                    months_with_overdue += 1;
                }
                day = contracts::report::month_end(day.checked_add_days(1).unwrap());
            }
            assert!(
                months_with_overdue > 0,
                "{when}: no month end with overdue loans"
            );
            for g in ["g0", "g1"] {
                let g = Id::new(g).unwrap();
                let mut day = date("2025-01-01");
                while day < date("2028-01-01") {
                    let (mut outstanding, mut overdue) = (0u128, 0u128);
                    state.for_each_key(&contracts::store::keys::loans_of(&g), &mut |k| {
                        let id = &k[contracts::store::keys::loans_of(&g).len()..];
                        let id = Id::new(std::str::from_utf8(id).unwrap()).unwrap();
                        let record = state.get(&keys_loan(&id)).unwrap();
                        if let Some((fen, late)) = contracts::loan::figures_of_record(&record, day)
                        {
                            outstanding += u128::from(fen.0);
                            overdue += if late { u128::from(fen.0) } else { 0 };
                        }
                    });
                    assert_eq!(
                        store.programme_principal(&g, day).unwrap(),
                        (outstanding, overdue),
                        "{when}: {g} on {day}"
                    );
                    day = day.checked_add_days(5).unwrap();
                }
            }
        };
        check(&store, "after the first block");
        // Loans change: brought up to a later date, repaid, moved to the other programme.
        let mut writes = WriteSet::new();
        for i in (0..60).step_by(3) {
            let mut l = contracts::loan::as_of(&loan(i), date("2026-03-10"));
            if i % 9 == 0 {
                l.status = LoanStatus::Claimed;
            }
            put(&mut writes, i, &l);
        }
        commit_next(&store, Vec::new(), &[], &writes);
        check(&store, "after the second block");
        // Read again after reopening: the clocks come back from the state store's log.
        let keys = store.lsm.scan_prefix(&[LOAN_CLOCKS]).count();
        assert!(keys > 10, "{keys} clock entries");
        drop(store);
        let store = Store::open(&dir).unwrap();
        let check_again = |store: &Store| {
            let state = store.state();
            let g = Id::new("g1").unwrap();
            let day = date("2026-06-01");
            let mut expected = (0u128, 0u128);
            state.for_each_key(&contracts::store::keys::loans_of(&g), &mut |k| {
                let id = &k[contracts::store::keys::loans_of(&g).len()..];
                let id = Id::new(std::str::from_utf8(id).unwrap()).unwrap();
                let record = state.get(&keys_loan(&id)).unwrap();
                if let Some((fen, late)) = contracts::loan::figures_of_record(&record, day) {
                    expected.0 += u128::from(fen.0);
                    expected.1 += if late { u128::from(fen.0) } else { 0 };
                }
            });
            assert!(expected.1 > 0 && expected.1 < expected.0, "{expected:?}");
            assert_eq!(store.programme_principal(&g, day).unwrap(), expected);
        };
        check_again(&store);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_claims_desk_lists_what_reading_every_claim_gives() {
        use contracts::store::{keys, Claim, ClaimStatus};
        let (store, dir, _) = one_block("claims-desk");
        // Three programmes, two of one insurer's; "ins-a" and "ins-ab" share a prefix.
        let programmes = [("g0", "ins-a"), ("g1", "ins-a"), ("g2", "ins-ab")];
        let mut writes = WriteSet::new();
        put_programmes(&mut writes, &programmes);
        let statuses = [
            ClaimStatus::Filed,
            ClaimStatus::AwaitingDocuments,
            ClaimStatus::Approved,
            ClaimStatus::Rejected,
            ClaimStatus::Paid,
        ];
        let claim = |i: usize, status: ClaimStatus, late: bool| Claim {
            loan: Id::new(format!("l{i}")).unwrap(),
            programme: Id::new(programmes[i % 3].0).unwrap(),
            bank: Id::new("bank").unwrap(),
            status,
            filed: "2025-03-01".parse().unwrap(),
            documents: Vec::new(),
            documents_requested: false,
            missing: Vec::new(),
            completed: None,
            decision_due: None,
            payment_due: None,
            loss_fen: ledger::Fen(i as u64),
            settlement: None,
            decided: None,
            reject_reason: None,
            paid: None,
            late,
            recovered_fen: ledger::Fen::ZERO,
            recovery: Default::default(),
        };
        let claim_key = |i: usize| keys::claim(&Id::new(format!("c{i:02}")).unwrap());
        for i in 0..40 {
            let status = statuses[i % 5];
            let late = status == ClaimStatus::Paid && i % 2 == 0;
            writes.put(claim_key(i), ledger::codec::encode(&claim(i, status, late)));
        }
        commit_next(&store, Vec::new(), &[], &writes);
        // What the desk should hold: every claim read, classified here, in (insurer,
        // programme, id) order.
        let check = |store: &Store, when: &str| {
            let state = store.state();
            let mut expected: Vec<(Desk, String, String, String)> = Vec::new();
            for (id, c) in contracts::store::scan::<Claim>(&state, keys::CLAIM) {
                let insurer = programmes
                    .iter()
                    .find(|p| p.0 == c.programme.as_str())
                    .unwrap()
                    .1;
                let mut put = |desk| {
                    expected.push((
                        desk,
                        insurer.into(),
                        c.programme.to_string(),
                        id.to_string(),
                    ))
                };
                match c.status {
                    ClaimStatus::Paid | ClaimStatus::Rejected => {
                        put(Desk::Closed);
                        if c.late {
                            put(Desk::Late);
                        }
                    }
                    _ => put(Desk::Open),
                }
            }
            expected.sort();
            let scopes = [
                (None, None),
                (Some("ins-a"), None),
                (Some("ins-ab"), None),
                (Some("ins-a"), Some("g1")),
                (Some("ins-ab"), Some("g2")),
                (Some("ins-a"), Some("g2")),
            ];
            for desk in [Desk::Open, Desk::Closed, Desk::Late] {
                for (insurer, programme) in scopes {
                    let want: Vec<&(Desk, String, String, String)> = expected
                        .iter()
                        .filter(|e| e.0 == desk)
                        .filter(|e| insurer.is_none_or(|i| e.1 == i))
                        .filter(|e| programme.is_none_or(|p| e.2 == p))
                        .collect();
                    let ids: Vec<String> = want.iter().map(|e| e.3.clone()).collect();
                    let what = format!("{when}: {desk:?} {insurer:?} {programme:?}");
                    let all = store
                        .desk_claims(desk, insurer, programme, 0, usize::MAX)
                        .unwrap();
                    let all: Vec<String> = all.iter().map(Id::to_string).collect();
                    assert_eq!(all, ids, "{what}");
                    let page = store.desk_claims(desk, insurer, programme, 2, 3).unwrap();
                    let page: Vec<String> = page.iter().map(Id::to_string).collect();
                    assert_eq!(
                        page,
                        ids.iter().skip(2).take(3).cloned().collect::<Vec<_>>(),
                        "{what}"
                    );
                    let mut counts = std::collections::BTreeMap::new();
                    for e in &want {
                        *counts.entry(e.1.clone()).or_insert(0u64) += 1;
                    }
                    assert_eq!(
                        store.desk_counts(desk, insurer, programme).unwrap(),
                        counts,
                        "{what}"
                    );
                }
            }
            expected.len()
        };
        assert_eq!(check(&store, "after the first block"), 40 + 4);
        // Claims move on: decided, paid (some late), one filed anew, one removed.
        let mut writes = WriteSet::new();
        for i in (0..40).step_by(3) {
            let status = statuses[(i + 2) % 5];
            writes.put(
                claim_key(i),
                ledger::codec::encode(&claim(i, status, i % 4 == 0)),
            );
        }
        writes.put(
            claim_key(41),
            ledger::codec::encode(&claim(41, ClaimStatus::Filed, false)),
        );
        writes.delete(claim_key(1));
        commit_next(&store, Vec::new(), &[], &writes);
        let entries = check(&store, "after the second block");
        // Read again after reopening, from the state store's log and after its runs hold
        // everything.
        let desk = store.lsm.scan_prefix(&[CLAIM_DESK]).count();
        assert!(desk > entries, "{desk} desk entries and counts");
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(check(&store, "after reopening"), entries);
        store.lsm.flush().unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(check(&store, "after reopening from runs"), entries);
        drop(store);
        std::fs::remove_dir_all(&dir).ok();
    }

    fn keys_loan(id: &Id) -> Vec<u8> {
        contracts::store::keys::loan(id)
    }

    #[test]
    fn readers_indexes_find_blocks_records_and_month_ends() {
        let (store, dir, first) = one_block("indexes");
        let claim = |id: &str| {
            ledger::tx::SignedTx::unsigned(ledger::tx::TxBody {
                chain_id: Id::new("c").unwrap(),
                nonce: 1,
                expires_at_height: 9,
                action: ledger::Action::ConfirmClaimPayment(ledger::action::ConfirmClaimPayment {
                    claim: Id::new(id).unwrap(),
                    reference: ledger::Text::new("r").unwrap(),
                }),
            })
        };
        let block = Block {
            header: BlockHeader {
                height: 2,
                protocol_version: 1,
                time_ms: 3,
                previous: first.id(SUITE),
                ..first.header.clone()
            },
            txs: vec![claim("c1"), claim("c10"), claim("c1")],
        };
        let ids = block.tx_ids(SUITE);
        let certificate = CommitCertificate {
            height: 2,
            round: 0,
            block_id: block.id(SUITE),
            signatures: Vec::new(),
        };
        let date = |text: &str| text.parse::<Date>().unwrap();
        let months = vec![
            (date("1969-12-31"), b"{\"old\":1}".to_vec()),
            (date("2026-01-31"), b"{\"new\":2}".to_vec()),
        ];
        let tip = Tip {
            height: 2,
            block_id: block.id(SUITE),
            state_root: block.header.state_root,
            time_ms: 3,
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
                    ids: &ids,
                    changes: &[],
                    decisions: &[],
                    months: &months,
                    filed: &[
                        (b"rate/i\0p\0aa".to_vec(), Id::new("pol-2").unwrap()),
                        (b"rate/i\0p\0aa".to_vec(), Id::new("pol-1").unwrap()),
                        (b"rate/i\0p\0bb".to_vec(), Id::new("pol-3").unwrap()),
                    ],
                    organisations: &[
                        (Id::new("ins").unwrap(), "claims_paid_fen", 500),
                        (Id::new("ins").unwrap(), "claims_paid_fen", -200),
                        (Id::new("bank").unwrap(), "recoveries_fen", 7),
                    ],
                    loan_clocks: &[],
                    desk: &[],
                },
                tip,
            )
            .unwrap();

        assert_eq!(store.height_of(&first.id(SUITE)).unwrap(), Some(1));
        assert_eq!(store.height_of(&block.id(SUITE)).unwrap(), Some(2));
        assert_eq!(store.height_of(&BlockId([9; 32])).unwrap(), None);

        let at = |height, index| TxLocation { height, index };
        // Newest first; `c1` is not a prefix match of `c10`.
        assert_eq!(
            store.subject_txs("claim", "c1", None, 10).unwrap(),
            vec![at(2, 2), at(2, 0)]
        );
        assert_eq!(
            store
                .subject_txs("claim", "c1", Some(at(2, 2)), 10)
                .unwrap(),
            vec![at(2, 0)]
        );
        assert_eq!(
            store.subject_txs("claim", "c10", None, 10).unwrap(),
            vec![at(2, 1)]
        );
        assert!(store.has_subject("claim", "c10").unwrap());
        assert!(!store.has_subject("loan", "c1").unwrap());

        // A filing's policies in id order, paged, and only its own.
        let (page, total) = store.filing_policies(b"rate/i\0p\0aa", 0, 10).unwrap();
        assert_eq!(
            (page, total),
            (vec!["pol-1".to_string(), "pol-2".into()], 2)
        );
        let (page, total) = store.filing_policies(b"rate/i\0p\0aa", 1, 10).unwrap();
        assert_eq!((page, total), (vec!["pol-2".to_string()], 2));
        let (page, _) = store.filing_policies(b"rate/i\0p\0bb", 0, 10).unwrap();
        let sums = store.organisation_sums().unwrap();
        assert_eq!(sums[&Id::new("ins").unwrap()]["claims_paid_fen"], 300);
        assert_eq!(sums[&Id::new("bank").unwrap()]["recoveries_fen"], 7);
        assert_eq!(sums.len(), 2);
        assert_eq!(page, vec!["pol-3".to_string()]);

        // Month ends in date order, a date before 1970 first.
        let ends = store.month_ends().unwrap();
        assert_eq!(ends, months);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
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
