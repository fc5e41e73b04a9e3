//! What is derived from a body's text: word count, reading time, default excerpt, plain text.

use super::{Block, Inline};

/// Text metrics of a body, computed once per save.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMetrics {
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
    let (words, cjk) = count_words(&plaintext(blocks));
    let minutes =
        (words as f64 / WORDS_PER_MINUTE as f64 + cjk as f64 / CJK_CHARS_PER_MINUTE as f64).ceil();
    TextMetrics {
        word_count: i32::try_from(words + cjk).unwrap_or(i32::MAX),
        reading_time_minutes: if words + cjk == 0 {
            0
        } else {
            (minutes as i32).max(1)
        },
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

/// `body_text`: the body as a reader reads it, from its shown blocks (as JSON, the shape the
/// API serves): one paragraph a block, separated by blank lines, list items one a line, and
/// images by their caption and credit (the block's, else the image's own). What search
/// indexes, feeds and meta descriptions ask for.
pub fn body_text(shown: &serde_json::Value) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    for block in shown.as_array().map(Vec::as_slice).unwrap_or_default() {
        let paragraph = match text(block, "type").unwrap_or_default() {
            "paragraph" | "heading" | "quote" => runs_text(block.get("children")),
            "list" => block
                .get("children")
                .and_then(|c| c.as_array())
                .map(|items| {
                    items
                        .iter()
                        .map(|item| runs_text(item.get("children")))
                        .filter(|line| !line.is_empty())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
            "code" => text(block, "text").unwrap_or_default().to_owned(),
            "image" => {
                let image = block.get("image");
                let own = |key: &str| text(block, key).or_else(|| image.and_then(|i| text(i, key)));
                [own("caption"), own("credit")]
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            "embed" => text(block, "caption").unwrap_or_default().to_owned(),
            _ => String::new(),
        };
        if !paragraph.trim().is_empty() {
            paragraphs.push(paragraph);
        }
    }
    paragraphs.join("\n\n")
}

fn text<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(|v| v.as_str())
}

/// The text of inline runs, links' text included.
fn runs_text(children: Option<&serde_json::Value>) -> String {
    let mut out = String::new();
    for run in children
        .and_then(|c| c.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match run.get("children") {
            Some(inner) => out.push_str(&runs_text(Some(inner))),
            None => out.push_str(run.get("text").and_then(|t| t.as_str()).unwrap_or_default()),
        }
    }
    out
}
