//! Our `Context` for the Malachite engine ([`XinbaoContext`]): heights, addresses, block-id values, votes,
//! proposals, proposal parts and the validator set.
//!
//! A validator's address is its 32-byte ed25519 consensus key, so an address found in a
//! vote or certificate is also the key that checks its signature, and an auditor needs no
//! extra mapping. The value agreed on is the 32-byte block id; the block itself travels as
//! proposal parts (see `parts.rs`).

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ledger::crypto::PublicKey;
use malachitebft_core_types::{
    self as mc, LinearTimeouts, NilOrVal, Round, SignedExtension, VoteType,
};

use super::signing::{ConsensusPublicKey, Ed25519Scheme};

/// The engine's height: our block height.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.checked_add(n).expect("height overflow"))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its consensus public key (on the wire, the key's canonical
/// encoding, which names its algorithm).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub PublicKey);

super::signing::borsh_as_key!(Address);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({:?})", self.0)
    }
}

impl mc::Address for Address {}

/// The value consensus agrees on: a block id (blake3 of the canonical header). It is its
/// own id, so votes and proposals carry the same 32 bytes.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct BlockHash(pub [u8; 32]);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", &hex::encode(self.0)[..16])
    }
}

impl mc::Value for BlockHash {
    type Id = BlockHash;

    fn id(&self) -> BlockHash {
        *self
    }
}

/// A prevote or precommit. Vote extensions are disabled, so a vote never carries one.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    pub vote_type: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<BlockHash>,
    pub validator: Address,
}

impl mc::Vote<XinbaoContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<XinbaoContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<XinbaoContext>> {
        None
    }

    fn extend(self, _extension: SignedExtension<XinbaoContext>) -> Self {
        // Extensions are disabled by policy (`VoteExtensionPolicy::Disabled` at every
        // height), so the engine never asks for one to be attached.
        self
    }
}

/// The signed proposal: which block id the proposer proposes at (height, round).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: BlockHash,
    pub pol_round: Round,
    pub proposer: Address,
}

impl mc::Proposal<XinbaoContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockHash {
        &self.value
    }

    fn take_value(self) -> BlockHash {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// One part of a streamed block: `Init`, then `Chunk`s of the canonical block bytes, then
/// `Fin` with the proposer's signature over (chain, height, round, block id). The engine
/// does not authenticate parts, so the receiver checks `Fin` against the validator set.
#[derive(Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    Init {
        height: Height,
        round: Round,
        pol_round: Round,
        proposer: Address,
    },
    Chunk(Vec<u8>),
    Fin {
        block_hash: BlockHash,
        signature: super::signing::ConsensusSignature,
    },
}

impl fmt::Debug for ProposalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposalPart::Init {
                height,
                round,
                proposer,
                ..
            } => write!(f, "Init({height}, {round}, {proposer:?})"),
            ProposalPart::Chunk(bytes) => write!(f, "Chunk({} bytes)", bytes.len()),
            ProposalPart::Fin { block_hash, .. } => write!(f, "Fin({block_hash:?})"),
        }
    }
}

impl mc::ProposalPart<XinbaoContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: Address,
    pub public_key: ConsensusPublicKey,
    pub voting_power: u64,
}

impl mc::Validator<XinbaoContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &ConsensusPublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> u64 {
        self.voting_power
    }
}

/// The validators of a height, sorted by address (the proposer rotation's order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

impl ValidatorSet {
    /// Sorts by address; duplicates and zero powers must have been refused before
    /// (genesis validation).
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.sort_by_key(|v| v.address);
        assert!(!validators.is_empty(), "a validator set is never empty");
        ValidatorSet { validators }
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl mc::ValidatorSet<XinbaoContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.validators.iter().map(|v| v.voting_power).sum()
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by_key(address, |v| v.address)
            .ok()
            .map(|i| &self.validators[i])
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// Ties the types together. Holds nothing: the chain id that separates signing domains
/// lives with the signer and verifier.
#[derive(Clone, Copy, Debug, Default)]
pub struct XinbaoContext;

impl mc::Context for XinbaoContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockHash;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519Scheme;

    /// Round-robin over the address-sorted set: height h, round r picks index
    /// `(h − 1 + r) mod n`, so every validator proposes in turn and a round change moves
    /// to the next one.
    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let index = proposer_index(validator_set.validators.len(), height, round);
        &validator_set.validators[index]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockHash,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }
}

/// Index of the proposer of (height, round) in a set of `count` validators.
pub fn proposer_index(count: usize, height: Height, round: Round) -> usize {
    assert!(count > 0);
    let round = u64::from(round.as_u32().unwrap_or(0));
    let slot = height.0.saturating_sub(1).wrapping_add(round);
    (slot % count as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposer_rotates_by_height_and_round() {
        assert_eq!(proposer_index(4, Height(1), Round::new(0)), 0);
        assert_eq!(proposer_index(4, Height(2), Round::new(0)), 1);
        assert_eq!(proposer_index(4, Height(4), Round::new(1)), 0);
        assert_eq!(proposer_index(4, Height(5), Round::new(0)), 0);
    }
}
