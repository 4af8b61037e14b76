//! Consensus: the Malachite engine behind one module.
//!
//! Nothing outside this module names a Malachite or libp2p type. The rest of the node
//! hands [`start`] the shared chain, mempool and clock, and sees decisions as blocks
//! committed to the chain.
//!
//! Networking is permissioned: the node dials and accepts only the nodes of the roster
//! (validators and followers, DOMAIN.md R11), each pinned by `/p2p/<peer id>`, where the
//! peer id is derived from the node's consensus key (the libp2p identity *is* the
//! consensus key), so a node whose key the chain does not name is neither dialled nor
//! accepted. The engine's network learns who a peer is only after the connection is up,
//! so the roster gate ([`gate`]) stands between it and the engine and drops what a
//! stranger says in that window. The roster follows the chain ([`peers`]): when
//! governance adds a node, its peers connect to it; when it removes one, they disconnect
//! it.
//!
//! Every node runs the engine as a validator of its key. At heights whose validator set
//! does not hold that key the engine only follows (it verifies, decides and syncs, and
//! neither proposes nor votes), so a node added by governance starts voting at the height
//! its change takes effect, and one removed stops, without a restart. The validators and
//! timing of each height come from committed state ([`crate::chain::Chain::config_at`]).
//!
//! Pacing: heights are paced by the engine's `target_time`, set to the `block_time_ms`
//! parameter of the height, and a height begins only when there is work or a date to move
//! on (the heartbeat and the UTC+8 day boundary): [`app`] holds the engine's `Finalized`
//! reply until then, so an idle consortium writes almost nothing.

pub mod app;
#[cfg(feature = "byzantine")]
pub mod byzantine;
pub mod codec;
pub mod context;
pub mod error;
pub mod gate;
pub mod parts;
pub mod peers;
pub mod signing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ledger::crypto::SecretKey;
use malachitebft_app_channel::app::config::{
    ChannelNames, ConsensusConfig, DiscoveryConfig, P2pConfig, ProtocolNames, PubSubProtocol,
    ValuePayload, ValueSyncConfig,
};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::core::{HeightParams, LinearTimeouts};
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::{
    ConsensusContext, NetworkIdentity, NetworkRequest, RequestContext, Signer, SyncContext,
    WalContext,
};
use tokio::sync::watch;
use tracing::info;

use self::codec::WireCodec;
use self::context::XinbaoContext;
pub use self::error::ConsensusError;
use self::peers::PeerBook;
use self::signing::{ConsensusSigner, ConsensusVerifier};
use crate::chain::HeightConfig;
use crate::gossip::GossipPeers;
use crate::shared::Shared;

/// Capacity of the engine's request channels.
const ENGINE_REQUESTS_MAX: usize = 100;
/// How often the network's peer list is read for `/v1/status`.
const PEER_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Connections accepted from one IP address (the engine's default of 5 is too few for a
/// devnet on one machine).
const CONNECTIONS_PER_IP_MAX: usize = 64;

/// What the engine needs besides the shared state.
pub struct EngineSettings {
    pub moniker: String,
    /// The libp2p multiaddr to listen on, e.g. `/ip4/127.0.0.1/tcp/27000`.
    pub listen_addr: String,
    pub wal_path: PathBuf,
    /// Extra peers to dial, `ADDRESS/p2p/PEER_ID`: how a node that joins a consortium
    /// whose genesis validators have moved on finds it.
    pub bootstrap: Vec<String>,
    /// Where the roster's nodes are published for the transaction gossip.
    pub gossip_peers: watch::Sender<Arc<GossipPeers>>,
    /// The node's p2p identity: its transport key, or its ed25519 consensus key.
    pub transport: Keypair,
}

#[derive(Clone, Debug)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl malachitebft_app_channel::app::config::NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// The libp2p identity of an ed25519 key: the node's transport key, or its consensus key
/// when it has none.
pub fn libp2p_keypair(key: &SecretKey) -> Result<Keypair, ConsensusError> {
    let SecretKey::Ed25519(signing) = key else {
        return Err(ConsensusError::NotAnIdentity {
            algorithm: key.algorithm(),
        });
    };
    Ok(Keypair::ed25519_from_bytes(signing.to_bytes())?)
}

/// The libp2p peer id of an ed25519 key (a roster entry's
/// [`network_key`](ledger::validators::RosterEntry::network_key)).
pub fn peer_id_of(key: &ledger::crypto::PublicKey) -> Result<String, ConsensusError> {
    let ledger::crypto::PublicKey::Ed25519(bytes) = key else {
        return Err(ConsensusError::NoPeerId {
            algorithm: key.algorithm(),
        });
    };
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(bytes)?;
    Ok(libp2p::identity::PublicKey::from(public)
        .to_peer_id()
        .to_base58())
}

/// Timeouts per round: a proposal has 2 s to arrive, votes 0.5 s (each +0.5 s a round).
fn timeouts() -> LinearTimeouts {
    LinearTimeouts {
        propose: Duration::from_secs(2),
        prevote: Duration::from_millis(500),
        precommit: Duration::from_millis(500),
        rebroadcast: Duration::from_secs(3),
        ..LinearTimeouts::default()
    }
}

/// The engine's parameters of one height: its validators, timeouts and pace.
pub fn height_params(config: &HeightConfig) -> HeightParams<XinbaoContext> {
    HeightParams::new(
        app::engine_validator_set(&config.validators),
        timeouts(),
        Some(Duration::from_millis(config.params.block_time_ms)),
    )
}

/// The tag in protocol and topic names: the genesis hash, so nodes of another
/// consortium (or another genesis of this one) cannot even negotiate a protocol with ours.
pub fn protocol_tag(genesis_hash: &[u8; 32]) -> String {
    format!("/xinbao-{}", &hex::encode(genesis_hash)[..16])
}

/// Starts the engine and the application loop; returns when either stops.
pub async fn start(
    shared: Arc<Shared>,
    key: Arc<dyn ledger::crypto::Signer>,
    settings: EngineSettings,
) -> Result<(), ConsensusError> {
    let chain_id = shared.chain.chain_id().clone();
    let own_key = key.public_key();
    let tip = shared.chain.tip()?.height;
    let next = shared.chain.config_at(tip + 1)?;
    let after = shared.chain.config_at(tip + 2)?;
    if next.roster.get(&own_key).is_none() && after.roster.get(&own_key).is_none() {
        info!(
            key = %own_key,
            "this node's key is not in the roster at height {}: peers accept it once the \
             chain admits it (AddValidator)",
            tip + 1
        );
    }
    let (bootstrap, bootstrap_ids) = bootstrap_peers(&settings.bootstrap)?;
    let roster = settings.gossip_peers.subscribe();
    let book = PeerBook::new(
        own_key,
        peers::wanted(&[&next, &after], &own_key),
        bootstrap,
        settings.gossip_peers,
    );
    let config = engine_config(
        &protocol_tag(&shared.chain.genesis_hash()),
        &settings.listen_addr,
        book.engine_peers(),
        settings.moniker.clone(),
    )?;

    let signer = Arc::new(ConsensusSigner::new(key.clone(), chain_id.clone()));
    let verifier = ConsensusVerifier::new(chain_id.clone());
    let keypair = settings.transport;
    let peer_id = keypair.public().to_peer_id();
    let proof = signer
        .sign_validator_proof(ledger::codec::encode(&own_key), peer_id.to_bytes())
        .await
        .map_err(ConsensusError::signing("the validator proof"))?;
    let proof_bytes = malachitebft_codec::Codec::encode(&WireCodec, &proof)?;
    let address = signer.address();
    let identity =
        NetworkIdentity::new_validator(settings.moniker, keypair, address.to_string(), proof_bytes);

    info!(%peer_id, %address, "starting consensus engine");
    let registry = malachitebft_app_channel::app::metrics::SharedRegistry::global()
        .with_moniker(&config.moniker);
    let (real, tx_network) = malachitebft_app_channel::spawn::spawn_network_actor(
        identity,
        &config.consensus,
        &config.value_sync,
        &registry,
        WireCodec,
    )
    .await
    .map_err(ConsensusError::start("the network"))?;
    let network = gate::spawn(real, roster, bootstrap_ids, shared.clone()).await?;
    #[cfg(feature = "byzantine")]
    let byzantine = crate::consensus::byzantine::Byzantine::from_env()?.map(Arc::new);
    #[cfg(feature = "byzantine")]
    let network = match &byzantine {
        Some(attacks) => {
            byzantine_network(network, attacks, &key, &chain_id, address, &config.moniker).await?
        }
        None => network,
    };
    let (channels, _engine) = malachitebft_app_channel::EngineBuilder::new(XinbaoContext, config)
        .with_default_wal(WalContext::new(settings.wal_path, WireCodec))
        .with_custom_network(network, tx_network)
        .with_default_sync(SyncContext::new(WireCodec))
        .with_default_consensus(ConsensusContext::new_validator(
            address,
            Box::new(verifier),
            Box::new(ConsensusSigner::new(key, chain_id)),
        ))
        .with_default_request(RequestContext::new(ENGINE_REQUESTS_MAX))
        .build()
        .await
        .map_err(ConsensusError::start("the engine"))?;

    keep_peer_list(channels.net_requests.clone(), shared.clone());

    let worker = crate::chain_worker::Worker::start(shared.clone(), own_key)?;
    let app = app::App::new(shared, signer, worker, book);
    #[cfg(feature = "byzantine")]
    let app = app.byzantine(byzantine);
    app.run(channels).await
}

/// The bootstrap peers' addresses, and the peer ids some of them name.
fn bootstrap_peers(
    addresses: &[String],
) -> Result<(Vec<Multiaddr>, Vec<libp2p::PeerId>), ConsensusError> {
    let bootstrap = addresses
        .iter()
        .map(|a| {
            a.parse::<Multiaddr>()
                .map_err(|e| ConsensusError::Bootstrap {
                    address: a.clone(),
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bootstrap_ids: Vec<libp2p::PeerId> = bootstrap
        .iter()
        .filter_map(|addr| {
            addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(id) => Some(id),
                _ => None,
            })
        })
        .collect();
    Ok((bootstrap, bootstrap_ids))
}

/// The engine's configuration: consensus over the roster's peers only (`peers`), its
/// protocols and channels named by the chain's tag `tag`, value sync on.
fn engine_config(
    tag: &str,
    listen_addr: &str,
    peers: Vec<Multiaddr>,
    moniker: String,
) -> Result<EngineConfig, ConsensusError> {
    let p2p = P2pConfig {
        listen_addr: listen_addr.parse()?,
        persistent_peers: peers,
        persistent_peers_only: true,
        discovery: DiscoveryConfig {
            max_connections_per_ip: CONNECTIONS_PER_IP_MAX,
            ..DiscoveryConfig::default()
        },
        protocol: PubSubProtocol::Broadcast,
        protocol_names: ProtocolNames {
            consensus: format!("{tag}/consensus/v1"),
            discovery_kad: format!("{tag}/discovery/kad/v1"),
            discovery_regres: format!("{tag}/discovery/reqres/v1"),
            sync: format!("{tag}/sync/v1"),
            validator_proof: format!("{tag}/validator-proof/v1"),
        },
        channel_names: ChannelNames {
            consensus: format!("{tag}/consensus"),
            proposal_parts: format!("{tag}/proposal_parts"),
            sync: format!("{tag}/sync"),
            liveness: format!("{tag}/liveness"),
        },
        ..P2pConfig::default()
    };
    let consensus = ConsensusConfig {
        enabled: true,
        p2p,
        value_payload: ValuePayload::ProposalAndParts,
        ..ConsensusConfig::default()
    };
    let value_sync = ValueSyncConfig {
        enabled: true,
        status_update_interval: Duration::from_secs(1),
        ..ValueSyncConfig::default()
    };
    Ok(EngineConfig {
        moniker,
        consensus,
        value_sync,
    })
}

/// Keeps the peer list of the status endpoint, asking the engine every
/// [`PEER_POLL_INTERVAL`].
fn keep_peer_list(net_requests: tokio::sync::mpsc::Sender<NetworkRequest>, shared: Arc<Shared>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PEER_POLL_INTERVAL).await;
            if let Ok(Some(dump)) = NetworkRequest::dump_state(&net_requests).await {
                let mut peers: Vec<String> = dump.peers.keys().map(|p| p.to_base58()).collect();
                peers.sort();
                *shared.network.peers.write().expect("peers lock poisoned") = peers;
            }
        }
    });
}

/// The network as a Byzantine validator's engine sees it (tests only): votes for a flipped
/// block id, or old votes replayed, as `attacks` says.
#[cfg(feature = "byzantine")]
async fn byzantine_network(
    network: malachitebft_engine::network::NetworkRef<XinbaoContext>,
    attacks: &crate::consensus::byzantine::Byzantine,
    key: &Arc<dyn ledger::crypto::Signer>,
    chain_id: &ledger::Id,
    address: context::Address,
    moniker: &str,
) -> Result<malachitebft_engine::network::NetworkRef<XinbaoContext>, ConsensusError> {
    if !(attacks.engine.is_active() || attacks.replay_votes > 0) {
        return Ok(network);
    }
    tracing::warn!(?attacks, "Byzantine: the engine misbehaves");
    let mut network = network;
    if attacks.engine.is_active() {
        let flip = |mut bytes: [u8; 32]| {
            bytes[31] ^= 1;
            context::BlockHash(bytes)
        };
        network = malachitebft_engine_byzantine::ByzantineNetworkProxy::spawn(
            attacks.engine.clone(),
            network,
            Box::new(ConsensusSigner::new(key.clone(), chain_id.clone())),
            XinbaoContext,
            address,
            tracing::error_span!("node", moniker = %moniker),
            Some(Box::new(move |v: &context::BlockHash| flip(v.0))),
            Some(Box::new(move |v: Option<&context::BlockHash>| {
                flip(v.map(|h| h.0).unwrap_or([0; 32]))
            })),
        )
        .await
        .map_err(ConsensusError::start("the Byzantine network"))?;
    }
    if attacks.replay_votes > 0 {
        network =
            crate::consensus::byzantine::VoteReplay::spawn(network, attacks.replay_votes).await?;
    }
    Ok(network)
}
