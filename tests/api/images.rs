//! Images: uploads with hostile inputs, metadata stripping, variants, the library, media files.

use std::io::Cursor;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use galley::accounts::role::Role;
use image::{ImageEncoder, RgbImage, RgbaImage, codecs::jpeg::JpegEncoder};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, TestResponse};

/// A photo-like gradient, so encoders have something to compress.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width) as u8,
            (y * 255 / height) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 90)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .expect("encode jpeg");
    bytes
}

fn png_rgba(width: u32, height: u32) -> Vec<u8> {
    let img = RgbaImage::from_fn(width, height, |x, _| {
        image::Rgba([200, 10, 10, (x % 256) as u8])
    });
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("encode png");
    bytes
}

const SECRET: &str = "GALLEY-SECRET-GPS-39.9042N";

/// Inserts an EXIF segment (big-endian TIFF) right after the JPEG's SOI marker, carrying an
/// orientation, an ImageDescription with a recognisable secret, and a GPS IFD.
fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff: Vec<u8> = b"MM\x00\x2A\x00\x00\x00\x08".to_vec();
    let description = format!("{SECRET}\0");
    // IFD0 at 8: three entries (12 bytes each) + next-IFD offset.
    let ifd0_len = 2 + 3 * 12 + 4;
    let description_offset = 8 + ifd0_len;
    let gps_offset = description_offset + description.len();
    let entry = |tag: u16, kind: u16, count: u32, value: u32| -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(&tag.to_be_bytes());
        e.extend_from_slice(&kind.to_be_bytes());
        e.extend_from_slice(&count.to_be_bytes());
        e.extend_from_slice(&value.to_be_bytes());
        e
    };
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend(entry(
        0x010E,
        2,
        description.len() as u32,
        description_offset as u32,
    ));
    tiff.extend(entry(0x0112, 3, 1, u32::from(orientation) << 16));
    tiff.extend(entry(0x8825, 4, 1, gps_offset as u32));
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(description.as_bytes());
    // GPS IFD: GPSLatitudeRef = "N".
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend(entry(0x0001, 2, 2, u32::from_be_bytes(*b"N\0\0\0")));
    tiff.extend_from_slice(&0u32.to_be_bytes());

    let mut segment = b"Exif\0\0".to_vec();
    segment.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
    out.extend(segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32(&body).to_be_bytes());
    chunk
}

/// A tiny PNG whose header claims 65535×65535 pixels (a "decompression bomb").
fn pixel_flood_png() -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&65535u32.to_be_bytes());
    ihdr.extend_from_slice(&65535u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

pub struct Part<'a> {
    name: &'a str,
    filename: Option<&'a str>,
    content_type: Option<&'a str>,
    bytes: Vec<u8>,
}

pub fn file(filename: &str, bytes: Vec<u8>) -> Part<'_> {
    Part {
        name: "file",
        filename: Some(filename),
        content_type: Some("application/octet-stream"),
        bytes,
    }
}

pub fn text<'a>(name: &'a str, value: &str) -> Part<'a> {
    Part {
        name,
        filename: None,
        content_type: None,
        bytes: value.as_bytes().to_vec(),
    }
}

pub async fn upload(app: &TestApp, token: Option<&str>, parts: Vec<Part<'_>>) -> TestResponse {
    let boundary = "galley-test-boundary-7d3f";
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    app.send(
        TestApp::request(Method::POST, "/v1/images", token)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

/// Every file stored for the test.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(app.media_dir.path(), &mut out);
    out
}

fn assert_no_metadata(bytes: &[u8]) {
    let haystack = String::from_utf8_lossy(bytes);
    assert!(!haystack.contains(SECRET), "EXIF text survived");
    assert!(!haystack.contains("Exif\0\0"), "an EXIF segment survived");
}

#[sqlx::test]
async fn an_upload_gets_variants_a_blurhash_and_its_words(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    let response = upload(
        &app,
        Some(&author),
        vec![
            file("wang-xu.jpg", jpeg(1000, 600)),
            text("alt", "White+ drummer Wang Xu at Bye Bye Disco Beijing"),
            text(
                "caption",
                "White+’s Wang Xu surrounded by the crowd — 我的阿勒泰.",
            ),
            text("credit", "Photo by Lil Cany 小叶."),
        ],
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let image = response.json();
    let id = image["id"].as_str().expect("id").to_owned();
    assert_eq!(
        response.header("location"),
        Some(format!("/v1/images/{id}").as_str())
    );
    assert_eq!(image["mime_type"], "image/jpeg");
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(1000), Some(600))
    );
    assert_eq!(image["credit"], "Photo by Lil Cany 小叶.");
    assert_eq!(
        image["caption"],
        "White+’s Wang Xu surrounded by the crowd — 我的阿勒泰."
    );
    assert_eq!(image["sha256"].as_str().expect("sha").len(), 64);
    assert!(image["blurhash"].as_str().expect("blurhash").len() >= 6);
    assert!(image["focal_point"].is_null());
    assert_eq!(image["url"], format!("/media/images/{id}/original.jpg"));

    let variants = image["variants"].as_array().expect("variants");
    let described: Vec<(i64, &str)> = variants
        .iter()
        .map(|v| {
            (
                v["width"].as_i64().expect("w"),
                v["mime_type"].as_str().expect("t"),
            )
        })
        .collect();
    assert_eq!(
        described,
        vec![
            (320, "image/webp"),
            (320, "image/jpeg"),
            (640, "image/webp"),
            (640, "image/jpeg")
        ],
        "never upscaled: no 1024+ variants of a 1000px image"
    );
    for variant in variants {
        let served = app.get(variant["url"].as_str().expect("url"), None).await;
        assert_eq!(served.status, StatusCode::OK);
        assert_eq!(served.header("content-type"), variant["mime_type"].as_str());
        assert_eq!(
            served.body.len() as i64,
            variant["bytes"].as_i64().expect("bytes")
        );
        let decoded = image::load_from_memory(&served.body).expect("decodes");
        assert_eq!(
            i64::from(decoded.width()),
            variant["width"].as_i64().expect("w")
        );
        assert_eq!(
            i64::from(decoded.height()),
            variant["height"].as_i64().expect("h")
        );
    }
    // `GET /v1/images/{id}` is public.
    let public = app.get(&format!("/v1/images/{id}"), None).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.json()["id"], id.as_str());
}

#[sqlx::test]
async fn uploading_the_same_bytes_again_returns_the_existing_image(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    let bytes = jpeg(700, 400);
    let first = upload(&app, Some(&author), vec![file("a.jpg", bytes.clone())]).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let files_after_first = stored_files(&app).len();
    let second = upload(&app, Some(&author), vec![file("b.jpg", bytes)]).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(second.json()["id"], first.json()["id"]);
    assert_eq!(stored_files(&app).len(), files_after_first, "no new files");
}

#[sqlx::test]
async fn gps_exif_is_stripped_and_orientation_applied(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    // Orientation 6: the camera was turned; the upright picture is 400 wide, 800 high.
    let bytes = with_exif(&jpeg(800, 400), 6);
    assert!(
        String::from_utf8_lossy(&bytes).contains(SECRET),
        "the fixture carries EXIF"
    );
    let response = upload(&app, Some(&author), vec![file("phone.jpg", bytes)]).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let image = response.json();
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(400), Some(800))
    );
    let original = app.get(image["url"].as_str().expect("url"), None).await;
    assert_no_metadata(&original.body);
    let decoded = image::load_from_memory(&original.body).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (400, 800));
    for variant in image["variants"].as_array().expect("variants") {
        let served = app.get(variant["url"].as_str().expect("url"), None).await;
        assert_no_metadata(&served.body);
    }
    // Nothing on disk carries it either.
    for path in stored_files(&app) {
        assert_no_metadata(&std::fs::read(path).expect("read"));
    }
}

#[sqlx::test]
async fn an_upright_jpeg_keeps_its_image_data_and_loses_only_metadata(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    let plain = jpeg(640, 480);
    let response = upload(
        &app,
        Some(&author),
        vec![file("upright.jpg", with_exif(&plain, 1))],
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let original = app
        .get(response.json()["url"].as_str().expect("url"), None)
        .await;
    // No re-encoding (no generation loss): exactly the upload without its EXIF segment.
    assert_eq!(original.body.as_ref(), plain.as_slice());
}

#[sqlx::test]
async fn png_text_chunks_are_dropped_from_the_original(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    let png = png_rgba(50, 40);
    // Insert a tEXt chunk after IHDR (8-byte signature + 25-byte IHDR chunk).
    let mut with_text = png[..33].to_vec();
    with_text.extend(png_chunk(b"tEXt", format!("Comment\0{SECRET}").as_bytes()));
    with_text.extend_from_slice(&png[33..]);
    let response = upload(&app, Some(&author), vec![file("text.png", with_text)]).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let original = app
        .get(response.json()["url"].as_str().expect("url"), None)
        .await;
    assert_no_metadata(&original.body);
    assert_eq!(original.body.as_ref(), png.as_slice());
}

#[sqlx::test]
async fn hostile_files_are_refused_and_leave_nothing_behind(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| c.media.max_upload_bytes = 4096);
    let author = app.token_for(Role::Author).await;

    let html = b"<!doctype html><script>alert(1)</script>".to_vec();
    upload(&app, Some(&author), vec![file("innocent.png", html)])
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    upload(&app, Some(&author), vec![file("logo.svg", svg)])
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");

    let empty = upload(&app, Some(&author), vec![file("empty.jpg", Vec::new())]).await;
    assert_eq!(empty.assert_invalid_fields(), vec!["file"]);

    let png = png_rgba(40, 30);
    let truncated = upload(
        &app,
        Some(&author),
        vec![file("cut.png", png[..png.len() / 2].to_vec())],
    )
    .await;
    assert_eq!(truncated.assert_invalid_fields(), vec!["file"]);

    let started = std::time::Instant::now();
    let flood = upload(
        &app,
        Some(&author),
        vec![file("bomb.png", pixel_flood_png())],
    )
    .await;
    assert_eq!(flood.assert_invalid_fields(), vec!["file"]);
    assert!(flood.text().contains("65535"), "{}", flood.text());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "refused before decoding"
    );

    let over = upload(&app, Some(&author), vec![file("big.jpg", vec![0xFF; 4097])]).await;
    over.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");

    let count: i64 = sqlx::query_scalar("select count(*) from images")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0);
    assert!(
        stored_files(&app).is_empty(),
        "no files: {:?}",
        stored_files(&app)
    );
}

#[sqlx::test]
async fn malformed_upload_requests_are_4xx(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    app.post("/v1/images", Some(&author), json!({"file": "x"}))
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let missing = upload(&app, Some(&author), vec![text("alt", "no file")]).await;
    assert_eq!(missing.assert_invalid_fields(), vec!["file"]);
    let unknown = upload(
        &app,
        Some(&author),
        vec![file("a.jpg", jpeg(10, 10)), text("colour", "red")],
    )
    .await;
    assert_eq!(unknown.assert_invalid_fields(), vec!["colour"]);
    let two = upload(
        &app,
        Some(&author),
        vec![file("a.jpg", jpeg(10, 10)), file("b.jpg", jpeg(12, 10))],
    )
    .await;
    assert_eq!(two.assert_invalid_fields(), vec!["file"]);
    let long_alt = upload(
        &app,
        Some(&author),
        vec![file("a.jpg", jpeg(10, 10)), text("alt", &"a".repeat(1001))],
    )
    .await;
    assert_eq!(long_alt.assert_invalid_fields(), vec!["alt"]);
}

#[sqlx::test]
async fn a_client_file_name_never_becomes_a_path(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    let response = upload(
        &app,
        Some(&author),
        vec![file("../../../../tmp/evil.png", png_rgba(20, 20))],
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let id = response.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        response.json()["url"],
        format!("/media/images/{id}/original.png")
    );
    for path in stored_files(&app) {
        assert!(path.starts_with(app.media_dir.path()));
        assert!(!path.to_string_lossy().contains("evil"));
    }
    let stored: Option<String> = sqlx::query_scalar("select original_filename from images")
        .fetch_one(&app.pool)
        .await
        .expect("row");
    assert_eq!(stored.as_deref(), Some("evil.png"));
    // Traversal through the media route finds nothing.
    for path in [
        "/media/images/../../etc/passwd",
        "/media/images/%2e%2e/original.png",
        &format!("/media/images/{id}/..%2f..%2fsecret.png"),
    ] {
        let served = app.get(path, None).await;
        assert_eq!(served.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[sqlx::test]
async fn transparent_images_fall_back_to_png_variants(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    let response = upload(
        &app,
        Some(&author),
        vec![file("logo.png", png_rgba(400, 100))],
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let types: Vec<String> = response.json()["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["mime_type"].as_str().expect("t").to_owned())
        .collect();
    assert_eq!(types, vec!["image/webp", "image/png"]);
}

#[sqlx::test]
async fn only_authors_and_up_upload_and_only_signed_in_users_browse(pool: PgPool) {
    let app = TestApp::new(pool);
    upload(&app, None, vec![file("a.jpg", jpeg(10, 10))])
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let contributor = app.token_for(Role::Contributor).await;
    upload(&app, Some(&contributor), vec![file("a.jpg", jpeg(10, 10))])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/images", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let editor = app.token_for(Role::Editor).await;
    let reader = app.api_token(&editor, "reader").await;
    app.get("/v1/images", Some(&reader))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.get("/v1/images", Some(&contributor)).await.status,
        StatusCode::OK
    );
}

pub async fn uploaded(app: &TestApp, token: &str, width: u32, credit: &str) -> Value {
    let response = upload(
        app,
        Some(token),
        vec![file("x.jpg", jpeg(width, 50)), text("credit", credit)],
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()
}

#[sqlx::test]
async fn editors_and_the_uploader_edit_words_and_focal_point(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    let image = uploaded(&app, &author, 100, "Image via AFP-JIJI.").await;
    let path = format!("/v1/images/{}", image["id"].as_str().expect("id"));

    let patched = app
        .patch(
            &path,
            Some(&author),
            json!({"alt": "Pan Zhanle", "focal_point": {"x": 0.25, "y": 0.5}, "credit": null}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    assert_eq!(patched.json()["focal_point"], json!({"x": 0.25, "y": 0.5}));
    assert!(patched.json()["credit"].is_null());
    assert_eq!(patched.json()["alt"], "Pan Zhanle");

    let invalid = app
        .patch(
            &path,
            Some(&author),
            json!({"focal_point": {"x": 1.5, "y": -1}}),
        )
        .await;
    let mut fields = invalid.assert_invalid_fields();
    fields.sort();
    assert_eq!(fields, vec!["focal_point.x", "focal_point.y"]);

    let other_author = app.token_for(Role::Author).await;
    app.patch(&path, Some(&other_author), json!({"alt": "mine now"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.delete(&path, Some(&other_author))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let editor = app.token_for(Role::Editor).await;
    assert_eq!(
        app.patch(&path, Some(&editor), json!({"focal_point": null}))
            .await
            .json()["focal_point"],
        Value::Null
    );
}

#[sqlx::test]
async fn an_image_in_use_cannot_be_deleted_and_unused_ones_lose_their_files(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let image = uploaded(&app, &editor, 400, "Photo by RADII.").await;
    let id = image["id"].as_str().expect("id").to_owned();
    let author = app
        .post(
            "/v1/authors",
            Some(&editor),
            json!({"name": "RADII Staff", "avatar_image_id": id}),
        )
        .await;
    assert_eq!(author.status, StatusCode::CREATED, "{}", author.text());
    assert_eq!(author.json()["avatar"]["id"], id.as_str());
    assert_eq!(
        app.get("/v1/authors/radii-staff", None).await.json()["avatar"]["url"],
        image["url"]
    );
    assert_eq!(
        app.get("/v1/authors", None).await.json()["data"][0]["avatar"]["id"],
        id.as_str()
    );

    let conflict = app.delete(&format!("/v1/images/{id}"), Some(&editor)).await;
    let body = conflict.assert_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("RADII Staff"),
        "{body}"
    );
    assert_eq!(
        app.get(image["url"].as_str().expect("url"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/images?unused=true", Some(&editor))
            .await
            .json()["meta"]["total"],
        0
    );
    assert_eq!(
        app.get("/v1/images?unused=false", Some(&editor))
            .await
            .json()["meta"]["total"],
        1
    );

    app.patch(
        "/v1/authors/radii-staff",
        Some(&editor),
        json!({"avatar_image_id": null}),
    )
    .await;
    assert_eq!(
        app.get("/v1/images?unused=true", Some(&editor))
            .await
            .json()["meta"]["total"],
        1
    );
    assert_eq!(
        app.delete(&format!("/v1/images/{id}"), Some(&editor))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.get(image["url"].as_str().expect("url"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/images/{id}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    assert!(stored_files(&app).is_empty(), "{:?}", stored_files(&app));

    let bad_avatar = app
        .post(
            "/v1/authors",
            Some(&editor),
            json!({"name": "Nobody", "avatar_image_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(bad_avatar.assert_invalid_fields(), vec!["avatar_image_id"]);
}

#[sqlx::test]
async fn usage_lists_every_user_of_an_image_by_kind(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    let contributor = app.token_for(Role::Contributor).await;
    let image = uploaded(&app, &editor, 400, "Photo by Lil Cany 小叶.").await;
    let id = image["id"].as_str().expect("id").to_owned();
    let usage = format!("/v1/images/{id}/usage");
    let empty = app.get(&usage, Some(&editor)).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text());
    assert_eq!(empty.json()["meta"]["total"], 0);

    let author = app
        .post(
            "/v1/authors",
            Some(&editor),
            json!({"name": "管静鹏", "avatar_image_id": id}),
        )
        .await;
    assert_eq!(author.status, StatusCode::CREATED, "{}", author.text());
    let article = app
        .post(
            "/v1/articles",
            Some(&editor),
            json!({"title": "我的阿勒泰", "banner": {"image_id": id},
                   "body": [{"type": "image", "image_id": id}]}),
        )
        .await;
    assert_eq!(article.status, StatusCode::CREATED, "{}", article.text());
    let article_id = article.json()["id"].as_str().expect("id").to_owned();
    let published = app
        .post(
            &format!("/v1/articles/{article_id}/publish"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.text());

    let listed = app.get(&usage, Some(&editor)).await.json();
    let uses: Vec<(String, String, String)> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|u| {
            let text = |k: &str| u[k].as_str().expect("text").to_owned();
            (text("kind"), text("id"), text("label"))
        })
        .collect();
    let author_id = author.json()["id"].as_str().expect("id").to_owned();
    let on_article = |kind: &str| (kind.to_owned(), article_id.clone(), "我的阿勒泰".to_owned());
    assert_eq!(
        uses,
        vec![
            (
                "article_banner".to_owned(),
                article_id.clone(),
                "我的阿勒泰".to_owned()
            ),
            on_article("article_body_image"),
            ("author_avatar".to_owned(), author_id, "管静鹏".to_owned()),
            on_article("published_article"),
        ]
    );
    assert_eq!(listed["meta"]["total"], 4);
    let refused = app.delete(&format!("/v1/images/{id}"), Some(&editor)).await;
    let detail = refused.assert_problem(StatusCode::CONFLICT, "conflict")["detail"].to_string();
    assert!(
        detail.contains("管静鹏") && detail.contains("/usage"),
        "{detail}"
    );

    app.get(&usage, Some(&contributor))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get(&usage, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get(
        &format!("/v1/images/{}/usage", uuid::Uuid::now_v7()),
        Some(&editor),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.get("/v1/images/not-an-id/usage", Some(&editor))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
}

#[sqlx::test]
async fn the_library_searches_words_and_pages(pool: PgPool) {
    let app = TestApp::new(pool);
    let editor = app.token_for(Role::Editor).await;
    uploaded(&app, &editor, 100, "Image via Alibaba Cloud.").await;
    uploaded(&app, &editor, 101, "Photo by Lil Cany 小叶.").await;
    uploaded(&app, &editor, 102, "Photo by 100% agency_x").await;
    let found = app
        .get("/v1/images?q=lil%20cany", Some(&editor))
        .await
        .json();
    assert_eq!(found["meta"]["total"], 1);
    assert_eq!(found["data"][0]["credit"], "Photo by Lil Cany 小叶.");
    assert_eq!(
        app.get("/v1/images?q=%E5%B0%8F%E5%8F%B6", Some(&editor))
            .await
            .json()["meta"]["total"],
        1
    );
    // LIKE wildcards in the query are literal.
    assert_eq!(
        app.get("/v1/images?q=100%25", Some(&editor)).await.json()["meta"]["total"],
        1
    );
    assert_eq!(
        app.get("/v1/images?q=_", Some(&editor)).await.json()["meta"]["total"],
        1
    );
    let first = app.get("/v1/images?limit=2", Some(&editor)).await.json();
    assert_eq!(first["meta"]["total"], 3);
    let cursor = first["meta"]["next_cursor"].as_str().expect("cursor");
    let second = app
        .get(
            &format!("/v1/images?limit=2&cursor={cursor}"),
            Some(&editor),
        )
        .await
        .json();
    assert_eq!(second["data"].as_array().expect("data").len(), 1);
    app.get("/v1/images?unused=maybe", Some(&editor))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
}

#[sqlx::test]
async fn media_files_are_immutable_with_etags_and_ranges(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    let image = uploaded(&app, &author, 500, "x").await;
    let url = image["url"].as_str().expect("url");
    let full = app.get(url, None).await;
    assert_eq!(
        full.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(full.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let etag = full.header("etag").expect("etag").to_owned();
    let length = full.body.len();

    let get_with = |name: &'static str, value: String| {
        TestApp::request(Method::GET, url, None)
            .header(name, value)
            .body(Body::empty())
            .expect("request")
    };
    let cached = app.send(get_with("if-none-match", etag.clone())).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    let partial = app.send(get_with("range", "bytes=0-9".into())).await;
    assert_eq!(partial.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(partial.body, full.body.slice(0..10));
    assert_eq!(
        partial.header("content-range"),
        Some(format!("bytes 0-9/{length}").as_str())
    );
    let suffix = app.send(get_with("range", "bytes=-5".into())).await;
    assert_eq!(suffix.body, full.body.slice(length - 5..));
    let beyond = app
        .send(get_with("range", format!("bytes={length}-")))
        .await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{length}").as_str())
    );

    let id = image["id"].as_str().expect("id");
    for missing in [
        format!("/media/images/{id}/9999.webp"),
        format!("/media/images/{id}/original.svg"),
        "/media/images/nope/original.jpg".to_owned(),
    ] {
        app.get(&missing, None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
}

#[sqlx::test]
async fn garbage_collection_finds_files_without_a_row(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    uploaded(&app, &author, 400, "kept").await;
    let orphan_dir = app
        .media_dir
        .path()
        .join("images")
        .join(uuid::Uuid::now_v7().to_string());
    std::fs::create_dir_all(&orphan_dir).expect("dir");
    std::fs::write(orphan_dir.join("original.jpg"), b"left by a crash").expect("write");

    let media = &app.state.media;
    let orphans = galley::images::orphaned_files(&app.pool, media, std::time::Duration::ZERO)
        .await
        .expect("gc");
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert!(orphans[0].ends_with("/original.jpg"));
    let young =
        galley::images::orphaned_files(&app.pool, media, std::time::Duration::from_secs(3600))
            .await
            .expect("gc");
    assert!(young.is_empty(), "files of uploads in progress are spared");
}

/// A body that arrives in pieces with pauses between them, like a slow mobile upload.
fn slow_body(bytes: Vec<u8>, pieces: usize, pause: std::time::Duration) -> Body {
    let chunk = bytes.len().div_ceil(pieces).max(1);
    let chunks: Vec<Vec<u8>> = bytes.chunks(chunk).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::unfold(chunks.into_iter(), move |mut rest| async move {
        let next = rest.next()?;
        tokio::time::sleep(pause).await;
        Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(next)), rest))
    });
    Body::from_stream(stream)
}

#[sqlx::test]
async fn uploads_get_the_upload_timeout_and_other_requests_the_request_timeout(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| {
        c.request_timeout = std::time::Duration::from_millis(400);
        c.upload_timeout = std::time::Duration::from_secs(30);
    });
    let author = app.token_for(Role::Editor).await;
    let boundary = "slow-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.jpg\"\r\n\r\n"
    )
    .into_bytes();
    form.extend(jpeg(64, 48));
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let pause = std::time::Duration::from_millis(100);
    let upload = app
        .send(
            TestApp::request(Method::POST, "/v1/images", Some(&author))
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(slow_body(form, 8, pause))
                .expect("request"),
        )
        .await;
    assert_eq!(upload.status, StatusCode::CREATED, "{}", upload.text());

    let json = json!({"name": "Slowly typed tag"}).to_string().into_bytes();
    let slow_json = app
        .send(
            TestApp::request(Method::POST, "/v1/tags", Some(&author))
                .header(header::CONTENT_TYPE, "application/json")
                .body(slow_body(json, 8, pause))
                .expect("request"),
        )
        .await;
    slow_json.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}

#[sqlx::test]
async fn a_tall_screenshot_gets_every_variant_its_encoders_can_write(pool: PgPool) {
    let app = TestApp::new(pool);
    let author = app.token_for(Role::Author).await;
    // 1080×24000: under the pixel limit, but a 1024-wide variant is 22,756 px tall, past
    // WebP's 16,383.
    let img = RgbImage::from_pixel(1080, 24_000, image::Rgb([240, 240, 235]));
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode png");
    let response = upload(&app, Some(&author), vec![file("long.png", png)]).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let variants: Vec<(u64, String)> = response.json()["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| {
            (
                v["width"].as_u64().expect("width"),
                v["mime_type"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    assert!(
        variants.contains(&(1024, "image/jpeg".to_owned())),
        "{variants:?}"
    );
    assert!(
        !variants.contains(&(1024, "image/webp".to_owned())),
        "{variants:?}"
    );
    assert!(
        variants.contains(&(640, "image/webp".to_owned())),
        "{variants:?}"
    );
}

/// A raw multipart request with this body.
async fn raw_upload(app: &TestApp, token: &str, body: Vec<u8>) -> TestResponse {
    app.send(
        TestApp::request(Method::POST, "/v1/images", Some(token))
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

#[sqlx::test]
async fn a_form_is_bounded_as_a_whole_and_in_its_headers(pool: PgPool) {
    let app = TestApp::with_config(pool, |config| config.media.max_upload_bytes = 256 * 1024);
    let author = app.token_for(Role::Author).await;
    let part = |headers: &str, data: &[u8]| {
        let mut b = format!("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"{headers}\r\n\r\n").into_bytes();
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    };
    // 100 KiB of preamble before the first boundary (within the form's limit).
    let mut preamble = vec![b'p'; 100 * 1024];
    preamble.extend(part("", &jpeg(64, 64)));
    raw_upload(&app, &author, preamble)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    // A part header of 100 KiB.
    let long_header = format!("\r\nX-Padding: {}", "h".repeat(100 * 1024));
    raw_upload(&app, &author, part(&long_header, &jpeg(64, 64)))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    // Unknown parts after the file cannot take the form past the limit either.
    let mut big = part("", &jpeg(64, 64));
    big.truncate(big.len() - b"--XyZ--\r\n".len());
    for _ in 0..40 {
        big.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\n");
        big.extend(std::iter::repeat_n(b'a', 15 * 1024));
        big.extend_from_slice(b"\r\n");
    }
    big.extend_from_slice(b"--XyZ--\r\n");
    let response = raw_upload(&app, &author, big).await;
    assert!(
        matches!(
            response.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::BAD_REQUEST
        ),
        "{} {}",
        response.status,
        response.text()
    );
    // A form within its limits still works.
    let ok = raw_upload(&app, &author, part("", &jpeg(64, 64))).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
}

#[sqlx::test]
async fn uploads_stop_at_the_per_user_quota(pool: PgPool) {
    let app = TestApp::with_config(pool, |config| config.media.quota_images = 2);
    let author = app.token_for(Role::Author).await;
    let other = app.token_for(Role::Author).await;
    for width in [60, 61] {
        let response = upload(&app, Some(&author), vec![file("a.jpg", jpeg(width, 40))]).await;
        assert_eq!(response.status, StatusCode::CREATED);
    }
    let third = upload(&app, Some(&author), vec![file("a.jpg", jpeg(62, 40))]).await;
    let body = third.assert_problem(StatusCode::FORBIDDEN, "quota-exceeded");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("2 images")
    );
    // Someone else's quota is their own; the same bytes again are not a new upload.
    let theirs = upload(&app, Some(&other), vec![file("a.jpg", jpeg(62, 40))]).await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let again = upload(&app, Some(&author), vec![file("a.jpg", jpeg(60, 40))]).await;
    assert_eq!(again.status, StatusCode::OK);

    let app_bytes =
        TestApp::with_config(app.pool.clone(), |config| config.media.quota_bytes = 1000);
    let small = app_bytes.token_for(Role::Author).await;
    let over = upload(
        &app_bytes,
        Some(&small),
        vec![file("b.jpg", jpeg(300, 300))],
    )
    .await;
    over.assert_problem(StatusCode::FORBIDDEN, "quota-exceeded");
}
