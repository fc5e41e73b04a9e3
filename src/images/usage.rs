//! Where an image is used: what `DELETE` refuses with, and what the library shows before anyone
//! tries. One query over the `image_references` view, so a new kind of use is one more branch
//! of the view, not one more query here.

use axum::{Json, extract::State};
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    accounts::{auth::Auth, role::Role},
    app::AppState,
    http::{
        error::{ApiError, ApiResult},
        extract::PathId,
        pagination::{ListMeta, ListResponse},
    },
};

crate::db::text_enum! {
    /// How something uses an image.
    #[derive(ToSchema)]
    pub enum UseKind {
        /// An author's picture (`id` is the author's).
        AuthorAvatar = "author_avatar",
        /// The banner of an article's working copy.
        ArticleBanner = "article_banner",
        /// An image block in an article's working copy.
        ArticleBodyImage = "article_body_image",
        /// The live copy of a published article shows it (banner or body).
        PublishedArticle = "published_article",
    }
}

/// One use of an image.
#[derive(Debug, serde::Serialize, sqlx::FromRow, ToSchema)]
pub struct ImageUse {
    pub kind: UseKind,
    /// The author's or the article's id.
    pub id: Uuid,
    /// The author's name or the article's title.
    pub label: String,
}

/// The uses listed at most; `meta.total` counts them all.
pub const LISTED_USES: i64 = 100;

/// The first `limit` uses of an image (articles before authors, then by label) and their count.
pub async fn uses<'c, E>(db: E, image_id: Uuid, limit: i64) -> sqlx::Result<(Vec<ImageUse>, i64)>
where
    E: PgExecutor<'c>,
{
    let rows: Vec<(UseKind, Uuid, String, i64)> = sqlx::query_as(
        "select kind, resource_id, label, count(*) over () from image_references
         where image_id = $1 order by kind, label, resource_id limit $2",
    )
    .bind(image_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let total = rows.first().map_or(0, |row| row.3);
    let uses = rows
        .into_iter()
        .map(|(kind, id, label, _)| ImageUse { kind, id, label })
        .collect();
    Ok((uses, total))
}

/// Where an image is used (author and up): author avatars, article banners and body images,
/// published pages. An image with no uses can be deleted.
#[utoipa::path(get, path = "/v1/images/{id}/usage", tag = "images",
    params(("id" = Uuid, Path, description = "Image id")),
    security(("bearer" = [])),
    responses((status = 200, description = "Its first 100 uses; `meta.total` counts all", body = ListResponse<ImageUse>)))]
pub async fn image_usage(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
) -> ApiResult<Json<ListResponse<ImageUse>>> {
    principal.require(Role::Author)?;
    let exists: bool = sqlx::query_scalar("select exists (select 1 from images where id = $1)")
        .bind(id)
        .fetch_one(&state.db)
        .await?;
    if !exists {
        return Err(ApiError::NotFound);
    }
    let (data, total) = uses(&state.db, id, LISTED_USES).await?;
    Ok(Json(ListResponse {
        data,
        meta: ListMeta {
            limit: LISTED_USES,
            next_cursor: None,
            total,
            page: None,
        },
    }))
}
