//! R6.3–R6.6: loans, their instalments, repayments and days past due.
//!
//! Instalments fall due with the passage of time (R6.4), not with transactions. The
//! stored [`Loan`] is brought up to a date by [`as_of`], a pure function: it fixes every
//! instalment due on or before that date, each from the principal outstanding at its due
//! date. Since the principal only changes by a transaction on the loan, and every such
//! transaction first brings the loan up to its own date, all instalments that fall due
//! between two transactions share one interest amount and are held as one [`Run`]. No
//! loop runs over the term, however long it is.

use ledger::action::{RecordRepayment, SubsidyMode};
use ledger::{Code, Date, Fen};

use crate::arith;
use crate::fund::{self, Purpose};
use crate::store::{ensure, keys, Loan, LoanStatus, Policy, Programme, Run, Work};

/// R6.3: instalment `k` is due `k` months after the start (clamped to the month's end).
/// `k` never exceeds the term, whose end (the maturity) was representable at disbursement.
pub fn due_date(loan: &Loan, k: u64) -> Date {
    loan.start
        .checked_add_months(k)
        .expect("instalment due dates are within the loan's term")
}

/// How many of a loan's instalments are due on or before `date`.
pub fn instalments_due_by(start: Date, date: Date, term_months: u64) -> u64 {
    if date <= start {
        return 0;
    }
    let (sy, sm, _) = start.ymd();
    let (dy, dm, _) = date.ymd();
    let months = (i64::from(dy) * 12 + i64::from(dm)) - (i64::from(sy) * 12 + i64::from(sm));
    let mut k = u64::try_from(months).expect("date is after start");
    // start + months has the year and month of `date`; its day may still be later.
    if start.checked_add_months(k).is_some_and(|due| due > date) {
        k -= 1;
    }
    k.min(term_months)
}

/// The loan as of `date`: instalments due on or before it fixed (R6.4), and on-time
/// status updated (R6.5a). A loan that is not `Active` does not change (R6.6).
pub fn as_of(stored: &Loan, date: Date) -> Loan {
    as_of_owned(stored.clone(), date)
}

/// [`as_of`] of a loan the caller owns (no copy).
pub fn as_of_owned(mut loan: Loan, date: Date) -> Loan {
    if loan.status != LoanStatus::Active {
        return loan;
    }
    let due = instalments_due_by(loan.start, date, loan.term_months);
    if due > loan.due_count {
        // R6.4: rate_amount(outstanding principal at the due date, loan rate, 1). The loan
        // rate is at most the programme's cap (≤ 2 × 10000 bps), so a month's interest
        // is below the principal and cannot overflow.
        let interest = arith::rate_amount(loan.outstanding_principal_fen, loan.rate_bps, 1)
            .expect("a month's interest is below the principal");
        // An instalment of 0 fen is paid when it falls due (R6.6): it is never unpaid.
        if !interest.is_zero() {
            loan.unpaid.push(Run {
                first_k: loan.due_count + 1,
                count: due - loan.due_count,
                interest_fen: interest,
            });
        }
        loan.due_count = due;
    }
    // R6.5a: nothing unpaid past its due date; once false it stays false.
    if let Some(oldest) = loan.unpaid.first() {
        if due_date(&loan, oldest.first_k) < date {
            loan.on_time = false;
        }
    }
    if !loan.outstanding_principal_fen.is_zero() && loan.maturity < date {
        loan.on_time = false;
    }
    loan
}

/// R5's reading of a stored loan record (`loan/<id>`) on `date`, without allocating for
/// its ids: its outstanding principal if it is active, and whether it is overdue then
/// (any days past due, R6.6). The same answer as [`as_of`] followed by [`interest_dpd`]
/// and [`principal_dpd`] (a test holds them equal).
pub fn figures_of_record(bytes: &[u8], date: Date) -> Option<(Fen, bool)> {
    let clock = overdue_clock(bytes)?;
    Some((
        clock.principal,
        clock.late_after.is_some_and(|day| day < date),
    ))
}

/// An active loan's outstanding principal and the last day it is not overdue, read from
/// its record: on any date after `late_after` the loan is overdue until its record next
/// changes (`None`: not before its record changes). The oldest unpaid instalment on a
/// later date is the record's oldest unpaid one, or else the next one if it falls due
/// with interest to pay; the principal is past due after maturity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverdueClock {
    pub principal: Fen,
    pub late_after: Option<Date>,
}

/// The [`OverdueClock`] of a stored loan record, or `None` if the loan is not active.
pub fn overdue_clock(bytes: &[u8]) -> Option<OverdueClock> {
    let loan = crate::store::LoanClock::read(bytes).expect("a stored loan decodes");
    if loan.status != LoanStatus::Active {
        return None;
    }
    let principal = loan.outstanding_principal_fen;
    let due = |k: u64| {
        loan.start
            .checked_add_months(k)
            .expect("instalment due dates are within the loan's term")
    };
    let principal_late = (!principal.is_zero()).then_some(loan.maturity);
    let interest_late = match loan.oldest_unpaid {
        Some(run) => Some(due(run.first_k)),
        // Nothing unpaid as stored: late only once the next instalment has fallen due
        // with some interest to pay.
        None => (loan.due_count < loan.term_months
            && !arith::rate_amount(principal, loan.rate_bps, 1)
                .expect("a month's interest is below the principal")
                .is_zero())
        .then(|| due(loan.due_count + 1)),
    };
    let late_after = match (principal_late, interest_late) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Some(OverdueClock {
        principal,
        late_after,
    })
}

/// Due interest not yet paid (R6.5), in 128 bits: a run may be long.
pub fn unpaid_interest(loan: &Loan) -> u128 {
    let due: u128 = loan
        .unpaid
        .iter()
        .map(|run| u128::from(run.count) * u128::from(run.interest_fen.0))
        .sum();
    due - u128::from(loan.paid_toward_oldest_fen.0)
}

/// R6.6 `interest_dpd` on `date`, for a loan already brought up to `date`.
pub fn interest_dpd(loan: &Loan, date: Date) -> u64 {
    if loan.status != LoanStatus::Active {
        return 0;
    }
    match loan.unpaid.first() {
        Some(oldest) => days_after(date, due_date(loan, oldest.first_k)),
        None => 0,
    }
}

/// R6.6 `principal_dpd` on `date`.
pub fn principal_dpd(loan: &Loan, date: Date) -> u64 {
    if loan.status != LoanStatus::Active || loan.outstanding_principal_fen.is_zero() {
        return 0;
    }
    days_after(date, loan.maturity)
}

fn days_after(date: Date, due: Date) -> u64 {
    u64::try_from(date.days_since(due)).unwrap_or(0)
}

/// R6.5: pay due interest oldest first, then principal. The caller has checked that the
/// amount is at most the due interest plus the outstanding principal.
fn apply_payment(loan: &mut Loan, amount: Fen) {
    let mut left = amount.0;
    while left > 0 {
        let Some(run) = loan.unpaid.first_mut() else {
            break;
        };
        let interest = run.interest_fen.0;
        let need = interest - loan.paid_toward_oldest_fen.0;
        if left < need {
            loan.paid_toward_oldest_fen.0 += left;
            left = 0;
            break;
        }
        // The oldest instalment is paid in full, then as many whole ones as the rest covers.
        left -= need;
        loan.paid_toward_oldest_fen = Fen::ZERO;
        let whole = (run.count - 1).min(left / interest);
        left -= whole * interest;
        run.first_k += 1 + whole;
        run.count -= 1 + whole;
        if run.count == 0 {
            loan.unpaid.remove(0);
        }
    }
    loan.outstanding_principal_fen.0 -= left;
}

/// R6.5 `RecordRepayment`: signed by the bank.
pub fn record_repayment(work: &mut Work, tx: &RecordRepayment) -> Result<(), Code> {
    // (1)
    ensure(!tx.amount_fen.is_zero(), Code::InvalidField)?;
    // (2)
    let stored: Loan = work.get(&keys::loan(&tx.loan)).ok_or(Code::UnknownLoan)?;
    // (3)
    work.authorise(&[&stored.bank], &[])?;
    // (5)
    let mut loan = as_of_owned(stored, work.date);
    ensure(loan.status == LoanStatus::Active, Code::Overpayment)?;
    let payable = unpaid_interest(&loan) + u128::from(loan.outstanding_principal_fen.0);
    ensure(u128::from(tx.amount_fen.0) <= payable, Code::Overpayment)?;
    apply_payment(&mut loan, tx.amount_fen);
    if loan.outstanding_principal_fen.is_zero() && loan.unpaid.is_empty() {
        loan.status = LoanStatus::Repaid;
        let policy: Policy = work
            .get(&keys::policy(&loan.policy))
            .expect("a loan's policy exists");
        let programme: Programme = work
            .get(&keys::programme(&loan.programme))
            .expect("a loan's programme exists");
        // R6.5: repaid on time under OnRepayment, the fund refunds its part of the premium,
        // as much of it as it can pay.
        if loan.on_time && programme.terms.subsidy.mode == SubsidyMode::OnRepayment {
            let mut fund = fund::load(work, &programme.terms.fund);
            let refund = policy.subsidy_fen.min(fund.can_pay(work.date));
            fund.pay(work.date, refund, Purpose::Subsidy)?;
            fund::save(work, &programme.terms.fund, &fund);
        }
    }
    work.put(keys::loan(&tx.loan), &loan);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::Id;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn loan(start: &str, principal: u64, rate_bps: u64, term: u64) -> Loan {
        let start = d(start);
        Loan {
            policy: Id::new("p").unwrap(),
            programme: Id::new("g").unwrap(),
            bank: Id::new("b").unwrap(),
            enterprise: Id::new("e").unwrap(),
            rate_bps,
            term_months: term,
            start,
            maturity: start.checked_add_months(term).unwrap(),
            status: LoanStatus::Active,
            outstanding_principal_fen: Fen(principal),
            due_count: 0,
            unpaid: Vec::new(),
            paid_toward_oldest_fen: Fen::ZERO,
            on_time: true,
            claim: None,
        }
    }

    #[test]
    fn a_loan_clock_reads_what_the_full_decoding_reads() {
        use crate::store::LoanClock;
        let mut owing = loan("2025-01-31", 300_000_000, 565, 24);
        owing = as_of(&owing, d("2025-06-15"));
        owing.claim = Some(Id::new("c-1").unwrap());
        let mut repaid = loan("2024-03-01", 1_000, 600, 12);
        repaid.status = LoanStatus::Repaid;
        let fresh = loan("2025-05-05", 50_000_000, 435, 6);
        for l in [owing, repaid, fresh] {
            let bytes = ledger::codec::encode(&l);
            let clock = LoanClock::read(&bytes).expect("a stored loan reads");
            assert_eq!(
                crate::store::loan_programme(&bytes),
                Some(l.programme.as_str())
            );
            assert_eq!(
                (
                    clock.rate_bps,
                    clock.term_months,
                    clock.start,
                    clock.maturity,
                    clock.status
                ),
                (l.rate_bps, l.term_months, l.start, l.maturity, l.status)
            );
            if l.status == LoanStatus::Active {
                assert_eq!(clock.outstanding_principal_fen, l.outstanding_principal_fen);
                assert_eq!(clock.due_count, l.due_count);
                assert_eq!(clock.oldest_unpaid, l.unpaid.first().copied());
            }
            // It needs the record up to the oldest unpaid run (up to the status when the
            // loan is not active), and nothing less.
            let ids: usize = [&l.policy, &l.programme, &l.bank, &l.enterprise]
                .iter()
                .map(|id| 8 + id.as_str().len())
                .sum();
            let status_end = ids + 8 + 8 + 4 + 4 + 4;
            let end = match l.status {
                LoanStatus::Active => status_end + 24 + if l.unpaid.is_empty() { 0 } else { 24 },
                _ => status_end,
            };
            assert_eq!(LoanClock::read(&bytes[..end]), Some(clock));
            for cut in 0..end {
                assert_eq!(LoanClock::read(&bytes[..cut]), None, "cut at {cut}");
            }
        }
    }

    #[test]
    fn instalments_fall_due_on_clamped_month_days() {
        let start = d("2025-01-31");
        assert_eq!(instalments_due_by(start, d("2025-01-31"), 12), 0);
        assert_eq!(instalments_due_by(start, d("2025-02-27"), 12), 0);
        assert_eq!(instalments_due_by(start, d("2025-02-28"), 12), 1);
        assert_eq!(instalments_due_by(start, d("2025-03-30"), 12), 1);
        assert_eq!(instalments_due_by(start, d("2025-03-31"), 12), 2);
        assert_eq!(instalments_due_by(start, d("2030-01-01"), 12), 12);
        assert_eq!(instalments_due_by(start, d("9999-12-31"), u64::MAX), 95_699);
    }

    #[test]
    fn interest_is_fixed_from_the_principal_at_each_due_date() {
        // Example C: 5,000,000 yuan at 5.65%, two instalments paid, 1,000,000 prepaid.
        let mut l = loan("2025-03-01", 500_000_000, 565, 12);
        l = as_of(&l, d("2025-04-01"));
        apply_payment(&mut l, Fen(2_354_166));
        l = as_of(&l, d("2025-05-01"));
        apply_payment(&mut l, Fen(2_354_166));
        l = as_of(&l, d("2025-05-20"));
        apply_payment(&mut l, Fen(100_000_000));
        assert_eq!(l.outstanding_principal_fen, Fen(400_000_000));
        assert!(l.on_time);
        let later = as_of(&l, d("2025-08-29"));
        assert_eq!(unpaid_interest(&later), 3 * 1_883_333);
        assert_eq!(interest_dpd(&later, d("2025-08-29")), 89);
        assert!(!later.on_time);
        // The stored loan did not move: the view is pure.
        assert_eq!(l.due_count, 2);
    }

    #[test]
    fn partial_payments_go_to_the_oldest_instalment() {
        let mut l = as_of(&loan("2025-01-10", 100_000_000, 565, 12), d("2025-04-10"));
        assert_eq!(unpaid_interest(&l), 3 * 470_833);
        apply_payment(&mut l, Fen(470_833 + 100));
        assert_eq!(l.unpaid[0].first_k, 2);
        assert_eq!(l.paid_toward_oldest_fen, Fen(100));
        assert_eq!(interest_dpd(&l, d("2025-04-10")), 28 + 3);
        apply_payment(&mut l, Fen(2 * 470_833 - 100 + 5));
        assert!(l.unpaid.is_empty());
        assert_eq!(l.outstanding_principal_fen, Fen(100_000_000 - 5));
    }

    #[test]
    fn principal_past_maturity_is_overdue() {
        // Example B: every instalment paid on its due date, the principal not at all.
        let mut l = loan("2025-01-15", 300_000_000, 560, 12);
        for k in 1..=12 {
            l = as_of(&l, d("2025-01-15").checked_add_months(k).unwrap());
            apply_payment(&mut l, Fen(1_400_000));
        }
        assert!(l.on_time);
        assert!(l.unpaid.is_empty());
        assert_eq!(principal_dpd(&l, d("2026-01-15")), 0);
        let later = as_of(&l, d("2026-02-14"));
        assert_eq!(principal_dpd(&later, d("2026-02-14")), 30);
        assert_eq!(interest_dpd(&later, d("2026-02-14")), 0);
        assert!(!later.on_time);
        assert_eq!(later.due_count, 12);
    }

    #[test]
    fn zero_interest_instalments_are_never_unpaid() {
        let l = as_of(&loan("2025-01-15", 100, 565, 12), d("2025-06-15"));
        assert!(l.unpaid.is_empty());
        assert_eq!(interest_dpd(&l, d("2025-06-15")), 0);
        assert!(l.on_time);
    }

    /// The figures read from a record's bytes agree with the loan brought up to date,
    /// whatever its history of payments, on every day of its life and after.
    #[test]
    fn figures_of_a_record_agree_with_the_loan_as_of_the_date() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..300 {
            let term = 1 + next(24);
            let principal = if case % 7 == 0 {
                50
            } else {
                1 + next(300_000_000)
            };
            let start = ["2025-01-31", "2025-02-28", "2024-02-29", "2025-06-10"][case % 4];
            let mut l = loan(start, principal, next(2400), term);
            l.policy = Id::new("政策-long-policy-id").unwrap();
            l.claim = (case % 3 == 0).then(|| Id::new("c1").unwrap());
            let mut date = l.start;
            for _ in 0..(2 + next(30)) {
                date = date.checked_add_days(next(45)).unwrap();
                l = as_of_owned(l, date);
                let owed = unpaid_interest(&l) + u128::from(l.outstanding_principal_fen.0);
                let pay = match next(4) {
                    0 => 0,
                    1 => owed,
                    _ => owed.min(u128::from(next(2_000_000))),
                };
                if pay > 0 && l.status == LoanStatus::Active {
                    apply_payment(&mut l, Fen(pay as u64));
                    if l.outstanding_principal_fen.is_zero() && l.unpaid.is_empty() {
                        l.status = LoanStatus::Repaid;
                    }
                }
                if next(20) == 0 {
                    l.status = LoanStatus::Claimed;
                }
                let bytes = ledger::codec::encode(&l);
                for ahead in [0, 1, 29, 31, 90, 400] {
                    let on = date.checked_add_days(ahead).unwrap();
                    let view = as_of(&l, on);
                    let expected = (view.status == LoanStatus::Active).then(|| {
                        (
                            view.outstanding_principal_fen,
                            interest_dpd(&view, on) > 0 || principal_dpd(&view, on) > 0,
                        )
                    });
                    assert_eq!(
                        figures_of_record(&bytes, on),
                        expected,
                        "case {case} on {on}: {l:?}"
                    );
                }
            }
        }
    }
}
