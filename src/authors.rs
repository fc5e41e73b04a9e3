//! Authors: the bylines of articles. Readable by anyone (per `GALLEY_PUBLIC_READ`), written by
//! editors. `email` is shown to signed-in callers only.

use std::collections::{BTreeMap, HashMap};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, types::Json as DbJson};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::app::AppState;
use crate::db::kept_counts::row_count;
use crate::{
    accounts::{
        auth::{Auth, ReadAccess},
        role::Role,
    },
    articles::live::Embedded,
    changes::{
        current::Current,
        feed::EntryType,
        outbox::{self, EventType, ObjectType},
        purge::PurgeKeys,
    },
    http::{
        error::{ApiError, ApiResult, ConstraintErrors, Problem, on_constraint, slug_error},
        extract::{ApiJson, ApiQuery, IdOrSlug, ListQuery},
        fields::{self, FieldSet},
        middleware::check_if_match,
        pagination::{
            KeyKind, KeyValue, ListParams, ListResponse, NameSearch, SortKey, document_sort_keys,
        },
        patch::Patch,
        route_policy::{Policy::PublicRead, with},
    },
    idempotency::once,
    images::{self, Image},
    slug::{self, SlugTable},
    validate::Validator,
};

pub fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(once(with(PublicRead, routes!(list_authors, create_author))))
        .routes(with(
            PublicRead,
            routes!(get_author, update_author, delete_author),
        ));
    document_sort_keys(router, "/v1/authors", SORT_KEYS)
}

/// The longest author name, in characters.
pub const NAME_MAX_CHARS: usize = 200;

/// The columns of a row. A macro so that `concat!` can build static statements.
macro_rules! columns {
    () => {
        "a.id, a.slug, a.name, a.bio, a.website, a.social, a.email, \
                       a.avatar_image_id, a.article_count, a.created_at, a.updated_at"
    };
}

/// The id of the author with this id or slug, for an article that refers to it.
pub async fn id_of(
    tx: &mut PgConnection,
    id: Option<Uuid>,
    slug: Option<&str>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("select id from authors where id = $1 or slug = $2")
        .bind(id)
        .bind(slug)
        .fetch_optional(tx)
        .await
}

/// The id of the author with `slug`, if there is one.
pub async fn id_by_slug(tx: &mut PgConnection, slug: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("select id from authors where slug = $1")
        .bind(slug)
        .fetch_optional(tx)
        .await
}

/// The id of the author with `slug`, created with `name` when there is none: an article or an
/// import line may name a author that does not exist yet. A concurrent creator of the same slug
/// wins, and its row is the one returned.
pub async fn find_or_create(
    tx: &mut PgConnection,
    slug: &str,
    name: &str,
) -> sqlx::Result<Option<Uuid>> {
    let created: Option<AuthorRow> = sqlx::query_as(concat!(
        "insert into authors as a (id, slug, name) values ($1, $2, $3) \
         on conflict (slug) do nothing returning ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(slug)
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = created {
        // A new author has no avatar yet.
        let author = row.into_author(false, &HashMap::new());
        outbox::record(tx, EventType::AuthorCreated, &author, true, None).await?;
        return Ok(Some(author.id));
    }
    id_by_slug(tx, slug).await
}

/// An author (byline).
#[derive(Debug, Serialize, ToSchema)]
pub struct Author {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub bio: Option<String>,
    /// The author's picture; set with `avatar_image_id`.
    pub avatar: Option<Image>,
    pub website: Option<String>,
    /// Profile URLs by network: `{"x": "https://x.com/…", "weibo": "https://weibo.com/…"}`.
    pub social: BTreeMap<String, String>,
    /// Contact email; present for signed-in callers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Number of published articles bylined with this author.
    pub article_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct AuthorRow {
    id: Uuid,
    slug: String,
    name: String,
    bio: Option<String>,
    website: Option<String>,
    social: DbJson<BTreeMap<String, String>>,
    email: Option<String>,
    avatar_image_id: Option<Uuid>,
    article_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl AuthorRow {
    fn into_author(self, signed_in: bool, avatars: &HashMap<Uuid, Image>) -> Author {
        Author {
            id: self.id,
            slug: self.slug,
            name: self.name,
            bio: self.bio,
            avatar: self
                .avatar_image_id
                .and_then(|id| avatars.get(&id).cloned()),
            website: self.website,
            social: self.social.0,
            email: signed_in.then_some(self.email),
            article_count: i64::from(self.article_count),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = columns!();

const AUTHOR_CONSTRAINTS: ConstraintErrors = &[("authors_avatar_image_id_fkey", || {
    ApiError::invalid("avatar_image_id", "no image with this id")
})];

/// The authors' avatars, fetched in one query.
async fn avatars(state: &AppState, rows: &[AuthorRow]) -> sqlx::Result<HashMap<Uuid, Image>> {
    let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.avatar_image_id).collect();
    images::find_many(&state.db, &state.media, &ids).await
}

/// An author as the public sees it (no email), for the outbox.
async fn public(state: &AppState, row: &AuthorRow) -> sqlx::Result<Author> {
    let avatars = avatars(state, std::slice::from_ref(row)).await?;
    Ok(row.clone().into_author(false, &avatars))
}

/// An author as the API shows it, with its avatar.
async fn present(state: &AppState, row: AuthorRow, signed_in: bool) -> ApiResult<Author> {
    let avatars = avatars(state, std::slice::from_ref(&row)).await?;
    Ok(row.into_author(signed_in, &avatars))
}

static SORT_KEYS: &[SortKey<AuthorRow>] = &[
    SortKey {
        name: "name",
        column: "a.name",
        kind: KeyKind::Text,
        value: |r| KeyValue::Text(r.name.clone()),
    },
    SortKey {
        name: "article_count",
        column: "a.article_count",
        kind: KeyKind::Int,
        value: |r| KeyValue::Int(i64::from(r.article_count)),
    },
    SortKey {
        name: "created_at",
        column: "a.created_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.created_at),
    },
];
static ID_KEY: SortKey<AuthorRow> = SortKey {
    name: "id",
    column: "a.id",
    kind: KeyKind::Uuid,
    value: |r| KeyValue::Uuid(r.id),
};

async fn find(
    db: impl sqlx::PgExecutor<'_>,
    key: &IdOrSlug,
    for_update: bool,
) -> sqlx::Result<Option<AuthorRow>> {
    let (id, slug) = key.binds();
    const FIND: &str = concat!(
        "select ",
        columns!(),
        " from authors a where a.id = $1 or a.slug = $2"
    );
    const FIND_FOR_UPDATE: &str = concat!(
        "select ",
        columns!(),
        " from authors a where a.id = $1 or a.slug = $2 for update"
    );
    sqlx::query_as(if for_update { FIND_FOR_UPDATE } else { FIND })
        .bind(id)
        .bind(slug)
        .fetch_optional(db)
        .await
}

/// Authors with ids after `after`, in id order, as the public sees them (no email), for the
/// change feed's initial state; avatars in one query.
pub async fn current_page(state: &AppState, after: Uuid, limit: i64) -> sqlx::Result<Vec<Current>> {
    let rows: Vec<AuthorRow> = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from authors a where a.id > $1 order by a.id limit $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let avatars = avatars(state, &rows).await?;
    rows.into_iter()
        .map(|row| {
            let author = row.into_author(false, &avatars);
            let slug = Some(author.slug.clone());
            Current::public(
                EntryType::Author,
                author.id,
                slug,
                author.updated_at,
                &author,
            )
        })
        .collect()
}

/// The members of an author, for `fields=`.
pub const AUTHOR_FIELDS: &[&str] = &[
    "id",
    "slug",
    "name",
    "bio",
    "avatar",
    "website",
    "social",
    "email",
    "article_count",
    "created_at",
    "updated_at",
];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuthorsQuery {
    /// Only those whose name or slug contains this (case-insensitive), 1–100 characters.
    #[param(max_length = 100)]
    q: Option<String>,
    /// A sparse fieldset: only these members of each author (and `id`); unknown names are `400`.
    #[param(
        pattern = "^ *(id|slug|name|bio|avatar|website|social|email|article_count|created_at|updated_at) *(, *(id|slug|name|bio|avatar|website|social|email|article_count|created_at|updated_at) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuthorQuery {
    /// A sparse fieldset: only these members (and `id`); unknown names are `400`.
    #[param(
        pattern = "^ *(id|slug|name|bio|avatar|website|social|email|article_count|created_at|updated_at) *(, *(id|slug|name|bio|avatar|website|social|email|article_count|created_at|updated_at) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
}

/// List authors. Sort keys: `name` (default), `article_count`, `created_at`.
#[utoipa::path(get, path = "/v1/authors", tag = "authors", params(ListParams, ListAuthorsQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of authors", body = ListResponse<Author>)))]
pub async fn list_authors(
    State(state): State<AppState>,
    ReadAccess(principal): ReadAccess,
    ListQuery(params, query): ListQuery<ListAuthorsQuery>,
) -> ApiResult<axum::response::Response> {
    let fields = FieldSet::parse(query.fields.as_deref(), AUTHOR_FIELDS)?;
    let search = NameSearch { q: query.q };
    let page = params.page_request(SORT_KEYS, "name", &ID_KEY)?;
    let (rows, total) = page
        .fetch_named(
            &state.db,
            COLUMNS,
            "authors a",
            &search,
            row_count!("authors"),
        )
        .await?;
    let signed_in = principal.is_some();
    let avatars = avatars(&state, &rows).await?;
    let mut keys = PurgeKeys::list(ObjectType::Author);
    for row in &rows {
        keys.add(ObjectType::Author.key(row.id));
        if let Some(avatar) = row.avatar_image_id {
            keys.add(ObjectType::Image.key(avatar));
        }
    }
    Ok(keys.respond(fields::list(
        page.finish(rows, total, |row| row.into_author(signed_in, &avatars)),
        fields.as_ref(),
    )?))
}

/// Get an author by id or slug.
#[utoipa::path(get, path = "/v1/authors/{id}", tag = "authors",
    params(("id" = String, Path, description = "Author id or slug"), AuthorQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The author", body = Author)))]
pub async fn get_author(
    State(state): State<AppState>,
    ReadAccess(principal): ReadAccess,
    key: IdOrSlug,
    ApiQuery(query): ApiQuery<AuthorQuery>,
) -> ApiResult<axum::response::Response> {
    let fields = FieldSet::parse(query.fields.as_deref(), AUTHOR_FIELDS)?;
    let row = find(&state.db, &key, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut keys = PurgeKeys::one(ObjectType::Author, row.id);
    if let Some(avatar) = row.avatar_image_id {
        keys.add(ObjectType::Image.key(avatar));
    }
    Ok(keys.respond(fields::one(
        present(&state, row, principal.is_some()).await?,
        fields.as_ref(),
    )?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuthor {
    /// 1–200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// Generated from the name when absent (transliterated: 管静鹏 → guan-jing-peng).
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    slug: Option<String>,
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    bio: Option<String>,
    #[schema(max_length = 2000, pattern = r"^(\s*|https?://[^\s/?#@.][^\s]*)$")]
    website: Option<String>,
    social: Option<BTreeMap<String, String>>,
    #[schema(format = Email, max_length = 320)]
    email: Option<String>,
    /// An image from the library to show as the author's picture.
    avatar_image_id: Option<Uuid>,
}

/// The validated, writable fields of an author.
struct AuthorFields {
    name: String,
    bio: Option<String>,
    website: Option<String>,
    social: BTreeMap<String, String>,
    email: Option<String>,
}

fn validate_social(
    v: &mut Validator,
    social: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    if social.len() > 20 {
        v.error("social", "must have at most 20 entries");
    }
    social
        .into_iter()
        .map(|(network, url)| {
            let field = format!("social.{network}");
            let valid_key = (1..=30).contains(&network.len())
                && network
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_key {
                v.error(
                    &field,
                    "network names are 1-30 characters of a-z, 0-9 and _",
                );
            }
            let url = v.web_url(&field, &url);
            (network, url)
        })
        .collect()
}

/// Create an author (editor).
#[utoipa::path(post, path = "/v1/authors", tag = "authors", request_body = CreateAuthor,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Author, headers(("location" = String))),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_author(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<CreateAuthor>,
) -> ApiResult<impl IntoResponse> {
    principal.require(Role::Editor)?;
    let mut v = Validator::new();
    let fields = AuthorFields {
        name: v.text("name", &body.name, NAME_MAX_CHARS),
        bio: v.optional_text("bio", body.bio, 5000),
        website: body
            .website
            .filter(|w| !w.trim().is_empty())
            .map(|w| v.web_url("website", &w)),
        social: validate_social(&mut v, body.social.unwrap_or_default()),
        email: body
            .email
            .filter(|e| !e.trim().is_empty())
            .map(|e| v.email("email", &e)),
    };
    let explicit_slug = body.slug.map(|s| v.slug("slug", &s));
    v.finish()?;

    let actor = Some(principal.user_id);
    let row = slug::insert_with_slug(
        &state.db,
        SlugTable::Authors,
        explicit_slug,
        &fields.name,
        |slug| {
            let (fields, state) = (&fields, &state);
            async move {
                let mut tx = state.db.begin().await?;
                let row = sqlx::query_as::<_, AuthorRow>(concat!(
                    r#"
                insert into authors as a (id, slug, name, bio, website, social, email, avatar_image_id)
                values ($1, $2, $3, $4, $5, $6, $7, $8)
                returning "#,
                    columns!()
                ))
                .bind(Uuid::now_v7())
                .bind(slug)
                .bind(&fields.name)
                .bind(&fields.bio)
                .bind(&fields.website)
                .bind(DbJson(&fields.social))
                .bind(&fields.email)
                .bind(body.avatar_image_id)
                .fetch_one(&mut *tx)
                .await?;
                let public = public(state, &row).await?;
                outbox::record(&mut tx, EventType::AuthorCreated, &public, true, actor).await?;
                tx.commit().await?;
                Ok(row)
            }
        },
    )
    .await
    .map_err(|err| slug_error(err, AUTHOR_CONSTRAINTS))?;
    tracing::info!(author.id = %row.id, "author created");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/authors/{}", row.id))],
        Json(present(&state, row, true).await?),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateAuthor {
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    name: Patch<String>,
    /// Changing the slug changes the author's URL; old URLs stop working.
    #[schema(value_type = String, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    slug: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 5000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    bio: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 2000, pattern = r"^(\s*|https?://[^\s/?#@.][^\s]*)$")]
    website: Patch<String>,
    /// Replaces the whole map; `null` or `{}` clears it.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    social: Patch<BTreeMap<String, String>>,
    #[schema(value_type = Option<String>, format = Email, max_length = 320)]
    email: Patch<String>,
    /// `null` removes the picture.
    #[schema(value_type = Option<Uuid>)]
    avatar_image_id: Patch<Uuid>,
}

/// Update an author (editor). Absent fields are kept; `null` clears an optional one.
#[utoipa::path(patch, path = "/v1/authors/{id}", tag = "authors", request_body = UpdateAuthor,
    params(("id" = String, Path, description = "Author id or slug")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated author", body = Author),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_author(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateAuthor>,
) -> ApiResult<Json<Author>> {
    principal.require(Role::Editor)?;
    let mut v = Validator::new();
    v.not_null("name", &body.name);
    v.not_null("slug", &body.slug);
    let name = body.name.map(|n| v.text("name", &n, NAME_MAX_CHARS));
    let new_slug = body.slug.map(|s| v.slug("slug", &s));
    let bio = body
        .bio
        .map_nullable(|b| v.optional_text("bio", Some(b), 5000));
    let website = body
        .website
        .map_nullable(|w| (!w.trim().is_empty()).then(|| v.web_url("website", &w)));
    let social = body.social.map(|s| validate_social(&mut v, s));
    let email = body
        .email
        .map_nullable(|e| (!e.trim().is_empty()).then(|| v.email("email", &e)));
    v.finish()?;

    let mut tx = state.db.begin().await?;
    let current = find(&mut *tx, &key, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    check_if_match(&headers, &present(&state, current.clone(), true).await?)?;
    let slug_value = match &new_slug {
        Patch::Value(s) => s.clone(),
        _ => current.slug.clone(),
    };
    let row: AuthorRow = sqlx::query_as(concat!(
        r#"
        update authors as a set
            name = $2, slug = $3, bio = $4, website = $5, social = $6, email = $7,
            avatar_image_id = $8, updated_at = now()
        where a.id = $1
        returning "#,
        columns!()
    ))
    .bind(current.id)
    .bind(match name {
        Patch::Value(n) => n,
        _ => current.name.clone(),
    })
    .bind(&slug_value)
    .bind(bio.apply(current.bio.clone()))
    .bind(website.apply(current.website.clone()))
    .bind(DbJson(
        social
            .apply(Some(current.social.0.clone()))
            .unwrap_or_default(),
    ))
    .bind(email.apply(current.email.clone()))
    .bind(body.avatar_image_id.apply(current.avatar_image_id))
    .fetch_one(&mut *tx)
    .await
    .map_err(|err| {
        slug_error(
            slug::taken_on_update(err, SlugTable::Authors, &slug_value),
            AUTHOR_CONSTRAINTS,
        )
    })?;
    let actor = Some(principal.user_id);
    let author = public(&state, &row).await?;
    outbox::record(&mut tx, EventType::AuthorUpdated, &author, true, actor).await?;
    crate::articles::live::rerender_live(&mut tx, &state.media, Embedded::Author(row.id), actor)
        .await?;
    tx.commit().await?;
    tracing::info!(author.id = %row.id, "author updated");
    Ok(Json(present(&state, row, true).await?))
}

/// Delete an author (editor). Users linked to the author keep their account, unlinked.
#[utoipa::path(delete, path = "/v1/authors/{id}", tag = "authors",
    params(("id" = String, Path, description = "Author id or slug")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The author has articles", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_author(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    principal.require(Role::Editor)?;
    let mut tx = state.db.begin().await?;
    let current = find(&mut *tx, &key, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    check_if_match(&headers, &present(&state, current.clone(), true).await?)?;
    sqlx::query("delete from authors where id = $1")
        .bind(current.id)
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            on_constraint(
                err,
                &[("article_authors_author_id_fkey", || {
                    ApiError::Conflict(
                        "the author has articles; remove them from their bylines first".into(),
                    )
                })],
            )
        })?;
    let author = public(&state, &current).await?;
    outbox::record(
        &mut tx,
        EventType::AuthorDeleted,
        &author,
        false,
        Some(principal.user_id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(author.id = %current.id, "author deleted");
    Ok(StatusCode::NO_CONTENT)
}

impl outbox::PublicObject for Author {
    const KIND: ObjectType = ObjectType::Author;

    fn id(&self) -> Uuid {
        self.id
    }

    fn slug(&self) -> Option<&str> {
        Some(&self.slug)
    }
}
