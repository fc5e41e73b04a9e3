//! CommonMark to blocks.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use uuid::Uuid;

use super::{
    Block, Inline, ListFormat, ListItem, TextRun, TextRunFields, check_url, is_code_language,
};

/// Converts CommonMark to blocks. Images are written `![alt](image:<uuid> "caption")`; any
/// other image URL, and raw HTML, is dropped. Nested lists are flattened into their parent.
/// Returns the blocks, or a message for `body_markdown` when an image reference is malformed.
pub fn from_markdown(markdown: &str) -> Result<Vec<Block>, String> {
    let mut converter = Converter::default();
    // Raw HTML is never passed through; footnotes, tables and math are not enabled.
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH) {
        converter.event(event)?;
    }
    converter.flush();
    Ok(converter.blocks)
}

/// How deep inside each mark the text is (`**a *b* c**`).
#[derive(Default)]
struct Marks {
    bold: u32,
    italic: u32,
    strike: u32,
}

/// One conversion: the blocks so far and the one being built.
#[derive(Default)]
struct Converter {
    blocks: Vec<Block>,
    /// The inlines of the paragraph, heading, quote or list item being built.
    inlines: Vec<Inline>,
    /// Inside a link: its URL and its text runs so far.
    link: Option<(String, Vec<TextRun>)>,
    marks: Marks,
    /// Inside a list: its items so far (nested lists flatten into the outermost one).
    list: Option<(ListFormat, Vec<ListItem>)>,
    list_depth: u32,
    quote_depth: u32,
    /// Inside a code block: its language and text so far.
    code: Option<(Option<String>, String)>,
    /// Inside `![alt](image:<uuid> "caption")`: the id, the caption and the alt text so far.
    image: Option<(Uuid, String, Option<String>)>,
    heading: Option<u8>,
}

impl Converter {
    fn event(&mut self, event: Event<'_>) -> Result<(), String> {
        if self.image.is_some() {
            self.in_image(event);
            return Ok(());
        }
        if self.code.is_some() {
            self.in_code(event);
            return Ok(());
        }
        match event {
            Event::Start(tag) => self.start(tag)?,
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.push_text(&text, false),
            Event::Code(text) => self.push_text(&text, true),
            Event::SoftBreak => self.push_text(" ", false),
            Event::HardBreak => self.push_text("\n", false),
            Event::Rule => {
                self.flush();
                self.blocks.push(Block::Divider {});
            }
            _ => {}
        }
        Ok(())
    }

    /// Inside `![alt](…)` the text events are the alt text.
    fn in_image(&mut self, event: Event<'_>) {
        match event {
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, alt)) = &mut self.image {
                    alt.get_or_insert_with(String::new).push_str(&t);
                }
            }
            Event::End(TagEnd::Image) => {
                if let Some((image_id, caption, alt)) = self.image.take() {
                    self.flush();
                    self.blocks.push(Block::Image {
                        image_id,
                        alt: alt.filter(|a| !a.is_empty()),
                        caption: Some(caption).filter(|c| !c.is_empty()),
                        credit: None,
                    });
                }
            }
            _ => {}
        }
    }

    fn in_code(&mut self, event: Event<'_>) {
        match event {
            Event::Text(t) => {
                if let Some((_, text)) = &mut self.code {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((language, mut text)) = self.code.take() {
                    if text.ends_with('\n') {
                        text.pop();
                    }
                    self.blocks.push(Block::Code { language, text });
                }
            }
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) -> Result<(), String> {
        match tag {
            Tag::Heading { level, .. } => self.heading = Some(heading_level(level)),
            Tag::BlockQuote(_) => self.quote_depth += 1,
            Tag::List(start) => {
                self.list_depth += 1;
                if self.list_depth == 1 {
                    let format = if start.is_some() {
                        ListFormat::Ordered
                    } else {
                        ListFormat::Unordered
                    };
                    self.list = Some((format, Vec::new()));
                } else {
                    self.flush();
                }
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                let language = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split_whitespace()
                        .next()
                        .map(str::to_owned)
                        .filter(|l| is_code_language(l)),
                    CodeBlockKind::Indented => None,
                };
                self.code = Some((language, String::new()));
            }
            Tag::Emphasis => self.marks.italic += 1,
            Tag::Strong => self.marks.bold += 1,
            Tag::Strikethrough => self.marks.strike += 1,
            // A link with an unsafe URL keeps its text and loses the link.
            Tag::Link { dest_url, .. } if check_url(&dest_url).is_ok() => {
                self.link = Some((dest_url.to_string(), Vec::new()));
            }
            Tag::Image {
                dest_url, title, ..
            } => {
                let Some(id) = dest_url.strip_prefix("image:") else {
                    return Err(format!(
                        "image '{dest_url}' must reference the library as image:<uuid>"
                    ));
                };
                let id =
                    Uuid::parse_str(id).map_err(|_| format!("'{dest_url}' is not image:<uuid>"))?;
                self.image = Some((id, title.to_string(), None));
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                self.flush();
                self.heading = None;
            }
            TagEnd::Paragraph if self.list.is_some() => {
                // Paragraphs inside a loose list item continue the item.
                self.push_text(" ", false);
            }
            TagEnd::Paragraph | TagEnd::Item => self.flush(),
            TagEnd::BlockQuote(_) => self.quote_depth = self.quote_depth.saturating_sub(1),
            TagEnd::List(_) => {
                self.list_depth = self.list_depth.saturating_sub(1);
                if self.list_depth == 0 {
                    self.flush();
                    if let Some((format, children)) =
                        self.list.take().filter(|(_, items)| !items.is_empty())
                    {
                        self.blocks.push(Block::List { format, children });
                    }
                }
            }
            TagEnd::Emphasis => self.marks.italic = self.marks.italic.saturating_sub(1),
            TagEnd::Strong => self.marks.bold = self.marks.bold.saturating_sub(1),
            TagEnd::Strikethrough => self.marks.strike = self.marks.strike.saturating_sub(1),
            TagEnd::Link => {
                if let Some((url, children)) = self.link.take() {
                    let children = merge_text_runs(children);
                    if !children.is_empty() {
                        self.inlines.push(Inline::Link { url, children });
                    }
                }
            }
            _ => {}
        }
    }

    fn push_text(&mut self, text: &str, code: bool) {
        let run = TextRunFields {
            text: text.to_owned(),
            bold: self.marks.bold > 0,
            italic: self.marks.italic > 0,
            strikethrough: self.marks.strike > 0,
            code,
            underline: false,
        };
        match &mut self.link {
            Some((_, runs)) => runs.push(TextRun::Text(run)),
            None => self.inlines.push(Inline::Text(run)),
        }
    }

    /// Ends the current run of inlines as a list item, heading, quote or paragraph.
    fn flush(&mut self) {
        let children = merge_runs(std::mem::take(&mut self.inlines));
        if children.is_empty() {
            return;
        }
        if let Some((_, items)) = &mut self.list {
            items.push(ListItem::ListItem { children });
        } else if let Some(level) = self.heading {
            self.blocks.push(Block::Heading { level, children });
        } else if self.quote_depth > 0 {
            self.blocks.push(Block::Quote { children });
        } else {
            self.blocks.push(Block::Paragraph { children });
        }
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
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
