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
            return Ok(self.catalogue.register_derived(derived)?);
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
        Ok(self.catalogue.register_component(metadata, &sha256, wasm)?)
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
        Ok(self.catalogue.create_instance(spec)?)
    }
}
