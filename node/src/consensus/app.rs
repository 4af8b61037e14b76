//! The application side of the engine: the translation of every `AppMsg` into the chain
//! worker's requests ([`crate::chain_worker`]), which execute and store off the async
//! runtime while this loop awaits them.
//!
//! Proposing: on `GetValue` the worker builds (once per height and round) and records the
//! next block; this loop answers with its id and streams it as parts (`parts.rs`).
//! Validating: a complete stream whose `Fin` signature verifies against the validators of
//! its height is re-executed by the worker and reported valid only if it reproduces its
//! header. A block for a later height is held (bounded) until that height starts.
//! Deciding: `Decided` has the worker commit the block durably before it is acknowledged;
//! `Finalized` starts the next height with its validators from committed state, and the
//! peers follow the roster.
//!
//! Blocks when there is work: the next height starts (the `Finalized` reply is sent) only
//! when there is something to decide, so an idle consortium writes no block and storage,
//! sync and audit grow with transactions, not with time. It starts at once when the
//! mempool holds a transaction, when another validator has moved to a later height (one
//! of its consensus messages or proposal parts arrives: it had work, or this node is
//! behind), when the heartbeat is due (`heartbeat_ms` after the last block), and when the
//! calendar day in UTC+8 has turned since the last block, so that dated figures (days
//! past due, overdue claims) move on without traffic. Otherwise the reply waits, checked
//! every [`IDLE_CHECK`]. This is each node's own choice of when to begin a height, not a
//! rule of validity: any block remains valid whenever it comes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ledger::block::{Block, BlockId, CommitCertificate, CommitSignature};
use ledger::crypto::Signature;
use ledger::evidence::{DoubleVote, SignedVote};
use malachitebft_app_channel::app::consensus::Role;
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::core::{
    self as mc, ExtendedCommitCertificate, ExtendedCommitSignature, Round, Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg, Reply};
use malachitebft_core_consensus::{MisbehaviorEvidence, VoteExtensionError};
use tracing::{debug, error, info, warn};

use super::context::{Address, BlockHash, Height, ProposalPart, XinbaoContext};
use super::parts::{self, Complete, Init, Streams};
use super::peers::PeerBook;
use super::signing::{part_fin_message, verify_message, ConsensusPublicKey, ConsensusSigner};
use super::ConsensusError;
use crate::chain_worker::{Committed, Worker};
use crate::metrics::Metrics;
use crate::shared::Shared;

/// A block for a later height is held only this many heights ahead: as far as the
/// validators are known from committed state.
const FUTURE_HEIGHTS_MAX: u64 = ledger::validators::CHANGE_DELAY;
/// Most blocks held for later heights.
const FUTURE_BLOCKS_MAX: usize = 32;
/// How often an idle node looks again whether the next height should start.
const IDLE_CHECK: Duration = Duration::from_millis(20);

type NextReply = malachitebft_app_channel::Reply<Next<XinbaoContext>>;

/// A block assembled from parts, with its stream metadata.
struct Assembled {
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: Address,
    block: Block,
}

pub struct App {
    shared: Arc<Shared>,
    signer: Arc<ConsensusSigner>,
    chain_id: String,
    worker: Worker,
    /// The engine's and the gossip's peers, kept in step with the roster.
    peers: PeerBook,
    /// Complete blocks for later heights, checked when their height starts.
    future: Vec<Assembled>,
    streams: Streams,
    /// The next height, not started yet for want of work (see the module notes).
    idle: Option<(NextReply, Next<XinbaoContext>)>,
    /// A consensus message or proposal of a later height has arrived since the tip.
    later_seen: bool,
    /// How this node misbehaves, in a test build (`crate::byzantine`).
    #[cfg(feature = "byzantine")]
    byzantine: Option<Arc<crate::consensus::byzantine::Byzantine>>,
}

impl App {
    pub fn new(
        shared: Arc<Shared>,
        signer: Arc<ConsensusSigner>,
        worker: Worker,
        peers: PeerBook,
    ) -> App {
        let chain_id = shared.chain.chain_id().to_string();
        App {
            shared,
            signer,
            chain_id,
            worker,
            peers,
            future: Vec::new(),
            streams: Streams::new(),
            idle: None,
            later_seen: false,
            #[cfg(feature = "byzantine")]
            byzantine: None,
        }
    }

    /// Has this node misbehave as `byzantine` says (a test build only).
    #[cfg(feature = "byzantine")]
    pub fn byzantine(
        mut self,
        byzantine: Option<Arc<crate::consensus::byzantine::Byzantine>>,
    ) -> App {
        self.byzantine = byzantine;
        self
    }

    /// The engine's parameters of `height` (at most two above the tip), from committed
    /// state.
    fn params_at(&self, height: u64) -> Result<HeightParams<XinbaoContext>, ConsensusError> {
        let config = self.shared.chain.config_at(height)?;
        Ok(super::height_params(&config))
    }

    fn tip_height(&self) -> u64 {
        self.shared
            .chain
            .tip()
            .expect("reading the tip failed: the disk is failing")
            .height
    }

    pub async fn run(
        mut self,
        mut channels: Channels<XinbaoContext>,
    ) -> Result<(), ConsensusError> {
        let mut events = channels.events.subscribe();
        let mut tick = tokio::time::interval(IDLE_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = channels.consensus.recv() => {
                    let Some(msg) = msg else { break };
                    self.handle(msg, &channels).await?;
                }
                event = events.recv() => {
                    use malachitebft_app_channel::app::engine::util::events::Event;
                    if let Ok(Event::Received(msg)) = event {
                        if msg.height().0 > self.tip_height() + 1 || (self.idle.is_some() && msg.height().0 > self.tip_height()) {
                            self.later_seen = true;
                        }
                    }
                }
                _ = tick.tick() => {}
            }
            self.start_if_due()?;
        }
        Err(ConsensusError::EngineStopped)
    }

    /// Whether the next height should start now (see the module notes).
    fn work_is_due(&self) -> Result<bool, ConsensusError> {
        if self.later_seen || !self.shared.mempool.is_empty() {
            return Ok(true);
        }
        let tip = self.shared.chain.tip()?;
        let now = self.shared.clock.now_ms();
        let heartbeat = self
            .shared
            .chain
            .config_at(tip.height + 1)?
            .params
            .heartbeat_ms;
        if now >= tip.time_ms.saturating_add(heartbeat) {
            return Ok(true);
        }
        let day = |ms: u64| ledger::Date::from_unix_ms_cst(ms).ok();
        Ok(day(now) > day(tip.time_ms))
    }

    /// Keeps the double votes the engine reports (and counts double proposals, whose
    /// signatures are the engine's own format rather than the ledger's).
    fn keep_evidence(&self, evidence: &MisbehaviorEvidence<XinbaoContext>) {
        let votes: Vec<DoubleVote> = evidence
            .votes
            .iter()
            .flat_map(|(_, pairs)| pairs.iter())
            .filter_map(|(a, b)| {
                Some(DoubleVote {
                    first: ledger_vote(a)?,
                    second: ledger_vote(b)?,
                })
            })
            .collect();
        let proposals: usize = evidence.proposals.iter().map(|(_, p)| p.len()).sum();
        for piece in &votes {
            warn!(validator = %piece.validator(), height = piece.height(), "equivocation: a validator signed two votes in one round");
        }
        if proposals > 0 {
            warn!(
                proposals,
                "equivocation: a proposer signed two proposals in one round"
            );
        }
        let metrics = &self.shared.metrics;
        Metrics::add(&metrics.equivocating_votes, votes.len() as u64);
        Metrics::add(&metrics.equivocating_proposals, proposals as u64);
        if let Err(e) = self.shared.chain.save_evidence(&votes) {
            error!("keeping equivocation evidence: {e}");
        }
    }

    /// Sends the held `Finalized` reply when work is due.
    fn start_if_due(&mut self) -> Result<(), ConsensusError> {
        if self.idle.is_some() && self.work_is_due()? {
            let (reply, next) = self.idle.take().expect("checked above");
            self.later_seen = false;
            debug!("work is due: starting the next height");
            let _ = reply.send(next);
        }
        Ok(())
    }

    /// Answers one engine message: one arm per message, in the order a height sends them,
    /// the long answers (proposing, finalizing, serving sync) methods of their own, so
    /// that this reads as the table of what each message does; its length is that table.
    async fn handle(
        &mut self,
        msg: AppMsg<XinbaoContext>,
        channels: &Channels<XinbaoContext>,
    ) -> Result<(), ConsensusError> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let next = Height(self.tip_height() + 1);
                self.shared.chain.check_supported(next.0)?;
                info!(height = %next, "consensus ready");
                let _ = reply.send((next, self.params_at(next.0)?));
            }

            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                debug!(%height, %round, %proposer, ?role, "started round");
                let values = self.take_future(height, round).await?;
                let _ = reply_value.send(values);
                if role == Role::Proposer {
                    debug!(%height, %round, "proposing");
                }
            }

            AppMsg::GetValue {
                height,
                round,
                timeout: _,
                reply,
            } => self.get_value(channels, height, round, reply).await?,

            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }

            AppMsg::VerifyVoteExtensions {
                extensions, reply, ..
            } => {
                // Vote extensions are disabled: none is acceptable.
                let verdicts = extensions
                    .into_iter()
                    .map(|(address, _)| (address, Err(VoteExtensionError::InvalidVoteExtension)))
                    .collect();
                let _ = reply.send(verdicts);
            }

            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                value_id,
                ..
            } => match self.worker.held(BlockId(value_id.0)).await? {
                Some(bytes) => {
                    self.stream(channels, height, round, valid_round, value_id, &bytes)
                        .await?
                }
                None => warn!(%height, %round, %value_id, "asked to restream a block not held"),
            },

            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }

            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let value = match self.received_part(from, published_by, part) {
                    Some(assembled) => Some(self.check(assembled).await?),
                    None => None,
                };
                let _ = reply.send(value);
            }

            AppMsg::Decided {
                certificate, reply, ..
            } => {
                self.decided(certificate).await?;
                let _ = reply.send(());
            }

            AppMsg::Finalized {
                certificate,
                evidence,
                reply,
                ..
            } => {
                self.finalized(channels, certificate, evidence, reply)
                    .await?
            }

            AppMsg::GetDecidedValues { range, reply } => self.decided_values(range, reply).await?,

            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let outcome = self.synced(height, round, proposer, &value_bytes).await?;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    /// `GetValue`: the worker's block for this height and round (built once), its id
    /// answered and its parts streamed.
    async fn get_value(
        &mut self,
        channels: &Channels<XinbaoContext>,
        height: Height,
        round: Round,
        reply: Reply<LocallyProposedValue<XinbaoContext>>,
    ) -> Result<(), ConsensusError> {
        let proposed = self
            .worker
            .propose(height.0, round.as_u32().unwrap_or(0))
            .await?;
        #[cfg(feature = "byzantine")]
        if let Some(byzantine) = self.byzantine.clone() {
            let block = Block::from_bytes(&proposed.bytes)?;
            let turn = byzantine.proposal(
                self.shared.chain.suite(),
                height.0,
                round.as_u32().unwrap_or(0),
                &block,
            );
            if let Some((reported, publish)) = turn {
                let _ = reply.send(LocallyProposedValue::new(
                    height,
                    round,
                    BlockHash(reported),
                ));
                for p in publish {
                    self.stream_badly(channels, height, round, p).await?;
                }
                return Ok(());
            }
        }
        let hash = BlockHash(proposed.block_id.0);
        let _ = reply.send(LocallyProposedValue::new(height, round, hash));
        self.stream(channels, height, round, Round::Nil, hash, &proposed.bytes)
            .await?;
        Ok(())
    }

    /// `Finalized`: keeps the evidence, starts the next height when there is work (or
    /// restarts one not committed), and has the peers follow the next heights' rosters.
    async fn finalized(
        &mut self,
        channels: &Channels<XinbaoContext>,
        certificate: mc::CommitCertificate<XinbaoContext>,
        evidence: MisbehaviorEvidence<XinbaoContext>,
        reply: NextReply,
    ) -> Result<(), ConsensusError> {
        if !evidence.is_empty() {
            self.keep_evidence(&evidence);
        }
        let tip = self.tip_height();
        if tip >= certificate.height.0 {
            // The next height begins when there is work (see the module notes).
            let next = Next::Start(Height(tip + 1), self.params_at(tip + 1)?);
            self.idle = Some((reply, next));
            self.later_seen = false;
            self.start_if_due()?;
        } else {
            error!(height = %certificate.height, "finalized a height that was not committed; restarting it");
            let next = Next::Restart(certificate.height, self.params_at(certificate.height.0)?);
            let _ = reply.send(next);
        }
        // The roster of the next heights may have changed with this commit.
        let chain = &self.shared.chain;
        let (next, after) = (chain.config_at(tip + 1)?, chain.config_at(tip + 2)?);
        self.peers
            .sync(&[&next, &after], &channels.net_requests)
            .await;
        Ok(())
    }

    /// `GetDecidedValues`: committed blocks with their certificates, for a peer's sync.
    async fn decided_values(
        &mut self,
        range: std::ops::RangeInclusive<Height>,
        reply: Reply<Vec<RawDecidedValue<XinbaoContext>>>,
    ) -> Result<(), ConsensusError> {
        #[allow(unused_mut)]
        let mut values = self.worker.decided(range.start().0, range.end().0).await?;
        #[cfg(feature = "byzantine")]
        if let Some(byzantine) = &self.byzantine {
            byzantine.sync_answer(range.start().0, &mut values);
        }
        let values = values
            .into_iter()
            .map(|(bytes, cert)| {
                RawDecidedValue::new(Bytes::from(bytes), engine_certificate(&cert))
            })
            .collect();
        let _ = reply.send(values);
        Ok(())
    }

    /// Publishes the block `hash` (its canonical `bytes`) as parts for (height, round).
    async fn stream(
        &self,
        channels: &Channels<XinbaoContext>,
        height: Height,
        round: Round,
        pol_round: Round,
        hash: BlockHash,
        bytes: &[u8],
    ) -> Result<(), ConsensusError> {
        let init = Init {
            height,
            round,
            pol_round,
            proposer: self.signer.address(),
        };
        let signature = self
            .signer
            .sign_part_fin(height, round, hash)
            .map_err(ConsensusError::signing("the proposal's final part"))?;
        for message in parts::split(init, bytes, hash, signature) {
            channels
                .network
                .send(NetworkMsg::PublishProposalPart(message))
                .await
                .map_err(|_| ConsensusError::NetworkClosed)?;
        }
        Ok(())
    }

    /// Publishes one of a Byzantine proposal's streams (a test build only).
    #[cfg(feature = "byzantine")]
    async fn stream_badly(
        &self,
        channels: &Channels<XinbaoContext>,
        height: Height,
        round: Round,
        publish: crate::consensus::byzantine::Publish,
    ) -> Result<(), ConsensusError> {
        use malachitebft_app_channel::app::streaming::{StreamContent, StreamId};
        let init = Init {
            height,
            round,
            pol_round: Round::Nil,
            proposer: self.signer.address(),
        };
        let hash = BlockHash(publish.hash);
        let signature = self
            .signer
            .sign_part_fin(height, round, hash)
            .map_err(ConsensusError::signing("the proposal's final part"))?;
        let mut messages = parts::split(init, &publish.bytes, hash, signature);
        if publish.truncated {
            // Without the last chunk, the final part and the end of the stream.
            let keep = messages.len().saturating_sub(3).max(1);
            messages.truncate(keep);
        }
        for mut message in messages {
            if publish.second {
                let mut id = message.stream_id.to_bytes().to_vec();
                id.push(2);
                message.stream_id = StreamId::new(Bytes::from(id));
            }
            if matches!(message.content, StreamContent::Fin) && publish.truncated {
                continue;
            }
            channels
                .network
                .send(NetworkMsg::PublishProposalPart(message))
                .await
                .map_err(|_| ConsensusError::NetworkClosed)?;
        }
        Ok(())
    }

    /// A complete, authenticated block of the next height; one of a later height is kept
    /// for when its height starts.
    fn received_part(
        &mut self,
        from: PeerId,
        published_by: Option<PeerId>,
        part: StreamMessage<ProposalPart>,
    ) -> Option<Assembled> {
        let publisher = published_by.unwrap_or(from).to_bytes();
        let Complete {
            init,
            block_hash,
            signature,
            bytes,
        } = self.streams.insert(publisher, part)?;
        let Init {
            height,
            round,
            pol_round,
            proposer,
        } = init;

        // The engine does not authenticate parts: the publisher must be a validator of the
        // block's height and must have signed this block for this height and round. The
        // validators of the next two heights are known from committed state (R11.5).
        let tip = self.tip_height();
        if height.0 <= tip || height.0 > tip + FUTURE_HEIGHTS_MAX {
            return None;
        }
        let config = match self.shared.chain.config_at(height.0) {
            Ok(config) => config,
            Err(e) => {
                error!(%height, "reading the validators of a height failed: {e}");
                return None;
            }
        };
        let proposer_key = proposer.0;
        if config.validators.voting_power(&proposer_key).is_none() {
            warn!(%proposer, %height, "proposal parts from a non-validator");
            return None;
        }
        let message = part_fin_message(&self.chain_id, height, round, block_hash, proposer);
        if !verify_message(&ConsensusPublicKey(proposer.0), &message, &signature) {
            warn!(%proposer, %height, %round, "proposal with a bad final signature");
            return None;
        }
        let block = match Block::from_bytes(&bytes) {
            Ok(block) => block,
            Err(e) => {
                warn!(%proposer, %height, "proposal bytes do not decode: {e}");
                return None;
            }
        };
        if block.id(self.shared.chain.suite()).0 != block_hash.0 || block.header.height != height.0
        {
            warn!(%proposer, %height, "proposal parts do not match their signed block id");
            return None;
        }
        let assembled = Assembled {
            height,
            round,
            pol_round,
            proposer,
            block,
        };
        if self.idle.is_some() && height.0 > tip {
            // A proposer has moved on: this node has work too.
            self.later_seen = true;
        }
        if height.0 == tip + 1 && self.idle.is_none() {
            Some(assembled)
        } else {
            if self.future.len() < FUTURE_BLOCKS_MAX {
                self.future.push(assembled);
            }
            None
        }
    }

    /// Has the worker re-execute an assembled block of the next height; the engine's
    /// verdict.
    async fn check(
        &mut self,
        a: Assembled,
    ) -> Result<ProposedValue<XinbaoContext>, ConsensusError> {
        let hash = BlockHash(a.block.id(self.shared.chain.suite()).0);
        // A fresh proposal (no proof-of-lock round) must name its own publisher as the
        // proposer in the header, so no one can attribute a block to another validator; a
        // re-proposal carries the header of the round that first proposed it.
        let misattributed = a.pol_round.is_nil() && a.block.header.proposer != a.proposer.0;
        let validity = if misattributed {
            warn!(height = %a.height, round = %a.round, proposer = %a.proposer, "proposal names another validator as its proposer");
            Metrics::add(&self.shared.metrics.proposals_invalid, 1);
            Validity::Invalid
        } else {
            match self
                .worker
                .check(a.block, self.shared.clock.drift_reference_ms())
                .await?
            {
                Ok(()) => Validity::Valid,
                Err(e) => {
                    warn!(height = %a.height, round = %a.round, proposer = %a.proposer, "invalid proposal: {e}");
                    Metrics::add(&self.shared.metrics.proposals_invalid, 1);
                    Validity::Invalid
                }
            }
        };
        Ok(ProposedValue {
            height: a.height,
            round: a.round,
            valid_round: a.pol_round,
            proposer: a.proposer,
            value: hash,
            validity,
        })
    }

    async fn take_future(
        &mut self,
        height: Height,
        round: Round,
    ) -> Result<Vec<ProposedValue<XinbaoContext>>, ConsensusError> {
        let tip = self.tip_height();
        self.future.retain(|a| a.height.0 > tip);
        let (now, later): (Vec<Assembled>, Vec<Assembled>) = std::mem::take(&mut self.future)
            .into_iter()
            .partition(|a| a.height == height && a.round == round);
        self.future = later;
        let mut values = Vec::with_capacity(now.len());
        for a in now {
            values.push(self.check(a).await?);
        }
        Ok(values)
    }

    async fn decided(
        &mut self,
        certificate: mc::CommitCertificate<XinbaoContext>,
    ) -> Result<(), ConsensusError> {
        let height = certificate.height.0;
        let ours = CommitCertificate {
            height,
            round: certificate.round.as_u32().unwrap_or(0),
            block_id: BlockId(certificate.value_id.0),
            signatures: certificate
                .commit_signatures
                .iter()
                .map(|s| CommitSignature {
                    validator: s.address.0,
                    signature: Signature(s.signature.0),
                })
                .collect(),
        };
        match self.worker.commit(ours).await? {
            Committed::Stored { tip, txs, rejected } => {
                let metrics = &self.shared.metrics;
                metrics
                    .height
                    .store(height, std::sync::atomic::Ordering::Relaxed);
                Metrics::add(&metrics.txs_committed, txs as u64);
                Metrics::add(&metrics.txs_rejected, rejected as u64);
                info!(
                    height,
                    round = %certificate.round,
                    txs,
                    block = %certificate.value_id,
                    state_root = %hex::encode(tip.state_root),
                    "committed"
                );
                // R12.5: the next height may be of a version this program does not run;
                // then the node stops here, before the engine is told to start it.
                if let Err(e) = self.shared.chain.check_supported(tip.height + 1) {
                    error!("{e}");
                    return Err(e.into());
                }
            }
            Committed::AlreadyStored => {}
            Committed::NotHeld => {
                // Nothing is committed; `Finalized` then restarts the height and sync
                // fetches the block from a peer.
                error!(
                    height,
                    block = %certificate.value_id,
                    "decided a block that is not held; the height will be restarted"
                );
            }
        }
        self.future.retain(|a| a.height.0 > height);
        Ok(())
    }

    async fn synced(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
        bytes: &[u8],
    ) -> Result<SyncedValueOutcome<XinbaoContext>, ConsensusError> {
        let Ok(block) = Block::from_bytes(bytes) else {
            return Ok(SyncedValueOutcome::PeerFault);
        };
        if block.header.height != height.0 {
            return Ok(SyncedValueOutcome::PeerFault);
        }
        let hash = BlockHash(block.id(self.shared.chain.suite()).0);
        let tip = match self.shared.chain.tip() {
            Ok(tip) => tip,
            Err(_) => return Ok(SyncedValueOutcome::LocalTransientError),
        };
        let validity = if height.0 <= tip.height {
            match self.shared.chain.history().block(height.0) {
                Ok(Some(stored)) => {
                    Validity::from_bool(stored.id(self.shared.chain.suite()).0 == hash.0)
                }
                _ => return Ok(SyncedValueOutcome::LocalTransientError),
            }
        } else if height.0 == tip.height + 1 {
            // A synced block carries a certificate (checked by the engine), so the clock
            // drift check does not apply: it may be old.
            match self.worker.check(block, None).await? {
                Ok(()) => {
                    Metrics::add(&self.shared.metrics.blocks_synced, 1);
                    Validity::Valid
                }
                Err(e) => {
                    warn!(%height, "synced block is invalid: {e}");
                    Validity::Invalid
                }
            }
        } else {
            return Ok(SyncedValueOutcome::LocalTransientError);
        };
        Ok(SyncedValueOutcome::Verdict(ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer,
            value: hash,
            validity,
        }))
    }
}

/// Our stored certificate in the engine's form (extensions are disabled).
fn engine_certificate(cert: &CommitCertificate) -> ExtendedCommitCertificate<XinbaoContext> {
    ExtendedCommitCertificate {
        height: Height(cert.height),
        round: Round::new(cert.round),
        value_id: BlockHash(cert.block_id.0),
        commit_signatures: cert
            .signatures
            .iter()
            .map(|s| {
                ExtendedCommitSignature::new(
                    Address(s.validator),
                    super::signing::ConsensusSignature(s.signature.0),
                    None,
                )
            })
            .collect(),
    }
}

/// The engine's validator set for our ledger one.
pub fn engine_validator_set(
    set: &ledger::validators::ValidatorSet,
) -> super::context::ValidatorSet {
    super::context::ValidatorSet::new(
        set.validators()
            .iter()
            .map(|v| super::context::Validator {
                address: Address(v.consensus_key),
                public_key: ConsensusPublicKey(v.consensus_key),
                voting_power: v.voting_power,
            })
            .collect(),
    )
}

/// One of the engine's signed votes in the ledger's form (votes are signed over
/// `ledger::vote::VoteBody`, so the signature carries over unchanged).
fn ledger_vote(
    vote: &mc::SignedMessage<XinbaoContext, super::context::Vote>,
) -> Option<SignedVote> {
    let v = &vote.message;
    Some(SignedVote {
        kind: match v.vote_type {
            mc::VoteType::Prevote => ledger::vote::VoteKind::Prevote,
            mc::VoteType::Precommit => ledger::vote::VoteKind::Precommit,
        },
        height: v.height.0,
        round: v.round.as_u32()?,
        block_id: match v.value {
            mc::NilOrVal::Nil => None,
            mc::NilOrVal::Val(hash) => Some(BlockId(hash.0)),
        },
        voter: v.validator.0,
        signature: Signature(vote.signature.0),
    })
}
