//! On-disk cache of compiled components.
//!
//! Invariant: an entry is only ever written by this engine, from bytes whose
//! sha256 names it, under a directory named by the wasmtime version and the
//! engine's compatibility hash; nothing else is ever deserialised (wasmtime
//! trusts precompiled artifacts).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    pub(crate) fn new(root: &Path, engine: &Engine) -> std::io::Result<Self> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("wasmtime-48.0.8-{:016x}", hasher.finish()));
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
        Ok(Self { dir })
    }

    /// The compiled component for `wasm` (whose sha256 is `sha256`),
    /// compiling and storing it on a miss.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        sha256: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<Component> {
        debug_assert!(sha256.chars().all(|c| c.is_ascii_hexdigit()));
        let path = self.dir.join(format!("{sha256}.cwasm"));
        if path.is_file() {
            // SAFETY: entries in this directory are written only by `store`
            // below, by this engine configuration (the directory name carries
            // its compatibility hash), from the component whose hash names it.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e}")
                }
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        if let Err(e) = self.store(&path, &compiled) {
            tracing::warn!(path = %path.display(), "cannot write the compile cache: {e}");
        }
        // SAFETY: `compiled` was produced just above by this engine.
        unsafe { Component::deserialize(engine, &compiled) }
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = tempfile_in(&self.dir)?;
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok(dir.join(format!(".tmp-{}-{nanos}", std::process::id())))
}
