//! The engine façade: catalogue + sandbox + stores, wired for one `$SMM_HOME`.
//!
//! One file per job: `register.rs` (measures and instances into the
//! catalogue), `run.rs` (the one path from an instance to stored
//! measurements), `propagate.rs` (event-driven recomputation of derived
//! measures), `backfill.rs` (derived measures over history).
//!
//! Data flows one way: plugin → sandbox → [`Engine::run_all`] → measurement
//! store. The engine reaches measurements only through
//! [`MeasurementStore`]; the embedded store keeps the catalogue and the
//! scheduler's state whatever the measurement backend.

mod backfill;
mod evaluate;
mod findings;
mod propagate;
mod register;
mod run;
mod sandbox_setup;

pub use run::{EngineRunner, Recorded};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use smm_catalogue::{Catalogue, CatalogueError, Instance, MeasureRecord, StoreError};

use crate::config::{Config, StoreKind};
use crate::measurement::{Measurement, Query};
use crate::sandbox::{Allocation, InspectError, Limits, Sandbox, SandboxConfig};
use crate::scheduler::{InstanceState, Scheduler, SchedulerConfig, Summary};
use crate::store::{ElasticsearchStore, MeasurementStore, SqliteStore, Usage};
use sandbox_setup::SandboxSetup;

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
    Store(#[from] StoreError),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("standard catalogue: {0}")]
    Standard(String),
    #[error("{0}")]
    Busy(String),
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
    /// The optional configuration file (`smm.toml`).
    pub fn config_file(&self) -> PathBuf {
        self.root.join("smm.toml")
    }
    /// The Elasticsearch backend's durable spool and dead letters.
    pub fn es_spool(&self) -> PathBuf {
        self.root.join("es-spool.db")
    }
}

/// Derived instances in dependency order, as of a catalogue change marker.
type Dependents = Arc<Vec<(Instance, smm_catalogue::DerivedDefinition)>>;

pub struct Engine {
    catalogue: Catalogue<SqliteStore>,
    /// The embedded store: catalogue and scheduler state.
    embedded: SqliteStore,
    measurements: Arc<dyn MeasurementStore>,
    sandbox: SandboxSetup,
    defaults: Limits,
    /// Derived instances in dependency order, cached against the catalogue
    /// change marker, so that a run does not re-read every instance.
    dependents: Mutex<Option<(i64, Dependents)>>,
    /// Measure versions by `(id, version)`: immutable once registered.
    records: Mutex<HashMap<(String, semver::Version), Arc<MeasureRecord>>>,
    /// Recent timestamps (ms) of each instance's live measurements: two
    /// live measurements of one instance never share a millisecond, so
    /// they never share an id (see `run.rs`).
    stamps: Mutex<HashMap<String, std::collections::BTreeSet<i64>>>,
    /// Instances by name as of a change marker, and the marker with when it
    /// was read: the run path re-reads the catalogue only when it changed,
    /// and looks at the marker at most every [`MARKER_TTL`].
    instances: Mutex<HashMap<String, (i64, Arc<Instance>)>>,
    marker: Mutex<Option<(i64, std::time::Instant)>>,
    /// The home (canonical), which no grant may expose.
    home: Option<PathBuf>,
}

/// How long the run path trusts the catalogue change marker it last read:
/// a change made by another process reaches runs within this (the
/// scheduler reloads on the same cadence).
const MARKER_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl Engine {
    /// Open (creating if needed) the installation at `home`, with its
    /// measurements in the embedded store.
    pub fn open(home: &Home) -> Result<Engine, EngineError> {
        Self::open_side_by_side(home, Usage::Serving, |embedded| {
            Ok(Arc::new(embedded.clone()))
        })
    }

    /// Open the installation at `home` with the measurement backend
    /// `config` selects (the embedded store by default), for `usage`: a
    /// process that serves gets pooled plugin instances and checkpoints
    /// the embedded store when it closes; one that runs one command gets
    /// instances allocated on demand and leaves the checkpoint to later
    /// (see [`Usage`]): starting and ending it then costs less.
    pub fn open_configured(
        home: &Home,
        config: &Config,
        usage: Usage,
    ) -> Result<Engine, EngineError> {
        Self::open_side_by_side(home, usage, |embedded| {
            Ok(match (&config.store, &config.elasticsearch) {
                (StoreKind::Elasticsearch, Some(es)) => {
                    Arc::new(ElasticsearchStore::open(es, &home.es_spool())?)
                }
                _ => Arc::new(embedded.clone()),
            })
        })
    }

    /// Open the stores (the embedded one, then the measurement backend
    /// `measurements` makes of it) while the sandbox is set up on another
    /// thread (see `sandbox_setup.rs`).
    fn open_side_by_side(
        home: &Home,
        usage: Usage,
        measurements: impl FnOnce(&SqliteStore) -> Result<Arc<dyn MeasurementStore>, EngineError>,
    ) -> Result<Engine, EngineError> {
        // The home first: private before the setup creates the compile
        // cache in it.
        Self::private_home(home)?;
        let config = Self::sandbox_config(home, usage, None);
        let setup = SandboxSetup::in_background(move || Sandbox::new(config))?;
        let embedded = Self::open_database(home, usage)?;
        let sandbox = setup.record_digests_in(Arc::new(embedded.clone()));
        let measurements = measurements(&embedded)?;
        Ok(Self::assemble(home, embedded, measurements, sandbox))
    }

    /// The sandbox settings for `usage`, its compile cache in the home.
    fn sandbox_config(
        home: &Home,
        usage: Usage,
        ledger: Option<Arc<dyn crate::sandbox::ArtifactLedger>>,
    ) -> SandboxConfig {
        let allocation = match usage {
            Usage::Serving => Allocation::default(),
            Usage::OneShot => Allocation::OnDemand,
        };
        SandboxConfig {
            cache_dir: Some(home.compile_cache()),
            ledger,
            allocation,
            ..SandboxConfig::default()
        }
    }

    fn assemble(
        home: &Home,
        embedded: SqliteStore,
        measurements: Arc<dyn MeasurementStore>,
        sandbox: SandboxSetup,
    ) -> Engine {
        let mut engine = Engine::parts(embedded, measurements, sandbox);
        engine.home = Some(
            home.root
                .canonicalize()
                .unwrap_or_else(|_| home.root.clone()),
        );
        engine
    }

    /// The embedded store of `home` (created if needed). The home is
    /// private to the user running smm (0700) and so is the database
    /// (0600): whoever can write them can change what the engine runs.
    pub fn open_embedded(home: &Home, usage: Usage) -> Result<SqliteStore, EngineError> {
        Self::private_home(home)?;
        Self::open_database(home, usage)
    }

    /// The home directory, created if needed, private to the user (0700).
    fn private_home(home: &Home) -> Result<(), EngineError> {
        std::fs::create_dir_all(&home.root).map_err(|source| EngineError::Io {
            path: home.root.display().to_string(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home.root, std::fs::Permissions::from_mode(0o700)).map_err(
                |source| EngineError::Io {
                    path: home.root.display().to_string(),
                    source,
                },
            )?;
        }
        Ok(())
    }

    /// The database in the (private) home, created private if needed.
    fn open_database(home: &Home, usage: Usage) -> Result<SqliteStore, EngineError> {
        let io = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| EngineError::Io { path, source }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let db = home.database();
            // Created private before SQLite opens it (its WAL and shared
            // memory files take the database's mode).
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&db)
                .map_err(io(&db))?;
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600))
                .map_err(io(&db))?;
        }
        Ok(SqliteStore::open_for(&home.database(), usage)?)
    }

    /// The installation at `home` with its measurements in `measurements`.
    pub fn open_with(
        home: &Home,
        embedded: SqliteStore,
        measurements: Arc<dyn MeasurementStore>,
        usage: Usage,
    ) -> Result<Engine, EngineError> {
        let config = Self::sandbox_config(home, usage, Some(Arc::new(embedded.clone())));
        let sandbox = Sandbox::new(config).map_err(EngineError::Sandbox)?;
        Ok(Self::assemble(
            home,
            embedded,
            measurements,
            SandboxSetup::ready(sandbox),
        ))
    }

    /// An engine over explicit stores and sandbox (tests, benchmarks).
    pub fn with_parts(
        embedded: SqliteStore,
        measurements: Arc<dyn MeasurementStore>,
        sandbox: Sandbox,
    ) -> Engine {
        Self::parts(embedded, measurements, SandboxSetup::ready(sandbox))
    }

    fn parts(
        embedded: SqliteStore,
        measurements: Arc<dyn MeasurementStore>,
        sandbox: SandboxSetup,
    ) -> Engine {
        Engine {
            catalogue: Catalogue::new(embedded.clone()),
            embedded,
            measurements,
            sandbox,
            defaults: Limits::default(),
            dependents: Mutex::new(None),
            records: Mutex::new(HashMap::new()),
            stamps: Mutex::new(HashMap::new()),
            instances: Mutex::new(HashMap::new()),
            marker: Mutex::new(None),
            home: None,
        }
    }

    /// For a process about to exit: close the stores (what closing the
    /// embedded one does depends on its [`Usage`]) and leave the sandbox's
    /// code and memory mappings to the operating system
    /// ([`Sandbox::exit`]): tearing the sandbox down was a tenth of a
    /// one-shot `smm run`'s CPU.
    pub fn exit(self) {
        let Engine { sandbox, .. } = self;
        sandbox.exit();
    }

    pub fn catalogue(&self) -> &Catalogue<SqliteStore> {
        &self.catalogue
    }

    /// Compile components in a child process bounded in memory and time
    /// (the `smm` command does; see `sandbox::Isolation`).
    pub fn isolate_compilation(&mut self, isolation: crate::sandbox::Isolation) {
        self.sandbox.isolate(isolation);
    }

    /// The sandbox (waiting for its setup the first time: see
    /// `sandbox_setup.rs`).
    pub fn sandbox(&self) -> Result<&Sandbox, EngineError> {
        self.sandbox.get()
    }

    /// The measurement store (tests and benchmarks append inputs directly).
    pub fn measurements(&self) -> &Arc<dyn MeasurementStore> {
        &self.measurements
    }

    /// Every registered measure version.
    pub fn measures(&self) -> Result<Vec<MeasureRecord>, EngineError> {
        Ok(smm_catalogue::CatalogueStore::list_measures(
            &self.embedded,
        )?)
    }

    pub fn instances(&self) -> Result<Vec<Instance>, EngineError> {
        Ok(smm_catalogue::CatalogueStore::list_instances(
            &self.embedded,
        )?)
    }

    /// The scheduler's persisted state of every instance that has one.
    pub fn instance_states(&self) -> Result<Vec<InstanceState>, EngineError> {
        Ok(self.embedded.states_now()?)
    }

    pub async fn query(&self, query: &Query) -> Result<Vec<Measurement>, EngineError> {
        Ok(self.measurements.query(query).await?)
    }

    /// Run every scheduled instance on its schedule until `shutdown`
    /// completes (`smm serve`).
    pub async fn serve(
        self: &Arc<Self>,
        config: SchedulerConfig,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<Summary, EngineError> {
        // One scheduler per home: two would run each scheduled instance
        // twice per fire time. The lock dies with the process (kill -9
        // included), so a crash never leaves the home locked.
        let _serving = match &self.home {
            Some(home) => Some(lock_serving(home)?),
            None => None,
        };
        // A backend that cannot work as configured stops serve now; one
        // that is only unreachable is waited for (measurements are spooled).
        match self.measurements.health().await {
            Ok(backend) => tracing::info!("measurements go to {backend}"),
            Err(e) if e.is_retryable() => {
                tracing::warn!(
                    "measurement store unreachable for now (measurements are kept until it returns): {e}"
                )
            }
            Err(e) => return Err(e.into()),
        }
        let scheduler = Scheduler::new(
            Arc::new(self.embedded.clone()),
            Arc::new(EngineRunner(self.clone())),
            config,
            crate::scheduler::Clock::System,
        );
        Ok(scheduler.serve(shutdown).await?)
    }
}

/// Hold `serve.lock` in `home` for as long as the returned file lives.
fn lock_serving(home: &std::path::Path) -> Result<std::fs::File, EngineError> {
    use std::io::{Read, Seek, Write};
    let path = home.join("serve.lock");
    let io = |source| EngineError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(EngineError::Busy(format!(
                "another smm serve (pid {}) is already serving {}: stop it first (two would run every scheduled instance twice)",
                pid.trim(),
                home.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}
