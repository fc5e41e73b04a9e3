//! Signing in and out, with throttling of failed attempts per account and per client.

use std::net::IpAddr;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    auth::{Auth, ClientIp, Credential},
    credentials::{SESSION_PREFIX, new_token},
    session_cookie,
    users::{User, UserRow},
};
use crate::app::AppState;
use crate::http::{
    error::{ApiError, ApiResult, Problem},
    extract::ApiJson,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
    /// `token` (default): the session token comes in the body, for scripts. `cookie`: it is
    /// set as an `HttpOnly` cookie instead, for browser apps on this origin (API.md §8).
    #[serde(default)]
    session: SessionKind,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    #[default]
    Token,
    Cookie,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// A session token (`gls_…`): send as `Authorization: Bearer <token>`. Absent for
    /// `"session": "cookie"`, whose token only the browser holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    expires_at: DateTime<Utc>,
    user: User,
}

#[derive(sqlx::FromRow)]
struct Credentials {
    id: Uuid,
    password_hash: String,
    disabled: bool,
}

/// Sign in with email and password.
///
/// An unknown email and a wrong password get the same `401` in the same time. Repeated
/// failures for one account or from one client address are answered `429` with `Retry-After`.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let email_key = body.email.trim().to_lowercase();
    let client = client_ip.as_ref().map(IpAddr::to_string);
    check_throttle(&state, &email_key, client.as_deref()).await?;

    let account: Option<Credentials> =
        sqlx::query_as("select id, password_hash, disabled from users where lower(email) = $1")
            .bind(&email_key)
            .fetch_optional(&state.db)
            .await?;
    let (user_id, hash, disabled) = match account {
        Some(a) => (Some(a.id), Some(a.password_hash), a.disabled),
        None => (None, None, false),
    };
    // Verified even for a disabled account, so the answer's timing says nothing.
    let password_ok = state.passwords.verify(body.password, hash).await?;
    let Some(user_id) = user_id.filter(|_| password_ok && !disabled) else {
        record_failure(&state, &email_key, client.as_deref()).await?;
        tracing::info!(client.ip = client.as_deref().unwrap_or("-"), "login failed");
        return Err(ApiError::InvalidCredentials);
    };

    let (token, token_hash) = new_token(SESSION_PREFIX);
    let ttl_secs = state.config.session_ttl.as_secs_f64();
    let mut tx = state.db.begin().await?;
    let expires_at: DateTime<Utc> = sqlx::query_scalar(
        r#"
        insert into sessions (id, user_id, token_hash, expires_at)
        values ($1, $2, $3, now() + make_interval(secs => $4))
        returning expires_at
        "#,
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(token_hash)
    .bind(ttl_secs)
    .fetch_one(&mut *tx)
    .await?;
    let row: UserRow = sqlx::query_as(
        r#"
        update users as u set last_login_at = now() where u.id = $1
        returning u.id, u.email, u.name, u.role, u.author_id, u.disabled, u.last_login_at,
                  u.created_at, u.updated_at
        "#,
    )
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    // Housekeeping rides on a successful login: the account's failures are forgiven and its
    // expired sessions dropped.
    sqlx::query("delete from login_failures where email_key = $1")
        .bind(&email_key)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from sessions where user_id = $1 and expires_at <= now()")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(user.id = %user_id, "signed in");
    let mut headers = HeaderMap::new();
    // The answer carries the session token: no cache, shared or private, may keep it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let token = match body.session {
        SessionKind::Token => Some(token),
        SessionKind::Cookie => {
            let cookie =
                session_cookie::set(&state.config, &token, state.config.session_ttl.as_secs())
                    .ok_or_else(|| {
                        ApiError::Internal(anyhow::anyhow!("session cookie not a header"))
                    })?;
            headers.insert(header::SET_COOKIE, cookie);
            None
        }
    };
    Ok((
        headers,
        Json(LoginResponse {
            token,
            expires_at,
            user: row.into(),
        }),
    ))
}

#[derive(sqlx::FromRow)]
struct FailureCounts {
    account_failures: i64,
    account_oldest: Option<DateTime<Utc>>,
    client_failures: i64,
    client_oldest: Option<DateTime<Utc>>,
}

async fn check_throttle(state: &AppState, email_key: &str, client: Option<&str>) -> ApiResult<()> {
    let window_secs = state.config.login_failure_window.as_secs_f64();
    let counts: FailureCounts = sqlx::query_as(
        r#"
        select count(*) filter (where email_key = $1) as account_failures,
               min(at) filter (where email_key = $1) as account_oldest,
               count(*) filter (where client_ip = $2) as client_failures,
               min(at) filter (where client_ip = $2) as client_oldest
        from login_failures
        where (email_key = $1 or client_ip = $2) and at > now() - make_interval(secs => $3)
        "#,
    )
    .bind(email_key)
    .bind(client)
    .bind(window_secs)
    .fetch_one(&state.db)
    .await?;
    let window = chrono::Duration::from_std(state.config.login_failure_window)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let blocked_until = [
        (counts.account_failures >= state.config.login_failures_per_account)
            .then_some(counts.account_oldest)
            .flatten(),
        (counts.client_failures >= state.config.login_failures_per_client)
            .then_some(counts.client_oldest)
            .flatten(),
    ]
    .into_iter()
    .flatten()
    .map(|oldest| oldest + window)
    .max();
    if let Some(until) = blocked_until {
        let retry_after_secs = (until - Utc::now()).num_seconds().max(1) as u64;
        tracing::warn!(
            client.ip = client.unwrap_or("-"),
            retry_after_secs,
            "login throttled"
        );
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    Ok(())
}

async fn record_failure(state: &AppState, email_key: &str, client: Option<&str>) -> ApiResult<()> {
    sqlx::query("insert into login_failures (email_key, client_ip) values ($1, $2)")
        .bind(email_key)
        .bind(client)
        .execute(&state.db)
        .await?;
    // Rows past any window are dead weight; pruning here keeps the table small without a job.
    sqlx::query("delete from login_failures where at < now() - interval '1 day'")
        .execute(&state.db)
        .await?;
    Ok(())
}

/// Sign out: the session stops working at once, and a browser session's cookie is cleared.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    Auth(principal): Auth,
    request: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let Credential::Session(session_id) = principal.credential else {
        return Err(ApiError::bad_request(
            "logout ends a session; revoke an API token with DELETE /v1/tokens/{id}",
        ));
    };
    sqlx::query("delete from sessions where id = $1")
        .bind(session_id)
        .execute(&state.db)
        .await?;
    let mut headers = HeaderMap::new();
    // Authenticated by the cookie (a request never carries both): the browser forgets it.
    if session_cookie::token(&request, &state.config).is_some()
        && let Some(clear) = session_cookie::clear(&state.config)
    {
        headers.insert(header::SET_COOKIE, clear);
    }
    Ok((StatusCode::NO_CONTENT, headers))
}
