//! The figures a validator records at a month end (the regulator's monthly view), on a
//! large loan book: from the programmes' loan clocks, as the node computes them, against
//! reading every loan, as the rulebook's report does (and the node did before).
//!
//! `cargo bench -p node --bench month_end [-- LOANS]` (default 100,000 loans over eight
//! programmes) writes the loans in blocks of 10,000 through `Store::commit`, as a
//! validator does, checks that both readings give the same figures, and prints the median
//! and the maximum of five of each.

mod common;

use std::time::Instant;

use common::{args, commit, measure, store_with_programmes, PROGRAMMES};
use contracts::store::{keys, Loan, LoanStatus};
use ledger::state::WriteSet;
use ledger::{Date, Fen, Id};

const BLOCK_LOANS: usize = 10_000;
fn main() {
    let args = args();
    let loans: usize = args.first().map_or(100_000, |a| a.parse().expect("LOANS"));
    let (store, dir, mut tip) = store_with_programmes("month-end");

    let started = Instant::now();
    let mut written = 0;
    while written < loans {
        let mut writes = WriteSet::new();
        for i in written..(written + BLOCK_LOANS).min(loans) {
            let record = loan(i);
            let id = Id::new(format!("loan-{i:07}")).unwrap();
            writes.put(keys::loan(&id), ledger::codec::encode(&record));
            writes.put(keys::programme_loan(&record.programme, &id), Vec::new());
        }
        written = (written + BLOCK_LOANS).min(loans);
        tip = commit(&store, tip, &writes);
    }
    println!(
        "wrote {loans} loans over {PROGRAMMES} programmes in {} blocks: {:.1} s",
        tip.height,
        started.elapsed().as_secs_f64()
    );

    let state = store.state();
    let month_end: Date = "2026-06-30".parse().unwrap();
    let walked = contracts::report::month_figures(&state, month_end);
    let from_clocks = contracts::report::month_figures_with(&state, |id, programme| {
        node::index::Index(&store).programme_figures(id, programme, month_end)
    })
    .expect("the loan clocks");
    assert_eq!(walked, from_clocks, "the two readings disagree");
    let overdue: u64 = walked.values().map(|p| p.overdue_principal_fen.0).sum();
    println!(
        "figures of {} programmes as of {month_end}, the same both ways; {} fen overdue",
        walked.len(),
        overdue
    );
    let walk = measure(|| contracts::report::month_figures(&state, month_end).len());
    let clocks = measure(|| {
        contracts::report::month_figures_with(&state, |id, programme| {
            node::index::Index(&store).programme_figures(id, programme, month_end)
        })
        .expect("the loan clocks")
        .len()
    });
    println!("reading every loan (the rulebook's report):  {walk}");
    println!("from the loan clocks (what a node records):  {clocks}");
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
}

/// Loan `i`: started on one of 400 days from 2025-01-31, of 3, 12 or 24 months; every
/// fourth brought 95 days on, so that some are past due on the month end; every seventh
/// repaid.
fn loan(i: usize) -> Loan {
    let start: Date = "2025-01-31".parse().unwrap();
    let start = start.checked_add_days((i * 17 % 400) as u64).unwrap();
    let term = [3, 12, 24][i % 3];
    let mut loan = Loan {
        policy: Id::new(format!("pol-{i}")).unwrap(),
        programme: Id::new(format!("prog-{}", i % PROGRAMMES)).unwrap(),
        bank: Id::new("bank-1").unwrap(),
        enterprise: Id::new(format!("ent-{i}")).unwrap(),
        rate_bps: [0, 435, 600][i % 3],
        term_months: term,
        start,
        maturity: start.checked_add_months(term).unwrap(),
        status: LoanStatus::Active,
        outstanding_principal_fen: Fen(1_000_000 + i as u64),
        due_count: 0,
        unpaid: Vec::new(),
        paid_toward_oldest_fen: Fen::ZERO,
        on_time: true,
        claim: None,
    };
    if i % 4 == 1 {
        loan = contracts::loan::as_of(&loan, start.checked_add_days(95).unwrap());
    }
    if i % 7 == 3 {
        loan.status = LoanStatus::Repaid;
    }
    loan
}
