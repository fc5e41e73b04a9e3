//! The in-process cache of anonymous reads: kept until anything public changes, in this process
//! or another one on the same database; never kept while changes could go unnoticed.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use galley::accounts::role::Role;
use galley::app::with_middleware;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

async fn until_active(app: &TestApp) {
    for _ in 0..200 {
        if app.state.live_cache.is_active() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the live cache never started following notifications");
}

/// Polls an anonymous GET until its title is `want` (notifications arrive asynchronously).
async fn until_title(app: &TestApp, path: &str, want: &str) {
    let mut seen = String::new();
    for _ in 0..200 {
        let response = app.get(path, None).await;
        seen = response.json()["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if seen == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} still says '{seen}', expected '{want}'");
}

async fn published(app: &TestApp, editor: &str, title: &str) -> String {
    let created = app
        .post(
            "/v1/articles",
            Some(editor),
            json!({"title": title, "status": "published", "body_markdown": "Hello."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    created.json()["slug"].as_str().expect("slug").to_owned()
}

/// Changes a live title without firing triggers, so nothing notifies: only a kept copy can
/// still show the old title afterwards.
async fn rename_silently(pool: &PgPool, slug: &str, title: &str) {
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .expect("disable triggers");
    sqlx::query(
        "update live_articles set document = replace(document, title, $2), title = $2 where slug = $1",
    )
    .bind(slug)
    .bind(title)
    .execute(&mut *conn)
    .await
    .expect("silent update");
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .expect("enable triggers");
}

#[sqlx::test]
async fn anonymous_reads_are_kept_until_a_change_is_committed_anywhere(pool: PgPool) {
    let app = TestApp::with_live_cache(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    until_active(&app).await;
    let slug = published(&app, &editor, "First title").await;
    let path = format!("/v1/articles/{slug}");
    // The publication's own notification arrives after its response and empties the cache
    // once more; let it pass.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let first = app.get(&path, None).await;
    assert_eq!(first.json()["title"], "First title");
    rename_silently(&pool, &slug, "Silent title").await;
    let kept = app.get(&path, None).await;
    assert_eq!(kept.json()["title"], "First title", "served from memory");
    assert_eq!(kept.header("etag"), first.header("etag"));
    // Signed-in reads are never served from memory.
    let signed_in = app.get(&path, Some(&editor)).await;
    assert_eq!(signed_in.json()["title"], "Silent title");

    // Revalidation is answered from memory too.
    let etag = first.header("etag").expect("etag").to_owned();
    let revalidated = app
        .send(
            TestApp::request(Method::GET, &path, None)
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.header("etag"), Some(etag.as_str()));
    assert!(revalidated.body.is_empty());

    // A change committed by someone else (another process, psql) notifies: the kept copy goes.
    sqlx::query("update tags set name = name")
        .execute(&pool)
        .await
        .expect("touch tags");
    until_title(&app, &path, "Silent title").await;

    // A rolled-back change notifies nobody.
    let first = app.get(&path, None).await;
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("update authors set name = name")
        .execute(&mut *tx)
        .await
        .expect("touch authors");
    tx.rollback().await.expect("rollback");
    rename_silently(&pool, &slug, "Silent again").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let kept = app.get(&path, None).await;
    assert_eq!(kept.header("etag"), first.header("etag"));
}

#[sqlx::test]
async fn a_write_in_one_process_reaches_the_readers_of_another(pool: PgPool) {
    let reader = TestApp::with_live_cache(pool.clone());
    let writer = TestApp::with_live_cache(pool.clone());
    let editor = writer.token_for(Role::Editor).await;
    until_active(&reader).await;
    let slug = published(&writer, &editor, "Before").await;
    let path = format!("/v1/articles/{slug}");
    assert_eq!(reader.get(&path, None).await.json()["title"], "Before");
    let list = reader.get("/v1/articles", None).await;
    assert_eq!(list.json()["meta"]["total"], 1);

    let id = writer.get(&path, None).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let patched = writer
        .patch(
            &format!("/v1/articles/{id}"),
            Some(&editor),
            json!({"title": "After"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let publish = writer
        .post(
            &format!("/v1/articles/{id}/publish"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(publish.status, StatusCode::OK, "{}", publish.text());
    until_title(&reader, &path, "After").await;

    let unpublish = writer
        .post(
            &format!("/v1/articles/{id}/unpublish"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(unpublish.status, StatusCode::OK, "{}", unpublish.text());
    for _ in 0..200 {
        if reader.get(&path, None).await.status == StatusCode::NOT_FOUND {
            let list = reader.get("/v1/articles", None).await.json();
            assert_eq!(
                list["meta"]["total"], 0,
                "the unpublished article left the list"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the unpublished article is still served");
}

#[sqlx::test]
async fn nothing_is_kept_while_notifications_could_be_missed(pool: PgPool) {
    let app = TestApp::with_live_cache(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    until_active(&app).await;
    let slug = published(&app, &editor, "Kept").await;
    let path = format!("/v1/articles/{slug}");
    assert_eq!(app.get(&path, None).await.json()["title"], "Kept");

    // Cut the notification connection, then change the article silently: after reconnecting,
    // the copy kept before the cut must not be served (its notifications may have been lost).
    let cut: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and query ilike 'listen%galley_live%'",
    )
    .fetch_all(&pool)
    .await
    .expect("terminate listener");
    assert_eq!(cut, vec![true], "exactly one listener connection");
    for _ in 0..200 {
        if !app.state.live_cache.is_active() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!app.state.live_cache.is_active(), "the cut was noticed");
    rename_silently(&pool, &slug, "Changed while cut").await;
    until_active(&app).await;
    assert_eq!(
        app.get(&path, None).await.json()["title"],
        "Changed while cut"
    );
}

#[sqlx::test]
async fn a_zero_budget_turns_the_cache_off(pool: PgPool) {
    let app = TestApp::with_config(pool.clone(), |config| config.live_cache_bytes = 0);
    let editor = app.token_for(Role::Editor).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!app.state.live_cache.is_active());
    let slug = published(&app, &editor, "Plain").await;
    let path = format!("/v1/articles/{slug}");
    assert_eq!(app.get(&path, None).await.json()["title"], "Plain");
    rename_silently(&pool, &slug, "Renamed").await;
    assert_eq!(app.get(&path, None).await.json()["title"], "Renamed");
}

#[sqlx::test]
async fn concurrent_misses_for_one_page_ask_the_database_once(pool: PgPool) {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axum::{Router, routing::get};

    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let routes = Router::new().route(
        "/v1/tags/slow-page",
        get(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                axum::Json(json!({"page": "built once"}))
            }
        }),
    );
    let state = crate::helpers::listening_state(pool.clone(), pool, |_| {}).await;
    // The probe route is a public read, as the resources' own list routes are.
    let policies = galley::http::route_policy::RoutePolicies::default().with(
        "/v1/tags/slow-page",
        Method::GET,
        galley::http::route_policy::Policy::PublicRead,
    );
    let app = with_middleware(routes, state, policies);
    let readers = (0..8).map(|_| {
        let app = &app;
        async move {
            crate::helpers::send_to(
                app,
                TestApp::request(Method::GET, "/v1/tags/slow-page", None)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
        }
    });
    let responses = futures_util::future::join_all(readers).await;
    for response in &responses {
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.json()["page"], "built once");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one request built the page"
    );
}
