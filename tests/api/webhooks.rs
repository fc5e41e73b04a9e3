//! Webhooks (API.md §11) against real receivers on loopback: signatures (and rotation), the
//! events of each action, retries with the same id on schedule, receivers that fail, hang or
//! answer 10 MB never holding up others, the outbound guard at creation and at delivery, at
//! least once across a `kill -9`, and two processes never sending one attempt at once.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use galley::{accounts::role::Role, webhooks::signature};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, free_port};

/// What a receiver does with a delivery.
#[derive(Clone, Copy)]
pub enum Behaviour {
    Ok,
    Fail,
    Hang,
    /// 500 with a 10 MB body.
    Flood,
    Gone,
    /// The first delivery never gets an answer; the others get 200.
    HangFirst,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub user_agent: String,
    pub content_type: String,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    /// Connections accepted (answered or not).
    pub in_flight: Arc<Mutex<(usize, usize)>>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let receiver = Self {
            url: format!("http://{addr}/hook"),
            got: Arc::default(),
            in_flight: Arc::default(),
        };
        let app = Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state((receiver.clone(), behaviour));
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` deliveries arrived (at most `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || started.elapsed() > within {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State((receiver, behaviour)): State<(Receiver, Behaviour)>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if let Ok(mut counts) = receiver.in_flight.lock() {
        counts.0 += 1;
        counts.1 = counts.1.max(counts.0);
    }
    if let Ok(mut got) = receiver.got.lock() {
        got.push(Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            user_agent: header("user-agent"),
            content_type: header("content-type"),
            body,
            at: Instant::now(),
        });
    }
    let first = receiver.got.lock().map(|g| g.len() == 1).unwrap_or(false);
    let answer = match behaviour {
        Behaviour::HangFirst if first => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            (StatusCode::OK, String::new())
        }
        Behaviour::HangFirst => (StatusCode::OK, "thanks".to_owned()),
        Behaviour::Ok => (StatusCode::OK, "thanks".to_owned()),
        Behaviour::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "broken".to_owned()),
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::OK, String::new())
        }
        Behaviour::Flood => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "x".repeat(10 * 1024 * 1024),
        ),
        Behaviour::Gone => (StatusCode::GONE, "unsubscribe".to_owned()),
    };
    if let Ok(mut counts) = receiver.in_flight.lock() {
        counts.0 -= 1;
    }
    answer
}

/// An app whose guard lets loopback through and whose worker runs, as `galley serve` does.
pub fn delivering_app(pool: PgPool) -> TestApp {
    let app = TestApp::with_config(pool, |config| {
        config.webhooks.allow_private = true;
        config.webhooks.timeout = Duration::from_secs(1);
    });
    app.state.changes.spawn_listener(app.pool.clone());
    galley::webhooks::delivery::spawn(app.state.clone());
    app
}

/// Subscribes `url` to `events`: the webhook and its secret's bytes.
pub async fn subscribe(app: &TestApp, admin: &str, url: &str, events: Value) -> (Value, Vec<u8>) {
    let response = app
        .post(
            "/v1/webhooks",
            Some(admin),
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let webhook = response.json();
    let secret = webhook["secret"].as_str().expect("secret").to_owned();
    let bytes = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_"))
        .expect("base64");
    (webhook, bytes)
}

/// Whether one of the signatures of `received` verifies with `secret`.
fn verifies(received: &Received, secret: &[u8]) -> bool {
    let timestamp: i64 = received.timestamp.parse().expect("timestamp");
    let expected = signature::sign(secret, &received.id, timestamp, &received.body);
    received.signature.split(' ').any(|s| s == expected)
}

fn events(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[sqlx::test]
async fn each_action_is_delivered_signed_as_exactly_its_events(pool: PgPool) {
    let app = delivering_app(pool);
    let admin = app.token_for(Role::Admin).await;
    let receiver = Receiver::start(Behaviour::Ok).await;
    let (webhook, secret) = subscribe(&app, &admin, &receiver.url, json!(["*"])).await;
    assert!(webhook.get("secret").is_some());
    let shown = app
        .get(
            &format!(
                "/v1/webhooks/{}",
                webhook["id"].as_str().unwrap_or_default()
            ),
            Some(&admin),
        )
        .await
        .json();
    assert!(shown.get("secret").is_none(), "the secret is shown once");

    let created = app
        .post(
            "/v1/articles",
            Some(&admin),
            json!({"title": "Embargoed 我的阿勒泰", "body_markdown": "Secret words.",
                   "authors": [{"name": "管静鹏"}], "tags": [{"name": "Music"}]}),
        )
        .await
        .json();
    let id = created["id"].as_str().expect("id").to_owned();
    let got = receiver.wait_for(3, Duration::from_secs(5)).await;
    let mut first = events(&got);
    first.sort();
    assert_eq!(first, ["article.created", "author.created", "tag.created"]);
    let draft = got
        .iter()
        .find(|r| r.json()["type"] == "article.created")
        .expect("created");
    let text = String::from_utf8_lossy(&draft.body).to_string();
    assert!(
        !text.contains("Embargoed") && !text.contains("Secret words"),
        "{text}"
    );
    assert_eq!(draft.json()["data"]["status"], "draft");
    assert!(draft.json()["data"].get("object").is_none());

    let published = app
        .post(
            &format!("/v1/articles/{id}/publish"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK);
    let started = Instant::now();
    let got = receiver.wait_for(4, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let publish = got[3].json();
    assert_eq!(publish["type"], "article.published");
    assert_eq!(publish["data"]["first_publish"], true);
    assert_eq!(publish["data"]["object"]["title"], "Embargoed 我的阿勒泰");
    assert_eq!(
        publish["data"]["purge_keys"],
        json!(["articles", format!("article-{id}")])
    );

    // A rename re-renders the live copy: one author.updated and one article.published.
    let author = publish["data"]["object"]["authors"][0]["id"]
        .as_str()
        .expect("author")
        .to_owned();
    let renamed = app
        .patch(
            &format!("/v1/authors/{author}"),
            Some(&admin),
            json!({"name": "Guan Jingpeng"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    let got = receiver.wait_for(6, Duration::from_secs(5)).await;
    assert_eq!(events(&got[4..]), ["author.updated", "article.published"]);
    assert_eq!(got[5].json()["data"]["first_publish"], false);
    assert_eq!(
        got[5].json()["data"]["object"]["authors"][0]["name"],
        "Guan Jingpeng"
    );
    assert!(!String::from_utf8_lossy(&got[4].body).contains("email"));

    for received in &got {
        assert!(verifies(received, &secret), "{received:?}");
        assert!(received.user_agent.starts_with("Galley-Webhooks/"));
        assert_eq!(received.content_type, "application/json");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 6, "nothing more, nothing twice");

    // During a rotation both secrets sign.
    let rotated = app
        .post(
            &format!(
                "/v1/webhooks/{}/rotate-secret",
                webhook["id"].as_str().unwrap_or_default()
            ),
            Some(&admin),
            json!({}),
        )
        .await
        .json();
    let new_secret = STANDARD
        .decode(
            rotated["secret"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("whsec_"),
        )
        .expect("base64");
    let pinged = app
        .post(
            &format!(
                "/v1/webhooks/{}/ping",
                webhook["id"].as_str().unwrap_or_default()
            ),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(pinged.status, StatusCode::ACCEPTED);
    let got = receiver.wait_for(7, Duration::from_secs(5)).await;
    let ping = &got[6];
    assert_eq!(ping.json()["type"], "ping");
    assert_eq!(ping.signature.split(' ').count(), 2);
    assert!(verifies(ping, &secret) && verifies(ping, &new_secret));
}

#[sqlx::test]
async fn failing_hanging_and_flooding_receivers_are_retried_and_hold_up_no_one(pool: PgPool) {
    let app = delivering_app(pool.clone());
    let admin = app.token_for(Role::Admin).await;
    let (ok, fail, hang, flood) = (
        Receiver::start(Behaviour::Ok).await,
        Receiver::start(Behaviour::Fail).await,
        Receiver::start(Behaviour::Hang).await,
        Receiver::start(Behaviour::Flood).await,
    );
    let mut hooks = HashMap::new();
    for (name, receiver) in [
        ("fail", &fail),
        ("hang", &hang),
        ("flood", &flood),
        ("ok", &ok),
    ] {
        let (webhook, _) = subscribe(&app, &admin, &receiver.url, json!(["tag.created"])).await;
        hooks.insert(name, webhook["id"].as_str().unwrap_or_default().to_owned());
    }
    let started = Instant::now();
    for name in ["Olympics", "Music", "松弛感"] {
        let created = app
            .post("/v1/tags", Some(&admin), json!({"name": name}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "writes never wait for receivers"
    );
    let got = ok.wait_for(3, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 3);
    assert!(got[2].at.duration_since(started) < Duration::from_secs(1));

    // Each failed once; the next attempt is due in 5 s ± 20%.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for name in ["fail", "hang", "flood"] {
        let log = app
            .get(
                &format!("/v1/webhooks/{}/deliveries", hooks[name]),
                Some(&admin),
            )
            .await
            .json();
        let entries = log["data"].as_array().expect("log");
        assert_eq!(entries.len(), 3, "{name}: {log}");
        for entry in entries {
            assert_eq!(entry["state"], "pending", "{name}: {entry}");
            assert_eq!(entry["attempts"], 1, "{name}: {entry}");
            let next = chrono::DateTime::parse_from_rfc3339(
                entry["next_attempt_at"].as_str().unwrap_or_default(),
            )
            .expect("next_attempt_at");
            let last = chrono::DateTime::parse_from_rfc3339(
                entry["last_attempt_at"].as_str().unwrap_or_default(),
            )
            .expect("last_attempt_at");
            // Counted from the attempt's end.
            let took = entry["duration_ms"].as_i64().unwrap_or(0);
            let wait = (next - last).num_milliseconds() - took;
            assert!(
                (3900..=6100).contains(&wait),
                "{name}: next in {wait} ms after {took} ms"
            );
        }
        let first = &entries[0];
        match name {
            "fail" => assert_eq!(first["status_code"], 500),
            "flood" => {
                assert_eq!(first["status_code"], 500);
                assert!(first["response_excerpt"].as_str().unwrap_or_default().len() <= 1024);
            }
            _ => assert!(
                first["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("no answer"),
                "{first}"
            ),
        }
    }

    // Time passes: the second attempt carries the same webhook-id, then waits about 5 min.
    sqlx::query(
        "update webhook_deliveries set next_attempt_at = now() where webhook_id = $1::uuid",
    )
    .bind(&hooks["fail"])
    .execute(&pool)
    .await
    .expect("fast-forward");
    let mut conn = pool.acquire().await.expect("connection");
    galley::changes::signal::wake_on_commit(&mut conn)
        .await
        .expect("wake");
    let got = fail.wait_for(6, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 6);
    let mut first_ids: Vec<&str> = got[..3].iter().map(|r| r.id.as_str()).collect();
    let mut second_ids: Vec<&str> = got[3..].iter().map(|r| r.id.as_str()).collect();
    first_ids.sort();
    second_ids.sort();
    assert_eq!(first_ids, second_ids);
    assert_eq!(
        got[0].body,
        got.iter()
            .find(|r| r.id == got[0].id && r.at > got[0].at)
            .map(|r| r.body.clone())
            .unwrap_or_default()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = app
        .get(
            &format!("/v1/webhooks/{}/deliveries", hooks["fail"]),
            Some(&admin),
        )
        .await
        .json();
    for entry in log["data"].as_array().expect("log") {
        assert_eq!(entry["attempts"], 2);
        let next = chrono::DateTime::parse_from_rfc3339(
            entry["next_attempt_at"].as_str().unwrap_or_default(),
        )
        .expect("next");
        let last = chrono::DateTime::parse_from_rfc3339(
            entry["last_attempt_at"].as_str().unwrap_or_default(),
        )
        .expect("last");
        let wait = (next - last).num_seconds();
        assert!((240..=360).contains(&wait), "next in {wait} s");
    }
    // The hanging receiver held at most its own share of the worker.
    assert!(hang.in_flight.lock().map(|c| c.1).unwrap_or(0) <= 16);
}

#[sqlx::test]
async fn a_410_disables_the_endpoint_and_redeliver_starts_over(pool: PgPool) {
    let app = delivering_app(pool);
    let admin = app.token_for(Role::Admin).await;
    let gone = Receiver::start(Behaviour::Gone).await;
    let (webhook, _) = subscribe(&app, &admin, &gone.url, json!(["tag.created"])).await;
    let id = webhook["id"].as_str().unwrap_or_default().to_owned();
    app.post("/v1/tags", Some(&admin), json!({"name": "Olympics"}))
        .await;
    gone.wait_for(1, Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shown = app
        .get(&format!("/v1/webhooks/{id}"), Some(&admin))
        .await
        .json();
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["disabled_reason"], "the receiver answered 410 Gone");
    let log = app
        .get(&format!("/v1/webhooks/{id}/deliveries"), Some(&admin))
        .await
        .json();
    assert_eq!(log["data"][0]["state"], "failed");
    let event_id = log["data"][0]["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Enabled again, the event goes out again with the same id.
    let enabled = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            Some(&admin),
            json!({"enabled": true}),
        )
        .await
        .json();
    assert!(enabled["disabled_reason"].is_null());
    let again = app
        .post(
            &format!("/v1/webhooks/{id}/deliveries/{event_id}/redeliver"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text());
    let got = gone.wait_for(2, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id);
    assert_eq!(got[1].id, event_id);
}

/// Disabled by hand, an endpoint keeps its place: enabled again, it gets what it missed, in
/// order, and a redelivery of an event it never had is queued from the feed.
#[sqlx::test]
async fn a_paused_endpoint_resumes_where_it_stopped(pool: PgPool) {
    let app = delivering_app(pool);
    let admin = app.token_for(Role::Admin).await;
    let receiver = Receiver::start(Behaviour::Ok).await;
    let (webhook, _) = subscribe(&app, &admin, &receiver.url, json!(["tag.created"])).await;
    let id = webhook["id"].as_str().unwrap_or_default().to_owned();
    app.post("/v1/tags", Some(&admin), json!({"name": "Olympics"}))
        .await;
    assert_eq!(receiver.wait_for(1, Duration::from_secs(3)).await.len(), 1);

    let paused = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            Some(&admin),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text());
    for name in ["Music", "松弛感", "我的阿勒泰"] {
        app.post("/v1/tags", Some(&admin), json!({"name": name}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "nothing goes while disabled");

    app.patch(
        &format!("/v1/webhooks/{id}"),
        Some(&admin),
        json!({"enabled": true}),
    )
    .await;
    let got = receiver.wait_for(4, Duration::from_secs(3)).await;
    let names: Vec<String> = got
        .iter()
        .map(|r| {
            r.json()["data"]["object"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["Olympics", "Music", "松弛感", "我的阿勒泰"]);

    // Any event of the feed it subscribes to can be sent again; an unknown one is 404.
    let first: uuid::Uuid =
        sqlx::query_scalar("select id from changes where event = 'tag.created' order by seq")
            .fetch_one(&app.pool)
            .await
            .expect("event");
    let again = app
        .post(
            &format!("/v1/webhooks/{id}/deliveries/{first}/redeliver"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text());
    let got = receiver.wait_for(5, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 5);
    let unknown = app
        .post(
            &format!(
                "/v1/webhooks/{id}/deliveries/{}/redeliver",
                uuid::Uuid::now_v7()
            ),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn the_outbound_guard_refuses_internal_targets_at_creation_and_at_delivery(pool: PgPool) {
    let guarded = TestApp::new(pool.clone());
    let admin = guarded.token_for(Role::Admin).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://2130706433/hook",
        "http://0x7f.1/hook",
        "http://127.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://localhost:9/hook",
        "ftp://example.com/",
        "http://user:pw@example.com/",
    ] {
        let response = guarded
            .post(
                "/v1/webhooks",
                Some(&admin),
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        let fields = response.assert_invalid_fields();
        assert_eq!(fields, ["url"], "{url}: {}", response.text());
    }
    for events in [
        json!([]),
        json!(["article.exploded"]),
        json!(["*", "tag.created"]),
    ] {
        let response = guarded
            .post(
                "/v1/webhooks",
                Some(&admin),
                json!({"url": "https://example.com/", "events": events}),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{events}"
        );
    }
    let editor = guarded.token_for(Role::Editor).await;
    guarded
        .post(
            "/v1/webhooks",
            Some(&editor),
            json!({"url": "https://example.com/", "events": ["*"]}),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");

    // An endpoint that got in before (or through another door) is refused at delivery, and
    // the listener it names sees no connection at all.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        sqlx::query(
            "insert into webhooks (id, url, events, secret) values (gen_random_uuid(), $1, '{*}', '\\x00')",
        )
        .bind(url)
        .execute(&pool)
        .await
        .expect("insert");
    }
    guarded.state.changes.spawn_listener(pool.clone());
    galley::webhooks::delivery::spawn(guarded.state.clone());
    guarded
        .post("/v1/tags", Some(&admin), json!({"name": "Music"}))
        .await;
    let mut errors = Vec::new();
    for _ in 0..100 {
        errors = sqlx::query_scalar::<_, Option<String>>(
            "select last_error from webhook_deliveries where attempts > 0 and last_error is not null",
        )
        .fetch_all(&pool)
        .await
        .expect("errors");
        if errors.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(errors.len(), 2, "{errors:?}");
    for error in errors.into_iter().flatten() {
        assert!(error.contains("refused by the outbound guard"), "{error}");
    }
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(
        accepted.is_err(),
        "a connection reached the guarded listener"
    );
}

/// Two processes (two workers on one database) share 200 events: each is sent once, and no
/// delivery is ever sent by both at the same time.
#[sqlx::test]
async fn two_workers_never_send_the_same_attempt(pool: PgPool) {
    let app = delivering_app(pool.clone());
    let second = TestApp::with_config(pool.clone(), |config| {
        config.webhooks.allow_private = true;
    });
    second.state.changes.spawn_listener(pool.clone());
    galley::webhooks::delivery::spawn(second.state.clone());
    let admin = app.token_for(Role::Admin).await;
    let receiver = Receiver::start(Behaviour::Ok).await;
    subscribe(&app, &admin, &receiver.url, json!(["tag.created"])).await;
    let mut tx = pool.begin().await.expect("begin");
    for n in 0..200 {
        let tag = json!({"n": n});
        let id = uuid::Uuid::now_v7();
        galley::changes::outbox::write_object(
            &mut tx,
            galley::changes::outbox::ObjectChange {
                event: galley::changes::outbox::EventType::TagCreated,
                kind: galley::changes::outbox::ObjectType::Tag,
                id,
                slug: None,
                object: Some(&tag),
                actor: None,
            },
        )
        .await
        .expect("outbox");
    }
    tx.commit().await.expect("commit");
    let got = receiver.wait_for(200, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = receiver.received();
    assert_eq!(got.len(), 200);
    let mut ids: Vec<&str> = got_all.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), got_all.len(), "an event was sent twice");
    let delivered: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where state = 'delivered'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(delivered, 200);
}

fn start_server(database: &str, bind: &str) -> std::process::Child {
    crate::helpers::serve_command(database, bind, "galley-webhook-media")
        .env("GALLEY_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("GALLEY_WEBHOOK_TIMEOUT_SECS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn galley serve")
}

/// `kill -9` after the receiver has the event but before Galley records the answer: the
/// endpoint's lease lapses and the restarted server sends it again, with the same `webhook-id`.
#[sqlx::test]
async fn a_delivery_cut_off_by_kill_9_is_sent_again_after_a_restart(pool: PgPool) {
    let database = pool
        .connect_options()
        .get_database()
        .expect("db")
        .to_owned();
    let app = TestApp::with_config(pool.clone(), |config| config.webhooks.allow_private = true);
    let admin = app.token_for(Role::Admin).await;
    let receiver = Receiver::start(Behaviour::HangFirst).await;
    subscribe(&app, &admin, &receiver.url, json!(["tag.created"])).await;
    let start: i64 = sqlx::query_scalar("select cursor_seq from webhooks")
        .fetch_one(&pool)
        .await
        .expect("cursor");
    app.post("/v1/tags", Some(&admin), json!({"name": "Olympics"}))
        .await;

    let bind = format!("127.0.0.1:{}", free_port());
    let mut server = start_server(&database, &bind);
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "the first server never delivered");
    server.kill().expect("kill -9");
    server.wait().expect("reaped");
    let (logged, cursor, leased): (i64, i64, bool) = sqlx::query_as(
        "select (select count(*) from webhook_deliveries), cursor_seq, lease_until > now() \
         from webhooks",
    )
    .fetch_one(&pool)
    .await
    .expect("delivery");
    assert_eq!(
        (logged, cursor, leased),
        (0, start, true),
        "no outcome was recorded, the cursor stayed, the lease is held by the dead process"
    );

    let mut restarted = start_server(&database, &bind);
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    let mut state = String::new();
    for _ in 0..100 {
        state = sqlx::query_scalar("select state from webhook_deliveries")
            .fetch_optional(&pool)
            .await
            .expect("state")
            .unwrap_or_default();
        if state == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SAFETY: kill only sends a signal to the child this test started.
    unsafe { libc::kill(restarted.id() as i32, libc::SIGTERM) };
    restarted.wait().expect("stopped");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id);
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(state, "delivered");
    crate::helpers::sessions_ended(&pool, &database).await;
}

/// The receiver in `examples/webhooks` accepts Galley's deliveries and refuses forged ones.
#[sqlx::test]
async fn the_example_receiver_verifies_real_deliveries(pool: PgPool) {
    let app = delivering_app(pool.clone());
    let admin = app.token_for(Role::Admin).await;
    let port = free_port();
    let (webhook, _) = subscribe(
        &app,
        &admin,
        &format!("http://127.0.0.1:{port}/"),
        json!(["*"]),
    )
    .await;
    let id = webhook["id"].as_str().unwrap_or_default().to_owned();
    let mut receiver = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/webhooks/receiver.py"
        ))
        .arg(port.to_string())
        .env(
            "GALLEY_WEBHOOK_SECRET",
            webhook["secret"].as_str().unwrap_or_default(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 examples/webhooks/receiver.py");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.post("/v1/tags", Some(&admin), json!({"name": "Olympics"}))
        .await;
    // A forged secret: what the receiver must refuse.
    let status = |pool: PgPool, event: &'static str| async move {
        for _ in 0..100 {
            let status: Option<i16> = sqlx::query_scalar(
                "select last_status from webhook_deliveries where event = $1 and attempts > 0",
            )
            .bind(event)
            .fetch_optional(&pool)
            .await
            .expect("status")
            .flatten();
            if status.is_some() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    };
    let genuine = status(pool.clone(), "tag.created").await;
    sqlx::query("update webhooks set secret = '\\x0102' where id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .expect("forge");
    app.post("/v1/tags", Some(&admin), json!({"name": "Music"}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let forged: Option<i16> = {
        let mut found = None;
        for _ in 0..100 {
            found = sqlx::query_scalar(
                "select last_status from webhook_deliveries where attempts > 0 \
                 and last_status is not null order by id desc limit 1",
            )
            .fetch_optional(&pool)
            .await
            .expect("status")
            .flatten();
            if found == Some(400) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found
    };
    receiver.kill().ok();
    receiver.wait().ok();
    assert_eq!(genuine, Some(204));
    assert_eq!(forged, Some(400));
}

/// Bad input to the endpoints is a 4xx problem that changes nothing.
#[sqlx::test]
async fn bad_webhook_input_is_refused_and_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token_for(Role::Admin).await;
    // Made in the database: creation through the API would resolve a name, and what a name
    // resolves to differs between machines.
    sqlx::query(
        "insert into webhooks (id, url, events, secret) \
         values ('01a23800-0000-7000-8000-000000000001', 'https://93.184.216.34/hook', '{*}', '\\x00')",
    )
    .execute(&pool)
    .await
    .expect("insert");
    let webhook = json!({"id": "01a23800-0000-7000-8000-000000000001"});
    let path = format!(
        "/v1/webhooks/{}",
        webhook["id"].as_str().unwrap_or_default()
    );
    for (body, field) in [
        (json!({"url": "http://127.0.0.1/"}), "url"),
        (json!({"url": null}), "url"),
        (json!({"events": ["nope"]}), "events[0]"),
        (json!({"events": null}), "events"),
        (json!({"enabled": null}), "enabled"),
        (json!({"description": "x".repeat(501)}), "description"),
    ] {
        let response = app.patch(&path, Some(&admin), body.clone()).await;
        assert_eq!(response.assert_invalid_fields(), [field], "{body}");
    }
    app.patch(&path, Some(&admin), json!({"colour": "red"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let unchanged = app.get(&path, Some(&admin)).await.json();
    assert_eq!(unchanged["url"], "https://93.184.216.34/hook");
    assert_eq!(unchanged["events"], json!(["*"]));
    app.get("/v1/webhooks/not-a-uuid", Some(&admin))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    app.post(
        &format!("{path}/deliveries/not-a-uuid/redeliver"),
        Some(&admin),
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(
        &format!("{path}/deliveries/01a23800-0000-7000-8000-000000000009/redeliver"),
        Some(&admin),
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(
        "/v1/webhooks/01a23800-0000-7000-8000-000000000009/ping",
        Some(&admin),
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");
}
