//! The admin client served at /admin from the build embedded in the binary, and what the API
//! gained for it.

use axum::http::StatusCode;
use galley::accounts::role::Role;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test]
async fn the_admin_is_served_with_its_policy_and_cache_rules(pool: PgPool) {
    let app = TestApp::new(pool);
    let bare = app.get("/admin", None).await;
    assert_eq!(bare.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.header("location"), Some("/admin/"));

    let page = app.get("/admin/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let csp = page.header("content-security-policy").unwrap_or_default();
    for directive in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "default-src 'none'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} missing: {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = page.text();
    assert!(!html.contains("<script>"), "no inline script: {html}");

    // Every path of the app is the page; the app routes it.
    let deep = app
        .get("/admin/articles/0191a5a0-0000-7000-8000-000000000001", None)
        .await;
    assert_eq!(deep.status, StatusCode::OK);
    assert_eq!(deep.text(), html);

    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script");
    assert!(
        script.starts_with("/admin/assets/") && script.ends_with(".js"),
        "{script}"
    );
    let asset = app.get(script, None).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(
        asset.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(asset.body.len() > 1000);

    let stale = app.get("/admin/assets/index-gone.js", None).await;
    stale.assert_problem(StatusCode::NOT_FOUND, "not-found");
}

#[sqlx::test]
async fn working_lists_filter_on_unpublished_changes(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let mut ids = Vec::new();
    for title in ["松弛感 at the Olympics", "我的阿勒泰", "A draft"] {
        let made = app
            .post(
                "/v1/articles",
                Some(&editor),
                json!({"title": title, "status": if title == "A draft" { "draft" } else { "published" }}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
        ids.push(made.json()["id"].as_str().unwrap_or_default().to_owned());
    }
    let edited = app
        .patch(
            &format!("/v1/articles/{}", ids[0]),
            Some(&editor),
            json!({"subtitle": "Edited after publishing"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text());

    let titles = |body: serde_json::Value| -> Vec<String> {
        body["data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|a| a["title"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let changed = app
        .get(
            "/v1/articles?view=working&has_unpublished_changes=true",
            Some(&editor),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let changed = changed.json();
    assert_eq!(titles(changed.clone()), ["松弛感 at the Olympics"]);
    assert_eq!(changed["meta"]["total"], 1);
    assert_eq!(changed["data"][0]["has_unpublished_changes"], true);
    let mut rest = titles(
        app.get(
            "/v1/articles?view=working&has_unpublished_changes=false",
            Some(&editor),
        )
        .await
        .json(),
    );
    rest.sort();
    assert_eq!(rest, ["A draft", "我的阿勒泰"]);
    app.get("/v1/articles?has_unpublished_changes=true", None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
}

#[sqlx::test]
async fn author_and_tag_lists_find_names_by_a_part(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for name in [
        "Olympics",
        "Olympic Swimming",
        "Music",
        "松弛感",
        "100% Pure_Joy",
    ] {
        let made = app
            .post("/v1/tags", Some(&editor), json!({"name": name}))
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    }
    for name in ["管静鹏", "Guan Jingpeng", "RADII Staff"] {
        let made = app
            .post("/v1/authors", Some(&editor), json!({"name": name}))
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    }
    let names = |path: &str| {
        let app = &app;
        let path = path.to_owned();
        async move {
            let page = app.get(&path, None).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text());
            let body = page.json();
            let names: Vec<String> = body["data"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (names, body["meta"]["total"].as_i64().unwrap_or(-1))
        }
    };
    assert_eq!(
        names("/v1/tags?q=OLYMP").await,
        (
            vec!["Olympic Swimming".to_owned(), "Olympics".to_owned()],
            2
        )
    );
    assert_eq!(
        names("/v1/tags?q=%E6%9D%BE%E5%BC%9B").await,
        (vec!["松弛感".to_owned()], 1)
    );
    // Wildcards are letters here.
    assert_eq!(
        names("/v1/tags?q=%25").await,
        (vec!["100% Pure_Joy".to_owned()], 1)
    );
    assert_eq!(
        names("/v1/tags?q=_j").await,
        (vec!["100% Pure_Joy".to_owned()], 1)
    );
    // The slug matches too: 管静鹏 is guan-jing-peng.
    let (authors, total) = names("/v1/authors?q=guan&limit=1").await;
    assert_eq!((authors.len(), total), (1, 2));
    assert_eq!(names("/v1/tags?q=").await.1, 5);
    app.get(&format!("/v1/tags?q={}", "x".repeat(101)), None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    app.get("/v1/tags?name=x", None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
}
