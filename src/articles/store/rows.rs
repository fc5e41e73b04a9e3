//! Working copies as rows: the columns, the finders, and the embeds of any number of copies.

use sqlx::{PgConnection, PgExecutor, types::Json as DbJson};
use uuid::Uuid;

use super::super::{
    body::Block,
    model::{ArticleData, ArticleStatus, Byline, Embeds, Seo, TagRef},
};
use crate::{
    changes::{current::Current, feed::EntryType},
    http::extract::IdOrSlug,
    images::{self, Media},
};

/// The columns of a working copy, relations as ordered id arrays. A macro so that `concat!`
/// can build each statement as static text.
macro_rules! columns {
    () => {
        columns!("a.body")
    };
    ($body:literal) => {
        concat!(
            "a.id, a.slug, a.status, a.title, a.subtitle, a.excerpt, a.derived_excerpt, ",
            $body,
            ", a.banner_image_id, a.banner_caption, a.banner_credit, a.featured, \
    a.language, a.seo, a.external_id, a.word_count, a.reading_time_minutes, a.created_by, \
    a.published_at, a.scheduled_at, a.version, a.live_version, a.created_at, a.updated_at, \
    array(select x.author_id from article_authors x where x.article_id = a.id order by x.position) as author_ids, \
    array(select x.tag_id from article_tags x where x.article_id = a.id order by x.position) as tag_ids"
        )
    };
}

/// `columns!()` for the statements built at run time (the lists' filters).
pub const COLUMNS: &str = columns!();
/// The same with an empty body, for lists that do not show it: reading and decoding 21 bodies
/// was most of a page of the editors' list (~800 pages/s at a million articles).
pub const COLUMNS_WITHOUT_BODY: &str = columns!("'[]'::json as body");

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

/// The working copy addressed by id or slug; locked (`for update`) when the caller will write it.
pub async fn find(
    db: impl PgExecutor<'_>,
    key: &IdOrSlug,
    for_update: bool,
) -> sqlx::Result<Option<ArticleData>> {
    const FIND: &str = concat!(
        "select ",
        columns!(),
        " from articles a where a.id = $1 or a.slug = $2"
    );
    const FIND_FOR_UPDATE: &str = concat!(
        "select ",
        columns!(),
        " from articles a where a.id = $1 or a.slug = $2 for update of a"
    );
    let (id, slug) = key.binds();
    let row: Option<ArticleRow> = sqlx::query_as(if for_update { FIND_FOR_UPDATE } else { FIND })
        .bind(id)
        .bind(slug)
        .fetch_optional(db)
        .await?;
    Ok(row.map(Into::into))
}

/// How an import line finds its stored article.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    ExternalId(String),
    Slug(String),
}

/// The working copy with `key`, locked, with the version an import last wrote.
pub async fn find_by(
    tx: &mut PgConnection,
    key: &Key,
) -> sqlx::Result<Option<(ArticleData, Option<i32>)>> {
    const BY_EXTERNAL_ID: &str = concat!(
        "select ",
        columns!(),
        ", a.imported_version from articles a where a.external_id = $1 for update of a"
    );
    const BY_SLUG: &str = concat!(
        "select ",
        columns!(),
        ", a.imported_version from articles a where a.slug = $1 for update of a"
    );
    let (sql, value) = match key {
        Key::ExternalId(id) => (BY_EXTERNAL_ID, id),
        Key::Slug(slug) => (BY_SLUG, slug),
    };
    let row: Option<ImportedRow> = sqlx::query_as(sql)
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
    let rows: Vec<ImportedRow> = sqlx::query_as(concat!(
        "select ",
        columns!(),
        ", a.imported_version from articles a \
         where a.external_id = any($1) or a.slug = any($2) for update of a"
    ))
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
pub(super) struct ImportedRow {
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
    let rows: Vec<ArticleRow> = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from articles a where a.id > $1 order by a.id limit $2"
    ))
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

/// Working copies with ids after `after`, in id order, for `view=working` of the change feed:
/// identity, status and version only.
pub async fn working_page(
    db: &sqlx::PgPool,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Current>> {
    let rows: Vec<(
        Uuid,
        String,
        chrono::DateTime<chrono::Utc>,
        ArticleStatus,
        i32,
    )> = sqlx::query_as(
        "select id, slug, updated_at, status, version from articles where id > $1 \
             order by id limit $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, slug, at, status, version)| Current {
            kind: EntryType::ArticleWorking,
            id,
            slug: Some(slug),
            at,
            object: None,
            status: Some(status),
            version: Some(version),
        })
        .collect())
}
