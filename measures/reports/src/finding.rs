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

/// Longest fingerprint the engine accepts, in bytes.
pub const MAX_FINGERPRINT: usize = 512;

/// 64-bit FNV-1a: a short, stable hash for fingerprints (not a security
/// property: fingerprints only tell findings apart).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// At most [`MAX_FINGERPRINT`] bytes: a longer fingerprint keeps its head
/// and replaces the rest by `#` and the rest's hash (still stable, still
/// distinct).
pub fn bounded_fingerprint(mut fingerprint: String) -> String {
    if fingerprint.len() <= MAX_FINGERPRINT {
        return fingerprint;
    }
    let mut cut = MAX_FINGERPRINT - 17; // `#` and 16 hex digits
    while !fingerprint.is_char_boundary(cut) {
        cut -= 1;
    }
    let tail = fnv1a(&fingerprint.as_bytes()[cut..]);
    fingerprint.truncate(cut);
    fingerprint.push_str(&format!("#{tail:016x}"));
    fingerprint
}

impl Finding {
    /// A finding; a fingerprint longer than [`MAX_FINGERPRINT`] is
    /// shortened (a CVE affecting many packages, a deep file path).
    pub fn new(fingerprint: impl Into<String>, severity: Severity) -> Self {
        Finding {
            fingerprint: bounded_fingerprint(fingerprint.into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_fingerprints_are_shortened_stably_and_apart() {
        let refs: Vec<String> = (0..40)
            .map(|i| format!("pkg:maven/org.example/lib-{i}@1.0"))
            .collect();
        let a = Finding::new(
            format!("CVE-2021-44228|{}", refs.join(",")),
            Severity::Critical,
        );
        let b = Finding::new(
            format!("CVE-2021-44228|{}", refs[1..].join(",")),
            Severity::Critical,
        );
        assert!(a.fingerprint.len() <= MAX_FINGERPRINT && b.fingerprint.len() <= MAX_FINGERPRINT);
        assert!(a.fingerprint.starts_with("CVE-2021-44228|pkg:maven/"));
        assert_ne!(a.fingerprint, b.fingerprint);
        let again = Finding::new(
            format!("CVE-2021-44228|{}", refs.join(",")),
            Severity::Critical,
        );
        assert_eq!(a.fingerprint, again.fingerprint);
        assert_eq!(Finding::new("short", Severity::Low).fingerprint, "short");
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
