//! Storage backends.
//!
//! A backend implements [`smm_catalogue::CatalogueStore`] (measures, component
//! bytes, instances) and [`MeasurementStore`] (measurements). The runtime and
//! the CLI depend only on these traits; `sqlite` is the embedded default.
//!
//! Architecture Invariant: an append either stores the whole measurement or
//! returns an error; nothing stored is ever rewritten by an append.

mod sqlite;

pub use sqlite::SqliteStore;

use smm_catalogue::StoreError;

use crate::measurement::{Measurement, Query};

/// Persistence of measurements.
pub trait MeasurementStore: Send + Sync {
    /// Store one measurement; returns its sequence number.
    fn append(&self, measurement: &Measurement) -> Result<i64, StoreError>;
    /// Measurements matching `query`, oldest first.
    fn query(&self, query: &Query) -> Result<Vec<Measurement>, StoreError>;
}
