//! A stored measurement: what every backend persists and every query returns.
//!
//! Invariant: a measurement's [`Measurement::id`] is a function of its
//! instance, timestamp, labels and outcome (success or error) only, so the
//! same measurement appended twice (a retry, a re-sent batch, a second
//! engine) is recognised as already stored by every backend; it is also the
//! Elasticsearch `_id`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One measurement of one instance, successful or not.
///
/// Invariant: exactly one of (`value` or `text`) and `error` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Stable id (32 hex digits), see [`Measurement::compute_id`].
    pub id: String,
    pub instance: String,
    /// `id@version` of the measure that produced it.
    pub measure: String,
    pub measure_id: String,
    pub measure_version: String,
    /// The measure's name, unit, SMM kind and scale, copied from the
    /// catalogue so that a store needs no join to describe it.
    #[serde(default)]
    pub measure_name: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub scale: String,
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

    /// The stable id of a measurement of `instance` at `timestamp` (whole
    /// milliseconds) with `labels`, successful or not: 128 bits of a
    /// SHA-256 over those fields, as 32 hex digits. Labels tell apart the
    /// groups of a grouped collective; the outcome lets an instant that
    /// failed and later succeeded keep both measurements.
    pub fn compute_id(
        instance: &str,
        timestamp: DateTime<Utc>,
        labels: &BTreeMap<String, String>,
        is_error: bool,
    ) -> String {
        let mut h = Sha256::new();
        // Length-prefixed fields: no two different inputs hash the same bytes.
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(instance.as_bytes());
        field(&timestamp.timestamp_millis().to_le_bytes());
        for (k, v) in labels {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        field(if is_error { b"error" } else { b"ok" });
        hex::encode(&h.finalize()[..16])
    }

    /// Set [`Measurement::id`] from the other fields; call once they are final.
    pub fn seal(&mut self) {
        self.timestamp = to_millis(self.timestamp);
        self.id = Self::compute_id(
            &self.instance,
            self.timestamp,
            &self.labels,
            self.is_error(),
        );
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

/// Which measurements a query returns: oldest first (by timestamp, then id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub instance: Option<String>,
    /// Only measurements of this measure id.
    pub measure_id: Option<String>,
    /// Only measurements carrying all of these labels.
    pub labels: BTreeMap<String, String>,
    /// Inclusive lower bound on `timestamp`.
    pub since: Option<DateTime<Utc>>,
    /// Inclusive upper bound on `timestamp`.
    pub until: Option<DateTime<Utc>>,
    /// At most this many, the most recent ones.
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_tell_apart_what_must_differ() {
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
        let id = Measurement::compute_id("i", t, &labels, false);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id, Measurement::compute_id("i", t, &labels, false));
        let later = t + chrono::Duration::milliseconds(1);
        for other in [
            Measurement::compute_id("j", t, &labels, false),
            Measurement::compute_id("i", later, &labels, false),
            Measurement::compute_id("i", t, &BTreeMap::new(), false),
            Measurement::compute_id("i", t, &labels, true),
        ] {
            assert_ne!(id, other);
        }
        // Field boundaries matter: ("ab", "c") is not ("a", "bc").
        let l1 = BTreeMap::from([("ab".to_string(), "c".to_string())]);
        let l2 = BTreeMap::from([("a".to_string(), "bc".to_string())]);
        assert_ne!(
            Measurement::compute_id("i", t, &l1, false),
            Measurement::compute_id("i", t, &l2, false)
        );
    }
}
