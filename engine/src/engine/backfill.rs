//! Backfill: a derived instance recomputed over history (`smm derive`).
//!
//! Idempotent: an instant already computed successfully is skipped, and an
//! instant that fails again is not stored twice (the same id), so a second
//! run stores nothing new; an instant that failed before and now succeeds
//! is stored (another id: the outcome is part of it).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use smm_catalogue::{CatalogueError, Implementation};

use super::{Engine, EngineError};
use crate::store::{Appended, Selector, WindowColumns};

/// Most instants one backfill computes.
const MAX_BACKFILL_INSTANTS: i64 = 10_000_000;

impl Engine {
    /// Recompute a derived instance at each of `instants` not yet computed;
    /// `progress` is called after each. Returns how many measurements were
    /// stored.
    pub async fn backfill(
        &self,
        name: &str,
        instants: &[DateTime<Utc>],
        mut progress: impl FnMut(),
    ) -> Result<usize, EngineError> {
        let instance = self.instance(name).await?;
        let record = self.record_of(&instance).await?;
        let Implementation::Derived { definition } = &record.implementation else {
            return Err(not_derived(name).into());
        };
        let mut stored = 0;
        for &at in instants {
            let at = crate::measurement::to_millis(at);
            if self.measurements.exists_at(name, at, true).await? {
                progress();
                continue; // computed successfully already
            }
            let results = self.evaluate(definition, &instance, at).await?;
            // An instant that failed before and fails again is not stored
            // twice (by id in most backends; here also where an id is
            // unique per backing index only).
            let failed = results.iter().any(|d| d.error.is_some());
            if failed && self.measurements.exists_at(name, at, false).await? {
                progress();
                continue;
            }
            let batch = Self::derived_measurements(&instance, &record, results, at, 0.0);
            stored += self
                .store(batch, super::run::Stamping::Fixed)
                .await?
                .iter()
                .filter(|r| r.outcome != Appended::AlreadyStored)
                .count();
            progress();
        }
        Ok(stored)
    }

    /// The instants a backfill of `name` since `since` recomputes: every
    /// timestamp of a successful input measurement, or every `step`.
    pub async fn backfill_instants(
        &self,
        name: &str,
        since: DateTime<Utc>,
        step: Option<std::time::Duration>,
    ) -> Result<Vec<DateTime<Utc>>, EngineError> {
        let now = Utc::now();
        if let Some(step) = step {
            return stepped(name, since, now, step);
        }
        let instance = self.instance(name).await?;
        let record = self.record_of(&instance).await?;
        let Implementation::Derived { definition } = &record.implementation else {
            return Err(not_derived(name).into());
        };
        let mut instants = BTreeSet::new();
        for (_, input) in definition.inputs() {
            let selector = Selector {
                measure_id: input.measure.clone(),
                labels: crate::derived::scope(input, &instance),
            };
            let before = since - chrono::Duration::milliseconds(1);
            for row in self
                .measurements
                .window(&selector, before, now, WindowColumns::default())
                .await?
            {
                instants.insert(row.timestamp);
            }
        }
        Ok(instants.into_iter().collect())
    }
}

fn not_derived(name: &str) -> CatalogueError {
    CatalogueError::InvalidInstance {
        instance: name.to_string(),
        reason: "it is not an instance of a derived measure".into(),
    }
}

/// Multiples of `step` since the Unix epoch in `(since, now]`: the same
/// instants whenever the backfill runs, so running it again adds nothing.
fn stepped(
    name: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    step: std::time::Duration,
) -> Result<Vec<DateTime<Utc>>, EngineError> {
    let invalid = |reason: String| CatalogueError::InvalidInstance {
        instance: name.to_string(),
        reason,
    };
    let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
    if step_ms == 0 {
        return Err(invalid("the backfill step must be at least 1 ms".into()).into());
    }
    let first = since.timestamp_millis().div_euclid(step_ms) * step_ms + step_ms;
    let count = (now.timestamp_millis() - first).div_euclid(step_ms) + 1;
    if count > MAX_BACKFILL_INSTANTS {
        return Err(invalid(format!(
            "{count} instants: more than {MAX_BACKFILL_INSTANTS}; use a larger --step or a later --since"
        ))
        .into());
    }
    Ok((0..count.max(0))
        .filter_map(|k| DateTime::from_timestamp_millis(first + k * step_ms))
        .collect())
}
