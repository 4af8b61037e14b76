//! The genesis file: who the consortium is, and the parameters it starts with.
//!
//! Its hash (blake3 of the canonical encoding) is part of every node's identity check and
//! is the `previous` of block 1.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::org::OrgKind;
use crate::{Id, Text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Genesis {
    pub chain_id: Id,
    /// Milliseconds since the Unix epoch; block 1's time is after it.
    pub genesis_time_ms: u64,
    pub organisations: Vec<GenesisOrg>,
    pub validators: Vec<GenesisValidator>,
    /// Staff keys registered at the start, in addition to each organisation's admin key.
    #[serde(default)]
    pub staff_keys: Vec<GenesisStaffKey>,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct GenesisOrg {
    pub id: Id,
    pub kind: OrgKind,
    /// Signs for the organisation, like a staff key; registers and revokes staff keys.
    pub admin_key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct GenesisValidator {
    /// The member organisation that runs this validator.
    pub org: Id,
    /// The ed25519 key that signs votes and proposals.
    pub consensus_key: PublicKey,
    pub voting_power: u64,
    /// Where peers reach it: a libp2p multiaddr such as `/ip4/127.0.0.1/tcp/27000`.
    pub address: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct GenesisStaffKey {
    pub org: Id,
    pub public_key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Params {
    /// Target time between blocks.
    pub block_time_ms: u64,
    /// Most transactions in one block.
    pub block_txs_max: u32,
    /// A transaction may expire at most this many heights after the current one.
    pub tx_expiry_heights_max: u64,
}
