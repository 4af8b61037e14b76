//! R1: integer arithmetic. Every division states its rounding, every overflow is
//! [`Code::Overflow`] (R1.5), and every division of an amount into parts goes through
//! [`split`] (R1.3), so the parts of anything always sum exactly to the whole.

use ledger::{Bps, Code, Fen, BPS_WHOLE};

/// R1.2: `floor(amount × rate_bps × months / 120000)`, in 128-bit integers.
/// `Overflow` when the product does not fit 128 bits or the result does not fit a `u64`.
pub fn rate_amount(amount: Fen, rate_bps: Bps, months: u64) -> Result<Fen, Code> {
    let product = u128::from(amount.0)
        .checked_mul(u128::from(rate_bps))
        .and_then(|p| p.checked_mul(u128::from(months)))
        .ok_or(Code::Overflow)?;
    to_fen(product / 120_000)
}

/// R1.4: `floor(numerator × 10000 / denominator)`, and 0 when the denominator is 0.
/// The ratio of two `u64` amounts always fits 128 bits; a ratio beyond `u64` saturates
/// (it is only ever compared with thresholds that are themselves `u64`).
pub fn ratio_bps(numerator: Fen, denominator: Fen) -> Bps {
    if denominator.is_zero() {
        return 0;
    }
    let ratio = u128::from(numerator.0) * u128::from(BPS_WHOLE) / u128::from(denominator.0);
    u64::try_from(ratio).unwrap_or(u64::MAX)
}

/// `floor(amount × bps / 10000)` in 128 bits: a threshold or cap expressed as a share of an
/// amount (R5 loan-rate cap, R5.1 warning level, R7.3 fund-layer thresholds). The result
/// may exceed `u64`, which is why it stays in `u128`.
pub fn bps_of(amount: u64, bps: Bps) -> u128 {
    u128::from(amount) * u128::from(bps) / u128::from(BPS_WHOLE)
}

/// R1.3, the largest-remainder method: divides `total` into parts proportional to
/// `weights`. `base_i = floor(T × w_i / W)`; the fen left over go one each to the parts
/// with the largest remainder `T × w_i mod W`, ties to the part listed earlier.
///
/// When every weight is zero (W = 0) there is no proportion to follow. The rulebook never
/// reaches that case (its weights sum to 10000, or to a loss of at least one fen), and we
/// settle it the way the tie rule points: the whole total goes to the first part, so the
/// parts still sum to the total and nothing is lost. An empty weight list with a non-zero
/// total is a broken invariant of the caller.
pub fn split(total: Fen, weights: &[u64]) -> Vec<Fen> {
    assert!(!weights.is_empty(), "split needs at least one part");
    let t = u128::from(total.0);
    let w_sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if w_sum == 0 {
        let mut parts = vec![Fen::ZERO; weights.len()];
        parts[0] = total;
        return parts;
    }
    // T × w_i < 2^128 because both are below 2^64.
    let mut parts: Vec<u128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let product = t * u128::from(*w);
        parts.push(product / w_sum);
        remainders.push((product % w_sum, i));
    }
    let assigned: u128 = parts.iter().sum();
    let left_over = t - assigned;
    // Largest remainder first; among equal remainders the earlier part first.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    // There are fewer left-over fen than parts: each base loses less than one fen.
    for (_, i) in remainders
        .iter()
        .take(usize::try_from(left_over).unwrap_or(usize::MAX))
    {
        parts[*i] += 1;
    }
    // Each part is at most T, so it fits a u64.
    parts
        .into_iter()
        .map(|p| Fen(u64::try_from(p).expect("a part never exceeds the total")))
        .collect()
}

/// A 128-bit intermediate back to fen, or `Overflow`.
pub fn to_fen(value: u128) -> Result<Fen, Code> {
    u64::try_from(value).map(Fen).map_err(|_| Code::Overflow)
}

/// `a + b`, or `Overflow`.
pub fn add(a: Fen, b: Fen) -> Result<Fen, Code> {
    a.checked_add(b).ok_or(Code::Overflow)
}

/// `a − b`, or `Overflow` when `b` is larger (a broken expectation, never a wrap).
pub fn sub(a: Fen, b: Fen) -> Result<Fen, Code> {
    a.checked_sub(b).ok_or(Code::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fen(v: &[u64]) -> Vec<Fen> {
        v.iter().map(|x| Fen(*x)).collect()
    }

    #[test]
    fn rate_amount_examples() {
        // Example A: a month of interest on 1,000,000 yuan at 5.65%.
        assert_eq!(rate_amount(Fen(100_000_000), 565, 1), Ok(Fen(470_833)));
        // Example C: the interest part of the insured amount.
        assert_eq!(rate_amount(Fen(500_000_000), 565, 12), Ok(Fen(28_250_000)));
        assert_eq!(rate_amount(Fen(300_000_000), 270, 12), Ok(Fen(8_100_000)));
        assert_eq!(rate_amount(Fen(0), 565, 12), Ok(Fen(0)));
        assert_eq!(rate_amount(Fen(119_999), 1, 1), Ok(Fen(0)));
        assert_eq!(rate_amount(Fen(120_000), 1, 1), Ok(Fen(1)));
    }

    #[test]
    fn rate_amount_overflows_instead_of_wrapping() {
        assert_eq!(
            rate_amount(Fen(u64::MAX), u64::MAX, u64::MAX),
            Err(Code::Overflow)
        );
        // Fits 128 bits but not 64 after the division.
        assert_eq!(
            rate_amount(Fen(u64::MAX), 10_000, 12 * 100),
            Err(Code::Overflow)
        );
        // Large but representable.
        assert_eq!(rate_amount(Fen(u64::MAX), 10_000, 12), Ok(Fen(u64::MAX)));
    }

    #[test]
    fn split_examples() {
        // Example C: the loss split 20/80.
        assert_eq!(
            split(Fen(405_649_999), &[2000, 8000, 0]),
            fen(&[81_130_000, 324_519_999, 0])
        );
        // Example A: a recovery shared 30/70.
        assert_eq!(
            split(Fen(12_345_679), &[30_000_000, 70_000_000, 0, 0]),
            fen(&[3_703_704, 8_641_975, 0, 0])
        );
        // Example B: two left-over fen go to the two largest remainders.
        assert_eq!(
            split(Fen(50_000_001), &[90_000_000, 58_000_000, 152_000_000, 0]),
            fen(&[15_000_000, 9_666_667, 25_333_334, 0])
        );
    }

    #[test]
    fn split_ties_go_to_the_earlier_part() {
        assert_eq!(split(Fen(1), &[1, 1]), fen(&[1, 0]));
        assert_eq!(split(Fen(2), &[1, 1, 1]), fen(&[1, 1, 0]));
        assert_eq!(split(Fen(5), &[0, 1, 1]), fen(&[0, 3, 2]));
        assert_eq!(split(Fen(7), &[3, 3, 3, 3]), fen(&[2, 2, 2, 1]));
    }

    #[test]
    fn split_with_zero_weights_gives_all_to_the_first_part() {
        assert_eq!(split(Fen(10), &[0, 0, 0]), fen(&[10, 0, 0]));
        assert_eq!(split(Fen(0), &[0, 0]), fen(&[0, 0]));
    }

    #[test]
    fn split_extremes() {
        let parts = split(Fen(u64::MAX), &[u64::MAX, u64::MAX, 1]);
        assert_eq!(
            parts.iter().map(|p| u128::from(p.0)).sum::<u128>(),
            u128::from(u64::MAX)
        );
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio_bps(Fen(85_000_000), Fen(60_000_000)), 14_166);
        assert_eq!(ratio_bps(Fen(1), Fen(0)), 0);
        assert_eq!(ratio_bps(Fen(u64::MAX), Fen(1)), u64::MAX);
        assert_eq!(bps_of(435, 13_000), 565);
    }
}
