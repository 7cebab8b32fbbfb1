//! What the GitHub measures' unit tests share: the real webhook objects
//! of `../shared/fixtures/webhooks/` (same shapes as the REST API's), an
//! instant parser and the target every test measures.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::Target;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/webhooks/"
);

/// The instant the tests measure at: the window is [03-01, 03-31).
pub const NOW: &str = "2024-03-31T00:00:00Z";

/// Member `key` of the real webhook payload `name` (see
/// ../shared/fixtures/SOURCES.md), or `None` where the folder is absent.
pub fn member(name: &str, key: &str) -> Option<Value> {
    match std::fs::read(format!("{FIXTURES}{name}")) {
        Ok(bytes) => Some(serde_json::from_slice::<Value>(&bytes).unwrap()[key].clone()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: ../shared/fixtures/webhooks/{name} is absent");
            None
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

/// An RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `Codertocat/Hello-World` (the webhooks' repository), production, 30
/// days ending at [`NOW`].
pub fn target() -> Target {
    Target::new(
        "Codertocat/Hello-World",
        "https://api.github.com",
        "production",
        30,
        at(NOW),
    )
    .unwrap()
}
