//! `sarif-findings`: the number of results in a SARIF 2.1.0 log.
//!
//! Value: results over all runs that are not suppressed. Breakdown: by
//! effective level, by severity, by rule and by tool; suppressed results are
//! counted apart (`suppressed`) and in no other figure.
//! - The effective level follows SARIF 2.1.0 §3.27.10: a result's own
//!   `level`; else `none` when its `kind` is present and not `fail`; else its
//!   rule's `defaultConfiguration.level`; else `warning`.
//! - The severity comes from `security-severity` (the result's properties,
//!   else its rule's), in GitHub code scanning's bands: critical ≥ 9.0,
//!   high ≥ 7.0, medium ≥ 4.0, low > 0; a word such as Semgrep's `"HIGH"` is
//!   read as that band. A result without one is `unknown` (its level is not
//!   a security severity).
//! - A result is suppressed when it has suppressions and none of them is
//!   `underReview` or `rejected` (§3.34.3).
//!
//! Findings (`details.findings`, for the engine's finding lifecycle): one
//! per counted result, with that result's severity, deduplicated by
//! fingerprint (the first kept). The fingerprint is the tool's (driver's)
//! name, `|`, then
//! - the result's `partialFingerprints` when present and non-empty, its
//!   entries sorted by key as `key=value` joined by `;`;
//! - else its `fingerprints`, likewise;
//! - else `rule|uri:startLine|hash`: the rule id (as in `by_rule`), the
//!   first location's artifact uri and start line (empty when absent), and
//!   the FNV-1a 64 hash (16 lowercase hex digits) of `message.text`, else
//!   `message.id`, else of nothing.
//!
//! A fingerprint longer than 512 bytes (the engine's limit) keeps its first
//! 495 bytes (at a character boundary) followed by `#` and the FNV-1a hash
//! of the rest.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};
use smm_reports::{BySeverity, Finding, Severity, Tally, bounded_fingerprint, fnv1a};
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, ReportConfig, Scale};

/// Counts taken from one SARIF log.
#[derive(Debug, Default, PartialEq)]
pub struct Counts {
    /// Results not suppressed.
    pub total: u64,
    pub suppressed: u64,
    pub runs: u64,
    pub by_level: BTreeMap<String, u64>,
    pub by_severity: BySeverity,
    pub by_rule: BTreeMap<String, u64>,
    pub by_tool: BTreeMap<String, u64>,
    /// One per fingerprint over the counted results, in the order first
    /// seen.
    pub findings: Vec<Finding>,
    /// A run did not analyse (no `results`): the findings are not the
    /// whole set, so they are not listed for the lifecycle.
    pub incomplete: bool,
}

const LEVELS: [&str; 4] = ["error", "warning", "note", "none"];

/// Count the results of a SARIF log.
pub fn count(log: &Value) -> Result<Counts, String> {
    let version = log.get("version").and_then(Value::as_str);
    if version != Some("2.1.0") {
        return Err(format!(
            "not a SARIF 2.1.0 log: `version` is {}",
            version.map_or("missing".to_string(), |v| format!("\"{v}\""))
        ));
    }
    let runs = log
        .get("runs")
        .and_then(Value::as_array)
        .ok_or("not a SARIF log: `runs` is missing or not an array")?;
    let mut counts = Counts {
        runs: runs.len() as u64,
        by_level: LEVELS.iter().map(|l| (l.to_string(), 0)).collect(),
        ..Counts::default()
    };
    let mut fingerprints = HashSet::new();
    for (r, run) in runs.iter().enumerate() {
        let tool = run
            .pointer("/tool/driver/name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed tool)");
        let rules = run
            .pointer("/tool/driver/rules")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(results) = run.get("results") else {
            // Absent `results`: the tool did not run the analysis
            // (§3.14.23); the log says nothing of what is fixed.
            counts.incomplete = true;
            continue;
        };
        let results = results
            .as_array()
            .ok_or_else(|| format!("/runs/{r}/results is not an array"))?;
        for result in results {
            if suppressed(result) {
                counts.suppressed += 1;
                continue;
            }
            let rule = rule_of(result, rules);
            let severity = severity(result, rule);
            counts.by_severity.add(severity);
            *counts.by_tool.entry(tool.to_string()).or_default() += 1;
            let level = effective_level(result, rule);
            if !LEVELS.contains(&level) {
                return Err(format!("/runs/{r}/results: unknown level \"{level}\""));
            }
            *counts.by_level.entry(level.to_string()).or_default() += 1;
            let rule_id = result
                .get("ruleId")
                .or_else(|| result.pointer("/rule/id"))
                .or_else(|| rule.and_then(|r| r.get("id")))
                .and_then(Value::as_str)
                .unwrap_or("(no rule)");
            *counts.by_rule.entry(rule_id.to_string()).or_default() += 1;
            counts.total += 1;
            let fingerprint = fingerprint(tool, result, rule_id);
            if fingerprints.insert(fingerprint.clone()) {
                counts.findings.push(Finding::new(fingerprint, severity));
            }
        }
    }
    Ok(counts)
}

/// A result's fingerprint (see the module documentation).
fn fingerprint(tool: &str, result: &Value, rule_id: &str) -> String {
    let given =
        joined(result.get("partialFingerprints")).or_else(|| joined(result.get("fingerprints")));
    let body = given.unwrap_or_else(|| {
        let location = result.pointer("/locations/0/physicalLocation");
        let uri = location
            .and_then(|l| l.pointer("/artifactLocation/uri"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let line = location
            .and_then(|l| l.pointer("/region/startLine"))
            .and_then(Value::as_u64)
            .map(|n| n.to_string())
            .unwrap_or_default();
        let message = result
            .pointer("/message/text")
            .and_then(Value::as_str)
            .or_else(|| result.pointer("/message/id").and_then(Value::as_str))
            .unwrap_or_default();
        format!("{rule_id}|{uri}:{line}|{:016x}", fnv1a(message.as_bytes()))
    });
    bounded_fingerprint(format!("{tool}|{body}"))
}

/// A non-empty fingerprint map's entries sorted by key, as `key=value`
/// joined by `;` (a value that is not a string in its JSON form).
fn joined(map: Option<&Value>) -> Option<String> {
    let map = map?.as_object().filter(|m| !m.is_empty())?;
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by_key(|(key, _)| *key);
    let entries: Vec<String> = entries
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => format!("{key}={s}"),
            other => format!("{key}={other}"),
        })
        .collect();
    Some(entries.join(";"))
}

/// Suppressed: at least one suppression, none under review or rejected.
fn suppressed(result: &Value) -> bool {
    let Some(list) = result.get("suppressions").and_then(Value::as_array) else {
        return false;
    };
    !list.is_empty()
        && list.iter().all(|s| {
            !matches!(
                s.get("status").and_then(Value::as_str),
                Some("underReview" | "rejected")
            )
        })
}

/// The band of `security-severity` (result, else rule), or `unknown`.
fn severity(result: &Value, rule: Option<&Value>) -> Severity {
    let given = result
        .pointer("/properties/security-severity")
        .or_else(|| rule.and_then(|r| r.pointer("/properties/security-severity")));
    match given {
        Some(Value::Number(n)) => n.as_f64().map_or(Severity::Unknown, Severity::from_score),
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(score) => Severity::from_score(score),
            Err(_) => Severity::from_word(s),
        },
        _ => Severity::Unknown,
    }
}

/// The `reportingDescriptor` a result refers to in its run's driver, by
/// `rule.index`, `ruleIndex`, or id.
fn rule_of<'a>(result: &Value, rules: &'a [Value]) -> Option<&'a Value> {
    let index = result
        .pointer("/rule/index")
        .or_else(|| result.get("ruleIndex"))
        .and_then(Value::as_u64);
    if let Some(rule) = index.and_then(|i| rules.get(i as usize)) {
        return Some(rule);
    }
    let id = result
        .get("ruleId")
        .or_else(|| result.pointer("/rule/id"))
        .and_then(Value::as_str)?;
    rules
        .iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
}

fn effective_level<'a>(result: &'a Value, rule: Option<&'a Value>) -> &'a str {
    if let Some(level) = result.get("level").and_then(Value::as_str) {
        return level;
    }
    if let Some(kind) = result.get("kind").and_then(Value::as_str)
        && kind != "fail"
    {
        return "none";
    }
    rule.and_then(|r| r.pointer("/defaultConfiguration/level"))
        .and_then(Value::as_str)
        .unwrap_or("warning")
}

pub struct SarifFindings;

impl Measure for SarifFindings {
    type Config = ReportConfig;

    fn metadata() -> Metadata {
        Metadata {
            id: "sarif-findings",
            version: "1.3.0",
            name: "SARIF findings",
            description: "Number of results reported in a SARIF 2.1.0 log (static analysis, secrets, IaC scanners), over all runs.",
            kind: Kind::Counting,
            unit: "findings",
            scale: Scale::Ratio,
            output: "value: results not suppressed; details: {runs, suppressed, by_level: {error, warning, note, none}, by_severity: {critical, high, medium, low, info, unknown}, by_rule (largest 20), rules, by_tool}; findings: one per fingerprint (partialFingerprints, else fingerprints, else rule + location + message hash; prefixed by the tool), tracked by the engine's finding lifecycle",
        }
    }

    fn collect(config: ReportConfig) -> Result<Measurement, Error> {
        let bytes = smm_sdk::read_input(&config.path)?;
        let log: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(format!("{}: not JSON: {e}", config.path)))?;
        let counts = count(&log).map_err(|e| Error::input(format!("{}: {e}", config.path)))?;
        let mut rules = Tally::default();
        for (rule, n) in &counts.by_rule {
            rules.add_n(rule, *n);
        }
        let mut details = json!({
            "runs": counts.runs,
            "suppressed": counts.suppressed,
            "by_level": counts.by_level,
            "by_severity": counts.by_severity,
            "by_rule": rules.top(smm_reports::TOP),
            "rules": rules.len(),
            "by_tool": counts.by_tool,
        });
        // The findings go to the engine's finding lifecycle (first seen,
        // fixed, reopened), not into the stored details; unless a run did
        // not analyse, when absence would wrongly read as fixed.
        if !counts.incomplete {
            details["findings"] = serde_json::to_value(&counts.findings)
                .map_err(|e| Error::internal(format!("findings: {e}")))?;
        }
        Ok(Measurement::value(counts.total as f64).with_details(details))
    }
}

smm_sdk::export_measure!(SarifFindings);

#[cfg(test)]
mod tests {
    use super::*;
    use smm_reports::MAX_FINGERPRINT;

    fn fixture(name: &str) -> Option<Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/sarif/"
        );
        match std::fs::read(format!("{path}{name}")) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).unwrap()),
            Err(_) => {
                eprintln!("skipped: ../shared/fixtures/sarif/{name} is absent");
                None
            }
        }
    }

    #[test]
    fn levels_fall_back_to_the_rule_default_then_warning() {
        let log = json!({
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {"name": "t", "rules": [
                    {"id": "R1", "defaultConfiguration": {"level": "error"}},
                    {"id": "R2"}
                ]}},
                "results": [
                    {"ruleId": "R1", "message": {"text": "a"}},
                    {"ruleId": "R1", "level": "note", "message": {"text": "b"}},
                    {"ruleIndex": 1, "message": {"text": "c"}},
                    {"ruleId": "R1", "kind": "pass", "message": {"text": "d"}},
                    {"message": {"text": "e"}}
                ]
            }, {"tool": {"driver": {"name": "u"}}}]
        });
        let c = count(&log).unwrap();
        assert_eq!(c.total, 5);
        assert_eq!(c.runs, 2);
        assert_eq!(c.by_level["error"], 1);
        assert_eq!(c.by_level["note"], 1);
        assert_eq!(c.by_level["warning"], 2);
        assert_eq!(c.by_level["none"], 1);
        assert_eq!(c.by_rule["R1"], 3);
        assert_eq!(c.by_rule["R2"], 1);
        assert_eq!(c.by_rule["(no rule)"], 1);
    }

    #[test]
    fn flawfinder_explicit_levels_win_and_a_missing_one_takes_the_rule_default() {
        let Some(log) = fixture("flawfinder-2.0.19.sarif") else {
            return;
        };
        let c = count(&log).unwrap();
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(c.total, results.len() as u64);
        // In this log 53 results carry their own level (51 note, 1 warning,
        // 1 error) and one (kind "fail", rule FF1048) has none: it takes
        // FF1048's defaultConfiguration.level, "error".
        let explicit = |l: &str| results.iter().filter(|r| r["level"] == l).count() as u64;
        assert_eq!(
            results.iter().filter(|r| r.get("level").is_none()).count(),
            1
        );
        assert_eq!(c.by_level["note"], explicit("note"));
        assert_eq!(c.by_level["warning"], explicit("warning"));
        assert_eq!(c.by_level["error"], explicit("error") + 1);
        assert_eq!(c.by_level.values().sum::<u64>(), c.total);
    }

    #[test]
    fn security_severity_bands_suppressions_and_tools() {
        let log = json!({
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {"name": "semgrep", "rules": [
                    {"id": "R1", "properties": {"security-severity": "HIGH"}},
                    {"id": "R2", "properties": {"security-severity": "9.1"}},
                    {"id": "R3", "properties": {"security-severity": 4.0}}
                ]}},
                "results": [
                    {"ruleId": "R1", "message": {"text": "a"}},
                    {"ruleId": "R2", "message": {"text": "b"}},
                    {"ruleId": "R3", "message": {"text": "c"}},
                    {"ruleId": "R3", "message": {"text": "d"},
                     "properties": {"security-severity": "0.5"}},
                    {"ruleId": "R3", "message": {"text": "e"},
                     "suppressions": [{"kind": "inSource"}]},
                    {"ruleId": "R3", "message": {"text": "f"},
                     "suppressions": [{"kind": "external", "status": "underReview"}]},
                    {"message": {"text": "g"}}
                ]
            }, {"tool": {"driver": {"name": "gitleaks"}}, "results": [
                {"ruleId": "aws", "message": {"text": "h"}}
            ]}]
        });
        let c = count(&log).unwrap();
        assert_eq!((c.total, c.suppressed), (7, 1));
        assert_eq!(c.by_severity.get(Severity::High), 1);
        assert_eq!(c.by_severity.get(Severity::Critical), 1);
        assert_eq!(
            c.by_severity.get(Severity::Medium),
            2,
            "4.0 and the one under review"
        );
        assert_eq!(
            c.by_severity.get(Severity::Low),
            1,
            "the result's own 0.5 wins"
        );
        assert_eq!(c.by_severity.get(Severity::Unknown), 2);
        assert_eq!(c.by_tool["semgrep"], 6);
        assert_eq!(c.by_tool["gitleaks"], 1);
    }

    #[test]
    fn cppcheck_rules_carry_numeric_security_severities() {
        let Some(log) = fixture("cppcheck-2.17.1_many_vuln.sarif") else {
            return;
        };
        let c = count(&log).unwrap();
        // Independently: a result is critical when its rule (by id) has a
        // security-severity of 9.0 or more in this log.
        let run = &log["runs"][0];
        let critical_rules: Vec<&str> = run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["properties"]["security-severity"]
                    .as_f64()
                    .is_some_and(|s| s >= 9.0)
            })
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert!(!critical_rules.is_empty());
        let critical = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| critical_rules.contains(&r["ruleId"].as_str().unwrap_or("")))
            .count() as u64;
        assert_eq!(c.by_severity.get(Severity::Critical), critical);
        assert_eq!(c.by_severity.total(), c.total);
    }

    #[test]
    fn an_empty_log_counts_zero_and_a_non_sarif_document_is_refused() {
        if let Some(log) = fixture("cppcheck_no_vuln.sarif") {
            assert_eq!(count(&log).unwrap().total, 0);
        }
        let err = count(&json!({"version": "2.0.0", "runs": []})).unwrap_err();
        assert!(err.contains("2.1.0"), "{err}");
        let err = count(&json!({"version": "2.1.0"})).unwrap_err();
        assert!(err.contains("runs"), "{err}");
    }

    fn fingerprints_of(c: &Counts) -> Vec<&str> {
        c.findings.iter().map(|f| f.fingerprint.as_str()).collect()
    }

    fn fallback_log(message: &str) -> Value {
        json!({
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {"name": "lint"}},
                "results": [{
                    "ruleId": "R9",
                    "message": {"text": message},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": "src/a.c"},
                        "region": {"startLine": 12, "startColumn": 3}
                    }}]
                }]
            }]
        })
    }

    #[test]
    fn findings_carry_a_stable_fingerprint_per_result() {
        let long = "x".repeat(300) + &"é".repeat(200);
        let log = json!({
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {"name": "semgrep", "rules": [
                    {"id": "R1", "properties": {"security-severity": "HIGH"}}
                ]}},
                "results": [
                    {"ruleId": "R1", "message": {"text": "a"},
                     "partialFingerprints": {"primaryLocationLineHash": "abc", "b/v1": "2"},
                     "fingerprints": {"ignored": "yes"}},
                    // The same partial fingerprints, keys in another order:
                    // the same finding, listed once (the first kept).
                    {"ruleId": "R1", "message": {"text": "a again"},
                     "partialFingerprints": {"b/v1": "2", "primaryLocationLineHash": "abc"},
                     "properties": {"security-severity": "9.5"}},
                    {"ruleId": "R1", "message": {"text": "b"},
                     "partialFingerprints": {},
                     "fingerprints": {"z": "1", "a": "2"}},
                    {"ruleId": "R1", "message": {"text": "c"},
                     "fingerprints": {"a": "3"},
                     "suppressions": [{"kind": "inSource"}]},
                    {"ruleId": "R2", "message": {"id": "default"},
                     "locations": [{"physicalLocation": {
                         "artifactLocation": {"uri": "src/b.c"},
                         "region": {"startLine": 7}
                     }}]},
                    {"message": {"text": "no rule, no location"}},
                    {"ruleId": "R3", "message": {"text": "long"},
                     "partialFingerprints": {"k": long.clone()}},
                    {"ruleId": "R3", "message": {"text": "long, other tail"},
                     "partialFingerprints": {"k": long.clone() + "!"}}
                ]
            }, {"tool": {"driver": {"name": "gitleaks"}}, "results": [
                {"ruleId": "aws", "message": {"text": "h"},
                 "partialFingerprints": {"primaryLocationLineHash": "abc", "b/v1": "2"}}
            ]}]
        });
        let c = count(&log).unwrap();
        assert_eq!((c.total, c.suppressed), (8, 1));
        let fps = fingerprints_of(&c);
        assert_eq!(
            &fps[..4],
            [
                "semgrep|b/v1=2;primaryLocationLineHash=abc",
                "semgrep|a=2;z=1",
                &format!("semgrep|R2|src/b.c:7|{:016x}", fnv1a(b"default")),
                &format!(
                    "semgrep|(no rule)|:|{:016x}",
                    fnv1a(b"no rule, no location")
                ),
            ]
        );
        assert_eq!(c.findings[0].severity, Severity::High, "the first one kept");
        assert!(!c.findings[0].fixable && !c.findings[0].kev && c.findings[0].epss.is_none());
        assert!(
            !fps.iter().any(|f| f.contains("a=3")),
            "suppressed: not listed"
        );
        assert!(!fps.iter().any(|f| f.contains("ignored")));
        // Over 512 bytes: the head kept, the tail replaced by its hash.
        let (long1, long2) = (fps[4], fps[5]);
        for f in [long1, long2] {
            assert!(f.len() <= MAX_FINGERPRINT, "{}", f.len());
            assert!(f.starts_with("semgrep|k=xxx"), "{f}");
        }
        assert_ne!(long1, long2);
        let full = format!("semgrep|k={long}");
        let head = &long1[..long1.len() - 17];
        assert!(full.starts_with(head));
        assert_eq!(
            &long1[head.len()..],
            format!("#{:016x}", fnv1a(&full.as_bytes()[head.len()..]))
        );
        // The same partial fingerprints from another tool: another finding.
        assert_eq!(fps[6], "gitleaks|b/v1=2;primaryLocationLineHash=abc");
        assert_eq!(fps.len(), 7);
        // Stable from one reading to the next.
        assert_eq!(count(&log).unwrap().findings, c.findings);
        assert_eq!(c.findings.len() as u64, c.by_severity.total() - 1);
    }

    #[test]
    fn the_fallback_fingerprint_hashes_the_message() {
        let a = count(&fallback_log("buffer overflow")).unwrap();
        let again = count(&fallback_log("buffer overflow")).unwrap();
        let other = count(&fallback_log("use after free")).unwrap();
        let fp = |c: &Counts| c.findings[0].fingerprint.clone();
        assert_eq!(fp(&a), fp(&again));
        assert_ne!(fp(&a), fp(&other));
        let (prefix, hash) = fp(&a)
            .rsplit_once('|')
            .map(|(p, h)| (p.to_string(), h.to_string()))
            .unwrap();
        assert_eq!(prefix, "lint|R9|src/a.c:12");
        assert_eq!(hash.len(), 16);
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // FNV-1a 64 reference values.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// The fingerprints of a log's counted results, by a plain walk of the
    /// JSON, following the rule of the module documentation.
    fn independent_fingerprints(log: &Value) -> std::collections::BTreeSet<String> {
        fn hash(bytes: &[u8]) -> u64 {
            let mut h: u64 = 14695981039346656037;
            for b in bytes {
                h ^= *b as u64;
                h = h.wrapping_mul(1099511628211);
            }
            h
        }
        fn map(v: &Value) -> Option<String> {
            let m = v.as_object()?;
            if m.is_empty() {
                return None;
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}={}", m[*k].as_str().unwrap()))
                .collect();
            Some(parts.join(";"))
        }
        let mut set = std::collections::BTreeSet::new();
        for run in log["runs"].as_array().unwrap() {
            let tool = run["tool"]["driver"]["name"].as_str().unwrap();
            for r in run["results"].as_array().unwrap() {
                assert!(r.get("suppressions").is_none());
                let body = map(&r["partialFingerprints"])
                    .or_else(|| map(&r["fingerprints"]))
                    .unwrap_or_else(|| {
                        let loc = &r["locations"][0]["physicalLocation"];
                        let uri = loc["artifactLocation"]["uri"].as_str().unwrap_or("");
                        let line = loc["region"]["startLine"]
                            .as_u64()
                            .map_or(String::new(), |l| l.to_string());
                        let text = r["message"]["text"]
                            .as_str()
                            .or(r["message"]["id"].as_str())
                            .unwrap_or("");
                        format!(
                            "{}|{uri}:{line}|{:016x}",
                            r["ruleId"].as_str().unwrap(),
                            hash(text.as_bytes())
                        )
                    });
                set.insert(format!("{tool}|{body}"));
            }
        }
        set
    }

    #[test]
    fn fixtures_list_one_finding_per_distinct_fingerprint() {
        for name in ["cppcheck-2.17.1_many_vuln.sarif", "flawfinder-2.0.19.sarif"] {
            let Some(log) = fixture(name) else {
                continue;
            };
            let c = count(&log).unwrap();
            let expected = independent_fingerprints(&log);
            assert!(!expected.is_empty(), "{name}");
            assert_eq!(c.findings.len(), expected.len(), "{name}");
            let listed: std::collections::BTreeSet<String> =
                c.findings.iter().map(|f| f.fingerprint.clone()).collect();
            assert_eq!(listed, expected, "{name}");
            assert!(
                c.findings
                    .iter()
                    .all(|f| f.fingerprint.len() <= MAX_FINGERPRINT),
                "{name}"
            );
        }
    }

    #[test]
    fn a_run_that_did_not_analyse_makes_the_findings_incomplete() {
        let log = json!({"version": "2.1.0", "runs": [
            {"tool": {"driver": {"name": "a"}}, "results": [{"ruleId": "R", "message": {"text": "m"}}]},
            {"tool": {"driver": {"name": "b"}}}
        ]});
        let c = count(&log).unwrap();
        assert!(c.incomplete);
        assert_eq!(c.total, 1);
        let ran = json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "a"}}, "results": []}]});
        assert!(!count(&ran).unwrap().incomplete);
    }

    #[test]
    fn collect_lists_the_findings_in_the_details() {
        let path =
            std::env::temp_dir().join(format!("sarif-findings-{}.sarif", std::process::id()));
        std::fs::write(&path, fallback_log("m").to_string()).unwrap();
        let m = SarifFindings::collect(ReportConfig {
            path: path.to_string_lossy().into_owned(),
        });
        std::fs::remove_file(&path).ok();
        let details = m.unwrap().details.unwrap();
        let findings = details["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0],
            json!({
                "fingerprint": format!("lint|R9|src/a.c:12|{:016x}", fnv1a(b"m")),
                "severity": "unknown"
            })
        );
        assert_eq!(details["by_tool"]["lint"], 1);
    }
}
