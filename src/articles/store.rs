//! The SQL of articles: working copies with their relations, the live copy with its rendered
//! JSON, and the published-article counts of authors and tags.

use std::collections::HashSet;

use sqlx::{PgConnection, PgExecutor, types::Json as DbJson};
use uuid::Uuid;

use super::{
    body::{self, Block},
    model::{ArticleData, ArticleStatus, Byline, Embeds, NewRef, RefInput, Seo, TagRef, render},
    search::SearchVector,
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
    status: ArticleStatus,
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
        None => kind.table().slugify(new.name.trim()),
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

impl RefKind {
    fn field(self) -> &'static str {
        match self {
            Self::Authors => "authors",
            Self::Tags => "tags",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Authors => "author",
            Self::Tags => "tag",
        }
    }

    fn table(self) -> slug::SlugTable {
        match self {
            Self::Authors => slug::SlugTable::Authors,
            Self::Tags => slug::SlugTable::Tags,
        }
    }

    fn name_max_chars(self) -> usize {
        match self {
            Self::Authors => crate::authors::NAME_MAX_CHARS,
            Self::Tags => crate::tags::NAME_MAX_CHARS,
        }
    }

    async fn id_of(
        self,
        tx: &mut PgConnection,
        id: Option<Uuid>,
        slug: Option<&str>,
    ) -> sqlx::Result<Option<Uuid>> {
        match self {
            Self::Authors => crate::authors::id_of(tx, id, slug).await,
            Self::Tags => crate::tags::id_of(tx, id, slug).await,
        }
    }

    async fn id_by_slug(self, tx: &mut PgConnection, slug: &str) -> sqlx::Result<Option<Uuid>> {
        match self {
            Self::Authors => crate::authors::id_by_slug(tx, slug).await,
            Self::Tags => crate::tags::id_by_slug(tx, slug).await,
        }
    }

    async fn find_or_create(
        self,
        tx: &mut PgConnection,
        slug: &str,
        name: &str,
    ) -> sqlx::Result<Option<Uuid>> {
        match self {
            Self::Authors => crate::authors::find_or_create(tx, slug, name).await,
            Self::Tags => crate::tags::find_or_create(tx, slug, name).await,
        }
    }
}

/// Resolves `authors`/`tags` entries to ids, creating `{"name": …}` entries that match no
/// slug (through the authors and tags modules, which own those tables). Unknown ids or slugs
/// are field errors (`authors[1]`).
pub async fn resolve_refs(
    tx: &mut PgConnection,
    kind: RefKind,
    refs: &[RefInput],
    errors: &mut Vec<FieldError>,
    mut cache: Option<&mut RefCache>,
) -> ApiResult<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(refs.len());
    for (i, entry) in refs.iter().enumerate() {
        let path = format!("{}[{i}]", kind.field());
        let found = match entry {
            RefInput::Key(key) => resolve_key(tx, kind, key, &path, errors).await?,
            RefInput::New(new) => {
                resolve_new(tx, kind, new, &path, errors, cache.as_deref_mut()).await?
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

/// An existing author or tag, by id or slug.
async fn resolve_key(
    tx: &mut PgConnection,
    kind: RefKind,
    key: &str,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> sqlx::Result<Option<Uuid>> {
    let (id, slug) = match Uuid::parse_str(key) {
        Ok(id) => (Some(id), None),
        Err(_) => (None, Some(key)),
    };
    let found = kind.id_of(tx, id, slug).await?;
    if found.is_none() {
        errors.push(FieldError::new(
            path,
            format!("no {} with this id or slug", kind.noun()),
        ));
    }
    Ok(found)
}

/// An author or tag by name: the one with its slug, or a new one.
async fn resolve_new(
    tx: &mut PgConnection,
    kind: RefKind,
    new: &NewRef,
    path: &str,
    errors: &mut Vec<FieldError>,
    cache: Option<&mut RefCache>,
) -> sqlx::Result<Option<Uuid>> {
    let name = new.name.trim();
    let max = kind.name_max_chars();
    if name.is_empty() || name.chars().count() > max {
        errors.push(FieldError::new(
            format!("{path}.name"),
            format!("must be 1-{max} characters"),
        ));
        return Ok(None);
    }
    if let Some(Err(message)) = new.slug.as_deref().map(slug::validate) {
        errors.push(FieldError::new(format!("{path}.slug"), message));
        return Ok(None);
    }
    let wanted = wanted_slug(kind, new);
    let key = (kind, wanted);
    if let Some(id) = cache.as_deref().and_then(|c| c.get(&key)) {
        return Ok(Some(*id));
    }
    if let Some(id) = kind.id_by_slug(tx, &key.1).await? {
        // Only rows found, never rows this line creates: its savepoint may still roll back.
        if let Some(cache) = cache {
            cache.insert(key, id);
        }
        return Ok(Some(id));
    }
    kind.find_or_create(tx, &key.1, name).await
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
            let base = slug::SlugTable::Articles.slugify(&title);
            data.slug = slug::first_free(&mut *tx, slug::SlugTable::Articles, &base).await?;
        }
        sqlx::query("savepoint article_insert")
            .execute(&mut *tx)
            .await?;
        match insert_rows(&mut *tx, &[&*data], false).await {
            Ok(()) => {
                sqlx::query("release savepoint article_insert")
                    .execute(&mut *tx)
                    .await?;
                return sync_relations(tx, &[&*data], false).await;
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

/// Inserts many new working copies, marked as imported, in a fixed number of statements:
/// slugs are chosen for all of them from one lookup (`explicit[i]` keeps copy i's own). All or
/// nothing: any violation (a slug or external_id taken meanwhile, an image deleted) fails the
/// whole call, and callers run it under a savepoint and fall back to `insert` one by one, which
/// says which copy failed and why.
pub async fn insert_many(
    tx: &mut PgConnection,
    copies: &mut [ArticleData],
    explicit: &[bool],
) -> sqlx::Result<()> {
    let bases: Vec<String> = copies
        .iter()
        .zip(explicit)
        .map(|(copy, explicit)| {
            if *explicit {
                copy.slug.clone()
            } else {
                slug::SlugTable::Articles.slugify(&copy.title)
            }
        })
        .collect();
    // Slugs taken, then also those given to earlier copies of this call.
    let mut used = slug::taken_many(&mut *tx, slug::SlugTable::Articles, &bases).await?;
    used.extend(
        copies
            .iter()
            .zip(explicit)
            .filter(|(_, e)| **e)
            .map(|(c, _)| c.slug.clone()),
    );
    for ((copy, explicit), base) in copies.iter_mut().zip(explicit).zip(&bases) {
        if !*explicit {
            copy.slug = slug::next_free(base, &slug::sharing_base(base, &used));
            used.push(copy.slug.clone());
        }
    }
    let refs: Vec<&ArticleData> = copies.iter().collect();
    insert_rows(&mut *tx, &refs, true).await?;
    sync_relations_rows(tx, &refs, false).await
}

/// Saves the working copy's fields and relations.
pub async fn update(tx: &mut PgConnection, data: &ArticleData) -> ApiResult<()> {
    write_rows(&mut *tx, &[data], false, UPDATE_ROWS)
        .await
        .map_err(|err| {
            if err.as_database_error().and_then(|e| e.constraint()) == Some("articles_slug_key") {
                ApiError::Conflict(format!("slug '{}' is taken", data.slug))
            } else {
                on_constraint(err, SAVE_CONSTRAINTS)
            }
        })?;
    sync_relations(tx, &[data], true).await
}

/// The working-copy columns of many copies as a row source `t`, each column one array
/// (`$1`–`$25`); `$26` says whether the rows are marked as imported.
macro_rules! article_rows {
    () => {
        "unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::uuid[], $10::text[], $11::text[], $12::bool[],
            $13::text[], $14::jsonb[], $15::text[], $16::int[], $17::int[], $18::uuid[],
            $19::timestamptz[], $20::timestamptz[], $21::int[], $22::int[], $23::timestamptz[],
            $24::timestamptz[], $25::tsvector[])
            as t(id, slug, status, title, subtitle, excerpt, derived_excerpt, body,
                banner_image_id, banner_caption, banner_credit, featured, language, seo,
                external_id, word_count, reading_time_minutes, created_by, published_at,
                scheduled_at, version, live_version, created_at, updated_at, search)"
    };
}

const INSERT_ROWS: &str = concat!(
    "insert into articles (id, slug, status, title, subtitle, excerpt, derived_excerpt, body,
        banner_image_id, banner_caption, banner_credit, featured, language, seo, external_id,
        word_count, reading_time_minutes, created_by, published_at, scheduled_at,
        version, live_version, created_at, updated_at, imported_version, search)
    select id, slug, status, title, subtitle, excerpt, derived_excerpt, body::json,
        banner_image_id, banner_caption, banner_credit, featured, language, seo, external_id,
        word_count, reading_time_minutes, created_by, published_at, scheduled_at,
        version, live_version, created_at, updated_at, case when $26 then version end, search
    from ",
    article_rows!()
);

const UPDATE_ROWS: &str = concat!(
    "update articles a set slug = t.slug, status = t.status, title = t.title,
        subtitle = t.subtitle, excerpt = t.excerpt, derived_excerpt = t.derived_excerpt,
        body = t.body::json, banner_image_id = t.banner_image_id,
        banner_caption = t.banner_caption, banner_credit = t.banner_credit,
        featured = t.featured, language = t.language, seo = t.seo, external_id = t.external_id,
        word_count = t.word_count, reading_time_minutes = t.reading_time_minutes,
        created_by = t.created_by, published_at = t.published_at, scheduled_at = t.scheduled_at,
        version = t.version, live_version = t.live_version, created_at = t.created_at,
        updated_at = t.updated_at, search = t.search,
        imported_version = case when $26 then t.version else a.imported_version end
    from ",
    article_rows!(),
    " where a.id = t.id"
);

/// Saves many working copies' fields and relations, marked as imported, in a fixed number of
/// statements. All or nothing, like `insert_many`: callers fall back to `update` one by one.
pub async fn update_many(tx: &mut PgConnection, copies: &[&ArticleData]) -> sqlx::Result<()> {
    write_rows(&mut *tx, copies, true, UPDATE_ROWS).await?;
    sync_relations_rows(tx, copies, true).await
}

/// One statement for any number of new rows.
async fn insert_rows(
    tx: &mut PgConnection,
    copies: &[&ArticleData],
    imported: bool,
) -> sqlx::Result<()> {
    write_rows(tx, copies, imported, INSERT_ROWS).await
}

/// Runs `sql` (`INSERT_ROWS` or `UPDATE_ROWS`) with the columns of `copies` as arrays.
async fn write_rows(
    tx: &mut PgConnection,
    copies: &[&ArticleData],
    imported: bool,
    sql: &'static str,
) -> sqlx::Result<()> {
    let vectors: Vec<Option<SearchVector>> = copies.iter().map(|c| working_search(c)).collect();
    let column =
        |f: fn(&ArticleData) -> Option<String>| copies.iter().map(|c| f(c)).collect::<Vec<_>>();
    let bodies = copies
        .iter()
        .map(|c| body_json(c))
        .collect::<sqlx::Result<Vec<_>>>()?;
    sqlx::query(sql)
        .bind(copies.iter().map(|c| c.id).collect::<Vec<_>>())
        .bind(column(|c| Some(c.slug.clone())))
        .bind(column(|c| Some(c.status.as_str().to_owned())))
        .bind(column(|c| Some(c.title.clone())))
        .bind(column(|c| c.subtitle.clone()))
        .bind(column(|c| c.excerpt.clone()))
        .bind(column(|c| c.derived_excerpt.clone()))
        .bind(&bodies)
        .bind(copies.iter().map(|c| c.banner_image_id).collect::<Vec<_>>())
        .bind(column(|c| c.banner_caption.clone()))
        .bind(column(|c| c.banner_credit.clone()))
        .bind(copies.iter().map(|c| c.featured).collect::<Vec<_>>())
        .bind(column(|c| Some(c.language.clone())))
        .bind(copies.iter().map(|c| DbJson(&c.seo)).collect::<Vec<_>>())
        .bind(column(|c| c.external_id.clone()))
        .bind(copies.iter().map(|c| c.word_count).collect::<Vec<_>>())
        .bind(
            copies
                .iter()
                .map(|c| c.reading_time_minutes)
                .collect::<Vec<_>>(),
        )
        .bind(copies.iter().map(|c| c.created_by).collect::<Vec<_>>())
        .bind(copies.iter().map(|c| c.published_at).collect::<Vec<_>>())
        .bind(copies.iter().map(|c| c.scheduled_at).collect::<Vec<_>>())
        .bind(copies.iter().map(|c| c.version).collect::<Vec<_>>())
        .bind(copies.iter().map(|c| c.live_version).collect::<Vec<_>>())
        .bind(copies.iter().map(|c| c.created_at).collect::<Vec<_>>())
        .bind(copies.iter().map(|c| c.updated_at).collect::<Vec<_>>())
        .bind(&vectors)
        .bind(imported)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The body as stored: json text, which PostgreSQL checks but does not convert.
fn body_json(d: &ArticleData) -> sqlx::Result<String> {
    serde_json::to_string(&d.body).map_err(|e| sqlx::Error::Encode(e.into()))
}

/// The working copy's own search vector, or `None` while it is the live copy
/// (`live_version = version`): then the vector is stored with the live copy only, which the
/// caller puts in the same transaction (migration 0009).
fn working_search(d: &ArticleData) -> Option<SearchVector> {
    (d.live_version != Some(d.version)).then(|| search_vector(d))
}

/// Search terms by weight: title (A), subtitle and excerpt (B), body (C).
fn search_vector(d: &ArticleData) -> SearchVector {
    let middle = [
        d.subtitle.as_deref(),
        d.excerpt.as_deref().or(d.derived_excerpt.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    SearchVector::weighted([&d.title, &middle, &body::plaintext(&d.body)])
}

async fn sync_relations(
    tx: &mut PgConnection,
    copies: &[&ArticleData],
    replace: bool,
) -> ApiResult<()> {
    sync_relations_rows(tx, copies, replace)
        .await
        .map_err(|err| on_constraint(err, SAVE_CONSTRAINTS))
}

/// Bylines, tags and body images of `copies`, replacing what they had when `replace`: three
/// inserts whatever the number of copies.
async fn sync_relations_rows(
    tx: &mut PgConnection,
    copies: &[&ArticleData],
    replace: bool,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = copies.iter().map(|c| c.id).collect();
    if replace {
        sqlx::query(
            "with a as (delete from article_authors where article_id = any($1)), \
             t as (delete from article_tags where article_id = any($1)) \
             delete from article_body_images where article_id = any($1)",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    }
    // Ordered relations get positions from the array order; body images are a set.
    type TargetsOf = fn(&ArticleData) -> Vec<Uuid>;
    let relations: [(&str, TargetsOf); 3] = [
        (
            "insert into article_authors (article_id, author_id, position) \
             select * from unnest($1::uuid[], $2::uuid[], $3::smallint[])",
            |c| c.author_ids.clone(),
        ),
        (
            "insert into article_tags (article_id, tag_id, position) \
             select * from unnest($1::uuid[], $2::uuid[], $3::smallint[])",
            |c| c.tag_ids.clone(),
        ),
        (
            "insert into article_body_images (article_id, image_id) \
             select a, x from unnest($1::uuid[], $2::uuid[], $3::smallint[]) as t(a, x, p)",
            |c| {
                let mut ids: Vec<Uuid> = Vec::new();
                for (id, _) in body::image_ids(&c.body) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            },
        ),
    ];
    for (sql, targets_of) in relations {
        let (mut owners, mut targets, mut positions) = (Vec::new(), Vec::new(), Vec::new());
        for copy in copies {
            for (position, target) in targets_of(copy).into_iter().enumerate() {
                owners.push(copy.id);
                targets.push(target);
                positions.push(i16::try_from(position).unwrap_or(i16::MAX));
            }
        }
        if owners.is_empty() {
            continue;
        }
        sqlx::query(sql)
            .bind(&owners)
            .bind(&targets)
            .bind(&positions)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Takes the live copy from `published`, the working copy as just saved in this transaction
/// (status `published`).
pub async fn put_live(
    tx: &mut PgConnection,
    media: &Media,
    published: &ArticleData,
) -> ApiResult<()> {
    put_live_many(tx, media, &[published]).await.map_err(|err| {
        on_constraint(
            err,
            &[("live_articles_slug_key", || {
                ApiError::Conflict("a published article already has this slug".into())
            })],
        )
    })
}

/// Takes the live copies of `copies`, working copies as just saved in this transaction (status
/// `published`): renders their JSON once, indexes them for search, and adjusts the
/// published-article counts of their authors and tags. A fixed number of statements however
/// many copies. The copy itself is the revision of its version, which `history` records.
pub async fn put_live_many(
    tx: &mut PgConnection,
    media: &Media,
    copies: &[&ArticleData],
) -> sqlx::Result<()> {
    if copies.is_empty() {
        return Ok(());
    }
    let embeds = embeds(&mut *tx, media, copies).await?;
    let ids: Vec<Uuid> = copies.iter().map(|c| c.id).collect();
    let (mut documents, mut summaries) = (Vec::new(), Vec::new());
    for copy in copies {
        let (document, summary) = rendered(copy, &embeds)?;
        documents.push(document);
        summaries.push(summary);
    }
    let vectors: Vec<SearchVector> = copies.iter().map(|c| search_vector(c)).collect();
    let previous: Vec<(Uuid, Vec<Uuid>, Vec<Uuid>)> = sqlx::query_as(
        "select article_id, author_ids, tag_ids from live_articles where article_id = any($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        insert into live_articles (article_id, slug, title, featured, language, published_at,
            updated_at, created_at, author_ids, tag_ids, search, summary, document)
        select a.id, a.slug, a.title, a.featured, a.language, a.published_at, a.updated_at,
            a.created_at,
            array(select x.author_id from article_authors x where x.article_id = a.id
                order by x.position),
            array(select x.tag_id from article_tags x where x.article_id = a.id
                order by x.position),
            t.search, t.summary, t.document
        from unnest($1::uuid[], $2::tsvector[], $3::text[], $4::text[])
            as t(id, search, summary, document)
        join articles a on a.id = t.id
        on conflict (article_id) do update set slug = excluded.slug, title = excluded.title,
            featured = excluded.featured, language = excluded.language,
            published_at = excluded.published_at, updated_at = excluded.updated_at,
            created_at = excluded.created_at, author_ids = excluded.author_ids,
            tag_ids = excluded.tag_ids, search = excluded.search, snapshot = null,
            summary = excluded.summary, document = excluded.document
        "#,
    )
    .bind(&ids)
    .bind(&vectors)
    .bind(&summaries)
    .bind(&documents)
    .execute(&mut *tx)
    .await?;
    let (mut owners, mut images) = (Vec::new(), Vec::new());
    for copy in copies {
        for image in copy.image_ids() {
            owners.push(copy.id);
            images.push(image);
        }
    }
    // Two statements: an insert in the same statement as the delete would still see the rows
    // it replaces.
    let republished: Vec<Uuid> = previous.iter().map(|(id, _, _)| *id).collect();
    if !republished.is_empty() {
        sqlx::query("delete from live_article_images where article_id = any($1)")
            .bind(&republished)
            .execute(&mut *tx)
            .await?;
    }
    if !owners.is_empty() {
        sqlx::query(
            "insert into live_article_images (article_id, image_id) \
             select * from unnest($1::uuid[], $2::uuid[])",
        )
        .bind(&owners)
        .bind(&images)
        .execute(&mut *tx)
        .await?;
    }
    let mut deltas = CountDeltas::default();
    for (_, authors, tags) in &previous {
        deltas.add(authors, tags, -1);
    }
    for copy in copies {
        deltas.add(&copy.author_ids, &copy.tag_ids, 1);
    }
    deltas.apply(tx).await
}

/// The stored JSON texts of a live copy: the full document and the list summary (no body).
fn rendered(copy: &ArticleData, embeds: &Embeds) -> sqlx::Result<(String, String)> {
    let json = |include_body| {
        serde_json::to_string(&render(copy, embeds, include_body))
            .map_err(|e| sqlx::Error::Encode(e.into()))
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
        let mut deltas = CountDeltas::default();
        deltas.add(&authors, &tags, -1);
        deltas.apply(tx).await?;
    }
    Ok(())
}

/// Changes to `article_count` of authors and tags: their published articles, kept in step by
/// every publish and unpublish (so lists can sort by it) as the net +n/-n of the relations live
/// copies gained or lost. Recounting instead read every live copy of each tag: an import of
/// 5,000 articles spent most of its time there.
#[derive(Default)]
struct CountDeltas {
    authors: std::collections::BTreeMap<Uuid, i32>,
    tags: std::collections::BTreeMap<Uuid, i32>,
}

impl CountDeltas {
    fn add(&mut self, authors: &[Uuid], tags: &[Uuid], by: i32) {
        for id in authors {
            *self.authors.entry(*id).or_default() += by;
        }
        for id in tags {
            *self.tags.entry(*id).or_default() += by;
        }
    }

    /// One statement per table; rows are updated in id order (the maps are sorted), so two
    /// imports touching the same tags cannot deadlock on them.
    async fn apply(self, tx: &mut PgConnection) -> sqlx::Result<()> {
        for (sql, deltas) in [
            (
                "update authors t set article_count = t.article_count + d.n \
                 from unnest($1::uuid[], $2::int[]) as d(id, n) where t.id = d.id",
                self.authors,
            ),
            (
                "update tags t set article_count = t.article_count + d.n \
                 from unnest($1::uuid[], $2::int[]) as d(id, n) where t.id = d.id",
                self.tags,
            ),
        ] {
            let (ids, by): (Vec<Uuid>, Vec<i32>) =
                deltas.into_iter().filter(|(_, n)| *n != 0).unzip();
            if ids.is_empty() {
                continue;
            }
            sqlx::query(sql)
                .bind(&ids)
                .bind(&by)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
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
        "update live_articles set tag_ids = array_remove(tag_ids, $1) \
         where tag_ids @> array[$1] returning article_id",
    )
    .bind(tag_id)
    .fetch_all(&mut *tx)
    .await?;
    rerender_ids(tx, media, &ids).await
}

/// Renders live copies again from the revision of their version (or the snapshot of a copy
/// published before revisions existed), with the tags they still have.
async fn rerender_ids(tx: &mut PgConnection, media: &Media, ids: &[Uuid]) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<(DbJson<ArticleData>, Vec<Uuid>)> = sqlx::query_as(
        "select coalesce(l.snapshot, r.snapshot::json), l.tag_ids from live_articles l \
         join articles a on a.id = l.article_id \
         left join article_revisions r on r.article_id = l.article_id \
             and r.version = a.live_version and l.snapshot is null \
         where l.article_id = any($1)",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let copies: Vec<ArticleData> = rows
        .into_iter()
        .map(|(copy, tag_ids)| ArticleData { tag_ids, ..copy.0 })
        .collect();
    let refs: Vec<&ArticleData> = copies.iter().collect();
    let embeds = embeds(&mut *tx, media, &refs).await?;
    let (mut documents, mut summaries) = (Vec::new(), Vec::new());
    for copy in &copies {
        let (document, summary) = rendered(copy, &embeds)?;
        documents.push(document);
        summaries.push(summary);
    }
    let ids: Vec<Uuid> = copies.iter().map(|c| c.id).collect();
    sqlx::query(
        "update live_articles l set document = t.document, summary = t.summary \
         from unnest($1::uuid[], $2::text[], $3::text[]) as t(id, document, summary) \
         where l.article_id = t.id",
    )
    .bind(&ids)
    .bind(&documents)
    .bind(&summaries)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
