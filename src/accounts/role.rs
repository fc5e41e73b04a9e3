//! Roles, ordered by what they may do: each role may everything the one before it may.

use utoipa::ToSchema;

crate::db::text_enum! {
    #[derive(PartialOrd, Ord, ToSchema)]
    pub enum Role {
        /// Reads published content when public reading is off (API tokens only).
        Reader = "reader",
        /// Creates articles and edits their own drafts.
        Contributor = "contributor",
        /// Also publishes their own articles and uploads images.
        Author = "author",
        /// Also every article, authors, tags, images, import/export.
        Editor = "editor",
        /// Also users, everyone's API tokens, settings.
        Admin = "admin",
    }
}
