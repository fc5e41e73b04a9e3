//! Extractors whose rejections are our problem responses, never axum's plain text.

use std::borrow::Cow;

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    http::{HeaderMap, header, request::Parts},
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::pagination::ListParams;
use super::{
    error::{ApiError, FieldError},
    strict::{Strict, has_nul_escape, nul_path},
};

/// A JSON body: `415` unless the content type is JSON, `413` past the body limit, `400` when the
/// bytes are not JSON, `422` (with the field's path) when they are JSON of the wrong shape,
/// including unknown fields.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status().as_u16() {
                    413 => {
                        ApiError::PayloadTooLarge("the request body exceeds the size limit".into())
                    }
                    _ => ApiError::bad_request(rejection.body_text()),
                })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON document the way request bodies are parsed (also used per NDJSON line):
/// structs only from objects, no NUL in any string, field errors by path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    reject_nul(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(Strict(&mut deserializer)).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = without_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => {
                ApiError::Validation(vec![shown_error(field_of(&path, &message), message)])
            }
            serde_json::error::Category::Eof if bytes.iter().all(u8::is_ascii_whitespace) => {
                ApiError::bad_request("the request body is empty; expected a JSON document")
            }
            _ => ApiError::bad_request(format!("malformed JSON: {message}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::bad_request(format!("malformed JSON: {err}")))?;
    Ok(value)
}

/// Deserializes an already parsed JSON value, with the same rules and field errors as
/// `parse_json` (the value must come from bytes `reject_nul` passed).
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Strict(value)).map_err(|err| {
        let path = err.path().to_string();
        let message = without_position(&err.inner().to_string());
        ApiError::Validation(vec![shown_error(field_of(&path, &message), message)])
    })
}

/// A `422` naming the first string holding NUL (U+0000), which PostgreSQL cannot store.
pub fn reject_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !has_nul_escape(bytes) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        // Malformed anyway: the parse that follows reports it.
        return Ok(());
    };
    match nul_path(&value) {
        Some(path) => Err(ApiError::Validation(vec![shown_error(path, NUL_MESSAGE)])),
        None => Ok(()),
    }
}

pub const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// Fields whose value is a secret: an error about one never repeats what was sent.
const SECRET_FIELDS: [&str; 5] = [
    "password",
    "current_password",
    "new_password",
    "token",
    "secret",
];

/// Echoed input is cut to this many characters: a 1 MiB field name is not sent back whole.
const MAX_ECHOED_CHARS: usize = 200;

/// A field error as a client sees it: secrets never echoed, long input truncated.
fn shown_error(field: String, message: impl Into<String>) -> FieldError {
    let last = field.rsplit(['.', ']']).next().unwrap_or_default();
    let message: String = message.into();
    let message = if SECRET_FIELDS.contains(&last) && message != NUL_MESSAGE {
        "invalid value (not shown: the field holds a secret); expected a string".to_owned()
    } else {
        truncate(message)
    };
    FieldError::new(truncate(field), message)
}

/// Cuts text to `MAX_ECHOED_CHARS` characters, marking the cut.
pub fn truncate(text: String) -> String {
    match text.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The request's media type, lowercased and without parameters (`multipart/form-data` for
/// `multipart/form-data; boundary=…`): every content-type check goes through here.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|essence| {
        essence == "application/json"
            || (essence.starts_with("application/")
                && essence.len() > 17
                && essence.ends_with("+json"))
    })
}

/// serde_json appends "at line 1 column 7" to messages; the field path says more.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The field a serde message is about: the path, or for missing/unknown fields the name
/// serde quotes (the path then points at the enclosing object).
fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (_, Some(name)) if message.starts_with("missing") => format!("{path}.{name}"),
        _ if path == "." => String::new(),
        _ => path.to_owned(),
    }
}

/// Query parameters: anything malformed or unknown is a `400` naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        reject_nul_in_query(query)?;
        deserialize_query(query).map(ApiQuery)
    }
}

/// A list's query: the paging parameters every list shares (`ListParams`: `limit`, `cursor`,
/// `page`, `sort`) and the list's own filters `T`. Both are held to `ApiQuery`'s rules; a
/// parameter neither knows is a `400`. Document the operation with `params(ListParams, T)`.
pub struct ListQuery<T>(pub ListParams, pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ListQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        reject_nul_in_query(query)?;
        let (paging, own): (Vec<_>, Vec<_>) = form_urlencoded::parse(query.as_bytes())
            .partition(|(name, _)| ListParams::NAMES.contains(&name.as_ref()));
        let encode = |pairs: Vec<(Cow<'_, str>, Cow<'_, str>)>| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        };
        let paging = deserialize_query(&encode(paging))?;
        let own = deserialize_query(&encode(own))?;
        Ok(ListQuery(paging, own))
    }
}

fn reject_nul_in_query(query: &str) -> Result<(), ApiError> {
    match form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        Some((name, _)) => Err(ApiError::bad_request(truncate(format!(
            "invalid query parameter '{}': {NUL_MESSAGE}",
            name.replace('\0', "%00")
        )))),
        None => Ok(()),
    }
}

fn deserialize_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let message = err
            .into_inner()
            .to_string()
            .replace("unknown field", "unknown query parameter");
        if path == "." {
            ApiError::bad_request(truncate(format!("invalid query: {message}")))
        } else {
            ApiError::bad_request(truncate(format!(
                "invalid query parameter '{path}': {message}"
            )))
        }
    })
}

/// A resource addressed by UUID only.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = path_segment(parts, state).await?;
        Uuid::parse_str(&raw).map(PathId).map_err(|_| {
            ApiError::bad_request(truncate(format!("'{raw}' is not a valid id (a UUID)")))
        })
    }
}

/// A resource addressed by id or by slug (`/v1/authors/guan-jing-peng`).
#[derive(Debug, Clone)]
pub enum IdOrSlug {
    Id(Uuid),
    Slug(String),
}

impl IdOrSlug {
    /// The two optional bind values for `where id = $1 or slug = $2`.
    pub fn binds(&self) -> (Option<Uuid>, Option<&str>) {
        match self {
            Self::Id(id) => (Some(*id), None),
            Self::Slug(slug) => (None, Some(slug)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdOrSlug {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = path_segment(parts, state).await?;
        if let Ok(id) = Uuid::parse_str(&raw) {
            return Ok(Self::Id(id));
        }
        // A string that is not a valid slug cannot name anything: not found, not a bad request.
        if crate::slug::validate(&raw).is_err() {
            return Err(ApiError::NotFound);
        }
        Ok(Self::Slug(raw))
    }
}

/// The `{id}` segment of the path (the only one, or the one named `id`), percent-decoded.
async fn path_segment<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<String, ApiError> {
    path_param(parts, state, "id").await
}

/// A named path segment, percent-decoded.
pub async fn path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let mut all = params.iter();
    let only = all.next();
    if let (Some((_, value)), None) = (only, all.next()) {
        return Ok(value.to_owned());
    }
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("route has no path parameter '{name}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialised")]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialised")]
    struct Item {
        url: String,
    }

    fn field(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn shape_errors_name_the_field_path() {
        assert_eq!(field(r#"{"items": []}"#), "name");
        assert_eq!(field(r#"{"name": "x", "items": [], "nme": 1}"#), "nme");
        assert_eq!(
            field(r#"{"name": "x", "items": [{"url": 5}]}"#),
            "items[0].url"
        );
        assert_eq!(field(r#"{"name": "x", "items": [{}]}"#), "items[0].url");
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\": "),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"{\"name\": \"x\", \"items\": []} trailing"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"  "),
            Err(ApiError::BadRequest(_))
        ));
    }
}
