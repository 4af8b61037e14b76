//! Who may call which route of the HTTP API, and how much.
//!
//! Over TLS every caller is known by its client certificate, which the handshake has
//! checked against the organisation's client CA ([`crate::tls`]); `node.toml` maps a
//! certificate to one [`Role`] by its fingerprint or its subject. [`ROUTES`] is the one
//! table of what each role may call. A caller with no certificate, or one that maps to no
//! role, reaches only `/health` (`401 Unauthenticated`); a role calling a route outside its
//! set gets `403 Forbidden` naming both. Each certificate then has its own limits
//! ([`ClientLimits`]): a request rate (governor's keyed limiter, a generic cell rate
//! algorithm) and a number of requests in flight; beyond either the answer is `429`, so
//! one client that floods the node cannot starve the others.
//!
//! A node serving plain HTTP does so only on loopback ([`crate::config`]): there every
//! caller is [`Caller::Local`] and may call everything, as on a devnet.

use ledger::api::ErrorCode;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// What a client certificate may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submits transactions and reads the ledger.
    Staff,
    /// Reads the ledger and exports the chain; submits nothing.
    Auditor,
    /// Health, status and metrics.
    Operator,
    /// The console and the reads it makes.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Staff, Role::Auditor, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Auditor => "auditor",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One route of the API and the roles that may call it. `path` is the route as the router
/// names it (`/v1/blocks/{height}`).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub roles: &'static [Role],
    /// Answered to anyone, even without a certificate.
    pub open: bool,
}

impl Route {
    /// A page of the console, not an operation of the API.
    pub fn is_page(&self) -> bool {
        self.path == "/" || self.path.starts_with("/console/")
    }
}

const EVERYONE: &[Role] = &[Role::Staff, Role::Auditor, Role::Operator, Role::Viewer];
const SUBMIT: &[Role] = &[Role::Staff];
const READ: &[Role] = &[Role::Staff, Role::Auditor, Role::Viewer];
const EXPORT: &[Role] = &[Role::Auditor];
const STATUS: &[Role] = &[Role::Staff, Role::Auditor, Role::Operator, Role::Viewer];
const OPERATE: &[Role] = &[Role::Operator];
const CONSOLE: &[Role] = &[Role::Viewer];

const fn route(method: &'static str, path: &'static str, roles: &'static [Role]) -> Route {
    Route {
        method,
        path,
        roles,
        open: false,
    }
}

const fn open(method: &'static str, path: &'static str) -> Route {
    Route {
        method,
        path,
        roles: EVERYONE,
        open: true,
    }
}

/// Every route of the API and who may call it (`/health` answers anyone, even without a
/// certificate). The README's table is this one.
pub const ROUTES: &[Route] = &[
    open("GET", "/health"),
    route("POST", "/v1/tx", SUBMIT),
    route("POST", "/v1/txs", SUBMIT),
    route("POST", "/v1/devnet/clock", SUBMIT),
    route("GET", "/v1/tx/{id}", READ),
    route("GET", "/v1/blocks", READ),
    route("GET", "/v1/blocks/{height}", READ),
    route("GET", "/v1/validators", READ),
    route("GET", "/v1/events", READ),
    route("GET", "/v1/search", READ),
    route("GET", "/v1/programmes", READ),
    route("GET", "/v1/programmes/{id}", READ),
    route("GET", "/v1/claims", READ),
    route("GET", "/v1/claims/{id}", READ),
    route("GET", "/v1/filings", READ),
    route("GET", "/v1/filings/{insurer}/{product}/{id}", READ),
    route("GET", "/v1/organisations", READ),
    route("GET", "/v1/records/{kind}/{id}", READ),
    route("GET", "/v1/enterprises/{id}/attestations", READ),
    route("GET", "/v1/governance", READ),
    route("GET", "/v1/evidence", READ),
    route("GET", "/v1/chain/{height}", EXPORT),
    route("GET", "/v1/state", READ),
    route("GET", "/v1/status", STATUS),
    route("GET", "/v1/openapi.json", STATUS),
    route("GET", "/metrics", OPERATE),
    route("GET", "/", CONSOLE),
    route("GET", "/console/", CONSOLE),
    route("GET", "/console/app.js", CONSOLE),
    route("GET", "/console/boot.js", CONSOLE),
    route("GET", "/console/icon.svg", CONSOLE),
    route("GET", "/console/style.css", CONSOLE),
];

/// The entry of `method` on the route `path`; `None` for a route not in the table (refused
/// to everyone but a local caller).
pub fn route_of(method: &Method, path: &str) -> Option<&'static Route> {
    // HEAD is answered as GET is.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

/// A client certificate that maps to a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub role: Role,
    /// The certificate's subject, for messages and logs.
    pub subject: String,
    /// `sha256:HEX` of the certificate (DER): the key of its limits.
    pub fingerprint: String,
}

/// Who sent a request, as its connection says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Plain HTTP on loopback: this machine's own, allowed everything.
    Local,
    /// Over TLS without a client certificate.
    Anonymous,
    /// Over TLS with a certificate of the client CA that `node.toml` maps to no role.
    Unmapped {
        subject: String,
    },
    Client(Arc<Client>),
}

/// Limits for each client certificate (`[client_limits]` in `node.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientLimits {
    /// Sustained requests a second.
    pub requests_per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
    /// Requests being handled at once.
    pub in_flight: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            requests_per_second: 100,
            burst: 200,
            in_flight: 16,
        }
    }
}

impl ClientLimits {
    pub fn check(&self) -> Result<(), String> {
        if self.requests_per_second == 0 || self.burst == 0 || self.in_flight == 0 {
            return Err(
                "[client_limits]: requests_per_second, burst and in_flight must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Most client certificates whose requests-in-flight are counted at once; an idle one's
/// count is dropped when the map is full.
const CLIENTS_TRACKED_MAX: usize = 4096;

/// The API's gate: roles, then limits per certificate.
pub struct Gate {
    limits: ClientLimits,
    rate: DefaultKeyedRateLimiter<String>,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Requests refused, by code: `Unauthenticated`, `Forbidden`, `RateLimited`,
    /// `TooManyInFlight` (for `/metrics`).
    pub refused: [std::sync::atomic::AtomicU64; 4],
}

/// The codes of [`Gate::refused`], in its order.
pub const REFUSAL_CODES: [ErrorCode; 4] = [
    ErrorCode::Unauthenticated,
    ErrorCode::Forbidden,
    ErrorCode::RateLimited,
    ErrorCode::TooManyInFlight,
];

impl Gate {
    pub fn new(limits: ClientLimits) -> Arc<Gate> {
        let per_second = NonZeroU32::new(limits.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst).unwrap_or(NonZeroU32::MIN);
        Arc::new(Gate {
            limits,
            rate: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            in_flight: Mutex::new(HashMap::new()),
            refused: Default::default(),
        })
    }

    fn semaphore(&self, fingerprint: &str) -> Arc<Semaphore> {
        let mut map = self.in_flight.lock().expect("the in-flight map");
        if !map.contains_key(fingerprint) && map.len() >= CLIENTS_TRACKED_MAX {
            // Only the map holds an idle client's semaphore.
            map.retain(|_, s| Arc::strong_count(s) > 1);
            self.rate.retain_recent();
        }
        map.entry(fingerprint.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.limits.in_flight as usize)))
            .clone()
    }
}

impl Gate {
    /// A refusal with `code` (one of [`REFUSAL_CODES`]), counted.
    fn refuse(&self, code: ErrorCode, message: String) -> Response {
        if let Some(i) = REFUSAL_CODES.iter().position(|c| *c == code) {
            self.refused[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        crate::reply::error(code, message).into_response()
    }
}

/// The gate as an axum middleware: the caller is the connection's ([`Caller`], set by
/// [`crate::http::serve`]), the route the router matched.
pub async fn guard(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller::Anonymous);
    if caller == Caller::Local {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let entry = route.as_deref().and_then(|r| route_of(&method, r));
    if entry.is_some_and(|e| e.open) {
        return next.run(request).await;
    }
    let client = match caller {
        Caller::Client(client) => client,
        other => {
            let who = match other {
                Caller::Unmapped { subject } => {
                    format!("the certificate {subject} is mapped to no role in the node's configuration")
                }
                _ => "no client certificate was presented".to_string(),
            };
            return gate.refuse(
                ErrorCode::Unauthenticated,
                format!("{method} {path} needs a client certificate with a role: {who}"),
            );
        }
    };
    let Some(roles) = entry.map(|e| e.roles) else {
        // An unknown route (the router's 404) or one missing from the table.
        if route.is_none() {
            return next.run(request).await;
        }
        return gate.refuse(
            ErrorCode::Forbidden,
            format!("{method} {path} is open to no role"),
        );
    };
    if !roles.contains(&client.role) {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        return gate.refuse(
            ErrorCode::Forbidden,
            format!(
                "role {} may not call {method} {}: it is open to {}",
                client.role,
                route.as_deref().unwrap_or(&path),
                names.join(", ")
            ),
        );
    }
    if gate.rate.check_key(&client.fingerprint).is_err() {
        return gate.refuse(
            ErrorCode::RateLimited,
            format!(
                "{} sent more than {} requests a second (burst {}); slow down",
                client.subject, gate.limits.requests_per_second, gate.limits.burst
            ),
        );
    }
    let Ok(_permit) = gate.semaphore(&client.fingerprint).try_acquire_owned() else {
        return gate.refuse(
            ErrorCode::TooManyInFlight,
            format!(
                "{} already has {} requests in flight; wait for their answers",
                client.subject, gate.limits.in_flight
            ),
        );
    };
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_status_and_only_staff_submits() {
        let roles = |method, path| route_of(&method, path).map(|r| r.roles);
        for role in Role::ALL {
            assert!(roles(Method::GET, "/v1/status").unwrap().contains(&role));
            assert_eq!(
                roles(Method::POST, "/v1/tx").unwrap().contains(&role),
                role == Role::Staff
            );
        }
        assert_eq!(roles(Method::HEAD, "/console/"), Some(CONSOLE));
        assert_eq!(roles(Method::GET, "/v1/chain/{height}"), Some(EXPORT));
        assert_eq!(roles(Method::DELETE, "/v1/tx"), None);
        let open: Vec<&str> = ROUTES.iter().filter(|r| r.open).map(|r| r.path).collect();
        assert_eq!(open, ["/health"]);
    }

    #[test]
    fn each_route_appears_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    (a.method, a.path) != (b.method, b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
