//! The validator set (who votes, with what weight) and the roster it is drawn from.
//!
//! A [`ValidatorSet`] is kept in one canonical order (by consensus key) so that its hash
//! does not depend on the order of a file. A set is never empty, every voting power is
//! positive and the total fits a `u64`; [`ValidatorSet::new`] is the only way to make one.
//!
//! The [`Roster`] is every node the consortium admits to its network: each entry names the
//! organisation that runs it, its consensus key (also its network identity), its voting
//! power and its p2p address. An entry of voting power 0 is a follower: it may connect and
//! follow the chain, and votes in nothing. The validator set of a height is the roster's
//! entries of positive power. Governance (DOMAIN.md R11) changes the roster with
//! [`Roster::apply`], the one function that the rulebook and a proof checker both use, so
//! they cannot disagree about the set a change leaves.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::{domain, Algorithm, PublicKey, Signature, Signer, SignerError, VerifyError};
use crate::state::Hash32;
use crate::{Id, Text};

/// The most validators a set may hold (and the most nodes a roster may hold).
pub const VALIDATORS_MAX: usize = 256;

/// A roster or parameter change committed in block `h` governs from block
/// `h + CHANGE_DELAY` (DOMAIN.md R11.5).
pub const CHANGE_DELAY: u64 = 2;

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

    /// `H(VALIDATOR_SET ‖ canonical bytes of the validators in canonical order)`, `H` the
    /// suite's hash.
    pub fn hash(&self, suite: crate::crypto::Suite) -> Hash32 {
        let mut hasher = suite.hasher();
        hasher
            .update(domain::VALIDATOR_SET)
            .update(&codec::encode(&self.validators));
        hasher.finalize()
    }
}

/// The ed25519 key a node's p2p transport authenticates with when that is not its
/// consensus key, bound to the node by its consensus key's signature over
/// `TRANSPORT ‖ encoded key`.
///
/// libp2p identities are ed25519 keys, so a node whose consensus key is SM2 (an
/// `sm2-sm3` chain) must have one; a node whose ed25519 consensus key lives in a
/// hardware module, where the transport cannot use it, may have one. Peers pin a node
/// by its transport key when it has one, and by its consensus key otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct TransportKey {
    pub key: PublicKey,
    pub signature: Signature,
}

/// Why a node's transport key is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("a {0} consensus key cannot be a p2p identity: the node needs an ed25519 transport key bound to it")]
    Missing(Algorithm),
    #[error("the transport key is {0}; transport keys are ed25519")]
    NotEd25519(Algorithm),
    #[error("the transport key: {0}")]
    BadKey(VerifyError),
    #[error("the consensus key's signature binding the transport key: {0}")]
    BadBinding(VerifyError),
}

impl TransportKey {
    /// `key` bound by the consensus key that `consensus` holds.
    pub fn bind(consensus: &dyn Signer, key: PublicKey) -> Result<TransportKey, SignerError> {
        let signature = consensus.try_sign(domain::TRANSPORT, &codec::encode(&key))?;
        Ok(TransportKey { key, signature })
    }

    /// Whether `transport` is an acceptable transport for a node of `consensus_key`:
    /// required when that key is not ed25519; when present, an ed25519 key that the
    /// consensus key signed.
    pub fn check(
        consensus_key: &PublicKey,
        transport: Option<&TransportKey>,
    ) -> Result<(), TransportError> {
        let Some(transport) = transport else {
            return match consensus_key.algorithm() {
                Algorithm::Ed25519 => Ok(()),
                other => Err(TransportError::Missing(other)),
            };
        };
        if transport.key.algorithm() != Algorithm::Ed25519 {
            return Err(TransportError::NotEd25519(transport.key.algorithm()));
        }
        transport.key.check().map_err(TransportError::BadKey)?;
        consensus_key
            .verify(
                domain::TRANSPORT,
                &codec::encode(&transport.key),
                &transport.signature,
            )
            .map_err(TransportError::BadBinding)
    }
}

/// One node the consortium admits: a validator, or a follower when its power is 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct RosterEntry {
    /// The member organisation that runs this node.
    pub org: Id,
    /// The key that signs its votes and proposals (of the chain's algorithm), and its
    /// network identity unless it has a transport key.
    pub consensus_key: PublicKey,
    /// 0 for a follower, which votes in nothing.
    pub voting_power: u64,
    /// Where peers reach it: a libp2p multiaddr such as `/ip4/10.0.0.1/tcp/27000` or
    /// `/dns4/node.bank.example/tcp/27000`.
    pub address: Text,
    /// Its p2p identity when that is not the consensus key (see [`TransportKey`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportKey>,
}

impl RosterEntry {
    /// The ed25519 key its p2p transport authenticates with: the transport key if it has
    /// one, else the consensus key.
    pub fn network_key(&self) -> PublicKey {
        self.transport.map_or(self.consensus_key, |t| t.key)
    }
}

/// Every node the consortium admits, in canonical order (by consensus key), keys distinct.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode)]
pub struct Roster {
    entries: Vec<RosterEntry>,
}

/// A change to the roster (DOMAIN.md R11.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterChange {
    Add(RosterEntry),
    Remove(PublicKey),
    SetPower {
        consensus_key: PublicKey,
        voting_power: u64,
    },
    Rotate {
        consensus_key: PublicKey,
        new_consensus_key: PublicKey,
        /// The new address, when the node also moves.
        address: Option<Text>,
        /// The transport key bound by the new consensus key (the old binding was signed
        /// by the old key, so it does not carry over).
        transport: Option<TransportKey>,
    },
    /// An organisation leaves: every node it runs leaves with it.
    RemoveOrg(Id),
}

/// Why a roster change cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("{0} is not a node of the roster")]
    UnknownValidator(PublicKey),
    #[error("key {0} is already in the roster")]
    DuplicateKey(PublicKey),
    #[error("the change would leave no validator")]
    NoValidators,
    #[error("the change would leave more than {max} nodes", max = VALIDATORS_MAX)]
    TooMany,
    #[error("the total voting power would not fit in 64 bits")]
    PowerOverflow,
}

impl Roster {
    /// A roster of `entries` in any order; `DuplicateKey` if a consensus key appears
    /// twice, or two nodes would have one network identity. An empty roster or one without
    /// validators is a roster (offline scenarios start empty); a change is what must leave
    /// a workable one.
    pub fn new(mut entries: Vec<RosterEntry>) -> Result<Roster, RosterError> {
        if entries.len() > VALIDATORS_MAX {
            return Err(RosterError::TooMany);
        }
        entries.sort_by_key(|e| e.consensus_key);
        for pair in entries.windows(2) {
            if pair[0].consensus_key == pair[1].consensus_key {
                return Err(RosterError::DuplicateKey(pair[0].consensus_key));
            }
        }
        let mut network = std::collections::BTreeSet::new();
        for entry in &entries {
            if !network.insert(entry.network_key()) {
                return Err(RosterError::DuplicateKey(entry.network_key()));
            }
        }
        Ok(Roster { entries })
    }

    /// In canonical order (by consensus key).
    pub fn entries(&self) -> &[RosterEntry] {
        &self.entries
    }

    pub fn get(&self, key: &PublicKey) -> Option<&RosterEntry> {
        self.position(key).map(|i| &self.entries[i])
    }

    fn position(&self, key: &PublicKey) -> Option<usize> {
        self.entries
            .binary_search_by(|e| e.consensus_key.cmp(key))
            .ok()
    }

    /// The validators: the entries of positive voting power.
    pub fn validator_set(&self) -> Result<ValidatorSet, ValidatorSetError> {
        ValidatorSet::new(
            self.entries
                .iter()
                .filter(|e| e.voting_power > 0)
                .map(|e| Validator {
                    consensus_key: e.consensus_key,
                    voting_power: e.voting_power,
                })
                .collect(),
        )
    }

    /// The roster after `change`, which must name nodes that exist and keys that do not,
    /// and leave a workable validator set: at least one validator, at most
    /// [`VALIDATORS_MAX`] nodes, a total power that fits 64 bits.
    pub fn apply(&self, change: &RosterChange) -> Result<Roster, RosterError> {
        let mut entries = self.entries.clone();
        match change {
            RosterChange::Add(entry) => {
                if self.get(&entry.consensus_key).is_some() {
                    return Err(RosterError::DuplicateKey(entry.consensus_key));
                }
                entries.push(entry.clone());
            }
            RosterChange::Remove(key) => {
                let i = self
                    .position(key)
                    .ok_or(RosterError::UnknownValidator(*key))?;
                entries.remove(i);
            }
            RosterChange::SetPower {
                consensus_key,
                voting_power,
            } => {
                let i = self
                    .position(consensus_key)
                    .ok_or(RosterError::UnknownValidator(*consensus_key))?;
                entries[i].voting_power = *voting_power;
            }
            RosterChange::Rotate {
                consensus_key,
                new_consensus_key,
                address,
                transport,
            } => {
                let i = self
                    .position(consensus_key)
                    .ok_or(RosterError::UnknownValidator(*consensus_key))?;
                if self.get(new_consensus_key).is_some() {
                    return Err(RosterError::DuplicateKey(*new_consensus_key));
                }
                entries[i].consensus_key = *new_consensus_key;
                entries[i].transport = *transport;
                if let Some(address) = address {
                    entries[i].address = address.clone();
                }
            }
            RosterChange::RemoveOrg(org) => entries.retain(|e| &e.org != org),
        }
        let roster = Roster::new(entries)?;
        match roster.validator_set() {
            Ok(_) => Ok(roster),
            Err(ValidatorSetError::Empty) => Err(RosterError::NoValidators),
            Err(ValidatorSetError::TooMany { .. }) => Err(RosterError::TooMany),
            Err(ValidatorSetError::PowerOverflow) => Err(RosterError::PowerOverflow),
            Err(ValidatorSetError::Duplicate(key)) => Err(RosterError::DuplicateKey(key)),
            Err(ValidatorSetError::ZeroPower(_)) => {
                unreachable!("the validator set takes only entries of positive power")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Suite;

    fn node(byte: u8, org: &str, power: u64) -> RosterEntry {
        RosterEntry {
            org: Id::new(org).unwrap(),
            consensus_key: PublicKey::Ed25519([byte; 32]),
            voting_power: power,
            address: Text::new(format!("/ip4/10.0.0.{byte}/tcp/27000")).unwrap(),
            transport: None,
        }
    }

    #[test]
    fn roster_changes_and_their_refusals() {
        let roster = Roster::new(vec![node(3, "c", 1), node(1, "a", 1), node(2, "b", 0)]).unwrap();
        assert_eq!(
            roster.entries()[0].consensus_key,
            PublicKey::Ed25519([1; 32])
        );
        let set = roster.validator_set().unwrap();
        assert_eq!(set.len(), 2, "a follower is not a validator");

        let added = roster.apply(&RosterChange::Add(node(4, "d", 2))).unwrap();
        assert_eq!(added.validator_set().unwrap().total_voting_power(), 4);
        assert_eq!(
            roster.apply(&RosterChange::Add(node(1, "d", 1))),
            Err(RosterError::DuplicateKey(PublicKey::Ed25519([1; 32])))
        );
        assert_eq!(
            roster.apply(&RosterChange::Remove(PublicKey::Ed25519([9; 32]))),
            Err(RosterError::UnknownValidator(PublicKey::Ed25519([9; 32])))
        );
        let promoted = roster
            .apply(&RosterChange::SetPower {
                consensus_key: PublicKey::Ed25519([2; 32]),
                voting_power: 5,
            })
            .unwrap();
        assert_eq!(promoted.validator_set().unwrap().len(), 3);
        let rotated = roster
            .apply(&RosterChange::Rotate {
                consensus_key: PublicKey::Ed25519([1; 32]),
                new_consensus_key: PublicKey::Ed25519([7; 32]),
                address: None,
                transport: None,
            })
            .unwrap();
        assert!(rotated.get(&PublicKey::Ed25519([1; 32])).is_none());
        assert_eq!(
            rotated
                .get(&PublicKey::Ed25519([7; 32]))
                .unwrap()
                .org
                .as_str(),
            "a"
        );
        assert_eq!(
            roster.apply(&RosterChange::Rotate {
                consensus_key: PublicKey::Ed25519([1; 32]),
                new_consensus_key: PublicKey::Ed25519([3; 32]),
                address: None,
                transport: None,
            }),
            Err(RosterError::DuplicateKey(PublicKey::Ed25519([3; 32])))
        );
        let without_a = roster
            .apply(&RosterChange::RemoveOrg(Id::new("a").unwrap()))
            .unwrap();
        assert_eq!(without_a.entries().len(), 2);
        let only_c = Roster::new(vec![node(3, "c", 1), node(2, "b", 0)]).unwrap();
        assert_eq!(
            only_c.apply(&RosterChange::Remove(PublicKey::Ed25519([3; 32]))),
            Err(RosterError::NoValidators)
        );
        assert_eq!(
            only_c.apply(&RosterChange::SetPower {
                consensus_key: PublicKey::Ed25519([3; 32]),
                voting_power: 0,
            }),
            Err(RosterError::NoValidators)
        );
        assert_eq!(
            only_c.apply(&RosterChange::Add(node(5, "e", u64::MAX))),
            Err(RosterError::PowerOverflow)
        );
    }

    fn v(byte: u8, power: u64) -> Validator {
        Validator {
            consensus_key: PublicKey::Ed25519([byte; 32]),
            voting_power: power,
        }
    }

    #[test]
    fn order_does_not_change_the_hash_and_power_does() {
        let a = ValidatorSet::new(vec![v(1, 1), v(2, 1), v(3, 1)]).unwrap();
        let b = ValidatorSet::new(vec![v(3, 1), v(1, 1), v(2, 1)]).unwrap();
        assert_eq!(a.hash(Suite::Ed25519Blake3), b.hash(Suite::Ed25519Blake3));
        let c = ValidatorSet::new(vec![v(3, 2), v(1, 1), v(2, 1)]).unwrap();
        assert_ne!(a.hash(Suite::Ed25519Blake3), c.hash(Suite::Ed25519Blake3));
        assert_eq!(c.total_voting_power(), 4);
        assert_eq!(c.voting_power(&PublicKey::Ed25519([3; 32])), Some(2));
        assert_eq!(c.voting_power(&PublicKey::Ed25519([4; 32])), None);
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
            Err(ValidatorSetError::Duplicate(PublicKey::Ed25519([1; 32])))
        );
        assert_eq!(
            ValidatorSet::new(vec![v(1, 0)]),
            Err(ValidatorSetError::ZeroPower(PublicKey::Ed25519([1; 32])))
        );
        assert_eq!(
            ValidatorSet::new(vec![v(1, u64::MAX), v(2, 1)]),
            Err(ValidatorSetError::PowerOverflow)
        );
    }
}
