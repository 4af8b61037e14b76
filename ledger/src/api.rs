//! The node's HTTP answers that both sides read: the node writes them and the CLI reads
//! them with these same types, so neither guesses the other's field names. Hashes and
//! keys are hex, as everywhere in the API (DOMAIN.md R10 field names).

use serde::{Deserialize, Serialize};

use crate::block::{Outcome, Receipt};
use crate::crypto::PublicKey;
use crate::tx::{SignedTx, TxId};
use crate::{Code, Id};

/// Every refusal: `{error: {code, message}}`, the code stable, the message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// A receipt: `{tx_id, outcome: "Accepted"}`, or `{tx_id, outcome: "Rejected", code,
/// meaning}` with the rulebook's code (R9) and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptView {
    pub tx_id: TxId,
    pub outcome: OutcomeName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutcomeName {
    Accepted,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a receipt that says {0}")]
pub struct BadReceipt(&'static str);

impl From<&Receipt> for ReceiptView {
    fn from(receipt: &Receipt) -> ReceiptView {
        match receipt.outcome {
            Outcome::Accepted => ReceiptView {
                tx_id: receipt.tx_id,
                outcome: OutcomeName::Accepted,
                code: None,
                meaning: None,
            },
            Outcome::Rejected(code) => ReceiptView {
                tx_id: receipt.tx_id,
                outcome: OutcomeName::Rejected,
                code: Some(code),
                meaning: Some(code.meaning().to_string()),
            },
        }
    }
}

impl TryFrom<ReceiptView> for Receipt {
    type Error = BadReceipt;

    /// A rejection must carry its code and an acceptance none: nothing is assumed.
    fn try_from(view: ReceiptView) -> Result<Receipt, BadReceipt> {
        let outcome = match (view.outcome, view.code) {
            (OutcomeName::Accepted, None) => Outcome::Accepted,
            (OutcomeName::Rejected, Some(code)) => Outcome::Rejected(code),
            (OutcomeName::Accepted, Some(_)) => return Err(BadReceipt("accepted with a code")),
            (OutcomeName::Rejected, None) => return Err(BadReceipt("rejected without a code")),
        };
        Ok(Receipt {
            tx_id: view.tx_id,
            outcome,
        })
    }
}

/// One signature of a committed transaction and the organisation its key counts for
/// (R2.3); `org` is `None` for a key the ledger does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureView {
    pub public_key: PublicKey,
    pub org: Option<Id>,
    pub revoked: bool,
}

/// `GET /v1/tx/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum TxStatusView {
    Pending {
        tx_id: TxId,
    },
    Committed {
        tx_id: TxId,
        height: u64,
        index: u32,
        block_id: String,
        time_ms: u64,
        #[serde(rename = "type")]
        type_name: String,
        receipt: ReceiptView,
        tx: Box<SignedTx>,
        signatures: Vec<SignatureView>,
    },
    /// Neither pending nor committed (HTTP 404, with the error).
    Unknown {
        tx_id: TxId,
        error: ErrorDetail,
    },
}

/// `POST /v1/tx`: the id of the transaction taken into the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub id: TxId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip_and_a_rejection_needs_its_code() {
        let id = TxId([3; 32]);
        for outcome in [Outcome::Accepted, Outcome::Rejected(Code::RateNotFiled)] {
            let receipt = Receipt { tx_id: id, outcome };
            let text = serde_json::to_string(&ReceiptView::from(&receipt)).unwrap();
            let back: ReceiptView = serde_json::from_str(&text).unwrap();
            assert_eq!(Receipt::try_from(back).unwrap(), receipt);
        }
        let rejected = ReceiptView::from(&Receipt {
            tx_id: id,
            outcome: Outcome::Rejected(Code::Overflow),
        });
        assert_eq!(rejected.meaning.as_deref(), Some(Code::Overflow.meaning()));
        let missing: ReceiptView = serde_json::from_value(
            serde_json::json!({"tx_id": id.to_hex(), "outcome": "Rejected"}),
        )
        .unwrap();
        assert!(Receipt::try_from(missing).is_err());
        // An outcome is never assumed.
        let none = serde_json::from_value::<ReceiptView>(serde_json::json!({"tx_id": id.to_hex()}));
        assert!(none.is_err());
    }
}
