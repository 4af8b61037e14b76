//! Who this node talks to: the roster's nodes (DOMAIN.md R11), kept in step with the chain.
//!
//! The peers of a node are every node of the rosters of the next two heights (those known
//! from committed state, R11.5), validators and followers alike, plus the bootstrap
//! addresses of its configuration. Each is pinned by its peer id, derived from its
//! transport key if the roster binds one to it and from its consensus key otherwise, and the engine accepts no one else (`persistent_peers_only`). When a
//! commit changes the rosters, peers that joined are added to the engine's network and
//! peers that left are removed (which disconnects them); the transaction gossip and the
//! roster gate ([`super::gate`]) are given the same list, with the validators the gossip
//! sends to.

use std::collections::BTreeMap;
use std::sync::Arc;

use ledger::crypto::PublicKey;
use malachitebft_app_channel::app::engine::network::PersistentPeerError;
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::NetworkRequest;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::ConsensusError;
use crate::chain::HeightConfig;
use crate::gossip::{GossipPeer, GossipPeers};

/// A node of a roster, as the network knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The multiaddr with its `/p2p/<peer id>` suffix.
    pub addr: Multiaddr,
    pub peer_id: libp2p::PeerId,
    /// Whether it votes at either height (transactions are gossiped to validators only).
    pub validator: bool,
}

/// The pinned multiaddr of a roster address: `ADDRESS/p2p/PEER_ID`, the peer id that of
/// the node's network key.
pub fn pinned(
    address: &str,
    key: &PublicKey,
) -> Result<(Multiaddr, libp2p::PeerId), ConsensusError> {
    let peer_id = super::peer_id_of(key)?.parse::<libp2p::PeerId>()?;
    let addr = format!("{}/p2p/{peer_id}", address.trim_end_matches('/')).parse::<Multiaddr>()?;
    Ok((addr, peer_id))
}

/// The peers that `configs` (the next heights' configurations) call for, other than `own`.
pub fn wanted(configs: &[&HeightConfig], own: &PublicKey) -> BTreeMap<PublicKey, Peer> {
    let mut peers: BTreeMap<PublicKey, Peer> = BTreeMap::new();
    for config in configs {
        for node in config.roster.entries() {
            if node.consensus_key == *own {
                continue;
            }
            let validator = node.voting_power > 0;
            match pinned(node.address.as_str(), &node.network_key()) {
                Ok((addr, peer_id)) => {
                    let entry = peers.entry(node.consensus_key).or_insert(Peer {
                        addr,
                        peer_id,
                        validator,
                    });
                    entry.validator |= validator;
                }
                Err(e) => warn!(
                    key = %node.consensus_key,
                    address = node.address.as_str(),
                    "a roster address that is not a multiaddr: {e}"
                ),
            }
        }
    }
    peers
}

/// The engine's persistent peers and the gossip's peers, kept equal to what the chain
/// says.
pub struct PeerBook {
    own: PublicKey,
    current: BTreeMap<PublicKey, Peer>,
    bootstrap: Vec<Multiaddr>,
    gossip: watch::Sender<Arc<GossipPeers>>,
}

impl PeerBook {
    /// The book as the engine starts: `initial` is what its configuration listed.
    pub fn new(
        own: PublicKey,
        initial: BTreeMap<PublicKey, Peer>,
        bootstrap: Vec<Multiaddr>,
        gossip: watch::Sender<Arc<GossipPeers>>,
    ) -> PeerBook {
        let book = PeerBook {
            own,
            current: initial,
            bootstrap,
            gossip,
        };
        book.publish();
        book
    }

    /// The multiaddrs the engine starts with.
    pub fn engine_peers(&self) -> Vec<Multiaddr> {
        let mut addrs: Vec<Multiaddr> = self.current.values().map(|p| p.addr.clone()).collect();
        for addr in &self.bootstrap {
            if !addrs.contains(addr) {
                addrs.push(addr.clone());
            }
        }
        addrs
    }

    fn publish(&self) {
        let peers = GossipPeers {
            peers: self
                .current
                .values()
                .map(|p| GossipPeer {
                    peer_id: p.peer_id,
                    addr: p.addr.clone(),
                    validator: p.validator,
                })
                .collect(),
        };
        self.gossip.send_replace(Arc::new(peers));
    }

    /// Brings the peers in line with `configs`: adds the nodes that joined, removes those
    /// that left, and tells the gossip.
    pub async fn sync(
        &mut self,
        configs: &[&HeightConfig],
        net_requests: &mpsc::Sender<NetworkRequest>,
    ) {
        let wanted = wanted(configs, &self.own);
        if wanted == self.current {
            return;
        }
        // The gate and the gossip hear of the change first: a node that joined is
        // listened to before it is connected, and one that left is no longer listened to
        // while it is being disconnected.
        let before = std::mem::replace(&mut self.current, wanted);
        self.publish();
        for (key, peer) in &self.current {
            let known = before.get(key).map(|p| &p.addr);
            if known != Some(&peer.addr) {
                info!(%key, addr = %peer.addr, "a node joined the roster; connecting");
                request(net_requests, peer.addr.clone(), true).await;
            }
        }
        for (key, peer) in &before {
            let kept = self.current.get(key).map(|p| &p.addr);
            if kept != Some(&peer.addr) && !self.bootstrap.contains(&peer.addr) {
                info!(%key, addr = %peer.addr, "a node left the roster; disconnecting");
                request(net_requests, peer.addr.clone(), false).await;
            }
        }
    }
}

async fn request(net_requests: &mpsc::Sender<NetworkRequest>, addr: Multiaddr, add: bool) {
    let result = if add {
        NetworkRequest::add_persistent_peer(net_requests, addr.clone()).await
    } else {
        NetworkRequest::remove_persistent_peer(net_requests, addr.clone()).await
    };
    match result {
        Ok(Ok(())) | Ok(Err(PersistentPeerError::AlreadyExists)) => {}
        Ok(Err(PersistentPeerError::NotFound)) if !add => {}
        Ok(Err(e)) => warn!(%addr, "updating the persistent peers: {e:?}"),
        Err(e) => warn!(%addr, "the network did not take the peer update: {e:?}"),
    }
}
