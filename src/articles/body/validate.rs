//! Checks on a body that its types cannot express.

use uuid::Uuid;

use super::{Block, Inline, MAX_BLOCKS, is_code_language};
use crate::{
    images::{ALT_MAX_CHARS, CAPTION_MAX_CHARS, CREDIT_MAX_CHARS},
    validate::Validator,
};

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
                if let Some(language) = language
                    && !is_code_language(language)
                {
                    v.error(
                        format!("{path}.language"),
                        "must be a language name such as rust or c++",
                    );
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
                    ("alt", alt, ALT_MAX_CHARS),
                    ("caption", caption, CAPTION_MAX_CHARS),
                    ("credit", credit, CREDIT_MAX_CHARS),
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
                    check_text(caption, &format!("{path}.caption"), CAPTION_MAX_CHARS, v);
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
