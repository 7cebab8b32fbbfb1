//! A measurement as an Elasticsearch document, and back.
//!
//! Field names follow the Elastic Common Schema where it has the field
//! (`@timestamp`, `labels.*`, `service.name`, `event.*`, `error.message`,
//! `error.type`, `data_stream.*`); the rest lives under `measurement.*` and
//! `measure.*` (denormalised, so Kibana needs no joins). The mappings are
//! in `templates/mappings.json`; what is absent is omitted, never `null`.
//!
//! Invariant: `decode(encode(m)) == m` for every sealed measurement whose
//! duration is a whole number of nanoseconds (the engine measures it so).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::measurement::Measurement;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The document of `m` in data stream `namespace`, as JSON bytes.
pub fn encode(m: &Measurement, namespace: &str) -> Vec<u8> {
    let mut measurement = Map::new();
    measurement.insert("id".into(), json!(m.id));
    measurement.insert("instance".into(), json!(m.instance));
    if let Some(v) = m.value {
        measurement.insert("value".into(), json!(v));
    }
    if let Some(t) = &m.text {
        measurement.insert("text".into(), json!(t));
    }
    if let Some(d) = &m.details {
        measurement.insert("details".into(), d.clone());
    }
    if let Some(t) = m.observed_at {
        measurement.insert("observed_at".into(), json!(time(t)));
    }
    let mut doc = json!({
        "@timestamp": time(m.timestamp),
        "data_stream": {"type": "metrics", "dataset": "smm.measurements", "namespace": namespace},
        "event": {
            "kind": "metric",
            "module": "smm",
            "dataset": "smm.measurements",
            "outcome": if m.is_error() { "failure" } else { "success" },
            "duration": (m.duration_ms * 1e6).round() as i64,
        },
        "measurement": measurement,
        "measure": {
            "id": m.measure_id,
            "version": m.measure_version,
            "reference": m.measure,
            "name": m.measure_name,
            "unit": m.unit,
            "kind": m.kind,
            "scale": m.scale,
        },
        "labels": m.labels,
    });
    if let Some(service) = m.labels.get("service") {
        doc["service"] = json!({"name": service});
    }
    if let Some(e) = &m.error {
        let mut error = Map::new();
        error.insert("message".into(), json!(e));
        if let Some(kind) = &m.error_kind {
            error.insert("type".into(), json!(kind));
        }
        doc["error"] = Value::Object(error);
    }
    serde_json::to_vec(&doc).expect("a JSON value serialises")
}

/// The measurement a document's `_source` holds.
pub fn decode(source: &Value) -> Result<Measurement, String> {
    let str_at = |path: &str| -> Option<String> {
        source
            .pointer(path)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let required = |path: &str| str_at(path).ok_or_else(|| format!("the document has no {path}"));
    let date = |path: &str| -> Result<Option<DateTime<Utc>>, String> {
        str_at(path)
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| format!("{path} {s:?}: {e}"))
            })
            .transpose()
    };
    let labels: BTreeMap<String, String> = match source.get("labels") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(Measurement {
        id: required("/measurement/id")?,
        instance: required("/measurement/instance")?,
        measure: required("/measure/reference")?,
        measure_id: required("/measure/id")?,
        measure_version: required("/measure/version")?,
        measure_name: str_at("/measure/name").unwrap_or_default(),
        unit: str_at("/measure/unit").unwrap_or_default(),
        kind: str_at("/measure/kind").unwrap_or_default(),
        scale: str_at("/measure/scale").unwrap_or_default(),
        timestamp: date("/@timestamp")?.ok_or("the document has no @timestamp")?,
        observed_at: date("/measurement/observed_at")?,
        value: source.pointer("/measurement/value").and_then(Value::as_f64),
        text: str_at("/measurement/text"),
        details: source.pointer("/measurement/details").cloned(),
        labels,
        error: str_at("/error/message"),
        error_kind: str_at("/error/type"),
        duration_ms: source
            .pointer("/event/duration")
            .and_then(Value::as_i64)
            .map_or(0.0, |ns| ns as f64 / 1e6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_780_000_000_000 + ms).unwrap()
    }

    fn measurement(instance: &str, at: DateTime<Utc>, labels: &[(&str, &str)]) -> Measurement {
        let mut m = Measurement {
            id: String::new(),
            instance: instance.into(),
            measure: "sarif-findings@1.1.0".into(),
            measure_id: "sarif-findings".into(),
            measure_version: "1.1.0".into(),
            measure_name: "SARIF findings".into(),
            unit: "findings".into(),
            kind: "direct".into(),
            scale: "ratio".into(),
            timestamp: at,
            observed_at: None,
            value: Some(12.0),
            text: None,
            details: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            error: None,
            error_kind: None,
            duration_ms: 1.5,
        };
        m.seal();
        m
    }

    #[test]
    fn documents_round_trip_and_use_ecs_names() {
        let mut m = measurement("api-sast", t(0), &[("service", "api"), ("team", "pay")]);
        m.details = Some(json!({"by_level": {"error": 3}}));
        m.observed_at = Some(t(-1000));
        m.duration_ms = 2.15;
        m.seal();
        let bytes = encode(&m, "default");
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["service"]["name"], "api");
        assert_eq!(doc["event"]["duration"], 2_150_000);
        assert_eq!(doc["event"]["outcome"], "success");
        assert_eq!(doc["labels"]["team"], "pay");
        assert_eq!(doc["data_stream"]["dataset"], "smm.measurements");
        assert!(doc.get("error").is_none(), "absent, not null");
        assert_eq!(decode(&doc).unwrap(), m);

        let mut f = measurement("api-sast", t(1), &[]);
        f.value = None;
        f.error = Some("the plugin trapped".into());
        f.error_kind = Some("trap".into());
        f.seal();
        let doc: Value = serde_json::from_slice(&encode(&f, "default")).unwrap();
        assert_eq!(doc["error"]["type"], "trap");
        assert_eq!(doc["event"]["outcome"], "failure");
        assert!(doc["measurement"].get("value").is_none());
        assert_eq!(decode(&doc).unwrap(), f);
    }

    #[test]
    fn a_document_missing_a_field_says_which() {
        let e = decode(&json!({"measurement": {"id": "x"}})).unwrap_err();
        assert!(e.contains("/measurement/instance"), "{e}");
    }
}
