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

#[test]
fn install_standard_registers_everything_once() {
    let smm = smm();
    let dir = built();
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
            }
        }
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
