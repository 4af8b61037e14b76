//! Starting a node: configuration, genesis, key, storage, then consensus, the HTTP API and
//! the relay side by side; the process ends when any of them stops.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use ledger::genesis::Genesis;
use tracing::info;

use crate::chain::Chain;
use crate::config::{read_secret_key, Config};
use crate::consensus::{self, EngineSettings};
use crate::mempool::Mempool;
use crate::shared::{Clock, Metrics, NetworkView, Shared};
use crate::store::Store;

pub struct Options {
    pub config: PathBuf,
    pub devnet_clock: bool,
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let config = Config::load(&options.config)?;
    let genesis = Genesis::load(&config.genesis)?;
    let key = read_secret_key(&config.consensus_key)?;
    let own = genesis
        .validators
        .iter()
        .find(|v| v.consensus_key == key.public_key())
        .with_context(|| {
            format!(
                "the consensus key {} is not a validator of chain {}: this node cannot take part",
                key.public_key(),
                genesis.chain_id
            )
        })?;
    let p2p_listen = config
        .p2p_listen
        .clone()
        .unwrap_or_else(|| own.address.as_str().to_string());

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let store = Store::open(&config.data_dir.join("db"))?;
    let genesis_time_ms = genesis.genesis_time_ms;
    let chain = Chain::open(genesis, store)?;
    let tip = chain.tip()?;
    info!(
        chain_id = %chain.chain_id(),
        height = tip.height,
        state_root = %hex::encode(tip.state_root),
        "chain opened"
    );

    let (relay_tx, relay_rx) = crate::relay::queue();
    let relay_peers = config.relay_peers.clone();
    let metrics = Metrics::default();
    metrics
        .height
        .store(tip.height, std::sync::atomic::Ordering::Relaxed);
    let shared = Arc::new(Shared {
        chain,
        mempool: Mutex::new(Mempool::new()),
        clock: if options.devnet_clock {
            Clock::devnet(genesis_time_ms)
        } else {
            Clock::system()
        },
        metrics,
        network: NetworkView::default(),
        relay: (!relay_peers.is_empty()).then_some(relay_tx),
        peer_id: consensus::peer_id_of(&key.public_key())?,
    });

    let listener = tokio::net::TcpListener::bind(&config.http_listen)
        .await
        .with_context(|| format!("binding the HTTP API to {}", config.http_listen))?;
    info!(addr = %config.http_listen, "HTTP API listening");
    let api = axum::serve(listener, crate::api::router(shared.clone()));

    let relay = crate::relay::run(relay_peers, relay_rx);
    let engine = consensus::start(
        shared.clone(),
        key,
        EngineSettings {
            moniker: config.moniker.clone(),
            listen_addr: p2p_listen,
            wal_path: config.data_dir.join("wal").join("consensus.wal"),
        },
    );

    tokio::select! {
        result = engine => result.context("consensus"),
        result = api => result.context("HTTP API"),
        () = relay => anyhow::bail!("the relay stopped"),
        _ = tokio::signal::ctrl_c() => {
            info!("interrupted; stopping");
            Ok(())
        }
    }
}
