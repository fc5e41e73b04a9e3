//! API tokens for scripts and frontends: shown once at creation, stored as a hash, listed
//! without secrets, revoked at once.

use crate::http::{extract::ListQuery, pagination::ListParams};
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Auth,
    credentials::{API_TOKEN_PREFIX, new_token},
    role::Role,
};
use crate::app::AppState;
use crate::{
    http::{
        error::{ApiError, ApiResult},
        extract::{ApiJson, PathId},
        pagination::{KeyKind, KeyValue, ListResponse, SortKey},
    },
    validate::Validator,
};

/// An API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The user who created the token; it acts on their behalf.
    pub user_id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A newly created token: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub api_token: ApiToken,
    /// The secret (`glt_…`). Store it now: it cannot be shown again.
    pub token: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TokenRow {
    id: Uuid,
    name: String,
    role: Role,
    user_id: Uuid,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<TokenRow> for ApiToken {
    fn from(row: TokenRow) -> Self {
        Self {
            role: row.role,
            id: row.id,
            name: row.name,
            user_id: row.user_id,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            created_at: row.created_at,
        }
    }
}

/// The columns of a row. A macro so that `concat!` can build static statements.
macro_rules! columns {
    () => {
        "t.id, t.name, t.role, t.user_id, t.expires_at, t.last_used_at, t.created_at"
    };
}

const COLUMNS: &str = columns!();

pub(super) static SORT_KEYS: &[SortKey<TokenRow>] = &[
    SortKey {
        name: "created_at",
        column: "t.created_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.created_at),
    },
    SortKey {
        name: "name",
        column: "t.name",
        kind: KeyKind::Text,
        value: |r| KeyValue::Text(r.name.clone()),
    },
];
static ID_KEY: SortKey<TokenRow> = SortKey {
    name: "id",
    column: "t.id",
    kind: KeyKind::Uuid,
    value: |r| KeyValue::Uuid(r.id),
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// What the token is for, e.g. "web frontend" or "nightly import".
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// At most the creator's own role.
    role: Role,
    /// Optional expiry, in the future.
    #[serde(default, deserialize_with = "crate::timestamp::optional")]
    expires_at: Option<DateTime<Utc>>,
}

/// Create an API token (its secret is in this response only).
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateApiToken,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = CreatedApiToken, headers(("location" = String)))))]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<CreateApiToken>,
) -> ApiResult<impl IntoResponse> {
    principal.require(Role::Contributor)?;
    let mut v = Validator::new();
    let name = v.text("name", &body.name, 200);
    if body.expires_at.is_some_and(|t| t <= Utc::now()) {
        v.error("expires_at", "must be in the future");
    }
    v.finish()?;
    if body.role > principal.role {
        return Err(ApiError::Forbidden(format!(
            "a token cannot have a higher role than its creator ({})",
            principal.role.as_str()
        )));
    }
    let (token, hash) = new_token(API_TOKEN_PREFIX);
    let row: TokenRow = sqlx::query_as(concat!(
        r#"
        insert into api_tokens as t (id, user_id, name, role, token_hash, expires_at)
        values ($1, $2, $3, $4, $5, $6)
        returning "#,
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(principal.user_id)
    .bind(name)
    .bind(body.role)
    .bind(hash)
    .bind(body.expires_at)
    .fetch_one(&state.db)
    .await?;
    let api_token = ApiToken::from(row);
    tracing::info!(token.id = %api_token.id, role = api_token.role.as_str(), "API token created");
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("/v1/tokens/{}", api_token.id)),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Json(CreatedApiToken { api_token, token }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTokensQuery {
    /// Admins only: the tokens of this user (default: everyone's for admins, else your own).
    user_id: Option<Uuid>,
}

/// List API tokens: your own, or (admin) anyone's. Secrets are never listed.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", params(ListParams, ListTokensQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of tokens", body = ListResponse<ApiToken>)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ListQuery(paging, query): ListQuery<ListTokensQuery>,
) -> ApiResult<Json<ListResponse<ApiToken>>> {
    principal.require(Role::Contributor)?;
    let owner = if principal.role == Role::Admin {
        query.user_id
    } else {
        if query.user_id.is_some_and(|id| id != principal.user_id) {
            return Err(ApiError::Forbidden(
                "only admins may list other users' tokens".into(),
            ));
        }
        Some(principal.user_id)
    };
    let page = paging.page_request(SORT_KEYS, "-created_at", &ID_KEY)?;
    let mut qb = sqlx::QueryBuilder::new(format!("select {COLUMNS} from api_tokens t where ("));
    qb.push_bind(owner).push("::uuid is null or t.user_id = ");
    qb.push_bind(owner).push(")");
    page.push_sql(&mut qb);
    let rows: Vec<TokenRow> = qb.build_query_as().fetch_all(&state.db).await?;
    let total: i64 = sqlx::query_scalar(
        "select count(*) from api_tokens t where ($1::uuid is null or t.user_id = $1)",
    )
    .bind(owner)
    .fetch_one(&state.db)
    .await?;
    Ok(Json(page.finish(rows, total, ApiToken::from)))
}

/// Revoke an API token: it stops working on the next request.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked")))]
pub async fn delete_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    principal.require(Role::Contributor)?;
    let is_admin = principal.role == Role::Admin;
    // Someone else's token is "not found" for a non-admin: its existence is not their business.
    let deleted = sqlx::query("delete from api_tokens where id = $1 and ($2 or user_id = $3)")
        .bind(id)
        .bind(is_admin)
        .bind(principal.user_id)
        .execute(&state.db)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(ApiError::NotFound);
    }
    tracing::info!(token.id = %id, "API token revoked");
    Ok(StatusCode::NO_CONTENT)
}
