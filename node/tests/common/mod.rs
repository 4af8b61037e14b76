//! A consortium of real `xinbao-node` processes on loopback, in a fresh folder: generated
//! keys, genesis and configurations, processes started, killed (SIGKILL) and restarted.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ledger::action::StaffKey;
use ledger::crypto::SecretKey;
use ledger::genesis::{Genesis, GenesisFile, GenesisOrg, GenesisValidator, GovernanceRule, Params};
use ledger::tx::{SignedTx, TxBody};
use ledger::Action;
use ledger::{Id, OrgKind, Text};
use serde_json::Value;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

pub const ORGS: [(&str, OrgKind); 4] = [
    ("bank", OrgKind::Bank),
    ("insurer", OrgKind::Insurer),
    ("government", OrgKind::Government),
    ("regulator", OrgKind::Regulator),
];

pub struct Devnet {
    pub dir: PathBuf,
    pub genesis: Genesis,
    pub admin_keys: Vec<SecretKey>,
    pub http: Vec<String>,
    children: Vec<Option<Child>>,
    devnet_clock: bool,
}

/// A loopback port that is free now, below the kernel's ephemeral range (32768 and up),
/// so that the outgoing connections of running nodes cannot take it before the node that
/// is to listen on it starts, and not one this process handed out before.
fn free_port() -> u16 {
    free_ports(1)
}

/// A free loopback port whose successor is free too: a node's p2p port and its gossip port.
pub fn free_port_pair() -> u16 {
    free_ports(2)
}

/// `count` consecutive ports, free now and never handed out before by this process (a
/// port is only bound later, by the node it is for, so a second call must not return it).
fn free_ports(count: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for _ in 0..2_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(7_919)) % 12_000) as u16;
        if (0..count).all(|i| {
            !handed_out.contains(&(port + i)) && TcpListener::bind(("127.0.0.1", port + i)).is_ok()
        }) {
            handed_out.extend((0..count).map(|i| port + i));
            return port;
        }
    }
    panic!("no {count} consecutive free loopback ports below 32000");
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

impl Devnet {
    /// Writes keys, genesis and four configurations under a fresh folder named `name`.
    pub fn create(name: &str, block_time_ms: u64, devnet_clock: bool) -> Devnet {
        Devnet::create_with(name, block_time_ms, block_time_ms, devnet_clock)
    }

    /// [`Devnet::create`] with a heartbeat of its own (an idle consortium makes a block
    /// only this often).
    pub fn create_with(
        name: &str,
        block_time_ms: u64,
        heartbeat_ms: u64,
        devnet_clock: bool,
    ) -> Devnet {
        let dir =
            std::env::temp_dir().join(format!("xinbao-{name}-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&dir).expect("create the devnet folder");
        let mut organisations = Vec::new();
        let mut validators = Vec::new();
        let mut admin_keys = Vec::new();
        let mut consensus_keys = Vec::new();
        let mut p2p_ports = Vec::new();
        let mut http = Vec::new();
        for (i, (org, kind)) in ORGS.iter().enumerate() {
            let admin = SecretKey::generate();
            let consensus = SecretKey::generate();
            let p2p = free_port_pair();
            organisations.push(GenesisOrg {
                id: Id::new(*org).unwrap(),
                kind: *kind,
                admin_key: admin.public_key(),
            });
            validators.push(GenesisValidator {
                org: Id::new(*org).unwrap(),
                consensus_key: consensus.public_key(),
                voting_power: 1,
                address: Text::new(format!("/ip4/127.0.0.1/tcp/{p2p}")).unwrap(),
                transport: None,
            });
            let node_dir = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            consensus
                .write_new_file(&node_dir.join("consensus.key"))
                .expect("write the consensus key");
            admin_keys.push(admin);
            consensus_keys.push(consensus);
            p2p_ports.push(p2p);
            http.push(format!("127.0.0.1:{}", free_port()));
        }
        let genesis = Genesis {
            crypto_suite: SUITE,
            chain_id: Id::new(format!("{name}-chain")).unwrap(),
            protocol_version: 1,
            genesis_time_ms: now_ms() - 60_000,
            organisations,
            validators,
            staff_keys: Vec::new(),
            params: Params {
                block_time_ms,
                block_txs_max: 1_000,
                tx_expiry_heights_max: 10_000,
                heartbeat_ms,
                upgrade_lead_heights: ledger::genesis::UPGRADE_LEAD_HEIGHTS_DEFAULT,
                obligor_limit_fen: None,
            },
            governance: GovernanceRule::default(),
        };
        genesis.validate().expect("a valid genesis");
        // Every founder approves (R11.1), or no node starts.
        let mut file = GenesisFile::unapproved(genesis.clone());
        for admin in &admin_keys {
            file.approve(admin).expect("a founder's approval");
        }
        std::fs::write(dir.join("genesis.json"), file.to_json()).unwrap();
        for i in 0..ORGS.len() {
            let config = format!(
                "moniker = \"node{i}\"\ndata_dir = \"data\"\ngenesis = \"../genesis.json\"\n\
                 consensus_key = \"consensus.key\"\nhttp_listen = \"{}\"\n\
                 p2p_listen = \"/ip4/127.0.0.1/tcp/{}\"\n",
                http[i], p2p_ports[i]
            );
            std::fs::write(dir.join(format!("node{i}/config.toml")), config).unwrap();
        }
        Devnet {
            dir,
            genesis,
            admin_keys,
            http,
            children: (0..ORGS.len()).map(|_| None).collect(),
            devnet_clock,
        }
    }

    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{i}"))
    }

    pub fn start(&mut self, i: usize) {
        self.start_with(i, &[]);
    }

    /// [`Devnet::start`] with extra environment variables for the process.
    pub fn start_with(&mut self, i: usize, env: &[(&str, &Path)]) {
        self.spawn(i, env, &[]);
    }

    /// [`Devnet::start`] with `--rebuild`: the node's store is moved aside and the chain
    /// synced from the others.
    #[allow(dead_code)]
    pub fn start_rebuilding(&mut self, i: usize) {
        self.spawn(i, &[], &["--rebuild"]);
    }

    fn spawn(&mut self, i: usize, env: &[(&str, &Path)], args: &[&str]) {
        assert!(self.children[i].is_none(), "node {i} is already running");
        let dir = self.node_dir(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_xinbao-node"));
        command
            .arg("--config")
            .arg(dir.join("config.toml"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if self.devnet_clock {
            command.arg("--devnet-clock");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command.args(args);
        self.children[i] = Some(command.spawn().expect("start xinbao-node"));
    }

    pub fn start_all(&mut self) {
        for i in 0..ORGS.len() {
            self.start(i);
        }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            child.kill().expect("kill the node");
            child.wait().expect("reap the node");
        }
    }

    /// The exit status of node `i`, if its process has ended (it is then no longer held).
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        let status = self.children[i].as_mut()?.try_wait().ok()??;
        self.children[i] = None;
        Some(status)
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.node_dir(i).join("node.log")).unwrap_or_default()
    }

    pub fn get(&self, i: usize, path: &str) -> Option<(u16, Value)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .get(&format!("http://{}{path}", self.http[i]))
            .call()
            .ok()?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().ok()?;
        Some((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub fn get_bytes(&self, i: usize, path: &str) -> (u16, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .get(&format!("http://{}{path}", self.http[i]))
            .call()
            .expect("GET from the node");
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_vec()
            .unwrap();
        (status, bytes)
    }

    pub fn post(&self, i: usize, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&format!("http://{}{path}", self.http[i]))
            .header("Content-Type", content_type)
            .send(body)
            .expect("POST to the node");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn height(&self, i: usize) -> Option<u64> {
        let (_, status) = self.get(i, "/v1/status")?;
        status.get("height")?.as_u64()
    }

    /// Waits until every node in `nodes` reports at least `height`.
    pub fn wait_height(&self, nodes: &[usize], height: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let heights: Vec<Option<u64>> = nodes.iter().map(|i| self.height(*i)).collect();
            if heights.iter().all(|h| h.is_some_and(|h| h >= height)) {
                return;
            }
            if Instant::now() > deadline {
                for i in nodes {
                    eprintln!("---- node{i} log (tail) ----");
                    let log = self.log(*i);
                    let tail: Vec<&str> = log.lines().rev().take(40).collect();
                    for line in tail.into_iter().rev() {
                        eprintln!("{line}");
                    }
                }
                panic!(
                    "nodes {nodes:?} did not reach height {height} within {timeout:?}: {heights:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The block at `height` as node `i` serves it.
    /// A staff-key registration (a fresh key) for organisation `org` of [`ORGS`], signed
    /// by its admin key, expiring at height 5,000.
    pub fn staff_key_tx(&self, org: usize, nonce: u64) -> SignedTx {
        let mut tx = SignedTx::unsigned(TxBody {
            chain_id: self.genesis.chain_id.clone(),
            nonce,
            expires_at_height: 5_000,
            action: Action::RegisterStaffKey(StaffKey {
                org: Id::new(ORGS[org].0).unwrap(),
                public_key: SecretKey::generate().public_key(),
            }),
        });
        tx.sign(&self.admin_keys[org]).unwrap();
        tx
    }

    /// Submits `count` staff-key registrations of organisation `org` to node `i`, nonces
    /// counted on from `nonce`; their ids (the node must take each).
    pub fn submit_staff_keys(
        &self,
        i: usize,
        org: usize,
        nonce: &mut u64,
        count: usize,
    ) -> Vec<String> {
        (0..count)
            .map(|_| {
                *nonce += 1;
                let tx = self.staff_key_tx(org, *nonce);
                let (status, answer) =
                    self.post(i, "/v1/tx", "application/octet-stream", &tx.to_bytes());
                assert_eq!(status, 200, "{answer}");
                tx.id(SUITE).to_hex()
            })
            .collect()
    }

    /// Waits until every transaction of `acknowledged` (id, must it commit) has settled:
    /// none pending on any node, and every one that must commit committed on all of
    /// them. Then asserts that every node holds the same chain up to the lowest tip, that
    /// each transaction committed anywhere is committed on every node at one height, and
    /// that none that must commit was lost. Returns the lowest tip and how many committed.
    #[allow(dead_code)]
    pub fn assert_settled(
        &self,
        acknowledged: &[(String, bool)],
        within: Duration,
    ) -> (u64, usize) {
        let nodes: Vec<usize> = (0..ORGS.len()).collect();
        // A transaction may wait in the pools of some nodes only (a restarted node's pool
        // is empty, and gossip is not sent twice) until one of them proposes it in its
        // turn.
        let status = |i: usize, id: &str| -> (Value, Value) {
            let (_, answer) = self
                .get(i, &format!("/v1/tx/{id}"))
                .unwrap_or_else(|| panic!("node {i} unreachable"));
            (answer["status"].clone(), answer["height"].clone())
        };
        let settled = |id: &str, must_commit: bool| {
            let seen: Vec<Value> = nodes.iter().map(|&i| status(i, id).0).collect();
            !seen.iter().any(|s| s == "pending")
                && (!must_commit || seen.iter().all(|s| s == "committed"))
        };
        let deadline = Instant::now() + within;
        while Instant::now() < deadline
            && !acknowledged
                .iter()
                .all(|(id, must_commit)| settled(id, *must_commit))
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        let top = nodes
            .iter()
            .map(|&i| self.height(i).unwrap())
            .min()
            .unwrap();
        self.assert_same_chain(&nodes, top);
        let mut committed_txs = 0;
        for (id, must_commit) in acknowledged {
            let seen: Vec<(Value, Value)> = nodes.iter().map(|&i| status(i, id)).collect();
            let committed = seen.iter().filter(|(s, _)| s == "committed").count();
            assert!(
                committed == 0 || committed == nodes.len(),
                "tx {id}: {seen:?}"
            );
            assert!(seen.iter().all(|s| *s == seen[0]), "tx {id}: {seen:?}");
            if *must_commit {
                assert_eq!(committed, nodes.len(), "tx {id} was lost: {seen:?}");
            }
            committed_txs += usize::from(committed > 0);
        }
        (top, committed_txs)
    }

    /// Asserts that every node of `nodes` holds the same block and state root at every
    /// height from 1 to `top`.
    pub fn assert_same_chain(&self, nodes: &[usize], top: u64) {
        for height in 1..=top {
            let reference = self.block(nodes[0], height);
            for &i in &nodes[1..] {
                let block = self.block(i, height);
                assert_eq!(
                    block["block_id"], reference["block_id"],
                    "node {i}, height {height}"
                );
                assert_eq!(
                    block["state_root"], reference["state_root"],
                    "node {i}, height {height}"
                );
            }
        }
    }

    pub fn block(&self, i: usize, height: u64) -> Value {
        let (status, block) = self
            .get(i, &format!("/v1/blocks/{height}"))
            .expect("the node answers");
        assert_eq!(status, 200, "node {i} has no block {height}: {block}");
        block
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
        // XINBAO_KEEP_DEVNET keeps the folder (logs, data) for a look afterwards.
        if !std::thread::panicking() && std::env::var_os("XINBAO_KEEP_DEVNET").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn remove_dir(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
}

#[allow(unused_imports)] // used by some of the tests that include this module
pub use harness::rng::Rng;
