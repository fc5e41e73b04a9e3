//! Sparse fieldsets: `fields=id,slug,title` keeps only those members of each object a read
//! returns. Names are checked against the resource's own list (`400` for any other), and the
//! projection works on the serialised object: its top-level members are found without
//! building a tree, and the chosen ones copied as they are, so a stored document is cut, not
//! re-rendered.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::http::{
    error::{ApiError, ApiResult},
    pagination::ListResponse,
};

/// The longest `fields=` accepted, in bytes: every name of the largest resource fits.
const MAX_LEN: usize = 1000;

/// A validated set of member names; `id` is always in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSet {
    names: Vec<&'static str>,
}

impl FieldSet {
    /// The set `raw` names (comma-separated, spaces allowed), each one of `allowed`; `None`
    /// when there is no `fields` parameter (the resource's default shape).
    pub fn parse(raw: Option<&str>, allowed: &'static [&'static str]) -> ApiResult<Option<Self>> {
        let Some(raw) = raw else { return Ok(None) };
        if raw.len() > MAX_LEN {
            return Err(ApiError::bad_request(format!(
                "fields must be at most {MAX_LEN} characters"
            )));
        }
        let mut names = vec!["id"];
        // As strict as the pattern the OpenAPI document states: no empty name, no stray comma.
        for name in raw.split(',').map(str::trim) {
            let known = allowed.iter().find(|a| **a == name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown field '{}' in fields; allowed: {}",
                    name.chars().take(100).collect::<String>(),
                    allowed.join(", ")
                ))
            })?;
            if !names.contains(known) {
                names.push(known);
            }
        }
        Ok(Some(Self { names }))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(&name)
    }

    /// Adds a member (what `include=` asks for on top of `fields=`).
    pub fn insert(&mut self, name: &'static str) {
        if !self.names.contains(&name) {
            self.names.push(name);
        }
    }

    /// The members of the serialised object `json` that are in the set, in `json`'s order,
    /// each value copied byte for byte.
    pub fn project(&self, json: &str) -> Result<String, serde_json::Error> {
        project(json, |name| self.contains(name))
    }

    /// As `project`, for an object already in memory (authors, tags, images, working copies).
    pub fn project_value<T: Serialize>(&self, value: &T) -> ApiResult<Box<RawValue>> {
        let json = serde_json::to_string(value).map_err(|e| ApiError::Internal(e.into()))?;
        let projected = self
            .project(&json)
            .map_err(|e| ApiError::Internal(e.into()))?;
        RawValue::from_string(projected).map_err(|e| ApiError::Internal(e.into()))
    }

    /// A regular expression of the accepted values, for the OpenAPI document.
    pub fn pattern(allowed: &[&str]) -> String {
        let names = allowed.join("|");
        format!("^ *({names}) *(, *({names}) *)*$")
    }
}

/// One object as the answer, cut to `fields` when given.
pub fn one<T: Serialize>(item: T, fields: Option<&FieldSet>) -> ApiResult<Response> {
    Ok(match fields {
        None => Json(item).into_response(),
        Some(fields) => Json(fields.project_value(&item)?).into_response(),
    })
}

/// A list as the answer, each item cut to `fields` when given.
pub fn list<T: Serialize>(list: ListResponse<T>, fields: Option<&FieldSet>) -> ApiResult<Response> {
    let Some(fields) = fields else {
        return Ok(Json(list).into_response());
    };
    let data = list
        .data
        .iter()
        .map(|item| fields.project_value(item))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(ListResponse {
        data,
        meta: list.meta,
    })
    .into_response())
}

/// The members of the serialised object `json` that `keep` keeps, in order, values copied.
pub fn project(json: &str, keep: impl Fn(&str) -> bool) -> Result<String, serde_json::Error> {
    let mut out = String::with_capacity(json.len().min(4096));
    out.push('{');
    for (name, value) in top_level(json)? {
        if keep(name) {
            push_member(&mut out, name, value.get());
        }
    }
    out.push('}');
    Ok(out)
}

/// Appends `"name":value` to an object being written (`out` holds its `{` and any members).
pub fn push_member(out: &mut String, name: &str, value: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
    out.push_str(value);
}

/// One top-level member's value, unparsed.
pub fn member<'a>(json: &'a str, name: &str) -> Result<Option<&'a RawValue>, serde_json::Error> {
    Ok(top_level(json)?
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v))
}

/// The top-level members of a JSON object, values unparsed. Member names are Galley's own
/// `snake_case`, never escaped, so they borrow from the text.
fn top_level(json: &str) -> Result<Vec<(&str, &RawValue)>, serde_json::Error> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(&'de str, &'de RawValue)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::with_capacity(map.size_hint().unwrap_or(24));
            while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
                members.push(member);
            }
            Ok(members)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let members = (&mut de).deserialize_map(Members)?;
    de.end()?;
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[&str] = &["id", "slug", "title", "body", "authors"];

    fn set(raw: &str) -> FieldSet {
        FieldSet::parse(Some(raw), ALLOWED)
            .expect("valid")
            .expect("some")
    }

    #[test]
    fn keeps_the_named_members_and_id_in_stored_order_byte_for_byte() {
        let stored = r#"{"id":"1","slug":"song-chi-gan","title":"松弛感 \"at\" the Games","body":[{"type":"paragraph"}],"authors":[{"name":"管静鹏"}]}"#;
        assert_eq!(
            set("authors, title").project(stored).expect("json"),
            r#"{"id":"1","title":"松弛感 \"at\" the Games","authors":[{"name":"管静鹏"}]}"#
        );
        assert_eq!(set("id").project(stored).expect("json"), r#"{"id":"1"}"#);
        assert_eq!(set("slug, slug").names, vec!["id", "slug"]);
    }

    #[test]
    fn refuses_names_it_does_not_know() {
        for raw in [
            "titel",
            "id,body_html",
            "title;slug",
            "",
            "title,",
            ",title",
            &"x".repeat(2000),
        ] {
            let err = FieldSet::parse(Some(raw), ALLOWED).expect_err(raw);
            assert!(matches!(err, ApiError::BadRequest(_)), "{raw}: {err:?}");
        }
        assert_eq!(FieldSet::parse(None, ALLOWED).expect("none"), None);
    }

    #[test]
    fn the_pattern_matches_what_parse_accepts() {
        let pattern = FieldSet::pattern(ALLOWED);
        assert_eq!(
            pattern,
            "^ *(id|slug|title|body|authors) *(, *(id|slug|title|body|authors) *)*$"
        );
    }
}
