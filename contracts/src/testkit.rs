//! Real, valid chains built without a network, for tests of the audit, the chain file and
//! the commands that read them (enabled by the `testkit` feature; not part of the product).
//!
//! Keys come from fixed seeds, so every run builds the same bytes: four validators
//! ([`validator_key`]) and one admin key per organisation ([`org_key`]). A worked example
//! becomes a chain with [`scenario_chain`]: each scenario step is signed by the admin keys
//! of the organisations in its `by` (a name that is not a member signs with a key nobody
//! registered) and committed in a block of its own, dated the step's date (midday in
//! UTC+8, a second later for each earlier step on the same date), executed with
//! [`chain::execute_block`] and certified by three of the four validators' precommits.
//! [`ChainBuilder`] makes any other chain, including ones that colluding validators
//! certify although they are wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledger::block::{Block, BlockHeader, BlockId, CommitCertificate, CommitSignature};
use ledger::crypto::{PublicKey, SecretKey, Suite};
use ledger::export::{ChainEntry, ChainHeader, ChainWriter};
use ledger::genesis::{Genesis, GenesisOrg, GenesisValidator, GovernanceRule, Params};
use ledger::state::{Hash32, MemoryStore, StateStore};
use ledger::tx::{SignedTx, TxBody};
use ledger::validators::TransportKey;
use ledger::vote::{VoteBody, VoteKind};
use ledger::{Action, Date, Id, OrgKind, Text};
use serde_json::Value;

use crate::chain::{self, BlockEnv, Predecessor};
use crate::scenario;

/// The chain id of every test chain.
pub const CHAIN_ID: &str = "xinbao-testkit";
/// How many validators a test genesis has.
pub const VALIDATORS: usize = 4;
/// A transaction in a test chain expires this many heights after its block.
pub const EXPIRY_HEIGHTS: u64 = 10;

pub fn id(s: &str) -> Id {
    Id::new(s).expect("a valid id")
}

/// Validator `i`'s consensus key (ed25519).
pub fn validator_key(i: usize) -> SecretKey {
    validator_key_in(Suite::Ed25519Blake3, i)
}

/// Validator `i`'s consensus key on a chain of `suite`.
pub fn validator_key_in(suite: Suite, i: usize) -> SecretKey {
    SecretKey::from_seed_for(suite.algorithm(), [0xa0 + i as u8; 32])
}

/// Validator `i`'s ed25519 transport key.
pub fn transport_key(i: usize) -> SecretKey {
    SecretKey::from_seed([0xc0 + i as u8; 32])
}

/// The transport binding validator `i` with `consensus` key needs: its [`transport_key`]
/// bound by it when that is not ed25519, none otherwise.
pub fn transport_of(consensus: &SecretKey, i: usize) -> Option<TransportKey> {
    (consensus.algorithm() != ledger::crypto::Algorithm::Ed25519).then(|| {
        TransportKey::bind(consensus, transport_key(i).public_key()).expect("a key in memory signs")
    })
}

/// The admin key of organisation `org` (also used, unregistered, for names that are not
/// members), ed25519.
pub fn org_key(org: &str) -> SecretKey {
    org_key_in(Suite::Ed25519Blake3, org)
}

/// The admin key of organisation `org` on a chain of `suite`.
pub fn org_key_in(suite: Suite, org: &str) -> SecretKey {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"xinbao testkit organisation key ");
    hasher.update(org.as_bytes());
    SecretKey::from_seed_for(suite.algorithm(), *hasher.finalize().as_bytes())
}

/// A genesis of `orgs`, each with its [`org_key`], and [`VALIDATORS`] validators of power
/// 1 run by the members that are not auditors, in turn, under protocol version 1.
pub fn genesis(orgs: &[(Id, OrgKind)], genesis_time_ms: u64) -> Genesis {
    genesis_at(orgs, genesis_time_ms, 1)
}

/// [`genesis`] under protocol `version`, with the parameters that version has.
pub fn genesis_at(orgs: &[(Id, OrgKind)], genesis_time_ms: u64, version: u32) -> Genesis {
    genesis_in(orgs, genesis_time_ms, version, Suite::Ed25519Blake3)
}

/// [`genesis_at`] on a chain of crypto suite `suite`, its keys of the suite's algorithm.
pub fn genesis_in(
    orgs: &[(Id, OrgKind)],
    genesis_time_ms: u64,
    version: u32,
    suite: Suite,
) -> Genesis {
    let runners: Vec<&Id> = orgs
        .iter()
        .filter(|(_, kind)| *kind != OrgKind::Auditor)
        .map(|(id, _)| id)
        .collect();
    assert!(
        !runners.is_empty(),
        "a test genesis needs a member that is not an auditor"
    );
    Genesis {
        chain_id: id(CHAIN_ID),
        protocol_version: version,
        crypto_suite: suite,
        genesis_time_ms,
        organisations: orgs
            .iter()
            .map(|(org, kind)| GenesisOrg {
                id: org.clone(),
                kind: *kind,
                admin_key: org_key_in(suite, org.as_str()).public_key(),
            })
            .collect(),
        validators: (0..VALIDATORS)
            .map(|i| GenesisValidator {
                org: runners[i % runners.len()].clone(),
                consensus_key: validator_key_in(suite, i).public_key(),
                voting_power: 1,
                address: Text::new(format!("/ip4/127.0.0.1/tcp/{}", 27000 + i)).unwrap(),
                transport: transport_of(&validator_key_in(suite, i), i),
            })
            .collect(),
        staff_keys: vec![],
        params: Params {
            block_time_ms: 1000,
            block_txs_max: 1000,
            tx_expiry_heights_max: 100,
            heartbeat_ms: ledger::genesis::HEARTBEAT_MS_DEFAULT,
            upgrade_lead_heights: ledger::genesis::UPGRADE_LEAD_HEIGHTS_DEFAULT,
            obligor_limit_fen: (version >= crate::upgrade::OBLIGOR_LIMIT)
                .then_some(crate::obligor::OBLIGOR_LIMIT_FEN_DEFAULT),
        },
        governance: GovernanceRule::default(),
    }
}

/// Precommit signatures of `keys` for `block_id` at `height`, round 0.
pub fn certify(
    chain_id: &Id,
    height: u64,
    block_id: BlockId,
    keys: &[SecretKey],
) -> CommitCertificate {
    let signatures = keys
        .iter()
        .map(|key| {
            let vote = VoteBody {
                chain_id: chain_id.clone(),
                kind: VoteKind::Precommit,
                height,
                round: 0,
                block_id: Some(block_id),
                voter: key.public_key(),
            };
            CommitSignature {
                validator: key.public_key(),
                signature: vote.sign(key),
            }
        })
        .collect();
    CommitCertificate {
        height,
        round: 0,
        block_id,
        signatures,
    }
}

/// A transaction of the test chain signed by `keys`.
pub fn signed_tx(
    nonce: u64,
    expires_at_height: u64,
    action: Action,
    keys: &[SecretKey],
) -> SignedTx {
    let mut tx = SignedTx::unsigned(TxBody {
        chain_id: id(CHAIN_ID),
        nonce,
        expires_at_height,
        action,
    });
    for key in keys {
        tx.sign(key).expect("within the signature limit");
    }
    tx
}

/// Builds a chain block by block with the node's own execution. The validators of each
/// height are those the state schedules (DOMAIN.md R11.5), so a chain that changes its
/// validators is certified by the right ones; the builder must know their secret keys
/// ([`ChainBuilder::learn_key`]; it knows the genesis validators').
pub struct ChainBuilder {
    pub genesis: Genesis,
    /// How many validators sign each certificate: by default just enough for a quorum
    /// (3 of 4), taken in turn.
    pub certifiers: Option<usize>,
    consensus_keys: BTreeMap<PublicKey, SecretKey>,
    state: MemoryStore,
    root: Hash32,
    before: Predecessor,
    pub entries: Vec<ChainEntry>,
}

impl ChainBuilder {
    pub fn new(genesis: Genesis) -> ChainBuilder {
        let (writes, root) = chain::genesis_state(&genesis);
        let mut state = MemoryStore::new();
        state.apply(&writes);
        let before = chain::genesis_predecessor(&genesis).expect("a valid genesis");
        let suite = genesis.crypto_suite;
        let consensus_keys = (0..VALIDATORS)
            .map(|i| validator_key_in(suite, i))
            .map(|key| (key.public_key(), key))
            .collect();
        ChainBuilder {
            genesis,
            certifiers: None,
            consensus_keys,
            state,
            root,
            before,
            entries: Vec::new(),
        }
    }

    pub fn next_height(&self) -> u64 {
        self.before.height + 1
    }

    /// Lets the builder sign with `key` once governance makes it a validator.
    pub fn learn_key(&mut self, key: SecretKey) {
        self.consensus_keys.insert(key.public_key(), key);
    }

    /// The state after the last block.
    pub fn state(&self) -> &MemoryStore {
        &self.state
    }

    /// The time of the last block (the genesis time before the first).
    pub fn last_time_ms(&self) -> u64 {
        self.before.time_ms
    }

    /// Executes `txs` as the next block at `time_ms` and certifies it.
    pub fn push_block(&mut self, time_ms: u64, txs: Vec<SignedTx>) -> &ChainEntry {
        self.push_block_with(time_ms, txs, |_| {})
    }

    /// Like [`ChainBuilder::push_block`], with `alter` changing the header after execution
    /// and before the validators sign it: what colluding validators could certify. The
    /// builder's own state goes on as re-execution left it.
    pub fn push_block_with(
        &mut self,
        time_ms: u64,
        txs: Vec<SignedTx>,
        alter: impl FnOnce(&mut BlockHeader),
    ) -> &ChainEntry {
        let height = self.next_height();
        let config = chain::height_config(&self.state, height);
        let set = config.roster.validator_set().expect("a workable set");
        let env = BlockEnv {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time_ms,
            tx_expiry_heights_max: config.params.tx_expiry_heights_max,
            suite: self.genesis.crypto_suite,
        };
        let verified = chain::verify_txs(&self.genesis.chain_id, env.suite, &txs)
            .expect("test transactions verify");
        let executed = chain::execute_block(&self.state, &self.root, &env, &verified)
            .expect("a test block executes");
        // The validators take turns: from validator `height mod n` on, as many as sign.
        let n = set.len();
        let in_turn: Vec<&ledger::validators::Validator> = (0..n)
            .map(|k| &set.validators()[(height as usize + k) % n])
            .collect();
        let count = self.certifiers.unwrap_or_else(|| {
            let mut power = 0;
            in_turn
                .iter()
                .position(|v| {
                    power += v.voting_power;
                    set.is_quorum(power)
                })
                .expect("all validators are a quorum")
                + 1
        });
        let keys: Vec<SecretKey> = in_turn[..count.min(n)]
            .iter()
            .map(|v| {
                self.consensus_keys
                    .get(&v.consensus_key)
                    .unwrap_or_else(|| {
                        panic!("the builder has no key for validator {}", v.consensus_key)
                    })
                    .clone()
            })
            .collect();
        let mut header = BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height,
            protocol_version: executed.protocol_version,
            time_ms,
            previous: self.before.id,
            tx_root: executed.tx_root,
            receipts_root: executed.receipts_root,
            state_root: executed.state_root,
            validator_set_hash: self.before.validator_set_hash,
            proposer: in_turn[0].consensus_key,
        };
        alter(&mut header);
        let suite = self.genesis.crypto_suite;
        let certificate = certify(&self.genesis.chain_id, height, header.id(suite), &keys);
        self.state.apply(&executed.writes);
        self.root = executed.state_root;
        let next = chain::height_config(&self.state, height + 1);
        let next_set = next.roster.validator_set().expect("a workable set");
        self.before = Predecessor::following(suite, &header, next_set.hash(suite));
        self.entries.push(ChainEntry {
            block: Block { header, txs },
            certificate,
            receipts: executed.receipts,
        });
        self.entries.last().expect("just pushed")
    }

    /// The chain file's header for these entries.
    pub fn file_header(&self) -> ChainHeader {
        file_header(&self.genesis)
    }
}

/// The file header of a whole chain started from `genesis`.
pub fn file_header(genesis: &Genesis) -> ChainHeader {
    ChainHeader {
        chain_id: genesis.chain_id.clone(),
        crypto_suite: genesis.crypto_suite,
        genesis_hash: genesis.hash(),
        first_height: 1,
    }
}

/// The bytes of a chain file holding `entries` as given, in any order (a tampered file
/// may drop or swap entries; the writer of a real export refuses that).
pub fn chain_file(header: &ChainHeader, entries: &[ChainEntry]) -> Vec<u8> {
    let mut bytes = ChainWriter::create(Vec::new(), header)
        .expect("writing to memory")
        .into_inner();
    for entry in entries {
        let mut writer = ChainWriter::append_to(bytes, entry.height().saturating_sub(1));
        writer.append(entry).expect("writing to memory");
        bytes = writer.into_inner();
    }
    bytes
}

/// A worked example replayed as a chain.
pub struct ScenarioChain {
    pub genesis: Genesis,
    pub entries: Vec<ChainEntry>,
    /// For each transaction of the chain, in order, the scenario step (1-based) it is.
    pub steps_on_chain: Vec<u64>,
    /// Steps that cannot be transactions (not well formed, or dated before an earlier
    /// step): the scenario rejects them `InvalidField` and the chain has no trace of them.
    pub steps_skipped: Vec<u64>,
}

impl ScenarioChain {
    pub fn file_header(&self) -> ChainHeader {
        file_header(&self.genesis)
    }

    pub fn file_bytes(&self) -> Vec<u8> {
        chain_file(&self.file_header(), &self.entries)
    }

    /// Writes `genesis.json` and `chain.xbc` into `dir`; returns their paths.
    pub fn write_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        std::fs::create_dir_all(dir).expect("create the directory");
        let genesis = dir.join("genesis.json");
        let chain = dir.join("chain.xbc");
        std::fs::write(&genesis, self.genesis.to_json()).expect("write the genesis");
        std::fs::write(&chain, self.file_bytes()).expect("write the chain file");
        (genesis, chain)
    }
}

/// Replays scenario `text` as a chain (see the module notes).
pub fn scenario_chain(text: &str) -> ScenarioChain {
    scenario_chain_in(text, Suite::Ed25519Blake3)
}

/// [`scenario_chain`] on a chain of crypto suite `suite`.
pub fn scenario_chain_in(text: &str, suite: Suite) -> ScenarioChain {
    let doc: Value = serde_json::from_str(text).expect("a scenario is JSON");
    let orgs: Vec<(Id, OrgKind)> = doc["orgs"]
        .as_array()
        .expect("a scenario has orgs")
        .iter()
        .map(|o| {
            (
                id(o["id"].as_str().expect("an org id")),
                serde_json::from_value(o["kind"].clone()).expect("an org kind"),
            )
        })
        .collect();
    let steps = doc["steps"].as_array().expect("a scenario has steps");

    let first_date = steps
        .iter()
        .find_map(|s| scenario::parse_date(&s["date"]).ok());
    let genesis_time_ms = first_date.map_or(0, |d| d.unix_ms_cst_noon() as u64 - 60 * 60 * 1000);
    let version = scenario::protocol_version_of(&doc).expect("a scenario of a known version");
    let mut builder = ChainBuilder::new(genesis_in(&orgs, genesis_time_ms, version, suite));

    let mut steps_on_chain = Vec::new();
    let mut steps_skipped = Vec::new();
    let mut latest: Option<(Date, u64)> = None;
    for (index, step) in steps.iter().enumerate() {
        let number = index as u64 + 1;
        let parsed = scenario::parse_date(&step["date"]).and_then(|date| {
            let signers = scenario::parse_signers(&step["by"])?;
            let action = scenario::parse_action(&step["tx"])?;
            Ok((date, signers, action))
        });
        let Ok((date, signers, action)) = parsed else {
            steps_skipped.push(number);
            continue;
        };
        let same_day = match latest {
            Some((last, _)) if date < last => {
                steps_skipped.push(number);
                continue;
            }
            Some((last, count)) if date == last => count + 1,
            _ => 0,
        };
        latest = Some((date, same_day));
        let time_ms = date.unix_ms_cst_noon() as u64 + same_day * 1000;
        let mut keys: Vec<SecretKey> = signers
            .iter()
            .map(|s| org_key_in(suite, s.as_str()))
            .collect();
        if keys.is_empty() {
            keys.push(org_key_in(suite, "nobody"));
        }
        let height = builder.next_height();
        let tx = signed_tx(number, height + EXPIRY_HEIGHTS, action, &keys);
        builder.push_block(time_ms, vec![tx]);
        steps_on_chain.push(number);
    }
    ScenarioChain {
        genesis: builder.genesis.clone(),
        entries: builder.entries,
        steps_on_chain,
        steps_skipped,
    }
}

/// The worked examples shipped with the rulebook, by file name.
pub fn worked_example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../network-configs/scenarios")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names of the worked examples.
pub const WORKED_EXAMPLES: &[&str] = &[
    "a-ningbo-style.json",
    "b-yunnan-style.json",
    "c-guangzhou-style.json",
];

/// For tests that need a map of the organisations' keys.
pub fn org_keys(genesis: &Genesis) -> BTreeMap<Id, SecretKey> {
    genesis
        .organisations
        .iter()
        .map(|o| (o.id.clone(), org_key(o.id.as_str())))
        .collect()
}
