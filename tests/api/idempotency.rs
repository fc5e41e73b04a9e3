//! `Idempotency-Key` (API.md §9): retries replay, a different request under the same key is
//! refused, a concurrent duplicate waits its turn, and keys belong to their caller.

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use galley::accounts::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, TestResponse};

async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> TestResponse {
    app.send(
        TestApp::request(Method::POST, path, Some(token))
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await
}

#[sqlx::test]
async fn a_retry_replays_the_first_response_and_creates_nothing_more(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let body = json!({"name": "Olympics"});
    let first = post_with_key(&app, "/v1/tags", &editor, "tag-olympics-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post_with_key(&app, "/v1/tags", &editor, "tag-olympics-1", &body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("content-type"), Some("application/json"));
    assert_eq!(app.count("select count(*) from tags").await, 1);

    // Actions too: publishing twice under one key publishes once.
    let article = post_with_key(
        &app,
        "/v1/articles",
        &editor,
        "article-1",
        &json!({"title": "我的阿勒泰 comes to the screen"}),
    )
    .await
    .json();
    let path = format!(
        "/v1/articles/{}/publish",
        article["id"].as_str().expect("id")
    );
    let published = post_with_key(&app, &path, &editor, "publish-1", &json!({})).await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.text());
    let replay = post_with_key(&app, &path, &editor, "publish-1", &json!({})).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body, published.body);
    assert_eq!(
        app.count("select count(*) from article_revisions where action = 'publish'")
            .await,
        1
    );
}

#[sqlx::test]
async fn a_key_reused_for_a_different_request_is_refused(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let first = post_with_key(&app, "/v1/tags", &editor, "k", &json!({"name": "Music"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other = post_with_key(&app, "/v1/tags", &editor, "k", &json!({"name": "Film"})).await;
    other.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    let elsewhere =
        post_with_key(&app, "/v1/authors", &editor, "k", &json!({"name": "Music"})).await;
    elsewhere.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    assert_eq!(app.count("select count(*) from tags").await, 1);
    assert_eq!(app.count("select count(*) from authors").await, 0);
}

#[sqlx::test]
async fn keys_belong_to_their_caller(pool: PgPool) {
    let app = TestApp::new(pool);
    let one = app.token_for(Role::Editor).await;
    let two = app.token_for(Role::Editor).await;
    let a = post_with_key(&app, "/v1/tags", &one, "shared", &json!({"name": "Music"})).await;
    let b = post_with_key(&app, "/v1/tags", &two, "shared", &json!({"name": "Music"})).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.text());
    assert_eq!(b.header("idempotent-replayed"), None);
    assert_ne!(a.json()["id"], b.json()["id"]);
    // An API token is a caller of its own, apart from its creator's sessions.
    let token = app.api_token(&one, "editor").await;
    let c = post_with_key(
        &app,
        "/v1/tags",
        &token,
        "shared",
        &json!({"name": "Music"}),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED);
    assert_eq!(c.header("idempotent-replayed"), None);
    assert_eq!(app.count("select count(*) from tags").await, 3);
}

#[sqlx::test]
async fn a_rejected_request_keeps_nothing_and_may_be_fixed_under_the_same_key(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let bad = post_with_key(&app, "/v1/tags", &editor, "fix-me", &json!({"name": ""})).await;
    bad.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let fixed = post_with_key(
        &app,
        "/v1/tags",
        &editor,
        "fix-me",
        &json!({"name": "Music"}),
    )
    .await;
    assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.text());
    assert_eq!(fixed.header("idempotent-replayed"), None);
}

#[sqlx::test]
async fn concurrent_duplicates_run_once(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let body = json!({"title": "Pan Zhanle Triumphs", "body_markdown": "松弛感 ".repeat(2000)});
    let attempts = (0..8).map(|_| post_with_key(&app, "/v1/articles", &editor, "once", &body));
    let responses = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    for response in &responses {
        match response.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                response.assert_problem(StatusCode::CONFLICT, "idempotency-key-in-use");
                assert_eq!(response.header("retry-after"), Some("1"));
            }
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    assert!(created >= 1);
    assert_eq!(app.count("select count(*) from articles").await, 1);
    let replay = post_with_key(&app, "/v1/articles", &editor, "once", &body).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
}

#[sqlx::test]
async fn a_malformed_key_is_a_bad_request(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let long = "k".repeat(256);
    for key in ["", "two words", long.as_str()] {
        let response =
            post_with_key(&app, "/v1/tags", &editor, key, &json!({"name": "Music"})).await;
        response.assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    }
    assert_eq!(app.count("select count(*) from tags").await, 0);
}

#[sqlx::test]
async fn an_import_with_a_key_runs_once(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let lines = "{\"title\": \"One\"}\n{\"title\": \"Two\"}\n";
    let import = || {
        app.send(
            TestApp::request(Method::POST, "/v1/import", Some(&editor))
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .header("idempotency-key", "nightly-2026-12-01")
                .body(Body::from(lines))
                .expect("request"),
        )
    };
    let first = import().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.json()["created"], 2);
    let again = import().await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["created"], 2);
    assert_eq!(app.count("select count(*) from articles").await, 2);
    assert_eq!(app.count("select count(*) from article_revisions").await, 2);
}

#[sqlx::test]
async fn a_new_token_replays_to_its_caller_but_is_never_stored_readable(pool: PgPool) {
    let app = TestApp::new(pool);
    let email = "keys@example.com";
    app.create_user(email, Role::Editor).await;
    let session =
        |response: TestResponse| response.json()["token"].as_str().expect("token").to_owned();
    let first_session = session(app.login(email, crate::helpers::PASSWORD).await);
    let body = json!({"name": "nightly import", "role": "editor"});
    let created = post_with_key(&app, "/v1/tokens", &first_session, "token-1", &body).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let secret = created.json()["token"].as_str().expect("secret").to_owned();
    let replay = post_with_key(&app, "/v1/tokens", &first_session, "token-1", &body).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json()["token"], secret.as_str());
    assert_eq!(replay.header("cache-control"), Some("no-store"));
    let stored: Vec<u8> = sqlx::query_scalar("select body from idempotency_keys")
        .fetch_one(&app.pool)
        .await
        .expect("stored response");
    assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()));
    // Another session of the same user: same scope, but it cannot open the kept response.
    let second_session = session(app.login(email, crate::helpers::PASSWORD).await);
    let other = post_with_key(&app, "/v1/tokens", &second_session, "token-1", &body).await;
    other.assert_problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(app.count("select count(*) from api_tokens").await, 1);
}
