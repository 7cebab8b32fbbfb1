//! `grype-vulnerabilities`: number of matches of a Grype JSON report.
//!
//! A match without a severity takes its related vulnerabilities' highest,
//! else `unknown`; KEV and EPSS are counted when the report carries them.
//! Reading is done by `smm_reports::grype`, as a stream: the report's
//! size does not bound what the plugin can measure, its memory limit does
//! not either.

use smm_reports::Report;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, ReportConfig, Scale};

pub struct GrypeVulnerabilities;

impl Measure for GrypeVulnerabilities {
    type Config = ReportConfig;

    fn metadata() -> Metadata {
        Metadata {
            id: "grype-vulnerabilities",
            version: "1.0.0",
            name: "Grype vulnerabilities",
            description: "Number of matches of a Grype JSON report.",
            kind: Kind::Counting,
            unit: "vulnerabilities",
            scale: Scale::Ratio,
            output: "value: matches; details: {matches, by_severity, by_fix_state, kev, epss_high, by_package (largest 20), packages}; findings: one per fingerprint, tracked by the engine's finding lifecycle",
        }
    }

    fn collect(config: ReportConfig) -> Result<Measurement, Error> {
        let report = smm_sdk::open_input(&config.path)?;
        let summary = smm_reports::grype::read(report)
            .map_err(|e| Error::input(format!("{}: {e}", config.path)))?;
        // Findings, if any, go to the engine's finding lifecycle.
        let details = summary
            .details_json()
            .map_err(|e| Error::internal(format!("details: {e}")))?;
        Ok(Measurement::value(summary.value()).with_details_json(details))
    }
}

smm_sdk::export_measure!(GrypeVulnerabilities);
