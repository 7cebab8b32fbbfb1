//! What the tests of the delivery measures share: the third-party
//! fixtures and instants.

use chrono::{DateTime, Utc};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/");

/// A third-party file from `../shared/fixtures/` (see its SOURCES.md), or
/// `None`, with a message, where that folder is not there (a user's clone).
pub fn fixture(name: &str) -> Option<Vec<u8>> {
    match std::fs::read(format!("{FIXTURES}{name}")) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: ../shared/fixtures/{name} is absent");
            None
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

/// An RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}
