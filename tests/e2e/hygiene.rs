//! What a person reads cannot be forged by a plugin, and what the engine
//! keeps is private: the CLI escapes control and bidirectional formatting
//! characters in everything a plugin controls (tables, plain output,
//! `--json`, errors); `$SMM_HOME` is private to its user; grants cannot
//! expose the host or the engine itself; a second `smm serve` on one home
//! is refused.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use smm_catalogue::text::is_forbidden;
use smm_tests::{Smm, terminate, wait_or_kill};

const HOSTILE: &str = "pwned\u{1b}]0;title\u{7}\u{1b}[2J\u{9b}31m\u{202e}gpj.exe";

fn clean(out: &[u8], what: &str) {
    let text = String::from_utf8_lossy(out);
    if let Some(c) = text.chars().find(|&c| is_forbidden(c) && c != '\n') {
        panic!("{what}: U+{:04X} reached the terminal: {text:?}", c as u32);
    }
}

fn probe(smm: &Smm, name: &str, config: Value) {
    smm.ok(&[
        "instance",
        "create",
        name,
        "--measure",
        "probe",
        "--config",
        &config.to_string(),
    ]);
}

#[test]
fn plugin_output_cannot_forge_the_terminal() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("probe-plugin");
    probe(
        &smm,
        "text",
        serde_json::json!({"behaviour": "text", "text": HOSTILE}),
    );
    probe(
        &smm,
        "fails",
        serde_json::json!({"behaviour": "text", "text": HOSTILE, "value": -1}),
    );
    for args in [
        vec!["run", "text"],
        vec!["run", "text", "--json"],
        vec!["run", "fails"],
        vec!["run", "fails", "--json"],
        vec!["query", "text"],
        vec!["query", "text", "--json"],
        vec!["query", "fails"],
        vec!["instance", "list"],
        vec!["measure", "list"],
    ] {
        let out = smm.run(&args);
        clean(&out.stdout, &format!("smm {args:?} stdout"));
        clean(&out.stderr, &format!("smm {args:?} stderr"));
    }
    // Escaped, not dropped: the person sees what the plugin sent.
    let shown = String::from_utf8(smm.run(&["query", "text"]).stdout).unwrap();
    assert!(shown.contains("pwned\\u{1b}]0;title"), "{shown}");
    assert!(shown.contains("\\u{202e}gpj.exe"), "{shown}");
    // --json is still JSON, holding exactly what the plugin returned.
    let rows: Value = smm.json_lines(&["query", "text", "--json"]);
    assert_eq!(rows[0]["text"], HOSTILE);
    assert_eq!(rows[0]["details"]["note"], HOSTILE);
    let err = smm.fails(&["run", "fails"]);
    assert!(err.contains("\\u{9b}31m"), "{err}");
}

#[cfg(unix)]
#[test]
fn the_home_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let home = smm.home.path().join("fresh");
    let out = Command::new(env!("CARGO_BIN_EXE_smm"))
        .args(["measure", "list"])
        .env("SMM_HOME", &home)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700, "the home");
    assert_eq!(mode(&home.join("smm.db")), 0o600, "the database");
    assert_eq!(mode(&home.join("cache")), 0o700, "the compile cache");
}

#[test]
fn grants_cannot_expose_the_host_or_the_engine() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("probe-plugin");
    let home = smm.home.path().canonicalize().unwrap();
    let parent = home.parent().unwrap().to_str().unwrap().to_string();
    let home_str = home.to_str().unwrap().to_string();
    let cache = home.join("cache");
    let cache_str = cache.to_str().unwrap().to_string();
    for (grant, why) in [
        ("/", "the whole filesystem"),
        ("/proc", "/proc"),
        ("/sys", "/sys"),
        ("/dev", "/dev"),
        (parent.as_str(), "smm home"),
        (home_str.as_str(), "smm home"),
        (cache_str.as_str(), "smm home"),
    ] {
        let err = smm.fails(&[
            "instance",
            "create",
            "g",
            "--measure",
            "probe",
            "--config",
            r#"{"behaviour":"constant"}"#,
            "--grant-dir",
            grant,
        ]);
        assert!(err.contains(why), "--grant-dir {grant}: {err}");
    }
    // An ordinary directory is fine.
    let reports = tempfile::tempdir().unwrap();
    smm.ok(&[
        "instance",
        "create",
        "g",
        "--measure",
        "probe",
        "--config",
        r#"{"behaviour":"constant"}"#,
        "--grant-dir",
        reports.path().to_str().unwrap(),
    ]);
}

#[cfg(unix)]
#[test]
fn symlinks_in_a_grant_cannot_lead_out_of_it() {
    use std::os::unix::fs::symlink;
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("probe-plugin");
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "not for plugins").unwrap();
    let grant = tempfile::tempdir().unwrap();
    let g = grant.path().canonicalize().unwrap();
    std::fs::write(g.join("report.txt"), "twelve bytes").unwrap();
    std::fs::create_dir(g.join("sub")).unwrap();
    symlink(&secret, g.join("absolute")).unwrap();
    symlink(
        "../../../../../../../../../../etc/passwd",
        g.join("sub/relative"),
    )
    .unwrap();
    symlink(g.join("absolute"), g.join("chained")).unwrap();
    symlink(g.join("loop-b"), g.join("loop-a")).unwrap();
    symlink(g.join("loop-a"), g.join("loop-b")).unwrap();
    symlink("report.txt", g.join("inside")).unwrap();
    let read = |name: &str, path: std::path::PathBuf| -> Value {
        smm.ok(&[
            "instance",
            "create",
            name,
            "--measure",
            "probe",
            "--config",
            &serde_json::json!({"behaviour": "read", "path": path}).to_string(),
            "--grant-dir",
            g.to_str().unwrap(),
        ]);
        smm.run_json(name)
    };
    for (name, path) in [
        ("absolute", g.join("absolute")),
        ("relative", g.join("sub/relative")),
        ("chained", g.join("chained")),
        ("looping", g.join("loop-a")),
    ] {
        let m = read(name, path);
        assert_eq!(m["error_kind"], "input", "{name}: {m}");
    }
    let m = read("inside", g.join("inside"));
    assert_eq!(
        m["value"], 12.0,
        "a link to a file inside the grant works: {m}"
    );
}

#[test]
fn a_second_serve_on_one_home_is_refused() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let mut first = smm.spawn(&["serve"]);
    // Wait until the first one holds the home (its pid in serve.lock).
    let lock = smm.home.path().join("serve.lock");
    let started = Instant::now();
    while std::fs::read_to_string(&lock).unwrap_or_default() != first.id().to_string() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first serve never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut second = smm.spawn(&["serve"]);
    let status = wait_or_kill(
        &mut second,
        Duration::from_secs(10),
        "a second smm serve started on the same home",
    );
    let err = String::from_utf8_lossy(&second.wait_with_output().unwrap().stderr).to_string();
    assert!(
        !status.success() && err.contains("already serving"),
        "{err}"
    );
    assert!(
        err.contains(&first.id().to_string()),
        "names the pid: {err}"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // Once the first is gone (even killed), serve starts again.
    let mut again = smm.spawn(&["serve"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        again.try_wait().unwrap().is_none(),
        "serve runs after a killed one"
    );
    again.kill().unwrap();
    again.wait().unwrap();
}

#[test]
fn leftovers_of_a_killed_compilation_are_cleaned() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.ok(&["measure", "list"]);
    let dir = std::fs::read_dir(smm.home.path().join("cache"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("wasmtime-"))
        .unwrap()
        .path();
    let stale = dir.join(".tmp-4242-1");
    let fresh = dir.join(".tmp-4243-2");
    for f in [&stale, &fresh] {
        std::fs::write(f, b"half a compiled component").unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    smm.ok(&["measure", "list"]);
    assert!(!stale.exists(), "a leftover of a killed process is removed");
    assert!(fresh.exists(), "one being written by a live process is not");
}

#[cfg(unix)]
#[test]
fn a_plugin_reading_a_fifo_cannot_keep_smm_from_finishing() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("probe-plugin");
    let grant = tempfile::tempdir().unwrap();
    let g = grant.path().canonicalize().unwrap();
    let pipe = g.join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap()
            .success()
    );
    smm.ok(&[
        "instance",
        "create",
        "fifo",
        "--measure",
        "probe",
        "--config",
        &serde_json::json!({"behaviour": "read", "path": pipe}).to_string(),
        "--grant-dir",
        g.to_str().unwrap(),
        "--deadline",
        "2s",
        "--schedule",
        "* * * * * *",
    ]);
    // smm run returns (never waits for a writer that will not come).
    let mut run = smm.spawn(&["run", "fifo"]);
    let status = wait_or_kill(&mut run, Duration::from_secs(20), "smm run never exited");
    assert!(!status.success(), "an error measurement");
    // serve, running it every second, stops within its grace after SIGTERM.
    let mut serve = smm.spawn(&["serve", "--grace", "1s"]);
    std::thread::sleep(Duration::from_secs(3));
    terminate(&serve);
    let status = wait_or_kill(
        &mut serve,
        Duration::from_secs(15),
        "smm serve ignored SIGTERM",
    );
    assert!(status.success());
}

fn ids(smm: &Smm, instance: &str) -> Vec<String> {
    let rows: Value = smm.json_lines(&["query", instance, "--json"]);
    rows.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_measurement_waits_for_a_database_locked_by_another_process() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("probe-plugin");
    probe(
        &smm,
        "p",
        serde_json::json!({"behaviour": "constant", "value": 3}),
    );
    // Another process takes the write lock for longer than smm's busy
    // timeout (10 s).
    let db = rusqlite::Connection::open(smm.home.path().join("smm.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_smm"))
        .args(["run", "p", "--json"])
        .env("SMM_HOME", smm.home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(12));
    db.execute_batch("COMMIT").unwrap();
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&smm, "p"), vec![m["id"].as_str().unwrap().to_string()]);
}

#[test]
fn serve_killed_mid_run_loses_nothing_it_reported_and_resumes() {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("probe-plugin");
    for name in ["a", "b"] {
        smm.ok(&[
            "instance",
            "create",
            name,
            "--measure",
            "probe",
            "--config",
            r#"{"behaviour":"constant","value":1}"#,
            "--schedule",
            "* * * * * *",
        ]);
    }
    let spawn = || smm.spawn(&["serve"]);
    let wait_for = |name: &str, n: usize| {
        let started = Instant::now();
        loop {
            let got = ids(&smm, name);
            if got.len() >= n {
                return got;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{name}: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let mut serve = spawn();
    let seen_a = wait_for("a", 3);
    let seen_b = wait_for("b", 3);
    serve.kill().unwrap(); // SIGKILL, wherever it is
    serve.wait().unwrap();
    let db = rusqlite::Connection::open(smm.home.path().join("smm.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(db);
    for (name, seen) in [("a", &seen_a), ("b", &seen_b)] {
        let now = ids(&smm, name);
        assert!(
            seen.iter().all(|id| now.contains(id)),
            "{name}: every measurement seen stored is there"
        );
    }
    // A new serve takes over (the lock died with the killed one) and the
    // schedule goes on.
    let mut again = spawn();
    let after = wait_for("a", ids(&smm, "a").len() + 2);
    assert!(after.len() > seen_a.len());
    again.kill().unwrap();
    again.wait().unwrap();
}
