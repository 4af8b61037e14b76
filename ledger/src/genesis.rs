//! The genesis file: who the consortium is, and the parameters it starts with.
//!
//! Its hash (blake3 of the canonical encoding) is part of every node's identity check and
//! is the `previous` of block 1.

//!
//! [`Genesis::load`] reads the JSON file and validates it; [`Genesis::validate`] states
//! what a consortium must look like before a chain can start from it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::{PublicKey, VerifyError};
use crate::org::OrgKind;
use crate::state::Hash32;
use crate::validators::{Validator, ValidatorSet, ValidatorSetError, VALIDATORS_MAX};
use crate::{Id, Text};

/// A genesis file is at most this long.
pub const GENESIS_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// The most organisations a consortium may start with.
pub const ORGANISATIONS_MAX: usize = 256;
/// The most staff keys a genesis may register.
pub const GENESIS_STAFF_KEYS_MAX: usize = 4096;
/// Bounds on the parameters.
pub const BLOCK_TIME_MS_MAX: u64 = 60 * 60 * 1000;
pub const BLOCK_TXS_LIMIT: u32 = 100_000;
pub const TX_EXPIRY_HEIGHTS_LIMIT: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Genesis {
    pub chain_id: Id,
    /// Milliseconds since the Unix epoch; block 1's time is after it.
    pub genesis_time_ms: u64,
    pub organisations: Vec<GenesisOrg>,
    pub validators: Vec<GenesisValidator>,
    /// Staff keys registered at the start, in addition to each organisation's admin key.
    #[serde(default)]
    pub staff_keys: Vec<GenesisStaffKey>,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct GenesisOrg {
    pub id: Id,
    pub kind: OrgKind,
    /// Signs for the organisation, like a staff key; registers and revokes staff keys.
    pub admin_key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct GenesisValidator {
    /// The member organisation that runs this validator.
    pub org: Id,
    /// The ed25519 key that signs votes and proposals.
    pub consensus_key: PublicKey,
    pub voting_power: u64,
    /// Where peers reach it: a libp2p multiaddr such as `/ip4/127.0.0.1/tcp/27000`.
    pub address: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct GenesisStaffKey {
    pub org: Id,
    pub public_key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Params {
    /// Target time between blocks.
    pub block_time_ms: u64,
    /// Most transactions in one block.
    pub block_txs_max: u32,
    /// A transaction may expire at most this many heights after the current one.
    pub tx_expiry_heights_max: u64,
}

/// What is wrong with a genesis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("no organisations")]
    NoOrganisations,
    #[error("{count} organisations, at most {max} are allowed", max = ORGANISATIONS_MAX)]
    TooManyOrganisations { count: usize },
    #[error("no validators")]
    NoValidators,
    #[error("{count} validators, at most {max} are allowed", max = VALIDATORS_MAX)]
    TooManyValidators { count: usize },
    #[error("{count} staff keys, at most {max} are allowed", max = GENESIS_STAFF_KEYS_MAX)]
    TooManyStaffKeys { count: usize },
    #[error("organisation {0} is listed twice")]
    DuplicateOrganisation(Id),
    #[error("key {0} is used twice (admin, staff and consensus keys must all differ)")]
    DuplicateKey(PublicKey),
    #[error("key {key} of {owner}: {reason}")]
    BadKey {
        owner: String,
        key: PublicKey,
        reason: VerifyError,
    },
    #[error("validator {key} names organisation {org}, which is not in the genesis")]
    UnknownValidatorOrg { key: PublicKey, org: Id },
    #[error("validator {key} is run by auditor {org}; auditors do not vote")]
    AuditorValidator { key: PublicKey, org: Id },
    #[error("staff key {key} names organisation {org}, which is not in the genesis")]
    UnknownStaffOrg { key: PublicKey, org: Id },
    #[error("staff key {key} belongs to auditor {org}; auditors sign nothing")]
    AuditorStaffKey { key: PublicKey, org: Id },
    #[error("validator {0} has no address")]
    EmptyAddress(PublicKey),
    #[error("validator set: {0}")]
    ValidatorSet(#[from] ValidatorSetError),
    #[error("parameter {name} is {value}, it must be between {min} and {max}")]
    BadParam {
        name: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
}

/// Why a genesis file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum GenesisLoadError {
    #[error("genesis file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("genesis file {path}: {len} bytes is over the limit of {max}", max = GENESIS_BYTES_MAX)]
    TooLarge { path: PathBuf, len: u64 },
    #[error("genesis file {path}: not a valid genesis: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("genesis file {path}: {source}")]
    Invalid { path: PathBuf, source: GenesisError },
}

fn check_param(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), GenesisError> {
    if value < min || value > max {
        return Err(GenesisError::BadParam {
            name,
            value,
            min,
            max,
        });
    }
    Ok(())
}

impl Params {
    pub fn validate(&self) -> Result<(), GenesisError> {
        check_param("block_time_ms", self.block_time_ms, 1, BLOCK_TIME_MS_MAX)?;
        check_param(
            "block_txs_max",
            u64::from(self.block_txs_max),
            1,
            u64::from(BLOCK_TXS_LIMIT),
        )?;
        check_param(
            "tx_expiry_heights_max",
            self.tx_expiry_heights_max,
            1,
            TX_EXPIRY_HEIGHTS_LIMIT,
        )
    }
}

impl Genesis {
    /// Reads, parses and validates a genesis JSON file.
    pub fn load(path: &Path) -> Result<Genesis, GenesisLoadError> {
        let io = |source| GenesisLoadError::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > GENESIS_BYTES_MAX {
            return Err(GenesisLoadError::TooLarge {
                path: path.to_owned(),
                len,
            });
        }
        let text = std::fs::read(path).map_err(io)?;
        let genesis = Genesis::from_json(&text).map_err(|source| GenesisLoadError::Json {
            path: path.to_owned(),
            source,
        })?;
        genesis
            .validate()
            .map_err(|source| GenesisLoadError::Invalid {
                path: path.to_owned(),
                source,
            })?;
        Ok(genesis)
    }

    /// Parses the JSON form; does not validate.
    pub fn from_json(bytes: &[u8]) -> Result<Genesis, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The pretty JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genesis always serialises")
    }

    /// blake3 of the canonical encoding: the chain's identity, and block 1's `previous`.
    pub fn hash(&self) -> Hash32 {
        codec::hash(self)
    }

    /// Checks everything a chain needs of its genesis (see [`GenesisError`]).
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.organisations.is_empty() {
            return Err(GenesisError::NoOrganisations);
        }
        if self.organisations.len() > ORGANISATIONS_MAX {
            return Err(GenesisError::TooManyOrganisations {
                count: self.organisations.len(),
            });
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        if self.validators.len() > VALIDATORS_MAX {
            return Err(GenesisError::TooManyValidators {
                count: self.validators.len(),
            });
        }
        if self.staff_keys.len() > GENESIS_STAFF_KEYS_MAX {
            return Err(GenesisError::TooManyStaffKeys {
                count: self.staff_keys.len(),
            });
        }

        let mut org_ids = BTreeSet::new();
        for org in &self.organisations {
            if !org_ids.insert(&org.id) {
                return Err(GenesisError::DuplicateOrganisation(org.id.clone()));
            }
        }
        let kind_of = |id: &Id| {
            self.organisations
                .iter()
                .find(|o| &o.id == id)
                .map(|o| o.kind)
        };

        let mut keys = BTreeSet::new();
        let mut check_key = |key: &PublicKey, owner: String| {
            key.check().map_err(|reason| GenesisError::BadKey {
                owner,
                key: *key,
                reason,
            })?;
            if !keys.insert(*key) {
                return Err(GenesisError::DuplicateKey(*key));
            }
            Ok(())
        };
        for org in &self.organisations {
            check_key(&org.admin_key, format!("organisation {} (admin)", org.id))?;
        }
        for staff in &self.staff_keys {
            check_key(&staff.public_key, format!("staff of {}", staff.org))?;
            match kind_of(&staff.org) {
                None => {
                    return Err(GenesisError::UnknownStaffOrg {
                        key: staff.public_key,
                        org: staff.org.clone(),
                    })
                }
                Some(OrgKind::Auditor) => {
                    return Err(GenesisError::AuditorStaffKey {
                        key: staff.public_key,
                        org: staff.org.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        for v in &self.validators {
            check_key(&v.consensus_key, format!("validator of {}", v.org))?;
            match kind_of(&v.org) {
                None => {
                    return Err(GenesisError::UnknownValidatorOrg {
                        key: v.consensus_key,
                        org: v.org.clone(),
                    })
                }
                Some(OrgKind::Auditor) => {
                    return Err(GenesisError::AuditorValidator {
                        key: v.consensus_key,
                        org: v.org.clone(),
                    })
                }
                Some(_) => {}
            }
            if v.address.as_str().trim().is_empty() {
                return Err(GenesisError::EmptyAddress(v.consensus_key));
            }
        }
        self.validator_set()?;
        self.params.validate()
    }

    /// The validators of height 1.
    pub fn validator_set(&self) -> Result<ValidatorSet, ValidatorSetError> {
        ValidatorSet::new(
            self.validators
                .iter()
                .map(|v| Validator {
                    consensus_key: v.consensus_key,
                    voting_power: v.voting_power,
                })
                .collect(),
        )
    }

    /// The hash of the validator set of height 1: the `validator_set_hash` of block 1.
    pub fn validator_set_hash(&self) -> Result<Hash32, ValidatorSetError> {
        Ok(self.validator_set()?.hash())
    }
}
