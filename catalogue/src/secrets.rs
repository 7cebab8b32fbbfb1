//! Configuration fields a measure marks secret: the schema annotation
//! `"writeOnly": true` (the SDK's `#[schemars(extend("writeOnly" = true))]`),
//! which JSON Schema defines as "may be set, never read back".
//!
//! The plugin gets them (it was configured with them); people do not:
//! whatever prints an instance prints [`masked`].

use serde_json::Value;

/// What a secret field shows instead of its value.
pub const MASK: &str = "********";

/// JSON pointers of the fields of `config` that `schema` marks secret.
pub fn pointers(schema: &Value, config: &Value) -> Vec<String> {
    let mut config = config.clone();
    let mut found = Vec::new();
    crate::schema_walk::visit(schema, &mut config, &mut |field, _, pointer| {
        if field.get("writeOnly").and_then(Value::as_bool) == Some(true) {
            found.push(pointer.to_string());
            return true;
        }
        false
    });
    found
}

/// `config` with every field `schema` marks `writeOnly` replaced by [`MASK`].
pub fn masked(schema: &Value, config: &Value) -> Value {
    let mut config = config.clone();
    crate::schema_walk::visit(schema, &mut config, &mut |field, value, _| {
        if field.get("writeOnly").and_then(Value::as_bool) == Some(true) {
            *value = Value::String(MASK.into());
            return true;
        }
        false
    });
    config
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_behind_options_refs_and_maps_are_masked_too() {
        // schemars 1.x: Option<Auth> is anyOf [$ref, null]; a map of
        // structs is additionalProperties; writeOnly may sit beside a $ref.
        let schema = json!({
            "type": "object",
            "properties": {
                "auth": {"anyOf": [{"$ref": "#/$defs/Auth"}, {"type": "null"}]},
                "upstreams": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Auth"}},
                "token": {"$ref": "#/$defs/Token", "writeOnly": true}
            },
            "$defs": {
                "Auth": {"type": "object", "properties": {
                    "user": {"type": "string"},
                    "password": {"type": "string", "writeOnly": true}
                }},
                "Token": {"type": "string"}
            }
        });
        let config = json!({
            "auth": {"user": "u", "password": "p1"},
            "upstreams": {"eu": {"user": "v", "password": "p2"}},
            "token": "t1"
        });
        let shown = masked(&schema, &config).to_string();
        for secret in ["p1", "p2", "t1"] {
            assert!(
                !shown.contains(&format!("\"{secret}\"")),
                "{secret}: {shown}"
            );
        }
        assert!(
            shown.contains("\"u\"") && shown.contains("\"v\""),
            "{shown}"
        );
        let mut found = pointers(&schema, &config);
        found.sort();
        assert_eq!(
            found,
            ["/auth/password", "/token", "/upstreams/eu/password"]
        );
    }

    #[test]
    fn write_only_fields_are_masked_wherever_they_are() {
        let schema = json!({
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "token": {"type": "string", "writeOnly": true},
                "upstreams": {"type": "array", "items": {"$ref": "#/$defs/Upstream"}}
            },
            "$defs": {"Upstream": {"type": "object", "properties": {
                "host": {"type": "string"},
                "password": {"type": "string", "writeOnly": true}
            }}}
        });
        let config = json!({
            "url": "https://ci.example",
            "token": "ghp_abc",
            "upstreams": [{"host": "a", "password": "p1"}, {"host": "b"}]
        });
        let shown = masked(&schema, &config);
        assert_eq!(
            shown,
            json!({
                "url": "https://ci.example",
                "token": MASK,
                "upstreams": [{"host": "a", "password": MASK}, {"host": "b"}]
            })
        );
        assert!(!shown.to_string().contains("ghp_abc"));
    }
}
