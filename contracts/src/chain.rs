//! Executing a block, and checking a block against its predecessor: the one code path that
//! the proposer, every validator and the auditor run, so that none of them can disagree
//! about what a valid block is.
//!
//! A block's transactions come in as [`VerifiedTx`]: their signatures were verified for
//! this chain before ([`verify_txs`], in one batch, or by the node's intake, whose
//! verdicts a validator reuses), so nothing here checks a signature twice. For each
//! transaction, in block order:
//! 1. it is of this chain, not expired, not too far from expiring, and its id has not
//!    been committed before: otherwise the **block** is invalid (an honest proposer never
//!    includes such a transaction; the node's intake refuses it before it reaches the
//!    pool);
//! 2. its signing keys are resolved to organisations on the state as the block has left it
//!    so far ([`crate::orgs_of_keys`]); a key that is unregistered or revoked by now makes
//!    the receipt `Unauthorized`;
//! 3. the rulebook executes it ([`crate::execute`]) on the block's date, the block time's
//!    date in UTC+8 (R1.6): accepted, or rejected with its code and no rulebook writes.
//!
//! Every ordered transaction's id is remembered in state until its expiry height has
//! passed, so an id is committed at most once; the memory is bounded by expiry:
//!
//! | key                                   | value                |
//! |---------------------------------------|----------------------|
//! | `txid/<tx id>`                        | expiry height (u64)  |
//! | `txexp/<expiry height, 8 bytes BE><tx id>` | empty (index)   |
//!
//! Block `h` first forgets the ids whose expiry height is `h − 1`: they can never be
//! committed again anyway. Heights advance by one, so every expiry bucket is emptied
//! exactly once. It then promotes the consensus configuration scheduled for `h`
//! ([`governance::promote`], R11.5), so the validators and parameters of every height
//! follow from the state before it, and takes up an upgrade whose activation height `h`
//! is ([`upgrade::activate`], R12.3–R12.4). Every transaction of the block executes
//! under the version then in force, which the header records (R12.1).

use ledger::block::{receipts_root, tx_root, BlockHeader, BlockId, Outcome, Receipt};
use ledger::genesis::Genesis;
use ledger::state::{chain_root, Hash32, Overlay, StateView, WriteSet};
use ledger::tx::{SignedTx, TxError, TxId, VerifiedTx};
use ledger::validators::ValidatorSetError;
use ledger::{codec, Date, Id};

use crate::decision::{self, Decision};
use crate::{governance, upgrade, TxContext};

/// The prefix of the state keys that remember committed transaction ids (`txid/<id>`,
/// see the module notes): the keys every transaction of every block is checked against,
/// which a node may keep in memory as well.
pub const TXID_PREFIX: &[u8] = b"txid/";
/// The prefix of the index of those ids by expiry height (`txexp/<expiry, 8 bytes BE><id>`).
pub const TXEXP_PREFIX: &[u8] = b"txexp/";

/// Where and when a block executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEnv {
    pub chain_id: Id,
    pub height: u64,
    pub time_ms: u64,
    /// A transaction may expire at most this many heights after the block's.
    pub tx_expiry_heights_max: u64,
    /// The chain's crypto suite: the hash of the block's roots.
    pub suite: ledger::crypto::Suite,
}

/// An accepted change of the consortium (R11) in a block, and who approved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The transaction's position in its block.
    pub index: usize,
    /// The organisations whose admin keys signed it.
    pub approvers: Vec<Id>,
}

/// What executing a block gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub date: Date,
    /// The protocol version the block executed under (R12.1).
    pub protocol_version: u32,
    pub receipts: Vec<Receipt>,
    /// The accepted governance changes, in block order.
    pub changes: Vec<Change>,
    /// What the accepted transactions decided ([`decision`]), by their index in the block.
    pub decisions: Vec<(u32, Decision)>,
    pub writes: WriteSet,
    pub tx_root: Hash32,
    pub receipts_root: Hash32,
    pub state_root: Hash32,
}

/// Why a block is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block time {0} ms has no calendar date")]
    BadTime(u64),
    #[error("transaction {index} ({id}): {reason}")]
    BadTransaction {
        index: usize,
        id: TxId,
        reason: TxError,
    },
    #[error("transaction {index} ({id}) expired at height {expires_at_height}")]
    Expired {
        index: usize,
        id: TxId,
        expires_at_height: u64,
    },
    #[error(
        "transaction {index} ({id}) expires at {expires_at_height}, more than {max} heights ahead"
    )]
    ExpiryTooFar {
        index: usize,
        id: TxId,
        expires_at_height: u64,
        max: u64,
    },
    #[error("transaction {index} ({id}) was committed before")]
    Duplicate { index: usize, id: TxId },
    #[error("header {field} differs: the block says {claimed}, re-execution gives {computed}")]
    HeaderMismatch {
        field: &'static str,
        claimed: String,
        computed: String,
    },
    #[error("header does not follow its predecessor: {0}")]
    Link(String),
    #[error("protocol version {version} is in force at height {height}; this program supports versions {}..={}", upgrade::SUPPORTED.start(), upgrade::SUPPORTED.end())]
    UnsupportedVersion { version: u32, height: u64 },
}

/// The state a chain starts from, and its root: the genesis organisations and signing keys
/// ([`crate::genesis_writes`]), chained onto the genesis hash, so that two chains with
/// different genesis files never share a state root:
/// `root(0) = chain_root(genesis hash, genesis writes)`.
pub fn genesis_state(genesis: &Genesis) -> (WriteSet, Hash32) {
    let writes = crate::genesis_writes(genesis);
    let root = chain_root(genesis.crypto_suite, &genesis.hash(), &writes);
    (writes, root)
}

/// Whether `id` has been committed and not yet forgotten (see the module notes).
pub fn is_committed(state: &dyn StateView, id: &TxId) -> bool {
    state.get(&txid_key(id)).is_some()
}

fn txid_key(id: &TxId) -> Vec<u8> {
    let mut key = TXID_PREFIX.to_vec();
    key.extend_from_slice(&id.0);
    key
}

fn txexp_bucket(expiry: u64) -> Vec<u8> {
    let mut key = TXEXP_PREFIX.to_vec();
    key.extend_from_slice(&expiry.to_be_bytes());
    key
}

/// Verifies the signatures of a block's transactions for `chain_id` and its suite, all in
/// one batch; the first that fails makes the block invalid.
pub fn verify_txs(
    chain_id: &Id,
    suite: ledger::crypto::Suite,
    txs: &[SignedTx],
) -> Result<Vec<VerifiedTx>, BlockError> {
    SignedTx::verify_all(txs.to_vec(), chain_id, suite)
        .into_iter()
        .zip(txs)
        .enumerate()
        .map(|(index, (verdict, tx))| {
            verdict.map_err(|reason| BlockError::BadTransaction {
                index,
                id: tx.id(suite),
                reason,
            })
        })
        .collect()
}

/// Checks a verified transaction the way a block would, before it is admitted to a pool:
/// chain, expiry window at `height`, not committed before.
pub fn admit(state: &dyn StateView, env: &BlockEnv, tx: &VerifiedTx) -> Result<(), BlockError> {
    check_tx(state, env, 0, tx)
}

fn check_tx(
    state: &dyn StateView,
    env: &BlockEnv,
    index: usize,
    tx: &VerifiedTx,
) -> Result<(), BlockError> {
    let id = &tx.id();
    if tx.body().chain_id != env.chain_id {
        return Err(BlockError::BadTransaction {
            index,
            id: *id,
            reason: TxError::WrongChain {
                expected: env.chain_id.clone(),
                found: tx.body().chain_id.clone(),
            },
        });
    }
    let expires_at_height = tx.body().expires_at_height;
    if expires_at_height < env.height {
        return Err(BlockError::Expired {
            index,
            id: *id,
            expires_at_height,
        });
    }
    if expires_at_height - env.height > env.tx_expiry_heights_max {
        return Err(BlockError::ExpiryTooFar {
            index,
            id: *id,
            expires_at_height,
            max: env.tx_expiry_heights_max,
        });
    }
    if is_committed(state, id) {
        return Err(BlockError::Duplicate { index, id: *id });
    }
    Ok(())
}

/// Executes `txs` as block `env.height` on `state`, whose root is `previous_root`.
pub fn execute_block(
    state: &dyn StateView,
    previous_root: &Hash32,
    env: &BlockEnv,
    txs: &[VerifiedTx],
) -> Result<Executed, BlockError> {
    let date = Date::from_unix_ms_cst(env.time_ms).map_err(|_| BlockError::BadTime(env.time_ms))?;
    let mut overlay = Overlay::new(state);
    let version = begin_height(&mut overlay, env)?;
    let mut block = BlockWork {
        date,
        version,
        env,
        receipts: Vec::with_capacity(txs.len()),
        changes: Vec::new(),
        decisions: Vec::new(),
    };
    let mut ids = Vec::with_capacity(txs.len());
    for (index, tx) in txs.iter().enumerate() {
        let id = tx.id();
        check_tx(&overlay, env, index, tx)?;
        let outcome = block.execute(&mut overlay, index, tx);
        remember(&mut overlay, tx);
        block.receipts.push(Receipt { tx_id: id, outcome });
        ids.push(id);
    }
    let writes = overlay.into_writes();
    let BlockWork {
        receipts,
        changes,
        decisions,
        ..
    } = block;
    Ok(Executed {
        date,
        protocol_version: version,
        tx_root: tx_root(env.suite, &ids),
        receipts_root: receipts_root(env.suite, &receipts),
        state_root: chain_root(env.suite, previous_root, &writes),
        receipts,
        changes,
        decisions,
        writes,
    })
}

/// The start of block `env.height`, before its transactions: the ids that expired at the
/// previous height are forgotten, and the configuration and any upgrade scheduled for it
/// take over. The protocol version in force, which this program must run.
fn begin_height<S: StateView + ?Sized>(
    overlay: &mut Overlay<'_, S>,
    env: &BlockEnv,
) -> Result<u32, BlockError> {
    // Forget the ids that expired at the previous height.
    if env.height > 0 {
        let mut forget = WriteSet::new();
        let bucket = txexp_bucket(env.height - 1);
        for (key, _) in overlay.scan_prefix(&bucket) {
            let mut id = [0u8; 32];
            id.copy_from_slice(&key[bucket.len()..]);
            forget.delete(txid_key(&TxId(id)));
            forget.delete(key);
        }
        overlay.apply(forget);
    }
    // R11.5: the configuration scheduled for this height takes over.
    let promoted = governance::promote(&*overlay, env.height);
    overlay.apply(promoted);
    // R12.3–R12.4: so does an upgrade that activates here, with its migration.
    let activated = upgrade::activate(&*overlay, env.height);
    overlay.apply(activated);
    let version = upgrade::recorded(&*overlay)
        .expect("a network's state records its protocol version from the genesis on");
    if !upgrade::SUPPORTED.contains(&version) {
        return Err(BlockError::UnsupportedVersion {
            version,
            height: env.height,
        });
    }
    Ok(version)
}

/// A block's transactions under way: what they gave so far.
struct BlockWork<'e> {
    date: Date,
    version: u32,
    env: &'e BlockEnv,
    receipts: Vec<Receipt>,
    changes: Vec<Change>,
    decisions: Vec<(u32, Decision)>,
}

impl BlockWork<'_> {
    /// Executes transaction `index` of the block on `overlay` (its writes applied when it
    /// is accepted); its outcome.
    fn execute<S: StateView + ?Sized>(
        &mut self,
        overlay: &mut Overlay<'_, S>,
        index: usize,
        tx: &VerifiedTx,
    ) -> Outcome {
        let keys = tx.signers();
        let action = &tx.body().action;
        match crate::orgs_of_keys(&*overlay, keys) {
            Err(code) => Outcome::Rejected(code),
            Ok(signers) => {
                let approvers = if action.is_governance() {
                    governance::approvers_of_keys(&*overlay, keys)
                } else {
                    Vec::new()
                };
                let ctx = TxContext {
                    date: self.date,
                    signers,
                    approvers,
                    height: self.env.height,
                    version: self.version,
                    suite: self.env.suite,
                };
                match crate::execute(&*overlay, &ctx, action) {
                    Ok(writes) => {
                        let index_u32 = u32::try_from(index).expect("a block's index fits u32");
                        self.decisions.extend(
                            decision::of(&*overlay, &writes)
                                .into_iter()
                                .map(|d| (index_u32, d)),
                        );
                        overlay.apply(writes);
                        if action.is_governance() {
                            self.changes.push(Change {
                                index,
                                approvers: ctx.approvers,
                            });
                        }
                        Outcome::Accepted
                    }
                    Err(code) => Outcome::Rejected(code),
                }
            }
        }
    }
}

/// Remembers `tx`'s id until its expiry height (`txid/…`, `txexp/…`), so that it is never
/// committed twice.
fn remember<S: StateView + ?Sized>(overlay: &mut Overlay<'_, S>, tx: &VerifiedTx) {
    let id = tx.id();
    let mut remember = WriteSet::new();
    remember.put(txid_key(&id), codec::encode(&tx.body().expires_at_height));
    let mut index_key = txexp_bucket(tx.body().expires_at_height);
    index_key.extend_from_slice(&id.0);
    remember.put(index_key, Vec::new());
    overlay.apply(remember);
}

/// The consensus configuration (roster, validator set, parameters) of block `height`,
/// from the state after block `height − 1`; see [`governance::config_at`]. A network's
/// state always records one (the genesis writes the first).
pub fn height_config(state: &dyn StateView, height: u64) -> governance::ConsensusConfig {
    governance::config_at(state, height)
        .expect("a network's state records its consensus configuration from the genesis on")
}

/// Checks that `header` records what re-execution gave: the version it executed under
/// (R12.1) and the three roots.
pub fn check_execution(header: &BlockHeader, executed: &Executed) -> Result<(), BlockError> {
    if header.protocol_version != executed.protocol_version {
        return Err(BlockError::HeaderMismatch {
            field: "protocol_version",
            claimed: header.protocol_version.to_string(),
            computed: executed.protocol_version.to_string(),
        });
    }
    let fields: [(&'static str, &Hash32, &Hash32); 3] = [
        ("tx_root", &header.tx_root, &executed.tx_root),
        (
            "receipts_root",
            &header.receipts_root,
            &executed.receipts_root,
        ),
        ("state_root", &header.state_root, &executed.state_root),
    ];
    for (field, claimed, computed) in fields {
        if claimed != computed {
            return Err(BlockError::HeaderMismatch {
                field,
                claimed: hex(claimed),
                computed: hex(computed),
            });
        }
    }
    Ok(())
}

/// What a header must agree with: the chain, the block before it (or the genesis), and
/// the validator set of its height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predecessor {
    pub chain_id: Id,
    /// Height of the previous block; 0 for the genesis.
    pub height: u64,
    /// Id of the previous block; the genesis hash for height 1.
    pub id: BlockId,
    /// Time of the previous block; the genesis time for height 1.
    pub time_ms: u64,
    pub validator_set_hash: Hash32,
}

/// Checks the header's links: chain id, height, previous id, time after the previous
/// block's, validator set hash, and a proposer in that set.
pub fn check_links(
    header: &BlockHeader,
    before: &Predecessor,
    proposer_is_validator: bool,
) -> Result<(), BlockError> {
    let link = |why: String| Err(BlockError::Link(why));
    if header.chain_id != before.chain_id {
        return link(format!(
            "chain id {} is not {}",
            header.chain_id, before.chain_id
        ));
    }
    if header.height != before.height + 1 {
        return link(format!(
            "height {} does not follow {}",
            header.height, before.height
        ));
    }
    if header.previous != before.id {
        return link(format!("previous {} is not {}", header.previous, before.id));
    }
    if header.time_ms <= before.time_ms {
        return link(format!(
            "time {} ms is not after {} ms",
            header.time_ms, before.time_ms
        ));
    }
    if header.validator_set_hash != before.validator_set_hash {
        return link("validator set hash is not the height's".to_string());
    }
    if !proposer_is_validator {
        return link(format!("proposer {} is not a validator", header.proposer));
    }
    Ok(())
}

fn hex(bytes: &Hash32) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What block 1 must follow: the genesis hash as its previous id, the genesis time, and
/// the genesis validator set.
pub fn genesis_predecessor(genesis: &Genesis) -> Result<Predecessor, ValidatorSetError> {
    Ok(Predecessor {
        chain_id: genesis.chain_id.clone(),
        height: 0,
        id: BlockId(genesis.hash()),
        time_ms: genesis.genesis_time_ms,
        validator_set_hash: genesis.validator_set_hash()?,
    })
}

impl Predecessor {
    /// What the block after `header` must follow, given the hash of the validator set
    /// of the next height (R11.5: [`height_config`] on the state after `header`'s block).
    pub fn following(
        suite: ledger::crypto::Suite,
        header: &BlockHeader,
        next_validator_set_hash: Hash32,
    ) -> Predecessor {
        Predecessor {
            chain_id: header.chain_id.clone(),
            height: header.height,
            id: header.id(suite),
            time_ms: header.time_ms,
            validator_set_hash: next_validator_set_hash,
        }
    }
}
