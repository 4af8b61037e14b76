//! R13, protocol version 2: the single-obligor limit (自留责任余额).
//!
//! An insurer's retained liability on an enterprise is the sum of the retained exposure of
//! its policies on that enterprise (R13.1). The rulebook keeps that sum in state, one record
//! per insurer and enterprise, so that `IssuePolicy` reads one record, not every policy:
//!
//! | key                                   | value                          |
//! |---------------------------------------|--------------------------------|
//! | `oblig/<insurer>\0<enterprise>`       | retained liability ([`Fen`])   |
//!
//! A record exists only while its sum is above zero. The sums move with the records that
//! make them: after every accepted transaction, [`track`] compares the exposure of each
//! policy whose policy or loan record the transaction wrote, before and after, and moves
//! the sum by the difference. So no rule needs to remember to update them, and a later
//! rule that changes a loan is counted too. The version-2 migration ([`rebuild`]) computes
//! the same records from the policies and loans already on the ledger (R12.4).

use std::collections::{BTreeMap, BTreeSet};

use ledger::action::CreateProgramme;
use ledger::state::{Overlay, StateView, WriteSet};
use ledger::{codec, Code, Fen, Id, BPS_WHOLE};

use crate::governance;
use crate::store::{self, ensure, keys, Loan, LoanStatus, Policy, Programme, Work};

/// R13.3: the limit the version-2 migration sets, and a version-2 genesis's default.
pub const OBLIGOR_LIMIT_FEN_DEFAULT: Fen = Fen(500_000_000);

const PREFIX: &str = "oblig/";

/// The key of `insurer`'s retained liability on `enterprise`.
pub fn key(insurer: &Id, enterprise: &Id) -> Vec<u8> {
    let mut key = Vec::with_capacity(PREFIX.len() + insurer.as_str().len() + 1 + 64);
    key.extend_from_slice(PREFIX.as_bytes());
    key.extend_from_slice(insurer.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(enterprise.as_str().as_bytes());
    key
}

/// R13.1: `floor(floor(E × insurer_bps / 10000) × (10000 − quota_bps) / 10000)`.
pub fn retained_exposure(exposure: Fen, terms: &CreateProgramme) -> Fen {
    let whole = u128::from(BPS_WHOLE);
    let insurer = u128::from(exposure.0) * u128::from(terms.split.insurer_bps) / whole;
    let kept = whole - u128::from(terms.reinsurance_quota_bps.min(BPS_WHOLE));
    // Both factors are at most 1, so the result is at most E: it fits in u64.
    Fen((insurer * kept / whole) as u64)
}

/// `insurer`'s retained liability on `enterprise` (R13.1).
pub fn retained_liability(state: &dyn StateView, insurer: &Id, enterprise: &Id) -> Fen {
    store::read(state, &key(insurer, enterprise)).unwrap_or(Fen::ZERO)
}

/// The single-obligor limit in force at `height` (R13.3): the parameter of the height's
/// configuration, or the default where none is recorded (an offline scenario).
pub fn limit(state: &dyn StateView, height: u64) -> Fen {
    governance::config_at(state, height)
        .and_then(|config| config.params.obligor_limit_fen)
        .unwrap_or(OBLIGOR_LIMIT_FEN_DEFAULT)
}

/// R13.2: a new policy of `principal` under `terms` on `enterprise` must leave its
/// insurer's retained liability within the limit in force.
pub fn check(
    work: &Work,
    terms: &CreateProgramme,
    enterprise: &Id,
    principal: Fen,
) -> Result<(), Code> {
    let held = retained_liability(work.view(), &terms.insurer, enterprise);
    let added = retained_exposure(principal, terms);
    let total = u128::from(held.0) + u128::from(added.0);
    ensure(
        total <= u128::from(limit(work.view(), work.height).0),
        Code::ObligorLimitExceeded,
    )
}

/// What R13.1 needs of a programme: its insurer, and the terms of its retained share.
struct Share {
    insurer: Id,
    terms: CreateProgramme,
}

/// The programmes read while one write set is tracked, each decoded once.
struct Programmes<'a> {
    state: &'a dyn StateView,
    read: BTreeMap<Id, Share>,
}

impl<'a> Programmes<'a> {
    fn new(state: &'a dyn StateView) -> Self {
        Programmes {
            state,
            read: BTreeMap::new(),
        }
    }

    /// A programme's insurer and terms never change once it is created.
    fn share(&mut self, id: &Id) -> &Share {
        let state = self.state;
        self.read.entry(id.clone()).or_insert_with(|| {
            let programme: Programme =
                store::read(state, &keys::programme(id)).expect("a policy's programme is recorded");
            Share {
                insurer: programme.terms.insurer.clone(),
                terms: programme.terms,
            }
        })
    }
}

/// R13.1's `E` of a loan: its outstanding principal while it is `Active`, else nothing.
fn loan_exposure(loan: &Loan) -> Fen {
    match loan.status {
        LoanStatus::Active => loan.outstanding_principal_fen,
        LoanStatus::Repaid | LoanStatus::Claimed => Fen::ZERO,
    }
}

/// A policy's part of its insurer's retained liability on its enterprise, with the key
/// it counts under: R13.1's `E` is the principal until the loan is disbursed, the loan's
/// outstanding principal while it is `Active`, and nothing once it is repaid or claimed.
fn exposure_of(
    state: &dyn StateView,
    programmes: &mut Programmes<'_>,
    policy: &Policy,
) -> (Vec<u8>, Fen) {
    let exposure = match &policy.loan {
        None => policy.loan_principal_fen,
        Some(loan) => {
            let loan: Loan =
                store::read(state, &keys::loan(loan)).expect("a policy's loan is recorded");
            loan_exposure(&loan)
        }
    };
    let share = programmes.share(&policy.programme);
    (
        key(&share.insurer, &policy.enterprise),
        retained_exposure(exposure, &share.terms),
    )
}

/// The writes that move the retained liabilities by what `writes` (one accepted
/// transaction's, on `before`) changed of policies and loans.
///
/// A written policy record is compared with itself before (a new policy, or one whose loan
/// was just disbursed); a written loan whose policy record was not written is compared with
/// itself before (a repayment, a claim), which needs neither the policy nor a second read
/// of the loan: the loan names its programme and enterprise.
pub fn track(before: &dyn StateView, writes: &WriteSet) -> WriteSet {
    let after = Overlay::over(before, writes);
    let mut programmes_before = Programmes::new(before);
    let mut programmes_after = Programmes::new(&after);
    let mut moves: BTreeMap<Vec<u8>, i128> = BTreeMap::new();
    let mut add = |(key, fen): (Vec<u8>, Fen), sign: i128| {
        *moves.entry(key).or_default() += sign * i128::from(fen.0);
    };
    let mut policies_written = BTreeSet::new();
    for (key, value) in writes.iter() {
        if let Some(id) = key.strip_prefix(keys::POLICY.as_bytes()) {
            policies_written.insert(id.to_vec());
            if let Some(policy) = store::read::<Policy>(before, key) {
                add(exposure_of(before, &mut programmes_before, &policy), -1);
            }
            if let Some(bytes) = value {
                let policy: Policy = store::decode_record(bytes);
                add(exposure_of(&after, &mut programmes_after, &policy), 1);
            }
        }
    }
    for (key, value) in writes.iter() {
        if !key.starts_with(keys::LOAN.as_bytes()) {
            continue;
        }
        let was: Option<Loan> = store::read(before, key);
        let is: Option<Loan> = value.as_deref().map(store::decode_record);
        let Some(loan) = is.as_ref().or(was.as_ref()) else {
            continue;
        };
        if policies_written.contains(loan.policy.as_str().as_bytes()) {
            // Counted with its policy above.
            continue;
        }
        let share = programmes_after.share(&loan.programme);
        let key = self::key(&share.insurer, &loan.enterprise);
        let retained = |loan: &Option<Loan>| {
            loan.as_ref().map_or(Fen::ZERO, |l| {
                retained_exposure(loan_exposure(l), &share.terms)
            })
        };
        let delta = i128::from(retained(&is).0) - i128::from(retained(&was).0);
        *moves.entry(key).or_default() += delta;
    }
    let mut out = WriteSet::new();
    for (key, delta) in moves {
        if delta == 0 {
            continue;
        }
        let held: Fen = store::read(&after, &key).unwrap_or(Fen::ZERO);
        // A sum the migration had to hold at u64::MAX (R1.5 has no room for more) can
        // fall below what it stood for; it saturates as the rebuild does, never wraps.
        let sum = (i128::from(held.0) + delta).clamp(0, i128::from(u64::MAX));
        if sum == 0 {
            out.delete(key);
        } else {
            out.put(key, codec::encode(&Fen(sum as u64)));
        }
    }
    out
}

/// R12.4 for version 2: every retained liability, computed from the policies and loans on
/// the ledger.
pub fn rebuild(state: &dyn StateView) -> WriteSet {
    let mut sums: BTreeMap<Vec<u8>, u128> = BTreeMap::new();
    let mut programmes = Programmes::new(state);
    for (_, bytes) in state.scan_prefix(keys::POLICY.as_bytes()) {
        let policy: Policy = store::decode_record(&bytes);
        let (key, fen) = exposure_of(state, &mut programmes, &policy);
        *sums.entry(key).or_default() += u128::from(fen.0);
    }
    let mut writes = WriteSet::new();
    for (key, sum) in sums {
        if sum > 0 {
            let sum = u64::try_from(sum).unwrap_or(u64::MAX);
            writes.put(key, codec::encode(&Fen(sum)));
        }
    }
    writes
}

/// Every retained liability, as (insurer, enterprise, sum), in key order: for readers.
pub fn all(state: &dyn StateView) -> Vec<(Id, Id, Fen)> {
    state
        .scan_prefix(PREFIX.as_bytes())
        .into_iter()
        .filter_map(|(key, value)| {
            let rest = std::str::from_utf8(&key[PREFIX.len()..]).ok()?;
            let (insurer, enterprise) = rest.split_once('\0')?;
            Some((
                Id::new(insurer).ok()?,
                Id::new(enterprise).ok()?,
                store::decode_record(&value),
            ))
        })
        .collect()
}
