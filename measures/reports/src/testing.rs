//! What the readers' tests share.

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/");

/// A third-party report from `../shared/fixtures/` (see its SOURCES.md), or
/// `None`, with a message, where that folder is not there (a user's clone).
pub fn fixture(name: &str) -> Option<Vec<u8>> {
    match std::fs::read(format!("{FIXTURES}{name}")) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("skipped: ../shared/fixtures/{name} is absent");
            None
        }
        Err(e) => panic!("{name}: {e}"),
    }
}
