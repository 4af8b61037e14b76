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
//! (up to [`JOINED_TXS_MAX`] transactions): a batch of ed25519 signatures verifies in
//! about half the time per signature at a thousand as at sixteen, and under load many
//! small requests wait together. An idle node checks a lone transaction at once.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use contracts::chain::BlockError;
use ledger::codec::TX_BYTES_MAX;
use ledger::crypto::PublicKey;
use ledger::tx::{SignedTx, TxError, TxId};

use crate::mempool::MempoolError;
use crate::shared::{Metrics, Shared};

/// A refusal: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

fn tx_error_code(e: &TxError) -> &'static str {
    match e {
        TxError::WrongChain { .. } => "WrongChain",
        TxError::Unsigned => "Unsigned",
        TxError::TooManySignatures { .. } => "TooManySignatures",
        TxError::DuplicateSigner(_) => "DuplicateSigner",
        TxError::BadSignature { .. } => "BadSignature",
        TxError::Codec(_) => "Malformed",
    }
}

fn block_error_refusal(e: BlockError) -> Refusal {
    let code = match &e {
        BlockError::BadTransaction { reason, .. } => tx_error_code(reason),
        BlockError::Expired { .. } => "Expired",
        BlockError::ExpiryTooFar { .. } => "ExpiryTooFar",
        BlockError::Duplicate { .. } => "AlreadyCommitted",
        _ => "Unavailable",
    };
    Refusal::new(code, e.to_string())
}

/// Canonical bytes to a transaction, within the size limit.
pub fn decode(bytes: &[u8]) -> Result<SignedTx, Refusal> {
    if bytes.len() > TX_BYTES_MAX {
        return Err(Refusal::new(
            "TooLarge",
            format!("{} bytes, at most {TX_BYTES_MAX}", bytes.len()),
        ));
    }
    SignedTx::from_bytes(bytes).map_err(|e| Refusal::new("Malformed", e.to_string()))
}

/// Largest request body of a batch.
pub const BATCH_REQUEST_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Most transactions in one batch request.
pub const BATCH_TXS_MAX: usize = 10_000;

/// One transaction from a request body: its JSON file form or its canonical bytes.
pub fn parse_one(is_json: bool, body: &[u8]) -> Result<SignedTx, Refusal> {
    if is_json {
        serde_json::from_slice::<SignedTx>(body)
            .map_err(|e| Refusal::new("Malformed", format!("not a transaction file: {e}")))
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
            "TooMany",
            format!("{len} transactions, at most {BATCH_TXS_MAX} in one request"),
        )
    };
    if is_json {
        let items: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
            Refusal::new(
                "Malformed",
                format!("not a JSON array of transaction files: {e}"),
            )
        })?;
        if items.len() > BATCH_TXS_MAX {
            return Err(too_many(items.len()));
        }
        Ok(items
            .into_iter()
            .map(|item| {
                serde_json::from_value::<SignedTx>(item)
                    .map_err(|e| Refusal::new("Malformed", format!("not a transaction file: {e}")))
            })
            .collect())
    } else {
        let items: Vec<Vec<u8>> =
            ledger::codec::decode(body, BATCH_REQUEST_BYTES_MAX).map_err(|e| {
                Refusal::new(
                    "Malformed",
                    format!("not a list of canonical transactions: {e}"),
                )
            })?;
        if items.len() > BATCH_TXS_MAX {
            return Err(too_many(items.len()));
        }
        Ok(items.iter().map(|b| decode(b)).collect())
    }
}

/// Submissions waiting for the intake thread at most; a submitter beyond it waits.
pub const QUEUE_JOBS_MAX: usize = 1_024;
/// Most transactions the intake thread checks together.
pub const JOINED_TXS_MAX: usize = 4_096;

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
    reply: oneshot::Sender<Vec<Verdict>>,
}

/// The way into the intake thread.
#[derive(Clone)]
pub struct Queue {
    jobs: mpsc::Sender<Job>,
}

/// The queue, and its end for [`start`].
pub fn queue() -> (Queue, mpsc::Receiver<Job>) {
    let (jobs, receiver) = mpsc::channel(QUEUE_JOBS_MAX);
    (Queue { jobs }, receiver)
}

impl Queue {
    /// Checks `txs` (an `Err` item keeps its refusal) and puts those that pass in the
    /// mempool; one verdict each, in order. Does not gossip.
    pub async fn submit(
        &self,
        txs: Vec<Result<SignedTx, Refusal>>,
        origin: Origin,
    ) -> Vec<Verdict> {
        let count = txs.len();
        let (reply, answer) = oneshot::channel();
        let stopped = || {
            (0..count)
                .map(|_| Err(Refusal::new("Unavailable", "the node is stopping")))
                .collect()
        };
        if self.jobs.send(Job { txs, origin, reply }).await.is_err() {
            return stopped();
        }
        answer.await.unwrap_or_else(|_| stopped())
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
pub fn start(shared: Arc<Shared>, mut jobs: mpsc::Receiver<Job>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("intake".into())
        .spawn(move || {
            while let Some(first) = jobs.blocking_recv() {
                let mut joined = vec![first];
                let mut count = joined[0].txs.len();
                while count < JOINED_TXS_MAX {
                    match jobs.try_recv() {
                        Ok(job) => {
                            count += job.txs.len();
                            joined.push(job);
                        }
                        Err(_) => break,
                    }
                }
                shared
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
                let mut verdicts = submit_all(&shared, txs).into_iter();
                for (job, len) in joined.into_iter().zip(lengths) {
                    let _ = job.reply.send(verdicts.by_ref().take(len).collect());
                }
            }
        })?;
    Ok(())
}

/// Checks many transactions, their signatures in one batch, and puts those that pass in
/// the mempool; one verdict each, in order. An `Err` item (it did not decode) keeps its
/// refusal.
fn submit_all(
    shared: &Shared,
    txs: Vec<(Result<SignedTx, Refusal>, Origin)>,
) -> Vec<Result<TxId, Refusal>> {
    Metrics::add(&shared.metrics.txs_received, txs.len() as u64);
    let mut verdicts: Vec<Option<Result<TxId, Refusal>>> = Vec::with_capacity(txs.len());
    let mut to_verify = Vec::new();
    let mut sizes = Vec::new();
    let mut slots = Vec::new();
    {
        let pool = shared.mempool.lock().expect("mempool lock poisoned");
        // What this batch would add, per submitter and in all: a transaction that could
        // not be kept is refused before its signatures are checked, so that a node under
        // more load than it can commit spends nothing on what it would drop. (The
        // submitter is read unverified here; that only ever refuses.)
        let mut planned: BTreeMap<PublicKey, (usize, usize)> = BTreeMap::new();
        let mut planned_in_all = (0, 0);
        let backlog_max = pool.backlog_txs_max(std::time::Instant::now());
        for (tx, origin) in txs {
            let checked = tx.and_then(|tx| {
                let size = tx.to_bytes().len();
                if size > TX_BYTES_MAX {
                    return Err(Refusal::new(
                        "TooLarge",
                        format!("{size} bytes, at most {TX_BYTES_MAX}"),
                    ));
                }
                if pool.contains(&tx.id()) {
                    return Err(Refusal::new(
                        "Duplicate",
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
                Ok((tx, size))
            });
            match checked {
                Ok((tx, size)) => {
                    slots.push(verdicts.len());
                    verdicts.push(None);
                    to_verify.push(tx);
                    sizes.push(size);
                }
                Err(refusal) => verdicts.push(Some(Err(refusal))),
            }
        }
    }
    let chain = &shared.chain;
    let verified = SignedTx::verify_all(to_verify, chain.chain_id());
    Metrics::add(
        &shared.metrics.signatures_verified,
        verified
            .iter()
            .map(|v| v.as_ref().map_or(1, |tx| tx.signers().len() as u64))
            .sum(),
    );
    // The signers' key records are read once for the whole batch, not once per
    // transaction; a block committed meanwhile is caught again when the block is built.
    let stored = chain.store().state();
    let state = ledger::state::ReadCache::new(&stored);
    let env = chain.next_env();
    for ((slot, verdict), size) in slots.into_iter().zip(verified).zip(sizes) {
        let result = verdict
            .map_err(|e| Refusal::new(tx_error_code(&e), e.to_string()))
            .and_then(|tx| {
                let env = env.clone().map_err(block_error_refusal)?;
                contracts::chain::admit(&state, &env, &tx).map_err(block_error_refusal)?;
                contracts::orgs_of_keys(&state, tx.signers()).map_err(|code| {
                    Refusal::new(
                        "UnregisteredKey",
                        format!(
                            "a signing key is not a registered key of an organisation ({code})"
                        ),
                    )
                })?;
                let id = tx.id();
                shared
                    .mempool
                    .lock()
                    .expect("mempool lock poisoned")
                    .insert(tx, size)
                    .map_err(mempool_refusal)?;
                Ok(id)
            });
        verdicts[slot] = Some(result);
    }
    let verdicts: Vec<Result<TxId, Refusal>> = verdicts
        .into_iter()
        .map(|v| v.expect("every transaction has its verdict"))
        .collect();
    let refused = verdicts.iter().filter(|v| v.is_err()).count();
    Metrics::add(&shared.metrics.txs_refused, refused as u64);
    verdicts
}

fn mempool_refusal(e: MempoolError) -> Refusal {
    match e {
        MempoolError::Duplicate => Refusal::new("Duplicate", e.to_string()),
        MempoolError::Full => Refusal::new("MempoolFull", e.to_string()),
        MempoolError::SubmitterFull => Refusal::new("SubmitterQuota", e.to_string()),
        MempoolError::Backlog => Refusal::new("Backlog", e.to_string()),
    }
}

/// Hands a transaction this node's staff submitted to the gossip, if there is room (see
/// `gossip`); when there is none it stays in this node's mempool, to be proposed here.
pub fn gossip(shared: &Shared, bytes: Vec<u8>) {
    if !shared.gossip.send(bytes) {
        shared
            .metrics
            .gossip_outbox_dropped
            .fetch_add(1, Ordering::Relaxed);
    }
}
