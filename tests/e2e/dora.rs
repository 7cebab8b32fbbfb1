//! The standard DORA and security-delivery derived measures
//! (`measures/derived/*.toml`), on stored inputs of the direct delivery
//! measures, against values computed by hand here — band edges included —
//! and the escape rate over a real finding lifecycle (two Trivy scans).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use smm_catalogue::InstanceSpec;
use smm_engine::{Engine, Home, Measurement};
use smm_tests::{component, shared_fixture, workspace};

struct World {
    engine: Engine,
    _home: tempfile::TempDir,
}

const SCOPE: &[(&str, &str)] = &[("service", "shop")];

impl World {
    async fn new(derived: &[&str]) -> World {
        let home = tempfile::tempdir().unwrap();
        let engine = Engine::open(&Home::new(home.path())).unwrap();
        for package in [
            "github-deployments",
            "github-lead-time",
            "github-incidents",
            "trivy-vulnerabilities",
        ] {
            engine.register_file(&component(package)).await.unwrap();
        }
        for id in derived {
            let path = workspace().join(format!("measures/derived/{id}.toml"));
            engine.register_file(&path).await.unwrap();
        }
        World {
            engine,
            _home: home,
        }
    }

    /// An instance in scope (labelled service=shop).
    fn instance(&self, name: &str, measure: &str, config: Value) {
        let mut spec = InstanceSpec::new(name, measure, config);
        spec.labels = SCOPE
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.engine.create_instance(spec).unwrap();
    }

    /// A stored measurement of `measure` by `instance`, with `details`.
    async fn store(&self, instance: &str, measure: &str, value: f64, details: Value, ago_s: i64) {
        let at = Utc::now() - Duration::seconds(ago_s);
        let mut m: Measurement =
            smm_engine::conformance::measurement(instance, measure, at, value, SCOPE);
        m.details = Some(details);
        m.seal();
        self.engine.measurements().append(&[m]).await.unwrap();
    }

    async fn derive(&self, name: &str) -> Measurement {
        self.engine.run(name).await.unwrap()
    }
}

fn repo() -> Value {
    json!({"repository": "acme/shop"})
}

#[tokio::test]
async fn dora_measures_on_stored_inputs_by_hand() {
    let derived = [
        "deployment-frequency",
        "deployment-frequency-grade",
        "lead-time-for-changes-grade",
        "change-failure-rate",
        "change-failure-rate-grade",
        "failed-deployment-recovery-time",
        "failed-deployment-recovery-time-grade",
        "rework-rate",
        "security-change-failure-rate",
        "security-remediation-lead-time",
        "security-hotfix-share",
    ];
    let w = World::new(&derived).await;
    w.instance("deploys", "github-deployments", repo());
    w.instance("lead", "github-lead-time", repo());
    w.instance("incidents", "github-incidents", repo());
    for d in derived {
        w.instance(d, d, json!({}));
    }
    // 12 successful deployments in 30 days; 16 shipped changes, 2 of the
    // 8 deployments with changes shipped a fix, 1 of those for security;
    // 2 of 16 deployments caused an incident, 1 a security one.
    w.store(
        "deploys",
        "github-deployments",
        12.0,
        json!({"per_day": 0.4, "deployments": []}),
        60,
    )
    .await;
    w.store(
        "lead",
        "github-lead-time",
        30.5,
        json!({"rework_rate": 0.25, "rework_deployments": 2, "security_rework_deployments": 1}),
        60,
    )
    .await;
    w.store(
        "incidents",
        "github-incidents",
        1.0,
        json!({"change_failure_rate": 0.125, "median_time_to_restore_hours": 5.5,
               "security": {"change_failure_rate": 0.0625, "median_time_to_restore_hours": 12.0,
                            "remediation_lead_time_hours": 17.0}}),
        60,
    )
    .await;
    let value = |m: &Measurement| {
        assert_eq!(m.error, None, "{m:?}");
        m.value.unwrap()
    };
    let text = |m: &Measurement| {
        assert_eq!(m.error, None, "{m:?}");
        m.text.clone().unwrap()
    };
    assert_eq!(value(&w.derive("deployment-frequency").await), 0.4);
    // 1/7 <= 0.4 <= 1 a day.
    assert_eq!(text(&w.derive("deployment-frequency-grade").await), "High");
    // 24 h <= 30.5 h < 1 week.
    assert_eq!(text(&w.derive("lead-time-for-changes-grade").await), "High");
    assert_eq!(value(&w.derive("change-failure-rate").await), 12.5);
    // 10 % < 12.5 % <= 15 %.
    assert_eq!(text(&w.derive("change-failure-rate-grade").await), "Medium");
    assert_eq!(
        value(&w.derive("failed-deployment-recovery-time").await),
        5.5
    );
    assert_eq!(
        text(&w.derive("failed-deployment-recovery-time-grade").await),
        "High"
    );
    assert_eq!(value(&w.derive("rework-rate").await), 25.0);
    assert_eq!(value(&w.derive("security-change-failure-rate").await), 6.25);
    // The remediation lead time, not the incidents' restore time.
    assert_eq!(
        value(&w.derive("security-remediation-lead-time").await),
        17.0
    );
    assert_eq!(value(&w.derive("security-hotfix-share").await), 50.0);

    // Nothing to compute from (no deployment in the window): an error
    // measurement naming the field, not a 0.
    w.store(
        "incidents",
        "github-incidents",
        0.0,
        json!({"change_failure_rate": null, "median_time_to_restore_hours": null,
               "security": {"change_failure_rate": null, "median_time_to_restore_hours": null}}),
        30,
    )
    .await;
    let m = w.derive("change-failure-rate").await;
    assert_eq!(m.error_kind.as_deref(), Some("missing-input"), "{m:?}");
    assert!(m.error.unwrap().contains("change_failure_rate"));
}

#[tokio::test]
async fn every_dora_band_edge_falls_where_the_report_says() {
    let w = World::new(&[
        "deployment-frequency-grade",
        "lead-time-for-changes-grade",
        "change-failure-rate-grade",
        "failed-deployment-recovery-time-grade",
    ])
    .await;
    w.instance("deploys", "github-deployments", repo());
    w.instance("lead", "github-lead-time", repo());
    w.instance("incidents", "github-incidents", repo());
    for g in [
        "deployment-frequency-grade",
        "lead-time-for-changes-grade",
        "change-failure-rate-grade",
        "failed-deployment-recovery-time-grade",
    ] {
        w.instance(g, g, json!({}));
    }
    let eps = 1e-9;
    // (input measurement, value or detail, grade, expected band)
    let month = 1.0 / 30.0;
    let week = 1.0 / 7.0;
    let frequency = [
        (0.0, "Low"),
        (month - eps, "Low"),
        (month, "Medium"),
        (week - eps, "Medium"),
        (week, "High"),
        (1.0, "High"),
        (1.0 + eps, "Elite"),
        (5.0, "Elite"),
    ];
    let lead = [
        (0.0, "Elite"),
        (24.0 - eps, "Elite"),
        (24.0, "High"),
        (168.0 - eps, "High"),
        (168.0, "Medium"),
        (720.0 - eps, "Medium"),
        (720.0, "Low"),
    ];
    let cfr = [
        (0.0, "Elite"),
        (0.05, "Elite"),
        (0.05 + eps, "High"),
        (0.10, "High"),
        (0.10 + eps, "Medium"),
        (0.15, "Medium"),
        (0.15 + eps, "Low"),
        (1.0, "Low"),
    ];
    let recovery = [
        (0.0, "Elite"),
        (1.0 - eps, "Elite"),
        (1.0, "High"),
        (24.0 - eps, "High"),
        (24.0, "Medium"),
        (168.0 - eps, "Medium"),
        (168.0, "Low"),
    ];
    // Each value is stored a little later than the previous one, so the
    // grade reads it as the latest.
    let mut ago = 10_000;
    for (v, band) in frequency {
        w.store(
            "deploys",
            "github-deployments",
            0.0,
            json!({"per_day": v}),
            ago,
        )
        .await;
        ago -= 1;
        let m = w.derive("deployment-frequency-grade").await;
        assert_eq!(m.text.as_deref(), Some(band), "{v} a day: {m:?}");
    }
    for (v, band) in lead {
        w.store("lead", "github-lead-time", v, json!({}), ago).await;
        ago -= 1;
        let m = w.derive("lead-time-for-changes-grade").await;
        assert_eq!(m.text.as_deref(), Some(band), "{v} h: {m:?}");
    }
    for (v, band) in cfr {
        w.store(
            "incidents",
            "github-incidents",
            0.0,
            json!({"change_failure_rate": v}),
            ago,
        )
        .await;
        ago -= 1;
        let m = w.derive("change-failure-rate-grade").await;
        assert_eq!(m.text.as_deref(), Some(band), "rate {v}: {m:?}");
    }
    for (v, band) in recovery {
        w.store(
            "incidents",
            "github-incidents",
            0.0,
            json!({"median_time_to_restore_hours": v}),
            ago,
        )
        .await;
        ago -= 1;
        let m = w.derive("failed-deployment-recovery-time-grade").await;
        assert_eq!(m.text.as_deref(), Some(band), "{v} h: {m:?}");
    }
}

#[tokio::test]
async fn escape_rate_joins_deployments_with_the_finding_lifecycle() {
    let (Some(vulnerable), Some(clean)) = (
        shared_fixture("trivy/trivy_scheme_2_many_vulns.json"),
        shared_fixture("trivy/trivy_scheme_2_no_vuln.json"),
    ) else {
        return;
    };
    let w = World::new(&["escape-rate"]).await;
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().canonicalize().unwrap();
    let report = dir.join("trivy.json");
    let mut scan = InstanceSpec::new("scan", "trivy-vulnerabilities", json!({"path": report}));
    scan.grants = vec![dir.clone()];
    scan.labels = SCOPE
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    w.engine.create_instance(scan).unwrap();
    w.instance("deploys", "github-deployments", repo());
    w.instance("escape-rate", "escape-rate", json!({}));

    // A scan with findings, then a clean one: every finding open from the
    // first scan to the second.
    std::fs::copy(&vulnerable, &report).unwrap();
    assert_eq!(w.engine.run("scan").await.unwrap().error, None);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    std::fs::copy(&clean, &report).unwrap();
    assert_eq!(w.engine.run("scan").await.unwrap().error, None);
    let periods = w.engine.finding_periods(Some("scan"), false).await.unwrap();
    let severe = periods
        .iter()
        .filter(|p| p.severity == "high" || p.severity == "critical")
        .count();
    assert!(severe > 0, "the report has high or critical findings");
    let opened: DateTime<Utc> = periods.iter().map(|p| p.opened_at).min().unwrap();
    let fixed: DateTime<Utc> = periods.iter().filter_map(|p| p.fixed_at).max().unwrap();
    let during = opened + (fixed - opened) / 2;

    // Three successful deployments: before the findings, while they were
    // open, after the fix; a failed one while open does not count.
    let deployment = |id: u64, at: DateTime<Utc>, state: &str| json!({"id": id, "sha": format!("{id:040}"), "finished_at": at.to_rfc3339(), "state": state});
    let list = json!([
        deployment(1, opened - Duration::hours(1), "success"),
        deployment(2, during, "success"),
        deployment(3, during, "failure"),
        deployment(4, fixed + Duration::milliseconds(1), "success"),
    ]);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    w.store(
        "deploys",
        "github-deployments",
        3.0,
        json!({"deployments": list}),
        0,
    )
    .await;
    let m = w.derive("escape-rate").await;
    assert_eq!(m.error, None, "{m:?}");
    // 1 of the 3 successful deployments shipped with them open.
    assert!((m.value.unwrap() - 100.0 / 3.0).abs() < 1e-9, "{m:?}");
    let details = m.details.unwrap();
    assert_eq!(details["deployments"], 3);
    assert_eq!(details["escaped"], 1);
    let escaped: Vec<&Value> = details["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["open"] != 0)
        .collect();
    assert_eq!(escaped.len(), 1);
    assert_eq!(escaped[0]["id"], "2");
    assert_eq!(escaped[0]["open"], severe);
}
