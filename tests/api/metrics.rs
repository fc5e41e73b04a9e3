//! `/metrics`: absent unless configured, behind its token, and counting what happened.

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use galley::accounts::role::Role;
use serde_json::json;
use sqlx::PgPool;

use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::helpers::TestApp;

const TOKEN: &str = "scrape-secret-0123";

fn value_of(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[sqlx::test]
async fn metrics_are_not_served_on_the_api_port_unless_a_token_is_set(pool: PgPool) {
    let app = TestApp::new(pool);
    app.get("/metrics", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
}

#[sqlx::test]
async fn metrics_need_their_token_and_count_requests_imports_and_the_scheduler(pool: PgPool) {
    let app = TestApp::with_config(pool, |config| config.metrics.token = Some(TOKEN.into()));
    app.get("/metrics", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let editor = app.token_for(Role::Editor).await;
    // A user's token is not the metrics token.
    app.get("/metrics", Some(&editor))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    for _ in 0..2 {
        assert_eq!(app.get("/v1/tags", None).await.status, StatusCode::OK);
    }
    assert_eq!(
        app.get("/v1/tags/no-such-tag", None).await.status,
        StatusCode::NOT_FOUND
    );
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let lines = [
        json!({"title": "管静鹏 on 我的阿勒泰", "status": "scheduled", "scheduled_at": an_hour_ago}),
        json!({"title": 5}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let import = app
        .send(
            TestApp::request(Method::POST, "/v1/import", Some(&editor))
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .body(Body::from(body))
                .expect("request"),
        )
        .await;
    assert_eq!(import.status, StatusCode::OK, "{}", import.text());

    let scrape = app.get("/metrics", Some(TOKEN)).await;
    assert_eq!(scrape.status, StatusCode::OK, "{}", scrape.text());
    assert_eq!(
        scrape.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = scrape.text();
    let requests = |route: &str, status: u16| {
        value_of(
            &text,
            &format!(
                "galley_http_request_duration_seconds_count{{route=\"{route}\",method=\"GET\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests("/v1/tags", 200), 2.0);
    // By route template: the slug makes no series of its own.
    assert_eq!(requests("/v1/tags/{id}", 404), 1.0);
    assert!(!text.contains("no-such-tag"));
    assert!(text.contains("# TYPE galley_http_request_duration_seconds histogram"));
    assert_eq!(
        value_of(
            &text,
            "galley_import_lines_total{outcome=\"created\",dry_run=\"false\"}"
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &text,
            "galley_import_lines_total{outcome=\"failed\",dry_run=\"false\"}"
        ),
        1.0
    );
    // Nothing publishes it in this test: it waits, and the lag says for how long.
    let lag = value_of(&text, "galley_scheduler_lag_seconds");
    assert!((3590.0..3700.0).contains(&lag), "{lag}");
    assert_eq!(
        value_of(
            &text,
            "galley_db_pool_connections{pool=\"requests\",state=\"max\"}"
        ),
        f64::from(app.pool.options().get_max_connections())
    );
    assert!(value_of(&text, "galley_process_resident_memory_bytes") > 1e6);
    assert!(text.contains("galley_live_cache_hits_total 0"));
}

#[sqlx::test]
async fn the_metrics_listener_serves_them_without_a_token(pool: PgPool) {
    let app = TestApp::new(pool);
    let metrics = galley::app::metrics_app(app.state.clone());
    // Not through `send_to`: this listener has none of the API's middleware to check.
    let scrape = metrics
        .oneshot(
            TestApp::request(Method::GET, "/metrics", None)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(scrape.status(), StatusCode::OK);
    let body = scrape.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("galley_http_requests_in_flight"));
}

async fn acquire_timeouts(app: &TestApp) -> f64 {
    let text = app.get("/metrics", Some(TOKEN)).await.text();
    value_of(&text, "galley_db_pool_acquire_timeouts_total")
}

#[sqlx::test]
async fn a_request_that_waits_out_the_pool_is_counted(pool: PgPool) {
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_millis(200))
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .expect("pool");
    let app = TestApp::with_config(small.clone(), |config| {
        config.metrics.token = Some(TOKEN.into())
    });
    let before = acquire_timeouts(&app).await;
    let held = small.acquire().await.expect("the only connection");
    app.get("/v1/tags", None)
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    drop(held);
    // Other tests in this process may time out too: at least this one was counted.
    assert!(acquire_timeouts(&app).await >= before + 1.0);
}
