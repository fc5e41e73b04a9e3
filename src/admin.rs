//! The admin client at `/admin`: the files `npm run build` left in `admin/dist` (committed,
//! like a lockfile), embedded in the binary so that `galley serve` needs no Node and no files
//! beside it. Hashed assets are `immutable`; the page itself is `no-cache`, so a new release is
//! picked up at the next load. Every path that is not a file is the page: the app routes it.

use axum::{
    Router,
    body::Body,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use rust_embed::Embed;

use crate::http::error::ApiError;

#[derive(Embed)]
#[folder = "admin/dist"]
struct Files;

/// The page's policy: its own scripts and styles only (no inline script, no eval), API calls to
/// this origin, images also as `blob:`/`data:` (previews of uploads), never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const PAGE: &str = "index.html";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(|| async { file(PAGE) }))
        .route(
            "/admin/{*path}",
            get(|Path(path): Path<String>| async move {
                if Files::get(&path).is_some() {
                    file(&path)
                } else if path.starts_with("assets/") {
                    // A stale page asking for an asset of an older release: say so, rather
                    // than answering a script request with HTML.
                    ApiError::NotFound.into_response()
                } else {
                    file(PAGE)
                }
            }),
        )
}

fn file(path: &str) -> Response {
    let Some(found) = Files::get(path) else {
        return ApiError::NotFound.into_response();
    };
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = (StatusCode::OK, Body::from(found.data.into_owned())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
