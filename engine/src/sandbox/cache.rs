//! On-disk cache of compiled components.
//!
//! Invariant: an entry is only ever written by this engine, from bytes whose
//! sha256 names it, under a directory named by the wasmtime version and the
//! engine's compatibility hash; and with a ledger (the catalogue records
//! the digest of each artifact it writes), an entry is deserialised only if
//! its bytes have the recorded digest: a swapped or altered artifact is
//! recompiled, never run (wasmtime trusts precompiled artifacts).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where the digests of cache entries are recorded, outside the cache
/// directory (the catalogue's database).
pub trait ArtifactLedger: Send + Sync {
    /// The digest recorded for the entry `key`, if any.
    fn recorded(&self, key: &str) -> Option<String>;
    /// Record `digest` for the entry `key` (failures are logged: an
    /// unrecorded entry only costs a recompilation).
    fn record(&self, key: &str, digest: &str);
}

#[derive(Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    /// The name of `dir` (wasmtime version and compatibility hash).
    engine_key: String,
    ledger: Option<std::sync::Arc<dyn ArtifactLedger>>,
}

/// Temporary files older than this are leftovers of a killed process.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(600);

impl CompileCache {
    pub(crate) fn new(
        root: &Path,
        engine: &Engine,
        ledger: Option<std::sync::Arc<dyn ArtifactLedger>>,
    ) -> std::io::Result<Self> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("wasmtime-48.0.8-{:016x}", hasher.finish());
        let dir = root.join(&engine_key);
        std::fs::create_dir_all(&dir)?;
        // Whoever can write here can make the engine run native code:
        // keep the cache private to the engine's user.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for d in [root, dir.as_path()] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let cache = Self {
            dir,
            engine_key,
            ledger,
        };
        cache.remove_stale_temporaries();
        Ok(cache)
    }

    /// A process killed while writing an entry leaves a `.tmp-*` file.
    fn remove_stale_temporaries(&self) {
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let stale = entry.file_name().to_string_lossy().starts_with(".tmp-")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TMP));
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        debug_assert!(sha256.chars().all(|c| c.is_ascii_hexdigit()));
        self.dir.join(format!("{sha256}.cwasm"))
    }

    fn key(&self, sha256: &str) -> String {
        format!("{}/{sha256}", self.engine_key)
    }

    /// The compiled component for `sha256`, if the cache has a usable entry
    /// (with a ledger: one whose digest is the recorded one).
    pub(crate) fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.is_file() {
            return None;
        }
        let loaded = match &self.ledger {
            Some(ledger) => {
                let bytes = std::fs::read(&path).ok()?;
                let digest = super::sha256_hex(&bytes);
                if ledger.recorded(&self.key(sha256)).as_deref() != Some(digest.as_str()) {
                    tracing::warn!(
                        path = %path.display(),
                        "a cache entry that is not the one recorded: recompiling"
                    );
                    return None;
                }
                // SAFETY: these bytes are, digest for digest, an artifact
                // this engine wrote (`store`) for the component `sha256`.
                unsafe { Component::deserialize(engine, &bytes) }
            }
            // SAFETY: entries in this directory are written only by `store`
            // below, by this engine configuration (the directory name
            // carries its compatibility hash), from the component whose
            // hash names it; the directory is private to this user.
            None => unsafe { Component::deserialize_file(engine, &path) },
        };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e}");
                None
            }
        }
    }

    /// Keep `artifact`, the compilation of the component `sha256`
    /// (written whole or not at all; a failure only costs a recompilation).
    pub(crate) fn store(&self, sha256: &str, artifact: &[u8]) {
        let path = self.path(sha256);
        let write = || -> std::io::Result<()> {
            let tmp = tempfile_in(&self.dir);
            let mut file = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut file, artifact)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        match write() {
            Ok(()) => {
                if let Some(ledger) = &self.ledger {
                    ledger.record(&self.key(sha256), &super::sha256_hex(artifact));
                }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot write the compile cache: {e}")
            }
        }
    }
}

fn tempfile_in(dir: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dir.join(format!(".tmp-{}-{nanos}", std::process::id()))
}
