//! Articles: the heart of the CMS.
//!
//! An article has a working copy (what editors edit) and, once published, a live copy: a
//! snapshot the public reads, stored with its JSON already rendered. Editing a published
//! article changes only the working copy until it is published again. The public never sees
//! anything else: anonymous reads are served from the live copies only.
//!
//! Submodules: `body` (blocks, HTML, Markdown, text metrics), `search` (CJK-aware terms),
//! `model` (shapes), `store` (SQL).

pub mod body;
pub mod history;
pub mod model;
pub mod search;
pub mod store;
pub mod transfer;
pub mod workflow;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{Postgres, QueryBuilder};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use self::{
    model::{
        Article, ArticleData, ArticleStatus, CreateArticle, InitialStatus, UpdateArticle, render,
    },
    store::RefKind,
};
use crate::app::AppState;
use crate::{
    accounts::{
        auth::{Auth, MaybeAuth, Principal, ReadAccess},
        role::Role,
    },
    http::{
        error::{ApiError, ApiResult, FieldError, Problem},
        extract::{ApiJson, ApiQuery, IdOrSlug},
        pagination::{
            KeyKind, KeyValue, ListResponse, PageRequest, Sort, SortKey, SortValues,
            document_sort_keys,
        },
        patch::Patch,
        route_policy::{
            Policy::{PublicRead, Streaming},
            with,
        },
    },
    idempotency::{BodyLimit, once, once_with},
    validate::Validator,
};

pub fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(once(with(
            PublicRead,
            routes!(list_articles, create_article),
        )))
        .routes(with(
            PublicRead,
            routes!(get_article, update_article, delete_article),
        ))
        .routes(once(routes!(workflow::run_action)))
        .routes(once(routes!(workflow::create_preview)))
        .routes(routes!(history::list_revisions))
        .routes(routes!(history::get_revision))
        .routes(once(routes!(history::restore_revision)))
        .routes(with(
            Streaming,
            once_with(routes!(transfer::import_articles), BodyLimit::None),
        ))
        .routes(with(Streaming, routes!(transfer::export_articles)));
    // Live and working lists sort by the same keys (`rank` with `q` only).
    let router = document_sort_keys(router, "/v1/articles", LIVE_SEARCH_SORT_KEYS);
    document_sort_keys(
        router,
        "/v1/articles/{id}/revisions",
        std::slice::from_ref(&history::NUMBER),
    )
}

/// Whose article this is, for contributors and authors: created by them, or bylined with the
/// author linked to their user.
fn is_own(principal: &Principal, data: &ArticleData) -> bool {
    data.created_by == Some(principal.user_id)
        || principal
            .author_id
            .is_some_and(|id| data.author_ids.contains(&id))
}

/// Editors edit everything; authors their own articles; contributors their own drafts.
fn require_edit(principal: &Principal, data: &ArticleData) -> ApiResult<()> {
    principal.require(Role::Contributor)?;
    let allowed = principal.role >= Role::Editor
        || (is_own(principal, data)
            && (principal.role >= Role::Author
                || matches!(data.status, ArticleStatus::Draft | ArticleStatus::InReview)));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "you may edit only your own drafts".into(),
        ))
    }
}

/// Publishing: editors for any article, authors for their own.
fn require_publish(principal: &Principal, data: &ArticleData) -> ApiResult<()> {
    principal.require(Role::Author)?;
    if principal.role >= Role::Editor || is_own(principal, data) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "authors may publish only their own articles".into(),
        ))
    }
}

/// A new draft with nothing in it yet.
fn new_article(created_by: Option<Uuid>, now: DateTime<Utc>) -> ArticleData {
    ArticleData {
        id: Uuid::now_v7(),
        slug: String::new(),
        status: ArticleStatus::Draft,
        title: String::new(),
        subtitle: None,
        excerpt: None,
        derived_excerpt: None,
        body: Vec::new(),
        banner_image_id: None,
        banner_caption: None,
        banner_credit: None,
        featured: false,
        language: "en".into(),
        seo: model::Seo::default(),
        external_id: None,
        word_count: 0,
        reading_time_minutes: 0,
        created_by,
        published_at: None,
        scheduled_at: None,
        version: 1,
        live_version: None,
        created_at: now,
        updated_at: now,
        author_ids: Vec::new(),
        tag_ids: Vec::new(),
    }
}

/// The current time at PostgreSQL's precision (microseconds), so that a copy held in memory
/// equals the same copy read back: snapshots compare equal, responses agree with later reads.
fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

fn valid_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && tag.len() <= 35
}

/// The plain fields create and update share; `None`/`Missing` leaves a field as it is.
struct TextFields {
    title: Option<String>,
    subtitle: Patch<String>,
    excerpt: Patch<String>,
    language: Option<String>,
    seo: Patch<model::Seo>,
    external_id: Patch<String>,
}

impl TextFields {
    /// The fields of a new article (a create, an import line): what is absent stays unset.
    fn of_new(
        title: String,
        subtitle: Option<String>,
        excerpt: Option<String>,
        language: Option<String>,
        seo: Option<model::Seo>,
        external_id: Option<String>,
    ) -> Self {
        let given = |value: Option<String>| value.map_or(Patch::Missing, Patch::Value);
        Self {
            title: Some(title),
            subtitle: given(subtitle),
            excerpt: given(excerpt),
            language,
            seo: seo.map_or(Patch::Missing, Patch::Value),
            external_id: given(external_id),
        }
    }
}

/// Validates `fields` and applies them onto `data`.
fn apply_text_fields(v: &mut Validator, data: &mut ArticleData, fields: TextFields) {
    let TextFields {
        title,
        subtitle,
        excerpt,
        language,
        seo,
        external_id,
    } = fields;
    if let Some(title) = title {
        data.title = v.text("title", &title, 300);
    }
    data.subtitle = subtitle
        .map_nullable(|s| v.optional_text("subtitle", Some(s), 500))
        .apply(data.subtitle.take());
    data.excerpt = excerpt
        .map_nullable(|s| v.optional_text("excerpt", Some(s), 1000))
        .apply(data.excerpt.take());
    if let Some(language) = language {
        let language = language.trim().to_owned();
        if !valid_language(&language) {
            v.error(
                "language",
                "must be a BCP 47 language tag such as en or zh-Hans",
            );
        }
        data.language = language;
    }
    if let Patch::Value(seo) = &seo {
        let seo = model::Seo {
            title: v.optional_text("seo.title", seo.title.clone(), 300),
            description: v.optional_text("seo.description", seo.description.clone(), 1000),
            canonical_url: seo
                .canonical_url
                .clone()
                .filter(|u| !u.trim().is_empty())
                .map(|u| v.web_url("seo.canonical_url", &u)),
        };
        data.seo = seo;
    } else if seo == Patch::Null {
        data.seo = model::Seo::default();
    }
    data.external_id = external_id
        .map_nullable(|id| {
            let id = id.trim().to_owned();
            if id.is_empty() || id.chars().count() > 200 || id.chars().any(char::is_control) {
                v.error("external_id", "must be 1-200 printable characters");
            }
            Some(id)
        })
        .apply(data.external_id.take());
}

/// The body from `body` or `body_markdown` (not both), validated.
fn take_body(
    v: &mut Validator,
    body: Option<Vec<body::Block>>,
    markdown: Option<String>,
) -> Option<Vec<body::Block>> {
    let blocks = match (body, markdown) {
        (Some(_), Some(_)) => {
            v.error(
                "body_markdown",
                "give either body or body_markdown, not both",
            );
            return None;
        }
        (Some(blocks), None) => blocks,
        (None, Some(markdown)) => match body::from_markdown(&markdown) {
            Ok(blocks) => blocks,
            Err(message) => {
                v.error("body_markdown", message);
                return None;
            }
        },
        (None, None) => return None,
    };
    body::validate(&blocks, v);
    Some(blocks)
}

fn set_body(data: &mut ArticleData, blocks: Vec<body::Block>) {
    let metrics = body::metrics(&blocks);
    data.word_count = metrics.word_count;
    data.reading_time_minutes = metrics.reading_time_minutes;
    data.derived_excerpt = metrics.excerpt;
    data.body = blocks;
}

fn fail_with(v: Validator, errors: Vec<FieldError>) -> ApiResult<()> {
    let mut v = v;
    for e in errors {
        v.error(e.field, e.message);
    }
    v.finish()
}

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
        data.banner_image_id = Some(banner.image_id);
        data.banner_caption = v.optional_text(
            "banner.caption",
            banner.caption,
            crate::images::CAPTION_MAX_CHARS,
        );
        data.banner_credit = v.optional_text(
            "banner.credit",
            banner.credit,
            crate::images::CREDIT_MAX_CHARS,
        );
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
async fn present(
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Live,
    Working,
}

/// Serves stored JSON text as the response body, untouched.
fn raw_json(json: String) -> Response {
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
    if let Some(token) = &query.preview_token {
        if query.view.is_some() {
            return Err(ApiError::bad_request(
                "preview_token reads the working copy; leave out view",
            ));
        }
        return workflow::read_preview(&state, &key, token).await;
    }
    if principal.is_none() && !state.config.public_read {
        return Err(ApiError::Unauthorized(
            "this server requires a token for every read",
        ));
    }
    match query.view.unwrap_or(View::Live) {
        View::Live => {
            let (id, slug) = key.binds();
            let document: Option<String> = sqlx::query_scalar(
                "select document from live_articles where article_id = $1 or slug = $2",
            )
            .bind(id)
            .bind(slug)
            .fetch_optional(&state.db)
            .await?;
            document.map(raw_json).ok_or(ApiError::NotFound)
        }
        View::Working => {
            let principal =
                principal.ok_or(ApiError::Unauthorized("sign in to see working copies"))?;
            principal.require(Role::Contributor)?;
            let mut conn = state.db.acquire().await?;
            let data = store::find(&mut *conn, &key, false)
                .await?
                .ok_or(ApiError::NotFound)?;
            workflow::article_response(StatusCode::OK, &present(&mut conn, &state, &data).await?)
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
    for (field, null) in [
        ("title", input.title == Patch::Null),
        ("slug", input.slug == Patch::Null),
        ("featured", input.featured == Patch::Null),
        ("language", input.language == Patch::Null),
    ] {
        if null {
            v.error(field, "must not be null");
        }
    }
    let title = match input.title {
        Patch::Value(t) => Some(t),
        _ => None,
    };
    let language = match input.language {
        Patch::Value(l) => Some(l),
        _ => None,
    };
    apply_text_fields(
        &mut v,
        &mut data,
        TextFields {
            title,
            subtitle: input.subtitle,
            excerpt: input.excerpt,
            language,
            seo: input.seo,
            external_id: input.external_id,
        },
    );
    if let Patch::Value(slug) = &input.slug {
        data.slug = v.slug("slug", slug);
    }
    if let Patch::Value(featured) = input.featured {
        data.featured = featured;
    }
    let body = match input.body {
        Patch::Value(blocks) => Some(blocks),
        Patch::Null => Some(Vec::new()),
        Patch::Missing => None,
    };
    let markdown = match input.body_markdown {
        Patch::Value(m) => Some(m),
        _ => None,
    };
    if let Some(blocks) = take_body(&mut v, body, markdown) {
        set_body(&mut data, blocks);
    }
    match input.banner {
        Patch::Value(banner) => {
            data.banner_image_id = Some(banner.image_id);
            data.banner_caption = v.optional_text(
                "banner.caption",
                banner.caption,
                crate::images::CAPTION_MAX_CHARS,
            );
            data.banner_credit = v.optional_text(
                "banner.credit",
                banner.credit,
                crate::images::CREDIT_MAX_CHARS,
            );
        }
        Patch::Null => {
            data.banner_image_id = None;
            data.banner_caption = None;
            data.banner_credit = None;
        }
        Patch::Missing => {}
    }
    let mut errors = Vec::new();
    match input.authors {
        Patch::Value(refs) => {
            data.author_ids =
                store::resolve_refs(&mut tx, RefKind::Authors, &refs, &mut errors, None).await?
        }
        Patch::Null => data.author_ids.clear(),
        Patch::Missing => {}
    }
    match input.tags {
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
    history::event(
        &mut tx,
        data.id,
        history::EventKind::Delete,
        Some(principal.user_id),
        data.version,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(article.id = %data.id, "article deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListArticlesQuery {
    /// `live` (default, anyone): published articles. `working` (signed in): working copies.
    view: Option<View>,
    /// With `view=working`: comma-separated statuses (`draft,published`).
    #[param(
        pattern = "^(draft|in_review|scheduled|published|archived)(,(draft|in_review|scheduled|published|archived))*$"
    )]
    status: Option<String>,
    /// Comma-separated tag slugs: articles with any of them.
    tag: Option<String>,
    /// An author slug.
    author: Option<String>,
    featured: Option<bool>,
    /// A BCP 47 language tag, e.g. `en`.
    #[param(pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length = 35)]
    language: Option<String>,
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    published_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    published_before: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    updated_after: Option<DateTime<Utc>>,
    /// Full-text search: title weighs most, then subtitle and excerpt, then body. Chinese,
    /// Japanese and Korean text is matched too (`q=松弛`). Results are ordered by relevance
    /// unless `sort` is given. A search covers the newest 1,000 matches (by `published_at`;
    /// working copies by `updated_at`), combined with every other filter; `total` counts
    /// those, so it is at most 1,000.
    q: Option<String>,
    /// `body`: include `body` and `body_html` in each item.
    #[param(pattern = "^body$")]
    include: Option<String>,
    /// Page size, 1–100 (default 20; larger values are clamped).
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// Opaque cursor from `meta.next_cursor`.
    cursor: Option<String>,
    /// 1-based page number, an alternative to `cursor`.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// `published_at` (default `-published_at`; working copies default to `-updated_at`),
    /// `updated_at`, `created_at`, `title`; with `q` also `rank` (the default then, `-rank`).
    sort: Option<String>,
}

/// With `q`, relevance (`rank`) is a sort key too; without, the same keys less `rank`.
const LIVE_SEARCH_SORT_KEYS: &[SortKey] = &[
    SortKey {
        name: "rank",
        column: "l.rank",
        kind: KeyKind::Float,
    },
    SortKey {
        name: "published_at",
        column: "l.published_at",
        kind: KeyKind::Time,
    },
    SortKey {
        name: "updated_at",
        column: "l.updated_at",
        kind: KeyKind::Time,
    },
    SortKey {
        name: "created_at",
        column: "l.created_at",
        kind: KeyKind::Time,
    },
    SortKey {
        name: "title",
        column: "l.title",
        kind: KeyKind::Text,
    },
];
const LIVE_SORT_KEYS: &[SortKey] = LIVE_SEARCH_SORT_KEYS.split_at(1).1;
static LIVE_ID: SortKey = SortKey {
    name: "id",
    column: "l.article_id",
    kind: KeyKind::Uuid,
};

const WORKING_SEARCH_SORT_KEYS: &[SortKey] = &[
    SortKey {
        name: "rank",
        column: "a.rank",
        kind: KeyKind::Float,
    },
    SortKey {
        name: "published_at",
        column: "a.sort_published_at",
        kind: KeyKind::Time,
    },
    SortKey {
        name: "updated_at",
        column: "a.updated_at",
        kind: KeyKind::Time,
    },
    SortKey {
        name: "created_at",
        column: "a.created_at",
        kind: KeyKind::Time,
    },
    SortKey {
        name: "title",
        column: "a.title",
        kind: KeyKind::Text,
    },
];
const WORKING_SORT_KEYS: &[SortKey] = WORKING_SEARCH_SORT_KEYS.split_at(1).1;
static WORKING_ID: SortKey = SortKey {
    name: "id",
    column: "a.id",
    kind: KeyKind::Uuid,
};

#[derive(sqlx::FromRow)]
struct LiveRow {
    article_id: Uuid,
    published_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    title: String,
    rank: f32,
    json: String,
    matches: Option<i64>,
}

impl SortValues for LiveRow {
    fn sort_value(&self, key: &str) -> KeyValue {
        match key {
            "published_at" => KeyValue::Time(self.published_at),
            "updated_at" => KeyValue::Time(self.updated_at),
            "created_at" => KeyValue::Time(self.created_at),
            "title" => KeyValue::Text(self.title.clone()),
            "rank" => KeyValue::Float(f64::from(self.rank)),
            _ => KeyValue::Uuid(self.article_id),
        }
    }
}

#[derive(sqlx::FromRow)]
struct WorkingRow {
    #[sqlx(flatten)]
    article: store::ArticleRow,
    rank: f32,
    total: i64,
}

/// A working copy with its search rank, for cursors.
struct Ranked(ArticleData, f32);

impl SortValues for Ranked {
    fn sort_value(&self, key: &str) -> KeyValue {
        let data = &self.0;
        match key {
            "published_at" => KeyValue::Time(data.published_at.unwrap_or(data.created_at)),
            "updated_at" => KeyValue::Time(data.updated_at),
            "created_at" => KeyValue::Time(data.created_at),
            "title" => KeyValue::Text(data.title.clone()),
            "rank" => KeyValue::Float(f64::from(self.1)),
            _ => KeyValue::Uuid(data.id),
        }
    }
}

fn parse_status(text: &str) -> ApiResult<ArticleStatus> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "unknown status '{text}'; allowed: {}",
            ArticleStatus::allowed()
        ))
    })
}

/// A search ranks at most this many matches: the newest ones (by publication for live copies,
/// by last change for working copies). Ranking reads each candidate's whole search vector
/// (~6 KB for an 800-word article), so ranking every article a common word appears in (40,000
/// of 100,000) took 700 ms; the newest 1,000 take ~40 ms. `total` counts the ranked set.
const SEARCH_CANDIDATES: i64 = 1000;

/// The filters of a list, validated.
struct Filters {
    statuses: Option<Vec<ArticleStatus>>,
    tags: Option<Vec<String>>,
    author: Option<String>,
    featured: Option<bool>,
    language: Option<String>,
    published_after: Option<DateTime<Utc>>,
    published_before: Option<DateTime<Utc>>,
    updated_after: Option<DateTime<Utc>>,
    /// A `tsquery` built by `search::query_expression`.
    search: Option<String>,
    /// Live lists: the ids of the `tags` and `author` slugs (see `resolve_live`).
    tag_ids: Option<Vec<Uuid>>,
    author_ids: Option<Vec<Uuid>>,
}

impl Filters {
    fn any(&self) -> bool {
        self.given() > 0
    }

    /// How many filters are given, `tag` counting once.
    fn given(&self) -> usize {
        [
            self.statuses.is_some(),
            self.tags.is_some(),
            self.author.is_some(),
            self.featured.is_some(),
            self.language.is_some(),
            self.published_after.is_some(),
            self.published_before.is_some(),
            self.updated_after.is_some(),
            self.search.is_some(),
        ]
        .into_iter()
        .filter(|&given| given)
        .count()
    }

    /// Live lists: looks up the tag and author slugs in one statement, so that the page query
    /// binds their ids as values. PostgreSQL then plans each page for the tag it reads (a
    /// backward scan of the newest articles for a common tag, the GIN index for a rare one);
    /// with the ids behind a sub-select it scanned all 100,000 articles for a tag with none.
    /// Returns the total when it is a maintained count: a single tag or author and nothing else.
    async fn resolve_live(&mut self, db: &sqlx::PgPool) -> sqlx::Result<Option<i64>> {
        if self.tags.is_none() && self.author.is_none() {
            return Ok(None);
        }
        let rows: Vec<(bool, Uuid, i32)> = sqlx::query_as(
            "select true, id, article_count from tags where slug = any($1) \
             union all select false, id, article_count from authors where slug = $2",
        )
        .bind(self.tags.as_deref().unwrap_or_default())
        .bind(self.author.as_deref())
        .fetch_all(db)
        .await?;
        let ids = |tag: bool| -> Vec<Uuid> {
            rows.iter()
                .filter(|row| row.0 == tag)
                .map(|row| row.1)
                .collect()
        };
        self.tag_ids = self.tags.as_ref().map(|_| ids(true));
        self.author_ids = self.author.as_ref().map(|_| ids(false));
        let single_tag = self.tags.as_ref().is_some_and(|tags| tags.len() == 1);
        Ok((self.given() == 1 && (single_tag || self.author.is_some()))
            .then(|| rows.first().map_or(0, |row| i64::from(row.2))))
    }

    /// `from … where …` for the view. `a`/`l` stays the alias so sort keys read the same with
    /// or without search. A search selects its candidates (filtered, newest first, at most
    /// `SEARCH_CANDIDATES`) and ranks them; `matches` is the size of that set.
    fn push_source(&self, qb: &mut QueryBuilder<Postgres>, view: View) {
        let (table, p, recency) = match view {
            View::Live => ("live_articles", "l", "l.published_at"),
            View::Working => ("articles", "a", "a.updated_at"),
        };
        let extra = match view {
            View::Live => "",
            View::Working => ", coalesce(a.published_at, a.created_at) as sort_published_at",
        };
        match &self.search {
            Some(expression) => {
                // `terms` is the vector that matched: a working copy unchanged since publishing
                // has its own only in its live copy (migrations 0008, 0009).
                let terms = match view {
                    View::Live => "l.search",
                    View::Working => "m.terms",
                };
                qb.push(format!(
                    " from (select x.*, ts_rank(x.terms, x.query) as rank, \
                     count(*) over () as matches from (select {p}.*, {terms} as terms, \
                     q.query{extra} from "
                ));
                match view {
                    View::Live => {
                        qb.push("live_articles l");
                    }
                    View::Working => {
                        qb.push(
                            "(select s.id, s.search as terms from articles s \
                             where s.live_version is distinct from s.version and s.search @@ cast(",
                        )
                        .push_bind(expression.clone())
                        .push(
                            " as tsquery) union all select l.article_id, l.search from \
                             live_articles l join articles s on s.id = l.article_id \
                             and s.live_version = s.version where l.search @@ cast(",
                        )
                        .push_bind(expression.clone())
                        .push(" as tsquery)) m join articles a on a.id = m.id");
                    }
                }
                qb.push(", cast(")
                    .push_bind(expression.clone())
                    .push(" as tsquery) as q(query)");
                match view {
                    View::Live => qb.push(" where l.search @@ q.query"),
                    // The union matched already.
                    View::Working => qb.push(" where true"),
                };
                self.push_where(qb, view);
                qb.push(format!(
                    " order by {recency} desc limit {SEARCH_CANDIDATES}) x) {p} where true"
                ));
            }
            None => {
                qb.push(format!(
                    " from (select {p}.*, 0::real as rank, null::bigint as matches{extra} \
                     from {table} {p}) {p} where true"
                ));
                self.push_where(qb, view);
            }
        }
    }

    /// Counts every row the filters match (a search: its candidates).
    async fn count(&self, db: &sqlx::PgPool, view: View) -> sqlx::Result<i64> {
        let mut count: QueryBuilder<Postgres> = QueryBuilder::new("select count(*)");
        self.push_source(&mut count, view);
        count
            .build_query_scalar()
            .persistent(false)
            .fetch_one(db)
            .await
    }

    fn push_where(&self, qb: &mut QueryBuilder<Postgres>, view: View) {
        let p = match view {
            View::Live => "l",
            View::Working => "a",
        };
        if let Some(statuses) = &self.statuses {
            qb.push(" and a.status = any(")
                .push_bind(statuses.clone())
                .push(")");
        }
        match view {
            View::Live => {
                if let Some(ids) = &self.tag_ids {
                    qb.push(" and l.tag_ids && ").push_bind(ids.clone());
                }
                if let Some(ids) = &self.author_ids {
                    qb.push(" and l.author_ids && ").push_bind(ids.clone());
                }
            }
            View::Working => {
                if let Some(tags) = &self.tags {
                    qb.push(
                        " and exists (select 1 from article_tags x join tags t on t.id = x.tag_id \
                         where x.article_id = a.id and t.slug = any(",
                    )
                    .push_bind(tags.clone())
                    .push("))");
                }
                if let Some(author) = &self.author {
                    qb.push(
                        " and exists (select 1 from article_authors x join authors w \
                         on w.id = x.author_id where x.article_id = a.id and w.slug = ",
                    )
                    .push_bind(author.clone())
                    .push(")");
                }
            }
        }
        if let Some(featured) = self.featured {
            qb.push(format!(" and {p}.featured = ")).push_bind(featured);
        }
        if let Some(language) = &self.language {
            qb.push(format!(" and {p}.language = "))
                .push_bind(language.clone());
        }
        if let Some(after) = self.published_after {
            qb.push(format!(" and {p}.published_at > "))
                .push_bind(after);
        }
        if let Some(before) = self.published_before {
            qb.push(format!(" and {p}.published_at < "))
                .push_bind(before);
        }
        if let Some(after) = self.updated_after {
            qb.push(format!(" and {p}.updated_at > ")).push_bind(after);
        }
    }
}

/// The total of a live list without counting row by row where a maintained count or the
/// page itself knows it. Counting the matches of a filter is what bounds a filtered list (a tag
/// with 3,000 of 100,000 articles: ~360 counts/s against ~3,200 page queries/s).
async fn live_total(
    state: &AppState,
    filters: &Filters,
    maintained: Option<i64>,
    page_matches: Option<i64>,
) -> ApiResult<i64> {
    if let Some(total) = maintained.or(page_matches) {
        return Ok(total);
    }
    if !filters.any() {
        return Ok(sqlx::query_scalar(
            "select count from row_counts where table_name = 'live_articles'",
        )
        .fetch_one(&state.db)
        .await?);
    }
    Ok(filters.count(&state.db, View::Live).await?)
}

fn split_list(raw: &Option<String>) -> Option<Vec<String>> {
    raw.as_deref()
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|list| !list.is_empty())
}

/// List articles: live copies of published articles (anyone), or working copies
/// (`view=working`, signed in), filtered and searched. Lists leave out `body` unless
/// `include=body`.
#[utoipa::path(get, path = "/v1/articles", tag = "articles", params(ListArticlesQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of articles", body = ListResponse<Article>)))]
pub async fn list_articles(
    State(state): State<AppState>,
    ReadAccess(principal): ReadAccess,
    ApiQuery(query): ApiQuery<ListArticlesQuery>,
) -> ApiResult<Response> {
    let include_body = match query.include.as_deref() {
        None | Some("") => false,
        Some("body") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown include '{other}'; allowed: body"
            )));
        }
    };
    let view = query.view.unwrap_or(View::Live);
    let statuses = split_list(&query.status)
        .map(|list| {
            list.iter()
                .map(|s| parse_status(s))
                .collect::<ApiResult<Vec<_>>>()
        })
        .transpose()?;
    if view == View::Live && statuses.is_some() {
        return Err(ApiError::bad_request(
            "status filters working copies: add view=working",
        ));
    }
    let search = match query.q.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(q) if q.chars().count() > 200 => {
            return Err(ApiError::bad_request("q must be at most 200 characters"));
        }
        Some(q) => Some(
            search::query_expression(q)
                .ok_or_else(|| ApiError::bad_request("q has no searchable words"))?,
        ),
    };
    let filters = Filters {
        statuses,
        tags: split_list(&query.tag),
        author: query.author.clone().filter(|a| !a.is_empty()),
        featured: query.featured,
        language: query.language.clone().filter(|l| !l.is_empty()),
        published_after: query.published_after,
        published_before: query.published_before,
        updated_after: query.updated_after,
        search,
        tag_ids: None,
        author_ids: None,
    };
    let searching = filters.search.is_some();

    if view == View::Live {
        let mut filters = filters;
        let maintained_total = filters.resolve_live(&state.db).await?;
        let (keys, default_sort) = if searching {
            (LIVE_SEARCH_SORT_KEYS, "-rank")
        } else {
            (LIVE_SORT_KEYS, "-published_at")
        };
        let sort = Sort::parse(query.sort.as_deref(), keys, default_sort, &LIVE_ID)?;
        let page = PageRequest::new(query.limit, query.cursor.as_deref(), query.page, sort)?;
        let column = if include_body {
            "l.document"
        } else {
            "l.summary"
        };
        let mut select: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "select l.article_id, l.published_at, l.updated_at, l.created_at, l.title, l.rank, \
             l.matches, {column} as json"
        ));
        filters.push_source(&mut select, view);
        page.push_sql(&mut select);
        // Filtered pages are planned for their values (a rare tag or word reads an index, a
        // common one the newest rows); the unfiltered home page keeps its prepared plan.
        let rows: Vec<LiveRow> = select
            .build_query_as()
            .persistent(!filters.any())
            .fetch_all(&state.db)
            .await?;
        let page_matches = rows.first().and_then(|row| row.matches);
        let total = live_total(&state, &filters, maintained_total, page_matches).await?;
        // The items are stored JSON: splice them into the envelope instead of parsing them.
        let list = page.finish(rows, total, |row| row.json);
        let meta = serde_json::to_string(&list.meta).map_err(|e| ApiError::Internal(e.into()))?;
        return Ok(raw_json(format!(
            "{{\"data\":[{}],\"meta\":{meta}}}",
            list.data.join(",")
        )));
    }

    let principal = principal.ok_or(ApiError::Unauthorized("sign in to see working copies"))?;
    principal.require(Role::Contributor)?;
    let (keys, default_sort) = if searching {
        (WORKING_SEARCH_SORT_KEYS, "-rank")
    } else {
        (WORKING_SORT_KEYS, "-updated_at")
    };
    let sort = Sort::parse(query.sort.as_deref(), keys, default_sort, &WORKING_ID)?;
    let page = PageRequest::new(query.limit, query.cursor.as_deref(), query.page, sort)?;
    // One statement for the page and its total, one for authors and tags, one for images.
    let mut select: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("select {}, a.rank, ", store::COLUMNS));
    if searching {
        select.push("a.matches as total");
    } else {
        select.push("(select count(*)");
        filters.push_source(&mut select, view);
        select.push(") as total");
    }
    filters.push_source(&mut select, view);
    page.push_sql(&mut select);
    let rows: Vec<WorkingRow> = select
        .build_query_as()
        .persistent(!filters.any())
        .fetch_all(&state.db)
        .await?;
    let total = match rows.first() {
        Some(row) => row.total,
        None => filters.count(&state.db, view).await?,
    };
    let copies: Vec<Ranked> = rows
        .into_iter()
        .map(|row| Ranked(row.article.into(), row.rank))
        .collect();
    let mut conn = state.db.acquire().await?;
    let refs: Vec<&ArticleData> = copies.iter().map(|r| &r.0).collect();
    let embeds = store::embeds(&mut conn, &state.media, &refs).await?;
    let list = page.finish(copies, total, |ranked| {
        render(&ranked.0, &embeds, include_body)
    });
    Ok(Json(list).into_response())
}
