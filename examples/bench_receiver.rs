//! The webhook receiver of `bench/run events`: answers 200 to every POST and remembers when
//! each `article.published` arrived. In Rust so that the receiver, on the same two cores as
//! Galley, costs little of what is measured (Python's threaded server took a third of a core).
//!
//!   bench_receiver PORT      GET /stats → {"count", "first", "last"} (Unix seconds),
//!                            GET /seen/ID → arrival of article ID's article.published, or null

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    routing::{get, post},
};
use serde_json::{Value, json};

#[derive(Default)]
struct Stats {
    count: u64,
    first: Option<f64>,
    last: Option<f64>,
    seen: HashMap<String, f64>,
}

type Shared = Arc<Mutex<Stats>>;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn receive(State(stats): State<Shared>, body: Bytes) -> &'static str {
    let at = now();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut stats) = stats.lock() {
        stats.count += 1;
        stats.first.get_or_insert(at);
        stats.last = Some(at);
        if event["type"] == "article.published"
            && let Some(id) = event["data"]["id"].as_str()
        {
            stats.seen.insert(id.to_owned(), at);
        }
    }
    "ok"
}

async fn summary(State(stats): State<Shared>) -> Json<Value> {
    let stats = stats.lock().map_err(|_| ()).ok();
    Json(stats.map_or(
        Value::Null,
        |s| json!({"count": s.count, "first": s.first, "last": s.last}),
    ))
}

async fn seen(State(stats): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    let at = stats.lock().ok().and_then(|s| s.seen.get(&id).copied());
    Json(json!(at))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "18999".into());
    let app = Router::new()
        .route("/hook", post(receive))
        .route("/stats", get(summary))
        .route("/seen/{id}", get(seen))
        .with_state(Shared::default());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, app).await
}
