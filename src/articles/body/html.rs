//! `body_html`: blocks rendered with every text escaped and every URL already checked.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Block, Inline, ListFormat, TextRunFields};
use crate::{html::escape_into as escape, images::Image};

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
