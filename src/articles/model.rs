//! Article shapes: what clients send, what is stored, and what the API shows.
//!
//! `ArticleData` is one copy of an article (the working copy, or the snapshot a live copy was
//! taken from) with its relations as ids. `render` turns it into the public `Article` with
//! authors, tags, banner and body images embedded.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{self, Block};
use crate::{http::patch::Patch, images::Image};

/// SEO overrides; each absent field falls back to the article's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Seo {
    #[schema(
        max_length = 300,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub title: Option<String>,
    #[schema(
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub description: Option<String>,
    #[schema(max_length = 2000, pattern = r"^(\s*|https?://[^\s/?#@.][^\s]*)$")]
    pub canonical_url: Option<String>,
}

/// An author or tag as an article names it: an id or slug of an existing one, or
/// `{"name": …, "slug"?: …}`, matched by slug and created when missing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RefInput {
    Key(String),
    New(NewRef),
}

/// By hand rather than `untagged`: serde's untagged enums buffer the input and would read
/// `NewRef` from an array by position, and their error ("data did not match any variant")
/// says nothing useful.
impl<'de> Deserialize<'de> for RefInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RefVisitor;
        impl<'de> serde::de::Visitor<'de> for RefVisitor {
            type Value = RefInput;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an id or slug, or an object {\"name\", \"slug\"?}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RefInput, E> {
                Ok(RefInput::Key(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<RefInput, E> {
                Ok(RefInput::Key(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RefInput, A::Error> {
                NewRef::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RefInput::New)
            }
        }
        deserializer.deserialize_any(RefVisitor)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRef {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    pub slug: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BannerInput {
    pub image_id: Uuid,
    /// Overrides the image's caption.
    #[schema(
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub caption: Option<String>,
    /// Overrides the image's credit ("Banner Image via AFP-JIJI.").
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub credit: Option<String>,
}

crate::db::text_enum! {
    /// Where an article is in the publishing workflow; changed only by workflow actions.
    #[derive(ToSchema)]
    pub enum ArticleStatus {
        Draft = "draft",
        InReview = "in_review",
        Scheduled = "scheduled",
        Published = "published",
        Archived = "archived",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InitialStatus {
    Draft,
    Published,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArticle {
    /// 1–300 characters.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub title: String,
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    pub slug: Option<String>,
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub subtitle: Option<String>,
    /// Derived from the first paragraph when absent.
    #[schema(
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub excerpt: Option<String>,
    /// Body blocks; or give `body_markdown` instead.
    #[schema(value_type = Option<Vec<Block>>)]
    pub body: Option<Vec<Block>>,
    /// CommonMark, converted to blocks (raw HTML dropped; images as `![alt](image:<uuid> "caption")`).
    pub body_markdown: Option<String>,
    pub banner: Option<BannerInput>,
    pub authors: Option<Vec<RefInput>>,
    pub tags: Option<Vec<RefInput>>,
    pub featured: Option<bool>,
    /// BCP 47 language tag (default `en`).
    #[schema(pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length = 35)]
    pub language: Option<String>,
    pub seo: Option<Seo>,
    /// Unique import key.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub external_id: Option<String>,
    /// `draft` (default) or `published` (author and up).
    pub status: Option<InitialStatus>,
}

/// A partial update of the working copy. Status changes go through the actions
/// (`/publish`, `/unpublish`); `status`, `published_at`, `version`, ids and timestamps are not
/// fields here, so sending them is a `422`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateArticle {
    #[schema(value_type = String, min_length = 1, max_length = 300, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    pub title: Patch<String>,
    #[schema(value_type = String, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    pub slug: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 500, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub subtitle: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 1000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub excerpt: Patch<String>,
    #[schema(value_type = Option<Vec<Block>>)]
    pub body: Patch<Vec<Block>>,
    #[schema(value_type = String)]
    pub body_markdown: Patch<String>,
    #[schema(value_type = Option<BannerInput>)]
    pub banner: Patch<BannerInput>,
    #[schema(value_type = Option<Vec<RefInput>>)]
    pub authors: Patch<Vec<RefInput>>,
    #[schema(value_type = Option<Vec<RefInput>>)]
    pub tags: Patch<Vec<RefInput>>,
    #[schema(value_type = bool)]
    pub featured: Patch<bool>,
    #[schema(value_type = String, pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length = 35)]
    pub language: Patch<String>,
    #[schema(value_type = Option<Seo>)]
    pub seo: Patch<Seo>,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    pub external_id: Patch<String>,
}

/// One copy of an article, relations by id. Serialised as a revision's snapshot (the
/// `ArticleSnapshot` schema).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ArticleSnapshot)]
pub struct ArticleData {
    pub id: Uuid,
    pub slug: String,
    pub status: ArticleStatus,
    pub title: String,
    pub subtitle: Option<String>,
    pub excerpt: Option<String>,
    pub derived_excerpt: Option<String>,
    pub body: Vec<Block>,
    pub banner_image_id: Option<Uuid>,
    pub banner_caption: Option<String>,
    pub banner_credit: Option<String>,
    pub featured: bool,
    pub language: String,
    pub seo: Seo,
    pub external_id: Option<String>,
    pub word_count: i32,
    pub reading_time_minutes: i32,
    pub created_by: Option<Uuid>,
    pub published_at: Option<DateTime<Utc>>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub live_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub author_ids: Vec<Uuid>,
    pub tag_ids: Vec<Uuid>,
}

impl ArticleData {
    /// Every image the copy shows (banner first, then body images).
    pub fn image_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.banner_image_id.into_iter().collect();
        for (id, _) in body::image_ids(&self.body) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// An author as an article shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Byline {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

/// A tag as an article shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TagRef {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Banner {
    pub image: Image,
    pub caption: Option<String>,
    pub credit: Option<String>,
}

/// What articles embed, loaded in one batch per relation for any number of articles.
#[derive(Debug, Default)]
pub struct Embeds {
    pub authors: HashMap<Uuid, Byline>,
    pub tags: HashMap<Uuid, TagRef>,
    pub images: HashMap<Uuid, Image>,
}

/// An article as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Article {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub subtitle: Option<String>,
    pub excerpt: Option<String>,
    pub status: ArticleStatus,
    /// Blocks; image blocks also carry `"image"`. Left out of lists unless `include=body`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<ShownBlock>)]
    pub body: Option<Vec<ShownBlock>>,
    /// The body as HTML, every text escaped. Left out of lists unless `include=body`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub body_html: Option<String>,
    /// The body as plain text: a paragraph a block, separated by blank lines, list items a
    /// line each, images by caption and credit. Only when asked for (`include=body_text`, or
    /// named in `fields`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    pub banner: Option<Banner>,
    pub authors: Vec<Byline>,
    pub tags: Vec<TagRef>,
    pub featured: bool,
    pub language: String,
    pub seo: Seo,
    pub word_count: i32,
    pub reading_time_minutes: i32,
    pub external_id: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
    /// The working copy differs from what the public sees.
    pub has_unpublished_changes: bool,
}

/// A block as the API shows it: an image block also carries its image. Serialised straight
/// from the block (a `serde_json::Value` in between was a sixth of an import's rendering).
/// Its schema is `Block`'s with `image` added to the image variant (see `http::openapi`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ShownBlock {
    #[serde(flatten)]
    block: Block,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Image)]
    image: Option<Image>,
}

/// Renders a copy with its embeds. A deleted author, tag or image is simply left out.
pub fn render(data: &ArticleData, embeds: &Embeds, include_body: bool) -> Article {
    let body = include_body.then(|| {
        data.body
            .iter()
            .map(|block| ShownBlock {
                image: match block {
                    Block::Image { image_id, .. } => embeds.images.get(image_id).cloned(),
                    _ => None,
                },
                block: block.clone(),
            })
            .collect()
    });
    let body_html = include_body.then(|| body::render_html(&data.body, &embeds.images));
    Article {
        id: data.id,
        slug: data.slug.clone(),
        title: data.title.clone(),
        subtitle: data.subtitle.clone(),
        excerpt: data
            .excerpt
            .clone()
            .or_else(|| data.derived_excerpt.clone()),
        status: data.status,
        body,
        body_html,
        body_text: None,
        banner: data.banner_image_id.and_then(|id| {
            embeds.images.get(&id).map(|image| Banner {
                image: image.clone(),
                caption: data.banner_caption.clone(),
                credit: data.banner_credit.clone(),
            })
        }),
        authors: data
            .author_ids
            .iter()
            .filter_map(|id| embeds.authors.get(id).cloned())
            .collect(),
        tags: data
            .tag_ids
            .iter()
            .filter_map(|id| embeds.tags.get(id).cloned())
            .collect(),
        featured: data.featured,
        language: data.language.clone(),
        seo: data.seo.clone(),
        word_count: data.word_count,
        reading_time_minutes: data.reading_time_minutes,
        external_id: data.external_id.clone(),
        published_at: data.published_at,
        scheduled_at: data.scheduled_at,
        created_at: data.created_at,
        updated_at: data.updated_at,
        version: data.version,
        has_unpublished_changes: data.status == ArticleStatus::Published
            && data.live_version.is_some_and(|live| live != data.version),
    }
}
