//! The `devlake-deployments` measure through the real `smm` binary, on
//! Apache DevLake's own `prev_success_deployment_commit` vector
//! (`../shared/fixtures/dora/devlake/`, see its SOURCES.md), copied into a
//! granted directory; and a user derived definition pointing DORA's
//! deployment frequency at it. Expected numbers are worked out here from
//! the CSV rows (read with a plain split), not by the measure's code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use smm_tests::{Smm, shared_fixture, workspace};

const DIR: &str = "dora/devlake/prev_success_deployment_commit";
const TABLE: &str = "cicd_deployment_commits.csv";
const MAPPING: &str = "project_mapping.csv";

/// The window measured: `until` and its 7 days before. Every timestamp of
/// the vector is written `YYYY-MM-DDTHH:MM:SS.000+00:00`, so strings in
/// that form compare as instants.
const UNTIL: &str = "2022-09-21T00:00:00Z";
const START: &str = "2022-09-14T00:00:00.000+00:00";
const END: &str = "2022-09-21T00:00:00.000+00:00";

/// The deployment frequency over the import, as a team would define it.
const FREQUENCY: &str = r#"[measure]
id = "devlake-deployment-frequency"
version = "1.0.0"
name = "Deployment frequency (DevLake import)"
description = "Successful deployments per day to the environment, over the devlake-deployments window (DORA)."
unit = "deployments/day"
scale = "ratio"

[derived]
kind = "expression"
max_age = "2d"
inputs = { per_day = { measure = "devlake-deployments", field = "per_day" } }
expression = "per_day"
"#;

type Row = BTreeMap<String, String>;

/// The rows of a CSV without quoted fields, by column name.
fn rows(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(!text.contains('"'), "no quoted field in {}", path.display());
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            assert_eq!(fields.len(), header.len(), "{l}");
            header
                .iter()
                .zip(fields)
                .map(|(h, f)| (h.to_string(), f.to_string()))
                .collect()
        })
        .collect()
}

/// The vector's files, or `None` (with a message) where they are absent.
struct Vector {
    table: PathBuf,
    mapping: PathBuf,
    after: PathBuf,
}

fn vector() -> Option<Vector> {
    Some(Vector {
        table: shared_fixture(&format!("{DIR}/cicd_deployment_commits_before.csv"))?,
        mapping: shared_fixture(&format!("{DIR}/project_mapping.csv"))?,
        after: shared_fixture(&format!("{DIR}/expected_cicd_deployment_commits_after.csv"))?,
    })
}

/// What the measure should say, worked out from the rows of the
/// `PRODUCTION` environment (of the CI/CD scopes `scopes`, when given).
struct Expected {
    successful: usize,
    failed: usize,
    /// Ids of the rows finished in the window, oldest first.
    listed: Vec<String>,
}

fn expected(table: &[Row], scopes: Option<&[String]>) -> Expected {
    let in_window = |t: &str| (START..END).contains(&t);
    let production: Vec<&Row> = table
        .iter()
        .filter(|r| scopes.is_none_or(|s| s.contains(&r["cicd_scope_id"])))
        .filter(|r| r["environment"] == "PRODUCTION")
        .collect();
    // Per deployment: whether a row succeeded, the last finish of its
    // successful rows, the last finish of all its rows.
    let mut deployments: BTreeMap<&str, (bool, String, String)> = BTreeMap::new();
    for r in &production {
        let key = match r["cicd_deployment_id"].as_str() {
            "" => r["id"].as_str(),
            k => k,
        };
        let d = deployments.entry(key).or_default();
        let finished = &r["finished_date"];
        if r["result"] == "SUCCESS" {
            d.0 = true;
            d.1 = d.1.clone().max(finished.clone());
        }
        d.2 = d.2.clone().max(finished.clone());
    }
    let mut listed: Vec<(&str, &str)> = production
        .iter()
        .filter(|r| in_window(&r["finished_date"]))
        .map(|r| (r["finished_date"].as_str(), r["id"].as_str()))
        .collect();
    listed.sort_by_key(|(finished, _)| *finished); // stable: file order on ties
    Expected {
        successful: deployments
            .values()
            .filter(|(ok, last, _)| *ok && in_window(last))
            .count(),
        failed: deployments
            .values()
            .filter(|(ok, _, last)| !*ok && in_window(last))
            .count(),
        listed: listed.into_iter().map(|(_, id)| id.to_string()).collect(),
    }
}

fn create(smm: &Smm, name: &str, config: Value, grant: &Path) {
    smm.ok(&[
        "instance",
        "create",
        name,
        "--measure",
        "devlake-deployments",
        "--config",
        &config.to_string(),
        "--grant-dir",
        grant.to_str().unwrap(),
        "--label",
        "service=shop",
    ]);
}

/// A granted directory holding copies of the vector's table and mapping.
fn granted(v: &Vector) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    std::fs::copy(&v.table, root.join(TABLE)).unwrap();
    std::fs::copy(&v.mapping, root.join(MAPPING)).unwrap();
    (tmp, root)
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-12)
}

#[test]
fn devlake_history_imported_and_its_deployment_frequency() {
    let Some(v) = vector() else { return };
    let table = rows(&v.table);
    assert_eq!(table.len(), 16);
    let project1: Vec<String> = rows(&v.mapping)
        .into_iter()
        .filter(|r| r["project_name"] == "project1" && r["table"] == "cicd_scopes")
        .map(|r| r["row_id"].clone())
        .collect();
    // DevLake's expected links (computed for project1; the rows outside it
    // have none, and none of them would get one: 14 failed, 15 is the only
    // success of its group, 16 has no environment).
    let previous: BTreeMap<String, String> = rows(&v.after)
        .into_iter()
        .map(|r| {
            (
                r["id"].clone(),
                r["prev_success_deployment_commit_id"].clone(),
            )
        })
        .collect();
    let (_tmp, root) = granted(&v);

    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("devlake-deployments");
    // The derived measure first: the direct run recomputes it.
    let definition = root.join("devlake-deployment-frequency.toml");
    std::fs::write(&definition, FREQUENCY).unwrap();
    smm.ok(&["measure", "register", definition.to_str().unwrap()]);
    smm.ok(&[
        "instance",
        "create",
        "shop-frequency",
        "--measure",
        "devlake-deployment-frequency",
        "--label",
        "service=shop",
    ]);
    // The standard band, pointed at the import (input changed only).
    let grade = std::fs::read_to_string(
        workspace().join("measures/derived/deployment-frequency-grade.toml"),
    )
    .unwrap()
    .replace(
        "id = \"deployment-frequency-grade\"",
        "id = \"devlake-deployment-frequency-grade\"",
    )
    .replace(
        "measure = \"github-deployments\"",
        "measure = \"devlake-deployments\"",
    );
    assert!(grade.contains("devlake-deployments"), "{grade}");
    let grade_file = root.join("grade.toml");
    std::fs::write(&grade_file, grade).unwrap();
    smm.ok(&["measure", "register", grade_file.to_str().unwrap()]);
    smm.ok(&[
        "instance",
        "create",
        "shop-frequency-band",
        "--measure",
        "devlake-deployment-frequency-grade",
        "--label",
        "service=shop",
    ]);

    // Every CI/CD scope (a relative path: from the first grant).
    create(
        &smm,
        "shop-deployments",
        json!({"path": TABLE, "until": UNTIL, "window_days": 7}),
        &root,
    );
    let want = expected(&table, None);
    // By hand, for the record: pipelines 2, 4 and 9 (6's last row finished
    // at the window's end, 7's retried rows after it); 8 failed.
    assert_eq!((want.successful, want.failed), (3, 1));
    let m = smm.run_json("shop-deployments");
    assert_eq!(m["error"], Value::Null, "{m}");
    assert_eq!(m["value"], want.successful as f64, "{m}");
    let d = &m["details"];
    let per_day = want.successful as f64 / 7.0;
    assert_eq!(d["path"], root.join(TABLE).to_str().unwrap());
    assert_eq!(d["environment"], "PRODUCTION");
    assert_eq!(d["window_days"], 7);
    assert_eq!(d["until"], UNTIL);
    assert_eq!(d["successful"], want.successful);
    assert_eq!(d["failed"], want.failed);
    assert!(close(&d["per_day"], per_day), "{d}");
    assert!(close(&d["per_week"], per_day * 7.0), "{d}");
    let listed = d["deployments"].as_array().unwrap();
    let ids: Vec<&str> = listed.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, want.listed, "{d}");
    for x in listed {
        let id = x["id"].as_str().unwrap();
        let r = table.iter().find(|r| r["id"] == id).unwrap();
        assert_eq!(x["deployment"], r["cicd_deployment_id"].as_str());
        assert_eq!(x["sha"], r["commit_sha"].as_str());
        assert_eq!(x["repo_url"], r["repo_url"].as_str());
        let state = if r["result"] == "SUCCESS" {
            "success"
        } else {
            "failure"
        };
        assert_eq!(x["state"], state);
        let started = r["started_date"].replace(".000+00:00", "Z");
        let finished = r["finished_date"].replace(".000+00:00", "Z");
        assert_eq!(x["created_at"], started.as_str());
        assert_eq!(x["finished_at"], finished.as_str());
        assert_eq!(
            x["previous_success"].as_str().unwrap_or(""),
            previous[id],
            "row {id}"
        );
    }

    // The derived frequency, recomputed at the run: per_day.
    let derived = smm.json_lines(&["query", "shop-frequency", "--json"]);
    let derived = derived.as_array().unwrap();
    assert_eq!(derived.len(), 1, "{derived:?}");
    assert!(close(&derived[0]["value"], per_day), "{derived:?}");
    let now = smm.run_json("shop-frequency");
    assert_eq!(now["error"], Value::Null, "{now}");
    assert!(close(&now["value"], per_day), "{now}");
    // 3/7 a day: between once a week and once a day.
    let band = smm.run_json("shop-frequency-band");
    assert_eq!(band["text"], "High", "{band}");

    // One DevLake project: its CI/CD scopes only.
    create(
        &smm,
        "project1-deployments",
        json!({
            "path": root.join(TABLE).to_str().unwrap(),
            "project_mapping": MAPPING,
            "project": "project1",
            "until": UNTIL,
            "window_days": 7,
        }),
        &root,
    );
    let want = expected(&table, Some(&project1));
    assert_eq!((want.successful, want.failed), (2, 0));
    let m = smm.run_json("project1-deployments");
    assert_eq!(m["error"], Value::Null, "{m}");
    assert_eq!(m["value"], want.successful as f64, "{m}");
    let d = &m["details"];
    assert_eq!(d["project"], "project1");
    assert_eq!(d["failed"], want.failed);
    let ids: Vec<&str> = d["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, want.listed, "{d}");

    // A configuration the measure refuses; a path outside the grants the
    // catalogue refuses up front.
    create(
        &smm,
        "half-project",
        json!({"path": TABLE, "project": "project1"}),
        &root,
    );
    let m = smm.run_json("half-project");
    assert_eq!(m["error_kind"], "config", "{m}");
    assert!(
        m["error"]
            .as_str()
            .unwrap()
            .contains("project is given without project_mapping"),
        "{m}"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join(MAPPING);
    let err = smm.fails(&[
        "instance",
        "create",
        "outside",
        "--measure",
        "devlake-deployments",
        "--config",
        &json!({"path": TABLE, "project_mapping": outside.to_str().unwrap(), "project": "p"})
            .to_string(),
        "--grant-dir",
        root.to_str().unwrap(),
    ]);
    assert!(
        err.contains("/project_mapping") && err.contains("lies outside the granted directories"),
        "{err}"
    );
}

#[test]
fn a_malformed_table_is_an_input_error_and_the_stored_measurement_stays() {
    let Some(v) = vector() else { return };
    let (_tmp, root) = granted(&v);
    let path = root.join(TABLE);
    let shown = path.to_str().unwrap();
    let original = std::fs::read_to_string(&path).unwrap();
    let want = expected(&rows(&v.table), None);

    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    smm.register("devlake-deployments");
    create(
        &smm,
        "imported",
        json!({"path": TABLE, "until": UNTIL, "window_days": 7}),
        &root,
    );
    let first = smm.run_json("imported");
    assert_eq!(first["value"], want.successful as f64, "{first}");

    // A bad timestamp in the row of id 5: its line, counted here (the
    // header is line 1).
    let line = original.lines().position(|l| l.starts_with("5,")).unwrap() + 1;
    let bad: Vec<String> = original
        .lines()
        .map(|l| {
            if l.starts_with("5,") {
                l.replace("2022-09-16T06:51:47.000+00:00", "16/09/2022")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_ne!(bad.join("\n"), original.trim_end());
    let fails_saying = |says: String| {
        let m = smm.run_json("imported");
        assert_eq!(m["value"], Value::Null, "{m}");
        assert_eq!(m["error_kind"], "input", "{m}");
        let e = m["error"].as_str().unwrap();
        assert!(e.contains(&says), "{e}\nwanted: {says}");
    };
    std::fs::write(&path, bad.join("\n")).unwrap();
    fails_saying(format!(
        "{shown}: line {line}, column finished_date: \"16/09/2022\" is not a timestamp"
    ));
    // A required column missing (the header renames `environment`).
    std::fs::write(&path, original.replacen(",environment,", ",env,", 1)).unwrap();
    fails_saying(format!(
        "{shown}: line 1, column environment: the header has no such column"
    ));
    // No file at all.
    std::fs::remove_file(&path).unwrap();
    fails_saying(format!("cannot read {shown}: "));

    // The first measurement is still there, first of four.
    let stored = smm.json_lines(&["query", "imported", "--json"]);
    let stored = stored.as_array().unwrap();
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!(stored[0]["value"], want.successful as f64);
    assert_eq!(stored[0]["details"], first["details"]);
    assert!(stored[1..].iter().all(|m| m["error_kind"] == "input"));
}
