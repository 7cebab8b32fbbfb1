//! The engine façade: catalogue + sandbox + stores, wired for one `$SMM_HOME`.
//!
//! Data flows one way: plugin → sandbox → [`Engine::run`] → measurement store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use smm_catalogue::{
    Catalogue, CatalogueError, CatalogueStore, Implementation, Instance, InstanceSpec,
    MeasureRecord, Registration, StoreError,
};

use crate::measurement::{Measurement, Query};
use crate::sandbox::{self, Failure, InspectError, Limits, Sandbox, SandboxConfig};
use crate::store::{MeasurementStore, SqliteStore};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("{path}: {source}")]
    Register {
        path: String,
        #[source]
        source: InspectError,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(StoreError),
    #[error("sandbox: {0}")]
    Sandbox(String),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::Store(e)
    }
}

/// Where everything of one smm installation lives.
#[derive(Debug, Clone)]
pub struct Home {
    pub root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("smm.db")
    }
    pub fn compile_cache(&self) -> PathBuf {
        self.root.join("cache")
    }
}

/// Derived instances in dependency order, as of a catalogue version.
type Dependents = Arc<Vec<(Instance, smm_catalogue::DerivedDefinition)>>;

pub struct Engine {
    catalogue: Catalogue<Arc<SqliteStore>>,
    measurements: Arc<dyn MeasurementStore>,
    sandbox: Sandbox,
    defaults: Limits,
    /// `derived_instances()` cached against the catalogue version, so that
    /// a run does not re-read every instance to find its dependents.
    dependents: std::sync::Mutex<Option<(i64, Dependents)>>,
    /// Measure versions by `(id, version)`: immutable once registered.
    records: std::sync::Mutex<std::collections::HashMap<(String, semver::Version), MeasureRecord>>,
}

impl Engine {
    /// Open (creating if needed) the installation at `home`.
    pub fn open(home: &Home) -> Result<Engine, EngineError> {
        std::fs::create_dir_all(&home.root).map_err(|source| EngineError::Io {
            path: home.root.display().to_string(),
            source,
        })?;
        let store = Arc::new(SqliteStore::open(&home.database())?);
        let sandbox = Sandbox::new(SandboxConfig {
            cache_dir: Some(home.compile_cache()),
            ..SandboxConfig::default()
        })
        .map_err(EngineError::Sandbox)?;
        Ok(Engine::with_parts(store, sandbox))
    }

    /// An engine over an explicit store and sandbox (tests, benchmarks).
    pub fn with_parts(store: Arc<SqliteStore>, sandbox: Sandbox) -> Engine {
        Engine {
            measurements: store.clone(),
            dependents: std::sync::Mutex::new(None),
            records: std::sync::Mutex::new(std::collections::HashMap::new()),
            catalogue: Catalogue::new(store),
            sandbox,
            defaults: Limits::default(),
        }
    }

    pub fn catalogue(&self) -> &Catalogue<Arc<SqliteStore>> {
        &self.catalogue
    }

    /// The embedded store behind the catalogue (and the scheduler's state).
    pub fn store(&self) -> &Arc<SqliteStore> {
        self.catalogue.store()
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Register the measure in `path`: a component (`.wasm`) or a derived
    /// measure definition (`.toml`).
    pub async fn register_file(&self, path: &Path) -> Result<Registration, EngineError> {
        let wasm = std::fs::read(path).map_err(|source| EngineError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "toml") {
            let text = String::from_utf8(wasm).map_err(|e| {
                CatalogueError::InvalidDerived(format!("{}: not UTF-8 text: {e}", path.display()))
            })?;
            let derived = smm_catalogue::DerivedMeasure::parse(&path.display().to_string(), &text)?;
            return Ok(self.catalogue.register_derived(derived)?);
        }
        self.register_bytes(&wasm).await.map_err(|e| match e {
            EngineError::Register { source, .. } => EngineError::Register {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Register a component: read its metadata in the sandbox, validate it,
    /// and store it. On any error the catalogue is unchanged.
    pub async fn register_bytes(&self, wasm: &[u8]) -> Result<Registration, EngineError> {
        let sha256 = sandbox::sha256_hex(wasm);
        let register = |source| EngineError::Register {
            path: "component".into(),
            source,
        };
        let raw = self
            .sandbox
            .inspect(&sha256, wasm)
            .await
            .map_err(register)?;
        let metadata = raw.validate()?;
        Ok(self.catalogue.register_component(metadata, &sha256, wasm)?)
    }

    /// Validate and store an instance; its limit overrides must lie within
    /// the sandbox's floors and ceilings.
    pub fn create_instance(&self, spec: InstanceSpec) -> Result<Instance, EngineError> {
        Limits::check_overrides(&spec.limits).map_err(|reason| {
            CatalogueError::InvalidInstance {
                instance: spec.name.clone(),
                reason,
            }
        })?;
        Ok(self.catalogue.create_instance(spec)?)
    }

    /// Run an instance now and store its measurement (an error measurement
    /// when the plugin fails). `Err` only when nothing could be stored.
    /// For a grouped collective measure: the first group's measurement (see
    /// [`Engine::run_all`]).
    pub async fn run(&self, name: &str) -> Result<Measurement, EngineError> {
        let mut all = self.run_all(name).await?;
        Ok(all.swap_remove(0))
    }

    /// Run an instance now: collect (direct) or compute at the current time
    /// (derived), store every resulting measurement, then recompute the
    /// derived instances that depend on them. Returns what this instance stored.
    pub async fn run_all(&self, name: &str) -> Result<Vec<Measurement>, EngineError> {
        let instance = self.catalogue.instance(name)?;
        let record = self.record_of(&instance)?;
        let stored = match &record.implementation {
            Implementation::Derived { definition } => {
                self.derive_at(&instance, definition, Utc::now())?
            }
            Implementation::Wasm { .. } => vec![self.run_direct(&instance, &record).await?],
        };
        self.propagate(&stored)?;
        Ok(stored)
    }

    /// The measure version an instance is pinned to. Cached for the life of
    /// the engine: what `id@version` names never changes.
    fn record_of(&self, instance: &Instance) -> Result<MeasureRecord, EngineError> {
        let key = (
            instance.measure_id.clone(),
            instance.measure_version.clone(),
        );
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = records.get(&key) {
            return Ok(r.clone());
        }
        let record = self.catalogue.resolve(&smm_catalogue::MeasureRef {
            id: key.0.clone(),
            version: Some(key.1.clone()),
        })?;
        records.insert(key, record.clone());
        Ok(record)
    }

    fn blank(instance: &Instance, at: chrono::DateTime<Utc>) -> Measurement {
        Measurement {
            seq: None,
            instance: instance.name.clone(),
            measure: instance.measure_ref(),
            measure_id: instance.measure_id.clone(),
            measure_version: instance.measure_version.to_string(),
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

    async fn run_direct(
        &self,
        instance: &Instance,
        record: &MeasureRecord,
    ) -> Result<Measurement, EngineError> {
        let started = Instant::now();
        let outcome = self.collect(instance, record).await;
        let mut m = Self::blank(instance, Utc::now());
        m.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        match outcome {
            Ok(c) => {
                m.value = c.value;
                m.text = c.text;
                m.details = c.details;
                m.observed_at = c.observed_at;
            }
            Err(f) => {
                tracing::warn!(instance = %instance.name, kind = f.kind(), "collection failed: {f}");
                m.error_kind = Some(f.kind().to_string());
                m.error = Some(f.to_string());
            }
        }
        m.seq = Some(self.measurements.append(&m)?);
        Ok(m)
    }

    /// Compute a derived instance at `at` and store the result(s).
    fn derive_at(
        &self,
        instance: &Instance,
        definition: &smm_catalogue::DerivedDefinition,
        at: chrono::DateTime<Utc>,
    ) -> Result<Vec<Measurement>, EngineError> {
        let started = Instant::now();
        let results =
            crate::derived::evaluate(definition, instance, at, self.measurements.as_ref())?;
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        self.store_derived(instance, results, at, elapsed)
    }

    fn store_derived(
        &self,
        instance: &Instance,
        results: Vec<crate::derived::Derived>,
        at: chrono::DateTime<Utc>,
        elapsed: f64,
    ) -> Result<Vec<Measurement>, EngineError> {
        let mut stored = Vec::with_capacity(results.len());
        for d in results {
            let mut m = Self::blank(instance, at);
            m.labels.extend(d.group);
            m.value = d.value;
            m.text = d.text;
            m.details = Some(d.details);
            m.duration_ms = elapsed;
            if let Some((kind, reason)) = d.error {
                m.error_kind = Some(kind.to_string());
                m.error = Some(reason);
            }
            m.seq = Some(self.measurements.append(&m)?);
            stored.push(m);
        }
        Ok(stored)
    }

    /// Event-driven recomputation. Every derived instance (not paused) that
    /// reads a stored measurement's measure, within its label scope, is
    /// recomputed at that measurement's timestamp; derived instances are
    /// visited in dependency order (depth in the acyclic graph), so one that
    /// reads two others sees both up to date. A dependent that cannot be
    /// computed is logged and skipped: it never fails its input's run.
    fn propagate(&self, stored: &[Measurement]) -> Result<(), EngineError> {
        let mut fresh: Vec<Measurement> =
            stored.iter().filter(|m| !m.is_error()).cloned().collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let dependents = self.dependents()?;
        for (instance, definition) in dependents.iter() {
            let mut instants: Vec<chrono::DateTime<Utc>> = fresh
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
            instants.sort();
            instants.dedup();
            for at in instants {
                match self.derive_at(instance, definition, at) {
                    Ok(new) => fresh.extend(new.into_iter().filter(|m| !m.is_error())),
                    Err(e) => tracing::error!(
                        instance = %instance.name,
                        "cannot recompute the derived instance: {e}"
                    ),
                }
            }
        }
        Ok(())
    }

    /// [`Engine::derived_instances`], recomputed only when the catalogue
    /// version (bumped by any change to instances or measures, from any
    /// process) has moved.
    fn dependents(&self) -> Result<Dependents, EngineError> {
        use crate::store::StateStore;
        let version = self.store().change_marker()?;
        let mut cache = self.dependents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, d)) = cache.as_ref()
            && *v == version
        {
            return Ok(d.clone());
        }
        let d = Arc::new(self.derived_instances()?);
        *cache = Some((version, d.clone()));
        Ok(d)
    }

    /// Every instance (not paused) of a derived measure, with its
    /// definition, in dependency order: an instance comes after the derived
    /// measures it reads. Two queries, whatever the number of instances.
    fn derived_instances(
        &self,
    ) -> Result<Vec<(Instance, smm_catalogue::DerivedDefinition)>, EngineError> {
        let mut definitions = std::collections::HashMap::new();
        for record in self.measures()? {
            if let Implementation::Derived { definition } = record.implementation {
                definitions.insert(
                    (record.metadata.id.clone(), record.metadata.version.clone()),
                    definition,
                );
            }
        }
        if definitions.is_empty() {
            return Ok(Vec::new());
        }
        // Depth of a derived measure id: 1 + the deepest derived input.
        let mut reads: std::collections::HashMap<&str, Vec<&str>> =
            std::collections::HashMap::new();
        for ((id, _), d) in &definitions {
            let entry = reads.entry(id.as_str()).or_default();
            entry.extend(d.inputs().iter().map(|(_, i)| i.measure.as_str()));
        }
        fn depth<'a>(
            id: &'a str,
            reads: &std::collections::HashMap<&'a str, Vec<&'a str>>,
            memo: &mut std::collections::HashMap<&'a str, usize>,
            guard: usize,
        ) -> usize {
            if let Some(&d) = memo.get(id) {
                return d;
            }
            let d = match reads.get(id) {
                None => 0, // a direct measure
                Some(_) if guard == 0 => 0,
                Some(inputs) => {
                    1 + inputs
                        .iter()
                        .map(|i| depth(i, reads, memo, guard - 1))
                        .max()
                        .unwrap_or(0)
                }
            };
            memo.insert(id, d);
            d
        }
        let mut memo = std::collections::HashMap::new();
        let mut out: Vec<(usize, Instance, smm_catalogue::DerivedDefinition)> = Vec::new();
        for instance in self.instances()? {
            if instance.paused {
                continue;
            }
            let key = (
                instance.measure_id.clone(),
                instance.measure_version.clone(),
            );
            if let Some(((id, _), definition)) = definitions.get_key_value(&key) {
                let d = depth(id, &reads, &mut memo, 64);
                out.push((d, instance, definition.clone()));
            }
        }
        out.sort_by_key(|(d, i, _)| (*d, i.name.clone()));
        Ok(out.into_iter().map(|(_, i, d)| (i, d)).collect())
    }

    /// Recompute a derived instance at each of `instants` not yet computed
    /// (idempotent); `progress` is called after each. Returns how many
    /// measurements were stored.
    pub fn backfill(
        &self,
        name: &str,
        instants: &[chrono::DateTime<Utc>],
        mut progress: impl FnMut(),
    ) -> Result<usize, EngineError> {
        let instance = self.catalogue.instance(name)?;
        let Implementation::Derived { definition } = self.record_of(&instance)?.implementation
        else {
            return Err(CatalogueError::InvalidInstance {
                instance: name.to_string(),
                reason: "it is not an instance of a derived measure".into(),
            }
            .into());
        };
        let mut stored = 0;
        for &at in instants {
            let at = crate::measurement::to_millis(at);
            if self.measurements.exists_at(name, at, true)? {
                progress();
                continue; // computed successfully already
            }
            let results =
                crate::derived::evaluate(&definition, &instance, at, self.measurements.as_ref())?;
            let failed = results.iter().any(|d| d.error.is_some());
            // An instant that failed before and fails again is not stored twice.
            if !(failed && self.measurements.exists_at(name, at, false)?) {
                stored += self.store_derived(&instance, results, at, 0.0)?.len();
            }
            progress();
        }
        Ok(stored)
    }

    /// The instants a backfill of `name` since `since` recomputes: every
    /// timestamp of a successful input measurement, or every `step`.
    pub fn backfill_instants(
        &self,
        name: &str,
        since: chrono::DateTime<Utc>,
        step: Option<std::time::Duration>,
    ) -> Result<Vec<chrono::DateTime<Utc>>, EngineError> {
        let now = Utc::now();
        if let Some(step) = step {
            // Multiples of the step since the Unix epoch: the same instants
            // whenever the backfill runs, so running it again adds nothing.
            let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
            if step_ms == 0 {
                return Err(CatalogueError::InvalidInstance {
                    instance: name.to_string(),
                    reason: "the backfill step must be at least 1 ms".into(),
                }
                .into());
            }
            let first = since.timestamp_millis().div_euclid(step_ms) * step_ms + step_ms;
            let count = (now.timestamp_millis() - first).div_euclid(step_ms) + 1;
            if count > MAX_BACKFILL_INSTANTS {
                return Err(CatalogueError::InvalidInstance {
                    instance: name.to_string(),
                    reason: format!(
                        "{count} instants: more than {MAX_BACKFILL_INSTANTS}; use a larger --step or a later --since"
                    ),
                }
                .into());
            }
            return Ok((0..count.max(0))
                .filter_map(|k| chrono::DateTime::from_timestamp_millis(first + k * step_ms))
                .collect());
        }
        let instance = self.catalogue.instance(name)?;
        let Implementation::Derived { definition } = self.record_of(&instance)?.implementation
        else {
            return Ok(Vec::new());
        };
        let mut instants = std::collections::BTreeSet::new();
        for (_, input) in definition.inputs() {
            let mut labels = instance.labels.clone();
            labels.extend(input.labels.clone());
            let selector = crate::store::Selector {
                measure_id: input.measure.clone(),
                labels,
            };
            let before = since - chrono::Duration::milliseconds(1);
            for row in self.measurements.window(&selector, before, now, false)? {
                instants.insert(row.timestamp);
            }
        }
        Ok(instants.into_iter().collect())
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
        let prepared = match self.sandbox.prepared(sha256) {
            Some(p) => p,
            None => {
                let wasm = self
                    .catalogue
                    .store()
                    .wasm(sha256)
                    .map_err(|e| engine_failure(&e))?
                    .ok_or_else(|| {
                        Failure::Engine(format!("component {sha256} is missing from the store"))
                    })?;
                self.sandbox
                    .prepare(sha256, &wasm)
                    .map_err(|e| engine_failure(&e))?
            }
        };
        let limits = self.defaults.with_overrides(&instance.limits);
        let config = instance.config.to_string();
        self.sandbox
            .collect(&prepared, &config, &instance.grants, &limits)
            .await
    }

    /// Every registered measure version.
    pub fn measures(&self) -> Result<Vec<MeasureRecord>, EngineError> {
        Ok(self.catalogue.store().list_measures()?)
    }

    pub fn instances(&self) -> Result<Vec<Instance>, EngineError> {
        Ok(self.catalogue.store().list_instances()?)
    }

    pub fn query(&self, query: &Query) -> Result<Vec<Measurement>, EngineError> {
        Ok(self.measurements.query(query)?)
    }
}

/// Most instants one backfill computes.
const MAX_BACKFILL_INSTANTS: i64 = 10_000_000;

/// The engine as the scheduler's runner: each run stores its measurement
/// (an error measurement on failure) before it reports.
pub struct EngineRunner(pub Arc<Engine>);

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
                Ok(all) => match all.into_iter().find_map(|m| m.error) {
                    None => RunOutcome::Ok,
                    Some(e) => RunOutcome::Failed(e),
                },
                Err(e) => RunOutcome::Failed(e.to_string()),
            }
        })
    }
}
