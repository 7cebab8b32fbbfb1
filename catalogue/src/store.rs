//! What the catalogue needs from a storage backend.

use chrono::{DateTime, Utc};

use crate::derived::DerivedDefinition;
use crate::instance::{Instance, InstanceRevision};
use crate::metadata::MeasureMetadata;

pub use crate::store_error::StoreError;

/// How a measure is computed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Implementation {
    /// A WebAssembly component implementing the `measure` world, stored by
    /// the sha256 of its bytes.
    Wasm { sha256: String },
    /// Computed by the engine from stored measurements.
    Derived { definition: DerivedDefinition },
}

/// One registered version of a measure.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureRecord {
    pub metadata: MeasureMetadata,
    pub implementation: Implementation,
    pub registered_at: DateTime<Utc>,
}

impl MeasureRecord {
    /// `id@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.metadata.id, self.metadata.version)
    }

    /// The SMM kind as users name it: `direct` for a component, the derived
    /// kind (`collective`, `ratio`, `grade`, ...) for a derived measure.
    pub fn smm_kind(&self) -> &'static str {
        match &self.implementation {
            Implementation::Wasm { .. } => self.metadata.kind.as_str(),
            Implementation::Derived { definition } => crate::derived::kind_name(&definition.kind),
        }
    }
}

/// Persistence of the catalogue. Implementations must make each call atomic.
pub trait CatalogueStore {
    /// Every registered version of `id`, in any order.
    fn measure_versions(&self, id: &str) -> Result<Vec<MeasureRecord>, StoreError>;
    /// Every registered measure version.
    fn list_measures(&self) -> Result<Vec<MeasureRecord>, StoreError>;
    /// Store a new measure version together with its component bytes
    /// (empty for a derived measure); `Ok(false)` (and nothing written) when
    /// `id@version` exists already.
    fn insert_measure(&self, record: &MeasureRecord, wasm: &[u8]) -> Result<bool, StoreError>;
    /// The component bytes stored under `sha256`.
    fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Store a new instance; `Ok(false)` when the name is taken.
    fn insert_instance(&self, instance: &Instance) -> Result<bool, StoreError>;
    fn instance(&self, name: &str) -> Result<Option<Instance>, StoreError>;
    fn list_instances(&self) -> Result<Vec<Instance>, StoreError>;
    /// Replace a stored instance, keeping what it replaces in the
    /// instance's history (unless only its paused state changed), in one
    /// transaction; `Ok(false)` when there is none of that name.
    fn update_instance(&self, instance: &Instance) -> Result<bool, StoreError>;
    /// What updates replaced, oldest first.
    fn instance_history(&self, name: &str) -> Result<Vec<InstanceRevision>, StoreError>;
    /// Delete an instance and its history (its measurements stay);
    /// `Ok(false)` when absent.
    fn delete_instance(&self, name: &str) -> Result<bool, StoreError>;
}

impl<T: CatalogueStore + ?Sized> CatalogueStore for std::sync::Arc<T> {
    fn measure_versions(&self, id: &str) -> Result<Vec<MeasureRecord>, StoreError> {
        (**self).measure_versions(id)
    }
    fn list_measures(&self) -> Result<Vec<MeasureRecord>, StoreError> {
        (**self).list_measures()
    }
    fn insert_measure(&self, record: &MeasureRecord, wasm: &[u8]) -> Result<bool, StoreError> {
        (**self).insert_measure(record, wasm)
    }
    fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).wasm(sha256)
    }
    fn insert_instance(&self, instance: &Instance) -> Result<bool, StoreError> {
        (**self).insert_instance(instance)
    }
    fn instance(&self, name: &str) -> Result<Option<Instance>, StoreError> {
        (**self).instance(name)
    }
    fn list_instances(&self) -> Result<Vec<Instance>, StoreError> {
        (**self).list_instances()
    }
    fn update_instance(&self, instance: &Instance) -> Result<bool, StoreError> {
        (**self).update_instance(instance)
    }
    fn instance_history(&self, name: &str) -> Result<Vec<InstanceRevision>, StoreError> {
        (**self).instance_history(name)
    }
    fn delete_instance(&self, name: &str) -> Result<bool, StoreError> {
        (**self).delete_instance(name)
    }
}
