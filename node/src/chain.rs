//! The chain: execute, then vote.
//!
//! [`Chain::propose`] builds the next block from candidate transactions: it executes each
//! with the rulebook on the state left by the ones before it and puts the resulting tx
//! root, receipts root and state root in the header. [`Chain::validate`] re-executes a
//! received block and accepts it only if it reproduces the header exactly. Both go through
//! the one function [`Chain::execute`], so a proposer and a validator cannot disagree
//! about what a block does. [`Chain::commit`] stores a decided block with its certificate.
//!
//! State roots: the root of height 0 is `chain_root(genesis hash, genesis writes)`; the
//! root of height h is `chain_root(root(h − 1), write set of block h)`, the write set being
//! the union of its accepted transactions' write sets in order (later writes win).

use contracts::TxContext;
use ledger::block::{receipts_root, Block, BlockHeader, BlockId, CommitCertificate, Outcome, Receipt};
use ledger::codec::TX_BYTES_MAX;
use ledger::crypto::PublicKey;
use ledger::genesis::Genesis;
use ledger::state::{chain_root, Hash32, Overlay, StateView, WriteSet};
use ledger::tx::{SignedTx, TxId, VerifiedTx};
use ledger::validators::ValidatorSet;
use ledger::{Date, Id};

use crate::store::{Commit, Store, StoreError, Tip};

/// A proposal's time may be at most this far ahead of a validator's own clock.
pub const CLOCK_DRIFT_MS_MAX: u64 = 5_000;

/// A block that has been executed: what it changes and what its transactions gave.
#[derive(Debug, Clone)]
pub struct Executed {
    pub block: Block,
    pub receipts: Vec<Receipt>,
    pub writes: WriteSet,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidBlock {
    #[error("block is for chain {0}")]
    WrongChain(Id),
    #[error("block height {found}, expected {expected}")]
    WrongHeight { expected: u64, found: u64 },
    #[error("block does not extend the tip")]
    WrongPrevious,
    #[error("block names another validator set")]
    WrongValidatorSet,
    #[error("proposer is not a validator")]
    UnknownProposer,
    #[error("block time {time_ms} is not after the previous block's {previous_ms}")]
    TimeNotAfterPrevious { time_ms: u64, previous_ms: u64 },
    #[error("block time {time_ms} is more than {CLOCK_DRIFT_MS_MAX} ms ahead of this node's clock {now_ms}")]
    TimeAhead { time_ms: u64, now_ms: u64 },
    #[error("block time {0} has no calendar date")]
    TimeOutOfRange(u64),
    #[error("block has {count} transactions, at most {max}")]
    TooManyTxs { count: usize, max: u32 },
    #[error("transaction {index}: {reason}")]
    BadTx { index: usize, reason: String },
    #[error("the header does not match re-execution ({0})")]
    HeaderMismatch(&'static str),
}

pub struct Chain {
    genesis: Genesis,
    genesis_hash: Hash32,
    validator_set: ValidatorSet,
    validator_set_hash: Hash32,
    store: Store,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the data directory belongs to another genesis ({stored}); this one is {expected}")]
    OtherGenesis { stored: String, expected: String },
    #[error("genesis: {0}")]
    Genesis(String),
}

impl Chain {
    /// Opens the chain on `store`, writing the genesis state if the store is new.
    pub fn open(genesis: Genesis, store: Store) -> Result<Chain, ChainError> {
        let genesis_hash = genesis.hash();
        let validator_set = genesis
            .validator_set()
            .map_err(|e| ChainError::Genesis(e.to_string()))?;
        let validator_set_hash = validator_set.hash();
        match store.genesis_hash()? {
            Some(stored) if stored != genesis_hash => {
                return Err(ChainError::OtherGenesis {
                    stored: hex::encode(stored),
                    expected: hex::encode(genesis_hash),
                })
            }
            Some(_) => {}
            None => {
                let writes = contracts::genesis_writes(&genesis);
                let tip = Tip {
                    height: 0,
                    block_id: BlockId(genesis_hash),
                    state_root: chain_root(&genesis_hash, &writes),
                    time_ms: genesis.genesis_time_ms,
                };
                store.init_genesis(genesis_hash, &writes, tip)?;
            }
        }
        Ok(Chain {
            genesis,
            genesis_hash,
            validator_set,
            validator_set_hash,
            store,
        })
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn genesis_hash(&self) -> Hash32 {
        self.genesis_hash
    }

    pub fn chain_id(&self) -> &Id {
        &self.genesis.chain_id
    }

    pub fn validator_set(&self) -> &ValidatorSet {
        &self.validator_set
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn tip(&self) -> Result<Tip, StoreError> {
        Ok(self
            .store
            .tip()?
            .expect("the genesis tip is written when the chain is opened"))
    }

    /// Whether `tx` may be included at `height` (expiry window, not yet committed).
    /// Signatures are checked separately, once per transaction.
    pub fn includable(&self, tx: &SignedTx, id: &TxId, height: u64) -> Result<(), String> {
        let expires = tx.body.expires_at_height;
        if expires < height {
            return Err(format!("expired at height {expires}"));
        }
        if expires - height > self.genesis.params.tx_expiry_heights_max {
            return Err(format!(
                "expires at {expires}, more than {} heights ahead",
                self.genesis.params.tx_expiry_heights_max
            ));
        }
        if self.store.tx_location(id).map_err(|e| e.to_string())?.is_some() {
            return Err("already committed".into());
        }
        Ok(())
    }

    /// Builds the block of height tip+1 from `candidates` (in order), skipping those that
    /// may no longer be included, up to `block_txs_max` transactions.
    pub fn propose(
        &self,
        time_ms: u64,
        proposer: PublicKey,
        candidates: Vec<VerifiedTx>,
    ) -> Result<Executed, StoreError> {
        let tip = self.tip()?;
        let height = tip.height + 1;
        let mut txs = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for tx in candidates {
            if txs.len() >= self.genesis.params.block_txs_max as usize {
                break;
            }
            let id = tx.id();
            if !seen.insert(id) || self.includable(tx.tx(), &id, height).is_err() {
                continue;
            }
            txs.push(tx);
        }
        let date = Date::from_unix_ms_cst(time_ms).expect("the proposer's clock is in range");
        let (receipts, writes) = self.execute(date, &txs);
        let header = BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time_ms,
            previous: tip.block_id,
            tx_root: ledger::block::tx_root(&txs.iter().map(VerifiedTx::id).collect::<Vec<_>>()),
            receipts_root: receipts_root(&receipts),
            state_root: chain_root(&tip.state_root, &writes),
            validator_set_hash: self.validator_set_hash,
            proposer,
        };
        let block = Block {
            header,
            txs: txs.into_iter().map(VerifiedTx::into_tx).collect(),
        };
        Ok(Executed {
            block,
            receipts,
            writes,
        })
    }

    /// Re-executes `block` on the tip and accepts it only if it reproduces the header.
    /// `now_ms` is this node's clock, or `None` to skip the drift check (a synced block,
    /// which carries a certificate, or a devnet clock).
    pub fn validate(&self, block: Block, now_ms: Option<u64>) -> Result<Executed, InvalidBlock> {
        let tip = self.tip().map_err(|e| InvalidBlock::BadTx {
            index: 0,
            reason: format!("local storage: {e}"),
        })?;
        let h = &block.header;
        if h.chain_id != self.genesis.chain_id {
            return Err(InvalidBlock::WrongChain(h.chain_id.clone()));
        }
        if h.height != tip.height + 1 {
            return Err(InvalidBlock::WrongHeight {
                expected: tip.height + 1,
                found: h.height,
            });
        }
        if h.previous != tip.block_id {
            return Err(InvalidBlock::WrongPrevious);
        }
        if h.validator_set_hash != self.validator_set_hash {
            return Err(InvalidBlock::WrongValidatorSet);
        }
        if self.validator_set.voting_power(&h.proposer).is_none() {
            return Err(InvalidBlock::UnknownProposer);
        }
        if h.time_ms <= tip.time_ms {
            return Err(InvalidBlock::TimeNotAfterPrevious {
                time_ms: h.time_ms,
                previous_ms: tip.time_ms,
            });
        }
        if let Some(now_ms) = now_ms {
            if h.time_ms > now_ms.saturating_add(CLOCK_DRIFT_MS_MAX) {
                return Err(InvalidBlock::TimeAhead {
                    time_ms: h.time_ms,
                    now_ms,
                });
            }
        }
        let date =
            Date::from_unix_ms_cst(h.time_ms).map_err(|_| InvalidBlock::TimeOutOfRange(h.time_ms))?;
        if block.txs.len() > self.genesis.params.block_txs_max as usize {
            return Err(InvalidBlock::TooManyTxs {
                count: block.txs.len(),
                max: self.genesis.params.block_txs_max,
            });
        }
        let mut verified = Vec::with_capacity(block.txs.len());
        let mut seen = std::collections::BTreeSet::new();
        for (index, tx) in block.txs.iter().enumerate() {
            let bad = |reason: String| InvalidBlock::BadTx { index, reason };
            if tx.to_bytes().len() > TX_BYTES_MAX {
                return Err(bad("over the transaction size limit".into()));
            }
            let tx = tx
                .clone()
                .verify(&self.genesis.chain_id)
                .map_err(|e| bad(e.to_string()))?;
            let id = tx.id();
            if !seen.insert(id) {
                return Err(bad("appears twice".into()));
            }
            self.includable(tx.tx(), &id, h.height).map_err(bad)?;
            verified.push(tx);
        }
        let (receipts, writes) = self.execute(date, &verified);
        let ids: Vec<TxId> = verified.iter().map(VerifiedTx::id).collect();
        if h.tx_root != ledger::block::tx_root(&ids) {
            return Err(InvalidBlock::HeaderMismatch("tx root"));
        }
        if h.receipts_root != receipts_root(&receipts) {
            return Err(InvalidBlock::HeaderMismatch("receipts root"));
        }
        if h.state_root != chain_root(&tip.state_root, &writes) {
            return Err(InvalidBlock::HeaderMismatch("state root"));
        }
        Ok(Executed {
            block,
            receipts,
            writes,
        })
    }

    /// Runs the rulebook over `txs` on the committed state. A rejected transaction gets
    /// its code in the receipt and writes nothing.
    fn execute(&self, date: Date, txs: &[VerifiedTx]) -> (Vec<Receipt>, WriteSet) {
        let state = self.store.state();
        let mut overlay = Overlay::new(&state as &dyn StateView);
        let mut receipts = Vec::with_capacity(txs.len());
        for tx in txs {
            let outcome = match contracts::orgs_of_keys(&overlay, tx.signers()) {
                Err(code) => Outcome::Rejected(code),
                Ok(signers) => {
                    let ctx = TxContext { date, signers };
                    match contracts::execute(&overlay, &ctx, &tx.body().action) {
                        Ok(writes) => {
                            overlay.apply(writes);
                            Outcome::Accepted
                        }
                        Err(code) => Outcome::Rejected(code),
                    }
                }
            };
            receipts.push(Receipt {
                tx_id: tx.id(),
                outcome,
            });
        }
        (receipts, overlay.into_writes())
    }

    /// Stores a decided block, its certificate, receipts and state changes in one
    /// durable write, and returns the new tip.
    pub fn commit(
        &self,
        executed: &Executed,
        certificate: &CommitCertificate,
    ) -> Result<Tip, StoreError> {
        let header = &executed.block.header;
        let tip = Tip {
            height: header.height,
            block_id: header.id(),
            state_root: header.state_root,
            time_ms: header.time_ms,
        };
        self.store.commit(
            Commit {
                block: &executed.block,
                certificate,
                receipts: &executed.receipts,
                writes: &executed.writes,
            },
            tip,
        )?;
        Ok(tip)
    }
}
