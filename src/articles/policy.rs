//! Who may do what to an article: their own, their drafts, publishing.

use super::model::{ArticleData, ArticleStatus};
use crate::{
    accounts::{auth::Principal, role::Role},
    http::error::{ApiError, ApiResult},
};

/// Whose article this is, for contributors and authors: created by them, or bylined with the
/// author linked to their user.
pub(super) fn is_own(principal: &Principal, data: &ArticleData) -> bool {
    data.created_by == Some(principal.user_id)
        || principal
            .author_id
            .is_some_and(|id| data.author_ids.contains(&id))
}

/// Editors edit everything; authors their own articles; contributors their own drafts.
pub(super) fn require_edit(principal: &Principal, data: &ArticleData) -> ApiResult<()> {
    principal.require(Role::Contributor)?;
    let allowed = principal.role >= Role::Editor
        || (is_own(principal, data)
            && (principal.role >= Role::Author
                || matches!(data.status, ArticleStatus::Draft | ArticleStatus::InReview)));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "you may edit only your own drafts".into(),
        ))
    }
}

/// Publishing: editors for any article, authors for their own.
pub(super) fn require_publish(principal: &Principal, data: &ArticleData) -> ApiResult<()> {
    principal.require(Role::Author)?;
    if principal.role >= Role::Editor || is_own(principal, data) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "authors may publish only their own articles".into(),
        ))
    }
}
