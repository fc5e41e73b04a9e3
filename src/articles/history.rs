//! What happened to an article: numbered revisions of its working copy (who, when, which action,
//! a snapshot) and the change's event in the outbox, both written in the transaction of the
//! change.

use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::{HeaderMap, request::Parts},
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ArticleData, model::ArticleStatus, store, workflow};
use crate::app::AppState;
use crate::changes::outbox::{self, ArticleChange, EventType, Op};
use crate::{
    accounts::{auth::Auth, role::Role},
    http::{
        error::{ApiError, ApiResult},
        extract::{ApiQuery, IdOrSlug, path_param},
        pagination::{KeyKind, KeyValue, ListParams, ListResponse, SortKey},
    },
};

/// What an article was before the change a revision records: whether it existed, whether
/// the public could read it, and whether it had ever been published. Its event follows from
/// this and the action (`change_of`).
#[derive(Debug, Clone, Copy)]
pub struct Was {
    pub exists: bool,
    pub live: bool,
    pub published: bool,
}

impl Was {
    pub const NEW: Self = Self {
        exists: false,
        live: false,
        published: false,
    };

    pub fn of(before: &ArticleData) -> Self {
        Self {
            exists: true,
            live: before.live_version.is_some(),
            published: before.published_at.is_some(),
        }
    }
}

/// The event of an action: the most significant thing it did, as a subscriber sees it (an
/// imported line that publishes is `article.published`, not also `article.updated`).
fn change_of(data: &ArticleData, action: RevisionAction, was: Was) -> ArticleChange<'_> {
    use EventType as E;
    use RevisionAction as A;
    let live = data.live_version.is_some();
    let gone = (was.live && !live).then_some(Op::Delete);
    let (event, public) = match action {
        A::Publish | A::PublishScheduled => (E::ArticlePublished, Some(Op::Upsert)),
        A::Create | A::Import if live => (E::ArticlePublished, Some(Op::Upsert)),
        A::Import if was.live => match data.status {
            ArticleStatus::Archived => (E::ArticleArchived, gone),
            _ => (E::ArticleUnpublished, gone),
        },
        A::Create | A::Import if !was.exists => (E::ArticleCreated, None),
        A::Create | A::Import | A::Update | A::RestoreRevision => (E::ArticleUpdated, None),
        A::Submit => (E::ArticleSubmitted, None),
        A::Schedule => (E::ArticleScheduled, None),
        A::Unschedule => (E::ArticleUnscheduled, None),
        A::Unpublish => (E::ArticleUnpublished, gone),
        A::Archive => (E::ArticleArchived, gone),
        A::Restore => (E::ArticleRestored, None),
    };
    ArticleChange {
        data,
        event,
        public,
        first_publish: !was.published,
    }
}

/// Appends revision `n+1` with `data` as its snapshot and writes the change's event; then
/// drops the oldest revisions beyond `keep` (0 keeps all). The article row must be locked by
/// the caller, which makes `max(number) + 1` safe; a live copy the action made must already
/// be written (the event carries it).
pub async fn record(
    tx: &mut PgConnection,
    data: &ArticleData,
    was: Was,
    action: RevisionAction,
    actor: Option<Uuid>,
    keep: u32,
) -> sqlx::Result<()> {
    record_many(tx, &[data], &[was], action, actor, keep).await
}

/// `record` for many articles at once (`was` in the same order), in three statements.
pub async fn record_many(
    tx: &mut PgConnection,
    copies: &[&ArticleData],
    was: &[Was],
    action: RevisionAction,
    actor: Option<Uuid>,
    keep: u32,
) -> sqlx::Result<()> {
    if copies.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = copies.iter().map(|c| c.id).collect();
    let versions: Vec<i32> = copies.iter().map(|c| c.version).collect();
    // Sent and stored as text: Galley wrote it, so PostgreSQL need not check it (0011).
    let snapshots = copies
        .iter()
        .map(|c| serde_json::to_string(c).map_err(|e| sqlx::Error::Encode(e.into())))
        .collect::<sqlx::Result<Vec<_>>>()?;
    let numbers: Vec<(Uuid, i32)> = sqlx::query_as(
        "insert into article_revisions (article_id, number, action, actor_id, version, snapshot) \
         select t.id, coalesce((select max(r.number) from article_revisions r \
                where r.article_id = t.id), 0) + 1, $4, $5, t.version, t.snapshot \
         from unnest($1::uuid[], $2::int[], $3::text[]) as t(id, version, snapshot) \
         returning article_id, number",
    )
    .bind(&ids)
    .bind(&versions)
    .bind(&snapshots)
    .bind(action)
    .bind(actor)
    .fetch_all(&mut *tx)
    .await?;
    let changes: Vec<ArticleChange<'_>> = copies
        .iter()
        .zip(was)
        .map(|(data, was)| change_of(data, action, *was))
        .collect();
    outbox::write_articles(tx, &changes, actor).await?;
    let keep = keep as i32;
    let (pruned, oldest_kept): (Vec<Uuid>, Vec<i32>) = numbers
        .into_iter()
        .filter(|(_, number)| keep > 0 && *number > keep)
        .map(|(id, number)| (id, number - keep))
        .unzip();
    if !pruned.is_empty() {
        sqlx::query(
            // The revision of the published version is the live copy's content (migration
            // 0009): kept however old, so rendering the live copy again can read it.
            "delete from article_revisions r using unnest($1::uuid[], $2::int[]) as t(id, upto) \
             where r.article_id = t.id and r.number <= t.upto and r.version is distinct from \
                 (select a.live_version from articles a where a.id = r.article_id)",
        )
        .bind(&pruned)
        .bind(&oldest_kept)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Writes the event of a deletion (whose revisions go with the article); `data` is the copy
/// as it was.
pub async fn deleted(
    tx: &mut PgConnection,
    data: &ArticleData,
    actor: Option<Uuid>,
) -> sqlx::Result<()> {
    let change = ArticleChange {
        data,
        event: EventType::ArticleDeleted,
        public: data.live_version.is_some().then_some(Op::Delete),
        first_publish: false,
    };
    outbox::write_articles(tx, &[change], actor).await
}

/// The fields of a snapshot as the API names them; bookkeeping (version, timestamps, derived
/// counts) is left out, so that it neither shows as a change nor makes a save a change.
fn api_fields(snapshot: &Value) -> Vec<(&'static str, Value)> {
    let get = |key: &str| snapshot.get(key).cloned().unwrap_or(Value::Null);
    vec![
        ("slug", get("slug")),
        ("status", get("status")),
        ("title", get("title")),
        ("subtitle", get("subtitle")),
        // As shown: the given excerpt, else the one derived from the body.
        (
            "excerpt",
            match get("excerpt") {
                Value::Null => get("derived_excerpt"),
                given => given,
            },
        ),
        ("body", get("body")),
        (
            "banner",
            Value::Array(vec![
                get("banner_image_id"),
                get("banner_caption"),
                get("banner_credit"),
            ]),
        ),
        ("authors", get("author_ids")),
        ("tags", get("tag_ids")),
        ("featured", get("featured")),
        ("language", get("language")),
        ("seo", get("seo")),
        ("external_id", get("external_id")),
        ("published_at", get("published_at")),
        ("scheduled_at", get("scheduled_at")),
    ]
}

/// Whether two copies show the same content: the fields of `api_fields`, compared typed
/// (serialising both copies to compare them was a third of an unchanged import line's time).
pub fn same_content(a: &ArticleData, b: &ArticleData) -> bool {
    let shown_excerpt = |d: &ArticleData| d.excerpt.clone().or_else(|| d.derived_excerpt.clone());
    a.slug == b.slug
        && a.status == b.status
        && a.title == b.title
        && a.subtitle == b.subtitle
        && shown_excerpt(a) == shown_excerpt(b)
        && a.body == b.body
        && (&a.banner_image_id, &a.banner_caption, &a.banner_credit)
            == (&b.banner_image_id, &b.banner_caption, &b.banner_credit)
        && a.author_ids == b.author_ids
        && a.tag_ids == b.tag_ids
        && a.featured == b.featured
        && a.language == b.language
        && a.seo == b.seo
        && a.external_id == b.external_id
        && a.published_at == b.published_at
        && a.scheduled_at == b.scheduled_at
}

fn diff(before: &Value, after: &Value) -> Vec<&'static str> {
    api_fields(before)
        .into_iter()
        .zip(api_fields(after))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((name, _), _)| name)
        .collect()
}

crate::db::text_enum! {
    /// What made a revision.
    #[derive(ToSchema)]
    pub enum RevisionAction {
        Create = "create",
        Update = "update",
        Submit = "submit",
        Publish = "publish",
        /// Published by the scheduler at its `publish_at`.
        PublishScheduled = "publish_scheduled",
        Schedule = "schedule",
        Unschedule = "unschedule",
        Unpublish = "unpublish",
        Archive = "archive",
        Restore = "restore",
        /// A revision's snapshot restored as the working copy.
        RestoreRevision = "restore_revision",
        /// Written by an import line (`POST /v1/import`, `galley import`).
        Import = "import",
    }
}

/// A revision in a list (no snapshot).
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Revision {
    pub number: i32,
    pub action: RevisionAction,
    /// The user who made the change; `null` for the scheduler or a deleted user.
    pub actor_id: Option<Uuid>,
    /// That user's name, for showing who did it (reading users needs the admin role).
    pub actor_name: Option<String>,
    pub at: DateTime<Utc>,
    /// The article's version after this change.
    pub version: i32,
}

pub(super) static NUMBER: SortKey<Revision> = SortKey {
    name: "number",
    column: "number",
    kind: KeyKind::Int,
    value: |r| KeyValue::Int(i64::from(r.number)),
};

/// One revision with its snapshot of the working copy.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionDetail {
    #[serde(flatten)]
    pub revision: Revision,
    /// The working copy after this change (relations by id).
    #[schema(value_type = super::model::ArticleData)]
    pub snapshot: Value,
    /// Fields that differ from revision n-1 (every field set, for the first revision).
    pub changed: Vec<&'static str>,
}

/// The article a revision request is about, if the caller may see its working copy.
async fn article_id(
    state: &AppState,
    principal: &crate::accounts::auth::Principal,
    key: &IdOrSlug,
) -> ApiResult<Uuid> {
    principal.require(Role::Contributor)?;
    let (id, slug) = key.binds();
    sqlx::query_scalar("select id from articles where id = $1 or slug = $2")
        .bind(id)
        .bind(slug)
        .fetch_optional(&state.db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// An article's revisions, newest first (signed in). Snapshots are left out; see
/// `GET …/revisions/{n}`.
#[utoipa::path(get, path = "/v1/articles/{id}/revisions", tag = "revisions",
    params(("id" = String, Path, description = "Article id or slug"), ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of revisions", body = ListResponse<Revision>)))]
pub async fn list_revisions(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<Revision>>> {
    let id = article_id(&state, &principal, &key).await?;
    let page = params.page_request(std::slice::from_ref(&NUMBER), "-number", &NUMBER)?;
    let mut select: QueryBuilder<Postgres> = QueryBuilder::new(
        "select number, action, actor_id, \
             (select u.name from users u where u.id = actor_id) as actor_name, at, version, \
         count(*) over () as total from article_revisions where article_id = ",
    );
    select.push_bind(id);
    page.push_sql(&mut select);
    let rows: Vec<RevisionRow> = select.build_query_as().fetch_all(&state.db).await?;
    let total = match rows.first() {
        Some(row) => row.total,
        None => {
            sqlx::query_scalar("select count(*) from article_revisions where article_id = $1")
                .bind(id)
                .fetch_one(&state.db)
                .await?
        }
    };
    let revisions: Vec<Revision> = rows.into_iter().map(|row| row.revision).collect();
    Ok(Json(page.finish(revisions, total, |r| r)))
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    #[sqlx(flatten)]
    revision: Revision,
    total: i64,
}

/// Revision `n` of an article: its snapshot and what changed from `n-1` (signed in).
#[utoipa::path(get, path = "/v1/articles/{id}/revisions/{n}", tag = "revisions",
    params(("id" = String, Path, description = "Article id or slug"),
           ("n" = i32, Path, minimum = 1, description = "Revision number")),
    security(("bearer" = [])),
    responses((status = 200, description = "The revision", body = RevisionDetail)))]
pub async fn get_revision(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    RevisionNumber(number): RevisionNumber,
) -> ApiResult<Json<RevisionDetail>> {
    let id = article_id(&state, &principal, &key).await?;
    let rows: Vec<SnapshotRow> = sqlx::query_as(
        "select number, action, actor_id, \
             (select u.name from users u where u.id = actor_id) as actor_name, at, version, \
             snapshot::json as snapshot \
         from article_revisions \
         where article_id = $1 and number in ($2, $2 - 1) order by number desc",
    )
    .bind(id)
    .bind(number)
    .fetch_all(&state.db)
    .await?;
    let mut rows = rows.into_iter();
    let SnapshotRow { revision, snapshot } = rows
        .next()
        .filter(|row| row.revision.number == number)
        .ok_or(ApiError::NotFound)?;
    let changed = match rows.next() {
        Some(previous) => diff(&previous.snapshot, &snapshot),
        None => api_fields(&snapshot)
            .into_iter()
            .filter(|(_, value)| !is_empty(value))
            .map(|(name, _)| name)
            .collect(),
    };
    Ok(Json(RevisionDetail {
        revision,
        snapshot,
        changed,
    }))
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    #[sqlx(flatten)]
    revision: Revision,
    snapshot: Value,
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(is_empty),
        Value::Object(map) => map.values().all(is_empty),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

/// The `{n}` of a revision path: a positive integer, else `400`.
pub struct RevisionNumber(i32);

impl<S: Send + Sync> FromRequestParts<S> for RevisionNumber {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let raw = path_param(parts, state, "n").await?;
        raw.parse::<i32>()
            .ok()
            .filter(|n| *n >= 1)
            .map(Self)
            .ok_or_else(|| ApiError::bad_request(format!("'{raw}' is not a revision number")))
    }
}

/// Restore revision `n`: its content (title, body, authors, tags, banner, SEO, …) becomes the
/// working copy, as a new revision. Status and dates are not restored, and the live copy is not
/// touched until the article is published again.
#[utoipa::path(post, path = "/v1/articles/{id}/revisions/{n}/restore", tag = "revisions",
    params(("id" = String, Path, description = "Article id or slug"),
           ("n" = i32, Path, minimum = 1, description = "Revision number")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The restored working copy", body = super::model::Article),
        (status = 412, description = "If-Match names an older version", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn restore_revision(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    RevisionNumber(number): RevisionNumber,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let mut data = store::find(&mut *tx, &key, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    super::require_edit(&principal, &data)?;
    workflow::check_version(&headers, data.version)?;
    let snapshot: Value = sqlx::query_scalar(
        "select snapshot::json from article_revisions where article_id = $1 and number = $2",
    )
    .bind(data.id)
    .bind(number)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    let old: ArticleData =
        serde_json::from_value(snapshot).map_err(|e| ApiError::Internal(e.into()))?;
    let before = data.clone();
    data.slug = old.slug;
    data.title = old.title;
    data.subtitle = old.subtitle;
    data.excerpt = old.excerpt;
    data.derived_excerpt = old.derived_excerpt;
    data.body = old.body;
    data.word_count = old.word_count;
    data.reading_time_minutes = old.reading_time_minutes;
    data.banner_image_id = old.banner_image_id;
    data.banner_caption = old.banner_caption;
    data.banner_credit = old.banner_credit;
    data.featured = old.featured;
    data.language = old.language;
    data.seo = old.seo;
    data.external_id = old.external_id;
    data.author_ids = old.author_ids;
    data.tag_ids = old.tag_ids;

    // What the revision named may be gone since: say which, at its path.
    let mut errors = Vec::new();
    store::missing_images(&mut *tx, &data, &mut errors).await?;
    store::missing_relations(&mut tx, &data, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if same_content(&before, &data) {
        let article = super::present(&mut tx, &state, &data).await?;
        tx.commit().await?;
        return workflow::article_response(axum::http::StatusCode::OK, &article);
    }
    data.version += 1;
    data.updated_at = super::now();
    store::update(&mut tx, &data).await?;
    record(
        &mut tx,
        &data,
        Was::of(&before),
        RevisionAction::RestoreRevision,
        Some(principal.user_id),
        state.config.revisions_keep,
    )
    .await?;
    let article = super::present(&mut tx, &state, &data).await?;
    tx.commit().await?;
    tracing::info!(article.id = %data.id, revision = number, "revision restored");
    workflow::article_response(axum::http::StatusCode::OK, &article)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed comparison and the snapshot diff must agree on every field, or a save could
    /// be skipped while its revision would have shown a change (or the other way round).
    #[test]
    fn same_content_agrees_with_the_snapshot_diff() {
        let base = super::super::new_article(None, super::super::now());
        type Change = (&'static str, fn(&mut ArticleData));
        let changes: Vec<Change> = vec![
            ("slug", |d| d.slug = "other".into()),
            ("status", |d| {
                d.status = super::super::model::ArticleStatus::Published
            }),
            ("title", |d| d.title = "Other".into()),
            ("subtitle", |d| d.subtitle = Some("Sub".into())),
            ("excerpt", |d| d.derived_excerpt = Some("Derived".into())),
            ("body", |d| {
                d.body = vec![super::super::body::Block::Divider {}]
            }),
            ("banner", |d| d.banner_credit = Some("Photo by X".into())),
            ("authors", |d| d.author_ids = vec![Uuid::nil()]),
            ("tags", |d| d.tag_ids = vec![Uuid::nil()]),
            ("featured", |d| d.featured = true),
            ("language", |d| d.language = "zh".into()),
            ("seo", |d| d.seo.title = Some("SEO".into())),
            ("external_id", |d| d.external_id = Some("x-1".into())),
            ("published_at", |d| d.published_at = Some(Utc::now())),
            ("scheduled_at", |d| d.scheduled_at = Some(Utc::now())),
        ];
        let value = |d: &ArticleData| serde_json::to_value(d).expect("serialise");
        assert!(same_content(&base, &base.clone()));
        let mut bookkeeping = base.clone();
        bookkeeping.version += 1;
        bookkeeping.word_count += 5;
        assert!(same_content(&base, &bookkeeping));
        assert!(diff(&value(&base), &value(&bookkeeping)).is_empty());
        for (field, change) in changes {
            let mut changed = base.clone();
            change(&mut changed);
            assert!(!same_content(&base, &changed), "{field}");
            assert_eq!(diff(&value(&base), &value(&changed)), vec![field]);
        }
    }
}
