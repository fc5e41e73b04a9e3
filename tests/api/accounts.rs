//! Signing in and out, throttling, revocation on the next request, the current user.

use axum::http::StatusCode;
use galley::accounts::role::Role;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp};

#[sqlx::test]
async fn login_returns_a_session_token_and_the_user_without_secrets(pool: PgPool) {
    let app = TestApp::new(pool);
    app.create_user("Editor@Example.com", Role::Editor).await;
    // Emails match case-insensitively.
    let response = app.login("editor@example.COM", PASSWORD).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    let token = body["token"].as_str().expect("token");
    assert!(token.starts_with("gls_") && token.len() > 40, "{token}");
    assert_eq!(body["user"]["email"], "Editor@Example.com");
    assert_eq!(body["user"]["role"], "editor");
    assert!(body["user"]["last_login_at"].is_string());
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().expect("expiry"))
            .expect("rfc3339");
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((6.9..=7.0).contains(&days), "{days}");

    let me = app.get("/v1/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "Editor@Example.com");
    assert_eq!(me.header("cache-control"), Some("private, no-store"));

    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from sessions")
        .fetch_one(&app.pool)
        .await
        .expect("session row");
    assert_ne!(stored, token.as_bytes(), "only a hash is stored");
}

#[sqlx::test]
async fn unknown_email_and_wrong_password_get_the_same_401_for_the_same_work(pool: PgPool) {
    let app = TestApp::new(pool);
    app.create_user("known@example.com", Role::Author).await;
    let passwords = &app.state.passwords;

    let before = passwords.verifications();
    let wrong_password = app.login("known@example.com", "not the password").await;
    let after_wrong_password = passwords.verifications();
    let unknown_email = app.login("nobody@example.com", "not the password").await;
    let after_unknown_email = passwords.verifications();

    wrong_password.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    assert_eq!(wrong_password.body, unknown_email.body, "identical bodies");
    assert_eq!(unknown_email.status, StatusCode::UNAUTHORIZED);
    // Each runs exactly one Argon2 verification (the unknown email against a dummy hash), so
    // their time does not tell which emails have accounts; counted, not timed, so a loaded
    // machine cannot make this fail.
    assert_eq!(after_wrong_password - before, 1);
    assert_eq!(after_unknown_email - after_wrong_password, 1);
}

#[sqlx::test]
async fn repeated_failures_for_an_account_are_throttled_with_retry_after(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| c.login_failures_per_account = 3);
    app.create_user("target@example.com", Role::Author).await;
    for _ in 0..3 {
        app.login("target@example.com", "guess-guess")
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    }
    let throttled = app.login("TARGET@example.com", "guess-guess").await;
    throttled.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    let retry_after: u64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // Even the right password waits: the lock protects the account, not the guess.
    app.login("target@example.com", PASSWORD)
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");

    // Once the window has passed the account signs in again.
    sqlx::query("update login_failures set at = at - interval '1 hour'")
        .execute(&app.pool)
        .await
        .expect("age failures");
    assert_eq!(
        app.login("target@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[sqlx::test]
async fn repeated_failures_from_one_client_are_throttled_across_accounts(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| c.login_failures_per_client = 3);
    for i in 0..3 {
        app.login_from(
            "203.0.113.7",
            None,
            &format!("user{i}@example.com"),
            "guess-guess",
        )
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    }
    app.login_from("203.0.113.7", None, "other@example.com", "guess-guess")
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    // Another client is unaffected.
    app.login_from("198.51.100.2", None, "other@example.com", "guess-guess")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
}

#[sqlx::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| {
        c.login_failures_per_client = 2;
        c.trusted_proxies = vec!["10.0.0.0/8".parse().expect("net")];
    });
    for i in 0..2 {
        app.login_from(
            "10.0.0.1",
            Some("192.0.2.50"),
            &format!("a{i}@example.com"),
            "guess-guess",
        )
        .await;
    }
    // Behind the trusted proxy, 192.0.2.50 is throttled; a different forwarded client is not.
    app.login_from(
        "10.0.0.1",
        Some("192.0.2.50"),
        "b@example.com",
        "guess-guess",
    )
    .await
    .assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    app.login_from(
        "10.0.0.1",
        Some("192.0.2.51"),
        "b@example.com",
        "guess-guess",
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    // An untrusted peer cannot borrow (or dodge) an identity with the header.
    app.login_from(
        "203.0.113.9",
        Some("192.0.2.50"),
        "b@example.com",
        "guess-guess",
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
}

#[sqlx::test]
async fn logout_revokes_the_session_on_the_next_request(pool: PgPool) {
    let app = TestApp::new(pool);
    let token = app.token_for(Role::Editor).await;
    assert_eq!(app.get("/v1/me", Some(&token)).await.status, StatusCode::OK);
    let logout = app.post("/v1/auth/logout", Some(&token), json!({})).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    app.get("/v1/me", Some(&token))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // A revoked token on a public endpoint is still a 401, not an anonymous read.
    app.get("/v1/tags", Some(&token))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[sqlx::test]
async fn expired_invalid_and_malformed_credentials_are_401_never_anonymous(pool: PgPool) {
    let app = TestApp::new(pool);
    let token = app.token_for(Role::Editor).await;
    sqlx::query("update sessions set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .expect("expire");
    for bad in [
        token.as_str(),
        "gls_made-up",
        "glt_made-up",
        "something-else",
    ] {
        let response = app.get("/v1/authors", Some(bad)).await;
        response.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    let basic = app
        .send(
            axum::http::Request::get("/v1/authors")
                .header("authorization", "Basic dXNlcjpwYXNz")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    basic.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/v1/me", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[sqlx::test]
async fn changing_the_password_signs_out_other_sessions_only(pool: PgPool) {
    let app = TestApp::new(pool);
    app.create_user("writer@example.com", Role::Author).await;
    let first = app.login("writer@example.com", PASSWORD).await.json()["token"]
        .as_str()
        .expect("t")
        .to_owned();
    let second = app.login("writer@example.com", PASSWORD).await.json()["token"]
        .as_str()
        .expect("t")
        .to_owned();

    let wrong = app
        .post(
            "/v1/me/password",
            Some(&first),
            json!({"current_password": "nope-nope", "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(wrong.assert_invalid_fields(), vec!["current_password"]);
    let short = app
        .post(
            "/v1/me/password",
            Some(&first),
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(short.assert_invalid_fields(), vec!["new_password"]);

    let changed = app
        .post(
            "/v1/me/password",
            Some(&first),
            json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());
    assert_eq!(app.get("/v1/me", Some(&first)).await.status, StatusCode::OK);
    app.get("/v1/me", Some(&second))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.login("writer@example.com", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    assert_eq!(
        app.login("writer@example.com", "a brand new secret")
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test]
async fn login_validates_its_body(pool: PgPool) {
    let app = TestApp::new(pool);
    let missing = app
        .post("/v1/auth/login", None, json!({"email": "a@b.co"}))
        .await;
    assert_eq!(missing.assert_invalid_fields(), vec!["password"]);
    let extra = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "a@b.co", "password": "x", "remember": true}),
        )
        .await;
    assert_eq!(extra.assert_invalid_fields(), vec!["remember"]);
}

#[sqlx::test]
async fn the_bootstrap_admin_is_created_once_and_only_on_an_empty_database(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| {
        c.bootstrap_admin = Some(galley::config::BootstrapAdmin {
            email: "first@example.com".into(),
            name: "First Admin".into(),
            password: "bootstrap password".into(),
        });
    });
    galley::accounts::bootstrap_admin(&app.state)
        .await
        .expect("bootstrap");
    galley::accounts::bootstrap_admin(&app.state)
        .await
        .expect("idempotent");
    let count: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
    let login = app.login("first@example.com", "bootstrap password").await;
    assert_eq!(login.json()["user"]["role"], "admin");
}

#[sqlx::test]
async fn the_bootstrap_admin_is_not_created_when_users_exist(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| {
        c.bootstrap_admin = Some(galley::config::BootstrapAdmin {
            email: "first@example.com".into(),
            name: "First Admin".into(),
            password: "bootstrap password".into(),
        });
    });
    app.create_user("existing@example.com", Role::Admin).await;
    galley::accounts::bootstrap_admin(&app.state)
        .await
        .expect("bootstrap");
    app.login("first@example.com", "bootstrap password")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
}
