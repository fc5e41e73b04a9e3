//! Who is calling: extractors for bearer tokens and browser session cookies, and the client
//! address.
//!
//! A request without `Authorization` or a session cookie is anonymous. A request *with* one is
//! authenticated or refused: an invalid, expired or revoked token or session is a `401`, never
//! quietly downgraded to anonymous (a frontend with a dead token must notice, not start
//! serving public pages).

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use uuid::Uuid;

use super::{
    credentials::{API_TOKEN_PREFIX, SESSION_PREFIX, hash_token},
    role::Role,
    session_cookie,
};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session(Uuid),
    ApiToken(Uuid),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    /// The effective role: for an API token, the lower of the token's and its creator's
    /// current role, so demoting a user also demotes their tokens.
    pub role: Role,
    pub author_id: Option<Uuid>,
    pub credential: Credential,
}

impl Principal {
    /// `403` unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this requires the {} role or higher",
                role.as_str()
            )))
        }
    }
}

/// A caller that must be signed in (`401` otherwise).
pub struct Auth(pub Principal);

/// A caller that may be anonymous.
pub struct MaybeAuth(pub Option<Principal>);

/// A reader of published content: anonymous is fine unless `GALLEY_PUBLIC_READ=false`.
pub struct ReadAccess(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        if let Some(cached) = parts.extensions.get::<Option<Principal>>() {
            return Ok(Self(cached.clone()));
        }
        let principal = authenticate(parts, state).await?;
        parts.extensions.insert(principal.clone());
        Ok(Self(principal))
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        match MaybeAuth::from_request_parts(parts, state).await?.0 {
            Some(principal) => Ok(Self(principal)),
            None => Err(ApiError::Unauthorized(
                "sign in: send Authorization: Bearer <token>",
            )),
        }
    }
}

impl FromRequestParts<AppState> for ReadAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let principal = MaybeAuth::from_request_parts(parts, state).await?.0;
        if principal.is_none() && !state.config.public_read {
            return Err(ApiError::Unauthorized(
                "this server requires a token for every read",
            ));
        }
        Ok(Self(principal))
    }
}

/// The bearer token, if the request carries an `Authorization` header.
pub fn bearer_token(parts: &Parts) -> ApiResult<Option<&str>> {
    let mut all = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        // Which one a proxy or cache would act on is anyone's guess: refuse rather than pick.
        return Err(ApiError::bad_request(
            "the request carries more than one Authorization header",
        ));
    }
    let malformed = || ApiError::Unauthorized("the Authorization header must be 'Bearer <token>'");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token))
}

async fn authenticate(parts: &Parts, state: &AppState) -> ApiResult<Option<Principal>> {
    let cookie = session_cookie::token(&parts.headers, &state.config);
    let token = match (bearer_token(parts)?, cookie) {
        (Some(_), Some(_)) => {
            // Which one to act for is ambiguous, and a script adding a token to a signed-in
            // browser's request should not ride on the cookie.
            return Err(ApiError::bad_request(
                "the request carries both a session cookie and an Authorization header; send one",
            ));
        }
        (None, Some(cookie)) => {
            session_cookie::check_request(parts, &state.config)?;
            let signed_out =
                ApiError::Unauthorized("the session has expired or was ended: sign in again");
            if !cookie.starts_with(SESSION_PREFIX) {
                return Err(signed_out);
            }
            return session_principal(state, &hash_token(cookie))
                .await?
                .map(Some)
                .ok_or(signed_out);
        }
        (Some(token), None) => token,
        (None, None) => return Ok(None),
    };
    let invalid = ApiError::Unauthorized("the token is invalid, expired or revoked");
    let hash = hash_token(token);
    let principal = if token.starts_with(SESSION_PREFIX) {
        session_principal(state, &hash).await?
    } else if token.starts_with(API_TOKEN_PREFIX) {
        api_token_principal(state, &hash).await?
    } else {
        None
    };
    principal.map(Some).ok_or(invalid)
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    role: Role,
    author_id: Option<Uuid>,
}

async fn session_principal(state: &AppState, hash: &[u8]) -> ApiResult<Option<Principal>> {
    let row: Option<SessionRow> = sqlx::query_as(
        r#"
        select s.id, u.id as user_id, u.role, u.author_id
        from sessions s
        join users u on u.id = s.user_id
        where s.token_hash = $1 and s.expires_at > now() and not u.disabled
        "#,
    )
    .bind(hash)
    .fetch_optional(&state.db)
    .await?;
    Ok(row.map(|r| Principal {
        user_id: r.user_id,
        role: r.role,
        author_id: r.author_id,
        credential: Credential::Session(r.id),
    }))
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    token_role: Role,
    user_role: Role,
    author_id: Option<Uuid>,
    last_used_at: Option<DateTime<Utc>>,
}

async fn api_token_principal(state: &AppState, hash: &[u8]) -> ApiResult<Option<Principal>> {
    let row: Option<TokenRow> = sqlx::query_as(
        r#"
        select t.id, u.id as user_id, t.role as token_role, u.role as user_role,
               u.author_id, t.last_used_at
        from api_tokens t
        join users u on u.id = t.user_id
        where t.token_hash = $1
          and (t.expires_at is null or t.expires_at > now())
          and not u.disabled
        "#,
    )
    .bind(hash)
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    // A write per request would make every API read a write; a minute's precision is plenty
    // to tell a live token from a forgotten one.
    let stale = row
        .last_used_at
        .is_none_or(|t| Utc::now() - t > chrono::Duration::seconds(60));
    if stale {
        sqlx::query("update api_tokens set last_used_at = now() where id = $1")
            .bind(row.id)
            .execute(&state.db)
            .await?;
    }
    let role = row.token_role.min(row.user_role);
    Ok(Some(Principal {
        user_id: row.user_id,
        role,
        author_id: row.author_id,
        credential: Credential::ApiToken(row.id),
    }))
}

/// The client's address: the peer, or — only when the peer is a configured trusted proxy —
/// the right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        Ok(Self(peer.map(|peer| {
            resolve_client_ip(peer, &forwarded, &state.config.trusted_proxies)
        })))
    }
}

pub fn resolve_client_ip(peer: IpAddr, forwarded: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            // A garbled hop: stop believing anything to its left.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        assert_eq!(
            resolve_client_ip(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve_client_ip(
                ip("10.0.0.2"),
                &["1.2.3.4", "198.51.100.7", "10.0.0.5"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), &[], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), &["junk", "198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
    }
}
