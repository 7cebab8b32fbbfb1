//! Helpers for smm's end-to-end tests: components built from source, the
//! `smm` binary, and throwaway homes.

pub mod elasticsearch;
pub mod github;
pub mod javascript;
pub mod kibana;
pub mod python;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `../shared/fixtures/<rel>` beside the workspace, when present (it is on
/// the team's machines and in CI, not on a user's clone).
pub fn shared_fixture(rel: &str) -> Option<PathBuf> {
    let path = workspace().join("../shared/fixtures").join(rel);
    if path.is_file() {
        Some(path.canonicalize().unwrap())
    } else {
        eprintln!("skipped: ../shared/fixtures/{rel} is absent");
        None
    }
}

/// Build the guest crate `package` for wasm32-wasip2 (profile `wasm`) and
/// return the component's path. Built once per test process; cargo's own
/// lock serialises concurrent test processes.
pub fn component(package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    let path = workspace()
        .join("target/wasm32-wasip2/wasm")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if !built.iter().any(|p| p == package) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace())
            .args([
                "build",
                "--quiet",
                "--profile",
                "wasm",
                "--target",
                "wasm32-wasip2",
                "-p",
                package,
            ])
            .output()
            .expect("running cargo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = if stderr.contains("can't find crate for `std`") {
            "\nhint: the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        assert!(
            out.status.success(),
            "building {package} for wasm32-wasip2 failed:\n{stderr}{hint}"
        );
        built.push(package.to_string());
    }
    assert!(path.is_file(), "{} was not produced", path.display());
    path
}

/// A throwaway `$SMM_HOME` and a way to call the real `smm` binary on it.
pub struct Smm {
    pub home: tempfile::TempDir,
    bin: PathBuf,
}

impl Smm {
    /// `bin` is `env!("CARGO_BIN_EXE_smm")` of the calling test.
    pub fn new(bin: &str) -> Smm {
        Smm {
            home: tempfile::tempdir().unwrap(),
            bin: PathBuf::from(bin),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Run with extra environment variables (secrets the engine reads).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(&self.bin)
            .env("SMM_HOME", self.home.path())
            .env_remove("SMM_LOG")
            .envs(env.iter().copied())
            .args(args)
            .output()
            .expect("running smm")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "smm {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "smm {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Register the measure built from the guest crate `package`.
    pub fn register(&self, package: &str) -> String {
        self.ok(&["measure", "register", component(package).to_str().unwrap()])
    }

    /// Start `smm args` in this home without waiting (stdout discarded,
    /// stderr kept for [`Child::wait_with_output`]).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(&self.bin)
            .env("SMM_HOME", self.home.path())
            .env_remove("SMM_LOG")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting smm")
    }

    /// Run and require success; stdout parsed as JSON lines (one record
    /// per line, the convention of every `--json`), as an array.
    pub fn json_lines(&self, args: &[&str]) -> serde_json::Value {
        parse_json_lines(&self.ok(args))
    }

    /// `smm run <instance> --json`, parsed, whether it succeeded or not.
    pub fn run_json(&self, instance: &str) -> serde_json::Value {
        let out = self.run(&["run", instance, "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "smm run {instance} --json printed no JSON ({e}):\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// JSON lines (one value per non-empty line) as an array.
pub fn parse_json_lines(text: &str) -> serde_json::Value {
    serde_json::Value::Array(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"))
            })
            .collect(),
    )
}

/// Wait for `child` at most `limit`; a child still running then is killed
/// and the test fails naming `what` (a test never hangs on a process).
pub fn wait_or_kill(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for smm") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} (still running after {limit:?})");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Send SIGTERM to `child`.
pub fn terminate(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(sent.success(), "kill -TERM {}", child.id());
}
