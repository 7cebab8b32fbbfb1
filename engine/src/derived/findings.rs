//! Derived measures over the finding lifecycle (`kind = "findings"`):
//! SMM collective measures whose set is the findings of the scanning
//! instances in scope, taken at one instant `t` (open findings) or over a
//! window `(t − window, t]` (fixes and openings).
//!
//! Pure: the periods (from the lifecycle's ledger) and the scanning
//! instances' tiers in, a [`Derived`] out; the engine fetches them
//! ([`crate::Engine`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use smm_catalogue::derived::FindingStatistic;

use super::Derived;
use crate::lifecycle::Period;

/// SLA in days per severity, when the definition sets none.
pub const DEFAULT_SLA_DAYS: [(&str, u64); 4] =
    [("critical", 7), ("high", 30), ("medium", 90), ("low", 120)];

/// Age buckets of open findings (days since first seen, exclusive upper
/// bound); older ones are `90d+`.
pub const AGE_BUCKETS: [(&str, i64); 3] = [("0-7d", 7), ("7-30d", 30), ("30-90d", 90)];

/// EPSS from which a finding counts as likely exploited.
pub const EPSS_HIGH: f64 = 0.1;

/// A `findings` definition's parameters.
pub struct Params<'a> {
    pub statistic: FindingStatistic,
    pub window: Option<std::time::Duration>,
    pub severities: &'a [String],
    pub sla_days: &'a BTreeMap<String, u64>,
    /// `escape_rate`: the successful deployments (id, finished at), or why
    /// they could not be read.
    pub deployments: Option<Result<&'a [Deployment], &'a str>>,
}

/// A successful deployment: its id and when it finished.
pub type Deployment = (String, DateTime<Utc>);

fn weight(severity: &str) -> f64 {
    match severity {
        "critical" => 5.0,
        "high" => 4.0,
        "medium" => 2.0,
        "low" => 1.0,
        _ => 0.0,
    }
}

fn exploitability(p: &Period) -> f64 {
    if p.kev || p.epss.is_some_and(|e| e >= EPSS_HIGH) {
        3.0
    } else if p.fixable {
        2.0
    } else {
        1.0
    }
}

fn criticality(tier: Option<&str>) -> f64 {
    match tier {
        Some("1") => 3.0,
        Some("2") => 2.0,
        _ => 1.0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Evaluate at `at` over `periods` (of the scanning instances in scope);
/// `tiers` maps each scanning instance to its `tier` label.
pub fn evaluate(
    params: &Params<'_>,
    periods: &[Period],
    tiers: &HashMap<String, Option<String>>,
    at: DateTime<Utc>,
) -> Derived {
    let wanted =
        |p: &&Period| params.severities.is_empty() || params.severities.contains(&p.severity);
    let periods: Vec<&Period> = periods.iter().filter(wanted).collect();
    let open_at = |t: DateTime<Utc>| -> Vec<&Period> {
        periods
            .iter()
            .copied()
            .filter(|p| p.opened_at <= t && p.fixed_at.is_none_or(|f| f > t))
            .collect()
    };
    let open = open_at(at);
    let by_severity = |list: &[&Period]| {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for p in list {
            *counts.entry(p.severity.clone()).or_default() += 1;
        }
        counts
    };
    let scanned = json!({"instances": tiers.keys().collect::<std::collections::BTreeSet<_>>()});
    let mut details = scanned;
    let windowed = |within: &dyn Fn(DateTime<Utc>) -> bool| {
        let fixed: Vec<&Period> = periods
            .iter()
            .copied()
            .filter(|p| p.fixed_at.is_some_and(within))
            .collect();
        let opened: Vec<&Period> = periods
            .iter()
            .copied()
            .filter(|p| within(p.opened_at))
            .collect();
        (fixed, opened)
    };
    let after = params
        .window
        .and_then(|w| chrono::Duration::from_std(w).ok())
        .map(|w| at - w);
    let within = |t: DateTime<Utc>| after.is_some_and(|a| t > a) && t <= at;
    match params.statistic {
        FindingStatistic::Open => {
            details["by_severity"] = json!(by_severity(&open));
            let mut by_age: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
            for p in &open {
                let days = (at - p.first_seen).num_days();
                let bucket = AGE_BUCKETS
                    .iter()
                    .find(|(_, upto)| days < *upto)
                    .map_or("90d+", |(name, _)| name);
                *by_age
                    .entry(bucket)
                    .or_default()
                    .entry(p.severity.clone())
                    .or_default() += 1;
            }
            details["by_age"] = json!(by_age);
            Derived::ok(open.len() as f64, details)
        }
        FindingStatistic::OpenChange => {
            let before = after.map(open_at).unwrap_or_default();
            details["open"] = json!(open.len());
            details["open_before"] = json!(before.len());
            Derived::ok(open.len() as f64 - before.len() as f64, details)
        }
        FindingStatistic::SlaBreaches => {
            let sla = |severity: &str| {
                params.sla_days.get(severity).copied().or_else(|| {
                    DEFAULT_SLA_DAYS
                        .iter()
                        .find(|(s, _)| *s == severity)
                        .map(|(_, d)| *d)
                })
            };
            let breached: Vec<&Period> = open
                .iter()
                .copied()
                .filter(|p| {
                    sla(&p.severity)
                        .is_some_and(|days| at - p.first_seen > chrono::Duration::days(days as i64))
                })
                .collect();
            let mut by_tier: BTreeMap<String, u64> = BTreeMap::new();
            for p in &breached {
                let tier = tiers.get(&p.instance).cloned().flatten();
                *by_tier
                    .entry(tier.unwrap_or_else(|| "none".into()))
                    .or_default() += 1;
            }
            details["by_severity"] = json!(by_severity(&breached));
            details["by_tier"] = json!(by_tier);
            details["open"] = json!(open.len());
            Derived::ok(breached.len() as f64, details)
        }
        FindingStatistic::RiskIndex => {
            let risk: f64 = open
                .iter()
                .map(|p| {
                    let tier = tiers.get(&p.instance).and_then(|t| t.as_deref());
                    weight(&p.severity) * exploitability(p) * criticality(tier)
                })
                .sum();
            details["open"] = json!(open.len());
            details["by_severity"] = json!(by_severity(&open));
            Derived::ok(risk, details)
        }
        FindingStatistic::InheritedRisk => {
            let counts = by_severity(&open);
            let n = |s: &str| counts.get(s).copied().unwrap_or(0) as f64;
            let score = 10.0 * n("critical")
                + 5.0 * n("high")
                + 3.0 * n("medium")
                + n("low")
                + 5.0 * n("unknown");
            details["by_severity"] = json!(counts);
            Derived::ok(score, details)
        }
        FindingStatistic::Mttr | FindingStatistic::Exposure => {
            let (fixed, _) = windowed(&within);
            let from = |p: &Period| match params.statistic {
                FindingStatistic::Exposure => p.first_seen,
                _ => p.opened_at,
            };
            let hours: Vec<f64> = fixed
                .iter()
                .map(|p| (p.fixed_at.unwrap() - from(p)).num_milliseconds() as f64 / 3.6e6)
                .collect();
            details["fixed"] = json!(hours.len());
            if hours.is_empty() {
                return Derived::failed(
                    "empty-window",
                    "no finding was fixed in the window".into(),
                    details,
                );
            }
            let mean = hours.iter().sum::<f64>() / hours.len() as f64;
            details["median_hours"] = json!(median(hours));
            Derived::ok(mean, details)
        }
        FindingStatistic::ReopenRate => {
            let (fixed, opened) = windowed(&within);
            let reopened = opened.iter().filter(|p| p.reopened).count();
            details["fixed"] = json!(fixed.len());
            details["reopened"] = json!(reopened);
            if fixed.is_empty() {
                return Derived::failed(
                    "empty-window",
                    "no finding was fixed in the window: a reopen rate needs fixes".into(),
                    details,
                );
            }
            Derived::ok(100.0 * reopened as f64 / fixed.len() as f64, details)
        }
        FindingStatistic::FixIntakeRatio => {
            let (fixed, opened) = windowed(&within);
            details["fixed"] = json!(fixed.len());
            details["opened"] = json!(opened.len());
            if opened.is_empty() {
                return Derived::failed(
                    "empty-window",
                    "no finding was opened in the window: the ratio has no denominator".into(),
                    details,
                );
            }
            Derived::ok(fixed.len() as f64 / opened.len() as f64, details)
        }
        FindingStatistic::EscapeRate => {
            let deployments = match params.deployments {
                Some(Ok(d)) => d,
                Some(Err(reason)) => {
                    return Derived::failed("missing-input", reason.to_string(), details);
                }
                None => {
                    return Derived::failed(
                        "missing-input",
                        "no deployments were given".into(),
                        details,
                    );
                }
            };
            let shipped: Vec<_> = deployments.iter().filter(|(_, t)| within(*t)).collect();
            let listed: Vec<Value> = shipped
                .iter()
                .map(|(id, t)| {
                    let open = open_at(*t);
                    json!({"id": id, "finished_at": t, "open": open.len(),
                           "by_severity": by_severity(&open)})
                })
                .collect();
            let escaped = listed.iter().filter(|d| d["open"] != 0).count();
            details["deployments"] = json!(shipped.len());
            details["escaped"] = json!(escaped);
            details["list"] = json!(listed);
            if shipped.is_empty() {
                return Derived::failed(
                    "empty-window",
                    "no successful deployment finished in the window".into(),
                    details,
                );
            }
            Derived::ok(100.0 * escaped as f64 / shipped.len() as f64, details)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn t(days: f64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis((days * DAY as f64) as i64).unwrap()
    }

    struct P(
        &'static str,
        &'static str,
        &'static str,
        f64,
        Option<f64>,
        bool,
    );

    /// (instance, fingerprint, severity, opened, fixed, reopened)
    fn periods(list: &[P]) -> Vec<Period> {
        list.iter()
            .map(|P(i, f, s, o, x, r)| Period {
                instance: i.to_string(),
                fingerprint: f.to_string(),
                severity: s.to_string(),
                fixable: false,
                kev: false,
                epss: None,
                first_seen: t(0.0),
                opened_at: t(*o),
                last_seen: t(*o),
                fixed_at: x.map(t),
                reopened: *r,
            })
            .collect()
    }

    fn run(statistic: FindingStatistic, window_days: Option<u64>, ps: &[Period]) -> Derived {
        let tiers: HashMap<String, Option<String>> = [
            ("api".to_string(), Some("1".to_string())),
            ("web".to_string(), None),
        ]
        .into();
        let none = BTreeMap::new();
        let params = Params {
            statistic,
            window: window_days.map(|d| std::time::Duration::from_secs(d * 86_400)),
            severities: &[],
            sla_days: &none,
            deployments: None,
        };
        evaluate(&params, ps, &tiers, t(40.0))
    }

    #[test]
    fn escape_rate_counts_deployments_shipped_with_open_findings() {
        let s = sample();
        // Deployments at days 5, 15, 25, 35 and 39; at 40, a 30-day window
        // keeps those after day 10.
        let ds: Vec<(String, DateTime<Utc>)> = [5.0, 15.0, 25.0, 35.0, 39.0]
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("d{i}"), t(*d)))
            .collect();
        let none = BTreeMap::new();
        let tiers = HashMap::new();
        let run = |severities: &[String]| {
            let params = Params {
                statistic: FindingStatistic::EscapeRate,
                window: Some(std::time::Duration::from_secs(30 * 86_400)),
                severities,
                sla_days: &none,
                deployments: Some(Ok(&ds)),
            };
            evaluate(&params, &s, &tiers, t(40.0))
        };
        // In the window: days 15, 25, 35, 39. The critical A is open from
        // day 0: every one escaped. Highs: B from 35, E 20–22 and from 38:
        // 35 and 39 escaped. Lows: F 30–35 (fixed at 35, so not open at
        // 35), G long fixed: none.
        let all = run(&[]);
        assert_eq!(all.details["deployments"], 4);
        assert_eq!(all.value, Some(100.0), "{}", all.details);
        let high = run(&["high".to_string()]);
        assert_eq!(high.value, Some(50.0), "{}", high.details);
        assert_eq!(high.details["escaped"], 2);
        assert_eq!(run(&["low".to_string()]).value, Some(0.0));
        let params = Params {
            statistic: FindingStatistic::EscapeRate,
            window: Some(std::time::Duration::from_secs(86_400)),
            severities: &[],
            sla_days: &none,
            deployments: Some(Ok(&ds[..1])),
        };
        let e = evaluate(&params, &s, &tiers, t(40.0));
        assert_eq!(e.error.map(|e| e.0), Some("empty-window"));
    }

    fn sample() -> Vec<Period> {
        periods(&[
            // open at day 40
            P("api", "A", "critical", 0.0, None, false),
            P("api", "B", "high", 35.0, None, false),
            P("web", "C", "medium", 0.0, None, false),
            P("web", "D", "unknown", 39.0, None, false),
            // fixed: after 2 days (in a 30-day window), 5 days, and long ago
            P("api", "E", "high", 20.0, Some(22.0), false),
            P("web", "F", "low", 30.0, Some(35.0), false),
            P("web", "G", "low", 1.0, Some(3.0), false),
            // reopened at 38 after its fix at 22
            P("api", "E", "high", 38.0, None, true),
        ])
    }

    #[test]
    fn open_risk_and_inherited_risk_by_hand() {
        let s = sample();
        // Open: A, B, C, D, E (reopened).
        assert_eq!(run(FindingStatistic::Open, None, &s).value, Some(5.0));
        // Risk: api tier 1 (×3), web none (×1); nothing fixable or exploited (×1).
        // A 5·3 + B 4·3 + C 2·1 + D 0 + E 4·3 = 15 + 12 + 2 + 0 + 12 = 41.
        assert_eq!(run(FindingStatistic::RiskIndex, None, &s).value, Some(41.0));
        // Inherited: 10·1 critical + 5·2 high + 3·1 medium + 5·1 unknown = 28.
        assert_eq!(
            run(FindingStatistic::InheritedRisk, None, &s).value,
            Some(28.0)
        );
    }

    #[test]
    fn sla_breaches_count_from_first_seen() {
        // All first seen at day 0, evaluated at day 40: critical (7 d) and
        // high (30 d) breach, medium (90 d) does not, unknown has no SLA.
        let d = run(FindingStatistic::SlaBreaches, None, &sample());
        assert_eq!(d.value, Some(3.0), "A, B, E");
        assert_eq!(d.details["by_tier"]["1"], 3);
    }

    #[test]
    fn mttr_reopen_rate_and_fix_intake_over_a_window() {
        let s = sample();
        // Window (10, 40]: fixes E (2 d = 48 h) and F (5 d = 120 h).
        let d = run(FindingStatistic::Mttr, Some(30), &s);
        assert_eq!(d.value, Some(84.0));
        assert_eq!(d.details["median_hours"], 84.0);
        // One reopening (E at 38) per two fixes.
        assert_eq!(
            run(FindingStatistic::ReopenRate, Some(30), &s).value,
            Some(50.0)
        );
        // Openings in the window: E (20), F (30), B (35), D (39), E (38) = 5.
        assert_eq!(
            run(FindingStatistic::FixIntakeRatio, Some(30), &s).value,
            Some(0.4)
        );
        // Exposure counts from first seen (day 0): E 22 d, F 35 d.
        let d = run(FindingStatistic::Exposure, Some(30), &s);
        assert_eq!(d.value, Some((22.0 + 35.0) / 2.0 * 24.0));
        // A window with no fix is an error, not 0 hours.
        let d = run(FindingStatistic::Mttr, Some(1), &s);
        assert_eq!(d.error.unwrap().0, "empty-window");
    }
}
