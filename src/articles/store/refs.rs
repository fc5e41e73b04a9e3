//! References from an article to authors and tags, resolved (and created by name) through
//! the modules that own those tables; checks that what a copy names still exists.

use std::collections::HashSet;

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::super::{
    body::{self},
    model::{ArticleData, NewRef, RefInput},
};
use crate::{http::error::FieldError, slug};

/// Authors and tags an import already found, by kind and slug: most lines of a file name the
/// same few, and looking each up again was most of the statements of an unchanged re-run.
pub type RefCache = std::collections::HashMap<(RefKind, String), Uuid>;

/// The slug a `{"name", "slug"?}` reference is matched by.
pub(super) fn wanted_slug(kind: RefKind, new: &NewRef) -> String {
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
) -> sqlx::Result<Vec<Uuid>> {
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
pub(super) async fn resolve_key(
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
pub(super) async fn resolve_new(
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
