//! R12 and R13: the rulebook changes by governed upgrade at a height every node and auditor
//! derives from the chain, the version-2 migration builds the retained liabilities, and one
//! program replays both eras, on chains that real validator keys certify.

use contracts::audit::history::verify_with_history;
use contracts::audit::{verify_chain, AuditFailure};
use contracts::chain::{self, height_config, BlockEnv};
use contracts::testkit::{self, org_key, ChainBuilder};
use contracts::{obligor, upgrade};
use ledger::action::{CancelUpgrade, ScheduleUpgrade};
use ledger::block::Outcome;
use ledger::crypto::SecretKey;
use ledger::genesis::{Params, UPGRADE_LEAD_HEIGHTS_DEFAULT};
use ledger::state::{StateStore, StateView};
use ledger::{Action, Code, Fen, Id, OrgKind};
use serde_json::json;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const T0: u64 = 1_767_225_600_000; // 2026-01-01

fn id(s: &str) -> Id {
    Id::new(s).unwrap()
}

/// A consortium of a bank, an insurer, a government, a regulator and a reinsurer, founded
/// under protocol version `version`, one block a day.
struct Net {
    builder: ChainBuilder,
    nonce: u64,
}

impl Net {
    fn new(version: u32) -> Net {
        let orgs: Vec<(Id, OrgKind)> = [
            ("bank", OrgKind::Bank),
            ("ins", OrgKind::Insurer),
            ("gov", OrgKind::Government),
            ("reg", OrgKind::Regulator),
            ("re", OrgKind::Reinsurer),
        ]
        .iter()
        .map(|(n, k)| (id(n), *k))
        .collect();
        Net {
            builder: ChainBuilder::new(testkit::genesis_at(&orgs, T0, version)),
            nonce: 0,
        }
    }

    fn run(&mut self, action: Action, by: &[&str]) -> Outcome {
        self.block(vec![(action, by)])[0]
    }

    fn json(&mut self, tx: serde_json::Value, by: &[&str]) -> Outcome {
        let action = contracts::scenario::parse_action(&tx).expect("a well-formed action");
        self.run(action, by)
    }

    fn block(&mut self, txs: Vec<(Action, &[&str])>) -> Vec<Outcome> {
        let height = self.builder.next_height();
        let signed = txs
            .into_iter()
            .map(|(action, by)| {
                self.nonce += 1;
                let keys: Vec<SecretKey> = by.iter().map(|org| org_key(org)).collect();
                testkit::signed_tx(self.nonce, height + 10, action, &keys)
            })
            .collect();
        let entry = self.builder.push_block(T0 + height * DAY_MS, signed);
        entry.receipts.iter().map(|r| r.outcome).collect()
    }

    /// Empty blocks until the next block is `height`.
    fn run_to(&mut self, height: u64) {
        while self.builder.next_height() < height {
            self.block(Vec::new());
        }
    }

    fn height(&self) -> u64 {
        self.builder.next_height() - 1
    }

    fn version_of(&self, height: u64) -> u32 {
        self.builder.entries[height as usize - 1]
            .block
            .header
            .protocol_version
    }

    fn verify(&self) -> Result<contracts::audit::Verdict, AuditFailure> {
        verify_chain(
            &self.builder.genesis,
            &self.builder.file_header(),
            self.builder.entries.iter().cloned().map(Ok::<_, String>),
            |_| {},
        )
    }

    /// A programme whose insurer keeps 70 % of a loss and cedes a quarter of that, so a
    /// policy's retained exposure is floor(floor(E × 0.7) × 0.75) (R13.1).
    fn programme(&mut self) {
        let setup = [
            (
                json!({"type": "FileRate", "insurer": "ins", "product": "P", "rates_bps": [200],
                       "valid_from": "2026-01-01", "valid_to": "2027-12-31", "filing_ref": "F-1"}),
                vec!["ins", "reg"],
            ),
            (
                json!({"type": "CreateFund", "id": "fund", "government": "gov",
                       "annual_cap_fen": 1_000_000_000u64}),
                vec!["gov"],
            ),
            (
                json!({"type": "CreateProgramme", "id": "prog", "name": "P", "product": "P",
                    "period_start": "2026-01-01", "period_end": "2027-12-31",
                    "government": "gov", "fund": "fund", "banks": ["bank"], "insurer": "ins",
                    "reinsurer": "re",
                    "split": {"bank_bps": 3000, "insurer_bps": 7000, "fund_bps": 0},
                    "cover": "Principal",
                    "limits": {"max_loan_fen": 2_000_000_000u64, "max_term_months": 12,
                               "benchmark_rate_bps": 435, "max_uplift_bps": 3000,
                               "max_premium_rate_bps": 300, "max_all_in_bps": 2400},
                    "subsidy": {"bps": 0, "mode": "None"},
                    "fund_layer": {"kind": "None"},
                    "reinsurance_quota_bps": 2500,
                    "triggers": {"suspend_loss_ratio_bps": 15000, "suspend_overdue_bps": 1000,
                                 "warn_at_bps": 8000},
                    "claims": {"interest_dpd": 90, "principal_dpd": 30, "decide_days": 30,
                               "pay_business_days": 10}}),
                vec!["gov", "bank", "ins", "re"],
            ),
        ];
        for (tx, by) in setup {
            assert_eq!(self.json(tx.clone(), &by), Outcome::Accepted, "{tx}");
        }
    }

    fn issue(&mut self, policy: &str, enterprise: &str, principal: u64) -> Outcome {
        self.json(
            json!({"type": "IssuePolicy", "id": policy, "programme": "prog",
                   "enterprise": enterprise, "bank": "bank", "loan_principal_fen": principal,
                   "loan_rate_bps": 500, "term_months": 12, "premium_rate_bps": 200}),
            &["ins"],
        )
    }
}

const APPROVERS: [&str; 4] = ["bank", "gov", "ins", "reg"];

fn schedule(version: u32, activation_height: u64) -> Action {
    Action::ScheduleUpgrade(ScheduleUpgrade {
        version,
        activation_height,
    })
}

fn cancel(version: u32) -> Action {
    Action::CancelUpgrade(CancelUpgrade { version })
}

fn rejected(code: Code) -> Outcome {
    Outcome::Rejected(code)
}

/// R13.1 for the test programme.
fn retained(principal: u64) -> u64 {
    principal * 7000 / 10000 * 7500 / 10000
}

#[test]
fn an_upgrade_is_checked_in_r11_order_and_one_is_pending_at_a_time() {
    let mut net = Net::new(1);
    let next = net.builder.next_height();
    let earliest = next + UPGRADE_LEAD_HEIGHTS_DEFAULT;
    // (1) The fields: the version in force plus one, at least the lead ahead.
    assert_eq!(
        net.run(schedule(3, earliest + 10), &APPROVERS),
        rejected(Code::InvalidField)
    );
    let next = net.builder.next_height();
    assert_eq!(
        net.run(
            schedule(2, next + UPGRADE_LEAD_HEIGHTS_DEFAULT - 1),
            &APPROVERS
        ),
        rejected(Code::InvalidField)
    );
    // The fields come before the approval.
    assert_eq!(
        net.run(schedule(1, earliest + 10), &["bank"]),
        rejected(Code::InvalidField)
    );
    // (3) The approval.
    assert_eq!(
        net.run(schedule(2, earliest + 10), &["bank"]),
        rejected(Code::NotApproved)
    );
    assert_eq!(upgrade::pending(net.builder.state()), None);
    let at = net.builder.next_height() + UPGRADE_LEAD_HEIGHTS_DEFAULT;
    assert_eq!(net.run(schedule(2, at), &APPROVERS), Outcome::Accepted);
    let pending = upgrade::pending(net.builder.state()).unwrap();
    assert_eq!((pending.version, pending.activation_height), (2, at));
    // At most one is pending; the approval is checked first.
    assert_eq!(
        net.run(schedule(2, at + 5), &["bank"]),
        rejected(Code::NotApproved)
    );
    assert_eq!(
        net.run(schedule(2, at + 5), &APPROVERS),
        rejected(Code::UpgradePending)
    );
    // Cancelling names the pending one.
    assert_eq!(
        net.run(cancel(3), &APPROVERS),
        rejected(Code::UnknownUpgrade)
    );
    assert_eq!(net.run(cancel(2), &["bank"]), rejected(Code::NotApproved));
    assert_eq!(net.run(cancel(2), &APPROVERS), Outcome::Accepted);
    assert_eq!(upgrade::pending(net.builder.state()), None);
    assert_eq!(
        net.run(cancel(2), &APPROVERS),
        rejected(Code::UnknownUpgrade)
    );
    // A cancelled upgrade never takes effect.
    net.run_to(at + 2);
    assert_eq!(net.version_of(at), 1);
    assert_eq!(net.verify().unwrap().eras, vec![(1, 1)]);
}

#[test]
fn the_lead_is_a_parameter_of_at_least_three_heights() {
    let mut net = Net::new(1);
    let with_lead = |lead| {
        Action::SetParams(Params {
            upgrade_lead_heights: lead,
            ..testkit::genesis(&[(id("bank"), OrgKind::Bank)], T0).params
        })
    };
    assert_eq!(
        net.run(with_lead(2), &APPROVERS),
        rejected(Code::InvalidField)
    );
    assert_eq!(net.run(with_lead(3), &APPROVERS), Outcome::Accepted);
    // It governs from two heights on (R11.5), like every parameter.
    net.run_to(net.builder.next_height() + 2);
    let next = net.builder.next_height();
    assert_eq!(
        net.run(schedule(2, next + 2), &APPROVERS),
        rejected(Code::InvalidField)
    );
    let next = net.builder.next_height();
    assert_eq!(
        net.run(schedule(2, next + 3), &APPROVERS),
        Outcome::Accepted
    );
    // A cancel must commit before the activation height: at it, the upgrade is in force.
    net.run_to(next + 3);
    assert_eq!(
        net.run(cancel(2), &APPROVERS),
        rejected(Code::UnknownUpgrade)
    );
    assert_eq!(net.version_of(next + 3), 2);
}

#[test]
fn version_two_takes_effect_at_its_height_with_its_migration() {
    let mut net = Net::new(1);
    net.programme();
    // Under version 1 there is no single-obligor limit, and no such parameter.
    assert_eq!(net.issue("p1", "big", 1_000_000_000), Outcome::Accepted);
    assert_eq!(
        net.json(
            json!({"type": "DisburseLoan", "id": "l1", "policy": "p1"}),
            &["bank"]
        ),
        Outcome::Accepted
    );
    assert_eq!(net.issue("p2", "big", 100_000_000), Outcome::Accepted);
    assert_eq!(net.issue("p3", "small", 100_000_000), Outcome::Accepted);
    let limit_too_early = Action::SetParams(Params {
        obligor_limit_fen: Some(Fen(1)),
        ..height_config(net.builder.state(), net.height() + 1).params
    });
    assert_eq!(
        net.run(limit_too_early, &APPROVERS),
        rejected(Code::InvalidField)
    );
    assert!(obligor::all(net.builder.state()).is_empty());

    let at = net.builder.next_height() + UPGRADE_LEAD_HEIGHTS_DEFAULT;
    assert_eq!(net.run(schedule(2, at), &APPROVERS), Outcome::Accepted);
    // Still version 1 up to the block before the activation height.
    net.run_to(at - 1);
    assert_eq!(net.issue("p4", "big", 10_000_000), Outcome::Accepted);
    assert_eq!(net.version_of(at - 1), 1);
    net.block(Vec::new());
    assert_eq!(net.version_of(at), 2);
    assert_eq!(upgrade::recorded(net.builder.state()), Some(2));
    assert_eq!(upgrade::pending(net.builder.state()), None);

    // R12.4: the migration built each retained liability from the ledger, and set the limit.
    let big = retained(1_000_000_000) + retained(100_000_000) + retained(10_000_000);
    assert_eq!(
        obligor::all(net.builder.state()),
        vec![
            (id("ins"), id("big"), Fen(big)),
            (id("ins"), id("small"), Fen(retained(100_000_000))),
        ]
    );
    assert_eq!(
        height_config(net.builder.state(), net.height() + 1)
            .params
            .obligor_limit_fen,
        Some(obligor::OBLIGOR_LIMIT_FEN_DEFAULT)
    );

    // R13.2: the limit now bites, after AllInCostAboveCap and before the document check.
    assert_eq!(
        net.issue("p5", "big", 1),
        rejected(Code::ObligorLimitExceeded)
    );
    let room = 500_000_000 - retained(100_000_000);
    // The largest principal whose retained exposure fits the room left.
    let (mut low, mut high) = (0u64, 2_000_000_000u64);
    while low < high {
        let mid = (low + high).div_ceil(2);
        if retained(mid) <= room {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    let fits = low;
    assert_eq!(
        net.issue("p6", "small", fits + 1),
        rejected(Code::ObligorLimitExceeded)
    );
    assert_eq!(net.issue("p7", "small", fits), Outcome::Accepted);

    // Repaying frees room: the outstanding principal counts while the loan is active.
    assert_eq!(
        net.json(
            json!({"type": "RecordRepayment", "loan": "l1", "amount_fen": 600_000_000u64,
                   "reference": "R-1"}),
            &["bank"]
        ),
        Outcome::Accepted
    );
    let repaid_at = net.height();
    let tracked = obligor::retained_liability(net.builder.state(), &id("ins"), &id("big"));
    assert!(tracked.0 < big, "{tracked:?} < {big}");
    assert_eq!(
        obligor::rebuild(net.builder.state())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>(),
        net.builder
            .state()
            .scan_prefix(b"oblig/")
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect::<Vec<_>>(),
        "the sums kept are the sums the ledger's policies and loans give"
    );

    // The limit is a parameter from version 2 on.
    let lower = Action::SetParams(Params {
        obligor_limit_fen: Some(Fen(1)),
        ..height_config(net.builder.state(), net.height() + 1).params
    });
    assert_eq!(net.run(lower, &APPROVERS), Outcome::Accepted);
    net.run_to(net.builder.next_height() + 2);
    assert_eq!(
        net.issue("p8", "fresh", 1_000),
        rejected(Code::ObligorLimitExceeded)
    );

    // A settlement of either era proves with the genesis alone.
    for (height, index) in [(1u64, 0usize), (repaid_at, 0)] {
        let entry = &net.builder.entries[height as usize - 1];
        assert!(
            !entry.block.txs.is_empty(),
            "height {height} holds a transaction"
        );
        let proof = ledger::proof::TxProof::from_entry(SUITE, entry, index).unwrap();
        let proven = proof.verify(&net.builder.genesis).unwrap();
        assert_eq!(proven.height, height);
    }
    assert_eq!(net.version_of(repaid_at), 2);

    // One program replays both eras from the genesis alone, and says where each began.
    let verdict = net.verify().unwrap();
    assert_eq!(verdict.eras, vec![(1, 1), (2, at)]);
    let (_, doc) = verify_with_history(
        &net.builder.genesis,
        &net.builder.file_header(),
        net.builder.entries.iter().cloned().map(Ok::<_, String>),
        |_| {},
    )
    .unwrap();
    let eras = doc["eras"].as_array().unwrap();
    assert_eq!(eras.len(), 2);
    assert_eq!(eras[0]["version"], 1);
    assert_eq!(eras[0]["scheduled_by_tx"], serde_json::Value::Null);
    assert_eq!(eras[1]["first_height"], at);
    assert_eq!(eras[1]["approved_by"], json!(["bank", "gov", "ins", "reg"]));
    let scheduled = doc["governance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["type"] == "ScheduleUpgrade" && g["outcome"] == "accepted")
        .unwrap();
    assert_eq!(eras[1]["scheduled_by_tx"], scheduled["tx"]);
    assert_eq!(scheduled["effective_height"], at);
}

/// The chain of [`version_two_takes_effect_at_its_height_with_its_migration`] up to its
/// activation height `at`, with a policy on the ledger for the migration to count.
fn upgraded_chain() -> (Net, u64) {
    let mut net = Net::new(1);
    net.programme();
    assert_eq!(net.issue("p1", "big", 1_000_000_000), Outcome::Accepted);
    let at = net.builder.next_height() + UPGRADE_LEAD_HEIGHTS_DEFAULT;
    assert_eq!(net.run(schedule(2, at), &APPROVERS), Outcome::Accepted);
    net.run_to(at);
    (net, at)
}

#[test]
fn a_header_whose_version_was_changed_is_caught() {
    // Colluding validators certify the activation block as of the old version.
    let (mut net, at) = upgraded_chain();
    net.builder
        .push_block_with(T0 + at * DAY_MS, Vec::new(), |h| h.protocol_version = 1);
    let failure = net.verify().unwrap_err();
    assert!(
        matches!(
            failure,
            AuditFailure::Version {
                height,
                header: 1,
                in_force: 2
            } if height == at
        ),
        "{failure}"
    );
    // And a block before it as of the new one.
    let mut net = Net::new(1);
    net.builder
        .push_block_with(T0 + DAY_MS, Vec::new(), |h| h.protocol_version = 2);
    assert!(matches!(
        net.verify().unwrap_err(),
        AuditFailure::Version {
            height: 1,
            header: 2,
            in_force: 1
        }
    ));
    // A version edited after certification breaks the certificate, which is checked
    // after the version: either way the chain is refused.
    let (mut net, at) = upgraded_chain();
    net.block(Vec::new());
    let mut entries = net.builder.entries.clone();
    entries[at as usize - 1].block.header.protocol_version = 1;
    let failure = verify_chain(
        &net.builder.genesis,
        &net.builder.file_header(),
        entries.into_iter().map(Ok::<_, String>),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(failure.height(), Some(at), "{failure}");
}

#[test]
fn a_block_of_the_new_era_executed_under_the_old_rules_is_caught() {
    let (mut net, at) = upgraded_chain();
    // The old rules' reading of block `at`: no upgrade taken up, no migration.
    let mut old_rules = net.builder.state().clone();
    let mut forget = ledger::state::WriteSet::new();
    forget.delete(b"gov/upgrade".to_vec());
    old_rules.apply(&forget);
    let config = height_config(&old_rules, at);
    let env = BlockEnv {
        suite: SUITE,
        chain_id: net.builder.genesis.chain_id.clone(),
        height: at,
        time_ms: T0 + at * DAY_MS,
        tx_expiry_heights_max: config.params.tx_expiry_heights_max,
    };
    let root_before = net.builder.entries.last().unwrap().block.header.state_root;
    let old = chain::execute_block(&old_rules, &root_before, &env, &[]).unwrap();
    assert_eq!(old.protocol_version, 1);
    net.builder
        .push_block_with(T0 + at * DAY_MS, Vec::new(), |h| {
            h.state_root = old.state_root;
        });
    let failure = net.verify().unwrap_err();
    assert!(
        matches!(
            failure,
            AuditFailure::RootMismatch {
                height,
                field: "state_root",
                ..
            } if height == at
        ),
        "{failure}"
    );
}

#[test]
fn a_chain_founded_at_version_two_has_the_limit_from_its_genesis() {
    let mut net = Net::new(2);
    assert_eq!(net.version_of_next(), 2);
    net.programme();
    assert_eq!(net.issue("p1", "big", 900_000_000), Outcome::Accepted);
    assert_eq!(
        net.issue("p2", "big", 100_000_000),
        rejected(Code::ObligorLimitExceeded)
    );
    assert_eq!(net.version_of(1), 2);
    let verdict = net.verify().unwrap();
    assert_eq!(verdict.eras, vec![(2, 1)]);
    // Version 2 is in force from the genesis on: an upgrade now names version 3.
    let next = net.builder.next_height();
    assert_eq!(
        net.run(schedule(2, next + UPGRADE_LEAD_HEIGHTS_DEFAULT), &APPROVERS),
        rejected(Code::InvalidField)
    );
}

#[test]
fn a_genesis_names_the_parameters_of_its_version() {
    let orgs = [(id("bank"), OrgKind::Bank)];
    let mut v1 = testkit::genesis_at(&orgs, T0, 1);
    assert_eq!(upgrade::check_genesis(&v1), Ok(()));
    v1.params.obligor_limit_fen = Some(Fen(5));
    assert!(upgrade::check_genesis(&v1).is_err());
    let mut v2 = testkit::genesis_at(&orgs, T0, 2);
    assert_eq!(upgrade::check_genesis(&v2), Ok(()));
    v2.params.obligor_limit_fen = None;
    assert!(upgrade::check_genesis(&v2).is_err());
    let v9 = testkit::genesis_at(&orgs, T0, 9);
    assert_eq!(
        upgrade::check_genesis(&v9),
        Err(upgrade::GenesisVersionError::Unsupported { version: 9 })
    );
}

impl Net {
    fn version_of_next(&self) -> u32 {
        upgrade::version_at(self.builder.state(), self.builder.next_height()).unwrap()
    }
}
