//! What the store benches share: a store of programmes, blocks committed as a validator
//! commits them (with the claims desk's and the loan clocks' changes), and timing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use contracts::store::{keys, Programme, ProgrammeStatus};
use ledger::block::{Block, BlockHeader, BlockId, CommitCertificate};
use ledger::state::WriteSet;
use ledger::{Fen, Id};
use node::store::{Commit, Store, Tip};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

/// How many programmes the benches' records are spread over.
pub const PROGRAMMES: usize = 8;

/// The bench's own arguments: those after the program's name, without the flags cargo
/// passes to every bench (`--bench`).
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect()
}

/// A new store under the temporary directory whose genesis holds [`PROGRAMMES`]
/// programmes (`prog-0`, `prog-1`, …), with its directory and tip.
pub fn store_with_programmes(name: &str) -> (Store, PathBuf, Tip) {
    let dir = std::env::temp_dir().join(format!("xinbao-{name}-{}", std::process::id()));
    let store = Store::open(&dir).expect("a store");
    let genesis = [9; 32];
    let tip = Tip {
        height: 0,
        block_id: BlockId(genesis),
        state_root: [0; 32],
        time_ms: 1,
    };
    let mut writes = WriteSet::new();
    for p in 0..PROGRAMMES {
        let record = programme(p);
        writes.put(
            keys::programme(&record.terms.id),
            ledger::codec::encode(&record),
        );
    }
    store.init_genesis(genesis, &writes, tip).expect("genesis");
    (store, dir, tip)
}

/// Programme `p` on the worked stress model's terms, of insurer `ins-{p % 3}`.
fn programme(p: usize) -> Programme {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../network-configs/stress/ningbo-style.json");
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model).expect("the worked stress model")).unwrap();
    let mut terms: ledger::action::CreateProgramme =
        serde_json::from_value(model["programme"].clone()).expect("a CreateProgramme");
    terms.id = Id::new(format!("prog-{p}")).unwrap();
    terms.insurer = Id::new(format!("ins-{}", p % 3)).unwrap();
    Programme {
        terms,
        status: ProgrammeStatus::Active,
        premium_written_fen: Fen::ZERO,
        claims_gross_fen: Fen::ZERO,
        warnings: Vec::new(),
    }
}

/// Commits `writes` as the block after `tip`, with the readers' indexes a validator
/// keeps for them (the claims desk, the loan clocks), and returns the new tip.
pub fn commit(store: &Store, tip: Tip, writes: &WriteSet) -> Tip {
    let block = Block {
        header: BlockHeader {
            chain_id: Id::new("bench").unwrap(),
            height: tip.height + 1,
            protocol_version: 1,
            time_ms: tip.time_ms + 1,
            previous: tip.block_id,
            tx_root: [0; 32],
            receipts_root: [0; 32],
            state_root: [0; 32],
            validator_set_hash: [0; 32],
            proposer: ledger::crypto::PublicKey::Ed25519([1; 32]),
        },
        txs: Vec::new(),
    };
    let index = node::index::writes(store, tip, &block, &[], writes, &store.state())
        .expect("the index writes");
    let next = Tip {
        height: block.header.height,
        block_id: block.id(SUITE),
        state_root: block.header.state_root,
        time_ms: block.header.time_ms,
    };
    let certificate = CommitCertificate {
        height: next.height,
        round: 0,
        block_id: next.block_id,
        signatures: Vec::new(),
    };
    let (block_bytes, tx_bounds) = block.to_bytes_with_bounds();
    store
        .commit(
            Commit {
                block: &block,
                block_bytes: &block_bytes,
                tx_bounds: &tx_bounds,
                certificate: &certificate,
                receipts: &[],
                writes,
                ids: &[],
                changes: &[],
                decisions: &[],
                index: &index,
            },
            next,
        )
        .expect("a commit");
    next
}

/// Five runs of a read: the median and the maximum, and what the last one counted.
pub struct Figures {
    median: Duration,
    max: Duration,
    items: usize,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {:>8.2} ms, max {:>8.2} ms ({} items)",
            self.median.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3,
            self.items
        )
    }
}

pub fn measure(mut read: impl FnMut() -> usize) -> Figures {
    let mut times = Vec::new();
    let mut items = 0;
    for _ in 0..5 {
        let started = Instant::now();
        items = std::hint::black_box(read());
        times.push(started.elapsed());
    }
    times.sort();
    Figures {
        median: times[2],
        max: times[4],
        items,
    }
}
