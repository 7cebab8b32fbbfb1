//! Test plugin: a measure that imports `wasi:http/outgoing-handler`, which
//! smm does not give measures. Registration must refuse it naming the
//! import.

use serde::Deserialize;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale, schemars::JsonSchema};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Config {}

pub struct Fetch;

impl Measure for Fetch {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "http-import",
            version: "1.0.0",
            name: "Fetch",
            description: "",
            kind: Kind::Direct,
            unit: "1",
            scale: Scale::Ratio,
            output: "",
        }
    }

    fn collect(_: Config) -> Result<Measurement, Error> {
        use wasip2::http::types::{Fields, OutgoingRequest};
        let request = OutgoingRequest::new(Fields::new());
        match wasip2::http::outgoing_handler::handle(request, None) {
            Ok(_) => Ok(Measurement::value(1.0)),
            Err(e) => Err(Error::input(format!("{e:?}"))),
        }
    }
}

smm_sdk::export_measure!(Fetch);
