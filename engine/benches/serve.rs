//! `smm serve` under sustained load, in one run: N instances of a trivial
//! measure (`probe` returning a constant) and M of `sarif-findings` on the
//! 17 KB sample report, each scheduled every second, served for a fixed
//! time by `Engine::serve` (the scheduler, the sandbox and the embedded
//! SQLite store, as `smm serve` runs them; logs off).
//!
//! Reported: runs per second achieved, fires skipped (an instance still
//! running at its next fire time), CPU per run (user and system, from
//! `/proc/self/stat`), and the fire-to-stored latency (a fire is at a
//! whole second: the latency is the stored timestamp's part of a second;
//! catch-up runs at start-up are left out). Next to them, for the floor,
//! the CPU of a bare wasmtime instantiate + collect of the same trivial
//! component, timed in the same process.
//!
//! `cargo bench -p smm-engine --bench serve` (2 000 + 500 instances,
//! 16 s); without `--bench` (as under `cargo test --benches`): 50 + 10
//! instances for 3 s, checking only that runs were stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use smm_catalogue::InstanceSpec;
use smm_engine::scheduler::SchedulerConfig;
use smm_engine::{Engine, Home, Query};
use wasmtime::{Config, Engine as WasmEngine};

#[path = "common/floor.rs"]
mod floor;

const TRIVIAL: &str = r#"{"behaviour":"constant","value":1}"#;

/// CPU time of this process so far: (user, system).
fn cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let t = |i: usize| Duration::from_secs_f64(fields[i].parse::<f64>().unwrap() / ticks);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    (t(11), t(12))
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (trivial, sarif, seconds) = if quick { (50, 10, 3) } else { (2_000, 500, 16) };
    // SMM_BENCH_SERVE="trivial,sarif,seconds" sets another scenario (a
    // saturating one, say: "12000,0,16").
    let (trivial, sarif, seconds) = match std::env::var("SMM_BENCH_SERVE") {
        Ok(spec) => {
            let n: Vec<u64> = spec
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse()
                        .expect("SMM_BENCH_SERVE: trivial,sarif,seconds")
                })
                .collect();
            assert_eq!(n.len(), 3, "SMM_BENCH_SERVE: trivial,sarif,seconds");
            (n[0] as usize, n[1] as usize, n[2])
        }
        Err(_) => (trivial, sarif, seconds),
    };
    println!(
        "machine: {} cores, {} build, {} mode: {trivial} trivial + {sarif} sarif-findings instances, every second, {seconds} s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if quick { "quick" } else { "full" },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(&Home::new(home.path())).unwrap());
    let probe = smm_tests::component("probe-plugin");
    rt.block_on(async {
        engine.register_file(&probe).await.unwrap();
        engine
            .register_file(&smm_tests::component("sarif-findings"))
            .await
            .unwrap();
    });
    let samples = smm_tests::workspace()
        .join("measures/samples")
        .canonicalize()
        .unwrap();
    let every_second = Some("* * * * * *".to_string());
    for i in 0..trivial {
        engine
            .create_instance(InstanceSpec {
                schedule: every_second.clone(),
                catch_up: smm_catalogue::CatchUp::Skip,
                ..InstanceSpec::new(
                    format!("trivial-{i}"),
                    "probe",
                    serde_json::from_str(TRIVIAL).unwrap(),
                )
            })
            .unwrap();
    }
    for i in 0..sarif {
        engine
            .create_instance(InstanceSpec {
                schedule: every_second.clone(),
                catch_up: smm_catalogue::CatchUp::Skip,
                grants: vec![samples.clone()],
                ..InstanceSpec::new(
                    format!("sarif-{i}"),
                    "sarif-findings",
                    json!({"path": samples.join("flawfinder.sarif")}),
                )
            })
            .unwrap();
    }

    let started = chrono::Utc::now();
    let (user0, system0) = cpu();
    let wall = Instant::now();
    let summary = rt
        .block_on(async {
            let stop = tokio::time::sleep(Duration::from_secs(seconds));
            let mut config = SchedulerConfig::default();
            if let Ok(n) = std::env::var("SMM_BENCH_CONCURRENCY") {
                config.concurrency = n.parse().expect("SMM_BENCH_CONCURRENCY: a number");
            }
            engine.serve(config, stop).await
        })
        .unwrap();
    let elapsed = wall.elapsed();
    let (user1, system1) = cpu();
    let stored = rt
        .block_on(engine.query(&Query {
            since: Some(started),
            ..Query::default()
        }))
        .unwrap();
    assert!(!stored.is_empty(), "serve stored nothing");
    assert!(stored.iter().all(|m| m.error.is_none()), "a run failed");
    let mut latency: Vec<u32> = stored
        .iter()
        .map(|m| m.timestamp.timestamp_subsec_millis())
        .collect();
    latency.sort();
    let runs = stored.len() as f64;
    let (user, system) = (user1 - user0, system1 - system0);
    println!(
        "\nruns stored {} in {:.1} s: {:.0} runs/s; scheduler: {} runs, {} skipped fires, {} failures",
        stored.len(),
        elapsed.as_secs_f64(),
        runs / elapsed.as_secs_f64(),
        summary.runs,
        summary.skips,
        summary.failures
    );
    println!(
        "CPU per run: {:.0} µs ({:.0} user + {:.0} system)",
        (user + system).as_secs_f64() * 1e6 / runs,
        user.as_secs_f64() * 1e6 / runs,
        system.as_secs_f64() * 1e6 / runs
    );
    println!(
        "fire-to-stored latency: p50 {} ms, p99 {} ms",
        pct(&latency, 0.5),
        pct(&latency, 0.99)
    );

    // The floor: bare wasmtime, same component, CPU per call.
    let wasm = std::fs::read(&probe).unwrap();
    let floor = floor::Floor::new(WasmEngine::new(&Config::new()).unwrap(), &wasm);
    let calls = if quick { 200 } else { 20_000 };
    let (u0, s0) = cpu();
    for _ in 0..calls {
        assert_eq!(floor.collect(TRIVIAL), Some(1.0));
    }
    let (u1, s1) = cpu();
    println!(
        "floor: bare wasmtime instantiate + collect: {:.0} µs CPU per call",
        ((u1 - u0) + (s1 - s0)).as_secs_f64() * 1e6 / calls as f64
    );
}
