//! The standard catalogue through the `smm` binary: installed in one
//! command, idempotently, and each direct measure run on real third-party
//! reports (`../shared/fixtures/`, see its SOURCES.md) with the expected
//! numbers computed here by a plain walk of the report, not by the
//! measure's code.

use std::path::{Path, PathBuf};

use serde_json::Value;
use smm_tests::{Smm, component, shared_fixture};

fn smm() -> Smm {
    Smm::new(env!("CARGO_BIN_EXE_smm"))
}

/// Build every standard component; the directory holding them.
fn built() -> PathBuf {
    let mut dir = None;
    for c in smm_engine::standard::COMPONENTS {
        let path = component(c.id);
        assert_eq!(path.file_name().unwrap(), c.file);
        dir = Some(path.parent().unwrap().to_path_buf());
    }
    dir.unwrap()
}

/// A home with the standard catalogue, and a directory to grant (outside
/// the home, which no grant may expose).
struct Installed {
    smm: Smm,
    reports: tempfile::TempDir,
}

fn installed() -> Installed {
    let smm = smm();
    smm.ok(&[
        "measure",
        "install-standard",
        "--dir",
        built().to_str().unwrap(),
    ]);
    Installed {
        smm,
        reports: tempfile::tempdir().unwrap(),
    }
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Run `measure` once on `report` (copied into a granted directory).
fn measure(at: &Installed, measure: &str, report: &Path) -> Value {
    let smm = &at.smm;
    let grant = at.reports.path().join(measure);
    std::fs::create_dir_all(&grant).ok();
    let name = report.file_name().unwrap().to_str().unwrap();
    std::fs::copy(report, grant.join(name)).unwrap();
    let instance = format!("{measure}-{}", name.replace(['.', '_'], "-"));
    smm.ok(&[
        "instance",
        "create",
        &instance,
        "--measure",
        measure,
        "--config",
        &format!("{{\"path\": \"{name}\"}}"),
        "--grant-dir",
        grant.to_str().unwrap(),
    ]);
    smm.run_json(&instance)
}

fn fixture(rel: &str) -> Option<PathBuf> {
    let found = shared_fixture(rel);
    if found.is_none() {
        eprintln!("skipped: ../shared/fixtures/{rel} is absent");
    }
    found
}

/// A directory holding links to the built Rust components only (the
/// build directory may hold polyglot ones too, built by hand).
fn rust_only() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let built = built();
    for c in smm_engine::standard::COMPONENTS {
        std::os::unix::fs::symlink(built.join(c.file), dir.path().join(c.file)).unwrap();
    }
    dir
}

/// `wasm` with a custom section appended: a valid component with other
/// bytes, as another build of the same sources may give.
fn rebuilt(wasm: &Path, to: &Path) {
    let mut bytes = std::fs::read(wasm).unwrap();
    let (name, payload) = (b"build", b"another build");
    bytes.extend([0, (1 + name.len() + payload.len()) as u8, name.len() as u8]);
    bytes.extend(name);
    bytes.extend(payload);
    std::fs::write(to, bytes).unwrap();
}

#[test]
fn install_standard_registers_everything_once() {
    let smm = smm();
    let rust = rust_only();
    let dir = rust.path();
    let out = smm.ok(&[
        "measure",
        "install-standard",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let derived = smm_engine::standard::DERIVED.len();
    let all = smm_engine::standard::COMPONENTS.len() + derived;
    assert!(
        out.contains(&format!(
            "standard catalogue: {all} registered, 0 already there"
        )),
        "{out}"
    );
    let list = smm.ok(&["measure", "list"]);
    for c in smm_engine::standard::COMPONENTS {
        assert!(list.contains(&format!("{}@", c.id)), "{}: {list}", c.id);
    }
    assert!(list.contains("sast-grade@") && list.contains("test-pass-rate-7d@"));
    // The polyglot measures were not built there: said, with how.
    assert!(
        out.contains("not built: bandit-findings (Python)")
            && out.contains("not built: eslint-findings (JavaScript)")
            && out.contains("measures/build-polyglot.sh"),
        "{out}"
    );
    let again = smm.ok(&[
        "measure",
        "install-standard",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        again.contains(&format!("0 registered, {all} already there")),
        "{again}"
    );
    // A Rust component rebuilt with other bytes under the same version is
    // a conflict (its builds are reproducible: the sources changed).
    let first = &smm_engine::standard::COMPONENTS[0];
    let changed = tempfile::tempdir().unwrap();
    for c in smm_engine::standard::COMPONENTS {
        let to = changed.path().join(c.file);
        if c.id == first.id {
            rebuilt(&dir.join(c.file), &to);
        } else {
            std::os::unix::fs::symlink(dir.join(c.file), to).unwrap();
        }
    }
    let err = smm.fails(&[
        "measure",
        "install-standard",
        "--dir",
        changed.path().to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!("{}@", first.id)) && err.contains("different content"),
        "{err}"
    );
    // Without the components: nothing registered, and how to build them.
    let empty = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let nowhere = tempfile::tempdir().unwrap();
    let err = empty.fails(&[
        "measure",
        "install-standard",
        "--dir",
        nowhere.path().to_str().unwrap(),
    ]);
    assert!(
        err.contains("trivy_vulnerabilities.wasm") && err.contains("cargo build --profile wasm"),
        "{err}"
    );
    assert!(
        empty
            .ok(&["measure", "list"])
            .contains("no measure registered")
    );
    // The help names every component to build.
    let help = empty.ok(&["measure", "install-standard", "--help"]);
    for c in smm_engine::standard::COMPONENTS {
        assert!(help.contains(&format!("-p {}", c.id)), "{}: {help}", c.id);
    }
}

#[test]
fn trivy_vulnerabilities_on_real_reports() {
    let at = installed();
    for rel in [
        "trivy/trivy_scheme_2_many_vulns.json",
        "trivy/trivy_scheme_2_no_vuln.json",
    ] {
        let Some(report) = fixture(rel) else { continue };
        let doc = json(&report);
        let vulns: Vec<&Value> = doc["Results"]
            .as_array()
            .map(|r| {
                r.iter()
                    .flat_map(|r| r["Vulnerabilities"].as_array().into_iter().flatten())
                    .collect()
            })
            .unwrap_or_default();
        let critical = vulns.iter().filter(|v| v["Severity"] == "CRITICAL").count();
        let m = measure(&at, "trivy-vulnerabilities", &report);
        assert_eq!(m["value"].as_f64(), Some(vulns.len() as f64), "{rel}: {m}");
        assert_eq!(
            m["details"]["by_severity"]["critical"].as_u64(),
            Some(critical as u64),
            "{rel}: {m}"
        );
    }
}

#[test]
fn grype_vulnerabilities_on_real_reports() {
    let at = installed();
    for rel in [
        "grype/grype_check_all_fields.json",
        "grype/grype_no_vuln.json",
    ] {
        let Some(report) = fixture(rel) else { continue };
        let matches = json(&report)["matches"].as_array().map_or(0, Vec::len);
        let m = measure(&at, "grype-vulnerabilities", &report);
        assert_eq!(m["value"].as_f64(), Some(matches as f64), "{rel}: {m}");
    }
}

#[test]
fn gitleaks_secrets_on_real_reports_never_show_the_secret() {
    let at = installed();
    for rel in [
        "gitleaks/gitleaks8_many.json",
        "gitleaks/gitleaks_no_findings_null.json",
    ] {
        let Some(report) = fixture(rel) else { continue };
        let doc = json(&report);
        let findings = doc.as_array().map_or(0, Vec::len);
        let m = measure(&at, "gitleaks-secrets", &report);
        assert_eq!(m["value"].as_f64(), Some(findings as f64), "{rel}: {m}");
        for f in doc.as_array().into_iter().flatten() {
            if let Some(secret) = f["Secret"].as_str().filter(|s| s.len() > 3) {
                assert!(
                    !m.to_string().contains(secret),
                    "{rel}: the secret is shown"
                );
                let tracked = at.smm.ok(&["findings", "--json"]);
                assert!(!tracked.contains(secret), "{rel}: the secret is tracked");
            }
        }
    }
    // The secrets still present, over both scanning instances: the first
    // report's findings (none of them carries a gitleaks fingerprint, so
    // commit:file:rule:line tells them apart), the second has none.
    if let Some(report) = fixture("gitleaks/gitleaks8_many.json") {
        let mut ids: Vec<String> = json(&report)
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{}:{}:{}:{}",
                    f["Commit"].as_str().unwrap_or(""),
                    f["File"].as_str().unwrap_or(""),
                    f["RuleID"].as_str().unwrap_or(""),
                    f["StartLine"]
                )
            })
            .collect();
        ids.sort();
        ids.dedup();
        at.smm
            .ok(&["instance", "create", "secrets", "--measure", "secrets-open"]);
        let open = at.smm.run_json("secrets");
        assert_eq!(open["value"].as_f64(), Some(ids.len() as f64), "{open}");
    }
}

#[test]
fn cyclonedx_vulnerabilities_on_real_boms() {
    let at = installed();
    for rel in [
        "cyclonedx/laravel-7.12.0_bom.1.4.json",
        "cyclonedx/vex-pair_bom.json",
        "cyclonedx/vex-pair_vex.json",
    ] {
        let Some(report) = fixture(rel) else { continue };
        let doc = json(&report);
        let vulns = doc["vulnerabilities"].as_array().map_or(0, Vec::len);
        let m = measure(&at, "cyclonedx-vulnerabilities", &report);
        assert_eq!(m["value"].as_f64(), Some(vulns as f64), "{rel}: {m}");
    }
}

#[test]
fn line_coverage_on_real_reports() {
    let at = installed();
    // Cobertura: the root's lines-covered / lines-valid.
    if let Some(report) = fixture("coverage/cobertura_java-2.1.1.xml") {
        let text = std::fs::read_to_string(&report).unwrap();
        let attr = |name: &str| -> f64 {
            let at = text.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            text[at..text[at..].find('"').unwrap() + at]
                .parse()
                .unwrap()
        };
        let want = 100.0 * attr("lines-covered") / attr("lines-valid");
        let m = measure(&at, "line-coverage", &report);
        let got = m["value"].as_f64().unwrap_or(f64::NAN);
        assert!((got - want).abs() < 1e-9, "{got} vs {want}: {m}");
    }
    // LCOV: sum of LH over sum of LF.
    if let Some(report) = fixture("coverage/lcov_cpp.info") {
        let text = std::fs::read_to_string(&report).unwrap();
        let sum = |key: &str| -> f64 {
            text.lines()
                .filter_map(|l| l.strip_prefix(key))
                .map(|n| n.trim().parse::<f64>().unwrap())
                .sum()
        };
        let want = 100.0 * sum("LH:") / sum("LF:");
        let m = measure(&at, "line-coverage", &report);
        let got = m["value"].as_f64().unwrap_or(f64::NAN);
        assert!((got - want).abs() < 1e-9, "{got} vs {want}: {m}");
    }
}

#[test]
fn line_coverage_on_the_generated_jacoco_report() {
    let at = installed();
    // Generated by JaCoCo (measures/samples/coverage/generate.sh): the
    // report-level LINE counter is the last one in the document.
    let report = smm_tests::workspace().join("measures/samples/coverage/jacoco.xml");
    let text = std::fs::read_to_string(&report).unwrap();
    let counter = &text[text.rfind("<counter type=\"LINE\"").unwrap()..];
    let attr = |name: &str| -> f64 {
        let at = counter.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        counter[at..counter[at..].find('"').unwrap() + at]
            .parse()
            .unwrap()
    };
    let want = 100.0 * attr("covered") / (attr("covered") + attr("missed"));
    let m = measure(&at, "line-coverage", &report);
    assert_eq!(m["details"]["format"], "jacoco", "{m}");
    let got = m["value"].as_f64().unwrap_or(f64::NAN);
    assert!((got - want).abs() < 1e-9, "{got} vs {want}: {m}");
}

#[test]
fn a_malformed_report_is_an_input_error_naming_the_file_and_where() {
    let at = installed();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("trivy.json");
    std::fs::write(
        &bad,
        "{\"SchemaVersion\": 2,\n \"Results\": [ {\"Target\": ",
    )
    .unwrap();
    let m = measure(&at, "trivy-vulnerabilities", &bad);
    assert_eq!(m["error_kind"], "input", "{m}");
    let error = m["error"].as_str().unwrap();
    assert!(
        error.contains("trivy.json") && error.contains("line 2"),
        "{error}"
    );
    // Stored all the same, as an error measurement.
    let stored = at
        .smm
        .json_lines(&["query", "trivy-vulnerabilities-trivy-json", "--json"]);
    assert_eq!(stored.as_array().unwrap().len(), 1, "{stored}");
    assert_eq!(stored[0]["error_kind"], "input");
}

#[test]
fn code_size_of_a_source_tree_by_language() {
    let at = installed();
    let tree = at.reports.path().join("tree");
    for (rel, text) in [
        ("src/main.rs", "// entry\nfn main() {\n\n    run();\n}\n"),
        ("src/app.py", "import os\n# comment\nprint(os.sep)\n"),
        ("node_modules/x/index.js", "module.exports = 1;\n"),
        ("notes.md", "# not code\n"),
    ] {
        let p = tree.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let tree = tree.canonicalize().unwrap();
    at.smm.ok(&[
        "instance",
        "create",
        "api-size",
        "--measure",
        "code-size",
        "--config",
        r#"{"path": "."}"#,
        "--grant-dir",
        tree.to_str().unwrap(),
    ]);
    let m = at.smm.run_json("api-size");
    // Rust: 3 code lines (1 comment, 1 blank); Python: 2 (1 comment);
    // node_modules is not entered, the Markdown file is not code.
    assert_eq!(m["value"].as_f64(), Some(5.0), "{m}");
    assert_eq!(m["details"]["by_language"]["Rust"]["code"], 3, "{m}");
    assert_eq!(m["details"]["by_language"]["Python"]["comment"], 1, "{m}");
    assert!(
        m["details"]["by_language"].get("JavaScript").is_none(),
        "{m}"
    );
    assert_eq!(m["details"]["other_files"], 1, "{m}");
}

/// Fingerprints of a Trivy report, computed here: id|package|version.
fn trivy_fingerprints(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = doc["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["Vulnerabilities"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            format!(
                "{}|{}|{}",
                v["VulnerabilityID"].as_str().unwrap(),
                v["PkgName"].as_str().unwrap(),
                v["InstalledVersion"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `doc` without the vulnerabilities whose fingerprint is in `drop`.
fn without(doc: &Value, drop: &[&str]) -> Value {
    let mut doc = doc.clone();
    for result in doc["Results"].as_array_mut().unwrap() {
        if let Some(vulns) = result["Vulnerabilities"].as_array_mut() {
            vulns.retain(|v| {
                let id = format!(
                    "{}|{}|{}",
                    v["VulnerabilityID"].as_str().unwrap(),
                    v["PkgName"].as_str().unwrap(),
                    v["InstalledVersion"].as_str().unwrap()
                );
                !drop.contains(&id.as_str())
            });
        }
    }
    doc
}

#[test]
fn successive_scans_give_first_seen_fixed_and_reopened() {
    let Some(report) = fixture("trivy/trivy_scheme_2_many_vulns.json") else {
        return;
    };
    let at = installed();
    let real = json(&report);
    let all = trivy_fingerprints(&real);
    assert!(all.len() >= 4, "{all:?}");
    let (x, y, z) = (all[0].as_str(), all[1].as_str(), all[2].as_str());
    let grant = at.reports.path().canonicalize().unwrap();
    let path = grant.join("trivy.json");
    at.smm.ok(&[
        "instance",
        "create",
        "web-image",
        "--measure",
        "trivy-vulnerabilities",
        "--config",
        r#"{"path": "trivy.json"}"#,
        "--grant-dir",
        grant.to_str().unwrap(),
    ]);
    let scan = |doc: &Value| -> String {
        std::fs::write(&path, serde_json::to_vec(doc).unwrap()).unwrap();
        let m = at.smm.run_json("web-image");
        assert!(m["error"].is_null(), "{m}");
        // The list went to the lifecycle, not into the stored details.
        assert!(m["details"].get("findings").is_none(), "{m}");
        m["timestamp"].as_str().unwrap().to_string()
    };
    // Scan 1: everything; 2: x and y fixed; 3: x back, z fixed too.
    let t1 = scan(&real);
    let t2 = scan(&without(&real, &[x, y]));
    std::fs::write(&path, serde_json::to_vec(&without(&real, &[y, z])).unwrap()).unwrap();
    let out = at.smm.ok(&["run", "web-image"]);
    let open_now = all.len() - 2;
    assert!(
        out.contains(&format!(
            "findings: {open_now} open (0 new, 1 reopened), 1 fixed"
        )),
        "{out}"
    );
    let t3 = at.smm.json_lines(&["query", "web-image", "--json"])[2]["timestamp"]
        .as_str()
        .unwrap()
        .to_string();
    // A failed scan proves nothing: the lifecycle stays as it is.
    std::fs::write(&path, "{\"SchemaVersion\": 2, \"Results\": [").unwrap();
    at.smm.fails(&["run", "web-image"]);

    let periods = at.smm.json_lines(&["findings", "web-image", "--json"]);
    let periods = periods.as_array().unwrap();
    let of =
        |f: &str| -> Vec<&Value> { periods.iter().filter(|p| p["fingerprint"] == f).collect() };
    let same = |a: &Value, b: &str| {
        let a = chrono::DateTime::parse_from_rfc3339(a.as_str().unwrap()).unwrap();
        let b = chrono::DateTime::parse_from_rfc3339(b).unwrap();
        assert_eq!(a, b);
    };
    // x: fixed at scan 2, reopened at scan 3, first seen at scan 1.
    let xs = of(x);
    assert_eq!(xs.len(), 2, "{xs:?}");
    same(&xs[0]["opened_at"], &t1);
    same(&xs[0]["fixed_at"], &t2);
    assert_eq!(xs[0]["reopened"], false);
    same(&xs[1]["opened_at"], &t3);
    assert!(xs[1]["fixed_at"].is_null());
    assert_eq!(xs[1]["reopened"], true);
    same(&xs[1]["first_seen"], &t1);
    // y: fixed at scan 2, still fixed; z: fixed at scan 3.
    let ys = of(y);
    assert_eq!(ys.len(), 1);
    same(&ys[0]["fixed_at"], &t2);
    let zs = of(z);
    assert_eq!(zs.len(), 1);
    same(&zs[0]["fixed_at"], &t3);
    same(&zs[0]["last_seen"], &t2);
    // Every other finding: open since scan 1, last seen at scan 3.
    for f in &all[3..] {
        let ps = of(f);
        assert_eq!(ps.len(), 1, "{f}");
        same(&ps[0]["opened_at"], &t1);
        same(&ps[0]["last_seen"], &t3);
        assert!(ps[0]["fixed_at"].is_null());
    }
    // Derived measures over the lifecycle, by hand: fixes x, y at t2 and z
    // at t3, all opened at t1; one reopening (x at t3).
    let ms = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis() as f64
    };
    let (m1, m2, m3) = (ms(&t1), ms(&t2), ms(&t3));
    let mttr_hours = ((m2 - m1) * 2.0 + (m3 - m1)) / 3.0 / 3.6e6;
    let derived = |name: &str, measure: &str| -> Value {
        at.smm
            .ok(&["instance", "create", name, "--measure", measure]);
        at.smm.run_json(name)
    };
    let mttr = derived("web-mttr", "vulnerability-mttr-30d");
    let got = mttr["value"].as_f64().unwrap();
    assert!(
        (got - mttr_hours).abs() < 1e-9,
        "{got} vs {mttr_hours}: {mttr}"
    );
    assert_eq!(mttr["details"]["fixed"], 3);
    let reopen = derived("web-reopen", "vulnerability-reopen-rate-90d");
    assert!(
        (reopen["value"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9,
        "{reopen}"
    );
    // Intake in the window: every finding at t1, x again at t3.
    let intake = derived("web-intake", "vulnerability-fix-intake-30d");
    let want = 3.0 / (all.len() as f64 + 1.0);
    assert!(
        (intake["value"].as_f64().unwrap() - want).abs() < 1e-9,
        "{intake}"
    );
    // Inherited risk over what is open now, from the report's severities.
    let severity_of = |f: &str| -> String {
        let v = real["Results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["Vulnerabilities"].as_array().cloned().unwrap_or_default())
            .find(|v| {
                format!(
                    "{}|{}|{}",
                    v["VulnerabilityID"].as_str().unwrap(),
                    v["PkgName"].as_str().unwrap(),
                    v["InstalledVersion"].as_str().unwrap()
                ) == f
            })
            .unwrap();
        v["Severity"].as_str().unwrap().to_lowercase()
    };
    let points = |s: &str| match s {
        "critical" => 10.0,
        "high" => 5.0,
        "medium" => 3.0,
        "low" => 1.0,
        _ => 5.0,
    };
    let want: f64 = all
        .iter()
        .map(String::as_str)
        .filter(|f| *f != y && *f != z)
        .map(|f| points(&severity_of(f)))
        .sum();
    let risk = derived("web-inherited", "vulnerability-inherited-risk");
    assert_eq!(risk["value"].as_f64(), Some(want), "{risk}");
    // Risk index: severity weight × exploitability (2: every vulnerability
    // of this report has a FixedVersion; none is in KEV) × 1 (no tier).
    let weight = |s: &str| match s {
        "critical" => 5.0,
        "high" => 4.0,
        "medium" => 2.0,
        "low" => 1.0,
        _ => 0.0,
    };
    let open_ids: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|f| *f != y && *f != z)
        .collect();
    let want: f64 = open_ids.iter().map(|f| weight(&severity_of(f)) * 2.0).sum();
    let index = derived("web-risk", "vulnerability-risk-index");
    assert_eq!(index["value"].as_f64(), Some(want), "{index}");
    // Debt: what is open now, all first seen minutes ago; a week ago
    // nothing was; no SLA is breached yet.
    let debt = derived("web-debt", "vulnerabilities-open");
    assert_eq!(
        debt["value"].as_f64(),
        Some(open_ids.len() as f64),
        "{debt}"
    );
    let in_first_week: u64 = debt["details"]["by_age"]["0-7d"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(in_first_week as usize, open_ids.len(), "{debt}");
    let trend = derived("web-debt-trend", "vulnerability-debt-trend-7d");
    assert_eq!(
        trend["value"].as_f64(),
        Some(open_ids.len() as f64),
        "{trend}"
    );
    let sla = derived("web-sla", "vulnerability-sla-breaches");
    assert_eq!(sla["value"].as_f64(), Some(0.0), "{sla}");
    // Exposure of fixed criticals: x, y at t2 and z at t3, first seen at
    // t1, those that are critical.
    let fixed_critical: Vec<f64> = [(x, m2), (y, m2), (z, m3)]
        .iter()
        .filter(|(f, _)| severity_of(f) == "critical")
        .map(|(_, fixed)| (fixed - m1) / 3.6e6)
        .collect();
    let exposure = at.smm.run(&[
        "instance",
        "create",
        "web-exposure",
        "--measure",
        "critical-exposure-90d",
    ]);
    assert!(exposure.status.success());
    let exposure = at.smm.json_lines(&["run", "web-exposure", "--json"])[0].clone();
    if fixed_critical.is_empty() {
        assert_eq!(exposure["error_kind"], "empty-window", "{exposure}");
    } else {
        let want = fixed_critical.iter().sum::<f64>() / fixed_critical.len() as f64;
        assert!(
            (exposure["value"].as_f64().unwrap() - want).abs() < 1e-9,
            "{exposure}"
        );
    }
    // Density per KLOC: the latest scan's count over the latest code size.
    let tree = at.reports.path().join("src");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("main.rs"), "fn main() {\n    run();\n}\n").unwrap();
    at.smm.ok(&[
        "instance",
        "create",
        "web-size",
        "--measure",
        "code-size",
        "--config",
        r#"{"path": "."}"#,
        "--grant-dir",
        tree.canonicalize().unwrap().to_str().unwrap(),
    ]);
    at.smm.run_json("web-size");
    let density = derived("web-density", "vulnerability-density-kloc");
    let want = 1000.0 * open_ids.len() as f64 / 3.0;
    assert!(
        (density["value"].as_f64().unwrap() - want).abs() < 1e-9,
        "{density}"
    );

    let open = at
        .smm
        .json_lines(&["findings", "web-image", "--open", "--json"]);
    assert_eq!(open.as_array().unwrap().len(), open_now);
    let table = at.smm.ok(&["findings", "web-image"]);
    assert!(
        table.contains(x) && table.contains("fixed") && table.contains("open"),
        "{table}"
    );
    assert!(
        at.smm
            .fails(&["findings", "nope"])
            .contains("no instance nope")
    );
    // A clean scan fixes everything still open.
    let clean = without(&real, &all.iter().map(String::as_str).collect::<Vec<_>>());
    std::fs::write(&path, serde_json::to_vec(&clean).unwrap()).unwrap();
    let out = at.smm.ok(&["run", "web-image"]);
    assert!(
        out.contains(&format!(
            "findings: 0 open (0 new, 0 reopened), {open_now} fixed"
        )),
        "{out}"
    );
    let open = at
        .smm
        .json_lines(&["findings", "web-image", "--open", "--json"]);
    assert_eq!(open.as_array().unwrap().len(), 0, "{open}");
}

#[test]
fn appsec_coverage_weighs_each_service_by_tier() {
    let at = installed();
    let samples = smm_tests::workspace()
        .join("measures/samples")
        .canonicalize()
        .unwrap();
    let create = |name: &str, measure: &str, path: &str, labels: &[&str]| {
        let config = format!("{{\"path\": \"{path}\"}}");
        let mut args = vec![
            "instance",
            "create",
            name,
            "--measure",
            measure,
            "--config",
            &config,
            "--grant-dir",
            samples.to_str().unwrap(),
        ];
        for l in labels {
            args.extend(["--label", l]);
        }
        at.smm.ok(&args);
        at.smm.ok(&["run", name]);
    };
    // api (tier 1): SAST and tests; web (no tier): coverage; batch (tier
    // 2): an instance but no practice measured yet.
    create(
        "api-sast",
        "sarif-findings",
        "flawfinder.sarif",
        &["service=api", "tier=1"],
    );
    create(
        "api-tests",
        "junit-tests",
        "pytest-junit.xml",
        &["service=api"],
    );
    create(
        "web-coverage",
        "line-coverage",
        "coverage/coveragepy-cobertura.xml",
        &["service=web"],
    );
    at.smm.ok(&[
        "instance",
        "create",
        "batch-tests",
        "--measure",
        "junit-tests",
        "--config",
        "{\"path\": \"pytest-junit.xml\"}",
        "--grant-dir",
        samples.to_str().unwrap(),
        "--label",
        "service=batch",
        "--label",
        "tier=2",
    ]);
    at.smm.ok(&[
        "instance",
        "create",
        "org-appsec",
        "--measure",
        "appsec-coverage",
    ]);
    let m = at.smm.run_json("org-appsec");
    // Five practices. api: 2/5 × 5; web: 1/5 × 1; batch: 0/5 × 3.
    let want = 100.0 * (5.0 * 2.0 / 5.0 + 1.0 * 1.0 / 5.0) / (5.0 + 1.0 + 3.0);
    let got = m["value"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-9, "{got} vs {want}: {m}");
    assert_eq!(
        m["details"]["assets"]["api"]["practices"]["sast"], true,
        "{m}"
    );
    assert_eq!(
        m["details"]["assets"]["api"]["practices"]["sca"], false,
        "{m}"
    );
    assert_eq!(m["details"]["assets"]["batch"]["tier"], "2", "{m}");
    assert_eq!(m["details"]["asset_coverage"], 0.0, "{m}");
    // The grade follows (E under 25 %).
    at.smm.ok(&[
        "instance",
        "create",
        "org-appsec-grade",
        "--measure",
        "appsec-coverage-grade",
    ]);
    let grade = at.smm.run_json("org-appsec-grade");
    assert_eq!(grade["text"], "E", "{grade}");
}

#[test]
fn install_standard_adds_the_python_and_javascript_measures_when_built() {
    let (Some(bandit), Some(eslint)) = (
        smm_tests::python::component("measures/bandit-findings", "bandit_findings"),
        smm_tests::javascript::component(
            "eslint-findings",
            "measures/eslint-findings/src/index.js",
        ),
    ) else {
        return;
    };
    let rust = rust_only();
    let dir = rust.path();
    std::fs::copy(&bandit, dir.join("bandit_findings.wasm")).unwrap();
    std::fs::copy(&eslint, dir.join("eslint_findings.wasm")).unwrap();
    let smm = smm();
    let install = || {
        smm.ok(&[
            "measure",
            "install-standard",
            "--dir",
            dir.to_str().unwrap(),
        ])
    };
    let all = smm_engine::standard::COMPONENTS.len()
        + smm_engine::standard::POLYGLOT.len()
        + smm_engine::standard::DERIVED.len();
    let out = install();
    assert!(
        out.contains(&format!(
            "standard catalogue: {all} registered, 0 already there"
        )),
        "{out}"
    );
    assert!(!out.contains("not built"), "{out}");
    let list = smm.ok(&["measure", "list"]);
    assert!(
        list.contains("bandit-findings@1.0.0") && list.contains("eslint-findings@1.0.0"),
        "{list}"
    );
    // Another build of the JavaScript measure (its builds differ byte for
    // byte): the registered one is kept, and said so.
    rebuilt(&eslint, &dir.join("eslint_findings.wasm"));
    let again = install();
    assert!(
        again.contains("already registered eslint-findings@1.0.0 (from another build, kept)"),
        "{again}"
    );
    assert!(
        again.contains(&format!("0 registered, {all} already there")),
        "{again}"
    );
    let shown = smm.ok(&["measure", "show", "eslint-findings@1.0.0"]);
    let digest = sha256_hex(&eslint);
    assert!(shown.contains(&digest), "the first build stays: {shown}");
}

/// The sha256 of `file`, by coreutils' `sha256sum`.
fn sha256_hex(file: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(file)
        .output()
        .expect("running sha256sum");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}
