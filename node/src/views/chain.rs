//! The chain as people read it: blocks, a transaction with its receipt and signers, the
//! validators with their recent votes, and search.

use super::*;

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
    let store = shared.chain.history();
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
#[utoipa::path(
    get, path = "/v1/blocks", params(Before),
    responses((status = 200, description = "committed blocks, newest first", body = BlocksPage), (status = 400, response = BadRequest))
)]
pub async fn blocks(State(shared): State<Arc<Shared>>, query: ParamsResult<Before>) -> ApiResult {
    let query = params(query)?;
    let tip = shared.chain.tip().map_err(internal)?.height;
    let top = match query.before {
        Some(height) => height.saturating_sub(1).min(tip),
        None => tip,
    };
    let limit = query.limit() as u64;
    let store = shared.chain.history();
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
    Ok(Json(BlocksPage {
        blocks: list,
        next_before,
        tip,
    })
    .into_response())
}

/// `GET /v1/blocks/{height}`: a block (its header's hashes in hex) with its commit
/// certificate and receipts — what `xinbao chain export` rebuilds the entry from — and,
/// for readers, the certificate's signers with their organisations and voting power and
/// each transaction's type and receipt.
#[utoipa::path(
    get, path = "/v1/blocks/{height}",
    params(("height" = u64, Path, description = "a committed height")),
    responses((status = 200, description = "the block", body = BlockView), (status = 400, response = BadRequest), (status = 404, response = NotFound))
)]
pub async fn block(State(shared): State<Arc<Shared>>, Path(height): Path<String>) -> ApiResult {
    let height = crate::reply::parse_height(&height)?;
    let store = shared.chain.history();
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
#[utoipa::path(
    get, path = "/v1/tx/{id}",
    params(("id" = String, Path, description = "a transaction id: 64 hex digits", pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "pending, or committed with its receipt", body = TxStatusView),
        (status = 404, description = "neither pending nor committed", body = TxStatusView),
        (status = 400, response = BadRequest),
    )
)]
pub async fn tx(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = TxId::from_hex(&id)
        .map_err(|_| error(ErrorCode::BadId, "a transaction id is 64 hex digits"))?;
    let store = shared.chain.history();
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
    if shared.mempool.holds(&id) {
        return Ok(Json(TxStatusView::Pending { tx_id: id }).into_response());
    }
    let unknown = TxStatusView::Unknown {
        tx_id: id,
        error: ErrorDetail {
            code: ErrorCode::NotFound,
            message: "no such transaction pending or committed".into(),
        },
    };
    Ok((StatusCode::NOT_FOUND, Json(unknown)).into_response())
}

/// `GET /v1/validators?window=N`: the validators of the next height with, over the last
/// N committed blocks, the last height each signed and how many it signed, proposed and
/// missed (a missed block is one its validator set decided without its signature in the
/// certificate; see [`Roster`]).
#[utoipa::path(
    get, path = "/v1/validators", params(Window),
    responses((status = 200, description = "the validators and what the window shows of each", body = ValidatorsView), (status = 400, response = BadRequest))
)]
pub async fn validators(
    State(shared): State<Arc<Shared>>,
    query: ParamsResult<Window>,
) -> ApiResult {
    let query = params(query)?;
    let window = query.window.unwrap_or(WINDOW_DEFAULT);
    let tip = shared.chain.tip().map_err(internal)?.height;
    let store = shared.chain.history();
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
    let list: Vec<ValidatorActivity> = config
        .roster
        .entries()
        .iter()
        .map(|v| {
            let s = seen.remove(&v.consensus_key).unwrap_or_default();
            ValidatorActivity {
                address: v.address.as_str().to_string(),
                consensus_key: v.consensus_key,
                last_proposed: s.last_proposed,
                last_signed: s.last_signed,
                missed: s.missed,
                missed_heights: s.missed_heights,
                org: v.org.clone(),
                proposed: s.proposed,
                signed: s.signed,
                voting_power: v.voting_power,
            }
        })
        .collect();
    Ok(Json(ValidatorsView {
        from_height: from,
        height: tip,
        validators: list,
        window,
    })
    .into_response())
}

/// What a string can name: its kind, id and the API path that answers for it.
pub(super) fn hit(kind: &str, id: &str, path: String) -> SearchHit {
    SearchHit {
        id: id.to_string(),
        kind: kind.to_string(),
        path,
    }
}

/// `GET /v1/search?q=TEXT`: what TEXT names — a transaction or block id, a height, or a
/// programme, policy, loan, claim, fund, organisation, enterprise or attestation id.
#[utoipa::path(
    get, path = "/v1/search", params(Search),
    responses((status = 200, description = "what the text names", body = SearchView), (status = 400, response = BadRequest))
)]
pub async fn search(State(shared): State<Arc<Shared>>, query: ParamsResult<Search>) -> ApiResult {
    let query = params(query)?;
    let text = query.q.clone();
    if text.is_empty() {
        return Err(bad_query("search needs ?q=TEXT: an id, a height or a hash"));
    }
    let store = shared.chain.history();
    let mut results = Vec::new();
    if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        let lower = text.to_ascii_lowercase();
        if let Ok(id) = TxId::from_hex(&lower) {
            let known =
                store.tx_location(&id).map_err(internal)?.is_some() || shared.mempool.holds(&id);
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
        if store
            .index()
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
    Ok(Json(SearchView { q: text, results }).into_response())
}
