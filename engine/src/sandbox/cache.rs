//! On-disk cache of compiled components.
//!
//! Invariant: an entry is only ever written by this engine, from bytes whose
//! sha256 names it, under a directory named by the wasmtime version and the
//! engine's compatibility hash; and with a ledger (the catalogue records
//! the digest of each artifact it writes), an entry is deserialised only if
//! its bytes have the recorded digest: a swapped or altered artifact is
//! recompiled, never run (wasmtime trusts precompiled artifacts).
//!
//! Checking a digest reads and hashes the whole artifact (tens of MB for a
//! Python or JavaScript measure: 100 ms and more in every new process).
//! The ledger also records the file's identity when its digest was last
//! checked (device, inode, size and change time, which the kernel updates
//! on any write or rename and no one can set); an entry with that same
//! identity is mapped without hashing it again.

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
    pub(super) ledger: Option<std::sync::Arc<dyn ArtifactLedger>>,
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
                let key = self.key(sha256);
                let recorded = ledger.recorded(&key)?;
                let (recorded, checked) = match recorded.split_once(' ') {
                    Some((digest, identity)) => (digest.to_string(), Some(identity.to_string())),
                    None => (recorded, None),
                };
                let now = identity(&path)?;
                if checked.as_deref() == Some(now.as_str()) {
                    // SAFETY: the file is the one whose digest was checked
                    // against the record (same inode, size and change time).
                    unsafe { Component::deserialize_file(engine, &path) }
                } else {
                    let bytes = std::fs::read(&path).ok()?;
                    if super::sha256_hex(&bytes) != recorded {
                        tracing::warn!(
                            path = %path.display(),
                            "a cache entry that is not the one recorded: recompiling"
                        );
                        return None;
                    }
                    ledger.record(&key, &format!("{recorded} {now}"));
                    // SAFETY: these bytes are, digest for digest, an
                    // artifact this engine wrote (`store`) for `sha256`.
                    unsafe { Component::deserialize(engine, &bytes) }
                }
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
                    let digest = super::sha256_hex(artifact);
                    let record = match identity(&path) {
                        Some(id) => format!("{digest} {id}"),
                        None => digest,
                    };
                    ledger.record(&self.key(sha256), &record);
                }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot write the compile cache: {e}")
            }
        }
    }
}

/// What changes whenever a file's bytes or name do: device, inode, size
/// and change time (set by the kernel only).
fn identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{}:{}:{}:{}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

fn tempfile_in(dir: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dir.join(format!(".tmp-{}-{nanos}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Default)]
    struct Ledger(Mutex<HashMap<String, String>>);

    impl ArtifactLedger for Ledger {
        fn recorded(&self, key: &str) -> Option<String> {
            self.0.lock().unwrap().get(key).cloned()
        }
        fn record(&self, key: &str, digest: &str) {
            self.0.lock().unwrap().insert(key.into(), digest.into());
        }
    }

    #[test]
    fn an_unchanged_entry_is_mapped_without_hashing_and_a_touched_one_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let ledger = Arc::new(Ledger::default());
        let cache = CompileCache::new(dir.path(), &engine, Some(ledger.clone())).unwrap();
        let wasm = wat::parse_str("(component)").unwrap();
        let sha = super::super::sha256_hex(&wasm);
        cache.store(&sha, &engine.precompile_component(&wasm).unwrap());
        assert!(cache.load(&engine, &sha).is_some());

        // A record whose digest is wrong but whose identity is the file's:
        // loaded, so the identity alone decided (no hashing).
        let key = cache.key(&sha);
        let recorded = ledger.recorded(&key).unwrap();
        let (_, id) = recorded.split_once(' ').unwrap();
        ledger.record(&key, &format!("{} {id}", "0".repeat(64)));
        assert!(cache.load(&engine, &sha).is_some(), "mapped on identity");

        // The same bytes written again change the identity: the digest is
        // checked, and the wrong one refuses the entry.
        let path = cache.path(&sha);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        assert!(cache.load(&engine, &sha).is_none(), "checked again");
    }
}
