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

pub struct Engine {
    catalogue: Catalogue<Arc<SqliteStore>>,
    measurements: Arc<dyn MeasurementStore>,
    sandbox: Sandbox,
    defaults: Limits,
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
            catalogue: Catalogue::new(store),
            sandbox,
            defaults: Limits::default(),
        }
    }

    pub fn catalogue(&self) -> &Catalogue<Arc<SqliteStore>> {
        &self.catalogue
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Register the component in `path` (a `.wasm` file).
    pub async fn register_file(&self, path: &Path) -> Result<Registration, EngineError> {
        let wasm = std::fs::read(path).map_err(|source| EngineError::Io {
            path: path.display().to_string(),
            source,
        })?;
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
    pub async fn run(&self, name: &str) -> Result<Measurement, EngineError> {
        let instance = self.catalogue.instance(name)?;
        let started = Instant::now();
        let outcome = self.collect(&instance).await;
        let mut m = Measurement {
            seq: None,
            instance: instance.name.clone(),
            measure: instance.measure_ref(),
            measure_id: instance.measure_id.clone(),
            measure_version: instance.measure_version.to_string(),
            timestamp: Utc::now(),
            observed_at: None,
            value: None,
            text: None,
            details: None,
            labels: instance.labels.clone(),
            error: None,
            error_kind: None,
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
        };
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

    async fn collect(&self, instance: &Instance) -> Result<sandbox::Collected, Failure> {
        let engine_failure = |e: &dyn std::fmt::Display| Failure::Engine(e.to_string());
        let record: MeasureRecord = self
            .catalogue
            .resolve(&smm_catalogue::MeasureRef {
                id: instance.measure_id.clone(),
                version: Some(instance.measure_version.clone()),
            })
            .map_err(|e| engine_failure(&e))?;
        let Implementation::Wasm { sha256 } = &record.implementation;
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
