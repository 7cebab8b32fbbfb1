//! `smm measure new`: a generated measure project, outside this workspace,
//! builds, passes its own test, and its component registers and measures
//! its sample, through the real `smm` binary and cargo.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smm_tests::{Smm, workspace};

fn cargo(project: &Path, args: &[&str]) -> String {
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

/// Run `program args` in `dir` with `env`; its output, whatever the status.
fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, String)]) -> Output {
    Command::new(program)
        .current_dir(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run `program args` in `dir` with `env`; stdout, after requiring success.
fn ok(dir: &Path, program: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let out = run(dir, program, args, env);
    assert!(
        out.status.success(),
        "{program} {args:?} in the generated project failed:\n{}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `smm measure new id --lang lang [--sdk sdk]` in a new temporary
/// directory (returned, to keep it); the project's path.
fn generate(smm: &Smm, lang: &str, id: &str, sdk: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().canonicalize().unwrap();
    let mut args = vec!["measure", "new", id, "--lang", lang, "--dir"];
    args.push(dir.to_str().unwrap());
    if let Some(sdk) = sdk {
        args.extend(["--sdk", sdk]);
    }
    let said = smm.ok(&args);
    // The next steps printed are this language's.
    let next = match lang {
        "js" => "node --test test/ && ./build.sh",
        "python" => "./build.sh",
        _ => "cargo test && ./build.sh",
    };
    assert!(said.contains(next), "{said}");
    if lang != "rust" {
        assert!(!said.contains("cargo"), "{said}");
    }
    (parent, dir.join(id))
}

/// Generate `id` in `lang` with `--sdk sdk` (else the default: this
/// workspace's sdk/), then: its build, its test, register, measure. The
/// build comes first: with a git URL it clones the SDK the test imports.
/// Returns the project (in the returned temporary directory).
fn assert_generated_measure_measures_its_sample(
    lang: &str,
    id: &str,
    sdk: Option<&str>,
    test: (&str, &[&str]),
    env: &[(&str, String)],
) -> (tempfile::TempDir, PathBuf) {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let (parent, project) = generate(&smm, lang, id, sdk);
    let built = ok(&project, "./build.sh", &[], env);
    let wasm = built.lines().last().unwrap().trim().to_string();
    let out = run(&project, test.0, test.1, env);
    assert!(
        out.status.success(),
        "the generated test failed:\n{}",
        describe(&out)
    );
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
    (parent, project)
}

#[test]
fn a_new_python_measure_passes_its_test_builds_and_measures_its_sample() {
    let Some(python) = smm_tests::python::python() else {
        return;
    };
    let python = python.display().to_string();
    // The test imports smm_sdk; the build puts the SDK on the path itself.
    let sdk = workspace().join("sdk/python").display().to_string();
    let env = [("PYTHON", python.clone()), ("PYTHONPATH", sdk)];
    assert_generated_measure_measures_its_sample(
        "python",
        "demo-py-count",
        None,
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
    assert_generated_measure_measures_its_sample(
        "js",
        "demo-js-count",
        None,
        (node.as_str(), &["--test", "test/"]),
        &[],
    );
}

fn git_present() -> bool {
    let found = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: the `git` command is absent");
    }
    found
}

/// Git without the machine's or the user's configuration.
const GIT_ENV: [(&str, &str); 6] = [
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_AUTHOR_NAME", "Ada"),
    ("GIT_AUTHOR_EMAIL", "ada@example.com"),
    ("GIT_COMMITTER_NAME", "Ada"),
    ("GIT_COMMITTER_EMAIL", "ada@example.com"),
];

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .envs(GIT_ENV)
        .output()
        .expect("running git");
    assert!(out.status.success(), "git {args:?}: {}", describe(&out));
}

/// Copy `from` into `to`, without what installs and runs leave behind.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if [".venv", "__pycache__", "node_modules", ".pytest_cache"].contains(&name.as_str())
            || name.ends_with(".egg-info")
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// A git repository in `dir` laid out like smm's, holding this
/// workspace's SDK for Python and JavaScript as it is on disk (uncommitted
/// changes included), tagged `TAG`; `main` then moves on to a commit
/// without the SDK, so only the tag builds.
fn sdk_repository(dir: &Path) {
    for part in ["python", "js", "wit"] {
        copy_tree(
            &workspace().join("sdk").join(part),
            &dir.join("sdk").join(part),
        );
    }
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "the SDK"]);
    git(dir, &["tag", TAG]);
    git(dir, &["rm", "-q", "-r", "sdk"]);
    std::fs::write(dir.join("README.md"), "no SDK here\n").unwrap();
    git(dir, &["add", "README.md"]);
    git(dir, &["commit", "-q", "-m", "no SDK"]);
}

const TAG: &str = "v0.1.0-test";

/// `smm measure new … --sdk file://<repository>#TAG`: the first build
/// clones the tag into `.smm-sdk`, the measure builds, tests and measures
/// as with a path; a second build uses the clone; a URL that is no
/// repository fails the build, naming it. Returns the project (in the
/// returned temporary directory).
fn generated_from_git_measures_its_sample(
    lang: &str,
    id: &str,
    test: (&str, &[&str]),
    env: &[(&str, String)],
) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().canonicalize().unwrap();
    sdk_repository(&repo);
    let url = format!("file://{}", repo.display());
    let mut env = env.to_vec();
    env.extend(GIT_ENV.iter().map(|(k, v)| (*k, v.to_string())));
    let (parent, project) = assert_generated_measure_measures_its_sample(
        lang,
        id,
        Some(&format!("{url}#{TAG}")),
        test,
        &env,
    );
    let clone = project.join(".smm-sdk");
    assert!(clone.join("sdk/wit/measure.wit").is_file(), "no clone");
    assert!(
        std::fs::read_to_string(project.join(".gitignore"))
            .unwrap()
            .contains("/.smm-sdk"),
        "the clone is not ignored"
    );
    // The second build uses the clone as it is.
    std::fs::write(clone.join("kept"), "").unwrap();
    let again = run(&project, "./build.sh", &[], &env);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(
        clone.join("kept").is_file() && !describe(&again).contains("cloning"),
        "the second build cloned again:\n{}",
        describe(&again)
    );

    // A URL that is not a repository: the build fails, naming it, and
    // leaves no clone behind.
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let missing = format!("file://{}/missing", parent.path().display());
    let (_bad_parent, bad) = generate(&smm, lang, id, Some(&format!("{missing}#{TAG}")));
    let failed = run(&bad, "./build.sh", &[], &env);
    assert!(!failed.status.success(), "{}", describe(&failed));
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(said.contains(&missing) && said.contains("failed"), "{said}");
    assert!(!bad.join(".smm-sdk").exists(), "a failed clone was left");
    (parent, project)
}

#[test]
fn a_new_python_measure_with_the_sdk_from_a_git_url_builds_and_measures_its_sample() {
    if !git_present() {
        return;
    }
    let Some(python) = smm_tests::python::python() else {
        return;
    };
    let python = python.display().to_string();
    // The test imports smm_sdk from the clone the first build makes
    // (relative: the project is the working directory).
    let env = [
        ("PYTHON", python.clone()),
        ("PYTHONPATH", ".smm-sdk/sdk/python".to_string()),
    ];
    generated_from_git_measures_its_sample(
        "python",
        "demo-py-git",
        (python.as_str(), &["-m", "unittest", "-v"]),
        &env,
    );
}

#[test]
fn a_new_javascript_measure_with_the_sdk_from_a_git_url_builds_and_measures_its_sample() {
    if !git_present() {
        return;
    }
    let Some(node) = smm_tests::javascript::toolchain() else {
        return;
    };
    let node = node.display().to_string();
    // The tools of this workspace's SDK, linked into the clone's.
    let tools = workspace().join("sdk/js/node_modules");
    let env = [("SMM_JS_TOOLS", tools.display().to_string())];
    let (_parent, project) = generated_from_git_measures_its_sample(
        "js",
        "demo-js-git",
        (node.as_str(), &["--test", "test/"]),
        &env,
    );
    let linked = project.join(".smm-sdk/sdk/js/node_modules");
    assert!(linked.is_symlink(), "{} is not a link", linked.display());
    assert_eq!(
        linked.canonicalize().unwrap(),
        tools.canonicalize().unwrap()
    );
}
