//! Why a report could not be read.

use std::fmt;

/// A malformed or unexpected report: what is wrong and, when known, where
/// (`line 12 column 4`, `/Results/3/Vulnerabilities`). The measure prefixes
/// the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError(pub String);

impl ReportError {
    pub fn new(message: impl Into<String>) -> Self {
        ReportError(message.into())
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportError {}
