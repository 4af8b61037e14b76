//! A scenario replayed through a running network (`xinbao scenario run FILE --node URL`).
//!
//! The network must be a fresh devnet whose organisations are the scenario's, started
//! with a devnet clock (`xinbao devnet init --orgs-from FILE`, `xinbao devnet up
//! --devnet-clock`). Its directory gives the admin key of each organisation and the
//! address of every validator. Each step is then:
//!
//! 1. parsed with [`contracts::scenario::parse_step`]; a step that cannot be encoded as a
//!    transaction is `InvalidField`, as offline, and is not sent;
//! 2. dated: the clock of every validator is set to midday (UTC+8) of the step's date, so
//!    the block that holds it carries that date (a validator that does not answer, being
//!    restarted, is waited for);
//! 3. signed with the admin key of each organisation in its `by` (an organisation the
//!    devnet does not have signs with a key nobody registered), submitted, and followed
//!    until committed: its receipt is accepted, or rejected with the rulebook's code.
//!
//! A step the node refuses before it reaches a block (a signer whose key is not
//! registered, or no signer at all) gets no receipt; it is reported with the code the offline runner gives that
//! step, which is what the rulebook says of a non-member signer (`Unauthorized`, or an
//! earlier check's code). If the offline runner would accept such a step, the network and
//! the rulebook disagree, and the run stops with an error.
//!
//! The result is the R10 document of the network's state (`GET /v1/state`, as of the
//! latest block's date), with `rejected` built from the receipts, numbered by step: the
//! same document the offline runner gives for the same file.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use contracts::scenario::{self, Outcome};
use contracts::Rejected;
use ledger::crypto::SecretKey;
use ledger::tx::{SignedTx, TxBody};
use ledger::{Code, Date, Id, OrgKind};
use serde_json::Value;

use crate::devnet::Manifest;
use crate::node_client::{NodeClient, NodeError};

/// How long one step may take to be committed.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the network may take to reach the scenario's last date.
const DATE_TIMEOUT: Duration = Duration::from_secs(30);
/// A step's transaction may be committed within this many heights.
const EXPIRY_HEIGHTS: u64 = 200;

/// What a network run gives.
pub struct NetworkRun {
    /// In the offline runner's shape, with the network's document as `result`.
    pub outcome: Outcome,
    /// The height and state root of the node when the document was read.
    pub height: u64,
    pub state_root: String,
}

/// One step's fate on the network, for progress lines.
pub enum StepNote<'a> {
    Committed {
        step: u64,
        of: u64,
        kind: &'a str,
        height: u64,
        code: Option<Code>,
    },
    NotSent {
        step: u64,
        of: u64,
        code: Code,
    },
    Refused {
        step: u64,
        of: u64,
        kind: &'a str,
        refusal: String,
        code: Code,
    },
}

impl std::fmt::Display for StepNote<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepNote::Committed {
                step,
                of,
                kind,
                height,
                code,
            } => match code {
                None => write!(
                    f,
                    "step {step}/{of} {kind}: committed at height {height}, accepted"
                ),
                Some(code) => write!(
                    f,
                    "step {step}/{of} {kind}: committed at height {height}, rejected ({code})"
                ),
            },
            StepNote::NotSent { step, of, code } => {
                write!(f, "step {step}/{of}: not a transaction ({code}), not sent")
            }
            StepNote::Refused {
                step,
                of,
                kind,
                refusal,
                code,
            } => write!(
                f,
                "step {step}/{of} {kind}: {refusal}; the rulebook's code: {code}"
            ),
        }
    }
}

fn the_step_code(offline: &Outcome, step: u64) -> Option<Code> {
    offline
        .rejected
        .iter()
        .find(|r| r.step == step)
        .map(|r| r.code)
}

/// How long a validator that cannot be reached (one restarting) is waited for when its
/// clock is to be set.
const CLOCK_WAIT: Duration = Duration::from_secs(60);

/// Sets the clock of every validator to midday (UTC+8) of `date`. A validator that cannot
/// be reached is asked again for up to [`CLOCK_WAIT`] (it may be restarting: every block
/// after this must carry the step's date, whoever proposes it); one that refuses (not
/// started with `--devnet-clock`) is an error at once.
fn set_clocks(clients: &[NodeClient], date: Date) -> anyhow::Result<()> {
    let ms = u64::try_from(date.unix_ms_cst_noon()).context("a date before 1970")?;
    for client in clients {
        let deadline = Instant::now() + CLOCK_WAIT;
        loop {
            match client.set_clock(ms) {
                Ok(_) => break,
                Err(e) if e.downcast_ref::<NodeError>().is_none() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "setting the devnet clock of {} (was it started with --devnet-clock?)",
                            client.base()
                        )
                    })
                }
            }
        }
    }
    Ok(())
}

/// The date of the node's latest block.
fn latest_date(client: &NodeClient) -> anyhow::Result<Option<Date>> {
    let status = client.status()?;
    Ok(Date::from_unix_ms_cst(status.latest_time_ms).ok())
}

/// Replays the scenario `text` through the network of the devnet in `devnet_dir`,
/// submitting to `node`; `progress` hears of each step.
pub fn run(
    text: &str,
    devnet_dir: &Path,
    node: &NodeClient,
    progress: &mut dyn FnMut(StepNote<'_>),
) -> anyhow::Result<NetworkRun> {
    // The offline run gives the codes of steps refused before a block, and is the shape
    // the result is returned in.
    let offline = scenario::run(text)?;
    let doc: Value = serde_json::from_str(text)?;
    let steps = doc
        .get("steps")
        .and_then(Value::as_array)
        .context("no `steps` array")?;
    let mut replay = Replay::new(&doc, &offline, devnet_dir, node)?;
    let total = steps.len() as u64;
    for (index, step) in steps.iter().enumerate() {
        let number = index as u64 + 1;
        let latest_before = replay.ledger_date;
        if let Ok(date) = scenario::parse_date(step.get("date").unwrap_or(&Value::Null)) {
            if latest_before.is_none_or(|latest| date > latest) {
                replay.ledger_date = Some(date);
            }
        }
        match scenario::parse_step(step, latest_before) {
            Ok((date, signers, action)) => {
                replay.advance_clocks(number, date)?;
                let kind = offline.step_types.get(index).map_or("", String::as_str);
                let note = replay.send(number, &signers, action)?;
                progress(note.with(number, total, kind));
            }
            Err(code) => {
                replay.rejected.push(Rejected { step: number, code });
                progress(StepNote::NotSent {
                    step: number,
                    of: total,
                    code,
                });
            }
        }
    }
    replay.reach_last_date()?;
    replay.finish(&doc)
}

/// A replay under way: the network, the members' keys, and what the steps so far gave.
struct Replay<'a> {
    node: &'a NodeClient,
    offline: &'a Outcome,
    clients: Vec<NodeClient>,
    chain_id: Id,
    /// Of the chain's suite: the key a step signed by no member is signed with.
    algorithm: ledger::crypto::Algorithm,
    keys: Vec<(String, SecretKey)>,
    /// Distinct nonces on every run, so that a step's id is never one already seen.
    nonce_base: u64,
    /// The latest well-formed date of the steps so far.
    ledger_date: Option<Date>,
    /// The date the validators' clocks were last set to.
    clock_date: Option<Date>,
    rejected: Vec<Rejected>,
}

/// A sent step's fate, told as a [`StepNote`] once its number and kind are added.
enum Sent {
    Committed { height: u64, code: Option<Code> },
    Refused { refusal: String, code: Code },
}

impl Sent {
    fn with(self, step: u64, of: u64, kind: &str) -> StepNote<'_> {
        match self {
            Sent::Committed { height, code } => StepNote::Committed {
                step,
                of,
                kind,
                height,
                code,
            },
            Sent::Refused { refusal, code } => StepNote::Refused {
                step,
                of,
                kind,
                refusal,
                code,
            },
        }
    }
}

impl<'a> Replay<'a> {
    /// Checks that the network can replay the scenario `doc` (its members, its protocol
    /// version, a fresh ledger) and gathers the members' keys.
    fn new(
        doc: &Value,
        offline: &'a Outcome,
        devnet_dir: &Path,
        node: &'a NodeClient,
    ) -> anyhow::Result<Replay<'a>> {
        let manifest = Manifest::load(devnet_dir)?;
        check_members(doc, &manifest)?;
        // R13.4: the steps run under the scenario's version, so the network must be in it.
        let in_force = node.status()?.next_protocol_version;
        ensure!(
            in_force == offline.protocol_version,
            "the scenario is of protocol version {}, and the network runs version {in_force}: make a \
             devnet of its version with `xinbao devnet init --orgs-from FILE`, or upgrade this one first",
            offline.protocol_version
        );
        let state = node.state()?;
        for table in ["programmes", "funds", "policies", "loans", "claims"] {
            ensure!(
                state
                    .get(table)
                    .and_then(Value::as_object)
                    .is_none_or(|t| t.is_empty()),
                "the network already holds {table}: a scenario is replayed on a fresh devnet"
            );
        }
        let mut keys: Vec<(String, SecretKey)> = Vec::new();
        for org in &manifest.orgs {
            if let Some(key) = manifest.admin_key(devnet_dir, &org.id)? {
                keys.push((org.id.clone(), key));
            }
        }
        Ok(Replay {
            node,
            offline,
            clients: manifest.clients()?,
            chain_id: Id::new(manifest.chain_id.as_str()).context("the devnet's chain id")?,
            algorithm: node.status()?.crypto_suite.algorithm(),
            keys,
            nonce_base: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
                .saturating_mul(1_000),
            ledger_date: None,
            clock_date: None,
            rejected: Vec::new(),
        })
    }

    /// Sets the validators' clocks to step `number`'s `date` when it is later than theirs;
    /// an error when the network's blocks are already dated after it.
    fn advance_clocks(&mut self, number: u64, date: Date) -> anyhow::Result<()> {
        if self.clock_date.is_some_and(|d| date <= d) {
            return Ok(());
        }
        if let Some(block_date) = latest_date(self.node)? {
            ensure!(
                block_date <= date,
                "step {number} is dated {date}, but the network's blocks are already dated {block_date}: replay on a fresh devnet started with --devnet-clock"
            );
        }
        set_clocks(&self.clients, date)?;
        self.clock_date = Some(date);
        Ok(())
    }

    /// Signs step `number` (by the members' keys; by a key nobody registered when a signer
    /// is not a member or there is none), submits it and waits for its fate.
    fn send(
        &mut self,
        number: u64,
        signers: &[Id],
        action: ledger::Action,
    ) -> anyhow::Result<Sent> {
        let height = self.node.status()?.height;
        let mut tx = SignedTx::unsigned(TxBody {
            chain_id: self.chain_id.clone(),
            nonce: self.nonce_base + number,
            expires_at_height: height + EXPIRY_HEIGHTS,
            action,
        });
        // Unsigned, or signed by a key nobody registered: the node refuses it at the door.
        let mut unregistered = signers.is_empty();
        for signer in signers {
            match self.keys.iter().find(|(org, _)| org == signer.as_str()) {
                Some((_, key)) => {
                    tx.sign(key)?;
                }
                None => {
                    unregistered = true;
                    tx.sign(&SecretKey::generate_for(self.algorithm))?;
                }
            }
        }
        let sent = match self.node.submit(&tx) {
            Ok(id) => {
                ensure!(
                    !unregistered,
                    "step {number}: the node accepted a signature by a key nobody registered"
                );
                let (height, code) = self
                    .node
                    .wait_committed(&id, COMMIT_TIMEOUT)
                    .with_context(|| format!("step {number}"))?;
                let code = code
                    .map(|text| {
                        text.parse::<Code>()
                            .map_err(|()| anyhow::anyhow!("step {number}: unknown code {text}"))
                    })
                    .transpose()?;
                Sent::Committed { height, code }
            }
            Err(error) => {
                let Some(refusal) = error.downcast_ref::<NodeError>() else {
                    return Err(error.context(format!("step {number}")));
                };
                if !unregistered {
                    bail!("step {number}: {refusal}");
                }
                let Some(code) = the_step_code(self.offline, number) else {
                    bail!(
                        "step {number}: the node refused it ({refusal}), but the rulebook accepts it offline"
                    );
                };
                Sent::Refused {
                    refusal: refusal.to_string(),
                    code,
                }
            }
        };
        if let Sent::Committed {
            code: Some(code), ..
        }
        | Sent::Refused { code, .. } = &sent
        {
            self.rejected.push(Rejected {
                step: number,
                code: *code,
            });
        }
        Ok(sent)
    }

    /// The result is as of the last step's date, on the network as offline: the clocks
    /// are set to it and a block of that date waited for.
    fn reach_last_date(&self) -> anyhow::Result<()> {
        let Some(last) = self.ledger_date else {
            return Ok(());
        };
        if self.clock_date.is_none_or(|d| last > d) {
            set_clocks(&self.clients, last)?;
        }
        let deadline = Instant::now() + DATE_TIMEOUT;
        while latest_date(self.node)? != Some(last) {
            ensure!(
                Instant::now() < deadline,
                "the network did not commit a block dated {last} within {} s",
                DATE_TIMEOUT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The network's document, in the offline runner's shape, compared with the
    /// scenario's `expect`.
    fn finish(mut self, doc: &Value) -> anyhow::Result<NetworkRun> {
        let mut result = self.node.state()?;
        let status = self.node.status()?;
        self.rejected.sort_by_key(|r| r.step);
        result["rejected"] = Value::Array(
            self.rejected
                .iter()
                .map(|r| serde_json::json!({"code": r.code.as_str(), "step": r.step}))
                .collect(),
        );
        let mut mismatches = Vec::new();
        if let Some(expect) = doc.get("expect") {
            scenario::compare("", expect, &result, &mut mismatches);
        }
        let offline = self.offline;
        let outcome = Outcome {
            result,
            mismatches,
            has_expect: offline.has_expect,
            protocol_version: offline.protocol_version,
            state_root: status.state_root,
            description: offline.description.clone(),
            date: self.ledger_date,
            steps: offline.steps,
            step_types: offline.step_types.clone(),
            rejected: self.rejected,
            decisions: Vec::new(),
            store: ledger::state::MemoryStore::new(),
        };
        Ok(NetworkRun {
            outcome,
            height: status.height,
            state_root: hex::encode(status.state_root),
        })
    }
}

/// The devnet's organisations must be exactly the scenario's, kinds included: the
/// rulebook's verdicts depend on who is a member.
fn check_members(doc: &Value, manifest: &Manifest) -> anyhow::Result<()> {
    let orgs = doc
        .get("orgs")
        .and_then(Value::as_array)
        .context("no `orgs` array")?;
    let mut wanted: Vec<(String, OrgKind)> = Vec::with_capacity(orgs.len());
    for org in orgs {
        let id = org
            .get("id")
            .and_then(Value::as_str)
            .context("an org without id")?;
        let kind: OrgKind = serde_json::from_value(org.get("kind").cloned().unwrap_or_default())
            .with_context(|| format!("org {id}: no valid kind"))?;
        wanted.push((id.to_string(), kind));
    }
    let mut have: Vec<(String, OrgKind)> = manifest
        .orgs
        .iter()
        .map(|o| (o.id.clone(), o.kind))
        .collect();
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    have.sort_by(|a, b| a.0.cmp(&b.0));
    ensure!(
        wanted == have,
        "the devnet's organisations are not the scenario's; make one with `xinbao devnet init --orgs-from SCENARIO`"
    );
    Ok(())
}
