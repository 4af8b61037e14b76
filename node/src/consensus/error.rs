//! Why consensus could not start, or stopped.
//!
//! The engine's own errors (Malachite's reports, its actors' spawn errors, its signer's)
//! are kept as their text: each already carries its causes in it, and naming their types
//! in this public error would show Malachite outside the module.

use std::fmt::Display;

use ledger::crypto::Algorithm;

use super::codec::WireError;
use crate::chain::{ChainError, UnsupportedVersion};
use crate::chain_worker::WorkerError;
use crate::store::StoreError;

/// Why consensus could not start, or stopped: the engine, its network and the
/// application loop that answers it.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// The engine closed its channel to the application.
    #[error("the consensus engine stopped")]
    EngineStopped,
    /// A part of the engine (its network, the roster gate, the engine itself) did not
    /// start; the reason is the engine's.
    #[error("starting {what}: {reason}")]
    Start { what: &'static str, reason: String },
    /// This node's consensus key did not sign what the engine needs signed.
    #[error("signing {what}: {reason}")]
    Signing { what: &'static str, reason: String },
    /// A bootstrap peer of the configuration is not a multiaddr.
    #[error("bootstrap peer {address}: {reason}")]
    Bootstrap { address: String, reason: String },
    /// An address (the one to listen on, a roster address) is not a multiaddr.
    #[error(transparent)]
    Address(#[from] libp2p::multiaddr::Error),
    /// A peer id is not one.
    #[error(transparent)]
    PeerId(#[from] libp2p::identity::ParseError),
    /// A key of another algorithm than ed25519 was to be the node's p2p identity.
    #[error(
        "a {algorithm} key cannot be a libp2p identity; only ed25519 keys can (a node whose \
         consensus key is {algorithm} has an ed25519 transport key: transport_key in its \
         configuration)"
    )]
    NotAnIdentity { algorithm: Algorithm },
    /// A network key of another algorithm than ed25519 has no peer id.
    #[error("a {algorithm} key has no libp2p peer id")]
    NoPeerId { algorithm: Algorithm },
    /// An ed25519 key's bytes are not a libp2p key.
    #[error(transparent)]
    Identity(#[from] libp2p::identity::DecodingError),
    /// A message for the network could not be encoded.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The engine's network took no more of this node's messages (its channel closed).
    #[error("channel closed")]
    NetworkClosed,
    /// The chain refused the next height (R12.5: a protocol version this program does
    /// not run).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Reading the chain's storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain worker failed or stopped.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// This node's own proposal does not decode (a test build that misbehaves only).
    #[cfg(feature = "byzantine")]
    #[error(transparent)]
    Block(#[from] ledger::codec::CodecError),
    /// The file of `XINBAO_BYZANTINE` could not be read (a test build only).
    #[cfg(feature = "byzantine")]
    #[error("reading {}", path.display())]
    ByzantineUnreadable {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The file of `XINBAO_BYZANTINE` is not a behaviour (a test build only).
    #[cfg(feature = "byzantine")]
    #[error("parsing {}", path.display())]
    ByzantineInvalid {
        path: std::path::PathBuf,
        source: toml::de::Error,
    },
    /// The engine refused the attacks of the `XINBAO_BYZANTINE` file (a test build only).
    #[cfg(feature = "byzantine")]
    #[error("{}: {reason}", path.display())]
    ByzantineAttacks {
        path: std::path::PathBuf,
        reason: String,
    },
}

impl ConsensusError {
    /// A [`ConsensusError::Start`] of `what`, for `map_err` on the engine's errors.
    pub(crate) fn start<E: Display>(what: &'static str) -> impl FnOnce(E) -> ConsensusError {
        move |e| ConsensusError::Start {
            what,
            reason: e.to_string(),
        }
    }

    /// A [`ConsensusError::Signing`] of `what`, for `map_err` on the signer's errors.
    pub(crate) fn signing<E: Display>(what: &'static str) -> impl FnOnce(E) -> ConsensusError {
        move |e| ConsensusError::Signing {
            what,
            reason: e.to_string(),
        }
    }

    /// The protocol version this program does not run, when that is why consensus
    /// stopped (R12.5).
    pub fn unsupported_version(&self) -> Option<&UnsupportedVersion> {
        match self {
            ConsensusError::Chain(e) => e.unsupported_version(),
            ConsensusError::Worker(e) => e.unsupported_version(),
            _ => None,
        }
    }
}
