//! The standard catalogue: the measures smm ships, direct and derived, and
//! their installation into a home (`smm catalogue install-standard`).
//!
//! Direct measures are components built from source in `measures/`
//! (`cargo build --profile wasm --target wasm32-wasip2 -p <crate>`), read
//! from a directory at install time; derived definitions are embedded in
//! the binary. Installing is idempotent: a measure version already
//! registered with the same bytes or definition is left as it is.
//! `catalogue/standard.md` is the table of metrics, measures and inputs.

use std::path::{Path, PathBuf};

use smm_catalogue::{CatalogueError, MeasureRecord, Registration};

use crate::{Engine, EngineError};

/// A direct standard measure: its crate under `measures/` and the file
/// cargo writes.
#[derive(Debug, Clone, Copy)]
pub struct StandardComponent {
    pub id: &'static str,
    pub file: &'static str,
}

/// Every direct standard measure, in registration order.
pub const COMPONENTS: &[StandardComponent] = &[
    StandardComponent {
        id: "sarif-findings",
        file: "sarif_findings.wasm",
    },
    StandardComponent {
        id: "junit-tests",
        file: "junit_tests.wasm",
    },
    StandardComponent {
        id: "trivy-vulnerabilities",
        file: "trivy_vulnerabilities.wasm",
    },
    StandardComponent {
        id: "grype-vulnerabilities",
        file: "grype_vulnerabilities.wasm",
    },
    StandardComponent {
        id: "gitleaks-secrets",
        file: "gitleaks_secrets.wasm",
    },
    StandardComponent {
        id: "cyclonedx-vulnerabilities",
        file: "cyclonedx_vulnerabilities.wasm",
    },
    StandardComponent {
        id: "line-coverage",
        file: "line_coverage.wasm",
    },
    StandardComponent {
        id: "code-size",
        file: "code_size.wasm",
    },
    StandardComponent {
        id: "github-deployments",
        file: "github_deployments.wasm",
    },
    StandardComponent {
        id: "github-lead-time",
        file: "github_lead_time.wasm",
    },
    StandardComponent {
        id: "github-incidents",
        file: "github_incidents.wasm",
    },
    StandardComponent {
        id: "git-history",
        file: "git_history.wasm",
    },
    StandardComponent {
        id: "devlake-deployments",
        file: "devlake_deployments.wasm",
    },
];

/// A direct standard measure written in Python or JavaScript: built by
/// `measures/build-polyglot.sh` (which needs those toolchains), so
/// optional at install time.
#[derive(Debug, Clone, Copy)]
pub struct PolyglotComponent {
    pub id: &'static str,
    pub file: &'static str,
    pub language: &'static str,
}

/// Every standard measure written in another language than Rust.
///
/// Their builds are not byte-reproducible (the interpreters' heaps are
/// snapshotted at build time, with their random seeds), so another build of
/// the same sources has another digest: a version already registered from
/// another build is kept ([`Installed::Kept`]) instead of being a conflict.
pub const POLYGLOT: &[PolyglotComponent] = &[
    PolyglotComponent {
        id: "bandit-findings",
        file: "bandit_findings.wasm",
        language: "Python",
    },
    PolyglotComponent {
        id: "eslint-findings",
        file: "eslint_findings.wasm",
        language: "JavaScript",
    },
];

/// The command that builds [`POLYGLOT`] into the default directory.
pub const POLYGLOT_BUILD: &str = "measures/build-polyglot.sh";

/// What installing did for one standard measure.
#[derive(Debug)]
pub enum Installed {
    /// Registered now, or already registered with the same bytes.
    Registration(Registration),
    /// A polyglot measure whose version was registered from another build
    /// (see [`POLYGLOT`]): the registered one is kept.
    Kept(MeasureRecord),
    /// A polyglot measure not built in the directory: left out.
    NotBuilt(&'static PolyglotComponent),
}

/// Every derived standard measure: file name under `measures/derived/`
/// and its definition.
pub const DERIVED: &[(&str, &str)] = &[
    (
        "sast-grade.toml",
        include_str!("../../measures/derived/sast-grade.toml"),
    ),
    (
        "test-pass-rate-7d.toml",
        include_str!("../../measures/derived/test-pass-rate-7d.toml"),
    ),
    (
        "vulnerabilities-open.toml",
        include_str!("../../measures/derived/vulnerabilities-open.toml"),
    ),
    (
        "vulnerability-debt-trend-7d.toml",
        include_str!("../../measures/derived/vulnerability-debt-trend-7d.toml"),
    ),
    (
        "vulnerability-risk-index.toml",
        include_str!("../../measures/derived/vulnerability-risk-index.toml"),
    ),
    (
        "vulnerability-inherited-risk.toml",
        include_str!("../../measures/derived/vulnerability-inherited-risk.toml"),
    ),
    (
        "vulnerability-sla-breaches.toml",
        include_str!("../../measures/derived/vulnerability-sla-breaches.toml"),
    ),
    (
        "vulnerability-mttr-30d.toml",
        include_str!("../../measures/derived/vulnerability-mttr-30d.toml"),
    ),
    (
        "critical-exposure-90d.toml",
        include_str!("../../measures/derived/critical-exposure-90d.toml"),
    ),
    (
        "vulnerability-reopen-rate-90d.toml",
        include_str!("../../measures/derived/vulnerability-reopen-rate-90d.toml"),
    ),
    (
        "vulnerability-fix-intake-30d.toml",
        include_str!("../../measures/derived/vulnerability-fix-intake-30d.toml"),
    ),
    (
        "vulnerability-density-kloc.toml",
        include_str!("../../measures/derived/vulnerability-density-kloc.toml"),
    ),
    (
        "appsec-coverage.toml",
        include_str!("../../measures/derived/appsec-coverage.toml"),
    ),
    (
        "appsec-coverage-grade.toml",
        include_str!("../../measures/derived/appsec-coverage-grade.toml"),
    ),
    (
        "secrets-open.toml",
        include_str!("../../measures/derived/secrets-open.toml"),
    ),
    (
        "deployment-frequency.toml",
        include_str!("../../measures/derived/deployment-frequency.toml"),
    ),
    (
        "deployment-frequency-grade.toml",
        include_str!("../../measures/derived/deployment-frequency-grade.toml"),
    ),
    (
        "lead-time-for-changes-grade.toml",
        include_str!("../../measures/derived/lead-time-for-changes-grade.toml"),
    ),
    (
        "change-failure-rate.toml",
        include_str!("../../measures/derived/change-failure-rate.toml"),
    ),
    (
        "change-failure-rate-grade.toml",
        include_str!("../../measures/derived/change-failure-rate-grade.toml"),
    ),
    (
        "failed-deployment-recovery-time.toml",
        include_str!("../../measures/derived/failed-deployment-recovery-time.toml"),
    ),
    (
        "failed-deployment-recovery-time-grade.toml",
        include_str!("../../measures/derived/failed-deployment-recovery-time-grade.toml"),
    ),
    (
        "rework-rate.toml",
        include_str!("../../measures/derived/rework-rate.toml"),
    ),
    (
        "security-change-failure-rate.toml",
        include_str!("../../measures/derived/security-change-failure-rate.toml"),
    ),
    (
        "security-remediation-lead-time.toml",
        include_str!("../../measures/derived/security-remediation-lead-time.toml"),
    ),
    (
        "security-hotfix-share.toml",
        include_str!("../../measures/derived/security-hotfix-share.toml"),
    ),
    (
        "escape-rate.toml",
        include_str!("../../measures/derived/escape-rate.toml"),
    ),
];

/// The cargo command that builds every direct standard measure.
pub fn build_command() -> String {
    let packages: Vec<String> = COMPONENTS.iter().map(|c| format!("-p {}", c.id)).collect();
    format!(
        "cargo build --profile wasm --target wasm32-wasip2 {}",
        packages.join(" ")
    )
}

/// Where the built components are by default: `$SMM_MEASURES_DIR`, else
/// beside the `smm` executable in cargo's layout
/// (`target/debug/smm` → `target/wasm32-wasip2/wasm/`).
pub fn default_dir(exe: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("SMM_MEASURES_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    exe.parent()
        .and_then(Path::parent)
        .map(|target| target.join("wasm32-wasip2").join("wasm"))
        .unwrap_or_else(|| PathBuf::from("target/wasm32-wasip2/wasm"))
}

impl Engine {
    /// Register every standard measure: the components found in `dir`,
    /// the polyglot ones built there, then the derived definitions.
    /// Nothing is registered unless every Rust component is there; a
    /// measure already registered is `Unchanged`.
    pub async fn install_standard(&self, dir: &Path) -> Result<Vec<Installed>, EngineError> {
        let missing: Vec<&str> = COMPONENTS
            .iter()
            .filter(|c| !dir.join(c.file).is_file())
            .map(|c| c.file)
            .collect();
        if !missing.is_empty() {
            return Err(EngineError::Standard(format!(
                "{} not found in {} (build them with `{}`, or point --dir or SMM_MEASURES_DIR at them)",
                missing.join(", "),
                dir.display(),
                build_command()
            )));
        }
        let mut done = Vec::new();
        for c in COMPONENTS {
            done.push(Installed::Registration(
                self.register_file(&dir.join(c.file)).await?,
            ));
        }
        for p in POLYGLOT {
            let path = dir.join(p.file);
            if !path.is_file() {
                done.push(Installed::NotBuilt(p));
                continue;
            }
            done.push(match self.register_file(&path).await {
                Ok(r) => Installed::Registration(r),
                Err(EngineError::Catalogue(CatalogueError::VersionConflict {
                    id,
                    version,
                    ..
                })) => Installed::Kept(
                    self.catalogue()
                        .resolve(&format!("{id}@{version}").parse()?)?,
                ),
                Err(e) => return Err(e),
            });
        }
        for (file, text) in DERIVED {
            done.push(Installed::Registration(
                self.register_derived_text(&format!("standard {file}"), text)?,
            ));
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_in_measures_derived_is_standard_and_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../measures/derived");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        files.sort();
        let mut standard: Vec<String> = DERIVED.iter().map(|(f, _)| f.to_string()).collect();
        standard.sort();
        assert_eq!(files, standard);
        for (file, text) in DERIVED {
            smm_catalogue::DerivedMeasure::parse(file, text).unwrap();
        }
    }
}
