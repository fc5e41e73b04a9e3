//! Create, read, update and delete of one article.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    model::{
        Article, ArticleData, ArticleStatus, CreateArticle, InitialStatus, UpdateArticle, render,
    },
    shape::Shape,
    store::RefKind,
};
use crate::app::AppState;
use crate::changes::purge::PurgeKeys;
use crate::{
    accounts::{
        auth::{Auth, MaybeAuth},
        role::Role,
    },
    http::{
        error::{ApiError, ApiResult, Problem},
        extract::{ApiJson, ApiQuery, IdOrSlug},
        patch::Patch,
    },
    validate::Validator,
};

use super::*;

/// Create an article (contributor and up); `status: published` needs author and up.
#[utoipa::path(post, path = "/v1/articles", tag = "articles", request_body = CreateArticle,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Article, headers(("location" = String))),
        (status = 409, description = "Slug or external_id taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<CreateArticle>,
) -> ApiResult<Response> {
    principal.require(Role::Contributor)?;
    let publish = input.status == Some(InitialStatus::Published);
    if publish {
        principal.require(Role::Author)?;
    }
    let now = now();
    let mut data = new_article(Some(principal.user_id), now);
    data.featured = input.featured.unwrap_or(false);
    let mut v = Validator::new();
    apply_text_fields(
        &mut v,
        &mut data,
        TextFields::of_new(
            input.title,
            input.subtitle,
            input.excerpt,
            input.language,
            input.seo,
            input.external_id,
        ),
    );
    let explicit_slug = input.slug.map(|s| v.slug("slug", &s));
    if let Some(blocks) = take_body(&mut v, input.body, input.body_markdown) {
        set_body(&mut data, blocks);
    }
    if let Some(banner) = input.banner {
        set_banner(&mut v, &mut data, banner);
    }

    let mut tx = state.db.begin().await?;
    let mut errors = Vec::new();
    data.author_ids = store::resolve_refs(
        &mut tx,
        RefKind::Authors,
        &input.authors.unwrap_or_default(),
        &mut errors,
        None,
    )
    .await?;
    data.tag_ids = store::resolve_refs(
        &mut tx,
        RefKind::Tags,
        &input.tags.unwrap_or_default(),
        &mut errors,
        None,
    )
    .await?;
    store::missing_images(&mut *tx, &data, &mut errors).await?;
    fail_with(v, errors)?;

    if let Some(slug) = &explicit_slug {
        data.slug = slug.clone();
    }
    if publish {
        data.status = ArticleStatus::Published;
        data.published_at = Some(now);
        data.live_version = Some(data.version);
    }
    store::insert(&mut tx, &mut data, explicit_slug.is_some()).await?;
    if publish {
        store::put_live(&mut tx, &state.media, &data).await?;
    }
    history::record(
        &mut tx,
        &data,
        history::Was::NEW,
        history::RevisionAction::Create,
        Some(principal.user_id),
        state.config.revisions_keep,
    )
    .await?;
    let article = present(&mut tx, &state, &data).await?;
    tx.commit().await?;
    tracing::info!(article.id = %data.id, status = data.status.as_str(), "article created");
    workflow::article_response(StatusCode::CREATED, &article)
}

/// The working copy as the API shows it (with body).
pub(super) async fn present(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    data: &ArticleData,
) -> ApiResult<Article> {
    let embeds = store::embeds(tx, &state.media, &[data]).await?;
    Ok(render(data, &embeds, true))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetArticleQuery {
    /// `live` (default): what the public sees. `working` (signed in): the working copy.
    view: Option<View>,
    /// A token from `POST /v1/articles/{id}/preview`: reads that article's working copy.
    preview_token: Option<String>,
    /// A sparse fieldset, as on the list: only these members (and `id`).
    #[param(
        pattern = "^ *(id|slug|title|subtitle|excerpt|status|body|body_html|body_text|banner|authors|tags|featured|language|seo|word_count|reading_time_minutes|external_id|published_at|scheduled_at|created_at|updated_at|version|has_unpublished_changes) *(, *(id|slug|title|subtitle|excerpt|status|body|body_html|body_text|banner|authors|tags|featured|language|seo|word_count|reading_time_minutes|external_id|published_at|scheduled_at|created_at|updated_at|version|has_unpublished_changes) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
    /// `body_text`: add the body as plain text (`body` and `body_html` are in by default).
    #[param(pattern = "^ *(body|body_html|body_text) *(, *(body|body_html|body_text) *)*$")]
    include: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Live,
    Working,
}

/// Serves stored JSON text as the response body, untouched.
pub(super) fn raw_json(json: impl Into<axum::body::Body>) -> Response {
    let json: axum::body::Body = json.into();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// Get an article by id or slug: the live copy (`404` when not published), with
/// `view=working` the working copy (signed in, contributor and up), or with `preview_token`
/// the working copy the token was made for (no account needed; `Cache-Control: no-store`).
#[utoipa::path(get, path = "/v1/articles/{id}", tag = "articles",
    params(("id" = String, Path, description = "Article id or slug"), GetArticleQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The article", body = Article)))]
pub async fn get_article(
    State(state): State<AppState>,
    MaybeAuth(principal): MaybeAuth,
    key: IdOrSlug,
    ApiQuery(query): ApiQuery<GetArticleQuery>,
) -> ApiResult<Response> {
    let shape = Shape::parse(query.fields.as_deref(), query.include.as_deref(), false)?;
    if let Some(token) = &query.preview_token {
        if query.view.is_some() {
            return Err(ApiError::bad_request(
                "preview_token reads the working copy; leave out view",
            ));
        }
        return workflow::read_preview(&state, &key, token, &shape).await;
    }
    if principal.is_none() && !state.config.public_read {
        return Err(ApiError::Unauthorized(
            "this server requires a token for every read",
        ));
    }
    match query.view.unwrap_or(View::Live) {
        View::Live => {
            let (id, slug) = key.binds();
            let (document, stored_keys): (String, String) = sqlx::query_as(
                "select document, purge_keys from live_articles where article_id = $1 or slug = $2",
            )
            .bind(id)
            .bind(slug)
            .fetch_optional(&state.db)
            .await?
            .ok_or(ApiError::NotFound)?;
            let mut keys = PurgeKeys::default();
            keys.add_stored(&stored_keys);
            Ok(keys.respond(raw_json(shape.apply_owned(document)?)))
        }
        View::Working => {
            let principal =
                principal.ok_or(ApiError::Unauthorized("sign in to see working copies"))?;
            principal.require(Role::Contributor)?;
            let mut conn = state.db.acquire().await?;
            let data = store::find(&mut *conn, &key, false)
                .await?
                .ok_or(ApiError::NotFound)?;
            let article = present(&mut conn, &state, &data).await?;
            workflow::shaped_article_response(&article, &shape)
        }
    }
}

/// Update the working copy (absent fields are kept; `null` clears an optional one). A published
/// article keeps serving its live copy until it is published again.
#[utoipa::path(patch, path = "/v1/articles/{id}", tag = "articles", request_body = UpdateArticle,
    params(("id" = String, Path, description = "Article id or slug")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated working copy", body = Article),
        (status = 409, description = "Slug or external_id taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    headers: HeaderMap,
    ApiJson(input): ApiJson<UpdateArticle>,
) -> ApiResult<Response> {
    principal.require(Role::Contributor)?;
    let mut tx = state.db.begin().await?;
    let mut data = store::find(&mut *tx, &key, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    require_edit(&principal, &data)?;
    workflow::check_version(&headers, data.version)?;
    let before = data.clone();

    let mut v = Validator::new();
    let (authors, tags) = apply_update(&mut v, &mut data, input);
    let mut errors = Vec::new();
    match authors {
        Patch::Value(refs) => {
            data.author_ids =
                store::resolve_refs(&mut tx, RefKind::Authors, &refs, &mut errors, None).await?
        }
        Patch::Null => data.author_ids.clear(),
        Patch::Missing => {}
    }
    match tags {
        Patch::Value(refs) => {
            data.tag_ids =
                store::resolve_refs(&mut tx, RefKind::Tags, &refs, &mut errors, None).await?
        }
        Patch::Null => data.tag_ids.clear(),
        Patch::Missing => {}
    }
    store::missing_images(&mut *tx, &data, &mut errors).await?;
    fail_with(v, errors)?;

    // Saving what is already there changes nothing: no new version, revision or event.
    if !history::same_content(&before, &data) {
        data.version += 1;
        data.updated_at = now();
        store::update(&mut tx, &data).await?;
        history::record(
            &mut tx,
            &data,
            history::Was::of(&before),
            history::RevisionAction::Update,
            Some(principal.user_id),
            state.config.revisions_keep,
        )
        .await?;
        tracing::info!(article.id = %data.id, version = data.version, "article updated");
    }
    let article = present(&mut tx, &state, &data).await?;
    tx.commit().await?;
    workflow::article_response(StatusCode::OK, &article)
}

/// Delete an article, working and live copy alike (editor).
#[utoipa::path(delete, path = "/v1/articles/{id}", tag = "articles",
    params(("id" = String, Path, description = "Article id or slug")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_article(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    principal.require(Role::Editor)?;
    let mut tx = state.db.begin().await?;
    let data = store::find(&mut *tx, &key, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    workflow::check_version(&headers, data.version)?;
    store::remove_live(&mut tx, data.id).await?;
    sqlx::query("delete from articles where id = $1")
        .bind(data.id)
        .execute(&mut *tx)
        .await?;
    history::deleted(&mut tx, &data, Some(principal.user_id)).await?;
    tx.commit().await?;
    tracing::info!(article.id = %data.id, "article deleted");
    Ok(StatusCode::NO_CONTENT)
}
