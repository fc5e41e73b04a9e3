//! Browser sessions (API.md §8): the session token in an `HttpOnly` cookie, so no script in
//! the page can read it, with the two checks that make a cookie safe to accept on writes —
//! a custom header (a cross-site form cannot set one) and an `Origin` that is ours.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header, request::Parts};

use crate::{config::Config, http::error::ApiError};

/// The cookie's name: the `__Host-` prefix makes browsers refuse it unless `Secure`, for
/// `Path=/` and without `Domain`, so no sibling host can plant or widen it.
pub const SECURE_NAME: &str = "__Host-galley_session";
/// Only with `GALLEY_COOKIE_SECURE=false` (plain HTTP reached by a host name).
pub const PLAIN_NAME: &str = "galley_session";

/// Any value; what matters is that a cross-site form or image cannot send it.
pub static CSRF_HEADER: HeaderName = HeaderName::from_static("x-galley-csrf");

pub fn name(config: &Config) -> &'static str {
    if config.cookie_secure {
        SECURE_NAME
    } else {
        PLAIN_NAME
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn find<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The session token the configured cookie carries.
pub fn token<'h>(headers: &'h HeaderMap, config: &Config) -> Option<&'h str> {
    find(headers, name(config))
}

/// Whether the request carries credentials of any kind: such answers are never public, never
/// kept by a cache and never carry purge keys.
pub fn carries_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
        || find(headers, SECURE_NAME).is_some()
        || find(headers, PLAIN_NAME).is_some()
}

/// `Set-Cookie` for a new session of `max_age_secs`.
pub fn set(config: &Config, token: &str, max_age_secs: u64) -> Option<HeaderValue> {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}",
        name(config)
    ))
    .ok()
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear(config: &Config) -> Option<HeaderValue> {
    set(config, "", 0)
}

/// Refuses a cookie-authenticated request that a page of another origin could have made: any
/// `Origin` must be ours or one of `GALLEY_CORS_ORIGINS`, and a write must carry `Origin` and
/// `X-Galley-CSRF`.
pub fn check_request(parts: &Parts, config: &Config) -> Result<(), ApiError> {
    let origin = parts.headers.get(header::ORIGIN);
    if let Some(origin) = origin
        && !is_ours(origin, parts)
        && !config.cors_origins.iter().any(|allowed| allowed == origin)
    {
        return Err(ApiError::Forbidden(
            "a session cookie is accepted only from this server's own pages (the Origin is \
             another site's)"
                .into(),
        ));
    }
    let write = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if write && origin.is_none() {
        return Err(ApiError::Forbidden(
            "a write with a session cookie must carry the Origin header".into(),
        ));
    }
    if write && !parts.headers.contains_key(&CSRF_HEADER) {
        return Err(ApiError::Forbidden(
            "a write with a session cookie must carry the X-Galley-CSRF header".into(),
        ));
    }
    Ok(())
}

/// Whether `Origin` names the host the request was sent to.
fn is_ours(origin: &HeaderValue, parts: &Parts) -> bool {
    let Some(host) = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(cookie).expect("header"),
        );
        headers
    }

    #[test]
    fn finds_the_session_among_other_cookies() {
        let h = headers("theme=dark; __Host-galley_session=gls_abc ; lang=zh");
        assert_eq!(find(&h, SECURE_NAME), Some("gls_abc"));
        assert_eq!(find(&h, PLAIN_NAME), None);
        assert!(carries_credentials(&h));
        assert!(!carries_credentials(&headers("theme=dark")));
        assert_eq!(find(&headers("__Host-galley_session="), SECURE_NAME), None);
    }
}
