//! Measure instances: a measure bound to a measured system.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CatalogueError;
use crate::network::{HostGrant, SecretRef};

/// Per-instance overrides of the sandbox limits. Absent fields take the
/// engine's defaults; the engine caps each at its own maximum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// HTTP requests one collection may send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_requests: Option<u64>,
    /// Response bytes (headers and bodies) one collection may receive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_bytes: Option<u64>,
}

/// What a scheduler does, after downtime, with the fire times it missed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatchUp {
    /// Run once at start-up, then follow the schedule (default).
    #[default]
    RunOnce,
    /// Skip what was missed; wait for the next fire time.
    Skip,
}

impl std::str::FromStr for CatchUp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "run-once" => Ok(CatchUp::RunOnce),
            "skip" => Ok(CatchUp::Skip),
            other => Err(format!("catch-up {other:?} is neither run-once nor skip")),
        }
    }
}

/// What a user asks for when creating an instance.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub name: String,
    /// `id` or `id@version`; without a version the latest is pinned.
    pub measure: String,
    pub config: Value,
    pub labels: BTreeMap<String, String>,
    /// Seconds-resolution cron expression (`sec min hour day month weekday [year]`).
    pub schedule: Option<String>,
    /// IANA time zone the schedule is read in (e.g. `Europe/Paris`); UTC when absent.
    pub timezone: Option<String>,
    /// Directories the plugin may read, as absolute host paths.
    pub grants: Vec<PathBuf>,
    /// HTTP(S) destinations the plugin may reach.
    pub hosts: Vec<HostGrant>,
    /// Secrets the host sends to granted hosts (references, not values).
    pub secrets: Vec<SecretRef>,
    pub limits: LimitOverrides,
    pub catch_up: CatchUp,
}

/// A stored instance, pinned to one measure version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub name: String,
    pub measure_id: String,
    pub measure_version: semver::Version,
    pub config: Value,
    pub labels: BTreeMap<String, String>,
    pub schedule: Option<String>,
    /// IANA time zone of the schedule; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub grants: Vec<PathBuf>,
    /// HTTP(S) destinations the plugin may reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostGrant>,
    /// Secrets the host sends to granted hosts (references, not values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    pub limits: LimitOverrides,
    /// What to do with fire times missed while no scheduler ran.
    #[serde(default)]
    pub catch_up: CatchUp,
    /// A paused instance keeps its configuration but is not scheduled.
    #[serde(default)]
    pub paused: bool,
    pub created_at: DateTime<Utc>,
}

impl Instance {
    /// `measure_id@measure_version`.
    pub fn measure_ref(&self) -> String {
        format!("{}@{}", self.measure_id, self.measure_version)
    }

    /// The spec that would create this instance as it is (pinned to its
    /// measure version): the starting point of an update.
    pub fn to_spec(&self) -> InstanceSpec {
        InstanceSpec {
            name: self.name.clone(),
            measure: self.measure_ref(),
            config: self.config.clone(),
            labels: self.labels.clone(),
            schedule: self.schedule.clone(),
            timezone: self.timezone.clone(),
            grants: self.grants.clone(),
            hosts: self.hosts.clone(),
            secrets: self.secrets.clone(),
            limits: self.limits.clone(),
            catch_up: self.catch_up,
        }
    }
}

/// An instance as it was until a change replaced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRevision {
    pub replaced_at: DateTime<Utc>,
    pub instance: Instance,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Instance names and label keys: 1–128 of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 characters long".into());
    }
    if name.starts_with(['.', '-']) {
        return Err("must not start with '.' or '-'".into());
    }
    if let Some(c) = name.chars().find(|&c| !is_name_char(c)) {
        return Err(format!(
            "character {c:?} is not allowed (use letters, digits, '.', '_', '-')"
        ));
    }
    Ok(())
}

impl InstanceSpec {
    /// A spec with no labels, schedule, time zone or grants, default limits
    /// and catch-up; set the other fields with struct update syntax.
    pub fn new(name: impl Into<String>, measure: impl Into<String>, config: Value) -> Self {
        InstanceSpec {
            name: name.into(),
            measure: measure.into(),
            config,
            labels: BTreeMap::new(),
            schedule: None,
            timezone: None,
            grants: Vec::new(),
            hosts: Vec::new(),
            secrets: Vec::new(),
            limits: LimitOverrides::default(),
            catch_up: CatchUp::default(),
        }
    }

    /// Checks that need no catalogue lookup: name, labels, schedule, grants, limits.
    pub(crate) fn check_shape(&self) -> Result<(), CatalogueError> {
        let invalid = |reason: String| CatalogueError::InvalidInstance {
            instance: self.name.clone(),
            reason,
        };
        validate_name(&self.name).map_err(|e| invalid(format!("name {:?} {e}", self.name)))?;
        for key in self.labels.keys() {
            validate_name(key).map_err(|e| invalid(format!("label key {key:?} {e}")))?;
        }
        if let Some(expr) = &self.schedule {
            cron::Schedule::from_str(expr).map_err(|e| {
                invalid(format!(
                    "schedule {expr:?} is not a cron expression ({e}); expected 6 or 7 fields: sec min hour day-of-month month day-of-week [year], e.g. \"0 */15 * * * *\""
                ))
            })?;
        }
        if let Some(tz) = &self.timezone {
            if self.schedule.is_none() {
                return Err(invalid(format!(
                    "time zone {tz:?} given without a schedule"
                )));
            }
            tz.parse::<chrono_tz::Tz>().map_err(|_| {
                invalid(format!(
                    "time zone {tz:?} is not an IANA time zone name (e.g. Europe/Paris, UTC)"
                ))
            })?;
        }
        for dir in &self.grants {
            if !dir.is_absolute() {
                return Err(invalid(format!(
                    "granted directory {} is not an absolute path",
                    dir.display()
                )));
            }
            if dir.to_str().is_none() {
                return Err(invalid(format!(
                    "granted directory {} is not valid UTF-8",
                    dir.display()
                )));
            }
            // A canonical path: no `..`, no symlinked components, so what is
            // granted is exactly what the user sees.
            if std::fs::canonicalize(dir).is_ok_and(|c| &c != dir) {
                return Err(invalid(format!(
                    "granted directory {} is not canonical (it has `..`, `.` or a symbolic link); grant {} instead",
                    dir.display(),
                    std::fs::canonicalize(dir)
                        .map(|c| c.display().to_string())
                        .unwrap_or_default()
                )));
            }
            if !dir.is_dir() {
                return Err(invalid(format!(
                    "granted directory {} does not exist or is not a directory",
                    dir.display()
                )));
            }
        }
        for (what, v) in [
            ("deadline_ms", self.limits.deadline_ms),
            ("memory_bytes", self.limits.memory_bytes),
            ("output_bytes", self.limits.output_bytes),
            ("http_requests", self.limits.http_requests),
            ("http_bytes", self.limits.http_bytes),
        ] {
            if v == Some(0) {
                return Err(invalid(format!("limit {what} must be greater than 0")));
            }
        }
        crate::network::check(&self.hosts, &self.secrets).map_err(invalid)?;
        Ok(())
    }
}
