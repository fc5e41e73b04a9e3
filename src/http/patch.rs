//! `Patch<T>`: the three states of a field in a partial update.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A PATCH field: absent (leave it), `null` (clear it) or a value (set it).
/// Use with `#[serde(default)]` so an absent field stays `Missing`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Missing,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// The new value of a nullable field, given its current one.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Missing => current,
            Self::Null => None,
            Self::Value(v) => Some(v),
        }
    }

    /// Maps a value; `f` returning `None` (a blank optional text) clears the field.
    pub fn map_nullable<U>(self, f: impl FnOnce(T) -> Option<U>) -> Patch<U> {
        match self {
            Self::Missing => Patch::Missing,
            Self::Null => Patch::Null,
            Self::Value(v) => f(v).map_or(Patch::Null, Patch::Value),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Self::Missing => Patch::Missing,
            Self::Null => Patch::Null,
            Self::Value(v) => Patch::Value(f(v)),
        }
    }
}

/// Serialised only for documentation defaults: absent and null both read as `null`.
impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(v) => v.serialize(serializer),
            Self::Missing | Self::Null => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(|v| v.map_or(Self::Null, Self::Value))
    }
}
