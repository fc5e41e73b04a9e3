//! `POST /v1/images`: an upload received, checked against the quota, processed into its
//! variants on the blocking pool, and stored (files first, then the row).

use anyhow::Context;
use axum::{
    Json,
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use sqlx::{PgExecutor, types::Json as DbJson};
use utoipa::ToSchema;
use uuid::Uuid;

use super::processing::{Encoded, ImageError};
use crate::app::AppState;
use crate::{
    accounts::{auth::Auth, role::Role},
    changes::outbox::EventType,
    http::error::{ApiError, ApiResult, Problem},
    validate::Validator,
};

// The image rows, media storage and limits of the parent module.
use super::*;

/// Refuses an upload that would take the user past the configured quota. Counted from the
/// images the user uploaded that still exist; two uploads racing may both pass the last slot.
pub(super) async fn check_quota(
    db: &sqlx::PgPool,
    media: &Media,
    user_id: Uuid,
    incoming_bytes: u64,
) -> ApiResult<()> {
    if media.quota_images == 0 && media.quota_bytes == 0 {
        return Ok(());
    }
    let (count, bytes): (i64, i64) = sqlx::query_as(
        "select count(*), coalesce(sum(bytes), 0)::bigint from images where created_by = $1",
    )
    .bind(user_id)
    .fetch_one(db)
    .await?;
    let (count, bytes) = (count as u64, bytes as u64);
    if media.quota_images > 0 && count >= media.quota_images {
        return Err(ApiError::QuotaExceeded(format!(
            "you have uploaded {count} images, the most this server allows per user; \
             delete unused ones (GET /v1/images?unused=true) to upload more"
        )));
    }
    if media.quota_bytes > 0 && bytes + incoming_bytes > media.quota_bytes {
        return Err(ApiError::QuotaExceeded(format!(
            "this upload would take your images to {} bytes, past the quota of {} bytes per user",
            bytes + incoming_bytes,
            media.quota_bytes
        )));
    }
    Ok(())
}

/// The multipart form of an upload (for the OpenAPI document).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form; parsed by upload::receive"
)]
pub struct UploadImage {
    /// JPEG, PNG, WebP or GIF; the type is read from the bytes.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
    #[schema(value_type = String, required = false, max_length = 1000)]
    alt: Option<String>,
    #[schema(value_type = String, required = false, max_length = 2000)]
    caption: Option<String>,
    #[schema(value_type = String, required = false, max_length = 500)]
    credit: Option<String>,
}

/// Upload an image (author and up). The same bytes uploaded again return the existing image.
#[utoipa::path(post, path = "/v1/images", tag = "images",
    request_body(content = UploadImage, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Image, headers(("location" = String))),
        (status = 200, description = "These bytes were uploaded before: the existing image", body = Image),
        (status = 413, description = "Larger than GALLEY_IMAGE_MAX_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JPEG, PNG, WebP or GIF (SVG included)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Too many pixels, damaged file, or invalid text fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upload_image(
    State(state): State<AppState>,
    Auth(principal): Auth,
    request: Request,
) -> ApiResult<Response> {
    principal.require(Role::Author)?;
    let media = &state.media;
    let upload = upload::receive(request, media.max_upload_bytes).await?;
    let mut v = Validator::new();
    let texts = Texts {
        alt: v.optional_text("alt", upload.alt.clone(), ALT_MAX_CHARS),
        caption: v.optional_text("caption", upload.caption.clone(), CAPTION_MAX_CHARS),
        credit: v.optional_text("credit", upload.credit.clone(), CREDIT_MAX_CHARS),
    };
    if upload.size == 0 {
        v.error("file", "is empty");
    }
    v.finish()?;

    if let Some(existing) = find_by_sha256(&state.db, &upload.sha256).await? {
        return Ok((StatusCode::OK, Json(existing.into_image(media))).into_response());
    }
    check_quota(&state.db, media, principal.user_id, upload.size).await?;
    let processed = process(media, &upload).await?;
    let mut written: Vec<String> = Vec::new();
    match store(
        &state,
        &upload,
        processed,
        &texts,
        principal.user_id,
        &mut written,
    )
    .await
    {
        Ok(row) => {
            tracing::info!(image.id = %row.id, image.bytes = row.bytes, "image uploaded");
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, format!("/v1/images/{}", row.id))],
                Json(row.into_image(media)),
            )
                .into_response())
        }
        Err(err) => {
            remove_files(media, &written).await;
            // The same bytes finished uploading concurrently: answer with that image.
            if let Stored::Row(sqlx::Error::Database(db)) = &err
                && db.constraint() == Some("images_sha256_key")
                && let Some(existing) = find_by_sha256(&state.db, &upload.sha256).await?
            {
                return Ok((StatusCode::OK, Json(existing.into_image(media))).into_response());
            }
            Err(err.into())
        }
    }
}

/// The texts an upload gives its image.
pub(super) struct Texts {
    alt: Option<String>,
    caption: Option<String>,
    credit: Option<String>,
}

/// Decodes and re-encodes the upload on the blocking pool, at most `workers` at once.
pub(super) async fn process(
    media: &Media,
    upload: &upload::Upload,
) -> ApiResult<processing::Processed> {
    let _permit = media
        .permits
        .acquire()
        .await
        .context("image worker semaphore closed")?;
    let path = upload.file.path().to_owned();
    let max_pixels = media.max_pixels;
    tokio::task::spawn_blocking(move || processing::process(&path, max_pixels))
        .await
        .context("image processing task")?
        .map_err(|err| match err {
            ImageError::Unsupported => ApiError::UnsupportedMediaType(err.to_string()),
            ImageError::TooManyPixels { .. }
            | ImageError::Undecodable(_)
            | ImageError::Encoding(_) => ApiError::invalid("file", err.to_string()),
            ImageError::Io(_) => ApiError::Internal(err.into()),
        })
}

/// Why storing an upload failed: its files, or its row (kept as the database's error so that
/// a concurrent upload of the same bytes can be told apart).
pub(super) enum Stored {
    Files(ApiError),
    Row(sqlx::Error),
}

impl From<Stored> for ApiError {
    fn from(err: Stored) -> Self {
        match err {
            Stored::Files(err) => err,
            Stored::Row(err) => err.into(),
        }
    }
}

/// Writes the original and its variants (each key into `written`, for clean-up), then the row.
pub(super) async fn store(
    state: &AppState,
    upload: &upload::Upload,
    processed: processing::Processed,
    texts: &Texts,
    user_id: Uuid,
    written: &mut Vec<String>,
) -> Result<ImageRow, Stored> {
    let media = &state.media;
    let id = Uuid::now_v7();
    let original = &processed.original;
    let original_key = format!("images/{id}/original.{}", processed.format.extension());
    put(
        media,
        &original_key,
        original.bytes.clone(),
        original.mime_type,
        written,
    )
    .await
    .map_err(Stored::Files)?;
    let mut stored: Vec<StoredVariant> = Vec::new();
    for variant in processed.variants {
        let key = format!("images/{id}/{}.{}", variant.width, variant.extension);
        stored.push(stored_variant(&variant, &key));
        put(media, &key, variant.bytes, variant.mime_type, written)
            .await
            .map_err(Stored::Files)?;
    }
    let mut tx = state.db.begin().await.map_err(Stored::Row)?;
    let row: ImageRow = sqlx::query_as(concat!(
        "insert into images as i (id, sha256, mime_type, width, height, bytes, storage_key, \
             alt, caption, credit, blurhash, variants, original_filename, created_by) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         returning ",
        columns!()
    ))
    .bind(id)
    .bind(upload.sha256.as_slice())
    .bind(processed.format.mime_type())
    .bind(original.width as i32)
    .bind(original.height as i32)
    .bind(original.bytes.len() as i64)
    .bind(&original_key)
    .bind(&texts.alt)
    .bind(&texts.caption)
    .bind(&texts.credit)
    .bind(&processed.blurhash)
    .bind(DbJson(&stored))
    .bind(&upload.filename)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(Stored::Row)?;
    let image = row.clone().into_image(media);
    crate::changes::outbox::record(
        &mut tx,
        EventType::ImageCreated,
        &image,
        true,
        Some(user_id),
    )
    .await
    .map_err(Stored::Row)?;
    tx.commit().await.map_err(Stored::Row)?;
    Ok(row)
}

pub(super) async fn put(
    media: &Media,
    key: &str,
    bytes: Vec<u8>,
    content_type: &'static str,
    written: &mut Vec<String>,
) -> ApiResult<()> {
    written.push(key.to_owned());
    media
        .storage
        .put(key, bytes, content_type)
        .await
        .map_err(ApiError::Internal)
}

pub(super) fn stored_variant(variant: &Encoded, key: &str) -> StoredVariant {
    StoredVariant {
        width: variant.width as i32,
        height: variant.height as i32,
        mime_type: variant.mime_type.to_owned(),
        key: key.to_owned(),
        bytes: variant.bytes.len() as i64,
    }
}

pub(super) async fn remove_files(media: &Media, keys: &[String]) {
    for key in keys {
        if let Err(err) = media.storage.delete(key).await {
            // Left for `galley media gc`; the row (if any) is already gone.
            tracing::warn!(
                error = format!("{err:#}"),
                media.key = key,
                "could not remove a media file"
            );
        }
    }
}

pub(super) async fn find_by_sha256(
    db: impl PgExecutor<'_>,
    sha256: &[u8],
) -> sqlx::Result<Option<ImageRow>> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from images i where i.sha256 = $1"
    ))
    .bind(sha256)
    .fetch_optional(db)
    .await
}
