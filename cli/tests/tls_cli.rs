//! `xinbao tls init|issue`, `member init --tls` and `devnet init --tls`: the certificates
//! they make, checked with OpenSSL (another implementation), without running a node.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    std::env::temp_dir().join(format!("xinbao-tls-{name}-{}-{nanos}", std::process::id()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `openssl ARGS`, which must succeed; its standard output.
fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl (Debian's openssl, which .ci/run installs)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The certificate `cert` chains to `ca` for `purpose` (sslserver or sslclient).
fn assert_issued(ca: &Path, cert: &Path, purpose: &str) {
    let out = openssl(&["verify", "-purpose", purpose, "-CAfile", s(ca), s(cert)]);
    assert!(out.trim().ends_with("OK"), "{out}");
}

fn subject(cert: &Path) -> String {
    openssl(&[
        "x509",
        "-in",
        s(cert),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ])
}

#[test]
fn tls_init_makes_a_ca_a_server_and_a_client_per_role_and_issue_adds_one() {
    let dir = fresh_dir("init");
    let made = xinbao(&[
        "tls",
        "init",
        "--org",
        "bank-nb",
        "--dir",
        s(&dir),
        "--name",
        "node.bank.example",
        "--name",
        "10.1.0.5",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let ca = dir.join("ca.pem");
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert_eq!(mode(&dir.join("server.key")), 0o600);

    let server = dir.join("server.pem");
    assert_issued(&ca, &server, "sslserver");
    let names = openssl(&[
        "x509",
        "-in",
        s(&server),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        names.contains("DNS:node.bank.example") && names.contains("IP Address:10.1.0.5"),
        "{names}"
    );

    let printed = text(&made.stdout);
    for role in ["staff", "auditor", "operator", "viewer"] {
        let cert = dir.join(format!("bank-nb-{role}.pem"));
        assert_issued(&ca, &cert, "sslclient");
        assert_eq!(mode(&dir.join(format!("bank-nb-{role}.key"))), 0o600);
        let subject = subject(&cert);
        assert!(
            subject.contains(&format!("OU={role}")) && subject.contains("O=bank-nb"),
            "{subject}"
        );
        // The fingerprint printed is the certificate's SHA-256, as OpenSSL computes it.
        let fingerprint = openssl(&["x509", "-in", s(&cert), "-noout", "-fingerprint", "-sha256"]);
        let hex = fingerprint
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', "")
            .to_ascii_lowercase();
        assert!(printed.contains(&format!("sha256:{hex}")), "{printed}");
    }
    let section = std::fs::read_to_string(dir.join("node-tls.toml")).unwrap();
    assert!(section.contains("client_ca = \"ca.pem\""), "{section}");
    assert!(
        section.contains("subject = \"O=bank-nb, OU=auditor\""),
        "{section}"
    );

    // One more client certificate, from the same CA.
    let issued = xinbao(&[
        "tls",
        "issue",
        "--dir",
        s(&dir),
        "--role",
        "auditor",
        "--name",
        "claims-audit",
    ]);
    assert!(issued.status.success(), "{}", text(&issued.stderr));
    let cert = dir.join("claims-audit.pem");
    assert_issued(&ca, &cert, "sslclient");
    let subject = subject(&cert);
    assert!(
        subject.contains("CN=claims-audit") && subject.contains("OU=auditor"),
        "{subject}"
    );
    // Never overwritten; no role outside the four.
    let again = xinbao(&[
        "tls",
        "issue",
        "--dir",
        s(&dir),
        "--role",
        "auditor",
        "--name",
        "claims-audit",
    ]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("never overwritten"));
    let boss = xinbao(&[
        "tls",
        "issue",
        "--dir",
        s(&dir),
        "--role",
        "boss",
        "--name",
        "x",
    ]);
    assert!(!boss.status.success());
    assert!(
        text(&boss.stderr).contains("staff, auditor, operator, viewer"),
        "{}",
        text(&boss.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn member_init_beyond_loopback_needs_tls_and_writes_it() {
    let dir = fresh_dir("member");
    let plain = xinbao(&[
        "member",
        "init",
        "--org",
        "bank-nb",
        "--kind",
        "Bank",
        "--dir",
        s(&dir),
        "--http-listen",
        "10.0.0.2:28000",
    ]);
    assert!(!plain.status.success());
    assert!(
        text(&plain.stderr).contains("add --tls"),
        "{}",
        text(&plain.stderr)
    );
    assert!(!dir.join("admin.secret").exists(), "nothing written");

    let made = xinbao(&[
        "member",
        "init",
        "--org",
        "bank-nb",
        "--kind",
        "Bank",
        "--dir",
        s(&dir),
        "--http-listen",
        "10.0.0.2:28000",
        "--tls",
        "--tls-name",
        "node.bank.example",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let config = std::fs::read_to_string(dir.join("node.toml")).unwrap();
    assert!(config.contains("[tls]"), "{config}");
    assert!(config.contains("cert = \"tls/server.pem\""), "{config}");
    assert!(
        config.contains("subject = \"O=bank-nb, OU=staff\""),
        "{config}"
    );
    let server = dir.join("tls/server.pem");
    assert_issued(&dir.join("tls/ca.pem"), &server, "sslserver");
    let names = openssl(&[
        "x509",
        "-in",
        s(&server),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        names.contains("IP Address:10.0.0.2") && names.contains("DNS:node.bank.example"),
        "{names}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_devnet_has_a_ca_a_certificate_per_organisation_and_role_and_https_urls() {
    let dir = fresh_dir("devnet");
    let made = xinbao(&["devnet", "init", "--dir", s(&dir), "--tls"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("devnet.json")).unwrap()).unwrap();
    let ca = dir.join("tls/ca.pem");
    for org in manifest["orgs"].as_array().unwrap() {
        let org = org["id"].as_str().unwrap();
        for role in ["staff", "auditor", "operator", "viewer"] {
            assert_issued(&ca, &dir.join(format!("tls/{org}-{role}.pem")), "sslclient");
            assert!(dir.join(format!("tls/{org}-{role}.key")).is_file());
        }
    }
    for node in manifest["nodes"].as_array().unwrap() {
        assert!(
            node["url"]
                .as_str()
                .unwrap()
                .starts_with("https://127.0.0.1:"),
            "{node}"
        );
        let config = dir.join(node["config"].as_str().unwrap());
        assert_issued(&ca, &config.with_file_name("server.pem"), "sslserver");
        let text = std::fs::read_to_string(&config).unwrap();
        let org = node["org"].as_str().unwrap();
        assert!(
            text.contains(&format!("subject = \"O={org}, OU=viewer\"")),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
