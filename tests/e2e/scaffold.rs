//! `smm measure new`: a generated measure project, outside this workspace,
//! builds, passes its own test, and its component registers and measures
//! its sample, through the real `smm` binary and cargo.

use std::process::Command;

use smm_tests::{Smm, workspace};

fn cargo(project: &std::path::Path, args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(project)
        // One target directory for every run of this test: warm builds.
        .env("CARGO_TARGET_DIR", workspace().join("target/scaffold"))
        .args(args)
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "cargo {args:?} in the generated project failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_new_rust_measure_builds_passes_its_test_and_measures_its_sample() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().canonicalize().unwrap();
    let out = smm.ok(&[
        "measure",
        "new",
        "demo-count",
        "--lang",
        "rust",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let project = dir.join("demo-count");
    assert!(
        out.contains("created") && out.contains("cargo test"),
        "{out}"
    );
    // The versions this workspace builds with (cargo keeps what it needs).
    std::fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();

    let tests = cargo(&project, &["test", "--quiet"]);
    assert!(tests.contains("3 passed"), "{tests}");
    cargo(
        &project,
        &["build", "--quiet", "--release", "--target", "wasm32-wasip2"],
    );
    let wasm = workspace().join("target/scaffold/wasm32-wasip2/release/demo_count.wasm");
    assert!(wasm.is_file(), "{} was not built", wasm.display());

    smm.ok(&["measure", "register", wasm.to_str().unwrap()]);
    let samples = project.join("samples");
    smm.ok(&[
        "instance",
        "create",
        "demo",
        "--measure",
        "demo-count",
        "--config",
        r#"{"path": "report.json"}"#,
        "--grant-dir",
        samples.to_str().unwrap(),
    ]);
    let m = smm.run_json("demo");
    // samples/report.json: three entries, one high and two low.
    assert_eq!(m["value"], 3.0, "{m}");
    assert_eq!(m["details"]["by_severity"]["low"], 2, "{m}");

    // Nothing is overwritten.
    let e = smm.fails(&[
        "measure",
        "new",
        "demo-count",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(e.contains("already exists"), "{e}");
}

/// Run `program args` in `dir` with `env`; stdout, after requiring success.
fn ok(dir: &std::path::Path, program: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} in the generated project failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Generate `id` in `lang`, then: its test, its build, register, measure.
fn generated_measure_measures_its_sample(
    lang: &str,
    id: &str,
    test: (&str, &[&str]),
    env: &[(&str, String)],
) {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().canonicalize().unwrap();
    smm.ok(&[
        "measure",
        "new",
        id,
        "--lang",
        lang,
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let project = dir.join(id);
    let out = Command::new(test.0)
        .current_dir(&project)
        .args(test.1)
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the generated test failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let built = ok(&project, "./build.sh", &[], env);
    let wasm = built.lines().last().unwrap().trim().to_string();
    smm.ok(&["measure", "register", &wasm]);
    let samples = project.join("samples");
    smm.ok(&[
        "instance",
        "create",
        "demo",
        "--measure",
        id,
        "--config",
        r#"{"path": "report.json"}"#,
        "--grant-dir",
        samples.to_str().unwrap(),
    ]);
    let m = smm.run_json("demo");
    // samples/report.json: three entries, one high and two low.
    assert_eq!(m["value"], 3.0, "{m}");
    assert_eq!(m["details"]["by_severity"]["low"], 2, "{m}");
    assert_eq!(m["details"]["by_severity"]["high"], 1, "{m}");
}

#[test]
fn a_new_python_measure_passes_its_test_builds_and_measures_its_sample() {
    let Some(python) = smm_tests::python::python() else {
        return;
    };
    let python = python.display().to_string();
    let sdk = workspace().join("sdk/python").display().to_string();
    let env = [("PYTHON", python.clone()), ("PYTHONPATH", sdk)];
    generated_measure_measures_its_sample(
        "python",
        "demo-py-count",
        (python.as_str(), &["-m", "unittest", "-v"]),
        &env,
    );
}

#[test]
fn a_new_javascript_measure_passes_its_test_builds_and_measures_its_sample() {
    let Some(node) = smm_tests::javascript::toolchain() else {
        return;
    };
    let node = node.display().to_string();
    generated_measure_measures_its_sample(
        "js",
        "demo-js-count",
        (node.as_str(), &["--test", "test/"]),
        &[],
    );
}
