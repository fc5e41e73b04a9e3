//! One batch of import lines: parsed, matched with stored articles, written together where
//! it can and one by one where a line needs it.

// The line types and limits of the import, shared by its parts.
use super::*;
use std::collections::HashMap;

use serde_json::{Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::super::{
    ArticleData,
    history::{self, Was},
    input::LineArticle,
    model::{ArticleStatus, RefInput},
    store,
    store::Key,
};
use crate::app::AppState;
use crate::{
    http::error::{ApiError, ApiResult, FieldError},
    slug,
    validate::Validator,
};

use super::batches::Shared;

/// One batch's work: its transaction, its caches, and the articles waiting to be written.
pub(super) struct Importer<'a> {
    pub(super) state: &'a AppState,
    pub(super) actor: Option<Uuid>,
    pub(super) options: ImportOptions,
    pub(super) images: HashMap<String, Option<Uuid>>,
    pub(super) refs: store::RefCache,
    /// Whether the current line opened its savepoint (before its first write).
    pub(super) savepoint: bool,
    /// New articles of the batch, written together by `flush`.
    pub(super) pending: PendingNew,
    /// Changed articles of the batch, written together by `flush`.
    pub(super) changed: PendingChanged,
    /// Lines `flush` could not write after all, by their place in the batch.
    pub(super) flush_failures: Vec<(usize, ApiError)>,
}

/// New articles waiting to be written in one go: a new article costs a dozen statements alone
/// and about one-twentieth of that in a group.
#[derive(Default)]
pub(super) struct PendingNew {
    pub(super) slots: Vec<usize>,
    pub(super) copies: Vec<ArticleData>,
    pub(super) explicit_slugs: Vec<bool>,
}

/// Changed articles waiting to be written in one go, the same way: alone, a changed line cost
/// some fifteen statements (docs/PERFORMANCE.md has what that cost).
#[derive(Default)]
pub(super) struct PendingChanged {
    pub(super) slots: Vec<usize>,
    pub(super) copies: Vec<ArticleData>,
    /// What each was before.
    pub(super) was: Vec<Was>,
}

/// How a line that its group could not write is written alone.
pub(super) enum Alone {
    New { explicit_slug: bool },
    Changed { was: Was },
}

impl<'a> Importer<'a> {
    /// Opens the line's savepoint before its first write, so a failure later in the line undoes
    /// what it wrote; reads need none, and most lines of a re-run only read.
    pub(super) async fn before_writing(&mut self, tx: &mut PgConnection) -> sqlx::Result<()> {
        if !self.savepoint {
            sqlx::query("savepoint import_line")
                .execute(&mut *tx)
                .await?;
            self.savepoint = true;
        }
        Ok(())
    }

    pub(super) fn new(shared: &'a Shared) -> Self {
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

    pub(super) async fn parse_all(&mut self, lines: &[RawLine]) -> ApiResult<Vec<ParsedLine>> {
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
    pub(super) fn refs_cached(&self, line: &ArticleLine) -> bool {
        let cached = |kind, refs: &Option<Vec<RefInput>>| {
            store::all_cached(&self.refs, kind, refs.as_deref().unwrap_or_default())
        };
        cached(store::RefKind::Authors, &line.authors) && cached(store::RefKind::Tags, &line.tags)
    }

    pub(super) async fn write_batch(&mut self, parsed: Vec<ParsedLine>) -> ApiResult<Outcomes> {
        let mut tx = self.state.db.begin().await?;
        // A batch of a thousand lines may wait behind an editor's row lock or a checkpoint
        // longer than one request would; it is still bounded by the upload's own limit.
        crate::db::allow_long_statements(
            &mut tx,
            self.state.config.upload_timeout,
            self.state.config.request_timeout,
        )
        .await?;
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
    pub(super) async fn parse_line(
        &mut self,
        bytes: &[u8],
    ) -> ApiResult<(ArticleLine, Vec<FieldError>)> {
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
    pub(super) async fn prefetch(
        &self,
        tx: &mut PgConnection,
        parsed: &[ParsedLine],
    ) -> sqlx::Result<Known> {
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
    pub(super) async fn flush(&mut self, tx: &mut PgConnection) -> ApiResult<()> {
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
                let alone = changed.was.into_iter().map(|was| Alone::Changed { was });
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
    pub(super) async fn end_group(
        &self,
        tx: &mut PgConnection,
        written: ApiResult<()>,
    ) -> ApiResult<bool> {
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
    pub(super) async fn one_by_one(
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
                        Ok(()) => self.go_live(tx, &data, Was::NEW).await,
                        Err(err) => Err(err.into()),
                    }
                }
                Alone::Changed { was } => match store::update(tx, &data).await {
                    Ok(()) => self.go_live(tx, &data, was).await,
                    Err(err) => Err(err.into()),
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
    pub(super) async fn write_changed(
        &self,
        tx: &mut PgConnection,
        changed: &PendingChanged,
    ) -> ApiResult<()> {
        let all: Vec<&ArticleData> = changed.copies.iter().collect();
        store::update_many(tx, &all).await?;
        for (copy, was) in all.iter().zip(&changed.was) {
            if was.live && copy.status != ArticleStatus::Published {
                store::remove_live(tx, copy.id).await?;
            }
        }
        Ok(self.record_and_publish(tx, &all, &changed.was).await?)
    }

    pub(super) async fn write_new(
        &self,
        tx: &mut PgConnection,
        pending: &mut PendingNew,
    ) -> sqlx::Result<()> {
        store::insert_many(tx, &mut pending.copies, &pending.explicit_slugs).await?;
        let all: Vec<&ArticleData> = pending.copies.iter().collect();
        self.record_and_publish(tx, &all, &vec![Was::NEW; all.len()])
            .await
    }

    /// The revisions and events of a group's articles just saved, and the live copies of those
    /// published.
    pub(super) async fn record_and_publish(
        &self,
        tx: &mut PgConnection,
        all: &[&ArticleData],
        was: &[Was],
    ) -> sqlx::Result<()> {
        let published: Vec<&ArticleData> = all
            .iter()
            .copied()
            .filter(|c| c.status == ArticleStatus::Published)
            .collect();
        // The live copies before the events, which carry them; their authors' and tags'
        // counts last, because every other batch in flight waits for those rows until this
        // one commits.
        let counts = store::put_live_many(tx, &self.state.media, &published).await?;
        history::record_many(
            tx,
            all,
            was,
            history::RevisionAction::Import,
            self.actor,
            self.state.config.revisions_keep,
        )
        .await?;
        counts.apply(tx).await
    }

    pub(super) async fn write_line(
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
        self.changed.was.push(Was::of(&current));
        Ok(Outcome::Updated)
    }

    /// The live copy the status calls for (`live_version` already set), the revision and
    /// event, and the import mark.
    pub(super) async fn go_live(
        &self,
        tx: &mut PgConnection,
        data: &ArticleData,
        was: Was,
    ) -> ApiResult<()> {
        if data.status == ArticleStatus::Published {
            store::put_live(tx, &self.state.media, data).await?;
        } else if was.live {
            store::remove_live(tx, data.id).await?;
        }
        history::record(
            tx,
            data,
            was,
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
    pub(super) async fn images_by_sha256(
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
    pub(super) async fn candidate(
        &mut self,
        tx: &mut PgConnection,
        line: ArticleLine,
        mut errors: Vec<FieldError>,
    ) -> ApiResult<(ArticleData, bool)> {
        let mut v = Validator::new();
        let LineArticle {
            mut data,
            explicit_slug,
            authors,
            tags,
        } = super::super::input::from_line(&mut v, line, self.actor, &errors);
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
        super::super::fail_with(v, errors)?;
        Ok((data, explicit_slug))
    }
}

/// A batch's prefetched articles.
#[derive(Default)]
pub(super) struct Known {
    /// Keys the prefetch asked for: absent from `stored` means no such article.
    pub(super) queried: std::collections::HashSet<Key>,
    pub(super) stored: HashMap<Key, (ArticleData, Option<i32>)>,
    /// Keys an earlier line of the batch wrote: read them again.
    pub(super) written: std::collections::HashSet<Key>,
}

impl Known {
    /// `Some(answer)` when the prefetch answers for `key`, `None` when the database must. Each
    /// answer is given once: the line that asks writes the key, so later lines read it anew.
    pub(super) fn lookup(&mut self, key: &Key) -> Option<Option<(ArticleData, Option<i32>)>> {
        if self.written.contains(key) || !self.queried.contains(key) {
            return None;
        }
        Some(self.stored.remove(key))
    }
}

/// What two batches must not write side by side: the line's key and the slug it wants (which
/// both could otherwise choose, or wait on each other for).
pub(super) fn line_keys(line: &ArticleLine) -> Vec<Key> {
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
pub(super) fn line_key(line: &ArticleLine) -> Key {
    match (line.external_id.as_deref().map(str::trim), &line.slug) {
        (Some(id), _) => Key::ExternalId(id.to_owned()),
        (None, Some(slug)) => Key::Slug(slug.clone()),
        (None, None) => Key::Slug(slug::SlugTable::Articles.slugify(line.title.trim())),
    }
}

pub(super) fn split_banner_body(
    object: &mut Map<String, Value>,
) -> (Option<&mut Value>, Option<&mut Value>) {
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
