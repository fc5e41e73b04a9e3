//! Galley: a headless CMS for publications.
//!
//! Modules are organised by domain (`accounts`, `authors`, `tags`, …); `http` holds what every
//! resource shares: state, the app assembly, errors, extractors, pagination and OpenAPI.

pub mod accounts;
pub mod admin;
pub mod app;
pub mod articles;
pub mod authors;
pub mod changes;
pub mod cli;
pub mod config;
pub mod db;
pub mod html;
pub mod http;
pub mod idempotency;
pub mod images;
pub mod metrics;
pub mod outbound;
pub mod slug;
pub mod tags;
pub mod telemetry;
pub mod timestamp;
pub mod validate;
pub mod webhooks;
