//! The delivery worker every `galley serve` runs. New events go out through a cursor stream per
//! endpoint (`stream`): one process at a time holds an endpoint's lease and sends what follows
//! its cursor in `changes`, so nothing is written with the change itself. What has to be tried
//! again (a failed attempt, a ping, a redelivery) is a pending `webhook_deliveries` row, which
//! this worker claims with `FOR UPDATE SKIP LOCKED`, so processes share the work and never take
//! the same one. A claim moves the next attempt past the attempt's end; if the process dies
//! before recording the outcome, the claim lapses and the delivery is attempted again, with the
//! same `webhook-id`: at least once. Outcomes are recorded in batches, fenced by the attempt
//! number.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{PgConnection, PgPool};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use super::{
    DeliveryState,
    attempt::{self, Endpoint, Event, Outcome, bind_outcomes},
    schedule,
    slots::Slots,
    stream,
};
use crate::app::AppState;

/// Results recorded per statement, at most.
const RESULT_BATCH: usize = 256;
/// How long the worker rests when nothing is due and nothing wakes it.
pub(super) const IDLE_WAIT: Duration = Duration::from_secs(5);

/// Starts the worker on `state.background`.
pub fn spawn(state: AppState) {
    let (results, receiver) = mpsc::channel(4 * RESULT_BATCH);
    let worker = Arc::new(Worker {
        slots: Slots::new(
            state.config.webhooks.concurrency,
            state.config.webhooks.endpoint_concurrency,
        ),
        lease: state.config.webhooks.timeout * 2 + Duration::from_secs(5),
        results,
        streaming: Mutex::new(HashSet::new()),
        stream_ended: Notify::new(),
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

pub(super) struct Worker {
    pub state: AppState,
    pub slots: Arc<Slots>,
    /// How long a claim or an endpoint's lease holds without news from its process.
    pub lease: Duration,
    results: mpsc::Sender<Retried>,
    /// Endpoints this process streams now.
    streaming: Mutex<HashSet<Uuid>>,
    /// Told when a stream ends, which may leave newer events for a new one.
    stream_ended: Notify,
}

/// A claimed retry and what it delivers.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: i64,
    attempts: i32,
    #[sqlx(flatten)]
    event: Event,
}

/// The outcome of a claimed attempt.
struct Retried {
    id: i64,
    webhook_id: Uuid,
    outcome: Outcome,
}

impl Worker {
    /// Starts what can be sent now; waits when there is nothing.
    async fn round(self: &Arc<Self>) -> sqlx::Result<()> {
        let mut waiter = self.state.changes.subscribe();
        let mut freed = self.slots.watch_freed();
        let db = &self.state.background;
        let (retries, waiting_for_slots) = self.start_retries(db).await?;
        let streams = self.start_streams(db).await?;
        if retries == 0 && streams == 0 {
            let wait = self.until_next_due(db).await?;
            tokio::select! {
                () = waiter.changed(wait) => {}
                () = self.stream_ended.notified() => {}
                _ = freed.changed(), if waiting_for_slots => {}
            }
        }
        Ok(())
    }

    /// Starts a stream for every endpoint with events past its cursor that no process holds.
    async fn start_streams(self: &Arc<Self>, db: &PgPool) -> sqlx::Result<usize> {
        let behind: Vec<Uuid> = sqlx::query_scalar(
            "select w.id from webhooks w, changes_clock k where w.enabled \
                 and w.cursor_seq < k.seq and (w.lease_until is null or w.lease_until < now())",
        )
        .fetch_all(db)
        .await?;
        let mut started = 0;
        for id in behind {
            let fresh = self
                .streaming
                .lock()
                .map(|mut streaming| streaming.insert(id))
                .unwrap_or(false);
            if !fresh {
                continue;
            }
            started += 1;
            let worker = self.clone();
            tokio::spawn(async move {
                if let Err(err) = stream::run(&worker, id).await {
                    tracing::warn!(webhook.id = %id, error = %err,
                        "webhooks: delivering new events failed; the lease lapses and they go again");
                }
                if let Ok(mut streaming) = worker.streaming.lock() {
                    streaming.remove(&id);
                }
                worker.stream_ended.notify_one();
            });
        }
        Ok(started)
    }

    /// Claims due retries, pings and redeliveries and starts sending them: how many started,
    /// and whether some endpoint waits for slots.
    async fn start_retries(self: &Arc<Self>, db: &PgPool) -> sqlx::Result<(usize, bool)> {
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
        // Claimed in batches of at least half the endpoint's slots: one claim per ended
        // attempt cost three statements per delivery and capped a fast receiver at a few
        // hundred a second.
        let batch = self.slots.per_endpoint().div_ceil(2);
        for endpoint in endpoints {
            let free = self.slots.free(endpoint.id);
            if free < batch.min(self.slots.available()).max(1) {
                waiting_for_slots = true;
                continue;
            }
            let slots = self.slots.take(endpoint.id, free);
            let endpoint = Arc::new(endpoint);
            let claimed = self.claim(db, endpoint.id, slots.len()).await?;
            for (claimed, slot) in claimed.into_iter().zip(slots) {
                started += 1;
                let (worker, endpoint) = (self.clone(), endpoint.clone());
                tokio::spawn(async move {
                    let outcome = attempt::send(
                        &worker.state.outbound,
                        &endpoint,
                        &claimed.event,
                        claimed.attempts,
                    )
                    .await;
                    drop(slot);
                    // A full channel waits: results are never dropped.
                    let _ = worker
                        .results
                        .send(Retried {
                            id: claimed.id,
                            webhook_id: endpoint.id,
                            outcome,
                        })
                        .await;
                });
            }
        }
        Ok((started, waiting_for_slots))
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

    /// How long until the next pending delivery is due, or an endpoint's lapsed lease can be
    /// taken over (a claim that lapses counts).
    async fn until_next_due(&self, db: &PgPool) -> sqlx::Result<Duration> {
        let seconds: Option<f64> = sqlx::query_scalar(
            "select extract(epoch from least( \
                 (select min(d.next_attempt_at) from webhooks w, lateral ( \
                     select next_attempt_at from webhook_deliveries \
                     where webhook_id = w.id and state = 'pending' \
                     order by next_attempt_at limit 1) d \
                  where w.enabled), \
                 (select min(w.lease_until) from webhooks w, changes_clock k \
                  where w.enabled and w.cursor_seq < k.seq)) - now())::float8",
        )
        .fetch_one(db)
        .await?;
        Ok(seconds.map_or(IDLE_WAIT, |s| {
            Duration::from_secs_f64(s.clamp(0.01, IDLE_WAIT.as_secs_f64()))
        }))
    }
}

/// Records outcomes of claimed attempts as they come, many per statement.
async fn record_results(
    db: PgPool,
    metrics: Arc<crate::metrics::Metrics>,
    mut receiver: mpsc::Receiver<Retried>,
) {
    let mut batch = Vec::with_capacity(RESULT_BATCH);
    while receiver.recv_many(&mut batch, RESULT_BATCH).await > 0 {
        for retried in &batch {
            metrics.count_delivery(retried.outcome.metric());
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

async fn record(db: &PgPool, batch: &[Retried]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    let query = sqlx::query(
        "update webhook_deliveries d set state = t.state, \
             next_attempt_at = coalesce(t.next_attempt_at, d.next_attempt_at), \
             last_status = t.status, last_error = t.error, last_duration_ms = t.duration_ms, \
             response_excerpt = t.excerpt \
         from unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::smallint[], \
             $6::text[], $7::int[], $8::text[]) \
             as t(id, attempt, state, next_attempt_at, status, error, duration_ms, excerpt) \
         where d.id = t.id and d.attempts = t.attempt",
    )
    .bind(batch.iter().map(|r| r.id).collect::<Vec<_>>());
    bind_outcomes(query, batch.iter().map(|r| &r.outcome))
        .execute(&mut *tx)
        .await?;
    let results: Vec<(Uuid, &Outcome)> = batch.iter().map(|r| (r.webhook_id, &r.outcome)).collect();
    update_endpoints(&mut tx, &results).await?;
    tx.commit().await
}

/// What outcomes say about their endpoints: a success clears `failing_since`, a failure starts
/// it, `410` disables the endpoint, and so does running out of attempts after 5 days of
/// failures.
pub(super) async fn update_endpoints(
    tx: &mut PgConnection,
    results: &[(Uuid, &Outcome)],
) -> sqlx::Result<()> {
    let ids = |keep: fn(&Outcome) -> bool| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = results
            .iter()
            .filter(|(_, o)| keep(o))
            .map(|(id, _)| *id)
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
    Ok(())
}

/// Events still to deliver (past enabled endpoints' cursors, and pending retries) and how long
/// the oldest has waited: what an alert on a stuck outbox watches.
pub async fn backlog(db: &PgPool) -> sqlx::Result<(i64, f64)> {
    let (count, oldest): (i64, Option<f64>) = sqlx::query_as(
        "select coalesce(sum(n), 0)::bigint, extract(epoch from now() - min(oldest))::float8 \
         from (select count(*) as n, min(c.at) as oldest from webhooks w \
                 join changes c on c.seq > w.cursor_seq \
                     and (w.events = '{*}' or c.event = any(w.events)) \
                 where w.enabled \
               union all \
               select count(*), min(created_at) from webhook_deliveries \
                 where state = 'pending') b",
    )
    .fetch_one(db)
    .await?;
    Ok((count, oldest.unwrap_or(0.0).max(0.0)))
}
