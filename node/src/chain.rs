//! The chain: execute, then vote.
//!
//! [`Chain::propose`] builds the next block from candidate transactions and
//! [`Chain::validate`] re-executes a received one, accepting it only if it reproduces its
//! header. Both run `contracts::chain` (`execute_block`, `check_links`,
//! `check_execution`), the one code path that the auditor runs too, so a proposer, a
//! validator and an auditor cannot disagree about what a block does. [`Chain::commit`]
//! stores a decided block with its certificate. The genesis state and root come from
//! `contracts::chain::genesis_state`.

use contracts::chain::{
    admit, check_execution, check_links, execute_block, genesis_state, BlockEnv, BlockError,
    Predecessor,
};
use ledger::block::{Block, BlockHeader, BlockId, CommitCertificate, Receipt};
use ledger::crypto::PublicKey;
use ledger::genesis::Genesis;
use ledger::state::{Hash32, WriteSet};
use ledger::tx::{TxId, VerifiedTx};
use ledger::validators::ValidatorSet;
use ledger::Id;

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

#[derive(Debug, thiserror::Error)]
pub enum InvalidBlock {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("block time {time_ms} is more than {CLOCK_DRIFT_MS_MAX} ms ahead of this node's clock {now_ms}")]
    TimeAhead { time_ms: u64, now_ms: u64 },
    #[error("block has {count} transactions, at most {max}")]
    TooManyTxs { count: usize, max: u32 },
    #[error("local storage: {0}")]
    Local(#[from] StoreError),
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
                let (writes, state_root) = genesis_state(&genesis);
                let tip = Tip {
                    height: 0,
                    block_id: BlockId(genesis_hash),
                    state_root,
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

    fn env(&self, height: u64, time_ms: u64) -> BlockEnv {
        BlockEnv {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time_ms,
            tx_expiry_heights_max: self.genesis.params.tx_expiry_heights_max,
        }
    }

    /// Checks a transaction as the next block would (signatures, chain, expiry window,
    /// not committed before); what the mempool's intake runs.
    pub fn admit(&self, tx: &ledger::tx::SignedTx) -> Result<(), BlockError> {
        let tip = self.tip().map_err(|e| BlockError::Link(e.to_string()))?;
        let env = self.env(tip.height + 1, tip.time_ms + 1);
        admit(&self.store.state(), &env, tx).map(|_| ())
    }

    /// Builds the block of height tip+1 from `candidates` (in order), skipping those that
    /// may no longer be included, up to `block_txs_max` transactions.
    pub fn propose(
        &self,
        time_ms: u64,
        proposer: PublicKey,
        candidates: Vec<VerifiedTx>,
    ) -> Result<Executed, InvalidBlock> {
        let tip = self.tip()?;
        let height = tip.height + 1;
        let env = self.env(height, time_ms);
        let state = self.store.state();
        let mut txs = Vec::new();
        let mut seen = std::collections::BTreeSet::<TxId>::new();
        for tx in candidates {
            if txs.len() >= self.genesis.params.block_txs_max as usize {
                break;
            }
            if !seen.insert(tx.id()) || admit(&state, &env, tx.tx()).is_err() {
                continue;
            }
            txs.push(tx.into_tx());
        }
        let executed = execute_block(&state, &tip.state_root, &env, &txs)?;
        let header = BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time_ms,
            previous: tip.block_id,
            tx_root: executed.tx_root,
            receipts_root: executed.receipts_root,
            state_root: executed.state_root,
            validator_set_hash: self.validator_set_hash,
            proposer,
        };
        Ok(Executed {
            block: Block { header, txs },
            receipts: executed.receipts,
            writes: executed.writes,
        })
    }

    /// Re-executes `block` on the tip and accepts it only if it reproduces the header.
    /// `now_ms` is this node's clock, or `None` to skip the drift check (a synced block,
    /// which carries a certificate, or a devnet clock).
    pub fn validate(&self, block: Block, now_ms: Option<u64>) -> Result<Executed, InvalidBlock> {
        let tip = self.tip()?;
        let h = &block.header;
        let before = Predecessor {
            chain_id: self.genesis.chain_id.clone(),
            height: tip.height,
            id: tip.block_id,
            time_ms: tip.time_ms,
            validator_set_hash: self.validator_set_hash,
        };
        let proposer_is_validator = self.validator_set.voting_power(&h.proposer).is_some();
        check_links(h, &before, proposer_is_validator)?;
        if let Some(now_ms) = now_ms {
            if h.time_ms > now_ms.saturating_add(CLOCK_DRIFT_MS_MAX) {
                return Err(InvalidBlock::TimeAhead {
                    time_ms: h.time_ms,
                    now_ms,
                });
            }
        }
        if block.txs.len() > self.genesis.params.block_txs_max as usize {
            return Err(InvalidBlock::TooManyTxs {
                count: block.txs.len(),
                max: self.genesis.params.block_txs_max,
            });
        }
        let env = self.env(h.height, h.time_ms);
        let executed = execute_block(&self.store.state(), &tip.state_root, &env, &block.txs)?;
        check_execution(h, &executed)?;
        Ok(Executed {
            block,
            receipts: executed.receipts,
            writes: executed.writes,
        })
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
