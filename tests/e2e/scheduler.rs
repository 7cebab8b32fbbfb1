//! The scheduler with tokio's clock paused: fire times, no overlap, backoff
//! and recovery, pause/resume/delete without restart, catch-up after
//! downtime, graceful shutdown. The store is a real SQLite database; the
//! runner is scripted (how long each run takes, whether it fails) so that
//! the scheduling rules are what is under test.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use smm_catalogue::{CatalogueStore, CatchUp, Instance, LimitOverrides};
use smm_engine::scheduler::{
    Backoff, Clock, InstanceState, RunOutcome, Runner, Scheduler, SchedulerConfig, SchedulerStore,
    Status,
};
use smm_engine::store::SqliteStore;
use tokio::sync::oneshot;

fn origin() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// Seconds since `origin()`.
fn secs(t: DateTime<Utc>) -> f64 {
    (t - origin()).num_milliseconds() as f64 / 1000.0
}

#[derive(Default)]
struct Script {
    /// Per instance: (duration, succeeds) of the next runs; then 0 s, success.
    plan: Mutex<HashMap<String, VecDeque<(f64, bool)>>>,
    /// (instance, start, end) of every run, in virtual time.
    log: Mutex<Vec<(String, f64, f64)>>,
}

struct ScriptRunner {
    script: Arc<Script>,
    clock: Clock,
}

impl Runner for ScriptRunner {
    fn run(&self, instance: String) -> Pin<Box<dyn Future<Output = RunOutcome> + Send>> {
        let script = self.script.clone();
        let clock = self.clock;
        Box::pin(async move {
            let start = secs(clock.now());
            let (took, ok) = script
                .plan
                .lock()
                .unwrap()
                .get_mut(&instance)
                .and_then(VecDeque::pop_front)
                .unwrap_or((0.0, true));
            assert!(took >= 0.0, "scripted panic in the runner");
            tokio::time::sleep(Duration::from_secs_f64(took)).await;
            script
                .log
                .lock()
                .unwrap()
                .push((instance, start, secs(clock.now())));
            if ok {
                RunOutcome::Ok
            } else {
                RunOutcome::Failed("scripted failure".into())
            }
        })
    }
}

impl Script {
    fn starts(&self, instance: &str) -> Vec<f64> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(i, _, _)| i == instance)
            .map(|(_, s, _)| *s)
            .collect()
    }
    fn runs(&self) -> Vec<(String, f64, f64)> {
        self.log.lock().unwrap().clone()
    }
}

fn instance(name: &str, schedule: &str) -> Instance {
    Instance {
        name: name.into(),
        measure_id: "probe".into(),
        measure_version: semver::Version::new(1, 0, 0),
        config: json!({}),
        labels: BTreeMap::new(),
        schedule: Some(schedule.into()),
        timezone: None,
        grants: vec![],
        hosts: vec![],
        secrets: vec![],
        limits: LimitOverrides::default(),
        catch_up: CatchUp::RunOnce,
        paused: false,
        created_at: origin(),
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    /// The scheduler's connection.
    store: Arc<SqliteStore>,
    /// Another process's connection (a concurrent `smm instance ...`).
    other: SqliteStore,
    script: Arc<Script>,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smm.db");
        Harness {
            store: Arc::new(SqliteStore::open(&path).unwrap()),
            other: SqliteStore::open(&path).unwrap(),
            path,
            _dir: dir,
            script: Arc::new(Script::default()),
        }
    }

    fn add(&self, i: Instance) {
        assert!(self.other.insert_instance(&i).unwrap());
    }

    /// Start serving with a clock at `origin() + offset`; returns the stop switch.
    fn serve(
        &self,
        offset: f64,
        grace: f64,
    ) -> (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<smm_engine::scheduler::Summary>,
    ) {
        let clock =
            Clock::starting_at(origin() + chrono::Duration::milliseconds((offset * 1000.0) as i64));
        let store = Arc::new(SqliteStore::open(&self.path).unwrap());
        let runner = Arc::new(ScriptRunner {
            script: self.script.clone(),
            clock,
        });
        let config = SchedulerConfig {
            concurrency: 4,
            grace: Duration::from_secs_f64(grace),
            reload_every: Duration::from_secs(1),
            backoff: Backoff {
                base: Duration::from_secs(2),
                max: Duration::from_secs(16),
                jitter: 0.0,
            },
        };
        let scheduler = Scheduler::new(store, runner, config, clock);
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            scheduler
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .unwrap()
        });
        (tx, handle)
    }

    fn state(&self, name: &str) -> InstanceState {
        self.store
            .states_now()
            .unwrap()
            .into_iter()
            .find(|s| s.instance == name)
            .unwrap()
    }
}

async fn advance(seconds: f64) {
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
}

#[tokio::test(start_paused = true)]
async fn instances_fire_on_their_cron_times() {
    let h = Harness::new();
    h.add(instance("every-10s", "*/10 * * * * *"));
    h.add(instance("hourly", "0 0 * * * *"));
    let mut manual = instance("manual", "* * * * * *");
    manual.schedule = None;
    h.add(manual);
    let (stop, done) = h.serve(0.5, 5.0);
    advance(35.0).await;
    stop.send(()).unwrap();
    let summary = done.await.unwrap();
    assert_eq!(h.script.starts("every-10s"), vec![10.0, 20.0, 30.0]);
    assert!(h.script.starts("hourly").is_empty());
    assert!(h.script.starts("manual").is_empty(), "no schedule, no run");
    assert_eq!(summary.runs, 3);
    let state = h.state("every-10s");
    assert_eq!(state.last_status, Some(Status::Ok));
    assert_eq!(state.next_fire.map(secs), Some(40.0));
    assert_eq!(h.state("hourly").next_fire.map(secs), Some(3600.0));
}

#[tokio::test(start_paused = true)]
async fn runs_of_one_instance_never_overlap_and_skips_are_recorded() {
    let h = Harness::new();
    h.add(instance("slow", "* * * * * *"));
    h.script
        .plan
        .lock()
        .unwrap()
        .insert("slow".into(), VecDeque::from(vec![(2.5, true); 10]));
    let (stop, done) = h.serve(0.5, 5.0);
    advance(10.2).await;
    stop.send(()).unwrap();
    let summary = done.await.unwrap();
    let runs = h.script.runs();
    for pair in runs.windows(2) {
        assert!(pair[1].1 >= pair[0].2, "overlap: {pair:?}");
    }
    assert_eq!(h.script.starts("slow"), vec![1.0, 4.0, 7.0, 10.0]);
    assert!(summary.skips >= 6, "{summary:?}");
    assert_eq!(h.state("slow").skipped_runs, summary.skips);
}

/// Log lines written while a test runs (on the test's thread, where the
/// paused runtime polls every task).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn at_saturation_skips_are_reported_once_per_interval_and_no_instance_starves() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let h = Harness::new();
    // 20 instances every second, each run 1.5 s, 4 at once: the engine
    // keeps up with 2.7 runs a second of the 20 asked for.
    let names: Vec<String> = (0..20).map(|i| format!("busy-{i:02}")).collect();
    for name in &names {
        h.add(instance(name, "* * * * * *"));
        h.script
            .plan
            .lock()
            .unwrap()
            .insert(name.clone(), VecDeque::from(vec![(1.5, true); 100]));
    }
    let (stop, done) = h.serve(0.5, 5.0);
    advance(35.2).await;
    stop.send(()).unwrap();
    let summary = done.await.unwrap();
    assert!(summary.skips > 400, "{summary:?}");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let reports: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("fire times skipped"))
        .collect();
    // One line per 10 s (35 s: 3 or 4) and one at shutdown, not 400.
    assert!(
        (3..=5).contains(&reports.len()),
        "{} report lines:\n{text}",
        reports.len()
    );
    let reported: u64 = reports
        .iter()
        .map(|l| {
            let n = l.split("skipped=").nth(1).unwrap();
            n.split_whitespace().next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(reported, summary.skips, "every skip is counted in a report");
    // Fair: the permits are handed out in order, so every instance gets
    // its turn (35 s × 2.7 runs/s over 20 instances: about 4 each).
    for name in &names {
        let runs = h.script.starts(name).len();
        assert!(runs >= 3, "{name} ran {runs} times: starved");
    }
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_and_a_success_restores_the_cadence() {
    let h = Harness::new();
    h.add(instance("flaky", "* * * * * *"));
    h.script.plan.lock().unwrap().insert(
        "flaky".into(),
        VecDeque::from(vec![(0.0, false), (0.0, false), (0.0, false), (0.0, false)]),
    );
    let (stop, done) = h.serve(0.5, 5.0);
    advance(6.0).await;
    assert_eq!(
        h.state("flaky").consecutive_failures,
        2,
        "still scheduled, failures counted"
    );
    advance(40.0).await;
    stop.send(()).unwrap();
    done.await.unwrap();
    let starts = h.script.starts("flaky");
    // Failures at 1, 3 (2 s later), 7 (4 s), 15 (8 s); the success at 31
    // (16 s, the cap) restores the one-second cadence.
    assert_eq!(&starts[..5], &[1.0, 3.0, 7.0, 15.0, 31.0], "{starts:?}");
    assert_eq!(&starts[5..8], &[32.0, 33.0, 34.0], "{starts:?}");
    let state = h.state("flaky");
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.last_status, Some(Status::Ok));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_run_is_a_failure_and_the_instance_keeps_its_schedule() {
    let h = Harness::new();
    h.add(instance("crashy", "* * * * * *"));
    h.script
        .plan
        .lock()
        .unwrap()
        .insert("crashy".into(), VecDeque::from(vec![(-1.0, true)]));
    let (stop, done) = h.serve(0.5, 5.0);
    advance(8.0).await;
    stop.send(()).unwrap();
    let summary = done.await.unwrap();
    assert_eq!(summary.failures, 1, "{summary:?}");
    // Failed at 1 (panic), backed off 2 s: runs again at 3, then every second.
    assert_eq!(
        h.script.starts("crashy"),
        vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    );
    assert_eq!(h.state("crashy").last_status, Some(Status::Ok));
}

#[tokio::test(start_paused = true)]
async fn changes_from_another_process_take_effect_without_restart() {
    let h = Harness::new();
    h.add(instance("a", "* * * * * *"));
    let (stop, done) = h.serve(0.5, 5.0);
    advance(3.0).await; // runs at 1, 2, 3
    let mut paused = h.other.instance("a").unwrap().unwrap();
    paused.paused = true;
    h.other.update_instance(&paused).unwrap();
    h.add(instance("b", "*/2 * * * * *"));
    advance(5.0).await; // 3.5 .. 8.5: a paused, b added
    let mut resumed = paused.clone();
    resumed.paused = false;
    h.other.update_instance(&resumed).unwrap();
    h.other.delete_instance("b").unwrap();
    advance(4.0).await; // 8.5 .. 12.5
    stop.send(()).unwrap();
    done.await.unwrap();
    let a = h.script.starts("a");
    assert!(
        a.iter().all(|&t| !(5.0..9.0).contains(&t)),
        "no run while paused: {a:?}"
    );
    assert!(a.iter().any(|&t| t >= 10.0), "resumed: {a:?}");
    let b = h.script.starts("b");
    assert!(
        !b.is_empty() && b.iter().all(|&t| t <= 10.0),
        "created then deleted: {b:?}"
    );
    assert!(
        !h.store
            .states_now()
            .unwrap()
            .iter()
            .any(|s| s.instance == "b"),
        "a deleted instance leaves no state"
    );
}

#[tokio::test(start_paused = true)]
async fn after_downtime_run_once_catches_up_and_skip_waits() {
    let h = Harness::new();
    let mut skip = instance("skip", "0 0 * * * *");
    skip.catch_up = CatchUp::Skip;
    h.add(instance("run-once", "0 0 * * * *"));
    h.add(skip);
    for name in ["run-once", "skip"] {
        let mut s = InstanceState::new(name);
        s.next_fire = Some(origin() + chrono::Duration::hours(1));
        s.planned_for = Some("0 0 * * * *".into());
        h.store.save_states(vec![s]).await.unwrap();
    }
    // The engine comes back at 05:00:30: five hourly fire times were missed.
    let restart = 5.0 * 3600.0 + 30.0;
    let (stop, done) = h.serve(restart, 5.0);
    advance(60.0).await;
    stop.send(()).unwrap();
    done.await.unwrap();
    assert_eq!(
        h.script.starts("run-once"),
        vec![restart],
        "one catch-up run, not five"
    );
    assert!(h.script.starts("skip").is_empty());
    assert_eq!(h.state("skip").next_fire.map(secs), Some(6.0 * 3600.0));
    assert_eq!(h.state("run-once").next_fire.map(secs), Some(6.0 * 3600.0));
}

#[tokio::test(start_paused = true)]
async fn a_schedule_changed_during_downtime_is_planned_afresh() {
    let h = Harness::new();
    h.add(instance("changed", "0 0 3 * * *"));
    let (stop, done) = h.serve(0.5, 5.0);
    advance(2.0).await;
    stop.send(()).unwrap();
    done.await.unwrap();
    assert_eq!(h.state("changed").next_fire.map(secs), Some(3.0 * 3600.0));
    // While no scheduler runs, the instance moves to every 10 s.
    let mut i = h.other.instance("changed").unwrap().unwrap();
    i.schedule = Some("*/10 * * * * *".into());
    h.other.update_instance(&i).unwrap();
    let (stop, done) = h.serve(3.0, 5.0);
    advance(18.0).await;
    stop.send(()).unwrap();
    done.await.unwrap();
    assert_eq!(
        h.script.starts("changed"),
        vec![10.0, 20.0],
        "not 03:00, and no catch-up"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_runs_in_flight_up_to_the_grace_period() {
    let h = Harness::new();
    h.add(instance("long", "*/10 * * * * *"));
    h.script.plan.lock().unwrap().insert(
        "long".into(),
        VecDeque::from(vec![(3.0, true), (30.0, true)]),
    );
    let (stop, done) = h.serve(0.5, 5.0);
    advance(11.0).await; // the run started at 10 is in flight
    stop.send(()).unwrap();
    let summary = done.await.unwrap();
    assert_eq!(summary.abandoned, 0);
    assert_eq!(h.script.runs().len(), 1, "the run in flight finished");
    assert_eq!(
        h.state("long").last_status,
        Some(Status::Ok),
        "and its outcome was recorded"
    );

    // A run longer than the grace period is abandoned, and serve still returns.
    let (stop, done) = h.serve(15.0, 5.0);
    advance(6.0).await; // starts at 20, takes 30 s
    stop.send(()).unwrap();
    let summary = done.await.unwrap();
    assert_eq!(summary.abandoned, 1);
    assert_eq!(h.script.runs().len(), 1);
}

/// A run that works `work` seconds holding its slot, gives it back, then
/// waits `wait` seconds (as for the store); logs (instance, start, slot
/// given back, end).
struct StoringRunner {
    clock: Clock,
    work: f64,
    wait: f64,
    log: Arc<Mutex<Vec<Stored>>>,
}

/// (instance, start, slot given back, end) of a run.
type Stored = (String, f64, f64, f64);

impl Runner for StoringRunner {
    fn run(&self, instance: String) -> Pin<Box<dyn Future<Output = RunOutcome> + Send>> {
        let (clock, work, wait, log) = (self.clock, self.work, self.wait, self.log.clone());
        Box::pin(async move {
            let start = secs(clock.now());
            tokio::time::sleep(Duration::from_secs_f64(work)).await;
            smm_engine::scheduler::slot::release();
            let released = secs(clock.now());
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            log.lock()
                .unwrap()
                .push((instance, start, released, secs(clock.now())));
            RunOutcome::Ok
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_waiting_for_the_store_gives_its_slot_to_the_next() {
    let h = Harness::new();
    for name in ["a", "b", "c"] {
        h.add(instance(name, "*/10 * * * * *"));
    }
    let clock = Clock::starting_at(origin() + chrono::Duration::milliseconds(500));
    let log = Arc::new(Mutex::new(Vec::new()));
    let runner = Arc::new(StoringRunner {
        clock,
        work: 1.0,
        wait: 5.0,
        log: log.clone(),
    });
    let config = SchedulerConfig {
        concurrency: 1,
        ..SchedulerConfig::default()
    };
    let store = Arc::new(SqliteStore::open(&h.path).unwrap());
    let scheduler = Scheduler::new(store, runner, config, clock);
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        scheduler
            .serve(async {
                let _ = rx.await;
            })
            .await
            .unwrap()
    });
    advance(18.0).await;
    tx.send(()).unwrap();
    let summary = done.await.unwrap();
    let mut runs = log.lock().unwrap().clone();
    runs.sort_by(|x, y| x.1.total_cmp(&y.1));
    // One slot: the three fire at 10 s and work one after the other, each
    // starting when the previous one gave its slot back, not when it was
    // stored (else: 10, 16, 22).
    let starts: Vec<f64> = runs.iter().map(|r| r.1).collect();
    assert_eq!(starts, [10.0, 11.0, 12.0], "{runs:?}");
    for pair in runs.windows(2) {
        assert!(pair[1].1 >= pair[0].2, "two runs worked at once: {pair:?}");
    }
    let ends: Vec<f64> = runs.iter().map(|r| r.3).collect();
    assert_eq!(ends, [16.0, 17.0, 18.0], "{runs:?}");
    assert_eq!(summary.skips, 0, "{summary:?}");
}
