//! The rulebook's vocabulary (DOMAIN.md R3–R8), the membership actions that register
//! and revoke staff keys, and the governance changes of R11.
//!
//! Each action has two forms. The JSON form is what people read, write and sign: field
//! names exactly as in DOMAIN.md, `{"type": "IssuePolicy", ...}`, choices carrying fields
//! as objects named by `kind`, plain choices as strings. The binary form (bincode derive,
//! through [`crate::codec`]) is the only form that is hashed or signed. Both are derived
//! from the same types, so they cannot drift apart.
//!
//! Parsing checks shape and types only (a missing field, a wrong type, a number beyond
//! `u64`, an empty id all fail here; the rulebook reports them as `InvalidField`). The
//! rules themselves (shares sum to 10000, amounts not zero, dates in order) are checked by
//! `contracts`.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::genesis::{GovernanceRule, Params};
use crate::validators::{RosterChange, RosterEntry, TransportKey};
use crate::{Bps, Date, Fen, Id, OrgKind, Text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(tag = "type")]
pub enum Action {
    FileRate(FileRate),
    CreateFund(CreateFund),
    FundTopUp(FundTopUp),
    CreateProgramme(Box<CreateProgramme>),
    ReviewProgramme(ProgrammeRef),
    ResumeProgramme(ProgrammeRef),
    IssuePolicy(IssuePolicy),
    DisburseLoan(DisburseLoan),
    RecordRepayment(RecordRepayment),
    FlagEnterprise(FlagEnterprise),
    UnflagEnterprise(UnflagEnterprise),
    FileClaim(FileClaim),
    RequestDocuments(RequestDocuments),
    SubmitDocuments(SubmitDocuments),
    DecideClaim(DecideClaim),
    ConfirmClaimPayment(ConfirmClaimPayment),
    RecordRecovery(RecordRecovery),
    SetCalendar(SetCalendar),
    RegisterStaffKey(StaffKey),
    RevokeStaffKey(StaffKey),
    // R11: governance.
    AdmitOrganisation(AdmitOrganisation),
    RemoveOrganisation(OrgRef),
    RotateAdminKey(RotateAdminKey),
    AddValidator(AddValidator),
    RemoveValidator(ValidatorRef),
    SetVotingPower(SetVotingPower),
    RotateValidatorKey(RotateValidatorKey),
    SetParams(Params),
    SetGovernance(GovernanceRule),
    // R12: protocol versions.
    ScheduleUpgrade(ScheduleUpgrade),
    CancelUpgrade(CancelUpgrade),
    // R14 (version 3): shared credit attestations.
    Attest(Attest),
    RevokeAttestation(AttestationRef),
}

/// Every action's `type` name, in the order of [`Action`].
pub const TYPE_NAMES: &[&str] = &[
    "FileRate",
    "CreateFund",
    "FundTopUp",
    "CreateProgramme",
    "ReviewProgramme",
    "ResumeProgramme",
    "IssuePolicy",
    "DisburseLoan",
    "RecordRepayment",
    "FlagEnterprise",
    "UnflagEnterprise",
    "FileClaim",
    "RequestDocuments",
    "SubmitDocuments",
    "DecideClaim",
    "ConfirmClaimPayment",
    "RecordRecovery",
    "SetCalendar",
    "RegisterStaffKey",
    "RevokeStaffKey",
    "AdmitOrganisation",
    "RemoveOrganisation",
    "RotateAdminKey",
    "AddValidator",
    "RemoveValidator",
    "SetVotingPower",
    "RotateValidatorKey",
    "SetParams",
    "SetGovernance",
    "ScheduleUpgrade",
    "CancelUpgrade",
    "Attest",
    "RevokeAttestation",
];

impl Action {
    /// The `type` name of the JSON form.
    pub fn type_name(&self) -> &'static str {
        match self {
            Action::FileRate(_) => "FileRate",
            Action::CreateFund(_) => "CreateFund",
            Action::FundTopUp(_) => "FundTopUp",
            Action::CreateProgramme(_) => "CreateProgramme",
            Action::ReviewProgramme(_) => "ReviewProgramme",
            Action::ResumeProgramme(_) => "ResumeProgramme",
            Action::IssuePolicy(_) => "IssuePolicy",
            Action::DisburseLoan(_) => "DisburseLoan",
            Action::RecordRepayment(_) => "RecordRepayment",
            Action::FlagEnterprise(_) => "FlagEnterprise",
            Action::UnflagEnterprise(_) => "UnflagEnterprise",
            Action::FileClaim(_) => "FileClaim",
            Action::RequestDocuments(_) => "RequestDocuments",
            Action::SubmitDocuments(_) => "SubmitDocuments",
            Action::DecideClaim(_) => "DecideClaim",
            Action::ConfirmClaimPayment(_) => "ConfirmClaimPayment",
            Action::RecordRecovery(_) => "RecordRecovery",
            Action::SetCalendar(_) => "SetCalendar",
            Action::RegisterStaffKey(_) => "RegisterStaffKey",
            Action::RevokeStaffKey(_) => "RevokeStaffKey",
            Action::AdmitOrganisation(_) => "AdmitOrganisation",
            Action::RemoveOrganisation(_) => "RemoveOrganisation",
            Action::RotateAdminKey(_) => "RotateAdminKey",
            Action::AddValidator(_) => "AddValidator",
            Action::RemoveValidator(_) => "RemoveValidator",
            Action::SetVotingPower(_) => "SetVotingPower",
            Action::RotateValidatorKey(_) => "RotateValidatorKey",
            Action::SetParams(_) => "SetParams",
            Action::SetGovernance(_) => "SetGovernance",
            Action::ScheduleUpgrade(_) => "ScheduleUpgrade",
            Action::CancelUpgrade(_) => "CancelUpgrade",
            Action::Attest(_) => "Attest",
            Action::RevokeAttestation(_) => "RevokeAttestation",
        }
    }

    /// Whether this is a change of the consortium itself (R11), which needs the approval
    /// of the governance rule.
    pub fn is_governance(&self) -> bool {
        matches!(
            self,
            Action::AdmitOrganisation(_)
                | Action::RemoveOrganisation(_)
                | Action::RotateAdminKey(_)
                | Action::AddValidator(_)
                | Action::RemoveValidator(_)
                | Action::SetVotingPower(_)
                | Action::RotateValidatorKey(_)
                | Action::SetParams(_)
                | Action::SetGovernance(_)
                | Action::ScheduleUpgrade(_)
                | Action::CancelUpgrade(_)
        )
    }

    /// The records this action names directly, as (kind, id): what a reader's index of
    /// "the transactions of a record" files it under. Kinds are `programme`, `policy`,
    /// `loan`, `claim`, `fund`, `enterprise`, `org` and `attestation`.
    pub fn subjects(&self) -> Vec<(&'static str, &Id)> {
        match self {
            Action::FileRate(a) => vec![("org", &a.insurer)],
            Action::CreateFund(a) => vec![("fund", &a.id), ("org", &a.government)],
            Action::FundTopUp(a) => vec![("fund", &a.fund)],
            Action::CreateProgramme(a) => vec![("programme", &a.id)],
            Action::ReviewProgramme(a) | Action::ResumeProgramme(a) => {
                vec![("programme", &a.programme)]
            }
            Action::IssuePolicy(a) => vec![("policy", &a.id), ("enterprise", &a.enterprise)],
            Action::DisburseLoan(a) => vec![("loan", &a.id), ("policy", &a.policy)],
            Action::RecordRepayment(a) => vec![("loan", &a.loan)],
            Action::FlagEnterprise(a) => vec![("enterprise", &a.enterprise)],
            Action::UnflagEnterprise(a) => vec![("enterprise", &a.enterprise)],
            Action::FileClaim(a) => vec![("claim", &a.id), ("loan", &a.loan)],
            Action::RequestDocuments(a) => vec![("claim", &a.claim)],
            Action::SubmitDocuments(a) => vec![("claim", &a.claim)],
            Action::DecideClaim(a) => vec![("claim", &a.claim)],
            Action::ConfirmClaimPayment(a) => vec![("claim", &a.claim)],
            Action::RecordRecovery(a) => vec![("claim", &a.claim)],
            Action::RegisterStaffKey(a) | Action::RevokeStaffKey(a) => vec![("org", &a.org)],
            Action::AdmitOrganisation(a) => vec![("org", &a.org)],
            Action::RemoveOrganisation(a) => vec![("org", &a.org)],
            Action::RotateAdminKey(a) => vec![("org", &a.org)],
            Action::AddValidator(a) => vec![("org", &a.org)],
            Action::Attest(a) => vec![
                ("attestation", &a.id),
                ("enterprise", &a.enterprise),
                ("org", &a.issuer),
            ],
            Action::RevokeAttestation(a) => vec![("attestation", &a.id)],
            Action::SetCalendar(_)
            | Action::RemoveValidator(_)
            | Action::SetVotingPower(_)
            | Action::RotateValidatorKey(_)
            | Action::SetParams(_)
            | Action::SetGovernance(_)
            | Action::ScheduleUpgrade(_)
            | Action::CancelUpgrade(_) => Vec::new(),
        }
    }

    /// The keys the action names (staff, admin and consensus keys).
    pub fn keys(&self) -> Vec<PublicKey> {
        match self {
            Action::RegisterStaffKey(t) | Action::RevokeStaffKey(t) => vec![t.public_key],
            Action::AdmitOrganisation(t) => vec![t.admin_key],
            Action::RotateAdminKey(t) => vec![t.admin_key],
            Action::AddValidator(t) => vec![t.consensus_key],
            Action::RemoveValidator(t) => vec![t.consensus_key],
            Action::SetVotingPower(t) => vec![t.consensus_key],
            Action::RotateValidatorKey(t) => vec![t.consensus_key, t.new_consensus_key],
            _ => Vec::new(),
        }
    }

    /// What this action does to the roster of nodes, if anything: the one mapping that the
    /// rulebook and a proof checker share.
    pub fn roster_change(&self) -> Option<RosterChange> {
        match self {
            Action::RemoveOrganisation(tx) => Some(RosterChange::RemoveOrg(tx.org.clone())),
            Action::AddValidator(tx) => Some(RosterChange::Add(RosterEntry {
                org: tx.org.clone(),
                consensus_key: tx.consensus_key,
                voting_power: tx.voting_power,
                address: tx.address.clone(),
                transport: tx.transport,
            })),
            Action::RemoveValidator(tx) => Some(RosterChange::Remove(tx.consensus_key)),
            Action::SetVotingPower(tx) => Some(RosterChange::SetPower {
                consensus_key: tx.consensus_key,
                voting_power: tx.voting_power,
            }),
            Action::RotateValidatorKey(tx) => Some(RosterChange::Rotate {
                consensus_key: tx.consensus_key,
                new_consensus_key: tx.new_consensus_key,
                address: tx.address.clone(),
                transport: tx.new_transport,
            }),
            _ => None,
        }
    }
}

/// R3.1
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct FileRate {
    pub insurer: Id,
    pub product: Id,
    pub rates_bps: Vec<Bps>,
    pub valid_from: Date,
    pub valid_to: Date,
    pub filing_ref: Text,
}

/// R4.1
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct CreateFund {
    pub id: Id,
    pub government: Id,
    pub annual_cap_fen: Fen,
}

/// R4.2
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct FundTopUp {
    pub fund: Id,
    pub amount_fen: Fen,
    pub reference: Text,
}

/// R5: the risk-share agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct CreateProgramme {
    pub id: Id,
    pub name: Text,
    pub product: Id,
    pub period_start: Date,
    pub period_end: Date,
    pub government: Id,
    pub fund: Id,
    pub banks: Vec<Id>,
    pub insurer: Id,
    #[serde(default)]
    pub reinsurer: Option<Id>,
    pub split: Split,
    pub cover: Cover,
    pub limits: Limits,
    pub subsidy: Subsidy,
    pub fund_layer: FundLayer,
    pub reinsurance_quota_bps: Bps,
    pub triggers: Triggers,
    pub claims: ClaimTerms,
    #[serde(default)]
    pub opening: Opening,
    /// R14.3 (version 3): the attestations a policy's enterprise needs. Absent is not
    /// empty: before version 3 a programme that names the key at all is refused (R14.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligibility: Option<Vec<Eligibility>>,
}

/// R14.3: one condition of a programme: an attestation of `kind`, graded one of `grades`,
/// issued by one of `issuers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode, utoipa::ToSchema)]
pub struct Eligibility {
    pub kind: Id,
    pub grades: Vec<Id>,
    pub issuers: Vec<Id>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode, utoipa::ToSchema,
)]
pub struct Split {
    pub bank_bps: Bps,
    pub insurer_bps: Bps,
    pub fund_bps: Bps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub enum Cover {
    Principal,
    PrincipalAndInterest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Limits {
    pub max_loan_fen: Fen,
    pub max_term_months: u64,
    pub benchmark_rate_bps: Bps,
    pub max_uplift_bps: Bps,
    pub max_premium_rate_bps: Bps,
    pub max_all_in_bps: Bps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Subsidy {
    pub bps: Bps,
    pub mode: SubsidyMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub enum SubsidyMode {
    None,
    Upfront,
    OnRepayment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(tag = "kind")]
pub enum FundLayer {
    None,
    ExcessOfLossRatio { threshold_bps: Bps, share_bps: Bps },
    InsurerCap { cap_bps: Bps },
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode, utoipa::ToSchema,
)]
pub struct Triggers {
    pub suspend_loss_ratio_bps: Bps,
    pub suspend_overdue_bps: Bps,
    pub warn_at_bps: Bps,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode, utoipa::ToSchema,
)]
pub struct ClaimTerms {
    pub interest_dpd: u64,
    pub principal_dpd: u64,
    pub decide_days: u64,
    pub pay_business_days: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode)]
pub struct Opening {
    pub premium_written_fen: Fen,
    pub claims_gross_fen: Fen,
}

/// R5.1 `ReviewProgramme` and R5.2 `ResumeProgramme`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct ProgrammeRef {
    pub programme: Id,
}

/// R6.1
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct IssuePolicy {
    pub id: Id,
    pub programme: Id,
    pub enterprise: Id,
    pub bank: Id,
    pub loan_principal_fen: Fen,
    pub loan_rate_bps: Bps,
    pub term_months: u64,
    pub premium_rate_bps: Bps,
    #[serde(default)]
    pub financing_doc_hash: Option<Id>,
}

/// R6.3
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct DisburseLoan {
    pub id: Id,
    pub policy: Id,
}

/// R6.5
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct RecordRepayment {
    pub loan: Id,
    pub amount_fen: Fen,
    pub reference: Text,
}

/// R6.7
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct FlagEnterprise {
    pub enterprise: Id,
    pub reason: Text,
}

/// R6.7
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct UnflagEnterprise {
    pub enterprise: Id,
    #[serde(default)]
    pub reason: Option<Text>,
}

/// R7.1
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct FileClaim {
    pub id: Id,
    pub loan: Id,
    pub documents: Vec<Id>,
}

/// R7.2
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct RequestDocuments {
    pub claim: Id,
    pub missing: Vec<Id>,
}

/// R7.2
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct SubmitDocuments {
    pub claim: Id,
    pub documents: Vec<Id>,
}

/// R7.3. `reason` is free text here; the rulebook requires one of its reason codes for a
/// rejection and ignores its value on an approval. A `reason` that is present must be a
/// string, even on an approval: `null` or a number is a malformed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct DecideClaim {
    pub claim: Id,
    pub approve: bool,
    #[serde(
        default,
        deserialize_with = "present_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<Text>,
}

/// An optional field that, when present, is a string (absent is `None`; `null` is refused).
fn present_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Text>, D::Error> {
    Text::deserialize(d).map(Some)
}

/// R7.4
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct ConfirmClaimPayment {
    pub claim: Id,
    pub reference: Text,
}

/// R7.6
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct RecordRecovery {
    pub claim: Id,
    pub amount_fen: Fen,
    pub reference: Text,
}

/// R8
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct SetCalendar {
    pub year: u64,
    pub holidays: Vec<Date>,
    pub workdays: Vec<Date>,
}

/// Membership: a staff key of `org`. Registering and revoking are signed by the
/// organisation itself (its admin key or one of its registered staff keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct StaffKey {
    pub org: Id,
    pub public_key: PublicKey,
}

/// R11.4: a new member organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct AdmitOrganisation {
    pub org: Id,
    pub kind: OrgKind,
    pub admin_key: PublicKey,
}

/// R11.4: `RemoveOrganisation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct OrgRef {
    pub org: Id,
}

/// R11.4: the organisation's new admin key; the old one is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct RotateAdminKey {
    pub org: Id,
    pub admin_key: PublicKey,
}

/// R11.4: a node of `org`: a validator, or a follower with voting power 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct AddValidator {
    pub org: Id,
    pub consensus_key: PublicKey,
    pub voting_power: u64,
    pub address: Text,
    /// The node's ed25519 transport key, bound by its consensus key: required when that
    /// key is not ed25519.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportKey>,
}

/// R11.4: `RemoveValidator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct ValidatorRef {
    pub consensus_key: PublicKey,
}

/// R11.4: a validator's new voting power (0 makes it a follower).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct SetVotingPower {
    pub consensus_key: PublicKey,
    pub voting_power: u64,
}

/// R11.4: a validator's new consensus key, and its new address if it moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct RotateValidatorKey {
    pub consensus_key: PublicKey,
    pub new_consensus_key: PublicKey,
    #[serde(default)]
    pub address: Option<Text>,
    /// The node's transport key bound by the new consensus key: required when that key
    /// is not ed25519.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_transport: Option<TransportKey>,
}

/// R12.3: the next protocol version, in force from `activation_height` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct ScheduleUpgrade {
    pub version: u32,
    pub activation_height: u64,
}

/// R12.3: withdraws the pending upgrade to `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct CancelUpgrade {
    pub version: u32,
}

/// R14.1: a graded fact about an enterprise, stated by `issuer`; only the facts' hash is
/// on the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Attest {
    pub id: Id,
    pub issuer: Id,
    pub enterprise: Id,
    pub kind: Id,
    pub grade: Id,
    pub facts_hash: Id,
    pub valid_from: Date,
    pub valid_to: Date,
}

/// R14.2: `RevokeAttestation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct AttestationRef {
    pub id: Id,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_names_are_every_variant_once() {
        let names: std::collections::BTreeSet<_> = TYPE_NAMES.iter().collect();
        assert_eq!(names.len(), TYPE_NAMES.len());
        for name in TYPE_NAMES {
            // A known variant fails on its missing fields, never as an unknown variant.
            let e = serde_json::from_value::<Action>(json!({ "type": name }))
                .expect_err("no fields")
                .to_string();
            assert!(!e.contains("unknown variant"), "{name}: {e}");
        }
        let e = serde_json::from_value::<Action>(json!({ "type": "NoSuchAction" }))
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("unknown variant"), "{e}");
        // The parser's list of variants is this list.
        for name in e
            .split('`')
            .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()) && !w.is_empty())
        {
            if name != "NoSuchAction" {
                assert!(TYPE_NAMES.contains(&name), "{name} is not in TYPE_NAMES");
            }
        }
    }

    #[test]
    fn json_form_uses_rulebook_names() {
        let v = json!({
            "type": "IssuePolicy", "id": "pol-1", "programme": "prog-a", "enterprise": "ent-1",
            "bank": "bank-a", "loan_principal_fen": 100000000u64, "loan_rate_bps": 565,
            "term_months": 12, "premium_rate_bps": 200
        });
        let action: Action = serde_json::from_value(v.clone()).unwrap();
        let Action::IssuePolicy(p) = &action else {
            panic!("wrong variant")
        };
        assert_eq!(p.loan_principal_fen, Fen(100_000_000));
        assert_eq!(p.financing_doc_hash, None);
        let back = serde_json::to_value(&action).unwrap();
        assert_eq!(back["type"], "IssuePolicy");
        assert_eq!(back["loan_rate_bps"], 565);
    }

    #[test]
    fn choices_with_fields_are_named_by_kind() {
        let layer: FundLayer =
            serde_json::from_value(json!({"kind": "InsurerCap", "cap_bps": 8500})).unwrap();
        assert_eq!(layer, FundLayer::InsurerCap { cap_bps: 8500 });
        let none: FundLayer = serde_json::from_value(json!({"kind": "None"})).unwrap();
        assert_eq!(none, FundLayer::None);
        let cover: Cover = serde_json::from_value(json!("PrincipalAndInterest")).unwrap();
        assert_eq!(cover, Cover::PrincipalAndInterest);
    }

    #[test]
    fn bad_shapes_do_not_parse() {
        for text in [
            r#"{"type": "FundTopUp", "fund": "f", "amount_fen": 18446744073709551616, "reference": "r"}"#,
            r#"{"type": "FundTopUp", "fund": "f", "amount_fen": -1, "reference": "r"}"#,
            r#"{"type": "FundTopUp", "fund": "f", "amount_fen": "100", "reference": "r"}"#,
            r#"{"type": "FundTopUp", "fund": "", "amount_fen": 100, "reference": "r"}"#,
            r#"{"type": "FundTopUp", "fund": "f", "reference": "r"}"#,
            r#"{"type": "NoSuchThing"}"#,
        ] {
            assert!(serde_json::from_str::<Action>(text).is_err(), "{text}");
        }
    }
}
