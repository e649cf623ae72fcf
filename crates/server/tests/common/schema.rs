//! Every response of the API test suite is checked against the OpenAPI document: the body of a
//! declared status against its declared JSON schema, and every error against `Problem`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::Value;

struct Doc {
    json: Value,
    /// (method, template) of every operation.
    operations: Vec<(String, String)>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static DOC: LazyLock<Doc> = LazyLock::new(|| {
    let json = serde_json::to_value(callvault_server::api::openapi()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in json["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    Doc { json, operations, validators: Mutex::new(HashMap::new()) }
});

/// The template of `path` among `method`'s operations; literal segments win over parameters.
fn template(method: &str, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    DOC.operations
        .iter()
        .filter(|(m, _)| m == method)
        .filter_map(|(_, t)| {
            let tp: Vec<&str> = t.split('/').collect();
            if tp.len() != parts.len() {
                return None;
            }
            let mut literal = 0;
            for (a, b) in tp.iter().zip(&parts) {
                if a.starts_with('{') {
                    continue;
                }
                if a != b {
                    return None;
                }
                literal += 1;
            }
            Some((literal, t.clone()))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, t)| t)
}

fn validator(key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
    let mut cache = DOC.validators.lock().unwrap();
    if let Some(v) = cache.get(key) {
        return v.clone();
    }
    // References point at `#/components/…`: the components travel inside the root schema.
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": DOC.json["components"].clone(),
    });
    let v = Arc::new(jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema of {key}: {e}")));
    cache.insert(key.to_owned(), v.clone());
    v
}

/// Checks one JSON response; panics naming the route, status and the first violations.
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &[u8]) {
    let Some(ct) = content_type else { return };
    let json_like = ct.starts_with("application/json") || ct.starts_with("application/problem+json");
    if !json_like || body.is_empty() {
        return;
    }
    let Some(template) = template(method, path) else { return };
    let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
    let op = &DOC.json["paths"][&template][method.to_lowercase()];
    let declared = &op["responses"][status.to_string()]["content"];
    let schema = declared
        .get("application/json")
        .or_else(|| declared.get("application/problem+json"))
        .and_then(|c| c.get("schema"))
        .cloned();
    let (key, schema) = match schema {
        Some(s) => (format!("{method} {template} {status}"), s),
        // Errors a route does not declare are still problems.
        None if status >= 400 => ("Problem".to_owned(), serde_json::json!({ "$ref": "#/components/schemas/Problem" })),
        None => return,
    };
    let v = validator(&key, &schema);
    let errors: Vec<String> =
        v.iter_errors(&value).take(5).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} ({template}) {status}: the body does not match the OpenAPI schema: {errors:#?}\n{value}"
    );
}
