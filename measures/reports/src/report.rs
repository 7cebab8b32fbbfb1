//! What every reader's summary gives the measure built on it.

use serde::Serialize;
use serde_json::Value;

use crate::Finding;

/// A reader's summary: the measurement's value, its details, and the
/// findings the engine's lifecycle follows.
pub trait Report: Serialize {
    /// The number a user expects on the dashboard.
    fn value(&self) -> f64;

    /// The findings, one per fingerprint (none for quality reports).
    fn findings(&self) -> &[Finding] {
        &[]
    }

    /// The details a measure returns: the summary, with its findings
    /// listed under `findings` when it has any (the engine takes them out
    /// of what it stores).
    fn details(&self) -> Result<Value, serde_json::Error> {
        let mut details = serde_json::to_value(self)?;
        if !self.findings().is_empty() {
            details["findings"] = serde_json::to_value(self.findings())?;
        }
        Ok(details)
    }
}
