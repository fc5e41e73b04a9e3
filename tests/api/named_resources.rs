//! Rules authors and tags share: slugs, addressing by id or slug, role checks, paging,
//! sorting, ETags and caching, If-Match. Each test runs against both resources.

use axum::{
    body::Body,
    http::{Method, StatusCode},
};
use galley::accounts::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::TestApp;

const RESOURCES: [&str; 2] = ["/v1/authors", "/v1/tags"];

async fn create(app: &TestApp, token: &str, base: &str, body: Value) -> Value {
    let response = app.post(base, Some(token), body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()
}

#[sqlx::test]
async fn slugs_are_transliterated_made_unique_and_explicit_duplicates_are_409(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for base in RESOURCES {
        let first = create(&app, &editor, base, json!({"name": "管静鹏"})).await;
        assert_eq!(first["slug"], "guan-jing-peng");
        assert_eq!(first["name"], "管静鹏");
        let second = create(&app, &editor, base, json!({"name": "Guan Jing-Peng"})).await;
        assert_eq!(second["slug"], "guan-jing-peng-2");
        let third = create(&app, &editor, base, json!({"name": "管 静 鹏"})).await;
        assert_eq!(third["slug"], "guan-jing-peng-3");
        let emoji = create(&app, &editor, base, json!({"name": "🎵🎵"})).await;
        assert!(
            emoji["slug"]
                .as_str()
                .expect("slug")
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit())
        );

        app.post(
            base,
            Some(&editor),
            json!({"name": "Other", "slug": "guan-jing-peng"}),
        )
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");
        let bad = app
            .post(
                base,
                Some(&editor),
                json!({"name": "Other", "slug": "Not A Slug"}),
            )
            .await;
        assert_eq!(bad.assert_invalid_fields(), vec!["slug"]);
        let explicit = create(
            &app,
            &editor,
            base,
            json!({"name": "Olympics", "slug": "paris-2024"}),
        )
        .await;
        assert_eq!(explicit["slug"], "paris-2024");

        // Renaming keeps the URL; changing the slug to a taken one is a conflict.
        let renamed = app
            .patch(
                &format!("{base}/paris-2024"),
                Some(&editor),
                json!({"name": "Paris Olympics"}),
            )
            .await;
        assert_eq!(renamed.json()["slug"], "paris-2024");
        app.patch(
            &format!("{base}/paris-2024"),
            Some(&editor),
            json!({"slug": "guan-jing-peng"}),
        )
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");
        let moved = app
            .patch(
                &format!("{base}/paris-2024"),
                Some(&editor),
                json!({"slug": "olympics"}),
            )
            .await;
        assert_eq!(moved.json()["slug"], "olympics");
    }
}

#[sqlx::test]
async fn resources_are_addressable_by_id_or_slug_and_missing_ones_are_404(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for base in RESOURCES {
        let created = create(&app, &editor, base, json!({"name": "Music"})).await;
        let id = created["id"].as_str().expect("id");
        let by_id = app.get(&format!("{base}/{id}"), None).await;
        let by_slug = app.get(&format!("{base}/music"), None).await;
        assert_eq!(by_id.status, StatusCode::OK);
        assert_eq!(by_id.body, by_slug.body);
        assert_eq!(by_id.json()["article_count"], 0);
        app.get(&format!("{base}/no-such-thing"), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
        app.get(&format!("{base}/{}", uuid::Uuid::now_v7()), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
        app.get(&format!("{base}/Not%20A%20Slug"), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
}

#[sqlx::test]
async fn only_editors_and_admins_write(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for base in RESOURCES {
        let existing = create(&app, &editor, base, json!({"name": "Existing"})).await;
        let item = format!("{base}/{}", existing["slug"].as_str().expect("slug"));
        for role in [Role::Contributor, Role::Author] {
            let token = app.token_for(role).await;
            app.post(base, Some(&token), json!({"name": "X"}))
                .await
                .assert_problem(StatusCode::FORBIDDEN, "forbidden");
            app.patch(&item, Some(&token), json!({"name": "X"}))
                .await
                .assert_problem(StatusCode::FORBIDDEN, "forbidden");
            app.delete(&item, Some(&token))
                .await
                .assert_problem(StatusCode::FORBIDDEN, "forbidden");
        }
        app.post(base, None, json!({"name": "X"}))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        app.patch(&item, None, json!({"name": "X"}))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        app.delete(&item, None)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

        let admin = app.token_for(Role::Admin).await;
        assert_eq!(
            app.post(base, Some(&admin), json!({"name": "By Admin"}))
                .await
                .status,
            StatusCode::CREATED
        );
        assert_eq!(
            app.patch(&item, Some(&editor), json!({"name": "Edited"}))
                .await
                .status,
            StatusCode::OK
        );
        let total_before = app.get(base, None).await.json()["meta"]["total"].as_i64();
        assert_eq!(
            app.delete(&item, Some(&editor)).await.status,
            StatusCode::NO_CONTENT
        );
        app.get(&item, None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
        let total_after = app.get(base, None).await.json()["meta"]["total"].as_i64();
        assert_eq!(
            total_after,
            total_before.map(|t| t - 1),
            "totals follow deletes"
        );
        app.delete(&item, Some(&editor))
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
}

#[sqlx::test]
async fn lists_page_by_cursor_and_by_page_with_totals(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let names = [
        "Delta",
        "alpha",
        "Charlie",
        "Bravo",
        "Echo",
        "松弛感",
        "我的阿勒泰",
    ];
    for base in RESOURCES {
        for name in names {
            create(&app, &editor, base, json!({"name": name})).await;
        }
        // Walk every page by cursor: each item exactly once, in order.
        let mut seen = Vec::new();
        let mut url = format!("{base}?limit=3&sort=-created_at");
        loop {
            let page = app.get(&url, None).await.json();
            assert_eq!(page["meta"]["total"], names.len());
            assert_eq!(page["meta"]["limit"], 3);
            for item in page["data"].as_array().expect("data") {
                seen.push(item["name"].as_str().expect("name").to_owned());
            }
            match page["meta"]["next_cursor"].as_str() {
                Some(cursor) => url = format!("{base}?limit=3&sort=-created_at&cursor={cursor}"),
                None => break,
            }
        }
        let mut expected: Vec<String> = names.iter().rev().map(|s| s.to_string()).collect();
        assert_eq!(seen, expected);

        let page2 = app
            .get(&format!("{base}?limit=3&page=2&sort=-created_at"), None)
            .await
            .json();
        assert_eq!(page2["meta"]["page"], 2);
        assert!(page2["meta"]["next_cursor"].is_null());
        let page2_names: Vec<&str> = page2["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|i| i["name"].as_str().expect("n"))
            .collect();
        assert_eq!(
            page2_names,
            expected[3..6]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );

        // Default sort is by name.
        let by_name = app.get(base, None).await.json();
        let listed: Vec<&str> = by_name["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|i| i["name"].as_str().expect("n"))
            .collect();
        expected.sort();
        assert_eq!(
            listed,
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(by_name["meta"]["limit"], 20);
        assert!(by_name["meta"]["next_cursor"].is_null());
        // Lists never include body-only fields such as an author's email for the public.
        assert!(by_name["data"][0].get("email").is_none());
    }
}

#[sqlx::test]
async fn list_parameters_are_validated_and_limit_is_clamped(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for base in RESOURCES {
        for i in 0..3 {
            create(&app, &editor, base, json!({"name": format!("Item {i}")})).await;
        }
        assert_eq!(
            app.get(&format!("{base}?limit=1000"), None).await.json()["meta"]["limit"],
            100
        );
        for bad in [
            "limit=0",
            "limit=-1",
            "page=0",
            "sort=title",
            "sort=name,name",
            "cursor=%21%21",
            "cursor=abc&page=2",
            "colour=red",
        ] {
            app.get(&format!("{base}?{bad}"), None)
                .await
                .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
        }
        // A cursor made for one sort cannot be used with another.
        let cursor = app.get(&format!("{base}?limit=1"), None).await.json()["meta"]["next_cursor"]
            .as_str()
            .expect("cursor")
            .to_owned();
        app.get(
            &format!("{base}?limit=1&sort=-created_at&cursor={cursor}"),
            None,
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
        for sort in [
            "article_count",
            "-article_count",
            "created_at",
            "-name",
            "article_count,-name",
        ] {
            assert_eq!(
                app.get(&format!("{base}?sort={sort}"), None).await.status,
                StatusCode::OK,
                "{sort}"
            );
        }
    }
}

#[sqlx::test]
async fn gets_carry_strong_etags_and_answer_304_until_the_resource_changes(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for base in RESOURCES {
        create(&app, &editor, base, json!({"name": "Film"})).await;
        for path in [format!("{base}/film"), base.to_owned()] {
            let first = app.get(&path, None).await;
            let etag = first.header("etag").expect("etag").to_owned();
            assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
            assert_eq!(
                first.header("cache-control"),
                Some("public, max-age=60, stale-while-revalidate=300, stale-if-error=86400")
            );
            assert_eq!(first.header("vary"), Some("Authorization, Accept-Encoding"));
            let cached = app
                .send(
                    TestApp::request(Method::GET, &path, None)
                        .header("if-none-match", &etag)
                        .body(Body::empty())
                        .expect("req"),
                )
                .await;
            assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
            assert!(cached.body.is_empty());
            assert_eq!(cached.header("etag"), Some(etag.as_str()));

            let signed_in = app.get(&path, Some(&editor)).await;
            assert_eq!(signed_in.header("cache-control"), Some("private, no-store"));
            assert!(signed_in.header("etag").is_some());
        }
        let before = app
            .get(&format!("{base}/film"), None)
            .await
            .header("etag")
            .expect("etag")
            .to_owned();
        app.patch(
            &format!("{base}/film"),
            Some(&editor),
            json!({"name": "Cinema"}),
        )
        .await;
        let after = app
            .send(
                TestApp::request(Method::GET, &format!("{base}/film"), None)
                    .header("if-none-match", &before)
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
        assert_eq!(after.status, StatusCode::OK);
        assert_ne!(after.header("etag"), Some(before.as_str()));
    }
}

#[sqlx::test]
async fn writes_with_a_stale_if_match_are_412_and_change_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for base in RESOURCES {
        create(&app, &editor, base, json!({"name": "Books"})).await;
        let path = format!("{base}/books");
        let etag = app
            .get(&path, Some(&editor))
            .await
            .header("etag")
            .expect("etag")
            .to_owned();
        let with_if_match = |method: Method, etag: &str, body: Option<Value>| {
            let builder = TestApp::request(method, &path, Some(&editor)).header("if-match", etag);
            match body {
                Some(body) => builder
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string())),
                None => builder.body(Body::empty()),
            }
            .expect("request")
        };
        let ok = app
            .send(with_if_match(
                Method::PATCH,
                &etag,
                Some(json!({"name": "Literature"})),
            ))
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
        app.send(with_if_match(
            Method::PATCH,
            &etag,
            Some(json!({"name": "Lost update"})),
        ))
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
        app.send(with_if_match(Method::DELETE, &etag, None))
            .await
            .assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
        assert_eq!(app.get(&path, None).await.json()["name"], "Literature");
        let fresh = app
            .get(&path, Some(&editor))
            .await
            .header("etag")
            .expect("etag")
            .to_owned();
        assert_eq!(
            app.send(with_if_match(Method::DELETE, &fresh, None))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
}

#[sqlx::test]
async fn names_must_be_present_and_text_round_trips_byte_for_byte(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let name = "White+’s Wang Xu — 我的阿勒泰 «Café» e\u{301}";
    for base in RESOURCES {
        for bad in [
            json!({}),
            json!({"name": ""}),
            json!({"name": "   "}),
            json!({"name": "x".repeat(201)}),
            json!({"name": "a\u{0007}b"}),
        ] {
            let response = app.post(base, Some(&editor), bad.clone()).await;
            assert_eq!(response.assert_invalid_fields(), vec!["name"], "{bad}");
        }
        let created = create(&app, &editor, base, json!({"name": name})).await;
        let fetched = app
            .get(
                &format!("{base}/{}", created["id"].as_str().expect("id")),
                None,
            )
            .await
            .json();
        assert_eq!(fetched["name"], name);
        let null_name = app
            .patch(
                &format!("{base}/{}", created["slug"].as_str().expect("slug")),
                Some(&editor),
                json!({"name": null}),
            )
            .await;
        assert_eq!(null_name.assert_invalid_fields(), vec!["name"]);
    }
}
