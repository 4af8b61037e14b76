//! The chain: execute, then vote.
//!
//! [`Chain::propose`] builds the next block from candidate transactions and
//! [`Chain::validate`] re-executes a received one, accepting it only if it reproduces its
//! header. Both run `contracts::chain` (`execute_block`, `check_links`,
//! `check_execution`), the one code path that the auditor runs too, so a proposer, a
//! validator and an auditor cannot disagree about what a block does. [`Chain::commit`]
//! stores a decided block with its certificate. The genesis state and root come from
//! `contracts::chain::genesis_state`.
//!
//! The validators and parameters of each height come from committed state
//! ([`Chain::config_at`], DOMAIN.md R11.5): those of `tip + 1` and `tip + 2` are known
//! once `tip` is committed, and never change after that, so they are cached.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use contracts::chain::{
    admit, check_execution, check_links, execute_block, genesis_state, height_config, BlockEnv,
    BlockError, Change, Predecessor,
};
use contracts::upgrade;
use ledger::block::{Block, BlockHeader, BlockId, CommitCertificate, Receipt};
use ledger::crypto::PublicKey;
use ledger::genesis::{Genesis, Params};
use ledger::state::{Hash32, ReadCache, WriteSet};
use ledger::tx::{TxId, VerifiedTx};
use ledger::validators::{Roster, ValidatorSet, CHANGE_DELAY};
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
    /// The accepted governance changes (R11), in block order.
    pub changes: Vec<Change>,
    /// What the accepted transactions decided, by their index in the block: kept with
    /// the block for the event feed.
    pub decisions: Vec<(u32, contracts::decision::Decision)>,
    /// The transaction ids, in block order.
    pub ids: Vec<TxId>,
    /// Signatures verified to validate the block (those the mempool did not vouch for).
    pub signatures_verified: usize,
    /// The block's canonical bytes (what is streamed, recorded and stored), encoded once,
    /// and the bounds of each transaction in them.
    pub bytes: Arc<Vec<u8>>,
    pub tx_bounds: Vec<u32>,
}

/// What consensus runs with at one height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeightConfig {
    pub height: u64,
    /// Every node admitted to the network, validators and followers.
    pub roster: Roster,
    /// The roster's validators.
    pub validators: ValidatorSet,
    pub validator_set_hash: Hash32,
    pub params: Params,
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
    store: Store,
    /// The newest protocol version this node runs: the program's, or lower when the
    /// operator says so (never higher).
    version_max: u32,
    /// Configurations of heights up to `tip + CHANGE_DELAY`, which never change.
    configs: Mutex<BTreeMap<u64, Arc<HeightConfig>>>,
}

/// Most cached height configurations.
const CONFIGS_CACHED_MAX: usize = 8;

/// R12.5: the protocol version in force at a height is one this program does not run. The
/// node stops before it proposes, votes on or executes anything of that height, and its
/// store stays as it was, so a program that supports the version continues from there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "protocol version {version} is in force from height {height}, and this program supports \
     protocol versions 1 to {supported}: install a xinbao-node that supports version {version} \
     and start it again (its store is as it was)"
)]
pub struct UnsupportedVersion {
    pub version: u32,
    pub height: u64,
    pub supported: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unsupported(#[from] UnsupportedVersion),
    #[error("the data directory belongs to another genesis ({stored}); this one is {expected}")]
    OtherGenesis { stored: String, expected: String },
    #[error("genesis: {0}")]
    Genesis(String),
}

impl ChainError {
    /// The protocol version this program does not run, when that is the error (R12.5).
    pub fn unsupported_version(&self) -> Option<&UnsupportedVersion> {
        match self {
            ChainError::Unsupported(version) => Some(version),
            _ => None,
        }
    }
}

impl Chain {
    /// Opens the chain on `store`, writing the genesis state if the store is new.
    pub fn open(genesis: Genesis, store: Store) -> Result<Chain, ChainError> {
        Chain::open_supporting(genesis, store, upgrade::NEWEST)
    }

    /// [`Chain::open`] for a node that runs protocol versions up to `version_max` only (at
    /// most the program's newest). A genesis of a later version is refused before the
    /// store is written.
    pub fn open_supporting(
        genesis: Genesis,
        store: Store,
        version_max: u32,
    ) -> Result<Chain, ChainError> {
        let version_max = version_max.min(upgrade::NEWEST);
        let genesis_hash = genesis.hash();
        genesis
            .validator_set()
            .map_err(|e| ChainError::Genesis(e.to_string()))?;
        if genesis.protocol_version > version_max {
            return Err(UnsupportedVersion {
                version: genesis.protocol_version,
                height: 1,
                supported: version_max,
            }
            .into());
        }
        upgrade::check_genesis(&genesis).map_err(|e| ChainError::Genesis(e.to_string()))?;
        match store.genesis_hash()? {
            Some(stored) if stored != genesis_hash => {
                return Err(ChainError::OtherGenesis {
                    stored: hex::encode(stored),
                    expected: hex::encode(genesis_hash),
                })
            }
            Some(_) => store.check_tip(genesis.crypto_suite)?,
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
            store,
            version_max,
            configs: Mutex::new(BTreeMap::new()),
        })
    }

    /// The protocol versions this node runs (R12.2): 1 up to its newest.
    pub fn supported_versions(&self) -> std::ops::RangeInclusive<u32> {
        *upgrade::SUPPORTED.start()..=self.version_max
    }

    /// The protocol version in force at `height`, which must be at most one above the
    /// tip (R12.3: a function of the state after the block before it).
    pub fn version_at(&self, height: u64) -> Result<u32, StoreError> {
        let tip = self.tip()?.height;
        assert!(
            height <= tip + 1,
            "the protocol version of height {height} is not known at tip {tip}"
        );
        if height <= tip && height > 0 {
            let outline = self.store.outline(height)?;
            if let Some(outline) = outline {
                return Ok(outline.header.protocol_version);
            }
        }
        let state = self.store.state();
        Ok(upgrade::version_at(&state, height.max(1))
            .expect("a network's state records its protocol version from the genesis on"))
    }

    /// The upgrade approved and not yet in force, if any.
    pub fn pending_upgrade(&self) -> Option<upgrade::Pending> {
        upgrade::pending(&self.store.state())
    }

    /// R12.5: whether this node runs the version in force at `height` (at most one above
    /// the tip).
    pub fn check_supported(&self, height: u64) -> Result<(), ChainError> {
        let version = self.version_at(height)?;
        if version > self.version_max {
            return Err(UnsupportedVersion {
                version,
                height,
                supported: self.version_max,
            }
            .into());
        }
        Ok(())
    }

    /// The consensus configuration of `height`, which must be at most
    /// [`CHANGE_DELAY`] above the tip (later ones are not decided yet).
    pub fn config_at(&self, height: u64) -> Result<Arc<HeightConfig>, StoreError> {
        let tip = self.tip()?.height;
        assert!(
            height > 0 && height <= tip + CHANGE_DELAY,
            "the configuration of height {height} is not known at tip {tip}"
        );
        let mut cache = self.configs.lock().expect("config cache lock poisoned");
        if let Some(config) = cache.get(&height) {
            return Ok(config.clone());
        }
        let config = height_config(&self.store.state(), height);
        let validators = config
            .roster
            .validator_set()
            .expect("the rulebook never leaves a roster without validators");
        let entry = Arc::new(HeightConfig {
            height,
            validator_set_hash: validators.hash(self.suite()),
            validators,
            roster: config.roster,
            params: config.params,
        });
        cache.insert(height, entry.clone());
        while cache.len() > CONFIGS_CACHED_MAX {
            cache.pop_first();
        }
        Ok(entry)
    }

    /// The configuration of the next height.
    pub fn next_config(&self) -> Result<Arc<HeightConfig>, StoreError> {
        self.config_at(self.tip()?.height + 1)
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

    /// The chain's crypto suite (its genesis's, for its whole life).
    pub fn suite(&self) -> ledger::crypto::Suite {
        self.genesis.crypto_suite
    }

    /// The store itself, for this module's tests; everything else reads through
    /// [`Chain::history`] and writes through the chain.
    #[cfg(test)]
    fn store(&self) -> &Store {
        &self.store
    }

    /// This node's own proposal of `height` in `round`, kept so that a restarted proposer
    /// proposes the same block again.
    pub fn proposal(&self, height: u64, round: u32) -> Result<Option<Block>, StoreError> {
        self.store.proposal(height, round)
    }

    /// Keeps this node's proposal of `height` in `round` (its bytes as streamed).
    pub fn save_proposal(&self, height: u64, round: u32, bytes: &[u8]) -> Result<(), StoreError> {
        self.store.save_proposal(height, round, bytes)
    }

    /// This node's proposals of `height`, every round.
    pub fn proposals_at(&self, height: u64) -> Result<Vec<Block>, StoreError> {
        self.store.proposals_at(height)
    }

    /// Forgets this node's proposals below `height`.
    pub fn prune_proposals(&self, height: u64) -> Result<(), StoreError> {
        self.store.prune_proposals(height)
    }

    /// Keeps equivocation evidence; how many pieces were new.
    pub fn save_evidence(
        &self,
        evidence: &[ledger::evidence::DoubleVote],
    ) -> Result<usize, StoreError> {
        self.store.save_evidence(evidence)
    }

    /// The committed chain, read-only: what the API's views, the event feed and the
    /// metrics read.
    pub fn history(&self) -> crate::history::History<'_> {
        crate::history::History(&self.store)
    }

    pub fn tip(&self) -> Result<Tip, StoreError> {
        Ok(self
            .store
            .tip()?
            .expect("the genesis tip is written when the chain is opened"))
    }

    fn env(&self, config: &HeightConfig, time_ms: u64) -> BlockEnv {
        BlockEnv {
            suite: self.suite(),
            chain_id: self.genesis.chain_id.clone(),
            height: config.height,
            time_ms,
            tx_expiry_heights_max: config.params.tx_expiry_heights_max,
        }
    }

    /// Checks a transaction as the next block would (signatures, chain, expiry window,
    /// not committed before); what the mempool's intake runs.
    pub fn admit(&self, tx: &VerifiedTx) -> Result<(), BlockError> {
        let env = self.next_env()?;
        admit(&self.store.state(), &env, tx)
    }

    /// What the next block will be checked with, for intake's checks of many transactions.
    pub fn next_env(&self) -> Result<BlockEnv, BlockError> {
        let local = |e: StoreError| BlockError::Link(e.to_string());
        let tip = self.tip().map_err(local)?;
        let config = self.config_at(tip.height + 1).map_err(local)?;
        Ok(self.env(&config, tip.time_ms + 1))
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
        let config = self.config_at(height)?;
        let env = self.env(&config, time_ms);
        let stored = self.store.state();
        let state = ReadCache::new(&stored);
        let mut txs = Vec::new();
        let mut seen = std::collections::BTreeSet::<TxId>::new();
        for tx in candidates {
            if txs.len() >= config.params.block_txs_max as usize {
                break;
            }
            if !seen.insert(tx.id()) || admit(&state, &env, &tx).is_err() {
                continue;
            }
            txs.push(tx);
        }
        let executed = execute_block(&state, &tip.state_root, &env, &txs)?;
        let ids: Vec<TxId> = txs.iter().map(VerifiedTx::id).collect();
        let txs: Vec<ledger::tx::SignedTx> = txs.into_iter().map(VerifiedTx::into_tx).collect();
        let header = BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height,
            protocol_version: executed.protocol_version,
            time_ms,
            previous: tip.block_id,
            tx_root: executed.tx_root,
            receipts_root: executed.receipts_root,
            state_root: executed.state_root,
            validator_set_hash: config.validator_set_hash,
            proposer,
        };
        let block = Block { header, txs };
        let (bytes, tx_bounds) = block.to_bytes_with_bounds();
        Ok(Executed {
            block,
            receipts: executed.receipts,
            writes: executed.writes,
            changes: executed.changes,
            decisions: executed.decisions,
            ids,
            signatures_verified: 0,
            bytes: Arc::new(bytes),
            tx_bounds,
        })
    }

    /// Re-executes `block` on the tip and accepts it only if it reproduces the header.
    /// `now_ms` is this node's clock, or `None` to skip the drift check (a synced block,
    /// which carries a certificate, or a devnet clock). `known` holds, for each of the
    /// block's transactions, the verified copy this node already has (from its mempool),
    /// if any: only the others' signatures are verified, in one batch.
    pub fn validate(
        &self,
        block: Block,
        now_ms: Option<u64>,
        known: Vec<Option<VerifiedTx>>,
    ) -> Result<Executed, InvalidBlock> {
        let tip = self.tip()?;
        let h = &block.header;
        let config = self.config_at(tip.height + 1)?;
        let before = Predecessor {
            chain_id: self.genesis.chain_id.clone(),
            height: tip.height,
            id: tip.block_id,
            time_ms: tip.time_ms,
            validator_set_hash: config.validator_set_hash,
        };
        let proposer_is_validator = config.validators.voting_power(&h.proposer).is_some();
        check_links(h, &before, proposer_is_validator)?;
        if let Some(now_ms) = now_ms {
            if h.time_ms > now_ms.saturating_add(CLOCK_DRIFT_MS_MAX) {
                return Err(InvalidBlock::TimeAhead {
                    time_ms: h.time_ms,
                    now_ms,
                });
            }
        }
        if block.txs.len() > config.params.block_txs_max as usize {
            return Err(InvalidBlock::TooManyTxs {
                count: block.txs.len(),
                max: config.params.block_txs_max,
            });
        }
        let env = self.env(&config, h.time_ms);
        let (txs, signatures_verified) = self.verified(&block, known)?;
        let stored = self.store.state();
        let executed = execute_block(&ReadCache::new(&stored), &tip.state_root, &env, &txs)?;
        check_execution(h, &executed)?;
        let (bytes, tx_bounds) = block.to_bytes_with_bounds();
        Ok(Executed {
            block,
            receipts: executed.receipts,
            writes: executed.writes,
            changes: executed.changes,
            decisions: executed.decisions,
            ids: txs.iter().map(VerifiedTx::id).collect(),
            signatures_verified,
            bytes: Arc::new(bytes),
            tx_bounds,
        })
    }

    /// The block's transactions verified: `known` copies taken as they are when they are
    /// the very same transaction (id and signatures), every other one verified in a batch.
    fn verified(
        &self,
        block: &Block,
        known: Vec<Option<VerifiedTx>>,
    ) -> Result<(Vec<VerifiedTx>, usize), BlockError> {
        let mut known = known;
        known.resize(block.txs.len(), None);
        let mut slots = Vec::new();
        let mut unknown = Vec::new();
        for (i, (tx, copy)) in block.txs.iter().zip(&mut known).enumerate() {
            // The copy was found by this transaction's id, so the bodies are the same; the
            // signatures must be too.
            if copy
                .as_ref()
                .is_some_and(|c| c.tx().signatures != tx.signatures)
            {
                *copy = None;
            }
            if copy.is_none() {
                slots.push(i);
                unknown.push(tx.clone());
            }
        }
        let verified = contracts::chain::verify_txs(&self.genesis.chain_id, self.suite(), &unknown)
            .map_err(|e| match e {
                BlockError::BadTransaction { index, id, reason } => BlockError::BadTransaction {
                    index: slots[index],
                    id,
                    reason,
                },
                other => other,
            })?;
        let signatures: usize = verified.iter().map(|t| t.signers().len()).sum();
        for (slot, tx) in slots.into_iter().zip(verified) {
            known[slot] = Some(tx);
        }
        let txs = known
            .into_iter()
            .map(|t| t.expect("every transaction is verified"))
            .collect();
        Ok((txs, signatures))
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
            block_id: header.id(self.suite()),
            state_root: header.state_root,
            time_ms: header.time_ms,
        };
        let changes: Vec<usize> = executed.changes.iter().map(|c| c.index).collect();
        let stored = self.store.state();
        let index = crate::index::writes(
            &self.store,
            self.tip()?,
            &executed.block,
            &executed.receipts,
            &executed.writes,
            &ReadCache::new(&stored),
        )?;
        self.store.commit(
            Commit {
                block: &executed.block,
                block_bytes: &executed.bytes,
                tx_bounds: &executed.tx_bounds,
                certificate,
                receipts: &executed.receipts,
                writes: &executed.writes,
                ids: &executed.ids,
                changes: &changes,
                decisions: &executed.decisions,
                index: &index,
            },
            tip,
        )?;
        // A block that takes up an upgrade may have migrated the parameters of the heights
        // already scheduled (R12.4: version 2 sets the single-obligor limit in each): what
        // was cached of them is read again. Nothing consensus runs with changes that way.
        let upgraded = header.height > 1
            && self
                .store
                .outline(header.height - 1)?
                .is_some_and(|before| before.header.protocol_version != header.protocol_version);
        let mut configs = self.configs.lock().expect("config cache lock poisoned");
        if upgraded {
            configs.clear();
        } else {
            configs.retain(|h, _| *h > tip.height);
        }
        Ok(tip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// The suite of the chains these tests make.
    const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;
    use ledger::action::StaffKey;
    use ledger::block::CommitCertificate;
    use ledger::crypto::SecretKey;
    use ledger::genesis::{GenesisOrg, GenesisValidator, Params};
    use ledger::tx::{SignedTx, TxBody};
    use ledger::{Action, OrgKind, Text};

    const GENESIS_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    struct Fixture {
        admin: SecretKey,
        validator: SecretKey,
        genesis: Genesis,
        dirs: Vec<std::path::PathBuf>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let admin = SecretKey::from_seed([1; 32]);
            let validator = SecretKey::from_seed([2; 32]);
            let genesis = Genesis {
                crypto_suite: SUITE,
                chain_id: Id::new("chain-test").unwrap(),
                protocol_version: 1,
                genesis_time_ms: GENESIS_MS,
                organisations: vec![GenesisOrg {
                    id: Id::new("bank").unwrap(),
                    kind: OrgKind::Bank,
                    admin_key: admin.public_key(),
                }],
                validators: vec![GenesisValidator {
                    org: Id::new("bank").unwrap(),
                    consensus_key: validator.public_key(),
                    voting_power: 1,
                    address: Text::new("/ip4/127.0.0.1/tcp/1").unwrap(),
                    transport: None,
                }],
                staff_keys: Vec::new(),
                params: Params {
                    block_time_ms: 1_000,
                    block_txs_max: 10,
                    tx_expiry_heights_max: 100,
                    heartbeat_ms: ledger::genesis::HEARTBEAT_MS_DEFAULT,
                    upgrade_lead_heights: ledger::genesis::UPGRADE_LEAD_HEIGHTS_DEFAULT,
                    obligor_limit_fen: None,
                },
                governance: ledger::genesis::GovernanceRule::default(),
            };
            Fixture {
                admin,
                validator,
                genesis,
                dirs: Vec::new(),
            }
        }

        fn chain(&mut self) -> Chain {
            let dir = std::env::temp_dir().join(format!(
                "xinbao-chain-test-{}-{}",
                std::process::id(),
                self.dirs.len() + 100 * COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            self.dirs.push(dir.clone());
            Chain::open(self.genesis.clone(), Store::open(&dir).unwrap()).unwrap()
        }

        fn tx(&self, nonce: u64, signer: &SecretKey) -> VerifiedTx {
            let mut tx = SignedTx::unsigned(TxBody {
                chain_id: self.genesis.chain_id.clone(),
                nonce,
                expires_at_height: 50,
                action: Action::RegisterStaffKey(StaffKey {
                    org: Id::new("bank").unwrap(),
                    public_key: SecretKey::from_seed([10 + nonce as u8; 32]).public_key(),
                }),
            });
            tx.sign(signer).unwrap();
            tx.verify(&self.genesis.chain_id, SUITE).unwrap()
        }
    }

    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    impl Drop for Fixture {
        fn drop(&mut self) {
            for dir in &self.dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn certificate(executed: &Executed) -> CommitCertificate {
        CommitCertificate {
            height: executed.block.header.height,
            round: 0,
            block_id: executed.block.id(SUITE),
            signatures: Vec::new(),
        }
    }

    #[test]
    fn a_validator_reproduces_the_proposers_block_and_refuses_a_tampered_one() {
        let mut f = Fixture::new();
        let proposer = f.chain();
        let validator = f.chain();
        let stranger = SecretKey::from_seed([3; 32]);
        let txs = vec![f.tx(1, &f.admin), f.tx(2, &stranger)];
        let txs_again = txs.clone();
        let time_ms = GENESIS_MS + 1_000;
        let proposed = proposer
            .propose(time_ms, f.validator.public_key(), txs)
            .unwrap();
        assert_eq!(proposed.block.txs.len(), 2);
        assert_eq!(
            proposed.receipts[0].outcome,
            ledger::block::Outcome::Accepted
        );
        assert_eq!(
            proposed.receipts[1].outcome,
            ledger::block::Outcome::Rejected(ledger::Code::Unauthorized)
        );

        let checked = validator
            .validate(proposed.block.clone(), Some(time_ms), Vec::new())
            .unwrap();
        assert_eq!(checked.receipts, proposed.receipts);
        assert_eq!(checked.writes, proposed.writes);

        let mut tampered = proposed.block.clone();
        tampered.header.state_root[0] ^= 1;
        assert!(matches!(
            validator.validate(tampered, Some(time_ms), Vec::new()),
            Err(InvalidBlock::Block(BlockError::HeaderMismatch { .. }))
        ));
        let mut early = proposed.block.clone();
        early.header.time_ms = GENESIS_MS;
        assert!(matches!(
            validator.validate(early, None, Vec::new()),
            Err(InvalidBlock::Block(BlockError::Link(_)))
        ));
        assert!(matches!(
            validator.validate(
                proposed.block.clone(),
                Some(time_ms - CLOCK_DRIFT_MS_MAX - 1),
                Vec::new()
            ),
            Err(InvalidBlock::TimeAhead { .. })
        ));
        // A copy the validator verified itself is reused only for the very same
        // transaction: a block carrying it with another signature is checked anew.
        let known: Vec<Option<VerifiedTx>> = txs_again.iter().cloned().map(Some).collect();
        let mut forged = proposed.block.clone();
        forged.txs[0].signatures[0].signature.0[0] ^= 1;
        assert!(matches!(
            validator.validate(forged, None, known.clone()),
            Err(InvalidBlock::Block(BlockError::BadTransaction {
                index: 0,
                ..
            }))
        ));
        let reused = validator
            .validate(proposed.block.clone(), None, known)
            .unwrap();
        assert_eq!(
            reused.signatures_verified, 0,
            "every signature was vouched for"
        );
        let mut dropped = proposed.block.clone();
        dropped.txs.pop();
        assert!(validator.validate(dropped, None, Vec::new()).is_err());
    }

    #[test]
    fn own_proposals_are_kept_until_their_height_is_committed() {
        let mut f = Fixture::new();
        let chain = f.chain();
        let block = chain
            .propose(GENESIS_MS + 1_000, f.validator.public_key(), Vec::new())
            .unwrap()
            .block;
        let store = chain.store();
        store.save_proposal(1, 0, &block.to_bytes()).unwrap();
        store.save_proposal(1, 1, &block.to_bytes()).unwrap();
        store.save_proposal(2, 0, &block.to_bytes()).unwrap();
        assert_eq!(store.proposals_at(1).unwrap().len(), 2);
        assert_eq!(store.proposal(1, 1).unwrap(), Some(block.clone()));
        assert_eq!(store.proposal(1, 2).unwrap(), None);
        store.prune_proposals(1).unwrap();
        assert!(store.proposals_at(1).unwrap().is_empty());
        assert_eq!(store.proposal(2, 0).unwrap(), Some(block));
    }

    #[test]
    fn a_committed_height_survives_reopening_and_its_transactions_are_not_proposed_again() {
        let mut f = Fixture::new();
        let chain = f.chain();
        let dir = f.dirs[0].clone();
        let tx = f.tx(1, &f.admin);
        let executed = chain
            .propose(
                GENESIS_MS + 1_000,
                f.validator.public_key(),
                vec![tx.clone()],
            )
            .unwrap();
        let tip = chain.commit(&executed, &certificate(&executed)).unwrap();
        assert_eq!(tip.height, 1);
        assert_eq!(
            chain.store().tx_location(&tx.id()).unwrap().unwrap().height,
            1
        );
        drop(chain);

        let chain = Chain::open(f.genesis.clone(), Store::open(&dir).unwrap()).unwrap();
        assert_eq!(chain.tip().unwrap(), tip);
        let again = chain
            .propose(GENESIS_MS + 2_000, f.validator.public_key(), vec![tx])
            .unwrap();
        assert!(
            again.block.txs.is_empty(),
            "a committed id is never proposed again"
        );
        assert!(chain.commit(&executed, &certificate(&executed)).is_err());

        let mut other = f.genesis.clone();
        other.chain_id = Id::new("another-chain").unwrap();
        drop(chain);
        assert!(matches!(
            Chain::open(other, Store::open(&dir).unwrap()),
            Err(ChainError::OtherGenesis { .. })
        ));
    }

    /// The store keeps the rulebook's replay memory in its own form (`store::replay`);
    /// what it reads back must be what the state holds, key for key, as ids are
    /// remembered and forgotten, and after reopening.
    #[test]
    fn the_replay_memory_read_from_the_store_is_the_states_block_by_block() {
        use ledger::state::{MemoryStore, StateStore, StateView};
        let mut f = Fixture::new();
        let chain = f.chain();
        let dir = f.dirs[0].clone();
        let mut memory = MemoryStore::new();
        memory.apply(&contracts::chain::genesis_state(&f.genesis).0);
        let tx = |nonce: u64, expires_at_height: u64| {
            let mut tx = SignedTx::unsigned(TxBody {
                chain_id: f.genesis.chain_id.clone(),
                nonce,
                expires_at_height,
                action: Action::RegisterStaffKey(StaffKey {
                    org: Id::new("bank").unwrap(),
                    public_key: SecretKey::from_seed([nonce as u8; 32]).public_key(),
                }),
            });
            tx.sign(&f.admin).unwrap();
            tx.verify(&f.genesis.chain_id, SUITE).unwrap()
        };
        let families: [&[u8]; 4] = [b"", b"tx", contracts::chain::TXID_PREFIX, b"txexp/"];
        let agree = |chain: &Chain, memory: &MemoryStore, ids: &[TxId]| {
            let store = chain.store();
            let state = store.state();
            for prefix in families {
                assert_eq!(
                    state.scan_prefix(prefix),
                    memory.scan_prefix(prefix),
                    "under {:?}",
                    String::from_utf8_lossy(prefix)
                );
            }
            for (k, _) in memory.scan_prefix(b"txexp/") {
                let bucket = &k[..b"txexp/".len() + 8];
                assert_eq!(state.scan_prefix(bucket), memory.scan_prefix(bucket));
            }
            for id in ids {
                let id_key = [contracts::chain::TXID_PREFIX, &id.0[..]].concat();
                assert_eq!(state.get(&id_key), memory.get(&id_key), "{id}");
                for expiry in 0..12u64 {
                    let k = [b"txexp/", &expiry.to_be_bytes()[..], &id.0[..]].concat();
                    assert_eq!(state.get(&k), memory.get(&k), "{id} at {expiry}");
                }
            }
        };
        // Expiry heights that end at several heights, some shared within a block.
        let plan: [&[u64]; 7] = [&[1, 3, 3], &[2, 4], &[], &[4, 6, 9], &[5], &[], &[7]];
        let mut ids = Vec::new();
        let mut nonce = 20;
        for (i, expiries) in plan.iter().enumerate() {
            let txs: Vec<VerifiedTx> = expiries
                .iter()
                .map(|e| {
                    nonce += 1;
                    tx(nonce, *e)
                })
                .collect();
            ids.extend(txs.iter().map(|t| t.id()));
            let executed = chain
                .propose(
                    GENESIS_MS + 1_000 * (i as u64 + 1),
                    f.validator.public_key(),
                    txs,
                )
                .unwrap();
            assert_eq!(executed.ids.len(), expiries.len(), "block {}", i + 1);
            memory.apply(&executed.writes);
            chain.commit(&executed, &certificate(&executed)).unwrap();
            agree(&chain, &memory, &ids);
        }
        assert!(
            memory.scan_prefix(contracts::chain::TXID_PREFIX).len() < ids.len(),
            "some ids were forgotten"
        );
        assert!(
            !memory.scan_prefix(contracts::chain::TXID_PREFIX).is_empty(),
            "some are still remembered"
        );
        drop(chain);
        let chain = Chain::open(f.genesis.clone(), Store::open(&dir).unwrap()).unwrap();
        agree(&chain, &memory, &ids);
    }
}
