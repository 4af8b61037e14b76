//! A block as a stream of proposal parts, and the reassembly of streams.
//!
//! A stream is `Init` (sequence 0), the canonical block bytes in `Chunk`s (1..=k), `Fin`
//! with the proposer's signature (k+1), then the engine's end-of-stream marker. Parts may
//! arrive in any order and through any neighbour; they are grouped by (publisher, stream
//! id). Everything is bounded: [`STREAMS_MAX`] partial streams (the oldest is dropped) of
//! at most [`PROPOSAL_STREAM_BYTES_MAX`] bytes each. Reassembly checks only the shape; the caller
//! checks the signature and the block.

use std::collections::BTreeMap;

use bytes::Bytes;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::Round;

use super::context::{Address, BlockHash, Height, ProposalPart};
use super::signing::ConsensusSignature;
use crate::limits::{PROPOSAL_CHUNK_BYTES, PROPOSAL_STREAM_BYTES_MAX};

/// Most partial streams held at once; the oldest is dropped beyond this.
pub const STREAMS_MAX: usize = 64;

/// The header of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Init {
    pub height: Height,
    pub round: Round,
    pub pol_round: Round,
    pub proposer: Address,
}

/// A complete stream: its header, the signed block id, and the block bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complete {
    pub init: Init,
    pub block_hash: BlockHash,
    pub signature: ConsensusSignature,
    pub bytes: Vec<u8>,
}

/// The messages that publish `block_bytes` (see the module notes).
pub fn split(
    init: Init,
    block_bytes: &[u8],
    block_hash: BlockHash,
    signature: ConsensusSignature,
) -> Vec<StreamMessage<ProposalPart>> {
    let mut parts = vec![ProposalPart::Init {
        height: init.height,
        round: init.round,
        pol_round: init.pol_round,
        proposer: init.proposer,
    }];
    parts.extend(
        block_bytes
            .chunks(PROPOSAL_CHUNK_BYTES)
            .map(|c| ProposalPart::Chunk(c.to_vec())),
    );
    parts.push(ProposalPart::Fin {
        block_hash,
        signature,
    });

    // One stream per (height, round) of a publisher.
    let mut id = Vec::with_capacity(12);
    id.extend_from_slice(&init.height.0.to_be_bytes());
    id.extend_from_slice(&init.round.as_u32().unwrap_or(0).to_be_bytes());
    let stream_id = StreamId::new(Bytes::from(id));

    let count = parts.len() as u64;
    let mut messages: Vec<StreamMessage<ProposalPart>> = parts
        .into_iter()
        .enumerate()
        .map(|(sequence, part)| {
            StreamMessage::new(
                stream_id.clone(),
                sequence as u64,
                StreamContent::Data(part),
            )
        })
        .collect();
    messages.push(StreamMessage::new(stream_id, count, StreamContent::Fin));
    messages
}

#[derive(Default)]
struct Partial {
    init: Option<Init>,
    chunks: BTreeMap<u64, Vec<u8>>,
    fin: Option<(u64, BlockHash, ConsensusSignature)>,
    bytes: usize,
    arrival: u64,
}

/// Partial streams by (publisher, stream id).
#[derive(Default)]
pub struct Streams {
    partial: BTreeMap<(Vec<u8>, Vec<u8>), Partial>,
    arrivals: u64,
}

impl Streams {
    pub fn new() -> Streams {
        Streams::default()
    }

    pub fn len(&self) -> usize {
        self.partial.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partial.is_empty()
    }

    /// Adds one message from `publisher`; returns the stream once it is complete.
    pub fn insert(
        &mut self,
        publisher: Vec<u8>,
        message: StreamMessage<ProposalPart>,
    ) -> Option<Complete> {
        let key = (publisher, message.stream_id.to_bytes().to_vec());
        if !self.partial.contains_key(&key) && self.partial.len() >= STREAMS_MAX {
            let oldest = self
                .partial
                .iter()
                .min_by_key(|(_, s)| s.arrival)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.partial.remove(&oldest);
            }
        }
        self.arrivals += 1;
        let arrival = self.arrivals;
        let stream = self.partial.entry(key.clone()).or_insert_with(|| Partial {
            arrival,
            ..Partial::default()
        });
        let StreamContent::Data(part) = message.content else {
            return None;
        };
        match part {
            ProposalPart::Init {
                height,
                round,
                pol_round,
                proposer,
            } => {
                if message.sequence == 0 {
                    stream.init = Some(Init {
                        height,
                        round,
                        pol_round,
                        proposer,
                    });
                }
            }
            ProposalPart::Chunk(bytes) => {
                if message.sequence == 0 || stream.chunks.contains_key(&message.sequence) {
                    return None;
                }
                stream.bytes += bytes.len();
                if stream.bytes > PROPOSAL_STREAM_BYTES_MAX {
                    self.partial.remove(&key);
                    return None;
                }
                stream.chunks.insert(message.sequence, bytes);
            }
            ProposalPart::Fin {
                block_hash,
                signature,
            } => stream.fin = Some((message.sequence, block_hash, signature)),
        }

        let (Some(init), Some((fin_sequence, block_hash, signature))) = (stream.init, stream.fin)
        else {
            return None;
        };
        // Complete when the chunks are exactly 1..fin_sequence.
        if fin_sequence < 2
            || stream.chunks.len() as u64 != fin_sequence - 1
            || stream.chunks.keys().next() != Some(&1)
            || stream.chunks.keys().next_back() != Some(&(fin_sequence - 1))
        {
            return None;
        }
        let stream = self.partial.remove(&key)?;
        // One allocation and one copy per chunk (collecting a flattened iterator goes a
        // byte at a time).
        let mut bytes = Vec::with_capacity(stream.bytes);
        for chunk in stream.chunks.into_values() {
            bytes.extend_from_slice(&chunk);
        }
        Some(Complete {
            init,
            block_hash,
            signature,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(height: u64) -> Init {
        Init {
            height: Height(height),
            round: Round::new(0),
            pol_round: Round::Nil,
            proposer: Address(ledger::crypto::PublicKey::Ed25519([7; 32])),
        }
    }

    #[test]
    fn a_stream_reassembles_in_any_order() {
        let bytes: Vec<u8> = (0..(PROPOSAL_CHUNK_BYTES * 2 + 10))
            .map(|i| i as u8)
            .collect();
        let mut messages = split(
            init(3),
            &bytes,
            BlockHash([1; 32]),
            ConsensusSignature([2; 64]),
        );
        assert_eq!(messages.len(), 1 + 3 + 1 + 1);
        messages.reverse();
        let mut streams = Streams::new();
        let mut complete = None;
        for message in messages {
            if let Some(c) = streams.insert(b"peer".to_vec(), message) {
                complete = Some(c);
            }
        }
        let complete = complete.expect("the stream completes");
        assert_eq!(complete.bytes, bytes);
        assert_eq!(complete.init, init(3));
        assert_eq!(complete.block_hash, BlockHash([1; 32]));
        assert!(streams.is_empty());
    }

    #[test]
    fn streams_of_different_publishers_do_not_mix_and_gaps_do_not_complete() {
        let bytes = vec![5u8; PROPOSAL_CHUNK_BYTES + 1];
        let messages = split(
            init(4),
            &bytes,
            BlockHash([1; 32]),
            ConsensusSignature([2; 64]),
        );
        let mut streams = Streams::new();
        // Publisher A sends everything but the first chunk; B sends only that chunk.
        for (i, message) in messages.iter().enumerate() {
            if i != 1 {
                assert!(streams.insert(b"a".to_vec(), message.clone()).is_none());
            }
        }
        assert!(streams.insert(b"b".to_vec(), messages[1].clone()).is_none());
        assert_eq!(streams.len(), 2);
        assert!(streams.insert(b"a".to_vec(), messages[1].clone()).is_some());
    }

    #[test]
    fn partial_streams_are_bounded() {
        let mut streams = Streams::new();
        for height in 0..(STREAMS_MAX as u64 + 10) {
            let messages = split(
                init(height),
                &[1, 2, 3],
                BlockHash([1; 32]),
                ConsensusSignature([2; 64]),
            );
            streams.insert(b"p".to_vec(), messages[0].clone());
        }
        assert_eq!(streams.len(), STREAMS_MAX);
    }
}
