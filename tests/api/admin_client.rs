//! The admin client's own tests, run by the one test command: its unit tests (Vitest) and its
//! end-to-end tests in Debian's Chromium against a real `galley serve` on this test's fresh
//! database. `admin/scripts/ensure-tools.sh` installs what they need when it is missing.

use std::{path::Path, process::Command, time::Duration};

use sqlx::PgPool;

use crate::helpers::{free_port, serve_command, sessions_ended};

fn run(what: &str, command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("== {what}\n{stdout}{stderr}");
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{stderr}"
    );
}

#[sqlx::test]
async fn the_admin_passes_its_unit_and_browser_tests(pool: PgPool) {
    let admin = Path::new(env!("CARGO_MANIFEST_DIR")).join("admin");
    run(
        "admin: tools (npm ci, chromium)",
        Command::new(admin.join("scripts/ensure-tools.sh")).current_dir(&admin),
    );
    run(
        "admin: type-check and unit tests",
        Command::new("npm")
            .args(["test", "--silent"])
            .current_dir(&admin),
    );

    let database = pool
        .connect_options()
        .get_database()
        .expect("db")
        .to_owned();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut server = serve_command(&database, &bind, &format!("galley-e2e-{database}"))
        .env("GALLEY_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com")
        .env("GALLEY_BOOTSTRAP_ADMIN_PASSWORD", "e2e-password-1")
        // The e2e's webhook receiver listens on loopback.
        .env("GALLEY_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn galley serve");
    let url = format!("http://{bind}");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if ready {
        // More accounts than the Users page shows at once (a hundred), so that its "Show more
        // users" is exercised; they sort after every account the e2e makes, and none can sign
        // in. Added once the server is up: with any account there, it would not have created
        // the bootstrap admin.
        sqlx::query(
            "insert into users (id, email, name, role, password_hash, disabled) \
             select gen_random_uuid(), format('staff-%s@example.org', lpad(n::text, 3, '0')), \
                    format('Staff %s', n), 'contributor', 'not a password hash', true \
             from generate_series(1, 120) n",
        )
        .execute(&pool)
        .await
        .expect("seed users");
    }
    let result = std::panic::catch_unwind(|| {
        assert!(ready, "galley serve did not become ready");
        run(
            "admin: end to end in Chromium",
            Command::new("node")
                .arg("e2e/run.mjs")
                .env("GALLEY_URL", &url)
                .env("ADMIN_EMAIL", "admin@example.com")
                .env("ADMIN_PASSWORD", "e2e-password-1")
                .current_dir(&admin),
        );
    });
    // SAFETY: kill only sends a signal to the child this test started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    server.wait().expect("stopped");
    sessions_ended(&pool, &database).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
