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

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use smm_catalogue::StoreError;
use smm_catalogue::derived::Accumulator;

use crate::measurement::{Measurement, Query};
use crate::scheduler::InstanceState;

/// Which successful measurements feed a derived measure: those of one
/// measure whose labels include all of `labels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub measure_id: String,
    pub labels: BTreeMap<String, String>,
}

/// Persistence of measurements.
pub trait MeasurementStore: Send + Sync {
    /// Store one measurement; returns its sequence number.
    fn append(&self, measurement: &Measurement) -> Result<i64, StoreError>;
    /// Measurements matching `query`, oldest first.
    fn query(&self, query: &Query) -> Result<Vec<Measurement>, StoreError>;
    /// The latest successful measurement matching `selector` at or before `at`.
    fn latest(
        &self,
        selector: &Selector,
        at: DateTime<Utc>,
    ) -> Result<Option<Measurement>, StoreError>;
    /// `(seq, timestamp, labels, value)` of the successful numeric
    /// measurements matching `selector` in the window `(after, until]`;
    /// `labels` is left empty unless `with_labels`.
    fn window(
        &self,
        selector: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        with_labels: bool,
    ) -> Result<Vec<WindowRow>, StoreError>;
    /// The backend's own aggregation of the same window, for the
    /// accumulators it computes natively (`None` otherwise): the engine
    /// then need not move every value out of the store.
    fn aggregate(
        &self,
        selector: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        accumulator: Accumulator,
    ) -> Result<Option<Aggregate>, StoreError>;
    /// Whether `instance` has a measurement (a successful one when
    /// `successful`) stamped exactly `at`.
    fn exists_at(
        &self,
        instance: &str,
        at: DateTime<Utc>,
        successful: bool,
    ) -> Result<bool, StoreError>;
}

/// A window aggregated by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// `None` when the window is empty (except for sum and count).
    pub value: Option<f64>,
    pub count: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
}

/// One measurement of a window, as much as an accumulator needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    pub seq: i64,
    pub timestamp: DateTime<Utc>,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Persistence of the scheduler's per-instance state, and a cheap way to
/// learn that another process changed the catalogue.
pub trait StateStore: Send + Sync {
    fn state(&self, instance: &str) -> Result<Option<InstanceState>, StoreError>;
    fn states(&self) -> Result<Vec<InstanceState>, StoreError>;
    fn save_state(&self, state: &InstanceState) -> Result<(), StoreError>;
    /// Save many states at once (one transaction where the backend can).
    fn save_states(&self, states: &[&InstanceState]) -> Result<(), StoreError> {
        states.iter().try_for_each(|s| self.save_state(s))
    }
    /// A number that changes whenever instances or measures change (in any
    /// process); measurements do not change it.
    fn change_marker(&self) -> Result<i64, StoreError>;
}
