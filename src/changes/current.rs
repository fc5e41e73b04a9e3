//! The current state that a feed without a cursor starts with, kind after kind, each kind in
//! id order; and the live bodies that `include=body` adds to article changes.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{
    cursor::Cursor,
    feed::{Change, EntryType},
    outbox::{ObjectType, Op},
};
use crate::{
    app::AppState,
    articles::model::ArticleStatus,
    http::error::{ApiError, ApiResult},
};

/// An object as it is now.
pub struct Current {
    pub kind: EntryType,
    pub id: Uuid,
    pub slug: Option<String>,
    pub at: DateTime<Utc>,
    /// The public shape (JSON text); `None` for working copies.
    pub object: Option<String>,
    /// Working copies only.
    pub status: Option<ArticleStatus>,
    pub version: Option<i32>,
}

impl Current {
    /// An author, tag or image as the public sees it.
    pub fn public(
        kind: EntryType,
        id: Uuid,
        slug: Option<String>,
        at: DateTime<Utc>,
        object: &impl serde::Serialize,
    ) -> sqlx::Result<Self> {
        Ok(Self {
            kind,
            id,
            slug,
            at,
            object: Some(serde_json::to_string(object).map_err(|e| sqlx::Error::Encode(e.into()))?),
            status: None,
            version: None,
        })
    }

    pub fn into_change(self, cursor: Cursor) -> ApiResult<Change> {
        let object = self
            .object
            .map(RawValue::from_string)
            .transpose()
            .map_err(|e| ApiError::Internal(e.into()))?;
        let purge_keys = match self.kind {
            EntryType::Article => vec![ObjectType::Article.key(self.id)],
            EntryType::Author => vec![ObjectType::Author.key(self.id)],
            EntryType::Tag => vec![ObjectType::Tag.key(self.id)],
            EntryType::Image => vec![ObjectType::Image.key(self.id)],
            EntryType::ArticleWorking => Vec::new(),
        };
        Ok(Change {
            cursor: cursor.encode(),
            at: self.at,
            op: Op::Upsert,
            kind: self.kind,
            id: self.id,
            slug: self.slug,
            event: None,
            status: self.status,
            version: self.version,
            object,
            purge_keys,
        })
    }
}

/// The kinds of the initial state, in the order given out (a cursor holds the index).
pub fn kinds(working: bool) -> &'static [EntryType] {
    const PUBLIC: &[EntryType] = &[
        EntryType::Article,
        EntryType::Author,
        EntryType::Tag,
        EntryType::Image,
    ];
    const WORKING: &[EntryType] = &[
        EntryType::Article,
        EntryType::Author,
        EntryType::Tag,
        EntryType::Image,
        EntryType::ArticleWorking,
    ];
    if working { WORKING } else { PUBLIC }
}

/// Up to `limit` objects of `kind` with ids after `after`.
pub async fn page(
    state: &AppState,
    kind: EntryType,
    after: Uuid,
    limit: usize,
    body: bool,
) -> ApiResult<Vec<Current>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(match kind {
        EntryType::Article => {
            crate::articles::live::current_page(&state.db, after, limit, body).await?
        }
        EntryType::ArticleWorking => {
            crate::articles::store::working_page(&state.db, after, limit).await?
        }
        EntryType::Author => crate::authors::current_page(state, after, limit).await?,
        EntryType::Tag => crate::tags::current_page(&state.db, after, limit).await?,
        EntryType::Image => crate::images::current_page(state, after, limit).await?,
    })
}

/// Gives article upserts the live document (with body) of articles still live; one query.
pub async fn with_bodies(state: &AppState, changes: &mut [Change]) -> ApiResult<()> {
    let wanted = |c: &Change| c.kind == EntryType::Article && c.op == Op::Upsert;
    let ids: Vec<Uuid> = changes.iter().filter(|c| wanted(c)).map(|c| c.id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let documents: std::collections::HashMap<Uuid, String> =
        crate::articles::live::documents(&state.db, &ids)
            .await?
            .into_iter()
            .collect();
    for change in changes.iter_mut().filter(|c| wanted(c)) {
        if let Some(document) = documents.get(&change.id) {
            change.object = Some(
                RawValue::from_string(document.clone())
                    .map_err(|e| ApiError::Internal(e.into()))?,
            );
        }
    }
    Ok(())
}
