//! What every reader's summary gives the measure built on it.

use serde::Serialize;
use serde_json::Value;

use crate::Finding;

/// A reader's summary: the measurement's value, its details, and the
/// findings the engine's lifecycle follows.
pub trait Report: Serialize {
    /// The number a user expects on the dashboard.
    fn value(&self) -> f64;

    /// The findings, one per fingerprint, for a security report (an
    /// empty list included: a clean scan fixes everything that was open);
    /// `None` for a quality report, which has no findings to follow.
    fn findings(&self) -> Option<&[Finding]> {
        None
    }

    /// The details a measure returns: the summary, with its findings
    /// listed under `findings` for a security report (the engine takes
    /// them out of what it stores).
    fn details(&self) -> Result<Value, serde_json::Error>
    where
        Self: Sized,
    {
        serde_json::from_str(&self.details_json()?)
    }

    /// [`Report::details`] serialized, written straight from the summary
    /// and its findings (a large list costs no `Value` tree).
    fn details_json(&self) -> Result<String, serde_json::Error>
    where
        Self: Sized,
    {
        #[derive(Serialize)]
        struct WithFindings<'a, S: Serialize> {
            #[serde(flatten)]
            summary: &'a S,
            #[serde(skip_serializing_if = "Option::is_none")]
            findings: Option<&'a [Finding]>,
        }
        serde_json::to_string(&WithFindings {
            summary: self,
            findings: self.findings(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_hold_the_summary_and_its_findings() {
        let doc = br#"{"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": [
            {"VulnerabilityID": "CVE-1", "PkgName": "a", "InstalledVersion": "1", "Severity": "HIGH"}]}]}"#;
        let summary = crate::trivy::read(&doc[..]).unwrap();
        let details: Value = serde_json::from_str(&summary.details_json().unwrap()).unwrap();
        assert_eq!(details["vulnerabilities"], 1);
        assert_eq!(details["findings"][0]["fingerprint"], "CVE-1|a|1");
        assert_eq!(details["findings"][0]["severity"], "high");
        assert_eq!(summary.details().unwrap(), details);
        // A clean scan lists no finding, and says so.
        let clean = crate::trivy::read(&br#"{"SchemaVersion": 2, "Results": []}"#[..]).unwrap();
        assert_eq!(clean.details().unwrap()["findings"], serde_json::json!([]));
        // A quality report has no findings key.
        let lcov =
            crate::coverage::read(&b"SF:a.c\nDA:1,1\nDA:2,0\nLF:2\nLH:1\nend_of_record\n"[..])
                .unwrap();
        assert!(lcov.details().unwrap().get("findings").is_none());
    }
}
