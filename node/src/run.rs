//! Starting a node: configuration, an approved genesis, key, storage, then consensus, the
//! transaction gossip and the HTTP API side by side; the process ends when any of them
//! stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ledger::genesis::GenesisFile;
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::chain::Chain;
use crate::config::Config;
use crate::consensus::{self, EngineSettings};
use crate::gossip::{self, GossipPeers, GossipSettings};
use crate::keys::{read_consensus_key, read_secret_key};
use crate::mempool::Pool;
use crate::metrics::Metrics;
use crate::shared::{Clock, NetworkView, Shared};
use crate::store::Store;

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

/// Moves the store and the consensus WAL of `data_dir` into `data_dir/damaged-<unix
/// seconds>/`, kept for the operator to inspect or delete; the node then starts from an
/// empty store and syncs every block from its peers, checking each as it does.
pub fn set_aside(data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
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
    std::fs::create_dir_all(&aside).with_context(|| format!("creating {}", aside.display()))?;
    for part in parts {
        std::fs::rename(data_dir.join(part), aside.join(part))
            .with_context(|| format!("moving {} aside", data_dir.join(part).display()))?;
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
) -> anyhow::Result<libp2p::identity::Keypair> {
    let transport_key = config
        .transport_key
        .as_deref()
        .map(read_secret_key)
        .transpose()?;
    let Some(transport) = transport_key.as_ref().or(key_file) else {
        anyhow::bail!(
            "the consensus key is in a module, where the p2p transport cannot use it: set \
             transport_key in the node's configuration to the ed25519 key the roster binds \
             to it (xinbao keys bind-transport)"
        );
    };
    if let Some(entry) = own_entry {
        let pinned = entry.network_key();
        anyhow::ensure!(
            pinned == transport.public_key(),
            "the roster pins this node by the key {pinned}, but its {} is {}: {}",
            if transport_key.is_some() {
                "transport_key"
            } else {
                "consensus key (no transport_key is set)"
            },
            transport.public_key(),
            match &config.transport_key {
                Some(path) => format!("check {}", path.display()),
                None => "set transport_key to the key the roster binds".to_string(),
            }
        );
    }
    consensus::libp2p_keypair(transport)
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    #[cfg(not(feature = "byzantine"))]
    anyhow::ensure!(
        std::env::var_os("XINBAO_BYZANTINE").is_none(),
        "XINBAO_BYZANTINE is set, but this xinbao-node was built without the `byzantine` \
         feature (a test-only build): refusing to start"
    );
    let config = Config::load(&options.config)?;
    let file = GenesisFile::load(&config.genesis)?;
    // R11.1: no node starts on a genesis that a founder has not approved.
    file.check_approved()
        .with_context(|| format!("{}", config.genesis.display()))?;
    let genesis = file.genesis;
    let (key, key_file) = read_consensus_key(&config.consensus_key)?;
    let tls = match &config.tls {
        Some(tls) => Some(Arc::new(crate::tls::Tls::load(tls)?)),
        None => None,
    };

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
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
    let chain_id = genesis.chain_id.clone();
    let newest = contracts::upgrade::NEWEST;
    let version_max = options.protocol_version_max.unwrap_or(newest);
    anyhow::ensure!(
        (1..=newest).contains(&version_max),
        "--max-protocol-version {version_max}: this program supports protocol versions 1 to {newest}"
    );
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

    // Where to listen: the configuration's addresses, else this node's roster address.
    let own_entry = chain
        .config_at(tip.height + 1)?
        .roster
        .get(&key.public_key())
        .cloned();
    let own_address = own_entry
        .as_ref()
        .map(|node| node.address.as_str().to_string());
    let transport = transport_keypair(&config, key_file.as_ref(), own_entry.as_ref())?;
    let p2p_listen: Multiaddr = match (&config.p2p_listen, &own_address) {
        (Some(listen), _) => listen
            .parse()
            .with_context(|| format!("p2p_listen {listen}"))?,
        (None, Some(address)) => listen_of(
            &address
                .parse()
                .with_context(|| format!("the roster address {address}"))?,
        ),
        (None, None) => anyhow::bail!(
            "the consensus key {} is not in the roster of chain {chain_id}, so its address is \
             not known: set p2p_listen in {}",
            key.public_key(),
            options.config.display()
        ),
    };
    let gossip_listen: Multiaddr = match &config.gossip_listen {
        Some(listen) => listen
            .parse()
            .with_context(|| format!("gossip_listen {listen}"))?,
        None => gossip::gossip_address(&p2p_listen).with_context(|| {
            format!("p2p_listen {p2p_listen} has no TCP port: set gossip_listen")
        })?,
    };

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
    .context("starting the intake thread")?;
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
        .with_context(|| format!("binding the HTTP API to {}", config.http_listen))?;
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
        result = &mut engine => return result.context("consensus task")?.context("consensus"),
        result = &mut api => result.context("HTTP API task").and_then(|r| r.context("HTTP API")),
        result = &mut gossip => {
            result.context("gossip task").and_then(|r| r.context("transaction gossip"))
        }
        _ = tokio::signal::ctrl_c() => {
            info!("interrupted; stopping");
            return Ok(());
        }
    };
    // The API or the gossip ended first. The gossip's peer list comes from consensus, so
    // when consensus stops (a full disk, say) the gossip can notice before the engine's
    // own task is seen to end: consensus's reason, if it gives one at once, is the one
    // to report.
    if let Ok(joined) = tokio::time::timeout(ENGINE_REASON_WAIT, &mut engine).await {
        joined.context("consensus task")?.context("consensus")?;
    }
    ended
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
}
