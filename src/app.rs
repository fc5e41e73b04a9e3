//! The app: the state every handler reaches, the router that merges the resources, and the
//! middleware stack around it. It sits above the domains (which only declare their routes)
//! and above `http` (the toolkit it assembles).

mod ops;
pub mod router;

use std::{sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, FromRef, State},
    http::{HeaderValue, Method, Request, header},
};
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_http::{
    LatencyUnit,
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::RequestBodyTimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{
    accounts::passwords::Passwords,
    changes::signal::ChangeSignal,
    config::Config,
    http::{live_cache, middleware, openapi, request_id, route_policy::RoutePolicies},
    images::Media,
    metrics::Metrics,
    outbound::{AddressPolicy, Outbound, SystemLookup},
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The request pool.
    pub db: PgPool,
    /// The scheduler's and the live cache's connections (`db::background_pool`); in tests the
    /// request pool itself.
    pub background: PgPool,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    pub passwords: Passwords,
    pub media: Media,
    pub live_cache: live_cache::LiveCache,
    /// Wakes feed readers and webhook workers when changes commit.
    pub changes: ChangeSignal,
    /// Every request Galley makes itself goes through this guard.
    pub outbound: Outbound,
}

impl AppState {
    /// Fails only when media storage cannot be prepared (e.g. the directory cannot be created).
    pub fn new(db: PgPool, config: Config) -> anyhow::Result<Self> {
        let outbound = Outbound::new(
            AddressPolicy {
                allow_private: config.webhooks.allow_private,
            },
            config.webhooks.timeout,
            Arc::new(SystemLookup),
        )?;
        let live_cache = live_cache::LiveCache::new(
            config.live_cache_bytes,
            config.live_cache_ttl,
            config.live_cache_stale_if_error,
        );
        Ok(Self {
            metrics: Arc::new(Metrics::new(&live_cache.counters())),
            live_cache,
            background: db.clone(),
            db,
            media: Media::new(&config.media)?,
            config: Arc::new(config),
            passwords: Passwords::new(),
            changes: ChangeSignal::default(),
            outbound,
        })
    }
}

impl AppState {
    /// Moves the background work onto its own pool.
    #[must_use]
    pub fn with_background(self, background: PgPool) -> Self {
        Self { background, ..self }
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

/// The whole API: routes, OpenAPI document, and the middleware stack.
pub fn app(state: AppState) -> anyhow::Result<Router> {
    let (router, doc, policies) = router::split();
    let docs = Arc::new(openapi::ApiDocs::build(doc)?);
    let router = router
        .route("/metrics", axum::routing::get(crate::metrics::get_metrics))
        .merge(crate::admin::router())
        .layer(Extension(docs));
    Ok(with_middleware(router, state, policies))
}

/// `/metrics` alone, for `GALLEY_METRICS_BIND`.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(state): State<AppState>| async move {
                crate::metrics::scrape(&state).await
            }),
        )
        .with_state(state)
}

/// Wraps routes in the middleware stack. Public so tests can mount probe routes (a panicking or
/// slow handler) behind exactly the production stack.
pub fn with_middleware(
    routes: Router<AppState>,
    state: AppState,
    policies: RoutePolicies,
) -> Router {
    let config = state.config.clone();
    let policies = Arc::new(policies);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let path = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or_else(
                    || request.uri().path().to_owned(),
                    |p| p.as_str().to_owned(),
                );
            let request_id = request
                .headers()
                .get(&request_id::X_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %request.method(), path, request_id)
        })
        .on_response(
            DefaultOnResponse::new()
                .level(tracing::Level::INFO)
                .latency_unit(LatencyUnit::Millis),
        )
        // A 5xx is logged once, with its cause, where the error becomes a response
        // (`ApiError::into_response`); the response line above still records its status.
        .on_failure(());

    let stack = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(axum::middleware::from_fn(request_id::sanitize))
        .layer(SetRequestIdLayer::new(
            request_id::X_REQUEST_ID.clone(),
            request_id::MakeUuidV7,
        ))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(
            request_id::X_REQUEST_ID.clone(),
        ))
        .layer(axum::middleware::from_fn(request_id::scope))
        // Outside CORS, so that preflight answers carry them too.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(openapi::API_CSP),
        ))
        .layer(axum::middleware::from_fn(middleware::header_limit))
        .option_layer(cors(&config))
        .layer(axum::middleware::from_fn_with_state(
            (state.live_cache.clone(), policies.clone()),
            live_cache::layer,
        ))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            config.clone(),
            middleware::caching,
        ))
        .layer(axum::middleware::from_fn(middleware::problem_fallback))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            (config.clone(), policies),
            middleware::timeout,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        // Per frame: a slow upload that keeps moving may use the whole upload timeout.
        .layer(RequestBodyTimeoutLayer::new(config.connections.body_idle))
        // Route middleware (Idempotency-Key) reaches the state through the request: an `Arc`,
        // so each request pays one reference count, not a copy of the state.
        .layer(Extension(Arc::new(state.clone())));

    routes
        .fallback(middleware::route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(stack)
        .with_state(state)
}

async fn method_not_allowed() -> axum::http::StatusCode {
    // Axum adds `Allow`; the problem-fallback layer turns this into a problem document.
    axum::http::StatusCode::METHOD_NOT_ALLOWED
}

fn cors(config: &Config) -> Option<CorsLayer> {
    if config.cors_origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(config.cors_origins.clone()))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            request_id::X_REQUEST_ID.clone(),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            request_id::X_REQUEST_ID.clone(),
        ])
        .max_age(Duration::from_secs(600));
    Some(layer)
}
