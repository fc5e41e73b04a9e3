//! The delivery worker every `galley serve` runs. Due deliveries are claimed with `FOR UPDATE
//! SKIP LOCKED` (so processes share the work and never take the same one), only as many as
//! this process can send at once, within its limits per endpoint and in all: a receiver that
//! hangs holds at most its endpoint's share of slots, for at most the attempt timeout, and
//! never delays publishing (deliveries are rows, written with the change). A claim moves the
//! next attempt past the attempt's end; if the process dies before recording the outcome, the
//! claim lapses and the delivery is attempted again, with the same `webhook-id`: at least once.
//! Outcomes are recorded in batches, fenced by the attempt number.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::PgPool;
use tokio::sync::{Mutex, Notify, Semaphore, mpsc};
use uuid::Uuid;

use super::{DeliveryState, schedule, signature};
use crate::{
    app::AppState,
    changes::outbox::ObjectType,
    metrics::Delivered,
    outbound::{Failure, Outbound},
};

/// Results recorded per statement, at most.
const RESULT_BATCH: usize = 256;
/// How long the worker rests when nothing is due and nothing wakes it.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// Starts the worker on `state.background`.
pub fn spawn(state: AppState) {
    let (results, receiver) = mpsc::channel(4 * RESULT_BATCH);
    let worker = Arc::new(Worker {
        slots: Arc::new(Semaphore::new(state.config.webhooks.concurrency)),
        per_endpoint: state.config.webhooks.endpoint_concurrency,
        busy: Mutex::new(HashMap::new()),
        freed: Notify::new(),
        lease: state.config.webhooks.timeout * 2 + Duration::from_secs(5),
        results,
        state,
    });
    tokio::spawn(record_results(
        worker.state.background.clone(),
        worker.state.metrics.clone(),
        receiver,
    ));
    tokio::spawn(async move {
        // At shutdown nothing new is claimed; attempts in flight that do not end before the
        // process does lapse and are sent again by whichever process runs next.
        while !worker.state.changes.is_closing() {
            match worker.round().await {
                Ok(()) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "webhooks: claiming deliveries failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

struct Worker {
    state: AppState,
    slots: Arc<Semaphore>,
    per_endpoint: usize,
    /// Attempts in flight by endpoint.
    busy: Mutex<HashMap<Uuid, usize>>,
    /// Told when an attempt ends.
    freed: Notify,
    lease: Duration,
    results: mpsc::Sender<Outcome>,
}

/// An endpoint with deliveries due.
#[derive(sqlx::FromRow)]
struct Endpoint {
    id: Uuid,
    url: String,
    secret: Vec<u8>,
    previous_secret: Option<Vec<u8>>,
}

/// A claimed attempt and what it delivers.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: i64,
    attempts: i32,
    event_id: Uuid,
    event: String,
    change_ord: Option<i64>,
    at: Option<DateTime<Utc>>,
    object_type: Option<ObjectType>,
    object_id: Option<Uuid>,
    slug: Option<String>,
    status: Option<String>,
    version: Option<i32>,
    actor_id: Option<Uuid>,
    first_publish: Option<bool>,
    object: Option<String>,
    purge_keys: Option<Vec<String>>,
}

impl Worker {
    /// Claims what can be sent now and starts sending it; waits when there is nothing.
    async fn round(self: &Arc<Self>) -> sqlx::Result<()> {
        let mut waiter = self.state.changes.subscribe();
        let db = &self.state.background;
        let endpoints: Vec<Endpoint> = sqlx::query_as(
            "select w.id, w.url, w.secret, \
                 case when w.previous_until > now() then w.previous_secret end as previous_secret \
             from webhooks w where w.enabled and exists (select 1 from webhook_deliveries d \
                 where d.webhook_id = w.id and d.state = 'pending' and d.next_attempt_at <= now())",
        )
        .fetch_all(db)
        .await?;
        let mut started = 0;
        let mut waiting_for_slots = false;
        for endpoint in endpoints {
            let endpoint = Arc::new(endpoint);
            let free = {
                let busy = self.busy.lock().await;
                self.per_endpoint
                    .saturating_sub(busy.get(&endpoint.id).copied().unwrap_or(0))
                    .min(self.slots.available_permits())
            };
            // Claimed in batches of at least half the endpoint's slots: one claim per ended
            // attempt cost three statements per delivery and capped a fast receiver at a few
            // hundred a second.
            if free < self.batch().min(self.slots.available_permits()).max(1) {
                waiting_for_slots = true;
                continue;
            }
            let claimed = self.claim(db, endpoint.id, free).await?;
            for attempt in claimed {
                let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                    break;
                };
                *self.busy.lock().await.entry(endpoint.id).or_default() += 1;
                started += 1;
                let (worker, endpoint) = (self.clone(), endpoint.clone());
                tokio::spawn(async move {
                    let outcome = worker.attempt(&endpoint, attempt).await;
                    drop(permit);
                    let batch_free = match worker.busy.lock().await.get_mut(&endpoint.id) {
                        Some(n) => {
                            *n = n.saturating_sub(1);
                            worker.per_endpoint - *n == worker.batch() || *n == 0
                        }
                        None => true,
                    };
                    // A full channel waits: results are never dropped.
                    let _ = worker.results.send(outcome).await;
                    if batch_free {
                        worker.freed.notify_one();
                    }
                });
            }
        }
        if started == 0 {
            let wait = if waiting_for_slots {
                IDLE_WAIT
            } else {
                self.until_next_due(db).await?
            };
            tokio::select! {
                () = waiter.changed(wait) => {}
                () = self.freed.notified() => {}
            }
        }
        Ok(())
    }

    /// The fewest free slots an endpoint's claim waits for.
    fn batch(&self) -> usize {
        self.per_endpoint.div_ceil(2)
    }

    /// Claims up to `n` due deliveries of `endpoint`, moving their next attempt past this
    /// attempt's end.
    async fn claim(&self, db: &PgPool, endpoint: Uuid, n: usize) -> sqlx::Result<Vec<Claimed>> {
        sqlx::query_as(
            "with due as ( \
                 select id from webhook_deliveries where webhook_id = $1 and state = 'pending' \
                     and next_attempt_at <= now() \
                 order by next_attempt_at limit $2 for update skip locked), \
             claimed as ( \
                 update webhook_deliveries d set attempts = d.attempts + 1, \
                     next_attempt_at = now() + $3, last_attempt_at = now() \
                 from due where d.id = due.id \
                 returning d.id, d.attempts, d.event_id, d.event, d.change_ord) \
             select k.id, k.attempts, k.event_id, k.event, k.change_ord, c.at, c.object_type, \
                 c.object_id, c.slug, c.status, c.version, c.actor_id, c.first_publish, \
                 case when c.public_op = 'upsert' then c.object::text end as object, \
                 c.purge_keys \
             from claimed k left join changes c on c.ord = k.change_ord",
        )
        .bind(endpoint)
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .bind(self.lease)
        .fetch_all(db)
        .await
    }

    /// How long until the next pending delivery is due (a claim that lapses counts).
    async fn until_next_due(&self, db: &PgPool) -> sqlx::Result<Duration> {
        let seconds: Option<f64> = sqlx::query_scalar(
            "select extract(epoch from min(d.next_attempt_at) - now())::float8 \
             from webhooks w, lateral (select next_attempt_at from webhook_deliveries \
                 where webhook_id = w.id and state = 'pending' \
                 order by next_attempt_at limit 1) d \
             where w.enabled",
        )
        .fetch_one(db)
        .await?;
        Ok(seconds.map_or(IDLE_WAIT, |s| {
            Duration::from_secs_f64(s.clamp(0.01, IDLE_WAIT.as_secs_f64()))
        }))
    }

    async fn attempt(&self, endpoint: &Endpoint, claimed: Claimed) -> Outcome {
        let mut outcome = Outcome {
            id: claimed.id,
            webhook_id: endpoint.id,
            attempt: claimed.attempts,
            state: DeliveryState::Pending,
            next_attempt_at: None,
            status: None,
            error: None,
            duration_ms: None,
            excerpt: None,
            gone: false,
        };
        let body = match payload(&claimed, endpoint.id) {
            Ok(body) => body,
            Err(reason) => {
                outcome.state = DeliveryState::Failed;
                outcome.error = Some(reason);
                return outcome;
            }
        };
        let id = claimed.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let mut secrets: Vec<&[u8]> = vec![&endpoint.secret];
        if let Some(previous) = &endpoint.previous_secret {
            secrets.push(previous);
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in [
            ("webhook-id", id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                signature::header(&secrets, &id, timestamp, &body),
            ),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        let outbound: &Outbound = &self.state.outbound;
        match outbound.post(&endpoint.url, headers, body).await {
            Ok(answer) => {
                outcome.status = Some(answer.status as i16);
                outcome.duration_ms = Some(answer.took.as_millis().min(i32::MAX as u128) as i32);
                outcome.excerpt = Some(answer.excerpt);
                if (200..300).contains(&answer.status) {
                    outcome.state = DeliveryState::Delivered;
                    return outcome;
                }
                if answer.status == 410 {
                    outcome.state = DeliveryState::Failed;
                    outcome.gone = true;
                    return outcome;
                }
            }
            Err(failure) => {
                if let Failure::TimedOut(limit) = &failure {
                    outcome.duration_ms = Some(limit.as_millis().min(i32::MAX as u128) as i32);
                }
                outcome.error = Some(failure.to_string());
            }
        }
        match schedule::retry_after(claimed.attempts, schedule::jitter()) {
            Some(wait) => {
                outcome.next_attempt_at =
                    Some(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
            }
            None => outcome.state = DeliveryState::Failed,
        }
        outcome
    }
}

/// The body of a delivery: the same bytes on every attempt of an event.
fn payload(claimed: &Claimed, webhook_id: Uuid) -> Result<Vec<u8>, String> {
    #[derive(Serialize)]
    struct Body<'a, D: Serialize> {
        #[serde(rename = "type")]
        kind: &'a str,
        timestamp: DateTime<Utc>,
        data: D,
    }
    #[derive(Serialize)]
    struct Ping {
        webhook_id: Uuid,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        #[serde(rename = "type")]
        kind: ObjectType,
        id: Uuid,
        slug: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<i32>,
        actor_id: Option<Uuid>,
        #[serde(skip_serializing_if = "Option::is_none")]
        first_publish: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        object: Option<&'a RawValue>,
        purge_keys: &'a [String],
    }
    let encode = |value: serde_json::Result<Vec<u8>>| value.map_err(|e| e.to_string());
    if claimed.change_ord.is_none() {
        return encode(serde_json::to_vec(&Body {
            kind: "ping",
            timestamp: Utc::now(),
            data: Ping { webhook_id },
        }));
    }
    let (Some(at), Some(kind), Some(id)) = (claimed.at, claimed.object_type, claimed.object_id)
    else {
        return Err(
            "the change is past the feed's retention; it can no longer be delivered".into(),
        );
    };
    let object = claimed
        .object
        .as_deref()
        .map(serde_json::from_str::<&RawValue>)
        .transpose()
        .map_err(|e| e.to_string())?;
    encode(serde_json::to_vec(&Body {
        kind: &claimed.event,
        timestamp: at,
        data: Data {
            kind,
            id,
            slug: claimed.slug.as_deref(),
            status: claimed.status.as_deref(),
            version: claimed.version,
            actor_id: claimed.actor_id,
            first_publish: claimed.first_publish,
            object,
            purge_keys: claimed.purge_keys.as_deref().unwrap_or_default(),
        },
    }))
}

/// What became of one attempt.
struct Outcome {
    id: i64,
    webhook_id: Uuid,
    attempt: i32,
    state: DeliveryState,
    next_attempt_at: Option<DateTime<Utc>>,
    status: Option<i16>,
    error: Option<String>,
    duration_ms: Option<i32>,
    excerpt: Option<String>,
    /// The receiver answered `410 Gone`: its endpoint is disabled.
    gone: bool,
}

/// Records outcomes as they come, many per statement.
async fn record_results(
    db: PgPool,
    metrics: Arc<crate::metrics::Metrics>,
    mut receiver: mpsc::Receiver<Outcome>,
) {
    let mut batch = Vec::with_capacity(RESULT_BATCH);
    while receiver.recv_many(&mut batch, RESULT_BATCH).await > 0 {
        for outcome in &batch {
            metrics.count_delivery(match (outcome.state, outcome.gone) {
                (DeliveryState::Delivered, _) => Delivered::Ok,
                (_, true) => Delivered::Gone,
                (DeliveryState::Pending, _) => Delivered::Retry,
                (DeliveryState::Failed, _) => Delivered::Failed,
            });
        }
        let mut delay = Duration::from_millis(100);
        // The claims lapse if this never succeeds, and the deliveries are tried again.
        while let Err(err) = record(&db, &batch).await {
            tracing::warn!(error = %err, "webhooks: recording delivery outcomes failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            if delay >= Duration::from_secs(5) {
                break;
            }
        }
        batch.clear();
    }
}

async fn record(db: &PgPool, batch: &[Outcome]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "update webhook_deliveries d set state = t.state, \
             next_attempt_at = coalesce(t.next_attempt_at, d.next_attempt_at), \
             last_status = t.status, last_error = t.error, last_duration_ms = t.duration_ms, \
             response_excerpt = t.excerpt \
         from unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::smallint[], \
             $6::text[], $7::int[], $8::text[]) \
             as t(id, attempt, state, next_attempt_at, status, error, duration_ms, excerpt) \
         where d.id = t.id and d.attempts = t.attempt",
    )
    .bind(batch.iter().map(|o| o.id).collect::<Vec<_>>())
    .bind(batch.iter().map(|o| o.attempt).collect::<Vec<_>>())
    .bind(batch.iter().map(|o| o.state).collect::<Vec<_>>())
    .bind(batch.iter().map(|o| o.next_attempt_at).collect::<Vec<_>>())
    .bind(batch.iter().map(|o| o.status).collect::<Vec<_>>())
    .bind(batch.iter().map(|o| o.error.clone()).collect::<Vec<_>>())
    .bind(batch.iter().map(|o| o.duration_ms).collect::<Vec<_>>())
    .bind(batch.iter().map(|o| o.excerpt.clone()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let ids = |keep: fn(&Outcome) -> bool| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = batch
            .iter()
            .filter(|o| keep(o))
            .map(|o| o.webhook_id)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let succeeded = ids(|o| o.state == DeliveryState::Delivered);
    let failed = ids(|o| o.state != DeliveryState::Delivered);
    let gone = ids(|o| o.gone);
    let exhausted = ids(|o| o.state == DeliveryState::Failed && !o.gone);
    for (sql, ids) in [
        (
            "update webhooks set failing_since = null where id = any($1) and failing_since is not null",
            succeeded,
        ),
        (
            "update webhooks set failing_since = now() where id = any($1) and failing_since is null",
            failed,
        ),
        (
            "update webhooks set enabled = false, updated_at = now(), \
                 disabled_reason = 'the receiver answered 410 Gone' where id = any($1) and enabled",
            gone,
        ),
    ] {
        if !ids.is_empty() {
            sqlx::query(sql).bind(&ids).execute(&mut *tx).await?;
        }
    }
    if !exhausted.is_empty() {
        sqlx::query(
            "update webhooks set enabled = false, updated_at = now(), \
                 disabled_reason = 'every delivery failed for 5 days' \
             where id = any($1) and enabled and failing_since <= now() - $2",
        )
        .bind(&exhausted)
        .bind(schedule::DISABLE_AFTER)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Pending deliveries and how long the oldest has waited: what an alert on a stuck outbox
/// watches.
pub async fn backlog(db: &PgPool) -> sqlx::Result<(i64, f64)> {
    let (count, oldest): (i64, Option<f64>) = sqlx::query_as(
        "select count(*), extract(epoch from now() - min(created_at))::float8 \
         from webhook_deliveries where state = 'pending'",
    )
    .fetch_one(db)
    .await?;
    Ok((count, oldest.unwrap_or(0.0).max(0.0)))
}
