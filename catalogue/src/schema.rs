//! Configuration schemas: checking that a plugin's schema is a JSON Schema,
//! and validating instance configurations against it.

use serde_json::Value;

use crate::error::Violation;

/// A compiled configuration schema.
pub struct ConfigSchema {
    validator: jsonschema::Validator,
}

/// Drafts the bundled meta-schemas cover; another `$schema` is refused
/// rather than fetched.
const KNOWN_DRAFTS: [&str; 5] = [
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft-07/schema",
    "http://json-schema.org/draft-06/schema",
    "http://json-schema.org/draft-04/schema",
];

impl ConfigSchema {
    /// Check `schema` against its meta-schema and compile it. The error
    /// names the first offending place in the schema.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        match schema {
            Value::Object(map) => {
                if let Some(draft) = map.get("$schema") {
                    let known = draft
                        .as_str()
                        .map(|d| d.trim_end_matches('#'))
                        .is_some_and(|d| KNOWN_DRAFTS.contains(&d));
                    if !known {
                        return Err(format!(
                            "unsupported $schema {draft}: use JSON Schema draft 2020-12, 2019-09, 7, 6 or 4"
                        ));
                    }
                }
            }
            Value::Bool(_) => {}
            _ => return Err("a JSON Schema must be an object or a boolean".into()),
        }
        let meta = jsonschema::meta::validator_for(schema).map_err(|e| e.to_string())?;
        if let Some(e) = meta.iter_errors(schema).next() {
            return Err(format!(
                "at {}: {e}",
                pointer_or_root(e.instance_path().as_str())
            ));
        }
        let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
        Ok(Self { validator })
    }

    /// Every violation of `config`, each with its JSON pointer.
    pub fn violations(&self, config: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(config)
            .map(|e| Violation {
                pointer: e.instance_path().as_str().to_string(),
                message: e.to_string(),
            })
            .collect()
    }
}

fn pointer_or_root(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn violations_carry_json_pointers() {
        let schema = ConfigSchema::compile(&json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "limits": {"type": "object", "properties": {"max": {"type": "integer", "minimum": 1}}}
            },
            "required": ["path"]
        }))
        .unwrap();
        let v = schema.violations(&json!({"path": 3, "limits": {"max": 0}}));
        let pointers: Vec<_> = v.iter().map(|v| v.pointer.as_str()).collect();
        assert!(pointers.contains(&"/path"), "{v:?}");
        assert!(pointers.contains(&"/limits/max"), "{v:?}");
        let v = schema.violations(&json!({}));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].pointer, "");
        assert!(v[0].message.contains("path"), "{}", v[0].message);
        assert!(schema.violations(&json!({"path": "a"})).is_empty());
    }

    #[test]
    fn invalid_or_foreign_schemas_are_refused() {
        assert!(ConfigSchema::compile(&json!({"type": 12})).is_err());
        assert!(ConfigSchema::compile(&json!("string")).is_err());
        let err = ConfigSchema::compile(&json!({"$schema": "https://example.com/my-meta"}))
            .err()
            .unwrap();
        assert!(err.contains("unsupported $schema"), "{err}");
        assert!(
            ConfigSchema::compile(
                &json!({"$schema": "https://json-schema.org/draft/2020-12/schema"})
            )
            .is_ok()
        );
    }
}
