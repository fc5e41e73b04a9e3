//! An article's body: a list of typed blocks (API.md §2 "Body blocks").
//!
//! Blocks are what editors write and what frontends render; `body_html` is derived from them
//! with every text escaped and every URL checked, so a body can never smuggle markup or
//! script into a page. CommonMark input is converted to the same blocks (raw HTML dropped).
//! The plain text, word count, reading time and default excerpt are derived here too.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{html::escape_into as escape, images::Image, validate::Validator};

/// At most this many blocks in one body: a very long read has a few hundred.
pub const MAX_BLOCKS: usize = 5000;

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

// ---------------------------------------------------------------------------------------------
// Validation

/// Checks what the types cannot: ranges, URL schemes, non-empty content. Field paths are the
/// client's (`body[3].children[0].url`). Image existence is checked by the caller against the
/// database, with `image_ids` to get the ids and their paths.
pub fn validate(blocks: &[Block], v: &mut Validator) {
    if blocks.len() > MAX_BLOCKS {
        v.error("body", format!("must have at most {MAX_BLOCKS} blocks"));
        return;
    }
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("body[{i}]");
        match block {
            Block::Paragraph { children } | Block::Quote { children } => {
                validate_inlines(children, &path, v);
            }
            Block::Heading { level, children } => {
                if !(1..=6).contains(level) {
                    v.error(format!("{path}.level"), "must be between 1 and 6");
                }
                validate_inlines(children, &path, v);
            }
            Block::List { children, .. } => {
                if children.is_empty() {
                    v.error(format!("{path}.children"), "a list needs at least one item");
                }
                for (j, item) in children.iter().enumerate() {
                    validate_inlines(item.children(), &format!("{path}.children[{j}]"), v);
                }
            }
            Block::Code { language, text } => {
                if let Some(language) = language {
                    let valid = (1..=30).contains(&language.len())
                        && language
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"+#-_.".contains(&b));
                    if !valid {
                        v.error(
                            format!("{path}.language"),
                            "must be a language name such as rust or c++",
                        );
                    }
                }
                if text
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
                {
                    v.error(
                        format!("{path}.text"),
                        "must not contain control characters",
                    );
                }
            }
            Block::Image {
                alt,
                caption,
                credit,
                ..
            } => {
                for (field, value, max) in [
                    ("alt", alt, 1000),
                    ("caption", caption, 2000),
                    ("credit", credit, 500),
                ] {
                    if let Some(value) = value {
                        check_text(value, &format!("{path}.{field}"), max, v);
                    }
                }
            }
            Block::Embed { url, caption } => {
                if !url.starts_with("https://")
                    || check_url(url).is_err()
                    || url.len() <= "https://".len()
                {
                    v.error(format!("{path}.url"), "must be an https URL");
                }
                if let Some(caption) = caption {
                    check_text(caption, &format!("{path}.caption"), 2000, v);
                }
            }
            Block::Divider {} => {}
        }
    }
}

fn validate_inlines(children: &[Inline], path: &str, v: &mut Validator) {
    if children.is_empty() {
        v.error(format!("{path}.children"), "must not be empty");
    }
    for (i, inline) in children.iter().enumerate() {
        let path = format!("{path}.children[{i}]");
        match inline {
            Inline::Text(run) => check_text(&run.text, &format!("{path}.text"), usize::MAX, v),
            Inline::Link { url, children } => {
                if let Err(message) = check_url(url) {
                    v.error(format!("{path}.url"), message);
                }
                if children.is_empty() {
                    v.error(format!("{path}.children"), "a link needs text");
                }
                for (j, run) in children.iter().enumerate() {
                    check_text(
                        &run.fields().text,
                        &format!("{path}.children[{j}].text"),
                        usize::MAX,
                        v,
                    );
                }
            }
        }
    }
}

fn check_text(text: &str, path: &str, max_chars: usize, v: &mut Validator) {
    if text.chars().any(|c| c.is_control() && c != '\n') {
        v.error(
            path,
            "must not contain control characters other than line breaks",
        );
    } else if max_chars != usize::MAX && text.chars().count() > max_chars {
        v.error(path, format!("must be at most {max_chars} characters"));
    }
}

/// Link URLs: `http`, `https`, `mailto`, or relative. Browsers ignore tabs and newlines inside
/// a scheme (`java\tscript:`), so any whitespace or control character is refused outright.
pub fn check_url(url: &str) -> Result<(), &'static str> {
    if url.is_empty() {
        return Err("must not be empty");
    }
    if url.len() > 2000 {
        return Err("must be at most 2000 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let scheme_end = url.find(':');
    let path_start = url.find(['/', '?', '#']);
    match scheme_end {
        // A colon before any '/', '?' or '#' introduces a scheme.
        Some(colon) if path_start.is_none_or(|p| colon < p) => {
            let scheme = url[..colon].to_ascii_lowercase();
            if matches!(scheme.as_str(), "http" | "https" | "mailto") {
                Ok(())
            } else {
                Err("must be an http, https, mailto or relative URL")
            }
        }
        _ => Ok(()),
    }
}

/// Every image block's id with its field path, for checking that the images exist.
pub fn image_ids(blocks: &[Block]) -> Vec<(Uuid, String)> {
    blocks
        .iter()
        .enumerate()
        .filter_map(|(i, block)| match block {
            Block::Image { image_id, .. } => Some((*image_id, format!("body[{i}].image_id"))),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// HTML

/// Renders blocks to HTML. `images` holds the images the body references (a missing one,
/// deleted since, renders nothing rather than a broken `<img>`).
pub fn render_html(blocks: &[Block], images: &HashMap<Uuid, Image>) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Paragraph { children } => {
                out.push_str("<p>");
                render_inlines(children, &mut out);
                out.push_str("</p>\n");
            }
            Block::Heading { level, children } => {
                let level = (*level).clamp(1, 6);
                out.push_str(&format!("<h{level}>"));
                render_inlines(children, &mut out);
                out.push_str(&format!("</h{level}>\n"));
            }
            Block::Quote { children } => {
                out.push_str("<blockquote><p>");
                render_inlines(children, &mut out);
                out.push_str("</p></blockquote>\n");
            }
            Block::List { format, children } => {
                let tag = match format {
                    ListFormat::Ordered => "ol",
                    ListFormat::Unordered => "ul",
                };
                out.push_str(&format!("<{tag}>"));
                for item in children {
                    out.push_str("<li>");
                    render_inlines(item.children(), &mut out);
                    out.push_str("</li>");
                }
                out.push_str(&format!("</{tag}>\n"));
            }
            Block::Code { language, text } => {
                out.push_str("<pre><code");
                if let Some(language) = language {
                    out.push_str(" class=\"language-");
                    escape(language, &mut out);
                    out.push('"');
                }
                out.push('>');
                escape(text, &mut out);
                out.push_str("</code></pre>\n");
            }
            Block::Image {
                image_id,
                alt,
                caption,
                credit,
            } => {
                if let Some(image) = images.get(image_id) {
                    render_figure(
                        image,
                        alt.as_deref(),
                        caption.as_deref(),
                        credit.as_deref(),
                        &mut out,
                    );
                }
            }
            Block::Embed { url, caption } => {
                out.push_str("<figure class=\"embed\"><a href=\"");
                escape(url, &mut out);
                out.push_str("\" rel=\"noopener noreferrer\">");
                escape(url, &mut out);
                out.push_str("</a>");
                if let Some(caption) = caption {
                    out.push_str("<figcaption>");
                    escape(caption, &mut out);
                    out.push_str("</figcaption>");
                }
                out.push_str("</figure>\n");
            }
            Block::Divider {} => out.push_str("<hr>\n"),
        }
    }
    out
}

/// `<figure>` with a responsive `<img>` and a caption holding caption and credit. Block values
/// override the image's own alt, caption and credit.
pub fn render_figure(
    image: &Image,
    alt: Option<&str>,
    caption: Option<&str>,
    credit: Option<&str>,
    out: &mut String,
) {
    out.push_str("<figure><img src=\"");
    escape(&image.url, out);
    out.push('"');
    // The srcset lists one format per width: the JPEG/PNG fallback every browser decodes.
    let fallbacks: Vec<String> = image
        .variants
        .iter()
        .filter(|v| v.mime_type != "image/webp")
        .map(|v| format!("{} {}w", v.url, v.width))
        .chain(std::iter::once(format!("{} {}w", image.url, image.width)))
        .collect();
    out.push_str(" srcset=\"");
    escape(&fallbacks.join(", "), out);
    out.push_str("\" sizes=\"(max-width: 1024px) 100vw, 1024px\"");
    out.push_str(&format!(
        " width=\"{}\" height=\"{}\"",
        image.width, image.height
    ));
    out.push_str(" alt=\"");
    escape(alt.or(image.alt.as_deref()).unwrap_or(""), out);
    out.push_str("\" loading=\"lazy\" decoding=\"async\">");
    let caption = caption.or(image.caption.as_deref());
    let credit = credit.or(image.credit.as_deref());
    if caption.is_some() || credit.is_some() {
        out.push_str("<figcaption>");
        if let Some(caption) = caption {
            escape(caption, out);
        }
        if let Some(credit) = credit {
            if caption.is_some() {
                out.push(' ');
            }
            out.push_str("<small class=\"credit\">");
            escape(credit, out);
            out.push_str("</small>");
        }
        out.push_str("</figcaption>");
    }
    out.push_str("</figure>\n");
}

fn render_inlines(children: &[Inline], out: &mut String) {
    for inline in children {
        match inline {
            Inline::Text(run) => render_run(run, out),
            Inline::Link { url, children } => {
                out.push_str("<a href=\"");
                escape(url, out);
                out.push('"');
                if url.starts_with("http://") || url.starts_with("https://") {
                    out.push_str(" rel=\"noopener noreferrer\"");
                }
                out.push('>');
                for run in children {
                    render_run(run.fields(), out);
                }
                out.push_str("</a>");
            }
        }
    }
}

fn render_run(run: &TextRunFields, out: &mut String) {
    let marks = [
        (run.bold, "strong"),
        (run.italic, "em"),
        (run.underline, "u"),
        (run.strikethrough, "s"),
        (run.code, "code"),
    ];
    for (on, tag) in marks {
        if on {
            out.push_str(&format!("<{tag}>"));
        }
    }
    for (i, line) in run.text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        escape(line, out);
    }
    for (on, tag) in marks.iter().rev() {
        if *on {
            out.push_str(&format!("</{tag}>"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown

/// Converts CommonMark to blocks. Images are written `![alt](image:<uuid> "caption")`; any
/// other image URL, and raw HTML, is dropped. Nested lists are flattened into their parent.
/// Returns the blocks, or a message for `body_markdown` when an image reference is malformed.
pub fn from_markdown(markdown: &str) -> Result<Vec<Block>, String> {
    use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

    #[derive(Default)]
    struct Marks {
        bold: u32,
        italic: u32,
        strike: u32,
    }

    let mut blocks = Vec::new();
    let mut inlines: Vec<Inline> = Vec::new();
    let mut link: Option<(String, Vec<TextRun>)> = None;
    let mut marks = Marks::default();
    let mut list: Option<(ListFormat, Vec<ListItem>)> = None;
    let mut list_depth = 0u32;
    let mut in_quote = 0u32;
    let mut code: Option<(Option<String>, String)> = None;
    let mut image: Option<(Uuid, String, Option<String>)> = None;
    let mut heading: Option<u8> = None;

    let push_text = |text: &str,
                     code: bool,
                     marks: &Marks,
                     inlines: &mut Vec<Inline>,
                     link: &mut Option<(String, Vec<TextRun>)>| {
        let run = TextRunFields {
            text: text.to_owned(),
            bold: marks.bold > 0,
            italic: marks.italic > 0,
            strikethrough: marks.strike > 0,
            code,
            underline: false,
        };
        match link {
            Some((_, runs)) => runs.push(TextRun::Text(run)),
            None => inlines.push(Inline::Text(run)),
        }
    };
    // Ends the current run of inlines as a paragraph, heading, quote or list item.
    fn flush(
        inlines: &mut Vec<Inline>,
        heading: Option<u8>,
        in_quote: bool,
        list: &mut Option<(ListFormat, Vec<ListItem>)>,
        blocks: &mut Vec<Block>,
    ) {
        let children = merge_runs(std::mem::take(inlines));
        if children.is_empty() {
            return;
        }
        if let Some((_, items)) = list {
            items.push(ListItem::ListItem { children });
        } else if let Some(level) = heading {
            blocks.push(Block::Heading { level, children });
        } else if in_quote {
            blocks.push(Block::Quote { children });
        } else {
            blocks.push(Block::Paragraph { children });
        }
    }

    let options = Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(markdown, options) {
        if let Some((_, _, title)) = &mut image {
            // Inside ![alt](…): the text events are the alt text.
            match event {
                Event::Text(t) | Event::Code(t) => {
                    title.get_or_insert_with(String::new).push_str(&t)
                }
                Event::End(TagEnd::Image) => {
                    if let Some((image_id, caption, alt)) = image.take() {
                        flush(&mut inlines, heading, in_quote > 0, &mut list, &mut blocks);
                        blocks.push(Block::Image {
                            image_id,
                            alt: alt.filter(|a| !a.is_empty()),
                            caption: Some(caption).filter(|c| !c.is_empty()),
                            credit: None,
                        });
                    }
                }
                _ => {}
            }
            continue;
        }
        if let Some((_, text)) = &mut code {
            match event {
                Event::Text(t) => text.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    if let Some((language, mut text)) = code.take() {
                        if text.ends_with('\n') {
                            text.pop();
                        }
                        blocks.push(Block::Code { language, text });
                    }
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some(match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    HeadingLevel::H4 => 4,
                    HeadingLevel::H5 => 5,
                    HeadingLevel::H6 => 6,
                });
            }
            Event::End(TagEnd::Heading(_)) => {
                flush(&mut inlines, heading, false, &mut list, &mut blocks);
                heading = None;
            }
            Event::End(TagEnd::Paragraph) => {
                if list.is_none() {
                    flush(&mut inlines, heading, in_quote > 0, &mut list, &mut blocks);
                } else {
                    // Paragraphs inside a loose list item continue the item.
                    push_text(" ", false, &marks, &mut inlines, &mut link);
                }
            }
            Event::Start(Tag::BlockQuote(_)) => in_quote += 1,
            Event::End(TagEnd::BlockQuote(_)) => in_quote = in_quote.saturating_sub(1),
            Event::Start(Tag::List(start)) => {
                list_depth += 1;
                if list_depth == 1 {
                    let format = if start.is_some() {
                        ListFormat::Ordered
                    } else {
                        ListFormat::Unordered
                    };
                    list = Some((format, Vec::new()));
                } else {
                    flush(&mut inlines, None, false, &mut list, &mut blocks);
                }
            }
            Event::End(TagEnd::List(_)) => {
                list_depth = list_depth.saturating_sub(1);
                if list_depth == 0 {
                    flush(&mut inlines, None, false, &mut list, &mut blocks);
                    if let Some((format, children)) =
                        list.take().filter(|(_, items)| !items.is_empty())
                    {
                        blocks.push(Block::List { format, children });
                    }
                }
            }
            Event::End(TagEnd::Item) => flush(&mut inlines, None, false, &mut list, &mut blocks),
            Event::Start(Tag::CodeBlock(kind)) => {
                flush(&mut inlines, heading, in_quote > 0, &mut list, &mut blocks);
                let language = match kind {
                    pulldown_cmark::CodeBlockKind::Fenced(info) => info
                        .split_whitespace()
                        .next()
                        .map(str::to_owned)
                        .filter(|l| {
                            l.len() <= 30
                                && l.bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b"+#-_.".contains(&b))
                        }),
                    pulldown_cmark::CodeBlockKind::Indented => None,
                };
                code = Some((language, String::new()));
            }
            Event::Start(Tag::Emphasis) => marks.italic += 1,
            Event::End(TagEnd::Emphasis) => marks.italic = marks.italic.saturating_sub(1),
            Event::Start(Tag::Strong) => marks.bold += 1,
            Event::End(TagEnd::Strong) => marks.bold = marks.bold.saturating_sub(1),
            Event::Start(Tag::Strikethrough) => marks.strike += 1,
            Event::End(TagEnd::Strikethrough) => marks.strike = marks.strike.saturating_sub(1),
            // A link with an unsafe URL keeps its text and loses the link.
            Event::Start(Tag::Link { dest_url, .. }) if check_url(&dest_url).is_ok() => {
                link = Some((dest_url.to_string(), Vec::new()));
            }
            Event::End(TagEnd::Link) => {
                if let Some((url, children)) = link.take() {
                    let children = merge_text_runs(children);
                    if !children.is_empty() {
                        inlines.push(Inline::Link { url, children });
                    }
                }
            }
            Event::Start(Tag::Image {
                dest_url, title, ..
            }) => {
                let Some(id) = dest_url.strip_prefix("image:") else {
                    return Err(format!(
                        "image '{dest_url}' must reference the library as image:<uuid>"
                    ));
                };
                let id =
                    Uuid::parse_str(id).map_err(|_| format!("'{dest_url}' is not image:<uuid>"))?;
                image = Some((id, title.to_string(), None));
            }
            Event::Text(text) => push_text(&text, false, &marks, &mut inlines, &mut link),
            Event::Code(text) => push_text(&text, true, &marks, &mut inlines, &mut link),
            Event::SoftBreak => push_text(" ", false, &marks, &mut inlines, &mut link),
            Event::HardBreak => push_text("\n", false, &marks, &mut inlines, &mut link),
            Event::Rule => {
                flush(&mut inlines, heading, in_quote > 0, &mut list, &mut blocks);
                blocks.push(Block::Divider {});
            }
            // Raw HTML is never passed through; footnotes, tables, math are not enabled.
            _ => {}
        }
    }
    flush(&mut inlines, heading, in_quote > 0, &mut list, &mut blocks);
    Ok(blocks)
}

/// Joins adjacent runs with the same marks and trims the edges, so Markdown's event stream
/// (which splits text at every soft break) becomes the runs an editor would write.
fn merge_runs(inlines: Vec<Inline>) -> Vec<Inline> {
    let mut out: Vec<Inline> = Vec::new();
    for inline in inlines {
        match (out.last_mut(), inline) {
            (Some(Inline::Text(last)), Inline::Text(run)) if same_marks(last, &run) => {
                last.text.push_str(&run.text)
            }
            (_, inline) => out.push(inline),
        }
    }
    trim_edges(&mut out);
    out
}

fn merge_text_runs(runs: Vec<TextRun>) -> Vec<TextRun> {
    let mut out: Vec<TextRun> = Vec::new();
    for TextRun::Text(run) in runs {
        match out.last_mut() {
            Some(TextRun::Text(last)) if same_marks(last, &run) => last.text.push_str(&run.text),
            _ => out.push(TextRun::Text(run)),
        }
    }
    out
}

fn same_marks(a: &TextRunFields, b: &TextRunFields) -> bool {
    (a.bold, a.italic, a.underline, a.strikethrough, a.code)
        == (b.bold, b.italic, b.underline, b.strikethrough, b.code)
}

fn trim_edges(inlines: &mut Vec<Inline>) {
    if let Some(Inline::Text(first)) = inlines.first_mut() {
        first.text = first.text.trim_start().to_owned();
    }
    if let Some(Inline::Text(last)) = inlines.last_mut() {
        last.text = last.text.trim_end().to_owned();
    }
    inlines.retain(|i| !matches!(i, Inline::Text(run) if run.text.is_empty()));
}

// ---------------------------------------------------------------------------------------------
// Derived text

/// Text metrics of a body, computed once per save.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMetrics {
    /// Every text of the body, one block a line: what search indexes.
    pub plaintext: String,
    pub word_count: i32,
    pub reading_time_minutes: i32,
    /// The first paragraph, at most 300 characters, cut on a word boundary.
    pub excerpt: Option<String>,
}

/// Words per minute for Latin-script text, and characters per minute for CJK text (which has
/// no spaces between words; a reader takes in about 400 characters a minute).
const WORDS_PER_MINUTE: usize = 230;
const CJK_CHARS_PER_MINUTE: usize = 400;
pub const EXCERPT_MAX_CHARS: usize = 300;

pub fn metrics(blocks: &[Block]) -> TextMetrics {
    let excerpt = blocks.iter().find_map(|block| match block {
        Block::Paragraph { children } => {
            let text = inline_text(children);
            (!text.trim().is_empty()).then(|| cut_excerpt(&text))
        }
        _ => None,
    });
    let plaintext = plaintext(blocks);
    let (words, cjk) = count_words(&plaintext);
    let minutes =
        (words as f64 / WORDS_PER_MINUTE as f64 + cjk as f64 / CJK_CHARS_PER_MINUTE as f64).ceil();
    TextMetrics {
        word_count: i32::try_from(words + cjk).unwrap_or(i32::MAX),
        reading_time_minutes: if words + cjk == 0 {
            0
        } else {
            (minutes as i32).max(1)
        },
        plaintext,
        excerpt,
    }
}

/// Every text of the body, one block a line: what search indexes and words are counted in.
pub fn plaintext(blocks: &[Block]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for block in blocks {
        let text = match block {
            Block::Paragraph { children }
            | Block::Heading { children, .. }
            | Block::Quote { children } => inline_text(children),
            Block::List { children, .. } => children
                .iter()
                .map(|item| inline_text(item.children()))
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Code { text, .. } => text.clone(),
            Block::Image {
                alt,
                caption,
                credit,
                ..
            } => [alt, caption, credit]
                .into_iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
            Block::Embed { caption, .. } => caption.clone().unwrap_or_default(),
            Block::Divider {} => String::new(),
        };
        if !text.is_empty() {
            lines.push(text);
        }
    }
    lines.join("\n")
}

fn inline_text(children: &[Inline]) -> String {
    let mut text = String::new();
    for inline in children {
        match inline {
            Inline::Text(run) => text.push_str(&run.text),
            Inline::Link { children, .. } => {
                for run in children {
                    text.push_str(&run.fields().text);
                }
            }
        }
    }
    text
}

/// Chinese, Japanese and Korean characters: each counts as a word.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F) // Extensions B–F and supplements
}

/// (Latin-script words, CJK characters).
fn count_words(text: &str) -> (usize, usize) {
    let mut words = 0;
    let mut cjk = 0;
    let mut in_word = false;
    for c in text.chars() {
        if is_cjk(c) {
            cjk += 1;
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                words += 1;
            }
            in_word = true;
        } else if !(c == '\'' || c == '’' || c == '-') || !in_word {
            // Apostrophes and hyphens inside a word (don't, well-known) do not split it.
            in_word = false;
        }
    }
    (words, cjk)
}

/// At most `EXCERPT_MAX_CHARS` characters, cut on a word boundary (or between CJK characters),
/// with an ellipsis when cut.
pub fn cut_excerpt(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= EXCERPT_MAX_CHARS {
        return text;
    }
    let limit = EXCERPT_MAX_CHARS - 1; // room for the ellipsis
    let chars: Vec<char> = text.chars().collect();
    let mut cut = limit;
    while cut > 0 && !(chars[cut] == ' ' || is_cjk(chars[cut]) || is_cjk(chars[cut - 1])) {
        cut -= 1;
    }
    if cut == 0 {
        cut = limit;
    }
    let mut excerpt: String = chars[..cut]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_owned();
    excerpt.push('…');
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;

    impl TextRunFields {
        fn plain(text: impl Into<String>) -> Self {
            Self {
                text: text.into(),
                ..Self::default()
            }
        }
    }

    fn text(t: &str) -> Inline {
        Inline::Text(TextRunFields::plain(t))
    }

    fn paragraph(t: &str) -> Block {
        Block::Paragraph {
            children: vec![text(t)],
        }
    }

    #[test]
    fn blocks_parse_from_the_documented_json() {
        let json = serde_json::json!([
            {"type": "heading", "level": 2, "children": [{"type": "text", "text": "松弛感"}]},
            {"type": "paragraph", "children": [
                {"type": "text", "text": "Pan Zhanle ", "bold": true},
                {"type": "link", "url": "https://radii.co", "children": [{"type": "text", "text": "won"}]}
            ]},
            {"type": "list", "format": "ordered", "children": [{"type": "list-item", "children": [{"type": "text", "text": "one"}]}]},
            {"type": "code", "language": "rust", "text": "fn main() {}"},
            {"type": "image", "image_id": "0191a5a0-0000-7000-8000-000000000000", "caption": "Photo"},
            {"type": "embed", "url": "https://www.youtube.com/watch?v=x"},
            {"type": "divider"}
        ]);
        let blocks: Vec<Block> = serde_json::from_value(json.clone()).expect("parses");
        assert_eq!(blocks.len(), 7);
        assert_eq!(
            serde_json::to_value(&blocks).expect("serialises"),
            json,
            "round-trips"
        );
        let unknown = serde_json::json!([{"type": "paragraph", "children": [], "colour": "red"}]);
        assert!(serde_json::from_value::<Vec<Block>>(unknown).is_err());
        let bad_type = serde_json::json!([{"type": "marquee", "children": []}]);
        assert!(serde_json::from_value::<Vec<Block>>(bad_type).is_err());
    }

    fn errors(blocks: &[Block]) -> Vec<String> {
        let mut v = Validator::new();
        validate(blocks, &mut v);
        match v.finish() {
            Ok(()) => Vec::new(),
            Err(crate::http::error::ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| e.field).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn validation_names_the_exact_path() {
        let link = |url: &str| Block::Paragraph {
            children: vec![
                text("see "),
                Inline::Link {
                    url: url.into(),
                    children: vec![TextRun::Text(TextRunFields::plain("here"))],
                },
            ],
        };
        assert!(
            errors(&[
                link("https://example.com"),
                link("/relative"),
                link("#top"),
                link("mailto:a@b.c")
            ])
            .is_empty()
        );
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            " https://x",
        ] {
            assert_eq!(
                errors(&[paragraph("x"), link(bad)]),
                vec!["body[1].children[1].url"],
                "{bad:?}"
            );
        }
        let heading = Block::Heading {
            level: 7,
            children: vec![text("x")],
        };
        assert_eq!(errors(&[heading]), vec!["body[0].level"]);
        assert_eq!(
            errors(&[Block::Paragraph { children: vec![] }]),
            vec!["body[0].children"]
        );
        let embed = Block::Embed {
            url: "http://insecure.example".into(),
            caption: None,
        };
        assert_eq!(errors(&[embed]), vec!["body[0].url"]);
        let list = Block::List {
            format: ListFormat::Unordered,
            children: vec![ListItem::ListItem {
                children: vec![text("a\u{0}b")],
            }],
        };
        assert_eq!(
            errors(&[list]),
            vec!["body[0].children[0].children[0].text"]
        );
    }

    #[test]
    fn html_escapes_every_text_and_attribute() {
        let blocks = vec![
            Block::Paragraph {
                children: vec![
                    Inline::Text(TextRunFields {
                        text: "<script>alert('x')</script> & \"quotes\"".into(),
                        bold: true,
                        ..Default::default()
                    }),
                    Inline::Link {
                        url: "/search?q=\"><script>".into(),
                        children: vec![TextRun::Text(TextRunFields::plain("a<b"))],
                    },
                ],
            },
            Block::Code {
                language: Some("c++".into()),
                text: "if (a < b && c > d) {}".into(),
            },
            Block::Heading {
                level: 2,
                children: vec![text("Line one\nline two")],
            },
        ];
        let html = render_html(&blocks, &HashMap::new());
        assert_eq!(
            html,
            "<p><strong>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;</strong>\
             <a href=\"/search?q=&quot;&gt;&lt;script&gt;\">a&lt;b</a></p>\n\
             <pre><code class=\"language-c++\">if (a &lt; b &amp;&amp; c &gt; d) {}</code></pre>\n\
             <h2>Line one<br>line two</h2>\n"
        );
    }

    #[test]
    fn markdown_becomes_blocks_and_raw_html_is_dropped() {
        let id = "0191a5a0-0000-7000-8000-000000000000";
        let markdown = format!(
            "# Paris 2024\n\nPan Zhanle **won** the *100 m* [final](https://olympics.com).\nSecond line.\n\n\
             <script>alert(1)</script>\n\n- one\n- two\n  - nested\n\n1. first\n\n> 松弛感 is a mood\n\n\
             ```rust\nfn main() {{}}\n```\n\n![Wang Xu](image:{id} \"At Bye Bye Disco\")\n\n---\n\n[bad](javascript:alert(1))"
        );
        let blocks = from_markdown(&markdown).expect("converts");
        let json = serde_json::to_value(&blocks).expect("json");
        assert_eq!(
            json[0],
            serde_json::json!({"type": "heading", "level": 1, "children": [{"type": "text", "text": "Paris 2024"}]})
        );
        assert_eq!(
            json[1]["children"][1],
            serde_json::json!({"type": "text", "text": "won", "bold": true})
        );
        assert_eq!(
            json[1]["children"][3],
            serde_json::json!({"type": "text", "text": "100 m", "italic": true})
        );
        assert_eq!(json[1]["children"][5]["url"], "https://olympics.com");
        assert_eq!(
            json[1]["children"][6]["text"], ". Second line.",
            "soft breaks become spaces"
        );
        assert_eq!(json[2]["type"], "list");
        assert_eq!(
            json[2]["children"].as_array().expect("items").len(),
            3,
            "nested items are flattened"
        );
        assert_eq!(json[3]["format"], "ordered");
        assert_eq!(
            json[4],
            serde_json::json!({"type": "quote", "children": [{"type": "text", "text": "松弛感 is a mood"}]})
        );
        assert_eq!(
            json[5],
            serde_json::json!({"type": "code", "language": "rust", "text": "fn main() {}"})
        );
        assert_eq!(
            json[6],
            serde_json::json!({"type": "image", "image_id": id, "alt": "Wang Xu", "caption": "At Bye Bye Disco"})
        );
        assert_eq!(json[7]["type"], "divider");
        assert_eq!(
            json[8],
            serde_json::json!({"type": "paragraph", "children": [{"type": "text", "text": "bad"}]}),
            "unsafe link loses its URL"
        );
        assert!(!json.to_string().contains("script>"), "raw HTML dropped");
        assert!(from_markdown("![x](https://evil.example/x.png)").is_err());
    }

    #[test]
    fn metrics_count_words_cjk_characters_and_cut_the_excerpt() {
        let blocks = vec![
            Block::Heading {
                level: 1,
                children: vec![text("Title words")],
            },
            paragraph("Don’t stop — well-known 我的阿勒泰 story"),
        ];
        let m = metrics(&blocks);
        assert_eq!(
            m.plaintext,
            "Title words\nDon’t stop — well-known 我的阿勒泰 story"
        );
        assert_eq!(m.word_count, 2 + 4 + 5);
        assert_eq!(m.reading_time_minutes, 1);
        assert_eq!(
            m.excerpt.as_deref(),
            Some("Don’t stop — well-known 我的阿勒泰 story")
        );
        assert_eq!(metrics(&[]).reading_time_minutes, 0);

        let long = "word ".repeat(100);
        let excerpt = cut_excerpt(&long);
        assert!(
            excerpt.chars().count() <= EXCERPT_MAX_CHARS && excerpt.ends_with("word…"),
            "{excerpt}"
        );
        let chinese = "松弛感".repeat(200);
        assert_eq!(cut_excerpt(&chinese).chars().count(), EXCERPT_MAX_CHARS);
        let words = metrics(&[paragraph(&"word ".repeat(460))]);
        assert_eq!((words.word_count, words.reading_time_minutes), (460, 2));
    }

    #[test]
    fn text_round_trips_exactly() {
        let exotic = "“Curly” ‘quotes’ — em dash, 管静鹏, e\u{301} combining, emoji 🎉";
        let blocks = vec![paragraph(exotic)];
        let json = serde_json::to_string(&blocks).expect("json");
        let back: Vec<Block> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, blocks);
        assert!(render_html(&blocks, &HashMap::new()).contains(exotic));
    }
}
