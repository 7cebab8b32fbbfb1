//! Outgoing HTTP as a granted capability, through the real `smm` binary and
//! a measure built from source (`tests/plugins/fetch`, on the SDK's HTTP
//! helper), against a local stand-in of the GitHub REST API that replays
//! recorded exchanges (`../shared/fixtures/github-rest/`).

use serde_json::Value;
use smm_tests::github::GitHubServer;
use smm_tests::{Smm, shared_fixture};

const TOKEN: &str = "ghs_s3cr3tV4lu3-never-inside";

fn smm() -> Smm {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("fetch-plugin");
    smm
}

/// Create instance `name` of `fetch` with `config` and extra arguments.
fn fetch(smm: &Smm, name: &str, config: Value, extra: &[&str]) {
    let config = config.to_string();
    let mut args = vec![
        "instance",
        "create",
        name,
        "--measure",
        "fetch",
        "--config",
        &config,
    ];
    args.extend_from_slice(extra);
    smm.ok(&args);
}

/// `smm run name --json` with the token in the engine's environment.
fn run(smm: &Smm, name: &str) -> Value {
    let out = smm.run_env(&["run", name, "--json"], &[("SMM_TEST_TOKEN", TOKEN)]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn error(m: &Value) -> String {
    assert_eq!(
        m["value"],
        Value::Null,
        "expected an error measurement: {m}"
    );
    m["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn pages_are_followed_and_the_host_alone_holds_the_secret() {
    let Some(fixture) = shared_fixture("github-rest/octokit-fixtures_paginate-issues.json") else {
        return;
    };
    let api = GitHubServer::start();
    api.replay(&fixture);
    let smm = smm();
    let url = format!(
        "{}/repos/octokit-fixture-org/paginate-issues/issues?per_page=3",
        api.url()
    );
    let secret = "gh=env:SMM_TEST_TOKEN";
    fetch(
        &smm,
        "issues",
        serde_json::json!({"url": url, "pages": 10}),
        &["--allow-host", api.grant(), "--secret", secret],
    );
    let m = run(&smm, "issues");
    // Five recorded pages of 3, 3, 3, 3 and 1 issues, linked by `Link`.
    assert_eq!(m["value"], 13.0, "{m}");
    let received = api.received();
    assert_eq!(received.len(), 5, "{received:?}");
    for r in &received {
        assert_eq!(
            r.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
    }
    assert!(
        received[4].path_and_query.ends_with("page=5"),
        "{received:?}"
    );
    // Inside, the plugin saw no environment, no arguments, no /proc.
    let snoop = &m["details"]["snoop"];
    assert_eq!(snoop["env"], serde_json::json!([]), "{snoop}");
    assert_eq!(snoop["proc_environ"], false, "{snoop}");
    // The value is nowhere a person or the store could read it.
    let shown = smm.ok(&["instance", "show", "issues"]);
    assert!(shown.contains("env:SMM_TEST_TOKEN"), "{shown}");
    let json = smm.ok(&["instance", "show", "issues", "--json"]);
    for text in [&shown, &json, &m.to_string()] {
        assert!(!text.contains(TOKEN), "the secret leaked: {text}");
    }
    for file in walk(smm.home.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the secret is in {}",
            file.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn destinations_not_granted_are_refused_by_name_and_receive_nothing() {
    let (granted, other) = (GitHubServer::start(), GitHubServer::start());
    let smm = smm();
    let secret = "gh=env:SMM_TEST_TOKEN";
    let allow = ["--allow-host", granted.grant(), "--secret", secret];
    // Another host (here another port of the same address).
    let elsewhere = format!("{}/repos/o/r", other.url());
    fetch(
        &smm,
        "elsewhere",
        serde_json::json!({"url": elsewhere}),
        &allow,
    );
    // A redirect, from the granted host, to one that is not.
    let redirect = format!("{}/_redirect?to={}/stolen", granted.url(), other.url());
    fetch(
        &smm,
        "redirect",
        serde_json::json!({"url": redirect}),
        &allow,
    );
    // No grant at all.
    let nothing = format!("{}/repos/o/r", granted.url());
    fetch(&smm, "ungranted", serde_json::json!({"url": nothing}), &[]);
    // A name that resolves to a loopback address is not a public host.
    let port = granted.url().rsplit(':').next().unwrap();
    let by_name = format!("http://localhost:{port}/repos/o/r");
    let grant = format!("http://localhost:{port}");
    fetch(
        &smm,
        "by-name",
        serde_json::json!({"url": by_name}),
        &["--allow-host", &grant],
    );
    // A path prefix grants what is under it only.
    let prefix = format!("{}/repos/o/", granted.url());
    let outside = format!("{}/orgs/o", granted.url());
    fetch(
        &smm,
        "outside",
        serde_json::json!({"url": outside}),
        &["--allow-host", &prefix],
    );

    for (name, says) in [
        (
            "elsewhere",
            format!("{}/repos/o/r is not granted", other.url()),
        ),
        ("redirect", format!("{}/stolen is not granted", other.url())),
        (
            "ungranted",
            "no host is granted to this instance".to_string(),
        ),
        (
            "by-name",
            "resolves to 127.0.0.1, a loopback address".to_string(),
        ),
        (
            "outside",
            format!("{}/orgs/o is not granted", granted.url()),
        ),
    ] {
        let m = run(&smm, name);
        let e = error(&m);
        assert_eq!(m["error_kind"], "input", "{name}: {m}");
        assert!(e.contains(&says), "{name}: {e}");
    }
    assert!(other.received().is_empty(), "{:?}", other.received());
    // Only the redirect itself reached the granted host.
    let received = granted.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].path_and_query.starts_with("/_redirect"));

    // Granted as private, the same name is reachable.
    granted.json("/repos/o/r", &serde_json::json!({"name": "r"}));
    smm.ok(&[
        "instance",
        "update",
        "by-name",
        "--allow-private-host",
        &grant,
    ]);
    let m = run(&smm, "by-name");
    assert_eq!(m["value"], 200.0, "{m}");
}

#[test]
fn api_failures_are_input_errors_with_status_and_message() {
    let api = GitHubServer::start();
    if let Some(errors) = shared_fixture("github-rest/octokit-fixtures_errors.json") {
        api.replay(&errors);
    }
    let smm = smm();
    let allow = ["--allow-host", api.grant()];
    let cases = [
        ("missing", "/repos/o/gone", "status 404 (not found"),
        (
            "refused",
            "/_unauthorized",
            "status 401 (the credentials were refused",
        ),
        (
            "limited",
            "/_rate-limited?reset_in=3600",
            "rate limited (status 403)",
        ),
    ];
    for (name, path, _) in &cases {
        let url = format!("{}{path}", api.url());
        fetch(
            &smm,
            name,
            serde_json::json!({"url": url, "max_wait_s": 5}),
            &allow,
        );
    }
    for (name, _, says) in &cases {
        let m = run(&smm, name);
        assert_eq!(m["error_kind"], "input", "{m}");
        let e = error(&m);
        assert!(e.contains(says), "{name}: {e}");
    }
    assert!(error(&run(&smm, "refused")).contains("Bad credentials"));
    assert!(error(&run(&smm, "limited")).contains("API rate limit exceeded"));
    if shared_fixture("github-rest/octokit-fixtures_errors.json").is_some() {
        // The recorded 422 of GitHub, its message and its field errors.
        let url = format!("{}/repos/octokit-fixture-org/errors/labels", api.url());
        fetch(&smm, "invalid", serde_json::json!({"url": url}), &allow);
        let e = error(&run(&smm, "invalid"));
        assert!(
            e.contains("status 422") && e.contains("Validation Failed"),
            "{e}"
        );
        assert!(e.contains("\"field\":\"color\""), "{e}");
    }
    // A short rate limit (`retry-after`) is waited out.
    let url = format!("{}/_retry-after?s=1", api.url());
    fetch(
        &smm,
        "patient",
        serde_json::json!({"url": url, "pages": 1}),
        &allow,
    );
    let m = run(&smm, "patient");
    assert_eq!(m["value"], 0.0, "{m}");
}

#[test]
fn requests_bytes_and_time_are_bounded() {
    let Some(fixture) = shared_fixture("github-rest/octokit-fixtures_paginate-issues.json") else {
        return;
    };
    let api = GitHubServer::start();
    api.replay(&fixture);
    let smm = smm();
    let allow = ["--allow-host", api.grant()];
    let pages = format!(
        "{}/repos/octokit-fixture-org/paginate-issues/issues?per_page=3",
        api.url()
    );
    let mut few = allow.to_vec();
    few.extend(["--http-requests", "2"]);
    fetch(
        &smm,
        "many",
        serde_json::json!({"url": pages, "pages": 10}),
        &few,
    );
    let huge = format!("{}/_huge?mib=3", api.url());
    let mut small = allow.to_vec();
    small.extend(["--http-mib", "1"]);
    fetch(&smm, "huge", serde_json::json!({"url": huge}), &small);
    let slow = format!("{}/_slow", api.url());
    let mut short = allow.to_vec();
    short.extend(["--deadline", "2s"]);
    fetch(&smm, "slow", serde_json::json!({"url": slow}), &short);

    let e = error(&run(&smm, "many"));
    assert!(e.contains("more than 2 HTTP requests"), "{e}");
    assert_eq!(api.received().len(), 2);
    let e = error(&run(&smm, "huge"));
    assert!(e.contains("passed the 1048576 bytes it may receive"), "{e}");
    let started = std::time::Instant::now();
    let m = run(&smm, "slow");
    let e = error(&m);
    assert!(
        e.contains("no answer in time") || m["error_kind"] == "timeout",
        "{m}"
    );
    // Generous: the deadline is 2 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
fn grants_and_secrets_are_checked_when_the_instance_is_made() {
    let smm = smm();
    let create = |extra: &[&str]| {
        let mut args = vec![
            "instance",
            "create",
            "x",
            "--measure",
            "fetch",
            "--config",
            r#"{"url": "https://api.github.com/"}"#,
        ];
        args.extend_from_slice(extra);
        smm.fails(&args)
    };
    let e = create(&["--allow-host", "*.github.com"]);
    assert!(e.contains("wildcards are not grants"), "{e}");
    let e = create(&[
        "--allow-host",
        "api.github.com",
        "--secret",
        "gh=ghp_pasted",
    ]);
    assert!(e.contains("never given on the command line"), "{e}");
    assert!(
        !e.contains("ghp_pasted"),
        "the pasted token was echoed: {e}"
    );
    let e = create(&[
        "--allow-host",
        "http://ci.example.com",
        "--secret",
        "t=env:T",
    ]);
    assert!(e.contains("clear text"), "{e}");
    let e = create(&["--secret", "t=env:T"]);
    assert!(e.contains("no host is granted"), "{e}");
    // A secret the engine cannot read is a configuration error at run time.
    smm.ok(&[
        "instance",
        "create",
        "unset",
        "--measure",
        "fetch",
        "--config",
        r#"{"url": "https://api.github.com/"}"#,
        "--allow-host",
        "api.github.com",
        "--secret",
        "gh=env:SMM_TEST_UNSET_VARIABLE",
    ]);
    let m = smm.run_json("unset");
    assert_eq!(m["error_kind"], "config", "{m}");
    assert!(
        error(&m).contains("SMM_TEST_UNSET_VARIABLE is not set"),
        "{m}"
    );
}

#[test]
fn https_is_verified_against_the_system_roots() {
    let dir = tempfile::tempdir().unwrap();
    let Some(identity) = smm_tests::tls::SelfSigned::generate(dir.path()) else {
        return;
    };
    let api = GitHubServer::start();
    api.json("/repos/o/r", &serde_json::json!({"full_name": "o/r"}));
    let upstream = api.url().trim_start_matches("http://").parse().unwrap();
    let proxy = smm_tests::tls::TlsProxy::start(upstream, &identity);
    let smm = smm();
    let grant = format!("https://localhost:{}", proxy.port);
    let url = format!("{grant}/repos/o/r");
    fetch(
        &smm,
        "tls",
        serde_json::json!({"url": url}),
        &[
            "--allow-private-host",
            &grant,
            "--secret",
            "gh=env:SMM_TEST_TOKEN",
        ],
    );
    // A certificate no root vouches for is refused, with the reason.
    let out = smm.run_env(
        &["run", "tls", "--json"],
        &[("SMM_TEST_TOKEN", TOKEN), ("SSL_CERT_FILE", "/nonexistent")],
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = error(&m);
    assert!(e.contains("TLS with localhost"), "{e}");
    assert!(api.received().is_empty(), "nothing was sent in the clear");
    // Trusted (as a system store would), the same request goes through,
    // the secret with it, encrypted.
    let cert = identity.cert.to_str().unwrap();
    let out = smm.run_env(
        &["run", "tls", "--json"],
        &[("SMM_TEST_TOKEN", TOKEN), ("SSL_CERT_FILE", cert)],
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["value"], 200.0, "{m}");
    let received = api.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
}
