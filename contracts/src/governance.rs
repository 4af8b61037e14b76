//! R11: how the consortium changes itself.
//!
//! A change is one transaction signed by the admin keys of the organisations that approve
//! it; the governance rule in state (genesis first, then `SetGovernance`) says how many
//! must ([`approve`]). Membership and keys change at once: a transaction later in the same
//! block already sees them, because signing keys are resolved transaction by transaction.
//! The roster of nodes (and so the validator set) and the parameters change at a fixed
//! distance: a change committed in block `h` governs from block `h + `[`CHANGE_DELAY`].
//!
//! State (keys are readable, values canonical encodings):
//!
//! | key                          | value                                              |
//! |------------------------------|----------------------------------------------------|
//! | `gov/rule`                   | [`GovernanceRule`]                                 |
//! | `gov/active`                 | [`ConsensusConfig`] in force at the current height  |
//! | `gov/at/<height, 8 bytes BE>`| [`ConsensusConfig`] that takes over at that height  |
//! | `admin/<org>`                | the organisation's admin key ([`PublicKey`])        |
//! | `orggone/<org>`              | a removed organisation ([`Org`]); `org/<org>` is deleted |
//! | `vkey/<hex key>`             | empty: a consensus key once used, never reused      |
//!
//! Block `H` starts by promoting `gov/at/H`, if any, to `gov/active` ([`promote`]); so
//! the configuration of height `H` is a function of the state after block `H − 1`
//! ([`config_at`]), and every node and auditor derives the same validator set for every
//! height from genesis and the chain alone. With a delay of 2 the configuration of `H + 1`
//! is known once `H − 1` is committed, so a node can check the proposal parts of the next
//! height, and reach a validator that joins, before the current height is decided.

use ledger::action::{
    AdmitOrganisation, OrgRef, RotateAdminKey, RotateValidatorKey, SetVotingPower, ValidatorRef,
};
use ledger::crypto::PublicKey;
use ledger::genesis::{Genesis, GovernanceRule, Params};
use ledger::state::{StateView, WriteSet};
use ledger::validators::{Roster, RosterChange, RosterError, TransportError, TransportKey};
use ledger::{codec, Action, Code, Id, OrgKind};

use crate::store::{self, ensure, keys, KeyRecord, Org, Work};

pub use ledger::validators::CHANGE_DELAY;

const RULE: &[u8] = b"gov/rule";
const ACTIVE: &[u8] = b"gov/active";
const AT_PREFIX: &[u8] = b"gov/at/";

/// What consensus runs with at a height: the roster (validators and followers) and the
/// parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct ConsensusConfig {
    pub roster: Roster,
    pub params: Params,
}

fn at_key(height: u64) -> Vec<u8> {
    let mut key = AT_PREFIX.to_vec();
    key.extend_from_slice(&height.to_be_bytes());
    key
}

pub fn admin_key_of(org: &Id) -> Vec<u8> {
    let mut key = b"admin/".to_vec();
    key.extend_from_slice(org.as_str().as_bytes());
    key
}

fn removed_key(org: &Id) -> Vec<u8> {
    let mut key = b"orggone/".to_vec();
    key.extend_from_slice(org.as_str().as_bytes());
    key
}

fn used_consensus_key(key: &PublicKey) -> Vec<u8> {
    let mut k = b"vkey/".to_vec();
    k.extend_from_slice(key.to_hex().as_bytes());
    k
}

/// The governance writes of a genesis: the rule, the configuration of height 1, each
/// organisation's admin key and every consensus key as used.
pub fn genesis_writes(genesis: &Genesis, writes: &mut WriteSet) {
    writes.put(RULE.to_vec(), codec::encode(&genesis.governance));
    let config = ConsensusConfig {
        roster: genesis
            .roster()
            .expect("a validated genesis has a valid roster"),
        params: genesis.params.clone(),
    };
    writes.put(ACTIVE.to_vec(), codec::encode(&config));
    for org in &genesis.organisations {
        writes.put(admin_key_of(&org.id), codec::encode(&org.admin_key));
    }
    for node in &genesis.validators {
        writes.put(used_consensus_key(&node.consensus_key), Vec::new());
    }
}

/// The organisations removed from the consortium, in id order.
pub fn removed_organisations(state: &dyn StateView) -> Vec<(Id, Org)> {
    store::scan::<Org>(state, "orggone/")
}

/// The governance rule in force (the default rule where none is recorded, as in an
/// offline scenario).
pub fn rule(state: &dyn StateView) -> GovernanceRule {
    store::read(state, RULE).unwrap_or_default()
}

/// The configuration of height `height`, from the state after block `height − 1` (or
/// any earlier state, for a height at most [`CHANGE_DELAY`] ahead of it): the nearest
/// scheduled configuration at or below `height` not yet promoted, else the active one.
/// `None` where no configuration is recorded at all (an offline scenario).
pub fn config_at(state: &dyn StateView, height: u64) -> Option<ConsensusConfig> {
    for h in (height.saturating_sub(CHANGE_DELAY - 1)..=height).rev() {
        if let Some(config) = store::read(state, &at_key(h)) {
            return Some(config);
        }
    }
    store::read(state, ACTIVE)
}

/// Every configuration recorded, with its key: the active one and those scheduled.
pub(crate) fn configs(state: &dyn StateView) -> Vec<(Vec<u8>, ConsensusConfig)> {
    let mut configs: Vec<(Vec<u8>, ConsensusConfig)> = state
        .scan_prefix(AT_PREFIX)
        .into_iter()
        .map(|(key, bytes)| (key, store::decode_record(&bytes)))
        .collect();
    if let Some(active) = store::read(state, ACTIVE) {
        configs.push((ACTIVE.to_vec(), active));
    }
    configs
}

/// The start of block `height`: the configuration scheduled for it becomes the active one.
pub fn promote(state: &dyn StateView, height: u64) -> WriteSet {
    let mut writes = WriteSet::new();
    if let Some(bytes) = state.get(&at_key(height)) {
        writes.put(ACTIVE.to_vec(), bytes);
        writes.delete(at_key(height));
    }
    writes
}

/// The configuration as every change committed so far leaves it, seen from block
/// `height`: what the next change is checked against.
fn latest(work: &Work, height: u64) -> ConsensusConfig {
    config_at(work.view(), height + CHANGE_DELAY).unwrap_or_default()
}

fn schedule(work: &mut Work, height: u64, config: &ConsensusConfig) {
    work.put(at_key(height + CHANGE_DELAY), config);
}

/// Whether `key` was ever used: as an admin or staff key (`key/…` records are never
/// deleted) or as a consensus key.
pub fn key_ever_used(state: &dyn StateView, key: &PublicKey) -> bool {
    state.get(&keys::key(key)).is_some() || state.get(&used_consensus_key(key)).is_some()
}

/// The organisations among `signers` whose admin key signed: the approvers of a change.
pub fn approvers_of_keys(state: &dyn StateView, public_keys: &[PublicKey]) -> Vec<Id> {
    let mut approvers: Vec<Id> = public_keys
        .iter()
        .filter_map(|key| {
            let record: KeyRecord = store::read(state, &keys::key(key))?;
            let admin: PublicKey = store::read(state, &admin_key_of(&record.org))?;
            (admin == *key && !record.revoked).then_some(record.org)
        })
        .collect();
    approvers.sort();
    approvers.dedup();
    approvers
}

/// R11.3, check (3) of every change: the signers are members that may sign (R2.3), and
/// their admin keys approve it under the rule in force.
pub(crate) fn approve(work: &Work) -> Result<(), Code> {
    work.check_signers()?;
    let rule = rule(work.view());
    let voters: Vec<(Id, Org)> = store::scan::<Org>(work.view(), keys::ORG)
        .into_iter()
        .filter(|(_, org)| org.kind != OrgKind::Auditor)
        .collect();
    let approvals = voters
        .iter()
        .filter(|(id, _)| work.approvers.binary_search(id).is_ok())
        .count() as u64;
    let regulators: Vec<&Id> = voters
        .iter()
        .filter(|(_, org)| org.kind == OrgKind::Regulator)
        .map(|(id, _)| id)
        .collect();
    let regulator_ok = !rule.regulator_required
        || regulators.is_empty()
        || regulators
            .iter()
            .any(|id| work.approvers.binary_search(id).is_ok());
    ensure(
        approvals >= 1 && rule.threshold_met(approvals, voters.len() as u64) && regulator_ok,
        Code::NotApproved,
    )
}

/// R11.4 (1): a key must be of the chain's signature algorithm (`WrongAlgorithm`) and a
/// point that can verify (not malformed, not of small order: `InvalidField`).
fn well_formed_key(work: &Work, key: &PublicKey) -> Result<(), Code> {
    if key.algorithm() != work.suite.algorithm() {
        return Err(Code::WrongAlgorithm);
    }
    key.check().map_err(|_| Code::InvalidField)
}

/// R11.4 (1) for a node's transport key: required for a consensus key that is not
/// ed25519, an ed25519 key when present (`WrongAlgorithm` otherwise), and signed by the
/// consensus key (`InvalidField` for a missing or bad binding).
fn well_formed_transport(
    consensus_key: &PublicKey,
    transport: Option<&TransportKey>,
) -> Result<(), Code> {
    TransportKey::check(consensus_key, transport).map_err(|e| match e {
        TransportError::NotEd25519(_) => Code::WrongAlgorithm,
        TransportError::Missing(_) | TransportError::BadKey(_) | TransportError::BadBinding(_) => {
            Code::InvalidField
        }
    })
}

fn roster_code(e: RosterError) -> Code {
    match e {
        RosterError::UnknownValidator(_) => Code::UnknownValidator,
        RosterError::DuplicateKey(_) => Code::DuplicateKey,
        RosterError::NoValidators => Code::NoValidators,
        RosterError::TooMany => Code::TooManyValidators,
        RosterError::PowerOverflow => Code::Overflow,
    }
}

/// Applies a roster change to the latest configuration and schedules the result.
fn change_roster(work: &mut Work, height: u64, change: &RosterChange) -> Result<(), Code> {
    let mut config = latest(work, height);
    config.roster = config.roster.apply(change).map_err(roster_code)?;
    schedule(work, height, &config);
    Ok(())
}

/// Executes one governance action (`action.is_governance()`), in the R2.4 order.
pub fn execute(work: &mut Work, height: u64, action: &Action) -> Result<(), Code> {
    match action {
        Action::AdmitOrganisation(tx) => admit_organisation(work, tx),
        Action::RemoveOrganisation(tx) => remove_organisation(work, height, tx),
        Action::RotateAdminKey(tx) => rotate_admin_key(work, tx),
        Action::AddValidator(_) => add_validator(work, height, action),
        Action::RemoveValidator(tx) => remove_validator(work, height, tx),
        Action::SetVotingPower(tx) => set_voting_power(work, height, tx),
        Action::RotateValidatorKey(tx) => rotate_validator_key(work, height, tx),
        Action::SetParams(params) => {
            params.validate().map_err(|_| Code::InvalidField)?;
            // R13.3: the single-obligor limit exists from version 2 on.
            let has_limit = work.version >= crate::upgrade::OBLIGOR_LIMIT;
            ensure(
                has_limit || params.obligor_limit_fen.is_none(),
                Code::InvalidField,
            )?;
            approve(work)?;
            let mut config = latest(work, height);
            let mut params = params.clone();
            if has_limit && params.obligor_limit_fen.is_none() {
                // Not named: the limit stays as it is.
                params.obligor_limit_fen = config.params.obligor_limit_fen;
            }
            config.params = params;
            schedule(work, height, &config);
            Ok(())
        }
        Action::SetGovernance(new_rule) => {
            new_rule.validate().map_err(|_| Code::InvalidField)?;
            // Approved under the rule it replaces.
            approve(work)?;
            work.put(RULE.to_vec(), new_rule);
            Ok(())
        }
        _ => unreachable!("not a governance action: {}", action.type_name()),
    }
}

fn register_key(work: &mut Work, org: &Id, key: &PublicKey) {
    let record = KeyRecord {
        org: org.clone(),
        revoked: false,
    };
    work.put(keys::key(key), &record);
}

fn admit_organisation(work: &mut Work, tx: &AdmitOrganisation) -> Result<(), Code> {
    // (1)
    well_formed_key(work, &tx.admin_key)?;
    // (3)
    approve(work)?;
    // (4) an organisation id is never reused, nor is a key.
    ensure(
        !work.exists(&keys::org(&tx.org)) && !work.exists(&removed_key(&tx.org)),
        Code::DuplicateId,
    )?;
    ensure(
        !key_ever_used(work.view(), &tx.admin_key),
        Code::DuplicateKey,
    )?;
    work.put(keys::org(&tx.org), &Org { kind: tx.kind });
    work.put(admin_key_of(&tx.org), &tx.admin_key);
    register_key(work, &tx.org, &tx.admin_key);
    Ok(())
}

fn remove_organisation(work: &mut Work, height: u64, tx: &OrgRef) -> Result<(), Code> {
    // (2)
    let org: Org = work.get(&keys::org(&tx.org)).ok_or(Code::UnknownParty)?;
    // (3)
    approve(work)?;
    // (5) its nodes leave the roster; the rest must still be workable.
    let mut config = latest(work, height);
    if config.roster.entries().iter().any(|e| e.org == tx.org) {
        config.roster = config
            .roster
            .apply(&RosterChange::RemoveOrg(tx.org.clone()))
            .map_err(roster_code)?;
        schedule(work, height, &config);
    }
    // Every key of the organisation is revoked: from the next transaction on it signs
    // for nothing. Removals are rare, so one scan of the key records is cheap enough.
    for (key, bytes) in work.view().scan_prefix(b"key/") {
        let mut record: KeyRecord = store::decode_record(&bytes);
        if record.org == tx.org && !record.revoked {
            record.revoked = true;
            work.put(key, &record);
        }
    }
    work.delete(admin_key_of(&tx.org));
    work.delete(keys::org(&tx.org));
    work.put(removed_key(&tx.org), &org);
    Ok(())
}

fn rotate_admin_key(work: &mut Work, tx: &RotateAdminKey) -> Result<(), Code> {
    // (1)
    well_formed_key(work, &tx.admin_key)?;
    // (2)
    ensure(work.org_kind(&tx.org).is_some(), Code::UnknownParty)?;
    // (3)
    approve(work)?;
    // (4)
    ensure(
        !key_ever_used(work.view(), &tx.admin_key),
        Code::DuplicateKey,
    )?;
    if let Some(old) = work.get::<PublicKey>(&admin_key_of(&tx.org)) {
        if let Some(mut record) = work.get::<KeyRecord>(&keys::key(&old)) {
            record.revoked = true;
            work.put(keys::key(&old), &record);
        }
    }
    work.put(admin_key_of(&tx.org), &tx.admin_key);
    register_key(work, &tx.org, &tx.admin_key);
    Ok(())
}

/// R11.4 (2) for a node of `org` with `voting_power`: a member, and an auditor only as a
/// follower.
fn node_org(work: &Work, org: &Id, voting_power: u64) -> Result<(), Code> {
    match work.org_kind(org) {
        None => Err(Code::UnknownParty),
        Some(OrgKind::Auditor) if voting_power > 0 => Err(Code::UnknownParty),
        Some(_) => Ok(()),
    }
}

fn add_validator(work: &mut Work, height: u64, action: &Action) -> Result<(), Code> {
    let Action::AddValidator(tx) = action else {
        unreachable!("add_validator takes AddValidator")
    };
    // (1)
    well_formed_key(work, &tx.consensus_key)?;
    well_formed_transport(&tx.consensus_key, tx.transport.as_ref())?;
    ensure(!tx.address.as_str().trim().is_empty(), Code::InvalidField)?;
    // (2)
    node_org(work, &tx.org, tx.voting_power)?;
    // (3)
    approve(work)?;
    // (4)
    ensure(
        !key_ever_used(work.view(), &tx.consensus_key),
        Code::DuplicateKey,
    )?;
    // (5)
    let change = action
        .roster_change()
        .expect("AddValidator changes the roster");
    change_roster(work, height, &change)?;
    work.put_raw(used_consensus_key(&tx.consensus_key), Vec::new());
    Ok(())
}

fn remove_validator(work: &mut Work, height: u64, tx: &ValidatorRef) -> Result<(), Code> {
    // (2)
    ensure(
        latest(work, height).roster.get(&tx.consensus_key).is_some(),
        Code::UnknownValidator,
    )?;
    // (3)
    approve(work)?;
    // (5)
    change_roster(work, height, &RosterChange::Remove(tx.consensus_key))
}

fn set_voting_power(work: &mut Work, height: u64, tx: &SetVotingPower) -> Result<(), Code> {
    // (2)
    let config = latest(work, height);
    let node = config
        .roster
        .get(&tx.consensus_key)
        .ok_or(Code::UnknownValidator)?;
    node_org(work, &node.org, tx.voting_power)?;
    // (3)
    approve(work)?;
    // (5)
    change_roster(
        work,
        height,
        &RosterChange::SetPower {
            consensus_key: tx.consensus_key,
            voting_power: tx.voting_power,
        },
    )
}

fn rotate_validator_key(work: &mut Work, height: u64, tx: &RotateValidatorKey) -> Result<(), Code> {
    // (1)
    well_formed_key(work, &tx.new_consensus_key)?;
    well_formed_transport(&tx.new_consensus_key, tx.new_transport.as_ref())?;
    if let Some(address) = &tx.address {
        ensure(!address.as_str().trim().is_empty(), Code::InvalidField)?;
    }
    // (2)
    ensure(
        latest(work, height).roster.get(&tx.consensus_key).is_some(),
        Code::UnknownValidator,
    )?;
    // (3)
    approve(work)?;
    // (4)
    ensure(
        !key_ever_used(work.view(), &tx.new_consensus_key),
        Code::DuplicateKey,
    )?;
    // (5)
    change_roster(
        work,
        height,
        &RosterChange::Rotate {
            consensus_key: tx.consensus_key,
            new_consensus_key: tx.new_consensus_key,
            address: tx.address.clone(),
            transport: tx.new_transport,
        },
    )?;
    work.put_raw(used_consensus_key(&tx.new_consensus_key), Vec::new());
    Ok(())
}
