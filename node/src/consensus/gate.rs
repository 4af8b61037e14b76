//! The roster gate: the engine hears only the roster's nodes.
//!
//! The engine's network accepts only its persistent peers (`persistent_peers_only`), but
//! it decides that when the peer's Identify message arrives, after the connection is up.
//! In that window a stranger's requests reach the engine like anyone's: a sync request for
//! a decided block would be answered, and the stranger would hold the consortium's
//! transactions. The gate stands between the network and the engine and drops everything
//! a node that the roster does not name (nor a bootstrap address of this node's
//! configuration, by its `/p2p/` id) sends of its own accord: its connection, its
//! subscriptions, statuses, votes, proposals and parts, certificates, validator proofs and
//! sync requests. A dropped sync request is released at the network, so the stranger waits
//! for nothing but its own timeout. Answers to this node's own requests pass, whoever
//! they come from (the engine verifies them, and a peer that left the roster between a
//! request and its answer must not leave the request hanging).
//!
//! The roster's peer ids come from [`super::peers::PeerBook`], which publishes them before
//! it asks the network to connect a node that joined or to drop one that left.

use std::collections::HashSet;
use std::sync::Arc;

use malachitebft_app_channel::app::types::PeerId;
use malachitebft_engine::network::{Msg as NetworkMsg, NetworkEvent, NetworkRef, Subscriber};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;
use tracing::warn;

use super::context::XinbaoContext;
use crate::gossip::GossipPeers;
use crate::metrics::Metrics;
use crate::shared::Shared;

type Event = NetworkEvent<XinbaoContext>;

/// Most strangers named in the log.
const REPORTED_MAX: usize = 256;

/// Spawns the gate in front of `network`; the reference returned is the engine's network.
pub async fn spawn(
    network: NetworkRef<XinbaoContext>,
    roster: watch::Receiver<Arc<GossipPeers>>,
    bootstrap: Vec<libp2p::PeerId>,
    shared: Arc<Shared>,
) -> Result<NetworkRef<XinbaoContext>, super::ConsensusError> {
    let gate = Gate {
        network,
        roster,
        bootstrap: bootstrap.iter().filter_map(engine_peer_id).collect(),
        shared,
    };
    let (actor, _) = Actor::spawn(None, gate, ())
        .await
        .map_err(super::ConsensusError::start("the roster gate"))?;
    Ok(actor)
}

fn engine_peer_id(id: &libp2p::PeerId) -> Option<PeerId> {
    PeerId::from_bytes(&id.to_bytes()).ok()
}

/// The peer an event comes from, if the peer sent it of its own accord.
fn unsolicited_from(event: &Event) -> Option<PeerId> {
    match event {
        NetworkEvent::PeerConnected(peer)
        | NetworkEvent::PeerSubscribed(peer, _)
        | NetworkEvent::Vote(peer, _)
        | NetworkEvent::Proposal(peer, _)
        | NetworkEvent::ProposalPart(peer, _, _)
        | NetworkEvent::PolkaCertificate(peer, _)
        | NetworkEvent::RoundCertificate(peer, _)
        | NetworkEvent::ValidatorProofReceived { peer_id: peer, .. }
        | NetworkEvent::Status(peer, _)
        | NetworkEvent::SyncRequest(_, peer, _) => Some(*peer),
        NetworkEvent::Listening(_)
        | NetworkEvent::PeerDisconnected(_)
        | NetworkEvent::SyncResponse(..)
        | NetworkEvent::SyncRequestFailed(..)
        | NetworkEvent::SyncInboundRequestFailed(..) => None,
    }
}

/// The peers whose messages pass: the roster's nodes and the bootstrap peers.
struct Admitted {
    roster: watch::Receiver<Arc<GossipPeers>>,
    bootstrap: Vec<PeerId>,
    ids: HashSet<PeerId>,
    /// Strangers already reported in the log (each is logged once, up to
    /// [`REPORTED_MAX`]; the metric counts them all).
    reported: HashSet<PeerId>,
}

impl Admitted {
    fn new(mut roster: watch::Receiver<Arc<GossipPeers>>, bootstrap: Vec<PeerId>) -> Admitted {
        roster.mark_changed();
        Admitted {
            roster,
            bootstrap,
            ids: HashSet::new(),
            reported: HashSet::new(),
        }
    }

    fn admits(&mut self, peer: &PeerId) -> bool {
        if self.roster.has_changed().unwrap_or(false) {
            let peers = self.roster.borrow_and_update().clone();
            self.ids = peers
                .peers
                .iter()
                .filter_map(|p| engine_peer_id(&p.peer_id))
                .chain(self.bootstrap.iter().copied())
                .collect();
        }
        self.ids.contains(peer)
    }
}

/// Passes the engine's requests to the network; puts a [`Filter`] between the network's
/// events and each subscriber.
struct Gate {
    network: NetworkRef<XinbaoContext>,
    roster: watch::Receiver<Arc<GossipPeers>>,
    bootstrap: Vec<PeerId>,
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl Actor for Gate {
    type Msg = NetworkMsg<XinbaoContext>;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let msg = match msg {
            NetworkMsg::Subscribe(downstream) => {
                let shared = self.shared.clone();
                let filter = Filter {
                    network: self.network.clone(),
                    refused: Arc::new(move || {
                        Metrics::add(&shared.metrics.p2p_messages_refused, 1)
                    }),
                };
                let state = FilterState {
                    downstream,
                    admitted: Admitted::new(self.roster.clone(), self.bootstrap.clone()),
                };
                let (filter, _) = Actor::spawn(None, filter, state).await?;
                NetworkMsg::Subscribe(Box::new(filter))
            }
            other => other,
        };
        self.network.cast(msg)?;
        Ok(())
    }
}

/// An event on its way from the network to one subscriber.
struct Filtered(Event);

impl From<Event> for Filtered {
    fn from(event: Event) -> Filtered {
        Filtered(event)
    }
}

struct Filter {
    network: NetworkRef<XinbaoContext>,
    /// Counts one dropped message.
    refused: Arc<dyn Fn() + Send + Sync>,
}

struct FilterState {
    downstream: Box<dyn Subscriber<Event>>,
    admitted: Admitted,
}

#[async_trait::async_trait]
impl Actor for Filter {
    type Msg = Filtered;
    type State = FilterState;
    type Arguments = FilterState;

    async fn pre_start(
        &self,
        _myself: ActorRef<Filtered>,
        state: FilterState,
    ) -> Result<FilterState, ActorProcessingErr> {
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Filtered>,
        Filtered(event): Filtered,
        state: &mut FilterState,
    ) -> Result<(), ActorProcessingErr> {
        let Some(peer) = unsolicited_from(&event) else {
            state.downstream.send(event);
            return Ok(());
        };
        if state.admitted.admits(&peer) {
            state.downstream.send(event);
            return Ok(());
        }
        (self.refused)();
        let reported = &mut state.admitted.reported;
        if reported.len() < REPORTED_MAX && reported.insert(peer) {
            warn!(%peer, "a node the roster does not name spoke to this node; not listening");
        }
        if let NetworkEvent::SyncRequest(request, _, _) = event {
            self.network
                .cast(NetworkMsg::CancelInboundRequest(request))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::GossipPeer;

    fn node(n: u8) -> libp2p::PeerId {
        libp2p::identity::Keypair::ed25519_from_bytes([n; 32])
            .unwrap()
            .public()
            .to_peer_id()
    }

    fn roster(nodes: &[u8]) -> Arc<GossipPeers> {
        Arc::new(GossipPeers {
            peers: nodes
                .iter()
                .map(|&n| GossipPeer {
                    peer_id: node(n),
                    addr: format!(
                        "/ip4/127.0.0.1/tcp/{}/p2p/{}",
                        27000 + u16::from(n),
                        node(n)
                    )
                    .parse()
                    .unwrap(),
                    validator: true,
                })
                .collect(),
        })
    }

    fn engine(n: u8) -> PeerId {
        engine_peer_id(&node(n)).unwrap()
    }

    #[test]
    fn the_gate_admits_the_roster_and_the_bootstrap_peers_as_the_roster_changes() {
        let (publish, receiver) = watch::channel(roster(&[1, 2]));
        let mut admitted = Admitted::new(receiver, vec![engine(9)]);
        assert!(admitted.admits(&engine(1)));
        assert!(admitted.admits(&engine(2)));
        assert!(admitted.admits(&engine(9)), "a bootstrap peer");
        assert!(!admitted.admits(&engine(3)), "a stranger");

        // Governance removes node 2 and adds node 3.
        publish.send_replace(roster(&[1, 3]));
        assert!(admitted.admits(&engine(3)));
        assert!(!admitted.admits(&engine(2)), "a node that left");
        assert!(admitted.admits(&engine(9)));
    }

    /// What reached the engine, and what the network was asked to release.
    enum Seen {
        Event(Box<Event>),
        Released(malachitebft_sync::InboundRequestId),
    }

    impl From<Event> for Seen {
        fn from(event: Event) -> Seen {
            Seen::Event(Box::new(event))
        }
    }

    /// Stands for the engine, or for the network: passes on what it gets.
    struct Recorder(tokio::sync::mpsc::UnboundedSender<Seen>);

    #[async_trait::async_trait]
    impl Actor for Recorder {
        type Msg = Seen;
        type State = ();
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<Seen>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
        async fn handle(
            &self,
            _: ActorRef<Seen>,
            seen: Seen,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            let _ = self.0.send(seen);
            Ok(())
        }
    }

    struct FakeNetwork(tokio::sync::mpsc::UnboundedSender<Seen>);

    #[async_trait::async_trait]
    impl Actor for FakeNetwork {
        type Msg = NetworkMsg<XinbaoContext>;
        type State = ();
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
        async fn handle(
            &self,
            _: ActorRef<Self::Msg>,
            msg: Self::Msg,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            if let NetworkMsg::CancelInboundRequest(id) = msg {
                let _ = self.0.send(Seen::Released(id));
            }
            Ok(())
        }
    }

    fn sync_request(id: &str, peer: PeerId) -> Event {
        NetworkEvent::SyncRequest(
            malachitebft_sync::InboundRequestId::new(id),
            peer,
            malachitebft_sync::Request::ValueRequest(malachitebft_sync::ValueRequest::new(
                super::super::context::Height(1)..=super::super::context::Height(1),
            )),
        )
    }

    #[tokio::test]
    async fn a_strangers_sync_request_never_reaches_the_engine_and_is_released() {
        let (to_test, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let (consensus, _) = Actor::spawn(None, Recorder(to_test.clone()), ())
            .await
            .unwrap();
        let (network, _) = Actor::spawn(None, FakeNetwork(to_test), ()).await.unwrap();
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = refused.clone();
        let filter = Filter {
            network,
            refused: Arc::new(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }),
        };
        let (_publish, roster_rx) = watch::channel(roster(&[1]));
        let state = FilterState {
            downstream: Box::new(consensus),
            admitted: Admitted::new(roster_rx, Vec::new()),
        };
        let (filter, _) = Actor::spawn(None, filter, state).await.unwrap();

        let stranger = engine(7);
        let member = engine(1);
        for event in [
            NetworkEvent::PeerConnected(stranger),
            sync_request("from-stranger", stranger),
            NetworkEvent::PeerConnected(member),
            sync_request("from-member", member),
            NetworkEvent::PeerDisconnected(stranger),
        ] {
            filter.cast(Filtered(event)).unwrap();
        }

        let mut got = Vec::new();
        while got.len() < 4 {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), seen.recv())
                .await
                .expect("the gate passed on less than it should")
                .unwrap();
            got.push(match next {
                Seen::Event(event) => match *event {
                    NetworkEvent::PeerConnected(p) => format!("connected {p}"),
                    NetworkEvent::PeerDisconnected(p) => format!("disconnected {p}"),
                    NetworkEvent::SyncRequest(id, p, _) => format!("request {id} {p}"),
                    _ => "something else".to_string(),
                },
                Seen::Released(id) => format!("released {id}"),
            });
        }
        got.sort();
        let mut want = vec![
            "released from-stranger".to_string(),
            format!("connected {member}"),
            format!("request from-member {member}"),
            format!("disconnected {stranger}"),
        ];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), seen.recv())
                .await
                .is_err(),
            "the gate passed on more than it should"
        );
    }
}
