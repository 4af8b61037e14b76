//! Transaction gossip over the consortium's own authenticated p2p network.
//!
//! A transaction that a member's staff submit to its node is sent, in batches, to every
//! validator of the roster, so that whoever proposes next has it. The consensus engine
//! gives the application no channel of its own on its network, so the gossip runs a
//! second small libp2p swarm beside it: the same libp2p, the same identity (the node's
//! consensus key, so the same peer id), on the next TCP port (`p2p port + 1`,
//! [`gossip_address`]), with Noise authentication and an allowlist of exactly the peer
//! ids of the roster ([`GossipPeers`], kept by `consensus::peers`): a connection from
//! anyone else is refused at the handshake. Members' HTTP APIs serve only their own staff.
//!
//! Every receiver runs the full intake checks on every transaction (a batch from a peer
//! proves nothing about its contents), and a received transaction is not sent on: the
//! validators form a full mesh, so one hop reaches them all. A batch that cannot be
//! delivered loses nothing: the transaction stays in the mempool of the node that took
//! it, which proposes it in its turn.
//!
//! Everything is bounded: [`crate::limits::GOSSIP_OUTBOX_TXS_MAX`] transactions waiting to be sent (new ones
//! are dropped and counted beyond it), batches of at most [`GOSSIP_BATCH_TXS_MAX`] transactions
//! and [`GOSSIP_BATCH_BYTES_MAX`] bytes, [`GOSSIP_INBOX_BATCHES_MAX`] received batches waiting for
//! intake (a batch is dropped and counted beyond it).

use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, identity::Keypair, Multiaddr, PeerId, StreamProtocol};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::limits::{
    GOSSIP_BATCH_BYTES_MAX, GOSSIP_BATCH_TXS_MAX, GOSSIP_INBOX_BATCHES_MAX,
    GOSSIP_REQUEST_BYTES_MAX,
};
use crate::metrics::Metrics;
use crate::shared::Shared;

/// A batch leaves at the latest this long after its first transaction arrived.
const FLUSH_INTERVAL: Duration = Duration::from_millis(10);
const RESPONSE_BYTES_MAX: usize = 64;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections are kept while the peers are in the roster.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3_600);

/// Why the gossip could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// The gossip's protocol name is not one libp2p accepts.
    #[error(transparent)]
    Protocol(#[from] libp2p::swarm::InvalidProtocol),
    /// The transport's Noise authentication could not be set up with the node's key.
    #[error(transparent)]
    Transport(#[from] libp2p::noise::Error),
    /// The transport's name resolution could not be set up (the system's DNS
    /// configuration).
    #[error(transparent)]
    Dns(#[from] io::Error),
    /// The gossip's address could not be listened on.
    #[error(transparent)]
    Listen(#[from] libp2p::TransportError<io::Error>),
    /// The intake's outbox of transactions to send closed.
    #[error("the gossip outbox closed")]
    OutboxClosed,
    /// Consensus's list of the roster's nodes closed.
    #[error("the peer list closed")]
    PeersClosed,
}

/// One node the gossip may talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipPeer {
    pub peer_id: PeerId,
    /// Its consensus address (with `/p2p/…`); the gossip uses the next port.
    pub addr: Multiaddr,
    /// Validators are sent transactions; followers are only allowed to connect.
    pub validator: bool,
}

/// The roster's nodes as the gossip sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GossipPeers {
    pub peers: Vec<GossipPeer>,
}

/// Where a node's gossip listens, given its consensus address: the same address with the
/// TCP port one higher. `None` for an address without a TCP port.
pub fn gossip_address(addr: &Multiaddr) -> Option<Multiaddr> {
    let mut found = false;
    let mut out = Multiaddr::empty();
    for protocol in addr.iter() {
        match protocol {
            Protocol::Tcp(port) if !found => {
                found = true;
                out.push(Protocol::Tcp(port.checked_add(1)?));
            }
            Protocol::P2p(_) => {}
            other => out.push(other),
        }
    }
    found.then_some(out)
}

/// A batch on the wire: the canonical encoding of the transactions' canonical bytes.
type Batch = Vec<Vec<u8>>;

fn encode_batch(batch: &Batch) -> Vec<u8> {
    ledger::codec::encode(batch)
}

fn decode_batch(bytes: &[u8]) -> Result<Batch, ledger::codec::CodecError> {
    ledger::codec::decode(bytes, GOSSIP_REQUEST_BYTES_MAX)
}

/// Length-prefixed frames, as the engine's own request/response protocols use.
#[derive(Clone, Copy, Default)]
struct FrameCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes, at most {max}"),
        ));
    }
    let mut data = vec![0u8; len];
    io.read_exact(&mut data).await?;
    Ok(data)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    data: &[u8],
    max: usize,
) -> io::Result<()> {
    if data.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a frame over the limit",
        ));
    }
    io.write_all(&(data.len() as u32).to_be_bytes()).await?;
    io.write_all(data).await?;
    io.flush().await
}

#[async_trait]
impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, GOSSIP_REQUEST_BYTES_MAX).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, RESPONSE_BYTES_MAX).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, GOSSIP_REQUEST_BYTES_MAX).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, RESPONSE_BYTES_MAX).await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    txs: request_response::Behaviour<FrameCodec>,
}

/// What the gossip is started with.
pub struct GossipSettings {
    pub keypair: Keypair,
    pub listen: Multiaddr,
    /// The protocol name, which carries the genesis hash (as the engine's do).
    pub protocol: String,
}

/// Runs the gossip until the node stops.
pub async fn run(
    shared: Arc<Shared>,
    settings: GossipSettings,
    mut outbox: mpsc::Receiver<Vec<u8>>,
    mut peers: watch::Receiver<Arc<GossipPeers>>,
) -> Result<(), GossipError> {
    let protocol = StreamProtocol::try_from_owned(settings.protocol)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(settings.keypair)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::new().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )?
        .with_dns()?
        .with_behaviour(|_| Behaviour {
            allow: allow_block_list::Behaviour::default(),
            txs: request_response::Behaviour::with_codec(
                FrameCodec,
                [(protocol, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
            ),
        })
        // A behaviour given as it is cannot fail to be built.
        .unwrap_or_else(|never| match never {})
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    swarm.listen_on(settings.listen.clone())?;
    info!(addr = %settings.listen, "transaction gossip listening");

    let (inbox_tx, inbox_rx) = mpsc::channel::<Batch>(GOSSIP_INBOX_BATCHES_MAX);
    tokio::spawn(intake_worker(shared.clone(), inbox_rx));

    let mut targets: Vec<(PeerId, Multiaddr)> = Vec::new();
    let mut allowed: BTreeSet<PeerId> = BTreeSet::new();
    let mut apply_peers = |swarm: &mut libp2p::Swarm<Behaviour>,
                           targets: &mut Vec<(PeerId, Multiaddr)>,
                           list: &GossipPeers| {
        let wanted: BTreeSet<PeerId> = list.peers.iter().map(|p| p.peer_id).collect();
        for gone in allowed.difference(&wanted) {
            swarm.behaviour_mut().allow.disallow_peer(*gone);
        }
        for new in wanted.difference(&allowed) {
            swarm.behaviour_mut().allow.allow_peer(*new);
        }
        allowed = wanted;
        *targets = list
            .peers
            .iter()
            .filter(|p| p.validator)
            .filter_map(|p| gossip_address(&p.addr).map(|a| (p.peer_id, a)))
            .collect();
    };
    apply_peers(&mut swarm, &mut targets, &peers.borrow_and_update());

    let mut pending: Batch = Vec::new();
    let mut pending_bytes = 0usize;
    let mut flush = tokio::time::interval(FLUSH_INTERVAL);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let metrics = &shared.metrics;
    loop {
        let send_now = tokio::select! {
            event = swarm.select_next_some() => {
                handle_event(&mut swarm, event, &inbox_tx, &shared);
                false
            }
            tx = outbox.recv() => {
                let Some(tx) = tx else { return Err(GossipError::OutboxClosed) };
                pending_bytes += tx.len();
                pending.push(tx);
                pending.len() >= GOSSIP_BATCH_TXS_MAX || pending_bytes >= GOSSIP_BATCH_BYTES_MAX
            }
            _ = flush.tick() => !pending.is_empty(),
            changed = peers.changed() => {
                if changed.is_err() {
                    return Err(GossipError::PeersClosed);
                }
                apply_peers(&mut swarm, &mut targets, &peers.borrow_and_update());
                false
            }
        };
        if send_now {
            let batch = std::mem::take(&mut pending);
            pending_bytes = 0;
            let bytes = encode_batch(&batch);
            for (peer, addr) in &targets {
                swarm.behaviour_mut().txs.send_request_with_addresses(
                    peer,
                    bytes.clone(),
                    vec![addr.clone()],
                );
            }
            Metrics::add(&metrics.gossip_batches_sent, 1);
            Metrics::add(&metrics.gossip_txs_sent, batch.len() as u64);
        }
    }
}

fn handle_event(
    swarm: &mut libp2p::Swarm<Behaviour>,
    event: SwarmEvent<BehaviourEvent>,
    inbox: &mpsc::Sender<Batch>,
    shared: &Shared,
) {
    let metrics = &shared.metrics;
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Txs(request_response::Event::Message {
            peer,
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) => {
            // Acknowledge at once: the batch is the receiver's to check now.
            let _ = swarm.behaviour_mut().txs.send_response(channel, vec![1]);
            match decode_batch(&request) {
                Ok(batch) if batch.len() <= GOSSIP_BATCH_TXS_MAX => {
                    Metrics::add(&metrics.gossip_txs_received, batch.len() as u64);
                    metrics.gossip_inbox_batches.store(
                        (GOSSIP_INBOX_BATCHES_MAX - inbox.capacity()) as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    if inbox.try_send(batch).is_err() {
                        Metrics::add(&metrics.gossip_batches_dropped, 1);
                        debug!(%peer, "gossip inbox full; a batch was dropped");
                    }
                }
                Ok(batch) => {
                    warn!(%peer, txs = batch.len(), "a gossip batch over the limit");
                }
                Err(e) => warn!(%peer, "a gossip batch that does not decode: {e}"),
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Txs(request_response::Event::OutboundFailure {
            peer,
            error,
            ..
        })) => {
            Metrics::add(&metrics.gossip_send_failures, 1);
            debug!(%peer, "a gossip batch was not delivered: {error}");
        }
        SwarmEvent::Behaviour(BehaviourEvent::Txs(request_response::Event::InboundFailure {
            peer,
            error,
            ..
        })) => debug!(%peer, "a gossip batch was not received: {error}"),
        SwarmEvent::IncomingConnectionError { error, .. } => {
            debug!("gossip connection refused: {error}")
        }
        _ => {}
    }
}

/// Hands received batches to the intake thread, which checks them with whatever else
/// waits, without waiting for the verdicts: several batches (from several peers) then join
/// one check, and a batch never waits behind the check of the one before. Refusals are
/// expected (a duplicate, an expired one) and counted by intake.
async fn intake_worker(shared: Arc<Shared>, mut inbox: mpsc::Receiver<Batch>) {
    while let Some(batch) = inbox.recv().await {
        let txs = batch.iter().map(|b| crate::intake::decode(b)).collect();
        if !shared.intake.offer(txs, crate::intake::Origin::Peer).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gossip_port_is_the_next_one() {
        let addr: Multiaddr =
            "/ip4/10.0.0.1/tcp/27000/p2p/12D3KooWGmuQ1nKSKUodAfHMdhbEdA4bdJ9mRRDkvTGPnUnPQdXE"
                .parse()
                .unwrap();
        assert_eq!(
            gossip_address(&addr).unwrap().to_string(),
            "/ip4/10.0.0.1/tcp/27001"
        );
        let dns: Multiaddr = "/dns4/node.bank.example/tcp/27000".parse().unwrap();
        assert_eq!(
            gossip_address(&dns).unwrap().to_string(),
            "/dns4/node.bank.example/tcp/27001"
        );
        let quic: Multiaddr = "/ip4/10.0.0.1/udp/27000/quic-v1".parse().unwrap();
        assert_eq!(gossip_address(&quic), None);
    }

    #[test]
    fn batches_round_trip_and_are_bounded() {
        let batch: Batch = vec![vec![1, 2, 3], vec![], vec![9; 100]];
        assert_eq!(decode_batch(&encode_batch(&batch)).unwrap(), batch);
        assert!(decode_batch(&[0xff; 16]).is_err());
    }
}
