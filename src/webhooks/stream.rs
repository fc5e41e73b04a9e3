//! New events of one endpoint, sent from its cursor over `changes.seq`. The numbers are given
//! at commit, without gaps and in order (migration 0014), so "every event up to `cursor_seq`
//! has been attempted" is exact, and the import's transactions write nothing for webhooks.
//!
//! One process at a time streams an endpoint: it takes the endpoint's lease (a token and an
//! expiry on the `webhooks` row), keeps up to the endpoint's share of slots in flight, and
//! moves the cursor only over events whose attempt has ended, in the same transaction as their
//! log rows and fenced by the token. A process that dies leaves the lease to lapse; whoever
//! takes it next sends the unrecorded events again with the same `webhook-id` (at least once).
//! A failed first attempt becomes a pending row, retried by the worker like any other.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::PgPool;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{
    attempt::{self, Endpoint, Event, Outcome, bind_outcomes},
    delivery::{IDLE_WAIT, Worker, update_endpoints},
};

/// Events read per query.
const FETCH: i64 = 256;
/// Ended attempts recorded per transaction, at most; and how long one may wait to be recorded
/// while others are in flight.
const RECORD_BATCH: usize = 256;
const RECORD_EVERY: Duration = Duration::from_millis(50);

/// The endpoint as the lease holder reads it before each batch of events: a rotation, a new
/// URL or a new event list applies from the next batch.
#[derive(sqlx::FromRow)]
struct Current {
    #[sqlx(flatten)]
    endpoint: Endpoint,
    events: Vec<String>,
    /// The clock: every change up to it has committed.
    upto: i64,
}

#[derive(sqlx::FromRow)]
struct Next {
    seq: i64,
    #[sqlx(flatten)]
    event: Event,
}

/// An event handed to an attempt.
enum Sending {
    InFlight,
    Ended(Box<(Event, Outcome)>),
}

struct Stream<'w> {
    worker: &'w Worker,
    db: &'w PgPool,
    id: Uuid,
    token: Uuid,
    endpoint: Arc<Endpoint>,
    /// Recorded: every event up to it has been attempted.
    committed: i64,
    /// Read: events up to it are in `window` or `queue`, or did not match.
    fetched_to: i64,
    queue: VecDeque<(i64, Event)>,
    window: BTreeMap<i64, Sending>,
    last_record: Instant,
    last_renewal: Instant,
    /// No new attempts: the endpoint was disabled, deleted or lost, or the process stops.
    stopping: bool,
}

/// Streams `id`'s events until it has caught up, if no other process holds it.
pub(super) async fn run(worker: &Worker, id: Uuid) -> sqlx::Result<()> {
    let db = &worker.state.background;
    let token = Uuid::new_v4();
    let cursor: Option<i64> = sqlx::query_scalar(
        "update webhooks set lease_token = $2, lease_until = now() + $3 \
         where id = $1 and enabled and (lease_until is null or lease_until < now()) \
         returning cursor_seq",
    )
    .bind(id)
    .bind(token)
    .bind(worker.lease)
    .fetch_optional(db)
    .await?;
    let Some(cursor) = cursor else {
        return Ok(());
    };
    let mut stream = Stream {
        worker,
        db,
        id,
        token,
        // Read by the first fetch, before any attempt.
        endpoint: Arc::new(Endpoint {
            id,
            ..Endpoint::default()
        }),
        committed: cursor,
        fetched_to: cursor,
        queue: VecDeque::new(),
        window: BTreeMap::new(),
        last_record: Instant::now(),
        last_renewal: Instant::now(),
        stopping: false,
    };
    let result = stream.deliver().await;
    // Given back even after a failure: what was not recorded goes again, from the cursor.
    sqlx::query(
        "update webhooks set lease_token = null, lease_until = null \
         where id = $1 and lease_token = $2",
    )
    .bind(id)
    .bind(token)
    .execute(db)
    .await?;
    result
}

impl Stream<'_> {
    async fn deliver(&mut self) -> sqlx::Result<()> {
        let mut in_flight: JoinSet<(i64, Event, Outcome)> = JoinSet::new();
        let mut waiter = self.worker.state.changes.subscribe();
        let mut freed = self.worker.slots.watch_freed();
        let mut caught_up = false;
        loop {
            if self.worker.state.changes.is_closing() {
                self.stopping = true;
            }
            if !self.stopping && !caught_up && self.queue.is_empty() {
                caught_up = self.fetch().await?;
            }
            if !self.stopping {
                for slot in self.worker.slots.take(self.id, self.queue.len()) {
                    let Some((seq, event)) = self.queue.pop_front() else {
                        break;
                    };
                    self.window.insert(seq, Sending::InFlight);
                    let endpoint = self.endpoint.clone();
                    let outbound = self.worker.state.outbound.clone();
                    in_flight.spawn(async move {
                        let outcome = attempt::send(&outbound, &endpoint, &event, 1).await;
                        drop(slot);
                        (seq, event, outcome)
                    });
                }
            }
            let done =
                in_flight.is_empty() && (self.stopping || (caught_up && self.queue.is_empty()));
            let ended = self.ended_prefix();
            if done
                || ended >= RECORD_BATCH
                || (self.target() > self.committed
                    && (in_flight.is_empty() || self.last_record.elapsed() >= RECORD_EVERY))
            {
                self.record().await?;
            }
            if done {
                return Ok(());
            }
            let waiting_for_slots = !self.stopping && !self.queue.is_empty();
            let renew_in = (self.worker.lease / 3).saturating_sub(self.last_renewal.elapsed());
            tokio::select! {
                joined = in_flight.join_next(), if !in_flight.is_empty() => match joined {
                    Some(Ok((seq, event, outcome))) => {
                        self.window
                            .insert(seq, Sending::Ended(Box::new((event, outcome))));
                    }
                    // An attempt that panicked never ends: stop here, and let the cursor
                    // stay before it.
                    Some(Err(_)) | None => self.stopping = true,
                },
                () = waiter.changed(IDLE_WAIT), if caught_up && self.queue.is_empty() && !self.stopping => {
                    caught_up = false;
                }
                _ = freed.changed(), if waiting_for_slots => {}
                () = tokio::time::sleep(renew_in) => {}
            }
            if self.last_renewal.elapsed() >= self.worker.lease / 3 {
                self.renew().await?;
            }
        }
    }

    /// Reads the endpoint and the next events: whether it has caught up with the clock.
    async fn fetch(&mut self) -> sqlx::Result<bool> {
        let current: Option<Current> = sqlx::query_as(
            "select w.id, w.url, w.secret, \
                 case when w.previous_until > now() then w.previous_secret end as previous_secret, \
                 w.events, k.seq as upto \
             from webhooks w, changes_clock k \
             where w.id = $1 and w.lease_token = $2 and w.enabled",
        )
        .bind(self.id)
        .bind(self.token)
        .fetch_optional(self.db)
        .await?;
        let Some(current) = current else {
            self.stopping = true;
            return Ok(true);
        };
        self.endpoint = Arc::new(current.endpoint);
        // The clock was read first: every change up to it has committed and is visible now.
        let next: Vec<Next> = sqlx::query_as(
            "select c.seq, c.id as event_id, c.event, c.ord as change_ord, c.at, c.object_type, \
                 c.object_id, c.slug, c.status, c.version, c.actor_id, c.first_publish, \
                 case when c.public_op = 'upsert' then c.object::text end as object, \
                 c.purge_keys \
             from changes c \
             where c.seq > $1 and c.seq <= $2 and ($3 = '{*}' or c.event = any($3)) \
             order by c.seq limit $4",
        )
        .bind(self.fetched_to)
        .bind(current.upto)
        .bind(&current.events)
        .bind(FETCH)
        .fetch_all(self.db)
        .await?;
        let caught_up = next.len() < FETCH as usize;
        self.fetched_to = match next.last() {
            Some(last) if !caught_up => last.seq,
            _ => current.upto.max(self.fetched_to),
        };
        self.queue
            .extend(next.into_iter().map(|next| (next.seq, next.event)));
        Ok(caught_up)
    }

    /// How many ended attempts wait, in order, for the first one still in flight.
    fn ended_prefix(&self) -> usize {
        self.window
            .values()
            .take_while(|slot| matches!(slot, Sending::Ended(..)))
            .count()
    }

    /// Where the cursor may move: before the first event not yet ended.
    fn target(&self) -> i64 {
        let in_flight = self
            .window
            .iter()
            .find(|(_, slot)| matches!(slot, Sending::InFlight))
            .map(|(seq, _)| *seq);
        match (in_flight, self.queue.front().map(|(seq, _)| *seq)) {
            (Some(seq), _) | (None, Some(seq)) => seq - 1,
            (None, None) => self.fetched_to,
        }
    }

    /// Moves the cursor over the ended attempts and writes their log rows, in one transaction
    /// fenced by the lease.
    async fn record(&mut self) -> sqlx::Result<()> {
        let target = self.target();
        if target <= self.committed {
            return Ok(());
        }
        let mut ended = Vec::new();
        while let Some(entry) = self.window.first_entry() {
            if *entry.key() > target {
                break;
            }
            if let Sending::Ended(attempted) = entry.remove() {
                ended.push(*attempted);
            }
        }
        let mut tx = self.db.begin().await?;
        let held: Option<bool> = sqlx::query_scalar(
            "update webhooks set cursor_seq = greatest(cursor_seq, $3), lease_until = now() + $4 \
             where id = $1 and lease_token = $2 returning enabled",
        )
        .bind(self.id)
        .bind(self.token)
        .bind(target)
        .bind(self.worker.lease)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(enabled) = held else {
            // Another process took the lease over and sends these again.
            self.stopping = true;
            return Ok(());
        };
        if !ended.is_empty() {
            let events = || ended.iter().map(|(e, _)| e);
            let query = sqlx::query(
                "insert into webhook_deliveries (webhook_id, change_ord, event_id, event, \
                     last_attempt_at, attempts, state, next_attempt_at, last_status, \
                     last_error, last_duration_ms, response_excerpt) \
                 select $1, t.ord, t.event_id, t.event, t.at, t.attempt, t.state, \
                     coalesce(t.next_attempt_at, now()), t.status, t.error, t.duration_ms, \
                     t.excerpt \
                 from unnest($2::bigint[], $3::uuid[], $4::text[], $5::timestamptz[], \
                     $6::int[], $7::text[], $8::timestamptz[], $9::smallint[], $10::text[], \
                     $11::int[], $12::text[]) \
                     as t(ord, event_id, event, at, attempt, state, next_attempt_at, status, \
                          error, duration_ms, excerpt) \
                 on conflict (webhook_id, event_id) do nothing",
            )
            .bind(self.id)
            .bind(events().map(|e| e.change_ord).collect::<Vec<_>>())
            .bind(events().map(|e| e.event_id).collect::<Vec<_>>())
            .bind(events().map(|e| e.event.clone()).collect::<Vec<_>>())
            .bind(ended.iter().map(|(_, o)| o.at).collect::<Vec<_>>());
            let outcomes = || ended.iter().map(|(_, o)| o);
            bind_outcomes(query, outcomes()).execute(&mut *tx).await?;
            let results: Vec<(Uuid, &Outcome)> = outcomes().map(|o| (self.id, o)).collect();
            update_endpoints(&mut tx, &results).await?;
        }
        tx.commit().await?;
        for (_, outcome) in &ended {
            self.worker.state.metrics.count_delivery(outcome.metric());
        }
        self.committed = target;
        self.last_record = Instant::now();
        self.last_renewal = Instant::now();
        if !enabled || ended.iter().any(|(_, o)| o.gone) {
            self.stopping = true;
        }
        Ok(())
    }

    async fn renew(&mut self) -> sqlx::Result<()> {
        let renewed = sqlx::query(
            "update webhooks set lease_until = now() + $3 where id = $1 and lease_token = $2",
        )
        .bind(self.id)
        .bind(self.token)
        .bind(self.worker.lease)
        .execute(self.db)
        .await?;
        if renewed.rows_affected() == 0 {
            self.stopping = true;
        }
        self.last_renewal = Instant::now();
        Ok(())
    }
}
