//! The scheduler with 100k scheduled instances: CPU used while idle, and
//! the jitter of fire times (start of a run minus its cron instant).
//!
//! `cargo bench -p smm-engine --bench scheduler`

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use smm_catalogue::{CatalogueStore, CatchUp, Instance, LimitOverrides};
use smm_engine::scheduler::{Clock, RunOutcome, Runner, Scheduler, SchedulerConfig};
use smm_engine::store::SqliteStore;

/// Records how late each run started after its whole-second fire time.
struct Recorder(Arc<Mutex<Vec<Duration>>>);

impl Runner for Recorder {
    fn run(&self, _: String) -> Pin<Box<dyn Future<Output = RunOutcome> + Send>> {
        let late = Utc::now().timestamp_subsec_nanos();
        self.0
            .lock()
            .unwrap()
            .push(Duration::from_nanos(late as u64));
        Box::pin(async { RunOutcome::Ok })
    }
}

/// CPU time (user + system) of this process, from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ = 100
}

fn instance(name: String, schedule: &str) -> Instance {
    Instance {
        name,
        measure_id: "probe".into(),
        measure_version: semver::Version::new(1, 0, 0),
        config: json!({}),
        labels: Default::default(),
        schedule: Some(schedule.into()),
        timezone: None,
        grants: vec![],
        hosts: vec![],
        secrets: vec![],
        limits: LimitOverrides::default(),
        catch_up: CatchUp::Skip,
        paused: false,
        created_at: Utc::now(),
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (total, fast, idle_secs, jitter_secs) = if quick {
        (2_000, 100, 2, 2)
    } else {
        (100_000, 1_000, 10, 10)
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smm.db");
    let store = SqliteStore::open(&path).unwrap();
    let t = Instant::now();
    for i in 0..total {
        // Daily at 03:00: never fires during the benchmark.
        store
            .insert_instance(&instance(format!("daily-{i}"), "0 0 3 * * *"))
            .unwrap();
    }
    let inserted = t.elapsed();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Idle: every instance scheduled, none due.
    let log = Arc::new(Mutex::new(Vec::new()));
    let (idle_cpu, loaded_in) = rt.block_on(async {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let scheduler = Scheduler::new(
            store,
            Arc::new(Recorder(log.clone())),
            SchedulerConfig::default(),
            Clock::System,
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let handle = tokio::spawn(scheduler.serve(async {
            let _ = rx.await;
        }));
        // Loading plans and persists 100k next fire times; wait for it.
        let reader = SqliteStore::open(&path).unwrap();
        while reader.states_now().unwrap().len() < total {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let loaded_in = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = cpu_time();
        tokio::time::sleep(Duration::from_secs(idle_secs)).await;
        let used = cpu_time() - before;
        tx.send(()).unwrap();
        handle.await.unwrap().unwrap();
        (used, loaded_in)
    });

    // Jitter: `fast` of them fire every second, among the rest.
    for i in 0..fast {
        let mut inst = instance(format!("daily-{i}"), "* * * * * *");
        inst.paused = false;
        store.update_instance(&inst).unwrap();
    }
    let mut late = rt.block_on(async {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let config = SchedulerConfig {
            concurrency: 64,
            ..SchedulerConfig::default()
        };
        let scheduler = Scheduler::new(
            store,
            Arc::new(Recorder(log.clone())),
            config,
            Clock::System,
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(scheduler.serve(async {
            let _ = rx.await;
        }));
        tokio::time::sleep(Duration::from_secs(jitter_secs + 1)).await;
        tx.send(()).unwrap();
        handle.await.unwrap().unwrap();
        log.lock().unwrap().clone()
    });
    let fires = late.len();

    println!(
        "\n{total} scheduled instances (inserted in {:.1} s; scheduler loaded and persisted plans in {:.1} s)",
        inserted.as_secs_f64(),
        loaded_in.as_secs_f64()
    );
    println!(
        "idle: {:.2} % of one core over {idle_secs} s ({} ms CPU; /proc resolution 10 ms)",
        100.0 * idle_cpu.as_secs_f64() / idle_secs as f64,
        idle_cpu.as_millis()
    );
    println!(
        "fire jitter with {fast} instances every second among {total}: {fires} fires, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&mut late, 0.5).as_secs_f64() * 1e3,
        pct(&mut late, 0.99).as_secs_f64() * 1e3,
        pct(&mut late, 1.0).as_secs_f64() * 1e3,
    );
}
