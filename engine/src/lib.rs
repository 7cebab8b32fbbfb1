//! smm engine: runs sandboxed measure components, stores their measurements,
//! and provides the `smm` command line.
//!
//! Code map:
//! - [`sandbox`]: wasmtime host: limits, failures, compile cache, WASI grants.
//! - [`store`]: storage backends (embedded SQLite).
//! - [`measurement`]: the stored measurement record and queries.
//! - [`engine`]: the façade wiring catalogue, sandbox and stores.
//! - [`derived`]: SMM derived measures, one file per kind, time alignment.
//! - [`scheduler`]: `smm serve`: cron fire times, no overlap, backoff, catch-up.
//! - [`shutdown`]: SIGINT/SIGTERM as a future.
//! - [`conformance`]: the suite every measurement backend passes.
//! - `src/bin/smm/`: the `smm` command line, a thin layer over [`Engine`].

pub mod blocking;
pub mod config;
pub mod conformance;
pub mod derived;
pub mod engine;
pub mod kibana;
pub mod lifecycle;
pub mod measurement;
pub mod sandbox;
pub mod scaffold;
pub mod scheduler;
pub mod shutdown;
pub mod standard;
pub mod store;

pub use engine::{Engine, EngineError, EngineRunner, Home, Recorded};
pub use measurement::{Measurement, Query};
