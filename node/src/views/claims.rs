//! The claims desk: open claims, those closed (and among them those paid late), and one
//! claim with its settlement.

use super::*;

/// A claim for the desk: its parties, dates, whether it is overdue or was paid late,
/// and its split (R7).
pub(super) fn claim_doc(state: &dyn StateView, id: &Id, claim: &Claim, date: Date) -> Value {
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
pub(super) fn next_due(claim: &Value) -> Option<String> {
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
pub(super) struct DeskFigures {
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
    // The closed claims listed after the open ones: all of them, or those paid late.
    let closed = match status {
        "all" => Some(Desk::Closed),
        "late" => Some(Desk::Late),
        _ => None,
    };
    let (per_insurer, closed_total) = if none {
        (desk_figures(&open, BTreeMap::new()), 0)
    } else {
        let counted = closed_counts(&desk_index, closed, insurer, programme)?;
        (desk_figures(&open, counted.0), counted.1)
    };
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
fn desk_figures(open: &[Value], mut per_insurer: BTreeMap<String, DeskFigures>) -> Vec<Value> {
    let is = |c: &Value, key: &str| c.get(key).and_then(Value::as_bool).unwrap_or(false);
    for c in open {
        let of = c.get("insurer").and_then(Value::as_str).unwrap_or("");
        let figures = per_insurer.entry(of.to_string()).or_default();
        figures.claims += 1;
        figures.overdue += u64::from(is(c, "overdue"));
    }
    per_insurer
        .into_iter()
        .map(|(insurer, f)| {
            json!({ "insurer": insurer, "claims": f.claims, "overdue": f.overdue, "late": f.late })
        })
        .collect()
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
    let state = shared.chain.history().state();
    let Some(claim) = store::read::<Claim>(&state, &keys::claim(&id)) else {
        return Err(not_found(format!("no claim {id}")));
    };
    let mut doc = claim_doc(&state, &id, &claim, date);
    doc["date"] = json!(date.to_string());
    doc["txs"] = record_txs(&shared, "claim", &id, &query)?;
    Ok(Json(doc).into_response())
}
