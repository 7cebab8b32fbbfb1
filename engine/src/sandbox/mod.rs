//! The sandbox: runs untrusted measure components under wasmtime.
//!
//! Invariants:
//! - Every call into a plugin (`metadata` at registration, `collect` per
//!   measurement) happens in a fresh `Store` with its own WASI context: no
//!   state leaks between runs, and a trapped instance is never re-entered.
//! - Every call runs under [`Limits`]: a deadline (an epoch trap for guest
//!   code, a tokio timeout around the whole call for host waits such as a
//!   sleep or a blocking open), a memory cap over all the instance's
//!   memories enforced by [`limits::Limiter`], and an output cap checked on
//!   return. Whatever the plugin does, the caller gets a [`Failure`] or a
//!   [`Collected`] within the deadline.
//! - A plugin reaches only what [`host::Host`] grants: read-only directories,
//!   and HTTP(S) to the instance's granted hosts through [`outbound`]
//!   (linked for every component; with no grant every request is refused).
//! - Components are compiled once per content hash (on-disk cache) and
//!   linked once per process (`InstancePre`); a collection only instantiates.

mod bindings;
mod cache;
mod compiler;
mod failure;
mod host;
mod limits;
mod outbound;
mod special_files;
mod stderr;
mod ticker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use smm_catalogue::{MeasureKind, RawMetadata, Scale};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolConcurrencyLimitError,
    PoolingAllocationConfig, Store, Trap, UpdateDeadline,
};

pub use cache::ArtifactLedger;
pub use compiler::{CHILD_COMMAND, Isolation, child_main};
pub use failure::Failure;
pub use limits::Limits;
pub use outbound::Network;

use bindings::{MeasurePre, PluginError};
use host::Host;

/// Engine-wide sandbox settings.
#[derive(Clone, Default)]
pub struct SandboxConfig {
    /// Where compiled components are cached; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Where the digests of cache entries are recorded; with one, an entry
    /// is used only if its digest is the recorded one.
    pub ledger: Option<Arc<dyn ArtifactLedger>>,
    /// Where instances get their memories, tables and stacks.
    pub allocation: Allocation,
    /// Compile in a child process bounded in memory (`None`: on the
    /// blocking pool of this process, bounded in time only).
    pub isolation: Option<Isolation>,
}

/// Where plugin instances get their memories, tables and stacks. Either way
/// a collection gets a fresh instance and the same [`Limits`]: the store's
/// limiter enforces them, whatever the allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Slots reserved when the sandbox is created and reused, run after run
    /// (`smm serve`, benchmarks): instantiation about half the cost of
    /// mapping fresh memory each time, but the pool costs about 1 ms to set
    /// up and tear down.
    Pooled {
        /// How many instances may be alive at once.
        slots: u32,
    },
    /// Mapped per instance, nothing set up in advance: for a process that
    /// runs a handful of collections and exits (`smm run`).
    OnDemand,
}

impl Default for Allocation {
    fn default() -> Self {
        Allocation::Pooled { slots: 64 }
    }
}

/// Pooled slots whose memory is decommitted together (one `madvise` batch,
/// one TLB shootdown, instead of one per run): measured on the serve bench,
/// 1 (wasmtime's default) → 16 took CPU per run from 420–440 µs to
/// 330–350 µs (128 did no better). The cost: up to 16 slots per core keep the pages their
/// last run touched until the batch is flushed.
const DECOMMIT_BATCH: usize = 16;

/// Largest component accepted (compilation time and memory grow with it).
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// How long `metadata()` may take.
const METADATA_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Largest metadata accepted, all fields together (the schema is the
/// largest part: at most 64 KiB of it is accepted).
const MAX_METADATA_BYTES: usize = 128 << 10;

/// Largest message kept from a plugin's own error.
const MAX_MESSAGE_BYTES: usize = 4 << 10;

/// Why a `.wasm` cannot enter the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("not a WebAssembly binary (no \\0asm header)")]
    NotWasm,
    #[error("the component is {0} bytes, more than the {MAX_COMPONENT_BYTES} bytes accepted")]
    TooLarge(usize),
    #[error(
        "a core WebAssembly module, not a component: build the measure with `--target wasm32-wasip2` (see sdk/README.md)"
    )]
    CoreModule,
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error("the component does not implement the smm:measure/measure world: {0}")]
    WrongWorld(String),
    #[error(
        "the component imports {kind} `{name}`, which smm does not give measures (they get read-only access to granted directories, outgoing HTTP to granted hosts, clocks, random numbers and stderr)"
    )]
    UnlinkedImport { kind: String, name: String },
    #[error("the component's metadata() failed: {0}")]
    Metadata(Failure),
    /// The engine could not compile (not the component's fault).
    #[error("the engine could not compile the component: {0}")]
    Compiler(String),
}

/// What one collection may reach.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access<'a> {
    /// Directories, read-only, at their own absolute paths.
    pub dirs: &'a [PathBuf],
    /// Hosts and secrets for outgoing HTTP (`None`: no host).
    pub network: Option<&'a Arc<Network>>,
}

impl<'a> Access<'a> {
    /// Directories only.
    pub fn dirs(dirs: &'a [PathBuf]) -> Access<'a> {
        Access {
            dirs,
            network: None,
        }
    }
}

/// A successful collection, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    pub value: Option<f64>,
    pub text: Option<String>,
    /// The details, without `findings`.
    pub details: Option<Value>,
    pub observed_at: Option<DateTime<Utc>>,
    /// What `details.findings` listed, checked (see [`crate::lifecycle`]).
    pub findings: Option<Vec<crate::lifecycle::Observed>>,
}

/// A component compiled and linked, ready to instantiate.
#[derive(Clone)]
pub struct Prepared {
    pre: MeasurePre<Host>,
}

/// The wasmtime engine, linker and caches shared by all collections.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<Host>,
    cache: Option<cache::CompileCache>,
    prepared: Mutex<HashMap<String, Prepared>>,
    /// One compilation per component at a time: concurrent cache misses
    /// wait for the same one.
    compiling: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Compiled artifacts of components being registered, written to the
    /// disk cache only once the registration succeeded ([`Sandbox::keep`]).
    pending: Mutex<HashMap<String, Vec<u8>>>,
    /// Components compiled or loaded from the disk cache by this process.
    compilations: std::sync::atomic::AtomicU64,
    isolation: Option<Isolation>,
}

/// How long compiling one component may take (a component that is slow to
/// compile is refused, and never holds up scheduled runs: compilation runs
/// on the blocking pool).
const COMPILE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

const WASM_MAGIC: &[u8; 4] = b"\0asm";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Result<Sandbox, String> {
        let engine = match config.allocation {
            // Without PAGEMAP_SCAN (Linux before 6.7), keeping pages
            // resident would memset them all after every run: not used.
            Allocation::Pooled { slots } => Engine::new(&engine_config(Some(pool(slots, true))))
                .or_else(|_| Engine::new(&engine_config(Some(pool(slots, false))))),
            Allocation::OnDemand => Engine::new(&engine_config(None)),
        }
        .map_err(|e| format!("wasmtime engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| format!("linking WASI: {e}"))?;
        special_files::link(&mut linker).map_err(|e| format!("linking WASI: {e:#}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| format!("linking wasi:http: {e:#}"))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(
                cache::CompileCache::new(dir, &engine, config.ledger.clone())
                    .map_err(|e| format!("compile cache {}: {e}", dir.display()))?,
            ),
            None => None,
        };
        ticker::start(&engine);
        Ok(Sandbox {
            engine,
            linker,
            cache,
            prepared: Mutex::new(HashMap::new()),
            compiling: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            compilations: std::sync::atomic::AtomicU64::new(0),
            isolation: config.isolation,
        })
    }

    /// For a process about to exit: release the compile cache (and the
    /// store it records digests in) and leave the wasmtime engine, its
    /// code and the prepared components to the operating system, which
    /// unmaps them at once at exit instead of one mapping at a time.
    pub fn exit(self) {
        let Sandbox {
            engine,
            linker,
            cache,
            prepared,
            ..
        } = self;
        drop(cache);
        std::mem::forget((engine, linker, prepared));
    }

    /// From now on, use only cache entries whose digest `ledger` records
    /// (see [`ArtifactLedger`]).
    pub fn record_digests_in(&mut self, ledger: Arc<dyn ArtifactLedger>) {
        if let Some(cache) = &mut self.cache {
            cache.ledger = Some(ledger);
        }
    }

    /// From now on, compile in a child process (see [`Isolation`]).
    pub fn isolate(&mut self, isolation: Isolation) {
        self.isolation = Some(isolation);
    }

    /// The component already prepared in this process under `sha256`, if any.
    pub fn prepared(&self, sha256: &str) -> Option<Prepared> {
        lock(&self.prepared).get(sha256).cloned()
    }

    /// Compile (or load from the disk cache) and link a registered
    /// component, checking it implements the `measure` world against what
    /// the host provides. Runs off the async workers, once per component
    /// however many callers miss at once, within [`COMPILE_DEADLINE`].
    pub async fn prepare(&self, sha256: &str, wasm: &[u8]) -> Result<Prepared, InspectError> {
        self.prepare_as(sha256, wasm, true).await
    }

    async fn prepare_as(
        &self,
        sha256: &str,
        wasm: &[u8],
        registered: bool,
    ) -> Result<Prepared, InspectError> {
        if let Some(p) = self.prepared(sha256) {
            return Ok(p);
        }
        check_header(wasm)?;
        let gate = lock(&self.compiling)
            .entry(sha256.to_string())
            .or_default()
            .clone();
        let _one = gate.lock().await;
        if let Some(p) = self.prepared(sha256) {
            return Ok(p); // compiled by the caller we waited for
        }
        self.compilations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (prepared, artifact) = self.compile(sha256, wasm, registered).await?;
        if let Some(artifact) = artifact {
            lock(&self.pending).insert(sha256.to_string(), artifact);
        }
        lock(&self.prepared).insert(sha256.to_string(), prepared.clone());
        lock(&self.compiling).remove(sha256);
        Ok(prepared)
    }

    /// A registered component ready to run from this process or from the
    /// disk cache alone, without its bytes (a fresh process need not read
    /// a component of tens of MB from the catalogue to run it); `None`
    /// when it must be compiled from them ([`Sandbox::prepare`]).
    pub async fn prepare_cached(&self, sha256: &str) -> Option<Prepared> {
        if let Some(p) = self.prepared(sha256) {
            return Some(p);
        }
        let cache = self.cache.clone()?;
        let gate = lock(&self.compiling)
            .entry(sha256.to_string())
            .or_default()
            .clone();
        let _one = gate.lock().await;
        if let Some(p) = self.prepared(sha256) {
            return Some(p);
        }
        let (engine, sha) = (self.engine.clone(), sha256.to_string());
        let component = crate::blocking::run(move || cache.load(&engine, &sha))
            .await
            .ok()??;
        let prepared = self.link(&component).ok()?;
        self.compilations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&self.prepared).insert(sha256.to_string(), prepared.clone());
        Some(prepared)
    }

    /// How many components this process compiled (or loaded from the disk
    /// cache): a component is prepared once however many runs need it.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The registration of `sha256` succeeded: keep its compiled artifact
    /// in the disk cache.
    pub fn keep(&self, sha256: &str) {
        let artifact = lock(&self.pending).remove(sha256);
        if let (Some(cache), Some(artifact)) = (&self.cache, artifact) {
            cache.store(sha256, &artifact);
        }
    }

    /// The registration of `sha256` failed: forget it entirely (nothing of
    /// a refused component stays in memory or on disk).
    pub fn forget(&self, sha256: &str) {
        lock(&self.pending).remove(sha256);
        lock(&self.prepared).remove(sha256);
    }

    /// Read a component's metadata (under the default limits, no grants).
    /// The component is kept in the disk cache only after [`Sandbox::keep`]
    /// (see [`Sandbox::forget`]).
    pub async fn inspect(&self, sha256: &str, wasm: &[u8]) -> Result<RawMetadata, InspectError> {
        let prepared = self.prepare_as(sha256, wasm, false).await?;
        // metadata() returns constants: a short deadline refuses one that
        // loops promptly.
        let limits = Limits {
            deadline: METADATA_DEADLINE,
            ..Limits::default()
        };
        let mut store = self
            .store(&Access::default(), &limits)
            .map_err(InspectError::Metadata)?;
        let call = async {
            let measure = prepared.pre.instantiate_async(&mut store).await?;
            measure.call_metadata(&mut store).await
        };
        let outcome = deadline(&limits, call).await;
        let m = outcome
            .map_err(|e| classify(e, &store, &limits))
            .map_err(InspectError::Metadata)?;
        let size = [
            &m.id,
            &m.version,
            &m.name,
            &m.description,
            &m.unit,
            &m.config_schema,
            &m.output,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>();
        if size > MAX_METADATA_BYTES {
            return Err(InspectError::Metadata(Failure::OutputTooLarge {
                size: size as u64,
                limit: MAX_METADATA_BYTES as u64,
            }));
        }
        Ok(RawMetadata {
            id: m.id,
            version: m.version,
            name: m.name,
            description: m.description,
            kind: match m.kind {
                bindings::MeasureKind::Direct => MeasureKind::Direct,
                bindings::MeasureKind::Counting => MeasureKind::Counting,
                bindings::MeasureKind::Grade => MeasureKind::Grade,
                bindings::MeasureKind::Ranking => MeasureKind::Ranking,
            },
            unit: m.unit,
            scale: match m.scale {
                bindings::Scale::Nominal => Scale::Nominal,
                bindings::Scale::Ordinal => Scale::Ordinal,
                bindings::Scale::Interval => Scale::Interval,
                bindings::Scale::Ratio => Scale::Ratio,
            },
            config_schema: m.config_schema,
            output: m.output,
        })
    }

    /// Take one measurement: instantiate in a fresh store, call `collect`
    /// with `config` (JSON), and validate what comes back.
    pub async fn collect(
        &self,
        prepared: &Prepared,
        config: &str,
        access: &Access<'_>,
        limits: &Limits,
    ) -> Result<Collected, Failure> {
        let mut store = self.store(access, limits)?;
        let call = async {
            let measure = prepared.pre.instantiate_async(&mut store).await?;
            measure.call_collect(&mut store, config).await
        };
        let outcome = deadline(limits, call).await;
        let result = outcome.map_err(|e| classify(e, &store, limits))?;
        let m = result.map_err(|e| match e {
            PluginError::Config(m) => Failure::Config(failure::truncate(m, MAX_MESSAGE_BYTES)),
            PluginError::Input(m) => Failure::Input(failure::truncate(m, MAX_MESSAGE_BYTES)),
            PluginError::Internal(m) => Failure::Plugin(failure::truncate(m, MAX_MESSAGE_BYTES)),
        })?;
        validate(m, limits)
    }

    /// A fresh store for one call, under `limits`, reaching only `access`.
    fn store(&self, access: &Access<'_>, limits: &Limits) -> Result<Store<Host>, Failure> {
        let ends = std::time::Instant::now() + limits.deadline;
        let network = access.network.cloned().unwrap_or_else(outbound::nowhere);
        let host = Host::new(access.dirs, network, limits, ends).map_err(Failure::Input)?;
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limiter);
        // Every tick, yield to the executor (a busy plugin never holds a
        // tokio worker for long) and trap once the deadline has passed.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if std::time::Instant::now() >= ends {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        Ok(store)
    }
}

impl Sandbox {
    /// Load from the disk cache, or compile (in the child process when
    /// isolated), then link; the artifact is returned when it was compiled
    /// here and is not yet in the disk cache (`registered`: store it there
    /// now).
    async fn compile(
        &self,
        sha256: &str,
        wasm: &[u8],
        registered: bool,
    ) -> Result<(Prepared, Option<Vec<u8>>), InspectError> {
        let invalid = |e: wasmtime::Error| InspectError::Invalid(format!("{e:#}"));
        let joined =
            |e: tokio::task::JoinError| InspectError::Invalid(format!("compilation failed: {e}"));
        let (engine, cache, sha) = (self.engine.clone(), self.cache.clone(), sha256.to_string());
        let cached = crate::blocking::run(move || cache.and_then(|c| c.load(&engine, &sha)))
            .await
            .map_err(joined)?;
        let (component, artifact) = match cached {
            Some(component) => (component, None),
            None => {
                let artifact = match &self.isolation {
                    Some(isolation) => {
                        compiler::in_child(isolation, wasm, COMPILE_DEADLINE).await?
                    }
                    None => {
                        let (engine, bytes) = (self.engine.clone(), wasm.to_vec());
                        let compile = tokio::task::spawn_blocking(move || {
                            engine.precompile_component(&bytes)
                        });
                        match tokio::time::timeout(COMPILE_DEADLINE, compile).await {
                            Ok(result) => result.map_err(joined)?.map_err(invalid)?,
                            Err(_) => {
                                return Err(InspectError::Invalid(format!(
                                    "compiling the component took longer than {COMPILE_DEADLINE:?}"
                                )));
                            }
                        }
                    }
                };
                // SAFETY: `artifact` was produced just above, by this engine
                // or by the child with the same compilation settings (which
                // wasmtime checks).
                let component =
                    unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(invalid)?;
                (component, Some(artifact))
            }
        };
        let prepared = self.link(&component)?;
        let artifact = match (artifact, &self.cache) {
            (Some(a), Some(c)) if registered => {
                c.store(sha256, &a);
                None
            }
            (artifact, _) => artifact,
        };
        Ok((prepared, artifact))
    }

    /// Link a compiled component against what the host provides, checking
    /// it implements the `measure` world.
    fn link(&self, component: &Component) -> Result<Prepared, InspectError> {
        let instance_pre = self.linker.instantiate_pre(component).map_err(|e| {
            unlinked_import(&e).unwrap_or_else(|| InspectError::WrongWorld(format!("{e:#}")))
        })?;
        let pre = MeasurePre::new(instance_pre)
            .map_err(|e| InspectError::WrongWorld(format!("{e:#}")))?;
        Ok(Prepared { pre })
    }
}

/// The wasmtime settings of the engine, and of the compiler child (which
/// instantiates nothing, so it needs no pool). Everything that changes the
/// compiled code is set here, once, for both.
/// Per memory and per table of a pooled slot: how much of what a run
/// dirtied is reset in place rather than decommitted (see [`pool`]).
const KEEP_RESIDENT_MEMORY: usize = 4 << 20;
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

/// The pooling allocator's settings for `slots` instances alive at once;
/// with `dirty_pages`, slots are reset page by page where a run wrote
/// (Linux 6.7 and later: elsewhere the engine cannot be created with it).
fn pool(slots: u32, dirty_pages: bool) -> PoolingAllocationConfig {
    let slots = slots.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * limits::MAX_CORE_INSTANCES as u32)
        .total_memories(slots * limits::MAX_MEMORIES as u32)
        .total_tables(slots * limits::MAX_TABLES as u32)
        .total_stacks(slots)
        .max_core_instances_per_component(limits::MAX_CORE_INSTANCES as u32)
        .max_memories_per_component(limits::MAX_MEMORIES as u32)
        .max_tables_per_component(limits::MAX_TABLES as u32)
        // The pool's own per-table limit is the one the limiter declares
        // (its default of 20 000 would silently override it).
        .table_elements(limits::MAX_TABLE_ELEMENTS)
        .max_memory_size(Limits::MAX.memory_bytes as usize)
        // Decommit in batches, not one madvise (and TLB shootdown on
        // every core) per run. Keeping pages resident instead (memset)
        // cost as much user time as it saved system time: not used.
        .decommit_batch_size(DECOMMIT_BATCH);
    if dirty_pages {
        // Only the pages a run wrote are put back (memset from the
        // image), found with Linux's PAGEMAP_SCAN, up to these sizes; what
        // a run dirtied beyond them is decommitted as before. Measured on
        // the saturated serve bench: 158-170 -> 98-103 µs of CPU per run,
        // system time 70 -> 30 µs: a decommitted page costs a fault on the
        // next run, and a copy-on-write fault a TLB shootdown on every
        // core. The price: up to this much stays resident per slot used.
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
            .table_keep_resident(KEEP_RESIDENT_TABLE);
    }
    pool
}

fn engine_config(pool: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true).max_wasm_stack(512 << 10);
    if let Some(pool) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Why a call ended without a result, before classification.
enum Ended {
    Error(wasmtime::Error),
    Deadline,
}

/// Run `call` under the deadline. The epoch trap stops guest code; this
/// timeout stops a plugin waiting in a host call (a sleep, a blocking
/// open), which the epoch cannot interrupt. Dropping the future drops the
/// call; the store is never reused.
async fn deadline<R>(
    limits: &Limits,
    call: impl std::future::Future<Output = wasmtime::Result<R>>,
) -> Result<R, Ended> {
    match tokio::time::timeout(limits.deadline + ticker::TICK, call).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(Ended::Error(e)),
        Err(_) => Err(Ended::Deadline),
    }
}

/// An import the linker does not provide, from wasmtime's linking error
/// ("component imports instance `wasi:http/...`, but a matching
/// implementation was not found in the linker").
fn unlinked_import(e: &wasmtime::Error) -> Option<InspectError> {
    let text = e.to_string();
    let rest = text.strip_prefix("component imports ")?;
    let (kind, rest) = rest.split_once(" `")?;
    let (name, _) = rest.split_once('`')?;
    Some(InspectError::UnlinkedImport {
        kind: kind.to_string(),
        name: failure::truncate(name.to_string(), 256),
    })
}

fn check_header(wasm: &[u8]) -> Result<(), InspectError> {
    if wasm.len() < 8 || &wasm[..4] != WASM_MAGIC {
        return Err(InspectError::NotWasm);
    }
    if wasm.len() > MAX_COMPONENT_BYTES {
        return Err(InspectError::TooLarge(wasm.len()));
    }
    // Bytes 4..8: version (u16) and layer (u16); layer 0 is a core module.
    if wasm[6..8] == [0, 0] {
        return Err(InspectError::CoreModule);
    }
    Ok(())
}

fn classify(ended: Ended, store: &Store<Host>, limits: &Limits) -> Failure {
    let error = match ended {
        Ended::Deadline => {
            return Failure::Timeout {
                deadline: limits.deadline,
            };
        }
        Ended::Error(e) => e,
    };
    let host = store.data();
    if host.limiter.memory_exceeded {
        return Failure::MemoryExceeded {
            limit: limits.memory_bytes,
        };
    }
    if error.is::<PoolConcurrencyLimitError>() {
        return Failure::Engine(format!("no free sandbox slot: {error}"));
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Failure::Plugin(format!(
            "the plugin exited (status {}) instead of returning a result",
            exit.0
        ));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Failure::Timeout {
            deadline: limits.deadline,
        },
        Some(Trap::StackOverflow) => Failure::StackOverflow,
        Some(trap) => Failure::Trap {
            message: trap.to_string(),
            stderr: host.stderr_tail(),
        },
        None => Failure::Trap {
            message: failure::truncate(format!("{error:#}"), MAX_MESSAGE_BYTES),
            stderr: host.stderr_tail(),
        },
    }
}

/// Most bytes of details a plugin may return when they list findings at
/// their top level: the list has its own limit (`lifecycle::MAX_FINDINGS`
/// findings of at most `lifecycle::MAX_FINGERPRINT` bytes), the rest of
/// the details the output limit.
const MAX_DETAILS_WITH_FINDINGS: u64 = 32 << 20;

/// A JSON object's top-level fields as raw JSON, in order (duplicates
/// kept: the last one wins, as for a `Map`).
struct RawObject<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) =
                    map.next_entry::<String, &'de serde_json::value::RawValue>()?
                {
                    fields.push(entry);
                }
                Ok(RawObject(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// Check a plugin's measurement against the contract of the WIT world.
///
/// Details are first read as raw JSON per top-level key (no tree is built
/// for them yet): a top-level `findings` list is taken out and read typed,
/// bounded in count; what remains is what gets stored, and it must fit the
/// output limit before it is parsed.
fn validate(m: bindings::Measurement, limits: &Limits) -> Result<Collected, Failure> {
    let text_size = m.text.as_ref().map_or(0, String::len) as u64;
    let raw_size = text_size + m.details.as_ref().map_or(0, String::len) as u64;
    let too_large = |size: u64| Failure::OutputTooLarge {
        size,
        limit: limits.output_bytes,
    };
    if raw_size > limits.output_bytes.max(MAX_DETAILS_WITH_FINDINGS) {
        return Err(too_large(raw_size));
    }
    if m.value.is_none() && m.text.is_none() {
        return Err(Failure::InvalidOutput(
            "the measurement has neither a value nor a text".into(),
        ));
    }
    if let Some(v) = m.value
        && !v.is_finite()
    {
        return Err(Failure::InvalidOutput(format!(
            "the value {v} is not a finite number"
        )));
    }
    let (details, findings) = match &m.details {
        None => {
            if raw_size > limits.output_bytes {
                return Err(too_large(raw_size));
            }
            (None, None)
        }
        Some(d) => {
            let mut fields: Vec<(String, &serde_json::value::RawValue)> =
                match serde_json::from_str::<RawObject<'_>>(d) {
                    Ok(RawObject(fields)) => fields,
                    Err(_) => {
                        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(d) {
                            Ok(_) => Failure::InvalidOutput("details must be a JSON object".into()),
                            Err(e) => Failure::InvalidOutput(format!("details are not JSON: {e}")),
                        });
                    }
                };
            let findings = match fields.iter().rposition(|(k, _)| k == "findings") {
                Some(i) => {
                    let (_, raw) = fields.remove(i);
                    fields.retain(|(k, _)| k != "findings");
                    crate::lifecycle::read_listed(raw.get())
                        .map_err(Failure::InvalidOutput)?
                        .map(crate::lifecycle::check)
                        .transpose()
                        .map_err(Failure::InvalidOutput)?
                }
                None => None,
            };
            // What is stored must fit the output limit (a findings list
            // only buys room for itself).
            let stored: u64 = text_size
                + 2
                + fields
                    .iter()
                    .map(|(k, v)| (k.len() + v.get().len() + 4) as u64)
                    .sum::<u64>();
            if stored > limits.output_bytes {
                return Err(too_large(stored));
            }
            let mut rest = serde_json::Map::new();
            for (k, v) in fields {
                let v: Value = serde_json::from_str(v.get())
                    .map_err(|e| Failure::InvalidOutput(format!("details are not JSON: {e}")))?;
                rest.insert(k, v);
            }
            (Some(Value::Object(rest)), findings)
        }
    };
    let observed_at = match m.observed_at {
        None => None,
        Some(ms) => {
            // A plausible time: within a century of now (not the year 262142).
            const CENTURY_MS: i64 = 100 * 366 * 86_400_000;
            let now = Utc::now().timestamp_millis();
            if ms.abs_diff(now) > CENTURY_MS as u64 {
                return Err(Failure::InvalidOutput(format!(
                    "observed-at {ms} ms since the Unix epoch is more than 100 years from now"
                )));
            }
            DateTime::<Utc>::from_timestamp_millis(ms)
        }
    };
    Ok(Collected {
        value: m.value,
        text: m.text,
        details,
        observed_at,
        findings,
    })
}

/// sha256 of a component, lowercase hex: its identity in the catalogue.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert!(matches!(
            check_header(b"garbage!"),
            Err(InspectError::NotWasm)
        ));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(InspectError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }

    fn plugin(
        value: Option<f64>,
        text: Option<&str>,
        details: Option<&str>,
    ) -> bindings::Measurement {
        bindings::Measurement {
            value,
            text: text.map(str::to_string),
            details: details.map(str::to_string),
            observed_at: None,
        }
    }

    /// A component whose one core module has a table of `elements`.
    fn with_table(elements: u32) -> Vec<u8> {
        wat::parse_str(format!(
            "(component (core module $m (table {elements} funcref)) (core instance (instantiate $m)))"
        ))
        .unwrap()
    }

    async fn instantiate(sandbox: &Sandbox, wasm: &[u8]) -> wasmtime::Result<()> {
        let component = Component::new(&sandbox.engine, wasm)?;
        let pre = sandbox.linker.instantiate_pre(&component)?;
        let mut store = sandbox
            .store(&Access::default(), &Limits::default())
            .unwrap();
        pre.instantiate_async(&mut store).await.map(|_| ())
    }

    #[tokio::test]
    async fn the_declared_table_limit_is_the_one_that_applies() {
        let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
        // Above the pooling allocator's default (20 000), within ours.
        instantiate(&sandbox, &with_table(50_000)).await.unwrap();
        let refused = instantiate(&sandbox, &with_table(limits::MAX_TABLE_ELEMENTS as u32 + 1))
            .await
            .unwrap_err();
        assert!(format!("{refused:#}").contains("table"), "{refused:#}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_compile_a_component_once() {
        let sandbox = std::sync::Arc::new(Sandbox::new(SandboxConfig::default()).unwrap());
        let wasm = std::fs::read(smm_tests::component("probe-plugin")).unwrap();
        let sha = sha256_hex(&wasm);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (sandbox, wasm, sha) = (sandbox.clone(), wasm.clone(), sha.clone());
            tasks.spawn(async move { sandbox.prepare(&sha, &wasm).await.is_ok() });
        }
        while let Some(ok) = tasks.join_next().await {
            assert!(ok.unwrap());
        }
        assert_eq!(sandbox.compilations(), 1, "eight misses, one compilation");
    }

    #[test]
    fn contract_violations_are_invalid_output() {
        let l = Limits::default();
        let bad = [
            plugin(None, None, None),
            plugin(Some(f64::INFINITY), None, None),
            plugin(Some(1.0), None, Some("[1]")),
            plugin(Some(1.0), None, Some("{oops")),
        ];
        for m in bad {
            assert!(matches!(validate(m, &l), Err(Failure::InvalidOutput(_))));
        }
        let small = Limits {
            output_bytes: 4,
            ..l
        };
        assert!(matches!(
            validate(plugin(None, Some("ABCDE"), None), &small),
            Err(Failure::OutputTooLarge { size: 5, limit: 4 })
        ));
        let ok = validate(plugin(Some(2.0), None, Some(r#"{"a":1}"#)), &l).unwrap();
        assert_eq!(ok.details.unwrap()["a"], 1);
        // observed-at: a plausible time only.
        let at = |ms: i64| {
            let mut m = plugin(Some(1.0), None, None);
            m.observed_at = Some(ms);
            validate(m, &l)
        };
        let now = Utc::now().timestamp_millis();
        assert!(at(now - 86_400_000).is_ok());
        for wild in [
            8_210_266_876_799_999,
            -8_210_266_876_799_999,
            now + 200 * 365 * 86_400_000,
        ] {
            assert!(
                matches!(at(wild), Err(Failure::InvalidOutput(ref m)) if m.contains("100 years")),
                "{wild}"
            );
        }
    }

    #[test]
    fn findings_leave_the_details_with_a_limit_of_their_own() {
        let small = Limits {
            output_bytes: 64,
            ..Limits::default()
        };
        let many: Vec<String> = (0..100)
            .map(|i| format!(r#"{{"fingerprint":"CVE-{i}|pkg|1.0","severity":"high"}}"#))
            .collect();
        let details = format!(
            r#"{{"vulnerabilities":100,"findings":[{}]}}"#,
            many.join(",")
        );
        assert!(details.len() > 64);
        let ok = validate(plugin(Some(100.0), None, Some(&details)), &small).unwrap();
        assert_eq!(ok.findings.as_ref().unwrap().len(), 100);
        assert_eq!(
            ok.details.unwrap(),
            serde_json::json!({"vulnerabilities": 100})
        );
        // What is stored still has the output limit.
        let padded = format!(
            r#"{{"pad":"{}","findings":[{}]}}"#,
            "x".repeat(100),
            many[0]
        );
        assert!(matches!(
            validate(plugin(Some(1.0), None, Some(&padded)), &small),
            Err(Failure::OutputTooLarge { limit: 64, .. })
        ));
        // Mentioning findings buys no room: only a top-level list does.
        let blob = "x".repeat(100);
        for sneaky in [
            format!(r#"{{"findings":null,"blob":"{blob}"}}"#),
            format!(r#"{{"note":"findings","blob":"{blob}"}}"#),
            format!(r#"{{"findings":[],"blob":"{blob}"}}"#),
        ] {
            assert!(
                matches!(
                    validate(plugin(Some(1.0), None, Some(&sneaky)), &small),
                    Err(Failure::OutputTooLarge { limit: 64, .. })
                ),
                "{sneaky}"
            );
        }
        // A bad list is the plugin's invalid output, named.
        let bad = r#"{"findings":[{"fingerprint":"a","severity":"dire"}]}"#;
        assert!(matches!(
            validate(plugin(Some(1.0), None, Some(bad)), &Limits::default()),
            Err(Failure::InvalidOutput(ref m)) if m.contains("details.findings[0]")
        ));
        let bad = r#"{"findings":12}"#;
        assert!(matches!(
            validate(plugin(Some(1.0), None, Some(bad)), &Limits::default()),
            Err(Failure::InvalidOutput(ref m)) if m.contains("must be a list of findings")
        ));
        // A list longer than the limit is refused while it is read.
        let one = r#"{"fingerprint":"f"}"#;
        let long = format!(
            r#"{{"findings":[{}]}}"#,
            vec![one; crate::lifecycle::MAX_FINDINGS + 1].join(",")
        );
        assert!(matches!(
            validate(plugin(Some(1.0), None, Some(&long)), &Limits::default()),
            Err(Failure::InvalidOutput(ref m)) if m.contains("more than the 200000")
        ));
        // Not an object, not JSON.
        for (bad, want) in [("[1]", "must be a JSON object"), ("{", "not JSON")] {
            assert!(matches!(
                validate(plugin(Some(1.0), None, Some(bad)), &Limits::default()),
                Err(Failure::InvalidOutput(ref m)) if m.contains(want)
            ));
        }
    }
}
