//! The per-run cost of one trivial measure (return a constant) written in
//! each language measures can be written in, under the engine:
//!
//! - **steady state**: many runs in one process: `Engine::run` (catalogue
//!   lookups, sandboxed collect, SQLite append) and `Sandbox::collect`
//!   alone, the component compiled once;
//! - **first run in a fresh process**: `smm run <instance>` of a registered
//!   instance as a child process, process start included (the engine's own
//!   `duration_ms` beside it); `smm instance list` is the floor: a process
//!   that opens the home and reads the catalogue;
//! - **registration**: `smm measure register` into a fresh home (compiles)
//!   and again into the same home (already registered);
//! - **where a first run's time goes**: the steps a fresh process takes
//!   before the collection, timed one by one in this process: reading the
//!   component from the catalogue, loading the compiled artifact (read,
//!   hashed and deserialised the first time, mapped once its digest was
//!   checked), the first collection of the freshly loaded component, and
//!   the next ones.
//!
//! The measures: the Rust probe (`tests/plugins/probe`), the Python
//! probe (`tests/plugins/probe-py`, built with the Python SDK) and the
//! JavaScript probe (`tests/plugins/probe-js`, built with the JavaScript
//! SDK), all with `{"behaviour":"constant","value":1}`. A language whose toolchain is
//! missing is left out, saying so.
//!
//! `cargo bench -p smm-engine --bench polyglot` prints the tables;
//! `cargo test --benches` runs a quick pass that only checks it works.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use smm_catalogue::CatalogueStore;
use smm_engine::sandbox::{Access, ArtifactLedger, Limits, Sandbox, SandboxConfig, sha256_hex};
use smm_engine::store::SqliteStore;
use smm_engine::{Engine, Home};

const CONFIG: &str = r#"{"behaviour":"constant","value":1}"#;

/// One language's trivial measure.
struct Lang {
    name: &'static str,
    /// The measure's id in the catalogue.
    id: &'static str,
    wasm: PathBuf,
}

/// The measures to compare: Rust, Python and JavaScript.
fn languages() -> Vec<Lang> {
    let mut out = vec![Lang {
        name: "Rust",
        id: "probe",
        wasm: smm_tests::component("probe-plugin"),
    }];
    match smm_tests::python::component("tests/plugins/probe-py", "probe_py") {
        Some(wasm) => out.push(Lang {
            name: "Python",
            id: "probe-py",
            wasm,
        }),
        None => eprintln!("Python left out: no python3/venv/componentize-py"),
    }
    match smm_tests::javascript::component("probe-js", "tests/plugins/probe-js/src/probe.js") {
        Some(wasm) => out.push(Lang {
            name: "JavaScript",
            id: "probe-js",
            wasm,
        }),
        None => eprintln!("JavaScript left out: no node/npm/componentize-js"),
    }
    out
}

struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    fn new(samples: Vec<Duration>) -> Stats {
        let mut samples = samples;
        samples.sort();
        Stats { samples }
    }
    fn pct(&self, p: f64) -> Duration {
        self.samples[((self.samples.len() as f64 - 1.0) * p).round() as usize]
    }
    fn per_sec(&self) -> f64 {
        self.samples.len() as f64 / self.samples.iter().sum::<Duration>().as_secs_f64()
    }
}

fn time_n(n: usize, mut f: impl FnMut()) -> Stats {
    Stats::new(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn smm(home: &Path, args: &[&str]) -> (Duration, Value) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_smm"))
        .env("SMM_HOME", home)
        .env_remove("SMM_LOG")
        .args(args)
        .output()
        .expect("running smm");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "smm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (took, json)
}

/// The compiled artifact of `sha256` in a home's cache.
fn artifact(home: &Path, sha256: &str) -> PathBuf {
    let name = format!("{sha256}.cwasm");
    for dir in std::fs::read_dir(home.join("cache")).unwrap().flatten() {
        let path = dir.path().join(&name);
        if path.is_file() {
            return path;
        }
    }
    panic!("no {name} in {}", home.display())
}

/// A ledger that knows one digest (the engine's own is its catalogue).
struct Known(String, String);

impl ArtifactLedger for Known {
    fn recorded(&self, key: &str) -> Option<String> {
        key.ends_with(&self.0).then(|| self.1.clone())
    }
    fn record(&self, _: &str, _: &str) {}
}

struct Row {
    name: &'static str,
    wasm_bytes: u64,
    artifact_bytes: u64,
    steady_run: Stats,
    steady_collect: Stats,
    first_process: Stats,
    first_duration_ms: Stats,
    /// Per first run: wall clock less the engine's duration_ms.
    first_outside: Stats,
    register_cold: Duration,
    register_again: Duration,
    // Where a fresh process's first run goes.
    read_component: Duration,
    read_artifact: Duration,
    hash_artifact: Duration,
    load_ledger: Duration,
    load_mmap: Duration,
    first_collect: Duration,
    second_collect: Duration,
    /// Minor page faults per steady-state collect.
    faults_per_collect: f64,
}

/// Minor page faults of this process so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count from after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .nth(7)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

fn bench(lang: &Lang, rt: &tokio::runtime::Runtime, quick: bool) -> Row {
    let (n_steady, n_process) = if quick { (10, 2) } else { (500, 20) };
    let wasm = std::fs::read(&lang.wasm).unwrap();
    let sha = sha256_hex(&wasm);
    let grant = tempfile::tempdir().unwrap();
    let grants = vec![grant.path().canonicalize().unwrap()];

    // Registration through the binary: a fresh home (compiles), then the
    // same component again.
    let home = tempfile::tempdir().unwrap();
    let file = lang.wasm.to_str().unwrap();
    let (register_cold, _) = smm(home.path(), &["measure", "register", file]);
    let (register_again, _) = smm(home.path(), &["measure", "register", file]);
    let config = CONFIG.to_string();
    smm(
        home.path(),
        &[
            "instance",
            "create",
            "c",
            "--measure",
            lang.id,
            "--config",
            &config,
            "--grant-dir",
            grants[0].to_str().unwrap(),
        ],
    );

    // First run in a fresh process, each time.
    let (mut walls, mut durations, mut outside) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n_process {
        let (wall, m) = smm(home.path(), &["run", "c", "--json"]);
        assert_eq!(m["value"], 1.0, "{m}");
        let inside = Duration::from_secs_f64(m["duration_ms"].as_f64().unwrap() / 1e3);
        walls.push(wall);
        durations.push(inside);
        outside.push(wall.saturating_sub(inside));
    }
    let (first_process, first_duration_ms, first_outside) = (
        Stats::new(walls),
        Stats::new(durations),
        Stats::new(outside),
    );

    // Where that time goes, step by step.
    let (read_component, read_artifact, hash_artifact, artifact_bytes) = {
        let t = Instant::now();
        let store = SqliteStore::open(&home.path().join("smm.db")).unwrap();
        let blob = CatalogueStore::wasm(&store, &sha).unwrap().unwrap();
        let read_component = t.elapsed();
        assert_eq!(blob.len(), wasm.len());
        let path = artifact(home.path(), &sha);
        let t = Instant::now();
        let bytes = std::fs::read(&path).unwrap();
        let read_artifact = t.elapsed();
        let t = Instant::now();
        let digest = sha256_hex(&bytes);
        let hash_artifact = t.elapsed();
        std::hint::black_box(digest);
        (
            read_component,
            read_artifact,
            hash_artifact,
            bytes.len() as u64,
        )
    };
    let digest = sha256_hex(&std::fs::read(artifact(home.path(), &sha)).unwrap());
    let limits = Limits::default();
    let access = Access::dirs(&grants);
    let load = |ledger: Option<Arc<dyn ArtifactLedger>>| {
        let sandbox = Sandbox::new(SandboxConfig {
            cache_dir: Some(home.path().join("cache")),
            ledger,
            ..SandboxConfig::default()
        })
        .unwrap();
        let t = Instant::now();
        let prepared = rt.block_on(sandbox.prepare(&sha, &wasm)).unwrap();
        let took = t.elapsed();
        assert_eq!(sandbox.compilations(), 1);
        (sandbox, prepared, took)
    };
    // An entry whose digest has not been checked yet (the first run after
    // registration): read whole, hashed, deserialised from memory. Later
    // processes map an entry they find unchanged (`deserialize_file`, as
    // without a ledger below).
    let (sandbox, prepared, load_ledger) = load(Some(Arc::new(Known(sha.clone(), digest))));
    let collect = || {
        let c = rt
            .block_on(sandbox.collect(&prepared, CONFIG, &access, &limits))
            .unwrap();
        assert_eq!(c.value, Some(1.0));
    };
    let t = Instant::now();
    collect();
    let first_collect = t.elapsed();
    let t = Instant::now();
    collect();
    let second_collect = t.elapsed();
    let faults = minor_faults();
    let steady_collect = time_n(n_steady, collect);
    let faults_per_collect = (minor_faults() - faults) as f64 / n_steady as f64;
    drop(sandbox);
    // Without a ledger (or with an entry checked before), the cache maps
    // the file (`deserialize_file`).
    let (_, _, load_mmap) = load(None);

    // Steady state through the whole engine, on the same home (the
    // component loaded once, from the cache).
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    let run = || {
        let m = rt.block_on(engine.run("c")).unwrap();
        assert_eq!(m.value, Some(1.0), "{m:?}");
    };
    for _ in 0..n_steady.min(20) {
        run(); // warm-up
    }
    let steady_run = time_n(n_steady, run);

    Row {
        name: lang.name,
        wasm_bytes: wasm.len() as u64,
        artifact_bytes,
        steady_run,
        steady_collect,
        first_process,
        first_duration_ms,
        first_outside,
        register_cold,
        register_again,
        read_component,
        read_artifact,
        hash_artifact,
        load_ledger,
        load_mmap,
        first_collect,
        second_collect,
        faults_per_collect,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not:
    // quick mode then, which only checks that everything works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows: Vec<Row> = languages()
        .iter()
        .map(|lang| bench(lang, &rt, quick))
        .collect();

    let w = 50;
    let header = |title: &str| {
        print!("\n{title:<w$}");
        for r in &rows {
            print!(" {:>14}", r.name);
        }
        println!();
    };
    let line = |what: &str, f: &dyn Fn(&Row) -> String| {
        print!("{what:<w$}");
        for r in &rows {
            print!(" {:>14}", f(r));
        }
        println!();
    };
    header("size");
    line("component (.wasm)", &|r| mb(r.wasm_bytes));
    line("compiled artifact (.cwasm)", &|r| mb(r.artifact_bytes));
    header("steady state, one process (p50 / p99)");
    line("Engine::run p50", &|r| ms(r.steady_run.pct(0.5)));
    line("Engine::run p99", &|r| ms(r.steady_run.pct(0.99)));
    line("Engine::run per second", &|r| {
        format!("{:.0}", r.steady_run.per_sec())
    });
    line("Sandbox::collect p50", &|r| ms(r.steady_collect.pct(0.5)));
    line("page faults per collect", &|r| {
        format!("{:.0}", r.faults_per_collect)
    });
    header("first run in a fresh process (p50)");
    line("smm run, wall clock (process start included)", &|r| {
        ms(r.first_process.pct(0.5))
    });
    line("  of which the engine's duration_ms", &|r| {
        ms(r.first_duration_ms.pct(0.5))
    });
    line("  the rest (start, lookups, append, output)", &|r| {
        ms(r.first_outside.pct(0.5))
    });
    header("where a fresh process's first run goes");
    line("read the component from the catalogue", &|r| {
        ms(r.read_component)
    });
    line("read the compiled artifact", &|r| ms(r.read_artifact));
    line("sha256 of the artifact (ledger check)", &|r| {
        ms(r.hash_artifact)
    });
    line("load, entry unchecked: read + sha256 + deserialize", &|r| {
        ms(r.load_ledger)
    });
    line("load, entry checked before: map the file", &|r| {
        ms(r.load_mmap)
    });
    line("first collect of the loaded component", &|r| {
        ms(r.first_collect)
    });
    line("second collect", &|r| ms(r.second_collect));
    header("registration (smm measure register)");
    line("fresh home (compiles)", &|r| ms(r.register_cold));
    line("same component again", &|r| ms(r.register_again));
    let floor = {
        let home = tempfile::tempdir().unwrap();
        smm(home.path(), &["instance", "list"]);
        time_n(if quick { 2 } else { 20 }, || {
            smm(home.path(), &["instance", "list"]);
        })
    };
    println!(
        "\nfloor: `smm instance list` (process start, home opened, catalogue read): {} p50",
        ms(floor.pct(0.5))
    );
    if quick {
        println!(
            "(quick mode: a few iterations; run `cargo bench -p smm-engine --bench polyglot`)"
        );
    }
}
