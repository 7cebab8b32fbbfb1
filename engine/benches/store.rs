//! The measurement path's storage, in one run, each figure next to its
//! reference:
//!
//! 1. **run path vs collect (SQLite)**: `Engine::run_all` of a `probe`
//!    instance returning a constant (instance lookup + sandboxed collect +
//!    append to the embedded SQLite store) against the sandboxed collect
//!    alone (as `collect.rs` measures it, on the engine's own sandbox), and
//!    for context the embedded store's append alone. Each is timed call by
//!    call in rounds of alternating batches, so that drift of this shared
//!    machine lands on every side; the ratio is the median of the
//!    per-round ratios (target ≤ 2×).
//! 2. **append rate to Elasticsearch**: measurements appended per second
//!    through `ElasticsearchStore` by concurrent appenders, each appending
//!    one measurement at a time (as `smm serve`'s runs do), against the
//!    in-process stand-in; next to a hand-rolled NDJSON bulk of the same
//!    documents (the backend's own encoding, checked identical afterwards),
//!    POSTed in batches of 1000 with a plain HTTP client. Each run has a
//!    fresh stand-in and data stream; the sides run store, hand, hand,
//!    store (target ≥ 0.8× of the hand-rolled rate). The embedded SQLite
//!    store's rate with the same appenders is printed for context.
//! 3. **resident memory during a spool**: the stand-in stopped, appends go
//!    to the durable spool on disk; the process RSS is sampled as they go
//!    and must stay flat (the writer's queue is bounded). Runs in a
//!    process of its own, so that memory freed by the sections above
//!    cannot hide growth.
//!
//! `cargo bench -p smm-engine --bench store` (add `-- run`, `-- append` or
//! `-- spool` for one section); without `--bench` (as under `cargo test`)
//! it runs with tiny sizes in a few seconds and checks only that every
//! measurement landed where it should, nothing about timings.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smm_catalogue::InstanceSpec;
use smm_engine::config::{Auth, BulkConfig, ElasticsearchConfig};
use smm_engine::conformance::{measurement, t};
use smm_engine::sandbox::{Limits, sha256_hex};
use smm_engine::store::elasticsearch::encode_document;
use smm_engine::store::{Appended, ElasticsearchStore, MeasurementStore, SqliteStore};
use smm_engine::{Engine, Home, Measurement};
use smm_tests::elasticsearch::EsServer;

const CONFIG: &str = r#"{"behaviour":"constant","value":1}"#;
const NAMESPACE: &str = "default";
const DS: &str = "metrics-smm.measurements-default";
/// Concurrent appenders (as many runs in flight in `smm serve`).
const APPENDERS: usize = 64;
/// Documents per hand-rolled bulk request (the store's `max_actions`).
const HAND_BATCH: usize = 1000;

struct Sizes {
    /// Section 1: batches of `batch` calls per side, `rounds` times.
    batch: usize,
    rounds: usize,
    /// Section 2: measurements appended per side.
    appends: usize,
    /// Section 3: measurements spooled, RSS sampled every `sample_every`.
    spooled: usize,
    sample_every: usize,
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // else useful: keep the quick mode for the latter.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes = if quick {
        Sizes {
            batch: 20,
            rounds: 5,
            appends: 2_000,
            spooled: 20_000,
            sample_every: 2_000,
        }
    } else {
        Sizes {
            batch: 50,
            rounds: 400,
            appends: 100_000,
            spooled: 1_000_000,
            sample_every: 50_000,
        }
    };
    // Set for the spool section's own process (see below).
    const CHILD: &str = "SMM_BENCH_STORE_SPOOL_CHILD";
    if std::env::var_os(CHILD).is_none() {
        println!(
            "machine: {} cores ({}), {} build, {} mode",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            if quick {
                "quick (tiny sizes, pass --bench for the full run)"
            } else {
                "full"
            },
        );
    }

    // Sections by name (`cargo bench -p smm-engine --bench store -- spool`
    // runs only the third); all of them by default.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected = |name: &str| only.is_empty() || only.iter().any(|o| o == name);

    if selected("run") {
        run_vs_collect(&sizes);
    }
    // The engine's own runtime shape: `smm` builds a default multi-thread
    // runtime (one worker per core).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if selected("append") {
        rt.block_on(append_rates(&sizes));
    }
    if only.iter().any(|o| o == "spool") {
        rt.block_on(spool_memory(&sizes));
    } else if only.is_empty() {
        // In a fresh process: memory the sections above freed but the
        // allocator kept would otherwise absorb growth and hide a leak.
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.arg("spool").env(CHILD, "1");
        if !quick {
            child.arg("--bench");
        }
        let status = child.status().unwrap();
        assert!(status.success(), "the spool section failed: {status}");
    }
}

// ---- 1. run path vs collect -------------------------------------------------

fn run_vs_collect(sizes: &Sizes) {
    let wasm_path = smm_tests::component("probe-plugin");
    let wasm = std::fs::read(&wasm_path).unwrap();
    // As collect.rs: one collection is driven from a current-thread runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    rt.block_on(engine.register_file(&wasm_path)).unwrap();
    // One granted directory of its own (a grant may not hold the home).
    let granted = tempfile::tempdir().unwrap();
    let grants = vec![granted.path().canonicalize().unwrap()];
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
    // The collect side uses the engine's own sandbox (same pooling
    // allocator, same prepared component), with what the instance has.
    let prepared = rt
        .block_on(engine.sandbox().unwrap().prepare(&sha256_hex(&wasm), &wasm))
        .unwrap();
    let limits = Limits::default();

    let collect = || {
        let c = rt
            .block_on(engine.sandbox().unwrap().collect(
                &prepared,
                CONFIG,
                &smm_engine::sandbox::Access::dirs(&grants),
                &limits,
            ))
            .unwrap();
        assert_eq!(c.value, Some(1.0));
        None
    };
    let run = || {
        let all = rt.block_on(engine.run_all("bench")).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].measurement.value, Some(1.0));
        Some(all[0].outcome)
    };

    // For context: the embedded store's append of one new measurement
    // alone, from the same runtime (every one stored: a distinct id).
    let appended = std::cell::Cell::new(0usize);
    let append = || {
        let k = appended.get();
        appended.set(k + 1);
        let m = measurement(
            "bench-append",
            "probe",
            t(k as i64),
            1.0,
            &[("team", "bench")],
        );
        let outcome = rt
            .block_on(engine.measurements().append(std::slice::from_ref(&m)))
            .unwrap();
        assert_eq!(outcome, vec![Appended::Stored]);
        None
    };
    let sides: [(&str, &dyn Fn() -> Option<Appended>); 3] = [
        (
            "sandboxed collect (engine sandbox, limits, 1 grant)",
            &collect,
        ),
        (
            "smm run path: Engine::run_all (lookup + collect + append)",
            &run,
        ),
        (
            "  context: SQLite append of 1 new measurement alone",
            &append,
        ),
    ];

    // Warm-up: compiled code, caches, the database's first pages.
    for _ in 0..sizes.batch * 2 {
        for (_, f) in &sides {
            f();
        }
    }

    let mut samples: Vec<Vec<Duration>> =
        vec![Vec::with_capacity(sizes.batch * sizes.rounds); sides.len()];
    let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
    let mut ratios = Vec::with_capacity(sizes.rounds);
    let started = Instant::now();
    for round in 0..sizes.rounds {
        let mut totals = [Duration::ZERO; 3];
        // Rotate which side goes first, so none always follows another.
        for j in 0..sides.len() {
            let side = (round + j) % sides.len();
            for _ in 0..sizes.batch {
                let t0 = Instant::now();
                let outcome = sides[side].1();
                let d = t0.elapsed();
                totals[side] += d;
                samples[side].push(d);
                if let Some(a) = outcome {
                    *outcomes.entry(a.as_str()).or_default() += 1;
                }
            }
        }
        ratios.push(totals[1].as_secs_f64() / totals[0].as_secs_f64());
    }
    let wall = started.elapsed();
    let ratio = median(&mut ratios);

    println!(
        "\n1. run path vs sandboxed collect, embedded SQLite store \
         ({} rounds of {} calls per side, sides alternating, {:.1} s)",
        sizes.rounds,
        sizes.batch,
        wall.as_secs_f64()
    );
    println!(
        "{:<60} {:>10} {:>10} {:>10}",
        "per call", "p50", "p99", "mean"
    );
    for ((name, _), samples) in sides.iter().zip(&mut samples) {
        samples.sort();
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        println!(
            "{:<60} {:>10} {:>10} {:>10}",
            name,
            us(pct(samples, 0.5)),
            us(pct(samples, 0.99)),
            us(mean)
        );
    }
    println!(
        "run path / collect: {ratio:.2}x (median of {} per-round ratios; \
         min {:.2}x, max {:.2}x)   target <= 2.0x",
        ratios.len(),
        ratios[0],
        ratios[ratios.len() - 1],
    );
    let count = |k: &str| outcomes.get(k).copied().unwrap_or(0);
    assert_eq!(
        count("stored") + count("already stored"),
        samples[1].len(),
        "{outcomes:?}"
    );
    println!(
        "  the run path's appends: {} stored, {} already stored \
         (runs in the same millisecond share an id: the store keeps one)",
        count("stored"),
        count("already stored")
    );
}

// ---- 2. append rates ----------------------------------------------------------

fn es_config(url: &str) -> ElasticsearchConfig {
    ElasticsearchConfig {
        urls: vec![url.to_string()],
        namespace: NAMESPACE.into(),
        ca_file: None,
        auth: Auth::default(),
        bulk: BulkConfig::default(),
        request_timeout: Duration::from_secs(30),
        retry_for: Duration::from_secs(10),
    }
}

/// The `k`-th measurement of a run: 64 instances, two labels.
fn nth(k: usize) -> Measurement {
    measurement(
        &format!("svc-{:02}", k % APPENDERS),
        "findings",
        t(k as i64),
        k as f64,
        &[("team", "pay"), ("service", "api")],
    )
}

/// `APPENDERS` tasks appending `all` one measurement at a time; the wall
/// time and what the store answered.
async fn append_concurrently(
    store: Arc<dyn MeasurementStore>,
    all: Arc<Vec<Measurement>>,
) -> (Duration, HashMap<&'static str, usize>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..APPENDERS {
        let (store, all, next) = (store.clone(), all.clone(), next.clone());
        tasks.spawn(async move {
            let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= all.len() {
                    return outcomes;
                }
                for a in store.append(&all[i..=i]).await.unwrap() {
                    *outcomes.entry(a.as_str()).or_default() += 1;
                }
            }
        });
    }
    let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        for (k, v) in done.unwrap() {
            *outcomes.entry(k).or_default() += v;
        }
    }
    (started.elapsed(), outcomes)
}

/// Encode and POST `all` as NDJSON `create` bulks of `HAND_BATCH`, one
/// request at a time, checking each answer; the wall time.
async fn hand_rolled(url: &str, all: &[Measurement]) -> Duration {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let endpoint = format!("{url}/{DS}/_bulk");
    let started = Instant::now();
    for chunk in all.chunks(HAND_BATCH) {
        let mut body = Vec::with_capacity(chunk.len() * 700);
        for m in chunk {
            body.extend_from_slice(b"{\"create\":{\"_id\":\"");
            body.extend_from_slice(m.id.as_bytes());
            body.extend_from_slice(b"\"}}\n");
            // The same documents: the backend's own encoding.
            body.extend_from_slice(&encode_document(m, NAMESPACE));
            body.push(b'\n');
        }
        let answer = client
            .post(&endpoint)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        let answer: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
        assert_eq!(answer["errors"], false, "{answer}");
        assert_eq!(answer["items"].as_array().map(Vec::len), Some(chunk.len()));
    }
    started.elapsed()
}

/// A stand-in with the data stream set up (through the store's `setup()`),
/// and the store over it with its spool in `dir`.
async fn fresh_stand_in(dir: &tempfile::TempDir) -> (EsServer, ElasticsearchStore) {
    let es = EsServer::start_default().await;
    let store =
        ElasticsearchStore::open(&es_config(&es.url()), &dir.path().join("es-spool.db")).unwrap();
    store.setup().await.unwrap();
    (es, store)
}

/// A digest of a data stream's documents (ids and sources, in id order):
/// equal digests, identical documents.
fn digest(es: &EsServer) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut docs: Vec<(String, String)> = es
        .documents(DS)
        .into_iter()
        .map(|d| (d.id, d.source.to_string()))
        .collect();
    docs.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    docs.hash(&mut h);
    h.finish()
}

/// One timed run of one side of section 2.
struct Side {
    wall: Duration,
    cpu: Duration,
    /// Body sizes of the bulk requests the stand-in received.
    bulks: Vec<usize>,
    digest: u64,
}

/// The store appending `all` to a fresh stand-in.
async fn store_side(all: &Arc<Vec<Measurement>>) -> Side {
    let n = all.len();
    let dir = tempfile::tempdir().unwrap();
    let (es, store) = fresh_stand_in(&dir).await;
    es.clear_requests();
    let store = Arc::new(store);
    let cpu = cpu_time();
    let (wall, outcomes) = append_concurrently(store.clone(), all.clone()).await;
    let cpu = cpu_time() - cpu;
    assert_eq!(outcomes.get("stored"), Some(&n), "{outcomes:?}");
    assert_eq!(es.count(DS), n);
    assert_eq!(store.status().await.unwrap().delivered_total, n as u64);
    let bulks = es
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/_bulk"))
        .map(|r| r.body_len)
        .collect();
    Side {
        wall,
        cpu,
        bulks,
        digest: digest(&es),
    }
}

/// The hand-rolled bulk of `all` to a fresh stand-in (set up by the store).
async fn hand_side(all: &[Measurement]) -> Side {
    let dir = tempfile::tempdir().unwrap();
    let (es, setup_only) = fresh_stand_in(&dir).await;
    drop(setup_only);
    es.clear_requests();
    let cpu = cpu_time();
    let wall = hand_rolled(&es.url(), all).await;
    let cpu = cpu_time() - cpu;
    assert_eq!(es.count(DS), all.len());
    let bulks = es
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/_bulk"))
        .map(|r| r.body_len)
        .collect();
    Side {
        wall,
        cpu,
        bulks,
        digest: digest(&es),
    }
}

async fn append_rates(sizes: &Sizes) {
    let all: Arc<Vec<Measurement>> = Arc::new((0..sizes.appends).map(nth).collect());
    let n = all.len();

    // Store, hand, hand, store: drift of the machine lands on both sides.
    // Each run has a stand-in (and data stream) of its own.
    let (mut store_runs, mut hand_runs) = (Vec::new(), Vec::new());
    for store_first in [true, false] {
        if store_first {
            store_runs.push(store_side(&all).await);
            hand_runs.push(hand_side(&all).await);
        } else {
            hand_runs.push(hand_side(&all).await);
            store_runs.push(store_side(&all).await);
        }
    }
    let reference = store_runs[0].digest;
    assert!(
        store_runs
            .iter()
            .chain(&hand_runs)
            .all(|s| s.digest == reference),
        "the hand-rolled documents differ from the store's"
    );

    // The embedded store, same appenders, for context.
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn MeasurementStore> =
        Arc::new(SqliteStore::open(&sqlite_dir.path().join("smm.db")).unwrap());
    let cpu = cpu_time();
    let (sqlite_wall, outcomes) = append_concurrently(sqlite, all.clone()).await;
    let sqlite_runs = vec![Side {
        wall: sqlite_wall,
        cpu: cpu_time() - cpu,
        bulks: Vec::new(),
        digest: 0,
    }];
    assert_eq!(outcomes.get("stored"), Some(&n), "{outcomes:?}");

    let rate = |runs: &[Side]| {
        runs.len() as f64 * n as f64 / runs.iter().map(|s| s.wall).sum::<Duration>().as_secs_f64()
    };
    println!(
        "\n2. append rate, {n} measurements per run, in-process Elasticsearch stand-in \
         (a fresh one per run; runs in the order store, hand, hand, store)"
    );
    println!(
        "{:<66} {:>12} {:>10} {:>16}",
        "", "per second", "CPU", "runs"
    );
    for (name, runs) in [
        (
            format!("ElasticsearchStore::append, {APPENDERS} appenders x 1 measurement"),
            &store_runs,
        ),
        (
            format!("hand-rolled NDJSON bulk of the same documents, {HAND_BATCH} per POST"),
            &hand_runs,
        ),
        (
            format!("embedded SQLite store, {APPENDERS} appenders x 1 measurement"),
            &sqlite_runs,
        ),
    ] {
        let wall: Duration = runs.iter().map(|s| s.wall).sum();
        let cpu: Duration = runs.iter().map(|s| s.cpu).sum();
        let each: Vec<String> = runs
            .iter()
            .map(|s| format!("{:.0}", n as f64 / s.wall.as_secs_f64()))
            .collect();
        println!(
            "{name:<66} {:>12.0} {:>10} {:>16}",
            rate(runs),
            format!("{:.2} cores", cpu.as_secs_f64() / wall.as_secs_f64()),
            each.join(", ")
        );
    }
    println!(
        "store / hand-rolled: {:.2}x   target >= 0.8x",
        rate(&store_runs) / rate(&hand_runs)
    );
    println!("  per second: all runs' measurements over their summed wall time");
    println!("  CPU: of the whole process (client and stand-in), per second of wall time");
    let bulks: Vec<usize> = store_runs.iter().flat_map(|s| s.bulks.clone()).collect();
    println!(
        "  the store sent {:.0} bulk requests per run: {:.1} documents, {:.1} KiB each on average \
         (hand-rolled: {} per run)",
        bulks.len() as f64 / store_runs.len() as f64,
        (n * store_runs.len()) as f64 / bulks.len() as f64,
        bulks.iter().sum::<usize>() as f64 / bulks.len() as f64 / 1024.0,
        hand_runs[0].bulks.len()
    );
}

// ---- 3. memory during a spool -------------------------------------------------

/// This process's resident set, KiB (`VmRSS` of /proc/self/status).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

async fn spool_memory(sizes: &Sizes) {
    let dir = tempfile::tempdir().unwrap();
    let es = EsServer::start_default().await;
    let mut config = es_config(&es.url());
    config.retry_for = Duration::from_millis(50);
    let store = ElasticsearchStore::open(&config, &dir.path().join("es-spool.db")).unwrap();
    store.setup().await.unwrap();
    es.stop().await;
    let store = Arc::new(store);

    let n = sizes.spooled;
    let every = sizes.sample_every;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let cpu = cpu_time();
    let started = Instant::now();
    let samples = Arc::new(Mutex::new(vec![(0usize, Duration::ZERO, rss_kib())]));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..APPENDERS {
        let (store, next, done, samples) =
            (store.clone(), next.clone(), done.clone(), samples.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                // Built as it goes: the bench itself holds nothing per measurement.
                let outcome = store.append(&[nth(i)]).await.unwrap();
                assert_eq!(outcome, vec![Appended::Spooled]);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d % every == 0 {
                    let sample = (d, started.elapsed(), rss_kib());
                    samples.lock().unwrap().push(sample);
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time() - cpu;
    let status = store.status().await.unwrap();
    assert_eq!(
        status.backlog, n as u64,
        "every measurement is in the spool"
    );
    let spool_bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    let mut samples = samples.lock().unwrap().clone();
    samples.sort();
    println!(
        "\n3. resident memory while spooling {n} measurements (stand-in stopped, \
         retry_for 50ms, {APPENDERS} appenders x 1 measurement)"
    );
    println!(
        "{:>12} {:>10} {:>12} {:>14}",
        "appended", "elapsed", "VmRSS", "spooled / s"
    );
    let mut previous = (0usize, Duration::ZERO);
    for &(count, at, kib) in &samples {
        let interval = if count == 0 {
            String::new()
        } else {
            format!(
                "{:.0}",
                (count - previous.0) as f64 / (at - previous.1).as_secs_f64()
            )
        };
        println!(
            "{count:>12} {:>10} {:>12} {interval:>14}",
            secs(at),
            mib(kib)
        );
        previous = (count, at);
    }
    // Growth over the run: from the first sample taken while spooling (the
    // writer, the spool's connection and its page cache are warm by then).
    let measured: Vec<&(usize, Duration, u64)> = samples.iter().filter(|s| s.0 > 0).collect();
    let (first, last) = (measured[0], measured[measured.len() - 1]);
    let peak = measured.iter().map(|s| s.2).max().unwrap();
    println!(
        "RSS growth from {} to {} appended: {:+.1} MiB ({} -> {}, peak {}); \
         target: flat",
        first.0,
        last.0,
        (last.2 as f64 - first.2 as f64) / 1024.0,
        mib(first.2),
        mib(last.2),
        mib(peak)
    );
    println!(
        "spool rate: {:.0} measurements/s ({n} in {}, CPU {:.2} cores); \
         spool file {:.0} MiB, backlog {}",
        n as f64 / elapsed.as_secs_f64(),
        secs(elapsed),
        cpu.as_secs_f64() / elapsed.as_secs_f64(),
        spool_bytes as f64 / (1 << 20) as f64,
        status.backlog
    );
}

// ---- helpers -------------------------------------------------------------------

/// CPU time (user + system) of this process so far, from /proc/self/stat.
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

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The `p` quantile of sorted `samples`.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Sorts `values` and returns their median.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
