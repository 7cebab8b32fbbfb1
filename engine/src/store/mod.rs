//! Storage backends.
//!
//! [`MeasurementStore`] is the measurement path's port: the run path, the
//! derived engine and the CLI read and write measurements only through it,
//! asynchronously, and nothing outside this module knows which backend is
//! behind it. The embedded SQLite store (`sqlite/`) also keeps the catalogue
//! ([`smm_catalogue::CatalogueStore`]) and the scheduler's state
//! ([`crate::scheduler::SchedulerStore`]); the Elasticsearch backend
//! (`elasticsearch/`) keeps measurements only.
//!
//! Architecture Invariant: an append either stores every measurement of the
//! batch (or finds it stored already, by id) or returns an error; nothing
//! stored is ever rewritten by an append, and appending the same
//! measurement id twice stores it once.
//!
//! Architecture Invariant: no store call blocks a tokio worker: blocking
//! backends (SQLite) run on the blocking pool.

pub mod elasticsearch;
mod sqlite;

pub use elasticsearch::ElasticsearchStore;
pub use sqlite::{SqliteStore, Usage};

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use smm_catalogue::StoreError;
use smm_catalogue::derived::Accumulator;

use crate::measurement::{Measurement, Query};

/// Which successful measurements feed a derived measure: those of one
/// measure whose labels include all of `labels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub measure_id: String,
    pub labels: BTreeMap<String, String>,
}

/// What became of one appended measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, and readable by the next query.
    Stored,
    /// A measurement with the same id was stored before: nothing written.
    AlreadyStored,
    /// Kept in a durable local spool, delivered when the backend is
    /// reachable again (not yet readable).
    Spooled,
    /// Refused by the backend for good (e.g. a mapping error): kept locally
    /// with the reason, where it can be inspected and re-driven.
    DeadLettered,
}

impl Appended {
    pub fn as_str(self) -> &'static str {
        match self {
            Appended::Stored => "stored",
            Appended::AlreadyStored => "already stored",
            Appended::Spooled => "spooled",
            Appended::DeadLettered => "dead-lettered",
        }
    }
}

/// Which columns of a window the caller needs besides timestamp and value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowColumns {
    pub ids: bool,
    pub labels: bool,
}

/// Persistence of measurements. Every result is ordered by timestamp, then id.
#[async_trait]
pub trait MeasurementStore: Send + Sync {
    /// Store `batch` (sealed measurements: their ids set); one outcome per
    /// measurement, in order. Idempotent per id.
    async fn append(&self, batch: &[Measurement]) -> Result<Vec<Appended>, StoreError>;
    /// Measurements matching `query`, oldest first.
    async fn query(&self, query: &Query) -> Result<Vec<Measurement>, StoreError>;
    /// The latest successful measurement matching `selector` at or before `at`
    /// (of two at the same instant, the greater id).
    async fn latest(
        &self,
        selector: &Selector,
        at: DateTime<Utc>,
    ) -> Result<Option<Measurement>, StoreError>;
    /// The successful numeric measurements matching `selector` in the
    /// window `(after, until]`, oldest first; `id` and `labels` are filled
    /// only when `columns` asks for them.
    async fn window(
        &self,
        selector: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        columns: WindowColumns,
    ) -> Result<Vec<WindowRow>, StoreError>;
    /// The backend's own aggregation of the same window, for the
    /// accumulators it computes exactly (`None` otherwise): the engine then
    /// need not move every value out of the store.
    async fn aggregate(
        &self,
        selector: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        accumulator: Accumulator,
    ) -> Result<Option<Aggregate>, StoreError>;
    /// Measurements acknowledged earlier as [`Appended::Spooled`] and
    /// delivered since (taken: each is returned once), so that the engine
    /// recomputes the derived measures that read them. Empty for backends
    /// that never spool.
    async fn delivered_late(&self) -> Vec<Measurement> {
        Vec::new()
    }
    /// Check the backend is ready to take measurements; `Ok` describes
    /// it (backend and version). A `Retryable` error means unreachable for
    /// now; `Permanent` means it cannot work as configured.
    async fn health(&self) -> Result<String, StoreError>;
    /// Whether `instance` has a measurement (a successful one when
    /// `successful`) stamped exactly `at`.
    async fn exists_at(
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
}

/// One measurement of a window, as much as an accumulator needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    /// Empty unless asked for ([`WindowColumns::ids`]).
    pub id: String,
    pub timestamp: DateTime<Utc>,
    /// Empty unless asked for ([`WindowColumns::labels`]).
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Sort rows that share a timestamp by id: the order every backend promises.
/// Rows must already be sorted by timestamp.
pub(crate) fn order_ties_by_id(rows: &mut [WindowRow]) {
    // A stable sort on already-sorted runs is linear.
    rows.sort_by(|a, b| a.timestamp.cmp(&b.timestamp).then_with(|| a.id.cmp(&b.id)));
}
