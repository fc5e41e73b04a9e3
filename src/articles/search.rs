//! Search terms that PostgreSQL's `simple` text-search configuration can index, including
//! Chinese, Japanese and Korean text.
//!
//! PostgreSQL's parser splits words on spaces and punctuation, so `我的阿勒泰` would be one
//! opaque token: searching `阿勒泰` would miss it. Here CJK runs become their single
//! characters plus overlapping pairs (bigrams): `松弛感` → `松 弛 感 松弛 弛感`. A query gets the
//! same treatment, with its bigrams all required, so `松弛` and `松弛感` both find an article
//! about 松弛感, and a single-character query still matches. Latin-script words are lowercased
//! and kept whole.
//!
//! The terms become lexemes directly: Galley builds the `tsvector` (sent in PostgreSQL's binary
//! format) and the `tsquery` text, so no PostgreSQL parser runs over them. Running
//! `to_tsvector` over 800 words again was a third of the database's work per imported article.

use std::hash::BuildHasher;

use sqlx::{
    Encode, Postgres, Type,
    encode::IsNull,
    error::BoxDynError,
    postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, types::Oid},
};

use super::body::is_cjk;

/// PostgreSQL's limits for a `tsvector`: a lexeme's bytes, a position, positions kept per lexeme,
/// and the bytes of all lexemes together.
const MAX_LEXEME_BYTES: usize = 2047;
const MAX_POSITION: u16 = 16383;
const MAX_POSITIONS: usize = 255;
const MAX_VECTOR_BYTES: usize = (1 << 20) - 1;

/// The indexable terms of `text`, in order.
pub fn document_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    each_term(text, |term| terms.push(term.to_owned()));
    terms
}

/// Calls `f` with each indexable term of `text`, in order, without keeping them.
fn each_term(text: &str, mut f: impl FnMut(&str)) {
    let mut buf = String::new();
    each_run(text, |run| match run {
        Run::Word(word) => f(word),
        Run::Cjk(chars) => {
            for c in chars {
                f(c.encode_utf8(&mut [0; 4]));
            }
            for pair in chars.windows(2) {
                buf.clear();
                buf.extend(pair);
                f(&buf);
            }
        }
    });
}

/// A search vector in tsvector's binary format (`tsvectorrecv`), ready to send: the number of
/// lexemes, then each lexeme as a NUL-terminated string, its number of positions and the
/// positions (weight in the top two bits), all big-endian. Lexemes go sorted by bytes and
/// positions ascending, so PostgreSQL has nothing to sort.
#[derive(Debug)]
pub struct SearchVector {
    encoded: Vec<u8>,
}

/// A lexeme while a vector is built: its text in the builder's arena and its position counts.
#[derive(Debug)]
struct Lexeme {
    start: u32,
    len: u16,
    /// The text (0, 1, 2) that `kept` and `last` count in.
    text: u8,
    /// Positions `to_tsvector` of that text alone keeps, and the last of them.
    kept: u16,
    last: u16,
    /// Positions kept in all, and the last of them.
    stored: u16,
    last_stored: u16,
}

/// Lexeme texts end to end in one arena, found through a table of their indexes: an 800-word
/// article has some 400 distinct terms, and a `String` key for each was most of the allocator's
/// work during an import.
struct Builder {
    arena: String,
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    lexemes: Vec<Lexeme>,
    /// Every position kept, with its lexeme's index: in order, so ascending for each lexeme.
    positions: Vec<(u32, u16)>,
}

impl Builder {
    fn text(&self, lexeme: &Lexeme) -> &str {
        &self.arena[lexeme.start as usize..lexeme.start as usize + lexeme.len as usize]
    }

    /// The index of `term`, added if new and within the vector's size, else `None`.
    fn index(&mut self, term: &str, text_no: u8) -> Option<u32> {
        let hash = self.hasher.hash_one(term);
        let Self {
            arena,
            table,
            hasher,
            lexemes,
            ..
        } = self;
        let text_of = |at: &u32| {
            let l = &lexemes[*at as usize];
            &arena[l.start as usize..l.start as usize + l.len as usize]
        };
        if let Some(at) = table.find(hash, |at| text_of(at) == term) {
            return Some(*at);
        }
        if arena.len() + term.len() > MAX_VECTOR_BYTES {
            return None;
        }
        let at = lexemes.len() as u32;
        lexemes.push(Lexeme {
            start: arena.len() as u32,
            len: term.len() as u16,
            text: text_no,
            kept: 0,
            last: 0,
            stored: 0,
            last_stored: 0,
        });
        arena.push_str(term);
        table.insert_unique(hash, at, |at| {
            let l = &lexemes[*at as usize];
            hasher.hash_one(&arena[l.start as usize..l.start as usize + l.len as usize])
        });
        Some(at)
    }

    fn encode(self) -> SearchVector {
        // Each lexeme's positions together, in the order they came.
        let mut start = Vec::with_capacity(self.lexemes.len());
        let mut next = 0;
        for lexeme in &self.lexemes {
            start.push(next);
            next += lexeme.stored as usize;
        }
        let mut grouped = vec![0u16; next];
        let mut fill = start.clone();
        for (at, position) in &self.positions {
            grouped[fill[*at as usize]] = *position;
            fill[*at as usize] += 1;
        }
        // Sorted by bytes, most often decided by the first eight, compared as one number
        // (lexemes hold no NUL, so padding with zeros keeps the order).
        let mut order: Vec<(u64, u32)> = (0..self.lexemes.len() as u32)
            .map(|at| {
                let text = self.text(&self.lexemes[at as usize]).as_bytes();
                let mut head = [0u8; 8];
                let n = text.len().min(8);
                head[..n].copy_from_slice(&text[..n]);
                (u64::from_be_bytes(head), at)
            })
            .collect();
        order.sort_unstable_by(|(head_a, a), (head_b, b)| {
            head_a.cmp(head_b).then_with(|| {
                let (a, b) = (&self.lexemes[*a as usize], &self.lexemes[*b as usize]);
                self.text(a).as_bytes().cmp(self.text(b).as_bytes())
            })
        });
        let mut encoded =
            Vec::with_capacity(4 + self.arena.len() + 3 * self.lexemes.len() + 2 * next);
        // At most 1 MB of lexemes, so the count fits.
        encoded.extend_from_slice(&(order.len() as i32).to_be_bytes());
        for (_, at) in order {
            let lexeme = &self.lexemes[at as usize];
            let first = start[at as usize];
            encoded.extend_from_slice(self.text(lexeme).as_bytes());
            encoded.push(0);
            encoded.extend_from_slice(&lexeme.stored.to_be_bytes());
            for position in &grouped[first..first + lexeme.stored as usize] {
                encoded.extend_from_slice(&position.to_be_bytes());
            }
        }
        SearchVector { encoded }
    }
}

impl SearchVector {
    /// The terms of each text, weighted A, B, C in turn: exactly
    /// `setweight(to_tsvector('simple', a), 'A') || setweight(…b…, 'B') || setweight(…c…, 'C')`
    /// of the texts' terms, PostgreSQL's limits included (a test compares the two). What cannot
    /// be stored is left out: over-long lexemes, positions past 16,383, positions past a
    /// lexeme's 255th in one text (256th in all), and lexemes past the 1 MB a vector holds
    /// (where `to_tsvector` would fail).
    pub fn weighted(texts: [&str; 3]) -> Self {
        let mut builder = Builder {
            arena: String::with_capacity(4096),
            table: hashbrown::HashTable::with_capacity(512),
            hasher: Default::default(),
            lexemes: Vec::with_capacity(512),
            positions: Vec::with_capacity(1024),
        };
        // `||` numbers the right side on from the highest position stored on the left.
        let mut offset: u16 = 0;
        for (text_no, (text, weight)) in (0u8..).zip(texts.into_iter().zip([3u16, 2, 1])) {
            let mut own: u16 = 0;
            let mut highest = offset;
            each_term(text, |term| {
                if term.len() > MAX_LEXEME_BYTES {
                    return;
                }
                own = own.saturating_add(1).min(MAX_POSITION);
                let Some(at) = builder.index(term, text_no) else {
                    return;
                };
                let lexeme = &mut builder.lexemes[at as usize];
                if lexeme.text != text_no {
                    (lexeme.text, lexeme.kept, lexeme.last) = (text_no, 0, 0);
                }
                // to_tsvector of this text alone: at most 255 positions, none twice.
                if lexeme.kept as usize >= MAX_POSITIONS || lexeme.last == own {
                    return;
                }
                lexeme.kept += 1;
                lexeme.last = own;
                // `||`: at most 256 in all, nothing after the last position.
                if lexeme.stored as usize > MAX_POSITIONS || lexeme.last_stored == MAX_POSITION {
                    return;
                }
                let position = (own + offset).min(MAX_POSITION);
                lexeme.stored += 1;
                lexeme.last_stored = position;
                builder.positions.push((at, weight << 14 | position));
                highest = highest.max(position);
            });
            offset = highest;
        }
        builder.encode()
    }
}

impl Type<Postgres> for SearchVector {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(3614))
    }
}

impl PgHasArrayType for SearchVector {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(3643))
    }
}

impl Encode<'_, Postgres> for SearchVector {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&self.encoded);
        Ok(IsNull::No)
    }
}

/// A `tsquery` requiring every term of `query`, or `None` when the query has nothing
/// searchable. Latin words match as prefixes (`olymp` finds `olympics`), the way a search box is
/// used while typing; CJK runs are required as bigrams. Terms are letters and digits only, so
/// quoting them needs no escapes.
pub fn query_expression(query: &str) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    each_run(query, |run| match run {
        Run::Word(word) => terms.push(format!("'{word}':*")),
        Run::Cjk([c]) => terms.push(format!("'{c}'")),
        Run::Cjk(chars) => terms.extend(
            chars
                .windows(2)
                .map(|pair| format!("'{}'", pair.iter().collect::<String>())),
        ),
    });
    (!terms.is_empty()).then(|| terms.join(" & "))
}

enum Run<'a> {
    /// A lowercased run of letters and digits (apostrophes removed).
    Word(&'a str),
    Cjk(&'a [char]),
}

/// Calls `f` with each run of `text`, in two buffers reused for all.
fn each_run(text: &str, mut f: impl FnMut(Run<'_>)) {
    fn flush(f: &mut impl FnMut(Run<'_>), word: &mut String, cjk: &mut Vec<char>) {
        if !word.is_empty() {
            f(Run::Word(word));
            word.clear();
        }
        if !cjk.is_empty() {
            f(Run::Cjk(cjk));
            cjk.clear();
        }
    }
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    for c in text.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                if !cjk.is_empty() {
                    flush(&mut f, &mut String::new(), &mut cjk);
                }
                word.push(c.to_ascii_lowercase());
            } else if c == '\'' && !word.is_empty() {
                // "Don't" and "Don’t" index alike, as "dont".
            } else {
                flush(&mut f, &mut word, &mut cjk);
            }
        } else if is_cjk(c) {
            flush(&mut f, &mut word, &mut Vec::new());
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush(&mut f, &mut String::new(), &mut cjk);
            word.extend(c.to_lowercase());
        } else if c == '’' && !word.is_empty() {
            // As the ASCII apostrophe.
        } else {
            flush(&mut f, &mut word, &mut cjk);
        }
    }
    flush(&mut f, &mut word, &mut cjk);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_runs_become_characters_and_bigrams() {
        assert_eq!(document_terms("松弛感").join(" "), "松 弛 感 松弛 弛感");
        assert_eq!(
            document_terms("Pan Zhanle’s 我的阿勒泰!").join(" "),
            "pan zhanles 我 的 阿 勒 泰 我的 的阿 阿勒 勒泰"
        );
        assert_eq!(
            document_terms("<script>'; drop table--").join(" "),
            "script drop table"
        );
    }

    #[test]
    fn queries_require_every_term_and_quote_them() {
        assert_eq!(
            query_expression("松弛感").as_deref(),
            Some("'松弛' & '弛感'")
        );
        assert_eq!(query_expression("松弛").as_deref(), Some("'松弛'"));
        assert_eq!(query_expression("松").as_deref(), Some("'松'"));
        assert_eq!(
            query_expression("Paris OLYMP").as_deref(),
            Some("'paris':* & 'olymp':*")
        );
        // Operators and quotes in a query are text, not syntax.
        assert_eq!(
            query_expression("a' | b & !c").as_deref(),
            Some("'a':* & 'b':* & 'c':*")
        );
        assert_eq!(query_expression("  !!  "), None);
    }

    #[test]
    fn every_query_bigram_is_among_the_document_terms() {
        let document = document_terms("她有一种松弛感。");
        for query in ["松弛感", "松弛", "弛感", "一种"] {
            let expression = query_expression(query).expect("terms");
            for term in expression.split(" & ") {
                let term = term.trim_matches('\'');
                assert!(
                    document.iter().any(|d| d == term),
                    "{query}: {term} missing"
                );
            }
        }
    }

    /// PostgreSQL sorts an unsorted vector it receives and says nothing, so only reading the
    /// bytes shows whether Galley sent lexemes sorted, as it promises.
    #[test]
    fn lexemes_are_sent_sorted_by_bytes() {
        let text =
            "internationally international internal inter b a zz 松弛 松 é e internationalisation";
        let encoded = SearchVector::weighted([text, "", ""]).encoded;
        let mut rest = &encoded[4..];
        let mut lexemes = Vec::new();
        while !rest.is_empty() {
            let end = rest.iter().position(|b| *b == 0).expect("NUL");
            lexemes.push(rest[..end].to_vec());
            let positions = u16::from_be_bytes([rest[end + 1], rest[end + 2]]) as usize;
            rest = &rest[end + 3 + 2 * positions..];
        }
        assert_eq!(lexemes.len(), 13);
        assert!(lexemes.windows(2).all(|w| w[0] < w[1]), "{lexemes:?}");
    }
}
