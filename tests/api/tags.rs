//! Tag-specific fields.

use axum::http::StatusCode;
use galley::accounts::role::Role;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test]
async fn a_tag_has_a_description_that_can_be_cleared(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let created = app
        .post(
            "/v1/tags",
            Some(&editor),
            json!({"name": "松弛感", "description": "Being relaxed, \"chill\" — a 2024 buzzword."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let tag = created.json();
    assert_eq!(tag["slug"], "song-chi-gan");
    assert_eq!(
        tag["description"],
        "Being relaxed, \"chill\" — a 2024 buzzword."
    );
    assert_eq!(tag["article_count"], 0);
    let cleared = app
        .patch(
            "/v1/tags/song-chi-gan",
            Some(&editor),
            json!({"description": null}),
        )
        .await
        .json();
    assert!(cleared["description"].is_null());
    assert_eq!(cleared["name"], "松弛感");
    let long = app
        .post("/v1/tags", Some(&editor), json!({"name": "x".repeat(101)}))
        .await;
    assert_eq!(long.assert_invalid_fields(), vec!["name"]);
}
