//! An article's body: a list of typed blocks (API.md §2 "Body blocks").
//!
//! Blocks are what editors write and what frontends render; `body_html` is derived from them
//! with every text escaped and every URL checked, so a body can never smuggle markup or
//! script into a page. CommonMark input is converted to the same blocks (raw HTML dropped).
//! The plain text, word count, reading time and default excerpt are derived here too.
//!
//! This file holds the block types; `validate` what the types cannot say, `html` the
//! rendering, `markdown` the CommonMark conversion, `text` the derived text.

mod html;
mod markdown;
mod text;
mod validate;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use self::{
    html::{render_figure, render_html},
    markdown::from_markdown,
    text::{EXCERPT_MAX_CHARS, TextMetrics, body_text, cut_excerpt, is_cjk, metrics, plaintext},
    validate::{check_url, image_ids, validate},
};

/// At most this many blocks in one body: a very long read has a few hundred.
pub const MAX_BLOCKS: usize = 5000;

/// A code block's language: a name such as `rust` or `c++`, 1–30 characters.
pub fn is_code_language(name: &str) -> bool {
    (1..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+#-_.".contains(&b))
}

/// One block of a body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    Paragraph {
        #[serde(deserialize_with = "crate::http::strict::objects")]
        children: Vec<Inline>,
    },
    Heading {
        /// 1–6.
        #[schema(minimum = 1, maximum = 6)]
        level: u8,
        #[serde(deserialize_with = "crate::http::strict::objects")]
        children: Vec<Inline>,
    },
    Quote {
        #[serde(deserialize_with = "crate::http::strict::objects")]
        children: Vec<Inline>,
    },
    List {
        format: ListFormat,
        #[serde(deserialize_with = "crate::http::strict::objects")]
        children: Vec<ListItem>,
    },
    Code {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
        text: String,
    },
    Image {
        image_id: Uuid,
        /// Overrides the image's own alt text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alt: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credit: Option<String>,
    },
    Embed {
        /// An `https` URL (a video, a post) for the frontend to embed.
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    Divider {},
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListFormat {
    Ordered,
    Unordered,
}

/// An item of a list: `{"type": "list-item", "children": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ListItem {
    #[serde(rename = "list-item")]
    ListItem {
        #[serde(deserialize_with = "crate::http::strict::objects")]
        children: Vec<Inline>,
    },
}

impl ListItem {
    fn children(&self) -> &[Inline] {
        match self {
            Self::ListItem { children } => children,
        }
    }
}

/// Inline content: a run of text, or a link around runs of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Inline {
    Text(#[schema(inline)] TextRunFields),
    Link {
        /// `http`, `https`, `mailto` or a relative URL.
        url: String,
        #[serde(deserialize_with = "crate::http::strict::objects")]
        children: Vec<TextRun>,
    },
}

/// A text run: `{"type": "text", "text": "…", "bold": true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TextRun {
    Text(#[schema(inline)] TextRunFields),
}

impl TextRun {
    fn fields(&self) -> &TextRunFields {
        match self {
            Self::Text(fields) => fields,
        }
    }
}

/// The text and marks of a run. Marks absent are false.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRunFields {
    pub text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub bold: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub italic: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub underline: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub strikethrough: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub code: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests;
