//! Tags: the topics articles are filed under (Olympics, Music, 松弛感). Readable by anyone
//! (per `GALLEY_PUBLIC_READ`), written by editors.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
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
        error::{ApiError, ApiResult, Problem},
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
    slug::{self, SlugTable},
    validate::Validator,
};

pub fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(once(with(PublicRead, routes!(list_tags, create_tag))))
        .routes(with(PublicRead, routes!(get_tag, update_tag, delete_tag)));
    document_sort_keys(router, "/v1/tags", SORT_KEYS)
}

/// The longest tag name, in characters.
pub const NAME_MAX_CHARS: usize = 100;

/// The columns of a row. A macro so that `concat!` can build static statements.
macro_rules! columns {
    () => {
        "t.id, t.slug, t.name, t.description, t.article_count, t.created_at, t.updated_at"
    };
}

/// The id of the tag with this id or slug, for an article that refers to it.
pub async fn id_of(
    tx: &mut PgConnection,
    id: Option<Uuid>,
    slug: Option<&str>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("select id from tags where id = $1 or slug = $2")
        .bind(id)
        .bind(slug)
        .fetch_optional(tx)
        .await
}

/// The id of the tag with `slug`, if there is one.
pub async fn id_by_slug(tx: &mut PgConnection, slug: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("select id from tags where slug = $1")
        .bind(slug)
        .fetch_optional(tx)
        .await
}

/// The id of the tag with `slug`, created with `name` when there is none: an article or an
/// import line may name a tag that does not exist yet. A concurrent creator of the same slug
/// wins, and its row is the one returned.
pub async fn find_or_create(
    tx: &mut PgConnection,
    slug: &str,
    name: &str,
) -> sqlx::Result<Option<Uuid>> {
    let created: Option<Tag> = sqlx::query_as(concat!(
        "insert into tags as t (id, slug, name) values ($1, $2, $3) on conflict (slug) do nothing \
         returning ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(slug)
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(tag) = created {
        outbox::record(tx, EventType::TagCreated, &tag, true, None).await?;
        return Ok(Some(tag.id));
    }
    id_by_slug(tx, slug).await
}

/// A tag.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Tag {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    /// Number of published articles with this tag.
    #[sqlx(try_from = "i32")]
    pub article_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = columns!();

static SORT_KEYS: &[SortKey<Tag>] = &[
    SortKey {
        name: "name",
        column: "t.name",
        kind: KeyKind::Text,
        value: |r| KeyValue::Text(r.name.clone()),
    },
    SortKey {
        name: "article_count",
        column: "t.article_count",
        kind: KeyKind::Int,
        value: |r| KeyValue::Int(r.article_count),
    },
    SortKey {
        name: "created_at",
        column: "t.created_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.created_at),
    },
];
static ID_KEY: SortKey<Tag> = SortKey {
    name: "id",
    column: "t.id",
    kind: KeyKind::Uuid,
    value: |r| KeyValue::Uuid(r.id),
};

async fn find(
    db: impl sqlx::PgExecutor<'_>,
    key: &IdOrSlug,
    for_update: bool,
) -> sqlx::Result<Option<Tag>> {
    let (id, slug) = key.binds();
    const FIND: &str = concat!(
        "select ",
        columns!(),
        " from tags t where t.id = $1 or t.slug = $2"
    );
    const FIND_FOR_UPDATE: &str = concat!(
        "select ",
        columns!(),
        " from tags t where t.id = $1 or t.slug = $2 for update"
    );
    sqlx::query_as(if for_update { FIND_FOR_UPDATE } else { FIND })
        .bind(id)
        .bind(slug)
        .fetch_optional(db)
        .await
}

/// The members of a tag, for `fields=`.
pub const TAG_FIELDS: &[&str] = &[
    "id",
    "slug",
    "name",
    "description",
    "article_count",
    "created_at",
    "updated_at",
];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTagsQuery {
    /// Only those whose name or slug contains this (case-insensitive), 1–100 characters.
    #[param(max_length = 100)]
    q: Option<String>,
    /// A sparse fieldset: only these members of each tag (and `id`); unknown names are `400`.
    #[param(
        pattern = "^ *(id|slug|name|description|article_count|created_at|updated_at) *(, *(id|slug|name|description|article_count|created_at|updated_at) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TagQuery {
    /// A sparse fieldset: only these members (and `id`); unknown names are `400`.
    #[param(
        pattern = "^ *(id|slug|name|description|article_count|created_at|updated_at) *(, *(id|slug|name|description|article_count|created_at|updated_at) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
}

/// List tags. Sort keys: `name` (default), `article_count`, `created_at`.
#[utoipa::path(get, path = "/v1/tags", tag = "tags", params(ListParams, ListTagsQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of tags", body = ListResponse<Tag>)))]
pub async fn list_tags(
    State(state): State<AppState>,
    ReadAccess(_): ReadAccess,
    ListQuery(params, query): ListQuery<ListTagsQuery>,
) -> ApiResult<axum::response::Response> {
    let fields = FieldSet::parse(query.fields.as_deref(), TAG_FIELDS)?;
    let search = NameSearch { q: query.q };
    let page = params.page_request(SORT_KEYS, "name", &ID_KEY)?;
    let (rows, total) = page
        .fetch_named(&state.db, COLUMNS, "tags t", &search, row_count!("tags"))
        .await?;
    let mut keys = PurgeKeys::list(ObjectType::Tag);
    for tag in &rows {
        keys.add(ObjectType::Tag.key(tag.id));
    }
    Ok(keys.respond(fields::list(
        page.finish(rows, total, |tag| tag),
        fields.as_ref(),
    )?))
}

/// Tags with ids after `after`, in id order, for the change feed's initial state.
pub async fn current_page(
    db: &sqlx::PgPool,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Current>> {
    let tags: Vec<Tag> = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from tags t where t.id > $1 order by t.id limit $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    tags.into_iter()
        .map(|tag| {
            Current::public(
                EntryType::Tag,
                tag.id,
                Some(tag.slug.clone()),
                tag.updated_at,
                &tag,
            )
        })
        .collect()
}

/// Get a tag by id or slug.
#[utoipa::path(get, path = "/v1/tags/{id}", tag = "tags",
    params(("id" = String, Path, description = "Tag id or slug"), TagQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The tag", body = Tag)))]
pub async fn get_tag(
    State(state): State<AppState>,
    ReadAccess(_): ReadAccess,
    key: IdOrSlug,
    ApiQuery(query): ApiQuery<TagQuery>,
) -> ApiResult<axum::response::Response> {
    let fields = FieldSet::parse(query.fields.as_deref(), TAG_FIELDS)?;
    let tag = find(&state.db, &key, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(PurgeKeys::one(ObjectType::Tag, tag.id).respond(fields::one(tag, fields.as_ref())?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTag {
    /// 1–100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// Generated from the name when absent (transliterated: 松弛感 → song-chi-gan).
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    slug: Option<String>,
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    description: Option<String>,
}

/// Create a tag (editor).
#[utoipa::path(post, path = "/v1/tags", tag = "tags", request_body = CreateTag,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Tag, headers(("location" = String))),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_tag(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<CreateTag>,
) -> ApiResult<impl IntoResponse> {
    principal.require(Role::Editor)?;
    let mut v = Validator::new();
    let name = v.text("name", &body.name, NAME_MAX_CHARS);
    let description = v.optional_text("description", body.description, 5000);
    let explicit_slug = body.slug.map(|s| v.slug("slug", &s));
    v.finish()?;

    let actor = Some(principal.user_id);
    let tag = slug::insert_with_slug(&state.db, SlugTable::Tags, explicit_slug, &name, |slug| {
        let (name, description, db) = (&name, &description, &state.db);
        async move {
            let mut tx = db.begin().await?;
            let tag = sqlx::query_as::<_, Tag>(concat!(
                r#"
                insert into tags as t (id, slug, name, description)
                values ($1, $2, $3, $4)
                returning "#,
                columns!()
            ))
            .bind(Uuid::now_v7())
            .bind(slug)
            .bind(name)
            .bind(description)
            .fetch_one(&mut *tx)
            .await?;
            outbox::record(&mut tx, EventType::TagCreated, &tag, true, actor).await?;
            tx.commit().await?;
            Ok(tag)
        }
    })
    .await?;
    tracing::info!(tag.id = %tag.id, "tag created");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/tags/{}", tag.id))],
        Json(tag),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateTag {
    #[schema(value_type = String, min_length = 1, max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    name: Patch<String>,
    /// Changing the slug changes the tag's URL; old URLs stop working.
    #[schema(value_type = String, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    slug: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 5000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    description: Patch<String>,
}

/// Update a tag (editor). Absent fields are kept; `null` clears the description.
#[utoipa::path(patch, path = "/v1/tags/{id}", tag = "tags", request_body = UpdateTag,
    params(("id" = String, Path, description = "Tag id or slug")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated tag", body = Tag),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_tag(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateTag>,
) -> ApiResult<Json<Tag>> {
    principal.require(Role::Editor)?;
    let mut v = Validator::new();
    v.not_null("name", &body.name);
    v.not_null("slug", &body.slug);
    let name = body.name.map(|n| v.text("name", &n, NAME_MAX_CHARS));
    let new_slug = body.slug.map(|s| v.slug("slug", &s));
    let description = body
        .description
        .map_nullable(|d| v.optional_text("description", Some(d), 5000));
    v.finish()?;

    let mut tx = state.db.begin().await?;
    let current = find(&mut *tx, &key, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    check_if_match(&headers, &current)?;
    let slug_value = match new_slug {
        Patch::Value(s) => s,
        _ => current.slug.clone(),
    };
    let tag: Tag = sqlx::query_as(concat!(
        r#"
        update tags as t set name = $2, slug = $3, description = $4, updated_at = now()
        where t.id = $1
        returning "#,
        columns!()
    ))
    .bind(current.id)
    .bind(match name {
        Patch::Value(n) => n,
        _ => current.name.clone(),
    })
    .bind(&slug_value)
    .bind(description.apply(current.description.clone()))
    .fetch_one(&mut *tx)
    .await
    .map_err(|err| slug::taken_on_update(err, SlugTable::Tags, &slug_value))?;
    let actor = Some(principal.user_id);
    outbox::record(&mut tx, EventType::TagUpdated, &tag, true, actor).await?;
    crate::articles::live::rerender_live(&mut tx, &state.media, Embedded::Tag(tag.id), actor)
        .await?;
    tx.commit().await?;
    tracing::info!(tag.id = %tag.id, "tag updated");
    Ok(Json(tag))
}

/// Delete a tag (editor). Articles filed under it simply lose the tag.
#[utoipa::path(delete, path = "/v1/tags/{id}", tag = "tags",
    params(("id" = String, Path, description = "Tag id or slug")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_tag(
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
    check_if_match(&headers, &current)?;
    let actor = Some(principal.user_id);
    crate::articles::live::drop_tag_from_live(&mut tx, &state.media, current.id, actor).await?;
    sqlx::query("delete from tags where id = $1")
        .bind(current.id)
        .execute(&mut *tx)
        .await?;
    outbox::record(&mut tx, EventType::TagDeleted, &current, false, actor).await?;
    tx.commit().await?;
    tracing::info!(tag.id = %current.id, "tag deleted");
    Ok(StatusCode::NO_CONTENT)
}

impl outbox::PublicObject for Tag {
    const KIND: ObjectType = ObjectType::Tag;

    fn id(&self) -> Uuid {
        self.id
    }

    fn slug(&self) -> Option<&str> {
        Some(&self.slug)
    }
}
