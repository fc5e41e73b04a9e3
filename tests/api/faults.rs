//! Behaviour around faults: clients that stall, shutdown with work in flight, a database that
//! is locked, frozen or gone. Over real TCP and against the real PostgreSQL.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{Method, StatusCode},
    routing::{get, post},
};
use galley::{
    app::{AppState, with_middleware},
    config::Config,
    http::{
        ConnectionLimits, ServeLimits,
        route_policy::{Policy, RoutePolicies},
    },
};
use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, free_port, send_to};

fn limits(keep_alive_ms: u64, header_read_ms: u64, stall_ms: u64, shutdown_ms: u64) -> ServeLimits {
    ServeLimits {
        connection: ConnectionLimits {
            keep_alive: Duration::from_millis(keep_alive_ms),
            header_read: Duration::from_millis(header_read_ms),
            write_stall: Duration::from_millis(stall_ms),
        },
        shutdown: Duration::from_millis(shutdown_ms),
    }
}

fn probe_routes() -> Router<AppState> {
    Router::new()
        .route("/probe/fast", get(|| async { "ok" }))
        .route(
            "/probe/sleep",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                "late"
            }),
        )
        .route(
            "/probe/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/probe/big",
            get(|| async { Body::from(vec![b'x'; 64 * 1024 * 1024]) }),
        )
}

/// The probe routes behind the production middleware, served over TCP with `limits`; the
/// returned sender shuts the server down.
async fn serve_probes(
    pool: PgPool,
    limits: ServeLimits,
    configure: impl FnOnce(&mut Config),
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let mut config = Config::defaults();
    config.media.dir = std::env::temp_dir().join("galley-probe-media");
    configure(&mut config);
    let state = AppState::new(pool, config).expect("app state");
    let router = with_middleware(probe_routes(), state, RoutePolicies::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(galley::http::serve(
        listener,
        router,
        async {
            let _ = stopped.await;
        },
        limits,
    ));
    (addr, stop, server)
}

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut sink)).await {
        Ok(_) => started.elapsed(),
        Err(_) => panic!("the connection was still open after {within:?}"),
    }
}

/// One response of a keep-alive connection: its status line and body.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.expect("read"),
            1,
            "closed mid-head"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("content-length");
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).await.expect("body");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[sqlx::test]
async fn a_request_head_that_never_ends_is_cut_off_at_the_header_timeout(pool: PgPool) {
    let (addr, _stop, _server) =
        serve_probes(pool, limits(60_000, 300, 60_000, 1000), |_| {}).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // Half a head, then a byte now and then: the limit counts from the first byte.
    stream
        .write_all(b"GET /probe/fast HTTP/1.1\r\n")
        .await
        .expect("write");
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream.write_all(b"X").await.is_err() {
                return;
            }
        }
    };
    let started = Instant::now();
    trickle.await;
    let elapsed = started.elapsed() + time_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

#[sqlx::test]
async fn a_keep_alive_connection_rests_longer_than_a_head_may_take_then_is_closed(pool: PgPool) {
    let (addr, _stop, _server) = serve_probes(pool, limits(900, 200, 60_000, 1000), |_| {}).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = b"GET /probe/fast HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(request).await.expect("write");
    assert_eq!(read_response(&mut stream).await.1, "ok");
    // Resting past the header timeout is fine: no head has started.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(request).await.expect("write");
    let (status, body) = read_response(&mut stream).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "ok");
    let rested = time_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(
        rested > Duration::from_millis(700) && rested < Duration::from_millis(1600),
        "closed after resting {rested:?}"
    );
}

#[sqlx::test]
async fn a_request_body_that_stops_is_cut_and_one_that_keeps_moving_is_not(pool: PgPool) {
    let (addr, _stop, _server) =
        serve_probes(pool, limits(60_000, 60_000, 60_000, 1000), |config| {
            config.connections.body_idle = Duration::from_millis(300);
        })
        .await;
    let head = b"POST /probe/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n";

    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled.write_all(head).await.expect("write");
    stalled.write_all(b"abc").await.expect("write");
    let started = Instant::now();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(3), stalled.read_to_string(&mut answer))
        .await
        .expect("the stalled body is cut")
        .ok();
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");

    // A byte every 100 ms for a second: slower in all than the idle limit, never idle that long.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(head).await.expect("write");
    for byte in b"0123456789" {
        tokio::time::sleep(Duration::from_millis(100)).await;
        slow.write_all(&[*byte]).await.expect("write");
    }
    let (status, body) = read_response(&mut slow).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "10");
}

#[sqlx::test]
async fn a_client_that_stops_reading_its_response_is_let_go(pool: PgPool) {
    let (addr, _stop, _server) =
        serve_probes(pool, limits(60_000, 60_000, 300, 1000), |_| {}).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /probe/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    // Long past the stall limit; then whatever the socket buffers held, and the end.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("the connection was closed");
    assert!(
        received.len() < 64 * 1024 * 1024,
        "{} bytes",
        received.len()
    );
}

#[sqlx::test]
async fn shutdown_ends_at_its_deadline_despite_a_stalled_client_and_a_long_request(pool: PgPool) {
    let (addr, stop, server) = serve_probes(pool, limits(60_000, 60_000, 60_000, 500), |config| {
        config.request_timeout = Duration::from_secs(60);
    })
    .await;
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(b"GET /probe/fast HTTP/1.1\r\nHo")
        .await
        .expect("write");
    let mut long = TcpStream::connect(addr).await.expect("connect");
    long.write_all(b"GET /probe/sleep HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut resting = TcpStream::connect(addr).await.expect("connect");
    resting
        .write_all(b"GET /probe/fast HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_response(&mut resting).await.1, "ok");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    stop.send(()).expect("signal shutdown");
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("serve returns at the deadline")
        .expect("join")
        .expect("serve");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    // The resting connection was closed at once, and nothing new is accepted.
    assert!(
        time_until_closed(&mut resting, Duration::from_millis(200)).await
            < Duration::from_millis(200)
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// A pool configured as `galley serve` configures its own (`db::connect`), on this test's
/// database.
async fn production_pool(pool: &PgPool, configure: impl FnOnce(&mut Config)) -> (Config, PgPool) {
    let database = pool
        .connect_options()
        .get_database()
        .expect("db name")
        .to_owned();
    let mut config = Config::defaults();
    config.database_url = crate::helpers::database_url(&database).into();
    config.db_max_connections = 3;
    configure(&mut config);
    let pool = galley::db::connect(&config).await.expect("connect");
    (config, pool)
}

#[sqlx::test]
async fn a_locked_table_costs_only_the_requests_that_need_it(pool: PgPool) {
    let (_, galley_pool) = production_pool(&pool, |config| {
        config.db.lock_timeout = Duration::from_millis(300);
    })
    .await;
    // The session limits are the pool's: the app needs nothing else.
    let app = TestApp::new(galley_pool.clone());
    let editor = app.token_for(galley::accounts::role::Role::Editor).await;
    let working = "/v1/articles?view=working&limit=5";
    let mut locker = pool.begin().await.expect("begin");
    sqlx::query("lock table articles in access exclusive mode")
        .execute(&mut *locker)
        .await
        .expect("lock");

    // More requests for articles than the pool has connections, all at once.
    let started = Instant::now();
    let articles = futures_util::future::join_all((0..6).map(|_| app.get(working, Some(&editor))));
    let others = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tags = app.get("/v1/tags", None).await;
        let ready = app.get("/readyz", None).await;
        (tags, ready, started.elapsed())
    };
    let (articles, (tags, ready, others_took)) = tokio::join!(articles, others);
    locker.rollback().await.expect("rollback");

    for response in &articles {
        response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert_eq!(response.header("retry-after"), Some("1"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(tags.status, StatusCode::OK, "{}", tags.text());
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());
    assert!(others_took < Duration::from_secs(3), "{others_took:?}");
    // Once the lock is gone, articles are served again.
    assert_eq!(app.get(working, Some(&editor)).await.status, StatusCode::OK);
    galley_pool.close().await;
}

#[sqlx::test]
async fn the_server_ends_a_statement_past_the_request_timeout_and_a_frozen_transaction(
    pool: PgPool,
) {
    let (_, galley_pool) = production_pool(&pool, |config| {
        config.request_timeout = Duration::from_millis(500);
        config.db.idle_in_transaction = Duration::from_millis(500);
    })
    .await;
    let started = Instant::now();
    let err = sqlx::query("select pg_sleep(5)")
        .execute(&galley_pool)
        .await
        .expect_err("statement_timeout cancels it");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(galley::http::error::is_overrun(&err), "{err}");

    // A transaction holding a row lock, then silence, as from a process that froze.
    let mut frozen = galley_pool.begin().await.expect("begin");
    sqlx::query("select 1 from articles for update")
        .execute(&mut *frozen)
        .await
        .expect("lock rows");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        sqlx::query("select 1").execute(&mut *frozen).await.is_err(),
        "the server ended the idle transaction"
    );
    drop(frozen);
    galley_pool.close().await;
}

#[sqlx::test]
async fn readers_waiting_on_a_miss_share_its_failure_instead_of_waiting_again(pool: PgPool) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let routes = Router::new().route(
        "/v1/tags/outage",
        get(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                // As a pool that cannot get a connection answers, after its acquire timeout.
                tokio::time::sleep(Duration::from_millis(400)).await;
                galley::http::error::ApiError::Unavailable("the database is not reachable")
            }
        }),
    );
    let state = crate::helpers::listening_state(pool.clone(), pool, |_| {}).await;
    let policies =
        RoutePolicies::default().with("/v1/tags/outage", Method::GET, Policy::PublicRead);
    let app = with_middleware(routes, state, policies);
    let started = Instant::now();
    let responses = futures_util::future::join_all((0..6).map(|_| {
        send_to(
            &app,
            TestApp::request(Method::GET, "/v1/tags/outage", None)
                .body(Body::empty())
                .expect("request"),
        )
    }))
    .await;
    let took = started.elapsed();
    for response in &responses {
        response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one attempt for all six");
    assert!(took < Duration::from_millis(700), "{took:?}");
}

#[sqlx::test]
async fn cached_pages_are_served_stale_while_the_database_is_gone(pool: PgPool) {
    use sqlx::postgres::PgPoolOptions;
    let options = pool.connect_options().as_ref().clone();
    let requests = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500))
        .connect_with(options.clone())
        .await
        .expect("request pool");
    let listener = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("listener pool");
    let state = crate::helpers::listening_state(requests.clone(), listener.clone(), |_| {}).await;
    let app = galley::app::app(state.clone()).expect("app");
    let get = |path: &'static str| {
        send_to(
            &app,
            TestApp::request(Method::GET, path, None)
                .body(Body::empty())
                .expect("request"),
        )
    };
    sqlx::query(
        "insert into tags (id, name, slug) values (gen_random_uuid(), '松弛感', 'song-chi-gan')",
    )
    .execute(&pool)
    .await
    .expect("tag");
    let fresh = get("/v1/tags").await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.header(galley::http::live_cache::STALE_HEADER), None);

    // PostgreSQL goes away for this process: both its pools are gone.
    listener.close().await;
    requests.close().await;
    for _ in 0..300 {
        if !state.live_cache.is_active() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!state.live_cache.is_active());

    let started = Instant::now();
    let stale = get("/v1/tags").await;
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(
        stale.header(galley::http::live_cache::STALE_HEADER),
        Some("true")
    );
    assert_eq!(stale.body, fresh.body);
    assert_eq!(stale.json()["data"][0]["name"], "松弛感");
    // A page never kept cannot be made up.
    get("/v1/authors")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}

#[sqlx::test]
async fn a_page_is_not_served_stale_past_the_configured_time(pool: PgPool) {
    use sqlx::postgres::PgPoolOptions;
    let listener = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .expect("listener pool");
    let state = crate::helpers::listening_state(pool.clone(), listener.clone(), |config| {
        config.live_cache_stale_if_error = Duration::from_millis(200);
    })
    .await;
    let app = galley::app::app(state.clone()).expect("app");
    let get = || {
        send_to(
            &app,
            TestApp::request(Method::GET, "/v1/tags", None)
                .body(Body::empty())
                .expect("request"),
        )
    };
    assert_eq!(get().await.status, StatusCode::OK);
    listener.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!state.live_cache.is_active());
    // The request pool still answers: the page is read fresh, not served stale.
    let response = get().await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header(galley::http::live_cache::STALE_HEADER),
        None
    );
}

fn healthcheck(bind: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_galley"))
        .arg("healthcheck")
        .env("GALLEY_BIND", bind)
        .output()
        .expect("run galley healthcheck")
}

#[sqlx::test]
async fn the_binary_serves_metrics_apart_checks_health_and_exits_0_at_its_deadline(pool: PgPool) {
    let database = pool
        .connect_options()
        .get_database()
        .expect("db")
        .to_owned();
    let bind = format!("127.0.0.1:{}", free_port());
    let metrics_bind = format!("127.0.0.1:{}", free_port());
    let mut server = crate::helpers::serve_command(&database, &bind, "galley-binary-media")
        .env("GALLEY_METRICS_BIND", &metrics_bind)
        .env("GALLEY_SHUTDOWN_TIMEOUT_SECS", "1")
        .env("GALLEY_HEADER_READ_TIMEOUT_SECS", "60")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn galley serve");
    let mut ready = false;
    for _ in 0..100 {
        if healthcheck(&bind).status.success() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "galley healthcheck never succeeded");
    assert_eq!(
        String::from_utf8_lossy(&healthcheck(&bind).stdout).trim(),
        "ready"
    );

    let mut scrape = TcpStream::connect(&metrics_bind)
        .await
        .expect("metrics listener");
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut text = String::new();
    scrape.read_to_string(&mut text).await.expect("read");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("galley_db_pool_connections{pool=\"background\",state=\"max\"} 5"),
        "{text}"
    );

    let mut stalled = TcpStream::connect(&bind).await.expect("connect");
    stalled
        .write_all(b"GET /v1/tags HTTP/1.1\r\nHo")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    // SAFETY: kill only sends a signal to the child this test started.
    let sent = unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "{took:?}");
    let down = healthcheck(&bind);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains(&bind));
    crate::helpers::sessions_ended(&pool, &database).await;
}

#[test]
fn galley_migrate_gives_up_on_an_unreachable_database_after_its_wait() {
    let port = free_port();
    let started = Instant::now();
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_galley"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/galley"),
        )
        .env("GALLEY_DB_WAIT_SECS", "2")
        .output()
        .expect("run galley migrate");
    assert!(!migrate.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&migrate.stderr);
    // Each retry says why; the last word says it gave up, and after how long.
    assert!(stderr.contains("database not ready"), "{stderr}");
    assert!(
        stderr.contains("Connection refused") || stderr.contains("connection refused"),
        "{stderr}"
    );
    assert!(
        stderr.contains("giving up on the database after 2 s (GALLEY_DB_WAIT_SECS)"),
        "{stderr}"
    );
}
