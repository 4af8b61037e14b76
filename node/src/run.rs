//! Starting a node: configuration, an approved genesis, key, storage, then consensus, the
//! transaction gossip and the HTTP API side by side; the process ends when any of them
//! stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::crypto::PublicKey;
use ledger::genesis::{ApprovalError, GenesisFile, GenesisLoadError};
use ledger::Id;
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::chain::{Chain, ChainError, UnsupportedVersion};
use crate::config::{Config, ConfigError};
use crate::consensus::{self, ConsensusError, EngineSettings};
use crate::gossip::{self, GossipError, GossipPeers, GossipSettings};
use crate::keys::{read_consensus_key, read_secret_key, KeyFileError};
use crate::mempool::Pool;
use crate::metrics::Metrics;
use crate::shared::{Clock, NetworkView, Shared};
use crate::store::{Store, StoreError};
use crate::tls::TlsError;

pub struct Options {
    pub config: PathBuf,
    pub devnet_clock: bool,
    /// The newest protocol version to run (R12.5): the program's own by default; an
    /// operator or a test may lower it, never raise it.
    pub protocol_version_max: Option<u32>,
    /// Move the data directory's store and consensus WAL aside first, and start from an
    /// empty one that syncs the chain from the peers: how a damaged data directory is
    /// brought back ([`set_aside`]).
    pub rebuild: bool,
}

/// Why a node could not start, or stopped: each part it starts, and what it checks first.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `XINBAO_BYZANTINE` asks a build without the `byzantine` feature to misbehave.
    #[error(
        "XINBAO_BYZANTINE is set, but this xinbao-node was built without the `byzantine` \
         feature (a test-only build): refusing to start"
    )]
    ByzantineUnavailable,
    /// The node's configuration file was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The genesis file could not be loaded.
    #[error(transparent)]
    Genesis(#[from] GenesisLoadError),
    /// R11.1: a founder has not approved the genesis (`path`: the genesis file).
    #[error("{}", path.display())]
    NotApproved {
        path: PathBuf,
        source: ApprovalError,
    },
    /// A key file (the consensus key, the transport key) was refused.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The API's TLS could not be set up from `[tls]`.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A directory could not be created.
    #[error("creating {}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `--rebuild`: a part of the data directory could not be moved aside.
    #[error("moving {} aside", path.display())]
    MoveAside {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `--max-protocol-version` is not a version this program runs.
    #[error(
        "--max-protocol-version {asked}: this program supports protocol versions 1 to {newest}"
    )]
    VersionMax { asked: u32, newest: u32 },
    /// The chain could not be opened, or its next height is of a protocol version this
    /// program does not run (R12.5).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Reading or writing the chain's storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The consensus key is in a module and no transport key is configured.
    #[error(
        "the consensus key is in a module, where the p2p transport cannot use it: set \
         transport_key in the node's configuration to the ed25519 key the roster binds to \
         it (xinbao keys bind-transport)"
    )]
    NoTransportKey,
    /// The roster pins this node by another key than its p2p identity's
    /// (`transport_key`: the configuration's, if any). The keys are boxed to keep the
    /// error small.
    #[error(
        "the roster pins this node by the key {pinned}, but its {} is {actual}: {}",
        identity_named(.transport_key),
        identity_advice(.transport_key)
    )]
    TransportKeyMismatch {
        pinned: Box<PublicKey>,
        actual: Box<PublicKey>,
        transport_key: Option<PathBuf>,
    },
    /// The node's p2p identity could not be made from its key.
    #[error(transparent)]
    Identity(ConsensusError),
    /// An address (`what`: the setting or the roster entry it comes from) is not a
    /// multiaddr.
    #[error("{what} {address}")]
    Address {
        what: &'static str,
        address: String,
        source: libp2p::multiaddr::Error,
    },
    /// The node is not in the roster and no `p2p_listen` says where to listen (`config`:
    /// the configuration file).
    #[error(
        "the consensus key {key} is not in the roster of chain {chain_id}, so its address \
         is not known: set p2p_listen in {}",
        config.display()
    )]
    NotInRoster {
        key: PublicKey,
        chain_id: Id,
        config: PathBuf,
    },
    /// The gossip's address cannot be derived from the consensus address.
    #[error("p2p_listen {p2p_listen} has no TCP port: set gossip_listen")]
    NoGossipPort { p2p_listen: Multiaddr },
    /// The intake's thread could not be started.
    #[error("starting the intake thread")]
    IntakeThread(#[source] std::io::Error),
    /// The HTTP API's address could not be bound.
    #[error("binding the HTTP API to {address}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    /// One of the node's tasks (`what`) panicked or was cancelled.
    #[error("{what}")]
    Task {
        what: &'static str,
        source: tokio::task::JoinError,
    },
    /// Consensus stopped, or did not start.
    #[error("consensus")]
    Consensus(#[source] ConsensusError),
    /// The HTTP API stopped.
    #[error("HTTP API")]
    Api(#[source] std::io::Error),
    /// The transaction gossip stopped, or did not start.
    #[error("transaction gossip")]
    Gossip(#[source] GossipError),
    /// Another I/O failure (`--rebuild`: making the moves aside durable).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How [`RunError::TransportKeyMismatch`] names the key of the node's p2p identity.
fn identity_named(transport_key: &Option<PathBuf>) -> &'static str {
    match transport_key {
        Some(_) => "transport_key",
        None => "consensus key (no transport_key is set)",
    }
}

/// What [`RunError::TransportKeyMismatch`] advises.
fn identity_advice(transport_key: &Option<PathBuf>) -> String {
    match transport_key {
        Some(path) => format!("check {}", path.display()),
        None => "set transport_key to the key the roster binds".to_string(),
    }
}

impl RunError {
    /// The protocol version this program does not run, when that is why the node stopped
    /// (R12.5): `xinbao-node` then exits with its own code.
    pub fn unsupported_version(&self) -> Option<&UnsupportedVersion> {
        match self {
            RunError::Chain(e) => e.unsupported_version(),
            RunError::Consensus(e) | RunError::Identity(e) => e.unsupported_version(),
            _ => None,
        }
    }
}

/// Moves the store and the consensus WAL of `data_dir` into `data_dir/damaged-<unix
/// seconds>/`, kept for the operator to inspect or delete; the node then starts from an
/// empty store and syncs every block from its peers, checking each as it does.
pub fn set_aside(data_dir: &Path) -> Result<Option<PathBuf>, RunError> {
    let parts: Vec<&str> = ["db", "wal"]
        .into_iter()
        .filter(|p| data_dir.join(p).exists())
        .collect();
    if parts.is_empty() {
        return Ok(None);
    }
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = data_dir.join(format!("damaged-{seconds}"));
    std::fs::create_dir_all(&aside).map_err(|source| RunError::CreateDir {
        path: aside.clone(),
        source,
    })?;
    for part in parts {
        std::fs::rename(data_dir.join(part), aside.join(part)).map_err(|source| {
            RunError::MoveAside {
                path: data_dir.join(part),
                source,
            }
        })?;
    }
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(Some(aside))
}

/// What a node listens on for an address that peers dial: the same port on every
/// interface when the address names a host rather than an IP.
fn listen_of(address: &Multiaddr) -> Multiaddr {
    address
        .iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .map(|p| match p {
            Protocol::Dns(_) | Protocol::Dns4(_) => Protocol::Ip4(std::net::Ipv4Addr::UNSPECIFIED),
            Protocol::Dns6(_) => Protocol::Ip6(std::net::Ipv6Addr::UNSPECIFIED),
            other => other,
        })
        .collect()
}

/// The node's p2p identity: the configuration's transport key, else its consensus key;
/// when the roster holds the node, the key it pins the node by.
fn transport_keypair(
    config: &Config,
    key_file: Option<&ledger::crypto::SecretKey>,
    own_entry: Option<&ledger::validators::RosterEntry>,
) -> Result<libp2p::identity::Keypair, RunError> {
    let transport_key = config
        .transport_key
        .as_deref()
        .map(read_secret_key)
        .transpose()?;
    let Some(transport) = transport_key.as_ref().or(key_file) else {
        return Err(RunError::NoTransportKey);
    };
    if let Some(entry) = own_entry {
        let pinned = entry.network_key();
        if pinned != transport.public_key() {
            return Err(RunError::TransportKeyMismatch {
                pinned: Box::new(pinned),
                actual: Box::new(transport.public_key()),
                transport_key: config.transport_key.clone(),
            });
        }
    }
    consensus::libp2p_keypair(transport).map_err(RunError::Identity)
}

pub async fn run(options: Options) -> Result<(), RunError> {
    #[cfg(not(feature = "byzantine"))]
    if std::env::var_os("XINBAO_BYZANTINE").is_some() {
        return Err(RunError::ByzantineUnavailable);
    }
    let Opened {
        config,
        key,
        key_file,
        tls,
        chain,
        tip,
        genesis_time_ms,
    } = open(&options)?;
    let (transport, p2p_listen, gossip_listen) = addresses(
        &options,
        &config,
        &chain,
        tip.height,
        &key,
        key_file.as_ref(),
    )?;

    let metrics = Arc::new(Metrics::default());
    metrics
        .height
        .store(tip.height, std::sync::atomic::Ordering::Relaxed);
    // The path of a transaction, one way: the API and the gossip's receiver offer it to
    // the intake's queue; the intake puts what passes in the mempool and staff
    // transactions in the outbox; the gossip sends the outbox to the other validators.
    let (outbox, outbox_rx) = crate::intake::outbox();
    let (intake, intake_rx) = crate::intake::queue();
    let chain = Arc::new(chain);
    let mempool = Arc::new(Pool::default());
    crate::intake::start(
        crate::intake::Checker {
            chain: chain.clone(),
            mempool: mempool.clone(),
            metrics: metrics.clone(),
            outbox: outbox.clone(),
            queue: intake.clone(),
        },
        intake_rx,
    )
    .map_err(RunError::IntakeThread)?;
    let (gossip_peers, gossip_peers_rx) = watch::channel(Arc::new(GossipPeers::default()));
    let shared = Arc::new(Shared {
        chain,
        mempool,
        clock: if options.devnet_clock {
            Clock::devnet(genesis_time_ms)
        } else {
            Clock::system()
        },
        metrics,
        network: NetworkView::default(),
        gossip: outbox,
        intake,
        peer_id: transport.public().to_peer_id().to_base58(),
        committed: watch::channel(tip.height).0,
    });

    let listener = tokio::net::TcpListener::bind(&config.http_listen)
        .await
        .map_err(|source| RunError::Bind {
            address: config.http_listen.clone(),
            source,
        })?;
    info!(addr = %config.http_listen, tls = tls.is_some(), "HTTP API listening");
    let gate = crate::access::Gate::new(config.client_limits);
    let feeds = crate::events::Feeds::new(
        config.events.streams_max,
        std::time::Duration::from_secs(config.events.stall_seconds),
    );
    let api = crate::http::serve(
        listener,
        crate::api::router(shared.clone(), gate, feeds),
        tls,
    );

    let tag = consensus::protocol_tag(&shared.chain.genesis_hash());
    let gossip = gossip::run(
        shared.clone(),
        GossipSettings {
            keypair: transport.clone(),
            listen: gossip_listen,
            protocol: format!("{tag}/txs/v1"),
        },
        outbox_rx,
        gossip_peers_rx,
    );
    let engine = consensus::start(
        shared.clone(),
        key,
        EngineSettings {
            moniker: config.moniker.clone(),
            listen_addr: p2p_listen.to_string(),
            wal_path: config.data_dir.join("wal").join("consensus.wal"),
            bootstrap: config.bootstrap_peers.clone(),
            gossip_peers,
            transport,
        },
    );

    until_one_ends(engine, api, gossip).await
}

/// What a node opens before it starts anything: its configuration, keys, TLS and chain.
struct Opened {
    config: Config,
    key: Arc<dyn ledger::crypto::Signer>,
    /// The consensus key's secret, when it is in a file (not in a module).
    key_file: Option<ledger::crypto::SecretKey>,
    tls: Option<Arc<crate::tls::Tls>>,
    chain: Chain,
    tip: crate::store::Tip,
    genesis_time_ms: u64,
}

/// Loads the configuration, the approved genesis, the keys and TLS, and opens the chain
/// (after `--rebuild` moved a damaged store aside), which must be able to go on under
/// the protocol version in force (R12.5).
fn open(options: &Options) -> Result<Opened, RunError> {
    let config = Config::load(&options.config)?;
    let file = GenesisFile::load(&config.genesis)?;
    // R11.1: no node starts on a genesis that a founder has not approved.
    file.check_approved()
        .map_err(|source| RunError::NotApproved {
            path: config.genesis.clone(),
            source,
        })?;
    let genesis = file.genesis;
    let (key, key_file) = read_consensus_key(&config.consensus_key)?;
    let tls = match &config.tls {
        Some(tls) => Some(Arc::new(crate::tls::Tls::load(tls)?)),
        None => None,
    };

    std::fs::create_dir_all(&config.data_dir).map_err(|source| RunError::CreateDir {
        path: config.data_dir.clone(),
        source,
    })?;
    if options.rebuild {
        match set_aside(&config.data_dir)? {
            Some(aside) => warn!(
                aside = %aside.display(),
                "--rebuild: the damaged store is moved aside; this node syncs the chain from its peers"
            ),
            None => info!("--rebuild: there was no store to move aside"),
        }
    }
    let store = Store::open_with(&config.data_dir.join("db"), config.storage.tuning())?;
    let genesis_time_ms = genesis.genesis_time_ms;
    let newest = contracts::upgrade::NEWEST;
    let version_max = options.protocol_version_max.unwrap_or(newest);
    if !(1..=newest).contains(&version_max) {
        return Err(RunError::VersionMax {
            asked: version_max,
            newest,
        });
    }
    let chain = Chain::open_supporting(genesis, store, version_max)?;
    let tip = chain.tip()?;
    info!(
        chain_id = %chain.chain_id(),
        height = tip.height,
        state_root = %hex::encode(tip.state_root),
        protocol_version = chain.version_at(tip.height)?,
        protocol_versions_supported = ?chain.supported_versions(),
        "chain opened"
    );
    // R12.5: a node restarted on a program that still lacks the version in force stops
    // again at once, before anything starts.
    chain.check_supported(tip.height + 1)?;

    Ok(Opened {
        config,
        key,
        key_file,
        tls,
        chain,
        tip,
        genesis_time_ms,
    })
}

/// The node's p2p identity (its transport key, or its consensus key) and where it
/// listens for consensus and for the gossip: the configuration's addresses, else its
/// roster address at the next height.
fn addresses(
    options: &Options,
    config: &Config,
    chain: &Chain,
    tip_height: u64,
    key: &Arc<dyn ledger::crypto::Signer>,
    key_file: Option<&ledger::crypto::SecretKey>,
) -> Result<(libp2p::identity::Keypair, Multiaddr, Multiaddr), RunError> {
    let own_entry = chain
        .config_at(tip_height + 1)?
        .roster
        .get(&key.public_key())
        .cloned();
    let own_address = own_entry
        .as_ref()
        .map(|node| node.address.as_str().to_string());
    let transport = transport_keypair(config, key_file, own_entry.as_ref())?;
    let p2p_listen: Multiaddr = match (&config.p2p_listen, &own_address) {
        (Some(listen), _) => parse_address("p2p_listen", listen)?,
        (None, Some(address)) => listen_of(&parse_address("the roster address", address)?),
        (None, None) => {
            return Err(RunError::NotInRoster {
                key: key.public_key(),
                chain_id: chain.chain_id().clone(),
                config: options.config.clone(),
            })
        }
    };
    let gossip_listen: Multiaddr = match &config.gossip_listen {
        Some(listen) => parse_address("gossip_listen", listen)?,
        None => gossip::gossip_address(&p2p_listen).ok_or_else(|| RunError::NoGossipPort {
            p2p_listen: p2p_listen.clone(),
        })?,
    };
    Ok((transport, p2p_listen, gossip_listen))
}

/// Runs consensus, the API and the gossip until one of them ends (or Ctrl-C), then
/// stops the others.
async fn until_one_ends(
    engine: impl std::future::Future<Output = Result<(), ConsensusError>> + Send + 'static,
    api: impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    gossip: impl std::future::Future<Output = Result<(), GossipError>> + Send + 'static,
) -> Result<(), RunError> {
    // Each on the runtime's worker threads, not on the thread that called `block_on`,
    // where every message woke that thread across threads: polled there, the four bench
    // validators used about 4 % more CPU at 6,000 tx/s. Whichever ends first ends the
    // node: the others are stopped with it.
    let mut engine = tokio::spawn(engine);
    let mut api = tokio::spawn(api);
    let mut gossip = tokio::spawn(gossip);
    let _stop_all = AbortOnDrop([
        engine.abort_handle(),
        api.abort_handle(),
        gossip.abort_handle(),
    ]);
    let ended = tokio::select! {
        result = &mut engine => return joined(result, "consensus task", RunError::Consensus),
        result = &mut api => joined(result, "HTTP API task", RunError::Api),
        result = &mut gossip => joined(result, "gossip task", RunError::Gossip),
        _ = tokio::signal::ctrl_c() => {
            info!("interrupted; stopping");
            return Ok(());
        }
    };
    // The API or the gossip ended first. The gossip's peer list comes from consensus, so
    // when consensus stops (a full disk, say) the gossip can notice before the engine's
    // own task is seen to end: consensus's reason, if it gives one at once, is the one
    // to report.
    if let Ok(result) = tokio::time::timeout(ENGINE_REASON_WAIT, &mut engine).await {
        joined(result, "consensus task", RunError::Consensus)?;
    }
    ended
}

/// An address of the configuration or the roster (`what`: which), parsed.
fn parse_address(what: &'static str, address: &str) -> Result<Multiaddr, RunError> {
    address.parse().map_err(|source| RunError::Address {
        what,
        address: address.to_string(),
        source,
    })
}

/// How the task `what` ended: its panic or cancellation, else its own error as `failed`
/// says.
fn joined<E>(
    result: Result<Result<(), E>, tokio::task::JoinError>,
    what: &'static str,
    failed: impl FnOnce(E) -> RunError,
) -> Result<(), RunError> {
    result
        .map_err(|source| RunError::Task { what, source })?
        .map_err(failed)
}

/// How long a node whose API or gossip ended waits for consensus's reason, if any.
const ENGINE_REASON_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Stops its tasks when dropped.
struct AbortOnDrop<const N: usize>([tokio::task::AbortHandle; N]);

impl<const N: usize> Drop for AbortOnDrop<N> {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::AbortHandle::abort);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_name_is_listened_on_every_interface() {
        let dns: Multiaddr = "/dns4/node.bank.example/tcp/27000".parse().unwrap();
        assert_eq!(listen_of(&dns).to_string(), "/ip4/0.0.0.0/tcp/27000");
        let ip: Multiaddr = "/ip4/10.0.0.1/tcp/27000".parse().unwrap();
        assert_eq!(listen_of(&ip), ip);
    }

    #[test]
    fn a_version_this_program_does_not_run_is_found_wherever_it_stops_the_node() {
        let version = UnsupportedVersion {
            version: 3,
            height: 10,
            supported: 2,
        };
        let refused = || ChainError::Unsupported(version.clone());
        let worker = crate::chain_worker::WorkerError::Chain(refused());
        for stopped in [
            RunError::Chain(refused()),
            RunError::Consensus(ConsensusError::Chain(refused())),
            RunError::Consensus(ConsensusError::Worker(worker)),
        ] {
            assert_eq!(stopped.unsupported_version(), Some(&version), "{stopped}");
        }
        let other = RunError::Consensus(ConsensusError::EngineStopped);
        assert_eq!(other.unsupported_version(), None);
    }
}
