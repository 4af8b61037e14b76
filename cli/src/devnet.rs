//! `xinbao devnet`: a consortium of validators on this machine, for development and demos.
//!
//! `devnet init --dir D` writes everything a consortium needs into `D`:
//!
//! ```text
//! D/devnet.json                  the manifest: chain id, organisations and their admin key
//!                                files, validators with their HTTP and p2p addresses
//! D/genesis.json                 chain id `xinbao-devnet`, organisations with admin keys,
//!                                validators with consensus keys and addresses, parameters,
//!                                the governance rule, and every founder's approval
//! D/members/ORG.json             each organisation's public member file
//! D/keys/ORG.secret, .public     each organisation's admin key (secret files mode 0600)
//! D/nodes/NAME/consensus.key     a validator's consensus key (mode 0600)
//! D/nodes/NAME/config.toml       a validator's node configuration (the node's TOML format)
//! D/nodes/NAME/data/             its blocks and state, created by the node
//! D/nodes/NAME/node.log          its log, written while `devnet up` runs it
//!
//! with --tls (and always on hosts of their own), the APIs are HTTPS with client certificates:
//! D/tls/ca.pem, ca.key           the devnet's CA: it signs every server and client certificate
//! D/tls/ORG-ROLE.pem, .key       a client certificate per organisation and role (staff,
//!                                auditor, operator, viewer): CN=ORG-ROLE, O=ORG, OU=ROLE
//! D/nodes/NAME/server.pem, .key  a validator's server certificate (localhost and its address)
//! ```
//! A node maps its own organisation's certificates to their roles (`O=ORG, OU=ROLE`); the
//! commands that use a TLS devnet present the staff certificate of the node's organisation,
//! or the auditor's to export the chain.
//!
//! It is the founding ceremony of `xinbao member init` and `xinbao genesis
//! assemble|sign` ([`crate::ceremony`]) run by one person for every organisation: member
//! files, a genesis assembled from them, approved by every admin key. Every organisation
//! but an auditor runs a validator; with more validators than such organisations, they
//! take a second one in turn. Ports are free loopback ports: HTTP APIs first, then a p2p
//! port and the gossip port after it for each validator. The keys are throwaway keys for
//! a devnet: the directory must never hold a real consortium's keys.
//!
//! `devnet up --dir D` runs one `xinbao-node` process per validator, waits until each
//! answers and heights advance, prints the addresses, and stops them all (SIGTERM, then
//! SIGKILL after a grace period) on Ctrl-C or SIGTERM. The nodes are in their own process
//! group and are told by the kernel to stop if this command dies, so none is left behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::{Args, Subcommand};
use ledger::crypto::{SecretKey, Suite};
use ledger::genesis::{
    Genesis, GenesisSettings, GovernanceRule, MemberFile, MemberNode, Params, MEMBER_FORMAT,
};
use ledger::{Date, Id, OrgKind, Text};
use serde::{Deserialize, Serialize};

use crate::node_client::NodeClient;
use crate::tls::ClientTls;

/// The devnet's chain id.
pub const CHAIN_ID: &str = "xinbao-devnet";
/// A TLS devnet's certificates, in its directory.
pub const TLS_DIR: &str = "tls";
/// The manifest's file name in a devnet directory.
pub const MANIFEST_FILE: &str = "devnet.json";
/// Target time between blocks.
pub const BLOCK_TIME_MS: u64 = 500;
/// Most transactions in one block.
pub const BLOCK_TXS_MAX: u32 = 5_000;
/// How far ahead a transaction may expire.
pub const TX_EXPIRY_HEIGHTS_MAX: u64 = 1_000;
/// A devnet has at least this many validators (3f + 1 with f = 1).
pub const VALIDATORS_MIN: usize = 4;
/// And at most this many (it runs on one machine).
pub const VALIDATORS_MAX: usize = 16;
/// How long `up` waits for the nodes to answer and commit.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node has to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Subcommand)]
pub enum DevnetCommand {
    /// Generate keys, a genesis and one node configuration per validator into a directory.
    Init(InitArgs),
    /// Run every validator of a devnet directory until Ctrl-C.
    Up(UpArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to create (it must not exist, or be empty); default: $XINBAO_DEVNET_DIR,
    /// else `devnet`.
    #[arg(long, value_name = "DIR", default_value_os_t = default_dir())]
    pub dir: PathBuf,
    /// Take the organisations from a scenario file's `orgs` instead of the default four
    /// (a bank, an insurer, a government, a regulator).
    #[arg(long, value_name = "SCENARIO")]
    pub orgs_from: Option<PathBuf>,
    /// Number of validators (at least 4, and at least one per non-auditor organisation).
    #[arg(long, value_name = "N")]
    pub validators: Option<usize>,
    /// First port to use (HTTP APIs from here, then p2p); default: a free block of ports.
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,
    /// How often an idle devnet still makes a block, in milliseconds (it also makes one at
    /// each day boundary, and whenever there is work); default ten minutes.
    #[arg(long, value_name = "MS")]
    pub heartbeat_ms: Option<u64>,
    /// The protocol version the chain is founded under (R12.1); default: the scenario's
    /// `protocol_version` with `--orgs-from` (1 where it names none), else the newest this
    /// program supports.
    #[arg(long, value_name = "N")]
    pub protocol_version: Option<u32>,
    /// How many heights ahead an upgrade must be scheduled at least (R12.3, at least 3);
    /// default 100.
    #[arg(long, value_name = "HEIGHTS")]
    pub upgrade_lead_heights: Option<u64>,
    /// The chain's crypto suite, for its whole life: ed25519-blake3 or sm2-sm3 (SM2
    /// signatures and SM3 hashes; each node then has an ed25519 transport key too).
    #[arg(long, value_name = "SUITE", default_value_t = Suite::default())]
    pub crypto_suite: Suite,
    /// Serve the validators' APIs over HTTPS with client certificates (D/tls: a CA, and a
    /// certificate per organisation and role).
    #[arg(long)]
    pub tls: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// A directory made by `devnet init`; default: $XINBAO_DEVNET_DIR, else `devnet`.
    #[arg(long, value_name = "DIR", default_value_os_t = default_dir())]
    pub dir: PathBuf,
    /// Take block times from a clock set over the API (`POST /v1/devnet/clock`), so that a
    /// scenario's dates can be replayed (`xinbao scenario run --node`).
    #[arg(long)]
    pub devnet_clock: bool,
    /// The `xinbao-node` program; default: beside this `xinbao`, else on the PATH.
    #[arg(long, value_name = "PATH")]
    pub node_bin: Option<PathBuf>,
}

/// What `devnet init` wrote, for the commands that use a devnet. Paths are relative to
/// the devnet directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub chain_id: String,
    pub genesis: String,
    pub orgs: Vec<OrgEntry>,
    pub nodes: Vec<NodeEntry>,
    /// The certificates' folder when the APIs are HTTPS ([`TLS_DIR`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// The devnet's directory (where it was loaded from).
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgEntry {
    pub id: String,
    pub kind: OrgKind,
    /// The admin key's secret file.
    pub admin_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeEntry {
    pub name: String,
    pub org: String,
    /// The node's configuration file.
    pub config: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The libp2p address in genesis.
    pub p2p: String,
}

impl Manifest {
    pub fn load(dir: &Path) -> anyhow::Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = crate::files::read_bounded(&path, 1024 * 1024)
            .with_context(|| format!("{} is not a devnet directory", dir.display()))?;
        let mut manifest: Manifest =
            serde_json::from_slice(&bytes).with_context(|| format!("{}", path.display()))?;
        manifest.dir = dir.to_owned();
        Ok(manifest)
    }

    /// The client certificate of `org` in `role`, on a TLS devnet (none on a plain one).
    pub fn client_tls(&self, org: &str, role: &str) -> ClientTls {
        match &self.tls {
            Some(tls) => ClientTls::of_devnet(&self.dir.join(tls), org, role),
            None => ClientTls::default(),
        }
    }

    /// A client of validator `index` as its organisation's `role`.
    pub fn client(&self, index: usize, role: &str) -> anyhow::Result<NodeClient> {
        self.client_with_timeout(index, role, crate::node_client::REQUEST_TIMEOUT)
    }

    pub fn client_with_timeout(
        &self,
        index: usize,
        role: &str,
        timeout: Duration,
    ) -> anyhow::Result<NodeClient> {
        let node = &self.nodes[index];
        let tls = self.client_tls(&node.org, role);
        if tls.is_set() {
            NodeClient::with_tls(&node.url, timeout, &tls)
        } else {
            Ok(NodeClient::with_timeout(&node.url, timeout))
        }
    }

    /// A client of every validator, each as its organisation's staff.
    pub fn clients(&self) -> anyhow::Result<Vec<NodeClient>> {
        (0..self.nodes.len())
            .map(|i| self.client(i, "staff"))
            .collect()
    }

    /// The validator at `url`, if it is one of this devnet's.
    pub fn index_of(&self, url: &str) -> Option<usize> {
        let url = url.trim_end_matches('/');
        self.nodes.iter().position(|n| n.url == url)
    }

    /// The admin key of organisation `org`, if the devnet has it.
    pub fn admin_key(&self, dir: &Path, org: &str) -> anyhow::Result<Option<SecretKey>> {
        match self.orgs.iter().find(|o| o.id == org) {
            Some(entry) => Ok(Some(
                SecretKey::read_file(&dir.join(&entry.admin_key))
                    .with_context(|| format!("the admin key of {org}"))?,
            )),
            None => Ok(None),
        }
    }

    pub fn genesis(&self, dir: &Path) -> anyhow::Result<Genesis> {
        Ok(Genesis::load(&dir.join(&self.genesis))?)
    }
}

pub fn run(command: DevnetCommand) -> anyhow::Result<ExitCode> {
    match command {
        DevnetCommand::Init(args) => {
            let (orgs, scenario_version) = match &args.orgs_from {
                Some(path) => (orgs_of_scenario(path)?, Some(version_of_scenario(path)?)),
                None => (default_orgs(), None),
            };
            // R12.1: the version asked for, else the scenario's, else the newest.
            let version = args
                .protocol_version
                .or(scenario_version)
                .unwrap_or(contracts::upgrade::NEWEST);
            let params = Params {
                heartbeat_ms: args.heartbeat_ms.unwrap_or(devnet_params().heartbeat_ms),
                upgrade_lead_heights: args
                    .upgrade_lead_heights
                    .unwrap_or(devnet_params().upgrade_lead_heights),
                ..devnet_params()
            };
            // Refused before anything is written, so a wrong flag leaves no directory behind.
            ensure!(
                contracts::upgrade::SUPPORTED.contains(&version),
                "--protocol-version {version}: this program supports protocol versions {}..={}",
                contracts::upgrade::SUPPORTED.start(),
                contracts::upgrade::SUPPORTED.end()
            );
            params
                .validate()
                .map_err(|e| anyhow::anyhow!("the devnet's parameters: {e}"))?;
            let founding = Founding {
                validators: args.validators,
                base_port: args.base_port,
                params,
                crypto_suite: args.crypto_suite,
                tls: args.tls,
                ..Founding::new(version)
            };
            let manifest = init(&args.dir, &orgs, &founding)?;
            println!(
                "devnet {} in {}, protocol version {version}, crypto suite {}",
                manifest.chain_id,
                args.dir.display(),
                args.crypto_suite
            );
            println!("organisations (admin keys):");
            for org in &manifest.orgs {
                println!(
                    "  {:<12} {:<11} {}",
                    org.id,
                    format!("{:?}", org.kind),
                    org.admin_key
                );
            }
            println!("validators:");
            for node in &manifest.nodes {
                println!(
                    "  {:<18} {:<12} {}  {}",
                    node.name, node.org, node.url, node.p2p
                );
            }
            println!(
                "start it with: xinbao devnet up --dir {}",
                args.dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        DevnetCommand::Up(args) => up(&args),
    }
}

/// A bank, an insurer, a government and a regulator.
pub fn default_orgs() -> Vec<(Id, OrgKind)> {
    [
        ("bank", OrgKind::Bank),
        ("insurer", OrgKind::Insurer),
        ("gov", OrgKind::Government),
        ("regulator", OrgKind::Regulator),
    ]
    .into_iter()
    .map(|(id, kind)| (Id::new(id).expect("a valid id"), kind))
    .collect()
}

/// The `orgs` of a scenario file.
pub fn orgs_of_scenario(path: &Path) -> anyhow::Result<Vec<(Id, OrgKind)>> {
    let bytes = crate::files::read_bounded(path, 16 * 1024 * 1024)?;
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", path.display()))?;
    let list = doc
        .get("orgs")
        .and_then(serde_json::Value::as_array)
        .with_context(|| format!("{}: no `orgs` array", path.display()))?;
    list.iter()
        .map(|entry| {
            let id = entry
                .get("id")
                .and_then(serde_json::Value::as_str)
                .and_then(|s| Id::new(s).ok())
                .with_context(|| format!("{}: an org without a valid id", path.display()))?;
            let kind: OrgKind =
                serde_json::from_value(entry.get("kind").cloned().unwrap_or_default())
                    .with_context(|| format!("{}: org {id} has no valid kind", path.display()))?;
            Ok((id, kind))
        })
        .collect()
}

/// The `protocol_version` of a scenario file (R13.4: 1 where it names none).
pub fn version_of_scenario(path: &Path) -> anyhow::Result<u32> {
    let bytes = crate::files::read_bounded(path, 16 * 1024 * 1024)?;
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", path.display()))?;
    contracts::scenario::protocol_version_of(&doc).with_context(|| format!("{}", path.display()))
}

/// A block of `count` consecutive loopback ports that are free now, from `start` or, if
/// none, from a spot that differs between runs.
fn free_ports(count: usize, start: Option<u16>) -> anyhow::Result<u16> {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let block_free = |base: u16| (0..count as u16).all(|i| free(base + i));
    if let Some(base) = start {
        ensure!(
            u32::from(base) + count as u32 <= 65_535,
            "ports from {base}: not enough ports"
        );
        ensure!(
            block_free(base),
            "ports {base}..{} are not all free",
            base as usize + count
        );
        return Ok(base);
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().wrapping_mul(2_654_435_761);
    // Below the kernel's ephemeral range (32768 and up) so that outgoing connections do
    // not take them in the meantime.
    let span = 12_000u32;
    for attempt in 0..200u32 {
        let base = 20_000 + ((seed.wrapping_add(attempt * 64)) % span) as u16;
        if block_free(base) {
            return Ok(base);
        }
    }
    bail!("no block of {count} free loopback ports found")
}

/// What a devnet is founded with: `devnet init`'s choices, and the bench's and the chaos
/// test's.
#[derive(Debug, Clone)]
pub struct Founding {
    /// How many validators; default one per non-auditor organisation, at least
    /// [`VALIDATORS_MIN`].
    pub validators: Option<usize>,
    /// The first port (HTTP APIs from here, then p2p); default a free block of ports.
    pub base_port: Option<u16>,
    pub params: Params,
    pub protocol_version: u32,
    pub crypto_suite: Suite,
    /// Validator `i` listens on the address `hosts[i]` (a host or network namespace of
    /// its own) at [`HOST_HTTP_PORT`] and [`HOST_P2P_PORT`] instead of on loopback ports;
    /// its API is then served over HTTPS.
    pub hosts: Option<Vec<String>>,
    /// The nodes serve their APIs over HTTPS with client certificates (see [`TLS_DIR`]).
    pub tls: bool,
    /// Each client certificate's limits, when not the node's defaults.
    pub client_limits: Option<crate::tls::ClientLimits>,
}

impl Founding {
    /// The devnet's parameters at `protocol_version`, ed25519-blake3, on loopback.
    pub fn new(protocol_version: u32) -> Founding {
        Founding {
            validators: None,
            base_port: None,
            params: devnet_params(),
            protocol_version,
            crypto_suite: Suite::default(),
            hosts: None,
            tls: false,
            client_limits: None,
        }
    }
}

/// The devnet's parameters: a block every 500 ms, up to 5,000 transactions.
pub fn devnet_params() -> Params {
    Params {
        block_time_ms: BLOCK_TIME_MS,
        block_txs_max: BLOCK_TXS_MAX,
        tx_expiry_heights_max: TX_EXPIRY_HEIGHTS_MAX,
        heartbeat_ms: ledger::genesis::HEARTBEAT_MS_DEFAULT,
        upgrade_lead_heights: ledger::genesis::UPGRADE_LEAD_HEIGHTS_DEFAULT,
        obligor_limit_fen: None,
    }
}

/// Validator `i`'s ports on a host of its own (`hosts`): HTTP, then p2p (and gossip after).
pub const HOST_HTTP_PORT: u16 = 28000;
pub const HOST_P2P_PORT: u16 = 27000;

/// Writes a new devnet into `dir` (see the module notes).
pub fn init(dir: &Path, orgs: &[(Id, OrgKind)], founding: &Founding) -> anyhow::Result<Manifest> {
    let layout = Layout::plan(dir, orgs, founding)?;
    for sub in ["keys", "nodes", "members"] {
        std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("{}", dir.display()))?;
    }
    let ca = if layout.tls {
        Some(devnet_ca(&dir.join(TLS_DIR), orgs)?)
    } else {
        None
    };
    let (org_entries, admins) = admin_keys(dir, orgs, founding.crypto_suite)?;
    // Each validator's key and configuration; the member files list them.
    let mut nodes = Vec::with_capacity(layout.count);
    let mut member_nodes: Vec<Vec<MemberNode>> = orgs.iter().map(|_| Vec::new()).collect();
    for i in 0..layout.count {
        let (entry, member_node) = layout.validator(dir, i, founding, ca.as_ref())?;
        let at = orgs
            .iter()
            .position(|(id, _)| id.as_str() == entry.org)
            .expect("a runner is an org");
        member_nodes[at].push(member_node);
        nodes.push(entry);
    }
    let members = write_members(dir, orgs, &admins, member_nodes)?;
    write_genesis(dir, founding, &members, &admins)?;
    let manifest = Manifest {
        chain_id: CHAIN_ID.to_string(),
        genesis: "genesis.json".to_string(),
        orgs: org_entries,
        nodes,
        tls: layout.tls.then(|| TLS_DIR.to_string()),
        dir: dir.to_owned(),
    };
    std::fs::write(
        dir.join(MANIFEST_FILE),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    Ok(manifest)
}

/// Where a devnet's validators run: how many, which organisations run them, and on which
/// addresses and ports.
struct Layout<'a> {
    /// The organisations that run validators (all but auditors), in turn.
    runners: Vec<&'a (Id, OrgKind)>,
    count: usize,
    hosts: Option<&'a [String]>,
    /// On loopback: validator `i`'s HTTP port is `base + i`, its p2p port
    /// `base + count + 2i` and its gossip port the one after.
    base: u16,
    tls: bool,
}

impl<'a> Layout<'a> {
    /// Checks the founding's numbers against `orgs` and an empty `dir`, and finds ports.
    fn plan(
        dir: &Path,
        orgs: &'a [(Id, OrgKind)],
        founding: &'a Founding,
    ) -> anyhow::Result<Layout<'a>> {
        let hosts = founding.hosts.as_deref();
        ensure!(!orgs.is_empty(), "a devnet needs at least one organisation");
        if dir.exists() {
            let mut entries =
                std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
            ensure!(
                entries.next().is_none(),
                "{} is not empty; choose a new directory (keys are never overwritten)",
                dir.display()
            );
        }
        let runners: Vec<&(Id, OrgKind)> = orgs
            .iter()
            .filter(|(_, k)| *k != OrgKind::Auditor)
            .collect();
        ensure!(
            !runners.is_empty(),
            "every organisation is an auditor: nobody runs a validator"
        );
        let count = founding
            .validators
            .unwrap_or(runners.len().max(VALIDATORS_MIN));
        ensure!(
            count >= runners.len(),
            "{count} validators are too few: each of the {} non-auditor organisations runs one",
            runners.len()
        );
        ensure!(
            (VALIDATORS_MIN..=VALIDATORS_MAX).contains(&count),
            "a devnet has between {VALIDATORS_MIN} and {VALIDATORS_MAX} validators"
        );
        if let Some(hosts) = hosts {
            ensure!(
                hosts.len() == count,
                "{count} validators need {count} hosts"
            );
        }
        // Per validator: an HTTP port, then a p2p port and the gossip port after it.
        let base = match hosts {
            Some(_) => 0,
            None => free_ports(3 * count, founding.base_port)?,
        };
        Ok(Layout {
            runners,
            count,
            hosts,
            base,
            tls: founding.tls || hosts.is_some(),
        })
    }

    /// Validator `i`'s keys, certificate and configuration, written under `dir`: its
    /// manifest entry and its line in its organisation's member file.
    fn validator(
        &self,
        dir: &Path,
        i: usize,
        founding: &Founding,
        ca: Option<&crate::tls::Ca>,
    ) -> anyhow::Result<(NodeEntry, MemberNode)> {
        let (base, count) = (self.base, self.count);
        let (org, _) = self.runners[i % self.runners.len()];
        let name = format!("node{i}-{org}");
        let (ip, http_port, p2p_port) = match self.hosts {
            Some(hosts) => (hosts[i].as_str(), HOST_HTTP_PORT, HOST_P2P_PORT),
            None => ("127.0.0.1", base + i as u16, base + (count + 2 * i) as u16),
        };
        let p2p = format!("/ip4/{ip}/tcp/{p2p_port}");
        let node_dir = dir.join("nodes").join(&name);
        std::fs::create_dir_all(&node_dir)?;
        let key = crate::ceremony::new_key(
            &node_dir.join("consensus.key"),
            None,
            founding.crypto_suite.algorithm(),
        )?;
        let transport = crate::ceremony::new_transport_key(&node_dir, &key)?;
        let http = format!("{ip}:{http_port}");
        let tls_section = match ca {
            Some(ca) => {
                ca.issue_server(
                    &node_dir,
                    "server",
                    &["localhost".to_string(), ip.to_string()],
                )?;
                let mut section = crate::tls::node_tls_section(
                    "server.pem",
                    "server.key",
                    &format!("../../{TLS_DIR}/ca.pem"),
                    org.as_str(),
                );
                if let Some(limits) = founding.client_limits {
                    section.push_str(&limits.section());
                }
                Some(section)
            }
            None => None,
        };
        let config = crate::ceremony::node_config(&crate::ceremony::NodeFiles {
            moniker: &name,
            comment: &format!(
                "{name}: a validator of {org} on the devnet (written by `xinbao devnet init`)."
            ),
            genesis: "../../genesis.json",
            key: "consensus.key",
            transport_key: transport.map(|_| crate::ceremony::TRANSPORT_KEY_FILE),
            http_listen: &http,
            p2p_listen: &p2p,
            tls: tls_section.as_deref(),
        });
        let entry = NodeEntry {
            name: name.clone(),
            org: org.to_string(),
            config: format!("nodes/{name}/config.toml"),
            url: format!("{}://{http}", if self.tls { "https" } else { "http" }),
            p2p: p2p.clone(),
        };
        std::fs::write(dir.join(&entry.config), config)?;
        let member_node = MemberNode {
            consensus_key: key.public_key(),
            voting_power: 1,
            address: Text::new(&p2p).context("a p2p address")?,
            transport,
        };
        Ok((entry, member_node))
    }
}

/// Each organisation's admin key, as `member init` makes it: the manifest's entries and
/// the secret keys.
fn admin_keys(
    dir: &Path,
    orgs: &[(Id, OrgKind)],
    suite: Suite,
) -> anyhow::Result<(Vec<OrgEntry>, Vec<SecretKey>)> {
    let mut org_entries = Vec::with_capacity(orgs.len());
    let mut admins = Vec::with_capacity(orgs.len());
    for (id, kind) in orgs {
        let secret = format!("keys/{id}.secret");
        let key = crate::ceremony::new_key(
            &dir.join(&secret),
            Some(&dir.join(format!("keys/{id}.public"))),
            suite.algorithm(),
        )?;
        admins.push(key);
        org_entries.push(OrgEntry {
            id: id.to_string(),
            kind: *kind,
            admin_key: secret,
        });
    }
    Ok((org_entries, admins))
}

/// The member files, one per organisation, with its admin key and its validators.
fn write_members(
    dir: &Path,
    orgs: &[(Id, OrgKind)],
    admins: &[SecretKey],
    member_nodes: Vec<Vec<MemberNode>>,
) -> anyhow::Result<Vec<MemberFile>> {
    let mut members = Vec::with_capacity(orgs.len());
    for (((id, kind), admin), nodes) in orgs.iter().zip(admins).zip(member_nodes) {
        let member = MemberFile {
            format: MEMBER_FORMAT.to_string(),
            org: id.clone(),
            kind: *kind,
            admin_key: admin.public_key(),
            nodes,
        };
        std::fs::write(
            dir.join(format!("members/{id}.json")),
            member.to_json() + "\n",
        )?;
        members.push(member);
    }
    Ok(members)
}

/// The genesis of `members`, approved by every admin key, written to `genesis.json`.
fn write_genesis(
    dir: &Path,
    founding: &Founding,
    members: &[MemberFile],
    admins: &[SecretKey],
) -> anyhow::Result<()> {
    // Before the earliest worked example, so that a devnet clock can replay any of them.
    let genesis_time_ms = Date::from_ymd(2024, 1, 1)
        .expect("a date")
        .unix_ms_cst_noon() as u64;
    let settings = GenesisSettings {
        protocol_version: founding.protocol_version,
        crypto_suite: founding.crypto_suite,
        genesis_time_ms,
        params: crate::ceremony::params_of_version(
            founding.params.clone(),
            founding.protocol_version,
        ),
        governance: GovernanceRule::default(),
    };
    let chain_id = Id::new(CHAIN_ID).expect("a valid chain id");
    let admin_refs: Vec<&SecretKey> = admins.iter().collect();
    let file = crate::ceremony::assemble_and_approve(&chain_id, members, &settings, &admin_refs)
        .context("the devnet's genesis")?;
    std::fs::write(dir.join("genesis.json"), file.to_json() + "\n")?;
    Ok(())
}

/// A TLS devnet's CA in `dir`, and a client certificate per organisation and role.
fn devnet_ca(dir: &Path, orgs: &[(Id, OrgKind)]) -> anyhow::Result<crate::tls::Ca> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let ca = crate::tls::Ca::new(CHAIN_ID)?;
    ca.write(dir, "ca")?;
    for (org, _) in orgs {
        for role in crate::tls::ROLES {
            ca.issue_client(dir, &format!("{org}-{role}"), org.as_str(), role)?;
        }
    }
    Ok(ca)
}

/// The `xinbao-node` program: `explicit`, else beside the running `xinbao`, else the PATH.
pub fn node_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        ensure!(path.is_file(), "{}: no such program", path.display());
        return Ok(path.to_owned());
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(beside) = exe.parent().map(|d| d.join("xinbao-node")) {
            if beside.is_file() {
                return Ok(beside);
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("xinbao-node");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!("xinbao-node not found beside xinbao or on the PATH; build it (cargo build -p node) or pass --node-bin")
}

/// The devnet directory when none is named: `$XINBAO_DEVNET_DIR`, else `devnet` in the
/// current directory, so that `devnet init`, `devnet up` and `scenario run --node` find the
/// same devnet without repeating it.
pub fn default_dir() -> PathBuf {
    std::env::var_os("XINBAO_DEVNET_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("devnet"))
}

/// Running validator processes; dropping it stops them (SIGTERM, then SIGKILL).
pub struct Network {
    pub dir: PathBuf,
    pub manifest: Manifest,
    children: Vec<Option<Child>>,
    node_bin: PathBuf,
    devnet_clock: bool,
    genesis_time_ms: u64,
}

impl Network {
    /// Starts every validator of the devnet in `dir`.
    pub fn start(dir: &Path, node_bin: &Path, devnet_clock: bool) -> anyhow::Result<Network> {
        let manifest = Manifest::load(dir)?;
        let genesis_time_ms = manifest.genesis(dir)?.genesis_time_ms;
        let mut network = Network {
            genesis_time_ms,
            dir: dir.to_owned(),
            children: manifest.nodes.iter().map(|_| None).collect(),
            manifest,
            node_bin: node_bin.to_owned(),
            devnet_clock,
        };
        for index in 0..network.children.len() {
            network.start_node(index)?;
        }
        Ok(network)
    }

    /// A client of every validator, each as its organisation's staff.
    pub fn clients(&self) -> anyhow::Result<Vec<NodeClient>> {
        self.manifest.clients()
    }

    /// Starts validator `index` (again), its output appended to its `node.log`, with its
    /// share of this machine's cores for its async runtime (see [`runtime_threads`]).
    pub fn start_node(&mut self, index: usize) -> anyhow::Result<()> {
        let node = &self.manifest.nodes[index];
        let config = self.dir.join(&node.config);
        let log_path = config.with_file_name("node.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("{}", log_path.display()))?;
        let mut command = Command::new(&self.node_bin);
        command.arg("--config").arg(&config);
        if self.devnet_clock {
            command.arg("--devnet-clock");
        }
        command
            .arg("--runtime-threads")
            .arg(runtime_threads(self.manifest.nodes.len()).to_string());
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        detach_and_bind(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.node_bin.display()))?;
        self.children[index] = Some(child);
        Ok(())
    }

    /// The process id of validator `index`, if it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.children[index].as_ref().map(Child::id)
    }

    /// The first validator whose process has ended, with how it ended.
    pub fn exited(&mut self) -> Option<(String, std::process::ExitStatus)> {
        for (index, slot) in self.children.iter_mut().enumerate() {
            if let Some(child) = slot {
                if let Ok(Some(status)) = child.try_wait() {
                    *slot = None;
                    return Some((self.manifest.nodes[index].name.clone(), status));
                }
            }
        }
        None
    }

    /// Waits until every running validator answers and all of them hold the same block
    /// of height 1 or more. (A devnet makes blocks when there is work, and starting is
    /// work for one block; an idle devnet then waits.)
    pub fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let clients = self.clients()?;
        let running: Vec<usize> = (0..clients.len())
            .filter(|i| self.children[*i].is_some())
            .collect();
        let mut clock_set = vec![false; clients.len()];
        loop {
            if let Some((name, status)) = self.exited() {
                bail!(
                    "{name} stopped ({status}); see {}",
                    self.dir
                        .join("nodes")
                        .join(&name)
                        .join("node.log")
                        .display()
                );
            }
            let mut heights = Vec::with_capacity(running.len());
            let mut silent = Vec::new();
            for &i in &running {
                match clients[i].status() {
                    Ok(status) => {
                        // A devnet clock starts at the genesis time, whatever the node's
                        // own default: scenarios are dated before today.
                        if self.devnet_clock && status.height == 0 && !clock_set[i] {
                            clients[i].set_clock(self.genesis_time_ms + 1)?;
                            clock_set[i] = true;
                        }
                        heights.push(status.height);
                    }
                    Err(_) => silent.push(self.manifest.nodes[i].name.as_str()),
                }
            }
            let agreed = silent.is_empty()
                && heights.first().is_some_and(|&h| h >= 1)
                && heights.windows(2).all(|w| w[0] == w[1]);
            if agreed {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the devnet did not start committing blocks within {} s (not answering: {}; heights {heights:?}); see the node.log files under {}",
                    timeout.as_secs(),
                    if silent.is_empty() { "none".to_string() } else { silent.join(", ") },
                    self.dir.join("nodes").display()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops every validator: SIGTERM, a grace period, then SIGKILL; waits for each.
    pub fn stop(&mut self) {
        for child in self.children.iter().flatten() {
            signal(child.id(), libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        for slot in self.children.iter_mut() {
            if let Some(child) = slot {
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() >= deadline => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            }
            *slot = None;
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Puts the child in its own process group (a Ctrl-C in the terminal reaches only this
/// command, which then stops the nodes in order) and asks the kernel to send it SIGTERM
/// if this process dies, so that no node outlives it.
pub fn detach_and_bind(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // prctl(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// From now on SIGINT and SIGTERM only set a flag that [`stop_requested`] reads.
pub fn catch_stop_signals() {
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

fn up(args: &UpArgs) -> anyhow::Result<ExitCode> {
    let node_bin = node_binary(args.node_bin.as_deref())?;
    catch_stop_signals();
    let mut network = Network::start(&args.dir, &node_bin, args.devnet_clock)?;
    eprintln!(
        "starting {} validators ({}), logs in {}/nodes/*/node.log …",
        network.manifest.nodes.len(),
        node_bin.display(),
        args.dir.display()
    );
    network.wait_ready(READY_TIMEOUT)?;
    let mut out = std::io::stdout().lock();
    for (node, client) in network.manifest.nodes.iter().zip(network.clients()?) {
        let height = client.status().map(|s| s.height).unwrap_or(0);
        writeln!(out, "{:<16} {}  height {height}", node.name, node.url)?;
    }
    writeln!(
        out,
        "devnet up{}; Ctrl-C stops it",
        if args.devnet_clock {
            " with a devnet clock"
        } else {
            ""
        }
    )?;
    drop(out);
    while !stop_requested() {
        if let Some((name, status)) = network.exited() {
            eprintln!("warning: {name} stopped ({status})");
        }
        std::thread::sleep(POLL);
    }
    eprintln!("stopping the validators …");
    network.stop();
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Async runtime threads for each of `nodes` validators on this machine: its share of the
/// cores, at least one: more runtime threads than cores only switch among themselves
/// (`docs/perf/2026-12-07-constants.md`).
pub fn runtime_threads(nodes: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / nodes.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::runtime_threads;

    #[test]
    fn validators_share_the_cores_and_each_gets_at_least_one() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(runtime_threads(1), cores);
        assert_eq!(runtime_threads(0), cores);
        assert_eq!(runtime_threads(cores * 4), 1);
        assert!(runtime_threads(2) * 2 <= cores.max(2));
    }
}
