//! The real `xinbao` binary: keys, offline multi-party signing, and what `tx show` reports
//! for sound, altered and broken files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn xinbao(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xinbao"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the xinbao binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh directory per test, under the target directory so nothing leaks elsewhere.
fn workdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const UNSIGNED: &str = r#"{
  "chain_id": "xinbao-devnet",
  "nonce": 41,
  "expires_at_height": 500,
  "action": {"type": "FundTopUp", "fund": "fund-a", "amount_fen": 50000000, "reference": "budget 2026"}
}
"#;

fn new_key(dir: &Path, stem: &str) -> String {
    new_key_of(dir, stem, "ed25519")
}

fn new_key_of(dir: &Path, stem: &str, algorithm: &str) -> String {
    let out = xinbao(
        dir,
        &["keys", "new", "--out", stem, "--algorithm", algorithm],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let public = stdout(&out).trim().to_owned();
    let digits = if algorithm == "sm2" { 130 } else { 64 };
    assert!(public.starts_with(&format!("{algorithm}:")), "{public}");
    assert_eq!(public.len(), algorithm.len() + 1 + digits, "{public}");
    public
}

fn show_json(dir: &Path, file: &str) -> (Option<i32>, Value) {
    let out = xinbao(dir, &["tx", "show", file, "--json"]);
    let report: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("tx show --json printed no JSON ({e}): {}", stderr(&out)));
    (out.status.code(), report)
}

fn assert_clean_error(out: &Output, file: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    let err = stderr(out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(file), "the message names the file: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn keys_are_written_privately_shown_and_never_overwritten() {
    let dir = workdir("keys");
    let public = new_key(&dir, "bank-a");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("bank-a.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret_before = std::fs::read(dir.join("bank-a.secret")).unwrap();
    for path in ["bank-a", "bank-a.secret", "bank-a.public"] {
        let out = xinbao(&dir, &["keys", "show", path]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), public, "keys show {path}");
    }
    let again = xinbao(&dir, &["keys", "new", "--out", "bank-a"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(dir.join("bank-a.secret")).unwrap(),
        secret_before
    );
    // An SM2 key: its files and its text name the algorithm.
    let sm2 = new_key_of(&dir, "bank-b", "sm2");
    assert!(std::fs::read_to_string(dir.join("bank-b.secret"))
        .unwrap()
        .starts_with("sm2:"));
    let shown = xinbao(&dir, &["keys", "show", "bank-b.secret"]);
    assert_eq!(stdout(&shown).trim(), sm2);
    let unknown = xinbao(&dir, &["keys", "new", "--out", "c", "--algorithm", "rsa"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("expected ed25519 or sm2"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn two_organisations_sign_in_turn_and_tampering_shows() {
    let dir = workdir("sign");
    let bank = new_key(&dir, "bank-a");
    let insurer = new_key(&dir, "insurer-a");
    std::fs::write(dir.join("tx.json"), UNSIGNED).unwrap();

    let (code, report) = show_json(&dir, "tx.json");
    assert_eq!(code, Some(0));
    assert_eq!(report["signatures"].as_array().unwrap().len(), 0);
    let id = report["tx_id"].as_str().unwrap().to_owned();

    for key in ["bank-a.secret", "insurer-a.secret"] {
        let out = xinbao(&dir, &["tx", "sign", "tx.json", "--key", key]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Signing again with the same key leaves the file as it is.
    let before = std::fs::read(dir.join("tx.json")).unwrap();
    let out = xinbao(&dir, &["tx", "sign", "tx.json", "--key", "insurer-a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("tx.json")).unwrap(), before);

    let (code, report) = show_json(&dir, "tx.json");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        report["tx_id"],
        id.as_str(),
        "signatures are not part of the id"
    );
    assert_eq!(report["action_type"], "FundTopUp");
    assert_eq!(report["all_valid"], true);
    let signatures = report["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2);
    assert_eq!(signatures[0]["public_key"], bank.as_str());
    assert_eq!(signatures[1]["public_key"], insurer.as_str());
    assert!(signatures.iter().all(|s| s["valid"] == true));

    // The human form says the same.
    let out = xinbao(&dir, &["tx", "show", "tx.json"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("action: FundTopUp"), "{text}");
    assert!(text.contains(&id), "{text}");
    assert_eq!(text.matches("  valid").count(), 2, "{text}");

    // The file the signers saw parses back to the same signed transaction.
    let signed_text = std::fs::read_to_string(dir.join("tx.json")).unwrap();
    let file: Value = serde_json::from_str(&signed_text).unwrap();
    let keys: Vec<&String> = file.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");

    // Alter the amount: both signatures stop verifying, and the exit status says so.
    let altered = signed_text.replacen("50000000", "50000001", 1);
    assert_ne!(altered, signed_text);
    std::fs::write(dir.join("amount.json"), &altered).unwrap();
    let (code, report) = show_json(&dir, "amount.json");
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["all_valid"], false);
    assert_ne!(report["tx_id"], id.as_str());
    assert!(report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["valid"] == false && s["error"].is_string()));

    // Alter the nonce: the same.
    let altered = signed_text.replacen("\"nonce\": 41", "\"nonce\": 42", 1);
    assert_ne!(altered, signed_text);
    std::fs::write(dir.join("nonce.json"), &altered).unwrap();
    let (code, report) = show_json(&dir, "nonce.json");
    assert_eq!(code, Some(1));
    assert!(report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["valid"] == false));

    // Re-signing an altered file replaces that key's stale signature only.
    let out = xinbao(
        &dir,
        &["tx", "sign", "nonce.json", "--key", "bank-a.secret"],
    );
    assert!(out.status.success());
    let (code, report) = show_json(&dir, "nonce.json");
    assert_eq!(code, Some(1));
    let verdicts: Vec<bool> = report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["valid"].as_bool().unwrap())
        .collect();
    assert_eq!(verdicts, vec![true, false]);
}

#[test]
fn broken_files_give_a_clear_error_and_no_panic() {
    let dir = workdir("broken");
    new_key(&dir, "bank-a");
    std::fs::write(dir.join("tx.json"), UNSIGNED).unwrap();
    let out = xinbao(&dir, &["tx", "sign", "tx.json", "--key", "bank-a.secret"]);
    assert!(out.status.success());
    let signed = std::fs::read(dir.join("tx.json")).unwrap();

    std::fs::write(dir.join("truncated.json"), &signed[..signed.len() / 2]).unwrap();
    let garbage: Vec<u8> = (0..997u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("garbage.json"), &garbage).unwrap();
    std::fs::write(dir.join("empty.json"), b"").unwrap();
    std::fs::write(dir.join("not-a-tx.json"), br#"{"hello": "world"}"#).unwrap();
    let extra = String::from_utf8(signed.clone()).unwrap().replacen(
        "\"nonce\"",
        "\"memo\": \"x\", \"nonce\"",
        1,
    );
    std::fs::write(dir.join("extra.json"), extra).unwrap();
    // A field the action does not have would not be signed: refused, not dropped.
    let extra_in_action = String::from_utf8(signed.clone()).unwrap().replacen(
        "\"fund\"",
        "\"pay_to\": \"elsewhere\", \"fund\"",
        1,
    );
    assert!(extra_in_action.contains("pay_to"));
    std::fs::write(dir.join("extra-action.json"), extra_in_action).unwrap();
    let out = xinbao(&dir, &["tx", "show", "extra-action.json"]);
    assert!(stderr(&out).contains("action.pay_to"), "{}", stderr(&out));

    for file in [
        "truncated.json",
        "garbage.json",
        "empty.json",
        "not-a-tx.json",
        "extra.json",
        "missing.json",
    ] {
        for args in [
            vec!["tx", "show", file],
            vec!["tx", "show", file, "--json"],
            vec!["tx", "sign", file, "--key", "bank-a.secret"],
        ] {
            let out = xinbao(&dir, &args);
            assert_clean_error(&out, file);
            assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        }
    }
    // A failed sign leaves the file as it was.
    let truncated = std::fs::read(dir.join("truncated.json")).unwrap();
    assert_eq!(truncated, &signed[..signed.len() / 2]);

    // A bad key file is named too, and the transaction file is untouched.
    std::fs::write(dir.join("bad.secret"), "zz").unwrap();
    let out = xinbao(&dir, &["tx", "sign", "tx.json", "--key", "bad.secret"]);
    assert_clean_error(&out, "bad.secret");
    assert_eq!(std::fs::read(dir.join("tx.json")).unwrap(), signed);
}

#[test]
fn every_command_has_help() {
    let dir = workdir("help");
    for args in [
        vec!["--help"],
        vec!["keys", "--help"],
        vec!["keys", "new", "--help"],
        vec!["keys", "show", "--help"],
        vec!["tx", "--help"],
        vec!["tx", "sign", "--help"],
        vec!["tx", "show", "--help"],
    ] {
        let out = xinbao(&dir, &args);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage:"), "{args:?}");
    }
    let out = xinbao(&dir, &["tx", "show", "--help"]);
    assert!(
        stdout(&out).contains("Exit status"),
        "the exit status is documented"
    );
}
