//! A derived collective (average over a 30-day window) over 1M stored
//! measurements, against SQLite's own `AVG` over the same rows, in one run.
//!
//! `cargo bench -p smm-engine --bench derived`

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use smm_catalogue::{Implementation, InstanceSpec};
use smm_engine::{Engine, Home};

const ROWS: i64 = 1_000_000;

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rows = if quick { 10_000 } else { ROWS };
    let runs = if quick { 3 } else { 15 };
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let def = home.path().join("avg.toml");
    for (id, acc) in [("avg-30d", "average"), ("median-30d", "median")] {
        std::fs::write(
            &def,
            format!("[measure]\nid = \"{id}\"\nversion = \"1.0.0\"\nname = \"{id}\"\nunit = \"1\"\nscale = \"ratio\"\n[derived]\nkind = \"collective\"\naccumulator = \"{acc}\"\nwindow = \"30d\"\ninput = {{ measure = \"lead-time\" }}\n"),
        )
        .unwrap();
        rt.block_on(engine.register_file(&def)).unwrap();
        engine
            .create_instance(InstanceSpec::new(id, id, json!({})))
            .unwrap();
    }

    // Seed: `rows` measurements spread over 30 days, plus 10% older ones
    // outside the window and 10% of another measure, in one transaction.
    let now = Utc::now().timestamp_millis();
    let span = 30 * 86_400_000i64;
    let seed = Instant::now();
    let mut conn = rusqlite::Connection::open(home.path().join("smm.db")).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO measurements (id, instance, measure_id, measure_version, ts, value, labels, duration_ms)
                 VALUES (printf('%032x', ?5), ?1, ?2, '1.0.0', ?3, ?4, '{\"team\":\"a\"}', 0)",
            )
            .unwrap();
        for i in 0..rows {
            let ts = now - 60_000 - (i * (span - 120_000) / rows);
            insert
                .execute(rusqlite::params![
                    "svc",
                    "lead-time",
                    ts,
                    (i % 97) as f64 * 1.5,
                    i
                ])
                .unwrap();
        }
        for i in 0..rows / 10 {
            insert
                .execute(rusqlite::params![
                    "svc",
                    "lead-time",
                    now - span - 1000 - i,
                    1e6,
                    rows + 2 * i
                ])
                .unwrap();
            insert
                .execute(rusqlite::params![
                    "other",
                    "other-measure",
                    now - i,
                    1e6,
                    rows + 2 * i + 1
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    let seeded = seed.elapsed();

    let at = chrono::DateTime::from_timestamp_millis(now).unwrap();
    let after = now - span;
    let sql = "SELECT AVG(value) FROM measurements WHERE measure_id = 'lead-time' AND ts > ?1 AND ts <= ?2 AND error IS NULL AND value IS NOT NULL";
    let mut raw = Vec::new();
    let mut expected = 0.0;
    for _ in 0..runs {
        let t = Instant::now();
        expected = conn
            .query_row(sql, [after, now], |r| r.get::<_, f64>(0))
            .unwrap();
        raw.push(t.elapsed());
    }

    let evaluate = |name: &str| -> (Vec<Duration>, f64) {
        let instance = engine.catalogue().instance(name).unwrap();
        let record = engine.catalogue().resolve(&name.parse().unwrap()).unwrap();
        let Implementation::Derived { definition } = record.implementation else {
            unreachable!()
        };
        let mut times = Vec::new();
        let mut value = 0.0;
        for _ in 0..runs {
            let t = Instant::now();
            let d = rt
                .block_on(smm_engine::derived::evaluate(
                    &definition,
                    &instance,
                    at,
                    engine.measurements().as_ref(),
                ))
                .unwrap();
            times.push(t.elapsed());
            value = d[0].value.unwrap();
        }
        (times, value)
    };
    let (avg, got) = evaluate("avg-30d");
    assert!(
        (got - expected).abs() < 1e-9 * expected.abs().max(1.0),
        "{got} vs {expected}"
    );
    let (median_times, _) = evaluate("median-30d");

    println!(
        "\n{rows} measurements in the window (+{} outside), seeded in {:.1} s",
        rows / 5,
        seeded.as_secs_f64()
    );
    println!("{:<62} {:>10}", "median of runs", "time");
    println!(
        "{:<62} {:>10}",
        "floor: SQLite AVG(value) over the window",
        ms(median(raw.clone()))
    );
    println!(
        "{:<62} {:>10}",
        "smm derived collective average (30d) incl. provenance",
        ms(median(avg.clone()))
    );
    println!(
        "{:<62} {:>10}",
        "smm derived collective median (values moved to Rust)",
        ms(median(median_times))
    );
    println!(
        "\nderived average / SQLite AVG: {:.2}x   (target <= 1.5x)",
        median(avg).as_secs_f64() / median(raw).as_secs_f64()
    );
}
