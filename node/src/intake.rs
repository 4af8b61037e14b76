//! Transaction intake: everything is checked at the edge, before the mempool.
//!
//! Size, canonical decoding, chain id, every signature (`verify_strict`), expiry window
//! and "not committed before" (`contracts::chain::admit`, what the next block will check),
//! and that every signing key is a registered, unrevoked key of an organisation
//! (`contracts::orgs_of_keys`). Refusals carry a stable code for the API.

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
    if bytes.len() > TX_BYTES_MAX {
        return Err(Refusal::new(
            "TooLarge",
            format!("{} bytes, at most {TX_BYTES_MAX}", bytes.len()),
        ));
    }
    let tx = SignedTx::from_bytes(bytes).map_err(|e| Refusal::new("Malformed", e.to_string()))?;
    submit(shared, tx)
}

/// Checks `tx` and puts it in the mempool; returns its id. Does not gossip.
pub fn submit(shared: &Shared, tx: SignedTx) -> Result<TxId, Refusal> {
    Metrics::add(&shared.metrics.txs_received, 1);
    let result = check_and_insert(shared, tx);
    if result.is_err() {
        Metrics::add(&shared.metrics.txs_refused, 1);
    }
    result
}

fn check_and_insert(shared: &Shared, tx: SignedTx) -> Result<TxId, Refusal> {
    let size = tx.to_bytes().len();
    if size > TX_BYTES_MAX {
        return Err(Refusal::new(
            "TooLarge",
            format!("{size} bytes, at most {TX_BYTES_MAX}"),
        ));
    }
    let chain = &shared.chain;
    let id = tx.id();
    if shared
        .mempool
        .lock()
        .expect("mempool lock poisoned")
        .contains(&id)
    {
        return Err(Refusal::new(
            "Duplicate",
            "the transaction is already pending",
        ));
    }
    chain.admit(&tx).map_err(block_error_refusal)?;
    let verified = tx
        .verify(chain.chain_id())
        .map_err(|e| Refusal::new(tx_error_code(&e), e.to_string()))?;
    contracts::orgs_of_keys(&chain.store().state(), verified.signers()).map_err(|code| {
        Refusal::new(
            "UnregisteredKey",
            format!("a signing key is not a registered key of an organisation ({code})"),
        )
    })?;
    shared
        .mempool
        .lock()
        .expect("mempool lock poisoned")
        .insert(verified, size)
        .map_err(|e| match e {
            MempoolError::Duplicate => Refusal::new("Duplicate", e.to_string()),
            MempoolError::Full => Refusal::new("MempoolFull", e.to_string()),
        })?;
    Ok(id)
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
