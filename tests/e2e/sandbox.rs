//! Hostile plugins, built from source (`tests/plugins/probe`), against the
//! engine's sandbox: each misbehaviour becomes a stored error measurement
//! with the right reason, within the deadline, and the engine goes on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use smm_catalogue::{InstanceSpec, LimitOverrides};
use smm_engine::{Engine, Home, Query};
use smm_tests::component;

struct Probe {
    engine: Engine,
    _home: tempfile::TempDir,
}

impl Probe {
    fn new() -> Probe {
        let home = tempfile::tempdir().unwrap();
        let engine = Engine::open(&Home::new(home.path())).unwrap();
        engine.register_file(&component("probe-plugin")).unwrap();
        Probe {
            engine,
            _home: home,
        }
    }

    fn instance(&self, name: &str, config: serde_json::Value, limits: LimitOverrides) {
        self.engine
            .create_instance(InstanceSpec {
                name: name.into(),
                measure: "probe".into(),
                config,
                labels: BTreeMap::new(),
                schedule: None,
                grants: vec![],
                limits,
            })
            .unwrap();
    }

    /// Run `behaviour` under `limits`; then check a well-behaved run still works.
    fn misbehave(
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
        let m = self.engine.run(behaviour).unwrap();
        let took = started.elapsed();
        assert!(m.value.is_none() && m.error.is_some(), "{behaviour}: {m:?}");
        let stored = self
            .engine
            .query(&Query {
                instance: Some(behaviour.into()),
                ..Query::default()
            })
            .unwrap();
        assert_eq!(
            stored.len(),
            1,
            "{behaviour}: the error measurement is stored"
        );
        assert_eq!(stored[0].error, m.error);
        self.healthy_after(behaviour);
        (m, took)
    }

    fn healthy_after(&self, what: &str) {
        let name = format!("after-{what}");
        self.instance(
            &name,
            json!({"behaviour": "constant", "value": 7.5}),
            LimitOverrides::default(),
        );
        let ok = self.engine.run(&name).unwrap();
        assert_eq!(ok.value, Some(7.5), "a normal run after {what}: {ok:?}");
    }
}

/// Generous margin over a deadline: machines are shared and noisy.
const MARGIN: Duration = Duration::from_secs(5);

#[test]
fn an_infinite_loop_times_out_at_the_deadline() {
    let p = Probe::new();
    let deadline = Duration::from_millis(500);
    let (m, took) = p.misbehave(
        "loop",
        json!({}),
        LimitOverrides {
            deadline_ms: Some(500),
            ..Default::default()
        },
    );
    assert_eq!(m.error_kind.as_deref(), Some("timeout"), "{m:?}");
    assert!(m.error.as_ref().unwrap().contains("500ms"), "{m:?}");
    assert!(took >= deadline, "stopped before the deadline: {took:?}");
    assert!(took < deadline + MARGIN, "took {took:?}");
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let p = Probe::new();
    let (m, took) = p.misbehave(
        "alloc",
        json!({}),
        LimitOverrides {
            memory_bytes: Some(32 << 20),
            ..Default::default()
        },
    );
    assert_eq!(m.error_kind.as_deref(), Some("memory"), "{m:?}");
    assert!(m.error.as_ref().unwrap().contains("32 MiB"), "{m:?}");
    assert!(took < Duration::from_secs(10) + MARGIN, "took {took:?}");
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let p = Probe::new();
    let (m, _) = p.misbehave("recurse", json!({}), LimitOverrides::default());
    assert_eq!(m.error_kind.as_deref(), Some("stack-overflow"), "{m:?}");
}

#[test]
fn a_panic_is_a_trap_with_the_panic_message() {
    let p = Probe::new();
    let (m, _) = p.misbehave("panic", json!({}), LimitOverrides::default());
    assert_eq!(m.error_kind.as_deref(), Some("trap"), "{m:?}");
    assert!(
        m.error.as_ref().unwrap().contains("probe asked to panic"),
        "stderr is kept: {m:?}"
    );
}

#[test]
fn oversized_output_is_refused() {
    let p = Probe::new();
    let (m, _) = p.misbehave(
        "big-output",
        json!({"bytes": 3 << 20}),
        LimitOverrides::default(),
    );
    assert_eq!(m.error_kind.as_deref(), Some("output-too-large"), "{m:?}");
    // A per-instance cap below the default applies too.
    p.instance(
        "small-cap",
        json!({"behaviour": "big-output", "bytes": 2000}),
        LimitOverrides {
            output_bytes: Some(1000),
            ..Default::default()
        },
    );
    let m = p.engine.run("small-cap").unwrap();
    assert_eq!(m.error_kind.as_deref(), Some("output-too-large"), "{m:?}");
    assert!(m.error.as_ref().unwrap().contains("limit is 1000"), "{m:?}");
}

#[test]
fn garbage_output_breaks_the_contract() {
    let p = Probe::new();
    let (m, _) = p.misbehave("garbage", json!({}), LimitOverrides::default());
    assert_eq!(m.error_kind.as_deref(), Some("invalid-output"), "{m:?}");
    assert!(
        m.error
            .as_ref()
            .unwrap()
            .contains("neither a value nor a text"),
        "{m:?}"
    );
    let (m, _) = p.misbehave("not-a-number", json!({}), LimitOverrides::default());
    assert_eq!(m.error_kind.as_deref(), Some("invalid-output"), "{m:?}");
}

#[test]
fn files_outside_the_grants_and_ambient_authority_are_out_of_reach() {
    let p = Probe::new();
    let (m, _) = p.misbehave(
        "read",
        json!({"path": "/etc/hostname"}),
        LimitOverrides::default(),
    );
    assert_eq!(m.error_kind.as_deref(), Some("input"), "{m:?}");
    p.instance(
        "ambient",
        json!({"behaviour": "ambient"}),
        LimitOverrides::default(),
    );
    let m = p.engine.run("ambient").unwrap();
    let d = m.details.expect("ambient details");
    assert_eq!(d["env"], 0, "no environment: {d}");
    assert_eq!(d["tcp_connected"], false, "no network: {d}");
    assert_eq!(
        d["root_listed"], false,
        "no filesystem without a grant: {d}"
    );
}

#[test]
fn every_collection_starts_from_a_fresh_instance() {
    let p = Probe::new();
    p.instance(
        "c",
        json!({"behaviour": "constant", "value": 1.0}),
        LimitOverrides::default(),
    );
    let first = p.engine.run("c").unwrap();
    let second = p.engine.run("c").unwrap();
    assert_eq!((first.value, second.value), (Some(1.0), Some(1.0)));
    assert!(second.seq > first.seq);
}
