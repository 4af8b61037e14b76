//! Membership: the organisations of the consortium (R2.1) and the keys that sign for them.
//!
//! These are how the network maps a signature to an organisation. An organisation's
//! admin key and its registered staff keys sign for it alike (R2.3); only the admin key
//! approves a change of the consortium (R11.2, [`crate::governance`]). A key is
//! registered once, ever: a revoked key stays recorded as revoked, so a leaked key can
//! never be brought back.

use ledger::action::StaffKey;
use ledger::crypto::PublicKey;
use ledger::genesis::Genesis;
use ledger::state::{StateView, WriteSet};
use ledger::{codec, Code, Id, OrgKind};

use crate::store::{self, ensure, keys, KeyRecord, Org, Work};

/// The organisations only (offline scenarios have no keys).
pub fn members_writes(orgs: &[(Id, OrgKind)]) -> WriteSet {
    let mut writes = WriteSet::new();
    for (id, kind) in orgs {
        writes.put(keys::org(id), codec::encode(&Org { kind: *kind }));
    }
    writes
}

/// The initial state of a network: organisations, their admin keys, and the staff keys
/// listed in the genesis file, each a signing key of its organisation.
pub fn genesis_writes(genesis: &Genesis) -> WriteSet {
    let orgs: Vec<(Id, OrgKind)> = genesis
        .organisations
        .iter()
        .map(|org| (org.id.clone(), org.kind))
        .collect();
    let mut writes = members_writes(&orgs);
    let admin = genesis.organisations.iter().map(|o| (&o.id, &o.admin_key));
    let staff = genesis.staff_keys.iter().map(|k| (&k.org, &k.public_key));
    for (org, key) in admin.chain(staff) {
        let record = KeyRecord {
            org: org.clone(),
            revoked: false,
        };
        writes.put(keys::key(key), codec::encode(&record));
    }
    crate::governance::genesis_writes(genesis, &mut writes);
    crate::upgrade::genesis_writes(genesis, &mut writes);
    writes
}

/// The organisations the signing keys count for, sorted and deduplicated; `Unauthorized`
/// if any key is not registered or is revoked.
pub fn orgs_of_keys(state: &dyn StateView, public_keys: &[PublicKey]) -> Result<Vec<Id>, Code> {
    let mut orgs = Vec::with_capacity(public_keys.len());
    for key in public_keys {
        match store::read::<KeyRecord>(state, &keys::key(key)) {
            Some(record) if !record.revoked => orgs.push(record.org),
            _ => return Err(Code::Unauthorized),
        }
    }
    orgs.sort();
    orgs.dedup();
    Ok(orgs)
}

/// `RegisterStaffKey`: signed by the organisation; a key of another algorithm than the
/// chain's is `WrongAlgorithm`; a key registered before, to anyone and even if revoked
/// since, is `DuplicateId`.
pub fn register_staff_key(work: &mut Work, tx: &StaffKey) -> Result<(), Code> {
    // (1) a key of the chain's signature algorithm.
    ensure(
        tx.public_key.algorithm() == work.suite.algorithm(),
        Code::WrongAlgorithm,
    )?;
    // (2)
    ensure(work.org_kind(&tx.org).is_some(), Code::UnknownParty)?;
    // (3)
    work.authorise(&[&tx.org], &[])?;
    // (4) a key is registered once, ever, and never one that signs consensus votes.
    let key = keys::key(&tx.public_key);
    ensure(
        !crate::governance::key_ever_used(work.view(), &tx.public_key),
        Code::DuplicateId,
    )?;
    let record = KeyRecord {
        org: tx.org.clone(),
        revoked: false,
    };
    work.put(key, &record);
    Ok(())
}

/// `RevokeStaffKey`: signed by the organisation; the key must be one of its keys that is
/// not revoked yet (`InvalidField` otherwise). Admin keys can be revoked like staff keys:
/// they sign alike, so they are withdrawn alike.
pub fn revoke_staff_key(work: &mut Work, tx: &StaffKey) -> Result<(), Code> {
    // (2)
    ensure(work.org_kind(&tx.org).is_some(), Code::UnknownParty)?;
    // (3)
    work.authorise(&[&tx.org], &[])?;
    // (5)
    let key = keys::key(&tx.public_key);
    let mut record: KeyRecord = work.get(&key).ok_or(Code::InvalidField)?;
    ensure(record.org == tx.org && !record.revoked, Code::InvalidField)?;
    record.revoked = true;
    work.put(key, &record);
    Ok(())
}
