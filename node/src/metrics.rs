//! The node's counters and histograms, which every part adds to and `/metrics` reads.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::core::Collector;
use prometheus::{Encoder, HistogramOpts, IntCounter, IntGauge, Registry, TextEncoder};

/// A histogram of whole units (milliseconds, transactions), exposed in `per_unit`s of
/// them: 1,000 to show milliseconds as seconds, the base unit Prometheus names expect.
pub struct Histogram {
    inner: prometheus::Histogram,
    per_unit: f64,
}

impl Histogram {
    /// `name`'s histogram with these buckets (upper bounds, inclusive, in whole units).
    fn new(name: &str, help: &str, bounds: &[u64], per_unit: u64) -> Histogram {
        let per_unit = per_unit as f64;
        let buckets = bounds.iter().map(|b| *b as f64 / per_unit).collect();
        let inner =
            prometheus::Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("a valid name and increasing buckets");
        Histogram { inner, per_unit }
    }

    pub fn observe(&self, value: u64) {
        self.inner.observe(value as f64 / self.per_unit);
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
            commit_latency_ms: Histogram::new(
                "xinbao_commit_latency_seconds",
                "From a transaction's arrival in this node's mempool to its commit.",
                MS_BUCKETS,
                1_000,
            ),
            block_execution_ms: Histogram::new(
                "xinbao_block_execution_seconds",
                "Executing a block to propose or validate it.",
                MS_BUCKETS,
                1_000,
            ),
            block_commit_ms: Histogram::new(
                "xinbao_block_commit_seconds",
                "Writing a decided block durably.",
                MS_BUCKETS,
                1_000,
            ),
            block_txs: Histogram::new(
                "xinbao_block_txs",
                "Transactions in each committed block.",
                TX_BUCKETS,
                1,
            ),
            intake_batch_txs: Histogram::new(
                "xinbao_intake_batch_txs",
                "Transactions the intake thread checked together, their signatures in one batch.",
                TX_BUCKETS,
                1,
            ),
        }
    }
}

impl Histograms {
    fn all(&self) -> [&Histogram; 5] {
        [
            &self.commit_latency_ms,
            &self.block_execution_ms,
            &self.block_commit_ms,
            &self.block_txs,
            &self.intake_batch_txs,
        ]
    }
}

/// Whether a series counts up from the node's start or says how much of something there
/// is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// One series of `/metrics` read when it is scraped: name, kind, help, value.
pub type Series = (&'static str, Kind, &'static str, u64);

/// The exposition of `series` and `histograms` in Prometheus' text format (version
/// 0.0.4, the one `promtool check metrics` reads), by the `prometheus` crate: the values
/// are read at each scrape from where the node keeps them, so the registry is built for
/// the scrape.
pub fn exposition(series: &[Series], histograms: &Histograms) -> String {
    let registry = Registry::new();
    let register = |collector: Box<dyn Collector>| {
        registry
            .register(collector)
            .expect("each series has its own valid name")
    };
    for &(name, kind, help, value) in series {
        match kind {
            Kind::Counter => {
                let counter = IntCounter::new(name, help).expect("a valid name");
                counter.inc_by(value);
                register(Box::new(counter));
            }
            Kind::Gauge => {
                let gauge = IntGauge::new(name, help).expect("a valid name");
                gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
                register(Box::new(gauge));
            }
        }
    }
    for histogram in histograms.all() {
        register(Box::new(histogram.inner.clone()));
    }
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .expect("the text encoder writes to memory");
    String::from_utf8(text).expect("the text format is UTF-8")
}

/// The media type of [`exposition`].
pub const EXPOSITION_TYPE: &str = prometheus::TEXT_FORMAT;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_holds_each_series_and_histogram_in_the_text_format() {
        let histograms = Histograms::default();
        histograms.commit_latency_ms.observe(7);
        histograms.commit_latency_ms.observe(40_000);
        histograms.block_txs.observe(3);
        let text = exposition(
            &[
                ("xinbao_height", Kind::Gauge, "Height.", 12),
                (
                    "xinbao_txs_committed_total",
                    Kind::Counter,
                    "Committed.",
                    34,
                ),
            ],
            &histograms,
        );
        for line in [
            "# HELP xinbao_height Height.",
            "# TYPE xinbao_height gauge",
            "xinbao_height 12",
            "# TYPE xinbao_txs_committed_total counter",
            "xinbao_txs_committed_total 34",
            "# TYPE xinbao_commit_latency_seconds histogram",
            "xinbao_commit_latency_seconds_bucket{le=\"0.005\"} 0",
            "xinbao_commit_latency_seconds_bucket{le=\"0.01\"} 1",
            "xinbao_commit_latency_seconds_bucket{le=\"30\"} 1",
            "xinbao_commit_latency_seconds_bucket{le=\"+Inf\"} 2",
            "xinbao_commit_latency_seconds_sum 40.007",
            "xinbao_commit_latency_seconds_count 2",
            "xinbao_block_txs_bucket{le=\"1\"} 0",
            "xinbao_block_txs_bucket{le=\"10\"} 1",
            "xinbao_intake_batch_txs_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }
}
