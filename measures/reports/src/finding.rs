//! One finding of a security report, as the finding lifecycle follows it.

use serde::Serialize;

use crate::Severity;

/// A finding with a fingerprint that stays the same from one scan of the
/// same project to the next while the finding is there:
/// - SARIF: `partialFingerprints`/`fingerprints` when present, else rule +
///   location + a hash of the message;
/// - SCA (Trivy, Grype, CycloneDX): vulnerability id + package + version;
/// - secrets (gitleaks): gitleaks' own `Fingerprint`, else rule + file +
///   line + commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub fingerprint: String,
    pub severity: Severity,
    /// A fixed version exists (SCA).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fixable: bool,
    /// Listed in CISA's Known Exploited Vulnerabilities catalogue.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kev: bool,
    /// EPSS probability (0–1), when the report carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epss: Option<f64>,
}

impl Finding {
    pub fn new(fingerprint: impl Into<String>, severity: Severity) -> Self {
        Finding {
            fingerprint: fingerprint.into(),
            severity,
            fixable: false,
            kev: false,
            epss: None,
        }
    }
}

/// Findings, one per fingerprint, in the order first seen: a report that
/// lists one finding twice (it happens: Grype's, for one) yields it once,
/// with the worst of what both said.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    list: Vec<Finding>,
    index: std::collections::HashMap<String, usize>,
}

impl Findings {
    pub(crate) fn add(&mut self, finding: Finding) {
        match self.index.get(&finding.fingerprint) {
            Some(&i) => {
                let kept = &mut self.list[i];
                kept.severity = kept.severity.min(finding.severity);
                kept.fixable |= finding.fixable;
                kept.kev |= finding.kev;
                kept.epss = match (kept.epss, finding.epss) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            None => {
                self.index
                    .insert(finding.fingerprint.clone(), self.list.len());
                self.list.push(finding);
            }
        }
    }

    pub(crate) fn into_list(self) -> Vec<Finding> {
        self.list
    }
}
