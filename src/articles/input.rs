//! Turning a request into an article: new drafts, text fields, the body (blocks or
//! Markdown), validated.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    body,
    model::{ArticleData, ArticleStatus, BannerInput, RefInput, Seo, UpdateArticle},
    now,
    transfer::ArticleLine,
};
use crate::{
    http::{
        error::{ApiResult, FieldError},
        patch::Patch,
    },
    validate::Validator,
};

/// A new draft with nothing in it yet.
pub(super) fn new_article(created_by: Option<Uuid>, now: DateTime<Utc>) -> ArticleData {
    ArticleData {
        id: Uuid::now_v7(),
        slug: String::new(),
        status: ArticleStatus::Draft,
        title: String::new(),
        subtitle: None,
        excerpt: None,
        derived_excerpt: None,
        body: Vec::new(),
        banner_image_id: None,
        banner_caption: None,
        banner_credit: None,
        featured: false,
        language: "en".into(),
        seo: Seo::default(),
        external_id: None,
        word_count: 0,
        reading_time_minutes: 0,
        created_by,
        published_at: None,
        scheduled_at: None,
        version: 1,
        live_version: None,
        created_at: now,
        updated_at: now,
        author_ids: Vec::new(),
        tag_ids: Vec::new(),
    }
}

pub(super) fn valid_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && tag.len() <= 35
}

/// The plain fields create and update share; `None`/`Missing` leaves a field as it is.
pub(super) struct TextFields {
    pub(super) title: Option<String>,
    pub(super) subtitle: Patch<String>,
    pub(super) excerpt: Patch<String>,
    pub(super) language: Option<String>,
    pub(super) seo: Patch<Seo>,
    pub(super) external_id: Patch<String>,
}

impl TextFields {
    /// The fields of a new article (a create, an import line): what is absent stays unset.
    pub(super) fn of_new(
        title: String,
        subtitle: Option<String>,
        excerpt: Option<String>,
        language: Option<String>,
        seo: Option<Seo>,
        external_id: Option<String>,
    ) -> Self {
        let given = |value: Option<String>| value.map_or(Patch::Missing, Patch::Value);
        Self {
            title: Some(title),
            subtitle: given(subtitle),
            excerpt: given(excerpt),
            language,
            seo: seo.map_or(Patch::Missing, Patch::Value),
            external_id: given(external_id),
        }
    }
}

/// Validates `fields` and applies them onto `data`.
pub(super) fn apply_text_fields(v: &mut Validator, data: &mut ArticleData, fields: TextFields) {
    let TextFields {
        title,
        subtitle,
        excerpt,
        language,
        seo,
        external_id,
    } = fields;
    if let Some(title) = title {
        data.title = v.text("title", &title, 300);
    }
    data.subtitle = subtitle
        .map_nullable(|s| v.optional_text("subtitle", Some(s), 500))
        .apply(data.subtitle.take());
    data.excerpt = excerpt
        .map_nullable(|s| v.optional_text("excerpt", Some(s), 1000))
        .apply(data.excerpt.take());
    if let Some(language) = language {
        let language = language.trim().to_owned();
        if !valid_language(&language) {
            v.error(
                "language",
                "must be a BCP 47 language tag such as en or zh-Hans",
            );
        }
        data.language = language;
    }
    if let Patch::Value(seo) = &seo {
        let seo = Seo {
            title: v.optional_text("seo.title", seo.title.clone(), 300),
            description: v.optional_text("seo.description", seo.description.clone(), 1000),
            canonical_url: seo
                .canonical_url
                .clone()
                .filter(|u| !u.trim().is_empty())
                .map(|u| v.web_url("seo.canonical_url", &u)),
        };
        data.seo = seo;
    } else if seo == Patch::Null {
        data.seo = Seo::default();
    }
    data.external_id = external_id
        .map_nullable(|id| {
            let id = id.trim().to_owned();
            if id.is_empty() || id.chars().count() > 200 || id.chars().any(char::is_control) {
                v.error("external_id", "must be 1-200 printable characters");
            }
            Some(id)
        })
        .apply(data.external_id.take());
}

/// The body from `body` or `body_markdown` (not both), validated.
pub(super) fn take_body(
    v: &mut Validator,
    body: Option<Vec<body::Block>>,
    markdown: Option<String>,
) -> Option<Vec<body::Block>> {
    let blocks = match (body, markdown) {
        (Some(_), Some(_)) => {
            v.error(
                "body_markdown",
                "give either body or body_markdown, not both",
            );
            return None;
        }
        (Some(blocks), None) => blocks,
        (None, Some(markdown)) => match body::from_markdown(&markdown) {
            Ok(blocks) => blocks,
            Err(message) => {
                v.error("body_markdown", message);
                return None;
            }
        },
        (None, None) => return None,
    };
    body::validate(&blocks, v);
    Some(blocks)
}

pub(super) fn set_body(data: &mut ArticleData, blocks: Vec<body::Block>) {
    let metrics = body::metrics(&blocks);
    data.word_count = metrics.word_count;
    data.reading_time_minutes = metrics.reading_time_minutes;
    data.derived_excerpt = metrics.excerpt;
    data.body = blocks;
}

pub(super) fn fail_with(v: Validator, errors: Vec<FieldError>) -> ApiResult<()> {
    let mut v = v;
    for e in errors {
        v.error(e.field, e.message);
    }
    v.finish()
}

/// Applies a `PATCH` onto the working copy, validating as it goes. Authors and tags need the
/// database, so they are handed back for the caller to resolve.
pub(super) fn apply_update(
    v: &mut Validator,
    data: &mut ArticleData,
    input: UpdateArticle,
) -> (Patch<Vec<RefInput>>, Patch<Vec<RefInput>>) {
    for (field, null) in [
        ("title", input.title == Patch::Null),
        ("slug", input.slug == Patch::Null),
        ("featured", input.featured == Patch::Null),
        ("language", input.language == Patch::Null),
    ] {
        if null {
            v.error(field, "must not be null");
        }
    }
    let title = match input.title {
        Patch::Value(t) => Some(t),
        _ => None,
    };
    let language = match input.language {
        Patch::Value(l) => Some(l),
        _ => None,
    };
    apply_text_fields(
        v,
        data,
        TextFields {
            title,
            subtitle: input.subtitle,
            excerpt: input.excerpt,
            language,
            seo: input.seo,
            external_id: input.external_id,
        },
    );
    if let Patch::Value(slug) = &input.slug {
        data.slug = v.slug("slug", slug);
    }
    if let Patch::Value(featured) = input.featured {
        data.featured = featured;
    }
    let body = match input.body {
        Patch::Value(blocks) => Some(blocks),
        Patch::Null => Some(Vec::new()),
        Patch::Missing => None,
    };
    let markdown = match input.body_markdown {
        Patch::Value(m) => Some(m),
        _ => None,
    };
    if let Some(blocks) = take_body(v, body, markdown) {
        set_body(data, blocks);
    }
    match input.banner {
        Patch::Value(banner) => set_banner(v, data, banner),
        Patch::Null => {
            data.banner_image_id = None;
            data.banner_caption = None;
            data.banner_credit = None;
        }
        Patch::Missing => {}
    }
    (input.authors, input.tags)
}

/// The banner image with the caption and credit that override the image's own.
pub(super) fn set_banner(v: &mut Validator, data: &mut ArticleData, banner: BannerInput) {
    data.banner_image_id = Some(banner.image_id);
    set_banner_texts(v, data, banner.caption, banner.credit);
}

/// The banner's caption and credit, validated as an image's are.
fn set_banner_texts(
    v: &mut Validator,
    data: &mut ArticleData,
    caption: Option<String>,
    credit: Option<String>,
) {
    data.banner_caption =
        v.optional_text("banner.caption", caption, crate::images::CAPTION_MAX_CHARS);
    data.banner_credit = v.optional_text("banner.credit", credit, crate::images::CREDIT_MAX_CHARS);
}

/// What an import line describes: its working copy, validated like a create, and the authors
/// and tags it names, which the importer resolves (that needs the database).
pub(super) struct LineArticle {
    pub data: ArticleData,
    /// The line gave its own slug (kept), rather than one derived from the title.
    pub explicit_slug: bool,
    pub authors: Vec<RefInput>,
    pub tags: Vec<RefInput>,
}

/// The working copy an import line describes. `errors` are the line's earlier field errors
/// (an unknown image sha256, reported already).
pub(super) fn from_line(
    v: &mut Validator,
    line: ArticleLine,
    created_by: Option<Uuid>,
    errors: &[FieldError],
) -> LineArticle {
    let mut data = new_article(created_by, now());
    apply_text_fields(
        v,
        &mut data,
        TextFields::of_new(
            line.title,
            line.subtitle,
            line.excerpt,
            line.language,
            line.seo,
            line.external_id,
        ),
    );
    let explicit_slug = line.slug.is_some();
    data.slug = match &line.slug {
        Some(s) => v.slug("slug", s),
        None => crate::slug::SlugTable::Articles.slugify(&data.title),
    };
    if let Some(blocks) = take_body(v, line.body, line.body_markdown) {
        set_body(&mut data, blocks);
    }
    if let Some(banner) = line.banner {
        match banner.image_id {
            Some(id) => data.banner_image_id = Some(id),
            // An unknown sha256 was reported as such, and removed.
            None if !errors.iter().any(|e| e.field.starts_with("banner.")) => {
                v.error("banner.image_id", "give image_id or image_sha256")
            }
            None => {}
        }
        set_banner_texts(v, &mut data, banner.caption, banner.credit);
    }
    data.featured = line.featured.unwrap_or(false);
    // Parsed here, not by serde, so that a bad status is one field error among the line's
    // others rather than the whole line refused.
    let status = match line.status.as_deref().map(str::parse::<ArticleStatus>) {
        None => ArticleStatus::Draft,
        Some(Ok(status)) => status,
        Some(Err(_)) => {
            v.error(
                "status",
                format!("must be one of {}", ArticleStatus::allowed()),
            );
            ArticleStatus::Draft
        }
    };
    data.published_at = line
        .published_at
        .map(|at| chrono::SubsecRound::trunc_subsecs(at, 6));
    data.scheduled_at = line
        .scheduled_at
        .map(|at| chrono::SubsecRound::trunc_subsecs(at, 6));
    match status {
        ArticleStatus::Scheduled if data.scheduled_at.is_none() => {
            v.error("scheduled_at", "required for a scheduled article")
        }
        ArticleStatus::Scheduled => {}
        _ if data.scheduled_at.is_some() => {
            v.error("scheduled_at", "only a scheduled article has scheduled_at")
        }
        _ => {}
    }
    data.status = status;
    LineArticle {
        data,
        explicit_slug,
        authors: line.authors.unwrap_or_default(),
        tags: line.tags.unwrap_or_default(),
    }
}
