//! gitleaks JSON reports (`gitleaks detect --report-format json`): a
//! top-level array of findings, or `null` when there is none (some
//! gitleaks versions write `null`, others `[]`; both are 0 findings).
//!
//! Both shapes of a finding are read, field by field, so a report mixing
//! them (or missing some fields) still reads:
//! - gitleaks v8: PascalCase, `RuleID`, `File`, `StartLine`, `Commit`,
//!   `Fingerprint` (written by later v8 releases; earlier ones lack it), ...;
//! - gitleaks v7: lowercase, `rule`, `file`, `lineNumber`, `commit`, ...
//!   (v7's `line` is the *text* of the line, secret included: it is never
//!   read, nor is any other field holding the secret: v8's `Secret` and
//!   `Match`, v7's `offender`).
//!
//! Value: the number of findings (secrets found), `secrets` in details.
//! Details also hold `by_rule` (the [`TOP`] rules with the most findings)
//! and `rules` (how many distinct rules), `by_file` and `files` likewise;
//! a finding without a rule (file) is in no `by_rule` (`by_file`) entry.
//!
//! Every finding, in [`Summary::findings`] (not serialized; named as in the
//! other readers of this crate), has severity [`Severity::High`] and as
//! fingerprint gitleaks' own `Fingerprint` when the report has one, else
//! the one gitleaks itself would have computed: `commit:file:rule:line`, or
//! `file:rule:line` when there is no commit (a scan of a directory rather
//! than of git history), so that fingerprints stay the same across a
//! gitleaks upgrade that starts writing them.
//! The line is v8's `StartLine` or v7's `lineNumber` (empty when neither
//! is there).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::{Finding, ReportError, Severity, TOP, Tally, from_json};

/// What a gitleaks report says: see the module's documentation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// How many findings (secrets found): the value.
    pub secrets: u64,
    /// Findings per rule (`RuleID` / `rule`), the [`TOP`] largest.
    pub by_rule: BTreeMap<String, u64>,
    /// How many distinct rules found something.
    pub rules: u64,
    /// Findings per file (`File` / `file`), the [`TOP`] largest.
    pub by_file: BTreeMap<String, u64>,
    /// How many distinct files hold a finding.
    pub files: u64,
    /// Every finding, for the finding lifecycle; not part of details.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl crate::Report for Summary {
    /// The number of findings.
    fn value(&self) -> f64 {
        self.secrets as f64
    }

    fn findings(&self) -> Option<&[Finding]> {
        Some(&self.findings)
    }
}

/// Read a gitleaks JSON report (v7 or v8 shape). Errors name the line,
/// column and JSON path (`[3].StartLine`).
pub fn read(input: impl Read) -> Result<Summary, ReportError> {
    let Report(acc) = from_json::<Report>(input)?;
    Ok(Summary {
        secrets: acc.findings.len() as u64,
        by_rule: acc.by_rule.top(TOP),
        rules: acc.by_rule.len() as u64,
        by_file: acc.by_file.top(TOP),
        files: acc.by_file.len() as u64,
        findings: acc.findings,
    })
}

/// One finding, only the fields used, in either shape. Fields are optional
/// and `null` is taken as absent.
#[derive(Deserialize)]
struct GitleaksFinding {
    // v8
    #[serde(rename = "RuleID")]
    rule_id: Option<String>,
    #[serde(rename = "File")]
    file_v8: Option<String>,
    #[serde(rename = "StartLine")]
    start_line: Option<i64>,
    #[serde(rename = "Commit")]
    commit_v8: Option<String>,
    #[serde(rename = "Fingerprint")]
    fingerprint: Option<String>,
    // v7
    #[serde(rename = "rule")]
    rule_v7: Option<String>,
    #[serde(rename = "file")]
    file_v7: Option<String>,
    #[serde(rename = "lineNumber")]
    line_number: Option<i64>,
    #[serde(rename = "commit")]
    commit_v7: Option<String>,
}

fn non_empty(a: Option<String>, b: Option<String>) -> Option<String> {
    a.filter(|s| !s.is_empty())
        .or_else(|| b.filter(|s| !s.is_empty()))
}

#[derive(Default)]
struct Accumulator {
    findings: Vec<Finding>,
    by_rule: Tally,
    by_file: Tally,
}

impl Accumulator {
    fn add(&mut self, leak: GitleaksFinding) {
        let rule = non_empty(leak.rule_id, leak.rule_v7);
        let file = non_empty(leak.file_v8, leak.file_v7);
        let commit = non_empty(leak.commit_v8, leak.commit_v7);
        let line = leak
            .start_line
            .or(leak.line_number)
            .map(|n| n.to_string())
            .unwrap_or_default();
        if let Some(rule) = &rule {
            self.by_rule.add(rule);
        }
        if let Some(file) = &file {
            self.by_file.add(file);
        }
        let fingerprint = match leak.fingerprint.filter(|f| !f.is_empty()) {
            Some(own) => own,
            None => {
                let file = file.as_deref().unwrap_or_default();
                let rule = rule.as_deref().unwrap_or_default();
                match commit {
                    Some(commit) => format!("{commit}:{file}:{rule}:{line}"),
                    None => format!("{file}:{rule}:{line}"),
                }
            }
        };
        self.findings
            .push(Finding::new(fingerprint, Severity::High));
    }
}

/// The whole report, folded finding by finding as the array streams in
/// (no `Vec` of the raw findings is kept).
struct Report(Accumulator);

impl<'de> Deserialize<'de> for Report {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(ReportVisitor)
    }
}

struct ReportVisitor;

impl<'de> Visitor<'de> for ReportVisitor {
    type Value = Report;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a gitleaks report: an array of findings, or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Report, E> {
        Ok(Report(Accumulator::default()))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Report, E> {
        Ok(Report(Accumulator::default()))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Report, D::Error> {
        deserializer.deserialize_seq(ReportVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Report, A::Error> {
        let mut acc = Accumulator::default();
        while let Some(leak) = seq.next_element::<GitleaksFinding>()? {
            acc.add(leak);
        }
        Ok(Report(acc))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Report;
    use crate::testing::fixture;

    #[test]
    fn gitleaks8_many_matches_an_independent_count() {
        let Some(bytes) = fixture("gitleaks/gitleaks8_many.json") else {
            return;
        };
        let s = read(&bytes[..]).unwrap();

        // Independently: walk the document as a serde_json::Value.
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let all = doc.as_array().unwrap();
        let mut by_rule = BTreeMap::<String, u64>::new();
        let mut by_file = BTreeMap::<String, u64>::new();
        let mut fingerprints = Vec::new();
        for f in all {
            let rule = f["RuleID"].as_str().unwrap().to_string();
            let file = f["File"].as_str().unwrap().to_string();
            let commit = f["Commit"].as_str().unwrap();
            let line = f["StartLine"].as_i64().unwrap();
            assert!(
                f.get("Fingerprint").is_none(),
                "this fixture has no Fingerprint"
            );
            fingerprints.push(if commit.is_empty() {
                format!("{file}:{rule}:{line}")
            } else {
                format!("{commit}:{file}:{rule}:{line}")
            });
            *by_rule.entry(rule).or_default() += 1;
            *by_file.entry(file).or_default() += 1;
        }

        assert_eq!(s.secrets, all.len() as u64);
        assert_eq!(s.secrets, 4);
        assert_eq!(s.value(), 4.0);
        assert_eq!(s.by_rule, by_rule);
        assert_eq!(s.rules, 3);
        assert_eq!(s.by_file, by_file);
        assert_eq!(s.files, 3);
        assert_eq!(s.by_rule["aws-access-token"], 2);
        assert_eq!(s.by_file["/conf/aws.tf"], 2);
        let got: Vec<&str> = s.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(got, fingerprints);
        // A finding without a commit: gitleaks' own `file:rule:line`.
        assert!(got.contains(&"conf/rsa.pk:RSA-PK:57"), "{got:?}");
        assert!(s.findings.iter().all(|f| f.severity == Severity::High));

        // No secret leaves the reader: neither in details nor fingerprints.
        let details = serde_json::to_string(&s).unwrap();
        for f in all {
            for key in ["Secret", "Match"] {
                let secret = f[key].as_str().unwrap();
                assert!(!details.contains(secret), "{key} in details: {details}");
                assert!(
                    !got.iter().any(|fp| fp.contains(secret)),
                    "{key} in a fingerprint"
                );
            }
        }
        assert!(!details.contains("\"findings\""), "{details}");
    }

    #[test]
    fn null_and_empty_reports_are_zero() {
        if let Some(bytes) = fixture("gitleaks/gitleaks_no_findings_null.json") {
            let s = read(&bytes[..]).unwrap();
            assert_eq!(s.secrets, 0);
            assert_eq!(s.value(), 0.0);
        }
        for doc in ["null", "[]", " [ ]\n", "null\n"] {
            let s = read(doc.as_bytes()).unwrap();
            assert_eq!(s.value(), 0.0, "{doc}");
            assert_eq!((s.rules, s.files), (0, 0));
            assert!(s.by_rule.is_empty() && s.by_file.is_empty() && s.findings.is_empty());
        }
        let details = serde_json::to_value(read(&b"[]"[..]).unwrap()).unwrap();
        assert_eq!(
            details,
            serde_json::json!({"secrets": 0, "by_rule": {}, "rules": 0, "by_file": {}, "files": 0})
        );
    }

    /// Hand-written in gitleaks v7's shape (its `Leak` struct's JSON names:
    /// line, lineNumber, offender, commit, repo, rule, commitMessage,
    /// author, email, file, date, tags, operation, leakURL).
    const V7: &str = r#"[
  {
    "line": "aws_secret = AKIAIOSFODNN7EXAMPLE",
    "lineNumber": 12,
    "offender": "AKIAIOSFODNN7EXAMPLE",
    "commit": "ec2fc9d6cb0954fb3b57201cf6133c48d8ca0d29",
    "repo": "demo",
    "repoURL": "",
    "leakURL": "",
    "rule": "AWS Access Key",
    "commitMessage": "add config\n",
    "author": "A. Developer",
    "email": "dev@example.com",
    "file": "config/settings.py",
    "date": "2021-03-01T10:00:00Z",
    "tags": "key, AWS",
    "operation": "addition"
  },
  {
    "line": "token: ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "lineNumber": 3,
    "offender": "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "commit": "",
    "rule": "Github Personal Access Token",
    "file": ".github/token.yml",
    "date": "0001-01-01T00:00:00Z",
    "tags": "key, Github"
  },
  {
    "line": "aws_secret = AKIAIOSFODNN7EXAMPLE",
    "lineNumber": 40,
    "offender": "AKIAIOSFODNN7EXAMPLE",
    "commit": "ec2fc9d6cb0954fb3b57201cf6133c48d8ca0d29",
    "rule": "AWS Access Key",
    "file": "config/settings.py"
  }
]"#;

    #[test]
    fn the_v7_shape_reads() {
        let s = read(V7.as_bytes()).unwrap();
        assert_eq!(s.secrets, 3);
        assert_eq!(s.rules, 2);
        assert_eq!(s.files, 2);
        assert_eq!(s.by_rule["AWS Access Key"], 2);
        assert_eq!(s.by_rule["Github Personal Access Token"], 1);
        assert_eq!(s.by_file["config/settings.py"], 2);
        let fps: Vec<&str> = s.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(
            fps,
            [
                "ec2fc9d6cb0954fb3b57201cf6133c48d8ca0d29:config/settings.py:AWS Access Key:12",
                ".github/token.yml:Github Personal Access Token:3",
                "ec2fc9d6cb0954fb3b57201cf6133c48d8ca0d29:config/settings.py:AWS Access Key:40",
            ]
        );
        let details = serde_json::to_string(&s).unwrap();
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        ] {
            assert!(!details.contains(secret));
            assert!(!fps.iter().any(|fp| fp.contains(secret)));
        }
    }

    #[test]
    fn gitleaks_own_fingerprint_wins_and_nulls_are_absent() {
        let doc = r#"[
 {"RuleID": "generic-api-key", "File": "a.py", "StartLine": 7, "Commit": "abc",
  "Secret": "s3cr3t", "Match": "key = s3cr3t",
  "Fingerprint": "abc:a.py:generic-api-key:7"},
 {"RuleID": "generic-api-key", "File": "b.py", "StartLine": 1, "Commit": null,
  "Fingerprint": null, "Tags": null, "Link": "https://example.com/b.py#L1"},
 {"RuleID": "jwt", "File": "c.txt"}
]"#;
        let s = read(doc.as_bytes()).unwrap();
        let fps: Vec<&str> = s.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(
            fps,
            [
                "abc:a.py:generic-api-key:7",
                "b.py:generic-api-key:1",
                "c.txt:jwt:"
            ]
        );
        assert_eq!(s.by_rule["generic-api-key"], 2);
        assert_eq!(s.files, 3);
    }

    #[test]
    fn malformed_reports_say_where() {
        let e = read(&b"[\n {\"RuleID\": \"x\",\n  \"File\": }\n]"[..]).unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        let e = read(&b"[{\"RuleID\": \"x\"}, {\"StartLine\": \"twelve\"}]"[..]).unwrap_err();
        assert!(e.0.contains("[1].StartLine"), "{e}");
        assert!(e.0.contains("line 1"), "{e}");
        let e = read(&b"{\"findings\": []}"[..]).unwrap_err();
        assert!(e.0.contains("array of findings"), "{e}");
        let e = read(&b"[1]"[..]).unwrap_err();
        assert!(e.0.contains("[0]"), "{e}");
        let e = read(&b""[..]).unwrap_err();
        assert!(e.0.contains("EOF"), "{e}");
    }

    #[test]
    fn tallies_keep_the_top_and_count_all() {
        let mut doc = String::from("[");
        for i in 0..(TOP + 5) {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str(&format!(
                r#"{{"RuleID": "rule-{i}", "File": "f{i}", "StartLine": 1}}"#
            ));
        }
        doc.push(']');
        let s = read(doc.as_bytes()).unwrap();
        assert_eq!(s.secrets, (TOP + 5) as u64);
        assert_eq!(s.rules, (TOP + 5) as u64);
        assert_eq!(s.by_rule.len(), TOP);
        assert_eq!(s.files, (TOP + 5) as u64);
        assert_eq!(s.by_file.len(), TOP);
    }
}
