//! JavaScript measures built from source with the JavaScript SDK
//! (`sdk/js`) and componentize-js, for tests and benchmarks.
//!
//! - `sdk/js/node_modules` holds componentize-js [`COMPONENTIZE_JS`],
//!   installed by `npm ci` from `sdk/js/package-lock.json` when missing
//!   (serialised across test processes by a lock directory).
//! - `node sdk/js/build.mjs <entry> -o <out>` builds a measure into a
//!   component, cached under `target/js/components/` by a hash of its
//!   sources, the SDK's, the WIT and the lock file: a build takes ~10–20 s,
//!   an unchanged measure none.
//! - Without node or npm, or when `npm ci` cannot reach the registry, the
//!   helpers return `None` after saying why on stderr, and the tests skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::workspace;

/// The componentize-js the SDK pins (`sdk/js/package.json`).
pub const COMPONENTIZE_JS: &str = "0.23.0";

fn target() -> PathBuf {
    workspace().join("target/js")
}

fn sdk() -> PathBuf {
    workspace().join("sdk/js")
}

/// Serialises installs and builds within one process.
fn lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A lock directory shared with other test processes (`npm ci` must not
/// run twice at once in one folder); a lock older than ten minutes is a
/// leftover of a killed process.
struct DirLock(PathBuf);

impl DirLock {
    fn take(path: PathBuf) -> DirLock {
        let started = Instant::now();
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => return DirLock(path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().is_ok_and(|a| a > Duration::from_secs(600)));
                    if stale {
                        let _ = std::fs::remove_dir(&path);
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(900),
                        "waited 15 minutes for {}",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn skip<T>(why: &str) -> Option<T> {
    eprintln!("skipped: {why}");
    None
}

fn describe(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `node` (or `$NODE`), when it runs and is at least version 20.
pub fn node() -> Option<PathBuf> {
    let node = PathBuf::from(std::env::var("NODE").unwrap_or_else(|_| "node".into()));
    let Ok(out) = Command::new(&node).arg("--version").output() else {
        return skip(&format!(
            "{} is not installed: JavaScript measures are not built (install Node >= 20 and npm)",
            node.display()
        ));
    };
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if !out.status.success() || major < 20 {
        return skip(&format!(
            "node {version} found, Node >= 20 is needed: JavaScript measures are not built"
        ));
    }
    Some(node)
}

/// Is componentize-js [`COMPONENTIZE_JS`] in `sdk/js/node_modules`?
fn installed() -> bool {
    let pkg = sdk().join("node_modules/@bytecodealliance/componentize-js/package.json");
    std::fs::read(pkg)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|p| p["version"] == COMPONENTIZE_JS)
}

/// The SDK's toolchain, installed by `npm ci` when missing: `node`'s path.
/// `None`, after saying why, without node or npm or when the install
/// fails (no registry).
pub fn toolchain() -> Option<PathBuf> {
    let node = node()?;
    let _one = lock();
    if installed() {
        return Some(node);
    }
    std::fs::create_dir_all(target()).unwrap();
    let _all = DirLock::take(target().join(".npm-ci.lock"));
    if installed() {
        return Some(node);
    }
    let npm = std::env::var("NPM").unwrap_or_else(|_| "npm".into());
    let started = Instant::now();
    let Ok(out) = Command::new(&npm)
        .current_dir(sdk())
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .output()
    else {
        return skip(&format!(
            "{npm} is not installed: JavaScript measures are not built"
        ));
    };
    if !out.status.success() {
        return skip(&format!(
            "npm ci in sdk/js failed (is the npm registry reachable?):\n{}",
            describe(&out)
        ));
    }
    assert!(
        installed(),
        "npm ci did not install componentize-js {COMPONENTIZE_JS}"
    );
    eprintln!(
        "installed sdk/js/node_modules in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Some(node)
}

/// 64-bit FNV-1a, folded over the inputs of a build (stable across Rust
/// versions, unlike `DefaultHasher`); each input length-delimited.
struct Fnv(u64);

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        let len = (bytes.len() as u64).to_le_bytes();
        for &b in bytes.iter().chain(&len) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Files under `dir` with one of `extensions`, sorted, outside
/// `node_modules/`, `test/` and hidden directories.
fn sources(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "node_modules" && name != "test" && !name.starts_with('.') {
                sources(&path, extensions, out);
            }
        } else if extensions
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e))
        {
            out.push(path);
        }
    }
}

/// A hash of everything a build of `entry` reads: the sources beside it,
/// the SDK's, the WIT and the lock file (the toolchain's versions).
fn source_hash(entry: &Path) -> String {
    let ws = workspace();
    let mut files = Vec::new();
    sources(entry.parent().unwrap(), &["js", "mjs", "json"], &mut files);
    sources(&sdk(), &["js", "mjs", "wit"], &mut files);
    files.push(sdk().join("package-lock.json"));
    files.push(ws.join("sdk/wit/measure.wit"));
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.add(entry.to_string_lossy().as_bytes());
    for f in files {
        h.add(
            f.strip_prefix(&ws)
                .unwrap_or(&f)
                .to_string_lossy()
                .as_bytes(),
        );
        h.add(&std::fs::read(&f).unwrap());
    }
    format!("{:016x}", h.0)
}

/// Build the JavaScript measure whose entry module is `entry` (relative to
/// the workspace, e.g. `measures/eslint-findings/src/index.js`) into a
/// component named `name`, and return its path; an unchanged measure is
/// not rebuilt. `None` (the caller skips) when node or npm are
/// unavailable; a failing build panics.
pub fn component(name: &str, entry: &str) -> Option<PathBuf> {
    let node = toolchain()?;
    let _one = lock();
    let entry = workspace().join(entry);
    assert!(entry.is_file(), "{} is not a file", entry.display());
    let built = target().join("components");
    std::fs::create_dir_all(&built).unwrap();
    let out = built.join(format!("{name}-{}.wasm", source_hash(&entry)));
    if out.is_file() {
        return Some(out);
    }
    let partial = built.join(format!(".{name}.{}.partial.wasm", std::process::id()));
    let started = Instant::now();
    let run = Command::new(node)
        .current_dir(workspace())
        .arg(sdk().join("build.mjs"))
        .arg(&entry)
        .arg("-o")
        .arg(&partial)
        .output()
        .expect("running node sdk/js/build.mjs");
    assert!(
        run.status.success() && partial.is_file(),
        "building the JavaScript measure {} failed:\n{}",
        entry.display(),
        describe(&run)
    );
    std::fs::rename(&partial, &out).unwrap();
    eprintln!(
        "built {} in {:.1}s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    // Older builds of the same measure are of no further use.
    for old in std::fs::read_dir(&built).unwrap().flatten() {
        let file = old.file_name().to_string_lossy().to_string();
        if file.starts_with(&format!("{name}-")) && file.ends_with(".wasm") && old.path() != out {
            let _ = std::fs::remove_file(old.path());
        }
    }
    Some(out)
}

/// Node's test runner on `dir` (relative to the workspace, e.g.
/// `sdk/js/test`): the JavaScript unit tests, which import no host
/// interface. `None` when node is unavailable.
pub fn node_test(dir: &str) -> Option<Output> {
    let node = node()?;
    let dir = workspace().join(dir);
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".test.js") || name.ends_with(".test.mjs") {
            files.push(e.path());
        }
    }
    files.sort();
    Some(
        Command::new(node)
            .current_dir(&dir)
            .arg("--test")
            .args(&files)
            .output()
            .expect("running node --test"),
    )
}

/// Evaluate the ES module `source` with node from the workspace (for
/// cross-checks of JavaScript code against the Rust crates); its stdout.
/// `None` when node is unavailable.
pub fn eval_module(source: &str) -> Option<String> {
    let node = node()?;
    let out = Command::new(node)
        .current_dir(workspace())
        .args(["--input-type=module", "--eval", source])
        .output()
        .expect("running node --eval");
    assert!(
        out.status.success(),
        "node --eval failed:\n{}",
        describe(&out)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}
