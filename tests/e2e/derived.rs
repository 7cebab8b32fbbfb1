//! Derived measures end to end: definitions registered from TOML, bound by
//! instances, recomputed when their inputs are stored, time-aligned,
//! with provenance, errors instead of wrong numbers, and idempotent backfill.
//! Expected values are computed by hand here.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use smm_catalogue::InstanceSpec;
use smm_engine::{Engine, Home, Measurement, Query};
use smm_tests::component;

struct World {
    engine: Engine,
    home: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        let engine = Engine::open(&Home::new(home.path())).unwrap();
        engine
            .register_file(&component("probe-plugin"))
            .await
            .unwrap();
        World { engine, home }
    }

    async fn define(&self, file: &str, derived: &str) -> Result<(), String> {
        let id = file.trim_end_matches(".toml");
        let text = format!(
            "[measure]\nid = \"{id}\"\nversion = \"1.0.0\"\nname = \"{id}\"\nunit = \"1\"\nscale = \"ratio\"\n\n[derived]\n{derived}\n"
        );
        let path = self.home.path().join(file);
        std::fs::write(&path, text).unwrap();
        self.engine
            .register_file(&path)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn instance(
        &self,
        name: &str,
        measure: &str,
        config: serde_json::Value,
        labels: &[(&str, &str)],
    ) {
        self.engine
            .create_instance(InstanceSpec {
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..InstanceSpec::new(name, measure, config)
            })
            .unwrap();
    }

    /// A direct probe instance returning `value`.
    fn probe(&self, name: &str, value: f64, labels: &[(&str, &str)]) {
        self.instance(
            name,
            "probe",
            json!({"behaviour": "constant", "value": value}),
            labels,
        );
    }

    async fn rows(&self, instance: &str) -> Vec<Measurement> {
        self.engine
            .query(&Query {
                instance: Some(instance.into()),
                ..Query::default()
            })
            .await
            .unwrap()
    }

    /// Store a probe measurement stamped `at` (history written directly).
    async fn past(&self, instance: &str, at: DateTime<Utc>, value: f64, labels: &[(&str, &str)]) {
        // A sealed measurement of the probe measure (the suite's builder).
        let m = smm_engine::conformance::measurement(instance, "probe", at, value, labels);
        self.engine.measurements().append(&[m]).await.unwrap();
    }
}

fn t0() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn a_ratio_is_recomputed_as_its_inputs_arrive_with_provenance() {
    let w = World::new().await;
    w.define(
        "change-failure-rate.toml",
        "kind = \"ratio\"\npercent = true\nnumerator = { measure = \"probe\", labels = { series = \"failed\" } }\ndenominator = { measure = \"probe\", labels = { series = \"deployed\" } }",
    )
    .await
    .unwrap();
    w.probe("failed", 3.0, &[("series", "failed"), ("team", "pay")]);
    w.probe("deployed", 12.0, &[("series", "deployed"), ("team", "pay")]);
    w.instance("cfr", "change-failure-rate", json!({}), &[("team", "pay")]);

    w.engine.run("deployed").await.unwrap();
    let rows = w.rows("cfr").await;
    assert_eq!(rows.len(), 1, "recomputed when the denominator arrived");
    assert_eq!(rows[0].error_kind.as_deref(), Some("missing-input"));
    assert!(
        rows[0]
            .error
            .as_ref()
            .unwrap()
            .contains("input `numerator`"),
        "{:?}",
        rows[0]
    );

    let failed = w.engine.run("failed").await.unwrap();
    let rows = w.rows("cfr").await;
    assert_eq!(rows.len(), 2);
    let cfr = &rows[1];
    assert_eq!(cfr.value, Some(100.0 * 3.0 / 12.0));
    assert_eq!(
        cfr.timestamp, failed.timestamp,
        "computed at the new input's time"
    );
    assert_eq!(cfr.labels["team"], "pay");
    let inputs = cfr.details.as_ref().unwrap()["inputs"]
        .as_array()
        .unwrap()
        .clone();
    let ids: Vec<&str> = inputs.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let deployed_id = w.rows("deployed").await[0].id.clone();
    assert_eq!(
        ids,
        vec![failed.id.as_str(), deployed_id.as_str()],
        "provenance names both inputs"
    );

    // The same with the expression form, and a derived measure over a
    // derived measure is recomputed too.
    w.define(
        "cfr-expr.toml",
        "kind = \"expression\"\nexpression = \"100 * failed / (deployed + 0)\"\ninputs = { failed = { measure = \"probe\", labels = { series = \"failed\" } }, deployed = { measure = \"probe\", labels = { series = \"deployed\" } } }",
    )
    .await
    .unwrap();
    w.instance("cfr-expr", "cfr-expr", json!({}), &[("team", "pay")]);
    w.define(
        "cfr-fraction.toml",
        "kind = \"rescaled\"\ninput = { measure = \"change-failure-rate\" }\nmultiplier = 0.01",
    )
    .await
    .unwrap();
    w.instance(
        "cfr-fraction",
        "cfr-fraction",
        json!({}),
        &[("team", "pay")],
    );
    w.engine.run("failed").await.unwrap();
    let chained = w.rows("cfr-fraction").await;
    assert_eq!(chained.last().unwrap().value, Some(0.25), "{chained:?}");
    let expr = w.rows("cfr-expr").await;
    assert_eq!(expr.last().unwrap().value, Some(25.0), "{expr:?}");
}

#[tokio::test]
async fn zero_denominators_and_stale_inputs_are_errors_not_numbers() {
    let w = World::new().await;
    w.define(
        "per-deploy.toml",
        "kind = \"binary\"\noperator = \"divide\"\nmax_age = \"1h\"\nleft = { measure = \"probe\", labels = { s = \"a\" } }\nright = { measure = \"probe\", labels = { s = \"b\" } }",
    )
    .await
    .unwrap();
    w.instance("pd", "per-deploy", json!({}), &[]);
    w.past("a", t0() - Duration::minutes(10), 5.0, &[("s", "a")])
        .await;
    w.past("b", t0() - Duration::minutes(61), 2.0, &[("s", "b")])
        .await;
    w.past("b", t0() - Duration::minutes(5), 0.0, &[("s", "b")])
        .await;
    // At t0: b's latest is 0 -> division by zero.
    w.engine.backfill("pd", &[t0()], || {}).await.unwrap();
    // At t0 - 6 min: b's latest is 2 (55 min old, fresh), a's is 5 -> 2.5.
    w.engine
        .backfill("pd", &[t0() - Duration::minutes(6)], || {})
        .await
        .unwrap();
    // At t0 - 1 min + 1 h: a is 70 min old -> stale, naming `left`.
    let late = t0() + Duration::minutes(59) + Duration::seconds(30);
    w.engine.backfill("pd", &[late], || {}).await.unwrap();
    let rows = w.rows("pd").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].value, Some(2.5));
    assert_eq!(
        rows[1].error_kind.as_deref(),
        Some("division-by-zero"),
        "{:?}",
        rows[1]
    );
    assert!(rows[1].value.is_none());
    assert_eq!(
        rows[2].error_kind.as_deref(),
        Some("stale-input"),
        "{:?}",
        rows[2]
    );
    assert!(
        rows[2].error.as_ref().unwrap().contains("input `left`"),
        "{:?}",
        rows[2]
    );
}

#[tokio::test]
async fn collective_windows_are_half_open_and_grouped_by_labels() {
    let w = World::new().await;
    w.define(
        "avg-by-team.toml",
        "kind = \"collective\"\naccumulator = \"average\"\nwindow = \"1h\"\ngroup_by = [\"team\"]\ninput = { measure = \"probe\" }",
    )
    .await
    .unwrap();
    w.instance("avg", "avg-by-team", json!({}), &[]);
    w.past("x", t0() - Duration::hours(1), 1000.0, &[("team", "a")])
        .await; // on the open edge: out
    w.past("x", t0() - Duration::minutes(59), 2.0, &[("team", "a")])
        .await;
    w.past("x", t0(), 4.0, &[("team", "a")]).await; // on the closed edge: in
    w.past("y", t0() - Duration::minutes(30), 10.0, &[("team", "b")])
        .await;
    w.past("y", t0() + Duration::seconds(1), 1000.0, &[("team", "b")])
        .await; // after t: out
    w.engine.backfill("avg", &[t0()], || {}).await.unwrap();
    let rows = w.rows("avg").await;
    let by_team: BTreeMap<String, f64> = rows
        .iter()
        .map(|m| (m.labels["team"].clone(), m.value.unwrap()))
        .collect();
    assert_eq!(
        by_team,
        BTreeMap::from([("a".into(), 3.0), ("b".into(), 10.0)])
    );
    let team_a = rows.iter().find(|m| m.labels["team"] == "a").unwrap();
    assert_eq!(team_a.details.as_ref().unwrap()["count"], 2);
}

#[tokio::test]
async fn counting_grade_and_ranking() {
    let w = World::new().await;
    w.define("slow-builds.toml", "kind = \"counting\"\nwindow = \"1d\"\ninput = { measure = \"probe\" }\npredicate = { lower = 10, lower_closed = false }").await.unwrap();
    w.define(
        "risk-grade.toml",
        "kind = \"grade\"\ninput = { measure = \"probe\" }\nintervals = [\n { upper = 10, upper_closed = false, symbol = \"A\" },\n { lower = 10, upper = 20, symbol = \"B\" },\n { lower = 20, lower_closed = false, symbol = \"C\" },\n]",
    )
    .await
    .unwrap();
    w.define("risk-rank.toml", "kind = \"ranking\"\ninput = { measure = \"probe\" }\nintervals = [{ upper = 15, rank = 1 }, { lower = 15, lower_closed = false, rank = 2 }]").await.unwrap();
    for (name, measure) in [
        ("slow", "slow-builds"),
        ("grade", "risk-grade"),
        ("rank", "risk-rank"),
    ] {
        w.instance(name, measure, json!({}), &[]);
    }
    for (i, v) in [5.0, 10.0, 11.0, 30.0, 20.0].iter().enumerate() {
        w.past("p", t0() - Duration::minutes(50 - i as i64), *v, &[])
            .await;
    }
    w.engine.backfill("slow", &[t0()], || {}).await.unwrap();
    assert_eq!(
        w.rows("slow").await[0].value,
        Some(3.0),
        "11, 30 and 20 are above 10; 10 is not"
    );
    // The latest value is 20: grade B (closed upper bound), rank 2.
    w.engine.backfill("grade", &[t0()], || {}).await.unwrap();
    w.engine.backfill("rank", &[t0()], || {}).await.unwrap();
    assert_eq!(w.rows("grade").await[0].text.as_deref(), Some("B"));
    assert_eq!(w.rows("rank").await[0].value, Some(2.0));
}

#[tokio::test]
async fn backfill_recomputes_history_once() {
    let w = World::new().await;
    w.define(
        "double.toml",
        "kind = \"rescaled\"\nmultiplier = 2\ninput = { measure = \"probe\" }",
    )
    .await
    .unwrap();
    w.instance("double", "double", json!({}), &[]);
    let since = Utc::now() - Duration::days(3);
    for d in 0..3 {
        w.past(
            "p",
            since + Duration::days(d) + Duration::minutes(1),
            d as f64,
            &[],
        )
        .await;
    }
    let instants = w
        .engine
        .backfill_instants("double", since, None)
        .await
        .unwrap();
    assert_eq!(instants.len(), 3);
    assert_eq!(
        w.engine.backfill("double", &instants, || {}).await.unwrap(),
        3
    );
    assert_eq!(
        w.engine.backfill("double", &instants, || {}).await.unwrap(),
        0,
        "idempotent"
    );
    let values: Vec<f64> = w
        .rows("double")
        .await
        .iter()
        .map(|m| m.value.unwrap())
        .collect();
    assert_eq!(values, vec![0.0, 2.0, 4.0]);
}

#[tokio::test]
async fn cycles_and_bad_definitions_are_refused_at_registration() {
    let w = World::new().await;
    w.define(
        "a-measure.toml",
        "kind = \"rescaled\"\ninput = { measure = \"b-measure\" }",
    )
    .await
    .unwrap();
    w.define(
        "b-measure.toml",
        "kind = \"rescaled\"\ninput = { measure = \"c-measure\" }",
    )
    .await
    .unwrap();
    let err = w
        .define(
            "c-measure.toml",
            "kind = \"rescaled\"\ninput = { measure = \"a-measure\" }",
        )
        .await
        .unwrap_err();
    assert!(
        err.contains("c-measure -> a-measure -> b-measure -> c-measure"),
        "{err}"
    );
    let err = w
        .define(
            "bad.toml",
            "kind = \"ratio\"\nnumerator = { measure = \"x\" }",
        )
        .await
        .unwrap_err();
    assert!(
        err.contains("bad.toml") && err.contains("denominator"),
        "{err}"
    );
    let listed: Vec<String> = w
        .engine
        .measures()
        .unwrap()
        .iter()
        .map(|r| r.metadata.id.clone())
        .collect();
    assert!(
        !listed.contains(&"c-measure".to_string()) && !listed.contains(&"bad".to_string()),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_diamond_is_recomputed_in_dependency_order() {
    let w = World::new().await;
    // b = 2x, b2 = b + 1, c = 3x, d = b2 + c: d must see b2 of the same x.
    w.define(
        "b.toml",
        "kind = \"rescaled\"\nmultiplier = 2\ninput = { measure = \"probe\" }",
    )
    .await
    .unwrap();
    w.define(
        "b2.toml",
        "kind = \"rescaled\"\noffset = 1\ninput = { measure = \"b\" }",
    )
    .await
    .unwrap();
    w.define(
        "c.toml",
        "kind = \"rescaled\"\nmultiplier = 3\ninput = { measure = \"probe\" }",
    )
    .await
    .unwrap();
    w.define("d.toml", "kind = \"binary\"\noperator = \"plus\"\nleft = { measure = \"b2\" }\nright = { measure = \"c\" }").await.unwrap();
    for name in ["d", "c", "b2", "b"] {
        w.instance(name, name, json!({}), &[]);
    }
    w.probe("one", 1.0, &[]);
    w.probe("ten", 10.0, &[]);
    w.engine.run("one").await.unwrap();
    w.engine.run("ten").await.unwrap();
    let d: Vec<Option<f64>> = w.rows("d").await.iter().map(|m| m.value).collect();
    // x = 1: (2 + 1) + 3 = 6; x = 10: (20 + 1) + 30 = 51.
    assert_eq!(d.last().copied().flatten(), Some(51.0), "{d:?}");
    assert!(d.contains(&Some(6.0)), "{d:?}");
}

#[tokio::test]
async fn stepped_backfill_uses_fixed_instants_and_refuses_a_zero_step() {
    let w = World::new().await;
    w.define(
        "double.toml",
        "kind = \"rescaled\"\nmultiplier = 2\ninput = { measure = \"probe\" }",
    )
    .await
    .unwrap();
    w.instance("double", "double", json!({}), &[]);
    w.past("p", Utc::now() - Duration::days(2), 4.0, &[]).await;
    let since = Utc::now() - Duration::hours(25);
    let first = w
        .engine
        .backfill_instants("double", since, Some(std::time::Duration::from_secs(3600)))
        .await
        .unwrap();
    let again = w
        .engine
        .backfill_instants(
            "double",
            since + Duration::seconds(1),
            Some(std::time::Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    assert_eq!(
        first, again,
        "instants are multiples of the step, not offsets from `since`"
    );
    assert!(first.iter().all(|t| t.timestamp() % 3600 == 0));
    let stored = w.engine.backfill("double", &first, || {}).await.unwrap();
    assert_eq!(stored, first.len());
    assert_eq!(w.engine.backfill("double", &again, || {}).await.unwrap(), 0);
    assert!(w.rows("double").await.iter().all(|m| m.value == Some(8.0)));
    assert!(
        w.engine
            .backfill_instants("double", since, Some(std::time::Duration::ZERO))
            .await
            .is_err()
    );
}
