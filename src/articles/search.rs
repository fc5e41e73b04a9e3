//! Search terms that PostgreSQL's `simple` text-search configuration can index, including
//! Chinese, Japanese and Korean text.
//!
//! PostgreSQL's parser splits words on spaces and punctuation, so `我的阿勒泰` would be one
//! opaque token: searching `阿勒泰` would miss it. Here CJK runs become their single
//! characters plus overlapping pairs (bigrams): `松弛感` → `松 弛 感 松弛 弛感`. A query gets the
//! same treatment, with its bigrams all required, so `松弛` and `松弛感` both find an article
//! about 松弛感, and a single-character query still matches. Latin-script words are lowercased
//! and kept whole. The output is fed to `to_tsvector('simple', …)` / `to_tsquery('simple', …)`.

use super::body::is_cjk;

/// The indexable terms of `text`, space-separated.
pub fn document_terms(text: &str) -> String {
    let mut terms = Vec::new();
    for run in runs(text) {
        match run {
            Run::Word(word) => terms.push(word),
            Run::Cjk(chars) => {
                terms.extend(chars.iter().map(char::to_string));
                terms.extend(chars.windows(2).map(|pair| pair.iter().collect()));
            }
        }
    }
    terms.join(" ")
}

/// A `to_tsquery('simple', …)` expression requiring every term of `query`, or `None` when the
/// query has nothing searchable. Latin words match as prefixes (`olymp` finds `olympics`), the
/// way a search box is used while typing; CJK runs are required as bigrams.
pub fn query_expression(query: &str) -> Option<String> {
    let mut terms = Vec::new();
    for run in runs(query) {
        match run {
            Run::Word(word) => terms.push(format!("'{word}':*")),
            Run::Cjk(chars) if chars.len() == 1 => terms.push(format!("'{}'", chars[0])),
            Run::Cjk(chars) => terms.extend(
                chars
                    .windows(2)
                    .map(|pair| format!("'{}'", pair.iter().collect::<String>())),
            ),
        }
    }
    (!terms.is_empty()).then(|| terms.join(" & "))
}

enum Run {
    /// A lowercased run of letters and digits (apostrophes removed).
    Word(String),
    Cjk(Vec<char>),
}

fn runs(text: &str) -> Vec<Run> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_word = |word: &mut String, out: &mut Vec<Run>| {
        if !word.is_empty() {
            out.push(Run::Word(std::mem::take(word)));
        }
    };
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<Run>| {
        if !cjk.is_empty() {
            out.push(Run::Cjk(std::mem::take(cjk)));
        }
    };
    for c in text.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut out);
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk, &mut out);
            word.extend(c.to_lowercase());
        } else if matches!(c, '\'' | '’') && !word.is_empty() {
            // "Don't" and "Don’t" index alike, as "dont".
        } else {
            flush_word(&mut word, &mut out);
            flush_cjk(&mut cjk, &mut out);
        }
    }
    flush_word(&mut word, &mut out);
    flush_cjk(&mut cjk, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_runs_become_characters_and_bigrams() {
        assert_eq!(document_terms("松弛感"), "松 弛 感 松弛 弛感");
        assert_eq!(
            document_terms("Pan Zhanle’s 我的阿勒泰!"),
            "pan zhanles 我 的 阿 勒 泰 我的 的阿 阿勒 勒泰"
        );
        assert_eq!(
            document_terms("<script>'; drop table--"),
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
        let document: Vec<String> = document_terms("她有一种松弛感。")
            .split(' ')
            .map(str::to_owned)
            .collect();
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
}
