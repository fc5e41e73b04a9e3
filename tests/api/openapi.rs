//! The OpenAPI document: the committed snapshot is what the server serves, and the document
//! holds together (every `$ref` resolves, every operation states its security and a declared
//! tag, no `default: null`), so generated clients and fuzzers can start from it.
//!
//! `GALLEY_UPDATE_OPENAPI=1 cargo test --test api openapi` rewrites `docs/openapi.json`; review
//! the diff like code: it is the contract frontends build on.

use std::collections::BTreeSet;

use galley::app::router;
use serde_json::Value;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

fn document() -> (Vec<u8>, Value) {
    let docs = router::document().expect("the document serialises");
    let value = serde_json::from_slice(&docs.json).expect("the document is JSON");
    (docs.json.to_vec(), value)
}

#[test]
fn the_committed_snapshot_is_the_served_document() {
    let (bytes, _) = document();
    if std::env::var_os("GALLEY_UPDATE_OPENAPI").is_some() {
        std::fs::write(SNAPSHOT, &bytes).expect("write the snapshot");
        return;
    }
    let committed = std::fs::read(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == bytes,
        "docs/openapi.json is not the document the code generates; \
         run `GALLEY_UPDATE_OPENAPI=1 cargo test --test api openapi` and review the diff"
    );
}

fn walk<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    out.push((path.clone(), value));
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                walk(item, format!("{path}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_holds_together() {
    let (_, doc) = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["servers"][0]["url"].is_string(), "servers");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut nodes = Vec::new();
    walk(&doc, String::new(), &mut nodes);
    for (path, node) in &nodes {
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{path}: unexpected $ref {reference}"));
            assert!(
                schemas.contains_key(name),
                "{path}: {reference} does not exist"
            );
        }
        assert!(
            node.get("default") != Some(&Value::Null),
            "{path}: default null makes clients require the field"
        );
    }
    let declared: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            assert!(op["security"].is_array(), "{method} {path}: no security");
            for tag in op["tags"].as_array().expect("operation tags") {
                assert!(
                    declared.contains(tag.as_str().expect("tag")),
                    "{method} {path}: tag {tag} is not declared"
                );
            }
        }
    }
    // Blocks are unions a client can switch on.
    for union in ["Block", "ShownBlock", "Inline"] {
        assert_eq!(
            schemas[union]["discriminator"]["propertyName"], "type",
            "{union}"
        );
    }
    assert!(
        schemas["ShownBlockImage"]["properties"]["image"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("/Image"))
    );
    assert_eq!(
        schemas["Article"]["properties"]["status"]["$ref"],
        "#/components/schemas/ArticleStatus"
    );
}

/// The resource schema an operation answers with: its 200 body, or a list's item.
fn answered_schema<'a>(doc: &'a Value, operation: &Value) -> Option<&'a Value> {
    let reference =
        operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].as_str()?;
    let schema = &doc["components"]["schemas"][reference.rsplit('/').next()?];
    let item = schema["properties"]["data"]["items"]["$ref"].as_str();
    Some(match item {
        Some(item) => &doc["components"]["schemas"][item.rsplit('/').next()?],
        None => schema,
    })
}

#[test]
fn every_fields_parameter_names_exactly_the_members_of_what_it_cuts() {
    let (_, doc) = document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(operation) = item.get("get") else {
            continue;
        };
        let Some(param) = operation["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "fields"))
        else {
            continue;
        };
        let pattern = param["schema"]["pattern"]
            .as_str()
            .expect("fields has a pattern");
        let in_order: Vec<&str> = pattern
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(names, _)| names.split('|').collect())
            .expect("the pattern lists names");
        assert_eq!(
            pattern,
            galley::http::fields::FieldSet::pattern(&in_order),
            "{path}: the pattern is not the form FieldSet accepts"
        );
        let listed: BTreeSet<String> = in_order.iter().map(|n| (*n).to_owned()).collect();
        // The feed cuts article objects; every other operation what it answers with.
        let schema = if path == "/v1/changes" {
            &doc["components"]["schemas"]["Article"]
        } else {
            answered_schema(&doc, operation).unwrap_or_else(|| panic!("{path}: no schema"))
        };
        let members: BTreeSet<String> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        assert_eq!(listed, members, "{path}: fields= and the schema differ");
        checked += 1;
    }
    assert_eq!(
        checked, 9,
        "articles, authors, tags, images (list and one each), changes"
    );
}
