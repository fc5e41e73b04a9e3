//! The SQL of articles: working copies with their relations, the live copy with its rendered
//! JSON, and the published-article counts of authors and tags.
//!
//! `rows` (columns and finders), `refs` (authors and tags referred to), `write` (saving working
//! copies), `live` (the live copy, and the entry point for other domains).

mod error;
pub mod live;
mod refs;
mod rows;
mod write;

pub use self::{
    error::{StoreError, StoreResult},
    live::{Embedded, drop_tag_from_live, put_live, put_live_many, remove_live, rerender_live},
    refs::{RefCache, RefKind, all_cached, missing_images, missing_relations, resolve_refs},
    rows::{
        ArticleRow, COLUMNS, COLUMNS_WITHOUT_BODY, Key, embeds, find, find_by, find_many_by,
        page_after, working_page,
    },
    write::{insert, insert_many, update, update_many},
};
