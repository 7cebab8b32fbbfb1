//! Walking a configuration alongside its JSON Schema, to find the fields
//! the schema marks (paths, secrets).
//!
//! Only what a measure's generated schema uses is followed: `properties`,
//! `items` and local `$ref`s (`#/$defs/X`, `#/definitions/X`). A recursive
//! schema stops at depth 32.

use serde_json::Value;

/// Call `mark(field_schema, value, json_pointer)` for every value of
/// `config` that `schema` describes, outermost first; when `mark` returns
/// true the value is handled and its contents are not visited.
pub(crate) fn visit(
    schema: &Value,
    config: &mut Value,
    mark: &mut dyn FnMut(&Value, &mut Value, &str) -> bool,
) {
    walk(schema, schema, config, String::new(), mark, 0);
}

/// The schema a `$ref` points to.
fn follow<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or(node),
        None => node,
    }
}

fn walk(
    root: &Value,
    node: &Value,
    value: &mut Value,
    pointer: String,
    mark: &mut dyn FnMut(&Value, &mut Value, &str) -> bool,
    depth: usize,
) {
    if depth > 32 {
        return; // a recursive schema: no configuration is that deep
    }
    let node = follow(root, node);
    if mark(node, value, &pointer) {
        return;
    }
    match value {
        Value::Object(map) => {
            let Some(properties) = node.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (key, field) in map.iter_mut() {
                if let Some(schema) = properties.get(key) {
                    let at = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    walk(root, schema, field, at, mark, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            let Some(schema) = node.get("items").filter(|i| i.is_object()) else {
                return;
            };
            for (i, item) in items.iter_mut().enumerate() {
                walk(
                    root,
                    schema,
                    item,
                    format!("{pointer}/{i}"),
                    mark,
                    depth + 1,
                );
            }
        }
        _ => {}
    }
}
