//! Hostile plugins, built from source (`tests/plugins/probe`), against the
//! engine's sandbox: each misbehaviour becomes a stored error measurement
//! with the right reason, within the deadline, and the engine goes on.

use std::time::{Duration, Instant};

use serde_json::json;
use smm_catalogue::{InstanceSpec, LimitOverrides};
use smm_engine::config::Config;
use smm_engine::store::Usage;
use smm_engine::{Engine, Home, Query};
use smm_tests::component;

struct Probe {
    engine: Engine,
    _home: tempfile::TempDir,
}

impl Probe {
    async fn new() -> Probe {
        Probe::open(Usage::Serving).await
    }

    /// As the `smm` command opens it for a one-shot command: instances
    /// allocated on demand, not from the pool.
    async fn one_shot() -> Probe {
        Probe::open(Usage::OneShot).await
    }

    async fn open(usage: Usage) -> Probe {
        let home = tempfile::tempdir().unwrap();
        let engine =
            Engine::open_configured(&Home::new(home.path()), &Config::default(), usage).unwrap();
        engine
            .register_file(&component("probe-plugin"))
            .await
            .unwrap();
        Probe {
            engine,
            _home: home,
        }
    }

    fn instance(&self, name: &str, config: serde_json::Value, limits: LimitOverrides) {
        self.instance_with_grants(name, config, limits, vec![]);
    }

    fn instance_with_grants(
        &self,
        name: &str,
        config: serde_json::Value,
        limits: LimitOverrides,
        grants: Vec<std::path::PathBuf>,
    ) {
        self.engine
            .create_instance(InstanceSpec {
                grants,
                limits,
                ..InstanceSpec::new(name, "probe", config)
            })
            .unwrap();
    }

    /// Run `behaviour` under `limits`; then check a well-behaved run still works.
    async fn misbehave(
        &self,
        behaviour: &str,
        extra: serde_json::Value,
        limits: LimitOverrides,
    ) -> (smm_engine::Measurement, Duration) {
        let mut config = json!({"behaviour": behaviour});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.instance(behaviour, config, limits);
        let started = Instant::now();
        let m = self.engine.run(behaviour).await.unwrap();
        let took = started.elapsed();
        assert!(m.value.is_none() && m.error.is_some(), "{behaviour}: {m:?}");
        let stored = self
            .engine
            .query(&Query {
                instance: Some(behaviour.into()),
                ..Query::default()
            })
            .await
            .unwrap();
        assert_eq!(
            stored.len(),
            1,
            "{behaviour}: the error measurement is stored"
        );
        assert_eq!(stored[0].error, m.error);
        self.healthy_after(behaviour).await;
        (m, took)
    }

    async fn healthy_after(&self, what: &str) {
        let name = format!("after-{what}");
        self.instance(
            &name,
            json!({"behaviour": "constant", "value": 7.5}),
            LimitOverrides::default(),
        );
        let ok = self.engine.run(&name).await.unwrap();
        assert_eq!(ok.value, Some(7.5), "a normal run after {what}: {ok:?}");
    }
}

/// Generous margin over a deadline: machines are shared and noisy.
const MARGIN: Duration = Duration::from_secs(5);

/// Both kinds of engine: `smm serve`'s, whose plugin instances come from
/// wasmtime's pool, and a one-shot command's (`smm run`), whose instances
/// are allocated on demand. The limits hold the same in both.
async fn both_engines() -> [Probe; 2] {
    [Probe::new().await, Probe::one_shot().await]
}

#[tokio::test]
async fn an_infinite_loop_times_out_at_the_deadline() {
    for p in both_engines().await {
        let deadline = Duration::from_millis(500);
        let (m, took) = p
            .misbehave(
                "loop",
                json!({}),
                LimitOverrides {
                    deadline_ms: Some(500),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(m.error_kind.as_deref(), Some("timeout"), "{m:?}");
        assert!(m.error.as_ref().unwrap().contains("500ms"), "{m:?}");
        assert!(took >= deadline, "stopped before the deadline: {took:?}");
        assert!(took < deadline + MARGIN, "took {took:?}");
    }
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_cap() {
    for p in both_engines().await {
        let (m, took) = p
            .misbehave(
                "alloc",
                json!({}),
                LimitOverrides {
                    memory_bytes: Some(32 << 20),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(m.error_kind.as_deref(), Some("memory"), "{m:?}");
        assert!(m.error.as_ref().unwrap().contains("32 MiB"), "{m:?}");
        assert!(took < Duration::from_secs(10) + MARGIN, "took {took:?}");
    }
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    for p in both_engines().await {
        let (m, _) = p
            .misbehave("recurse", json!({}), LimitOverrides::default())
            .await;
        assert_eq!(m.error_kind.as_deref(), Some("stack-overflow"), "{m:?}");
    }
}

/// Nothing a run writes in its instance's memory reaches the next run of
/// the same component, though pooled slots are reused and reset in place
/// (only the pages a run dirtied, see `sandbox::pool`), neither in its
/// data nor in its heap; nor with instances allocated on demand.
#[tokio::test]
async fn no_run_sees_what_an_earlier_run_left_in_memory() {
    for p in both_engines().await {
        p.instance(
            "r",
            json!({"behaviour": "remember", "bytes": 3 << 20}),
            LimitOverrides::default(),
        );
        for run in 0..4 {
            let m = p.engine.run("r").await.unwrap();
            assert_eq!(
                m.value,
                Some(0.0),
                "run {run} saw an earlier run's marks: {m:?}"
            );
            let seen = &m.details.as_ref().unwrap()["marks_seen_within_a_run"];
            assert!(
                seen.as_u64() > Some(0),
                "the probe sees marks where they are: {m:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_panic_is_a_trap_with_the_panic_message() {
    let p = Probe::new().await;
    let (m, _) = p
        .misbehave("panic", json!({}), LimitOverrides::default())
        .await;
    assert_eq!(m.error_kind.as_deref(), Some("trap"), "{m:?}");
    assert!(
        m.error.as_ref().unwrap().contains("probe asked to panic"),
        "stderr is kept: {m:?}"
    );
}

#[tokio::test]
async fn oversized_output_is_refused() {
    let p = Probe::new().await;
    let (m, _) = p
        .misbehave(
            "big-output",
            json!({"bytes": 3 << 20}),
            LimitOverrides::default(),
        )
        .await;
    assert_eq!(m.error_kind.as_deref(), Some("output-too-large"), "{m:?}");
    // A per-instance cap below the default applies too.
    p.instance(
        "small-cap",
        json!({"behaviour": "big-output", "bytes": 2000}),
        LimitOverrides {
            output_bytes: Some(1024),
            ..Default::default()
        },
    );
    let m = p.engine.run("small-cap").await.unwrap();
    assert_eq!(m.error_kind.as_deref(), Some("output-too-large"), "{m:?}");
    assert!(m.error.as_ref().unwrap().contains("limit is 1024"), "{m:?}");
}

#[tokio::test]
async fn garbage_output_breaks_the_contract() {
    let p = Probe::new().await;
    let (m, _) = p
        .misbehave("garbage", json!({}), LimitOverrides::default())
        .await;
    assert_eq!(m.error_kind.as_deref(), Some("invalid-output"), "{m:?}");
    assert!(
        m.error
            .as_ref()
            .unwrap()
            .contains("neither a value nor a text"),
        "{m:?}"
    );
    let (m, _) = p
        .misbehave("not-a-number", json!({}), LimitOverrides::default())
        .await;
    assert_eq!(m.error_kind.as_deref(), Some("invalid-output"), "{m:?}");
}

#[tokio::test]
async fn files_outside_the_grants_and_ambient_authority_are_out_of_reach() {
    let p = Probe::new().await;
    let (m, _) = p
        .misbehave(
            "read",
            json!({"path": "/etc/hostname"}),
            LimitOverrides::default(),
        )
        .await;
    assert_eq!(m.error_kind.as_deref(), Some("input"), "{m:?}");
    p.instance(
        "ambient",
        json!({"behaviour": "ambient"}),
        LimitOverrides::default(),
    );
    let m = p.engine.run("ambient").await.unwrap();
    let d = m.details.expect("ambient details");
    assert_eq!(d["env"], 0, "no environment: {d}");
    assert_eq!(d["tcp_connected"], false, "no network: {d}");
    assert_eq!(
        d["root_listed"], false,
        "no filesystem without a grant: {d}"
    );
}

#[tokio::test]
async fn every_collection_starts_from_a_fresh_instance() {
    let p = Probe::new().await;
    p.instance(
        "c",
        json!({"behaviour": "constant", "value": 1.0}),
        LimitOverrides::default(),
    );
    let first = p.engine.run("c").await.unwrap();
    let second = p.engine.run("c").await.unwrap();
    assert_eq!((first.value, second.value), (Some(1.0), Some(1.0)));
    assert!(second.timestamp > first.timestamp, "two runs, two instants");
    assert_ne!(second.id, first.id, "two measurements, two ids");
    let stored = p
        .engine
        .query(&Query {
            instance: Some("c".into()),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 2, "runs a millisecond apart are both stored");
}

#[tokio::test]
async fn granted_directories_are_read_only() {
    let p = Probe::new().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let target = dir.join("planted.txt");
    p.instance_with_grants(
        "write",
        json!({"behaviour": "write", "path": target.to_str().unwrap()}),
        LimitOverrides::default(),
        vec![dir.clone()],
    );
    let m = p.engine.run("write").await.unwrap();
    assert_eq!(m.error_kind.as_deref(), Some("input"), "{m:?}");
    assert!(
        !target.exists(),
        "the plugin wrote into a granted directory"
    );
    // Reading in the same grant works.
    std::fs::write(&target, b"12345").unwrap();
    p.instance_with_grants(
        "read",
        json!({"behaviour": "read", "path": target.to_str().unwrap()}),
        LimitOverrides::default(),
        vec![dir],
    );
    assert_eq!(p.engine.run("read").await.unwrap().value, Some(5.0));
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk_and_a_bad_entry_is_recompiled() {
    let home = tempfile::tempdir().unwrap();
    let wasm = component("probe-plugin");
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    let record = engine.register_file(&wasm).await.unwrap().record().clone();
    let smm_catalogue::Implementation::Wasm { sha256 } = &record.implementation else {
        panic!("a component is registered as a component")
    };
    let entries: Vec<_> = walk(&home.path().join("cache"));
    let entry = entries
        .iter()
        .find(|p| p.file_name().unwrap().to_str().unwrap() == format!("{sha256}.cwasm"))
        .unwrap_or_else(|| panic!("no cache entry named by the component's sha256 in {entries:?}"));
    drop(engine);

    // Another engine (as another `smm` process would) corrupts nothing and
    // recompiles when the entry is unusable.
    std::fs::write(entry, b"not a compiled component").unwrap();
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    engine
        .create_instance(InstanceSpec::new(
            "c",
            "probe",
            json!({"behaviour": "constant", "value": 3.0}),
        ))
        .unwrap();
    assert_eq!(engine.run("c").await.unwrap().value, Some(3.0));
    assert!(
        std::fs::metadata(entry).unwrap().len() > 1000,
        "the entry was rewritten"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(entry.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the cache is private: {mode:o}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_plugin_sleeping_in_a_host_call_is_stopped_at_the_deadline() {
    let p = Probe::new().await;
    let deadline = Duration::from_millis(500);
    for (name, seconds) in [("sleep-hour", 3600.0), ("sleep-forever", 1e12)] {
        p.instance(
            name,
            json!({"behaviour": "sleep", "value": seconds}),
            LimitOverrides {
                deadline_ms: Some(500),
                ..Default::default()
            },
        );
        let started = Instant::now();
        let m = p.engine.run(name).await.unwrap();
        let took = started.elapsed();
        assert_eq!(m.error_kind.as_deref(), Some("timeout"), "{m:?}");
        assert!(
            took >= deadline && took < deadline + MARGIN,
            "{name} took {took:?}"
        );
    }
    p.healthy_after("sleep").await;
}

#[tokio::test]
async fn exiting_is_a_plugin_error_not_a_crash() {
    let p = Probe::new().await;
    let (m, _) = p
        .misbehave("exit", json!({}), LimitOverrides::default())
        .await;
    assert_eq!(m.error_kind.as_deref(), Some("plugin"), "{m:?}");
    assert!(
        m.error.as_ref().unwrap().contains("exited (status 0)"),
        "{m:?}"
    );
}

#[tokio::test]
async fn the_end_of_a_long_stderr_is_kept() {
    let p = Probe::new().await;
    let (m, _) = p
        .misbehave(
            "chatty-panic",
            json!({"bytes": 1 << 20}),
            LimitOverrides::default(),
        )
        .await;
    let error = m.error.unwrap();
    assert!(
        error.contains("the last words of a chatty plugin"),
        "{error}"
    );
    assert!(
        error.len() < 2048,
        "stderr is bounded: {} bytes",
        error.len()
    );
}

#[tokio::test]
async fn open_files_are_bounded() {
    let p = Probe::new().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let file = dir.join("f");
    std::fs::write(&file, b"x").unwrap();
    p.instance_with_grants(
        "hoard",
        json!({"behaviour": "hoard", "path": file.to_str().unwrap()}),
        LimitOverrides::default(),
        vec![dir],
    );
    let m = p.engine.run("hoard").await.unwrap();
    // The plugin stops when the host refuses more handles: far below the
    // process's file descriptor limit, and the engine goes on.
    let opened = m.value.unwrap_or(0.0);
    assert!(opened < 1000.0, "{m:?}");
    p.healthy_after("hoard").await;
}

#[tokio::test]
async fn an_implausible_observed_at_is_invalid_output() {
    let p = Probe::new().await;
    // Year 262142, as i64 milliseconds allow.
    let (m, _) = p
        .misbehave(
            "observed-at",
            json!({"value": 8.21e18}),
            LimitOverrides::default(),
        )
        .await;
    assert_eq!(m.error_kind.as_deref(), Some("invalid-output"), "{m:?}");
    assert!(m.error.unwrap().contains("100 years"));
}

#[tokio::test]
async fn the_host_allocates_little_random_data_on_a_plugins_behalf() {
    let p = Probe::new().await;
    // 32 MiB would fit the plugin's 64 MiB cap, but the host would allocate
    // it first, outside the cap: refused.
    let (m, _) = p
        .misbehave(
            "random",
            json!({"bytes": 32 << 20}),
            LimitOverrides::default(),
        )
        .await;
    assert!(
        m.error.as_deref().unwrap().contains("exceeds limit"),
        "{m:?}"
    );
    // A small request is served.
    p.instance(
        "small-random",
        json!({"behaviour": "random", "bytes": 4096}),
        LimitOverrides::default(),
    );
    assert_eq!(
        p.engine.run("small-random").await.unwrap().value,
        Some(4096.0)
    );
}

/// A FIFO in `dir` (`mkfifo`).
#[cfg(unix)]
fn fifo(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    path
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_in_a_grant_is_refused_not_waited_on() {
    let p = Probe::new().await;
    let grant = tempfile::tempdir().unwrap();
    let g = grant.path().canonicalize().unwrap();
    let pipe = fifo(&g);
    p.instance_with_grants(
        "fifo",
        json!({"behaviour": "read", "path": pipe}),
        LimitOverrides {
            deadline_ms: Some(5_000),
            ..LimitOverrides::default()
        },
        vec![g.clone()],
    );
    let started = Instant::now();
    let m = p.engine.run("fifo").await.unwrap();
    assert_eq!(m.error_kind.as_deref(), Some("input"), "{m:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused at open, not after the deadline: {:?}",
        started.elapsed()
    );
    // A thousand in a row leave nothing blocked behind: ordinary measures
    // still run.
    for _ in 0..1000 {
        let m = p.engine.run("fifo").await.unwrap();
        assert_eq!(m.error_kind.as_deref(), Some("input"));
    }
    p.healthy_after("fifo-reads").await;
    // The regular file beside it is read as ever.
    std::fs::write(g.join("report.txt"), "0123456789").unwrap();
    p.instance_with_grants(
        "regular",
        json!({"behaviour": "read", "path": g.join("report.txt")}),
        LimitOverrides::default(),
        vec![g],
    );
    assert_eq!(p.engine.run("regular").await.unwrap().value, Some(10.0));
}

#[tokio::test]
async fn a_swapped_cache_entry_is_never_run() {
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    let sha = |r: smm_catalogue::Registration| match &r.record().implementation {
        smm_catalogue::Implementation::Wasm { sha256 } => sha256.clone(),
        _ => unreachable!(),
    };
    let probe = sha(engine
        .register_file(&component("probe-plugin"))
        .await
        .unwrap());
    let sarif = sha(engine
        .register_file(&component("sarif-findings"))
        .await
        .unwrap());
    drop(engine);
    let entries = walk(&home.path().join("cache"));
    let entry = |sha: &str| {
        entries
            .iter()
            .find(|p| p.file_name().unwrap().to_str().unwrap() == format!("{sha}.cwasm"))
            .unwrap()
            .clone()
    };
    // Someone puts another component's (valid) artifact in the probe's place.
    std::fs::copy(entry(&sarif), entry(&probe)).unwrap();
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    engine
        .create_instance(InstanceSpec::new(
            "c",
            "probe",
            json!({"behaviour": "constant", "value": 4.5}),
        ))
        .unwrap();
    let m = engine.run("c").await.unwrap();
    assert_eq!(
        m.value,
        Some(4.5),
        "the probe ran, not what was swapped in: {m:?}"
    );
    assert_ne!(
        std::fs::read(entry(&probe)).unwrap(),
        std::fs::read(entry(&sarif)).unwrap(),
        "the entry was recompiled"
    );
}
