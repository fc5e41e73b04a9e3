//! `GET /metrics` in the Prometheus text format: what an operator alerts on.
//!
//! Counted as things happen: requests (by route template, method and status, with latency),
//! import lines, scheduler runs, live-cache hits. Read when scraped: pool connections, the
//! live cache's size, how late the oldest due scheduled article is, resident memory.

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder, prometheus_text},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Metric, Registry},
};
use sha2::{Digest, Sha256};

use crate::{
    app::AppState,
    http::{error::ApiError, live_cache},
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route template (`/v1/articles/{id}`), so that ids do not make new series.
    route: Route,
    method: &'static str,
    status: u16,
}

/// The matched route, shared with the router rather than copied for every request.
#[derive(Clone, Debug)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// Methods outside the standard set are one series, so a client cannot invent new ones.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ImportLabels {
    outcome: &'static str,
    dry_run: bool,
}

type Seconds = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    pool: Family<PoolLabels, Gauge>,
    live_cache_bytes: Gauge,
    live_cache_entries: Gauge,
    scheduler_runs: Family<OutcomeLabels, Counter>,
    scheduler_published: Counter,
    scheduler_lag: Seconds,
    import_lines: Family<ImportLabels, Counter>,
    events: EventMetrics,
    resident_memory: Gauge,
}

/// The change feed's and the webhooks'.
struct EventMetrics {
    feed_clients: Gauge,
    deliveries: Family<OutcomeLabels, Counter>,
    outbox_pending: Gauge,
    outbox_oldest: Seconds,
}

impl EventMetrics {
    fn register(r: &mut Registry) -> Self {
        Self {
            feed_clients: registered(
                r,
                "galley_feed_clients",
                "Change-feed readers holding a long poll open",
                Gauge::default(),
            ),
            deliveries: registered(
                r,
                "galley_webhook_deliveries",
                "Webhook delivery attempts by outcome (ok, retry, failed, gone)",
                Family::default(),
            ),
            outbox_pending: registered(
                r,
                "galley_webhook_pending",
                "Webhook deliveries not yet delivered nor given up (all processes)",
                Gauge::default(),
            ),
            outbox_oldest: registered(
                r,
                "galley_webhook_oldest_pending_seconds",
                "Age of the oldest webhook delivery not yet delivered nor given up (0: none)",
                Seconds::default(),
            ),
        }
    }
}

/// What became of a webhook delivery attempt.
#[derive(Debug, Clone, Copy)]
pub enum Delivered {
    /// A 2xx answer.
    Ok,
    /// Failed; another attempt is scheduled.
    Retry,
    /// Failed, and it was the last attempt.
    Failed,
    /// The receiver answered 410: its endpoint is disabled.
    Gone,
}

/// Counts a long-polling feed reader while it is held.
pub struct FeedClient(Gauge);

impl Drop for FeedClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

/// Registers `metric` and hands it back, to be counted through.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// Lines of an import, by what became of them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImportLines {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
}

impl Metrics {
    /// `cache`: the live cache's own counters, exposed as they are.
    pub fn new(cache: &live_cache::Counters) -> Self {
        let mut registry = Registry::default();
        let r = &mut registry;
        let requests = registered(
            r,
            "galley_http_request_duration_seconds",
            "Time from request head to response head, by route template, method and status",
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            ),
        );
        let in_flight = registered(
            r,
            "galley_http_requests_in_flight",
            "Requests being answered",
            Gauge::default(),
        );
        let pool = registered(
            r,
            "galley_db_pool_connections",
            "Database connections by pool (requests, background) and state (in_use, idle, max)",
            Family::default(),
        );
        registered(
            r,
            "galley_db_pool_acquire_timeouts",
            "Requests that waited for a request-pool connection until the 3 s acquire timeout (503)",
            crate::http::error::POOL_TIMEOUTS.clone(),
        );
        registered(
            r,
            "galley_live_cache_hits",
            "Anonymous reads answered from memory",
            cache.hits.clone(),
        );
        registered(
            r,
            "galley_live_cache_misses",
            "Anonymous reads answered by PostgreSQL",
            cache.misses.clone(),
        );
        registered(
            r,
            "galley_live_cache_stale",
            "Anonymous reads answered from memory, stale, while PostgreSQL was unreachable",
            cache.stale.clone(),
        );
        Self {
            requests,
            in_flight,
            pool,
            live_cache_bytes: registered(
                r,
                "galley_live_cache_bytes",
                "Bytes the in-memory cache holds",
                Gauge::default(),
            ),
            live_cache_entries: registered(
                r,
                "galley_live_cache_entries",
                "Responses the in-memory cache holds",
                Gauge::default(),
            ),
            scheduler_runs: registered(
                r,
                "galley_scheduler_runs",
                "Scheduler passes over due articles, by outcome (ok, error)",
                Family::default(),
            ),
            scheduler_published: registered(
                r,
                "galley_scheduler_published",
                "Scheduled articles this process published",
                Counter::default(),
            ),
            scheduler_lag: registered(
                r,
                "galley_scheduler_lag_seconds",
                "How long the oldest due scheduled article has waited past its publish_at (0: none)",
                Seconds::default(),
            ),
            import_lines: registered(
                r,
                "galley_import_lines",
                "Import lines by outcome (created, updated, unchanged, failed)",
                Family::default(),
            ),
            events: EventMetrics::register(r),
            resident_memory: registered(
                r,
                "galley_process_resident_memory_bytes",
                "Resident memory of this process",
                Gauge::default(),
            ),
            registry,
        }
    }

    pub fn count_scheduler_run(&self, result: Result<usize, ()>) {
        let outcome = match result {
            Ok(published) => {
                self.scheduler_published.inc_by(published as u64);
                "ok"
            }
            Err(()) => "error",
        };
        self.scheduler_runs
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Marks a feed reader as waiting until the guard is dropped.
    pub fn feed_client(&self) -> FeedClient {
        self.events.feed_clients.inc();
        FeedClient(self.events.feed_clients.clone())
    }

    pub fn count_delivery(&self, outcome: Delivered) {
        let outcome = match outcome {
            Delivered::Ok => "ok",
            Delivered::Retry => "retry",
            Delivered::Failed => "failed",
            Delivered::Gone => "gone",
        };
        self.events
            .deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn count_import(&self, lines: ImportLines, dry_run: bool) {
        for (outcome, n) in [
            ("created", lines.created),
            ("updated", lines.updated),
            ("unchanged", lines.unchanged),
            ("failed", lines.failed),
        ] {
            if n > 0 {
                self.import_lines
                    .get_or_create(&ImportLabels { outcome, dry_run })
                    .inc_by(n);
            }
        }
    }

    /// The text a scrape gets, with the read-when-scraped values brought up to date.
    async fn render(&self, state: &AppState) -> String {
        for (name, pool) in [("requests", &state.db), ("background", &state.background)] {
            let idle = pool.num_idle() as i64;
            let open = i64::from(pool.size());
            let max = i64::from(pool.options().get_max_connections());
            for (state, value) in [("in_use", open - idle), ("idle", idle), ("max", max)] {
                self.pool
                    .get_or_create(&PoolLabels { pool: name, state })
                    .set(value);
            }
        }
        let (bytes, entries) = state.live_cache.size();
        self.live_cache_bytes.set(bytes as i64);
        self.live_cache_entries.set(entries as i64);
        // Left at its last value when the database does not answer in time: the request
        // metrics say why.
        if let Ok(Ok(lag)) = tokio::time::timeout(
            Duration::from_secs(1),
            crate::articles::workflow::scheduler_lag(&state.db),
        )
        .await
        {
            self.scheduler_lag.set(lag.as_secs_f64());
        }
        if let Ok(Ok((pending, oldest))) = tokio::time::timeout(
            Duration::from_secs(1),
            crate::webhooks::delivery::backlog(&state.db),
        )
        .await
        {
            self.events.outbox_pending.set(pending);
            self.events.outbox_oldest.set(oldest);
        }
        if let Some(rss) = resident_memory_bytes() {
            self.resident_memory.set(rss);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

fn resident_memory_bytes() -> Option<i64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * i64::from(page_size as i32))
}

/// Times every request and counts it by route template, method and status.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = Route(request.extensions().get::<MatchedPath>().cloned());
    let method = method_label(request.method());
    let started = Instant::now();
    metrics.in_flight.inc();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics` on the API's port: only with `GALLEY_METRICS_TOKEN`, and only for that token;
/// otherwise it does not exist here.
pub async fn get_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.metrics.token.as_deref() else {
        return ApiError::NotFound.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared as digests so the time taken says nothing about the token.
    let matches =
        presented.is_some_and(|p| Sha256::digest(p.as_bytes()) == Sha256::digest(token.as_bytes()));
    if !matches {
        return ApiError::Unauthorized("GALLEY_METRICS_TOKEN is required as a Bearer token")
            .into_response();
    }
    scrape(&state).await
}

/// `/metrics` on `GALLEY_METRICS_BIND`, a listener of its own: its address is its protection.
pub async fn scrape(state: &AppState) -> Response {
    let text = state.metrics.render(state).await;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response()
}
