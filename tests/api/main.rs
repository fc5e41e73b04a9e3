//! The API tests: one binary (link once), a module per area.

mod accounts;
mod admin;
mod admin_client;
mod articles;
mod authors;
mod browser_sessions;
mod changes;
mod contract;
mod faults;
mod helpers;
mod idempotency;
mod images;
mod live_cache;
mod metrics;
mod named_resources;
mod openapi;
mod ops;
mod s3;
mod sparse_fields;
mod tags;
mod tokens;
mod transfer;
mod users;
mod webhooks;
mod workflow;
