//! `ledger`: the vocabulary every part of xinbao shares.
//!
//! Identifiers, money, dates, the rulebook's actions and rejection codes, keys and
//! signatures, the one canonical binary encoding, transactions, blocks, Merkle proofs, the
//! validator set, the genesis file and the state-store trait. It has no async runtime, no
//! network, no database and no clock. Its only contact with the outside is reading and
//! writing key and genesis files and drawing new keys from the operating system's
//! randomness; everything else is a pure function of its inputs, so the node, the CLI and
//! an auditor's machine compute the same bytes, ids and roots.

pub mod action;
pub mod api;
pub mod block;
pub mod code;
pub mod codec;
pub mod crypto;
pub mod date;
pub mod evidence;
pub mod export;
pub mod genesis;
pub mod gm;
pub mod ids;
pub mod merkle;
pub mod money;
pub mod org;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod proof;
pub mod state;
pub mod tx;
pub mod validators;
pub mod vote;

pub use action::Action;
pub use code::Code;
pub use date::Date;
pub use ids::{Id, Text};
pub use money::{Bps, Fen, BPS_WHOLE};
pub use org::OrgKind;
