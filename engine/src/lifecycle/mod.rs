//! The finding lifecycle: what successive scans of one instance say about
//! each finding — first seen, still there, fixed (absent from a later
//! successful scan), reopened (back after a fix).
//!
//! A measure stays stateless: it lists the findings of one report in its
//! details (`"findings": [{"fingerprint", "severity", "fixable", "kev",
//! "epss"}]`, see `smm_reports::Finding`). The sandbox takes that list out
//! of the details (it has its own limit, [`MAX_FINDINGS`], instead of the
//! output limit: a large image has tens of thousands of findings) and the
//! run path hands it to the [`FindingLedger`] once the measurement is
//! stored, at the measurement's timestamp.
//!
//! Invariants:
//! - A finding's history is a sequence of *periods*: opened at the scan
//!   that first saw it (again), fixed at the first later scan that did not.
//!   At most one period per finding is open.
//! - Only successful scans move the lifecycle: a failed scan proves
//!   nothing about what is fixed. A scan older than the last one tracked
//!   for the instance is ignored (late or backfilled measurements do not
//!   rewrite history).
//! - The ledger lives in the embedded store, whatever backend keeps the
//!   measurements, next to the scheduler's state.

use chrono::{DateTime, Utc};
use serde::Serialize;
use smm_catalogue::StoreError;

/// Most findings one measurement may list.
pub const MAX_FINDINGS: usize = 200_000;

/// Longest fingerprint accepted, in bytes.
pub const MAX_FINGERPRINT: usize = 512;

/// Severities a finding may have (`smm_reports::Severity`).
pub const SEVERITIES: [&str; 6] = ["critical", "high", "medium", "low", "info", "unknown"];

/// One finding as a scan reported it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub fingerprint: String,
    pub severity: String,
    pub fixable: bool,
    pub kev: bool,
    pub epss: Option<f64>,
}

/// One period of a finding: open from `opened_at` until `fixed_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    pub instance: String,
    pub fingerprint: String,
    pub severity: String,
    pub fixable: bool,
    pub kev: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epss: Option<f64>,
    /// When the finding was first seen at all (its first period's start).
    pub first_seen: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub fixed_at: Option<DateTime<Utc>>,
    /// This period follows a fix: the finding came back.
    pub reopened: bool,
}

/// What one tracked scan changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tracked {
    /// Open after the scan.
    pub open: u64,
    /// Seen for the first time.
    pub new: u64,
    /// Back after a fix.
    pub reopened: u64,
    /// Open before, absent now.
    pub fixed: u64,
    /// The scan was older than the last one tracked: nothing changed.
    pub ignored: bool,
}

/// Where the lifecycle is kept. Implementations make each call atomic.
pub trait FindingLedger: Send + Sync {
    /// Record the scan of `instance` at `at` that reported `findings`.
    fn track(
        &self,
        instance: &str,
        at: DateTime<Utc>,
        findings: &[Observed],
    ) -> Result<Tracked, StoreError>;

    /// The periods of `instance` (every instance when `None`), open ones
    /// only when `open_only`, oldest first.
    fn periods(&self, instance: Option<&str>, open_only: bool) -> Result<Vec<Period>, StoreError>;
}

/// A finding as a plugin lists it in `details.findings` (read typed: a
/// list of 200 000 findings costs the host what the strings cost).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Listed {
    pub fingerprint: String,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub fixable: bool,
    #[serde(default)]
    pub kev: bool,
    #[serde(default)]
    pub epss: Option<f64>,
}

/// Read a plugin's `details.findings` (raw JSON): `null` is no list; a
/// list is read typed and refused as soon as it holds more than
/// [`MAX_FINDINGS`] (no larger list is ever built).
pub fn read_listed(raw: &str) -> Result<Option<Vec<Listed>>, String> {
    struct Bounded;
    impl<'de> serde::de::Visitor<'de> for Bounded {
        type Value = Vec<Listed>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of findings")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(f) = seq.next_element::<Listed>()? {
                if out.len() == MAX_FINDINGS {
                    return Err(serde::de::Error::custom(format!(
                        "more than the {MAX_FINDINGS} findings accepted"
                    )));
                }
                out.push(f);
            }
            Ok(out)
        }
    }
    if raw.trim() == "null" {
        return Ok(None);
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    serde::Deserializer::deserialize_seq(&mut de, Bounded)
        .map(Some)
        .map_err(|e| format!("details.findings must be a list of findings: {e}"))
}

/// Check what a plugin listed: at most [`MAX_FINDINGS`], each fingerprint
/// 1 to [`MAX_FINGERPRINT`] bytes, each severity known (absent:
/// `unknown`), an EPSS outside 0–1 dropped.
pub fn check(listed: Vec<Listed>) -> Result<Vec<Observed>, String> {
    if listed.len() > MAX_FINDINGS {
        return Err(format!(
            "details.findings lists {} findings, more than the {MAX_FINDINGS} accepted",
            listed.len()
        ));
    }
    listed
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let at = |what: String| format!("details.findings[{i}]: {what}");
            if f.fingerprint.is_empty() || f.fingerprint.len() > MAX_FINGERPRINT {
                return Err(at(format!(
                    "a fingerprint must be 1 to {MAX_FINGERPRINT} bytes"
                )));
            }
            let severity = f.severity.unwrap_or_else(|| "unknown".into());
            if !SEVERITIES.contains(&severity.as_str()) {
                return Err(at(format!(
                    "severity {:?} is not one of {}",
                    smm_catalogue::text::shorten(&severity, 32),
                    SEVERITIES.join(", ")
                )));
            }
            Ok(Observed {
                fingerprint: f.fingerprint,
                severity,
                fixable: f.fixable,
                kev: f.kev,
                epss: f.epss.filter(|e| (0.0..=1.0).contains(e)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn listed(v: serde_json::Value) -> Vec<Listed> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn listed_findings_are_checked() {
        let f = check(listed(json!([
            {"fingerprint": "CVE-1|a|1", "severity": "high", "fixable": true},
            {"fingerprint": "CVE-2|b|2", "kev": true, "epss": 0.4},
            {"fingerprint": "CVE-3|c|3", "epss": 7.0}
        ])))
        .unwrap();
        assert!(f[0].fixable && !f[0].kev);
        assert_eq!((f[1].severity.as_str(), f[1].epss), ("unknown", Some(0.4)));
        assert_eq!(f[2].epss, None);
        for (bad, want) in [
            (
                json!([{"fingerprint": ""}]),
                "[0]: a fingerprint must be 1 to 512 bytes",
            ),
            (
                json!([{"fingerprint": "x", "severity": "dire"}]),
                "not one of",
            ),
        ] {
            let e = check(listed(bad)).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
