//! The command line: `galley [serve]`, `galley migrate`, `galley user create`, `galley media gc`,
//! `galley import`, `galley export`.

use std::{io::BufRead, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::AppState;
use crate::{
    accounts::{self, passwords::Passwords, role::Role, users},
    config::Config,
    db,
    http::{self},
    telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "galley",
    version,
    about = "Galley, a headless CMS for publications"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and migrate the database if needed, then serve the API (the default).
    Serve,
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage media storage.
    #[command(subcommand)]
    Media(MediaCommand),
    /// Import articles from an NDJSON file (the shape `galley export` writes), as
    /// `POST /v1/import` does. Exits non-zero when any line failed.
    Import {
        file: std::path::PathBuf,
        /// Validate and report without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Replace articles changed in Galley since they were last imported.
        #[arg(long)]
        overwrite: bool,
    },
    /// Export every article as NDJSON to FILE, or to standard output.
    Export { file: Option<std::path::PathBuf> },
    /// Print the OpenAPI document (what `GET /v1/openapi.json` serves); needs no database.
    Openapi,
    /// Ask the server at GALLEY_BIND whether it is ready (`/readyz`); exit 0 if it is. For
    /// container health checks, where no HTTP client may be installed.
    Healthcheck,
}

#[derive(Debug, Subcommand)]
enum MediaCommand {
    /// Remove stored files that no image references (left by a crash between writing an
    /// upload's files and recording it). Files younger than --min-age-secs are kept.
    Gc {
        #[arg(long, default_value_t = 3600)]
        min_age_secs: u64,
        /// List what would be removed without removing it.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from the first line of standard input, never from
    /// the command line (where it would land in shell history and `ps`).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = Role::Contributor)]
        role: Role,
    },
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &[Role::Contributor, Role::Author, Role::Editor, Role::Admin]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    return_large_allocations_to_the_os();
    let cli = Cli::parse();
    // Needs no configuration and no database: a client can be generated anywhere.
    if matches!(cli.command, Some(Command::Openapi)) {
        return print_openapi();
    }
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: reading .env: {err}");
        return ExitCode::FAILURE;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: invalid configuration: {err}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let serving = matches!(command, Command::Serve);
    match runtime.block_on(run(command, config)) {
        Ok(code) => code,
        // Said once: the server's failure as a log line (its logs may be JSON for a collector),
        // a command's as a message for the person who ran it.
        Err(err) if serving => {
            tracing::error!(error = format!("{err:#}"), "galley stopped");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_openapi() -> ExitCode {
    use std::io::Write;
    let written = crate::app::router::document()
        .map_err(anyhow::Error::from)
        .and_then(|docs| Ok(std::io::stdout().write_all(&docs.json)?));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: writing the OpenAPI document: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let done = Ok(ExitCode::SUCCESS);
    match command {
        Command::Serve => serve(config).await.and(done),
        Command::Import {
            file,
            dry_run,
            overwrite,
        } => import(config, &file, dry_run, overwrite).await,
        Command::Openapi => Ok(print_openapi()),
        Command::Migrate => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            println!("database is migrated");
            done
        }
        Command::User(UserCommand::Create { email, name, role }) => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            let password = read_password()?;
            let new = users::NewUser::parse(&email, &name, role, password, None)
                .context("the new user")?;
            let user = users::insert_user(&pool, &Passwords::new(), new)
                .await
                .context("creating the user")?;
            println!(
                "created {} user {} ({})",
                role.as_str(),
                user.email,
                user.id
            );
            done
        }
        Command::Media(MediaCommand::Gc {
            min_age_secs,
            dry_run,
        }) => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            let media = crate::images::Media::new(&config.media)?;
            let age = std::time::Duration::from_secs(min_age_secs);
            let orphans = crate::images::orphaned_files(&pool, &media, age).await?;
            for key in &orphans {
                if !dry_run {
                    media.storage.delete(key).await?;
                }
                println!("{} {key}", if dry_run { "would remove" } else { "removed" });
            }
            println!("{} orphaned file(s)", orphans.len());
            done
        }
        Command::Export { file } => export(config, file.as_deref()).await.and(done),
        Command::Healthcheck => crate::http::healthcheck(config.bind)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

async fn import(
    config: Config,
    file: &std::path::Path,
    dry_run: bool,
    overwrite: bool,
) -> anyhow::Result<ExitCode> {
    use std::io::{IsTerminal, Write};
    let pool = db::connect(&config).await?;
    db::migrate(&pool).await?;
    let state = AppState::new(pool, config)?;
    let opened = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let chunks = tokio_util::io::ReaderStream::with_capacity(opened, 256 * 1024);
    let terminal = std::io::stderr().is_terminal();
    let options = crate::articles::transfer::ImportOptions { dry_run, overwrite };
    let report = crate::articles::transfer::import(&state, None, options, chunks, |report| {
        if terminal {
            eprint!(
                "\r{} lines: {} created, {} updated, {} unchanged, {} failed",
                report.created + report.updated + report.unchanged + report.failed,
                report.created,
                report.updated,
                report.unchanged,
                report.failed
            );
            let _ = std::io::stderr().flush();
        }
    })
    .await
    .context("import stopped")?;
    if terminal {
        eprintln!();
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.failed > 0 {
        eprintln!("{} line(s) failed", report.failed);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(config: Config, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let pool = db::connect(&config).await?;
    db::migrate(&pool).await?;
    let state = AppState::new(pool, config)?;
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin> = match file {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    let mut lines = std::pin::pin!(crate::articles::transfer::export(state));
    while let Some(chunk) = lines.next().await {
        let chunk = chunk.context("export stopped")?;
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(())
}

/// Each Argon2 hash allocates 19 MiB. glibc raises its mmap threshold after the first such
/// block is freed, so later blocks come from per-thread arenas and stay resident: a few logins
/// grew the process from 13 MB to over 100 MB. A fixed threshold keeps big blocks mmap-backed,
/// returned to the OS when freed. Two arenas, not glibc's eight per core: cached responses are
/// allocated on one worker thread and freed on another, and with many arenas the freed space
/// scattered (peak RSS 70 MiB for a 32 MiB cache).
fn return_large_allocations_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("password (input is visible; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let pool = db::connect(&config).await?;
    db::migrate(&pool).await?;
    let background = db::background_pool(&config)?;
    let bind = config.bind;
    let limits = http::ServeLimits::from(&config);
    let metrics_bind = config.metrics.bind;
    let state = AppState::new(pool, config)?.with_background(background.clone());
    state.live_cache.spawn_listener(background.clone());
    state.changes.spawn_listener(background);
    crate::webhooks::delivery::spawn(state.clone());
    crate::changes::retention::spawn(state.background.clone(), state.config.changes_retention);
    crate::db::kept_counts::spawn(state.background.clone());
    crate::articles::workflow::spawn_scheduler(state.clone(), state.config.scheduler_interval);
    accounts::bootstrap_admin(&state).await?;
    if let Some(metrics_bind) = metrics_bind {
        let listener = tokio::net::TcpListener::bind(metrics_bind)
            .await
            .with_context(|| format!("binding GALLEY_METRICS_BIND={metrics_bind}"))?;
        tracing::info!(address = %metrics_bind, "metrics are served");
        // Ends with the process: scrapes need no draining.
        tokio::spawn(http::serve(
            listener,
            crate::app::metrics_app(state.clone()),
            std::future::pending(),
            limits,
        ));
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding GALLEY_BIND={bind}"))?;
    tracing::info!(address = %bind, "galley is serving");
    let changes = state.changes.clone();
    let shutdown = async move {
        http::shutdown_signal().await;
        // Long polls answer now instead of holding the drain until the deadline.
        changes.close();
    };
    http::serve(listener, crate::app::app(state)?, shutdown, limits)
        .await
        .context("serving HTTP")?;
    tracing::info!("galley stopped");
    Ok(())
}
