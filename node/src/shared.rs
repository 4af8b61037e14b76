//! What the consensus loop, the HTTP API and the gossip share: the chain, the mempool,
//! the clock, the metrics and the network view.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::chain::Chain;
use crate::intake::{Outbox, Queue};
use crate::mempool::Pool;
use crate::metrics::Metrics;

/// Milliseconds since the Unix epoch on this machine.
pub fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where block times come from: the system clock, or (with `--devnet-clock`) a clock set
/// over the API so that months of a programme can be replayed in minutes.
pub struct Clock {
    devnet_ms: Option<AtomicU64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { devnet_ms: None }
    }

    /// A settable clock starting at `start_ms` (the genesis time): until it is set, blocks
    /// are 1 ms apart from the genesis on, so a devnet whose genesis is dated before a
    /// scenario's first step can still replay it from that step's date.
    pub fn devnet(start_ms: u64) -> Clock {
        Clock {
            devnet_ms: Some(AtomicU64::new(start_ms)),
        }
    }

    pub fn is_devnet(&self) -> bool {
        self.devnet_ms.is_some()
    }

    /// Sets the devnet clock; `false` if this is not a devnet clock.
    pub fn set_ms(&self, ms: u64) -> bool {
        match &self.devnet_ms {
            Some(clock) => {
                clock.store(ms, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    pub fn now_ms(&self) -> u64 {
        match &self.devnet_ms {
            Some(clock) => clock.load(Ordering::SeqCst),
            None => system_now_ms(),
        }
    }

    /// The time of a block after one at `previous_ms`: the clock, but always after it.
    pub fn block_time_ms(&self, previous_ms: u64) -> u64 {
        self.now_ms().max(previous_ms + 1)
    }

    /// What a validator compares a proposal's time against: `None` on a devnet clock,
    /// whose proposers may be set ahead of this node's clock.
    pub fn drift_reference_ms(&self) -> Option<u64> {
        if self.is_devnet() {
            None
        } else {
            Some(system_now_ms())
        }
    }
}

/// The connected peers, as last reported by the network (peer ids).
#[derive(Default)]
pub struct NetworkView {
    pub peers: RwLock<Vec<String>>,
}

pub struct Shared {
    pub chain: Arc<Chain>,
    pub mempool: Arc<Pool>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub network: NetworkView,
    /// Transactions this node's staff submitted, on their way to the other validators:
    /// the intake puts them there, the gossip takes them (read here for the metrics).
    pub gossip: Outbox,
    /// The way into the intake thread, for the API and the gossip.
    pub intake: Queue,
    pub peer_id: String,
    /// The committed height, announced to readers waiting for new blocks (the API's
    /// event stream).
    pub committed: tokio::sync::watch::Sender<u64>,
}
