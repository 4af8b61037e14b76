//! The stress test checked against what can be known without it: closed forms for the
//! mean loss and the Vasicek tail, a hand-written scenario for a model whose every loan
//! defaults, its own exported paths replayed by `scenario run`, and reproducibility.

use std::sync::atomic::AtomicU64;

use ledger::state::StateView;
use serde_json::{json, Value};

use super::draw::{self, normal_cdf, normal_quantile};
use super::model::{set_field, Model};
use super::path::{self, Base};
use super::run_design;

/// A small programme with every layer, trigger and cap switched off: what the closed
/// forms describe.
fn plain_model() -> Value {
    json!({
        "start": "2025-01-01",
        "horizon_months": 18,
        "regulator": "reg",
        "programme": {
            "id": "prog", "name": "plain", "product": "LGI",
            "period_start": "2025-01-01", "period_end": "2025-12-31",
            "government": "gov", "fund": "fund", "banks": ["bank"], "insurer": "ins",
            "reinsurer": null,
            "split": { "bank_bps": 3000, "insurer_bps": 7000, "fund_bps": 0 },
            "cover": "Principal",
            "limits": { "max_loan_fen": 300000000, "max_term_months": 24, "benchmark_rate_bps": 435,
                        "max_uplift_bps": 5000, "max_premium_rate_bps": 300, "max_all_in_bps": 2400 },
            "subsidy": { "bps": 0, "mode": "None" },
            "fund_layer": { "kind": "None" },
            "reinsurance_quota_bps": 0,
            "triggers": { "suspend_loss_ratio_bps": 0, "suspend_overdue_bps": 0, "warn_at_bps": 0 },
            "claims": { "interest_dpd": 90, "principal_dpd": 30, "decide_days": 30, "pay_business_days": 10 }
        },
        "fund": { "annual_cap_fen": 1_000_000_000_000u64, "opening_balance_fen": 1_000_000_000_000u64 },
        "filings": [ { "rates_bps": [200], "valid_from": "2025-01-01", "valid_to": "2026-12-31", "filing_ref": "F" } ],
        "portfolio": {
            "originations_per_month": 100,
            "origination_months": 1,
            "segments": [ {
                "name": "all", "weight": 1,
                "principal_fen": { "min": 10000000, "max": 50000000, "step": 1000000 },
                "term_months": 12, "loan_rate_bps": 565, "premium_rate_bps": 200,
                "annual_pd_bps": 500
            } ],
            "correlation_bps": 0,
            "recovery": { "rate_bps": 3000, "lag_months": 1 },
            "monthly_review": false
        }
    })
}

fn model(doc: &Value) -> Model {
    Model::parse(&doc.to_string()).expect("a valid model")
}

fn run(doc: &Value, paths: u64, seed: u64, threads: usize) -> super::Run {
    let m = model(doc);
    let base = Base::new(&m, contracts::upgrade::NEWEST).expect("the rulebook accepts the set-up");
    run_design(&m, &base, paths, seed, threads, &AtomicU64::new(0))
}

#[test]
fn the_mean_loss_converges_to_pd_times_exposure_times_loss_given_default() {
    let doc = plain_model();
    let paths = 400;
    let out = run(&doc, paths, 11, 2);
    // Each loan defaults within its twelve months with the annual probability; the loss
    // is its principal (nothing is repaid before the first instalment it misses is its
    // first) less 30 % recovered.
    let loans = 100.0;
    let pd = 0.05;
    let mean_principal = (10_000_000.0 + 50_000_000.0) / 2.0;
    let expected = loans * pd * mean_principal * 0.7;
    let totals: Vec<f64> = out
        .results
        .iter()
        .map(|r| r.losses.iter().sum::<u64>() as f64)
        .collect();
    let n = totals.len() as f64;
    let mean = totals.iter().sum::<f64>() / n;
    let sd = (totals.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let se = sd / n.sqrt();
    assert!(
        (mean - expected).abs() <= 3.0 * se,
        "mean loss {mean:.0} fen, closed form {expected:.0}, standard error {se:.0}"
    );
    // The split held: the banks keep 30 % of every loss, the insurer 70 %, no fund money.
    for r in &out.results {
        assert_eq!(r.losses[2] + r.losses[3], 0, "no fund or reinsurer layer");
        assert!(r.refused.is_empty(), "nothing refused: {:?}", r.refused);
    }
    let bank: u64 = out.results.iter().map(|r| r.losses[0]).sum();
    let insurer: u64 = out.results.iter().map(|r| r.losses[1]).sum();
    let share = bank as f64 / (bank + insurer) as f64;
    assert!((share - 0.3).abs() < 0.001, "bank share {share}");
}

#[test]
fn the_simulated_p99_loss_fraction_is_the_vasicek_quantile() {
    let mut doc = plain_model();
    set_field(&mut doc, "portfolio.originations_per_month", json!(1000)).unwrap();
    set_field(&mut doc, "portfolio.correlation_bps", json!(2000)).unwrap();
    set_field(&mut doc, "portfolio.segments.0.annual_pd_bps", json!(200)).unwrap();
    let m = model(&doc);
    let paths = 3000;
    let mut fractions: Vec<f64> = (0..paths)
        .map(|i| {
            let draws = draw::draw_path(&m, 5, i);
            let defaults = draws
                .loans
                .iter()
                .filter(|l| l.default_at.is_some())
                .count();
            defaults as f64 / draws.loans.len() as f64
        })
        .collect();
    fractions.sort_by(f64::total_cmp);
    let simulated = fractions[(paths as usize * 99).div_ceil(100) - 1];
    let (pd, rho) = (0.02f64, 0.2f64);
    let vasicek =
        normal_cdf((normal_quantile(pd) + rho.sqrt() * normal_quantile(0.99)) / (1.0 - rho).sqrt());
    assert!(
        (simulated - vasicek).abs() < 0.015,
        "simulated p99 loss fraction {simulated:.4}, Vasicek {vasicek:.4}"
    );
    let mean = fractions.iter().sum::<f64>() / paths as f64;
    assert!((mean - pd).abs() < 0.002, "mean default rate {mean}");
}

/// Every loan defaults: the stress result must be, to the fen, what `scenario run` gives
/// for the same story written out by hand.
#[test]
fn a_model_where_every_loan_defaults_reproduces_the_scenario_to_the_fen() {
    let mut doc = plain_model();
    for (field, value) in [
        ("portfolio.originations_per_month", json!(2)),
        ("portfolio.origination_months", json!(2)),
        ("portfolio.segments.0.annual_pd_bps", json!(10000)),
        ("portfolio.segments.0.principal_fen", json!(100000000)),
        (
            "portfolio.recovery",
            json!({ "rate_bps": 5000, "lag_months": 2 }),
        ),
        (
            "programme.subsidy",
            json!({ "bps": 4000, "mode": "Upfront" }),
        ),
        (
            "programme.fund_layer",
            json!({ "kind": "InsurerCap", "cap_bps": 20000 }),
        ),
        ("programme.reinsurer", json!("re")),
        ("programme.reinsurance_quota_bps", json!(2500)),
        (
            "programme.split",
            json!({ "bank_bps": 2000, "insurer_bps": 6000, "fund_bps": 2000 }),
        ),
        (
            "fund",
            json!({ "annual_cap_fen": 150000000, "opening_balance_fen": 10000000000u64 }),
        ),
        ("horizon_months", json!(12)),
    ] {
        set_field(&mut doc, field, value).unwrap();
    }
    let out = run(&doc, 3, 1, 2);
    let r = &out.results[0];
    assert!(
        out.results.iter().all(|o| o == r),
        "every path is the same story"
    );

    // The same story, written by hand: four loans of 1,000,000 yuan, each missing its
    // first instalment, claimed 90 days later, decided 20 days after that, paid 7 days
    // later and half recovered two months on.
    let policy = |n: u32, date: &str| {
        vec![
            json!({ "date": date, "by": ["ins"], "tx": { "type": "IssuePolicy", "id": format!("p{n}"),
                "programme": "prog", "enterprise": format!("e{n}"), "bank": "bank",
                "loan_principal_fen": 100000000, "loan_rate_bps": 565, "term_months": 12,
                "premium_rate_bps": 200 } }),
            json!({ "date": date, "by": ["bank"], "tx": { "type": "DisburseLoan", "id": format!("l{n}"), "policy": format!("p{n}") } }),
        ]
    };
    let claim = |n: u32, file: &str, decide: &str, pay: &str, recover: &str| {
        vec![
            (
                file.to_string(),
                json!({ "date": file, "by": ["bank"], "tx": { "type": "FileClaim", "id": format!("c{n}"), "loan": format!("l{n}"), "documents": ["loss-file"] } }),
            ),
            (
                decide.to_string(),
                json!({ "date": decide, "by": ["ins"], "tx": { "type": "DecideClaim", "claim": format!("c{n}"), "approve": true } }),
            ),
            (
                pay.to_string(),
                json!({ "date": pay, "by": ["ins"], "tx": { "type": "ConfirmClaimPayment", "claim": format!("c{n}"), "reference": "x" } }),
            ),
            (
                recover.to_string(),
                json!({ "date": recover, "by": ["bank"], "tx": { "type": "RecordRecovery", "claim": format!("c{n}"), "amount_fen": 50000000, "reference": "x" } }),
            ),
        ]
    };
    let mut steps = vec![
        json!({ "date": "2025-01-01", "by": ["ins", "reg"], "tx": { "type": "FileRate", "insurer": "ins", "product": "LGI",
            "rates_bps": [200], "valid_from": "2025-01-01", "valid_to": "2026-12-31", "filing_ref": "F" } }),
        json!({ "date": "2025-01-01", "by": ["gov"], "tx": { "type": "CreateFund", "id": "fund", "government": "gov", "annual_cap_fen": 150000000 } }),
        json!({ "date": "2025-01-01", "by": ["gov"], "tx": { "type": "FundTopUp", "fund": "fund", "amount_fen": 10000000000u64, "reference": "x" } }),
    ];
    let mut programme = doc["programme"].clone();
    programme["type"] = json!("CreateProgramme");
    steps
        .push(json!({ "date": "2025-01-01", "by": ["gov", "bank", "ins", "re"], "tx": programme }));
    steps.extend(policy(0, "2025-01-01"));
    steps.extend(policy(1, "2025-01-16"));
    steps.extend(policy(2, "2025-02-01"));
    steps.extend(policy(3, "2025-02-15"));
    let mut later: Vec<(String, Value)> = Vec::new();
    later.extend(claim(
        0,
        "2025-05-02",
        "2025-05-22",
        "2025-05-29",
        "2025-07-29",
    ));
    later.extend(claim(
        1,
        "2025-05-17",
        "2025-06-06",
        "2025-06-13",
        "2025-08-13",
    ));
    later.extend(claim(
        2,
        "2025-05-30",
        "2025-06-19",
        "2025-06-26",
        "2025-08-26",
    ));
    later.extend(claim(
        3,
        "2025-06-13",
        "2025-07-03",
        "2025-07-10",
        "2025-09-10",
    ));
    later.sort_by(|a, b| a.0.cmp(&b.0));
    steps.extend(later.into_iter().map(|(_, s)| s));
    let scenario = json!({
        "orgs": [
            { "id": "gov", "kind": "Government" }, { "id": "bank", "kind": "Bank" },
            { "id": "ins", "kind": "Insurer" }, { "id": "re", "kind": "Reinsurer" },
            { "id": "reg", "kind": "Regulator" }
        ],
        "steps": steps,
    });
    let outcome = contracts::scenario::run(&scenario.to_string()).expect("a scenario");
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    let claims = outcome.result["claims"].as_object().unwrap();
    assert_eq!(claims.len(), 4);
    let sum = |field: &str| -> u64 {
        claims
            .values()
            .map(|c| {
                c[field]
                    .as_u64()
                    .unwrap_or_else(|| c["recovery"][field].as_u64().unwrap())
            })
            .sum()
    };
    let expected = [
        sum("bank_retained_fen") - sum("bank_fen"),
        sum("insurer_retained_fen") - sum("insurer_fen"),
        sum("fund_fen")
            - claims
                .values()
                .map(|c| c["recovery"]["fund_fen"].as_u64().unwrap())
                .sum::<u64>(),
        sum("reinsurer_fen")
            - claims
                .values()
                .map(|c| c["recovery"]["reinsurer_fen"].as_u64().unwrap())
                .sum::<u64>(),
    ];
    assert_eq!(r.losses, expected, "each party's loss after recoveries");
    assert_eq!(r.fund_shortfall_fen, sum("fund_shortfall_fen"));
    let fund = &outcome.result["funds"]["fund"];
    assert_eq!(
        r.subsidies_by_year,
        vec![fund["subsidies_paid_fen"].as_u64().unwrap()]
    );
    assert_eq!(
        r.compensation_by_year,
        vec![fund["compensation_paid_fen"].as_u64().unwrap()]
    );
    assert_eq!(
        r.premium_fen,
        outcome.result["programmes"]["prog"]["premium_written_fen"]
            .as_u64()
            .unwrap()
    );
    // The fund's cap (1,500,000 yuan a year) runs out: a shortfall the insurer keeps.
    assert!(r.fund_shortfall_fen > 0 && r.cap_bound_by_year == vec![true]);
    // And the report's figures are those of that one story.
    assert_eq!(
        out.report["losses"]["insurer"]["p99_fen"],
        json!(expected[1])
    );
    assert_eq!(out.report["losses"]["fund"]["mean_fen"], json!(expected[2]));
}

/// A path of the worked model, exported as a scenario and replayed by `scenario run`,
/// ends where the stress path ended: same claims, same refusals, same fund.
#[test]
fn an_exported_path_replays_to_the_same_figures() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../network-configs/stress/ningbo-style.json"
    ))
    .unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    set_field(&mut doc, "portfolio.originations_per_month", json!(12)).unwrap();
    let m = model(&doc);
    let base = Base::new(&m, contracts::upgrade::NEWEST).unwrap();
    let draws = draw::draw_path(&m, 3, 7);
    let (result, steps) = path::run_path(&m, &base, &draws, true);
    let steps = steps.unwrap();
    assert!(result.claims_approved > 0, "the path has claims to compare");
    let scenario = path::scenario_json(&base, &steps, "path 7".into());
    let outcome = contracts::scenario::run(&scenario.to_string()).unwrap();
    assert_eq!(
        outcome.rejected.len() as u64,
        result.refused.values().sum::<u64>()
    );
    assert_eq!(outcome.steps, result.txs + base_steps(&m));
    let claims = outcome.result["claims"].as_object().unwrap();
    let approved = claims
        .values()
        .filter(|c| c["status"] == "Paid" || c["status"] == "Approved")
        .count() as u64;
    assert_eq!(approved, result.claims_approved);
    let insurer: u64 = claims
        .values()
        .filter_map(|c| {
            c["insurer_retained_fen"]
                .as_u64()
                .map(|f| f - c["recovery"]["insurer_fen"].as_u64().unwrap())
        })
        .sum();
    assert_eq!(insurer, result.losses[1]);
    let fund = &outcome.result["funds"]["fund-nb"];
    assert_eq!(
        fund["compensation_paid_fen"].as_u64().unwrap(),
        result.compensation_by_year.iter().sum::<u64>()
    );
    assert_eq!(
        fund["subsidies_paid_fen"].as_u64().unwrap(),
        result.subsidies_by_year.iter().sum::<u64>()
    );
}

/// Set-up steps of a model: filings, the fund, its opening balance, the programme.
fn base_steps(m: &Model) -> u64 {
    m.filings.len() as u64 + 1 + u64::from(!m.fund.opening_balance_fen.is_zero()) + 1
}

#[test]
fn the_same_seed_gives_the_same_report_on_any_number_of_threads() {
    let mut doc = plain_model();
    set_field(&mut doc, "portfolio.originations_per_month", json!(20)).unwrap();
    set_field(&mut doc, "portfolio.correlation_bps", json!(1500)).unwrap();
    let one = run(&doc, 24, 9, 1);
    let two = run(&doc, 24, 9, 2);
    assert_eq!(one.report.to_string(), two.report.to_string());
    let other = run(&doc, 24, 10, 2);
    assert_ne!(one.report.to_string(), other.report.to_string());
}

#[test]
fn moving_the_split_moves_each_partys_loss_on_the_same_paths() {
    let mut doc = plain_model();
    set_field(&mut doc, "portfolio.originations_per_month", json!(20)).unwrap();
    let base = run(&doc, 30, 4, 2);
    set_field(&mut doc, "programme.split.bank_bps", json!(2000)).unwrap();
    set_field(&mut doc, "programme.split.insurer_bps", json!(8000)).unwrap();
    let moved = run(&doc, 30, 4, 2);
    let mean =
        |r: &super::Run, party: &str| r.report["losses"][party]["mean_fen"].as_u64().unwrap();
    assert!(mean(&moved, "banks") < mean(&base, "banks"));
    assert!(mean(&moved, "insurer") > mean(&base, "insurer"));
    // The same defaults: the total is unchanged.
    let total = |r: &super::Run| {
        r.results
            .iter()
            .map(|p| p.losses.iter().sum::<u64>())
            .sum::<u64>()
    };
    assert_eq!(total(&base), total(&moved));
}

#[test]
fn a_model_the_programme_would_refuse_is_refused_with_the_rulebooks_code() {
    let mut doc = plain_model();
    set_field(
        &mut doc,
        "portfolio.segments.0.premium_rate_bps",
        json!(250),
    )
    .unwrap();
    let error = Base::new(&model(&doc), contracts::upgrade::NEWEST)
        .unwrap_err()
        .to_string();
    assert!(error.contains("RateNotFiled"), "{error}");
    let mut doc = plain_model();
    set_field(&mut doc, "programme.split.fund_bps", json!(1)).unwrap();
    let error = Base::new(&model(&doc), contracts::upgrade::NEWEST)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("CreateProgramme") && error.contains("SharesMustSumTo10000"),
        "{error}"
    );
    let mut doc = plain_model();
    set_field(&mut doc, "portfolio.correlation_bps", json!(10000)).unwrap();
    assert!(Model::parse(&doc.to_string()).is_err());
    assert!(set_field(&mut doc, "programme.nothing.here", json!(1)).is_err());
}

#[test]
fn the_worked_model_runs_and_its_charts_are_drawn() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../network-configs/stress/ningbo-style.json"
    ))
    .unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    set_field(&mut doc, "portfolio.originations_per_month", json!(10)).unwrap();
    let out = run(&doc, 6, 2, 2);
    for r in &out.results {
        let codes: Vec<&&str> = r.refused.keys().collect();
        assert!(
            codes.iter().all(|c| **c == "ProgrammeNotActive"),
            "only policies after a suspension are refused: {codes:?}"
        );
        assert_eq!(r.loss_ratio_by_month.len(), 36);
    }
    let m = model(&doc);
    for chart in [
        super::svg::fund_outlay(&m, &out.results),
        super::svg::loss_ratio_fan(&out.report),
        super::svg::losses(&out.results),
    ] {
        assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
        assert!(chart.matches("<rect").count() + chart.matches("<polygon").count() > 2);
    }
    let rows = super::report::rows(&[&out.report]);
    assert!(rows
        .iter()
        .any(|(label, _)| label.starts_with("fund cap binds")));
}

#[test]
fn numbered_ids_are_the_prefix_and_the_decimal_number() {
    for n in [0, 7, 10, 1008, 99_999, u32::MAX] {
        assert_eq!(path::numbered('l', n).as_str(), format!("l{n}"));
    }
}

/// R13: on whole paths of the worked model (issues, repayments, defaults, claims paid and
/// recovered), the retained liabilities the rulebook keeps moving are the ones a rebuild
/// from the policies and loans gives, at the end of every path.
#[test]
fn the_kept_retained_liabilities_equal_a_rebuild_on_whole_paths() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../network-configs/stress/ningbo-style.json"
    ))
    .unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    set_field(&mut doc, "portfolio.originations_per_month", json!(12)).unwrap();
    let m = model(&doc);
    let base = Base::new(&m, contracts::upgrade::OBLIGOR_LIMIT).unwrap();
    let mut claimed = 0;
    for n in 0..6 {
        let draws = draw::draw_path(&m, 5, n);
        let (result, steps) = path::run_path(&m, &base, &draws, true);
        claimed += result.claims_approved;
        let scenario = path::scenario_json(&base, &steps.unwrap(), format!("path {n}"));
        assert_eq!(
            scenario["protocol_version"],
            contracts::upgrade::OBLIGOR_LIMIT
        );
        let outcome = contracts::scenario::run(&scenario.to_string()).unwrap();
        let kept: Vec<(Vec<u8>, Option<Vec<u8>>)> = outcome
            .store
            .scan_prefix(b"oblig/")
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        let rebuilt: Vec<(Vec<u8>, Option<Vec<u8>>)> = contracts::obligor::rebuild(&outcome.store)
            .into_entries()
            .collect();
        assert!(!kept.is_empty(), "path {n} holds active loans");
        assert_eq!(kept, rebuilt, "path {n}");
    }
    assert!(
        claimed > 0,
        "the paths claim loans, which then count for nothing"
    );
}
