//! Bulk import and export as NDJSON, one article a line, shared by the HTTP endpoints and the
//! `galley import` / `galley export` commands.
//!
//! Import streams: lines are cut from the body as it arrives and written in batches, one
//! transaction per batch (a few side by side, see `import`), a savepoint for each line that
//! writes alone and one for each group of the batch's changed or new articles written together,
//! so a bad line fails alone, memory stays bounded by the batches in flight, and a client that
//! disconnects leaves only whole batches. Each line is
//! upserted by `external_id`, else by `slug` (given, or made from the title), and compared with
//! what is stored: an identical line is `unchanged` and writes nothing (no version, revision or
//! event), so re-running a file is harmless.
//!
//! Concurrent edits: an import never overwrites an article that was changed in Galley since an
//! import last wrote it (or that no import ever wrote); that line is a `409` naming the versions,
//! and `overwrite` takes the file's side.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use tokio::sync::{RwLock, oneshot};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    ArticleData, TextFields, apply_text_fields,
    body::Block,
    history,
    model::{ArticleStatus, Embeds, RefInput, Seo},
    set_body, store,
    store::Key,
    take_body,
};
use crate::app::AppState;
use crate::{
    accounts::{auth::Auth, role::Role},
    http::{
        error::{ApiError, ApiResult, FieldError},
        extract::ApiQuery,
    },
    slug,
    validate::Validator,
};

/// Lines written per transaction, and the bytes at which a batch is cut short: batches in
/// flight bound an import's memory, and lines may be as long as a whole request body.
const BATCH_LINES: usize = 200;
const BATCH_BYTES: usize = 8 << 20;
/// Failures listed in a report; the counts go on.
const MAX_REPORTED_ERRORS: usize = 1000;

/// One line of an import or export: the article write shape plus its workflow state, with
/// images also by `image_sha256` (how an export names them, so files move between instances).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleLine {
    pub title: String,
    pub slug: Option<String>,
    pub subtitle: Option<String>,
    /// Given excerpts only; absent means derived from the body.
    pub excerpt: Option<String>,
    /// Blocks; image blocks may give `image_sha256` instead of `image_id`.
    #[schema(value_type = Option<Vec<Block>>)]
    pub body: Option<Vec<Block>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_markdown: Option<String>,
    pub banner: Option<LineBanner>,
    pub authors: Option<Vec<RefInput>>,
    pub tags: Option<Vec<RefInput>>,
    pub featured: Option<bool>,
    pub language: Option<String>,
    pub seo: Option<Seo>,
    pub external_id: Option<String>,
    /// `draft` (default), `in_review`, `scheduled`, `published` or `archived`.
    #[schema(value_type = Option<crate::articles::model::ArticleStatus>)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    pub published_at: Option<DateTime<Utc>>,
    /// Required with `scheduled`; a time already past is published by the scheduler at once.
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    pub scheduled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBanner {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<String>,
    pub caption: Option<String>,
    pub credit: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub overwrite: bool,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// The first 1,000 failures, each with its line number (1-based).
    pub errors: Vec<LineError>,
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineError {
    pub line: u64,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// A line as cut from the stream: its bytes, or the byte limit it went over.
type RawLine = (u64, Result<Vec<u8>, usize>);

/// A line parsed, with the field errors of its image references, or why it could not be.
type ParsedLine = (u64, ApiResult<(ArticleLine, Vec<FieldError>)>);

/// What became of each line of a batch.
type Outcomes = Vec<(u64, ApiResult<Outcome>)>;

/// Batches written at the same time, each in its own transaction: while PostgreSQL works on
/// one, Galley prepares another, and PostgreSQL gets a second core. A fourth keeps both cores
/// busy while one batch folds a full pending list into the search index (measured: 3 → 4 took
/// 100,000 lines from 46.9 to 45.4 s; peak RSS 66 → 89 MiB).
const BATCHES_IN_FLIGHT: usize = 4;

/// Imports NDJSON from `chunks`. `actor` is recorded on revisions and events (`None` for the
/// command line); `progress` sees the report after every batch. Fails only when the database
/// does; bad lines are in the report.
///
/// Batches run concurrently but take effect as if one after the other: a batch whose lines
/// name an article (by key or slug) that a running batch also names, that would create
/// authors or tags, or that is a dry run waits until the batches before it are done and runs
/// alone.
pub async fn import<S, E>(
    state: &AppState,
    actor: Option<Uuid>,
    options: ImportOptions,
    mut chunks: S,
    mut progress: impl FnMut(&ImportReport),
) -> ApiResult<ImportReport>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let max_line = state.config.body_limit_bytes;
    let shared = Arc::new(Shared {
        state: state.clone(),
        actor,
        options,
        images: Mutex::new(HashMap::new()),
        refs: Mutex::new(store::RefCache::new()),
        gate: RwLock::new(()),
        writing: Mutex::new(HashMap::new()),
    });
    let mut running = Running {
        report: ImportReport {
            dry_run: options.dry_run,
            ..ImportReport::default()
        },
        batches: VecDeque::new(),
        turn: None,
        number: 0,
        failure: None,
    };
    let mut line = Vec::new();
    let mut line_no: u64 = 0;
    let mut too_long = false;
    let mut batch: Vec<RawLine> = Vec::with_capacity(BATCH_LINES);
    let mut batch_bytes = 0;
    let mut broken = None;
    while let Some(chunk) = chunks.next().await {
        // A broken stream (client gone) ends the import; the unfinished batch is not written.
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                broken = Some(ApiError::bad_request(format!("reading the body: {err}")));
                break;
            }
        };
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let (part, ended) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rest = if ended { &rest[part.len() + 1..] } else { &[] };
            if !too_long {
                if line.len() + part.len() > max_line {
                    too_long = true;
                    line = Vec::new();
                } else {
                    line.extend_from_slice(part);
                }
            }
            if ended {
                line_no += 1;
                batch_bytes += line.len();
                take_line(&mut batch, line_no, &mut line, &mut too_long, max_line);
                if batch.len() >= BATCH_LINES || batch_bytes >= BATCH_BYTES {
                    batch_bytes = 0;
                    running.start(&shared, std::mem::take(&mut batch));
                    running.limit(BATCHES_IN_FLIGHT - 1, &mut progress).await;
                }
            }
        }
        if running.failure.is_some() {
            break;
        }
    }
    if broken.is_none() && running.failure.is_none() {
        if !line.is_empty() || too_long {
            line_no += 1;
            take_line(&mut batch, line_no, &mut line, &mut too_long, max_line);
        }
        if !batch.is_empty() {
            running.start(&shared, batch);
        }
    }
    // Batches already started finish either way: each is whole or not at all.
    running.limit(0, &mut progress).await;
    match running.failure.or(broken) {
        Some(err) => Err(err),
        None => Ok(running.report),
    }
}

fn take_line(
    batch: &mut Vec<RawLine>,
    line_no: u64,
    line: &mut Vec<u8>,
    too_long: &mut bool,
    max: usize,
) {
    let bytes = std::mem::take(line);
    if *too_long {
        *too_long = false;
        batch.push((line_no, Err(max)));
    } else if !bytes.iter().all(u8::is_ascii_whitespace) {
        batch.push((line_no, Ok(bytes)));
    }
}

/// The batches of an import under way, and the report of those done.
struct Running {
    report: ImportReport,
    batches: VecDeque<tokio::task::JoinHandle<ApiResult<Outcomes>>>,
    /// Told when the last batch started holds the gate; the next one waits for it.
    turn: Option<oneshot::Receiver<()>>,
    number: u64,
    /// The first batch that failed (the database did), ending the import.
    failure: Option<ApiError>,
}

impl Running {
    fn start(&mut self, shared: &Arc<Shared>, lines: Vec<RawLine>) {
        let (signal, turn) = oneshot::channel();
        self.number += 1;
        self.batches.push_back(tokio::spawn(run_batch(
            shared.clone(),
            self.number,
            lines,
            self.turn.replace(turn),
            signal,
        )));
    }

    /// Waits until at most `left` batches run, counting those done into the report in order.
    async fn limit(&mut self, left: usize, progress: &mut impl FnMut(&ImportReport)) {
        while self.batches.len() > left {
            let Some(batch) = self.batches.pop_front() else {
                return;
            };
            let outcomes = batch
                .await
                .map_err(|err| ApiError::Internal(anyhow::anyhow!("import batch: {err}")))
                .and_then(|outcomes| outcomes);
            match outcomes.and_then(|outcomes| count(&mut self.report, outcomes)) {
                Ok(()) => progress(&self.report),
                Err(err) => {
                    self.failure.get_or_insert(err);
                }
            }
        }
    }
}

/// Adds a batch's outcomes to the report; a server error among them fails the import.
fn count(report: &mut ImportReport, outcomes: Outcomes) -> ApiResult<()> {
    for (line_no, result) in outcomes {
        match result {
            Ok(Outcome::Created) => report.created += 1,
            Ok(Outcome::Updated) => report.updated += 1,
            Ok(Outcome::Unchanged) => report.unchanged += 1,
            Err(err) if err.status().is_server_error() => return Err(err),
            Err(err) => {
                report.failed += 1;
                if report.errors.len() < MAX_REPORTED_ERRORS {
                    let problem = err.problem();
                    report.errors.push(LineError {
                        line: line_no,
                        status: problem.status,
                        detail: problem.detail.unwrap_or(problem.title),
                        errors: problem.errors,
                    });
                }
            }
        }
    }
    Ok(())
}

/// What the batches of one import share.
struct Shared {
    state: AppState,
    actor: Option<Uuid>,
    options: ImportOptions,
    /// sha256 → image id, and authors and tags found: looked up once per import. Each batch
    /// works on its own copy and adds what it found once committed.
    images: Mutex<HashMap<String, Option<Uuid>>>,
    refs: Mutex<store::RefCache>,
    /// Held shared by batches that may run side by side, alone by the others.
    gate: RwLock<()>,
    /// The keys the batches holding the gate write, by batch number.
    writing: Mutex<HashMap<Key, u64>>,
}

impl Shared {
    fn images(&self) -> HashMap<String, Option<Uuid>> {
        self.images.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn refs(&self) -> store::RefCache {
        self.refs.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn overlaps(&self, keys: &[Key]) -> bool {
        self.writing
            .lock()
            .map(|writing| keys.iter().any(|key| writing.contains_key(key)))
            .unwrap_or(true)
    }

    fn mark_writing(&self, number: u64, keys: Vec<Key>, writing: bool) {
        if let Ok(mut map) = self.writing.lock() {
            if writing {
                map.extend(keys.into_iter().map(|key| (key, number)));
            } else {
                map.retain(|_, n| *n != number);
            }
        }
    }
}

/// One batch, from parsing its lines to its commit; `turn` resolves when the batch before it
/// holds the gate, and `signal` tells the next one the same.
async fn run_batch(
    shared: Arc<Shared>,
    number: u64,
    lines: Vec<RawLine>,
    mut turn: Option<oneshot::Receiver<()>>,
    signal: oneshot::Sender<()>,
) -> ApiResult<Outcomes> {
    let mut signal = Some(signal);
    let mut alone = shared.options.dry_run;
    loop {
        let mut batch = Importer::new(&shared);
        let parsed = batch.parse_all(&lines).await?;
        if let Some(turn) = turn.take() {
            // An error means that batch ended without holding the gate: go on.
            let _ = turn.await;
        }
        let keys: Vec<Key> = parsed
            .iter()
            .filter_map(|(_, line)| line.as_ref().ok())
            .flat_map(|(line, _)| line_keys(line))
            .collect();
        alone = alone
            || shared.overlaps(&keys)
            || !parsed.iter().all(|(_, line)| match line {
                Ok((line, _)) => batch.refs_cached(line),
                Err(_) => true,
            });
        let (_shared_gate, _own_gate) = if alone {
            (None, Some(shared.gate.write().await))
        } else {
            (Some(shared.gate.read().await), None)
        };
        shared.mark_writing(number, keys.clone(), true);
        if let Some(signal) = signal.take() {
            let _ = signal.send(());
        }
        // What the batches before found and committed meanwhile.
        batch.refs = shared.refs();
        let result = batch.write_batch(parsed).await;
        shared.mark_writing(number, keys, false);
        match result {
            Ok(outcomes) => {
                if !shared.options.dry_run
                    && let Ok(mut refs) = shared.refs.lock()
                {
                    refs.extend(batch.refs);
                }
                if let Ok(mut images) = shared.images.lock() {
                    images.extend(batch.images);
                }
                return Ok(outcomes);
            }
            // Two batches side by side can still deadlock (say, on slugs both chose): the
            // database undid this one; it runs again, alone.
            Err(err) if !alone && is_deadlock(&err) => alone = true,
            Err(err) => return Err(err),
        }
    }
}

fn is_deadlock(err: &ApiError) -> bool {
    match err {
        ApiError::Internal(cause) => cause
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .is_some_and(|code| code == "40P01"),
        _ => false,
    }
}

/// One batch's work: its transaction, its caches, and the articles waiting to be written.
struct Importer<'a> {
    state: &'a AppState,
    actor: Option<Uuid>,
    options: ImportOptions,
    images: HashMap<String, Option<Uuid>>,
    refs: store::RefCache,
    /// Whether the current line opened its savepoint (before its first write).
    savepoint: bool,
    /// New articles of the batch, written together by `flush`.
    pending: PendingNew,
    /// Changed articles of the batch, written together by `flush`.
    changed: PendingChanged,
    /// Lines `flush` could not write after all, by their place in the batch.
    flush_failures: Vec<(usize, ApiError)>,
}

/// New articles waiting to be written in one go: a new article costs a dozen statements alone
/// and about one-twentieth of that in a group.
#[derive(Default)]
struct PendingNew {
    slots: Vec<usize>,
    copies: Vec<ArticleData>,
    explicit_slugs: Vec<bool>,
}

/// Changed articles waiting to be written in one go, the same way: alone, a changed line cost
/// some fifteen statements, and a file changing 20,000 articles went at 704 lines/s.
#[derive(Default)]
struct PendingChanged {
    slots: Vec<usize>,
    copies: Vec<ArticleData>,
    /// Whether each had a live copy before.
    was_live: Vec<bool>,
}

/// How a line that its group could not write is written alone.
enum Alone {
    New { explicit_slug: bool },
    Changed { was_live: bool },
}

impl<'a> Importer<'a> {
    /// Opens the line's savepoint before its first write, so a failure later in the line undoes
    /// what it wrote; reads need none, and most lines of a re-run only read.
    async fn before_writing(&mut self, tx: &mut PgConnection) -> sqlx::Result<()> {
        if !self.savepoint {
            sqlx::query("savepoint import_line")
                .execute(&mut *tx)
                .await?;
            self.savepoint = true;
        }
        Ok(())
    }

    fn new(shared: &'a Shared) -> Self {
        Importer {
            state: &shared.state,
            actor: shared.actor,
            options: shared.options,
            images: shared.images(),
            refs: shared.refs(),
            savepoint: false,
            pending: PendingNew::default(),
            changed: PendingChanged::default(),
            flush_failures: Vec::new(),
        }
    }

    async fn parse_all(&mut self, lines: &[RawLine]) -> ApiResult<Vec<ParsedLine>> {
        let mut parsed = Vec::with_capacity(lines.len());
        for (line_no, raw) in lines {
            let line = match raw {
                Ok(bytes) => self.parse_line(bytes).await,
                Err(max) => Err(ApiError::PayloadTooLarge(format!(
                    "the line exceeds {max} bytes"
                ))),
            };
            parsed.push((*line_no, line));
        }
        Ok(parsed)
    }

    /// Whether writing `line` only reads authors and tags (all known already).
    fn refs_cached(&self, line: &ArticleLine) -> bool {
        let cached = |kind, refs: &Option<Vec<RefInput>>| {
            store::all_cached(&self.refs, kind, refs.as_deref().unwrap_or_default())
        };
        cached(store::RefKind::Authors, &line.authors) && cached(store::RefKind::Tags, &line.tags)
    }

    async fn write_batch(&mut self, parsed: Vec<ParsedLine>) -> ApiResult<Outcomes> {
        let mut tx = self.state.db.begin().await?;
        let mut known = self.prefetch(&mut tx, &parsed).await?;
        let mut outcomes = Vec::with_capacity(parsed.len());
        for (line_no, line) in parsed {
            let result = match line {
                Ok((line, errors)) => {
                    self.savepoint = false;
                    let slot = outcomes.len();
                    let result = self
                        .write_line(&mut tx, slot, line, errors, &mut known)
                        .await;
                    // Lines that only read (unchanged, refused) never opened a savepoint.
                    if self.savepoint {
                        let end = if result.is_ok() {
                            "release savepoint import_line"
                        } else {
                            "rollback to savepoint import_line"
                        };
                        sqlx::query(end).execute(&mut *tx).await?;
                        self.savepoint = false;
                    }
                    result
                }
                Err(err) => Err(err),
            };
            outcomes.push((line_no, result));
        }
        self.flush(&mut tx).await?;
        for (slot, err) in self.flush_failures.drain(..) {
            outcomes[slot].1 = Err(err);
        }
        if self.options.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(outcomes)
    }

    /// A line's JSON with images named by sha256 resolved; unknown ones are field errors the
    /// line carries into validation.
    async fn parse_line(&mut self, bytes: &[u8]) -> ApiResult<(ArticleLine, Vec<FieldError>)> {
        let text = std::str::from_utf8(bytes)
            .map_err(|err| ApiError::bad_request(format!("the line is not valid UTF-8: {err}")))?;
        crate::http::extract::reject_nul(bytes)?;
        let mut value: Value = serde_json::from_str(text)
            .map_err(|err| ApiError::bad_request(format!("malformed JSON: {err}")))?;
        let mut errors = Vec::new();
        self.images_by_sha256(&mut value, &mut errors).await?;
        Ok((crate::http::extract::parse_value(value)?, errors))
    }

    /// The stored articles a batch's lines name, in one statement (locked until the batch
    /// commits): by `external_id`, else by slug as given or made from the title.
    async fn prefetch(&self, tx: &mut PgConnection, parsed: &[ParsedLine]) -> sqlx::Result<Known> {
        let mut known = Known::default();
        for (_, line) in parsed {
            let Ok((line, _)) = line else { continue };
            known.queried.insert(line_key(line));
        }
        let (external_ids, slugs): (Vec<String>, Vec<String>) =
            known
                .queried
                .iter()
                .fold((Vec::new(), Vec::new()), |(mut e, mut s), key| {
                    match key {
                        Key::ExternalId(id) => e.push(id.clone()),
                        Key::Slug(slug) => s.push(slug.clone()),
                    }
                    (e, s)
                });
        for (data, imported_version) in store::find_many_by(tx, &external_ids, &slugs).await? {
            if let Some(id) = &data.external_id {
                known.stored.insert(
                    Key::ExternalId(id.clone()),
                    (data.clone(), imported_version),
                );
            }
            known
                .stored
                .insert(Key::Slug(data.slug.clone()), (data, imported_version));
        }
        Ok(known)
    }

    /// Writes the batch's pending changed, then new articles, each group together under a
    /// savepoint: when that fails (a slug or external_id taken meanwhile, an image deleted), it
    /// is undone and each is written alone, so the line at fault gets its own error and the
    /// others are stored. Changed first, so slugs they take are seen when new ones get theirs.
    async fn flush(&mut self, tx: &mut PgConnection) -> ApiResult<()> {
        if self.pending.slots.is_empty() && self.changed.slots.is_empty() {
            return Ok(());
        }
        if self.savepoint {
            // The line being written opened its savepoint (it created an author or tag); undoing
            // that line later must not undo the articles written here.
            sqlx::query("release savepoint import_line")
                .execute(&mut *tx)
                .await?;
            self.savepoint = false;
        }
        let changed = std::mem::take(&mut self.changed);
        if !changed.slots.is_empty() {
            sqlx::query("savepoint import_group")
                .execute(&mut *tx)
                .await?;
            let written = self.write_changed(tx, &changed).await;
            if self.end_group(tx, written).await? {
                let lines = changed.slots.into_iter().zip(changed.copies);
                let alone = changed
                    .was_live
                    .into_iter()
                    .map(|was_live| Alone::Changed { was_live });
                self.one_by_one(tx, lines.zip(alone)).await?;
            }
        }
        let mut pending = std::mem::take(&mut self.pending);
        if !pending.slots.is_empty() {
            sqlx::query("savepoint import_group")
                .execute(&mut *tx)
                .await?;
            let written = self
                .write_new(tx, &mut pending)
                .await
                .map_err(ApiError::from);
            if self.end_group(tx, written).await? {
                let lines = pending.slots.into_iter().zip(pending.copies);
                let alone = pending
                    .explicit_slugs
                    .into_iter()
                    .map(|explicit_slug| Alone::New { explicit_slug });
                self.one_by_one(tx, lines.zip(alone)).await?;
            }
        }
        Ok(())
    }

    /// Ends a group's savepoint: kept when `written`, else undone. Whether to write its lines
    /// one by one.
    async fn end_group(&self, tx: &mut PgConnection, written: ApiResult<()>) -> ApiResult<bool> {
        let failed = match written {
            Ok(()) => false,
            Err(err) => {
                tracing::debug!(error = %err, "import: writing articles together failed; one by one");
                true
            }
        };
        let end = if failed {
            "rollback to savepoint import_group"
        } else {
            "release savepoint import_group"
        };
        sqlx::query(end).execute(&mut *tx).await?;
        Ok(failed)
    }

    /// Writes lines alone, each under its own savepoint, recording the failures by slot.
    async fn one_by_one(
        &mut self,
        tx: &mut PgConnection,
        lines: impl Iterator<Item = ((usize, ArticleData), Alone)>,
    ) -> ApiResult<()> {
        for ((slot, mut data), alone) in lines {
            sqlx::query("savepoint import_line")
                .execute(&mut *tx)
                .await?;
            let written = match alone {
                Alone::New { explicit_slug } => {
                    match store::insert(tx, &mut data, explicit_slug).await {
                        Ok(()) => self.go_live(tx, &data, false).await,
                        Err(err) => Err(err),
                    }
                }
                Alone::Changed { was_live } => match store::update(tx, &data).await {
                    Ok(()) => self.go_live(tx, &data, was_live).await,
                    Err(err) => Err(err),
                },
            };
            let end = match written {
                Ok(()) => "release savepoint import_line",
                Err(err) => {
                    self.flush_failures.push((slot, err));
                    "rollback to savepoint import_line"
                }
            };
            sqlx::query(end).execute(&mut *tx).await?;
        }
        Ok(())
    }

    /// The group write of changed articles: their rows and relations, the live copies their
    /// status calls for, revisions and events; as `write_new`, publishing last.
    async fn write_changed(
        &self,
        tx: &mut PgConnection,
        changed: &PendingChanged,
    ) -> ApiResult<()> {
        let all: Vec<&ArticleData> = changed.copies.iter().collect();
        store::update_many(tx, &all).await?;
        for (copy, was_live) in all.iter().zip(&changed.was_live) {
            if *was_live && copy.status != ArticleStatus::Published {
                store::remove_live(tx, copy.id).await?;
            }
        }
        Ok(self.record_and_publish(tx, &all).await?)
    }

    async fn write_new(&self, tx: &mut PgConnection, pending: &mut PendingNew) -> sqlx::Result<()> {
        store::insert_many(tx, &mut pending.copies, &pending.explicit_slugs).await?;
        let all: Vec<&ArticleData> = pending.copies.iter().collect();
        self.record_and_publish(tx, &all).await
    }

    /// The revisions and events of a group's articles just saved, and the live copies of those
    /// published.
    async fn record_and_publish(
        &self,
        tx: &mut PgConnection,
        all: &[&ArticleData],
    ) -> sqlx::Result<()> {
        history::record_many(
            tx,
            all,
            history::RevisionAction::Import,
            self.actor,
            self.state.config.revisions_keep,
        )
        .await?;
        let published: Vec<&ArticleData> = all
            .iter()
            .copied()
            .filter(|c| c.status == ArticleStatus::Published)
            .collect();
        // Last, because it ends by updating the counts of the batch's authors and tags, rows
        // that every other batch in flight waits for until this one commits (measured: 100,000
        // lines 1,881 → 2,065 lines/s).
        store::put_live_many(tx, &self.state.media, &published).await
    }

    async fn write_line(
        &mut self,
        tx: &mut PgConnection,
        slot: usize,
        line: ArticleLine,
        errors: Vec<FieldError>,
        known: &mut Known,
    ) -> ApiResult<Outcome> {
        if known.written.contains(&line_key(&line)) {
            // An earlier line of the batch wrote this article and may still be pending: flushed
            // before this line opens its savepoint, which must not cover other lines' writes.
            self.flush(tx).await?;
        }
        let (mut data, explicit_slug) = self.candidate(tx, line, errors).await?;
        let key = match &data.external_id {
            Some(id) => Key::ExternalId(id.clone()),
            None => Key::Slug(data.slug.clone()),
        };
        let existing = match known.lookup(&key) {
            Some(found) => found,
            None => {
                // An earlier line of the batch may be this article, still waiting to be written.
                self.flush(tx).await?;
                store::find_by(&mut *tx, &key).await?
            }
        };
        if let Some((current, _)) = &existing {
            // What this line writes makes the prefetched copy stale for later lines.
            known.written.insert(Key::Slug(current.slug.clone()));
        }
        known.written.insert(key);
        if let Some(id) = &data.external_id {
            known.written.insert(Key::ExternalId(id.clone()));
        }
        known.written.insert(Key::Slug(data.slug.clone()));
        let Some((current, imported_version)) = existing else {
            if data.status == ArticleStatus::Published {
                data.published_at.get_or_insert(data.created_at);
                data.live_version = Some(data.version);
            }
            self.pending.slots.push(slot);
            self.pending.copies.push(data);
            self.pending.explicit_slugs.push(explicit_slug);
            return Ok(Outcome::Created);
        };
        data.id = current.id;
        data.created_by = current.created_by;
        data.created_at = current.created_at;
        data.version = current.version;
        data.live_version = current.live_version;
        if data.status == ArticleStatus::Published && data.published_at.is_none() {
            data.published_at = current.published_at.or(Some(data.updated_at));
        }
        if !explicit_slug {
            data.slug = current.slug.clone();
        }
        if history::same_content(&current, &data) {
            return Ok(Outcome::Unchanged);
        }
        if !self.options.overwrite && imported_version != Some(current.version) {
            return Err(ApiError::Conflict(match imported_version {
                Some(imported) => format!(
                    "the article was changed in Galley since the last import (version {}, imported {imported}); import with overwrite to replace it",
                    current.version
                ),
                None => {
                    "the article was not created by an import; import with overwrite to replace it"
                        .into()
                }
            }));
        }
        data.version += 1;
        data.live_version = (data.status == ArticleStatus::Published).then_some(data.version);
        self.changed.slots.push(slot);
        self.changed.copies.push(data);
        self.changed.was_live.push(current.live_version.is_some());
        Ok(Outcome::Updated)
    }

    /// The live copy the status calls for (`live_version` already set), the revision and
    /// event, and the import mark.
    async fn go_live(
        &self,
        tx: &mut PgConnection,
        data: &ArticleData,
        was_live: bool,
    ) -> ApiResult<()> {
        if data.status == ArticleStatus::Published {
            store::put_live(tx, &self.state.media, data).await?;
        } else if was_live {
            store::remove_live(tx, data.id).await?;
        }
        history::record(
            tx,
            data,
            history::RevisionAction::Import,
            self.actor,
            self.state.config.revisions_keep,
        )
        .await?;
        sqlx::query("update articles set imported_version = version where id = $1")
            .bind(data.id)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Rewrites `banner.image_sha256` and `body[i].image_sha256` into image ids.
    async fn images_by_sha256(
        &mut self,
        value: &mut Value,
        errors: &mut Vec<FieldError>,
    ) -> sqlx::Result<()> {
        let mut slots: Vec<(String, &mut Map<String, Value>)> = Vec::new();
        let Some(object) = value.as_object_mut() else {
            return Ok(());
        };
        let (banner, body) = split_banner_body(object);
        if let Some(Value::Object(banner)) = banner {
            slots.push(("banner.image_sha256".into(), banner));
        }
        if let Some(Value::Array(blocks)) = body {
            for (i, block) in blocks.iter_mut().enumerate() {
                if let Value::Object(block) = block {
                    slots.push((format!("body[{i}].image_sha256"), block));
                }
            }
        }
        for (path, slot) in slots {
            let Some(Value::String(sha)) = slot.get("image_sha256").cloned() else {
                continue;
            };
            if slot.contains_key("image_id") {
                errors.push(FieldError::new(
                    path,
                    "give image_id or image_sha256, not both",
                ));
                continue;
            }
            let sha = sha.to_ascii_lowercase();
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                errors.push(FieldError::new(path, "must be 64 hexadecimal characters"));
                slot.remove("image_sha256");
                continue;
            }
            let id = match self.images.get(&sha) {
                Some(id) => *id,
                None => {
                    let id: Option<Uuid> = sqlx::query_scalar(
                        "select id from images where sha256 = decode($1, 'hex')",
                    )
                    .bind(&sha)
                    .fetch_optional(&self.state.db)
                    .await?;
                    self.images.insert(sha, id);
                    id
                }
            };
            slot.remove("image_sha256");
            match id {
                Some(id) => {
                    slot.insert("image_id".into(), Value::String(id.to_string()));
                }
                None => errors.push(FieldError::new(path, "no image with this sha256")),
            }
        }
        Ok(())
    }

    /// The working copy a line describes, validated like a create; relations resolved (and
    /// created when missing).
    async fn candidate(
        &mut self,
        tx: &mut PgConnection,
        line: ArticleLine,
        mut errors: Vec<FieldError>,
    ) -> ApiResult<(ArticleData, bool)> {
        let now = super::now();
        let mut data = super::new_article(self.actor, now);
        let mut v = Validator::new();
        apply_text_fields(
            &mut v,
            &mut data,
            TextFields::of_new(
                line.title,
                line.subtitle,
                line.excerpt,
                line.language,
                line.seo,
                line.external_id,
            ),
        );
        let explicit_slug = line.slug.is_some();
        data.slug = match &line.slug {
            Some(s) => v.slug("slug", s),
            None => slug::SlugTable::Articles.slugify(&data.title),
        };
        if let Some(blocks) = take_body(&mut v, line.body, line.body_markdown) {
            set_body(&mut data, blocks);
        }
        if let Some(banner) = line.banner {
            match banner.image_id {
                Some(id) => data.banner_image_id = Some(id),
                // An unknown sha256 was reported as such, and removed.
                None if !errors.iter().any(|e| e.field.starts_with("banner.")) => {
                    v.error("banner.image_id", "give image_id or image_sha256")
                }
                None => {}
            }
            data.banner_caption = v.optional_text(
                "banner.caption",
                banner.caption,
                crate::images::CAPTION_MAX_CHARS,
            );
            data.banner_credit = v.optional_text(
                "banner.credit",
                banner.credit,
                crate::images::CREDIT_MAX_CHARS,
            );
        }
        data.featured = line.featured.unwrap_or(false);
        // Parsed here, not by serde, so that a bad status is one field error among the line's
        // others rather than the whole line refused.
        let status = match line.status.as_deref().map(str::parse::<ArticleStatus>) {
            None => ArticleStatus::Draft,
            Some(Ok(status)) => status,
            Some(Err(_)) => {
                v.error(
                    "status",
                    format!("must be one of {}", ArticleStatus::allowed()),
                );
                ArticleStatus::Draft
            }
        };
        data.published_at = line
            .published_at
            .map(|at| chrono::SubsecRound::trunc_subsecs(at, 6));
        data.scheduled_at = line
            .scheduled_at
            .map(|at| chrono::SubsecRound::trunc_subsecs(at, 6));
        match status {
            ArticleStatus::Scheduled if data.scheduled_at.is_none() => {
                v.error("scheduled_at", "required for a scheduled article")
            }
            ArticleStatus::Scheduled => {}
            _ if data.scheduled_at.is_some() => {
                v.error("scheduled_at", "only a scheduled article has scheduled_at")
            }
            _ => {}
        }
        data.status = status;
        let authors = line.authors.unwrap_or_default();
        let tags = line.tags.unwrap_or_default();
        if !store::all_cached(&self.refs, store::RefKind::Authors, &authors)
            || !store::all_cached(&self.refs, store::RefKind::Tags, &tags)
        {
            self.before_writing(tx).await?;
        }
        data.author_ids = store::resolve_refs(
            tx,
            store::RefKind::Authors,
            &authors,
            &mut errors,
            Some(&mut self.refs),
        )
        .await?;
        data.tag_ids = store::resolve_refs(
            tx,
            store::RefKind::Tags,
            &tags,
            &mut errors,
            Some(&mut self.refs),
        )
        .await?;
        store::missing_images(&mut *tx, &data, &mut errors).await?;
        super::fail_with(v, errors)?;
        Ok((data, explicit_slug))
    }
}

/// A batch's prefetched articles.
#[derive(Default)]
struct Known {
    /// Keys the prefetch asked for: absent from `stored` means no such article.
    queried: std::collections::HashSet<Key>,
    stored: HashMap<Key, (ArticleData, Option<i32>)>,
    /// Keys an earlier line of the batch wrote: read them again.
    written: std::collections::HashSet<Key>,
}

impl Known {
    /// `Some(answer)` when the prefetch answers for `key`, `None` when the database must. Each
    /// answer is given once: the line that asks writes the key, so later lines read it anew.
    fn lookup(&mut self, key: &Key) -> Option<Option<(ArticleData, Option<i32>)>> {
        if self.written.contains(key) || !self.queried.contains(key) {
            return None;
        }
        Some(self.stored.remove(key))
    }
}

/// What two batches must not write side by side: the line's key and the slug it wants (which
/// both could otherwise choose, or wait on each other for).
fn line_keys(line: &ArticleLine) -> Vec<Key> {
    let slug = Key::Slug(match &line.slug {
        Some(slug) => slug.clone(),
        None => slug::SlugTable::Articles.slugify(line.title.trim()),
    });
    match line_key(line) {
        key if key == slug => vec![key],
        key => vec![key, slug],
    }
}

/// How a line is matched: by `external_id`, else by slug as given or made from the title.
fn line_key(line: &ArticleLine) -> Key {
    match (line.external_id.as_deref().map(str::trim), &line.slug) {
        (Some(id), _) => Key::ExternalId(id.to_owned()),
        (None, Some(slug)) => Key::Slug(slug.clone()),
        (None, None) => Key::Slug(slug::SlugTable::Articles.slugify(line.title.trim())),
    }
}

fn split_banner_body(object: &mut Map<String, Value>) -> (Option<&mut Value>, Option<&mut Value>) {
    let mut banner = None;
    let mut body = None;
    for (key, value) in object.iter_mut() {
        match key.as_str() {
            "banner" => banner = Some(value),
            "body" => body = Some(value),
            _ => {}
        }
    }
    (banner, body)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Validate and report without writing anything.
    dry_run: Option<bool>,
    /// Replace articles changed in Galley since they were last imported (otherwise a `409` for
    /// that line).
    overwrite: Option<bool>,
}

/// Import articles as NDJSON (editor): one article a line, upserted by `external_id`, else
/// `slug`. Every valid line is stored even when others fail; the report lists each failure with
/// its line number. Running the same file again changes nothing.
#[utoipa::path(post, path = "/v1/import", tag = "import",
    params(ImportQuery),
    request_body(content = ArticleLine, content_type = "application/x-ndjson", description = "One article a line"),
    security(("bearer" = [])),
    responses((status = 200, description = "What was imported", body = ImportReport)))]
pub async fn import_articles(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportReport>> {
    principal.require(Role::Editor)?;
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/x-ndjson")
                || v.eq_ignore_ascii_case("application/jsonl")
        });
    if !ndjson {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/x-ndjson".into(),
        ));
    }
    let options = ImportOptions {
        dry_run: query.dry_run.unwrap_or(false),
        overwrite: query.overwrite.unwrap_or(false),
    };
    let report = import(
        &state,
        Some(principal.user_id),
        options,
        body.into_data_stream(),
        |_| {},
    )
    .await?;
    tracing::info!(
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        failed = report.failed,
        dry_run = report.dry_run,
        "import finished"
    );
    Ok(Json(report))
}

/// Articles exported per statement batch.
const EXPORT_PAGE: i64 = 200;

/// Every article as NDJSON lines, in creation order, one page of articles at a time.
pub fn export(state: AppState) -> impl Stream<Item = ApiResult<Bytes>> {
    futures_util::stream::try_unfold(Some(Uuid::nil()), move |after| {
        let state = state.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let page = store::page_after(&state.db, after, EXPORT_PAGE).await?;
            let Some(last) = page.last().map(|data| data.id) else {
                return Ok(None);
            };
            let mut conn = state.db.acquire().await?;
            let refs: Vec<&ArticleData> = page.iter().collect();
            let embeds = store::embeds(&mut conn, &state.media, &refs).await?;
            let mut out = Vec::with_capacity(page.len() * 8192);
            for data in &page {
                serde_json::to_writer(&mut out, &export_line(data, &embeds)?)
                    .map_err(|e| ApiError::Internal(e.into()))?;
                out.push(b'\n');
            }
            let next = (page.len() as i64 == EXPORT_PAGE).then_some(last);
            Ok(Some((Bytes::from(out), next)))
        }
    })
}

/// The line of one article; image blocks name their image by `image_sha256`.
fn export_line(data: &ArticleData, embeds: &Embeds) -> ApiResult<Value> {
    let sha = |id: Uuid| embeds.images.get(&id).map(|image| image.sha256.clone());
    let mut body = serde_json::to_value(&data.body).map_err(|e| ApiError::Internal(e.into()))?;
    if let Value::Array(blocks) = &mut body {
        for block in blocks {
            let Some(block) = block.as_object_mut() else {
                continue;
            };
            let Some(id) = block
                .get("image_id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            if let Some(sha) = sha(id) {
                block.remove("image_id");
                block.insert("image_sha256".into(), Value::String(sha));
            }
        }
    }
    let refs = |ids: &[Uuid], names: &dyn Fn(&Uuid) -> Option<(String, String)>| -> Vec<RefInput> {
        ids.iter()
            .filter_map(names)
            .map(|(name, slug)| {
                RefInput::New(super::model::NewRef {
                    name,
                    slug: Some(slug),
                })
            })
            .collect()
    };
    let line = ArticleLine {
        title: data.title.clone(),
        slug: Some(data.slug.clone()),
        subtitle: data.subtitle.clone(),
        excerpt: data.excerpt.clone(),
        body: None,
        body_markdown: None,
        banner: data.banner_image_id.map(|id| LineBanner {
            image_id: None,
            image_sha256: sha(id),
            caption: data.banner_caption.clone(),
            credit: data.banner_credit.clone(),
        }),
        authors: Some(refs(&data.author_ids, &|id| {
            embeds
                .authors
                .get(id)
                .map(|a| (a.name.clone(), a.slug.clone()))
        })),
        tags: Some(refs(&data.tag_ids, &|id| {
            embeds
                .tags
                .get(id)
                .map(|t| (t.name.clone(), t.slug.clone()))
        })),
        featured: Some(data.featured),
        language: Some(data.language.clone()),
        seo: Some(data.seo.clone()),
        external_id: data.external_id.clone(),
        status: Some(data.status.as_str().to_owned()),
        published_at: data.published_at,
        scheduled_at: data.scheduled_at,
    };
    let mut line = serde_json::to_value(line).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(object) = line.as_object_mut() {
        object.insert("body".into(), body);
    }
    Ok(line)
}

/// Export every article as NDJSON in the import shape (editor), streamed: working copies with
/// status and dates, authors and tags as `{name, slug}`, images by `image_sha256`.
#[utoipa::path(get, path = "/v1/export", tag = "import",
    security(("bearer" = [])),
    responses((status = 200, description = "One article a line", content_type = "application/x-ndjson", body = ArticleLine)))]
pub async fn export_articles(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Response> {
    principal.require(Role::Editor)?;
    let stream =
        export(state).map(|chunk| chunk.map_err(|err| std::io::Error::other(err.to_string())));
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    // Streamed as it is read: never buffered whole to compute an ETag.
    response
        .extensions_mut()
        .insert(crate::http::middleware::Streamed);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
