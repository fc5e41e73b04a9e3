//! The contract at the edges: input PostgreSQL cannot store, JSON of the wrong shape, odd
//! headers and timestamps are all clear 4xx problems that change nothing; secrets are never
//! echoed or cached; every response carries a Content-Security-Policy.

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use galley::accounts::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp};

#[sqlx::test]
async fn nul_characters_are_refused_before_they_reach_the_database(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;

    // Anonymously, in a JSON string and in query parameters.
    let login = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "a\u{0}@example.com", "password": "x"}),
        )
        .await;
    assert_eq!(login.assert_invalid_fields(), ["email"]);
    for query in [
        "tag=olympics%00",
        "author=%00",
        "language=en%00",
        "q=%E6%9D%BE%00",
    ] {
        let response = app.get(&format!("/v1/articles?{query}"), None).await;
        let body = response.assert_problem(StatusCode::BAD_REQUEST, "bad-request");
        assert!(
            body["detail"].as_str().expect("detail").contains("NUL"),
            "{body}"
        );
    }
    app.get("/v1/images?q=a%00", Some(&editor))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");

    // Inside an article: a tag, an author and a body text, each named by its path.
    let response = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "Pan Zhanle", "tags": [{"name": "松弛感\u{0}"}]}),
        )
        .await;
    assert_eq!(response.assert_invalid_fields(), ["tags[0].name"]);
    let response = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "Pan Zhanle", "body": [{"type": "paragraph", "children": [
                {"type": "text", "text": "gold"}, {"type": "text", "text": "\u{0}"}]}]}),
        )
        .await;
    assert_eq!(
        response.assert_invalid_fields(),
        ["body[0].children[1].text"]
    );
    // An object key holding NUL (an author's social network).
    let response = app
        .post(
            "/v1/authors",
            Some(&editor),
            json!({"name": "管静鹏", "social": {"x\u{0}": "https://x.com/g"}}),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("select count(*) from articles").await, 0);
    assert_eq!(app.count("select count(*) from tags").await, 0);
    assert_eq!(app.count("select count(*) from authors").await, 0);

    // In an import, the line fails alone.
    let lines = concat!(
        r#"{"title": "First", "tags": [{"name": "Music"}]}"#,
        "\n",
        r#"{"title": "Second", "authors": [{"name": "\u0000"}]}"#,
        "\n",
        r#"{"title": "Third"}"#,
        "\n"
    );
    let response = app
        .send(
            TestApp::request(Method::POST, "/v1/import", Some(&editor))
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .body(Body::from(lines))
                .expect("request"),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let report = response.json();
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["failed"], 1);
    assert_eq!(report["errors"][0]["line"], 2);
    assert_eq!(report["errors"][0]["errors"][0]["field"], "authors[0].name");
}

#[sqlx::test]
async fn arrays_are_never_read_as_objects(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let tag = app
        .post("/v1/tags", Some(&editor), json!({"name": "Olympics"}))
        .await;
    assert_eq!(tag.status, StatusCode::CREATED);

    let response = app
        .patch("/v1/tags/olympics", Some(&editor), json!(["Olympic Games"]))
        .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        app.get("/v1/tags/olympics", None).await.json()["name"],
        "Olympics"
    );

    for body in [
        json!({"title": "Seo", "seo": ["a title"]}),
        json!({"title": "Banner", "banner": ["0191f3a0-0000-7000-8000-000000000000"]}),
        json!({"title": "Block", "body": [["paragraph", [{"type": "text", "text": "x"}]]]}),
        json!({"title": "Byline", "authors": [["管静鹏"]]}),
        json!({"title": "Run", "body": [{"type": "paragraph", "children": [["text", "hi"]]}]}),
        json!({"title": "Item", "body": [{"type": "list", "format": "ordered",
               "children": [["list-item", [{"type": "text", "text": "a"}]]]}]}),
        json!({"title": "Link", "body": [{"type": "paragraph", "children": [
               {"type": "link", "url": "https://radii.co", "children": [["text", "hi"]]}]}]}),
    ] {
        let response = app.post("/v1/articles", Some(&editor), body.clone()).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {}",
            response.text()
        );
    }
    assert_eq!(app.count("select count(*) from articles").await, 0);
    assert_eq!(app.count("select count(*) from authors").await, 0);
}

#[sqlx::test]
async fn two_authorization_headers_are_a_bad_request(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let response = app
        .send(
            TestApp::request(Method::GET, "/v1/me", Some(&editor))
                .header(header::AUTHORIZATION, "Bearer glt_other")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    let body = response.assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("more than one Authorization")
    );
}

#[sqlx::test]
async fn timestamps_are_strict_rfc3339_with_four_digit_years(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let article = app
        .post("/v1/articles", Some(&editor), json!({"title": "Later"}))
        .await
        .json();
    let id = article["id"].as_str().expect("id");
    for at in [
        "+10000-01-01T00:00:00Z",
        "2030-01-01 00:00:00Z",
        "2030-01-01",
    ] {
        let response = app
            .post(
                &format!("/v1/articles/{id}/schedule"),
                Some(&editor),
                json!({ "publish_at": at }),
            )
            .await;
        assert_eq!(response.assert_invalid_fields(), ["publish_at"], "{at}");
    }
    let response = app
        .post(
            "/v1/tokens",
            Some(&editor),
            json!({"name": "far", "role": "reader", "expires_at": "+10000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(response.assert_invalid_fields(), ["expires_at"]);
    app.get("/v1/articles?published_after=2024-01-01%2000:00:00Z", None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    let working = app
        .get(&format!("/v1/articles/{id}?view=working"), Some(&editor))
        .await
        .json();
    assert_eq!(working["status"], "draft");
}

#[sqlx::test]
async fn request_headers_over_32_kib_are_431(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app
        .send(
            TestApp::request(Method::GET, "/v1/tags", None)
                .header("x-padding", "a".repeat(33 * 1024))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    response.assert_problem(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request-header-fields-too-large",
    );
    let fine = app
        .send(
            TestApp::request(Method::GET, "/v1/tags", None)
                .header("x-padding", "a".repeat(16 * 1024))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK);
}

#[sqlx::test]
async fn secrets_are_never_echoed_and_long_input_is_cut(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "a@example.com", "password": 918273645}),
        )
        .await;
    assert_eq!(response.assert_invalid_fields(), ["password"]);
    assert!(
        !response.text().contains("918273645"),
        "{}",
        response.text()
    );

    let admin = app.token_for(Role::Admin).await;
    let response = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"email": "e@example.com", "name": "E", "role": "editor",
                   "password": ["hunter2-secret-value"]}),
        )
        .await;
    assert!(!response.text().contains("hunter2"), "{}", response.text());

    let long_name = "x".repeat(1024 * 1024 - 100);
    let mut body = serde_json::Map::new();
    body.insert("name".into(), json!("Music"));
    body.insert(long_name, json!(1));
    let response = app
        .post("/v1/tags", Some(&admin), Value::Object(body))
        .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(response.body.len() < 2048, "{} bytes", response.body.len());
}

#[sqlx::test]
async fn common_passwords_are_refused_with_the_reason(pool: PgPool) {
    let app = TestApp::new(pool);
    let admin = app.token_for(Role::Admin).await;
    let response = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"email": "e@example.com", "name": "E", "role": "editor", "password": "password123"}),
        )
        .await;
    let body = response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(body["errors"][0]["field"], "password");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("commonly used"),
        "{body}"
    );
    let response = app
        .post(
            "/v1/me/password",
            Some(&admin),
            json!({"current_password": PASSWORD, "new_password": "Iloveyou1"}),
        )
        .await;
    assert_eq!(response.assert_invalid_fields(), ["new_password"]);
}

#[sqlx::test]
async fn every_response_has_a_csp_and_secrets_are_not_stored_by_caches(pool: PgPool) {
    let app = TestApp::new(pool);
    let tags = app.get("/v1/tags", None).await;
    assert_eq!(
        tags.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    let docs = app.get("/docs", None).await;
    let csp = docs.header("content-security-policy").expect("csp");
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");

    let editor_email = "secrets@example.com";
    app.create_user(editor_email, Role::Editor).await;
    let login = app.login(editor_email, PASSWORD).await;
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let token = login.json()["token"].as_str().expect("token").to_owned();
    let created = app
        .post(
            "/v1/tokens",
            Some(&token),
            json!({"name": "frontend", "role": "reader"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.header("cache-control"), Some("no-store"));
}

#[sqlx::test]
async fn a_malformed_if_match_is_a_bad_request(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    app.post("/v1/tags", Some(&editor), json!({"name": "Music"}))
        .await;
    for value in ["not-quoted", "\"ok\", bare", "W/"] {
        let response = app
            .send(
                TestApp::request(Method::PATCH, "/v1/tags/music", Some(&editor))
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::IF_MATCH, value)
                    .body(Body::from(r#"{"description": "x"}"#))
                    .expect("request"),
            )
            .await;
        response.assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    }
    assert!(app.get("/v1/tags/music", None).await.json()["description"].is_null());
    // An empty field is an empty list: no condition.
    let response = app
        .send(
            TestApp::request(Method::PATCH, "/v1/tags/music", Some(&editor))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::IF_MATCH, "")
                .body(Body::from(r#"{"description": "x"}"#))
                .expect("request"),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}
