//! Walking a configuration alongside its JSON Schema, to find the fields
//! the schema marks (paths, secrets).
//!
//! What a measure's generated schema uses is followed: `properties`,
//! `additionalProperties`, `items`, local `$ref`s (`#/$defs/X`,
//! `#/definitions/X`) and the branches of `allOf`/`anyOf`/`oneOf`. A mark
//! next to a `$ref` counts. A recursive schema stops at depth 32.

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

/// The schemas that describe a value at `node`: the node itself (its
/// `$ref` followed) and the branches of its `allOf`, `anyOf` and `oneOf`
/// (each followed): schemars writes `Option<Struct>` as
/// `{"anyOf": [{"$ref": ...}, {"type": "null"}]}`.
fn candidates<'a>(root: &'a Value, node: &'a Value) -> Vec<&'a Value> {
    let node = follow(root, node);
    let mut out = vec![node];
    for key in ["allOf", "anyOf", "oneOf"] {
        for branch in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(follow(root, branch));
        }
    }
    out
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
    // The node as written first: an annotation beside a `$ref` (such as
    // `writeOnly`) counts.
    if mark(node, value, &pointer) {
        return;
    }
    let schemas = candidates(root, node);
    for schema in &schemas {
        if !std::ptr::eq(*schema, node) && mark(schema, value, &pointer) {
            return;
        }
    }
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                let by_name = schemas.iter().find_map(|s| {
                    s.get("properties")
                        .and_then(Value::as_object)
                        .and_then(|p| p.get(key))
                });
                let by_default = || {
                    schemas
                        .iter()
                        .find_map(|s| s.get("additionalProperties").filter(|a| a.is_object()))
                };
                if let Some(schema) = by_name.or_else(by_default) {
                    let at = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    walk(root, schema, field, at, mark, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            let Some(schema) = schemas
                .iter()
                .find_map(|s| s.get("items").filter(|i| i.is_object()))
            else {
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
