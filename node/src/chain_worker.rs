//! The chain worker: one thread of its own that executes blocks and writes them to disk,
//! so that the async runtime (the consensus loop, the HTTP API, the gossip) never waits on
//! execution or on a flush.
//!
//! The consensus module translates the engine's messages into [`Request`]s and awaits the
//! replies; the worker owns what they act on: the executed blocks of the current height
//! (its own proposals and the valid blocks received), and the chain's storage. Requests
//! come through a bounded queue and are served in order, one at a time, which is also
//! what keeps execution sequential (a block executes on the tip its predecessor left).
//!
//! - [`Request::Propose`]: the block of (height, round), built once from the mempool's
//!   verified transactions (or the one recorded before a restart, never a second one),
//!   recorded durably before it is announced;
//! - [`Request::Check`]: a received block re-executed; the transactions this node's intake
//!   already verified are reused, the others verified in one batch;
//! - [`Request::Commit`]: a decided block stored with its certificate in one flushed
//!   write, the mempool cleaned;
//! - [`Request::Held`], [`Request::Decided`]: bytes to restream, heights to serve to a
//!   peer that syncs.

use std::collections::BTreeMap;
use std::sync::Arc;

use ledger::block::{Block, BlockId, CommitCertificate, Outcome};
use ledger::crypto::PublicKey;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::chain::{ChainError, Executed, InvalidBlock, UnsupportedVersion};
use crate::limits::PROPOSAL_TX_BYTES_MAX;
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::store::{StoreError, Tip};

/// Requests waiting for the worker.
pub const REQUESTS_MAX: usize = 64;
/// Most executed, undecided blocks kept for the current height.
const CANDIDATES_MAX: usize = 64;
/// Most heights served in one sync answer (the engine also trims by bytes).
const SYNC_HEIGHTS_MAX: u64 = 50;
/// A proposal is sized so that executing it takes about this long, on this node's
/// measure of recent blocks: every validator must re-execute it, and the height cannot
/// end before each has, so a block too large for the machines stalls rounds instead of
/// speeding them; a budget too small lets the per-height costs (votes, syncs, the store's
/// batch) dominate. The figures behind 400 ms are in `docs/perf/2026-12-07-constants.md`.
const PROPOSAL_EXECUTION_BUDGET_US: u64 = 400_000;
/// The first estimate of one transaction's execution, before any is measured.
const TX_EXECUTION_US_INITIAL: u64 = 60;

/// A block ready to stream: its id and canonical bytes.
#[derive(Debug, Clone)]
pub struct Proposed {
    pub block_id: BlockId,
    pub bytes: Arc<Vec<u8>>,
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    Stored {
        tip: Tip,
        txs: usize,
        rejected: usize,
    },
    /// The height was stored already (sync can deliver one twice), with this very block.
    AlreadyStored,
    /// The decided block is not held (after a crash, the engine's WAL can replay a
    /// decision whose parts this process never saw): nothing is committed, and the height
    /// is restarted so that sync fetches the block.
    NotHeld,
}

/// Decided heights as a syncing peer is served them: block bytes and certificate.
pub type DecidedValues = Vec<(Vec<u8>, CommitCertificate)>;

/// Why the worker could not serve a request. Any of these stops consensus: a block that
/// is merely invalid is a verdict ([`Worker::check`]), not an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The worker's thread has ended, so requests go unanswered.
    #[error("the chain worker stopped")]
    Stopped,
    /// Our proposal of a (height, round) was asked for again but is no longer among the
    /// executed blocks.
    #[error("our proposal {0} is no longer held")]
    ProposalGone(BlockId),
    /// The engine asked for a proposal of a height other than the one after the tip.
    #[error("asked to propose height {asked} on tip {tip}")]
    NotNextHeight { asked: u64, tip: u64 },
    /// A height already stored was decided with another block: this node's chain and the
    /// consortium's have diverged.
    #[error("decided block {decided} at height {height} differs from the stored one")]
    Diverged { height: u64, decided: BlockId },
    /// The worker's thread could not be started.
    #[error(transparent)]
    Thread(#[from] std::io::Error),
    /// The chain refused the height (R12.5: a protocol version this program does not run).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Reading or writing the chain's storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block this node built or recorded does not validate.
    #[error(transparent)]
    Invalid(#[from] InvalidBlock),
}

impl WorkerError {
    /// The protocol version this program does not run, when that is why the worker
    /// stopped (R12.5).
    pub fn unsupported_version(&self) -> Option<&UnsupportedVersion> {
        match self {
            WorkerError::Chain(e) => e.unsupported_version(),
            _ => None,
        }
    }
}

pub enum Request {
    Propose {
        height: u64,
        round: u32,
        reply: oneshot::Sender<Result<Proposed, WorkerError>>,
    },
    Check {
        block: Box<Block>,
        drift_reference_ms: Option<u64>,
        reply: oneshot::Sender<Result<Result<(), String>, WorkerError>>,
    },
    Commit {
        certificate: CommitCertificate,
        reply: oneshot::Sender<Result<Committed, WorkerError>>,
    },
    Held {
        block_id: BlockId,
        reply: oneshot::Sender<Option<Arc<Vec<u8>>>>,
    },
    Decided {
        start: u64,
        end: u64,
        reply: oneshot::Sender<Result<DecidedValues, WorkerError>>,
    },
}

/// The consensus module's handle on the worker.
#[derive(Clone)]
pub struct Worker {
    requests: mpsc::Sender<Request>,
}

impl Worker {
    /// Starts the worker thread for this node (`proposer`: its consensus key).
    pub fn start(shared: Arc<Shared>, proposer: PublicKey) -> Result<Worker, WorkerError> {
        let (requests, receiver) = mpsc::channel(REQUESTS_MAX);
        let state = State {
            shared,
            proposer,
            built: BTreeMap::new(),
            candidates: BTreeMap::new(),
            tx_execution_ns: TX_EXECUTION_US_INITIAL * 1_000,
        };
        std::thread::Builder::new()
            .name("chain-worker".into())
            .spawn(move || state.serve(receiver))?;
        Ok(Worker { requests })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, WorkerError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(make(reply))
            .await
            .map_err(|_| WorkerError::Stopped)?;
        answer.await.map_err(|_| WorkerError::Stopped)
    }

    pub async fn propose(&self, height: u64, round: u32) -> Result<Proposed, WorkerError> {
        self.ask(|reply| Request::Propose {
            height,
            round,
            reply,
        })
        .await?
    }

    /// `Ok` when the block is valid on the tip (and is then held as a candidate). The outer
    /// error stops the node: a block of a protocol version this program does not run is
    /// neither valid nor invalid to it (R12.5).
    pub async fn check(
        &self,
        block: Block,
        drift_reference_ms: Option<u64>,
    ) -> Result<Result<(), String>, WorkerError> {
        self.ask(|reply| Request::Check {
            block: Box::new(block),
            drift_reference_ms,
            reply,
        })
        .await?
    }

    pub async fn commit(&self, certificate: CommitCertificate) -> Result<Committed, WorkerError> {
        self.ask(|reply| Request::Commit { certificate, reply })
            .await?
    }

    pub async fn held(&self, block_id: BlockId) -> Result<Option<Arc<Vec<u8>>>, WorkerError> {
        self.ask(|reply| Request::Held { block_id, reply }).await
    }

    pub async fn decided(&self, start: u64, end: u64) -> Result<DecidedValues, WorkerError> {
        self.ask(|reply| Request::Decided { start, end, reply })
            .await?
    }
}

struct Candidate {
    executed: Executed,
    bytes: Arc<Vec<u8>>,
}

struct State {
    shared: Arc<Shared>,
    proposer: PublicKey,
    /// Our own proposals by (height, round): asked twice, we answer the same.
    built: BTreeMap<(u64, u32), BlockId>,
    /// Executed, valid blocks of the current height, by id.
    candidates: BTreeMap<BlockId, Candidate>,
    /// Recent execution time per transaction, in nanoseconds (a moving average).
    tx_execution_ns: u64,
}

impl State {
    fn serve(mut self, mut requests: mpsc::Receiver<Request>) {
        while let Some(request) = requests.blocking_recv() {
            match request {
                Request::Propose {
                    height,
                    round,
                    reply,
                } => {
                    let _ = reply.send(self.propose(height, round));
                }
                Request::Check {
                    block,
                    drift_reference_ms,
                    reply,
                } => {
                    let _ = reply.send(self.check(*block, drift_reference_ms));
                }
                Request::Commit { certificate, reply } => {
                    let _ = reply.send(self.commit(&certificate));
                }
                Request::Held { block_id, reply } => {
                    let _ = reply.send(self.candidates.get(&block_id).map(|c| c.bytes.clone()));
                }
                Request::Decided { start, end, reply } => {
                    let _ = reply.send(self.decided(start, end));
                }
            }
        }
    }

    fn keep(&mut self, executed: Executed) -> (BlockId, Arc<Vec<u8>>) {
        let id = executed.block.id(self.shared.chain.suite());
        let bytes = executed.bytes.clone();
        if self.candidates.len() >= CANDIDATES_MAX && !self.candidates.contains_key(&id) {
            // Keep our own proposals; drop an arbitrary received one.
            let own: Vec<BlockId> = self.built.values().copied().collect();
            if let Some(victim) = self.candidates.keys().find(|h| !own.contains(h)).copied() {
                self.candidates.remove(&victim);
            }
        }
        self.candidates.insert(
            id,
            Candidate {
                executed,
                bytes: bytes.clone(),
            },
        );
        (id, bytes)
    }

    /// Folds one block's execution into the per-transaction estimate.
    fn measured(&mut self, txs: usize, elapsed: std::time::Duration) {
        if txs >= 100 {
            let per_tx = elapsed.as_nanos() as u64 / txs as u64;
            self.tx_execution_ns = (3 * self.tx_execution_ns + per_tx) / 4;
        }
    }

    /// How many transactions a proposal takes at most now.
    fn proposal_txs_max(&self, block_txs_max: usize) -> usize {
        let fit = (PROPOSAL_EXECUTION_BUDGET_US * 1_000 / self.tx_execution_ns.max(1)) as usize;
        block_txs_max.min(fit.max(100))
    }

    /// Validates `block` with the transactions this node already verified.
    fn validate(&mut self, block: Block, now_ms: Option<u64>) -> Result<Executed, InvalidBlock> {
        // The ids are hashed before the pool is locked: intake waits on that lock.
        let ids: Vec<_> = block
            .txs
            .iter()
            .map(|tx| tx.id(self.shared.chain.suite()))
            .collect();
        let known = {
            let pool = self.shared.mempool.lock();
            ids.iter().map(|id| pool.verified(id)).collect()
        };
        let started = std::time::Instant::now();
        let txs = block.txs.len();
        let executed = self.shared.chain.validate(block, now_ms, known)?;
        self.measured(txs, started.elapsed());
        self.shared
            .metrics
            .histograms
            .block_execution_ms
            .observe(started.elapsed().as_millis() as u64);
        Metrics::add(
            &self.shared.metrics.signatures_verified,
            executed.signatures_verified as u64,
        );
        Ok(executed)
    }

    fn propose(&mut self, height: u64, round: u32) -> Result<Proposed, WorkerError> {
        let shared = self.shared.clone();
        if let Some(id) = self.built.get(&(height, round)) {
            let bytes = self
                .candidates
                .get(id)
                .map(|c| c.bytes.clone())
                .ok_or(WorkerError::ProposalGone(*id))?;
            return Ok(Proposed {
                block_id: *id,
                bytes,
            });
        }
        let chain = &shared.chain;
        let tip = chain.tip()?;
        if tip.height + 1 != height {
            return Err(WorkerError::NotNextHeight {
                asked: height,
                tip: tip.height,
            });
        }
        // R12.5: never propose under rules this program does not run.
        chain.check_supported(height)?;
        if let Some(block) = chain.proposal(height, round)? {
            // Proposed before a restart: the same block again, never a second one.
            let executed = self.validate(block, None)?;
            let (block_id, bytes) = self.keep(executed);
            info!(height, round, block = %block_id, "proposing the block recorded before a restart");
            self.built.insert((height, round), block_id);
            return Ok(Proposed { block_id, bytes });
        }
        let txs_max = self.proposal_txs_max(chain.config_at(height)?.params.block_txs_max as usize);
        let candidates = self
            .shared
            .mempool
            .lock()
            .candidates(txs_max, PROPOSAL_TX_BYTES_MAX);
        let time_ms = self.shared.clock.block_time_ms(tip.time_ms);
        let started = std::time::Instant::now();
        let executed = match chain.propose(time_ms, self.proposer, candidates) {
            Ok(executed) => executed,
            Err(e) => {
                // Every candidate was admitted first, so this is not expected; an empty
                // block keeps the chain moving while the cause is looked into.
                error!(
                    height,
                    "building a block from the mempool failed ({e}); proposing an empty one"
                );
                chain.propose(time_ms, self.proposer, Vec::new())?
            }
        };
        self.measured(executed.block.txs.len(), started.elapsed());
        self.shared
            .metrics
            .histograms
            .block_execution_ms
            .observe(started.elapsed().as_millis() as u64);
        chain.save_proposal(height, round, &executed.bytes)?;
        let txs = executed.block.txs.len();
        let (block_id, bytes) = self.keep(executed);
        info!(height, round, txs, block = %block_id, "proposing block");
        self.built.insert((height, round), block_id);
        Ok(Proposed { block_id, bytes })
    }

    fn check(
        &mut self,
        block: Block,
        now_ms: Option<u64>,
    ) -> Result<Result<(), String>, WorkerError> {
        let id = block.id(self.shared.chain.suite());
        if self.candidates.contains_key(&id) {
            return Ok(Ok(()));
        }
        // R12.5: a block of the next height is not even looked at under rules this program
        // does not run (a later height is refused by the links anyway).
        let tip = self.shared.chain.tip()?;
        if block.header.height == tip.height + 1 {
            self.shared.chain.check_supported(block.header.height)?;
        }
        Ok(match self.validate(block, now_ms) {
            Ok(executed) => {
                self.keep(executed);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        })
    }

    fn commit(&mut self, certificate: &CommitCertificate) -> Result<Committed, WorkerError> {
        let height = certificate.height;
        let shared = self.shared.clone();
        let chain = &shared.chain;
        let tip = chain.tip()?;
        if height <= tip.height {
            let stored = chain.history().block(height)?.map(|b| b.id(chain.suite()));
            if stored != Some(certificate.block_id) {
                return Err(WorkerError::Diverged {
                    height,
                    decided: certificate.block_id,
                });
            }
            return Ok(Committed::AlreadyStored);
        }
        if !self.candidates.contains_key(&certificate.block_id) {
            // After a restart the decided block may be one this node proposed earlier.
            for block in chain.proposals_at(height)? {
                if block.id(self.shared.chain.suite()) == certificate.block_id {
                    match self.validate(block, None) {
                        Ok(executed) => {
                            self.keep(executed);
                        }
                        Err(e) => warn!(height, "a recorded proposal does not validate: {e}"),
                    }
                }
            }
        }
        let Some(candidate) = self.candidates.remove(&certificate.block_id) else {
            return Ok(Committed::NotHeld);
        };
        let executed = candidate.executed;
        let started = std::time::Instant::now();
        let new_tip = chain.commit(&executed, certificate)?;
        let histograms = &self.shared.metrics.histograms;
        histograms
            .block_commit_ms
            .observe(started.elapsed().as_millis() as u64);
        histograms
            .block_txs
            .observe(executed.block.txs.len() as u64);
        chain.prune_proposals(height)?;
        let ids: Vec<_> = executed.ids.clone();
        let rejected = executed
            .receipts
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Rejected(_)))
            .count();
        let arrivals = self.shared.mempool.lock().after_commit(&ids, height + 1);
        for arrived in arrivals {
            histograms
                .commit_latency_ms
                .observe(arrived.elapsed().as_millis() as u64);
        }
        self.built.retain(|(h, _), _| *h > height);
        self.candidates.clear();
        self.shared.committed.send_replace(height);
        Ok(Committed::Stored {
            tip: new_tip,
            txs: ids.len(),
            rejected,
        })
    }

    fn decided(&self, start: u64, end: u64) -> Result<DecidedValues, WorkerError> {
        let store = self.shared.chain.history();
        let tip = self.shared.chain.tip()?.height;
        let start = start.max(1);
        let end = end.min(tip).min(start.saturating_add(SYNC_HEIGHTS_MAX - 1));
        let mut values = Vec::new();
        for height in start..=end {
            let (Some(bytes), Some(cert)) =
                (store.block_bytes(height)?, store.certificate(height)?)
            else {
                break;
            };
            values.push((bytes, cert));
        }
        Ok(values)
    }
}
