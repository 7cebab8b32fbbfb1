//! The DORA delivery measures (`github-deployments`, `github-lead-time`,
//! `github-incidents`) through the real `smm` binary, against the local
//! stand-in of the GitHub REST API, on a small history of one repository
//! built here from the real webhook objects (`../shared/fixtures/webhooks/`,
//! see its SOURCES.md: the deployment, status and issue objects of those
//! payloads have the REST shape), copied in memory and edited (ids, shas,
//! times relative to now, states, labels, titles). GitHub's compare answers
//! are written in its documented shape (no fixture holds one).
//!
//! The expected numbers are worked out by hand below from the times
//! chosen, not by calling `smm_delivery`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use smm_tests::github::{GitHubServer, query_pairs};
use smm_tests::{Smm, shared_fixture};

const REPO: &str = "Codertocat/Hello-World";
const TOKEN: &str = "t";

/// The real objects the history is made of.
struct Real {
    deployment: Value,
    status: Value,
    issue: Value,
}

fn real() -> Option<Real> {
    let read = |name: &str| -> Option<Value> {
        let path = shared_fixture(&format!("webhooks/{name}"))?;
        Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
    };
    let status = read("octokit_deployment_status_success.json")?;
    let issue = read("octokit_issues_labeled_bug.json")?;
    Some(Real {
        deployment: status["deployment"].clone(),
        status: status["deployment_status"].clone(),
        issue: issue["issue"].clone(),
    })
}

/// Times relative to when the test started (to the second).
struct Clock(DateTime<Utc>);

impl Clock {
    fn now() -> Clock {
        let now = Utc::now();
        Clock(DateTime::from_timestamp(now.timestamp(), 0).unwrap())
    }

    /// `days` days ago, plus `minutes` minutes.
    fn at(&self, days: i64, minutes: i64) -> String {
        (self.0 - Duration::days(days) + Duration::minutes(minutes))
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// A 40-hex-digit sha ending in `tag`.
fn sha(tag: &str) -> String {
    format!("{tag:0>40}")
}

fn repo(path: &str) -> String {
    format!("/repos/{REPO}{path}")
}

/// An edited copy of the real deployment.
fn deployment(real: &Real, id: u64, created: &str) -> Value {
    let mut d = real.deployment.clone();
    d["id"] = id.into();
    d["sha"] = sha(&format!("d{id}")).into();
    d["created_at"] = created.into();
    d["updated_at"] = created.into();
    d["url"] = format!("https://api.github.com/repos/{REPO}/deployments/{id}").into();
    d["statuses_url"] =
        format!("https://api.github.com/repos/{REPO}/deployments/{id}/statuses").into();
    d
}

/// An edited copy of the real deployment status.
fn status(real: &Real, id: u64, state: &str, created: &str) -> Value {
    let mut s = real.status.clone();
    s["id"] = id.into();
    s["state"] = state.into();
    s["created_at"] = created.into();
    s["updated_at"] = created.into();
    s
}

/// An edited copy of the real issue: its `bug` label renamed to each of
/// `labels`, open when `closed` is empty.
fn issue(
    real: &Real,
    number: u64,
    title: &str,
    labels: &[&str],
    opened: &str,
    closed: &str,
) -> Value {
    let mut i = real.issue.clone();
    i["number"] = number.into();
    i["title"] = title.into();
    i["created_at"] = opened.into();
    i["updated_at"] = if closed.is_empty() { opened } else { closed }.into();
    i["state"] = if closed.is_empty() { "open" } else { "closed" }.into();
    i["closed_at"] = if closed.is_empty() {
        Value::Null
    } else {
        closed.into()
    };
    let label = i["labels"][0].clone();
    i["labels"] = labels
        .iter()
        .map(|name| {
            let mut l = label.clone();
            l["name"] = (*name).into();
            l
        })
        .collect();
    i
}

/// A compare answer: `(sha tag, authored, message)` commits, `total`
/// counted.
fn comparison(total: u64, commits: &[(&str, &str, &str)]) -> Value {
    let commits: Vec<Value> = commits
        .iter()
        .map(|(tag, authored, message)| {
            json!({
                "sha": sha(tag),
                "commit": {
                    "author": {"name": "Monalisa Octocat", "email": "octocat@github.com", "date": authored},
                    "committer": {"name": "GitHub", "email": "noreply@github.com", "date": authored},
                    "message": message,
                },
                "author": null, "committer": null, "parents": [],
            })
        })
        .collect();
    json!({"status": "ahead", "ahead_by": total, "behind_by": 0, "total_commits": total, "commits": commits, "files": []})
}

/// The long title of incident #11 (300 characters).
fn long_title() -> String {
    format!("Checkout fails after deploy: {}", "x".repeat(271))
}

/// The repository's history, over the last 45 days (`t.at(days ago,
/// minutes)`), all to `production`:
///
/// | deployment | created        | statuses                                   | sha   |
/// |------------|----------------|--------------------------------------------|-------|
/// | 90         | 45 d           | success +10 min                            | d90   |
/// | 100        | 40 d           | success +10 min (the last before the window) | d100 |
/// | 101        | 30 d - 60 min  | success 30 d + 60 min (in the window)      | d101  |
/// | 102        | 20 d           | failure +5 min                             | d102  |
/// | 103        | 15 d           | success +30 min                            | d103  |
/// | 104        | 8 d            | success +12 min                            | d104  |
/// | 105        | 2 d            | in_progress +1 min, success +30 min        | d105  |
/// | 106        | 60 min ago     | queued +1 min                              | d106  |
///
/// Listed newest first over three pages: 106-103, 102-90, then an empty
/// page that must not be asked for (paging stops at 100, the baseline),
/// nor must 90's statuses.
fn load(api: &GitHubServer, real: &Real, t: &Clock) {
    let first = repo("/deployments?environment=production&per_page=100");
    let second = format!("{first}&page=2");
    let third = format!("{first}&page=3");
    let d = |id, days, minutes| deployment(real, id, &t.at(days, minutes));
    api.json_page(
        &first,
        &json!([d(106, 0, -60), d(105, 2, 0), d(104, 8, 0), d(103, 15, 0)]),
        Some(&second),
    );
    api.json_page(
        &second,
        &json!([d(102, 20, 0), d(101, 30, -60), d(100, 40, 0), d(90, 45, 0)]),
        Some(&third),
    );
    api.json_page(&third, &json!([]), None);
    let s = |id, state, days, minutes| status(real, id, state, &t.at(days, minutes));
    for (id, statuses) in [
        (106, json!([s(1061, "queued", 0, -59)])),
        // Newest first, as GitHub lists them.
        (
            105,
            json!([s(1052, "success", 2, 30), s(1051, "in_progress", 2, 1)]),
        ),
        (104, json!([s(1041, "success", 8, 12)])),
        (103, json!([s(1031, "success", 15, 30)])),
        (102, json!([s(1021, "failure", 20, 5)])),
        (101, json!([s(1011, "success", 30, 60)])),
        (100, json!([s(1001, "success", 40, 10)])),
        (90, json!([s(901, "success", 45, 10)])),
    ] {
        api.json(
            &repo(&format!("/deployments/{id}/statuses?per_page=100")),
            &statuses,
        );
    }

    // What each successful deployment of the window shipped since the
    // previous successful one (102 failed: 103 follows 101).
    let compare = |base: &str, head: &str, answer: Value| {
        api.json(
            &repo(&format!("/compare/{}...{}", sha(base), sha(head))),
            &answer,
        );
    };
    compare(
        "d100",
        "d101",
        comparison(
            2,
            &[
                ("c1", &t.at(31, 0), "Add feature A"),
                ("d101", &t.at(30, -180), "Merge feature A"),
            ],
        ),
    );
    compare(
        "d101",
        "d103",
        comparison(
            2,
            &[
                ("d102", &t.at(21, 0), "Add feature B"),
                ("d103", &t.at(16, 0), "Fix: banner typo"),
            ],
        ),
    );
    compare(
        "d103",
        "d104",
        comparison(
            2,
            &[
                ("c4", &t.at(9, 0), "fix: null total in checkout"),
                (
                    "d104",
                    &t.at(8, -120),
                    "hotfix: escape names (GHSA-4x5v-6w7x-8y9z)\n\nReported privately.",
                ),
            ],
        ),
    );
    // GitHub counted 3 and listed 2: truncated.
    compare(
        "d104",
        "d105",
        comparison(
            3,
            &[
                ("c5", &t.at(3, 0), "Add security headers"),
                ("d105", &t.at(2, -360), "Feature D"),
            ],
        ),
    );

    // Incidents: updated in the window (the `since` value depends on the
    // measure's clock), and open now.
    let mut pr = issue(real, 14, "Roll back search", &["incident"], &t.at(1, 0), "");
    pr["pull_request"] =
        json!({"url": format!("https://api.github.com/repos/{REPO}/pulls/14"), "merged_at": null});
    api.json_where(
        &repo("/issues"),
        &[("labels", "incident"), ("state", "all")],
        &json!([
            pr,
            issue(real, 13, "Search is slow", &["incident"], &t.at(3, 0), ""),
            issue(
                real,
                12,
                "Token visible in logs",
                &["incident", "security"],
                &t.at(7, 0),
                &t.at(7, 600)
            ),
            issue(
                real,
                11,
                &long_title(),
                &["incident"],
                &t.at(14, 0),
                &t.at(14, 180)
            ),
        ]),
    );
    // Security fixes: pull requests labelled `security`, closed since the
    // window started: #20 merged in it (created at(6, 0), merged 24 h
    // later), #21 merged before it, #22 closed unmerged; #12 is an issue.
    let fix = |number: u64, opened: &str, closed: &str, merged: Option<&str>| {
        let mut p = issue(
            real,
            number,
            "Fix a vulnerability",
            &["security"],
            opened,
            closed,
        );
        p["pull_request"] = json!({
            "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}"),
            "merged_at": merged,
        });
        p
    };
    api.json_where(
        &repo("/issues"),
        &[("labels", "security"), ("state", "closed")],
        &json!([
            fix(20, &t.at(6, 0), &t.at(5, 0), Some(&t.at(5, 0))),
            fix(21, &t.at(45, 0), &t.at(40, 0), Some(&t.at(40, 0))),
            fix(22, &t.at(4, 0), &t.at(3, 0), None),
            issue(
                real,
                12,
                "Token visible in logs",
                &["incident", "security"],
                &t.at(7, 0),
                &t.at(7, 600)
            ),
        ]),
    );
    api.json_where(
        &repo("/issues"),
        &[("labels", "incident"), ("state", "open")],
        &json!([
            issue(real, 13, "Search is slow", &["incident"], &t.at(3, 0), ""),
            issue(real, 5, "Legacy outage", &["incident"], &t.at(60, 0), ""),
        ]),
    );
}

fn smm() -> Smm {
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    for measure in ["github-deployments", "github-lead-time", "github-incidents"] {
        smm.register(measure);
    }
    smm
}

fn create(smm: &Smm, api: &GitHubServer, name: &str, measure: &str, repository: &str) {
    let config = json!({"repository": repository, "api_url": api.url()}).to_string();
    smm.ok(&[
        "instance",
        "create",
        name,
        "--measure",
        measure,
        "--config",
        &config,
        "--allow-host",
        api.grant(),
        "--secret",
        "gh=env:SMM_TEST_TOKEN",
    ]);
}

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

#[track_caller]
fn close(actual: &Value, expected: f64) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{actual} is not a number"));
    assert!((a - expected).abs() < 1e-9, "{a} != {expected}");
}

#[test]
fn dora_measures_of_a_repository_history() {
    let Some(real) = real() else { return };
    let api = GitHubServer::start();
    let t = Clock::now();
    load(&api, &real, &t);
    let smm = smm();
    create(&smm, &api, "deployments", "github-deployments", REPO);
    create(&smm, &api, "lead-time", "github-lead-time", REPO);
    create(&smm, &api, "incidents", "github-incidents", REPO);

    // Deployment frequency. The window is the last 30 days: 101 (created
    // before it, finished 60 min into it), 103, 104, 105 succeeded in it;
    // 102 failed; 106 is still queued; 100 finished before it.
    let m = run(&smm, "deployments");
    let d = &m["details"];
    assert_eq!(m["value"], 4.0, "{m}");
    assert_eq!(d["repository"], REPO);
    assert_eq!(d["environment"], "production");
    assert_eq!(d["window_days"], 30);
    assert_eq!(d["successful"], 4);
    assert_eq!(d["failed"], 1);
    close(&d["per_day"], 4.0 / 30.0);
    close(&d["per_week"], 28.0 / 30.0);
    let listed: Vec<(u64, &str)> = d["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_u64().unwrap(), x["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            (101, "success"),
            (102, "failure"),
            (103, "success"),
            (104, "success"),
            (105, "success"),
            (106, "queued")
        ],
        "{m}"
    );
    assert_eq!(
        d["deployments"][0],
        json!({"id": 101, "sha": sha("d101"), "ref": "master", "created_at": t.at(30, -60),
               "finished_at": t.at(30, 60), "state": "success"})
    );
    assert_eq!(d["deployments"][5]["finished_at"], Value::Null);
    let asked = api.received();
    let paths: Vec<&str> = asked.iter().map(|r| r.path_and_query.as_str()).collect();
    // Two pages, then the statuses of 106 down to 100, the baseline.
    assert_eq!(paths.len(), 2 + 7, "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("&page=2")), "{paths:?}");
    assert!(!paths.iter().any(|p| p.ends_with("&page=3")), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains("/deployments/90/")),
        "{paths:?}"
    );

    // Lead time. Shipped (finish - authored):
    //   101 (finished at(30, 60)): c1 at(31, 0) -> 24 h + 60 min = 25 h;
    //       d101 at(30, -180) -> 240 min = 4 h.
    //   103 (at(15, 30)): d102 at(21, 0) -> 6 d + 30 min = 144.5 h; d103
    //       at(16, 0) -> 24.5 h ("Fix: ..." is rework).
    //   104 (at(8, 12)): c4 at(9, 0) -> 24 h 12 min = 24.2 h; d104
    //       at(8, -120) -> 132 min = 2.2 h (a hotfix naming a GHSA:
    //       security rework).
    //   105 (at(2, 30)): c5 at(3, 0) -> 24.5 h; d105 at(2, -360) -> 6.5 h
    //       ("security" but no rework prefix: neither).
    // Sorted: 2.2, 4, 6.5, 24.2, 24.5, 24.5, 25, 144.5: median (24.2 +
    // 24.5) / 2 = 24.35; p90 at rank 0.9 * 7 = 6.3: 25 + 0.3 * 119.5 = 60.85.
    let m = run(&smm, "lead-time");
    let d = &m["details"];
    close(&m["value"], 24.35);
    close(&d["median_hours"], 24.35);
    close(&d["p90_hours"], 60.85);
    assert_eq!(d["changes"], 8, "{m}");
    assert_eq!(d["deployments_with_changes"], 4);
    assert_eq!(d["rework_deployments"], 2);
    close(&d["rework_rate"], 0.5);
    assert_eq!(d["security_rework_deployments"], 1);
    close(&d["security_rework_rate"], 0.25);
    let deployments = d["deployments"].as_array().unwrap();
    let flags: Vec<(u64, bool, bool, bool)> = deployments
        .iter()
        .map(|x| {
            (
                x["id"].as_u64().unwrap(),
                x["rework"].as_bool().unwrap(),
                x["security_rework"].as_bool().unwrap(),
                x["truncated"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            (101, false, false, false),
            (103, true, false, false),
            (104, true, true, false),
            (105, false, false, true)
        ]
    );
    let hours: Vec<Vec<f64>> = deployments
        .iter()
        .map(|x| {
            x["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["lead_time_hours"].as_f64().unwrap() * 1000.0).round() / 1000.0)
                .collect()
        })
        .collect();
    assert_eq!(
        hours,
        [
            vec![25.0, 4.0],
            vec![144.5, 24.5],
            vec![24.2, 2.2],
            vec![24.5, 6.5]
        ]
    );
    assert_eq!(
        deployments[2]["changes"][0],
        json!({"sha": sha("c4"), "authored_at": t.at(9, 0), "lead_time_hours": deployments[2]["changes"][0]["lead_time_hours"]})
    );
    assert_eq!(deployments[2]["finished_at"], t.at(8, 12));
    assert_eq!(deployments[2]["sha"], sha("d104"));

    // Incidents. #11 opened at(14, 0), after 103 finished (at(15, 30)),
    // closed 3 h later; #12 (security) at(7, 0), after 104 (at(8, 12)),
    // closed 10 h later; #13 at(3, 0), after 104 (105 finished later),
    // open; #5 opened 60 days ago, before every deployment read, open;
    // #14 is a pull request. Open now: #13, #5. Opened in the window: 3.
    // Successful deployments in the window: 101, 103, 104, 105; failed:
    // 103, 104 -> 2 / 4. Restored in the window: 3 h, 10 h -> 6.5 h.
    // Security: #12 -> 104: 1 / 4, 10 h.
    let m = run(&smm, "incidents");
    let d = &m["details"];
    assert_eq!(m["value"], 2.0, "{m}");
    assert_eq!(d["open"], 2);
    assert_eq!(d["opened_in_window"], 3);
    assert_eq!(d["deployments"], 4);
    assert_eq!(d["failed_deployments"], 2);
    close(&d["change_failure_rate"], 0.5);
    close(&d["median_time_to_restore_hours"], 6.5);
    assert_eq!(d["security"]["incidents"], 1, "{m}");
    assert_eq!(d["security"]["failed_deployments"], 1);
    close(&d["security"]["change_failure_rate"], 0.25);
    close(&d["security"]["median_time_to_restore_hours"], 10.0);
    // Remediation: incident #12 in 10 h, pull request #20 in 24 h (not
    // #21, merged before the window, nor #22, unmerged) -> median 17 h.
    assert_eq!(d["security"]["pull_requests"], 1, "{m}");
    close(&d["security"]["remediation_lead_time_hours"], 17.0);
    assert_eq!(
        d["security"]["remediations"],
        json!([
            {"kind": "incident", "number": 12, "hours": 10.0},
            {"kind": "pull_request", "number": 20, "hours": 24.0},
        ]),
        "{m}"
    );
    let listed: Vec<(u64, Value, Value, bool)> = d["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["number"].as_u64().unwrap(),
                i["deployment_id"].clone(),
                i["time_to_restore_hours"].clone(),
                i["security"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (5, Value::Null, Value::Null, false),
            (11, json!(103), json!(3.0), false),
            (12, json!(104), json!(10.0), true),
            (13, json!(104), Value::Null, false),
        ],
        "{m}"
    );
    // The 300-character title is kept to 200: 199 and an ellipsis.
    let title = d["incidents"][1]["title"].as_str().unwrap();
    assert_eq!(title, format!("{}…", &long_title()[..199]));
    assert_eq!(d["incidents"][2]["opened_at"], t.at(7, 0));
    assert_eq!(d["incidents"][2]["closed_at"], t.at(7, 600));
    // `since` is the window's start: 30 days before the measure ran.
    let asked = api.received();
    let since: Vec<DateTime<Utc>> = asked
        .iter()
        .filter_map(|r| {
            let pairs = query_pairs(&r.path_and_query);
            let (_, v) = pairs.iter().find(|(k, _)| k == "since")?;
            Some(DateTime::parse_from_rfc3339(v).unwrap().with_timezone(&Utc))
        })
        .collect();
    // Two listings take it: the incidents, and the security fixes.
    assert_eq!(since.len(), 2, "{asked:?}");
    let start = t.0 - Duration::days(30);
    for s in &since {
        assert!(
            *s >= start && *s < start + Duration::minutes(5),
            "{since:?}"
        );
    }

    // Every request carried the token the host holds, and only it.
    assert!(!asked.is_empty());
    for r in &asked {
        assert_eq!(r.authorization.as_deref(), Some("Bearer t"), "{r:?}");
    }
}

#[test]
fn a_repository_that_does_not_exist_is_an_input_error() {
    let api = GitHubServer::start();
    let smm = smm();
    let missing = "Codertocat/does-not-exist";
    for measure in ["github-deployments", "github-lead-time", "github-incidents"] {
        let name = format!("{measure}-missing");
        create(&smm, &api, &name, measure, missing);
        let m = run(&smm, &name);
        assert_eq!(m["value"], Value::Null, "{m}");
        assert_eq!(m["error_kind"], "input", "{m}");
        let e = m["error"].as_str().unwrap();
        assert!(e.contains("status 404") && e.contains("Not Found"), "{e}");
        assert!(
            e.contains(&format!(
                "/repos/{missing}/deployments?environment=production"
            )),
            "{e}"
        );
    }
    for r in api.received() {
        assert_eq!(r.authorization.as_deref(), Some("Bearer t"), "{r:?}");
    }
}
