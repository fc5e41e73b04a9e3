//! Browser sessions (API.md §8): the token in an HttpOnly cookie, writes only with the CSRF
//! header and our Origin, never alongside a bearer token, and cleared at sign-out.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use galley::accounts::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, TestResponse};

const HOST: &str = "cms.example.com";
const ORIGIN: &str = "https://cms.example.com";

async fn sign_in(app: &TestApp, role: Role) -> (TestResponse, String) {
    let email = format!(
        "{}-{}@example.com",
        role.as_str(),
        uuid::Uuid::now_v7().simple()
    );
    app.create_user(&email, role).await;
    let response = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD, "session": "cookie"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let set = response
        .header("set-cookie")
        .expect("set-cookie")
        .to_owned();
    let pair = set.split(';').next().unwrap_or_default().to_owned();
    (response, pair)
}

/// A request as a browser sends it: the cookie, our Host, and the given extra headers.
async fn browser(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> TestResponse {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::COOKIE, format!("theme=dark; {cookie}"));
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    let request = match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request");
    app.send(request).await
}

#[sqlx::test]
async fn a_cookie_session_signs_in_without_a_token_any_script_could_read(pool: PgPool) {
    let app = TestApp::new(pool);
    let (response, cookie) = sign_in(&app, Role::Editor).await;
    let body = response.json();
    assert!(body.get("token").is_none(), "{body}");
    assert!(body["expires_at"].is_string() && body["user"]["role"] == "editor");
    let set = response.header("set-cookie").unwrap_or_default();
    assert!(cookie.starts_with("__Host-galley_session=gls_"), "{set}");
    for attribute in [
        "Path=/",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Max-Age=604800",
    ] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert_eq!(response.header("cache-control"), Some("no-store"));

    let me = browser(&app, Method::GET, "/v1/me", &cookie, &[], None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(me.json()["role"], "editor");
    assert_eq!(me.header("cache-control"), Some("private, no-store"));
    // Signed-in reads of public content are not public answers.
    let list = browser(&app, Method::GET, "/v1/articles", &cookie, &[], None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.header("cache-control"), Some("private, no-store"));
    assert!(list.header("surrogate-key").is_none());
}

#[sqlx::test]
async fn writes_need_the_csrf_header_and_our_origin(pool: PgPool) {
    let app = TestApp::new(pool);
    let (_, cookie) = sign_in(&app, Role::Editor).await;
    let tag = |name: &str| Some(json!({"name": name}));
    for (extra, why) in [
        (vec![("origin", ORIGIN)], "no CSRF header"),
        (vec![("x-galley-csrf", "1")], "no Origin"),
        (
            vec![("x-galley-csrf", "1"), ("origin", "https://evil.example")],
            "another site",
        ),
        (
            vec![
                ("x-galley-csrf", "1"),
                ("origin", "https://cms.example.com.evil.example"),
            ],
            "a look-alike",
        ),
    ] {
        let refused = browser(
            &app,
            Method::POST,
            "/v1/tags",
            &cookie,
            &extra,
            tag("Olympics"),
        )
        .await;
        refused.assert_problem(StatusCode::FORBIDDEN, "forbidden");
        assert!(refused.json()["detail"].as_str().is_some(), "{why}");
    }
    assert_eq!(
        app.count("select count(*) from tags").await,
        0,
        "nothing changed"
    );
    // A cross-origin read with the cookie is refused too.
    let foreign = browser(
        &app,
        Method::GET,
        "/v1/me",
        &cookie,
        &[("origin", "https://evil.example")],
        None,
    )
    .await;
    foreign.assert_problem(StatusCode::FORBIDDEN, "forbidden");

    let made = browser(
        &app,
        Method::POST,
        "/v1/tags",
        &cookie,
        &[("x-galley-csrf", "1"), ("origin", ORIGIN)],
        tag("松弛感"),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    assert_eq!(made.json()["name"], "松弛感");
}

#[sqlx::test]
async fn a_listed_cors_origin_may_write_with_the_cookie(pool: PgPool) {
    let app = TestApp::with_config(pool, |config| {
        config.cors_origins = vec!["https://desk.example.com".parse().expect("origin")];
    });
    let (_, cookie) = sign_in(&app, Role::Editor).await;
    let made = browser(
        &app,
        Method::POST,
        "/v1/tags",
        &cookie,
        &[
            ("x-galley-csrf", "1"),
            ("origin", "https://desk.example.com"),
        ],
        Some(json!({"name": "Music"})),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
}

#[sqlx::test]
async fn cookie_and_bearer_together_are_refused(pool: PgPool) {
    let app = TestApp::new(pool);
    let (_, cookie) = sign_in(&app, Role::Editor).await;
    let token = app.token_for(Role::Admin).await;
    let auth = format!("Bearer {token}");
    let both = browser(
        &app,
        Method::GET,
        "/v1/me",
        &cookie,
        &[("authorization", auth.as_str())],
        None,
    )
    .await;
    both.assert_problem(StatusCode::BAD_REQUEST, "bad-request");
}

#[sqlx::test]
async fn sign_out_clears_the_cookie_and_ends_the_session(pool: PgPool) {
    let app = TestApp::new(pool);
    let (_, cookie) = sign_in(&app, Role::Contributor).await;
    let write = [("x-galley-csrf", "1"), ("origin", ORIGIN)];
    let out = browser(&app, Method::POST, "/v1/auth/logout", &cookie, &write, None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text());
    let cleared = out.header("set-cookie").unwrap_or_default();
    assert!(
        cleared.starts_with("__Host-galley_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // The old cookie (a copy kept by anyone) no longer works, and says so.
    let after = browser(&app, Method::GET, "/v1/me", &cookie, &[], None).await;
    let problem = after.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("sign in again"),
        "{problem}"
    );
    let forged = browser(
        &app,
        Method::GET,
        "/v1/me",
        "__Host-galley_session=glt_x",
        &[],
        None,
    )
    .await;
    forged.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[sqlx::test]
async fn plain_http_deployments_name_the_cookie_without_secure(pool: PgPool) {
    let app = TestApp::with_config(pool, |config| config.cookie_secure = false);
    let (response, cookie) = sign_in(&app, Role::Editor).await;
    let set = response.header("set-cookie").unwrap_or_default();
    assert!(cookie.starts_with("galley_session=gls_"), "{set}");
    assert!(!set.contains("Secure"), "{set}");
    let me = browser(&app, Method::GET, "/v1/me", &cookie, &[], None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
}

#[sqlx::test]
async fn a_session_kind_other_than_token_or_cookie_is_a_422(pool: PgPool) {
    let app = TestApp::new(pool);
    let email = "someone@example.com";
    app.create_user(email, Role::Editor).await;
    let response = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD, "session": "jar"}),
        )
        .await;
    assert!(response.status.is_client_error(), "{}", response.text());
    assert!(response.header("set-cookie").is_none());
}
