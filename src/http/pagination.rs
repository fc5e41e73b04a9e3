//! Lists: `limit`, keyset `cursor` or 1-based `page`, `sort` from a per-resource whitelist,
//! and the `{"data": [...], "meta": {...}}` envelope.
//!
//! Keyset paging is the default because its cost does not grow with depth; `page` exists for
//! admin tables that jump to page N. A cursor remembers the sort it was made for, so a client
//! cannot combine a cursor with a different sort and silently skip rows.
//!
//! With the lists' filters, this is the SQL Galley builds at run time (every other statement is
//! static text): the keyset condition and `order by` come from the `SortKey` table, never from
//! the client, and every value is a bound parameter.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// The kind of value a sort key holds, so cursor values are bound with the right SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Text,
    Int,
    Time,
    Uuid,
    /// A computed score, such as search relevance.
    Float,
}

/// A sortable column of rows `R`: the name clients use, the SQL column (trusted: it never
/// comes from the client), the kind of its values, and how to read it from a row for the next
/// cursor. One table of these per list, so a key cannot be offered without its accessor.
pub struct SortKey<R> {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: KeyKind,
    pub value: fn(&R) -> KeyValue,
}

/// A sort value of one row, as stored in a cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
    Uuid(Uuid),
    Float(f64),
}

impl KeyValue {
    fn to_json(&self) -> Value {
        match self {
            Self::Text(s) => Value::from(s.as_str()),
            Self::Int(n) => Value::from(*n),
            Self::Time(t) => Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            Self::Uuid(u) => Value::from(u.to_string()),
            Self::Float(f) => Value::from(*f),
        }
    }

    fn from_json(kind: KeyKind, value: &Value) -> Option<Self> {
        Some(match kind {
            KeyKind::Text => Self::Text(value.as_str()?.to_owned()),
            KeyKind::Int => Self::Int(value.as_i64()?),
            KeyKind::Time => Self::Time(
                DateTime::parse_from_rfc3339(value.as_str()?)
                    .ok()?
                    .with_timezone(&Utc),
            ),
            KeyKind::Uuid => Self::Uuid(Uuid::parse_str(value.as_str()?).ok()?),
            KeyKind::Float => Self::Float(value.as_f64()?),
        })
    }

    fn push_bind(self, qb: &mut QueryBuilder<Postgres>) {
        match self {
            Self::Text(v) => qb.push_bind(v),
            Self::Int(v) => qb.push_bind(v),
            Self::Time(v) => qb.push_bind(v),
            Self::Uuid(v) => qb.push_bind(v),
            Self::Float(v) => qb.push_bind(v),
        };
    }
}

/// A validated sort: user keys then the id as the tie-breaker that makes the order total.
pub struct Sort<R: 'static> {
    keys: Vec<(&'static SortKey<R>, bool)>,
    spec: String,
}

impl<R> Sort<R> {
    /// Parses `sort=name,-created_at` against the resource's keys; unknown keys are a `400`.
    /// `tie_breaker` (the id column) is appended so the order is total and keysets are exact.
    pub fn parse(
        raw: Option<&str>,
        allowed: &'static [SortKey<R>],
        default: &str,
        tie_breaker: &'static SortKey<R>,
    ) -> ApiResult<Self> {
        let raw = raw
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default);
        let mut keys: Vec<(&'static SortKey<R>, bool)> = Vec::new();
        for part in raw.split(',').map(str::trim) {
            let (name, desc) = match part.strip_prefix('-') {
                Some(name) => (name, true),
                None => (part, false),
            };
            let key = allowed.iter().find(|k| k.name == name).ok_or_else(|| {
                let names: Vec<_> = allowed.iter().map(|k| k.name).collect();
                ApiError::bad_request(format!(
                    "unknown sort key '{name}'; allowed: {}",
                    names.join(", ")
                ))
            })?;
            if keys.iter().any(|(k, _)| k.name == key.name) {
                return Err(ApiError::bad_request(format!(
                    "sort key '{name}' is repeated"
                )));
            }
            keys.push((key, desc));
        }
        let spec = keys
            .iter()
            .map(|(k, desc)| format!("{}{}", if *desc { "-" } else { "" }, k.name))
            .collect::<Vec<_>>()
            .join(",");
        let last_desc = keys.last().is_some_and(|(_, desc)| *desc);
        keys.push((tie_breaker, last_desc));
        Ok(Self { keys, spec })
    }
}

/// Where a page starts.
#[derive(Debug)]
pub enum Start {
    First,
    After(Vec<KeyValue>),
    Page(i64),
}

/// A validated request for one page of rows `R`.
pub struct PageRequest<R: 'static> {
    pub limit: i64,
    pub start: Start,
    pub sort: Sort<R>,
}

impl<R> PageRequest<R> {
    /// Validates `limit`, `cursor` and `page` for `sort`. A limit above the maximum is clamped.
    pub fn new(
        limit: Option<i64>,
        cursor: Option<&str>,
        page: Option<i64>,
        sort: Sort<R>,
    ) -> ApiResult<Self> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if n >= 1 => n.min(MAX_LIMIT),
            Some(_) => return Err(ApiError::bad_request("limit must be at least 1")),
        };
        let start = match (cursor.filter(|c| !c.is_empty()), page) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("use either cursor or page, not both"));
            }
            (Some(cursor), None) => Start::After(decode_cursor(cursor, &sort)?),
            (None, Some(page)) if page >= 1 => Start::Page(page),
            (None, Some(_)) => return Err(ApiError::bad_request("page must be at least 1")),
            (None, None) => Start::First,
        };
        Ok(Self { limit, start, sort })
    }

    /// Appends the keyset condition (the query so far must end inside a `where`), the order
    /// and the limit. One row more than the limit is fetched to learn whether a next page exists.
    pub fn push_sql(&self, qb: &mut QueryBuilder<Postgres>) {
        self.push_sql_ordered(qb, false);
    }

    /// As `push_sql`, for a filter known to match few rows: the first sort key is ordered as
    /// an expression, which no index provides, so PostgreSQL reads the matches through the
    /// filter's own index and sorts them, rather than walking the sort key's index past every
    /// row that does not match.
    pub fn push_sql_reading_all(&self, qb: &mut QueryBuilder<Postgres>) {
        self.push_sql_ordered(qb, true);
    }

    fn push_sql_ordered(&self, qb: &mut QueryBuilder<Postgres>, reading_all: bool) {
        if let Start::After(values) = &self.start {
            // k1 >= v1 and ((k1 > v1) or (k1 = v1 and k2 > v2) or …), with < for descending
            // keys. The leading bound is implied by the rest, but only it is a range PostgreSQL
            // can start an index scan at: with the disjunction alone, page 5,000 of a million
            // articles read the 100,000 index entries before it.
            if let (Some((key, desc)), Some(first)) = (self.sort.keys.first(), values.first()) {
                qb.push(" and ")
                    .push(key.column)
                    .push(if *desc { " <= " } else { " >= " });
                first.clone().push_bind(qb);
            }
            qb.push(" and (");
            for i in 0..self.sort.keys.len() {
                if i > 0 {
                    qb.push(" or ");
                }
                qb.push("(");
                for (j, (key, desc)) in self.sort.keys.iter().enumerate().take(i + 1) {
                    if j > 0 {
                        qb.push(" and ");
                    }
                    let op = match (j == i, desc) {
                        (false, _) => " = ",
                        (true, true) => " < ",
                        (true, false) => " > ",
                    };
                    qb.push(key.column).push(op);
                    values[j].clone().push_bind(qb);
                }
                qb.push(")");
            }
            qb.push(")");
        }
        qb.push(" order by ");
        for (i, (key, desc)) in self.sort.keys.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            // The same values and order, but not the column an index is on.
            let unindexed = match key.kind {
                _ if !reading_all || i > 0 => None,
                KeyKind::Time => Some(" + interval '0 s'"),
                KeyKind::Text => Some(" || ''"),
                KeyKind::Int | KeyKind::Float => Some(" + 0"),
                KeyKind::Uuid => None,
            };
            match unindexed {
                Some(suffix) => qb.push("(").push(key.column).push(suffix).push(")"),
                None => qb.push(key.column),
            };
            qb.push(if *desc { " desc" } else { " asc" });
        }
        qb.push(" limit ").push_bind(self.limit + 1);
        if let Start::Page(page) = self.start {
            qb.push(" offset ")
                .push_bind((page - 1).saturating_mul(self.limit));
        }
    }

    /// Runs `select` (a query ending inside its `where` clause) for this page, and `count` for
    /// the total: two statements whatever the page size.
    pub async fn fetch(
        &self,
        db: &sqlx::PgPool,
        select: String,
        count: &'static str,
    ) -> sqlx::Result<(Vec<R>, i64)>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let mut qb = QueryBuilder::new(select);
        self.push_sql(&mut qb);
        let rows = qb.build_query_as().fetch_all(db).await?;
        let total = sqlx::query_scalar(count).fetch_one(db).await?;
        Ok((rows, total))
    }

    /// As `fetch`, for authors and tags: with `search`, only those whose name or slug contains
    /// it (case-insensitive; any script), counted row by row — a few thousand names at most.
    /// `from` is the table with its alias (`tags t`), `count_all` the maintained count.
    pub async fn fetch_named(
        &self,
        db: &sqlx::PgPool,
        columns: &str,
        from: &str,
        search: &NameSearch,
        count_all: &'static str,
    ) -> ApiResult<(Vec<R>, i64)>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let Some(pattern) = search.pattern()? else {
            return Ok(self
                .fetch(
                    db,
                    format!("select {columns} from {from} where true"),
                    count_all,
                )
                .await?);
        };
        let alias = from.rsplit(' ').next().unwrap_or(from);
        let mut qb = QueryBuilder::new(format!(
            "select {columns} from {from} where ({alias}.name ilike "
        ));
        qb.push_bind(pattern.clone())
            .push(format!(" escape '\\' or {alias}.slug ilike "))
            .push_bind(pattern.clone())
            .push(" escape '\\')");
        self.push_sql(&mut qb);
        let rows = qb.build_query_as().fetch_all(db).await?;
        let total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from {from} where ({alias}.name ilike $1 escape '\\' \
             or {alias}.slug ilike $1 escape '\\')"
        )))
        .bind(pattern)
        .fetch_one(db)
        .await?;
        Ok((rows, total))
    }

    /// Trims the look-ahead row and builds the list envelope.
    pub fn finish<T>(
        &self,
        mut rows: Vec<R>,
        total: i64,
        to_item: impl FnMut(R) -> T,
    ) -> ListResponse<T> {
        let has_more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = match (&self.start, has_more, rows.last()) {
            (Start::Page(_), _, _) | (_, false, _) | (_, _, None) => None,
            (_, true, Some(last)) => Some(encode_cursor(&self.sort, last)),
        };
        ListResponse {
            data: rows.into_iter().map(to_item).collect(),
            meta: ListMeta {
                limit: self.limit,
                next_cursor,
                total,
                page: match self.start {
                    Start::Page(page) => Some(page),
                    _ => None,
                },
            },
        }
    }
}

fn encode_cursor<R>(sort: &Sort<R>, row: &R) -> String {
    let values: Vec<Value> = sort
        .keys
        .iter()
        .map(|(key, _)| (key.value)(row).to_json())
        .collect();
    let doc = serde_json::json!([sort.spec, values]);
    URL_SAFE_NO_PAD.encode(doc.to_string())
}

fn decode_cursor<R>(cursor: &str, sort: &Sort<R>) -> ApiResult<Vec<KeyValue>> {
    let invalid = || ApiError::bad_request("invalid cursor; start again from the first page");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let (Some(spec), Some(values)) = (
        doc.get(0).and_then(Value::as_str),
        doc.get(1).and_then(Value::as_array),
    ) else {
        return Err(invalid());
    };
    if spec != sort.spec {
        return Err(ApiError::bad_request(format!(
            "this cursor belongs to sort '{spec}', not '{}'",
            sort.spec
        )));
    }
    if values.len() != sort.keys.len() {
        return Err(invalid());
    }
    sort.keys
        .iter()
        .zip(values)
        .map(|((key, _), value)| KeyValue::from_json(key.kind, value).ok_or_else(invalid))
        .collect()
}

/// States a list operation's sort keys in its `sort` parameter, as a pattern of the keys the
/// operation accepts (`-` for descending, comma-separated): the keys are documented from the
/// same table the list is sorted by.
pub fn document_sort_keys<S: Clone + Send + Sync + 'static, R>(
    mut router: utoipa_axum::router::OpenApiRouter<S>,
    path: &str,
    keys: &[SortKey<R>],
) -> utoipa_axum::router::OpenApiRouter<S> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let names = keys.iter().map(|k| k.name).collect::<Vec<_>>().join("|");
    // Empty is the default order.
    let pattern = format!("^(-?({names})(,-?({names}))*)?$");
    if let Some(item) = router.get_openapi_mut().paths.paths.get_mut(path)
        && let Some(op) = item.get.as_mut()
        && let Some(params) = op.parameters.as_mut()
        && let Some(utoipa::openapi::RefOr::T(sort)) = params
            .iter_mut()
            .find(|p| matches!(p, utoipa::openapi::RefOr::T(p) if p.name == "sort"))
    {
        sort.schema = Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .into(),
        );
    }
    router
}

/// The paging parameters of a list without filters of its own.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–100 (default 20; larger values are clamped).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// Opaque cursor from `meta.next_cursor`.
    pub cursor: Option<String>,
    /// 1-based page number, an alternative to `cursor` for admin tables.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// Comma-separated sort keys, `-` for descending; the operation lists its keys.
    pub sort: Option<String>,
}

/// `q` of the authors and tags lists: a part of the name or slug to look for (`松弛`, `olymp`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NameSearch {
    /// Only those whose name or slug contains this (case-insensitive), 1–100 characters.
    #[param(max_length = 100)]
    pub q: Option<String>,
}

impl NameSearch {
    /// The `ilike` pattern, wildcards in `q` taken literally; `None` without a search.
    fn pattern(&self) -> ApiResult<Option<String>> {
        let Some(q) = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) else {
            return Ok(None);
        };
        if q.chars().count() > 100 {
            return Err(ApiError::bad_request("q must be at most 100 characters"));
        }
        let escaped: String = q
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        Ok(Some(format!("%{escaped}%")))
    }
}

impl ListParams {
    /// The parameter names, which `ListQuery` tells from a list's own.
    pub const NAMES: [&'static str; 4] = ["limit", "cursor", "page", "sort"];

    pub fn page_request<R>(
        &self,
        keys: &'static [SortKey<R>],
        default_sort: &str,
        tie_breaker: &'static SortKey<R>,
    ) -> ApiResult<PageRequest<R>> {
        let sort = Sort::parse(self.sort.as_deref(), keys, default_sort, tie_breaker)?;
        PageRequest::new(self.limit, self.cursor.as_deref(), self.page, sort)
    }
}

/// `meta` of a list response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListMeta {
    pub limit: i64,
    /// Pass as `cursor` to get the next page; `null` on the last page (and in `page` mode).
    pub next_cursor: Option<String>,
    /// Number of items matching the filters, over all pages.
    pub total: i64,
    /// The page number, when the request used `page`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
}

/// A list response: `{"data": [...], "meta": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub meta: ListMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    static ID: SortKey<Row> = SortKey {
        name: "id",
        column: "t.id",
        kind: KeyKind::Uuid,
        value: |_| KeyValue::Uuid(Uuid::nil()),
    };
    static KEYS: &[SortKey<Row>] = &[
        SortKey {
            name: "name",
            column: "t.name",
            kind: KeyKind::Text,
            value: |_| KeyValue::Text("松弛感".into()),
        },
        SortKey {
            name: "created_at",
            column: "t.created_at",
            kind: KeyKind::Time,
            value: |_| KeyValue::Time(DateTime::UNIX_EPOCH),
        },
    ];

    fn sort(raw: &str) -> ApiResult<Sort<Row>> {
        Sort::parse(Some(raw), KEYS, "name", &ID)
    }

    #[test]
    fn unknown_and_repeated_sort_keys_are_rejected() {
        assert!(
            matches!(sort("title"), Err(ApiError::BadRequest(m)) if m.contains("allowed: name, created_at"))
        );
        assert!(sort("name,-name").is_err());
        assert!(sort("-created_at,name").is_ok());
    }

    #[test]
    fn limits_are_clamped_and_validated() {
        let page =
            PageRequest::new(Some(1000), None, None, sort("name").expect("sort")).expect("page");
        assert_eq!(page.limit, MAX_LIMIT);
        assert!(PageRequest::new(Some(0), None, None, sort("name").expect("sort")).is_err());
        assert!(PageRequest::new(None, Some("abc"), Some(2), sort("name").expect("sort")).is_err());
        assert!(PageRequest::new(None, None, Some(0), sort("name").expect("sort")).is_err());
    }

    struct Row;

    #[test]
    fn a_cursor_round_trips_only_with_its_own_sort() {
        let cursor = encode_cursor(&sort("name").expect("sort"), &Row);
        let values = decode_cursor(&cursor, &sort("name").expect("sort")).expect("decodes");
        assert_eq!(values[0], KeyValue::Text("松弛感".into()));
        assert!(decode_cursor(&cursor, &sort("-created_at").expect("sort")).is_err());
        assert!(decode_cursor("not base64!", &sort("name").expect("sort")).is_err());
    }

    fn sql_of(page: &PageRequest<Row>, reading_all: bool) -> String {
        let mut qb = QueryBuilder::new("select * from t where true");
        page.push_sql_ordered(&mut qb, reading_all);
        qb.sql().as_str().to_owned()
    }

    #[test]
    fn keysets_start_an_index_range_and_few_matches_are_sorted_instead() {
        let cursor = encode_cursor(&sort("-created_at").expect("sort"), &Row);
        let page = PageRequest::new(
            Some(2),
            Some(&cursor),
            None,
            sort("-created_at").expect("s"),
        )
        .expect("page");
        assert_eq!(
            sql_of(&page, false),
            "select * from t where true and t.created_at <= $1 and ((t.created_at < $2) or \
             (t.created_at = $3 and t.id < $4)) order by t.created_at desc, t.id desc limit $5"
        );
        assert!(
            sql_of(&page, true)
                .ends_with("order by (t.created_at + interval '0 s') desc, t.id desc limit $5")
        );
        let by_name = PageRequest::new(None, None, None, sort("name").expect("sort")).expect("p");
        assert!(sql_of(&by_name, true).ends_with("order by (t.name || '') asc, t.id asc limit $1"));
    }
}
