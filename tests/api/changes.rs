//! The change feed (API.md §10): the initial state then every change, public vs working,
//! long polling, retention, and completeness while writers commit out of order.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use galley::{
    accounts::role::Role,
    changes::outbox::{self, EventType, ObjectChange, ObjectType},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestApp;

/// Reads the feed from `cursor` until a page comes back empty: the entries and the cursor to
/// go on from.
pub async fn read_all(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    mut cursor: Option<String>,
) -> (Vec<Value>, String) {
    let mut entries = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/changes?cursor={c}&{query}"),
            None => format!("/v1/changes?{query}"),
        };
        let response = app.get(&path, token).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.header("cache-control"), Some("no-store"));
        let page = response.json();
        let next = page["meta"]["next_cursor"]
            .as_str()
            .expect("next_cursor is always given")
            .to_owned();
        let data = page["data"].as_array().expect("data").clone();
        let empty = data.is_empty();
        entries.extend(data);
        cursor = Some(next);
        if empty {
            return (entries, cursor.unwrap_or_default());
        }
    }
}

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let response = app.post(path, Some(token), body).await;
    assert!(
        response.status == StatusCode::CREATED || response.status == StatusCode::OK,
        "{path}: {}",
        response.text()
    );
    response.json()
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// (event, op, type, id) of each entry.
fn summary(entries: &[Value]) -> Vec<(String, String, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or("").to_owned(),
                e["op"].as_str().unwrap_or("").to_owned(),
                e["type"].as_str().unwrap_or("").to_owned(),
                e["id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[sqlx::test]
async fn the_feed_starts_with_the_live_state_and_goes_on_with_each_change(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let live = created(
        &app,
        &editor,
        "/v1/articles",
        json!({"title": "松弛感 at the Olympics", "body_markdown": "Public words.",
               "tags": [{"name": "Olympics"}], "authors": [{"name": "管静鹏"}]}),
    )
    .await;
    let live_id = id(&live);
    let published = app
        .post(
            &format!("/v1/articles/{live_id}/publish"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.text());
    let draft = created(
        &app,
        &editor,
        "/v1/articles",
        json!({"title": "Secret draft 我的阿勒泰", "body_markdown": "Embargoed words.",
               "tags": [{"name": "Olympics"}]}),
    )
    .await;
    let draft_id = id(&draft);

    // Paged two at a time across kinds: the live article, its author, its tag; no draft.
    let (initial, cursor) = read_all(&app, None, "limit=2", None).await;
    let kinds: Vec<&str> = initial
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["article", "author", "tag"], "{initial:?}");
    assert!(initial.iter().all(|e| e["op"] == "upsert"));
    assert_eq!(initial[0]["id"], live_id.as_str());
    assert_eq!(initial[0]["object"]["title"], "松弛感 at the Olympics");
    assert!(
        initial[0]["object"].get("body").is_none(),
        "no body without include=body"
    );
    assert_eq!(initial[1]["object"]["name"], "管静鹏");
    assert!(initial[1]["object"].get("email").is_none());
    let text = serde_json::to_string(&initial).unwrap_or_default();
    assert!(
        !text.contains(&draft_id) && !text.contains("Secret draft") && !text.contains("Embargoed")
    );

    // Nothing new: the same cursor answers nothing, at once.
    let (none, same) = read_all(&app, None, "", Some(cursor.clone())).await;
    assert!(none.is_empty(), "{none:?}");

    // A tag rename re-renders the live article (one event each); the draft stays out.
    let renamed = app
        .patch(
            "/v1/tags/olympics",
            Some(&editor),
            json!({"name": "Olympic Games"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    let unpublished = app
        .post(
            &format!("/v1/articles/{live_id}/unpublish"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(unpublished.status, StatusCode::OK);
    let republished = app
        .post(
            &format!("/v1/articles/{draft_id}/publish"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(republished.status, StatusCode::OK);
    let tag_id = initial[2]["id"].as_str().unwrap_or_default().to_owned();
    let (changes, _) = read_all(&app, None, "include=body", Some(same)).await;
    let s = |e: &str, o: &str, t: &str, i: &str| (e.into(), o.into(), t.into(), i.into());
    assert_eq!(
        summary(&changes),
        vec![
            s("tag.updated", "upsert", "tag", &tag_id),
            s("article.published", "upsert", "article", &live_id),
            s("article.unpublished", "delete", "article", &live_id),
            s("article.published", "upsert", "article", &draft_id),
        ]
    );
    assert_eq!(changes[0]["object"]["name"], "Olympic Games");
    assert_eq!(
        changes[0]["purge_keys"],
        json!(["tags", format!("tag-{tag_id}")])
    );
    assert!(changes[2]["object"].is_null());
    assert_eq!(
        changes[2]["purge_keys"],
        json!(["articles", format!("article-{live_id}")])
    );
    // include=body: the article as it is live now.
    assert_eq!(changes[3]["object"]["title"], "Secret draft 我的阿勒泰");
    assert!(changes[3]["object"]["body"].is_array());
    // The live article's re-rendered copy went before it was unpublished: as live now, none.
    assert!(changes[1]["object"].get("body").is_none());
}

#[sqlx::test]
async fn working_copies_are_for_contributors_and_never_carry_content(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let contributor = app.token_for(Role::Contributor).await;
    let reader = app.api_token(&editor, "reader").await;
    let draft = created(
        &app,
        &editor,
        "/v1/articles",
        json!({"title": "Draft 我的阿勒泰", "body_markdown": "Draft words."}),
    )
    .await;
    let draft_id = id(&draft);

    app.get("/v1/changes?view=working", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/v1/changes?view=working", Some(&reader))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let (public, cursor) = read_all(&app, Some(&reader), "", None).await;
    assert!(
        public.is_empty(),
        "a reader sees the public feed only: {public:?}"
    );

    let (initial, working_cursor) = read_all(&app, Some(&contributor), "view=working", None).await;
    assert_eq!(
        summary(&initial),
        vec![(
            String::new(),
            "upsert".into(),
            "article_working".into(),
            draft_id.clone()
        )]
    );
    assert_eq!(initial[0]["status"], "draft");
    assert_eq!(initial[0]["version"], 1);
    assert!(initial[0]["object"].is_null());

    let submitted = app
        .post(
            &format!("/v1/articles/{draft_id}/submit"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK);
    let (working, _) = read_all(
        &app,
        Some(&contributor),
        "view=working",
        Some(working_cursor),
    )
    .await;
    assert_eq!(working.len(), 1, "{working:?}");
    assert_eq!(working[0]["event"], "article.submitted");
    assert_eq!(working[0]["status"], "in_review");
    assert_eq!(working[0]["version"], 2);
    let text = serde_json::to_string(&working).unwrap_or_default();
    assert!(!text.contains("Draft words") && !text.contains("body"));
    let (public, _) = read_all(&app, None, "", Some(cursor)).await;
    assert!(public.is_empty(), "{public:?}");
}

#[sqlx::test]
async fn a_long_poll_answers_within_a_second_of_a_publish(pool: PgPool) {
    let app = TestApp::following_changes(pool);
    let editor = app.token_for(Role::Editor).await;
    let article = created(
        &app,
        &editor,
        "/v1/articles",
        json!({"title": "Breaking", "body_markdown": "News."}),
    )
    .await;
    let (_, cursor) = read_all(&app, None, "", None).await;

    // Nothing changes: held for the whole wait, then empty, with a cursor.
    let started = Instant::now();
    let quiet = app
        .get(&format!("/v1/changes?cursor={cursor}&wait=1"), None)
        .await;
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(950) && held < Duration::from_secs(3),
        "{held:?}"
    );
    assert_eq!(quiet.json()["data"], json!([]));
    assert!(quiet.json()["meta"]["next_cursor"].is_string());

    let router = app.router.clone();
    let path = format!("/v1/changes?cursor={cursor}&wait=20");
    let poll = tokio::spawn(async move {
        let response = crate::helpers::send_to(
            &router,
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
        (Instant::now(), response)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let published = app
        .post(
            &format!("/v1/articles/{}/publish", id(&article)),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK);
    let committed = Instant::now();
    let (answered, response) = poll.await.expect("poll");
    let latency = answered.saturating_duration_since(committed);
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(response.json()["data"][0]["event"], "article.published");

    // At shutdown a held poll answers at once (empty, with its cursor).
    let next = response.json()["meta"]["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let router = app.router.clone();
    let path = format!("/v1/changes?cursor={next}&wait=20");
    let held = tokio::spawn(async move {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request");
        crate::helpers::send_to(&router, request).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closing = Instant::now();
    app.state.changes.close();
    let answer = held.await.expect("poll");
    assert!(
        closing.elapsed() < Duration::from_millis(500),
        "{:?}",
        closing.elapsed()
    );
    assert_eq!(answer.json()["data"], json!([]));
}

#[sqlx::test]
async fn bad_and_expired_cursors_are_refused(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    for bad in ["cursor=nonsense", "limit=0", "limit=1001", "wait=61"] {
        let response = app.get(&format!("/v1/changes?{bad}"), None).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            response.text()
        );
    }
    let (_, cursor) = read_all(&app, None, "", None).await;
    let editor = app.token_for(Role::Editor).await;
    created(&app, &editor, "/v1/tags", json!({"name": "Music"})).await;
    // Retention has gone past the cursor.
    sqlx::query(
        "update changes_horizon set (seq, public_seq) = (select max(seq), max(public_seq) from changes)",
    )
    .execute(&pool)
    .await
    .expect("horizon");
    app.get(&format!("/v1/changes?cursor={cursor}"), None)
        .await
        .assert_problem(StatusCode::GONE, "cursor-expired");
}

/// Writers commit out of order (each sleeps inside its transaction, and all of them keep
/// renaming the same few tags) while a reader polls in a tight loop: the reader must end with
/// exactly the tags in the database, names included.
#[sqlx::test]
async fn a_reader_misses_nothing_while_writers_commit_out_of_order(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let mut shared = Vec::new();
    for name in ["Olympics", "Music", "松弛感"] {
        shared.push(id(&created(
            &app,
            &editor,
            "/v1/tags",
            json!({"name": name}),
        )
        .await));
    }
    let (initial, mut cursor) = read_all(&app, None, "", None).await;
    let mut seen: HashMap<String, String> = HashMap::new();
    apply(&mut seen, &initial);
    // A commit that is slow after its changes are numbered (a slow disk flush, widened): the
    // next writer's numbers become visible before these.
    sqlx::raw_sql(
        "create function slow_commit() returns trigger language plpgsql as $$ \
         begin perform pg_sleep(random() * 0.03); return null; end $$; \
         create constraint trigger changes_slow_commit after insert on changes \
             deferrable initially deferred for each row execute function slow_commit();",
    )
    .execute(&pool)
    .await
    .expect("slow commits");
    let writers: Vec<_> = (0..4u64)
        .map(|writer| {
            let (pool, shared) = (pool.clone(), shared.clone());
            tokio::spawn(async move {
                let mut mine: Vec<Uuid> = Vec::new();
                for step in 0..40u64 {
                    let mut tx = pool.begin().await.expect("begin");
                    // Taken early, as a long transaction would: its id is older than those of
                    // writers that begin after it and commit before it.
                    sqlx::query("select pg_current_xact_id()")
                        .execute(&mut *tx)
                        .await
                        .expect("xid");
                    let pick = (step * 7 + writer * 3) % 6;
                    let (event, tag) = if mine.is_empty() || pick < 2 {
                        let id = Uuid::now_v7();
                        mine.push(id);
                        (EventType::TagCreated, id)
                    } else if pick < 4 {
                        let id = &shared[(step as usize + writer as usize) % shared.len()];
                        (EventType::TagUpdated, Uuid::parse_str(id).expect("uuid"))
                    } else if pick == 4 {
                        (EventType::TagUpdated, mine[(step as usize) % mine.len()])
                    } else {
                        (
                            EventType::TagDeleted,
                            mine.remove((step as usize) % mine.len()),
                        )
                    };
                    tokio::time::sleep(Duration::from_millis((step * 11 + writer * 7) % 17)).await;
                    let name = format!("w{writer}-{step}");
                    let sql = match event {
                        EventType::TagCreated => {
                            "insert into tags (id, slug, name) values ($1, $2, $2)"
                        }
                        EventType::TagUpdated => "update tags set name = $2 where id = $1",
                        _ => "delete from tags where id = $1 and $2 <> ''",
                    };
                    sqlx::query(sql)
                        .bind(tag)
                        .bind(&name)
                        .execute(&mut *tx)
                        .await
                        .expect("write");
                    let object = json!({"id": tag, "name": name});
                    outbox::write_object(
                        &mut tx,
                        ObjectChange {
                            event,
                            kind: ObjectType::Tag,
                            id: tag,
                            slug: None,
                            object: (event != EventType::TagDeleted).then_some(&object),
                            actor: None,
                        },
                    )
                    .await
                    .expect("outbox");
                    // Later changes often commit first.
                    tokio::time::sleep(Duration::from_millis((step * 13 + writer * 5) % 23)).await;
                    tx.commit().await.expect("commit");
                }
            })
        })
        .collect();

    let mut polls = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        let response = app
            .get(&format!("/v1/changes?cursor={cursor}&limit=7"), None)
            .await;
        let page = response.json();
        apply(&mut seen, page["data"].as_array().map_or(&[][..], |d| d));
        cursor = page["meta"]["next_cursor"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        polls += 1;
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let (rest, _) = read_all(&app, None, "limit=7", Some(cursor)).await;
    apply(&mut seen, &rest);
    let in_database: HashMap<String, String> =
        sqlx::query_as::<_, (Uuid, String)>("select id, name from tags")
            .fetch_all(&pool)
            .await
            .expect("tags")
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect();
    assert!(
        polls > 20,
        "the reader polled while writers wrote ({polls})"
    );
    assert!(in_database.len() > shared.len());
    let differ: Vec<_> = in_database
        .iter()
        .filter(|(id, name)| seen.get(*id) != Some(name))
        .map(|(id, name)| (id, name, seen.get(id)))
        .chain(
            seen.iter()
                .filter(|(id, _)| !in_database.contains_key(*id))
                .map(|(id, name)| (id, name, None)),
        )
        .collect();
    assert!(
        differ.is_empty(),
        "(id, in the database, as read): {differ:?}"
    );
}

/// Applies feed entries to a reader's copy: id → name.
fn apply(seen: &mut HashMap<String, String>, entries: &[Value]) {
    for entry in entries {
        let id = entry["id"].as_str().unwrap_or_default().to_owned();
        match entry["op"].as_str() {
            Some("upsert") => {
                seen.insert(
                    id,
                    entry["object"]["name"].as_str().unwrap_or_default().into(),
                );
            }
            _ => {
                seen.remove(&id);
            }
        }
    }
}

/// (event, public op) of every change written, in order.
async fn written(pool: &PgPool) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "select event, public_op from changes where object_type = 'article' order by seq",
    )
    .fetch_all(pool)
    .await
    .expect("changes")
}

#[sqlx::test]
async fn an_import_writes_one_event_per_line_and_a_scheduled_publish_one_publish(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let lines = [
        json!({"external_id": "a-1", "title": "Draft line", "body_markdown": "x"}),
        json!({"external_id": "a-2", "title": "Live line", "body_markdown": "y", "status": "published"}),
        json!({"external_id": "a-3", "title": "Another draft", "body_markdown": "z"}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let imported = app
        .send(
            TestApp::request(axum::http::Method::POST, "/v1/import", Some(&editor))
                .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
                .body(axum::body::Body::from(body.clone()))
                .expect("request"),
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text());
    let up = |e: &str, op: Option<&str>| (e.to_owned(), op.map(str::to_owned));
    let mut first = written(&pool).await;
    first.sort();
    assert_eq!(
        first,
        vec![
            up("article.created", None),
            up("article.created", None),
            up("article.published", Some("upsert")),
        ]
    );
    // The same file again changes nothing, so it says nothing.
    app.send(
        TestApp::request(axum::http::Method::POST, "/v1/import", Some(&editor))
            .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
            .body(axum::body::Body::from(body))
            .expect("request"),
    )
    .await;
    assert_eq!(written(&pool).await.len(), 3);

    let draft: String =
        sqlx::query_scalar("select id::text from articles where external_id = 'a-1'")
            .fetch_one(&pool)
            .await
            .expect("draft");
    let at = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let scheduled = app
        .post(
            &format!("/v1/articles/{draft}/schedule"),
            Some(&editor),
            json!({"publish_at": at}),
        )
        .await;
    assert_eq!(scheduled.status, StatusCode::OK, "{}", scheduled.text());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    galley::articles::workflow::publish_due(&app.state)
        .await
        .expect("publish due");
    galley::articles::workflow::publish_due(&app.state)
        .await
        .expect("again: nothing");
    let all = written(&pool).await;
    assert_eq!(
        all[3..].to_vec(),
        vec![
            up("article.scheduled", None),
            up("article.published", Some("upsert"))
        ]
    );
    let first_publish: Option<bool> = sqlx::query_scalar(
        "select first_publish from changes where event = 'article.published' order by seq desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .expect("first_publish");
    assert_eq!(first_publish, Some(true));
}

#[sqlx::test]
async fn public_reads_name_what_they_contain_for_a_cdn_to_purge(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let article = created(
        &app,
        &editor,
        "/v1/articles",
        json!({"title": "Music", "body_markdown": "Notes.", "tags": [{"name": "Music"}],
               "authors": [{"name": "管静鹏"}]}),
    )
    .await;
    let id = id(&article);
    let published = app
        .post(
            &format!("/v1/articles/{id}/publish"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK);
    let author = article["authors"][0]["id"]
        .as_str()
        .expect("author")
        .to_owned();
    let tag = article["tags"][0]["id"].as_str().expect("tag").to_owned();

    let one = app.get(&format!("/v1/articles/{id}"), None).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text());
    let expected = format!("article-{id} author-{author} tag-{tag}");
    assert_eq!(one.header("surrogate-key"), Some(expected.as_str()));
    assert_eq!(
        one.header("cache-tag"),
        Some(expected.replace(' ', ",").as_str())
    );
    let list = app.get("/v1/articles", None).await;
    assert_eq!(
        list.header("surrogate-key"),
        Some(format!("articles {expected}").as_str())
    );
    let tags = app.get("/v1/tags", None).await;
    assert_eq!(
        tags.header("surrogate-key"),
        Some(format!("tags tag-{tag}").as_str())
    );
    let one_tag = app.get(&format!("/v1/tags/{tag}"), None).await;
    assert_eq!(
        one_tag.header("surrogate-key"),
        Some(format!("tag-{tag}").as_str())
    );
    let authors = app.get("/v1/authors", None).await;
    assert_eq!(
        authors.header("surrogate-key"),
        Some(format!("authors author-{author}").as_str())
    );
    // A signed-in answer is never for a shared cache: no keys.
    let signed_in = app.get(&format!("/v1/articles/{id}"), Some(&editor)).await;
    assert_eq!(signed_in.header("surrogate-key"), None);
    assert_eq!(signed_in.header("cache-tag"), None);
}

#[sqlx::test]
async fn changes_past_retention_are_deleted_and_their_cursors_expire(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let editor = app.token_for(Role::Editor).await;
    let (_, before) = read_all(&app, None, "", None).await;
    for name in ["Olympics", "Music"] {
        created(&app, &editor, "/v1/tags", json!({"name": name})).await;
    }
    let (seen, after) = read_all(&app, None, "", Some(before.clone())).await;
    assert_eq!(seen.len(), 2);
    sqlx::query("update changes set at = now() - interval '40 days'")
        .execute(&pool)
        .await
        .expect("age");
    let retention = Duration::from_secs(30 * 86_400);
    let pruned = galley::changes::retention::prune(&pool, retention)
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    app.get(&format!("/v1/changes?cursor={before}"), None)
        .await
        .assert_problem(StatusCode::GONE, "cursor-expired");
    let (rest, _) = read_all(&app, None, "", Some(after)).await;
    assert!(
        rest.is_empty(),
        "a cursor after what was deleted still reads on"
    );
    created(&app, &editor, "/v1/tags", json!({"name": "松弛感"})).await;
    assert_eq!(
        galley::changes::retention::prune(&pool, retention)
            .await
            .expect("prune"),
        0
    );
}
