//! R1.6 and R8: business days and the registered calendar.

use ledger::action::SetCalendar;
use ledger::date::Weekday;
use ledger::state::StateView;
use ledger::{Code, Date, OrgKind};

use crate::store::{self, ensure, keys, Calendar, Work};

/// R8 `SetCalendar`: the regulator replaces one year's lists.
pub fn set_calendar(work: &mut Work, tx: &SetCalendar) -> Result<(), Code> {
    // (1) Every date falls in `year`; a year outside the calendar's range has no dates.
    let year = i32::try_from(tx.year).map_err(|_| Code::InvalidField)?;
    ensure((1..=9999).contains(&year), Code::InvalidField)?;
    let in_year = |d: &Date| d.year() == year;
    ensure(
        tx.holidays.iter().all(in_year) && tx.workdays.iter().all(in_year),
        Code::InvalidField,
    )?;
    // (3)
    work.authorise(&[], &[OrgKind::Regulator])?;
    let mut calendar = Calendar {
        holidays: tx.holidays.clone(),
        workdays: tx.workdays.clone(),
    };
    calendar.holidays.sort();
    calendar.holidays.dedup();
    calendar.workdays.sort();
    calendar.workdays.dedup();
    work.put(keys::calendar(year), &calendar);
    Ok(())
}

/// The registered calendar of the year being counted. Counting only moves forward, so
/// one year is held at a time and each year is read once.
struct Calendars<'a> {
    state: &'a dyn StateView,
    current: Option<(i32, Calendar)>,
}

impl Calendars<'_> {
    fn year(&mut self, year: i32) -> &Calendar {
        if self.current.as_ref().is_none_or(|(y, _)| *y != year) {
            let calendar = store::read(self.state, &keys::calendar(year)).unwrap_or_default();
            self.current = Some((year, calendar));
        }
        &self.current.as_ref().expect("just loaded").1
    }

    /// R1.6: Monday–Friday and not a holiday, or a registered make-up working day
    /// (a date in both lists is a working day, R8).
    fn is_business_day(&mut self, date: Date) -> bool {
        let calendar = self.year(date.year());
        if calendar.workdays.binary_search(&date).is_ok() {
            return true;
        }
        let weekday = !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
        weekday && calendar.holidays.binary_search(&date).is_err()
    }
}

/// R1.6: the date `n` business days after `from`, counting business days strictly after
/// it. `Overflow` when that date would be past 9999-12-31.
///
/// The count is bounded: a business day takes at least one calendar day, so a count
/// beyond the days left in the calendar fails at once; and seven days inside a year with
/// no registered calendar hold exactly five business days, which are taken a week at a time.
pub fn add_business_days(state: &dyn StateView, from: Date, n: u64) -> Result<Date, Code> {
    let last = Date::from_ymd(9999, 12, 31).expect("the last representable date");
    let days_left = u64::try_from(last.days_since(from)).unwrap_or(0);
    ensure(n <= days_left, Code::Overflow)?;
    let mut calendars = Calendars {
        state,
        current: None,
    };
    let mut day = from;
    let mut left = n;
    while left > 0 {
        if left > 5 {
            if let (Some(first), Some(week_end)) =
                (day.checked_add_days(1), day.checked_add_days(7))
            {
                let year = first.year();
                let plain = {
                    let calendar = calendars.year(year);
                    calendar.holidays.is_empty() && calendar.workdays.is_empty()
                };
                if plain && week_end.year() == year {
                    day = week_end;
                    left -= 5;
                    continue;
                }
            }
        }
        day = day.checked_add_days(1).ok_or(Code::Overflow)?;
        if calendars.is_business_day(day) {
            left -= 1;
        }
    }
    Ok(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::state::{MemoryStore, StateStore};

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn with_calendar(year: i32, holidays: &[&str], workdays: &[&str]) -> MemoryStore {
        let mut store = MemoryStore::new();
        let mut writes = ledger::state::WriteSet::new();
        writes.put(
            keys::calendar(year),
            ledger::codec::encode(&Calendar {
                holidays: holidays.iter().map(|s| d(s)).collect(),
                workdays: workdays.iter().map(|s| d(s)).collect(),
            }),
        );
        store.apply(&writes);
        store
    }

    #[test]
    fn plain_weeks() {
        let store = MemoryStore::new();
        // Example A: ten business days after Tuesday 2025-07-15.
        assert_eq!(
            add_business_days(&store, d("2025-07-15"), 10),
            Ok(d("2025-07-29"))
        );
        // Example C: counting from a Saturday.
        assert_eq!(
            add_business_days(&store, d("2025-08-30"), 10),
            Ok(d("2025-09-12"))
        );
        // Strictly after: one business day after a Friday is the Monday.
        assert_eq!(
            add_business_days(&store, d("2025-08-29"), 1),
            Ok(d("2025-09-01"))
        );
        assert_eq!(
            add_business_days(&store, d("2025-08-29"), 0),
            Ok(d("2025-08-29"))
        );
        // Across a year end, week jumps and single days agree.
        assert_eq!(
            add_business_days(&store, d("2025-12-24"), 7),
            Ok(d("2026-01-02"))
        );
        assert_eq!(
            add_business_days(&store, d("2025-01-01"), 261),
            Ok(d("2026-01-01"))
        );
    }

    #[test]
    fn holidays_and_make_up_days() {
        // Example B: the 2026 Spring Festival.
        let store = with_calendar(
            2026,
            &[
                "2026-02-15",
                "2026-02-16",
                "2026-02-17",
                "2026-02-18",
                "2026-02-19",
                "2026-02-20",
                "2026-02-21",
                "2026-02-22",
                "2026-02-23",
            ],
            &["2026-02-14", "2026-02-28"],
        );
        assert_eq!(
            add_business_days(&store, d("2026-02-14"), 10),
            Ok(d("2026-03-06"))
        );
        // A date in both lists is a working day.
        let both = with_calendar(2026, &["2026-03-02"], &["2026-03-02"]);
        assert_eq!(
            add_business_days(&both, d("2026-02-27"), 1),
            Ok(d("2026-03-02"))
        );
        let holiday = with_calendar(2026, &["2026-03-02"], &[]);
        assert_eq!(
            add_business_days(&holiday, d("2026-02-27"), 1),
            Ok(d("2026-03-03"))
        );
    }

    #[test]
    fn past_the_end_of_the_calendar_is_overflow() {
        let store = MemoryStore::new();
        assert_eq!(
            add_business_days(&store, d("2025-01-01"), u64::MAX),
            Err(Code::Overflow)
        );
        assert_eq!(
            add_business_days(&store, d("9999-12-31"), 1),
            Err(Code::Overflow)
        );
        assert!(add_business_days(&store, d("9990-01-01"), 2000).is_ok());
        assert_eq!(
            add_business_days(&store, d("9990-01-01"), 2_000_000),
            Err(Code::Overflow)
        );
    }

    #[test]
    fn the_longest_counts_are_bounded() {
        // About 2.8 million calendar days, counted a week at a time.
        let store = MemoryStore::new();
        let due = add_business_days(&store, d("2025-01-01"), 2_000_000).unwrap();
        assert!(due.year() > 9000);
        assert!(!matches!(
            due.weekday(),
            Weekday::Saturday | Weekday::Sunday
        ));
        // Exactly: 5 business days a week, from a Wednesday.
        assert_eq!(
            add_business_days(&store, d("2025-01-01"), 5 * 52),
            Ok(d("2025-12-31"))
        );
    }
}
