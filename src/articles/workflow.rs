//! The publishing workflow: status changes only through actions, each checked against the
//! transition table and the caller's role, recorded as a revision and an event; the scheduler
//! that publishes due articles exactly once across processes; optimistic concurrency by version.

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequestParts, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ArticleData,
    history::{self, RevisionAction},
    model::{Article, ArticleStatus},
    present, require_edit, require_publish, store,
};
use crate::app::AppState;
use crate::{
    accounts::{
        auth::{Auth, Principal},
        credentials,
        role::Role,
    },
    http::{
        error::{ApiError, ApiResult, FieldError},
        extract::{IdOrSlug, parse_json, path_param},
        middleware::etag_of,
    },
};

crate::db::text_enum! {
    /// A workflow action, as in the action table of docs/API.md.
    #[derive(ToSchema)]
    pub enum Action {
        /// draft → in_review.
        Submit = "submit",
        /// draft, in_review, scheduled, published → published (`published_at` backdates; editor).
        Publish = "publish",
        /// draft, in_review, scheduled → scheduled (`publish_at` in the future).
        Schedule = "schedule",
        /// scheduled → draft.
        Unschedule = "unschedule",
        /// published → draft; the live copy is removed.
        Unpublish = "unpublish",
        /// any other status → archived; the live copy is removed.
        Archive = "archive",
        /// archived → draft.
        Restore = "restore",
    }
}

impl Action {
    /// What the revision of this action records.
    fn revision(self) -> RevisionAction {
        match self {
            Self::Submit => RevisionAction::Submit,
            Self::Publish => RevisionAction::Publish,
            Self::Schedule => RevisionAction::Schedule,
            Self::Unschedule => RevisionAction::Unschedule,
            Self::Unpublish => RevisionAction::Unpublish,
            Self::Archive => RevisionAction::Archive,
            Self::Restore => RevisionAction::Restore,
        }
    }

    /// The transition table: the status an action leads to from `from`, or `None` where the
    /// action is not allowed. Exhaustive, so a new status or action must be placed here.
    fn target(self, from: ArticleStatus) -> Option<ArticleStatus> {
        use ArticleStatus::{Archived, Draft, InReview, Published, Scheduled};
        match (self, from) {
            (Self::Submit, Draft) => Some(InReview),
            (Self::Submit, InReview | Scheduled | Published | Archived) => None,
            (Self::Publish, Draft | InReview | Scheduled | Published) => Some(Published),
            (Self::Publish, Archived) => None,
            // From `scheduled` too: rescheduling is one action, never a window without schedule.
            (Self::Schedule, Draft | InReview | Scheduled) => Some(Scheduled),
            (Self::Schedule, Published | Archived) => None,
            (Self::Unschedule, Scheduled) => Some(Draft),
            (Self::Unschedule, Draft | InReview | Published | Archived) => None,
            (Self::Unpublish, Published) => Some(Draft),
            (Self::Unpublish, Draft | InReview | Scheduled | Archived) => None,
            (Self::Archive, Draft | InReview | Scheduled | Published) => Some(Archived),
            (Self::Archive, Archived) => None,
            (Self::Restore, Archived) => Some(Draft),
            (Self::Restore, Draft | InReview | Scheduled | Published) => None,
        }
    }

    /// Contributors submit their own; authors also publish, schedule, unschedule and unpublish
    /// their own; editors and admins everything.
    fn authorize(self, principal: &Principal, data: &ArticleData) -> ApiResult<()> {
        match self {
            Self::Submit => require_edit(principal, data),
            Self::Publish | Self::Schedule | Self::Unschedule | Self::Unpublish => {
                require_publish(principal, data)
            }
            Self::Archive | Self::Restore => principal.require(Role::Editor),
        }
    }
}

/// The `{action}` path segment.
pub struct ActionName(Action);

impl<S: Send + Sync> FromRequestParts<S> for ActionName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let raw = path_param(parts, state, "action").await?;
        raw.parse().map(Self).map_err(|_| ApiError::NotFound)
    }
}

/// The optional body of an action.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// `publish` only, editors only: the publication date to show, now or in the past.
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    published_at: Option<DateTime<Utc>>,
    /// `schedule` only, required: when the article goes live, in the future.
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    publish_at: Option<DateTime<Utc>>,
}

/// The strong ETag of a working-copy response: the version, then a hash of the exact bytes.
/// `If-Match` compares the version part, so a tag stays valid while only embedded authors,
/// tags or images changed, and goes stale with any change to the article itself.
pub fn article_response(status: StatusCode, article: &Article) -> ApiResult<Response> {
    let bytes = serde_json::to_vec(article).map_err(|e| ApiError::Internal(e.into()))?;
    article_bytes_response(status, article.id, article.version, bytes)
}

/// A working copy in the `fields`/`include` shape asked for (`200`).
pub(super) fn shaped_article_response(
    article: &Article,
    shape: &super::shape::Shape,
) -> ApiResult<Response> {
    if shape.is_stored() {
        return article_response(StatusCode::OK, article);
    }
    let json = serde_json::to_string(article).map_err(|e| ApiError::Internal(e.into()))?;
    article_bytes_response(
        StatusCode::OK,
        article.id,
        article.version,
        shape.apply(&json)?.into_bytes(),
    )
}

/// A working copy already serialised (whole, or cut to a fieldset): its ETag names the version
/// (so `If-Match` with it works for writes) and hashes these bytes (so two shapes differ).
pub fn article_bytes_response(
    status: StatusCode,
    id: uuid::Uuid,
    version: i32,
    bytes: Vec<u8>,
) -> ApiResult<Response> {
    let hash = etag_of(&bytes);
    let etag = format!("\"v{}-{}", version, &hash[1..13]) + "\"";
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("/v1/articles/{id}"))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `If-Match` on an article write: `*`, or a tag of the current version; else `412`.
pub fn check_version(headers: &HeaderMap, version: i32) -> ApiResult<()> {
    let Some(tags) = crate::http::middleware::if_match(headers)? else {
        return Ok(());
    };
    let prefix = format!("\"v{version}-");
    if tags
        .iter()
        .any(|tag| *tag == "*" || tag.starts_with(&prefix))
    {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// Run a workflow action on an article. A disallowed action is a `409` naming the allowed ones.
#[utoipa::path(post, path = "/v1/articles/{id}/{action}", tag = "articles",
    params(("id" = String, Path, description = "Article id or slug"),
           ("action" = Action, Path, description = "submit, publish, schedule, unschedule, unpublish, archive or restore")),
    request_body(content = Option<ActionInput>, description = "`{\"published_at\"}` for publish, `{\"publish_at\"}` for schedule; empty for the others"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The working copy after the action", body = Article),
        (status = 409, description = "Not allowed from the article's status; the problem names the allowed actions", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an older version", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn run_action(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
    ActionName(action): ActionName,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let input: ActionInput = if body.iter().all(u8::is_ascii_whitespace) {
        ActionInput::default()
    } else {
        // `null` is no input, as an empty body is.
        parse_json::<Option<ActionInput>>(&body)?.unwrap_or_default()
    };
    let mut tx = state.db.begin().await?;
    let mut data = store::find(&mut *tx, &key, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    action.authorize(&principal, &data)?;
    check_version(&headers, data.version)?;
    let Some(target) = action.target(data.status) else {
        let allowed: Vec<&str> = Action::ALL
            .iter()
            .filter(|a| a.target(data.status).is_some())
            .map(|a| a.as_str())
            .collect();
        return Err(ApiError::Conflict(format!(
            "{action} is not allowed while the article is {}; allowed: {}",
            data.status,
            allowed.join(", ")
        )));
    };
    let now = super::now();
    validate_input(action, &input, &principal, now)?;

    let was = history::Was::of(&data);
    data.status = target;
    match action {
        Action::Publish => {
            if let Some(at) = input.published_at {
                data.published_at = Some(at.trunc_subsecs(6));
            }
            data.published_at.get_or_insert(now);
            data.scheduled_at = None;
        }
        Action::Schedule => data.scheduled_at = input.publish_at.map(|at| at.trunc_subsecs(6)),
        Action::Unschedule | Action::Archive => data.scheduled_at = None,
        Action::Submit | Action::Unpublish | Action::Restore => {}
    }
    data.version += 1;
    data.updated_at = now;
    match action {
        Action::Publish => {
            data.live_version = Some(data.version);
            store::update(&mut tx, &data).await?;
            store::put_live(&mut tx, &state.media, &data).await?;
        }
        Action::Unpublish | Action::Archive if was.live => {
            data.live_version = None;
            store::update(&mut tx, &data).await?;
            store::remove_live(&mut tx, data.id).await?;
        }
        _ => store::update(&mut tx, &data).await?,
    }
    history::record(
        &mut tx,
        &data,
        was,
        action.revision(),
        Some(principal.user_id),
        state.config.revisions_keep,
    )
    .await?;
    let article = present(&mut tx, &state, &data).await?;
    tx.commit().await?;
    tracing::info!(article.id = %data.id, action = action.as_str(), status = data.status.as_str(), "article action");
    article_response(StatusCode::OK, &article)
}

fn validate_input(
    action: Action,
    input: &ActionInput,
    principal: &Principal,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    if input.publish_at.is_some() && action != Action::Schedule {
        errors.push(FieldError::new(
            "publish_at",
            "only the schedule action takes publish_at",
        ));
    }
    if let Some(at) = input.published_at {
        if action != Action::Publish {
            errors.push(FieldError::new(
                "published_at",
                "only the publish action takes published_at",
            ));
        } else if principal.role < Role::Editor {
            return Err(ApiError::Forbidden(
                "only editors may set published_at".into(),
            ));
        } else if at > now + chrono::Duration::seconds(5) {
            errors.push(FieldError::new(
                "published_at",
                "must not be in the future; schedule the article instead",
            ));
        }
    }
    if action == Action::Schedule {
        match input.publish_at {
            None => errors.push(FieldError::new("publish_at", "required: when to publish")),
            Some(at) if at <= now => {
                errors.push(FieldError::new("publish_at", "must be in the future"))
            }
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Publishes every scheduled article whose time has come, one transaction each. Safe to run in
/// any number of processes at once: a due row is claimed with `FOR UPDATE SKIP LOCKED`, and the
/// claim re-checks `status = 'scheduled'` on the locked row, so each is published exactly once
/// (one revision, one event) and an unschedule or reschedule that commits first wins.
pub async fn publish_due(state: &AppState) -> ApiResult<usize> {
    let mut published = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let due: Option<Uuid> = sqlx::query_scalar(
            // The literal, not a bind: it must match the predicate of the partial index
            // articles_due_idx (0006) for the planner to use it.
            "select id from articles where status = 'scheduled' and scheduled_at <= now() \
             order by scheduled_at limit 1 for update skip locked",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = due else {
            return Ok(published);
        };
        let mut data = store::find(&mut *tx, &IdOrSlug::Id(id), false)
            .await?
            .ok_or(ApiError::NotFound)?;
        let was = history::Was::of(&data);
        // The live copy shows the time the editor chose, also when publishing catches up
        // after downtime.
        data.status = ArticleStatus::Published;
        data.published_at = data.scheduled_at.take().or(Some(super::now()));
        data.version += 1;
        data.live_version = Some(data.version);
        data.updated_at = super::now();
        store::update(&mut tx, &data).await?;
        store::put_live(&mut tx, &state.media, &data).await?;
        history::record(
            &mut tx,
            &data,
            was,
            RevisionAction::PublishScheduled,
            None,
            state.config.revisions_keep,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(article.id = %data.id, "scheduled article published");
        published += 1;
    }
}

/// Runs `publish_due` every `interval` for as long as the runtime runs; the first run, at
/// start, catches up on anything that fell due while no server was running.
pub fn spawn_scheduler(state: AppState, interval: Duration) {
    tokio::spawn(async move {
        loop {
            match publish_due(&state).await {
                Ok(published) => state.metrics.count_scheduler_run(Ok(published)),
                Err(err) => {
                    state.metrics.count_scheduler_run(Err(()));
                    tracing::warn!(error = %err, "scheduler: publishing due articles failed; retrying");
                }
            }
            tokio::time::sleep(interval).await;
        }
    });
}

/// How long the oldest due scheduled article has waited past its `publish_at` (zero when none
/// is due): what an alert on a stuck scheduler watches.
pub async fn scheduler_lag(db: &sqlx::PgPool) -> sqlx::Result<Duration> {
    let seconds: Option<f64> = sqlx::query_scalar(
        // The literal matches the partial index articles_due_idx, as in publish_due.
        "select extract(epoch from now() - min(scheduled_at))::float8 from articles \
         where status = 'scheduled' and scheduled_at <= now()",
    )
    .fetch_one(db)
    .await?;
    Ok(Duration::from_secs_f64(seconds.unwrap_or(0.0).max(0.0)))
}

/// A preview token.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// Shown once; stored only as a hash.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// Where the working copy can be read with the token, without an account.
    pub url: String,
}

/// Create a short-lived preview token for this article's working copy (signed in). The token
/// opens nothing else: `GET /v1/articles/{id}?preview_token=…`, answered with
/// `Cache-Control: no-store`.
#[utoipa::path(post, path = "/v1/articles/{id}/preview", tag = "articles",
    params(("id" = String, Path, description = "Article id or slug")),
    security(("bearer" = [])),
    responses((status = 201, description = "A preview token", body = Preview)))]
pub async fn create_preview(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdOrSlug,
) -> ApiResult<(StatusCode, Json<Preview>)> {
    principal.require(Role::Contributor)?;
    let data = store::find(&state.db, &key, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (token, hash) = credentials::new_token(credentials::PREVIEW_TOKEN_PREFIX);
    let expires_at = Utc::now()
        + chrono::Duration::from_std(state.config.preview_ttl)
            .map_err(|e| ApiError::Internal(e.into()))?;
    let mut tx = state.db.begin().await?;
    sqlx::query("delete from preview_tokens where expires_at < now()")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into preview_tokens (token_hash, article_id, created_by, expires_at) \
         values ($1, $2, $3, $4)",
    )
    .bind(hash)
    .bind(data.id)
    .bind(principal.user_id)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Preview {
            url: format!("/v1/articles/{}?preview_token={token}", data.id),
            token,
            expires_at,
        }),
    ))
}

/// The working copy a preview token opens, in `shape`: `401` when the token is unknown or
/// expired, `404` when it belongs to another article.
pub(super) async fn read_preview(
    state: &AppState,
    key: &IdOrSlug,
    token: &str,
    shape: &super::shape::Shape,
) -> ApiResult<Response> {
    let article_id: Option<Uuid> = sqlx::query_scalar(
        "select article_id from preview_tokens where token_hash = $1 and expires_at > now()",
    )
    .bind(credentials::hash_token(token))
    .fetch_optional(&state.db)
    .await?;
    let article_id = article_id.ok_or(ApiError::Unauthorized(
        "the preview token is invalid or expired",
    ))?;
    let mut conn = state.db.acquire().await?;
    let data = store::find(&mut *conn, key, false)
        .await?
        .filter(|data| data.id == article_id)
        .ok_or(ApiError::NotFound)?;
    let article = present(&mut conn, state, &data).await?;
    let mut response = shaped_article_response(&article, shape)?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
