//! Transactions through the command line and through the API, for end-to-end tests that
//! change a running network: signed in turn by admin keys and committed with `xinbao tx
//! submit --wait`, a protocol upgrade scheduled with `xinbao tx new`, and a steady load.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ledger::action::FlagEnterprise;
use ledger::crypto::SecretKey;
use ledger::tx::{SignedTx, TxBody};
use ledger::{Action, Id, Text};
use serde_json::{json, Value};

use super::{get, post_json, text, xinbao};

pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `xinbao ARGS`, which must succeed; its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = xinbao(args);
    assert!(
        out.status.success(),
        "xinbao {} failed ({:?}):\n{}{}",
        args.join(" "),
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `GET path` from `url`, which must answer 200.
pub fn fetch(url: &str, path: &str) -> Value {
    let (code, answer) = get(url, path).unwrap_or_else(|| panic!("{url} does not answer {path}"));
    assert_eq!(code, 200, "{url}{path}: {answer}");
    answer
}

/// `xinbao chain export` of the node at `url` into `chain`, then `xinbao audit verify` of
/// it with `genesis` alone, which must succeed; the verdict (`--json`).
/// `tls` are the client certificate's options for an HTTPS node (none for plain HTTP).
pub fn export_and_verify(url: &str, tls: &[&str], chain: &Path, genesis: &Path) -> Value {
    ok(&[&["chain", "export", "--node", url, "--out", s(chain)], tls].concat());
    serde_json::from_str(&ok(&[
        "audit",
        "verify",
        "--genesis",
        s(genesis),
        "--chain",
        s(chain),
        "--json",
    ]))
    .expect("the verdict is JSON")
}

/// A transaction committed through `xinbao tx submit --wait`.
#[derive(Debug)]
pub struct Committed {
    pub id: String,
    pub height: u64,
    /// `None` when accepted, else the rulebook's code.
    pub code: Option<String>,
    pub out: String,
}

impl Committed {
    pub fn accepted(&self) -> bool {
        self.code.is_none()
    }
}

/// Signs `file` with each of `keys` in turn (`xinbao tx sign`), submits it to `url` and
/// waits for it to be committed; the receipt the node then serves agrees with what the
/// command printed.
pub fn sign_and_commit(file: &Path, keys: &[PathBuf], url: &str) -> Committed {
    for key in keys {
        ok(&["tx", "sign", s(file), "--key", s(key)]);
    }
    let shown: Value = serde_json::from_str(&ok(&["tx", "show", s(file), "--json"])).unwrap();
    let id = shown["tx_id"].as_str().unwrap().to_string();
    let out = xinbao(&[
        "tx",
        "submit",
        s(file),
        "--node",
        url,
        "--wait",
        "--timeout",
        "90",
    ]);
    let printed = text(&out.stdout) + &text(&out.stderr);
    let height: u64 = printed
        .split("committed at height ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|h| h.trim().parse().ok())
        .unwrap_or_else(|| panic!("{} was not committed: {printed}", file.display()));
    let code = printed
        .split("rejected by the rulebook (")
        .nth(1)
        .map(|rest| rest.split(')').next().unwrap().to_string());
    if code.is_none() {
        assert!(
            out.status.success() && printed.contains("accepted"),
            "{printed}"
        );
    } else {
        assert_eq!(out.status.code(), Some(1), "{printed}");
    }
    let receipt = fetch(url, &format!("/v1/tx/{id}"));
    assert_eq!(receipt["status"], "committed", "{receipt}");
    assert_eq!(receipt["height"], height, "{receipt}");
    match &code {
        None => assert_eq!(receipt["receipt"]["outcome"], "Accepted", "{receipt}"),
        Some(code) => {
            assert_eq!(receipt["receipt"]["outcome"], "Rejected", "{receipt}");
            assert_eq!(receipt["receipt"]["code"], code.as_str(), "{receipt}");
        }
    }
    Committed {
        id,
        height,
        code,
        out: printed,
    }
}

/// `xinbao tx new ScheduleUpgrade --version V --activation-height H` written to `file`,
/// signed by `keys` and committed through `url`.
pub fn schedule_upgrade(
    file: &Path,
    version: u32,
    activation: u64,
    keys: &[PathBuf],
    url: &str,
) -> Committed {
    let (version, activation) = (version.to_string(), activation.to_string());
    // `--version` right after the type, as the README writes it: a field of the
    // transaction, not the program's version flag.
    ok(&[
        "tx",
        "new",
        "ScheduleUpgrade",
        "--version",
        &version,
        "--activation-height",
        &activation,
        "--node",
        url,
        "--out",
        s(file),
    ]);
    assert!(file.is_file(), "xinbao tx new wrote no {}", file.display());
    sign_and_commit(file, keys, url)
}

/// Until `stop`: the holder of `key` flags enterprises `load-N` on chain `chain`, each
/// through the next of `urls` in turn, about a dozen a second; the ids of the
/// transactions the nodes took, gathered in `taken`.
pub fn run_load(
    urls: Vec<String>,
    chain: &str,
    key: SecretKey,
    stop: Arc<AtomicBool>,
    taken: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    let chain_id = Id::new(chain).unwrap();
    std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            let url = &urls[n as usize % urls.len()];
            let Some(height) = get(url, "/v1/status").and_then(|(_, s)| s["height"].as_u64())
            else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            let mut tx = SignedTx::unsigned(TxBody {
                chain_id: chain_id.clone(),
                nonce: n,
                expires_at_height: height + 500,
                action: Action::FlagEnterprise(FlagEnterprise {
                    enterprise: Id::new(format!("load-{n}")).unwrap(),
                    reason: Text::new("load").unwrap(),
                }),
            });
            tx.sign(&key).unwrap();
            let (code, answer) = post_json(url, "/v1/tx", &json!(tx));
            if code == 200 {
                taken
                    .lock()
                    .unwrap()
                    .push(answer["id"].as_str().unwrap().to_string());
            }
            std::thread::sleep(Duration::from_millis(80));
        }
    })
}
