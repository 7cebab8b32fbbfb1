//! `sarif-findings`: the number of results in a SARIF 2.1.0 log.
//!
//! Value: results over all runs. Breakdown: by effective level and by rule.
//! The effective level follows SARIF 2.1.0 §3.27.10: a result's own `level`;
//! else `none` when its `kind` is present and not `fail`; else its rule's
//! `defaultConfiguration.level`; else `warning`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale, schemars::JsonSchema};

/// Configuration of `sarif-findings`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Path of the SARIF file, inside a directory granted to the instance.
    /// Relative paths are taken from the first granted directory.
    #[schemars(length(min = 1), extend("format" = "path"))]
    pub path: String,
}

/// Counts taken from one SARIF log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub runs: u64,
    pub by_level: BTreeMap<String, u64>,
    pub by_rule: BTreeMap<String, u64>,
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
            let rule = rule_of(result, rules);
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
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "sarif-findings",
            version: "1.1.0",
            name: "SARIF findings",
            description: "Number of results reported in a SARIF 2.1.0 log (static analysis, secrets, IaC scanners), over all runs.",
            kind: Kind::Counting,
            unit: "findings",
            scale: Scale::Ratio,
            output: "value: number of results; details: {runs, by_level: {error, warning, note, none}, by_rule: {<rule id>: n}}",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        let bytes = smm_sdk::read_input(&config.path)?;
        let log: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(format!("{}: not JSON: {e}", config.path)))?;
        let counts = count(&log).map_err(|e| Error::input(format!("{}: {e}", config.path)))?;
        Ok(Measurement::value(counts.total as f64).with_details(json!({
            "runs": counts.runs,
            "by_level": counts.by_level,
            "by_rule": counts.by_rule,
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
