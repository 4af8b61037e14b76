//! TLS on the HTTP API (rustls with the ring provider; TLS 1.3 only) and the mapping of
//! client certificates to roles.
//!
//! `[tls]` in `node.toml` names the server's certificate chain and key (PEM) and the
//! organisation's client CA. A client may connect without a certificate (it then reaches
//! only `/health`); a certificate it presents must chain to the client CA, else the
//! handshake fails. A verified certificate is mapped to a role by the `[[tls.clients]]`
//! rules: every rule naming its fingerprint first, then the rules naming subject
//! attributes, in the file's order; the first that matches decides.
//!
//! ```toml
//! [tls]
//! cert = "tls/server.pem"
//! key = "tls/server.key"
//! client_ca = "tls/ca.pem"
//! [[tls.clients]]
//! role = "staff"
//! subject = "O=bank, OU=staff"        # every attribute named must match
//! [[tls.clients]]
//! role = "auditor"
//! fingerprint = "sha256:3f0c…"        # the certificate's SHA-256, as `xinbao tls issue` prints
//! ```
//! TLS 1.2 is not offered: every client that holds a certificate of the organisation's CA
//! is the organisation's own software or a current browser, and all speak TLS 1.3.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::access::{Caller, Client, Role};

/// `[tls]` in `node.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The server's private key (PEM, PKCS#8), mode 0600.
    pub key: PathBuf,
    /// The CA that issues the organisation's client certificates (PEM).
    pub client_ca: PathBuf,
    #[serde(default)]
    pub clients: Vec<ClientRule>,
}

impl TlsConfig {
    /// Takes relative paths from `base`, the configuration file's folder.
    pub fn resolve(&mut self, base: &Path) {
        for p in [&mut self.cert, &mut self.key, &mut self.client_ca] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// One `[[tls.clients]]` rule: a certificate, by fingerprint or by subject, and its role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRule {
    pub role: Role,
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
}

/// The subject attributes a rule may name, and their object identifiers.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("ST", "2.5.4.8"),
    ("L", "2.5.4.7"),
    ("serialNumber", "2.5.4.5"),
];

/// The rules, read and checked.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    by_fingerprint: Vec<(String, Role)>,
    by_subject: Vec<(Vec<(&'static str, String)>, Role)>,
}

/// Why the API's TLS could not be set up from `[tls]`: the part of the configuration and
/// what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("[tls] key: {0}")]
    Key(#[from] crate::keys::KeyFileError),
}

fn invalid(what: impl Into<String>, reason: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// `sha256:HEX` of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// The attributes a rule's subject names; what is wrong with it otherwise.
fn parse_subject(text: &str) -> Result<Vec<(&'static str, String)>, String> {
    let mut pairs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(format!("subject {text:?}: {part:?} is not NAME=VALUE"));
        };
        let Some(&(name, _)) = ATTRIBUTES.iter().find(|(n, _)| *n == name.trim()) else {
            let known: Vec<&str> = ATTRIBUTES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "subject {text:?}: unknown attribute {name:?} (known: {})",
                known.join(", ")
            ));
        };
        pairs.push((name, value.trim().to_string()));
    }
    if pairs.is_empty() {
        return Err(format!("subject {text:?} names no attribute"));
    }
    Ok(pairs)
}

impl Roles {
    pub fn new(rules: &[ClientRule]) -> Result<Roles, TlsError> {
        let mut roles = Roles::default();
        for (i, rule) in rules.iter().enumerate() {
            let what = || format!("[[tls.clients]] rule {}", i + 1);
            match (&rule.fingerprint, &rule.subject) {
                (Some(f), None) => {
                    let hex_part = f.strip_prefix("sha256:").unwrap_or(f).to_ascii_lowercase();
                    if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(invalid(
                            what(),
                            format!("fingerprint {f:?} is not sha256: and 64 hex digits"),
                        ));
                    }
                    roles
                        .by_fingerprint
                        .push((format!("sha256:{hex_part}"), rule.role));
                }
                (None, Some(s)) => {
                    let pairs = parse_subject(s).map_err(|reason| invalid(what(), reason))?;
                    roles.by_subject.push((pairs, rule.role));
                }
                _ => {
                    return Err(invalid(
                        what(),
                        "name the certificate by one of fingerprint or subject",
                    ))
                }
            }
        }
        Ok(roles)
    }

    /// Who a verified certificate (DER) is.
    pub fn identify(&self, der: &[u8]) -> Caller {
        let fingerprint = fingerprint(der);
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return Caller::Unmapped {
                subject: fingerprint,
            };
        };
        let subject = cert.subject().to_string();
        let attributes: Vec<(String, String)> = cert
            .subject()
            .iter_attributes()
            .filter_map(|a| {
                let oid = a.attr_type().to_id_string();
                let name = ATTRIBUTES.iter().find(|(_, o)| *o == oid)?.0;
                Some((name.to_string(), a.as_str().ok()?.to_string()))
            })
            .collect();
        let by_fingerprint = self
            .by_fingerprint
            .iter()
            .find(|(f, _)| *f == fingerprint)
            .map(|(_, r)| *r);
        let by_subject = || {
            self.by_subject
                .iter()
                .find(|(pairs, _)| {
                    pairs
                        .iter()
                        .all(|(n, v)| attributes.iter().any(|(an, av)| an == n && av == v))
                })
                .map(|(_, r)| *r)
        };
        match by_fingerprint.or_else(by_subject) {
            Some(role) => Caller::Client(Arc::new(Client {
                role,
                subject,
                fingerprint,
            })),
            None => Caller::Unmapped { subject },
        }
    }
}

/// The API's TLS: the server configuration and the roles of client certificates.
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub roles: Roles,
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(what, format!("reading {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            invalid(
                what,
                format!("{} is not PEM certificates: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            what,
            format!("{} holds no certificate", path.display()),
        ));
    }
    Ok(certs)
}

impl Tls {
    /// Reads `[tls]`'s files and rules.
    pub fn load(config: &TlsConfig) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = read_certs(&config.cert, "[tls] cert")?;
        crate::keys::check_secret_mode(&config.key)?;
        let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| {
            invalid(
                "[tls] key",
                format!("{} is not a PEM private key: {e}", config.key.display()),
            )
        })?;
        let mut roots = RootCertStore::empty();
        for ca in read_certs(&config.client_ca, "[tls] client_ca")? {
            roots.add(ca).map_err(|e| {
                invalid(
                    "[tls] client_ca",
                    format!("{}: {e}", config.client_ca.display()),
                )
            })?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| invalid("[tls] client_ca", e))?;
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| invalid("TLS 1.3", e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| {
                invalid(
                    "[tls] cert and key",
                    format!("they do not make a server identity: {e}"),
                )
            })?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            roles: Roles::new(&config.clients)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_names_its_certificate_one_way() {
        let rule = |f: Option<&str>, s: Option<&str>| ClientRule {
            role: Role::Staff,
            fingerprint: f.map(str::to_string),
            subject: s.map(str::to_string),
        };
        assert!(Roles::new(&[rule(None, None)]).is_err());
        assert!(Roles::new(&[rule(
            Some(&format!("sha256:{}", "a".repeat(64))),
            Some("O=x")
        )])
        .is_err());
        assert!(Roles::new(&[rule(Some("sha256:abc"), None)]).is_err());
        assert!(Roles::new(&[rule(None, Some("X=1"))]).is_err());
        assert!(Roles::new(&[rule(None, Some("O"))]).is_err());
        let roles = Roles::new(&[rule(None, Some("O=bank, OU=staff"))]).unwrap();
        assert_eq!(
            roles.by_subject[0].0,
            vec![("O", "bank".to_string()), ("OU", "staff".to_string())]
        );
    }
}
