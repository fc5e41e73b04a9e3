//! Operational endpoints: liveness, readiness, the OpenAPI document and its reference page.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use crate::http::{error::ApiError, openapi::ApiDocs};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_health))
        .routes(routes!(get_readiness))
        .routes(routes!(get_openapi))
        .routes(routes!(get_docs))
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    status: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Status)))]
pub async fn get_health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: the database is reachable and its migrations are applied.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Status),
        (status = 503, description = "Database unreachable or not migrated", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_readiness(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    crate::db::check_ready(&state.db)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(Json(Status { status: "ready" }))
}

/// The OpenAPI 3.1 document of this API, generated from the code.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn get_openapi(Extension(docs): Extension<Arc<ApiDocs>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        docs.json.clone(),
    )
        .into_response()
}

/// A human-readable API reference, rendered from the OpenAPI document (no external assets).
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "HTML API reference", content_type = "text/html")))]
pub async fn get_docs(Extension(docs): Extension<Arc<ApiDocs>>) -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, docs.html_csp.clone())],
        Html(docs.html.clone()),
    )
        .into_response()
}
