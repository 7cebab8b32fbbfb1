//! Collection latency and throughput, in one run, against two references:
//!
//! - **floor**: bare wasmtime with the same component: a pooling engine,
//!   `InstancePre`, a fresh `Store` + empty WASI context per call, then
//!   `collect()`; no limits, no validation, no storage.
//! - **engine collect**: `Sandbox::collect` (fresh store, WASI grants,
//!   epoch deadline + async timeout, memory limiter, output validation),
//!   driven by `block_on` on a current-thread tokio runtime.
//! - **engine run**: `Engine::run` (the above + the catalogue lookups +
//!   appending the measurement to a file-backed SQLite store).
//! - **process per collection**: spawning `/bin/echo` with a JSON
//!   measurement and reading its stdout: the least an exec-style collector
//!   pays per collection.
//!
//! The measure is `probe` with `{"behaviour":"constant"}`: trivial work, so
//! the figures are the per-collection overhead. The first three run
//! interleaved, in alternating batches of 50 calls, so that drift of this
//! shared machine lands on every side; their ratios are the median of the
//! per-round ratios of medians. Spawning is timed apart.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use smm_catalogue::InstanceSpec;
use smm_engine::sandbox::{Limits, Sandbox, SandboxConfig, sha256_hex};
use smm_engine::{Engine, Home};
use wasmtime::{Config, Engine as WasmEngine, InstanceAllocationStrategy, PoolingAllocationConfig};

#[path = "common/floor.rs"]
mod floor;

const CONFIG: &str = r#"{"behaviour":"constant","value":1}"#;

struct Stats {
    name: &'static str,
    samples: Vec<Duration>,
    total: Duration,
}

impl Stats {
    fn pct(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        s[((s.len() as f64 - 1.0) * p).round() as usize]
    }
    fn per_sec(&self) -> f64 {
        self.samples.len() as f64 / self.total.as_secs_f64()
    }
}

fn measure(name: &'static str, iterations: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..iterations.min(200) / 10 {
        f(); // warm-up
    }
    let mut samples = Vec::with_capacity(iterations);
    let start = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    Stats {
        name,
        samples,
        total: start.elapsed(),
    }
}

/// One side of an interleaved comparison.
struct Side<'a> {
    name: &'static str,
    call: Box<dyn FnMut() + 'a>,
}

/// Run the sides in alternating batches of `batch` calls, `rounds` times,
/// so that drift of this shared machine lands on every side. Returns each
/// side's stats and, per round, each side's median call.
fn interleave(
    sides: Vec<Side<'_>>,
    rounds: usize,
    batch: usize,
) -> (Vec<Stats>, Vec<Vec<Duration>>) {
    let mut sides = sides;
    for side in sides.iter_mut() {
        for _ in 0..batch {
            (side.call)(); // warm-up
        }
    }
    let mut stats: Vec<Stats> = sides
        .iter()
        .map(|s| Stats {
            name: s.name,
            samples: Vec::with_capacity(rounds * batch),
            total: Duration::ZERO,
        })
        .collect();
    let mut medians = vec![Vec::with_capacity(rounds); sides.len()];
    for _ in 0..rounds {
        for (i, side) in sides.iter_mut().enumerate() {
            let mut round = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..batch {
                let t = Instant::now();
                (side.call)();
                round.push(t.elapsed());
            }
            stats[i].total += start.elapsed();
            stats[i].samples.extend_from_slice(&round);
            round.sort();
            medians[i].push(round[round.len() / 2]);
        }
    }
    (stats, medians)
}

/// The median over rounds of side `a`'s median call over side `b`'s.
fn paired_ratio(medians: &[Vec<Duration>], a: usize, b: usize) -> f64 {
    let mut r: Vec<f64> = medians[a]
        .iter()
        .zip(&medians[b])
        .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
        .collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // else useful: keep the quick mode for the latter.
    let quick = !std::env::args().any(|a| a == "--bench");
    // Alternating batches of 50 calls per side, 400 rounds (20 000 calls
    // each); spawning is timed apart (it is 30x slower).
    let (rounds, batch) = if quick { (4, 50) } else { (400, 50) };
    let n_spawn = if quick { 20 } else { 2_000 };

    let wasm_path = smm_tests::component("probe-plugin");
    let wasm = std::fs::read(&wasm_path).unwrap();

    // Floor: bare wasmtime.
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(64)
        .total_memories(128)
        .total_tables(512)
        .total_core_instances(1024);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let floor = floor::Floor::new(WasmEngine::new(&config).unwrap(), &wasm);
    let bare = || assert_eq!(floor.collect(CONFIG), Some(1.0));

    // The engine is async (a deadline must also stop host waits); drive it
    // from a current-thread runtime, as a single collection would be.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // The engine's sandbox alone.
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let sha = sha256_hex(&wasm);
    let prepared = rt.block_on(sandbox.prepare(&sha, &wasm)).unwrap();
    let limits = Limits::default();
    // One granted directory of its own (a grant may not hold the home).
    let granted = tempfile::tempdir().unwrap();
    let grants = vec![granted.path().canonicalize().unwrap()];
    let collect = || {
        let c = rt
            .block_on(sandbox.collect(
                &prepared,
                CONFIG,
                &smm_engine::sandbox::Access::dirs(&grants),
                &limits,
            ))
            .unwrap();
        assert_eq!(c.value, Some(1.0));
    };

    // The whole engine: catalogue lookups, collect, SQLite append.
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    rt.block_on(engine.register_file(&wasm_path)).unwrap();
    engine
        .create_instance(InstanceSpec {
            labels: BTreeMap::from([("team".to_string(), "bench".to_string())]),
            grants: grants.clone(),
            ..InstanceSpec::new(
                "bench",
                "probe",
                json!({"behaviour": "constant", "value": 1}),
            )
        })
        .unwrap();
    let run = || {
        let m = rt.block_on(engine.run("bench")).unwrap();
        assert_eq!(m.value, Some(1.0));
    };
    let (stats, medians) = interleave(
        vec![
            Side {
                name: "floor: bare wasmtime instantiate + collect",
                call: Box::new(bare),
            },
            Side {
                name: "engine: sandboxed collect (limits, 1 grant, validation)",
                call: Box::new(collect),
            },
            Side {
                name: "engine: smm run (lookups + collect + SQLite append)",
                call: Box::new(run),
            },
        ],
        rounds,
        batch,
    );
    let [bare, collect, run]: [Stats; 3] = stats.try_into().ok().unwrap();

    let spawn = measure(
        "process per collection (/bin/echo + read stdout)",
        n_spawn,
        || {
            let out = Command::new("/bin/echo")
                .arg(r#"{"value":1}"#)
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["value"], 1);
        },
    );

    println!(
        "\n{:<58} {:>10} {:>10} {:>12}",
        "per collection", "p50", "p99", "per second"
    );
    for s in [&bare, &collect, &run, &spawn] {
        println!(
            "{:<58} {:>10} {:>10} {:>12.0}",
            s.name,
            us(s.pct(0.5)),
            us(s.pct(0.99)),
            s.per_sec()
        );
    }
    let ratio = |a: &Stats, b: &Stats| a.pct(0.5).as_secs_f64() / b.pct(0.5).as_secs_f64();
    println!(
        "\ninterleaved in {rounds} rounds of {batch} calls per side; ratios are the median of the per-round ratios of medians"
    );
    println!(
        "engine collect / floor:       {:.2}x   (target <= 1.5x)",
        paired_ratio(&medians, 1, 0)
    );
    println!(
        "engine run / floor:           {:.2}x",
        paired_ratio(&medians, 2, 0)
    );
    println!(
        "engine run / engine collect:  {:.2}x",
        paired_ratio(&medians, 2, 1)
    );
    println!(
        "process / engine run (p50):   {:.0}x   (target >= 100x)",
        ratio(&spawn, &run)
    );
    println!(
        "process / engine collect:     {:.0}x",
        ratio(&spawn, &collect)
    );
}
