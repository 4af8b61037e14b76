//! The genesis file: who the consortium is, the parameters it starts with, the rule by
//! which it changes itself (DOMAIN.md R11), and its founders' approvals.
//!
//! Its hash (blake3 of the canonical encoding of [`Genesis`]) is part of every node's
//! identity check and is the `previous` of block 1. The founders' approvals are
//! signatures over that hash, so they sit beside the genesis in the file
//! ([`GenesisFile`]) and are not part of it.
//!
//! The founding ceremony (R11.1), with no secret leaving the organisation that made it:
//! each organisation writes a public [`MemberFile`]; [`assemble`] makes the genesis from
//! the member files deterministically (the same members in any order give the same bytes);
//! each founder adds its approval with [`GenesisFile::approve`]; a node starts only when
//! [`GenesisFile::check_approved`] finds every founder's approval.
//!
//! [`Genesis::load`] reads the JSON file and validates it; [`Genesis::validate`] states
//! what a consortium must look like before a chain can start from it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::{domain, PublicKey, Signature, VerifyError};
use crate::org::OrgKind;
use crate::state::Hash32;
pub use crate::validators::RosterEntry as GenesisValidator;
use crate::validators::{
    Roster, RosterError, TransportKey, ValidatorSet, ValidatorSetError, VALIDATORS_MAX,
};
use crate::{Bps, Fen, Id, Text, BPS_WHOLE};

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
    /// The protocol version of height 1 (R12.1): the rulebook the chain is founded under.
    /// A chain founded at version N starts from the state the migrations up to N would
    /// have made of an empty ledger (R12.4).
    #[serde(default = "first_protocol_version")]
    pub protocol_version: u32,
    /// The chain's crypto suite, for its whole life: `ed25519-blake3` (when absent) or
    /// `sm2-sm3`. Every key in the genesis is of its algorithm.
    #[serde(default)]
    pub crypto_suite: crate::crypto::Suite,
    /// Milliseconds since the Unix epoch; block 1's time is after it.
    pub genesis_time_ms: u64,
    pub organisations: Vec<GenesisOrg>,
    pub validators: Vec<GenesisValidator>,
    /// Staff keys registered at the start, in addition to each organisation's admin key.
    #[serde(default)]
    pub staff_keys: Vec<GenesisStaffKey>,
    pub params: Params,
    /// How the consortium changes itself (R11.3).
    #[serde(default)]
    pub governance: GovernanceRule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct GenesisOrg {
    pub id: Id,
    pub kind: OrgKind,
    /// Signs for the organisation, like a staff key; registers and revokes staff keys.
    pub admin_key: PublicKey,
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
    /// An idle consortium still makes a block this often (and one at each calendar-day
    /// boundary in UTC+8), so that dated figures move on without traffic.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// R12.3: an upgrade activates at least this many heights after the block that
    /// schedules it, so every operator has time to install a program that supports it.
    #[serde(default = "default_upgrade_lead_heights")]
    pub upgrade_lead_heights: u64,
    /// R13.3: the most retained liability an insurer may hold on one enterprise. It exists
    /// from protocol version 2 on: absent under version 1, present from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligor_limit_fen: Option<Fen>,
}

/// R12.3: the genesis default of `upgrade_lead_heights`.
pub const UPGRADE_LEAD_HEIGHTS_DEFAULT: u64 = 100;
/// R12.3: an upgrade is never scheduled closer than this.
pub const UPGRADE_LEAD_HEIGHTS_MIN: u64 = 3;
/// The furthest an upgrade's lead may be set: the expiry window's own limit.
pub const UPGRADE_LEAD_HEIGHTS_LIMIT: u64 = TX_EXPIRY_HEIGHTS_LIMIT;

fn default_upgrade_lead_heights() -> u64 {
    UPGRADE_LEAD_HEIGHTS_DEFAULT
}

fn first_protocol_version() -> u32 {
    1
}

/// Ten minutes.
pub const HEARTBEAT_MS_DEFAULT: u64 = 10 * 60 * 1000;
/// A heartbeat is at most a day apart (the day boundary makes a block anyway).
pub const HEARTBEAT_MS_MAX: u64 = 24 * 60 * 60 * 1000;

fn default_heartbeat_ms() -> u64 {
    HEARTBEAT_MS_DEFAULT
}

/// R11.3: which organisations must approve a change of the consortium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct GovernanceRule {
    /// The share of the voting organisations (members that are not auditors) whose admin
    /// keys must sign a change: `approvals × 10000 ≥ threshold_bps × voters`.
    pub threshold_bps: Bps,
    /// Whether a regulator must be among the approvers, when the consortium has one.
    pub regulator_required: bool,
}

impl Default for GovernanceRule {
    /// Two thirds of the voting organisations, a regulator among them.
    fn default() -> Self {
        GovernanceRule {
            threshold_bps: 6_667,
            regulator_required: true,
        }
    }
}

impl GovernanceRule {
    pub fn validate(&self) -> Result<(), GenesisError> {
        check_param("threshold_bps", self.threshold_bps, 1, BPS_WHOLE)
    }

    /// Whether `approvals` of `voters` organisations meet the threshold (R11.3).
    pub fn threshold_met(&self, approvals: u64, voters: u64) -> bool {
        u128::from(approvals) * u128::from(BPS_WHOLE)
            >= u128::from(self.threshold_bps) * u128::from(voters)
    }
}

impl Default for Params {
    /// One block a second at most, up to 5,000 transactions, expiry at most 1,000 heights
    /// ahead, a heartbeat every ten minutes.
    fn default() -> Self {
        Params {
            block_time_ms: 1_000,
            block_txs_max: 5_000,
            tx_expiry_heights_max: 1_000,
            heartbeat_ms: HEARTBEAT_MS_DEFAULT,
            upgrade_lead_heights: UPGRADE_LEAD_HEIGHTS_DEFAULT,
            obligor_limit_fen: None,
        }
    }
}

/// What is wrong with a genesis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("protocol version 0: versions count from 1")]
    NoProtocolVersion,
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
    #[error("key {key} of {owner} is not {expected}, the chain's signature algorithm")]
    WrongAlgorithm {
        owner: String,
        key: PublicKey,
        expected: crate::crypto::Algorithm,
    },
    #[error("key {key} of {owner}: {reason}")]
    BadKey {
        owner: String,
        key: PublicKey,
        reason: VerifyError,
    },
    #[error("validator {key}: {reason}")]
    BadTransport {
        key: PublicKey,
        reason: crate::validators::TransportError,
    },
    #[error("validator {key} names organisation {org}, which is not in the genesis")]
    UnknownValidatorOrg { key: PublicKey, org: Id },
    #[error("validator {key} is run by auditor {org}; auditors do not vote (a follower node has voting power 0)")]
    AuditorValidator { key: PublicKey, org: Id },
    #[error("staff key {key} names organisation {org}, which is not in the genesis")]
    UnknownStaffOrg { key: PublicKey, org: Id },
    #[error("staff key {key} belongs to auditor {org}; auditors sign nothing")]
    AuditorStaffKey { key: PublicKey, org: Id },
    #[error("validator {0} has no address")]
    EmptyAddress(PublicKey),
    #[error("roster: {0}")]
    Roster(#[from] RosterError),
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
        )?;
        check_param(
            "heartbeat_ms",
            self.heartbeat_ms,
            self.block_time_ms,
            HEARTBEAT_MS_MAX,
        )?;
        check_param(
            "upgrade_lead_heights",
            self.upgrade_lead_heights,
            UPGRADE_LEAD_HEIGHTS_MIN,
            UPGRADE_LEAD_HEIGHTS_LIMIT,
        )?;
        if let Some(limit) = self.obligor_limit_fen {
            check_param("obligor_limit_fen", limit.0, 1, u64::MAX)?;
        }
        Ok(())
    }
}

impl Genesis {
    /// Reads, parses and validates a genesis JSON file; approvals are not checked (see
    /// [`GenesisFile::load`]).
    pub fn load(path: &Path) -> Result<Genesis, GenesisLoadError> {
        GenesisFile::load(path).map(|file| file.genesis)
    }

    /// Parses the JSON form; does not validate. A file's approvals are ignored.
    pub fn from_json(bytes: &[u8]) -> Result<Genesis, serde_json::Error> {
        GenesisFile::from_json(bytes).map(|file| file.genesis)
    }

    /// The pretty JSON form, without approvals.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genesis always serialises")
    }

    /// The chain's suite's hash of the canonical encoding: the chain's identity, and block
    /// 1's `previous`.
    pub fn hash(&self) -> Hash32 {
        codec::hash(self.crypto_suite, self)
    }

    /// Checks everything a chain needs of its genesis (see [`GenesisError`]).
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.check_sizes()?;
        let mut org_ids = BTreeSet::new();
        for org in &self.organisations {
            if !org_ids.insert(&org.id) {
                return Err(GenesisError::DuplicateOrganisation(org.id.clone()));
            }
        }
        let mut keys = KeyCheck {
            algorithm: self.crypto_suite.algorithm(),
            seen: BTreeSet::new(),
        };
        for org in &self.organisations {
            keys.check(&org.admin_key, || {
                format!("organisation {} (admin)", org.id)
            })?;
        }
        for staff in &self.staff_keys {
            keys.check(&staff.public_key, || format!("staff of {}", staff.org))?;
            self.check_staff_org(staff)?;
        }
        for v in &self.validators {
            keys.check(&v.consensus_key, || format!("validator of {}", v.org))?;
            self.check_validator(v)?;
        }
        self.validator_set().map_err(|e| match e {
            ValidatorSetError::Empty => GenesisError::NoValidators,
            e => GenesisError::ValidatorSet(e),
        })?;
        self.params.validate()?;
        self.governance.validate()
    }

    /// A protocol version, and the organisations, validators and staff keys within
    /// their bounds.
    fn check_sizes(&self) -> Result<(), GenesisError> {
        if self.protocol_version == 0 {
            return Err(GenesisError::NoProtocolVersion);
        }
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
        Ok(())
    }

    fn kind_of(&self, id: &Id) -> Option<OrgKind> {
        self.organisations
            .iter()
            .find(|o| &o.id == id)
            .map(|o| o.kind)
    }

    /// A staff key's organisation is a member, not an auditor.
    fn check_staff_org(&self, staff: &GenesisStaffKey) -> Result<(), GenesisError> {
        match self.kind_of(&staff.org) {
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
        Ok(())
    }

    /// A validator's organisation is a member (an auditor's node only follows), its
    /// address is not empty and its transport key is bound to its consensus key.
    fn check_validator(&self, v: &GenesisValidator) -> Result<(), GenesisError> {
        match self.kind_of(&v.org) {
            None => {
                return Err(GenesisError::UnknownValidatorOrg {
                    key: v.consensus_key,
                    org: v.org.clone(),
                })
            }
            Some(OrgKind::Auditor) if v.voting_power > 0 => {
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
        TransportKey::check(&v.consensus_key, v.transport.as_ref()).map_err(|reason| {
            GenesisError::BadTransport {
                key: v.consensus_key,
                reason,
            }
        })?;
        Ok(())
    }
}

/// The keys of a genesis checked one by one: each of the chain's algorithm, a point that
/// can verify, and used once.
struct KeyCheck {
    algorithm: crate::crypto::Algorithm,
    seen: BTreeSet<PublicKey>,
}

impl KeyCheck {
    /// Checks `key`, which `owner` names in an error.
    fn check(&mut self, key: &PublicKey, owner: impl Fn() -> String) -> Result<(), GenesisError> {
        if key.algorithm() != self.algorithm {
            return Err(GenesisError::WrongAlgorithm {
                owner: owner(),
                key: *key,
                expected: self.algorithm,
            });
        }
        key.check().map_err(|reason| GenesisError::BadKey {
            owner: owner(),
            key: *key,
            reason,
        })?;
        if !self.seen.insert(*key) {
            return Err(GenesisError::DuplicateKey(*key));
        }
        Ok(())
    }
}

impl Genesis {
    /// Every node of the genesis: validators and followers.
    pub fn roster(&self) -> Result<Roster, RosterError> {
        Roster::new(self.validators.clone())
    }

    /// The validators of height 1 (the roster's nodes of positive power).
    pub fn validator_set(&self) -> Result<ValidatorSet, ValidatorSetError> {
        match self.roster() {
            Ok(roster) => roster.validator_set(),
            Err(RosterError::DuplicateKey(key)) => Err(ValidatorSetError::Duplicate(key)),
            Err(_) => Err(ValidatorSetError::TooMany {
                count: self.validators.len(),
            }),
        }
    }

    /// The organisations that must approve this genesis: all of them (R11.1).
    pub fn founders(&self) -> impl Iterator<Item = &GenesisOrg> {
        self.organisations.iter()
    }

    /// The hash of the validator set of height 1: the `validator_set_hash` of block 1.
    pub fn validator_set_hash(&self) -> Result<Hash32, ValidatorSetError> {
        Ok(self.validator_set()?.hash(self.crypto_suite))
    }
}

/// One founder's approval of a genesis: its admin key's signature over
/// `"xinbao/genesis/v1" ‖ genesis hash` (R11.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub org: Id,
    pub public_key: PublicKey,
    pub signature: Signature,
}

/// The genesis file: the genesis and, beside it, the founders' approvals of its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisFile {
    #[serde(flatten)]
    pub genesis: Genesis,
    /// In organisation order, one per founder at most.
    #[serde(default)]
    pub approvals: Vec<Approval>,
}

/// Why a genesis is not approved, or an approval cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("genesis {hash} is not approved by {}: each founder signs it with its admin key (`xinbao genesis sign`)", list(.missing))]
    Missing { hash: String, missing: Vec<Id> },
    #[error("the approval of {org} does not verify: {reason}")]
    Invalid { org: Id, reason: String },
    #[error("key {0} is not the admin key of a founding organisation of this genesis")]
    NotAFounder(PublicKey),
    #[error("signing the approval: {0}")]
    Signing(crate::crypto::SignerError),
}

fn list(ids: &[Id]) -> String {
    ids.iter().map(Id::as_str).collect::<Vec<_>>().join(", ")
}

/// Each founder's state of approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalStatus {
    pub hash: Hash32,
    pub approved: Vec<Id>,
    pub missing: Vec<Id>,
    /// Approvals that are there but do not verify (wrong key, bad signature, not a founder).
    pub invalid: Vec<(Id, String)>,
}

impl ApprovalStatus {
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.invalid.is_empty()
    }
}

/// What [`GenesisFile::approve`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproveOutcome {
    Added,
    AlreadyApproved,
}

impl GenesisFile {
    /// A genesis with no approval yet.
    pub fn unapproved(genesis: Genesis) -> GenesisFile {
        GenesisFile {
            genesis,
            approvals: Vec::new(),
        }
    }

    /// Reads, parses and validates a genesis JSON file; approvals are read, not checked.
    pub fn load(path: &Path) -> Result<GenesisFile, GenesisLoadError> {
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
        let file = GenesisFile::from_json(&text).map_err(|source| GenesisLoadError::Json {
            path: path.to_owned(),
            source,
        })?;
        file.genesis
            .validate()
            .map_err(|source| GenesisLoadError::Invalid {
                path: path.to_owned(),
                source,
            })?;
        Ok(file)
    }

    /// Parses the JSON form; does not validate.
    pub fn from_json(bytes: &[u8]) -> Result<GenesisFile, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The pretty JSON form, approvals last.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genesis file always serialises")
    }

    /// The message a founder signs.
    fn approval_message(hash: &Hash32) -> &[u8] {
        hash
    }

    /// Adds the approval of the founder whose admin key is `key`. Approving twice changes
    /// nothing: a founder's valid approval of this very genesis is kept.
    pub fn approve<S: crate::crypto::Signer + ?Sized>(
        &mut self,
        key: &S,
    ) -> Result<ApproveOutcome, ApprovalError> {
        let public_key = key.public_key();
        let founder = self
            .genesis
            .founders()
            .find(|o| o.admin_key == public_key)
            .ok_or(ApprovalError::NotAFounder(public_key))?;
        let hash = self.genesis.hash();
        let message = Self::approval_message(&hash);
        let kept = self.approvals.iter().any(|a| {
            a.org == founder.id
                && a.public_key == public_key
                && public_key
                    .verify(domain::GENESIS, message, &a.signature)
                    .is_ok()
        });
        if kept {
            return Ok(ApproveOutcome::AlreadyApproved);
        }
        let approval = Approval {
            org: founder.id.clone(),
            public_key,
            signature: key
                .try_sign(domain::GENESIS, message)
                .map_err(ApprovalError::Signing)?,
        };
        // One approval per founder: a stale one (of an earlier draft) is replaced.
        self.approvals.retain(|a| a.org != approval.org);
        self.approvals.push(approval);
        self.approvals.sort_by(|a, b| a.org.cmp(&b.org));
        Ok(ApproveOutcome::Added)
    }

    /// Which founders approved this genesis, which did not, and which approvals are bad.
    pub fn approval_status(&self) -> ApprovalStatus {
        let hash = self.genesis.hash();
        let mut approved = Vec::new();
        let mut invalid = Vec::new();
        for approval in &self.approvals {
            let founder = self.genesis.founders().find(|o| o.id == approval.org);
            let verdict = match founder {
                None => Err("not a founding organisation of this genesis".to_string()),
                Some(org) if org.admin_key != approval.public_key => {
                    Err("signed by a key that is not its admin key".to_string())
                }
                Some(_) => approval
                    .public_key
                    .verify(
                        domain::GENESIS,
                        Self::approval_message(&hash),
                        &approval.signature,
                    )
                    .map_err(|e: VerifyError| {
                        format!("{e} (an approval of another draft of the genesis?)")
                    }),
            };
            match verdict {
                Ok(()) if !approved.contains(&approval.org) => approved.push(approval.org.clone()),
                Ok(()) => {}
                Err(reason) => invalid.push((approval.org.clone(), reason)),
            }
        }
        let missing = self
            .genesis
            .founders()
            .filter(|o| !approved.contains(&o.id))
            .filter(|o| !invalid.iter().any(|(id, _)| id == &o.id))
            .map(|o| o.id.clone())
            .collect();
        ApprovalStatus {
            hash,
            approved,
            missing,
            invalid,
        }
    }

    /// `Ok` when every founder approved and every approval verifies; what a node checks
    /// before it starts.
    pub fn check_approved(&self) -> Result<(), ApprovalError> {
        let status = self.approval_status();
        if let Some((org, reason)) = status.invalid.first() {
            return Err(ApprovalError::Invalid {
                org: org.clone(),
                reason: reason.clone(),
            });
        }
        if !status.missing.is_empty() {
            return Err(ApprovalError::Missing {
                hash: hex::encode(status.hash),
                missing: status.missing,
            });
        }
        Ok(())
    }
}

/// The `format` of a member file.
pub const MEMBER_FORMAT: &str = "xinbao-member/1";
/// A member file is at most this long.
pub const MEMBER_BYTES_MAX: u64 = 64 * 1024;
/// The most nodes one member file may bring.
pub const MEMBER_NODES_MAX: usize = 16;

/// What one organisation publishes to join a founding (R11.1): nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    pub format: String,
    pub org: Id,
    pub kind: OrgKind,
    pub admin_key: PublicKey,
    /// The nodes it runs: validators (voting power ≥ 1) or, for an auditor, a follower
    /// (voting power 0).
    #[serde(default)]
    pub nodes: Vec<MemberNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberNode {
    pub consensus_key: PublicKey,
    pub voting_power: u64,
    /// A libp2p multiaddr peers dial: `/ip4/A.B.C.D/tcp/PORT` or `/dns4/HOST/tcp/PORT`.
    pub address: Text,
    /// The node's ed25519 transport key bound by its consensus key: required when that
    /// key is not ed25519.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<crate::validators::TransportKey>,
}

/// The choices of a founding that are not any one member's: when the chain starts, its
/// parameters and its governance rule (the `--params` file of `xinbao genesis assemble`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisSettings {
    /// The protocol version the chain is founded under (R12.1). Default 1.
    #[serde(default = "first_protocol_version")]
    pub protocol_version: u32,
    /// The chain's crypto suite, for its whole life: `ed25519-blake3` (when absent) or
    /// `sm2-sm3`. Every key in the genesis is of its algorithm.
    #[serde(default)]
    pub crypto_suite: crate::crypto::Suite,
    /// Milliseconds since the Unix epoch; block 1's time is after it. Default 0.
    #[serde(default)]
    pub genesis_time_ms: u64,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub governance: GovernanceRule,
}

impl Default for GenesisSettings {
    /// Version 1, time 0, the default parameters and rule.
    fn default() -> Self {
        GenesisSettings {
            protocol_version: first_protocol_version(),
            crypto_suite: crate::crypto::Suite::default(),
            genesis_time_ms: 0,
            params: Params::default(),
            governance: GovernanceRule::default(),
        }
    }
}

/// Why member files do not make a genesis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    #[error("member file of {org}: format {found:?}, expected {MEMBER_FORMAT:?}")]
    Format { org: Id, found: String },
    #[error("organisation {0} has two member files")]
    DuplicateMember(Id),
    #[error("member file of {org}: {count} nodes, at most {MEMBER_NODES_MAX}")]
    TooManyNodes { org: Id, count: usize },
    #[error("{0}")]
    Invalid(#[from] GenesisError),
}

impl MemberFile {
    pub fn from_json(bytes: &[u8]) -> Result<MemberFile, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a member file always serialises")
    }
}

/// The genesis of `members`, deterministically: organisations in id order, nodes in
/// consensus-key order, so the same members in any order give the same bytes and hash.
pub fn assemble(
    chain_id: Id,
    members: &[MemberFile],
    settings: &GenesisSettings,
) -> Result<Genesis, AssembleError> {
    let mut members: Vec<&MemberFile> = members.iter().collect();
    members.sort_by(|a, b| a.org.cmp(&b.org));
    for pair in members.windows(2) {
        if pair[0].org == pair[1].org {
            return Err(AssembleError::DuplicateMember(pair[0].org.clone()));
        }
    }
    let mut organisations = Vec::with_capacity(members.len());
    let mut validators = Vec::new();
    for member in members {
        if member.format != MEMBER_FORMAT {
            return Err(AssembleError::Format {
                org: member.org.clone(),
                found: member.format.clone(),
            });
        }
        if member.nodes.len() > MEMBER_NODES_MAX {
            return Err(AssembleError::TooManyNodes {
                org: member.org.clone(),
                count: member.nodes.len(),
            });
        }
        organisations.push(GenesisOrg {
            id: member.org.clone(),
            kind: member.kind,
            admin_key: member.admin_key,
        });
        validators.extend(member.nodes.iter().map(|node| GenesisValidator {
            org: member.org.clone(),
            consensus_key: node.consensus_key,
            voting_power: node.voting_power,
            address: node.address.clone(),
            transport: node.transport,
        }));
    }
    validators.sort_by_key(|v| v.consensus_key);
    let genesis = Genesis {
        chain_id,
        protocol_version: settings.protocol_version,
        crypto_suite: settings.crypto_suite,
        genesis_time_ms: settings.genesis_time_ms,
        organisations,
        validators,
        staff_keys: Vec::new(),
        params: settings.params.clone(),
        governance: settings.governance,
    };
    genesis.validate()?;
    Ok(genesis)
}
