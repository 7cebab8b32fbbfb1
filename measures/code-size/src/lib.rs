//! `code-size`: lines of code of a source tree in a granted directory, by
//! language: what vulnerability and finding densities per KLOC divide by.
//!
//! Counting is `smm_reports::code_size`: blank and comment lines apart,
//! dependency and build directories (`node_modules`, `target`, `.git`, ...)
//! not entered, symbolic links not followed.

use serde::Deserialize;
use smm_reports::Report;
use smm_sdk::schemars::JsonSchema;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale};

/// Configuration of `code-size`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Root of the source tree: a granted directory or one inside it.
    /// Relative paths are taken from the first granted directory.
    #[schemars(length(min = 1), extend("format" = "path"))]
    pub path: String,
}

pub struct CodeSize;

impl Measure for CodeSize {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "code-size",
            version: "1.0.0",
            name: "Code size",
            description: "Lines of code (not blank, not comment) of a source tree, by language.",
            kind: Kind::Counting,
            unit: "lines",
            scale: Scale::Ratio,
            output: "value: lines of code; details: {code, by_language: {<language>: {files, code, comment, blank}}, other_files, unreadable}",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        let summary = smm_reports::code_size::count(std::path::Path::new(&config.path))
            .map_err(|e| Error::input(e.to_string()))?;
        let details = summary
            .details_json()
            .map_err(|e| Error::internal(format!("details: {e}")))?;
        Ok(Measurement::value(summary.value()).with_details_json(details))
    }
}

smm_sdk::export_measure!(CodeSize);
