//! `smm serve` end to end: real components, scheduled every second, run by
//! the real binary until SIGTERM; then `smm query` shows what they stored.

use std::time::{Duration, Instant};

use serde_json::Value;
use smm_tests::{Smm, component, workspace};

#[test]
fn serve_collects_scheduled_instances_until_sigterm() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let sarif = component("sarif-findings");
    let junit = component("junit-tests");
    smm.ok(&[
        "measure",
        "register",
        sarif.to_str().unwrap(),
        junit.to_str().unwrap(),
    ]);
    let samples = workspace().join("measures/samples");
    let s = samples.to_str().unwrap();
    for (name, measure, file) in [
        ("sast", "sarif-findings", "flawfinder.sarif"),
        ("tests", "junit-tests", "pytest-junit.xml"),
    ] {
        smm.ok(&[
            "instance",
            "create",
            name,
            "--measure",
            measure,
            "--config",
            &format!(r#"{{"path":"{s}/{file}"}}"#),
            "--grant-dir",
            s,
            "--schedule",
            "* * * * * *",
        ]);
    }
    // A derived ratio over the two, recomputed whenever either stores:
    // findings per passed-percentage point (any ratio of the two will do).
    let def = smm.home.path().join("findings-per-pass.toml");
    std::fs::write(
        &def,
        "[measure]\nid = \"findings-per-pass\"\nversion = \"1.0.0\"\nname = \"Findings per pass-rate point\"\nunit = \"1\"\nscale = \"ratio\"\n\n[derived]\nkind = \"ratio\"\nmax_age = \"1m\"\nnumerator = { measure = \"sarif-findings\" }\ndenominator = { measure = \"junit-tests\" }\n",
    )
    .unwrap();
    smm.ok(&["measure", "register", def.to_str().unwrap()]);
    smm.ok(&[
        "instance",
        "create",
        "ratio",
        "--measure",
        "findings-per-pass",
    ]);

    let serve = smm.spawn(&["serve", "--log-format", "json"]);

    let count = |name: &str| -> usize {
        smm.json_lines(&["query", name, "--json"])
            .as_array()
            .unwrap()
            .len()
    };
    let started = Instant::now();
    while count("sast") < 2 || count("tests") < 2 || count("ratio") < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve stored too little in 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Pausing from another process takes effect without a restart.
    smm.ok(&["instance", "pause", "tests"]);
    std::thread::sleep(Duration::from_millis(1500));
    let paused_at = count("tests");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count("tests"), paused_at, "a paused instance is not run");

    smm_tests::terminate(&serve);
    let out = serve.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "serve exits 0 on SIGTERM: {}\n{logs}",
        out.status
    );
    let first = logs.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<Value>(first).is_ok(),
        "JSON logs: {first}"
    );
    assert!(logs.contains("SIGTERM received"), "{logs}");

    let log: Value =
        serde_json::from_slice(&std::fs::read(samples.join("flawfinder.sarif")).unwrap()).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap().len() as f64;
    let rows: Value = smm.json_lines(&["query", "sast", "--json"]);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["error"].is_null() && r["value"].as_f64() == Some(results)),
        "{rows}"
    );
    // The derived ratio was recomputed as inputs arrived: each successful
    // one equals the inputs it names in its provenance.
    let ratios: Value = smm.json_lines(&["query", "ratio", "--json"]);
    let ok: Vec<&Value> = ratios
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["error"].is_null())
        .collect();
    assert!(ok.len() >= 2, "{ratios}");
    for r in ok {
        let inputs = r["details"]["inputs"].as_array().unwrap();
        let (n, d) = (
            inputs[0]["value"].as_f64().unwrap(),
            inputs[1]["value"].as_f64().unwrap(),
        );
        assert_eq!(inputs[0]["input"], "numerator");
        assert!((r["value"].as_f64().unwrap() - n / d).abs() < 1e-12, "{r}");
    }
    let list = smm.ok(&["instance", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("sast") && l.contains("active") && l.contains(" ok ")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("tests") && l.contains("paused")),
        "{list}"
    );
}
