//! What `smm es setup` installs, idempotently: the ILM policy
//! `smm-measurements`, the component templates `smm-measurements@settings`
//! and `smm-measurements@mappings`, the index template `smm-measurements`
//! (data streams `metrics-smm.measurements-*`, priority 200: above
//! Elastic's built-in `metrics-*-*` at 100, with an optional
//! `smm-measurements@custom` for local additions) and the data stream.
//!
//! Each object carries a version (`version`, or `_meta.version` for the
//! policy): setup writes only what is missing or older, and `serve` checks
//! at start that the index template is there.

use elasticsearch::http::Method;
use serde_json::Value;
use smm_catalogue::StoreError;

use super::service::Service;

pub const POLICY: &str = "smm-measurements";
pub const TEMPLATE: &str = "smm-measurements";

/// The objects, in installation order: (kind, API path, body).
pub fn objects() -> Vec<(&'static str, String, Value)> {
    let parse = |text: &str| -> Value {
        serde_json::from_str(text).expect("the shipped templates are JSON")
    };
    vec![
        (
            "ILM policy",
            format!("/_ilm/policy/{POLICY}"),
            parse(include_str!("templates/ilm-policy.json")),
        ),
        (
            "component template",
            "/_component_template/smm-measurements@settings".into(),
            parse(include_str!("templates/settings.json")),
        ),
        (
            "component template",
            "/_component_template/smm-measurements@mappings".into(),
            parse(include_str!("templates/mappings.json")),
        ),
        (
            "index template",
            format!("/_index_template/{TEMPLATE}"),
            parse(include_str!("templates/index-template.json")),
        ),
    ]
}

/// The version an object body declares.
fn version_of(body: &Value) -> Option<i64> {
    body.get("version")
        .or_else(|| body.pointer("/policy/_meta/version"))
        .and_then(Value::as_i64)
}

/// The version of what the cluster holds at `path` (from a GET answer).
fn installed_version(path: &str, answer: &Value) -> Option<i64> {
    let name = path.rsplit('/').next().unwrap_or_default();
    if path.starts_with("/_ilm/") {
        return answer
            .pointer(&format!("/{name}/policy/_meta/version"))
            .and_then(Value::as_i64);
    }
    let list = if path.starts_with("/_component_template/") {
        ("component_templates", "component_template")
    } else {
        ("index_templates", "index_template")
    };
    answer
        .get(list.0)
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|t| t["name"] == name))
        .and_then(|t| t[list.1].get("version"))
        .and_then(Value::as_i64)
}

/// What setup did with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setup {
    Created,
    Updated { from: i64 },
    Unchanged,
}

/// Install every object (and the data stream); one line per object.
pub async fn setup(
    service: &Service,
    data_stream: &str,
) -> Result<Vec<(String, Setup)>, StoreError> {
    let mut report = Vec::new();
    for (kind, path, body) in objects() {
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        let want = version_of(&body).unwrap_or(0);
        let have = service
            .json(Method::Get, &path, &[], None)
            .await?
            .and_then(|a| installed_version(&path, &a));
        let action = match have {
            Some(v) if v >= want => Setup::Unchanged,
            Some(v) => Setup::Updated { from: v },
            None => Setup::Created,
        };
        if action != Setup::Unchanged {
            service
                .json(Method::Put, &path, &[], Some(&body))
                .await
                .map_err(|e| e.context(format!("installing the {kind} {name}")))?;
        }
        report.push((format!("{kind} {name}"), action));
    }
    let ds_path = format!("/_data_stream/{data_stream}");
    let exists = service
        .json(Method::Get, &ds_path, &[], None)
        .await?
        .is_some();
    if !exists {
        service
            .json(Method::Put, &ds_path, &[], None)
            .await
            .map_err(|e| e.context(format!("creating the data stream {data_stream}")))?;
    }
    report.push((
        format!("data stream {data_stream}"),
        if exists {
            Setup::Unchanged
        } else {
            Setup::Created
        },
    ));
    Ok(report)
}

/// Whether the index template is installed at (at least) this version.
pub async fn check(service: &Service) -> Result<bool, StoreError> {
    let (_, path, body) = objects().pop().expect("the index template");
    let have = service
        .json(Method::Get, &path, &[], None)
        .await?
        .and_then(|a| installed_version(&path, &a));
    Ok(have.is_some_and(|v| Some(v) >= version_of(&body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_has_a_version_and_the_template_outranks_elastics_own() {
        for (kind, path, body) in objects() {
            assert_eq!(version_of(&body), Some(1), "{kind} {path}");
        }
        let (_, _, template) = objects().pop().unwrap();
        assert!(template["priority"].as_i64().unwrap() > 100);
        assert_eq!(template["index_patterns"][0], "metrics-smm.measurements-*");
        let answer = serde_json::json!({"index_templates": [{"name": "smm-measurements", "index_template": {"version": 1}}]});
        assert_eq!(
            installed_version("/_index_template/smm-measurements", &answer),
            Some(1)
        );
        let policy = serde_json::json!({"smm-measurements": {"version": 3, "policy": {"_meta": {"version": 1}}}});
        assert_eq!(
            installed_version("/_ilm/policy/smm-measurements", &policy),
            Some(1)
        );
    }
}
