//! A chain of the `sm2-sm3` suite end to end: four validators whose consensus keys are SM2
//! (each with the ed25519 transport key its roster entry binds) commit a worked example
//! with the figures the rulebook gives it; the chain exported from a node verifies from
//! its genesis alone and a tampered byte is caught; a signature made by OpenSSL is
//! accepted and one made here verifies in OpenSSL; an ed25519 signer is refused with its
//! code.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::txs::{export_and_verify, ok, s, sign_and_commit};
use common::{get, post_json, scenario_path, serial, text, tx_file, xinbao, Devnet};
use serde_json::{json, Value};

const START: Duration = Duration::from_secs(60);
const SCENARIO: &str = "a-ningbo-style.json";

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl 3 is installed (Debian's openssl)");
    assert!(
        out.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn an_sm2_devnet_commits_a_worked_example_and_interoperates_with_openssl() {
    let _one = serial();
    let scenario = scenario_path(SCENARIO);
    let scenario = scenario.to_str().unwrap();
    let mut net = Devnet::init(
        "sm2",
        &["--orgs-from", scenario, "--crypto-suite", "sm2-sm3"],
        true,
    );
    net.start_all();
    let all: Vec<usize> = (0..net.len()).collect();
    net.wait_height(&all, 1, START);

    // The status names the suite; every node's consensus key is SM2 and its peers know
    // it by the ed25519 transport key the roster binds to it.
    let (_, status) = get(&net.urls[0], "/v1/status").unwrap();
    assert_eq!(status["crypto_suite"], "sm2-sm3", "{status}");
    let validators = status["validators"].as_array().unwrap();
    assert_eq!(validators.len(), 4);
    for v in validators {
        assert!(
            v["consensus_key"].as_str().unwrap().starts_with("sm2:04"),
            "{v}"
        );
        assert!(
            v["transport_key"].as_str().unwrap().starts_with("ed25519:"),
            "{v}"
        );
    }
    let genesis_path = net.dir.join("genesis.json");
    let genesis: Value = serde_json::from_slice(&std::fs::read(&genesis_path).unwrap()).unwrap();
    assert_eq!(genesis["crypto_suite"], "sm2-sm3");

    // The worked example, replayed through the network, gives the rulebook's figures:
    // those of the offline run, which does not depend on the suite.
    let network_doc = net.replay(scenario, 0);
    let offline = contracts::scenario::run(&std::fs::read_to_string(scenario).unwrap()).unwrap();
    for section in ["claims", "funds", "loans", "policies", "programmes"] {
        assert_eq!(
            network_doc[section], offline.result[section],
            "{section}: the SM2 network and the rulebook differ"
        );
    }

    // An OpenSSL key, registered as a bank's staff key, signs with OpenSSL; the node
    // takes the transaction and the rulebook accepts it.
    let chain_id = net.manifest["chain_id"].as_str().unwrap().to_string();
    let work = net.dir.join("openssl");
    std::fs::create_dir_all(&work).unwrap();
    openssl(
        &work,
        &["genpkey", "-algorithm", "SM2", "-out", "staff.pem"],
    );
    openssl(
        &work,
        &[
            "pkey",
            "-in",
            "staff.pem",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "staff.der",
        ],
    );
    let staff_key = ok(&["keys", "show", s(&work.join("staff.der"))])
        .trim()
        .to_string();
    assert!(staff_key.starts_with("sm2:04"), "{staff_key}");
    let register = tx_file(
        &work,
        "register.json",
        &chain_id,
        1,
        json!({"type": "RegisterStaffKey", "org": "bank-a", "public_key": staff_key}),
    );
    let admin = net.admin_key("bank-a");
    assert!(sign_and_commit(&register, std::slice::from_ref(&admin), &net.urls[1]).accepted());

    let flag = tx_file(
        &work,
        "flag.json",
        &chain_id,
        2,
        json!({"type": "FlagEnterprise", "enterprise": "ent-openssl", "reason": "interop"}),
    );
    let message = work.join("flag.msg");
    ok(&[
        "tx",
        "message",
        s(&flag),
        "--crypto-suite",
        "sm2-sm3",
        "--out",
        s(&message),
    ]);
    openssl(
        &work,
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            "-inkey",
            "staff.pem",
            "-in",
            "flag.msg",
            "-out",
            "flag.sig",
        ],
    );
    // A signature over another message is refused before it is added.
    let wrong = xinbao(&[
        "tx",
        "add-signature",
        s(&register),
        "--public-key",
        s(&work.join("staff.der")),
        "--signature",
        s(&work.join("flag.sig")),
    ]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("does not verify"),
        "{}",
        text(&wrong.stderr)
    );
    ok(&[
        "tx",
        "add-signature",
        s(&flag),
        "--public-key",
        s(&work.join("staff.der")),
        "--signature",
        s(&work.join("flag.sig")),
    ]);
    let flagged = sign_and_commit(&flag, &[], &net.urls[2]);
    assert!(flagged.accepted(), "{}", flagged.out);

    // The bank admin's signature, made here, verifies in OpenSSL over the same bytes.
    let signed: Value = serde_json::from_slice(&std::fs::read(&register).unwrap()).unwrap();
    let signature = signed["signatures"][0]["signature"].as_str().unwrap();
    let raw = ledger::crypto::Signature::from_hex(signature).unwrap().0;
    std::fs::write(work.join("admin.sig"), ledger::gm::signature_der(&raw)).unwrap();
    ok(&[
        "keys",
        "show",
        s(&admin),
        "--der",
        s(&work.join("admin.der")),
    ]);
    ok(&[
        "tx",
        "message",
        s(&register),
        "--out",
        s(&work.join("register.msg")),
    ]);
    let verified = openssl(
        &work,
        &[
            "pkeyutl",
            "-verify",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            "admin.der",
            "-in",
            "register.msg",
            "-sigfile",
            "admin.sig",
        ],
    );
    assert!(verified.contains("Verified Successfully"), "{verified}");

    // An ed25519 signer is refused at the door with its code.
    let stem = work.join("ed");
    ok(&["keys", "new", "--out", s(&stem)]);
    let foreign = tx_file(
        &work,
        "foreign.json",
        &chain_id,
        3,
        json!({"type": "FlagEnterprise", "enterprise": "ent-ed", "reason": "wrong suite"}),
    );
    ok(&["tx", "sign", s(&foreign), "--key", s(&stem)]);
    let body: Value = serde_json::from_slice(&std::fs::read(&foreign).unwrap()).unwrap();
    let (code, answer) = post_json(&net.urls[0], "/v1/tx", &body);
    assert_eq!(code, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "WrongAlgorithm", "{answer}");

    // The chain, exported from another node, verifies from the genesis alone.
    let committed = net.height(2).unwrap();
    net.wait_height(&[3], committed, Duration::from_secs(30));
    let chain = net.dir.join("chain.xbc");
    let verdict = export_and_verify(&net.urls[3], &[], &chain, &genesis_path);
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert!(
        verdict["height"].as_u64().unwrap() >= flagged.height,
        "the OpenSSL-signed transaction is in the chain: {verdict}"
    );

    // One byte changed anywhere in the blocks is caught.
    let mut bytes = std::fs::read(&chain).unwrap();
    let at = bytes.len() * 2 / 3;
    bytes[at] ^= 0x01;
    let tampered = net.dir.join("tampered.xbc");
    std::fs::write(&tampered, &bytes).unwrap();
    let out = xinbao(&[
        "audit",
        "verify",
        "--genesis",
        s(&genesis_path),
        "--chain",
        s(&tampered),
    ]);
    assert!(
        !out.status.success(),
        "a tampered chain verified: {}",
        text(&out.stdout)
    );
}
