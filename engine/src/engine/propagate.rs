//! Event-driven recomputation of derived measures.
//!
//! Every derived instance (not paused) that reads a stored measurement's
//! measure, within its label scope, is recomputed at that measurement's
//! timestamp. Derived instances are visited in dependency order (depth in
//! the acyclic [`DependencyGraph`]), so one that reads two others sees both
//! up to date. A dependent that cannot be computed is logged and skipped:
//! it never fails its input's run.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use smm_catalogue::{DependencyGraph, Implementation, Instance};

use crate::scheduler::SchedulerStore;

use super::{Dependents, Engine, EngineError, Recorded};
use crate::measurement::Measurement;
use crate::store::Appended;

impl Engine {
    /// Recompute the dependents of `stored`; `marker` is the catalogue
    /// change marker read with the instance that produced them.
    pub(super) async fn propagate(
        &self,
        stored: &[Recorded],
        marker: i64,
    ) -> Result<(), EngineError> {
        // Only what a read can see: a spooled measurement is not readable yet.
        let readable = |r: &&Recorded| !r.measurement.is_error() && r.outcome != Appended::Spooled;
        if !stored.iter().any(|r| readable(&r)) {
            return Ok(());
        }
        let dependents = self.dependents(marker).await?;
        if dependents.is_empty() {
            return Ok(());
        }
        let mut fresh: Vec<Measurement> = stored
            .iter()
            .filter(readable)
            .map(|r| r.measurement.clone())
            .collect();
        for (instance, definition) in dependents.iter() {
            let mut instants: Vec<DateTime<Utc>> = fresh
                .iter()
                .filter(|m| {
                    definition.inputs().iter().any(|(_, input)| {
                        input.measure == m.measure_id
                            && crate::derived::scope(input, instance)
                                .iter()
                                .all(|(k, v)| m.labels.get(k) == Some(v))
                    })
                })
                .map(|m| m.timestamp)
                .collect();
            if instants.is_empty() {
                continue;
            }
            instants.sort();
            instants.dedup();
            let record = match self.record_of(instance).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(instance = %instance.name, "cannot recompute the derived instance: {e}");
                    continue;
                }
            };
            for at in instants {
                match self.derive_at(instance, &record, definition, at).await {
                    Ok(new) => fresh.extend(
                        new.into_iter()
                            .filter(|r| !r.measurement.is_error() && r.outcome != Appended::Spooled)
                            .map(|r| r.measurement),
                    ),
                    Err(e) => tracing::error!(
                        instance = %instance.name,
                        "cannot recompute the derived instance: {e}"
                    ),
                }
            }
        }
        Ok(())
    }

    /// Recompute the derived measures over inputs the measurement store
    /// delivered late (spooled during an outage, delivered since); returns
    /// how many inputs. `run_all` calls it after each run; commands that
    /// deliver the spool call it too.
    pub async fn propagate_late(&self) -> Result<usize, EngineError> {
        let late = self.measurements.delivered_late().await;
        if late.is_empty() {
            return Ok(0);
        }
        let marker = self.embedded.change_marker().await?;
        let count = late.len();
        let recorded: Vec<Recorded> = late
            .into_iter()
            .map(|measurement| Recorded {
                measurement,
                outcome: Appended::Stored,
                findings: None,
            })
            .collect();
        self.propagate(&recorded, marker).await?;
        Ok(count)
    }

    /// [`Engine::derived_instances`], recomputed only when the catalogue
    /// change marker (bumped by any change to instances or measures, from
    /// any process) has moved.
    async fn dependents(&self, marker: i64) -> Result<Dependents, EngineError> {
        {
            let cache = self.dependents.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((m, d)) = cache.as_ref()
                && *m == marker
            {
                return Ok(d.clone());
            }
        }
        let engine_store = self.embedded.clone();
        let d = crate::blocking::run(move || derived_instances(&engine_store))
            .await
            .map_err(|e| {
                smm_catalogue::StoreError::permanent(format!(
                    "listing derived instances did not finish: {e}"
                ))
            })??;
        let d = Arc::new(d);
        *self.dependents.lock().unwrap_or_else(|p| p.into_inner()) = Some((marker, d.clone()));
        Ok(d)
    }
}

/// Every instance (not paused) of a derived measure, with its definition,
/// in dependency order: an instance comes after the derived measures it
/// reads. Two queries, whatever the number of instances.
fn derived_instances(
    store: &crate::store::SqliteStore,
) -> Result<Vec<(Instance, smm_catalogue::DerivedDefinition)>, EngineError> {
    use smm_catalogue::CatalogueStore;
    let records = store.list_measures()?;
    let graph = DependencyGraph::of(&records);
    let mut definitions = HashMap::new();
    for record in records {
        if let Implementation::Derived { definition } = record.implementation {
            definitions.insert((record.metadata.id, record.metadata.version), definition);
        }
    }
    if definitions.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(usize, Instance, smm_catalogue::DerivedDefinition)> = Vec::new();
    for instance in store.list_instances()? {
        if instance.paused {
            continue;
        }
        let key = (
            instance.measure_id.clone(),
            instance.measure_version.clone(),
        );
        if let Some(definition) = definitions.get(&key) {
            let depth = graph.depth(&instance.measure_id);
            out.push((depth, instance, definition.clone()));
        }
    }
    out.sort_by(|(da, a, _), (db, b, _)| (da, &a.name).cmp(&(db, &b.name)));
    Ok(out.into_iter().map(|(_, i, d)| (i, d)).collect())
}
