//! R4: the government's fund. Money enters only by top-up; everything it pays comes out
//! of its balance and counts against its cap for the calendar year of the payment.

use ledger::action::{CreateFund, FundTopUp};
use ledger::{Code, Date, Fen, Id, OrgKind};

use crate::arith;
use crate::store::{ensure, keys, Fund, Work};

/// What a payment by the fund is for: the two count separately in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Subsidy,
    Compensation,
}

/// R4.1
pub fn create_fund(work: &mut Work, tx: &CreateFund) -> Result<(), Code> {
    // (1)
    ensure(!tx.annual_cap_fen.is_zero(), Code::InvalidField)?;
    // (2)
    work.expect_org(&tx.government, OrgKind::Government)?;
    // (3)
    work.authorise(&[&tx.government], &[])?;
    // (4)
    ensure(!work.exists(&keys::fund(&tx.id)), Code::DuplicateId)?;
    let fund = Fund {
        government: tx.government.clone(),
        annual_cap_fen: tx.annual_cap_fen,
        balance_fen: Fen::ZERO,
        subsidies_paid_fen: Fen::ZERO,
        compensation_paid_fen: Fen::ZERO,
        paid_by_year: Vec::new(),
    };
    work.put(keys::fund(&tx.id), &fund);
    Ok(())
}

/// R4.2
pub fn top_up(work: &mut Work, tx: &FundTopUp) -> Result<(), Code> {
    // (1)
    ensure(!tx.amount_fen.is_zero(), Code::InvalidField)?;
    // (2)
    let mut fund: Fund = work.get(&keys::fund(&tx.fund)).ok_or(Code::UnknownFund)?;
    // (3)
    work.authorise(&[&fund.government], &[])?;
    // (5)
    fund.balance_fen = arith::add(fund.balance_fen, tx.amount_fen)?;
    work.put(keys::fund(&tx.fund), &fund);
    Ok(())
}

impl Fund {
    /// R4.3: paid in `date`'s calendar year.
    pub fn paid_in_year(&self, date: Date) -> Fen {
        let year = date.year();
        self.paid_by_year
            .iter()
            .find(|(y, _)| *y == year)
            .map(|(_, paid)| *paid)
            .unwrap_or(Fen::ZERO)
    }

    /// R4.3: what the fund can pay on `date`: `min(balance, annual_cap − paid this year)`.
    pub fn can_pay(&self, date: Date) -> Fen {
        let cap_left = self.annual_cap_fen.saturating_sub(self.paid_in_year(date));
        self.balance_fen.min(cap_left)
    }

    /// R4.3: pay `amount` (at most what it can pay) on `date`.
    pub fn pay(&mut self, date: Date, amount: Fen, purpose: Purpose) -> Result<(), Code> {
        ensure(amount <= self.can_pay(date), Code::FundInsufficient)?;
        self.balance_fen = arith::sub(self.balance_fen, amount)?;
        let year = date.year();
        match self.paid_by_year.iter_mut().find(|(y, _)| *y == year) {
            Some((_, paid)) => *paid = arith::add(*paid, amount)?,
            None => {
                self.paid_by_year.push((year, amount));
                self.paid_by_year.sort();
            }
        }
        match purpose {
            Purpose::Subsidy => {
                self.subsidies_paid_fen = arith::add(self.subsidies_paid_fen, amount)?;
            }
            Purpose::Compensation => {
                self.compensation_paid_fen = arith::add(self.compensation_paid_fen, amount)?;
            }
        }
        Ok(())
    }

    /// R7.6: a recovery returns to the balance; cap usage and compensation paid stay.
    pub fn receive_recovery(&mut self, amount: Fen) -> Result<(), Code> {
        self.balance_fen = arith::add(self.balance_fen, amount)?;
        Ok(())
    }
}

/// Read a fund that a programme or policy refers to: it exists by construction.
pub fn load(work: &Work, id: &Id) -> Fund {
    work.get(&keys::fund(id))
        .expect("a programme's fund exists (checked at creation)")
}

pub fn save(work: &mut Work, id: &Id, fund: &Fund) {
    work.put(keys::fund(id), fund);
}
