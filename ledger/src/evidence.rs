//! Evidence of equivocation: one validator's two signed votes of the same kind, height and
//! round for different values. Votes are signed over [`VoteBody`], so anyone holding the
//! genesis and the chain checks a piece of evidence with this crate alone, without
//! trusting the node that reported it: the two signatures are the proof.

use serde::{Deserialize, Serialize};

use crate::block::BlockId;
use crate::crypto::{domain, PublicKey, Signature};
use crate::validators::ValidatorSet;
use crate::vote::{VoteBody, VoteKind};
use crate::Id;

/// One signed vote, as kept in evidence. `block_id` `None` is a vote for nil.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedVote {
    pub kind: VoteKind,
    pub height: u64,
    pub round: u32,
    pub block_id: Option<BlockId>,
    pub voter: PublicKey,
    pub signature: Signature,
}

impl SignedVote {
    fn body(&self, chain_id: &Id) -> VoteBody {
        VoteBody {
            chain_id: chain_id.clone(),
            kind: self.kind,
            height: self.height,
            round: self.round,
            block_id: self.block_id,
            voter: self.voter,
        }
    }
}

/// Two conflicting votes of one validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoubleVote {
    pub first: SignedVote,
    pub second: SignedVote,
}

/// Why a piece of evidence proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("the two votes are not of one validator, kind, height and round")]
    NotTheSameSlot,
    #[error("the two votes are for the same value: no conflict")]
    SameValue,
    #[error("{0} was not a validator at height {1}")]
    NotAValidator(PublicKey, u64),
    #[error("the {0} vote's signature does not verify")]
    BadSignature(&'static str),
}

impl DoubleVote {
    /// Checks that this is one validator of `validators` (the set of its height) signing
    /// two different values in one slot of chain `chain_id`.
    pub fn verify(&self, chain_id: &Id, validators: &ValidatorSet) -> Result<(), EvidenceError> {
        let (a, b) = (&self.first, &self.second);
        if (a.kind, a.height, a.round, a.voter) != (b.kind, b.height, b.round, b.voter) {
            return Err(EvidenceError::NotTheSameSlot);
        }
        if a.block_id == b.block_id {
            return Err(EvidenceError::SameValue);
        }
        if validators.voting_power(&a.voter).is_none() {
            return Err(EvidenceError::NotAValidator(a.voter, a.height));
        }
        for (which, vote) in [("first", a), ("second", b)] {
            let bytes = vote.body(chain_id).sign_bytes();
            vote.voter
                .verify(domain::CONSENSUS, &bytes, &vote.signature)
                .map_err(|_| EvidenceError::BadSignature(which))?;
        }
        Ok(())
    }

    /// The validator that equivocated.
    pub fn validator(&self) -> PublicKey {
        self.first.voter
    }

    pub fn height(&self) -> u64 {
        self.first.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::validators::Validator;

    fn vote(key: &SecretKey, chain: &Id, block: Option<u8>) -> SignedVote {
        let mut v = SignedVote {
            kind: VoteKind::Precommit,
            height: 7,
            round: 1,
            block_id: block.map(|b| BlockId([b; 32])),
            voter: key.public_key(),
            signature: Signature([0; 64]),
        };
        v.signature = key.sign(domain::CONSENSUS, &v.body(chain).sign_bytes());
        v
    }

    #[test]
    fn two_signed_values_in_one_slot_prove_equivocation_and_nothing_else_does() {
        let chain = Id::new("c").unwrap();
        let key = SecretKey::from_seed([3; 32]);
        let other = SecretKey::from_seed([4; 32]);
        let set = ValidatorSet::new(vec![Validator {
            consensus_key: key.public_key(),
            voting_power: 1,
        }])
        .unwrap();
        let ok = DoubleVote {
            first: vote(&key, &chain, Some(1)),
            second: vote(&key, &chain, None),
        };
        ok.verify(&chain, &set).unwrap();
        assert_eq!(ok.validator(), key.public_key());

        let same = DoubleVote {
            first: vote(&key, &chain, Some(1)),
            second: vote(&key, &chain, Some(1)),
        };
        assert_eq!(same.verify(&chain, &set), Err(EvidenceError::SameValue));

        let mut later = ok.clone();
        later.second.round = 2;
        assert_eq!(
            later.verify(&chain, &set),
            Err(EvidenceError::NotTheSameSlot)
        );

        // Signed for another chain: the signature does not carry over.
        let elsewhere = Id::new("d").unwrap();
        assert_eq!(
            ok.verify(&elsewhere, &set),
            Err(EvidenceError::BadSignature("first"))
        );

        let outsider = DoubleVote {
            first: vote(&other, &chain, Some(1)),
            second: vote(&other, &chain, Some(2)),
        };
        assert!(matches!(
            outsider.verify(&chain, &set),
            Err(EvidenceError::NotAValidator(..))
        ));

        let mut forged = ok.clone();
        forged.second.block_id = Some(BlockId([9; 32]));
        assert_eq!(
            forged.verify(&chain, &set),
            Err(EvidenceError::BadSignature("second"))
        );

        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<DoubleVote>(&json).unwrap(), ok);
    }
}
