//! The node's HTTP answers that both sides read: the node writes them and the CLI reads
//! them with these same types, so neither guesses the other's field names. Hashes and
//! keys are hex, as everywhere in the API (DOMAIN.md R10 field names).

pub mod events;
pub mod records;
pub mod report;
mod schema;

use serde::{Deserialize, Serialize};

use crate::block::{Block, BlockHeader, CommitCertificate, Outcome, Receipt};
use crate::crypto::{PublicKey, Signature};
use crate::genesis::Params;
use crate::tx::{SignedTx, TxId};
use crate::{Code, Id};

/// Every refusal: `{error: {code, message}}`, the code stable, the message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// Declares [`ErrorCode`] with each code's HTTP status, so that a code and its status
/// are written once, side by side.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $code:ident = $status:literal,)*) => {
        /// The stable code of every error the API answers (`{error: {code, message}}`)
        /// and of every transaction the intake refuses. On the wire it is its name
        /// (`"Backlog"`); a code this build does not know reads as [`ErrorCode::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum ErrorCode {
            $($(#[$doc])* $code,)*
            /// A code from a newer node.
            #[serde(other)]
            Other,
        }

        impl ErrorCode {
            /// Every code this build answers with.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$code,)*];

            /// The code as it is written on the wire.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$code => stringify!($code),)*
                    ErrorCode::Other => "Other",
                }
            }

            /// The HTTP status the API answers this code with.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$code => $status,)*
                    ErrorCode::Other => 500,
                }
            }
        }
    };
}

error_codes! {
    // A transaction refused at intake (`POST /v1/tx`, or one item of `POST /v1/txs`).
    /// It does not decode, or its JSON is not a transaction.
    Malformed = 400,
    /// Its canonical bytes, or a request's body, are over the limit.
    TooLarge = 413,
    /// More transactions in one batch than the limit.
    TooMany = 413,
    /// It is already pending here.
    Duplicate = 409,
    /// It is already in a committed block.
    AlreadyCommitted = 409,
    /// The mempool is full.
    MempoolFull = 503,
    /// Its submitter's share of the mempool is full.
    SubmitterQuota = 429,
    /// More is pending than the network commits in the backlog's time.
    Backlog = 503,
    /// The node is stopping, or cannot check it now.
    Unavailable = 503,
    /// A signing key is not a registered key of an organisation.
    UnregisteredKey = 400,
    /// Signed for another chain.
    WrongChain = 400,
    /// No signature.
    Unsigned = 400,
    /// More signatures than a transaction may carry.
    TooManySignatures = 400,
    /// One key signed twice.
    DuplicateSigner = 400,
    /// A signature does not verify.
    BadSignature = 400,
    /// A key or signature of the other crypto suite.
    WrongAlgorithm = 400,
    /// Its expiry height has passed.
    Expired = 400,
    /// Its expiry height is further ahead than allowed.
    ExpiryTooFar = 400,
    // A request refused at the door.
    /// No client certificate, or one no member's roster names.
    Unauthenticated = 401,
    /// The caller's role may not do this.
    Forbidden = 403,
    /// The caller sent more requests than its rate.
    RateLimited = 429,
    /// The caller has too many requests in flight.
    TooManyInFlight = 429,
    /// The node has too many requests in flight.
    Overloaded = 503,
    /// The request took too long to arrive or to answer.
    Timeout = 408,
    /// The body's type is not one this route reads.
    UnsupportedMediaType = 415,
    /// The route does not serve this method.
    MethodNotAllowed = 405,
    /// Any other request the HTTP layer refused.
    BadRequest = 400,
    // A question the node cannot answer.
    /// Nothing by that name.
    NotFound = 404,
    /// A query parameter is wrong.
    BadQuery = 400,
    /// An id is not well formed.
    BadId = 400,
    /// A record kind the node does not know.
    BadKind = 400,
    /// A height that is not a number above zero.
    BadHeight = 400,
    /// A state page asked for more than a page may hold.
    StateTooLarge = 400,
    /// Too many event streams are open.
    TooManyStreams = 503,
    /// An event stream's consumer fell too far behind (the stream's last event).
    ConsumerTooSlow = 503,
    /// The devnet clock is not enabled on this node.
    DevnetClockOff = 403,
    /// The node failed; its log says why.
    Internal = 500,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A receipt: `{tx_id, outcome: "Accepted"}`, or `{tx_id, outcome: "Rejected", code,
/// meaning}` with the rulebook's code (R9) and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptView {
    pub tx_id: TxId,
    pub outcome: OutcomeName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignatureView {
    pub public_key: PublicKey,
    pub org: Option<Id>,
    pub revoked: bool,
}

/// `GET /v1/tx/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
        #[schema(value_type = Object)]
        tx: Box<SignedTx>,
        signatures: Vec<SignatureView>,
    },
    /// Neither pending nor committed (HTTP 404, with the error).
    Unknown {
        tx_id: TxId,
        error: ErrorDetail,
    },
}

/// A committed block in a line (`GET /v1/blocks`, the live feed of `GET /v1/events`): its
/// height, id, time, transactions (and how many were rejected), proposer and signers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockSummaryView {
    pub height: u64,
    /// The protocol version the block was executed under (R12.1).
    #[serde(default = "version_one")]
    pub protocol_version: u32,
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub block_id: [u8; 32],
    pub time_ms: u64,
    pub txs: u64,
    pub rejected: u64,
    pub proposer: PublicKey,
    /// The proposer's organisation in the latest roster, if it is in it.
    pub proposer_org: Option<Id>,
    /// The round of the commit certificate; `None` while the node holds none.
    pub round: Option<u32>,
    pub signers: u64,
    /// The voting power that signed and the set's total, when the latest validator set
    /// decided the block (`None` for a block of an earlier set).
    pub signing_power: Option<u64>,
    pub total_power: Option<u64>,
}

/// `GET /v1/blocks?before=H&limit=N`: committed blocks, newest first, and where the next
/// page starts (`None` at height 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlocksPage {
    pub blocks: Vec<BlockSummaryView>,
    pub next_before: Option<u64>,
    pub tip: u64,
}

/// `GET /v1/validators?window=N`: the validators of the next height, with what the last
/// `window` committed blocks (from `from_height` to `height`) show of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidatorsView {
    pub from_height: u64,
    pub height: u64,
    pub validators: Vec<ValidatorActivity>,
    pub window: u64,
}

/// One validator of [`ValidatorsView`]: its roster entry, the last height it signed and
/// proposed in the window, how many it signed, proposed and missed (a missed block is one
/// its validator set decided without its signature), and which it missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidatorActivity {
    pub address: String,
    pub consensus_key: PublicKey,
    pub last_proposed: Option<u64>,
    pub last_signed: Option<u64>,
    pub missed: u64,
    pub missed_heights: Vec<u64>,
    pub org: Id,
    pub proposed: u64,
    pub signed: u64,
    pub voting_power: u64,
}

/// `GET /v1/search?q=TEXT`: what `q` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchView {
    pub q: String,
    pub results: Vec<SearchHit>,
}

/// One thing a search names: its kind (`tx`, `block`, `programme`, `policy`, `loan`,
/// `claim`, `fund`, `org`, `attestation`, `enterprise`), its id and the API path that
/// answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub id: String,
    pub kind: String,
    pub path: String,
}

/// `GET /v1/blocks/{height}`: the summary, the block with its header, its commit
/// certificate with each signer's organisation, and every transaction's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockView {
    #[serde(flatten)]
    pub summary: BlockSummaryView,
    pub header: BlockHeader,
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub state_root: [u8; 32],
    #[schema(value_type = Object)]
    pub block: Block,
    #[schema(value_type = Option<Object>)]
    pub certificate: Option<CommitCertificate>,
    pub signed_by: Vec<SignerView>,
    /// The transactions in block order, each with its type and receipt.
    pub transactions: Vec<BlockTxView>,
    pub receipts: Vec<ReceiptView>,
}

/// One signature of a commit certificate: the validator, its organisation and voting
/// power in the latest roster (power `None` for a block of an earlier set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignerView {
    pub validator: PublicKey,
    pub org: Option<Id>,
    pub voting_power: Option<u64>,
    pub signature: Signature,
}

/// One transaction of [`BlockView`]: its place, type and receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockTxView {
    pub index: u32,
    #[serde(rename = "type")]
    pub type_name: String,
    pub tx_id: TxId,
    pub outcome: OutcomeName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

/// `GET /v1/status`: the node's tip, the roster that decides the next height (R11.5) and
/// the parameters in force, and what the node itself sees (peers, mempool).
///
/// Readers take fields they do not know, so that a node may add some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusView {
    pub chain_id: Id,
    /// The chain's crypto suite (its genesis's).
    #[serde(default)]
    pub crypto_suite: crate::crypto::Suite,
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub genesis_hash: [u8; 32],
    /// The last committed height.
    pub height: u64,
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub latest_block_id: [u8; 32],
    /// The latest block's time, Unix milliseconds.
    pub latest_time_ms: u64,
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub state_root: [u8; 32],
    /// This node's libp2p peer id.
    pub peer_id: String,
    pub validators: Vec<RosterEntryView>,
    #[serde(with = "crate::codec::hex32")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub validator_set_hash: [u8; 32],
    #[schema(value_type = Object)]
    pub params: Params,
    /// The peer ids this node is connected to.
    pub peers: Vec<String>,
    pub mempool_txs: u64,
    /// Whether block times follow the devnet clock instead of the wall clock.
    pub devnet_clock: bool,
    /// R12: the protocol version in force at the latest block (the genesis's before
    /// block 1).
    #[serde(default = "version_one")]
    pub protocol_version: u32,
    /// The protocol version in force at the next height: the latest block's, or a
    /// scheduled upgrade's from its activation height.
    #[serde(default = "version_one")]
    pub next_protocol_version: u32,
    /// The protocol versions this node's program runs (R12.5: what this node says of
    /// itself, not consensus), so operators see who is ready for an upgrade.
    #[serde(default)]
    pub supported_versions: Vec<u32>,
    /// The upgrade approved and not yet in force.
    #[serde(default)]
    pub pending_upgrade: Option<UpgradeView>,
}

fn version_one() -> u32 {
    1
}

/// R12.3: an approved upgrade: the version, the height it governs from, and the block that
/// scheduled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpgradeView {
    pub version: u32,
    pub activation_height: u64,
    pub scheduled_height: u64,
}

/// One member of the roster in [`StatusView`]: a validator, or a follower (power 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RosterEntryView {
    pub org: Id,
    pub consensus_key: PublicKey,
    pub voting_power: u64,
    pub address: String,
    pub peer_id: String,
    /// The ed25519 key its p2p transport uses, when that is not its consensus key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_key: Option<PublicKey>,
}

/// `POST /v1/tx`: the id of the transaction taken into the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Submitted {
    pub id: TxId,
}

/// `POST /v1/txs`: one result per transaction, in the order sent, and how many of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchAnswer {
    pub results: Vec<BatchResult>,
    pub accepted: u64,
    pub refused: u64,
}

/// One transaction of a batch: taken into the pool (`{id}`), or refused (`{error}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchResult {
    Taken { id: TxId },
    Refused { error: ErrorDetail },
}

/// `GET /v1/governance?from_height=H&limit=N`: the consortium's accepted changes (R11) in
/// chain order, and the protocol's eras (R12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GovernanceView {
    pub changes: Vec<GovernanceChange>,
    pub protocol: ProtocolView,
}

/// One accepted governance change: where it is, its type, whether it changed the roster
/// of validators, and for an upgrade its version (and when it schedules one, the height
/// it governs from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GovernanceChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_height: Option<u64>,
    pub changes_validators: bool,
    pub height: u64,
    pub index: u32,
    pub tx_id: TxId,
    /// `None` when the node no longer holds the block.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// R12: the version in force at the latest block and at the next height, the versions
/// this node's program runs, the upgrade pending and every era.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProtocolView {
    pub eras: Vec<EraView>,
    pub next_version: u32,
    pub pending: Option<PendingUpgradeView>,
    pub supported_versions: Vec<u32>,
    pub version: u32,
}

/// An era of the protocol: its version from its first height, and the accepted
/// `ScheduleUpgrade` that began it (none for the genesis's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EraView {
    pub first_height: u64,
    pub scheduled_by_tx: Option<TxId>,
    pub scheduled_height: Option<u64>,
    pub version: u32,
}

/// The approved upgrade not yet in force, with the transaction that scheduled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingUpgradeView {
    pub activation_height: u64,
    pub scheduled_by_tx: Option<TxId>,
    pub scheduled_height: u64,
    pub version: u32,
}

/// `GET /v1/evidence?from_height=H&limit=N`: the double votes this node saw, in height
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceView {
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<crate::evidence::DoubleVote>,
}

/// `POST /v1/devnet/clock`: the time the node's devnet clock was set to, Unix
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClockView {
    pub time_ms: u64,
}

/// `GET /health`: the node answers, at this committed height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthView {
    pub height: u64,
    /// Always `ok`.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_code_is_its_name_on_the_wire_and_an_unknown_one_reads_as_other() {
        let mut names = std::collections::BTreeSet::new();
        for &code in ErrorCode::ALL {
            let text = serde_json::to_string(&code).unwrap();
            assert_eq!(text, format!("\"{}\"", code.name()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&text).unwrap(), code);
            assert!(names.insert(code.name()), "{code} twice");
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
        let newer: ErrorDetail =
            serde_json::from_str(r#"{"code": "SomethingNew", "message": "m"}"#).unwrap();
        assert_eq!(newer.code, ErrorCode::Other);
    }

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

    #[test]
    fn a_status_gives_hashes_and_keys_in_hex_and_reads_back_whole() {
        let status = StatusView {
            chain_id: Id::new("xinbao-test").unwrap(),
            crypto_suite: crate::crypto::Suite::Sm2Sm3,
            genesis_hash: [0xab; 32],
            height: 7,
            latest_block_id: [1; 32],
            latest_time_ms: 1_767_225_600_000,
            state_root: [2; 32],
            peer_id: "12D3KooW".into(),
            validators: vec![RosterEntryView {
                org: Id::new("bank-a").unwrap(),
                consensus_key: PublicKey::Ed25519([3; 32]),
                voting_power: 1,
                address: "/ip4/127.0.0.1/tcp/27000".into(),
                peer_id: "12D3KooX".into(),
                transport_key: None,
            }],
            validator_set_hash: [4; 32],
            params: Params::default(),
            peers: vec!["12D3KooX".into()],
            mempool_txs: 3,
            devnet_clock: false,
            protocol_version: 1,
            next_protocol_version: 2,
            supported_versions: vec![1, 2],
            pending_upgrade: Some(UpgradeView {
                version: 2,
                activation_height: 8,
                scheduled_height: 3,
            }),
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["pending_upgrade"]["activation_height"], 8);
        assert_eq!(json["crypto_suite"], "sm2-sm3");
        assert_eq!(json["genesis_hash"], "ab".repeat(32));
        assert_eq!(json["latest_block_id"], "01".repeat(32));
        assert_eq!(json["state_root"], "02".repeat(32));
        assert_eq!(json["validator_set_hash"], "04".repeat(32));
        assert_eq!(
            json["validators"][0]["consensus_key"],
            format!("ed25519:{}", "03".repeat(32))
        );
        assert_eq!(
            serde_json::from_value::<StatusView>(json.clone()).unwrap(),
            status
        );
        // A field a later node adds is read past; one it needs is not assumed.
        let mut more = json.clone();
        more["uptime_ms"] = serde_json::json!(5);
        assert_eq!(serde_json::from_value::<StatusView>(more).unwrap(), status);
        let mut less = json;
        less.as_object_mut().unwrap().remove("height");
        assert!(serde_json::from_value::<StatusView>(less).is_err());
    }

    #[test]
    fn a_batch_answer_tells_a_taken_transaction_from_a_refused_one() {
        let answer = BatchAnswer {
            results: vec![
                BatchResult::Taken { id: TxId([5; 32]) },
                BatchResult::Refused {
                    error: ErrorDetail {
                        code: ErrorCode::Duplicate,
                        message: "already in the pool".into(),
                    },
                },
            ],
            accepted: 1,
            refused: 1,
        };
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(
            json["results"][0],
            serde_json::json!({ "id": "05".repeat(32) })
        );
        assert_eq!(json["results"][1]["error"]["code"], "Duplicate");
        assert_eq!(serde_json::from_value::<BatchAnswer>(json).unwrap(), answer);
    }
}
