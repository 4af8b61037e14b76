//! The API's read views for people: the network's validators and their recent votes,
//! block and transaction lists, search, the programmes with their month-end history,
//! the claims desk, rate filings, organisations, records with their transactions, and
//! a stream of new blocks. The console (`crate::console`) is built on these alone.
//!
//! Every list is paged (`offset`/`limit`, or `before` for what is ordered by height), and
//! every handler reads what it answers from an index or from a bounded range of blocks:
//! the block-id and record indexes and the month ends of [`crate::store`]. Amounts are
//! fen, ratios basis points, hashes and keys hex, dates `YYYY-MM-DD`, as in DOMAIN.md R10.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use contracts::store::{self, keys, Claim, Fund, KeyRecord, Loan, Org, Policy, Programme};
use ledger::api::{
    BlockSummaryView, BlockTxView, BlockView, ErrorDetail, ReceiptView, SignatureView, SignerView,
    TxStatusView,
};
use ledger::block::{BlockHeader, BlockId, Receipt};
use ledger::crypto::PublicKey;
use ledger::state::StateView;
use ledger::tx::{SignedTx, TxId};
use ledger::{Date, Id};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::{error, internal, ApiError, ApiResult};
use crate::shared::Shared;
use crate::store::{BlockOutline, TxLocation};

/// Most items in one page of a list.
pub const LIST_MAX: usize = 200;
/// Items in a page when the query names no `limit`.
const LIST_DEFAULT: usize = 50;
/// Blocks the validators' view looks back over when the query names no `window`.
const WINDOW_DEFAULT: u64 = 20;

/// `?offset=N&limit=N&before=H&before_index=I` (each optional) and the filters of some
/// lists. A value out of its range is refused (`BadQuery`), not clamped, so that a client
/// never reads a page other than the one it asked for.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    offset: Option<u32>,
    limit: Option<u32>,
    /// For lists in height order: items before this height (with `before_index`, before
    /// that transaction of it; `before_index` alone is ignored).
    before: Option<u64>,
    before_index: Option<u32>,
    /// The claims desk: `open` (the default), `overdue`, `late` or `all`.
    status: Option<String>,
    /// The claims desk: one insurer's claims.
    insurer: Option<String>,
    /// The claims desk: one programme's claims.
    programme: Option<String>,
    /// The validators' view: how many recent blocks.
    window: Option<u64>,
    /// Search: what to look for.
    q: Option<String>,
    /// The state: which section of the R10 document.
    section: Option<String>,
    /// The state: the record id a page of a section starts after.
    after: Option<String>,
}

type ListQueryResult = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

fn bad_query(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, "BadQuery", message)
}

fn list_query(query: ListQueryResult) -> Result<ListQuery, ApiError> {
    let query = query.map(|Query(q)| q).map_err(|e| {
        bad_query(format!(
            "the query is not one this list takes: {}",
            e.body_text()
        ))
    })?;
    if query.limit.is_some_and(|l| l == 0 || l as usize > LIST_MAX) {
        return Err(bad_query(format!("limit is from 1 to {LIST_MAX}")));
    }
    if query.window.is_some_and(|w| w == 0 || w > LIST_MAX as u64) {
        return Err(bad_query(format!("window is from 1 to {LIST_MAX} blocks")));
    }
    Ok(query)
}

impl ListQuery {
    fn limit(&self) -> usize {
        self.limit.map_or(LIST_DEFAULT, |l| l as usize)
    }

    fn offset(&self) -> usize {
        self.offset.unwrap_or(0) as usize
    }

    /// `before` (and `before_index`) as a location: everything below height `before`, or
    /// before transaction `before_index` of it.
    fn before(&self) -> Option<TxLocation> {
        self.before.map(|height| TxLocation {
            height,
            index: self.before_index.unwrap_or(0),
        })
    }
}

/// One page of `items`: `{items, offset, limit, total}`.
fn paged(items: Vec<Value>, query: &ListQuery) -> Value {
    let total = items.len();
    let offset = query.offset().min(total);
    let limit = query.limit();
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    json!({ "items": page, "offset": offset, "limit": limit, "total": total })
}

fn not_found(what: impl Into<String>) -> ApiError {
    error(StatusCode::NOT_FOUND, "NotFound", what)
}

fn parse_id(text: &str) -> Result<Id, ApiError> {
    Id::new(text).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "BadId",
            format!("{text:?} is not an id: {e}"),
        )
    })
}

/// The date the ledger is at: its latest block's, in UTC+8.
fn ledger_date(shared: &Shared) -> Result<Date, ApiError> {
    let tip = shared.chain.tip().map_err(internal)?;
    Date::from_unix_ms_cst(tip.time_ms).map_err(internal)
}

/// A receipt: `{tx_id, outcome}` and, when rejected, `code` and its `meaning`
/// ([`ledger::api::ReceiptView`]).
pub fn receipt_json(receipt: &Receipt) -> Value {
    serde_json::to_value(ReceiptView::from(receipt)).expect("JSON of a receipt")
}

/// Each signature of a transaction with the organisation its key counts for.
fn signatures_of(state: &dyn StateView, tx: &SignedTx) -> Vec<SignatureView> {
    tx.signatures
        .iter()
        .map(|s| {
            let record = store::read::<KeyRecord>(state, &keys::key(&s.public_key));
            SignatureView {
                public_key: s.public_key,
                org: record.as_ref().map(|r| r.org.clone()),
                revoked: record.is_some_and(|r| r.revoked),
            }
        })
        .collect()
}

/// The validators of the ledger's latest height by consensus key: (organisation, voting
/// power), and the hash of their set. An older block is read against it: a consensus key
/// is never used twice (R11, `DuplicateKey`), so a key still in the roster names its
/// organisation at any height; voting power, and who was a validator at all, are only
/// known for the blocks whose header names this same set (`validator_set_hash`), and are
/// `null` for the others.
pub(crate) struct Roster {
    by_key: BTreeMap<PublicKey, (Id, u64)>,
    set_hash: ledger::state::Hash32,
    total_power: u64,
}

impl Roster {
    pub(crate) fn latest(shared: &Shared) -> Result<Roster, ApiError> {
        let tip = shared.chain.tip().map_err(internal)?.height;
        let config = shared.chain.config_at(tip.max(1)).map_err(internal)?;
        let by_key: BTreeMap<PublicKey, (Id, u64)> = config
            .roster
            .entries()
            .iter()
            .filter(|v| v.voting_power > 0)
            .map(|v| (v.consensus_key, (v.org.clone(), v.voting_power)))
            .collect();
        Ok(Roster {
            total_power: by_key.values().map(|(_, p)| p).sum(),
            by_key,
            set_hash: config.validator_set_hash,
        })
    }

    fn org(&self, key: &PublicKey) -> Option<Id> {
        self.by_key.get(key).map(|(org, _)| org.clone())
    }

    /// Whether the block with `header` was decided by this same validator set.
    fn decided(&self, header: &BlockHeader) -> bool {
        header.validator_set_hash == self.set_hash
    }
}

/// A committed block in a line: height, id, time, transactions, proposer and signers.
pub(crate) fn block_summary(
    shared: &Shared,
    roster: &Roster,
    height: u64,
    block: &BlockOutline,
) -> Result<BlockSummaryView, ApiError> {
    let store = shared.chain.store();
    let certificate = store.certificate(height).map_err(internal)?;
    let same_set = roster.decided(&block.header);
    let (round, signers, signing_power) = match &certificate {
        Some(c) => (
            Some(c.round),
            c.signatures.len() as u64,
            c.signatures
                .iter()
                .filter_map(|s| roster.by_key.get(&s.validator).map(|(_, p)| *p))
                .sum::<u64>(),
        ),
        None => (None, 0, 0),
    };
    let proposer = block.header.proposer;
    Ok(BlockSummaryView {
        height,
        protocol_version: block.header.protocol_version,
        block_id: block.header.id(shared.chain.suite()).0,
        time_ms: block.header.time_ms,
        txs: block.txs,
        rejected: block.rejected as u64,
        proposer,
        proposer_org: roster.org(&proposer),
        round,
        signers,
        signing_power: same_set.then_some(signing_power),
        total_power: same_set.then_some(roster.total_power),
    })
}

/// `GET /v1/blocks?before=H&limit=N`: committed blocks, newest first.
pub async fn blocks(State(shared): State<Arc<Shared>>, query: ListQueryResult) -> ApiResult {
    let query = list_query(query)?;
    let tip = shared.chain.tip().map_err(internal)?.height;
    let top = match query.before {
        Some(height) => height.saturating_sub(1).min(tip),
        None => tip,
    };
    let limit = query.limit() as u64;
    let store = shared.chain.store();
    let roster = Roster::latest(&shared)?;
    let mut list = Vec::new();
    let mut height = top;
    while height >= 1 && (list.len() as u64) < limit {
        if let Some(block) = store.outline(height).map_err(internal)? {
            list.push(block_summary(&shared, &roster, height, &block)?);
        }
        height -= 1;
    }
    let next_before = (height >= 1).then_some(height + 1);
    Ok(Json(json!({ "blocks": list, "tip": tip, "next_before": next_before })).into_response())
}

/// `GET /v1/blocks/{height}`: a block (its header's hashes in hex) with its commit
/// certificate and receipts — what `xinbao chain export` rebuilds the entry from — and,
/// for readers, the certificate's signers with their organisations and voting power and
/// each transaction's type and receipt.
pub async fn block(State(shared): State<Arc<Shared>>, Path(height): Path<String>) -> ApiResult {
    let height = crate::api::parse_height(&height)?;
    let store = shared.chain.store();
    let Some(block) = store.block(height).map_err(internal)? else {
        return Err(not_found(format!("no block at height {height}")));
    };
    let roster = Roster::latest(&shared)?;
    let same_set = roster.decided(&block.header);
    let certificate = store.certificate(height).map_err(internal)?;
    let receipts = store
        .receipts(height)
        .map_err(internal)?
        .unwrap_or_default();
    let signed_by: Vec<SignerView> = certificate
        .iter()
        .flat_map(|c| &c.signatures)
        .map(|s| SignerView {
            validator: s.validator,
            org: roster.org(&s.validator),
            voting_power: roster
                .by_key
                .get(&s.validator)
                .map(|(_, p)| *p)
                .filter(|_| same_set),
            signature: s.signature,
        })
        .collect();
    let transactions: Vec<BlockTxView> = block
        .txs
        .iter()
        .zip(&receipts)
        .enumerate()
        .map(|(index, (tx, receipt))| {
            let receipt = ReceiptView::from(receipt);
            BlockTxView {
                index: index as u32,
                type_name: tx.body.action.type_name().to_string(),
                tx_id: receipt.tx_id,
                outcome: receipt.outcome,
                code: receipt.code,
                meaning: receipt.meaning,
            }
        })
        .collect();
    let outline = BlockOutline {
        header: block.header.clone(),
        txs: block.txs.len() as u64,
        rejected: crate::store::rejected(&receipts),
    };
    let summary = block_summary(&shared, &roster, height, &outline)?;
    Ok(Json(BlockView {
        summary,
        header: block.header.clone(),
        state_root: block.header.state_root,
        certificate,
        signed_by,
        transactions,
        receipts: receipts.iter().map(ReceiptView::from).collect(),
        block,
    })
    .into_response())
}

/// `GET /v1/tx/{id}`: pending, or committed with its block, its JSON form, each
/// signature's organisation and the receipt (a rejection's code with its meaning).
pub async fn tx(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = TxId::from_hex(&id).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "BadId",
            "a transaction id is 64 hex digits",
        )
    })?;
    let store = shared.chain.store();
    if let Some(location) = store.tx_location(&id).map_err(internal)? {
        let block = store
            .outline(location.height)
            .map_err(internal)?
            .ok_or_else(|| internal("an indexed block is missing"))?;
        let (tx, receipt) = store
            .block_tx(location.height, location.index)
            .map_err(internal)?
            .ok_or_else(|| internal("an indexed transaction is missing"))?;
        let state = store.state();
        let view = TxStatusView::Committed {
            tx_id: id,
            height: location.height,
            index: location.index,
            block_id: block.header.id(shared.chain.suite()).to_hex(),
            time_ms: block.header.time_ms,
            type_name: tx.body.action.type_name().to_string(),
            receipt: ReceiptView::from(&receipt),
            signatures: signatures_of(&state, &tx),
            tx: Box::new(tx),
        };
        return Ok(Json(view).into_response());
    }
    if shared
        .mempool
        .lock()
        .expect("mempool lock poisoned")
        .contains(&id)
    {
        return Ok(Json(TxStatusView::Pending { tx_id: id }).into_response());
    }
    let unknown = TxStatusView::Unknown {
        tx_id: id,
        error: ErrorDetail {
            code: "NotFound".into(),
            message: "no such transaction pending or committed".into(),
        },
    };
    Ok((StatusCode::NOT_FOUND, Json(unknown)).into_response())
}

/// `GET /v1/validators?window=N`: the validators of the next height with, over the last
/// N committed blocks, the last height each signed and how many it signed, proposed and
/// missed (a missed block is one its validator set decided without its signature in the
/// certificate; see [`Roster`]).
pub async fn validators(State(shared): State<Arc<Shared>>, query: ListQueryResult) -> ApiResult {
    let query = list_query(query)?;
    let window = query.window.unwrap_or(WINDOW_DEFAULT);
    let tip = shared.chain.tip().map_err(internal)?.height;
    let store = shared.chain.store();
    #[derive(Default)]
    struct Seen {
        last_signed: Option<u64>,
        last_proposed: Option<u64>,
        signed: u64,
        proposed: u64,
        missed: u64,
        missed_heights: Vec<u64>,
    }
    let mut seen: BTreeMap<PublicKey, Seen> = BTreeMap::new();
    let roster = Roster::latest(&shared)?;
    let from = tip.saturating_sub(window - 1).max(1);
    for height in (from..=tip).rev() {
        let (Some(block), Some(certificate)) = (
            store.outline(height).map_err(internal)?,
            store.certificate(height).map_err(internal)?,
        ) else {
            continue;
        };
        let proposer = seen.entry(block.header.proposer).or_default();
        proposer.proposed += 1;
        proposer.last_proposed.get_or_insert(height);
        for signature in &certificate.signatures {
            let entry = seen.entry(signature.validator).or_default();
            entry.signed += 1;
            entry.last_signed.get_or_insert(height);
        }
        // A block of this same validator set: its validators without a signature in the
        // certificate missed it (for a block of another set, who was a validator is not
        // known here).
        if roster.decided(&block.header) {
            for key in roster.by_key.keys() {
                if !certificate.signatures.iter().any(|s| &s.validator == key) {
                    let entry = seen.entry(*key).or_default();
                    entry.missed += 1;
                    entry.missed_heights.push(height);
                }
            }
        }
    }
    // The roster of the next height, each with what the window's blocks show of it (the
    // answer reads `window` blocks, never more).
    let config = shared.chain.config_at(tip + 1).map_err(internal)?;
    let list: Vec<Value> = config
        .roster
        .entries()
        .iter()
        .map(|v| {
            let s = seen.remove(&v.consensus_key).unwrap_or_default();
            json!({
                "org": v.org.as_str(),
                "consensus_key": v.consensus_key.to_string(),
                "voting_power": v.voting_power,
                "address": v.address.as_str(),
                "last_signed": s.last_signed,
                "last_proposed": s.last_proposed,
                "signed": s.signed,
                "proposed": s.proposed,
                "missed": s.missed,
                "missed_heights": s.missed_heights,
            })
        })
        .collect();
    Ok(Json(json!({
        "height": tip,
        "window": window,
        "from_height": from,
        "validators": list,
    }))
    .into_response())
}

/// What a string can name: its kind, id and the API path that answers for it.
fn hit(kind: &str, id: &str, path: String) -> Value {
    json!({ "kind": kind, "id": id, "path": path })
}

/// `GET /v1/search?q=TEXT`: what TEXT names — a transaction or block id, a height, or a
/// programme, policy, loan, claim, fund, organisation, enterprise or attestation id.
pub async fn search(State(shared): State<Arc<Shared>>, query: ListQueryResult) -> ApiResult {
    let query = list_query(query)?;
    let text = query.q.clone().unwrap_or_default();
    if text.is_empty() {
        return Err(bad_query("search needs ?q=TEXT: an id, a height or a hash"));
    }
    let store = shared.chain.store();
    let mut results = Vec::new();
    if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        let lower = text.to_ascii_lowercase();
        if let Ok(id) = TxId::from_hex(&lower) {
            let known = store.tx_location(&id).map_err(internal)?.is_some()
                || shared
                    .mempool
                    .lock()
                    .expect("mempool lock poisoned")
                    .contains(&id);
            if known {
                results.push(hit("tx", &lower, format!("/v1/tx/{lower}")));
            }
        }
        if let Ok(bytes) = hex::decode(&lower) {
            let mut id = [0u8; 32];
            id.copy_from_slice(&bytes);
            if let Some(height) = store.height_of(&BlockId(id)).map_err(internal)? {
                results.push(hit(
                    "block",
                    &height.to_string(),
                    format!("/v1/blocks/{height}"),
                ));
            }
        }
    }
    if let Ok(height) = text.parse::<u64>() {
        let tip = shared.chain.tip().map_err(internal)?.height;
        if (1..=tip).contains(&height) {
            results.push(hit("block", &text, format!("/v1/blocks/{height}")));
        }
    }
    if let Ok(id) = Id::new(&text) {
        let state = store.state();
        let kinds: [(&str, Vec<u8>); 6] = [
            ("programme", keys::programme(&id)),
            ("policy", keys::policy(&id)),
            ("loan", keys::loan(&id)),
            ("claim", keys::claim(&id)),
            ("fund", keys::fund(&id)),
            ("org", keys::org(&id)),
        ];
        for (kind, key) in kinds {
            if state.get(&key).is_some() {
                results.push(hit(kind, id.as_str(), record_path(kind, &id)));
            }
        }
        if contracts::attest::get(&state, &id).is_some() {
            results.push(hit(
                "attestation",
                id.as_str(),
                record_path("attestation", &id),
            ));
        }
        if crate::index::Index(store)
            .has_subject("enterprise", id.as_str())
            .map_err(internal)?
        {
            results.push(hit(
                "enterprise",
                id.as_str(),
                record_path("enterprise", &id),
            ));
        }
    }
    Ok(Json(json!({ "q": text, "results": results })).into_response())
}

fn record_path(kind: &str, id: &Id) -> String {
    match kind {
        "programme" => format!("/v1/programmes/{id}"),
        "claim" => format!("/v1/claims/{id}"),
        _ => format!("/v1/records/{kind}/{id}"),
    }
}

/// The transactions that name a record, newest first: `{items, next}`.
fn record_txs(shared: &Shared, kind: &str, id: &Id, query: &ListQuery) -> Result<Value, ApiError> {
    let store = shared.chain.store();
    let limit = query.limit();
    let locations = crate::index::Index(store)
        .subject_txs(kind, id.as_str(), query.before(), limit)
        .map_err(internal)?;
    let mut items = Vec::with_capacity(locations.len());
    let mut blocks: BTreeMap<u64, BlockOutline> = BTreeMap::new();
    for at in &locations {
        if let std::collections::btree_map::Entry::Vacant(slot) = blocks.entry(at.height) {
            if let Some(outline) = store.outline(at.height).map_err(internal)? {
                slot.insert(outline);
            }
        }
        let Some(block) = blocks.get(&at.height) else {
            continue;
        };
        let Some((tx, receipt)) = store.block_tx(at.height, at.index).map_err(internal)? else {
            continue;
        };
        let date = Date::from_unix_ms_cst(block.header.time_ms)
            .map(|d| d.to_string())
            .ok();
        let mut doc = receipt_json(&receipt);
        doc["height"] = json!(at.height);
        doc["index"] = json!(at.index);
        doc["date"] = json!(date);
        doc["type"] = json!(tx.body.action.type_name());
        doc["action"] = serde_json::to_value(&tx.body.action).map_err(internal)?;
        items.push(doc);
    }
    // The next page: `?before=H&before_index=I` of the last item of this one.
    let next = locations
        .last()
        .filter(|_| locations.len() == limit)
        .map(|at| json!({ "before": at.height, "before_index": at.index }));
    Ok(json!({ "items": items, "next": next }))
}

/// A programme's terms, figures as of `date`, thresholds and its fund's cap usage.
fn programme_doc(
    store: &crate::store::Store,
    state: &dyn StateView,
    id: &Id,
    programme: &Programme,
    date: Date,
) -> Result<Value, ApiError> {
    let terms = &programme.terms;
    let figures = crate::index::Index(store)
        .programme_figures(id, programme, date)
        .map_err(internal)?;
    let mut doc = contracts::report::programme_detail_with(programme, &figures);
    let t = &terms.triggers;
    // R5.1: a warning is listed at this share of a threshold.
    let warn = |threshold: u64| {
        u64::try_from(contracts::arith::bps_of(threshold, t.warn_at_bps)).unwrap_or(u64::MAX)
    };
    doc["id"] = json!(id.as_str());
    doc["period_start"] = json!(terms.period_start.to_string());
    doc["period_end"] = json!(terms.period_end.to_string());
    doc["reinsurance_quota_bps"] = json!(terms.reinsurance_quota_bps);
    // R14.3: what a policy's enterprise needs (absent before version 3).
    doc["eligibility"] = serde_json::to_value(&terms.eligibility).unwrap_or(Value::Null);
    doc["triggers"] = serde_json::to_value(terms.triggers).unwrap_or(Value::Null);
    doc["thresholds"] = json!({
        "loss_ratio_warn_bps": warn(t.suspend_loss_ratio_bps),
        "loss_ratio_suspend_bps": t.suspend_loss_ratio_bps,
        "overdue_ratio_warn_bps": warn(t.suspend_overdue_bps),
        "overdue_ratio_suspend_bps": t.suspend_overdue_bps,
    });
    doc["claims_terms"] = serde_json::to_value(terms.claims).unwrap_or(Value::Null);
    if let Some(fund) = store::read::<Fund>(state, &keys::fund(&terms.fund)) {
        doc["fund_figures"] = fund_doc(&fund, date);
    }
    Ok(doc)
}

/// A fund: balance, what it paid, and this year's payments against its annual cap.
fn fund_doc(fund: &Fund, date: Date) -> Value {
    let year = date.ymd().0;
    let paid = fund
        .paid_by_year
        .iter()
        .find(|(y, _)| *y == year)
        .map_or(0, |(_, f)| f.0);
    let cap = fund.annual_cap_fen.0;
    let used_bps = if cap == 0 {
        0
    } else {
        (u128::from(paid) * 10_000 / u128::from(cap)) as u64
    };
    let mut doc = contracts::report::fund_json(fund);
    doc["government"] = json!(fund.government.as_str());
    doc["annual_cap_fen"] = json!(cap);
    doc["year"] = json!(year);
    doc["paid_this_year_fen"] = json!(paid);
    doc["cap_used_bps"] = json!(used_bps);
    doc
}

/// `GET /v1/programmes`: every programme with its figures as of the ledger's date.
pub async fn programmes(State(shared): State<Arc<Shared>>, query: ListQueryResult) -> ApiResult {
    let query = list_query(query)?;
    let date = ledger_date(&shared)?;
    let store_ = shared.chain.store();
    let state = store_.state();
    let items: Vec<Value> = store::scan::<Programme>(&state, keys::PROGRAMME)
        .iter()
        .map(|(id, p)| programme_doc(store_, &state, id, p, date))
        .collect::<Result<_, _>>()?;
    let mut doc = paged(items, &query);
    doc["date"] = json!(date.to_string());
    Ok(Json(doc).into_response())
}

/// `GET /v1/programmes/{id}`: one programme, with its figures at every month end the
/// ledger has passed (as `audit report` computes them) and as of the ledger's date.
pub async fn programme(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let date = ledger_date(&shared)?;
    let store_ = shared.chain.store();
    let state = store_.state();
    let Some(programme) = store::read::<Programme>(&state, &keys::programme(&id)) else {
        return Err(not_found(format!("no programme {id}")));
    };
    let mut months = Vec::new();
    for (as_of, figures) in crate::index::Index(store_).month_ends().map_err(internal)? {
        let figures: Value = serde_json::from_slice(&figures).map_err(internal)?;
        if let Some(p) = figures.get(id.as_str()) {
            let mut point = p.clone();
            point["as_of"] = json!(as_of.to_string());
            months.push(point);
        }
    }
    let mut doc = programme_doc(store_, &state, &id, &programme, date)?;
    let mut now = Map::new();
    for key in [
        "claims_gross_fen",
        "loss_ratio_bps",
        "outstanding_principal_fen",
        "overdue_principal_fen",
        "overdue_ratio_bps",
        "premium_written_fen",
        "status",
    ] {
        now.insert(key.into(), doc.get(key).cloned().unwrap_or(Value::Null));
    }
    now.insert("as_of".into(), json!(date.to_string()));
    doc["date"] = json!(date.to_string());
    doc["months"] = Value::Array(months);
    doc["now"] = Value::Object(now);
    Ok(Json(doc).into_response())
}

/// A claim for the desk: its parties, dates, whether it is overdue or was paid late,
/// and its split (R7).
fn claim_doc(state: &dyn StateView, id: &Id, claim: &Claim, date: Date) -> Value {
    let mut doc = contracts::report::claim_detail(claim, date);
    let insurer = store::read::<Programme>(state, &keys::programme(&claim.programme))
        .map(|p| p.terms.insurer.to_string());
    doc["id"] = json!(id.as_str());
    doc["programme"] = json!(claim.programme.as_str());
    doc["insurer"] = json!(insurer);
    doc["reject_reason"] = json!(claim.reject_reason.as_ref().map(|r| r.as_str()));
    doc["missing_documents"] = json!(claim.missing.iter().map(Id::as_str).collect::<Vec<_>>());
    doc
}

/// The next date a claim is due at: its decision while undecided, its payment once
/// approved; none once it is paid or rejected.
fn next_due(claim: &Value) -> Option<String> {
    let status = claim.get("status").and_then(Value::as_str)?;
    let field = match status {
        "Filed" | "AwaitingDocuments" => "decision_due",
        "Approved" => "payment_due",
        _ => return None,
    };
    claim.get(field).and_then(Value::as_str).map(str::to_string)
}

/// The claims desk's figures for one insurer: claims listed, overdue, paid late.
#[derive(Default)]
struct DeskFigures {
    claims: u64,
    overdue: u64,
    late: u64,
}

/// `GET /v1/claims?status=open|overdue|late|all&insurer=ID&programme=ID`: the claims desk
/// (R7.5), overdue claims first, then by the date the next step is due, then the closed
/// ones by insurer, programme and id. It reads the open claims and one page of the closed
/// ones from the store's claims desk, never every claim.
pub async fn claims(State(shared): State<Arc<Shared>>, query: ListQueryResult) -> ApiResult {
    use crate::index::Desk;
    let query = list_query(query)?;
    let date = ledger_date(&shared)?;
    let status = query.status.as_deref().unwrap_or("open");
    if !["open", "overdue", "late", "all"].contains(&status) {
        return Err(bad_query(format!(
            "status={status:?}: expected open, overdue, late or all"
        )));
    }
    let state = shared.chain.store().state();
    let desk_index = crate::index::Index(shared.chain.store());
    let mut insurer = query.insurer.clone();
    let programme = query.programme.as_deref();
    // A programme's claims are filed under its insurer. An unknown programme, or one of
    // another insurer than the one named, has none.
    let mut none = false;
    if let Some(id) = programme {
        let record = Id::new(id)
            .ok()
            .and_then(|id| store::read::<Programme>(&state, &keys::programme(&id)));
        match record {
            Some(p)
                if insurer
                    .as_deref()
                    .is_none_or(|i| i == p.terms.insurer.as_str()) =>
            {
                insurer = Some(p.terms.insurer.to_string())
            }
            _ => none = true,
        }
    }
    let insurer = insurer.as_deref();
    let docs = |ids: Vec<Id>| -> Vec<Value> {
        ids.iter()
            .filter_map(|id| {
                let claim = store::read::<Claim>(&state, &keys::claim(id))?;
                Some(claim_doc(&state, id, &claim, date))
            })
            .collect()
    };
    let is = |c: &Value, key: &str| c.get(key).and_then(Value::as_bool).unwrap_or(false);
    let mut open = Vec::new();
    if !none && status != "late" {
        open = docs(
            desk_index
                .desk_claims(Desk::Open, insurer, programme, 0, usize::MAX)
                .map_err(internal)?,
        );
        if status == "overdue" {
            open.retain(|c| is(c, "overdue"));
        }
        open.sort_by_key(|c| {
            (
                !is(c, "overdue"),
                next_due(c).unwrap_or_default(),
                c.get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        });
    }
    let mut per_insurer: BTreeMap<String, DeskFigures> = BTreeMap::new();
    for c in &open {
        let of = c.get("insurer").and_then(Value::as_str).unwrap_or("");
        let figures = per_insurer.entry(of.to_string()).or_default();
        figures.claims += 1;
        figures.overdue += u64::from(is(c, "overdue"));
    }
    // The closed claims listed after the open ones: all of them, or those paid late.
    let closed = match status {
        "all" => Some(Desk::Closed),
        "late" => Some(Desk::Late),
        _ => None,
    };
    let mut closed_total = 0;
    if let (Some(desk), false) = (closed, none) {
        for (of, n) in desk_index
            .desk_counts(desk, insurer, programme)
            .map_err(internal)?
        {
            closed_total += n as usize;
            per_insurer.entry(of).or_default().claims += n;
        }
        for (of, n) in desk_index
            .desk_counts(Desk::Late, insurer, programme)
            .map_err(internal)?
        {
            per_insurer.entry(of).or_default().late += n;
        }
    }
    let total = open.len() + closed_total;
    let (offset, limit) = (query.offset().min(total), query.limit());
    let mut items: Vec<Value> = open.into_iter().skip(offset).take(limit).collect();
    if let (Some(desk), true) = (closed, items.len() < limit && offset + items.len() < total) {
        let from = (offset + items.len()).saturating_sub(total - closed_total);
        let page = desk_index
            .desk_claims(desk, insurer, programme, from, limit - items.len())
            .map_err(internal)?;
        items.extend(docs(page));
    }
    let per_insurer: Vec<Value> = per_insurer
        .into_iter()
        .map(|(insurer, f)| {
            json!({ "insurer": insurer, "claims": f.claims, "overdue": f.overdue, "late": f.late })
        })
        .collect();
    Ok(Json(json!({
        "items": items,
        "offset": offset,
        "limit": limit,
        "total": total,
        "date": date.to_string(),
        "status": status,
        "per_insurer": per_insurer,
    }))
    .into_response())
}

/// `GET /v1/claims/{id}`: one claim, with the transactions that moved it.
pub async fn claim(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    query: ListQueryResult,
) -> ApiResult {
    let query = list_query(query)?;
    let id = parse_id(&id)?;
    let date = ledger_date(&shared)?;
    let state = shared.chain.store().state();
    let Some(claim) = store::read::<Claim>(&state, &keys::claim(&id)) else {
        return Err(not_found(format!("no claim {id}")));
    };
    let mut doc = claim_doc(&state, &id, &claim, date);
    doc["date"] = json!(date.to_string());
    doc["txs"] = record_txs(&shared, "claim", &id, &query)?;
    Ok(Json(doc).into_response())
}

/// A rate filing's document from its state key (`rate/<insurer>\0<product>\0<hash>`).
fn filing_doc(shared: &Shared, key: &[u8], value: &[u8], date: Date) -> Option<Value> {
    let rest = std::str::from_utf8(&key[keys::RATE.len()..]).ok()?;
    let mut parts = rest.split('\0');
    let (insurer, product, id) = (parts.next()?, parts.next()?, parts.next()?);
    let filing: contracts::store::RateFiling = store::decode_record(value);
    let (_, policies) = crate::index::Index(shared.chain.store())
        .filing_policies(key, 0, 0)
        .ok()?;
    Some(json!({
        "id": id,
        "insurer": insurer,
        "product": product,
        "filing_ref": filing.filing_ref.as_str(),
        "rates_bps": filing.rates_bps,
        "valid_from": filing.valid_from.to_string(),
        "valid_to": filing.valid_to.to_string(),
        "in_force": filing.valid_from <= date && date <= filing.valid_to,
        "policies": policies,
    }))
}

/// `GET /v1/filings`: the rate filings (R3), each with whether it is in force on the
/// ledger's date and how many policies were issued under it.
pub async fn filings(State(shared): State<Arc<Shared>>, query: ListQueryResult) -> ApiResult {
    let query = list_query(query)?;
    let date = ledger_date(&shared)?;
    let state = shared.chain.store().state();
    let items: Vec<Value> = state
        .scan_prefix(keys::RATE.as_bytes())
        .into_iter()
        .filter_map(|(key, value)| filing_doc(&shared, &key, &value, date))
        .collect();
    let mut doc = paged(items, &query);
    doc["date"] = json!(date.to_string());
    Ok(Json(doc).into_response())
}

/// `GET /v1/filings/{insurer}/{product}/{id}`: one filing with a page of the policies
/// issued under it (R3.2: its insurer's, for its product, at one of its rates, on a date
/// it was valid).
pub async fn filing(
    State(shared): State<Arc<Shared>>,
    Path((insurer, product, id)): Path<(String, String, String)>,
    query: ListQueryResult,
) -> ApiResult {
    let query = list_query(query)?;
    let (insurer, product) = (parse_id(&insurer)?, parse_id(&product)?);
    let mut hash = [0u8; 32];
    let lowercase = id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lowercase || hex::decode_to_slice(&id, &mut hash).is_err() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "BadId",
            "a filing id is 64 lowercase hex digits",
        ));
    }
    let date = ledger_date(&shared)?;
    let store_ = shared.chain.store();
    let state = store_.state();
    let key = keys::rate(&insurer, &product, &hash);
    let Some(value) = state.get(&key) else {
        return Err(not_found(format!(
            "no filing {id} of {insurer} for {product}"
        )));
    };
    let mut doc = filing_doc(&shared, &key, &value, date)
        .ok_or_else(|| internal("a stored filing is unreadable"))?;
    let (page, total) = crate::index::Index(store_)
        .filing_policies(&key, query.offset(), query.limit())
        .map_err(internal)?;
    let items: Vec<Value> = page
        .iter()
        .filter_map(|policy| {
            let id = Id::new(policy.as_str()).ok()?;
            let p: Policy = store::read(&state, &keys::policy(&id))?;
            Some(json!({
                "id": policy,
                "programme": p.programme.as_str(),
                "bank": p.bank.as_str(),
                "enterprise": p.enterprise.as_str(),
                "issued": p.issued.to_string(),
                "premium_rate_bps": p.premium_rate_bps,
                "premium_fen": p.premium_fen.0,
                "loan_principal_fen": p.loan_principal_fen.0,
            }))
        })
        .collect();
    doc["date"] = json!(date.to_string());
    doc["issued"] = json!({
        "items": items,
        "offset": query.offset(),
        "limit": query.limit(),
        "total": total,
    });
    Ok(Json(doc).into_response())
}

/// `GET /v1/organisations`: the members with their totals, as `audit report` has them,
/// from the running totals the store keeps at each commit.
pub async fn organisations(State(shared): State<Arc<Shared>>, query: ListQueryResult) -> ApiResult {
    let query = list_query(query)?;
    let store_ = shared.chain.store();
    let sums = crate::index::Index(store_)
        .organisation_sums()
        .map_err(internal)?;
    let totals = contracts::report::organisation_docs(&store_.state(), &sums);
    let items: Vec<Value> = totals
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(id, doc)| {
                    let mut doc = doc.clone();
                    doc["id"] = json!(id);
                    doc
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(paged(items, &query)).into_response())
}

/// `GET /v1/records/{kind}/{id}`: a policy, loan, fund, organisation or enterprise with
/// the transactions that name it, newest first (`?before=H&before_index=I&limit=N` pages
/// them).
pub async fn record(
    State(shared): State<Arc<Shared>>,
    Path((kind, id)): Path<(String, String)>,
    query: ListQueryResult,
) -> ApiResult {
    let query = list_query(query)?;
    let id = parse_id(&id)?;
    let date = ledger_date(&shared)?;
    let state = shared.chain.store().state();
    let record = match kind.as_str() {
        "policy" => store::read::<Policy>(&state, &keys::policy(&id)).map(|p| {
            let mut doc = contracts::report::policy_json(&p);
            doc["programme"] = json!(p.programme.as_str());
            doc["enterprise"] = json!(p.enterprise.as_str());
            doc["bank"] = json!(p.bank.as_str());
            doc["loan_principal_fen"] = json!(p.loan_principal_fen.0);
            doc["loan_rate_bps"] = json!(p.loan_rate_bps);
            doc["premium_rate_bps"] = json!(p.premium_rate_bps);
            doc["term_months"] = json!(p.term_months);
            doc["issued"] = json!(p.issued.to_string());
            doc["loan"] = json!(p.loan.as_ref().map(Id::as_str));
            // R14.4: the attestations that met the programme's eligibility on its issue date.
            doc["qualified_by"] = json!(contracts::attest::qualified(&state, &id)
                .unwrap_or_default()
                .iter()
                .map(|(kind, attestation)| {
                    let mut entry = contracts::attest::get(&state, attestation)
                        .map(|a| contracts::report::attestation_json(&a))
                        .unwrap_or_else(|| json!({}));
                    entry["kind"] = json!(kind.as_str());
                    entry["id"] = json!(attestation.as_str());
                    entry
                })
                .collect::<Vec<_>>());
            doc
        }),
        "attestation" => contracts::attest::get(&state, &id).map(|a| attestation_doc(&id, &a)),
        "loan" => store::read::<Loan>(&state, &keys::loan(&id)).map(|l| {
            let mut doc = contracts::report::loan_json(&l, date);
            doc["policy"] = json!(l.policy.as_str());
            doc["programme"] = json!(l.programme.as_str());
            doc
        }),
        "fund" => store::read::<Fund>(&state, &keys::fund(&id)).map(|f| fund_doc(&f, date)),
        "org" => store::read::<Org>(&state, &keys::org(&id))
            .map(|o| json!({ "kind": contracts::report::kind_name(o.kind) })),
        "enterprise" => {
            let flag = store::read::<contracts::store::Flag>(&state, &keys::flag(&id));
            let attestations = contracts::attest::ids_of_enterprise(&state, &id).len();
            let known = flag.is_some()
                || attestations > 0
                || crate::index::Index(shared.chain.store())
                    .has_subject("enterprise", id.as_str())
                    .map_err(internal)?;
            known.then(|| {
                json!({
                    "flagged": flag.is_some(),
                    "flag_reason": flag.as_ref().map(|f| f.reason.as_str()),
                    "flagged_since": flag.as_ref().map(|f| f.since.to_string()),
                    "attestations": attestations,
                })
            })
        }
        "programme" | "claim" => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "BadKind",
                format!("a {kind} is at {}", record_path(&kind, &id)),
            ))
        }
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "BadKind",
                format!("{kind:?}: expected policy, loan, fund, org, enterprise or attestation"),
            ))
        }
    };
    let Some(mut doc) = record else {
        return Err(not_found(format!("no {kind} {id}")));
    };
    doc["id"] = json!(id.as_str());
    doc["record_kind"] = json!(kind);
    doc["date"] = json!(date.to_string());
    doc["txs"] = record_txs(&shared, &kind, &id, &query)?;
    Ok(Json(doc).into_response())
}

/// An attestation as the R10 document shows it, with its id, facts hash and revocation
/// date.
fn attestation_doc(id: &Id, a: &contracts::attest::Attestation) -> Value {
    let mut doc = contracts::report::attestation_json(a);
    doc["id"] = json!(id.as_str());
    doc["facts_hash"] = json!(a.facts_hash.as_str());
    doc["revoked_on"] = json!(a.revoked_on.map(|d| d.to_string()));
    doc
}

/// `GET /v1/enterprises/{id}/attestations` (R14): the enterprise's attestations in (kind,
/// id) order, a page at a time (`offset`, `limit`), each as the R10 document shows it with
/// its id, facts hash and revocation date.
pub async fn enterprise_attestations(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    query: ListQueryResult,
) -> ApiResult {
    let query = list_query(query)?;
    let id = parse_id(&id)?;
    let state = shared.chain.store().state();
    let ids = contracts::attest::ids_of_enterprise(&state, &id);
    let total = ids.len();
    let items: Vec<Value> = ids
        .iter()
        .skip(query.offset())
        .take(query.limit())
        .filter_map(|attestation| {
            let a = contracts::attest::get(&state, attestation)?;
            Some(attestation_doc(attestation, &a))
        })
        .collect();
    Ok(Json(json!({
        "enterprise": id.as_str(),
        "total": total,
        "offset": query.offset(),
        "items": items,
    }))
    .into_response())
}

/// Most records `GET /v1/state` gives as one document; a larger state is read a section
/// at a time.
pub const STATE_WHOLE_MAX: usize = 10_000;

/// `GET /v1/state`: the rulebook's R10 document as of the latest block's date, whole
/// while the state holds at most [`STATE_WHOLE_MAX`] records; `?section=S` (one of
/// `contracts::report::SECTIONS`) gives a page of one section instead, in id order,
/// `&after=ID` the page after that id, with `next` the id to ask after for the next page
/// (`after` and `limit` page sections only; without `section` they change nothing).
pub async fn state(State(shared): State<Arc<Shared>>, query: ListQueryResult) -> ApiResult {
    let query = list_query(query)?;
    let date = ledger_date(&shared)?;
    let store_ = shared.chain.store();
    let state = store_.state();
    let Some(section) = query.section.as_deref() else {
        let records: usize = contracts::report::SECTIONS
            .iter()
            .map(|(_, prefix)| state.count_up_to(prefix.as_bytes(), STATE_WHOLE_MAX + 1))
            .sum();
        if records > STATE_WHOLE_MAX {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "StateTooLarge",
                format!(
                    "the state holds more than {STATE_WHOLE_MAX} records: read it a section at a \
                     time (?section=policies&limit=200, then &after= the page's next)"
                ),
            ));
        }
        return Ok(Json(contracts::report(&state, date, &[])).into_response());
    };
    let names: Vec<&str> = contracts::report::SECTIONS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let Some((_, prefix)) = contracts::report::SECTIONS
        .iter()
        .find(|(name, _)| *name == section)
    else {
        return Err(bad_query(format!("section is one of {}", names.join(", "))));
    };
    let after = query.after.as_deref().unwrap_or_default();
    let (entries, more) = state.page(prefix.as_bytes(), after.as_bytes(), query.limit());
    let mut items = Vec::with_capacity(entries.len());
    for (key, value) in &entries {
        let id = std::str::from_utf8(&key[prefix.len()..])
            .ok()
            .and_then(|s| Id::new(s).ok())
            .ok_or_else(|| internal("a stored key names no valid id"))?;
        let mut entry = if section == "programmes" {
            let programme: Programme = store::decode_record(value);
            let figures = crate::index::Index(shared.chain.store())
                .programme_figures(&id, &programme, date)
                .map_err(internal)?;
            contracts::report::programme_json_with(&programme, &figures)
        } else {
            contracts::report::section_entry(&state, date, section, &id, value)
                .ok_or_else(|| internal("a section without entries"))?
        };
        entry["id"] = json!(id.as_str());
        items.push(entry);
    }
    let next = if more {
        items.last().map(|item| item["id"].clone())
    } else {
        None
    };
    Ok(Json(json!({
        "date": date.to_string(),
        "section": section,
        "items": items,
        "next": next,
    }))
    .into_response())
}
