//! Receiving a multipart upload: the `file` part is streamed to a temporary file while its
//! SHA-256 is computed and the size limit enforced (`413` the moment it is crossed). The
//! temporary file is removed when the `Upload` is dropped, whatever happens next.

use axum::{
    body::Body,
    extract::{
        FromRequest, Multipart, Request,
        multipart::{Field, MultipartError},
    },
    http::header,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

use super::multipart_guard::{Breach, Guard, MAX_HEADER_BYTES};
use crate::http::error::{ApiError, ApiResult};

/// What a form may hold besides the file: three text fields, part headers, boundaries.
const FORM_OVERHEAD_BYTES: u64 = 4 * MAX_TEXT_FIELD_BYTES as u64 + 4 * MAX_HEADER_BYTES as u64;
/// Text fields are captions, not essays; anything longer is refused while reading.
const MAX_TEXT_FIELD_BYTES: usize = 16 * 1024;
/// A form has at most four parts; a stream of endless repeated fields is cut off.
const MAX_PARTS: usize = 8;

pub struct Upload {
    pub file: NamedTempFile,
    pub size: u64,
    pub sha256: [u8; 32],
    /// What the client called the file: kept as metadata, never used in a path.
    pub filename: Option<String>,
    pub alt: Option<String>,
    pub caption: Option<String>,
    pub credit: Option<String>,
}

/// Reads the multipart body of `request`.
pub async fn receive(request: Request, max_bytes: u64) -> ApiResult<Upload> {
    if crate::http::extract::media_type(request.headers()).as_deref() != Some("multipart/form-data")
    {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: multipart/form-data with a `file` part".into(),
        ));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = boundary_of(content_type)
        .ok_or_else(|| ApiError::bad_request("the multipart Content-Type has no boundary"))?;
    let mut guard = Guard::new(&boundary, max_bytes + FORM_OVERHEAD_BYTES);
    let breach = guard.breach.clone();
    let (parts, body) = request.into_parts();
    let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(axum::BoxError::from)?;
        guard.feed(&chunk)?;
        Ok::<_, axum::BoxError>(chunk)
    }));
    let request = Request::from_parts(parts, body);
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let malformed = |err: MultipartError| match breach.lock().ok().and_then(|b| *b) {
        Some(Breach::TooLarge) => ApiError::PayloadTooLarge(format!(
            "the upload is larger than the limit of {max_bytes} bytes"
        )),
        Some(Breach::HeadersTooLarge) => ApiError::bad_request(format!(
            "a form part's headers (or the preamble) exceed {MAX_HEADER_BYTES} bytes"
        )),
        None => ApiError::bad_request(format!("malformed multipart body: {}", err.body_text())),
    };

    let mut file: Option<(NamedTempFile, u64, [u8; 32], Option<String>)> = None;
    let (mut alt, mut caption, mut credit) = (None, None, None);
    let mut parts = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::bad_request(format!(
                "an upload has at most {MAX_PARTS} form parts"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(ApiError::invalid("file", "only one file per upload"));
                }
                let filename = field.file_name().map(sanitize_filename);
                let (temp, size, sha256) = spool(&mut field, max_bytes, &malformed).await?;
                file = Some((temp, size, sha256, filename));
            }
            "alt" | "caption" | "credit" => {
                let text = text_field(&mut field, &name, &malformed).await?;
                let slot = match name.as_str() {
                    "alt" => &mut alt,
                    "caption" => &mut caption,
                    _ => &mut credit,
                };
                *slot = Some(text);
            }
            other => {
                return Err(ApiError::invalid(
                    crate::http::extract::truncate(other.to_owned()),
                    "unknown field; expected file, alt, caption, credit",
                ));
            }
        }
    }
    let (file, size, sha256, filename) =
        file.ok_or_else(|| ApiError::invalid("file", "is required"))?;
    Ok(Upload {
        file,
        size,
        sha256,
        filename,
        alt,
        caption,
        credit,
    })
}

/// Writes the file part to a temporary file as it arrives, hashing it: its size, bounded by
/// `max_bytes`, and its SHA-256.
async fn spool(
    field: &mut Field<'_>,
    max_bytes: u64,
    malformed: &impl Fn(MultipartError) -> ApiError,
) -> ApiResult<(NamedTempFile, u64, [u8; 32])> {
    let internal = |e: std::io::Error| ApiError::Internal(e.into());
    let temp = NamedTempFile::with_prefix("galley-upload-").map_err(internal)?;
    let mut out = tokio::fs::File::from_std(temp.reopen().map_err(internal)?);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = field.chunk().await.map_err(malformed)? {
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "the file is larger than the limit of {max_bytes} bytes"
            )));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(internal)?;
    }
    out.flush().await.map_err(internal)?;
    Ok((temp, size, hasher.finalize().into()))
}

/// A text part (`alt`, `caption`, `credit`): UTF-8, bounded, no NUL.
async fn text_field(
    field: &mut Field<'_>,
    name: &str,
    malformed: &impl Fn(MultipartError) -> ApiError,
) -> ApiResult<String> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(malformed)? {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_TEXT_FIELD_BYTES {
            return Err(ApiError::invalid(name, "is too long"));
        }
    }
    let text =
        String::from_utf8(text).map_err(|_| ApiError::invalid(name, "must be UTF-8 text"))?;
    if text.contains('\0') {
        return Err(ApiError::invalid(name, crate::http::extract::NUL_MESSAGE));
    }
    Ok(text)
}

/// The `boundary` parameter of a multipart Content-Type, unquoted.
fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 70).then(|| value.to_owned())
    })
}

/// Keeps the last path component, without control characters, at most 255 characters:
/// `../../etc/passwd` is stored as `passwd`, and only ever shown, never opened.
fn sanitize_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    last.chars().filter(|c| !c.is_control()).take(255).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_file_names_lose_their_directories() {
        assert_eq!(super::sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            super::sanitize_filename("C:\\photos\\wang xu.jpg"),
            "wang xu.jpg"
        );
        assert_eq!(super::sanitize_filename("a\u{0}b.png"), "ab.png");
    }
}
