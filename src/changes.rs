//! What changed, for those who keep in step with Galley: the outbox every write appends to in
//! its own transaction (`outbox`), and the change feed that reads it (`feed`).

pub mod current;
pub mod cursor;
pub mod feed;
pub mod outbox;
pub mod purge;
pub mod retention;
pub mod signal;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::AppState,
    http::route_policy::{Policy::Streaming, with},
};

pub fn router() -> OpenApiRouter<AppState> {
    // Streaming: a long poll may outlast the request timeout.
    OpenApiRouter::new().routes(with(Streaming, routes!(feed::list_changes)))
}
