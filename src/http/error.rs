//! The one error type of the HTTP API and its RFC 9457 `application/problem+json` form.
//!
//! Handlers return `Result<_, ApiError>`; every failure a client can see is built here, so the
//! shape, the `type` URIs and the rule "a 500 never reveals internals" hold in one place.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field in a request, addressed by its path (`body[3].children[0].url`).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Present on `422`: one entry per invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The id also carried by the `x-request-id` header and the server's log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A per-user limit (uploads) is used up.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// `Idempotency-Key`: the first request with this key is still running.
    #[error("idempotency key in use")]
    IdempotencyKeyInUse,
    /// `Idempotency-Key`: the key was used for a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// The change feed no longer holds what a cursor points at.
    #[error("cursor expired")]
    CursorExpired,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(detail.into())
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::QuotaExceeded(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::IdempotencyKeyInUse => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::CursorExpired => StatusCode::GONE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Kind, title and detail of the problems whose words never vary.
    fn fixed_problem(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::IdempotencyKeyInUse => (
                "idempotency-key-in-use",
                "Request in progress",
                "a request with this Idempotency-Key is still running; retry shortly",
            ),
            Self::IdempotencyKeyReused => (
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "this Idempotency-Key was used for a different request (method, path or body)",
            ),
            Self::PreconditionFailed => (
                "precondition-failed",
                "Precondition failed",
                "the resource changed since the If-Match ETag was read",
            ),
            Self::CursorExpired => (
                "cursor-expired",
                "Cursor expired",
                "the changes after this cursor are past the feed's retention; start again without a cursor",
            ),
            _ => ("not-found", "Not found", "no such resource"),
        }
    }

    pub fn problem(&self) -> Problem {
        let (kind, title, detail, errors) = match self {
            Self::BadRequest(d) => ("bad-request", "Bad request", Some(d.clone()), None),
            Self::Unauthorized(d) => (
                "unauthorized",
                "Authentication required",
                Some((*d).to_owned()),
                None,
            ),
            Self::InvalidCredentials => (
                "invalid-credentials",
                "Invalid email or password",
                None,
                None,
            ),
            Self::Forbidden(d) => ("forbidden", "Not allowed", Some(d.clone()), None),
            Self::QuotaExceeded(d) => ("quota-exceeded", "Quota exceeded", Some(d.clone()), None),
            Self::NotFound
            | Self::IdempotencyKeyInUse
            | Self::IdempotencyKeyReused
            | Self::PreconditionFailed
            | Self::CursorExpired => {
                let (kind, title, detail) = self.fixed_problem();
                (kind, title, Some(detail.to_owned()), None)
            }
            Self::Conflict(d) => ("conflict", "Conflict", Some(d.clone()), None),
            Self::PayloadTooLarge(d) => (
                "payload-too-large",
                "Payload too large",
                Some(d.clone()),
                None,
            ),
            Self::UnsupportedMediaType(d) => (
                "unsupported-media-type",
                "Unsupported media type",
                Some(d.clone()),
                None,
            ),
            Self::Validation(errors) => (
                "validation",
                "Validation failed",
                Some(match errors.len() {
                    1 => "1 field is invalid".to_owned(),
                    n => format!("{n} fields are invalid"),
                }),
                Some(errors.clone()),
            ),
            Self::TooManyRequests { retry_after_secs } => (
                "rate-limited",
                "Too many requests",
                Some(format!("try again in {retry_after_secs} seconds")),
                None,
            ),
            Self::Unavailable(d) => (
                "unavailable",
                "Service unavailable",
                Some((*d).to_owned()),
                None,
            ),
            Self::Internal(_) => (
                "internal",
                "Internal server error",
                Some("the server failed; quote the request id when reporting this".to_owned()),
                None,
            ),
        };
        Problem {
            kind: format!("/problems/{kind}"),
            title: title.to_owned(),
            status: self.status().as_u16(),
            detail,
            errors,
            request_id: None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if matches!(err, sqlx::Error::PoolTimedOut) {
            POOL_TIMEOUTS.inc();
        }
        if is_outage(&err) {
            // Not a bug: the client may retry, and the write it sent may or may not have
            // committed (an idempotency key makes the retry safe). Logged once, at WARN.
            tracing::warn!(error = %err, "the database is unavailable");
            return Self::Unavailable("the database is not reachable");
        }
        if is_overrun(&err) {
            tracing::warn!(error = %err, "a statement ran out of time");
            return Self::Unavailable(
                "the data this request needs is busy (locked or slow); retry shortly",
            );
        }
        match err {
            // A backstop behind the input checks: a value PostgreSQL refuses to store (class 22,
            // "data exception": an invalid byte sequence, a number or date out of range) or one
            // past its limits (class 54, e.g. an index row too large) came from the request.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|code| code.starts_with("22") || code.starts_with("54")) =>
            {
                tracing::warn!(error = %db, code = ?db.code(), "the database refused a value");
                Self::bad_request("the request holds a value that cannot be stored")
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// Whether `err` means the database cannot be reached or is going away, rather than that this
/// request is wrong: the pool timed out or closed, the connection broke (I/O, TLS, protocol,
/// the worker gone), or PostgreSQL said so (class 08 connection exception; 57P01–57P03 admin
/// shutdown, crash shutdown, cannot connect now; 53300 too many connections).
pub fn is_outage(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P0") || code == "53300"
        }),
        _ => false,
    }
}

/// Requests that waited for a pool connection until the acquire timeout: sqlx counts no waiters,
/// so this is what `/metrics` can say of them. Process-wide, as the pool is.
pub static POOL_TIMEOUTS: std::sync::LazyLock<prometheus_client::metrics::counter::Counter> =
    std::sync::LazyLock::new(Default::default);

/// Whether PostgreSQL gave up on a statement under the session limits (`db::connect_options`):
/// 55P03 a lock not granted within `lock_timeout`, 57014 cancelled by `statement_timeout`.
pub fn is_overrun(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "55P03" || c == "57014"))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            // The one place a server failure is logged: inside the request span, so the line
            // carries the request id that the client sees in the body.
            tracing::error!(error = ?cause, "request failed");
        }
        self.into_response_unlogged()
    }
}

impl ApiError {
    /// The response, for callers that already logged the cause (a caught panic).
    pub fn into_response_unlogged(self) -> Response {
        let mut problem = self.problem();
        if self.status().is_server_error() {
            problem.request_id = super::request_id::current();
        }
        let mut response = problem_response(self.status(), &problem);
        match self {
            Self::TooManyRequests { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::IdempotencyKeyInUse => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Unauthorized(_) | Self::InvalidCredentials => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// Serialises a problem with the right status and media type.
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let mut response = (status, Json(problem)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// A plain problem for a status that has no richer cause (fallbacks, rewritten framework errors).
pub fn status_problem(status: StatusCode, detail: Option<String>) -> Problem {
    let kind = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace(' ', "-");
    Problem {
        kind: format!("/problems/{kind}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors: None,
        request_id: if status.is_server_error() {
            super::request_id::current()
        } else {
            None
        },
    }
}

/// Maps a unique or foreign-key violation, by constraint name, to the client's error.
///
/// Call sites list the constraints they expect; anything else stays a 500, because an
/// unexpected constraint means a bug, not bad input.
pub fn on_constraint(err: sqlx::Error, map: ConstraintErrors) -> ApiError {
    if let sqlx::Error::Database(db) = &err
        && let Some(constraint) = db.constraint()
        && let Some((_, to_error)) = map.iter().find(|(name, _)| *name == constraint)
    {
        return to_error();
    }
    err.into()
}

impl From<crate::slug::SlugError> for ApiError {
    fn from(err: crate::slug::SlugError) -> Self {
        slug_error(err, &[])
    }
}

/// A slugged write's failure: a taken slug is a `409`, other violations go through `map`.
pub fn slug_error(err: crate::slug::SlugError, map: ConstraintErrors) -> ApiError {
    match err {
        crate::slug::SlugError::Taken(slug) => {
            ApiError::Conflict(format!("slug '{slug}' is taken"))
        }
        crate::slug::SlugError::Database(err) => on_constraint(err, map),
    }
}

/// Constraint names and the client error each one means.
pub type ConstraintErrors = &'static [(&'static str, fn() -> ApiError)];

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_database_is_an_outage_and_a_missing_row_is_not() {
        let broken = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_outage(&broken));
        assert!(is_outage(&sqlx::Error::PoolClosed));
        assert!(!is_outage(&sqlx::Error::RowNotFound));
        assert_eq!(
            ApiError::from(broken).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
