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

/// A policy's part of its insurer's retained liability on its enterprise, with the key
/// it counts under: R13.1's `E` is the principal until the loan is disbursed, the loan's
/// outstanding principal while it is `Active`, and nothing once it is repaid or claimed.
fn exposure_of(state: &dyn StateView, policy: &Policy) -> (Vec<u8>, Fen) {
    let programme: Programme = store::read(state, &keys::programme(&policy.programme))
        .expect("a policy's programme is recorded");
    let exposure = match &policy.loan {
        None => policy.loan_principal_fen,
        Some(loan) => {
            let loan: Loan =
                store::read(state, &keys::loan(loan)).expect("a policy's loan is recorded");
            match loan.status {
                LoanStatus::Active => loan.outstanding_principal_fen,
                LoanStatus::Repaid | LoanStatus::Claimed => Fen::ZERO,
            }
        }
    };
    (
        key(&programme.terms.insurer, &policy.enterprise),
        retained_exposure(exposure, &programme.terms),
    )
}

/// The writes that move the retained liabilities by what `writes` (one accepted
/// transaction's, on `before`) changed of policies and loans.
pub fn track(before: &dyn StateView, writes: &WriteSet) -> WriteSet {
    let mut policies = BTreeSet::new();
    for (key, value) in writes.iter() {
        if let Some(id) = key.strip_prefix(keys::POLICY.as_bytes()) {
            policies.insert(id.to_vec());
        } else if key.starts_with(keys::LOAN.as_bytes()) {
            let record = value.clone().or_else(|| before.get(key));
            if let Some(bytes) = record {
                let loan: Loan = store::decode_record(&bytes);
                policies.insert(loan.policy.as_str().as_bytes().to_vec());
            }
        }
    }
    let after = Overlay::over(before, writes);
    let mut moves: BTreeMap<Vec<u8>, i128> = BTreeMap::new();
    for id in policies {
        let mut policy_key = keys::POLICY.as_bytes().to_vec();
        policy_key.extend_from_slice(&id);
        let was: Option<Policy> = store::read(before, &policy_key);
        let is: Option<Policy> = store::read(&after, &policy_key);
        for (policy, sign) in [(was, -1i128), (is, 1i128)] {
            if let Some(policy) = policy {
                let state: &dyn StateView = if sign < 0 { before } else { &after };
                let (key, fen) = exposure_of(state, &policy);
                *moves.entry(key).or_default() += sign * i128::from(fen.0);
            }
        }
    }
    let mut out = WriteSet::new();
    for (key, delta) in moves {
        if delta == 0 {
            continue;
        }
        let held: Fen = store::read(&after, &key).unwrap_or(Fen::ZERO);
        let sum = i128::from(held.0) + delta;
        assert!(
            (0..=i128::from(u64::MAX)).contains(&sum),
            "a retained liability stays within 0..=u64::MAX (each exposure is at most a u64 principal, counted once)"
        );
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
    for (_, bytes) in state.scan_prefix(keys::POLICY.as_bytes()) {
        let policy: Policy = store::decode_record(&bytes);
        let (key, fen) = exposure_of(state, &policy);
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
