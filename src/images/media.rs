//! `GET /media/images/{id}/{file}`: media files from storage (local or S3), immutable and
//! cacheable for a year, with strong ETags and single byte-range requests.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

/// A media file (original or variant). Public; never changes once written.
#[utoipa::path(get, path = "/media/images/{id}/{file}", tag = "images",
    params(
        ("id" = Uuid, Path, description = "Image id"),
        ("file" = String, Path, description = "`original.jpg`, `640.webp`, …"),
        ("range" = Option<String>, Header, description = "A single byte range, e.g. `bytes=0-1023`"),
    ),
    responses(
        (status = 200, description = "The file"),
        (status = 206, description = "The requested byte range"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such file", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 416, description = "Range not satisfiable"),
    ))]
pub async fn get_media_file(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let content_type = content_type_of(&file).ok_or(ApiError::NotFound)?;
    let key = format!("images/{id}/{file}");
    let storage = &state.media.storage;
    let length = storage.size(&key).await?.ok_or(ApiError::NotFound)?;

    // The key names the content for ever (ids are never reused), so it can be the validator.
    let etag = format!("\"{}-{}\"", id.simple(), file.replace('.', "-"));
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(super::storage::IMMUTABLE),
    );
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }

    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|wanted| crate::http::middleware::etag_matches(wanted, &etag));
    if not_modified {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }

    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, length));
    match range {
        None => {
            response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            let body = storage.read(&key, 0, length).await?;
            Ok((StatusCode::OK, response_headers, body).into_response())
        }
        Some(Err(())) => {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
                response_headers.insert(header::CONTENT_RANGE, value);
            }
            Ok((StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response())
        }
        Some(Ok((start, end))) => {
            let count = end - start + 1;
            response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{length}")) {
                response_headers.insert(header::CONTENT_RANGE, value);
            }
            let body = storage.read(&key, start, count).await?;
            Ok((StatusCode::PARTIAL_CONTENT, response_headers, body).into_response())
        }
    }
}

/// The media type of a stored file name; `None` for names Galley never writes.
fn content_type_of(file: &str) -> Option<&'static str> {
    let (stem, extension) = file.split_once('.')?;
    let stem_ok = stem == "original"
        || (!stem.is_empty() && stem.len() <= 5 && stem.bytes().all(|b| b.is_ascii_digit()));
    if !stem_ok {
        return None;
    }
    Some(match extension {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => return None,
    })
}

/// A single `bytes=` range against a file of `length` bytes: `None` to serve the whole file
/// (no range, or one we do not honour such as multiple ranges), `Some(Err)` when unsatisfiable.
fn parse_range(header: &str, length: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 {
                return Some(Err(()));
            }
            (length.saturating_sub(n), length.checked_sub(1)?)
        }
        (start, "") => (start.parse().ok()?, length.checked_sub(1)?),
        (start, end) => {
            let (s, e): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            if e < s {
                return None;
            }
            (s, e.min(length.checked_sub(1)?))
        }
    };
    if start >= length {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=9-2", 100), None);
    }

    #[test]
    fn only_names_galley_writes_are_served() {
        assert_eq!(content_type_of("original.jpg"), Some("image/jpeg"));
        assert_eq!(content_type_of("640.webp"), Some("image/webp"));
        for bad in [
            "..",
            "../x.jpg",
            "original.svg",
            "passwd",
            ".jpg",
            "640.webp.partial",
            "a.png",
        ] {
            assert_eq!(content_type_of(bad), None, "{bad}");
        }
    }
}
