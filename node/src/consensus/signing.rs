//! The signing scheme (ed25519-dalek, `verify_strict`) and the one component that holds the
//! validator's consensus key.
//!
//! Every signed consensus message is domain-separated: the bytes signed are
//! `ledger::crypto::domain::CONSENSUS ‖ canonical(kind, chain id, fields)` (the ledger's
//! one encoding), so a vote on one chain can never be replayed on another, a vote can never
//! pass for a proposal, and an auditor can rebuild a precommit's bytes with the ledger
//! crate alone ([`vote_message`]).
//! The validator proof (binding the libp2p peer id to the consensus key) uses the bytes the
//! engine fixes in `ValidatorProof::signing_bytes`.

use async_trait::async_trait;
use borsh::{BorshDeserialize, BorshSerialize};
use ledger::block::BlockId;
use ledger::codec;
use std::sync::Arc;

use ledger::crypto::{domain, PublicKey, SecretKey, Signature};
use ledger::vote::{VoteBody, VoteKind};
use ledger::Id;
use malachitebft_core_types::{
    NilOrVal, Round, SignedMessage, SigningScheme, ValidatorProof, VoteExtensionScope, VoteType,
};
use malachitebft_signing::{Error as SigningError, Signer, VerificationResult, Verifier};

use super::context::{Address, BlockHash, Height, Proposal, Vote, XinbaoContext};

/// A 64-byte ed25519 signature (ordered by bytes, as the engine requires).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, BorshSerialize, BorshDeserialize,
)]
pub struct ConsensusSignature(pub [u8; 64]);

/// A consensus public key, of either algorithm.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ConsensusPublicKey(pub PublicKey);

/// The longest canonical encoding of a public key (an SM2 point and its tag), with room.
pub const KEY_BYTES_MAX: usize = 128;

/// Borsh for a newtype over [`PublicKey`]: the key's canonical encoding (which names its
/// algorithm) as a length-prefixed byte string, decoded strictly by the ledger's codec.
macro_rules! borsh_as_key {
    ($name:ident) => {
        impl borsh::BorshSerialize for $name {
            fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
                borsh::BorshSerialize::serialize(&ledger::codec::encode(&self.0), writer)
            }
        }

        impl borsh::BorshDeserialize for $name {
            fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
                let bytes: Vec<u8> = borsh::BorshDeserialize::deserialize_reader(reader)?;
                ledger::codec::decode(&bytes, $crate::consensus::signing::KEY_BYTES_MAX)
                    .map($name)
                    .map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                    })
            }
        }
    };
}
pub(crate) use borsh_as_key;

borsh_as_key!(ConsensusPublicKey);

#[derive(Debug, thiserror::Error)]
#[error("expected {expected}, got {got} bytes")]
pub struct KeyLengthError {
    expected: &'static str,
    got: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Scheme;

impl SigningScheme for Ed25519Scheme {
    type DecodingError = KeyLengthError;
    type Signature = ConsensusSignature;
    type PublicKey = ConsensusPublicKey;
    type PrivateKey = SecretKey;

    fn decode_signature(bytes: &[u8]) -> Result<ConsensusSignature, KeyLengthError> {
        bytes
            .try_into()
            .map(ConsensusSignature)
            .map_err(|_| KeyLengthError {
                expected: "64 bytes",
                got: bytes.len(),
            })
    }

    fn encode_signature(signature: &ConsensusSignature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<ConsensusPublicKey, KeyLengthError> {
        codec::decode(bytes, KEY_BYTES_MAX)
            .map(ConsensusPublicKey)
            .map_err(|_| KeyLengthError {
                expected: "the canonical encoding of a public key",
                got: bytes.len(),
            })
    }

    fn encode_public_key(public_key: &ConsensusPublicKey) -> Vec<u8> {
        codec::encode(&public_key.0)
    }
}

/// What a signature is over, by kind of message.
#[derive(Clone, Copy)]
pub enum SignKind {
    Vote,
    Proposal,
    /// The final proposal part: (height, round, block id, proposer) of a streamed block.
    PartFin,
    Extension,
}

impl SignKind {
    fn tag(self) -> &'static str {
        match self {
            SignKind::Vote => "vote",
            SignKind::Proposal => "proposal",
            SignKind::PartFin => "part-fin",
            SignKind::Extension => "extension",
        }
    }
}

/// Round as a signed integer: −1 for nil.
fn round_i64(round: Round) -> i64 {
    round.as_i64()
}

/// The message signed for a vote, after the consensus domain: the ledger's
/// [`VoteBody::sign_bytes`], so an auditor checks a certificate with the ledger crate alone
/// (`CommitCertificate::verify`). `None` for a vote without a round, which the engine
/// never makes.
pub fn vote_message(chain_id: &Id, vote: &Vote) -> Option<Vec<u8>> {
    let kind = match vote.vote_type {
        VoteType::Prevote => VoteKind::Prevote,
        VoteType::Precommit => VoteKind::Precommit,
    };
    let block_id = match vote.value {
        NilOrVal::Nil => None,
        NilOrVal::Val(hash) => Some(BlockId(hash.0)),
    };
    let body = VoteBody {
        chain_id: chain_id.clone(),
        kind,
        height: vote.height.0,
        round: vote.round.as_u32()?,
        block_id,
        voter: vote.validator.0,
    };
    Some(body.sign_bytes())
}

fn proposal_message(chain_id: &str, p: &Proposal) -> Vec<u8> {
    let body = (
        p.height.0,
        round_i64(p.round),
        p.value.0,
        round_i64(p.pol_round),
        p.proposer.0,
    );
    codec::encode(&(SignKind::Proposal.tag(), chain_id, body))
}

/// The message signed in the final part of a streamed block.
pub fn part_fin_message(
    chain_id: &str,
    height: Height,
    round: Round,
    block_hash: BlockHash,
    proposer: Address,
) -> Vec<u8> {
    let body = (height.0, round_i64(round), block_hash.0, proposer.0);
    codec::encode(&(SignKind::PartFin.tag(), chain_id, body))
}

fn extension_message(chain_id: &str, scope: &VoteExtensionScope<XinbaoContext>) -> Vec<u8> {
    let body = (
        scope.height.0,
        round_i64(scope.round),
        scope.value_id.0,
        scope.validator_address.0,
    );
    codec::encode(&(SignKind::Extension.tag(), chain_id, body))
}

/// Strict verification of `signature` by `public_key` over the consensus domain and
/// `message`.
pub fn verify_message(
    public_key: &ConsensusPublicKey,
    message: &[u8],
    signature: &ConsensusSignature,
) -> bool {
    public_key
        .0
        .verify(domain::CONSENSUS, message, &Signature(signature.0))
        .is_ok()
}

/// Holds the consensus key (in memory, or in a cryptographic module); signs votes,
/// proposals, final parts and the validator proof.
pub struct ConsensusSigner {
    key: Arc<dyn ledger::crypto::Signer>,
    public_key: PublicKey,
    chain_id: Id,
}

impl ConsensusSigner {
    pub fn new(key: Arc<dyn ledger::crypto::Signer>, chain_id: Id) -> Self {
        let public_key = key.public_key();
        ConsensusSigner {
            key,
            public_key,
            chain_id,
        }
    }

    pub fn public_key(&self) -> ConsensusPublicKey {
        ConsensusPublicKey(self.public_key)
    }

    pub fn address(&self) -> Address {
        Address(self.public_key)
    }

    /// A module that cannot sign (unplugged, logged out) fails the signature, and the
    /// engine goes on without this node's vote until it can again.
    fn sign_message(&self, message: &[u8]) -> Result<ConsensusSignature, SigningError> {
        self.key
            .try_sign(domain::CONSENSUS, message)
            .map(|signature| ConsensusSignature(signature.0))
            .map_err(SigningError::from_source)
    }

    /// Signs the final part of a block this node streams.
    pub fn sign_part_fin(
        &self,
        height: Height,
        round: Round,
        block_hash: BlockHash,
    ) -> Result<ConsensusSignature, SigningError> {
        self.sign_message(&part_fin_message(
            self.chain_id.as_str(),
            height,
            round,
            block_hash,
            self.address(),
        ))
    }
}

#[async_trait]
impl Signer<XinbaoContext> for ConsensusSigner {
    async fn sign_vote(
        &self,
        vote: Vote,
    ) -> Result<SignedMessage<XinbaoContext, Vote>, SigningError> {
        let message = vote_message(&self.chain_id, &vote)
            .ok_or_else(|| SigningError::from_source("a vote without a round"))?;
        let signature = self.sign_message(&message)?;
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<XinbaoContext, Proposal>, SigningError> {
        let signature = self.sign_message(&proposal_message(self.chain_id.as_str(), &proposal))?;
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<XinbaoContext>,
        extension: (),
    ) -> Result<SignedMessage<XinbaoContext, ()>, SigningError> {
        let signature = self.sign_message(&extension_message(self.chain_id.as_str(), &scope))?;
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<XinbaoContext>, SigningError> {
        let bytes = ValidatorProof::<XinbaoContext>::signing_bytes(&public_key, &peer_id);
        // The proof's bytes are fixed by the engine and carry their own "PoV" prefix; they
        // are signed under the consensus domain like everything else this key signs.
        let signature = self.sign_message(&bytes)?;
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

/// Checks signatures for the engine; holds only the chain id.
#[derive(Clone)]
pub struct ConsensusVerifier {
    chain_id: Id,
}

impl ConsensusVerifier {
    pub fn new(chain_id: Id) -> Self {
        ConsensusVerifier { chain_id }
    }
}

#[async_trait]
impl Verifier<XinbaoContext> for ConsensusVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &ConsensusSignature,
        public_key: &ConsensusPublicKey,
    ) -> Result<VerificationResult, SigningError> {
        let Some(message) = vote_message(&self.chain_id, vote) else {
            return Ok(VerificationResult::Invalid);
        };
        Ok(VerificationResult::from_bool(verify_message(
            public_key, &message, signature,
        )))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &ConsensusSignature,
        public_key: &ConsensusPublicKey,
    ) -> Result<VerificationResult, SigningError> {
        Ok(VerificationResult::from_bool(verify_message(
            public_key,
            &proposal_message(self.chain_id.as_str(), proposal),
            signature,
        )))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<XinbaoContext>,
        _extension: &(),
        signature: &ConsensusSignature,
        public_key: &ConsensusPublicKey,
    ) -> Result<VerificationResult, SigningError> {
        Ok(VerificationResult::from_bool(verify_message(
            public_key,
            &extension_message(self.chain_id.as_str(), scope),
            signature,
        )))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<XinbaoContext>,
    ) -> Result<VerificationResult, SigningError> {
        let Ok(public_key) = codec::decode(&proof.public_key, KEY_BYTES_MAX) else {
            return Ok(VerificationResult::Invalid);
        };
        Ok(VerificationResult::from_bool(verify_message(
            &ConsensusPublicKey(public_key),
            &proof.preimage(),
            &proof.signature,
        )))
    }
}
