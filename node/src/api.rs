//! The HTTP API (axum), loopback by default.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/tx` | JSON file form (`Content-Type: application/json`) or canonical bytes → `{id}`; refusals `{error: {code, message}}` |
//! | `POST /v1/txs` | many at once: a JSON array of file forms, or (`application/octet-stream`) the canonical encoding of a list of canonical transactions → `{results: [{id} or {error}], accepted, refused}` |
//! | `GET /v1/tx/{id}` | `{status: "pending"}`, `{status: "committed", height, index, block_id, time_ms, type, receipt: {tx_id, outcome, code?, meaning?}, tx, signatures: [{public_key, org, revoked}]}`, or 404 `{status: "unknown", error}` (`ledger::api::TxStatusView`) |
//! | `GET /v1/status` | chain id, genesis hash, height, latest block id, state root, the roster and parameters of the next height, peers; the protocol version at the tip and the next height, the versions this node runs, a pending upgrade (R12) |
//! | `GET /v1/blocks?before=H&limit=N` | committed blocks newest first: height, id, time, transactions, rejected, proposer and its organisation, signers and signing power |
//! | `GET /v1/blocks/{height}` | block (header hashes in hex), block id, time, state root, certificate, receipts; `signed_by`: the signers with their organisations; each transaction's type and receipt |
//! | `GET /v1/validators?window=N` | the validators of the next height with the last height each signed, and how many of the last N blocks each signed, proposed and missed |
//! | `GET /v1/events` | server-sent events: one per committed transaction and block, filtered and resumable ([`crate::events`]) |
//! | `GET /v1/search?q=TEXT` | what TEXT names: a transaction, a block (id or height), a programme, policy, loan, claim, fund, organisation, enterprise or attestation |
//! | `GET /v1/programmes`, `/v1/programmes/{id}` | programmes with terms, thresholds, figures as of the ledger's date and their fund's cap use; one with its figures at every month end |
//! | `GET /v1/claims?status=open\|overdue\|late\|all&insurer=ID&programme=ID`, `/v1/claims/{id}` | the claims desk, overdue first; one claim with the transactions that moved it |
//! | `GET /v1/filings`, `/v1/filings/{insurer}/{product}/{id}` | rate filings with whether each is in force and how many policies were issued under it; one with a page of those policies |
//! | `GET /v1/organisations` | the members' totals |
//! | `GET /v1/records/{kind}/{id}` | a policy (with the attestations that qualified it, R14.4), loan, fund, organisation, enterprise or attestation with the transactions that name it |
//! | `GET /v1/enterprises/{id}/attestations?offset=N&limit=N` | an enterprise's attestations (R14), paged |
//! | `GET /v1/openapi.json` | the OpenAPI description of all of this ([`crate::openapi`]) |
//! | `GET /`, `/console/` | the console ([`crate::console`]) |
//! | `GET /v1/chain/{height}` | the same as canonical `ChainEntry` bytes (what `chain export` reads) |
//! | `GET /v1/state` | the rulebook's report (R10) as of the latest block's date, whole or `?section=S&after=ID&limit=N` a page at a time |
//! | `GET /v1/governance?from_height=H&limit=N` | the accepted changes of the consortium (R11): height, index, tx id, type (an upgrade's version and activation height); `protocol`: the version in force, the pending upgrade and every era (R12) |
//! | `GET /v1/evidence?from_height=H&limit=N` | `{evidence: [{first, second}]}`: double votes this node saw, each two signed votes of one validator (verifiable with the genesis alone: `xinbao audit report --evidence`) |
//! | `POST /v1/devnet/clock` | `{time_ms}`: sets the devnet clock (refused without `--devnet-clock`) |
//! | `GET /health`, `GET /metrics` | liveness; Prometheus text |

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ledger::api::{
    BatchAnswer, BatchResult, ClockView, EraView, ErrorCode, ErrorDetail, EvidenceView,
    GovernanceChange, GovernanceView, HealthView, PendingUpgradeView, ProtocolView,
    RosterEntryView, StatusView, Submitted, UpgradeView,
};
use ledger::export::ChainEntry;
use ledger::tx::TxId;
use ledger::Action;
use serde_json::Value;

use crate::access::Gate;
use crate::intake;
use crate::limits::{SUBMIT_BATCH_BYTES_MAX, SUBMIT_REQUEST_BYTES_MAX};
use crate::metrics::{Kind, Series};
use crate::openapi::{
    BadRequest, Busy, ClockOff, Conflict, NotFound, QuotaUsed, TooLarge, UnsupportedMedia,
};
use crate::reply::{error, internal, parse_height, ApiError, ApiResult};
use crate::shared::Shared;
use crate::views;

/// The API's routes (served under the limits of [`crate::http`]).
pub fn router(shared: Arc<Shared>, gate: Arc<Gate>, feeds: Arc<crate::events::Feeds>) -> Router {
    Router::new()
        .route("/v1/tx", post(submit_tx))
        .route(
            "/v1/txs",
            post(submit_txs).layer(DefaultBodyLimit::max(SUBMIT_BATCH_BYTES_MAX)),
        )
        .route("/v1/tx/{id}", get(views::tx))
        .route("/v1/status", get(status))
        .route("/v1/blocks", get(views::blocks))
        .route("/v1/blocks/{height}", get(views::block))
        .route("/v1/validators", get(views::validators))
        .route("/v1/events", get(crate::events::events))
        .route("/v1/search", get(views::search))
        .route("/v1/programmes", get(views::programmes))
        .route("/v1/programmes/{id}", get(views::programme))
        .route("/v1/claims", get(views::claims))
        .route("/v1/claims/{id}", get(views::claim))
        .route("/v1/filings", get(views::filings))
        .route("/v1/filings/{insurer}/{product}/{id}", get(views::filing))
        .route("/v1/organisations", get(views::organisations))
        .route("/v1/records/{kind}/{id}", get(views::record))
        .route(
            "/v1/enterprises/{id}/attestations",
            get(views::enterprise_attestations),
        )
        .route("/v1/chain/{height}", get(chain_entry))
        .route("/v1/state", get(views::state))
        .route("/v1/governance", get(governance))
        .route("/v1/evidence", get(evidence))
        .route("/v1/devnet/clock", post(set_clock))
        .route("/v1/openapi.json", get(openapi))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Around every route and the fallbacks, inside the routing: the route is known.
        .layer(axum::middleware::from_fn_with_state(
            gate.clone(),
            crate::access::guard,
        ))
        .layer(axum::Extension(gate))
        .layer(DefaultBodyLimit::max(SUBMIT_REQUEST_BYTES_MAX))
        .layer(axum::Extension(feeds))
        .with_state(shared)
}

async fn not_found(uri: axum::http::Uri) -> (StatusCode, Json<Value>) {
    error(
        ErrorCode::NotFound,
        format!("no such route: {}", uri.path()),
    )
}

async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> (StatusCode, Json<Value>) {
    error(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not served on {}", uri.path()),
    )
}

#[utoipa::path(
    post, path = "/v1/tx",
    request_body(description = "one transaction: its JSON file form, or its canonical bytes", content(
        (Object = "application/json"),
        (Vec<u8> = "application/octet-stream"),
    )),
    responses(
        (status = 200, description = "taken into the pool", body = Submitted),
        (status = 400, response = BadRequest), (status = 409, response = Conflict), (status = 413, response = TooLarge), (status = 415, response = UnsupportedMedia), (status = 429, response = QuotaUsed), (status = 503, response = Busy),
    )
)]
async fn submit_tx(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let tx = intake::parse_one(is_json, &body);
    // Verification is the intake thread's work, not the runtime's that serves HTTP.
    let result = intake::submit_staff(&shared.intake, &shared.mempool, vec![tx])
        .await
        .pop()
        .expect("one verdict per transaction");
    match result {
        Ok(id) => Ok((StatusCode::OK, Json(Submitted { id })).into_response()),
        Err(refusal) => Err(error(refusal.code, refusal.message)),
    }
}

/// `POST /v1/txs`: each transaction checked (their signatures in one batch) and answered
/// on its own, in order.
#[utoipa::path(
    post, path = "/v1/txs",
    request_body(description = "many transactions: a JSON array of file forms, or the canonical encoding of a list of canonical transactions", content(
        (Vec<serde_json::Value> = "application/json"),
        (Vec<u8> = "application/octet-stream"),
    )),
    responses(
        (status = 200, description = "each transaction's result, in the order sent", body = BatchAnswer),
        (status = 400, response = BadRequest), (status = 413, response = TooLarge), (status = 415, response = UnsupportedMedia), (status = 503, response = Busy),
    )
)]
async fn submit_txs(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let txs = intake::parse_batch(is_json, &body)
        .map_err(|refusal| error(refusal.code, refusal.message))?;
    let verdicts = intake::submit_staff(&shared.intake, &shared.mempool, txs).await;
    let mut accepted = 0;
    let mut results: Vec<BatchResult> = Vec::with_capacity(verdicts.len());
    for verdict in verdicts {
        match verdict {
            Ok(id) => {
                accepted += 1;
                results.push(BatchResult::Taken { id });
            }
            Err(refusal) => results.push(BatchResult::Refused {
                error: ErrorDetail {
                    code: refusal.code,
                    message: refusal.message,
                },
            }),
        }
    }
    let refused = (results.len() - accepted) as u64;
    Ok(Json(BatchAnswer {
        results,
        accepted: accepted as u64,
        refused,
    })
    .into_response())
}

#[utoipa::path(
    get, path = "/v1/status",
    responses((status = 200, description = "the chain's tip, the roster and parameters of the next height, peers", body = StatusView))
)]
async fn status(State(shared): State<Arc<Shared>>) -> ApiResult {
    let chain = &shared.chain;
    let tip = chain.tip().map_err(internal)?;
    // The roster that decides the next height (R11.5): validators and followers.
    let config = chain.config_at(tip.height + 1).map_err(internal)?;
    let validators = config
        .roster
        .entries()
        .iter()
        .map(|v| RosterEntryView {
            org: v.org.clone(),
            consensus_key: v.consensus_key,
            voting_power: v.voting_power,
            address: v.address.as_str().to_string(),
            peer_id: crate::consensus::peer_id_of(&v.network_key()).unwrap_or_default(),
            transport_key: v.transport.map(|t| t.key),
        })
        .collect();
    let peers = shared
        .network
        .peers
        .read()
        .expect("peers lock poisoned")
        .clone();
    let mempool_txs = shared.mempool.size().0 as u64;
    let pending_upgrade = chain.pending_upgrade().map(|p| UpgradeView {
        version: p.version,
        activation_height: p.activation_height,
        scheduled_height: p.scheduled_height,
    });
    Ok(Json(StatusView {
        chain_id: chain.chain_id().clone(),
        crypto_suite: chain.suite(),
        genesis_hash: chain.genesis_hash(),
        height: tip.height,
        latest_block_id: tip.block_id.0,
        latest_time_ms: tip.time_ms,
        state_root: tip.state_root,
        peer_id: shared.peer_id.clone(),
        validators,
        validator_set_hash: config.validator_set_hash,
        params: config.params.clone(),
        peers,
        mempool_txs,
        devnet_clock: shared.clock.is_devnet(),
        protocol_version: chain.version_at(tip.height).map_err(internal)?,
        next_protocol_version: chain.version_at(tip.height + 1).map_err(internal)?,
        supported_versions: chain.supported_versions().collect(),
        pending_upgrade,
    })
    .into_response())
}

#[utoipa::path(
    get, path = "/v1/chain/{height}",
    params(("height" = u64, Path, description = "a committed height")),
    responses(
        (status = 200, description = "the height's canonical chain entry (block, certificate, receipts), as `xinbao chain export` reads it", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
async fn chain_entry(State(shared): State<Arc<Shared>>, Path(height): Path<String>) -> ApiResult {
    let height = parse_height(&height)?;
    let store = shared.chain.history();
    let (Some(block), Some(certificate), Some(receipts)) = (
        store.block(height).map_err(internal)?,
        store.certificate(height).map_err(internal)?,
        store.receipts(height).map_err(internal)?,
    ) else {
        return Err(error(
            ErrorCode::NotFound,
            format!("no block at height {height}"),
        ));
    };
    let entry = ChainEntry {
        block,
        certificate,
        receipts,
    };
    Ok((
        [("content-type", "application/octet-stream")],
        entry.to_bytes(),
    )
        .into_response())
}

/// The accepted changes of the consortium (R11) in chain order, from `from_height`.
#[utoipa::path(
    get, path = "/v1/governance", params(FromHeight),
    responses(
        (status = 200, description = "the accepted changes and the protocol's eras", body = GovernanceView),
        (status = 400, response = BadRequest),
    )
)]
async fn governance(
    State(shared): State<Arc<Shared>>,
    query: Result<axum::extract::Query<FromHeight>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (from_height, limit) = page(query)?;
    let store = shared.chain.history();
    let changes = store
        .governance_changes(from_height, limit)
        .map_err(internal)?;
    let mut list = Vec::with_capacity(changes.len());
    for (location, id) in changes {
        let action = store
            .block_tx(location.height, location.index)
            .map_err(internal)?
            .map(|(tx, _)| tx.body.action);
        let (version, activation_height) = match &action {
            Some(Action::ScheduleUpgrade(tx)) => (Some(tx.version), Some(tx.activation_height)),
            Some(Action::CancelUpgrade(tx)) => (Some(tx.version), None),
            _ => (None, None),
        };
        list.push(GovernanceChange {
            activation_height,
            changes_validators: action.as_ref().is_some_and(|a| a.roster_change().is_some()),
            height: location.height,
            index: location.index,
            tx_id: id,
            type_name: action.as_ref().map(|a| a.type_name().to_string()),
            version,
        });
    }
    Ok(Json(GovernanceView {
        changes: list,
        protocol: protocol_view(&shared)?,
    })
    .into_response())
}

/// R12: the version in force, the upgrade pending, and every era with the accepted
/// `ScheduleUpgrade` that began it (none for the genesis's).
fn protocol_view(shared: &Shared) -> Result<ProtocolView, ApiError> {
    let chain = &shared.chain;
    let tip = chain.tip().map_err(internal)?;
    let store = chain.history();
    let state = store.state();
    let scheduling_tx = |height: u64, version: u32| -> Result<Option<TxId>, ApiError> {
        for (location, id) in store.governance_changes(height, 64).map_err(internal)? {
            if location.height != height {
                break;
            }
            let action = store
                .block_tx(location.height, location.index)
                .map_err(internal)?
                .map(|(tx, _)| tx.body.action);
            if matches!(action, Some(Action::ScheduleUpgrade(tx)) if tx.version == version) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    };
    let mut eras = Vec::new();
    for era in contracts::upgrade::eras(&state) {
        let scheduled_by_tx = match era.scheduled_height {
            Some(height) => scheduling_tx(height, era.version)?,
            None => None,
        };
        eras.push(EraView {
            first_height: era.first_height,
            scheduled_by_tx,
            scheduled_height: era.scheduled_height,
            version: era.version,
        });
    }
    let pending = match chain.pending_upgrade() {
        Some(p) => Some(PendingUpgradeView {
            activation_height: p.activation_height,
            scheduled_by_tx: scheduling_tx(p.scheduled_height, p.version)?,
            scheduled_height: p.scheduled_height,
            version: p.version,
        }),
        None => None,
    };
    Ok(ProtocolView {
        eras,
        next_version: chain.version_at(tip.height + 1).map_err(internal)?,
        pending,
        supported_versions: chain.supported_versions().collect(),
        version: chain.version_at(tip.height).map_err(internal)?,
    })
}

/// Equivocation this node saw, in height order from `from_height`.
#[utoipa::path(
    get, path = "/v1/evidence", params(FromHeight),
    responses(
        (status = 200, description = "the double votes this node saw", body = EvidenceView),
        (status = 400, response = BadRequest),
    )
)]
async fn evidence(
    State(shared): State<Arc<Shared>>,
    query: Result<axum::extract::Query<FromHeight>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (from_height, limit) = page(query)?;
    let evidence = shared
        .chain
        .history()
        .evidence(from_height, limit)
        .map_err(internal)?;
    Ok(Json(EvidenceView { evidence }).into_response())
}

/// Most items in one answer of `GET /v1/governance` or `GET /v1/evidence`.
const PAGE_MAX: usize = 1_000;

/// `?from_height=H&limit=N` of the lists in height order that are read a page at a time.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FromHeight {
    /// The first height (default 0).
    #[param(maximum = 18446744073709551615_u64)]
    from_height: Option<u64>,
    /// Items in a page (default and at most 1000).
    #[param(maximum = 1000)]
    limit: Option<u32>,
}

/// The page a query asks for: its first height and its length (at most [`PAGE_MAX`];
/// more is refused, not clamped).
fn page(
    query: Result<axum::extract::Query<FromHeight>, axum::extract::rejection::QueryRejection>,
) -> Result<(u64, usize), (StatusCode, Json<Value>)> {
    let axum::extract::Query(query) = query.map_err(|e| {
        error(
            ErrorCode::BadQuery,
            format!(
                "expected ?from_height=H&limit=N with whole numbers: {}",
                e.body_text()
            ),
        )
    })?;
    let limit = query.limit.unwrap_or(PAGE_MAX as u32) as usize;
    if limit > PAGE_MAX {
        return Err(error(
            ErrorCode::BadQuery,
            format!("limit is at most {PAGE_MAX}"),
        ));
    }
    Ok((query.from_height.unwrap_or(0), limit))
}

#[utoipa::path(
    post, path = "/v1/devnet/clock",
    request_body(content = ClockView, description = "the time to set, Unix milliseconds"),
    responses(
        (status = 200, description = "the devnet clock was set", body = ClockView),
        (status = 400, response = BadRequest), (status = 403, response = ClockOff),
    )
)]
async fn set_clock(State(shared): State<Arc<Shared>>, body: Bytes) -> ApiResult {
    let Ok(ClockView { time_ms }) = serde_json::from_slice(&body) else {
        return Err(error(
            ErrorCode::Malformed,
            "expected {\"time_ms\": milliseconds since the Unix epoch}",
        ));
    };
    if !shared.clock.set_ms(time_ms) {
        return Err(error(
            ErrorCode::DevnetClockOff,
            "this node was not started with --devnet-clock",
        ));
    }
    Ok(Json(ClockView { time_ms }).into_response())
}

#[utoipa::path(
    get, path = "/v1/openapi.json",
    responses((status = 200, description = "this description", body = Object))
)]
async fn openapi() -> Response {
    (
        [("content-type", "application/json")],
        crate::openapi::json(),
    )
        .into_response()
}

#[utoipa::path(
    get, path = "/health",
    responses((status = 200, description = "the node answers", body = HealthView))
)]
async fn health(State(shared): State<Arc<Shared>>) -> ApiResult {
    let height = shared.metrics.height.load(Ordering::Relaxed);
    Ok(Json(HealthView {
        height,
        status: "ok".into(),
    })
    .into_response())
}

#[utoipa::path(
    get, path = "/metrics",
    responses((status = 200, description = "the node's metrics in Prometheus' text format 0.0.4", content_type = "text/plain", body = String))
)]
async fn metrics(
    State(shared): State<Arc<Shared>>,
    axum::Extension(gate): axum::Extension<Arc<Gate>>,
    axum::Extension(feeds): axum::Extension<Arc<crate::events::Feeds>>,
) -> Response {
    let series = [
        chain_series(&shared),
        flow_series(&shared),
        access_series(&shared, &gate, &feeds),
        store_series(shared.chain.history().stats()),
    ]
    .concat();
    let text = crate::metrics::exposition(&series, &shared.metrics.histograms);
    ([("content-type", crate::metrics::EXPOSITION_TYPE)], text).into_response()
}

fn load(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// The chain, its protocol versions, the peers and what consensus saw.
fn chain_series(shared: &Shared) -> Vec<Series> {
    let m = &shared.metrics;
    let chain = &shared.chain;
    let peers = shared
        .network
        .peers
        .read()
        .expect("peers lock poisoned")
        .len();
    let tip_height = chain.tip().map(|tip| tip.height).unwrap_or(0);
    let version = |height: u64| chain.version_at(height).map_or(0, u64::from);
    vec![
        (
            "xinbao_height",
            Kind::Gauge,
            "Height of the latest committed block.",
            load(&m.height),
        ),
        (
            "xinbao_protocol_version",
            Kind::Gauge,
            "Protocol version in force at the latest committed block.",
            version(tip_height),
        ),
        (
            "xinbao_protocol_version_next",
            Kind::Gauge,
            "Protocol version in force at the next height (a scheduled upgrade's from its activation height).",
            version(tip_height + 1),
        ),
        (
            "xinbao_protocol_version_supported_max",
            Kind::Gauge,
            "Newest protocol version this node's program runs.",
            u64::from(*chain.supported_versions().end()),
        ),
        ("xinbao_peers", Kind::Gauge, "Connected peers.", peers as u64),
        (
            "xinbao_proposals_invalid_total",
            Kind::Counter,
            "Proposals that did not re-execute to their header.",
            load(&m.proposals_invalid),
        ),
        (
            "xinbao_blocks_synced_total",
            Kind::Counter,
            "Blocks taken from peers by sync.",
            load(&m.blocks_synced),
        ),
        (
            "xinbao_equivocating_votes_total",
            Kind::Counter,
            "Double votes by a validator that the engine reported (kept as evidence: GET /v1/evidence).",
            load(&m.equivocating_votes),
        ),
        (
            "xinbao_equivocating_proposals_total",
            Kind::Counter,
            "Double proposals by a proposer that the engine reported.",
            load(&m.equivocating_proposals),
        ),
        (
            "xinbao_evidence",
            Kind::Gauge,
            "Pieces of equivocation evidence this node keeps.",
            chain.history().evidence_count() as u64,
        ),
    ]
}

/// Transactions on their way: intake, the mempool, the gossip, commits. One entry per
/// series, as `/metrics` lists them: the function is as long as the list.
fn flow_series(shared: &Shared) -> Vec<Series> {
    let m = &shared.metrics;
    let (mempool_txs, mempool_bytes) = shared.mempool.size();
    vec![
        (
            "xinbao_mempool_txs",
            Kind::Gauge,
            "Transactions waiting in the mempool.",
            mempool_txs as u64,
        ),
        (
            "xinbao_mempool_bytes",
            Kind::Gauge,
            "Bytes of the transactions in the mempool.",
            mempool_bytes as u64,
        ),
        (
            "xinbao_txs_committed_total",
            Kind::Counter,
            "Transactions committed (accepted or rejected by the rulebook).",
            load(&m.txs_committed),
        ),
        (
            "xinbao_txs_rejected_total",
            Kind::Counter,
            "Committed transactions the rulebook rejected.",
            load(&m.txs_rejected),
        ),
        (
            "xinbao_txs_received_total",
            Kind::Counter,
            "Transactions submitted to this node.",
            load(&m.txs_received),
        ),
        (
            "xinbao_txs_refused_total",
            Kind::Counter,
            "Submitted transactions refused at intake.",
            load(&m.txs_refused),
        ),
        (
            "xinbao_signatures_verified_total",
            Kind::Counter,
            "Transaction signatures this node verified (each once: the validators reuse intake's verdicts).",
            load(&m.signatures_verified),
        ),
        (
            "xinbao_gossip_outbox_txs",
            Kind::Gauge,
            "Submitted transactions waiting to be gossiped.",
            shared.gossip.len() as u64,
        ),
        (
            "xinbao_gossip_inbox_batches",
            Kind::Gauge,
            "Received gossip batches waiting for intake.",
            load(&m.gossip_inbox_batches),
        ),
        (
            "xinbao_gossip_outbox_dropped_total",
            Kind::Counter,
            "Submitted transactions not gossiped because the gossip queue was full.",
            load(&m.gossip_outbox_dropped),
        ),
        (
            "xinbao_gossip_batches_sent_total",
            Kind::Counter,
            "Transaction batches sent to the validators.",
            load(&m.gossip_batches_sent),
        ),
        (
            "xinbao_gossip_txs_sent_total",
            Kind::Counter,
            "Transactions sent in gossip batches (once per batch, whatever the number of peers).",
            load(&m.gossip_txs_sent),
        ),
        (
            "xinbao_gossip_txs_received_total",
            Kind::Counter,
            "Transactions received from peers by gossip.",
            load(&m.gossip_txs_received),
        ),
        (
            "xinbao_gossip_batches_dropped_total",
            Kind::Counter,
            "Received gossip batches dropped because intake was behind.",
            load(&m.gossip_batches_dropped),
        ),
        (
            "xinbao_gossip_send_failures_total",
            Kind::Counter,
            "Gossip batches a peer did not acknowledge.",
            load(&m.gossip_send_failures),
        ),
        (
            "xinbao_intake_queue_jobs",
            Kind::Gauge,
            "Submissions (HTTP requests, gossip batches) waiting for the intake thread.",
            shared.intake.len() as u64,
        ),
    ]
}

/// Who was refused at the doors: the API's gate, the event streams, the p2p roster gate.
fn access_series(shared: &Shared, gate: &Gate, feeds: &crate::events::Feeds) -> Vec<Series> {
    let m = &shared.metrics;
    let refused = |code: ErrorCode| {
        crate::access::REFUSAL_CODES
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| gate.refused[i].load(Ordering::Relaxed))
    };
    vec![
        (
            "xinbao_api_unauthenticated_total",
            Kind::Counter,
            "API requests refused for want of a client certificate with a role (401).",
            refused(ErrorCode::Unauthenticated),
        ),
        (
            "xinbao_api_forbidden_total",
            Kind::Counter,
            "API requests refused because the caller's role may not call the route (403).",
            refused(ErrorCode::Forbidden),
        ),
        (
            "xinbao_api_rate_limited_total",
            Kind::Counter,
            "API requests refused because their client certificate sent too many a second (429).",
            refused(ErrorCode::RateLimited),
        ),
        (
            "xinbao_api_too_many_in_flight_total",
            Kind::Counter,
            "API requests refused because their client certificate had too many in flight (429).",
            refused(ErrorCode::TooManyInFlight),
        ),
        (
            "xinbao_events_streams",
            Kind::Gauge,
            "Event streams (GET /v1/events) open.",
            feeds.open() as u64,
        ),
        (
            "xinbao_events_streams_refused_total",
            Kind::Counter,
            "Event streams refused because as many as allowed were open (503).",
            feeds.refused.load(Ordering::Relaxed),
        ),
        (
            "xinbao_events_consumers_cut_off_total",
            Kind::Counter,
            "Event streams ended because their consumer left events waiting too long.",
            feeds.cut_off.load(Ordering::Relaxed),
        ),
        (
            "xinbao_p2p_messages_refused_total",
            Kind::Counter,
            "Consensus-network messages dropped because their node is not in the roster.",
            load(&m.p2p_messages_refused),
        ),
    ]
}

/// The store's engine.
fn store_series(store: crate::store::Stats) -> Vec<Series> {
    vec![
        (
            "xinbao_store_disk_bytes",
            Kind::Gauge,
            "Bytes of the store's journals and tables on disk.",
            store.disk_bytes,
        ),
        (
            "xinbao_store_journals",
            Kind::Gauge,
            "Journal files of the store (sealed ones wait for their memtables' flush).",
            store.journals as u64,
        ),
        (
            "xinbao_store_tables",
            Kind::Gauge,
            "Table files of the store, all keyspaces.",
            store.tables as u64,
        ),
        (
            "xinbao_store_l0_tables_max",
            Kind::Gauge,
            "The most tables in any keyspace's first level (writes stall from 20).",
            store.l0_tables_max as u64,
        ),
        (
            "xinbao_store_blob_files",
            Kind::Gauge,
            "Blob files of the store (where blocks and receipts are kept).",
            store.blob_files as u64,
        ),
        (
            "xinbao_store_flushes_queued",
            Kind::Gauge,
            "Memtables waiting to be written to tables.",
            store.flushes_queued as u64,
        ),
        (
            "xinbao_store_compactions_running",
            Kind::Gauge,
            "Compactions under way.",
            store.compactions_running as u64,
        ),
        (
            "xinbao_store_compactions_total",
            Kind::Counter,
            "Compactions the store finished since the node started.",
            store.compactions as u64,
        ),
        (
            "xinbao_store_cache_bytes",
            Kind::Gauge,
            "Bytes of table blocks in the store's cache.",
            store.cache_bytes,
        ),
        (
            "xinbao_store_memtable_bytes",
            Kind::Gauge,
            "Bytes of writes held in the store's memtables, not yet in tables.",
            store.write_buffer_bytes,
        ),
    ]
}
