//! The NDJSON stream cut into lines and batches, and batches run side by side while taking
//! effect as if one after the other.

// The line types and limits of the import, shared by its parts.
use super::*;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::{RwLock, oneshot};
use uuid::Uuid;

use super::super::{store, store::Key};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::metrics::{ImportLines, Metrics};

use super::importer::{Importer, line_keys};

/// Batches written at the same time, each in its own transaction: while PostgreSQL works on
/// one, Galley prepares another, and PostgreSQL gets a second core. A fourth keeps both cores
/// busy while one batch folds a full pending list into the search index; more were no faster
/// (figures in docs/PERFORMANCE.md).
pub(super) const BATCHES_IN_FLIGHT: usize = 4;

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
        metrics: state.metrics.clone(),
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

pub(super) fn take_line(
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
pub(super) struct Running {
    pub(super) report: ImportReport,
    pub(super) batches: VecDeque<tokio::task::JoinHandle<ApiResult<Outcomes>>>,
    /// Told when the last batch started holds the gate; the next one waits for it.
    pub(super) turn: Option<oneshot::Receiver<()>>,
    pub(super) number: u64,
    /// The first batch that failed (the database did), ending the import.
    pub(super) failure: Option<ApiError>,
    pub(super) metrics: Arc<Metrics>,
}

impl Running {
    pub(super) fn start(&mut self, shared: &Arc<Shared>, lines: Vec<RawLine>) {
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
    pub(super) async fn limit(&mut self, left: usize, progress: &mut impl FnMut(&ImportReport)) {
        while self.batches.len() > left {
            let Some(batch) = self.batches.pop_front() else {
                return;
            };
            let outcomes = batch
                .await
                .map_err(|err| ApiError::Internal(anyhow::anyhow!("import batch: {err}")))
                .and_then(|outcomes| outcomes);
            let before = lines_of(&self.report);
            match outcomes.and_then(|outcomes| count(&mut self.report, outcomes)) {
                Ok(()) => {
                    let after = lines_of(&self.report);
                    self.metrics.count_import(
                        ImportLines {
                            created: after.created - before.created,
                            updated: after.updated - before.updated,
                            unchanged: after.unchanged - before.unchanged,
                            failed: after.failed - before.failed,
                        },
                        self.report.dry_run,
                    );
                    progress(&self.report);
                }
                Err(err) => {
                    self.failure.get_or_insert(err);
                }
            }
        }
    }
}

fn lines_of(report: &ImportReport) -> ImportLines {
    ImportLines {
        created: report.created,
        updated: report.updated,
        unchanged: report.unchanged,
        failed: report.failed,
    }
}

/// Adds a batch's outcomes to the report; a server error among them fails the import.
pub(super) fn count(report: &mut ImportReport, outcomes: Outcomes) -> ApiResult<()> {
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
pub(super) struct Shared {
    pub(super) state: AppState,
    pub(super) actor: Option<Uuid>,
    pub(super) options: ImportOptions,
    /// sha256 → image id, and authors and tags found: looked up once per import. Each batch
    /// works on its own copy and adds what it found once committed.
    pub(super) images: Mutex<HashMap<String, Option<Uuid>>>,
    pub(super) refs: Mutex<store::RefCache>,
    /// Held shared by batches that may run side by side, alone by the others.
    pub(super) gate: RwLock<()>,
    /// The keys the batches holding the gate write, by batch number.
    pub(super) writing: Mutex<HashMap<Key, u64>>,
}

impl Shared {
    pub(super) fn images(&self) -> HashMap<String, Option<Uuid>> {
        self.images.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub(super) fn refs(&self) -> store::RefCache {
        self.refs.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub(super) fn overlaps(&self, keys: &[Key]) -> bool {
        self.writing
            .lock()
            .map(|writing| keys.iter().any(|key| writing.contains_key(key)))
            .unwrap_or(true)
    }

    pub(super) fn mark_writing(&self, number: u64, keys: Vec<Key>, writing: bool) {
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
pub(super) async fn run_batch(
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

pub(super) fn is_deadlock(err: &ApiError) -> bool {
    match err {
        ApiError::Internal(cause) => cause
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .is_some_and(|code| code == "40P01"),
        _ => false,
    }
}
