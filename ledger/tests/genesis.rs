//! Genesis validation, hashing and loading.

use ledger::crypto::{Algorithm, PublicKey, SecretKey, Suite, VerifyError};
use ledger::genesis::{
    assemble, ApprovalError, ApproveOutcome, AssembleError, Genesis, GenesisError, GenesisFile,
    GenesisLoadError, GenesisOrg, GenesisSettings, GenesisStaffKey, GenesisValidator,
    GovernanceRule, MemberFile, MemberNode, Params, MEMBER_FORMAT,
};
use ledger::validators::ValidatorSetError;
use ledger::{Id, OrgKind, Text};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

fn pk(n: u8) -> PublicKey {
    SecretKey::from_seed([n; 32]).public_key()
}

fn id(s: &str) -> Id {
    Id::new(s).unwrap()
}

fn org(name: &str, kind: OrgKind, key: u8) -> GenesisOrg {
    GenesisOrg {
        id: id(name),
        kind,
        admin_key: pk(key),
    }
}

fn validator(org: &str, key: u8, power: u64) -> GenesisValidator {
    GenesisValidator {
        org: id(org),
        consensus_key: pk(key),
        voting_power: power,
        address: Text::new(format!("/ip4/127.0.0.1/tcp/{}", 27000 + u32::from(key))).unwrap(),
        transport: None,
    }
}

fn devnet() -> Genesis {
    Genesis {
        chain_id: id("xinbao-devnet"),
        protocol_version: 1,
        crypto_suite: Suite::Ed25519Blake3,
        genesis_time_ms: 1_767_225_600_000,
        organisations: vec![
            org("bank-a", OrgKind::Bank, 1),
            org("insurer-a", OrgKind::Insurer, 2),
            org("gov-a", OrgKind::Government, 3),
            org("reg-a", OrgKind::Regulator, 4),
            org("audit-a", OrgKind::Auditor, 5),
        ],
        validators: vec![
            validator("bank-a", 11, 1),
            validator("insurer-a", 12, 1),
            validator("gov-a", 13, 1),
            validator("reg-a", 14, 1),
        ],
        staff_keys: vec![GenesisStaffKey {
            org: id("bank-a"),
            public_key: pk(21),
        }],
        params: Params {
            block_time_ms: 1000,
            block_txs_max: 1000,
            tx_expiry_heights_max: 600,
            heartbeat_ms: ledger::genesis::HEARTBEAT_MS_DEFAULT,
            upgrade_lead_heights: ledger::genesis::UPGRADE_LEAD_HEIGHTS_DEFAULT,
            obligor_limit_fen: None,
        },
        governance: GovernanceRule::default(),
    }
}

#[test]
fn a_sound_genesis_validates() {
    let g = devnet();
    assert_eq!(g.validate(), Ok(()));
    assert_eq!(g.validator_set().unwrap().total_voting_power(), 4);
}

/// A change that breaks a sound genesis.
type Breakage = Box<dyn Fn(&mut Genesis)>;

#[test]
fn each_defect_is_named() {
    let cases: Vec<(Breakage, GenesisError)> = vec![
        (
            Box::new(|g| g.organisations.clear()),
            GenesisError::NoOrganisations,
        ),
        (
            Box::new(|g| g.validators.clear()),
            GenesisError::NoValidators,
        ),
        (
            Box::new(|g| g.organisations.push(org("bank-a", OrgKind::Bank, 30))),
            GenesisError::DuplicateOrganisation(id("bank-a")),
        ),
        (
            Box::new(|g| g.staff_keys[0].public_key = pk(2)),
            GenesisError::DuplicateKey(pk(2)),
        ),
        (
            Box::new(|g| g.validators[0].consensus_key = pk(1)),
            GenesisError::DuplicateKey(pk(1)),
        ),
        (
            Box::new(|g| g.validators[1].consensus_key = pk(11)),
            GenesisError::DuplicateKey(pk(11)),
        ),
        (
            Box::new(|g| g.validators[0].org = id("nobody")),
            GenesisError::UnknownValidatorOrg {
                key: pk(11),
                org: id("nobody"),
            },
        ),
        (
            Box::new(|g| g.validators[0].org = id("audit-a")),
            GenesisError::AuditorValidator {
                key: pk(11),
                org: id("audit-a"),
            },
        ),
        (
            Box::new(|g| g.staff_keys[0].org = id("nobody")),
            GenesisError::UnknownStaffOrg {
                key: pk(21),
                org: id("nobody"),
            },
        ),
        (
            Box::new(|g| g.staff_keys[0].org = id("audit-a")),
            GenesisError::AuditorStaffKey {
                key: pk(21),
                org: id("audit-a"),
            },
        ),
        (
            Box::new(|g| g.validators.iter_mut().for_each(|v| v.voting_power = 0)),
            GenesisError::NoValidators,
        ),
        (
            Box::new(|g| g.governance.threshold_bps = 0),
            GenesisError::BadParam {
                name: "threshold_bps",
                value: 0,
                min: 1,
                max: 10_000,
            },
        ),
        (
            Box::new(|g| g.governance.threshold_bps = 10_001),
            GenesisError::BadParam {
                name: "threshold_bps",
                value: 10_001,
                min: 1,
                max: 10_000,
            },
        ),
        (
            Box::new(|g| g.validators[2].voting_power = u64::MAX),
            GenesisError::ValidatorSet(ValidatorSetError::PowerOverflow),
        ),
        (
            Box::new(|g| g.validators[3].address = Text::new(" ").unwrap()),
            GenesisError::EmptyAddress(pk(14)),
        ),
        (
            Box::new(|g| g.organisations[0].admin_key = PublicKey::Ed25519([0; 32])),
            GenesisError::BadKey {
                owner: "organisation bank-a (admin)".into(),
                key: PublicKey::Ed25519([0; 32]),
                reason: VerifyError::WeakKey,
            },
        ),
        (
            Box::new(|g| {
                g.organisations[0].admin_key =
                    SecretKey::from_seed_for(Algorithm::Sm2, [1; 32]).public_key()
            }),
            GenesisError::WrongAlgorithm {
                owner: "organisation bank-a (admin)".into(),
                key: SecretKey::from_seed_for(Algorithm::Sm2, [1; 32]).public_key(),
                expected: Algorithm::Ed25519,
            },
        ),
        (
            Box::new(|g| g.params.block_time_ms = 0),
            GenesisError::BadParam {
                name: "block_time_ms",
                value: 0,
                min: 1,
                max: ledger::genesis::BLOCK_TIME_MS_MAX,
            },
        ),
        (
            Box::new(|g| g.params.block_txs_max = 0),
            GenesisError::BadParam {
                name: "block_txs_max",
                value: 0,
                min: 1,
                max: u64::from(ledger::genesis::BLOCK_TXS_LIMIT),
            },
        ),
        (
            Box::new(|g| g.params.tx_expiry_heights_max = 0),
            GenesisError::BadParam {
                name: "tx_expiry_heights_max",
                value: 0,
                min: 1,
                max: ledger::genesis::TX_EXPIRY_HEIGHTS_LIMIT,
            },
        ),
    ];
    for (i, (break_it, expected)) in cases.into_iter().enumerate() {
        let mut g = devnet();
        break_it(&mut g);
        assert_eq!(g.validate(), Err(expected), "case {i}");
    }
}

#[test]
fn followers_have_no_vote_and_an_auditor_runs_only_a_follower() {
    let mut g = devnet();
    g.validators[2].voting_power = 0;
    g.validators.push(validator("audit-a", 15, 0));
    assert_eq!(g.validate(), Ok(()));
    assert_eq!(g.validator_set().unwrap().len(), 3);
    assert_eq!(g.roster().unwrap().entries().len(), 5);
    g.validators[4].voting_power = 1;
    assert_eq!(
        g.validate(),
        Err(GenesisError::AuditorValidator {
            key: pk(15),
            org: id("audit-a"),
        })
    );
}

fn member(name: &str, kind: OrgKind, admin: u8, node: Option<(u8, u64)>) -> MemberFile {
    MemberFile {
        format: MEMBER_FORMAT.to_string(),
        org: id(name),
        kind,
        admin_key: pk(admin),
        nodes: node
            .into_iter()
            .map(|(key, power)| MemberNode {
                consensus_key: pk(key),
                voting_power: power,
                address: Text::new(format!("/dns4/{name}.example/tcp/27000")).unwrap(),
                transport: None,
            })
            .collect(),
    }
}

fn members() -> Vec<MemberFile> {
    vec![
        member("bank-a", OrgKind::Bank, 1, Some((11, 1))),
        member("insurer-a", OrgKind::Insurer, 2, Some((12, 1))),
        member("gov-a", OrgKind::Government, 3, Some((13, 1))),
        member("reg-a", OrgKind::Regulator, 4, Some((14, 1))),
        member("audit-a", OrgKind::Auditor, 5, Some((15, 0))),
    ]
}

#[test]
fn assembly_is_the_same_for_the_same_members_in_any_order() {
    let settings = GenesisSettings {
        genesis_time_ms: 1_767_225_600_000,
        ..GenesisSettings::default()
    };
    let a = assemble(id("xinbao-pilot"), &members(), &settings).unwrap();
    let mut shuffled = members();
    shuffled.reverse();
    shuffled.swap(0, 2);
    let b = assemble(id("xinbao-pilot"), &shuffled, &settings).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.hash(), b.hash());
    assert_eq!(
        a.organisations[0].id,
        id("audit-a"),
        "organisations in id order"
    );
    assert_eq!(a.validator_set().unwrap().len(), 4);

    let mut twice = members();
    twice.push(member("bank-a", OrgKind::Bank, 9, None));
    assert_eq!(
        assemble(id("xinbao-pilot"), &twice, &settings),
        Err(AssembleError::DuplicateMember(id("bank-a")))
    );
    let mut old = members();
    old[0].format = "xinbao-member/0".into();
    assert!(matches!(
        assemble(id("xinbao-pilot"), &old, &settings),
        Err(AssembleError::Format { .. })
    ));
    let mut same_key = members();
    same_key[1].admin_key = pk(1);
    assert_eq!(
        assemble(id("xinbao-pilot"), &same_key, &settings),
        Err(AssembleError::Invalid(GenesisError::DuplicateKey(pk(1))))
    );
}

#[test]
fn every_founder_must_approve_the_genesis_hash() {
    let genesis = assemble(id("xinbao-pilot"), &members(), &GenesisSettings::default()).unwrap();
    let mut file = GenesisFile::unapproved(genesis.clone());
    let missing = match file.check_approved() {
        Err(ApprovalError::Missing { missing, .. }) => missing,
        other => panic!("{other:?}"),
    };
    assert_eq!(missing.len(), 5);

    for seed in [1u8, 2, 3, 4] {
        let key = SecretKey::from_seed([seed; 32]);
        assert_eq!(file.approve(&key), Ok(ApproveOutcome::Added));
    }
    assert_eq!(
        file.approve(&SecretKey::from_seed([1; 32])),
        Ok(ApproveOutcome::AlreadyApproved)
    );
    assert_eq!(
        file.approve(&SecretKey::from_seed([11; 32])),
        Err(ApprovalError::NotAFounder(pk(11))),
        "a consensus key is not an admin key"
    );
    let err = file.check_approved().unwrap_err();
    assert_eq!(
        err,
        ApprovalError::Missing {
            hash: hex::encode(genesis.hash()),
            missing: vec![id("audit-a")],
        }
    );
    assert!(err.to_string().contains("audit-a"), "{err}");
    file.approve(&SecretKey::from_seed([5; 32])).unwrap();
    assert_eq!(file.check_approved(), Ok(()));

    // The approvals survive the file's JSON form, and the genesis inside is unchanged.
    let read = GenesisFile::from_json(file.to_json().as_bytes()).unwrap();
    assert_eq!(read, file);
    assert_eq!(
        Genesis::from_json(file.to_json().as_bytes()).unwrap(),
        genesis
    );

    // An approval of another draft, or moved to another organisation, does not count.
    let mut changed = file.clone();
    changed.genesis.params.block_time_ms += 1;
    assert!(matches!(
        changed.check_approved(),
        Err(ApprovalError::Invalid { .. })
    ));
    assert_eq!(changed.approval_status().invalid.len(), 5);
    let mut moved = file.clone();
    moved.approvals[0].org = id("bank-a");
    assert!(!moved.approval_status().complete());
}

#[test]
fn hashes_change_with_content_not_with_validator_order() {
    let g = devnet();
    let mut other = g.clone();
    other.params.block_time_ms += 1;
    assert_ne!(g.hash(), other.hash());
    assert_eq!(g.validator_set_hash(), other.validator_set_hash());

    let mut reordered = g.clone();
    reordered.validators.reverse();
    assert_ne!(
        g.hash(),
        reordered.hash(),
        "the file's hash covers its order"
    );
    assert_eq!(g.validator_set_hash(), reordered.validator_set_hash());

    let mut heavier = g.clone();
    heavier.validators[0].voting_power = 2;
    assert_ne!(g.validator_set_hash(), heavier.validator_set_hash());
    assert_eq!(g.hash(), ledger::codec::hash(SUITE, &g));

    let mut other_rule = g.clone();
    other_rule.governance.threshold_bps = 5_000;
    assert_ne!(
        g.hash(),
        other_rule.hash(),
        "the governance rule is part of the genesis"
    );
}

#[test]
fn loading_reports_the_file_and_the_fault() {
    let dir = std::env::temp_dir().join(format!("xinbao-genesis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("genesis.json");
    std::fs::write(&good, devnet().to_json()).unwrap();
    assert_eq!(Genesis::load(&good).unwrap(), devnet());

    let missing = dir.join("missing.json");
    let err = Genesis::load(&missing).unwrap_err();
    assert!(matches!(err, GenesisLoadError::Io { .. }));
    assert!(err.to_string().contains("missing.json"), "{err}");

    let truncated = dir.join("truncated.json");
    let text = devnet().to_json();
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let err = Genesis::load(&truncated).unwrap_err();
    assert!(matches!(err, GenesisLoadError::Json { .. }));
    assert!(err.to_string().contains("truncated.json"), "{err}");
    assert!(err.to_string().contains("line"), "{err}");

    let invalid = dir.join("invalid.json");
    let mut g = devnet();
    g.validators.clear();
    std::fs::write(&invalid, g.to_json()).unwrap();
    let err = Genesis::load(&invalid).unwrap_err();
    assert!(matches!(
        err,
        GenesisLoadError::Invalid {
            source: GenesisError::NoValidators,
            ..
        }
    ));
    assert!(err.to_string().contains("invalid.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
