//! End to end through the real `smm` binary: standard measures built from
//! source, registered, bound to the sample reports, run, stored and queried.

use std::path::PathBuf;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;
use smm_tests::{Smm, component, shared_fixture, workspace};

fn smm() -> Smm {
    Smm::new(env!("CARGO_BIN_EXE_smm"))
}

fn samples() -> PathBuf {
    workspace().join("measures/samples")
}

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// Results in a SARIF log, counted here independently of the measure.
fn sarif_results(path: &std::path::Path) -> u64 {
    let log: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    log["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["results"].as_array().map_or(0, Vec::len) as u64)
        .sum()
}

/// Pass rate from the `<testsuite>` summary attributes, which the measure
/// does not read (it counts `<testcase>` elements).
fn junit_rate_from_headers(path: &std::path::Path) -> f64 {
    let xml = std::fs::read(path).unwrap();
    let mut reader = Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    let (mut tests, mut bad, mut skipped) = (0.0, 0.0, 0.0);
    loop {
        match reader.read_event_into(&mut buf).unwrap() {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "testsuite" => {
                for a in e.attributes() {
                    let a = a.unwrap();
                    let v: f64 = a.value.parse().unwrap_or(0.0);
                    match a.key.as_ref() {
                        "tests" => tests += v,
                        "failures" | "errors" => bad += v,
                        "skipped" => skipped += v,
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    100.0 * (tests - skipped - bad) / (tests - skipped)
}

fn register_standard(smm: &Smm) {
    let sarif = component("sarif-findings");
    let junit = component("junit-tests");
    let out = smm.ok(&["measure", "register", path_str(&sarif), path_str(&junit)]);
    assert!(out.contains("registered sarif-findings@1.3.0"), "{out}");
    assert!(out.contains("registered junit-tests@1.1.0"), "{out}");
}

#[test]
fn register_create_run_query_sarif_and_junit() {
    let smm = smm();
    register_standard(&smm);

    let list = smm.ok(&["measure", "list"]);
    assert!(
        list.contains("sarif-findings@1.3.0") && list.contains("junit-tests@1.1.0"),
        "{list}"
    );
    let show = smm.ok(&["measure", "show", "sarif-findings"]);
    assert!(
        show.contains("\"path\""),
        "the config schema names `path`:\n{show}"
    );
    assert!(show.contains("counting"), "{show}");

    let dir = samples();
    let sarif = dir.join("flawfinder.sarif");
    let junit = dir.join("pytest-junit.xml");
    smm.ok(&[
        "instance",
        "create",
        "legacy-sast",
        "--measure",
        "sarif-findings",
        "--config",
        &format!(r#"{{"path":"{}"}}"#, path_str(&sarif)),
        "--grant-dir",
        path_str(&dir),
        "--label",
        "team=payments",
        "--label",
        "tier=1",
    ]);
    let cfg = smm.home.path().join("junit.json");
    std::fs::write(&cfg, format!(r#"{{"path":"{}"}}"#, path_str(&junit))).unwrap();
    smm.ok(&[
        "instance",
        "create",
        "pricing-tests",
        "--measure",
        "junit-tests@1.1.0",
        "--config",
        &format!("@{}", path_str(&cfg)),
        "--grant-dir",
        path_str(&dir),
    ]);
    let instances = smm.ok(&["instance", "list"]);
    assert!(
        instances.contains("legacy-sast") && instances.contains("team=payments"),
        "{instances}"
    );

    let m = smm.run_json("legacy-sast");
    assert_eq!(m["error"], Value::Null, "{m}");
    assert_eq!(m["value"].as_f64().unwrap() as u64, sarif_results(&sarif));
    assert_eq!(m["instance"], "legacy-sast");
    assert_eq!(m["measure"], "sarif-findings@1.3.0");
    assert_eq!(m["labels"]["team"], "payments");
    let by_level = m["details"]["by_level"].as_object().unwrap();
    let sum: u64 = by_level.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(sum, sarif_results(&sarif), "levels partition the results");
    assert!(m["timestamp"].as_str().unwrap().starts_with("20"), "{m}");

    let t = smm.run_json("pricing-tests");
    let expected = junit_rate_from_headers(&junit);
    assert!(
        (t["value"].as_f64().unwrap() - expected).abs() < 1e-9,
        "{t} vs {expected}"
    );
    assert_eq!(t["details"]["skipped"], 1);

    // A second run, then query returns both, oldest first.
    smm.run_json("legacy-sast");
    let q: Value = smm.json_lines(&["query", "legacy-sast", "--json"]);
    let rows = q.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["timestamp"].as_str() <= rows[1]["timestamp"].as_str());
    assert!(rows.iter().all(|r| r["instance"] == "legacy-sast"));
    let recent: Value = smm.json_lines(&["query", "legacy-sast", "--since", "1h", "--json"]);
    assert_eq!(recent.as_array().unwrap().len(), 2);
    let future: Value = smm.json_lines(&[
        "query",
        "legacy-sast",
        "--since",
        "2999-01-01T00:00:00Z",
        "--json",
    ]);
    assert!(future.as_array().unwrap().is_empty());
    let text = smm.ok(&["query", "pricing-tests"]);
    assert!(text.contains("66.6667"), "{text}");
    assert!(smm.fails(&["query", "nope"]).contains("no instance nope"));

    // A standard derived measure, backfilled over the two stored runs.
    let grade_def = workspace().join("measures/derived/sast-grade.toml");
    smm.ok(&["measure", "register", path_str(&grade_def)]);
    smm.ok(&[
        "instance",
        "create",
        "grade",
        "--measure",
        "sast-grade",
        "--label",
        "team=payments",
    ]);
    let out = smm.ok(&["derive", "grade", "--since", "1h"]);
    assert!(
        out.contains("2 instants") && out.contains("2 new measurements"),
        "{out}"
    );
    let out = smm.ok(&["derive", "grade", "--since", "1h"]);
    assert!(out.contains("0 new measurements"), "idempotent: {out}");
    let grades: Value = smm.json_lines(&["query", "grade", "--json"]);
    let n = sarif_results(&sarif);
    let expected = match n {
        0 => "A",
        1..=5 => "B",
        6..=15 => "C",
        16..=30 => "D",
        _ => "E",
    };
    assert!(
        grades
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["text"] == expected),
        "{n} findings: {grades}"
    );
    assert!(
        smm.fails(&["query", "legacy-sast", "--since", "yesterday-ish"])
            .contains("--since")
    );
}

#[test]
fn real_third_party_reports_are_measured() {
    let (Some(cppcheck), Some(surefire), Some(empty)) = (
        shared_fixture("sarif/cppcheck-2.17.1_many_vuln.sarif"),
        shared_fixture("junit/surefire_TEST-StringUtilsTest.xml"),
        shared_fixture("junit/empty_java-junit.xml"),
    ) else {
        return;
    };
    let smm = smm();
    register_standard(&smm);
    let grant = |p: &std::path::Path| p.parent().unwrap().to_str().unwrap().to_string();
    let create = |name: &str, measure: &str, path: &std::path::Path| {
        smm.ok(&[
            "instance",
            "create",
            name,
            "--measure",
            measure,
            "--config",
            &format!(r#"{{"path":"{}"}}"#, path.display()),
            "--grant-dir",
            &grant(path),
        ]);
    };
    create("cppcheck", "sarif-findings", &cppcheck);
    create("surefire", "junit-tests", &surefire);
    create("empty", "junit-tests", &empty);

    let m = smm.run_json("cppcheck");
    assert_eq!(
        m["value"].as_f64().unwrap() as u64,
        sarif_results(&cppcheck)
    );
    let s = smm.run_json("surefire");
    assert!(
        (s["value"].as_f64().unwrap() - junit_rate_from_headers(&surefire)).abs() < 1e-9,
        "{s}"
    );

    // No executed test: an error measurement, stored, and a non-zero exit.
    let e = smm.run_json("empty");
    assert_eq!(e["value"], Value::Null);
    assert_eq!(e["error_kind"], "input");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("no executed test case"),
        "{e}"
    );
    let stored: Value = smm.json_lines(&["query", "empty", "--json"]);
    assert_eq!(stored.as_array().unwrap().len(), 1);
    let stderr = smm.fails(&["run", "empty"]);
    assert!(
        stderr.starts_with("error: instance empty: the measurement failed"),
        "{stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one-line cause: {stderr}"
    );
}

#[test]
fn bad_configuration_is_refused_with_its_json_pointer() {
    let smm = smm();
    register_standard(&smm);
    let dir = samples();
    let err = smm.fails(&[
        "instance",
        "create",
        "bad",
        "--measure",
        "sarif-findings",
        "--config",
        r#"{"path": 42}"#,
        "--grant-dir",
        path_str(&dir),
    ]);
    assert!(err.contains("at /path"), "{err}");
    let err = smm.fails(&[
        "instance",
        "create",
        "bad",
        "--measure",
        "sarif-findings",
        "--config",
        r#"{"paht": "x"}"#,
    ]);
    assert!(
        err.contains("path") && err.contains("paht"),
        "missing and unknown properties named: {err}"
    );
    let err = smm.fails(&[
        "instance",
        "create",
        "bad",
        "--measure",
        "sarif-findings",
        "--config",
        "{nope",
    ]);
    assert!(err.contains("not valid JSON"), "{err}");
    let err = smm.fails(&["instance", "create", "bad", "--measure", "no-such-measure"]);
    assert!(err.contains("no measure no-such-measure"), "{err}");
    let err = smm.fails(&[
        "instance",
        "create",
        "bad",
        "--measure",
        "sarif-findings",
        "--config",
        r#"{"path":"/x"}"#,
        "--schedule",
        "every minute",
    ]);
    assert!(err.contains("cron"), "{err}");
    assert!(
        smm.ok(&["instance", "list"]).contains("no instance"),
        "nothing was created"
    );
}

#[test]
fn a_report_outside_the_granted_directories_cannot_be_read() {
    let smm = smm();
    register_standard(&smm);
    let outer = tempfile::tempdir().unwrap();
    let outer_path = outer.path().canonicalize().unwrap();
    let granted = outer_path.join("granted");
    std::fs::create_dir(&granted).unwrap();
    let secret = outer_path.join("secret.sarif");
    std::fs::copy(samples().join("flawfinder.sarif"), &secret).unwrap();
    let create = |name: &str, path: &str, grant: &std::path::Path| {
        smm.run(&[
            "instance",
            "create",
            name,
            "--measure",
            "sarif-findings",
            "--config",
            &format!(r#"{{"path":"{path}"}}"#),
            "--grant-dir",
            path_str(grant),
        ])
    };
    // Refused when the instance is created, not at every run: the path
    // field lies outside the grant (directly or through `..`). That a
    // plugin cannot read there anyway is tested in sandbox.rs.
    for (name, path) in [
        ("escape", path_str(&secret).to_string()),
        ("dotdot", format!("{}/../secret.sarif", path_str(&granted))),
    ] {
        let out = create(name, &path, &granted);
        assert!(!out.status.success(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("at /path") && err.contains("outside the granted"),
            "{err}"
        );
    }
    assert!(
        create("granted", path_str(&secret), &outer_path)
            .status
            .success()
    );
    // The same file is readable once its directory is granted.
    let m = smm.run_json("granted");
    assert_eq!(
        m["value"].as_f64().unwrap() as u64,
        sarif_results(&secret),
        "{m}"
    );
}

#[test]
fn listings_fit_their_content_and_say_what_each_thing_is() {
    let smm = smm();
    let probe = component("probe-plugin");
    smm.ok(&[
        "measure",
        "register",
        path_str(&probe),
        path_str(&workspace().join("measures/derived/sast-grade.toml")),
    ]);
    // Derived measures show their SMM kind, not `direct`.
    let measures = smm.ok(&["measure", "list"]);
    let grade = measures
        .lines()
        .find(|l| l.starts_with("sast-grade@"))
        .unwrap();
    assert!(
        grade.split_whitespace().nth(1) == Some("grade"),
        "{measures}"
    );
    // A long name does not push the next column out of line.
    let long = "a-rather-long-instance-name-for-the-payments-api-nightly-scan";
    for name in [long, "short"] {
        smm.ok(&[
            "instance",
            "create",
            name,
            "--measure",
            "probe",
            "--config",
            r#"{"behaviour":"constant","value":2}"#,
            "--label",
            "team=payments",
        ]);
    }
    let list = smm.ok(&["instance", "list"]);
    let column = |line: &str| {
        line.find("probe@")
            .or_else(|| line.find("MEASURE"))
            .unwrap()
    };
    let starts: Vec<usize> = list.lines().map(column).collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{list}");

    // One instance in full.
    smm.ok(&["run", "short"]);
    let shown = smm.ok(&["instance", "show", "short"]);
    for want in [
        "instance:   short",
        "probe@1.0.0",
        "team=payments",
        "\"behaviour\": \"constant\"",
        "last error: -",
    ] {
        assert!(shown.contains(want), "{want}: {shown}");
    }
    let json: Value =
        serde_json::from_str(&smm.ok(&["instance", "show", "short", "--json"])).unwrap();
    assert_eq!(json["config"]["value"], 2);
    assert_eq!(json["effective_limits"]["deadline_ms"], 10_000);
    assert!(
        smm.fails(&["instance", "show", "nope"])
            .contains("no instance nope")
    );

    // Every --json is JSON lines.
    let runs = smm.json_lines(&["run", "short", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let rows = smm.json_lines(&["query", "short", "--json"]);
    assert_eq!(rows.as_array().unwrap().len(), 2);
}

/// `smm --help` gives every command its own one-line description (a doc
/// line once slid from `query` onto `findings`, leaving `query` blank).
#[test]
fn every_command_is_described_in_one_line() {
    let help = smm().ok(&["--help"]);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert!(commands.len() > 10, "{help}");
    for line in &commands {
        let mut words = line.split_whitespace();
        let (name, description) = (words.next().unwrap(), words.collect::<Vec<_>>());
        assert!(
            !description.is_empty(),
            "`smm {name}` has no description:\n{help}"
        );
        assert!(description.join(" ").len() < 120, "`smm {name}`: {line}");
    }
    let query = commands
        .iter()
        .find(|l| l.trim_start().starts_with("query"))
        .unwrap();
    assert!(query.contains("measurements"), "{query}");
    let findings = commands
        .iter()
        .find(|l| l.trim_start().starts_with("findings"))
        .unwrap();
    assert!(
        !findings.contains("Print stored measurements"),
        "{findings}"
    );
}

#[test]
fn completions_and_a_manual_page_come_from_the_cli_itself() {
    let smm = smm();
    let bash = smm.ok(&["completions", "bash"]);
    assert!(bash.contains("_smm") && bash.contains("instance"), "{bash}");
    for shell in ["zsh", "fish"] {
        assert!(smm.ok(&["completions", shell]).contains("smm"));
    }
    let man = smm.ok(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH smm"),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(
        smm.fails(&["completions", "tcsh"])
            .contains("invalid value")
    );
    let help = smm.ok(&["instance", "create", "--help"]);
    assert!(help.contains("Example:"), "{help}");
}

#[test]
fn path_fields_are_resolved_against_the_grants_at_create() {
    let smm = smm();
    let sarif = component("sarif-findings");
    smm.ok(&["measure", "register", path_str(&sarif)]);
    let samples = samples().canonicalize().unwrap();
    let create = |name: &str, path: &str| {
        smm.run(&[
            "instance",
            "create",
            name,
            "--measure",
            "sarif-findings",
            "--config",
            &serde_json::json!({ "path": path }).to_string(),
            "--grant-dir",
            path_str(&samples),
        ])
    };
    // A relative path is taken from the grant; `..` is resolved.
    assert!(create("relative", "flawfinder.sarif").status.success());
    let dotted = format!("{}/../samples/./flawfinder.sarif", samples.display());
    assert!(create("dotted", &dotted).status.success());
    let want = samples.join("flawfinder.sarif");
    for name in ["relative", "dotted"] {
        let shown: Value =
            serde_json::from_str(&smm.ok(&["instance", "show", name, "--json"])).unwrap();
        assert_eq!(shown["config"]["path"], path_str(&want), "{name}");
        let m = smm.run_json(name);
        assert_eq!(
            m["value"].as_f64(),
            Some(sarif_results(&want) as f64),
            "{name}: {m}"
        );
    }
    // Outside every grant: refused at create, naming the field and grants.
    let out = create("outside", &format!("{}/../README.md", samples.display()));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at /path") && err.contains("outside the granted directories"),
        "{err}"
    );
    assert!(err.contains(path_str(&samples)), "{err}");
}

#[test]
fn instance_update_checks_like_create_and_keeps_history() {
    let smm = smm();
    smm.register("sarif-findings");
    smm.register("probe-plugin");
    let reports = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let (reports_dir, other_dir) = (
        reports.path().canonicalize().unwrap(),
        other.path().canonicalize().unwrap(),
    );
    let sample = samples().join("flawfinder.sarif");
    std::fs::copy(&sample, reports_dir.join("a.sarif")).unwrap();
    std::fs::copy(&sample, other_dir.join("b.sarif")).unwrap();
    smm.ok(&[
        "instance",
        "create",
        "api-sast",
        "--measure",
        "sarif-findings",
        "--config",
        r#"{"path": "a.sarif"}"#,
        "--grant-dir",
        path_str(&reports_dir),
        "--label",
        "team=payments",
        "--schedule",
        "0 */15 * * * *",
    ]);
    let show = |smm: &Smm| -> Value {
        serde_json::from_str(&smm.ok(&["instance", "show", "api-sast", "--json"])).unwrap()
    };
    let before = show(&smm);

    // Refused as create refuses, naming what; nothing changes.
    let err = smm.fails(&[
        "instance",
        "update",
        "api-sast",
        "--config",
        r#"{"path": "/etc/passwd"}"#,
    ]);
    assert!(err.contains("/path") && err.contains("outside"), "{err}");
    let err = smm.fails(&[
        "instance",
        "update",
        "api-sast",
        "--schedule",
        "*/5 * * * *",
    ]);
    assert!(err.contains("cron"), "{err}");
    let err = smm.fails(&["instance", "update", "api-sast", "--grant-dir", "/"]);
    assert!(err.contains("whole filesystem"), "{err}");
    let err = smm.fails(&["instance", "update", "api-sast", "--remove-label", "tier"]);
    assert!(err.contains("no label tier"), "{err}");
    let err = smm.fails(&["instance", "update", "nope", "--label", "a=b"]);
    assert!(err.contains("no instance nope"), "{err}");
    assert_eq!(show(&smm)["history"], Value::Array(vec![]));
    assert_eq!(show(&smm)["config"], before["config"]);

    // Labels, schedule, limits: changed, and the old settings kept.
    let out = smm.ok(&[
        "instance",
        "update",
        "api-sast",
        "--label",
        "tier=1",
        "--remove-label",
        "team",
        "--schedule",
        "0 0 * * * *",
        "--deadline",
        "5s",
    ]);
    assert!(out.contains("updated instance api-sast"), "{out}");
    let now = show(&smm);
    assert_eq!(now["labels"], serde_json::json!({"tier": "1"}));
    assert_eq!(now["schedule"], "0 0 * * * *");
    assert_eq!(now["effective_limits"]["deadline_ms"], 5_000);
    assert_eq!(now["created_at"], before["created_at"]);
    let history = now["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["instance"]["schedule"], "0 */15 * * * *");
    assert_eq!(history[0]["instance"]["labels"]["team"], "payments");

    // New grants and a relative path resolved against them; the next run
    // reads the new report.
    smm.ok(&[
        "instance",
        "update",
        "api-sast",
        "--grant-dir",
        path_str(&other_dir),
        "--config",
        r#"{"path": "b.sarif"}"#,
    ]);
    let now = show(&smm);
    assert_eq!(now["config"]["path"], path_str(&other_dir.join("b.sarif")));
    assert_eq!(now["history"].as_array().unwrap().len(), 2);
    std::fs::remove_file(reports_dir.join("a.sarif")).unwrap();
    let run = smm.run_json("api-sast");
    assert_eq!(
        run["value"].as_f64(),
        Some(sarif_results(&sample) as f64),
        "{run}"
    );
    let out = smm.ok(&["instance", "update", "api-sast", "--label", "tier=1"]);
    assert!(out.contains("unchanged"), "{out}");
    assert!(
        smm.ok(&["instance", "show", "api-sast"])
            .contains("2 earlier revisions")
    );

    // Secret fields (writeOnly in the measure's schema) are masked.
    smm.ok(&[
        "instance",
        "create",
        "with-token",
        "--measure",
        "probe",
        "--config",
        r#"{"behaviour": "constant", "value": 1, "token": "hunter2"}"#,
    ]);
    smm.ok(&[
        "instance",
        "update",
        "with-token",
        "--config",
        r#"{"behaviour": "constant", "value": 2, "token": "swordfish"}"#,
    ]);
    for args in [
        &["instance", "show", "with-token"][..],
        &["instance", "show", "with-token", "--json"][..],
    ] {
        let out = smm.ok(args);
        assert!(
            !out.contains("hunter2") && !out.contains("swordfish") && out.contains("********"),
            "{out}"
        );
    }
    assert_eq!(smm.run_json("with-token")["value"].as_f64(), Some(2.0));
}

#[test]
fn a_reader_that_goes_away_ends_smm_quietly() {
    let smm = smm();
    // The bash completions (about 69 KB) fill the pipe's 64 KiB buffer:
    // smm writes again after its reader is gone, whatever the timing.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smm"))
        .env("SMM_HOME", smm.home.path())
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end at once, as `| head -c0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc_sigpipe()),
        "{:?}",
        out.status
    );
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}
