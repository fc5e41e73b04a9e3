//! Operational endpoints, the HTTP stack's cross-cutting rules, start-up and shutdown.

use std::{collections::BTreeSet, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
    routing::get,
};
use galley::app::{AppState, with_middleware};
use galley::http::route_policy::RoutePolicies;
use galley::{config::Config, db};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, TestResponse, send_to};

#[sqlx::test]
async fn healthz_and_readyz_answer_ok_on_a_migrated_database(pool: PgPool) {
    let app = TestApp::new(pool);
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_unreachable() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nowhere")
        .expect("lazy pool");
    let app = TestApp::new(pool);
    app.get("/readyz", None)
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn readyz_is_503_until_migrations_are_applied(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    app.get("/readyz", None)
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    db::migrate(&pool).await.expect("migrate");
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
}

#[sqlx::test]
async fn a_database_migrated_by_a_newer_galley_is_refused(pool: PgPool) {
    sqlx::query(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
         values (99990101000000, 'from the future', true, '\\x00', 1)",
    )
    .execute(&pool)
    .await
    .expect("insert future migration");
    let err = db::migrate(&pool).await.expect_err("must refuse");
    assert!(
        format!("{err:#}").contains("newer than this binary"),
        "{err:#}"
    );
}

#[sqlx::test]
async fn start_up_creates_a_missing_database(pool: PgPool) {
    let name = format!("galley_create_{}", uuid::Uuid::now_v7().simple());
    let mut config = Config::defaults();
    config.database_url = crate::helpers::database_url(&name).into();
    let created = db::connect(&config)
        .await
        .expect("connect creates the database");
    db::migrate(&created)
        .await
        .expect("migrate the new database");
    created.close().await;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&pool)
            .await
            .expect("query");
    assert!(exists);
    crate::helpers::drop_database(&pool, &name).await;
}

/// Every operation in the document, as (METHOD, path).
fn documented_operations(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[sqlx::test]
async fn openapi_documents_every_routed_endpoint_with_error_responses(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app.get("/v1/openapi.json", None).await;
    assert_eq!(response.status, StatusCode::OK);
    let doc = response.json();
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));

    let expected: BTreeSet<(String, String)> = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/docs"),
        ("POST", "/v1/auth/login"),
        ("POST", "/v1/auth/logout"),
        ("GET", "/v1/me"),
        ("POST", "/v1/me/password"),
        ("GET", "/v1/users"),
        ("POST", "/v1/users"),
        ("GET", "/v1/users/{id}"),
        ("PATCH", "/v1/users/{id}"),
        ("GET", "/v1/tokens"),
        ("POST", "/v1/tokens"),
        ("DELETE", "/v1/tokens/{id}"),
        ("GET", "/v1/authors"),
        ("POST", "/v1/authors"),
        ("GET", "/v1/authors/{id}"),
        ("PATCH", "/v1/authors/{id}"),
        ("DELETE", "/v1/authors/{id}"),
        ("GET", "/v1/tags"),
        ("POST", "/v1/tags"),
        ("GET", "/v1/tags/{id}"),
        ("PATCH", "/v1/tags/{id}"),
        ("DELETE", "/v1/tags/{id}"),
        ("GET", "/v1/images"),
        ("POST", "/v1/images"),
        ("GET", "/v1/images/{id}"),
        ("PATCH", "/v1/images/{id}"),
        ("DELETE", "/v1/images/{id}"),
        ("GET", "/v1/images/{id}/usage"),
        ("GET", "/media/images/{id}/{file}"),
        ("GET", "/v1/articles"),
        ("POST", "/v1/articles"),
        ("GET", "/v1/articles/{id}"),
        ("PATCH", "/v1/articles/{id}"),
        ("DELETE", "/v1/articles/{id}"),
        ("POST", "/v1/articles/{id}/{action}"),
        ("POST", "/v1/articles/{id}/preview"),
        ("GET", "/v1/articles/{id}/revisions"),
        ("GET", "/v1/articles/{id}/revisions/{n}"),
        ("POST", "/v1/articles/{id}/revisions/{n}/restore"),
        ("POST", "/v1/import"),
        ("GET", "/v1/export"),
        ("GET", "/v1/changes"),
        ("GET", "/v1/webhooks"),
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks/{id}"),
        ("PATCH", "/v1/webhooks/{id}"),
        ("DELETE", "/v1/webhooks/{id}"),
        ("POST", "/v1/webhooks/{id}/rotate-secret"),
        ("POST", "/v1/webhooks/{id}/ping"),
        ("GET", "/v1/webhooks/{id}/deliveries"),
        ("POST", "/v1/webhooks/{id}/deliveries/{event_id}/redeliver"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    let documented = documented_operations(&doc);
    assert_eq!(documented, expected);

    // Every documented operation is really routed: it never meets the router's fallbacks.
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "0191a5a0-0000-7000-8000-000000000000")
            .replace("{action}", "publish")
            .replace("{n}", "1");
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(&concrete)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let response = app.send(request).await;
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if response.status == StatusCode::NOT_FOUND {
            assert_ne!(
                response.json()["type"],
                "/problems/route-not-found",
                "{method} {path}"
            );
        }
        let op = &doc["paths"][path][method.to_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} has no success response"
        );
        if path.starts_with("/v1/") && path != "/v1/openapi.json" {
            assert!(
                responses.contains_key("400") && responses.contains_key("500"),
                "{method} {path}"
            );
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("422"), "{method} {path} lacks 422");
        }
    }
    for schema in [
        "Problem", "Author", "Tag", "User", "ApiToken", "Image", "Article",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
}

#[sqlx::test]
async fn docs_page_renders_without_any_external_asset(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app.get("/docs", None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response
            .header("content-type")
            .expect("type")
            .starts_with("text/html")
    );
    let html = response.text();
    assert!(html.contains("/v1/authors/{id}"));
    assert!(html.contains("Problem"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("@import")
    );
}

#[sqlx::test]
async fn unknown_route_and_wrong_method_are_problems(pool: PgPool) {
    let app = TestApp::new(pool);
    let missing = app.get("/v1/nothing-here", None).await;
    missing.assert_problem(StatusCode::NOT_FOUND, "route-not-found");

    let wrong = app
        .send(
            Request::builder()
                .method(Method::PUT)
                .uri("/v1/tags")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    wrong.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    let allow = wrong.header("allow").expect("Allow header");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[sqlx::test]
async fn malformed_bodies_get_400_415_413_and_422(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| c.body_limit_bytes = 2048);
    let token = app.token_for(galley::accounts::role::Role::Editor).await;

    let send = |content_type: Option<&'static str>, body: String| {
        let mut builder = TestApp::request(Method::POST, "/v1/tags", Some(&token));
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        builder.body(Body::from(body)).expect("request")
    };
    app.send(send(Some("application/json"), "{\"name\": ".into()))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    app.send(send(Some("application/json"), String::new()))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    app.send(send(Some("text/plain"), "{\"name\": \"x\"}".into()))
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    app.send(send(None, "{\"name\": \"x\"}".into()))
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let big = format!(
        "{{\"name\": \"x\", \"description\": \"{}\"}}",
        "a".repeat(4096)
    );
    app.send(send(Some("application/json"), big))
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let unknown = app
        .send(send(
            Some("application/json; charset=utf-8"),
            "{\"name\": \"x\", \"colour\": 1}".into(),
        ))
        .await;
    assert_eq!(unknown.assert_invalid_fields(), vec!["colour"]);
    let wrong_type = app
        .send(send(Some("application/json"), "{\"name\": 42}".into()))
        .await;
    assert_eq!(wrong_type.assert_invalid_fields(), vec!["name"]);

    let count: i64 = sqlx::query_scalar("select count(*) from tags")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0, "bad input changes nothing");
}

#[sqlx::test]
async fn bad_ids_and_query_parameters_are_400(pool: PgPool) {
    let app = TestApp::new(pool);
    let token = app.token_for(galley::accounts::role::Role::Admin).await;
    let bad_id = app.get("/v1/users/not-a-uuid", Some(&token)).await;
    bad_id.assert_problem(StatusCode::BAD_REQUEST, "bad-request");

    let bad_limit = app.get("/v1/tags?limit=lots", None).await;
    let body = bad_limit.assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    assert!(
        body["detail"].as_str().expect("detail").contains("limit"),
        "{body}"
    );
    let unknown = app.get("/v1/tags?colour=red", None).await;
    let body = unknown.assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    assert!(
        body["detail"].as_str().expect("detail").contains("colour"),
        "{body}"
    );
}

#[sqlx::test]
async fn request_ids_are_generated_or_propagated(pool: PgPool) {
    let app = TestApp::new(pool);
    let generated = app.get("/healthz", None).await;
    let id = generated.header("x-request-id").expect("id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let propagated = app
        .send(
            Request::get("/healthz")
                .header("x-request-id", "edge-7f3a")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(propagated.header("x-request-id"), Some("edge-7f3a"));

    let hostile = app
        .send(
            Request::get("/healthz")
                .header("x-request-id", "a b\" <script>")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    let replaced = hostile.header("x-request-id").expect("id");
    assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
}

#[sqlx::test]
async fn responses_are_compressed_when_the_client_asks(pool: PgPool) {
    let app = TestApp::new(pool);
    for encoding in ["gzip", "br"] {
        let response = app
            .send(
                Request::get("/v1/openapi.json")
                    .header(header::ACCEPT_ENCODING, encoding)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.header("content-encoding"), Some(encoding));
    }
    let plain = app.get("/v1/openapi.json", None).await;
    assert_eq!(plain.header("content-encoding"), None);
}

#[sqlx::test]
async fn cors_allows_only_configured_origins(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| {
        c.cors_origins = vec![header::HeaderValue::from_static("https://www.example.com")];
    });
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/tags")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .expect("request")
    };
    let allowed = app.send(preflight("https://www.example.com")).await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://www.example.com")
    );
    let refused = app.send(preflight("https://evil.example")).await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
}

async fn panicking_handler() -> &'static str {
    panic!("secret internals: password=hunter2")
}

fn probe_app(pool: PgPool, configure: impl FnOnce(&mut Config)) -> Router {
    let mut config = Config::defaults();
    config.media.dir = std::env::temp_dir().join("galley-probe-media");
    configure(&mut config);
    let routes = Router::new()
        .route("/probe/panic", get(panicking_handler))
        .route(
            "/probe/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "done"
            }),
        );
    with_middleware(
        routes,
        AppState::new(pool, config).expect("app state"),
        RoutePolicies::default(),
    )
}

async fn probe(router: &Router, path: &str) -> TestResponse {
    send_to(
        router,
        Request::get(path).body(Body::empty()).expect("request"),
    )
    .await
}

#[sqlx::test]
async fn a_panic_is_a_500_problem_with_the_request_id_and_no_internals(pool: PgPool) {
    let router = probe_app(pool, |_| {});
    let response = probe(&router, "/probe/panic").await;
    let body = response.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert!(!response.text().contains("hunter2") && !response.text().contains("secret"));
    assert_eq!(body["request_id"].as_str(), response.header("x-request-id"));
}

#[sqlx::test]
async fn a_slow_request_times_out_with_a_503_problem(pool: PgPool) {
    let router = probe_app(pool, |c| c.request_timeout = Duration::from_millis(100));
    let response = probe(&router, "/probe/slow").await;
    response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}

#[sqlx::test]
async fn graceful_shutdown_drains_in_flight_requests_over_real_tcp(pool: PgPool) {
    let router = probe_app(pool, |_| {});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = galley::http::ServeLimits::from(&Config::defaults());
    let server = tokio::spawn(galley::http::serve(
        listener,
        router,
        async {
            let _ = stopped.await;
        },
        limits,
    ));

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /probe/slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).expect("signal shutdown");

    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("done"), "{response}");
    assert!(response.to_lowercase().contains("x-request-id:"));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops after draining")
        .expect("join")
        .expect("serve");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[sqlx::test]
async fn the_binary_migrates_creates_users_from_stdin_and_names_bad_config(pool: PgPool) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let database = pool
        .connect_options()
        .get_database()
        .expect("db name")
        .to_owned();
    let url = crate::helpers::database_url(&database);
    let bin = env!("CARGO_BIN_EXE_galley");

    let migrate = Command::new(bin)
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let mut child = Command::new(bin)
        .args([
            "user",
            "create",
            "--email",
            "chief@example.com",
            "--name",
            "管静鹏",
            "--role",
            "admin",
        ])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a long enough password\n")
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let app = TestApp::new(pool);
    let login = app
        .login("chief@example.com", "a long enough password")
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    assert_eq!(login.json()["user"]["role"], "admin");
    assert_eq!(login.json()["user"]["name"], "管静鹏");

    let bad = Command::new(bin)
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .env("GALLEY_BIND", "not-an-address")
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("GALLEY_BIND"));
}

#[sqlx::test]
async fn logs_go_to_stderr_without_colour_and_stdout_carries_only_the_output(pool: PgPool) {
    // A first run on a machine without the database: the command logs that it creates it,
    // and its output must still be nothing but NDJSON.
    let name = format!("galley_stdout_{}", uuid::Uuid::now_v7().simple());
    let export = std::process::Command::new(env!("CARGO_BIN_EXE_galley"))
        .arg("export")
        .env("DATABASE_URL", crate::helpers::database_url(&name))
        .env_remove("NO_COLOR")
        .output()
        .expect("run galley export");
    crate::helpers::drop_database(&pool, &name).await;
    assert!(export.status.success(), "{export:?}");
    assert!(
        export.stdout.is_empty(),
        "no articles, no output: {export:?}"
    );
    let stderr = String::from_utf8_lossy(&export.stderr);
    assert!(stderr.contains("creating the database"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes off a terminal: {stderr:?}"
    );

    // A failing command says why once, on stderr.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_galley"))
        .args(["import", "/nonexistent/file.ndjson"])
        .env("DATABASE_URL", crate::helpers::database_url(&name))
        .output()
        .expect("run galley import");
    crate::helpers::drop_database(&pool, &name).await;
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty(), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(
        stderr.matches("/nonexistent/file.ndjson").count(),
        1,
        "{stderr}"
    );
}

#[sqlx::test]
async fn a_connection_the_database_ends_mid_request_is_a_503_to_retry(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    // Hold the tags table so the list waits on it, then have PostgreSQL end that backend
    // (57P01, as in a restart): the client must learn to retry, not see a bug.
    let mut locker = pool.begin().await.expect("begin");
    sqlx::query("lock table tags in access exclusive mode")
        .execute(&mut *locker)
        .await
        .expect("lock");
    let kill = async {
        for _ in 0..500 {
            let ended: Vec<bool> = sqlx::query_scalar(
                "select pg_terminate_backend(pid) from pg_stat_activity \
                 where datname = current_database() and wait_event_type = 'Lock' \
                   and query ilike '%from tags%'",
            )
            .fetch_all(&pool)
            .await
            .expect("terminate");
            if !ended.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the request never waited on the lock");
    };
    let (response, ()) = tokio::join!(app.get("/v1/tags", None), kill);
    locker.rollback().await.expect("rollback");
    response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(response.header("retry-after"), Some("1"));
    // The pool replaces the lost connection: the next request is answered.
    assert_eq!(app.get("/v1/tags", None).await.status, StatusCode::OK);
}

#[test]
fn a_database_that_can_never_work_ends_the_start_at_once_with_its_cause() {
    // The test server, as a role that does not exist.
    let url = crate::helpers::database_url("galley_never");
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_galley"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("{scheme}://no_such_role_for_galley@{host}"),
        )
        .output()
        .expect("run galley migrate");
    assert!(!migrate.status.success());
    let stderr = String::from_utf8_lossy(&migrate.stderr);
    assert!(stderr.contains("no_such_role_for_galley"), "{stderr}");
    // Before, it retried 40 times, up to 5 s apart, logging no cause.
    assert!(!stderr.contains("database not ready"), "{stderr}");
}
