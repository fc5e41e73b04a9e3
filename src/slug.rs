//! Slugs: the readable, unique path names of authors, tags and articles.
//!
//! Generated from a name when not given, transliterating non-Latin text (`管静鹏` →
//! `guan-jing-peng`, `松弛感` → `song-chi-gan`) so URLs stay ASCII and readable.

use std::future::Future;

use sqlx::{PgExecutor, PgPool};

/// A write of a slugged row that failed.
#[derive(Debug, thiserror::Error)]
pub enum SlugError {
    /// The explicitly given slug belongs to another row.
    #[error("slug '{0}' is taken")]
    Taken(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub const MAX_LEN: usize = 200;

/// Checks an explicitly given slug.
pub fn validate(slug: &str) -> Result<(), &'static str> {
    if slug.is_empty() {
        return Err("must not be empty");
    }
    if slug.len() > MAX_LEN {
        return Err("must be at most 200 characters");
    }
    let well_formed = slug.split('-').all(|word| {
        !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if !well_formed {
        return Err("must be lowercase a-z0-9 words joined by single hyphens");
    }
    if uuid::Uuid::parse_str(slug).is_ok() {
        return Err("must not look like an id");
    }
    Ok(())
}

/// A slug for `text`, or `fallback` when nothing sluggable is left (a name of only emoji).
pub fn slugify(text: &str, fallback: &str) -> String {
    let latin = deunicode::deunicode_with_tofu(text, " ");
    let mut slug = String::with_capacity(latin.len());
    for c in latin.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut slug = slug.trim_end_matches('-').to_owned();
    if slug.len() > MAX_LEN {
        // Cut on a word boundary so the slug does not end in half a word.
        let cut = slug[..MAX_LEN].rfind('-').unwrap_or(MAX_LEN);
        slug.truncate(cut);
    }
    if slug.is_empty() || validate(&slug).is_err() {
        return fallback.to_owned();
    }
    slug
}

/// The tables whose rows have slugs. A closed set, so no caller text reaches the SQL.
#[derive(Debug, Clone, Copy)]
pub enum SlugTable {
    Authors,
    Tags,
    Articles,
}

impl SlugTable {
    fn unique_constraint(self) -> &'static str {
        match self {
            Self::Authors => "authors_slug_key",
            Self::Tags => "tags_slug_key",
            Self::Articles => "articles_slug_key",
        }
    }

    /// The slug of `name` for a row of this table (before uniqueness).
    pub fn slugify(self, name: &str) -> String {
        slugify(name, self.fallback())
    }

    /// The slug of a row whose name has nothing sluggable in it.
    fn fallback(self) -> &'static str {
        match self {
            Self::Authors => "author",
            Self::Tags => "tag",
            Self::Articles => "article",
        }
    }

    /// `base` and `base-…`, as the byte-wise range [`base`, `base.`) that the
    /// `text_pattern_ops` indexes (migration 0007) answer: a `like` pattern arrives as a
    /// parameter, so a prepared plan could not use an index for it and read the whole table on
    /// every insert. Slugs hold only a-z, 0-9 and '-', and '-' is the one of them that sorts
    /// before '.', so the range holds exactly `base` and the slugs starting `base-`.
    fn taken_query(self) -> &'static str {
        match self {
            Self::Authors => "select slug from authors where slug ~>=~ $1 and slug ~<~ ($1 || '.')",
            Self::Tags => "select slug from tags where slug ~>=~ $1 and slug ~<~ ($1 || '.')",
            Self::Articles => {
                "select slug from articles where slug ~>=~ $1 and slug ~<~ ($1 || '.')"
            }
        }
    }

    fn taken_many_query(self) -> &'static str {
        match self {
            Self::Authors => {
                "select t.slug from unnest($1::text[]) as b(base) \
                 join authors t on t.slug ~>=~ b.base and t.slug ~<~ (b.base || '.')"
            }
            Self::Tags => {
                "select t.slug from unnest($1::text[]) as b(base) \
                 join tags t on t.slug ~>=~ b.base and t.slug ~<~ (b.base || '.')"
            }
            Self::Articles => {
                "select t.slug from unnest($1::text[]) as b(base) \
                 join articles t on t.slug ~>=~ b.base and t.slug ~<~ (b.base || '.')"
            }
        }
    }
}

/// The first free slug among `base`, `base-2`, `base-3`, … A concurrent insert can still take
/// it first; callers treat that unique violation as "try again".
pub async fn first_free(
    db: impl PgExecutor<'_>,
    table: SlugTable,
    base: &str,
) -> sqlx::Result<String> {
    let taken: Vec<String> = sqlx::query_scalar(table.taken_query())
        .bind(base)
        .fetch_all(db)
        .await?;
    Ok(next_free(base, &taken))
}

/// The slugs taken among each of `bases` and `base-…`, in one statement.
pub async fn taken_many(
    db: impl PgExecutor<'_>,
    table: SlugTable,
    bases: &[String],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(table.taken_many_query())
        .bind(bases)
        .fetch_all(db)
        .await
}

/// The slugs of `used` that `next_free(base, …)` must avoid: `base` and `base-…`.
pub fn sharing_base(base: &str, used: &[String]) -> Vec<String> {
    used.iter()
        .filter(|s| {
            s.strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
        .cloned()
        .collect()
}

/// `base` if it is not in `taken`, else `base-N` with N one above the highest taken.
pub fn next_free(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|s| s == base) {
        return base.to_owned();
    }
    let highest = taken
        .iter()
        .filter_map(|s| s.strip_prefix(base)?.strip_prefix('-')?.parse::<u64>().ok())
        .max()
        .unwrap_or(1);
    let suffix = format!("-{}", highest + 1);
    let mut stem = base.to_owned();
    if stem.len() + suffix.len() > MAX_LEN {
        stem.truncate(MAX_LEN - suffix.len());
        stem = stem.trim_end_matches('-').to_owned();
    }
    stem + &suffix
}

/// Runs `insert` with the explicit slug (`Taken` when another row has it), or with the first
/// free slug derived from `name`, retrying when a concurrent writer takes that slug between
/// lookup and insert.
pub async fn insert_with_slug<T, F, Fut>(
    db: &PgPool,
    table: SlugTable,
    explicit: Option<String>,
    name: &str,
    mut insert: F,
) -> Result<T, SlugError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = sqlx::Result<T>>,
{
    let constraint = table.unique_constraint();
    if let Some(slug) = explicit {
        return insert(slug.clone()).await.map_err(|err| {
            if violates(&err, constraint) {
                SlugError::Taken(slug)
            } else {
                SlugError::Database(err)
            }
        });
    }
    let base = slugify(name, table.fallback());
    let mut attempts = 0;
    loop {
        let slug = first_free(db, table, &base).await?;
        match insert(slug).await {
            Err(err) if violates(&err, constraint) && attempts < 5 => attempts += 1,
            result => return result.map_err(SlugError::Database),
        }
    }
}

/// Tells a slug uniqueness violation on update from other failures.
pub fn taken_on_update(err: sqlx::Error, table: SlugTable, slug: &str) -> SlugError {
    if violates(&err, table.unique_constraint()) {
        SlugError::Taken(slug.to_owned())
    } else {
        SlugError::Database(err)
    }
}

fn violates(err: &sqlx::Error, constraint: &str) -> bool {
    err.as_database_error()
        .and_then(|e| e.constraint())
        .is_some_and(|c| c == constraint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_names_get_readable_latin_slugs() {
        assert_eq!(slugify("管静鹏", "author"), "guan-jing-peng");
        assert_eq!(slugify("松弛感", "tag"), "song-chi-gan");
        assert_eq!(slugify("我的阿勒泰", "tag"), "wo-de-a-le-tai");
    }

    #[test]
    fn punctuation_and_accents_collapse_to_single_hyphens() {
        assert_eq!(
            slugify("  Pan Zhanle — wins GOLD!! ", "x"),
            "pan-zhanle-wins-gold"
        );
        assert_eq!(slugify("Café Société", "x"), "cafe-societe");
        assert_eq!(slugify("🎉", "tag"), "tada");
        assert_eq!(slugify("—·—", "tag"), "tag");
    }

    #[test]
    fn long_names_are_cut_on_a_word_boundary() {
        let slug = slugify(&"word ".repeat(100), "x");
        assert!(slug.len() <= MAX_LEN);
        assert!(slug.ends_with("word"));
    }

    #[test]
    fn explicit_slugs_are_checked() {
        assert!(validate("olympics-2024").is_ok());
        for bad in [
            "",
            "Olympics",
            "a--b",
            "-a",
            "a-",
            "a b",
            "ünï",
            "0191a5a0-0000-7000-8000-000000000000",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(validate(&"a".repeat(201)).is_err());
    }
}
