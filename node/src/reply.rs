//! The API's answers of refusal: `{error: {code, message}}` at the code's HTTP status
//! (`ledger::api::ErrorCode`), shared by the handlers (`api`, `views`, `events`) and the
//! layers in front of them (`http`, `access`), which import this and not each other.

use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use ledger::api::ErrorCode;
use serde_json::Value;

pub type ApiError = (StatusCode, Json<Value>);
pub type ApiResult = Result<Response, ApiError>;

/// The answer to a request refused with `code`, at the code's own status.
pub fn error(code: ErrorCode, message: impl Into<String>) -> ApiError {
    let status =
        StatusCode::from_u16(code.http_status()).expect("every code's status is a valid one");
    error_at(status, code, message)
}

/// The answer `{error: {code, message}}` at `status`: for the HTTP layer, which names the
/// code of a status it was given.
pub fn error_at(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
    let body = ledger::api::ErrorBody {
        error: ledger::api::ErrorDetail {
            code,
            message: message.into(),
        },
    };
    (
        status,
        Json(serde_json::to_value(body).expect("JSON of an error")),
    )
}

/// A height in a path: a decimal number.
pub fn parse_height(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        error(
            ErrorCode::BadHeight,
            format!("{text:?} is not a height (a whole number from 0)"),
        )
    })
}

/// A query the route does not take, or a value of it out of range.
pub fn bad_query(message: impl Into<String>) -> ApiError {
    error(ErrorCode::BadQuery, message)
}

pub fn internal(e: impl std::fmt::Display) -> ApiError {
    error(ErrorCode::Internal, e.to_string())
}
