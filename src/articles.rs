//! Articles: the heart of the CMS.
//!
//! An article has a working copy (what editors edit) and, once published, a live copy: a
//! snapshot the public reads, stored with its JSON already rendered. Editing a published
//! article changes only the working copy until it is published again. The public never sees
//! anything else: anonymous reads are served from the live copies only.
//!
//! Submodules: `handlers` (one article), `listing` (lists, filters, search), `input` (a request
//! or import line made into an article), `policy` (who may), `workflow` (actions, scheduler,
//! preview), `history` (revisions and events), `transfer` (NDJSON import and export), `body`
//! (blocks, HTML, Markdown, text), `search` (CJK-aware terms), `model` (shapes), `store` (SQL).

pub mod body;
mod handlers;
pub mod history;
mod input;
mod listing;
pub mod model;
mod policy;
pub mod search;
pub mod shape;
pub mod store;
pub mod transfer;
pub mod workflow;

/// The live copies, as other domains reach them: when an author, tag or image changes, the live
/// copies that embed it are rendered again through here.
pub use self::store::live;

use chrono::{DateTime, Utc};
use utoipa_axum::{router::OpenApiRouter, routes};

use self::model::ArticleData;
use crate::app::AppState;
use crate::{
    http::{
        pagination::document_sort_keys,
        route_policy::{
            Policy::{PublicRead, Streaming},
            with,
        },
    },
    idempotency::{BodyLimit, once, once_with},
};

pub use self::handlers::{GetArticleQuery, View};
use self::{
    handlers::present,
    input::{
        TextFields, apply_text_fields, apply_update, fail_with, new_article, set_banner, set_body,
        take_body,
    },
    listing::LIVE_SEARCH_SORT_KEYS,
    policy::{require_edit, require_publish},
};

pub fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(once(with(
            PublicRead,
            routes!(listing::list_articles, handlers::create_article),
        )))
        .routes(with(
            PublicRead,
            routes!(
                handlers::get_article,
                handlers::update_article,
                handlers::delete_article
            ),
        ))
        .routes(once(routes!(workflow::run_action)))
        .routes(once(routes!(workflow::create_preview)))
        .routes(routes!(history::list_revisions))
        .routes(routes!(history::get_revision))
        .routes(once(routes!(history::restore_revision)))
        .routes(with(
            Streaming,
            once_with(routes!(transfer::import_articles), BodyLimit::None),
        ))
        .routes(with(Streaming, routes!(transfer::export_articles)));
    // Live and working lists sort by the same keys (`rank` with `q` only).
    let router = document_sort_keys(router, "/v1/articles", LIVE_SEARCH_SORT_KEYS);
    document_sort_keys(
        router,
        "/v1/articles/{id}/revisions",
        std::slice::from_ref(&history::NUMBER),
    )
}

/// The current time at PostgreSQL's precision (microseconds), so that a copy held in memory
/// equals the same copy read back: snapshots compare equal, responses agree with later reads.
fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}
