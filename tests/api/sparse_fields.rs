//! Sparse fieldsets (`fields=`) and `include=` on reads, lists and the change feed, and the
//! derived `body_text`: only the named members, validated names, distinct ETags and cache
//! entries per shape.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, TestResponse};
use crate::images::uploaded;
use galley::accounts::role::Role;

fn keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn names(list: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = list.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

/// A published article with a paragraph and a link, a list and an image, bylined and tagged.
async fn published(app: &TestApp, editor: &str) -> Value {
    let image = uploaded(app, editor, 200, "Photo by Lil Cany 小叶.").await;
    let made = app
        .post(
            "/v1/articles",
            Some(editor),
            json!({
                "title": "松弛感 at the Olympics",
                "excerpt": "Pan Zhanle swam relaxed.",
                "authors": [{"name": "管静鹏"}],
                "tags": [{"name": "Olympics"}],
                "body": [
                    {"type": "paragraph", "children": [{"type": "text", "text": "Pan Zhanle swam with "},
                        {"type": "link", "url": "https://example.com", "children": [{"type": "text", "text": "松弛感"}]}, {"type": "text", "text": "."}]},
                    {"type": "list", "format": "unordered", "children": [
                        {"type": "list-item", "children": [{"type": "text", "text": "Gold"}]},
                        {"type": "list-item", "children": [{"type": "text", "text": "World record"}]}]},
                    {"type": "image", "image_id": image["id"], "caption": "At the wall"},
                    {"type": "divider"}
                ],
                "status": "published"
            }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    made.json()
}

const BODY_TEXT: &str =
    "Pan Zhanle swam with 松弛感.\n\nGold\nWorld record\n\nAt the wall Photo by Lil Cany 小叶.";

#[sqlx::test]
async fn lists_and_reads_return_only_the_named_members(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let article = published(&app, &editor).await;
    let slug = article["slug"].as_str().expect("slug");

    let list = app
        .get("/v1/articles?fields=slug,title,authors", None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let item = &list.json()["data"][0];
    assert_eq!(keys(item), names(&["id", "slug", "title", "authors"]));
    assert_eq!(item["authors"][0]["name"], "管静鹏");
    assert_eq!(list.json()["meta"]["total"], 1);

    let text = app
        .get("/v1/articles?fields=title&include=body_text", None)
        .await
        .json();
    assert_eq!(keys(&text["data"][0]), names(&["id", "title", "body_text"]));
    assert_eq!(text["data"][0]["body_text"], BODY_TEXT);

    let html_only = app.get("/v1/articles?include=body_html", None).await.json();
    let item = &html_only["data"][0];
    assert!(
        item.get("body").is_none() && item["body_html"].as_str().is_some(),
        "{item}"
    );
    assert!(
        item.get("excerpt").is_some(),
        "the default members stay: {item}"
    );

    let one = app
        .get(
            &format!("/v1/articles/{slug}?fields=title,banner,body_text"),
            None,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text());
    assert_eq!(
        keys(&one.json()),
        names(&["id", "title", "banner", "body_text"])
    );
    assert_eq!(one.json()["body_text"], BODY_TEXT);
    let whole = app.get(&format!("/v1/articles/{slug}"), None).await.json();
    assert!(whole.get("body_text").is_none() && whole.get("body").is_some());

    let working = app
        .get(
            &format!("/v1/articles/{slug}?view=working&fields=status,version,body_text"),
            Some(&editor),
        )
        .await;
    assert_eq!(
        keys(&working.json()),
        names(&["id", "status", "version", "body_text"])
    );
    assert_eq!(working.json()["body_text"], BODY_TEXT);
    // The ETag of a cut copy still names its version: a write can say which one it changes.
    let etag = working.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with("\"v1-"), "{etag}");
    let patched = app
        .send(
            TestApp::request(
                Method::PATCH,
                &format!("/v1/articles/{slug}"),
                Some(&editor),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::IF_MATCH, &etag)
            .body(json!({"subtitle": "Paris 2024"}).to_string().into())
            .expect("request"),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let working_list = app
        .get(
            "/v1/articles?view=working&fields=title,has_unpublished_changes",
            Some(&editor),
        )
        .await
        .json();
    assert_eq!(
        working_list["data"][0],
        json!({"id": article["id"], "title": "松弛感 at the Olympics", "has_unpublished_changes": true})
    );

    let author = app
        .get("/v1/authors?fields=name,article_count", None)
        .await
        .json();
    assert_eq!(
        author["data"][0],
        json!({"id": article["authors"][0]["id"], "name": "管静鹏", "article_count": 1})
    );
    let tag = app.get("/v1/tags/olympics?fields=slug", None).await.json();
    assert_eq!(keys(&tag), names(&["id", "slug"]));
    let image_id = article["body"][2]["image_id"].as_str().expect("image");
    let image = app
        .get(&format!("/v1/images/{image_id}?fields=alt,credit"), None)
        .await
        .json();
    assert_eq!(
        image,
        json!({"id": image_id, "alt": null, "credit": "Photo by Lil Cany 小叶."})
    );
    let library = app
        .get("/v1/images?fields=width", Some(&editor))
        .await
        .json();
    assert_eq!(library["data"][0], json!({"id": image_id, "width": 200}));
}

#[sqlx::test]
async fn unknown_names_are_a_400_that_lists_the_allowed_ones(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for path in [
        "/v1/articles?fields=titel",
        "/v1/articles?include=bodies",
        "/v1/articles/x?fields=title,password",
        "/v1/authors?fields=bio,avatar_url",
        "/v1/tags/x?fields=nope",
        "/v1/changes?fields=nope",
        "/v1/images?fields=storage_key",
    ] {
        let refused: TestResponse = app.get(path, Some(&editor)).await;
        let problem = refused.assert_problem(StatusCode::BAD_REQUEST, "bad-request");
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains("allowed:"),
            "{path}: {problem}"
        );
    }
}

#[sqlx::test]
async fn each_shape_has_its_own_etag_and_cache_entry(pool: PgPool) {
    let app = TestApp::with_live_cache(pool);
    let editor = app.token_for(Role::Editor).await;
    published(&app, &editor).await;
    let whole = app.get("/v1/articles", None).await;
    let cut = app.get("/v1/articles?fields=title", None).await;
    let cut_again = app.get("/v1/articles?fields=title", None).await;
    assert_eq!(cut.text(), cut_again.text());
    assert_ne!(whole.header("etag"), cut.header("etag"));
    assert_eq!(cut.header("etag"), cut_again.header("etag"));
    let not_modified = app
        .send(
            TestApp::request(Method::GET, "/v1/articles?fields=title", None)
                .header(header::IF_NONE_MATCH, cut.header("etag").expect("etag"))
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(whole.json()["data"][0].get("excerpt").is_some());
    assert_eq!(keys(&cut.json()["data"][0]), names(&["id", "title"]));
}

#[sqlx::test]
async fn the_change_feed_cuts_article_objects_and_keeps_the_others_whole(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    published(&app, &editor).await;
    let feed = app
        .get(
            "/v1/changes?fields=title&include=body_text&limit=1000",
            None,
        )
        .await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text());
    let entries = feed.json()["data"].as_array().expect("data").clone();
    let article = entries
        .iter()
        .find(|e| e["type"] == "article")
        .expect("article entry");
    assert_eq!(
        keys(&article["object"]),
        names(&["id", "title", "body_text"])
    );
    assert_eq!(article["object"]["body_text"], BODY_TEXT);
    let author = entries
        .iter()
        .find(|e| e["type"] == "author")
        .expect("author entry");
    assert_eq!(author["object"]["name"], "管静鹏");
    assert!(author["object"].get("slug").is_some(), "{author}");
}
