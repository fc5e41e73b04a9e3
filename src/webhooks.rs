//! Webhooks (API.md §11): endpoints that admins subscribe to events, and their delivery log.
//!
//! Submodules: `delivery` (the worker every `galley serve` runs), `stream` (new events from an
//! endpoint's cursor over `changes`), `attempt` (one signed request), `slots` (how many in
//! flight), `signature` (Standard Webhooks), `schedule` (retries). Nothing is written for a
//! webhook with the change itself: an endpoint starts at the clock when it is made and follows
//! the commit-numbered changes from there (migration 0017).

mod attempt;
pub mod delivery;
pub mod schedule;
pub mod signature;
mod slots;
mod stream;

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, QueryBuilder};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    accounts::{auth::Auth, role::Role},
    app::AppState,
    changes::{outbox::EventType, signal::wake_on_commit},
    http::{
        error::{ApiError, ApiResult},
        extract::{ApiJson, ApiQuery, PathId},
        pagination::{KeyKind, KeyValue, ListParams, ListResponse, SortKey, document_sort_keys},
        patch::Patch,
    },
    idempotency::once,
    validate::Validator,
};

pub fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(once(routes!(list_webhooks, create_webhook)))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(once(routes!(rotate_secret)))
        .routes(once(routes!(ping_webhook)))
        .routes(routes!(list_deliveries))
        .routes(once(routes!(redeliver)));
    let router = document_sort_keys(router, "/v1/webhooks", SORT_KEYS);
    document_sort_keys(router, "/v1/webhooks/{id}/deliveries", DELIVERY_KEYS)
}

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const DESCRIPTION_MAX_CHARS: usize = 500;
const URL_MAX_CHARS: usize = 2000;

/// A webhook endpoint (the secret is never shown again after it is made).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    /// Event types (`article.published`, …), or `["*"]` for every event.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why Galley disabled it: the receiver answered `410`, or every delivery failed for 5
    /// days. `null` when enabled or disabled by hand.
    pub disabled_reason: Option<String>,
    /// Since when every delivery attempt has failed; `null` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs too.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new (or rotated) secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` + base64 of 32 random bytes: the key of the HMAC-SHA256 signatures.
    pub secret: String,
}

macro_rules! columns {
    () => {
        "w.id, w.url, w.events, w.description, w.enabled, w.disabled_reason, w.failing_since, \
         case when w.previous_until > now() then w.previous_until end as previous_secret_until, \
         w.created_at, w.updated_at"
    };
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http` or `https`; not an internal address (unless `GALLEY_WEBHOOK_ALLOW_PRIVATE`).
    #[schema(max_length = 2000)]
    url: String,
    /// Event types, or `["*"]`.
    #[schema(min_items = 1)]
    events: Vec<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
    /// Default `true`.
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateWebhook {
    #[schema(value_type = String, max_length = 2000)]
    url: Patch<String>,
    #[schema(value_type = Vec<String>, min_items = 1)]
    events: Patch<Vec<String>>,
    #[schema(value_type = Option<String>, max_length = 500)]
    description: Patch<String>,
    /// Enabling again clears `disabled_reason` and `failing_since`.
    #[schema(value_type = bool)]
    enabled: Patch<bool>,
}

/// Checks event names: known types, or `*` alone.
fn valid_events(v: &mut Validator, events: Vec<String>) -> Vec<String> {
    if events.is_empty() {
        v.error("events", "name at least one event type, or \"*\" for all");
    }
    if events.iter().any(|e| e == "*") {
        if events.len() > 1 {
            v.error("events", "\"*\" already means every event; give it alone");
        }
        return vec!["*".into()];
    }
    let mut checked: Vec<String> = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        match event.parse::<EventType>() {
            Ok(_) if checked.contains(&event) => {}
            Ok(_) => checked.push(event),
            Err(message) => v.error(format!("events[{i}]"), message),
        }
    }
    checked
}

async fn valid_url(state: &AppState, v: &mut Validator, url: &str) -> String {
    let url = url.trim();
    if url.chars().count() > URL_MAX_CHARS {
        v.error("url", format!("must be at most {URL_MAX_CHARS} characters"));
        return url.to_owned();
    }
    match state.outbound.check_target(url).await {
        Ok(parsed) => parsed.to_string(),
        Err(refused) => {
            v.error("url", refused.0);
            url.to_owned()
        }
    }
}

/// Subscribe a URL to events (admin). The answer holds the signing secret, shown only here.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    security(("bearer" = [])),
    responses((status = 201, description = "Created, with its secret", body = WebhookWithSecret,
        headers(("location" = String)))))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> ApiResult<impl IntoResponse> {
    principal.require(Role::Admin)?;
    let mut v = Validator::new();
    let url = valid_url(&state, &mut v, &body.url).await;
    let events = valid_events(&mut v, body.events);
    let description = v.optional_text("description", body.description, DESCRIPTION_MAX_CHARS);
    v.finish()?;
    let secret = signature::new_secret()?;
    let webhook: Webhook = sqlx::query_as(concat!(
        "insert into webhooks as w (id, url, events, description, enabled, secret, created_by, \
             cursor_seq) \
         values ($1, $2, $3, $4, $5, $6, $7, (select seq from changes_clock)) returning ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(&url)
    .bind(&events)
    .bind(&description)
    .bind(body.enabled.unwrap_or(true))
    .bind(&secret)
    .bind(principal.user_id)
    .fetch_one(&state.db)
    .await?;
    tracing::info!(webhook.id = %webhook.id, "webhook created");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/webhooks/{}", webhook.id))],
        Json(WebhookWithSecret {
            webhook,
            secret: signature::display(&secret),
        }),
    ))
}

static SORT_KEYS: &[SortKey<Webhook>] = &[SortKey {
    name: "created_at",
    column: "w.created_at",
    kind: KeyKind::Time,
    value: |w| KeyValue::Time(w.created_at),
}];
static ID_KEY: SortKey<Webhook> = SortKey {
    name: "id",
    column: "w.id",
    kind: KeyKind::Uuid,
    value: |w| KeyValue::Uuid(w.id),
};

/// List webhook endpoints (admin).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of endpoints", body = ListResponse<Webhook>)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<Webhook>>> {
    principal.require(Role::Admin)?;
    let page = params.page_request(SORT_KEYS, "created_at", &ID_KEY)?;
    let (rows, total) = page
        .fetch(
            &state.db,
            format!("select {} from webhooks w where true", columns!()),
            "select count(*) from webhooks",
        )
        .await?;
    Ok(Json(page.finish(rows, total, |w| w)))
}

async fn find(db: impl sqlx::PgExecutor<'_>, id: Uuid) -> ApiResult<Webhook> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from webhooks w where w.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(ApiError::NotFound)
}

/// Get a webhook endpoint (admin).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The endpoint", body = Webhook)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
) -> ApiResult<Json<Webhook>> {
    principal.require(Role::Admin)?;
    Ok(Json(find(&state.db, id).await?))
}

/// Change a webhook endpoint (admin). Absent fields are kept.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhook,
    params(("id" = Uuid, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The endpoint", body = Webhook)))]
pub async fn update_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> ApiResult<Json<Webhook>> {
    principal.require(Role::Admin)?;
    let mut v = Validator::new();
    v.not_null("url", &body.url);
    v.not_null("events", &body.events);
    v.not_null("enabled", &body.enabled);
    let url = match &body.url {
        Patch::Value(url) => Some(valid_url(&state, &mut v, url).await),
        _ => None,
    };
    let events = match body.events {
        Patch::Value(events) => Some(valid_events(&mut v, events)),
        _ => None,
    };
    let description = body
        .description
        .map_nullable(|d| v.optional_text("description", Some(d), DESCRIPTION_MAX_CHARS));
    v.finish()?;
    let current = find(&state.db, id).await?;
    let enabled = match body.enabled {
        Patch::Value(enabled) => enabled,
        _ => current.enabled,
    };
    let mut tx = state.db.begin().await?;
    let webhook: Webhook = sqlx::query_as(concat!(
        "update webhooks w set url = $2, events = $3, description = $4, enabled = $5, \
             disabled_reason = case when $5 then null else w.disabled_reason end, \
             failing_since = case when $5 and not w.enabled then null else w.failing_since end, \
             updated_at = now() \
         where w.id = $1 returning ",
        columns!()
    ))
    .bind(id)
    .bind(url.unwrap_or(current.url))
    .bind(events.unwrap_or(current.events))
    .bind(description.apply(current.description))
    .bind(enabled)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    if enabled && !current.enabled {
        // What it missed while disabled goes now, not at the worker's next idle look.
        wake_on_commit(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(Json(webhook))
}

/// Delete a webhook endpoint and its delivery log (admin).
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    principal.require(Role::Admin)?;
    let deleted = sqlx::query("delete from webhooks where id = $1")
        .bind(id)
        .execute(&state.db)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Make a new secret (admin). The old one keeps signing beside it for 24 hours, so receivers
/// can switch without missing an event.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The endpoint with its new secret", body = WebhookWithSecret)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
) -> ApiResult<Json<WebhookWithSecret>> {
    principal.require(Role::Admin)?;
    let secret = signature::new_secret()?;
    let webhook: Webhook = sqlx::query_as(concat!(
        "update webhooks w set previous_secret = w.secret, previous_until = now() + $3, \
             secret = $2, updated_at = now() \
         where w.id = $1 returning ",
        columns!()
    ))
    .bind(id)
    .bind(&secret)
    .bind(ROTATION_OVERLAP)
    .fetch_optional(&state.db)
    .await?
    .ok_or(ApiError::NotFound)?;
    tracing::info!(webhook.id = %id, "webhook secret rotated");
    Ok(Json(WebhookWithSecret {
        webhook,
        secret: signature::display(&secret),
    }))
}

/// Where a delivery was queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// `webhook-id` of the delivery.
    pub event_id: Uuid,
}

/// Send a `ping` event to the endpoint now (admin); its outcome is in the delivery log.
#[utoipa::path(post, path = "/v1/webhooks/{id}/ping", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses((status = 202, description = "Queued", body = Queued)))]
pub async fn ping_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    principal.require(Role::Admin)?;
    let mut tx = state.db.begin().await?;
    find(&mut *tx, id).await?;
    let event_id = queue_ping(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { event_id })))
}

async fn queue_ping(tx: &mut PgConnection, webhook: Uuid) -> sqlx::Result<Uuid> {
    let event_id = Uuid::now_v7();
    sqlx::query(
        "insert into webhook_deliveries (webhook_id, event_id, event) values ($1, $2, 'ping')",
    )
    .bind(webhook)
    .bind(event_id)
    .execute(&mut *tx)
    .await?;
    wake_on_commit(tx).await?;
    Ok(event_id)
}

crate::db::text_enum! {
    #[derive(ToSchema)]
    pub enum DeliveryState {
        /// Waiting for its next attempt (or in one).
        Pending = "pending",
        /// A 2xx answer arrived.
        Delivered = "delivered",
        /// Every attempt failed.
        Failed = "failed",
    }
}

/// One event's delivery to one endpoint, as of its last attempt.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Delivery {
    #[serde(skip)]
    pub id: i64,
    /// `webhook-id`: the same on every attempt.
    pub event_id: Uuid,
    /// The event type, or `ping`.
    #[serde(rename = "type")]
    pub event: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's status code; `null` when there was no answer.
    pub status_code: Option<i16>,
    /// Why there was no usable answer (timeout, connection refused, refused by the guard).
    pub error: Option<String>,
    pub duration_ms: Option<i32>,
    /// The start of the receiver's answer (at most 1 KB).
    pub response_excerpt: Option<String>,
    /// When the next attempt is due (`pending` only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

static DELIVERY_KEYS: &[SortKey<Delivery>] = &[SortKey {
    name: "created_at",
    column: "d.created_at",
    kind: KeyKind::Time,
    value: |d| KeyValue::Time(d.created_at),
}];
static DELIVERY_ID: SortKey<Delivery> = SortKey {
    name: "id",
    column: "d.id",
    kind: KeyKind::Int,
    value: |d| KeyValue::Int(d.id),
};

/// The delivery log of an endpoint, newest first (admin).
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"), ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of deliveries", body = ListResponse<Delivery>)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<Delivery>>> {
    principal.require(Role::Admin)?;
    find(&state.db, id).await?;
    let page = params.page_request(DELIVERY_KEYS, "-created_at", &DELIVERY_ID)?;
    let mut select = QueryBuilder::new(
        "select d.id, d.event_id, d.event, d.state, d.attempts, d.last_attempt_at, \
             d.last_status as status_code, d.last_error as error, \
             d.last_duration_ms as duration_ms, d.response_excerpt, \
             case when d.state = 'pending' then d.next_attempt_at end as next_attempt_at, \
             d.created_at \
         from webhook_deliveries d where d.webhook_id = ",
    );
    select.push_bind(id);
    page.push_sql(&mut select);
    let rows: Vec<Delivery> = select.build_query_as().fetch_all(&state.db).await?;
    let total: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where webhook_id = $1")
            .bind(id)
            .fetch_one(&state.db)
            .await?;
    Ok(Json(page.finish(rows, total, |d| d)))
}

/// Deliver an event to the endpoint again, from its first attempt, with the same
/// `webhook-id` (admin).
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{event_id}/redeliver", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id"),
           ("event_id" = Uuid, Path, description = "The delivery's event id")),
    security(("bearer" = [])),
    responses((status = 202, description = "Queued", body = Queued)))]
pub async fn redeliver(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, event_id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    principal.require(Role::Admin)?;
    let parse = |raw: &str| Uuid::parse_str(raw).map_err(|_| ApiError::NotFound);
    let (id, event_id) = (parse(&id)?, parse(&event_id)?);
    let mut tx = state.db.begin().await?;
    // Any event the endpoint subscribes to that the feed still holds, attempted yet or not.
    let queued: i64 = sqlx::query_scalar(
        "with again as ( \
             update webhook_deliveries set state = 'pending', attempts = 0, \
                 next_attempt_at = now() \
             where webhook_id = $1 and event_id = $2 returning 1), \
         fresh as ( \
             insert into webhook_deliveries (webhook_id, change_ord, event_id, event) \
             select w.id, c.ord, c.id, c.event from webhooks w join changes c on c.id = $2 \
             where w.id = $1 and not exists (select 1 from again) and c.seq is not null \
                 and (w.events = '{*}' or c.event = any(w.events)) \
             on conflict (webhook_id, event_id) do nothing returning 1) \
         select (select count(*) from again) + (select count(*) from fresh)",
    )
    .bind(id)
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await?;
    if queued == 0 {
        return Err(ApiError::NotFound);
    }
    wake_on_commit(&mut tx).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { event_id })))
}
