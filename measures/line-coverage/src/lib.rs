//! `line-coverage`: percent of lines covered, from a Cobertura XML, LCOV or JaCoCo XML report (format detected from the content).
//!
//! Cobertura: `lines-covered / lines-valid` of the root (else its `<line>`
//! elements); LCOV: the sum of `LH` over the sum of `LF`, as genhtml
//! reports it; JaCoCo: the report's LINE counter.
//! Reading is done by `smm_reports::coverage`, as a stream: the report's
//! size does not bound what the plugin can measure, its memory limit does
//! not either.

use smm_reports::Report;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, ReportConfig, Scale};

pub struct LineCoverage;

impl Measure for LineCoverage {
    type Config = ReportConfig;

    fn metadata() -> Metadata {
        Metadata {
            id: "line-coverage",
            version: "1.0.0",
            name: "Line coverage",
            description: "Percent of lines covered, from a Cobertura XML, LCOV or JaCoCo XML report (format detected from the content).",
            kind: Kind::Direct,
            unit: "%",
            scale: Scale::Ratio,
            output: "value: percent of lines covered; details: {format, lines_covered, lines_valid, line_percent, branch figures when the format has them, files}",
        }
    }

    fn collect(config: ReportConfig) -> Result<Measurement, Error> {
        let report = smm_sdk::open_input(&config.path)?;
        let summary = smm_reports::coverage::read(report)
            .map_err(|e| Error::input(format!("{}: {e}", config.path)))?;
        let details = summary
            .details_json()
            .map_err(|e| Error::internal(format!("details: {e}")))?;
        Ok(Measurement::value(summary.value()).with_details_json(details))
    }
}

smm_sdk::export_measure!(LineCoverage);
