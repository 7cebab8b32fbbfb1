//! Grype JSON reports (`grype <target> -o json`): an object with
//! `matches[]`, each with `vulnerability` {`id`, `severity`, `fix`
//! {`state`}, `epss[]` {`epss`}, `knownExploited[]`},
//! `relatedVulnerabilities[]` {`severity`, `epss[]`, `knownExploited[]`}
//! and `artifact` {`name`, `version`}, as Grype's document schema names
//! them. `epss` and `knownExploited` are written by recent Grype versions
//! only (with its v6 database); any field may be absent or `null`.
//!
//! Value: the number of matches (a vulnerability of a package found at two
//! places is two matches, as Grype lists it twice).
//!
//! Details:
//! - `matches`: the value;
//! - `by_severity`: by `vulnerability.severity` (`Negligible` is `info`);
//!   when it is absent, `null`, empty or `Unknown`, the highest severity of
//!   the `relatedVulnerabilities` (the same flaw seen by other sources,
//!   e.g. the NVD entry of a GHSA), else `unknown`;
//! - `by_fix_state`: by `fix.state` (`fixed`, `not-fixed`, `wont-fix`,
//!   `unknown`, always present; an absent state is `unknown`; other words
//!   as written);
//! - `kev`: matches listed in CISA's Known Exploited Vulnerabilities
//!   catalogue (a non-empty `knownExploited`, the match's own or else a
//!   related vulnerability's);
//! - `epss_high`: matches whose EPSS probability is at least
//!   [`EPSS_HIGH`] (the largest `epss` of the match's own entries, else of
//!   the related vulnerabilities');
//! - `by_package`: the [`TOP`] packages (`artifact.name`) with the most
//!   matches; `packages`: how many distinct packages have one.
//!
//! Findings: fingerprint `id|artifact.name|artifact.version`, severity as
//! in `by_severity`, `fixable` when `fix.state` is `fixed`, `kev` and
//! `epss` as above. Matches with the same fingerprint (the same package
//! version found twice, e.g. at two paths) are one finding.
//!
//! Rejected: a document without `matches` (not a Grype report).

use std::collections::BTreeMap;
use std::io::Read;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::finding::Findings;
use crate::json::{Object, TopLevel};
use crate::{BySeverity, Finding, ReportError, Severity, TOP, Tally, from_json};

/// EPSS probability from which a match counts in `epss_high`: 0.1, a 10 %
/// probability of exploitation activity in the next 30 days. EPSS scores
/// are heavily skewed towards zero, so this keeps the few vulnerabilities
/// that attackers are likely to use.
pub const EPSS_HIGH: f64 = 0.1;

/// Grype's fix states, always present in `by_fix_state`.
const FIX_STATES: [&str; 4] = ["fixed", "not-fixed", "wont-fix", "unknown"];

/// What a Grype report comes to.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    pub matches: u64,
    pub by_severity: BySeverity,
    /// Matches per `fix.state`.
    pub by_fix_state: BTreeMap<String, u64>,
    /// Matches of a known exploited vulnerability.
    pub kev: u64,
    /// Matches with an EPSS probability of at least [`EPSS_HIGH`].
    pub epss_high: u64,
    /// Matches per `artifact.name`; details keep the [`TOP`] largest.
    #[serde(serialize_with = "crate::tally::serialize_top")]
    pub by_package: Tally,
    /// Distinct packages with a match.
    pub packages: u64,
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl crate::Report for Summary {
    /// The number of matches.
    fn value(&self) -> f64 {
        self.matches as f64
    }

    fn findings(&self) -> Option<&[Finding]> {
        Some(&self.findings)
    }
}

/// Read a Grype JSON report.
pub fn read(input: impl Read) -> Result<Summary, ReportError> {
    let Object::<Report>(report) = from_json(input)?;
    let Some(matches) = report.matches else {
        return Err(ReportError::new(
            "not a Grype JSON report: /matches is missing (grype -o json writes \"matches\": [...])",
        ));
    };

    let mut summary = Summary::default();
    let mut fix_states = Tally::default();
    let mut findings = Findings::default();
    for m in matches {
        let v = &m.vulnerability;
        let severity = severity(v, &m.related_vulnerabilities);
        let state = match v.fix.state.trim() {
            "" => "unknown",
            state => state,
        };
        let kev = !v.known_exploited.is_empty()
            || m.related_vulnerabilities
                .iter()
                .any(|r| !r.known_exploited.is_empty());
        let epss = max_epss(&v.epss).or_else(|| {
            m.related_vulnerabilities
                .iter()
                .filter_map(|r| max_epss(&r.epss))
                .reduce(f64::max)
        });

        summary.matches += 1;
        summary.by_severity.add(severity);
        fix_states.add(state);
        summary.kev += u64::from(kev);
        summary.epss_high += u64::from(epss.is_some_and(|p| p >= EPSS_HIGH));
        summary.by_package.add(&m.artifact.name);

        let mut finding = Finding::new(
            format!("{}|{}|{}", v.id, m.artifact.name, m.artifact.version),
            severity,
        );
        finding.fixable = state == "fixed";
        finding.kev = kev;
        finding.epss = epss;
        findings.add(finding);
    }
    summary.by_fix_state = FIX_STATES.iter().map(|s| (s.to_string(), 0)).collect();
    summary.by_fix_state.extend(fix_states.top(TOP));
    summary.packages = summary.by_package.len() as u64;
    summary.findings = findings.into_list();
    Ok(summary)
}

/// The match's own severity; when it has none, the highest of the related
/// vulnerabilities'.
fn severity(own: &Vulnerability, related: &[Vulnerability]) -> Severity {
    match Severity::from_word(&own.severity) {
        Severity::Unknown => related
            .iter()
            .map(|r| Severity::from_word(&r.severity))
            .min()
            .unwrap_or(Severity::Unknown),
        severity => severity,
    }
}

fn max_epss(entries: &[Epss]) -> Option<f64> {
    entries.iter().filter_map(|e| e.epss).reduce(f64::max)
}

/// The report's top level: an object.
#[derive(Deserialize)]
struct Report {
    /// Absent: not a Grype report; `null`: no match.
    #[serde(default, deserialize_with = "crate::json::present")]
    matches: Option<Vec<Match>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Match {
    #[serde(default, deserialize_with = "crate::json::nullable")]
    vulnerability: Vulnerability,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    related_vulnerabilities: Vec<Vulnerability>,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    artifact: Artifact,
}

/// A match's vulnerability or one of its related vulnerabilities (which
/// have no `fix`).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vulnerability {
    #[serde(default, deserialize_with = "crate::json::nullable")]
    id: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    severity: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    fix: Fix,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    epss: Vec<Epss>,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    known_exploited: Vec<IgnoredAny>,
}

#[derive(Default, Deserialize)]
struct Fix {
    #[serde(default, deserialize_with = "crate::json::nullable")]
    state: String,
}

#[derive(Deserialize)]
struct Epss {
    #[serde(default)]
    epss: Option<f64>,
}

#[derive(Default, Deserialize)]
struct Artifact {
    #[serde(default, deserialize_with = "crate::json::nullable")]
    name: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    version: String,
}

impl TopLevel for Report {
    const EXPECTING: &'static str = "a Grype JSON report (an object with \"matches\")";
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

    /// Grype's severity words on the details' scale, written out here.
    fn scale(word: &str) -> Option<(&'static str, u8)> {
        Some(match word.to_lowercase().as_str() {
            "critical" => ("critical", 0),
            "high" => ("high", 1),
            "medium" => ("medium", 2),
            "low" => ("low", 3),
            "negligible" => ("info", 4),
            _ => return None,
        })
    }

    /// What a report should come to, by a plain walk of its JSON.
    struct Expected {
        matches: u64,
        by_severity: BTreeMap<String, u64>,
        by_fix_state: BTreeMap<String, u64>,
        kev: u64,
        epss_high: u64,
        packages: BTreeSet<String>,
        fingerprints: BTreeSet<String>,
    }

    fn walk(doc: &Value) -> Expected {
        let mut e = Expected {
            matches: 0,
            by_severity: ["critical", "high", "medium", "low", "info", "unknown"]
                .iter()
                .map(|k| (k.to_string(), 0))
                .collect(),
            by_fix_state: ["fixed", "not-fixed", "wont-fix", "unknown"]
                .iter()
                .map(|k| (k.to_string(), 0))
                .collect(),
            kev: 0,
            epss_high: 0,
            packages: BTreeSet::new(),
            fingerprints: BTreeSet::new(),
        };
        for m in doc["matches"].as_array().unwrap() {
            e.matches += 1;
            let v = &m["vulnerability"];
            let related = m["relatedVulnerabilities"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let own = v["severity"].as_str().and_then(scale);
            let sev = own
                .or_else(|| {
                    related
                        .iter()
                        .filter_map(|r| r["severity"].as_str().and_then(scale))
                        .min_by_key(|(_, rank)| *rank)
                })
                .map_or("unknown", |(name, _)| name);
            *e.by_severity.get_mut(sev).unwrap() += 1;
            let state = v["fix"]["state"].as_str().unwrap_or("unknown");
            *e.by_fix_state.entry(state.to_string()).or_default() += 1;
            let non_empty = |x: &Value| x.as_array().is_some_and(|a| !a.is_empty());
            if non_empty(&v["knownExploited"])
                || related.iter().any(|r| non_empty(&r["knownExploited"]))
            {
                e.kev += 1;
            }
            let epss: Vec<f64> = v["epss"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x["epss"].as_f64())
                .collect();
            if epss.iter().any(|p| *p >= 0.1) {
                e.epss_high += 1;
            }
            let name = m["artifact"]["name"].as_str().unwrap();
            e.packages.insert(name.to_string());
            e.fingerprints.insert(format!(
                "{}|{}|{}",
                v["id"].as_str().unwrap(),
                name,
                m["artifact"]["version"].as_str().unwrap()
            ));
        }
        e
    }

    fn check_against_walk(bytes: &[u8]) -> Summary {
        let doc: Value = serde_json::from_slice(bytes).unwrap();
        let expected = walk(&doc);
        let summary = read(bytes).unwrap();
        let details = serde_json::to_value(&summary).unwrap();
        assert_eq!(summary.value(), expected.matches as f64);
        assert_eq!(details["matches"], json!(expected.matches));
        assert_eq!(details["by_severity"], json!(expected.by_severity));
        assert_eq!(details["by_fix_state"], json!(expected.by_fix_state));
        assert_eq!(summary.kev, expected.kev);
        assert_eq!(summary.epss_high, expected.epss_high);
        assert_eq!(summary.packages, expected.packages.len() as u64);
        let fingerprints: BTreeSet<String> = summary
            .findings
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect();
        assert_eq!(fingerprints, expected.fingerprints);
        assert_eq!(summary.findings.len(), expected.fingerprints.len());
        summary
    }

    #[test]
    fn check_all_fields_fixture() {
        let Some(bytes) = fixture("grype/grype_check_all_fields.json") else {
            return;
        };
        let s = check_against_walk(&bytes);
        // The numbers of this report, stated.
        assert_eq!(s.value(), 6.0);
        assert_eq!(s.by_severity.get(Severity::Critical), 2);
        assert_eq!(s.by_severity.get(Severity::High), 3);
        assert_eq!(s.by_severity.get(Severity::Info), 1, "Negligible");
        assert_eq!(s.by_severity.get(Severity::Unknown), 0);
        let states: Vec<(&str, u64)> = s
            .by_fix_state
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            states,
            [
                ("fixed", 2),
                ("not-fixed", 1),
                ("unknown", 0),
                ("wont-fix", 3)
            ]
        );
        assert_eq!((s.kev, s.epss_high), (0, 0));
        assert_eq!(s.packages, 5);
        assert_eq!(s.by_package.get("Django"), 2);
        // The report lists the Django match twice, identically: one finding.
        assert_eq!(s.findings.len(), 5);
        let django = s
            .findings
            .iter()
            .find(|f| f.fingerprint == "GHSA-v6rh-hp5x-86rv|Django|3.2.9")
            .unwrap();
        assert!(django.fixable);
        assert_eq!(django.severity, Severity::High);
        assert_eq!(
            s.findings[0].fingerprint,
            "CVE-2004-0971|libgssapi-krb5-2|1.17-3+deb10u3"
        );
        assert!(!s.findings[0].fixable, "not-fixed");
        assert!(!s.findings[1].fixable, "wont-fix, even with versions");
        assert_eq!(s.findings[0].epss, None);
    }

    #[test]
    fn no_vuln_fixture() {
        let Some(bytes) = fixture("grype/grype_no_vuln.json") else {
            return;
        };
        let s = check_against_walk(&bytes);
        assert_eq!(s.value(), 0.0);
        assert_eq!(s.by_severity.total(), 0);
        assert_eq!(s.packages, 0);
        assert!(s.findings.is_empty());
    }

    #[test]
    fn truncated_fixture_is_an_error_with_a_line() {
        let Some(bytes) = fixture("grype/grype_check_all_fields.json") else {
            return;
        };
        let e = read(&bytes[..bytes.len() / 3]).unwrap_err();
        assert!(e.0.contains("line"), "{e}");
    }

    #[test]
    fn empty_reports_are_zeros() {
        for doc in [r#"{"matches": []}"#, r#"{"matches": null, "source": {}}"#] {
            let s = read_str(doc).unwrap();
            assert_eq!(s.value(), 0.0, "{doc}");
            let d = serde_json::to_value(&s).unwrap();
            assert_eq!(
                d,
                json!({
                    "matches": 0,
                    "by_severity": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0, "unknown": 0},
                    "by_fix_state": {"fixed": 0, "not-fixed": 0, "wont-fix": 0, "unknown": 0},
                    "kev": 0, "epss_high": 0, "by_package": {}, "packages": 0
                })
            );
        }
    }

    #[test]
    fn missing_severity_takes_the_related_highest() {
        let doc = r#"{"matches": [
          {"vulnerability": {"id": "GHSA-1", "severity": null, "fix": {"versions": ["2"], "state": "fixed"}},
           "relatedVulnerabilities": [{"id": "CVE-1", "severity": "Low"}, {"id": "CVE-2", "severity": "High"},
                                      {"id": "CVE-3", "severity": "Unknown"}],
           "artifact": {"name": "a", "version": "1"}},
          {"vulnerability": {"id": "GHSA-2", "severity": "", "fix": {"versions": [], "state": "not-fixed"}},
           "relatedVulnerabilities": [],
           "artifact": {"name": "a", "version": "1"}},
          {"vulnerability": {"id": "GHSA-3"},
           "artifact": {"name": "b", "version": "1"}},
          {"vulnerability": {"id": "GHSA-4", "severity": "Unknown", "fix": {"state": "unknown"}},
           "relatedVulnerabilities": [{"id": "CVE-4", "severity": "Critical"}],
           "artifact": {"name": "c", "version": "1"}},
          {"vulnerability": {"id": "CVE-5", "severity": "Medium", "fix": {"state": "wont-fix"}},
           "relatedVulnerabilities": [{"id": "CVE-5", "severity": "Critical"}],
           "artifact": {"name": "c", "version": "1"}}
        ]}"#;
        let s = read_str(doc).unwrap();
        assert_eq!(s.value(), 5.0);
        assert_eq!(s.findings[0].severity, Severity::High);
        assert!(s.findings[0].fixable);
        assert_eq!(s.findings[1].severity, Severity::Unknown);
        assert_eq!(s.findings[2].severity, Severity::Unknown);
        assert_eq!(s.findings[3].severity, Severity::Critical);
        assert_eq!(
            s.findings[4].severity,
            Severity::Medium,
            "own severity wins"
        );
        assert_eq!(s.by_severity.get(Severity::Unknown), 2);
        assert_eq!(s.by_severity.get(Severity::Critical), 1);
        let states: Vec<(&str, u64)> = s
            .by_fix_state
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            states,
            [
                ("fixed", 1),
                ("not-fixed", 1),
                ("unknown", 2),
                ("wont-fix", 1)
            ],
            "an absent fix state is unknown"
        );
        assert_eq!((s.packages, s.by_package.get("a")), (3, 2));
    }

    #[test]
    fn kev_and_epss() {
        let doc = r#"{"matches": [
          {"vulnerability": {"id": "CVE-1", "severity": "Critical", "fix": {"state": "fixed"},
             "epss": [{"cve": "CVE-1", "epss": 0.97, "percentile": 0.999, "date": "2025-01-01"}],
             "knownExploited": [{"cve": "CVE-1", "knownRansomwareCampaignUse": "Known"}]},
           "artifact": {"name": "a", "version": "1"}},
          {"vulnerability": {"id": "CVE-2", "severity": "High", "fix": {"state": "fixed"},
             "epss": [{"cve": "CVE-2", "epss": 0.05, "percentile": 0.9}, {"cve": "CVE-2", "epss": 0.1}],
             "knownExploited": []},
           "artifact": {"name": "a", "version": "1"}},
          {"vulnerability": {"id": "CVE-3", "severity": "Low", "epss": [{"epss": 0.099}], "knownExploited": null},
           "artifact": {"name": "b", "version": "1"}},
          {"vulnerability": {"id": "GHSA-4", "severity": "High"},
           "relatedVulnerabilities": [{"id": "CVE-4", "epss": [{"epss": 0.5}],
                                       "knownExploited": [{"cve": "CVE-4"}]}],
           "artifact": {"name": "b", "version": "1"}},
          {"vulnerability": {"id": "CVE-1", "severity": "Critical", "fix": {"state": "fixed"}},
           "artifact": {"name": "a", "version": "1"}}
        ]}"#;
        let s = read_str(doc).unwrap();
        assert_eq!(s.value(), 5.0);
        assert_eq!(s.kev, 2);
        assert_eq!(s.epss_high, 3, "0.97, 0.1 (the threshold is included), 0.5");
        let f = &s.findings;
        assert_eq!(f.len(), 4, "CVE-1 of a 1 twice: one finding");
        assert_eq!((f[0].kev, f[0].epss), (true, Some(0.97)));
        assert_eq!((f[1].kev, f[1].epss), (false, Some(0.1)));
        assert_eq!((f[2].kev, f[2].epss), (false, Some(0.099)));
        assert_eq!((f[3].kev, f[3].epss), (true, Some(0.5)));
        assert_eq!(f[3].fingerprint, "GHSA-4|b|1");
        let d = serde_json::to_value(&f[0]).unwrap();
        assert_eq!(d["kev"], json!(true));
        assert_eq!(d["fixable"], json!(true));
    }

    #[test]
    fn malformed_reports_say_where() {
        let e = read_str("{\"matches\": [\n{\"vulnerability\": {\"id\": \"CVE-1\",\n").unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        let doc = r#"{"matches": [
            {"vulnerability": {"id": "CVE-1"}},
            {"vulnerability": {"id": "CVE-2", "epss": [{"epss": "high"}]}}]}"#;
        let e = read_str(doc).unwrap_err();
        assert!(e.0.contains("matches[1].vulnerability.epss[0].epss"), "{e}");
        let e = read_str(r#"{"matches": [{"artifact": {"name": 7}}]}"#).unwrap_err();
        assert!(e.0.contains("matches[0].artifact.name"), "{e}");
    }

    #[test]
    fn other_documents_are_refused() {
        let e = read_str(r#"{"SchemaVersion": 2, "Results": []}"#).unwrap_err();
        assert!(e.0.contains("not a Grype JSON report"), "{e}");
        assert!(e.0.contains("matches"), "{e}");
        let e = read_str(r#"{"bomFormat": "CycloneDX", "vulnerabilities": []}"#).unwrap_err();
        assert!(e.0.contains("not a Grype JSON report"), "{e}");
        let e = read_str("[]").unwrap_err();
        assert!(e.0.contains("expected a Grype JSON report"), "{e}");
    }
}
