//! Consensus votes as signed bytes, and commit-certificate verification.
//!
//! The bytes a validator signs for a vote are defined here, not in the node, so that an
//! auditor who holds only the genesis file can check a [`CommitCertificate`] with this
//! crate alone, and the node and the auditor cannot disagree about what a valid
//! certificate is. A vote signature is over
//! `domain::CONSENSUS ‖ "vote" ‖ canonical(VoteBody)`; the body names the chain, so a vote
//! cannot be replayed on another chain, and its kind, so a prevote never passes for a
//! precommit.

use std::collections::BTreeSet;

use bincode::{Decode, Encode};

use crate::block::{BlockId, CommitCertificate};
use crate::crypto::{domain, verify_batch, Check, PublicKey, SecretKey, Signature, VerifyError};
use crate::validators::ValidatorSet;
use crate::{codec, Id};

/// The tag after the consensus domain for votes.
pub const VOTE_TAG: &[u8] = b"vote";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
pub enum VoteKind {
    Prevote,
    Precommit,
}

/// What a validator signs when it votes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct VoteBody {
    pub chain_id: Id,
    pub kind: VoteKind,
    pub height: u64,
    pub round: u32,
    /// `None` is a vote for nil.
    pub block_id: Option<BlockId>,
    pub voter: PublicKey,
}

impl VoteBody {
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut bytes = VOTE_TAG.to_vec();
        bytes.extend_from_slice(&codec::encode(self));
        bytes
    }

    pub fn sign(&self, key: &SecretKey) -> Signature {
        key.sign(domain::CONSENSUS, &self.sign_bytes())
    }

    pub fn verify(&self, signature: &Signature) -> Result<(), VerifyError> {
        self.voter
            .verify(domain::CONSENSUS, &self.sign_bytes(), signature)
    }
}

/// Why a commit certificate does not prove its block was decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate is for height {certificate}, the block is at {block}")]
    WrongHeight { certificate: u64, block: u64 },
    #[error("the certificate is for block {certificate}, not {block}")]
    WrongBlock {
        certificate: BlockId,
        block: BlockId,
    },
    #[error("signer {0} is not a validator at this height")]
    UnknownSigner(PublicKey),
    #[error("validator {0} signs twice")]
    DuplicateSigner(PublicKey),
    #[error("the precommit signature of {key} does not verify: {reason}")]
    BadSignature { key: PublicKey, reason: VerifyError },
    #[error("signers hold {signed} of {total} voting power, not more than two thirds")]
    NoQuorum { signed: u64, total: u64 },
}

impl CommitCertificate {
    /// Checks that more than 2/3 of `validators`' voting power precommitted `block_id` at
    /// `height` on `chain_id`, every signature verifying, no signer unknown or repeated.
    pub fn verify(
        &self,
        chain_id: &Id,
        height: u64,
        block_id: &BlockId,
        validators: &ValidatorSet,
    ) -> Result<(), CertificateError> {
        if self.height != height {
            return Err(CertificateError::WrongHeight {
                certificate: self.height,
                block: height,
            });
        }
        if self.block_id != *block_id {
            return Err(CertificateError::WrongBlock {
                certificate: self.block_id,
                block: *block_id,
            });
        }
        let mut seen = BTreeSet::new();
        let mut signed: u64 = 0;
        let mut messages = Vec::with_capacity(self.signatures.len());
        for entry in &self.signatures {
            let power = validators
                .voting_power(&entry.validator)
                .ok_or(CertificateError::UnknownSigner(entry.validator))?;
            if !seen.insert(entry.validator) {
                return Err(CertificateError::DuplicateSigner(entry.validator));
            }
            let vote = VoteBody {
                chain_id: chain_id.clone(),
                kind: VoteKind::Precommit,
                height: self.height,
                round: self.round,
                block_id: Some(self.block_id),
                voter: entry.validator,
            };
            messages.push(vote.sign_bytes());
            // Powers are bounded so their total fits u64 (ValidatorSet::new checks it).
            signed += power;
        }
        // Every precommit in one batch: the same verdicts as one by one.
        let checks: Vec<Check<'_>> = self
            .signatures
            .iter()
            .zip(&messages)
            .map(|(entry, message)| Check {
                key: &entry.validator,
                domain: domain::CONSENSUS,
                message,
                signature: &entry.signature,
            })
            .collect();
        for (entry, verdict) in self.signatures.iter().zip(verify_batch(&checks)) {
            verdict.map_err(|reason| CertificateError::BadSignature {
                key: entry.validator,
                reason,
            })?;
        }
        if !validators.is_quorum(signed) {
            return Err(CertificateError::NoQuorum {
                signed,
                total: validators.total_voting_power(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::CommitSignature;
    use crate::validators::Validator;

    fn setup(n: u8) -> (Vec<SecretKey>, ValidatorSet) {
        let keys: Vec<SecretKey> = (1..=n).map(|i| SecretKey::from_seed([i; 32])).collect();
        let set = ValidatorSet::new(
            keys.iter()
                .map(|k| Validator {
                    consensus_key: k.public_key(),
                    voting_power: 1,
                })
                .collect(),
        )
        .unwrap();
        (keys, set)
    }

    fn certificate(
        keys: &[SecretKey],
        chain: &Id,
        height: u64,
        block: BlockId,
    ) -> CommitCertificate {
        let signatures = keys
            .iter()
            .map(|k| {
                let vote = VoteBody {
                    chain_id: chain.clone(),
                    kind: VoteKind::Precommit,
                    height,
                    round: 0,
                    block_id: Some(block),
                    voter: k.public_key(),
                };
                CommitSignature {
                    validator: k.public_key(),
                    signature: vote.sign(k),
                }
            })
            .collect();
        CommitCertificate {
            height,
            round: 0,
            block_id: block,
            signatures,
        }
    }

    #[test]
    fn quorum_of_valid_precommits_verifies() {
        let (keys, set) = setup(4);
        let chain = Id::new("xinbao-test").unwrap();
        let block = BlockId([7; 32]);
        let cert = certificate(&keys[..3], &chain, 5, block);
        assert_eq!(cert.verify(&chain, 5, &block, &set), Ok(()));
    }

    #[test]
    fn short_of_two_thirds_is_refused() {
        let (keys, set) = setup(4);
        let chain = Id::new("xinbao-test").unwrap();
        let block = BlockId([7; 32]);
        let cert = certificate(&keys[..2], &chain, 5, block);
        assert_eq!(
            cert.verify(&chain, 5, &block, &set),
            Err(CertificateError::NoQuorum {
                signed: 2,
                total: 4
            })
        );
    }

    #[test]
    fn forged_duplicate_unknown_and_foreign_signatures_are_refused() {
        let (keys, set) = setup(4);
        let chain = Id::new("xinbao-test").unwrap();
        let block = BlockId([7; 32]);

        let mut forged = certificate(&keys[..3], &chain, 5, block);
        forged.signatures[1].signature.0[0] ^= 1;
        assert!(matches!(
            forged.verify(&chain, 5, &block, &set),
            Err(CertificateError::BadSignature { .. })
        ));

        let mut duplicate = certificate(&keys[..2], &chain, 5, block);
        duplicate.signatures.push(duplicate.signatures[0].clone());
        assert!(matches!(
            duplicate.verify(&chain, 5, &block, &set),
            Err(CertificateError::DuplicateSigner(_))
        ));

        let outsider = SecretKey::from_seed([99; 32]);
        let mut unknown = certificate(&keys[..3], &chain, 5, block);
        unknown
            .signatures
            .extend(certificate(std::slice::from_ref(&outsider), &chain, 5, block).signatures);
        assert!(matches!(
            unknown.verify(&chain, 5, &block, &set),
            Err(CertificateError::UnknownSigner(_))
        ));

        let other_chain = Id::new("xinbao-other").unwrap();
        let foreign = certificate(&keys[..3], &other_chain, 5, block);
        assert!(matches!(
            foreign.verify(&chain, 5, &block, &set),
            Err(CertificateError::BadSignature { .. })
        ));

        let cert = certificate(&keys[..3], &chain, 5, block);
        assert!(matches!(
            cert.verify(&chain, 6, &block, &set),
            Err(CertificateError::WrongHeight { .. })
        ));
        assert!(matches!(
            cert.verify(&chain, 5, &BlockId([8; 32]), &set),
            Err(CertificateError::WrongBlock { .. })
        ));
    }
}
