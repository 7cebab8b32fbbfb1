//! Test plugin: `metadata()` returns a 40 MiB id. Registration must refuse
//! it with a bounded message (no echo of the id).

use serde::Deserialize;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale, schemars::JsonSchema};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Config {}

pub struct Huge;

impl Measure for Huge {
    type Config = Config;

    fn metadata() -> Metadata {
        let id: &'static str = Box::leak("x".repeat(40 << 20).into_boxed_str());
        Metadata {
            id,
            version: "1.0.0",
            name: "Huge",
            description: "",
            kind: Kind::Direct,
            unit: "1",
            scale: Scale::Ratio,
            output: "",
        }
    }

    fn collect(_: Config) -> Result<Measurement, Error> {
        Ok(Measurement::value(0.0))
    }
}

smm_sdk::export_measure!(Huge);
