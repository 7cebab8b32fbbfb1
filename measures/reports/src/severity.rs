//! Severities, as the scanners spell them, in one scale.

use std::collections::BTreeMap;

use serde::Serialize;

/// A finding's severity. Scanners' own words map onto it: Trivy's
/// `CRITICAL`..`UNKNOWN`, Grype's `Negligible`, CycloneDX's `info`/`none`,
/// GitHub's numeric `security-severity` bands ([`Severity::from_score`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    /// Informational, negligible or none: not a risk to fix.
    Info,
    Unknown,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
        Severity::Unknown,
    ];

    /// A scanner's word, case-insensitively; anything else is `Unknown`.
    pub fn from_word(word: &str) -> Severity {
        match word.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "error" => Severity::High,
            "medium" | "moderate" | "warning" => Severity::Medium,
            "low" | "note" => Severity::Low,
            "info" | "informational" | "negligible" | "none" => Severity::Info,
            _ => Severity::Unknown,
        }
    }

    /// GitHub's bands of a CVSS-like score: critical ≥ 9.0, high ≥ 7.0,
    /// medium ≥ 4.0, low > 0, else info.
    pub fn from_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Info
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
            Severity::Unknown => "unknown",
        }
    }
}

/// Counts per severity, every severity present (zeros included), so that
/// dashboards find every key in every measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BySeverity(BTreeMap<&'static str, u64>);

impl Default for BySeverity {
    fn default() -> Self {
        BySeverity(Severity::ALL.iter().map(|s| (s.as_str(), 0)).collect())
    }
}

impl BySeverity {
    pub fn add(&mut self, severity: Severity) {
        *self.0.entry(severity.as_str()).or_default() += 1;
    }

    pub fn get(&self, severity: Severity) -> u64 {
        self.0.get(severity.as_str()).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_bands_and_words() {
        assert_eq!(Severity::from_score(9.0), Severity::Critical);
        assert_eq!(Severity::from_score(8.9), Severity::High);
        assert_eq!(Severity::from_score(7.0), Severity::High);
        assert_eq!(Severity::from_score(4.0), Severity::Medium);
        assert_eq!(Severity::from_score(0.1), Severity::Low);
        assert_eq!(Severity::from_score(0.0), Severity::Info);
        assert_eq!(Severity::from_word("HIGH"), Severity::High);
        assert_eq!(Severity::from_word("Negligible"), Severity::Info);
        assert_eq!(Severity::from_word("whatever"), Severity::Unknown);
        let mut by = BySeverity::default();
        by.add(Severity::High);
        by.add(Severity::High);
        assert_eq!(by.get(Severity::High), 2);
        assert_eq!(by.total(), 2);
        assert_eq!(
            serde_json::to_value(&by).unwrap()["critical"],
            serde_json::json!(0)
        );
    }
}
