//! The live copy: what the public reads, rendered once per change. Other domains call in here
//! when something an article embeds changes (`rerender_live`, `drop_tag_from_live`).

use sqlx::{PgConnection, types::Json as DbJson};
use uuid::Uuid;

use super::super::{
    model::{ArticleData, Embeds, render},
    search::SearchVector,
};
use chrono::{DateTime, Utc};

use crate::{
    changes::{
        current::Current,
        feed::EntryType,
        outbox::{self, ArticleChange, EventType, Op},
    },
    images::Media,
};

use super::{
    error::{StoreError, StoreResult},
    rows::embeds,
    write::search_vector,
};

/// Takes the live copy from `published`, the working copy as just saved in this transaction
/// (status `published`).
pub async fn put_live(
    tx: &mut PgConnection,
    media: &Media,
    published: &ArticleData,
) -> StoreResult<()> {
    let counts = put_live_many(tx, media, &[published])
        .await
        .map_err(
            |err| match err.as_database_error().and_then(|e| e.constraint()) {
                Some("live_articles_slug_key") => StoreError::LiveSlugTaken,
                _ => StoreError::Database(err),
            },
        )?;
    Ok(counts.apply(tx).await?)
}

/// Takes the live copies of `copies`, working copies as just saved in this transaction (status
/// `published`): renders their JSON once, indexes them for search, and adjusts the
/// published-article counts of their authors and tags: those are returned, for the caller to
/// apply as late in its transaction as it can (every writer publishing under the same author
/// waits for those rows). A fixed number of statements however many copies. The copy itself is
/// the revision of its version, which `history` records.
pub async fn put_live_many(
    tx: &mut PgConnection,
    media: &Media,
    copies: &[&ArticleData],
) -> sqlx::Result<CountDeltas> {
    let mut deltas = CountDeltas::default();
    if copies.is_empty() {
        return Ok(deltas);
    }
    let embeds = embeds(&mut *tx, media, copies).await?;
    let ids: Vec<Uuid> = copies.iter().map(|c| c.id).collect();
    let Rendered {
        documents,
        summaries,
        keys,
    } = Rendered::of(copies.iter().copied(), &embeds)?;
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
            updated_at, created_at, author_ids, tag_ids, search, summary, document, purge_keys)
        select a.id, a.slug, a.title, a.featured, a.language, a.published_at, a.updated_at,
            a.created_at,
            array(select x.author_id from article_authors x where x.article_id = a.id
                order by x.position),
            array(select x.tag_id from article_tags x where x.article_id = a.id
                order by x.position),
            t.search, t.summary, t.document, t.purge_keys
        from unnest($1::uuid[], $2::tsvector[], $3::text[], $4::text[], $5::text[])
            as t(id, search, summary, document, purge_keys)
        join articles a on a.id = t.id
        on conflict (article_id) do update set slug = excluded.slug, title = excluded.title,
            featured = excluded.featured, language = excluded.language,
            published_at = excluded.published_at, updated_at = excluded.updated_at,
            created_at = excluded.created_at, author_ids = excluded.author_ids,
            tag_ids = excluded.tag_ids, search = excluded.search, snapshot = null,
            summary = excluded.summary, document = excluded.document,
            purge_keys = excluded.purge_keys
        "#,
    )
    .bind(&ids)
    .bind(&vectors)
    .bind(&summaries)
    .bind(&documents)
    .bind(&keys)
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
    for (_, authors, tags) in &previous {
        deltas.add(authors, tags, -1);
    }
    for copy in copies {
        deltas.add(&copy.author_ids, &copy.tag_ids, 1);
    }
    Ok(deltas)
}

/// What is stored with live copies, column by column: the full document, the list summary
/// (no body) and the purge keys.
struct Rendered {
    documents: Vec<String>,
    summaries: Vec<String>,
    keys: Vec<String>,
}

impl Rendered {
    fn of<'a>(
        copies: impl Iterator<Item = &'a ArticleData>,
        embeds: &Embeds,
    ) -> sqlx::Result<Self> {
        let mut rendered = Self {
            documents: Vec::new(),
            summaries: Vec::new(),
            keys: Vec::new(),
        };
        for copy in copies {
            let json = |include_body| {
                serde_json::to_string(&render(copy, embeds, include_body))
                    .map_err(|e| sqlx::Error::Encode(e.into()))
            };
            rendered.documents.push(json(true)?);
            rendered.summaries.push(json(false)?);
            rendered.keys.push(crate::changes::purge::of_article(copy));
        }
        Ok(rendered)
    }
}

/// Removes the live copy (unpublish, archive, delete) and adjusts its authors' and tags' counts.
pub async fn remove_live(tx: &mut PgConnection, id: Uuid) -> StoreResult<()> {
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
/// copies gained or lost. Recounting instead read every live copy of each tag, which was most
/// of an import's time.
#[derive(Default)]
#[must_use = "the counts change only once applied"]
pub struct CountDeltas {
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

    /// One statement per table, locking the rows in id order first, so two batches touching
    /// the same tags cannot deadlock on them: the join alone locks them in whatever order its
    /// plan reads them, and batches side by side did deadlock once nothing earlier in their
    /// transactions made them take turns.
    pub async fn apply(self, tx: &mut PgConnection) -> sqlx::Result<()> {
        macro_rules! add_counts {
            ($table:literal) => {
                concat!(
                    "with locked as materialized (select id from ",
                    $table,
                    " where id = any($1) order by id for no key update) \
                     update ",
                    $table,
                    " t set article_count = t.article_count + d.n \
                     from unnest($1::uuid[], $2::int[]) as d(id, n) join locked using (id) \
                     where t.id = d.id"
                )
            };
        }
        for (sql, deltas) in [
            (add_counts!("authors"), self.authors),
            (add_counts!("tags"), self.tags),
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
/// public JSON never shows stale names, captions or credits; each is an `article.published`
/// by `actor`.
pub async fn rerender_live(
    tx: &mut PgConnection,
    media: &Media,
    changed: Embedded,
    actor: Option<Uuid>,
) -> StoreResult<()> {
    let (sql, id) = match changed {
        Embedded::Author(id) => (
            "select article_id from live_articles where author_ids @> array[$1::uuid]",
            id,
        ),
        Embedded::Tag(id) => (
            "select article_id from live_articles where tag_ids @> array[$1::uuid]",
            id,
        ),
        Embedded::Image(id) => (
            "select article_id from live_articles where article_id in \
             (select article_id from live_article_images where image_id = $1)",
            id,
        ),
    };
    let ids: Vec<Uuid> = sqlx::query_scalar(sql).bind(id).fetch_all(&mut *tx).await?;
    rerender_ids(tx, media, &ids, actor).await
}

/// Takes a deleted tag out of the live copies that carry it.
pub async fn drop_tag_from_live(
    tx: &mut PgConnection,
    media: &Media,
    tag_id: Uuid,
    actor: Option<Uuid>,
) -> StoreResult<()> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "update live_articles set tag_ids = array_remove(tag_ids, $1) \
         where tag_ids @> array[$1] returning article_id",
    )
    .bind(tag_id)
    .fetch_all(&mut *tx)
    .await?;
    rerender_ids(tx, media, &ids, actor).await
}

/// Renders live copies again from the revision of their version (or the snapshot of a copy
/// published before revisions existed), with the tags they still have.
pub(super) async fn rerender_ids(
    tx: &mut PgConnection,
    media: &Media,
    ids: &[Uuid],
    actor: Option<Uuid>,
) -> StoreResult<()> {
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
    let Rendered {
        documents,
        summaries,
        keys,
    } = Rendered::of(copies.iter(), &embeds)?;
    let ids: Vec<Uuid> = copies.iter().map(|c| c.id).collect();
    sqlx::query(
        "update live_articles l set document = t.document, summary = t.summary, \
             purge_keys = t.purge_keys \
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) \
             as t(id, document, summary, purge_keys) \
         where l.article_id = t.id",
    )
    .bind(&ids)
    .bind(&documents)
    .bind(&summaries)
    .bind(&keys)
    .execute(&mut *tx)
    .await?;
    let changes: Vec<ArticleChange<'_>> = copies
        .iter()
        .map(|data| ArticleChange {
            data,
            event: EventType::ArticlePublished,
            public: Some(Op::Upsert),
            first_publish: false,
        })
        .collect();
    outbox::write_articles(tx, &changes, actor).await?;
    Ok(())
}

/// Live articles with ids after `after`, in id order, as the change feed's initial state:
/// the summary, or with `body` the whole document.
pub async fn current_page(
    db: &sqlx::PgPool,
    after: Uuid,
    limit: i64,
    body: bool,
) -> sqlx::Result<Vec<Current>> {
    let rows: Vec<(Uuid, String, DateTime<Utc>, String)> = sqlx::query_as(
        "select article_id, slug, updated_at, case when $3 then document else summary end \
         from live_articles where article_id > $1 order by article_id limit $2",
    )
    .bind(after)
    .bind(limit)
    .bind(body)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, slug, at, object)| Current {
            kind: EntryType::Article,
            id,
            slug: Some(slug),
            at,
            object: Some(object),
            status: None,
            version: None,
        })
        .collect())
}

/// The live documents (with body) of those of `ids` that are live.
pub async fn documents(db: &sqlx::PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as("select article_id, document from live_articles where article_id = any($1)")
        .bind(ids)
        .fetch_all(db)
        .await
}
