//! The node's configuration file (TOML) and its secret key.
//!
//! ```toml
//! moniker = "bank"                       # a name for logs
//! data_dir = "data"                      # blocks, state and the consensus WAL
//! genesis = "genesis.json"               # approved by every founder (R11.1)
//! consensus_key = "consensus.key"        # the key file (`ed25519:HEX` or `sm2:HEX`), mode 0600,
//!                                        # or a `pkcs11:` URI naming a key in a module
//! transport_key = "transport.key"        # optional: the ed25519 p2p key the roster binds
//! http_listen = "127.0.0.1:28000"        # the HTTP API, for this organisation's staff
//! p2p_listen = "/ip4/0.0.0.0/tcp/27000"  # optional: default, the node's roster address
//! gossip_listen = "/ip4/0.0.0.0/tcp/27001" # optional: default, the p2p port + 1
//! bootstrap_peers = ["/ip4/10.0.0.2/tcp/27000/p2p/12D3Koo…"] # optional extra peers
//!
//! [tls]                                  # HTTPS with client certificates (see `tls`);
//! cert = "tls/server.pem"                # required unless http_listen is on loopback
//! key = "tls/server.key"
//! client_ca = "tls/ca.pem"
//! [[tls.clients]]
//! role = "staff"                         # staff, auditor, operator or viewer
//! subject = "O=bank, OU=staff"
//!
//! [client_limits]                        # optional, per client certificate
//! requests_per_second = 100
//! burst = 200
//! in_flight = 16
//!
//! [events]                               # optional: the event feed, GET /v1/events
//! streams_max = 256                      # streams open at once
//! stall_seconds = 30                     # a consumer leaving events waiting this long is cut off
//!
//! [storage]                              # optional: the store's engine, set when it is created
//! memtable_kib = 32768                   # a keyspace's writes held in memory before a table is written
//! table_kib = 32768                      # the size of the tables compactions write
//! cache_kib = 65536                      # the block cache, all keyspaces
//! ```
//! Relative paths are taken from the configuration file's folder. The consensus key is
//! the node's identity on the network too, unless the roster binds a transport key to it
//! (required when the consensus key is SM2, which libp2p cannot use); a follower's key
//! votes in nothing.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::access::ClientLimits;
use crate::tls::TlsConfig;

/// Why a node's configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// The configuration file is at most this long.
const CONFIG_BYTES_MAX: u64 = 64 * 1024;
/// Most bootstrap peers.
pub const BOOTSTRAP_PEERS_MAX: usize = 64;

fn default_http_listen() -> String {
    "127.0.0.1:28000".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub moniker: String,
    pub data_dir: PathBuf,
    pub genesis: PathBuf,
    pub consensus_key: PathBuf,
    #[serde(default)]
    pub transport_key: Option<PathBuf>,
    #[serde(default = "default_http_listen")]
    pub http_listen: String,
    #[serde(default)]
    pub p2p_listen: Option<String>,
    #[serde(default)]
    pub gossip_listen: Option<String>,
    #[serde(default)]
    pub bootstrap_peers: Vec<String>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub client_limits: ClientLimits,
    #[serde(default)]
    pub events: EventsConfig,
    #[serde(default)]
    pub storage: StorageConfig,
}

/// `[storage]`: the store engine's sizes ([`crate::store::Tuning`]), in KiB. The memtable
/// and table sizes take effect when the data directory is created (an existing one keeps
/// those it was made with); the cache's at every start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default = "StorageConfig::memtable_default")]
    pub memtable_kib: u64,
    #[serde(default = "StorageConfig::table_default")]
    pub table_kib: u64,
    #[serde(default = "StorageConfig::cache_default")]
    pub cache_kib: u64,
}

const KIB: u64 = 1024;

impl StorageConfig {
    fn memtable_default() -> u64 {
        crate::store::Tuning::default().memtable_bytes / KIB
    }
    fn table_default() -> u64 {
        crate::store::Tuning::default().table_bytes / KIB
    }
    fn cache_default() -> u64 {
        crate::store::Tuning::default().cache_bytes / KIB
    }

    /// The engine's sizes, each at least 16 KiB.
    pub fn tuning(&self) -> crate::store::Tuning {
        crate::store::Tuning {
            memtable_bytes: self.memtable_kib.max(16) * KIB,
            table_bytes: self.table_kib.max(16) * KIB,
            cache_bytes: self.cache_kib.max(16) * KIB,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> StorageConfig {
        StorageConfig {
            memtable_kib: StorageConfig::memtable_default(),
            table_kib: StorageConfig::table_default(),
            cache_kib: StorageConfig::cache_default(),
        }
    }
}

/// `[events]`: the limits of the event feed ([`crate::events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    #[serde(default = "EventsConfig::streams_max_default")]
    pub streams_max: usize,
    #[serde(default = "EventsConfig::stall_seconds_default")]
    pub stall_seconds: u64,
}

impl EventsConfig {
    fn streams_max_default() -> usize {
        crate::events::STREAMS_MAX_DEFAULT
    }
    fn stall_seconds_default() -> u64 {
        crate::events::STALL_DEFAULT.as_secs()
    }
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            streams_max: EventsConfig::streams_max_default(),
            stall_seconds: EventsConfig::stall_seconds_default(),
        }
    }
}

/// Whether `listen` (`HOST:PORT`) is an address of this machine only.
pub fn is_loopback(listen: &str) -> bool {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().is_loopback(),
        Err(_) => listen
            .rsplit_once(':')
            .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let unreadable = |source| ConfigError::Unreadable {
            path: path.to_owned(),
            source,
        };
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let len = std::fs::metadata(path).map_err(unreadable)?.len();
        if len > CONFIG_BYTES_MAX {
            return Err(invalid(format!("{len} bytes, at most {CONFIG_BYTES_MAX}")));
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let mut config: Config = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if config.bootstrap_peers.len() > BOOTSTRAP_PEERS_MAX {
            return Err(invalid(format!(
                "at most {BOOTSTRAP_PEERS_MAX} bootstrap peers"
            )));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let consensus_key = (ledger::pkcs11::uri_of(&config.consensus_key).is_none())
            .then_some(&mut config.consensus_key);
        for p in [&mut config.data_dir, &mut config.genesis]
            .into_iter()
            .chain(consensus_key)
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(p) = &mut config.transport_key {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(tls) = &mut config.tls {
            tls.resolve(base);
        }
        if config.tls.is_none() && !is_loopback(&config.http_listen) {
            return Err(invalid(format!(
                "http_listen = {:?} is reachable from other machines, and plain HTTP there \
                 would let anyone who reaches it read every record and call every route; \
                 add a [tls] section with the server certificate and the client CA \
                 (`xinbao tls init` makes them), or listen on 127.0.0.1",
                config.http_listen
            )));
        }
        config
            .client_limits
            .check()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_count_as_this_machine() {
        for local in [
            "127.0.0.1:28000",
            "[::1]:28000",
            "localhost:28000",
            "127.9.9.9:1",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "0.0.0.0:28000",
            "10.0.0.2:28000",
            "[::]:28000",
            "node.example:28000",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }

    #[test]
    fn a_configuration_with_plain_http_beyond_loopback_is_refused() {
        let dir = std::env::temp_dir().join(format!("xinbao-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        let base =
            "moniker = \"n\"\ndata_dir = \"data\"\ngenesis = \"g.json\"\nconsensus_key = \"k\"\n";
        std::fs::write(&path, format!("{base}http_listen = \"0.0.0.0:28000\"\n")).unwrap();
        let error = format!("{:#}", Config::load(&path).unwrap_err());
        assert!(error.contains("reachable from other machines"), "{error}");
        let with_tls = format!(
            "{base}http_listen = \"0.0.0.0:28000\"\n[tls]\ncert = \"s.pem\"\nkey = \"s.key\"\n\
             client_ca = \"ca.pem\"\n[[tls.clients]]\nrole = \"auditor\"\nsubject = \"O=x\"\n"
        );
        std::fs::write(&path, with_tls).unwrap();
        let config = Config::load(&path).unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(tls.client_ca, dir.join("ca.pem"));
        assert_eq!(tls.clients[0].role, crate::access::Role::Auditor);
        std::fs::write(&path, format!("{base}[client_limits]\nburst = 0\n")).unwrap();
        assert!(Config::load(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn storage_sizes_are_read_in_kib_with_defaults_and_a_floor() {
        let default: StorageConfig = toml::from_str("").unwrap();
        assert_eq!(default.tuning(), crate::store::Tuning::default());
        let small: StorageConfig =
            toml::from_str("memtable_kib = 32\ntable_kib = 1\ncache_kib = 256\n").unwrap();
        let tuning = small.tuning();
        assert_eq!(tuning.memtable_bytes, 32 * 1024);
        assert_eq!(tuning.table_bytes, 16 * 1024, "no table below 16 KiB");
        assert_eq!(tuning.cache_bytes, 256 * 1024);
        assert!(toml::from_str::<StorageConfig>("memtable_mib = 1\n").is_err());
    }
}
