//! The event feed's events (`GET /v1/events`, server-sent): one per committed transaction
//! (`tx`), one per block after its transactions (`block`), and the last one of a stream
//! the node ends (`end`). Each `tx` event carries what the transaction decided, for the
//! systems around the ledger to act on.

use serde::{Deserialize, Serialize};

use super::{BlockSummaryView, ErrorCode, OutcomeName};
use crate::block::BlockId;
use crate::money::Fen;
use crate::tx::TxId;
use crate::{Code, Date, Id, Text};

/// `event: tx`: one committed transaction, accepted or rejected. Fields in sorted order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TxEvent {
    pub block_id: BlockId,
    /// The rulebook's code of a rejection.
    pub code: Option<Code>,
    /// The block's date (UTC+8): the rulebook's date of the transaction.
    pub date: Option<Date>,
    /// What the transaction decided; `None` for a block stored before the node kept it.
    pub decisions: Option<Vec<DecisionView>>,
    pub height: u64,
    pub index: u32,
    pub meaning: Option<String>,
    /// The organisations the transaction concerns.
    pub orgs: Vec<Id>,
    pub outcome: OutcomeName,
    /// `HEIGHT:INDEX`: where to resume after this event.
    pub position: String,
    /// The programme the transaction is within, if any.
    pub programme: Option<Id>,
    /// The records the transaction names.
    pub records: Vec<RecordRef>,
    pub time_ms: u64,
    pub tx_id: TxId,
    /// The action's type.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A record a transaction names: its kind (`policy`, `loan`, `claim`, …) and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordRef {
    pub id: Id,
    pub kind: String,
}

/// `event: block`: a committed block, after its transactions' events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockEvent {
    #[serde(flatten)]
    pub summary: BlockSummaryView,
    /// `HEIGHT:INDEX`, the index one past the block's last transaction.
    pub position: String,
}

/// `event: end`: the last event of a stream the node ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamEnd {
    /// `ConsumerTooSlow` or `Internal`.
    pub code: ErrorCode,
    pub message: String,
    /// The last position sent: connect again with it as `from` or `Last-Event-ID`.
    pub resume_after: Option<String>,
}

/// One decision of the rulebook that the systems around the ledger act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind")]
pub enum DecisionView {
    /// R7.3: the claim's loss settled, with the date of the decision and the date the
    /// insurer must pay the bank by.
    ClaimApproved {
        bank: Id,
        claim: Id,
        decided: Date,
        decision_due: Option<Date>,
        loss_fen: Fen,
        payment_due: Option<Date>,
        programme: Id,
        split: SplitView,
    },
    /// R7.3: the claim rejected, with the reason.
    ClaimRejected {
        bank: Id,
        claim: Id,
        decided: Date,
        programme: Id,
        reason: Text,
    },
    /// R7.4: the bank confirmed the insurer's payment; `late` when after its due date.
    ClaimPaid {
        bank: Id,
        claim: Id,
        insurer_pays_bank_fen: Fen,
        late: bool,
        paid: Date,
        payment_due: Option<Date>,
        programme: Id,
    },
    /// R5.1: a review found a ratio at or above its threshold.
    ProgrammeSuspended {
        claims_gross_fen: Fen,
        premium_written_fen: Fen,
        programme: Id,
        warnings: Vec<String>,
    },
    /// R5.2: every party and the regulator resumed it.
    ProgrammeResumed { programme: Id },
    /// R4.3: what the fund paid in `year` reached its annual cap.
    FundCapReached {
        annual_cap_fen: Fen,
        fund: Id,
        paid_fen: Fen,
        year: i32,
    },
}

/// How an approved claim's loss is split (R7.3), in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SplitView {
    pub bank_retained_fen: Fen,
    pub fund_direct_fen: Fen,
    pub fund_fen: Fen,
    pub fund_layer_fen: Fen,
    pub fund_shortfall_fen: Fen,
    pub insurer_gross_fen: Fen,
    pub insurer_pays_bank_fen: Fen,
    pub insurer_retained_fen: Fen,
    pub reinsurer_fen: Fen,
}
