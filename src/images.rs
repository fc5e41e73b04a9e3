//! Images: safe uploads, responsive variants, the library, and serving media files.
//!
//! An upload is streamed to a temporary file, sniffed, refused early when it claims too many
//! pixels, decoded under memory limits, oriented, and re-encoded (original and variants) so no
//! metadata survives. Files are written before the row is inserted: a row never points at a
//! missing file; files without a row (a crash in between) are removed by `galley media gc`.

use crate::http::{extract::ListQuery, pagination::ListParams};
mod create;
use create::remove_files;
pub mod media;
pub mod multipart_guard;
pub mod processing;
pub mod storage;
pub mod upload;
pub mod usage;

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, Postgres, QueryBuilder, types::Json as DbJson};
use tokio::sync::Semaphore;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use self::storage::Storage;
use crate::app::AppState;
use crate::{
    accounts::{
        auth::{Auth, Principal, ReadAccess},
        role::Role,
    },
    changes::{
        current::Current,
        feed::EntryType,
        outbox::{self, EventType, ObjectType},
        purge::PurgeKeys,
    },
    config::MediaConfig,
    http::{
        error::{ApiError, ApiResult, Problem},
        extract::{ApiJson, ApiQuery, PathId},
        fields::{self, FieldSet},
        middleware::check_if_match,
        pagination::{KeyKind, KeyValue, ListResponse, SortKey, document_sort_keys},
        patch::Patch,
        route_policy::{
            Policy::{PublicRead, Streaming},
            with,
        },
    },
    validate::Validator,
};

pub fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        // Uploads bound themselves (GALLEY_IMAGE_MAX_BYTES, checked while streaming).
        .routes(with(
            Streaming,
            crate::idempotency::once_with(
                routes!(create::upload_image),
                crate::idempotency::BodyLimit::Upload,
            ),
        ))
        .routes(routes!(list_images))
        .routes(with(
            PublicRead,
            routes!(get_image, update_image, delete_image),
        ))
        .routes(routes!(usage::image_usage))
        .routes(routes!(media::get_media_file));
    document_sort_keys(router, "/v1/images", SORT_KEYS)
}

/// The longest texts that go with an image, in characters, wherever they are given: on the
/// image itself, on a body's image block, on an article's banner.
pub const ALT_MAX_CHARS: usize = 1000;
pub const CAPTION_MAX_CHARS: usize = 2000;
pub const CREDIT_MAX_CHARS: usize = 500;

/// Media storage plus the limits of image processing, shared by all handlers.
#[derive(Clone)]
pub struct Media {
    pub storage: Storage,
    pub base_url: String,
    pub max_upload_bytes: u64,
    pub max_pixels: u64,
    /// Per-user quota (0 = no limit).
    quota_images: u64,
    quota_bytes: u64,
    permits: Arc<Semaphore>,
}

impl Media {
    pub fn new(config: &MediaConfig) -> anyhow::Result<Self> {
        Ok(Self {
            storage: match &config.s3 {
                Some(s3) => Storage::s3(s3)?,
                None => Storage::local(&config.dir)?,
            },
            base_url: config.base_url.clone(),
            max_upload_bytes: config.max_upload_bytes,
            max_pixels: config.max_pixels,
            quota_images: config.quota_images,
            quota_bytes: config.quota_bytes,
            permits: Arc::new(Semaphore::new(config.workers)),
        })
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.base_url)
    }
}

/// An image in the library.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Image {
    pub id: Uuid,
    /// The original, re-encoded without metadata (EXIF orientation applied).
    pub url: String,
    pub mime_type: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    /// SHA-256 (hex) of the uploaded bytes; uploading them again returns this image.
    pub sha256: String,
    pub alt: Option<String>,
    pub caption: Option<String>,
    pub credit: Option<String>,
    pub focal_point: Option<FocalPoint>,
    /// BlurHash placeholder (4×3 components).
    pub blurhash: Option<String>,
    /// Resized copies, smallest first: WebP plus a JPEG (PNG when transparent) per width.
    pub variants: Vec<Variant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where the interesting part of an image is, for cropping: 0..1 from the left and the top.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FocalPoint {
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub x: f32,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub y: f32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Variant {
    pub width: i32,
    pub height: i32,
    pub mime_type: String,
    pub url: String,
    pub bytes: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredVariant {
    width: i32,
    height: i32,
    mime_type: String,
    key: String,
    bytes: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct ImageRow {
    id: Uuid,
    sha256: Vec<u8>,
    mime_type: String,
    width: i32,
    height: i32,
    bytes: i64,
    storage_key: String,
    alt: Option<String>,
    caption: Option<String>,
    credit: Option<String>,
    focal_x: Option<f32>,
    focal_y: Option<f32>,
    blurhash: Option<String>,
    variants: DbJson<Vec<StoredVariant>>,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ImageRow {
    fn into_image(self, media: &Media) -> Image {
        Image {
            id: self.id,
            url: media.url(&self.storage_key),
            mime_type: self.mime_type,
            width: self.width,
            height: self.height,
            bytes: self.bytes,
            sha256: self.sha256.iter().map(|b| format!("{b:02x}")).collect(),
            alt: self.alt,
            caption: self.caption,
            credit: self.credit,
            focal_point: self
                .focal_x
                .zip(self.focal_y)
                .map(|(x, y)| FocalPoint { x, y }),
            blurhash: self.blurhash,
            variants: self
                .variants
                .0
                .into_iter()
                .map(|v| Variant {
                    url: media.url(&v.key),
                    width: v.width,
                    height: v.height,
                    mime_type: v.mime_type,
                    bytes: v.bytes,
                })
                .collect(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    fn keys(&self) -> Vec<String> {
        std::iter::once(self.storage_key.clone())
            .chain(self.variants.0.iter().map(|v| v.key.clone()))
            .collect()
    }
}

/// The columns of an image row. A macro so that `concat!` can build static statements.
macro_rules! columns {
    () => {
        "i.id, i.sha256, i.mime_type, i.width, i.height, i.bytes, i.storage_key, \
                       i.alt, i.caption, i.credit, i.focal_x, i.focal_y, i.blurhash, i.variants, \
                       i.created_by, i.created_at, i.updated_at"
    };
}

// A path for the macro, so that `create` can build its statement from it too.
use columns;

const COLUMNS: &str = columns!();

static SORT_KEYS: &[SortKey<ImageRow>] = &[SortKey {
    name: "created_at",
    column: "i.created_at",
    kind: KeyKind::Time,
    value: |r| KeyValue::Time(r.created_at),
}];
static ID_KEY: SortKey<ImageRow> = SortKey {
    name: "id",
    column: "i.id",
    kind: KeyKind::Uuid,
    value: |r| KeyValue::Uuid(r.id),
};

async fn find(
    db: impl PgExecutor<'_>,
    id: Uuid,
    for_update: bool,
) -> sqlx::Result<Option<ImageRow>> {
    const FIND: &str = concat!("select ", columns!(), " from images i where i.id = $1");
    const FIND_FOR_UPDATE: &str = concat!(
        "select ",
        columns!(),
        " from images i where i.id = $1 for update"
    );
    sqlx::query_as(if for_update { FIND_FOR_UPDATE } else { FIND })
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The images with these ids, in one query (for embedding in authors and articles).
pub async fn find_many(
    db: impl PgExecutor<'_>,
    media: &Media,
    ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, Image>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ImageRow> = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from images i where i.id = any($1)"
    ))
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.into_image(media)))
        .collect())
}

/// Get an image (public).
#[utoipa::path(get, path = "/v1/images/{id}", tag = "images",
    params(("id" = Uuid, Path, description = "Image id"), ImageQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The image", body = Image)))]
pub async fn get_image(
    State(state): State<AppState>,
    ReadAccess(_): ReadAccess,
    PathId(id): PathId,
    ApiQuery(query): ApiQuery<ImageQuery>,
) -> ApiResult<axum::response::Response> {
    let fields = FieldSet::parse(query.fields.as_deref(), IMAGE_FIELDS)?;
    let row = find(&state.db, id, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(PurgeKeys::one(ObjectType::Image, id)
        .respond(fields::one(row.into_image(&state.media), fields.as_ref())?))
}

/// Images with ids after `after`, in id order, for the change feed's initial state.
pub async fn current_page(state: &AppState, after: Uuid, limit: i64) -> sqlx::Result<Vec<Current>> {
    let rows: Vec<ImageRow> = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from images i where i.id > $1 order by i.id limit $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let image = row.into_image(&state.media);
            Current::public(EntryType::Image, image.id, None, image.updated_at, &image)
        })
        .collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListImagesQuery {
    /// Words to find in alt text, caption or credit (case-insensitive).
    q: Option<String>,
    /// `true`: only images nothing uses (safe to delete); `false`: only images in use.
    unused: Option<bool>,
    /// A sparse fieldset: only these members of each image (and `id`); unknown names are `400`.
    #[param(
        pattern = "^ *(id|url|mime_type|width|height|bytes|sha256|alt|caption|credit|focal_point|blurhash|variants|created_at|updated_at) *(, *(id|url|mime_type|width|height|bytes|sha256|alt|caption|credit|focal_point|blurhash|variants|created_at|updated_at) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
}

/// The members of an image, for `fields=`.
pub const IMAGE_FIELDS: &[&str] = &[
    "id",
    "url",
    "mime_type",
    "width",
    "height",
    "bytes",
    "sha256",
    "alt",
    "caption",
    "credit",
    "focal_point",
    "blurhash",
    "variants",
    "created_at",
    "updated_at",
];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImageQuery {
    /// A sparse fieldset: only these members (and `id`); unknown names are `400`.
    #[param(
        pattern = "^ *(id|url|mime_type|width|height|bytes|sha256|alt|caption|credit|focal_point|blurhash|variants|created_at|updated_at) *(, *(id|url|mime_type|width|height|bytes|sha256|alt|caption|credit|focal_point|blurhash|variants|created_at|updated_at) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
}

/// Dynamic SQL: one clause per filter given, each value bound.
fn push_filters(qb: &mut QueryBuilder<Postgres>, query: &ListImagesQuery) {
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = q
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        qb.push(" and (i.alt ilike ")
            .push_bind(pattern.clone())
            .push(" or i.caption ilike ")
            .push_bind(pattern.clone())
            .push(" or i.credit ilike ")
            .push_bind(pattern)
            .push(")");
    }
    if let Some(unused) = query.unused {
        qb.push(if unused { " and not" } else { " and" })
            .push(" exists (select 1 from image_references r where r.image_id = i.id)");
    }
}

/// List the image library (signed in). Sort key: `created_at` (default `-created_at`).
#[utoipa::path(get, path = "/v1/images", tag = "images", params(ListParams, ListImagesQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of images", body = ListResponse<Image>)))]
pub async fn list_images(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ListQuery(paging, query): ListQuery<ListImagesQuery>,
) -> ApiResult<axum::response::Response> {
    principal.require(Role::Contributor)?;
    let fields = FieldSet::parse(query.fields.as_deref(), IMAGE_FIELDS)?;
    let page = paging.page_request(SORT_KEYS, "-created_at", &ID_KEY)?;
    let mut select = QueryBuilder::new(format!("select {COLUMNS} from images i where true"));
    push_filters(&mut select, &query);
    page.push_sql(&mut select);
    let rows: Vec<ImageRow> = select.build_query_as().fetch_all(&state.db).await?;
    let mut count = QueryBuilder::new("select count(*) from images i where true");
    push_filters(&mut count, &query);
    let total: i64 = count.build_query_scalar().fetch_one(&state.db).await?;
    fields::list(
        page.finish(rows, total, |row| row.into_image(&state.media)),
        fields.as_ref(),
    )
}

/// Editors may change any image; authors the images they uploaded.
fn require_image_editor(principal: &Principal, row: &ImageRow) -> ApiResult<()> {
    if principal.role >= Role::Editor
        || (principal.role >= Role::Author && row.created_by == Some(principal.user_id))
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only editors, or the author who uploaded it, may change an image".into(),
        ))
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateImage {
    #[schema(value_type = Option<String>, max_length = 1000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    alt: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 2000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    caption: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 500, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    credit: Patch<String>,
    /// `{"x": 0.5, "y": 0.3}` with both in 0..1, or `null`.
    #[schema(value_type = Option<FocalPoint>)]
    focal_point: Patch<FocalPoint>,
}

/// Update an image's alt text, caption, credit or focal point.
#[utoipa::path(patch, path = "/v1/images/{id}", tag = "images", request_body = UpdateImage,
    params(("id" = Uuid, Path, description = "Image id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The updated image", body = Image)))]
pub async fn update_image(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateImage>,
) -> ApiResult<Json<Image>> {
    principal.require(Role::Author)?;
    let mut v = Validator::new();
    let alt = body
        .alt
        .map_nullable(|t| v.optional_text("alt", Some(t), ALT_MAX_CHARS));
    let caption = body
        .caption
        .map_nullable(|t| v.optional_text("caption", Some(t), CAPTION_MAX_CHARS));
    let credit = body
        .credit
        .map_nullable(|t| v.optional_text("credit", Some(t), CREDIT_MAX_CHARS));
    if let Patch::Value(point) = &body.focal_point {
        for (axis, value) in [("x", point.x), ("y", point.y)] {
            if !(0.0..=1.0).contains(&value) {
                v.error(format!("focal_point.{axis}"), "must be between 0 and 1");
            }
        }
    }
    v.finish()?;

    let mut tx = state.db.begin().await?;
    let current = find(&mut *tx, id, true).await?.ok_or(ApiError::NotFound)?;
    require_image_editor(&principal, &current)?;
    check_if_match(&headers, &current.clone().into_image(&state.media))?;
    let focal = body.focal_point.apply(
        current
            .focal_x
            .zip(current.focal_y)
            .map(|(x, y)| FocalPoint { x, y }),
    );
    let row: ImageRow = sqlx::query_as(concat!(
        r#"
        update images as i set alt = $2, caption = $3, credit = $4, focal_x = $5, focal_y = $6,
            updated_at = now()
        where i.id = $1
        returning "#,
        columns!()
    ))
    .bind(id)
    .bind(alt.apply(current.alt.clone()))
    .bind(caption.apply(current.caption.clone()))
    .bind(credit.apply(current.credit.clone()))
    .bind(focal.map(|p| p.x))
    .bind(focal.map(|p| p.y))
    .fetch_one(&mut *tx)
    .await?;
    let image = row.into_image(&state.media);
    let actor = Some(principal.user_id);
    outbox::record(&mut tx, EventType::ImageUpdated, &image, true, actor).await?;
    crate::articles::live::rerender_live(
        &mut tx,
        &state.media,
        crate::articles::live::Embedded::Image(id),
        actor,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(image))
}

/// Delete an image and its files; `409` naming what still uses it.
#[utoipa::path(delete, path = "/v1/images/{id}", tag = "images",
    params(("id" = Uuid, Path, description = "Image id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted, files removed"),
        (status = 409, description = "In use (author avatars, article banners, body images)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_image(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    principal.require(Role::Author)?;
    let mut tx = state.db.begin().await?;
    let current = find(&mut *tx, id, true).await?.ok_or(ApiError::NotFound)?;
    require_image_editor(&principal, &current)?;
    check_if_match(&headers, &current.clone().into_image(&state.media))?;
    let (references, total) = usage::uses(&mut *tx, id, 20).await?;
    if total > 0 {
        let mut uses: Vec<String> = references
            .iter()
            .map(|r| format!("{} of '{}'", r.kind.as_str().replace('_', " "), r.label))
            .collect();
        if total > references.len() as i64 {
            uses.push(format!("{} more", total - references.len() as i64));
        }
        return Err(ApiError::Conflict(format!(
            "the image is in use: {} (GET /v1/images/{id}/usage lists them)",
            uses.join(", ")
        )));
    }
    sqlx::query("delete from images where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            crate::http::error::on_constraint(
                err,
                &[
                    ("authors_avatar_image_id_fkey", || {
                        ApiError::Conflict("the image was just set as an author's avatar".into())
                    }),
                    ("articles_banner_image_id_fkey", || {
                        ApiError::Conflict("the image was just set as an article banner".into())
                    }),
                    ("article_body_images_image_id_fkey", || {
                        ApiError::Conflict("the image was just placed in an article".into())
                    }),
                    ("live_article_images_image_id_fkey", || {
                        ApiError::Conflict("a published article shows this image".into())
                    }),
                ],
            )
        })?;
    let image = current.clone().into_image(&state.media);
    outbox::record(
        &mut tx,
        EventType::ImageDeleted,
        &image,
        false,
        Some(principal.user_id),
    )
    .await?;
    tx.commit().await?;
    remove_files(&state.media, &current.keys()).await;
    tracing::info!(image.id = %id, "image deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Stored files that no image row references (left by a crash between writing files and
/// inserting the row). Files younger than `min_age` are left out: they may belong to an upload
/// still in progress.
pub async fn orphaned_files(
    db: &sqlx::PgPool,
    media: &Media,
    min_age: std::time::Duration,
) -> anyhow::Result<Vec<String>> {
    let keys = media.storage.keys().await?;
    let referenced: std::collections::HashSet<String> = sqlx::query_scalar(
        r#"
        select storage_key from images
        union all
        select v->>'key' from images, jsonb_array_elements(variants) v
        "#,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();
    Ok(keys
        .into_iter()
        .filter(|(key, age)| !referenced.contains(key) && *age >= min_age)
        .map(|(key, _)| key)
        .collect())
}

impl outbox::PublicObject for Image {
    const KIND: ObjectType = ObjectType::Image;

    fn id(&self) -> Uuid {
        self.id
    }

    fn slug(&self) -> Option<&str> {
        None
    }
}
