//! A validator that misbehaves on command, for tests of Byzantine fault tolerance only.
//!
//! Compiled only with the `byzantine` cargo feature, which the release build and the
//! README's commands never enable; a node built without it refuses to start when asked to
//! misbehave. The behaviour is read from the TOML file named by `XINBAO_BYZANTINE`:
//!
//! ```toml
//! # The engine's own attacks (Malachite's Byzantine network proxy): double votes and
//! # double proposals, dropped votes or proposals, ignored locks.
//! [engine]
//! equivocate_votes = { mode = "always" }
//!
//! # This node's proposals, one misbehaviour per height and round in turn.
//! proposals = ["state-root", "tx-root", "time", "oversized", "bad-signature-tx",
//!              "expired-tx", "garbage-parts", "truncated-parts", "two-blocks"]
//!
//! # Its answers to sync requests.
//! sync = ["wrong-block", "garbage", "oversized"]
//!
//! # With every vote it signs, re-send this many of its earlier votes (of past rounds
//! # and heights) to the network: old votes replayed.
//! replay_votes = 3
//! ```

use std::path::Path;

use ledger::block::{Block, CommitCertificate};
use ledger::crypto::SecretKey;
use ledger::tx::{SignedTx, TxBody};
use ledger::{Action, Id};
use serde::Deserialize;

use super::ConsensusError;

/// The environment variable naming the behaviour file.
pub const ENV: &str = "XINBAO_BYZANTINE";

/// How this node misbehaves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Byzantine {
    #[serde(default)]
    pub engine: malachitebft_engine_byzantine::ByzantineConfig,
    #[serde(default)]
    pub proposals: Vec<BadProposal>,
    #[serde(default)]
    pub sync: Vec<BadSync>,
    /// How many earlier votes to re-send with each new one ([`VoteReplay`]).
    #[serde(default)]
    pub replay_votes: usize,
}

/// A way to propose badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadProposal {
    /// A header whose state root is not what the block's execution gives.
    StateRoot,
    /// A header whose transaction root is not the root of its transactions.
    TxRoot,
    /// A block time two days ahead of every clock.
    Time,
    /// More bytes than any block may have.
    Oversized,
    /// A transaction whose signature does not verify.
    BadSignatureTx,
    /// A transaction past its expiry height.
    ExpiredTx,
    /// Parts whose bytes are not a block, under a signed final part.
    GarbageParts,
    /// Parts without their end: the stream never completes.
    TruncatedParts,
    /// Two different valid blocks for one round, both streamed.
    TwoBlocks,
}

/// A way to answer sync requests badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadSync {
    /// Another block under the certificate of the one asked for.
    WrongBlock,
    /// Bytes that are not a block.
    Garbage,
    /// A block value larger than any block may be.
    Oversized,
}

/// One stream to publish for a proposal.
pub struct Publish {
    /// The block id the final part signs.
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
    /// A second stream of the same round needs its own stream id.
    pub second: bool,
    /// Leave out the last chunk and the final part.
    pub truncated: bool,
}

impl Byzantine {
    /// The behaviour named by [`ENV`], if any.
    pub fn from_env() -> Result<Option<Byzantine>, ConsensusError> {
        let Some(path) = std::env::var_os(ENV) else {
            return Ok(None);
        };
        let path = Path::new(&path);
        let text = std::fs::read_to_string(path).map_err(|source| {
            ConsensusError::ByzantineUnreadable {
                path: path.to_owned(),
                source,
            }
        })?;
        let byzantine: Byzantine =
            toml::from_str(&text).map_err(|source| ConsensusError::ByzantineInvalid {
                path: path.to_owned(),
                source,
            })?;
        byzantine
            .engine
            .validate()
            .map_err(|e| ConsensusError::ByzantineAttacks {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Some(byzantine))
    }

    fn proposal_at(&self, height: u64, round: u32) -> Option<BadProposal> {
        if self.proposals.is_empty() {
            return None;
        }
        let turn = (height + u64::from(round)) as usize % self.proposals.len();
        Some(self.proposals[turn])
    }

    /// What to publish instead of the honest proposal `block` (its canonical `bytes`), and
    /// the id to give the engine as this node's value.
    pub fn proposal(
        &self,
        suite: ledger::crypto::Suite,
        height: u64,
        round: u32,
        block: &Block,
    ) -> Option<([u8; 32], Vec<Publish>)> {
        let bad = self.proposal_at(height, round)?;
        tracing::warn!(height, round, ?bad, "Byzantine: proposing badly");
        let honest = block.id(suite).0;
        let stream = |block: &Block| Publish {
            hash: block.id(suite).0,
            bytes: block.to_bytes(),
            second: false,
            truncated: false,
        };
        let mut changed = block.clone();
        let publish = match bad {
            BadProposal::StateRoot => {
                changed.header.state_root[0] ^= 1;
                vec![stream(&changed)]
            }
            BadProposal::TxRoot => {
                changed.header.tx_root[0] ^= 1;
                vec![stream(&changed)]
            }
            BadProposal::Time => {
                changed.header.time_ms += 2 * 24 * 60 * 60 * 1000;
                vec![stream(&changed)]
            }
            BadProposal::Oversized => vec![Publish {
                hash: honest,
                bytes: vec![0x5a; ledger::codec::BLOCK_BYTES_MAX + 1024],
                second: false,
                truncated: false,
            }],
            BadProposal::BadSignatureTx => {
                if let Some(tx) = changed.txs.first_mut() {
                    tx.signatures[0].signature.0[0] ^= 1;
                } else {
                    changed.txs.push(self_signed(&changed, height + 10, true));
                }
                changed.header.tx_root = changed.tx_root(suite);
                vec![stream(&changed)]
            }
            BadProposal::ExpiredTx => {
                changed.txs.push(self_signed(&changed, height - 1, false));
                changed.header.tx_root = changed.tx_root(suite);
                vec![stream(&changed)]
            }
            BadProposal::GarbageParts => {
                let bytes = block.to_bytes();
                vec![Publish {
                    hash: honest,
                    bytes: bytes.iter().map(|b| b.wrapping_mul(31) ^ 0xa5).collect(),
                    second: false,
                    truncated: false,
                }]
            }
            BadProposal::TruncatedParts => vec![Publish {
                truncated: true,
                ..stream(block)
            }],
            BadProposal::TwoBlocks => {
                // A second block, as valid as the first (the same transactions at a time
                // one millisecond later): honest validators must still decide only one.
                changed.header.time_ms += 1;
                vec![
                    stream(block),
                    Publish {
                        second: true,
                        ..stream(&changed)
                    },
                ]
            }
        };
        let reported = match bad {
            BadProposal::TwoBlocks => honest,
            _ => publish[0].hash,
        };
        Some((reported, publish))
    }

    /// Spoils the sync answer `values`, if told to.
    pub fn sync_answer(&self, start: u64, values: &mut [(Vec<u8>, CommitCertificate)]) {
        if self.sync.is_empty() || values.is_empty() {
            return;
        }
        let bad = self.sync[start as usize % self.sync.len()];
        tracing::warn!(start, ?bad, "Byzantine: answering sync badly");
        match bad {
            BadSync::WrongBlock => {
                if let Ok(mut block) = Block::from_bytes(&values[0].0) {
                    block.header.time_ms += 1;
                    values[0].0 = block.to_bytes();
                }
            }
            BadSync::Garbage => {
                for (bytes, _) in values.iter_mut() {
                    bytes.iter_mut().for_each(|b| *b ^= 0x5a);
                }
            }
            BadSync::Oversized => values[0].0 = vec![0; ledger::codec::BLOCK_BYTES_MAX + 1],
        }
    }
}

/// A transaction no organisation signed (a fresh key), well formed: expiring at
/// `expires_at_height`, and with a broken signature when `broken`.
fn self_signed(block: &Block, expires_at_height: u64, broken: bool) -> SignedTx {
    let key = SecretKey::generate();
    let mut tx = SignedTx::unsigned(TxBody {
        chain_id: block.header.chain_id.clone(),
        nonce: block.header.time_ms,
        expires_at_height,
        action: Action::FlagEnterprise(ledger::action::FlagEnterprise {
            enterprise: Id::new("byzantine").expect("a valid id"),
            reason: ledger::Text::new("byzantine").expect("a valid text"),
        }),
    });
    tx.sign(&key).expect("one signature");
    if broken {
        tx.signatures[0].signature.0[0] ^= 1;
    }
    tx
}

/// Votes kept for replaying.
const REPLAY_KEPT: usize = 256;

/// A network in front of the engine's that replays old votes: every vote this node
/// publishes is kept (the last [`REPLAY_KEPT`]), and with each new one `per_vote` of the
/// kept ones are published again, in turn, so peers receive votes of rounds and heights
/// long decided. Every other message passes unchanged.
pub struct VoteReplay {
    network: malachitebft_engine::network::NetworkRef<crate::consensus::context::XinbaoContext>,
    per_vote: usize,
}

/// The votes a [`VoteReplay`] keeps, and where it is in them.
pub struct Replayed {
    kept: std::collections::VecDeque<
        malachitebft_core_types::SignedVote<crate::consensus::context::XinbaoContext>,
    >,
    next: usize,
    sent: u64,
}

type NetworkMsg = malachitebft_engine::network::Msg<crate::consensus::context::XinbaoContext>;

impl VoteReplay {
    /// Puts a replaying network in front of `network`; the reference returned is used as
    /// the engine's network.
    pub async fn spawn(
        network: malachitebft_engine::network::NetworkRef<crate::consensus::context::XinbaoContext>,
        per_vote: usize,
    ) -> Result<
        malachitebft_engine::network::NetworkRef<crate::consensus::context::XinbaoContext>,
        ConsensusError,
    > {
        let (actor, _) = ractor::Actor::spawn(None, VoteReplay { network, per_vote }, ())
            .await
            .map_err(ConsensusError::start("the vote replay"))?;
        Ok(actor)
    }
}

#[async_trait::async_trait]
impl ractor::Actor for VoteReplay {
    type Msg = NetworkMsg;
    type State = Replayed;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ractor::ActorRef<NetworkMsg>,
        _: (),
    ) -> Result<Replayed, ractor::ActorProcessingErr> {
        Ok(Replayed {
            kept: std::collections::VecDeque::with_capacity(REPLAY_KEPT),
            next: 0,
            sent: 0,
        })
    }

    async fn handle(
        &self,
        _myself: ractor::ActorRef<NetworkMsg>,
        msg: NetworkMsg,
        state: &mut Replayed,
    ) -> Result<(), ractor::ActorProcessingErr> {
        use malachitebft_core_consensus::SignedConsensusMsg;
        let vote = match &msg {
            NetworkMsg::PublishConsensusMsg(SignedConsensusMsg::Vote(vote)) => Some(vote.clone()),
            _ => None,
        };
        self.network.cast(msg)?;
        let Some(vote) = vote else { return Ok(()) };
        let old = state.kept.len();
        for _ in 0..self.per_vote.min(old) {
            state.next = (state.next + 1) % old;
            let again = state.kept[state.next].clone();
            self.network
                .cast(NetworkMsg::PublishConsensusMsg(SignedConsensusMsg::Vote(
                    again,
                )))?;
            state.sent += 1;
            if state.sent.is_multiple_of(50) {
                tracing::warn!(replayed = state.sent, "Byzantine: replayed old votes");
            }
        }
        if state.kept.len() == REPLAY_KEPT {
            state.kept.pop_front();
        }
        state.kept.push_back(vote);
        Ok(())
    }
}
