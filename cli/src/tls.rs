//! `xinbao tls`: an organisation's certificates for its node's HTTPS API (made with rcgen,
//! ECDSA P-256), and the client side of that TLS for every command that talks to a node.
//!
//! ```text
//! xinbao tls init --org bank --dir tls [--name node.bank.example --name 10.0.0.2]
//!     DIR/ca.pem, ca.key          the organisation's CA (it signs the rest; keep ca.key offline)
//!     DIR/server.pem, server.key  the node's certificate, for the names and addresses given
//!     DIR/ORG-ROLE.pem, .key      one client certificate per role (staff, auditor, operator, viewer)
//!     DIR/node-tls.toml           the [tls] section for node.toml
//! xinbao tls issue --dir tls --role auditor --name claims-system
//!     DIR/NAME.pem, NAME.key      a client certificate of the role, and its fingerprint
//! ```
//! A client certificate's subject is `CN=NAME, O=ORG, OU=ROLE`; the node maps it to its
//! role by the rule `subject = "O=ORG, OU=ROLE"` that `tls init` writes, so the certificates
//! `tls issue` adds later need no change to the node's configuration.
//!
//! Clients ([`ClientTls`]) take `--cacert`, `--cert` and `--key` (or `XINBAO_CACERT`,
//! `XINBAO_CERT`, `XINBAO_KEY`); a TLS devnet's commands find its files themselves.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, ensure, Context};
use clap::{Args, Subcommand};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

/// The roles of the node's API, as `node.toml` names them.
pub const ROLES: [&str; 4] = ["staff", "auditor", "operator", "viewer"];

/// How long the CA, and the certificates it issues, are valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);
const LEAF_VALIDITY: Duration = Duration::from_secs(2 * 365 * 86_400);

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Makes an organisation's CA, its node's server certificate and a client certificate
    /// per role.
    Init(InitArgs),
    /// Issues one more client certificate from an organisation's CA.
    Issue(IssueArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The organisation's id (the O of every certificate).
    #[arg(long)]
    pub org: String,
    /// The directory to write (it must not exist, or be empty).
    #[arg(long)]
    pub dir: PathBuf,
    /// A DNS name or IP address the node is reached at; repeat for several
    /// (default: localhost and 127.0.0.1).
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The directory `tls init` wrote (its ca.pem and ca.key sign the certificate).
    #[arg(long)]
    pub dir: PathBuf,
    /// The role: staff, auditor, operator or viewer.
    #[arg(long)]
    pub role: String,
    /// The certificate's name (its CN, and the files DIR/NAME.pem and DIR/NAME.key).
    #[arg(long)]
    pub name: String,
}

pub fn run(command: TlsCommand) -> anyhow::Result<std::process::ExitCode> {
    match command {
        TlsCommand::Init(args) => {
            let names = if args.names.is_empty() {
                vec!["localhost".to_string(), "127.0.0.1".to_string()]
            } else {
                args.names.clone()
            };
            let made = init(&args.dir, &args.org, &names)?;
            println!(
                "wrote the CA, the server certificate for {} and a client certificate per role in {}",
                names.join(", "),
                args.dir.display()
            );
            for (role, fingerprint) in &made.clients {
                println!("  {}-{role}.pem  {fingerprint}", args.org);
            }
            println!(
                "add {} to the node's configuration; keep ca.key off the node",
                args.dir.join(NODE_TLS_FILE).display()
            );
        }
        TlsCommand::Issue(args) => {
            check_role(&args.role)?;
            let ca = Ca::load(&args.dir)?;
            let fingerprint = ca.issue_client(&args.dir, &args.name, &ca.org, &args.role)?;
            println!(
                "wrote {} and {}: subject CN={}, O={}, OU={}, {fingerprint}",
                args.dir.join(format!("{}.pem", args.name)).display(),
                args.dir.join(format!("{}.key", args.name)).display(),
                args.name,
                ca.org,
                args.role
            );
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Whether `listen` (`HOST:PORT`) is an address of this machine only: the node serves
/// plain HTTP nowhere else.
pub fn is_loopback(listen: &str) -> bool {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().is_loopback(),
        Err(_) => listen
            .rsplit_once(':')
            .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
    }
}

fn check_role(role: &str) -> anyhow::Result<()> {
    ensure!(
        ROLES.contains(&role),
        "no role {role:?}: the roles are {}",
        ROLES.join(", ")
    );
    Ok(())
}

/// The `[tls]` section `tls init` writes beside the certificates.
pub const NODE_TLS_FILE: &str = "node-tls.toml";

/// What `init` made: each role's certificate fingerprint.
pub struct Made {
    pub clients: Vec<(&'static str, String)>,
}

/// Writes an organisation's CA, a server certificate for `names` and one client
/// certificate per role into `dir`, and the node's `[tls]` section.
pub fn init(dir: &Path, org: &str, names: &[String]) -> anyhow::Result<Made> {
    ensure!(
        !org.is_empty() && !org.contains([',', '=', '"', '\n']),
        "--org {org:?}: an organisation id has no commas, equals signs or quotes"
    );
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let ca = Ca::new(org)?;
    ca.write(dir, "ca")?;
    ca.issue_server(dir, "server", names)?;
    let mut clients = Vec::new();
    for role in ROLES {
        let fingerprint = ca.issue_client(dir, &format!("{org}-{role}"), org, role)?;
        clients.push((role, fingerprint));
    }
    std::fs::write(
        dir.join(NODE_TLS_FILE),
        node_tls_section("server.pem", "server.key", "ca.pem", org),
    )?;
    Ok(Made { clients })
}

/// The `[tls]` section of a node of `org` (paths relative to its configuration file):
/// each role's certificates by subject.
pub fn node_tls_section(cert: &str, key: &str, client_ca: &str, org: &str) -> String {
    let mut text = format!(
        "# HTTPS with client certificates: each maps to a role by its subject\n\
         [tls]\n\
         cert = \"{cert}\"\n\
         key = \"{key}\"\n\
         client_ca = \"{client_ca}\"\n"
    );
    for role in ROLES {
        text.push_str(&format!(
            "[[tls.clients]]\nrole = \"{role}\"\nsubject = \"O={org}, OU={role}\"\n"
        ));
    }
    text
}

/// `[client_limits]` of a node's configuration: what one client certificate may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    pub requests_per_second: u32,
    pub burst: u32,
    pub in_flight: u32,
}

impl ClientLimits {
    /// For the chaos test and the bench, whose checkers ask every node about every
    /// transaction as fast as the nodes answer.
    pub const HARNESS: ClientLimits = ClientLimits {
        requests_per_second: 100_000,
        burst: 100_000,
        in_flight: 256,
    };

    pub fn section(&self) -> String {
        format!(
            "[client_limits]\nrequests_per_second = {}\nburst = {}\nin_flight = {}\n",
            self.requests_per_second, self.burst, self.in_flight
        )
    }
}

/// An organisation's certificate authority.
pub struct Ca {
    pub org: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn validity(params: &mut CertificateParams, length: Duration) {
    let now = SystemTime::now();
    // A day's grace for clocks that run behind.
    params.not_before = (now - Duration::from_secs(86_400)).into();
    params.not_after = (now + length).into();
}

fn ca_params(org: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{org} CA"));
    dn.push(DnType::OrganizationName, org);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

impl Ca {
    pub fn new(org: &str) -> anyhow::Result<Ca> {
        let key = KeyPair::generate().context("a CA key")?;
        let mut params = ca_params(org);
        validity(&mut params, CA_VALIDITY);
        let cert = params.self_signed(&key).context("the CA certificate")?;
        Ok(Ca {
            org: org.to_string(),
            cert,
            key,
        })
    }

    /// Writes the CA's certificate and key as `dir/STEM.pem` and `dir/STEM.key`.
    pub fn write(&self, dir: &Path, stem: &str) -> anyhow::Result<()> {
        write_pair(dir, stem, &self.cert.pem(), &self.key.serialize_pem())
    }

    /// The CA that `init` wrote into `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Ca> {
        let key_path = dir.join("ca.key");
        let key_pem = crate::files::read_bounded(&key_path, 64 * 1024)
            .with_context(|| format!("the CA's key ({})", key_path.display()))?;
        let key = KeyPair::from_pem(&String::from_utf8_lossy(&key_pem))
            .with_context(|| format!("{} is not a PEM private key", key_path.display()))?;
        let cert_path = dir.join("ca.pem");
        let cert_pem = crate::files::read_bounded(&cert_path, 64 * 1024)
            .with_context(|| format!("the CA's certificate ({})", cert_path.display()))?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(&cert_pem)
            .map_err(|e| anyhow::anyhow!("{}: not PEM: {e}", cert_path.display()))?;
        let parsed = pem
            .parse_x509()
            .map_err(|e| anyhow::anyhow!("{}: not a certificate: {e}", cert_path.display()))?;
        ensure!(
            parsed.public_key().raw == key.public_key_der().as_slice(),
            "{} is not the certificate of {}",
            cert_path.display(),
            key_path.display()
        );
        let Some(org) = parsed
            .subject()
            .iter_organization()
            .next()
            .and_then(|o| o.as_str().ok())
        else {
            bail!("{}: the CA names no organisation (O)", cert_path.display());
        };
        // The same subject and key as the CA's own certificate: what a certificate it
        // signs names as its issuer (and its key identifier) is the same.
        let mut params = ca_params(org);
        params.not_before = parsed.validity().not_before.to_datetime();
        params.not_after = parsed.validity().not_after.to_datetime();
        let cert = params.self_signed(&key).context("the CA certificate")?;
        Ok(Ca {
            org: org.to_string(),
            cert,
            key,
        })
    }

    /// Writes `dir/STEM.pem` and `dir/STEM.key`: a server certificate for `names`.
    pub fn issue_server(&self, dir: &Path, stem: &str, names: &[String]) -> anyhow::Result<()> {
        let mut params = CertificateParams::new(names.to_vec())
            .with_context(|| format!("server names {names:?}"))?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().map(String::as_str).unwrap_or("node"),
        );
        dn.push(DnType::OrganizationName, self.org.as_str());
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut params, LEAF_VALIDITY);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        write_pair(dir, stem, &cert.pem(), &key.serialize_pem())
    }

    /// Writes `dir/NAME.pem` and `dir/NAME.key`: a client certificate `CN=NAME, O=ORG,
    /// OU=ROLE`; returns its fingerprint.
    pub fn issue_client(
        &self,
        dir: &Path,
        name: &str,
        org: &str,
        role: &str,
    ) -> anyhow::Result<String> {
        check_role(role)?;
        ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "--name {name:?}: letters, digits, '-', '_' and '.' only"
        );
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, org);
        dn.push(DnType::OrganizationalUnitName, role);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params, LEAF_VALIDITY);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        write_pair(dir, name, &cert.pem(), &key.serialize_pem())?;
        Ok(fingerprint(cert.der()))
    }
}

/// `sha256:HEX` of a certificate's DER, as the node's configuration names it.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// Writes `dir/STEM.pem` and the key `dir/STEM.key` (owner-only); neither may exist.
fn write_pair(dir: &Path, stem: &str, cert: &str, key: &str) -> anyhow::Result<()> {
    let write = |path: PathBuf, text: &str, mode: u32| -> anyhow::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        let mut file = options
            .open(&path)
            .with_context(|| format!("{} (certificates are never overwritten)", path.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    };
    write(dir.join(format!("{stem}.pem")), cert, 0o644)?;
    write(dir.join(format!("{stem}.key")), key, 0o600)
}

/// The client side of a node's HTTPS: the CA that signed its server certificate, and the
/// client certificate and key to present.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientTls {
    /// The CA certificate (PEM) that the node's server certificate chains to.
    #[arg(long, env = "XINBAO_CACERT", value_name = "PEM", global = true)]
    pub cacert: Option<PathBuf>,
    /// The client certificate (PEM) to present to the node.
    #[arg(
        long,
        env = "XINBAO_CERT",
        value_name = "PEM",
        requires = "key",
        global = true
    )]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(
        long,
        env = "XINBAO_KEY",
        value_name = "PEM",
        requires = "cert",
        global = true
    )]
    pub key: Option<PathBuf>,
}

/// [`ClientTls`] for `tx send`, whose `--key` is the signer's: the client certificate's
/// key is `--tls-key` (or `XINBAO_KEY`).
#[derive(Debug, Clone, Default, Args)]
pub struct SignerTls {
    /// The CA certificate (PEM) that the node's server certificate chains to.
    #[arg(long, env = "XINBAO_CACERT", value_name = "PEM")]
    pub cacert: Option<PathBuf>,
    /// The client certificate (PEM) to present to the node.
    #[arg(long, env = "XINBAO_CERT", value_name = "PEM", requires = "tls_key")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, env = "XINBAO_KEY", value_name = "PEM", requires = "cert")]
    pub tls_key: Option<PathBuf>,
}

impl From<SignerTls> for ClientTls {
    fn from(tls: SignerTls) -> ClientTls {
        ClientTls {
            cacert: tls.cacert,
            cert: tls.cert,
            key: tls.tls_key,
        }
    }
}

impl ClientTls {
    /// A TLS devnet's files for organisation `org` and `role`.
    pub fn of_devnet(tls_dir: &Path, org: &str, role: &str) -> ClientTls {
        ClientTls {
            cacert: Some(tls_dir.join("ca.pem")),
            cert: Some(tls_dir.join(format!("{org}-{role}.pem"))),
            key: Some(tls_dir.join(format!("{org}-{role}.key"))),
        }
    }

    /// `XINBAO_CACERT`, `XINBAO_CERT` and `XINBAO_KEY`, for commands that read their
    /// options themselves.
    pub fn from_env() -> ClientTls {
        let var = |name| std::env::var_os(name).map(PathBuf::from);
        ClientTls {
            cacert: var("XINBAO_CACERT"),
            cert: var("XINBAO_CERT"),
            key: var("XINBAO_KEY"),
        }
    }

    pub fn is_set(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some()
    }

    /// ureq's TLS settings: the CA alone is trusted when given, else the web's roots.
    pub fn ureq_config(&self) -> anyhow::Result<ureq::tls::TlsConfig> {
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
        let mut builder = TlsConfig::builder();
        if let Some(path) = &self.cacert {
            let pem = crate::files::read_bounded(path, 1024 * 1024)
                .with_context(|| format!("--cacert {}", path.display()))?;
            let certs = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("--cacert {}: not PEM", path.display()))?;
            ensure!(
                !certs.is_empty(),
                "--cacert {}: no certificate in it",
                path.display()
            );
            builder = builder.root_certs(RootCerts::new_with_certs(&certs));
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            let cert_pem = crate::files::read_bounded(cert, 1024 * 1024)
                .with_context(|| format!("--cert {}", cert.display()))?;
            let key_pem = crate::files::read_bounded(key, 64 * 1024)
                .with_context(|| format!("--key {}", key.display()))?;
            let chain = vec![Certificate::from_pem(&cert_pem)
                .with_context(|| format!("--cert {}: not a PEM certificate", cert.display()))?];
            let key = PrivateKey::from_pem(&key_pem)
                .with_context(|| format!("--key {}: not a PEM private key", key.display()))?;
            builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        Ok(builder.build())
    }
}
