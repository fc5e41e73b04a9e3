//! Articles: working and live copies, publishing, visibility, validation, roles, embeds.

use axum::{
    body::Body,
    http::{Method, StatusCode},
};
use galley::accounts::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    helpers::{PASSWORD, TestApp},
    images::{file, jpeg, upload},
};

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post("/v1/articles", Some(token), body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()
}

async fn action(app: &TestApp, token: &str, id: &str, action: &str) -> Value {
    let response = app
        .post(
            &format!("/v1/articles/{id}/{action}"),
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

async fn image(app: &TestApp, token: &str, credit: &str) -> String {
    let response = upload(
        app,
        Some(token),
        vec![
            file("x.jpg", jpeg(800, 500)),
            crate::images::text("credit", credit),
        ],
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

#[sqlx::test]
async fn a_draft_is_invisible_until_published_and_edits_wait_for_the_next_publish(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    app.post("/v1/authors", Some(&editor), json!({"name": "RADII Staff"}))
        .await;
    let banner = image(&app, &editor, "Image via AFP-JIJI.").await;
    let created = create(
        &app,
        &editor,
        json!({
            "title": "Pan Zhanle Triumphs in 100 Meter Freestyle at the Paris Olympics",
            "body_markdown": "On Wednesday in Paris, Pan Zhanle **won gold**.\n\nHe set a [world record](https://olympics.com).",
            "authors": ["radii-staff"],
            "tags": [{"name": "Olympics"}, {"name": "松弛感"}],
            "banner": {"image_id": banner, "credit": "Banner Image via AFP-JIJI."}
        }),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let slug = created["slug"].as_str().expect("slug").to_owned();
    assert_eq!(
        slug,
        "pan-zhanle-triumphs-in-100-meter-freestyle-at-the-paris-olympics"
    );
    assert_eq!(created["status"], "draft");
    assert_eq!(
        created["excerpt"],
        "On Wednesday in Paris, Pan Zhanle won gold."
    );
    assert_eq!(created["authors"][0]["slug"], "radii-staff");
    assert_eq!(created["tags"][1]["slug"], "song-chi-gan");
    assert_eq!(created["banner"]["image"]["id"], banner.as_str());
    assert_eq!(created["banner"]["credit"], "Banner Image via AFP-JIJI.");
    assert!(
        created["body_html"]
            .as_str()
            .expect("html")
            .contains("<strong>won gold</strong>")
    );
    assert_eq!(created["word_count"], 13);
    assert_eq!(created["has_unpublished_changes"], false);

    // Nothing of a draft reaches the public.
    app.get(&format!("/v1/articles/{slug}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/articles/{id}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let list = app.get("/v1/articles", None).await.json();
    assert_eq!(list["meta"]["total"], 0);
    assert_eq!(list["data"], json!([]));
    assert_eq!(
        app.get("/v1/tags/olympics", None).await.json()["article_count"],
        0
    );
    app.get(&format!("/v1/articles/{id}?view=working"), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let published = action(&app, &editor, &id, "publish").await;
    assert_eq!(published["status"], "published");
    assert!(published["published_at"].is_string());
    let public = app.get(&format!("/v1/articles/{slug}"), None).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(
        public.header("cache-control"),
        Some("public, max-age=60, stale-while-revalidate=300, stale-if-error=86400")
    );
    let public = public.json();
    assert_eq!(public["title"], created["title"]);
    assert_eq!(public["status"], "published");
    assert_eq!(public["has_unpublished_changes"], false);
    assert!(
        public["body_html"]
            .as_str()
            .expect("html")
            .contains("href=\"https://olympics.com\"")
    );
    let list = app.get("/v1/articles", None).await.json();
    assert_eq!(list["meta"]["total"], 1);
    assert!(
        list["data"][0].get("body").is_none(),
        "lists leave out the body"
    );
    assert!(app.get("/v1/articles?include=body", None).await.json()["data"][0]["body"].is_array());
    assert_eq!(
        app.get("/v1/tags/olympics", None).await.json()["article_count"],
        1
    );
    assert_eq!(
        app.get("/v1/authors/radii-staff", None).await.json()["article_count"],
        1
    );

    // Editing changes only the working copy.
    let edited = app
        .patch(
            &format!("/v1/articles/{id}"),
            Some(&editor),
            json!({"title": "Pan Zhanle Wins Gold"}),
        )
        .await
        .json();
    assert_eq!(edited["has_unpublished_changes"], true);
    assert_eq!(
        app.get(&format!("/v1/articles/{slug}"), None).await.json()["title"],
        created["title"]
    );
    action(&app, &editor, &id, "publish").await;
    assert_eq!(
        app.get(&format!("/v1/articles/{slug}"), None).await.json()["title"],
        "Pan Zhanle Wins Gold"
    );

    let unpublished = action(&app, &editor, &id, "unpublish").await;
    assert_eq!(unpublished["status"], "draft");
    app.get(&format!("/v1/articles/{slug}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(
        app.get("/v1/articles", None).await.json()["meta"]["total"],
        0
    );
    assert_eq!(
        app.get("/v1/tags/olympics", None).await.json()["article_count"],
        0
    );
    let again = app
        .post(
            &format!("/v1/articles/{id}/unpublish"),
            Some(&editor),
            json!({}),
        )
        .await;
    again.assert_problem(StatusCode::CONFLICT, "conflict");
}

#[sqlx::test]
async fn bodies_are_validated_with_exact_paths_and_html_is_escaped(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let bad_link = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "x", "body": [{"type": "paragraph", "children": [
                {"type": "text", "text": "click "},
                {"type": "link", "url": "javascript:alert(1)", "children": [{"type": "text", "text": "me"}]}
            ]}]}),
        )
        .await;
    assert_eq!(
        bad_link.assert_invalid_fields(),
        vec!["body[0].children[1].url"]
    );
    let missing_image = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "x", "body": [{"type": "divider"}, {"type": "image", "image_id": uuid::Uuid::now_v7()}],
                   "banner": {"image_id": uuid::Uuid::now_v7()}}),
        )
        .await;
    let mut fields = missing_image.assert_invalid_fields();
    fields.sort();
    assert_eq!(fields, vec!["banner.image_id", "body[1].image_id"]);
    let shape = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "x", "body": [{"type": "heading", "level": 2}]}),
        )
        .await;
    assert_eq!(shape.assert_invalid_fields(), vec!["body[0].children"]);
    let both = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "x", "body": [], "body_markdown": "hi"}),
        )
        .await;
    assert_eq!(both.assert_invalid_fields(), vec!["body_markdown"]);
    let unknown = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "x", "authors": ["nobody"], "tags": ["nothing"]}),
        )
        .await;
    assert_eq!(
        unknown.assert_invalid_fields(),
        vec!["authors[0]", "tags[0]"]
    );
    let empty = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": " ", "language": "not a tag!"}),
        )
        .await;
    assert_eq!(empty.assert_invalid_fields(), vec!["title", "language"]);
    let count: i64 = sqlx::query_scalar("select count(*) from articles")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0, "bad input changes nothing");

    let hostile = create(
        &app,
        &editor,
        json!({"title": "“Quotes” — 我的阿勒泰 e\u{301}", "body": [{"type": "paragraph", "children": [
            {"type": "text", "text": "<script>alert('x')</script> \"q\""}]}]}),
    )
    .await;
    assert_eq!(hostile["title"], "“Quotes” — 我的阿勒泰 e\u{301}");
    assert_eq!(
        hostile["body_html"],
        "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;q&quot;</p>\n"
    );
    let id = hostile["id"].as_str().expect("id");
    let status = app
        .patch(
            &format!("/v1/articles/{id}"),
            Some(&editor),
            json!({"status": "published"}),
        )
        .await;
    assert_eq!(status.assert_invalid_fields(), vec!["status"]);
    let version = app
        .patch(
            &format!("/v1/articles/{id}"),
            Some(&editor),
            json!({"version": 9}),
        )
        .await;
    assert_eq!(version.assert_invalid_fields(), vec!["version"]);
}

#[sqlx::test]
async fn slugs_and_external_ids_are_unique(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let first = create(
        &app,
        &editor,
        json!({"title": "Bye Bye Disco", "external_id": "wp-17"}),
    )
    .await;
    let second = create(&app, &editor, json!({"title": "Bye Bye Disco"})).await;
    assert_eq!(first["slug"], "bye-bye-disco");
    assert_eq!(second["slug"], "bye-bye-disco-2");
    app.post(
        "/v1/articles",
        Some(&editor),
        json!({"title": "x", "slug": "bye-bye-disco"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");
    app.post(
        "/v1/articles",
        Some(&editor),
        json!({"title": "x", "external_id": "wp-17"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");
    let id = second["id"].as_str().expect("id");
    app.patch(
        &format!("/v1/articles/{id}"),
        Some(&editor),
        json!({"slug": "bye-bye-disco"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");
}

#[sqlx::test]
async fn contributors_and_authors_work_on_their_own_articles(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let contributor = app.token_for(Role::Contributor).await;
    let draft = create(&app, &contributor, json!({"title": "My draft"})).await;
    let id = draft["id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.patch(
            &format!("/v1/articles/{id}"),
            Some(&contributor),
            json!({"subtitle": "Mine"})
        )
        .await
        .status,
        StatusCode::OK
    );
    app.post(
        &format!("/v1/articles/{id}/publish"),
        Some(&contributor),
        json!({}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        "/v1/articles",
        Some(&contributor),
        json!({"title": "x", "status": "published"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.delete(&format!("/v1/articles/{id}"), Some(&contributor))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");

    let others = create(&app, &editor, json!({"title": "The editor's"})).await;
    let others_id = others["id"].as_str().expect("id").to_owned();
    app.patch(
        &format!("/v1/articles/{others_id}"),
        Some(&contributor),
        json!({"title": "Mine now"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");

    // An author owns what carries their byline, even if someone else created it.
    let admin = app.token_for(Role::Admin).await;
    let byline = app
        .post(
            "/v1/authors",
            Some(&editor),
            json!({"name": "Guan Jingpeng"}),
        )
        .await
        .json();
    app.post(
        "/v1/users",
        Some(&admin),
        json!({"email": "guan@example.com", "name": "Guan", "role": "author", "password": PASSWORD, "author_id": byline["id"]}),
    )
    .await;
    let author = app.login("guan@example.com", PASSWORD).await.json()["token"]
        .as_str()
        .expect("t")
        .to_owned();
    let bylined = create(
        &app,
        &editor,
        json!({"title": "Bylined", "authors": [byline["id"]]}),
    )
    .await;
    let bylined_id = bylined["id"].as_str().expect("id");
    action(&app, &author, bylined_id, "publish").await;
    app.post(
        &format!("/v1/articles/{others_id}/publish"),
        Some(&author),
        json!({}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let published_own = create(
        &app,
        &author,
        json!({"title": "Straight out", "status": "published"}),
    )
    .await;
    assert_eq!(published_own["status"], "published");

    app.post("/v1/articles", None, json!({"title": "x"}))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let reader = app.api_token(&editor, "reader").await;
    app.get("/v1/articles?view=working", Some(&reader))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.delete(&format!("/v1/articles/{id}"), Some(&editor))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[sqlx::test]
async fn live_copies_follow_renamed_authors_and_deleted_tags(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    app.post(
        "/v1/authors",
        Some(&editor),
        json!({"name": "Old Name", "slug": "writer"}),
    )
    .await;
    let banner = image(&app, &editor, "Photo by Old Credit.").await;
    let article = create(&app, &editor, json!({"title": "Live", "authors": ["writer"], "tags": [{"name": "Music"}], "banner": {"image_id": banner}, "status": "published"})).await;
    let id = article["id"].as_str().expect("id").to_owned();

    app.patch(
        "/v1/authors/writer",
        Some(&editor),
        json!({"name": "New Name"}),
    )
    .await;
    app.patch(
        &format!("/v1/images/{banner}"),
        Some(&editor),
        json!({"credit": "Photo by New Credit."}),
    )
    .await;
    assert_eq!(
        app.delete("/v1/tags/music", Some(&editor)).await.status,
        StatusCode::NO_CONTENT
    );
    let live = app.get(&format!("/v1/articles/{id}"), None).await.json();
    assert_eq!(live["authors"][0]["name"], "New Name");
    assert_eq!(live["banner"]["image"]["credit"], "Photo by New Credit.");
    assert_eq!(live["tags"], json!([]));

    app.delete("/v1/authors/writer", Some(&editor))
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");
    let in_use = app
        .delete(&format!("/v1/images/{banner}"), Some(&editor))
        .await;
    in_use.assert_problem(StatusCode::CONFLICT, "conflict");
    // Removing the banner from the working copy still leaves it on the published page.
    app.patch(
        &format!("/v1/articles/{id}"),
        Some(&editor),
        json!({"banner": null}),
    )
    .await;
    let still = app
        .delete(&format!("/v1/images/{banner}"), Some(&editor))
        .await;
    let body = still.assert_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("published article"),
        "{body}"
    );
}

#[sqlx::test]
async fn live_lists_page_and_sort_and_working_lists_filter_by_status(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for title in ["Charlie", "Alpha", "Bravo"] {
        create(
            &app,
            &editor,
            json!({"title": title, "status": "published"}),
        )
        .await;
    }
    create(&app, &editor, json!({"title": "Draft only"})).await;
    let first = app.get("/v1/articles?limit=2", None).await.json();
    assert_eq!(first["meta"]["total"], 3);
    let titles: Vec<&str> = first["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|a| a["title"].as_str().expect("t"))
        .collect();
    assert_eq!(titles, vec!["Bravo", "Alpha"], "newest first");
    let cursor = first["meta"]["next_cursor"].as_str().expect("cursor");
    let second = app
        .get(&format!("/v1/articles?limit=2&cursor={cursor}"), None)
        .await
        .json();
    assert_eq!(second["data"][0]["title"], "Charlie");
    assert!(second["meta"]["next_cursor"].is_null());
    let by_title = app.get("/v1/articles?sort=title", None).await.json();
    assert_eq!(by_title["data"][0]["title"], "Alpha");

    for bad in [
        "sort=rank",
        "include=everything",
        "status=draft",
        "view=secret",
        "colour=red",
        "limit=0",
    ] {
        app.get(&format!("/v1/articles?{bad}"), None)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    }
    let drafts = app
        .get("/v1/articles?view=working&status=draft", Some(&editor))
        .await
        .json();
    assert_eq!(drafts["meta"]["total"], 1);
    assert_eq!(drafts["data"][0]["title"], "Draft only");
    assert_eq!(
        app.get("/v1/articles?view=working", Some(&editor))
            .await
            .json()["meta"]["total"],
        4
    );
    app.get("/v1/articles?view=working&status=gone", Some(&editor))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    app.get("/v1/articles?view=working", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // Strong ETags on the live list and items.
    let list = app.get("/v1/articles", None).await;
    let etag = list.header("etag").expect("etag").to_owned();
    let cached = app
        .send(
            TestApp::request(Method::GET, "/v1/articles", None)
                .header("if-none-match", etag)
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
}

fn titles(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|a| a["title"].as_str().expect("t").to_owned())
        .collect()
}

/// Galley builds search vectors itself instead of having PostgreSQL parse the terms again; they
/// must be the very vectors `to_tsvector` makes of the same terms, or ranking and matching of
/// existing rows would drift from new ones.
#[sqlx::test]
async fn search_vectors_built_in_galley_equal_postgresql_to_tsvector(pool: PgPool) {
    use galley::articles::search::{SearchVector, document_terms};
    let long_word = "x".repeat(3000);
    let many = "echo ".repeat(300);
    let cases: Vec<[String; 3]> = vec![
        [
            "Pan Zhanle’s 我的阿勒泰!".into(),
            "A subtitle about 松弛感".into(),
            "Body text, body TEXT again: 2024 Olympics; café naïve Ærø 100m v2".into(),
        ],
        ["".into(), "".into(), "".into()],
        [
            "Title".into(),
            "".into(),
            format!("start {long_word} end {many}"),
        ],
        // Past 16,383 positions and 255 per lexeme, within one text and across them.
        [
            "echo ".repeat(20),
            many.clone(),
            (0..17_000).map(|i| format!("w{} 松弛 ", i % 7)).collect(),
        ],
    ];
    for texts in cases {
        let terms = texts.each_ref().map(|t| document_terms(t).join(" "));
        let same: bool = sqlx::query_scalar(
            "select $1 = setweight(to_tsvector('simple', $2), 'A') \
             || setweight(to_tsvector('simple', $3), 'B') || setweight(to_tsvector('simple', $4), 'C')",
        )
        .bind(SearchVector::weighted(texts.each_ref().map(String::as_str)))
        .bind(&terms[0])
        .bind(&terms[1])
        .bind(&terms[2])
        .fetch_one(&pool)
        .await
        .expect("compare");
        assert!(same, "{:?}", &texts[0]);
    }
}

#[sqlx::test]
async fn search_finds_cjk_terms_ranks_titles_first_and_never_shows_drafts(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    app.post("/v1/authors", Some(&editor), json!({"name": "RADII Staff"}))
        .await;
    create(&app, &editor, json!({"title": "Pan Zhanle wins gold", "status": "published", "featured": true,
        "authors": ["radii-staff"], "tags": [{"name": "Olympics"}], "body_markdown": "A swimming final in Paris."})).await;
    create(
        &app,
        &editor,
        json!({"title": "她有一种松弛感", "status": "published", "language": "zh",
        "tags": [{"name": "Music"}], "body_markdown": "松弛感是一种生活态度。"}),
    )
    .await;
    create(
        &app,
        &editor,
        json!({"title": "Secret draft about 松弛感", "body_markdown": "Not yet."}),
    )
    .await;
    create(
        &app,
        &editor,
        json!({"title": "A quiet week", "status": "published",
        "body_markdown": "Nothing about the olympics here, except this line."}),
    )
    .await;

    let search = |q: &str| format!("/v1/articles?q={}", urlencode(q));
    for q in ["松弛感", "松弛", "松"] {
        let found = app.get(&search(q), None).await.json();
        assert_eq!(titles(&found), vec!["她有一种松弛感"], "q={q}");
        assert_eq!(
            found["meta"]["total"], 1,
            "the draft is not counted (q={q})"
        );
    }
    assert_eq!(
        titles(&app.get(&search("secret"), None).await.json()),
        Vec::<String>::new()
    );
    assert_eq!(
        titles(&app.get(&search("swim"), None).await.json()),
        vec!["Pan Zhanle wins gold"],
        "prefix match"
    );
    // A title match outranks a body mention.
    create(
        &app,
        &editor,
        json!({"title": "Market notes", "status": "published",
        "body_markdown": "Gold prices rose on Monday, then gold fell again."}),
    )
    .await;
    let gold = app.get(&search("gold"), None).await.json();
    assert_eq!(titles(&gold), vec!["Pan Zhanle wins gold", "Market notes"]);
    let ranked = app.get(&search("olympics"), None).await.json();
    assert_eq!(
        titles(&ranked),
        vec!["A quiet week"],
        "only the body says olympics; tags are not text"
    );
    // Search combines with filters, and signed-in editors search their drafts.
    assert_eq!(
        app.get(&format!("{}&language=en", search("松弛")), None)
            .await
            .json()["meta"]["total"],
        0
    );
    let drafts = app
        .get(
            &format!("/v1/articles?view=working&q={}", urlencode("松弛感")),
            Some(&editor),
        )
        .await
        .json();
    assert_eq!(drafts["meta"]["total"], 2);
    // A published copy edited since is found by its working text in the working view, by its
    // published text in the live one.
    let market = gold["data"][1]["id"].as_str().expect("id").to_owned();
    let response = app
        .patch(
            &format!("/v1/articles/{market}"),
            Some(&editor),
            json!({"body_markdown": "Silver prices rose on Monday."}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let working = |q: &str| format!("/v1/articles?view=working&q={}", urlencode(q));
    assert_eq!(
        titles(&app.get(&working("silver"), Some(&editor)).await.json()),
        vec!["Market notes"]
    );
    assert_eq!(
        titles(&app.get(&working("gold"), Some(&editor)).await.json()),
        vec!["Pan Zhanle wins gold"]
    );
    assert_eq!(
        titles(&app.get(&search("gold"), None).await.json()),
        vec!["Pan Zhanle wins gold", "Market notes"]
    );
    assert_eq!(
        titles(&app.get(&search("silver"), None).await.json()),
        Vec::<String>::new()
    );

    let filtered = |query: &str| format!("/v1/articles?{query}");
    assert_eq!(
        titles(&app.get(&filtered("tag=olympics"), None).await.json()),
        vec!["Pan Zhanle wins gold"]
    );
    assert_eq!(
        app.get(&filtered("tag=olympics"), None).await.json()["meta"]["total"],
        1,
        "from the tag's count"
    );
    assert_eq!(
        app.get(&filtered("author=radii-staff"), None).await.json()["meta"]["total"],
        1
    );
    assert_eq!(
        app.get(&filtered("author=nobody"), None).await.json()["meta"]["total"],
        0
    );
    assert_eq!(
        app.get(&filtered("tag=olympics,music"), None).await.json()["meta"]["total"],
        2
    );
    assert_eq!(
        app.get(&filtered("tag=nothing"), None).await.json()["meta"]["total"],
        0
    );
    assert_eq!(
        titles(&app.get(&filtered("author=radii-staff"), None).await.json()),
        vec!["Pan Zhanle wins gold"]
    );
    assert_eq!(
        titles(&app.get(&filtered("featured=true"), None).await.json()),
        vec!["Pan Zhanle wins gold"]
    );
    assert_eq!(
        titles(&app.get(&filtered("language=zh"), None).await.json()),
        vec!["她有一种松弛感"]
    );
    assert_eq!(
        app.get(&filtered("published_after=2999-01-01T00:00:00Z"), None)
            .await
            .json()["meta"]["total"],
        0
    );
    assert_eq!(
        app.get(&filtered("published_before=2999-01-01T00:00:00Z"), None)
            .await
            .json()["meta"]["total"],
        4
    );
    assert_eq!(
        app.get(&filtered("updated_after=2000-01-01T00:00:00Z"), None)
            .await
            .json()["meta"]["total"],
        4
    );
    assert_eq!(
        app.get(&filtered("view=working&tag=olympics"), Some(&editor))
            .await
            .json()["meta"]["total"],
        1
    );

    for bad in [
        "published_after=yesterday",
        "q=%21%21%21",
        "sort=rank",
        "featured=maybe",
    ] {
        app.get(&filtered(bad), None)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[sqlx::test]
async fn links_to_deleted_images_are_refused_where_they_stand(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let kept = image(&app, &editor, "Photo by Kept").await;
    let gone = upload(&app, Some(&editor), vec![file("gone.jpg", jpeg(640, 480))]).await;
    assert_eq!(gone.status, StatusCode::CREATED, "{}", gone.text());
    let gone = gone.json()["id"].as_str().expect("id").to_owned();
    let deleted = app
        .delete(&format!("/v1/images/{gone}"), Some(&editor))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());

    // A client still holding the deleted image's id: on create and on update, each stale
    // reference is a 422 at its own path, and nothing is written.
    let stale = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "Stale", "banner": {"image_id": gone},
                   "body": [{"type": "image", "image_id": kept},
                            {"type": "image", "image_id": gone}]}),
        )
        .await;
    let mut fields = stale.assert_invalid_fields();
    fields.sort();
    assert_eq!(fields, vec!["banner.image_id", "body[1].image_id"]);
    let markdown = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "Stale", "body_markdown": format!("Intro.\n\n![alt](image:{gone} \"caption\")")}),
        )
        .await;
    assert_eq!(markdown.assert_invalid_fields(), vec!["body[1].image_id"]);
    let list = app
        .get("/v1/articles?view=working", Some(&editor))
        .await
        .json();
    assert_eq!(list["meta"]["total"], 0, "nothing was created");

    let article = create(
        &app,
        &editor,
        json!({"title": "Fine", "banner": {"image_id": kept}}),
    )
    .await;
    let id = article["id"].as_str().expect("id");
    let patch = app
        .patch(
            &format!("/v1/articles/{id}"),
            Some(&editor),
            json!({"banner": {"image_id": gone}}),
        )
        .await;
    assert_eq!(patch.assert_invalid_fields(), vec!["banner.image_id"]);
    let after = app
        .get(&format!("/v1/articles/{id}?view=working"), Some(&editor))
        .await
        .json();
    assert_eq!(after["banner"]["image"]["id"], kept.as_str());
    assert_eq!(after["version"], article["version"]);
}

/// `article_count` is not indexed (migration 0010): sorting by it reads the table, and must page
/// the same as any other key.
#[sqlx::test]
async fn tags_and_authors_sort_and_page_by_published_article_count(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    for (n, tags) in [
        (3, vec!["Music", "Olympics", "Film"]),
        (1, vec!["Music", "Olympics"]),
        (2, vec!["Music"]),
    ] {
        for i in 0..n {
            let tags: Vec<Value> = tags.iter().map(|t| json!({"name": t})).collect();
            create(&app, &editor, json!({"title": format!("Story {n}-{i}"), "status": "published",
                "tags": tags, "authors": [{"name": if i == 0 { "First Writer" } else { "Other Writer" }}]}))
            .await;
        }
    }
    let mut seen = Vec::new();
    let mut url = "/v1/tags?limit=2&sort=-article_count".to_owned();
    loop {
        let page = app.get(&url, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let page = page.json();
        for tag in page["data"].as_array().expect("data") {
            seen.push((
                tag["name"].as_str().expect("name").to_owned(),
                tag["article_count"].as_i64().expect("count"),
            ));
        }
        match page["meta"]["next_cursor"].as_str() {
            Some(cursor) => url = format!("/v1/tags?limit=2&sort=-article_count&cursor={cursor}"),
            None => break,
        }
    }
    let expected = [("Music", 6), ("Olympics", 4), ("Film", 3)];
    assert_eq!(
        seen,
        expected.map(|(name, n)| (name.to_owned(), n)).to_vec()
    );
    let authors = app.get("/v1/authors?sort=article_count", None).await.json();
    let counts: Vec<i64> = authors["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|a| a["article_count"].as_i64().expect("count"))
        .collect();
    assert_eq!(counts, vec![3, 3]);
}

/// A tag on most articles is paged by walking the newest-first index; a tag on few by reading
/// its matches and sorting them (`Filters::few`). Both give the same pages: newest first,
/// every article once, cursors continuing where the page ended, totals from the counts.
#[sqlx::test]
async fn tag_pages_are_the_same_whichever_way_they_are_read(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let mut newest_first = Vec::new();
    for n in 0..24 {
        let mut tags = vec![json!({"name": "Music"})];
        if n % 8 == 0 {
            tags.push(json!({"name": "Olympics"}));
        }
        let article = create(
            &app,
            &editor,
            json!({"title": format!("Story {n}"), "status": "published", "tags": tags}),
        )
        .await;
        newest_first.insert(
            0,
            (
                article["slug"].as_str().expect("slug").to_owned(),
                n % 8 == 0,
            ),
        );
    }
    // With pages of 2: Music (24 of 24) is not few, 24² ≥ 24·3; Olympics (3) is, 3² < 24·3.
    for (tag, expected) in [
        (
            "music",
            newest_first
                .iter()
                .map(|(slug, _)| slug.clone())
                .collect::<Vec<_>>(),
        ),
        (
            "olympics",
            newest_first
                .iter()
                .filter(|(_, olympic)| *olympic)
                .map(|(slug, _)| slug.clone())
                .collect(),
        ),
    ] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = app
                .get(
                    &format!("/v1/articles?tag={tag}&limit=2&fields=slug{cursor}"),
                    None,
                )
                .await
                .json();
            assert_eq!(page["meta"]["total"], expected.len(), "{tag}");
            for article in page["data"].as_array().expect("data") {
                seen.push(article["slug"].as_str().expect("slug").to_owned());
            }
            match page["meta"]["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{tag}");
    }
    // A tag on no article is an empty page, not a walk through all of them.
    let none = app.get("/v1/articles?tag=no-such-tag", None).await.json();
    assert_eq!(none["data"], json!([]));
    assert_eq!(none["meta"]["total"], 0);
}
