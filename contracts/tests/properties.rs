//! Property tests over random programmes and event sequences (seeded: the seed is fixed,
//! or taken from `PROPTEST_RNG_SEED`, and proptest prints the smallest failing case).
//!
//! After every step: the parts of every settled loss sum to the loss, recoveries never
//! exceed it and their parts sum to what was recovered, every fund's money is accounted
//! for (top-ups − payments + recoveries = balance) and no year's payments exceed its
//! cap. A rejected step leaves every byte of state and the root unchanged (checked by the
//! harness). The same events give the same report bytes and state root twice, and the
//! scenario runner reproduces the harness exactly.

mod common;

use common::*;
use contracts::store::{self, keys, Claim, Fund, Policy};
use ledger::Fen;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{json, Value};

fn config(cases: u32) -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7869_6e62_616f);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

#[derive(Debug, Clone)]
struct Terms {
    split: (u64, u64, u64),
    cover: bool,
    subsidy: (u64, u8),
    layer: (u8, u64, u64),
    quota: u64,
    triggers: (u64, u64, u64),
    claims: (u64, u64, u64, u64),
    opening: (u64, u64),
    fund: (u64, u64),
}

fn terms() -> impl Strategy<Value = Terms> {
    (
        (0u64..=10_000).prop_flat_map(|bank| (Just(bank), 0..=10_000 - bank)),
        any::<bool>(),
        (0u64..=10_000, 0u8..3),
        (0u8..3, 0u64..30_000, 0u64..=10_000),
        0u64..=10_000,
        (0u64..30_000, 0u64..12_000, 0u64..=10_000),
        (1u64..60, 1u64..30, 0u64..60, 0u64..20),
        (0u64..1_000_000_000, 0u64..1_000_000_000),
        (1u64..2_000_000_000, 1u64..2_000_000_000),
    )
        .prop_map(
            |((bank, insurer), cover, subsidy, layer, quota, triggers, claims, opening, fund)| {
                Terms {
                    split: (bank, insurer, 10_000 - bank - insurer),
                    cover,
                    subsidy,
                    layer,
                    quota,
                    triggers,
                    claims,
                    opening,
                    fund,
                }
            },
        )
}

fn programme_json(t: &Terms) -> Value {
    let layer = match t.layer.0 {
        0 => json!({"kind": "None"}),
        1 => {
            json!({"kind": "ExcessOfLossRatio", "threshold_bps": t.layer.1, "share_bps": t.layer.2})
        }
        _ => json!({"kind": "InsurerCap", "cap_bps": t.layer.1}),
    };
    let mode = ["None", "Upfront", "OnRepayment"][usize::from(t.subsidy.1)];
    programme(json!({
        "reinsurer": "re",
        "reinsurance_quota_bps": t.quota,
        "split": {"bank_bps": t.split.0, "insurer_bps": t.split.1, "fund_bps": t.split.2},
        "cover": if t.cover { "PrincipalAndInterest" } else { "Principal" },
        "subsidy": {"bps": t.subsidy.0, "mode": mode},
        "fund_layer": layer,
        "triggers": {"suspend_loss_ratio_bps": t.triggers.0, "suspend_overdue_bps": t.triggers.1, "warn_at_bps": t.triggers.2},
        "claims": {"interest_dpd": t.claims.0, "principal_dpd": t.claims.1, "decide_days": t.claims.2, "pay_business_days": t.claims.3},
        "opening": {"premium_written_fen": t.opening.0, "claims_gross_fen": t.opening.1},
        "period_end": "2030-12-31",
        "limits": {"max_term_months": 24}
    }))
}

#[derive(Debug, Clone)]
enum Event {
    Advance(u64),
    Issue {
        principal: u64,
        rate: u64,
        term: u64,
        premium: u64,
    },
    Disburse(usize),
    Repay(usize, u64),
    RepayDue(usize),
    File(usize),
    Request(usize),
    Submit(usize),
    Decide(usize, bool),
    Confirm(usize),
    Recover(usize, u64),
    Review,
    Resume,
    TopUp(u64),
    Holidays(u64, u64),
    /// Move loan `i` to its next stage (issue, disburse, repay, claim, decide, pay,
    /// recover), so that runs reach every part of the rulebook.
    Progress(usize, u8, u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0u64..120).prop_map(Event::Advance),
        2 => (1u64..=300_000_000, 400u64..=566, 1u64..=25, prop::sample::select(vec![200u64, 300, 250]))
            .prop_map(|(principal, rate, term, premium)| Event::Issue { principal, rate, term, premium }),
        2 => (0usize..4).prop_map(Event::Disburse),
        2 => (0usize..4, 1u64..200_000_000).prop_map(|(i, a)| Event::Repay(i, a)),
        2 => (0usize..4).prop_map(Event::RepayDue),
        2 => (0usize..4).prop_map(Event::File),
        1 => (0usize..4).prop_map(Event::Request),
        1 => (0usize..4).prop_map(Event::Submit),
        2 => (0usize..4, any::<bool>()).prop_map(|(i, a)| Event::Decide(i, a)),
        1 => (0usize..4).prop_map(Event::Confirm),
        2 => (0usize..4, 1u64..300_000_000).prop_map(|(i, a)| Event::Recover(i, a)),
        1 => Just(Event::Review),
        1 => Just(Event::Resume),
        1 => (1u64..500_000_000).prop_map(Event::TopUp),
        1 => (0u64..3, 0u64..365).prop_map(|(y, d)| Event::Holidays(y, d)),
        20 => (0usize..4, any::<u8>(), any::<u64>()).prop_map(|(i, c, a)| Event::Progress(i, c, a)),
    ]
}

/// One step of a run, kept so the same run can be replayed as a scenario file.
struct Step {
    date: String,
    by: Vec<&'static str>,
    tx: Value,
}

struct Run {
    ledger: Ledger,
    steps: Vec<Step>,
    day: ledger::Date,
    policies: usize,
    claims: usize,
    topped_up: u128,
    /// The latest claim filed on each loan, by loan index.
    claim_of: [Option<usize>; 4],
}

impl Run {
    fn step(&mut self, by: &[&'static str], tx: Value) {
        let date = self.day.to_string();
        let _ = self.ledger.tx(&date, by, tx.clone());
        self.steps.push(Step {
            date,
            by: by.to_vec(),
            tx,
        });
    }

    fn loan_due(&self, i: usize) -> u64 {
        let r = self.ledger.report(&self.day.to_string());
        let loan = &r["loans"][format!("loan-{i}")];
        loan["unpaid_interest_fen"].as_u64().unwrap_or(1)
    }
}

fn play(t: &Terms, events: &[Event]) -> Run {
    let mut run = Run {
        ledger: Ledger::standard(),
        steps: Vec::new(),
        day: d("2025-01-02"),
        policies: 0,
        claims: 0,
        topped_up: 0,
        claim_of: [None; 4],
    };
    run.step(&["ins", "reg"], file_rate());
    run.step(&["gov"], create_fund("fund", "gov", t.fund.0));
    run.step(&["gov"], top_up("fund", t.fund.1));
    run.topped_up += u128::from(t.fund.1);
    run.step(&["gov", "bank", "ins", "re"], programme_json(t));
    for event in events {
        match event {
            Event::Advance(days) => run.day = run.day.checked_add_days(*days).unwrap(),
            Event::Issue { principal, rate, term, premium } => {
                let n = run.policies;
                run.policies += 1;
                run.step(
                    &["ins"],
                    policy(json!({"id": format!("pol-{n}"), "enterprise": format!("ent-{n}"),
                                  "loan_principal_fen": principal, "loan_rate_bps": rate,
                                  "term_months": term, "premium_rate_bps": premium})),
                );
            }
            Event::Disburse(i) => run.step(
                &["bank"],
                json!({"type": "DisburseLoan", "id": format!("loan-{i}"), "policy": format!("pol-{i}")}),
            ),
            Event::Repay(i, amount) => run.step(
                &["bank"],
                json!({"type": "RecordRepayment", "loan": format!("loan-{i}"), "amount_fen": amount, "reference": "R"}),
            ),
            Event::RepayDue(i) => {
                let due = run.loan_due(*i).max(1);
                run.step(
                    &["bank"],
                    json!({"type": "RecordRepayment", "loan": format!("loan-{i}"), "amount_fen": due, "reference": "R"}),
                );
            }
            Event::Progress(i, choice, amount) => progress(&mut run, *i, *choice, *amount),
            Event::File(i) => {
                let n = run.claims;
                run.claims += 1;
                run.step(
                    &["bank"],
                    json!({"type": "FileClaim", "id": format!("clm-{n}"), "loan": format!("loan-{i}"), "documents": ["d"]}),
                );
            }
            Event::Request(i) => run.step(
                &["ins"],
                json!({"type": "RequestDocuments", "claim": format!("clm-{i}"), "missing": ["m"]}),
            ),
            Event::Submit(i) => run.step(
                &["bank"],
                json!({"type": "SubmitDocuments", "claim": format!("clm-{i}"), "documents": ["s"]}),
            ),
            Event::Decide(i, approve) => run.step(&["ins"], decide(&format!("clm-{i}"), *approve)),
            Event::Confirm(i) => run.step(
                &["ins"],
                json!({"type": "ConfirmClaimPayment", "claim": format!("clm-{i}"), "reference": "P"}),
            ),
            Event::Recover(i, amount) => run.step(&["bank"], recovery(&format!("clm-{i}"), *amount)),
            Event::Review => run.step(&["reg"], json!({"type": "ReviewProgramme", "programme": "prog"})),
            Event::Resume => run.step(
                &["gov", "bank", "ins", "re", "reg"],
                json!({"type": "ResumeProgramme", "programme": "prog"}),
            ),
            Event::TopUp(amount) => {
                let before = fund(&run.ledger).balance_fen;
                run.step(&["gov"], top_up("fund", *amount));
                if fund(&run.ledger).balance_fen != before {
                    run.topped_up += u128::from(*amount);
                }
            }
            Event::Holidays(year, day) => {
                let year = 2025 + *year as i32;
                let first = ledger::Date::from_ymd(year, 1, 1).unwrap();
                let holiday = first.checked_add_days(*day).unwrap();
                if holiday.year() == year {
                    run.step(
                        &["reg"],
                        json!({"type": "SetCalendar", "year": year, "holidays": [holiday.to_string()], "workdays": []}),
                    );
                }
            }
        }
        check_invariants(&run);
    }
    run
}

fn progress(run: &mut Run, i: usize, choice: u8, amount: u64) {
    let report = run.ledger.report(&run.day.to_string());
    let (pol, loan) = (format!("pol-{i}"), format!("loan-{i}"));
    if report["policies"].get(&pol).is_none() {
        let principal = 1 + amount % 300_000_000;
        let rate = 400 + u64::from(choice) % 166;
        let term = 1 + u64::from(choice) % 24;
        let premium = [200, 300][usize::from(choice % 2)];
        run.step(
            &["ins"],
            policy(
                json!({"id": pol, "enterprise": format!("ent-{i}"), "loan_principal_fen": principal,
                          "loan_rate_bps": rate, "term_months": term, "premium_rate_bps": premium}),
            ),
        );
        return;
    }
    let Some(state) = report["loans"].get(&loan) else {
        run.step(
            &["bank"],
            json!({"type": "DisburseLoan", "id": loan, "policy": pol}),
        );
        return;
    };
    let claim = run.claim_of[i].map(|n| format!("clm-{n}"));
    let claim_status = claim
        .as_ref()
        .and_then(|c| report["claims"][c]["status"].as_str().map(str::to_string));
    match (state["status"].as_str().unwrap(), claim_status.as_deref()) {
        ("Active", None | Some("Rejected")) => match choice % 4 {
            0 => {
                let due = state["unpaid_interest_fen"].as_u64().unwrap().max(1);
                run.step(&["bank"], json!({"type": "RecordRepayment", "loan": loan, "amount_fen": due, "reference": "R"}));
            }
            1 => run.step(&["bank"], json!({"type": "RecordRepayment", "loan": loan, "amount_fen": 1 + amount % 50_000_000, "reference": "R"})),
            _ if state["interest_dpd"].as_u64() < Some(30) && state["principal_dpd"].as_u64() < Some(15) => {
                // Not late enough to claim yet: let time pass.
                run.day = run.day.checked_add_days(20 + u64::from(choice) % 50).unwrap();
            }
            _ => {
                let n = run.claims;
                run.claims += 1;
                run.claim_of[i] = Some(n);
                run.step(&["bank"], json!({"type": "FileClaim", "id": format!("clm-{n}"), "loan": loan, "documents": ["d"]}));
            }
        },
        (_, Some("Filed")) => {
            let c = claim.unwrap();
            match choice % 4 {
                0 => run.step(&["ins"], json!({"type": "RequestDocuments", "claim": c, "missing": ["m"]})),
                _ => run.step(&["ins"], decide(&c, !choice.is_multiple_of(5))),
            }
        }
        (_, Some("AwaitingDocuments")) => {
            run.step(&["bank"], json!({"type": "SubmitDocuments", "claim": claim.unwrap(), "documents": ["s"]}));
        }
        (_, Some("Approved")) if choice.is_multiple_of(2) => {
            run.step(&["ins"], json!({"type": "ConfirmClaimPayment", "claim": claim.unwrap(), "reference": "P"}));
        }
        (_, Some("Approved" | "Paid")) => {
            let c = claim.unwrap();
            let loss = report["claims"][&c]["loss_fen"].as_u64().unwrap();
            run.step(&["bank"], recovery(&c, 1 + amount % (loss / 2 + 1)));
        }
        _ => run.day = run.day.checked_add_days(u64::from(choice) % 40).unwrap(),
    }
}

fn fund(l: &Ledger) -> Fund {
    store::read(&l.store, &keys::fund(&id("fund"))).unwrap()
}

fn check_invariants(run: &Run) {
    let l = &run.ledger;
    let mut fund_recovered: u128 = 0;
    for (claim_id, claim) in store::scan::<Claim>(&l.store, keys::CLAIM) {
        let rec = claim.recovery;
        let rec_sum = u128::from(rec.bank_fen.0)
            + u128::from(rec.insurer_fen.0)
            + u128::from(rec.fund_fen.0)
            + u128::from(rec.reinsurer_fen.0);
        assert_eq!(
            rec_sum,
            u128::from(claim.recovered_fen.0),
            "{claim_id}: recovery parts"
        );
        assert!(
            claim.recovered_fen <= claim.loss_fen,
            "{claim_id}: recovered beyond the loss"
        );
        fund_recovered += u128::from(rec.fund_fen.0);
        if let Some(s) = claim.settlement {
            let parts = u128::from(s.bank_retained_fen.0)
                + u128::from(s.insurer_retained_fen.0)
                + u128::from(s.fund_fen.0)
                + u128::from(s.reinsurer_fen.0);
            assert_eq!(
                parts,
                u128::from(claim.loss_fen.0),
                "{claim_id}: settlement parts"
            );
            assert_eq!(
                u128::from(s.bank_retained_fen.0)
                    + u128::from(s.insurer_gross_fen.0)
                    + u128::from(s.fund_direct_fen.0),
                u128::from(claim.loss_fen.0),
                "{claim_id}: the loss split"
            );
            assert_eq!(
                Fen(s.fund_fen.0 + s.fund_shortfall_fen.0),
                Fen(s.fund_direct_fen.0 + s.fund_layer_fen.0),
                "{claim_id}: fund paid + shortfall = fund owed"
            );
            assert!(s.fund_layer_fen <= s.insurer_gross_fen);
            assert_eq!(
                s.insurer_pays_bank_fen.0,
                claim.loss_fen.0 - s.bank_retained_fen.0
            );
            assert!(
                rec.fund_fen.0 == 0 || s.fund_fen.0 > 0,
                "{claim_id}: fund recovers only what it bore"
            );
        } else {
            assert_eq!(claim.recovered_fen, Fen::ZERO);
        }
    }
    let f = fund(l);
    let paid = u128::from(f.subsidies_paid_fen.0) + u128::from(f.compensation_paid_fen.0);
    assert_eq!(
        u128::from(f.balance_fen.0),
        run.topped_up + fund_recovered - paid,
        "the fund's money is accounted for"
    );
    let paid_by_year: u128 = f.paid_by_year.iter().map(|(_, p)| u128::from(p.0)).sum();
    assert_eq!(paid_by_year, paid);
    for (year, p) in &f.paid_by_year {
        assert!(*p <= f.annual_cap_fen, "{year}: paid beyond the cap");
    }
    for (policy_id, p) in store::scan::<Policy>(&l.store, keys::POLICY) {
        assert!(p.subsidy_fen <= p.premium_fen, "{policy_id}");
    }
}

fn scenario_text(run: &Run) -> String {
    let orgs: Vec<Value> = [
        ("bank", "Bank"),
        ("bank2", "Bank"),
        ("ins", "Insurer"),
        ("ins2", "Insurer"),
        ("gov", "Government"),
        ("gov2", "Government"),
        ("reg", "Regulator"),
        ("re", "Reinsurer"),
        ("aud", "Auditor"),
    ]
    .iter()
    .map(|(i, k)| json!({"id": i, "kind": k}))
    .collect();
    let steps: Vec<Value> = run
        .steps
        .iter()
        .map(|s| json!({"date": s.date, "by": s.by, "tx": s.tx}))
        .collect();
    json!({"orgs": orgs, "steps": steps}).to_string()
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn random_programmes_keep_the_books(t in terms(), events in prop::collection::vec(event(), 10..80)) {
        let first = play(&t, &events);
        let second = play(&t, &events);
        prop_assert_eq!(first.ledger.root, second.ledger.root);
        // The scenario's date is its last step's date.
        let date = first.steps.last().map(|s| s.date.clone()).unwrap();
        let report = serde_json::to_vec(&first.ledger.report(&date)).unwrap();
        prop_assert_eq!(&report, &serde_json::to_vec(&second.ledger.report(&date)).unwrap());

        // The scenario runner builds the same state, root and figures.
        let text = scenario_text(&first);
        let a = contracts::scenario::run(&text).unwrap();
        let b = contracts::scenario::run(&text).unwrap();
        prop_assert_eq!(a.state_root, first.ledger.root);
        prop_assert_eq!(a.state_root, b.state_root);
        prop_assert_eq!(serde_json::to_vec(&a.result).unwrap(), serde_json::to_vec(&b.result).unwrap());
        let mut from_harness = first.ledger.report(&date);
        from_harness["rejected"] = a.result["rejected"].clone();
        prop_assert_eq!(&a.result, &from_harness);
        prop_assert!(!contracts::scenario::summary(&a).is_empty());
        if std::env::var("XINBAO_COVERAGE").is_ok() {
            let claims = store::scan::<Claim>(&first.ledger.store, keys::CLAIM);
            let approved = claims.iter().filter(|(_, c)| c.settlement.is_some()).count();
            let recovered = claims.iter().filter(|(_, c)| c.recovered_fen.0 > 0).count();
            eprintln!("coverage: steps {} rejected {} claims {} approved {} recovered {}",
                first.steps.len(), a.rejected.len(), claims.len(), approved, recovered);
        }
    }
}

/// A number that is often ordinary and often extreme.
fn num() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..20_000,
        2 => 1u64..1_000_000_000_000,
        2 => any::<u64>(),
        1 => Just(u64::MAX),
        1 => Just(10_000u64),
    ]
}

/// A bps share: mostly within 0..=10000, sometimes anything.
fn share() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..=10_000,
        1 => Just(10_000u64),
        1 => any::<u64>(),
    ]
}

#[derive(Debug, Clone)]
enum Wild {
    Advance(u64),
    Issue(u64, u64, u64, u64),
    Disburse,
    Repay(u64),
    File,
    Decide(bool),
    Recover(u64),
    Review,
    TopUp(u64),
    Calendar(u64),
}

fn wild() -> impl Strategy<Value = Wild> {
    prop_oneof![
        3 => (0u64..200).prop_map(Wild::Advance),
        1 => (0u64..5_000_000).prop_map(Wild::Advance),
        2 => (num(), num(), num(), num()).prop_map(|(a, b, c, d)| Wild::Issue(a, b, c, d)),
        2 => Just(Wild::Disburse),
        1 => num().prop_map(Wild::Repay),
        2 => Just(Wild::File),
        2 => any::<bool>().prop_map(Wild::Decide),
        1 => num().prop_map(Wild::Recover),
        1 => Just(Wild::Review),
        1 => num().prop_map(Wild::TopUp),
        1 => num().prop_map(Wild::Calendar),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Huge amounts, rates, terms, thresholds and day counts give a code, never a panic,
    /// and a rejection changes nothing (checked by the harness on every step).
    #[test]
    fn no_input_panics(
        limits in (num(), num(), share(), share(), share(), num()),
        thresholds in (num(), num(), num(), num()),
        claim_terms in (num(), num(), num(), num()),
        opening in (num(), num()),
        fund in (num(), num()),
        events in prop::collection::vec(wild(), 0..60),
    ) {
        let mut l = Ledger::standard();
        let mut day = d("2025-01-02");
        let _ = l.tx("2025-01-02", &["ins", "reg"], {
            let mut f = file_rate();
            f["rates_bps"] = json!([limits.3, 200, u64::MAX]);
            f["valid_to"] = json!("9999-12-31");
            f
        });
        let _ = l.tx("2025-01-02", &["gov"], create_fund("fund", "gov", fund.0.max(1)));
        let _ = l.tx("2025-01-02", &["gov"], top_up("fund", fund.1));
        let mode = ["None", "Upfront", "OnRepayment"][(thresholds.0 % 3) as usize];
        let _ = l.tx("2025-01-02", &["gov", "bank", "ins", "re"], programme(json!({
            "reinsurer": "re", "reinsurance_quota_bps": thresholds.3 % 10_001,
            "period_end": "9999-12-31",
            "limits": {"max_loan_fen": limits.0, "max_term_months": limits.1, "benchmark_rate_bps": limits.2,
                       "max_uplift_bps": limits.4, "max_premium_rate_bps": limits.3, "max_all_in_bps": limits.5},
            "fund_layer": if thresholds.0 % 2 == 0 {
                json!({"kind": "ExcessOfLossRatio", "threshold_bps": thresholds.1, "share_bps": thresholds.2})
            } else {
                json!({"kind": "InsurerCap", "cap_bps": thresholds.1})
            },
            "cover": if thresholds.2 % 2 == 0 { "PrincipalAndInterest" } else { "Principal" },
            "subsidy": {"bps": thresholds.3 % 10_001, "mode": mode},
            "triggers": {"suspend_loss_ratio_bps": thresholds.1, "suspend_overdue_bps": thresholds.2, "warn_at_bps": thresholds.3 % 10_001},
            "claims": {"interest_dpd": (claim_terms.0 % 365).max(1), "principal_dpd": (claim_terms.1 % 365).max(1),
                       "decide_days": claim_terms.2, "pay_business_days": claim_terms.3},
            "opening": {"premium_written_fen": opening.0, "claims_gross_fen": opening.1}
        })));
        let mut policies = 0;
        let mut claims = 0;
        let mut last_policy = String::from("pol-0");
        for event in &events {
            let date = day.to_string();
            let outcome = match event {
                Wild::Advance(days) => {
                    day = day.checked_add_days(*days).unwrap_or(d("9999-12-31"));
                    Ok(())
                }
                Wild::Issue(principal, rate, term, premium) => {
                    policies += 1;
                    // Often a filed premium rate and a loan rate under the cap, so that
                    // extreme amounts and terms get past the early checks.
                    let premium = match premium % 3 { 0 => limits.3, 1 => 200, _ => *premium };
                    let cap = u128::from(limits.2) * (10_000 + u128::from(limits.4)) / 10_000;
                    let cap = u64::try_from(cap).unwrap_or(u64::MAX);
                    let rate = if rate % 4 == 0 { *rate } else { rate % cap.saturating_add(1).max(1) };
                    let principal = if principal % 4 != 0 { principal % limits.0.max(1) + 1 } else { *principal };
                    let term = if term % 4 != 0 { term % limits.1.max(1) + 1 } else { *term };
                    let issued = l.tx(&date, &["ins"], policy(json!({"id": format!("pol-{policies}"), "enterprise": format!("e{policies}"),
                        "loan_principal_fen": principal, "loan_rate_bps": rate, "term_months": term, "premium_rate_bps": premium})));
                    if issued.is_ok() {
                        last_policy = format!("pol-{policies}");
                    }
                    issued
                }
                Wild::Disburse => l.tx(&date, &["bank"], json!({"type": "DisburseLoan", "id": "loan", "policy": last_policy})),
                Wild::Repay(amount) => l.tx(&date, &["bank"], repay(*amount)),
                Wild::File => {
                    claims += 1;
                    l.tx(&date, &["bank"], file_claim(&format!("c{claims}")))
                }
                Wild::Decide(approve) => l.tx(&date, &["ins"], decide(&format!("c{claims}"), *approve)),
                Wild::Recover(amount) => l.tx(&date, &["ins"], recovery(&format!("c{claims}"), *amount)),
                Wild::Review => l.tx(&date, &["reg"], json!({"type": "ReviewProgramme", "programme": "prog"})),
                Wild::TopUp(amount) => l.tx(&date, &["gov"], top_up("fund", *amount)),
                Wild::Calendar(year) => l.tx(&date, &["reg"], json!({"type": "SetCalendar", "year": year, "holidays": [], "workdays": []})),
            };
            // Whatever the outcome, the harness has checked that a rejection changed nothing.
            let _ = outcome;
        }
        let report = l.report(&day.to_string());
        prop_assert!(report["programmes"].is_object());
        if std::env::var("XINBAO_COVERAGE").is_ok() {
            eprintln!("wild: programmes {} policies {} loans {} claims {}",
                report["programmes"].as_object().unwrap().len(), report["policies"].as_object().unwrap().len(),
                report["loans"].as_object().unwrap().len(), report["claims"].as_object().unwrap().len());
        }
        for (claim_id, claim) in store::scan::<Claim>(&l.store, keys::CLAIM) {
            if let Some(s) = claim.settlement {
                let parts = u128::from(s.bank_retained_fen.0) + u128::from(s.insurer_retained_fen.0)
                    + u128::from(s.fund_fen.0) + u128::from(s.reinsurer_fen.0);
                prop_assert_eq!(parts, u128::from(claim.loss_fen.0), "{}", claim_id);
            }
            prop_assert!(claim.recovered_fen <= claim.loss_fen);
        }
    }

    /// R1.3: the parts sum to the total, each is within one fen of its exact share, and a
    /// part's extra fen never goes to a smaller remainder.
    #[test]
    fn splits_sum_to_their_total(total in num(), weights in prop::collection::vec(num(), 1..6)) {
        let parts = contracts::arith::split(Fen(total), &weights);
        prop_assert_eq!(parts.len(), weights.len());
        let sum: u128 = parts.iter().map(|p| u128::from(p.0)).sum();
        prop_assert_eq!(sum, u128::from(total));
        let w_sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
        let product = |i: usize| u128::from(total) * u128::from(weights[i]);
        let base = |i: usize| product(i).checked_div(w_sum);
        let rem = |i: usize| product(i).checked_rem(w_sum);
        if w_sum == 0 {
            // Documented choice: everything to the first part.
            prop_assert_eq!(parts[0], Fen(total));
        }
        for (i, part) in parts.iter().enumerate() {
            if let Some(b) = base(i) {
                prop_assert!(u128::from(part.0) == b || u128::from(part.0) == b + 1);
            }
        }
        let bumped = |i: usize| base(i).is_some_and(|b| u128::from(parts[i].0) != b);
        for i in 0..weights.len() {
            for j in 0..weights.len() {
                if bumped(j) && !bumped(i) {
                    // j got an extra fen and i did not: j's remainder is larger, or
                    // equal and j comes first.
                    prop_assert!(rem(j) > rem(i) || (rem(j) == rem(i) && j < i));
                }
            }
        }
    }

    /// R1.2 against a direct 128-bit computation.
    #[test]
    fn rate_amount_is_exact_or_overflow(amount in num(), rate in num(), months in num()) {
        let exact = u128::from(amount)
            .checked_mul(u128::from(rate))
            .and_then(|p| p.checked_mul(u128::from(months)))
            .map(|p| p / 120_000)
            .and_then(|v| u64::try_from(v).ok());
        let got = contracts::arith::rate_amount(Fen(amount), rate, months);
        match exact {
            Some(v) => prop_assert_eq!(got, Ok(Fen(v))),
            None => prop_assert_eq!(got, Err(ledger::Code::Overflow)),
        }
    }

    /// R1.6: counting a week at a time gives the same date as counting day by day.
    #[test]
    fn business_days_match_a_day_by_day_count(
        start in 0i32..20_000,
        n in 0u64..400,
        holidays in prop::collection::vec(0u64..800, 0..12),
        workdays in prop::collection::vec(0u64..800, 0..6),
    ) {
        use ledger::date::Weekday;
        use ledger::state::StateStore;
        let from = ledger::Date::from_days(start).unwrap();
        let mut l = Ledger::standard();
        let dates = |offsets: &[u64]| -> Vec<ledger::Date> {
            offsets.iter().map(|o| from.checked_add_days(*o).unwrap()).collect()
        };
        let (holidays, workdays) = (dates(&holidays), dates(&workdays));
        for year in from.year()..=from.year() + 3 {
            let mut cal = contracts::store::Calendar {
                holidays: holidays.iter().copied().filter(|h| h.year() == year).collect(),
                workdays: workdays.iter().copied().filter(|h| h.year() == year).collect(),
            };
            cal.holidays.sort();
            cal.holidays.dedup();
            cal.workdays.sort();
            cal.workdays.dedup();
            let mut w = ledger::state::WriteSet::new();
            w.put(keys::calendar(year), ledger::codec::encode(&cal));
            l.store.apply(&w);
        }
        let mut day = from;
        let mut left = n;
        while left > 0 {
            day = day.checked_add_days(1).unwrap();
            let weekend = matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday);
            let business = workdays.contains(&day) || (!weekend && !holidays.contains(&day));
            if business {
                left -= 1;
            }
        }
        prop_assert_eq!(contracts::calendar::add_business_days(&l.store, from, n), Ok(day));
    }
}
