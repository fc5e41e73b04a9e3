//! Rules applied to the generated document as a whole, where utoipa's per-type output is
//! imprecise in the same way everywhere. Each rule is a function over the JSON, so the Rust
//! types stay the single source and the rules stay few:
//!
//! - no `default: null` (utoipa writes one for every `#[serde(default)]` field, which makes
//!   generated clients treat PATCH fields as required);
//! - `allOf` of inline objects merged into one object (a `deny_unknown_fields` part inside an
//!   `allOf` would forbid the other parts' properties to any validator);
//! - tagged unions (`oneOf` of objects whose `type` is one constant) hoisted into named variant
//!   schemas with a `discriminator`; a union of one variant becomes that variant;
//! - response-only schemas list every property they always send as `required`;
//! - conditional requests: `ETag` and `304` on reads, `If-Match` on writes;
//! - `security: []` on public operations, so every operation states its security.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// Properties of response schemas that may be absent (`skip_serializing_if`); every other
/// property of a response-only schema is always sent.
const MAY_BE_ABSENT: &[(&str, &str)] = &[
    ("Article", "body"),
    ("Article", "body_html"),
    ("Author", "email"),
    ("Problem", "detail"),
    ("Problem", "errors"),
    ("Problem", "request_id"),
    ("ListMeta", "page"),
    ("LineError", "errors"),
    // Shown blocks are `Block`s, whose optional fields are left out when empty.
    ("ShownBlockCode", "language"),
    ("ShownBlockImage", "alt"),
    ("ShownBlockImage", "caption"),
    ("ShownBlockImage", "credit"),
    ("ShownBlockImage", "image"),
    ("ShownBlockEmbed", "caption"),
];

/// `*` or a comma-separated list of entity tags (RFC 9110 §8.8.3), whose characters are
/// visible ASCII other than `"` (and `,`, which Galley's tags never hold); empty is no condition.
const ETAG_LIST: &str = r#"^([ \t]*|\*|(W/)?"[!#-+\--~]*"([ \t]*,[ \t]*(W/)?"[!#-+\--~]*")*)$"#;

pub fn refine(doc: &mut Value) {
    strip_null_defaults(doc);
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            merge_inline_all_of(schema);
        }
        refer_list_items(schemas);
        add_shown_block(schemas);
        hoist_tagged_unions(schemas);
    }
    require_response_fields(doc);
    add_conditional_requests(doc);
    state_public_security(doc);
}

fn strip_null_defaults(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            map.values_mut().for_each(strip_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null_defaults),
        _ => {}
    }
}

/// `{"allOf": [{…object…}, {…object…}]}` (no `$ref` among them) → one object.
fn merge_inline_all_of(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(merge_inline_all_of);
            let Some(Value::Array(parts)) = map.get("allOf") else {
                return;
            };
            if parts.is_empty()
                || !parts
                    .iter()
                    .all(|p| p.get("$ref").is_none() && p.get("properties").is_some())
            {
                return;
            }
            let mut properties = Map::new();
            let mut required: Vec<Value> = Vec::new();
            let mut closed = false;
            let mut description = None;
            for part in parts {
                if let Some(props) = part["properties"].as_object() {
                    properties.extend(props.clone());
                }
                if let Some(req) = part["required"].as_array() {
                    required.extend(req.iter().cloned());
                }
                closed |= part["additionalProperties"] == Value::Bool(false);
                description = description.or_else(|| part.get("description").cloned());
            }
            map.remove("allOf");
            map.insert("type".into(), json!("object"));
            map.insert("properties".into(), Value::Object(properties));
            map.insert("required".into(), Value::Array(required));
            if closed {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            if let Some(description) = description {
                map.entry("description").or_insert(description);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(merge_inline_all_of),
        _ => {}
    }
}

/// utoipa inlines the item type of `ListResponse<T>`; refer to `T`'s own schema instead, so
/// a list's items are the same type (and get the same rules) as the single resource.
fn refer_list_items(schemas: &mut Map<String, Value>) {
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let Some(item) = name.strip_prefix("ListResponse_") else {
            continue;
        };
        if schemas.contains_key(item) {
            schemas[&name]["properties"]["data"]["items"] =
                json!({"$ref": format!("#/components/schemas/{item}")});
        }
    }
}

/// A shown block is a `Block` whose image variant also carries the embedded `image`.
fn add_shown_block(schemas: &mut Map<String, Value>) {
    let Some(mut shown) = schemas.get("Block").cloned() else {
        return;
    };
    shown["description"] =
        json!("A body block as the API shows it: an image block also embeds its image.");
    if let Some(variants) = shown["oneOf"].as_array_mut() {
        for variant in variants {
            if tag_of(variant).as_deref() == Some("image") {
                variant["properties"]["image"] = json!({
                    "$ref": "#/components/schemas/Image",
                    "description": "The image the block shows; absent when it has been deleted."
                });
            }
        }
    }
    schemas.insert("ShownBlock".into(), shown);
}

/// The one value of a variant's `type` property.
fn tag_of(variant: &Value) -> Option<String> {
    let tag = &variant["properties"]["type"];
    match tag["enum"].as_array().map(Vec::as_slice) {
        Some([Value::String(s)]) => Some(s.clone()),
        _ => tag["const"].as_str().map(str::to_owned),
    }
}

fn hoist_tagged_unions(schemas: &mut Map<String, Value>) {
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let Some(variants) = schemas[&name]["oneOf"].as_array().cloned() else {
            continue;
        };
        let tags: Option<Vec<String>> = variants.iter().map(tag_of).collect();
        let Some(tags) = tags else { continue };
        if let [only] = variants.as_slice() {
            let mut only = only.clone();
            if let Some(description) = schemas[&name].get("description") {
                only["description"] = description.clone();
            }
            schemas.insert(name, only);
            continue;
        }
        let mut mapping = Map::new();
        let mut refs = Vec::new();
        for (variant, tag) in variants.into_iter().zip(tags) {
            let variant_name = format!("{name}{}", pascal_case(&tag));
            let reference = format!("#/components/schemas/{variant_name}");
            mapping.insert(tag, json!(reference));
            refs.push(json!({"$ref": reference}));
            schemas.insert(variant_name, variant);
        }
        let union = &mut schemas[&name];
        union["oneOf"] = Value::Array(refs);
        union["discriminator"] = json!({"propertyName": "type", "mapping": mapping});
    }
}

fn pascal_case(tag: &str) -> String {
    tag.split(['_', '-'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The schema names a value refers to, directly.
fn refs_in(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                out.insert(reference.rsplit('/').next().unwrap_or(reference).to_owned());
            }
            map.values().for_each(|v| refs_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}

/// Every schema reachable from `roots` through `$ref`s.
fn closure(schemas: &Map<String, Value>, roots: BTreeSet<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut next = BTreeSet::new();
        if let Some(schema) = schemas.get(&name) {
            refs_in(schema, &mut next);
        }
        todo.extend(next.into_iter().filter(|n| !seen.contains(n)));
    }
    seen
}

/// Optional properties of schemas that only ever leave the server are always sent (as
/// `null` when empty): say so, or every generated client type has `field?: T | null`.
fn require_response_fields(doc: &mut Value) {
    let mut in_requests = BTreeSet::new();
    let mut in_responses = BTreeSet::new();
    for op in operations(doc) {
        refs_in(&op["requestBody"], &mut in_requests);
        if let Some(params) = op.get("parameters") {
            refs_in(params, &mut in_requests);
        }
        refs_in(&op["responses"], &mut in_responses);
    }
    let Some(schemas) = doc["components"]["schemas"].as_object_mut() else {
        return;
    };
    let in_requests = closure(schemas, in_requests);
    let response_only: Vec<String> = closure(schemas, in_responses)
        .difference(&in_requests)
        .cloned()
        .collect();
    for name in response_only {
        let Some(schema) = schemas.get_mut(&name) else {
            continue;
        };
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        let required: Vec<Value> = properties
            .keys()
            .filter(|field| !MAY_BE_ABSENT.contains(&(name.as_str(), field.as_str())))
            .map(|field| json!(field))
            .collect();
        schema["required"] = Value::Array(required);
    }
}

fn operations(doc: &Value) -> Vec<&Value> {
    let Some(paths) = doc["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .values()
        .flat_map(|item| super::METHODS.iter().filter_map(|m| item.get(*m)))
        .collect()
}

fn operations_mut(doc: &mut Value) -> Vec<(String, &'static str, &mut Value)> {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if let Some(method) = super::METHODS.iter().find(|m| **m == method) {
                out.push((path.clone(), *method, op));
            }
        }
    }
    out
}

/// Strong ETags on every read (`If-None-Match` → `304`), `If-Match` on every write to one
/// resource (`412` when stale), as the caching middleware and the handlers implement them.
fn add_conditional_requests(doc: &mut Value) {
    for (_, method, op) in operations_mut(doc) {
        let Some(responses) = op["responses"].as_object_mut() else {
            continue;
        };
        let mut parameter = None;
        if method == "get" {
            // Streamed (NDJSON) responses are never buffered, so they carry no ETag.
            if let Some(ok) = responses
                .get_mut("200")
                .filter(|ok| ok["content"].get("application/x-ndjson").is_none())
            {
                ok["headers"]["ETag"] = json!({
                    "description": "Strong validator of this representation; send it back in If-None-Match.",
                    "schema": {"type": "string"}
                });
                responses.insert(
                    "304".into(),
                    json!({"description": "Not modified: If-None-Match matched the current ETag (no body)"}),
                );
                parameter = Some(json!({
                    "name": "If-None-Match", "in": "header", "required": false,
                    "description": "ETags of a representation the client holds; a match answers 304 (anything else is simply no match).",
                    "schema": {"type": "string"}
                }));
            }
        } else if responses.contains_key("412") {
            parameter = Some(json!({
                "name": "If-Match", "in": "header", "required": false,
                "description": "The ETag the change is based on; a stale one answers 412 and changes nothing.",
                "schema": {"type": "string", "pattern": ETAG_LIST}
            }));
        }
        if let Some(parameter) = parameter {
            let name = parameter["name"].clone();
            let params = op["parameters"].as_array_mut();
            match params {
                Some(params) if params.iter().any(|p| p["name"] == name) => {}
                Some(params) => params.push(parameter),
                None => op["parameters"] = json!([parameter]),
            }
        }
    }
}

fn state_public_security(doc: &mut Value) {
    for (_, _, op) in operations_mut(doc) {
        if let Some(op) = op.as_object_mut() {
            op.entry("security").or_insert_with(|| json!([]));
        }
    }
}
