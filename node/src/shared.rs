//! What the consensus loop, the HTTP API and the gossip share: the chain, the mempool,
//! the clock, the metrics and the network view.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::chain::Chain;
use crate::gossip::Outbox;
use crate::mempool::Mempool;

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

/// A Prometheus histogram with fixed buckets (upper bounds, inclusive) over whole units.
pub struct Histogram {
    bounds: &'static [u64],
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: u64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition lines of `name` (cumulative buckets, `+Inf`, sum and count), each
    /// observed value divided by `per_unit` (1000 to show milliseconds as seconds, the
    /// base unit Prometheus names expect).
    pub fn render(&self, name: &str, help: &str, per_unit: u64) -> String {
        let unit = |value: u64| -> String {
            if per_unit == 1 {
                value.to_string()
            } else {
                (value as f64 / per_unit as f64).to_string()
            }
        };
        let mut text = format!("# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            text.push_str(&format!(
                "{name}_bucket{{le=\"{}\"}} {cumulative}\n",
                unit(*bound)
            ));
        }
        let count = self.count.load(Ordering::Relaxed);
        text.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {count}\n"));
        text.push_str(&format!(
            "{name}_sum {}\n{name}_count {count}\n",
            unit(self.sum.load(Ordering::Relaxed))
        ));
        text
    }
}

/// Milliseconds.
const MS_BUCKETS: &[u64] = &[
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];
/// Transactions in a block.
const TX_BUCKETS: &[u64] = &[
    0, 1, 10, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000,
];

pub struct Histograms {
    /// From a transaction's arrival in this node's mempool to its commit.
    pub commit_latency_ms: Histogram,
    /// Executing a block (proposing or validating it).
    pub block_execution_ms: Histogram,
    /// Writing a decided block durably.
    pub block_commit_ms: Histogram,
    pub block_txs: Histogram,
    /// Transactions the intake thread checked together (`intake`).
    pub intake_batch_txs: Histogram,
}

impl Default for Histograms {
    fn default() -> Self {
        Histograms {
            commit_latency_ms: Histogram::new(MS_BUCKETS),
            block_execution_ms: Histogram::new(MS_BUCKETS),
            block_commit_ms: Histogram::new(MS_BUCKETS),
            block_txs: Histogram::new(TX_BUCKETS),
            intake_batch_txs: Histogram::new(TX_BUCKETS),
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    pub height: AtomicU64,
    pub txs_committed: AtomicU64,
    pub txs_rejected: AtomicU64,
    pub txs_received: AtomicU64,
    pub txs_refused: AtomicU64,
    pub proposals_invalid: AtomicU64,
    pub blocks_synced: AtomicU64,
    /// Double votes the engine reported (each kept as evidence).
    pub equivocating_votes: AtomicU64,
    /// Double proposals the engine reported.
    pub equivocating_proposals: AtomicU64,
    pub gossip_outbox_dropped: AtomicU64,
    pub gossip_batches_sent: AtomicU64,
    pub gossip_txs_sent: AtomicU64,
    pub gossip_txs_received: AtomicU64,
    pub gossip_batches_dropped: AtomicU64,
    pub gossip_send_failures: AtomicU64,
    pub signatures_verified: AtomicU64,
    /// Received gossip batches waiting for intake.
    pub gossip_inbox_batches: AtomicU64,
    /// Consensus-network messages dropped because their node is not in the roster.
    pub p2p_messages_refused: AtomicU64,
    pub histograms: Histograms,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The connected peers, as last reported by the network (peer ids).
#[derive(Default)]
pub struct NetworkView {
    pub peers: RwLock<Vec<String>>,
}

pub struct Shared {
    pub chain: Chain,
    pub mempool: Mutex<Mempool>,
    pub clock: Clock,
    pub metrics: Metrics,
    pub network: NetworkView,
    /// Transactions this node's staff submitted, for the other validators (see `gossip`).
    pub gossip: Outbox,
    /// The way into the intake thread, for the API and the gossip.
    pub intake: crate::intake::Queue,
    pub peer_id: String,
    /// The committed height, announced to readers waiting for new blocks (the API's
    /// event stream).
    pub committed: tokio::sync::watch::Sender<u64>,
}
