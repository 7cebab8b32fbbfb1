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
            return self.register_derived_text(&path.display().to_string(), &text);
        }
        self.register_bytes(&bytes).await.map_err(|e| match e {
            EngineError::Register { source, .. } => EngineError::Register {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Register the derived measure defined by `text` (TOML), read from
    /// `origin` (named in errors).
    pub fn register_derived_text(
        &self,
        origin: &str,
        text: &str,
    ) -> Result<Registration, EngineError> {
        let derived = smm_catalogue::DerivedMeasure::parse(origin, text)?;
        let registered = self.catalogue.register_derived(derived)?;
        self.forget_marker();
        Ok(registered)
    }

    /// Register a component: read its metadata in the sandbox, validate it,
    /// and store it. On any error the catalogue is unchanged.
    pub async fn register_bytes(&self, wasm: &[u8]) -> Result<Registration, EngineError> {
        let sha256 = sandbox::sha256_hex(wasm);
        let sandbox = self.sandbox()?;
        let raw = match sandbox.inspect(&sha256, wasm).await {
            Ok(raw) => raw,
            Err(source) => {
                sandbox.forget(&sha256);
                return Err(EngineError::Register {
                    path: "component".into(),
                    source,
                });
            }
        };
        // Only a registered component stays compiled (memory, disk cache).
        let registered = raw
            .validate()
            .and_then(|metadata| self.catalogue.register_component(metadata, &sha256, wasm));
        match registered {
            Ok(r) => {
                sandbox.keep(&sha256);
                self.forget_marker();
                Ok(r)
            }
            Err(e) => {
                sandbox.forget(&sha256);
                Err(e.into())
            }
        }
    }

    /// Validate and store an instance; its limit overrides must lie within
    /// the sandbox's floors and ceilings.
    pub fn create_instance(&self, spec: InstanceSpec) -> Result<Instance, EngineError> {
        self.check_host_rules(&spec)?;
        let instance = self.catalogue.create_instance(spec)?;
        self.forget_marker();
        Ok(instance)
    }

    /// Replace an instance's settings (start from `Instance::to_spec`),
    /// with every check `create_instance` makes; the previous settings stay
    /// in its history, its measurements and scheduling state stay.
    pub fn update_instance(&self, spec: InstanceSpec) -> Result<Instance, EngineError> {
        self.check_host_rules(&spec)?;
        let instance = self.catalogue.update_instance(spec)?;
        self.forget_marker();
        Ok(instance)
    }

    /// What the engine itself requires of an instance, beyond the
    /// catalogue's rules: limits within its maxima, grants that expose
    /// neither the host nor the engine.
    fn check_host_rules(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        let invalid = |reason: String| CatalogueError::InvalidInstance {
            instance: spec.name.clone(),
            reason,
        };
        Limits::check_overrides(&spec.limits).map_err(invalid)?;
        for grant in &spec.grants {
            if let Some(why) = self.exposes(grant) {
                return Err(invalid(format!(
                    "--grant-dir {} would expose {why}: grant the directory that holds the reports",
                    grant.display()
                ))
                .into());
            }
        }
        Ok(())
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

    /// What granting `dir` (read-only) would expose that no plugin may
    /// read: the host's whole filesystem, its kernel and device views, or
    /// the engine itself (database, compile cache, spool, configuration).
    fn exposes(&self, dir: &Path) -> Option<String> {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if dir == Path::new("/") {
            return Some("the whole filesystem".into());
        }
        for system in ["/proc", "/sys", "/dev"] {
            if dir.starts_with(system) {
                return Some(format!("{system}, the host's kernel and device views"));
            }
        }
        let home = self.home.as_deref()?;
        if home.starts_with(&dir) {
            return Some(format!(
                "the smm home {} (the catalogue, measurements, compile cache and configuration)",
                home.display()
            ));
        }
        if dir.starts_with(home) {
            return Some(format!(
                "part of the smm home {} (the catalogue, measurements, compile cache and configuration)",
                home.display()
            ));
        }
        None
    }

    /// Changes made through this engine reach its runs at once, not after
    /// the marker's time to live.
    fn forget_marker(&self) {
        *self.marker.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
