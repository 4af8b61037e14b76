//! The claims desk (`GET /v1/claims`) on a large store: what the desk's index reads
//! against reading every claim, as the desk did before it was kept.
//!
//! `cargo bench -p node --bench claims_desk [-- CLAIMS [OPEN_PER_MILLE]]` (default
//! 100,000 claims, 10 ‰ of them open) writes the claims in blocks of 10,000 through
//! `Store::commit`, as a validator does, then prints the median and the maximum of five
//! reads of each kind, beside the time to read every claim record once, which is this
//! machine's cost of the walk the index avoids.

mod common;

use std::time::Instant;

use common::{args, commit, measure, store_with_programmes, PROGRAMMES};
use contracts::store::{keys, Claim, ClaimStatus};
use ledger::state::{StateView, WriteSet};
use ledger::{Date, Fen, Id};
use node::index::{Desk, Index};

const BLOCK_CLAIMS: usize = 10_000;
fn main() {
    let args = args();
    let claims: usize = args.first().map_or(100_000, |a| a.parse().expect("CLAIMS"));
    let open_per_mille: usize = args
        .get(1)
        .map_or(10, |a| a.parse().expect("OPEN_PER_MILLE"));
    let (store, dir, mut tip) = store_with_programmes("claims-desk");

    let started = Instant::now();
    let mut written = 0;
    while written < claims {
        let mut writes = WriteSet::new();
        for i in written..(written + BLOCK_CLAIMS).min(claims) {
            let open = i % 1000 < open_per_mille;
            writes.put(claim_key(i), ledger::codec::encode(&claim(i, open)));
        }
        written = (written + BLOCK_CLAIMS).min(claims);
        tip = commit(&store, tip, &writes);
    }
    println!(
        "wrote {claims} claims ({open_per_mille} per mille open) over {PROGRAMMES} programmes \
         in {} blocks: {:.1} s",
        tip.height,
        started.elapsed().as_secs_f64()
    );

    let state = store.state();
    let date: Date = "2026-06-30".parse().unwrap();
    let walk = measure(|| {
        let all = contracts::store::scan::<Claim>(&state, keys::CLAIM);
        all.iter()
            .filter(|(_, c)| contracts::claim::is_overdue(c, date))
            .count()
    });
    let open = measure(|| {
        let ids = Index(&store)
            .desk_claims(Desk::Open, None, None, 0, usize::MAX)
            .unwrap();
        read_all(&state, &ids)
    });
    let one_insurer = measure(|| {
        let ids = Index(&store)
            .desk_claims(Desk::Open, Some("ins-1"), None, 0, usize::MAX)
            .unwrap();
        read_all(&state, &ids)
    });
    let deep_page = measure(|| {
        let ids = Index(&store)
            .desk_claims(Desk::Closed, None, None, claims / 2, 200)
            .unwrap();
        read_all(&state, &ids)
    });
    let late_page = measure(|| {
        let ids = Index(&store)
            .desk_claims(Desk::Late, None, None, 0, 200)
            .unwrap();
        read_all(&state, &ids)
    });
    let counts = measure(|| {
        [Desk::Closed, Desk::Late]
            .iter()
            .map(|d| Index(&store).desk_counts(*d, None, None).unwrap().len())
            .sum()
    });
    println!(
        "read every claim record (the walk the desk avoids): {}",
        walk
    );
    println!(
        "open claims, all insurers (what status=open reads):  {}",
        open
    );
    println!(
        "open claims, one insurer:                             {}",
        one_insurer
    );
    println!(
        "a page of 200 closed claims at offset {}:          {}",
        claims / 2,
        deep_page
    );
    println!(
        "the first page of 200 claims paid late:               {}",
        late_page
    );
    println!(
        "the counts per insurer (closed and late):             {}",
        counts
    );
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
}

fn read_all(state: &dyn StateView, ids: &[Id]) -> usize {
    ids.iter()
        .filter_map(|id| contracts::store::read::<Claim>(state, &keys::claim(id)))
        .count()
}

fn claim_key(i: usize) -> Vec<u8> {
    keys::claim(&Id::new(format!("clm-{i:07}")).unwrap())
}

/// Claim `i`: open (filed, due in ten days) or closed (paid, every seventh late, or
/// rejected).
fn claim(i: usize, open: bool) -> Claim {
    let filed: Date = "2026-06-01".parse().unwrap();
    let due = filed.checked_add_days(10 + (i % 40) as u64).unwrap();
    let status = match (open, i % 5) {
        (true, _) => ClaimStatus::Filed,
        (false, 0) => ClaimStatus::Rejected,
        (false, _) => ClaimStatus::Paid,
    };
    Claim {
        loan: Id::new(format!("loan-{i}")).unwrap(),
        programme: Id::new(format!("prog-{}", i % PROGRAMMES)).unwrap(),
        bank: Id::new("bank-1").unwrap(),
        status,
        filed,
        documents: vec![Id::new("doc").unwrap()],
        documents_requested: false,
        missing: Vec::new(),
        completed: Some(filed),
        decision_due: Some(due),
        payment_due: Some(due),
        loss_fen: Fen(1_000_000 + i as u64),
        settlement: None,
        decided: (!open).then_some(filed),
        reject_reason: None,
        paid: (status == ClaimStatus::Paid).then_some(due),
        late: status == ClaimStatus::Paid && i.is_multiple_of(7),
        recovered_fen: Fen::ZERO,
        recovery: Default::default(),
    }
}
