//! Users: administration (admin only), the current user, and password changes.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    auth::{Auth, Credential},
    passwords::Passwords,
    role::Role,
};
use crate::app::AppState;
use crate::{
    http::{
        error::{ApiError, ApiResult, ConstraintErrors, FieldError, on_constraint},
        extract::{ApiJson, ApiQuery, PathId},
        middleware::check_if_match,
        pagination::{KeyKind, KeyValue, ListParams, ListResponse, SortKey},
        patch::Patch,
    },
    validate::Validator,
};

/// A user account. Never carries the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The author (byline) this user writes as.
    pub author_id: Option<Uuid>,
    pub disabled: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub author_id: Option<Uuid>,
    pub disabled: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            role: row.role,
            id: row.id,
            email: row.email,
            name: row.name,
            author_id: row.author_id,
            disabled: row.disabled,
            last_login_at: row.last_login_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The columns of a row. A macro so that `concat!` can build static statements.
macro_rules! columns {
    () => {
        "u.id, u.email, u.name, u.role, u.author_id, u.disabled, u.last_login_at, u.created_at, u.updated_at"
    };
}

const COLUMNS: &str = columns!();

const USER_CONSTRAINTS: ConstraintErrors = &[
    ("users_email_key", || {
        ApiError::Conflict("a user with this email already exists".into())
    }),
    ("users_author_id_fkey", || {
        ApiError::invalid("author_id", "no author with this id")
    }),
    ("users_author_id_key", || {
        ApiError::Conflict("this author is already linked to another user".into())
    }),
];

pub(super) static SORT_KEYS: &[SortKey<UserRow>] = &[
    SortKey {
        name: "created_at",
        column: "u.created_at",
        kind: KeyKind::Time,
        value: |r| KeyValue::Time(r.created_at),
    },
    SortKey {
        name: "email",
        column: "u.email",
        kind: KeyKind::Text,
        value: |r| KeyValue::Text(r.email.clone()),
    },
    SortKey {
        name: "name",
        column: "u.name",
        kind: KeyKind::Text,
        value: |r| KeyValue::Text(r.name.clone()),
    },
];
static ID_KEY: SortKey<UserRow> = SortKey {
    name: "id",
    column: "u.id",
    kind: KeyKind::Uuid,
    value: |r| KeyValue::Uuid(r.id),
};

pub(super) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from users u where u.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

async fn find_for_update(db: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from users u where u.id = $1 for update"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A validated new account.
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: String,
    pub author_id: Option<Uuid>,
}

/// Why a new account's input is not one.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct InvalidUser(pub Vec<FieldError>);

impl From<InvalidUser> for ApiError {
    fn from(err: InvalidUser) -> Self {
        ApiError::Validation(err.0)
    }
}

/// Why inserting a user failed.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error("no author with this id")]
    NoSuchAuthor,
    #[error("this author is already linked to another user")]
    AuthorTaken,
    #[error("hashing the password")]
    Hash(#[source] anyhow::Error),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for InsertUserError {
    fn from(err: sqlx::Error) -> Self {
        match err.as_database_error().and_then(|e| e.constraint()) {
            Some("users_email_key") => Self::EmailTaken,
            Some("users_author_id_fkey") => Self::NoSuchAuthor,
            Some("users_author_id_key") => Self::AuthorTaken,
            _ => Self::Database(err),
        }
    }
}

impl From<InsertUserError> for ApiError {
    fn from(err: InsertUserError) -> Self {
        match err {
            InsertUserError::EmailTaken | InsertUserError::AuthorTaken => {
                ApiError::Conflict(err.to_string())
            }
            InsertUserError::NoSuchAuthor => ApiError::invalid("author_id", err.to_string()),
            InsertUserError::Hash(err) => ApiError::Internal(err),
            InsertUserError::Database(err) => err.into(),
        }
    }
}

impl NewUser {
    /// Validates raw input (API body or CLI flags) into a new account.
    pub fn parse(
        email: &str,
        name: &str,
        role: Role,
        password: String,
        author_id: Option<Uuid>,
    ) -> Result<Self, InvalidUser> {
        let mut v = Validator::new();
        let email = v.email("email", email);
        let name = v.text("name", name, 200);
        check_role(&mut v, role);
        if let Err(message) = Passwords::check_policy(&password) {
            v.error("password", message);
        }
        let errors = v.into_errors();
        if !errors.is_empty() {
            return Err(InvalidUser(errors));
        }
        Ok(Self {
            email,
            name,
            role,
            password,
            author_id,
        })
    }
}

/// Inserts a user, hashing the password. Used by the API, the CLI and the bootstrap admin.
pub async fn insert_user(
    db: impl PgExecutor<'_>,
    passwords: &Passwords,
    new: NewUser,
) -> Result<User, InsertUserError> {
    let hash = passwords
        .hash(new.password)
        .await
        .map_err(InsertUserError::Hash)?;
    let row: UserRow = sqlx::query_as(concat!(
        r#"
        insert into users as u (id, email, name, role, password_hash, author_id)
        values ($1, $2, $3, $4, $5, $6)
        returning "#,
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(&new.email)
    .bind(&new.name)
    .bind(new.role)
    .bind(hash)
    .bind(new.author_id)
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

/// List users. Sort keys: `created_at` (default `-created_at`), `email`, `name`.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of users", body = ListResponse<User>)))]
pub async fn list_users(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<User>>> {
    principal.require(Role::Admin)?;
    let page = params.page_request(SORT_KEYS, "-created_at", &ID_KEY)?;
    let (rows, total) = page
        .fetch(
            &state.db,
            format!("select {COLUMNS} from users u where true"),
            "select count(*) from users",
        )
        .await?;
    Ok(Json(page.finish(rows, total, User::from)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(format = Email, max_length = 320)]
    email: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    role: Role,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 512)]
    password: String,
    author_id: Option<Uuid>,
}

/// Create a user.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = User, headers(("location" = String))),
        (status = 409, description = "Email taken, or author linked to another user", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<impl IntoResponse> {
    principal.require(Role::Admin)?;
    let new = NewUser::parse(
        &body.email,
        &body.name,
        body.role,
        body.password,
        body.author_id,
    )?;
    let user = insert_user(&state.db, &state.passwords, new).await?;
    tracing::info!(user.id = %user.id, role = user.role.as_str(), "user created");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/users/{}", user.id))],
        Json(user),
    ))
}

/// Get a user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The user", body = User)))]
pub async fn get_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
) -> ApiResult<Json<User>> {
    principal.require(Role::Admin)?;
    let row = find(&state.db, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(row.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateUser {
    #[schema(value_type = String, format = Email, max_length = 320)]
    email: Patch<String>,
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    name: Patch<String>,
    #[schema(value_type = Role)]
    role: Patch<Role>,
    /// Disabling signs the user out everywhere and revokes their API tokens.
    #[schema(value_type = bool)]
    disabled: Patch<bool>,
    /// `null` unlinks the byline.
    #[schema(value_type = Option<Uuid>)]
    author_id: Patch<Uuid>,
    /// Sets a new password and signs the user out everywhere.
    #[schema(value_type = String, min_length = 8, max_length = 512)]
    password: Patch<String>,
}

/// Users are people: the reader role is for API tokens.
fn check_role(v: &mut Validator, role: Role) {
    if role == Role::Reader {
        v.error(
            "role",
            "reader is for API tokens; a user is at least a contributor",
        );
    }
}

/// `409` when demoting or disabling `current` would leave no active admin.
async fn keep_an_active_admin(
    tx: &mut sqlx::PgConnection,
    current: &UserRow,
    role: Role,
    disabled: bool,
) -> ApiResult<()> {
    let was_active_admin = current.role == Role::Admin && !current.disabled;
    if !was_active_admin || (role == Role::Admin && !disabled) {
        return Ok(());
    }
    // Serialised by the row lock on this user plus this count: two admins demoting each
    // other at once both see the other still active, so take a table-level guard too.
    sqlx::query("lock table users in share row exclusive mode")
        .execute(&mut *tx)
        .await?;
    let other_admins: i64 = sqlx::query_scalar(
        "select count(*) from users where role = $2 and not disabled and id <> $1",
    )
    .bind(current.id)
    .bind(Role::Admin)
    .fetch_one(&mut *tx)
    .await?;
    if other_admins == 0 {
        return Err(ApiError::Conflict(
            "this would leave no active admin; promote another user first".into(),
        ));
    }
    Ok(())
}

/// Update a user: email, name, role, disabled, byline, password.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = Uuid, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated user", body = User),
        (status = 409, description = "Email taken, or the change would leave no active admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<User>> {
    principal.require(Role::Admin)?;
    let mut v = Validator::new();
    v.not_null("email", &body.email);
    v.not_null("name", &body.name);
    v.not_null("role", &body.role);
    v.not_null("disabled", &body.disabled);
    v.not_null("password", &body.password);
    let email = body.email.map(|e| v.email("email", &e));
    let name = body.name.map(|n| v.text("name", &n, 200));
    if let Patch::Value(role) = body.role {
        check_role(&mut v, role);
    }
    if let Patch::Value(password) = &body.password
        && let Err(message) = Passwords::check_policy(password)
    {
        v.error("password", message);
    }
    v.finish()?;

    let password_hash = match body.password {
        Patch::Value(password) => Some(state.passwords.hash(password).await?),
        _ => None,
    };

    let mut tx = state.db.begin().await?;
    let current = find_for_update(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    check_if_match(&headers, &User::from(current.clone()))?;

    let role = match body.role {
        Patch::Value(role) => role,
        _ => current.role,
    };
    let disabled = match body.disabled {
        Patch::Value(d) => d,
        _ => current.disabled,
    };
    keep_an_active_admin(&mut tx, &current, role, disabled).await?;
    if disabled && id == principal.user_id {
        return Err(ApiError::Conflict(
            "you cannot disable your own account".into(),
        ));
    }

    let row: UserRow = sqlx::query_as(concat!(
        r#"
        update users as u set
            email = $2, name = $3, role = $4, disabled = $5, author_id = $6,
            password_hash = coalesce($7, password_hash), updated_at = now()
        where u.id = $1
        returning "#,
        columns!()
    ))
    .bind(id)
    .bind(match email {
        Patch::Value(e) => e,
        _ => current.email.clone(),
    })
    .bind(match name {
        Patch::Value(n) => n,
        _ => current.name.clone(),
    })
    .bind(role)
    .bind(disabled)
    .bind(body.author_id.apply(current.author_id))
    .bind(&password_hash)
    .fetch_one(&mut *tx)
    .await
    .map_err(|err| on_constraint(err, USER_CONSTRAINTS))?;

    if disabled || password_hash.is_some() {
        sqlx::query("delete from sessions where user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if disabled && !current.disabled {
        sqlx::query("delete from api_tokens where user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(user.id = %id, "user updated");
    Ok(Json(row.into()))
}

/// The signed-in user.
#[utoipa::path(get, path = "/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's account", body = User)))]
pub async fn get_me(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<User>> {
    let row = find(&state.db, principal.user_id)
        .await?
        .ok_or(ApiError::Unauthorized(
            "the token is invalid, expired or revoked",
        ))?;
    Ok(Json(row.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 512)]
    new_password: String,
}

/// Change the caller's password; signs out every other session.
#[utoipa::path(post, path = "/v1/me/password", tag = "auth", request_body = ChangePassword,
    security(("bearer" = [])),
    responses((status = 204, description = "Changed; other sessions are signed out")))]
pub async fn change_password(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    let stored: Option<String> =
        sqlx::query_scalar("select password_hash from users where id = $1")
            .bind(principal.user_id)
            .fetch_optional(&state.db)
            .await?;
    let mut v = Validator::new();
    if let Err(message) = Passwords::check_policy(&body.new_password) {
        v.error("new_password", message);
    }
    if !state
        .passwords
        .verify(body.current_password, stored)
        .await?
    {
        v.error("current_password", "is not the current password");
    }
    v.finish()?;
    let hash = state.passwords.hash(body.new_password).await?;
    let keep_session = match principal.credential {
        Credential::Session(id) => Some(id),
        Credential::ApiToken(_) => None,
    };
    let mut tx = state.db.begin().await?;
    sqlx::query("update users set password_hash = $2, updated_at = now() where id = $1")
        .bind(principal.user_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from sessions where user_id = $1 and id is distinct from $2")
        .bind(principal.user_id)
        .bind(keep_session)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(user.id = %principal.user_id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}
