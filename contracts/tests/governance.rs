//! R11: the consortium changes itself by transactions its admin keys approve, on chains
//! that real validator keys certify, checked with the same audit an auditor runs.

use contracts::audit::{verify_chain, AuditFailure, LinkFault};
use contracts::chain::height_config;
use contracts::governance::CHANGE_DELAY;
use contracts::testkit::{self, org_key, validator_key, ChainBuilder};
use ledger::action::{
    AddValidator, AdmitOrganisation, FundTopUp, OrgRef, RotateAdminKey, RotateValidatorKey,
    SetVotingPower, StaffKey, ValidatorRef,
};
use ledger::block::Outcome;
use ledger::crypto::{Algorithm, PublicKey, SecretKey};
use ledger::export::ChainEntry;
use ledger::genesis::{GovernanceRule, Params};
use ledger::vote::CertificateError;
use ledger::{Action, Code, Fen, Id, OrgKind, Text};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const T0: u64 = 1_767_225_600_000; // 2026-01-01

fn id(s: &str) -> Id {
    Id::new(s).unwrap()
}

/// A consortium of a bank, an insurer, a government, a regulator and an auditor; the four
/// that vote run the four genesis validators.
struct Net {
    builder: ChainBuilder,
    nonce: u64,
}

impl Net {
    fn new() -> Net {
        let orgs = [
            ("bank", OrgKind::Bank),
            ("ins", OrgKind::Insurer),
            ("gov", OrgKind::Government),
            ("reg", OrgKind::Regulator),
            ("aud", OrgKind::Auditor),
        ];
        let orgs: Vec<(Id, OrgKind)> = orgs.iter().map(|(n, k)| (id(n), *k)).collect();
        Net {
            builder: ChainBuilder::new(testkit::genesis(&orgs, T0)),
            nonce: 0,
        }
    }

    /// One block holding `action` signed by `keys`; its outcome.
    fn run(&mut self, action: Action, keys: &[&SecretKey]) -> Outcome {
        self.block(vec![(action, keys)])[0]
    }

    /// One block of several transactions; their outcomes.
    fn block(&mut self, txs: Vec<(Action, &[&SecretKey])>) -> Vec<Outcome> {
        let height = self.builder.next_height();
        let signed = txs
            .into_iter()
            .map(|(action, keys)| {
                self.nonce += 1;
                let keys: Vec<SecretKey> = keys.iter().map(|k| (*k).clone()).collect();
                testkit::signed_tx(self.nonce, height + 10, action, &keys)
            })
            .collect();
        let time = T0 + height * DAY_MS;
        let entry = self.builder.push_block(time, signed);
        entry.receipts.iter().map(|r| r.outcome).collect()
    }

    /// An empty block.
    fn tick(&mut self) {
        self.block(Vec::new());
    }

    fn height(&self) -> u64 {
        self.builder.next_height() - 1
    }

    /// The validator keys of `height` (which must be at most CHANGE_DELAY ahead).
    fn validators_at(&self, height: u64) -> Vec<PublicKey> {
        height_config(self.builder.state(), height)
            .roster
            .validator_set()
            .unwrap()
            .validators()
            .iter()
            .map(|v| v.consensus_key)
            .collect()
    }

    fn verify(&self) -> Result<contracts::audit::Verdict, AuditFailure> {
        verify_chain(
            &self.builder.genesis,
            &self.builder.file_header(),
            self.builder.entries.iter().cloned().map(Ok::<_, String>),
            |_| {},
        )
    }
}

fn admins(names: &[&str]) -> Vec<SecretKey> {
    names.iter().map(|n| org_key(n)).collect()
}

fn refs(keys: &[SecretKey]) -> Vec<&SecretKey> {
    keys.iter().collect()
}

fn new_key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn add_validator(org: &str, key: &SecretKey, power: u64) -> Action {
    Action::AddValidator(AddValidator {
        org: id(org),
        consensus_key: key.public_key(),
        voting_power: power,
        address: Text::new("/dns4/node.example/tcp/27000").unwrap(),
        transport: None,
    })
}

fn admit(org: &str, kind: OrgKind, key: &SecretKey) -> Action {
    Action::AdmitOrganisation(AdmitOrganisation {
        org: id(org),
        kind,
        admin_key: key.public_key(),
    })
}

fn rejected(code: Code) -> Outcome {
    Outcome::Rejected(code)
}

#[test]
fn a_change_needs_the_threshold_of_admin_keys_and_the_regulator() {
    let mut net = Net::new();
    let fifth = new_key(50);
    // 3 of the 4 voters, but not the regulator.
    let three = admins(&["bank", "ins", "gov"]);
    assert_eq!(
        net.run(admit("bank2", OrgKind::Bank, &fifth), &refs(&three)),
        rejected(Code::NotApproved)
    );
    // 2 of 4 with the regulator: short of two thirds.
    let two = admins(&["bank", "reg"]);
    assert_eq!(
        net.run(admit("bank2", OrgKind::Bank, &fifth), &refs(&two)),
        rejected(Code::NotApproved)
    );
    // An auditor signs nothing (R2.3), however many others approve.
    let with_auditor = admins(&["bank", "ins", "reg", "aud"]);
    assert_eq!(
        net.run(admit("bank2", OrgKind::Bank, &fifth), &refs(&with_auditor)),
        rejected(Code::Unauthorized)
    );

    // Staff keys sign for their organisations, but only admin keys approve.
    let staff: Vec<SecretKey> = (0..3).map(|i| new_key(60 + i)).collect();
    for (org, key) in ["bank", "ins", "reg"].iter().zip(&staff) {
        let register = Action::RegisterStaffKey(StaffKey {
            org: id(org),
            public_key: key.public_key(),
        });
        assert_eq!(net.run(register, &[&org_key(org)]), Outcome::Accepted);
    }
    assert_eq!(
        net.run(admit("bank2", OrgKind::Bank, &fifth), &refs(&staff)),
        rejected(Code::NotApproved)
    );

    let root_before = height_config(net.builder.state(), net.height() + 1);
    let approving = admins(&["bank", "ins", "reg"]);
    assert_eq!(
        net.run(admit("bank2", OrgKind::Bank, &fifth), &refs(&approving)),
        Outcome::Accepted
    );
    assert_eq!(
        height_config(net.builder.state(), net.height() + 1),
        root_before,
        "admitting an organisation does not touch the validators"
    );
    // The new member signs at once, and counts as a voter from now on: 3 of 5 is short.
    let top_up = Action::FundTopUp(FundTopUp {
        fund: id("no-such-fund"),
        amount_fen: Fen(1),
        reference: Text::new("r").unwrap(),
    });
    assert_eq!(net.run(top_up, &[&fifth]), rejected(Code::UnknownFund));
    assert_eq!(
        net.run(
            admit("bank3", OrgKind::Bank, &new_key(51)),
            &refs(&approving)
        ),
        rejected(Code::NotApproved)
    );
    assert!(net.verify().is_ok());
}

#[test]
fn ids_and_keys_are_never_reused() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    let a = refs(&approving);
    assert_eq!(
        net.run(admit("bank", OrgKind::Bank, &new_key(50)), &a),
        rejected(Code::DuplicateId)
    );
    assert_eq!(
        net.run(admit("bank2", OrgKind::Bank, &org_key("gov")), &a),
        rejected(Code::DuplicateKey),
        "another organisation's admin key"
    );
    assert_eq!(
        net.run(admit("bank2", OrgKind::Bank, &validator_key(0)), &a),
        rejected(Code::DuplicateKey),
        "a consensus key"
    );
    assert_eq!(
        net.run(add_validator("bank", &org_key("ins"), 1), &a),
        rejected(Code::DuplicateKey)
    );
    let weak = Action::AdmitOrganisation(AdmitOrganisation {
        org: id("bank2"),
        kind: OrgKind::Bank,
        admin_key: PublicKey::Ed25519([0; 32]),
    });
    assert_eq!(net.run(weak, &a), rejected(Code::InvalidField));
    // A well-formed key of another algorithm than the chain's: refused with its own code.
    let sm2 = Action::AdmitOrganisation(AdmitOrganisation {
        org: id("bank2"),
        kind: OrgKind::Bank,
        admin_key: SecretKey::from_seed_for(Algorithm::Sm2, [51; 32]).public_key(),
    });
    assert_eq!(net.run(sm2, &a), rejected(Code::WrongAlgorithm));
    assert!(net.verify().is_ok());
}

#[test]
fn a_new_validator_counts_from_the_fixed_distance_and_certifies_blocks() {
    let mut net = Net::new();
    net.tick();
    let approving = admins(&["bank", "ins", "reg"]);
    // Once bank2 is a member there are five voters: two thirds of them is four.
    let four = admins(&["bank", "ins", "gov", "reg"]);
    let fifth_admin = new_key(50);
    let fifth_node = new_key(70);
    assert_eq!(
        net.block(vec![
            (
                admit("bank2", OrgKind::Bank, &fifth_admin),
                &refs(&approving)
            ),
            (add_validator("bank2", &fifth_node, 1), &refs(&four)),
        ]),
        vec![Outcome::Accepted, Outcome::Accepted]
    );
    let h = net.height();
    assert_eq!(net.validators_at(h + 1).len(), 4, "not yet at h + 1");
    assert_eq!(net.validators_at(h + CHANGE_DELAY).len(), 5);
    assert!(net
        .validators_at(h + CHANGE_DELAY)
        .contains(&fifth_node.public_key()));

    net.builder.learn_key(fifth_node.clone());
    for _ in 0..6 {
        net.tick();
    }
    // 5 validators of power 1: every certificate from h + 2 has 4 signatures, and the new
    // validator signs some of them.
    let signers_at = |entry: &ChainEntry| -> Vec<PublicKey> {
        entry
            .certificate
            .signatures
            .iter()
            .map(|s| s.validator)
            .collect()
    };
    let after: Vec<&ChainEntry> = net.builder.entries[(h + CHANGE_DELAY) as usize - 1..]
        .iter()
        .collect();
    assert!(after.iter().all(|e| signers_at(e).len() == 4));
    assert!(after
        .iter()
        .any(|e| signers_at(e).contains(&fifth_node.public_key())));
    assert!(after
        .iter()
        .any(|e| e.block.header.proposer == fifth_node.public_key()));
    let verdict = net
        .verify()
        .expect("the chain verifies from the genesis alone");
    assert_eq!(verdict.height, net.height());

    // Three signatures of five are no quorum: a certificate that was enough before the
    // change is refused after it.
    let mut short = net.builder.entries.clone();
    let last = short.last_mut().unwrap();
    last.certificate.signatures.pop();
    let failure = verify_chain(
        &net.builder.genesis,
        &net.builder.file_header(),
        short.into_iter().map(Ok::<_, String>),
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            failure,
            AuditFailure::Certificate {
                error: CertificateError::NoQuorum {
                    signed: 3,
                    total: 5
                },
                ..
            }
        ),
        "{failure}"
    );
}

#[test]
fn a_removed_validator_no_longer_counts_and_colluding_old_validators_are_caught() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    let removed = validator_key(3).public_key();
    let remove = Action::RemoveValidator(ValidatorRef {
        consensus_key: removed,
    });
    assert_eq!(
        net.run(remove.clone(), &refs(&approving)),
        Outcome::Accepted
    );
    let h = net.height();
    assert!(net.validators_at(h + 1).contains(&removed));
    assert!(!net.validators_at(h + CHANGE_DELAY).contains(&removed));
    for _ in 0..4 {
        net.tick();
    }
    assert!(net.verify().is_ok());
    let later = (h + CHANGE_DELAY + 1) as usize - 1;
    assert!(net.builder.entries[later..].iter().all(|e| e
        .certificate
        .signatures
        .iter()
        .all(|s| s.validator != removed)));

    // Counting the removed validator's signature in a later certificate is caught.
    let mut entries = net.builder.entries.clone();
    let extra = testkit::certify(
        &net.builder.genesis.chain_id,
        entries[later].height(),
        entries[later].block.id(SUITE),
        &[validator_key(3)],
    );
    entries[later]
        .certificate
        .signatures
        .extend(extra.signatures);
    let failure = verify_chain(
        &net.builder.genesis,
        &net.builder.file_header(),
        entries.into_iter().map(Ok::<_, String>),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(failure.height(), Some(later as u64 + 1));
    assert!(
        matches!(
            failure,
            AuditFailure::Certificate {
                error: CertificateError::UnknownSigner(key),
                ..
            } if key == removed
        ),
        "{failure}"
    );

    // The last validator cannot be removed; an unknown one cannot be either.
    assert_eq!(
        net.run(remove, &refs(&approving)),
        rejected(Code::UnknownValidator)
    );
    for i in 0..2 {
        let r = Action::RemoveValidator(ValidatorRef {
            consensus_key: validator_key(i).public_key(),
        });
        assert_eq!(net.run(r, &refs(&approving)), Outcome::Accepted);
    }
    let last = Action::RemoveValidator(ValidatorRef {
        consensus_key: validator_key(2).public_key(),
    });
    assert_eq!(
        net.run(last, &refs(&approving)),
        rejected(Code::NoValidators)
    );
    let zero = Action::SetVotingPower(SetVotingPower {
        consensus_key: validator_key(2).public_key(),
        voting_power: 0,
    });
    assert_eq!(
        net.run(zero, &refs(&approving)),
        rejected(Code::NoValidators)
    );
}

#[test]
fn a_header_that_keeps_the_old_validator_set_is_a_broken_link() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    let remove = Action::RemoveValidator(ValidatorRef {
        consensus_key: validator_key(3).public_key(),
    });
    assert_eq!(net.run(remove, &refs(&approving)), Outcome::Accepted);
    let old_hash = net.builder.genesis.validator_set_hash().unwrap();
    net.tick();
    let time = net.builder.last_time_ms() + 1000;
    // The validators of the old set certify a block that pretends nothing changed.
    net.builder.push_block_with(time, Vec::new(), |header| {
        header.validator_set_hash = old_hash;
    });
    let failure = net.verify().unwrap_err();
    assert!(
        matches!(
            failure,
            AuditFailure::Link {
                height: 3,
                fault: LinkFault::ValidatorSet,
                ..
            }
        ),
        "{failure}"
    );
}

#[test]
fn rotated_keys_sign_and_the_old_ones_do_not() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    let new_bank_admin = new_key(80);
    let rotate = Action::RotateAdminKey(RotateAdminKey {
        org: id("bank"),
        admin_key: new_bank_admin.public_key(),
    });
    let top_up = || {
        Action::FundTopUp(FundTopUp {
            fund: id("no-such-fund"),
            amount_fen: Fen(1),
            reference: Text::new("r").unwrap(),
        })
    };
    // In one block: the rotation, then the old key (refused at once), then the new one.
    assert_eq!(
        net.block(vec![
            (rotate, &refs(&approving)),
            (top_up(), &[&org_key("bank")]),
            (top_up(), &[&new_bank_admin]),
        ]),
        vec![
            Outcome::Accepted,
            rejected(Code::Unauthorized),
            rejected(Code::UnknownFund)
        ]
    );
    // The old admin key no longer approves; the new one does.
    let old = admins(&["bank", "ins", "reg"]);
    assert_eq!(
        net.run(admit("bank2", OrgKind::Bank, &new_key(81)), &refs(&old)),
        rejected(Code::Unauthorized)
    );
    let ins = org_key("ins");
    let reg = org_key("reg");
    assert_eq!(
        net.run(
            admit("bank2", OrgKind::Bank, &new_key(81)),
            &[&new_bank_admin, &ins, &reg]
        ),
        Outcome::Accepted
    );

    // A consensus key rotation: the new key certifies from the fixed distance on. With
    // bank2 admitted, four of the five voters approve.
    let gov = org_key("gov");
    let replacement = new_key(90);
    let rotate_node = Action::RotateValidatorKey(RotateValidatorKey {
        consensus_key: validator_key(1).public_key(),
        new_consensus_key: replacement.public_key(),
        address: Some(Text::new("/ip4/10.0.0.9/tcp/27000").unwrap()),
        new_transport: None,
    });
    assert_eq!(
        net.run(rotate_node, &[&new_bank_admin, &ins, &gov, &reg]),
        Outcome::Accepted
    );
    let h = net.height();
    net.builder.learn_key(replacement.clone());
    for _ in 0..5 {
        net.tick();
    }
    let config = height_config(net.builder.state(), net.height() + 1);
    let node = config.roster.get(&replacement.public_key()).unwrap();
    assert_eq!(node.address.as_str(), "/ip4/10.0.0.9/tcp/27000");
    assert!(config.roster.get(&validator_key(1).public_key()).is_none());
    let after = &net.builder.entries[(h + CHANGE_DELAY) as usize - 1..];
    assert!(after.iter().any(|e| e
        .certificate
        .signatures
        .iter()
        .any(|s| s.validator == replacement.public_key())));
    assert!(after.iter().all(|e| e
        .certificate
        .signatures
        .iter()
        .all(|s| s.validator != validator_key(1).public_key())));
    assert!(net.verify().is_ok());
}

#[test]
fn a_removed_organisation_signs_nothing_and_its_nodes_leave() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    // The bank runs validator 0 (testkit gives them out in turn).
    let bank_node = validator_key(0).public_key();
    let remove = Action::RemoveOrganisation(OrgRef { org: id("bank") });
    assert_eq!(
        net.run(remove.clone(), &refs(&approving)),
        Outcome::Accepted
    );
    let h = net.height();
    assert!(!net.validators_at(h + CHANGE_DELAY).contains(&bank_node));
    let top_up = Action::FundTopUp(FundTopUp {
        fund: id("no-such-fund"),
        amount_fen: Fen(1),
        reference: Text::new("r").unwrap(),
    });
    assert_eq!(
        net.run(top_up, &[&org_key("bank")]),
        rejected(Code::Unauthorized)
    );
    assert_eq!(
        net.run(remove, &refs(&admins(&["ins", "gov", "reg"]))),
        rejected(Code::UnknownParty)
    );
    assert_eq!(
        net.run(
            admit("bank", OrgKind::Bank, &new_key(77)),
            &refs(&admins(&["ins", "gov", "reg"]))
        ),
        rejected(Code::DuplicateId),
        "a removed organisation's id is never reused"
    );
    assert_eq!(
        net.run(
            add_validator("bank", &new_key(78), 1),
            &refs(&admins(&["ins", "gov", "reg"]))
        ),
        rejected(Code::UnknownParty)
    );
    for _ in 0..3 {
        net.tick();
    }
    assert!(net.verify().is_ok());
}

#[test]
fn nodes_of_the_wrong_organisation_or_shape_are_refused() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    let a = refs(&approving);
    assert_eq!(
        net.run(add_validator("nobody", &new_key(40), 1), &a),
        rejected(Code::UnknownParty)
    );
    assert_eq!(
        net.run(add_validator("aud", &new_key(41), 1), &a),
        rejected(Code::UnknownParty),
        "an auditor does not vote"
    );
    assert_eq!(
        net.run(add_validator("aud", &new_key(41), 0), &a),
        Outcome::Accepted,
        "but may run a follower"
    );
    let blank = Action::AddValidator(AddValidator {
        org: id("bank"),
        consensus_key: new_key(42).public_key(),
        voting_power: 1,
        address: Text::new(" ").unwrap(),
        transport: None,
    });
    assert_eq!(net.run(blank, &a), rejected(Code::InvalidField));
    assert_eq!(
        net.run(add_validator("bank", &new_key(43), u64::MAX), &a),
        rejected(Code::Overflow)
    );
    let unknown = Action::SetVotingPower(SetVotingPower {
        consensus_key: new_key(44).public_key(),
        voting_power: 2,
    });
    assert_eq!(net.run(unknown, &a), rejected(Code::UnknownValidator));
    let promote_auditor = Action::SetVotingPower(SetVotingPower {
        consensus_key: new_key(41).public_key(),
        voting_power: 1,
    });
    assert_eq!(net.run(promote_auditor, &a), rejected(Code::UnknownParty));
    assert!(net.verify().is_ok());
}

#[test]
fn parameters_and_the_rule_change_by_approval() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    let bad = Action::SetParams(Params {
        block_time_ms: 0,
        ..Params::default()
    });
    assert_eq!(
        net.run(bad, &refs(&approving)),
        rejected(Code::InvalidField)
    );
    let params = Params {
        block_time_ms: 2_000,
        block_txs_max: 50,
        tx_expiry_heights_max: 20,
        heartbeat_ms: ledger::genesis::HEARTBEAT_MS_DEFAULT,
        upgrade_lead_heights: ledger::genesis::UPGRADE_LEAD_HEIGHTS_DEFAULT,
        obligor_limit_fen: None,
    };
    assert_eq!(
        net.run(Action::SetParams(params.clone()), &refs(&approving)),
        Outcome::Accepted
    );
    let h = net.height();
    assert_ne!(height_config(net.builder.state(), h + 1).params, params);
    assert_eq!(
        height_config(net.builder.state(), h + CHANGE_DELAY).params,
        params
    );

    // A simple majority without the regulator, from now on.
    let rule = GovernanceRule {
        threshold_bps: 5_000,
        regulator_required: false,
    };
    assert_eq!(
        net.run(
            Action::SetGovernance(GovernanceRule {
                threshold_bps: 0,
                regulator_required: false
            }),
            &refs(&approving)
        ),
        rejected(Code::InvalidField)
    );
    assert_eq!(
        net.run(
            Action::SetGovernance(rule),
            &refs(&admins(&["bank", "ins"]))
        ),
        rejected(Code::NotApproved),
        "judged by the rule it replaces"
    );
    assert_eq!(
        net.run(Action::SetGovernance(rule), &refs(&approving)),
        Outcome::Accepted
    );
    assert_eq!(
        net.run(
            admit("bank2", OrgKind::Bank, &new_key(55)),
            &refs(&admins(&["bank", "ins"]))
        ),
        Outcome::Accepted
    );
    assert!(net.verify().is_ok());
}

#[test]
fn a_tampered_change_is_caught() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    assert_eq!(
        net.run(add_validator("bank", &new_key(70), 1), &refs(&approving)),
        Outcome::Accepted
    );
    net.builder.learn_key(new_key(70));
    for _ in 0..3 {
        net.tick();
    }
    let mut entries = net.builder.entries.clone();
    if let Action::AddValidator(tx) = &mut entries[0].block.txs[0].body.action {
        tx.voting_power = 100;
    }
    let failure = verify_chain(
        &net.builder.genesis,
        &net.builder.file_header(),
        entries.into_iter().map(Ok::<_, String>),
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            failure,
            AuditFailure::TransactionsNotCertified { height: 1, .. }
        ),
        "{failure}"
    );
}

#[test]
fn the_report_lists_the_governance_history_with_its_approvers() {
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    assert_eq!(
        net.run(
            admit("bank2", OrgKind::Bank, &new_key(50)),
            &refs(&admins(&["bank"]))
        ),
        rejected(Code::NotApproved)
    );
    assert_eq!(
        net.run(add_validator("gov", &new_key(70), 2), &refs(&approving)),
        Outcome::Accepted
    );
    assert_eq!(
        net.run(
            Action::RemoveOrganisation(OrgRef { org: id("ins") }),
            &refs(&approving)
        ),
        Outcome::Accepted
    );
    net.builder.learn_key(new_key(70));
    net.tick();
    let (_, doc) = contracts::audit::history::verify_with_history(
        &net.builder.genesis,
        &net.builder.file_header(),
        net.builder.entries.iter().cloned().map(Ok::<_, String>),
        |_| {},
    )
    .unwrap();
    let history = doc["governance"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["outcome"], "rejected");
    assert_eq!(history[0]["code"], "NotApproved");
    assert_eq!(history[1]["type"], "AddValidator");
    assert_eq!(history[1]["height"], 2);
    assert_eq!(history[1]["effective_height"], 2 + CHANGE_DELAY);
    assert_eq!(history[1]["change"]["voting_power"], 2);
    assert_eq!(
        history[1]["approved_by"],
        serde_json::json!(["bank", "ins", "reg"])
    );
    assert_eq!(history[2]["type"], "RemoveOrganisation");
    assert_eq!(doc["organisations"]["ins"]["removed"], true);
}

#[test]
fn a_proof_after_a_change_carries_the_changes_and_checks_with_the_genesis_alone() {
    use ledger::proof::{ProofError, TxProof};
    let mut net = Net::new();
    let approving = admins(&["bank", "ins", "reg"]);
    let newcomer = new_key(70);
    assert_eq!(
        net.run(add_validator("gov", &newcomer, 1), &refs(&approving)),
        Outcome::Accepted
    );
    net.builder.learn_key(newcomer.clone());
    net.tick();
    assert_eq!(
        net.run(
            Action::RemoveValidator(ValidatorRef {
                consensus_key: validator_key(0).public_key()
            }),
            &refs(&approving)
        ),
        Outcome::Accepted
    );
    for _ in 0..3 {
        net.tick();
    }
    let top_up = Action::FundTopUp(FundTopUp {
        fund: id("no-such-fund"),
        amount_fen: Fen(1),
        reference: Text::new("the settlement to prove").unwrap(),
    });
    assert_eq!(
        net.run(top_up, &[&org_key("gov")]),
        rejected(Code::UnknownFund)
    );
    let entries = &net.builder.entries;
    let target = entries.last().unwrap();
    let changes: Vec<TxProof> = entries[..entries.len() - 1]
        .iter()
        .flat_map(|e| TxProof::roster_changes_of(SUITE, e))
        .collect();
    assert_eq!(changes.len(), 2);

    let bare = TxProof::from_entry(SUITE, target, 0).unwrap();
    assert_eq!(
        bare.verify(&net.builder.genesis),
        Err(ProofError::ValidatorsNotGenesis)
    );
    let proof = bare.clone().with_validator_changes(changes.clone());
    let proven = proof.verify(&net.builder.genesis).unwrap();
    assert_eq!(proven.height, target.height());
    assert_eq!(proven.validator_changes.len(), 2);
    assert_eq!(proven.validator_changes[0].0, 1);
    let read = TxProof::from_json(proof.to_json().as_bytes()).unwrap();
    assert_eq!(read, proof);

    // A change left out: the header names validators the proof cannot derive.
    let partial = bare.clone().with_validator_changes(changes[..1].to_vec());
    assert!(matches!(
        partial.verify(&net.builder.genesis),
        Err(ProofError::ValidatorsNotDerived { .. })
    ));
    // Out of order, or altered: refused.
    let reversed = bare
        .clone()
        .with_validator_changes(changes.iter().rev().cloned().collect());
    assert!(reversed.verify(&net.builder.genesis).is_err());
    let mut bent = changes.clone();
    if let Action::RemoveValidator(r) = &mut bent[1].tx.body.action {
        r.consensus_key = validator_key(1).public_key();
    }
    let forged = bare.with_validator_changes(bent);
    assert!(matches!(
        forged.verify(&net.builder.genesis),
        Err(ProofError::Change { index: 1, .. })
    ));
}
