//! The S3 storage backend against a real S3-protocol server (`s3s-fs`, from crates.io), and
//! CDN URLs through `GALLEY_MEDIA_BASE_URL`.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use galley::{accounts::role::Role, config::S3Config};
use sqlx::PgPool;

use crate::{
    helpers::TestApp,
    images::{file, jpeg, upload},
};

const S3S_FS_VERSION: &str = "0.14.1";
const BUCKET: &str = "galley-test";

/// The `s3s-fs` binary: on PATH, in cargo's bin directory, or installed now (once per run;
/// `.ci/run` installs it beforehand so tests do not pay for the build).
fn s3s_fs_binary() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME")
        .join("bin/s3s-fs");
    let on_path = Command::new("s3s-fs")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("s3s-fs");
    }
    if !cargo_bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "install",
                "s3s-fs",
                "--version",
                S3S_FS_VERSION,
                "--features",
                "binary",
                "--locked",
            ])
            .status()
            .expect("run cargo install s3s-fs");
        assert!(status.success(), "installing s3s-fs failed");
    }
    cargo_bin
}

/// An S3 server on a free loopback port, serving a temporary directory; stopped on drop.
struct S3Server {
    child: Child,
    root: tempfile::TempDir,
    endpoint: String,
}

impl S3Server {
    fn start() -> Self {
        let binary = s3s_fs_binary();
        let root = tempfile::tempdir().expect("s3 root");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "galley-ak", "--secret-key", "galley-sk"])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "s3s-fs did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            root,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    fn config(&self) -> S3Config {
        S3Config {
            bucket: BUCKET.into(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: Some("galley-ak".into()),
            secret_access_key: Some("galley-sk".into()),
        }
    }

    fn object(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[sqlx::test]
async fn images_round_trip_through_s3_storage(pool: PgPool) {
    let server = S3Server::start();
    let config = server.config();
    let app = TestApp::with_config(pool, |c| c.media.s3 = Some(config));
    let editor = app.token_for(Role::Editor).await;

    let response = upload(&app, Some(&editor), vec![file("s3.jpg", jpeg(700, 400))]).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let image = response.json();
    let id = image["id"].as_str().expect("id").to_owned();
    let original_key = format!("images/{id}/original.jpg");
    assert!(
        server.object(&original_key).exists(),
        "the original is in the bucket"
    );
    assert!(
        std::fs::read_dir(app.media_dir.path())
            .expect("dir")
            .next()
            .is_none(),
        "nothing on local disk"
    );

    // Galley serves the bucket's files under /media, ranges included.
    let served = app.get(image["url"].as_str().expect("url"), None).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.header("content-type"), Some("image/jpeg"));
    assert_eq!(
        served.body.as_ref(),
        std::fs::read(server.object(&original_key))
            .expect("object")
            .as_slice()
    );
    let partial = app
        .send(
            TestApp::request(
                axum::http::Method::GET,
                image["url"].as_str().expect("url"),
                None,
            )
            .header("range", "bytes=2-11")
            .body(axum::body::Body::empty())
            .expect("request"),
        )
        .await;
    assert_eq!(partial.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(partial.body, served.body.slice(2..12));
    for variant in image["variants"].as_array().expect("variants") {
        let file = app.get(variant["url"].as_str().expect("url"), None).await;
        assert_eq!(file.status, StatusCode::OK);
        assert_eq!(
            file.body.len() as i64,
            variant["bytes"].as_i64().expect("bytes")
        );
    }

    // An orphan in the bucket is found by garbage collection; the image's files are not.
    app.state
        .media
        .storage
        .put(
            "images/orphan/original.jpg",
            b"crash".to_vec(),
            "image/jpeg",
        )
        .await
        .expect("put");
    let orphans = galley::images::orphaned_files(&app.pool, &app.state.media, Duration::ZERO)
        .await
        .expect("gc");
    assert_eq!(orphans, vec!["images/orphan/original.jpg".to_owned()]);

    assert_eq!(
        app.delete(&format!("/v1/images/{id}"), Some(&editor))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(
        !server.object(&original_key).exists(),
        "deleted from the bucket"
    );
    app.get(image["url"].as_str().expect("url"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
}

#[sqlx::test]
async fn media_urls_use_the_configured_cdn_base(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| {
        c.media.base_url = "https://cdn.example.com/media".into()
    });
    let author = app.token_for(Role::Author).await;
    let image = upload(&app, Some(&author), vec![file("cdn.jpg", jpeg(400, 300))])
        .await
        .json();
    let id = image["id"].as_str().expect("id");
    assert_eq!(
        image["url"],
        format!("https://cdn.example.com/media/images/{id}/original.jpg")
    );
    assert!(
        image["variants"][0]["url"]
            .as_str()
            .expect("url")
            .starts_with("https://cdn.example.com/media/images/")
    );
}
