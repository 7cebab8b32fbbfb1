//! Registration: measures (components and derived definitions) and
//! instances into the catalogue.

use std::path::Path;

use smm_catalogue::{CatalogueError, Instance, InstanceSpec, Registration};

use super::{Engine, EngineError};
use crate::sandbox::{self, Limits};

impl Engine {
    /// Register the measure in `path`: a component (`.wasm`) or a derived
    /// measure definition (`.toml`).
    pub async fn register_file(&self, path: &Path) -> Result<Registration, EngineError> {
        let bytes = std::fs::read(path).map_err(|source| EngineError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "toml") {
            let text = String::from_utf8(bytes).map_err(|e| {
                CatalogueError::InvalidDerived(format!("{}: not UTF-8 text: {e}", path.display()))
            })?;
            let derived = smm_catalogue::DerivedMeasure::parse(&path.display().to_string(), &text)?;
            let registered = self.catalogue.register_derived(derived)?;
            self.forget_marker();
            return Ok(registered);
        }
        self.register_bytes(&bytes).await.map_err(|e| match e {
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
        let raw = self
            .sandbox
            .inspect(&sha256, wasm)
            .await
            .map_err(|source| EngineError::Register {
                path: "component".into(),
                source,
            })?;
        let metadata = raw.validate()?;
        let registered = self.catalogue.register_component(metadata, &sha256, wasm)?;
        self.forget_marker();
        Ok(registered)
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
        let instance = self.catalogue.create_instance(spec)?;
        self.forget_marker();
        Ok(instance)
    }

    /// Pause (or resume) an instance: no longer scheduled, no longer
    /// recomputed (a derived one); it keeps its configuration.
    pub fn set_paused(&self, name: &str, paused: bool) -> Result<Instance, EngineError> {
        let instance = self.catalogue.set_paused(name, paused)?;
        self.forget_marker();
        Ok(instance)
    }

    /// Delete an instance; its measurements stay.
    pub fn delete_instance(&self, name: &str) -> Result<(), EngineError> {
        self.catalogue.delete_instance(name)?;
        self.forget_marker();
        Ok(())
    }

    /// Changes made through this engine reach its runs at once, not after
    /// the marker's time to live.
    fn forget_marker(&self) {
        *self.marker.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
