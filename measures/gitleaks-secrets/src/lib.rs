//! `gitleaks-secrets`: number of findings of a gitleaks JSON report (v8 or v7); a null or empty report is 0.
//!
//! The secrets themselves never leave the plugin: details hold rules and
//! files only.
//! Reading is done by `smm_reports::gitleaks`, as a stream: the report's
//! size does not bound what the plugin can measure, its memory limit does
//! not either.

use smm_reports::Report;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, ReportConfig, Scale};

pub struct GitleaksSecrets;

impl Measure for GitleaksSecrets {
    type Config = ReportConfig;

    fn metadata() -> Metadata {
        Metadata {
            id: "gitleaks-secrets",
            version: "1.0.0",
            name: "gitleaks secrets",
            description: "Number of findings of a gitleaks JSON report (v8 or v7); a null or empty report is 0.",
            kind: Kind::Counting,
            unit: "secrets",
            scale: Scale::Ratio,
            output: "value: secrets found; details: {secrets, by_rule (largest 20), rules, by_file (largest 20), files}; findings: one per fingerprint, tracked by the engine's finding lifecycle",
        }
    }

    fn collect(config: ReportConfig) -> Result<Measurement, Error> {
        let report = smm_sdk::open_input(&config.path)?;
        let summary = smm_reports::gitleaks::read(report)
            .map_err(|e| Error::input(format!("{}: {e}", config.path)))?;
        // Findings, if any, go to the engine's finding lifecycle.
        let details = summary
            .details_json()
            .map_err(|e| Error::internal(format!("details: {e}")))?;
        Ok(Measurement::value(summary.value()).with_details_json(details))
    }
}

smm_sdk::export_measure!(GitleaksSecrets);
