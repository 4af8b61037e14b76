//! The independent audit: a whole chain checked block by block with nothing but the
//! genesis file, trusting no node.
//!
//! For each height, in this order (the first fault stops the audit and is reported with
//! its height; each kind of fault has its own [`AuditFailure`] variant):
//! 1. the entry is readable and is the next height ([`AuditFailure::Unreadable`],
//!    [`AuditFailure::OutOfSequence`]);
//! 2. the header follows its predecessor ([`chain::check_links`]: chain id, height,
//!    previous block id — the genesis hash for height 1 —, time strictly after, the
//!    validator set of its height, a proposer in it): [`AuditFailure::Link`];
//! 3. the commit certificate is for this height and this header's id and carries valid
//!    precommit signatures of more than 2/3 of the voting power of the validators of its
//!    height ([`CommitCertificate::verify`]): [`AuditFailure::Certificate`]. The set of
//!    height 1 is the genesis's; the set of height `h + 1` is the one the state after
//!    block `h` records ([`chain::height_config`], DOMAIN.md R11.5), so a validator that
//!    governance removed no longer counts, and one it added does;
//! 4. the transactions are those the certified header commits to (its `tx_root`):
//!    [`AuditFailure::TransactionsNotCertified`];
//! 5. re-execution ([`chain::execute_block`], on the state the audit has rebuilt so far)
//!    accepts every transaction into the block: signatures verify strictly for this chain,
//!    not expired, not committed before ([`AuditFailure::InvalidBlock`]); each signer key is
//!    resolved to its organisation and the rulebook decides, exactly as on the node;
//! 6. re-execution reproduces every stored receipt ([`AuditFailure::ReceiptMismatch`],
//!    naming the first differing transaction) and the header's roots
//!    ([`chain::check_execution`]): [`AuditFailure::RootMismatch`].
//!
//! These are the functions the node runs to propose, validate and commit a block, so an
//! auditor and a node cannot disagree about what is valid. Before the first block the
//! genesis must validate and be the genesis the file names ([`AuditFailure::Genesis`],
//! [`AuditFailure::WrongChain`], [`AuditFailure::ValidatorsNotGenesis`],
//! [`AuditFailure::GenesisMismatch`]).
//!
//! [`Auditor`] checks one entry at a time and exposes the state after each, so a reader
//! (the report) can look at the ledger as of any block while it replays; [`verify_chain`]
//! runs it over a whole stream.

use std::collections::BTreeMap;
use std::fmt;

pub mod history;

use ledger::block::{BlockId, Outcome, Receipt};
use ledger::export::{ChainEntry, ChainHeader};
use ledger::genesis::{Genesis, GenesisError};
use ledger::state::{Hash32, MemoryStore, StateStore};
use ledger::tx::{TxId, VerifiedTx};
use ledger::validators::ValidatorSet;
use ledger::vote::CertificateError;
use ledger::{Code, Date, Id};

use crate::chain::{self, BlockEnv, BlockError, Executed, Predecessor};
use crate::Rejected;

/// What kind of link between a header and its predecessor is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFault {
    ChainId,
    /// The previous id is not the previous block's (the genesis hash for height 1).
    Previous,
    /// The time is not strictly after the previous block's (the genesis time for height 1).
    Time,
    /// The header names another validator set than the one in force at its height.
    ValidatorSet,
    /// The proposer is not a validator of its height.
    Proposer,
}

impl fmt::Display for LinkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkFault::ChainId => "wrong chain id",
            LinkFault::Previous => "previous block id is not the block before it",
            LinkFault::Time => "time is not after the block before it",
            LinkFault::ValidatorSet => "validator set is not the one in force at this height",
            LinkFault::Proposer => "proposer is not a validator",
        })
    }
}

/// The first fault an audit found. Each kind has its own variant and message; every one
/// that concerns a block names its height.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditFailure {
    #[error("the genesis file is not valid: {0}")]
    Genesis(GenesisError),
    #[error("the chain file is of chain {file}, the genesis is of chain {genesis}")]
    WrongChain { file: Id, genesis: Id },
    #[error("the chain file is of the crypto suite {file}, the genesis names {genesis}")]
    WrongSuite {
        file: ledger::crypto::Suite,
        genesis: ledger::crypto::Suite,
    },
    #[error("the chain file starts at height {first_height}; an audit replays from height 1")]
    StartsLate { first_height: u64 },
    #[error(
        "the genesis's validators (set hash {genesis}) are not those that decided block 1 \
         (set hash {chain}): a validator key or voting power differs"
    )]
    ValidatorsNotGenesis { genesis: String, chain: String },
    #[error("the genesis (hash {genesis}) is not the one the chain started from (hash {chain})")]
    GenesisMismatch { genesis: String, chain: String },
    #[error("height {height}: unreadable entry: {reason}")]
    Unreadable { height: u64, reason: String },
    #[error("height {expected}: found the entry of height {found} (a block is missing, repeated or out of order)")]
    OutOfSequence { expected: u64, found: u64 },
    #[error("height {height}: header link broken, {fault}: {detail}")]
    Link {
        height: u64,
        fault: LinkFault,
        detail: String,
    },
    #[error("height {height}: commit certificate refused: {error}")]
    Certificate {
        height: u64,
        error: CertificateError,
    },
    #[error("height {height}: the transactions are not the ones the certified header commits to (tx root {certified}, the body gives {body})")]
    TransactionsNotCertified {
        height: u64,
        certified: String,
        body: String,
    },
    #[error("height {height}: invalid block: {error}")]
    InvalidBlock { height: u64, error: Box<BlockError> },
    #[error("height {height}: receipt {index} (tx {tx}) is stored as {stored}, re-execution gives {computed}")]
    ReceiptMismatch {
        height: u64,
        index: usize,
        tx: String,
        stored: String,
        computed: String,
    },
    #[error("height {height}: {stored} receipts are stored for {computed} transactions")]
    ReceiptCount {
        height: u64,
        stored: usize,
        computed: usize,
    },
    #[error("height {height}: the header says protocol version {header}, and the version in force at that height is {in_force} (R12.1)")]
    Version {
        height: u64,
        header: u32,
        in_force: u32,
    },
    #[error("height {height}: protocol version {version} is in force, and this program supports versions {}..={} (R12.5): audit the chain with a program that supports it", crate::upgrade::SUPPORTED.start(), crate::upgrade::SUPPORTED.end())]
    UnsupportedVersion { height: u64, version: u32 },
    #[error("height {height}: {field} in the header is {claimed}, re-execution gives {computed}")]
    RootMismatch {
        height: u64,
        field: &'static str,
        claimed: String,
        computed: String,
    },
}

impl AuditFailure {
    /// The height of the first bad block, when the fault is in one.
    pub fn height(&self) -> Option<u64> {
        match self {
            AuditFailure::Genesis(_)
            | AuditFailure::WrongChain { .. }
            | AuditFailure::WrongSuite { .. }
            | AuditFailure::StartsLate { .. }
            | AuditFailure::GenesisMismatch { .. } => None,
            AuditFailure::ValidatorsNotGenesis { .. } => Some(1),
            AuditFailure::OutOfSequence { expected, .. } => Some(*expected),
            AuditFailure::Unreadable { height, .. }
            | AuditFailure::Link { height, .. }
            | AuditFailure::Certificate { height, .. }
            | AuditFailure::TransactionsNotCertified { height, .. }
            | AuditFailure::InvalidBlock { height, .. }
            | AuditFailure::ReceiptMismatch { height, .. }
            | AuditFailure::ReceiptCount { height, .. }
            | AuditFailure::Version { height, .. }
            | AuditFailure::UnsupportedVersion { height, .. }
            | AuditFailure::RootMismatch { height, .. } => Some(*height),
        }
    }

    /// A stable one-word name of the kind of fault, for machines.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditFailure::Genesis(_) => "GenesisInvalid",
            AuditFailure::WrongChain { .. } => "WrongChain",
            AuditFailure::WrongSuite { .. } => "WrongSuite",
            AuditFailure::StartsLate { .. } => "StartsLate",
            AuditFailure::ValidatorsNotGenesis { .. } => "ValidatorsNotGenesis",
            AuditFailure::GenesisMismatch { .. } => "GenesisMismatch",
            AuditFailure::Unreadable { .. } => "Unreadable",
            AuditFailure::OutOfSequence { .. } => "OutOfSequence",
            AuditFailure::Link { .. } => "Link",
            AuditFailure::Certificate { .. } => "Certificate",
            AuditFailure::TransactionsNotCertified { .. } => "TransactionsNotCertified",
            AuditFailure::InvalidBlock { .. } => "InvalidBlock",
            AuditFailure::ReceiptMismatch { .. } => "ReceiptMismatch",
            AuditFailure::ReceiptCount { .. } => "ReceiptCount",
            AuditFailure::Version { .. } => "ProtocolVersion",
            AuditFailure::UnsupportedVersion { .. } => "UnsupportedVersion",
            AuditFailure::RootMismatch { .. } => "RootMismatch",
        }
    }
}

/// One rejected transaction of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedTx {
    pub height: u64,
    pub index: usize,
    /// 1-based position of the transaction in the whole chain: its "step" number in the
    /// R10 document.
    pub ordinal: u64,
    pub tx_id: TxId,
    pub code: Code,
}

/// What a verified chain gives.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub chain_id: Id,
    pub genesis_hash: Hash32,
    pub blocks: u64,
    pub txs: u64,
    pub accepted: u64,
    pub rejected_by_code: BTreeMap<Code, u64>,
    pub rejected: Vec<RejectedTx>,
    /// The last height verified (0 for an empty chain).
    pub height: u64,
    pub last_block_id: BlockId,
    /// The state after the last block, rebuilt by re-execution.
    pub state: MemoryStore,
    pub state_root: Hash32,
    /// The date of the last block (`None` for an empty chain).
    pub date: Option<Date>,
    /// Each height from which another validator set decided, with its size (R11.5).
    pub validator_sets: Vec<(u64, usize)>,
    /// Each protocol version's era as the headers record it: (version, first height),
    /// the genesis's from height 1 (R12.1).
    pub eras: Vec<(u32, u64)>,
}

impl Verdict {
    /// The rejected transactions as R10 lists them, numbered by their position in the chain.
    pub fn rejected_steps(&self) -> Vec<Rejected> {
        self.rejected
            .iter()
            .map(|r| Rejected {
                step: r.ordinal,
                code: r.code,
            })
            .collect()
    }

    /// The R10 result document of the verified state, as of the last block's date, as
    /// the JSON value the worked examples' expectations are compared with.
    pub fn report(&self) -> serde_json::Value {
        let date = self
            .date
            .unwrap_or_else(|| Date::from_days(0).expect("the epoch is a date"));
        serde_json::to_value(crate::report(&self.state, date, &self.rejected_steps()))
            .expect("the R10 document is JSON")
    }
}

/// How far an audit has got, after each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub height: u64,
    pub blocks: u64,
    pub txs: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Accepted => "Accepted".to_string(),
        Outcome::Rejected(code) => format!("Rejected({code})"),
    }
}

/// Replays a chain one entry at a time (see the module notes).
pub struct Auditor {
    genesis: Genesis,
    genesis_hash: Hash32,
    file_genesis_hash: Hash32,
    /// The validators of the next height: the genesis's for height 1, then as the state
    /// of each verified block schedules them (R11.5).
    validators: ValidatorSet,
    tx_expiry_heights_max: u64,
    before: Predecessor,
    state: MemoryStore,
    root: Hash32,
    date: Option<Date>,
    blocks: u64,
    txs: u64,
    accepted: u64,
    rejected_by_code: BTreeMap<Code, u64>,
    rejected: Vec<RejectedTx>,
    validator_sets: Vec<(u64, usize)>,
    eras: Vec<(u32, u64)>,
}

/// What one verified block did, for readers that follow the replay.
#[derive(Debug, Clone)]
pub struct BlockDone<'a> {
    pub entry: &'a ChainEntry,
    pub date: Date,
    pub executed: &'a Executed,
}

impl Auditor {
    /// Checks the genesis against the file's header and sets up the initial state.
    pub fn new(genesis: &Genesis, file: &ChainHeader) -> Result<Auditor, AuditFailure> {
        genesis.validate().map_err(AuditFailure::Genesis)?;
        if file.chain_id != genesis.chain_id {
            return Err(AuditFailure::WrongChain {
                file: file.chain_id.clone(),
                genesis: genesis.chain_id.clone(),
            });
        }
        if file.crypto_suite != genesis.crypto_suite {
            return Err(AuditFailure::WrongSuite {
                file: file.crypto_suite,
                genesis: genesis.crypto_suite,
            });
        }
        if file.first_height != 1 {
            return Err(AuditFailure::StartsLate {
                first_height: file.first_height,
            });
        }
        let validators = genesis
            .validator_set()
            .map_err(|e| AuditFailure::Genesis(GenesisError::ValidatorSet(e)))?;
        let before = chain::genesis_predecessor(genesis)
            .map_err(|e| AuditFailure::Genesis(GenesisError::ValidatorSet(e)))?;
        if let Err(e) = crate::upgrade::check_genesis(genesis) {
            return Err(match e {
                crate::upgrade::GenesisVersionError::Unsupported { version } => {
                    AuditFailure::UnsupportedVersion { height: 1, version }
                }
                _ => AuditFailure::Genesis(GenesisError::BadParam {
                    name: "obligor_limit_fen",
                    value: genesis.params.obligor_limit_fen.map_or(0, |f| f.0),
                    min: 1,
                    max: u64::MAX,
                }),
            });
        }
        let (writes, root) = chain::genesis_state(genesis);
        let mut state = MemoryStore::new();
        state.apply(&writes);
        Ok(Auditor {
            genesis: genesis.clone(),
            genesis_hash: genesis.hash(),
            file_genesis_hash: file.genesis_hash,
            validators,
            tx_expiry_heights_max: genesis.params.tx_expiry_heights_max,
            before,
            state,
            root,
            date: None,
            blocks: 0,
            txs: 0,
            accepted: 0,
            rejected_by_code: BTreeMap::new(),
            rejected: Vec::new(),
            validator_sets: Vec::new(),
            eras: vec![(genesis.protocol_version, 1)],
        })
    }

    /// The height the next entry must have.
    pub fn next_height(&self) -> u64 {
        self.before.height + 1
    }

    /// The state as the verified blocks so far have left it.
    pub fn state(&self) -> &MemoryStore {
        &self.state
    }

    /// The date of the last verified block.
    pub fn date(&self) -> Option<Date> {
        self.date
    }

    pub fn progress(&self) -> Progress {
        Progress {
            height: self.before.height,
            blocks: self.blocks,
            txs: self.txs,
        }
    }

    /// The genesis checks that need block 1 (or the end of an empty chain): the genesis
    /// must be the one the file names and the one block 1 follows. When it is not, and
    /// its validators are not those that decided block 1, that is named; any other
    /// difference is a genesis mismatch.
    fn check_genesis_identity(&self, first: Option<&ChainEntry>) -> Result<(), AuditFailure> {
        let first = first.filter(|e| e.block.header.height == 1);
        let chain_genesis = if self.file_genesis_hash != self.genesis_hash {
            Some(hex(&self.file_genesis_hash))
        } else {
            first
                .map(|e| e.block.header.previous)
                .filter(|previous| *previous != BlockId(self.genesis_hash))
                .map(|previous| previous.to_string())
        };
        let Some(chain) = chain_genesis else {
            return Ok(());
        };
        if let Some(entry) = first {
            let header = &entry.block.header;
            if header.validator_set_hash != self.before.validator_set_hash {
                return Err(AuditFailure::ValidatorsNotGenesis {
                    genesis: hex(&self.before.validator_set_hash),
                    chain: hex(&header.validator_set_hash),
                });
            }
        }
        Err(AuditFailure::GenesisMismatch {
            genesis: hex(&self.genesis_hash),
            chain,
        })
    }

    /// Verifies one entry (see the module notes) and applies it. `on_block` sees the block
    /// with the state as it was before the block, which the auditor then updates.
    pub fn push_with(
        &mut self,
        entry: &ChainEntry,
        on_block: impl FnOnce(&MemoryStore, &BlockDone<'_>),
    ) -> Result<(), AuditFailure> {
        let verified = chain::verify_txs(
            &self.genesis.chain_id,
            self.genesis.crypto_suite,
            &entry.block.txs,
        );
        self.push_verified(entry, verified, on_block)
    }

    /// [`Auditor::push_with`], given the verdict on the entry's transaction signatures
    /// ([`chain::verify_txs`], which [`replay`] runs ahead on another thread). A bad
    /// signature is still reported at step 5, after the links and the certificate.
    pub fn push_verified(
        &mut self,
        entry: &ChainEntry,
        verified: Result<Vec<VerifiedTx>, BlockError>,
        on_block: impl FnOnce(&MemoryStore, &BlockDone<'_>),
    ) -> Result<(), AuditFailure> {
        let height = self.next_height();
        if height == 1 {
            self.check_genesis_identity(Some(entry))?;
        }
        self.check_certified(entry, height)?;
        let executed = self.re_execute(entry, height, verified)?;
        on_block(
            &self.state,
            &BlockDone {
                entry,
                date: executed.date,
                executed: &executed,
            },
        );
        self.take(entry, height, &executed);
        Ok(())
    }

    /// Checks 1 to 4 of a block at `height`: the next height, its links, the protocol
    /// version in force, its certificate and its transactions' root.
    fn check_certified(&self, entry: &ChainEntry, height: u64) -> Result<(), AuditFailure> {
        let header = &entry.block.header;
        // 1. The next height.
        if header.height != height {
            return Err(AuditFailure::OutOfSequence {
                expected: height,
                found: header.height,
            });
        }
        // 2. Links: the node's own check, the fault classified in the same order.
        let proposer_is_validator = self.validators.voting_power(&header.proposer).is_some();
        if let Err(error) = chain::check_links(header, &self.before, proposer_is_validator) {
            let fault = if header.chain_id != self.before.chain_id {
                LinkFault::ChainId
            } else if header.previous != self.before.id {
                LinkFault::Previous
            } else if header.time_ms <= self.before.time_ms {
                LinkFault::Time
            } else if header.validator_set_hash != self.before.validator_set_hash {
                LinkFault::ValidatorSet
            } else {
                LinkFault::Proposer
            };
            let detail = match error {
                BlockError::Link(why) => why,
                other => other.to_string(),
            };
            return Err(AuditFailure::Link {
                height,
                fault,
                detail,
            });
        }
        // 2b. The protocol version in force at this height, from the state before it
        // (R12.1, R12.3), which this program must run (R12.5).
        let in_force = crate::upgrade::version_at(&self.state, height)
            .expect("the genesis records its protocol version");
        if !crate::upgrade::SUPPORTED.contains(&in_force) {
            return Err(AuditFailure::UnsupportedVersion {
                height,
                version: in_force,
            });
        }
        if header.protocol_version != in_force {
            return Err(AuditFailure::Version {
                height,
                header: header.protocol_version,
                in_force,
            });
        }
        // 3. Decided by more than 2/3 of the validators of this height (R11.5).
        let suite = self.genesis.crypto_suite;
        let block_id = header.id(suite);
        entry
            .certificate
            .verify(&self.genesis.chain_id, height, &block_id, &self.validators)
            .map_err(|error| AuditFailure::Certificate { height, error })?;
        // 4. The certified header commits to exactly these transactions.
        let body_root = entry.block.tx_root(suite);
        if body_root != header.tx_root {
            return Err(AuditFailure::TransactionsNotCertified {
                height,
                certified: hex(&header.tx_root),
                body: hex(&body_root),
            });
        }
        Ok(())
    }

    /// Checks 5 and 6: the block re-executed from the state before it (`verified`: its
    /// transactions with their signatures checked) gives its receipts and roots.
    fn re_execute(
        &self,
        entry: &ChainEntry,
        height: u64,
        verified: Result<Vec<VerifiedTx>, BlockError>,
    ) -> Result<Executed, AuditFailure> {
        let header = &entry.block.header;
        let suite = self.genesis.crypto_suite;
        // 5. Re-execute.
        let env = BlockEnv {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time_ms: header.time_ms,
            tx_expiry_heights_max: self.tx_expiry_heights_max,
            suite,
        };
        let txs = verified.map_err(|error| AuditFailure::InvalidBlock {
            height,
            error: Box::new(error),
        })?;
        let executed =
            chain::execute_block(&self.state, &self.root, &env, &txs).map_err(|error| {
                AuditFailure::InvalidBlock {
                    height,
                    error: Box::new(error),
                }
            })?;
        // 6. Receipts, then roots.
        compare_receipts(height, &entry.receipts, &executed.receipts)?;
        chain::check_execution(header, &executed).map_err(|error| match error {
            BlockError::HeaderMismatch {
                field,
                claimed,
                computed,
            } => AuditFailure::RootMismatch {
                height,
                field,
                claimed,
                computed,
            },
            error => AuditFailure::InvalidBlock {
                height,
                error: Box::new(error),
            },
        })?;
        Ok(executed)
    }

    /// Takes a verified block: its counts, its state, and the validators and parameters
    /// of the next height.
    fn take(&mut self, entry: &ChainEntry, height: u64, executed: &Executed) {
        let header = &entry.block.header;
        for (index, receipt) in executed.receipts.iter().enumerate() {
            self.txs += 1;
            match receipt.outcome {
                Outcome::Accepted => self.accepted += 1,
                Outcome::Rejected(code) => {
                    *self.rejected_by_code.entry(code).or_insert(0) += 1;
                    self.rejected.push(RejectedTx {
                        height,
                        index,
                        ordinal: self.txs,
                        tx_id: receipt.tx_id,
                        code,
                    });
                }
            }
        }
        self.state.apply(&executed.writes);
        self.root = executed.state_root;
        self.date = Some(executed.date);
        self.blocks += 1;
        if self.eras.last().map(|(version, _)| *version) != Some(executed.protocol_version) {
            self.eras.push((executed.protocol_version, height));
        }
        // The validators and parameters of the next height, from the state this block left.
        let next = chain::height_config(&self.state, height + 1);
        let validators = next
            .roster
            .validator_set()
            .expect("the rulebook never leaves a roster without validators");
        if validators != self.validators {
            self.validator_sets.push((height + 1, validators.len()));
        }
        self.validators = validators;
        self.tx_expiry_heights_max = next.params.tx_expiry_heights_max;
        let suite = self.genesis.crypto_suite;
        self.before = Predecessor::following(suite, header, self.validators.hash(suite));
    }

    /// [`Auditor::push_with`] without a reader.
    pub fn push(&mut self, entry: &ChainEntry) -> Result<(), AuditFailure> {
        self.push_with(entry, |_, _| {})
    }

    /// The verdict on the entries pushed so far.
    pub fn finish(self) -> Result<Verdict, AuditFailure> {
        if self.blocks == 0 {
            self.check_genesis_identity(None)?;
        }
        Ok(Verdict {
            chain_id: self.genesis.chain_id,
            genesis_hash: self.genesis_hash,
            blocks: self.blocks,
            txs: self.txs,
            accepted: self.accepted,
            rejected_by_code: self.rejected_by_code,
            rejected: self.rejected,
            height: self.before.height,
            last_block_id: self.before.id,
            state: self.state,
            state_root: self.root,
            date: self.date,
            validator_sets: self.validator_sets,
            eras: self.eras,
        })
    }
}

fn compare_receipts(
    height: u64,
    stored: &[Receipt],
    computed: &[Receipt],
) -> Result<(), AuditFailure> {
    for (index, (s, c)) in stored.iter().zip(computed).enumerate() {
        if s != c {
            let stored_text = if s.tx_id == c.tx_id {
                outcome_text(&s.outcome)
            } else {
                format!("{} for tx {}", outcome_text(&s.outcome), s.tx_id)
            };
            return Err(AuditFailure::ReceiptMismatch {
                height,
                index,
                tx: c.tx_id.to_string(),
                stored: stored_text,
                computed: outcome_text(&c.outcome),
            });
        }
    }
    if stored.len() != computed.len() {
        return Err(AuditFailure::ReceiptCount {
            height,
            stored: stored.len(),
            computed: computed.len(),
        });
    }
    Ok(())
}

/// A batch of entries goes to the signature verifier once it holds this many transactions
/// (or [`CHUNK_BLOCKS_MAX`] blocks).
const CHUNK_TXS_MAX: usize = 4_096;
const CHUNK_BLOCKS_MAX: usize = 256;
/// Most threads that verify signatures during a replay.
const VERIFIERS_MAX: usize = 8;

type Chunk = Vec<ChainEntry>;
type VerifiedChunk = Vec<(ChainEntry, Result<Vec<VerifiedTx>, BlockError>)>;

/// Replays `entries` through `auditor`. The transaction signatures of the next entries are
/// verified in batches on other threads (one per core, taking chunks in turn) while this
/// one executes the ones before, so a machine's cores share the work; every verdict is the
/// one [`Auditor::push_with`] would give. `on_block` sees each verified block with the
/// state before it, `progress` is called after each. An unreadable entry stops the replay
/// at its height.
pub fn replay<E: fmt::Display>(
    auditor: &mut Auditor,
    entries: impl IntoIterator<Item = Result<ChainEntry, E>>,
    mut on_block: impl FnMut(&MemoryStore, &BlockDone<'_>),
    mut progress: impl FnMut(&Progress),
) -> Result<(), AuditFailure> {
    let chain_id = &auditor.genesis.chain_id.clone();
    let suite = auditor.genesis.crypto_suite;
    let verifiers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, VERIFIERS_MAX);
    std::thread::scope(|scope| {
        // Chunk k goes to verifier k mod n and comes back from it, so they return in order.
        let mut lanes: Vec<_> = (0..verifiers)
            .map(|_| {
                let (to_verifier, verified) = verifier(scope, chain_id, suite);
                (Some(to_verifier), verified)
            })
            .collect();
        let mut execute = |chunk: VerifiedChunk, auditor: &mut Auditor| {
            for (entry, txs) in chunk {
                auditor.push_verified(&entry, txs, &mut on_block)?;
                progress(&auditor.progress());
            }
            Ok::<(), AuditFailure>(())
        };
        let (mut sent, mut done) = (0usize, 0usize);
        let mut chunk: Chunk = Vec::new();
        let mut chunk_txs = 0usize;
        let mut unreadable: Option<String> = None;
        let mut entries = entries.into_iter();
        loop {
            let next = if unreadable.is_some() {
                None
            } else {
                entries.next()
            };
            let end = match next {
                Some(Ok(entry)) => {
                    chunk_txs += entry.block.txs.len();
                    chunk.push(entry);
                    false
                }
                Some(Err(e)) => {
                    unreadable = Some(e.to_string());
                    true
                }
                None => true,
            };
            let full = chunk_txs >= CHUNK_TXS_MAX || chunk.len() >= CHUNK_BLOCKS_MAX;
            if (full || end) && !chunk.is_empty() {
                // Keep every verifier busy while the oldest chunk executes.
                if sent - done == verifiers + 1 {
                    let chunk = lanes[done % verifiers]
                        .1
                        .recv()
                        .expect("the verifier runs until the chunks end");
                    done += 1;
                    execute(chunk, auditor)?;
                }
                lanes[sent % verifiers]
                    .0
                    .as_ref()
                    .expect("open until the end")
                    .send(std::mem::take(&mut chunk))
                    .expect("the verifier takes chunks");
                sent += 1;
                chunk_txs = 0;
            }
            if end {
                break;
            }
        }
        for lane in &mut lanes {
            lane.0 = None;
        }
        while done < sent {
            let chunk = lanes[done % verifiers]
                .1
                .recv()
                .expect("the verifier answers every chunk");
            done += 1;
            execute(chunk, auditor)?;
        }
        match unreadable {
            Some(reason) => Err(AuditFailure::Unreadable {
                height: auditor.next_height(),
                reason,
            }),
            None => Ok(()),
        }
    })
}

/// A verifier thread of [`replay`] in `scope`: it verifies the transaction signatures of
/// each chunk of entries sent to it and sends the chunk back with the verdicts, in order.
fn verifier<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    chain_id: &'scope Id,
    suite: ledger::crypto::Suite,
) -> (
    std::sync::mpsc::SyncSender<Chunk>,
    std::sync::mpsc::Receiver<VerifiedChunk>,
) {
    let (to_verifier, chunks) = std::sync::mpsc::sync_channel::<Chunk>(1);
    let (to_executor, verified) = std::sync::mpsc::sync_channel::<VerifiedChunk>(1);
    scope.spawn(move || {
        for chunk in chunks {
            let done: VerifiedChunk = chunk
                .into_iter()
                .map(|entry| {
                    let txs = chain::verify_txs(chain_id, suite, &entry.block.txs);
                    (entry, txs)
                })
                .collect();
            if to_executor.send(done).is_err() {
                return;
            }
        }
    });
    (to_verifier, verified)
}

/// Verifies a whole chain: `file` is the chain file's header, `entries` its entries in
/// order (an `Err` item is an unreadable entry and stops the audit), `progress` is called
/// after every verified block.
pub fn verify_chain<E: fmt::Display>(
    genesis: &Genesis,
    file: &ChainHeader,
    entries: impl IntoIterator<Item = Result<ChainEntry, E>>,
    progress: impl FnMut(&Progress),
) -> Result<Verdict, AuditFailure> {
    let mut auditor = Auditor::new(genesis, file)?;
    replay(&mut auditor, entries, |_, _| {}, progress)?;
    auditor.finish()
}
