use std::collections::HashMap;

use super::*;
use crate::validate::Validator;

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
        plaintext(&blocks),
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
