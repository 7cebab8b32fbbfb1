//! Configuration fields a measure marks secret: the schema annotation
//! `"writeOnly": true` (the SDK's `#[schemars(extend("writeOnly" = true))]`),
//! which JSON Schema defines as "may be set, never read back".
//!
//! The plugin gets them (it was configured with them); people do not:
//! whatever prints an instance prints [`masked`].

use serde_json::Value;

/// What a secret field shows instead of its value.
pub const MASK: &str = "********";

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
