//! Every route of the API: the resources' routers merged under one OpenAPI document, so a
//! route cannot exist without its documentation.

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use super::AppState;
use crate::http::{
    openapi::{ApiDocs, FieldError, ListMeta, Problem},
    route_policy::RoutePolicies,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Galley",
        description = "Headless CMS for publications. Errors are RFC 9457 problem documents \
                       (application/problem+json). Lists are {\"data\": [...], \"meta\": {...}}.",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(
        Problem,
        FieldError,
        ListMeta,
        crate::articles::View,
        crate::articles::workflow::Action,
        crate::articles::model::ArticleStatus,
        crate::changes::feed::FeedView,
    )),
    tags(
        (name = "operations", description = "Health, readiness and this document"),
        (name = "auth", description = "Sign in and out, the current user"),
        (name = "users", description = "User administration (admin)"),
        (name = "tokens", description = "API tokens for scripts and frontends"),
        (name = "authors", description = "Bylines"),
        (name = "tags", description = "Topics such as Olympics or Music"),
        (name = "images", description = "The image library and media files"),
        (name = "articles", description = "Articles: working copies, live copies, publishing"),
        (name = "revisions", description = "Every change to an article, numbered, with its snapshot"),
        (name = "import", description = "NDJSON import and export of articles"),
        (name = "changes", description = "The change feed: the current state, then every change"),
        (name = "webhooks", description = "Signed event deliveries to your URLs (admin)"),
    )
)]
struct ApiDoc;

/// Every route of the API, each registered together with its OpenAPI operation.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::ops::router())
        .merge(crate::accounts::router())
        .merge(crate::authors::router())
        .merge(crate::tags::router())
        .merge(crate::images::router())
        .merge(crate::articles::router())
        .merge(crate::changes::router())
        .merge(crate::webhooks::router())
}

/// The routes, their OpenAPI document (route policies taken out) and the policies.
pub fn split() -> (Router<AppState>, utoipa::openapi::OpenApi, RoutePolicies) {
    let (router, mut doc) = api_router().split_for_parts();
    let policies = RoutePolicies::take(&mut doc);
    (router, doc, policies)
}

/// The OpenAPI document and reference page exactly as served.
pub fn document() -> serde_json::Result<ApiDocs> {
    let (_, doc, _) = split();
    ApiDocs::build(doc)
}
