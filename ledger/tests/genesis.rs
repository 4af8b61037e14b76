//! Genesis validation, hashing and loading.

use ledger::crypto::{PublicKey, SecretKey, VerifyError};
use ledger::genesis::{
    Genesis, GenesisError, GenesisLoadError, GenesisOrg, GenesisStaffKey, GenesisValidator, Params,
};
use ledger::validators::ValidatorSetError;
use ledger::{Id, OrgKind, Text};

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
    }
}

fn devnet() -> Genesis {
    Genesis {
        chain_id: id("xinbao-devnet"),
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
        },
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
            Box::new(|g| g.validators[2].voting_power = 0),
            GenesisError::ValidatorSet(ValidatorSetError::ZeroPower(pk(13))),
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
            Box::new(|g| g.organisations[0].admin_key = PublicKey([0; 32])),
            GenesisError::BadKey {
                owner: "organisation bank-a (admin)".into(),
                key: PublicKey([0; 32]),
                reason: VerifyError::WeakKey,
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
    assert_eq!(g.hash(), ledger::codec::hash(&g));
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
