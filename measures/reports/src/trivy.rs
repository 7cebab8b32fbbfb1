//! Trivy JSON reports, schema 2: what `trivy image|fs|repo|config --format
//! json` writes since Trivy 0.20, an object with `"SchemaVersion": 2` and
//! `Results[]` (one per target: an OS, a lock file, a jar...), each with
//! optional `Vulnerabilities[]`, `Misconfigurations[]` and `Secrets[]`.
//!
//! Value: the number of vulnerabilities over all `Results[]` (a package
//! found in two targets counts twice, as Trivy lists it twice).
//!
//! Details:
//! - `vulnerabilities`: the value;
//! - `by_severity`: by `Severity` (`CRITICAL`..`UNKNOWN`; absent is
//!   `unknown`), every severity present;
//! - `fixable` / `not_fixable`: fixable when `FixedVersion` is non-empty or
//!   `Status` is `fixed`;
//! - `by_package`: the [`TOP`] packages (`PkgName`) with the most
//!   vulnerabilities; `packages`: how many distinct packages have one;
//! - `misconfigurations`: `Misconfigurations[]` entries whose `Status` is
//!   `FAIL` (passes and exceptions are not problems);
//! - `secrets`: `Secrets[]` entries;
//! - `targets`: how many `Results[]`.
//!
//! Findings: one per vulnerability, fingerprint
//! `VulnerabilityID|PkgName|InstalledVersion`, severity from `Severity`,
//! `fixable` as above. The same vulnerability of the same package in two
//! targets is one finding (the fingerprint does not name the target): the
//! most severe severity is kept and it is fixable if either is.
//!
//! Rejected: a document without `SchemaVersion` (not a Trivy report), a
//! `SchemaVersion` other than 2, and a top-level array (schema 1, Trivy
//! before 0.20).

use std::io::Read;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::finding::Findings;
use crate::json::{Object, TopLevel};
use crate::{BySeverity, Finding, ReportError, Severity, Tally, from_json};

/// The one schema this reader knows.
const SCHEMA_VERSION: u64 = 2;

/// What a Trivy report comes to.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    pub vulnerabilities: u64,
    pub by_severity: BySeverity,
    pub fixable: u64,
    pub not_fixable: u64,
    /// Vulnerabilities per `PkgName`; details keep the [`TOP`] largest.
    #[serde(serialize_with = "crate::tally::serialize_top")]
    pub by_package: Tally,
    /// Distinct packages with a vulnerability.
    pub packages: u64,
    /// Failed misconfiguration checks.
    pub misconfigurations: u64,
    pub secrets: u64,
    /// `Results[]` entries.
    pub targets: u64,
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

/// Read a Trivy JSON report (schema 2).
pub fn read(input: impl Read) -> Result<Summary, ReportError> {
    let Object::<Report>(report) = from_json(input)?;
    match report.schema_version {
        Some(SCHEMA_VERSION) => {}
        None => {
            return Err(ReportError::new(
                "not a Trivy JSON report: /SchemaVersion is missing \
                 (trivy --format json writes \"SchemaVersion\": 2)",
            ));
        }
        Some(other) => {
            return Err(ReportError::new(format!(
                "Trivy JSON report with /SchemaVersion {other}: only SchemaVersion \
                 {SCHEMA_VERSION} is read"
            )));
        }
    }

    let mut summary = Summary::default();
    let mut findings = Findings::default();
    for result in report.results.unwrap_or_default() {
        summary.targets += 1;
        for v in result.vulnerabilities.unwrap_or_default() {
            let severity = Severity::from_word(&v.severity);
            let fixable = !v.fixed_version.trim().is_empty() || v.status == "fixed";
            summary.vulnerabilities += 1;
            summary.by_severity.add(severity);
            if fixable {
                summary.fixable += 1;
            } else {
                summary.not_fixable += 1;
            }
            summary.by_package.add(&v.pkg_name);
            let mut finding = Finding::new(
                format!(
                    "{}|{}|{}",
                    v.vulnerability_id, v.pkg_name, v.installed_version
                ),
                severity,
            );
            finding.fixable = fixable;
            findings.add(finding);
        }
        summary.misconfigurations += result
            .misconfigurations
            .unwrap_or_default()
            .iter()
            .filter(|m| m.status.eq_ignore_ascii_case("FAIL"))
            .count() as u64;
        summary.secrets += result.secrets.map_or(0, |s| s.len() as u64);
    }
    summary.packages = summary.by_package.len() as u64;
    summary.findings = findings.into_list();
    Ok(summary)
}

/// The report's top level; only an object is a schema-2 report.
#[derive(Deserialize)]
struct Report {
    #[serde(rename = "SchemaVersion", default)]
    schema_version: Option<u64>,
    /// Trivy omits `Results` when there is none.
    #[serde(rename = "Results", default)]
    results: Option<Vec<TrivyResult>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    #[serde(default)]
    vulnerabilities: Option<Vec<Vulnerability>>,
    #[serde(default)]
    misconfigurations: Option<Vec<Misconfiguration>>,
    #[serde(default)]
    secrets: Option<Vec<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Vulnerability {
    #[serde(
        rename = "VulnerabilityID",
        default,
        deserialize_with = "crate::json::nullable"
    )]
    vulnerability_id: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    pkg_name: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    installed_version: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    fixed_version: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    status: String,
    #[serde(default, deserialize_with = "crate::json::nullable")]
    severity: String,
}

#[derive(Deserialize)]
struct Misconfiguration {
    #[serde(rename = "Status", default, deserialize_with = "crate::json::nullable")]
    status: String,
}

impl TopLevel for Report {
    const EXPECTING: &'static str = "a Trivy JSON report (an object with \"SchemaVersion\": 2)";
    const ARRAY: Option<&'static str> = Some(
        "a top-level array is Trivy's schema 1 (before Trivy 0.20), which is \
         not read: run a current Trivy with --format json (SchemaVersion 2)",
    );
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::{Value, json};

    use super::*;
    use crate::Report;
    use crate::TOP;
    use crate::testing::fixture;

    fn read_str(doc: &str) -> Result<Summary, ReportError> {
        read(doc.as_bytes())
    }

    /// What a report should come to, by a plain walk of its JSON.
    struct Expected {
        vulnerabilities: u64,
        by_severity: BTreeMap<String, u64>,
        fixable: u64,
        packages: BTreeSet<String>,
        fingerprints: BTreeSet<String>,
        misconfigurations: u64,
        secrets: u64,
        targets: u64,
    }

    fn walk(doc: &Value) -> Expected {
        let mut e = Expected {
            vulnerabilities: 0,
            by_severity: ["critical", "high", "medium", "low", "info", "unknown"]
                .iter()
                .map(|k| (k.to_string(), 0))
                .collect(),
            fixable: 0,
            packages: BTreeSet::new(),
            fingerprints: BTreeSet::new(),
            misconfigurations: 0,
            secrets: 0,
            targets: 0,
        };
        let results = doc["Results"].as_array().cloned().unwrap_or_default();
        for r in &results {
            e.targets += 1;
            for v in r["Vulnerabilities"].as_array().into_iter().flatten() {
                e.vulnerabilities += 1;
                let sev = v["Severity"].as_str().unwrap_or("UNKNOWN").to_lowercase();
                *e.by_severity.get_mut(sev.as_str()).unwrap() += 1;
                let fixed = v["FixedVersion"].as_str().unwrap_or("");
                if !fixed.is_empty() || v["Status"] == "fixed" {
                    e.fixable += 1;
                }
                let pkg = v["PkgName"].as_str().unwrap();
                e.packages.insert(pkg.to_string());
                e.fingerprints.insert(format!(
                    "{}|{}|{}",
                    v["VulnerabilityID"].as_str().unwrap(),
                    pkg,
                    v["InstalledVersion"].as_str().unwrap()
                ));
            }
            for m in r["Misconfigurations"].as_array().into_iter().flatten() {
                if m["Status"] == "FAIL" {
                    e.misconfigurations += 1;
                }
            }
            e.secrets += r["Secrets"].as_array().map_or(0, |s| s.len() as u64);
        }
        e
    }

    fn check_against_walk(bytes: &[u8]) -> (Summary, Expected) {
        let doc: Value = serde_json::from_slice(bytes).unwrap();
        let expected = walk(&doc);
        let summary = read(bytes).unwrap();
        let details = serde_json::to_value(&summary).unwrap();
        assert_eq!(summary.value(), expected.vulnerabilities as f64);
        assert_eq!(details["vulnerabilities"], json!(expected.vulnerabilities));
        assert_eq!(details["by_severity"], json!(expected.by_severity));
        assert_eq!(summary.fixable, expected.fixable);
        assert_eq!(
            summary.not_fixable,
            expected.vulnerabilities - expected.fixable
        );
        assert_eq!(summary.packages, expected.packages.len() as u64);
        assert_eq!(summary.misconfigurations, expected.misconfigurations);
        assert_eq!(summary.secrets, expected.secrets);
        assert_eq!(summary.targets, expected.targets);
        let fingerprints: BTreeSet<String> = summary
            .findings
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect();
        assert_eq!(fingerprints, expected.fingerprints);
        assert_eq!(summary.findings.len(), expected.fingerprints.len());
        (summary, expected)
    }

    #[test]
    fn many_vulns_fixture() {
        let Some(bytes) = fixture("trivy/trivy_scheme_2_many_vulns.json") else {
            return;
        };
        let (summary, _) = check_against_walk(&bytes);
        // The numbers of this report, stated.
        assert_eq!(summary.value(), 5.0);
        assert_eq!(summary.by_severity.get(Severity::Critical), 1);
        assert_eq!(summary.by_severity.get(Severity::High), 1);
        assert_eq!(summary.by_severity.get(Severity::Medium), 3);
        assert_eq!(summary.by_severity.get(Severity::Low), 0);
        assert_eq!((summary.fixable, summary.not_fixable), (5, 0));
        assert_eq!(summary.packages, 4);
        assert_eq!(
            summary
                .by_package
                .get("org.apache.commons:commons-compress"),
            2
        );
        assert_eq!(summary.targets, 3);
        assert_eq!((summary.misconfigurations, summary.secrets), (0, 0));
        let first = &summary.findings[0];
        assert_eq!(first.fingerprint, "CVE-2020-15999|freetype|2.9.1-r2");
        assert_eq!(first.severity, Severity::Medium);
        assert!(first.fixable);
        let details = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            details["by_package"],
            json!({"freetype": 1, "krb5-libs": 1, "libbz2": 1,
                   "org.apache.commons:commons-compress": 2})
        );
        assert!(details.get("findings").is_none());
    }

    #[test]
    fn no_vuln_fixture() {
        let Some(bytes) = fixture("trivy/trivy_scheme_2_no_vuln.json") else {
            return;
        };
        let (summary, _) = check_against_walk(&bytes);
        assert_eq!(summary.value(), 0.0);
        assert_eq!(summary.by_severity.total(), 0);
        assert_eq!(summary.targets, 1);
        assert!(summary.findings.is_empty());
    }

    #[test]
    fn truncated_fixture_is_an_error_with_a_line() {
        let Some(bytes) = fixture("trivy/trivy_scheme_2_many_vulns.json") else {
            return;
        };
        let e = read(&bytes[..bytes.len() / 2]).unwrap_err();
        assert!(e.0.contains("line"), "{e}");
    }

    #[test]
    fn empty_reports_are_zeros() {
        let s = read_str(r#"{"SchemaVersion": 2}"#).unwrap();
        assert_eq!(s, Summary::default());
        assert_eq!(s.value(), 0.0);
        let s = read_str(r#"{"SchemaVersion": 2, "Results": null}"#).unwrap();
        assert_eq!(s.value(), 0.0);
        let s = read_str(
            r#"{"SchemaVersion": 2, "Results": [{"Target": "a", "Vulnerabilities": null}]}"#,
        )
        .unwrap();
        assert_eq!((s.value(), s.targets), (0.0, 1));
        let d = serde_json::to_value(&s).unwrap();
        assert_eq!(d["by_severity"]["critical"], json!(0));
        assert_eq!(d["by_package"], json!({}));
        assert_eq!(d["packages"], json!(0));
    }

    #[test]
    fn fixable_misconfigurations_secrets_and_duplicates() {
        let doc = r#"{
          "SchemaVersion": 2,
          "Results": [
            {"Target": "img (debian 12)", "Class": "os-pkgs", "Type": "debian",
             "Vulnerabilities": [
               {"VulnerabilityID": "CVE-1", "PkgName": "openssl", "InstalledVersion": "3.0",
                "FixedVersion": "", "Status": "fixed", "Severity": "HIGH"},
               {"VulnerabilityID": "CVE-2", "PkgName": "openssl", "InstalledVersion": "3.0",
                "Status": "affected", "Severity": "LOW"},
               {"VulnerabilityID": "CVE-3", "PkgName": "zlib", "InstalledVersion": "1.2",
                "FixedVersion": null, "Status": "will_not_fix"}
             ]},
            {"Target": "app/a.jar", "Class": "lang-pkgs", "Type": "jar",
             "Vulnerabilities": [
               {"VulnerabilityID": "CVE-2", "PkgName": "openssl", "InstalledVersion": "3.0",
                "FixedVersion": "3.1", "Severity": "CRITICAL"}
             ]},
            {"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
             "Misconfigurations": [
               {"ID": "DS002", "Status": "FAIL"}, {"ID": "DS001", "Status": "PASS"},
               {"ID": "DS005", "Status": "FAIL"}, {"ID": "DS026", "Status": "EXCEPTION"}
             ]},
            {"Target": ".env", "Class": "secret",
             "Secrets": [{"RuleID": "aws-access-key-id"}, {"RuleID": "github-pat"}]}
          ]
        }"#;
        let s = read_str(doc).unwrap();
        assert_eq!(s.value(), 4.0);
        assert_eq!((s.fixable, s.not_fixable), (2, 2));
        assert_eq!(s.by_severity.get(Severity::Critical), 1);
        assert_eq!(s.by_severity.get(Severity::High), 1);
        assert_eq!(s.by_severity.get(Severity::Low), 1);
        assert_eq!(s.by_severity.get(Severity::Unknown), 1);
        assert_eq!(s.by_package.get("openssl"), 3);
        assert_eq!(s.packages, 2);
        assert_eq!((s.misconfigurations, s.secrets, s.targets), (2, 2, 4));
        // CVE-2 of openssl 3.0 is in two targets: one finding, the most
        // severe, fixable since one target says so.
        assert_eq!(s.findings.len(), 3);
        let cve2 = &s.findings[1];
        assert_eq!(cve2.fingerprint, "CVE-2|openssl|3.0");
        assert_eq!(cve2.severity, Severity::Critical);
        assert!(cve2.fixable);
        assert!(s.findings[0].fixable, "Status fixed without FixedVersion");
        assert!(!s.findings[2].fixable);
        assert_eq!(s.findings[2].severity, Severity::Unknown);
    }

    #[test]
    fn many_packages_keep_the_largest() {
        let vulns: Vec<Value> = (0..50)
            .flat_map(|p| {
                // odd packages have 3 vulnerabilities, even ones 1
                (0..=(p % 2) * 2).map(move |n| {
                    json!({"VulnerabilityID": format!("CVE-{p}-{n}"), "PkgName": format!("pkg{p:02}"),
                           "InstalledVersion": "1", "Severity": "MEDIUM"})
                })
            })
            .collect();
        let doc =
            json!({"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": vulns}]});
        let s = read(doc.to_string().as_bytes()).unwrap();
        assert_eq!(s.value(), 100.0);
        assert_eq!(s.packages, 50);
        let d = serde_json::to_value(&s).unwrap();
        let kept = d["by_package"].as_object().unwrap();
        assert_eq!(kept.len(), TOP);
        assert!(kept.values().all(|n| n == &json!(3)), "{kept:?}");
        assert_eq!(d["packages"], json!(50));
    }

    #[test]
    fn malformed_reports_say_where() {
        let e =
            read_str("{\"SchemaVersion\": 2,\n \"Results\": [\n {\"Target\": \"x\",").unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        let doc = r#"{"SchemaVersion": 2, "Results": [
            {"Target": "a"}, {"Target": "b"},
            {"Target": "c", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": 3}]}]}"#;
        let e = read_str(doc).unwrap_err();
        assert!(
            e.0.contains("Results[2].Vulnerabilities[0].Severity"),
            "{e}"
        );
        assert!(e.0.contains("line 3"), "{e}");
        let e = read_str(r#"{"SchemaVersion": 2, "Results": {}}"#).unwrap_err();
        assert!(e.0.contains("Results"), "{e}");
    }

    #[test]
    fn other_documents_are_refused() {
        let e = read_str(r#"{"matches": [], "descriptor": {"name": "grype"}}"#).unwrap_err();
        assert!(e.0.contains("not a Trivy JSON report"), "{e}");
        assert!(e.0.contains("SchemaVersion"), "{e}");
        let e = read_str(r#"{"bomFormat": "CycloneDX", "specVersion": "1.5"}"#).unwrap_err();
        assert!(e.0.contains("not a Trivy JSON report"), "{e}");
        let e = read_str(r#"{"SchemaVersion": 3, "Results": []}"#).unwrap_err();
        assert!(e.0.contains("SchemaVersion 3"), "{e}");
        assert!(e.0.contains("only SchemaVersion 2"), "{e}");
        let e = read_str(r#"[{"Target": "x", "Vulnerabilities": []}]"#).unwrap_err();
        assert!(e.0.contains("schema 1"), "{e}");
        let e = read_str(r#""a string""#).unwrap_err();
        assert!(e.0.contains("expected a Trivy JSON report"), "{e}");
    }
}
