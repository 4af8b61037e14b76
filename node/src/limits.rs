//! The sizes that bound what flows through a node, gathered so that the relations between
//! them are visible and checked when the node is compiled: a transaction fits every
//! container it travels in (a request, an intake check, a gossip batch, the mempool, a
//! proposal, a block, a consensus message), each container fits the next, and no queue is
//! unbounded. The rulebook's own sizes (a transaction, a block) are `ledger::codec`'s.
//!
//! Each figure says why it is what it is; what a run measured with it is in `docs/perf/`.

pub use ledger::codec::{BLOCK_BYTES_MAX, TX_BYTES_MAX};

// ---- HTTP: what a caller may send ----

/// Largest request body of one transaction: its JSON form, whose hex doubles the
/// canonical bytes and whose field names add more, with room to spare.
pub const SUBMIT_REQUEST_BYTES_MAX: usize = 1024 * 1024;
/// Most transactions in one batch request: a client's whole backlog of a few seconds at
/// the rates a consortium sees, in one round trip.
pub const SUBMIT_BATCH_TXS_MAX: usize = 10_000;
/// Largest request body of a batch: room for a full batch of ordinary transactions
/// (about 1 KiB each in JSON, a few hundred bytes canonical).
pub const SUBMIT_BATCH_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Largest request line and headers: a client certificate travels in TLS, not here, so
/// a few KiB are plenty; more is someone probing.
pub const HEADER_BYTES_MAX: usize = 16 * 1024;

// ---- Intake: where transactions wait to be checked ----

/// Submissions waiting for the intake thread at most; a submitter beyond it waits (the
/// HTTP connection holds it), so memory stays bounded under any load.
pub const INTAKE_QUEUE_JOBS_MAX: usize = 1_024;
/// Most transactions the intake thread checks together: enough for the signature batch
/// to pay off, few enough that one check does not hold a submitter for long.
pub const INTAKE_JOINED_TXS_MAX: usize = 4_096;

// ---- Mempool: what waits for a block ----

/// Most transactions held at once.
pub const MEMPOOL_TXS_MAX: usize = 100_000;
/// Most bytes (canonical transaction bytes) held at once.
pub const MEMPOOL_BYTES_MAX: usize = 128 * 1024 * 1024;

// ---- Gossip: a member's transactions on their way to the other validators ----

/// Transactions waiting to be sent; beyond it a transaction stays only in this node's
/// mempool, to be proposed here.
pub const GOSSIP_OUTBOX_TXS_MAX: usize = 16_384;
/// Most transactions in one gossip batch.
pub const GOSSIP_BATCH_TXS_MAX: usize = 1_024;
/// Most transaction bytes in one gossip batch.
pub const GOSSIP_BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;
/// A gossip request, a whole batch with its framing, is at most this long on the wire.
pub const GOSSIP_REQUEST_BYTES_MAX: usize = GOSSIP_BATCH_BYTES_MAX + 64 * 1024;
/// Received gossip batches waiting for intake; beyond it a batch is dropped (its sender
/// still holds the transactions and proposes them itself).
pub const GOSSIP_INBOX_BATCHES_MAX: usize = 64;

// ---- Consensus: proposals and their messages ----

/// Transaction bytes one proposal draws from the mempool at most: under a block's limit,
/// with room for the header and the framing.
pub const PROPOSAL_TX_BYTES_MAX: usize = 6 * 1024 * 1024;
/// Block bytes per streamed proposal part: well under libp2p gossipsub's 4 MiB message.
pub const PROPOSAL_CHUNK_BYTES: usize = 512 * 1024;
/// Most bytes one proposal stream may gather: a block's limit.
pub const PROPOSAL_STREAM_BYTES_MAX: usize = BLOCK_BYTES_MAX;
/// No consensus message of ours, network or WAL, is larger than this (a sync response
/// carries at most the engine's `max_response_size`, set to the same figure): a whole
/// block and its certificate, twice over.
pub const WIRE_BYTES_MAX: usize = 16 * 1024 * 1024;

// A transaction fits every container it travels in.
const _: () = assert!(TX_BYTES_MAX * 2 < SUBMIT_REQUEST_BYTES_MAX);
const _: () = assert!(TX_BYTES_MAX < SUBMIT_BATCH_BYTES_MAX);
const _: () = assert!(TX_BYTES_MAX <= GOSSIP_BATCH_BYTES_MAX);
const _: () = assert!(TX_BYTES_MAX <= PROPOSAL_TX_BYTES_MAX);
// A full gossip batch fits its request, and what one batch carries fits the mempool.
const _: () = assert!(GOSSIP_BATCH_BYTES_MAX < GOSSIP_REQUEST_BYTES_MAX);
const _: () = assert!(GOSSIP_BATCH_TXS_MAX <= GOSSIP_OUTBOX_TXS_MAX);
const _: () = assert!(GOSSIP_BATCH_TXS_MAX <= MEMPOOL_TXS_MAX);
// A submitted batch and an intake check fit the mempool.
const _: () = assert!(SUBMIT_BATCH_TXS_MAX <= MEMPOOL_TXS_MAX);
const _: () = assert!(INTAKE_JOINED_TXS_MAX <= MEMPOOL_TXS_MAX);
// A proposal drawn from the mempool fits a block, a block fits a proposal stream, and
// a streamed part and a whole block fit a consensus message.
const _: () = assert!(PROPOSAL_TX_BYTES_MAX <= MEMPOOL_BYTES_MAX);
const _: () = assert!(PROPOSAL_TX_BYTES_MAX < BLOCK_BYTES_MAX);
const _: () = assert!(BLOCK_BYTES_MAX <= PROPOSAL_STREAM_BYTES_MAX);
const _: () = assert!(PROPOSAL_CHUNK_BYTES < PROPOSAL_STREAM_BYTES_MAX);
const _: () = assert!(BLOCK_BYTES_MAX < WIRE_BYTES_MAX);
