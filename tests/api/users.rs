//! User administration: admin only, validation, last-admin guard, disabling revokes access.

use axum::http::StatusCode;
use galley::accounts::role::Role;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp};

#[sqlx::test]
async fn only_admins_manage_users(pool: PgPool) {
    let app = TestApp::new(pool);
    let target = app.create_user("target@example.com", Role::Author).await;
    let new_user = json!({"email": "new@example.com", "name": "New", "role": "author", "password": "long enough pw"});
    for role in [Role::Contributor, Role::Author, Role::Editor] {
        let token = app.token_for(role).await;
        app.get("/v1/users", Some(&token))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "forbidden");
        app.post("/v1/users", Some(&token), new_user.clone())
            .await
            .assert_problem(StatusCode::FORBIDDEN, "forbidden");
        app.get(&format!("/v1/users/{target}"), Some(&token))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "forbidden");
        app.patch(
            &format!("/v1/users/{target}"),
            Some(&token),
            json!({"role": "admin"}),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    app.get("/v1/users", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.post("/v1/users", None, new_user.clone())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let admin = app.token_for(Role::Admin).await;
    let created = app.post("/v1/users", Some(&admin), new_user).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/users/{id}").as_str())
    );
    assert_eq!(
        app.login("new@example.com", "long enough pw").await.status,
        StatusCode::OK
    );

    let list = app.get("/v1/users?limit=2", Some(&admin)).await;
    assert_eq!(list.status, StatusCode::OK);
    // target + one user per role above + this admin + the new user
    assert_eq!(list.json()["meta"]["total"], 6);
    assert_eq!(list.json()["data"].as_array().expect("data").len(), 2);
    assert!(list.json()["meta"]["next_cursor"].is_string());
}

#[sqlx::test]
async fn creating_a_user_validates_every_field(pool: PgPool) {
    let app = TestApp::new(pool);
    let admin = app.token_for(Role::Admin).await;
    let invalid = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"email": "not-an-email", "name": " ", "role": "reader", "password": "short"}),
        )
        .await;
    let mut fields = invalid.assert_invalid_fields();
    fields.sort();
    assert_eq!(fields, vec!["email", "name", "password", "role"]);
    let bad_role = app
        .post("/v1/users", Some(&admin), json!({"email": "a@example.com", "name": "A", "role": "overlord", "password": "long enough pw"}))
        .await;
    assert_eq!(bad_role.assert_invalid_fields(), vec!["role"]);

    app.create_user("taken@example.com", Role::Author).await;
    let duplicate = app
        .post("/v1/users", Some(&admin), json!({"email": "TAKEN@example.com", "name": "B", "role": "author", "password": "long enough pw"}))
        .await;
    duplicate.assert_problem(StatusCode::CONFLICT, "conflict");
    let no_author = app
        .post("/v1/users", Some(&admin), json!({"email": "c@example.com", "name": "C", "role": "author", "password": "long enough pw", "author_id": uuid::Uuid::now_v7()}))
        .await;
    assert_eq!(no_author.assert_invalid_fields(), vec!["author_id"]);
}

#[sqlx::test]
async fn disabling_a_user_revokes_sessions_and_tokens_on_the_next_request(pool: PgPool) {
    let app = TestApp::new(pool);
    let admin = app.token_for(Role::Admin).await;
    let id = app.create_user("leaver@example.com", Role::Editor).await;
    let session = app.login("leaver@example.com", PASSWORD).await.json()["token"]
        .as_str()
        .expect("t")
        .to_owned();
    let api_token = app.api_token(&session, "editor").await;
    assert_eq!(
        app.get("/v1/me", Some(&api_token)).await.status,
        StatusCode::OK
    );

    let disabled = app
        .patch(
            &format!("/v1/users/{id}"),
            Some(&admin),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text());
    assert_eq!(disabled.json()["disabled"], true);
    app.get("/v1/me", Some(&session))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/v1/me", Some(&api_token))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.login("leaver@example.com", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    // Re-enabling does not resurrect the revoked credentials.
    app.patch(
        &format!("/v1/users/{id}"),
        Some(&admin),
        json!({"disabled": false}),
    )
    .await;
    app.get("/v1/me", Some(&api_token))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        app.login("leaver@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[sqlx::test]
async fn a_role_change_applies_on_the_next_request(pool: PgPool) {
    let app = TestApp::new(pool);
    let admin = app.token_for(Role::Admin).await;
    let id = app.create_user("moving@example.com", Role::Editor).await;
    let session = app.login("moving@example.com", PASSWORD).await.json()["token"]
        .as_str()
        .expect("t")
        .to_owned();
    assert_eq!(
        app.post("/v1/tags", Some(&session), json!({"name": "Music"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let demoted = app
        .patch(
            &format!("/v1/users/{id}"),
            Some(&admin),
            json!({"role": "contributor"}),
        )
        .await;
    assert_eq!(demoted.json()["role"], "contributor");
    app.post("/v1/tags", Some(&session), json!({"name": "Film"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[sqlx::test]
async fn the_last_active_admin_cannot_be_demoted_or_disabled(pool: PgPool) {
    let app = TestApp::new(pool);
    let admin_id = app.create_user("only@example.com", Role::Admin).await;
    let admin = app.login("only@example.com", PASSWORD).await.json()["token"]
        .as_str()
        .expect("t")
        .to_owned();
    app.patch(
        &format!("/v1/users/{admin_id}"),
        Some(&admin),
        json!({"role": "editor"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");
    app.patch(
        &format!("/v1/users/{admin_id}"),
        Some(&admin),
        json!({"disabled": true}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");
    let role: String = sqlx::query_scalar("select role from users where id = $1")
        .bind(admin_id)
        .fetch_one(&app.pool)
        .await
        .expect("role");
    assert_eq!(role, "admin", "nothing changed");

    let other = app.create_user("second@example.com", Role::Admin).await;
    let demoted = app
        .patch(
            &format!("/v1/users/{other}"),
            Some(&admin),
            json!({"role": "editor"}),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK);
}

#[sqlx::test]
async fn updating_a_user_validates_and_honours_if_match(pool: PgPool) {
    let app = TestApp::new(pool);
    let admin = app.token_for(Role::Admin).await;
    let id = app.create_user("person@example.com", Role::Author).await;
    let path = format!("/v1/users/{id}");
    let invalid = app
        .patch(
            &path,
            Some(&admin),
            json!({"name": null, "email": "nope", "nickname": "x"}),
        )
        .await;
    assert_eq!(invalid.assert_invalid_fields(), vec!["nickname"]);
    let invalid = app
        .patch(&path, Some(&admin), json!({"name": null, "email": "nope"}))
        .await;
    let mut fields = invalid.assert_invalid_fields();
    fields.sort();
    assert_eq!(fields, vec!["email", "name"]);

    let etag = app
        .get(&path, Some(&admin))
        .await
        .header("etag")
        .expect("etag")
        .to_owned();
    let renamed = app
        .send(
            TestApp::request(axum::http::Method::PATCH, &path, Some(&admin))
                .header("content-type", "application/json")
                .header("if-match", &etag)
                .body(axum::body::Body::from(
                    json!({"name": "Renamed"}).to_string(),
                ))
                .expect("request"),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    let stale = app
        .send(
            TestApp::request(axum::http::Method::PATCH, &path, Some(&admin))
                .header("content-type", "application/json")
                .header("if-match", &etag)
                .body(axum::body::Body::from(json!({"name": "Again"}).to_string()))
                .expect("request"),
        )
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
    assert_eq!(app.get(&path, Some(&admin)).await.json()["name"], "Renamed");

    let reset = app
        .patch(&path, Some(&admin), json!({"password": "reset by admin"}))
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_eq!(
        app.login("person@example.com", "reset by admin")
            .await
            .status,
        StatusCode::OK
    );
    app.get(&format!("/v1/users/{}", uuid::Uuid::now_v7()), Some(&admin))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
}
