//! Programmes with their figures and month ends, rate filings with the policies issued
//! under them, and the organisations' totals.

use super::*;

/// A programme's terms, figures as of `date`, thresholds and its fund's cap usage.
pub(super) fn programme_doc(
    history: crate::history::History<'_>,
    state: &dyn StateView,
    id: &Id,
    programme: &Programme,
    date: Date,
) -> Result<Value, ApiError> {
    let terms = &programme.terms;
    let figures = history
        .index()
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
pub(super) fn fund_doc(fund: &Fund, date: Date) -> Value {
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
    let store_ = shared.chain.history();
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
    let store_ = shared.chain.history();
    let state = store_.state();
    let Some(programme) = store::read::<Programme>(&state, &keys::programme(&id)) else {
        return Err(not_found(format!("no programme {id}")));
    };
    let mut months = Vec::new();
    for (as_of, figures) in store_.index().month_ends().map_err(internal)? {
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

/// A rate filing's document from its state key (`rate/<insurer>\0<product>\0<hash>`).
pub(super) fn filing_doc(shared: &Shared, key: &[u8], value: &[u8], date: Date) -> Option<Value> {
    let rest = std::str::from_utf8(&key[keys::RATE.len()..]).ok()?;
    let mut parts = rest.split('\0');
    let (insurer, product, id) = (parts.next()?, parts.next()?, parts.next()?);
    let filing: contracts::store::RateFiling = store::decode_record(value);
    let (_, policies) = shared
        .chain
        .history()
        .index()
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
    let state = shared.chain.history().state();
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
            ErrorCode::BadId,
            "a filing id is 64 lowercase hex digits",
        ));
    }
    let date = ledger_date(&shared)?;
    let store_ = shared.chain.history();
    let state = store_.state();
    let key = keys::rate(&insurer, &product, &hash);
    let Some(value) = state.get(&key) else {
        return Err(not_found(format!(
            "no filing {id} of {insurer} for {product}"
        )));
    };
    let mut doc = filing_doc(&shared, &key, &value, date)
        .ok_or_else(|| internal("a stored filing is unreadable"))?;
    let (page, total) = store_
        .index()
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
    let store_ = shared.chain.history();
    let sums = store_.index().organisation_sums().map_err(internal)?;
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
