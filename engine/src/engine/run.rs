//! The run path: from an instance name to stored measurements.
//!
//! A direct instance is collected in the sandbox; a derived one is computed
//! at the current time. Either way every resulting measurement, successful
//! or not, is sealed (given its stable id) and appended, then the derived
//! instances that depend on it are recomputed (`propagate.rs`).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use smm_catalogue::{
    Catalogue, CatalogueError, DerivedDefinition, Implementation, Instance, MeasureRecord,
    StoreError,
};

use super::{Engine, EngineError};
use crate::measurement::Measurement;
use crate::sandbox::{self, Failure};
use crate::store::Appended;

/// How long a measurement that was taken waits for a store that is
/// transiently unavailable before the run reports it could not be stored.
pub(super) const STORE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(600);

/// How [`Engine::store`] stamps a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stamping {
    /// Taken now (a run): after every earlier batch of the instance.
    Now,
    /// Computed at a given instant (a recomputation at an input's time):
    /// that instant, or the next millisecond free for the instance.
    At,
    /// Exactly as given (a backfill: a repeated instant finds its result).
    Fixed,
}

/// A measurement and what the store did with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub measurement: Measurement,
    pub outcome: Appended,
    /// What the finding lifecycle made of the findings the measurement
    /// listed (see [`crate::lifecycle`]), when it listed some.
    pub findings: Option<crate::lifecycle::Tracked>,
}

impl Engine {
    /// Run an instance now and store its measurement (an error measurement
    /// when the plugin fails). `Err` only when nothing could be stored.
    /// For a grouped collective measure: the first group's measurement (see
    /// [`Engine::run_all`]).
    pub async fn run(&self, name: &str) -> Result<Measurement, EngineError> {
        let mut all = self.run_all(name).await?;
        Ok(all.swap_remove(0).measurement)
    }

    /// Run an instance now: collect (direct) or compute at the current time
    /// (derived), store every resulting measurement, then recompute the
    /// derived instances that depend on them. Returns what this instance
    /// stored.
    pub async fn run_all(&self, name: &str) -> Result<Vec<Recorded>, EngineError> {
        let (instance, marker) = self.lookup(name).await?;
        let record = self.record_of(&instance).await?;
        let stored = match &record.implementation {
            Implementation::Derived { definition } => {
                self.derive_at(&instance, &record, definition, Utc::now())
                    .await?
            }
            Implementation::Wasm { .. } => vec![self.run_direct(&instance, &record).await?],
        };
        self.propagate(&stored, marker).await?;
        if let Err(e) = self.propagate_late().await {
            tracing::error!("cannot recompute derived measures over late deliveries: {e}");
        }
        Ok(stored)
    }

    /// An instance and the catalogue change marker: from memory while
    /// the marker is fresh and unchanged, else in one store call.
    async fn lookup(&self, name: &str) -> Result<(Arc<Instance>, i64), EngineError> {
        let fresh = self
            .marker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .filter(|(_, read)| read.elapsed() < super::MARKER_TTL)
            .map(|(marker, _)| marker);
        if let Some(marker) = fresh {
            let cache = self.instances.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((m, instance)) = cache.get(name)
                && *m == marker
            {
                return Ok((instance.clone(), marker));
            }
        }
        let (instance, marker) = self.embedded.instance_and_marker(name).await?;
        let instance =
            Arc::new(instance.ok_or_else(|| CatalogueError::UnknownInstance(name.into()))?);
        *self.marker.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((marker, std::time::Instant::now()));
        self.instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), (marker, instance.clone()));
        Ok((instance, marker))
    }

    /// An instance, read on the blocking pool.
    pub(super) async fn instance(&self, name: &str) -> Result<Instance, EngineError> {
        let (instance, _) = self.embedded.instance_and_marker(name).await?;
        Ok(instance.ok_or_else(|| CatalogueError::UnknownInstance(name.into()))?)
    }

    /// The measure version an instance is pinned to. Cached for the life of
    /// the engine: what `id@version` names never changes.
    pub(super) async fn record_of(
        &self,
        instance: &Instance,
    ) -> Result<Arc<MeasureRecord>, EngineError> {
        let key = (
            instance.measure_id.clone(),
            instance.measure_version.clone(),
        );
        if let Some(r) = self.lock_records().get(&key) {
            return Ok(r.clone());
        }
        let reference = smm_catalogue::MeasureRef {
            id: key.0.clone(),
            version: Some(key.1.clone()),
        };
        let catalogue = Catalogue::new(self.embedded.clone());
        let record = crate::blocking::run(move || catalogue.resolve(&reference))
            .await
            .map_err(|e| {
                StoreError::permanent(format!("a catalogue lookup did not finish: {e}"))
            })??;
        let record = Arc::new(record);
        self.lock_records().insert(key, record.clone());
        Ok(record)
    }

    fn lock_records(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<(String, semver::Version), Arc<MeasureRecord>>,
    > {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A measurement of `instance` at `at` with nothing measured yet.
    pub(super) fn blank(
        instance: &Instance,
        record: &MeasureRecord,
        at: DateTime<Utc>,
    ) -> Measurement {
        Measurement {
            id: String::new(),
            instance: instance.name.clone(),
            measure: instance.measure_ref(),
            measure_id: instance.measure_id.clone(),
            measure_version: instance.measure_version.to_string(),
            measure_name: record.metadata.name.clone(),
            unit: record.metadata.unit.clone(),
            kind: record.smm_kind().to_string(),
            scale: record.metadata.scale.as_str().to_string(),
            timestamp: crate::measurement::to_millis(at),
            observed_at: None,
            value: None,
            text: None,
            details: None,
            labels: instance.labels.clone(),
            error: None,
            error_kind: None,
            duration_ms: 0.0,
        }
    }

    /// Seal and append `batch`: the measurements of one instance at one
    /// instant (several for a grouped collective), stamped as `stamping`
    /// says. Two batches of an instance stamped by this engine never share
    /// a millisecond, so never an id: the second is stored, not taken for a
    /// re-sent copy of the first. A backfill keeps its instants: a repeated
    /// instant must find its earlier result.
    pub(super) async fn store(
        &self,
        mut batch: Vec<Measurement>,
        stamping: Stamping,
    ) -> Result<Vec<Recorded>, EngineError> {
        let monotonic = stamping == Stamping::Now;
        if stamping != Stamping::Fixed
            && let Some(first) = batch.first()
        {
            let at = self.unique_stamp(&first.instance, first.timestamp, monotonic);
            batch.iter_mut().for_each(|m| m.timestamp = at);
        }
        batch.iter_mut().for_each(Measurement::seal);
        let outcomes = self.append_patiently(&batch).await?;
        Ok(batch
            .into_iter()
            .zip(outcomes)
            .map(|(measurement, outcome)| Recorded {
                measurement,
                outcome,
                findings: None,
            })
            .collect())
    }

    /// Append, retrying while the store says the failure is transient (a
    /// database another process holds locked past its busy timeout, an
    /// overloaded backend): a measurement that was taken is not dropped
    /// for want of a moment's patience. Gives up after [`STORE_PATIENCE`].
    async fn append_patiently(&self, batch: &[Measurement]) -> Result<Vec<Appended>, EngineError> {
        let started = std::time::Instant::now();
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            match self.measurements.append(batch).await {
                Ok(outcomes) => return Ok(outcomes),
                Err(e) if e.is_retryable() && started.elapsed() < STORE_PATIENCE => {
                    tracing::warn!(
                        instance = %batch.first().map_or("", |m| m.instance.as_str()),
                        "cannot store the measurement yet, retrying in {delay:?}: {e}"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `at` (whole ms), or the next millisecond not yet used by a batch of
    /// `instance`; `monotonic`: also after the newest one.
    fn unique_stamp(&self, instance: &str, at: DateTime<Utc>, monotonic: bool) -> DateTime<Utc> {
        /// How far back stamps are remembered: a batch stamped more
        /// than this before the instance's newest (a recomputation at an
        /// old input's time) may share a millisecond, and then an id.
        const WINDOW_MS: i64 = 10_000;
        let mut stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        let used = stamps.entry(instance.to_string()).or_default();
        let mut ms = at.timestamp_millis();
        // Taken now (a run, not a recomputation at an input's time): after
        // everything before it, however fast the runs come.
        if monotonic && let Some(&newest) = used.last() {
            ms = ms.max(newest + 1);
        }
        while used.contains(&ms) {
            ms += 1;
        }
        used.insert(ms);
        if let Some(&newest) = used.last() {
            // Forget what is out of the window (bounded memory).
            *used = used.split_off(&(newest - WINDOW_MS));
        }
        DateTime::from_timestamp_millis(ms).unwrap_or(at)
    }

    async fn run_direct(
        &self,
        instance: &Instance,
        record: &MeasureRecord,
    ) -> Result<Recorded, EngineError> {
        let started = Instant::now();
        let outcome = self.collect(instance, record).await;
        // The work is done; storing is waiting: the scheduler's slot goes
        // to the next run.
        crate::scheduler::slot::release();
        let mut m = Self::blank(instance, record, Utc::now());
        // Whole nanoseconds, so that every backend keeps it exactly.
        m.duration_ms = started.elapsed().as_nanos() as f64 / 1e6;
        let mut findings = None;
        match outcome {
            Ok(c) => {
                m.value = c.value;
                m.text = c.text;
                m.details = c.details;
                m.observed_at = c.observed_at;
                findings = c.findings;
            }
            Err(f) => {
                tracing::warn!(instance = %instance.name, kind = f.kind(), "collection failed: {f}");
                m.error_kind = Some(f.kind().to_string());
                m.error = Some(f.to_string());
            }
        }
        let mut recorded = self.store(vec![m], Stamping::Now).await?.swap_remove(0);
        if let Some(findings) = findings
            && recorded.outcome != Appended::DeadLettered
        {
            recorded.findings = self.track_findings(&recorded.measurement, findings).await;
        }
        Ok(recorded)
    }

    /// Compute a derived instance at `at` and store the result(s).
    pub(super) async fn derive_at(
        &self,
        instance: &Instance,
        record: &MeasureRecord,
        definition: &DerivedDefinition,
        at: DateTime<Utc>,
    ) -> Result<Vec<Recorded>, EngineError> {
        let started = Instant::now();
        let results = self.evaluate(definition, instance, at).await;
        // Computed (or failed): as for a collection, the slot is not held
        // while storing.
        crate::scheduler::slot::release();
        let results = results?;
        let elapsed = started.elapsed().as_nanos() as f64 / 1e6;
        self.store(
            Self::derived_measurements(instance, record, results, at, elapsed),
            Stamping::At,
        )
        .await
    }

    pub(super) fn derived_measurements(
        instance: &Instance,
        record: &MeasureRecord,
        results: Vec<crate::derived::Derived>,
        at: DateTime<Utc>,
        elapsed_ms: f64,
    ) -> Vec<Measurement> {
        results
            .into_iter()
            .map(|d| {
                let mut m = Self::blank(instance, record, at);
                m.labels.extend(d.group);
                m.value = d.value;
                m.text = d.text;
                m.details = Some(d.details);
                m.duration_ms = elapsed_ms;
                if let Some((kind, reason)) = d.error {
                    m.error_kind = Some(kind.to_string());
                    m.error = Some(reason);
                }
                m
            })
            .collect()
    }

    async fn collect(
        &self,
        instance: &Instance,
        record: &MeasureRecord,
    ) -> Result<sandbox::Collected, Failure> {
        let engine_failure = |e: &dyn std::fmt::Display| Failure::Engine(e.to_string());
        let Implementation::Wasm { sha256 } = &record.implementation else {
            return Err(Failure::Engine(format!(
                "{} is not a component",
                record.reference()
            )));
        };
        let sandbox = self.sandbox().map_err(|e| engine_failure(&e))?;
        let prepared = match sandbox.prepare_cached(sha256).await {
            Some(p) => p,
            None => {
                let (store, key) = (self.embedded.clone(), sha256.clone());
                let wasm =
                    crate::blocking::run(move || smm_catalogue::CatalogueStore::wasm(&store, &key))
                        .await
                        .map_err(|e| engine_failure(&e))?
                        .map_err(|e| engine_failure(&e))?
                        .ok_or_else(|| {
                            Failure::Engine(format!("component {sha256} is missing from the store"))
                        })?;
                sandbox
                    .prepare(sha256, &wasm)
                    .await
                    .map_err(|e| engine_failure(&e))?
            }
        };
        let limits = self.defaults.with_overrides(&instance.limits);
        let config = instance.config.to_string();
        // Secrets are read at each run: a rotated token is used at once.
        let network = match instance.hosts.is_empty() {
            true => None,
            false => Some(std::sync::Arc::new(
                sandbox::Network::read(&instance.hosts, &instance.secrets)
                    .map_err(Failure::Config)?,
            )),
        };
        let access = sandbox::Access {
            dirs: &instance.grants,
            network: network.as_ref(),
        };
        sandbox.collect(&prepared, &config, &access, &limits).await
    }
}

/// The engine as the scheduler's runner: each run stores its measurement
/// (an error measurement on failure) before it reports.
pub struct EngineRunner(pub std::sync::Arc<Engine>);

impl crate::scheduler::Runner for EngineRunner {
    fn run(
        &self,
        instance: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = crate::scheduler::RunOutcome> + Send>>
    {
        use crate::scheduler::RunOutcome;
        let engine = self.0.clone();
        Box::pin(async move {
            match engine.run_all(&instance).await {
                Ok(all) => match all.into_iter().find_map(|r| r.measurement.error) {
                    None => RunOutcome::Ok,
                    Some(e) => RunOutcome::Failed(e),
                },
                Err(e) => RunOutcome::Failed(e.to_string()),
            }
        })
    }
}
