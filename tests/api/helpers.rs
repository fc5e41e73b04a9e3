//! Test harness: the real app over a fresh, migrated database per test (`#[sqlx::test]`),
//! requests sent through `oneshot`, and a leak check on every response body.

use std::net::SocketAddr;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use galley::app::AppState;
use galley::{
    accounts::{
        role::Role,
        users::{NewUser, insert_user},
    },
    config::Config,
};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub router: Router,
    pub pool: PgPool,
    pub state: AppState,
    /// This test's media storage, removed with the app.
    pub media_dir: tempfile::TempDir,
}

impl TestApp {
    pub fn new(pool: PgPool) -> Self {
        Self::with_config(pool, |_| {})
    }

    /// The app with the in-process cache of anonymous reads on, following notifications as in
    /// production (`until_active` in the cache tests waits for its listener).
    pub fn with_live_cache(pool: PgPool) -> Self {
        Self::with_config(pool, |config| {
            config.live_cache_bytes = Config::defaults().live_cache_bytes;
        })
    }

    /// The cache is off unless `configure` turns it on: whether a read is served from it must
    /// not depend on when its listener happened to connect, except in the tests about it.
    pub fn with_config(pool: PgPool, configure: impl FnOnce(&mut Config)) -> Self {
        let media_dir = tempfile::tempdir().expect("media dir");
        let mut config = Config::defaults();
        config.media.dir = media_dir.path().to_owned();
        config.live_cache_bytes = 0;
        configure(&mut config);
        let state = AppState::new(pool.clone(), config).expect("app state");
        state.live_cache.spawn_listener(pool.clone());
        Self {
            router: galley::app::app(state.clone()).expect("the app assembles"),
            pool,
            state,
            media_dir,
        }
    }

    /// The app with its change signal listening, as `galley serve` runs it: long polls and
    /// webhook workers wake on commit instead of every second.
    pub fn following_changes(pool: PgPool) -> Self {
        let app = Self::new(pool);
        app.state.changes.spawn_listener(app.pool.clone());
        app
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        send_to(&self.router, request).await
    }

    /// Creates an API token with the session `token` and returns its secret.
    pub async fn api_token(&self, token: &str, role: &str) -> String {
        let response = self
            .post(
                "/v1/tokens",
                Some(token),
                serde_json::json!({"name": "test", "role": role}),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["token"].as_str().expect("token").to_owned()
    }

    pub fn request(
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> axum::http::request::Builder {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(
            Self::request(Method::GET, path, token)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(
            Self::request(Method::DELETE, path, token)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.json(Method::POST, path, token, body).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.json(Method::PATCH, path, token, body).await
    }

    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> TestResponse {
        self.send(
            Self::request(method, path, token)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await
    }

    /// A login request as if it came from `peer` (with optional `X-Forwarded-For`).
    pub async fn login_from(
        &self,
        peer: &str,
        forwarded_for: Option<&str>,
        email: &str,
        password: &str,
    ) -> TestResponse {
        let mut builder = Self::request(Method::POST, "/v1/auth/login", None)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(xff) = forwarded_for {
            builder = builder.header("x-forwarded-for", xff);
        }
        let mut request = builder
            .body(Body::from(
                serde_json::json!({"email": email, "password": password}).to_string(),
            ))
            .expect("request");
        let addr: SocketAddr = format!("{peer}:40000").parse().expect("peer address");
        request.extensions_mut().insert(ConnectInfo(addr));
        self.send(request).await
    }

    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post(
            "/v1/auth/login",
            None,
            serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// Creates a user directly (as the CLI does) and returns its id.
    pub async fn create_user(&self, email: &str, role: Role) -> Uuid {
        let new =
            NewUser::parse(email, "Test User", role, PASSWORD.into(), None).expect("valid user");
        insert_user(&self.pool, &self.state.passwords, new)
            .await
            .expect("insert user")
            .id
    }

    /// The one number a `select count(*) …` statement answers.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// A session token of a new user with `role`.
    pub async fn token_for(&self, role: Role) -> String {
        let email = format!("{}-{}@example.com", role.as_str(), Uuid::now_v7().simple());
        self.create_user(&email, role).await;
        let response = self.login(&email, PASSWORD).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()["token"].as_str().expect("token").to_owned()
    }
}

/// Sends a request through any router and checks the response for leaks.
pub async fn send_to(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    let response = TestResponse {
        status,
        headers,
        body,
    };
    response.assert_no_leaks();
    response
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status and `type`.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode, kind: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["type"], format!("/problems/{kind}"), "body: {body}");
        assert_eq!(body["status"], status.as_u16());
        assert!(body["title"].is_string());
        body
    }

    /// Asserts a `422` and returns the invalid fields.
    #[track_caller]
    pub fn assert_invalid_fields(&self) -> Vec<String> {
        let body = self.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field").to_owned())
            .collect()
    }

    /// No response may carry secrets or internals, whatever the endpoint.
    fn assert_no_leaks(&self) {
        // The admin's scripts are code: "select " is a word in them, not a leaked statement.
        let code = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/javascript") || t.starts_with("text/css"));
        let text = if code {
            String::new()
        } else {
            self.text().to_lowercase()
        };
        for needle in [
            "$argon2",
            "password_hash",
            "token_hash",
            "select ",
            "insert into",
            "update users",
            "sqlx",
            "panicked",
        ] {
            assert!(!text.contains(needle), "response leaks '{needle}': {text}");
        }
        assert!(self.headers.contains_key("x-request-id"), "no x-request-id");
        assert_eq!(
            self.header("x-content-type-options"),
            Some("nosniff"),
            "no nosniff header"
        );
        assert_eq!(self.header("referrer-policy"), Some("no-referrer"));
        assert!(
            self.header("content-security-policy")
                .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "no Content-Security-Policy"
        );
    }
}

/// The URL of database `name` on the server the tests use (`DATABASE_URL`), for tests that
/// start the binary or create a database of their own.
pub fn database_url(name: &str) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let (base, query) = match base.split_once('?') {
        Some((base, query)) => (base.to_owned(), format!("?{query}")),
        None => (base, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base.as_str(),
    };
    format!("{server}/{name}{query}")
}

/// Drops a database a test created itself (`sqlx::test` drops only its own).
pub async fn drop_database(pool: &PgPool, name: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(pool)
    .await
    .expect("drop the test's own database");
}

/// App state whose live cache follows notifications on `listener`, once it is listening.
pub async fn listening_state(
    pool: PgPool,
    listener: PgPool,
    configure: impl FnOnce(&mut Config),
) -> AppState {
    let mut config = Config::defaults();
    config.media.dir = std::env::temp_dir().join("galley-probe-media");
    configure(&mut config);
    let state = AppState::new(pool, config).expect("state");
    state.live_cache.spawn_listener(listener);
    for _ in 0..300 {
        if state.live_cache.is_active() {
            return state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the live cache never started listening");
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits (up to 5 s) until a server this test started and stopped has no session left on
/// `database`: they end just after the process does, and the test database is dropped next.
pub async fn sessions_ended(pool: &PgPool, database: &str) {
    for _ in 0..100 {
        let others: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
        )
        .bind(database)
        .fetch_one(pool)
        .await
        .expect("sessions");
        if others == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `galley serve` on `database` at `bind`, its media in a temporary directory named `media`:
/// the settings every test of the real binary shares. Callers add their own and spawn it.
pub fn serve_command(database: &str, bind: &str, media: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_galley"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url(database))
        .env("GALLEY_BIND", bind)
        .env("GALLEY_MEDIA_DIR", std::env::temp_dir().join(media));
    command
}
