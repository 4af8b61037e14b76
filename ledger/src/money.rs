//! Money and ratios (R1.1): integer fen and integer basis points, with checked arithmetic.
//!
//! There is no floating point anywhere in the rules. Every operation that can overflow
//! returns `None` (the rulebook turns that into `Overflow`, R1.5); nothing wraps.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// An amount of money in fen (0.01 yuan).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    Encode,
    Decode,
)]
#[serde(transparent)]
pub struct Fen(pub u64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).map(Fen)
    }

    /// `self − other`, or zero when `other` is larger.
    pub fn saturating_sub(self, other: Fen) -> Fen {
        Fen(self.0.saturating_sub(other.0))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}fen", self.0)
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals and thousands separators: `4,056,499.99`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yuan = self.0 / 100;
        let fen = self.0 % 100;
        let digits = yuan.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{grouped}.{fen:02}")
    }
}

/// Basis points: 1/10000. Most are at most 10000; thresholds may exceed it (R5.4).
pub type Bps = u64;

/// The whole, in basis points.
pub const BPS_WHOLE: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_yuan() {
        assert_eq!(Fen(405_649_999).to_string(), "4,056,499.99");
        assert_eq!(Fen(5).to_string(), "0.05");
        assert_eq!(Fen(100_000).to_string(), "1,000.00");
    }

    #[test]
    fn checked_ops() {
        assert_eq!(Fen(u64::MAX).checked_add(Fen(1)), None);
        assert_eq!(Fen(1).checked_sub(Fen(2)), None);
        assert_eq!(Fen(1).saturating_sub(Fen(2)), Fen(0));
    }
}
