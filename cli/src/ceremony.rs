//! The founding ceremony (DOMAIN.md R11.1): `xinbao member init` and
//! `xinbao genesis assemble|sign|verify`.
//!
//! Each organisation works on its own machine and no secret key leaves the directory of
//! the organisation that made it. `member init` writes, into the organisation's directory:
//!
//! ```text
//! DIR/admin.secret, admin.public   the admin key: signs for the organisation, approves
//!                                  the genesis and changes of the consortium (mode 0600)
//! DIR/consensus.key                the validator's consensus key (mode 0600); with
//!                                  --no-validator, DIR/node.key: the key of a follower
//!                                  node, which follows the chain and votes in nothing
//! DIR/transport.key                under --crypto-suite sm2-sm3: the node's ed25519 p2p
//!                                  key, which its SM2 consensus key binds (mode 0600)
//! DIR/node.toml                    the node's configuration; it reads DIR/genesis.json
//! DIR/member.json                  public: organisation, kind, admin key, the node's key,
//!                                  voting power and p2p address
//! ```
//!
//! The member files are gathered (by mail, a shared folder: they hold nothing secret),
//! `genesis assemble` makes the genesis from them (the same members in any order give the
//! same bytes), each founder checks it and adds its approval with `genesis sign`, and
//! `genesis verify` shows who has approved. Every organisation copies the approved genesis
//! to `DIR/genesis.json` and starts `xinbao-node --config DIR/node.toml`; a node refuses a
//! genesis that a founder has not approved. `xinbao devnet init` runs the same steps for
//! every organisation at once ([`new_member`], [`assemble_and_approve`]).

use std::path::{Path, PathBuf};

use std::process::ExitCode;

use anyhow::{ensure, Context};
use clap::{Args, Subcommand};
use ledger::crypto::{Algorithm, SecretKey, Suite};
use ledger::genesis::{
    assemble, ApproveOutcome, AssembleError, Genesis, GenesisError, GenesisFile, GenesisSettings,
    MemberFile, MemberNode, Params, GENESIS_BYTES_MAX, MEMBER_BYTES_MAX, MEMBER_FORMAT,
};
use ledger::validators::TransportKey;
use ledger::{Id, OrgKind, Text};
use serde_json::json;

use crate::files;

/// Exit status when an approval is missing or does not verify.
const EXIT_NOT_APPROVED: u8 = 1;

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Make an organisation's keys, node configuration and public member file.
    Init(MemberInitArgs),
}

#[derive(Debug, Args)]
pub struct MemberInitArgs {
    /// The organisation's id, e.g. `bank-ningbo`.
    #[arg(long)]
    pub org: String,
    /// Its kind: Bank, Insurer, Government, Regulator, Reinsurer or Auditor.
    #[arg(long)]
    pub kind: String,
    /// The directory to write (it must not exist, or be empty).
    #[arg(long)]
    pub dir: PathBuf,
    /// Where the other members' nodes reach this one: `/ip4/A.B.C.D/tcp/PORT` or
    /// `/dns4/HOST/tcp/PORT` (the transaction gossip uses PORT + 1).
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/27000")]
    pub p2p_address: String,
    /// Where the node serves its HTTP API to this organisation's staff.
    #[arg(long, default_value = "127.0.0.1:28000")]
    pub http_listen: String,
    /// No validator: the node follows the chain and votes in nothing (for an auditor).
    #[arg(long)]
    pub no_validator: bool,
    /// The validator's voting power.
    #[arg(long, default_value_t = 1, conflicts_with = "no_validator")]
    pub voting_power: u64,
    /// The crypto suite of the chain being founded: its keys are made for it
    /// (ed25519-blake3, or sm2-sm3 for SM2 keys).
    #[arg(long, value_name = "SUITE", default_value_t = Suite::default())]
    pub crypto_suite: Suite,
    /// Serve the node's API over HTTPS with client certificates: writes DIR/tls (as
    /// `xinbao tls init`) and the [tls] section of node.toml. Required when --http-listen
    /// is not a loopback address.
    #[arg(long)]
    pub tls: bool,
    /// A further DNS name or IP address for the node's server certificate (with --tls).
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls")]
    pub tls_names: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum GenesisCommand {
    /// Make the genesis from the member files (deterministic).
    Assemble(AssembleArgs),
    /// Add one founder's approval of the genesis hash.
    Sign(SignArgs),
    /// Show the genesis hash and which founders approved; exit 1 while any is missing.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct AssembleArgs {
    /// The consortium's chain id.
    #[arg(long)]
    pub chain_id: String,
    /// The member files, one per organisation (`--member a.json --member b.json`, or
    /// `--member a.json b.json`).
    #[arg(long = "member", required = true, num_args = 1..)]
    pub members: Vec<PathBuf>,
    /// The genesis time, parameters and governance rule: a JSON file
    /// `{"protocol_version", "genesis_time_ms", "params": {"block_time_ms", "block_txs_max",
    /// "tx_expiry_heights_max", "heartbeat_ms", "upgrade_lead_heights",
    /// "obligor_limit_fen"}, "governance": {"threshold_bps", "regulator_required"}}`, every
    /// part optional.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// The protocol version the chain is founded under (R12.1); default: the `--params`
    /// file's, else the newest this program supports. From version 2 the parameters carry
    /// the single-obligor limit (`obligor_limit_fen`, default 500,000,000 fen).
    #[arg(long, value_name = "N")]
    pub protocol_version: Option<u32>,
    /// The chain's crypto suite, for its whole life: ed25519-blake3 or sm2-sm3; default:
    /// the `--params` file's `crypto_suite`, else ed25519-blake3. Every member's keys
    /// must be of its algorithm.
    #[arg(long, value_name = "SUITE")]
    pub crypto_suite: Option<Suite>,
    /// Where to write the genesis (an existing file is not overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The genesis file; the approval is added to it.
    pub genesis: PathBuf,
    /// The founder's admin key (`admin.secret`), or a `pkcs11:` URI naming it in a module.
    #[arg(long)]
    pub key: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The genesis file.
    pub genesis: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run_member(command: MemberCommand) -> anyhow::Result<ExitCode> {
    match command {
        MemberCommand::Init(args) => member_init(&args),
    }
}

pub fn run_genesis(command: GenesisCommand) -> anyhow::Result<ExitCode> {
    match command {
        GenesisCommand::Assemble(args) => genesis_assemble(&args),
        GenesisCommand::Sign(args) => genesis_sign(&args),
        GenesisCommand::Verify(args) => genesis_verify(&args),
    }
}

/// An organisation kind by name.
pub fn parse_kind(kind: &str) -> anyhow::Result<OrgKind> {
    serde_json::from_value(json!(kind)).map_err(|_| {
        anyhow::anyhow!(
            "--kind {kind}: one of Bank, Insurer, Government, Regulator, Reinsurer, Auditor"
        )
    })
}

/// The parts of a p2p address peers dial: `/ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT`.
pub struct P2pAddress {
    pub protocol: String,
    pub host: String,
    pub port: u16,
}

impl P2pAddress {
    pub fn parse(text: &str) -> anyhow::Result<P2pAddress> {
        let parts: Vec<&str> = text.split('/').collect();
        let bad = || {
            anyhow::anyhow!(
                "p2p address {text:?}: expected /ip4/A.B.C.D/tcp/PORT, /ip6/ADDR/tcp/PORT or \
                 /dns4/HOST/tcp/PORT"
            )
        };
        let [empty, protocol, host, tcp, port] = parts[..] else {
            return Err(bad());
        };
        ensure!(empty.is_empty() && tcp == "tcp" && !host.is_empty(), bad());
        ensure!(
            ["ip4", "ip6", "dns", "dns4", "dns6"].contains(&protocol),
            bad()
        );
        if protocol == "ip4" {
            host.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
        }
        if protocol == "ip6" {
            host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        ensure!(
            port > 0 && port < u16::MAX,
            "p2p address {text:?}: the port and the next one (the gossip's) must be ports"
        );
        Ok(P2pAddress {
            protocol: protocol.to_string(),
            host: host.to_string(),
            port,
        })
    }

    /// What the node listens on: the same IP, or every interface for a host name.
    pub fn listen(&self) -> String {
        match self.protocol.as_str() {
            "ip4" | "ip6" => format!("/{}/{}/tcp/{}", self.protocol, self.host, self.port),
            "dns6" => format!("/ip6/::/tcp/{}", self.port),
            _ => format!("/ip4/0.0.0.0/tcp/{}", self.port),
        }
    }
}

/// Where one node's files are, relative to its configuration file's directory.
pub struct NodeFiles<'a> {
    pub moniker: &'a str,
    pub comment: &'a str,
    pub genesis: &'a str,
    pub key: &'a str,
    /// The node's transport key, when it has one.
    pub transport_key: Option<&'a str>,
    pub http_listen: &'a str,
    pub p2p_listen: &'a str,
    /// The `[tls]` section, when the API is served over HTTPS.
    pub tls: Option<&'a str>,
}

/// The text of a node configuration (the format of `xinbao-node --config`).
pub fn node_config(files: &NodeFiles<'_>) -> String {
    format!(
        "# {comment}\n\
         moniker = \"{moniker}\"\n\
         data_dir = \"data\"\n\
         genesis = \"{genesis}\"\n\
         consensus_key = \"{key}\"\n\
         {transport}\
         http_listen = \"{http}\"\n\
         p2p_listen = \"{p2p}\"\n\
         # The transaction gossip listens on the p2p port + 1. A node that joins after the\n\
         # genesis validators have moved on can be given current members to dial:\n\
         # bootstrap_peers = [\"/ip4/A.B.C.D/tcp/PORT/p2p/PEER_ID\"]\n\
         {tls}",
        comment = files.comment,
        moniker = files.moniker,
        genesis = files.genesis,
        key = files.key,
        transport = files
            .transport_key
            .map(|t| format!("transport_key = \"{t}\"\n"))
            .unwrap_or_default(),
        http = files.http_listen,
        p2p = files.p2p_listen,
        tls = files.tls.unwrap_or_default(),
    )
}

fn ensure_empty_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
        ensure!(
            entries.next().is_none(),
            "{} is not empty; choose a new directory (keys are never overwritten)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    Ok(())
}

/// Writes a new key of `algorithm` to `path` (owner-only) and its public key beside it
/// when `public_path` is given; returns the key.
pub fn new_key(
    path: &Path,
    public_path: Option<&Path>,
    algorithm: Algorithm,
) -> anyhow::Result<SecretKey> {
    let key = SecretKey::generate_for(algorithm);
    key.write_new_file(path)?;
    if let Some(public_path) = public_path {
        std::fs::write(public_path, format!("{}\n", key.public_key()))
            .with_context(|| format!("{}", public_path.display()))?;
    }
    Ok(key)
}

/// The transport key's file beside a node's configuration.
pub const TRANSPORT_KEY_FILE: &str = "transport.key";

/// For a consensus key that libp2p cannot use (SM2): a new ed25519 transport key in
/// `dir`/[`TRANSPORT_KEY_FILE`], bound by `consensus`. None for an ed25519 consensus key,
/// which is its node's p2p identity itself.
pub fn new_transport_key(
    dir: &Path,
    consensus: &SecretKey,
) -> anyhow::Result<Option<TransportKey>> {
    if consensus.algorithm() == Algorithm::Ed25519 {
        return Ok(None);
    }
    let key = new_key(&dir.join(TRANSPORT_KEY_FILE), None, Algorithm::Ed25519)?;
    Ok(Some(TransportKey::bind(consensus, key.public_key())?))
}

/// One organisation's part of a founding, in `args.dir` (see the module notes).
fn new_member(
    args: &MemberInitArgs,
    org: &Id,
    kind: OrgKind,
    voting_power: u64,
) -> anyhow::Result<MemberFile> {
    let (dir, p2p_address, http_listen) = (&args.dir, &args.p2p_address, &args.http_listen);
    let address = P2pAddress::parse(p2p_address)?;
    ensure!(
        kind != OrgKind::Auditor || voting_power == 0,
        "an auditor votes in nothing: use --no-validator"
    );
    ensure_empty_dir(dir)?;
    let algorithm = args.crypto_suite.algorithm();
    let admin = new_key(
        &dir.join("admin.secret"),
        Some(&dir.join("admin.public")),
        algorithm,
    )?;
    let key_file = if voting_power > 0 {
        "consensus.key"
    } else {
        "node.key"
    };
    let node_key = new_key(&dir.join(key_file), None, algorithm)?;
    let transport = new_transport_key(dir, &node_key)?;
    let comment = if voting_power > 0 {
        format!("The validator node of {org} (written by `xinbao member init`).")
    } else {
        format!("The follower node of {org}: it follows the chain and votes in nothing.")
    };
    let tls = if args.tls {
        let mut names = vec!["localhost".to_string()];
        if let Some((host, _)) = http_listen.rsplit_once(':') {
            names.push(host.trim_matches(['[', ']']).to_string());
        }
        names.extend(args.tls_names.iter().cloned());
        names.dedup();
        crate::tls::init(&dir.join("tls"), org.as_str(), &names)?;
        Some(crate::tls::node_tls_section(
            "tls/server.pem",
            "tls/server.key",
            "tls/ca.pem",
            org.as_str(),
        ))
    } else {
        None
    };
    let config = node_config(&NodeFiles {
        moniker: org.as_str(),
        comment: &comment,
        genesis: "genesis.json",
        key: key_file,
        transport_key: transport.map(|_| TRANSPORT_KEY_FILE),
        http_listen,
        p2p_listen: &address.listen(),
        tls: tls.as_deref(),
    });
    std::fs::write(dir.join("node.toml"), config)?;
    let file = MemberFile {
        format: MEMBER_FORMAT.to_string(),
        org: org.clone(),
        kind,
        admin_key: admin.public_key(),
        nodes: vec![MemberNode {
            consensus_key: node_key.public_key(),
            voting_power,
            address: Text::new(p2p_address.as_str()).context("the p2p address")?,
            transport,
        }],
    };
    std::fs::write(dir.join("member.json"), file.to_json() + "\n")?;
    Ok(file)
}

fn member_init(args: &MemberInitArgs) -> anyhow::Result<ExitCode> {
    let org = Id::new(args.org.as_str()).map_err(|e| anyhow::anyhow!("--org {}: {e}", args.org))?;
    let kind = parse_kind(&args.kind)?;
    let power = if args.no_validator {
        0
    } else {
        ensure!(
            kind != OrgKind::Auditor,
            "an auditor votes in nothing: add --no-validator"
        );
        ensure!(args.voting_power > 0, "--voting-power must be at least 1");
        args.voting_power
    };
    ensure!(
        args.tls || crate::tls::is_loopback(&args.http_listen),
        "--http-listen {} is reachable from other machines: add --tls (a node serves plain \
         HTTP on loopback only)",
        args.http_listen
    );
    let file = new_member(args, &org, kind, power)?;
    let d = args.dir.display();
    println!("member {org} ({kind:?}) in {d}");
    println!("  admin key      {}", file.admin_key);
    let node = &file.nodes[0];
    if power > 0 {
        println!(
            "  validator key  {} (voting power {power})",
            node.consensus_key
        );
    } else {
        println!("  follower key   {} (votes in nothing)", node.consensus_key);
    }
    if let Some(transport) = &node.transport {
        println!(
            "  transport key  {} (its p2p identity, bound by its consensus key)",
            transport.key
        );
    }
    println!("  p2p address    {}", node.address.as_str());
    if args.tls {
        println!(
            "  HTTPS          {d}/tls: the CA, the node's certificate, a client certificate per \
             role (keep tls/ca.key off the node)"
        );
    }
    println!("send {d}/member.json to the founders; keep every other file here, and secret.");
    println!(
        "when the genesis is assembled: xinbao genesis sign genesis.json --key {d}/admin.secret"
    );
    println!("then copy the approved genesis to {d}/genesis.json and run: xinbao-node --config {d}/node.toml");
    Ok(ExitCode::SUCCESS)
}

/// Reads a member file.
pub fn read_member(path: &Path) -> anyhow::Result<MemberFile> {
    let bytes = files::read_bounded(path, MEMBER_BYTES_MAX)?;
    MemberFile::from_json(&bytes)
        .with_context(|| format!("{}: not a member file ({MEMBER_FORMAT})", path.display()))
}

/// The settings file, and whether it names its protocol version.
fn read_settings(path: Option<&Path>) -> anyhow::Result<(GenesisSettings, bool)> {
    let Some(path) = path else {
        return Ok((GenesisSettings::default(), false));
    };
    let bytes = files::read_bounded(path, 64 * 1024)?;
    let settings = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: expected {{\"genesis_time_ms\", \"params\": {{…}}, \"governance\": {{…}}}}",
            path.display()
        )
    })?;
    let names_version = serde_json::from_slice::<serde_json::Value>(&bytes)
        .is_ok_and(|doc| doc.get("protocol_version").is_some());
    Ok((settings, names_version))
}

/// `params` as a chain founded at `version` has them (R13.3): from version 2 on with the
/// single-obligor limit (its default where none is given), before it without.
pub fn params_of_version(mut params: Params, version: u32) -> Params {
    if version >= contracts::upgrade::OBLIGOR_LIMIT {
        params
            .obligor_limit_fen
            .get_or_insert(contracts::obligor::OBLIGOR_LIMIT_FEN_DEFAULT);
    } else {
        params.obligor_limit_fen = None;
    }
    params
}

/// The genesis of `members`, approved by each of `admins` (a devnet's founders all at
/// once).
pub fn assemble_and_approve(
    chain_id: &Id,
    members: &[MemberFile],
    settings: &GenesisSettings,
    admins: &[&SecretKey],
) -> anyhow::Result<GenesisFile> {
    let genesis = assemble(chain_id.clone(), members, settings)?;
    contracts::upgrade::check_genesis(&genesis)?;
    let mut file = GenesisFile::unapproved(genesis);
    for admin in admins {
        file.approve(admin)?;
    }
    Ok(file)
}

fn genesis_assemble(args: &AssembleArgs) -> anyhow::Result<ExitCode> {
    let chain_id = Id::new(args.chain_id.as_str())
        .map_err(|e| anyhow::anyhow!("--chain-id {}: {e}", args.chain_id))?;
    let members = args
        .members
        .iter()
        .map(|p| read_member(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (mut settings, names_version) = read_settings(args.params.as_deref())?;
    if let Some(version) = args.protocol_version {
        settings.protocol_version = version;
    } else if !names_version {
        settings.protocol_version = contracts::upgrade::NEWEST;
    }
    if settings.params.obligor_limit_fen.is_none() {
        settings.params = params_of_version(settings.params, settings.protocol_version);
    }
    if let Some(suite) = args.crypto_suite {
        settings.crypto_suite = suite;
    }
    let suite = settings.crypto_suite;
    let genesis = assemble(chain_id, &members, &settings).map_err(|e| match e {
        AssembleError::Invalid(GenesisError::WrongAlgorithm { .. }) => anyhow::anyhow!(
            "{e}: the member files were made for another crypto suite than {suite} (member \
             init --crypto-suite and genesis assemble --crypto-suite must agree)"
        ),
        e => e.into(),
    })?;
    contracts::upgrade::check_genesis(&genesis)?;
    ensure!(
        !args.out.exists(),
        "{} exists; choose another name (a genesis is never overwritten)",
        args.out.display()
    );
    let file = GenesisFile::unapproved(genesis);
    std::fs::write(&args.out, file.to_json() + "\n")
        .with_context(|| format!("{}", args.out.display()))?;
    let g = &file.genesis;
    println!("genesis {}", hex::encode(g.hash()));
    println!(
        "  chain {}, protocol version {}, crypto suite {}: {} organisations, {} validators, \
         {} followers",
        g.chain_id,
        g.protocol_version,
        g.crypto_suite,
        g.organisations.len(),
        g.validators.iter().filter(|v| v.voting_power > 0).count(),
        g.validators.iter().filter(|v| v.voting_power == 0).count(),
    );
    println!(
        "each founder checks it and approves: xinbao genesis sign {} --key DIR/admin.secret",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn load_file(path: &Path) -> anyhow::Result<GenesisFile> {
    files::read_bounded(path, GENESIS_BYTES_MAX)?;
    Ok(GenesisFile::load(path)?)
}

fn genesis_sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let mut file = load_file(&args.genesis)?;
    let key = crate::keys::signer_of(&args.key)?;
    let outcome = file.approve(key.as_ref())?;
    let org = file
        .genesis
        .founders()
        .find(|o| o.admin_key == key.public_key())
        .map(|o| o.id.clone())
        .expect("approve checked the key is a founder's");
    if outcome == ApproveOutcome::Added {
        files::replace(&args.genesis, (file.to_json() + "\n").as_bytes())?;
        println!(
            "{org} approved genesis {}",
            hex::encode(file.genesis.hash())
        );
    } else {
        println!("{org} had already approved this genesis");
    }
    let status = file.approval_status();
    if status.missing.is_empty() {
        println!("every founder has approved");
    } else {
        let missing: Vec<&str> = status.missing.iter().map(Id::as_str).collect();
        println!("still to approve: {}", missing.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn genesis_verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let file = load_file(&args.genesis)?;
    let status = file.approval_status();
    let genesis: &Genesis = &file.genesis;
    let founders: Vec<serde_json::Value> = genesis
        .founders()
        .map(|o| {
            let state = if status.approved.contains(&o.id) {
                "approved"
            } else if status.invalid.iter().any(|(id, _)| id == &o.id) {
                "invalid"
            } else {
                "missing"
            };
            json!({"org": o.id.as_str(), "kind": o.kind, "admin_key": o.admin_key.to_string(), "approval": state})
        })
        .collect();
    if args.json {
        let doc = json!({
            "genesis_hash": hex::encode(status.hash),
            "chain_id": genesis.chain_id.as_str(),
            "approved": status.complete(),
            "founders": founders,
            "missing": status.missing.iter().map(Id::as_str).collect::<Vec<_>>(),
            "invalid": status.invalid.iter().map(|(id, why)| json!({"org": id.as_str(), "reason": why})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("genesis {}", hex::encode(status.hash));
        println!("chain   {}", genesis.chain_id);
        for founder in &founders {
            println!(
                "  {:<20} {:<10} {}",
                founder["org"].as_str().unwrap_or(""),
                founder["kind"].as_str().unwrap_or(""),
                founder["approval"].as_str().unwrap_or("")
            );
        }
        for (org, why) in &status.invalid {
            println!("  the approval of {org} does not verify: {why}");
        }
        if status.complete() {
            println!("approved by every founder");
        } else {
            println!("NOT APPROVED: a node refuses this genesis until every founder signs it");
        }
    }
    Ok(if status.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_APPROVED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p2p_addresses_are_checked_and_listened_on() {
        let ip = P2pAddress::parse("/ip4/10.0.0.2/tcp/27000").unwrap();
        assert_eq!(ip.listen(), "/ip4/10.0.0.2/tcp/27000");
        let dns = P2pAddress::parse("/dns4/node.bank.example/tcp/27000").unwrap();
        assert_eq!(dns.listen(), "/ip4/0.0.0.0/tcp/27000");
        for bad in [
            "10.0.0.2:27000",
            "/ip4/10.0.0.2/udp/27000",
            "/ip4/300.0.0.2/tcp/27000",
            "/ip4/10.0.0.2/tcp/65535",
            "/dns4//tcp/1",
            "/ip4/10.0.0.2/tcp/27000/p2p/x",
        ] {
            assert!(P2pAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
