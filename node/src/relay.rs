//! Transaction relay: a transaction accepted by one validator is pushed once to every other
//! validator's HTTP API (`POST /v1/tx` with the `x-xinbao-relayed` header), so whoever
//! proposes next has it.
//!
//! Why this scheme: Malachite 0.8.2 gives the application no gossip channel of its own
//! (the network carries only consensus messages, proposal parts and sync), and a second
//! libp2p swarm would mean a second identity and allowlist to keep in step. The validators
//! form a full mesh, so one hop reaches all of them and a relayed transaction is never
//! relayed again: no loops, no fan-out. Every receiver runs the full intake checks, so a
//! push needs no authentication of its own (a forged push is just a transaction that is
//! refused or, if valid, was anyone's to submit). It is bounded: one queue of
//! [`RELAY_QUEUE_MAX`] transactions, dropped when full. A dropped or failed push loses
//! nothing: the transaction stays in the receiving node's mempool and is proposed when that
//! node's turn comes (round-robin: within one rotation of the validator set).

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::debug;

/// Transactions waiting to be pushed.
pub const RELAY_QUEUE_MAX: usize = 4_096;
/// One push may take this long.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// The header that marks a pushed transaction (it is not pushed again).
pub const RELAYED_HEADER: &str = "x-xinbao-relayed";

pub fn queue() -> (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>) {
    mpsc::channel(RELAY_QUEUE_MAX)
}

/// Pushes queued transactions to every peer, one at a time.
pub async fn run(peers: Vec<String>, mut queue: mpsc::Receiver<Vec<u8>>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(PUSH_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    while let Some(bytes) = queue.recv().await {
        let agent = agent.clone();
        let peers = peers.clone();
        let pushed = tokio::task::spawn_blocking(move || {
            for peer in &peers {
                let url = format!("http://{peer}/v1/tx");
                let result = agent
                    .post(&url)
                    .header("Content-Type", "application/octet-stream")
                    .header(RELAYED_HEADER, "1")
                    .send(&bytes[..]);
                if let Err(e) = result {
                    debug!(%peer, "relay push failed: {e}");
                }
            }
        })
        .await;
        if let Err(e) = pushed {
            debug!("relay task failed: {e}");
        }
    }
}
