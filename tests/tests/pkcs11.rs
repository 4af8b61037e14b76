//! Keys in a hardware module: SoftHSM2 (a PKCS#11 module) makes an ed25519 key that never
//! leaves it, and the real `xinbao` binary signs a transaction and a founder's genesis
//! approval with it through a `pkcs11:` URI. Every refusal (a wrong PIN, a key not on the
//! token, a URI naming no key) is a clear error with nothing written.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::binaries;
use harness::softhsm::{Token, MODULE};
use serde_json::Value;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh SoftHSM2 token (`xinbao`) for one test, and `xinbao` run beside it.
struct Hsm {
    token: Token,
    dir: PathBuf,
}

impl Hsm {
    fn new(name: &str) -> Hsm {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pkcs11-{name}"));
        let token = Token::init(&dir, "xinbao");
        Hsm { token, dir }
    }

    fn uri(&self, object: &str) -> String {
        self.token.uri(object)
    }

    fn xinbao(&self, args: &[&str]) -> Output {
        self.token
            .command(&binaries().xinbao)
            .current_dir(&self.dir)
            .args(args)
            .output()
            .expect("the xinbao binary runs")
    }
}

const UNSIGNED: &str = r#"{
  "chain_id": "xinbao-devnet",
  "nonce": 41,
  "expires_at_height": 500,
  "action": {"type": "FundTopUp", "fund": "fund-a", "amount_fen": 50000000, "reference": "budget 2026"}
}
"#;

fn show(hsm: &Hsm, file: &str) -> Value {
    let out = hsm.xinbao(&["tx", "show", file, "--json"]);
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|_| panic!("{}", stderr(&out)))
}

#[test]
fn a_key_made_in_softhsm2_signs_a_transaction_it_never_leaves() {
    let hsm = Hsm::new("sign");
    let uri = hsm.uri("bank-a-alice");

    let made = hsm.xinbao(&["keys", "new", "--out", &uri]);
    assert!(made.status.success(), "{}", stderr(&made));
    let public = stdout(&made).trim().to_owned();
    assert!(public.starts_with("ed25519:"), "{public}");
    // Nothing was written beside the token: the secret is in the module only.
    assert!(!hsm.dir.join("bank-a-alice.secret").exists());
    let again = hsm.xinbao(&["keys", "new", "--out", &uri]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already on the token"),
        "{}",
        stderr(&again)
    );

    let shown = hsm.xinbao(&["keys", "show", &uri]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(stdout(&shown).trim(), public);

    std::fs::write(hsm.dir.join("tx.json"), UNSIGNED).unwrap();
    let signed = hsm.xinbao(&["tx", "sign", "tx.json", "--key", &uri]);
    assert!(signed.status.success(), "{}", stderr(&signed));
    let report = show(&hsm, "tx.json");
    assert_eq!(report["signatures"][0]["public_key"], public.as_str());
    assert_eq!(report["signatures"][0]["valid"], true, "{report}");
    // Signing again changes nothing (the module's signature is already there and valid).
    let before = std::fs::read(hsm.dir.join("tx.json")).unwrap();
    let twice = hsm.xinbao(&["tx", "sign", "tx.json", "--key", &uri]);
    assert!(twice.status.success(), "{}", stderr(&twice));
    assert!(
        stdout(&twice).contains("already signed"),
        "{}",
        stdout(&twice)
    );
    assert_eq!(std::fs::read(hsm.dir.join("tx.json")).unwrap(), before);

    // tx send signs several files with one opening of the module (no node answers on
    // this port, so the submission after the signing fails, and says so).
    for name in ["a.json", "b.json"] {
        std::fs::write(hsm.dir.join(name), UNSIGNED.replace("41", "42")).unwrap();
    }
    let sent = hsm.xinbao(&[
        "tx",
        "send",
        "--key",
        &uri,
        "--node",
        "http://127.0.0.1:9",
        "a.json",
        "b.json",
    ]);
    assert!(!stderr(&sent).contains("panicked"), "{}", stderr(&sent));
    for name in ["a.json", "b.json"] {
        let report = show(&hsm, name);
        assert_eq!(report["signatures"][0]["valid"], true, "{name}: {report}");
    }
}

#[test]
fn wrong_pins_missing_keys_and_bad_uris_are_clear_errors() {
    let hsm = Hsm::new("refusals");
    let uri = hsm.uri("bank-a-alice");
    let made = hsm.xinbao(&["keys", "new", "--out", &uri]);
    assert!(made.status.success(), "{}", stderr(&made));
    std::fs::write(hsm.dir.join("tx.json"), UNSIGNED).unwrap();
    let unsigned = std::fs::read(hsm.dir.join("tx.json")).unwrap();
    let wrong_pin =
        format!("pkcs11:token=xinbao;object=bank-a-alice?module-path={MODULE}&pin-value=9999");
    for (key, expected) in [
        (wrong_pin.as_str(), "PinIncorrect"),
        (
            &hsm.uri("nobody") as &str,
            "no private key named \"nobody\"",
        ),
        (
            &format!("pkcs11:token=elsewhere;object=a?module-path={MODULE}&pin-value=1"),
            "no token elsewhere",
        ),
        ("pkcs11:token=xinbao?pin-value=1", "must name the key"),
        ("pkcs11:object=a;colour=red", "unknown attribute"),
        (
            "pkcs11:object=a?module-path=/nonexistent/module.so&pin-value=1",
            "/nonexistent/module.so",
        ),
    ] {
        let out = hsm.xinbao(&["tx", "sign", "tx.json", "--key", key]);
        assert_eq!(out.status.code(), Some(2), "{key}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{key}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        assert_eq!(std::fs::read(hsm.dir.join("tx.json")).unwrap(), unsigned);
    }
    // The PIN and the module may come from the environment instead.
    let bare = "pkcs11:token=xinbao;object=bank-a-alice";
    let out = std::process::Command::new(&binaries().xinbao)
        .current_dir(&hsm.dir)
        .env("SOFTHSM2_CONF", &hsm.token.conf)
        .env("XINBAO_PKCS11_MODULE", MODULE)
        .env("XINBAO_PKCS11_PIN", "1234")
        .args(["keys", "show", bare])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        stdout(&hsm.xinbao(&["keys", "show", &hsm.uri("bank-a-alice")])).trim()
    );
}
