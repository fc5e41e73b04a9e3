//! Timestamps as the API accepts them: strict RFC 3339 with a four-digit year (0001–9999), so
//! that whatever is stored can be written back as RFC 3339. chrono's own `Deserialize` takes
//! a space for the `T` and years such as `+10000`.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Deserializer, de};

/// Parses one timestamp, saying what is wrong.
pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
    let invalid = || "must be an RFC 3339 timestamp such as 2024-08-01T09:30:00Z".to_owned();
    // chrono also takes a space between date and time (RFC 3339 mentions it, ISO 8601 does
    // not): clients differ on it, so only `T` is accepted.
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return Err(invalid());
    }
    let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| invalid())?;
    let utc = parsed.with_timezone(&Utc);
    if !(1..=9999).contains(&parsed.year()) || !(1..=9999).contains(&utc.year()) {
        return Err("must be a timestamp between the years 0001 and 9999".to_owned());
    }
    Ok(utc)
}

/// `#[serde(deserialize_with = "crate::timestamp::required")]`
pub fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
    parse(&text).map_err(de::Error::custom)
}

/// `#[serde(default, deserialize_with = "crate::timestamp::optional")]`
pub fn optional<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    text.map(|t| parse(&t).map_err(de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strict_rfc3339_within_four_digit_years_is_accepted() {
        assert!(parse("2024-08-01T09:30:00Z").is_ok());
        assert!(parse("2024-08-01T09:30:00.123+08:00").is_ok());
        assert!(parse("2024-08-01 09:30:00Z").is_err());
        assert!(parse("+10000-01-01T00:00:00Z").is_err());
        assert!(parse("0000-01-01T00:00:00Z").is_err());
        assert!(parse("9999-12-31T23:59:59-01:00").is_err());
        assert!(parse("2024-08-01").is_err());
    }
}
