//! API tokens: shown once, hashed, listed without secrets, role-capped, revocable.

use axum::http::StatusCode;
use galley::accounts::role::Role;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test]
async fn a_token_is_shown_once_and_listed_without_its_secret(pool: PgPool) {
    let app = TestApp::new(pool);
    let session = app.token_for(Role::Editor).await;
    let created = app
        .post(
            "/v1/tokens",
            Some(&session),
            json!({"name": "web frontend", "role": "reader"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let body = created.json();
    let secret = body["token"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("glt_"));
    assert_eq!(body["role"], "reader");
    assert!(body["last_used_at"].is_null());
    let id = body["id"].as_str().expect("id").to_owned();

    let list = app.get("/v1/tokens", Some(&session)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.text().contains(&secret));
    let listed = &list.json()["data"][0];
    assert_eq!(listed["id"], id.as_str());
    assert!(listed.get("token").is_none());
    assert!(listed["last_used_at"].is_null());

    // Using the token records when it was last used.
    assert_eq!(
        app.get("/v1/me", Some(&secret)).await.status,
        StatusCode::OK
    );
    let list = app.get("/v1/tokens", Some(&session)).await;
    assert!(list.json()["data"][0]["last_used_at"].is_string());

    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from api_tokens")
        .fetch_one(&app.pool)
        .await
        .expect("row");
    assert_eq!(stored.len(), 32, "a SHA-256, not the token");
}

#[sqlx::test]
async fn a_token_cannot_outrank_its_creator(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    app.post(
        "/v1/tokens",
        Some(&author),
        json!({"name": "x", "role": "editor"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.post(
            "/v1/tokens",
            Some(&author),
            json!({"name": "x", "role": "author"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let contributor = app.token_for(Role::Contributor).await;
    assert_eq!(
        app.post(
            "/v1/tokens",
            Some(&contributor),
            json!({"name": "x", "role": "reader"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    app.post("/v1/tokens", None, json!({"name": "x", "role": "reader"}))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let invalid = app
        .post(
            "/v1/tokens",
            Some(&author),
            json!({"name": "", "role": "reader", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    let mut fields = invalid.assert_invalid_fields();
    fields.sort();
    assert_eq!(fields, vec!["expires_at", "name"]);
}

#[sqlx::test]
async fn a_token_acts_with_the_lower_of_its_role_and_its_creators_current_role(pool: PgPool) {
    let app = TestApp::new(pool);
    let admin = app.token_for(Role::Admin).await;
    let editor_id = app.create_user("ed@example.com", Role::Editor).await;
    let session = app
        .login("ed@example.com", crate::helpers::PASSWORD)
        .await
        .json()["token"]
        .as_str()
        .expect("t")
        .to_owned();
    let token = app.api_token(&session, "editor").await;
    assert_eq!(
        app.post("/v1/tags", Some(&token), json!({"name": "Olympics"}))
            .await
            .status,
        StatusCode::CREATED
    );
    app.patch(
        &format!("/v1/users/{editor_id}"),
        Some(&admin),
        json!({"role": "author"}),
    )
    .await;
    app.post("/v1/tags", Some(&token), json!({"name": "Music"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[sqlx::test]
async fn revoking_a_token_takes_effect_on_the_next_request(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = app.token_for(Role::Editor).await;
    let created = app
        .post(
            "/v1/tokens",
            Some(&owner),
            json!({"name": "script", "role": "editor"}),
        )
        .await
        .json();
    let (id, secret) = (
        created["id"].as_str().expect("id").to_owned(),
        created["token"].as_str().expect("t").to_owned(),
    );

    // Someone else's token is invisible to a non-admin.
    let stranger = app.token_for(Role::Editor).await;
    app.delete(&format!("/v1/tokens/{id}"), Some(&stranger))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(
        app.get("/v1/tokens", Some(&stranger)).await.json()["meta"]["total"],
        0
    );
    app.get(
        &format!("/v1/tokens?user_id={}", uuid::Uuid::now_v7()),
        Some(&stranger),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");

    assert_eq!(
        app.get("/v1/me", Some(&secret)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/v1/tokens/{id}"), Some(&owner))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.get("/v1/me", Some(&secret))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.delete(&format!("/v1/tokens/{id}"), Some(&owner))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
}

#[sqlx::test]
async fn admins_see_and_revoke_anyones_tokens(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = app.token_for(Role::Author).await;
    let id = app
        .post(
            "/v1/tokens",
            Some(&owner),
            json!({"name": "script", "role": "author"}),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let admin = app.token_for(Role::Admin).await;
    assert_eq!(
        app.get("/v1/tokens", Some(&admin)).await.json()["meta"]["total"],
        1
    );
    assert_eq!(
        app.delete(&format!("/v1/tokens/{id}"), Some(&admin))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[sqlx::test]
async fn an_expired_token_is_401(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = app.token_for(Role::Editor).await;
    let secret = app
        .post(
            "/v1/tokens",
            Some(&owner),
            json!({"name": "short-lived", "role": "reader", "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await
        .json()["token"]
        .as_str()
        .expect("t")
        .to_owned();
    assert_eq!(
        app.get("/v1/tags", Some(&secret)).await.status,
        StatusCode::OK
    );
    sqlx::query("update api_tokens set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .expect("expire");
    app.get("/v1/tags", Some(&secret))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[sqlx::test]
async fn with_public_read_off_reads_need_a_token_and_a_reader_token_suffices(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| c.public_read = false);
    let editor = app.token_for(Role::Editor).await;
    let reader = app.api_token(&editor, "reader").await;
    app.get("/v1/tags", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/v1/authors/anyone", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        app.get("/v1/tags", Some(&reader)).await.status,
        StatusCode::OK
    );
    app.post("/v1/tags", Some(&reader), json!({"name": "x"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        "/v1/tokens",
        Some(&reader),
        json!({"name": "x", "role": "reader"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    // Liveness and the contract stay public.
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}
