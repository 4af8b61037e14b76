//! Records: one record of any kind with the transactions that name it, an enterprise's
//! attestations, and the rulebook's whole report (`GET /v1/state`).

use super::*;

pub(super) fn record_path(kind: &str, id: &Id) -> String {
    match kind {
        "programme" => format!("/v1/programmes/{id}"),
        "claim" => format!("/v1/claims/{id}"),
        _ => format!("/v1/records/{kind}/{id}"),
    }
}

/// The transactions that name a record, newest first: `{items, next}`.
pub(super) fn record_txs(
    shared: &Shared,
    kind: &str,
    id: &Id,
    query: &ListQuery,
) -> Result<Value, ApiError> {
    let store = shared.chain.history();
    let limit = query.limit();
    let locations = store
        .index()
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
    let state = shared.chain.history().state();
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
                || shared
                    .chain
                    .history()
                    .index()
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
                ErrorCode::BadKind,
                format!("a {kind} is at {}", record_path(&kind, &id)),
            ))
        }
        _ => {
            return Err(error(
                ErrorCode::BadKind,
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
pub(super) fn attestation_doc(id: &Id, a: &contracts::attest::Attestation) -> Value {
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
    let state = shared.chain.history().state();
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
    let store_ = shared.chain.history();
    let state = store_.state();
    let Some(section) = query.section.as_deref() else {
        let records: usize = contracts::report::SECTIONS
            .iter()
            .map(|(_, prefix)| state.count_up_to(prefix.as_bytes(), STATE_WHOLE_MAX + 1))
            .sum();
        if records > STATE_WHOLE_MAX {
            return Err(error(
                ErrorCode::StateTooLarge,
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
            let figures = shared
                .chain
                .history()
                .index()
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
