//! The HTTP toolkit every resource shares: problem responses, extractors, pagination, caching
//! and the live cache, request ids, the OpenAPI refinements, serving. It knows no domain: the
//! app is assembled from it in `crate::app`.

mod connection;
pub mod error;
pub mod extract;
pub mod fields;
mod healthcheck;
pub mod live_cache;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod patch;
pub mod request_id;
pub mod route_policy;
mod serve;
pub mod strict;

pub use connection::Limits as ConnectionLimits;
pub use healthcheck::healthcheck;
pub use serve::{ServeLimits, serve, shutdown_signal};
