//! One delivery attempt: the signed request of an event to an endpoint, and what became of it.
//! Both ways into the worker (the cursor stream of new events, and claimed retries) send
//! through here, so every attempt of an event carries the same body and `webhook-id`.

use axum::http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{DeliveryState, schedule, signature};
use crate::{
    changes::outbox::ObjectType,
    metrics::Delivered,
    outbound::{Failure, Outbound},
};

/// Where an attempt goes and how it is signed.
#[derive(Default, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub secret: Vec<u8>,
    /// The secret before a rotation, while it still signs.
    pub previous_secret: Option<Vec<u8>>,
}

/// The event an attempt delivers, as `changes` holds it; `change_ord` is `None` for a ping.
#[derive(sqlx::FromRow)]
pub struct Event {
    pub event_id: Uuid,
    pub event: String,
    pub change_ord: Option<i64>,
    pub at: Option<DateTime<Utc>>,
    pub object_type: Option<ObjectType>,
    pub object_id: Option<Uuid>,
    pub slug: Option<String>,
    pub status: Option<String>,
    pub version: Option<i32>,
    pub actor_id: Option<Uuid>,
    pub first_publish: Option<bool>,
    /// The public object (upserts only), as stored.
    pub object: Option<String>,
    pub purge_keys: Option<Vec<String>>,
}

/// What became of one attempt.
pub struct Outcome {
    /// Which attempt of the event this was (1 for the first).
    pub attempt: i32,
    pub state: DeliveryState,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub status: Option<i16>,
    pub error: Option<String>,
    pub duration_ms: Option<i32>,
    pub excerpt: Option<String>,
    pub at: DateTime<Utc>,
    /// The receiver answered `410 Gone`: its endpoint is disabled.
    pub gone: bool,
}

/// A statement that records outcomes, with their columns bound as arrays.
pub type Recording<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the next seven parameters of `query` to the outcomes' columns, as
/// `int[]` attempt, `text[]` state, `timestamptz[]` next_attempt_at, `smallint[]` status,
/// `text[]` error, `int[]` duration_ms, `text[]` excerpt.
pub fn bind_outcomes<'q, 'o>(
    query: Recording<'q>,
    outcomes: impl Iterator<Item = &'o Outcome> + Clone,
) -> Recording<'q> {
    query
        .bind(outcomes.clone().map(|o| o.attempt).collect::<Vec<_>>())
        .bind(outcomes.clone().map(|o| o.state).collect::<Vec<_>>())
        .bind(
            outcomes
                .clone()
                .map(|o| o.next_attempt_at)
                .collect::<Vec<_>>(),
        )
        .bind(outcomes.clone().map(|o| o.status).collect::<Vec<_>>())
        .bind(
            outcomes
                .clone()
                .map(|o| o.error.clone())
                .collect::<Vec<_>>(),
        )
        .bind(outcomes.clone().map(|o| o.duration_ms).collect::<Vec<_>>())
        .bind(outcomes.map(|o| o.excerpt.clone()).collect::<Vec<_>>())
}

impl Outcome {
    pub fn metric(&self) -> Delivered {
        match (self.state, self.gone) {
            (DeliveryState::Delivered, _) => Delivered::Ok,
            (_, true) => Delivered::Gone,
            (DeliveryState::Pending, _) => Delivered::Retry,
            (DeliveryState::Failed, _) => Delivered::Failed,
        }
    }
}

/// Sends attempt number `attempt` of `event` to `endpoint`.
pub async fn send(
    outbound: &Outbound,
    endpoint: &Endpoint,
    event: &Event,
    attempt: i32,
) -> Outcome {
    let mut outcome = Outcome {
        attempt,
        state: DeliveryState::Pending,
        next_attempt_at: None,
        status: None,
        error: None,
        duration_ms: None,
        excerpt: None,
        at: Utc::now(),
        gone: false,
    };
    let body = match payload(event, endpoint.id) {
        Ok(body) => body,
        Err(reason) => {
            outcome.state = DeliveryState::Failed;
            outcome.error = Some(reason);
            return outcome;
        }
    };
    let id = event.event_id.to_string();
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
    match schedule::retry_after(attempt, schedule::jitter()) {
        Some(wait) => {
            outcome.next_attempt_at =
                Some(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
        }
        None => outcome.state = DeliveryState::Failed,
    }
    outcome
}

/// The body of a delivery: the same bytes on every attempt of an event.
fn payload(event: &Event, webhook_id: Uuid) -> Result<Vec<u8>, String> {
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
    if event.change_ord.is_none() {
        return encode(serde_json::to_vec(&Body {
            kind: "ping",
            timestamp: Utc::now(),
            data: Ping { webhook_id },
        }));
    }
    let (Some(at), Some(kind), Some(id)) = (event.at, event.object_type, event.object_id) else {
        return Err(
            "the change is past the feed's retention; it can no longer be delivered".into(),
        );
    };
    let object = event
        .object
        .as_deref()
        .map(serde_json::from_str::<&RawValue>)
        .transpose()
        .map_err(|e| e.to_string())?;
    encode(serde_json::to_vec(&Body {
        kind: &event.event,
        timestamp: at,
        data: Data {
            kind,
            id,
            slug: event.slug.as_deref(),
            status: event.status.as_deref(),
            version: event.version,
            actor_id: event.actor_id,
            first_publish: event.first_publish,
            object,
            purge_keys: event.purge_keys.as_deref().unwrap_or_default(),
        },
    }))
}
