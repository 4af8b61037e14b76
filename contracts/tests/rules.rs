//! Targeted tests of the rulebook: every rejection code the rules can give, the R2.4
//! check order, and the figures of paths the worked examples do not cover.

mod common;

use common::*;
use ledger::crypto::PublicKey;
use ledger::Code;
use serde_json::json;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

/// The claim on `loan` filed once interest is 90 days past due (first instalment
/// 2025-02-10, unpaid).
fn claimable() -> Ledger {
    with_loan(json!({}))
}

const CLAIM_DATE: &str = "2025-05-11";

#[test]
fn shapes_are_invalid_field_before_anything_else() {
    let mut l = Ledger::standard();
    // Not even a member signs these: shape comes first.
    for tx in [
        json!({"type": "NoSuchThing"}),
        json!({"type": "FundTopUp", "fund": "f", "amount_fen": "100", "reference": "r"}),
        json!({"type": "FundTopUp", "fund": "f", "amount_fen": -1, "reference": "r"}),
        json!({"type": "FundTopUp", "fund": "", "amount_fen": 1, "reference": "r"}),
        json!({"type": "FundTopUp", "fund": "f", "reference": "r"}),
        json!({"type": "DecideClaim", "claim": "c", "approve": 1}),
        json!({"type": "FundTopUp", "fund": "f", "amount_fen": 1.0, "reference": "r"}),
    ] {
        assert_eq!(l.tx("2025-01-01", &["nobody"], tx), Err(Code::InvalidField));
    }
    let beyond: serde_json::Value = serde_json::from_str(
        r#"{"type": "FundTopUp", "fund": "f", "amount_fen": 18446744073709551616, "reference": "r"}"#,
    )
    .unwrap();
    assert_eq!(
        l.tx("2025-01-01", &["gov"], beyond),
        Err(Code::InvalidField)
    );
    // Zero amounts and empty lists are malformed even when nothing else exists.
    assert_eq!(
        l.tx("2025-01-01", &["nobody"], top_up("nope", 0)),
        Err(Code::InvalidField)
    );
    assert_eq!(
        l.tx("2025-01-01", &["gov"], create_fund("f", "gov", 0)),
        Err(Code::InvalidField)
    );
    let mut empty_rates = file_rate();
    empty_rates["rates_bps"] = json!([]);
    assert_eq!(
        l.tx("2025-01-01", &["ins", "reg"], empty_rates),
        Err(Code::InvalidField)
    );
    let mut backwards = file_rate();
    backwards["valid_to"] = json!("2024-12-31");
    assert_eq!(
        l.tx("2025-01-01", &["ins", "reg"], backwards),
        Err(Code::InvalidField)
    );
}

#[test]
fn programme_terms_are_checked_before_shares() {
    let mut l = Ledger::standard();
    l.ok("2025-01-02", &["gov"], create_fund("fund", "gov", 1_000));
    let bad = [
        json!({"banks": []}),
        json!({"banks": ["bank", "bank"]}),
        json!({"period_end": "2024-12-31"}),
        json!({"claims": {"interest_dpd": 0}}),
        json!({"claims": {"principal_dpd": 0}}),
        json!({"subsidy": {"bps": 10001}}),
        json!({"limits": {"max_uplift_bps": 10001}}),
        json!({"reinsurance_quota_bps": 1000}),
        json!({"fund_layer": {"kind": "ExcessOfLossRatio", "threshold_bps": 15000, "share_bps": 10001}}),
        // Malformed and shares off: malformed wins.
        json!({"banks": [], "split": {"bank_bps": 1, "insurer_bps": 1, "fund_bps": 1}}),
    ];
    for patch in bad {
        let shown = patch.to_string();
        assert_eq!(
            l.tx("2025-01-03", PROGRAMME_SIGNERS, programme(patch)),
            Err(Code::InvalidField),
            "{shown}"
        );
    }
    // Thresholds, caps and the all-in cap may exceed 10000.
    l.ok(
        "2025-01-03",
        PROGRAMME_SIGNERS,
        programme(json!({
            "fund_layer": {"kind": "InsurerCap", "cap_bps": 25000},
            "triggers": {"suspend_loss_ratio_bps": 30000, "suspend_overdue_bps": 20000, "warn_at_bps": 8000},
            "limits": {"max_all_in_bps": 30000}
        })),
    );
    let shares = programme(
        json!({"id": "p2", "split": {"bank_bps": 3000, "insurer_bps": 6000, "fund_bps": 0}}),
    );
    assert_eq!(
        l.tx("2025-01-03", &[], shares),
        Err(Code::SharesMustSumTo10000)
    );
}

#[test]
fn programme_parties_and_signers() {
    let mut l = Ledger::standard();
    l.ok("2025-01-02", &["gov"], create_fund("fund", "gov", 1_000));
    l.ok("2025-01-02", &["gov2"], create_fund("fund2", "gov2", 1_000));
    // (2) before (3): named records and kinds first.
    assert_eq!(
        l.tx("2025-01-03", &[], programme(json!({"fund": "nope"}))),
        Err(Code::UnknownFund)
    );
    assert_eq!(
        l.tx("2025-01-03", &[], programme(json!({"banks": ["ins"]}))),
        Err(Code::UnknownParty)
    );
    assert_eq!(
        l.tx("2025-01-03", &[], programme(json!({"government": "bank"}))),
        Err(Code::UnknownParty)
    );
    assert_eq!(
        l.tx("2025-01-03", &[], programme(json!({"reinsurer": "bank2"}))),
        Err(Code::UnknownParty)
    );
    // (3): every party signs.
    assert_eq!(
        l.tx("2025-01-03", &["gov", "bank"], programme(json!({}))),
        Err(Code::Unauthorized)
    );
    let with_re = programme(json!({"reinsurer": "re", "reinsurance_quota_bps": 3000}));
    assert_eq!(
        l.tx("2025-01-03", PROGRAMME_SIGNERS, with_re.clone()),
        Err(Code::Unauthorized)
    );
    // An auditor or a stranger among the signers spoils it.
    assert_eq!(
        l.tx(
            "2025-01-03",
            &["gov", "bank", "ins", "aud"],
            programme(json!({}))
        ),
        Err(Code::Unauthorized)
    );
    assert_eq!(
        l.tx(
            "2025-01-03",
            &["gov", "bank", "ins", "zz"],
            programme(json!({}))
        ),
        Err(Code::Unauthorized)
    );
    // R5.4: the fund belongs to the programme's government.
    assert_eq!(
        l.tx(
            "2025-01-03",
            PROGRAMME_SIGNERS,
            programme(json!({"fund": "fund2"}))
        ),
        Err(Code::UnknownParty)
    );
    l.ok("2025-01-03", &["gov", "bank", "ins", "re"], with_re);
    // (4)
    assert_eq!(
        l.tx("2025-01-03", PROGRAMME_SIGNERS, programme(json!({}))),
        Err(Code::DuplicateId)
    );
}

#[test]
fn funds() {
    let mut l = Ledger::standard();
    assert_eq!(
        l.tx("2025-01-02", &["gov"], create_fund("f", "bank", 10)),
        Err(Code::UnknownParty)
    );
    assert_eq!(
        l.tx("2025-01-02", &["gov2"], create_fund("f", "gov", 10)),
        Err(Code::Unauthorized)
    );
    l.ok("2025-01-02", &["gov"], create_fund("f", "gov", 10));
    assert_eq!(
        l.tx("2025-01-02", &["gov"], create_fund("f", "gov", 10)),
        Err(Code::DuplicateId)
    );
    assert_eq!(
        l.tx("2025-01-02", &["gov"], top_up("g", 10)),
        Err(Code::UnknownFund)
    );
    assert_eq!(
        l.tx("2025-01-02", &["gov2"], top_up("f", 10)),
        Err(Code::Unauthorized)
    );
    l.ok("2025-01-02", &["gov"], top_up("f", u64::MAX - 1));
    assert_eq!(
        l.tx("2025-01-02", &["gov"], top_up("f", 2)),
        Err(Code::Overflow)
    );
    l.ok("2025-01-02", &["gov"], top_up("f", 1));
    assert_eq!(
        l.report("2025-01-02")["funds"]["f"]["balance_fen"],
        json!(u64::MAX)
    );
}

#[test]
fn issue_policy_unknown_programme_comes_before_signers() {
    let mut l = with_programme(json!({}));
    assert_eq!(
        l.tx(
            "2025-01-10",
            &["bank"],
            policy(json!({"programme": "nope"}))
        ),
        Err(Code::UnknownProgramme)
    );
    assert_eq!(
        l.tx("2025-01-10", &["bank"], policy(json!({}))),
        Err(Code::Unauthorized)
    );
    // (1) first of all.
    assert_eq!(
        l.tx(
            "2025-01-10",
            &["bank"],
            policy(json!({"programme": "nope", "term_months": 0}))
        ),
        Err(Code::InvalidField)
    );
    assert_eq!(
        l.tx(
            "2025-01-10",
            &["ins"],
            policy(json!({"loan_principal_fen": 0}))
        ),
        Err(Code::InvalidField)
    );
}

#[test]
fn issue_policy_checks_in_rule_order() {
    let mut l = with_programme(json!({}));
    let ins = &["ins"];
    // Outside the period.
    assert_eq!(
        l.tx("2027-01-01", ins, policy(json!({}))),
        Err(Code::ProgrammeNotActive)
    );
    // Each check, with every later check also failing, gives its own code.
    let all_wrong = json!({"bank": "bank2", "loan_principal_fen": 300000001u64, "term_months": 13,
                           "loan_rate_bps": 566, "premium_rate_bps": 250});
    assert_eq!(
        l.tx("2025-01-10", ins, policy(all_wrong)),
        Err(Code::UnknownParty)
    );
    l.ok(
        "2025-01-10",
        &["bank"],
        json!({"type": "FlagEnterprise", "enterprise": "ent", "reason": "x"}),
    );
    let wrong =
        json!({"loan_principal_fen": 300000001u64, "term_months": 13, "loan_rate_bps": 566});
    assert_eq!(
        l.tx("2025-01-10", ins, policy(wrong.clone())),
        Err(Code::EnterpriseFlagged)
    );
    // Only the regulator unflags.
    let unflag = json!({"type": "UnflagEnterprise", "enterprise": "ent"});
    assert_eq!(
        l.tx("2025-01-10", &["bank"], unflag.clone()),
        Err(Code::Unauthorized)
    );
    l.ok("2025-01-10", &["reg"], unflag.clone());
    l.ok("2025-01-10", &["reg"], unflag);
    assert_eq!(
        l.tx("2025-01-10", ins, policy(wrong)),
        Err(Code::LoanAboveCap)
    );
    assert_eq!(
        l.tx(
            "2025-01-10",
            ins,
            policy(json!({"term_months": 13, "loan_rate_bps": 566}))
        ),
        Err(Code::TermTooLong)
    );
    // The cap is floor(435 × 13000 / 10000) = 565.
    assert_eq!(
        l.tx(
            "2025-01-10",
            ins,
            policy(json!({"loan_rate_bps": 566, "premium_rate_bps": 250}))
        ),
        Err(Code::RateAboveCap)
    );
    assert_eq!(
        l.tx("2025-01-10", ins, policy(json!({"premium_rate_bps": 250}))),
        Err(Code::RateNotFiled)
    );
    // Filed but above the programme's maximum premium rate.
    l.ok("2025-01-10", &["ins", "reg"], {
        let mut f = file_rate();
        f["rates_bps"] = json!([400]);
        f
    });
    assert_eq!(
        l.tx("2025-01-10", ins, policy(json!({"premium_rate_bps": 400}))),
        Err(Code::RateNotFiled)
    );
    // A filing not yet valid does not count.
    l.ok("2025-01-10", &["ins", "reg"], {
        let mut f = file_rate();
        f["rates_bps"] = json!([150]);
        f["valid_from"] = json!("2025-02-01");
        f
    });
    assert_eq!(
        l.tx("2025-01-10", ins, policy(json!({"premium_rate_bps": 150}))),
        Err(Code::RateNotFiled)
    );
    l.ok(
        "2025-02-01",
        ins,
        policy(json!({"id": "pol-150", "premium_rate_bps": 150, "enterprise": "e150"})),
    );
    // 565 + 300 = 865 against an all-in cap lowered below it.
    let mut l2 = with_programme(json!({"limits": {"max_all_in_bps": 800}}));
    assert_eq!(
        l2.tx("2025-01-10", ins, policy(json!({"premium_rate_bps": 300}))),
        Err(Code::AllInCostAboveCap)
    );
    l.ok(
        "2025-02-01",
        ins,
        policy(json!({"financing_doc_hash": "b3:1"})),
    );
    assert_eq!(
        l.tx(
            "2025-02-01",
            ins,
            policy(json!({"id": "pol-2", "financing_doc_hash": "b3:1"}))
        ),
        Err(Code::DocumentAlreadyFinanced)
    );
    assert_eq!(
        l.tx("2025-02-01", ins, policy(json!({}))),
        Err(Code::DuplicateId)
    );
    let r = l.report("2025-02-01");
    assert_eq!(r["policies"]["pol"]["premium_fen"], json!(2_000_000));
    assert_eq!(r["policies"]["pol"]["subsidy_fen"], json!(1_000_000));
    assert_eq!(
        r["policies"]["pol"]["insured_amount_fen"],
        json!(100_000_000)
    );
}

#[test]
fn upfront_subsidy_needs_the_fund() {
    let mut l = Ledger::standard();
    l.ok("2025-01-02", &["ins", "reg"], file_rate());
    l.ok(
        "2025-01-02",
        &["gov"],
        create_fund("fund", "gov", 1_500_000),
    );
    l.ok("2025-01-02", &["gov"], top_up("fund", 999_999));
    l.ok("2025-01-03", PROGRAMME_SIGNERS, programme(json!({})));
    assert_eq!(
        l.tx("2025-01-10", &["ins"], policy(json!({}))),
        Err(Code::FundInsufficient)
    );
    l.ok("2025-01-10", &["gov"], top_up("fund", 10_000_000));
    l.ok("2025-01-10", &["ins"], policy(json!({})));
    // The cap for 2025 now has 500,000 fen left: a second subsidy of 1,000,000 is refused …
    assert_eq!(
        l.tx(
            "2025-12-31",
            &["ins"],
            policy(json!({"id": "p2", "enterprise": "e2"}))
        ),
        Err(Code::FundInsufficient)
    );
    // … and accepted in the new year.
    l.ok(
        "2026-01-01",
        &["ins"],
        policy(json!({"id": "p2", "enterprise": "e2"})),
    );
    let r = l.report("2026-01-01");
    assert_eq!(r["funds"]["fund"]["subsidies_paid_fen"], json!(2_000_000));
    assert_eq!(
        r["funds"]["fund"]["balance_fen"],
        json!(999_999 + 10_000_000 - 2_000_000)
    );
    assert_eq!(
        r["programmes"]["prog"]["premium_written_fen"],
        json!(4_000_000)
    );
}

#[test]
fn principal_and_interest_cover_insures_the_interest() {
    let mut l =
        with_programme(json!({"cover": "PrincipalAndInterest", "subsidy": {"mode": "None"}}));
    l.ok("2025-01-10", &["ins"], policy(json!({})));
    let r = l.report("2025-01-10");
    assert_eq!(
        r["policies"]["pol"]["insured_amount_fen"],
        json!(100_000_000 + 5_650_000)
    );
    assert_eq!(r["policies"]["pol"]["subsidy_fen"], json!(0));
}

#[test]
fn disbursement() {
    let mut l = with_programme(json!({}));
    l.ok("2025-01-10", &["ins"], policy(json!({})));
    let disburse = |id: &str, pol: &str| json!({"type": "DisburseLoan", "id": id, "policy": pol});
    assert_eq!(
        l.tx("2025-01-10", &["bank"], disburse("loan", "nope")),
        Err(Code::UnknownPolicy)
    );
    assert_eq!(
        l.tx("2025-01-10", &["ins"], disburse("loan", "pol")),
        Err(Code::Unauthorized)
    );
    l.ok("2025-01-10", &["bank"], disburse("loan", "pol"));
    assert_eq!(
        l.tx("2025-01-10", &["bank"], disburse("loan", "pol")),
        Err(Code::DuplicateId)
    );
    // One loan per policy.
    assert_eq!(
        l.tx("2025-01-10", &["bank"], disburse("loan-2", "pol")),
        Err(Code::DuplicateId)
    );
    let r = l.report("2025-01-10");
    assert_eq!(r["loans"]["loan"]["status"], json!("Active"));
    assert_eq!(
        r["programmes"]["prog"]["outstanding_principal_fen"],
        json!(100_000_000)
    );
}

#[test]
fn a_term_past_the_calendar_is_overflow() {
    let mut l = with_programme(
        json!({"limits": {"max_term_months": u64::MAX}, "subsidy": {"mode": "None"}}),
    );
    // The premium of a huge term does not fit: Overflow at issue.
    assert_eq!(
        l.tx(
            "2025-01-10",
            &["ins"],
            policy(json!({"term_months": u64::MAX}))
        ),
        Err(Code::Overflow)
    );
    // A term that prices but ends after 9999-12-31 cannot be disbursed.
    l.ok(
        "2025-01-10",
        &["ins"],
        policy(json!({"term_months": 100_000, "loan_principal_fen": 1000})),
    );
    assert_eq!(
        l.tx(
            "2025-01-10",
            &["bank"],
            json!({"type": "DisburseLoan", "id": "loan", "policy": "pol"})
        ),
        Err(Code::Overflow)
    );
    // The longest term that fits is serviced without looping over it.
    l.ok(
        "2025-01-10",
        &["ins"],
        policy(json!({"id": "pol-2", "enterprise": "e2", "term_months": 95_699, "loan_principal_fen": 100_000_000u64})),
    );
    l.ok(
        "2025-01-10",
        &["bank"],
        json!({"type": "DisburseLoan", "id": "loan", "policy": "pol-2"}),
    );
    // Maturity is 9999-12-10, the last instalment date the calendar holds.
    let r = l.report("9999-12-10");
    assert_eq!(
        r["loans"]["loan"]["unpaid_interest_fen"],
        json!(95_699u64 * 470_833)
    );
    assert_eq!(r["loans"]["loan"]["principal_dpd"], json!(0));
    let r = l.report("9999-12-31");
    assert_eq!(r["loans"]["loan"]["principal_dpd"], json!(21));
    assert_eq!(
        r["programmes"]["prog"]["overdue_principal_fen"],
        json!(100_000_000)
    );
}

#[test]
fn repayments() {
    let mut l = claimable();
    assert_eq!(
        l.tx("2025-02-10", &["bank"], repay(0)),
        Err(Code::InvalidField)
    );
    assert_eq!(
        l.tx(
            "2025-02-10",
            &["bank"],
            json!({"type": "RecordRepayment", "loan": "x", "amount_fen": 1, "reference": "r"})
        ),
        Err(Code::UnknownLoan)
    );
    assert_eq!(
        l.tx("2025-02-10", &["ins"], repay(1)),
        Err(Code::Unauthorized)
    );
    // Due: one instalment of 470,833 and the principal.
    assert_eq!(
        l.tx("2025-02-10", &["bank"], repay(100_470_834)),
        Err(Code::Overpayment)
    );
    l.ok("2025-02-10", &["bank"], repay(470_833));
    let r = l.report("2025-02-10");
    assert_eq!(r["loans"]["loan"]["on_time"], json!(true));
    // Interest not yet due cannot be prepaid: everything beyond the due interest is principal.
    l.ok("2025-02-20", &["bank"], repay(50_000_000));
    let r = l.report("2025-03-10");
    assert_eq!(
        r["loans"]["loan"]["outstanding_principal_fen"],
        json!(50_000_000)
    );
    assert_eq!(r["loans"]["loan"]["unpaid_interest_fen"], json!(235_416));
    l.ok("2025-03-10", &["bank"], repay(235_416 + 50_000_000));
    let r = l.report("2025-06-10");
    assert_eq!(r["loans"]["loan"]["status"], json!("Repaid"));
    assert_eq!(r["loans"]["loan"]["unpaid_interest_fen"], json!(0));
    assert_eq!(r["loans"]["loan"]["on_time"], json!(true));
    assert_eq!(
        r["programmes"]["prog"]["outstanding_principal_fen"],
        json!(0)
    );
    assert_eq!(
        l.tx("2025-06-10", &["bank"], repay(1)),
        Err(Code::Overpayment)
    );
}

#[test]
fn on_repayment_subsidy_is_paid_when_repaid_on_time() {
    let mut l = with_loan(json!({"subsidy": {"bps": 5000, "mode": "OnRepayment"}}));
    for (date, amount) in [("2025-02-10", 470_833), ("2025-03-10", 470_833)] {
        l.ok(date, &["bank"], repay(amount));
    }
    l.ok("2025-03-10", &["bank"], repay(100_000_000));
    let r = l.report("2025-03-10");
    assert_eq!(r["loans"]["loan"]["status"], json!("Repaid"));
    assert_eq!(r["funds"]["fund"]["subsidies_paid_fen"], json!(1_000_000));
    assert_eq!(r["funds"]["fund"]["balance_fen"], json!(999_000_000));

    // Late once, never refunded, even if everything is paid afterwards.
    let mut late = with_loan(json!({"subsidy": {"bps": 5000, "mode": "OnRepayment"}}));
    late.ok("2025-02-11", &["bank"], repay(470_833));
    assert_eq!(
        late.report("2025-02-11")["loans"]["loan"]["on_time"],
        json!(false)
    );
    late.ok("2025-02-12", &["bank"], repay(100_000_000));
    let r = late.report("2025-02-12");
    assert_eq!(r["loans"]["loan"]["status"], json!("Repaid"));
    assert_eq!(r["funds"]["fund"]["subsidies_paid_fen"], json!(0));
    // R6.2: nothing paid, the computed figure unchanged.
    assert_eq!(r["policies"]["pol"]["subsidy_fen"], json!(1_000_000));
}

#[test]
fn on_repayment_subsidy_is_limited_to_what_the_fund_can_pay() {
    let mut l = Ledger::standard();
    l.ok("2025-01-02", &["ins", "reg"], file_rate());
    l.ok(
        "2025-01-02",
        &["gov"],
        create_fund("fund", "gov", 10_000_000),
    );
    l.ok("2025-01-02", &["gov"], top_up("fund", 300_000));
    l.ok(
        "2025-01-03",
        PROGRAMME_SIGNERS,
        programme(json!({"subsidy": {"mode": "OnRepayment"}})),
    );
    l.ok("2025-01-10", &["ins"], policy(json!({})));
    // R6.2: the policy shows the subsidy as computed (premium 1,000,000 yuan × 2% =
    // 2,000,000 fen, the fund's half 1,000,000 fen), whatever the fund pays later.
    assert_eq!(
        l.report("2025-01-10")["policies"]["pol"]["subsidy_fen"],
        json!(1_000_000)
    );
    l.ok(
        "2025-01-10",
        &["bank"],
        json!({"type": "DisburseLoan", "id": "loan", "policy": "pol"}),
    );
    l.ok("2025-01-20", &["bank"], repay(100_000_000));
    let r = l.report("2025-01-20");
    assert_eq!(r["funds"]["fund"]["subsidies_paid_fen"], json!(300_000));
    assert_eq!(r["funds"]["fund"]["balance_fen"], json!(0));
    assert_eq!(r["policies"]["pol"]["subsidy_fen"], json!(1_000_000));
}

#[test]
fn claims_eligibility_and_duplicates() {
    let mut l = claimable();
    assert_eq!(
        l.tx("2025-05-10", &["bank"], file_claim("c")),
        Err(Code::NotEligible)
    );
    let mut no_docs = file_claim("c");
    no_docs["documents"] = json!([]);
    assert_eq!(
        l.tx(CLAIM_DATE, &["bank"], no_docs),
        Err(Code::InvalidField)
    );
    let mut unknown = file_claim("c");
    unknown["loan"] = json!("x");
    assert_eq!(l.tx(CLAIM_DATE, &["bank"], unknown), Err(Code::UnknownLoan));
    assert_eq!(
        l.tx(CLAIM_DATE, &["ins"], file_claim("c")),
        Err(Code::Unauthorized)
    );
    l.ok(CLAIM_DATE, &["bank"], file_claim("c"));
    assert_eq!(
        l.tx(CLAIM_DATE, &["bank"], file_claim("c")),
        Err(Code::DuplicateId)
    );
    assert_eq!(
        l.tx(CLAIM_DATE, &["bank"], file_claim("c2")),
        Err(Code::DuplicateClaim)
    );
    // A rejection frees the loan for a new claim, and keeps its due dates.
    let mut no_reason = decide("c", false);
    no_reason["reason"] = json!("Because");
    assert_eq!(
        l.tx("2025-05-12", &["ins"], no_reason),
        Err(Code::InvalidField)
    );
    let mut missing_reason = decide("c", false);
    missing_reason.as_object_mut().unwrap().remove("reason");
    assert_eq!(
        l.tx("2025-05-12", &["ins"], missing_reason),
        Err(Code::InvalidField)
    );
    assert_eq!(
        l.tx("2025-05-12", &["bank"], decide("c", false)),
        Err(Code::Unauthorized)
    );
    assert_eq!(
        l.tx("2025-05-12", &["ins"], decide("x", false)),
        Err(Code::UnknownClaim)
    );
    l.ok("2025-05-12", &["ins"], decide("c", false));
    assert_eq!(
        l.tx("2025-05-12", &["ins"], decide("c", true)),
        Err(Code::ClaimNotOpen)
    );
    let r = l.report("2025-05-12");
    assert_eq!(r["claims"]["c"]["status"], json!("Rejected"));
    assert_eq!(r["claims"]["c"]["decision_due"], json!("2025-06-10"));
    assert_eq!(r["claims"]["c"]["payment_due"], json!("2025-05-23"));
    l.ok("2025-05-12", &["bank"], file_claim("c2"));
    l.ok("2025-05-13", &["ins"], decide("c2", true));
    // A claimed loan has no days past due, so it is not eligible again.
    assert_eq!(
        l.tx("2025-05-14", &["bank"], file_claim("c3")),
        Err(Code::NotEligible)
    );
    // Repayments on a claimed loan are refused.
    assert_eq!(
        l.tx("2025-05-14", &["bank"], repay(1)),
        Err(Code::Overpayment)
    );
}

#[test]
fn documents_and_service_levels() {
    let mut l = claimable();
    l.ok(CLAIM_DATE, &["bank"], file_claim("c"));
    let request = json!({"type": "RequestDocuments", "claim": "c", "missing": ["court-filing"]});
    let submit = json!({"type": "SubmitDocuments", "claim": "c", "documents": ["doc-2"]});
    assert_eq!(
        l.tx("2025-05-12", &["ins"], submit.clone()),
        Err(Code::Unauthorized)
    );
    assert_eq!(
        l.tx("2025-05-12", &["bank"], submit.clone()),
        Err(Code::ClaimNotOpen)
    );
    let mut empty = request.clone();
    empty["missing"] = json!([]);
    assert_eq!(l.tx("2025-05-12", &["ins"], empty), Err(Code::InvalidField));
    assert_eq!(
        l.tx("2025-05-12", &["bank"], request.clone()),
        Err(Code::Unauthorized)
    );
    l.ok("2025-05-12", &["ins"], request.clone());
    assert_eq!(
        l.tx("2025-05-13", &["ins"], request.clone()),
        Err(Code::DocumentsAlreadyRequested)
    );
    // Awaiting documents: no due dates, never overdue, cannot be decided.
    let r = l.report("2026-01-01");
    assert_eq!(r["claims"]["c"]["status"], json!("AwaitingDocuments"));
    assert_eq!(r["claims"]["c"]["decision_due"], json!(null));
    assert_eq!(r["claims"]["c"]["payment_due"], json!(null));
    assert_eq!(r["overdue_claims"], json!([]));
    assert_eq!(
        l.tx("2025-05-13", &["ins"], decide("c", true)),
        Err(Code::ClaimNotOpen)
    );
    l.ok("2025-05-16", &["bank"], submit.clone());
    assert_eq!(
        l.tx("2025-05-17", &["bank"], submit),
        Err(Code::ClaimNotOpen)
    );
    // Still asked once only, even though the claim is Filed again.
    assert_eq!(
        l.tx("2025-05-17", &["ins"], request),
        Err(Code::DocumentsAlreadyRequested)
    );
    let r = l.report("2025-06-15");
    assert_eq!(r["claims"]["c"]["decision_due"], json!("2025-06-15"));
    assert_eq!(r["overdue_claims"], json!([]));
    assert_eq!(l.report("2025-06-16")["overdue_claims"], json!(["c"]));
    let confirm = json!({"type": "ConfirmClaimPayment", "claim": "c", "reference": "P"});
    assert_eq!(
        l.tx("2025-06-16", &["ins"], confirm.clone()),
        Err(Code::ClaimNotOpen)
    );
    l.ok("2025-06-16", &["ins"], decide("c", true));
    // Payment due: ten business days after Friday 2025-05-16.
    let r = l.report("2025-05-30");
    assert_eq!(r["claims"]["c"]["payment_due"], json!("2025-05-30"));
    assert_eq!(l.report("2025-06-16")["overdue_claims"], json!(["c"]));
    assert_eq!(
        l.tx("2025-06-17", &["bank"], confirm.clone()),
        Err(Code::Unauthorized)
    );
    l.ok("2025-06-17", &["ins"], confirm.clone());
    let r = l.report("2025-06-17");
    assert_eq!(r["claims"]["c"]["late"], json!(true));
    assert_eq!(r["claims"]["c"]["status"], json!("Paid"));
    assert_eq!(r["overdue_claims"], json!([]));
    assert_eq!(
        l.tx("2025-06-18", &["ins"], confirm),
        Err(Code::ClaimNotOpen)
    );
}

#[test]
fn recoveries() {
    let mut l = claimable();
    l.ok(CLAIM_DATE, &["bank"], file_claim("c"));
    assert_eq!(
        l.tx(CLAIM_DATE, &["bank"], recovery("c", 1)),
        Err(Code::ClaimNotOpen)
    );
    l.ok("2025-05-12", &["ins"], decide("c", true));
    assert_eq!(
        l.tx("2025-05-12", &["bank"], recovery("c", 0)),
        Err(Code::InvalidField)
    );
    assert_eq!(
        l.tx("2025-05-12", &["bank"], recovery("x", 1)),
        Err(Code::UnknownClaim)
    );
    assert_eq!(
        l.tx("2025-05-12", &["gov"], recovery("c", 1)),
        Err(Code::Unauthorized)
    );
    l.ok("2025-05-12", &["ins"], recovery("c", 99_999_999));
    assert_eq!(
        l.tx("2025-05-12", &["bank"], recovery("c", 2)),
        Err(Code::RecoveryExceedsLoss)
    );
    l.ok("2025-05-12", &["bank"], recovery("c", 1));
    let c = &l.report("2025-05-12")["claims"]["c"];
    assert_eq!(c["recovered_fen"], json!(100_000_000));
    assert_eq!(c["recovery"]["bank_fen"], json!(30_000_000));
    assert_eq!(c["recovery"]["insurer_fen"], json!(70_000_000));
}

#[test]
fn fund_layers_shortfall_and_reinsurance() {
    // Direct fund share, InsurerCap layer, a fund that cannot pay it all, and a reinsurer.
    let mut l = Ledger::standard();
    l.ok("2025-01-02", &["ins", "reg"], file_rate());
    l.ok(
        "2025-01-02",
        &["gov"],
        create_fund("fund", "gov", 10_000_000_000),
    );
    l.ok("2025-01-02", &["gov"], top_up("fund", 20_000_000));
    l.ok(
        "2025-01-03",
        &["gov", "bank", "ins", "re"],
        programme(json!({
            "reinsurer": "re", "reinsurance_quota_bps": 2500,
            "split": {"bank_bps": 2000, "insurer_bps": 7000, "fund_bps": 1000},
            "subsidy": {"mode": "None"},
            "fund_layer": {"kind": "InsurerCap", "cap_bps": 10000},
            "opening": {"premium_written_fen": 48_000_000u64, "claims_gross_fen": 40_000_000u64}
        })),
    );
    l.ok("2025-01-10", &["ins"], policy(json!({})));
    l.ok(
        "2025-01-10",
        &["bank"],
        json!({"type": "DisburseLoan", "id": "loan", "policy": "pol"}),
    );
    l.ok(CLAIM_DATE, &["bank"], file_claim("c"));
    l.ok("2025-05-12", &["ins"], decide("c", true));
    // L = 100,000,000: bank 20,000,000, insurer gross 70,000,000, fund direct 10,000,000.
    // PW = 50,000,000, cap = 50,000,000, CG = 40,000,000: the insurer keeps 10,000,000, the
    // layer is 60,000,000. The fund owes 70,000,000 and can pay 20,000,000.
    let c = &l.report("2025-05-12")["claims"]["c"];
    assert_eq!(c["bank_retained_fen"], json!(20_000_000));
    assert_eq!(c["insurer_gross_fen"], json!(70_000_000));
    assert_eq!(c["fund_fen"], json!(20_000_000));
    assert_eq!(c["fund_shortfall_fen"], json!(50_000_000));
    assert_eq!(c["insurer_pays_bank_fen"], json!(80_000_000));
    assert_eq!(c["insurer_retained_fen"], json!(45_000_000));
    assert_eq!(c["reinsurer_fen"], json!(15_000_000));
    let r = l.report("2025-05-12");
    assert_eq!(r["funds"]["fund"]["balance_fen"], json!(0));
    assert_eq!(
        r["funds"]["fund"]["compensation_paid_fen"],
        json!(20_000_000)
    );
    assert_eq!(
        r["programmes"]["prog"]["claims_gross_fen"],
        json!(110_000_000)
    );
    // A recovery shares four ways and returns the fund's part to its balance only.
    l.ok("2025-06-01", &["ins"], recovery("c", 10_000_000));
    let r = l.report("2025-06-01");
    let rec = &r["claims"]["c"]["recovery"];
    assert_eq!(rec["bank_fen"], json!(2_000_000));
    assert_eq!(rec["insurer_fen"], json!(4_500_000));
    assert_eq!(rec["fund_fen"], json!(2_000_000));
    assert_eq!(rec["reinsurer_fen"], json!(1_500_000));
    assert_eq!(r["funds"]["fund"]["balance_fen"], json!(2_000_000));
    assert_eq!(
        r["funds"]["fund"]["compensation_paid_fen"],
        json!(20_000_000)
    );
}

#[test]
fn reviews_suspend_warn_and_never_lift() {
    let mut l = with_loan(json!({
        "triggers": {"suspend_loss_ratio_bps": 0, "suspend_overdue_bps": 5000, "warn_at_bps": 5000}
    }));
    let review = json!({"type": "ReviewProgramme", "programme": "prog"});
    assert_eq!(
        l.tx("2025-02-10", &[], review.clone()),
        Err(Code::Unauthorized)
    );
    assert_eq!(
        l.tx("2025-02-10", &["aud"], review.clone()),
        Err(Code::Unauthorized)
    );
    assert_eq!(
        l.tx(
            "2025-02-10",
            &["bank"],
            json!({"type": "ReviewProgramme", "programme": "x"})
        ),
        Err(Code::UnknownProgramme)
    );
    // Due today is not past due.
    l.ok("2025-02-10", &["gov"], review.clone());
    let p = &l.report("2025-02-10")["programmes"]["prog"];
    assert_eq!(p["overdue_ratio_bps"], json!(0));
    assert_eq!(p["warnings"], json!([]));
    l.ok("2025-02-11", &["reg"], review.clone());
    let p = &l.report("2025-02-11")["programmes"]["prog"];
    assert_eq!(p["overdue_ratio_bps"], json!(10_000));
    assert_eq!(p["status"], json!("Suspended"));
    assert_eq!(p["warnings"], json!(["OverdueRatio"]));
    assert_eq!(
        l.tx(
            "2025-02-11",
            &["ins"],
            policy(json!({"id": "p2", "enterprise": "e2"}))
        ),
        Err(Code::ProgrammeNotActive)
    );
    l.ok("2025-02-12", &["bank"], repay(470_833));
    l.ok("2025-02-12", &["bank"], review.clone());
    let p = &l.report("2025-02-12")["programmes"]["prog"];
    assert_eq!(p["status"], json!("Suspended"));
    assert_eq!(p["warnings"], json!([]));
    let resume = json!({"type": "ResumeProgramme", "programme": "prog"});
    assert_eq!(
        l.tx("2025-02-12", PROGRAMME_SIGNERS, resume.clone()),
        Err(Code::Unauthorized)
    );
    l.ok("2025-02-12", &["gov", "bank", "ins", "reg"], resume.clone());
    l.ok("2025-02-12", &["gov", "bank", "ins", "reg"], resume);
    assert_eq!(
        l.report("2025-02-12")["programmes"]["prog"]["status"],
        json!("Active")
    );
    l.ok(
        "2025-02-12",
        &["ins"],
        policy(json!({"id": "p2", "enterprise": "e2"})),
    );
}

#[test]
fn calendar_rules() {
    let mut l = Ledger::standard();
    let cal = |year: u64, holidays: serde_json::Value| json!({"type": "SetCalendar", "year": year, "holidays": holidays, "workdays": []});
    assert_eq!(
        l.tx("2025-01-01", &["reg"], cal(2026, json!(["2025-12-31"]))),
        Err(Code::InvalidField)
    );
    assert_eq!(
        l.tx("2025-01-01", &["reg"], cal(10_000, json!([]))),
        Err(Code::InvalidField)
    );
    assert_eq!(
        l.tx("2025-01-01", &["bank"], cal(2026, json!([]))),
        Err(Code::Unauthorized)
    );
    l.ok("2025-01-01", &["reg"], cal(2026, json!([])));
}

#[test]
fn due_dates_are_fixed_when_computed() {
    let mut l = claimable();
    l.ok(CLAIM_DATE, &["bank"], file_claim("c"));
    // A later calendar change does not move them.
    l.ok(
        "2025-05-12",
        &["reg"],
        json!({"type": "SetCalendar", "year": 2025, "holidays": ["2025-05-12", "2025-05-13"], "workdays": []}),
    );
    assert_eq!(
        l.report("2025-05-12")["claims"]["c"]["payment_due"],
        json!("2025-05-23")
    );
}

#[test]
fn huge_claim_terms_are_overflow() {
    let mut l = with_loan(json!({"claims": {"decide_days": u64::MAX}}));
    assert_eq!(
        l.tx(CLAIM_DATE, &["bank"], file_claim("c")),
        Err(Code::Overflow)
    );
    let mut l = with_loan(json!({"claims": {"pay_business_days": 10_000_000u64}}));
    assert_eq!(
        l.tx(CLAIM_DATE, &["bank"], file_claim("c")),
        Err(Code::Overflow)
    );
}

#[test]
fn staff_keys() {
    let mut l = Ledger::standard();
    let key = PublicKey::Ed25519([7; 32]);
    let register = |org: &str, k: &PublicKey| json!({"type": "RegisterStaffKey", "org": org, "public_key": k.to_string()});
    let revoke = |org: &str, k: &PublicKey| json!({"type": "RevokeStaffKey", "org": org, "public_key": k.to_hex()});
    assert_eq!(
        l.tx("2025-01-01", &["bank"], register("zz", &key)),
        Err(Code::UnknownParty)
    );
    // A key of another algorithm than the chain's, before anything else is looked at.
    let sm2 = ledger::crypto::SecretKey::from_seed_for(ledger::crypto::Algorithm::Sm2, [7; 32]);
    assert_eq!(
        l.tx("2025-01-01", &["ins"], register("zz", &sm2.public_key())),
        Err(Code::WrongAlgorithm)
    );
    assert_eq!(
        l.tx("2025-01-01", &["ins"], register("bank", &key)),
        Err(Code::Unauthorized)
    );
    l.ok("2025-01-01", &["bank"], register("bank", &key));
    assert_eq!(
        contracts::orgs_of_keys(&l.store, &[key]),
        Ok(vec![id("bank")])
    );
    assert_eq!(
        l.tx("2025-01-01", &["ins"], register("ins", &key)),
        Err(Code::DuplicateId)
    );
    assert_eq!(
        l.tx("2025-01-01", &["ins"], revoke("ins", &key)),
        Err(Code::InvalidField)
    );
    assert_eq!(
        l.tx(
            "2025-01-01",
            &["bank"],
            revoke("bank", &PublicKey::Ed25519([8; 32]))
        ),
        Err(Code::InvalidField)
    );
    l.ok("2025-01-01", &["bank"], revoke("bank", &key));
    assert_eq!(
        l.tx("2025-01-01", &["bank"], revoke("bank", &key)),
        Err(Code::InvalidField)
    );
    assert_eq!(
        contracts::orgs_of_keys(&l.store, &[key]),
        Err(Code::Unauthorized)
    );
    // Never reusable.
    assert_eq!(
        l.tx("2025-01-01", &["bank"], register("bank", &key)),
        Err(Code::DuplicateId)
    );
    assert_eq!(
        contracts::orgs_of_keys(&l.store, &[PublicKey::Ed25519([9; 32])]),
        Err(Code::Unauthorized)
    );
}

#[test]
fn genesis_keys_sign_for_their_orgs() {
    use ledger::genesis::{Genesis, GenesisOrg, GenesisStaffKey, GovernanceRule, Params};
    let admin = |b: u8| PublicKey::Ed25519([b; 32]);
    let genesis = Genesis {
        crypto_suite: SUITE,
        chain_id: id("test"),
        protocol_version: 1,
        genesis_time_ms: 0,
        organisations: vec![
            GenesisOrg {
                id: id("bank"),
                kind: ledger::OrgKind::Bank,
                admin_key: admin(1),
            },
            GenesisOrg {
                id: id("ins"),
                kind: ledger::OrgKind::Insurer,
                admin_key: admin(2),
            },
        ],
        validators: vec![],
        staff_keys: vec![GenesisStaffKey {
            org: id("bank"),
            public_key: admin(3),
        }],
        params: Params {
            block_time_ms: 1000,
            block_txs_max: 10,
            tx_expiry_heights_max: 10,
            heartbeat_ms: ledger::genesis::HEARTBEAT_MS_DEFAULT,
            upgrade_lead_heights: ledger::genesis::UPGRADE_LEAD_HEIGHTS_DEFAULT,
            obligor_limit_fen: None,
        },
        governance: GovernanceRule::default(),
    };
    let mut store = ledger::state::MemoryStore::new();
    ledger::state::StateStore::apply(&mut store, &contracts::genesis_writes(&genesis));
    assert_eq!(
        contracts::orgs_of_keys(&store, &[admin(3), admin(2), admin(1)]),
        Ok(vec![id("bank"), id("ins")])
    );
    assert_eq!(
        contracts::orgs_of_keys(&store, &[admin(1), admin(4)]),
        Err(Code::Unauthorized)
    );
    assert_eq!(contracts::orgs_of_keys(&store, &[]), Ok(vec![]));
}

#[test]
fn recoveries_restore_the_balance_not_the_cap() {
    // A fund that bears all of a loss, with a cap of 150,000,000 a year.
    let mut l = Ledger::standard();
    l.ok("2025-01-02", &["ins", "reg"], file_rate());
    l.ok(
        "2025-01-02",
        &["gov"],
        create_fund("fund", "gov", 150_000_000),
    );
    l.ok("2025-01-02", &["gov"], top_up("fund", 1_000_000_000));
    let patch = json!({"split": {"bank_bps": 0, "insurer_bps": 0, "fund_bps": 10000}, "subsidy": {"mode": "None"}});
    l.ok("2025-01-03", PROGRAMME_SIGNERS, programme(patch));
    for n in ["1", "2"] {
        l.ok(
            "2025-01-10",
            &["ins"],
            policy(json!({"id": format!("pol-{n}"), "enterprise": format!("e{n}")})),
        );
        l.ok(
            "2025-01-10",
            &["bank"],
            json!({"type": "DisburseLoan", "id": format!("loan-{n}"), "policy": format!("pol-{n}")}),
        );
        let mut claim = file_claim(&format!("c{n}"));
        claim["loan"] = json!(format!("loan-{n}"));
        l.ok(CLAIM_DATE, &["bank"], claim);
    }
    l.ok("2025-05-12", &["ins"], decide("c1", true));
    // The whole loss came from the fund; recovering it all returns it to the balance only.
    l.ok("2025-05-12", &["bank"], recovery("c1", 100_000_000));
    l.ok("2025-05-13", &["ins"], decide("c2", true));
    let r = l.report("2025-05-13");
    assert_eq!(r["claims"]["c1"]["fund_fen"], json!(100_000_000));
    assert_eq!(
        r["claims"]["c1"]["recovery"]["fund_fen"],
        json!(100_000_000)
    );
    // Only 50,000,000 of the year's cap is left for the second claim.
    assert_eq!(r["claims"]["c2"]["fund_fen"], json!(50_000_000));
    assert_eq!(r["claims"]["c2"]["fund_shortfall_fen"], json!(50_000_000));
    assert_eq!(r["claims"]["c2"]["insurer_retained_fen"], json!(50_000_000));
    let f = &r["funds"]["fund"];
    assert_eq!(f["compensation_paid_fen"], json!(150_000_000));
    assert_eq!(
        f["balance_fen"],
        json!(1_000_000_000 - 150_000_000 + 100_000_000)
    );
}

#[test]
fn signer_order_and_repetition_do_not_matter() {
    let mut a = with_programme(json!({}));
    let mut b = with_programme(json!({}));
    a.ok("2025-01-10", &["ins"], policy(json!({})));
    b.ok(
        "2025-01-10",
        &["ins", "ins", "reg", "ins"],
        policy(json!({})),
    );
    // Extra signers are allowed, and change nothing in what is written.
    assert_eq!(a.root, b.root);
}

#[test]
fn disabled_triggers_give_no_warnings() {
    let mut l = with_loan(json!({
        "opening": {"premium_written_fen": 1, "claims_gross_fen": 100_000_000u64},
        "triggers": {"suspend_loss_ratio_bps": 100, "suspend_overdue_bps": 0, "warn_at_bps": 0}
    }));
    l.ok(
        "2025-06-01",
        &["reg"],
        json!({"type": "ReviewProgramme", "programme": "prog"}),
    );
    let p = &l.report("2025-06-01")["programmes"]["prog"];
    // Suspended by the loss ratio, but warn_at 0 lists nothing, and the overdue trigger is off.
    assert_eq!(p["status"], json!("Suspended"));
    assert_eq!(p["warnings"], json!([]));
    assert_eq!(p["overdue_ratio_bps"], json!(10_000));
}

#[test]
fn overdue_claims_are_listed_by_id() {
    let mut l = with_programme(json!({"claims": {"decide_days": 5}}));
    for n in ["b", "a"] {
        l.ok(
            "2025-01-10",
            &["ins"],
            policy(json!({"id": format!("pol-{n}"), "enterprise": format!("e{n}")})),
        );
        l.ok(
            "2025-01-10",
            &["bank"],
            json!({"type": "DisburseLoan", "id": format!("loan-{n}"), "policy": format!("pol-{n}")}),
        );
        let mut claim = file_claim(&format!("clm-{n}"));
        claim["loan"] = json!(format!("loan-{n}"));
        l.ok(CLAIM_DATE, &["bank"], claim);
    }
    assert_eq!(l.report("2025-05-16")["overdue_claims"], json!([]));
    assert_eq!(
        l.report("2025-05-17")["overdue_claims"],
        json!(["clm-a", "clm-b"])
    );
}

#[test]
fn a_filed_rate_is_at_most_the_whole() {
    // R3.1: each rate is at most 10000 bps.
    let mut l = Ledger::standard();
    for rates in [json!([10_001]), json!([200, 10_001]), json!([u64::MAX])] {
        let mut filing = file_rate();
        filing["rates_bps"] = rates;
        assert_eq!(
            l.tx("2025-01-01", &["ins", "reg"], filing),
            Err(Code::InvalidField)
        );
    }
    let mut whole = file_rate();
    whole["rates_bps"] = json!([10_000]);
    l.ok("2025-01-01", &["ins", "reg"], whole);
    // Shape before signers: an over-large rate from a non-member is still InvalidField.
    let mut stranger = file_rate();
    stranger["rates_bps"] = json!([10_001]);
    assert_eq!(
        l.tx("2025-01-01", &["nobody"], stranger),
        Err(Code::InvalidField)
    );
}

#[test]
fn documents_already_requested_comes_before_claim_not_open() {
    // R7.2: asked once, the second request is DocumentsAlreadyRequested whatever the
    // claim's status now is: awaiting documents, decided or paid.
    let mut l = claimable();
    l.ok(CLAIM_DATE, &["bank"], file_claim("c"));
    let request = json!({"type": "RequestDocuments", "claim": "c", "missing": ["court-filing"]});
    l.ok("2025-05-12", &["ins"], request.clone());
    assert_eq!(
        l.tx("2025-05-12", &["ins"], request.clone()),
        Err(Code::DocumentsAlreadyRequested)
    );
    l.ok(
        "2025-05-13",
        &["bank"],
        json!({"type": "SubmitDocuments", "claim": "c", "documents": ["doc-2"]}),
    );
    l.ok("2025-05-14", &["ins"], decide("c", true));
    assert_eq!(
        l.tx("2025-05-15", &["ins"], request.clone()),
        Err(Code::DocumentsAlreadyRequested)
    );
    l.ok(
        "2025-05-15",
        &["ins"],
        json!({"type": "ConfirmClaimPayment", "claim": "c", "reference": "P"}),
    );
    assert_eq!(
        l.tx("2025-05-16", &["ins"], request),
        Err(Code::DocumentsAlreadyRequested)
    );
    // Never asked and no longer Filed: ClaimNotOpen.
    let mut other = claimable();
    other.ok(CLAIM_DATE, &["bank"], file_claim("c"));
    other.ok("2025-05-12", &["ins"], decide("c", false));
    assert_eq!(
        other.tx(
            "2025-05-13",
            &["ins"],
            json!({"type": "RequestDocuments", "claim": "c", "missing": ["x"]})
        ),
        Err(Code::ClaimNotOpen)
    );
}

#[test]
fn a_present_reason_is_a_string_even_on_an_approval() {
    // R7.3: an approval ignores the reason's value, not its form.
    for reason in [json!(7), json!(null), json!(true), json!(["NotCovered"])] {
        let mut l = claimable();
        l.ok(CLAIM_DATE, &["bank"], file_claim("c"));
        let tx = json!({"type": "DecideClaim", "claim": "c", "approve": true, "reason": reason});
        assert_eq!(
            l.tx("2025-05-12", &["ins"], tx),
            Err(Code::InvalidField),
            "reason {reason}"
        );
        // Form before what is named: the same for a claim that does not exist.
        let tx = json!({"type": "DecideClaim", "claim": "zz", "approve": true, "reason": reason});
        assert_eq!(l.tx("2025-05-12", &["ins"], tx), Err(Code::InvalidField));
    }
    // Any string is ignored on an approval; absent is fine too.
    for tx in [
        json!({"type": "DecideClaim", "claim": "c", "approve": true, "reason": "anything"}),
        json!({"type": "DecideClaim", "claim": "c", "approve": true, "reason": ""}),
        json!({"type": "DecideClaim", "claim": "c", "approve": true}),
    ] {
        let mut l = claimable();
        l.ok(CLAIM_DATE, &["bank"], file_claim("c"));
        l.ok("2025-05-12", &["ins"], tx);
        assert_eq!(
            l.report("2025-05-12")["claims"]["c"]["status"],
            json!("Approved")
        );
    }
}
