//! A stored measurement: what every backend persists and every query returns.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One measurement of one instance, successful or not.
///
/// Invariant: exactly one of (`value` or `text`) and `error` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Backend-assigned sequence number (`None` before it is stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    pub instance: String,
    /// `id@version` of the measure that produced it.
    pub measure: String,
    pub measure_id: String,
    pub measure_version: String,
    /// When the engine took the measurement (end of the collection), in
    /// whole milliseconds.
    pub timestamp: DateTime<Utc>,
    /// When the measured thing was observed, if the plugin said.
    pub observed_at: Option<DateTime<Utc>>,
    pub value: Option<f64>,
    pub text: Option<String>,
    pub details: Option<Value>,
    pub labels: BTreeMap<String, String>,
    /// Why there is no value (see `sandbox::Failure`).
    pub error: Option<String>,
    /// Stable category of `error`: timeout, memory, trap, input...
    pub error_kind: Option<String>,
    /// Wall-clock time of the collection, in milliseconds.
    pub duration_ms: f64,
}

impl Measurement {
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }

    /// The value as a user reads it: number, text, or the error.
    pub fn display_value(&self) -> String {
        match (&self.error, self.value, &self.text) {
            (Some(e), _, _) => format!("ERROR {e}"),
            (None, Some(v), Some(t)) => format!("{v} ({t})"),
            (None, Some(v), None) => format_number(v),
            (None, None, Some(t)) => t.clone(),
            (None, None, None) => "-".into(),
        }
    }
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}").trim_end_matches('0').to_string()
    }
}

/// `t` truncated to whole milliseconds: the precision every store keeps, so
/// that a measurement compares equal to itself once stored.
pub fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// Which measurements a query returns, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub instance: Option<String>,
    /// Inclusive lower bound on `timestamp`.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, the most recent ones.
    pub limit: Option<usize>,
}
