//! The backend conformance suite: what every [`MeasurementStore`] promises,
//! written once and run against each backend with [`store_conformance!`]
//! (the embedded SQLite store in its unit tests, Elasticsearch against the
//! in-process stand-in and, when `ELASTICSEARCH_URL` is set, a real cluster).
//!
//! Derived results are compared with those of the embedded SQLite store on
//! the same inputs, exactly: a backend may push an aggregation down only if
//! it computes it exactly.
//!
//! Every case appends under its own instance and measure names (a unique
//! prefix per case), so cases may share one backend.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::json;
use smm_catalogue::derived::{Accumulator, DerivedDefinition};
use smm_catalogue::{CatchUp, Instance, LimitOverrides};

use crate::derived::evaluate;
use crate::measurement::{Measurement, Query};
use crate::store::{Appended, MeasurementStore, Selector, SqliteStore, WindowColumns};

/// Run the whole suite as `#[tokio::test]`s, one per case. `$make` is an
/// async expression giving an `Arc<dyn MeasurementStore>` (or `None` to
/// skip, e.g. a live backend that is not configured).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@cases $make;
            roundtrip_keeps_every_field,
            reappending_an_id_stores_it_once,
            query_filters_and_orders,
            latest_is_the_last_success_at_or_before,
            windows_are_open_at_the_start_and_closed_at_the_end,
            aggregates_are_exact_or_absent,
            exists_at_tells_success_from_error,
            large_results_come_back_whole,
            derived_results_match_the_embedded_store,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: Option<::std::sync::Arc<dyn $crate::store::MeasurementStore>> = $make.await;
                match store {
                    Some(store) => $crate::conformance::$case(store.as_ref()).await,
                    None => eprintln!("skipped: backend not configured"),
                }
            }
        )*
    };
}

/// A unique prefix per case and process, so cases can share a backend.
fn prefix(case: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{case}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fixed instant plus `ms` milliseconds.
pub fn t(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_780_000_000_000 + ms).unwrap()
}

/// A sealed successful measurement.
pub fn measurement(
    instance: &str,
    measure: &str,
    at: DateTime<Utc>,
    value: f64,
    labels: &[(&str, &str)],
) -> Measurement {
    let mut m = Measurement {
        id: String::new(),
        instance: instance.into(),
        measure: format!("{measure}@1.0.0"),
        measure_id: measure.into(),
        measure_version: "1.0.0".into(),
        measure_name: format!("The {measure}"),
        unit: "findings".into(),
        kind: "direct".into(),
        scale: "ratio".into(),
        timestamp: at,
        observed_at: None,
        value: Some(value),
        text: None,
        details: None,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        error: None,
        error_kind: None,
        duration_ms: 1.5,
    };
    m.seal();
    m
}

/// A sealed error measurement.
pub fn failure(instance: &str, measure: &str, at: DateTime<Utc>) -> Measurement {
    let mut m = measurement(instance, measure, at, 0.0, &[]);
    m.value = None;
    m.error = Some("the plugin trapped: unreachable".into());
    m.error_kind = Some("trap".into());
    m.seal();
    m
}

async fn append(store: &dyn MeasurementStore, batch: &[Measurement]) -> Vec<Appended> {
    let outcomes = store.append(batch).await.expect("append");
    assert_eq!(outcomes.len(), batch.len(), "one outcome per measurement");
    outcomes
}

fn selector(measure: &str, labels: &[(&str, &str)]) -> Selector {
    Selector {
        measure_id: measure.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

async fn of_instance(store: &dyn MeasurementStore, instance: &str) -> Vec<Measurement> {
    store
        .query(&Query {
            instance: Some(instance.into()),
            ..Query::default()
        })
        .await
        .expect("query")
}

pub async fn roundtrip_keeps_every_field(store: &dyn MeasurementStore) {
    let p = prefix("roundtrip");
    let mut full = measurement(
        &p,
        &p,
        t(0),
        0.1 + 0.2,
        &[
            ("team", "Zahlungsverkehr ✓"),
            ("a.b", "dotted key"),
            ("tier", "1"),
        ],
    );
    full.text = Some("B".into());
    full.details =
        Some(json!({"by_level": {"error": 3, "note": [1, 2.5, "x"]}, "tool": "flawfinder"}));
    full.observed_at = Some(t(-5_000));
    full.duration_ms = 12.25;
    full.seal();
    let failed = failure(&p, &p, t(1));
    let outcomes = append(store, &[full.clone(), failed.clone()]).await;
    assert!(
        outcomes.iter().all(|o| *o == Appended::Stored),
        "{outcomes:?}"
    );
    let got = of_instance(store, &p).await;
    assert_eq!(got, vec![full, failed], "every field comes back as stored");
}

pub async fn reappending_an_id_stores_it_once(store: &dyn MeasurementStore) {
    let p = prefix("idempotent");
    let a = measurement(&p, &p, t(0), 1.0, &[]);
    let b = measurement(&p, &p, t(1), 2.0, &[]);
    assert_eq!(
        append(store, std::slice::from_ref(&a)).await,
        vec![Appended::Stored]
    );
    // A retried batch holding the old one and a new one.
    assert_eq!(
        append(store, &[a.clone(), b.clone()]).await,
        vec![Appended::AlreadyStored, Appended::Stored]
    );
    assert_eq!(
        append(store, &[b.clone(), a.clone()]).await,
        vec![Appended::AlreadyStored, Appended::AlreadyStored]
    );
    // The same id inside one batch is stored once too.
    let c = measurement(&p, &p, t(2), 3.0, &[]);
    let outcomes = append(store, &[c.clone(), c.clone()]).await;
    assert_eq!(outcomes, vec![Appended::Stored, Appended::AlreadyStored]);
    assert_eq!(of_instance(store, &p).await, vec![a, b, c]);
}

pub async fn query_filters_and_orders(store: &dyn MeasurementStore) {
    let p = prefix("query");
    let (i1, i2, m) = (format!("{p}-1"), format!("{p}-2"), p.clone());
    let batch = vec![
        measurement(&i1, &m, t(30), 3.0, &[("team", "a")]),
        measurement(&i1, &m, t(10), 1.0, &[("team", "a")]),
        measurement(&i2, &m, t(20), 2.0, &[("team", "b")]),
        measurement(&i1, &m, t(20), 2.5, &[("team", "a"), ("run", "x")]),
        failure(&i1, &m, t(40)),
    ];
    append(store, &batch).await;
    let values =
        |rows: &[Measurement]| -> Vec<Option<f64>> { rows.iter().map(|m| m.value).collect() };
    let rows = of_instance(store, &i1).await;
    assert_eq!(
        values(&rows),
        vec![Some(1.0), Some(2.5), Some(3.0), None],
        "oldest first"
    );
    let q = |f: fn(&mut Query)| {
        let mut q = Query {
            measure_id: Some(m.clone()),
            ..Query::default()
        };
        f(&mut q);
        q
    };
    let run = |q: Query| async move { store.query(&q).await.expect("query") };
    assert_eq!(run(q(|_| {})).await.len(), 5);
    assert_eq!(
        values(&run(q(|q| q.since = Some(t(20)))).await),
        sorted_from_20(&batch),
        "since is inclusive; ties ordered by id"
    );
    assert_eq!(
        run(q(|q| q.until = Some(t(20)))).await.len(),
        3,
        "until is inclusive"
    );
    let latest_two = run(q(|q| q.limit = Some(2))).await;
    assert_eq!(
        latest_two.iter().map(|m| m.timestamp).collect::<Vec<_>>(),
        vec![t(30), t(40)],
        "a limit keeps the most recent, oldest first"
    );
    let team_a = run(q(|q| {
        q.labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
    }))
    .await;
    assert_eq!(team_a.len(), 3, "labels select: {team_a:?}");
    let none = run(q(|q| q.instance = Some("no-such-instance".into()))).await;
    assert!(none.is_empty());
}

/// Values of `batch` at or after t(20), ordered by (timestamp, id).
fn sorted_from_20(batch: &[Measurement]) -> Vec<Option<f64>> {
    let mut rows: Vec<&Measurement> = batch.iter().filter(|m| m.timestamp >= t(20)).collect();
    rows.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
    rows.iter().map(|m| m.value).collect()
}

pub async fn latest_is_the_last_success_at_or_before(store: &dyn MeasurementStore) {
    let p = prefix("latest");
    let m = p.clone();
    let a = measurement(&format!("{p}-a"), &m, t(10), 1.0, &[("team", "a")]);
    let b = measurement(&format!("{p}-b"), &m, t(10), 2.0, &[("team", "a")]);
    let later = measurement(&format!("{p}-a"), &m, t(50), 5.0, &[("team", "a")]);
    let other_team = measurement(&format!("{p}-c"), &m, t(20), 3.0, &[("team", "b")]);
    let err = failure(&format!("{p}-a"), &m, t(30));
    append(
        store,
        &[a.clone(), b.clone(), later.clone(), other_team.clone(), err],
    )
    .await;
    let latest = |labels: &'static [(&'static str, &'static str)], at| {
        let sel = selector(&m, labels);
        async move { store.latest(&sel, at).await.expect("latest") }
    };
    // Two at the same instant: the greater id.
    let tie = if a.id > b.id { &a } else { &b };
    assert_eq!(
        latest(&[("team", "a")], t(40)).await.as_ref(),
        Some(tie),
        "errors are skipped"
    );
    assert_eq!(
        latest(&[("team", "a")], t(50)).await.as_ref(),
        Some(&later),
        "at is inclusive"
    );
    assert_eq!(latest(&[], t(25)).await.as_ref(), Some(&other_team));
    assert_eq!(latest(&[("team", "a")], t(9)).await, None, "nothing before");
    assert_eq!(latest(&[("team", "z")], t(60)).await, None, "label scope");
}

/// A window row as compared: id, timestamp, value, labels.
type WindowEntry<'a> = (&'a str, DateTime<Utc>, f64, &'a BTreeMap<String, String>);

pub async fn windows_are_open_at_the_start_and_closed_at_the_end(store: &dyn MeasurementStore) {
    let p = prefix("window");
    let m = p.clone();
    let i = format!("{p}-i");
    let mut text_only = measurement(&i, &m, t(15), 0.0, &[("team", "a")]);
    text_only.value = None;
    text_only.text = Some("A".into());
    text_only.seal();
    let batch = vec![
        measurement(&i, &m, t(0), 100.0, &[("team", "a")]), // on the open edge: out
        measurement(&i, &m, t(1), 1.0, &[("team", "a")]),
        measurement(
            &format!("{p}-j"),
            &m,
            t(1),
            2.0,
            &[("team", "a"), ("x", "y")],
        ),
        text_only,
        failure(&i, &m, t(16)),
        measurement(&i, &m, t(20), 4.0, &[("team", "a")]), // on the closed edge: in
        measurement(&i, &m, t(21), 100.0, &[("team", "a")]), // after: out
        measurement(&i, &m, t(5), 100.0, &[("team", "b")]), // another team: out
    ];
    append(store, &batch).await;
    let sel = selector(&m, &[("team", "a")]);
    let bare = store
        .window(&sel, t(0), t(20), WindowColumns::default())
        .await
        .expect("window");
    let mut values: Vec<f64> = bare.iter().map(|r| r.value).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, vec![1.0, 2.0, 4.0]);
    assert!(
        bare.iter().all(|r| r.labels.is_empty()),
        "labels only when asked"
    );
    let full = store
        .window(
            &sel,
            t(0),
            t(20),
            WindowColumns {
                ids: true,
                labels: true,
            },
        )
        .await
        .expect("window");
    let mut expected: Vec<&Measurement> = batch
        .iter()
        .filter(|b| {
            b.timestamp > t(0)
                && b.timestamp <= t(20)
                && b.value.is_some()
                && b.error.is_none()
                && b.labels.get("team").map(String::as_str) == Some("a")
        })
        .collect();
    expected.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
    let got: Vec<WindowEntry> = full
        .iter()
        .map(|r| (r.id.as_str(), r.timestamp, r.value, &r.labels))
        .collect();
    let want: Vec<WindowEntry> = expected
        .iter()
        .map(|m| (m.id.as_str(), m.timestamp, m.value.unwrap(), &m.labels))
        .collect();
    assert_eq!(got, want, "ordered by timestamp then id");
    let empty = store
        .window(&sel, t(100), t(200), WindowColumns::default())
        .await
        .expect("window");
    assert!(empty.is_empty());
}

pub async fn aggregates_are_exact_or_absent(store: &dyn MeasurementStore) {
    let p = prefix("aggregate");
    let m = p.clone();
    let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0, 0.1, 0.2, -3.5];
    let batch: Vec<Measurement> = values
        .iter()
        .enumerate()
        .map(|(k, v)| measurement(&format!("{p}-{}", k % 3), &m, t(k as i64), *v, &[]))
        .chain([failure(&p, &m, t(3))])
        .collect();
    append(store, &batch).await;
    let sel = selector(&m, &[]);
    for acc in [
        Accumulator::Sum,
        Accumulator::Average,
        Accumulator::Maximum,
        Accumulator::Minimum,
        Accumulator::Count,
        Accumulator::Median,
        Accumulator::Percentile,
        Accumulator::StandardDeviation,
        Accumulator::Product,
    ] {
        let Some(agg) = store
            .aggregate(&sel, t(-1), t(100), acc)
            .await
            .expect("aggregate")
        else {
            continue; // not pushed down: the engine computes it from the window
        };
        assert_eq!(agg.count, values.len() as u64, "{acc:?}");
        let want =
            crate::derived::collective::accumulate(acc, &mut values.to_vec(), Some(90.0)).unwrap();
        let got = agg.value.expect("a value");
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{acc:?}: {got} vs {want}"
        );
        let empty = store
            .aggregate(&sel, t(1000), t(2000), acc)
            .await
            .expect("aggregate")
            .expect("pushed down for an empty window too");
        assert_eq!(empty.count, 0);
        match acc {
            Accumulator::Sum | Accumulator::Count => assert_eq!(empty.value, Some(0.0), "{acc:?}"),
            _ => assert_eq!(empty.value, None, "{acc:?} of nothing"),
        }
    }
}

pub async fn exists_at_tells_success_from_error(store: &dyn MeasurementStore) {
    let p = prefix("exists");
    append(
        store,
        &[measurement(&p, &p, t(1), 1.0, &[]), failure(&p, &p, t(2))],
    )
    .await;
    let p = p.as_str();
    let exists = |at, ok| async move { store.exists_at(p, at, ok).await.expect("exists_at") };
    assert!(exists(t(1), true).await);
    assert!(exists(t(1), false).await);
    assert!(!exists(t(2), true).await, "an error is not a success");
    assert!(exists(t(2), false).await);
    assert!(!exists(t(3), false).await);
}

/// More rows than one Elasticsearch page (10 000) in a query and a window.
pub async fn large_results_come_back_whole(store: &dyn MeasurementStore) {
    let p = prefix("large");
    let n = 12_345;
    let batch: Vec<Measurement> = (0..n)
        .map(|k| {
            measurement(
                &p,
                &p,
                t(k / 3),
                (k % 101) as f64,
                &[
                    ("k", &k.to_string()),
                    ("parity", if k % 2 == 0 { "even" } else { "odd" }),
                ],
            )
        })
        .collect();
    for chunk in batch.chunks(2_000) {
        append(store, chunk).await;
    }
    let rows = of_instance(store, &p).await;
    assert_eq!(rows.len(), n as usize);
    let mut want: Vec<&str> = batch.iter().map(|m| m.id.as_str()).collect();
    let mut sorted = batch.clone();
    sorted.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
    want.clear();
    want.extend(sorted.iter().map(|m| m.id.as_str()));
    let got: Vec<&str> = rows.iter().map(|m| m.id.as_str()).collect();
    assert!(got == want, "every row once, in order");
    let window = store
        .window(
            &selector(&p, &[("parity", "even")]),
            t(-1),
            t(n),
            WindowColumns {
                ids: true,
                labels: false,
            },
        )
        .await
        .expect("window");
    assert_eq!(window.len(), ((n + 1) / 2) as usize);
    let sum: f64 = window.iter().map(|r| r.value).sum();
    let want_sum: f64 = (0..n)
        .filter(|k| k % 2 == 0)
        .map(|k| (k % 101) as f64)
        .sum();
    assert_eq!(sum, want_sum);
}

/// Derived measures evaluated over this backend and over a fresh embedded
/// store holding the same inputs give identical results (values, errors
/// and provenance).
pub async fn derived_results_match_the_embedded_store(store: &dyn MeasurementStore) {
    let p = prefix("derived");
    let (m, n) = (format!("{p}-lead-time"), format!("{p}-deploys"));
    let mut batch = Vec::new();
    for k in 0..40i64 {
        let team = ["a", "b", "c"][(k % 3) as usize];
        batch.push(measurement(
            &format!("{p}-svc-{team}"),
            &m,
            t(k * 1000),
            ((k * 37) % 23) as f64 + 0.25,
            &[("team", team)],
        ));
    }
    batch.push(measurement(
        &format!("{p}-d"),
        &n,
        t(5_000),
        12.0,
        &[("team", "a")],
    ));
    batch.push(measurement(
        &format!("{p}-d"),
        &n,
        t(25_000),
        0.0,
        &[("team", "a")],
    ));
    batch.push(failure(&format!("{p}-svc-a"), &m, t(39_500)));
    append(store, &batch).await;
    let reference = SqliteStore::in_memory().expect("an in-memory store");
    reference
        .append(&batch)
        .await
        .expect("append to the reference");

    let definitions = [
        format!(
            r#"kind = "collective"
accumulator = "median"
window = "30s"
input = {{ measure = "{m}" }}"#
        ),
        format!(
            r#"kind = "collective"
accumulator = "percentile"
percentile = 90
window = "1h"
input = {{ measure = "{m}" }}"#
        ),
        format!(
            r#"kind = "collective"
accumulator = "average"
window = "20s"
group_by = ["team"]
input = {{ measure = "{m}" }}"#
        ),
        format!(
            r#"kind = "collective"
accumulator = "sum"
window = "1h"
input = {{ measure = "{m}", labels = {{ team = "b" }} }}"#
        ),
        format!(
            r#"kind = "collective"
accumulator = "standard_deviation"
window = "1h"
input = {{ measure = "{m}" }}"#
        ),
        format!(
            r#"kind = "counting"
window = "1h"
predicate = {{ lower = 10 }}
input = {{ measure = "{m}" }}"#
        ),
        format!(
            r#"kind = "ratio"
numerator = {{ measure = "{m}", labels = {{ team = "a" }} }}
denominator = {{ measure = "{n}" }}"#
        ),
        format!(
            r#"kind = "grade"
input = {{ measure = "{m}", labels = {{ team = "c" }} }}
intervals = [{{ upper = 10, upper_closed = false, symbol = "A" }}, {{ lower = 10, symbol = "B" }}]"#
        ),
    ];
    let instance = Instance {
        name: p.clone(),
        measure_id: p.clone(),
        measure_version: semver::Version::new(1, 0, 0),
        config: json!({}),
        labels: BTreeMap::new(),
        schedule: None,
        timezone: None,
        grants: Vec::new(),
        hosts: Vec::new(),
        secrets: Vec::new(),
        limits: LimitOverrides::default(),
        catch_up: CatchUp::default(),
        paused: false,
        created_at: t(0),
    };
    for body in &definitions {
        let file = format!(
            "[measure]\nid = \"d\"\nversion = \"1.0.0\"\nname = \"d\"\nunit = \"1\"\nscale = \"ratio\"\n[derived]\n{body}\n"
        );
        let definition: DerivedDefinition =
            smm_catalogue::DerivedMeasure::parse("conformance", &file)
                .expect(body)
                .definition;
        for at in [t(4_000), t(20_500), t(26_000), t(39_500), t(90_000)] {
            let got = evaluate(&definition, &instance, at, store).await;
            let want = evaluate(&definition, &instance, at, &reference).await;
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{body} at {at}"),
                (got, want) => panic!("{body} at {at}: {got:?} vs {want:?}"),
            }
        }
    }
}
