//! The publishing workflow: the transition table per role, scheduling (on time, exactly once
//! across processes, catch-up, never early), revisions, If-Match races, preview tokens, and the
//! visibility invariant across every status.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use chrono::{SubsecRound, Utc};
use galley::{accounts::role::Role, articles::workflow};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    helpers::{TestApp, TestResponse},
    transfer::import,
};

async fn draft(app: &TestApp, token: &str, title: &str) -> Value {
    let response = app
        .post(
            "/v1/articles",
            Some(token),
            json!({"title": title, "body_markdown": "Words about 松弛感.", "tags": [{"name": "Olympics"}]}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()
}

async fn act(app: &TestApp, token: &str, id: &str, action: &str, body: Value) -> TestResponse {
    app.post(&format!("/v1/articles/{id}/{action}"), Some(token), body)
        .await
}

fn id_of(article: &Value) -> String {
    article["id"].as_str().expect("id").to_owned()
}

/// Moves a new draft to `status` as an editor.
async fn article_in(app: &TestApp, editor: &str, status: &str) -> String {
    let id = id_of(&draft(app, editor, &format!("In {status}")).await);
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let steps: &[(&str, Value)] = match status {
        "draft" => &[],
        "in_review" => &[("submit", json!({}))],
        "scheduled" => &[("schedule", json!({"publish_at": future}))],
        "published" => &[("publish", json!({}))],
        "archived" => &[("archive", json!({}))],
        other => panic!("unknown status {other}"),
    };
    for (action, body) in steps {
        let response = act(app, editor, &id, action, body.clone()).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }
    id
}

#[sqlx::test]
async fn the_transition_table_holds_for_every_status_and_action(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let future = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let table: [(&str, &[&str]); 5] = [
        ("draft", &["submit", "publish", "schedule", "archive"]),
        ("in_review", &["publish", "schedule", "archive"]),
        (
            "scheduled",
            &["publish", "schedule", "unschedule", "archive"],
        ),
        ("published", &["publish", "unpublish", "archive"]),
        ("archived", &["restore"]),
    ];
    let outcome = [
        ("submit", "in_review"),
        ("publish", "published"),
        ("schedule", "scheduled"),
        ("unschedule", "draft"),
        ("unpublish", "draft"),
        ("archive", "archived"),
        ("restore", "draft"),
    ];
    for (from, allowed) in table {
        for (action, to) in outcome {
            let id = article_in(&app, &editor, from).await;
            let body = if action == "schedule" {
                json!({"publish_at": future})
            } else {
                json!({})
            };
            let response = act(&app, &editor, &id, action, body).await;
            if allowed.contains(&action) {
                assert_eq!(
                    response.status,
                    StatusCode::OK,
                    "{action} from {from}: {}",
                    response.text()
                );
                assert_eq!(response.json()["status"], to, "{action} from {from}");
            } else {
                let problem = response.assert_problem(StatusCode::CONFLICT, "conflict");
                let detail = problem["detail"].as_str().expect("detail");
                assert!(
                    detail.ends_with(&format!("allowed: {}", allowed.join(", "))),
                    "{action} from {from}: {detail}"
                );
                let unchanged = app
                    .get(&format!("/v1/articles/{id}?view=working"), Some(&editor))
                    .await;
                assert_eq!(unchanged.json()["status"], from);
            }
        }
    }
    // Unknown actions are not routes of an article.
    let id = article_in(&app, &editor, "draft").await;
    act(&app, &editor, &id, "promote", json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    assert_status_totals(&app, &editor).await;

    // Imports (new lines and a status changed by a line) and deletes keep the counts too.
    let line = |n: u32, status: &str| {
        format!(
            "{}\n",
            json!({"external_id": format!("w-{n}"), "title": format!("Imported {n}"), "status": status})
        )
    };
    let first = import(
        &app,
        &editor,
        "",
        line(1, "published") + &line(2, "draft") + &line(3, "draft"),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let second = import(
        &app,
        &editor,
        "",
        line(2, "published") + &line(4, "in_review"),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    let doomed = article_in(&app, &editor, "published").await;
    assert_eq!(
        app.delete(&format!("/v1/articles/{doomed}"), Some(&editor))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_status_totals(&app, &editor).await;
}

/// `meta.total` of the editors' list, unfiltered and by status (kept counts, migration 0018),
/// equals a count of the working copies, and the public total the live copies, before and
/// after the deltas are folded.
async fn assert_status_totals(app: &TestApp, editor: &str) {
    assert_status_totals_now(app, editor).await;
    galley::db::kept_counts::fold(&app.pool)
        .await
        .expect("fold");
    let rows: i64 = sqlx::query_scalar("select count(*) from article_status_counts")
        .fetch_one(&app.pool)
        .await
        .expect("rows");
    assert!(rows <= 5, "one row per status after folding, not {rows}");
    let rows: i64 = sqlx::query_scalar("select count(*) from row_counts")
        .fetch_one(&app.pool)
        .await
        .expect("rows");
    assert!(rows <= 3, "one row per table after folding, not {rows}");
    assert_status_totals_now(app, editor).await;
}

async fn assert_status_totals_now(app: &TestApp, editor: &str) {
    let counted: Vec<(String, i64)> =
        sqlx::query_as("select status, count(*) from articles group by status")
            .fetch_all(&app.pool)
            .await
            .expect("counts");
    let total_of = |query: String| async move {
        let list = app
            .get(
                &format!("/v1/articles?view=working&limit=1{query}"),
                Some(editor),
            )
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text());
        list.json()["meta"]["total"].as_i64().expect("total")
    };
    let all: i64 = counted.iter().map(|(_, n)| n).sum();
    assert_eq!(total_of(String::new()).await, all);
    for status in ["draft", "in_review", "scheduled", "published", "archived"] {
        let expected = counted
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            total_of(format!("&status={status}")).await,
            expected,
            "{status}"
        );
    }
    let drafts_and_reviews: i64 = counted
        .iter()
        .filter(|(s, _)| s == "draft" || s == "in_review")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        total_of("&status=draft,in_review".to_owned()).await,
        drafts_and_reviews
    );
    // The public total, kept in `row_counts` the same way (migration 0019).
    let live: i64 = sqlx::query_scalar("select count(*) from live_articles")
        .fetch_one(&app.pool)
        .await
        .expect("live");
    let public = app.get("/v1/articles?limit=1", None).await;
    assert_eq!(public.json()["meta"]["total"].as_i64(), Some(live));
}

#[sqlx::test]
async fn roles_decide_who_may_run_which_action(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let author = app.token_for(Role::Author).await;
    let contributor = app.token_for(Role::Contributor).await;
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();

    // Contributors submit their own drafts, and nothing else.
    let own = id_of(&draft(&app, &contributor, "Contributor's").await);
    for action in ["publish", "archive"] {
        act(&app, &contributor, &own, action, json!({}))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    act(
        &app,
        &contributor,
        &own,
        "schedule",
        json!({"publish_at": future}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let submitted = act(&app, &contributor, &own, "submit", json!({})).await;
    assert_eq!(submitted.json()["status"], "in_review");
    let others = id_of(&draft(&app, &editor, "Editor's").await);
    act(&app, &contributor, &others, "submit", json!({}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");

    // Authors publish, schedule, unschedule and unpublish their own; not others'; never archive.
    let mine = id_of(&draft(&app, &author, "Author's").await);
    for (action, body) in [
        ("schedule", json!({"publish_at": future})),
        ("unschedule", json!({})),
        ("publish", json!({})),
        ("unpublish", json!({})),
    ] {
        let response = act(&app, &author, &mine, action, body).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{action}: {}",
            response.text()
        );
    }
    act(&app, &author, &mine, "archive", json!({}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    act(&app, &author, &others, "publish", json!({}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    // Backdating is for editors.
    act(
        &app,
        &author,
        &mine,
        "publish",
        json!({"published_at": "2020-01-01T00:00:00Z"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let backdated = act(
        &app,
        &editor,
        &mine,
        "publish",
        json!({"published_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(backdated.json()["published_at"], "2020-01-01T00:00:00Z");
    let live = app.get(&format!("/v1/articles/{mine}"), None).await;
    assert_eq!(live.json()["published_at"], "2020-01-01T00:00:00Z");

    // Editors archive and restore anything; anonymous callers nothing.
    assert_eq!(
        act(&app, &editor, &mine, "archive", json!({})).await.json()["status"],
        "archived"
    );
    assert_eq!(
        act(&app, &editor, &mine, "restore", json!({})).await.json()["status"],
        "draft"
    );
    app.send(
        TestApp::request(Method::POST, &format!("/v1/articles/{mine}/publish"), None)
            .body(Body::empty())
            .expect("request"),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[sqlx::test]
async fn action_bodies_are_validated(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let id = article_in(&app, &editor, "draft").await;
    let past = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let future = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let fields = |response: TestResponse| response.assert_invalid_fields();
    assert_eq!(
        fields(act(&app, &editor, &id, "schedule", json!({})).await),
        vec!["publish_at"]
    );
    assert_eq!(
        fields(act(&app, &editor, &id, "schedule", json!({"publish_at": past})).await),
        vec!["publish_at"]
    );
    assert_eq!(
        fields(
            act(
                &app,
                &editor,
                &id,
                "publish",
                json!({"published_at": future})
            )
            .await
        ),
        vec!["published_at"]
    );
    assert_eq!(
        fields(act(&app, &editor, &id, "submit", json!({"publish_at": future})).await),
        vec!["publish_at"]
    );
    assert_eq!(
        fields(act(&app, &editor, &id, "publish", json!({"when": future})).await),
        vec!["when"]
    );
    let still = app
        .get(&format!("/v1/articles/{id}?view=working"), Some(&editor))
        .await
        .json();
    assert_eq!(still["status"], "draft");
    assert_eq!(still["version"], 1);

    // PATCH never changes status or dates.
    for field in [
        json!({"status": "published"}),
        json!({"published_at": past}),
        json!({"version": 9}),
        json!({"id": id}),
    ] {
        let response = app
            .patch(&format!("/v1/articles/{id}"), Some(&editor), field.clone())
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
    }
}

/// Runs the scheduler of `app` every 50 ms.
fn scheduler(app: &TestApp) {
    workflow::spawn_scheduler(app.state.clone(), Duration::from_millis(50));
}

#[sqlx::test]
async fn a_scheduled_article_goes_live_on_time_and_never_early(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    scheduler(&app);
    let id = id_of(&draft(&app, &editor, "On time").await);
    let at = (Utc::now() + chrono::Duration::milliseconds(1500)).trunc_subsecs(3);
    let scheduled = act(
        &app,
        &editor,
        &id,
        "schedule",
        json!({"publish_at": at.to_rfc3339()}),
    )
    .await;
    assert_eq!(scheduled.json()["status"], "scheduled");
    assert_eq!(
        scheduled.json()["scheduled_at"],
        json!(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    );

    let path = format!("/v1/articles/{id}");
    loop {
        let now = Utc::now();
        let response = app.get(&path, None).await;
        if response.status == StatusCode::OK {
            assert!(
                now >= at - chrono::Duration::milliseconds(5) || Utc::now() >= at,
                "visible before publish_at"
            );
            let late = Utc::now() - at;
            assert!(late < chrono::Duration::seconds(2), "published {late} late");
            assert_eq!(
                response.json()["published_at"],
                json!(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            );
            break;
        }
        assert!(
            Utc::now() < at + chrono::Duration::seconds(2),
            "not published within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let working = app
        .get(&format!("{path}?view=working"), Some(&editor))
        .await
        .json();
    assert_eq!(working["status"], "published");
    assert!(working["scheduled_at"].is_null());
}

#[sqlx::test]
async fn two_processes_publish_a_batch_of_due_articles_exactly_once(pool: PgPool) {
    let first = TestApp::new(pool.clone());
    // A second "process": its own pool of connections to the same database.
    let other_pool = sqlx::postgres::PgPoolOptions::new()
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .expect("second pool");
    let second = TestApp::new(other_pool.clone());
    let editor = first.token_for(Role::Editor).await;
    // Far enough ahead that 30 schedules fit before it on a loaded machine (the whole suite
    // runs at once on two cores).
    let at = Utc::now() + chrono::Duration::milliseconds(5000);
    let mut ids = Vec::new();
    for n in 0..30 {
        let id = id_of(&draft(&first, &editor, &format!("Batch {n}")).await);
        let response = act(
            &first,
            &editor,
            &id,
            "schedule",
            json!({"publish_at": at.to_rfc3339()}),
        )
        .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        ids.push(id);
    }
    scheduler(&first);
    scheduler(&second);
    let due = (at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(due + Duration::from_millis(1300)).await;

    let published: Vec<(String, i64, i64)> = sqlx::query_as(
        "select a.status, \
            (select count(*) from article_revisions r where r.article_id = a.id and r.action = 'publish_scheduled'), \
            (select count(*) from changes e where e.object_id = a.id and e.event = 'article.published') \
         from articles a where a.status <> 'draft' or a.scheduled_at is not null",
    )
    .fetch_all(&pool)
    .await
    .expect("statuses");
    assert_eq!(published.len(), 30);
    for (status, revisions, events) in published {
        assert_eq!((status.as_str(), revisions, events), ("published", 1, 1));
    }
    let live = first.get("/v1/articles?limit=100", None).await.json();
    assert_eq!(live["meta"]["total"], 30);
    // Its connections would keep the test database from being dropped.
    other_pool.close().await;
}

#[sqlx::test]
async fn schedules_that_fell_due_while_down_are_published_at_start(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let id = id_of(&draft(&app, &editor, "Missed").await);
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    act(
        &app,
        &editor,
        &id,
        "schedule",
        json!({"publish_at": future}),
    )
    .await;
    // The server was down when it fell due.
    sqlx::query("update articles set scheduled_at = now() - interval '3 hours'")
        .execute(&pool)
        .await
        .expect("backdate schedule");
    assert_eq!(
        app.get(&format!("/v1/articles/{id}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        workflow::publish_due(&app.state).await.expect("catch up"),
        1
    );
    let live = app.get(&format!("/v1/articles/{id}"), None).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(
        workflow::publish_due(&app.state)
            .await
            .expect("nothing left"),
        0
    );
}

#[sqlx::test]
async fn unscheduling_and_rescheduling_win_over_the_worker(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    scheduler(&app);
    let soon = || (Utc::now() + chrono::Duration::milliseconds(600)).to_rfc3339();
    let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let unscheduled = id_of(&draft(&app, &editor, "Unscheduled").await);
    let rescheduled = id_of(&draft(&app, &editor, "Rescheduled").await);
    act(
        &app,
        &editor,
        &unscheduled,
        "schedule",
        json!({"publish_at": soon()}),
    )
    .await;
    act(
        &app,
        &editor,
        &rescheduled,
        "schedule",
        json!({"publish_at": soon()}),
    )
    .await;
    assert_eq!(
        act(&app, &editor, &unscheduled, "unschedule", json!({}))
            .await
            .json()["status"],
        "draft"
    );
    let moved = act(
        &app,
        &editor,
        &rescheduled,
        "schedule",
        json!({"publish_at": later}),
    )
    .await;
    assert_eq!(moved.json()["status"], "scheduled");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for id in [&unscheduled, &rescheduled] {
        assert_eq!(
            app.get(&format!("/v1/articles/{id}"), None).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

#[sqlx::test]
async fn revisions_record_every_change_and_restore_as_a_new_one(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let created = draft(&app, &editor, "First").await;
    let id = id_of(&created);
    let patch = |body: Value| {
        let app = &app;
        let editor = &editor;
        let id = &id;
        async move {
            app.patch(&format!("/v1/articles/{id}"), Some(editor), body)
                .await
        }
    };
    assert_eq!(patch(json!({"title": "Second"})).await.json()["version"], 2);
    // Saving what is there already: no version, no revision, no event.
    let same = patch(json!({"title": "Second", "tags": ["olympics"]})).await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.json()["version"], 2);
    act(&app, &editor, &id, "publish", json!({})).await;
    patch(json!({"subtitle": "A subtitle", "body_markdown": "New body."})).await;

    let list = revisions(&app, &editor, &id).await;
    assert_eq!(list["meta"]["total"], 4);
    let actions = actions(&list);
    assert_eq!(actions, vec!["update", "publish", "update", "create"]);
    assert!(
        list["data"][0].get("snapshot").is_none(),
        "lists leave snapshots out"
    );
    let paged = app
        .get(
            &format!("/v1/articles/{id}/revisions?limit=3"),
            Some(&editor),
        )
        .await
        .json();
    let next = paged["meta"]["next_cursor"].as_str().expect("cursor");
    let rest = app
        .get(
            &format!("/v1/articles/{id}/revisions?limit=3&cursor={next}"),
            Some(&editor),
        )
        .await
        .json();
    assert_eq!(rest["data"][0]["number"], 1);

    let fourth = app
        .get(&format!("/v1/articles/{id}/revisions/4"), Some(&editor))
        .await
        .json();
    assert_eq!(fourth["changed"], json!(["subtitle", "excerpt", "body"]));
    assert_eq!(fourth["snapshot"]["subtitle"], "A subtitle");
    let third = app
        .get(&format!("/v1/articles/{id}/revisions/3"), Some(&editor))
        .await
        .json();
    assert_eq!(third["changed"], json!(["status", "published_at"]));
    let first = app
        .get(&format!("/v1/articles/{id}/revisions/1"), Some(&editor))
        .await
        .json();
    assert!(
        first["changed"]
            .as_array()
            .expect("changed")
            .contains(&json!("title"))
    );
    app.get(&format!("/v1/articles/{id}/revisions/9"), Some(&editor))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/articles/{id}/revisions/zero"), Some(&editor))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    app.get(&format!("/v1/articles/{id}/revisions"), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // Restoring revision 1 brings its content back as revision 5; the live copy waits.
    let restored = app
        .post(
            &format!("/v1/articles/{id}/revisions/1/restore"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.text());
    let restored = restored.json();
    assert_eq!(restored["title"], "First");
    assert!(restored["subtitle"].is_null());
    assert_eq!(restored["status"], "published", "status is not restored");
    assert_eq!(restored["has_unpublished_changes"], true);
    let live = app.get(&format!("/v1/articles/{id}"), None).await.json();
    assert_eq!(live["title"], "Second");
    let fifth = app
        .get(&format!("/v1/articles/{id}/revisions/5"), Some(&editor))
        .await
        .json();
    assert_eq!(fifth["action"], "restore_revision");
    let events: i64 = sqlx::query_scalar("select count(*) from changes where object_id = $1::uuid")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .expect("events");
    assert_eq!(events, 5, "one event per recorded change");

    // Deleting the article deletes its revisions; the deletion is an event.
    let deleted = app
        .delete(&format!("/v1/articles/{id}"), Some(&editor))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let left: i64 = sqlx::query_scalar("select count(*) from article_revisions")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
    let kinds: Vec<String> =
        sqlx::query_scalar("select event from changes order by tx desc, seq desc limit 1")
            .fetch_all(&pool)
            .await
            .expect("kinds");
    assert_eq!(kinds, vec!["article.deleted"]);
}

/// The first page of article `id`'s revisions, newest first.
async fn revisions(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/v1/articles/{id}/revisions"), Some(token))
        .await
        .json()
}

/// The `action` of each revision in a list.
fn actions(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["action"].as_str().expect("action"))
        .collect()
}

/// Retitles article `id` to each of `titles` in turn: one revision each.
async fn retitle(app: &TestApp, token: &str, id: &str, titles: &[&str]) {
    for title in titles {
        let saved = app
            .patch(
                &format!("/v1/articles/{id}"),
                Some(token),
                json!({"title": title}),
            )
            .await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.text());
    }
}

#[sqlx::test]
async fn revision_retention_keeps_the_newest(pool: PgPool) {
    let app = TestApp::with_config(pool.clone(), |config| config.revisions_keep = 2);
    let editor = app.token_for(Role::Editor).await;
    let id = id_of(&draft(&app, &editor, "Kept").await);
    retitle(&app, &editor, &id, &["One", "Two", "Three"]).await;
    let list = revisions(&app, &editor, &id).await;
    let numbers: Vec<i64> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["number"].as_i64().expect("n"))
        .collect();
    assert_eq!(numbers, vec![4, 3]);
}

/// The live copy's content is the revision of its version (migration 0009): retention spares it,
/// and a renamed tag re-renders the page from it, not from the edited working copy.
#[sqlx::test]
async fn the_published_revision_outlives_retention_and_renders_the_live_copy(pool: PgPool) {
    let app = TestApp::with_config(pool.clone(), |config| config.revisions_keep = 2);
    let editor = app.token_for(Role::Editor).await;
    let id = article_in(&app, &editor, "published").await;
    let own_vector: Option<bool> =
        sqlx::query_scalar("select search is not null from articles where id = $1::uuid")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .expect("search");
    assert_eq!(own_vector, Some(false), "kept with the live copy only");
    retitle(&app, &editor, &id, &["Edit one", "Edit two", "Edit three"]).await;
    let list = revisions(&app, &editor, &id).await;
    let actions = actions(&list);
    assert_eq!(actions, vec!["update", "update", "publish"], "{list}");

    let renamed = app
        .patch(
            "/v1/tags/olympics",
            Some(&editor),
            json!({"name": "Olympic Games"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    let live = app.get(&format!("/v1/articles/{id}"), None).await.json();
    assert_eq!(live["title"], "In published");
    assert_eq!(live["tags"][0]["name"], "Olympic Games");

    // A live copy published before revisions existed still carries its own snapshot.
    sqlx::query(
        "update live_articles l set snapshot = r.snapshot::json from article_revisions r \
         where r.article_id = l.article_id and r.action = 'publish'",
    )
    .execute(&pool)
    .await
    .expect("old-style live copy");
    sqlx::query("delete from article_revisions")
        .execute(&pool)
        .await
        .expect("no revisions");
    app.patch(
        "/v1/tags/olympics",
        Some(&editor),
        json!({"name": "Summer Olympics"}),
    )
    .await;
    let live = app.get(&format!("/v1/articles/{id}"), None).await.json();
    assert_eq!(live["title"], "In published");
    assert_eq!(live["tags"][0]["name"], "Summer Olympics");
}
#[sqlx::test]
async fn if_match_lets_exactly_one_of_concurrent_writers_win(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let created = app
        .post("/v1/articles", Some(&editor), json!({"title": "Contested"}))
        .await;
    let etag = created.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with("\"v1-"), "{etag}");
    let id = id_of(&created.json());

    let attempts = (0..20).map(|n| {
        let app = &app;
        let editor = &editor;
        let etag = &etag;
        let id = &id;
        async move {
            app.send(
                TestApp::request(Method::PATCH, &format!("/v1/articles/{id}"), Some(editor))
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::IF_MATCH, etag)
                    .body(Body::from(
                        json!({"title": format!("Writer {n}")}).to_string(),
                    ))
                    .expect("request"),
            )
            .await
            .status
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((won, refused), (1, 19), "{statuses:?}");

    let current = app
        .get(&format!("/v1/articles/{id}?view=working"), Some(&editor))
        .await;
    assert_eq!(current.json()["version"], 2);
    let fresh = current.header("etag").expect("etag").to_owned();
    // Actions honour If-Match too: the stale tag changes nothing, the fresh one works.
    let stale = app
        .send(
            TestApp::request(
                Method::POST,
                &format!("/v1/articles/{id}/submit"),
                Some(&editor),
            )
            .header(header::IF_MATCH, &etag)
            .body(Body::empty())
            .expect("request"),
        )
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
    let ok = app
        .send(
            TestApp::request(
                Method::POST,
                &format!("/v1/articles/{id}/submit"),
                Some(&editor),
            )
            .header(header::IF_MATCH, &fresh)
            .body(Body::empty())
            .expect("request"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    // The working copy answers If-None-Match with 304.
    let tag = ok.header("etag").expect("etag").to_owned();
    let revalidated = app
        .send(
            TestApp::request(
                Method::GET,
                &format!("/v1/articles/{id}?view=working"),
                Some(&editor),
            )
            .header(header::IF_NONE_MATCH, &tag)
            .body(Body::empty())
            .expect("request"),
        )
        .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
}

#[sqlx::test]
async fn a_preview_token_opens_one_working_copy_for_a_while(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let id = id_of(&draft(&app, &editor, "Preview me").await);
    let other = id_of(&draft(&app, &editor, "Not this").await);
    app.post(&format!("/v1/articles/{id}/preview"), None, json!({}))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let preview = app
        .post(
            &format!("/v1/articles/{id}/preview"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(preview.status, StatusCode::CREATED, "{}", preview.text());
    let preview = preview.json();
    let token = preview["token"].as_str().expect("token");
    assert!(token.starts_with("glp_"));
    let url = preview["url"].as_str().expect("url");

    let read = app.get(url, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(read.json()["title"], "Preview me");
    assert_eq!(read.json()["status"], "draft");
    assert!(
        read.header("cache-control")
            .expect("cache-control")
            .contains("no-store")
    );
    // The same path without the token is still a 404: it is a draft.
    assert_eq!(
        app.get(&format!("/v1/articles/{id}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    // A fieldset shapes a preview as it shapes any read, and is checked the same way.
    let card = app
        .get(&format!("{url}&fields=title,body_text"), None)
        .await;
    assert_eq!(card.status, StatusCode::OK, "{}", card.text());
    let card = card.json();
    let mut members: Vec<&str> = card
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["body_text", "id", "title"], "{card}");
    assert_eq!(card["title"], "Preview me");
    app.get(&format!("{url}&fields=title,password"), None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    // It opens nothing else.
    app.get(&format!("/v1/articles/{other}?preview_token={token}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/articles/{id}?preview_token=glp_forged"), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // Edits show at once; after expiry the token is refused.
    app.patch(
        &format!("/v1/articles/{id}"),
        Some(&editor),
        json!({"title": "Edited"}),
    )
    .await;
    assert_eq!(app.get(url, None).await.json()["title"], "Edited");
    sqlx::query("update preview_tokens set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .expect("expire");
    app.get(url, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[sqlx::test]
async fn only_published_articles_reach_the_public_whatever_the_status(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let mut hidden = Vec::new();
    for status in ["draft", "in_review", "scheduled", "archived"] {
        hidden.push(article_in(&app, &editor, status).await);
    }
    // Archived after being published: the live copy goes too.
    let was_live = article_in(&app, &editor, "published").await;
    assert_eq!(
        act(&app, &editor, &was_live, "archive", json!({}))
            .await
            .json()["status"],
        "archived"
    );
    hidden.push(was_live);
    let shown = article_in(&app, &editor, "published").await;

    for id in &hidden {
        assert_eq!(
            app.get(&format!("/v1/articles/{id}"), None).await.status,
            StatusCode::NOT_FOUND,
            "{id}"
        );
    }
    assert_eq!(
        app.get(&format!("/v1/articles/{shown}"), None).await.status,
        StatusCode::OK
    );
    for path in [
        "/v1/articles",
        "/v1/articles?q=%E6%9D%BE%E5%BC%9B",
        "/v1/articles?tag=olympics",
    ] {
        let list = app.get(path, None).await.json();
        assert_eq!(list["meta"]["total"], 1, "{path}");
        assert_eq!(list["data"][0]["id"], shown.as_str(), "{path}");
    }
    let tag = app.get("/v1/tags/olympics", None).await.json();
    assert_eq!(tag["article_count"], 1);
    let working = app
        .get("/v1/articles?view=working&limit=100", Some(&editor))
        .await
        .json();
    assert_eq!(working["meta"]["total"], 6);
}
