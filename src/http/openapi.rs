//! The OpenAPI 3.1 document, assembled from the handlers' `#[utoipa::path]` annotations through
//! the same router that serves them, so a route cannot exist without its documentation.
//!
//! Error responses that follow from an operation's shape (a path parameter can be 404, a body
//! can be 413/415/422, a secured call can be 401/403…) are added here by rule rather than
//! repeated on every handler; handlers document only their specific errors (409, 429, …).

use axum::{body::Bytes, http::HeaderValue};
use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::html::escape;

mod refine;

pub use super::error::{FieldError, Problem};
pub use super::pagination::ListMeta;

/// The Content-Security-Policy of every API response: JSON is never a document to render.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The rendered document and reference page, built once per process.
pub struct ApiDocs {
    pub json: Bytes,
    pub html: Bytes,
    /// The page's policy: nothing but its own inline stylesheet, allowed by hash.
    pub html_csp: HeaderValue,
}

impl ApiDocs {
    /// Fails only if the document cannot be serialised: a bug to report at start, never an
    /// empty document served.
    pub fn build(doc: utoipa::openapi::OpenApi) -> serde_json::Result<Self> {
        let mut value = serde_json::to_value(&doc)?;
        complete(&mut value);
        let html = super::openapi::render_html(&value);
        let style_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
        let html_csp = HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'sha256-{style_hash}'; frame-ancestors 'none'"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(API_CSP));
        Ok(Self {
            json: Bytes::from(serde_json::to_vec_pretty(&value)?),
            html: Bytes::from(html),
            html_csp,
        })
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn complete(doc: &mut Value) {
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A session token (gls_…) from POST /v1/auth/login or an API token (glt_…)."
        },
        "cookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": crate::accounts::session_cookie::SECURE_NAME,
            "description": "A browser session from POST /v1/auth/login with \"session\": \"cookie\" (galley_session when GALLEY_COOKIE_SECURE=false). Writes also need X-Galley-CSRF and an Origin of this server (API.md §8)."
        }
    });
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(op) = item.get_mut(method) {
                accept_cookie_sessions(op);
                add_standard_responses(path, method, op);
            }
        }
    }
    doc["servers"] = json!([{"url": "/", "description": "The server that serves this document"}]);
    refine::refine(doc);
}

/// Wherever a bearer token is accepted, a browser session cookie is too.
fn accept_cookie_sessions(op: &mut Value) {
    let Some(requirements) = op.get_mut("security").and_then(Value::as_array_mut) else {
        return;
    };
    if requirements.iter().any(|r| r.get("bearer").is_some()) {
        requirements.push(json!({"cookie": []}));
    }
}

fn add_standard_responses(path: &str, method: &str, op: &mut Value) {
    let secured = op.get("security").and_then(Value::as_array).cloned();
    let anonymous_allowed = secured.as_ref().is_none_or(|reqs| {
        reqs.iter()
            .any(|r| r.as_object().is_some_and(Map::is_empty))
    });
    let has_body = op.get("requestBody").is_some();
    let has_path_param = path.contains('{');
    let is_api = path.starts_with("/v1/") && path != "/v1/openapi.json";

    let mut add = |status: &str, description: &str| {
        let responses = op["responses"].as_object_mut();
        if let Some(responses) = responses {
            responses.entry(status).or_insert_with(|| {
                json!({
                    "description": description,
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                })
            });
        }
    };
    if is_api {
        add(
            "400",
            "Malformed request: bad JSON syntax, query parameter or id",
        );
    }
    if secured.is_some() {
        add("401", "Missing, invalid, expired or revoked credentials");
        if !anonymous_allowed {
            add("403", "The caller's role does not allow this");
        }
    }
    if has_path_param {
        add("404", "No such resource (or not visible to this caller)");
    }
    if has_body {
        add(
            "413",
            "The request body is larger than the configured limit",
        );
        add("415", "The body is not application/json");
        add(
            "422",
            "Validation failed; `errors` lists each invalid field by path",
        );
    }
    if has_path_param && matches!(method, "patch" | "delete") {
        add("412", "If-Match does not match the resource's current ETag");
    }
    if is_api {
        add("500", "Server failure; the body carries the request id");
    }
}

fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    let kind = schema.get("type").map_or_else(
        || "object".to_owned(),
        |t| match t {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    );
    match schema.get("format").and_then(Value::as_str) {
        Some(format) => format!("{kind} ({format})"),
        None => kind,
    }
}

/// A self-contained HTML page: operations grouped by tag, then the schemas. No scripts, no
/// fonts, no CDN: it must render on an air-gapped admin machine.
pub fn render_html(doc: &Value) -> String {
    let mut by_tag: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
                by_tag
                    .entry(tag)
                    .or_default()
                    .push(render_operation(path, method, op));
            }
        }
    }
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>{} API <small>{}</small></h1><p>{}</p><p>Machine-readable: <a href=\"/v1/openapi.json\">/v1/openapi.json</a></p>",
        escape(doc["info"]["title"].as_str().unwrap_or("Galley")),
        escape(doc["info"]["version"].as_str().unwrap_or("")),
        escape(doc["info"]["description"].as_str().unwrap_or("")),
    ));
    body.push_str("<nav><ul>");
    for tag in by_tag.keys() {
        body.push_str(&format!(
            "<li><a href=\"#tag-{0}\">{0}</a></li>",
            escape(tag)
        ));
    }
    body.push_str("<li><a href=\"#schemas\">schemas</a></li></ul></nav>");
    for (tag, ops) in &by_tag {
        body.push_str(&format!("<h2 id=\"tag-{0}\">{0}</h2>", escape(tag)));
        for op in ops {
            body.push_str(op);
        }
    }
    body.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            body.push_str(&format!(
                "<section id=\"schema-{0}\"><h3>{0}</h3><pre>{1}</pre></section>",
                escape(name),
                escape(&serde_json::to_string_pretty(schema).unwrap_or_default())
            ));
        }
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Galley API reference</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>"
    )
}

fn render_operation(path: &str, method: &str, op: &Value) -> String {
    let mut html = format!(
        "<section class=\"op\"><h3><span class=\"m {method}\">{}</span> <code>{}</code></h3><p>{}</p>",
        method.to_uppercase(),
        escape(path),
        escape(
            op["summary"]
                .as_str()
                .or(op["description"].as_str())
                .unwrap_or("")
        ),
    );
    if let Some(security) = op["security"].as_array() {
        let anonymous = security
            .iter()
            .any(|r| r.as_object().is_some_and(Map::is_empty));
        html.push_str(if anonymous {
            "<p class=\"auth\">Bearer token optional</p>"
        } else {
            "<p class=\"auth\">Bearer token required</p>"
        });
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        html.push_str(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>",
        );
        for p in params {
            html.push_str(&format!(
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(p["name"].as_str().unwrap_or("")),
                if p["required"].as_bool() == Some(true) {
                    " *"
                } else {
                    ""
                },
                escape(p["in"].as_str().unwrap_or("")),
                escape(&schema_name(&p["schema"])),
                escape(p["description"].as_str().unwrap_or("")),
            ));
        }
        html.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (media, c) in content {
            let name = schema_name(&c["schema"]);
            html.push_str(&format!(
                "<p>Body <code>{}</code>: <a href=\"#schema-{1}\">{1}</a></p>",
                escape(media),
                escape(&name)
            ));
        }
    }
    if let Some(responses) = op["responses"].as_object() {
        html.push_str("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>");
        for (status, r) in responses {
            let body = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| schema_name(&c["schema"]))
                .unwrap_or_default();
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(status),
                escape(r["description"].as_str().unwrap_or("")),
                escape(&body)
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("</section>");
    html
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}\
main{max-width:960px;margin:0 auto;padding:1rem 2rem}h1 small{font-size:.5em;color:#777}\
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3rem 1rem}\
.op{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.4rem 1rem;margin:.8rem 0}\
.op h3{font-size:1rem;margin:.4rem 0}.m{display:inline-block;min-width:4.5em;font-weight:700}\
.get{color:#0a7}.post{color:#07c}.patch{color:#b70}.delete{color:#c22}.auth{color:#555;font-size:.9em}\
table{border-collapse:collapse;width:100%;margin:.4rem 0}td,th{border-top:1px solid #eee;padding:.2rem .4rem;text-align:left;vertical-align:top}\
pre{background:#f3f3f3;padding:.6rem;overflow:auto;font-size:.85em}td:nth-child(3){white-space:nowrap}";
