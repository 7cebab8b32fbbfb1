//! Measures written in Python with the Python SDK (`sdk/python`), built
//! from source by componentize-py (`smm_tests::python`):
//!
//! - the SDK's and bandit-findings' own unit tests (plain Python);
//! - bandit-findings through the `smm` binary on the committed Bandit
//!   report (`measures/samples/bandit/`), the expected numbers counted here
//!   by a plain walk of the report, not by the measure's code;
//! - the Python probe (`tests/plugins/probe-py`) against the engine's
//!   sandbox, behaviour by behaviour beside the Rust probe: the same error
//!   kind, within the deadline, and the engine goes on.
//!
//! Without python3 (or its venv module, or PyPI) every test here skips,
//! saying so on stderr.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smm_catalogue::{InstanceSpec, LimitOverrides};
use smm_engine::{Engine, Home};
use smm_tests::{Smm, component, python, workspace};

fn smm() -> Smm {
    Smm::new(env!("CARGO_BIN_EXE_smm"))
}

fn assert_unittest_passes(tests: &str, python_path: &[&str]) {
    let Some(out) = python::unittest(tests, python_path) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("\nOK"),
        "python -m unittest {tests} failed:\n{stderr}"
    );
}

#[test]
fn the_python_sdk_passes_its_unit_tests() {
    assert_unittest_passes("sdk/python/tests", &["sdk/python"]);
}

#[test]
fn bandit_findings_passes_its_unit_tests() {
    assert_unittest_passes(
        "measures/bandit-findings/tests",
        &["sdk/python", "measures/bandit-findings"],
    );
}

fn bandit_component() -> Option<PathBuf> {
    python::component("measures/bandit-findings", "bandit_findings")
}

fn sample_report() -> PathBuf {
    workspace().join("measures/samples/bandit/bandit.json")
}

/// A home with bandit-findings registered and a directory to grant
/// (outside the home, which no grant may expose).
struct Bandit {
    smm: Smm,
    grant: tempfile::TempDir,
}

impl Bandit {
    fn new() -> Option<Bandit> {
        let wasm = bandit_component()?;
        let smm = smm();
        let out = smm.ok(&["measure", "register", wasm.to_str().unwrap()]);
        assert!(out.contains("registered bandit-findings@1.0.0"), "{out}");
        Some(Bandit {
            smm,
            grant: tempfile::tempdir().unwrap(),
        })
    }

    fn dir(&self) -> PathBuf {
        self.grant.path().canonicalize().unwrap()
    }

    /// An instance reading `name` in the granted directory.
    fn instance(&self, instance: &str, name: &str) {
        self.smm.ok(&[
            "instance",
            "create",
            instance,
            "--measure",
            "bandit-findings",
            "--config",
            &json!({ "path": name }).to_string(),
            "--grant-dir",
            self.dir().to_str().unwrap(),
        ]);
    }
}

fn count<'a>(items: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for i in items {
        *out.entry(i.to_string()).or_default() += 1;
    }
    out
}

#[test]
fn bandit_findings_on_the_committed_report() {
    let Some(at) = Bandit::new() else { return };
    let show = at.smm.ok(&["measure", "show", "bandit-findings"]);
    assert!(
        show.contains("kind:        counting") && show.contains("unit:        findings"),
        "{show}"
    );
    assert!(show.contains(r#""format": "path""#), "{show}");

    let report = sample_report();
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    std::fs::copy(&report, at.dir().join("bandit.json")).unwrap();
    at.instance("shop", "bandit.json");
    let m = at.smm.run_json("shop");
    assert!(m["error"].is_null(), "{m}");

    // Counted by a plain walk of the report.
    let results = doc["results"].as_array().unwrap();
    let field = |r: &'_ Value, k: &str| r[k].as_str().unwrap().to_ascii_lowercase();
    let severities: Vec<String> = results.iter().map(|r| field(r, "issue_severity")).collect();
    let confidences: Vec<String> = results
        .iter()
        .map(|r| field(r, "issue_confidence"))
        .collect();
    let by_test = count(results.iter().map(|r| r["test_id"].as_str().unwrap()));
    let files_with_results = count(results.iter().map(|r| r["filename"].as_str().unwrap()));
    let d = &m["details"];
    assert_eq!(m["value"].as_f64(), Some(results.len() as f64), "{m}");
    assert_eq!(d["results"], results.len());
    for (level, n) in count(severities.iter().map(String::as_str)) {
        assert_eq!(d["by_severity"][&level], n, "severity {level}: {d}");
    }
    assert_eq!(d["by_severity"]["critical"], 0);
    for (level, n) in count(confidences.iter().map(String::as_str)) {
        assert_eq!(d["by_confidence"][&level], n, "confidence {level}: {d}");
    }
    for (s, c) in severities.iter().zip(&confidences) {
        let pairs = severities
            .iter()
            .zip(&confidences)
            .filter(|p| p == &(s, c))
            .count();
        assert_eq!(d["by_severity_confidence"][s][c], pairs, "{s}/{c}: {d}");
    }
    assert!(by_test.len() <= 20, "every test id is kept: {by_test:?}");
    assert_eq!(d["by_test"], json!(by_test));
    assert_eq!(d["tests"], by_test.len());
    assert_eq!(d["files_with_results"], files_with_results.len());
    let metrics = doc["metrics"].as_object().unwrap();
    assert_eq!(d["files"], metrics.len() - 1, "every file but _totals");
    assert_eq!(d["totals"], metrics["_totals"]);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(d["errors"], errors.len());
    assert_eq!(
        d["error_files"],
        json!(
            errors
                .iter()
                .map(|e| e["filename"].clone())
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(d["generated_at"], doc["generated_at"]);
    // By hand, from measures/samples/bandit/src: 16 issues (3 high, 6
    // medium, 7 low), B602 twice, 15 test ids, legacy.py unparsable.
    assert_eq!(m["value"].as_f64(), Some(16.0));
    assert_eq!(
        (
            &d["by_severity"]["high"],
            &d["by_severity"]["medium"],
            &d["by_severity"]["low"]
        ),
        (&json!(3), &json!(6), &json!(7))
    );
    assert_eq!(
        (&d["by_test"]["B602"], &d["tests"]),
        (&json!(2), &json!(15))
    );
    assert_eq!(d["error_files"], json!(["src/shop/legacy.py"]));
    // The hard-coded password Bandit quotes is nowhere.
    assert!(!m.to_string().contains("hunter2"), "{m}");

    // The findings went to the lifecycle, not into the stored details.
    assert!(d.get("findings").is_none(), "{m}");
    let open = at.smm.json_lines(&["findings", "shop", "--json"]);
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), results.len(), "{open:?}");
    for p in open {
        assert!(
            p["fingerprint"].as_str().unwrap().starts_with("bandit|B"),
            "{p}"
        );
        assert!(p["fixed_at"].is_null(), "{p}");
    }
    assert_eq!(
        count(open.iter().map(|p| p["severity"].as_str().unwrap())),
        count(severities.iter().map(String::as_str))
    );

    // The next scan: the first issue fixed, the code of the others moved
    // down two lines (their fingerprints do not depend on line numbers).
    let mut next = doc.clone();
    let list = next["results"].as_array_mut().unwrap();
    list.remove(0);
    for r in list.iter_mut() {
        let line = r["line_number"].as_u64().unwrap();
        r["line_number"] = json!(line + 2);
        r["line_range"] = json!(
            r["line_range"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap() + 2)
                .collect::<Vec<_>>()
        );
        let code: String = r["code"]
            .as_str()
            .unwrap()
            .lines()
            .map(|l| {
                let (n, text) = l.split_once(' ').unwrap_or((l, ""));
                format!("{} {text}\n", n.parse::<u64>().unwrap() + 2)
            })
            .collect();
        r["code"] = json!(code);
    }
    std::fs::write(
        at.dir().join("bandit.json"),
        serde_json::to_vec(&next).unwrap(),
    )
    .unwrap();
    let out = at.smm.ok(&["run", "shop"]);
    assert!(
        out.contains(&format!(
            "findings: {} open (0 new, 0 reopened), 1 fixed",
            results.len() - 1
        )),
        "{out}"
    );
}

#[test]
fn a_malformed_bandit_report_is_an_input_error_naming_the_file_and_where() {
    let Some(at) = Bandit::new() else { return };
    let cases = [
        (
            "truncated.json",
            "{\"errors\": [],\n \"results\": [ {\"code\": ".to_string(),
            "line 2",
        ),
        (
            "typed.json",
            json!({"results": [{"test_id": "B101"}, {"test_id": "B102", "issue_severity": 7}]})
                .to_string(),
            "$.results[1].issue_severity",
        ),
    ];
    for (name, text, where_) in cases {
        std::fs::write(at.dir().join(name), text).unwrap();
        let instance = name.replace('.', "-");
        at.instance(&instance, name);
        let m = at.smm.run_json(&instance);
        assert_eq!(m["error_kind"], "input", "{m}");
        let error = m["error"].as_str().unwrap();
        assert!(error.contains(name) && error.contains(where_), "{error}");
        // Stored all the same, as an error measurement.
        let stored = at.smm.json_lines(&["query", &instance, "--json"]);
        assert_eq!(stored[0]["error_kind"], "input", "{stored}");
    }
    // A report that is not there.
    at.instance("missing", "nowhere.json");
    let m = at.smm.run_json("missing");
    assert_eq!(m["error_kind"], "input", "{m}");
    assert!(m["error"].as_str().unwrap().contains("cannot read /"));
    // A path outside the grants is refused before any run (the schema
    // marks `path` with "format": "path").
    let err = at.smm.fails(&[
        "instance",
        "create",
        "escape",
        "--measure",
        "bandit-findings",
        "--config",
        r#"{"path": "../../etc/passwd"}"#,
        "--grant-dir",
        at.dir().to_str().unwrap(),
    ]);
    assert!(
        err.contains("/path") && err.contains("outside the granted directories"),
        "{err}"
    );
}

// ------------------------------------------------------------ the probe

/// Generous margin over a deadline: machines are shared and noisy.
const MARGIN: Duration = Duration::from_secs(5);

/// What a behaviour must give, beside what the Rust probe gives.
struct Case {
    /// The Python probe's configuration.
    python: Value,
    /// The Rust probe's configuration for the same misbehaviour, if it has
    /// one.
    rust: Option<Value>,
    limits: LimitOverrides,
    /// The expected `error_kind` (`None`: a value).
    kind: Option<&'static str>,
    /// Text the Python probe's error must contain.
    says: &'static str,
}

fn case(
    python: Value,
    rust: Option<Value>,
    kind: Option<&'static str>,
    says: &'static str,
) -> Case {
    Case {
        python,
        rust,
        limits: LimitOverrides::default(),
        kind,
        says,
    }
}

struct Probes {
    engine: Engine,
    _home: tempfile::TempDir,
    n: std::cell::Cell<usize>,
}

impl Probes {
    fn instance(
        &self,
        measure: &str,
        config: &Value,
        limits: &LimitOverrides,
        grants: &[PathBuf],
    ) -> String {
        let name = format!("{measure}-{}", self.n.get());
        self.n.set(self.n.get() + 1);
        self.engine
            .create_instance(InstanceSpec {
                grants: grants.to_vec(),
                limits: limits.clone(),
                ..InstanceSpec::new(&name, measure, config.clone())
            })
            .unwrap();
        name
    }

    async fn run(
        &self,
        measure: &str,
        config: &Value,
        limits: &LimitOverrides,
        grants: &[PathBuf],
    ) -> (smm_engine::Measurement, Duration) {
        let name = self.instance(measure, config, limits, grants);
        let started = Instant::now();
        let m = self.engine.run(&name).await.unwrap();
        (m, started.elapsed())
    }
}

#[tokio::test]
async fn the_python_probe_misbehaves_into_the_rust_probes_error_kinds() {
    let Some(wasm) = python::component("tests/plugins/probe-py", "probe_py") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    engine.register_file(&wasm).await.unwrap();
    engine
        .register_file(&component("probe-plugin"))
        .await
        .unwrap();
    let p = Probes {
        engine,
        _home: home,
        n: std::cell::Cell::new(0),
    };
    let grant = tempfile::tempdir().unwrap();
    let grant = grant.path().canonicalize().unwrap();
    let readable = grant.join("twelve.txt");
    std::fs::write(&readable, b"twelve bytes").unwrap();
    let planted = grant.join("planted.txt");
    let grants = vec![grant.clone()];

    let same = |b: &str| json!({ "behaviour": b });
    let short = LimitOverrides {
        deadline_ms: Some(500),
        ..Default::default()
    };
    let cases: Vec<(&str, Case)> = vec![
        (
            "loop",
            Case {
                limits: short.clone(),
                ..case(same("loop"), Some(same("loop")), Some("timeout"), "500ms")
            },
        ),
        (
            "sleep in a host call",
            Case {
                limits: short.clone(),
                ..case(
                    json!({"behaviour": "sleep", "value": 3600.0}),
                    Some(json!({"behaviour": "sleep", "value": 3600.0})),
                    Some("timeout"),
                    "500ms",
                )
            },
        ),
        (
            "alloc",
            Case {
                limits: LimitOverrides {
                    memory_bytes: Some(32 << 20),
                    ..Default::default()
                },
                ..case(same("alloc"), Some(same("alloc")), Some("memory"), "32 MiB")
            },
        ),
        // The interpreter itself fits well within that cap (it needs 13-16
        // MiB): the cap above is hit by the allocation loop, not at start.
        (
            "a value under 32 MiB",
            Case {
                limits: LimitOverrides {
                    memory_bytes: Some(32 << 20),
                    ..Default::default()
                },
                ..case(
                    json!({"behaviour": "constant", "value": 2.0}),
                    Some(json!({"behaviour": "constant", "value": 2.0})),
                    None,
                    "",
                )
            },
        ),
        // Recursion in C code (json.dumps of a deeply nested list) exhausts
        // the wasm stack as the Rust probe's recursion does.
        (
            "recurse (C)",
            case(
                same("recurse-c"),
                Some(same("recurse")),
                Some("stack-overflow"),
                "call stack",
            ),
        ),
        // Python recursion stops at CPython's recursion limit first: a
        // RecursionError, uncaught, so a trap (not a stack overflow).
        (
            "recurse (Python)",
            case(same("recurse"), None, Some("trap"), "RecursionError"),
        ),
        // Without the limit, Python frames (on the heap since 3.11) fill
        // the memory cap.
        (
            "recurse (Python, no limit)",
            case(same("recurse-unlimited"), None, Some("memory"), "64 MiB"),
        ),
        (
            "panic (an uncaught exception)",
            case(
                same("panic"),
                Some(same("panic")),
                Some("trap"),
                "RuntimeError: probe asked to panic",
            ),
        ),
        (
            "chatty panic",
            case(
                json!({"behaviour": "chatty-panic", "bytes": 1 << 20}),
                Some(json!({"behaviour": "chatty-panic", "bytes": 1 << 20})),
                Some("trap"),
                "the last words of a chatty plugin",
            ),
        ),
        (
            "big output",
            case(
                json!({"behaviour": "big-output", "bytes": 3 << 20}),
                Some(json!({"behaviour": "big-output", "bytes": 3 << 20})),
                Some("output-too-large"),
                "the limit is 1048576",
            ),
        ),
        (
            "no value",
            case(
                same("garbage"),
                Some(same("garbage")),
                Some("invalid-output"),
                "neither a value nor a text",
            ),
        ),
        (
            "NaN",
            case(
                same("not-a-number"),
                Some(same("not-a-number")),
                Some("invalid-output"),
                "NaN",
            ),
        ),
        (
            "observed-at in year 262142",
            case(
                json!({"behaviour": "observed-at", "value": 8.21e18}),
                Some(json!({"behaviour": "observed-at", "value": 8.21e18})),
                Some("invalid-output"),
                "100 years",
            ),
        ),
        (
            "read /etc/passwd (not granted)",
            case(
                json!({"behaviour": "read", "path": "/etc/passwd"}),
                Some(json!({"behaviour": "read", "path": "/etc/passwd"})),
                Some("input"),
                "cannot read /etc/passwd",
            ),
        ),
        (
            "write into a grant",
            case(
                json!({"behaviour": "write", "path": planted}),
                Some(json!({"behaviour": "write", "path": planted})),
                Some("input"),
                "cannot write",
            ),
        ),
        (
            "os._exit(0)",
            case(
                same("exit"),
                Some(same("exit")),
                Some("plugin"),
                "exited (status 0)",
            ),
        ),
        (
            "sys.exit(0)",
            case(same("sys-exit"), None, Some("plugin"), "exited (status 0)"),
        ),
        (
            "an input error",
            case(
                json!({"behaviour": "text", "value": -1.0, "text": "no report"}),
                Some(json!({"behaviour": "text", "value": -1.0, "text": "no report"})),
                Some("input"),
                "no report",
            ),
        ),
        (
            "ConfigError",
            case(
                json!({"behaviour": "raise", "text": "config"}),
                None,
                Some("config"),
                "asked to raise",
            ),
        ),
        (
            "InputError",
            case(
                json!({"behaviour": "raise", "text": "input"}),
                None,
                Some("input"),
                "asked to raise",
            ),
        ),
        (
            "InternalError",
            case(
                json!({"behaviour": "raise", "text": "internal"}),
                None,
                Some("plugin"),
                "asked to raise",
            ),
        ),
        // Opening a file without end: the host's table of handles is
        // bounded (far below the process's file descriptor limit), and
        // running out of it traps.
        (
            "open files without end",
            case(
                json!({"behaviour": "hoard", "path": readable}),
                Some(json!({"behaviour": "hoard", "path": readable})),
                Some("trap"),
                "resource table has no free keys",
            ),
        ),
        (
            "read in a grant",
            case(
                json!({"behaviour": "read", "path": readable}),
                Some(json!({"behaviour": "read", "path": readable})),
                None,
                "",
            ),
        ),
    ];

    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for (what, c) in &cases {
        let (py, took) = p.run("probe-py", &c.python, &c.limits, &grants).await;
        let rust = match &c.rust {
            Some(config) => Some(p.run("probe", config, &c.limits, &grants).await.0),
            None => None,
        };
        let deadline = c
            .limits
            .deadline_ms
            .map_or(Duration::from_secs(10), Duration::from_millis);
        table.push(format!(
            "{what:<32} python: {:<16} rust: {:<16} {took:>8.0?}",
            py.error_kind.as_deref().unwrap_or("value"),
            rust.as_ref()
                .map_or("-", |m| m.error_kind.as_deref().unwrap_or("value")),
        ));
        if py.error_kind.as_deref() != c.kind {
            wrong.push(format!("{what}: python gave {py:?}"));
        }
        if let Some(r) = &rust
            && r.error_kind != py.error_kind
        {
            wrong.push(format!("{what}: rust gave {r:?}, python {py:?}"));
        }
        let error = py.error.clone().unwrap_or_default();
        if !error.contains(c.says) {
            wrong.push(format!(
                "{what}: the error does not say {:?}: {error}",
                c.says
            ));
        }
        if error.len() > 8 << 10 {
            wrong.push(format!("{what}: the error is {} bytes", error.len()));
        }
        if took > deadline + MARGIN || (c.kind == Some("timeout") && took < deadline) {
            wrong.push(format!(
                "{what}: took {took:?} for a deadline of {deadline:?}"
            ));
        }
        // The engine goes on: a well-behaved run right after.
        let (ok, _) = p
            .run(
                "probe-py",
                &json!({"behaviour": "constant", "value": 7.5}),
                &LimitOverrides::default(),
                &[],
            )
            .await;
        if ok.value != Some(7.5) {
            wrong.push(format!("{what}: the next run gave {ok:?}"));
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        !planted.exists(),
        "the plugin wrote into a granted directory"
    );

    // Ambient authority: none, as for the Rust probe.
    let (m, _) = p
        .run(
            "probe-py",
            &json!({"behaviour": "ambient"}),
            &LimitOverrides::default(),
            &[],
        )
        .await;
    let d = m.details.expect("ambient details");
    assert_eq!(
        d,
        json!({"env": 0, "args": 0, "tcp_connected": false, "root_listed": false}),
        "no environment, arguments, network or filesystem"
    );
}
