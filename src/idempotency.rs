//! `Idempotency-Key` on creating and acting `POST`s (API.md §9): a retry with the same key gets
//! the first response again (`Idempotent-Replayed: true`) and nothing runs twice.
//!
//! Attached per route with [`layer`]. Keys are scoped to the caller (`user:<id>` for sessions,
//! `token:<id>` for API tokens) and stored in PostgreSQL, so every Galley process sharing the
//! database sees them. A key is claimed (`running`) before the handler runs: a concurrent
//! duplicate is a `409` with `Retry-After: 1`. Only successful (2xx/3xx) responses are kept; any
//! other outcome releases the key, so fixing a rejected request and retrying with the same key
//! works. The request is fingerprinted by method, path with query and the SHA-256 of its whole
//! body, which is spooled to a temporary file past `MEMORY_SPOOL_BYTES` (uploads, imports).
//!
//! A kept response may carry a secret (a new API token), so its body is stored sealed
//! (ChaCha20-Poly1305) under a key derived from the credential that sent the request, which
//! the database holds only as a hash: a copy of the table reveals no response. A retry with
//! another credential of the same user (another session) cannot open it and gets a `409`.

use std::io::{Seek, SeekFrom, Write};

use axum::{
    Extension,
    body::{Body, Bytes, to_bytes},
    extract::{FromRequestParts, Request},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio_util::io::ReaderStream;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::app::AppState;
use crate::{
    accounts::auth::{Credential, MaybeAuth},
    http::error::{ApiError, ApiResult},
};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Bodies up to this size are fingerprinted in memory; larger ones go through a temporary file.
const MEMORY_SPOOL_BYTES: usize = 1024 * 1024;
/// A first response larger than this is not kept (the key is released): import reports and
/// articles are far smaller.
const MAX_STORED_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Response headers a replay repeats.
const REPLAYED_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::CACHE_CONTROL,
];

/// How much body a route takes, so that fingerprinting reads no more than the handler would.
#[derive(Debug, Clone, Copy)]
pub enum BodyLimit {
    /// `GALLEY_BODY_LIMIT_BYTES` (JSON bodies).
    Json,
    /// An image upload: `GALLEY_IMAGE_MAX_BYTES` and the form around it.
    Upload,
    /// No limit (an NDJSON import streams for as long as it has lines).
    None,
}

impl BodyLimit {
    fn bytes(self, state: &AppState) -> Option<u64> {
        match self {
            Self::Json => Some(state.config.body_limit_bytes as u64),
            Self::Upload => Some(state.media.max_upload_bytes + 1024 * 1024),
            Self::None => None,
        }
    }
}

/// Route middleware: gives a `POST` with `Idempotency-Key` its once-only semantics.
async fn layer(
    Extension(state): Extension<std::sync::Arc<AppState>>,
    limit: BodyLimit,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(&IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    idempotent(&state, limit.bytes(&state), request, next)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn idempotent(
    state: &AppState,
    limit: Option<u64>,
    request: Request,
    next: Next,
) -> ApiResult<Response> {
    let key = parse_key(request.headers())?;
    let (mut parts, body) = request.into_parts();
    let Some(principal) = MaybeAuth::from_request_parts(&mut parts, state).await?.0 else {
        // Unauthenticated: the handler refuses it; there is no caller to scope a key to.
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let scope = match principal.credential {
        Credential::Session(_) => format!("user:{}", principal.user_id),
        Credential::ApiToken(id) => format!("token:{id}"),
    };
    let credential = crate::accounts::auth::bearer_token(&parts)?.unwrap_or_default();
    let sealing = sealing_key(credential, &scope, &key);
    let (fingerprint, body) = fingerprint(&parts.method, &parts.uri, body, limit).await?;
    let lease = state
        .config
        .upload_timeout
        .max(state.config.request_timeout)
        + std::time::Duration::from_secs(5);
    match claim(state, &scope, &key, &fingerprint, lease).await? {
        Claim::Ours => {}
        Claim::Running => return Err(ApiError::IdempotencyKeyInUse),
        Claim::Mismatch => return Err(ApiError::IdempotencyKeyReused),
        Claim::Done(stored) => return stored.replay(&sealing),
    }
    let mut release = Release::new(state.db.clone(), scope.clone(), key.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status();
    if !(status.is_success() || status.is_redirection()) {
        // A rejected request wrote nothing; the client may fix it and retry with this key.
        release.now().await;
        return Ok(response);
    }
    let (response_parts, response_body) = response.into_parts();
    let bytes = to_bytes(response_body, usize::MAX)
        .await
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("buffering a response: {err}")))?;
    if bytes.len() > MAX_STORED_RESPONSE_BYTES {
        tracing::warn!(
            bytes = bytes.len(),
            "response too large to keep for its idempotency key"
        );
        release.now().await;
        return Ok(Response::from_parts(response_parts, Body::from(bytes)));
    }
    let headers: Map<String, Value> = REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response_parts.headers.get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), Value::String(value.to_owned())))
        })
        .collect();
    let stored = sqlx::query(
        "update idempotency_keys set state = 'done', status = $3, headers = $4, body = $5 \
         where scope = $1 and key = $2",
    )
    .bind(&scope)
    .bind(&key)
    .bind(i16::try_from(status.as_u16()).unwrap_or(200))
    .bind(sqlx::types::Json(&headers))
    .bind(seal(&sealing, &bytes)?)
    .execute(&state.db)
    .await;
    match stored {
        Ok(_) => release.disarm(),
        Err(err) => {
            // The change is made; only the replay is lost. Answer the client all the same.
            tracing::warn!(error = %err, "could not keep the response of an idempotent request");
            release.now().await;
        }
    }
    Ok(Response::from_parts(response_parts, Body::from(bytes)))
}

/// The routes of `routes` with once-only `POST`s, documented: the `Idempotency-Key` header
/// and the answers it adds.
pub fn once<S: Clone + Send + Sync + 'static>(
    routes: UtoipaMethodRouter<S>,
) -> UtoipaMethodRouter<S> {
    once_with(routes, BodyLimit::Json)
}

/// `once`, for a route whose body is not JSON under the global limit.
pub fn once_with<S: Clone + Send + Sync + 'static>(
    routes: UtoipaMethodRouter<S>,
    limit: BodyLimit,
) -> UtoipaMethodRouter<S> {
    use utoipa::openapi::{
        ResponseBuilder,
        path::{ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, Type},
    };
    let (schemas, mut paths, router) = routes;
    for item in paths.paths.values_mut() {
        let Some(op) = item.post.as_mut() else {
            continue;
        };
        let parameter = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .description(Some(
                "Makes the request safe to retry: the same key with the same request replays \
                 the first response (Idempotent-Replayed: true) for 24 h; scoped to the caller.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[!-~]+$")),
            ))
            .build();
        op.parameters
            .get_or_insert_with(Vec::new)
            .push(parameter.into());
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::http::error::PROBLEM_JSON,
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let responses = &mut op.responses.responses;
        responses.entry("409".into()).or_insert_with(|| {
            problem(
                "Conflict; also a request with this Idempotency-Key still running (Retry-After)",
            )
            .into()
        });
        responses.entry("422".into()).or_insert_with(|| {
            problem("Validation failed, or the Idempotency-Key was used for a different request")
                .into()
        });
    }
    let layer =
        axum::middleware::from_fn(move |state, request, next| layer(state, limit, request, next));
    (schemas, paths, router.layer(layer))
}

/// `400` unless the key is 1–255 visible ASCII characters.
fn parse_key(headers: &HeaderMap) -> ApiResult<String> {
    let mut all = headers.get_all(&IDEMPOTENCY_KEY).iter();
    let (Some(value), None) = (all.next(), all.next()) else {
        return Err(ApiError::bad_request("send one Idempotency-Key header"));
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1-255 visible ASCII characters (no spaces)",
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Reads the whole body into its fingerprint and hands back an equal body for the handler.
async fn fingerprint(
    method: &Method,
    uri: &axum::http::Uri,
    body: Body,
    limit: Option<u64>,
) -> ApiResult<([u8; 32], Body)> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(uri.path_and_query().map_or("", |p| p.as_str()).as_bytes());
    hasher.update(b"\n");
    let mut memory: Vec<u8> = Vec::new();
    let mut file: Option<std::fs::File> = None;
    let mut stream = body.into_data_stream();
    let mut read: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|err| ApiError::bad_request(format!("reading the request body: {err}")))?;
        read += chunk.len() as u64;
        if limit.is_some_and(|limit| read > limit) {
            return Err(ApiError::PayloadTooLarge(
                "the request body exceeds the size limit".into(),
            ));
        }
        hasher.update(&chunk);
        match &mut file {
            Some(file) => file.write_all(&chunk).map_err(internal)?,
            None if memory.len() + chunk.len() > MEMORY_SPOOL_BYTES => {
                let mut spool = tempfile::tempfile().map_err(internal)?;
                spool.write_all(&memory).map_err(internal)?;
                spool.write_all(&chunk).map_err(internal)?;
                memory = Vec::new();
                file = Some(spool);
            }
            None => memory.extend_from_slice(&chunk),
        }
    }
    let body = match file {
        None => Body::from(Bytes::from(memory)),
        Some(mut file) => {
            file.seek(SeekFrom::Start(0)).map_err(internal)?;
            Body::from_stream(ReaderStream::new(tokio::fs::File::from_std(file)))
        }
    };
    Ok((hasher.finalize().into(), body))
}

fn internal(err: std::io::Error) -> ApiError {
    ApiError::Internal(err.into())
}

enum Claim {
    Ours,
    Running,
    Mismatch,
    Done(Stored),
}

#[derive(sqlx::FromRow)]
struct Stored {
    status: i16,
    headers: sqlx::types::Json<Map<String, Value>>,
    body: Vec<u8>,
}

impl Stored {
    fn replay(self, sealing: &[u8; 32]) -> ApiResult<Response> {
        let body = open(sealing, &self.body).ok_or_else(|| {
            ApiError::Conflict(
                "the first response to this Idempotency-Key can be replayed only to the \
                 credential (session or token) that sent it"
                    .into(),
            )
        })?;
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::from_u16(u16::try_from(self.status).unwrap_or(200))
            .unwrap_or(StatusCode::OK);
        for (name, value) in self.headers.0 {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name),
                value.as_str().map(HeaderValue::from_str),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
        Ok(response)
    }
}

/// The key a kept response is sealed with: only a client presenting the same credential and
/// Idempotency-Key can derive it.
fn sealing_key(credential: &str, scope: &str, key: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"galley idempotent response v1\0");
    for part in [credential, scope, key] {
        hasher.update(part.as_bytes());
        hasher.update(b"\0");
    }
    hasher.finalize().into()
}

const NONCE_BYTES: usize = 12;

/// `nonce ‖ ciphertext ‖ tag`.
fn seal(key: &[u8; 32], plaintext: &[u8]) -> ApiResult<Vec<u8>> {
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, aead::Aead};
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("no randomness for a nonce: {err}")))?;
    let sealed = ChaCha20Poly1305::new(key.into())
        .encrypt(&Nonce::from(nonce), plaintext)
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("sealing a response failed")))?;
    Ok([nonce.as_slice(), &sealed].concat())
}

fn open(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, aead::Aead};
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_BYTES)?;
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
    ChaCha20Poly1305::new(key.into())
        .decrypt(&Nonce::from(nonce), ciphertext)
        .ok()
}

#[derive(sqlx::FromRow)]
struct Existing {
    request_hash: Vec<u8>,
    state: String,
    status: Option<i16>,
    headers: sqlx::types::Json<Map<String, Value>>,
    body: Option<Vec<u8>>,
}

/// Claims the key for this request, or says why not. A claim that expired or whose request was
/// abandoned (its process died) is taken over.
async fn claim(
    state: &AppState,
    scope: &str,
    key: &str,
    fingerprint: &[u8; 32],
    lease: std::time::Duration,
) -> sqlx::Result<Claim> {
    let ttl = state.config.idempotency_ttl.as_secs_f64();
    // Housekeeping in passing: this caller's expired keys.
    sqlx::query("delete from idempotency_keys where scope = $1 and expires_at < now()")
        .bind(scope)
        .execute(&state.db)
        .await?;
    let claimed = sqlx::query(
        r#"
        insert into idempotency_keys as k (scope, key, request_hash, state, running_until, expires_at)
        values ($1, $2, $3, 'running', now() + make_interval(secs => $4), now() + make_interval(secs => $5))
        on conflict (scope, key) do update
            set request_hash = excluded.request_hash, state = 'running',
                running_until = excluded.running_until, expires_at = excluded.expires_at,
                status = null, headers = '{}', body = null, created_at = now()
            where k.state = 'running' and k.running_until < now()
        "#,
    )
    .bind(scope)
    .bind(key)
    .bind(fingerprint.as_slice())
    .bind(lease.as_secs_f64())
    .bind(ttl)
    .execute(&state.db)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(Claim::Ours);
    }
    let existing: Option<Existing> = sqlx::query_as(
        "select request_hash, state, status, headers, body from idempotency_keys \
         where scope = $1 and key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(&state.db)
    .await?;
    Ok(match existing {
        // Released between the two statements: the retry may run.
        None => Box::pin(claim(state, scope, key, fingerprint, lease)).await?,
        Some(e) if e.request_hash != fingerprint.as_slice() => Claim::Mismatch,
        Some(e) if e.state == "running" => Claim::Running,
        Some(Existing {
            status: Some(status),
            headers,
            body: Some(body),
            ..
        }) => Claim::Done(Stored {
            status,
            headers,
            body,
        }),
        Some(_) => Claim::Running,
    })
}

/// Releases a claimed key unless disarmed, also when the request is dropped midway (the
/// client went away): the key must not stay `running` until its lease ends.
struct Release {
    armed: Option<(sqlx::PgPool, String, String)>,
}

impl Release {
    fn new(db: sqlx::PgPool, scope: String, key: String) -> Self {
        Self {
            armed: Some((db, scope, key)),
        }
    }

    fn disarm(&mut self) {
        self.armed = None;
    }

    async fn now(&mut self) {
        if let Some((db, scope, key)) = self.armed.take() {
            release(&db, &scope, &key).await;
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some((db, scope, key)) = self.armed.take() {
            tokio::spawn(async move { release(&db, &scope, &key).await });
        }
    }
}

async fn release(db: &sqlx::PgPool, scope: &str, key: &str) {
    let result = sqlx::query(
        "delete from idempotency_keys where scope = $1 and key = $2 and state = 'running'",
    )
    .bind(scope)
    .bind(key)
    .execute(db)
    .await;
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not release an idempotency key");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> ApiResult<String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            &IDEMPOTENCY_KEY,
            HeaderValue::from_str(value).expect("header"),
        );
        parse_key(&headers)
    }

    #[test]
    fn a_sealed_response_opens_only_with_its_credential() {
        let mine = sealing_key("gls_a", "user:1", "k");
        let sealed = seal(&mine, b"{\"token\":\"glt_secret\"}").expect("seal");
        assert!(!sealed.windows(10).any(|w| w == b"glt_secret"));
        assert_eq!(
            open(&mine, &sealed).as_deref(),
            Some(&b"{\"token\":\"glt_secret\"}"[..])
        );
        assert!(open(&sealing_key("gls_b", "user:1", "k"), &sealed).is_none());
        assert!(open(&sealing_key("gls_a", "user:1", "other"), &sealed).is_none());
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(key("a").is_ok());
        assert!(key(&"k".repeat(255)).is_ok());
        assert!(key(&"k".repeat(256)).is_err());
        assert!(key("").is_err());
        assert!(key("with space").is_err());
        assert!(key("tab\there").is_err());
    }
}
