//! The scheduler behind `smm serve`: runs every scheduled instance on its
//! cron fire times until shut down.
//!
//! Invariants:
//! - One timer for all instances: a heap of fire times and one sleep until
//!   the earliest. An idle scheduler wakes only for a fire time or for the
//!   cheap catalogue-change check (`reload_every`), never per instance.
//! - Runs of one instance never overlap: a fire time that finds the
//!   previous run still going (or queued) is skipped and counted
//!   (`skipped_runs`), and reported in one line per [`SKIP_REPORT_EVERY`]
//!   however many instances skip (never a line per skipped fire). The set of runs in flight is independent of the
//!   catalogue, so deleting and re-creating an instance cannot overlap runs.
//! - The scheduler survives its store: a failed write or reload is logged
//!   and retried at the next change; only start-up needs the store.
//! - At most `concurrency` runs collect at once (a semaphore); a run gives
//!   its slot back once its work is done, before waiting for the store
//!   ([`slot`]).
//! - A failure never unschedules an instance: it is stored as an error
//!   measurement by the runner, and the next fire time is pushed back by a
//!   bounded, jittered backoff until a success restores the cadence.
//! - Every fire time, outcome and plan is persisted ([`InstanceState`]), so a
//!   restart knows what was missed ([`smm_catalogue::CatchUp`]): the states
//!   changed by the fires of one tick, or by the runs that finished
//!   together, are written in one transaction.
//! - Shutdown stops firing at once and waits up to `grace` for runs in
//!   flight; each run stores its own measurement before it completes.

mod clock;
mod port;
pub mod slot;
mod state;
mod timing;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use smm_catalogue::{CatchUp, Instance, StoreError};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

pub use clock::Clock;
pub use port::SchedulerStore;
pub use state::{InstanceState, Status};
pub use timing::{Backoff, Schedule};

/// What one run of an instance came to.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Ok,
    Failed(String),
}

/// Runs one instance and stores its measurement. The engine is the real
/// runner; tests may script one.
pub trait Runner: Send + Sync + 'static {
    fn run(&self, instance: String) -> Pin<Box<dyn Future<Output = RunOutcome> + Send>>;
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Runs collecting at once (default: the number of cores); runs
    /// waiting for the store do not count ([`slot`]).
    pub concurrency: usize,
    /// How long shutdown waits for runs in flight.
    pub grace: Duration,
    /// How often to check whether another process changed the catalogue.
    pub reload_every: Duration,
    pub backoff: Backoff,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            grace: Duration::from_secs(30),
            reload_every: Duration::from_secs(1),
            backoff: Backoff::default(),
        }
    }
}

/// What a finished `serve` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub runs: u64,
    pub failures: u64,
    pub skips: u64,
    /// Runs still going when the grace period ended (abandoned).
    pub abandoned: u64,
}

/// One scheduled instance.
struct Slot {
    instance: Instance,
    schedule: Schedule,
    /// Bumped whenever the plan changes; heap entries of older generations
    /// are stale.
    generation: u64,
    state: InstanceState,
}

struct Done {
    instance: String,
    outcome: RunOutcome,
}

pub struct Scheduler<S> {
    store: Arc<S>,
    runner: Arc<dyn Runner>,
    config: SchedulerConfig,
    clock: Clock,
    slots: HashMap<String, Slot>,
    /// Instances with a run queued or going.
    in_flight: HashSet<String>,
    heap: BinaryHeap<Reverse<(DateTime<Utc>, u64, String)>>,
    generation: u64,
    marker: i64,
    summary: Summary,
    skipped: Skipped,
    /// Instances whose state changed and is not yet persisted.
    dirty: HashSet<String>,
}

type Result<T> = std::result::Result<T, StoreError>;

/// How often skipped fire times are reported (one log line).
pub const SKIP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Skipped fire times not yet reported.
#[derive(Default)]
struct Skipped {
    count: u64,
    instances: HashSet<String>,
    since: Option<tokio::time::Instant>,
}

impl Skipped {
    fn add(&mut self, name: &str) {
        self.count += 1;
        if self.instances.len() < 5 {
            self.instances.insert(name.to_string());
        }
        self.since.get_or_insert_with(tokio::time::Instant::now);
    }

    /// Log what was skipped since the last report, once per interval (or
    /// now, when `force`).
    fn report(&mut self, force: bool) {
        let Some(since) = self.since else { return };
        if !force && since.elapsed() < SKIP_REPORT_EVERY {
            return;
        }
        let mut some: Vec<&str> = self.instances.iter().map(String::as_str).collect();
        some.sort_unstable();
        tracing::warn!(
            skipped = self.count,
            over_s = since.elapsed().as_secs(),
            "fire times skipped, their previous run still going (more instances than the engine keeps up with, or runs longer than their period), e.g. {}",
            some.join(", ")
        );
        *self = Skipped::default();
    }
}

impl<S: SchedulerStore> Scheduler<S> {
    pub fn new(
        store: Arc<S>,
        runner: Arc<dyn Runner>,
        config: SchedulerConfig,
        clock: Clock,
    ) -> Self {
        Scheduler {
            store,
            runner,
            config,
            clock,
            slots: HashMap::new(),
            in_flight: HashSet::new(),
            heap: BinaryHeap::new(),
            generation: 0,
            marker: 0,
            summary: Summary::default(),
            skipped: Skipped::default(),
            dirty: HashSet::new(),
        }
    }

    /// Run until `shutdown` completes, then drain in-flight runs. `Err` only
    /// when the catalogue cannot be read at start-up.
    pub async fn serve(mut self, shutdown: impl Future<Output = ()>) -> Result<Summary> {
        self.marker = self.store.change_marker().await?;
        self.load(true).await?;
        tracing::info!(instances = self.slots.len(), "scheduler started");
        let semaphore = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut running = JoinSet::new();
        let mut reload = tokio::time::interval(self.config.reload_every);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let wake = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let clock = self.clock;
            let sleep = clock.sleep_until(wake);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(done) = done_rx.recv() => {
                    // Every run that finished meanwhile, persisted together.
                    self.finished(done);
                    while let Ok(done) = done_rx.try_recv() {
                        self.finished(done);
                    }
                    self.persist().await;
                }
                () = sleep => {
                    let to_run = self.due();
                    for name in to_run {
                        running.spawn(run_one(
                            self.runner.clone(),
                            semaphore.clone(),
                            done_tx.clone(),
                            name,
                        ));
                    }
                    // Persist the new plans after the runs are on their way:
                    // one transaction, off the runs' critical path.
                    self.persist().await;
                    self.compact();
                    self.skipped.report(false);
                }
                _ = reload.tick() => self.reload_if_changed().await,
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        // No new runs: queued ones give up, running ones get the grace period.
        semaphore.close();
        tracing::info!(in_flight = running.len(), "shutting down: no new runs");
        let drained = tokio::time::timeout(self.config.grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        while let Ok(done) = done_rx.try_recv() {
            self.finished(done);
        }
        self.persist().await;
        self.skipped.report(true);
        if drained.is_err() {
            self.summary.abandoned = running.len() as u64;
            tracing::warn!(
                abandoned = running.len(),
                "grace period over: abandoning runs in flight"
            );
            running.abort_all();
        }
        Ok(self.summary)
    }

    /// Load every instance; at start-up, apply catch-up to missed fire times.
    async fn load(&mut self, startup: bool) -> Result<()> {
        let now = self.clock.now();
        let instances = self.store.instances().await?;
        let names: HashSet<&str> = instances.iter().map(|i| i.name.as_str()).collect();
        self.slots.retain(|name, _| names.contains(name.as_str()));
        let changed: Vec<Instance> = instances
            .into_iter()
            .filter(|i| self.slots.get(&i.name).is_none_or(|s| s.instance != *i))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let mut states: HashMap<String, InstanceState> = self
            .store
            .states()
            .await?
            .into_iter()
            .map(|s| (s.instance.clone(), s))
            .collect();
        let mut planned = Vec::new();
        for instance in changed {
            let previous = self.slots.remove(&instance.name);
            let Some(expr) = instance.schedule.clone() else {
                continue; // run by hand only
            };
            let schedule = match Schedule::parse(&expr, instance.timezone.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(instance = %instance.name, "not scheduled: {e}");
                    continue;
                }
            };
            let mut state = previous
                .map(|p| p.state)
                .or_else(|| states.remove(&instance.name))
                .unwrap_or_else(|| InstanceState::new(&instance.name));
            let signature = match &instance.timezone {
                Some(tz) => format!("{expr} @ {tz}"),
                None => expr.clone(),
            };
            if state.planned_for.as_deref() != Some(signature.as_str()) {
                // Planned for another schedule (changed meanwhile, or never
                // planned): nothing was missed of this one.
                state.next_fire = None;
                state.planned_for = Some(signature);
            }
            let plan = if instance.paused {
                None
            } else {
                match state.next_fire {
                    Some(missed) if startup && missed <= now => match instance.catch_up {
                        CatchUp::RunOnce => Some(now),
                        CatchUp::Skip => schedule.after(now),
                    },
                    // Keep a plan still ahead (and so an active backoff).
                    Some(ahead) if ahead > now => Some(ahead),
                    _ => schedule.after(now),
                }
            };
            let name = instance.name.clone();
            self.slots.insert(
                name.clone(),
                Slot {
                    instance,
                    schedule,
                    generation: 0,
                    state,
                },
            );
            self.replan(&name, plan);
            planned.push(name);
        }
        let states: Vec<InstanceState> = planned
            .iter()
            .filter_map(|n| self.slots.get(n).map(|s| s.state.clone()))
            .collect();
        self.store.save_states(states).await
    }

    async fn reload_if_changed(&mut self) {
        let result = match self.store.change_marker().await {
            Ok(marker) if marker != self.marker => self.load(false).await.map(|()| {
                self.marker = marker;
                tracing::debug!(instances = self.slots.len(), "catalogue changed: reloaded");
            }),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::error!(
                "cannot reload the catalogue (retrying in {:?}): {e}",
                self.config.reload_every
            );
        }
    }

    /// Set (or clear) an instance's next fire time and push it, without
    /// persisting it (see [`Scheduler::persist`]).
    fn replan(&mut self, name: &str, at: Option<DateTime<Utc>>) {
        self.generation += 1;
        let generation = self.generation;
        let Some(slot) = self.slots.get_mut(name) else {
            return;
        };
        slot.generation = generation;
        slot.state.next_fire = at;
        if let Some(at) = at {
            self.heap.push(Reverse((at, generation, name.to_string())));
        }
    }

    /// Persist the states changed since the last call in one go; a failure
    /// is logged and they are tried again at the next change.
    async fn persist(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let states: Vec<InstanceState> = self
            .dirty
            .iter()
            .filter_map(|n| self.slots.get(n).map(|s| s.state.clone()))
            .collect();
        let count = states.len();
        match self.store.save_states(states).await {
            Ok(()) => self.dirty.clear(),
            Err(e) => tracing::error!(instances = count, "cannot persist scheduling state: {e}"),
        }
    }

    /// Drop stale heap entries once they outnumber the live ones, so that
    /// churn (edits, pauses, deletions) cannot grow the heap without bound.
    fn compact(&mut self) {
        if self.heap.len() <= 2 * self.slots.len() + 1024 {
            return;
        }
        let slots = &self.slots;
        self.heap.retain(|Reverse((_, generation, name))| {
            slots.get(name).is_some_and(|s| s.generation == *generation)
        });
    }

    /// Pop the fire times that are due; return the instances to run now
    /// (every instance whose plan changed is marked dirty).
    fn due(&mut self) -> Vec<String> {
        let now = self.clock.now();
        let mut to_run = Vec::new();
        while let Some(Reverse((at, generation, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let generation = *generation;
            let Reverse((_, _, name)) = self.heap.pop().expect("peeked");
            let Some(slot) = self.slots.get_mut(&name) else {
                continue;
            };
            if slot.generation != generation {
                continue; // replanned since
            }
            if self.in_flight.contains(&name) {
                slot.state.skipped_runs += 1;
                self.summary.skips += 1;
                self.skipped.add(&name);
            } else {
                self.in_flight.insert(name.clone());
                to_run.push(name.clone());
            }
            let next = slot.schedule.after(now);
            self.replan(&name, next);
            self.dirty.insert(name);
        }
        to_run
    }

    /// A run finished: record it (persisted by the caller), and back off
    /// after a failure.
    fn finished(&mut self, done: Done) {
        let now = self.clock.now();
        self.summary.runs += 1;
        self.in_flight.remove(&done.instance);
        let Some(slot) = self.slots.get_mut(&done.instance) else {
            return; // deleted or unscheduled meanwhile
        };
        slot.state.last_run = Some(now);
        match &done.outcome {
            RunOutcome::Ok => {
                slot.state.last_status = Some(Status::Ok);
                slot.state.consecutive_failures = 0;
            }
            RunOutcome::Failed(reason) => {
                self.summary.failures += 1;
                slot.state.last_status = Some(Status::Error);
                slot.state.consecutive_failures += 1;
                let failures = slot.state.consecutive_failures;
                let delay = self.config.backoff.delay(&done.instance, failures);
                let earliest = now + chrono::Duration::from_std(delay).unwrap_or_default();
                let planned = slot.state.next_fire;
                let backed_off = slot.schedule.at_or_after(earliest);
                tracing::warn!(instance = %done.instance, failures, "run failed: {reason}");
                let later = planned.is_some_and(|p| backed_off.is_some_and(|b| b > p));
                if !slot.instance.paused && later {
                    let name = done.instance.clone();
                    self.replan(&name, backed_off);
                }
            }
        }
        self.dirty.insert(done.instance);
    }
}

/// One run: wait for a slot, run, report. A panicking runner is reported
/// as a failure (its instance is not left "running" for ever); a closed
/// semaphore (shutdown) means the run never starts.
async fn run_one(
    runner: Arc<dyn Runner>,
    semaphore: Arc<Semaphore>,
    done: mpsc::UnboundedSender<Done>,
    instance: String,
) {
    let Ok(permit) = semaphore.acquire_owned().await else {
        return;
    };
    let run = slot::holding(permit, runner.run(instance.clone()));
    let outcome = match tokio::spawn(run).await {
        Ok(outcome) => outcome,
        Err(e) => RunOutcome::Failed(format!("the run panicked: {e}")),
    };
    let _ = done.send(Done { instance, outcome });
}
