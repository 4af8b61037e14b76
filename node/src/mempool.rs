//! The mempool: verified transactions waiting for a block, bounded in count and bytes.
//!
//! Only [`VerifiedTx`] enters (chain id and every signature checked at the edge). A
//! duplicate id is dropped; when full, a new transaction is refused rather than an old one
//! evicted, so a flood cannot push out transactions already accepted. Transactions leave
//! when committed (by id, whoever proposed the block) or when they expire.

use std::collections::{BTreeMap, BTreeSet};

use ledger::tx::{TxId, VerifiedTx};

/// Most transactions held at once.
pub const MEMPOOL_TXS_MAX: usize = 100_000;
/// Most bytes (canonical transaction bytes) held at once.
pub const MEMPOOL_BYTES_MAX: usize = 128 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("the transaction is already pending")]
    Duplicate,
    #[error("the mempool is full ({MEMPOOL_TXS_MAX} transactions or {MEMPOOL_BYTES_MAX} bytes)")]
    Full,
}

/// One pending transaction.
struct Pending {
    tx: VerifiedTx,
    size: usize,
    /// Its place in arrival order.
    seq: u64,
    arrived: std::time::Instant,
}

#[derive(Default)]
pub struct Mempool {
    /// Arrival order (sequence number → id): the order proposers draw in.
    order: BTreeMap<u64, TxId>,
    txs: BTreeMap<TxId, Pending>,
    /// (expiry height, id): what expires first, without looking at the rest.
    by_expiry: BTreeSet<(u64, TxId)>,
    next_seq: u64,
    bytes: usize,
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

    /// The canonical bytes of a pending transaction (what the gossip sends).
    pub fn bytes_of(&self, id: &TxId) -> Option<Vec<u8>> {
        self.txs.get(id).map(|p| p.tx.tx().to_bytes())
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.txs.contains_key(id)
    }

    /// The verified copy of a pending transaction: what a validator reuses instead of
    /// verifying its signatures again.
    pub fn verified(&self, id: &TxId) -> Option<VerifiedTx> {
        self.txs.get(id).map(|p| p.tx.clone())
    }

    pub fn insert(&mut self, tx: VerifiedTx, size: usize) -> Result<(), MempoolError> {
        let id = tx.id();
        if self.txs.contains_key(&id) {
            return Err(MempoolError::Duplicate);
        }
        if self.txs.len() >= MEMPOOL_TXS_MAX || self.bytes + size > MEMPOOL_BYTES_MAX {
            return Err(MempoolError::Full);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, id);
        self.by_expiry.insert((tx.body().expires_at_height, id));
        self.txs.insert(
            id,
            Pending {
                tx,
                size,
                seq,
                arrived: std::time::Instant::now(),
            },
        );
        self.bytes += size;
        Ok(())
    }

    fn remove(&mut self, id: &TxId) -> Option<std::time::Instant> {
        let p = self.txs.remove(id)?;
        self.bytes -= p.size;
        self.order.remove(&p.seq);
        self.by_expiry.remove(&(p.tx.body().expires_at_height, *id));
        Some(p.arrived)
    }

    /// Up to `count_max` transactions and `bytes_max` bytes, oldest first, left in place
    /// (they leave when committed).
    pub fn candidates(&self, count_max: usize, bytes_max: usize) -> Vec<VerifiedTx> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for id in self.order.values() {
            if out.len() >= count_max {
                break;
            }
            let p = &self.txs[id];
            if bytes + p.size > bytes_max {
                break;
            }
            bytes += p.size;
            out.push(p.tx.clone());
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
    use ledger::action::StaffKey;
    use ledger::crypto::SecretKey;
    use ledger::tx::{SignedTx, TxBody};
    use ledger::{Action, Id};

    fn tx(nonce: u64, expires_at_height: u64) -> VerifiedTx {
        let chain = Id::new("c").unwrap();
        let key = SecretKey::from_seed([1; 32]);
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
        tx.verify(&chain).unwrap()
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
}
