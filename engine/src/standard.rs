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

use smm_catalogue::Registration;

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
];

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
    /// then the derived definitions. Nothing is registered unless every
    /// component is there; a measure already registered is `Unchanged`.
    pub async fn install_standard(&self, dir: &Path) -> Result<Vec<Registration>, EngineError> {
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
            done.push(self.register_file(&dir.join(c.file)).await?);
        }
        for (file, text) in DERIVED {
            done.push(self.register_derived_text(&format!("standard {file}"), text)?);
        }
        Ok(done)
    }
}
