//! Serving the HTTP API under limits, so that no client (a flood, a slow reader or writer,
//! oversized headers or bodies) can take the node's API away from the others.
//!
//! Connections are served by hyper directly rather than through `axum::serve`, to bound
//! what reaches the router: at most [`CONNECTIONS_MAX`] open at once (more wait in the
//! listen backlog), headers of at most [`HEADER_BYTES_MAX`] bytes and [`HEADERS_MAX`]
//! fields, read within [`HEADER_READ_TIME`] (an idle kept-alive connection is closed after
//! the same time). Requests then pass tower layers: at most [`REQUESTS_IN_FLIGHT_MAX`] in
//! flight, any beyond that refused at once (`503 Overloaded`) rather than queued without
//! bound, and each answered within [`REQUEST_TIME`] (`408 Timeout`, which also ends a body
//! sent too slowly). Body sizes are the router's own limits (`api.rs`).
//!
//! Every error answer is JSON `{error: {code, message}}`: the handlers' own, and those of
//! the layers and the router (an unknown route, a bad method, a body too large), which
//! [`json_errors`] rewrites from plain text.

use ledger::api::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, ServiceExt};
use tracing::debug;

use crate::access::Caller;
pub use crate::limits::HEADER_BYTES_MAX;
use crate::tls::Tls;

/// Most connections open at once.
pub const CONNECTIONS_MAX: usize = 512;
/// Most requests being handled at once.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 256;
/// Longest time from a request's headers to its answer, its body's upload included.
pub const REQUEST_TIME: Duration = Duration::from_secs(30);
/// Longest time to receive a request's headers, and to wait for the next request on an
/// idle connection.
pub const HEADER_READ_TIME: Duration = Duration::from_secs(10);
/// Most header fields in one request.
pub const HEADERS_MAX: usize = 64;
/// Longest plain-text error body that is carried into the JSON message.
const PLAIN_ERROR_BYTES_MAX: usize = 2 * 1024;

async fn overloaded(error: BoxError) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Overloaded,
            format!("more than {REQUESTS_IN_FLIGHT_MAX} requests in flight; retry shortly"),
        )
    } else {
        api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            error.to_string(),
        )
    }
}

fn api_error(status: StatusCode, code: ErrorCode, message: String) -> Response {
    crate::reply::error_at(status, code, message).into_response()
}

/// The stable code of an error answer that came without one.
fn code_of(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Overloaded,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    }
}

/// Rewrites an error answer that is not JSON into `{error: {code, message}}`.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), PLAIN_ERROR_BYTES_MAX)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_string();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    api_error(status, code_of(status), message)
}

/// Serves `router` on `listener` under the connection limits, until the task is dropped:
/// over TLS when `tls` is given (each connection's [`Caller`] is its client certificate's),
/// else plain HTTP, whose callers are [`Caller::Local`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<Tls>>,
) -> std::io::Result<()> {
    // The layers wrap the whole router, so that their limits are shared by every route.
    let service = ServiceBuilder::new()
        .layer(axum::middleware::map_response(json_errors))
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .concurrency_limit(REQUESTS_IN_FLIGHT_MAX)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIME,
        ))
        .service(router);
    let connections = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIME)
        .max_header_size(HEADER_BYTES_MAX)
        .max_headers(HEADERS_MAX);
    loop {
        let permit = connections
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on serving.
                debug!("accepting an HTTP connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let http = http.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => serve_connection(&http, stream, service, Caller::Local).await,
                Some(tls) => {
                    // The handshake has the time of a request's headers.
                    let accepted =
                        tokio::time::timeout(HEADER_READ_TIME, tls.acceptor.accept(stream)).await;
                    match accepted {
                        Ok(Ok(stream)) => {
                            let caller = match stream.get_ref().1.peer_certificates() {
                                Some([leaf, ..]) => tls.roles.identify(leaf),
                                _ => Caller::Anonymous,
                            };
                            serve_connection(&http, stream, service, caller).await
                        }
                        Ok(Err(e)) => Err(format!("TLS handshake: {e}").into()),
                        Err(_) => Err("TLS handshake: timed out".into()),
                    }
                }
            };
            if let Err(e) = served {
                debug!(%remote, "HTTP connection ended: {e}");
            }
            drop(permit);
        });
    }
}

/// Serves one connection, each of its requests marked as `caller`'s.
async fn serve_connection<S, Io>(
    http: &hyper::server::conn::http1::Builder,
    io: Io,
    service: S,
    caller: Caller,
) -> Result<(), BoxError>
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Body>, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let service = service.map_request(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(caller.clone());
        request
    });
    http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .await
        .map_err(Into::into)
}
