//! Bulk import and export: per-line errors with line numbers, idempotent re-runs, dry runs,
//! upserts, concurrent edits, streaming in batches, the round trip, and the command line.

use axum::{
    body::{Body, Bytes},
    http::{Method, StatusCode, header},
};
use galley::accounts::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    helpers::{TestApp, TestResponse},
    images::{file, jpeg, upload},
};

/// `POST /v1/import{query}` with an NDJSON body.
pub(crate) async fn import(
    app: &TestApp,
    token: &str,
    query: &str,
    body: impl Into<Body>,
) -> TestResponse {
    app.send(
        TestApp::request(Method::POST, &format!("/v1/import{query}"), Some(token))
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .body(body.into())
            .expect("request"),
    )
    .await
}

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn counts(report: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| report[k].as_u64().expect("count");
    (n("created"), n("updated"), n("unchanged"), n("failed"))
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .expect("count")
}

fn article(n: usize) -> Value {
    json!({
        "external_id": format!("legacy-{n}"),
        "title": format!("Imported story {n}"),
        "body_markdown": format!("Paragraph {n} about 松弛感 and the **Olympics**."),
        "authors": [{"name": "管静鹏"}, {"name": "Lil Cany", "slug": "lil-cany"}],
        "tags": [{"name": "Olympics"}, {"name": "Music"}, {"name": "松弛感"}],
        "status": "published",
        "published_at": format!("2024-07-{:02}T10:00:00Z", n % 28 + 1),
    })
}

#[sqlx::test]
async fn bad_lines_are_reported_by_number_while_the_rest_import(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let mut body = Vec::new();
    let mut push = |line: &[u8]| {
        body.extend_from_slice(line);
        body.push(b'\n');
    };
    push(article(1).to_string().as_bytes()); // 1
    push(b"{\"title\": \"broken\""); // 2 malformed
    push(json!({"body_markdown": "no title"}).to_string().as_bytes()); // 3
    push(
        json!({"title": "x", "colour": "red"})
            .to_string()
            .as_bytes(),
    ); // 4
    push(b""); // blank lines are skipped, but counted
    push(
        json!({"title": "x", "authors": [{"name": "Ghost Writer"}], "banner": {"image_sha256": "ab".repeat(32)}})
            .to_string()
            .as_bytes(),
    ); // 6
    let huge = json!({"title": "huge", "body_markdown": "a".repeat(10 * 1024 * 1024)}).to_string();
    push(huge.as_bytes()); // 7
    push(b"{\"title\": \"caf\xe9\"}"); // 8 invalid UTF-8
    push(
        json!({"title": "x", "status": "gone"})
            .to_string()
            .as_bytes(),
    ); // 9
    push(
        json!({"title": "x", "status": "scheduled"})
            .to_string()
            .as_bytes(),
    ); // 10
    push(article(2).to_string().as_bytes()); // 11
    let response = import(&app, &editor, "", body).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let report = response.json();
    assert_eq!(counts(&report), (2, 0, 0, 8));
    let errors: Vec<(u64, u64, Vec<String>)> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            let fields = e["errors"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|f| f["field"].as_str().expect("field").to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (
                e["line"].as_u64().expect("line"),
                e["status"].as_u64().expect("status"),
                fields,
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (2, 400, vec![]),
            (3, 422, vec!["title".to_owned()]),
            (4, 422, vec!["colour".to_owned()]),
            (6, 422, vec!["banner.image_sha256".to_owned()]),
            (7, 413, vec![]),
            (8, 400, vec![]),
            (9, 422, vec!["status".to_owned()]),
            (10, 422, vec!["scheduled_at".to_owned()]),
        ]
    );
    assert_eq!(count(&pool, "select count(*) from articles").await, 2);
    // Published lines are live, with their dates; authors and tags were created once.
    let live = app.get("/v1/articles?tag=olympics", None).await.json();
    assert_eq!(live["meta"]["total"], 2);
    // Line 6 created "Ghost Writer" before failing: undone with the line.
    assert_eq!(count(&pool, "select count(*) from authors").await, 2);
    assert_eq!(count(&pool, "select count(*) from tags").await, 3);
    let one = app.get("/v1/articles/imported-story-1", None).await.json();
    assert_eq!(one["published_at"], "2024-07-02T10:00:00Z");
    assert_eq!(one["authors"][0]["name"], "管静鹏");

    // Only editors import, and only NDJSON.
    let author = app.token_for(Role::Author).await;
    import(&app, &author, "", ndjson(&[article(3)]))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.send(
        TestApp::request(Method::POST, "/v1/import", Some(&editor))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(article(3).to_string()))
            .expect("request"),
    )
    .await
    .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
}

#[sqlx::test]
async fn running_a_file_again_changes_nothing_and_dry_runs_write_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let mut lines: Vec<Value> = (0..450).map(article).collect();
    // Keyed by slug instead of external_id, and a draft, a scheduled and an archived one.
    lines.push(json!({"slug": "by-slug", "title": "Keyed by slug", "body_markdown": "Hi."}));
    lines.push(json!({"title": "Scheduled later", "status": "scheduled", "scheduled_at": "2099-01-01T00:00:00Z"}));
    lines.push(json!({"title": "Archived piece", "status": "archived", "published_at": "2019-05-01T00:00:00Z"}));
    let file = ndjson(&lines);

    let dry = import(&app, &editor, "?dry_run=true", file.clone())
        .await
        .json();
    assert_eq!(counts(&dry), (453, 0, 0, 0));
    assert_eq!(dry["dry_run"], true);
    for table in [
        "articles",
        "authors",
        "tags",
        "article_revisions",
        "changes",
    ] {
        assert_eq!(
            count(&pool, &format!("select count(*) from {table}")).await,
            0,
            "{table}"
        );
    }

    let first = import(&app, &editor, "", file.clone()).await.json();
    assert_eq!(counts(&first), (453, 0, 0, 0));
    let revisions = count(&pool, "select count(*) from article_revisions").await;
    let events = count(
        &pool,
        "select count(*) from changes where object_type = 'article'",
    )
    .await;
    assert_eq!((revisions, events), (453, 453));
    let again = import(&app, &editor, "", file.clone()).await.json();
    assert_eq!(counts(&again), (0, 0, 453, 0));
    assert_eq!(
        count(&pool, "select count(*) from article_revisions").await,
        revisions
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from changes where object_type = 'article'"
        )
        .await,
        events
    );
    assert_eq!(count(&pool, "select count(*) from authors").await, 2);
    assert_eq!(count(&pool, "select count(*) from tags").await, 3);
    assert_eq!(
        app.get("/v1/articles", None).await.json()["meta"]["total"],
        450
    );
    let scheduled = app
        .get("/v1/articles/scheduled-later?view=working", Some(&editor))
        .await
        .json();
    assert_eq!(scheduled["status"], "scheduled");

    // Upserts: by external_id (a new title) and by slug (a new body); the live copy follows.
    let mut changed = article(7);
    changed["title"] = json!("Imported story 7, corrected");
    let by_slug =
        json!({"slug": "by-slug", "title": "Keyed by slug", "body_markdown": "Hello again."});
    let update = import(&app, &editor, "", ndjson(&[changed, by_slug]))
        .await
        .json();
    assert_eq!(counts(&update), (0, 2, 0, 0));
    let seven = app.get("/v1/articles/imported-story-7", None).await.json();
    assert_eq!(seven["title"], "Imported story 7, corrected");
    let slugged = app
        .get("/v1/articles/by-slug?view=working", Some(&editor))
        .await
        .json();
    assert_eq!(slugged["body_html"], "<p>Hello again.</p>\n");
}

/// Batches run side by side but must take effect in file order: a later batch naming an article
/// an earlier one creates updates it, and titles repeated across batches still get distinct
/// slugs (each batch chooses slugs from what it sees).
#[sqlx::test]
async fn batches_written_side_by_side_take_effect_in_file_order(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let mut lines: Vec<Value> = (0..900)
        .map(|n| {
            json!({"external_id": format!("roundup-{n}"), "title": "Weekly roundup",
                "body_markdown": format!("Week {n}."), "tags": [{"name": format!("Week {}", n % 7)}],
                "status": "published", "published_at": "2024-01-01T00:00:00Z"})
        })
        .collect();
    // Line 701 (in the fourth batch) changes the article line 2 (first batch) created.
    lines.insert(
        700,
        json!({"external_id": "roundup-1", "title": "Weekly roundup",
            "body_markdown": "Week 1, corrected.", "tags": [{"name": "Week 1"}],
            "status": "published", "published_at": "2024-01-01T00:00:00Z"}),
    );
    let report = import(&app, &editor, "", ndjson(&lines)).await.json();
    assert_eq!(counts(&report), (900, 1, 0, 0), "{report}");
    assert_eq!(
        count(&pool, "select count(distinct slug) from articles").await,
        900
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from articles where slug like 'weekly-roundup%'"
        )
        .await,
        900
    );
    let corrected = app
        .get("/v1/articles?view=working&q=corrected", Some(&editor))
        .await
        .json();
    assert_eq!(corrected["meta"]["total"], 1);
    // The published counts of tags add up across all batches.
    assert_eq!(
        count(&pool, "select sum(article_count) from tags").await,
        900
    );
}

/// New lines are written together; when that fails, they are written one by one so that only
/// the line at fault fails.
#[sqlx::test]
async fn a_new_line_that_cannot_be_written_fails_alone(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    import(
        &app,
        &editor,
        "",
        ndjson(&[json!({"slug": "taken", "title": "First"})]),
    )
    .await;
    let mut lines: Vec<Value> = (0..5).map(article).collect();
    // New (by external_id) but with another article's slug.
    lines.insert(
        2,
        json!({"external_id": "x-1", "slug": "taken", "title": "Second"}),
    );
    let report = import(&app, &editor, "", ndjson(&lines)).await.json();
    assert_eq!(counts(&report), (5, 0, 0, 1), "{report}");
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][0]["status"], 409);
    assert_eq!(count(&pool, "select count(*) from articles").await, 6);
    assert_eq!(
        count(&pool, "select count(*) from article_revisions").await,
        6
    );
    assert_eq!(
        app.get("/v1/articles", None).await.json()["meta"]["total"],
        5
    );
}

/// Changed lines are written together too: unpublishing one takes its live copy down and out
/// of its tags' counts, and a changed line that cannot be written fails alone.
#[sqlx::test]
async fn changed_lines_are_written_together_and_fail_alone(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let mut lines: Vec<Value> = (0..5).map(article).collect();
    lines.push(json!({"slug": "taken", "title": "Draft elsewhere"}));
    let first = import(&app, &editor, "", ndjson(&lines)).await.json();
    assert_eq!(counts(&first), (6, 0, 0, 0), "{first}");
    lines.pop();

    lines[4]["status"] = json!("archived");
    let archived = import(&app, &editor, "", ndjson(&lines)).await.json();
    assert_eq!(counts(&archived), (0, 1, 4, 0), "{archived}");
    assert_eq!(
        app.get("/v1/articles", None).await.json()["meta"]["total"],
        4
    );
    let tag = app.get("/v1/tags/olympics", None).await.json();
    assert_eq!(tag["article_count"], 4, "{tag}");

    for line in &mut lines {
        line["subtitle"] = json!("Revised");
    }
    // Changed, but to another article's slug.
    lines[2]["slug"] = json!("taken");
    let report = import(&app, &editor, "", ndjson(&lines)).await.json();
    assert_eq!(counts(&report), (0, 4, 0, 1), "{report}");
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][0]["status"], 409);
    let live = app.get("/v1/articles?limit=10", None).await.json();
    let subtitles: Vec<&str> = live["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|a| a["subtitle"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(
        subtitles.iter().filter(|s| **s == "Revised").count(),
        3,
        "{live}"
    );
    assert_eq!(subtitles.len(), 4, "{live}");
    // 6 created, 1 archived, 4 revised; the failed line left no revision.
    assert_eq!(
        count(&pool, "select count(*) from article_revisions").await,
        11
    );
    let tag = app.get("/v1/tags/olympics", None).await.json();
    assert_eq!(tag["article_count"], 4, "{tag}");
}

#[sqlx::test]
async fn an_import_does_not_silently_overwrite_an_editors_change(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    import(&app, &editor, "", ndjson(&[article(1)])).await;
    let edited = app
        .patch(
            "/v1/articles/imported-story-1",
            Some(&editor),
            json!({"subtitle": "Edited in Galley"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK);

    // The same line: unchanged as far as the file goes? No: the file lacks the subtitle.
    let again = import(&app, &editor, "", ndjson(&[article(1)]))
        .await
        .json();
    assert_eq!(counts(&again), (0, 0, 0, 1));
    assert_eq!(again["errors"][0]["status"], 409);
    assert_eq!(again["errors"][0]["line"], 1);
    let kept = app
        .get("/v1/articles/imported-story-1?view=working", Some(&editor))
        .await
        .json();
    assert_eq!(kept["subtitle"], "Edited in Galley");

    let forced = import(&app, &editor, "?overwrite=true", ndjson(&[article(1)]))
        .await
        .json();
    assert_eq!(counts(&forced), (0, 1, 0, 0));
    let replaced = app
        .get("/v1/articles/imported-story-1?view=working", Some(&editor))
        .await
        .json();
    assert!(replaced["subtitle"].is_null());
}

/// Changing published articles replaces their live copies without adding any: the published
/// count stays and no delta row is written for it (migrations 0012, 0019), or every changed line
/// would add one, and before 0019 lock the counter until its batch committed.
#[sqlx::test]
async fn changing_published_articles_adds_nothing_to_the_published_count(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let lines: Vec<Value> = (0..3).map(article).collect();
    let first = import(&app, &editor, "", ndjson(&lines)).await;
    assert_eq!(counts(&first.json()), (3, 0, 0, 0), "{}", first.text());
    let counter = "select count(*)::text || ' rows, ' || sum(count)::text from row_counts \
                   where table_name = 'live_articles'";
    let before: String = sqlx::query_scalar(counter)
        .fetch_one(&pool)
        .await
        .expect("counter");
    let changed: Vec<Value> = lines
        .into_iter()
        .map(|mut line| {
            line["subtitle"] = json!("Revised");
            line
        })
        .collect();
    let second = import(&app, &editor, "", ndjson(&changed)).await;
    assert_eq!(counts(&second.json()), (0, 3, 0, 0), "{}", second.text());
    let after: String = sqlx::query_scalar(counter)
        .fetch_one(&pool)
        .await
        .expect("counter");
    assert_eq!(after, before);
    assert!(before.ends_with(" rows, 3"), "{before}");
    let live = app.get("/v1/articles", None).await.json();
    assert_eq!(live["meta"]["total"], 3);
    assert_eq!(live["data"][0]["subtitle"], "Revised");
}

/// A body streaming `lines`, then failing as when the client goes away.
fn cut_off(lines: impl Iterator<Item = Value>) -> Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> = lines
        .map(|line| Ok(Bytes::from(format!("{line}\n"))))
        .chain(std::iter::once(Err(std::io::Error::other(
            "client went away",
        ))))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[sqlx::test]
async fn an_interrupted_stream_leaves_only_whole_batches(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let body = cut_off((0..250).map(article));
    let response = import(&app, &editor, "", body).await;
    assert!(response.status.is_client_error(), "{}", response.status);
    // The first batch of 200 was committed; the unfinished one was not.
    assert_eq!(count(&pool, "select count(*) from articles").await, 200);
    assert_eq!(
        count(&pool, "select count(*) from live_articles").await,
        200
    );
}

/// A batch is also cut at 8 MiB, so long lines cannot make the batches in flight large.
#[sqlx::test]
async fn long_lines_make_smaller_batches(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let words = "lorem ".repeat(100_000);
    let body = cut_off((0..20).map(|n| {
        json!({"external_id": format!("long-{n}"), "title": format!("Long {n}"),
            "body_markdown": words})
    }));
    let response = import(&app, &editor, "", body).await;
    assert!(response.status.is_client_error(), "{}", response.status);
    // 600 KB lines: the first batch closed at its 14th line (8.4 MB); the next never finished.
    assert_eq!(count(&pool, "select count(*) from articles").await, 14);
}

#[sqlx::test]
async fn export_then_import_into_an_empty_instance_round_trips(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let photo = jpeg(900, 600);
    let uploaded = upload(&app, Some(&editor), vec![file("a.jpg", photo.clone())]).await;
    let image_id = uploaded.json()["id"].as_str().expect("id").to_owned();
    let sha = uploaded.json()["sha256"].as_str().expect("sha").to_owned();
    let mut rich = article(1);
    rich["banner"] = json!({"image_sha256": sha, "credit": "Photo by Lil Cany 小叶."});
    rich["body"] = json!([
        {"type": "paragraph", "children": [{"type": "text", "text": "“Curly” — quotes, 我的阿勒泰, e\u{301}"}]},
        {"type": "image", "image_id": image_id, "caption": "Inline"}
    ]);
    rich.as_object_mut()
        .expect("object")
        .remove("body_markdown");
    rich["seo"] = json!({"title": "SEO", "description": null, "canonical_url": null});
    let lines = vec![
        rich,
        article(2),
        json!({"title": "Draft only", "excerpt": "Given excerpt", "featured": true, "language": "zh"}),
        json!({"title": "Later", "status": "scheduled", "scheduled_at": "2099-01-01T00:00:00Z"}),
    ];
    assert_eq!(
        counts(&import(&app, &editor, "", ndjson(&lines)).await.json()),
        (4, 0, 0, 0)
    );
    let exported = app.get("/v1/export", Some(&editor)).await;
    assert_eq!(exported.status, StatusCode::OK);
    assert_eq!(
        exported.header("content-type"),
        Some("application/x-ndjson")
    );
    let disposition = exported.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"galley-export-")
            && disposition.ends_with(".ndjson\""),
        "{disposition}"
    );
    let exported = exported.text();
    assert_eq!(exported.lines().count(), 4);
    assert!(exported.contains(&format!("\"image_sha256\":\"{sha}\"")));

    // A second, empty instance: its own database on the same server.
    // PostgreSQL cuts names at 63 bytes; the test database's own name is already that long.
    let other_name = format!("galley_copy_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "create database \"{other_name}\""
    )))
    .execute(&pool)
    .await
    .expect("create database");
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .database(&other_name);
    let other_pool = sqlx::postgres::PgPoolOptions::new()
        .connect_with(options)
        .await
        .expect("connect");
    galley::db::MIGRATOR
        .run(&other_pool)
        .await
        .expect("migrate");
    {
        let other = TestApp::new(other_pool.clone());
        let other_editor = other.token_for(Role::Editor).await;
        let again = upload(&other, Some(&other_editor), vec![file("a.jpg", photo)]).await;
        assert_eq!(again.json()["sha256"], sha.as_str());
        let report = import(&other, &other_editor, "", exported.clone())
            .await
            .json();
        assert_eq!(counts(&report), (4, 0, 0, 0), "{report}");
        let second = other.get("/v1/export", Some(&other_editor)).await.text();
        assert_eq!(second, exported);
        let live = other
            .get("/v1/articles/imported-story-1", None)
            .await
            .json();
        assert_eq!(live["banner"]["credit"], "Photo by Lil Cany 小叶.");
        assert_eq!(
            live["body"][0]["children"][0]["text"],
            "“Curly” — quotes, 我的阿勒泰, e\u{301}"
        );
    }
    other_pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database \"{other_name}\" with (force)"
    )))
    .execute(&pool)
    .await
    .expect("drop database");
}

#[sqlx::test]
async fn the_command_line_imports_and_exports_with_exit_codes(pool: PgPool) {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&pool)
        .await
        .expect("name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => panic!("DATABASE_URL has no database name"),
    };
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("good.ndjson");
    std::fs::write(&good, ndjson(&[article(1), article(2)])).expect("write");
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, format!("{}\nnot json\n", article(3))).expect("write");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_galley"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("GALLEY_MEDIA_DIR", dir.path().join("media"))
            .env("RUST_LOG", "warn")
            .current_dir(dir.path())
            .output()
            .expect("run galley")
    };
    let ok = run(&["import", good.to_str().expect("path")]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).expect("report");
    assert_eq!(counts(&report), (2, 0, 0, 0));
    let dry = run(&["import", "--dry-run", bad.to_str().expect("path")]);
    assert_eq!(dry.status.code(), Some(1));
    let failed = run(&["import", bad.to_str().expect("path")]);
    assert_eq!(failed.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&failed.stdout).expect("report");
    assert_eq!(counts(&report), (1, 0, 0, 1));
    assert_eq!(report["errors"][0]["line"], 2);
    let out = dir.path().join("export.ndjson");
    let exported = run(&["export", out.to_str().expect("path")]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&out)
            .expect("export")
            .lines()
            .count(),
        3
    );
}
