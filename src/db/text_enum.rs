//! Closed sets of states stored as `text` columns (status, role, revision action, event kind).
//!
//! Each is declared once with `text_enum!`, which gives it the same spelling in JSON (serde),
//! in SQL (sqlx, plain `text` so migrations and `psql` stay readable) and in the OpenAPI
//! schema (utoipa reads the serde names). A value the type does not know fails to decode: a
//! typo such as `"in_reveiw"` cannot compile, and a corrupted row cannot pass as a state.

/// Declares `pub enum $name { $Variant = "spelling", … }` with serde, sqlx, `FromStr`,
/// `Display`, `ALL` and `as_str`. Extra attributes (doc comments, `derive(ToSchema)`,
/// `derive(PartialOrd, Ord)`) go before `pub enum`.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The spellings, comma-separated, for messages that list what is allowed.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(value: &str) -> Result<Self, String> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("'{other}' is not one of: {}", Self::allowed())),
                }
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                text.parse().map_err(|message: String| {
                    format!("{} in the database: {message}", stringify!($name)).into()
                })
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    text_enum! {
        pub enum Sample {
            First = "first",
            SecondOne = "second_one",
        }
    }

    #[test]
    fn spells_the_same_in_json_text_and_display() {
        for value in Sample::ALL {
            let json = serde_json::to_string(value).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", value.as_str()));
            assert_eq!(value.to_string().parse::<Sample>(), Ok(*value));
        }
        assert_eq!(
            "secondone".parse::<Sample>(),
            Err("'secondone' is not one of: first, second_one".to_owned())
        );
    }
}
