//! The database: creating it when missing, applying the embedded migrations, readiness.

use std::{str::FromStr, time::Duration};

use anyhow::{Context, bail};
use sqlx::{
    Connection, PgPool, Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::Config;

pub mod kept_counts;
pub mod notifications;
mod text_enum;
pub(crate) use text_enum::text_enum;

/// The migrations compiled into this binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Connects, creating the database first when it does not exist. Waits for the server while it
/// is unreachable (a container starting beside us), so start-up order does not matter; an
/// error that waiting cannot fix (a bad URL, a role that does not exist or may not create the
/// database, a wrong password) ends at once with its cause.
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let give_up_at = tokio::time::Instant::now() + config.db.wait;
    let mut delay = Duration::from_millis(250);
    loop {
        match try_connect(config).await {
            Ok(pool) => return Ok(pool),
            Err(err) if is_permanent(&err) => return Err(err),
            Err(err) if tokio::time::Instant::now() + delay < give_up_at => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "database not ready"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(err) => {
                return Err(err.context(format!(
                    "giving up on the database after {} s (GALLEY_DB_WAIT_SECS)",
                    config.db.wait.as_secs()
                )));
            }
        }
    }
}

/// Whether retrying cannot help: the URL or the server is not PostgreSQL, or the server refused the
/// role (class 28, invalid authorization), the database (3D000) or the permission to create it
/// (42501).
fn is_permanent(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .any(|err| match err {
            // Something that is not PostgreSQL answers at that address.
            sqlx::Error::Configuration(_) | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("28") || code == "3D000" || code == "42501"),
            _ => false,
        })
}

async fn try_connect(config: &Config) -> anyhow::Result<PgPool> {
    let url = config.database_url.as_str();
    if !Postgres::database_exists(url)
        .await
        .context("checking whether the database exists (DATABASE_URL)")?
    {
        tracing::info!("creating the database named in DATABASE_URL");
        if let Err(err) = Postgres::create_database(url).await {
            // Another process may have created it between our check and our create.
            if !Postgres::database_exists(url).await.unwrap_or(false) {
                return Err(anyhow::Error::from(err).context("creating the database"));
            }
        }
    }
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        // Short, so that /readyz and requests fail fast with a 503 while the database is down;
        // the pool reconnects by itself when it returns.
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(connect_options(config)?)
        .await
        .context("connecting to the database (DATABASE_URL)")
}

/// The connections Galley keeps for itself, outside the request pool so that requests can
/// never starve them nor they requests: the live cache's and the change signal's LISTEN, the
/// scheduler, and the webhook worker's claims and results (two, so that recording results
/// never waits behind a claim).
pub fn background_pool(config: &Config) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(BACKGROUND_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(connect_options(config)?))
}

/// Per process, on top of `GALLEY_DB_MAX_CONNECTIONS`.
pub const BACKGROUND_CONNECTIONS: u32 = 5;

/// Every connection's session: a statement never outlives the request that started it, a
/// statement waiting for a lock gives up long before that (so a locked table costs only the
/// requests that need it their connection, briefly), and a transaction left idle by a frozen
/// process is ended by the server, releasing its locks and claims.
fn connect_options(config: &Config) -> anyhow::Result<PgConnectOptions> {
    let millis = |d: Duration| d.as_millis().to_string();
    // PostgreSQL's default random_page_cost (4.0) models spinning disks: with it the planner
    // reads every article sequentially rather than use the search index.
    // 1.1 is the usual value for SSDs and for data that fits in memory.
    Ok(PgConnectOptions::from_str(config.database_url.as_str())
        .context("parsing DATABASE_URL")?
        .options([
            ("random_page_cost", "1.1".to_owned()),
            ("statement_timeout", millis(config.request_timeout)),
            ("lock_timeout", millis(config.db.lock_timeout)),
            (
                "idle_in_transaction_session_timeout",
                millis(config.db.idle_in_transaction),
            ),
        ]))
}

/// Runs the statements of `tx` under a job's own limits rather than a request's: an import
/// batch may legitimately wait longer for a lock or run longer than one request.
pub async fn allow_long_statements(
    tx: &mut sqlx::PgConnection,
    statement: Duration,
    lock: Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "select set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)",
    )
    .bind(format!("{}ms", statement.as_millis()))
    .bind(format!("{}ms", lock.as_millis()))
    .execute(tx)
    .await
    .map(drop)
}

/// Applies pending migrations; refuses a database migrated by a newer Galley.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    if let Some(applied) = newest_applied(pool).await? {
        let known = newest_known();
        if applied > known {
            bail!(
                "the database schema is at migration {applied}, newer than this binary knows \
                 (up to {known}); run the Galley version that migrated it, or a newer one"
            );
        }
    }
    // A migration may build an index over every article: no request limit applies. Its own
    // connection, closed after, so the lifted limit never returns to the pool.
    let mut conn = pool.acquire().await?.detach();
    sqlx::raw_sql("set statement_timeout = 0; set lock_timeout = 0")
        .execute(&mut conn)
        .await
        .context("preparing the migration connection")?;
    MIGRATOR
        .run(&mut conn)
        .await
        .context("applying database migrations")?;
    conn.close()
        .await
        .context("closing the migration connection")?;
    Ok(())
}

fn newest_known() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

async fn newest_applied(pool: &PgPool) -> anyhow::Result<Option<i64>> {
    let table_exists: bool =
        sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
            .fetch_one(pool)
            .await
            .context("reading the migration table")?;
    if !table_exists {
        return Ok(None);
    }
    sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
        .fetch_one(pool)
        .await
        .context("reading applied migrations")
}

/// Ready means: the database answers and has every migration this binary knows.
pub async fn check_ready(pool: &PgPool) -> Result<(), &'static str> {
    match newest_applied(pool).await {
        Err(_) => Err("the database is not reachable"),
        Ok(Some(applied)) if applied >= newest_known() => Ok(()),
        Ok(_) => Err("database migrations are not applied"),
    }
}
