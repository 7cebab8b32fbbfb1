//! Readers of the reports the standard measures count: one module per
//! format, each turning a report into a typed summary (what the measure's
//! value and details are made of) and, for security reports, the findings
//! with a stable fingerprint each (what the finding lifecycle follows).
//!
//! Plain Rust with no host dependency: the measures compile it to
//! `wasm32-wasip2`, the benchmarks natively.
//!
//! Invariants:
//! - Readers take a `Read` and deserialize into typed structs holding only
//!   the fields they use, so memory follows what is kept, not the report's
//!   size (no `serde_json::Value` of the whole document).
//! - A malformed report is a [`ReportError`] naming where (line and
//!   column, and the JSON path when the document parsed that far); an empty
//!   but valid report is a summary of zeros.

pub mod code_size;
pub mod coverage;
pub mod cyclonedx;
mod error;
mod finding;
pub mod gitleaks;
pub mod grype;
mod json;
mod report;
mod severity;
mod tally;
#[cfg(test)]
mod testing;
pub mod trivy;

pub use error::ReportError;
pub use finding::{Finding, MAX_FINGERPRINT, bounded_fingerprint, fnv1a};
pub use json::from_json;
pub use report::Report;
pub use severity::{BySeverity, Severity};
pub use tally::{TOP, Tally};
