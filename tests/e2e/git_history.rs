//! The `git-history` measure through the real `smm` binary, on a real
//! repository built with the `git` command (dates chosen relative to now)
//! and exported with the commands the measure documents. Expected numbers
//! are worked out here from the chosen times, not by the measure's code.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use smm_tests::Smm;

/// The export commands of the measure's documentation, writing into `$out`.
const EXPORT: &str = r#"
git log --branches --remotes --tags \
    --format='%H%x1f%P%x1f%aI%x1f%cI%x1f%s' > "$out/history.txt"
git for-each-ref --sort=-creatordate \
    --format='%(refname)%1f%(objectname)%1f%(*objectname)%1f%(creatordate:iso-strict)' \
    refs/tags > "$out/tags.txt"
"#;

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

/// A repository being built, with a clock: times are hours before `now`.
struct Repo {
    dir: PathBuf,
    now: i64,
}

impl Repo {
    fn init(dir: PathBuf) -> Repo {
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Repo {
            dir,
            now: Utc::now().timestamp(),
        };
        repo.git(&["init", "-q", "-b", "main"], 0.0, 0.0, "+0000");
        repo
    }

    /// The instant `hours` before now.
    fn at(&self, hours: f64) -> DateTime<Utc> {
        DateTime::from_timestamp(self.now - (hours * 3600.0) as i64, 0).unwrap()
    }

    /// Run git with the author date `authored` and committer (and tagger)
    /// date `committed` hours ago, in time zone `tz`; returns stdout.
    fn git(&self, args: &[&str], authored: f64, committed: f64, tz: &str) -> String {
        let date = |h: f64| format!("@{} {tz}", self.at(h).timestamp());
        let out = Command::new("git")
            .current_dir(&self.dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", &self.dir)
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .env("GIT_AUTHOR_DATE", date(authored))
            .env("GIT_COMMITTER_DATE", date(committed))
            .output()
            .expect("running git");
        assert!(
            out.status.success(),
            "git {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Commit a change with `subject`, authored and committed hours ago;
    /// returns its hash.
    fn commit(&self, subject: &str, authored: f64, committed: f64, tz: &str) -> String {
        // One file per commit: branches never conflict.
        let name: String = subject
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let file = format!("{name}.txt");
        std::fs::write(self.dir.join(&file), subject).unwrap();
        self.git(&["add", &file], authored, committed, tz);
        self.git(&["commit", "-q", "-m", subject], authored, committed, tz);
        self.head()
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"], 0.0, 0.0, "+0000")
            .trim()
            .to_string()
    }

    /// Write the export into `out` with the documented commands.
    fn export(&self, out: &Path) {
        std::fs::create_dir_all(out).unwrap();
        let status = Command::new("sh")
            .current_dir(&self.dir)
            .args(["-c", EXPORT])
            .env("out", out)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("running sh");
        assert!(status.success(), "the export failed");
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Median and linearly interpolated 90th percentile, written out here.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn p90(sorted: &[f64]) -> f64 {
    let rank = 0.9 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

fn create(smm: &Smm, name: &str, config: Value, grant: &Path) {
    smm.ok(&[
        "instance",
        "create",
        name,
        "--measure",
        "git-history",
        "--config",
        &config.to_string(),
        "--grant-dir",
        grant.to_str().unwrap(),
    ]);
}

#[test]
fn lead_time_frequency_and_rework_from_tags() {
    if !git_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repo::init(root.join("clone"));

    // Hours before now: (subject, authored, committed).
    let c0 = repo.commit("chore: initial", 900.0, 900.0, "+0000");
    repo.git(&["tag", "v0.9.0"], 0.0, 900.0, "+0000"); // lightweight, before the window
    let _c1 = repo.commit("feat: login", 500.0, 500.0, "+0530");
    let c2 = repo.commit("feat: logout", 480.0, 480.0, "+0000");
    repo.git(
        &["tag", "-a", "v1.0.0", "-m", "release 1.0.0"],
        0.0,
        470.0,
        "+0100",
    );
    let _c3 = repo.commit("feat: search", 300.0, 280.0, "+0000"); // rebased: committed later
    repo.git(&["checkout", "-q", "-b", "feature"], 0.0, 0.0, "+0000");
    let _c4 = repo.commit("feat: cart", 250.0, 250.0, "+0000");
    let _c5 = repo.commit("cart: tests", 240.0, 240.0, "+0000");
    repo.git(&["checkout", "-q", "main"], 0.0, 0.0, "+0000");
    let _c6 = repo.commit("fix: crash on an empty cart", 200.0, 200.0, "-0700");
    repo.git(
        &[
            "merge",
            "-q",
            "--no-ff",
            "feature",
            "-m",
            "Merge branch 'feature'",
        ],
        190.0,
        190.0,
        "+0000",
    );
    let merge = repo.head();
    repo.git(&["tag", "v1.1.0"], 0.0, 0.0, "+0000"); // lightweight: the merge's committer date
    let c7 = repo.commit("Hotfix: checkout total", 100.0, 100.0, "+0000");
    repo.git(
        &["tag", "-a", "v1.2.0", "-m", "release 1.2.0"],
        0.0,
        90.0,
        "+0000",
    );
    repo.git(&["tag", "build-42"], 0.0, 0.0, "+0000"); // not a deployment
    let _c8 = repo.commit("feat: wishlist", 20.0, 20.0, "+0000"); // not deployed yet
    assert_ne!(c0, c2);

    let export = root.join("export");
    repo.export(&export);

    // By hand: v0.9.0 (900 h ago) is outside the 30-day window (720 h) and
    // is the baseline. In the window, with the author times of what each
    // shipped (commits reachable from the tag and not from an earlier one):
    let deployed: [(&str, &str, f64, &[f64], bool); 3] = [
        // v1.0.0, annotated, at its tagger date: login, logout.
        ("v1.0.0", &c2, 470.0, &[500.0, 480.0], false),
        // v1.1.0, lightweight, at the merge's committer date: search, cart,
        // cart tests, the fix, the merge itself.
        (
            "v1.1.0",
            &merge,
            190.0,
            &[300.0, 250.0, 240.0, 200.0, 190.0],
            true,
        ),
        // v1.2.0, annotated: the hotfix.
        ("v1.2.0", &c7, 90.0, &[100.0], true),
    ];
    let mut all = Vec::new();
    let mut list = Vec::new();
    for (tag, sha, at, authored, rework) in deployed {
        let mut lead: Vec<f64> = authored.iter().map(|a| a - at).collect();
        lead.sort_by(f64::total_cmp);
        list.push(json!({
            "tag": tag,
            "sha": sha,
            "deployed_at": iso(repo.at(at)),
            "changes": lead.len(),
            "median_hours": median(&lead),
            "rework": rework,
        }));
        all.extend(lead);
    }
    all.sort_by(f64::total_cmp);
    assert_eq!(all, [0.0, 10.0, 10.0, 10.0, 30.0, 50.0, 60.0, 110.0]);
    let (expected_median, expected_p90) = (median(&all), p90(&all));
    // Median of 8: (10 + 30) / 2; p90 at rank 0.9 * 7 = 6.3: 60 + 0.3 * 50.
    assert_eq!(expected_median, 20.0);
    assert!((expected_p90 - 75.0).abs() < 1e-9, "{expected_p90}");

    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("git-history");
    create(
        &smm,
        "shop-lead-time",
        json!({"repository": export.to_str().unwrap()}),
        &root,
    );
    let m = smm.run_json("shop-lead-time");
    assert_eq!(m["error"], Value::Null, "{m}");
    assert_eq!(m["value"], expected_median, "{m}");
    let d = &m["details"];
    assert_eq!(d["repository"], export.to_str().unwrap());
    assert_eq!(d["window_days"], 30);
    assert_eq!(d["commits"], 10, "c0..c8 and the merge: {d}");
    assert_eq!(d["merges"], 1);
    assert_eq!(d["deployments"], 3);
    assert_eq!(d["per_day"], 3.0 / 30.0);
    assert_eq!(d["changes"], all.len());
    assert_eq!(d["median_hours"], expected_median);
    assert!(
        (d["p90_hours"].as_f64().unwrap() - expected_p90).abs() < 1e-9,
        "{d}"
    );
    assert_eq!(d["rework_deployments"], 2);
    assert!(
        (d["rework_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12,
        "{d}"
    );
    assert_eq!(d["list"], Value::Array(list), "{d}");

    // Only hotfix counts as rework, over the last 5 days: v1.2.0 alone
    // (90 h ago), shipping the hotfix, 10 h; no merge in those 120 h.
    create(
        &smm,
        "shop-hotfixes",
        json!({
            "repository": export.to_str().unwrap(),
            "window_days": 5,
            "rework_prefixes": ["HOTFIX"],
        }),
        &root,
    );
    let m = smm.run_json("shop-hotfixes");
    assert_eq!(m["value"], 10.0, "{m}");
    let d = &m["details"];
    assert_eq!(
        (&d["deployments"], &d["merges"], &d["rework_deployments"]),
        (&json!(1), &json!(0), &json!(1)),
        "{d}"
    );
    assert_eq!(d["per_day"], 0.2);
}

#[test]
fn missing_exports_and_no_deployments_are_input_errors_naming_the_path() {
    if !git_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repo::init(root.join("clone"));
    repo.commit("feat: one", 50.0, 50.0, "+0000");
    repo.git(&["tag", "v1"], 0.0, 0.0, "+0000");
    repo.commit("feat: two", 40.0, 40.0, "+0000");
    repo.git(&["tag", "deployed-2"], 0.0, 0.0, "+0000");
    // The clone itself holds its export (`out=.`).
    repo.export(&repo.dir);

    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("git-history");
    let clone = repo.dir.to_str().unwrap();
    let empty = root.join("empty");
    std::fs::create_dir(&empty).unwrap();
    create(
        &smm,
        "not-exported",
        json!({"repository": empty.to_str().unwrap()}),
        &root,
    );
    // v1 is the baseline: nothing shipped.
    create(&smm, "baseline-only", json!({"repository": clone}), &root);
    // With the other pattern, deployed-2 alone is a deployment: the
    // baseline again.
    create(
        &smm,
        "other-pattern",
        json!({"repository": clone, "deployment_tag_pattern": "deployed-*"}),
        &root,
    );
    for (name, says) in [
        (
            "not-exported",
            format!("cannot read {}/history.txt", empty.display()),
        ),
        (
            "baseline-only",
            format!(
                "1 deployments (tags matching \"v*\") in the window, 1 matching tags and 2 commits read from {clone}"
            ),
        ),
        (
            "other-pattern",
            "1 deployments (tags matching \"deployed-*\")".to_string(),
        ),
    ] {
        let m = smm.run_json(name);
        assert_eq!(m["value"], Value::Null, "{name}: {m}");
        assert_eq!(m["error_kind"], "input", "{name}: {m}");
        let e = m["error"].as_str().unwrap();
        assert!(e.contains(&says), "{name}: {e}");
    }
    let e = smm.run_json("not-exported")["error"].to_string();
    assert!(
        e.contains("git log --branches"),
        "the command is named: {e}"
    );

    // A repository outside the directories granted is refused up front.
    let elsewhere = tempfile::tempdir().unwrap();
    let err = smm.fails(&[
        "instance",
        "create",
        "outside",
        "--measure",
        "git-history",
        "--config",
        &json!({"repository": elsewhere.path().to_str().unwrap()}).to_string(),
        "--grant-dir",
        root.to_str().unwrap(),
    ]);
    assert!(
        err.contains("lies outside the granted directories"),
        "{err}"
    );
}

/// A `gh issue list --json number,title,createdAt,closedAt,labels` element
/// (the GitHub CLI's shape), opened and closed hours before now.
fn gh_issue(repo: &Repo, number: u64, labels: &[&str], opened: f64, closed: Option<f64>) -> Value {
    json!({
        "number": number,
        "title": format!("issue {number}"),
        "createdAt": iso(repo.at(opened)),
        "closedAt": closed.map(|c| iso(repo.at(c))),
        "labels": labels.iter().map(|l| json!({"id": format!("LA_{l}"), "name": l, "description": "", "color": "d73a4a"})).collect::<Vec<_>>(),
    })
}

/// The standard DORA definitions, re-pointed at `git-history` as the
/// catalogue's documentation says (measure ids and input measure changed,
/// nothing else), written into `dir`; their new ids.
fn dora_over_git_history(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for id in [
        "deployment-frequency",
        "deployment-frequency-grade",
        "lead-time-for-changes-grade",
        "change-failure-rate",
        "change-failure-rate-grade",
        "failed-deployment-recovery-time",
        "failed-deployment-recovery-time-grade",
        "rework-rate",
        "security-change-failure-rate",
    ] {
        let text = std::fs::read_to_string(
            smm_tests::workspace().join(format!("measures/derived/{id}.toml")),
        )
        .unwrap();
        let mut moved = text.replace(&format!("id = \"{id}\""), &format!("id = \"git-{id}\""));
        for source in ["github-deployments", "github-lead-time", "github-incidents"] {
            moved = moved.replace(
                &format!("measure = \"{source}\""),
                "measure = \"git-history\"",
            );
        }
        assert_ne!(moved, text, "{id}");
        let file = dir.join(format!("git-{id}.toml"));
        std::fs::write(&file, moved).unwrap();
        ids.push(format!("git-{id}"));
    }
    ids
}

/// A deployment tag: name, hours ago, and the commits (subject, authored
/// hours ago) made before it.
type Tagged = (&'static str, f64, &'static [(&'static str, f64)]);

#[test]
fn dora_from_tags_and_a_labelled_incident() {
    if !git_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repo::init(root.join("clone"));

    // Hours before now. v0.9.0 (900 h) is the baseline, before the 30-day
    // window (720 h); five deployments in it.
    repo.commit("chore: initial", 900.0, 900.0, "+0000");
    repo.git(&["tag", "-a", "v0.9.0", "-m", "0.9.0"], 0.0, 900.0, "+0000");
    let tags: [Tagged; 5] = [
        ("v1.0.0", 390.0, &[("feat: a", 400.0)]),
        (
            "v1.1.0",
            240.0,
            &[("feat: b", 300.0), ("fix: b crashes", 250.0)],
        ),
        ("v1.2.0", 96.0, &[("feat: c", 100.0)]),
        ("v1.3.0", 48.0, &[("feat: d", 50.0)]),
        ("v1.4.0", 24.0, &[("feat: e", 30.0)]),
    ];
    for (tag, at, commits) in tags {
        for (subject, authored) in commits {
            repo.commit(subject, *authored, *authored, "+0000");
        }
        repo.git(&["tag", "-a", tag, "-m", tag], 0.0, at, "+0000");
    }
    let export = root.join("export");
    repo.export(&export);

    // The tracker's incidents, as `gh issue list --json` writes them.
    let issues = json!([
        // Opened before the window (after v0.9.0), closed in it: 100 h.
        gh_issue(&repo, 10, &["incident"], 800.0, Some(700.0)),
        // After v1.1.0 (240 h), restored in 4 h.
        gh_issue(&repo, 11, &["incident"], 230.0, Some(226.0)),
        // After v1.2.0 (96 h), a security incident, restored in 12 h.
        gh_issue(&repo, 12, &["incident", "security"], 90.0, Some(78.0)),
        // After v1.2.0 again, before v1.3.0 (48 h); still open.
        gh_issue(&repo, 14, &["incident"], 60.0, None),
        // A bug, not an incident.
        gh_issue(&repo, 13, &["bug"], 20.0, None),
    ]);
    let incidents = export.join("incidents.json");
    std::fs::write(&incidents, serde_json::to_vec_pretty(&issues).unwrap()).unwrap();

    // By hand. Lead times (deployment - authored): v1.0.0 10; v1.1.0 60
    // and 10; v1.2.0 4; v1.3.0 2; v1.4.0 6 -> 2 4 6 10 10 60, median 8.
    let mut lead: Vec<f64> = tags
        .iter()
        .flat_map(|(_, at, commits)| commits.iter().map(move |(_, a)| a - at))
        .collect();
    lead.sort_by(f64::total_cmp);
    assert_eq!(lead, [2.0, 4.0, 6.0, 10.0, 10.0, 60.0]);
    let lead_median = median(&lead);
    let per_day = 5.0 / 30.0;
    // Each incident to the latest tag strictly before it: #10 v0.9.0 (not
    // in the window), #11 v1.1.0, #12 and #14 v1.2.0: 2 of 5 failed.
    let failed = 2.0;
    let cfr = failed / 5.0;
    // Restored in the window: 100, 4, 12 h -> median 12.
    let restore = median(&[4.0, 12.0, 100.0]);
    let rework = 1.0 / 5.0; // v1.1.0's fix

    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("git-history");
    let config = json!({
        "repository": export.to_str().unwrap(),
        "incidents": incidents.to_str().unwrap(),
    });
    smm.ok(&[
        "instance",
        "create",
        "shop-delivery",
        "--measure",
        "git-history",
        "--config",
        &config.to_string(),
        "--grant-dir",
        root.to_str().unwrap(),
        "--label",
        "service=shop",
    ]);
    let m = smm.run_json("shop-delivery");
    assert_eq!(m["error"], Value::Null, "{m}");
    assert_eq!(m["value"], lead_median, "{m}");
    let d = &m["details"];
    assert_eq!(d["deployments"], 5, "{d}");
    assert_eq!(d["failed_deployments"], failed as u64, "{d}");
    assert_eq!(d["change_failure_rate"], cfr, "{d}");
    assert_eq!(d["median_time_to_restore_hours"], restore, "{d}");
    assert_eq!(d["open_incidents"], 1, "{d}");
    assert_eq!(d["opened_in_window"], 3, "#11, #12, #14: {d}");
    assert_eq!(
        d["security"],
        json!({"incidents": 1, "failed_deployments": 1, "change_failure_rate": 0.2,
               "median_time_to_restore_hours": 12.0}),
        "{d}"
    );
    let blamed: Vec<(u64, Value)> = d["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["number"].as_u64().unwrap(), i["deployment"].clone()))
        .collect();
    assert_eq!(
        blamed,
        [
            (10, json!("v0.9.0")),
            (11, json!("v1.1.0")),
            (12, json!("v1.2.0")),
            (14, json!("v1.2.0")),
        ]
    );

    // The standard DORA definitions, pointed at git-history.
    let defs = root.join("derived");
    std::fs::create_dir(&defs).unwrap();
    for id in dora_over_git_history(&defs) {
        smm.ok(&[
            "measure",
            "register",
            defs.join(format!("{id}.toml")).to_str().unwrap(),
        ]);
        smm.ok(&[
            "instance",
            "create",
            &id,
            "--measure",
            &id,
            "--config",
            "{}",
            "--label",
            "service=shop",
        ]);
    }
    let derived = |id: &str| {
        let m = smm.run_json(id);
        assert_eq!(m["error"], Value::Null, "{id}: {m}");
        m
    };
    let close = |id: &str, expected: f64| {
        let v = derived(id)["value"].as_f64().unwrap();
        assert!((v - expected).abs() < 1e-9, "{id}: {v} != {expected}");
    };
    close("git-deployment-frequency", per_day);
    close("git-change-failure-rate", 100.0 * cfr);
    close("git-failed-deployment-recovery-time", restore);
    close("git-rework-rate", 100.0 * rework);
    close("git-security-change-failure-rate", 20.0);
    // DORA 2023 bands, by hand: 1/7 <= 5/30 a day <= 1: High; 8 h < 24 h:
    // Elite; 40 % > 15 %: Low; 1 h <= 12 h < 24 h: High.
    for (id, band) in [
        ("git-deployment-frequency-grade", "High"),
        ("git-lead-time-for-changes-grade", "Elite"),
        ("git-change-failure-rate-grade", "Low"),
        ("git-failed-deployment-recovery-time-grade", "High"),
    ] {
        assert_eq!(derived(id)["text"], band, "{id}");
    }

    // A broken export is an input error naming the file; what was stored
    // before stays.
    std::fs::write(&incidents, b"[{\"number\": 1}]").unwrap();
    let m = smm.run_json("shop-delivery");
    assert_eq!(m["error_kind"], "input", "{m}");
    let e = m["error"].as_str().unwrap();
    assert!(
        e.contains(&format!(
            "{}: issue [0]: missing field `created_at`",
            incidents.display()
        )),
        "{e}"
    );
    let stored = smm.json_lines(&["query", "shop-delivery", "--json"]);
    assert!(
        stored
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["value"] == lead_median),
        "{stored}"
    );
}
