//! The stress report: statistics over the paths, as one JSON document (`--json`), a table
//! for the terminal (one column per design, so designs compare side by side), and
//! Markdown with SVG charts (`--out`).
//!
//! Amounts are whole fen, computed with integers from the paths' records; percentiles
//! are nearest-rank (p99 of 1,000 paths is the 990th smallest), expected shortfall is
//! the mean of the worst 1 % (at least one path). Probabilities and ratios are the only
//! floats, derived from those integers, so the same paths give the same bytes.

use ledger::action::FundLayer;
use serde_json::{json, Map, Value};

use super::model::Model;
use super::path::PathResult;

pub const PARTIES: [&str; 4] = ["banks", "insurer", "fund", "reinsurer"];

/// Nearest-rank percentile of sorted values (`q` in percent).
pub fn percentile(sorted: &[u64], q: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    let rank = (q * n).div_ceil(100).max(1);
    sorted[(rank - 1) as usize]
}

fn mean(values: &[u64]) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let sum: u128 = values.iter().map(|v| u128::from(*v)).sum();
    let n = values.len() as u128;
    ((sum + n / 2) / n) as u64
}

/// Standard error of the mean, in fen.
fn standard_error(values: &[u64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let sum: u128 = values.iter().map(|v| u128::from(*v)).sum();
    let m = sum as f64 / n as f64;
    let var = values
        .iter()
        .map(|v| (*v as f64 - m) * (*v as f64 - m))
        .sum::<f64>()
        / (n - 1) as f64;
    (var / n as f64).sqrt()
}

/// Mean of the worst 1 % of the values (at least one).
fn expected_shortfall(sorted: &[u64]) -> u64 {
    let n = sorted.len();
    let tail = n.div_ceil(100).max(1).min(n);
    mean(&sorted[n - tail..])
}

/// mean, standard error, p50, p95, p99, expected shortfall at 99 %, worst.
pub fn distribution(values: &[u64]) -> Value {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    json!({
        "mean_fen": mean(&sorted),
        "standard_error_fen": round(standard_error(&sorted), 0),
        "p50_fen": percentile(&sorted, 50),
        "p95_fen": percentile(&sorted, 95),
        "p99_fen": percentile(&sorted, 99),
        "es99_fen": expected_shortfall(&sorted),
        "max_fen": sorted.last().copied().unwrap_or(0),
    })
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn share(count: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        round(count as f64 / of as f64, 4)
    }
}

/// The report of one design's paths.
pub fn build(model: &Model, results: &[PathResult], seed: u64, protocol_version: u32) -> Value {
    let n = results.len();
    let col = |f: &dyn Fn(&PathResult) -> u64| column(results, f);
    let mut losses = Map::new();
    for (i, party) in PARTIES.iter().enumerate() {
        losses.insert((*party).into(), distribution(&col(&|r| r.losses[i])));
    }
    let cap_binds = results
        .iter()
        .filter(|r| r.cap_bound_by_year.iter().any(|b| *b))
        .count();
    let principal = mean(&col(&|r| r.principal_fen));
    let premium = mean(&col(&|r| r.premium_fen));
    let fund_money = mean(&col(&|r| {
        let paid: u64 =
            r.subsidies_by_year.iter().sum::<u64>() + r.compensation_by_year.iter().sum::<u64>();
        paid.saturating_sub(r.fund_recovered_fen)
    }));
    let credit_per_yuan = if fund_money == 0 {
        Value::Null
    } else {
        json!(round(principal as f64 / fund_money as f64, 2))
    };
    let t = model.programme.triggers;
    let warn = |threshold: u64| {
        u64::try_from(contracts::arith::bps_of(threshold, t.warn_at_bps)).unwrap_or(u64::MAX)
    };
    let mut refused: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for r in results {
        for (code, count) in &r.refused {
            *refused.entry(code).or_default() += count;
        }
    }

    json!({
        "description": model.description,
        "paths": n,
        "seed": seed,
        "protocol_version": protocol_version,
        "start": model.start.to_string(),
        "end": model.end().to_string(),
        "horizon_months": model.horizon_months,
        "portfolio": {
            "policies_mean": round(col(&|r| r.policies).iter().sum::<u64>() as f64 / n.max(1) as f64, 1),
            "principal_mean_fen": principal,
            "premium_mean_fen": premium,
            "claims_approved_mean": round(col(&|r| r.claims_approved).iter().sum::<u64>() as f64 / n.max(1) as f64, 2),
            "claims_rejected_mean": round(col(&|r| r.claims_rejected).iter().sum::<u64>() as f64 / n.max(1) as f64, 2),
            "rejected_loss_mean_fen": mean(&col(&|r| r.rejected_loss_fen)),
        },
        "losses": losses,
        "fund": {
            "annual_cap_fen": model.fund.annual_cap_fen.0,
            "cap_binds_probability": share(cap_binds, n),
            "shortfall_to_insurer": distribution(&col(&|r| r.fund_shortfall_fen)),
            "by_year": fund_by_year(model, results),
            "credit_per_yuan": credit_per_yuan,
        },
        "suspension": suspension(results),
        "loss_ratio": {
            "warn_bps": warn(t.suspend_loss_ratio_bps),
            "suspend_bps": t.suspend_loss_ratio_bps,
            "by_month": loss_ratio_fan(model, results),
        },
        "break_even": break_even(model, results, premium),
        "refused": refused,
    })
}

/// One figure of every path.
fn column(results: &[PathResult], f: &dyn Fn(&PathResult) -> u64) -> Vec<u64> {
    results.iter().map(f).collect()
}

/// The fund's payments in each year of the horizon: means, tail percentiles, and how
/// often its annual cap binds.
fn fund_by_year(model: &Model, results: &[PathResult]) -> Vec<Value> {
    let n = results.len();
    let col = |f: &dyn Fn(&PathResult) -> u64| column(results, f);
    let first_year = model.start.year();
    let years = results.first().map_or(0, |r| r.fund_paid_by_year.len());
    (0..years)
        .map(|y| {
            let mut paid = col(&|r| r.fund_paid_by_year[y]);
            paid.sort_unstable();
            json!({
                "year": first_year + y as i32,
                "subsidies_mean_fen": mean(&col(&|r| r.subsidies_by_year[y])),
                "compensation_mean_fen": mean(&col(&|r| r.compensation_by_year[y])),
                "paid_mean_fen": mean(&paid),
                "paid_p95_fen": percentile(&paid, 95),
                "paid_p99_fen": percentile(&paid, 99),
                "cap_binds_probability": share(results.iter().filter(|r| r.cap_bound_by_year[y]).count(), n),
            })
        })
        .collect()
}

/// How often the programme is suspended, and in which month first.
fn suspension(results: &[PathResult]) -> Value {
    let mut first: Vec<u64> = results.iter().filter_map(|r| r.suspended_month).collect();
    first.sort_unstable();
    json!({
        "probability": share(first.len(), results.len()),
        "first_month_earliest": first.first(),
        "first_month_p50": (!first.is_empty()).then(|| percentile(&first, 50)),
        "first_month_mean": (!first.is_empty()).then(|| round(first.iter().sum::<u64>() as f64 / first.len() as f64, 1)),
    })
}

/// The loss ratio's fan over the month ends: its percentiles at each.
fn loss_ratio_fan(model: &Model, results: &[PathResult]) -> Vec<Value> {
    let months = results.first().map_or(0, |r| r.loss_ratio_by_month.len());
    (0..months)
        .map(|m| {
            let mut at = column(results, &|r| r.loss_ratio_by_month[m]);
            at.sort_unstable();
            let as_of = model
                .start
                .checked_add_months(m as u64)
                .map(contracts::report::month_end)
                .map(|d| d.min(model.end()).to_string());
            json!({
                "month": m,
                "as_of": as_of,
                "p5_bps": percentile(&at, 5),
                "p25_bps": percentile(&at, 25),
                "p50_bps": percentile(&at, 50),
                "p75_bps": percentile(&at, 75),
                "p95_bps": percentile(&at, 95),
            })
        })
        .collect()
}

/// Break-even: the factor on every segment's premium rate at which the insurer's mean
/// retained loss equals its mean premium (`premium`) net of the reinsurer's quota, the
/// losses held as they are at the model's rates.
fn break_even(model: &Model, results: &[PathResult], premium: u64) -> Value {
    let retained = mean(&column(results, &|r| r.losses[1]));
    let net_premium = u128::from(premium)
        * u128::from(10_000 - model.programme.reinsurance_quota_bps.min(10_000))
        / 10_000;
    let factor = (net_premium > 0).then(|| retained as f64 / net_premium as f64);
    let segments: Vec<Value> = model
        .portfolio
        .segments
        .iter()
        .map(|s| {
            json!({
                "segment": s.name,
                "premium_rate_bps": s.premium_rate_bps,
                "break_even_rate_bps": factor.map(|f| round(s.premium_rate_bps as f64 * f, 1)),
            })
        })
        .collect();
    json!({
        "insurer_retained_mean_fen": retained,
        "net_premium_mean_fen": net_premium as u64,
        "factor": factor.map(|f| round(f, 4)),
        "segments": segments,
    })
}

fn yuan(fen: &Value) -> String {
    match fen.as_u64() {
        Some(f) => {
            let y = f / 100;
            let mut digits = y.to_string();
            let mut i = digits.len() as isize - 3;
            while i > 0 {
                digits.insert(i as usize, ',');
                i -= 3;
            }
            digits
        }
        None => "–".into(),
    }
}

fn percent(x: &Value) -> String {
    match x.as_f64() {
        Some(p) => format!("{:.1}%", p * 100.0),
        None => "–".into(),
    }
}

fn plain(x: &Value) -> String {
    match x {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The rows of the side-by-side table: (label, one cell per report). One `row` call per
/// line of the table, in its order: the function is as long as the table.
pub fn rows(reports: &[&Value]) -> Vec<(String, Vec<String>)> {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, cell: &dyn Fn(&Value) -> String| {
        rows.push((label.to_string(), reports.iter().map(|r| cell(r)).collect()));
    };
    row("policies per path (mean)", &|r| {
        plain(&r["portfolio"]["policies_mean"])
    });
    row("credit extended (mean, yuan)", &|r| {
        yuan(&r["portfolio"]["principal_mean_fen"])
    });
    row("premium written (mean, yuan)", &|r| {
        yuan(&r["portfolio"]["premium_mean_fen"])
    });
    row("claims approved / rejected (mean)", &|r| {
        format!(
            "{} / {}",
            plain(&r["portfolio"]["claims_approved_mean"]),
            plain(&r["portfolio"]["claims_rejected_mean"])
        )
    });
    for party in PARTIES {
        for (stat, key) in [
            ("mean", "mean_fen"),
            ("p50", "p50_fen"),
            ("p95", "p95_fen"),
            ("p99", "p99_fen"),
            ("ES 99%", "es99_fen"),
        ] {
            let label = format!("{party} loss {stat} (yuan)");
            row(&label, &|r| yuan(&r["losses"][party][key]));
        }
    }
    row("fund cap binds (share of paths)", &|r| {
        percent(&r["fund"]["cap_binds_probability"])
    });
    row("shortfall left with insurer (mean, yuan)", &|r| {
        yuan(&r["fund"]["shortfall_to_insurer"]["mean_fen"])
    });
    let years = reports
        .iter()
        .map(|r| r["fund"]["by_year"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    for y in 0..years {
        let year = reports
            .iter()
            .find_map(|r| r["fund"]["by_year"][y]["year"].as_i64())
            .unwrap_or(0);
        row(
            &format!("fund {year}: subsidy / compensation (mean, yuan)"),
            &|r| {
                let at = &r["fund"]["by_year"][y];
                format!(
                    "{} / {}",
                    yuan(&at["subsidies_mean_fen"]),
                    yuan(&at["compensation_mean_fen"])
                )
            },
        );
        row(&format!("fund {year}: paid p99 / cap (yuan)"), &|r| {
            format!(
                "{} / {}",
                yuan(&r["fund"]["by_year"][y]["paid_p99_fen"]),
                yuan(&r["fund"]["annual_cap_fen"])
            )
        });
    }
    row("credit per yuan of fund money", &|r| {
        plain(&r["fund"]["credit_per_yuan"])
    });
    row("suspended (share of paths)", &|r| {
        percent(&r["suspension"]["probability"])
    });
    row("first suspension: earliest / median month", &|r| {
        format!(
            "{} / {}",
            plain(&r["suspension"]["first_month_earliest"]),
            plain(&r["suspension"]["first_month_p50"])
        )
    });
    row("loss ratio at the end: p50 / p95 (bps)", &|r| {
        let last = r["loss_ratio"]["by_month"]
            .as_array()
            .and_then(|m| m.last())
            .cloned()
            .unwrap_or(Value::Null);
        format!("{} / {}", plain(&last["p50_bps"]), plain(&last["p95_bps"]))
    });
    row("insurer break-even premium factor", &|r| {
        plain(&r["break_even"]["factor"])
    });
    let segments = reports
        .iter()
        .map(|r| r["break_even"]["segments"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    for s in 0..segments {
        let name = reports
            .iter()
            .find_map(|r| r["break_even"]["segments"][s]["segment"].as_str())
            .unwrap_or("")
            .to_string();
        row(&format!("break-even premium rate, {name} (bps)"), &|r| {
            let at = &r["break_even"]["segments"][s];
            format!(
                "{} (at {})",
                plain(&at["break_even_rate_bps"]),
                plain(&at["premium_rate_bps"])
            )
        });
    }
    row("refused transactions", &|r| {
        let refused = r["refused"].as_object().cloned().unwrap_or_default();
        if refused.is_empty() {
            "none".into()
        } else {
            refused
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    });
    rows
}

/// A plain-text table: labels, then one right-aligned column per design.
pub fn table(headers: &[String], rows: &[(String, Vec<String>)]) -> String {
    let label_width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|(_, cells)| cells[i].chars().count())
                .chain([headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{:label_width$}", "");
    for (h, w) in headers.iter().zip(&widths) {
        out.push_str(&format!("  {h:>w$}"));
    }
    out.push('\n');
    for (label, cells) in rows {
        out.push_str(&format!("{label:label_width$}"));
        for (c, w) in cells.iter().zip(&widths) {
            out.push_str(&format!("  {c:>w$}"));
        }
        out.push('\n');
    }
    out
}

/// The same table in Markdown.
pub fn markdown_table(headers: &[String], rows: &[(String, Vec<String>)]) -> String {
    let mut out = String::from("| |");
    for h in headers {
        out.push_str(&format!(" {h} |"));
    }
    out.push_str("\n|---|");
    for _ in headers {
        out.push_str("---:|");
    }
    out.push('\n');
    for (label, cells) in rows {
        out.push_str(&format!("| {label} |"));
        for c in cells {
            out.push_str(&format!(" {c} |"));
        }
        out.push('\n');
    }
    out
}

/// What the model's fund layer is, in words, for the report's heading.
pub fn fund_layer_words(model: &Model) -> String {
    match model.programme.fund_layer {
        FundLayer::None => "no fund layer".into(),
        FundLayer::ExcessOfLossRatio {
            threshold_bps,
            share_bps,
        } => format!(
            "fund pays {}% of insurer claims above a {}% loss ratio",
            share_bps / 100,
            threshold_bps / 100
        ),
        FundLayer::InsurerCap { cap_bps } => {
            format!("insurer's claims capped at {}% of premium", cap_bps / 100)
        }
    }
}
