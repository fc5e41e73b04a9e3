//! Roles, ordered by what they may do: each role may everything the one before it may.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads published content when public reading is off (API tokens only).
    Reader,
    /// Creates articles and edits their own drafts.
    Contributor,
    /// Also publishes their own articles and uploads images.
    Author,
    /// Also every article, authors, tags, images, import/export.
    Editor,
    /// Also users, everyone's API tokens, settings.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Contributor => "contributor",
            Self::Author => "author",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }

    /// Reads a role stored by this application; anything else is a corrupted row.
    pub fn from_db(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "reader" => Self::Reader,
            "contributor" => Self::Contributor,
            "author" => Self::Author,
            "editor" => Self::Editor,
            "admin" => Self::Admin,
            other => anyhow::bail!("unknown role '{other}' in the database"),
        })
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        Self::from_db(value).map_err(|_| {
            format!("'{value}' is not one of: reader, contributor, author, editor, admin")
        })
    }
}
