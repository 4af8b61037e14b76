//! The event feed, `GET /v1/events`: server-sent events for the systems around the
//! ledger (a bank's loan system, an insurer's claims system, a mirror of the ledger).
//!
//! One `tx` event per committed transaction (its place, id, type, the records it names
//! with their programme and organisations, its outcome and code, and what it decided:
//! [`contracts::decision`]) and one `block` event per block, after its transactions. Each
//! event's SSE id is its **position** `HEIGHT:INDEX` (a block's is `HEIGHT:N`, N its
//! number of transactions), so positions are totally ordered. `?from=POSITION`, or the
//! `Last-Event-ID` header a reconnecting client sends (it wins over `from`), starts after
//! that position: the stream replays committed history from the store and then follows
//! new commits, with no gap and no duplicate, because both are read the same way, block
//! by block from the store, as far as the committed height. Without either the stream
//! starts with the next block committed.
//!
//! Filters, each optional and all of them together: `type=` (action types and `block`,
//! comma-separated; without it every event), `programme=`, `org=` (an organisation the
//! records name: a programme's parties, a policy's bank and its programme's insurer,
//! government and reinsurer, a fund's government, an organisation named directly) and
//! `outcome=` (`Accepted` or `Rejected`); the last three apply to transactions, so a
//! `block` event passes them.
//!
//! **Bounded.** The stream is pulled: it reads a block only when the consumer has taken
//! the previous one's events, so it holds at most one block's events, and commits never
//! wait for it. A consumer that takes no event for [`Feeds::stall`] while events wait is
//! sent a final `end` event (`ConsumerTooSlow`, with the position to resume from) and
//! disconnected; at most [`Feeds::streams_max`] streams are open at once (`503
//! TooManyStreams` beyond).

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use contracts::store::{self, keys, Fund, Loan, Policy, Programme};
use ledger::action::Action;
use ledger::api::events::{BlockEvent, RecordRef, StreamEnd, TxEvent};
use ledger::api::{ErrorCode, OutcomeName};
use ledger::state::StateView;
use ledger::{Date, Id};
use serde::Deserialize;

use crate::openapi::{BadRequest, Busy};
use crate::reply::{bad_query, error, internal, ApiError};
use crate::shared::Shared;
use crate::views::{block_summary, Roster};

/// Streams open at once when `node.toml` names no other number.
pub const STREAMS_MAX_DEFAULT: usize = 256;
/// How long a consumer may take no event while events wait, by default.
pub const STALL_DEFAULT: Duration = Duration::from_secs(30);
/// How often a stream with nothing to send says it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The node's event streams: how many are open and the limits they run under.
#[derive(Debug)]
pub struct Feeds {
    pub streams_max: usize,
    pub stall: Duration,
    open: AtomicUsize,
    /// Streams refused for being one too many, and consumers cut off for being too slow.
    pub refused: std::sync::atomic::AtomicU64,
    pub cut_off: std::sync::atomic::AtomicU64,
}

impl Feeds {
    pub fn new(streams_max: usize, stall: Duration) -> Arc<Feeds> {
        Arc::new(Feeds {
            streams_max,
            stall,
            open: AtomicUsize::new(0),
            refused: Default::default(),
            cut_off: Default::default(),
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire).min(self.streams_max)
    }

    /// A place for one more stream, given back when the stream ends.
    fn enter(self: &Arc<Feeds>) -> Option<Slot> {
        let taken = self.open.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.clone());
        (taken < self.streams_max).then_some(slot)
    }
}

struct Slot(Arc<Feeds>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A place in the feed: transaction `index` of the block at `height`, or, for `index`
/// equal to the block's number of transactions, the block itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub height: u64,
    pub index: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.height, self.index)
    }
}

impl FromStr for Position {
    type Err = String;

    fn from_str(text: &str) -> Result<Position, String> {
        let bad = || format!("{text:?} is not a position: HEIGHT:INDEX, for instance 12:0");
        let (height, index) = text.trim().split_once(':').ok_or_else(bad)?;
        Ok(Position {
            height: height.parse().map_err(|_| bad())?,
            index: index.parse().map_err(|_| bad())?,
        })
    }
}

impl Position {
    /// The first place after this one.
    fn next(self) -> Position {
        Position {
            height: self.height,
            index: self.index.saturating_add(1),
        }
    }
}

/// `GET /v1/events?from=…&type=…&programme=…&org=…&outcome=…`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Resume after this position, `HEIGHT:INDEX` (without it, from the next block).
    from: Option<String>,
    /// Only these action types, comma-separated (`block` for block events).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    types: Option<String>,
    /// Only transactions that name this programme.
    programme: Option<String>,
    /// Only transactions that name this organisation.
    org: Option<String>,
    /// Only `Accepted` or `Rejected` transactions.
    outcome: Option<String>,
}

/// What a consumer asked to see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Action type names; `None` for all. `blocks` says whether block events pass.
    types: Option<BTreeSet<String>>,
    blocks: bool,
    programme: Option<Id>,
    org: Option<Id>,
    outcome: Option<OutcomeName>,
}

impl Filter {
    fn parse(query: &EventQuery) -> Result<Filter, ApiError> {
        let id = |what: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| Id::new(t).map_err(|e| bad_query(format!("{what}={t:?}: {e}"))))
                .transpose()
        };
        let (types, blocks) = match &query.types {
            None => (None, true),
            Some(list) => {
                let mut types = BTreeSet::new();
                let mut blocks = false;
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    if name == "block" {
                        blocks = true;
                    } else if ledger::action::TYPE_NAMES.contains(&name) {
                        types.insert(name.to_string());
                    } else {
                        return Err(bad_query(format!(
                            "type={name:?} is neither `block` nor an action type ({})",
                            ledger::action::TYPE_NAMES.join(", ")
                        )));
                    }
                }
                (Some(types), blocks)
            }
        };
        let outcome = match query.outcome.as_deref() {
            None => None,
            Some("Accepted") => Some(OutcomeName::Accepted),
            Some("Rejected") => Some(OutcomeName::Rejected),
            Some(other) => {
                return Err(bad_query(format!(
                    "outcome={other:?}: `Accepted` or `Rejected`"
                )))
            }
        };
        Ok(Filter {
            types,
            blocks,
            programme: id("programme", &query.programme)?,
            org: id("org", &query.org)?,
            outcome,
        })
    }

    /// Whether a transaction's event passes, before its records are looked up.
    fn wants_type(&self, type_name: &str, outcome: OutcomeName) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(type_name))
            && self.outcome.is_none_or(|o| o == outcome)
    }

    fn wants_names(&self, names: &Names) -> bool {
        self.programme
            .as_ref()
            .is_none_or(|p| names.programme.as_ref() == Some(p))
            && self.org.as_ref().is_none_or(|o| names.orgs.contains(o))
    }
}

/// What a transaction's records name: its programme and the organisations concerned.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub programme: Option<Id>,
    pub orgs: BTreeSet<Id>,
}

/// The programme and organisations `action` concerns, read from the records it names in
/// `state` (a record's programme and parties never change once it exists).
pub fn names(state: &dyn StateView, action: &Action) -> Names {
    let mut names = Names::default();
    for (kind, id) in action.subjects() {
        if kind == "org" {
            names.orgs.insert(id.clone());
        }
    }
    let loan =
        |id: &Id| store::read::<Loan>(state, &keys::loan(id)).map(|l| (l.programme, Some(l.bank)));
    let claim = |id: &Id| {
        store::read::<store::Claim>(state, &keys::claim(id)).map(|c| (c.programme, Some(c.bank)))
    };
    // The programme the action is within, and the one bank concerned (all of them for
    // what concerns the programme as a whole).
    let within: Option<(Id, Option<Id>)> = match action {
        Action::CreateProgramme(a) => Some((a.id.clone(), None)),
        Action::ReviewProgramme(a) | Action::ResumeProgramme(a) => {
            Some((a.programme.clone(), None))
        }
        Action::IssuePolicy(a) => Some((a.programme.clone(), Some(a.bank.clone()))),
        Action::DisburseLoan(a) => store::read::<Policy>(state, &keys::policy(&a.policy))
            .map(|p| (p.programme, Some(p.bank))),
        Action::RecordRepayment(a) => loan(&a.loan),
        Action::FileClaim(a) => loan(&a.loan),
        Action::RequestDocuments(a) => claim(&a.claim),
        Action::SubmitDocuments(a) => claim(&a.claim),
        Action::DecideClaim(a) => claim(&a.claim),
        Action::ConfirmClaimPayment(a) => claim(&a.claim),
        Action::RecordRecovery(a) => claim(&a.claim),
        Action::FundTopUp(a) => {
            if let Some(f) = store::read::<Fund>(state, &keys::fund(&a.fund)) {
                names.orgs.insert(f.government);
            }
            None
        }
        _ => None,
    };
    if let Some((programme, bank)) = within {
        if let Some(p) = store::read::<Programme>(state, &keys::programme(&programme)) {
            let t = &p.terms;
            names.orgs.insert(t.government.clone());
            names.orgs.insert(t.insurer.clone());
            names.orgs.extend(t.reinsurer.iter().cloned());
            if bank.is_none() {
                names.orgs.extend(t.banks.iter().cloned());
            }
        }
        names.orgs.extend(bank);
        names.programme = Some(programme);
    }
    names
}

/// One event ready to send: its position, SSE event name and JSON data.
struct Ready {
    position: Position,
    name: &'static str,
    data: String,
}

/// The events of the block at `height` at and after `from_index` that `filter` passes,
/// in order: its transactions', then its own.
fn block_events(
    shared: &Shared,
    filter: &Filter,
    height: u64,
    from_index: u32,
) -> Result<VecDeque<Ready>, ApiError> {
    let store = shared.chain.history();
    let mut ready = VecDeque::new();
    let Some(outline) = store.outline(height).map_err(internal)? else {
        return Err(internal(format!(
            "block {height} is committed but not stored"
        )));
    };
    let count = u32::try_from(outline.txs).map_err(internal)?;
    if from_index < count {
        let block = store
            .block(height)
            .map_err(internal)?
            .ok_or_else(|| internal(format!("block {height} is not stored")))?;
        let receipts = store
            .receipts(height)
            .map_err(internal)?
            .ok_or_else(|| internal(format!("block {height}'s receipts are not stored")))?;
        let decisions = store.decisions(height).map_err(internal)?;
        let state = store.state();
        let block_id = outline.header.id(shared.chain.suite());
        let day = Date::from_unix_ms_cst(outline.header.time_ms).ok();
        for (index, (tx, receipt)) in block.txs.iter().zip(&receipts).enumerate() {
            let index = index as u32;
            if index < from_index {
                continue;
            }
            let action = &tx.body.action;
            let view = ledger::api::ReceiptView::from(receipt);
            if !filter.wants_type(action.type_name(), view.outcome) {
                continue;
            }
            let names = names(&state, action);
            if !filter.wants_names(&names) {
                continue;
            }
            let position = Position { height, index };
            let decisions = decisions.as_ref().map(|all| {
                all.iter()
                    .filter(|(i, _)| *i == index)
                    .map(|(_, d)| d.view())
                    .collect::<Vec<_>>()
            });
            let records = action
                .subjects()
                .into_iter()
                .map(|(kind, id)| RecordRef {
                    id: id.clone(),
                    kind: kind.to_string(),
                })
                .collect();
            let event = TxEvent {
                block_id,
                code: view.code,
                date: day,
                decisions,
                height,
                index,
                meaning: view.meaning,
                orgs: names.orgs.into_iter().collect(),
                outcome: view.outcome,
                position: position.to_string(),
                programme: names.programme,
                records,
                time_ms: outline.header.time_ms,
                tx_id: receipt.tx_id,
                type_name: action.type_name().to_string(),
            };
            ready.push_back(Ready {
                position,
                name: "tx",
                data: serde_json::to_string(&event).map_err(internal)?,
            });
        }
    }
    if filter.blocks && from_index <= count {
        let roster = Roster::latest(shared)?;
        let summary = block_summary(shared, &roster, height, &outline)?;
        let position = Position {
            height,
            index: count,
        };
        let event = BlockEvent {
            summary,
            position: position.to_string(),
        };
        ready.push_back(Ready {
            position,
            name: "block",
            data: serde_json::to_string(&event).map_err(internal)?,
        });
    }
    Ok(ready)
}

/// How fast a consumer takes what waits for it.
#[derive(Debug)]
pub struct Pace {
    stall: Duration,
    /// When the last event was handed over, and whether more were waiting then.
    last: Option<(Instant, bool)>,
}

impl Pace {
    pub fn new(stall: Duration) -> Pace {
        Pace { stall, last: None }
    }

    /// An event handed over at `now`, with more waiting (`backlog`) or not.
    pub fn sent(&mut self, now: Instant, backlog: bool) {
        self.last = Some((now, backlog));
    }

    /// Whether the consumer, asking for the next event at `now`, left events waiting for
    /// longer than allowed.
    pub fn too_slow(&self, now: Instant) -> bool {
        matches!(self.last, Some((at, true)) if now.duration_since(at) > self.stall)
    }
}

/// One consumer's stream.
struct Follow {
    shared: Arc<Shared>,
    committed: tokio::sync::watch::Receiver<u64>,
    filter: Filter,
    /// The first place not yet read from the store.
    next: Position,
    /// The last position handed over (where to resume).
    last: Option<Position>,
    ready: VecDeque<Ready>,
    pace: Pace,
    done: bool,
    slot: Slot,
}

impl Follow {
    fn end(&mut self, code: ErrorCode, message: String) -> Event {
        self.done = true;
        let resume = self.last.map(|p| p.to_string());
        let end = StreamEnd {
            code,
            message,
            resume_after: resume.clone(),
        };
        let data = serde_json::to_string(&end).expect("the end of a stream is JSON");
        let mut event = Event::default().event("end").data(data);
        if let Some(p) = resume {
            event = event.id(p);
        }
        event
    }

    /// The next event, reading blocks from the store as far as the committed height and
    /// then waiting for more; `None` when the stream is over.
    async fn step(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        if self.pace.too_slow(Instant::now()) {
            self.slot.0.cut_off.fetch_add(1, Ordering::Relaxed);
            let after = self.last.map_or("the start".to_string(), |p| p.to_string());
            return Some(self.end(
                ErrorCode::ConsumerTooSlow,
                format!(
                    "events waited more than {} s for this consumer: resume after {after}",
                    self.pace.stall.as_secs_f64()
                ),
            ));
        }
        loop {
            let tip = *self.committed.borrow_and_update();
            if let Some(item) = self.ready.pop_front() {
                let backlog = !self.ready.is_empty() || self.next.height <= tip;
                self.pace.sent(Instant::now(), backlog);
                self.last = Some(item.position);
                return Some(
                    Event::default()
                        .id(item.position.to_string())
                        .event(item.name)
                        .data(item.data),
                );
            }
            if self.next.height <= tip {
                let height = self.next.height;
                let shared = self.shared.clone();
                let filter = self.filter.clone();
                let from = self.next.index;
                // Reading and decoding a block is blocking work: off the async threads.
                let read = tokio::task::spawn_blocking(move || {
                    block_events(&shared, &filter, height, from)
                })
                .await;
                match read {
                    Ok(Ok(events)) => self.ready = events,
                    Ok(Err((_, body))) => {
                        let message = body.0["error"]["message"]
                            .as_str()
                            .unwrap_or("the store could not be read")
                            .to_string();
                        return Some(self.end(ErrorCode::Internal, message));
                    }
                    Err(e) => return Some(self.end(ErrorCode::Internal, e.to_string())),
                }
                self.next = Position {
                    height: height + 1,
                    index: 0,
                };
                continue;
            }
            self.pace.sent(Instant::now(), false);
            if self.committed.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// `GET /v1/events`: see the module notes.
#[utoipa::path(
    get, path = "/v1/events", params(EventQuery, ("Last-Event-ID" = Option<String>, Header, description = "resume after this position (`HEIGHT:INDEX`), as `from` does")),
    responses(
        (status = 200, description = "server-sent events: `tx` (a TxEvent) for each committed transaction, `block` (a BlockSummaryView with its position) for each block, and `end` (a StreamEnd) when the node ends the stream", content_type = "text/event-stream", body = String),
        (status = 400, response = BadRequest), (status = 503, response = Busy),
    )
)]
pub async fn events(
    State(shared): State<Arc<Shared>>,
    Extension(feeds): Extension<Arc<Feeds>>,
    headers: HeaderMap,
    query: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let query = query
        .map(|Query(q)| q)
        .map_err(|e| bad_query(e.body_text()))?;
    let filter = Filter::parse(&query)?;
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| bad_query("Last-Event-ID is not text"))?
                .to_string(),
        ),
        None => query.from.clone(),
    };
    let mut committed = shared.committed.subscribe();
    let tip = *committed.borrow_and_update();
    let next = match resume {
        Some(text) => text.parse::<Position>().map_err(bad_query)?.next(),
        None => Position {
            height: tip + 1,
            index: 0,
        },
    };
    let next = if next.height == 0 {
        Position {
            height: 1,
            index: 0,
        }
    } else {
        next
    };
    let Some(slot) = feeds.enter() else {
        feeds.refused.fetch_add(1, Ordering::Relaxed);
        return Err(error(
            ErrorCode::TooManyStreams,
            format!(
                "this node serves at most {} event streams at once; try again later",
                feeds.streams_max
            ),
        ));
    };
    let follow = Follow {
        shared,
        committed,
        filter,
        next,
        last: None,
        ready: VecDeque::new(),
        pace: Pace::new(feeds.stall),
        done: false,
        slot,
    };
    let stream = futures_util::stream::unfold(follow, |mut follow| async move {
        let event = follow.step().await?;
        Some((Ok::<_, Infallible>(event), follow))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_and_print_alike_and_order_by_height_then_index() {
        let p: Position = "12:3".parse().unwrap();
        assert_eq!(
            p,
            Position {
                height: 12,
                index: 3
            }
        );
        assert_eq!(p.to_string(), "12:3");
        assert!(p < "13:0".parse().unwrap());
        assert!(p < "12:4".parse().unwrap());
        assert_eq!(p.next().to_string(), "12:4");
        for bad in ["", "12", "12:", ":3", "a:b", "-1:0", "1:2:3"] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filters_name_known_types_and_outcomes_only() {
        let q = |types: &str| EventQuery {
            types: Some(types.into()),
            ..Default::default()
        };
        let f = Filter::parse(&q("DecideClaim,block")).unwrap();
        assert!(f.blocks);
        assert!(f.wants_type("DecideClaim", OutcomeName::Accepted));
        assert!(!f.wants_type("IssuePolicy", OutcomeName::Accepted));
        let f = Filter::parse(&q("DecideClaim")).unwrap();
        assert!(!f.blocks);
        assert!(Filter::parse(&q("DecideClaims")).is_err());
        let f = Filter::parse(&EventQuery {
            outcome: Some("Rejected".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(f.blocks);
        assert!(f.wants_type("IssuePolicy", OutcomeName::Rejected));
        assert!(!f.wants_type("IssuePolicy", OutcomeName::Accepted));
        assert!(Filter::parse(&EventQuery {
            outcome: Some("accepted".into()),
            ..Default::default()
        })
        .is_err());
        let f = Filter::parse(&EventQuery {
            org: Some("bank-a".into()),
            ..Default::default()
        })
        .unwrap();
        let mut names = Names::default();
        assert!(!f.wants_names(&names));
        names.orgs.insert(Id::new("bank-a").unwrap());
        assert!(f.wants_names(&names));
    }

    #[test]
    fn a_consumer_is_too_slow_only_when_events_waited_past_the_stall() {
        let stall = Duration::from_secs(30);
        let mut pace = Pace::new(stall);
        let t0 = Instant::now();
        assert!(!pace.too_slow(t0 + Duration::from_secs(3600)));
        pace.sent(t0, true);
        assert!(!pace.too_slow(t0 + Duration::from_secs(29)));
        assert!(pace.too_slow(t0 + Duration::from_secs(31)));
        // Nothing was waiting: an idle consumer of a quiet ledger is not slow.
        pace.sent(t0, false);
        assert!(!pace.too_slow(t0 + Duration::from_secs(3600)));
    }

    #[test]
    fn streams_beyond_the_limit_are_refused_and_places_come_back() {
        let feeds = Feeds::new(2, STALL_DEFAULT);
        let a = feeds.enter().expect("first");
        let b = feeds.enter().expect("second");
        assert!(feeds.enter().is_none());
        drop(a);
        let c = feeds.enter().expect("a place came back");
        drop((b, c));
        assert_eq!(feeds.open.load(Ordering::Acquire), 0);
    }
}
