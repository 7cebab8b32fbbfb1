//! smm engine: runs sandboxed measure components, stores their measurements,
//! and provides the `smm` command line.
//!
//! Code map:
//! - [`sandbox`]: wasmtime host: limits, failures, compile cache, WASI grants.
//! - [`store`]: storage backends (embedded SQLite).
//! - [`measurement`]: the stored measurement record and queries.
//! - [`engine`]: the façade wiring catalogue, sandbox and stores.
//! - `src/bin/smm/`: the `smm` command line, a thin layer over [`Engine`].

pub mod engine;
pub mod measurement;
pub mod sandbox;
pub mod store;

pub use engine::{Engine, EngineError, Home};
pub use measurement::{Measurement, Query};
