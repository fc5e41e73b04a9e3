//! Runtime configuration, read once at start from the environment (and `.env`).
//!
//! Every variable has a default that works on a developer machine; a value that is present but
//! invalid stops the process with a message naming the variable, never a silent fallback.

use std::{net::SocketAddr, time::Duration};

use axum::http::HeaderValue;
use ipnet::IpNet;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The first admin, created at start when no user exists yet.
#[derive(Clone)]
pub struct BootstrapAdmin {
    pub email: String,
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for BootstrapAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAdmin")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub db_max_connections: u32,
    pub bind: SocketAddr,
    pub public_read: bool,
    pub cors_origins: Vec<HeaderValue>,
    pub log_format: LogFormat,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// For requests that carry a large body from a possibly slow client (image uploads).
    pub upload_timeout: Duration,
    /// How long an `Idempotency-Key` and its first response are kept.
    pub idempotency_ttl: Duration,
    pub cache_max_age_secs: u32,
    pub cache_stale_while_revalidate_secs: u32,
    /// Memory for anonymous reads kept in-process (0 turns the cache off).
    pub live_cache_bytes: usize,
    /// The longest any kept read is served (invalidation normally ends it much sooner).
    pub live_cache_ttl: Duration,
    /// Revisions kept per article, newest first (0 keeps all), besides the published one.
    pub revisions_keep: u32,
    /// How long a preview token opens its article's working copy.
    pub preview_ttl: Duration,
    /// How often each process looks for scheduled articles that are due.
    pub scheduler_interval: Duration,
    pub session_ttl: Duration,
    /// Browser sessions' cookie is `Secure` and `__Host-` prefixed (API.md §8); off only for
    /// plain HTTP reached by a host name.
    pub cookie_secure: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub login_failures_per_account: i64,
    pub login_failures_per_client: i64,
    pub login_failure_window: Duration,
    pub bootstrap_admin: Option<BootstrapAdmin>,
    pub media: MediaConfig,
    pub connections: ConnectionConfig,
    pub db: DbConfig,
    /// Anonymous reads served from memory while PostgreSQL is unreachable, if stored no longer
    /// ago than this (zero: never).
    pub live_cache_stale_if_error: Duration,
    /// `stale-if-error` in public `Cache-Control` (zero leaves it out).
    pub cache_stale_if_error_secs: u32,
    pub metrics: MetricsConfig,
    pub webhooks: WebhookConfig,
    /// How long the change feed keeps changes (an older cursor is `410`).
    pub changes_retention: Duration,
}

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Lets loopback and private (RFC 1918, `fc00::/7`) targets through the outbound guard.
    pub allow_private: bool,
    /// The longest one delivery attempt takes (connect, send, first 64 KB of the answer).
    pub timeout: Duration,
    /// Deliveries in flight per process, across all endpoints.
    pub concurrency: usize,
    /// Deliveries in flight per process to one endpoint.
    pub endpoint_concurrency: usize,
}

/// How long a client connection may rest, send a head or a body, and drain at shutdown.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub shutdown: Duration,
    pub header_read: Duration,
    pub keep_alive: Duration,
    /// A request body or a response write that makes no progress for this long is cut.
    pub body_idle: Duration,
}

/// How the database is waited for and how long it may keep a connection busy.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// How long start-up (any command) waits for an unreachable database before giving up.
    pub wait: Duration,
    /// A statement waiting this long for a lock fails (503) instead of holding its connection.
    pub lock_timeout: Duration,
    /// A transaction left idle this long (a frozen process) is ended by the server, releasing
    /// its locks and claims.
    pub idle_in_transaction: Duration,
}

/// Where `/metrics` is served: nowhere unless a token or an address is set.
#[derive(Clone, Default)]
pub struct MetricsConfig {
    /// `/metrics` on the API's port, for `Authorization: Bearer` with this token.
    pub token: Option<String>,
    /// `/metrics` without a token on a listener of its own (e.g. `127.0.0.1:9090`).
    pub bind: Option<SocketAddr>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("bind", &self.bind)
            .finish()
    }
}

/// `DATABASE_URL`, whose password `Debug` never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // scheme://user:password@host/… → scheme://user:<redacted>@host/…
        let url = &self.0;
        let authority = url.find("://").map_or(0, |i| i + 3);
        let userinfo_end = url[authority..]
            .find('/')
            .map_or(url.len(), |i| authority + i);
        match url[authority..userinfo_end].rfind('@') {
            Some(at) => {
                let userinfo = &url[authority..authority + at];
                let user = userinfo.split(':').next().unwrap_or_default();
                let rest = &url[authority + at..];
                if userinfo.contains(':') {
                    write!(f, "\"{}{user}:<redacted>{rest}\"", &url[..authority])
                } else {
                    write!(f, "{url:?}")
                }
            }
            None => write!(f, "{url:?}"),
        }
    }
}

/// Where image files go and how uploads are bounded.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Root of local media storage.
    pub dir: std::path::PathBuf,
    /// Prefix of the URLs handed out for media files: `/media` (served by Galley) or a CDN.
    pub base_url: String,
    pub max_upload_bytes: u64,
    pub max_pixels: u64,
    /// Per-user upload quota: images and bytes a user may have uploaded (0 = no limit).
    pub quota_images: u64,
    pub quota_bytes: u64,
    /// Images processed at once; the rest wait, so uploads cannot starve reads of CPU.
    pub workers: usize,
    /// S3-compatible storage instead of `dir`, when `GALLEY_S3_BUCKET` is set.
    pub s3: Option<S3Config>,
}

#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// For S3-compatible services (MinIO, R2, …); AWS when absent.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// A configuration variable that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The defaults, as a test or a fresh machine sees them.
    pub fn defaults() -> Self {
        // The defaults are all valid, so this cannot fail; keep it total anyway.
        Self::from_lookup(|_| None).unwrap_or_else(|err| panic!("default configuration: {err}"))
    }

    /// Reads configuration through `lookup`, so tests can feed any environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let bootstrap_admin = bootstrap_admin(&get)?;

        Ok(Self {
            database_url: database_url(&get)?,
            db_max_connections: parse_num(&get, "GALLEY_DB_MAX_CONNECTIONS", 10, 2, 1000)?,
            bind: parse(
                &get,
                "GALLEY_BIND",
                "127.0.0.1:8080",
                "a host:port such as 127.0.0.1:8080",
            )?,
            public_read: parse_bool(&get, "GALLEY_PUBLIC_READ", true)?,
            cookie_secure: parse_bool(&get, "GALLEY_COOKIE_SECURE", true)?,
            cors_origins: parse_origins(get("GALLEY_CORS_ORIGINS"))?,
            log_format: log_format(&get)?,
            body_limit_bytes: parse_num(
                &get,
                "GALLEY_BODY_LIMIT_BYTES",
                1024 * 1024,
                1024,
                1024 * 1024 * 1024,
            )?,
            request_timeout: secs(&get, "GALLEY_REQUEST_TIMEOUT_SECS", 30, 1, 3600)?,
            upload_timeout: secs(&get, "GALLEY_UPLOAD_TIMEOUT_SECS", 600, 1, 86_400)?,
            idempotency_ttl: secs(&get, "GALLEY_IDEMPOTENCY_TTL_SECS", 86_400, 60, 30 * 86_400)?,
            cache_max_age_secs: parse_num(&get, "GALLEY_CACHE_MAX_AGE_SECS", 60, 0, 31_536_000)?,
            cache_stale_while_revalidate_secs: parse_num(
                &get,
                "GALLEY_CACHE_STALE_WHILE_REVALIDATE_SECS",
                300,
                0,
                31_536_000,
            )?,
            live_cache_bytes: parse_num::<usize>(&get, "GALLEY_LIVE_CACHE_MB", 24, 0, 65_536)?
                * 1024
                * 1024,
            live_cache_ttl: secs(&get, "GALLEY_LIVE_CACHE_TTL_SECS", 60, 1, 86_400)?,
            revisions_keep: parse_num(&get, "GALLEY_REVISIONS_KEEP", 0, 0, 1_000_000)?,
            preview_ttl: secs(&get, "GALLEY_PREVIEW_TTL_SECS", 3600, 10, 30 * 86_400)?,
            scheduler_interval: Duration::from_millis(parse_num(
                &get,
                "GALLEY_SCHEDULER_INTERVAL_MS",
                250,
                10,
                60_000,
            )?),
            session_ttl: Duration::from_secs(
                parse_num::<u64>(&get, "GALLEY_SESSION_TTL_HOURS", 168, 1, 24 * 366)? * 3600,
            ),
            trusted_proxies: parse_proxies(get("GALLEY_TRUSTED_PROXIES"))?,
            login_failures_per_account: parse_num(
                &get,
                "GALLEY_LOGIN_FAILURES_PER_ACCOUNT",
                5,
                1,
                10_000,
            )?,
            login_failures_per_client: parse_num(
                &get,
                "GALLEY_LOGIN_FAILURES_PER_CLIENT",
                20,
                1,
                100_000,
            )?,
            login_failure_window: secs(&get, "GALLEY_LOGIN_FAILURE_WINDOW_SECS", 900, 1, 86_400)?,
            bootstrap_admin,
            media: media(&get)?,
            connections: connections(&get)?,
            db: db(&get)?,
            live_cache_stale_if_error: secs(
                &get,
                "GALLEY_LIVE_CACHE_STALE_IF_ERROR_SECS",
                300,
                0,
                86_400,
            )?,
            cache_stale_if_error_secs: parse_num(
                &get,
                "GALLEY_CACHE_STALE_IF_ERROR_SECS",
                86_400,
                0,
                31_536_000,
            )?,
            metrics: metrics(&get)?,
            webhooks: webhooks(&get)?,
            // At least the webhook retry schedule (about 28 h), whose attempts read the change.
            changes_retention: Duration::from_secs(
                parse_num::<u64>(&get, "GALLEY_CHANGES_RETENTION_DAYS", 30, 2, 3650)? * 86_400,
            ),
        })
    }
}

fn connections(get: &impl Fn(&str) -> Option<String>) -> Result<ConnectionConfig, ConfigError> {
    Ok(ConnectionConfig {
        shutdown: secs(get, "GALLEY_SHUTDOWN_TIMEOUT_SECS", 30, 1, 3600)?,
        header_read: secs(get, "GALLEY_HEADER_READ_TIMEOUT_SECS", 10, 1, 600)?,
        keep_alive: secs(get, "GALLEY_KEEP_ALIVE_TIMEOUT_SECS", 75, 1, 3600)?,
        body_idle: secs(get, "GALLEY_BODY_IDLE_TIMEOUT_SECS", 30, 1, 3600)?,
    })
}

fn db(get: &impl Fn(&str) -> Option<String>) -> Result<DbConfig, ConfigError> {
    Ok(DbConfig {
        wait: secs(get, "GALLEY_DB_WAIT_SECS", 120, 0, 86_400)?,
        // Below the pool's 3 s acquire timeout: requests stuck behind a lock must hand their
        // connections back faster than the other requests give up waiting for one.
        lock_timeout: Duration::from_millis(parse_num(
            get,
            "GALLEY_DB_LOCK_TIMEOUT_MS",
            1000,
            1,
            3_600_000,
        )?),
        idle_in_transaction: secs(get, "GALLEY_DB_IDLE_IN_TRANSACTION_SECS", 10, 1, 3600)?,
    })
}

fn webhooks(get: &impl Fn(&str) -> Option<String>) -> Result<WebhookConfig, ConfigError> {
    Ok(WebhookConfig {
        allow_private: parse_bool(get, "GALLEY_WEBHOOK_ALLOW_PRIVATE", false)?,
        timeout: secs(get, "GALLEY_WEBHOOK_TIMEOUT_SECS", 10, 1, 60)?,
        concurrency: parse_num(get, "GALLEY_WEBHOOK_CONCURRENCY", 64, 1, 10_000)?,
        endpoint_concurrency: parse_num(get, "GALLEY_WEBHOOK_ENDPOINT_CONCURRENCY", 16, 1, 1000)?,
    })
}

fn metrics(get: &impl Fn(&str) -> Option<String>) -> Result<MetricsConfig, ConfigError> {
    Ok(MetricsConfig {
        token: get("GALLEY_METRICS_TOKEN"),
        bind: match get("GALLEY_METRICS_BIND") {
            None => None,
            Some(_) => Some(parse(
                get,
                "GALLEY_METRICS_BIND",
                "",
                "a host:port such as 127.0.0.1:9090",
            )?),
        },
    })
}

/// `DATABASE_URL`: PostgreSQL's, since no other server would ever answer it.
fn database_url(get: &impl Fn(&str) -> Option<String>) -> Result<DatabaseUrl, ConfigError> {
    let url =
        get("DATABASE_URL").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/galley".into());
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DatabaseUrl(url))
    } else {
        let scheme = url.split("://").next().unwrap_or_default();
        Err(err(
            "DATABASE_URL",
            format!("'{scheme}://…' is not a PostgreSQL URL (postgres://user@host:port/database)"),
        ))
    }
}

/// The first admin: email and password both given, or neither.
fn bootstrap_admin(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<BootstrapAdmin>, ConfigError> {
    Ok(
        match (
            get("GALLEY_BOOTSTRAP_ADMIN_EMAIL"),
            get("GALLEY_BOOTSTRAP_ADMIN_PASSWORD"),
        ) {
            (None, None) => None,
            (Some(email), Some(password)) => Some(BootstrapAdmin {
                email,
                password,
                name: get("GALLEY_BOOTSTRAP_ADMIN_NAME").unwrap_or_else(|| "Admin".into()),
            }),
            (Some(_), None) => {
                return Err(err(
                    "GALLEY_BOOTSTRAP_ADMIN_PASSWORD",
                    "must be set together with GALLEY_BOOTSTRAP_ADMIN_EMAIL",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "GALLEY_BOOTSTRAP_ADMIN_EMAIL",
                    "must be set together with GALLEY_BOOTSTRAP_ADMIN_PASSWORD",
                ));
            }
        },
    )
}

fn log_format(get: &impl Fn(&str) -> Option<String>) -> Result<LogFormat, ConfigError> {
    match get("GALLEY_LOG_FORMAT").as_deref() {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(err(
            "GALLEY_LOG_FORMAT",
            format!("'{other}' is not one of: text, json"),
        )),
    }
}

/// Where image files go and how uploads are bounded.
fn media(get: &impl Fn(&str) -> Option<String>) -> Result<MediaConfig, ConfigError> {
    Ok(MediaConfig {
        dir: get("GALLEY_MEDIA_DIR")
            .unwrap_or_else(|| "./data/media".into())
            .into(),
        base_url: parse_base_url(get("GALLEY_MEDIA_BASE_URL"))?,
        max_upload_bytes: parse_num(
            &get,
            "GALLEY_IMAGE_MAX_BYTES",
            20 * 1024 * 1024,
            1024,
            1024 * 1024 * 1024,
        )?,
        max_pixels: parse_num(&get, "GALLEY_IMAGE_MAX_PIXELS", 40_000_000, 1, 400_000_000)?,
        quota_images: parse_num(&get, "GALLEY_UPLOAD_QUOTA_IMAGES", 0, 0, u64::MAX)?,
        quota_bytes: parse_num(&get, "GALLEY_UPLOAD_QUOTA_BYTES", 0, 0, u64::MAX)?,
        workers: parse_num(
            &get,
            "GALLEY_IMAGE_WORKERS",
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            1,
            256,
        )?,
        s3: s3(get)?,
    })
}

/// `GALLEY_S3_*`, when `GALLEY_S3_BUCKET` is set.
fn s3(get: &impl Fn(&str) -> Option<String>) -> Result<Option<S3Config>, ConfigError> {
    let Some(bucket) = get("GALLEY_S3_BUCKET") else {
        return Ok(None);
    };
    let endpoint = match get("GALLEY_S3_ENDPOINT") {
        Some(e) if !(e.starts_with("https://") || e.starts_with("http://")) => {
            return Err(err(
                "GALLEY_S3_ENDPOINT",
                format!("'{e}' is not an http(s) URL"),
            ));
        }
        other => other,
    };
    Ok(Some(S3Config {
        bucket,
        endpoint,
        region: get("GALLEY_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
        access_key_id: get("GALLEY_S3_ACCESS_KEY_ID"),
        secret_access_key: get("GALLEY_S3_SECRET_ACCESS_KEY"),
    }))
}

fn secs(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    parse_num(get, name, default, min, max).map(Duration::from_secs)
}

fn err(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        message: message.into(),
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    let raw = get(name).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .map_err(|_| err(name, format!("'{raw}' is not {expected}")))
}

fn parse_num<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    match raw.trim().parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(err(
            name,
            format!("'{raw}' is not a whole number between {min} and {max}"),
        )),
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(err(name, format!("'{other}' is not true or false"))),
    }
}

fn parse_origins(raw: Option<String>) -> Result<Vec<HeaderValue>, ConfigError> {
    const NAME: &str = "GALLEY_CORS_ORIGINS";
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.trim_end_matches('/').contains(['?', '#', ' '])
                && origin.matches('/').count() == 2;
            if !valid {
                return Err(err(
                    NAME,
                    format!("'{origin}' is not an origin such as https://www.example.com"),
                ));
            }
            HeaderValue::from_str(origin)
                .map_err(|_| err(NAME, format!("'{origin}' is not a valid header value")))
        })
        .collect()
}

fn parse_base_url(raw: Option<String>) -> Result<String, ConfigError> {
    const NAME: &str = "GALLEY_MEDIA_BASE_URL";
    let Some(raw) = raw else {
        return Ok("/media".into());
    };
    let url = raw.trim().trim_end_matches('/');
    let valid = url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/');
    if !valid || url.contains(char::is_whitespace) {
        return Err(err(
            NAME,
            format!("'{raw}' is not a URL prefix such as https://cdn.example.com/media or /media"),
        ));
    }
    Ok(url.to_owned())
}

fn parse_proxies(raw: Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    const NAME: &str = "GALLEY_TRUSTED_PROXIES";
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| err(NAME, format!("'{p}' is not an IP address or CIDR range")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let config = Config::defaults();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert!(config.public_read);
        assert!(config.cookie_secure);
        assert_eq!(config.session_ttl, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(
            config.database_url.as_str(),
            "postgres://postgres@127.0.0.1:5432/galley"
        );
    }

    #[test]
    fn an_invalid_value_names_its_variable() {
        for (name, value) in [
            ("GALLEY_BIND", "not-an-address"),
            ("GALLEY_PUBLIC_READ", "maybe"),
            ("GALLEY_LOG_FORMAT", "xml"),
            ("GALLEY_BODY_LIMIT_BYTES", "-5"),
            ("GALLEY_SESSION_TTL_HOURS", "0"),
            ("GALLEY_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("GALLEY_CORS_ORIGINS", "www.example.com"),
            // With one, a single slow request would stall every other, /readyz included.
            ("GALLEY_DB_MAX_CONNECTIONS", "1"),
            ("GALLEY_SHUTDOWN_TIMEOUT_SECS", "0"),
            ("GALLEY_METRICS_BIND", "nowhere"),
            ("GALLEY_DB_LOCK_TIMEOUT_MS", "0"),
        ] {
            let error = with(&[(name, value)]).expect_err(name);
            assert_eq!(error.name, name);
            assert!(error.to_string().starts_with(name), "{error}");
        }
    }

    #[test]
    fn bootstrap_admin_needs_both_email_and_password() {
        let error = with(&[("GALLEY_BOOTSTRAP_ADMIN_EMAIL", "a@b.c")]).expect_err("half set");
        assert_eq!(error.name, "GALLEY_BOOTSTRAP_ADMIN_PASSWORD");
        let config = with(&[
            ("GALLEY_BOOTSTRAP_ADMIN_EMAIL", "a@b.c"),
            ("GALLEY_BOOTSTRAP_ADMIN_PASSWORD", "secret-secret"),
        ])
        .expect("valid");
        assert!(!format!("{config:?}").contains("secret-secret"));
        let config = with(&[("GALLEY_METRICS_TOKEN", "scrape-secret")]).expect("valid");
        assert!(!format!("{config:?}").contains("scrape-secret"));
    }

    #[test]
    fn env_example_lists_exactly_the_variables_read_here() {
        let names = |text: &str| -> std::collections::BTreeSet<String> {
            text.split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .filter(|w| (w.starts_with("GALLEY_") && w.len() > 7) || *w == "DATABASE_URL")
                .map(str::to_owned)
                .collect()
        };
        let documented = names(include_str!("../.env.example"));
        let read = names(include_str!("config.rs"));
        assert_eq!(documented, read);
    }

    #[test]
    fn a_database_url_for_another_server_is_refused() {
        let refused = with(&[("DATABASE_URL", "mysql://root@127.0.0.1:3306/galley")])
            .expect_err("not PostgreSQL");
        assert_eq!(refused.name, "DATABASE_URL");
        assert!(with(&[("DATABASE_URL", "postgresql://db/galley")]).is_ok());
    }

    #[test]
    fn debug_output_redacts_the_database_password() {
        let config =
            with(&[("DATABASE_URL", "postgres://galley:s3cret@db:5432/galley")]).expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://galley:<redacted>@db:5432/galley"));
    }

    #[test]
    fn trusted_proxies_accept_addresses_and_ranges() {
        let config = with(&[("GALLEY_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]).expect("valid");
        assert_eq!(config.trusted_proxies.len(), 2);
    }
}
