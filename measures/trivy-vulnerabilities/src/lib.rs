//! `trivy-vulnerabilities`: number of vulnerabilities over all results of a Trivy JSON report (schema 2).
//!
//! Counted over every `Results[]` entry; misconfigurations (failures only)
//! and secrets are counted apart, in the details.
//! Reading is done by `smm_reports::trivy`, as a stream: the report's
//! size does not bound what the plugin can measure, its memory limit does
//! not either.

use smm_reports::Report;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, ReportConfig, Scale};

pub struct TrivyVulnerabilities;

impl Measure for TrivyVulnerabilities {
    type Config = ReportConfig;

    fn metadata() -> Metadata {
        Metadata {
            id: "trivy-vulnerabilities",
            version: "1.0.0",
            name: "Trivy vulnerabilities",
            description: "Number of vulnerabilities over all results of a Trivy JSON report (schema 2).",
            kind: Kind::Counting,
            unit: "vulnerabilities",
            scale: Scale::Ratio,
            output: "value: vulnerabilities; details: {vulnerabilities, by_severity, fixable, not_fixable, by_package (largest 20), packages, misconfigurations (failures), secrets, targets}; findings: one per fingerprint, tracked by the engine's finding lifecycle",
        }
    }

    fn collect(config: ReportConfig) -> Result<Measurement, Error> {
        let report = smm_sdk::open_input(&config.path)?;
        let summary = smm_reports::trivy::read(report)
            .map_err(|e| Error::input(format!("{}: {e}", config.path)))?;
        // Findings, if any, go to the engine's finding lifecycle.
        let details = summary
            .details_json()
            .map_err(|e| Error::internal(format!("details: {e}")))?;
        Ok(Measurement::value(summary.value()).with_details_json(details))
    }
}

smm_sdk::export_measure!(TrivyVulnerabilities);
