//! The mempool: verified transactions waiting for a block, bounded in count and bytes.
//!
//! Only [`VerifiedTx`] enters (chain id and every signature checked at the edge). A
//! duplicate id is dropped; when full, a new transaction is refused rather than an old one
//! evicted, so a flood cannot push out transactions already accepted. Transactions leave
//! when committed (by id, whoever proposed the block) or when they expire.
//!
//! Fair to submitters: a submitter (the key of a transaction's first signature) holds at
//! most [`SUBMITTER_SHARE_MAX`] of the pool's room, so one flooding key leaves room for
//! the others; and proposers draw round-robin across submitters (each submitter's own
//! transactions in arrival order), so one key's backlog does not delay another's single
//! transaction behind it.
//!
//! Bounded in time, too: a transaction a member's staff submit is refused
//! ([`MempoolError::Backlog`]) while the pool (with what waits for intake, see
//! `intake::submit_staff`) already holds more than the network committed in the last
//! [`BACKLOG_MS`] (and more than [`BACKLOG_TXS_FLOOR`]). Past that,
//! a newcomer would wait behind a queue it cannot shorten; refused at once, its client can
//! retry or go elsewhere instead of learning seconds later. Transactions from peers are not
//! held to it: a peer's intake admitted them under the same bound.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use crate::limits::{MEMPOOL_BYTES_MAX, MEMPOOL_TXS_MAX};
use ledger::crypto::PublicKey;
use ledger::tx::{TxId, VerifiedTx};

/// The share of the pool (of its count and of its bytes) one submitter may hold, as a
/// divisor: a quarter.
pub const SUBMITTER_SHARE_MAX: usize = 4;
/// A staff submission is refused while the pool holds more than the network committed
/// in this long (see the module notes). A transaction let in at the bound has about this
/// much of the network's commits ahead of it (the block in flight counted, since it stays
/// in the pool until committed) and then the height of its own block, so the bound sets
/// how far past it the commit latency reaches under saturation: deeper, and a newcomer
/// waits longer; shallower, and the pool refuses more and its blocks get too small to
/// keep the rate (the runs behind 700 ms: `docs/perf/2026-12-07-constants.md`).
pub const BACKLOG_MS: u64 = 700;
/// ... but never below this many pending transactions, so that a network starting from
/// idle, whose recent commit rate says nothing yet, has room to show what it can do.
pub const BACKLOG_TXS_FLOOR: usize = 4_096;
/// The commit rate is the transactions committed in this last stretch of time.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// The node's one mempool, shared by the intake (which fills it) and the chain worker
/// (which builds blocks from it and empties it of what commits): those two take the lock;
/// readers (the API's views and metrics) ask it what they need.
#[derive(Default)]
pub struct Pool(Mutex<Mempool>);

impl Pool {
    /// The mempool itself, for the intake and the chain worker.
    pub fn lock(&self) -> MutexGuard<'_, Mempool> {
        self.0.lock().expect("mempool lock poisoned")
    }

    /// Whether `id` is pending.
    pub fn holds(&self, id: &TxId) -> bool {
        self.lock().contains(id)
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The transactions pending, and their bytes.
    pub fn size(&self) -> (usize, usize) {
        let pool = self.lock();
        (pool.len(), pool.bytes())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("the transaction is already pending")]
    Duplicate,
    #[error("the mempool is full ({MEMPOOL_TXS_MAX} transactions or {MEMPOOL_BYTES_MAX} bytes)")]
    Full,
    #[error(
        "this submitter's transactions fill its share of the mempool (a quarter); retry \
         when some are committed"
    )]
    SubmitterFull,
    #[error("the network has more pending than it commits in {BACKLOG_MS} ms; retry shortly")]
    Backlog,
}

/// One pending transaction.
struct Pending {
    tx: VerifiedTx,
    size: usize,
    /// Its place in arrival order.
    seq: u64,
    submitter: PublicKey,
    arrived: std::time::Instant,
}

/// One submitter's pending transactions.
#[derive(Default)]
struct Queue {
    /// Arrival order (sequence number → id).
    order: BTreeMap<u64, TxId>,
    bytes: usize,
}

#[derive(Default)]
pub struct Mempool {
    /// Each submitter's transactions in arrival order.
    queues: BTreeMap<PublicKey, Queue>,
    /// By id, for lookups only: nothing iterates it, so its order cannot reach a
    /// proposal. Foldhash, seeded at random per process, so ids cannot be ground to
    /// collide.
    txs: HashMap<TxId, Pending, foldhash::fast::RandomState>,
    /// (expiry height, id): what expires first, without looking at the rest.
    by_expiry: BTreeSet<(u64, TxId)>,
    next_seq: u64,
    bytes: usize,
    /// Recent commits (when, how many transactions), newest last, within [`RATE_WINDOW`].
    commits: VecDeque<(Instant, usize)>,
}

impl Mempool {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.txs.contains_key(id)
    }

    /// The verified copy of a pending transaction: what a validator reuses instead of
    /// verifying its signatures again.
    pub fn verified(&self, id: &TxId) -> Option<VerifiedTx> {
        self.txs.get(id).map(|p| p.tx.clone())
    }

    /// Whether `more` transactions of `submitter` (count, bytes), among `more_in_all`
    /// newcomers, would fit: [`Mempool::insert`]'s room checks, which intake runs before
    /// it spends a signature check on a transaction that could not be kept.
    pub fn room(
        &self,
        submitter: &PublicKey,
        more: (usize, usize),
        more_in_all: (usize, usize),
    ) -> Result<(), MempoolError> {
        if self.txs.len() + more_in_all.0 > MEMPOOL_TXS_MAX
            || self.bytes + more_in_all.1 > MEMPOOL_BYTES_MAX
        {
            return Err(MempoolError::Full);
        }
        let (count, bytes) = self
            .queues
            .get(submitter)
            .map_or((0, 0), |q| (q.order.len(), q.bytes));
        if count + more.0 > MEMPOOL_TXS_MAX / SUBMITTER_SHARE_MAX
            || bytes + more.1 > MEMPOOL_BYTES_MAX / SUBMITTER_SHARE_MAX
        {
            return Err(MempoolError::SubmitterFull);
        }
        Ok(())
    }

    /// Transactions committed per second over the last [`RATE_WINDOW`].
    pub fn commit_rate(&self, now: Instant) -> f64 {
        let recent: usize = self
            .commits
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= RATE_WINDOW)
            .map(|(_, count)| count)
            .sum();
        recent as f64 / RATE_WINDOW.as_secs_f64()
    }

    /// How many transactions the pool may hold before staff submissions are refused.
    pub fn backlog_txs_max(&self, now: Instant) -> usize {
        let committed_in_backlog = self.commit_rate(now) * BACKLOG_MS as f64 / 1_000.0;
        (committed_in_backlog as usize).max(BACKLOG_TXS_FLOOR)
    }

    /// Whether `more` staff submissions would fit under the backlog bound `max` (what
    /// [`Mempool::backlog_txs_max`] said, read once for a whole batch).
    pub fn backlog_room(&self, more: usize, max: usize) -> Result<(), MempoolError> {
        if self.txs.len() + more > max {
            return Err(MempoolError::Backlog);
        }
        Ok(())
    }

    pub fn insert(&mut self, tx: VerifiedTx, size: usize) -> Result<(), MempoolError> {
        let id = tx.id();
        if self.txs.contains_key(&id) {
            return Err(MempoolError::Duplicate);
        }
        if self.txs.len() >= MEMPOOL_TXS_MAX || self.bytes + size > MEMPOOL_BYTES_MAX {
            return Err(MempoolError::Full);
        }
        let submitter = *tx
            .signers()
            .first()
            .expect("a verified transaction has a signer");
        let queue = self.queues.entry(submitter).or_default();
        if queue.order.len() >= MEMPOOL_TXS_MAX / SUBMITTER_SHARE_MAX
            || queue.bytes + size > MEMPOOL_BYTES_MAX / SUBMITTER_SHARE_MAX
        {
            if queue.order.is_empty() {
                self.queues.remove(&submitter);
            }
            return Err(MempoolError::SubmitterFull);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        queue.order.insert(seq, id);
        queue.bytes += size;
        self.by_expiry.insert((tx.body().expires_at_height, id));
        self.txs.insert(
            id,
            Pending {
                tx,
                size,
                seq,
                submitter,
                arrived: std::time::Instant::now(),
            },
        );
        self.bytes += size;
        Ok(())
    }

    fn remove(&mut self, id: &TxId) -> Option<std::time::Instant> {
        let p = self.txs.remove(id)?;
        self.bytes -= p.size;
        if let Some(queue) = self.queues.get_mut(&p.submitter) {
            queue.order.remove(&p.seq);
            queue.bytes -= p.size;
            if queue.order.is_empty() {
                self.queues.remove(&p.submitter);
            }
        }
        self.by_expiry.remove(&(p.tx.body().expires_at_height, *id));
        Some(p.arrived)
    }

    /// Up to `count_max` transactions and `bytes_max` bytes, left in place (they leave
    /// when committed): round-robin across submitters, the first round in the order of
    /// their oldest transactions, and each submitter's own in arrival order.
    pub fn candidates(&self, count_max: usize, bytes_max: usize) -> Vec<VerifiedTx> {
        // (round, sequence number of the submitter's next transaction) → its queue.
        let mut next: BTreeMap<(usize, u64), std::collections::btree_map::Values<'_, u64, TxId>> =
            BTreeMap::new();
        for queue in self.queues.values() {
            let ids = queue.order.values();
            if let Some(first) = ids.clone().next() {
                next.insert((0, self.txs[first].seq), ids);
            }
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        while out.len() < count_max {
            let Some(((round, _), mut ids)) = next.pop_first() else {
                break;
            };
            let id = ids
                .next()
                .expect("a queue in `next` has a transaction left");
            let p = &self.txs[id];
            if bytes + p.size > bytes_max {
                break;
            }
            bytes += p.size;
            out.push(p.tx.clone());
            if let Some(following) = ids.clone().next() {
                next.insert((round + 1, self.txs[following].seq), ids);
            }
        }
        out
    }

    /// Drops committed transactions and those that can no longer be included at
    /// `next_height`; the work grows with what leaves, not with what stays. Returns when
    /// each committed transaction that was pending here had arrived.
    pub fn after_commit(
        &mut self,
        committed: &[TxId],
        next_height: u64,
    ) -> Vec<std::time::Instant> {
        let now = Instant::now();
        self.commits.push_back((now, committed.len()));
        while self
            .commits
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > RATE_WINDOW)
        {
            self.commits.pop_front();
        }
        let arrivals = committed.iter().filter_map(|id| self.remove(id)).collect();
        while let Some(&(expiry, id)) = self.by_expiry.first() {
            if expiry >= next_height {
                break;
            }
            self.remove(&id);
        }
        arrivals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// The suite of the chains these tests make.
    const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;
    use ledger::action::StaffKey;
    use ledger::crypto::SecretKey;
    use ledger::tx::{SignedTx, TxBody};
    use ledger::{Action, Id};

    fn tx(nonce: u64, expires_at_height: u64) -> VerifiedTx {
        tx_by(1, nonce, expires_at_height)
    }

    /// A transaction signed by the key of `seed`.
    fn tx_by(seed: u8, nonce: u64, expires_at_height: u64) -> VerifiedTx {
        let chain = Id::new("c").unwrap();
        let key = SecretKey::from_seed([seed; 32]);
        let mut tx = SignedTx::unsigned(TxBody {
            chain_id: chain.clone(),
            nonce,
            expires_at_height,
            action: Action::RegisterStaffKey(StaffKey {
                org: Id::new("bank").unwrap(),
                public_key: key.public_key(),
            }),
        });
        tx.sign(&key).unwrap();
        tx.verify(&chain, SUITE).unwrap()
    }

    #[test]
    fn staff_submissions_are_bounded_by_the_backlog_bound_of_commits() {
        let mut pool = Mempool::new();
        let now = Instant::now();
        // Nothing committed yet: the floor.
        let max = pool.backlog_txs_max(now);
        assert_eq!(max, BACKLOG_TXS_FLOOR);
        assert_eq!(pool.backlog_room(BACKLOG_TXS_FLOOR, max), Ok(()));
        assert_eq!(
            pool.backlog_room(BACKLOG_TXS_FLOOR + 1, max),
            Err(MempoolError::Backlog)
        );
        // 40,000 committed within the window: 20,000 a second.
        let ids: Vec<TxId> = (0..40_000u32)
            .map(|i| {
                let mut id = [0u8; 32];
                id[..4].copy_from_slice(&i.to_le_bytes());
                TxId(id)
            })
            .collect();
        pool.after_commit(&ids, 1);
        let now = Instant::now();
        let bound = 20_000 * BACKLOG_MS as usize / 1_000;
        let max = pool.backlog_txs_max(now);
        assert_eq!(max, bound);
        pool.insert(tx(1, 10), 100).unwrap();
        assert_eq!(pool.backlog_room(bound - 1, max), Ok(()));
        assert_eq!(pool.backlog_room(bound, max), Err(MempoolError::Backlog));
        // A rate older than the window is forgotten.
        let later = now + RATE_WINDOW + Duration::from_millis(1);
        assert_eq!(pool.backlog_txs_max(later), BACKLOG_TXS_FLOOR);
    }

    #[test]
    fn duplicates_bounds_order_and_removal() {
        let mut pool = Mempool::new();
        pool.insert(tx(1, 10), 100).unwrap();
        assert_eq!(pool.insert(tx(1, 10), 100), Err(MempoolError::Duplicate));
        pool.insert(tx(2, 5), 100).unwrap();
        pool.insert(tx(3, 10), 100).unwrap();
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.bytes(), 300);
        assert_eq!(
            pool.insert(tx(4, 10), MEMPOOL_BYTES_MAX),
            Err(MempoolError::Full)
        );

        let first_two: Vec<_> = pool
            .candidates(2, usize::MAX)
            .iter()
            .map(|t| t.id())
            .collect();
        assert_eq!(first_two, vec![tx(1, 10).id(), tx(2, 5).id()]);
        assert_eq!(pool.candidates(10, 250).len(), 2);

        // tx 1 committed; tx 2 expires before height 6.
        pool.after_commit(&[tx(1, 10).id()], 6);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.bytes(), 100);
        assert!(pool.contains(&tx(3, 10).id()));
    }

    #[test]
    fn one_submitter_holds_at_most_its_share() {
        let mut pool = Mempool::new();
        let share = MEMPOOL_BYTES_MAX / SUBMITTER_SHARE_MAX;
        pool.insert(tx_by(1, 1, 10), share).unwrap();
        assert_eq!(
            pool.insert(tx_by(1, 2, 10), 1),
            Err(MempoolError::SubmitterFull)
        );
        // Others still get in, each up to its own share.
        pool.insert(tx_by(2, 1, 10), share).unwrap();
        pool.insert(tx_by(3, 1, 10), 100).unwrap();
        // Committed, the flooder's room comes back.
        pool.after_commit(&[tx_by(1, 1, 10).id()], 1);
        pool.insert(tx_by(1, 2, 10), 1).unwrap();
        assert_eq!(pool.len(), 3);
    }

    /// What intake asks before checking signatures agrees with what insert then does.
    #[test]
    fn room_answers_as_insert_would() {
        let mut pool = Mempool::new();
        let key = |seed: u8| SecretKey::from_seed([seed; 32]).public_key();
        let share = MEMPOOL_BYTES_MAX / SUBMITTER_SHARE_MAX;
        pool.insert(tx_by(1, 1, 10), share - 10).unwrap();
        assert_eq!(pool.room(&key(1), (1, 10), (1, 10)), Ok(()));
        assert_eq!(
            pool.room(&key(1), (2, 11), (2, 11)),
            Err(MempoolError::SubmitterFull)
        );
        assert_eq!(
            pool.insert(tx_by(1, 2, 10), 11),
            Err(MempoolError::SubmitterFull)
        );
        assert_eq!(pool.room(&key(2), (1, 10), (1, 10)), Ok(()));
        assert_eq!(
            pool.room(&key(2), (1, 10), (MEMPOOL_TXS_MAX, 10)),
            Err(MempoolError::Full)
        );
        assert_eq!(
            pool.room(&key(2), (1, 10), (1, MEMPOOL_BYTES_MAX)),
            Err(MempoolError::Full)
        );
        assert_eq!(
            pool.insert(tx_by(2, 1, 10), MEMPOOL_BYTES_MAX),
            Err(MempoolError::Full)
        );
    }

    #[test]
    fn proposers_draw_round_robin_across_submitters() {
        let mut pool = Mempool::new();
        // Submitter 1 floods first; 2 and 3 each send a little later.
        for nonce in 0..5 {
            pool.insert(tx_by(1, nonce, 10), 10).unwrap();
        }
        pool.insert(tx_by(2, 0, 10), 10).unwrap();
        pool.insert(tx_by(3, 0, 10), 10).unwrap();
        pool.insert(tx_by(2, 1, 10), 10).unwrap();
        let drawn: Vec<TxId> = pool
            .candidates(5, usize::MAX)
            .iter()
            .map(VerifiedTx::id)
            .collect();
        let expected = [
            tx_by(1, 0, 10),
            tx_by(2, 0, 10),
            tx_by(3, 0, 10),
            tx_by(1, 1, 10),
            tx_by(2, 1, 10),
        ];
        assert_eq!(
            drawn,
            expected.iter().map(VerifiedTx::id).collect::<Vec<_>>()
        );
        // All of them, each submitter's in its own order.
        let all = pool.candidates(100, usize::MAX);
        assert_eq!(all.len(), 8);
        let ones: Vec<u64> = all
            .iter()
            .filter(|t| t.signers()[0] == SecretKey::from_seed([1; 32]).public_key())
            .map(|t| t.body().nonce)
            .collect();
        assert_eq!(ones, vec![0, 1, 2, 3, 4]);
    }
}
