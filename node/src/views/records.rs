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

/// The transactions that name a record, newest first, and where the next page starts.
pub(super) fn record_txs(
    shared: &Shared,
    kind: &str,
    id: &Id,
    query: &Before,
) -> Result<RecordTxs, ApiError> {
    let store = shared.chain.history();
    let limit = query.limit();
    let locations = store
        .index()
        .subject_txs(kind, id.as_str(), query.location(), limit)
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
        let receipt = ReceiptView::from(&receipt);
        items.push(RecordTx {
            code: receipt.code,
            date: Date::from_unix_ms_cst(block.header.time_ms).ok(),
            height: at.height,
            index: at.index,
            meaning: receipt.meaning,
            outcome: receipt.outcome,
            tx_id: receipt.tx_id,
            type_name: tx.body.action.type_name().to_string(),
            action: tx.body.action,
        });
    }
    // The next page: `?before=H&before_index=I` of the last item of this one.
    let next = locations
        .last()
        .filter(|_| locations.len() == limit)
        .map(|at| NextPage {
            before: at.height,
            before_index: at.index,
        });
    Ok(RecordTxs { items, next })
}

/// `GET /v1/records/{kind}/{id}`: a policy, loan, fund, organisation or enterprise with
/// the transactions that name it, newest first (`?before=H&before_index=I&limit=N` pages
/// them).
#[utoipa::path(
    get, path = "/v1/records/{kind}/{id}",
    params(
        ("kind" = inline(RecordKind), Path, description = "the record's kind"),
        ("id" = String, Path, description = "the record's id: 1 to 128 bytes of UTF-8 without control characters (the pattern describes the shorter ones)", pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,32}$"),
        Before,
    ),
    responses((status = 200, description = "the record with the transactions that name it", body = RecordView), (status = 400, response = BadRequest), (status = 404, response = NotFound))
)]
pub async fn record(
    State(shared): State<Arc<Shared>>,
    Path((kind, id)): Path<(String, String)>,
    query: ParamsResult<Before>,
) -> ApiResult {
    let query = params(query)?;
    let id = parse_id(&id)?;
    let Some(kind) = RecordKind::parse(&kind) else {
        return Err(match kind.as_str() {
            "programme" | "claim" => error(
                ErrorCode::BadKind,
                format!("a {kind} is at {}", record_path(&kind, &id)),
            ),
            _ => error(
                ErrorCode::BadKind,
                format!("{kind:?}: expected policy, loan, fund, org, enterprise or attestation"),
            ),
        });
    };
    let date = ledger_date(&shared)?;
    let state = shared.chain.history().state();
    let record = match kind {
        RecordKind::Policy => store::read::<Policy>(&state, &keys::policy(&id))
            .map(|p| Record::Policy(policy_doc(&state, &id, p))),
        RecordKind::Attestation => contracts::attest::get(&state, &id)
            .map(|a| Record::Attestation(attestation_doc(&id, &a))),
        RecordKind::Loan => store::read::<Loan>(&state, &keys::loan(&id)).map(|l| {
            Record::Loan(LoanView {
                figures: contracts::report::loan_json(&l, date),
                policy: l.policy,
                programme: l.programme,
            })
        }),
        RecordKind::Fund => {
            store::read::<Fund>(&state, &keys::fund(&id)).map(|f| Record::Fund(fund_doc(&f, date)))
        }
        RecordKind::Org => store::read::<Org>(&state, &keys::org(&id)).map(|o| {
            Record::Org(OrgView {
                kind: contracts::report::kind_name(o.kind).to_string(),
            })
        }),
        RecordKind::Enterprise => enterprise_doc(&shared, &state, &id)?.map(Record::Enterprise),
    };
    let Some(record) = record else {
        return Err(not_found(format!("no {} {id}", kind.as_str())));
    };
    let txs = record_txs(&shared, kind.as_str(), &id, &query)?;
    Ok(Json(RecordView {
        date,
        id,
        record,
        txs,
    })
    .into_response())
}

/// A policy with its terms and the attestations that qualified it (R14.4: those that
/// met the programme's eligibility on its issue date).
fn policy_doc(state: &dyn StateView, id: &Id, p: Policy) -> PolicyView {
    let qualified_by = contracts::attest::qualified(state, id)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, attestation)| {
            // Attestations are revoked, never removed, so one a policy names is there.
            let a = contracts::attest::get(state, &attestation)?;
            Some(QualifyingAttestation {
                attestation: contracts::report::attestation_json(&a),
                id: attestation,
            })
        })
        .collect();
    PolicyView {
        bank: p.bank.clone(),
        enterprise: p.enterprise.clone(),
        figures: contracts::report::policy_json(&p),
        issued: p.issued,
        loan: p.loan,
        loan_principal_fen: p.loan_principal_fen,
        loan_rate_bps: p.loan_rate_bps,
        premium_rate_bps: p.premium_rate_bps,
        programme: p.programme,
        qualified_by,
        term_months: p.term_months,
    }
}

/// An enterprise, if the ledger knows it: flagged, attested, or named by a transaction.
fn enterprise_doc(
    shared: &Shared,
    state: &dyn StateView,
    id: &Id,
) -> Result<Option<EnterpriseView>, ApiError> {
    let flag = store::read::<contracts::store::Flag>(state, &keys::flag(id));
    let attestations = contracts::attest::ids_of_enterprise(state, id).len();
    let known = flag.is_some()
        || attestations > 0
        || shared
            .chain
            .history()
            .index()
            .has_subject("enterprise", id.as_str())
            .map_err(internal)?;
    Ok(known.then(|| EnterpriseView {
        attestations,
        flag_reason: flag.as_ref().map(|f| f.reason.clone()),
        flagged: flag.is_some(),
        flagged_since: flag.as_ref().map(|f| f.since),
    }))
}

/// An attestation as the R10 document shows it, with its id, facts hash and revocation
/// date.
pub(super) fn attestation_doc(id: &Id, a: &contracts::attest::Attestation) -> AttestationView {
    AttestationView {
        attestation: contracts::report::attestation_json(a),
        facts_hash: a.facts_hash.clone(),
        id: id.clone(),
        revoked_on: a.revoked_on,
    }
}

/// `GET /v1/enterprises/{id}/attestations` (R14): the enterprise's attestations in (kind,
/// id) order, a page at a time (`offset`, `limit`), each as the R10 document shows it with
/// its id, facts hash and revocation date.
#[utoipa::path(
    get, path = "/v1/enterprises/{id}/attestations",
    params(("id" = String, Path, description = "an enterprise's id: 1 to 128 bytes of UTF-8 without control characters (the pattern describes the shorter ones)", pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,32}$"), Paging),
    responses((status = 200, description = "a page of the enterprise's attestations", body = EnterpriseAttestationsView), (status = 400, response = BadRequest))
)]
pub async fn enterprise_attestations(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    query: ParamsResult<Paging>,
) -> ApiResult {
    let query = params(query)?;
    let id = parse_id(&id)?;
    let state = shared.chain.history().state();
    let ids = contracts::attest::ids_of_enterprise(&state, &id);
    let total = ids.len();
    let items: Vec<AttestationView> = ids
        .iter()
        .skip(query.offset())
        .take(query.limit())
        .filter_map(|attestation| {
            let a = contracts::attest::get(&state, attestation)?;
            Some(attestation_doc(attestation, &a))
        })
        .collect();
    Ok(Json(EnterpriseAttestationsView {
        enterprise: id,
        items,
        offset: query.offset(),
        total,
    })
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
#[utoipa::path(
    get, path = "/v1/state", params(Section),
    responses(
        (status = 200, description = "the R10 document, or a page of one of its sections", body = StateAnswer),
        (status = 400, response = BadRequest),
    )
)]
pub async fn state(State(shared): State<Arc<Shared>>, query: ParamsResult<Section>) -> ApiResult {
    let query = params(query)?;
    let date = ledger_date(&shared)?;
    let store_ = shared.chain.history();
    let state = store_.state();
    let Some(section) = query.section.map(SectionName::as_str) else {
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
        return Ok(Json(StateAnswer::Whole(contracts::report(&state, date, &[]))).into_response());
    };
    // Each name is one of the sections (a test says so).
    let Some((_, prefix)) = contracts::report::SECTIONS
        .iter()
        .find(|(name, _)| *name == section)
    else {
        return Err(internal(format!("no section {section} in the report")));
    };
    let after = query.after.as_deref().unwrap_or_default();
    let (entries, more) = state.page(prefix.as_bytes(), after.as_bytes(), query.limit());
    let mut items = Vec::with_capacity(entries.len());
    for (key, value) in &entries {
        let id = std::str::from_utf8(&key[prefix.len()..])
            .ok()
            .and_then(|s| Id::new(s).ok())
            .ok_or_else(|| internal("a stored key names no valid id"))?;
        let entry = if section == "programmes" {
            let programme: Programme = store::decode_record(value);
            let figures = shared
                .chain
                .history()
                .index()
                .programme_figures(&id, &programme, date)
                .map_err(internal)?;
            ReportEntry::Programme(contracts::report::programme_json_with(&programme, &figures))
        } else {
            contracts::report::section_entry(&state, date, section, &id, value)
                .ok_or_else(|| internal("a section without entries"))?
        };
        items.push(SectionEntry { entry, id });
    }
    let next = if more {
        items.last().map(|item| item.id.clone())
    } else {
        None
    };
    Ok(Json(StateAnswer::Section(StateSectionView {
        date,
        items,
        next,
        section: section.to_string(),
    }))
    .into_response())
}
