//! R14, protocol version 3: shared credit attestations (信用信息共享, seed §12–§13).
//!
//! A member states, under its signature, a graded fact about an enterprise; the facts stay
//! with the issuer and only their hash is on the ledger. A programme's `eligibility` names
//! the kinds, grades and issuers its policies need, and `IssuePolicy` looks for them
//! (R14.4) through an index by enterprise and kind, so it reads the enterprise's
//! attestations of the kinds it needs and never every attestation:
//!
//! | key                                        | value                          |
//! |--------------------------------------------|--------------------------------|
//! | `att/<id>`                                 | [`Attestation`]                |
//! | `attx/<enterprise>\0<kind>\0<id>`          | empty (index)                  |
//! | `polatt/<policy>`                          | the attestations that met each eligibility entry when the policy was issued ([`Qualified`]) |

use ledger::action::{Attest, AttestationRef, CreateProgramme, Eligibility};
use ledger::state::StateView;
use ledger::{Code, Date, Id, OrgKind};

use crate::store::{self, ensure, Work};

/// The prefix of the attestation records.
pub const RECORD: &str = "att/";
const INDEX: &str = "attx/";
const QUALIFIED: &str = "polatt/";

/// R14.1: an attestation as recorded, and whether (and on which date) it was revoked.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Attestation {
    pub issuer: Id,
    pub enterprise: Id,
    pub kind: Id,
    pub grade: Id,
    pub facts_hash: Id,
    pub valid_from: Date,
    pub valid_to: Date,
    /// R14.2: the date of the block that revoked it; it counts for nothing from then on.
    pub revoked_on: Option<Date>,
}

/// The attestation that met each eligibility entry of a policy's programme on its issue
/// date, as (kind, attestation id), in the programme's order.
pub type Qualified = Vec<(Id, Id)>;

fn record_key(id: &Id) -> Vec<u8> {
    let mut key = RECORD.as_bytes().to_vec();
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// The index prefix of `enterprise`'s attestations of `kind` (NUL-terminated parts).
fn index_prefix(enterprise: &Id, kind: &Id) -> Vec<u8> {
    let mut key = INDEX.as_bytes().to_vec();
    key.extend_from_slice(enterprise.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(kind.as_str().as_bytes());
    key.push(0);
    key
}

/// The index prefix of every attestation of `enterprise`.
fn enterprise_prefix(enterprise: &Id) -> Vec<u8> {
    let mut key = INDEX.as_bytes().to_vec();
    key.extend_from_slice(enterprise.as_str().as_bytes());
    key.push(0);
    key
}

fn qualified_key(policy: &Id) -> Vec<u8> {
    let mut key = QUALIFIED.as_bytes().to_vec();
    key.extend_from_slice(policy.as_str().as_bytes());
    key
}

/// One attestation.
pub fn get(state: &dyn StateView, id: &Id) -> Option<Attestation> {
    store::read(state, &record_key(id))
}

/// Every attestation, in id order (the R10 document's `attestations`, R14.6).
pub fn all(state: &dyn StateView) -> Vec<(Id, Attestation)> {
    store::scan(state, RECORD)
}

/// The ids of `enterprise`'s attestations, of every kind, in (kind, id) order.
pub fn ids_of_enterprise(state: &dyn StateView, enterprise: &Id) -> Vec<Id> {
    let prefix = enterprise_prefix(enterprise);
    let mut ids = Vec::new();
    state.for_each_key(&prefix, &mut |key| {
        let rest = &key[prefix.len()..];
        if let Some(at) = rest.iter().position(|b| *b == 0) {
            if let Some(id) = std::str::from_utf8(&rest[at + 1..])
                .ok()
                .and_then(|s| Id::new(s).ok())
            {
                ids.push(id);
            }
        }
    });
    ids
}

/// The attestations recorded as having qualified `policy` (R14.4), if it was issued under
/// version 3 with eligibility to meet.
pub fn qualified(state: &dyn StateView, policy: &Id) -> Option<Qualified> {
    store::read(state, &qualified_key(policy))
}

/// Whether `attestation` meets `entry` on `date` (R14.4): of its kind, a grade and an
/// issuer it names, not revoked, and valid that day.
pub fn meets(attestation: &Attestation, entry: &Eligibility, date: Date) -> bool {
    attestation.kind == entry.kind
        && entry.grades.contains(&attestation.grade)
        && entry.issuers.contains(&attestation.issuer)
        && attestation.revoked_on.is_none()
        && attestation.valid_from <= date
        && date <= attestation.valid_to
}

/// R14.1 `Attest`: signed by its issuer, a member that is not an auditor.
pub fn attest(work: &mut Work, tx: &Attest) -> Result<(), Code> {
    // (1) The ids and grade are non-empty by their type; the dates in order.
    ensure(tx.valid_from <= tx.valid_to, Code::InvalidField)?;
    // (2)
    match work.org_kind(&tx.issuer) {
        Some(OrgKind::Auditor) | None => return Err(Code::UnknownParty),
        Some(_) => {}
    }
    // (3)
    work.authorise(&[&tx.issuer], &[])?;
    // (4) An attestation id is never used twice.
    ensure(!work.exists(&record_key(&tx.id)), Code::DuplicateId)?;
    let record = Attestation {
        issuer: tx.issuer.clone(),
        enterprise: tx.enterprise.clone(),
        kind: tx.kind.clone(),
        grade: tx.grade.clone(),
        facts_hash: tx.facts_hash.clone(),
        valid_from: tx.valid_from,
        valid_to: tx.valid_to,
        revoked_on: None,
    };
    work.put(record_key(&tx.id), &record);
    let mut index = index_prefix(&tx.enterprise, &tx.kind);
    index.extend_from_slice(tx.id.as_str().as_bytes());
    work.put_raw(index, Vec::new());
    Ok(())
}

/// R14.2 `RevokeAttestation`: signed by the attestation's issuer. Revoking a revoked one
/// changes nothing and succeeds.
pub fn revoke(work: &mut Work, tx: &AttestationRef) -> Result<(), Code> {
    // (2)
    let mut record: Attestation = work
        .get(&record_key(&tx.id))
        .ok_or(Code::UnknownAttestation)?;
    // (3)
    work.authorise(&[&record.issuer], &[])?;
    if record.revoked_on.is_none() {
        record.revoked_on = Some(work.date);
        work.put(record_key(&tx.id), &record);
    }
    Ok(())
}

/// R14.3 (1): each entry's kind non-empty (by its type), its grades and issuers non-empty
/// lists (each non-empty by its type), no kind twice.
pub fn check_eligibility_fields(entries: &[Eligibility]) -> Result<(), Code> {
    for (i, entry) in entries.iter().enumerate() {
        ensure(
            !entry.grades.is_empty() && !entry.issuers.is_empty(),
            Code::InvalidField,
        )?;
        ensure(
            !entries[..i].iter().any(|e| e.kind == entry.kind),
            Code::InvalidField,
        )?;
    }
    Ok(())
}

/// R14.3 (2), after the programme's other parties: every issuer named is a member.
pub fn check_eligibility_issuers(work: &Work, terms: &CreateProgramme) -> Result<(), Code> {
    for entry in terms.eligibility.iter().flatten() {
        for issuer in &entry.issuers {
            ensure(work.org_kind(issuer).is_some(), Code::UnknownParty)?;
        }
    }
    Ok(())
}

/// R14.4: for every eligibility entry of `terms`, an attestation of `enterprise` that
/// meets it on `date`; the first in id order is the one recorded. `NotAttested` otherwise.
pub fn find_qualifying(
    work: &Work,
    terms: &CreateProgramme,
    enterprise: &Id,
    date: Date,
) -> Result<Qualified, Code> {
    let mut found = Vec::new();
    for entry in terms.eligibility.iter().flatten() {
        let prefix = index_prefix(enterprise, &entry.kind);
        let mut ids = Vec::new();
        work.view().for_each_key(&prefix, &mut |key| {
            ids.push(key[prefix.len()..].to_vec());
        });
        let hit = ids.into_iter().find_map(|raw| {
            let id = Id::new(String::from_utf8(raw).ok()?).ok()?;
            let attestation = get(work.view(), &id)?;
            meets(&attestation, entry, date).then_some(id)
        });
        found.push((entry.kind.clone(), hit.ok_or(Code::NotAttested)?));
    }
    Ok(found)
}

/// Records which attestations qualified `policy` (read by the console and the audit).
pub fn record_qualified(work: &mut Work, policy: &Id, qualified: &Qualified) {
    if !qualified.is_empty() {
        work.put(qualified_key(policy), qualified);
    }
}
