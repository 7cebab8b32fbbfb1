//! Test plugin: `metadata()` spins forever. Registration must refuse it
//! promptly (a short deadline), not hang.

use serde::Deserialize;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale, schemars::JsonSchema};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Config {}

pub struct Spin;

impl Measure for Spin {
    type Config = Config;

    fn metadata() -> Metadata {
        let mut i = 0u64;
        loop {
            i = std::hint::black_box(i.wrapping_add(1));
        }
    }

    fn collect(_: Config) -> Result<Measurement, Error> {
        let _ = (Kind::Direct, Scale::Ratio);
        Ok(Measurement::value(0.0))
    }
}

smm_sdk::export_measure!(Spin);
