//! Bearer token material: 256 random bits behind a prefix that says what kind of token it is
//! (`gls_` session, `glt_` API token, `glp_` article preview, so a leaked one is recognisable by secret scanners).
//! Only the SHA-256 of a token is stored.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

pub const SESSION_PREFIX: &str = "gls_";
pub const API_TOKEN_PREFIX: &str = "glt_";
pub const PREVIEW_TOKEN_PREFIX: &str = "glp_";

/// 32 random bytes, URL-safe base64.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something a request can recover from; it aborts
    // loudly rather than minting a predictable token.
    getrandom::fill(&mut bytes).unwrap_or_else(|err| panic!("OS random source failed: {err}"));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new token and the hash to store for it.
pub fn new_token(prefix: &str) -> (String, Vec<u8>) {
    let token = format!("{prefix}{}", random_secret());
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
