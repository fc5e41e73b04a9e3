//! What of an article a read returns: `fields=` (a sparse fieldset, API.md §15) and
//! `include=` (`body`, `body_html`, `body_text`) on top of the default shape — everything for
//! one article, everything but the body for a list. Without either, stored live JSON is served
//! as it is; with them, it is cut (never re-rendered), and `body_text` is derived from the
//! stored body only when asked for.

use crate::http::{
    error::{ApiError, ApiResult},
    fields::{self, FieldSet},
};

/// Every member of an article, in the order the API writes them; `fields=` names these.
pub const ARTICLE_FIELDS: &[&str] = &[
    "id",
    "slug",
    "title",
    "subtitle",
    "excerpt",
    "status",
    "body",
    "body_html",
    "body_text",
    "banner",
    "authors",
    "tags",
    "featured",
    "language",
    "seo",
    "word_count",
    "reading_time_minutes",
    "external_id",
    "published_at",
    "scheduled_at",
    "created_at",
    "updated_at",
    "version",
    "has_unpublished_changes",
];

/// What `include=` accepts.
pub const INCLUDES: &[&str] = &["body", "body_html", "body_text"];

#[derive(Debug, Clone)]
pub struct Shape {
    fields: Option<FieldSet>,
    body: bool,
    body_html: bool,
    body_text: bool,
    /// Lists leave the body out by default; one article has it.
    list: bool,
}

impl Shape {
    pub fn parse(fields: Option<&str>, include: Option<&str>, list: bool) -> ApiResult<Self> {
        let fields = FieldSet::parse(fields, ARTICLE_FIELDS)?;
        let mut shape = Self {
            fields,
            body: false,
            body_html: false,
            body_text: false,
            list,
        };
        for name in include
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            match name {
                "body" => {
                    shape.body = true;
                    shape.body_html = true;
                }
                "body_html" => shape.body_html = true,
                "body_text" => shape.body_text = true,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown include '{}'; allowed: {}",
                        other.chars().take(100).collect::<String>(),
                        INCLUDES.join(", ")
                    )));
                }
            }
        }
        Ok(shape)
    }

    /// The shape of a read without `fields` or `include`.
    pub fn default_for(list: bool) -> Self {
        Self {
            fields: None,
            body: false,
            body_html: false,
            body_text: false,
            list,
        }
    }

    /// Whether the member `name` is in the answer.
    pub fn wants(&self, name: &str) -> bool {
        let included = match name {
            "body" => self.body,
            "body_html" => self.body_html,
            "body_text" => self.body_text,
            _ => false,
        };
        included
            || match &self.fields {
                Some(fields) => fields.contains(name),
                // body_text is never in a default shape: it is asked for.
                None => {
                    name != "body_text" && (!self.list || !matches!(name, "body" | "body_html"))
                }
            }
    }

    /// Whether the answer needs the body: the stored document rather than the list summary.
    pub fn needs_body(&self) -> bool {
        self.wants("body") || self.wants("body_html") || self.wants("body_text")
    }

    /// Whether the stored JSON (the summary, or the document when `needs_body`) is the answer
    /// as it is: no member to drop, none to derive.
    pub fn is_stored(&self) -> bool {
        // A list stores the summary (neither) and the document (both); one article, the document.
        self.fields.is_none() && !self.body_text && (!self.list || self.body == self.body_html)
    }

    /// As `apply`, keeping the stored text when it is the answer (no copy).
    pub fn apply_owned(&self, stored: String) -> ApiResult<String> {
        if self.is_stored() {
            Ok(stored)
        } else {
            self.apply(&stored)
        }
    }

    /// The answer cut from the stored JSON of one article (its document when `needs_body`).
    pub fn apply(&self, stored: &str) -> ApiResult<String> {
        if self.is_stored() {
            return Ok(stored.to_owned());
        }
        let internal = |e: serde_json::Error| ApiError::Internal(e.into());
        let mut out = fields::project(stored, |name| self.wants(name)).map_err(internal)?;
        if self.wants("body_text") {
            let body = fields::member(stored, "body").map_err(internal)?;
            let text = match body {
                Some(raw) => {
                    let shown: serde_json::Value =
                        serde_json::from_str(raw.get()).map_err(internal)?;
                    crate::articles::body::body_text(&shown)
                }
                None => String::new(),
            };
            out.pop();
            fields::push_member(
                &mut out,
                "body_text",
                &serde_json::to_string(&text).map_err(internal)?,
            );
            out.push('}');
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = r#"{"id":"a","slug":"s","title":"松弛感","body":[{"type":"paragraph","children":[{"text":"Pan "},{"type":"link","url":"https://x.example","children":[{"text":"swam"}]}]},{"type":"list","format":"unordered","children":[{"type":"list-item","children":[{"text":"one"}]},{"type":"list-item","children":[{"text":"two"}]}]},{"type":"image","image_id":"i","caption":null,"credit":"Photo by AFP","image":{"caption":"At the wall","credit":"x"}},{"type":"divider"}],"body_html":"<p>Pan</p>","authors":[]}"#;

    #[test]
    fn no_parameters_serve_the_stored_json() {
        for list in [true, false] {
            let shape = Shape::parse(None, None, list).expect("shape");
            assert!(shape.is_stored());
            assert_eq!(shape.needs_body(), !list);
        }
        let with_body = Shape::parse(None, Some("body"), true).expect("shape");
        assert!(with_body.is_stored() && with_body.needs_body());
    }

    #[test]
    fn fields_cut_and_body_text_is_derived_with_captions_and_credits() {
        let shape = Shape::parse(Some("title,body_text"), None, true).expect("shape");
        assert!(shape.needs_body() && !shape.is_stored());
        assert_eq!(
            shape.apply(DOCUMENT).expect("json"),
            r#"{"id":"a","title":"松弛感","body_text":"Pan swam\n\none\ntwo\n\nAt the wall Photo by AFP"}"#
        );
    }

    #[test]
    fn include_body_html_alone_leaves_the_blocks_out() {
        let shape = Shape::parse(Some("slug"), Some("body_html"), true).expect("shape");
        assert_eq!(
            shape.apply(DOCUMENT).expect("json"),
            r#"{"id":"a","slug":"s","body_html":"<p>Pan</p>"}"#
        );
        let list = Shape::parse(None, Some("body_html"), true).expect("shape");
        assert!(!list.is_stored());
        assert!(!list.apply(DOCUMENT).expect("json").contains("\"body\":"));
    }

    #[test]
    fn unknown_names_are_400() {
        assert!(Shape::parse(Some("titel"), None, true).is_err());
        assert!(Shape::parse(None, Some("bodies"), true).is_err());
    }
}
