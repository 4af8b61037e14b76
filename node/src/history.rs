//! The committed chain as its readers see it (the API's views, the event feed, the
//! metrics): blocks, certificates, receipts and the transaction index, the rulebook's
//! state and the readers' indexes, all read-only. [`crate::chain::Chain::history`] gives
//! it; what writes to the store (commits, proposals, evidence) stays with the chain.

use ledger::block::{Block, BlockId, CommitCertificate, Receipt};
use ledger::evidence::DoubleVote;
use ledger::tx::{SignedTx, TxId};

use crate::index::Index;
use crate::store::{BlockOutline, Stats, Store, StoreError, StoreState, TxLocation};

/// A read-only view of a node's committed chain.
#[derive(Clone, Copy)]
pub struct History<'a>(pub(crate) &'a Store);

/// Each read, forwarded to the store under the same name and signature.
macro_rules! reads {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self, $($arg: $ty),*) -> $ret {
                self.0.$name($($arg),*)
            }
        )*
    };
}

impl<'a> History<'a> {
    reads! {
        /// The block at `height`.
        fn block(height: u64) -> Result<Option<Block>, StoreError>;
        /// The block at `height` as the proposer encoded it.
        fn block_bytes(height: u64) -> Result<Option<Vec<u8>>, StoreError>;
        /// The certificate that committed `height`.
        fn certificate(height: u64) -> Result<Option<CommitCertificate>, StoreError>;
        /// The receipts of the block at `height`.
        fn receipts(height: u64) -> Result<Option<Vec<Receipt>>, StoreError>;
        /// The block at `height`'s header and counts, without its transactions.
        fn outline(height: u64) -> Result<Option<BlockOutline>, StoreError>;
        /// One transaction of a block, with its receipt.
        fn block_tx(height: u64, index: u32) -> Result<Option<(SignedTx, Receipt)>, StoreError>;
        /// Where a committed transaction is.
        fn tx_location(id: &TxId) -> Result<Option<TxLocation>, StoreError>;
        /// The height of a committed block.
        fn height_of(id: &BlockId) -> Result<Option<u64>, StoreError>;
        /// The governance transactions from `from_height` on, at most `limit`.
        fn governance_changes(from_height: u64, limit: usize) -> Result<Vec<(TxLocation, TxId)>, StoreError>;
        /// The store's engine's figures.
        fn stats() -> Stats;
        /// Pieces of equivocation evidence kept.
        fn evidence_count() -> usize;
        /// The evidence kept from `from_height` on, at most `limit`.
        fn evidence(from_height: u64, limit: usize) -> Result<Vec<DoubleVote>, StoreError>;
    }

    /// What the transactions of the block at `height` decided.
    pub fn decisions(
        &self,
        height: u64,
    ) -> Result<Option<Vec<(u32, contracts::decision::Decision)>>, StoreError> {
        self.0.decisions(height)
    }

    /// The committed state.
    pub fn state(&self) -> StoreState<'a> {
        self.0.state()
    }

    /// The readers' indexes.
    pub fn index(&self) -> Index<'a> {
        Index(self.0)
    }
}
