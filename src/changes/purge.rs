//! Purge keys for CDNs (API.md §12): every anonymous read of public content names what it
//! contains in `Surrogate-Key` (space-separated, Fastly and others) and `Cache-Tag`
//! (comma-separated, Cloudflare), and every change names the keys it makes stale.

use axum::{
    http::{HeaderName, HeaderValue},
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use super::outbox::ObjectType;
use crate::articles::model::ArticleData;

pub const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
pub const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");

/// At most this many keys per response; a list then keeps its catch-all key.
pub const MAX_KEYS: usize = 64;

/// The keys of a live article's JSON: itself and what it embeds.
pub fn of_article(copy: &ArticleData) -> String {
    let mut keys = vec![ObjectType::Article.key(copy.id)];
    keys.extend(copy.author_ids.iter().map(|id| ObjectType::Author.key(*id)));
    keys.extend(copy.tag_ids.iter().map(|id| ObjectType::Tag.key(*id)));
    keys.extend(
        copy.image_ids()
            .into_iter()
            .map(|id| ObjectType::Image.key(id)),
    );
    keys.join(" ")
}

/// Collects the keys of a response, in order, without repeats, capped.
#[derive(Debug, Default)]
pub struct PurgeKeys {
    keys: Vec<String>,
    /// A list's catch-all (`articles`): kept first, so the cap never drops it.
    list: Option<&'static str>,
}

impl PurgeKeys {
    pub fn list(kind: ObjectType) -> Self {
        Self {
            keys: Vec::new(),
            list: Some(kind.list_key()),
        }
    }

    pub fn one(kind: ObjectType, id: Uuid) -> Self {
        let mut keys = Self::default();
        keys.add(kind.key(id));
        keys
    }

    pub fn add(&mut self, key: String) {
        if self.keys.len() + usize::from(self.list.is_some()) < MAX_KEYS
            && !self.keys.contains(&key)
        {
            self.keys.push(key);
        }
    }

    /// Adds stored, space-separated keys.
    pub fn add_stored(&mut self, stored: &str) {
        for key in stored.split_ascii_whitespace() {
            self.add(key.to_owned());
        }
    }

    /// The `Surrogate-Key` value; `Cache-Tag` is derived from it where responses are sent
    /// (`http::middleware::caching`).
    pub fn header(&self) -> Option<(HeaderName, HeaderValue)> {
        let all: Vec<&str> = self
            .list
            .into_iter()
            .chain(self.keys.iter().map(String::as_str))
            .collect();
        if all.is_empty() {
            return None;
        }
        HeaderValue::from_str(&all.join(" "))
            .ok()
            .map(|value| (SURROGATE_KEY, value))
    }
}

impl PurgeKeys {
    /// `body` with the `Surrogate-Key` header.
    pub fn respond(&self, body: impl IntoResponse) -> Response {
        let mut response = body.into_response();
        if let Some((name, value)) = self.header() {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// `Cache-Tag` from `Surrogate-Key`.
pub fn cache_tag(surrogate_key: &HeaderValue) -> Option<HeaderValue> {
    let text = surrogate_key.to_str().ok()?;
    HeaderValue::from_str(&text.split(' ').collect::<Vec<_>>().join(",")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_keeps_its_catch_all_under_the_cap() {
        let mut keys = PurgeKeys::list(ObjectType::Article);
        for _ in 0..100 {
            keys.add(ObjectType::Article.key(Uuid::now_v7()));
        }
        keys.add_stored("article-x article-x");
        let (_, value) = keys.header().expect("header");
        let text = value.to_str().unwrap_or_default();
        let all: Vec<&str> = text.split(' ').collect();
        assert_eq!(all.len(), MAX_KEYS);
        assert_eq!(all[0], "articles");
        let tag = cache_tag(&value).expect("cache-tag");
        assert_eq!(
            tag.to_str().unwrap_or_default().split(',').count(),
            MAX_KEYS
        );
        assert!(PurgeKeys::default().header().is_none());
    }
}
