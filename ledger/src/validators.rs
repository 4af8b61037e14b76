//! The validator set: who votes, with what weight.
//!
//! Kept in one canonical order (by consensus key) so that its hash does not depend on the
//! order of a file. A set is never empty, every voting power is positive and the total
//! fits a `u64`; [`ValidatorSet::new`] is the only way to make one.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::{domain, PublicKey};
use crate::state::Hash32;

/// The most validators a set may hold.
pub const VALIDATORS_MAX: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Validator {
    pub consensus_key: PublicKey,
    pub voting_power: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    #[error("the validator set is empty")]
    Empty,
    #[error("{count} validators, at most {max} are allowed", max = VALIDATORS_MAX)]
    TooMany { count: usize },
    #[error("validator {0} appears twice")]
    Duplicate(PublicKey),
    #[error("validator {0} has no voting power")]
    ZeroPower(PublicKey),
    #[error("the total voting power does not fit in 64 bits")]
    PowerOverflow,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total_voting_power: u64,
}

impl ValidatorSet {
    pub fn new(mut validators: Vec<Validator>) -> Result<ValidatorSet, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        if validators.len() > VALIDATORS_MAX {
            return Err(ValidatorSetError::TooMany {
                count: validators.len(),
            });
        }
        validators.sort_by_key(|v| v.consensus_key);
        let mut total: u64 = 0;
        for (i, v) in validators.iter().enumerate() {
            if i > 0 && validators[i - 1].consensus_key == v.consensus_key {
                return Err(ValidatorSetError::Duplicate(v.consensus_key));
            }
            if v.voting_power == 0 {
                return Err(ValidatorSetError::ZeroPower(v.consensus_key));
            }
            total = total
                .checked_add(v.voting_power)
                .ok_or(ValidatorSetError::PowerOverflow)?;
        }
        Ok(ValidatorSet {
            validators,
            total_voting_power: total,
        })
    }

    /// In canonical order (by consensus key).
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    pub fn total_voting_power(&self) -> u64 {
        self.total_voting_power
    }

    pub fn voting_power(&self, key: &PublicKey) -> Option<u64> {
        self.validators
            .binary_search_by(|v| v.consensus_key.cmp(key))
            .ok()
            .map(|i| self.validators[i].voting_power)
    }

    /// Whether `power` is more than two thirds of the total (computed without overflow).
    pub fn is_quorum(&self, power: u64) -> bool {
        u128::from(power) * 3 > u128::from(self.total_voting_power) * 2
    }

    /// `blake3(VALIDATOR_SET ‖ canonical bytes of the validators in canonical order)`.
    pub fn hash(&self) -> Hash32 {
        let mut hasher = blake3::Hasher::new();
        hasher.update(domain::VALIDATOR_SET);
        hasher.update(&codec::encode(&self.validators));
        *hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(byte: u8, power: u64) -> Validator {
        Validator {
            consensus_key: PublicKey([byte; 32]),
            voting_power: power,
        }
    }

    #[test]
    fn order_does_not_change_the_hash_and_power_does() {
        let a = ValidatorSet::new(vec![v(1, 1), v(2, 1), v(3, 1)]).unwrap();
        let b = ValidatorSet::new(vec![v(3, 1), v(1, 1), v(2, 1)]).unwrap();
        assert_eq!(a.hash(), b.hash());
        let c = ValidatorSet::new(vec![v(3, 2), v(1, 1), v(2, 1)]).unwrap();
        assert_ne!(a.hash(), c.hash());
        assert_eq!(c.total_voting_power(), 4);
        assert_eq!(c.voting_power(&PublicKey([3; 32])), Some(2));
        assert_eq!(c.voting_power(&PublicKey([4; 32])), None);
    }

    #[test]
    fn quorum_is_strictly_more_than_two_thirds() {
        let s = ValidatorSet::new(vec![v(1, 1), v(2, 1), v(3, 1), v(4, 1)]).unwrap();
        assert!(!s.is_quorum(2));
        assert!(s.is_quorum(3));
        let s = ValidatorSet::new(vec![v(1, 1), v(2, 1), v(3, 1)]).unwrap();
        assert!(!s.is_quorum(2));
        assert!(s.is_quorum(3));
        let big = ValidatorSet::new(vec![v(1, u64::MAX / 2), v(2, u64::MAX / 2)]).unwrap();
        assert!(big.is_quorum(u64::MAX - 1));
        assert!(!big.is_quorum(u64::MAX / 2));
    }

    #[test]
    fn rejects_bad_sets() {
        assert_eq!(ValidatorSet::new(vec![]), Err(ValidatorSetError::Empty));
        assert_eq!(
            ValidatorSet::new(vec![v(1, 1), v(1, 2)]),
            Err(ValidatorSetError::Duplicate(PublicKey([1; 32])))
        );
        assert_eq!(
            ValidatorSet::new(vec![v(1, 0)]),
            Err(ValidatorSetError::ZeroPower(PublicKey([1; 32])))
        );
        assert_eq!(
            ValidatorSet::new(vec![v(1, u64::MAX), v(2, 1)]),
            Err(ValidatorSetError::PowerOverflow)
        );
    }
}
