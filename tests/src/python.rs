//! Python measures built from source with the Python SDK (`sdk/python`)
//! and componentize-py, for tests and benchmarks.
//!
//! - A virtual environment under `target/python/venv` holds
//!   componentize-py [`COMPONENTIZE_PY`] (installed from PyPI when
//!   missing; built aside and renamed into place, so concurrent test
//!   processes never see half of one).
//! - `python -m smm_sdk build` (run with `PYTHONPATH=sdk/python`) builds a
//!   measure into a component, cached under `target/python/components/` by
//!   a hash of its sources, the SDK's and the WIT's: a build takes ~15 s,
//!   an unchanged measure none.
//! - Without python3, its `venv` module or pip's access to PyPI the
//!   helpers return `None` after saying why on stderr, and the tests skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use crate::workspace;

/// The componentize-py the SDK pins (`sdk/python/pyproject.toml`).
pub const COMPONENTIZE_PY: &str = "0.25.1";

fn target() -> PathBuf {
    workspace().join("target/python")
}

/// Serialises venv creation and builds within one process.
fn lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn skip(why: &str) -> Option<PathBuf> {
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

/// The interpreter of a venv.
fn interpreter(venv: &Path) -> PathBuf {
    venv.join("bin/python")
}

/// Does `venv` have componentize-py [`COMPONENTIZE_PY`]?
fn ready(venv: &Path) -> bool {
    let python = interpreter(venv);
    python.is_file()
        && Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('componentize-py'))",
            ])
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == COMPONENTIZE_PY
            })
}

/// The venv's Python, with componentize-py [`COMPONENTIZE_PY`]; created
/// (from PyPI) when missing. `None`, after saying why, when python3, venv
/// or pip are unavailable.
pub fn python() -> Option<PathBuf> {
    let _one = lock();
    let venv = target().join("venv");
    if ready(&venv) {
        return Some(interpreter(&venv));
    }
    let python3 = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if Command::new(&python3).arg("--version").output().is_err() {
        return skip(&format!(
            "{python3} is not installed: Python measures are not built"
        ));
    }
    std::fs::create_dir_all(target()).unwrap();
    let aside = target().join(format!("venv.{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&aside);
    let made = Command::new(&python3)
        .args(["-m", "venv"])
        .arg(&aside)
        .output()
        .expect("running python3 -m venv");
    if !made.status.success() {
        let _ = std::fs::remove_dir_all(&aside);
        return skip(&format!(
            "python3 -m venv failed (on Debian: apt-get install python3-venv):\n{}",
            describe(&made)
        ));
    }
    let pip = Command::new(interpreter(&aside))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("componentize-py=={COMPONENTIZE_PY}"),
        ])
        .output()
        .expect("running pip");
    if !pip.status.success() {
        let _ = std::fs::remove_dir_all(&aside);
        return skip(&format!(
            "pip could not install componentize-py=={COMPONENTIZE_PY}:\n{}",
            describe(&pip)
        ));
    }
    // Replace a stale venv (another componentize-py); if another process
    // put a good one in place meanwhile, keep theirs.
    if venv.exists() && !ready(&venv) {
        let _ = std::fs::remove_dir_all(&venv);
    }
    if std::fs::rename(&aside, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&aside);
    }
    assert!(
        ready(&venv),
        "{} has no componentize-py {COMPONENTIZE_PY}",
        venv.display()
    );
    Some(interpreter(&venv))
}

/// 64-bit FNV-1a, folded over the inputs of a build (stable across Rust
/// versions, unlike `DefaultHasher`).
struct Fnv(u64);

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Length-delimited: ("ab", "c") and ("a", "bc") differ.
        for b in (bytes.len() as u64).to_le_bytes() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Files under `dir` with one of `extensions`, sorted, outside `tests/`
/// and `__pycache__/` directories.
fn sources(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "tests" && name != "__pycache__" && !name.starts_with('.') {
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

/// A hash of everything a build of `dir` reads: its Python sources, the
/// SDK's, the WIT and the componentize-py version.
fn source_hash(dir: &Path) -> String {
    let ws = workspace();
    let mut files = Vec::new();
    sources(dir, &["py"], &mut files);
    sources(&ws.join("sdk/python/smm_sdk"), &["py"], &mut files);
    sources(&ws.join("sdk/wit"), &["wit"], &mut files);
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.add(COMPONENTIZE_PY.as_bytes());
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

/// Build the Python measure `module` found in `dir` (relative to the
/// workspace, e.g. `measures/bandit-findings`) into a component and
/// return its path; an unchanged measure is not rebuilt. `None` (the
/// caller skips) when Python is unavailable; a failing build panics.
pub fn component(dir: &str, module: &str) -> Option<PathBuf> {
    let python = python()?;
    let _one = lock();
    let src = workspace().join(dir);
    assert!(src.is_dir(), "{} is not a directory", src.display());
    let built = target().join("components");
    let out = built.join(format!("{module}-{}.wasm", source_hash(&src)));
    if out.is_file() {
        return Some(out);
    }
    let started = std::time::Instant::now();
    let run = Command::new(&python)
        .env("PYTHONPATH", workspace().join("sdk/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args([
            "-m", "smm_sdk", "build", "--quiet", "--module", module, "-o",
        ])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("running python -m smm_sdk build");
    assert!(
        run.status.success() && out.is_file(),
        "building the Python measure {dir} ({module}) failed:\n{}",
        describe(&run)
    );
    eprintln!(
        "built {} in {:.1}s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    // Older builds of the same module are of no further use.
    for old in std::fs::read_dir(&built).unwrap().flatten() {
        let name = old.file_name().to_string_lossy().to_string();
        if name.starts_with(&format!("{module}-")) && name.ends_with(".wasm") && old.path() != out {
            let _ = std::fs::remove_file(old.path());
        }
    }
    Some(out)
}

/// Run Python's `unittest` discovery on `tests` (relative to the
/// workspace) with `python_path` (relative too) as `PYTHONPATH`, with the
/// venv's interpreter (only the standard library is needed). `None` when
/// Python is unavailable.
pub fn unittest(tests: &str, python_path: &[&str]) -> Option<Output> {
    let python = python()?;
    let ws = workspace();
    let path = std::env::join_paths(python_path.iter().map(|p| ws.join(p))).unwrap();
    Some(
        Command::new(python)
            .current_dir(&ws)
            .env("PYTHONPATH", path)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args(["-m", "unittest", "discover", "-v", "-s"])
            .arg(ws.join(tests))
            .output()
            .expect("running python -m unittest"),
    )
}
