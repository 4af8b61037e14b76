//! A SoftHSM2 token for the tests of keys in a PKCS#11 module: its own configuration and
//! token directory, one token initialised with a known PIN, and the `pkcs11:` URIs of its
//! objects as the CLI and the node read them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's SoftHSM2 module (`apt-get install softhsm2`).
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token.
pub const PIN: &str = "1234";

/// One initialised token in a directory of its own.
pub struct Token {
    /// The token's directory: its configuration, its objects and a PIN file.
    pub dir: PathBuf,
    /// The configuration to pass as `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The token's label.
    pub label: String,
}

impl Token {
    /// A fresh token labelled `label` in `dir` (emptied first), with user PIN [`PIN`];
    /// panics when `softhsm2-util` cannot make it.
    pub fn init(dir: &Path, label: &str) -> Token {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("tokens")).expect("the token's directory");
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .expect("the token's configuration");
        let init = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                PIN,
                "--so-pin",
                "5678",
            ])
            .output()
            .expect("softhsm2-util runs (Debian's softhsm2)");
        assert!(
            init.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        std::fs::write(dir.join("pin"), format!("{PIN}\n")).expect("the PIN file");
        Token {
            dir: dir.to_path_buf(),
            conf,
            label: label.to_string(),
        }
    }

    /// The RFC 7512 URI of the token's object `object`, with the module and a PIN file.
    pub fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={};object={object}?module-path={MODULE}&pin-source={}",
            self.label,
            self.dir.join("pin").display()
        )
    }

    /// A command that sees this token (`SOFTHSM2_CONF`) and no PKCS#11 settings from
    /// the environment it runs in.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("SOFTHSM2_CONF", &self.conf)
            .env_remove("XINBAO_PKCS11_PIN")
            .env_remove("XINBAO_PKCS11_MODULE");
        command
    }
}
