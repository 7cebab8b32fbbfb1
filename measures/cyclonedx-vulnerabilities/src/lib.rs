//! `cyclonedx-vulnerabilities`: number of vulnerabilities of a CycloneDX 1.2-1.6 JSON BOM or standalone VEX.
//!
//! Open vulnerabilities (exploitable, in triage, or not analysed) and
//! suppressed ones (not affected, resolved, false positive) are counted
//! apart in the details.
//! Reading is done by `smm_reports::cyclonedx`, as a stream: the report's
//! size does not bound what the plugin can measure, its memory limit does
//! not either.

use smm_reports::Report;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, ReportConfig, Scale};

pub struct CyclonedxVulnerabilities;

impl Measure for CyclonedxVulnerabilities {
    type Config = ReportConfig;

    fn metadata() -> Metadata {
        Metadata {
            id: "cyclonedx-vulnerabilities",
            version: "1.0.0",
            name: "CycloneDX vulnerabilities",
            description: "Number of vulnerabilities of a CycloneDX 1.2-1.6 JSON BOM or standalone VEX.",
            kind: Kind::Counting,
            unit: "vulnerabilities",
            scale: Scale::Ratio,
            output: "value: vulnerabilities; details: {vulnerabilities, by_severity (highest rating), by_analysis_state, open, suppressed, components, spec_version}; findings: one per fingerprint, tracked by the engine's finding lifecycle",
        }
    }

    fn collect(config: ReportConfig) -> Result<Measurement, Error> {
        let report = smm_sdk::open_input(&config.path)?;
        let summary = smm_reports::cyclonedx::read(report)
            .map_err(|e| Error::input(format!("{}: {e}", config.path)))?;
        // Findings, if any, go to the engine's finding lifecycle.
        let details = summary
            .details_json()
            .map_err(|e| Error::internal(format!("details: {e}")))?;
        Ok(Measurement::value(summary.value()).with_details_json(details))
    }
}

smm_sdk::export_measure!(CyclonedxVulnerabilities);
