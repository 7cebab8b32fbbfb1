//! What the scheduler remembers about each instance, across restarts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Outcome of an instance's last fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The last run stored a measurement.
    Ok,
    /// The last run stored an error measurement (or could not store at all).
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// Persisted scheduling state of one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    pub instance: String,
    pub last_run: Option<DateTime<Utc>>,
    pub last_status: Option<Status>,
    /// Failures since the last success; drives the backoff.
    pub consecutive_failures: u32,
    /// Fire times skipped because the previous run was still going.
    pub skipped_runs: u64,
    /// When the instance fires next (as planned by the last scheduler).
    pub next_fire: Option<DateTime<Utc>>,
    /// The schedule (`expression` or `expression @ zone`) `next_fire` was
    /// planned for; a plan made for another schedule is not kept.
    #[serde(default)]
    pub planned_for: Option<String>,
}

impl InstanceState {
    pub fn new(instance: &str) -> Self {
        InstanceState {
            instance: instance.to_string(),
            last_run: None,
            last_status: None,
            consecutive_failures: 0,
            skipped_runs: 0,
            next_fire: None,
            planned_for: None,
        }
    }
}
