//! Calendar dates in China Standard Time (R1.6).
//!
//! A [`Date`] is a count of days since 1970-01-01, restricted to years 1..=9999 so that
//! its text form is always `YYYY-MM-DD`. Conversions use the proleptic Gregorian calendar
//! (days-from-civil arithmetic, integers only). Block times are milliseconds since the Unix
//! epoch; [`Date::from_unix_ms_cst`] turns them into the UTC+8 date the rulebook reads.

use std::fmt;
use std::str::FromStr;

use bincode::de::{Decode, Decoder};
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date(i32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("a date is written YYYY-MM-DD, got {0:?}")]
    Format(String),
    #[error("no such calendar date: {0}")]
    NoSuchDate(String),
    #[error("date out of range (years 1 to 9999)")]
    OutOfRange,
}

/// Days of the week, Monday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

const DAY_MIN: i32 = -719_162; // 0001-01-01
const DAY_MAX: i32 = 2_932_896; // 9999-12-31
const CST_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

impl Date {
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Date, DateError> {
        if !(1..=9999).contains(&year) {
            return Err(DateError::OutOfRange);
        }
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(DateError::NoSuchDate(format!(
                "{year:04}-{month:02}-{day:02}"
            )));
        }
        Ok(Date(days_from_civil(year, month, day)))
    }

    pub fn from_days(days: i32) -> Result<Date, DateError> {
        if (DAY_MIN..=DAY_MAX).contains(&days) {
            Ok(Date(days))
        } else {
            Err(DateError::OutOfRange)
        }
    }

    /// The date in UTC+8 of a time given in milliseconds since the Unix epoch.
    pub fn from_unix_ms_cst(unix_ms: u64) -> Result<Date, DateError> {
        let ms = i64::try_from(unix_ms).map_err(|_| DateError::OutOfRange)?;
        let days = (ms + CST_OFFSET_MS).div_euclid(DAY_MS);
        Date::from_days(i32::try_from(days).map_err(|_| DateError::OutOfRange)?)
    }

    /// Milliseconds since the Unix epoch of midday (UTC+8) on this date; used by the
    /// devnet clock to place a block on a chosen date.
    pub fn unix_ms_cst_noon(self) -> i64 {
        i64::from(self.0) * DAY_MS - CST_OFFSET_MS + DAY_MS / 2
    }

    pub fn days_since_epoch(self) -> i32 {
        self.0
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    pub fn year(self) -> i32 {
        self.ymd().0
    }

    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday.
        match (self.0 + 3).rem_euclid(7) {
            0 => Weekday::Monday,
            1 => Weekday::Tuesday,
            2 => Weekday::Wednesday,
            3 => Weekday::Thursday,
            4 => Weekday::Friday,
            5 => Weekday::Saturday,
            _ => Weekday::Sunday,
        }
    }

    /// `n` calendar days later, or `None` past 9999-12-31.
    pub fn checked_add_days(self, n: u64) -> Option<Date> {
        let n = i32::try_from(n).ok()?;
        Date::from_days(self.0.checked_add(n)?).ok()
    }

    /// Whole days from `earlier` to `self` (negative when `self` is earlier).
    pub fn days_since(self, earlier: Date) -> i64 {
        i64::from(self.0) - i64::from(earlier.0)
    }

    /// `months` calendar months later; a day past the month's end clamps to its last day
    /// (R6.3). `None` past 9999-12-31.
    pub fn checked_add_months(self, months: u64) -> Option<Date> {
        let (y, m, d) = self.ymd();
        let index = i64::from(y) * 12 + i64::from(m - 1) + i64::try_from(months).ok()?;
        let year = i32::try_from(index.div_euclid(12)).ok()?;
        let month = u32::try_from(index.rem_euclid(12)).ok()? + 1;
        if year > 9999 {
            return None;
        }
        if year < 1 {
            return None;
        }
        // In range and a real day of the month, so the day count needs no second check.
        Some(Date(days_from_civil(
            year,
            month,
            d.min(days_in_month(year, month)),
        )))
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil, in integers.
fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i32) -> (i32, u32, u32) {
    // A date lies in 0001-01-01..=9999-12-31, so the shifted day count is positive and
    // the arithmetic can be unsigned (divisions by constants then cost a multiply).
    debug_assert!((DAY_MIN..=DAY_MAX).contains(&days));
    let z = (days + 719_468) as u32;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

impl FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let shaped = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shaped {
            return Err(DateError::Format(s.to_string()));
        }
        let year: i32 = s[0..4]
            .parse()
            .map_err(|_| DateError::Format(s.to_string()))?;
        let month: u32 = s[5..7]
            .parse()
            .map_err(|_| DateError::Format(s.to_string()))?;
        let day: u32 = s[8..10]
            .parse()
            .map_err(|_| DateError::Format(s.to_string()))?;
        Date::from_ymd(year, month, day)
    }
}

impl TryFrom<String> for Date {
    type Error = DateError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Date> for String {
    fn from(date: Date) -> String {
        date.to_string()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Encode for Date {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.0.encode(encoder)
    }
}

impl<Context> Decode<Context> for Date {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let days = i32::decode(decoder)?;
        Date::from_days(days).map_err(|e| DecodeError::OtherString(e.to_string()))
    }
}
bincode::impl_borrow_decode!(Date);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2025-08-30").to_string(), "2025-08-30");
        assert!("2025-02-29".parse::<Date>().is_err());
        assert!("2024-02-29".parse::<Date>().is_ok());
        assert!("2025-8-30".parse::<Date>().is_err());
        assert!("+025-08-30".parse::<Date>().is_err());
        assert!("0000-01-01".parse::<Date>().is_err());
    }

    #[test]
    fn weekdays() {
        assert_eq!(d("2025-08-30").weekday(), Weekday::Saturday);
        assert_eq!(d("2025-09-01").weekday(), Weekday::Monday);
        assert_eq!(d("1970-01-01").weekday(), Weekday::Thursday);
    }

    #[test]
    fn months_clamp_to_month_end() {
        assert_eq!(d("2025-01-31").checked_add_months(1), Some(d("2025-02-28")));
        assert_eq!(d("2024-01-31").checked_add_months(1), Some(d("2024-02-29")));
        assert_eq!(
            d("2025-03-01").checked_add_months(12),
            Some(d("2026-03-01"))
        );
        assert_eq!(d("2025-11-30").checked_add_months(3), Some(d("2026-02-28")));
        assert_eq!(d("9999-12-01").checked_add_months(1), None);
        assert_eq!(d("2025-01-01").checked_add_months(u64::MAX), None);
    }

    #[test]
    fn cst_dates_from_unix_ms() {
        // 2025-08-29T16:00:00Z is midnight 2025-08-30 in UTC+8.
        let ms = 1_756_483_200_000u64;
        assert_eq!(Date::from_unix_ms_cst(ms).unwrap(), d("2025-08-30"));
        assert_eq!(Date::from_unix_ms_cst(ms - 1).unwrap(), d("2025-08-29"));
        let noon = d("2025-08-30").unix_ms_cst_noon();
        assert_eq!(
            Date::from_unix_ms_cst(noon as u64).unwrap(),
            d("2025-08-30")
        );
    }

    proptest! {
        #[test]
        fn civil_round_trip(days in DAY_MIN..=DAY_MAX) {
            let date = Date::from_days(days).unwrap();
            let (y, m, dd) = date.ymd();
            prop_assert_eq!(Date::from_ymd(y, m, dd).unwrap(), date);
            prop_assert_eq!(date.to_string().parse::<Date>().unwrap(), date);
        }
    }
}
