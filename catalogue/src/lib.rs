//! The measure catalogue: what a measure is, which versions exist, what
//! configuration each accepts, and how instances bind a measure to a
//! measured system.
//!
//! This crate holds the rules, not the bytes: persistence is behind
//! [`CatalogueStore`] (implemented by the engine's stores), and reading
//! metadata out of a WebAssembly component is the engine's sandbox's job.
//!
//! Invariants:
//! - A measure is identified by `id@version`; once registered, the bytes
//!   behind an `id@version` never change (re-registering different bytes is
//!   an error, re-registering the same bytes is a no-op).
//! - Every stored instance's configuration is valid against the schema of
//!   the exact measure version it is pinned to.

pub mod derived;
mod error;
pub mod expression;
mod graph;
mod instance;
mod metadata;
pub mod network;
pub mod paths;
mod registry;
mod schema;
mod schema_walk;
pub mod secrets;
mod store;
mod store_error;
pub mod text;

pub use derived::{DerivedDefinition, DerivedKind, DerivedMeasure};
pub use error::{CatalogueError, Violation};
pub use graph::DependencyGraph;
pub use instance::{
    CatchUp, Instance, InstanceRevision, InstanceSpec, LimitOverrides, validate_name,
};
pub use metadata::{MeasureKind, MeasureMetadata, RawMetadata, Scale, is_kebab_case};
pub use network::{GrantScheme, HostGrant, SecretRef, SecretSource};
pub use registry::{Catalogue, MeasureRef, Registration};
pub use schema::ConfigSchema;
pub use store::{CatalogueStore, Implementation, MeasureRecord};
pub use store_error::{StoreError, StoreErrorKind};
