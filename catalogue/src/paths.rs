//! Configuration fields that name files: a measure marks them in its
//! schema with `"format": "path"` (the SDK's `#[schemars(extend("format" =
//! "path"))]`), and the catalogue makes them mean what the plugin will see.
//!
//! A plugin sees each granted directory at its own absolute host path and
//! nothing else, so at `instance create` every path field is:
//! - made absolute: a relative path is taken relative to the first granted
//!   directory;
//! - normalised lexically: `.` and `..` are resolved (`/srv/ci/../r/a` is
//!   `/srv/r/a`);
//! - checked to lie inside a granted directory, else refused with the
//!   field's JSON pointer and the grants.
//!
//! The stored configuration holds the resolved paths.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::error::Violation;

/// The schema `format` of a path field.
pub const PATH_FORMAT: &str = "path";

/// `config` with its path fields (per `schema`) resolved against `grants`,
/// or every path that cannot be resolved, by JSON pointer.
pub fn resolve(
    schema: &Value,
    config: &Value,
    grants: &[PathBuf],
) -> Result<Value, Vec<Violation>> {
    let mut config = config.clone();
    let mut violations = Vec::new();
    crate::schema_walk::visit(schema, &mut config, &mut |field, value, pointer| {
        if field.get("format").and_then(Value::as_str) != Some(PATH_FORMAT) {
            return false;
        }
        if let Value::String(path) = value {
            match resolve_one(path, grants) {
                Ok(resolved) => *path = resolved,
                Err(message) => violations.push(Violation {
                    pointer: pointer.to_string(),
                    message,
                }),
            }
        }
        true
    });
    if violations.is_empty() {
        Ok(config)
    } else {
        Err(violations)
    }
}

/// `path`, absolute (relative to the first grant), without `.` or `..`,
/// inside a grant.
fn resolve_one(path: &str, grants: &[PathBuf]) -> Result<String, String> {
    let given = Path::new(path);
    let absolute = if given.is_absolute() {
        given.to_path_buf()
    } else {
        match grants.first() {
            Some(first) => first.join(given),
            None => {
                return Err(format!(
                    "{path:?} is relative, and there is no granted directory to resolve it against: grant one (--grant-dir) or give an absolute path"
                ));
            }
        }
    };
    let normal = normalise(&absolute);
    if grants.iter().any(|g| normal.starts_with(g)) {
        return normal
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{path:?} is not UTF-8 once resolved"));
    }
    let granted: Vec<String> = grants.iter().map(|g| g.display().to_string()).collect();
    Err(format!(
        "{} lies outside the granted directories ({}): the measure could not read it; grant its directory (--grant-dir)",
        normal.display(),
        if granted.is_empty() {
            "none".into()
        } else {
            granted.join(", ")
        }
    ))
}

/// `.` and `..` resolved without touching the filesystem (`..` never goes
/// above the root).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "format": "path"},
                "label": {"type": "string"},
                "more": {"type": "array", "items": {"$ref": "#/$defs/Input"}}
            },
            "$defs": {"Input": {"type": "object", "properties": {"file": {"type": ["string", "null"], "format": "path"}}}}
        })
    }

    #[test]
    fn relative_and_dotted_paths_resolve_inside_the_grants() {
        let grants = vec![PathBuf::from("/srv/reports"), PathBuf::from("/srv/ci")];
        let config = json!({
            "path": "api/a.sarif",
            "label": "../not/a/path",
            "more": [{"file": "/srv/ci/../ci/./b.xml"}, {"file": null}]
        });
        let got = resolve(&schema(), &config, &grants).unwrap();
        assert_eq!(got["path"], "/srv/reports/api/a.sarif");
        assert_eq!(got["label"], "../not/a/path", "only path fields change");
        assert_eq!(got["more"][0]["file"], "/srv/ci/b.xml");
        assert!(got["more"][1]["file"].is_null());
    }

    #[test]
    fn paths_outside_every_grant_are_refused_with_their_pointer() {
        let grants = vec![PathBuf::from("/srv/reports")];
        let config =
            json!({"path": "/srv/reports/../secrets/key", "more": [{"file": "../../etc/passwd"}]});
        let v = resolve(&schema(), &config, &grants).unwrap_err();
        let at = |p: &str| {
            v.iter()
                .find(|v| v.pointer == p)
                .unwrap_or_else(|| panic!("{p}: {v:?}"))
        };
        assert_eq!(v.len(), 2);
        let path = &at("/path").message;
        assert!(
            path.contains("/srv/secrets/key lies outside") && path.contains("/srv/reports"),
            "{path}"
        );
        assert!(at("/more/0/file").message.contains("/etc/passwd"));
        let v = resolve(&schema(), &json!({"path": "a.sarif"}), &[]).unwrap_err();
        assert!(
            v[0].message.contains("no granted directory"),
            "{}",
            v[0].message
        );
    }
}
