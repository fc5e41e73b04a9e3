//! Every article as NDJSON, streamed page by page.

// The line types and limits of the import, shared by its parts.
use super::*;

use axum::body::Bytes;
use futures_util::Stream;
use serde_json::Value;
use uuid::Uuid;

use super::super::{
    ArticleData,
    model::{Embeds, RefInput},
    store,
};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

/// Articles exported per statement batch.
pub(super) const EXPORT_PAGE: i64 = 200;

/// Every article as NDJSON lines, in creation order, one page of articles at a time.
pub fn export(state: AppState) -> impl Stream<Item = ApiResult<Bytes>> {
    futures_util::stream::try_unfold(Some(Uuid::nil()), move |after| {
        let state = state.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let page = store::page_after(&state.db, after, EXPORT_PAGE).await?;
            let Some(last) = page.last().map(|data| data.id) else {
                return Ok(None);
            };
            let mut conn = state.db.acquire().await?;
            let refs: Vec<&ArticleData> = page.iter().collect();
            let embeds = store::embeds(&mut conn, &state.media, &refs).await?;
            let mut out = Vec::with_capacity(page.len() * 8192);
            for data in &page {
                serde_json::to_writer(&mut out, &export_line(data, &embeds)?)
                    .map_err(|e| ApiError::Internal(e.into()))?;
                out.push(b'\n');
            }
            let next = (page.len() as i64 == EXPORT_PAGE).then_some(last);
            Ok(Some((Bytes::from(out), next)))
        }
    })
}

/// The line of one article; image blocks name their image by `image_sha256`.
pub(super) fn export_line(data: &ArticleData, embeds: &Embeds) -> ApiResult<Value> {
    let sha = |id: Uuid| embeds.images.get(&id).map(|image| image.sha256.clone());
    let mut body = serde_json::to_value(&data.body).map_err(|e| ApiError::Internal(e.into()))?;
    if let Value::Array(blocks) = &mut body {
        for block in blocks {
            let Some(block) = block.as_object_mut() else {
                continue;
            };
            let Some(id) = block
                .get("image_id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            if let Some(sha) = sha(id) {
                block.remove("image_id");
                block.insert("image_sha256".into(), Value::String(sha));
            }
        }
    }
    let refs = |ids: &[Uuid], names: &dyn Fn(&Uuid) -> Option<(String, String)>| -> Vec<RefInput> {
        ids.iter()
            .filter_map(names)
            .map(|(name, slug)| {
                RefInput::New(super::super::model::NewRef {
                    name,
                    slug: Some(slug),
                })
            })
            .collect()
    };
    let line = ArticleLine {
        title: data.title.clone(),
        slug: Some(data.slug.clone()),
        subtitle: data.subtitle.clone(),
        excerpt: data.excerpt.clone(),
        body: None,
        body_markdown: None,
        banner: data.banner_image_id.map(|id| LineBanner {
            image_id: None,
            image_sha256: sha(id),
            caption: data.banner_caption.clone(),
            credit: data.banner_credit.clone(),
        }),
        authors: Some(refs(&data.author_ids, &|id| {
            embeds
                .authors
                .get(id)
                .map(|a| (a.name.clone(), a.slug.clone()))
        })),
        tags: Some(refs(&data.tag_ids, &|id| {
            embeds
                .tags
                .get(id)
                .map(|t| (t.name.clone(), t.slug.clone()))
        })),
        featured: Some(data.featured),
        language: Some(data.language.clone()),
        seo: Some(data.seo.clone()),
        external_id: data.external_id.clone(),
        status: Some(data.status.as_str().to_owned()),
        published_at: data.published_at,
        scheduled_at: data.scheduled_at,
    };
    let mut line = serde_json::to_value(line).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(object) = line.as_object_mut() {
        object.insert("body".into(), body);
    }
    Ok(line)
}
