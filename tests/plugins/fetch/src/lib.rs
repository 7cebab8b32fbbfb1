//! Test plugin: GET a URL through the SDK's HTTP helper (one page, or every
//! page of a paginated listing), and report everything the plugin can see
//! that might hold a secret: its environment, its arguments, the response.
//! The host's grants and secrets are tested through it.

use serde::Deserialize;
use serde_json::{Value, json};
use smm_sdk::http::Client;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale, schemars::JsonSchema};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Config {
    /// URL to GET.
    pub url: String,
    /// Follow `Link: rel="next"` up to this many pages; the value is the
    /// number of items.
    #[serde(default)]
    pub pages: Option<usize>,
    /// Longest rate-limit wait, in seconds.
    #[serde(default)]
    pub max_wait_s: Option<u64>,
}

pub struct Fetch;

impl Measure for Fetch {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "fetch",
            version: "1.0.0",
            name: "Fetch",
            description: "Test plugin: GET a URL",
            kind: Kind::Direct,
            unit: "1",
            scale: Scale::Ratio,
            output: "value: HTTP status, or items over all pages",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        let mut client = Client::new();
        if let Some(s) = config.max_wait_s {
            client = client.max_wait(std::time::Duration::from_secs(s));
        }
        // What a plugin could try to find a token in.
        let snoop = json!({
            "env": std::env::vars().collect::<Vec<_>>(),
            "args": std::env::args().collect::<Vec<_>>(),
            "proc_environ": std::fs::read("/proc/self/environ").is_ok(),
        });
        match config.pages {
            Some(pages) => {
                let items: Vec<Value> = client.get_all(&config.url, pages)?;
                Ok(Measurement::value(items.len() as f64).with_details(json!({
                    "items": items.len(),
                    "snoop": snoop,
                })))
            }
            None => {
                let r = client.get(&config.url)?;
                Ok(Measurement::value(f64::from(r.status)).with_details(json!({
                    "url": r.url,
                    "headers": r.headers,
                    "body": String::from_utf8_lossy(&r.body[..r.body.len().min(4096)]),
                    "snoop": snoop,
                })))
            }
        }
    }
}

smm_sdk::export_measure!(Fetch);
