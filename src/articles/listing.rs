//! The article lists: live copies for the public, working copies for editors, filters,
//! search and sort keys.

use crate::http::{extract::ListQuery, pagination::ListParams};
use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{FromRow, Postgres, QueryBuilder, Row, postgres::PgRow};
use utoipa::IntoParams;
use uuid::Uuid;

use super::{
    View,
    handlers::raw_json,
    model::{Article, ArticleData, ArticleStatus, render},
    search,
    shape::Shape,
    store,
};
use crate::app::AppState;
use crate::changes::{outbox::ObjectType, purge::PurgeKeys};
use crate::db::kept_counts::row_count;
use crate::{
    accounts::{auth::ReadAccess, role::Role},
    http::{
        error::{ApiError, ApiResult},
        pagination::{KeyKind, KeyValue, ListResponse, SortKey},
    },
};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListArticlesQuery {
    /// `live` (default, anyone): published articles. `working` (signed in): working copies.
    view: Option<View>,
    /// With `view=working`: comma-separated statuses (`draft,published`).
    #[param(
        pattern = "^(draft|in_review|scheduled|published|archived)(,(draft|in_review|scheduled|published|archived))*$"
    )]
    status: Option<String>,
    /// Comma-separated tag slugs: articles with any of them.
    tag: Option<String>,
    /// An author slug.
    author: Option<String>,
    featured: Option<bool>,
    /// With `view=working`: `true` for published articles whose working copy has changed
    /// since (what the next publish would put live), `false` for every other.
    has_unpublished_changes: Option<bool>,
    /// A BCP 47 language tag, e.g. `en`.
    #[param(pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length = 35)]
    language: Option<String>,
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    published_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    published_before: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    updated_after: Option<DateTime<Utc>>,
    /// Full-text search: title weighs most, then subtitle and excerpt, then body. Chinese,
    /// Japanese and Korean text is matched too (`q=松弛`). Results are ordered by relevance
    /// unless `sort` is given. A search covers the newest 1,000 matches (by `published_at`;
    /// working copies by `updated_at`), combined with every other filter; `total` counts
    /// those, so it is at most 1,000.
    q: Option<String>,
    /// Comma-separated, added to the shape: `body` (the blocks and `body_html`), `body_html`
    /// alone, `body_text` (the body as plain text).
    #[param(pattern = "^ *(body|body_html|body_text) *(, *(body|body_html|body_text) *)*$")]
    include: Option<String>,
    /// A sparse fieldset: only these members of each article (and `id`, always), e.g.
    /// `fields=slug,title,excerpt,banner,authors`. Any member of `Article` may be named,
    /// `body`, `body_html` and `body_text` included; an unknown name is a `400`. The answer's
    /// objects then hold those members only.
    #[param(
        pattern = "^ *(id|slug|title|subtitle|excerpt|status|body|body_html|body_text|banner|authors|tags|featured|language|seo|word_count|reading_time_minutes|external_id|published_at|scheduled_at|created_at|updated_at|version|has_unpublished_changes) *(, *(id|slug|title|subtitle|excerpt|status|body|body_html|body_text|banner|authors|tags|featured|language|seo|word_count|reading_time_minutes|external_id|published_at|scheduled_at|created_at|updated_at|version|has_unpublished_changes) *)*$",
        max_length = 1000
    )]
    fields: Option<String>,
}

/// With `q`, relevance (`rank`) is a sort key too; without, the same keys less `rank`.
pub(super) const LIVE_SEARCH_SORT_KEYS: &[SortKey<LiveRow>] = &[
    SortKey {
        name: "rank",
        column: "l.rank",
        kind: KeyKind::Float,
        value: |r| KeyValue::Float(f64::from(r.rank)),
    },
    SortKey {
        name: "published_at",
        column: "l.published_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.published_at),
    },
    SortKey {
        name: "updated_at",
        column: "l.updated_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.updated_at),
    },
    SortKey {
        name: "created_at",
        column: "l.created_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.created_at),
    },
    SortKey {
        name: "title",
        column: "l.title",
        kind: KeyKind::Text,
        value: |r| KeyValue::Text(r.title.clone()),
    },
];
pub(super) const LIVE_SORT_KEYS: &[SortKey<LiveRow>] = LIVE_SEARCH_SORT_KEYS.split_at(1).1;
pub(super) static LIVE_ID: SortKey<LiveRow> = SortKey {
    name: "id",
    column: "l.article_id",
    kind: KeyKind::Uuid,
    value: |r| KeyValue::Uuid(r.article_id),
};

pub(super) const WORKING_SEARCH_SORT_KEYS: &[SortKey<Ranked>] = &[
    SortKey {
        name: "rank",
        column: "a.rank",
        kind: KeyKind::Float,
        value: |r| KeyValue::Float(f64::from(r.1)),
    },
    SortKey {
        name: "published_at",
        column: "a.sort_published_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.0.published_at.unwrap_or(r.0.created_at)),
    },
    SortKey {
        name: "updated_at",
        column: "a.updated_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.0.updated_at),
    },
    SortKey {
        name: "created_at",
        column: "a.created_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.0.created_at),
    },
    SortKey {
        name: "title",
        column: "a.title",
        kind: KeyKind::Text,
        value: |r| KeyValue::Text(r.0.title.clone()),
    },
];
pub(super) const WORKING_SORT_KEYS: &[SortKey<Ranked>] = WORKING_SEARCH_SORT_KEYS.split_at(1).1;
pub(super) static WORKING_ID: SortKey<Ranked> = SortKey {
    name: "id",
    column: "a.id",
    kind: KeyKind::Uuid,
    value: |r| KeyValue::Uuid(r.0.id),
};

/// What a page of live copies needs of each row besides its stored JSON: sort keys for the
/// cursor, the total, purge keys, and where the row is in the fetched page (its JSON is copied
/// straight from there into the answer, `list_live`).
#[derive(sqlx::FromRow)]
pub(super) struct LiveRow {
    article_id: Uuid,
    published_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    title: String,
    rank: f32,
    matches: Option<i64>,
    purge_keys: String,
    #[sqlx(skip)]
    position: usize,
}

#[derive(sqlx::FromRow)]
pub(super) struct WorkingRow {
    #[sqlx(flatten)]
    article: store::ArticleRow,
    rank: f32,
    total: i64,
}

/// A working copy with its search rank, for cursors.
pub(super) struct Ranked(ArticleData, f32);

pub(super) fn parse_status(text: &str) -> ApiResult<ArticleStatus> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "unknown status '{text}'; allowed: {}",
            ArticleStatus::allowed()
        ))
    })
}

/// A search ranks at most this many matches: the newest ones (by publication for live copies,
/// by last change for working copies). Ranking reads each candidate's whole search vector
/// (kilobytes per long article), so ranking every article a common word appears in grows with
/// the archive; the newest 1,000 bound it (docs/PERFORMANCE.md). `total` counts the ranked set.
pub(super) const SEARCH_CANDIDATES: i64 = 1000;

/// The filters of a list, validated.
pub(super) struct Filters {
    statuses: Option<Vec<ArticleStatus>>,
    tags: Option<Vec<String>>,
    author: Option<String>,
    featured: Option<bool>,
    unpublished_changes: Option<bool>,
    language: Option<String>,
    published_after: Option<DateTime<Utc>>,
    published_before: Option<DateTime<Utc>>,
    updated_after: Option<DateTime<Utc>>,
    /// A `tsquery` built by `search::query_expression`.
    search: Option<String>,
    /// Live lists: the ids of the `tags` and `author` slugs (see `resolve_live`).
    tag_ids: Option<Vec<Uuid>>,
    author_ids: Option<Vec<Uuid>>,
    /// Live lists: the tags and author given match few enough articles that reading all of
    /// them beats walking the sort key's index until a page is found (see `resolve_live`).
    few: bool,
}

impl Filters {
    fn any(&self) -> bool {
        self.given() > 0
    }

    /// How many filters are given, `tag` counting once.
    fn given(&self) -> usize {
        [
            self.statuses.is_some(),
            self.tags.is_some(),
            self.author.is_some(),
            self.featured.is_some(),
            self.unpublished_changes.is_some(),
            self.language.is_some(),
            self.published_after.is_some(),
            self.published_before.is_some(),
            self.updated_after.is_some(),
            self.search.is_some(),
        ]
        .into_iter()
        .filter(|&given| given)
        .count()
    }

    /// Live lists: looks up the tag and author slugs in one statement, so that the page query
    /// binds their ids as values. PostgreSQL then plans each page for the tag it reads (a
    /// backward scan of the newest articles for a common tag, the GIN index for a rare one);
    /// with the ids behind a sub-select it scanned all 100,000 articles for a tag with none.
    /// Returns the total when it is a maintained count: a single tag or author and nothing else.
    ///
    /// The same statement reads how many live articles the tags and author have, and how many
    /// there are in all, which decides `few`: PostgreSQL's statistics cannot tell a tag on ten
    /// articles from one on ten thousand, so it walked the newest-first index for both — for
    /// a tag on none, all million entries (1.5 s at a million articles).
    async fn resolve_live(
        &mut self,
        db: &sqlx::PgPool,
        page_size: i64,
    ) -> sqlx::Result<Option<i64>> {
        if self.tags.is_none() && self.author.is_none() {
            return Ok(None);
        }
        // (kind, id, live articles): 't' a tag, 'a' the author, 'l' every live article.
        let rows: Vec<(String, Option<Uuid>, i64)> = sqlx::query_as(concat!(
            "select 't', id, article_count::bigint from tags where slug = any($1) \
             union all select 'a', id, article_count::bigint from authors where slug = $2 \
             union all select 'l', null, (",
            row_count!("live_articles"),
            ")"
        ))
        .bind(self.tags.as_deref().unwrap_or_default())
        .bind(self.author.as_deref())
        .fetch_all(db)
        .await?;
        let ids = |kind: &str| -> Vec<Uuid> {
            rows.iter()
                .filter(|row| row.0 == kind)
                .filter_map(|row| row.1)
                .collect()
        };
        let matches = |kind: &str| -> i64 {
            rows.iter()
                .filter(|row| row.0 == kind)
                .map(|row| row.2)
                .sum()
        };
        self.tag_ids = self.tags.as_ref().map(|_| ids("t"));
        self.author_ids = self.author.as_ref().map(|_| ids("a"));
        // An upper bound of the page's matches: any of the tags, and the author.
        let bound = match (self.tags.is_some(), self.author.is_some()) {
            (true, true) => matches("t").min(matches("a")),
            (true, false) => matches("t"),
            _ => matches("a"),
        };
        // Walking the index newest first reads about live / matches rows per row of the page;
        // reading every match reads `matches` rows. The second wins below the square root.
        let live = matches("l");
        self.few = bound.saturating_mul(bound) < live.saturating_mul(page_size + 1);
        let single_tag = self.tags.as_ref().is_some_and(|tags| tags.len() == 1);
        let maintained = if self.author.is_some() {
            matches("a")
        } else {
            matches("t")
        };
        Ok((self.given() == 1 && (single_tag || self.author.is_some())).then_some(maintained))
    }

    /// `from … where …` for the view. `a`/`l` stays the alias so sort keys read the same with
    /// or without search. A search selects its candidates (filtered, newest first, at most
    /// `SEARCH_CANDIDATES`) and ranks them; `matches` is the size of that set. Dynamic SQL:
    /// table and alias from `view`, one clause per filter given, each value bound.
    fn push_source(&self, qb: &mut QueryBuilder<Postgres>, view: View) {
        let (table, p, recency) = match view {
            View::Live => ("live_articles", "l", "l.published_at"),
            View::Working => ("articles", "a", "a.updated_at"),
        };
        let extra = match view {
            View::Live => "",
            View::Working => ", coalesce(a.published_at, a.created_at) as sort_published_at",
        };
        match &self.search {
            Some(expression) => {
                // `terms` is the vector that matched: a working copy unchanged since publishing
                // has its own only in its live copy (migrations 0008, 0009).
                let terms = match view {
                    View::Live => "l.search",
                    View::Working => "m.terms",
                };
                qb.push(format!(
                    " from (select x.*, ts_rank(x.terms, x.query) as rank, \
                     count(*) over () as matches from (select {p}.*, {terms} as terms, \
                     q.query{extra} from "
                ));
                match view {
                    View::Live => {
                        qb.push("live_articles l");
                    }
                    View::Working => {
                        qb.push(
                            "(select s.id, s.search as terms from articles s \
                             where s.live_version is distinct from s.version and s.search @@ cast(",
                        )
                        .push_bind(expression.clone())
                        .push(
                            " as tsquery) union all select l.article_id, l.search from \
                             live_articles l join articles s on s.id = l.article_id \
                             and s.live_version = s.version where l.search @@ cast(",
                        )
                        .push_bind(expression.clone())
                        .push(" as tsquery)) m join articles a on a.id = m.id");
                    }
                }
                qb.push(", cast(")
                    .push_bind(expression.clone())
                    .push(" as tsquery) as q(query)");
                match view {
                    View::Live => qb.push(" where l.search @@ q.query"),
                    // The union matched already.
                    View::Working => qb.push(" where true"),
                };
                self.push_where(qb, view);
                qb.push(format!(
                    " order by {recency} desc limit {SEARCH_CANDIDATES}) x) {p} where true"
                ));
            }
            None => {
                qb.push(format!(
                    " from (select {p}.*, 0::real as rank, null::bigint as matches{extra} \
                     from {table} {p}) {p} where true"
                ));
                self.push_where(qb, view);
            }
        }
    }

    /// Counts every row the filters match (a search: its candidates).
    async fn count(&self, db: &sqlx::PgPool, view: View) -> sqlx::Result<i64> {
        let mut count: QueryBuilder<Postgres> = QueryBuilder::new("select count(*)");
        self.push_source(&mut count, view);
        count
            .build_query_scalar()
            .persistent(false)
            .fetch_one(db)
            .await
    }

    fn push_where(&self, qb: &mut QueryBuilder<Postgres>, view: View) {
        let p = match view {
            View::Live => "l",
            View::Working => "a",
        };
        if let Some(statuses) = &self.statuses {
            qb.push(" and a.status = any(")
                .push_bind(statuses.clone())
                .push(")");
        }
        match view {
            View::Live => {
                if let Some(ids) = &self.tag_ids {
                    qb.push(" and l.tag_ids && ").push_bind(ids.clone());
                }
                if let Some(ids) = &self.author_ids {
                    qb.push(" and l.author_ids && ").push_bind(ids.clone());
                }
            }
            View::Working => {
                if let Some(tags) = &self.tags {
                    qb.push(
                        " and exists (select 1 from article_tags x join tags t on t.id = x.tag_id \
                         where x.article_id = a.id and t.slug = any(",
                    )
                    .push_bind(tags.clone())
                    .push("))");
                }
                if let Some(author) = &self.author {
                    qb.push(
                        " and exists (select 1 from article_authors x join authors w \
                         on w.id = x.author_id where x.article_id = a.id and w.slug = ",
                    )
                    .push_bind(author.clone())
                    .push(")");
                }
            }
        }
        if let Some(featured) = self.featured {
            qb.push(format!(" and {p}.featured = ")).push_bind(featured);
        }
        if let Some(changed) = self.unpublished_changes {
            qb.push(
                " and (a.status = 'published' and a.live_version is distinct from a.version) = ",
            )
            .push_bind(changed);
        }
        if let Some(language) = &self.language {
            qb.push(format!(" and {p}.language = "))
                .push_bind(language.clone());
        }
        if let Some(after) = self.published_after {
            qb.push(format!(" and {p}.published_at > "))
                .push_bind(after);
        }
        if let Some(before) = self.published_before {
            qb.push(format!(" and {p}.published_at < "))
                .push_bind(before);
        }
        if let Some(after) = self.updated_after {
            qb.push(format!(" and {p}.updated_at > ")).push_bind(after);
        }
    }
}

/// The total of a live list without counting row by row where a maintained count or the
/// page itself knows it. Counting the matches of a filter costs far more than the page itself:
/// it is what bounds a filtered list.
pub(super) async fn live_total(
    state: &AppState,
    filters: &Filters,
    maintained: Option<i64>,
    page_matches: Option<i64>,
) -> ApiResult<i64> {
    if let Some(total) = maintained.or(page_matches) {
        return Ok(total);
    }
    if !filters.any() {
        return Ok(sqlx::query_scalar(row_count!("live_articles"))
            .fetch_one(&state.db)
            .await?);
    }
    Ok(filters.count(&state.db, View::Live).await?)
}

pub(super) fn split_list(raw: &Option<String>) -> Option<Vec<String>> {
    raw.as_deref()
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|list| !list.is_empty())
}

/// List articles: live copies of published articles (anyone), or working copies
/// (`view=working`, signed in), filtered and searched. Lists leave out `body` unless
/// `include=body`.
#[utoipa::path(get, path = "/v1/articles", tag = "articles", params(ListParams, ListArticlesQuery),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of articles", body = ListResponse<Article>)))]
pub async fn list_articles(
    State(state): State<AppState>,
    ReadAccess(principal): ReadAccess,
    ListQuery(paging, query): ListQuery<ListArticlesQuery>,
) -> ApiResult<Response> {
    let shape = Shape::parse(query.fields.as_deref(), query.include.as_deref(), true)?;
    let view = query.view.unwrap_or(View::Live);
    let filters = Filters::from_query(&query, view)?;
    match view {
        View::Live => list_live(&state, &paging, filters, &shape).await,
        View::Working => {
            let principal =
                principal.ok_or(ApiError::Unauthorized("sign in to see working copies"))?;
            principal.require(Role::Contributor)?;
            list_working(&state, &paging, filters, &shape).await
        }
    }
}

impl Filters {
    /// The filters of the query, validated for `view`.
    fn from_query(query: &ListArticlesQuery, view: View) -> ApiResult<Self> {
        let statuses = split_list(&query.status)
            .map(|list| {
                list.iter()
                    .map(|s| parse_status(s))
                    .collect::<ApiResult<Vec<_>>>()
            })
            .transpose()?;
        if view == View::Live && statuses.is_some() {
            return Err(ApiError::bad_request(
                "status filters working copies: add view=working",
            ));
        }
        if view == View::Live && query.has_unpublished_changes.is_some() {
            return Err(ApiError::bad_request(
                "has_unpublished_changes filters working copies: add view=working",
            ));
        }
        let search = match query.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(q) if q.chars().count() > 200 => {
                return Err(ApiError::bad_request("q must be at most 200 characters"));
            }
            Some(q) => Some(
                search::query_expression(q)
                    .ok_or_else(|| ApiError::bad_request("q has no searchable words"))?,
            ),
        };
        Ok(Self {
            statuses,
            tags: split_list(&query.tag),
            author: query.author.clone().filter(|a| !a.is_empty()),
            featured: query.featured,
            unpublished_changes: query.has_unpublished_changes,
            language: query.language.clone().filter(|l| !l.is_empty()),
            published_after: query.published_after,
            published_before: query.published_before,
            updated_after: query.updated_after,
            search,
            tag_ids: None,
            author_ids: None,
            few: false,
        })
    }
}

/// A page of live copies: their stored JSON spliced into the envelope, never parsed.
async fn list_live(
    state: &AppState,
    paging: &ListParams,
    mut filters: Filters,
    shape: &Shape,
) -> ApiResult<Response> {
    let (keys, default_sort) = if filters.search.is_some() {
        (LIVE_SEARCH_SORT_KEYS, "-rank")
    } else {
        (LIVE_SORT_KEYS, "-published_at")
    };
    let page = paging.page_request(keys, default_sort, &LIVE_ID)?;
    let maintained_total = filters.resolve_live(&state.db, page.limit).await?;
    // Dynamic SQL: the stored column to read (with or without the body), then the filters'
    // clauses, each value bound.
    let column = if shape.needs_body() {
        "l.document"
    } else {
        "l.summary"
    };
    let mut select: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "select l.article_id, l.published_at, l.updated_at, l.created_at, l.title, l.rank, \
         l.matches, l.purge_keys, {column} as json"
    ));
    filters.push_source(&mut select, View::Live);
    if filters.few && filters.search.is_none() {
        page.push_sql_reading_all(&mut select);
    } else {
        page.push_sql(&mut select);
    }
    // Filtered pages are planned for their values (a rare tag or word reads an index, a
    // common one the newest rows); the unfiltered home page keeps its prepared plan.
    let fetched: Vec<PgRow> = select
        .build()
        .persistent(!filters.any())
        .fetch_all(&state.db)
        .await?;
    let mut rows = Vec::with_capacity(fetched.len());
    for (position, row) in fetched.iter().enumerate() {
        let mut keys = LiveRow::from_row(row)?;
        keys.position = position;
        rows.push(keys);
    }
    let page_matches = rows.first().and_then(|row| row.matches);
    let total = live_total(state, &filters, maintained_total, page_matches).await?;
    let mut keys = PurgeKeys::list(ObjectType::Article);
    for row in rows.iter().take(page.limit as usize) {
        keys.add_stored(&row.purge_keys);
    }
    let list = page.finish(rows, total, |row| row.position);
    let internal = |e: sqlx::Error| ApiError::Internal(e.into());
    let stored = |position: usize| -> ApiResult<&[u8]> {
        fetched[position]
            .try_get_raw("json")
            .map_err(internal)?
            .as_bytes()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored article JSON: {e}")))
    };
    // The stored JSON is the answer's bytes: copied once from the database's reply into the
    // envelope, neither decoded to a String nor joined (a miss of the list with bodies copies
    // 259 KB, docs/PERFORMANCE.md).
    let meta = serde_json::to_string(&list.meta).map_err(|e| ApiError::Internal(e.into()))?;
    let mut items = Vec::with_capacity(list.data.len());
    for &position in &list.data {
        let bytes = stored(position)?;
        items.push(if shape.is_stored() {
            std::borrow::Cow::Borrowed(bytes)
        } else {
            let text = std::str::from_utf8(bytes)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored article JSON: {e}")))?;
            std::borrow::Cow::Owned(shape.apply(text)?.into_bytes())
        });
    }
    Ok(keys.respond(json_envelope(&items, &meta)))
}

/// `{"data":[…],"meta":…}` from items that are JSON already, in one allocation.
fn json_envelope<T: AsRef<[u8]>>(items: &[T], meta: &str) -> Response {
    let length = items.iter().map(|i| i.as_ref().len() + 1).sum::<usize>() + meta.len() + 20;
    let mut out = Vec::with_capacity(length);
    out.extend_from_slice(b"{\"data\":[");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.as_ref());
    }
    out.extend_from_slice(b"],\"meta\":");
    out.extend_from_slice(meta.as_bytes());
    out.push(b'}');
    raw_json(out)
}

/// A page of working copies, rendered with their embeds: one statement for the page and its
/// total, one for authors and tags, one for images.
async fn list_working(
    state: &AppState,
    paging: &ListParams,
    filters: Filters,
    shape: &Shape,
) -> ApiResult<Response> {
    let searching = filters.search.is_some();
    let (keys, default_sort) = if searching {
        (WORKING_SEARCH_SORT_KEYS, "-rank")
    } else {
        (WORKING_SORT_KEYS, "-updated_at")
    };
    let page = paging.page_request(keys, default_sort, &WORKING_ID)?;
    let columns = if shape.needs_body() {
        store::COLUMNS
    } else {
        store::COLUMNS_WITHOUT_BODY
    };
    let mut select: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("select {columns}, a.rank, "));
    if searching {
        select.push("a.matches as total");
    } else if filters.given() == usize::from(filters.statuses.is_some()) {
        // At most a status filter: the maintained counts know the total (migration 0018).
        select.push("(select coalesce(sum(count), 0)::bigint from article_status_counts");
        if let Some(statuses) = &filters.statuses {
            select
                .push(" where status = any(")
                .push_bind(statuses.clone())
                .push(")");
        }
        select.push(") as total");
    } else {
        select.push("(select count(*)");
        filters.push_source(&mut select, View::Working);
        select.push(") as total");
    }
    filters.push_source(&mut select, View::Working);
    page.push_sql(&mut select);
    let rows: Vec<WorkingRow> = select
        .build_query_as()
        .persistent(!filters.any())
        .fetch_all(&state.db)
        .await?;
    let total = match rows.first() {
        Some(row) => row.total,
        None => filters.count(&state.db, View::Working).await?,
    };
    let copies: Vec<Ranked> = rows
        .into_iter()
        .map(|row| Ranked(row.article.into(), row.rank))
        .collect();
    let mut conn = state.db.acquire().await?;
    let refs: Vec<&ArticleData> = copies.iter().map(|r| &r.0).collect();
    let embeds = store::embeds(&mut conn, &state.media, &refs).await?;
    let list = page.finish(copies, total, |ranked| {
        render(&ranked.0, &embeds, shape.needs_body())
    });
    if shape.is_stored() {
        return Ok(Json(list).into_response());
    }
    let internal = |e: serde_json::Error| ApiError::Internal(e.into());
    let items = list
        .data
        .iter()
        .map(|article| shape.apply(&serde_json::to_string(article).map_err(internal)?))
        .collect::<ApiResult<Vec<_>>>()?;
    let meta = serde_json::to_string(&list.meta).map_err(internal)?;
    Ok(json_envelope(&items, &meta))
}
