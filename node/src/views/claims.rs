//! The claims desk: open claims, those closed (and among them those paid late), and one
//! claim with its settlement.

use super::*;

/// A claim for the desk: its parties, dates, whether it is overdue or was paid late,
/// and its split (R7).
pub(super) fn claim_doc(state: &dyn StateView, id: &Id, claim: &Claim, date: Date) -> ClaimView {
    let insurer = store::read::<Programme>(state, &keys::programme(&claim.programme))
        .map(|p| p.terms.insurer);
    ClaimView {
        detail: contracts::report::claim_detail(claim, date),
        id: id.clone(),
        insurer,
        missing_documents: claim.missing.clone(),
        programme: claim.programme.clone(),
        reject_reason: claim.reject_reason.clone(),
    }
}

/// The next date a claim is due at: its decision while undecided, its payment once
/// approved; none once it is paid or rejected.
pub(super) fn next_due(claim: &ClaimView) -> Option<Date> {
    let figures = &claim.detail.figures;
    match figures.status.as_str() {
        "Filed" | "AwaitingDocuments" => figures.decision_due,
        "Approved" => figures.payment_due,
        _ => None,
    }
}

/// `GET /v1/claims?status=open|overdue|late|all&insurer=ID&programme=ID`: the claims desk
/// (R7.5), overdue claims first, then by the date the next step is due, then the closed
/// ones by insurer, programme and id. It reads the open claims and one page of the closed
/// ones from the store's claims desk, never every claim.
#[utoipa::path(
    get, path = "/v1/claims", params(DeskQuery),
    responses((status = 200, description = "a page of the claims desk", body = ClaimsDeskView), (status = 400, response = BadRequest))
)]
pub async fn claims(
    State(shared): State<Arc<Shared>>,
    query: ParamsResult<DeskQuery>,
) -> ApiResult {
    use crate::index::Desk;
    let query = params(query)?;
    let date = ledger_date(&shared)?;
    let status = query.status.unwrap_or_default();
    let state = shared.chain.history().state();
    let desk_index = shared.chain.history().index();
    let programme = query.programme.as_deref();
    // A programme's claims are filed under its insurer. An unknown programme, or one of
    // another insurer than the one named, has none.
    let (insurer, none) = match desk_insurer(&state, query.insurer.clone(), programme) {
        Some(insurer) => (insurer, false),
        None => (None, true),
    };
    let insurer = insurer.as_deref();
    let docs = |ids: Vec<Id>| -> Vec<ClaimView> {
        ids.iter()
            .filter_map(|id| {
                let claim = store::read::<Claim>(&state, &keys::claim(id))?;
                Some(claim_doc(&state, id, &claim, date))
            })
            .collect()
    };
    let mut open = Vec::new();
    if !none && status != DeskStatus::Late {
        open = docs(
            desk_index
                .desk_claims(Desk::Open, insurer, programme, 0, usize::MAX)
                .map_err(internal)?,
        );
        if status == DeskStatus::Overdue {
            open.retain(|c| c.detail.overdue);
        }
        // Overdue first, then by the date the next step is due (none before any), then id.
        open.sort_by(|a, b| {
            (!a.detail.overdue, next_due(a), &a.id).cmp(&(!b.detail.overdue, next_due(b), &b.id))
        });
    }
    // The closed claims listed after the open ones: all of them, or those paid late.
    let closed = match status {
        DeskStatus::All => Some(Desk::Closed),
        DeskStatus::Late => Some(Desk::Late),
        DeskStatus::Open | DeskStatus::Overdue => None,
    };
    let (per_insurer, closed_total) = if none {
        (desk_figures(&open, BTreeMap::new()), 0)
    } else {
        let counted = closed_counts(&desk_index, closed, insurer, programme)?;
        (desk_figures(&open, counted.0), counted.1)
    };
    let total = open.len() + closed_total;
    let (offset, limit) = (query.offset.unwrap_or(0) as usize, query.limit());
    let offset = offset.min(total);
    let mut items: Vec<ClaimView> = open.into_iter().skip(offset).take(limit).collect();
    if let (Some(desk), true) = (closed, items.len() < limit && offset + items.len() < total) {
        let from = (offset + items.len()).saturating_sub(total - closed_total);
        let page = desk_index
            .desk_claims(desk, insurer, programme, from, limit - items.len())
            .map_err(internal)?;
        items.extend(docs(page));
    }
    Ok(Json(ClaimsDeskView {
        page: Page {
            date: Some(date),
            items,
            limit,
            offset,
            total,
        },
        per_insurer,
        status: status.as_str().to_string(),
    })
    .into_response())
}

/// The insurer whose desk is listed: `insurer`, or the programme's; `None` when the
/// programme is unknown or is another insurer's (its desk is then empty).
fn desk_insurer(
    state: &dyn ledger::state::StateView,
    insurer: Option<String>,
    programme: Option<&str>,
) -> Option<Option<String>> {
    let Some(id) = programme else {
        return Some(insurer);
    };
    let record = Id::new(id)
        .ok()
        .and_then(|id| store::read::<Programme>(state, &keys::programme(&id)))?;
    insurer
        .as_deref()
        .is_none_or(|i| i == record.terms.insurer.as_str())
        .then(|| Some(record.terms.insurer.to_string()))
}

/// The closed claims of `desk` counted per insurer, and those paid late; their total.
fn closed_counts(
    desk_index: &crate::index::Index<'_>,
    desk: Option<crate::index::Desk>,
    insurer: Option<&str>,
    programme: Option<&str>,
) -> Result<(BTreeMap<String, DeskFigures>, usize), ApiError> {
    let mut per_insurer: BTreeMap<String, DeskFigures> = BTreeMap::new();
    let mut closed_total = 0;
    let Some(desk) = desk else {
        return Ok((per_insurer, 0));
    };
    for (of, n) in desk_index
        .desk_counts(desk, insurer, programme)
        .map_err(internal)?
    {
        closed_total += n as usize;
        per_insurer.entry(of).or_default().claims += n;
    }
    for (of, n) in desk_index
        .desk_counts(crate::index::Desk::Late, insurer, programme)
        .map_err(internal)?
    {
        per_insurer.entry(of).or_default().late += n;
    }
    Ok((per_insurer, closed_total))
}

/// `per_insurer` with the open claims listed (`open`) counted in, and those overdue.
fn desk_figures(
    open: &[ClaimView],
    mut per_insurer: BTreeMap<String, DeskFigures>,
) -> Vec<DeskFigures> {
    for c in open {
        let of = c.insurer.as_ref().map_or("", Id::as_str);
        let figures = per_insurer.entry(of.to_string()).or_default();
        figures.claims += 1;
        figures.overdue += u64::from(c.detail.overdue);
    }
    per_insurer
        .into_iter()
        .map(|(insurer, f)| DeskFigures { insurer, ..f })
        .collect()
}

/// `GET /v1/claims/{id}`: one claim, with the transactions that moved it.
#[utoipa::path(
    get, path = "/v1/claims/{id}",
    params(("id" = String, Path, description = "a claim's id: 1 to 128 bytes of UTF-8 without control characters (the pattern describes the shorter ones)", pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,32}$"), Before),
    responses((status = 200, description = "the claim with the transactions that moved it", body = ClaimRecordView), (status = 400, response = BadRequest), (status = 404, response = NotFound))
)]
pub async fn claim(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    query: ParamsResult<Before>,
) -> ApiResult {
    let query = params(query)?;
    let id = parse_id(&id)?;
    let date = ledger_date(&shared)?;
    let state = shared.chain.history().state();
    let Some(claim) = store::read::<Claim>(&state, &keys::claim(&id)) else {
        return Err(not_found(format!("no claim {id}")));
    };
    Ok(Json(ClaimRecordView {
        claim: claim_doc(&state, &id, &claim, date),
        date,
        txs: record_txs(&shared, "claim", &id, &query)?,
    })
    .into_response())
}
