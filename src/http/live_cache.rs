//! Anonymous reads kept in memory until something public changes.
//!
//! PostgreSQL alone builds a 20-article home page fewer times a second than readers ask for it
//! (docs/PERFORMANCE.md), and readers ask for the same few pages far more often than editors
//! change them. So a successful anonymous `GET` of articles, authors, tags or images is kept,
//! whole and already compressed, and served again until:
//!
//! - this process answers a successful write (at once, so an editor reads what they wrote);
//! - any process changes a public table: triggers (migration 0005) `NOTIFY galley_live` in the
//!   writing transaction, delivered on commit to every listening Galley, scheduler and CLI
//!   writes included;
//! - the TTL passes (a safety net, not the mechanism).
//!
//! Every entry carries the generation that was current when its request *started*; any
//! invalidation bumps the generation, so a response computed from data read before a change
//! can never be served after it. While the notification connection is down nothing is kept or
//! served fresh (another process's change could go unnoticed); reconnecting starts a new
//! generation.
//!
//! Stale-if-error: when the notification connection breaks, PostgreSQL is most likely gone.
//! Until it is back, a kept page stored less than `stale_for` ago is served as it was (marked
//! `x-galley-stale: true`) instead of a 503 three seconds later. What this process wrote
//! itself is never served stale (its writes empty the cache); a change another process
//! committed just before the break may be, for at most `stale_for` after that page was kept.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::metrics::counter::Counter;
use quick_cache::{Weighter, sync::Cache};
use sqlx::PgPool;

use crate::accounts::session_cookie;

use crate::db::notifications::{self, Notice};
use tokio::sync::watch;

use super::route_policy::{Policy, RoutePolicies};

/// The channel the triggers of migration 0005 notify.
pub const CHANNEL: &str = "galley_live";

/// A response bigger than this share of the budget is served but not kept.
const MAX_ENTRY_SHARE: usize = 8;

#[derive(Clone)]
pub struct LiveCache(Option<Arc<Inner>>);

struct Inner {
    entries: Cache<Key, Arc<Entry>, EntryWeight>,
    /// Misses being answered: later requests for the same key wait for the first one instead
    /// of asking PostgreSQL again (after a publish empties the cache, every reader of the home
    /// page misses at once).
    in_flight: Mutex<HashMap<Key, watch::Receiver<Option<StatusCode>>>>,
    max_entry_bytes: usize,
    generation: AtomicU64,
    /// False until the notification connection is up, and whenever it is down.
    listening: AtomicBool,
    /// The notification connection was up and broke, and is not back yet.
    broken: AtomicBool,
    ttl: Duration,
    stale_for: Duration,
    counters: Counters,
}

/// What lookups became, for `/metrics`.
#[derive(Clone, Default)]
pub struct Counters {
    pub hits: Counter,
    pub misses: Counter,
    pub stale: Counter,
}

/// The request target and the `Accept-Encoding` it was compressed for.
type Key = (String, Option<HeaderValue>);

struct Entry {
    generation: u64,
    stored_at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct EntryWeight;

impl Weighter<Key, Arc<Entry>> for EntryWeight {
    fn weight(&self, key: &Key, entry: &Arc<Entry>) -> u64 {
        (key.0.len() + entry.body.len() + 256) as u64
    }
}

impl LiveCache {
    /// `max_bytes` 0 turns the cache off; `stale_for` zero never serves a page stale.
    pub fn new(max_bytes: usize, ttl: Duration, stale_for: Duration) -> Self {
        if max_bytes == 0 {
            return Self(None);
        }
        let estimated_items = (max_bytes / 16_384).max(16);
        Self(Some(Arc::new(Inner {
            entries: Cache::with_weighter(estimated_items, max_bytes as u64, EntryWeight),
            in_flight: Mutex::new(HashMap::new()),
            max_entry_bytes: max_bytes / MAX_ENTRY_SHARE,
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            ttl,
            stale_for,
            counters: Counters::default(),
        })))
    }

    /// Forgets everything kept so far.
    pub fn invalidate(&self) {
        if let Some(inner) = &self.0 {
            inner.generation.fetch_add(1, Ordering::SeqCst);
            inner.entries.clear();
        }
    }

    /// Follows `NOTIFY galley_live` for as long as the runtime runs, reconnecting after
    /// failures. Without it the cache keeps nothing.
    pub fn spawn_listener(&self, db: PgPool) {
        let Some(inner) = self.0.clone() else {
            return;
        };
        notifications::follow(db, CHANNEL, "live cache", move |notice| inner.on(notice));
    }

    /// Whether reads are being kept: on, and following notifications.
    pub fn is_active(&self) -> bool {
        self.active().is_some()
    }

    /// Bytes and entries kept.
    pub fn size(&self) -> (u64, usize) {
        self.0.as_ref().map_or((0, 0), |inner| {
            (inner.entries.weight(), inner.entries.len())
        })
    }

    /// The hit, miss and stale counters (a cache that is off counts nothing).
    pub fn counters(&self) -> Counters {
        self.0
            .as_ref()
            .map(|inner| inner.counters.clone())
            .unwrap_or_default()
    }

    fn active(&self) -> Option<&Inner> {
        self.0
            .as_deref()
            .filter(|inner| inner.listening.load(Ordering::SeqCst))
    }
}

impl Inner {
    /// Coming back starts a new generation: notifications sent meanwhile are lost. Losing the
    /// connection stops caching first.
    fn on(&self, notice: Notice) {
        match notice {
            Notice::Up => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                // Pages kept for the outage: none may be served once changes can be seen again.
                self.entries.clear();
                self.broken.store(false, Ordering::SeqCst);
                self.listening.store(true, Ordering::SeqCst);
            }
            Notice::Notified => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                self.entries.clear();
            }
            Notice::Down => {
                self.listening.store(false, Ordering::SeqCst);
                self.generation.fetch_add(1, Ordering::SeqCst);
                if self.stale_for.is_zero() {
                    self.entries.clear();
                } else {
                    self.broken.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

fn key_of(request: &Request) -> Option<Key> {
    Some((
        request.uri().path_and_query()?.as_str().to_owned(),
        request.headers().get(header::ACCEPT_ENCODING).cloned(),
    ))
}

/// What the cache layer needs: the cache, and which routes are public reads or private writes.
pub type Layered = (LiveCache, Arc<RoutePolicies>);

fn is_public_read(request: &Request, policies: &RoutePolicies) -> bool {
    !session_cookie::carries_credentials(request.headers())
        && policies.applies(Policy::PublicRead, request)
}

/// Serves kept anonymous reads; keeps new ones; forgets them all after a successful write.
/// Sits outside compression (entries are stored compressed) and inside CORS and request ids
/// (those differ per request).
pub async fn layer(
    State((cache, policies)): State<Layered>,
    request: Request,
    next: Next,
) -> Response {
    // A cache that is off costs no lookup in the policy table.
    if cache.0.is_none() || !is_public_read(&request, &policies) {
        return pass_through(&cache, &policies, request, next).await;
    }
    let Some(inner) = cache.active() else {
        if let Some(response) = cache.stale(&request) {
            return response;
        }
        return pass_through(&cache, &policies, request, next).await;
    };
    let Some(key) = key_of(&request) else {
        return next.run(request).await;
    };
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let generation = inner.generation.load(Ordering::SeqCst);
    if let Some(entry) = inner.fresh(&key, generation) {
        inner.counters.hits.inc();
        return respond(&entry.headers, &entry.body, if_none_match.as_ref());
    }
    let flight = match inner.join_or_lead(&key) {
        Flight::Follow(mut done) => {
            // Ends when the first request finishes, whatever it answered.
            let _ = done.changed().await;
            if let Some(entry) = inner.fresh(&key, inner.generation.load(Ordering::SeqCst)) {
                inner.counters.hits.inc();
                return respond(&entry.headers, &entry.body, if_none_match.as_ref());
            }
            // The database could not answer the first request in its time: asking again
            // would make this one wait that time twice.
            if *done.borrow() == Some(StatusCode::SERVICE_UNAVAILABLE) {
                return crate::http::error::ApiError::Unavailable(
                    "the database did not answer in time; retry shortly",
                )
                .into_response();
            }
            None
        }
        Flight::Lead(guard) => Some(guard),
    };
    inner.counters.misses.inc();

    // Ask for the full representation so it can be kept; answer the validator here.
    let mut request = request;
    request.headers_mut().remove(header::IF_NONE_MATCH);
    let response = next.run(request).await;
    if let Some(flight) = &flight {
        flight.finished(response.status());
    }
    let shared = response
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("public"));
    if response.status() != StatusCode::OK
        || !shared
        || !response.headers().contains_key(header::ETAG)
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => {
            // Logged here, once: nothing else saw this failure.
            return crate::http::error::ApiError::Internal(anyhow::anyhow!(
                "buffering a response: {err}"
            ))
            .into_response();
        }
    };
    if body.len() > inner.max_entry_bytes {
        return respond(&parts.headers, &body, if_none_match.as_ref());
    }
    // An exact-size copy: the body was built in a buffer grown by doubling, and keeping that
    // buffer would hold up to twice what the budget counts.
    let entry = Arc::new(Entry {
        generation,
        stored_at: Instant::now(),
        headers: parts.headers,
        body: Bytes::copy_from_slice(&body),
    });
    inner.entries.insert(key, entry.clone());
    respond(&entry.headers, &entry.body, if_none_match.as_ref())
}

impl Inner {
    fn fresh(&self, key: &Key, generation: u64) -> Option<Arc<Entry>> {
        self.entries
            .get(key)
            .filter(|entry| entry.generation == generation && entry.stored_at.elapsed() < self.ttl)
    }

    fn join_or_lead<'a>(&'a self, key: &Key) -> Flight<'a> {
        let mut flights = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = flights.get(key) {
            return Flight::Follow(done.clone());
        }
        let (sender, receiver) = watch::channel(None);
        flights.insert(key.clone(), receiver);
        Flight::Lead(FlightGuard {
            inner: self,
            key: key.clone(),
            sender,
        })
    }
}

enum Flight<'a> {
    Follow(watch::Receiver<Option<StatusCode>>),
    Lead(FlightGuard<'a>),
}

/// Held by the request answering a miss; dropping it (after the entry is stored, or on any
/// early return) releases the requests waiting for it.
struct FlightGuard<'a> {
    inner: &'a Inner,
    key: Key,
    sender: watch::Sender<Option<StatusCode>>,
}

impl FlightGuard<'_> {
    /// Records what the first request was answered, for the waiting ones to read once the
    /// guard drops (waking them now would be before the entry is kept).
    fn finished(&self, status: StatusCode) {
        self.sender.send_if_modified(|outcome| {
            *outcome = Some(status);
            false
        });
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl LiveCache {
    /// A kept page for an anonymous read while the notification connection is broken, if it
    /// is recent enough to serve stale.
    fn stale(&self, request: &Request) -> Option<Response> {
        let inner = self.0.as_deref()?;
        if !inner.broken.load(Ordering::SeqCst) {
            return None;
        }
        let key = key_of(request)?;
        let entry = inner
            .entries
            .get(&key)
            .filter(|entry| entry.stored_at.elapsed() < inner.stale_for)?;
        inner.counters.stale.inc();
        let mut response = respond(
            &entry.headers,
            &entry.body,
            request.headers().get(header::IF_NONE_MATCH),
        );
        response
            .headers_mut()
            .insert(STALE_HEADER, HeaderValue::from_static("true"));
        Some(response)
    }
}

/// Marks a page served from memory while the database is unreachable.
pub const STALE_HEADER: &str = "x-galley-stale";

async fn pass_through(
    cache: &LiveCache,
    policies: &RoutePolicies,
    request: Request,
    next: Next,
) -> Response {
    let write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && !policies.applies(Policy::PrivateWrite, &request);
    let response = next.run(request).await;
    if write && (response.status().is_success() || response.status().is_redirection()) {
        cache.invalidate();
    }
    response
}

fn respond(headers: &HeaderMap, body: &Bytes, if_none_match: Option<&HeaderValue>) -> Response {
    let etag = headers.get(header::ETAG);
    if let (Some(etag), Some(wanted)) = (etag, if_none_match)
        && super::middleware::etag_matches(wanted, etag.to_str().unwrap_or_default())
    {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        for name in [header::ETAG, header::CACHE_CONTROL, header::VARY] {
            if let Some(value) = headers.get(&name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
        return response;
    }
    let mut response = Response::new(Body::from(body.clone()));
    *response.headers_mut() = headers.clone();
    response
}
