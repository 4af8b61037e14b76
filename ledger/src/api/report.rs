//! The rulebook's R10 document (DOMAIN.md R10) as types: what `contracts::report` writes,
//! what `audit report` and the mirror keep, and what the API's record views show.
//!
//! The document's own types declare their fields in sorted order, so its bytes are those
//! of the same document held as a sorted JSON map, whoever writes it: month ends stored as
//! such maps read back the same, and one reader hashes a document as another does. The
//! details ([`ProgrammeDetail`], [`ClaimDetail`]) flatten figures into their parties'
//! fields; a reader that needs their bytes sorted turns them into a JSON value first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::money::{Bps, Fen};
use crate::{Code, Date, Id};

/// The R10 document of a ledger's state as of `date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// R14.6: from protocol version 3; absent before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestations: Option<BTreeMap<Id, AttestationFigures>>,
    pub claims: BTreeMap<Id, ClaimFigures>,
    pub date: Date,
    pub funds: BTreeMap<Id, FundFigures>,
    pub loans: BTreeMap<Id, LoanFigures>,
    pub overdue_claims: Vec<Id>,
    pub policies: BTreeMap<Id, PolicyFigures>,
    pub programmes: BTreeMap<Id, ProgrammeFigures>,
    pub rejected: Vec<RejectedStep>,
}

/// A step of a scenario the rulebook rejected, with its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejectedStep {
    pub code: Code,
    pub step: u64,
}

/// A programme's R5 figures: what the regulator's month ends keep of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonthFigures {
    pub claims_gross_fen: Fen,
    pub loss_ratio_bps: Bps,
    pub outstanding_principal_fen: Fen,
    pub overdue_principal_fen: Fen,
    pub overdue_ratio_bps: Bps,
    pub premium_written_fen: Fen,
    /// `Active` or `Suspended`.
    pub status: String,
}

/// A programme in the R10 document: its [`MonthFigures`] and the warnings it has had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgrammeFigures {
    #[serde(flatten)]
    pub figures: MonthFigures,
    pub warnings: Vec<String>,
}

/// A fund in the R10 document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FundFigures {
    pub balance_fen: Fen,
    pub compensation_paid_fen: Fen,
    pub subsidies_paid_fen: Fen,
}

/// A policy in the R10 document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyFigures {
    pub insured_amount_fen: Fen,
    pub premium_fen: Fen,
    pub subsidy_fen: Fen,
}

/// A loan in the R10 document, as of the document's date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoanFigures {
    pub interest_dpd: u64,
    pub on_time: bool,
    pub outstanding_principal_fen: Fen,
    pub principal_dpd: u64,
    pub status: String,
    /// Saturates at the largest amount a figure can show; the rules hold it in 128 bits.
    pub unpaid_interest_fen: u64,
}

/// A claim in the R10 document: its loss, its settlement's split (zero until settled),
/// its recoveries and its service-level dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimFigures {
    pub bank_retained_fen: Fen,
    pub decision_due: Option<Date>,
    pub fund_fen: Fen,
    pub fund_shortfall_fen: Fen,
    pub insurer_gross_fen: Fen,
    pub insurer_pays_bank_fen: Fen,
    pub insurer_retained_fen: Fen,
    pub late: bool,
    pub loss_fen: Fen,
    pub payment_due: Option<Date>,
    pub recovered_fen: Fen,
    pub recovery: RecoveryFigures,
    pub reinsurer_fen: Fen,
    pub status: String,
}

/// What a claim's recoveries returned to each party (R8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryFigures {
    pub bank_fen: Fen,
    pub fund_fen: Fen,
    pub insurer_fen: Fen,
    pub reinsurer_fen: Fen,
}

/// R14.6: an attestation in the R10 document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttestationFigures {
    pub enterprise: Id,
    pub grade: Id,
    pub issuer: Id,
    pub kind: Id,
    pub revoked: bool,
    pub valid_from: Date,
    pub valid_to: Date,
}

/// A programme with its terms' parties and split beside its figures: what the audit
/// report and the API show of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgrammeDetail {
    pub banks: Vec<Id>,
    #[serde(flatten)]
    pub figures: ProgrammeFigures,
    pub fund: Id,
    pub government: Id,
    pub insurer: Id,
    pub name: crate::Text,
    pub product: Id,
    pub reinsurer: Option<Id>,
    pub split: crate::action::Split,
}

/// A claim with its loan, bank and service-level dates (R7.5), and whether it is overdue
/// on the date asked for: what the audit report and the API show of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimDetail {
    pub bank: Id,
    pub decided: Option<Date>,
    pub documents_complete: Option<Date>,
    #[serde(flatten)]
    pub figures: ClaimFigures,
    pub filed: Date,
    pub loan: Id,
    pub overdue: bool,
    pub paid: Option<Date>,
}

/// An organisation's totals: what it has paid or received, in fen, its kind, and whether
/// it was removed from the consortium (R11.4: its records stay).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrganisationTotals {
    pub claims_paid_fen: u64,
    pub claims_received_fen: u64,
    pub fund_compensation_fen: u64,
    /// As in the genesis file; `unknown` for an organisation only a record names.
    pub kind: String,
    pub losses_retained_fen: u64,
    pub premiums_on_loans_fen: u64,
    pub premiums_written_fen: u64,
    pub recoveries_fen: u64,
    pub reinsurance_fen: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    pub subsidies_paid_fen: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Id {
        Id::new(text).unwrap()
    }

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    /// A document with one record of every kind, every optional part present.
    fn full_report() -> Report {
        let claim = ClaimFigures {
            bank_retained_fen: Fen(1),
            decision_due: Some(date("2025-03-01")),
            fund_fen: Fen(2),
            fund_shortfall_fen: Fen(3),
            insurer_gross_fen: Fen(4),
            insurer_pays_bank_fen: Fen(5),
            insurer_retained_fen: Fen(6),
            late: true,
            loss_fen: Fen(7),
            payment_due: None,
            recovered_fen: Fen(8),
            recovery: RecoveryFigures {
                bank_fen: Fen(9),
                fund_fen: Fen(10),
                insurer_fen: Fen(11),
                reinsurer_fen: Fen(12),
            },
            reinsurer_fen: Fen(13),
            status: "Paid".into(),
        };
        let figures = MonthFigures {
            claims_gross_fen: Fen(14),
            loss_ratio_bps: 15,
            outstanding_principal_fen: Fen(16),
            overdue_principal_fen: Fen(17),
            overdue_ratio_bps: 18,
            premium_written_fen: Fen(19),
            status: "Active".into(),
        };
        Report {
            attestations: Some(BTreeMap::from([(
                id("att-1"),
                AttestationFigures {
                    enterprise: id("ent-1"),
                    grade: id("A"),
                    issuer: id("bureau"),
                    kind: id("credit"),
                    revoked: false,
                    valid_from: date("2025-01-01"),
                    valid_to: date("2025-12-31"),
                },
            )])),
            claims: BTreeMap::from([(id("clm-1"), claim)]),
            date: date("2025-06-30"),
            funds: BTreeMap::from([(
                id("fund-1"),
                FundFigures {
                    balance_fen: Fen(20),
                    compensation_paid_fen: Fen(21),
                    subsidies_paid_fen: Fen(22),
                },
            )]),
            loans: BTreeMap::from([(
                id("loan-1"),
                LoanFigures {
                    interest_dpd: 23,
                    on_time: false,
                    outstanding_principal_fen: Fen(24),
                    principal_dpd: 25,
                    status: "Active".into(),
                    unpaid_interest_fen: 26,
                },
            )]),
            overdue_claims: vec![id("clm-1")],
            policies: BTreeMap::from([(
                id("pol-1"),
                PolicyFigures {
                    insured_amount_fen: Fen(27),
                    premium_fen: Fen(28),
                    subsidy_fen: Fen(29),
                },
            )]),
            programmes: BTreeMap::from([(
                id("prog-1"),
                ProgrammeFigures {
                    figures,
                    warnings: vec!["LossRatio".into()],
                },
            )]),
            rejected: vec![RejectedStep {
                code: Code::Unauthorized,
                step: 3,
            }],
        }
    }

    #[test]
    fn the_documents_bytes_are_those_of_a_sorted_map() {
        let report = full_report();
        let typed = serde_json::to_string(&report).unwrap();
        // `serde_json`'s own maps are sorted by key.
        let sorted = serde_json::to_string(&serde_json::to_value(&report).unwrap()).unwrap();
        assert_eq!(typed, sorted);
        let back: Report = serde_json::from_str(&typed).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn a_document_before_attestations_has_no_such_key() {
        let report = Report {
            attestations: None,
            ..full_report()
        };
        let value = serde_json::to_value(&report).unwrap();
        assert!(value.get("attestations").is_none(), "{value}");
        assert_eq!(
            value["claims"]["clm-1"]["payment_due"],
            serde_json::Value::Null
        );
    }
}
