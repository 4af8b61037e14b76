//! Transaction intake: everything is checked at the edge, before the mempool.
//!
//! Size, canonical decoding, chain id, every signature (once, in one batch for a batch of
//! transactions: `SignedTx::verify_all`), expiry window and "not committed before"
//! (`contracts::chain::admit`, what the next block will check), and that every signing
//! key is a registered, unrevoked key of an organisation (`contracts::orgs_of_keys`).
//! What passes enters the mempool as a `VerifiedTx`, whose verdict the proposer and the
//! validators reuse. Refusals carry a stable code for the API.
//!
//! Everything offered, by the HTTP API and by the gossip, goes through one queue to one
//! intake thread ([`Queue`]), which joins whatever submissions are waiting into one check
//! (up to [`INTAKE_JOINED_TXS_MAX`] transactions): a batch of ed25519 signatures verifies in
//! about half the time per signature at a thousand as at sixty-four. Under load (the last
//! check held at least [`LINGER_AFTER_TXS`] transactions) the thread also lingers up to
//! [`LINGER`] for more to join, until [`LINGER_UNTIL_TXS`] have: measured on one core of
//! this project's bench machine, batches of 200 verify at 87,000 signatures a second and
//! of 1,600 at 115,000, so the wait saves a quarter of the signature work, for a few
//! milliseconds on a transaction's way to a block that comes every few hundred. An idle
//! node checks a lone transaction at once. The gossip hands its batches over without
//! waiting for their verdicts ([`Queue::offer`]), so that several peers' batches join one
//! check; staff submissions meet the backlog bound when they arrive, counting what already
//! waits in the queue ([`submit_staff`]), and again when checked.

use ledger::api::ErrorCode;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use contracts::chain::BlockError;
use ledger::codec::TX_BYTES_MAX;
use ledger::crypto::PublicKey;
use ledger::tx::{SignedTx, TxError, TxId};

use crate::chain::Chain;
use crate::limits::{
    GOSSIP_OUTBOX_TXS_MAX, INTAKE_JOINED_TXS_MAX, INTAKE_QUEUE_JOBS_MAX, SUBMIT_BATCH_BYTES_MAX,
    SUBMIT_BATCH_TXS_MAX,
};
use crate::mempool::MempoolError;
use crate::mempool::Pool;
use crate::metrics::Metrics;

/// A refusal: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

fn tx_error_code(e: &TxError) -> ErrorCode {
    match e {
        TxError::WrongChain { .. } => ErrorCode::WrongChain,
        TxError::Unsigned => ErrorCode::Unsigned,
        TxError::TooManySignatures { .. } => ErrorCode::TooManySignatures,
        TxError::DuplicateSigner(_) => ErrorCode::DuplicateSigner,
        TxError::BadSignature { .. } => ErrorCode::BadSignature,
        TxError::WrongAlgorithm { .. } => ErrorCode::WrongAlgorithm,
        // Only a signer makes this; a node never signs a client's transaction.
        TxError::Signing(_) => ErrorCode::Malformed,
        TxError::Codec(_) => ErrorCode::Malformed,
    }
}

fn block_error_refusal(e: BlockError) -> Refusal {
    let code = match &e {
        BlockError::BadTransaction { reason, .. } => tx_error_code(reason),
        BlockError::Expired { .. } => ErrorCode::Expired,
        BlockError::ExpiryTooFar { .. } => ErrorCode::ExpiryTooFar,
        BlockError::Duplicate { .. } => ErrorCode::AlreadyCommitted,
        _ => ErrorCode::Unavailable,
    };
    Refusal::new(code, e.to_string())
}

/// Canonical bytes to a transaction, within the size limit.
pub fn decode(bytes: &[u8]) -> Result<SignedTx, Refusal> {
    if bytes.len() > TX_BYTES_MAX {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!("{} bytes, at most {TX_BYTES_MAX}", bytes.len()),
        ));
    }
    SignedTx::from_bytes(bytes).map_err(|e| Refusal::new(ErrorCode::Malformed, e.to_string()))
}

/// One transaction from a request body: its JSON file form or its canonical bytes.
pub fn parse_one(is_json: bool, body: &[u8]) -> Result<SignedTx, Refusal> {
    if is_json {
        serde_json::from_slice::<SignedTx>(body)
            .map_err(|e| Refusal::new(ErrorCode::Malformed, format!("not a transaction file: {e}")))
    } else {
        decode(body)
    }
}

/// The transactions of a batch request body: a JSON array of file forms, or the canonical
/// encoding of a list of canonical transactions. The body as a whole is refused when it is
/// not a list (`Malformed`) or too long a one (`TooMany`); each item keeps its own verdict.
pub fn parse_batch(is_json: bool, body: &[u8]) -> Result<Vec<Result<SignedTx, Refusal>>, Refusal> {
    let too_many = |len: usize| {
        Refusal::new(
            ErrorCode::TooMany,
            format!("{len} transactions, at most {SUBMIT_BATCH_TXS_MAX} in one request"),
        )
    };
    if is_json {
        let items: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
            Refusal::new(
                ErrorCode::Malformed,
                format!("not a JSON array of transaction files: {e}"),
            )
        })?;
        if items.len() > SUBMIT_BATCH_TXS_MAX {
            return Err(too_many(items.len()));
        }
        Ok(items
            .into_iter()
            .map(|item| {
                serde_json::from_value::<SignedTx>(item).map_err(|e| {
                    Refusal::new(ErrorCode::Malformed, format!("not a transaction file: {e}"))
                })
            })
            .collect())
    } else {
        let items: Vec<Vec<u8>> =
            ledger::codec::decode(body, SUBMIT_BATCH_BYTES_MAX).map_err(|e| {
                Refusal::new(
                    ErrorCode::Malformed,
                    format!("not a list of canonical transactions: {e}"),
                )
            })?;
        if items.len() > SUBMIT_BATCH_TXS_MAX {
            return Err(too_many(items.len()));
        }
        Ok(items.iter().map(|b| decode(b)).collect())
    }
}

/// The intake lingers for more submissions only after a check of at least this many
/// transactions: a node under load.
pub const LINGER_AFTER_TXS: usize = 128;
/// ... for at most this long after the first submission of the check arrived ...
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(20);
/// ... and only until this many transactions have joined.
pub const LINGER_UNTIL_TXS: usize = 1_024;

/// One transaction's verdict: its id when taken.
pub type Verdict = Result<TxId, Refusal>;

/// Where a submission came from: the backlog bound applies to this member's own staff
/// only (see `mempool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Staff,
    Peer,
}

/// Transactions submitted together, and where their verdicts go.
pub struct Job {
    txs: Vec<Result<SignedTx, Refusal>>,
    origin: Origin,
    /// How many of `txs` are staff submissions still to be checked (counted while queued).
    staff: usize,
    arrived: std::time::Instant,
    reply: oneshot::Sender<Vec<Verdict>>,
}

/// The way into the intake thread.
#[derive(Clone)]
pub struct Queue {
    jobs: mpsc::Sender<Job>,
    /// Staff transactions in the queue, not yet taken by the intake thread.
    staff_waiting: Arc<AtomicUsize>,
}

/// The queue, and its end for [`start`].
pub fn queue() -> (Queue, mpsc::Receiver<Job>) {
    let (jobs, receiver) = mpsc::channel(INTAKE_QUEUE_JOBS_MAX);
    let queue = Queue {
        jobs,
        staff_waiting: Arc::new(AtomicUsize::new(0)),
    };
    (queue, receiver)
}

/// Checks what this node's staff submit (see [`Queue::submit`]), after refusing at once,
/// with `Backlog`, what would not fit under the backlog bound (see `mempool`) counting the
/// staff transactions that already wait for the intake thread. When intake lags, a
/// submission past the bound would otherwise wait in the queue only to be refused, or be
/// taken behind a queue it cannot shorten; the bound's promise (no more pending than the
/// network commits in [`crate::mempool::BACKLOG_MS`]) then holds for what waits in the queue too.
pub async fn submit_staff(
    queue: &Queue,
    mempool: &Pool,
    txs: Vec<Result<SignedTx, Refusal>>,
) -> Vec<Verdict> {
    let waiting = queue.staff_waiting();
    let room = {
        let pool = mempool.lock();
        pool.backlog_txs_max(std::time::Instant::now())
            .saturating_sub(pool.len() + waiting)
    };
    queue.submit(at_the_door(txs, room), Origin::Staff).await
}

/// The first `room` transactions of `txs` go on; the others are refused with `Backlog`. An
/// `Err` item keeps its own refusal and takes no room.
fn at_the_door(
    txs: Vec<Result<SignedTx, Refusal>>,
    mut room: usize,
) -> Vec<Result<SignedTx, Refusal>> {
    txs.into_iter()
        .map(|tx| match tx {
            Ok(_) if room == 0 => Err(mempool_refusal(MempoolError::Backlog)),
            Ok(tx) => {
                room -= 1;
                Ok(tx)
            }
            Err(refusal) => Err(refusal),
        })
        .collect()
}

impl Queue {
    /// Checks `txs` (an `Err` item keeps its refusal) and puts those that pass in the
    /// mempool; one verdict each, in order. Staff transactions taken are handed to the
    /// gossip; a peer's are not (its sender gossips them).
    pub async fn submit(
        &self,
        txs: Vec<Result<SignedTx, Refusal>>,
        origin: Origin,
    ) -> Vec<Verdict> {
        let count = txs.len();
        let (reply, answer) = oneshot::channel();
        let stopped = || {
            (0..count)
                .map(|_| Err(Refusal::new(ErrorCode::Unavailable, "the node is stopping")))
                .collect()
        };
        if !self.enqueue(txs, origin, reply).await {
            return stopped();
        }
        answer.await.unwrap_or_else(|_| stopped())
    }

    /// Hands `txs` to the intake thread without waiting for their verdicts (the gossip's
    /// way in: a peer learns nothing from them, and waiting would let only one received
    /// batch into each check). Waits only for room in the queue; `false` when the node is
    /// stopping.
    pub async fn offer(&self, txs: Vec<Result<SignedTx, Refusal>>, origin: Origin) -> bool {
        let (reply, _unread) = oneshot::channel();
        self.enqueue(txs, origin, reply).await
    }

    /// Queues `txs` once there is room, counting its staff submissions as waiting until
    /// the intake thread takes them; `false` when the node is stopping.
    async fn enqueue(
        &self,
        txs: Vec<Result<SignedTx, Refusal>>,
        origin: Origin,
        reply: oneshot::Sender<Vec<Verdict>>,
    ) -> bool {
        let staff = match origin {
            Origin::Staff => txs.iter().filter(|tx| tx.is_ok()).count(),
            Origin::Peer => 0,
        };
        let job = Job {
            txs,
            origin,
            staff,
            arrived: std::time::Instant::now(),
            reply,
        };
        self.staff_waiting.fetch_add(staff, Ordering::Relaxed);
        if self.jobs.send(job).await.is_err() {
            self.staff_waiting.fetch_sub(staff, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Staff transactions waiting for the intake thread.
    pub fn staff_waiting(&self) -> usize {
        self.staff_waiting.load(Ordering::Relaxed)
    }

    /// The intake thread has taken `jobs` out of the queue.
    fn taken(&self, jobs: &[Job]) {
        let staff: usize = jobs.iter().map(|job| job.staff).sum();
        self.staff_waiting.fetch_sub(staff, Ordering::Relaxed);
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Starts the intake thread.
pub fn start(checker: Checker, mut jobs: mpsc::Receiver<Job>) -> std::io::Result<()> {
    let timer = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("intake".into())
        .spawn(move || {
            let mut under_load = false;
            while let Some(first) = jobs.blocking_recv() {
                let linger = under_load.then_some(LINGER);
                let (mut joined, count) = join(first, &mut jobs, &timer, linger);
                checker.queue.taken(&joined);
                under_load = count >= LINGER_AFTER_TXS;
                checker
                    .metrics
                    .histograms
                    .intake_batch_txs
                    .observe(count as u64);
                let lengths: Vec<usize> = joined.iter().map(|j| j.txs.len()).collect();
                let txs = joined
                    .iter_mut()
                    .flat_map(|j| {
                        let origin = j.origin;
                        std::mem::take(&mut j.txs)
                            .into_iter()
                            .map(move |tx| (tx, origin))
                    })
                    .collect();
                let mut verdicts = submit_all(&checker, txs).into_iter();
                for (job, len) in joined.into_iter().zip(lengths) {
                    let _ = job.reply.send(verdicts.by_ref().take(len).collect());
                }
            }
        })?;
    Ok(())
}

/// `first` and the submissions that join it: those waiting, up to [`INTAKE_JOINED_TXS_MAX`]
/// transactions, and with `linger`, those that come within it of `first`'s arrival,
/// until [`LINGER_UNTIL_TXS`] have joined. Returns them with their transaction count.
fn join(
    first: Job,
    jobs: &mut mpsc::Receiver<Job>,
    timer: &tokio::runtime::Runtime,
    linger: Option<std::time::Duration>,
) -> (Vec<Job>, usize) {
    let linger_until = linger.map(|linger| first.arrived + linger);
    let mut count = first.txs.len();
    let mut joined = vec![first];
    while count < INTAKE_JOINED_TXS_MAX {
        let job = match jobs.try_recv() {
            Ok(job) => job,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                let now = std::time::Instant::now();
                let Some(until) = linger_until.filter(|until| *until > now) else {
                    break;
                };
                if count >= LINGER_UNTIL_TXS {
                    break;
                }
                match next_within(timer, jobs, until - now) {
                    Some(job) => job,
                    None => break,
                }
            }
        };
        count += job.txs.len();
        joined.push(job);
    }
    (joined, count)
}

/// The next submission if one comes within `wait`; `timer` is the intake thread's own
/// small runtime, since the thread is outside the node's.
fn next_within(
    timer: &tokio::runtime::Runtime,
    jobs: &mut mpsc::Receiver<Job>,
    wait: std::time::Duration,
) -> Option<Job> {
    timer
        .block_on(async { tokio::time::timeout(wait, jobs.recv()).await })
        .ok()
        .flatten()
}

/// Checks many transactions, their signatures in one batch, and puts those that pass in
/// the mempool; one verdict each, in order. An `Err` item (it did not decode) keeps its
/// refusal.
fn submit_all(
    checker: &Checker,
    txs: Vec<(Result<SignedTx, Refusal>, Origin)>,
) -> Vec<Result<TxId, Refusal>> {
    let Checker {
        chain,
        mempool,
        metrics,
        ..
    } = checker;
    Metrics::add(&metrics.txs_received, txs.len() as u64);
    let Taken {
        mut verdicts,
        to_verify,
        encoded,
        slots,
    } = take(chain, &mempool.lock(), txs);
    let verified = SignedTx::verify_all(to_verify, chain.chain_id(), chain.suite());
    Metrics::add(
        &metrics.signatures_verified,
        verified
            .iter()
            .map(|v| v.as_ref().map_or(1, |tx| tx.signers().len() as u64))
            .sum(),
    );
    // The signers' key records are read once for the whole batch, not once per
    // transaction; a block committed meanwhile is caught again when the block is built.
    let stored = chain.history().state();
    let state = ledger::state::ReadCache::new(&stored);
    let env = chain.next_env();
    for ((slot, verdict), (bytes, origin)) in slots.into_iter().zip(verified).zip(encoded) {
        let result = verdict
            .map_err(|e| Refusal::new(tx_error_code(&e), e.to_string()))
            .and_then(|tx| admit(checker, &state, &env, tx, bytes, origin));
        verdicts[slot] = Some(result);
    }
    let verdicts: Vec<Result<TxId, Refusal>> = verdicts
        .into_iter()
        .map(|v| v.expect("every transaction has its verdict"))
        .collect();
    let refused = verdicts.iter().filter(|v| v.is_err()).count();
    Metrics::add(&metrics.txs_refused, refused as u64);
    verdicts
}

/// A batch's transactions sorted before their signatures are checked: the refusals
/// already known (by place), and the others to verify with their bytes and origin.
struct Taken {
    verdicts: Vec<Option<Result<TxId, Refusal>>>,
    to_verify: Vec<SignedTx>,
    encoded: Vec<(Vec<u8>, Origin)>,
    /// The place in `verdicts` of each transaction of `to_verify`.
    slots: Vec<usize>,
}

/// Sorts `txs` under the mempool's lock (`pool`): a transaction that is too large,
/// already pending, or that could not be kept (its submitter's room, the pool's room, the
/// backlog for staff transactions) is refused before its signatures are checked, so that
/// a node under more load than it can commit spends nothing on what it would drop. (The
/// submitter is read unverified here; that only ever refuses.)
fn take(
    chain: &Chain,
    pool: &crate::mempool::Mempool,
    txs: Vec<(Result<SignedTx, Refusal>, Origin)>,
) -> Taken {
    let mut verdicts: Vec<Option<Result<TxId, Refusal>>> = Vec::with_capacity(txs.len());
    let mut to_verify = Vec::new();
    let mut encoded = Vec::new();
    let mut slots = Vec::new();
    {
        // What this batch would add, per submitter and in all.
        let mut planned: BTreeMap<PublicKey, (usize, usize)> = BTreeMap::new();
        let mut planned_in_all = (0, 0);
        let backlog_max = pool.backlog_txs_max(std::time::Instant::now());
        for (tx, origin) in txs {
            let checked = tx.and_then(|tx| {
                let bytes = tx.to_bytes();
                let size = bytes.len();
                if size > TX_BYTES_MAX {
                    return Err(Refusal::new(
                        ErrorCode::TooLarge,
                        format!("{size} bytes, at most {TX_BYTES_MAX}"),
                    ));
                }
                if pool.contains(&tx.id(chain.suite())) {
                    return Err(Refusal::new(
                        ErrorCode::Duplicate,
                        "the transaction is already pending",
                    ));
                }
                if let Some(first) = tx.signatures.first() {
                    let mine = planned.entry(first.public_key).or_default();
                    let more = (mine.0 + 1, mine.1 + size);
                    let in_all = (planned_in_all.0 + 1, planned_in_all.1 + size);
                    pool.room(&first.public_key, more, in_all)
                        .map_err(mempool_refusal)?;
                    if origin == Origin::Staff {
                        pool.backlog_room(in_all.0, backlog_max)
                            .map_err(mempool_refusal)?;
                    }
                    *mine = more;
                    planned_in_all = in_all;
                }
                Ok((tx, bytes))
            });
            match checked {
                Ok((tx, bytes)) => {
                    slots.push(verdicts.len());
                    verdicts.push(None);
                    to_verify.push(tx);
                    // A staff transaction taken is gossiped from these bytes.
                    encoded.push((bytes, origin));
                }
                Err(refusal) => verdicts.push(Some(Err(refusal))),
            }
        }
    }
    Taken {
        verdicts,
        to_verify,
        encoded,
        slots,
    }
}

/// Admits a transaction whose signatures verified, checked as a block would check it on
/// `state` at `env` (its signers registered), to the mempool; a staff transaction is
/// then gossiped from `bytes`.
fn admit(
    checker: &Checker,
    state: &dyn ledger::state::StateView,
    env: &Result<contracts::chain::BlockEnv, BlockError>,
    tx: ledger::tx::VerifiedTx,
    bytes: Vec<u8>,
    origin: Origin,
) -> Result<TxId, Refusal> {
    let size = bytes.len();
    let env = env.clone().map_err(block_error_refusal)?;
    contracts::chain::admit(state, &env, &tx).map_err(block_error_refusal)?;
    contracts::orgs_of_keys(state, tx.signers()).map_err(|code| {
        Refusal::new(
            ErrorCode::UnregisteredKey,
            format!("a signing key is not a registered key of an organisation ({code})"),
        )
    })?;
    let id = tx.id();
    checker
        .mempool
        .lock()
        .insert(tx, size)
        .map_err(mempool_refusal)?;
    if origin == Origin::Staff {
        checker.gossip(bytes);
    }
    Ok(id)
}

fn mempool_refusal(e: MempoolError) -> Refusal {
    match e {
        MempoolError::Duplicate => Refusal::new(ErrorCode::Duplicate, e.to_string()),
        MempoolError::Full => Refusal::new(ErrorCode::MempoolFull, e.to_string()),
        MempoolError::SubmitterFull => Refusal::new(ErrorCode::SubmitterQuota, e.to_string()),
        MempoolError::Backlog => Refusal::new(ErrorCode::Backlog, e.to_string()),
    }
}

/// What the intake thread checks with, and where it puts what passes.
pub struct Checker {
    pub chain: Arc<Chain>,
    pub mempool: Arc<Pool>,
    pub metrics: Arc<Metrics>,
    /// Staff transactions taken go here, to be gossiped.
    pub outbox: Outbox,
    /// The queue the thread serves (to count what it took).
    pub queue: Queue,
}

impl Checker {
    /// Hands a transaction this node's staff submitted to the gossip, if there is room;
    /// when there is none it stays in this node's mempool, to be proposed here.
    fn gossip(&self, bytes: Vec<u8>) {
        if !self.outbox.send(bytes) {
            self.metrics
                .gossip_outbox_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where the intake puts the transactions this node's staff submitted, for the gossip to
/// send to the other validators (`gossip::run` holds the other end).
#[derive(Clone)]
pub struct Outbox {
    queue: mpsc::Sender<Vec<u8>>,
}

impl Outbox {
    /// Queues a locally accepted transaction's canonical bytes; `false` when the queue
    /// is full (the transaction stays in this node's mempool).
    pub fn send(&self, bytes: Vec<u8>) -> bool {
        self.queue.try_send(bytes).is_ok()
    }

    /// Transactions waiting to be sent.
    pub fn len(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The outbox, and its end for the gossip.
pub fn outbox() -> (Outbox, mpsc::Receiver<Vec<u8>>) {
    let (queue, receiver) = mpsc::channel(GOSSIP_OUTBOX_TXS_MAX);
    (Outbox { queue }, receiver)
}

#[cfg(test)]
mod tests {
    use super::*;
    /// The suite of the chains these tests make.
    const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;
    use std::time::{Duration, Instant};

    fn job(txs: usize) -> Job {
        let (reply, _) = oneshot::channel();
        Job {
            txs: (0..txs)
                .map(|_| Err(Refusal::new(ErrorCode::Malformed, "a stand-in item")))
                .collect(),
            origin: Origin::Staff,
            staff: 0,
            arrived: Instant::now(),
            reply,
        }
    }

    fn tx(nonce: u64) -> SignedTx {
        SignedTx::unsigned(ledger::tx::TxBody {
            chain_id: ledger::Id::new("door").unwrap(),
            nonce,
            expires_at_height: 10,
            action: ledger::Action::FlagEnterprise(ledger::action::FlagEnterprise {
                enterprise: ledger::Id::new("ent").unwrap(),
                reason: ledger::Text::new("test").unwrap(),
            }),
        })
    }

    #[test]
    fn the_door_lets_through_what_fits_and_refuses_the_rest_as_backlog() {
        let malformed = Refusal::new(ErrorCode::Malformed, "did not decode");
        let txs = vec![Ok(tx(1)), Err(malformed.clone()), Ok(tx(2)), Ok(tx(3))];
        let through = at_the_door(txs, 2);
        assert_eq!(
            through[0].as_ref().map(|t| t.id(SUITE)),
            Ok(tx(1).id(SUITE))
        );
        assert_eq!(through[1], Err(malformed));
        assert_eq!(
            through[2].as_ref().map(|t| t.id(SUITE)),
            Ok(tx(2).id(SUITE))
        );
        assert_eq!(
            through[3].as_ref().map_err(|r| r.code),
            Err(ErrorCode::Backlog)
        );
        let none = at_the_door(vec![Ok(tx(1))], 0);
        assert_eq!(
            none[0].as_ref().map_err(|r| r.code),
            Err(ErrorCode::Backlog)
        );
    }

    #[test]
    fn staff_transactions_count_as_waiting_until_the_intake_takes_them() {
        let (queue, mut jobs) = queue();
        let runtime = timer();
        let submitter = queue.clone();
        // Nothing answers: the submission stays queued, its verdicts never come.
        let pending = runtime.spawn(async move {
            submitter
                .submit(
                    vec![
                        Ok(tx(1)),
                        Ok(tx(2)),
                        Err(Refusal::new(ErrorCode::Malformed, "x")),
                    ],
                    Origin::Staff,
                )
                .await
        });
        let job = runtime.block_on(async {
            loop {
                if let Ok(job) = jobs.try_recv() {
                    break job;
                }
                tokio::task::yield_now().await;
            }
        });
        // Counted from before it was queued until taken.
        assert_eq!(queue.staff_waiting(), 2);
        assert_eq!(job.staff, 2);
        queue.taken(std::slice::from_ref(&job));
        assert_eq!(queue.staff_waiting(), 0);
        drop(job);
        let verdicts = runtime.block_on(pending).expect("the submitter finished");
        assert!(verdicts.iter().all(|v| v.is_err()), "{verdicts:?}");
    }

    #[test]
    fn a_peers_batch_is_handed_over_without_waiting_for_its_verdicts() {
        let (queue, mut jobs) = queue();
        let runtime = timer();
        // No intake thread runs, so a submission that waited for verdicts would never end.
        assert!(runtime.block_on(queue.offer(vec![Ok(tx(1))], Origin::Peer)));
        let job = jobs.try_recv().expect("the batch is queued");
        assert_eq!((job.txs.len(), job.origin, job.staff), (1, Origin::Peer, 0));
        assert_eq!(queue.staff_waiting(), 0);
        drop(jobs);
        assert!(!runtime.block_on(queue.offer(vec![Ok(tx(2))], Origin::Peer)));
    }

    fn timer() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a timer runtime")
    }

    #[test]
    fn waiting_submissions_join_up_to_the_limit() {
        let (queue, mut jobs) = queue();
        for _ in 0..3 {
            queue.jobs.try_send(job(2_000)).expect("room in the queue");
        }
        let first = jobs.try_recv().expect("a job");
        let (joined, count) = join(first, &mut jobs, &timer(), None);
        // The third would pass INTAKE_JOINED_TXS_MAX only after it joined: joining stops once
        // the limit is reached, not before.
        assert_eq!((joined.len(), count), (3, 6_000));
        assert!(count >= INTAKE_JOINED_TXS_MAX);
        queue.jobs.try_send(job(1)).expect("room in the queue");
        let first = jobs.try_recv().expect("a job");
        let (joined, count) = join(first, &mut jobs, &timer(), None);
        assert_eq!((joined.len(), count), (1, 1));
    }

    #[test]
    fn without_load_a_lone_submission_is_checked_at_once() {
        let (queue, mut jobs) = queue();
        queue.jobs.try_send(job(1)).expect("room in the queue");
        let first = jobs.try_recv().expect("a job");
        let late = queue.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            late.jobs.try_send(job(1)).expect("room in the queue");
        });
        let started = Instant::now();
        let (joined, _) = join(first, &mut jobs, &timer(), None);
        assert_eq!(joined.len(), 1);
        assert!(started.elapsed() < Duration::from_millis(300));
        sender.join().expect("the sender finished");
    }

    #[test]
    fn under_load_the_intake_lingers_for_more_until_enough_have_joined() {
        let (queue, mut jobs) = queue();
        queue.jobs.try_send(job(100)).expect("room in the queue");
        let first = jobs.try_recv().expect("a job");
        let late = queue.clone();
        let sender = std::thread::spawn(move || {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(10));
                late.jobs.try_send(job(100)).expect("room in the queue");
            }
        });
        // A linger far longer than the sender needs: the count, not the clock, ends it.
        let (joined, count) = join(first, &mut jobs, &timer(), Some(Duration::from_secs(60)));
        assert!(count >= LINGER_UNTIL_TXS, "{count} joined");
        assert!(count < LINGER_UNTIL_TXS + 100, "{count} joined");
        assert_eq!(joined.len(), count / 100);
        sender.join().expect("the sender finished");
        // And a linger that runs out ends the wait with what came.
        let first = jobs.try_recv().expect("a job left by the sender");
        let started = Instant::now();
        let (_, _) = join(first, &mut jobs, &timer(), Some(Duration::from_millis(50)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
