//! Standard Webhooks signatures: `whsec_` secrets and `webhook-signature: v1,<base64>`, the
//! HMAC-SHA256 of `{id}.{timestamp}.{body}` under the secret's bytes.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

/// 32 random bytes.
pub fn new_secret() -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    Ok(bytes)
}

/// The secret as shown to its owner, once.
pub fn display(secret: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(secret))
}

/// One `v1,…` signature.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret, space-separated (two while a
/// rotated secret still signs).
pub fn header(secrets: &[&[u8]], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        let secret = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("secret");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_32_bytes() {
        let secret = new_secret().expect("secret");
        assert_eq!(secret.len(), 32);
        let shown = display(&secret);
        assert!(shown.starts_with("whsec_"));
        let decoded = STANDARD.decode(&shown[6..]).expect("base64");
        assert_eq!(decoded, secret);
        assert_ne!(new_secret().expect("secret"), secret);
        let two = header(&[&secret, b"other"], "id", 1, b"{}");
        assert_eq!(two.split(' ').count(), 2);
    }
}
