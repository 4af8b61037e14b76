//! R12: protocol versions, and how the rulebook itself changes.
//!
//! A protocol version names one complete rulebook. This program keeps every version it
//! knows (R12.2): each difference between versions is a branch at the rule it changes,
//! marked with the version it starts from (`// R13.2: from version 2`), so one program
//! replays every era of a chain. [`SUPPORTED`] is the range it knows.
//!
//! The version in force at height `H` is a function of the state after block `H − 1`
//! ([`version_at`]), like the roster: an approved `ScheduleUpgrade` records a pending
//! upgrade, and block `activation_height` starts by taking it up ([`activate`]): the new
//! version is recorded, the era is remembered, and the version's migration (R12.4) runs
//! before the block's transactions, its writes counted in the block's state root.
//!
//! | key                          | value                                              |
//! |------------------------------|----------------------------------------------------|
//! | `gov/version`                | the version in force (u32)                         |
//! | `gov/upgrade`                | the pending upgrade ([`Pending`]), if any          |
//! | `gov/era/<version, 4 bytes BE>` | when a version took over ([`Era`])              |

use std::ops::RangeInclusive;

use ledger::action::{CancelUpgrade, ScheduleUpgrade};
use ledger::genesis::{Genesis, UPGRADE_LEAD_HEIGHTS_DEFAULT};
use ledger::state::{Overlay, StateView, WriteSet};
use ledger::{codec, Code};

use crate::governance::{self, ConsensusConfig};
use crate::obligor;
use crate::store::{self, ensure, Work};

/// The versions this program executes, checks and replays (R12.2).
pub const SUPPORTED: RangeInclusive<u32> = 1..=3;
/// The newest version this program knows: what a new chain is founded under by default.
pub const NEWEST: u32 = *SUPPORTED.end();

/// R13: the version that brings the single-obligor limit.
pub const OBLIGOR_LIMIT: u32 = 2;
/// R14: the version that brings shared credit attestations (no migration, R14.5).
pub const ATTESTATIONS: u32 = 3;

const VERSION: &[u8] = b"gov/version";
const PENDING: &[u8] = b"gov/upgrade";
const ERA_PREFIX: &[u8] = b"gov/era/";

/// An approved upgrade that has not yet taken effect.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Pending {
    pub version: u32,
    pub activation_height: u64,
    /// The height of the block that scheduled it.
    pub scheduled_height: u64,
}

/// A version's era: from which height it governs, and which block scheduled it (none for
/// the genesis version).
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Era {
    pub version: u32,
    pub first_height: u64,
    pub scheduled_height: Option<u64>,
}

fn era_key(version: u32) -> Vec<u8> {
    let mut key = ERA_PREFIX.to_vec();
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// Why a genesis cannot found a chain under this program's rulebook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisVersionError {
    #[error("the genesis is of protocol version {version}; this program supports versions {}..={}", SUPPORTED.start(), SUPPORTED.end())]
    Unsupported { version: u32 },
    #[error("the genesis is of protocol version {version}, which has the single-obligor limit (R13.3): its parameters need obligor_limit_fen")]
    MissingObligorLimit { version: u32 },
    #[error("the genesis is of protocol version {version}, which has no obligor_limit_fen parameter (it exists from version {OBLIGOR_LIMIT} on)")]
    ObligorLimitTooEarly { version: u32 },
}

/// Checks that a genesis names a version this program knows, with the parameters of that
/// version.
pub fn check_genesis(genesis: &Genesis) -> Result<(), GenesisVersionError> {
    let version = genesis.protocol_version;
    if !SUPPORTED.contains(&version) {
        return Err(GenesisVersionError::Unsupported { version });
    }
    match (
        version >= OBLIGOR_LIMIT,
        genesis.params.obligor_limit_fen.is_some(),
    ) {
        (true, false) => Err(GenesisVersionError::MissingObligorLimit { version }),
        (false, true) => Err(GenesisVersionError::ObligorLimitTooEarly { version }),
        _ => Ok(()),
    }
}

/// The genesis's writes: its version in force, and its era from height 1. A chain founded
/// at version N runs no migration up to N (R12.4): on an empty ledger they write nothing
/// but the parameters, which the genesis carries.
pub fn genesis_writes(genesis: &Genesis, writes: &mut WriteSet) {
    writes.put(VERSION.to_vec(), codec::encode(&genesis.protocol_version));
    let era = Era {
        version: genesis.protocol_version,
        first_height: 1,
        scheduled_height: None,
    };
    writes.put(era_key(era.version), codec::encode(&era));
}

/// The version recorded as in force (`None` where none is: an offline scenario that has
/// not crossed an upgrade runs under its file's version).
pub fn recorded(state: &dyn StateView) -> Option<u32> {
    store::read(state, VERSION)
}

/// The pending upgrade, if any.
pub fn pending(state: &dyn StateView) -> Option<Pending> {
    store::read(state, PENDING)
}

/// Every era recorded so far, oldest first.
pub fn eras(state: &dyn StateView) -> Vec<Era> {
    state
        .scan_prefix(ERA_PREFIX)
        .into_iter()
        .map(|(_, bytes)| store::decode_record(&bytes))
        .collect()
}

/// R12.3: the version in force at `height`, from the state after block `height − 1` (or
/// an earlier state: a pending upgrade counts from its activation height). `None` where
/// no version is recorded (an offline scenario).
pub fn version_at(state: &dyn StateView, height: u64) -> Option<u32> {
    match pending(state) {
        Some(upgrade) if upgrade.activation_height <= height => Some(upgrade.version),
        _ => recorded(state),
    }
}

/// The start of block `height`: a pending upgrade whose activation height it is takes
/// effect, and its version's migration runs (R12.4). Empty at every other height.
pub fn activate(state: &dyn StateView, height: u64) -> WriteSet {
    let mut writes = WriteSet::new();
    let Some(upgrade) = pending(state) else {
        return writes;
    };
    if upgrade.activation_height != height {
        return writes;
    }
    writes.delete(PENDING.to_vec());
    writes.put(VERSION.to_vec(), codec::encode(&upgrade.version));
    let era = Era {
        version: upgrade.version,
        first_height: height,
        scheduled_height: Some(upgrade.scheduled_height),
    };
    writes.put(era_key(upgrade.version), codec::encode(&era));
    let migrated = {
        let view = Overlay::over(state, &writes);
        migrate(&view, upgrade.version)
    };
    writes.extend(migrated);
    writes
}

/// R12.4: the migration that starts `version`, on the state before its first block.
fn migrate(state: &dyn StateView, version: u32) -> WriteSet {
    match version {
        // R13.3: the retained liabilities of the policies already on the ledger, and the
        // limit, in the configuration in force and in every one already scheduled.
        OBLIGOR_LIMIT => {
            let mut writes = obligor::rebuild(state);
            for (key, mut config) in governance::configs(state) {
                if config.params.obligor_limit_fen.is_none() {
                    config.params.obligor_limit_fen = Some(obligor::OBLIGOR_LIMIT_FEN_DEFAULT);
                    writes.put(key, codec::encode::<ConsensusConfig>(&config));
                }
            }
            writes
        }
        _ => WriteSet::new(),
    }
}

/// The lead an upgrade needs at `height` (R12.3): the parameter in force, or its default
/// where no configuration is recorded (an offline scenario).
fn lead_heights(state: &dyn StateView, height: u64) -> u64 {
    governance::config_at(state, height)
        .map(|config| config.params.upgrade_lead_heights)
        .unwrap_or(UPGRADE_LEAD_HEIGHTS_DEFAULT)
}

/// R12.3 `ScheduleUpgrade`, in R11.4's order: the fields, the approval, then
/// `UpgradePending`.
pub fn schedule(
    work: &mut Work,
    height: u64,
    in_force: u32,
    tx: &ScheduleUpgrade,
) -> Result<(), Code> {
    // (1)
    let earliest = height.saturating_add(lead_heights(work.view(), height));
    ensure(
        in_force.checked_add(1) == Some(tx.version) && tx.activation_height >= earliest,
        Code::InvalidField,
    )?;
    // (3)
    governance::approve(work)?;
    // At most one upgrade is pending.
    ensure(pending(work.view()).is_none(), Code::UpgradePending)?;
    let upgrade = Pending {
        version: tx.version,
        activation_height: tx.activation_height,
        scheduled_height: height,
    };
    work.put(PENDING.to_vec(), &upgrade);
    Ok(())
}

/// R12.3 `CancelUpgrade`: names the pending upgrade, before its activation height.
pub fn cancel(work: &mut Work, height: u64, tx: &CancelUpgrade) -> Result<(), Code> {
    // (1)
    ensure(tx.version >= 1, Code::InvalidField)?;
    // (3)
    governance::approve(work)?;
    let named = pending(work.view())
        .is_some_and(|upgrade| upgrade.version == tx.version && height < upgrade.activation_height);
    ensure(named, Code::UnknownUpgrade)?;
    work.delete(PENDING.to_vec());
    Ok(())
}
