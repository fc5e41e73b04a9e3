//! Field validation that collects every problem of a request body into one `422`.

use crate::http::{
    error::{ApiError, FieldError},
    patch::Patch,
};

/// Collects field errors; `finish` turns them into a `422` naming each field.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Trims and checks a required one-line text; returns it trimmed.
    pub fn text(&mut self, field: &str, value: &str, max_chars: usize) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.error(field, "must not be empty");
        } else {
            self.max_chars(field, trimmed, max_chars);
            if trimmed.chars().any(char::is_control) {
                self.error(field, "must not contain control characters");
            }
        }
        trimmed.to_owned()
    }

    /// An optional text: blank becomes `None`; line breaks are allowed (bios, descriptions).
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<String>,
        max_chars: usize,
    ) -> Option<String> {
        let value = value?;
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return None;
        }
        self.max_chars(field, trimmed, max_chars);
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            self.error(field, "must not contain control characters");
        }
        Some(trimmed.to_owned())
    }

    fn max_chars(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.error(field, format!("must be at most {max} characters"));
        }
    }

    /// An absolute `http`/`https` URL.
    pub fn web_url(&mut self, field: &str, value: &str) -> String {
        let value = value.trim();
        if let Err(message) = check_web_url(value) {
            self.error(field, message);
        }
        value.to_owned()
    }

    pub fn email(&mut self, field: &str, value: &str) -> String {
        let value = value.trim();
        let valid = value.len() <= 320
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if !valid {
            self.error(field, "must be an email address such as editor@example.com");
        }
        value.to_owned()
    }

    pub fn slug(&mut self, field: &str, value: &str) -> String {
        if let Err(message) = crate::slug::validate(value) {
            self.error(field, message);
        }
        value.to_owned()
    }

    /// A PATCH may not set a required field to `null`.
    pub fn not_null<T>(&mut self, field: &str, patch: &Patch<T>) {
        if matches!(patch, Patch::Null) {
            self.error(field, "must not be null");
        }
    }

    /// The field errors collected, for callers outside HTTP (the command line).
    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

fn check_web_url(value: &str) -> Result<(), &'static str> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or("must be an absolute http or https URL")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with('.') || host.contains('@') {
        return Err("must have a host name");
    }
    if value.len() > 2000 {
        return Err("must be at most 2000 characters");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    Ok(())
}
