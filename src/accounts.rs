//! Accounts and access: users, roles, sessions, API tokens, and the extractors that tell
//! handlers who is calling.

pub mod api_tokens;
pub mod auth;
pub mod credentials;
pub mod passwords;
pub mod role;
pub mod session_cookie;
pub mod sessions;
pub mod users;

use anyhow::Context;

use crate::{http::pagination::document_sort_keys, idempotency::once};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::AppState,
    http::route_policy::{Policy::PrivateWrite, with},
};

pub fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(with(PrivateWrite, routes!(sessions::login)))
        .routes(with(PrivateWrite, routes!(sessions::logout)))
        .routes(routes!(users::get_me))
        .routes(routes!(users::change_password))
        .routes(once(routes!(users::list_users, users::create_user)))
        .routes(routes!(users::get_user, users::update_user))
        .routes(once(routes!(
            api_tokens::list_tokens,
            api_tokens::create_token
        )))
        .routes(routes!(api_tokens::delete_token));
    let router = document_sort_keys(router, "/v1/users", users::SORT_KEYS);
    document_sort_keys(router, "/v1/tokens", api_tokens::SORT_KEYS)
}

/// Creates the configured first admin when the database has no user yet.
/// Safe with several processes starting at once: the loser of the race sees the email taken.
pub async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let Some(admin) = &state.config.bootstrap_admin else {
        return Ok(());
    };
    let any_user: bool = sqlx::query_scalar("select exists (select 1 from users)")
        .fetch_one(&state.db)
        .await?;
    if any_user {
        return Ok(());
    }
    let new = users::NewUser::parse(
        &admin.email,
        &admin.name,
        role::Role::Admin,
        admin.password.clone(),
        None,
    )
    .context("the bootstrap admin (GALLEY_BOOTSTRAP_ADMIN_EMAIL, _PASSWORD, _NAME)")?;
    match users::insert_user(&state.db, &state.passwords, new).await {
        Ok(user) => {
            tracing::info!(user.id = %user.id, "bootstrap admin created");
            Ok(())
        }
        // Another process starting at the same time created it.
        Err(users::InsertUserError::EmailTaken) => Ok(()),
        Err(err) => Err(anyhow::Error::new(err).context("creating the bootstrap admin")),
    }
}
