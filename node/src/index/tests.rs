//! The readers' indexes against what reading every record gives.

use ledger::block::{Block, BlockHeader, CommitCertificate};
use ledger::state::{StateView, WriteSet};
use ledger::{Date, Id};

use super::{Changes, Desk, Index, OrgColumn};
use crate::store::testing::*;
use crate::store::{Commit, Space, Store, Tip, TxLocation};
use ledger::block::BlockId;

/// Puts programme records (id, insurer) with the Ningbo-style worked example's terms.
fn put_programmes(writes: &mut WriteSet, programmes: &[(&str, &str)]) {
    use contracts::store::{keys, Programme, ProgrammeStatus};
    let scenario: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../network-configs/scenarios/a-ningbo-style.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let create = scenario["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tx"]["type"] == "CreateProgramme")
        .unwrap();
    let ledger::Action::CreateProgramme(terms) =
        serde_json::from_value(create["tx"].clone()).unwrap()
    else {
        panic!("not a CreateProgramme");
    };
    for (id, insurer) in programmes {
        let mut terms = terms.clone();
        terms.id = Id::new(*id).unwrap();
        terms.insurer = Id::new(*insurer).unwrap();
        let record = Programme {
            terms: *terms,
            status: ProgrammeStatus::Active,
            premium_written_fen: ledger::Fen::ZERO,
            claims_gross_fen: ledger::Fen::ZERO,
            warnings: Vec::new(),
        };
        writes.put(
            keys::programme(&record.terms.id),
            ledger::codec::encode(&record),
        );
    }
}

#[test]
fn a_programmes_loan_clocks_give_the_figures_that_reading_every_loan_gives() {
    use contracts::store::{Loan, LoanStatus};
    let (store, dir, _) = one_block("loan-clocks");
    let date = |text: &str| text.parse::<Date>().unwrap();
    let loan = |i: u64| {
        let start = date("2025-01-31").checked_add_days(i * 17 % 400).unwrap();
        let term = [3, 12, 24][i as usize % 3];
        let mut l = Loan {
            policy: Id::new(format!("p{i}")).unwrap(),
            programme: Id::new(format!("g{}", i % 2)).unwrap(),
            bank: Id::new("bank").unwrap(),
            enterprise: Id::new(format!("e{i}")).unwrap(),
            rate_bps: [0, 435, 600][i as usize % 3 / 2 + i as usize % 2],
            term_months: term,
            start,
            maturity: start.checked_add_months(term).unwrap(),
            status: LoanStatus::Active,
            outstanding_principal_fen: ledger::Fen([0, 1, 150_000_000][(i as usize + 1) % 3] + i),
            due_count: 0,
            unpaid: Vec::new(),
            paid_toward_oldest_fen: ledger::Fen::ZERO,
            on_time: true,
            claim: None,
        };
        if i % 4 == 1 {
            l = contracts::loan::as_of(&l, start.checked_add_days(95).unwrap());
        }
        if i % 7 == 3 {
            l.status = LoanStatus::Repaid;
        }
        l
    };
    let put = |writes: &mut WriteSet, i: u64, l: &Loan| {
        let id = Id::new(format!("l{i}")).unwrap();
        writes.put(keys_loan(&id), ledger::codec::encode(l));
        writes.put(
            contracts::store::keys::programme_loan(&l.programme, &id),
            Vec::new(),
        );
    };
    let mut writes = WriteSet::new();
    put_programmes(&mut writes, &[("g0", "ins-a"), ("g1", "ins-a")]);
    for i in 0..60 {
        put(&mut writes, i, &loan(i));
    }
    commit_next(&store, Vec::new(), &[], &writes);
    let check = |store: &Store, when: &str| {
        let state = store.state();
        // A month end's figures as a node records them, from the clocks, are the
        // rulebook's, from every loan.
        let mut day = date("2025-01-31");
        let mut months_with_overdue = 0;
        while day < date("2028-01-01") {
            let by_clocks = contracts::report::month_figures_with(&state, |id, p| {
                Index(store).programme_figures(id, p, day)
            })
            .unwrap();
            assert_eq!(
                by_clocks,
                contracts::report::month_figures(&state, day),
                "{when}: month figures on {day}"
            );
            assert_eq!(by_clocks.len(), 2, "{by_clocks:?}");
            let g1 = Id::new("g1").unwrap();
            if by_clocks[&g1].overdue_principal_fen.0 != 0 {
                months_with_overdue += 1;
            }
            day = contracts::report::month_end(day.checked_add_days(1).unwrap());
        }
        assert!(
            months_with_overdue > 0,
            "{when}: no month end with overdue loans"
        );
        for g in ["g0", "g1"] {
            let g = Id::new(g).unwrap();
            let mut day = date("2025-01-01");
            while day < date("2028-01-01") {
                let (mut outstanding, mut overdue) = (0u128, 0u128);
                state.for_each_key(&contracts::store::keys::loans_of(&g), &mut |k| {
                    let id = &k[contracts::store::keys::loans_of(&g).len()..];
                    let id = Id::new(std::str::from_utf8(id).unwrap()).unwrap();
                    let record = state.get(&keys_loan(&id)).unwrap();
                    if let Some((fen, late)) = contracts::loan::figures_of_record(&record, day) {
                        outstanding += u128::from(fen.0);
                        overdue += if late { u128::from(fen.0) } else { 0 };
                    }
                });
                assert_eq!(
                    Index(store).programme_principal(&g, day).unwrap(),
                    (outstanding, overdue),
                    "{when}: {g} on {day}"
                );
                day = day.checked_add_days(5).unwrap();
            }
        }
    };
    check(&store, "after the first block");
    // Loans change: brought up to a later date, repaid, moved to the other programme.
    let mut writes = WriteSet::new();
    for i in (0..60).step_by(3) {
        let mut l = contracts::loan::as_of(&loan(i), date("2026-03-10"));
        if i % 9 == 0 {
            l.status = LoanStatus::Claimed;
        }
        put(&mut writes, i, &l);
    }
    commit_next(&store, Vec::new(), &[], &writes);
    check(&store, "after the second block");
    // Read again after reopening: the clocks come back from the state store's log.
    let keys = store.index_scan(Space::LoanClocks, &[]).count();
    assert!(keys > 10, "{keys} clock entries");
    drop(store);
    let store = Store::open(&dir).unwrap();
    let check_again = |store: &Store| {
        let state = store.state();
        let g = Id::new("g1").unwrap();
        let day = date("2026-06-01");
        let mut expected = (0u128, 0u128);
        state.for_each_key(&contracts::store::keys::loans_of(&g), &mut |k| {
            let id = &k[contracts::store::keys::loans_of(&g).len()..];
            let id = Id::new(std::str::from_utf8(id).unwrap()).unwrap();
            let record = state.get(&keys_loan(&id)).unwrap();
            if let Some((fen, late)) = contracts::loan::figures_of_record(&record, day) {
                expected.0 += u128::from(fen.0);
                expected.1 += if late { u128::from(fen.0) } else { 0 };
            }
        });
        assert!(expected.1 > 0 && expected.1 < expected.0, "{expected:?}");
        assert_eq!(Index(store).programme_principal(&g, day).unwrap(), expected);
    };
    check_again(&store);
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_claims_desk_lists_what_reading_every_claim_gives() {
    use contracts::store::{keys, Claim, ClaimStatus};
    let (store, dir, _) = one_block("claims-desk");
    // Three programmes, two of one insurer's; "ins-a" and "ins-ab" share a prefix.
    let programmes = [("g0", "ins-a"), ("g1", "ins-a"), ("g2", "ins-ab")];
    let mut writes = WriteSet::new();
    put_programmes(&mut writes, &programmes);
    let statuses = [
        ClaimStatus::Filed,
        ClaimStatus::AwaitingDocuments,
        ClaimStatus::Approved,
        ClaimStatus::Rejected,
        ClaimStatus::Paid,
    ];
    let claim = |i: usize, status: ClaimStatus, late: bool| Claim {
        loan: Id::new(format!("l{i}")).unwrap(),
        programme: Id::new(programmes[i % 3].0).unwrap(),
        bank: Id::new("bank").unwrap(),
        status,
        filed: "2025-03-01".parse().unwrap(),
        documents: Vec::new(),
        documents_requested: false,
        missing: Vec::new(),
        completed: None,
        decision_due: None,
        payment_due: None,
        loss_fen: ledger::Fen(i as u64),
        settlement: None,
        decided: None,
        reject_reason: None,
        paid: None,
        late,
        recovered_fen: ledger::Fen::ZERO,
        recovery: Default::default(),
    };
    let claim_key = |i: usize| keys::claim(&Id::new(format!("c{i:02}")).unwrap());
    for i in 0..40 {
        let status = statuses[i % 5];
        let late = status == ClaimStatus::Paid && i % 2 == 0;
        writes.put(claim_key(i), ledger::codec::encode(&claim(i, status, late)));
    }
    commit_next(&store, Vec::new(), &[], &writes);
    // What the desk should hold: every claim read, classified here, in (insurer,
    // programme, id) order.
    let check = |store: &Store, when: &str| {
        let state = store.state();
        let mut expected: Vec<(Desk, String, String, String)> = Vec::new();
        for (id, c) in contracts::store::scan::<Claim>(&state, keys::CLAIM) {
            let insurer = programmes
                .iter()
                .find(|p| p.0 == c.programme.as_str())
                .unwrap()
                .1;
            let mut put = |desk| {
                expected.push((
                    desk,
                    insurer.into(),
                    c.programme.to_string(),
                    id.to_string(),
                ))
            };
            match c.status {
                ClaimStatus::Paid | ClaimStatus::Rejected => {
                    put(Desk::Closed);
                    if c.late {
                        put(Desk::Late);
                    }
                }
                _ => put(Desk::Open),
            }
        }
        expected.sort();
        let scopes = [
            (None, None),
            (Some("ins-a"), None),
            (Some("ins-ab"), None),
            (Some("ins-a"), Some("g1")),
            (Some("ins-ab"), Some("g2")),
            (Some("ins-a"), Some("g2")),
        ];
        for desk in [Desk::Open, Desk::Closed, Desk::Late] {
            for (insurer, programme) in scopes {
                let want: Vec<&(Desk, String, String, String)> = expected
                    .iter()
                    .filter(|e| e.0 == desk)
                    .filter(|e| insurer.is_none_or(|i| e.1 == i))
                    .filter(|e| programme.is_none_or(|p| e.2 == p))
                    .collect();
                let ids: Vec<String> = want.iter().map(|e| e.3.clone()).collect();
                let what = format!("{when}: {desk:?} {insurer:?} {programme:?}");
                let all = Index(store)
                    .desk_claims(desk, insurer, programme, 0, usize::MAX)
                    .unwrap();
                let all: Vec<String> = all.iter().map(Id::to_string).collect();
                assert_eq!(all, ids, "{what}");
                let page = Index(store)
                    .desk_claims(desk, insurer, programme, 2, 3)
                    .unwrap();
                let page: Vec<String> = page.iter().map(Id::to_string).collect();
                assert_eq!(
                    page,
                    ids.iter().skip(2).take(3).cloned().collect::<Vec<_>>(),
                    "{what}"
                );
                let mut counts = std::collections::BTreeMap::new();
                for e in &want {
                    *counts.entry(e.1.clone()).or_insert(0u64) += 1;
                }
                assert_eq!(
                    Index(store).desk_counts(desk, insurer, programme).unwrap(),
                    counts,
                    "{what}"
                );
            }
        }
        expected.len()
    };
    assert_eq!(check(&store, "after the first block"), 40 + 4);
    // Claims move on: decided, paid (some late), one filed anew, one removed.
    let mut writes = WriteSet::new();
    for i in (0..40).step_by(3) {
        let status = statuses[(i + 2) % 5];
        writes.put(
            claim_key(i),
            ledger::codec::encode(&claim(i, status, i % 4 == 0)),
        );
    }
    writes.put(
        claim_key(41),
        ledger::codec::encode(&claim(41, ClaimStatus::Filed, false)),
    );
    writes.delete(claim_key(1));
    commit_next(&store, Vec::new(), &[], &writes);
    let entries = check(&store, "after the second block");
    // Read again after reopening, from the state store's log and after its runs hold
    // everything.
    let desk = store.index_scan(Space::ClaimDesk, &[]).count()
        + store.index_scan(Space::DeskCounts, &[]).count();
    assert!(desk > entries, "{desk} desk entries and counts");
    drop(store);
    let store = Store::open(&dir).unwrap();
    assert_eq!(check(&store, "after reopening"), entries);
    store.flush_and_compact();
    drop(store);
    let store = Store::open(&dir).unwrap();
    assert_eq!(check(&store, "after reopening from tables"), entries);
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
}

fn keys_loan(id: &Id) -> Vec<u8> {
    contracts::store::keys::loan(id)
}

#[test]
fn readers_indexes_find_blocks_records_and_month_ends() {
    let (store, dir, first) = one_block("indexes");
    let claim = |id: &str| {
        ledger::tx::SignedTx::unsigned(ledger::tx::TxBody {
            chain_id: Id::new("c").unwrap(),
            nonce: 1,
            expires_at_height: 9,
            action: ledger::Action::ConfirmClaimPayment(ledger::action::ConfirmClaimPayment {
                claim: Id::new(id).unwrap(),
                reference: ledger::Text::new("r").unwrap(),
            }),
        })
    };
    let block = Block {
        header: BlockHeader {
            height: 2,
            protocol_version: 1,
            time_ms: 3,
            previous: first.id(SUITE),
            ..first.header.clone()
        },
        txs: vec![claim("c1"), claim("c10"), claim("c1")],
    };
    let ids = block.tx_ids(SUITE);
    let certificate = CommitCertificate {
        height: 2,
        round: 0,
        block_id: block.id(SUITE),
        signatures: Vec::new(),
    };
    let date = |text: &str| text.parse::<Date>().unwrap();
    let months = vec![
        (date("1969-12-31"), b"{\"old\":1}".to_vec()),
        (date("2026-01-31"), b"{\"new\":2}".to_vec()),
    ];
    let tip = Tip {
        height: 2,
        block_id: block.id(SUITE),
        state_root: block.header.state_root,
        time_ms: 3,
    };
    let changes = Changes {
        months: months.clone(),
        filed: vec![
            (b"rate/i\0p\0aa".to_vec(), Id::new("pol-2").unwrap()),
            (b"rate/i\0p\0aa".to_vec(), Id::new("pol-1").unwrap()),
            (b"rate/i\0p\0bb".to_vec(), Id::new("pol-3").unwrap()),
        ],
        organisations: vec![
            (Id::new("ins").unwrap(), OrgColumn::ClaimsPaid, 500),
            (Id::new("ins").unwrap(), OrgColumn::ClaimsPaid, -200),
            (Id::new("bank").unwrap(), OrgColumn::Recoveries, 7),
        ],
        ..Changes::default()
    };
    let index = Index(&store).writes_of(&block, &changes).unwrap();
    let (block_bytes, tx_bounds) = block.to_bytes_with_bounds();
    store
        .commit(
            Commit {
                block: &block,
                block_bytes: &block_bytes,
                tx_bounds: &tx_bounds,
                certificate: &certificate,
                receipts: &[],
                writes: &WriteSet::new(),
                ids: &ids,
                changes: &[],
                decisions: &[],
                index: &index,
            },
            tip,
        )
        .unwrap();

    assert_eq!(store.height_of(&first.id(SUITE)).unwrap(), Some(1));
    assert_eq!(store.height_of(&block.id(SUITE)).unwrap(), Some(2));
    assert_eq!(store.height_of(&BlockId([9; 32])).unwrap(), None);

    let at = |height, index| TxLocation { height, index };
    // Newest first; `c1` is not a prefix match of `c10`.
    assert_eq!(
        Index(&store).subject_txs("claim", "c1", None, 10).unwrap(),
        vec![at(2, 2), at(2, 0)]
    );
    assert_eq!(
        Index(&store)
            .subject_txs("claim", "c1", Some(at(2, 2)), 10)
            .unwrap(),
        vec![at(2, 0)]
    );
    assert_eq!(
        Index(&store).subject_txs("claim", "c10", None, 10).unwrap(),
        vec![at(2, 1)]
    );
    assert!(Index(&store).has_subject("claim", "c10").unwrap());
    assert!(!Index(&store).has_subject("loan", "c1").unwrap());

    // A filing's policies in id order, paged, and only its own.
    let (page, total) = Index(&store)
        .filing_policies(b"rate/i\0p\0aa", 0, 10)
        .unwrap();
    assert_eq!(
        (page, total),
        (vec!["pol-1".to_string(), "pol-2".into()], 2)
    );
    let (page, total) = Index(&store)
        .filing_policies(b"rate/i\0p\0aa", 1, 10)
        .unwrap();
    assert_eq!((page, total), (vec!["pol-2".to_string()], 2));
    let (page, _) = Index(&store)
        .filing_policies(b"rate/i\0p\0bb", 0, 10)
        .unwrap();
    let sums = Index(&store).organisation_sums().unwrap();
    assert_eq!(sums[&Id::new("ins").unwrap()][&OrgColumn::ClaimsPaid], 300);
    assert_eq!(sums[&Id::new("bank").unwrap()][&OrgColumn::Recoveries], 7);
    assert_eq!(sums.len(), 2);
    assert_eq!(page, vec!["pol-3".to_string()]);

    // Month ends in date order, a date before 1970 first.
    let ends = Index(&store).month_ends().unwrap();
    assert_eq!(ends, months);
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}
