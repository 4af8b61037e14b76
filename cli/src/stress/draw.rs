//! The random side of a stress path, kept out of the rulebook: a seeded generator, the
//! normal distribution, and the plan of every loan a path originates (segment, amount,
//! term, repayment behaviour, the instalment at which it defaults, whether its claim is
//! rejected).
//!
//! Reproducible everywhere: the generator is xoshiro256** seeded by SplitMix64 from the
//! run's seed and the path's number, so a path's draws do not depend on how many threads
//! run or in which order; and every floating-point step is an IEEE 754 operation that
//! rounds the same on every machine (+, −, ×, ÷, √). `exp` and `ln` are computed here
//! rather than by the platform's maths library, whose last bits may differ.

use super::model::{Dist, Model};
use ledger::Date;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256StarStar;

/// xoshiro256** (`rand_xoshiro`): fast, 256 bits of state, passes the usual statistical
/// batteries.
#[derive(Debug, Clone)]
pub struct Rng(Xoshiro256StarStar);

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator of path `path` of a run seeded `seed`: its four words of state drawn
    /// by SplitMix64 from the seed mixed with the path's number.
    pub fn for_path(seed: u64, path: u64) -> Rng {
        let mut mix = seed;
        let mut state = splitmix(&mut mix) ^ path.wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mut bytes = [0u8; 32];
        for word in bytes.chunks_exact_mut(8) {
            word.copy_from_slice(&splitmix(&mut state).to_le_bytes());
        }
        Rng(Xoshiro256StarStar::from_seed(bytes))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1): never 0 or 1, for quantiles.
    pub fn open_uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n ≥ 1), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// True with probability `bps` / 10000.
    pub fn chance_bps(&mut self, bps: u64) -> bool {
        self.below(10_000) < bps
    }

    pub fn pick(&mut self, dist: &Dist) -> u64 {
        match dist {
            Dist::Fixed(v) => *v,
            Dist::Uniform { min, max, step } => min + self.below((max - min) / step + 1) * step,
            Dist::Choice { values, weights } => match weights {
                None => values[self.below(values.len() as u64) as usize],
                Some(weights) => values[self.weighted(weights)],
            },
        }
    }

    /// An index drawn with the given weights (at least one is positive).
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        unreachable!("x is below the total of the weights")
    }
}

// ln 2 in two parts (fdlibm's), so that k·ln2 is exact in its high part.
const LN_2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN_2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// eˣ by range reduction to |r| ≤ ln2/2 and its Taylor series (error below 1e-15).
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = (x - k * LN_2_HI) - k * LN_2_LO;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=16 {
        term *= r / f64::from(i);
        sum += term;
    }
    // 2^k in two steps, so that k below −1022 gives a subnormal rather than 0.
    let k = k as i64;
    let half = k / 2;
    sum * pow2(half) * pow2(k - half)
}

fn pow2(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// ln x for x > 0 (NaN otherwise), by the series of atanh on the mantissa.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (mut x, mut e) = (x, 0i64);
    if x < f64::MIN_POSITIVE {
        x *= (1u64 << 54) as f64;
        e -= 54;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    for i in 0..12 {
        sum += term / f64::from(2 * i + 1);
        term *= s2;
    }
    let e = e as f64;
    e * LN_2_HI + (e * LN_2_LO + 2.0 * sum)
}

/// Complementary error function (fractional error below 1.2e-7 everywhere; Numerical
/// Recipes' Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * exp(poly);
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Φ(x), the standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation, relative error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * ln(p)).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * ln(1.0 - p)).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The default probability over a year given the systematic factor `z` (Vasicek):
/// Φ((Φ⁻¹(pd) − √ρ·z) / √(1 − ρ)).
pub fn conditional_pd(pd: f64, rho: f64, z: f64) -> f64 {
    if pd <= 0.0 {
        return 0.0;
    }
    if pd >= 1.0 {
        return 1.0;
    }
    if rho <= 0.0 {
        return pd;
    }
    normal_cdf((normal_quantile(pd) - rho.sqrt() * z) / (1.0 - rho).sqrt())
}

/// The monthly hazard with which a year's default probability `p` is reached over twelve
/// months: 1 − (1 − p)^(1/12).
pub fn monthly_hazard(p: f64) -> f64 {
    if p >= 1.0 {
        return 1.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    1.0 - exp(ln(1.0 - p) / 12.0)
}

/// How a loan that does not default repays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    OnTime,
    /// Every instalment paid this many days after it is due.
    Late(u64),
    /// Repaid in full with instalment `k` (before maturity).
    Prepaid(u64),
}

/// One loan a path originates, as drawn.
#[derive(Debug, Clone)]
pub struct LoanPlan {
    pub number: u32,
    pub date: Date,
    pub segment: usize,
    pub bank: usize,
    pub principal_fen: u64,
    pub term_months: u64,
    pub behaviour: Behaviour,
    /// The first instalment it misses, if it defaults within its term.
    pub default_at: Option<u64>,
    /// Whether the insurer rejects its claim.
    pub rejected: bool,
}

/// Everything drawn for one path.
#[derive(Debug, Clone)]
pub struct PathDraws {
    pub loans: Vec<LoanPlan>,
}

/// Draw path `path`: the systematic factor of each year first, then each loan in
/// origination order.
pub fn draw_path(model: &Model, seed: u64, path: u64) -> PathDraws {
    let mut rng = Rng::for_path(seed, path);
    let p = &model.portfolio;
    let years = model.years() as usize;
    let factors: Vec<f64> = (0..years)
        .map(|_| normal_quantile(rng.open_uniform()))
        .collect();
    let rho = p.correlation_bps as f64 / 10_000.0;
    // hazard[segment][year]
    let hazard: Vec<Vec<f64>> = p
        .segments
        .iter()
        .map(|s| {
            factors
                .iter()
                .enumerate()
                .map(|(year, z)| {
                    let shocked = u128::from(s.annual_pd_bps)
                        * u128::from(model.shock_bps(&s.name, year as u64))
                        / 10_000;
                    let pd = (shocked.min(10_000) as f64) / 10_000.0;
                    monthly_hazard(conditional_pd(pd, rho, *z))
                })
                .collect()
        })
        .collect();
    let weights: Vec<u64> = p.segments.iter().map(|s| s.weight).collect();
    let banks = model.programme.banks.len().max(1);
    let per_month = p.originations_per_month;
    let months = model.origination_months();
    let mut loans = Vec::with_capacity((per_month * months) as usize);
    let mut number = 0u32;
    for month in 0..months {
        let first = model
            .start
            .checked_add_months(month)
            .expect("checked when parsed");
        let next = model
            .start
            .checked_add_months(month + 1)
            .expect("checked when parsed");
        let days = next.days_since(first) as u64;
        for j in 0..per_month {
            // Spread over the month's days, in order.
            let date = first
                .checked_add_days(j * days / per_month)
                .expect("within the month");
            let segment = rng.weighted(&weights);
            let s = &p.segments[segment];
            let principal_fen = rng.pick(&s.principal_fen);
            let term_months = rng.pick(&s.term_months);
            let kind = rng.below(10_000);
            let prepay_at = rng.below(term_months.max(2) - 1) + 1;
            let behaviour = if kind < p.repayment.late_bps {
                Behaviour::Late(p.repayment.late_days)
            } else if kind < p.repayment.late_bps + p.repayment.prepaid_bps && term_months >= 2 {
                Behaviour::Prepaid(prepay_at)
            } else {
                Behaviour::OnTime
            };
            let rejected = rng.chance_bps(p.claims.reject_bps);
            let last = match behaviour {
                Behaviour::Prepaid(k) => k,
                _ => term_months,
            };
            let mut default_at = None;
            for k in 1..=last {
                // Instalment k accrues in month `month + k − 1` of the horizon.
                let year = (((month + k - 1) / 12) as usize).min(years - 1);
                if rng.uniform() < hazard[segment][year] {
                    default_at = Some(k);
                    break;
                }
            }
            loans.push(LoanPlan {
                number,
                date,
                segment,
                bank: (number as usize) % banks,
                principal_fen,
                term_months,
                behaviour,
                default_at,
                rejected,
            });
            number += 1;
        }
    }
    PathDraws { loans }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path's stream is the one every stress report so far was drawn from (xoshiro256**
    /// from the state SplitMix64 gives): changing it would change every report.
    #[test]
    fn a_paths_stream_is_pinned() {
        let first = |seed, path| {
            let mut rng = Rng::for_path(seed, path);
            [
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
            ]
        };
        assert_eq!(
            first(1, 0),
            [
                0xee12_7fe6_1343_6e33,
                0xd6da_d8d3_4a18_74ea,
                0x2a52_c16c_ec11_16a9,
                0x9af9_091d_9f77_d551
            ]
        );
        assert_eq!(
            first(42, 7),
            [
                0x2884_39a8_e159_7ade,
                0x076f_68cc_322b_2a29,
                0x23fb_f922_f231_f4cc,
                0x8841_cc3a_bd0c_844d
            ]
        );
    }

    #[test]
    fn exp_and_ln_agree_with_the_platform_to_the_last_bits() {
        for i in -2000..2000 {
            let x = f64::from(i) * 0.173;
            let (ours, theirs) = (exp(x), x.exp());
            assert!(
                (ours - theirs).abs() <= theirs * 4e-15,
                "exp({x}) = {ours}, std {theirs}"
            );
        }
        for i in 1..4000 {
            let x = f64::from(i) * 0.0371 + 1e-300 * f64::from(i);
            let (ours, theirs) = (ln(x), x.ln());
            assert!(
                (ours - theirs).abs() <= 4e-15 * theirs.abs().max(1.0),
                "ln({x}) = {ours}, std {theirs}"
            );
        }
        assert!((ln(1e-310) - 1e-310f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn the_normal_quantile_inverts_the_distribution_function() {
        for i in 1..1000 {
            let p = f64::from(i) / 1000.0;
            let x = normal_quantile(p);
            assert!(
                (normal_cdf(x) - p).abs() < 2e-7,
                "Φ(Φ⁻¹({p})) = {}",
                normal_cdf(x)
            );
        }
        assert!((normal_quantile(0.99) - 2.326_347_874).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_cdf(-1.959_963_985) - 0.025).abs() < 1e-8);
    }

    #[test]
    fn draws_are_uniform_and_reproducible() {
        let mut a = Rng::for_path(7, 3);
        let mut b = Rng::for_path(7, 3);
        let mut c = Rng::for_path(7, 4);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..100).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(xs, (0..100).map(|_| c.next_u64()).collect::<Vec<_>>());
        let mut counts = [0u32; 10];
        let n = 100_000;
        for _ in 0..n {
            counts[a.below(10) as usize] += 1;
        }
        // Each bucket within 5 standard deviations of n/10.
        let sd = (f64::from(n) * 0.1 * 0.9).sqrt();
        for c in counts {
            assert!(
                (f64::from(c) - f64::from(n) / 10.0).abs() < 5.0 * sd,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn the_monthly_hazard_compounds_to_the_annual_probability() {
        for p in [0.0, 0.001, 0.03, 0.2, 0.9999, 1.0] {
            let h = monthly_hazard(p);
            let survive = (0..12).fold(1.0, |s, _| s * (1.0 - h));
            assert!((1.0 - survive - p).abs() < 1e-12, "p = {p}, h = {h}");
        }
    }
}
