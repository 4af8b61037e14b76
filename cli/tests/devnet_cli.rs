//! `xinbao devnet init` and the network commands' errors, without running a node.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ledger::genesis::{Genesis, GenesisFile, MemberFile};
use ledger::OrgKind;
use serde_json::Value;

fn xinbao(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xinbao"))
        .args(args)
        .output()
        .expect("run xinbao")
}

fn fresh_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("xinbao-cli-{name}-{}-{nanos}", std::process::id()))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../network-configs/scenarios")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn init_writes_a_valid_genesis_keys_and_one_config_per_validator() {
    let dir = fresh_dir("init");
    let out = xinbao(&["devnet", "init", "--dir", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let file = GenesisFile::load(&dir.join("genesis.json")).expect("a valid genesis");
    assert_eq!(
        file.check_approved(),
        Ok(()),
        "the devnet's genesis is approved by every founder, as a ceremony's is"
    );
    let genesis = file.genesis;
    assert_eq!(genesis.chain_id.as_str(), "xinbao-devnet");
    assert_eq!(genesis.organisations.len(), 4);
    assert_eq!(genesis.validators.len(), 4);
    let kinds: Vec<OrgKind> = genesis.organisations.iter().map(|o| o.kind).collect();
    for kind in [
        OrgKind::Bank,
        OrgKind::Insurer,
        OrgKind::Government,
        OrgKind::Regulator,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing");
    }
    assert!((500..=1000).contains(&genesis.params.block_time_ms));

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("devnet.json")).unwrap()).unwrap();
    let nodes = manifest["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let mut ports = Vec::new();
    for node in nodes {
        let config_path = dir.join(node["config"].as_str().unwrap());
        let config = std::fs::read_to_string(&config_path).unwrap();
        for key in [
            "moniker",
            "data_dir",
            "genesis",
            "consensus_key",
            "http_listen",
            "p2p_listen",
        ] {
            assert!(
                config.contains(&format!("{key} = ")),
                "{key} missing in {config}"
            );
        }
        let key_path = config_path.with_file_name("consensus.key");
        assert_eq!(mode(&key_path), 0o600);
        let key = ledger::crypto::SecretKey::read_file(&key_path).unwrap();
        let validator = genesis
            .validators
            .iter()
            .find(|v| v.consensus_key == key.public_key())
            .expect("each node's key is a genesis validator");
        assert_eq!(validator.org.as_str(), node["org"].as_str().unwrap());
        assert!(config.contains(validator.address.as_str()));
        let url = node["url"].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:"));
        ports.push(url.rsplit(':').next().unwrap().parse::<u16>().unwrap());
    }
    ports
        .windows(2)
        .for_each(|w| assert_eq!(w[1], w[0] + 1, "HTTP ports are consecutive"));
    for org in &genesis.organisations {
        let secret = dir.join(format!("keys/{}.secret", org.id));
        assert_eq!(mode(&secret), 0o600);
        let key = ledger::crypto::SecretKey::read_file(&secret).unwrap();
        assert_eq!(key.public_key(), org.admin_key);
        let member: MemberFile = serde_json::from_slice(
            &std::fs::read(dir.join(format!("members/{}.json", org.id))).unwrap(),
        )
        .unwrap();
        assert_eq!(member.admin_key, org.admin_key);
    }

    // A second init never overwrites keys.
    let again = xinbao(&["devnet", "init", "--dir", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn init_from_a_scenario_gives_every_non_auditor_organisation_a_validator() {
    let dir = fresh_dir("orgs");
    let file = scenario("c-guangzhou-style.json");
    let out = xinbao(&[
        "devnet",
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--orgs-from",
        &file,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let genesis = Genesis::load(&dir.join("genesis.json")).unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let orgs = doc["orgs"].as_array().unwrap();
    assert_eq!(genesis.organisations.len(), orgs.len());
    for org in orgs {
        let id = org["id"].as_str().unwrap();
        assert!(
            genesis.validators.iter().any(|v| v.org.as_str() == id),
            "{id} runs no validator"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();

    let too_few = fresh_dir("few");
    let out = xinbao(&[
        "devnet",
        "init",
        "--dir",
        too_few.to_str().unwrap(),
        "--orgs-from",
        &file,
        "--validators",
        "4",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "five organisations cannot share four validators"
    );
    let _ = std::fs::remove_dir_all(&too_few);
}

#[test]
fn submitting_to_a_node_that_does_not_answer_is_an_error() {
    let dir = fresh_dir("submit");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tx.json");
    std::fs::write(
        &file,
        r#"{"chain_id": "xinbao-devnet", "nonce": 1, "expires_at_height": 10,
            "action": {"type": "CreateFund", "id": "f", "government": "gov", "annual_cap_fen": 1}}"#,
    )
    .unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    let out = xinbao(&[
        "tx",
        "submit",
        file.to_str().unwrap(),
        "--node",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"));
    let out = xinbao(&["query", "health", "--node", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// R12.1: a devnet is founded at the newest version by default, at a scenario's own with
/// `--orgs-from`, and at any supported version asked for; never at one this program lacks.
#[test]
fn init_founds_the_chain_at_the_version_asked_for_or_the_scenarios() {
    let version_of = |args: &[&str]| -> Genesis {
        let dir = fresh_dir("version");
        let mut all = vec!["devnet", "init", "--dir", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = xinbao(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let genesis = Genesis::load(&dir.join("genesis.json")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        genesis
    };
    let newest = version_of(&[]);
    assert_eq!(newest.protocol_version, contracts::upgrade::NEWEST);
    assert_eq!(
        newest.params.obligor_limit_fen,
        Some(contracts::obligor::OBLIGOR_LIMIT_FEN_DEFAULT)
    );
    let v1 = version_of(&["--protocol-version", "1", "--upgrade-lead-heights", "7"]);
    assert_eq!(v1.protocol_version, 1);
    assert_eq!(
        v1.params.obligor_limit_fen, None,
        "version 1 has no such parameter"
    );
    assert_eq!(v1.params.upgrade_lead_heights, 7);
    let a = scenario("a-ningbo-style.json");
    assert_eq!(version_of(&["--orgs-from", &a]).protocol_version, 1);
    let d = scenario("d-obligor-limit-v2.json");
    assert_eq!(version_of(&["--orgs-from", &d]).protocol_version, 2);
    assert_eq!(
        version_of(&["--orgs-from", &d, "--protocol-version", "1"]).protocol_version,
        1
    );

    let dir = fresh_dir("version-9");
    let out = xinbao(&[
        "devnet",
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--protocol-version",
        "9",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--protocol-version 9"), "{err}");
    assert!(!dir.exists(), "a refused init writes nothing");
    let out = xinbao(&[
        "devnet",
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--upgrade-lead-heights",
        "2",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("upgrade_lead_heights"), "{err}");
    assert!(!dir.exists(), "a refused init writes nothing");
}

/// The founding ceremony of an SM2 chain, without a node: each member's keys are SM2 and
/// its node has an ed25519 transport key its consensus key binds; the genesis names the
/// suite, every founder approves it; a member file made for the other suite is refused
/// with a message that says so.
#[test]
fn an_sm2_consortium_is_founded_with_bound_transport_keys() {
    let root = fresh_dir("sm2-founding");
    let members = [
        ("bank-a", "Bank"),
        ("ins-a", "Insurer"),
        ("gov-a", "Government"),
        ("reg", "Regulator"),
    ];
    let mut files = Vec::new();
    for (i, (org, kind)) in members.iter().enumerate() {
        let dir = root.join(org);
        let address = format!("/ip4/127.0.0.1/tcp/{}", 27_100 + 2 * i);
        let out = xinbao(&[
            "member",
            "init",
            "--org",
            org,
            "--kind",
            kind,
            "--dir",
            dir.to_str().unwrap(),
            "--p2p-address",
            &address,
            "--crypto-suite",
            "sm2-sm3",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(mode(&dir.join("transport.key")), 0o600);
        let config = std::fs::read_to_string(dir.join("node.toml")).unwrap();
        assert!(
            config.contains("transport_key = \"transport.key\""),
            "{config}"
        );
        let member =
            MemberFile::from_json(&std::fs::read(dir.join("member.json")).unwrap()).unwrap();
        assert_eq!(member.admin_key.algorithm(), ledger::crypto::Algorithm::Sm2);
        let node = &member.nodes[0];
        assert_eq!(
            ledger::validators::TransportKey::check(&node.consensus_key, node.transport.as_ref()),
            Ok(())
        );
        files.push(dir.join("member.json"));
    }
    let genesis_path = root.join("genesis.json");
    let mut assemble = vec![
        "genesis",
        "assemble",
        "--chain-id",
        "xinbao-sm2",
        "--crypto-suite",
        "sm2-sm3",
        "--out",
        genesis_path.to_str().unwrap(),
        "--member",
    ];
    assemble.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = xinbao(&assemble);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("crypto suite sm2-sm3"));
    for (org, _) in &members {
        let key = root.join(org).join("admin.secret");
        let out = xinbao(&[
            "genesis",
            "sign",
            genesis_path.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let file = GenesisFile::load(&genesis_path).unwrap();
    assert_eq!(file.check_approved(), Ok(()));
    assert_eq!(file.genesis.crypto_suite, ledger::crypto::Suite::Sm2Sm3);
    assert!(file
        .genesis
        .validators
        .iter()
        .all(|v| v.transport.is_some()));

    // The same members, assembled as an ed25519 chain: refused, and the message says why.
    let other = root.join("ed25519.json");
    let mut wrong = assemble.clone();
    wrong[5] = "ed25519-blake3";
    wrong[7] = other.to_str().unwrap();
    let out = xinbao(&wrong);
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("another crypto suite"), "{error}");
    assert!(!other.exists());
    let _ = std::fs::remove_dir_all(&root);
}
