//! Articles: the heart of the CMS. This module grows with the articles capability; today it
//! holds the structured body (`body`): blocks, their validation, HTML rendering, Markdown input
//! and the text metrics derived from them; and the CJK-aware search terms (`search`).

pub mod body;
pub mod search;
