//! What a write of an article can fail on besides the database itself: values another row
//! holds (a slug, an external id) and images deleted meanwhile. The handler makes each an HTTP
//! problem (`From<StoreError> for ApiError`); the import reports it on its line.

use crate::http::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("slug '{0}' is taken")]
    SlugTaken(String),
    #[error("a published article already has this slug")]
    LiveSlugTaken,
    #[error("another article has this external_id")]
    ExternalIdTaken,
    #[error("no image with this id")]
    BannerImageMissing,
    #[error("an image used in the body no longer exists")]
    BodyImageMissing,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// A saved working copy's constraint violations, by constraint name.
    pub(super) fn from_save(err: sqlx::Error) -> Self {
        match err.as_database_error().and_then(|e| e.constraint()) {
            Some("articles_external_id_key") => Self::ExternalIdTaken,
            Some("articles_banner_image_id_fkey") => Self::BannerImageMissing,
            Some("article_body_images_image_id_fkey") => Self::BodyImageMissing,
            _ => Self::Database(err),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::SlugTaken(_) | StoreError::LiveSlugTaken | StoreError::ExternalIdTaken => {
                ApiError::Conflict(err.to_string())
            }
            StoreError::BannerImageMissing => ApiError::invalid("banner.image_id", err.to_string()),
            StoreError::BodyImageMissing => ApiError::invalid("body", err.to_string()),
            StoreError::Database(err) => err.into(),
        }
    }
}
