//! Feed cursors: opaque to clients, a position to Galley. Either a place in the initial state
//! (which kind of object, the last id given, and the number the changes after it start from)
//! or a number in the stream of changes. The public feed and `view=working` are numbered apart
//! (migration 0014), so a cursor belongs to one of them.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

/// What a cursor says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// In the initial state: objects of `kind` after `after`, then the rest; the changes to
    /// follow it are those numbered above `from`.
    Initial {
        working: bool,
        from: i64,
        kind: u8,
        after: Uuid,
    },
    /// The changes numbered above `after`.
    Changes { working: bool, after: i64 },
}

impl Cursor {
    pub fn encode(self) -> String {
        let view = |working| if working { 'w' } else { 'p' };
        let text = match self {
            Self::Initial {
                working,
                from,
                kind,
                after,
            } => format!("i.{}.{from}.{kind}.{}", view(working), after.simple()),
            Self::Changes { working, after } => format!("c.{}.{after}", view(working)),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    /// `None` for anything Galley did not give out.
    pub fn decode(cursor: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let mut parts = text.split('.');
        let phase = parts.next()?;
        let working = match parts.next()? {
            "w" => true,
            "p" => false,
            _ => return None,
        };
        let cursor = match phase {
            "i" => Self::Initial {
                working,
                from: parts.next()?.parse().ok()?,
                kind: parts.next()?.parse().ok()?,
                after: Uuid::try_parse(parts.next()?).ok()?,
            },
            "c" => Self::Changes {
                working,
                after: parts.next()?.parse().ok()?,
            },
            _ => return None,
        };
        parts.next().is_none().then_some(cursor)
    }

    pub fn working(self) -> bool {
        match self {
            Self::Initial { working, .. } | Self::Changes { working, .. } => working,
        }
    }

    /// The number after which this cursor has seen nothing: retention may have deleted it.
    pub fn number(self) -> i64 {
        match self {
            Self::Initial { from, .. } => from,
            Self::Changes { after, .. } => after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_galley_did_not_give() {
        for cursor in [
            Cursor::Changes {
                working: false,
                after: 742,
            },
            Cursor::Changes {
                working: true,
                after: 0,
            },
            Cursor::Initial {
                working: true,
                from: 9,
                kind: 2,
                after: Uuid::now_v7(),
            },
        ] {
            assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        }
        let encoded = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for bad in [
            String::new(),
            "abc".into(),
            encoded("c.p.1.2"),
            encoded("c.x.1"),
            encoded("c.p"),
            encoded("i.p.1.2"),
        ] {
            assert_eq!(Cursor::decode(&bad), None, "{bad}");
        }
    }
}
