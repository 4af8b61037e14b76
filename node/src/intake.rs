//! Transaction intake: everything is checked at the edge, before the mempool.
//!
//! Size, canonical decoding, chain id, every signature (once, in one batch for a batch of
//! transactions: `SignedTx::verify_all`), expiry window and "not committed before"
//! (`contracts::chain::admit`, what the next block will check), and that every signing
//! key is a registered, unrevoked key of an organisation (`contracts::orgs_of_keys`).
//! What passes enters the mempool as a `VerifiedTx`, whose verdict the proposer and the
//! validators reuse. Refusals carry a stable code for the API.

use std::sync::atomic::Ordering;

use contracts::chain::BlockError;
use ledger::codec::TX_BYTES_MAX;
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

/// Decodes canonical bytes and submits.
pub fn submit_bytes(shared: &Shared, bytes: &[u8]) -> Result<TxId, Refusal> {
    let tx = decode(bytes)?;
    submit(shared, tx)
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

/// Checks `tx` and puts it in the mempool; returns its id. Does not gossip.
pub fn submit(shared: &Shared, tx: SignedTx) -> Result<TxId, Refusal> {
    submit_all(shared, vec![Ok(tx)])
        .pop()
        .expect("one verdict per transaction")
}

/// Checks many transactions, their signatures in one batch, and puts those that pass in
/// the mempool; one verdict each, in order. An `Err` item (it did not decode) keeps its
/// refusal.
pub fn submit_all(
    shared: &Shared,
    txs: Vec<Result<SignedTx, Refusal>>,
) -> Vec<Result<TxId, Refusal>> {
    Metrics::add(&shared.metrics.txs_received, txs.len() as u64);
    let mut verdicts: Vec<Option<Result<TxId, Refusal>>> = Vec::with_capacity(txs.len());
    let mut to_verify = Vec::new();
    let mut sizes = Vec::new();
    let mut slots = Vec::new();
    {
        let pool = shared.mempool.lock().expect("mempool lock poisoned");
        for tx in txs {
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
    let state = chain.store().state();
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
                    .map_err(|e| match e {
                        MempoolError::Duplicate => Refusal::new("Duplicate", e.to_string()),
                        MempoolError::Full => Refusal::new("MempoolFull", e.to_string()),
                        MempoolError::SubmitterFull => {
                            Refusal::new("SubmitterQuota", e.to_string())
                        }
                    })?;
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
