//! Consortium members (R2.1).

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
pub enum OrgKind {
    Bank,
    Insurer,
    Government,
    Regulator,
    Reinsurer,
    /// Reads only; submits and signs nothing (R2.3).
    Auditor,
}
