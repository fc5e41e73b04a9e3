//! Writing working copies: one or many at once, with their relations and search vectors.

use sqlx::{PgConnection, types::Json as DbJson};
use uuid::Uuid;

use super::super::{
    body::{self},
    model::ArticleData,
    search::SearchVector,
};
use super::error::{StoreError, StoreResult};
use crate::slug;

/// Inserts a new working copy with a unique slug (`409` for a taken explicit one).
pub async fn insert(
    tx: &mut PgConnection,
    data: &mut ArticleData,
    explicit_slug: bool,
) -> StoreResult<()> {
    let explicit = if explicit_slug {
        Some(data.slug.clone())
    } else {
        None
    };
    let title = data.title.clone();
    // Slug choice and insert run on the transaction, so the retry loop cannot use the pool
    // helper; one savepoint per attempt keeps a unique violation from aborting the transaction.
    let mut attempts = 0;
    loop {
        if explicit.is_none() {
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
                match (slug_taken, &explicit) {
                    (true, Some(slug)) => {
                        return Err(StoreError::SlugTaken(slug.clone()));
                    }
                    (true, None) if attempts < 5 => attempts += 1,
                    _ => return Err(StoreError::from_save(err)),
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
pub async fn update(tx: &mut PgConnection, data: &ArticleData) -> StoreResult<()> {
    write_rows(&mut *tx, &[data], false, UPDATE_ROWS)
        .await
        .map_err(|err| {
            if err.as_database_error().and_then(|e| e.constraint()) == Some("articles_slug_key") {
                StoreError::SlugTaken(data.slug.clone())
            } else {
                StoreError::from_save(err)
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

pub(super) const INSERT_ROWS: &str = concat!(
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

pub(super) const UPDATE_ROWS: &str = concat!(
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
pub(super) async fn insert_rows(
    tx: &mut PgConnection,
    copies: &[&ArticleData],
    imported: bool,
) -> sqlx::Result<()> {
    write_rows(tx, copies, imported, INSERT_ROWS).await
}

/// Runs `sql` (`INSERT_ROWS` or `UPDATE_ROWS`) with the columns of `copies` as arrays.
pub(super) async fn write_rows(
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
pub(super) fn body_json(d: &ArticleData) -> sqlx::Result<String> {
    serde_json::to_string(&d.body).map_err(|e| sqlx::Error::Encode(e.into()))
}

/// The working copy's own search vector, or `None` while it is the live copy
/// (`live_version = version`): then the vector is stored with the live copy only, which the
/// caller puts in the same transaction (migration 0009).
pub(super) fn working_search(d: &ArticleData) -> Option<SearchVector> {
    (d.live_version != Some(d.version)).then(|| search_vector(d))
}

/// Search terms by weight: title (A), subtitle and excerpt (B), body (C).
pub(super) fn search_vector(d: &ArticleData) -> SearchVector {
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

pub(super) async fn sync_relations(
    tx: &mut PgConnection,
    copies: &[&ArticleData],
    replace: bool,
) -> StoreResult<()> {
    sync_relations_rows(tx, copies, replace)
        .await
        .map_err(StoreError::from_save)
}

/// Bylines, tags and body images of `copies`, replacing what they had when `replace`: three
/// inserts whatever the number of copies.
pub(super) async fn sync_relations_rows(
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
