//! Password hashing with Argon2id (crate defaults: m = 19 MiB, t = 2, p = 1, the OWASP
//! minimum), run on the blocking pool behind a semaphore: a burst of logins can neither stall
//! the async workers nor allocate 19 MiB per request without bound.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use anyhow::Context;
use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use tokio::sync::{OnceCell, Semaphore};

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 512;

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when an email is unknown, so that answer takes as long as a wrong
    /// password and does not reveal which emails have accounts.
    dummy_hash: Arc<OnceCell<String>>,
    /// Argon2 verifications run: every login attempt costs exactly one, known email or not.
    verifications: Arc<AtomicU64>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: Arc::new(OnceCell::new()),
            verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Checks the length rules of a new password; the message is for the client.
    pub fn check_policy(password: &str) -> Result<(), String> {
        let chars = password.chars().count();
        if chars < MIN_LEN {
            return Err(format!("must be at least {MIN_LEN} characters"));
        }
        if chars > MAX_LEN {
            return Err(format!("must be at most {MAX_LEN} characters"));
        }
        if is_common(password) {
            return Err(
                "is one of the most commonly used passwords, the first that attackers try; \
                 choose another"
                    .to_owned(),
            );
        }
        Ok(())
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("password semaphore closed")?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
        .context("password hashing task")?
    }

    /// Verifies `password` against `hash`, or against a dummy hash when there is no account,
    /// so both answers cost the same.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let exists = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => self.dummy_hash().await?,
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .context("password semaphore closed")?;
        let matches = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
            Ok::<_, anyhow::Error>(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await
        .context("password verification task")??;
        self.verifications.fetch_add(1, Ordering::Relaxed);
        Ok(exists && matches)
    }

    /// How many verifications this process has run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn dummy_hash(&self) -> anyhow::Result<String> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let random = crate::accounts::credentials::random_secret();
                self.hash(random).await
            })
            .await
            .cloned()
    }
}

/// The passwords of at least `MIN_LEN` characters among the 49,233 most common ones, in
/// lowercase: zxcvbn's list (`@zxcvbn-ts/language-common` 4.1.3, MIT, © Dropbox and zxcvbn-ts).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn is_common(password: &str) -> bool {
    static SET: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| COMMON_PASSWORDS.lines().collect());
    SET.contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert!(Passwords::check_policy("password123").is_err());
        assert!(Passwords::check_policy("Password123").is_err());
        assert!(Passwords::check_policy("a sentence only I would write").is_ok());
    }
}
