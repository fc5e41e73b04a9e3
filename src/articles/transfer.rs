//! Bulk import and export as NDJSON, one article a line, shared by the HTTP endpoints and the
//! `galley import` / `galley export` commands.
//!
//! Import streams: lines are cut from the body as it arrives and written in batches, one
//! transaction per batch (a few side by side, see `import`), a savepoint for each line that
//! writes alone and one for each group of the batch's changed or new articles written together,
//! so a bad line fails alone, memory stays bounded by the batches in flight, and a client that
//! disconnects leaves only whole batches. Each line is
//! upserted by `external_id`, else by `slug` (given, or made from the title), and compared with
//! what is stored: an identical line is `unchanged` and writes nothing (no version, revision or
//! event), so re-running a file is harmless.
//!
//! Concurrent edits: an import never overwrites an article that was changed in Galley since an
//! import last wrote it (or that no import ever wrote); that line is a `409` naming the versions,
//! and `overwrite` takes the file's side.

mod batches;
mod export;
mod importer;

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    body::Block,
    model::{RefInput, Seo},
};
use crate::app::AppState;
use crate::{
    accounts::{auth::Auth, role::Role},
    http::{
        error::{ApiError, ApiResult, FieldError},
        extract::ApiQuery,
    },
};

pub use self::{batches::import, export::export};

/// Lines written per transaction, and the bytes at which a batch is cut short: batches in
/// flight bound an import's memory, and lines may be as long as a whole request body.
pub(super) const BATCH_LINES: usize = 200;
pub(super) const BATCH_BYTES: usize = 8 << 20;
/// Failures listed in a report; the counts go on.
pub(super) const MAX_REPORTED_ERRORS: usize = 1000;

/// One line of an import or export: the article write shape plus its workflow state, with
/// images also by `image_sha256` (how an export names them, so files move between instances).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleLine {
    pub title: String,
    pub slug: Option<String>,
    pub subtitle: Option<String>,
    /// Given excerpts only; absent means derived from the body.
    pub excerpt: Option<String>,
    /// Blocks; image blocks may give `image_sha256` instead of `image_id`.
    #[schema(value_type = Option<Vec<Block>>)]
    pub body: Option<Vec<Block>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_markdown: Option<String>,
    pub banner: Option<LineBanner>,
    pub authors: Option<Vec<RefInput>>,
    pub tags: Option<Vec<RefInput>>,
    pub featured: Option<bool>,
    pub language: Option<String>,
    pub seo: Option<Seo>,
    pub external_id: Option<String>,
    /// `draft` (default), `in_review`, `scheduled`, `published` or `archived`.
    #[schema(value_type = Option<crate::articles::model::ArticleStatus>)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    pub published_at: Option<DateTime<Utc>>,
    /// Required with `scheduled`; a time already past is published by the scheduler at once.
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    pub scheduled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBanner {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<String>,
    pub caption: Option<String>,
    pub credit: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub overwrite: bool,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// The first 1,000 failures, each with its line number (1-based).
    pub errors: Vec<LineError>,
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineError {
    pub line: u64,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

pub(super) enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// A line as cut from the stream: its bytes, or the byte limit it went over.
pub(super) type RawLine = (u64, Result<Vec<u8>, usize>);

/// A line parsed, with the field errors of its image references, or why it could not be.
pub(super) type ParsedLine = (u64, ApiResult<(ArticleLine, Vec<FieldError>)>);

/// What became of each line of a batch.
pub(super) type Outcomes = Vec<(u64, ApiResult<Outcome>)>;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Validate and report without writing anything.
    pub(super) dry_run: Option<bool>,
    /// Replace articles changed in Galley since they were last imported (otherwise a `409` for
    /// that line).
    pub(super) overwrite: Option<bool>,
}

/// Import articles as NDJSON (editor): one article a line, upserted by `external_id`, else
/// `slug`. Every valid line is stored even when others fail; the report lists each failure with
/// its line number. Running the same file again changes nothing.
#[utoipa::path(post, path = "/v1/import", tag = "import",
    params(ImportQuery),
    request_body(content = ArticleLine, content_type = "application/x-ndjson", description = "One article a line"),
    security(("bearer" = [])),
    responses((status = 200, description = "What was imported", body = ImportReport)))]
pub async fn import_articles(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportReport>> {
    principal.require(Role::Editor)?;
    let ndjson = crate::http::extract::media_type(&headers)
        .is_some_and(|v| v == "application/x-ndjson" || v == "application/jsonl");
    if !ndjson {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/x-ndjson".into(),
        ));
    }
    let options = ImportOptions {
        dry_run: query.dry_run.unwrap_or(false),
        overwrite: query.overwrite.unwrap_or(false),
    };
    let report = import(
        &state,
        Some(principal.user_id),
        options,
        body.into_data_stream(),
        |_| {},
    )
    .await?;
    tracing::info!(
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        failed = report.failed,
        dry_run = report.dry_run,
        "import finished"
    );
    Ok(Json(report))
}

/// Export every article as NDJSON in the import shape (editor), streamed: working copies with
/// status and dates, authors and tags as `{name, slug}`, images by `image_sha256`.
#[utoipa::path(get, path = "/v1/export", tag = "import",
    security(("bearer" = [])),
    responses((status = 200, description = "One article a line", content_type = "application/x-ndjson", body = ArticleLine)))]
pub async fn export_articles(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Response> {
    principal.require(Role::Editor)?;
    let stream =
        export(state).map(|chunk| chunk.map_err(|err| std::io::Error::other(err.to_string())));
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    // Streamed as it is read: never buffered whole to compute an ETag.
    response
        .extensions_mut()
        .insert(crate::http::middleware::Streamed);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    // A browser following a link saves it as a file named for the day, ready to import.
    let name = format!(
        "attachment; filename=\"galley-export-{}.ndjson\"",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
