//! `GET /v1/changes` (API.md §10): the current state, then every change after it, paged by an
//! opaque cursor, with long polling.
//!
//! Completeness under out-of-order commits: changes are numbered when their transaction
//! commits, from a counter whose row lock is held until the commit is visible (migration
//! 0014). Numbers therefore become visible in order and without gaps, so a reader that gives
//! out everything above its cursor passes over nothing, and the changes to one object come in
//! the order they happened.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    cursor::Cursor,
    outbox::{EventType, ObjectType, Op},
};
use crate::{
    accounts::{auth::MaybeAuth, role::Role},
    app::AppState,
    articles::{model::ArticleStatus, shape::Shape},
    http::{
        error::{ApiError, ApiResult},
        extract::ApiQuery,
    },
};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
const MAX_WAIT_SECS: u32 = 60;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// `meta.next_cursor` of the previous page. Without it the feed starts with the current
    /// state (one `upsert` per object), then continues with the changes after it.
    cursor: Option<String>,
    /// Entries per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Hold an empty answer open up to this many seconds (0–60) until something changes.
    #[param(minimum = 0, maximum = 60)]
    wait: Option<u32>,
    /// `working` (contributor and up): working-copy changes too, as `article_working`.
    view: Option<FeedView>,
    /// Comma-separated, added to article objects: `body` (the blocks and `body_html`; the
    /// article as it is live now), `body_html` alone, `body_text`.
    #[param(pattern = "^ *(body|body_html|body_text) *(, *(body|body_html|body_text) *)*$")]
    include: Option<String>,
    /// A sparse fieldset of article objects, as on `GET /v1/articles` (and `id`, always);
    /// author, tag and image objects stay whole.
    #[param(
        pattern = "^ *(id|slug|title|subtitle|excerpt|status|body|body_html|body_text|banner|authors|tags|featured|language|seo|word_count|reading_time_minutes|external_id|published_at|scheduled_at|created_at|updated_at|version|has_unpublished_changes) *(, *(id|slug|title|subtitle|excerpt|status|body|body_html|body_text|banner|authors|tags|featured|language|seo|word_count|reading_time_minutes|external_id|published_at|scheduled_at|created_at|updated_at|version|has_unpublished_changes) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedView {
    Public,
    Working,
}

/// What an entry is about: a public object, or (with `view=working`) an article's working copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    Article,
    Author,
    Tag,
    Image,
    ArticleWorking,
}

impl From<ObjectType> for EntryType {
    fn from(kind: ObjectType) -> Self {
        match kind {
            ObjectType::Article => Self::Article,
            ObjectType::Author => Self::Author,
            ObjectType::Tag => Self::Tag,
            ObjectType::Image => Self::Image,
        }
    }
}

/// One entry of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    /// Where this entry is; a feed read from here goes on after it.
    pub cursor: String,
    /// When the change committed's transaction wrote it (for the initial state: the object's
    /// `updated_at`).
    pub at: DateTime<Utc>,
    pub op: Op,
    #[serde(rename = "type")]
    pub kind: EntryType,
    pub id: Uuid,
    pub slug: Option<String>,
    /// The event that made this change; `null` in the initial state.
    pub event: Option<EventType>,
    /// `article_working` only: the working copy's status and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ArticleStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The public shape after an upsert (articles without body unless `include=body`);
    /// `null` for deletes and `article_working`.
    #[schema(value_type = Option<Object>)]
    pub object: Option<Box<RawValue>>,
    /// What a CDN should drop for this change (API.md §12).
    pub purge_keys: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesMeta {
    /// Always present: read again from here for what changed since.
    pub next_cursor: String,
    pub limit: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesPage {
    pub data: Vec<Change>,
    pub meta: ChangesMeta,
}

/// The change feed: the current state of every live article, author, tag and image, then
/// every change after it, in commit order and never skipping one. Anonymous callers and
/// reader tokens see the public feed; `view=working` (contributor and up) adds working copies.
#[utoipa::path(get, path = "/v1/changes", tag = "changes", params(ChangesQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of changes", body = ChangesPage),
        (status = 410, description = "The cursor is older than the feed's retention", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_changes(
    State(state): State<AppState>,
    MaybeAuth(principal): MaybeAuth,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> ApiResult<Response> {
    let working = query.view == Some(FeedView::Working);
    match &principal {
        None if working => return Err(ApiError::Unauthorized("sign in to see working copies")),
        None if !state.config.public_read => {
            return Err(ApiError::Unauthorized(
                "this server requires a token for every read",
            ));
        }
        Some(principal) if working => principal.require(Role::Contributor)?,
        _ => {}
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::invalid(
            "wait",
            "must be between 0 and 60 seconds",
        ));
    }
    let cursor = match &query.cursor {
        Some(raw) => Some(
            Cursor::decode(raw)
                .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor this feed gave out"))?,
        ),
        None => None,
    };
    let shape = Shape::parse(query.fields.as_deref(), query.include.as_deref(), true)?;
    let reading = Reading {
        state: &state,
        working,
        limit,
        body: shape.needs_body(),
    };
    if let Some(cursor) = cursor {
        if cursor.working() != working {
            return Err(ApiError::invalid(
                "cursor",
                "belongs to the other view of the feed; ask with the view it came from",
            ));
        }
        reading.check_retained(cursor.number()).await?;
    }
    let page = match cursor {
        None => reading.initial(None).await?,
        Some(cursor @ Cursor::Initial { .. }) => reading.initial(Some(cursor)).await?,
        Some(Cursor::Changes { after: at, .. }) => {
            let mut page = reading
                .changes_waiting(at, Duration::from_secs(u64::from(wait)))
                .await?;
            if reading.body {
                super::current::with_bodies(&state, &mut page.data).await?;
            }
            page
        }
    };
    let mut page = page;
    if !shape.is_stored() {
        for change in page
            .data
            .iter_mut()
            .filter(|c| c.kind == EntryType::Article)
        {
            if let Some(object) = &change.object {
                change.object = Some(
                    RawValue::from_string(shape.apply(object.get())?)
                        .map_err(|e| ApiError::Internal(e.into()))?,
                );
            }
        }
    }
    let mut response = Json(page).into_response();
    // A page is one reader's position in a stream: no shared cache may answer it for another.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

struct Reading<'a> {
    state: &'a AppState,
    working: bool,
    limit: u32,
    body: bool,
}

impl Reading<'_> {
    async fn check_retained(&self, after: i64) -> ApiResult<()> {
        let horizon: i64 = sqlx::query_scalar(if self.working {
            "select seq from changes_horizon"
        } else {
            "select public_seq from changes_horizon"
        })
        .fetch_one(&self.state.db)
        .await?;
        if after < horizon {
            return Err(ApiError::CursorExpired);
        }
        Ok(())
    }

    /// A page of the current state, kind after kind; the cursor after the last kind moves on
    /// to the changes that began while it was read.
    async fn initial(&self, cursor: Option<Cursor>) -> ApiResult<ChangesPage> {
        let working = self.working;
        let (from, mut kind, mut after) = match cursor {
            Some(Cursor::Initial {
                from, kind, after, ..
            }) => (from, kind, after),
            // Read before any state: every change up to here has committed, so the state read
            // next shows it; every later one is in the changes.
            _ => (self.numbered_through().await?, 0, Uuid::nil()),
        };
        let kinds = super::current::kinds(working);
        let mut data = Vec::new();
        while usize::from(kind) < kinds.len() && data.len() < self.limit as usize {
            let wanted = self.limit as usize - data.len();
            let objects = super::current::page(
                self.state,
                kinds[usize::from(kind)],
                after,
                wanted,
                self.body,
            )
            .await?;
            let exhausted = objects.len() < wanted;
            for object in objects {
                after = object.id;
                let cursor = Cursor::Initial {
                    working,
                    from,
                    kind,
                    after,
                };
                data.push(object.into_change(cursor)?);
            }
            if exhausted {
                kind += 1;
                after = Uuid::nil();
            }
        }
        let next = if usize::from(kind) < kinds.len() {
            Cursor::Initial {
                working,
                from,
                kind,
                after,
            }
        } else {
            Cursor::Changes {
                working,
                after: from,
            }
        };
        Ok(ChangesPage {
            data,
            meta: ChangesMeta {
                next_cursor: next.encode(),
                limit: self.limit,
            },
        })
    }

    /// The last number given to a committed change.
    async fn numbered_through(&self) -> ApiResult<i64> {
        Ok(sqlx::query_scalar(if self.working {
            "select seq from changes_clock"
        } else {
            "select public_seq from changes_clock"
        })
        .fetch_one(&self.state.db)
        .await?)
    }

    /// Changes after `after`; an empty page is held open up to `wait` for one to commit.
    async fn changes_waiting(&self, after: i64, wait: Duration) -> ApiResult<ChangesPage> {
        let deadline = tokio::time::Instant::now() + wait;
        let _waiting = (!wait.is_zero()).then(|| self.state.metrics.feed_client());
        loop {
            // Subscribed before looking: a commit between the look and the wait still wakes it.
            let mut waiter = self.state.changes.subscribe();
            let page = self.changes(after).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !page.data.is_empty() || left.is_zero() || self.state.changes.is_closing() {
                return Ok(page);
            }
            waiter.changed(left).await;
        }
    }

    /// One page of changes after `after`.
    async fn changes(&self, after: i64) -> ApiResult<ChangesPage> {
        let sql = if self.working {
            CHANGES_WORKING
        } else {
            CHANGES_PUBLIC
        };
        let rows: Vec<ChangeRow> = sqlx::query_as(sql)
            .bind(after)
            .bind(i64::from(self.limit))
            .fetch_all(&self.state.db)
            .await?;
        let mut data = Vec::new();
        let mut last = after;
        for row in rows {
            last = row.number;
            row.push_changes(self.working, &mut data)?;
        }
        Ok(ChangesPage {
            data,
            meta: ChangesMeta {
                next_cursor: Cursor::Changes {
                    working: self.working,
                    after: last,
                }
                .encode(),
                limit: self.limit,
            },
        })
    }
}

/// The changes numbered above `$1`, up to `$2` of them, in this view's order.
macro_rules! changes_sql {
    ($number:literal) => {
        concat!(
            "select c.",
            $number,
            " as number, c.at, c.event, c.object_type, c.object_id, \
                 c.slug, c.public_op, c.working_op, c.status, c.version, \
                 c.object::text as object, c.purge_keys \
             from changes c where c.",
            $number,
            " > $1 order by c.",
            $number,
            " limit $2"
        )
    };
}

const CHANGES_PUBLIC: &str = changes_sql!("public_seq");
const CHANGES_WORKING: &str = changes_sql!("seq");

#[derive(sqlx::FromRow)]
struct ChangeRow {
    number: i64,
    at: DateTime<Utc>,
    event: EventType,
    object_type: ObjectType,
    object_id: Uuid,
    slug: Option<String>,
    public_op: Option<Op>,
    working_op: Option<Op>,
    status: Option<ArticleStatus>,
    version: Option<i32>,
    object: Option<String>,
    purge_keys: Vec<String>,
}

impl ChangeRow {
    /// The feed entries of a change: what the public sees of it, and (`working`) the
    /// working copy's.
    fn push_changes(self, working: bool, out: &mut Vec<Change>) -> ApiResult<()> {
        let cursor = Cursor::Changes {
            working,
            after: self.number,
        }
        .encode();
        if let Some(op) = self.public_op {
            let object = match (op, self.object) {
                (Op::Upsert, Some(json)) => {
                    Some(RawValue::from_string(json).map_err(|e| ApiError::Internal(e.into()))?)
                }
                _ => None,
            };
            out.push(Change {
                cursor: cursor.clone(),
                at: self.at,
                op,
                kind: self.object_type.into(),
                id: self.object_id,
                slug: self.slug.clone(),
                event: Some(self.event),
                status: None,
                version: None,
                object,
                purge_keys: self.purge_keys,
            });
        }
        if let (true, Some(op)) = (working, self.working_op) {
            out.push(Change {
                cursor,
                at: self.at,
                op,
                kind: EntryType::ArticleWorking,
                id: self.object_id,
                slug: self.slug,
                event: Some(self.event),
                status: self.status,
                version: self.version,
                object: None,
                purge_keys: Vec::new(),
            });
        }
        Ok(())
    }
}
