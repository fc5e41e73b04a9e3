//! Cross-cutting response rules: every error is a problem document, every successful `GET`
//! has a strong ETag and the right Cache-Control, slow requests time out, panics become 500s.

use std::{any::Any, sync::Arc};

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::error::{ApiError, PROBLEM_JSON, problem_response, status_problem};
use super::route_policy::{Policy, RoutePolicies};
use crate::accounts::session_cookie;
use crate::changes::purge;
use crate::config::Config;

/// Rewrites any error response that is not already a problem document (axum's 405, a body-limit
/// 413, …) into one, keeping its headers (`Allow` on a 405).
pub async fn problem_fallback(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => response
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .map(|allow| format!("this resource allows: {allow}")),
        StatusCode::PAYLOAD_TOO_LARGE => Some("the request body exceeds the size limit".into()),
        _ => None,
    };
    let (mut parts, _) = response.into_parts();
    let mut rewritten = problem_response(status, &status_problem(status, detail));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    for (name, value) in rewritten.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    *rewritten.headers_mut() = parts.headers;
    rewritten
}

/// All request headers together may hold at most this many bytes (names and values).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// `431` for a request whose headers exceed `MAX_HEADER_BYTES`: hyper would take ~400 KB.
pub async fn header_limit(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        let detail = format!("the request headers exceed {MAX_HEADER_BYTES} bytes in all");
        return problem_response(status, &status_problem(status, Some(detail)));
    }
    next.run(request).await
}

/// Router fallback: no route matches the path.
pub async fn route_not_found(method: Method, uri: axum::http::Uri) -> Response {
    let problem = super::error::Problem {
        kind: "/problems/route-not-found".into(),
        title: "Not found".into(),
        status: 404,
        detail: Some(format!("no route for {method} {}", uri.path())),
        errors: None,
        request_id: None,
    };
    problem_response(StatusCode::NOT_FOUND, &problem)
}

/// Strong ETags, `If-None-Match` → `304`, and Cache-Control: public for anonymous readers,
/// `private, no-store` when the request carries credentials (its answer may hold drafts or
/// emails that no shared cache may keep).
pub async fn caching(State(config): State<Arc<Config>>, request: Request, next: Next) -> Response {
    let cacheable_method = matches!(*request.method(), Method::GET | Method::HEAD);
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let authenticated = session_cookie::carries_credentials(request.headers());
    let response = next.run(request).await;
    if !cacheable_method
        || response.status() != StatusCode::OK
        || response.extensions().get::<Streamed>().is_some()
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    if !parts.headers.contains_key(header::CACHE_CONTROL) {
        let value = if authenticated {
            HeaderValue::from_static("private, no-store")
        } else {
            let stale_if_error = match config.cache_stale_if_error_secs {
                0 => String::new(),
                secs => format!(", stale-if-error={secs}"),
            };
            HeaderValue::from_str(&format!(
                "public, max-age={}, stale-while-revalidate={}{stale_if_error}",
                config.cache_max_age_secs, config.cache_stale_while_revalidate_secs
            ))
            .unwrap_or_else(|_| HeaderValue::from_static("no-store"))
        };
        parts.headers.insert(header::CACHE_CONTROL, value);
    }
    parts.headers.insert(
        header::VARY,
        HeaderValue::from_static("Authorization, Accept-Encoding"),
    );
    // Purge keys are for shared caches, which never keep a signed-in answer.
    if authenticated {
        parts.headers.remove(purge::SURROGATE_KEY);
    } else if let Some(tag) = parts
        .headers
        .get(purge::SURROGATE_KEY)
        .and_then(purge::cache_tag)
    {
        parts.headers.insert(purge::CACHE_TAG, tag);
    }
    // Responses that set their own validator (media streams, versioned articles) keep it.
    if let Some(etag) = parts.headers.get(header::ETAG).cloned() {
        if if_none_match.is_some_and(|v| etag_matches(&v, etag.to_str().unwrap_or_default())) {
            parts.status = StatusCode::NOT_MODIFIED;
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.remove(header::CONTENT_TYPE);
            return Response::from_parts(parts, Body::empty());
        }
        return Response::from_parts(parts, body);
    }
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => {
            return ApiError::Internal(anyhow::anyhow!("buffering response: {err}"))
                .into_response();
        }
    };
    let etag = etag_of(&bytes);
    if let Ok(value) = HeaderValue::from_str(&etag) {
        parts.headers.insert(header::ETAG, value);
    }
    if if_none_match.is_some_and(|v| etag_matches(&v, &etag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::CONTENT_TYPE);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The strong ETag of a representation: a 128-bit hash of its exact bytes. XXH3, not SHA-256:
/// a validator needs no resistance to forgery (only editors write what is hashed, and a forged
/// collision would only keep a stale copy in one cache), and SHA-256 over a 259 KB list with
/// bodies was a sixth of Galley's CPU per uncached request.
pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored.
pub fn etag_matches(header_value: &HeaderValue, etag: &str) -> bool {
    let Ok(list) = header_value.to_str() else {
        return false;
    };
    list.split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// The entity tags of `If-Match`, if sent: `400` unless it is `*` or a list of quoted tags.
pub fn if_match(headers: &HeaderMap) -> Result<Option<Vec<&str>>, ApiError> {
    // An empty field is an empty list: no condition (RFC 9110 §5.6.1 asks recipients to accept
    // empty list elements).
    let Some(value) = headers
        .get(header::IF_MATCH)
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
    else {
        return Ok(None);
    };
    let malformed = || ApiError::bad_request("If-Match must be * or a list of quoted ETags");
    let tags: Vec<&str> = value
        .to_str()
        .map_err(|_| malformed())?
        .split(',')
        .map(str::trim)
        .collect();
    let well_formed = |tag: &&str| {
        let quoted = tag.strip_prefix("W/").unwrap_or(tag);
        *tag == "*" || (quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'))
    };
    if tags.iter().all(well_formed) {
        Ok(Some(tags))
    } else {
        Err(malformed())
    }
}

/// Checks `If-Match` against the current representation of a resource before a write.
/// `If-Match` uses the strong comparison; a stale or weak tag is a `412`.
pub fn check_if_match(
    headers: &HeaderMap,
    current: &impl serde::Serialize,
) -> Result<(), ApiError> {
    let Some(tags) = if_match(headers)? else {
        return Ok(());
    };
    let bytes = serde_json::to_vec(current).map_err(|e| ApiError::Internal(e.into()))?;
    let etag = etag_of(&bytes);
    if tags.iter().any(|tag| *tag == "*" || *tag == etag) {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// Marks a streamed response that must not be buffered to compute an ETag (an export).
#[derive(Debug, Clone, Copy)]
pub struct Streamed;

/// Answers `503` with a problem when a request runs longer than its timeout: `upload_timeout`
/// for streaming routes, `request_timeout` for the others.
pub async fn timeout(
    State((config, policies)): State<(Arc<Config>, Arc<RoutePolicies>)>,
    request: Request,
    next: Next,
) -> Response {
    let limit = if policies.applies(Policy::Streaming, &request) {
        config.upload_timeout
    } else {
        config.request_timeout
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            ApiError::Unavailable("the request took too long and was abandoned").into_response()
        }
    }
}

/// A handler panicked: log it, answer a generic 500 (the panic text may hold internals).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response_unlogged()
}
