//! The readers' indexes: what the console and the API read without walking every record,
//! never the rulebook. [`writes`] computes, from an executed block and the state before
//! it, what the block changes in each of them; the store writes those with the block, in
//! the same batch; [`Index`] reads them.
//!
//! - `subjects`: (record kind, record id, height, index) → empty, the transactions that
//!   name a record ([`ledger::Action::subjects`]);
//! - `filing-policies`: (rate filing's state key, policy id) → empty, the policies issued
//!   under each filing, and `filing-counts`: filing's state key → how many (u64);
//! - `org-totals`: (organisation, column) → the organisation's running total of that
//!   column of `audit report`'s organisation table (u128 fen;
//!   `contracts::report::organisation_contributions`, kept from each block's writes, so no
//!   reader walks the policies or claims);
//! - `loan-clocks`: (programme, day) → the outstanding principal of its active loans that
//!   fall overdue after that day;
//! - `claim-desk`: (desk, insurer, programme, claim) → empty, each claim open (a decision
//!   or payment due), or closed and, if paid late, also late, with `desk-counts`: (desk,
//!   insurer, programme) → how many (u64), so that the desk reads its open claims and one
//!   page of the closed ones, never every claim;
//! - `month-ends`: month-end date → the programmes' figures as of that day
//!   (`contracts::report::month_figures_with`, on the state before the first block after
//!   the month end, with the loans' figures from the loan clocks: what `audit report`
//!   computes from every loan).

use std::collections::{BTreeMap, HashMap};

use contracts::store::{keys, Policy, Programme};
use ledger::action::Action;
use ledger::block::{Block, Outcome, Receipt};
use ledger::state::{Overlay, StateView, WriteSet};
use ledger::{Bps, Date, Id};

use crate::store::{IndexWrite, Space, Store, StoreError, Tip, TxLocation};

#[cfg(test)]
mod tests;

/// A change to a programme's loan clocks: outstanding principal of active loans, summed
/// by the last day they are not overdue ([`contracts::loan::overdue_clock`]).
pub type LoanClockChange = (Id, Option<Date>, i128);

/// Where the claims desk files a claim (R7.5): open while a decision or a payment is due,
/// closed once paid or rejected, and, among the closed, paid late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Desk {
    Open,
    Closed,
    Late,
}

impl Desk {
    fn byte(self) -> u8 {
        match self {
            Desk::Open => b'o',
            Desk::Closed => b'c',
            Desk::Late => b'l',
        }
    }
}

/// One place of a claim on the claims desk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeskEntry {
    pub desk: Desk,
    pub insurer: Id,
    pub programme: Id,
    pub claim: Id,
}

/// A place a block gives a claim on the desk (`true`) or takes from it (`false`).
pub type DeskChange = (DeskEntry, bool);

pub use contracts::report::OrgColumn;

/// What one block changes in the readers' indexes, before it is turned into writes.
#[derive(Debug, Default)]
pub struct Changes {
    /// The month ends this block is the first block after, each with the programmes'
    /// figures as of that day (JSON), computed on the state before the block.
    pub months: Vec<(Date, Vec<u8>)>,
    /// The policies this block issues, each with the state key of the filing that allowed
    /// its rate.
    pub filed: Vec<(Vec<u8>, Id)>,
    /// What the block changes in the organisations' totals: (organisation, column, fen
    /// added, negative when taken away).
    pub organisations: Vec<(Id, OrgColumn, i128)>,
    /// What the block changes in the programmes' loan clocks.
    pub loan_clocks: Vec<LoanClockChange>,
    /// What the block changes on the claims desk.
    pub desk: Vec<DeskChange>,
}

/// What `block`, with `receipts` and state `writes`, committed on top of `tip`, writes to
/// the readers' indexes. `before` is the committed state (the state before the block).
pub fn writes(
    store: &Store,
    tip: Tip,
    block: &Block,
    receipts: &[Receipt],
    writes: &WriteSet,
    before: &dyn StateView,
) -> Result<Vec<IndexWrite>, StoreError> {
    let index = Index(store);
    let after = Overlay::over(before, writes);
    let changes = Changes {
        months: index.month_ends_between(tip, block.header.time_ms, before)?,
        filed: filed_policies(block, receipts, &after),
        organisations: organisation_changes(before, &after, writes),
        loan_clocks: loan_clock_changes(before, writes),
        desk: desk_changes(before, &after, writes),
    };
    index.writes_of(block, &changes)
}

/// The readers' indexes of a store.
#[derive(Clone, Copy)]
pub struct Index<'a>(pub &'a Store);

impl Index<'_> {
    /// The writes of `changes`, made by `block`, on the indexes as they stand.
    pub fn writes_of(
        &self,
        block: &Block,
        changes: &Changes,
    ) -> Result<Vec<IndexWrite>, StoreError> {
        let height = block.header.height;
        let mut out: Vec<IndexWrite> = Vec::new();
        for (i, tx) in block.txs.iter().enumerate() {
            for (kind, id) in tx.body.action.subjects() {
                out.push((
                    Space::Subjects,
                    subject_key(kind, id.as_str(), height, i as u32),
                    Some(Vec::new()),
                ));
            }
        }
        for (date, figures) in &changes.months {
            out.push((
                Space::MonthEnds,
                day_key(*date).to_vec(),
                Some(figures.clone()),
            ));
        }
        let mut counts: BTreeMap<&[u8], u64> = BTreeMap::new();
        for (filing, policy) in &changes.filed {
            out.push((
                Space::FilingPolicies,
                filing_policy_key(filing, policy.as_str()),
                Some(Vec::new()),
            ));
            *counts.entry(filing.as_slice()).or_default() += 1;
        }
        for (filing, added) in counts {
            let before = self.number::<8>(Space::FilingCounts, filing)? as u64;
            out.push((
                Space::FilingCounts,
                filing.to_vec(),
                Some((before + added).to_be_bytes().to_vec()),
            ));
        }
        let mut deltas: BTreeMap<(&str, OrgColumn), i128> = BTreeMap::new();
        for (org, column, delta) in &changes.organisations {
            *deltas.entry((org.as_str(), *column)).or_default() += delta;
        }
        for ((org, column), delta) in deltas {
            let k = org_total_key(org, column);
            let before = self.number::<16>(Space::OrgTotals, &k)?;
            let after = u128::try_from(before as i128 + delta).map_err(|_| {
                StoreError::Corrupt(format!("{org}'s {} would fall below zero", column.name()))
            })?;
            out.push((Space::OrgTotals, k, Some(after.to_be_bytes().to_vec())));
        }
        let mut clocks: BTreeMap<Vec<u8>, i128> = BTreeMap::new();
        for (programme, late_after, delta) in &changes.loan_clocks {
            *clocks
                .entry(loan_clock_key(programme.as_str(), *late_after))
                .or_default() += delta;
        }
        for (k, delta) in clocks {
            let before = self.number::<16>(Space::LoanClocks, &k)?;
            let after = u128::try_from(before as i128 + delta).map_err(|_| {
                StoreError::Corrupt("a programme's loan clock would fall below zero".into())
            })?;
            out.push((
                Space::LoanClocks,
                k,
                (after != 0).then(|| after.to_be_bytes().to_vec()),
            ));
        }
        self.file_on_desk(&changes.desk, &mut out)?;
        Ok(out)
    }

    /// Writes `changes` to the claims desk and its counts into `out`.
    fn file_on_desk(
        &self,
        changes: &[DeskChange],
        out: &mut Vec<IndexWrite>,
    ) -> Result<(), StoreError> {
        let mut counts: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for (entry, added) in changes {
            let k = desk_key(
                entry.desk,
                Some(entry.insurer.as_str()),
                Some(entry.programme.as_str()),
                Some(entry.claim.as_str()),
            );
            out.push((Space::ClaimDesk, k, added.then(Vec::new)));
            *counts
                .entry(desk_count_key(
                    entry.desk,
                    entry.insurer.as_str(),
                    entry.programme.as_str(),
                ))
                .or_default() += if *added { 1 } else { -1 };
        }
        for (k, delta) in counts {
            let before = self.number::<8>(Space::DeskCounts, &k)?;
            let after = u64::try_from(before as i128 + i128::from(delta)).map_err(|_| {
                StoreError::Corrupt("a count of the claims desk would fall below zero".into())
            })?;
            out.push((
                Space::DeskCounts,
                k,
                (after != 0).then(|| after.to_be_bytes().to_vec()),
            ));
        }
        Ok(())
    }

    /// The number of `N` bytes at `key` in `space`, 0 when absent.
    fn number<const N: usize>(&self, space: Space, key: &[u8]) -> Result<u128, StoreError> {
        self.0
            .index_get(space, key)?
            .map_or(Ok(0), |v| be_number::<N>(&v))
    }

    /// The month ends that fall between the tip's date and the date of a block at
    /// `time_ms`, each with the programmes' figures as of that day on `state`, the state
    /// before the block, as the regulator's monthly view records them.
    fn month_ends_between(
        &self,
        tip: Tip,
        time_ms: u64,
        state: &dyn StateView,
    ) -> Result<Vec<(Date, Vec<u8>)>, StoreError> {
        if tip.height == 0 {
            // As the audit report: month ends count from the first block's month.
            return Ok(Vec::new());
        }
        let (Ok(last), Ok(next)) = (
            Date::from_unix_ms_cst(tip.time_ms),
            Date::from_unix_ms_cst(time_ms),
        ) else {
            return Ok(Vec::new());
        };
        let mut months = Vec::new();
        let mut end = contracts::report::month_end(last);
        while end < next {
            // The loans' figures from the programmes' loan clocks: a read of a few entries
            // per programme, where reading every loan would stall this commit.
            let figures = contracts::report::month_figures_with(state, |id, programme| {
                self.programme_figures(id, programme, end)
            })?;
            months.push((end, serde_json::to_vec(&figures).expect("JSON of figures")));
            match Date::from_days(end.days_since_epoch() + 1) {
                Ok(following) => end = contracts::report::month_end(following),
                Err(_) => break,
            }
        }
        Ok(months)
    }

    /// The transactions that name the record `kind`/`id`, newest first, from before
    /// `before` (a location; `None` from the newest), at most `limit`.
    pub fn subject_txs(
        &self,
        kind: &str,
        id: &str,
        before: Option<TxLocation>,
        limit: usize,
    ) -> Result<Vec<TxLocation>, StoreError> {
        let start = subject_key(kind, id, 0, 0);
        let end = match before {
            Some(at) => subject_key(kind, id, at.height, at.index),
            None => subject_key(kind, id, u64::MAX, u32::MAX),
        };
        let prefix_len = start.len() - 12;
        self.0
            .index_range(Space::Subjects, &start, Some(&end), true)
            .take(limit)
            .map(|entry| {
                let (k, _) = entry?;
                let at = &k[prefix_len..];
                let height = <[u8; 8]>::try_from(&at[..8]).expect("eight bytes");
                let index = <[u8; 4]>::try_from(&at[8..]).expect("four bytes");
                Ok(TxLocation {
                    height: u64::from_be_bytes(height),
                    index: u32::from_be_bytes(index),
                })
            })
            .collect()
    }

    /// Whether any committed transaction names the record `kind`/`id`.
    pub fn has_subject(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        Ok(!self.subject_txs(kind, id, None, 1)?.is_empty())
    }

    /// The policies issued under the rate filing at state key `filing`, in id order: the
    /// page from `offset` of at most `limit`, and how many there are in all.
    pub fn filing_policies(
        &self,
        filing: &[u8],
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<String>, usize), StoreError> {
        let total = self.number::<8>(Space::FilingCounts, filing)? as usize;
        if limit == 0 || offset >= total {
            return Ok((Vec::new(), total));
        }
        let prefix = filing_policy_key(filing, "");
        let mut page = Vec::new();
        for entry in self
            .0
            .index_scan(Space::FilingPolicies, &prefix)
            .skip(offset)
            .take(limit)
        {
            let (k, _) = entry?;
            let id = std::str::from_utf8(&k[prefix.len()..])
                .map_err(|_| StoreError::Corrupt("a filing's policy index entry".into()))?;
            page.push(id.to_string());
        }
        Ok((page, total))
    }

    /// The organisations' running totals, per organisation and column of `audit report`'s
    /// organisation table.
    pub fn organisation_sums(&self) -> Result<BTreeMap<Id, BTreeMap<OrgColumn, u128>>, StoreError> {
        let corrupt = || StoreError::Corrupt("an organisation's total".into());
        let mut sums: BTreeMap<Id, BTreeMap<OrgColumn, u128>> = BTreeMap::new();
        for entry in self.0.index_scan(Space::OrgTotals, &[]) {
            let (k, v) = entry?;
            let text = std::str::from_utf8(&k).map_err(|_| corrupt())?;
            let (org, column) = text.split_once('\0').ok_or_else(corrupt)?;
            let column = OrgColumn::from_name(column).ok_or_else(corrupt)?;
            let org = Id::new(org).map_err(|_| corrupt())?;
            sums.entry(org)
                .or_default()
                .insert(column, be_number::<16>(&v)?);
        }
        Ok(sums)
    }

    /// A programme's active loans' outstanding principal, and the part of it overdue on
    /// `date`, from its loan clocks: a read of one entry per day on which some loan
    /// becomes overdue, not of every loan.
    pub fn programme_principal(
        &self,
        programme: &Id,
        date: Date,
    ) -> Result<(u128, u128), StoreError> {
        let prefix = loan_clock_key(programme.as_str(), None);
        let prefix = &prefix[..prefix.len() - 4];
        let late = loan_clock_key(programme.as_str(), Some(date));
        let (mut outstanding, mut overdue) = (0u128, 0u128);
        for entry in self.0.index_scan(Space::LoanClocks, prefix) {
            let (k, v) = entry?;
            let fen = be_number::<16>(&v)?;
            outstanding += fen;
            // Overdue on `date`: the last day not overdue is before it.
            if k.as_slice() < late.as_slice() {
                overdue += fen;
            }
        }
        Ok((outstanding, overdue))
    }

    /// A programme's R5 figures as of `date`, with its loans' figures from the loan clocks
    /// ([`Index::programme_principal`]): the same figures as
    /// `contracts::programme::figures`, without reading every loan.
    pub fn programme_figures(
        &self,
        id: &Id,
        programme: &Programme,
        date: Date,
    ) -> Result<contracts::programme::Figures, StoreError> {
        let (outstanding, overdue) = self.programme_principal(id, date)?;
        Ok(contracts::programme::figures_from(
            programme,
            outstanding,
            overdue,
        ))
    }

    /// The claims on `desk`, of one insurer's or one programme's when they are named (a
    /// programme with its insurer), in (insurer, programme, claim) order: the page from
    /// `offset` of at most `limit`.
    pub fn desk_claims(
        &self,
        desk: Desk,
        insurer: Option<&str>,
        programme: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Id>, StoreError> {
        let prefix = desk_key(desk, insurer, insurer.and(programme), None);
        let corrupt = || StoreError::Corrupt("a claims desk entry".into());
        let mut page = Vec::new();
        for entry in self
            .0
            .index_scan(Space::ClaimDesk, &prefix)
            .skip(offset)
            .take(limit)
        {
            let (k, _) = entry?;
            let id = k.rsplit(|b| *b == 0).next().ok_or_else(corrupt)?;
            let id = std::str::from_utf8(id).map_err(|_| corrupt())?;
            page.push(Id::new(id).map_err(|_| corrupt())?);
        }
        Ok(page)
    }

    /// How many claims each insurer has on `desk`, of one insurer or one programme when
    /// they are named (a programme with its insurer): a read of one count per programme.
    pub fn desk_counts(
        &self,
        desk: Desk,
        insurer: Option<&str>,
        programme: Option<&str>,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut prefix = vec![desk.byte()];
        if let Some(insurer) = insurer {
            prefix.extend_from_slice(insurer.as_bytes());
            prefix.push(0);
        }
        let corrupt = || StoreError::Corrupt("a count of the claims desk".into());
        let mut counts = BTreeMap::new();
        for entry in self.0.index_scan(Space::DeskCounts, &prefix) {
            let (k, v) = entry?;
            let text = std::str::from_utf8(&k[1..]).map_err(|_| corrupt())?;
            let (of, of_programme) = text.split_once('\0').ok_or_else(corrupt)?;
            if programme.is_some_and(|p| p != of_programme) {
                continue;
            }
            *counts.entry(of.to_string()).or_default() += be_number::<8>(&v)? as u64;
        }
        Ok(counts)
    }

    /// The month ends recorded, in date order, each with the programmes' figures (JSON).
    pub fn month_ends(&self) -> Result<Vec<(Date, Vec<u8>)>, StoreError> {
        self.0
            .index_scan(Space::MonthEnds, &[])
            .map(|entry| {
                let (k, v) = entry?;
                let days = <[u8; 4]>::try_from(k.as_slice())
                    .map_err(|_| StoreError::Corrupt("a month-end key".into()))?;
                let date = Date::from_days((u32::from_be_bytes(days) ^ 0x8000_0000) as i32)
                    .map_err(|e| StoreError::Corrupt(format!("a month-end key: {e}")))?;
                Ok((date, v))
            })
            .collect()
    }
}

/// For each policy `block` issues, the state key of the rate filing it was issued under
/// (R3.2: the first filing of its insurer for the product that allows its rate on its
/// date), read on the state after the block.
fn filed_policies(
    block: &Block,
    receipts: &[Receipt],
    after: &dyn StateView,
) -> Vec<(Vec<u8>, Id)> {
    let issued: Vec<&Id> = block
        .txs
        .iter()
        .zip(receipts)
        .filter_map(|(tx, receipt)| match (&tx.body.action, receipt.outcome) {
            (Action::IssuePolicy(p), Outcome::Accepted) => Some(&p.id),
            _ => None,
        })
        .collect();
    // A block's policies share a few programmes, rates and one date: each filing is
    // looked up (a programme record decoded, the filings scanned) once per block.
    let mut filings: HashMap<(Id, Bps, Date), Option<Vec<u8>>> = HashMap::new();
    issued
        .into_iter()
        .filter_map(|id| {
            let policy: Policy = contracts::store::read(after, &keys::policy(id))?;
            let filing = filings
                .entry((
                    policy.programme.clone(),
                    policy.premium_rate_bps,
                    policy.issued,
                ))
                .or_insert_with(|| {
                    let programme: Programme =
                        contracts::store::read(after, &keys::programme(&policy.programme))?;
                    let (key, _) = contracts::programme::filing_of(
                        after,
                        &programme.terms.insurer,
                        &programme.terms.product,
                        policy.premium_rate_bps,
                        policy.issued,
                    )?;
                    Some(key)
                })
                .clone()?;
            Some((filing, id.clone()))
        })
        .collect()
}

/// What `writes` change in the organisations' totals: what each written policy, fund or
/// claim record added before (on `before`) taken away, what it adds after (on `after`)
/// added.
fn organisation_changes(
    before: &dyn StateView,
    after: &dyn StateView,
    writes: &WriteSet,
) -> Vec<(Id, OrgColumn, i128)> {
    let mut changes = Vec::new();
    for (key, value) in writes.iter() {
        let record = [keys::POLICY, keys::FUND, keys::CLAIM]
            .iter()
            .any(|prefix| key.starts_with(prefix.as_bytes()));
        if !record {
            continue;
        }
        if let Some(old) = before.get(key) {
            for (org, column, fen) in
                contracts::report::organisation_contributions(before, key, &old)
            {
                changes.push((org, column, -i128::from(fen)));
            }
        }
        if let Some(new) = value {
            for (org, column, fen) in contracts::report::organisation_contributions(after, key, new)
            {
                changes.push((org, column, i128::from(fen)));
            }
        }
    }
    changes
}

/// What `writes` change in the programmes' loan clocks: each written loan record's place
/// before (on `before`) taken away, its place after added.
pub fn loan_clock_changes(before: &dyn StateView, writes: &WriteSet) -> Vec<LoanClockChange> {
    let mut changes = Vec::new();
    for (key, value) in writes.iter() {
        if !key.starts_with(keys::LOAN.as_bytes()) {
            continue;
        }
        before.read_with(key, &mut |old| {
            if let Some((programme, late_after, fen)) = loan_clock(old) {
                changes.push((programme, late_after, -i128::from(fen)));
            }
        });
        if let Some((programme, late_after, fen)) = value.as_deref().and_then(loan_clock) {
            changes.push((programme, late_after, i128::from(fen)));
        }
    }
    changes
}

/// What `writes` change on the claims desk: each written claim record's places before (on
/// `before`) taken away and its places after (on `after`) given, but for the places it
/// keeps.
pub fn desk_changes(
    before: &dyn StateView,
    after: &dyn StateView,
    writes: &WriteSet,
) -> Vec<DeskChange> {
    let mut changes = Vec::new();
    for (key, value) in writes.iter() {
        if !key.starts_with(keys::CLAIM.as_bytes()) {
            continue;
        }
        let old = before
            .get(key)
            .map(|old| desk_entries(before, key, &old))
            .unwrap_or_default();
        let new = value
            .as_deref()
            .map(|new| desk_entries(after, key, new))
            .unwrap_or_default();
        for entry in &old {
            if !new.contains(entry) {
                changes.push((entry.clone(), false));
            }
        }
        for entry in new {
            if !old.contains(&entry) {
                changes.push((entry, true));
            }
        }
    }
    changes
}

/// `organisation NUL column`.
fn org_total_key(org: &str, column: OrgColumn) -> Vec<u8> {
    [org.as_bytes(), &[0], column.name().as_bytes()].concat()
}

/// A big-endian number of `N` bytes (at most 16) from an index entry.
fn be_number<const N: usize>(bytes: &[u8]) -> Result<u128, StoreError> {
    let bytes: [u8; N] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("an index count is not a number".into()))?;
    Ok(bytes.iter().fold(0u128, |n, b| n << 8 | u128::from(*b)))
}

/// `filing key NUL policy id` (a filing's key ends with its hash in hex, so no two
/// filings' entries run into each other).
fn filing_policy_key(filing: &[u8], policy: &str) -> Vec<u8> {
    [filing, &[0], policy.as_bytes()].concat()
}

/// `programme NUL day`: the day is [`day_key`] of the last day not overdue, or all ones
/// for loans that do not fall overdue before their record changes (after every date).
fn loan_clock_key(programme: &str, late_after: Option<Date>) -> Vec<u8> {
    [
        programme.as_bytes(),
        &[0],
        &late_after.map_or([0xff; 4], day_key),
    ]
    .concat()
}

/// A loan record's place in its programme's loan clocks, if it is active.
pub fn loan_clock(record: &[u8]) -> Option<(Id, Option<Date>, u64)> {
    let clock = contracts::loan::overdue_clock(record)?;
    let programme = contracts::store::loan_programme(record)?;
    Some((
        Id::new(programme).ok()?,
        clock.late_after,
        clock.principal.0,
    ))
}

/// `desk insurer NUL programme NUL claim`, or the prefix of it up to the first part not
/// given (each given part ends with its NUL but the claim).
fn desk_key(
    desk: Desk,
    insurer: Option<&str>,
    programme: Option<&str>,
    claim: Option<&str>,
) -> Vec<u8> {
    let mut k = vec![desk.byte()];
    for part in [insurer, programme].into_iter().map_while(|p| p) {
        k.extend_from_slice(part.as_bytes());
        k.push(0);
    }
    if let (Some(_), Some(_), Some(claim)) = (insurer, programme, claim) {
        k.extend_from_slice(claim.as_bytes());
    }
    k
}

/// `desk insurer NUL programme`: how many claims of the programme are on the desk.
fn desk_count_key(desk: Desk, insurer: &str, programme: &str) -> Vec<u8> {
    [
        &[desk.byte()],
        insurer.as_bytes(),
        &[0],
        programme.as_bytes(),
    ]
    .concat()
}

/// The places on the claims desk of the claim record `value` at state key `key`, with
/// its programme's insurer read from `state`: open, or closed and perhaps late.
pub fn desk_entries(state: &dyn StateView, key: &[u8], value: &[u8]) -> Vec<DeskEntry> {
    use contracts::store::{Claim, ClaimStatus};
    let Some(claim) = std::str::from_utf8(&key[keys::CLAIM.len()..])
        .ok()
        .and_then(|id| Id::new(id).ok())
    else {
        return Vec::new();
    };
    let record: Claim = contracts::store::decode_record(value);
    let Some(programme) =
        contracts::store::read::<Programme>(state, &keys::programme(&record.programme))
    else {
        return Vec::new();
    };
    let desks: &[Desk] = match record.status {
        ClaimStatus::Filed | ClaimStatus::AwaitingDocuments | ClaimStatus::Approved => {
            &[Desk::Open]
        }
        _ if record.late => &[Desk::Closed, Desk::Late],
        _ => &[Desk::Closed],
    };
    desks
        .iter()
        .map(|&desk| DeskEntry {
            desk,
            insurer: programme.terms.insurer.clone(),
            programme: record.programme.clone(),
            claim: claim.clone(),
        })
        .collect()
}

/// A date as a key that sorts as dates do (days since the epoch, sign bit flipped).
fn day_key(date: Date) -> [u8; 4] {
    ((date.days_since_epoch() as u32) ^ 0x8000_0000).to_be_bytes()
}

/// `kind NUL id NUL height index`: ids never hold a NUL ([`ledger::Id`]), so no two
/// records' keys run into each other.
fn subject_key(kind: &str, id: &str, height: u64, index: u32) -> Vec<u8> {
    [
        kind.as_bytes(),
        &[0],
        id.as_bytes(),
        &[0],
        &height.to_be_bytes(),
        &index.to_be_bytes(),
    ]
    .concat()
}
