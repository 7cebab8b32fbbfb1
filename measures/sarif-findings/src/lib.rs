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

use std::collections::BTreeMap;

use serde_json::{Value, json};
use smm_reports::{BySeverity, Severity, Tally};
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, ReportConfig, Scale};

/// Counts taken from one SARIF log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Results not suppressed.
    pub total: u64,
    pub suppressed: u64,
    pub runs: u64,
    pub by_level: BTreeMap<String, u64>,
    pub by_severity: BySeverity,
    pub by_rule: BTreeMap<String, u64>,
    pub by_tool: BTreeMap<String, u64>,
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
            continue; // absent `results`: the tool did not run the analysis (§3.14.23)
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
            counts.by_severity.add(severity(result, rule));
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
        }
    }
    Ok(counts)
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
            version: "1.2.0",
            name: "SARIF findings",
            description: "Number of results reported in a SARIF 2.1.0 log (static analysis, secrets, IaC scanners), over all runs.",
            kind: Kind::Counting,
            unit: "findings",
            scale: Scale::Ratio,
            output: "value: results not suppressed; details: {runs, suppressed, by_level: {error, warning, note, none}, by_severity: {critical, high, medium, low, info, unknown}, by_rule (largest 20), rules, by_tool}",
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
        Ok(Measurement::value(counts.total as f64).with_details(json!({
            "runs": counts.runs,
            "suppressed": counts.suppressed,
            "by_level": counts.by_level,
            "by_severity": counts.by_severity,
            "by_rule": rules.top(smm_reports::TOP),
            "rules": rules.len(),
            "by_tool": counts.by_tool,
        })))
    }
}

smm_sdk::export_measure!(SarifFindings);

#[cfg(test)]
mod tests {
    use super::*;

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
}
