//! The SQL of articles: working copies with their relations, the live copy with its rendered
//! JSON, and the published-article counts of authors and tags.

use std::collections::HashSet;

use sqlx::{PgConnection, PgExecutor, types::Json as DbJson};
use uuid::Uuid;

use super::{
    body::{self, Block},
    model::{ArticleData, Byline, Embeds, NewRef, RefInput, Seo, TagRef, render},
    search,
};
use crate::{
    http::{
        error::{ApiError, ApiResult, ConstraintErrors, FieldError, on_constraint},
        extract::IdOrSlug,
    },
    images::{self, Media},
    slug,
};

/// The columns of a working copy, relations as ordered id arrays.
pub const COLUMNS: &str = "a.id, a.slug, a.status, a.title, a.subtitle, a.excerpt, \
    a.derived_excerpt, a.body, a.banner_image_id, a.banner_caption, a.banner_credit, a.featured, \
    a.language, a.seo, a.external_id, a.word_count, a.reading_time_minutes, a.created_by, \
    a.published_at, a.scheduled_at, a.version, a.live_version, a.created_at, a.updated_at, \
    array(select x.author_id from article_authors x where x.article_id = a.id order by x.position) as author_ids, \
    array(select x.tag_id from article_tags x where x.article_id = a.id order by x.position) as tag_ids";

#[derive(sqlx::FromRow)]
pub struct ArticleRow {
    id: Uuid,
    slug: String,
    status: String,
    title: String,
    subtitle: Option<String>,
    excerpt: Option<String>,
    derived_excerpt: Option<String>,
    body: DbJson<Vec<Block>>,
    banner_image_id: Option<Uuid>,
    banner_caption: Option<String>,
    banner_credit: Option<String>,
    featured: bool,
    language: String,
    seo: DbJson<Seo>,
    external_id: Option<String>,
    word_count: i32,
    reading_time_minutes: i32,
    created_by: Option<Uuid>,
    published_at: Option<chrono::DateTime<chrono::Utc>>,
    scheduled_at: Option<chrono::DateTime<chrono::Utc>>,
    version: i32,
    live_version: Option<i32>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    author_ids: Vec<Uuid>,
    tag_ids: Vec<Uuid>,
}

impl From<ArticleRow> for ArticleData {
    fn from(r: ArticleRow) -> Self {
        Self {
            id: r.id,
            slug: r.slug,
            status: r.status,
            title: r.title,
            subtitle: r.subtitle,
            excerpt: r.excerpt,
            derived_excerpt: r.derived_excerpt,
            body: r.body.0,
            banner_image_id: r.banner_image_id,
            banner_caption: r.banner_caption,
            banner_credit: r.banner_credit,
            featured: r.featured,
            language: r.language,
            seo: r.seo.0,
            external_id: r.external_id,
            word_count: r.word_count,
            reading_time_minutes: r.reading_time_minutes,
            created_by: r.created_by,
            published_at: r.published_at,
            scheduled_at: r.scheduled_at,
            version: r.version,
            live_version: r.live_version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            author_ids: r.author_ids,
            tag_ids: r.tag_ids,
        }
    }
}

/// The working copy addressed by id or slug.
pub async fn find(
    db: impl PgExecutor<'_>,
    key: &IdOrSlug,
    for_update: bool,
) -> sqlx::Result<Option<ArticleData>> {
    let (id, slug) = key.binds();
    let lock = if for_update { " for update of a" } else { "" };
    let row: Option<ArticleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from articles a where a.id = $1 or a.slug = $2{lock}"
    )))
    .bind(id)
    .bind(slug)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// The working copy whose `column` (`slug` or `external_id`) is `value`, locked, with the
/// version an import last wrote.
pub async fn find_by(
    tx: &mut PgConnection,
    column: &'static str,
    value: &str,
) -> sqlx::Result<Option<(ArticleData, Option<i32>)>> {
    let row: Option<ImportedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS}, a.imported_version from articles a where a.{column} = $1 for update of a"
    )))
    .bind(value)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|row| (row.article.into(), row.imported_version)))
}

/// The working copies with any of `external_ids` or `slugs`, locked, with their import marks.
pub async fn find_many_by(
    tx: &mut PgConnection,
    external_ids: &[String],
    slugs: &[String],
) -> sqlx::Result<Vec<(ArticleData, Option<i32>)>> {
    if external_ids.is_empty() && slugs.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ImportedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS}, a.imported_version from articles a \
         where a.external_id = any($1) or a.slug = any($2) for update of a"
    )))
    .bind(external_ids)
    .bind(slugs)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.article.into(), row.imported_version))
        .collect())
}

#[derive(sqlx::FromRow)]
struct ImportedRow {
    #[sqlx(flatten)]
    article: ArticleRow,
    imported_version: Option<i32>,
}

/// Up to `limit` working copies created after `after` (ids are time-ordered UUIDv7).
pub async fn page_after(
    db: impl PgExecutor<'_>,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<ArticleData>> {
    let rows: Vec<ArticleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from articles a where a.id > $1 order by a.id limit $2"
    )))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Authors, tags and images of any number of articles: two statements (none without any).
pub async fn embeds(
    db: &mut PgConnection,
    media: &Media,
    articles: &[&ArticleData],
) -> sqlx::Result<Embeds> {
    let author_ids: Vec<Uuid> = articles
        .iter()
        .flat_map(|a| a.author_ids.iter().copied())
        .collect();
    let tag_ids: Vec<Uuid> = articles
        .iter()
        .flat_map(|a| a.tag_ids.iter().copied())
        .collect();
    let image_ids: Vec<Uuid> = articles.iter().flat_map(|a| a.image_ids()).collect();
    let mut embeds = Embeds {
        authors: Default::default(),
        tags: Default::default(),
        images: images::find_many(&mut *db, media, &image_ids).await?,
    };
    if author_ids.is_empty() && tag_ids.is_empty() {
        return Ok(embeds);
    }
    let rows: Vec<(bool, Uuid, String, String)> = sqlx::query_as(
        "select true, id, slug, name from authors where id = any($1) \
         union all select false, id, slug, name from tags where id = any($2)",
    )
    .bind(&author_ids)
    .bind(&tag_ids)
    .fetch_all(&mut *db)
    .await?;
    for (is_author, id, slug, name) in rows {
        if is_author {
            embeds.authors.insert(id, Byline { id, slug, name });
        } else {
            embeds.tags.insert(id, TagRef { id, slug, name });
        }
    }
    Ok(embeds)
}

/// Authors and tags an import already found, by kind and slug: most lines of a file name the
/// same few, and looking each up again was most of the statements of an unchanged re-run.
pub type RefCache = std::collections::HashMap<(RefKind, String), Uuid>;

/// The slug a `{"name", "slug"?}` reference is matched by.
fn wanted_slug(kind: RefKind, new: &NewRef) -> String {
    match &new.slug {
        Some(s) => s.clone(),
        None => slug::slugify(
            new.name.trim(),
            match kind {
                RefKind::Authors => "author",
                RefKind::Tags => "tag",
            },
        ),
    }
}

/// Whether resolving `refs` can only read: every `{"name"}` reference is one the cache knows
/// (an id or slug is looked up, never created).
pub fn all_cached(cache: &RefCache, kind: RefKind, refs: &[RefInput]) -> bool {
    refs.iter().all(|entry| match entry {
        RefInput::Key(_) => true,
        RefInput::New(new) => cache.contains_key(&(kind, wanted_slug(kind, new))),
    })
}

/// Which relation a reference list fills.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    Authors,
    Tags,
}

/// Resolves `authors`/`tags` entries to ids, creating `{"name": …}` entries that match no
/// slug. Unknown ids or slugs are field errors (`authors[1]`).
pub async fn resolve_refs(
    tx: &mut PgConnection,
    kind: RefKind,
    refs: &[RefInput],
    errors: &mut Vec<FieldError>,
    mut cache: Option<&mut RefCache>,
) -> ApiResult<Vec<Uuid>> {
    let (field, table) = match kind {
        RefKind::Authors => ("authors", "authors"),
        RefKind::Tags => ("tags", "tags"),
    };
    let mut ids = Vec::with_capacity(refs.len());
    for (i, entry) in refs.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let found: Option<Uuid> = match entry {
            RefInput::Key(key) => {
                let (id, slug) = match Uuid::parse_str(key) {
                    Ok(id) => (Some(id), None),
                    Err(_) => (None, Some(key.as_str())),
                };
                let found = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "select id from {table} where id = $1 or slug = $2"
                )))
                .bind(id)
                .bind(slug)
                .fetch_optional(&mut *tx)
                .await?;
                if found.is_none() {
                    errors.push(FieldError::new(
                        &path,
                        format!("no {} with this id or slug", &field[..field.len() - 1]),
                    ));
                }
                found
            }
            RefInput::New(new) => {
                let name = new.name.trim();
                let max = if matches!(kind, RefKind::Tags) {
                    100
                } else {
                    200
                };
                if name.is_empty() || name.chars().count() > max {
                    errors.push(FieldError::new(
                        format!("{path}.name"),
                        format!("must be 1-{max} characters"),
                    ));
                    None
                } else {
                    if new
                        .slug
                        .as_deref()
                        .is_some_and(|s| slug::validate(s).is_err())
                    {
                        errors.push(FieldError::new(
                            format!("{path}.slug"),
                            "must be lowercase a-z0-9 words joined by hyphens",
                        ));
                        continue;
                    }
                    let wanted = wanted_slug(kind, new);
                    let cached = cache
                        .as_deref()
                        .and_then(|c| c.get(&(kind, wanted.clone())).copied());
                    let existing: Option<Uuid> = match cached {
                        Some(id) => Some(id),
                        None => {
                            let found = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                                "select id from {table} where slug = $1"
                            )))
                            .bind(&wanted)
                            .fetch_optional(&mut *tx)
                            .await?;
                            // Only rows found, never rows this line creates: its savepoint
                            // may still roll back.
                            if let (Some(id), Some(c)) = (found, cache.as_deref_mut()) {
                                c.insert((kind, wanted.clone()), id);
                            }
                            found
                        }
                    };
                    match existing {
                        Some(id) => Some(id),
                        None => {
                            let id = Uuid::now_v7();
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "insert into {table} (id, slug, name) values ($1, $2, $3) \
                                 on conflict (slug) do nothing"
                            )))
                            .bind(id)
                            .bind(&wanted)
                            .bind(name)
                            .execute(&mut *tx)
                            .await?;
                            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                                "select id from {table} where slug = $1"
                            )))
                            .bind(&wanted)
                            .fetch_optional(&mut *tx)
                            .await?
                        }
                    }
                }
            }
        };
        if let Some(id) = found {
            if ids.contains(&id) {
                errors.push(FieldError::new(&path, "is listed twice"));
            } else {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// Field errors for authors and tags the copy names that no longer exist (a restored revision).
pub async fn missing_relations(
    tx: &mut PgConnection,
    data: &ArticleData,
    errors: &mut Vec<FieldError>,
) -> sqlx::Result<()> {
    let existing: HashSet<Uuid> = sqlx::query_scalar(
        "select id from authors where id = any($1) union all select id from tags where id = any($2)",
    )
    .bind(&data.author_ids)
    .bind(&data.tag_ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    for (field, ids) in [("authors", &data.author_ids), ("tags", &data.tag_ids)] {
        for (i, id) in ids.iter().enumerate() {
            if !existing.contains(id) {
                errors.push(FieldError::new(
                    format!("{field}[{i}]"),
                    format!("{} {id} no longer exists", &field[..field.len() - 1]),
                ));
            }
        }
    }
    Ok(())
}

/// Field errors for images the copy uses that do not exist.
pub async fn missing_images(
    db: impl PgExecutor<'_>,
    data: &ArticleData,
    errors: &mut Vec<FieldError>,
) -> sqlx::Result<()> {
    let mut wanted: Vec<(Uuid, String)> = body::image_ids(&data.body);
    if let Some(id) = data.banner_image_id {
        wanted.push((id, "banner.image_id".into()));
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = wanted.iter().map(|(id, _)| *id).collect();
    let existing: HashSet<Uuid> = sqlx::query_scalar("select id from images where id = any($1)")
        .bind(&ids)
        .fetch_all(db)
        .await?
        .into_iter()
        .collect();
    for (id, path) in wanted {
        if !existing.contains(&id) {
            errors.push(FieldError::new(path, "no image with this id"));
        }
    }
    Ok(())
}

const SAVE_CONSTRAINTS: ConstraintErrors = &[
    ("articles_external_id_key", || {
        ApiError::Conflict("another article has this external_id".into())
    }),
    ("articles_banner_image_id_fkey", || {
        ApiError::invalid("banner.image_id", "no image with this id")
    }),
    ("article_body_images_image_id_fkey", || {
        ApiError::invalid("body", "an image used in the body no longer exists")
    }),
];

/// Inserts a new working copy with a unique slug (`409` for a taken explicit one).
pub async fn insert(
    tx: &mut PgConnection,
    data: &mut ArticleData,
    explicit_slug: bool,
) -> ApiResult<()> {
    let pool_free = if explicit_slug {
        Some(data.slug.clone())
    } else {
        None
    };
    let title = data.title.clone();
    // Slug choice and insert run on the transaction, so the retry loop cannot use the pool
    // helper; one savepoint per attempt keeps a unique violation from aborting the transaction.
    let mut attempts = 0;
    loop {
        if pool_free.is_none() {
            let base = slug::slugify(&title, "article");
            data.slug = slug::first_free(&mut *tx, slug::SlugTable::Articles, &base).await?;
        }
        sqlx::query("savepoint article_insert")
            .execute(&mut *tx)
            .await?;
        match write(&mut *tx, data, true).await {
            Ok(()) => {
                sqlx::query("release savepoint article_insert")
                    .execute(&mut *tx)
                    .await?;
                return sync_relations(tx, data).await;
            }
            Err(err) => {
                sqlx::query("rollback to savepoint article_insert")
                    .execute(&mut *tx)
                    .await?;
                let slug_taken = err
                    .as_database_error()
                    .and_then(|e| e.constraint())
                    .is_some_and(|c| c == "articles_slug_key");
                match (slug_taken, &pool_free) {
                    (true, Some(slug)) => {
                        return Err(ApiError::Conflict(format!("slug '{slug}' is taken")));
                    }
                    (true, None) if attempts < 5 => attempts += 1,
                    _ => return Err(on_constraint(err, SAVE_CONSTRAINTS)),
                }
            }
        }
    }
}

/// Saves the working copy's fields and relations.
pub async fn update(tx: &mut PgConnection, data: &ArticleData) -> ApiResult<()> {
    write(&mut *tx, data, false).await.map_err(|err| {
        if err.as_database_error().and_then(|e| e.constraint()) == Some("articles_slug_key") {
            ApiError::Conflict(format!("slug '{}' is taken", data.slug))
        } else {
            on_constraint(err, SAVE_CONSTRAINTS)
        }
    })?;
    sync_relations(tx, data).await
}

async fn write(tx: &mut PgConnection, d: &ArticleData, new: bool) -> sqlx::Result<()> {
    let sql = if new {
        r#"
        insert into articles (id, slug, status, title, subtitle, excerpt, derived_excerpt, body,
            banner_image_id, banner_caption, banner_credit, featured, language, seo, external_id,
            plaintext, word_count, reading_time_minutes, created_by, published_at, scheduled_at,
            version, live_version, created_at, updated_at, search)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, $20, $21, $22, $23, $24, $25,
            setweight(to_tsvector('simple', $26), 'A') || setweight(to_tsvector('simple', $27), 'B')
                || setweight(to_tsvector('simple', $28), 'C'))
        "#
    } else {
        r#"
        update articles set slug = $2, status = $3, title = $4, subtitle = $5, excerpt = $6,
            derived_excerpt = $7, body = $8, banner_image_id = $9, banner_caption = $10,
            banner_credit = $11, featured = $12, language = $13, seo = $14, external_id = $15,
            plaintext = $16, word_count = $17, reading_time_minutes = $18, created_by = $19,
            published_at = $20, scheduled_at = $21, version = $22, live_version = $23,
            created_at = $24, updated_at = $25,
            search = setweight(to_tsvector('simple', $26), 'A')
                || setweight(to_tsvector('simple', $27), 'B')
                || setweight(to_tsvector('simple', $28), 'C')
        where id = $1
        "#
    };
    let metrics = body::metrics(&d.body);
    let [title_terms, middle_terms, body_terms] = search_terms(d, &metrics.plaintext);
    sqlx::query(sql)
        .bind(d.id)
        .bind(&d.slug)
        .bind(&d.status)
        .bind(&d.title)
        .bind(&d.subtitle)
        .bind(&d.excerpt)
        .bind(&d.derived_excerpt)
        .bind(DbJson(&d.body))
        .bind(d.banner_image_id)
        .bind(&d.banner_caption)
        .bind(&d.banner_credit)
        .bind(d.featured)
        .bind(&d.language)
        .bind(DbJson(&d.seo))
        .bind(&d.external_id)
        .bind(&metrics.plaintext)
        .bind(d.word_count)
        .bind(d.reading_time_minutes)
        .bind(d.created_by)
        .bind(d.published_at)
        .bind(d.scheduled_at)
        .bind(d.version)
        .bind(d.live_version)
        .bind(d.created_at)
        .bind(d.updated_at)
        .bind(title_terms)
        .bind(middle_terms)
        .bind(body_terms)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Search terms by weight: title (A), subtitle and excerpt (B), body (C).
fn search_terms(d: &ArticleData, plaintext: &str) -> [String; 3] {
    let middle = [
        d.subtitle.as_deref(),
        d.excerpt.as_deref().or(d.derived_excerpt.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    [
        search::document_terms(&d.title),
        search::document_terms(&middle),
        search::document_terms(plaintext),
    ]
}

async fn sync_relations(tx: &mut PgConnection, d: &ArticleData) -> ApiResult<()> {
    let body_images: Vec<Uuid> = body::image_ids(&d.body)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    // Ordered relations: replaced whole, positions from the array order.
    for (table, column, ids) in [
        ("article_authors", "author_id", &d.author_ids),
        ("article_tags", "tag_id", &d.tag_ids),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "delete from {table} where article_id = $1"
        )))
        .bind(d.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into {table} (article_id, {column}, position) \
             select $1, t.id, (t.n - 1)::smallint from unnest($2::uuid[]) with ordinality as t(id, n)"
        )))
        .bind(d.id)
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("delete from article_body_images where article_id = $1")
        .bind(d.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into article_body_images (article_id, image_id) \
         select distinct $1, id from unnest($2::uuid[]) as t(id)",
    )
    .bind(d.id)
    .bind(&body_images)
    .execute(&mut *tx)
    .await
    .map_err(|err| on_constraint(err, SAVE_CONSTRAINTS))?;
    Ok(())
}

/// Takes the live copy from `published`, the working copy as just saved in this transaction
/// (status `published`): renders its JSON
/// once, indexes it for search, and adjusts the published-article counts of its authors and tags.
pub async fn put_live(
    tx: &mut PgConnection,
    media: &Media,
    published: &ArticleData,
) -> ApiResult<()> {
    let embeds = embeds(&mut *tx, media, &[published]).await?;
    let (document, summary) = rendered(published, &embeds)?;
    let previous: Option<(Vec<Uuid>, Vec<Uuid>)> =
        sqlx::query_as("select author_ids, tag_ids from live_articles where article_id = $1")
            .bind(published.id)
            .fetch_optional(&mut *tx)
            .await?;
    // The working copy was saved with this very content in this transaction: its search
    // vector is the live copy's, and building it again from 800 words was a third of the
    // database's work per published article.
    sqlx::query(
        r#"
        insert into live_articles (article_id, slug, title, featured, language, published_at,
            updated_at, created_at, author_ids, tag_ids, search, snapshot, summary, document)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
            (select search from articles where id = $1), $11, $12, $13)
        on conflict (article_id) do update set slug = excluded.slug, title = excluded.title,
            featured = excluded.featured, language = excluded.language,
            published_at = excluded.published_at, updated_at = excluded.updated_at,
            created_at = excluded.created_at, author_ids = excluded.author_ids,
            tag_ids = excluded.tag_ids, search = excluded.search, snapshot = excluded.snapshot,
            summary = excluded.summary, document = excluded.document
        "#,
    )
    .bind(published.id)
    .bind(&published.slug)
    .bind(&published.title)
    .bind(published.featured)
    .bind(&published.language)
    .bind(published.published_at)
    .bind(published.updated_at)
    .bind(published.created_at)
    .bind(&published.author_ids)
    .bind(&published.tag_ids)
    .bind(DbJson(published))
    .bind(summary)
    .bind(document)
    .execute(&mut *tx)
    .await
    .map_err(|err| {
        on_constraint(
            err,
            &[("live_articles_slug_key", || {
                ApiError::Conflict("a published article already has this slug".into())
            })],
        )
    })?;
    sqlx::query("delete from live_article_images where article_id = $1")
        .bind(published.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into live_article_images (article_id, image_id) select $1, id from unnest($2::uuid[]) as t(id)",
    )
    .bind(published.id)
    .bind(published.image_ids())
    .execute(&mut *tx)
    .await?;
    let (old_authors, old_tags) = previous.unwrap_or_default();
    adjust_counts(
        tx,
        (&old_authors, &old_tags),
        (&published.author_ids, &published.tag_ids),
    )
    .await
}

/// The stored JSON texts of a live copy: the full document and the list summary (no body).
fn rendered(copy: &ArticleData, embeds: &Embeds) -> ApiResult<(String, String)> {
    let json = |include_body| {
        serde_json::to_string(&render(copy, embeds, include_body))
            .map_err(|e| ApiError::Internal(e.into()))
    };
    Ok((json(true)?, json(false)?))
}

/// Removes the live copy (unpublish, archive, delete) and adjusts its authors' and tags' counts.
pub async fn remove_live(tx: &mut PgConnection, id: Uuid) -> ApiResult<()> {
    let removed: Option<(Vec<Uuid>, Vec<Uuid>)> = sqlx::query_as(
        "delete from live_articles where article_id = $1 returning author_ids, tag_ids",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((authors, tags)) = removed {
        adjust_counts(tx, (&authors, &tags), (&[], &[])).await?;
    }
    Ok(())
}

/// `article_count` of authors and tags: their published articles, kept in step by every
/// publish and unpublish (so lists can sort by it) as +1/-1 for the relations a live copy
/// gained or lost. Recounting instead read every live copy of each tag: an import of 5,000
/// articles spent most of its time there.
async fn adjust_counts(
    tx: &mut PgConnection,
    (old_authors, old_tags): (&[Uuid], &[Uuid]),
    (new_authors, new_tags): (&[Uuid], &[Uuid]),
) -> ApiResult<()> {
    for (table, old, new) in [
        ("authors", old_authors, new_authors),
        ("tags", old_tags, new_tags),
    ] {
        let added: Vec<Uuid> = new.iter().filter(|id| !old.contains(id)).copied().collect();
        let removed: Vec<Uuid> = old.iter().filter(|id| !new.contains(id)).copied().collect();
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update {table} set article_count = article_count \
             + case when id = any($1) then 1 else -1 end where id = any($1) or id = any($2)"
        )))
        .bind(&added)
        .bind(&removed)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// What a change elsewhere touched: live copies that embed it are rendered again.
pub enum Embedded {
    Author(Uuid),
    Tag(Uuid),
    Image(Uuid),
}

/// Renders again the live copies that embed a renamed author or tag or an edited image, so the
/// public JSON never shows stale names, captions or credits.
pub async fn rerender_live(
    tx: &mut PgConnection,
    media: &Media,
    changed: Embedded,
) -> ApiResult<()> {
    let (condition, id) = match changed {
        Embedded::Author(id) => ("author_ids @> array[$1::uuid]", id),
        Embedded::Tag(id) => ("tag_ids @> array[$1::uuid]", id),
        Embedded::Image(id) => (
            "article_id in (select article_id from live_article_images where image_id = $1)",
            id,
        ),
    };
    let ids: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select article_id from live_articles where {condition}"
    )))
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    rerender_ids(tx, media, &ids).await
}

/// Takes a deleted tag out of the live copies that carry it.
pub async fn drop_tag_from_live(
    tx: &mut PgConnection,
    media: &Media,
    tag_id: Uuid,
) -> ApiResult<()> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        r#"
        update live_articles
        set tag_ids = array_remove(tag_ids, $1),
            snapshot = jsonb_set(snapshot, '{tag_ids}', (snapshot->'tag_ids') - $1::text)
        where tag_ids @> array[$1]
        returning article_id
        "#,
    )
    .bind(tag_id)
    .fetch_all(&mut *tx)
    .await?;
    rerender_ids(tx, media, &ids).await
}

async fn rerender_ids(tx: &mut PgConnection, media: &Media, ids: &[Uuid]) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let snapshots: Vec<DbJson<ArticleData>> =
        sqlx::query_scalar("select snapshot from live_articles where article_id = any($1)")
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
    let copies: Vec<ArticleData> = snapshots.into_iter().map(|s| s.0).collect();
    let refs: Vec<&ArticleData> = copies.iter().collect();
    let embeds = embeds(&mut *tx, media, &refs).await?;
    for copy in &copies {
        let (document, summary) = rendered(copy, &embeds)?;
        sqlx::query("update live_articles set document = $2, summary = $3 where article_id = $1")
            .bind(copy.id)
            .bind(document)
            .bind(summary)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
