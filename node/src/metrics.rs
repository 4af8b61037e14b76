//! The node's counters and histograms, which every part adds to and `/metrics` reads.

use std::sync::atomic::{AtomicU64, Ordering};

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
