//! What an accepted transaction decided that the systems around the ledger act on: a
//! claim approved (its split and due dates) or rejected, a claim's payment confirmed, a
//! programme suspended or resumed, a fund's yearly cap reached.
//!
//! Each is read from what the transaction wrote, compared with the state just before it
//! ([`of`]), so it names what happened whichever action caused it (a claim's approval
//! runs a risk review that may suspend its programme and may exhaust its fund's cap).
//! [`crate::chain::execute_block`] collects them per transaction; a node keeps them with
//! the block, for its event feed. They are never hashed or signed: the state they are
//! read from is.

use bincode::{Decode, Encode};
use ledger::api::events::{DecisionView, SplitView};
use ledger::state::{StateView, WriteSet};
use ledger::{Date, Fen, Id, Text};

use crate::store::{self, keys, ClaimStatus, ProgrammeStatus, Settlement, Warning};

/// One decision of the rulebook, as of the transaction that made it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Decision {
    /// R7.3: the claim's loss settled, with the date of the decision and the date the
    /// insurer must pay the bank by.
    ClaimApproved {
        claim: Id,
        programme: Id,
        bank: Id,
        loss_fen: Fen,
        settlement: Settlement,
        decided: Date,
        decision_due: Option<Date>,
        payment_due: Option<Date>,
    },
    /// R7.3: the claim rejected, with the reason code.
    ClaimRejected {
        claim: Id,
        programme: Id,
        bank: Id,
        reason: Text,
        decided: Date,
    },
    /// R7.4: the bank confirmed the insurer's payment; `late` when after its due date.
    ClaimPaid {
        claim: Id,
        programme: Id,
        bank: Id,
        insurer_pays_bank_fen: Fen,
        paid: Date,
        payment_due: Option<Date>,
        late: bool,
    },
    /// R5.1: a review found a ratio at or above its threshold.
    ProgrammeSuspended {
        programme: Id,
        warnings: Vec<Warning>,
        premium_written_fen: Fen,
        claims_gross_fen: Fen,
    },
    /// R5.2: every party and the regulator resumed it.
    ProgrammeResumed { programme: Id },
    /// R4.3: what the fund paid in `year` reached its annual cap: it pays nothing more
    /// that year.
    FundCapReached {
        fund: Id,
        year: i32,
        paid_fen: Fen,
        annual_cap_fen: Fen,
    },
}

impl Decision {
    /// A stable name of the kind of decision, for machines.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::ClaimApproved { .. } => "ClaimApproved",
            Decision::ClaimRejected { .. } => "ClaimRejected",
            Decision::ClaimPaid { .. } => "ClaimPaid",
            Decision::ProgrammeSuspended { .. } => "ProgrammeSuspended",
            Decision::ProgrammeResumed { .. } => "ProgrammeResumed",
            Decision::FundCapReached { .. } => "FundCapReached",
        }
    }

    /// As the event feed shows it: its `kind` and the figures a consumer acts on (fen,
    /// dates).
    pub fn view(&self) -> DecisionView {
        match self.clone() {
            Decision::ClaimApproved {
                claim,
                programme,
                bank,
                loss_fen,
                settlement: s,
                decided,
                decision_due,
                payment_due,
            } => DecisionView::ClaimApproved {
                bank,
                claim,
                decided,
                decision_due,
                loss_fen,
                payment_due,
                programme,
                split: SplitView {
                    bank_retained_fen: s.bank_retained_fen,
                    fund_direct_fen: s.fund_direct_fen,
                    fund_fen: s.fund_fen,
                    fund_layer_fen: s.fund_layer_fen,
                    fund_shortfall_fen: s.fund_shortfall_fen,
                    insurer_gross_fen: s.insurer_gross_fen,
                    insurer_pays_bank_fen: s.insurer_pays_bank_fen,
                    insurer_retained_fen: s.insurer_retained_fen,
                    reinsurer_fen: s.reinsurer_fen,
                },
            },
            Decision::ClaimRejected {
                claim,
                programme,
                bank,
                reason,
                decided,
            } => DecisionView::ClaimRejected {
                bank,
                claim,
                decided,
                programme,
                reason,
            },
            Decision::ClaimPaid {
                claim,
                programme,
                bank,
                insurer_pays_bank_fen,
                paid,
                payment_due,
                late,
            } => DecisionView::ClaimPaid {
                bank,
                claim,
                insurer_pays_bank_fen,
                late,
                paid,
                payment_due,
                programme,
            },
            Decision::ProgrammeSuspended {
                programme,
                warnings,
                premium_written_fen,
                claims_gross_fen,
            } => DecisionView::ProgrammeSuspended {
                claims_gross_fen,
                premium_written_fen,
                programme,
                warnings: warnings.iter().map(|w| w.as_str().to_string()).collect(),
            },
            Decision::ProgrammeResumed { programme } => {
                DecisionView::ProgrammeResumed { programme }
            }
            Decision::FundCapReached {
                fund,
                year,
                paid_fen,
                annual_cap_fen,
            } => DecisionView::FundCapReached {
                annual_cap_fen,
                fund,
                paid_fen,
                year,
            },
        }
    }
}

/// The decisions in `writes`, one transaction's, on `before`, the state just before it:
/// claims, programmes and funds whose written record moved from one state to the next.
pub fn of(before: &dyn StateView, writes: &WriteSet) -> Vec<Decision> {
    let mut found = Vec::new();
    for (key, value) in writes.iter() {
        let Some(value) = value else { continue };
        if let Some(id) = id_after(key, keys::CLAIM) {
            claim(before, key, id, value, &mut found);
        } else if let Some(id) = id_after(key, keys::PROGRAMME) {
            programme(before, key, id, value, &mut found);
        } else if let Some(id) = id_after(key, keys::FUND) {
            fund(before, key, id, value, &mut found);
        }
    }
    found
}

fn id_after(key: &[u8], prefix: &str) -> Option<Id> {
    let rest = key.strip_prefix(prefix.as_bytes())?;
    Id::new(std::str::from_utf8(rest).ok()?).ok()
}

fn claim(before: &dyn StateView, key: &[u8], id: Id, value: &[u8], found: &mut Vec<Decision>) {
    let new: store::Claim = store::decode_record(value);
    let old: Option<store::Claim> = store::read(before, key);
    let was = old.as_ref().map(|c| c.status);
    if was == Some(new.status) {
        return;
    }
    match new.status {
        ClaimStatus::Approved => {
            if let (Some(settlement), Some(decided)) = (new.settlement, new.decided) {
                found.push(Decision::ClaimApproved {
                    claim: id,
                    programme: new.programme,
                    bank: new.bank,
                    loss_fen: new.loss_fen,
                    settlement,
                    decided,
                    decision_due: new.decision_due,
                    payment_due: new.payment_due,
                });
            }
        }
        ClaimStatus::Rejected => {
            if let Some(decided) = new.decided {
                found.push(Decision::ClaimRejected {
                    claim: id,
                    programme: new.programme,
                    bank: new.bank,
                    reason: new.reject_reason.unwrap_or_default(),
                    decided,
                });
            }
        }
        ClaimStatus::Paid => {
            if let Some(paid) = new.paid {
                found.push(Decision::ClaimPaid {
                    claim: id,
                    programme: new.programme,
                    bank: new.bank,
                    insurer_pays_bank_fen: new
                        .settlement
                        .map(|s| s.insurer_pays_bank_fen)
                        .unwrap_or_default(),
                    paid,
                    payment_due: new.payment_due,
                    late: new.late,
                });
            }
        }
        ClaimStatus::Filed | ClaimStatus::AwaitingDocuments => {}
    }
}

fn programme(before: &dyn StateView, key: &[u8], id: Id, value: &[u8], found: &mut Vec<Decision>) {
    let new: store::Programme = store::decode_record(value);
    let Some(old) = store::read::<store::Programme>(before, key) else {
        return;
    };
    match (old.status, new.status) {
        (ProgrammeStatus::Active, ProgrammeStatus::Suspended) => {
            found.push(Decision::ProgrammeSuspended {
                programme: id,
                warnings: new.warnings,
                premium_written_fen: new.premium_written_fen,
                claims_gross_fen: new.claims_gross_fen,
            })
        }
        (ProgrammeStatus::Suspended, ProgrammeStatus::Active) => {
            found.push(Decision::ProgrammeResumed { programme: id })
        }
        _ => {}
    }
}

fn fund(before: &dyn StateView, key: &[u8], id: Id, value: &[u8], found: &mut Vec<Decision>) {
    let new: store::Fund = store::decode_record(value);
    let old: Option<store::Fund> = store::read(before, key);
    let cap = new.annual_cap_fen;
    for &(year, paid) in &new.paid_by_year {
        let paid_before = old
            .as_ref()
            .and_then(|f| f.paid_by_year.iter().find(|(y, _)| *y == year))
            .map(|(_, p)| *p)
            .unwrap_or_default();
        if paid_before < cap && paid >= cap {
            found.push(Decision::FundCapReached {
                fund: id.clone(),
                year,
                paid_fen: paid,
                annual_cap_fen: cap,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::scenario;
    use crate::store::{Claim, Fund, Programme};
    use ledger::state::StateStore;

    /// Every worked example shipped with the rulebook (the later versions' too).
    fn examples() -> Vec<(String, scenario::Outcome)> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../network-configs/scenarios");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        assert!(names.len() >= 3);
        names
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).unwrap();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                (name, scenario::run(&text).unwrap())
            })
            .collect()
    }

    #[test]
    fn decisions_agree_with_the_records_they_leave() {
        let mut approvals = 0;
        for (name, outcome) in examples() {
            let d = &outcome.decisions;
            let state = &outcome.store;
            for (id, claim) in store::scan::<Claim>(state, keys::CLAIM) {
                let approved: Vec<_> = d
                    .iter()
                    .filter_map(|(_, d)| match d {
                        Decision::ClaimApproved {
                            claim: c,
                            settlement,
                            payment_due,
                            ..
                        } if *c == id => Some((*settlement, *payment_due)),
                        _ => None,
                    })
                    .collect();
                match claim.settlement {
                    Some(settlement) => {
                        assert_eq!(
                            approved,
                            vec![(settlement, claim.payment_due)],
                            "{name} {id}"
                        );
                        approvals += 1;
                    }
                    None => assert!(approved.is_empty(), "{name} {id}"),
                }
                let paid: Vec<_> = d
                    .iter()
                    .filter_map(|(_, d)| match d {
                        Decision::ClaimPaid {
                            claim: c,
                            paid,
                            late,
                            ..
                        } if *c == id => Some((*paid, *late)),
                        _ => None,
                    })
                    .collect();
                let expected: Vec<_> = claim.paid.map(|p| (p, claim.late)).into_iter().collect();
                assert_eq!(paid, expected, "{name} {id}");
                let rejected = d.iter().any(
                    |(_, d)| matches!(d, Decision::ClaimRejected { claim: c, .. } if *c == id),
                );
                assert_eq!(
                    rejected,
                    claim.status == ClaimStatus::Rejected,
                    "{name} {id}"
                );
            }
            for (id, programme) in store::scan::<Programme>(state, keys::PROGRAMME) {
                let mut balance = 0i64;
                for (_, d) in d {
                    match d {
                        Decision::ProgrammeSuspended { programme: p, .. } if *p == id => {
                            assert_eq!(balance, 0, "{name} {id}: suspended twice");
                            balance += 1;
                        }
                        Decision::ProgrammeResumed { programme: p } if *p == id => {
                            assert_eq!(balance, 1, "{name} {id}: resumed while active");
                            balance -= 1;
                        }
                        _ => {}
                    }
                }
                let suspended = programme.status == ProgrammeStatus::Suspended;
                assert_eq!(balance, i64::from(suspended), "{name} {id}");
            }
            for (id, fund) in store::scan::<Fund>(state, keys::FUND) {
                let mut reached: BTreeMap<i32, usize> = BTreeMap::new();
                for (_, d) in d {
                    if let Decision::FundCapReached {
                        fund: f,
                        year,
                        paid_fen,
                        annual_cap_fen,
                    } = d
                    {
                        if *f == id {
                            assert!(paid_fen >= annual_cap_fen);
                            *reached.entry(*year).or_default() += 1;
                        }
                    }
                }
                let expected: BTreeMap<i32, usize> = fund
                    .paid_by_year
                    .iter()
                    .filter(|(_, paid)| *paid >= fund.annual_cap_fen)
                    .map(|(year, _)| (*year, 1))
                    .collect();
                assert_eq!(reached, expected, "{name} {id}");
            }
        }
        assert!(approvals > 0, "the worked examples approve claims");
    }

    #[test]
    fn the_worked_examples_decide_approvals_payments_suspensions_and_resumptions() {
        let kinds: std::collections::BTreeSet<&str> = examples()
            .iter()
            .flat_map(|(_, o)| o.decisions.iter().map(|(_, d)| d.kind()))
            .collect();
        let expected: std::collections::BTreeSet<&str> = [
            "ClaimApproved",
            "ClaimPaid",
            "ProgrammeSuspended",
            "ProgrammeResumed",
        ]
        .into();
        assert_eq!(kinds, expected);
    }

    fn fund(paid_by_year: Vec<(i32, Fen)>) -> Fund {
        Fund {
            government: Id::new("gov").unwrap(),
            annual_cap_fen: Fen(100),
            balance_fen: Fen(1_000),
            subsidies_paid_fen: Fen(0),
            compensation_paid_fen: Fen(0),
            paid_by_year,
        }
    }

    fn decided(before: Option<&Fund>, after: &Fund) -> Vec<Decision> {
        let key = keys::fund(&Id::new("fund-1").unwrap());
        let mut state = ledger::state::MemoryStore::new();
        if let Some(before) = before {
            let mut w = WriteSet::new();
            w.put(key.clone(), ledger::codec::encode(before));
            state.apply(&w);
        }
        let mut writes = WriteSet::new();
        writes.put(key, ledger::codec::encode(after));
        of(&state, &writes)
    }

    #[test]
    fn a_fund_reaches_its_cap_once_a_year() {
        let reached = |year, paid| Decision::FundCapReached {
            fund: Id::new("fund-1").unwrap(),
            year,
            paid_fen: Fen(paid),
            annual_cap_fen: Fen(100),
        };
        let below = fund(vec![(2025, Fen(90))]);
        let at = fund(vec![(2025, Fen(100))]);
        assert_eq!(decided(Some(&below), &at), vec![reached(2025, 100)]);
        // Already at the cap: nothing new.
        assert_eq!(decided(Some(&at), &at), vec![]);
        // A payment that stays below it: nothing.
        assert_eq!(decided(None, &below), vec![]);
        // A new year's first payment that takes the whole cap.
        let next = fund(vec![(2025, Fen(100)), (2026, Fen(120))]);
        assert_eq!(decided(Some(&at), &next), vec![reached(2026, 120)]);
    }
}
