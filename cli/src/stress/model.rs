//! The stress model (docs/STRESS.md): a programme exactly as `CreateProgramme`, its fund
//! and rate filings, a horizon, and the portfolio whose defaults are drawn.
//!
//! Reading a model checks its shape and its own ranges here; whether the programme, the
//! filings and each segment's loans are acceptable is asked of the rulebook itself, on
//! the set-up ledger ([`super::path::Base::new`]), so a model the network would refuse
//! is refused with the rulebook's code before a path runs.

use anyhow::{bail, ensure, Context};
use ledger::action::CreateProgramme;
use ledger::{Bps, Date, Fen, Id};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A model file is at most this long.
pub const MODEL_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// The longest horizon a model may ask for: 50 years.
pub const HORIZON_MONTHS_MAX: u64 = 600;
/// At most this many loans are originated in a month.
pub const ORIGINATIONS_PER_MONTH_MAX: u64 = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default)]
    pub description: Option<String>,
    /// The day the programme, its fund and filings are set up and lending starts.
    pub start: Date,
    /// How many months the paths run from `start` (claims and recoveries that would fall
    /// later are not seen).
    pub horizon_months: u64,
    /// The regulator that co-signs the rate filings and reviews the programme monthly.
    #[serde(default = "default_regulator")]
    pub regulator: Id,
    /// Exactly the `CreateProgramme` transaction, without its `type`.
    pub programme: CreateProgramme,
    pub fund: FundModel,
    /// The insurer's rate filings for the programme's product (R3).
    pub filings: Vec<Filing>,
    pub portfolio: Portfolio,
    /// Changes to the default probabilities in given years of the horizon.
    #[serde(default)]
    pub shocks: Vec<Shock>,
}

fn default_regulator() -> Id {
    Id::new("regulator").expect("a valid id")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundModel {
    pub annual_cap_fen: Fen,
    /// Paid in on the start date (a top-up); 0 for none.
    pub opening_balance_fen: Fen,
    #[serde(default)]
    pub top_ups: Vec<TopUp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    /// Months after the start (0 is the start date itself).
    pub month: u64,
    pub amount_fen: Fen,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filing {
    pub rates_bps: Vec<Bps>,
    pub valid_from: Date,
    pub valid_to: Date,
    pub filing_ref: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portfolio {
    /// Loans applied for each month; each is a policy and then its loan.
    pub originations_per_month: u64,
    /// For how many months from the start loans are originated (default: until the
    /// programme's period ends, within the horizon).
    #[serde(default)]
    pub origination_months: Option<u64>,
    pub segments: Vec<Segment>,
    /// The one-factor (Vasicek) asset correlation ρ, in bps: the systematic factor is
    /// drawn once per year of the horizon and shared by every loan.
    pub correlation_bps: Bps,
    #[serde(default)]
    pub repayment: Repayment,
    pub recovery: RecoveryModel,
    #[serde(default)]
    pub claims: ClaimsBehaviour,
    /// Every month end the regulator submits `ReviewProgramme` (R5.1), as a supervised
    /// programme would; the rulebook also reviews after every approved claim.
    #[serde(default = "yes")]
    pub monthly_review: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub name: String,
    /// The segment's share of originations, relative to the other segments' weights.
    pub weight: u64,
    pub principal_fen: Dist,
    pub term_months: Dist,
    pub loan_rate_bps: Bps,
    pub premium_rate_bps: Bps,
    /// The probability that a loan defaults within a year, in bps (10000: every loan).
    pub annual_pd_bps: Bps,
}

/// A whole-number distribution: a fixed value, uniform between two bounds in steps, or a
/// weighted choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dist {
    Fixed(u64),
    Uniform {
        min: u64,
        max: u64,
        #[serde(default = "one")]
        step: u64,
    },
    Choice {
        values: Vec<u64>,
        #[serde(default)]
        weights: Option<Vec<u64>>,
    },
}

fn one() -> u64 {
    1
}

impl Dist {
    /// The smallest and largest value it can give.
    pub fn bounds(&self) -> (u64, u64) {
        match self {
            Dist::Fixed(v) => (*v, *v),
            Dist::Uniform { min, max, step } => (*min, min + (max - min) / step * step),
            Dist::Choice { values, .. } => (
                values.iter().copied().min().unwrap_or(0),
                values.iter().copied().max().unwrap_or(0),
            ),
        }
    }

    fn check(&self, what: &str) -> anyhow::Result<()> {
        match self {
            Dist::Fixed(_) => {}
            Dist::Uniform { min, max, step } => {
                ensure!(min <= max, "{what}: min {min} is above max {max}");
                ensure!(*step > 0, "{what}: step must be at least 1");
            }
            Dist::Choice { values, weights } => {
                ensure!(!values.is_empty(), "{what}: no values to choose from");
                if let Some(w) = weights {
                    ensure!(
                        w.len() == values.len(),
                        "{what}: {} weights for {} values",
                        w.len(),
                        values.len()
                    );
                    ensure!(w.iter().any(|w| *w > 0), "{what}: every weight is 0");
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repayment {
    /// Share of loans, in bps, that pay every instalment `late_days` after it is due
    /// (they lose an on-repayment subsidy and count as overdue meanwhile).
    #[serde(default)]
    pub late_bps: Bps,
    #[serde(default = "default_late_days")]
    pub late_days: u64,
    /// Share of loans, in bps, that repay in full at an instalment drawn uniformly
    /// before maturity.
    #[serde(default)]
    pub prepaid_bps: Bps,
}

fn default_late_days() -> u64 {
    10
}

impl Default for Repayment {
    fn default() -> Self {
        Repayment {
            late_bps: 0,
            late_days: default_late_days(),
            prepaid_bps: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryModel {
    /// Share of a paid claim's loss recovered, in bps.
    pub rate_bps: Bps,
    /// Months from the claim's payment to the recovery.
    pub lag_months: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsBehaviour {
    /// Days after a claim becomes eligible (R7.1) that the bank files it.
    #[serde(default)]
    pub file_after_days: u64,
    /// Days after filing that the insurer decides.
    #[serde(default = "default_decide_after")]
    pub decide_after_days: u64,
    /// Days after approval that the insurer confirms payment.
    #[serde(default = "default_pay_after")]
    pub pay_after_days: u64,
    /// Share of claims, in bps, that the insurer rejects (`NotCovered`): the bank keeps
    /// the whole loss.
    #[serde(default)]
    pub reject_bps: Bps,
}

fn default_decide_after() -> u64 {
    20
}

fn default_pay_after() -> u64 {
    7
}

impl Default for ClaimsBehaviour {
    fn default() -> Self {
        ClaimsBehaviour {
            file_after_days: 0,
            decide_after_days: default_decide_after(),
            pay_after_days: default_pay_after(),
            reject_bps: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shock {
    /// The year of the horizon it applies to, from 1 (the first twelve months).
    pub year: u64,
    /// The factor on every segment's default probability, in bps (20000: doubled).
    pub pd_multiplier_bps: u64,
    /// Only this segment (by name); all segments when absent.
    #[serde(default)]
    pub segment: Option<String>,
}

impl Model {
    /// Parse a model's text and check what is the model's own (ranges, names, shares);
    /// the rulebook checks the rest when the ledger is set up.
    pub fn parse(text: &str) -> anyhow::Result<Model> {
        let model: Model = serde_json::from_str(text).context("not a stress model")?;
        model.check()?;
        Ok(model)
    }

    fn check(&self) -> anyhow::Result<()> {
        ensure!(
            (1..=HORIZON_MONTHS_MAX).contains(&self.horizon_months),
            "horizon_months must be 1 to {HORIZON_MONTHS_MAX}"
        );
        self.start
            .checked_add_months(self.horizon_months + 1200)
            .context("the horizon (and the loans' terms) must end before 9999")?;
        let p = &self.portfolio;
        ensure!(
            (1..=ORIGINATIONS_PER_MONTH_MAX).contains(&p.originations_per_month),
            "portfolio.originations_per_month must be 1 to {ORIGINATIONS_PER_MONTH_MAX}"
        );
        ensure!(!p.segments.is_empty(), "portfolio.segments is empty");
        ensure!(
            p.segments.iter().any(|s| s.weight > 0),
            "every segment's weight is 0"
        );
        for (i, s) in p.segments.iter().enumerate() {
            let what = format!("segment {:?}", s.name);
            ensure!(!s.name.is_empty(), "segment {} has no name", i + 1);
            ensure!(
                p.segments[..i].iter().all(|o| o.name != s.name),
                "{what} is listed twice"
            );
            ensure!(
                s.annual_pd_bps <= 10_000,
                "{what}: annual_pd_bps above 10000"
            );
            s.principal_fen.check(&format!("{what} principal_fen"))?;
            s.term_months.check(&format!("{what} term_months"))?;
            let (low, high) = s.term_months.bounds();
            ensure!(
                low >= 1 && high <= 1200,
                "{what}: term_months must be 1 to 1200"
            );
            ensure!(
                s.principal_fen.bounds().0 >= 1,
                "{what}: principal_fen must be at least 1"
            );
        }
        ensure!(
            p.correlation_bps < 10_000,
            "portfolio.correlation_bps must be below 10000"
        );
        ensure!(
            p.repayment.late_bps + p.repayment.prepaid_bps <= 10_000,
            "portfolio.repayment: late_bps + prepaid_bps above 10000"
        );
        ensure!(
            (1..=27).contains(&p.repayment.late_days),
            "portfolio.repayment.late_days must be 1 to 27 (a payment before the next instalment)"
        );
        ensure!(
            p.recovery.rate_bps <= 10_000,
            "portfolio.recovery.rate_bps above 10000"
        );
        ensure!(
            p.claims.reject_bps <= 10_000,
            "portfolio.claims.reject_bps above 10000"
        );
        for (what, days) in [
            ("file_after_days", p.claims.file_after_days),
            ("decide_after_days", p.claims.decide_after_days),
            ("pay_after_days", p.claims.pay_after_days),
        ] {
            ensure!(days <= 3650, "portfolio.claims.{what} above 3650");
        }
        ensure!(
            p.recovery.lag_months <= 600,
            "portfolio.recovery.lag_months above 600"
        );
        for top_up in &self.fund.top_ups {
            ensure!(
                top_up.month < self.horizon_months,
                "fund.top_ups: month {} is beyond the horizon",
                top_up.month
            );
        }
        for shock in &self.shocks {
            ensure!(
                shock.year >= 1 && shock.year <= self.years(),
                "shocks: year {} is outside the horizon (1 to {})",
                shock.year,
                self.years()
            );
            if let Some(name) = &shock.segment {
                ensure!(
                    p.segments.iter().any(|s| &s.name == name),
                    "shocks: no segment {name:?}"
                );
            }
        }
        Ok(())
    }

    /// Years of the horizon (a part-year counts).
    pub fn years(&self) -> u64 {
        self.horizon_months.div_ceil(12)
    }

    /// The last day the paths run.
    pub fn end(&self) -> Date {
        let after = self
            .start
            .checked_add_months(self.horizon_months)
            .expect("checked when parsed");
        Date::from_days(after.days_since_epoch() - 1).expect("a day before a date")
    }

    /// Months in which loans are originated.
    pub fn origination_months(&self) -> u64 {
        if let Some(months) = self.portfolio.origination_months {
            return months.min(self.horizon_months);
        }
        let mut months = 0;
        while months < self.horizon_months {
            match self.start.checked_add_months(months) {
                Some(d) if d <= self.programme.period_end => months += 1,
                _ => break,
            }
        }
        months
    }

    /// The default-probability factor (bps) for a segment in a year of the horizon (0-based).
    pub fn shock_bps(&self, segment: &str, year: u64) -> u64 {
        self.shocks
            .iter()
            .filter(|s| s.year == year + 1 && s.segment.as_deref().is_none_or(|n| n == segment))
            .fold(10_000u64, |acc, s| {
                u64::try_from(u128::from(acc) * u128::from(s.pd_multiplier_bps) / 10_000)
                    .unwrap_or(u64::MAX)
            })
    }
}

/// Set a field of a model's JSON by a dotted path (`programme.split.bank_bps`), for
/// `--vary`. Every step but the last must exist.
pub fn set_field(doc: &mut Value, path: &str, value: Value) -> anyhow::Result<()> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        bail!("an empty field path");
    };
    let mut at = doc;
    for (i, part) in parts.iter().enumerate() {
        at = match at {
            Value::Object(map) => map.get_mut(*part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .with_context(|| format!("--vary {path}: the model has no {}", parts[..=i].join(".")))?;
    }
    match at {
        Value::Object(map) => {
            map.insert(last.to_string(), value);
        }
        Value::Array(items) => {
            let slot = last
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .with_context(|| format!("--vary {path}: no item {last}"))?;
            *slot = value;
        }
        _ => bail!("--vary {path}: {} is not an object", parts.join(".")),
    }
    Ok(())
}
