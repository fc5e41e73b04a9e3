//! Author-specific fields: bio, website, social links, and email visible only when signed in.

use axum::http::StatusCode;
use galley::accounts::role::Role;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test]
async fn an_author_carries_bio_website_social_and_a_private_email(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let created = app
        .post(
            "/v1/authors",
            Some(&editor),
            json!({
                "name": "RADII Staff",
                "bio": "Culture from China.\nDaily.",
                "website": "https://radii.co",
                "social": {"x": "https://x.com/radii", "weibo": "https://weibo.com/radii"},
                "email": "staff@radii.co"
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/authors/{id}").as_str())
    );
    let author = created.json();
    assert_eq!(author["slug"], "radii-staff");
    assert_eq!(author["bio"], "Culture from China.\nDaily.");
    assert_eq!(author["social"]["weibo"], "https://weibo.com/radii");
    assert_eq!(author["email"], "staff@radii.co");
    assert!(author["avatar"].is_null());

    let public = app.get("/v1/authors/radii-staff", None).await.json();
    assert!(
        public.get("email").is_none(),
        "email hidden from anonymous readers"
    );
    let public_list = app.get("/v1/authors", None).await.json();
    assert!(public_list["data"][0].get("email").is_none());
    let reader = app.api_token(&editor, "reader").await;
    assert_eq!(
        app.get("/v1/authors/radii-staff", Some(&reader))
            .await
            .json()["email"],
        "staff@radii.co"
    );
    assert_eq!(
        app.get("/v1/authors", Some(&reader)).await.json()["data"][0]["email"],
        "staff@radii.co"
    );
}

#[sqlx::test]
async fn author_fields_are_validated_with_their_paths(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let invalid = app
        .post(
            "/v1/authors",
            Some(&editor),
            json!({
                "name": "Someone",
                "website": "javascript:alert(1)",
                "email": "nope",
                "social": {"x": "ftp://x.com/a", "Bad Key": "https://example.com"},
                "bio": "b".repeat(5001)
            }),
        )
        .await;
    let mut fields = invalid.assert_invalid_fields();
    fields.sort();
    fields.dedup();
    assert_eq!(
        fields,
        vec!["bio", "email", "social.Bad Key", "social.x", "website"]
    );
    let count: i64 = sqlx::query_scalar("select count(*) from authors")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn patching_an_author_keeps_absent_fields_and_clears_nulls(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let created = app.post(
        "/v1/authors",
        Some(&editor),
        json!({"name": "Lil Cany 小叶", "bio": "Photographer", "website": "https://cany.example", "social": {"x": "https://x.com/cany"}, "email": "cany@example.com"}),
    )
    .await
    .json();
    let path = &format!("/v1/authors/{}", created["id"].as_str().expect("id"));
    let patched = app
        .patch(path, Some(&editor), json!({"bio": null, "social": {}}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let author = patched.json();
    assert!(author["bio"].is_null());
    assert_eq!(author["social"], json!({}));
    assert_eq!(author["website"], "https://cany.example");
    assert_eq!(author["email"], "cany@example.com");
    assert_eq!(author["name"], "Lil Cany 小叶");
    let cleared = app
        .patch(path, Some(&editor), json!({"website": "", "email": null}))
        .await
        .json();
    assert!(cleared["website"].is_null() && cleared["email"].is_null());
}

#[sqlx::test]
async fn deleting_an_author_unlinks_the_user_who_wrote_as_them(pool: PgPool) {
    let app = TestApp::new(pool);
    let admin = app.token_for(Role::Admin).await;
    let author = app
        .post("/v1/authors", Some(&admin), json!({"name": "Byline"}))
        .await
        .json();
    let author_id = author["id"].as_str().expect("id");
    let user = app
        .post("/v1/users", Some(&admin), json!({"email": "w@example.com", "name": "W", "role": "author", "password": "long enough pw", "author_id": author_id}))
        .await;
    assert_eq!(user.json()["author_id"], author_id);
    let second = app
        .post("/v1/users", Some(&admin), json!({"email": "w2@example.com", "name": "W2", "role": "author", "password": "long enough pw", "author_id": author_id}))
        .await;
    second.assert_problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(
        app.delete("/v1/authors/byline", Some(&admin)).await.status,
        StatusCode::NO_CONTENT
    );
    let user_id = user.json()["id"].as_str().expect("id").to_owned();
    assert!(
        app.get(&format!("/v1/users/{user_id}"), Some(&admin))
            .await
            .json()["author_id"]
            .is_null()
    );
}
