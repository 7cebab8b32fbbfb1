//! CycloneDX JSON documents, spec 1.2 to 1.6: a BOM (`components[]`,
//! with `vulnerabilities[]` since 1.4) or a standalone VEX (only
//! `vulnerabilities[]`, whose `affects[].ref` point into another BOM). The
//! document has `"bomFormat": "CycloneDX"` and a `specVersion`; any other
//! field may be absent. Later spec versions are read the same way.
//!
//! Value: the number of entries in `vulnerabilities[]`.
//!
//! Details:
//! - `vulnerabilities`: the value;
//! - `by_severity`: by the highest of the vulnerability's `ratings[]`, each
//!   rating's `severity` word, or its `score` on the CVSS 0–10 scale
//!   ([`Severity::from_score`]) when the word is absent or `unknown`; no
//!   rating is `unknown`;
//! - `by_analysis_state`: by `analysis.state` (the six states of the spec
//!   and `none`, for no analysis or no state, always present; other words
//!   as written);
//! - `open`: state `exploitable`, `in_triage` or none, and any state the
//!   spec does not define (not knowing it, the reader does not hide it);
//! - `suppressed`: `not_affected`, `false_positive`, `resolved` and
//!   `resolved_with_pedigree` (resolved, with the pedigree to show it):
//!   nothing left to do. `open + suppressed = vulnerabilities`;
//! - `components`: entries of `components[]`, nested `components[]`
//!   included (not `metadata.component`, the BOM's subject);
//! - `spec_version`: `specVersion` as written (empty when absent).
//!
//! Findings: one per open vulnerability (a suppressed one has nothing left
//! to do: for the lifecycle, suppressing it fixes it, as in SARIF),
//! fingerprint `id|refs`, where `id` is the
//! vulnerability's `id` (else its `bom-ref`) and `refs` its `affects[].ref`
//! sorted, deduplicated and joined with `,`; severity as in `by_severity`.
//! CycloneDX has no fix, KEV or EPSS field: those stay unset.
//!
//! Rejected: a document whose `bomFormat` is absent or not `CycloneDX`.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::finding::Findings;
use crate::json::{Object, TopLevel};
use crate::{BySeverity, Finding, ReportError, Severity, TOP, Tally, from_json};

/// Analysis states meaning there is nothing left to do.
const SUPPRESSED: [&str; 4] = [
    "not_affected",
    "false_positive",
    "resolved",
    "resolved_with_pedigree",
];

/// Keys always present in `by_analysis_state`: the spec's states and
/// `none`.
const STATES: [&str; 7] = [
    "exploitable",
    "in_triage",
    "not_affected",
    "false_positive",
    "resolved",
    "resolved_with_pedigree",
    "none",
];

/// What a CycloneDX document comes to.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    pub vulnerabilities: u64,
    pub by_severity: BySeverity,
    /// Vulnerabilities per `analysis.state`.
    pub by_analysis_state: BTreeMap<String, u64>,
    pub open: u64,
    pub suppressed: u64,
    /// Components, nested ones included.
    pub components: u64,
    pub spec_version: String,
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl crate::Report for Summary {
    /// The number of vulnerabilities.
    fn value(&self) -> f64 {
        self.vulnerabilities as f64
    }

    fn findings(&self) -> Option<&[Finding]> {
        Some(&self.findings)
    }
}

/// Read a CycloneDX JSON BOM or VEX.
pub fn read(input: impl Read) -> Result<Summary, ReportError> {
    let Object::<Bom>(bom) = from_json(input)?;
    match bom.bom_format.as_deref() {
        Some("CycloneDX") => {}
        None => {
            return Err(ReportError::new(
                "not a CycloneDX document: /bomFormat is missing \
                 (a CycloneDX JSON BOM has \"bomFormat\": \"CycloneDX\")",
            ));
        }
        Some(other) => {
            return Err(ReportError::new(format!(
                "not a CycloneDX document: /bomFormat is {other:?}, not \"CycloneDX\""
            )));
        }
    }

    let mut summary = Summary {
        components: count(&bom.components),
        spec_version: bom.spec_version,
        ..Summary::default()
    };
    let mut states = Tally::default();
    let mut findings = Findings::default();
    for v in bom.vulnerabilities {
        let severity = v
            .ratings
            .iter()
            .map(Rating::severity)
            .min()
            .unwrap_or(Severity::Unknown);
        let state = v
            .analysis
            .as_ref()
            .map(|a| a.state.trim())
            .filter(|s| !s.is_empty())
            .unwrap_or("none");

        summary.vulnerabilities += 1;
        summary.by_severity.add(severity);
        states.add(state);
        if SUPPRESSED.contains(&state) {
            summary.suppressed += 1;
        } else {
            summary.open += 1;
        }

        if SUPPRESSED.contains(&state) {
            continue; // nothing left to do: as good as fixed for the lifecycle
        }
        let mut refs: Vec<&str> = v.affects.iter().map(|a| a.reference.as_str()).collect();
        refs.sort_unstable();
        refs.dedup();
        let id = if v.id.is_empty() { &v.bom_ref } else { &v.id };
        findings.add(Finding::new(format!("{id}|{}", refs.join(",")), severity));
    }
    summary.by_analysis_state = STATES.iter().map(|s| (s.to_string(), 0)).collect();
    summary.by_analysis_state.extend(states.top(TOP));
    summary.findings = findings.into_list();
    Ok(summary)
}

/// Components, nested ones included.
fn count(components: &[Component]) -> u64 {
    components.iter().map(|c| 1 + count(&c.components)).sum()
}

/// The document's top level: an object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    #[serde(default)]
    bom_format: Option<String>,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    spec_version: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    components: Vec<Component>,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    vulnerabilities: Vec<Vulnerability>,
}

/// A component, read for its nested components only.
#[derive(Default, Deserialize)]
struct Component {
    #[serde(default, deserialize_with = "crate::json::nullable")]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default, deserialize_with = "crate::json::nullable")]
    id: String,
    #[serde(
        rename = "bom-ref",
        default,
        deserialize_with = "crate::json::nullable"
    )]
    bom_ref: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    ratings: Vec<Rating>,
    #[serde(default)]
    analysis: Option<Analysis>,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    affects: Vec<Affect>,
}

#[derive(Deserialize)]
struct Rating {
    #[serde(default, deserialize_with = "crate::json::nullable")]
    severity: String,
    #[serde(default)]
    score: Option<f64>,
}

impl Rating {
    /// The rating's word, else its score.
    fn severity(&self) -> Severity {
        match (Severity::from_word(&self.severity), self.score) {
            (Severity::Unknown, Some(score)) => Severity::from_score(score),
            (severity, _) => severity,
        }
    }
}

#[derive(Deserialize)]
struct Analysis {
    #[serde(default, deserialize_with = "crate::json::nullable")]
    state: String,
}

#[derive(Deserialize)]
struct Affect {
    #[serde(rename = "ref", default, deserialize_with = "crate::json::nullable")]
    reference: String,
}

impl TopLevel for Bom {
    const EXPECTING: &'static str =
        "a CycloneDX JSON document (an object with \"bomFormat\": \"CycloneDX\")";
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use super::*;
    use crate::Report;
    use crate::testing::fixture;

    fn read_str(doc: &str) -> Result<Summary, ReportError> {
        read(doc.as_bytes())
    }

    /// What a document should come to, by a plain walk of its JSON.
    struct Expected {
        vulnerabilities: u64,
        by_severity: BTreeMap<String, u64>,
        by_analysis_state: BTreeMap<String, u64>,
        open: u64,
        suppressed: u64,
        components: u64,
        spec_version: String,
        fingerprints: BTreeSet<String>,
    }

    fn walk_components(components: &Value) -> u64 {
        components
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| 1 + walk_components(&c["components"]))
            .sum()
    }

    /// The rank of a rating on the details' scale (0 = critical) and its
    /// name, written out here.
    fn rank(rating: &Value) -> (u8, &'static str) {
        const NAMES: [&str; 6] = ["critical", "high", "medium", "low", "info", "unknown"];
        let by_word = match rating["severity"].as_str().unwrap_or("") {
            "critical" => Some(0),
            "high" => Some(1),
            "medium" => Some(2),
            "low" => Some(3),
            "info" | "none" => Some(4),
            _ => None,
        };
        let r = by_word.unwrap_or_else(|| match rating["score"].as_f64() {
            Some(s) if s >= 9.0 => 0,
            Some(s) if s >= 7.0 => 1,
            Some(s) if s >= 4.0 => 2,
            Some(s) if s > 0.0 => 3,
            Some(_) => 4,
            None => 5,
        });
        (r, NAMES[r as usize])
    }

    fn walk(doc: &Value) -> Expected {
        let mut e = Expected {
            vulnerabilities: 0,
            by_severity: ["critical", "high", "medium", "low", "info", "unknown"]
                .iter()
                .map(|k| (k.to_string(), 0))
                .collect(),
            by_analysis_state: STATES.iter().map(|k| (k.to_string(), 0)).collect(),
            open: 0,
            suppressed: 0,
            components: walk_components(&doc["components"]),
            spec_version: doc["specVersion"].as_str().unwrap_or("").to_string(),
            fingerprints: BTreeSet::new(),
        };
        for v in doc["vulnerabilities"].as_array().into_iter().flatten() {
            e.vulnerabilities += 1;
            let sev = v["ratings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(rank)
                .min()
                .map_or("unknown", |(_, name)| name);
            *e.by_severity.get_mut(sev).unwrap() += 1;
            let state = v["analysis"]["state"].as_str().unwrap_or("none");
            *e.by_analysis_state.entry(state.to_string()).or_default() += 1;
            match state {
                "exploitable" | "in_triage" | "none" => e.open += 1,
                "not_affected" | "false_positive" | "resolved" | "resolved_with_pedigree" => {
                    e.suppressed += 1;
                    continue; // not a finding to follow: nothing left to do
                }
                other => panic!("state {other} in a fixture"),
            }
            let refs: BTreeSet<&str> = v["affects"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a["ref"].as_str().unwrap())
                .collect();
            let refs: Vec<&str> = refs.into_iter().collect();
            e.fingerprints
                .insert(format!("{}|{}", v["id"].as_str().unwrap(), refs.join(",")));
        }
        e
    }

    fn check_against_walk(bytes: &[u8]) -> Summary {
        let doc: Value = serde_json::from_slice(bytes).unwrap();
        let expected = walk(&doc);
        let s = read(bytes).unwrap();
        let details = serde_json::to_value(&s).unwrap();
        assert_eq!(s.value(), expected.vulnerabilities as f64);
        assert_eq!(details["vulnerabilities"], json!(expected.vulnerabilities));
        assert_eq!(details["by_severity"], json!(expected.by_severity));
        assert_eq!(
            details["by_analysis_state"],
            json!(expected.by_analysis_state)
        );
        assert_eq!((s.open, s.suppressed), (expected.open, expected.suppressed));
        assert_eq!(s.components, expected.components);
        assert_eq!(s.spec_version, expected.spec_version);
        let fingerprints: BTreeSet<String> =
            s.findings.iter().map(|f| f.fingerprint.clone()).collect();
        assert_eq!(fingerprints, expected.fingerprints);
        assert_eq!(s.findings.len(), expected.fingerprints.len());
        s
    }

    #[test]
    fn laravel_bom_fixture() {
        let Some(bytes) = fixture("cyclonedx/laravel-7.12.0_bom.1.4.json") else {
            return;
        };
        let s = check_against_walk(&bytes);
        // The numbers of this BOM, stated.
        assert_eq!(s.value(), 0.0);
        assert_eq!(s.components, 62);
        assert_eq!(s.spec_version, "1.4");
        assert_eq!((s.open, s.suppressed), (0, 0));
        assert!(s.findings.is_empty());
    }

    #[test]
    fn vex_pair_fixtures() {
        if let Some(bytes) = fixture("cyclonedx/vex-pair_bom.json") {
            let s = check_against_walk(&bytes);
            assert_eq!(s.value(), 0.0);
            assert_eq!(s.components, 3);
            assert_eq!(s.spec_version, "1.3");
        }
        let Some(bytes) = fixture("cyclonedx/vex-pair_vex.json") else {
            return;
        };
        let s = check_against_walk(&bytes);
        assert_eq!(s.value(), 1.0);
        assert_eq!(s.components, 0);
        assert_eq!(s.spec_version, "1.4");
        // Ratings high (7.5), high (8.2) and none (0.0): the highest is high.
        assert_eq!(s.by_severity.get(Severity::High), 1);
        assert_eq!(s.by_severity.total(), 1);
        assert_eq!(s.by_analysis_state["not_affected"], 1);
        assert_eq!((s.open, s.suppressed), (0, 1));
        // Not affected: nothing to follow.
        assert!(s.findings.is_empty());
        // The same vulnerability still under triage is followed, with its
        // fingerprint: id and affected ref.
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let mut triage = doc.clone();
        triage["vulnerabilities"][0]["analysis"]["state"] = json!("in_triage");
        let s = read(triage.to_string().as_bytes()).unwrap();
        assert_eq!(s.findings.len(), 1);
        assert_eq!(
            s.findings[0].fingerprint,
            "CVE-2020-25649|urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg:maven/\
             com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar"
        );
        assert_eq!(s.findings[0].severity, Severity::High);
        assert!(!s.findings[0].fixable);
    }

    #[test]
    fn truncated_fixture_is_an_error_with_a_line() {
        let Some(bytes) = fixture("cyclonedx/laravel-7.12.0_bom.1.4.json") else {
            return;
        };
        let e = read(&bytes[..bytes.len() / 2]).unwrap_err();
        assert!(e.0.contains("line"), "{e}");
    }

    #[test]
    fn empty_documents_are_zeros() {
        let s = read_str(r#"{"bomFormat": "CycloneDX", "specVersion": "1.6"}"#).unwrap();
        assert_eq!(s.value(), 0.0);
        let d = serde_json::to_value(&s).unwrap();
        assert_eq!(
            d,
            json!({
                "vulnerabilities": 0,
                "by_severity": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0, "unknown": 0},
                "by_analysis_state": {"exploitable": 0, "in_triage": 0, "not_affected": 0,
                    "false_positive": 0, "resolved": 0, "resolved_with_pedigree": 0, "none": 0},
                "open": 0, "suppressed": 0, "components": 0, "spec_version": "1.6"
            })
        );
        let s = read_str(
            r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": null, "vulnerabilities": []}"#,
        )
        .unwrap();
        assert_eq!((s.value(), s.components), (0.0, 0));
    }

    #[test]
    fn ratings_give_the_highest_severity() {
        let doc = r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": [
          {"id": "CVE-1", "ratings": [{"score": 9.8, "method": "CVSSv31"}]},
          {"id": "CVE-2", "ratings": [{"score": 5.0, "method": "CVSSv2"},
                                      {"severity": "low", "score": 3.1, "method": "CVSSv31"}]},
          {"id": "CVE-3", "ratings": [{"severity": "unknown", "score": 7.2}, {"severity": "none"}]},
          {"id": "CVE-4", "ratings": []},
          {"id": "CVE-5"},
          {"id": "CVE-6", "ratings": [{"method": "ssvc"}, {"severity": "info"}]},
          {"id": "CVE-7", "ratings": [{"severity": "CRITICAL", "score": 1.0}]}
        ]}"#;
        let s = read_str(doc).unwrap();
        let severities: Vec<Severity> = s.findings.iter().map(|f| f.severity).collect();
        assert_eq!(
            severities,
            [
                Severity::Critical,
                Severity::Medium,
                Severity::High,
                Severity::Unknown,
                Severity::Unknown,
                Severity::Info,
                Severity::Critical,
            ]
        );
        assert_eq!(s.by_severity.get(Severity::Critical), 2);
        assert_eq!(s.by_severity.get(Severity::Unknown), 2);
        assert_eq!(s.findings[3].fingerprint, "CVE-4|");
    }

    #[test]
    fn vex_states() {
        let doc = r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "vulnerabilities": [
          {"id": "V1", "analysis": {"state": "exploitable"}},
          {"id": "V2", "analysis": {"state": "in_triage"}},
          {"id": "V3"},
          {"id": "V4", "analysis": {"justification": "code_not_present"}},
          {"id": "V5", "analysis": {"state": "not_affected", "justification": "code_not_reachable"}},
          {"id": "V6", "analysis": {"state": "false_positive"}},
          {"id": "V7", "analysis": {"state": "resolved"}},
          {"id": "V8", "analysis": {"state": "resolved_with_pedigree"}},
          {"id": "V9", "analysis": {"state": "under_review"}},
          {"id": "V10", "analysis": null}
        ]}"#;
        let s = read_str(doc).unwrap();
        assert_eq!(s.value(), 10.0);
        assert_eq!((s.open, s.suppressed), (6, 4));
        let states: Vec<(&str, u64)> = s
            .by_analysis_state
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            states,
            [
                ("exploitable", 1),
                ("false_positive", 1),
                ("in_triage", 1),
                ("none", 3),
                ("not_affected", 1),
                ("resolved", 1),
                ("resolved_with_pedigree", 1),
                ("under_review", 1),
            ]
        );
        // Open ones only (the unknown state under_review counts as open).
        assert_eq!(s.findings.len(), 6, "suppressed ones are not followed");
    }

    #[test]
    fn components_nested_and_fingerprints() {
        let doc = r#"{"bomFormat": "CycloneDX", "specVersion": "1.4",
          "metadata": {"component": {"name": "app", "components": [{"name": "not counted"}]}},
          "components": [
            {"name": "a", "components": [{"name": "a1"}, {"name": "a2", "components": [{"name": "a21"}]}]},
            {"name": "b", "components": null},
            {"name": "c", "components": []}
          ],
          "vulnerabilities": [
            {"id": "CVE-1", "bom-ref": "v1", "affects": [{"ref": "pkg:npm/z@1"}, {"ref": "pkg:npm/a@1"},
                                                       {"ref": "pkg:npm/z@1"}]},
            {"bom-ref": "v2", "affects": [{"ref": "pkg:npm/a@1", "versions": [{"version": "1"}]}]},
            {"id": "CVE-1", "affects": [{"ref": "pkg:npm/a@1"}, {"ref": "pkg:npm/z@1"}],
             "ratings": [{"severity": "high"}]}
          ]}"#;
        let s = read_str(doc).unwrap();
        assert_eq!(s.components, 6);
        assert_eq!(s.value(), 3.0);
        let fps: Vec<&str> = s.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fps, ["CVE-1|pkg:npm/a@1,pkg:npm/z@1", "v2|pkg:npm/a@1"]);
        assert_eq!(
            s.findings[0].severity,
            Severity::High,
            "same fingerprint: merged"
        );
    }

    #[test]
    fn malformed_documents_say_where() {
        let e = read_str("{\"bomFormat\": \"CycloneDX\",\n\"components\": [\n{\"name\": \"a\"")
            .unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        let doc = r#"{"bomFormat": "CycloneDX", "specVersion": "1.4", "vulnerabilities": [
            {"id": "CVE-1"},
            {"id": "CVE-2", "ratings": [{"severity": "high"}, {"score": "7.5"}]}]}"#;
        let e = read_str(doc).unwrap_err();
        assert!(e.0.contains("vulnerabilities[1].ratings[1].score"), "{e}");
        let e = read_str(r#"{"bomFormat": "CycloneDX", "components": [{"components": {}}]}"#)
            .unwrap_err();
        assert!(e.0.contains("components[0].components"), "{e}");
    }

    #[test]
    fn other_documents_are_refused() {
        let e = read_str(r#"{"spdxVersion": "SPDX-2.3", "packages": []}"#).unwrap_err();
        assert!(e.0.contains("not a CycloneDX document"), "{e}");
        assert!(e.0.contains("bomFormat"), "{e}");
        let e = read_str(r#"{"bomFormat": "SPDX", "specVersion": "1.4"}"#).unwrap_err();
        assert!(e.0.contains("\"SPDX\""), "{e}");
        let e = read_str(r#"{"matches": []}"#).unwrap_err();
        assert!(e.0.contains("not a CycloneDX document"), "{e}");
        let e = read_str("[1, 2]").unwrap_err();
        assert!(e.0.contains("expected a CycloneDX JSON document"), "{e}");
    }
}
