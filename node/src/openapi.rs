//! The API's OpenAPI 3.1 description (`GET /v1/openapi.json`), derived so that it cannot
//! drift from what the node answers: each operation from its handler's `#[utoipa::path]`
//! (its parameters are the query types the handler parses), each schema from the
//! `ledger::api` type the handler answers with, and the roles that may call each
//! operation from [`crate::access`]'s table, the one the node enforces.

use std::sync::OnceLock;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema};

use crate::access::{Route, ROUTES};

/// The description, derived from the handlers below.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "xinbao node API",
        version = "1",
        description = "The HTTP API of a xinbao node: read views of the ledger and submission \
            of signed transactions. Amounts are fen, ratios basis points, hashes and keys hex, \
            dates YYYY-MM-DD (UTC+8). Every refusal is {error: {code, message}} with a stable \
            code. Over HTTPS (a node serving beyond loopback), every caller presents a client \
            certificate of the organisation's CA, mapped to one role (staff, auditor, operator, \
            viewer) in the node's configuration; each operation's x-roles names the roles that \
            may call it. Without a certificate, or with one mapped to no role, the answer is 401; \
            a role an operation does not admit gets 403. On loopback without TLS, every \
            operation is open to the local operator."
    ),
    paths(
        crate::api::submit_tx,
        crate::api::submit_txs,
        crate::views::tx,
        crate::api::status,
        crate::views::blocks,
        crate::views::block,
        crate::views::validators,
        crate::events::events,
        crate::views::search,
        crate::views::programmes,
        crate::views::programme,
        crate::views::claims,
        crate::views::claim,
        crate::views::filings,
        crate::views::filing,
        crate::views::organisations,
        crate::views::record,
        crate::views::enterprise_attestations,
        crate::api::chain_entry,
        crate::views::state,
        crate::api::governance,
        crate::api::evidence,
        crate::api::set_clock,
        crate::api::openapi,
        crate::api::health,
        crate::api::metrics,
    ),
    components(
        responses(BadRequest, NotFound, Conflict, TooLarge, UnsupportedMedia, QuotaUsed, Busy, ClockOff),
        schemas(
        ledger::api::ErrorBody,
        ledger::api::events::TxEvent,
        ledger::api::events::BlockEvent,
        ledger::api::events::StreamEnd,
    )),
    modifiers(&Access)
)]
struct ApiDoc;

pub use refusals::*;

/// The refusals the operations answer with, each `{error: {code, message}}`, as reusable
/// responses of the description. They describe what `crate::reply::error` builds; nothing
/// builds them.
#[allow(dead_code)]
mod refusals {
    use ledger::api::ErrorBody;

    /// A request it cannot take: a malformed query, id or body.
    #[derive(utoipa::ToResponse)]
    pub struct BadRequest(ErrorBody);

    /// Nothing of that name.
    #[derive(utoipa::ToResponse)]
    pub struct NotFound(ErrorBody);

    /// Already pending or committed.
    #[derive(utoipa::ToResponse)]
    pub struct Conflict(ErrorBody);

    /// Too large, or too many transactions.
    #[derive(utoipa::ToResponse)]
    pub struct TooLarge(ErrorBody);

    /// Neither JSON nor canonical bytes.
    #[derive(utoipa::ToResponse)]
    pub struct UnsupportedMedia(ErrorBody);

    /// The submitter's quota of pending transactions is used up.
    #[derive(utoipa::ToResponse)]
    pub struct QuotaUsed(ErrorBody);

    /// The node cannot take more now (its pool or intake is full, or it serves too many
    /// streams): retry later.
    #[derive(utoipa::ToResponse)]
    pub struct Busy(ErrorBody);

    /// The node was not started with `--devnet-clock`.
    #[derive(utoipa::ToResponse)]
    pub struct ClockOff(ErrorBody);
}

/// The description as JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the description is JSON")
    })
}

/// The description as a value, for the tests.
pub fn document() -> serde_json::Value {
    serde_json::from_str(json()).expect("the description is JSON")
}

/// The client certificate every caller beyond loopback presents, and what
/// [`crate::access`]'s table gives each operation: the roles that may call it
/// (`x-roles`), and the refusals at the door of those that are not open to anyone.
struct Access;

/// The security scheme's name.
const CLIENT_CERTIFICATE: &str = "clientCertificate";

impl Modify for Access {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            CLIENT_CERTIFICATE,
            SecurityScheme::MutualTls {
                description: Some(
                    "A client certificate issued by the organisation's client CA (`xinbao tls \
                     init`, `xinbao tls issue`), mapped to a role by its fingerprint or subject \
                     in the node's [tls] configuration."
                        .into(),
                ),
                extensions: None,
            },
        );
        doc.security = Some(vec![SecurityRequirement::new(
            CLIENT_CERTIFICATE,
            Vec::<String>::new(),
        )]);
        for route in ROUTES.iter().filter(|r| !r.is_page()) {
            let Some(operation) = operation(doc, route) else {
                // An operation the table names and no handler describes: the tests say so.
                continue;
            };
            let roles: Vec<&str> = if route.open {
                vec!["anyone"]
            } else {
                route.roles.iter().map(|r| r.as_str()).collect()
            };
            let mut extensions = Extensions::default();
            extensions.insert("x-roles".into(), serde_json::json!(roles));
            operation.extensions = Some(extensions);
            if route.open {
                operation.security = Some(Vec::new());
                continue;
            }
            for (status, description) in [
                ("401", "no client certificate, or one mapped to no role"),
                ("403", "the role may not call this operation"),
                (
                    "429",
                    "this client certificate sent too many requests, or has too many in flight",
                ),
            ] {
                operation
                    .responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| refusal(description));
            }
        }
    }
}

/// The operation of `route` in `doc`, if a handler describes it.
fn operation<'a>(doc: &'a mut Document, route: &Route) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(route.path)?;
    match route.method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        _ => None,
    }
}

/// A refusal's response: `{error: {code, message}}`.
fn refusal(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(ledger::api::ErrorBody::schema()))
                .build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_is_described_with_its_roles_and_nothing_else() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["components"]["securitySchemes"][CLIENT_CERTIFICATE]["type"],
            "mutualTLS"
        );
        for route in ROUTES {
            let operation = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            if route.is_page() {
                assert!(
                    operation.is_null(),
                    "{} is a page, not an operation",
                    route.path
                );
                continue;
            }
            assert!(
                operation.is_object(),
                "{} {} is not described",
                route.method,
                route.path
            );
            let expected: Vec<&str> = if route.open {
                vec!["anyone"]
            } else {
                route.roles.iter().map(|r| r.as_str()).collect()
            };
            assert_eq!(
                operation["x-roles"],
                serde_json::json!(expected),
                "{} {}",
                route.method,
                route.path
            );
            if route.open {
                assert_eq!(operation["security"], serde_json::json!([]));
            } else {
                for status in ["401", "403", "429"] {
                    assert!(
                        operation["responses"][status].is_object(),
                        "{} {}: no {status}",
                        route.method,
                        route.path
                    );
                }
            }
        }
        let described: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|ops| ops.as_object().unwrap().len())
            .sum();
        let operations = ROUTES.iter().filter(|r| !r.is_page()).count();
        assert_eq!(described, operations, "an operation not in the table");
    }

    #[test]
    fn every_schema_and_response_referred_to_is_in_the_description() {
        let doc = document();
        let text = doc.to_string();
        for kind in ["schemas", "responses"] {
            let described = doc["components"][kind].as_object().unwrap();
            let prefix = format!("\"#/components/{kind}/");
            for (at, _) in text.match_indices(&prefix) {
                let rest = &text[at + prefix.len()..];
                let name = &rest[..rest.find('"').unwrap()];
                assert!(
                    described.contains_key(name),
                    "{kind}/{name} is referred to, not described"
                );
            }
        }
        // Every refusal an operation lists is a response of its own or of the description.
        assert!(
            doc["paths"]["/v1/claims"]["get"]["responses"]["400"]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with("/BadRequest"))
        );
    }

    #[test]
    fn the_answers_schemas_come_from_their_types() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        // A view's schema lists the fields of its type, required unless optional.
        let claim = &schemas["ClaimView"];
        let text = claim.to_string();
        for field in [
            "id",
            "insurer",
            "missing_documents",
            "programme",
            "reject_reason",
        ] {
            assert!(text.contains(&format!("\"{field}\"")), "{field} in {text}");
        }
        assert!(schemas["ClaimFigures"]["required"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("loss_fen")));
        // The vocabulary's text forms carry their patterns.
        assert_eq!(schemas["TxId"]["pattern"], "^[0-9a-f]{64}$");
        // The claims desk's status is one of its four values.
        let desk = &doc["paths"]["/v1/claims"]["get"]["parameters"];
        let status = desk
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "status")
            .expect("a status parameter");
        assert!(status.to_string().contains("overdue"), "{status}");
    }
}
