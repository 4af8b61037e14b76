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
) -> Result<ProgrammeView, ApiError> {
    let terms = &programme.terms;
    let figures = history
        .index()
        .programme_figures(id, programme, date)
        .map_err(internal)?;
    let t = &terms.triggers;
    // R5.1: a warning is listed at this share of a threshold.
    let warn = |threshold: u64| {
        u64::try_from(contracts::arith::bps_of(threshold, t.warn_at_bps)).unwrap_or(u64::MAX)
    };
    Ok(ProgrammeView {
        detail: contracts::report::programme_detail_with(programme, &figures),
        claims_terms: terms.claims,
        // R14.3: what a policy's enterprise needs (absent before version 3).
        eligibility: terms.eligibility.clone(),
        fund_figures: store::read::<Fund>(state, &keys::fund(&terms.fund))
            .map(|fund| fund_doc(&fund, date)),
        id: id.clone(),
        period_end: terms.period_end,
        period_start: terms.period_start,
        reinsurance_quota_bps: terms.reinsurance_quota_bps,
        thresholds: Thresholds {
            loss_ratio_suspend_bps: t.suspend_loss_ratio_bps,
            loss_ratio_warn_bps: warn(t.suspend_loss_ratio_bps),
            overdue_ratio_suspend_bps: t.suspend_overdue_bps,
            overdue_ratio_warn_bps: warn(t.suspend_overdue_bps),
        },
        triggers: terms.triggers,
    })
}

/// A fund: balance, what it paid, and this year's payments against its annual cap.
pub(super) fn fund_doc(fund: &Fund, date: Date) -> FundView {
    let year = date.ymd().0;
    let paid = fund
        .paid_by_year
        .iter()
        .find(|(y, _)| *y == year)
        .map_or(Fen::ZERO, |(_, f)| *f);
    let cap = fund.annual_cap_fen;
    let cap_used_bps = if cap.0 == 0 {
        0
    } else {
        (u128::from(paid.0) * 10_000 / u128::from(cap.0)) as u64
    };
    FundView {
        annual_cap_fen: cap,
        cap_used_bps,
        figures: contracts::report::fund_json(fund),
        government: fund.government.clone(),
        paid_this_year_fen: paid,
        year,
    }
}

/// `GET /v1/programmes`: every programme with its figures as of the ledger's date.
#[utoipa::path(
    get, path = "/v1/programmes", params(Paging),
    responses((status = 200, description = "a page of the programmes", body = Page<ProgrammeView>), (status = 400, response = BadRequest))
)]
pub async fn programmes(
    State(shared): State<Arc<Shared>>,
    query: ParamsResult<Paging>,
) -> ApiResult {
    let query = params(query)?;
    let date = ledger_date(&shared)?;
    let store_ = shared.chain.history();
    let state = store_.state();
    let items: Vec<ProgrammeView> = store::scan::<Programme>(&state, keys::PROGRAMME)
        .iter()
        .map(|(id, p)| programme_doc(store_, &state, id, p, date))
        .collect::<Result<_, _>>()?;
    Ok(Json(paged(items, &query, Some(date))).into_response())
}

/// `GET /v1/programmes/{id}`: one programme, with its figures at every month end the
/// ledger has passed (as `audit report` computes them) and as of the ledger's date.
#[utoipa::path(
    get, path = "/v1/programmes/{id}",
    params(("id" = String, Path, description = "a programme's id: 1 to 128 bytes of UTF-8 without control characters (the pattern describes the shorter ones)", pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,32}$")),
    responses((status = 200, description = "the programme with its month ends", body = ProgrammeHistoryView), (status = 400, response = BadRequest), (status = 404, response = NotFound))
)]
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
        let mut figures: contracts::report::MonthEnd =
            serde_json::from_slice(&figures).map_err(internal)?;
        if let Some(figures) = figures.remove(&id) {
            months.push(FiguresAsOf { as_of, figures });
        }
    }
    let programme = programme_doc(store_, &state, &id, &programme, date)?;
    let now = FiguresAsOf {
        as_of: date,
        figures: programme.detail.figures.figures.clone(),
    };
    Ok(Json(ProgrammeHistoryView {
        programme,
        date,
        months,
        now,
    })
    .into_response())
}

/// A rate filing's document from its state key (`rate/<insurer>\0<product>\0<hash>`).
pub(super) fn filing_doc(
    shared: &Shared,
    key: &[u8],
    value: &[u8],
    date: Date,
) -> Option<FilingView> {
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
    Some(FilingView {
        filing_ref: filing.filing_ref,
        id: id.to_string(),
        in_force: filing.valid_from <= date && date <= filing.valid_to,
        insurer: Id::new(insurer).ok()?,
        policies: policies as u64,
        product: Id::new(product).ok()?,
        rates_bps: filing.rates_bps,
        valid_from: filing.valid_from,
        valid_to: filing.valid_to,
    })
}

/// `GET /v1/filings`: the rate filings (R3), each with whether it is in force on the
/// ledger's date and how many policies were issued under it.
#[utoipa::path(
    get, path = "/v1/filings", params(Paging),
    responses((status = 200, description = "a page of the rate filings", body = Page<FilingView>), (status = 400, response = BadRequest))
)]
pub async fn filings(State(shared): State<Arc<Shared>>, query: ParamsResult<Paging>) -> ApiResult {
    let query = params(query)?;
    let date = ledger_date(&shared)?;
    let state = shared.chain.history().state();
    let items: Vec<FilingView> = state
        .scan_prefix(keys::RATE.as_bytes())
        .into_iter()
        .filter_map(|(key, value)| filing_doc(&shared, &key, &value, date))
        .collect();
    Ok(Json(paged(items, &query, Some(date))).into_response())
}

/// `GET /v1/filings/{insurer}/{product}/{id}`: one filing with a page of the policies
/// issued under it (R3.2: its insurer's, for its product, at one of its rates, on a date
/// it was valid).
#[utoipa::path(
    get, path = "/v1/filings/{insurer}/{product}/{id}",
    params(
        ("insurer" = String, Path, description = "the filing insurer's id: 1 to 128 bytes of UTF-8 without control characters (the pattern describes the shorter ones)", pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,32}$"),
        ("product" = String, Path, description = "the product's id: 1 to 128 bytes of UTF-8 without control characters (the pattern describes the shorter ones)", pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,32}$"),
        ("id" = String, Path, description = "the filing's hash: 64 lowercase hex digits", pattern = "^[0-9a-f]{64}$"),
        Paging,
    ),
    responses((status = 200, description = "the filing with a page of its policies", body = FilingDetailView), (status = 400, response = BadRequest), (status = 404, response = NotFound))
)]
pub async fn filing(
    State(shared): State<Arc<Shared>>,
    Path((insurer, product, id)): Path<(String, String, String)>,
    query: ParamsResult<Paging>,
) -> ApiResult {
    let query = params(query)?;
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
    let filing = filing_doc(&shared, &key, &value, date)
        .ok_or_else(|| internal("a stored filing is unreadable"))?;
    let (page, total) = store_
        .index()
        .filing_policies(&key, query.offset(), query.limit())
        .map_err(internal)?;
    let items: Vec<FiledPolicy> = page
        .iter()
        .filter_map(|policy| {
            let id = Id::new(policy.as_str()).ok()?;
            let p: Policy = store::read(&state, &keys::policy(&id))?;
            Some(FiledPolicy {
                bank: p.bank,
                enterprise: p.enterprise,
                id,
                issued: p.issued,
                loan_principal_fen: p.loan_principal_fen,
                premium_fen: p.premium_fen,
                premium_rate_bps: p.premium_rate_bps,
                programme: p.programme,
            })
        })
        .collect();
    Ok(Json(FilingDetailView {
        filing,
        date,
        issued: Page {
            date: None,
            items,
            limit: query.limit(),
            offset: query.offset(),
            total,
        },
    })
    .into_response())
}

/// `GET /v1/organisations`: the members with their totals, as `audit report` has them,
/// from the running totals the store keeps at each commit.
#[utoipa::path(
    get, path = "/v1/organisations", params(Paging),
    responses((status = 200, description = "a page of the members' totals", body = Page<OrganisationView>), (status = 400, response = BadRequest))
)]
pub async fn organisations(
    State(shared): State<Arc<Shared>>,
    query: ParamsResult<Paging>,
) -> ApiResult {
    let query = params(query)?;
    let store_ = shared.chain.history();
    let sums = store_.index().organisation_sums().map_err(internal)?;
    let items: Vec<OrganisationView> = contracts::report::organisation_docs(&store_.state(), &sums)
        .into_iter()
        .map(|(id, totals)| OrganisationView { id, totals })
        .collect();
    Ok(Json(paged(items, &query, None)).into_response())
}
